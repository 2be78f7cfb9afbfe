-- The C engine (midjourney.core.engine) against the real simulator and small one-response
-- servers started here.
local core = require "midjourney.core"
local socket = require "socket"
local simulator = require "spec.helpers.simulator"

-- LuaSocket's select takes any object with a getfd method: a real select(2) on the engine's
-- descriptor, with no test-only C code.
local function fd_object(e)
  return { getfd = function() return e:fd() end, dirty = function() return false end }
end

local function readable(e, wait)
  local r = socket.select({ fd_object(e) }, nil, wait or 0)
  return #r > 0
end

-- Drives the engine only through fd(), timeout() and step(0): waits on the descriptor until
-- it is readable or libcurl's timer is due. Returns the records by id and how many waits
-- ended because the descriptor became readable.
local function drive_by_fd(e, want, limit, pump)
  local got, n, woke = {}, 0, 0
  local deadline = core.now() + (limit or 10)
  while n < want do
    assert(core.now() < deadline, "engine did not finish the transfers in time")
    local t = e:timeout()
    local wait = math.min(t or 1, 1)
    if pump then wait = math.min(wait, 0.01) end
    if #socket.select({ fd_object(e) }, nil, wait) > 0 then woke = woke + 1 end
    local recs = e:step(0)
    for _, r in ipairs(recs or {}) do
      assert.is_nil(got[r.id], "record handed out twice")
      got[r.id] = r
      n = n + 1
    end
    if pump then pump() end
  end
  return got, woke
end

-- A server on 127.0.0.1 that answers one connection with `response` (bytes, sent as they fit),
-- pumped from the test's own loop: no threads, no sleeps.
local function one_response_server(response)
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(0)
  local _, port = srv:getsockname()
  local conn, head_done, sent = nil, false, 0
  local s = { url = "http://127.0.0.1:" .. port .. "/" }
  function s.pump()
    if not conn then
      conn = srv:accept()
      if conn then conn:settimeout(0) end
      return
    end
    while not head_done do
      local line = conn:receive("*l")
      if not line then return end
      if line == "" then head_done = true end
    end
    if sent < #response then
      local n, _, last = conn:send(response, sent + 1)
      sent = n or last or sent
    end
  end
  function s.close()
    if conn then conn:close() end
    srv:close()
  end
  return s
end

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

