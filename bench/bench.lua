-- The benchmark driver (run by bench/run.sh): lua5.4 bench/bench.lua URL TMPDIR ROOT
-- Runs every client program interleaved REPS times, then the callgrind instruction
-- counts, the 1,000-waits run, the downloads and the image split, and prints one table plus
-- every issue-7 target as "measured / baseline = ratio (target ...)".
-- Benchmarks, not tests: the numbers are printed, nothing here passes or fails.
local URL, T, ROOT = arg[1], arg[2], arg[3]
local QUICK = os.getenv("BENCH_QUICK") == "1"
local CALLGRIND = os.getenv("BENCH_CALLGRIND") ~= "0" and not QUICK
local REPS = tonumber(os.getenv("BENCH_REPS") or "") or (QUICK and 2 or 5)
local N_SEQ = QUICK and 1000 or 4000
local N_DECODE = QUICK and 5000 or 20000
local N_MULTI = QUICK and 5000 or 20000
local INFLIGHT = 256
local CG_N1, CG_N2 = 500, 1500 -- callgrind: instructions(N2) - instructions(N1), per request
local N_WAITS, N_WAITS10K, WAIT_INTERVAL = 1000, 10000, 1.0

local FETCH = URL .. "/mj/task/1773314942177684/fetch"
local BIG = URL .. "/mj/image/big"

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function env_for(interp)
  if interp == "c" or interp == "sh" then return "" end
  local lua = interp == "luajit" and "luajit" or "lua5.4"
  return "env LUA_PATH=" .. sh_quote(ROOT .. "/?.lua;" .. T .. "/lua/?.lua;" .. T .. "/lua/?/init.lua;;")
    .. " LUA_CPATH=" .. sh_quote(T .. "/cpath/" .. lua .. "/?.so;;") .. " "
end

local function command(b, n)
  local args = {}
  for i, a in ipairs(b.args) do args[i] = sh_quote(a == "$N" and n or a) end
  local prog = b.interp == "c" and sh_quote(T .. "/raw") or b.interp == "sh" and "" or b.interp
  return env_for(b.interp) .. prog .. " " .. table.concat(args, " ")
end

local errn = 0
-- runs a shell command; returns the parsed RESULT table, or nil + reason
local function run(cmd)
  errn = errn + 1
  local errfile = T .. "/out/err" .. errn .. ".txt"
  local p = io.popen(cmd .. " 2>" .. errfile)
  local out = p:read("a")
  p:close()
  local ef = io.open(errfile)
  local err = ef and ef:read("a") or ""
  if ef then ef:close() end
  local na = out:match("NA ([^\n]*)")
  if na then return nil, "n/a (" .. na .. ")", err end
  local line = out:match("RESULT ([^\n]*)")
  if not line then
    local why = (err ~= "" and err or out):gsub("%s+", " "):sub(1, 160)
    return nil, "failed: " .. why, err
  end
  local r = {}
  for k, v in line:gmatch("([%w_]+)=(%S+)") do r[k] = tonumber(v) or v end
  return r, nil, err
end

local function median(xs)
  local t = {}
  for i, x in ipairs(xs) do t[i] = x end
  table.sort(t)
  local n = #t
  if n == 0 then return nil end
  if n % 2 == 1 then return t[(n + 1) / 2] end
  return (t[n / 2] + t[n / 2 + 1]) / 2
end
local function minmax(xs)
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(xs) do
    if x < lo then lo = x end
    if x > hi then hi = x end
  end
  return lo, hi
end

local function log(...) io.stderr:write(string.format(...), "\n") end

---------------------------------------------------------------------------
-- the clients

