--- JSON for the wire: decode through a private lua-cjson instance, encode with
-- our own encoder.
--
-- Decoding: integer literals of 16 or more digits become strings of exactly
-- those digits (task ids must not pass through a double); on Lua 5.3+ integral
-- numbers become integers. JSON `null` decodes to `json.null`.
--
-- Encoding: strings are escaped completely (quote, backslash, every control
-- character including NUL as `\u0000`, DEL as `\u007f`, U+2028/U+2029);
-- **invalid UTF-8 bytes are replaced by U+FFFD** (the encoder never fails on
-- string content). A table is an array when it is empty, marked with
-- `json.array`, or has exactly the keys 1..n; `json.object(t)` marks a table
-- (possibly empty) as an object. Integers are printed without exponent. NaN,
-- infinities, cycles, sparse arrays, mixed keys and non-string object keys
-- raise.
--
-- The decoder is lua-cjson: the `cjson` module, or inside Neovim, when no separate
-- `cjson` is on the cpath, Neovim's bundled copy of it (`vim.json`, the same library).
-- `json.backend` says which (`"cjson"` or `"vim.json"`).
--
-- Nothing in this module blocks or yields.
-- @module midjourney.json
local core = require "midjourney.core"

local M = {}

local function load_cjson()
  local ok, mod = pcall(require, "cjson")
  if ok and type(mod) == "table" and mod.new then return mod, "cjson" end
  local vim = rawget(_G, "vim")
  if type(vim) == "table" and type(vim.json) == "table" and type(vim.json.new) == "function" then
    return vim.json, "vim.json"
  end
  error("midjourney: lua-cjson is required: install it (Debian: apt-get install lua-cjson; "
    .. "LuaRocks: luarocks install lua-cjson), or run inside Neovim, whose vim.json is lua-cjson"
    .. (ok and "" or (" (" .. tostring(mod):gsub("\n.*", "") .. ")")), 0)
end

local cjson, backend = load_cjson()

