---@meta
-- LuaCATS definitions of midjourney.image.uri for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---What `info` returns: an image's format and size, from its header.
---@class midjourney.ImageInfo
---@field format "png"|"jpeg"|"webp"|"gif"
---@field mime string # "image/png", ...
---@field width integer
---@field height integer

---The options of `read` and `info`.
---@class midjourney.ImageReadOptions
---@field max_bytes? integer # default `uri.max_bytes` (32 MiB)

---The options of `data_uri` and `coerce`.
---@class midjourney.DataUriOptions: midjourney.ImageReadOptions
---@field formats? ("png"|"jpeg"|"webp"|"gif")[] # the accepted formats, default all four

---Image files without a codec: format detection, header reads, data URIs. Pure Lua. Every image
---argument is image bytes or a file path (a string that starts with an image signature is bytes).
---Nothing here yields; functions given a path block while they read the file.
---@class midjourney.image.uri
---@field max_bytes integer # largest image accepted (32 MiB)
---@field mimes table<string, string> # MIME type per format name
local M = {}

---The format of image bytes from their magic number.
---@param bytes string
---@return ("png"|"jpeg"|"webp"|"gif")? format
---@return string? mime
function M.sniff(bytes) end

---Encodes a string as base64 (RFC 4648, padded).
---@param s string
---@return string
function M.base64(s) end

---The bytes of an image argument (bytes as they are; anything else is read as a file).
---@param value string
---@param opts? midjourney.ImageReadOptions
---@return string? bytes
---@return string|midjourney.Error|nil path_or_err # the path when the bytes came from a file
function M.read(value, opts) end

---Format and size of an image, from its header.
---@param value string # image bytes or a file path
---@param opts? midjourney.ImageReadOptions
---@return midjourney.ImageInfo? info
---@return midjourney.Error? err
function M.info(value, opts) end

---The data URI of an image (`data:image/png;base64,...`).
---@param value string # image bytes or a file path
---@param opts? midjourney.DataUriOptions
---@return string? uri
---@return midjourney.ImageInfo|midjourney.Error info_or_err
function M.data_uri(value, opts) end

---A URL or data URI for an image argument: URLs and data URIs unchanged, bytes and paths converted.
---@param value string
---@param opts? midjourney.DataUriOptions
---@return string? uri
---@return midjourney.ImageInfo|midjourney.Error|nil info_or_err
function M.coerce(value, opts) end

return M
