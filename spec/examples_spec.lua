-- The plain-Lua example (examples/concurrent.lua) run as a program against the
-- simulator, under lua5.4 and luajit. Tagged #once: it runs whole programs.
local util = require "spec.hosts.util"
local simulator = require "spec.helpers.simulator"

local ROOT = util.root()

describe("#once examples/concurrent.lua", function()
  local sim = simulator.for_block { speed = 200, key = "sk-test" }
  local dir
  before_each(function() dir = util.tmpdir() end)
  after_each(function() util.rmtree(dir) end)

  -- Runs the example with no LUA_PATH/LUA_CPATH: it must find lua/ and build/<lua>/ itself.
  local function example(lua, cwd, script, key, args)
    local cmd = string.format("sh -c %s", util.q(string.format("cd %s && exec env -u LUA_PATH -u LUA_CPATH %s %s %s",
      util.q(cwd), lua, util.q(script), args or "")))
    return util.run(cmd, { COMETAPI_BASE_URL = sim.url, COMETAPI_KEY = key }, 60, dir .. "/out.log")
  end

  local function check_success(rc, out, n)
    assert.equal(0, rc, out)
    local lines = 0
    for grid, up in out:gmatch("job +%d+: imagine (%d+) %-> U1 (%d+) %-> http://[^\n]+") do
      assert.are_not.equal(grid, up)
      lines = lines + 1
    end
    assert.equal(n, lines, out)
    assert.is_truthy(out:find(n .. " jobs, " .. n .. " upscaled, 0 failed", 1, true), out)
    local st = sim:stats()
    assert.equal(n, st.routes.imagine)
    assert.equal(n, st.routes.action)
    -- the jobs ran at once, not one after the other
    assert.is_true(st.max_in_flight_jobs >= n / 2, "max jobs in flight: " .. tostring(st.max_in_flight_jobs))
  end

  it("runs 20 imagine jobs concurrently and upscales each under lua5.4", function()
    local rc, out = example("lua5.4", ROOT, "examples/concurrent.lua", sim.key, "--interval 0.2")
    check_success(rc, out, 20)
  end)

  it("does the same under luajit, started from another directory", function()
    local rc, out = example("luajit", dir, ROOT .. "/examples/concurrent.lua", sim.key, "--interval 0.2")
    check_success(rc, out, 20)
  end)

  it("reports every job as failed and exits 1 with a wrong key", function()
    local rc, out = example("lua5.4", ROOT, "examples/concurrent.lua", "sk-wrong", "--jobs 3 --interval 0.2")
    assert.equal(1, rc, out)
    local failed = 0
    for _ in out:gmatch("job +%d+: FAILED imagine: [^\n]+") do failed = failed + 1 end
    assert.equal(3, failed, out)
    assert.is_truthy(out:find("3 jobs, 0 upscaled, 3 failed", 1, true), out)
  end)
end)
