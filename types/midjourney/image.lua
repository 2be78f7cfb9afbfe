---@meta
-- LuaCATS definitions of midjourney.image for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---Decoded pixels: `height` rows of `width * channels` bytes, top row first.
---@class midjourney.Pixels
---@field format? "png"|"jpeg"|"webp"
---@field width integer
---@field height integer
---@field channels 1|3|4
---@field pixels string

---The options of `decode`.
---@class midjourney.DecodeOptions
---@field max_side? integer # lower the limit
---@field max_pixels? integer # lower the limit
---@field max_bytes? integer # default `image.max_file_bytes` (256 MiB)

---The options of `encode_png` and `mask`.
---@class midjourney.EncodeOptions
---@field level? integer # zlib level 0-9, default 6

---The options of `split`.
---@class midjourney.SplitOptions: midjourney.DecodeOptions
---@field level? integer # zlib level 0-9, default 6

---What `split` returns: the four PNGs in U1-U4 order, and the grid's facts.
---@class midjourney.SplitResult
---@field [1] string
---@field [2] string
---@field [3] string
---@field [4] string
---@field format "png"|"jpeg"|"webp"
---@field width integer
---@field height integer
---@field channels 3|4

---A rectangle in pixels (0-based).
---@class midjourney.Rect
---@field x integer
---@field y integer
---@field w integer
---@field h integer

---A shape of a mask: exactly one of `rect = {x, y, w, h}` or `ellipse = {cx, cy, rx, ry}`.
---@class midjourney.MaskShape
---@field rect? number[]
---@field ellipse? number[]
---@field unit? "px"|"fraction"

---Grid splitting, masks, decode and encode through the C module midjourney.image_core. The
---functions of `midjourney.image.uri` are here too. Nothing here yields.
---@class midjourney.image
---@field limits { max_side: integer, max_pixels: integer } # the hard limits
---@field debian_packages string # the Debian packages the C module is built from
---@field max_file_bytes integer # largest file `decode` and `split` read (256 MiB)
local M = {}

---`midjourney.image.uri.data_uri`.
---@param value string
---@param opts? midjourney.DataUriOptions
---@return string? uri
---@return midjourney.ImageInfo|midjourney.Error info_or_err
function M.data_uri(value, opts) end

---`midjourney.image.uri.info`.
---@param value string
---@param opts? midjourney.ImageReadOptions
---@return midjourney.ImageInfo? info
---@return midjourney.Error? err
function M.info(value, opts) end

---`midjourney.image.uri.sniff`.
---@param bytes string
---@return ("png"|"jpeg"|"webp"|"gif")? format
---@return string? mime
function M.sniff(bytes) end

---`midjourney.image.uri.base64`.
---@param s string
---@return string
function M.base64(s) end

---`midjourney.image.uri.coerce`.
---@param value string
---@param opts? midjourney.DataUriOptions
---@return string? uri
---@return midjourney.ImageInfo|midjourney.Error|nil info_or_err
function M.coerce(value, opts) end

---`midjourney.image.uri.read`.
---@param value string
---@param opts? midjourney.ImageReadOptions
---@return string? bytes
---@return string|midjourney.Error|nil path_or_err
function M.read(value, opts) end

---Decodes a PNG, JPEG or WebP image to 8-bit pixels. Blocks (CPU, and reading a file).
---@param value string # image bytes or a file path
---@param opts? midjourney.DecodeOptions
---@return midjourney.Pixels? image
---@return midjourney.Error? err
function M.decode(value, opts) end

---Encodes 8-bit pixels as a PNG. Blocks (CPU).
---@param image midjourney.Pixels
---@param opts? midjourney.EncodeOptions
---@return string? png
---@return midjourney.Error? err
function M.encode_png(image, opts) end

---The four quadrants of a grid, in U1-U4 order (odd sizes: the left column and top row get the
---extra pixel).
---@param width integer
---@param height integer
---@return midjourney.Rect[]
function M.quadrants(width, height) end

---Cuts a 2x2 grid into its four pictures, each a PNG, in U1-U4 order. Blocks (CPU, and reading a file).
---@param grid string # image bytes or a file path
---@param opts? midjourney.SplitOptions
---@return midjourney.SplitResult? pictures
---@return midjourney.Error? err
function M.split(grid, opts) end

---Draws a Vary Region mask: a greyscale PNG, white where the image is repainted. Blocks (CPU).
---@param width integer
---@param height integer
---@param shapes midjourney.MaskShape[] # at least one; a `unit` key on the list sets the default
---@param opts? midjourney.EncodeOptions
---@return string? png
---@return midjourney.Error? err
function M.mask(width, height, shapes, opts) end

---Versions of the image libraries in use.
---@return { spng: string, jpeg: string, webp: string }
function M.versions() end

return M
