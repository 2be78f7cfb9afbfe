-- A hostile server, round two: each case is a promise 0.1.0 broke (the reliability
-- issue's reproducers), driven by the simulator's raw answers and counted at the simulator.
local simulator = require("spec.helpers.simulator")
local clients = require("spec.helpers.client")
local mj = require("midjourney")
local core = require("midjourney.core")
local scheduler = require("midjourney.scheduler")

local KEY = "sk-hostile-K3yS3cr3tValue99"
local BARE = "hostile-K3yS3cr3tValue99"
local ID = "1773314942177684"

-- no 8-byte piece of the key (with or without its prefix) in s
local function assert_no_key_piece(s, what)
  for i = 1, #BARE - 7 do
    local piece = BARE:sub(i, i + 7)
    assert.is_nil(s:find(piece, 1, true), (what or "text") .. " leaks part of the key (" .. piece .. "): " .. s)
  end
end

describe("hostile server #sim", function()
  local sim = simulator.for_block { speed = 400, seed = 5, key = KEY }
  local client = clients.factory(sim, { timeout = 2, connect_timeout = 1, retry_base = 0.01, retry_cap = 0.05 })

  describe("1. an empty-body 5xx, 429 or 408 on a read is transient, never not_found", function()
    for _, status in ipairs({ 500, 502, 503, 504, 429, 408 }) do
      it("HTTP " .. status .. " with an empty body", function()
        local c = client()
        sim:faults { { route = "fetch", kind = "status", status = status, body = "", times = -1 } }
        local t, err = c:fetch(ID)
        assert.is_nil(t)
        assert.are_not.equal("not_found", err.kind, tostring(err))
        assert.are.equal(status, err.status)
        assert.is_true(err.retryable)
        assert.are.equal(3, sim:count("fetch")) -- retried
      end)
    end

    it("a blocking wait keeps polling through empty 503s until the task is there", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      sim:reset()
      sim:faults { { route = "fetch", kind = "status", status = 503, body = "", times = 6 } }
      local t, err = c:wait(id, { interval = 0.02, first_delay = 0, timeout = 20 })
      assert.is_table(t, tostring(err))
      assert.are.equal("SUCCESS", t.status)
      assert.is_true(sim:count("fetch") > 6)
    end)

    it("an empty 200 or 400 still means no such task", function()
      local c = client()
      for _, status in ipairs({ 200, 400 }) do
        sim:faults { { route = "fetch", kind = "status", status = status, body = "" } }
        local _, err = c:fetch(ID)
        assert.are.equal("not_found", err.kind)
      end
    end)
  end)

  describe("2. a body only one of the two JSON decoders would accept", function()
    local body = '{"id":"' .. ID .. '","status":"SUCCESS","buttons":[{"label":"U1","customId":"x\\ud800"}]}'

    it("is a decode error on fetch, never a half-empty Task", function()
      local c = client { max_retries = 0 }
      sim:faults { { route = "fetch", kind = "status", status = 200, body = body,
        headers = { ["Content-Type"] = "application/json" } } }
      local t, err = c:fetch(ID)
      assert.is_nil(t)
      assert.are.equal("decode", err.kind)
      assert.truthy(err.message:find("surrogate", 1, true), err.message)
    end)

    it("is maybe_accepted on a submit (the server answered something we cannot read)", function()
      local c = client()
      sim:faults { { route = "imagine", kind = "status", status = 200,
        body = '{"code":1,"description":"ok\\udc00","result":"' .. ID .. '"}',
        headers = { ["Content-Type"] = "application/json" } } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("maybe_accepted", err.kind)
      assert.are.equal(1, sim:count("imagine"))
    end)

    it("in a list answer, is a decode error for the whole answer", function()
      local c = client { max_retries = 0 }
      sim:faults { { route = "list", kind = "status", status = 200, body = "[" .. body .. "]",
        headers = { ["Content-Type"] = "application/json" } } }
      local ts, err = c:list { ID }
      assert.is_nil(ts)
      assert.are.equal("decode", err.kind)
    end)
  end)

  it("3. a key cut in half by the snippet's limit leaves no piece of itself", function()
    local c = client { max_retries = 0 }
    local page = string.rep("x", 104) .. BARE .. " trailing text"
    sim:faults { { route = "fetch", kind = "status", status = 502, body = page,
      headers = { ["Content-Type"] = "text/html" } } }
    local _, err = c:fetch(ID)
    assert.are.equal(502, err.status)
    assert_no_key_piece(err.message, "err.message")
    assert_no_key_piece(tostring(err), "tostring(err)")
    -- and whatever the cut: every offset of the key across the 120-byte limit
    for pad = 100, 125 do
      local s = mj.errors.snippet(string.rep("y", pad) .. BARE .. "zzzz")
      assert_no_key_piece(s, "snippet at " .. pad)
    end
  end)

  it("4. a failReason that echoes the key is not printed by mj", function()
    local c = client()
    local id = assert(c:imagine("a boat"))
    sim:task(id, { status = "FAILURE", progress = "100%", failReason = "bad key " .. KEY .. " and " .. BARE })
    local keyfile = os.tmpname()
    local f = assert(io.open(keyfile, "wb"))
    f:write(KEY, "\n")
    f:close()
    local out, err = {}, {}
    local function sink(buf)
      local function write(self, ...) for _, s in ipairs({ ... }) do buf[#buf + 1] = tostring(s) end return self end
      return { write = write,
        flush = function() return true end }
    end
    local code = require("midjourney.cli").main({ "wait", id, "--api-key-file", keyfile, "--base-url", sim.url,
      "--no-tty", "--json" }, { out = sink(out), err = sink(err) })
    os.remove(keyfile)
    assert.are.equal(1, code)
    local all = table.concat(out) .. table.concat(err)
    assert.truthy(all:find("bad key", 1, true), all)
    assert_no_key_piece(all, "mj's output")
  end)

  it("5. closing the shared engine mid-flight fails every pending call; the next call works", function()
    local c = client { timeout = 10 }
    sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 5, times = 3 } }
    local hs = {}
    for i = 1, 3 do hs[i] = mj.spawn(function() return c:fetch(ID) end) end
    mj.step(0)
    mj.step(0)
    scheduler.engine():close()
    local deadline = core.now() + 5
    while mj.step(0.05) > 0 and core.now() < deadline do end
    for i = 1, 3 do
      local t, err = hs[i]:result()
      assert.is_nil(t)
      assert.are.equal("cancelled", err.kind)
    end
    -- (whether each slow request reached the server before the close is timing: clear the
    -- fault rules that are left, the next calls must be plain)
    sim:reset()
    local t0 = core.now()
    local _, err = c:fetch(ID) -- a blocking call on a new engine
    assert.are.equal("not_found", err.kind)
    assert.is_true(core.now() - t0 < 2)
    -- a later answer never reaches a stale coroutine: one fresh call per coroutine works
    local h = mj.spawn(function() return select(2, c:fetch(ID)).kind end)
    while mj.step(0.05) > 0 and core.now() < deadline + 5 do end
    assert.are.equal("not_found", (h:result()))
  end)

  it("6. a coalesced wait returns at its own timeout while the list endpoint never answers", function()
    local c = client { timeout = 30, deadline = 60 }
    local id = assert(c:imagine("a boat"))
    sim:faults { { route = "list", kind = "slow_first_byte", delay = 25, times = -1 } }
    local t0 = core.now()
    local t, err = mj.run(function() return c:wait(id, { timeout = 2, interval = 0.5, first_delay = 0 }) end)
    local took = core.now() - t0
    assert.is_nil(t)
    assert.are.equal("timeout", err.kind)
    assert.is_true(took < 3, "returned after " .. took .. " s")
    scheduler.close() -- drop the hanging list request
  end)

  it("7. '.' and every id the API never issues are refused before anything is sent", function()
    local c = client()
    for _, id in ipairs({ ".", "..", "./x", "a.b", "%2e", "1 2", "\0" }) do
      local t, err = c:fetch(id)
      assert.is_nil(t)
      assert.are.equal("invalid", err.kind, id)
    end
    assert.are.equal(0, sim:count("fetch"))
  end)

  it("8. out-of-range numbers are refused in Lua before they reach a C cast", function()
    assert.has_error(function() mj.new { timeout = 1e300 } end)
    assert.has_error(function() mj.new { connect_timeout = math.huge } end)
    assert.has_error(function() mj.configure { max_host_connections = 1e300 } end)
    assert.has_error(function() client():fetch(ID, { timeout = 1e300 }) end)
    assert.has_error(function() client():wait(ID, { interval = -1 }) end)
  end)

  it("9. handle:result() on an unfinished coroutine returns nil and a 'pending' error", function()
    local h = mj.spawn(function() mj.sleep(0.01) end)
    local v, err = h:result()
    assert.is_nil(v)
    assert.are.equal("pending", err.kind)
    mj.run(function() end)
    while h:status() ~= "done" do mj.step(0.05) end
  end)

  describe("decided cases", function()
    it("a 409 on a submit is not retryable (the server refused it)", function()
      local c = client()
      sim:faults { { route = "imagine", kind = "status", status = 409,
        body = { error = { message = "conflict", type = "comet_api_error" } } } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.is_false(err.retryable)
      assert.are.equal(1, sim:count("imagine"))
    end)

    it("code 1 with a null, array or object result is maybe_accepted, never resent", function()
      local c = client()
      for _, result in ipairs({ "null", "[]", "{}", '[1,2]', "true" }) do
        sim:reset()
        sim:faults { { route = "imagine", kind = "status", status = 200,
          body = '{"code":1,"description":"ok","result":' .. result .. '}',
          headers = { ["Content-Type"] = "application/json" } } }
        local id, err = c:imagine("a boat")
        assert.is_nil(id)
        assert.are.equal("maybe_accepted", err.kind, result)
        assert.are.equal(1, sim:count("imagine"))
      end
    end)

    it("a text-only submit uses timeout; one that carries images uses submit_timeout", function()
      local c = client { timeout = 0.5, submit_timeout = 5 }
      sim:faults { { route = "imagine", kind = "slow_first_byte", delay = 1.5, times = 2 } }
      local t0 = core.now()
      local id, err = c:imagine("text only")
      assert.is_nil(id)
      assert.are.equal("maybe_accepted", err.kind)
      assert.is_true(core.now() - t0 < 1.4)
      local png = "data:image/png;base64,iVBORw0KGgo="
      id, err = c:imagine { prompt = "with an image", base64Array = { png } }
      assert.is_string(id, tostring(err))
    end)

    it("coroutine.yield() inside on_progress is refused with a clear error", function()
      local c = client()
      local id = assert(c:imagine("a boat"))
      local h = mj.spawn(function()
        return c:wait(id, { first_delay = 0, interval = 0.02, on_progress = function() coroutine.yield() end })
      end)
      local deadline = core.now() + 5
      while h:status() ~= "failed" and h:status() ~= "done" and core.now() < deadline do mj.step(0.02) end
      assert.are.equal("failed", h:status())
      assert.truthy(tostring(select(2, h:result())):find("coroutine.yield", 1, true))
    end)

    it("mj.new refuses header lines without a name and infinite timeouts", function()
      assert.has_error(function() mj.new { headers = { "garbage" } } end)
      assert.has_error(function() mj.new { timeout = math.huge } end)
    end)

    it("an id sent as -0 is \"-0\" on every interpreter", function()
      local c = client()
      sim:faults { { route = "fetch", kind = "status", status = 200, body = '{"id":-0,"status":"SUCCESS"}',
        headers = { ["Content-Type"] = "application/json" } } }
      assert.are.equal("-0", assert(c:fetch(ID)).id)
    end)
  end)
end)
