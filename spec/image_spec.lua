-- midjourney.image (split, mask, decode, encode_png) and midjourney.image.uri (data_uri, info).
-- Grids come from the simulator (PNG), from Debian's cjpeg (JPEG) and cwebp (WebP) fed with PPM
-- files written here, so the encoders that make the test images are independent of the code under
-- test; djpeg and dwebp decode them independently for comparison.
local image = require("midjourney.image")
local uri = require("midjourney.image.uri")
local png = require("midjourney.simulator.png")
local simulator = require("spec.helpers.simulator")
local mj = require("midjourney")

local read_file = simulator.read_file

local root = require("spec.helpers.simulator").root()
local LUA = os.getenv("MJ_TEST_LUA") or "lua5.4"
local BUILD = root .. "/" .. (os.getenv("MJ_BUILD_DIR") or ("build/" .. LUA))

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- runs a shell command; returns true/false and its stdout+stderr
local function sh(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  return ok == true or ok == 0, out
end

local function mktemp_dir()
  local p = assert(io.popen("mktemp -d /tmp/mj-image-spec.XXXXXX"))
  local d = p:read("*l")
  p:close()
  return d
end

-- A binary PPM (P6) from a pixel function f(x, y) -> r, g, b.
local function ppm(w, h, f)
  local rows = {}
  for y = 0, h - 1 do
    local row = {}
    for x = 0, w - 1 do row[x + 1] = string.char(f(x, y)) end
    rows[y + 1] = table.concat(row)
  end
  return string.format("P6\n%d %d\n255\n", w, h) .. table.concat(rows)
end

-- A PAM (P7) with alpha from f(x, y) -> r, g, b, a.
local function pam_rgba(w, h, f)
  local rows = {}
  for y = 0, h - 1 do
    local row = {}
    for x = 0, w - 1 do row[x + 1] = string.char(f(x, y)) end
    rows[y + 1] = table.concat(row)
  end
  return string.format("P7\nWIDTH %d\nHEIGHT %d\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n", w, h)
    .. table.concat(rows)
end

local function parse_ppm(s)
  local w, h, header = s:match("^P6%s+(%d+)%s+(%d+)%s+255%s()")
  assert(w, "not a P6 file")
  return tonumber(w), tonumber(h), s:sub(header)
end

-- The pixels of rect r (0-based x, y, w, h) of an image with `stride` = width * channels.
local function crop(pixels, width, channels, r)
  local rows = {}
  for y = r.y, r.y + r.h - 1 do
    local start = (y * width + r.x) * channels + 1
    rows[#rows + 1] = pixels:sub(start, start + r.w * channels - 1)
  end
  return table.concat(rows)
end

-- Four visibly different quadrants with gradients, so every pixel position matters.
local function pattern(w, h)
  local hw, hh = math.ceil(w / 2), math.ceil(h / 2)
  return function(x, y)
    local qd = (y < hh and 0 or 2) + (x < hw and 0 or 1)
    return (x * 7 + qd * 60) % 256, (y * 5 + qd * 30) % 256, ((x + y) * 3 + qd * 90) % 256
  end
end

-- A real GIF: w x h pixels of colour 0, LZW codes of 3 bits with a clear code before every
-- pixel so the code width never grows.
local function gif(w, h)
  local codes = {}
  for _ = 1, w * h do
    codes[#codes + 1] = 4
    codes[#codes + 1] = 0
  end
  codes[#codes + 1] = 5
  local bytes, acc, nbits = {}, 0, 0
  for _, c in ipairs(codes) do
    acc = acc + c * 2 ^ nbits
    nbits = nbits + 3
    while nbits >= 8 do
      bytes[#bytes + 1] = string.char(acc % 256)
      acc = math.floor(acc / 256)
      nbits = nbits - 8
    end
  end
  if nbits > 0 then bytes[#bytes + 1] = string.char(acc % 256) end
  local data = table.concat(bytes)
  assert(#data < 256)
  local function le16(n) return string.char(n % 256, math.floor(n / 256)) end
  return "GIF89a" .. le16(w) .. le16(h) .. "\128\0\0" .. "\0\0\0\255\255\255"
    .. "," .. le16(0) .. le16(0) .. le16(w) .. le16(h) .. "\0"
    .. "\2" .. string.char(#data) .. data .. "\0" .. ";"
end

local function u32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
end
local function chunk(kind, data)
  return u32(#data) .. kind .. data .. u32(png.crc32(kind .. data))
end
-- A valid-looking PNG whose IHDR claims w x h, with a tiny IDAT: 57 bytes for any size.
local function png_claiming(w, h)
  return "\137PNG\r\n\26\n" .. chunk("IHDR", u32(w) .. u32(h) .. "\8\2\0\0\0")
    .. chunk("IDAT", png.zlib_stored("\0\0\0\0")) .. chunk("IEND", "")
end

-- Patch the first SOF marker of a JPEG to claim w x h.
local function jpeg_claiming(jpeg, w, h)
  local i = 3
  while true do
    local m = jpeg:byte(i + 1)
    local len = jpeg:byte(i + 2) * 256 + jpeg:byte(i + 3)
    if m >= 0xC0 and m <= 0xC2 then
      local at = i + 5 -- height (2 bytes) then width (2 bytes), after the precision byte
      return jpeg:sub(1, at - 1) .. string.char(math.floor(h / 256), h % 256, math.floor(w / 256), w % 256)
        .. jpeg:sub(at + 4)
    end
    i = i + 2 + len
  end
end

local function b64_of_file(path)
  local ok, out = sh("base64 -w0 " .. q(path))
  assert(ok, out)
  return out
end

local tmp
local files = {}

setup(function()
  tmp = mktemp_dir()
  -- PNG grid from the simulator's own generator (the same bytes it serves for a grid)
  files.png = tmp .. "/grid.png"
  write_file(files.png, png.grid({ { 200, 40, 40 }, { 40, 200, 40 }, { 40, 40, 200 }, { 220, 220, 40 } }, 256))
  -- JPEG and WebP grids: 101 x 77 (odd both ways) written as PPM, encoded by Debian's tools
  files.ppm = tmp .. "/grid.ppm"
  write_file(files.ppm, ppm(101, 77, pattern(101, 77)))
  files.jpeg = tmp .. "/grid.jpg"
  files.jpeg_prog = tmp .. "/grid-progressive.jpg"
  files.webp_lossless = tmp .. "/grid-lossless.webp"
  files.webp_lossy = tmp .. "/grid-lossy.webp"
  files.pam = tmp .. "/alpha.pam"
  write_file(files.pam, pam_rgba(40, 30, function(x, y) return x * 6, y * 8, 100, (x * 13 + y * 7) % 256 end))
  files.webp_alpha = tmp .. "/alpha.webp"
  files.webp_alpha_lossless = tmp .. "/alpha-lossless.webp"
  local cmds = {
    "cjpeg -quality 90 -outfile " .. q(files.jpeg) .. " " .. q(files.ppm),
    "cjpeg -quality 85 -progressive -outfile " .. q(files.jpeg_prog) .. " " .. q(files.ppm),
    "cwebp -quiet -lossless " .. q(files.ppm) .. " -o " .. q(files.webp_lossless),
    "cwebp -quiet -q 80 " .. q(files.ppm) .. " -o " .. q(files.webp_lossy),
    "cwebp -quiet -q 80 " .. q(files.pam) .. " -o " .. q(files.webp_alpha),
    "cwebp -quiet -lossless -exact " .. q(files.pam) .. " -o " .. q(files.webp_alpha_lossless),
  }
  for _, c in ipairs(cmds) do
    local ok, out = sh(c)
    assert(ok, "test image tool failed (sh scripts/deps.sh test installs libjpeg-turbo-progs and webp): " .. c
      .. "\n" .. out)
  end
  files.gif = tmp .. "/tiny.gif"
  write_file(files.gif, gif(3, 2))
  files.text = tmp .. "/notes.txt"
  write_file(files.text, "just some text, not an image\n")
end)

teardown(function()
  if tmp then os.execute("rm -rf " .. q(tmp)) end
end)

describe("image.split", function()
  -- decode the grid and each part, and compare every part with its quadrant of the grid
  local function check_split(grid_path, expect_format, expect_channels)
    local grid = assert(image.decode(grid_path))
    assert.are.equal(expect_format, grid.format)
    local parts, err = image.split(grid_path)
    assert.is_table(parts, tostring(err))
    assert.are.equal(4, #parts)
    assert.are.equal(expect_format, parts.format)
    assert.are.equal(grid.width, parts.width)
    assert.are.equal(grid.height, parts.height)
    assert.are.equal(expect_channels, parts.channels)
    local rects = image.quadrants(grid.width, grid.height)
    for i = 1, 4 do
      assert.are.equal("png", uri.sniff(parts[i]))
      local part = assert(image.decode(parts[i]))
      assert.are.equal(rects[i].w, part.width, "width of part " .. i)
      assert.are.equal(rects[i].h, part.height, "height of part " .. i)
      assert.are.equal(expect_channels, part.channels)
      assert.is_true(crop(grid.pixels, grid.width, grid.channels, rects[i]) == part.pixels,
        "part " .. i .. " differs from its quadrant of the grid")
    end
    return grid, parts
  end

  it("cuts the simulator's PNG grid into four PNGs equal to its quadrants, U1-U4 order", function()
    local grid = check_split(files.png, "png", 3)
    assert.are.equal(256, grid.width)
    -- U1..U4 are the simulator's colours 1..4 (top-left, top-right, bottom-left, bottom-right)
    local parts = assert(image.split(files.png))
    local want = { { 200, 40, 40 }, { 40, 200, 40 }, { 40, 40, 200 }, { 220, 220, 40 } }
    for i = 1, 4 do
      local p = assert(image.decode(parts[i]))
      local o = ((20 * p.width) + 20) * 3 -- pixel (20, 20): row 20 of the quadrant, first shade row
      local r, g, b = p.pixels:byte(o + 1, o + 3)
      local k = want[i]
      -- the simulator shades rows, but keeps the hue: the dominant channels give the colour
      assert.is_true((r > 120) == (k[1] > 120) and (g > 120) == (k[2] > 120) and (b > 120) == (k[3] > 120),
        string.format("U%d is %d,%d,%d, expected the colour of %d,%d,%d", i, r, g, b, k[1], k[2], k[3]))
    end
  end)

  it("splits a grid downloaded from the simulator, given as a path and as bytes", function()
    local sim = simulator.start { speed = 200, seed = 3 }
    local ok, err = pcall(function()
      local c = mj.new { api_key = sim.key, base_url = sim.url }
      local t = assert(c:wait(assert(c:imagine("four boats")), { first_delay = 0, interval = 0.05 }))
      local path = tmp .. "/downloaded-grid.png"
      assert(c:download(t, path))
      local from_path = assert(image.split(path))
      local from_bytes = assert(image.split(read_file(path)))
      for i = 1, 4 do assert.is_true(from_path[i] == from_bytes[i]) end
      check_split(path, "png", 3)
    end)
    sim:stop()
    assert(ok, err)
  end)

  it("cuts a JPEG grid made by cjpeg (odd 101x77) into parts equal to the decoded grid's quadrants", function()
    local grid = check_split(files.jpeg, "jpeg", 3)
    assert.are.equal(101, grid.width)
    assert.are.equal(77, grid.height)
    -- our decode equals djpeg's (same library, independent program and defaults)
    local ok, out = sh("djpeg -pnm " .. q(files.jpeg) .. " > " .. q(tmp .. "/djpeg.ppm"))
    assert(ok, out)
    local w, h, pixels = parse_ppm(read_file(tmp .. "/djpeg.ppm"))
    assert.are.same({ 101, 77 }, { w, h })
    assert.is_true(pixels == grid.pixels, "our JPEG decode differs from djpeg's")
  end)

  it("cuts a progressive JPEG grid", function()
    check_split(files.jpeg_prog, "jpeg", 3)
  end)

  it("cuts a lossless WebP grid into parts equal to the original pixels", function()
    local grid = check_split(files.webp_lossless, "webp", 3)
    local _, _, original = parse_ppm(read_file(files.ppm))
    assert.is_true(grid.pixels == original, "lossless WebP decode differs from the PPM it was made from")
  end)

  it("cuts a lossy WebP grid, and keeps alpha (RGBA parts) when the grid has it", function()
    check_split(files.webp_lossy, "webp", 3)
    check_split(files.webp_alpha, "webp", 4)
    local grid = check_split(files.webp_alpha_lossless, "webp", 4)
    -- lossless + -exact keeps every RGBA value of the PAM
    local pam = read_file(files.pam)
    assert.is_true(grid.pixels == pam:sub(#pam - 40 * 30 * 4 + 1), "alpha WebP pixels differ from the PAM")
  end)

  it("keeps alpha of an RGBA PNG exactly", function()
    local w, h = 9, 6
    local px = {}
    for y = 0, h - 1 do
      for x = 0, w - 1 do px[#px + 1] = string.char(x * 20, y * 30, 7, (x * 31 + y * 17) % 256) end
    end
    local src = assert(image.encode_png { width = w, height = h, channels = 4, pixels = table.concat(px) })
    local grid, parts = check_split(src, "png", 4)
    assert.are.equal(table.concat(px), grid.pixels)
    assert.are.equal(4, #parts)
  end)

  it("gives the left column and the top row the extra pixel of an odd size", function()
    assert.are.same({
      { x = 0, y = 0, w = 51, h = 39 }, { x = 51, y = 0, w = 50, h = 39 },
      { x = 0, y = 39, w = 51, h = 38 }, { x = 51, y = 39, w = 50, h = 38 },
    }, image.quadrants(101, 77))
    assert.are.same({
      { x = 0, y = 0, w = 1, h = 1 }, { x = 1, y = 0, w = 1, h = 1 },
      { x = 0, y = 1, w = 1, h = 1 }, { x = 1, y = 1, w = 1, h = 1 },
    }, image.quadrants(2, 2))
    -- 3 x 3 PNG: every pixel distinct, so each one can be traced to its part
    local px = {}
    for i = 0, 8 do px[#px + 1] = string.char(i * 25, 255 - i * 25, i) end
    local src = assert(image.encode_png { width = 3, height = 3, channels = 3, pixels = table.concat(px) })
    local parts = assert(image.split(src))
    local function pixels(i) return assert(image.decode(parts[i])).pixels end
    assert.are.equal(px[1] .. px[2] .. px[4] .. px[5], pixels(1)) -- 2 x 2
    assert.are.equal(px[3] .. px[6], pixels(2))                    -- 1 x 2
    assert.are.equal(px[7] .. px[8], pixels(3))                    -- 2 x 1
    assert.are.equal(px[9], pixels(4))                             -- 1 x 1
  end)

  it("refuses GIF, text, a 1-pixel-wide image and corrupt data with clear errors", function()
    local p, err = image.split(files.gif)
    assert.is_nil(p)
    assert.are.equal("invalid", err.kind)
    assert.are.equal("unsupported", err.reason)
    assert.matches("GIF", err.message)

    p, err = image.split(files.text)
    assert.is_nil(p)
    assert.are.equal("unsupported", err.reason)
    assert.matches("notes.txt", tostring(err), 1, true)

    local one = assert(image.encode_png { width = 1, height = 5, channels = 3, pixels = ("\1\2\3"):rep(5) })
    p, err = image.split(one)
    assert.is_nil(p)
    assert.are.equal("too_small", err.reason)
    assert.matches("1x5", err.message)

    local jpeg = read_file(files.jpeg)
    p, err = image.split(jpeg:sub(1, math.floor(#jpeg * 0.6)))
    assert.is_nil(p)
    assert.are.equal("decode", err.kind)
    assert.are.equal("corrupt", err.reason)

    local grid = read_file(files.png)
    p, err = image.split(grid:sub(1, #grid - 5000))
    assert.is_nil(p)
    assert.are.equal("corrupt", err.reason)

    local bad = grid:sub(1, 40) .. string.char((grid:byte(41) + 1) % 256) .. grid:sub(42) -- CRC no longer matches
    p, err = image.split(bad)
    assert.is_nil(p)
    assert.are.equal("decode", err.kind)

    p, err = image.split(files.png, { max_bytes = 1000 })
    assert.is_nil(p)
    assert.are.equal("file_too_large", err.reason)
    assert.are.equal(256 * 1024 * 1024, image.max_file_bytes)

    local webp = read_file(files.webp_lossy)
    p, err = image.split(webp:sub(1, 60))
    assert.is_nil(p)
    assert.are.equal("corrupt", err.reason)
  end)

  it("refuses a tiny file claiming 20000x20000 from its header, naming the limit", function()
    local claims = {
      png = png_claiming(20000, 20000),
      jpeg = jpeg_claiming(read_file(files.jpeg), 20000, 20000),
    }
    assert.is_true(#claims.png < 100)
    for format, bytes in pairs(claims) do
      assert.are.same({ format = format, mime = "image/" .. format, width = 20000, height = 20000 },
        assert(uri.info(bytes)))
      for _, fn in ipairs{ image.split, image.decode } do
        local t0 = os.clock()
        local p, err = fn(bytes)
        local cpu = os.clock() - t0
        assert.is_nil(p)
        assert.are.equal("invalid", err.kind)
        assert.are.equal("too_large", err.reason)
        assert.matches("20000x20000", err.message, 1, true)
        assert.matches("16384x16384", err.message, 1, true)
        assert.matches("268435456 pixels", err.message, 1, true)
        assert.is_true(cpu < 0.5, format .. " refusal took " .. cpu .. " s of CPU")
      end
    end
    -- 16384 x 16385 is over; so is a size within the sides but over a lowered pixel limit
    local p, err = image.split(png_claiming(16384, 16385))
    assert.is_nil(p)
    assert.are.equal("too_large", err.reason)
    p, err = image.split(files.png, { max_pixels = 256 * 255 })
    assert.is_nil(p)
    assert.are.equal("too_large", err.reason)
    p, err = image.split(files.png, { max_side = 255 })
    assert.is_nil(p)
    assert.matches("255x255", err.message, 1, true)
  end)

  it("refuses 20000x20000 before allocating: it passes under a 600 MB address-space limit #nosanitize", function()
    -- a 20000 x 20000 RGB buffer is 1.2 GB: allocated before the check, it would fail as nomem here
    local path = tmp .. "/claims.png"
    write_file(path, png_claiming(20000, 20000))
    local script = tmp .. "/claims.lua"
    write_file(script, [[
      local image = require("midjourney.image")
      local p, err = image.split(arg[1])
      io.write(tostring(p), " ", tostring(err and err.reason), " ", tostring(err and err.message))
    ]])
    local env = "LUA_PATH=" .. q(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;")
      .. " LUA_CPATH=" .. q(BUILD .. "/?.so;;")
    local ok, out = sh("ulimit -v 600000; " .. env .. " " .. LUA .. " " .. q(script) .. " " .. q(path))
    assert(ok, out)
    assert.matches("^nil too_large split .-: image is 20000x20000 pixels, over the limit", out)
    -- and the same process can still decode a real grid under that limit
    write_file(script, [[
      local image = require("midjourney.image")
      io.write(#assert(image.split(arg[1])))
    ]])
    ok, out = sh("ulimit -v 600000; " .. env .. " " .. LUA .. " " .. q(script) .. " " .. q(files.png))
    assert(ok, out)
    assert.are.equal("4", out)
  end)

  it("raises on wrong argument types and unknown options", function()
    assert.has_error(function() image.split(42) end)
    assert.has_error(function() image.split(files.png, { levle = 3 }) end, "image.split: unknown option 'levle' "
      .. "(known: level, max_bytes, max_pixels, max_side)")
    assert.has_error(function() image.split(files.png, { level = 11 }) end)
    assert.has_error(function() image.split(files.png, { max_side = 20000 }) end)
  end)

  it("level trades size for time and never changes pixels", function()
    local fast = assert(image.split(files.png, { level = 0 }))
    local small = assert(image.split(files.png, { level = 9 }))
    assert.is_true(#fast[1] > #small[1])
    assert.are.equal(assert(image.decode(fast[1])).pixels, assert(image.decode(small[1])).pixels)
  end)
end)

describe("image.mask", function()
  local function decode_mask(png_bytes, w, h)
    local m = assert(image.decode(png_bytes))
    assert.are.same({ w, h, 3 }, { m.width, m.height, m.channels })
    -- a greyscale PNG (colour type 0), 8 bits
    assert.are.equal(8, png_bytes:byte(25))
    assert.are.equal(0, png_bytes:byte(26))
    local white = {}
    for y = 0, h - 1 do
      for x = 0, w - 1 do
        local o = (y * w + x) * 3
        local r, g, b = m.pixels:byte(o + 1, o + 3)
        assert.is_true(r == g and g == b and (r == 0 or r == 255),
          "pixel " .. x .. "," .. y .. " is not black or white")
        white[y * w + x] = r == 255
      end
    end
    return white
  end

  -- the documented rule, evaluated independently in Lua
  local function inside(shapes_px, x, y)
    local cx, cy = x + 0.5, y + 0.5
    for _, s in ipairs(shapes_px) do
      if s.rect then
        local r = s.rect
        if r[1] <= cx and cx < r[1] + r[3] and r[2] <= cy and cy < r[2] + r[4] then return true end
      else
        local e = s.ellipse
        local dx, dy = (cx - e[1]) / e[3], (cy - e[2]) / e[4]
        if dx * dx + dy * dy <= 1 then return true end
      end
    end
    return false
  end

  local function check(w, h, shapes, shapes_px)
    local bytes = assert(image.mask(w, h, shapes))
    assert.are.same({ format = "png", mime = "image/png", width = w, height = h }, uri.info(bytes))
    local white = decode_mask(bytes, w, h)
    local n = 0
    for y = 0, h - 1 do
      for x = 0, w - 1 do
        local want = inside(shapes_px or shapes, x, y)
        if want then n = n + 1 end
        assert.are.equal(want, white[y * w + x], string.format("pixel %d,%d", x, y))
      end
    end
    return white, n
  end

  it("is white exactly inside a pixel rect, edges included, and black elsewhere", function()
    local w, h = 37, 23
    local white = check(w, h, { { rect = { 3, 4, 10, 5 } } })
    local function at(x, y) return white[y * w + x] end
    -- columns 3..12 and rows 4..8 are white; their neighbours are black
    assert.is_true(at(3, 4) and at(12, 4) and at(3, 8) and at(12, 8))
    assert.is_false(at(2, 4) or at(13, 4) or at(3, 3) or at(3, 9))
  end)

  it("draws ellipses, fractions, overlaps and shapes reaching outside the image", function()
    local w, h = 64, 40
    local _, n = check(w, h, {
      { ellipse = { 20, 15, 9.5, 6 } },
      { rect = { -5, 30, 12, 50 } },          -- clipped at the left and bottom
      { rect = { 40.4, 2.6, 3.2, 1.9 } },     -- fractional pixels: centres decide
      { ellipse = { 0.75, 0.5, 0.1, 0.25 }, unit = "fraction" },
    }, {
      { ellipse = { 20, 15, 9.5, 6 } },
      { rect = { -5, 30, 12, 50 } },
      { rect = { 40.4, 2.6, 3.2, 1.9 } },
      { ellipse = { 48, 20, 6.4, 10 } },
    })
    assert.is_true(n > 100)
  end)

  it("takes unit = \"fraction\" for the whole list", function()
    local w, h = 50, 30
    local white = check(w, h, { unit = "fraction", { rect = { 0, 0, 0.5, 0.5 } }, { rect = { 0.9, 0.9, 0.1, 0.1 } } },
      { { rect = { 0, 0, 25, 15 } }, { rect = { 45, 27, 5, 3 } } })
    assert.is_true(white[0] and white[14 * w + 24] and white[29 * w + 49])
    assert.is_false(white[15 * w] or white[25])
  end)

  it("a whole-image rect is all white; a 1x1 mask works", function()
    local _, n = check(16, 9, { { rect = { 0, 0, 1, 1 }, unit = "fraction" } }, { { rect = { 0, 0, 16, 9 } } })
    assert.are.equal(16 * 9, n)
    check(1, 1, { { ellipse = { 0.5, 0.5, 0.5, 0.5 } } })
  end)

  it("refuses misspelt keys and bad numbers, naming the shape and key", function()
    local cases = {
      { { { elipse = { 1, 1, 1, 1 } } }, "shapes[1]: unknown key 'elipse' (expected rect, ellipse or unit)" },
      { { { rect = { 0, 0, 1, 1 } }, { rectangle = { 0, 0, 1, 1 } } }, "shapes[2]: unknown key 'rectangle'" },
      { { { rect = { 0, 0, 1, 1 }, units = "px" } }, "shapes[1]: unknown key 'units'" },
      { { { rect = { 0, 0, 1, 1 } }, unti = "fraction" }, "shapes: unknown key 'unti'" },
      { { { rect = { 0, 0, 1, 1 }, unit = "pixels" } },
        "shapes[1]: unit must be \"px\" or \"fraction\", got \"pixels\"" },
      { { unit = "percent", { rect = { 0, 0, 1, 1 } } }, "shapes: unit must be \"px\" or \"fraction\"" },
      { { { rect = { 0, 0, 10 } } }, "shapes[1].rect[4] must be a finite number ({x, y, w, h}), got nil" },
      { { { rect = { 0, 0, 0, 5 } } }, "shapes[1].rect[3] is a size and must be > 0, got 0" },
      { { { ellipse = { 1, 1, -2, 2 } } }, "shapes[1].ellipse[3] is a size and must be > 0" },
      { { { rect = { 0 / 0, 0, 1, 1 } } }, "shapes[1].rect[1] must be a finite number" },
      { { { rect = { 0, math.huge, 1, 1 } } }, "shapes[1].rect[2] must be a finite number" },
      { { { rect = { 0, 0, 512, 512 }, unit = "fraction" } }, "shapes[1].rect[3] = 512 is not a fraction from 0 to 1" },
      { { { rect = { x = 0, y = 0, w = 1, h = 1 } } }, "shapes[1].rect: unexpected key" },
      { { { rect = { 0, 0, 1, 1 }, ellipse = { 1, 1, 1, 1 } } }, "has both rect and ellipse" },
      { { { unit = "px" } }, "shapes[1] needs rect = {x, y, w, h} or ellipse = {cx, cy, rx, ry}" },
      { { "rect" }, "shapes[1] must be a table" },
      { {}, "shapes is empty" },
    }
    for _, case in ipairs(cases) do
      local ok, msg = pcall(image.mask, 10, 10, case[1])
      assert.is_false(ok)
      assert.matches(case[2], msg, 1, true)
      assert.matches("^image.mask: ", msg)
    end
    assert.has_error(function() image.mask(0, 10, { { rect = { 0, 0, 1, 1 } } }) end)
    assert.has_error(function() image.mask(10.5, 10, { { rect = { 0, 0, 1, 1 } } }) end)
    assert.has_error(function() image.mask(20000, 10, { { rect = { 0, 0, 1, 1 } } }) end)
    assert.has_error(function() image.mask(10, 10, "rect") end)
  end)

  it("goes to the simulator's Vary Region as a data URI", function()
    local sim = simulator.start { speed = 200, seed = 4 }
    local ok, err = pcall(function()
      local c = mj.new { api_key = sim.key, base_url = sim.url }
      local fast = { first_delay = 0, interval = 0.05 }
      local grid = assert(c:wait(assert(c:imagine("a lighthouse --v 6.1")), fast))
      local up = assert(c:upscale(grid, 1, { wait = true, first_delay = 0, interval = 0.05 }))
      local path = tmp .. "/upscale.png"
      assert(c:download(up, path))
      local info = assert(image.info(path))
      local mask = assert(image.mask(info.width, info.height,
        { { ellipse = { 0.5, 0.5, 0.25, 0.25 }, unit = "fraction" } }))
      local data = assert(image.data_uri(mask, { formats = { "png" } }))
      local t, verr = c:vary_region(up, data, "a red lighthouse", { wait = true, first_delay = 0, interval = 0.05 })
      assert.is_table(t, tostring(verr))
      assert.are.equal("SUCCESS", t.status)
    end)
    sim:stop()
    assert(ok, err)
  end)
end)

describe("image.uri (pure Lua)", function()
  local expect = {
    png = { "image/png", 256, 256 },
    jpeg = { "image/jpeg", 101, 77 },
    jpeg_prog = { "image/jpeg", 101, 77 },
    webp_lossless = { "image/webp", 101, 77 },
    webp_lossy = { "image/webp", 101, 77 },
    webp_alpha = { "image/webp", 40, 30 },
    gif = { "image/gif", 3, 2 },
  }

  it("info reads format and size from the header of each format, from bytes and from a path", function()
    for name, e in pairs(expect) do
      local want = { format = e[1]:match("/(.*)"), mime = e[1], width = e[2], height = e[3] }
      assert.are.same(want, uri.info(files[name]), name)
      assert.are.same(want, uri.info(read_file(files[name])), name)
      assert.are.same(want, image.info(files[name]), name)
    end
    -- the three WebP variants really are VP8L, VP8 and VP8X
    assert.are.equal("VP8L", read_file(files.webp_lossless):sub(13, 16))
    assert.are.equal("VP8 ", read_file(files.webp_lossy):sub(13, 16))
    assert.are.equal("VP8X", read_file(files.webp_alpha):sub(13, 16))
  end)

  it("info refuses truncated and malformed headers", function()
    local p = read_file(files.png)
    local _, err = uri.info(p:sub(1, 20))
    assert.are.equal("invalid", err.kind)
    assert.are.equal("corrupt", err.reason)
    _, err = uri.info(read_file(files.jpeg):sub(1, 30))
    assert.are.equal("corrupt", err.reason)
    assert.matches("SOF", err.message)
    _, err = uri.info("\255\216\255\217")
    assert.are.equal("corrupt", err.reason)
    _, err = uri.info("GIF89a\1")
    assert.are.equal("corrupt", err.reason)
    _, err = uri.info("RIFF\0\0\0\0WEBPVP8Z" .. ("\0"):rep(20))
    assert.are.equal("corrupt", err.reason)
    _, err = uri.info(png_claiming(0, 10))
    assert.are.equal("corrupt", err.reason)
  end)

  it("data_uri gives the right MIME type and exact base64 for each format, from a path or bytes", function()
    for name, e in pairs(expect) do
      local want = "data:" .. e[1] .. ";base64," .. b64_of_file(files[name])
      local got, info = uri.data_uri(files[name])
      assert.are.equal(want, got, name)
      assert.are.equal(e[2], info.width)
      assert.are.equal(want, uri.data_uri(read_file(files[name])), name)
      assert.are.equal(want, image.data_uri(files[name]), name)
    end
  end)

  it("detects the format by magic bytes, not by file name", function()
    local path = tmp .. "/really-a-jpeg.png"
    write_file(path, read_file(files.jpeg))
    local got, info = uri.data_uri(path)
    assert.are.equal("jpeg", info.format)
    assert.matches("^data:image/jpeg;base64,", got)
  end)

  it("refuses a text file, a missing file, an empty file and non-image bytes with clear errors", function()
    local u, err = uri.data_uri(files.text)
    assert.is_nil(u)
    assert.are.equal("invalid", err.kind)
    assert.are.equal("unsupported", err.reason)
    assert.are.equal(files.text, err.path)
    assert.matches("notes.txt: not a PNG, JPEG, WebP or GIF image", tostring(err), 1, true)
    assert.is_nil(tostring(err):find("just some text", 1, true)) -- the content is never echoed

    u, err = uri.data_uri(tmp .. "/no-such-file.png")
    assert.is_nil(u)
    assert.are.equal("unreadable", err.reason)
    assert.matches("no-such-file.png", err.message, 1, true)

    write_file(tmp .. "/empty.png", "")
    u, err = uri.data_uri(tmp .. "/empty.png")
    assert.is_nil(u)
    assert.are.equal("empty", err.reason)

    u, err = uri.data_uri("\0\1\2 not an image")
    assert.is_nil(u)
    assert.are.equal("unsupported", err.reason)
    assert.matches("neither image bytes", err.message)

    u, err = uri.data_uri(("x"):rep(5000))
    assert.is_nil(u)
    assert.are.equal("unsupported", err.reason)

    u, err = uri.data_uri(files.png, { max_bytes = 100 })
    assert.is_nil(u)
    assert.are.equal("file_too_large", err.reason)

    u, err = uri.data_uri(files.jpeg, { formats = { "png" } })
    assert.is_nil(u)
    assert.are.equal("unsupported", err.reason)
    assert.matches("JPEG image where PNG is expected", err.message)
  end)

  it("raises on wrong argument types and unknown options", function()
    assert.has_error(function() uri.data_uri(nil) end)
    assert.has_error(function() uri.data_uri(files.png, { max_byte = 1 }) end,
      "image.data_uri: unknown option 'max_byte' (known: formats, max_bytes)")
    assert.has_error(function() uri.data_uri(files.png, { formats = { "bmp" } }) end)
    assert.has_error(function() uri.info(false) end)
    assert.has_error(function() uri.base64({}) end)
  end)

  it("base64 matches RFC 4648 and coreutils for every length mod 12", function()
    local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==", fooba = "Zm9vYmE=",
      foobar = "Zm9vYmFy" }
    for s, b in pairs(vectors) do assert.are.equal(b, uri.base64(s)) end
    local bytes = {}
    for i = 0, 1011 do bytes[#bytes + 1] = string.char((i * 37 + 11) % 256) end
    local data = table.concat(bytes)
    for n = 1000, 1012 do
      local path = tmp .. "/b64.bin"
      write_file(path, data:sub(1, n))
      assert.are.equal(b64_of_file(path), uri.base64(data:sub(1, n)), "length " .. n)
    end
  end)

  it("coerce passes URLs and data URIs through and turns paths and bytes into data URIs", function()
    assert.are.equal("https://cdn.example/x.png", uri.coerce("https://cdn.example/x.png"))
    assert.are.equal("HTTP://cdn.example/x.png", uri.coerce("HTTP://cdn.example/x.png"))
    assert.are.equal("data:image/png;base64,AAAA", uri.coerce("data:image/png;base64,AAAA"))
    assert.are.equal(uri.data_uri(files.gif), uri.coerce(files.gif))
    assert.are.equal(uri.data_uri(files.gif), uri.coerce(read_file(files.gif)))
    local u, err = uri.coerce(files.text)
    assert.is_nil(u)
    assert.are.equal("unsupported", err.reason)
  end)

  it("loads and works without midjourney.image_core, whose absence names the Debian packages", function()
    local script = tmp .. "/nocore.lua"
    write_file(script, [[
      local uri = require("midjourney.image.uri")
      io.write(uri.data_uri(arg[1]):sub(1, 22), "\n")
      local ok, err = pcall(require, "midjourney.image")
      io.write(tostring(ok), "\n", tostring(err), "\n")
    ]])
    local env = "LUA_PATH=" .. q(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;")
      .. " LUA_CPATH=" .. q(tmp .. "/none/?.so")
    local ok, out = sh(env .. " " .. LUA .. " " .. q(script) .. " " .. q(files.png))
    assert(ok, out)
    assert.matches("^data:image/png;base64,\nfalse\n", out)
    assert.matches("libspng-dev libjpeg-dev libwebp-dev", out, 1, true)
    assert.matches("midjourney.image_core", out, 1, true)
  end)
end)

describe("image build #once", function()
  it("make builds the core without the image libraries, prints a note, and install/uninstall follow", function()
    local build = tmp .. "/build-noimage"
    local ok, out = sh("cd " .. q(root) .. " && make --no-print-directory BUILD_DIR=" .. q(build)
      .. " IMAGE_PKGS=mj-no-such-image-lib all")
    assert(ok, out)
    assert.matches("note: midjourney.image_core not built", out, 1, true)
    assert.matches("libspng-dev libjpeg-dev libwebp-dev", out, 1, true)
    assert.is_truthy(read_file(build .. "/midjourney/core.so"))
    assert.is_nil(read_file(build .. "/midjourney/image_core.so"))

    local dest = tmp .. "/dest"
    ok, out = sh("cd " .. q(root) .. " && make --no-print-directory -s install DESTDIR=" .. q(dest)
      .. " PREFIX=/usr BUILD_DIR=" .. q(build) .. " IMAGE_PKGS=mj-no-such-image-lib")
    assert(ok, out)
    assert.is_truthy(read_file(dest .. "/usr/lib/lua/5.4/midjourney/core.so"))
    assert.is_nil(read_file(dest .. "/usr/lib/lua/5.4/midjourney/image_core.so"))
    assert.is_truthy(read_file(dest .. "/usr/share/lua/5.4/midjourney/image/uri.lua"))

    -- the regular build has the module: install copies it, uninstall removes it
    local dest2 = tmp .. "/dest2"
    ok, out = sh("cd " .. q(root) .. " && make --no-print-directory -s install DESTDIR=" .. q(dest2) .. " PREFIX=/usr")
    assert(ok, out)
    assert.is_truthy(read_file(dest2 .. "/usr/lib/lua/5.4/midjourney/image_core.so"))
    ok, out = sh("cd " .. q(root) .. " && make --no-print-directory -s uninstall DESTDIR=" .. q(dest2)
      .. " PREFIX=/usr")
    assert(ok, out)
    assert.is_nil(read_file(dest2 .. "/usr/lib/lua/5.4/midjourney/image_core.so"))
  end)

  it("luarocks make of rockspecs/image installs midjourney.image_core, which loads from the tree", function()
    local src, tree = tmp .. "/rock-src", tmp .. "/rock-tree"
    local ok, out = sh("mkdir -p " .. q(src) .. " && cp -R " .. q(root .. "/src") .. " " .. q(root .. "/lua") .. " "
      .. q(root .. "/rockspecs") .. " " .. q(src))
    assert(ok, out)
    for _, v in ipairs{ { "5.4", "lua5.4", "" }, { "5.1", "luajit", " LUA_INCDIR=/usr/include/luajit-2.1" } } do
      ok, out = sh("cd " .. q(src) .. " && luarocks make --deps-mode=none --tree=" .. q(tree) .. " --lua-version="
        .. v[1] .. v[3] .. " rockspecs/image/midjourney-image-scm-1.rockspec")
      assert(ok, out)
      local so = tree .. "/lib/lua/" .. v[1] .. "/midjourney/image_core.so"
      assert.is_truthy(read_file(so), so)
      write_file(tmp .. "/rock-probe.lua", [[
        local image = require("midjourney.image")
        io.write(package.searchpath("midjourney.image_core", package.cpath), " ", #assert(image.split(arg[1])))
      ]])
      ok, out = sh("cd " .. q(tmp) .. " && LUA_PATH=" .. q(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;")
        .. " LUA_CPATH=" .. q(tree .. "/lib/lua/" .. v[1] .. "/?.so") .. " " .. v[2] .. " rock-probe.lua "
        .. q(files.png))
      assert(ok, out)
      assert.are.equal(so .. " 4", out)
    end
  end)

  it("the README's Images example runs as written", function()
    local readme = read_file(root .. "/README.md")
    local at = assert(readme:find("\n## Images\n", 1, true), "README has no Images section")
    local code = assert(readme:match("```lua\n(.-)```", at))
    local dir = tmp .. "/readme"
    os.execute("mkdir -p " .. q(dir))
    write_file(dir .. "/grid.png", read_file(files.png))
    write_file(dir .. "/example.lua", code)
    local ok, out = sh("cd " .. q(dir) .. " && LUA_PATH=" .. q(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;")
      .. " LUA_CPATH=" .. q(root .. "/build/lua5.4/?.so;;") .. " lua5.4 example.lua")
    assert(ok, out)
    assert.matches("data:image/png;base64,", out, 1, true)
    local rects = image.quadrants(256, 256)
    for i = 1, 4 do
      local part = assert(image.info(dir .. "/grid-U" .. i .. ".png"))
      assert.are.same({ rects[i].w, rects[i].h }, { part.width, part.height })
    end
  end)

  it("exports only luaopen_midjourney_image_core", function()
    local ok, out = sh("nm -D --defined-only " .. q(root .. "/build/lua5.4/midjourney/image_core.so")
      .. " | awk '$2 ~ /^[TDB]$/ {print $3}'")
    assert(ok, out)
    assert.are.equal("luaopen_midjourney_image_core\n", out)
  end)
end)
