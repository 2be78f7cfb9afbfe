-- The retry policy, the submit code table and the option checker: pure functions.
local errors = require "midjourney.errors"
local options = require "midjourney.options"
local retry = require "midjourney.retry"
local mj = require "midjourney"

describe("retry policy (unit)", function()
  it("backoff doubles from base, is capped, and jitters within [0.75, 1]", function()
    local lo = retry.policy { random = function() return 0 end }
    local hi = retry.policy { random = function() return 1 end }
    assert.are.equal(0.375, retry.backoff(1, lo))
    assert.are.equal(0.5, retry.backoff(1, hi))
    assert.are.equal(1, retry.backoff(2, hi))
    assert.are.equal(8, retry.backoff(10, hi))
    assert.are.equal(6, retry.backoff(10, lo))
  end)

  it("Retry-After wins over backoff, capped at max_retry_after; nonsense is ignored", function()
    local p = retry.policy { random = function() return 1 end, max_retry_after = 10 }
    assert.are.equal(2, retry.delay(1, { retry_after = "2" }, p))
    assert.are.equal(1.5, retry.delay(1, { retry_after_ms = "1500", retry_after = "9" }, p))
    assert.are.equal(10, retry.delay(1, { retry_after = "3600" }, p))
    assert.are.equal(0.5, retry.delay(1, { retry_after = "soon" }, p))
    assert.are.equal(0.5, retry.delay(1, { retry_after = "-3" }, p))
  end)

  it("one transient rule: statuses 408, 409, 425, 429 and every 5xx, whatever the body", function()
    for _, s in ipairs({ 408, 409, 425, 429, 500, 502, 503, 504, 520, 524, 599 }) do
      assert.is_true(retry.transient(errors.new { kind = "http", status = s, message = "x" }), s)
      assert.is_true(retry.read_retryable { status = s }, s)
    end
    for _, s in ipairs({ 200, 204, 400, 401, 403, 404, 413, 422 }) do
      assert.is_false(retry.transient(errors.new { kind = "http", status = s, message = "x" }), s)
      assert.is_false(retry.read_retryable { status = s }, s)
    end
    assert.is_true(retry.transient(errors.new { kind = "transport", message = "reset", error_kind = "recv" }))
    assert.is_false(retry.transient(errors.new { kind = "transport", message = "tls", error_kind = "tls" }))
    assert.is_false(retry.transient(errors.new { kind = "transport", message = "big", error_kind = "too_large" }))
    assert.is_false(retry.transient(errors.cancelled()))
    assert.is_false(retry.transient(errors.new { kind = "not_found", message = "x", status = 400 }))
  end)

  it("one table decides both whether a submit code is resent and err.retryable", function()
    local expected = { [1] = false, [21] = false, [22] = false, [3] = false, [4] = false, [9] = true,
      [23] = true, [24] = false, [30] = true, [5] = false, [77] = false, [-1] = false }
    for code, want in pairs(expected) do
      assert.are.equal(want, retry.submit_code_retryable(code), "code " .. code)
      assert.are.equal(want, retry.submit_retryable({ status = 200 }, code), "code " .. code)
    end
    assert.is_true(retry.submit_retryable { status = 429 })
    assert.is_true(retry.submit_retryable { error = "refused", error_kind = "connect", sent = false })
    assert.is_false(retry.submit_retryable { error = "reset", error_kind = "recv", sent = true })
  end)
end)

describe("options (unit)", function()
  it("an unknown key raises naming the key and the closest valid one", function()
    assert.has_error(function() mj.new { timeuot = 5 } end,
      "mj.new: unknown option 'timeuot' (did you mean 'timeout'?)")
    assert.has_error(function() mj.new { zzzzzzzz = 1 } end, "mj.new: unknown option 'zzzzzzzz'")
    local c = mj.new { api_key = "k" }
    assert.has_error(function() c:wait("1", { intervall = 1 }) end,
      "client:wait: unknown option 'intervall' (did you mean 'interval'?)")
    assert.has_error(function() c:upscale("1", 1, { wiat = true }) end,
      "client:upscale: unknown option 'wiat' (did you mean 'wait'?)")
    assert.has_error(function() c:download("http://x/a.png", "a.png", { max_byte = 1 }) end,
      "client:download: unknown option 'max_byte' (did you mean 'max_bytes'?)")
  end)

  it("values out of range raise in mj.new, before anything is sent", function()
    assert.has_error(function() mj.new { timeout = math.huge } end)
    assert.has_error(function() mj.new { timeout = 1e300 } end)
    assert.has_error(function() mj.new { timeout = 0 / 0 } end)
    assert.has_error(function() mj.new { max_retries = 1.5 } end)
    assert.has_error(function() mj.new { headers = { "garbage" } } end)
    assert.has_error(function() mj.new { headers = { "X-Ok: 1\r\nX-Evil: 2" } } end)
    assert.has_error(function() mj.new { log_level = "loud" } end)
    assert.is_table(mj.new { headers = { "X-Ok: 1" }, timeout = 5 })
  end)

  it("wire fields are told from library options", function()
    local s = options.schema("f", { state = { kind = "string", wire = true }, wait = "boolean" })
    assert.are.same({ state = "s" }, s:wire_fields(s:check { state = "s", wait = true }))
  end)

  it("closest finds likely typos only", function()
    assert.are.equal("timeout", options.closest("timout", { "timeout", "deadline" }))
    assert.are.equal("deadline", options.closest("DEADLINE", { "timeout", "deadline" }))
    assert.is_nil(options.closest("banana", { "timeout", "deadline" }))
    assert.are.equal("wait", options.closest("wiat", { "wait", "interval" }))
    assert.is_nil(options.closest("paint", { "wait", "imagine" }))
    assert.are.equal("imagine", options.closest("imagin", { "wait", "imagine" }))
  end)
end)
