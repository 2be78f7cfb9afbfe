local errors = require("midjourney.errors")

describe("midjourney.errors", function()
  it("formats one line with kind, code, status, message and request id", function()
    local e = errors.new { kind = "api", code = 4, status = 200, message = "base64格式错误", request_id = "abc123" }
    assert.are.equal("midjourney: api error (code 4, HTTP 200): base64格式错误 [request id abc123]", tostring(e))
    assert.are.equal("api", e.kind)
    assert.is_false(e.retryable)
    assert.is_true(errors.is_error(e))
    assert.is_false(errors.is_error({ kind = "api" }))
  end)

  it("keeps the message on one line and names the task", function()
    local e = errors.new { kind = "task_failed", message = "line1\nline2", task = { id = "1773314942177684" } }
    local s = tostring(e)
    assert.is_nil(s:find("\n"))
    assert.truthy(s:find("task 1773314942177684", 1, true))
    assert.truthy(s:find("line1 line2", 1, true))
  end)

  it("raises on an unknown kind or a non-table", function()
    assert.has_error(function() errors.new { kind = "nope" } end)
    assert.has_error(function() errors.new("x") end)
  end)

  it("redacts registered secrets, Bearer tokens and sk- keys", function()
    errors.register_secret("my-secret-key-123")
    local e = errors.new { kind = "http", message = "failed with my-secret-key-123 and Bearer abc.def and sk-XYZ987" }
    local s = tostring(e)
    assert.is_nil(s:find("my-secret-key-123", 1, true))
    assert.is_nil(s:find("abc.def", 1, true))
    assert.is_nil(s:find("XYZ987", 1, true))
    assert.is_nil(e.message:find("my-secret-key-123", 1, true))
    assert.are.equal("Authorization: ***", errors.redact("Authorization: Bearer zzzz"))
    assert.are.equal("x *** y", errors.redact("x k-123456 y", "k-123456"))
  end)

  it("redacts URL query strings and credentials", function()
    assert.are.equal("https://cdn.example/a.png?***",
      errors.redact_url("https://cdn.example/a.png?ex=1&hm=secret"))
    assert.are.equal("https://***@h/p", errors.redact_url("https://user:pw@h/p"))
    assert.are.equal("http://h/p", errors.redact_url("http://h/p#frag"))
  end)

  it("makes short, printable snippets", function()
    local s = errors.snippet("<html>\n<body>" .. string.rep("x", 500), 20)
    assert.is_nil(s:find("\n"))
    assert.truthy(#s <= 23)
    assert.truthy(s:find("...", 1, true))
    -- no broken UTF-8 at the cut
    local u = errors.snippet(string.rep("é", 50), 5)
    assert.are.equal("éé...", u)
  end)
end)
