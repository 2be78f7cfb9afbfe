--- Images given on the command line: a file path becomes a data URI whose MIME
-- type comes from the file's magic bytes (PNG, JPEG, WebP, GIF) and whose header must
-- be readable (`midjourney.image.uri`); URLs and data URIs pass through unchanged.
--
-- Nothing in this module yields; reading a file blocks.
-- @module midjourney.cli.images

local uri = require "midjourney.image.uri"

local M = {}

--- Largest file accepted as an image (bytes): an upload's size, as `midjourney.image.uri`.
M.max_bytes = uri.max_bytes

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
-- @tparam[opt] table opts `only` = the format the file must have (`"png"`),
-- `no_url` = refuse URLs (the gateway wants the image itself)
-- @treturn[1] string the URL or data URI
-- @treturn[1] string|nil the MIME type when a file was read
-- @treturn[2] nil
-- @treturn[2] string a one-line reason (missing file, not an image, wrong format)
function M.load(spec, opts)
  opts = opts or {}
  if type(spec) ~= "string" or spec == "" then return nil, "empty image argument" end
  if M.is_url(spec) then
    if opts.no_url then return nil, "expected an image file, got a URL: " .. spec end
    return spec
  end
  if spec:sub(1, 5):lower() == "data:" then return spec end
  local v, info = uri.data_uri(spec, { max_bytes = M.max_bytes, formats = opts.only and { opts.only } or nil })
  if not v then
    local msg = info.message
    if info.reason == "unsupported" and not msg:find("is expected", 1, true) then
      msg = "not a PNG, JPEG, WebP or GIF image: " .. spec
    end
    return nil, msg
  end
  return v, info.mime
end

return M