local seq = {
  { key = "raw", label = "raw C loop, libcurl easy handle reused, no decode", interp = "c",
    args = { "seq", FETCH, "$N" }, cg = true },
  { key = "engine_seq", label = "our engine: request + step, no parse", interp = "lua5.4",
    args = { "bench/clients/engine.lua", "seq", FETCH, "$N" }, cg = true },
  { key = "engine_poll", label = "our engine + core.scan_json + parse_progress", interp = "lua5.4",
    args = { "bench/clients/engine.lua", "poll", FETCH, "$N" }, cg = true },
  { key = "engine_poll_jit", label = "our engine + core.scan_json + parse_progress", interp = "luajit",
    args = { "bench/clients/engine.lua", "poll", FETCH, "$N" }, cg = true },
  { key = "client", label = "our client:fetch(id), read task.status/progress", interp = "lua5.4",
    args = { "bench/clients/client.lua", "fetch", URL, "$N" }, cg = true },
  { key = "client_jit", label = "our client:fetch(id), read task.status/progress", interp = "luajit",
    args = { "bench/clients/client.lua", "fetch", URL, "$N" }, cg = true },
  { key = "luacurl", label = "Debian lua-curl 0.3.0 (Lua-cURLv2) + lua-cjson", interp = "luajit",
    args = { "bench/clients/luacurl.lua", FETCH, "$N" }, cg = true },
  { key = "luahttp", label = "lua-http 0.4 (cqueues), kept-alive connection + lua-cjson", interp = "luajit",
    args = { "bench/clients/luahttp.lua", FETCH, "$N" }, cg = true },
  { key = "luasocket", label = "LuaSocket socket.http + lua-cjson (new connection each)", interp = "lua5.4",
    args = { "bench/clients/luasocket.lua", FETCH, "$N" }, cg = true },
  { key = "cjson", label = "lua-cjson decode of the task alone (no HTTP)", interp = "lua5.4",
    args = { "bench/clients/cjson.lua", T .. "/www/task.json", "$N" }, cg = true, n = N_DECODE },
  { key = "cjson_jit", label = "lua-cjson decode of the task alone (no HTTP)", interp = "luajit",
    args = { "bench/clients/cjson.lua", T .. "/www/task.json", "$N" }, n = N_DECODE },
}
local multi = {
  { key = "raw_multi", label = "raw C libcurl multi, 256 in flight, no decode", interp = "c",
    args = { "multi", FETCH, "$N", tostring(INFLIGHT) }, cg = true },
  { key = "engine_multi", label = "our engine, 256 in flight, no parse", interp = "lua5.4",
    args = { "bench/clients/engine.lua", "multi", FETCH, "$N", tostring(INFLIGHT) }, cg = true },
  { key = "engine_multi_jit", label = "our engine, 256 in flight, no parse", interp = "luajit",
    args = { "bench/clients/engine.lua", "multi", FETCH, "$N", tostring(INFLIGHT) }, cg = true },
}
local downloads = {
  { key = "curl_cli", label = "curl -o (command line)", interp = "sh",
    args = {} },
  { key = "raw_dl", label = "raw C libcurl to a FILE*", interp = "c",
    args = { "download", BIG, T .. "/out/raw.bin" } },
  { key = "engine_dl", label = "our engine, file = path", interp = "lua5.4",
    args = { "bench/clients/engine.lua", "download", BIG, T .. "/out/engine.bin" } },
  { key = "client_dl", label = "our client:download(url, path)", interp = "lua5.4",
    args = { "bench/clients/client.lua", "download", BIG, T .. "/out/client.bin" } },
}

-- splitting a 2048 x 2048 PNG grid (midjourney.image.split) against ImageMagick and against the
-- same libraries reached another way (decode, crop in Lua, encode_png per quadrant)
local GRID = T .. "/www/grid2048.png"
local N_SPLIT = QUICK and 1 or 2
local splits = {
  { key = "split", label = "image.split(grid) (libspng decode, crop in C, 4 × PNG level 6)", interp = "lua5.4",
    args = { "bench/clients/image_split.lua", "split", GRID, "$N" } },
  { key = "split_jit", label = "image.split(grid) (libspng decode, crop in C, 4 × PNG level 6)", interp = "luajit",
    args = { "bench/clients/image_split.lua", "split", GRID, "$N" } },
  { key = "split_manual", label = "image.decode + crop in Lua + 4 × image.encode_png (same libraries)",
    interp = "lua5.4", args = { "bench/clients/image_split.lua", "manual", GRID, "$N" } },
  { key = "split_convert", label = "ImageMagick convert grid.png -crop 2x2@ +repage (zlib level 7)", interp = "sh",
    args = {} },
}