describe("core.engine bookkeeping", function()
  local free_port = simulator.free_port

  it("hands out every record exactly once when many finish in the same step", function()
    local e = core.engine()
    local url = "http://127.0.0.1:" .. free_port() .. "/" -- nothing listens: each connect fails at once
    local ids = {}
    for i = 1, 300 do ids[i] = e:request { url = url, connect_timeout = 5 } end
    local got, n, biggest = {}, 0, 0
    local deadline = core.now() + 20
    while n < 300 do
      assert(core.now() < deadline, "engine did not finish the transfers in time")
      local recs = e:step(0.5)
      biggest = math.max(biggest, recs and #recs or 0)
      for _, r in ipairs(recs or {}) do
        assert.is_nil(got[r.id], "record handed out twice")
        got[r.id] = r
        n = n + 1
      end
    end
    for i = 1, 300 do assert.are.equal("connect", got[ids[i]].error_kind) end
    assert.is_true(biggest > 1, "no step handed out more than one record")
    assert.are.equal(0, e:running())
    assert.is_nil((e:step(0)))
    e:close()
  end)

  -- A raise inside step after finished transfers left libcurl's queue is what could lose them.
  -- An allocation failure cannot be provoked from Lua, but a finalizer that raises while step
  -- allocates its records can: LuaJIT propagates a finalizer's error to the allocation that
  -- ran the collector, Lua 5.4 turns it into a warning. Before each step the collector is
  -- advanced until the first of many dead finalizable objects was finalized, so the rest run
  -- at the step's first allocations. Under both interpreters a finalizer that tries to close
  -- the engine in the middle of a step is refused, and every record arrives exactly once.
  it("a step that raises while building records loses none of them (finalizers, out of memory)", function()
    local e = core.engine()
    local url = "http://127.0.0.1:" .. free_port() .. "/"
    local ids = {}
    for i = 1, 300 do ids[i] = e:request { url = url, connect_timeout = 5 } end
    local armed, raised, finalized, close_refused, ran_in_step = false, 0, 0, nil, false
    local function finalizer()
      finalized = finalized + 1
      if not armed then return end
      ran_in_step = true
      local ok, err = pcall(e.close, e)
      if not ok then close_refused = err end
      if raised == 0 then
        raised = 1
        error("injected by a finalizer")
      end
    end
    local function pending_finalizers(count)
      local newproxy = rawget(_G, "newproxy") -- Lua 5.1/LuaJIT: __gc works on userdata only
      for _ = 1, count do
        if newproxy then
          getmetatable(newproxy(true)).__gc = finalizer
        else
          setmetatable({}, { __gc = finalizer })
        end
      end
      local before, guard = finalized, 0
      while finalized == before do -- the collector is now running finalizers, most still pending
        collectgarbage("step", 0)
        guard = guard + 1
        assert(guard < 1000000, "the collector never ran a finalizer")
      end
    end
    local jit_on = jit and jit.status and jit.status()
    if jit_on then jit.off() end -- LuaJIT runs no finalizers on a trace exit
    -- Lua 5.4: the smallest collector steps (a few finalizers each, and the next allocation
    -- steps again); its defaults are restored below
    if not jit then collectgarbage("incremental", 100, 100, 1) end
    local got, n, failures = {}, 0, 0
    local ok_all, err_all = pcall(function()
      local deadline = core.now() + 20
      while n < 300 do
        assert(core.now() < deadline, "engine did not finish the transfers in time")
        pending_finalizers(2000)
        armed = true
        local ok, recs = pcall(e.step, e, 0.2)
        armed = false
        if not ok then
          failures = failures + 1
          assert.matches("injected by a finalizer", recs)
        else
          for _, r in ipairs(recs or {}) do
            assert.is_nil(got[r.id], "record handed out twice")
            got[r.id] = r
            n = n + 1
          end
        end
      end
    end)
    armed = false
    if jit_on then jit.on() end
    if not jit then collectgarbage("incremental", 200, 100, 13) end
    collectgarbage()
    assert(ok_all, err_all)
    for i = 1, 300 do assert.are.equal("connect", got[ids[i]].error_kind) end
    assert.is_true(ran_in_step, "no finalizer ran during a step: the injection did not happen")
    assert.matches("busy in step", close_refused)
    assert.is_false(e:closed())
    if jit then assert.are.equal(1, failures) else assert.are.equal(0, failures) end
    assert.are.equal(0, e:running())
    e:close()
  end)

  it("never reuses a transfer id, not even in another engine", function()
    local a = core.engine()
    local id1 = a:request { url = "http://127.0.0.1:1/" }
    a:close()
    local b = core.engine()
    local c = core.engine()
    local id2 = b:request { url = "http://127.0.0.1:1/" }
    local id3 = c:request { url = "http://127.0.0.1:1/" }
    assert.is_true(id2 > id1 and id3 > id2)
    assert.is_false(b:cancel(id1)) -- a stale id from a closed engine matches nothing
    assert.is_false(b:cancel(id3)) -- nor does another engine's id
    assert.are.equal(1, c:running())
    assert.is_true(b:cancel(id2))
    b:close()
    c:close()
  end)

  it("cancel finds any of thousands of queued transfers (id map: growth and deletion)", function()
    local e = core.engine()
    local live, order = {}, {}
    local seed = 12345
    local function rand(n) -- a small LCG: the same order on every run and interpreter
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    for i = 1, 3000 do
      local id = e:request { url = "http://127.0.0.1:1/" } -- queued: nothing starts before a step
      live[id] = true
      order[i] = id
    end
    local count = 3000
    for i = #order, 2, -1 do
      local j = rand(i)
      order[i], order[j] = order[j], order[i]
    end
    for i = 1, #order do
      assert.is_true(e:cancel(order[i]))
      assert.is_false(e:cancel(order[i]))
      live[order[i]] = nil
      count = count - 1
      if i % 3 == 0 then -- keep adding while deleting
        live[e:request { url = "http://127.0.0.1:1/" }] = true
        count = count + 1
      end
      assert.are.equal(count, e:running())
    end
    for id in pairs(live) do assert.is_true(e:cancel(id)) end
    assert.are.equal(0, e:running())
    e:close()
  end)

  it("refuses unknown fields and options (a typo must not be ignored)", function()
    local e = core.engine()
    assert.has_error(function() e:request { url = "http://x/", timout = 1 } end, "request: unknown field 'timout'")
    assert.has_error(function() e:request { "http://x/" } end)
    assert.has_error(function() core.engine { max_host_connection = 1 } end,
      "engine: unknown option 'max_host_connection'")
    assert.are.equal(0, e:running())
    e:close()
  end)
end)

describe("core.engine numeric options", function()
  local sim = simulator.for_block { speed = 500, seed = 9, key = "sk-engine-num" }
  local nan, inf = 0 / 0, math.huge

  it("refuses NaN, negative and infinite numbers, naming the field", function()
    local e = core.engine()
    for _, field in ipairs { "timeout", "connect_timeout", "low_speed_limit", "low_speed_time", "max_body",
      "max_header" } do
      for _, bad in ipairs { nan, -1, -0.001, inf, -inf } do
        local ok, err = pcall(e.request, e, { url = sim.url .. "/_sim/stats", [field] = bad })
        assert.is_false(ok, field .. " = " .. tostring(bad) .. " was accepted")
        assert.matches("request: field '" .. field .. "' must be a finite non%-negative number", err)
      end
      local ok, err = pcall(e.request, e, { url = sim.url .. "/_sim/stats", [field] = "1" })
      assert.is_false(ok)
      assert.matches("field '" .. field .. "' must be a number", err)
    end
    assert.are.equal(0, e:running())
    e:close()
  end)

  it("clamps huge durations to a day and huge sizes and rates to their maximum, and still works", function()
    local e = core.engine()
    local spec = { url = sim.url .. "/_sim/stats", timeout = 1e300, connect_timeout = 1e300,
      low_speed_limit = 1, low_speed_time = 1e300, max_body = 1e300, max_header = 1e300 }
    local id = e:request(spec)
    local id2 = e:request { url = sim.url .. "/_sim/stats", low_speed_limit = 1e300, low_speed_time = 1e300,
      timeout = 86400.5 }
    local got = drain(e, 2)
    assert.are.equal(200, got[id].status)
    assert.is_nil(got[id].error)
    assert.are.equal(200, got[id2].status)
    e:close()
  end)

  it("engine options: counts must be finite non-negative integers; huge ones are clamped", function()
    for _, field in ipairs { "max_host_connections", "max_connections" } do
      for _, bad in ipairs { nan, -1, inf, 2.5 } do
        local ok, err = pcall(core.engine, { [field] = bad })
        assert.is_false(ok, field .. " = " .. tostring(bad) .. " was accepted")
        assert.matches("engine: field '" .. field .. "' must be a finite non%-negative integer", err)
      end
      local e = core.engine { [field] = 1e300 }
      local id = e:request { url = sim.url .. "/_sim/stats" }
      assert.are.equal(200, drain(e, 1)[id].status)
      e:close()
    end
  end)

  it("step treats NaN and negative waits as 0 and caps huge ones", function()
    local e = core.engine()
    local t0 = core.now()
    assert.is_nil((e:step(nan)))
    assert.is_nil((e:step(-5)))
    assert.is_nil((e:step(1e300))) -- nothing in flight: returns at once
    assert.is_true(core.now() - t0 < 1)
    e:close()
  end)
end)

describe("core.engine oversized response headers", function()
  local function fetch_from(response, spec)
    local srv = one_response_server(response)
    local e = core.engine()
    spec = spec or {}
    spec.url, spec.timeout = srv.url, 10
    local id = e:request(spec)
    local got = {}
    local deadline = core.now() + 10
    while not got[id] do
      assert(core.now() < deadline, "no record in time")
      srv.pump()
      for _, r in ipairs(e:step(0.01) or {}) do got[r.id] = r end
    end
    e:close()
    srv.close()
    return got[id]
  end

  it("a 1 MiB header line is too_large (libcurl's line limit), not out of memory", function()
    local r = fetch_from("HTTP/1.1 200 OK\r\nX-Big: " .. string.rep("a", 1024 * 1024)
      .. "\r\nContent-Length: 2\r\n\r\nok")
    assert.are.equal("too_large", r.error_kind)
    assert.are.equal("libcurl", r.limit)
    assert.matches("headers larger than libcurl accepts", r.error)
    assert.is_nil(r.error:find("memory", 1, true))
  end)

  it("10,000 headers are too_large at max_header, and at libcurl's total limit when max_header is higher", function()
    local response = "HTTP/1.1 200 OK\r\n" .. string.rep("X-H: " .. string.rep("b", 90) .. "\r\n", 10000)
      .. "Content-Length: 2\r\n\r\nok"
    local r = fetch_from(response)
    assert.are.equal("too_large", r.error_kind)
    assert.are.equal("max_header", r.limit)
    local r2 = fetch_from(response, { max_header = 10 * 1024 * 1024 })
    assert.are.equal("too_large", r2.error_kind)
    assert.are.equal("libcurl", r2.limit)
  end)

  it("a body over max_body names max_body as the limit", function()
    local r = fetch_from("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" .. string.rep("x", 5000),
      { max_body = 100 })
    assert.are.equal("too_large", r.error_kind)
    assert.are.equal("max_body", r.limit)
  end)
end)

describe("core.engine as one pollable descriptor", function()
  local sim = simulator.for_block { speed = 500, seed = 11, key = "sk-engine-fd" }

  it("an idle engine: fd() is a descriptor, timeout() is nil, the descriptor is not readable", function()
    local e = core.engine()
    local fd = e:fd()
    assert.is_number(fd) -- Linux has epoll; a platform with neither epoll nor kqueue gives nil
    assert.is_nil(e:timeout())
    assert.is_false(readable(e, 0.05))
    -- after a finished transfer it is idle again: the kept-alive connection is not watched
    local id = e:request { url = sim.url .. "/_sim/stats" }
    assert.are.equal(200, drain(e, 1)[id].status)
    assert.is_nil(e:timeout())
    assert.is_false(readable(e, 0.05))
    e:close()
    assert.has_error(function() e:fd() end, "midjourney.core: engine is closed")
    assert.has_error(function() e:timeout() end, "midjourney.core: engine is closed")
  end)

  it("a new request is due at once: timeout() is 0", function()
    local e = core.engine()
    e:request { url = sim.url .. "/_sim/stats" }
    assert.are.equal(0, e:timeout())
    e:close()
  end)

  it("a request completes driven only by fd(), timeout() and step(0); the descriptor became readable", function()
    local e = core.engine()
    local id = e:request { url = sim.url .. "/_sim/stats", timeout = 10 }
    local got, woke = drive_by_fd(e, 1)
    assert.are.equal(200, got[id].status)
    assert.matches('"requests"', got[id].body)
    assert.is_true(woke > 0, "the descriptor never became readable")
    assert.is_nil(e:timeout())
    assert.is_false(readable(e, 0))
    e:close()
  end)

  it("many transfers complete driven only by fd(), timeout() and step(0)", function()
    local e = core.engine { max_host_connections = 8 }
    local ids = {}
    for i = 1, 60 do ids[i] = e:request { url = sim.url .. "/_sim/stats", timeout = 20 } end
    local got = drive_by_fd(e, 60, 30)
    for i = 1, 60 do assert.are.equal(200, got[ids[i]].status) end
    assert.are.equal(0, e:running())
    assert.is_nil(e:timeout())
    e:close()
  end)

  it("libcurl's timer ends a request the server never answers (the descriptor stays quiet)", function()
    local e = core.engine()
    sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 3, times = 1 } }
    local t0 = core.now()
    local id = e:request { url = sim.url .. "/mj/task/1/fetch", timeout = 0.3 }
    local got = drive_by_fd(e, 1, 5)
    assert.are.equal("timeout", got[id].error_kind)
    local dt = core.now() - t0
    assert.is_true(dt >= 0.25 and dt < 2, "took " .. dt)
    e:close()
  end)

  it("step(0) never waits; step(t) blocks instead of spinning while nothing happens", function()
    local e = core.engine()
    sim:faults { { route = "fetch", kind = "slow_first_byte", delay = 3, times = 1 } }
    e:request { url = sim.url .. "/mj/task/1/fetch", timeout = 10 }
    local t0 = core.now()
    for _ = 1, 20 do assert.is_nil((e:step(0))) end
    assert.is_true(core.now() - t0 < 0.5, "step(0) waited")
    -- step(t) returns early when libcurl's own timers are due, so count calls over a window
    t0 = core.now()
    local calls = 0
    while core.now() - t0 < 0.6 do
      assert.is_nil((e:step(0.3)))
      calls = calls + 1
    end
    assert.is_true(calls <= 30, "step(0.3) returned " .. calls .. " times in 0.6 s: it spins")
    e:close()
  end)