--- Which lua-cjson the library uses: `"cjson"` (the module) or `"vim.json"` (Neovim's).
M.backend = backend

local cj = cjson.new()
cj.decode_max_depth(64)
pcall(cj.decode_invalid_numbers, false)

--- The value JSON `null` decodes to (lua-cjson's null lightuserdata); encode
-- it to send `null`.
M.null = cjson.null

local marks = setmetatable({}, { __mode = "k" })

--- Mark a table to be encoded as a JSON array (useful for an empty list).
-- Neither blocks nor yields.
-- @tparam[opt] table t the table (a new one when nil)
-- @treturn table t
-- @raise when `t` is not a table
function M.array(t)
  if t == nil then t = {} end
  if type(t) ~= "table" then error("json.array: argument 't' must be a table", 2) end
  marks[t] = "array"
  return t
end

--- Mark a table to be encoded as a JSON object (an empty one gives `{}`).
-- Neither blocks nor yields.
-- @tparam[opt] table t the table (a new one when nil)
-- @treturn table t
-- @raise when `t` is not a table
function M.object(t)
  if t == nil then t = {} end
  if type(t) ~= "table" then error("json.object: argument 't' must be a table", 2) end
  marks[t] = "object"
  return t
end

-- ---------------------------------------------------------------- decoding

local quote_big = core.quote_big_integers
-- LuaJIT/5.1: numbers are doubles, nothing to turn into integers
local integerize = math.tointeger and core.integerize or nil

local check_json = core.check_json

local function decode_checked(text)
  local ok, v = pcall(cj.decode, quote_big(text))
  if not ok then return nil, (tostring(v):gsub("^[^:]*:%d+: ", "")) end
  if integerize and type(v) == "table" then integerize(v) end
  if integerize and type(v) == "number" then v = math.tointeger(v) or v end
  return v
end

--- Decode JSON text. It accepts exactly what the C scanner (`core.scan_json`)
-- accepts: strict RFC 8259 (no NaN, leading zeros or lone UTF-16 surrogates), nesting
-- up to 64. Neither blocks nor yields.
-- @tparam string text
-- @treturn[1] any the value (`json.null` for null)
-- @treturn[2] nil
-- @treturn[2] string a message (bad JSON, nesting deeper than 64)
-- @raise when `text` is not a string
function M.decode(text)
  if type(text) ~= "string" then
    error("json.decode: argument 'text' must be a string, got " .. type(text), 2)
  end
  local ok, why = check_json(text)
  if not ok then return nil, why end
  return decode_checked(text)
end

--- Decode JSON text that the C scanner already accepted (the lazy decode of a Task).
-- Neither blocks nor yields.
-- @tparam string text
-- @return the value, or nil and a message
function M.decode_scanned(text)
  return decode_checked(text)
end

--- Remove `json.null` from decoded data: object members that are null are
-- dropped, array elements stay `json.null`. Works in place; returns `v`
-- (`nil` when `v` itself is null). Neither blocks nor yields.
-- @param v decoded value
-- @tparam[opt=0] integer depth current nesting depth (internal; recursion stops below 200)
-- @return v without nulls
function M.strip_nulls(v, depth)
  if v == M.null then return nil end
  depth = depth or 0
  if type(v) ~= "table" or depth > 200 then return v end
  local n = #v
  local is_array = n > 0 or next(v) == nil
  for k, x in pairs(v) do
    if x == M.null then
      if not (is_array and type(k) == "number") then v[k] = nil end
    elseif type(x) == "table" then
      M.strip_nulls(x, depth + 1)
    end
  end
  return v
end

-- ---------------------------------------------------------------- encoding

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for c = 0, 31 do
  local ch = string.char(c)
  if not escapes[ch] then escapes[ch] = string.format("\\u%04x", c) end
end
escapes["\127"] = "\\u007f"

-- Replace invalid UTF-8 sequences by U+FFFD. Fast path for valid text.
local function fix_utf8(s)
  if not s:find("[\128-\255]") then return s end
  local out, i, n, bad = {}, 1, #s, false
  local start = 1
  while i <= n do
    local c = s:byte(i)
    local len, lo, hi = 0, 128, 191
    if c < 128 then len = 1
    elseif c >= 194 and c <= 223 then len = 2
    elseif c >= 224 and c <= 239 then
      len = 3
      if c == 224 then lo = 160 elseif c == 237 then hi = 159 end
    elseif c >= 240 and c <= 244 then
      len = 4
      if c == 240 then lo = 144 elseif c == 244 then hi = 143 end
    end
    local ok = len > 0 and i + len - 1 <= n
    if ok and len > 1 then
      local c2 = s:byte(i + 1)
      if c2 < lo or c2 > hi then ok = false end
      for j = i + 2, i + len - 1 do
        local cj2 = s:byte(j)
        if cj2 < 128 or cj2 > 191 then ok = false end
      end
    end
    if ok then
      i = i + len
    else
      bad = true
      out[#out + 1] = s:sub(start, i - 1)
      out[#out + 1] = "\239\191\189"
      i = i + 1
      start = i
    end
  end
  if not bad then return s end
  out[#out + 1] = s:sub(start)
  return table.concat(out)
end

local function encode_string(s)
  s = fix_utf8(s)
  s = s:gsub('[%c"\\\127]', escapes)
  s = s:gsub("\226\128\168", "\\u2028"):gsub("\226\128\169", "\\u2029")
  return '"' .. s .. '"'
end

local math_type = math.type
local floor = math.floor
local huge = math.huge

local function encode_number(x)
  if x ~= x or x == huge or x == -huge then
    error("json.encode: cannot encode NaN or infinity", 0)
  end
  if math_type and math_type(x) == "integer" then return string.format("%d", x) end
  if floor(x) == x and x > -1e18 and x < 1e18 then return string.format("%.0f", x) end
  local s = string.format("%.14g", x)
  if tonumber(s) ~= x then s = string.format("%.17g", x) end
  return s
end

local encode_value

local function encode_table(t, out, seen, depth)
  if seen[t] then error("json.encode: cycle detected", 0) end
  if depth > 64 then error("json.encode: nesting deeper than 64", 0) end
  local mt = getmetatable(t)
  if mt and type(mt.__tojson) == "function" then
    out[#out + 1] = mt.__tojson(t)
    return
  end
  seen[t] = true
  local mark = marks[t]
  local count, has_str = 0, false
  if mark ~= "array" then
    for k in pairs(t) do
      count = count + 1
      if type(k) == "string" then has_str = true
      elseif mark ~= "object" and (type(k) ~= "number" or k < 1 or floor(k) ~= k) then
        error("json.encode: table key of type " .. type(k) .. " cannot be encoded", 0)
      end
    end
  end
  local as_object = mark == "object" or (mark ~= "array" and has_str)
  if as_object then
    local keys = {}
    for k in pairs(t) do
      if type(k) ~= "string" then
        if mark == "object" and type(k) == "number" then
          keys[#keys + 1] = k
        else
          error("json.encode: mixed array and object keys", 0)
        end
      else
        keys[#keys + 1] = k
      end
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = encode_string(type(k) == "string" and k or encode_number(k))
      out[#out + 1] = ":"
      encode_value(t[k], out, seen, depth + 1)
    end
    out[#out + 1] = "}"
  else
    local n = #t
    if mark ~= "array" and count ~= n then error("json.encode: sparse array", 0) end
    if mark == "array" then
      -- an explicit array: use the highest integer key
      for k in pairs(t) do if type(k) == "number" and k > n and floor(k) == k then n = k end end
    end
    out[#out + 1] = "["
    for i = 1, n do
      if i > 1 then out[#out + 1] = "," end
      local v = t[i]
      if v == nil then out[#out + 1] = "null" else encode_value(v, out, seen, depth + 1) end
    end
    out[#out + 1] = "]"
  end
  seen[t] = nil
end

encode_value = function(v, out, seen, depth)
  local tv = type(v)
  if tv == "string" then out[#out + 1] = encode_string(v)
  elseif tv == "number" then out[#out + 1] = encode_number(v)
  elseif tv == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif tv == "table" then encode_table(v, out, seen, depth)
  elseif v == nil or v == M.null then out[#out + 1] = "null"
  else error("json.encode: cannot encode a value of type " .. tv, 0)
  end
end

--- Encode a Lua value as JSON text. Neither blocks nor yields.
-- @param v a string, number, boolean, `json.null`, nil (null) or table
-- @treturn string JSON text (object keys sorted, no whitespace)
-- @raise on NaN/infinity, cycles, sparse arrays, mixed or non-string keys,
--   functions/userdata, nesting deeper than 64
function M.encode(v)
  local out = {}
  encode_value(v, out, {}, 0)
  return table.concat(out)
end

--- Encode a string as a JSON string literal (with quotes). Neither blocks nor yields.
-- @tparam string s
-- @treturn string
function M.quote(s)
  return encode_string(s)
end

return M
