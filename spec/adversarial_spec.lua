-- Adversarial suite (issue 6): one case per behaviour, driven by the simulator's fault
-- injection. Every request is counted with sim:stats(); timings use small timeouts so the
-- whole file runs in seconds. Sleeps are recorded (not slept) where the policy is what is
-- under test, and real where the deadline is.
local simulator = require("spec.helpers.simulator")
local clients = require("spec.helpers.client")
local mj = require("midjourney")
local core = require("midjourney.core")
local scheduler = require("midjourney.scheduler")

local KEY = "sk-adv-SECRET-7f3a9c21"
local BARE = "adv-SECRET-7f3a9c21" -- the key without its prefix: must not show up either
local now = core.now

local function has_control(s) return s:find("[%z\1-\31\127]") ~= nil end

-- every string reachable from v (keys and values), for leak checks
local function strings_of(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do strings_of(k, out, seen); strings_of(x, out, seen) end
  end
  return out
end

local function assert_no_key(v, what)
  for _, s in ipairs(strings_of(v)) do
    assert.is_nil(s:find(BARE, 1, true), (what or "value") .. " leaks the key: " .. s)
  end
  if type(v) == "table" then
    local s = tostring(v)
    assert.is_nil(s:find(BARE, 1, true), (what or "value") .. " tostring leaks the key: " .. s)
  end
end

describe("adversarial #sim", function()
  local sim = simulator.for_block { speed = 400, seed = 7, key = KEY }
  -- a second server standing for "another host": it must never see a request
  local other = simulator.for_block { speed = 400, seed = 8, key = false }
  local new_client = clients.factory(sim, { timeout = 2, connect_timeout = 1, retry_base = 0.01, retry_cap = 0.05 })

  local sleeps, lines
  local function client(o)
    o = o or {}
    lines = {}
    o.logger = o.logger or function(level, line, fields) lines[#lines + 1] = { level, line, fields } end
    if o.record_sleeps then
      sleeps = {}
      o.sleep = function(s) sleeps[#sleeps + 1] = s end
      o.record_sleeps = nil
    end
    return new_client(o)
  end
  local function quick_wait(c, id, o)
    o = o or {}
    o.first_delay = o.first_delay or 0
    o.interval = o.interval or 0.02
    o.timeout = o.timeout or 10
    o.coalesce = false
    return c:wait(id, o)
  end
  local ID = "1773314942177684"

  -- ------------------------------------------------------------ transport and timing

  describe("transport", function()
    it("slow first byte: a fetch times out at the request timeout", function()
      local c = client { timeout = 0.3, max_retries = 0 }
      sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 3 } }
      local t0 = now()
      local t, err = c:fetch(ID)
      local dt = now() - t0
      assert.is_nil(t)
      assert.are.equal("timeout", err.kind)
      assert.is_true(err.retryable)
      assert.truthy(dt >= 0.25 and dt < 1.5, "took " .. dt)
      assert.are.equal(1, sim:count("fetch"))
    end)

    it("slow first byte once: the fetch is retried and succeeds", function()
      local c = client { timeout = 0.3 }
      local id = assert(c:imagine("a slow boat"))
      sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 3 } }
      local t, err = c:fetch(id)
      assert.is_table(t, tostring(err))
      assert.are.equal(id, t.id)
      assert.are.equal(2, sim:count("fetch"))
    end)

    it("slow first byte on a submit: maybe_accepted, never resubmitted", function()
      local c = client { timeout = 0.3, submit_timeout = 0.3 }
      sim:faults { { route = "imagine", kind = "slow_first_byte", delay = 3 } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("maybe_accepted", err.kind)
      assert.are.equal("timeout", err.cause)
      assert.is_false(err.retryable)
      assert.are.equal(1, sim:count("imagine"))
    end)

    it("stall after headers: the low-speed abort ends it long before the request timeout", function()
      local c = client { timeout = 20, low_speed_time = 1, max_retries = 0 }
      sim:faults { { route = "fetch", kind = "stall_after_headers", bytes = 0, delay = 8 } }
      local t0 = now()
      local t, err = c:fetch(ID)
      local dt = now() - t0
      assert.is_nil(t)
      assert.are.equal("timeout", err.kind)
      assert.truthy(dt < 4, "took " .. dt)
    end)

    it("stall after headers: no partial body is handed out as a task", function()
      local c = client { timeout = 0.4, max_retries = 0 }
      sim:faults { { route = "fetch", kind = "stall_after_headers", bytes = 20, delay = 3 } }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("timeout", err.kind)
    end)

    it("reset mid-body on fetch is retried", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      sim:faults { { route = "fetch", kind = "reset_mid_body" } }
      local t, err = c:fetch(id)
      assert.is_table(t, tostring(err))
      assert.are.equal(2, sim:count("fetch"))
    end)

    it("reset mid-body on a submit: maybe_accepted, one request", function()
      local c = client()
      sim:faults { { route = "imagine", kind = "reset_mid_body" } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("maybe_accepted", err.kind)
      assert.is_false(err.retryable)
      assert.are.equal(1, sim:count("imagine"))
    end)

    it("empty reply on fetch is retried", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      sim:faults { { route = "fetch", kind = "empty_reply" } }
      local t, err = c:fetch(id)
      assert.is_table(t, tostring(err))
      assert.are.equal(2, sim:count("fetch"))
    end)

    it("empty reply on a submit (processed by the server): maybe_accepted, not resent", function()
      local c = client()
      sim:faults { { route = "imagine", kind = "empty_reply" } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("maybe_accepted", err.kind)
      assert.are.equal(1, sim:count("imagine"))
    end)

    it("connection refused on a submit is retried (provably not sent), then transport", function()
      local port = require("spec.helpers.simulator").free_port()
      local c = client { base_url = "http://127.0.0.1:" .. port, record_sleeps = true }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("transport", err.kind)
      assert.are.equal("connect", err.error_kind)
      assert.is_true(err.retryable)
      assert.are.equal(2, #sleeps) -- 1 + max_retries attempts
    end)

    it("retries x timeout are bounded by the per-operation deadline", function()
      local c = client { timeout = 0.4, deadline = 0.5, retry_base = 0.05 }
      sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 3, times = -1 } }
      local t0 = now()
      local t, err = c:fetch(ID)
      local dt = now() - t0
      assert.is_nil(t)
      assert.are.equal("timeout", err.kind)
      -- 3 attempts would take >= 1.2 s plus sleeps; a second attempt with the full
      -- timeout would end at ~0.85 s
      assert.truthy(dt < 0.7, "took " .. dt)
      assert.truthy(sim:count("fetch") <= 2)
    end)

    it("a per-call deadline bounds the operation too", function()
      local c = client { timeout = 0.3 }
      sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 3, times = -1 } }
      local t0 = now()
      local t = c:fetch(ID, { deadline = 0.4 })
      assert.is_nil(t)
      assert.truthy(now() - t0 < 0.7)
    end)

    it("a Retry-After longer than the remaining deadline is reported, not slept", function()
      local c = client { deadline = 1 }
      sim:faults { { route = "fetch", kind = "retry_after", retry_after = 5 } }
      local t0 = now()
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.truthy(now() - t0 < 0.5)
      assert.are.equal("rate_limited", err.kind)
      assert.are.equal(5, err.retry_after)
      assert.is_true(err.retryable)
      assert.truthy(err.message:find("deadline", 1, true))
      assert.are.equal(1, sim:count("fetch"))
    end)
  end)

  -- ------------------------------------------------------------ bodies

  describe("bodies", function()
    it("truncated JSON (short body, then close) is an error, never a partial task", function()
      local c = client { max_retries = 0 }
      local id = assert(c:imagine("a boat"))
      sim:faults { { route = "fetch", kind = "truncated_json" } }
      local t, err = c:fetch(id)
      assert.is_nil(t)
      assert.are.equal("transport", err.kind)
      assert.are.equal("recv", err.error_kind)
    end)

    it("invalid JSON with 200 on fetch: decode error with the status, retried as transient", function()
      local c = client()
      sim:faults { { route = "fetch", kind = "invalid_json", times = -1 } }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("decode", err.kind)
      assert.are.equal(200, err.status)
      assert.is_true(err.retryable)
      assert.truthy(err.message:find('{"code":1,', 1, true))
      assert.are.equal(3, sim:count("fetch")) -- the first try and max_retries (2) more
    end)

    it("invalid JSON with 200 on a submit: maybe_accepted (the server may have queued it)", function()
      local c = client()
      sim:faults { { route = "imagine", kind = "invalid_json" } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("maybe_accepted", err.kind)
      assert.are.equal(200, err.status)
      assert.are.equal(1, sim:count("imagine"))
    end)

    it("an HTML page with 200: decode error with status and a short sanitised snippet", function()
      local c = client()
      local page = "<html>\r\n<body>\0\27[31m" .. string.rep("Cloudflare says no. ", 40) .. "</body></html>"
      sim:faults { { route = "fetch", kind = "html", body = page, times = -1 } }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("decode", err.kind)
      assert.are.equal(200, err.status)
      assert.truthy(err.message:find("HTML", 1, true))
      assert.truthy(err.message:find("Cloudflare says no", 1, true))
      assert.is_false(has_control(err.message))
      assert.is_false(has_control(tostring(err)))
      assert.truthy(#err.message < 300, #err.message)
    end)

    it("valid JSON sent as text/plain is accepted", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      sim:faults { { route = "fetch", kind = "raw", status = 200,
        headers = { ["Content-Type"] = "text/plain" },
        body = '{"id":"' .. id .. '","status":"IN_PROGRESS","progress":"5%"}' } }
      local t, err = c:fetch(id)
      assert.is_table(t, tostring(err))
      assert.are.equal(5, t:percent())
    end)

    it("a huge body is cut at max_body while receiving, and not retried", function()
      local c = client { max_body = 64 * 1024 }
      sim:faults { { route = "fetch", kind = "huge_body", bytes = 64 * 1024 * 1024, times = -1 } }
      local t0 = now()
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("too_large", err.error_kind)
      assert.is_false(err.retryable)
      assert.truthy(err.message:find("max_body", 1, true))
      assert.truthy(now() - t0 < 2)
      assert.are.equal(1, sim:count("fetch"))
    end)

    it("a gzip bomb is cut on decoded bytes", function()
      local c = client { max_body = 64 * 1024 }
      sim:faults { { route = "fetch", kind = "gzip_bomb", bytes = 64 * 1024 * 1024 } }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("too_large", err.error_kind)
      assert.are.equal(1, sim:count("fetch"))
    end)

    it("deeply nested JSON is a decode error, not a crash", function()
      local c = client()
      sim:faults { { route = "fetch", kind = "raw", status = 200,
        headers = { ["Content-Type"] = "application/json" }, body = string.rep("[", 100000), times = -1 } }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("decode", err.kind)
    end)
  end)

  -- ------------------------------------------------------------ Retry-After and storms

  describe("Retry-After and storms", function()
    local function one(fault)
      local c = client { record_sleeps = true, deadline = 1000 }
      local id = assert(c:imagine("a boat"))
      fault.route = "fetch"
      fault.kind = fault.kind or "retry_after"
      sim:faults { fault }
      local t, err = c:fetch(id)
      assert.is_table(t, tostring(err))
      assert.are.equal(2, sim:count("fetch"))
      assert.are.equal(1, #sleeps)
      return sleeps[1]
    end

    it("seconds", function() assert.are.equal(2, one { retry_after = 2 }) end)
    it("fractions of a second", function() assert.are.equal(0.25, one { retry_after = "0.25" }) end)
    it("retry-after-ms wins over Retry-After", function()
      assert.are.equal(1.5, one { retry_after_ms = 1500, retry_after = 9 })
    end)
    it("an HTTP date", function()
      local s = one { http_date = 3 }
      assert.truthy(s >= 1 and s <= 4, s)
    end)
    it("negative, NaN and garbage are ignored (backoff instead)", function()
      for _, v in ipairs({ "-5", "NaN", "nan", "inf", "soon", "", "1e400" }) do
        sim:reset()
        local s = one { kind = "status", status = 429, headers = { ["Retry-After"] = v } }
        assert.truthy(s >= 0 and s <= 0.01, v .. " -> " .. s)
      end
      sim:reset()
      local s = one { kind = "status", status = 429, headers = { ["retry-after-ms"] = "-100" } }
      assert.truthy(s <= 0.01, s)
    end)
    it("a large value is capped at max_retry_after; an absurd one is capped or ignored", function()
      assert.are.equal(60, one { retry_after = "3600" })
      for _, v in ipairs({ "99999", "99999999999999999999" }) do
        sim:reset()
        local s = one { retry_after = v }
        assert.truthy(s <= 60, v .. " -> " .. s)
      end
    end)
    it("max_retry_after is the client's option", function()
      local c = client { record_sleeps = true, max_retry_after = 3, deadline = 1000 }
      sim:faults { { route = "fetch", kind = "retry_after", retry_after = 3600 } }
      c:fetch(ID)
      assert.are.equal(3, sleeps[1])
    end)

    it("a 429 storm gives up after the retries: rate_limited, retryable, last Retry-After kept", function()
      local c = client { record_sleeps = true }
      sim:faults { { route = "fetch", kind = "retry_after", retry_after = "0.5", times = -1 } }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("rate_limited", err.kind)
      assert.are.equal(429, err.status)
      assert.is_true(err.retryable)
      assert.are.equal(0.5, err.retry_after)
      assert.are.equal(3, sim:count("fetch"))
      assert.are.same({ 0.5, 0.5 }, sleeps)
    end)

    it("a 429 storm on a submit is retried (no work was done), then rate_limited", function()
      local c = client { record_sleeps = true }
      sim:faults { { route = "imagine", kind = "retry_after", retry_after = "0.1", times = -1 } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("rate_limited", err.kind)
      assert.is_true(err.retryable)
      assert.are.equal(3, sim:count("imagine"))
    end)

    it("a 5xx storm during a wait does not end the wait", function()
      local c = client()
      local id = assert(c:imagine("a stormy boat"))
      -- 8 failures: more than one fetch's retries (3 attempts), so whole polls fail
      sim:faults { { route = "fetch", kind = "status", status = 503, times = 5 },
                   { route = "fetch", kind = "html", status = 502, times = 3 } }
      local t, err = quick_wait(c, id)
      assert.is_table(t, tostring(err))
      assert.are.equal("SUCCESS", t.status)
      assert.truthy(sim:count("fetch") >= 9, sim:count("fetch"))
    end)

    it("a 502 on a submit is not resubmitted", function()
      local c = client { record_sleeps = true }
      sim:faults { { route = "imagine", kind = "status", status = 502 } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("maybe_accepted", err.kind)
      assert.are.equal(502, err.status)
      assert.is_false(err.retryable)
      assert.are.equal(1, sim:count("imagine"))
      assert.are.equal(0, #sleeps)
    end)

    it("a 502 on an action is not resubmitted either", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      local t = assert(quick_wait(c, id))
      sim:faults { { route = "action", kind = "status", status = 502, body = "" } }
      local nid, err = c:upscale(t, 1)
      assert.is_nil(nid)
      assert.are.equal("maybe_accepted", err.kind)
      assert.are.equal(1, sim:count("action"))
    end)
  end)

  -- ------------------------------------------------------------ redirects

  describe("redirects", function()
    it("an API call is not redirected to another host; the other host sees nothing", function()
      local c = client()
      sim:faults { { route = "fetch", kind = "redirect", status = 302,
        location = other.url .. "/mj/task/" .. ID .. "/fetch" } }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("http", err.kind)
      assert.are.equal(302, err.status)
      assert.are.equal(0, other:stats().requests)
    end)

    it("a 307 on a submit is not followed (and not resubmitted)", function()
      local c = client()
      sim:faults { { route = "imagine", kind = "redirect", status = 307,
        location = other.url .. "/mj/submit/imagine" } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal(307, err.status)
      assert.are.equal(0, other:stats().requests)
      assert.are.equal(1, sim:count("imagine"))
    end)

    it("a download follows a redirect to another host without the Authorization header", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      local t = assert(quick_wait(c, id))
      -- the other host requires a key: if ours went along it would answer 401 ... it must not
      -- get one at all, so ask it for an API route through the redirect and expect its 401
      local target = other.url .. "/mj/task/" .. id .. "/fetch"
      sim:faults { { route = "image", kind = "redirect", status = 302, location = target } }
      local p, err = c:download(t, os.tmpname() .. ".png", { content_types = { "application/json" } })
      assert.is_nil(p)
      assert.are.equal(401, err.status)
      assert.are.equal(1, other:stats().requests)
    end)
  end)

  describe("downloads", function()
    it("a huge download is cut at max_bytes and leaves no file behind", function()
      local c = client()
      local path = os.tmpname()
      os.remove(path)
      sim:faults { { route = "image", kind = "huge_body", bytes = 64 * 1024 * 1024 } }
      local p, err = c:download(sim.url .. "/mj/image/" .. ID, path, { max_bytes = 64 * 1024 })
      assert.is_nil(p)
      assert.are.equal("transport", err.kind)
      assert.are.equal("too_large", err.error_kind)
      assert.truthy(err.message:find("max_bytes", 1, true))
      assert.is_nil(io.open(path))
      assert.is_nil(io.open(path .. ".part"))
      assert.are.equal(1, sim:count("image"))
    end)

    it("an HTML page instead of an image is refused (decode) and removed", function()
      local c = client()
      local path = os.tmpname()
      os.remove(path)
      sim:faults { { route = "image", kind = "html" } }
      local p, err = c:download(sim.url .. "/mj/image/" .. ID, path)
      assert.is_nil(p)
      assert.are.equal("decode", err.kind)
      assert.is_nil(io.open(path))
      assert.is_nil(io.open(path .. ".part"))
    end)
  end)

  -- ------------------------------------------------------------ envelope codes

  describe("codes with HTTP 200", function()
    it("code 4 (validation): api error, not retried", function()
      local c = client()
      sim:faults { { route = "imagine", kind = "code", code = 4, description = "参数错误" } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("api", err.kind)
      assert.are.equal(4, err.code)
      assert.are.equal("参数错误", err.description)
      assert.is_false(err.retryable)
      assert.are.equal(1, sim:count("imagine"))
    end)

    it("code 9 (failure, nothing created): api error, retryable, resubmitted like code 23", function()
      local c = client { record_sleeps = true }
      sim:faults { { route = "imagine", kind = "code", code = 9, description = "no available account", times = -1 } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("api", err.kind)
      assert.are.equal(9, err.code)
      assert.is_true(err.retryable)
      assert.are.equal(3, sim:count("imagine"))
    end)

    it("code 23 (queue full) once: retried and accepted", function()
      local c = client { record_sleeps = true }
      sim:faults { { route = "imagine", kind = "code", code = 23 } }
      local id, err = c:imagine("a boat")
      assert.is_string(id, tostring(err))
      assert.are.equal(2, sim:count("imagine"))
      assert.are.equal(1, #sleeps)
    end)

    it("code 23 storm: api error, retryable, after the retries", function()
      local c = client { record_sleeps = true }
      sim:faults { { route = "imagine", kind = "code", code = 23, times = -1 } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("api", err.kind)
      assert.are.equal(23, err.code)
      assert.is_true(err.retryable)
      assert.are.equal(3, sim:count("imagine"))
    end)

    it("code 24 (banned prompt): api error, description kept, not retried", function()
      local c = client()
      sim:faults { { route = "imagine", kind = "code", code = 24, description = "可能包含敏感词" } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("api", err.kind)
      assert.are.equal(24, err.code)
      assert.are.equal("可能包含敏感词", err.description)
      assert.is_false(err.retryable)
      assert.are.equal(1, sim:count("imagine"))
    end)
  end)

  -- ------------------------------------------------------------ odd task contents

  describe("task contents", function()
    local c, id
    before_each(function()
      c = client()
      id = assert(c:imagine("a boat"))
      assert(quick_wait(c, id))
    end)

    it("an unknown status is pending, and a wait on it ends by its deadline", function()
      sim:task(id, { status = "WEIRD", progress = "50%" })
      local t = assert(c:fetch(id))
      assert.are.equal("WEIRD", t.status)
      assert.is_false(t:is_done())
      local t0 = now()
      local w, err = quick_wait(c, id, { timeout = 0.3 })
      assert.is_nil(w)
      assert.are.equal("timeout", err.kind)
      assert.are.equal("WEIRD", err.task.status)
      assert.truthy(now() - t0 < 1.5)
    end)

    it("progress strings and numbers through task:percent()", function()
      local cases = {
        { '""', nil }, { '"N/A"', nil }, { '"85.5%"', 85.5 }, { '"150%"', 100 }, { '"-1%"', 0 },
        { "42", 42 }, { "100", 100 }, { "12.5", 12.5 }, { '"paused"', nil }, { "null", nil },
        { '"7 %"', 7 },
      }
      for _, k in ipairs(cases) do
        sim:task(id, { progress = { ["$raw"] = k[1] } })
        local t = assert(c:fetch(id))
        local p = t:percent()
        assert.are.equal(k[2], p, k[1] .. " -> " .. tostring(p))
      end
    end)

    for _, form in ipairs({ "null", "missing", "empty" }) do
      it("buttons " .. form .. ": button() is nil and the verbs name the missing button", function()
        local patch = { buttons = form == "null" and { ["$raw"] = "null" }
          or form == "missing" and { ["$delete"] = true } or { ["$raw"] = "[]" } }
        sim:task(id, patch)
        local t = assert(c:fetch(id))
        assert.are.equal("SUCCESS", t.status)
        assert.are.same({}, t:buttons())
        assert.is_nil(t:button("U1"))
        local nid, err = c:action(t, "U1")
        assert.is_nil(nid)
        assert.are.equal("invalid", err.kind)
        assert.truthy(err.message:find('"U1"', 1, true), err.message)
        nid, err = c:upscale(t, 2)
        assert.is_nil(nid)
        assert.are.equal("invalid", err.kind)
        assert.truthy(err.message:find("U2", 1, true), err.message)
        assert.are.equal(0, sim:count("action"))
      end)
    end

    it("ids as bare numbers beyond 2^53 stay exact strings (fetch, list, submit result)", function()
      sim:task(id, { id = { ["$raw"] = id } })
      local t = assert(c:fetch(id))
      assert.are.equal(id, t.id)
      local list = assert(c:list { id })
      assert.are.equal(id, list[1].id)
      sim:faults { { route = "imagine", kind = "raw", status = 200,
        headers = { ["Content-Type"] = "application/json" },
        body = '{"code":1,"description":"ok","result":123456789012345678901234567890}' } }
      local nid = assert(c:imagine("a boat"))
      assert.are.equal("123456789012345678901234567890", nid)
    end)

    it("NUL and invalid UTF-8 in fields: no crash, the bytes come back faithfully", function()
      sim:faults { { route = "fetch", kind = "raw", status = 200,
        headers = { ["Content-Type"] = "application/json" },
        body = '{"id":"' .. id .. '","status":"FAILURE","progress":"100%","failReason":"a\\u0000b\255c",'
          .. '"prompt":"p\\u0000q","description":"\192\128 overlong"}' } }
      local t = assert(c:fetch(id))
      assert.are.equal("a\0b\255c", t.failReason)
      assert.are.equal("p\0q", t.prompt)
      assert.are.equal("\192\128 overlong", t.description)
      assert.is_string(tostring(t))
    end)

    it("a FAILURE with NUL in failReason ends a wait with task_failed, message printable", function()
      sim:task(id, { status = "FAILURE", failReason = { ["$raw"] = '"bad\\u0000\\r\\nreason"' } })
      local w, err = quick_wait(c, id)
      assert.is_nil(w)
      assert.are.equal("task_failed", err.kind)
      assert.is_nil(tostring(err):find("[\r\n]"))
    end)
  end)

  -- ------------------------------------------------------------ local validation

  describe("validation before sending", function()
    it("id injection attempts are refused locally: nothing is sent", function()
      local c = client()
      local bad = { "../x", "..", "%2e%2e", "1/2", "1?x=1", "1#f", "1\r\nX-Evil: 1", "1\n", "1\0",
        "1 2", "1\\2", string.rep("1", 10000), "", -1.5, 2 ^ 60 + 0.5 }
      for _, v in ipairs(bad) do
        local t, err = c:fetch(v)
        assert.is_nil(t)
        assert.are.equal("invalid", err.kind, tostring(v))
        local l, lerr = c:list { "1773314942177684", v }
        assert.is_nil(l)
        assert.are.equal("invalid", lerr.kind)
        local s, serr = c:image_seed(v)
        assert.is_nil(s)
        assert.are.equal("invalid", serr.kind)
        local m, merr = c:modal(v, { prompt = "x" })
        assert.is_nil(m)
        assert.are.equal("invalid", merr.kind)
        local w, werr = c:wait(v, { first_delay = 0 })
        assert.is_nil(w)
        assert.are.equal("invalid", werr.kind)
      end
      assert.are.equal(0, sim:stats().requests)
    end)

    it("header injection in the key, extra headers or user agent raises: nothing sent", function()
      for _, o in ipairs({
        { api_key = KEY .. "\r\nX-Evil: 1" }, { api_key = "sk-\0abc" },
        { headers = { "X-Trace: 1\r\nX-Evil: 1" } }, { headers = { "X-Trace: \n" } },
        { headers = { "X-Trace: a\0b" } }, { user_agent = "ua\r\nX-Evil: 1" },
      }) do
        assert.has_error(function() client(o) end)
      end
      assert.are.equal(0, sim:stats().requests)
    end)

    it("a key error message does not contain the key", function()
      local ok, msg = pcall(mj.new, { api_key = KEY .. "\n", base_url = sim.url })
      -- trailing whitespace is trimmed, so this one is accepted
      assert.is_true(ok, tostring(msg))
      ok, msg = pcall(mj.new, { api_key = KEY .. "\1x", base_url = sim.url })
      assert.is_false(ok)
      assert.is_nil(tostring(msg):find(BARE, 1, true))
    end)

    it("prompts with quotes, backslashes, control chars and emoji are JSON-escaped exactly", function()
      local c = client()
      local p = 'q"uote \\back\\slash\\" \t\r\n \1\31 \127 🎨 \226\128\168\226\128\169 '
        .. "</script> \\u0041 end"
      local id = assert(c:imagine(p))
      local t = assert(c:fetch(id))
      assert.are.equal(p, t.prompt)
    end)

    it("invalid UTF-8 in a prompt is sent as U+FFFD (documented replacement)", function()
      local c = client()
      local id = assert(c:imagine("bad\255x"))
      local t = assert(c:fetch(id))
      assert.are.equal("bad\239\191\189x", t.prompt)
    end)

    it("a customId with quotes, backslashes and control chars reaches the server intact", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      assert(quick_wait(c, id))
      local cid = 'MJ::Weird::"q"\\b\\\t\1::🎨'
      sim:task(id, { buttons = { { customId = cid, label = "W", emoji = "", style = 2, type = 2 } } })
      local nid, err = c:action(id, "W")
      assert.is_nil(nid)
      -- the simulator answers "unknown_action:<customId>" with the customId it decoded
      assert.truthy((err.description or err.message):find(cid, 1, true), tostring(err))
      assert.are.equal(1, sim:count("action"))
    end)

    it("base64 inputs with an unsupported MIME type are invalid: nothing sent", function()
      local c = client()
      local cases = {
        function() return c:imagine { prompt = "x", base64Array = { "data:image/bmp;base64,AAAA" } } end,
        function() return c:blend { base64Array = { "data:text/html;base64,PGI+", "data:image/png;base64,AAAA" } } end,
        function() return c:describe { base64 = "data:application/pdf;base64,JVBERi0=" } end,
        function() return c:describe { base64 = "data:image/png;base64,not base64!" } end,
        function() return c:imagine { prompt = "x", base64Array = { "data:image/png,AAAA" } } end,
      }
      for i, f in ipairs(cases) do
        local id, err = f()
        assert.is_nil(id, i)
        assert.are.equal("invalid", err.kind, i .. ": " .. tostring(err))
      end
      assert.are.equal(0, sim:stats().requests)
    end)

    it("a missing key is invalid: nothing sent", function()
      local c = mj.new { base_url = sim.url, api_key = "" }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("invalid", err.kind)
      assert.are.equal(0, sim:stats().requests)
    end)
  end)

  -- ------------------------------------------------------------ secrets

  describe("secrets", function()
    it("the key is in no error string, error field or log line, even when the server echoes it", function()
      local c = client()
      local echo = "Invalid token Bearer " .. KEY .. " (key " .. BARE .. ")"
      local faults = {
        { route = "fetch", kind = "status", status = 401, body = { error = { message = echo, type = "x" } } },
        { route = "fetch", kind = "status", status = 400,
          body = '{"code":4,"description":"' .. echo .. '","result":null}' },
        { route = "fetch", kind = "html", status = 200, body = "<p>" .. echo .. "</p>" },
        { route = "fetch", kind = "invalid_json", body = '{"x":"' .. echo .. '",' },
        { route = "fetch", kind = "raw", status = 200, body = "",
          headers = { ["X-Request-Id"] = KEY } },
      }
      for _, f in ipairs(faults) do
        sim:reset()
        sim:faults { f }
        local t, err = c:fetch(ID)
        assert.is_nil(t)
        assert_no_key(err, f.kind)
      end
      sim:faults { { route = "imagine", kind = "status", status = 502, body = { error = { message = echo } } } }
      local _, err = c:imagine("a boat")
      assert_no_key(err, "submit")
      assert.truthy(#lines > 0)
      assert_no_key(lines, "log")
      assert_no_key(c, "client")
    end)

    it("COMETAPI_LOG=debug logs method, path, status and time to stderr, never the key", function()
      local lua = os.getenv("MJ_TEST_LUA") or "lua5.4"
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write(string.format([[
local mj = require("midjourney")
local c = mj.new { api_key = %q, base_url = %q, timeout = 2, retry_base = 0.01 }
local id = assert(c:imagine("a boat"))
c:fetch(id)
c:fetch("9999999999999999")
]], KEY, sim.url))
      f:close()
      sim:faults { { route = "fetch", kind = "status", status = 503, body = { error = { message = KEY } } } }
      local out = os.tmpname()
      local cmd = string.format("COMETAPI_LOG=debug LUA_PATH=%q LUA_CPATH=%q %s %s 2>%s",
        package.path, package.cpath, lua, script, out)
      os.execute(cmd)
      local h = assert(io.open(out))
      local text = h:read("*a")
      h:close()
      os.remove(script); os.remove(out)
      assert.truthy(text:find("method=GET", 1, true), text)
      assert.truthy(text:find("path=/mj/task/", 1, true), text)
      assert.truthy(text:find("status=503", 1, true), text)
      assert.truthy(text:find("time=", 1, true), text)
      assert.is_nil(text:find(BARE, 1, true), text)
    end)

    it("image URL query strings are redacted in logs and errors", function()
      local c = client()
      local url = sim.url .. "/mj/image/1773314942177684?sig=TOPSECRETSIG&exp=1"
      sim:faults { { route = "image", kind = "status", status = 403, body = "denied TOPSECRETSIG" } }
      local p, err = c:download(url, os.tmpname() .. ".png")
      assert.is_nil(p)
      assert.are.equal(403, err.status)
      assert.truthy(#lines > 0, "download logs nothing")
      for _, s in ipairs(strings_of(lines)) do
        assert.is_nil(s:find("TOPSECRETSIG", 1, true), s)
      end
      assert.truthy(lines[1][2]:find("/mj/image/1773314942177684?***", 1, true), lines[1][2])
    end)

    it("on_progress never sees the key", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      local seen = {}
      assert(quick_wait(c, id, { on_progress = function(t) seen[#seen + 1] = t:totable() end }))
      assert.truthy(#seen > 0)
      assert_no_key(seen, "progress")
    end)
  end)

  -- ------------------------------------------------------------ lifetime

  describe("lifetime", function()
    local function drain(limit)
      local t0 = now()
      while scheduler.busy() and now() - t0 < (limit or 5) do scheduler.step(0.05) end
    end

    it("an error thrown in on_progress propagates; no transfer is left running", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      local ok, err = pcall(quick_wait, c, id, { on_progress = function() error("boom in callback") end })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("boom in callback", 1, true))
      assert.are.equal(0, scheduler.engine():running())
    end)

    it("an error thrown in on_progress inside coroutines (coalesced polling) leaves nothing running", function()
      local c = client()
      local a = assert(c:imagine("boat a"))
      local b = assert(c:imagine("boat b"))
      local ha = mj.spawn(function()
        return c:wait(a, { first_delay = 0, interval = 0.02, on_progress = function() error("boom") end })
      end)
      local hb = mj.spawn(function() return c:wait(b, { first_delay = 0, interval = 0.02, timeout = 10 }) end)
      drain(10)
      assert.are.equal("failed", ha:status())
      local _, e = ha:result()
      assert.truthy(tostring(e):find("boom", 1, true))
      local tb, eb = hb:result()
      assert.is_table(tb, tostring(eb))
      assert.are.equal("SUCCESS", tb.status)
      assert.are.equal(0, scheduler.engine():running())
    end)

    it("collecting a client and its coroutine with a transfer in flight does not crash", function()
      sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 0.3, times = -1 } }
      local weak = setmetatable({}, { __mode = "v" })
      do
        local c = client { timeout = 2 }
        weak.client = c
        mj.spawn(function() return c:fetch(ID) end) -- the handle is dropped at once
        scheduler.step(0)
        assert.are.equal(1, scheduler.engine():running())
      end
      collectgarbage(); collectgarbage()
      drain(5)
      collectgarbage(); collectgarbage()
      assert.are.equal(0, scheduler.engine():running())
      assert.is_nil(weak.client)
    end)

    it("a cancelled coroutine leaves no transfer running and the client still works", function()
      sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 3 } }
      local c = client()
      local h = mj.spawn(function() return c:fetch(ID) end)
      scheduler.step(0)
      assert.is_true(h:cancel())
      drain(2)
      local _, err = h:result()
      assert.are.equal("cancelled", err.kind)
      assert.are.equal(0, scheduler.engine():running())
      local id = assert(c:imagine("after cancel"))
      assert.is_string(id)
    end)
  end)
end)
