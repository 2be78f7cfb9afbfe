-- The event drivers against a gateway that answers late (bench/clients/slow_server.lua,
-- started here as a child process), through midjourney.drivers.luv in MODE:
--   events.lua MODE wakeups N INTERVAL SECONDS DELAY_MS
--     N waits (client:wait, coalesced) sit between their polls for SECONDS; prints the
--     driver's wakeups per second and the poll requests per second
--   events.lua MODE latency N DELAY_MS JITTER_MS
--     N requests, one after another; for each, the time from the answer's write on the
--     server (the body's "sent_at") to the coroutine's resume: median, p99, max in ms
-- MODE is "event" or "tick". Run with lua5.4 or luajit (the server runs under lua5.4).
local lib = require("bench.lib")
local okm, mj = pcall(require, "midjourney")
if not okm or type(mj) ~= "table" or type(mj.fd) ~= "function" then
  lib.na("midjourney event interface not built yet")
end
local okd, driver = pcall(require, "midjourney.drivers.luv")
if not okd then lib.na("midjourney.drivers.luv: " .. tostring(driver)) end
local oku, uv = pcall(require, "luv")
if not oku then lib.na("luv not installed (apt-get install lua-luv)") end
local scheduler = require("midjourney.scheduler")
local core = require("midjourney.core")

local mode, what = arg[1], arg[2]

-- start the server, read its port
local function start_server(delay_ms, jitter_ms)
  local stdout = uv.new_pipe(false)
  local handle, pid = uv.spawn("lua5.4", { args = { "bench/clients/slow_server.lua", tostring(delay_ms),
    tostring(jitter_ms or 0) }, stdio = { nil, stdout, 2 } }, function() end)
  if not handle then lib.na("could not start the slow server: " .. tostring(pid)) end
  local port
  stdout:read_start(function(err, chunk)
    assert(not err, err)
    if chunk then port = port or tonumber(chunk:match("(%d+)")) end
    if port then stdout:read_stop() end
  end)
  while not port do uv.run("once") end
  stdout:close()
  return "http://127.0.0.1:" .. port, function()
    uv.process_kill(handle, "sigterm")
    handle:close()
    uv.run("nowait")
  end
end

driver.attach(nil, { mode = mode })

if what == "wakeups" then
  local n, interval, seconds, delay = tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6])
  local base, stop = start_server(delay, 0)
  local client = mj.new { base_url = base, api_key = "bench" }
  local requests = 0
  local res = driver.run(function()
    local hs = {}
    for i = 1, n do
      local id = string.format("%d", 1773314942000000 + i)
      hs[i] = mj.spawn(function()
        return client:wait(id, { first_delay = 0, interval = interval, timeout = 3600 })
      end)
    end
    mj.sleep(interval * 1.5) -- every wait has polled once
    local w0, r0, t0 = driver.status().wakeups, requests, scheduler.now()
    mj.sleep(seconds)
    local w1, r1, t1 = driver.status().wakeups, requests, scheduler.now()
    local waiting = 0
    for _, h in ipairs(hs) do
      if h:status() == "running" then waiting = waiting + 1 end
      h:cancel()
    end
    mj.join(hs)
    return { wakeups = w1 - w0, requests = r1 - r0, seconds = t1 - t0, waiting = waiting }
  end)
  stop()
  lib.result { n = n, mode = mode, wakeups_per_s = res.wakeups / res.seconds, seconds = res.seconds,
    waiting = res.waiting, errors = n - res.waiting }
elseif what == "latency" then
  local n, delay, jitter = tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
  local base, stop = start_server(delay, jitter)
  local lat = {}
  local errors = 0
  driver.run(function()
    for i = 1, n do
      local rec = scheduler.request { url = base .. "/ping/" .. i, timeout = 10 }
      local now = core.now()
      local sent = rec.body and tonumber(rec.body:match('"sent_at":([%d%.]+)'))
      if rec.status == 200 and sent then lat[#lat + 1] = (now - sent) * 1000 else errors = errors + 1 end
    end
  end)
  stop()
  table.sort(lat)
  local function pct(p) return lat[math.max(1, math.ceil(p * #lat))] or 0 end
  lib.result { n = n, mode = mode, lat_med_ms = pct(0.5), lat_p99_ms = pct(0.99), lat_max_ms = lat[#lat] or 0,
    wakeups = driver.status().wakeups, errors = errors }
else
  error("usage: events.lua event|tick wakeups N INTERVAL SECONDS DELAY_MS | latency N DELAY_MS JITTER_MS")
end
