--- Image files without a codec: format detection by magic bytes, header reads (format, width,
-- height) and `data:image/…;base64,…` URIs for `blend`, `describe`, `swap_face`, image prompts
-- and Vary Region masks.
--
-- Pure Lua: it works without the image libraries (libspng, libjpeg, libwebp) that
-- `midjourney.image` needs, and `midjourney.image` re-exports every function here.
--
-- **Path or bytes.** Every function that takes an image accepts either the image's bytes or a
-- file path, by one rule: a string that *starts with* a PNG, JPEG, WebP or GIF signature is
-- image bytes; any other string is a file path. (No sensible file name starts with those bytes;
-- a string holding NUL or longer than 4096 bytes cannot be a path and is refused as neither.)
-- The format always comes from the magic bytes, never from the file name.
--
-- Errors are `nil, err` with `err.kind == "invalid"` (nothing was sent anywhere), a readable
-- `err.message`, `err.reason` (`"unreadable"`, `"empty"`, `"file_too_large"`, `"unsupported"`,
-- `"corrupt"`) and `err.path` when the image came from a file. Wrong argument types and unknown
-- option keys raise.
--
-- Nothing here yields; functions given a path block while they read the file.
-- @module midjourney.image.uri
local errors = require "midjourney.errors"

local M = {}

local byte, floor, concat = string.byte, math.floor, table.concat

--- Largest image accepted, in bytes (32 MiB, the same cap as the CLI). `opts.max_bytes` overrides it per call.
M.max_bytes = 32 * 1024 * 1024

--- MIME type per format name.
M.mimes = { png = "image/png", jpeg = "image/jpeg", webp = "image/webp", gif = "image/gif" }

local MAX_PATH = 4096

--- The format of image bytes from their magic number. Neither blocks nor yields.
-- @tparam string bytes the start of the data (12 bytes are enough)
-- @treturn[1] string `"png"`, `"jpeg"`, `"webp"` or `"gif"`
-- @treturn[1] string the MIME type (`"image/png"`, …)
-- @treturn[2] nil when the bytes start with none of the four signatures
-- @raise when `bytes` is not a string
function M.sniff(bytes)
  if type(bytes) ~= "string" then
    error("image.sniff: argument 'bytes' must be a string, got " .. type(bytes), 2)
  end
  local f
  if bytes:sub(1, 8) == "\137PNG\r\n\26\n" then
    f = "png"
  elseif bytes:sub(1, 3) == "\255\216\255" then
    f = "jpeg"
  elseif bytes:sub(1, 4) == "RIFF" and bytes:sub(9, 12) == "WEBP" then
    f = "webp"
  elseif bytes:sub(1, 6) == "GIF87a" or bytes:sub(1, 6) == "GIF89a" then
    f = "gif"
  end
  if f then return f, M.mimes[f] end
  return nil
end

-- base64 (RFC 4648, padded): a table of the 4,096 two-character strings, so one lookup encodes
-- 12 bits; 12 input bytes make one output piece.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local ONE, TWO = {}, {}
for i = 0, 63 do ONE[i] = B64:sub(i + 1, i + 1) end
for i = 0, 4095 do TWO[i] = ONE[floor(i / 64)] .. ONE[i % 64] end

