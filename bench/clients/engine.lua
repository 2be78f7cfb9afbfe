-- Our engine (midjourney.core, DESIGN.md "Engine"), without the Lua layer.
--   engine.lua seq URL N        GET, step until the record, no parse
--   engine.lua poll URL N       GET + core.scan_json, read status, parse progress
--                               (falls back to lua-cjson when scan_json is missing)
--   engine.lua multi URL N K    K requests in flight until N have completed
--   engine.lua download URL FILE
-- Run with lua5.4 or luajit; LUA_CPATH must point at build/<lua>/?.so.
local lib = require("bench.lib")
local okc, core = pcall(require, "midjourney.core")
if not okc then lib.na("midjourney.core not built") end
if type(core.engine) ~= "function" then lib.na("core.engine not built yet") end
local mode, url = arg[1], arg[2]

local e = core.engine{ max_host_connections = tonumber(os.getenv("BENCH_MAXCONN") or "") }

local function one(spec)
  local id = e:request(spec)
  while true do
    local recs = e:step(5)
    if recs then
      for _, r in ipairs(recs) do
        if r.id == id then return r end
      end
    end
  end
end

if mode == "seq" or mode == "poll" then
  local n = tonumber(arg[3])
  local spec = { method = "GET", url = url }
  local parse
  if mode == "poll" then
    local scan, progress = core.scan_json, core.parse_progress
    if type(scan) == "function" and type(progress) == "function" then
      parse = function(body)
        local info = scan(body)
        return info.fields.status, progress(info.fields.progress)
      end
    else
      local cjson = require("cjson")
      parse = function(body)
        local t = cjson.decode(body)
        return t.status, t.progress
      end
      io.stderr:write("engine.lua: core.scan_json/parse_progress missing, parsing with lua-cjson\n")
    end
  end
  local errors = 0
  local wall, cpu = lib.loop(n, function()
    local r = one(spec)
    if r.status ~= 200 or not r.body then errors = errors + 1 end
    if parse then
      local st, pr = parse(r.body)
      if st ~= "SUCCESS" or not pr then errors = errors + 1 end
    end
  end)
  local _, hwm = lib.rss()
  lib.result{ n = n, wall = wall, cpu = cpu, rss_kb = hwm, errors = errors }
elseif mode == "multi" then
  local n, k = tonumber(arg[3]), tonumber(arg[4])
  local spec = { method = "GET", url = url }
  local started, done, errors = 0, 0, 0
  local w0, c0 = lib.now(), lib.cpu()
  while started < k and started < n do
    e:request(spec)
    started = started + 1
  end
  while done < n do
    local recs = e:step(1)
    if recs then
      for _, r in ipairs(recs) do
        done = done + 1
        if r.status ~= 200 or not r.body then errors = errors + 1 end
        if started < n then
          e:request(spec)
          started = started + 1
        end
      end
    end
  end
  local wall, cpu = lib.now() - w0, lib.cpu() - c0
  local _, hwm = lib.rss()
  lib.result{ n = n, wall = wall, cpu = cpu, rss_kb = hwm, errors = errors, inflight = k }
elseif mode == "download" then
  local path = arg[3]
  collectgarbage("collect")
  local rss0 = lib.rss()
  local w0, c0 = lib.now(), lib.cpu()
  local r = one{ method = "GET", url = url, file = path, max_body = 1024 * 1024 * 1024, timeout = 120 }
  local wall, cpu = lib.now() - w0, lib.cpu() - c0
  local _, hwm = lib.rss()
  lib.result{ n = 1, wall = wall, cpu = cpu, rss_kb = hwm, rss0_kb = rss0, bytes = r.size or 0,
    errors = (r.status == 200 and not r.error) and 0 or 1 }
else
  error("usage: engine.lua seq|poll|multi|download ...")
end
