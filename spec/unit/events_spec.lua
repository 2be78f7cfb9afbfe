-- The event interface of the scheduler (fd, timeout, the cqueues pollable methods) on a
-- fake core: what a host's loop is told to wait for, in every state.
local scheduler = require "midjourney.scheduler"
local fake_core = require "spec.helpers.fake_core"

local function new(handler)
  local fake = fake_core.new(handler or function() return { status = 200, body = "ok" }, 1 end)
  return scheduler.new { core = fake }, fake
end

local GET = { method = "GET", url = "http://x/1" }

describe("scheduler event interface (unit, fake core)", function()
  it("idle: timeout() is nil and busy() is false", function()
    local s = new()
    assert.is_nil(s:timeout())
    assert.is_false(s:busy())
  end)

  it("a coroutine ready to run: timeout() is 0", function()
    local s = new()
    s:spawn(function() end)
    assert.are.equal(0, s:timeout())
    s:step(0)
    assert.is_nil(s:timeout())
  end)

  it("a sleeping coroutine: the seconds left on its timer, on the scheduler's clock", function()
    local s, fake = new()
    s:spawn(function() s:sleep(5) end)
    s:step(0)
    assert.are.equal(5, s:timeout())
    fake.clock = fake.clock + 2
    assert.are.equal(3, s:timeout())
    fake.clock = fake.clock + 10 -- overdue: 0, never negative
    assert.are.equal(0, s:timeout())
    s:step(0)
    assert.is_nil(s:timeout())
  end)

  it("several timers: the earliest; a cancelled one no longer counts", function()
    local s = new()
    local long = s:spawn(function() s:sleep(30) end)
    local short = s:spawn(function() s:sleep(2) end)
    s:step(0)
    assert.are.equal(2, s:timeout())
    short:cancel()
    assert.are.equal(0, s:timeout()) -- the cancelled coroutine is ready to unwind
    s:step(0)
    assert.are_not.equal("running", short:status())
    assert.are.equal(30, s:timeout()) -- the inert 2 s entry is skipped
    long:cancel()
    s:step(0)
    assert.is_nil(s:timeout())
  end)

  it("a suspend: its timeout when it has one, nothing when it waits only for wake", function()
    local s = new()
    local timed = s:spawn(function() return s:suspend(4) end)
    s:step(0)
    assert.are.equal(4, s:timeout())
    s:wake(timed, "woken")
    assert.are.equal(0, s:timeout())
    s:step(0)
    local untimed = s:spawn(function() return s:suspend() end)
    s:step(0)
    assert.is_nil(s:timeout()) -- nothing is due: the host waits for wake (on_work tells it)
    assert.are.equal(1, s:live())
    s:wake(untimed)
    assert.are.equal(0, s:timeout())
  end)

  it("a transfer in flight: the engine's timer; the earliest of it and the scheduler's", function()
    local s, fake = new(function() return { status = 200, body = "ok" }, 3 end)
    s:spawn(function() return s:request(GET) end)
    s:step(0)
    assert.are.equal(3, s:timeout())
    s:spawn(function() s:sleep(1) end)
    s:step(0)
    assert.are.equal(1, s:timeout())
    fake.clock = fake.clock + 3 -- the answer is due: a step hands it out
    assert.are.equal(0, s:timeout())
  end)

  it("an engine closed under waiting calls: 0, and the next step hands them their cancellation", function()
    local s = new(function() return { status = 200 }, 60 end)
    local h = s:spawn(function() return s:request(GET) end)
    s:step(0)
    s:engine():close()
    assert.are.equal(0, s:timeout())
    s:step(0)
    s:step(0)
    assert.are.equal("cancelled", h:result().error_kind)
    assert.is_nil(s:timeout())
  end)

  it("a host loop that waits exactly timeout() never steps for nothing", function()
    -- three jobs of sleeps and requests; the loop below is what a driver does, with the
    -- virtual clock standing in for the wait on fd() + timer
    local s, fake = new(function() return { status = 200, body = "ok" }, 0.25 end)
    local events = 0
    for j = 1, 3 do
      s:spawn(function()
        for _ = 1, 4 do
          s:sleep(0.5 * j); events = events + 1
          s:request(GET); events = events + 1
        end
      end)
    end
    local steps, idle_steps = 0, 0
    while s:busy() do
      local t = s:timeout()
      if t and t > 0 then fake.clock = fake.clock + t end
      local before = events
      s:step(0)
      steps = steps + 1
      if events == before then idle_steps = idle_steps + 1 end
      assert.is_true(steps < 200, "the loop does not end")
    end
    assert.are.equal(24, events)
    -- a step that resumed nothing happens only when a timer fired for a coroutine whose
    -- next event is also a wake (the first step starts the jobs)
    assert.is_true(idle_steps <= 1, idle_steps .. " steps resumed nothing")
    assert.are.equal(0, s:live())
  end)

  it("fd() is the engine's descriptor, a new one after the engine was closed", function()
    local s, fake = new()
    local first = s:fd()
    assert.are.equal(fake.fd_base + 1, first)
    assert.are.equal(first, s:pollfd())
    assert.are.equal("r", s:events())
    s:close()
    local second = s:fd()
    assert.are_not.equal(first, second)
    assert.are.equal(2, #fake.engines)
    fake.no_fd = true
    assert.is_nil(s:fd())
  end)

  it("module functions act on the active scheduler, so a scheduler is a cqueues pollable", function()
    local s = new()
    local inside = s:run(function()
      return { fd = scheduler.fd(), pollfd = scheduler.pollfd(), events = scheduler.events(),
        timeout = scheduler.timeout() }
    end)
    assert.are.equal(s:fd(), inside.fd)
    assert.are.equal(s:fd(), inside.pollfd)
    assert.are.equal("r", inside.events)
    assert.is_nil(inside.timeout) -- the running coroutine itself is not waiting for anything
  end)

  it("mj.fd, mj.timeout, mj.pollfd, mj.events: the default scheduler, callable as methods", function()
    local mj = require "midjourney"
    local fd = mj.fd()
    assert.is_true(fd == nil or (type(fd) == "number" and fd >= 0))
    assert.are.equal(fd, mj:pollfd())
    assert.are.equal("r", mj:events())
    assert.are.equal(scheduler.default():timeout(), mj:timeout())
    local h = mj.spawn(function() end)
    assert.are.equal(0, mj.timeout())
    mj.step(0)
    assert.are.equal("done", h:status())
  end)
end)
