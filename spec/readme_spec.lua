-- The README's runnable Lua examples run as written, against the simulator.
local simulator = require "spec.helpers.simulator"

local root = os.getenv("PWD") or "."

local read = require("spec.helpers.simulator").read_file

-- the first ```lua block after the given heading line
local function block_after(text, heading)
  local at = assert(text:find(heading, 1, true), "README has no heading " .. heading)
  local code = text:match("```lua\n(.-)```", at)
  return assert(code, "no lua block after " .. heading)
end

local function run_lua(code, sim, dir)
  local file = dir .. "/example.lua"
  local f = assert(io.open(file, "w"))
  f:write(code)
  f:close()
  local cmd = ("cd %s && COMETAPI_BASE_URL=%s COMETAPI_KEY=%s LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' "
    .. "LUA_CPATH='%s/build/lua5.4/?.so;;' timeout 120 lua5.4 example.lua 2>&1")
    :format(dir, sim.url, sim.key, root, root, root)
  local p = io.popen(cmd)
  local out = p:read("*a")
  local ok, _, code_ = p:close()
  return ok == true or code_ == 0, out
end

describe("#once README examples", function()
  local sim, text, dir
  setup(function()
    sim = simulator.start { speed = 200, seed = 21, key = "sk-readme" }
    text = read(root .. "/README.md")
    dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
  end)
  teardown(function()
    if sim then sim:stop() end
    if dir then os.execute("rm -rf " .. dir) end
  end)

  it("the quick start runs imagine -> wait -> U1 -> wait -> download", function()
    local ok, out = run_lua(block_after(text, "### From Lua"), sim, dir)
    assert.is_true(ok, out)
    local png = read(dir .. "/boat.png")
    assert.are.equal("\137PNG", png:sub(1, 4))
    local st = sim:stats()
    assert.is_true((st.routes.imagine or 0) >= 1)
    assert.is_true((st.routes.action or 0) >= 1)
  end)

  it("the scripts example runs 20 jobs at once and upscales each", function()
    sim:reset()
    local ok, out = run_lua(block_after(text, "### Scripts"), sim, dir)
    assert.is_true(ok, out)
    local st = sim:stats()
    assert.are.equal(20, st.routes.imagine)
    assert.are.equal(20, st.routes.action)
    assert.is_true(st.max_in_flight_jobs >= 10, "jobs overlapped: " .. tostring(st.max_in_flight_jobs))
  end)
end)
