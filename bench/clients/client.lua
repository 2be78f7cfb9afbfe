-- Our public client (lua/midjourney): what every poll does.
--   client.lua fetch BASE_URL N          mj.new{...}:fetch(id), read task.status/task.progress
--   client.lua download URL FILE         client:download(url, FILE)
-- Run with lua5.4 or luajit (LUA_PATH with lua/?.lua;lua/?/init.lua, LUA_CPATH build/<lua>/?.so).
local lib = require("bench.lib")
local okm, mj = pcall(require, "midjourney")
if not okm or type(mj) ~= "table" or type(mj.new) ~= "function" then
  lib.na("midjourney Lua layer not built yet")
end
local mode, base = arg[1], arg[2]

if mode == "fetch" then
  local n = tonumber(arg[3])
  local client = mj.new{ base_url = base, api_key = "bench" }
  if type(client.fetch) ~= "function" then lib.na("client:fetch not built yet") end
  local id = "1773314942177684"
  local t0 = client:fetch(id) -- also checks it works before timing
  if not t0 then lib.na("client:fetch failed: " .. tostring(select(2, client:fetch(id)))) end
  local errors = 0
  local wall, cpu = lib.loop(n, function()
    local task = client:fetch(id)
    if not task or task.status ~= "SUCCESS" or task.progress == nil then errors = errors + 1 end
  end)
  local _, hwm = lib.rss()
  lib.result{ n = n, wall = wall, cpu = cpu, rss_kb = hwm, errors = errors }
elseif mode == "download" then
  local path = arg[3]
  local client = mj.new{ base_url = base:match("^(http://[^/]+)"), api_key = "bench" }
  if type(client.download) ~= "function" then lib.na("client:download not built yet") end
  collectgarbage("collect")
  local rss0 = lib.rss()
  local w0, c0 = lib.now(), lib.cpu()
  local ok, res, err = pcall(client.download, client, base, path)
  local wall, cpu = lib.now() - w0, lib.cpu() - c0
  if not ok or not res then lib.na("client:download failed: " .. tostring(ok and err or res)) end
  local f = io.open(path, "rb")
  local size = f and f:seek("end") or 0
  if f then f:close() end
  local _, hwm = lib.rss()
  lib.result{ n = 1, wall = wall, cpu = cpu, rss_kb = hwm, rss0_kb = rss0, bytes = size,
    errors = size > 0 and 0 or 1 }
else
  error("usage: client.lua fetch BASE_URL N | download URL FILE")
end
