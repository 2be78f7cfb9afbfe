-- lua-cjson decode of the task alone (no HTTP), then read status/progress.
-- Run: lua5.4 bench/clients/cjson.lua FILE N
local lib = require("bench.lib")
local cjson = require("cjson")
local path, n = arg[1], tonumber(arg[2])
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()
local errors = 0
local wall, cpu = lib.loop(n, function()
  local t = cjson.decode(body)
  if t.status ~= "SUCCESS" or not t.progress then errors = errors + 1 end
end)
local _, hwm = lib.rss()
lib.result{ n = n, wall = wall, cpu = cpu, rss_kb = hwm, errors = errors }
