--- JSON for the simulator's own use (pure Lua, Lua 5.1/LuaJIT and 5.4).
-- The encoder prints integers as integers, keeps key order when asked, and can emit
-- raw JSON text; the decoder follows the project's number rule (an integer literal of
-- 16 or more digits becomes a string) so that task ids never pass through a double.
-- @module midjourney.simulator.json
local M = {}

local floor, huge = math.floor, math.huge
local concat, sort = table.concat, table.sort
local byte, char, format, sub, find = string.byte, string.char, string.format, string.sub, string.find

--- The JSON null value (decoded `null`, and encoded as `null`).
M.null = setmetatable({}, { __tostring = function() return "null" end, __json = "null" })

local ARRAY_MT = { __json = "array" }
local RAW_MT = { __json = "raw" }

--- Mark a table as a JSON array (so that an empty one encodes as `[]`). Does not block.
-- @param t table (optional, a new one when nil)
-- @return t
function M.array(t)
  return setmetatable(t or {}, ARRAY_MT)
end

--- Make a table that encodes as an object with its keys in the given order.
-- Keys not listed come after, sorted. Does not block.
-- @param order list of key names
-- @param t table (optional)
-- @return t
function M.object(order, t)
  return setmetatable(t or {}, { __json = "object", __order = order })
end

--- Wrap raw JSON text to be emitted verbatim by the encoder. Does not block.
-- @param text string of JSON text (not checked)
-- @return a raw value
function M.raw(text)
  return setmetatable({ text = text }, RAW_MT)
end

--- True when `v` is a raw value made by `json.raw`. Does not block.
-- @param v any value
-- @return boolean
function M.is_raw(v)
  return getmetatable(v) == RAW_MT
end

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or format("\\u%04x", byte(c))
  end) .. '"'
end
M.quote = quote

local function number_text(n)
  if n ~= n or n == huge or n == -huge then return "null" end
  if floor(n) == n and n > -2 ^ 53 and n < 2 ^ 53 then
    return format("%d", n)
  end
  return format("%.14g", n)
end

local encode_value