--- Encodes a string as base64 (RFC 4648, with `=` padding, no line breaks).
-- Neither blocks nor yields.
-- @tparam string s
-- @treturn string
-- @raise when `s` is not a string
function M.base64(s)
  if type(s) ~= "string" then error("image.base64: argument 's' must be a string, got " .. type(s), 2) end
  local out, j, n = {}, 0, #s
  local full = n - n % 12
  for i = 1, full, 12 do
    local a1, b1, c1, a2, b2, c2, a3, b3, c3, a4, b4, c4 = byte(s, i, i + 11)
    local v1 = a1 * 65536 + b1 * 256 + c1
    local v2 = a2 * 65536 + b2 * 256 + c2
    local v3 = a3 * 65536 + b3 * 256 + c3
    local v4 = a4 * 65536 + b4 * 256 + c4
    j = j + 1
    out[j] = TWO[floor(v1 / 4096)] .. TWO[v1 % 4096] .. TWO[floor(v2 / 4096)] .. TWO[v2 % 4096]
      .. TWO[floor(v3 / 4096)] .. TWO[v3 % 4096] .. TWO[floor(v4 / 4096)] .. TWO[v4 % 4096]
  end
  local i = full + 1
  while i + 2 <= n do
    local a, b, c = byte(s, i, i + 2)
    local v = a * 65536 + b * 256 + c
    j = j + 1
    out[j] = TWO[floor(v / 4096)] .. TWO[v % 4096]
    i = i + 3
  end
  local rest = n - i + 1
  if rest == 1 then
    local v = byte(s, i) * 65536
    out[j + 1] = TWO[floor(v / 4096)] .. "=="
  elseif rest == 2 then
    local a, b = byte(s, i, i + 1)
    local v = a * 65536 + b * 256
    out[j + 1] = TWO[floor(v / 4096)] .. ONE[floor(v / 64) % 64] .. "="
  end
  return concat(out)
end

local function fail(reason, message, path)
  return nil, errors.new{ kind = "invalid", reason = reason, message = message, path = path }
end

