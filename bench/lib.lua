-- Shared helpers for the benchmark client programs (Lua 5.1/LuaJIT and 5.4).
-- Every program prints one line: RESULT key=value ... (read by bench/bench.lua).
local socket = require("socket")

local lib = {}

lib.now = socket.gettime -- wall clock, seconds (float)
lib.cpu = os.clock       -- process CPU time, seconds

-- resident set size in KiB: current (VmRSS) and peak (VmHWM)
function lib.rss()
  local f = io.open("/proc/self/status", "r")
  if not f then return 0, 0 end
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)")) or 0, tonumber(text:match("VmHWM:%s*(%d+)")) or 0
end

function lib.result(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(v) == "number" then
      if v == math.floor(v) and v > -2^53 and v < 2^53 then
        v = string.format("%d", v)
      else
        v = string.format("%.6f", v)
      end
    end
    out[#out + 1] = k .. "=" .. tostring(v)
  end
  io.stdout:write("RESULT ", table.concat(out, " "), "\n")
  io.stdout:flush()
end

-- "n/a" result for a part whose library code is not there yet
function lib.na(why)
  io.stdout:write("NA ", why, "\n")
  io.stdout:flush()
  os.exit(0)
end

-- times fn(i) for i = 1..n; returns wall, cpu
function lib.loop(n, fn)
  local w0, c0 = lib.now(), lib.cpu()
  for i = 1, n do fn(i) end
  return lib.now() - w0, lib.cpu() - c0
end

return lib
