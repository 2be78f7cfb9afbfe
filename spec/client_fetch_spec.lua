-- fetch, list, image_seed against the real simulator: shapes, not_found, exact ids.
local simulator = require("spec.helpers.simulator")
local clients = require("spec.helpers.client")
local mj = require("midjourney")

describe("client reads #sim", function()
  local sim = simulator.for_block { speed = 200, seed = 1, key = "sk-test" }
  local client = clients.factory(sim)

  it("fetch returns a Task with wire fields and methods", function()
    local c = client()
    local id = assert(c:imagine("a boat"))
    local t = assert(c:fetch(id))
    assert.are.equal(id, t.id)
    assert.is_string(t.status)
    assert.is_table(t.buttons)
    assert.is_boolean(t:is_done())
    local done = assert(c:wait(id, { first_delay = 0, interval = 0.05 }))
    assert.are.equal("SUCCESS", done.status)
    assert.are.equal(100, done:percent())
    assert.are.equal(9, #done:buttons())
    assert.is_table(done:button("U1"))
    assert.is_table(done:button("🔄"))
  end)

  it("fetch accepts a numeric id and a Task", function()
    local c = client()
    local id = assert(c:imagine("a boat"))
    local t = assert(c:fetch(math.tointeger and math.tointeger(tonumber(id)) or tonumber(id)))
    assert.are.equal(id, t.id)
    assert.are.equal(id, assert(c:fetch(t)).id)
  end)

  it("unknown id is not_found for every server shape", function()
    local c = client()
    -- the gateway's HTTP 400 task_no_found (the simulator's default)
    local t, err = c:fetch("9999999999999999")
    assert.is_nil(t)
    assert.are.equal("not_found", err.kind)
    local shapes = {
      { kind = "status", status = 404, body = { error = { message = "Invalid URL", type = "invalid_request_error" } } },
      { kind = "raw", status = 204, body = "" },
      { kind = "raw", status = 200, body = "" },
      { kind = "raw", status = 200, body = "null" },
      { kind = "raw", status = 200, body = " null \n" },
    }
    for i, f in ipairs(shapes) do
      f.route = "fetch"
      sim:faults { f }
      t, err = c:fetch("9999999999999999")
      assert.is_nil(t, i)
      assert.are.equal("not_found", err.kind, i .. ": " .. tostring(err))
    end
    -- none of those was retried
    assert.are.equal(1 + #shapes, sim:count("fetch"))
  end)

  it("refuses bad ids locally", function()
    local c = client()
    for _, id in ipairs({ "", "../admin", "1/2", "1?x", "1#a", "1\r\nX: y", "1\0" }) do
      local t, err = c:fetch(id)
      assert.is_nil(t)
      assert.are.equal("invalid", err.kind)
    end
    assert.has_error(function() c:fetch(nil) end)
    assert.has_error(function() c:fetch(true) end)
    assert.are.equal(0, sim:stats().requests)
  end)

  it("keeps ids beyond 2^53 exact as strings", function()
    local c = client()
    sim:faults { { route = "fetch", kind = "raw", status = 200,
      body = '{"id":12345678901234567891,"status":"IN_PROGRESS","progress":"5%","buttons":null,' ..
        '"properties":{"messageId":1348306030706036789}}' } }
    local t = assert(c:fetch("12345678901234567891"))
    assert.are.equal("12345678901234567891", t.id)
    assert.are.equal("1348306030706036789", t.properties.messageId)
    assert.are.same({}, t:buttons())
  end)

  it("HTML with 200 and invalid JSON on fetch are decode errors with a snippet", function()
    local c = client { max_retries = 0 }
    sim:faults { { route = "fetch", kind = "html" } }
    local t, err = c:fetch("1773314942177684")
    assert.is_nil(t)
    assert.are.equal("decode", err.kind)
    assert.truthy(err.message:find("HTML", 1, true))
    sim:faults { { route = "fetch", kind = "invalid_json" } }
    t, err = c:fetch("1773314942177684")
    assert.is_nil(t)
    assert.are.equal("decode", err.kind)
  end)

  it("list returns tasks, leaves unknown ids out, and dedups by id", function()
    local c = client()
    local a = assert(c:imagine("boat a"))
    local b = assert(c:imagine("boat b"))
    local list = assert(c:list { a, b, "9999999999999999", a })
    assert.are.equal(2, #list)
    local seen = {}
    for _, t in ipairs(list) do seen[t.id] = true; assert.is_true(mj.json ~= nil) end
    assert.is_true(seen[a] and seen[b])
    assert.are.same({}, c:list {})
    -- two rows with one id (after a modal, api.md §4.3)
    sim:faults { { route = "list", kind = "raw", status = 200, body = '[{"id":"1","status":"MODAL","progress":""},' ..
      '{"id":"1","status":"IN_PROGRESS","progress":"40%"},{"id":"2","status":"SUCCESS","progress":"100%"}]' } }
    list = assert(c:list { "1", "2" })
    assert.are.equal(2, #list)
  end)

  it("image_seed returns the seed string", function()
    local c = client()
    local id = assert(c:imagine("a boat"))
    assert(c:wait(id, { first_delay = 0, interval = 0.05 }))
    local seed, err = c:image_seed(id)
    assert.is_string(seed, tostring(err))
    assert.truthy(seed:match("^%d+$"))
    local s2, e2 = c:image_seed("9999999999999999")
    assert.is_nil(s2)
    assert.are.equal("not_found", e2.kind)
  end)
end)
