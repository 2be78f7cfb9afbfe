-- Pure parts of the client: validation and the retry policy (no server needed).
local validate = require("midjourney.validate")
local retry = require("midjourney.retry")
local ids = require("midjourney.ids")

describe("midjourney.ids", function()
  it("accepts string and integer ids and returns strings", function()
    assert.are.equal("1773314942177684", ids.check("1773314942177684"))
    assert.are.equal("123", ids.check(123))
    assert.are.equal("1773314942177684", ids.check(1773314942177684))
    assert.are.equal("abc-DEF_9", ids.check("abc-DEF_9"))
  end)

  it("refuses injection attempts, dot segments and anything the API never issues", function()
    local bad = { "", "1/2", ".", "..", "a..b", "a.b", "1?x=1", "1#f", "1\r\n", "1\n", "1\0", "1 2", "\t1",
      string.rep("1", 65), "%2e%2e", "a\\b", "é", "1;2" }
    for _, id in ipairs(bad) do
      local ok, why = ids.check(id)
      assert.is_nil(ok, ("%q"):format(id))
      assert.is_string(why)
    end
    assert.is_nil((ids.check(1.5)))
    assert.is_nil((ids.check(0 / 0)))
    assert.is_nil((ids.check(2 ^ 60 + 0.0 * 1))) -- beyond 2^53 as a float on 5.4/LuaJIT
    assert.is_nil((ids.check(true)))
    assert.are.equal(64, #ids.check(string.rep("1", 64)))
  end)

  it("percent-encodes what reaches a URL", function()
    assert.are.equal("1773314942177684", ids.path_segment("1773314942177684"))
    assert.are.equal("a%2Fb%2E", ids.path_segment("a/b."))
  end)

  it("checks header values", function()
    assert.is_true(validate.check_header_value("ok value"))
    assert.is_nil((validate.check_header_value("a\r\nX-Evil: 1")))
    assert.is_nil((validate.check_header_value("a\0")))
  end)

  it("checks data URIs and their MIME types", function()
    assert.is_true(validate.check_image("data:image/png;base64,iVBORw0KGgo="))
    assert.is_true(validate.check_image("data:image/jpeg;base64,/9j/4AAQ"))
    assert.is_true(validate.check_image("data:image/webp;base64,UklGR"))
    assert.is_true(validate.check_image("data:image/gif;base64,R0lGOD"))
    assert.is_nil((validate.check_image("data:text/html;base64,PGh0bWw+")))
    assert.is_nil((validate.check_image("data:image/png,rawbytes")))
    assert.is_nil((validate.check_image("data:image/png;base64,<script>")))
    assert.is_nil((validate.check_image("iVBORw0KGgo=")))
    assert.is_true(validate.check_image("iVBORw0KGgo=", { raw = true }))
    assert.is_true(validate.check_image("https://example.com/a.png", { url = true }))
    assert.is_nil((validate.check_image("https://example.com/a.png")))
  end)

  it("checks required fields per endpoint and says what is wrong", function()
    local png = "data:image/png;base64,iVBORw0KGgo="
    local ok, why, what = validate.check_body("imagine", {})
    assert.is_nil(ok); assert.truthy(why:find("prompt")); assert.are.equal("missing", what)
    assert.is_true(validate.check_body("imagine", { prompt = "x", unknownField = 1 }))
    ok, why, what = validate.check_body("blend", { base64Array = { png } })
    assert.is_nil(ok); assert.truthy(why:find("at least 2")); assert.are.equal("content", what)
    assert.is_true(validate.check_body("blend", { base64Array = { png, png } }))
    ok, why = validate.check_body("describe", {})
    assert.is_nil(ok); assert.truthy(why:find("base64") and why:find("link"))
    assert.is_true(validate.check_body("describe", { link = "https://x/y.png" }))
    ok, why, what = validate.check_body("swap_face", { sourceBase64 = png })
    assert.is_nil(ok); assert.truthy(why:find("targetBase64")); assert.are.equal("missing", what)
    ok, why, what = validate.check_body("imagine", { prompt = 42 })
    assert.is_nil(ok); assert.truthy(why:find("prompt")); assert.are.equal("type", what)
    ok, why, what = validate.check_body("imagine", { prompt = "x", state = string.rep("s", 256) })
    assert.is_nil(ok); assert.truthy(why:find("state")); assert.are.equal("content", what)
  end)
end)

describe("midjourney.retry", function()
  local p = retry.policy { random = function() return 1 end }

  it("backs off exponentially from 0.5 s, capped at 8 s, with jitter in [0.75, 1]", function()
    assert.are.equal(0.5, retry.backoff(1, p))
    assert.are.equal(1, retry.backoff(2, p))
    assert.are.equal(2, retry.backoff(3, p))
    assert.are.equal(8, retry.backoff(10, p))
    local low = retry.policy { random = function() return 0 end }
    assert.are.equal(0.375, retry.backoff(1, low))
    for _ = 1, 100 do
      local d = retry.backoff(2, retry.policy())
      assert.truthy(d >= 0.75 and d <= 1)
    end
  end)

  it("reads retry transport errors and 408/409/429/5xx/524 but not 400/401/403/404", function()
    for _, s in ipairs({ 408, 409, 429, 500, 502, 503, 504, 524 }) do
      assert.is_true((retry.read_retryable({ status = s })), s)
    end
    for _, s in ipairs({ 200, 400, 401, 403, 404, 413 }) do
      assert.is_false((retry.read_retryable({ status = s })), s)
    end
    assert.is_true((retry.read_retryable({ status = 0, error = "x", error_kind = "timeout" })))
    assert.is_false((retry.read_retryable({ status = 0, error = "x", error_kind = "tls" })))
    assert.is_false((retry.read_retryable({ status = 0, error = "x", error_kind = "cancelled" })))
  end)

  it("submits retry only when provably not sent, on 429 or on code 23", function()
    assert.is_true((retry.submit_retryable({ status = 0, error = "x", error_kind = "connect", sent = false })))
    assert.is_false((retry.submit_retryable({ status = 0, error = "x", error_kind = "timeout", sent = true })))
    assert.is_false((retry.submit_retryable({ status = 0, error = "x", error_kind = "recv", sent = true })))
    assert.is_false((retry.submit_retryable({ status = 502 })))
    assert.is_false((retry.submit_retryable({ status = 500 })))
    assert.is_true((retry.submit_retryable({ status = 429 })))
    assert.is_true((retry.submit_retryable({ status = 200 }, 23)))
    assert.is_false((retry.submit_retryable({ status = 200 }, 4)))
    assert.is_false((retry.submit_retryable({ status = 200 }, 24)))
  end)

  it("honours Retry-After forms and ignores nonsense, capped at 60 s", function()
    assert.are.equal(2, retry.retry_after({ retry_after = "2" }, p))
    assert.are.equal(0.5, retry.retry_after({ retry_after = "0.5" }, p))
    assert.are.equal(1.5, retry.retry_after({ retry_after_ms = "1500", retry_after = "9" }, p))
    assert.are.equal(60, retry.retry_after({ retry_after = "3600" }, p))
    local huge = retry.retry_after({ retry_after = "99999" }, p)
    assert.truthy(huge == nil or huge == 60)
    for _, v in ipairs({ "-1", "NaN", "soon", "", "1e999", "inf" }) do
      assert.is_nil(retry.retry_after({ retry_after = v }, p), v)
    end
    assert.is_nil(retry.retry_after({ retry_after_ms = "abc" }, p))
    assert.is_nil(retry.retry_after({}, p))
    -- HTTP date, with a fixed clock
    local f = require("midjourney.core").parse_retry_after
    assert.are.equal(30, f("Sun, 06 Nov 1994 08:50:07 GMT", 784111777))
    assert.are.equal(0, f("Sun, 06 Nov 1994 08:49:00 GMT", 784111777))
    assert.are.equal(3, retry.delay(1, { retry_after = "3" }, p))
    assert.are.equal(0.5, retry.delay(1, {}, p))
  end)
end)
