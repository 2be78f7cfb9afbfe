-- wait and wait_all against the simulator.
local simulator = require("spec.helpers.simulator")
local clients = require("spec.helpers.client")
local mj = require("midjourney")

describe("client:wait #sim", function()
  local sim = simulator.for_block { speed = 200, seed = 1, key = "sk-test" }
  local client = clients.factory(sim)
  local fast = { first_delay = 0, interval = 0.05 }
  local function with(extra)
    local o = {}
    for k, v in pairs(fast) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return o
  end

  it("returns the SUCCESS task and reports each change to on_progress", function()
    local c = client()
    local seen = {}
    local t = assert(c:wait(assert(c:imagine("a boat")), with { on_progress = function(x)
      seen[#seen + 1] = x.status .. " " .. tostring(x.progress)
    end }))
    assert.are.equal("SUCCESS", t.status)
    assert.are.equal(9, #t.buttons)
    assert.truthy(#seen >= 2)
    assert.are.equal("SUCCESS 100%", seen[#seen])
    for i = 2, #seen do assert.are_not.equal(seen[i - 1], seen[i]) end
  end)

  it("a done Task returns at once without polling", function()
    local c = client()
    local t = assert(c:wait(assert(c:imagine("a boat")), fast))
    local before = sim:count("fetch")
    assert.are.equal(t, assert(c:wait(t)))
    assert.are.equal(before, sim:count("fetch"))
  end)

  it("FAILURE gives task_failed with the task and its reason", function()
    local c = client()
    sim:faults { { route = "imagine", kind = "fail", reason = "[Invalid parameter] bad --ar", at = 10 } }
    local t, err = c:wait(assert(c:imagine("a boat")), fast)
    assert.is_nil(t)
    assert.are.equal("task_failed", err.kind)
    assert.are.equal("FAILURE", err.task.status)
    assert.truthy(err.message:find("Invalid parameter", 1, true))
    assert.truthy(tostring(err):find("task ", 1, true))
  end)

  it("the deadline gives timeout with the last snapshot", function()
    local c = client()
    sim:faults { { route = "imagine", kind = "stick", percent = 42 } }
    local t, err = c:wait(assert(c:imagine("a boat")), with { timeout = 0.6 })
    assert.is_nil(t)
    assert.are.equal("timeout", err.kind)
    assert.is_table(err.task)
    assert.are.equal("IN_PROGRESS", err.task.status)
  end)

  it("stall detection fires on_stall, and ends the wait with stall_error", function()
    local c = client()
    sim:faults { { route = "imagine", kind = "stick", percent = 42, times = 2 } }
    local stalled
    local t, err = c:wait(assert(c:imagine("a boat")), with { timeout = 0.8, stall_timeout = 0.2,
      on_stall = function(x) stalled = x end })
    assert.is_nil(t)
    assert.are.equal("timeout", err.kind)
    assert.is_table(stalled)
    t, err = c:wait(assert(c:imagine("a boat")), with { timeout = 30, stall_timeout = 0.3, stall_error = true })
    assert.is_nil(t)
    assert.is_true(err.stalled)
  end)

  it("survives injected 502s and resets while polling", function()
    local c = client { max_retries = 0 }
    local id = assert(c:imagine("a boat"))
    sim:faults { { route = "fetch", kind = "status", status = 502, times = 4 },
                 { route = "fetch", kind = "reset_mid_body", after = 4, times = 2 } }
    local t, err = c:wait(id, fast)
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
    assert.truthy(sim:count("fetch") >= 5, sim:count("fetch")) -- the 502s did hit the wait
  end)

  it("ends with not_found after not_found_limit consecutive misses", function()
    local c = client()
    local t, err = c:wait("9999999999999999", with { not_found_limit = 3 })
    assert.is_nil(t)
    assert.are.equal("not_found", err.kind)
    assert.are.equal(3, sim:count("fetch"))
  end)

  it("a 401 ends the wait at once", function()
    local c = client { api_key = "sk-wrong-0000" }
    local t, err = c:wait("1773314942177684", fast)
    assert.is_nil(t)
    assert.are.equal(401, err.status)
    assert.are.equal(1, sim:count("fetch"))
  end)

  it("errors raised by on_progress propagate to the caller", function()
    local c = client()
    local id = assert(c:imagine("a boat"))
    assert.has_error(function()
      c:wait(id, with { on_progress = function() error("boom from callback", 0) end })
    end, "boom from callback")
    -- the client still works afterwards
    assert.is_table((c:wait(id, fast)))
  end)

  it("yields inside mj.run and several waits overlap", function()
    local c = client()
    local results = mj.run(function()
      local hs, out = {}, {}
      for i = 1, 3 do
        hs[i] = mj.spawn(function() return c:wait(assert(c:imagine("boat " .. i)), fast) end)
      end
      for i = 1, 3 do
        while hs[i]:status() ~= "dead" and hs[i]:status() ~= "done" do mj.sleep(0.02) end
        out[i] = hs[i]:result()
      end
      return out
    end)
    for i = 1, 3 do assert.are.equal("SUCCESS", results[i].status) end
  end)

  it("coalesce = true shares list-by-condition polls between coroutines", function()
    local c = client()
    local ids = {}
    for i = 1, 6 do ids[i] = assert(c:imagine("coalesced boat " .. i)) end
    sim:reset()
    local out = mj.run(function()
      local hs, res = {}, {}
      for i = 1, 6 do
        hs[i] = mj.spawn(function() return c:wait(ids[i], with { coalesce = true }) end)
      end
      for i = 1, 6 do
        while hs[i]:status() ~= "dead" and hs[i]:status() ~= "done" do mj.sleep(0.02) end
        res[i] = hs[i]:result()
      end
      return res
    end)
    for i = 1, 6 do assert.are.equal("SUCCESS", out[i].status) end
    -- one list request per round covers all six: far fewer requests than six fetch loops
    assert.truthy(sim:count("list") >= 1)
    assert.are.equal(0, sim:count("fetch"))
  end)

  it("MODAL through an action: wait returns the MODAL task", function()
    local c = client()
    local grid = assert(c:wait(assert(c:imagine("a boat --v 6.1")), fast))
    local up = assert(c:wait(assert(c:action(grid, "U1")), fast))
    assert.are.equal("SUCCESS", up.status)
    local mid, env = c:action(up, "Inpaint")
    assert.is_string(mid, tostring(env))
    local m = assert(c:wait(mid, fast))
    assert.are.equal("MODAL", m.status)
    assert.is_true(m:is_done())
  end)

  it("wait_all returns tasks by id, polling with list-by-condition", function()
    local c = client()
    local ids = {}
    for i = 1, 4 do ids[i] = assert(c:imagine("boat " .. i)) end
    sim:faults { { route = "imagine", kind = "fail", reason = "banned", at = 0 } }
    local bad = assert(c:imagine("bad boat"))
    ids[#ids + 1] = bad
    ids[#ids + 1] = "9999999999999999"
    local before = sim:count("fetch")
    local res, errs = c:wait_all(ids, with { not_found_limit = 2 })
    for i = 1, 4 do assert.are.equal("SUCCESS", res[ids[i]].status) end
    assert.are.equal("task_failed", errs[bad].kind)
    assert.are.equal("not_found", errs["9999999999999999"].kind)
    assert.truthy(sim:count("list") >= 1)
    -- only the id missing from the list answers was fetched
    assert.truthy(sim:count("fetch") - before <= 2)
  end)
end)