local results = {} -- key -> { runs = {RESULT...}, na = reason, cg = instr/request }

local function record(b, r, why)
  local e = results[b.key] or { runs = {} }
  results[b.key] = e
  if r and (r.errors or 0) == 0 then
    e.runs[#e.runs + 1] = r
  elseif r then
    e.na = e.na or ("errors=" .. tostring(r.errors))
  else
    e.na = e.na or why
  end
end

local function curl_cli_run()
  -- GNU time gives curl's own user+sys CPU and peak RSS
  local cmd = "/usr/bin/time -f 'TIME %e %U %S %M' curl -s -o " .. sh_quote(T .. "/out/curl.bin") .. " " .. sh_quote(BIG)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  local e, u, s, m = out:match("TIME (%S+) (%S+) (%S+) (%d+)")
  if not e then return nil, "failed: " .. out:sub(1, 120) end
  return { n = 1, wall = tonumber(e), cpu = tonumber(u) + tonumber(s), rss_kb = tonumber(m), errors = 0 }
end

local t_begin = os.time()
log("bench: %d interleaved repetitions; server %s", REPS, URL)
for rep = 1, REPS do
  log("bench: round %d/%d", rep, REPS)
  for _, b in ipairs(seq) do
    if not (results[b.key] and results[b.key].na) then
      local r, why = run(command(b, b.n or N_SEQ))
      record(b, r, why)
    end
  end
  for _, b in ipairs(multi) do
    if not (results[b.key] and results[b.key].na) then
      local r, why = run(command(b, N_MULTI))
      record(b, r, why)
    end
  end
end

-- downloads (64 MiB each), interleaved, fewer repetitions
for rep = 1, REPS do
  log("bench: downloads %d", rep)
  for _, b in ipairs(downloads) do
    if not (results[b.key] and results[b.key].na) then
      local r, why
      if b.key == "curl_cli" then r, why = curl_cli_run() else r, why = run(command(b, 1)) end
      record(b, r, why)
    end
    os.remove(T .. "/out/raw.bin"); os.remove(T .. "/out/engine.bin")
    os.remove(T .. "/out/client.bin"); os.remove(T .. "/out/curl.bin")
  end
end

-- image split: make the grid once, then the four paths interleaved
local function convert_run()
  local im = io.open("/usr/bin/convert") and "/usr/bin/convert" or nil -- not a stand-in elsewhere on PATH
  if not im then return nil, "n/a (ImageMagick missing: apt-get install imagemagick)" end
  local cmd = "/usr/bin/time -f 'TIME %e %U %S %M' " .. im .. " " .. sh_quote(GRID) .. " -crop 2x2@ +repage "
    .. sh_quote(T .. "/out/crop-%d.png")
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  local e, u, s, m = out:match("TIME (%S+) (%S+) (%S+) (%d+)")
  if not e then return nil, "failed: " .. out:sub(1, 120) end
  local bytes = 0
  for i = 0, 3 do
    local f = io.open(T .. "/out/crop-" .. i .. ".png", "rb")
    if f then bytes = bytes + f:seek("end"); f:close() end
    os.remove(T .. "/out/crop-" .. i .. ".png")
  end
  return { n = 1, wall = tonumber(e), cpu = tonumber(u) + tonumber(s), rss_kb = tonumber(m), errors = 0,
    out_bytes = bytes }
end
do
  log("bench: image split, making the 2048 x 2048 grid")
  local maker = { interp = "lua5.4", args = { "bench/clients/image_split.lua", "make", GRID, "2048" } }
  local made, why = run(command(maker, 0))
  for rep = 1, REPS do
    log("bench: image split %d", rep)
    for _, b in ipairs(splits) do
      if not made then
        record(b, nil, why)
      elseif not (results[b.key] and results[b.key].na) then
        local r, why2
        if b.key == "split_convert" then r, why2 = convert_run() else r, why2 = run(command(b, N_SPLIT)) end
        record(b, r, why2)
      end
    end
  end
end

-- waits (one run each: about 3 intervals + completion): 1,000 coroutines each waiting on
-- its task (both Lua builds; Lua 5.4 also in generational GC mode), and 10,000 tasks waited
-- on from one coroutine with client:wait_all (plain records in the poller)
local wait_runs = {
  { key = "waits", interp = "lua5.4", n = N_WAITS, mode = "coroutines", gc = "incremental",
    label = "1,000 coroutines, client:wait each" },
  { key = "waits_jit", interp = "luajit", n = N_WAITS, mode = "coroutines", gc = "incremental",
    label = "1,000 coroutines, client:wait each" },
  { key = "waits_gen", interp = "lua5.4", n = N_WAITS, mode = "coroutines", gc = "generational",
    label = "1,000 coroutines, client:wait each, generational GC" },
  { key = "waits10k", interp = "lua5.4", n = N_WAITS10K, mode = "records", gc = "incremental",
    label = "10,000 tasks, one client:wait_all" },
  { key = "waits10k_jit", interp = "luajit", n = N_WAITS10K, mode = "records", gc = "incremental",
    label = "10,000 tasks, one client:wait_all" },
}
for _, b in ipairs(wait_runs) do
  log("bench: waits: %s (%s)", b.label, b.interp)
  b.args = { "bench/clients/waits.lua", URL, T .. "/www/state", T .. "/logs/list.log",
    T .. "/www/ids.txt", tostring(b.n), tostring(WAIT_INTERVAL), b.mode, b.gc }
  if os.getenv("BENCH_HAVE_NJS") == "0" then
    record(b, nil, "n/a (nginx njs module missing: apt-get install libnginx-mod-http-js)")
  else
    local r, why = run(command(b, 0))
    record(b, r, why)
  end
end

-- event drivers (midjourney.drivers.luv, event vs tick mode) against a gateway stand-in that
-- answers late (bench/clients/slow_server.lua): wakeups with idle waits, answer-to-resume latency
local EV_WAITS, EV_INTERVAL, EV_SECONDS, EV_DELAY = 100, 1.0, QUICK and 3 or 6, 250
local EV_PINGS, EV_PING_DELAY, EV_PING_JITTER = QUICK and 100 or 300, 20, 20
local events = {}
for _, interp in ipairs { "lua5.4", "luajit" } do
  for _, mode in ipairs { "tick", "event" } do
    events[#events + 1] = { key = "ev_wake_" .. mode .. "_" .. interp, interp = interp, mode = mode, what = "wakeups",
      args = { "bench/clients/events.lua", mode, "wakeups", tostring(EV_WAITS), tostring(EV_INTERVAL),
        tostring(EV_SECONDS), tostring(EV_DELAY) } }
    events[#events + 1] = { key = "ev_lat_" .. mode .. "_" .. interp, interp = interp, mode = mode, what = "latency",
      args = { "bench/clients/events.lua", mode, "latency", tostring(EV_PINGS), tostring(EV_PING_DELAY),
        tostring(EV_PING_JITTER) } }
  end
end
log("bench: event drivers (%d idle waits for %d s; %d late answers), tick vs event", EV_WAITS, EV_SECONDS, EV_PINGS)
for _, b in ipairs(events) do
  local r, why = run(command(b, 0))
  record(b, r, why)
end

-- callgrind: instructions per request, startup removed by differencing
local cg_list = {}
for _, b in ipairs(seq) do cg_list[#cg_list + 1] = b end
for _, b in ipairs(multi) do cg_list[#cg_list + 1] = b end
if CALLGRIND then
  for _, b in ipairs(cg_list) do
    local e = results[b.key]
    if b.cg and e and not e.na then
      log("bench: callgrind %s (%s)", b.key, b.interp)
      local counts = {}
      local n1, n2 = CG_N1, CG_N2
      if b.key:find("multi") then n1, n2 = 1000, 3000 end
      for i, n in ipairs{ n1, n2 } do
        local cmd = command(b, n)
        -- valgrind goes after the env prefix
        local envp, rest = cmd:match("^(env .- LUA_CPATH=%S+ )(.*)$")
        if not envp then envp, rest = "", cmd end
        local r, why, err = run(envp .. "valgrind --tool=callgrind --callgrind-out-file=/dev/null " .. rest)
        local c = err and err:match("Collected : (%d+)")
        if r and c then counts[i] = tonumber(c) else
          log("bench: callgrind %s failed: %s", b.key, tostring(why))
        end
      end
      if counts[1] and counts[2] then e.cg = (counts[2] - counts[1]) / (n2 - n1) end
    end
  end
end

---------------------------------------------------------------------------
-- the report

local function stat(key, f)
  local e = results[key]
  if not e or #e.runs == 0 then return nil end
  local xs = {}
  for i, r in ipairs(e.runs) do xs[i] = f(r) end
  local lo, hi = minmax(xs)
  return median(xs), lo, hi
end
local function fmt(v, digits)
  if v == nil then return "—" end
  if digits == 0 then
    local s = string.format("%.0f", v)
    return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
  end
  return string.format("%." .. (digits or 1) .. "f", v)
end
local function range(key, f, digits)
  local m, lo, hi = stat(key, f)
  if not m then return "—" end
  if #results[key].runs == 1 then return fmt(m, digits) end
  return fmt(m, digits) .. " (" .. fmt(lo, digits) .. "–" .. fmt(hi, digits) .. ")"
end
local function na_or(key, s)
  local e = results[key]
  if not e or #e.runs == 0 then
    local why = e and e.na or "n/a"
    if why:find("not built", 1, true) then return "n/a (not built yet)" end
    return why
  end
  return s
end

local cpu_us = function(r) return r.cpu / r.n * 1e6 end
local wall_us = function(r) return r.wall / r.n * 1e6 end
local rps = function(r) return r.n / r.wall end
local rss = function(r) return r.rss_kb end

local out = {}
local function p(...) out[#out + 1] = string.format(...) end

p("## Sequential GET of the 1.3 KB task (keep-alive unless noted) + parse + read status/progress")
p("")
p("%d interleaved runs of %d requests each (decode rows: %d decodes); median (min–max).", REPS, N_SEQ, N_DECODE)
p("")
p("| client | Lua | CPU µs/request | wall µs/request | requests/s | instructions/request (callgrind) | peak RSS KiB |")
p("|---|---|---|---|---|---|---|")
for _, b in ipairs(seq) do
  local interp = b.interp == "c" and "C" or b.interp
  local e = results[b.key]
  local row = na_or(b.key, nil)
  if row then
    p("| %s | %s | %s | | | | |", b.label, interp, row)
  else
    p("| %s | %s | %s | %s | %s | %s | %s |", b.label, interp, range(b.key, cpu_us), range(b.key, wall_us),
      range(b.key, rps, 0), e.cg and fmt(e.cg, 0) or (CALLGRIND and b.cg and "failed" or "—"),
      fmt((stat(b.key, rss)), 0))
  end
end
p("")
p("## %d requests, %d in flight", N_MULTI, INFLIGHT)
p("")
p("| client | Lua | requests/s | CPU µs/request | instructions/request (callgrind) | peak RSS KiB |")
p("|---|---|---|---|---|---|")
for _, b in ipairs(multi) do
  local interp = b.interp == "c" and "C" or b.interp
  local row = na_or(b.key, nil)
  if row then p("| %s | %s | %s | | | |", b.label, interp, row) else
    local e = results[b.key]
    p("| %s | %s | %s | %s | %s | %s |", b.label, interp, range(b.key, rps, 0), range(b.key, cpu_us),
      e.cg and fmt(e.cg, 0) or "—", fmt((stat(b.key, rss)), 0))
  end
end
p("")
p("## 64 MiB download to disk")
p("")
p("| client | MiB/s | CPU ms | peak RSS KiB | RSS growth KiB |")
p("|---|---|---|---|---|")
local mibs = function(r) return 64 / r.wall end
local growth = function(r) return r.rss0_kb and (r.rss_kb - r.rss0_kb) or nil end
for _, b in ipairs(downloads) do
  local row = na_or(b.key, nil)
  if row then p("| %s | %s | | | |", b.label, row) else
    local g = stat(b.key, function(r) return growth(r) or 0 end)
    p("| %s | %s | %s | %s | %s |", b.label, range(b.key, mibs, 0), range(b.key, function(r) return r.cpu * 1000 end, 0),
      fmt((stat(b.key, rss)), 0), results[b.key].runs[1].rss0_kb and fmt(g, 0) or "—")
  end
end
p("")
p("## Split a 2048 × 2048 PNG grid into four PNGs (midjourney.image)")
p("")
p("%d interleaved runs (our rows: %d splits per process, per-split figures); median (min–max). RSS growth: peak"
  .. " minus the process's RSS before the first split.", REPS, N_SPLIT)
p("")
p("| path | Lua | wall ms/split | CPU ms/split | peak RSS KiB | RSS growth KiB | output bytes (4 PNGs) |")
p("|---|---|---|---|---|---|---|")
local split_ms = function(r) return r.wall / r.n * 1000 end
local split_cpu = function(r) return r.cpu / r.n * 1000 end
for _, b in ipairs(splits) do
  local interp = b.interp == "sh" and "C" or b.interp
  local row = na_or(b.key, nil)
  if row then p("| %s | %s | %s | | | | |", b.label, interp, row) else
    local e = results[b.key]
    p("| %s | %s | %s | %s | %s | %s | %s |", b.label, interp, range(b.key, split_ms, 0), range(b.key, split_cpu, 0),
      fmt((stat(b.key, rss)), 0),
      e.runs[1].rss0_kb and fmt((stat(b.key, function(r) return r.rss_kb - r.rss0_kb end)), 0) or "—",
      fmt(e.runs[1].out_bytes, 0))
  end
end
p("")
p("## Tasks waited on (coalesced, interval %.1f s, batch 50), host loop mj.step(0) + 1 ms", WAIT_INTERVAL)
p("")
p("| waits | Lua | mj.step(0) median | p99 | max after the first | first step | RSS/waiting task "
  .. "| list requests/interval | completion noticed after | waits done |")
p("|---|---|---|---|---|---|---|---|---|---|")
for _, b in ipairs(wait_runs) do
  local r = results[b.key] and results[b.key].runs[1]
  if r then
    p("| %s | %s | %.3f ms | %.3f ms | %.2f ms | %.2f ms | %.2f KiB | %s | %.2f s (%.2f intervals) | %d/%d |",
      b.label, b.interp, r.step_med_ms, r.step_p99_ms, r.step_max_rest_ms, r.step_first_ms, r.per_task_kb,
      fmt(r.list_requests_per_interval, 1), r.notice_s, r.notice_intervals, r.done, r.n)
  else
    p("| %s | %s | %s | | | | | | | |", b.label, b.interp, na_or(b.key, "n/a"))
  end
end

p("")
p("## Event-loop drivers (midjourney.drivers.luv): tick mode vs event mode")
p("")
p("The gateway stand-in answers %d ms late, as over a network. Wakeups: %d waits (coalesced, interval %.0f s) "
  .. "sitting between their polls for %d s; the driver's wakeups (its timer and descriptor callbacks) per "
  .. "second. Latency: %d requests one after another, answers %d–%d ms late; from the answer's write on the "
  .. "server to the coroutine's resume (one clock, CLOCK_MONOTONIC).", EV_DELAY, EV_WAITS, EV_INTERVAL, EV_SECONDS,
  EV_PINGS, EV_PING_DELAY, EV_PING_DELAY + EV_PING_JITTER)
p("")
p("| Lua | mode | wakeups/s, %d idle waits | answer → resume median | p99 | max |", EV_WAITS)
p("|---|---|---|---|---|---|")
local function ev(key, field)
  local e = results[key]
  return e and #e.runs > 0 and e.runs[1][field] or nil
end
for _, interp in ipairs { "lua5.4", "luajit" } do
  for _, mode in ipairs { "tick", "event" } do
    local wk, lk = "ev_wake_" .. mode .. "_" .. interp, "ev_lat_" .. mode .. "_" .. interp
    local wake = ev(wk, "wakeups_per_s")
    local med = ev(lk, "lat_med_ms")
    p("| %s | %s | %s | %s | %s | %s |", interp, mode, wake and fmt(wake, 1) or na_or(wk, "—"),
      med and (fmt(med, 3) .. " ms") or na_or(lk, "—"), med and (fmt(ev(lk, "lat_p99_ms"), 2) .. " ms") or "",
      med and (fmt(ev(lk, "lat_max_ms"), 2) .. " ms") or "")
  end
end

-- targets
p("")
p("## Targets (the performance issue)")
p("")
local function ratio_line(name, m, base, target_op, target, unit, lower_better)
  if not m or not base then
    p("   - %s: %s", name, (unit == 0 and lower_better and not CALLGRIND) and "n/a (callgrind skipped)"
      or "n/a (not built yet)")
    return
  end
  local r = m / base
  local ok = lower_better and r <= target or (not lower_better and r >= target)
  p("   - %s: %s / %s = **%.2f** (target %s %.2f) %s", name, fmt(m, unit), fmt(base, unit), r, target_op, target,
    ok and "met" or "NOT met")
end
local function cg(key) return results[key] and results[key].cg end
local function med(key, f) return (stat(key, f)) end
local function wr(key) return results[key] and results[key].runs[1] end

p("1. Poll path (client:fetch + read status/progress), instructions/request:")
ratio_line("client:fetch vs raw C loop, Lua 5.4", cg("client"), cg("raw"), "≤", 1.75, 0, true)
ratio_line("client:fetch vs raw C loop, LuaJIT", cg("client_jit"), cg("raw"), "≤", 1.75, 0, true)
for _, peer in ipairs { "luacurl", "luahttp", "luasocket" } do
  ratio_line("client:fetch (LuaJIT) vs " .. peer .. " + cjson", cg("client_jit"), cg(peer), "≤", 0.8, 0, true)
  ratio_line("client:fetch (Lua 5.4) vs " .. peer .. " + cjson", cg("client"), cg(peer), "≤", 0.8, 0, true)
end
p("2. The engine alone (request + step, no parse), instructions/request vs raw C loop:")
ratio_line("engine, Lua 5.4", cg("engine_seq"), cg("raw"), "≤", 1.25, 0, true)
p("3. 256 in flight, requests/s (wall) vs raw C multi:")
ratio_line("engine, Lua 5.4", med("engine_multi", rps), med("raw_multi", rps), "≥", 0.95, 0, false)
ratio_line("engine, LuaJIT", med("engine_multi_jit", rps), med("raw_multi", rps), "≥", 0.95, 0, false)
p("   same, from instructions/request (raw instr / engine instr; deterministic):")
local function inv(k) return cg(k) and 1 / cg(k) * 1e6 or nil end
ratio_line("engine, Lua 5.4 (requests per 10^6 instructions)", inv("engine_multi"), inv("raw_multi"), "≥", 0.95, 2, false)
ratio_line("engine, LuaJIT (requests per 10^6 instructions)", inv("engine_multi_jit"), inv("raw_multi"), "≥", 0.95, 2,
  false)
p("4. Host loop with %d coalesced waits, longest mj.step(0) after the first, ms:", N_WAITS)
for _, k in ipairs { "waits", "waits_jit", "waits_gen" } do
  local r = wr(k)
  ratio_line(k == "waits_gen" and "Lua 5.4, generational GC (an experiment)" or (k == "waits" and "Lua 5.4" or "LuaJIT"),
    r and r.step_max_rest_ms, 2, "≤", 1, 2, true)
end
p("5. %d coalesced waits in one process (client:wait_all):", N_WAITS10K)
for _, k in ipairs { "waits10k", "waits10k_jit" } do
  local r = wr(k)
  local interp = k == "waits10k" and "Lua 5.4" or "LuaJIT"
  ratio_line("longest mj.step(0) after the first, ms, " .. interp, r and r.step_max_rest_ms, 5, "≤", 1, 2, true)
  ratio_line("KiB RSS per waiting task, " .. interp, r and r.per_task_kb, 4, "≤", 1, 2, true)
  ratio_line("list requests per interval vs ceil(N/50) = 200, " .. interp, r and r.list_requests_per_interval, 200,
    "≤", 1, 1, true)
  ratio_line("waits completed, " .. interp, r and r.done, r and r.n, "≥", 1, 0, false)
end
p("6. Nothing regresses (64 MiB download):")
ratio_line("client:download throughput vs curl -o", med("client_dl", mibs), med("curl_cli", mibs), "≥", 1, 0, false)
ratio_line("engine (file=) throughput vs curl -o", med("engine_dl", mibs), med("curl_cli", mibs), "≥", 1, 0, false)
local g = med("client_dl", function(r) return growth(r) or 0 end)
ratio_line("client:download RSS growth, KiB vs 1 MiB", g, 1024, "≤", 1, 0, true)
p("7. Split a 2048 × 2048 PNG grid (no target; lower is better):")
do
  local function plain(name, m, base, unit)
    if not m or not base then p("   - %s: n/a", name) return end
    p("   - %s: %s / %s = **%.2f**", name, fmt(m, unit), fmt(base, unit), m / base)
  end
  local convert_cpu = med("split_convert", split_cpu)
  plain("image.split CPU ms vs convert -crop 2x2@, Lua 5.4", med("split", split_cpu), convert_cpu, 0)
  plain("image.split CPU ms vs convert -crop 2x2@, LuaJIT", med("split_jit", split_cpu), convert_cpu, 0)
  plain("image.split peak RSS KiB vs convert", med("split", rss), med("split_convert", rss), 0)
  plain("image.split CPU ms vs decode + Lua crop + encode_png", med("split", split_cpu),
    med("split_manual", split_cpu), 0)
end
p("8. Event-loop drivers (event mode vs tick mode; lower is better):")
for _, interp in ipairs { "lua5.4", "luajit" } do
  ratio_line("wakeups/s with " .. EV_WAITS .. " idle waits, event vs tick, " .. interp,
    ev("ev_wake_event_" .. interp, "wakeups_per_s"), ev("ev_wake_tick_" .. interp, "wakeups_per_s"), "≤", 0.25, 1, true)
  ratio_line("answer → resume median, event mode vs one 10 ms tick, " .. interp,
    ev("ev_lat_event_" .. interp, "lat_med_ms"), 10, "≤", 0.1, 3, true)
end
p("")
p("Total bench time: %d s.", os.time() - t_begin)

print(table.concat(out, "\n"))
