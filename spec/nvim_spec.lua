-- Neovim driver and example plugin, in real headless Neovim against the simulator.
-- Tagged #once: it drives a whole editor, so scripts/test.sh runs it once.
local util = require "spec.hosts.util"
local simulator = require "spec.helpers.simulator"

local ROOT = util.root()

local function nvim(script, env, dir)
  env.MJ_REPO = ROOT
  -- -u NONE: no user config; -i NONE: no shada; -n: no swap file
  local cmd = string.format("nvim --headless -u NONE -i NONE -n --cmd %s -c %s",
    util.q("set rtp+=" .. ROOT), util.q("luafile " .. ROOT .. "/" .. script))
  return util.run_host("nvim", cmd, env, env.MJ_RESULT, dir .. "/nvim.log")
end

describe("#once Neovim driver (headless nvim)", function()
  setup(function() util.need_host { { "nvim", "neovim" } } end)
  local sim = simulator.for_block { speed = 200, key = "sk-test", reset = false }
  local dir
  before_each(function() dir = util.tmpdir() end)
  after_each(function() util.rmtree(dir) end)

  it("steps jobs from a libuv timer while the editor keeps handling timers and keys", function()
    local jobs, rounds = 10, 10
    -- each job ends with a request answered 0.6 s late: a driver that waited in the
    -- network (a step with a timeout) would freeze the editor there
    sim:reset()
    sim:faults { { kind = "slow_first_byte", delay = 0.6, route = "image", times = -1 } }
    local res = nvim("spec/hosts/nvim_driver_job.lua", {
      MJ_GET_URL = sim.url .. "/_sim/stats", MJ_RESULT = dir .. "/res.lua",
      MJ_JOBS = jobs, MJ_ROUNDS = rounds, MJ_SLOW_URL = sim.url .. "/mj/image/1",
    }, dir)
    sim:reset()
    assert.is_nil(res.error)
    assert.equal(jobs, res.done)
    for i = 1, jobs do assert.equal(("200,"):rep(rounds - 1) .. "200", res.results[i]) end
    assert.is_true(res.job_ms >= 1000, "the job was too short to tell: " .. res.job_ms)
    assert.is_number(res.slow_status)
    -- the jobs overlapped on the one engine
    assert.is_true(res.peak_transfers >= 2, "peak transfers " .. res.peak_transfers)
    -- the editor kept running its own 10 ms timer during the whole job...
    local expected = res.job_ms / 10
    assert.is_true(res.ticks_during >= math.max(10, expected / 4),
      ("only %d vim timer ticks in %.0f ms"):format(res.ticks_during, res.job_ms))
    assert.is_true(res.max_gap < 250, ("the editor stalled for %.0f ms"):format(res.max_gap))
    -- ...and handled keys typed while it ran
    assert.equal(0, res.keys_before)
    assert.is_true(res.keys_during > 0, "no typed key was handled during the job")
    -- coroutines ran in the main loop, not in a fast event (vim.api worked in them)
    assert.equal(jobs * rounds, res.progress_calls)
    assert.equal(0, res.progress_errors)
    assert.is_false(res.callback_in_fast)
    -- event mode (the default): the answers woke the editor through the descriptor
    assert.equal("event", res.driver.mode)
    assert.is_true(res.driver.poll_wakeups > 0)
    -- the driver stopped when idle and started again for a new job
    assert.is_true(res.went_idle)
    assert.is_false(res.driver.active)
    assert.equal(1, res.driver.starts)
    assert.equal(1, res.driver.stops)
    assert.equal("again", res.again)
    assert.equal(2, res.driver_after_again.starts)
    assert.equal(0, res.driver_after_again.errors)
  end)

  it("ten waits between polls: the event mode wakes only for the polls' timers and answers", function()
    -- a slow simulator (the tasks stay in progress) whose list answers take 0.25 s, as
    -- over a real network: the tick mode ticks every 10 ms while an answer is on its way
    local slow = simulator.start { speed = 1, key = "sk-test" }
    slow:faults { { kind = "slow_first_byte", delay = 0.25, route = "list", times = -1 } }
    local res = {}
    for _, mode in ipairs { "event", "tick" } do
      res[mode] = nvim("spec/hosts/nvim_idle_waits.lua", {
        MJ_BASE_URL = slow.url, MJ_KEY = slow.key, MJ_RESULT = dir .. "/" .. mode .. ".lua", MJ_MODE = mode,
      }, dir)
    end
    slow:stop()
    for mode, r in pairs(res) do
      assert.is_nil(r.error, mode .. ": " .. tostring(r.error))
      assert.equal(mode, r.driver.mode)
      assert.equal(10, r.res.waiting, mode .. ": the waits ended early")
      assert.is_true(r.went_idle, mode .. ": the driver did not stop when idle")
      assert.equal(0, r.driver.errors)
    end
    local ev, tk = res.event.res, res.tick.res
    local msg = ("event: %d wakeups for %d requests; tick: %d wakeups for %d requests"):format(ev.wakeups,
      ev.requests, tk.wakeups, tk.requests)
    assert.is_true(ev.requests >= 3 and tk.requests >= 3, msg)
    assert.is_true(ev.wakeups <= 3 * ev.requests + 3, msg)
    assert.is_true(tk.wakeups >= 3 * ev.wakeups, msg)
    assert.equal(0, res.tick.driver.poll_wakeups)
    assert.is_true(res.event.driver.poll_wakeups > 0)
  end)

  it("control: the same gauge sees a frozen editor when the jobs run blocking", function()
    local res = nvim("spec/hosts/nvim_driver_job.lua", {
      MJ_GET_URL = sim.url .. "/_sim/stats", MJ_RESULT = dir .. "/res.lua",
      MJ_JOBS = 10, MJ_ROUNDS = 10, MJ_BLOCKING = 1,
    }, dir)
    assert.equal(10, res.done)
    assert.equal(0, res.keys_during)
    assert.is_true(res.max_gap >= 0.8 * res.job_ms,
      ("gap %.0f ms for a %.0f ms blocking job"):format(res.max_gap, res.job_ms))
  end)

  it("loads as a plugin: plugin/midjourney.lua lets Neovim find build/luajit's core", function()
    local result = dir .. "/res.lua"
    -- --clean: no user config, but plugin/ files on the runtime path are sourced
    local cmd = string.format("nvim --headless --clean -i NONE -n --cmd %s -c %s",
      util.q("set rtp+=" .. ROOT), util.q("luafile " .. ROOT .. "/spec/hosts/nvim_plugin_load.lua"))
    local rc, log = util.run(cmd, { MJ_REPO = ROOT, MJ_RESULT = result }, 30, dir .. "/nvim.log")
    local res = assert(util.result(result), "exit " .. rc .. ": " .. log)
    assert.is_true(res.loaded_flag)
    assert.is_true(res.cpath_has_build)
    assert.is_true(res.core_ok, res.core_version)
    assert.is_true(res.mj_ok)
    assert.is_true(res.driver_ok)
  end)

  it("runs :MjImagine from the example plugin: progress and result via vim.notify", function()
    local res = nvim("spec/hosts/nvim_plugin_job.lua", {
      MJ_BASE_URL = sim.url, MJ_KEY = sim.key, MJ_RESULT = dir .. "/res.lua", MJ_DIR = dir,
    }, dir)
    assert.is_nil(res.error)
    assert.is_truthy(res.task_id)
    -- the image landed where the plugin said, and it is a PNG
    local f = assert(io.open(res.path, "rb"))
    assert.equal("\137PNG", f:read(4))
    f:close()
    assert.equal(dir .. "/" .. res.task_id .. ".png", res.path)
    -- progress was reported while the job ran, and the editor kept ticking
    assert.is_true(res.progress_notes >= 1, "no progress notification")
    assert.is_truthy(res.done_note:find(res.task_id, 1, true))
    assert.is_true(res.ticks_during >= 5, "vim timer ticks during the job: " .. res.ticks_during)
    assert.is_true(res.max_gap < 250, ("the editor stalled for %.0f ms"):format(res.max_gap))
    assert.is_false(res.driver.active)
    -- the simulator saw the whole job
    local st = sim:stats()
    assert.is_true((st.routes.imagine or 0) >= 1)
    assert.is_true((st.routes.fetch or 0) + (st.routes.list or 0) >= 1)
  end)

  it("with no cjson on the cpath, the library uses Neovim's vim.json and a job runs to SUCCESS", function()
    local res = nvim("spec/hosts/nvim_vimjson_job.lua", {
      MJ_BASE_URL = sim.url, MJ_KEY = sim.key, MJ_RESULT = dir .. "/res.lua",
    }, dir)
    assert.is_nil(res.error)
    assert.is_false(res.cjson_loadable)
    assert.equal("vim.json", res.backend)
    assert.equal("SUCCESS", res.grid_status)
    assert.equal("SUCCESS", res.up_status)
    assert.equal(9, res.buttons)
  end)

  it(":help midjourney opens doc/midjourney.txt; every tag and link in it resolves", function()
    -- helptags on a copy: the checkout's doc/ gets no generated doc/tags
    local help = dir .. "/help"
    local prc, plog = util.run("sh -c " .. util.q("mkdir -p " .. util.q(help .. "/doc") .. " && cp "
      .. util.q(ROOT .. "/doc/midjourney.txt") .. " " .. util.q(help .. "/doc/")), {}, 10, dir .. "/cp.log")
    assert.equal(0, prc, plog)
    local result = dir .. "/res.lua"
    local cmd = string.format("nvim --headless --clean -i NONE -n --cmd %s -c %s",
      util.q("set rtp+=" .. help), util.q("luafile " .. ROOT .. "/spec/hosts/nvim_help.lua"))
    local rc, log = util.run(cmd, { MJ_REPO = ROOT, MJ_RESULT = result, MJ_HELP_DIR = help }, 30,
      dir .. "/nvim.log")
    local res = assert(util.result(result), "exit " .. rc .. ": " .. log)
    assert.is_true(res.helptags_ok, tostring(res.helptags_error))
    assert.equal("midjourney.txt", res.main_file)
    assert.is_truthy(res.main_line:find("*midjourney*", 1, true), res.main_line)
    assert.same({}, res.failures)
    -- the tags people look for
    local have = {}
    for _, t in ipairs(res.tags) do have[t] = true end
    for _, t in ipairs { "midjourney", "midjourney-setup", "midjourney-driver", "midjourney-health",
      "midjourney-errors", ":MjImagine", "midjourney-imagine", "midjourney-wait", "midjourney-action",
      "midjourney-upscale", "midjourney-variation", "midjourney-vary_region", "midjourney-download" } do
      assert.is_true(have[t] == true, "no *" .. t .. "* in doc/midjourney.txt")
    end
    assert.is_true(#res.links >= 5, "links checked: " .. #res.links)
    assert.is_nil(io.open(ROOT .. "/doc/tags"), "doc/tags in the checkout")
  end)

  it(":MjCancel cancels a running job and the plugin reports it as information, not an error", function()
    local res = nvim("spec/hosts/nvim_plugin_job.lua", {
      MJ_BASE_URL = sim.url, MJ_KEY = sim.key, MJ_RESULT = dir .. "/res.lua", MJ_DIR = dir,
      MJ_CANCEL = 1,
    }, dir)
    assert.is_nil(res.task_id)
    assert.is_nil(res.error_note)
    assert.is_truthy(res.cancel_note and res.cancel_note:find("a paper boat", 1, true), tostring(res.cancel_note))
    assert.equal(2, res.cancel_level) -- vim.log.levels.INFO
    assert.equal(0, res.running_after)
    assert.is_false(res.driver.active)
  end)
end)
