--- A small real PNG encoder in pure Lua (zlib stored blocks, crc32, adler32), and the
-- simulator's pictures: a 2x2 grid with four coloured quadrants, or a single image.
-- Works on Lua 5.1/LuaJIT (bit library) and 5.3+ (native operators).
-- @module midjourney.simulator.png
local M = {}

local floor = math.floor
local char, byte, concat = string.char, string.byte, table.concat

local band, bxor, rshift
do
  local ok, bit = pcall(require, "bit")
  if ok and type(bit) == "table" and bit.bxor then
    band, bxor, rshift = bit.band, bit.bxor, bit.rshift
  else
    -- Lua 5.3+: compile the operators at run time so that this file still parses on 5.1
    local ops = assert(load([[
      return function(a, b) return a & b end,
             function(a, b) return a ~ b end,
             function(a, n) return a >> n end]]))
    band, bxor, rshift = ops()
  end
end

local function u32(n)
  n = n % 4294967296
  return char(floor(n / 16777216) % 256, floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
end

local CRC = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c % 2 == 1 then c = bxor(rshift(c, 1), 0xEDB88320) else c = rshift(c, 1) end
  end
  CRC[i] = c
end

--- CRC-32 (IEEE, as used by PNG, gzip and zip) of a string. Does not block.
-- @param s string
-- @param crc optional running value (from a previous call) to continue
-- @return integer in 0..2^32-1
function M.crc32(s, crc)
  local c = bxor((crc or 0) % 4294967296, 0xFFFFFFFF)
  for i = 1, #s do
    c = bxor(rshift(c, 8), CRC[band(bxor(c, byte(s, i)), 255)])
  end
  return bxor(c, 0xFFFFFFFF) % 4294967296
end

--- Adler-32 (zlib) of a string. Does not block.
-- @param s string
-- @return integer
function M.adler32(s)
  local a, b = 1, 0
  local n, i = #s, 1
  while i <= n do
    local last = i + 3799
    if last > n then last = n end
    for j = i, last do
      a = a + byte(s, j)
      b = b + a
    end
    a, b = a % 65521, b % 65521
    i = last + 1
  end
  return b * 65536 + a
end

--- Wrap data in a zlib stream made of stored (uncompressed) deflate blocks. Does not block.
-- @param data string
-- @return string
function M.zlib_stored(data)
  local out = { "\120\1" }
  local n, i = #data, 1
  if n == 0 then out[#out + 1] = "\1\0\0\255\255" end
  while i <= n do
    local len = n - i + 1
    if len > 65535 then len = 65535 end
    local final = (i + len > n) and 1 or 0
    out[#out + 1] = char(final, len % 256, floor(len / 256), (65535 - len) % 256, floor((65535 - len) / 256))
    out[#out + 1] = data:sub(i, i + len - 1)
    i = i + len
  end
  out[#out + 1] = u32(M.adler32(data))
  return concat(out)
end

local function chunk(kind, data)
  return u32(#data) .. kind .. data .. u32(M.crc32(kind .. data))
end

--- The side of every image the simulator serves (grids and single images are square).
M.SIDE = 256

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_INDEX = {}
for i = 1, 64 do B64_INDEX[B64:byte(i)] = i - 1 end

--- Decode base64 text (padding and unknown characters end it). Does not block.
-- @param s base64 text
-- @return the bytes
function M.unbase64(s)
  local out, acc, bits = {}, 0, 0
  for i = 1, #s do
    local v = B64_INDEX[s:byte(i)]
    if not v then break end
    acc = acc * 64 + v
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      local b = floor(acc / 2 ^ bits)
      out[#out + 1] = char(b)
      acc = acc - b * 2 ^ bits
    end
  end
  return concat(out)
end

--- Width and height from a PNG's signature and IHDR, or nil when `bytes` does not start
-- like a PNG. Does not block.
-- @param bytes at least the first 24 bytes
-- @return width, height
function M.header_size(bytes)
  if #bytes < 24 or bytes:sub(1, 8) ~= "\137PNG\r\n\26\n" or bytes:sub(13, 16) ~= "IHDR" then return nil end
  local function u32_at(i)
    local a, b, c, d = bytes:byte(i, i + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  return u32_at(17), u32_at(21)
end

--- Encode an 8-bit RGB image as PNG. Does not block.
-- @param width pixels
-- @param height pixels
-- @param pixel function(x, y) -> r, g, b (0..255 integers), x and y from 0
-- @return string (PNG bytes)
function M.encode(width, height, pixel)
  local rows = {}
  for y = 0, height - 1 do
    local row = { "\0" }
    for x = 0, width - 1 do
      local r, g, b = pixel(x, y)
      row[#row + 1] = char(r, g, b)
    end
    rows[#rows + 1] = concat(row)
  end
  local ihdr = u32(width) .. u32(height) .. char(8, 2, 0, 0, 0)
  return "\137PNG\r\n\26\n" .. chunk("IHDR", ihdr) .. chunk("IDAT", M.zlib_stored(concat(rows)))
    .. chunk("IEND", "")
end

local function clamp(v)
  v = floor(v + 0.5)
  if v < 0 then return 0 elseif v > 255 then return 255 end
  return v
end

--- Convert hue/saturation/value to RGB. Does not block.
-- @param h hue in degrees
-- @param s saturation 0..1
-- @param v value 0..1
-- @return r, g, b (0..255)
function M.hsv(h, s, v)
  h = (h % 360) / 60
  local i = floor(h)
  local f = h - i
  local p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
  local r, g, b
  if i == 0 then r, g, b = v, t, p
  elseif i == 1 then r, g, b = q, v, p
  elseif i == 2 then r, g, b = p, v, t
  elseif i == 3 then r, g, b = p, q, v
  elseif i == 4 then r, g, b = t, p, v
  else r, g, b = v, p, q end
  return clamp(r * 255), clamp(g * 255), clamp(b * 255)
end

local function shade(c, y, size, dim)
  local k = (1.15 - 0.3 * y / size) * dim
  return clamp(c[1] * k), clamp(c[2] * k), clamp(c[3] * k)
end

-- the pixel function of the 2x2 grid picture
local function grid_pixel(colors, size, dim)
  local half = floor(size / 2)
  return function(x, y)
    if x == half or x == half - 1 or y == half or y == half - 1 then return 24, 24, 24 end
    local q = (y < half and 0 or 2) + (x < half and 1 or 2)
    return shade(colors[q], y % half, half, dim)
  end
end

--- A 2x2 grid picture: four quadrants with the four colours. Does not block.
-- @param colors list of four {r, g, b}
-- @param size side in pixels (default 256)
-- @param dim brightness factor (default 1; previews use less)
-- @return PNG bytes
function M.grid(colors, size, dim)
  size = size or 256
  return M.encode(size, size, grid_pixel(colors, size, dim or 1))
end

--- One quadrant of the grid picture, as its own PNG: exactly the pixels of that quarter of
-- `grid(colors, size, dim)`. Does not block.
-- @param colors list of four {r, g, b}
-- @param size side of the whole grid in pixels (default 256)
-- @param dim brightness factor (default 1)
-- @param i quadrant 0..3: top-left, top-right, bottom-left, bottom-right
-- @return PNG bytes (size/2 by size/2)
function M.grid_part(colors, size, dim, i)
  size = size or 256
  local half = floor(size / 2)
  local ox, oy = (i % 2) * half, (i >= 2) and half or 0
  local pixel = grid_pixel(colors, size, dim or 1)
  return M.encode(half, half, function(x, y) return pixel(x + ox, y + oy) end)
end

--- A single picture: one colour with a lighter disc in the middle. Does not block.
-- @param color {r, g, b}
-- @param size side in pixels (default 256)
-- @param dim brightness factor (default 1)
-- @return PNG bytes
function M.single(color, size, dim)
  size = size or 256
  dim = dim or 1
  local c, r2 = size / 2, (size / 4) * (size / 4)
  local light = { clamp(color[1] * 0.5 + 120), clamp(color[2] * 0.5 + 120), clamp(color[3] * 0.5 + 120) }
  return M.encode(size, size, function(x, y)
    local dx, dy = x - c, y - c
    if dx * dx + dy * dy < r2 then return shade(light, y, size, dim) end
    return shade(color, y, size, dim)
  end)
end

return M
