-- The LÖVE example game (examples/love) in real LÖVE under Xvfb against the simulator:
-- frames keep coming while the job runs, and the downloaded image is decoded and drawn.
-- Tagged #once: it drives a whole game, so scripts/test.sh runs it once.
local util = require "spec.hosts.util"
local simulator = require "spec.helpers.simulator"

local ROOT = util.root()

local function game(sim, dir, extra)
  local result = dir .. "/result.lua"
  local cmd = string.format("xvfb-run -a love %s --url %s --key %s --dir %s %s",
    util.q(ROOT .. "/examples/love"), util.q(sim.url), util.q(sim.key), util.q(dir), extra or "")
  return util.run_host("love", cmd, { MJ_LOVE_RESULT = result }, result, dir .. "/love.log")
end

describe("#once LÖVE driver (example game under xvfb-run)", function()
  setup(function() util.need_host { { "love", "LÖVE" }, { "xvfb-run", "xvfb-run" } } end)
  local sim = simulator.for_block { speed = 200, key = "sk-test" }
  local dir
  before_each(function() dir = util.tmpdir() end)
  after_each(function() util.rmtree(dir) end)

  it("keeps drawing frames during imagine -> wait -> U1 -> wait -> download, then shows the image", function()
    local res, rc, log = game(sim, dir, "--upscale U1")
    assert.is_nil(res.error)
    assert.equal(0, rc, log)
    assert.is_true(res.ok)
    -- the image was downloaded, decoded and drawn
    local f = assert(io.open(res.path, "rb"))
    assert.equal("\137PNG", f:read(4))
    f:close()
    assert.equal(dir .. "/" .. res.task_id .. ".png", res.path)
    assert.is_true(res.image_width > 0 and res.image_height > 0)
    assert.is_true(res.drawn_with_image >= 10)
    -- frames kept coming while the job ran
    assert.is_true(res.job_seconds > 0.2, "job too short to tell: " .. res.job_seconds)
    assert.is_true(res.job_frames >= 20, "frames during the job: " .. res.job_frames)
    assert.is_true(res.job_frames / res.job_seconds >= 20,
      ("%.1f frames per second during the job"):format(res.job_frames / res.job_seconds))
    assert.is_true(res.max_dt < 0.25, ("longest frame %.3f s"):format(res.max_dt))
    assert.is_true(res.max_step < 0.1, ("longest mj.step(0) %.3f s"):format(res.max_step))
    assert.is_true(res.progress_updates >= 1)
    -- the simulator saw one imagine and one U1
    local st = sim:stats()
    assert.equal(1, st.routes.imagine)
    assert.equal(1, st.routes.action)
  end)

  it("control: the frame gauge sees a frozen game when the job runs blocking", function()
    local res, rc, log = game(sim, dir, "--blocking 1")
    assert.equal(0, rc, log)
    assert.is_true(res.ok)
    assert.is_true(res.job_frames <= 6, "frames during a blocking job: " .. res.job_frames)
    -- the job blocks in two calls (grid, then upscale): the longest frame holds at least
    -- a good part of it
    assert.is_true(res.max_dt >= 0.4 * res.job_seconds,
      ("longest frame %.3f s for a %.3f s job"):format(res.max_dt, res.job_seconds))
  end)

  -- The layout a user ships: game.love (main.lua, conf.lua, midjourney/*.lua) and, beside it,
  -- the native files driver.native_files() lists (a .so cannot be loaded from inside the zip).
  -- The game runs with the system's search paths hidden (LÖVE's LuaJIT honours LUA_CPATH and
  -- LUA_PATH) and a fresh save directory, so every native module must come from dist/.
  local driver = require "midjourney.drivers.love"
  local native = driver.native_files("Linux")

  -- Where each native file comes from on this machine: the LuaJIT core from the build, cjson.so
  -- from the system's LuaJIT search path (Debian's lua-cjson).
  local function native_source(file)
    if file == "midjourney/core.so" then return ROOT .. "/build/luajit/midjourney/core.so" end
    local module = file:gsub("%.so$", ""):gsub("/", ".")
    local p = assert(io.popen("env -u LUA_CPATH luajit -e " .. util.q(
      "io.write(package.searchpath(" .. string.format("%q", module) .. ", package.cpath) or '')")))
    local path = p:read("*a")
    p:close()
    assert(path ~= "", "no " .. file .. " for LuaJIT on this machine (apt-get install lua-cjson)")
    return path
  end

  -- Packs examples/love into dist/game.love and copies `files` (from native_files) beside it.
  local function package_game(files)
    assert(util.have("zip"), "zip is not installed (apt-get install zip)")
    local build, dist = dir .. "/build", dir .. "/dist"
    local sh = {
      "set -e",
      "rm -rf " .. util.q(build) .. " " .. util.q(dist),
      "mkdir -p " .. util.q(build) .. " " .. util.q(dist),
      "cp " .. util.q(ROOT .. "/examples/love/main.lua") .. " " .. util.q(ROOT .. "/examples/love/conf.lua")
        .. " " .. util.q(build),
      "cp -r " .. util.q(ROOT .. "/lua/midjourney") .. " " .. util.q(build),
      "cd " .. util.q(build) .. " && zip -qr ../dist/game.love .",
    }
    for _, f in ipairs(files) do
      local target = dist .. "/" .. f
      sh[#sh + 1] = "mkdir -p " .. util.q((target:gsub("/[^/]*$", "")))
      sh[#sh + 1] = "cp -L " .. util.q(native_source(f)) .. " " .. util.q(target)
    end
    local prc, plog = util.run("sh -c " .. util.q(table.concat(sh, "\n")), {}, 30, dir .. "/pack.log")
    assert.equal(0, prc, plog)
    return dist
  end

  local function run_packaged(dist)
    local result = dir .. "/result.lua"
    os.remove(result)
    local cmd = string.format("sh -c %s", util.q(string.format(
      "cd / && exec xvfb-run -a love %s --url %s --key %s --dir %s", util.q(dist .. "/game.love"),
      util.q(sim.url), util.q(sim.key), util.q(dir))))
    local rc, log = util.run(cmd, {
      MJ_LOVE_RESULT = result, LUA_CPATH = "/nonexistent/?.so", LUA_PATH = "/nonexistent/?.lua",
      XDG_DATA_HOME = dir .. "/xdg",
    }, 60, dir .. "/love.log")
    return assert(util.result(result), "exit " .. rc .. ": " .. log), rc, log
  end

  it("native_files names the core and cjson per system, with LuaJIT's suffix", function()
    assert.same({ "midjourney/core.so", "cjson.so" }, driver.native_files("Linux"))
    assert.same({ "midjourney/core.so", "cjson.so" }, driver.native_files("OS X"))
    assert.same({ "midjourney/core.dll", "cjson.dll" }, driver.native_files("Windows"))
    assert.has_error(function() driver.native_files("Android") end)
    assert.has_error(function() driver.native_files() end) -- outside LÖVE the system is required
  end)

  it("runs packaged as a .love with exactly native_files() beside it and the system cpath hidden", function()
    local res, rc, log = run_packaged(package_game(native))
    assert.is_nil(res.error)
    assert.equal(0, rc, log)
    assert.is_true(res.ok)
    assert.is_true(res.image_width > 0)
  end)

  it("control: without any one of those files the packaged game fails, naming the module", function()
    for i, missing in ipairs(native) do
      local files = {}
      for j, f in ipairs(native) do
        if j ~= i then files[#files + 1] = f end
      end
      local res = run_packaged(package_game(files))
      local module = missing:gsub("%.so$", ""):gsub("/", ".")
      assert.is_false(res.ok, missing .. " was not needed")
      assert.is_truthy(tostring(res.error):find(module, 1, true), missing .. ": " .. tostring(res.error))
    end
  end)

  it("reports a failed job instead of hanging (wrong key)", function()
    local result = dir .. "/result.lua"
    local cmd = string.format("xvfb-run -a love %s --url %s --key sk-wrong --dir %s",
      util.q(ROOT .. "/examples/love"), util.q(sim.url), util.q(dir))
    local rc = util.run(cmd, { MJ_LOVE_RESULT = result }, 60, dir .. "/love.log")
    local res = assert(util.result(result))
    assert.equal(1, rc)
    assert.is_false(res.ok)
    assert.is_truthy(res.error)
    assert.is_true(res.frames >= 1)
  end)
end)
