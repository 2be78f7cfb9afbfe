-- Baseline: LuaSocket socket.http + lua-cjson (a new connection per request:
-- socket.http has no keep-alive), GET + full decode + read status/progress.
-- Run: lua5.4 bench/clients/luasocket.lua URL N
local lib = require("bench.lib")
local http = require("socket.http")
local cjson = require("cjson")
local url, n = arg[1], tonumber(arg[2])
local errors = 0
local wall, cpu = lib.loop(n, function()
  local body, code = http.request(url)
  local t = body and cjson.decode(body)
  if code ~= 200 or not t or t.status ~= "SUCCESS" or not t.progress then errors = errors + 1 end
end)
local _, hwm = lib.rss()
lib.result{ n = n, wall = wall, cpu = cpu, rss_kb = hwm, errors = errors }
