-- Baseline: Debian lua-curl 0.3.0 (Lua-cURLv2 API) + lua-cjson, one easy handle
-- reused (keep-alive), GET + full decode + read status/progress.
-- Run: luajit bench/clients/luacurl.lua URL N
local lib = require("bench.lib")
if not pcall(require, "curl") then lib.na("lua-curl not installed (apt-get install lua-curl)") end
local curl = require("curl")
local cjson = require("cjson")
local url, n = arg[1], tonumber(arg[2])
local c = curl.easy_init()
c:setopt(curl.OPT_URL, url)
c:setopt(curl.OPT_NOSIGNAL, 1)
local parts, np = {}, 0
c:setopt(curl.OPT_WRITEFUNCTION, function(s)
  np = np + 1
  parts[np] = s
  return #s
end)
local errors, seen = 0, 0
local wall, cpu = lib.loop(n, function()
  np = 0
  local ok = c:perform()
  local body = table.concat(parts, "", 1, np)
  local t = cjson.decode(body)
  if ok ~= 0 or t.status ~= "SUCCESS" then errors = errors + 1 end
  if t.progress then seen = seen + 1 end
end)
local _, hwm = lib.rss()
lib.result{ n = n, wall = wall, cpu = cpu, rss_kb = hwm, errors = errors + (n - seen) }
