-- Baseline: lua-http 0.4 (cqueues) + lua-cjson. One HTTP/1.1 connection reused
-- (http.client + a new stream per request), GET + full decode + read status/progress.
-- Run: luajit bench/clients/luahttp.lua URL N
local lib = require("bench.lib")
if not pcall(require, "http.client") then lib.na("lua-http not installed (apt-get install lua-http)") end
local client = require("http.client")
local new_headers = require("http.headers").new
local cjson = require("cjson")
local url, n = arg[1], tonumber(arg[2])
local host, port, path = url:match("^http://([^:/]+):(%d+)(/.*)$")
local conn = assert(client.connect{ host = host, port = tonumber(port), tls = false, version = 1.1 })
local errors = 0
local wall, cpu = lib.loop(n, function()
  local h = new_headers()
  h:append(":method", "GET")
  h:append(":scheme", "http")
  h:append(":authority", host .. ":" .. port)
  h:append(":path", path)
  local stream = assert(conn:new_stream())
  assert(stream:write_headers(h, true))
  local rh = assert(stream:get_headers())
  local body = assert(stream:get_body_as_string())
  local t = cjson.decode(body)
  if rh:get(":status") ~= "200" or t.status ~= "SUCCESS" or not t.progress then errors = errors + 1 end
end)
conn:close()
local _, hwm = lib.rss()
lib.result{ n = n, wall = wall, cpu = cpu, rss_kb = hwm, errors = errors }
