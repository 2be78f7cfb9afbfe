--- Images: cut a Midjourney 2×2 grid into its four pictures, draw Vary Region masks, decode and
-- encode pixels, and (re-exported from `midjourney.image.uri`) data URIs and header reads.
--
-- Decoding and encoding use system libraries through the separate C module
-- `midjourney.image_core`: libspng (PNG), libjpeg-turbo (JPEG) and libwebp (WebP). When that
-- module was not built, `require "midjourney.image"` raises an error that names the Debian
-- packages to install; `midjourney.image.uri` (`data_uri`, `info`, `sniff`, `base64`, `coerce`)
-- always works, since it needs no codec.
--
-- Images are taken as bytes or as a file path by the rule of `midjourney.image.uri`: a string
-- that starts with a PNG, JPEG, WebP or GIF signature is bytes, any other string is a path.
--
-- **Limits.** `decode` and `split` read the size from the header and refuse an image wider or
-- taller than 16,384 pixels or over 256 Mpixel (`image.limits`) before allocating anything for
-- its pixels; `opts.max_side`/`opts.max_pixels` lower the limits per call.
--
-- **Errors.** Runtime failures return `nil, err` (see `midjourney.errors`) with `err.reason`:
-- kind `"invalid"` for `"unsupported"` (not PNG/JPEG/WebP, GIF, CMYK JPEG, animated WebP),
-- `"too_large"` (over the limits), `"too_small"` (a grid under 2×2 pixels) and the file reasons of
-- `midjourney.image.uri`; kind `"decode"` for `"corrupt"` (truncated or malformed data; a JPEG whose
-- data is cut short is refused rather than returned half grey) and `"nomem"`. Wrong argument types,
-- unknown option keys and malformed mask shapes raise.
--
-- Nothing here yields. The functions block while they work: splitting a 2048×2048 PNG grid takes
-- about a second of CPU (see `make bench`), so a Neovim or LÖVE host should not call them every frame.
-- @module midjourney.image
local uri = require "midjourney.image.uri"
local errors = require "midjourney.errors"

local DEBS = "libspng-dev libjpeg-dev libwebp-dev"

local ok, core = pcall(require, "midjourney.image_core")
if not ok then
  local why = tostring(core):match("^[^\n]*")
  error("midjourney.image needs the C module midjourney.image_core, which could not be loaded (" .. why .. "). "
    .. "It is built only when libspng, libjpeg(-turbo) and libwebp are found: on Debian/Ubuntu run "
    .. "`sudo apt-get install " .. DEBS .. "`, then `make && sudo make install` "
    .. "(or `luarocks make rockspecs/image/midjourney-image-scm-1.rockspec`). "
    .. "data_uri and info work without it: require \"midjourney.image.uri\".", 0)
end

local M = {}

--- The hard limits: `{max_side = 16384, max_pixels = 268435456}`.
M.limits = { max_side = core.max_side, max_pixels = core.max_pixels }

--- The Debian packages the C module is built from (for messages and health checks).
M.debian_packages = DEBS

--- `midjourney.image.uri.data_uri`, here too: the data URI of an image (path or bytes).
-- Blocks while reading a file; never yields.
-- @function data_uri
M.data_uri = uri.data_uri
--- `midjourney.image.uri.info`, here too: format and size from the header.
-- Blocks while reading a file; never yields.
-- @function info
M.info = uri.info
--- `midjourney.image.uri.sniff`, here too: the format of image bytes. Neither blocks nor yields.
-- @function sniff
M.sniff = uri.sniff
--- `midjourney.image.uri.base64`, here too. Neither blocks nor yields.
-- @function base64
M.base64 = uri.base64
--- `midjourney.image.uri.coerce`, here too: a URL or data URI for an image argument.
-- Blocks while reading a file; never yields.
-- @function coerce
M.coerce = uri.coerce
--- `midjourney.image.uri.read`, here too: the bytes of an image argument (path or bytes).
-- Blocks while reading a file; never yields.
-- @function read
M.read = uri.read

