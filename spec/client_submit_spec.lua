-- Submit endpoints, codes and error shapes, against the real simulator.
local simulator = require("spec.helpers.simulator")
local clients = require("spec.helpers.client")
local mj = require("midjourney")

local PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
  .. "hKmMIQAAAABJRU5ErkJggg=="

describe("client submits #sim", function()
  local sim = simulator.for_block { speed = 200, seed = 1, key = "sk-test" }
  local client = clients.factory(sim)

  it("imagine returns a string id and the envelope", function()
    local id, env = client():imagine("a paper boat at sunrise --v 6.1")
    assert.is_string(id)
    assert.truthy(id:match("^%d+$"), id)
    assert.are.equal(1, env.code)
    assert.are.equal(id, env.result)
    assert.are.equal(1, sim:count("imagine"))
  end)

  it("imagine passes a table of wire fields through, unknown fields included", function()
    local c = client()
    local id = assert(c:imagine { prompt = "a boat", state = "order-4711", someFutureField = { x = 1 } })
    -- state is "" until the gateway's first sync (api.md 3.1): look at the finished task
    local t = assert(c:wait(id, { first_delay = 0, interval = 0.05 }))
    assert.are.equal("order-4711", t.state)
  end)

  it("raises on a missing prompt or a wrong type, before sending anything", function()
    local c = client()
    assert.has_error(function() c:imagine {} end, "client:imagine: field 'prompt' is required")
    assert.has_error(function() c:imagine(42) end)
    assert.has_error(function() c:blend("x") end)
    assert.has_error(function() c:swap_face { sourceBase64 = PNG } end)
    assert.are.equal(0, sim:stats().requests)
  end)

  it("refuses a bad data URI locally with kind invalid", function()
    local id, err = client():imagine { prompt = "x", base64Array = { "data:text/html;base64,PGI+" } }
    assert.is_nil(id)
    assert.are.equal("invalid", err.kind)
    assert.truthy(tostring(err):find("base64Array", 1, true))
    assert.are.equal(0, sim:stats().requests)
  end)

  it("covers blend, describe, shorten, video, edits and swap_face", function()
    local c = client()
    local calls = {
      blend = { base64Array = { PNG, PNG }, dimensions = "SQUARE" },
      describe = { base64 = PNG },
      shorten = { prompt = "a very long prompt about boats" },
      video = { image = PNG, motion = "low", prompt = "the boat sails" },
      edits = { image = PNG, prompt = "make it red" },
      swap_face = { sourceBase64 = PNG, targetBase64 = PNG },
    }
    for name, fields in pairs(calls) do
      local id, env = c[name](c, fields)
      assert.is_string(id, name .. ": " .. tostring(env))
      assert.are.equal(1, env.code, name)
    end
    local d = assert(c:describe { link = "https://example.com/a.png" })
    assert.is_string(d)
  end)

  it("upload returns the list of URLs", function()
    local urls, env = client():upload { base64Array = { PNG, PNG } }
    assert.is_table(urls, tostring(env))
    assert.are.equal(2, #urls)
    assert.truthy(urls[1]:match("^https?://"))
    assert.are.equal(1, env.code)
  end)

  it("accepts codes 1, 21 and 22 and returns the id", function()
    local c = client()
    for _, code in ipairs({ 21, 22 }) do
      sim:faults { { route = "imagine", kind = "code", code = code } }
      local id, env = c:imagine("a boat")
      assert.is_string(id, tostring(env))
      assert.truthy(id:match("^%d+$"))
    end
  end)

  it("turns every other code into an api error with code and description (HTTP 200)", function()
    local c = client()
    for _, code in ipairs({ 3, 4, 24 }) do
      sim:faults { { route = "imagine", kind = "code", code = code, description = "desc " .. code } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      assert.are.equal("api", err.kind, tostring(err))
      assert.are.equal(code, err.code)
      assert.are.equal("desc " .. code, err.description)
      assert.truthy(tostring(err):find("code " .. code, 1, true))
    end
    -- none of these was retried
    assert.are.equal(3, sim:count("imagine"))
  end)

  it("parses the gateway relay error shape (task_status_not_success)", function()
    local c = client()
    local id = assert(c:imagine("a boat"))
    sim:faults { { route = "action", kind = "status", status = 400,
      body = { description = "task_status_not_success ", type = "upstream_error", code = 4 } } }
    local t = assert(c:wait(id, { first_delay = 0, interval = 0.05 }))
    local nid, err = c:action(t, "U1")
    assert.is_nil(nid)
    assert.are.equal("api", err.kind)
    assert.are.equal(4, err.code)
    assert.are.equal(400, err.status)
    assert.truthy(err.message:find("task_status_not_success", 1, true))
  end)

  it("parses the OpenAI-style envelope: 401 with the request id", function()
    local id, err = client({ api_key = "sk-wrong-key-0001" }):imagine("a boat")
    assert.is_nil(id)
    assert.are.equal("http", err.kind)
    assert.are.equal(401, err.status)
    assert.is_string(err.request_id)
    assert.truthy(tostring(err):find("invalid token", 1, true))
  end)

  it("parses the unknown_action 400 from the routing middleware", function()
    local c = client()
    local t = assert(c:wait(assert(c:imagine("a boat")), { first_delay = 0, interval = 0.05 }))
    sim:faults { { route = "action", kind = "status", status = 400, body = { error = { code = "",
      message = "Invalid request, unknown_action:MJ::Job::PicReader::1 (request id: 20260312)",
      type = "comet_api_error" } } } }
    local nid, err = c:action(t, "U1")
    assert.is_nil(nid)
    assert.are.equal("http", err.kind)
    assert.are.equal(400, err.status)
    assert.are.equal("20260312", err.request_id)
    assert.truthy(err.message:find("unknown_action", 1, true))
    assert.are.equal(1, sim:count("action"))
  end)

  it("parses the generic envelope and the image error shape", function()
    local c = client()
    sim:faults { { route = "imagine", kind = "status", status = 200,
      body = { success = false, code = -1, message = "State参数过长，最大255字符" } } }
    local id, err = c:imagine("a boat")
    assert.is_nil(id)
    assert.are.equal("api", err.kind)
    assert.truthy(err.message:find("State", 1, true))
    sim:faults { { route = "imagine", kind = "status", status = 400, body = { error = "midjourney_task_not_found" } } }
    id, err = c:imagine("a boat")
    assert.is_nil(id)
    assert.are.equal("http", err.kind)
    assert.are.equal(400, err.status)
    assert.truthy(err.message:find("midjourney_task_not_found", 1, true))
  end)

  it("rate limited: 429 with code 30 is retried, then reported as rate_limited", function()
    local sleeps = {}
    local c = client { sleep = function(s) sleeps[#sleeps + 1] = s end }
    sim:faults { { route = "imagine", kind = "status", status = 429, times = -1,
      body = { description = "rate limit exceeded 当前分组负载已饱和", type = "upstream_error", code = 30 } } }
    local id, err = c:imagine("a boat")
    assert.is_nil(id)
    assert.are.equal("rate_limited", err.kind)
    assert.are.equal(3, sim:count("imagine"))
    assert.are.equal(2, #sleeps)
  end)

  it("never shows the API key: tostring(client), errors, and an echoing server", function()
    local key = "sk-secret-ABCDEF123456"
    local c = client { api_key = key }
    assert.is_nil(tostring(c):find("ABCDEF123456", 1, true))
    local _, err = c:imagine("a boat")
    assert.is_nil(tostring(err):find("ABCDEF123456", 1, true))
    sim:faults { { route = "imagine", kind = "status", status = 401, body = { error = { code = "",
      message = "bad key Bearer " .. key .. " and " .. key, type = "comet_api_error" } } } }
    _, err = c:imagine("a boat")
    local s = tostring(err)
    assert.truthy(s:find("bad key", 1, true))
    assert.is_nil(s:find("ABCDEF123456", 1, true))
    assert.is_nil(err.message:find("ABCDEF123456", 1, true))
    for k, v in pairs(c) do
      assert.is_nil(tostring(v):find("ABCDEF123456", 1, true), k)
    end
  end)

  it("the debug log has method, path, status and no key", function()
    local lines = {}
    local c = client { api_key = "sk-logged-KEY98765", logger = function(_, line) lines[#lines + 1] = line end }
    c:imagine("a boat")
    assert.truthy(#lines >= 1)
    local all = table.concat(lines, "\n")
    assert.truthy(all:find("POST", 1, true))
    assert.truthy(all:find("/mj/submit/imagine", 1, true))
    assert.truthy(all:find("status=401", 1, true))
    assert.is_nil(all:find("KEY98765", 1, true))
  end)

  it("a missing key is an error at call time, with nothing sent", function()
    local c = mj.new { api_key = "", base_url = sim.url }
    local id, err = c:imagine("a boat")
    assert.is_nil(id)
    assert.are.equal("invalid", err.kind)
    assert.truthy(err.message:find("COMETAPI_KEY", 1, true))
    assert.are.equal(0, sim:stats().requests)
    assert.has_error(function() mj.new { api_key = "sk-a\r\nX: y" } end)
  end)

  it("keeps a submit result beyond 2^53 exact", function()
    sim:faults { { route = "imagine", kind = "raw", status = 200,
      body = '{"code":1,"description":"ok","result":12345678901234567891,"properties":{}}' } }
    local id = assert(client():imagine("a boat"))
    assert.are.equal("12345678901234567891", id)
  end)
end)
