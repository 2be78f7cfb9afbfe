-- The scheduler: spawn/step/run/sleep, yield-or-block, cancellation, against the simulator.
local mj = require "midjourney"
local core = require "midjourney.core"
local scheduler = require "midjourney.scheduler"
local simulator = require "spec.helpers.simulator"

describe("scheduler", function()
  local sim = simulator.for_block { speed = 500, seed = 3, key = "sk-sched-test" }

  local function get(path, extra)
    local spec = { url = sim.url .. path, timeout = 10, headers = { "Authorization: Bearer " .. sim.key } }
    for k, v in pairs(extra or {}) do spec[k] = v end
    return scheduler.request(spec)
  end

  it("spawn returns at once; run returns the function's results", function()
    local h = mj.spawn(function(a, b) return a + b, "x" end, 2, 3)
    assert.are.equal("pending", h:status())
    local a, b = mj.run(function() return get("/mj/task/1/fetch").status, "done" end)
    assert.are.equal(400, a) -- task_no_found
    assert.are.equal("done", b)
    -- the earlier spawn ran too, on the steps run made
    assert.are.equal("done", h:status())
    local s, x = h:result()
    assert.are.equal(5, s)
    assert.are.equal("x", x)
  end)

  it("a request yields inside a coroutine and blocks outside, with the same result", function()
    local blocking = get("/mj/task/1/fetch")
    local yielded = mj.run(function()
      assert.is_true(scheduler.in_coroutine())
      return get("/mj/task/1/fetch")
    end)
    assert.is_false(scheduler.in_coroutine())
    assert.are.equal(blocking.status, yielded.status)
    assert.are.equal(blocking.content_type, yielded.content_type)
  end)

  it("runs many coroutines' transfers concurrently on one engine", function()
    sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 0.3, times = 10 } }
    local t0 = core.now()
    local handles = {}
    for i = 1, 10 do handles[i] = mj.spawn(function() return get("/mj/task/1/fetch").status end) end
    mj.run(function()
      for i = 1, 10 do
        while handles[i]:status() ~= "done" do mj.sleep(0.01) end
      end
    end)
    -- ten requests of 0.3 s each took far less than 3 s: they overlapped
    assert.is_true(core.now() - t0 < 2.0, "took " .. (core.now() - t0))
    for i = 1, 10 do assert.are.equal(400, (handles[i]:result())) end
  end)

  it("step never blocks much longer than its timeout", function()
    sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 2, times = 1 } }
    local h = mj.spawn(function() return get("/mj/task/1/fetch").status end)
    mj.step(0)
    local t0 = core.now()
    mj.step(0)
    assert.is_true(core.now() - t0 < 0.1)
    t0 = core.now()
    mj.step(0.2)
    local took = core.now() - t0
    assert.is_true(took < 0.6, "step(0.2) took " .. took)
    h:cancel()
    mj.step(0)
  end)

  it("cancel aborts the in-flight transfer and the call returns a cancelled record", function()
    sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 5, times = 1 } }
    local seen
    local h = mj.spawn(function()
      local r = get("/mj/task/1/fetch")
      seen = r.error_kind
      local r2 = get("/mj/task/1/fetch") -- later calls of a cancelled coroutine return at once
      return r2.error_kind
    end)
    mj.step(0)
    mj.step(0)
    assert.are.equal(1, scheduler.engine():running())
    assert.is_true(h:cancel())
    assert.are.equal(0, scheduler.engine():running())
    local deadline = core.now() + 5
    while h:status() == "running" and core.now() < deadline do mj.step(0.05) end
    assert.are.equal("cancelled", seen)
    assert.are.equal("done", h:status())
    assert.are.equal("cancelled", (h:result()))
  end)

  it("cancel before the first step means the function never runs", function()
    local ran = false
    local h = mj.spawn(function() ran = true end)
    assert.is_true(h:cancel())
    mj.step(0)
    assert.is_false(ran)
    assert.are.equal("cancelled", h:status())
    local v, err = h:result()
    assert.is_nil(v)
    assert.are.equal("cancelled", err.kind)
  end)

  it("sleep yields inside a coroutine and blocks outside", function()
    local order = {}
    local a = mj.spawn(function() mj.sleep(0.05); order[#order + 1] = "a" end)
    local b = mj.spawn(function() mj.sleep(0.01); order[#order + 1] = "b" end)
    mj.run(function()
      while a:status() ~= "done" or b:status() ~= "done" do mj.sleep(0.005) end
    end)
    assert.are.same({ "b", "a" }, order)
    local t0 = core.now()
    mj.sleep(0.03)
    assert.is_true(core.now() - t0 >= 0.025)
  end)

  it("a failing coroutine is reported by its handle, and run raises its error", function()
    local h = mj.spawn(function() error("boom", 0) end)
    mj.step(0)
    assert.are.equal("failed", h:status())
    local v, err = h:result()
    assert.is_nil(v)
    assert.are.equal("boom", err)
    assert.has_error(function() mj.run(function() error("bang", 0) end) end, "bang")
  end)

  it("step returns the number of live coroutines", function()
    local h = mj.spawn(function() mj.sleep(0.05) end)
    assert.are.equal(1, mj.step(0))
    local deadline = core.now() + 2
    while h:status() ~= "done" and core.now() < deadline do mj.step(0.1) end
    assert.are.equal(0, mj.step(0))
  end)

  it("raises on wrong argument types", function()
    assert.has_error(function() mj.spawn(42) end)
    assert.has_error(function() mj.run("x") end)
    assert.has_error(function() mj.sleep("1") end)
    assert.has_error(function() mj.step("0") end)
  end)

  it("join waits for handles, yielding inside a coroutine and blocking outside", function()
    local a = mj.spawn(function() mj.sleep(0.03); return "a" end)
    local b = mj.spawn(function() mj.sleep(0.01); return "b" end)
    local order = mj.run(function()
      mj.join { a, b }
      return a:status() .. "," .. b:status()
    end)
    assert.are.equal("done,done", order)
    local c = mj.spawn(function() mj.sleep(0.02); return "c" end)
    mj.join { c }
    assert.are.equal("c", (c:result()))
    assert.has_error(function() mj.join { {} } end)
  end)

  it("a step spends about its budget resuming coroutines and leaves the rest for the next", function()
    local function busy()
      local t = core.now() + 0.0005
      while core.now() < t do end
    end
    local done = 0
    for _ = 1, 100 do mj.spawn(function() busy(); done = done + 1 end) end
    mj.step(0)
    assert.is_true(done < 50, "one step resumed " .. done .. " coroutines")
    local deadline = core.now() + 5
    while done < 100 and core.now() < deadline do mj.step(0) end
    assert.are.equal(100, done)
    -- without a budget, one step resumes them all
    mj.configure { step_budget = false }
    done = 0
    for _ = 1, 20 do mj.spawn(function() busy(); done = done + 1 end) end
    mj.step(0)
    mj.configure { step_budget = 0.001 }
    assert.are.equal(20, done)
    assert.has_error(function() mj.configure { step_budget = "x" } end)
  end)

  it("on_work tells a driver when work is queued from outside a step", function()
    local calls = 0
    local function hook() calls = calls + 1 end
    mj.spawn(function() end)                -- before the hook: not counted
    require("midjourney.scheduler").on_work(hook)
    local h = mj.spawn(function() mj.sleep(0.01) end)
    assert.are.equal(1, calls)
    mj.step(0)                              -- resumes inside a step: no call
    assert.are.equal(1, calls)
    h:cancel()
    assert.are.equal(2, calls)
    mj.run(function() end)                  -- spawn inside run: one call
    assert.are.equal(3, calls)
    assert.has_error(function() mj.run(function() mj.step(0) end) end)
  end)
end)