local function is_array(t)
  local mt = getmetatable(t)
  if mt and mt.__json == "array" then return true end
  if mt and mt.__json == "object" then return false end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode_table(t, out, depth)
  if depth > 100 then error("json: nesting too deep") end
  local mt = getmetatable(t)
  if mt and mt.__json == "null" then out[#out + 1] = "null"; return end
  if mt and mt.__json == "raw" then out[#out + 1] = t.text; return end
  if is_array(t) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local keys, seen = {}, {}
  if mt and mt.__order then
    for _, k in ipairs(mt.__order) do
      if t[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
    end
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then rest[#rest + 1] = tostring(k) end
  end
  sort(rest)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = quote(k)
    out[#out + 1] = ":"
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    encode_value(v, out, depth + 1)
  end
  out[#out + 1] = "}"
end

encode_value = function(v, out, depth)
  local tv = type(v)
  if tv == "string" then out[#out + 1] = quote(v)
  elseif tv == "number" then out[#out + 1] = number_text(v)
  elseif tv == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif tv == "table" then encode_table(v, out, depth)
  elseif v == nil then out[#out + 1] = "null"
  else error("json: cannot encode a " .. tv) end
end

--- Encode a Lua value as JSON text. Does not block.
-- @param v value (tables, strings, numbers, booleans, `json.null`, `json.raw(...)`)
-- @return string
function M.encode(v)
  local out = {}
  encode_value(v, out, 0)
  return concat(out)
end

-- Decoder -------------------------------------------------------------------

local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then
    return char(0xC0 + floor(cp / 0x40), 0x80 + cp % 0x40)
  end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 0x1000), 0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return char(0xF0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40,
    0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local Decoder = {}
Decoder.__index = Decoder

function Decoder:fail(msg)
  error({ json_error = msg .. " at byte " .. self.pos }, 0)
end

function Decoder:skip()
  local _, e = find(self.s, "^[ \t\r\n]*", self.pos)
  self.pos = e + 1
end

function Decoder:string()
  local s, pos, parts = self.s, self.pos + 1, {}
  while true do
    local a, b = find(s, '^[^"\\%c]+', pos)
    if a then parts[#parts + 1] = sub(s, a, b); pos = b + 1 end
    local c = sub(s, pos, pos)
    if c == '"' then self.pos = pos + 1; return concat(parts) end
    if c == "\\" then
      local e = sub(s, pos + 1, pos + 1)
      local simple = ({ b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
                        ['"'] = '"', ["\\"] = "\\", ["/"] = "/" })[e]
      if simple then
        parts[#parts + 1] = simple; pos = pos + 2
      elseif e == "u" then
        local hex = sub(s, pos + 2, pos + 5)
        if not hex:match("^%x%x%x%x$") then self.pos = pos; self:fail("bad \\u escape") end
        local cp = tonumber(hex, 16)
        pos = pos + 6
        if cp >= 0xD800 and cp <= 0xDBFF and sub(s, pos, pos + 1) == "\\u" then
          local lo = tonumber(sub(s, pos + 2, pos + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            pos = pos + 6
          end
        end
        parts[#parts + 1] = utf8_char(cp)
      else
        self.pos = pos; self:fail("bad escape")
      end
    elseif c == "" then
      self:fail("unterminated string")
    else
      self.pos = pos; self:fail("control character in string")
    end
  end
end

function Decoder:number()
  local s = self.s
  local a, b = find(s, "^-?%d+", self.pos)
  if not a then self:fail("bad number") end
  local int_only = true
  local c, d = find(s, "^%.%d+", b + 1)
  if c then b = d; int_only = false end
  c, d = find(s, "^[eE][-+]?%d+", b + 1)
  if c then b = d; int_only = false end
  local text = sub(s, a, b)
  self.pos = b + 1
  if self.raw_numbers then return M.raw(text) end
  if int_only and #text:gsub("^-", "") >= 16 then return text end
  return tonumber(text)
end

function Decoder:value(depth)
  if depth > 512 then self:fail("nesting too deep") end
  self:skip()
  local s, pos = self.s, self.pos
  local c = sub(s, pos, pos)
  if c == "{" then
    local obj = {}
    self.pos = pos + 1
    self:skip()
    if sub(s, self.pos, self.pos) == "}" then self.pos = self.pos + 1; return obj end
    while true do
      self:skip()
      if sub(s, self.pos, self.pos) ~= '"' then self:fail("expected a key") end
      local k = self:string()
      self:skip()
      if sub(s, self.pos, self.pos) ~= ":" then self:fail("expected ':'") end
      self.pos = self.pos + 1
      obj[k] = self:value(depth + 1)
      self:skip()
      local d = sub(s, self.pos, self.pos)
      self.pos = self.pos + 1
      if d == "}" then return obj end
      if d ~= "," then self.pos = self.pos - 1; self:fail("expected ',' or '}'") end
    end
  elseif c == "[" then
    local arr = M.array()
    self.pos = pos + 1
    self:skip()
    if sub(s, self.pos, self.pos) == "]" then self.pos = self.pos + 1; return arr end
    while true do
      arr[#arr + 1] = self:value(depth + 1)
      self:skip()
      local d = sub(s, self.pos, self.pos)
      self.pos = self.pos + 1
      if d == "]" then return arr end
      if d ~= "," then self.pos = self.pos - 1; self:fail("expected ',' or ']'") end
    end
  elseif c == '"' then
    return self:string()
  elseif c == "-" or c:match("%d") then
    return self:number()
  elseif sub(s, pos, pos + 3) == "true" then self.pos = pos + 4; return true
  elseif sub(s, pos, pos + 4) == "false" then self.pos = pos + 5; return false
  elseif sub(s, pos, pos + 3) == "null" then self.pos = pos + 4; return M.null
  end
  self:fail("unexpected character")
end

--- Decode JSON text. Does not block.
-- Arrays come back marked (see `json.array`), `null` as `json.null`.
-- @param text string
-- @param opts optional table: `raw_numbers = true` keeps every number as `json.raw(text)`
-- @return value, or nil and an error message
function M.decode(text, opts)
  if type(text) ~= "string" then return nil, "json: expected a string" end
  local d = setmetatable({ s = text, pos = 1, raw_numbers = opts and opts.raw_numbers }, Decoder)
  local ok, v = pcall(function()
    local v = d:value(0)
    d:skip()
    if d.pos <= #text then d:fail("trailing characters") end
    return v
  end)
  if ok then return v end
  if type(v) == "table" and v.json_error then return nil, "json: " .. v.json_error end
  return nil, "json: " .. tostring(v)
end

return M
