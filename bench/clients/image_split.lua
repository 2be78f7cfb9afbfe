-- Benchmark client for midjourney.image.split (run by bench/bench.lua):
--   LUA bench/clients/image_split.lua make PATH [SIZE]   write a SIZE x SIZE PNG grid (default 2048)
--   LUA bench/clients/image_split.lua split PATH N       split it N times (the four PNGs go nowhere)
--   LUA bench/clients/image_split.lua manual PATH N      the same through another path of the same
--                                                       libraries: image.decode, crop in Lua, image.encode_png x4
-- Prints RESULT n= wall= cpu= rss_kb= rss0_kb= out_bytes= (wall/cpu: seconds for all N).
local lib = require("bench.lib")
local ok, image = pcall(require, "midjourney.image")
if not ok then lib.na("midjourney.image_core not built: " .. tostring(image):sub(1, 80)) end

local mode, path, n = arg[1], arg[2], tonumber(arg[3] or "")

if mode == "make" then
  -- four photo-like quadrants: smooth gradients, a soft disc and low noise (compresses like a picture)
  local size = n or 2048
  local half = size / 2
  local floor, char, concat = math.floor, string.char, table.concat
  local seed = 12345
  local rows = {}
  for y = 0, size - 1 do
    local row = {}
    for x = 0, size - 1 do
      seed = (seed * 1103515245 + 12345) % 2147483648
      local noise = floor(seed / 65536) % 9 - 4
      local qd = (y < half and 0 or 2) + (x < half and 0 or 1)
      local dx, dy = (x % half) - half / 2, (y % half) - half / 2
      local disc = (dx * dx + dy * dy < half * half / 9) and 60 or 0
      local r = (x * 90 / size + qd * 50 + disc + noise) % 256
      local g = (y * 120 / size + qd * 30 + noise) % 256
      local b = ((x + y) * 60 / size + qd * 70 + disc / 2 + noise) % 256
      row[x + 1] = char(floor(r), floor(g), floor(b))
    end
    rows[y + 1] = concat(row)
  end
  local png = assert(image.encode_png{ width = size, height = size, channels = 3, pixels = concat(rows) })
  local f = assert(io.open(path, "wb"))
  f:write(png)
  f:close()
  print("RESULT n=1 bytes=" .. #png)
  return
end

local f = assert(io.open(path, "rb"))
local bytes = f:read("*a")
f:close()
local _, rss0 = lib.rss()
local out_bytes = 0
local wall, cpu
if mode == "split" then
  wall, cpu = lib.loop(n, function()
    local parts = assert(image.split(bytes))
    out_bytes = #parts[1] + #parts[2] + #parts[3] + #parts[4]
  end)
elseif mode == "manual" then
  wall, cpu = lib.loop(n, function()
    local img = assert(image.decode(bytes))
    local stride = img.width * img.channels
    out_bytes = 0
    for _, r in ipairs(image.quadrants(img.width, img.height)) do
      local rows = {}
      for y = r.y, r.y + r.h - 1 do
        local s = y * stride + r.x * img.channels + 1
        rows[#rows + 1] = img.pixels:sub(s, s + r.w * img.channels - 1)
      end
      local png = assert(image.encode_png{ width = r.w, height = r.h, channels = img.channels,
        pixels = table.concat(rows) })
      out_bytes = out_bytes + #png
    end
  end)
else
  error("usage: image_split.lua make|split|manual PATH N")
end
local _, peak = lib.rss()
lib.result{ n = n, wall = wall, cpu = cpu, rss_kb = peak, rss0_kb = rss0, out_bytes = out_bytes }
