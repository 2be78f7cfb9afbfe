-- The wait state machine and the polling paths on a fake core: a virtual clock and a
-- scripted gateway, so a 600 s wait takes milliseconds and every request is counted.
local mj = require "midjourney"
local scheduler = require "midjourney.scheduler"
local wait = require "midjourney.wait"
local fake_core = require "spec.helpers.fake_core"

local ID = "1773314942177684"

-- A task whose status follows the virtual clock: { {at, status, progress}, ... }
local function timeline(fake_ref, steps, extra)
  return function()
    local t0 = fake_ref.t0
    local cur = { id = ID, status = "", progress = "0%", buttons = {} }
    for _, s in ipairs(steps) do
      if fake_ref.fake.clock - t0 >= s[1] then
        cur = { id = ID, status = s[2], progress = s[3], buttons = {}, failReason = s[4] }
      end
    end
    for k, v in pairs(extra or {}) do cur[k] = v end
    return cur
  end
end

local function setup(tasks, delay)
  local ref = {}
  local fake = fake_core.new(fake_core.gateway(tasks(ref), delay or 0.05))
  ref.fake, ref.t0 = fake, fake.clock
  local s = scheduler.new { core = fake }
  local c = mj.new { api_key = "sk-unit", base_url = "http://gateway.test" }
  return s, c, fake, function(pattern) return fake:count(pattern) end
end

describe("wait (unit, fake core)", function()
  it("polls through the placeholder and IN_PROGRESS until SUCCESS, on the scheduler's clock", function()
    local s, c, _, count = setup(function(ref)
      return { [ID] = timeline(ref, { { 5, "SUBMITTED", "0%" }, { 20, "IN_PROGRESS", "40%" },
        { 60, "SUCCESS", "100%" } }) }
    end)
    local seen = {}
    local t, err = s:run(function()
      return c:wait(ID, { coalesce = false, interval = 5, on_progress = function(x) seen[#seen + 1] = x.status end })
    end)
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
    assert.are.same({ "", "SUBMITTED", "IN_PROGRESS", "SUCCESS" }, seen)
    local n = count("/fetch$")
    assert.is_true(n >= 12 and n <= 14, n .. " fetches")
  end)

  it("a finished task costs one fetch: no first delay for a task this client did not just submit", function()
    local s, c, fake, count = setup(function() return { [ID] = { id = ID, status = "SUCCESS", progress = "100%" } } end)
    local t0 = fake.clock
    local t = assert(s:run(function() return c:wait(ID, { coalesce = false }) end))
    assert.are.equal("SUCCESS", t.status)
    assert.are.equal(1, count("/fetch$"))
    assert.is_true(fake.clock - t0 < 1, "waited " .. (fake.clock - t0))
  end)

  it("ends with task_failed on FAILURE, with the task", function()
    local s, c = setup(function(ref)
      return { [ID] = timeline(ref, { { 3, "FAILURE", "100%", "[Banned prompt detected] no" } }) }
    end)
    local t, err = s:run(function() return c:wait(ID, { coalesce = false, interval = 1 }) end)
    assert.is_nil(t)
    assert.are.equal("task_failed", err.kind)
    assert.are.equal("FAILURE", err.task.status)
    assert.truthy(err.message:find("Banned", 1, true))
  end)

  it("ends with timeout at its deadline, with the last snapshot", function()
    local s, c, fake = setup(function(ref) return { [ID] = timeline(ref, { { 1, "IN_PROGRESS", "10%" } }) } end)
    local t0 = fake.clock
    local t, err = s:run(function() return c:wait(ID, { coalesce = false, timeout = 30, interval = 3 }) end)
    assert.is_nil(t)
    assert.are.equal("timeout", err.kind)
    assert.are.equal("IN_PROGRESS", err.task.status)
    assert.is_true(fake.clock - t0 >= 30 and fake.clock - t0 < 35)
  end)

  it("a MODAL snapshot ends a wait, unless this client answered that dialog (a stale row)", function()
    local s, c = setup(function(ref)
      return { [ID] = timeline(ref, { { 0, "MODAL", "" }, { 40, "IN_PROGRESS", "30%" }, { 80, "SUCCESS", "100%" } }) }
    end)
    local m = assert(s:run(function() return c:wait(ID, { coalesce = false }) end))
    assert.are.equal("MODAL", m.status)
    c._recent.modal[ID] = scheduler.now() -- as client:modal records it
    assert.is_true(c:answered_modal(ID))
    local t, err = s:run(function() return c:wait(ID, { coalesce = false, interval = 5 }) end)
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
  end)

  it("not_found ends the wait only after not_found_limit misses in a row", function()
    local s, c, _, count = setup(function() return {} end)
    local t, err = s:run(function() return c:wait(ID, { coalesce = false, interval = 1, not_found_limit = 3 }) end)
    assert.is_nil(t)
    assert.are.equal("not_found", err.kind)
    assert.are.equal(3, count("/fetch$"))
  end)

  it("transient errors do not end it, others do", function()
    local st = wait.new_state(mj.new { api_key = "k" }, ID, { deadline = math.huge, timeout = 1, not_found_limit = 3 })
    local errors = require "midjourney.errors"
    assert.is_false((wait.feed(st, nil, errors.new { kind = "http", status = 503, message = "x" })))
    assert.is_false((wait.feed(st, nil, errors.new { kind = "transport", message = "reset" })))
    assert.is_false((wait.feed(st, nil, errors.new { kind = "decode", status = 200, message = "html" })))
    assert.is_false((wait.feed(st, nil, errors.new { kind = "rate_limited", status = 429, message = "slow" })))
    assert.is_true((wait.feed(st, nil, errors.new { kind = "http", status = 401, message = "key" })))
    assert.is_true((wait.feed(st, nil, errors.new { kind = "cancelled", message = "c" })))
  end)

  it("stall_timeout calls on_stall once; stall_error ends the wait", function()
    local s, c = setup(function(ref) return { [ID] = timeline(ref, { { 0, "IN_PROGRESS", "10%" } }) } end)
    local stalls = 0
    local t, err = s:run(function()
      return c:wait(ID, { coalesce = false, interval = 2, stall_timeout = 10, stall_error = true,
        on_stall = function() stalls = stalls + 1 end })
    end)
    assert.is_nil(t)
    assert.are.equal("timeout", err.kind)
    assert.is_true(err.stalled)
    assert.are.equal(1, stalls)
  end)

  it("wait_all shares polls: one list request per round for all ids", function()
    local tasks = {}
    local list = {}
    for i = 1, 120 do
      local id = string.format("%.0f", 1773314942177000 + i)
      list[i] = id
      tasks[id] = { id = id, status = "SUCCESS", progress = "100%" }
    end
    local s, c, _, count = setup(function() return tasks end)
    local res, errs = s:run(function() return c:wait_all(list, { batch = 50 }) end)
    assert.is_nil(errs)
    for i = 1, 120 do assert.are.equal("SUCCESS", res[list[i]].status) end
    assert.are.equal(3, count("list%-by%-condition$")) -- ceil(120 / 50), one immediate round
    assert.are.equal(0, count("/fetch$"))
  end)
end)