local function check_opts(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(fname .. ": argument 'opts' must be a table, got " .. type(opts), 3)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (known: %s)", fname, tostring(k), concat(names, ", ")), 3)
    end
  end
  local mb = opts.max_bytes
  if mb ~= nil and (type(mb) ~= "number" or mb ~= mb or mb < 1) then
    error(fname .. ": option 'max_bytes' must be a positive number", 3)
  end
  return opts
end

local function printable(s)
  local head = s:sub(1, 16):gsub("[^\32-\126]", ".")
  return head .. (#s > 16 and "…" or "")
end

--- Resolves an image argument by the path-or-bytes rule: image bytes are returned as they are,
-- anything else is read as a file. Blocks while reading a file; never yields.
-- @tparam string value image bytes or a file path
-- @tparam[opt] table opts `max_bytes` (default `uri.max_bytes`)
-- @treturn[1] string the bytes (not checked beyond the rule: a file may hold anything)
-- @treturn[1] string|nil the path when the bytes came from a file
-- @treturn[2] nil
-- @treturn[2] table error (kind `"invalid"`, reason `"unreadable"`, `"empty"` or `"file_too_large"`)
-- @raise when `value` is not a string, or on an unknown option
function M.read(value, opts)
  if type(value) ~= "string" then
    error("image: argument must be image bytes or a file path (a string), got " .. type(value), 2)
  end
  opts = check_opts("image.read", opts, { max_bytes = true })
  local max = floor(opts.max_bytes or M.max_bytes)
  if M.sniff(value) then
    if #value > max then
      return fail("file_too_large", string.format("image is %d bytes, over the limit of %d", #value, max))
    end
    return value, nil
  end
  if value == "" then return fail("empty", "empty image argument (neither image bytes nor a file path)") end
  if value:find("\0", 1, true) or #value > MAX_PATH then
    return fail("unsupported", string.format("a string of %d bytes that is neither image bytes (no PNG, JPEG, "
      .. "WebP or GIF signature) nor a file path", #value))
  end
  local f, oerr = io.open(value, "rb")
  if not f then return fail("unreadable", "cannot read image file: " .. tostring(oerr), value) end
  local data, rerr = f:read(max + 1)
  f:close()
  if data == nil and rerr then return fail("unreadable", "cannot read image file " .. value .. ": " .. rerr, value) end
  if data == nil or data == "" then return fail("empty", "image file is empty: " .. value, value) end
  if #data > max then
    return fail("file_too_large", string.format("image file is larger than %d bytes: %s", max, value), value)
  end
  return data, value
end

local function be16(s, i) local a, b = byte(s, i, i + 1); return a * 256 + b end
local function le16(s, i) local a, b = byte(s, i, i + 1); return a + b * 256 end
local function le24(s, i) local a, b, c = byte(s, i, i + 2); return a + b * 256 + c * 65536 end
local function be32(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end
local function le32(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return ((d * 256 + c) * 256 + b) * 256 + a
end

-- Each returns width, height or nil, reason text.
local headers = {}
local header_info

function headers.png(s)
  if #s < 24 then return nil, "truncated PNG header" end
  if s:sub(13, 16) ~= "IHDR" or be32(s, 9) ~= 13 then return nil, "PNG does not start with an IHDR chunk" end
  return be32(s, 17), be32(s, 21)
end

function headers.gif(s)
  if #s < 10 then return nil, "truncated GIF header" end
  return le16(s, 7), le16(s, 9)
end

function headers.jpeg(s)
  local n, i = #s, 3
  while true do
    if i > n then return nil, "JPEG ends before its frame header (SOF)" end
    if byte(s, i) ~= 255 then return nil, string.format("JPEG marker expected at byte %d", i - 1) end
    while i <= n and byte(s, i) == 255 do i = i + 1 end -- fill bytes
    if i > n then return nil, "JPEG ends before its frame header (SOF)" end
    local m = byte(s, i)
    i = i + 1
    if m == 0xD9 or m == 0xDA then return nil, "JPEG has no frame header (SOF) before its image data" end
    if not (m == 0x01 or m == 0xD8 or (m >= 0xD0 and m <= 0xD7)) then -- those stand alone
      if i + 1 > n then return nil, "JPEG ends inside a segment header" end
      local len = be16(s, i)
      if len < 2 then return nil, "JPEG segment with an invalid length" end
      if m >= 0xC0 and m <= 0xCF and m ~= 0xC4 and m ~= 0xC8 and m ~= 0xCC then
        if i + 6 > n or len < 8 then return nil, "JPEG ends inside its frame header (SOF)" end
        return be16(s, i + 5), be16(s, i + 3)
      end
      i = i + len
    end
  end
end

function headers.webp(s)
  if #s < 30 then return nil, "truncated WebP header" end
  local kind = s:sub(13, 16)
  if kind == "VP8 " then
    if s:sub(24, 26) ~= "\157\1\42" then return nil, "WebP (VP8) without its start code" end
    return le16(s, 27) % 16384, le16(s, 29) % 16384
  elseif kind == "VP8L" then
    if byte(s, 21) ~= 0x2F then return nil, "WebP (VP8L) without its signature byte" end
    local v = le32(s, 22)
    return v % 16384 + 1, floor(v / 16384) % 16384 + 1
  elseif kind == "VP8X" then
    return le24(s, 25) + 1, le24(s, 28) + 1
  end
  return nil, "WebP with an unknown first chunk '" .. printable(kind) .. "'"
end

--- Format and size of an image, read from its header without decoding it (PNG IHDR, JPEG SOF
-- marker, WebP VP8/VP8L/VP8X chunk, GIF logical screen). Blocks while reading a file; never yields.
-- Works without the image libraries. It only reads the header: the size limits of
-- `image.decode`/`image.split` are not applied here, so a huge size is reported as it is.
-- @tparam string value image bytes or a file path (the path-or-bytes rule above)
-- @tparam[opt] table opts `max_bytes`
-- @treturn[1] table `{format = "png"|"jpeg"|"webp"|"gif", mime = "image/png"|…, width = n, height = n}`
-- @treturn[2] nil
-- @treturn[2] table error (kind `"invalid"`; reason `"unsupported"` for other data, `"corrupt"` for a
--   truncated or malformed header, or a file reason from `read`)
-- @raise when `value` is not a string, or on an unknown option
function M.info(value, opts)
  if type(value) ~= "string" then
    error("image.info: argument must be image bytes or a file path (a string), got " .. type(value), 2)
  end
  check_opts("image.info", opts, { max_bytes = true })
  local bytes, path = M.read(value, opts)
  if not bytes then return nil, path end
  return header_info(bytes, path)
end

-- The info of bytes already read (no path-or-bytes rule: a file may hold anything).
function header_info(bytes, path)
  local where = path and (path .. ": ") or ""
  local format, mime = M.sniff(bytes)
  if not format then
    -- the content is not echoed: a key file passed by mistake must not end up in a message
    return fail("unsupported", where .. "not a PNG, JPEG, WebP or GIF image (no known signature)", path)
  end
  local w, h = headers[format](bytes)
  if not w then return fail("corrupt", where .. "invalid " .. format:upper() .. " header: " .. h, path) end
  if w == 0 or h == 0 then
    return fail("corrupt", string.format("%sinvalid %s header: empty size %dx%d", where, format:upper(), w, h), path)
  end
  return { format = format, mime = mime, width = w, height = h }
end

--- The data URI of an image: `data:image/png;base64,…` (or jpeg, webp, gif), the form `blend`,
-- `describe`, `swap_face`, image prompts and `maskBase64` take. The format is detected from the
-- magic bytes and the header must be readable (see `info`); anything else is refused.
-- Blocks while reading a file; never yields.
-- @tparam string value image bytes or a file path (the path-or-bytes rule above)
-- @tparam[opt] table opts `max_bytes` (default `uri.max_bytes`, 32 MiB), `formats` (a list of the
--   accepted formats, e.g. `{"png"}` for a mask; default all four)
-- @treturn[1] string the data URI
-- @treturn[1] table the image's `info`: `{format=, mime=, width=, height=}`
-- @treturn[2] nil
-- @treturn[2] table error (kind `"invalid"`, reasons as for `info`; `"unsupported"` also when the
--   format is not in `opts.formats`)
-- @raise when `value` is not a string, or on an unknown option or a bad `formats` list
function M.data_uri(value, opts)
  if type(value) ~= "string" then
    error("image.data_uri: argument must be image bytes or a file path (a string), got " .. type(value), 2)
  end
  opts = check_opts("image.data_uri", opts, { max_bytes = true, formats = true })
  local allowed
  if opts.formats ~= nil then
    if type(opts.formats) ~= "table" or #opts.formats == 0 then
      error("image.data_uri: option 'formats' must be a non-empty list such as {\"png\"}", 2)
    end
    allowed = {}
    for _, f in ipairs(opts.formats) do
      if not M.mimes[f] then
        error("image.data_uri: option 'formats': unknown format '" .. tostring(f)
          .. "' (png, jpeg, webp, gif)", 2)
      end
      allowed[f] = true
    end
  end
  local bytes, path = M.read(value, { max_bytes = opts.max_bytes })
  if not bytes then return nil, path end
  local info, err = header_info(bytes, path)
  if not info then return nil, err end
  if allowed and not allowed[info.format] then
    return fail("unsupported", string.format("%s%s image where %s is expected", path and (path .. ": ") or "",
      info.format:upper(), concat(opts.formats, " or "):upper()), path)
  end
  return "data:" .. info.mime .. ";base64," .. M.base64(bytes), info
end

--- Turns whatever the user gave as an image into what the API takes: an http(s) URL or a `data:`
-- URI is returned unchanged; image bytes or a file path become a data URI (`data_uri`).
-- Blocks while reading a file; never yields.
-- @tparam string value a URL, a data URI, image bytes or a file path
-- @tparam[opt] table opts as for `data_uri`
-- @treturn[1] string the URL or data URI
-- @treturn[1] table|nil the image's `info` when it was converted
-- @treturn[2] nil
-- @treturn[2] table error as for `data_uri`
-- @raise when `value` is not a string, or on an unknown option
function M.coerce(value, opts)
  if type(value) ~= "string" then
    error("image.coerce: argument must be a URL, a data URI, image bytes or a file path, got " .. type(value), 2)
  end
  if not M.sniff(value) then
    if value:match("^[Hh][Tt][Tt][Pp][Ss]?://") or value:match("^[Dd][Aa][Tt][Aa]:") then return value end
  end
  return M.data_uri(value, opts)
end

return M