local function is_int(v)
  return type(v) == "number" and v == v and v == math.floor(v) and v > -math.huge and v < math.huge
end

local function check_opts(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fname .. ": argument 'opts' must be a table, got " .. type(opts), 3) end
  for k, v in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (known: %s)", fname, tostring(k), table.concat(names, ", ")), 3)
    end
    if k == "level" and not (is_int(v) and v >= 0 and v <= 9) then
      error(fname .. ": option 'level' must be an integer from 0 to 9", 3)
    elseif k == "max_side" and not (is_int(v) and v >= 1 and v <= M.limits.max_side) then
      error(fname .. ": option 'max_side' must be an integer from 1 to " .. M.limits.max_side, 3)
    elseif k == "max_pixels" and not (is_int(v) and v >= 1 and v <= M.limits.max_pixels) then
      error(fname .. ": option 'max_pixels' must be an integer from 1 to " .. M.limits.max_pixels, 3)
    end
  end
  return opts
end

local DECODE_KIND = { corrupt = "decode", nomem = "decode" }

local function core_fail(what, path, message, reason)
  return nil, errors.new{
    kind = DECODE_KIND[reason] or "invalid", reason = reason, path = path,
    message = what .. (path and (" " .. path) or "") .. ": " .. message,
  }
end

--- Largest image file `decode` and `split` read (256 MiB; `opts.max_bytes` overrides it per call).
-- Memory for pixels is bounded by `limits`, not by this.
M.max_file_bytes = 256 * 1024 * 1024

-- bytes, path from the path-or-bytes rule; GIF and unknown data are refused here with a clear word
local function load(what, value, opts)
  local bytes, path = uri.read(value, { max_bytes = opts.max_bytes or M.max_file_bytes })
  if not bytes then return nil, path end
  local format = uri.sniff(bytes)
  if not format then
    return core_fail(what, path, "not a PNG, JPEG or WebP image", "unsupported")
  elseif format == "gif" then
    return core_fail(what, path, "GIF images cannot be decoded (PNG, JPEG and WebP can)", "unsupported")
  end
  return bytes, path
end

