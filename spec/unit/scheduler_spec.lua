-- The scheduler as an object, on a fake core (virtual clock, scripted engine): no
-- process, no socket, no real time.
local scheduler = require "midjourney.scheduler"
local fake_core = require "spec.helpers.fake_core"

local function new(handler)
  local fake = fake_core.new(handler or function() return { status = 200, body = "ok" }, 1 end)
  return scheduler.new { core = fake }, fake
end

describe("scheduler (unit, fake core)", function()
  it("two schedulers are independent: their own coroutines, timers and engines", function()
    local a, fa = new()
    local b, fb = new()
    local ha = a:spawn(function() a:sleep(5); return "a" end)
    local hb = b:spawn(function() return b:request { method = "GET", url = "http://x/b" }.status end)
    assert.are.equal(1, a:live())
    assert.are.equal(1, b:live())
    b:step(0)
    assert.are.equal("pending", ha:status()) -- a's coroutine did not run on b's step
    assert.are.equal(1, #fb.requests)
    assert.are.equal(0, #fa.requests)
    while a:step(10) > 0 do end
    assert.are.equal("a", (ha:result()))
    while b:step(1) > 0 do end
    assert.are.equal(200, (hb:result()))
  end)

  it("a call yields inside a coroutine and blocks outside, with the same record", function()
    local s = new()
    local blocking = s:request { method = "GET", url = "http://x/1" }
    local yielded = s:run(function() return s:request { method = "GET", url = "http://x/1" } end)
    assert.are.equal(blocking.status, yielded.status)
    assert.are.equal(blocking.body, yielded.body)
  end)

  it("module functions act on the active scheduler: the one whose coroutine runs", function()
    local s, fake = new()
    local inside = s:run(function()
      assert.are.equal(s, scheduler.active())
      return scheduler.request { method = "GET", url = "http://x/active" }.status
    end)
    assert.are.equal(200, inside)
    assert.are.equal(1, #fake.requests)
    assert.are_not.equal(s, scheduler.active()) -- outside: the default one
  end)

  it("sleep runs on the scheduler's clock", function()
    local s, fake = new()
    local t0 = fake.clock
    s:run(function() s:sleep(600) end)
    assert.is_true(fake.clock - t0 >= 600)
  end)

  it("suspend returns what wake passes, or TIMEOUT after its timeout", function()
    local s = new()
    local waiter = s:spawn(function() return s:suspend(10) end)
    local timed = s:spawn(function() return s:suspend(1) end)
    s:step(0)
    assert.is_true(s:wake(waiter, "x", 2))
    while s:step(5) > 0 do end
    local a, b = waiter:result()
    assert.are.equal("x", a)
    assert.are.equal(2, b)
    assert.are.equal(scheduler.TIMEOUT, (timed:result()))
    assert.is_false(s:busy()) -- the waiter's timer was disarmed by wake
  end)

  it("cancel: one cancelled value whether the coroutine waits on a transfer, a sleep or a suspend", function()
    local s = new(function() return { status = 200, body = "" }, 100 end)
    local out = {}
    local on_transfer = s:spawn(function()
      local r = s:request { method = "GET", url = "http://x/slow" }
      out.transfer = r.error_kind
      out.after = s:request { method = "GET", url = "http://x/again" }.error_kind -- returns at once
    end)
    local on_suspend = s:spawn(function() return s:suspend() end)
    local on_timed = s:spawn(function() return s:suspend(50) end)
    s:step(0)
    for _, h in ipairs({ on_transfer, on_suspend, on_timed }) do assert.is_true(h:cancel()) end
    while s:step(1) > 0 do end
    assert.are.equal("cancelled", out.transfer)
    assert.are.equal("cancelled", out.after)
    for _, h in ipairs({ on_suspend, on_timed }) do
      local v, err = h:result()
      assert.is_nil(v)
      assert.are.equal("cancelled", err.kind)
    end
  end)

  it("result() of an unfinished coroutine is nil and a 'pending' error, never a raise", function()
    local s = new()
    local h = s:spawn(function() s:sleep(1) end)
    local v, err = h:result()
    assert.is_nil(v)
    assert.are.equal("pending", err.kind)
    assert.truthy(tostring(err):find("not finished", 1, true))
    s:step(0)
    v, err = h:result()
    assert.is_nil(v)
    assert.are.equal("pending", err.kind)
  end)

  it("a coroutine.yield() of the caller's own is refused with a clear error, not stranded", function()
    local s = new()
    local h = s:spawn(function() coroutine.yield("mine") end)
    s:step(0)
    assert.are.equal("failed", h:status())
    local _, err = h:result()
    assert.truthy(tostring(err):find("coroutine.yield", 1, true))
    assert.is_false(s:busy())
    assert.are.equal(0, s:live())
  end)

  it("closing the engine mid-flight fails every pending call; a later request gets a new engine", function()
    local s, fake = new(function() return { status = 200, body = "" }, 30 end)
    local hs = {}
    for i = 1, 3 do hs[i] = s:spawn(function() return s:request { method = "GET", url = "http://x/" .. i } end) end
    s:step(0)
    s:engine():close()
    while s:step(1) > 0 do end
    for i = 1, 3 do
      local r = hs[i]:result()
      assert.are.equal("cancelled", r.error_kind)
    end
    local r = s:run(function() return s:request { method = "GET", url = "http://x/after" } end)
    assert.are.equal(200, r.status)
    assert.are.equal(2, #fake.engines)
  end)

  it("a step resumes at most its budget's worth and leaves the rest for the next step", function()
    local s, fake = new()
    s:configure { step_budget = 0.5 }
    local ran = 0
    for _ = 1, 5 do
      s:spawn(function()
        ran = ran + 1
        fake.clock = fake.clock + 1 -- each resume "takes" a second of the virtual clock
      end)
    end
    s:step(0)
    assert.are.equal(1, ran)
    s:step(0)
    assert.are.equal(2, ran)
    s:configure { step_budget = false }
    s:step(0)
    assert.are.equal(5, ran)
  end)

  it("configure refuses unknown keys and bad values", function()
    local s = new()
    assert.has_error(function() s:configure { step_budjet = 1 } end,
      "configure: unknown option 'step_budjet' (did you mean 'step_budget'?)")
    assert.has_error(function() s:configure { max_host_connections = 1e300 } end)
    assert.has_error(function() s:configure { step_budget = -1 } end)
  end)

  it("join waits for every handle, inside and outside a coroutine", function()
    local s = new()
    local hs = {}
    for i = 1, 3 do hs[i] = s:spawn(function() s:sleep(i); return i end) end
    local outer = s:run(function()
      local inner = { s:spawn(function() s:sleep(10); return "late" end) }
      s:join(inner)
      return (inner[1]:result())
    end)
    assert.are.equal("late", outer)
    s:join(hs)
    for i = 1, 3 do assert.are.equal(i, (hs[i]:result())) end
  end)
end)
