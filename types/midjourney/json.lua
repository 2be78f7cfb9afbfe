---@meta
-- LuaCATS definitions of midjourney.json for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---JSON for the wire: decode through a private lua-cjson instance (integer literals of 16 or more
---digits become strings), encode with the library's own encoder. Nothing here blocks or yields.
---@class midjourney.json
---@field backend "cjson"|"vim.json" # which lua-cjson is in use
---@field null lightuserdata # what JSON null decodes to; encode it to send null
local M = {}

---Marks a table to be encoded as a JSON array.
---@param t? table # a new table when nil
---@return table t
function M.array(t) end

---Marks a table to be encoded as a JSON object (an empty one gives {}).
---@param t? table
---@return table t
function M.object(t) end

---Decodes JSON text (strict RFC 8259, nesting up to 64).
---@param text string
---@return any value # json.null for null; nil on error
---@return string? err
function M.decode(text) end

---Decodes JSON text the C scanner already accepted.
---@param text string
---@return any value
---@return string? err
function M.decode_scanned(text) end

---Removes json.null from decoded data, in place (object members dropped).
---@param v any
---@param depth? integer # internal
---@return any v
function M.strip_nulls(v, depth) end

---Encodes a Lua value as JSON text (object keys sorted, no whitespace).
---@param v any
---@return string
function M.encode(v) end

---Encodes a string as a JSON string literal (with quotes).
---@param s string
---@return string
function M.quote(s) end

return M
