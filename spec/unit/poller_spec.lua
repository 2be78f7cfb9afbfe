-- The poller on a fake core: batching, missing ids, immediate rounds, per-waiter
-- deadlines, and pollers keyed by their settings.
local mj = require "midjourney"
local poller = require "midjourney.poller"
local scheduler = require "midjourney.scheduler"
local fake_core = require "spec.helpers.fake_core"

local function ids(n, base)
  local out = {}
  for i = 1, n do out[i] = string.format("%.0f", (base or 1773314942177000) + i) end
  return out
end

describe("poller (unit, fake core)", function()
  local c
  before_each(function() c = mj.new { api_key = "sk-unit", base_url = "http://gateway.test" } end)

  it("batch: one list request, then a fetch only for ids missing from its answer", function()
    local list = ids(5)
    local tasks = {}
    for i = 1, 4 do tasks[list[i]] = { id = list[i], status = "IN_PROGRESS", progress = "10%" } end
    local fake = fake_core.new(fake_core.gateway(tasks))
    local s = scheduler.new { core = fake }
    local res = s:run(function() return poller.batch(c, list, scheduler.now() + 60) end)
    for i = 1, 4 do assert.are.equal("IN_PROGRESS", res[list[i]].task.status) end
    assert.are.equal("not_found", res[list[5]].err.kind)
    assert.are.equal(1, fake:count("list%-by%-condition$"))
    assert.are.equal(1, fake:count("/fetch$"))
  end)

  it("a list that errors gives that error to every id of the batch", function()
    local fake = fake_core.new(function() return { status = 503, body = "" } end)
    local s = scheduler.new { core = fake }
    local c0 = mj.new { api_key = "sk-unit", base_url = "http://gateway.test", max_retries = 0 }
    local res = s:run(function() return poller.batch(c0, ids(3), scheduler.now() + 60) end)
    for _, id in ipairs(ids(3)) do
      assert.are.equal(503, res[id].err.status)
      assert.is_true(res[id].err.retryable)
    end
  end)

  it("pollers are keyed by scheduler, client and settings; a caller never changes another's interval", function()
    local s = scheduler.new { core = fake_core.new(function() return { status = 200, body = "[]" } end) }
    local a, b, a2
    s:run(function()
      a, b, a2 = poller.of(c, 3, 50), poller.of(c, 1, 50), poller.of(c, 3, 50)
    end)
    assert.are.equal(a, a2)
    assert.are_not.equal(a, b)
    assert.are.equal(3, a.interval)
    assert.are.equal(1, b.interval)
  end)

  it("100 waiters: ceil(100/50) list requests per round; immediate waiters get a round at once", function()
    local list = ids(100)
    local tasks = {}
    for _, id in ipairs(list) do tasks[id] = { id = id, status = "IN_PROGRESS", progress = "1%" } end
    local fake = fake_core.new(fake_core.gateway(tasks, 0.05))
    local s = scheduler.new { core = fake }
    local got = {}
    s:run(function()
      local p = poller.of(c, 3, 50)
      local hs = {}
      for i, id in ipairs(list) do
        hs[i] = s:spawn(function() got[id] = p:next(id, scheduler.now() + 60, true) end)
      end
      s:join(hs)
    end)
    for _, id in ipairs(list) do assert.are.equal("IN_PROGRESS", got[id].status) end
    assert.are.equal(2, fake:count("list%-by%-condition$"))
    assert.is_true(fake.clock - 1000 < 1, "an immediate round does not wait for the interval")
  end)

  it("a waiter returns at its own deadline while the round's list request hangs", function()
    local fake = fake_core.new(function() return { status = 200, body = "[]" }, 3600 end) -- an hour-long answer
    local s = scheduler.new { core = fake }
    local t0 = fake.clock
    local t, err = s:run(function() return poller.of(c, 3, 50):next("1", scheduler.now() + 2, true) end)
    assert.is_nil(t)
    assert.are.equal("timeout", err.kind)
    assert.is_true(fake.clock - t0 < 3, "returned after " .. (fake.clock - t0))
  end)
end)
