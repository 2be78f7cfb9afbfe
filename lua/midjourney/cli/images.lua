--- Images given on the command line: a file path becomes a data URI whose MIME
-- type comes from the file's magic bytes (PNG, JPEG, WebP, GIF); URLs and data
-- URIs pass through unchanged.
--
-- Nothing in this module yields; reading a file blocks.
-- @module midjourney.cli.images

local M = {}

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local enc = {}
for i = 0, 63 do enc[i] = B64:sub(i + 1, i + 1) end

--- Largest file accepted as an image (bytes).
M.max_bytes = 32 * 1024 * 1024

--- Encodes a string as base64 (RFC 4648, with padding). Neither blocks nor yields.
-- @tparam string s
-- @treturn string
function M.base64(s)
  local out, n = {}, #s
  local floor = math.floor
  local j = 0
  for i = 1, n - 2, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + b * 256 + c
    j = j + 1
    out[j] = enc[floor(v / 262144)] .. enc[floor(v / 4096) % 64] .. enc[floor(v / 64) % 64] .. enc[v % 64]
  end
  local rest = n % 3
  if rest == 1 then
    local a = s:byte(n)
    local v = a * 65536
    out[j + 1] = enc[floor(v / 262144)] .. enc[floor(v / 4096) % 64] .. "=="
  elseif rest == 2 then
    local a, b = s:byte(n - 1, n)
    local v = a * 65536 + b * 256
    out[j + 1] = enc[floor(v / 262144)] .. enc[floor(v / 4096) % 64] .. enc[floor(v / 64) % 64] .. "="
  end
  return table.concat(out)
end

--- The MIME type of image bytes from their magic number, or nil.
-- Neither blocks nor yields.
-- @tparam string bytes the start of the file (12 bytes are enough)
-- @treturn string|nil "image/png", "image/jpeg", "image/webp" or "image/gif"
function M.mime(bytes)
  if bytes:sub(1, 8) == "\137PNG\r\n\26\n" then return "image/png" end
  if bytes:sub(1, 3) == "\255\216\255" then return "image/jpeg" end
  if bytes:sub(1, 4) == "RIFF" and bytes:sub(9, 12) == "WEBP" then return "image/webp" end
  local gif = bytes:sub(1, 6)
  if gif == "GIF87a" or gif == "GIF89a" then return "image/gif" end
  return nil
end

--- True when `s` is an http(s) URL.
-- Neither blocks nor yields.
-- @tparam string s
-- @treturn boolean
function M.is_url(s)
  return s:match("^[Hh][Tt][Tt][Pp][Ss]?://") ~= nil
end

--- Turns a command-line image argument into what the API takes: a URL or a data
-- URI is returned unchanged; anything else is read as a file and returned as a
-- data URI. Blocks (reads the file).
-- @tparam string spec a path, an http(s) URL or a data URI
-- @tparam[opt] table opts `only` = a MIME type the file must have (e.g. "image/png"),
-- `no_url` = refuse URLs
-- @treturn[1] string the URL or data URI
-- @treturn[1] string|nil the MIME type when a file was read
-- @treturn[2] nil
-- @treturn[2] string a one-line reason (missing file, unknown type)
function M.load(spec, opts)
  opts = opts or {}
  if type(spec) ~= "string" or spec == "" then return nil, "empty image argument" end
  if M.is_url(spec) then
    if opts.no_url then return nil, "expected an image file, got a URL: " .. spec end
    return spec
  end
  if spec:sub(1, 5) == "data:" then return spec end
  local f, err = io.open(spec, "rb")
  if not f then return nil, "cannot read image " .. (err or spec) end
  local data = f:read(M.max_bytes + 1)
  f:close()
  if not data or data == "" then return nil, "image file is empty: " .. spec end
  if #data > M.max_bytes then
    return nil, string.format("image file is larger than %d bytes: %s", M.max_bytes, spec)
  end
  local mime = M.mime(data:sub(1, 12))
  if not mime then return nil, "not a PNG, JPEG, WebP or GIF image: " .. spec end
  if opts.only and mime ~= opts.only then
    return nil, string.format("expected %s, got %s: %s", opts.only, mime, spec)
  end
  return "data:" .. mime .. ";base64," .. M.base64(data), mime
end

return M
