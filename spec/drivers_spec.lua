-- The event-loop drivers against the simulator: luv (plain libuv scripts, luvit) and
-- cqueues (lua-http's loop), on both interpreters. The Neovim driver, which steps through
-- the luv one, has its own spec (spec/nvim_spec.lua).
local mj = require "midjourney"
local scheduler = require "midjourney.scheduler"
local simulator = require "spec.helpers.simulator"
local idle_waits = require "spec.hosts.idle_waits"

local function need(module, package)
  local ok, mod = pcall(require, module)
  assert(ok, module .. " is not installed for " .. tostring(os.getenv("MJ_TEST_LUA") or _VERSION)
    .. " (apt-get install " .. package .. "; sh scripts/deps.sh test)")
  return mod
end

local WAIT = { first_delay = 0, interval = 0.2, timeout = 60 }

-- A scheduler on the real core whose engines have no descriptor, as on a platform
-- without epoll or kqueue: the drivers must fall back to ticking.
local function scheduler_without_fd()
  local core = require "midjourney.core"
  local proxy = setmetatable({
    engine = function(opts)
      local e = core.engine(opts)
      return setmetatable({}, { __index = function(_, k)
        if k == "fd" then return function() return nil end end
        local v = e[k]
        if type(v) == "function" then return function(_, ...) return v(e, ...) end end
        return v
      end })
    end,
  }, { __index = core })
  return scheduler.new { core = proxy }
end

-- A wait's poller may still sleep out its interval after the wait returned: step the
-- default scheduler until it is idle, so the next test starts clean.
local function drain()
  local deadline = scheduler.now() + 5
  while scheduler.busy() and scheduler.now() < deadline do mj.step(0.05) end
  assert.is_false(scheduler.busy(), "the default scheduler is still busy 5 s after the test")
end

describe("luv driver", function()
  local uv, driver
  setup(function()
    uv = need("luv", "lua-luv")
    driver = require "midjourney.drivers.luv"
  end)
  local sim = simulator.for_block { speed = 200, key = "sk-test" }
  local client
  before_each(function() client = mj.new { base_url = sim.url, api_key = sim.key } end)
  after_each(function()
    driver.detach()
    uv.run("nowait") -- let libuv finish closing the driver's handles
    drain()
  end)

  it("run: a job runs to SUCCESS in event mode, and the loop is left with nothing of the driver's", function()
    local task = driver.run(function()
      local id = assert(client:imagine("a paper boat"))
      return assert(client:wait(id, WAIT))
    end)
    assert.equal("SUCCESS", task.status)
    assert.equal(9, #task.buttons)
    local st = driver.status()
    assert.equal("event", st.mode)
    assert.is_false(st.attached)
    assert.is_false(st.active)
    assert.equal(0, st.errors)
    assert.is_true(st.poll_wakeups > 0, "the answers never woke the loop through the descriptor")
    -- the driver holds no handle now: uv.run returns at once
    assert.is_false(uv.run("nowait"))
  end)

  it("run: returns fn's values, raises fn's error; mode tick runs the same job", function()
    assert.same({ 1, nil, 3 }, { driver.run(function() mj.sleep(0.01) return 1, nil, 3 end) })
    local ok, err = pcall(driver.run, function() mj.sleep(0.01) error("boom", 0) end)
    assert.is_false(ok)
    assert.equal("boom", err)
    assert.has_error(function() driver.run("not a function") end, "run: fn must be a function")
    driver.attach(nil, { mode = "tick" })
    local task = driver.run(function() return assert(client:wait(assert(client:imagine("a raft")), WAIT)) end)
    assert.equal("SUCCESS", task.status)
    assert.equal("tick", driver.status().mode)
    assert.equal(0, driver.status().poll_wakeups)
  end)

  it("attach: keeps the scheduler moving inside a running loop beside the loop's own handles", function()
    local a = driver.attach()
    assert.equal(a, driver.attach(), "one attachment per scheduler")
    local frames, task = 0, nil
    local frame = uv.new_timer()
    frame:start(10, 10, function()
      frames = frames + 1
      if task then frame:stop(); frame:close() end
    end)
    -- a watchdog that does not keep the loop alive
    local watchdog = uv.new_timer()
    watchdog:start(20000, 0, function() uv.stop() end)
    watchdog:unref()
    local h = mj.spawn(function()
      local id = assert(client:imagine("a lighthouse"))
      task = assert(client:wait(id, WAIT))
    end)
    uv.run() -- returns when nothing is left: the job ended and the driver let go of the loop
    watchdog:close()
    assert.equal("done", h:status())
    assert.equal("SUCCESS", task.status)
    assert.is_true(frames >= 10, "the loop's own timer ran " .. frames .. " times during the job")
    assert.is_false(a:status().active)
    assert.equal(1, a:status().starts)
    assert.equal(1, a:status().stops)
  end)

  it("a new engine after the old one was closed: the driver watches the new descriptor", function()
    sim:faults { { kind = "slow_first_byte", delay = 5, route = "fetch", times = 1 } }
    local first, second, old_fd, new_fd
    driver.run(function()
      local h = mj.spawn(function()
        return scheduler.request { url = sim.url .. "/mj/task/1/fetch", headers = { "Authorization: Bearer sk-test" } }
      end)
      mj.sleep(0.2)
      old_fd = mj.fd()
      scheduler.close()
      mj.join { h }
      first = h:result()
      new_fd = mj.fd()
      second = scheduler.request { url = sim.url .. "/_sim/stats" }
    end)
    assert.equal("cancelled", first.error_kind)
    assert.equal(200, second.status)
    assert.is_number(old_fd)
    assert.is_number(new_fd)
    assert.equal(0, driver.status().errors)
  end)

  it("ten waits between polls: event mode wakes only for the polls' timers and answers, tick mode far more", function()
    -- a slow simulator (the tasks stay in progress) whose list answers take 0.25 s, as
    -- over a real network: tick mode ticks every 10 ms while an answer is on its way
    local slow = simulator.start { speed = 1, key = "sk-test" }
    slow:faults { { kind = "slow_first_byte", delay = 0.25, route = "list", times = -1 } }
    local c = mj.new { base_url = slow.url, api_key = slow.key }
    local function requests() return slow:count("list") + slow:count("fetch") end
    local res = {}
    for _, mode in ipairs { "event", "tick" } do
      driver.attach(nil, { mode = mode })
      res[mode] = driver.run(function()
        return idle_waits.run { client = c, status = driver.status, requests = requests, interval = 0.5,
          warmup = 0.8, window = 2.5 }
      end)
      assert.equal(mode, driver.status().mode)
      driver.detach()
      uv.run("nowait")
    end
    slow:stop()
    local ev, tk = res.event, res.tick
    local msg = ("event: %d wakeups for %d requests; tick: %d wakeups for %d requests"):format(ev.wakeups,
      ev.requests, tk.wakeups, tk.requests)
    assert.equal(10, ev.waiting, "the waits ended early: " .. msg)
    assert.equal(10, tk.waiting)
    assert.is_true(ev.requests >= 3 and tk.requests >= 3, msg)
    -- each poll costs its round's timer and its answer (plus a little slack)
    assert.is_true(ev.wakeups <= 3 * ev.requests + 3, msg)
    assert.is_true(tk.wakeups >= 3 * ev.wakeups, msg)
  end)

  it("no descriptor (no epoll or kqueue): event mode falls back to ticking, on a scheduler of one's own", function()
    local s = scheduler_without_fd()
    assert.is_nil(s:fd())
    local a = driver.attach(nil, { scheduler = s })
    assert.is_nil(driver.attachment(), "the default scheduler is not attached")
    local watchdog = uv.new_timer()
    watchdog:start(20000, 0, function() uv.stop() end)
    watchdog:unref()
    local h = s:spawn(function()
      s:sleep(0.05)
      return s:request { url = sim.url .. "/_sim/stats" }.status
    end)
    uv.run()
    watchdog:close()
    assert.equal(200, (h:result()))
    local st = a:status()
    assert.equal("tick", st.mode)
    assert.equal(0, st.poll_wakeups)
    assert.is_false(st.active)
    a:detach()
  end)

  it("options are checked: unknown keys (with a suggestion), bad modes and values raise", function()
    assert.has_error(function() driver.attach(nil, { mdoe = "tick" }) end,
      "attach: unknown option 'mdoe' (did you mean 'mode'?)")
    assert.has_error(function() driver.attach(nil, { mode = "fast" }) end,
      'attach: option \'mode\' must be "event" or "tick", got fast')
    assert.has_error(function() driver.attach(nil, { interval = 0 }) end,
      "attach: option 'interval' must be a number of milliseconds >= 1, got 0")
    assert.has_error(function() driver.attach({}) end, "attach: uv must be the luv module")
    assert.is_nil(driver.attachment())
  end)
end)

-- An HTTP server in the controller: lua-http where it is installed (Debian ships it for
-- Lua 5.1-5.3, so LuaJIT here), else a small one on cqueues sockets (Lua 5.4).
local function http_server(cq)
  local served = 0
  local ok_http = pcall(require, "http.server")
  if ok_http then
    local headers = require "http.headers"
    local server = assert(require("http.server").listen { host = "127.0.0.1", port = 0, cq = cq,
      onstream = function(_, stream)
        assert(stream:get_headers())
        local res = headers.new()
        res:append(":status", "200")
        res:append("content-type", "text/plain")
        assert(stream:write_headers(res, false))
        assert(stream:write_chunk("hello", true))
        served = served + 1
      end })
    assert(server:listen())
    local _, host, port = server:localname()
    local request = require "http.request"
    return {
      kind = "lua-http",
      url = ("http://%s:%d/hello"):format(host, port),
      get = function(url)
        local _, stream = assert(request.new_from_uri(url):go(5))
        return assert(stream:get_body_as_string())
      end,
      served = function() return served end,
      close = function() server:close() end,
    }
  end
  local cqueues = require "cqueues"
  local socket = require "cqueues.socket"
  local srv = assert(socket.listen { host = "127.0.0.1", port = 0 })
  assert(srv:listen())
  local _, host, port = srv:localname()
  local closed = false
  cq:wrap(function()
    while not closed do
      local conn = srv:accept(0.05)
      if conn then
        cq:wrap(function()
          conn:settimeout(5)
          for line in conn:lines("*l") do if line == "" or line == "\r" then break end end
          assert(conn:write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
            .. "Connection: close\r\n\r\nhello"))
          conn:flush()
          conn:close()
          served = served + 1
        end)
      end
    end
    srv:close()
  end)
  return {
    kind = "cqueues.socket",
    url = ("http://%s:%d/hello"):format(host, port),
    get = function()
      local conn = assert(socket.connect(host, port))
      conn:settimeout(5)
      assert(conn:write("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
      conn:flush()
      local all = conn:read("*a")
      conn:close()
      cqueues.poll(0) -- let the server coroutine finish
      return all:match("\r\n\r\n(.*)$")
    end,
    served = function() return served end,
    close = function() closed = true end,
  }
end

describe("cqueues driver", function()
  local cqueues, driver
  setup(function()
    cqueues = need("cqueues", "lua-cqueues")
    driver = require "midjourney.drivers.cqueues"
  end)
  local sim = simulator.for_block { speed = 200, key = "sk-test" }
  local client
  before_each(function() client = mj.new { base_url = sim.url, api_key = sim.key } end)
  after_each(function()
    driver.detach()
    drain()
  end)

  it("call: a job runs to SUCCESS inside a controller, which then ends by itself", function()
    local cq = cqueues.new()
    local task
    cq:wrap(function()
      task = driver.call(function() return assert(client:wait(assert(client:imagine("a paper boat")), WAIT)) end)
    end)
    local ok, err = cq:loop(30)
    assert.is_true(ok, tostring(err))
    assert.is_true(cq:empty(), "the driver's coroutine is still in the controller")
    assert.equal("SUCCESS", task.status)
    local st = driver.status()
    assert.is_false(st.active)
    assert.equal(0, st.errors)
    assert.is_true(st.starts >= 1 and st.starts == st.stops)
  end)

  it("a cqueues program serves HTTP while a job runs, and both finish", function()
    local cq = cqueues.new()
    driver.attach(cq)
    local server = http_server(cq)
    local task, local_rec
    local answers, answers_during = 0, 0
    cq:wrap(function()
      task = driver.call(function()
        local id = assert(client:imagine("a harbour at night"))
        -- the job itself asks the server that shares its thread
        local_rec = scheduler.request { url = server.url, headers = { "Connection: close" }, timeout = 10 }
        return assert(client:wait(id, WAIT))
      end)
    end)
    cq:wrap(function()
      repeat
        assert.equal("hello", server.get(server.url))
        answers = answers + 1
        if not task then answers_during = answers_during + 1 end
        cqueues.sleep(0.02)
      until task
      server.close()
    end)
    local ok, err = cq:loop(30)
    assert.is_true(ok, server.kind .. ": " .. tostring(err))
    assert.is_true(cq:empty())
    assert.equal("SUCCESS", task.status)
    assert.equal(200, local_rec.status)
    assert.equal("hello", local_rec.body)
    assert.is_true(answers_during >= 5, server.kind .. " answered only " .. answers_during .. " times during the job")
    assert.equal(answers + 1, server.served())
  end)

  it("cqueues.poll(mj) works as the README writes it: the three-line loop", function()
    local cq = cqueues.new()
    local task
    cq:wrap(function()
      local h = mj.spawn(function() return assert(client:wait(assert(client:imagine("a kite")), WAIT)) end)
      while mj.busy() do
        cqueues.poll(mj)
        mj.step(0)
      end
      task = h:result()
    end)
    assert.is_true((cq:loop(30)))
    assert.equal("SUCCESS", task.status)
  end)

  it("no descriptor (no epoll or kqueue): the coroutine ticks instead, on a scheduler of one's own", function()
    local s = scheduler_without_fd()
    local cq = cqueues.new()
    local a = driver.attach(cq, { scheduler = s })
    local h = s:spawn(function()
      s:sleep(0.05)
      return s:request { url = sim.url .. "/_sim/stats" }.status
    end)
    assert.is_true((cq:loop(20)))
    assert.equal(200, (h:result()))
    assert.is_false(a:status().active)
    assert.equal(0, a:status().errors)
    a:detach()
  end)

  it("argument checks: attach wants a controller, one per scheduler; call wants a cqueues coroutine", function()
    assert.has_error(function() driver.attach({}) end, "attach: cq must be a cqueues controller")
    local cq = cqueues.new()
    assert.has_error(function() driver.attach(cq, { schedular = true }) end,
      "attach: unknown option 'schedular' (did you mean 'scheduler'?)")
    local a = driver.attach(cq)
    assert.equal(a, driver.attach(cq))
    assert.has_error(function() driver.attach(cqueues.new()) end,
      "attach: the scheduler is attached to another controller (detach it first)")
    assert.has_error(function() driver.call(function() end) end,
      "call: not inside a cqueues coroutine (use mj.run in plain code)")
    -- fn's error reaches the caller
    local err
    cq:wrap(function()
      local ok, e = pcall(driver.call, function() mj.sleep(0.01) error("boom", 0) end)
      err = not ok and e
    end)
    assert.is_true((cq:loop(10)))
    assert.equal("boom", err)
  end)
end)

describe("#once README driver examples", function()
  local read = simulator.read_file
  local root = os.getenv("PWD") or "."
  local sim = simulator.for_block { speed = 200, key = "sk-readme" }

  -- the first ```lua block after a heading, run as written under Lua 5.4 with the
  -- simulator as COMETAPI_BASE_URL
  local function run_block(heading)
    local text = read(root .. "/README.md")
    local at = assert(text:find(heading, 1, true), "README has no heading " .. heading)
    local code = assert(text:match("```lua\n(.-)```", at), "no lua block after " .. heading)
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(code)
    f:close()
    local cmd = ("COMETAPI_BASE_URL=%s COMETAPI_KEY=%s LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' "
      .. "LUA_CPATH='%s/build/lua5.4/?.so;;' timeout 60 lua5.4 %s 2>&1")
      :format(sim.url, sim.key, root, root, root, file)
    local p = io.popen(cmd)
    local out = p:read("*a")
    local ok, _, rc = p:close()
    os.remove(file)
    return ok == true or rc == 0, out
  end

  it("the libuv example runs a job to SUCCESS", function()
    local ok, out = run_block("### libuv (luv, luvit)")
    assert.is_true(ok, out)
    assert.truthy(out:find("^SUCCESS\t"), out)
  end)

  it("the cqueues example runs a job to SUCCESS", function()
    local ok, out = run_block("### cqueues (lua-http)")
    assert.is_true(ok, out)
    assert.truthy(out:find("^SUCCESS\t"), out)
  end)

  it("the three-line loop runs as written", function()
    local ok, out = run_block("### Any other event loop")
    assert.is_true(ok, out)
    assert.equal("done\n", out)
  end)
end)
