--- Option tables: one checker for every options table of the library.
--
-- A schema names each key a function accepts and what its value must be. `check`
-- raises (a programmer mistake) on a key the schema does not know, naming the key
-- and the closest valid one (`mj.new: unknown option 'timeuot' (did you mean
-- 'timeout'?)`), and on a value of the wrong type or out of range. Wire fields (sent
-- to the server as they are) are marked so that callers can tell them from library
-- options.
--
-- Nothing in this module blocks or yields.
-- @module midjourney.options
local M = {}

--- What `check` returns for absent options: a shared empty table, never to be modified
-- (a proxy that raises on writes).
M.EMPTY = setmetatable({}, {
  __newindex = function() error("options: the shared empty options table is read-only", 2) end,
})

--- The largest number of seconds a time option accepts (about 11.5 days).
M.MAX_SECONDS = 1e6

-- ---------------------------------------------------------------- value kinds

local function finite(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

local kinds = {
  string = function(v) return type(v) == "string", "a string" end,
  boolean = function(v) return type(v) == "boolean", "a boolean" end,
  ["function"] = function(v) return type(v) == "function", "a function" end,
  table = function(v) return type(v) == "table", "a table" end,
  -- a duration in seconds: finite, 0 <= v <= MAX_SECONDS
  seconds = function(v)
    return finite(v) and v >= 0 and v <= M.MAX_SECONDS,
      "a number of seconds between 0 and " .. string.format("%d", M.MAX_SECONDS)
  end,
  -- a non-negative finite number
  number = function(v) return finite(v) and v >= 0, "a non-negative number" end,
  -- a count: a whole number >= 0 (up to 2^31)
  count = function(v)
    return finite(v) and v >= 0 and v == math.floor(v) and v <= 2 ^ 31, "a whole number between 0 and 2^31"
  end,
  -- a size in bytes: a whole number >= 0 (up to 2^53)
  bytes = function(v)
    return finite(v) and v >= 0 and v == math.floor(v) and v <= 2 ^ 53, "a whole number of bytes"
  end,
  -- any value (wire fields the server validates)
  any = function() return true end,
}

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- ---------------------------------------------------------------- did you mean

-- Edit distance with adjacent transpositions (optimal string alignment): "wiat" is one
-- edit from "wait".
local function distance(a, b)
  if a == b then return 0 end
  local la, lb = #a, #b
  local d = {}
  for i = 0, la do d[i] = { [0] = i } end
  for j = 0, lb do d[0][j] = j end
  for i = 1, la do
    local ca = a:byte(i)
    for j = 1, lb do
      local cb = b:byte(j)
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + ((ca == cb) and 0 or 1))
      if i > 1 and j > 1 and ca == b:byte(j - 1) and a:byte(i - 1) == cb then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[la][lb]
end

--- The closest of `candidates` to `word` (case-insensitive edit distance), or nil
-- when none is close enough to be a likely typo.
-- @tparam string word
-- @tparam table candidates list of strings
-- @treturn string|nil
function M.closest(word, candidates)
  local best, bestd
  local lw = word:lower()
  for _, c in ipairs(candidates) do
    local d = distance(lw, c:lower())
    if not bestd or d < bestd or (d == bestd and c < best) then best, bestd = c, d end
  end
  -- short words: one edit; longer ones: a third of their length, at least two
  local limit = #word <= 5 and 1 or math.max(2, math.floor(#word / 3))
  if best and bestd <= limit then return best end
  return nil
end

-- ---------------------------------------------------------------- schemas

local Schema = {}
Schema.__index = Schema

--- Make a schema.
-- @tparam string fname the function whose options these are, for messages (`"mj.new"`)
-- @tparam table fields `{ key = kind | {kind, wire = true} }`; a kind is one of
--   `"string"`, `"boolean"`, `"function"`, `"table"`, `"seconds"`, `"number"`,
--   `"count"`, `"bytes"`, `"any"`, a list of allowed values (`{ "low", "high" }`),
--   or a function `check(v) -> ok, what-it-must-be`
-- @return the schema (`schema:check(opts, level)`, `schema.fields`, `schema:keys()`)
function M.schema(fname, fields)
  local s = setmetatable({ fname = fname, fields = {}, wire = {} }, Schema)
  for k, spec in pairs(fields) do
    local kind, wire = spec, false
    if type(spec) == "table" and spec.kind ~= nil then kind, wire = spec.kind, spec.wire == true end
    s.fields[k] = kind
    if wire then s.wire[k] = true end
  end
  return s
end

--- A schema with the fields of several schemas (later ones win), for a function
-- whose options table feeds several others.
-- @tparam string fname
-- @param ... schemas
-- @return the schema
function M.merge(fname, ...)
  local s = setmetatable({ fname = fname, fields = {}, wire = {} }, Schema)
  for i = 1, select("#", ...) do
    local o = select(i, ...)
    for k, v in pairs(o.fields) do s.fields[k] = v end
    for k in pairs(o.wire) do s.wire[k] = true end
  end
  return s
end

--- The keys of the schema, sorted.
-- @treturn table
function Schema:keys()
  local out = {}
  for k in pairs(self.fields) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function check_value(kind, v)
  if type(kind) == "string" then return kinds[kind](v) end
  if type(kind) == "function" then return kind(v) end
  -- a list of allowed values
  for _, allowed in ipairs(kind) do
    if v == allowed then return true end
  end
  local shown = {}
  for i, a in ipairs(kind) do shown[i] = describe(a) end
  return false, "one of " .. table.concat(shown, ", ")
end

--- Check an options table: raises on an unknown key (naming the closest valid one)
-- and on a value of the wrong kind. `nil` opts is an empty table.
-- @tparam table|nil opts
-- @tparam[opt=1] integer level the error level as the caller of `check` counts it
--   (1 = the function calling `check`)
-- @treturn table opts (the same table, or a shared empty one that must not be modified)
-- @raise on a non-table `opts`, an unknown key or a bad value
function Schema:check(opts, level)
  if opts == nil then return M.EMPTY end
  level = (level or 1) + 1
  if type(opts) ~= "table" then
    error(self.fname .. ": argument 'opts' must be a table, got " .. type(opts), level)
  end
  for k, v in pairs(opts) do
    local kind = self.fields[k]
    if kind == nil then
      if type(k) ~= "string" then
        error(self.fname .. ": option keys must be strings, got " .. type(k) .. " " .. describe(k), level)
      end
      local near = M.closest(k, self:keys())
      error(self.fname .. ": unknown option '" .. k .. "'" .. (near and (" (did you mean '" .. near .. "'?)") or ""),
        level)
    end
    local ok, what = check_value(kind, v)
    if not ok then
      error(self.fname .. ": option '" .. k .. "' must be " .. tostring(what) .. ", got " .. describe(v), level)
    end
  end
  return opts
end

--- The subset of `opts` whose keys are wire fields of the schema (a new table).
-- @tparam table opts checked options
-- @treturn table
function Schema:wire_fields(opts)
  local out = {}
  for k in pairs(self.wire) do
    if opts[k] ~= nil then out[k] = opts[k] end
  end
  return out
end

return M