end)

-- A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request with a description of
-- it (method, path, connection number, body, header names and values), pumped from the test's
-- own loop like one_response_server. Paths: /redirect answers 302 to /final; /slow/<ms>
-- answers after that many milliseconds (measured on core.now, no sleeping).
local function echo_server()
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(0)
  local _, port = srv:getsockname()
  local s = { url = "http://127.0.0.1:" .. port, connections = 0 }
  local conns = {}
  local function answer(c, req)
    local status, extra, body = "200 OK", "", "moved"
    if req.path == "/redirect" then
      status, extra = "302 Found", "Location: /final\r\n"
    elseif req.path:match("/rel$") then
      status, extra = "302 Found", "Location: next\r\n" -- relative to the request's path
    else
      local lines = { "method=" .. req.method, "path=" .. req.path, "conn=" .. c.n,
        "body=" .. #req.body .. ":" .. req.body }
      for _, h in ipairs(req.headers) do lines[#lines + 1] = "h:" .. h end
      body = table.concat(lines, "\n")
    end
    if req.method == "HEAD" then extra = extra .. "X-Head: yes\r\n" end
    local resp = "HTTP/1.1 " .. status .. "\r\nContent-Type: text/plain\r\n" .. extra ..
      "Content-Length: " .. #body .. "\r\n\r\n" .. (req.method == "HEAD" and "" or body)
    local ms = tonumber(req.path:match("^/slow/(%d+)$") or "0")
    c.out[#c.out + 1] = { due = core.now() + ms / 1000, data = resp }
  end
  local function parse(c)
    while true do
      local head_end = c.buf:find("\r\n\r\n", 1, true)
      if not head_end then return end
      local head = c.buf:sub(1, head_end - 1)
      local method, path = head:match("^(%u+) (%S+) HTTP/1%.1")
      local req = { method = method, path = path, headers = {}, body = "" }
      local len = 0
      for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
        req.headers[#req.headers + 1] = name:lower() .. "=" .. value
        if name:lower() == "content-length" then len = tonumber(value) end
      end
      if #c.buf < head_end + 3 + len then return end
      req.body = c.buf:sub(head_end + 4, head_end + 3 + len)
      c.buf = c.buf:sub(head_end + 4 + len)
      answer(c, req)
    end
  end
  function s.pump()
    while true do
      local conn = srv:accept()
      if not conn then break end
      conn:settimeout(0)
      s.connections = s.connections + 1
      conns[#conns + 1] = { sock = conn, buf = "", out = {}, n = s.connections }
    end
    for i = #conns, 1, -1 do
      local c = conns[i]
      local data, err, partial = c.sock:receive(65536)
      c.buf = c.buf .. (data or partial or "")
      parse(c)
      while c.out[1] and c.out[1].due <= core.now() do
        local o = c.out[1]
        local n, _, last = c.sock:send(o.data)
        n = n or last or 0
        if n < #o.data then
          o.data = o.data:sub(n + 1)
          break
        end
        table.remove(c.out, 1)
      end
      if err == "closed" then
        c.sock:close()
        table.remove(conns, i)
      end
    end
  end
  function s.close()
    for _, c in ipairs(conns) do c.sock:close() end
    srv:close()
  end
  return s
end

-- One request on e against the echo server, to its record; the server is pumped meanwhile.
local function exchange(e, srv, spec)
  local id = e:request(spec)
  local deadline = core.now() + 10
  while true do
    assert(core.now() < deadline, "engine did not finish the transfer in time")
    srv.pump()
    for _, r in ipairs(e:step(0.002) or {}) do
      if r.id == id then return r end
    end
  end
end

local function field(r, name) return r.body and r.body:match("\n?" .. name .. "=([^\n]*)") end

-- The engine keeps each finished transfer's easy handle configured for the next request and
-- changes only the options that differ: nothing one request set may reach the next one. The
-- requests here run one after another on one engine, so each reuses the previous handle.
describe("core.engine: a reused handle keeps nothing from the previous request", function()
  local srv, e
  before_each(function()
    srv = echo_server()
    e = core.engine()
  end)
  after_each(function()
    e:close()
    srv.close()
  end)

  it("a POST then a GET: the GET sends no body and is a GET", function()
    local r = exchange(e, srv, { method = "POST", url = srv.url .. "/a", body = "x=1&y=2" })
    assert.are.equal("POST", field(r, "method"))
    assert.are.equal("7:x=1&y=2", field(r, "body"))
    r = exchange(e, srv, { url = srv.url .. "/b" })
    assert.are.equal("GET", field(r, "method"))
    assert.are.equal("0:", field(r, "body"))
    assert.is_nil(r.body:match("h:content%-length"))
    assert.is_nil(r.body:match("h:expect"))
    -- a shorter body after a longer one, then an empty one: exactly the bytes given
    r = exchange(e, srv, { method = "POST", url = srv.url .. "/c", body = "long body bytes" })
    assert.are.equal("15:long body bytes", field(r, "body"))
    r = exchange(e, srv, { method = "POST", url = srv.url .. "/c", body = "ab" })
    assert.are.equal("2:ab", field(r, "body"))
    r = exchange(e, srv, { method = "POST", url = srv.url .. "/c" })
    assert.are.equal("POST", field(r, "method"))
    assert.are.equal("0:", field(r, "body"))
  end)

  it("HEAD, PUT and DELETE leave nothing behind", function()
    local r = exchange(e, srv, { method = "HEAD", url = srv.url .. "/h" })
    assert.are.equal(200, r.status)
    assert.are.equal("", r.body)
    r = exchange(e, srv, { url = srv.url .. "/g" })
    assert.are.equal("GET", field(r, "method"))
    r = exchange(e, srv, { method = "PUT", url = srv.url .. "/p", body = "put body" })
    assert.are.equal("PUT", field(r, "method"))
    assert.are.equal("8:put body", field(r, "body"))
    r = exchange(e, srv, { method = "DELETE", url = srv.url .. "/d" })
    assert.are.equal("DELETE", field(r, "method"))
    assert.are.equal("0:", field(r, "body"))
    r = exchange(e, srv, { method = "POST", url = srv.url .. "/p", body = "post" })
    assert.are.equal("4:post", field(r, "body"))
    r = exchange(e, srv, { method = "DELETE", url = srv.url .. "/d" })
    assert.are.equal("DELETE", field(r, "method"))
    assert.are.equal("0:", field(r, "body"))
    r = exchange(e, srv, { url = srv.url .. "/g" })
    assert.are.equal("GET", field(r, "method"))
    assert.are.equal("0:", field(r, "body"))
  end)

  it("a download to a file, then an in-memory request", function()
    local path = os.tmpname()
    local r = exchange(e, srv, { url = srv.url .. "/file", file = path })
    assert.are.equal(path, r.file)
    assert.is_nil(r.body)
    r = exchange(e, srv, { url = srv.url .. "/memory" })
    assert.is_nil(r.file)
    assert.are.equal("/memory", field(r, "path"))
    local f = assert(io.open(path, "rb"))
    local data = f:read("*a")
    f:close()
    os.remove(path)
    assert.are.equal("/file", field({ body = data }, "path"))
  end)

  it("follow, then no follow", function()
    local r = exchange(e, srv, { url = srv.url .. "/redirect", follow = true })
    assert.are.equal(200, r.status)
    assert.are.equal("/final", field(r, "path"))
    r = exchange(e, srv, { url = srv.url .. "/redirect" })
    assert.are.equal(302, r.status)
    assert.are.equal("/final", r.location)
    assert.are.equal("moved", r.body)
    r = exchange(e, srv, { url = srv.url .. "/redirect", follow = true })
    assert.are.equal(200, r.status)
    assert.are.equal("/final", field(r, "path"))
  end)

  it("the same URL again, then another: a relative redirect resolves against each request's own URL", function()
    for _, dir in ipairs { "a", "b", "a" } do
      for _ = 1, 3 do -- the second and third reuse the handle's parsed URL
        local r = exchange(e, srv, { url = srv.url .. "/" .. dir .. "/rel", follow = true })
        assert.are.equal(200, r.status)
        assert.are.equal("/" .. dir .. "/next", field(r, "path"))
      end
      for _ = 1, 2 do
        local r = exchange(e, srv, { url = srv.url .. "/" .. dir .. "/x?q=" .. dir })
        assert.are.equal("/" .. dir .. "/x?q=" .. dir, field(r, "path"))
      end
    end
    for _ = 1, 3 do
      local r = exchange(e, srv, { url = srv.url .. "/same?k=v" })
      assert.are.equal("/same?k=v", field(r, "path"))
    end
  end)

  it("fresh_connect, then not", function()
    exchange(e, srv, { url = srv.url .. "/1" })
    assert.are.equal(1, srv.connections)
    exchange(e, srv, { url = srv.url .. "/2", fresh_connect = true })
    assert.are.equal(2, srv.connections)
    exchange(e, srv, { url = srv.url .. "/3" }) -- reuses a kept-alive connection
    assert.are.equal(2, srv.connections)
    exchange(e, srv, { url = srv.url .. "/4", fresh_connect = true })
    assert.are.equal(3, srv.connections)
  end)

  it("a timeout or a low-speed limit, then none", function()
    local r = exchange(e, srv, { url = srv.url .. "/fast", timeout = 0.3 })
    assert.is_nil(r.error)
    r = exchange(e, srv, { url = srv.url .. "/slow/600" })
    assert.is_nil(r.error)
    assert.are.equal(200, r.status)
    r = exchange(e, srv, { url = srv.url .. "/fast", low_speed_limit = 1000000, low_speed_time = 1 })
    assert.is_nil(r.error)
    r = exchange(e, srv, { url = srv.url .. "/slow/1300" })
    assert.is_nil(r.error)
    assert.are.equal(200, r.status)
    -- and a timeout still applies when asked for
    r = exchange(e, srv, { url = srv.url .. "/slow/2000", timeout = 0.2 })
    assert.are.equal("timeout", r.error_kind)
  end)

  it("headers, then other headers or none", function()
    local h = { "X-Leak: 1" }
    local r = exchange(e, srv, { url = srv.url .. "/h", headers = h })
    assert.matches("h:x%-leak=1", r.body)
    r = exchange(e, srv, { url = srv.url .. "/h" })
    assert.is_nil(r.body:match("x%-leak"))
    h[1] = "X-Other: 2" -- the same table with other contents
    r = exchange(e, srv, { url = srv.url .. "/h", headers = h })
    assert.is_nil(r.body:match("x%-leak"))
    assert.matches("h:x%-other=2", r.body)
    h[2] = "X-Third: 3"
    r = exchange(e, srv, { url = srv.url .. "/h", headers = h })
    assert.matches("h:x%-other=2", r.body)
    assert.matches("h:x%-third=3", r.body)
    -- every request asks for compressed answers, unless it says otherwise
    assert.matches("h:accept%-encoding=[%w ,]+", r.body)
    r = exchange(e, srv, { url = srv.url .. "/h", headers = { "Accept-Encoding: identity" } })
    local _, n = r.body:gsub("h:accept%-encoding=", "")
    assert.are.equal(1, n)
    assert.matches("h:accept%-encoding=identity", r.body)
  end)

  it("an error, then a success, then another error: each record has its own outcome", function()
    local r = exchange(e, srv, { url = srv.url .. "/ok" })
    assert.is_true(r.sent)
    r = exchange(e, srv, { url = "http://127.0.0.1:1/", connect_timeout = 5 })
    assert.are.equal("connect", r.error_kind)
    assert.is_false(r.sent)
    assert.are.equal(0, r.status)
    local refused = r.error
    r = exchange(e, srv, { url = srv.url .. "/ok" })
    assert.is_nil(r.error)
    assert.is_true(r.sent)
    assert.are.equal(200, r.status)
    r = exchange(e, srv, { url = srv.url .. "/slow/2000", timeout = 0.1 })
    assert.are.equal("timeout", r.error_kind)
    assert.are_not.equal(refused, r.error)
    r = exchange(e, srv, { url = srv.url .. "/big", max_body = 10 })
    assert.are.equal("too_large", r.error_kind)
    r = exchange(e, srv, { url = srv.url .. "/big" })
    assert.is_nil(r.error)
    assert.is_true(#r.body > 10)
    -- a cancelled transfer's handle serves the next request too
    local id = e:request { url = srv.url .. "/slow/2000" }
    e:step(0)
    assert.is_true(e:cancel(id))
    r = exchange(e, srv, { url = srv.url .. "/after-cancel" })
    assert.are.equal("/after-cancel", field(r, "path"))
  end)

  it("many requests on a few handles (pooled, reset every few dozen uses) all come back right", function()
    for i = 1, 100 do
      local spec = { url = srv.url .. "/n" .. i }
      if i % 3 == 0 then spec.method, spec.body = "POST", "b" .. i end
      if i % 7 == 0 then spec.headers = { "X-I: " .. i } end
      local r = exchange(e, srv, spec)
      assert.are.equal("/n" .. i, field(r, "path"))
      assert.are.equal(i % 3 == 0 and "POST" or "GET", field(r, "method"))
      assert.are.equal(i % 3 == 0 and (#("b" .. i) .. ":b" .. i) or "0:", field(r, "body"))
      assert.are.equal(i % 7 == 0 and tostring(i) or nil, r.body:match("h:x%-i=(%d+)"))
    end
    assert.are.equal(1, srv.connections)
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
