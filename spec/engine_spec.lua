-- The C engine (midjourney.core.engine) against the real simulator.
local core = require "midjourney.core"
local simulator = require "spec.helpers.simulator"

local function drain(e, want, limit)
  local got, deadline = {}, core.now() + (limit or 10)
  local n = 0
  while n < want do
    assert(core.now() < deadline, "engine did not finish the transfers in time")
    local recs = e:step(0.5)
    for _, r in ipairs(recs or {}) do
      got[r.id] = r
      n = n + 1
    end
  end
  return got
end

describe("core.engine", function()
  local sim = simulator.for_block { speed = 500, seed = 7, key = "sk-engine-test" }

  it("runs many transfers at once and hands each record back once", function()
    local e = core.engine()
    local ids = {}
    for i = 1, 20 do ids[i] = e:request { url = sim.url .. "/_sim/stats", timeout = 10 } end
    assert.are.equal(20, e:running())
    local got = drain(e, 20)
    for i = 1, 20 do
      local r = got[ids[i]]
      assert.is_table(r)
      assert.are.equal(200, r.status)
      assert.is_true(r.sent)
      assert.is_nil(r.error)
      assert.matches("json", r.content_type)
      assert.is_string(r.body)
    end
    assert.are.equal(0, e:running())
    assert.is_nil((e:step(0)))
    e:close()
  end)

  it("sends POST bodies with any bytes, headers, and gets 401 without a key", function()
    local e = core.engine()
    local body = '{"prompt":"nul \\u0000 and \\"quotes\\""}'
    local id = e:request { method = "POST", url = sim.url .. "/mj/submit/imagine", body = body,
      headers = { "Content-Type: application/json", "Authorization: Bearer " .. sim.key } }
    local id2 = e:request { method = "POST", url = sim.url .. "/mj/submit/imagine", body = body,
      headers = { "Content-Type: application/json" } }
    local got = drain(e, 2)
    assert.are.equal(200, got[id].status)
    assert.matches('"code"%s*:%s*1', got[id].body)
    assert.are.equal(401, got[id2].status)
    e:close()
  end)

  it("refuses header values with CR, LF or NUL before sending", function()
    local e = core.engine()
    for _, bad in ipairs { "X-A: b\r\nX-Evil: 1", "X-A: b\nc", "X-A: b\0c", "no colon" } do
      local ok, err = pcall(e.request, e, { url = sim.url .. "/_sim/stats", headers = { bad } })
      assert.is_false(ok)
      assert.matches("headers%[1%]", err)
    end
    assert.are.equal(0, e:running())
    e:close()
  end)

  it("raises on wrong argument types", function()
    local e = core.engine()
    assert.has_error(function() e:request("http://x") end)
    assert.has_error(function() e:request { url = 42 } end)
    assert.has_error(function() e:request { url = "http://x", timeout = "1" } end)
    assert.has_error(function() e:request { url = "http://x", method = "TRACE" } end)
    assert.has_error(function() e:request { url = "http://x", timeout = -1 } end)
    e:close()
  end)

  it("reports a refused connection as not sent", function()
    local e = core.engine()
    local id = e:request { url = "http://127.0.0.1:1/", connect_timeout = 5 }
    local r = drain(e, 1)[id]
    assert.are.equal("connect", r.error_kind)
    assert.is_false(r.sent)
    assert.are.equal(0, r.status)
    e:close()
  end)

  it("enforces the body cap while receiving", function()
    local e = core.engine()
    sim:faults { { route = "fetch", kind = "huge_body", bytes = 4 * 1024 * 1024, times = 1 } }
    local id = e:request { url = sim.url .. "/mj/task/1/fetch", max_body = 64 * 1024, timeout = 10,
      headers = { "Authorization: Bearer " .. sim.key } }
    local r = drain(e, 1)[id]
    assert.are.equal("too_large", r.error_kind)
    assert.is_true(#r.body <= 64 * 1024)
    e:close()
  end)

  it("times out a slow first byte within the request timeout", function()
    local e = core.engine()
    sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 3, times = 1 } }
    local t0 = core.now()
    local id = e:request { url = sim.url .. "/mj/task/1/fetch", timeout = 0.3 }
    local r = drain(e, 1)[id]
    assert.are.equal("timeout", r.error_kind)
    assert.is_true(core.now() - t0 < 2.5)
    e:close()
  end)

  it("streams a body to a file", function()
    local e = core.engine()
    local path = os.tmpname()
    -- an image of a finished task: submit, then read its PNG
    local id = e:request { method = "POST", url = sim.url .. "/mj/submit/imagine",
      body = '{"prompt":"a file test"}', headers = { "Authorization: Bearer " .. sim.key } }
    local task_id = drain(e, 1)[id].body:match('"result"%s*:%s*"(%d+)"')
    assert.is_string(task_id)
    local fid = e:request { url = sim.url .. "/mj/image/" .. task_id, file = path, timeout = 10 }
    local r = drain(e, 1)[fid]
    assert.is_nil(r.body)
    assert.are.equal(path, r.file)
    local f = assert(io.open(path, "rb"))
    local data = f:read("*a")
    f:close()
    os.remove(path)
    assert.are.equal(r.size, #data)
    if r.status == 200 then assert.are.equal("\137PNG", data:sub(1, 4)) end
    e:close()
  end)

  it("cancel frees an in-flight transfer and yields no record", function()
    local e = core.engine()
    sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 2, times = 1 } }
    local id = e:request { url = sim.url .. "/mj/task/1/fetch", timeout = 10 }
    e:step(0)
    assert.is_true(e:cancel(id))
    assert.is_false(e:cancel(id))
    assert.are.equal(0, e:running())
    assert.is_nil((e:step(0)))
    e:close()
  end)

  it("close is idempotent, use after close raises, __gc frees transfers in flight", function()
    local e = core.engine()
    e:request { url = sim.url .. "/_sim/stats" }
    e:close()
    e:close()
    assert.is_true(e:closed())
    assert.has_error(function() e:step(0) end, "midjourney.core: engine is closed")
    assert.has_error(function() e:request { url = "http://x" } end)
    for _ = 1, 20 do
      local g = core.engine()
      for _ = 1, 5 do g:request { url = sim.url .. "/_sim/stats" } end
      g:step(0)
    end
    collectgarbage()
    collectgarbage()
    -- the engine that survives still works
    local e2 = core.engine()
    local id = e2:request { url = sim.url .. "/_sim/stats" }
    assert.are.equal(200, drain(e2, 1)[id].status)
    e2:close()
  end)

  it("a to-be-closed engine (Lua 5.4 <close>) is closed at the end of its block", function()
    if _VERSION ~= "Lua 5.4" then return end -- the syntax does not exist in LuaJIT
    local chunk = assert(load([[
      local core, url = ...
      local kept
      do
        local e <close> = core.engine()
        e:request { url = url }
        kept = e
      end
      return kept
    ]]))
    local e = chunk(core, sim.url .. "/_sim/stats")
    assert.is_true(e:closed())
    assert.has_error(function() e:step(0) end, "midjourney.core: engine is closed")
  end)

  it("reuses connections (keep-alive) across sequential requests", function()
    local e = core.engine()
    for _ = 1, 10 do
      local id = e:request { url = sim.url .. "/_sim/stats" }
      drain(e, 1)
      assert.is_number(id)
    end
    local stats = sim:stats()
    -- one connection for the control client of the helper at most, plus ours
    assert.is_true(stats.peak_connections <= 3, "peak connections " .. tostring(stats.peak_connections))
    e:close()
  end)
end)

describe("core utilities", function()
  it("now is monotonic and sleep sleeps", function()
    local a = core.now()
    core.sleep(0.02)
    local b = core.now()
    assert.is_true(b - a >= 0.015)
    assert.has_error(function() core.sleep("x") end)
  end)
  it("curl_info names the libcurl version", function()
    local info = core.curl_info()
    assert.matches("^%d+%.%d+", info.version)
    assert.is_boolean(info.asynchdns)
  end)
end)
