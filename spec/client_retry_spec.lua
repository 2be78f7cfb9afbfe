-- Retry policy against the simulator, counted with sim:stats().
local simulator = require("spec.helpers.simulator")
local clients = require("spec.helpers.client")

describe("client retries #sim", function()
  local sim = simulator.for_block { speed = 200, seed = 1, key = "sk-test" }
  local new_client = clients.factory(sim)

  local sleeps
  local function client(o)
    o = o or {}
    sleeps = {}
    -- record the backoff and do not actually wait: the policy decides, the test counts
    o.sleep = function(s) sleeps[#sleeps + 1] = s end
    return new_client(o)
  end

  it("a 502 on fetch is retried", function()
    local c = client()
    local id = assert(c:imagine("a boat"))
    sim:faults { { route = "fetch", kind = "status", status = 502 } }
    local t, err = c:fetch(id)
    assert.is_table(t, tostring(err))
    assert.are.equal(2, sim:count("fetch"))
    assert.are.equal(1, #sleeps)
    assert.truthy(sleeps[1] >= 0.375 and sleeps[1] <= 0.5)
  end)

  it("reads give up after max_retries with the last error", function()
    local c = client()
    sim:faults { { route = "fetch", kind = "status", status = 503, times = -1 } }
    local t, err = c:fetch("1773314942177684")
    assert.is_nil(t)
    assert.are.equal("http", err.kind)
    assert.are.equal(503, err.status)
    assert.are.equal(3, sim:count("fetch"))
    assert.are.equal(2, #sleeps)
    assert.truthy(sleeps[2] > sleeps[1] * 1.4)
  end)

  it("400/401/404 reads are not retried", function()
    local c = client()
    sim:faults { { route = "fetch", kind = "status", status = 401, body = { error = { message = "invalid token",
      type = "comet_api_error", code = "" } } } }
    local _, err = c:fetch("1773314942177684")
    assert.are.equal(401, err.status)
    assert.are.equal(1, sim:count("fetch"))
    assert.are.equal(0, #sleeps)
  end)

  it("a 502 on imagine is NOT resubmitted: maybe_accepted", function()
    local c = client()
    sim:faults { { route = "imagine", kind = "status", status = 502 } }
    local id, err = c:imagine("a boat")
    assert.is_nil(id)
    assert.are.equal("maybe_accepted", err.kind)
    assert.is_false(err.retryable)
    assert.are.equal(1, sim:count("imagine"))
    assert.are.equal(0, #sleeps)
  end)

  it("a reset or a truncated/invalid/HTML body on a submit is maybe_accepted, sent once", function()
    local c = client()
    for _, kind in ipairs({ "reset_mid_body", "truncated_json", "invalid_json", "html" }) do
      sim:reset()
      sim:faults { { route = "imagine", kind = kind } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id, kind)
      assert.are.equal("maybe_accepted", err.kind, kind .. ": " .. tostring(err))
      assert.are.equal(1, sim:count("imagine"), kind)
    end
  end)

  it("an empty reply on a submit (warm keep-alive connection) is maybe_accepted and not resent",
    function()
      local c = client()
      assert(c:imagine("warm up a keep-alive connection"))
      sim:reset()
      sim:faults { { route = "imagine", kind = "empty_reply" } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("maybe_accepted", err.kind)
      assert.are.equal(1, sim:count("imagine"))
    end)

  it("429 on imagine is retried, honouring Retry-After", function()
    local c = client()
    sim:faults { { route = "imagine", kind = "retry_after", retry_after = 0.25 } }
    local id, err = c:imagine("a boat")
    assert.is_string(id, tostring(err))
    assert.are.equal(2, sim:count("imagine"))
    assert.are.same({ 0.25 }, sleeps)
    sim:reset()
    sleeps = {}
    sim:faults { { route = "imagine", kind = "retry_after", retry_after_ms = 1500 } }
    assert.is_string((c:imagine("a boat")))
    assert.are.same({ 1.5 }, sleeps)
  end)

  it("nonsense Retry-After is ignored (normal backoff) and huge ones are capped", function()
    local c = client()
    sim:faults { { route = "fetch", kind = "status", status = 429, headers = { ["Retry-After"] = "soon" } } }
    assert(c:fetch((assert(c:imagine("a boat")))))
    assert.are.equal(1, #sleeps)
    assert.truthy(sleeps[1] <= 0.5)
    sleeps[1] = nil
    local c2 = client { deadline = 1000 }
    sim:faults { { route = "fetch", kind = "status", status = 429, headers = { ["Retry-After"] = "3600" } } }
    assert(c2:fetch((assert(c2:imagine("a boat")))))
    assert.are.same({ 60 }, sleeps)
  end)

  it("never sleeps past the operation deadline: reports instead", function()
    local c = client { deadline = 5 }
    sim:faults { { route = "fetch", kind = "status", status = 429, headers = { ["Retry-After"] = "30" } } }
    local t, err = c:fetch("1773314942177684")
    assert.is_nil(t)
    assert.are.equal("rate_limited", err.kind)
    assert.are.equal(0, #sleeps)
    assert.are.equal(1, sim:count("fetch"))
  end)

  it("code 23 (queue full) is retried", function()
    local c = client()
    sim:faults { { route = "imagine", kind = "code", code = 23, description = "队列已满" } }
    local id, err = c:imagine("a boat")
    assert.is_string(id, tostring(err))
    assert.are.equal(2, sim:count("imagine"))
  end)
end)