--- Decodes a PNG, JPEG or WebP image to 8-bit pixels. Blocks (CPU, and reading a file); never yields.
-- PNGs of any bit depth and colour type come out as 8-bit RGB, or RGBA when they have alpha (an
-- alpha channel or tRNS); JPEGs (greyscale, YCbCr, RGB) as RGB (EXIF orientation is not applied);
-- WebPs as RGB or RGBA.
-- @tparam string value image bytes or a file path
-- @tparam[opt] table opts `max_side`, `max_pixels` (lower the limits), `max_bytes` (size cap of the
--   file or bytes, default `image.max_file_bytes`, 256 MiB)
-- @treturn[1] table `{format = "png"|"jpeg"|"webp", width = n, height = n, channels = 3|4, pixels = string}`;
--   `pixels` holds `height` rows of `width * channels` bytes, top row first, no padding
-- @treturn[2] nil
-- @treturn[2] table error (see the module's Errors)
-- @raise on a wrong argument type or an unknown option
function M.decode(value, opts)
  if type(value) ~= "string" then
    error("image.decode: argument must be image bytes or a file path (a string), got " .. type(value), 2)
  end
  opts = check_opts("image.decode", opts, { max_side = true, max_pixels = true, max_bytes = true })
  local bytes, path = load("decode", value, opts)
  if not bytes then return nil, path end
  local format, w, h, ch, pixels = core.decode(bytes, opts.max_side, opts.max_pixels)
  if not format then return core_fail("decode", path, w, h) end
  return { format = format, width = w, height = h, channels = ch, pixels = pixels }
end

local function check_image(fname, img)
  if type(img) ~= "table" then error(fname .. ": argument 'image' must be a table, got " .. type(img), 3) end
  for _, k in ipairs{ "width", "height" } do
    if not (is_int(img[k]) and img[k] >= 1 and img[k] <= M.limits.max_side) then
      error(string.format("%s: image.%s must be an integer from 1 to %d", fname, k, M.limits.max_side), 3)
    end
  end
  if not (img.channels == 1 or img.channels == 3 or img.channels == 4) then
    error(fname .. ": image.channels must be 1 (grey), 3 (RGB) or 4 (RGBA)", 3)
  end
  if type(img.pixels) ~= "string" or #img.pixels ~= img.width * img.height * img.channels then
    error(string.format("%s: image.pixels must be a string of width * height * channels = %d bytes", fname,
      img.width * img.height * img.channels), 3)
  end
end

--- Encodes 8-bit pixels as a PNG (libspng). Blocks (CPU); never yields.
-- @tparam table image `{width=, height=, channels = 1|3|4, pixels=}` as `decode` returns it
--   (1 channel = grey)
-- @tparam[opt] table opts `level` (zlib level 0–9; default 6)
-- @treturn[1] string PNG bytes
-- @treturn[2] nil
-- @treturn[2] table error (reason `"nomem"`)
-- @raise when `image` is malformed or on an unknown option
function M.encode_png(image, opts)
  check_image("image.encode_png", image)
  opts = check_opts("image.encode_png", opts, { level = true })
  local png, msg, reason = core.encode_png(image.pixels, image.width, image.height, image.channels, opts.level)
  if not png then return core_fail("encode_png", nil, msg, reason) end
  return png
end

--- The four quadrants of a `width`×`height` grid in Midjourney's U1–U4 order: top-left, top-right,
-- bottom-left, bottom-right. **Odd sizes:** the left column and the top row get the extra pixel
-- (left width = ceil(width / 2), right width = floor(width / 2); the same for heights), so every
-- pixel of the grid is in exactly one picture. Neither blocks nor yields.
-- @tparam integer width 2 to 16384
-- @tparam integer height 2 to 16384
-- @treturn table `{ {x=, y=, w=, h=}, … }` (4 rects, 0-based pixel coordinates)
-- @raise when a size is not an integer from 2 to 16384
function M.quadrants(width, height)
  if not (is_int(width) and width >= 2 and width <= M.limits.max_side) then
    error("image.quadrants: width must be an integer from 2 to " .. M.limits.max_side, 2)
  end
  if not (is_int(height) and height >= 2 and height <= M.limits.max_side) then
    error("image.quadrants: height must be an integer from 2 to " .. M.limits.max_side, 2)
  end
  local q = core.quadrants(width, height)
  local out = {}
  for i = 0, 3 do
    out[i + 1] = { x = q[i * 4 + 1], y = q[i * 4 + 2], w = q[i * 4 + 3], h = q[i * 4 + 4] }
  end
  return out
end

--- Cuts a 2×2 grid (PNG, JPEG or WebP) into its four pictures, each a PNG, in Midjourney's U1–U4
-- order (top-left, top-right, bottom-left, bottom-right; odd sizes as in `quadrants`). The grid is
-- decoded once; each picture keeps the grid's pixels exactly (RGB, or RGBA when the grid has alpha).
-- Blocks (CPU, and reading a file); never yields.
-- @tparam string grid image bytes or a file path
-- @tparam[opt] table opts `level` (zlib level 0–9 for the PNGs, default 6), `max_side`, `max_pixels`,
--   `max_bytes` (default `image.max_file_bytes`, 256 MiB)
-- @treturn[1] table `{png1, png2, png3, png4, format = <the grid's format>, width = <grid width>,
--   height = <grid height>, channels = 3|4}`
-- @treturn[2] nil
-- @treturn[2] table error (see the module's Errors; `"too_small"` for a grid under 2×2 pixels)
-- @raise on a wrong argument type or an unknown option
function M.split(grid, opts)
  if type(grid) ~= "string" then
    error("image.split: argument 'grid' must be image bytes or a file path (a string), got " .. type(grid), 2)
  end
  opts = check_opts("image.split", opts, { level = true, max_side = true, max_pixels = true, max_bytes = true })
  local bytes, path = load("split", grid, opts)
  if not bytes then return nil, path end
  local p1, p2, p3, p4, format, w, h, ch = core.split(bytes, opts.level, opts.max_side, opts.max_pixels)
  if not p1 then
    if p3 == "invalid" then p3 = "too_small" end
    return core_fail("split", path, p2, p3)
  end
  return { p1, p2, p3, p4, format = format, width = w, height = h, channels = ch }
end

-- Mask shapes ---------------------------------------------------------------------------------

local SHAPE_KEYS = { rect = true, ellipse = true, unit = true }
local UNITS = { px = true, fraction = true }
local GEOMETRY = { rect = "{x, y, w, h}", ellipse = "{cx, cy, rx, ry}" }

-- raised from add_shape (depth 0) or one call deeper (depth 1); the error points at mask's caller
local function mask_error(msg, depth)
  error("image.mask: " .. msg, 4 + (depth or 0))
end

local function check_unit(where, u, depth)
  if not UNITS[u] then
    mask_error(string.format("%s: unit must be \"px\" or \"fraction\", got %s", where,
      type(u) == "string" and ("\"" .. u .. "\"") or tostring(u)), depth)
  end
  return u
end

-- Appends one shape, converted to pixels, to the flat list {kind, a, b, c, d, ...}.
local function add_shape(flat, i, shape, default_unit, width, height)
  local where = "shapes[" .. i .. "]"
  if type(shape) ~= "table" then mask_error(where .. " must be a table such as {rect = {x, y, w, h}}") end
  for k in pairs(shape) do
    if not SHAPE_KEYS[k] then
      mask_error(string.format("%s: unknown key '%s' (expected rect, ellipse or unit)", where, tostring(k)))
    end
  end
  local kind = shape.rect ~= nil and "rect" or shape.ellipse ~= nil and "ellipse" or nil
  if not kind then mask_error(where .. " needs rect = {x, y, w, h} or ellipse = {cx, cy, rx, ry}") end
  if shape.rect ~= nil and shape.ellipse ~= nil then
    mask_error(where .. " has both rect and ellipse; give one shape per table")
  end
  local unit = shape.unit ~= nil and check_unit(where, shape.unit, 1) or default_unit
  local g = shape[kind]
  local gwhere = where .. "." .. kind
  if type(g) ~= "table" then mask_error(gwhere .. " must be " .. GEOMETRY[kind] .. ", 4 numbers") end
  for k in pairs(g) do
    if not (k == 1 or k == 2 or k == 3 or k == 4) then
      mask_error(string.format("%s: unexpected key '%s' (%s is 4 numbers)", gwhere, tostring(k), GEOMETRY[kind]))
    end
  end
  local v = {}
  for j = 1, 4 do
    local n = g[j]
    if type(n) ~= "number" or n ~= n or n == math.huge or n == -math.huge then
      mask_error(string.format("%s[%d] must be a finite number (%s), got %s", gwhere, j, GEOMETRY[kind], tostring(n)))
    end
    if j >= 3 and n <= 0 then
      mask_error(string.format("%s[%d] is a size and must be > 0, got %s", gwhere, j, tostring(n)))
    end
    if unit == "fraction" and (n < 0 or n > 1) then
      mask_error(string.format("%s[%d] = %s is not a fraction from 0 to 1 (unit = \"fraction\")", gwhere, j,
        tostring(n)))
    end
    v[j] = n
  end
  if unit == "fraction" then
    v[1], v[2], v[3], v[4] = v[1] * width, v[2] * height, v[3] * width, v[4] * height
  end
  local base = #flat
  flat[base + 1] = kind == "rect" and 1 or 2
  flat[base + 2], flat[base + 3], flat[base + 4], flat[base + 5] = v[1], v[2], v[3], v[4]
end

--- Draws a Vary Region mask: a greyscale PNG of `width`×`height` pixels, white (255) where the
-- image is to be repainted and black (0) where it is kept, ready for `maskBase64` (pass it to
-- `data_uri`). Blocks (CPU); never yields.
--
-- `shapes` is a list of shapes, each a table with exactly one of
-- `rect = {x, y, w, h}` (left, top, width, height) or `ellipse = {cx, cy, rx, ry}` (centre and radii),
-- and optionally `unit`. Numbers are pixels by default; with `unit = "fraction"` they are fractions of
-- the image (x, w, cx, rx of the width; y, h, cy, ry of the height) and must lie in 0..1. A `unit` key
-- on the list itself sets the default for every shape. Example:
--
--     image.mask(1024, 1024, { {rect = {0, 0, 512, 300}}, {ellipse = {0.5, 0.7, 0.2, 0.1}, unit = "fraction"} })
--
-- **Which pixels are white:** pixel (px, py), 0-based, covers the square from (px, py) to
-- (px + 1, py + 1), and it is white when its centre (px + 0.5, py + 0.5) is inside a shape: for a rect,
-- x ≤ px + 0.5 < x + w and y ≤ py + 0.5 < y + h (so whole-pixel rects cover exactly columns x to x + w − 1);
-- for an ellipse, ((px + 0.5 − cx) / rx)² + ((py + 0.5 − cy) / ry)² ≤ 1. Shapes may overlap and may reach
-- outside the image (they are clipped).
-- @tparam integer width 1 to 16384
-- @tparam integer height 1 to 16384
-- @tparam table shapes the list of shapes (at least one), optionally with `unit = "px"|"fraction"`
-- @tparam[opt] table opts `level` (zlib level 0–9, default 6)
-- @treturn[1] string PNG bytes (8-bit greyscale)
-- @treturn[2] nil
-- @treturn[2] table error (reason `"nomem"`)
-- @raise on a bad size, a malformed shape list (the message names the shape and key: an unknown key
--   such as `elipse`, a missing or non-finite number, a size ≤ 0, a fraction outside 0..1) or an unknown option
function M.mask(width, height, shapes, opts)
  if not (is_int(width) and width >= 1 and width <= M.limits.max_side) then
    error("image.mask: width must be an integer from 1 to " .. M.limits.max_side .. ", got " .. tostring(width), 2)
  end
  if not (is_int(height) and height >= 1 and height <= M.limits.max_side) then
    error("image.mask: height must be an integer from 1 to " .. M.limits.max_side .. ", got " .. tostring(height), 2)
  end
  if type(shapes) ~= "table" then
    error("image.mask: argument 'shapes' must be a list of shapes, got " .. type(shapes), 2)
  end
  opts = check_opts("image.mask", opts, { level = true })
  local n = #shapes
  for k in pairs(shapes) do
    if k ~= "unit" and not (is_int(k) and k >= 1 and k <= n) then
      error(string.format("image.mask: shapes: unknown key '%s' (expected a list of shapes and optionally unit)",
        tostring(k)), 2)
    end
  end
  if n == 0 then error("image.mask: shapes is empty; give at least one rect or ellipse", 2) end
  local default_unit = shapes.unit ~= nil and check_unit("shapes", shapes.unit, 0) or "px"
  local flat = {}
  for i = 1, n do add_shape(flat, i, shapes[i], default_unit, width, height) end
  local png, msg, reason = core.mask(width, height, flat, opts.level)
  if not png then return core_fail("mask", nil, msg, reason) end
  return png
end

--- Versions of the image libraries in use. Neither blocks nor yields.
-- @treturn table `{spng = "0.7.3", jpeg = "2.1.5", webp = "1.2.4"}`
function M.versions()
  return core.versions()
end

return M
