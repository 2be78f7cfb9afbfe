-- Coalesced polling: many coroutines' waits share list-by-condition requests,
-- counted by the simulator itself.
local mj = require "midjourney"
local core = require "midjourney.core"
local simulator = require "spec.helpers.simulator"

describe("coalesced polling", function()
  -- slow jobs (a few seconds at speed 20) so that waits span several poll rounds
  local sim = simulator.for_block { speed = 20, seed = 11, key = "sk-coalesce", reset = false }

  it("120 concurrent waits cost at most ceil(120/50) list requests per round and no fetches", function()
    local c = mj.new { api_key = sim.key, base_url = sim.url }
    local ids = {}
    for i = 1, 120 do ids[i] = assert(c:imagine("coalesced lighthouse " .. i)) end
    sim:reset()
    local handles = {}
    for i = 1, 120 do
      handles[i] = mj.spawn(function() return c:wait(ids[i], { interval = 0.25, batch = 50, timeout = 60 }) end)
    end
    local deadline = core.now() + 60
    local live = mj.step(0)
    while live > 0 and core.now() < deadline do live = mj.step(0.1) end
    assert.are.equal(0, live, "waits did not finish")
    for i = 1, 120 do
      local t, err = handles[i]:result()
      assert.is_table(t, tostring(err))
      assert.are.equal("SUCCESS", t.status)
      assert.are.equal(ids[i], t.id)
    end
    local st = sim:stats()
    local rounds = require("midjourney.poller").of(c, 0.25, 50).rounds
    assert.is_true(rounds >= 2, "expected several rounds, got " .. rounds)
    local lists = st.routes.list or 0
    assert.is_true(lists <= rounds * 3, ("%d list requests for %d rounds"):format(lists, rounds))
    assert.is_true(lists >= rounds, "every round asked the list endpoint")
    assert.are.equal(0, st.routes.fetch or 0)
  end)

  it("ten coroutines' jobs run at once on one engine (the simulator sees them overlap)", function()
    local c = mj.new { api_key = sim.key, base_url = sim.url }
    sim:reset()
    local handles = {}
    for i = 1, 10 do
      handles[i] = mj.spawn(function()
        local id = assert(c:imagine("overlap " .. i))
        return c:wait(id, { interval = 0.2, first_delay = 0.1, timeout = 60 })
      end)
    end
    local deadline = core.now() + 60
    while mj.step(0.1) > 0 and core.now() < deadline do end
    for i = 1, 10 do assert.are.equal("SUCCESS", (handles[i]:result()).status) end
    assert.is_true(sim:stats().max_in_flight_jobs >= 10, "max in flight " .. sim:stats().max_in_flight_jobs)
  end)

  it("a coalesced wait survives injected 502s on the list endpoint", function()
    local c = mj.new { api_key = sim.key, base_url = sim.url, max_retries = 0 }
    local id = assert(c:imagine("stormy boat"))
    sim:reset()
    sim:faults { { route = "list", kind = "status", status = 502, times = 4 } }
    local t, err = mj.run(function() return c:wait(id, { interval = 0.2, timeout = 60 }) end)
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
    assert.is_true((sim:stats().routes.list or 0) >= 5)
  end)

  it("cancelling one waiting coroutine leaves the others' waits intact", function()
    local c = mj.new { api_key = sim.key, base_url = sim.url }
    local a = assert(c:imagine("cancel me"))
    local b = assert(c:imagine("keep me"))
    local ha = mj.spawn(function() return c:wait(a, { interval = 0.2, timeout = 60 }) end)
    local hb = mj.spawn(function() return c:wait(b, { interval = 0.2, timeout = 60 }) end)
    mj.step(0)
    mj.step(0)
    ha:cancel()
    local deadline = core.now() + 60
    while hb:status() == "running" and core.now() < deadline do mj.step(0.1) end
    local _, err = ha:result()
    assert.are.equal("cancelled", err and err.kind or (select(2, ha:result()) or {}).kind)
    assert.are.equal("SUCCESS", (hb:result()).status)
  end)
end)
