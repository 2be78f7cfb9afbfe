--- Task ids: the one place that turns what a caller or a server gave into the id
-- string the library uses, and refuses what the API never issues.
--
-- The API issues ids of ASCII letters, digits, `-` and `_` (CometAPI: 16 digits,
-- a millisecond timestamp plus three random digits). An id is a string of 1 to 64
-- such bytes, or an integer number that is exact (a float beyond 2^53 is refused,
-- since its digits are not the server's). Anything else (`.`, `..`, `/`, `%`,
-- spaces, control bytes) is refused before it can reach a URL; what reaches a URL
-- is percent-encoded all the same.
--
-- Nothing in this module blocks or yields.
-- @module midjourney.ids
local errors = require("midjourney.errors")

local M = {}

--- The longest id accepted, in bytes.
M.MAX = 64

local function integer_string(n)
  if n ~= n or n == math.huge or n == -math.huge or math.floor(n) ~= n then return nil end
  if math.type and math.type(n) == "integer" then return string.format("%d", n) end
  if n < 0 or n >= 2 ^ 53 then return nil end -- not exact as a double
  return string.format("%.0f", n)
end

--- Normalise an id: a string as it is, an exact integer as its decimal digits.
-- @param v a string or a number
-- @treturn[1] string the id
-- @treturn[2] nil
-- @treturn[2] string why it is not an id the API could have issued
function M.check(v)
  local s
  if type(v) == "string" then
    s = v
  elseif type(v) == "number" then
    s = integer_string(v)
    if not s then return nil, "task id must be an integer, got " .. tostring(v) end
  else
    return nil, "task id must be a string or an integer, got " .. type(v)
  end
  if s == "" then return nil, "task id is empty" end
  if #s > M.MAX then return nil, "task id is longer than " .. M.MAX .. " bytes" end
  if s:find("[^%w_%-]") then
    return nil, "task id contains a character the API never issues (only letters, digits, '-' and '_')"
  end
  return s
end

--- The id a server sent, as a string (numbers that passed the decoder as numbers are
-- printed without exponent), or nil when `v` is neither a string nor a number.
-- Used on data from the server, so it does not refuse odd ids: `check` guards what
-- is sent.
-- @param v
-- @treturn string|nil
function M.from_wire(v)
  if type(v) == "string" then return v end
  if type(v) == "number" then
    if math.type and math.type(v) == "integer" then return string.format("%d", v) end
    if v == math.floor(v) and v >= -2 ^ 63 and v < 2 ^ 63 then return string.format("%.0f", v) end
    return tostring(v)
  end
  return nil
end

--- The id of an argument that is an id or a task: raises on a wrong type (a
-- programmer mistake), returns `nil, err` (kind `"invalid"`) for an id the API never
-- issues, so nothing is sent.
-- @tparam string fname the calling function, for messages (`"client:fetch"`)
-- @param v an id (string or integer) or a table with an `id` field (a Task)
-- @tparam string argname the argument's name, for messages
-- @tparam[opt=2] integer level error level as the caller counts it
-- @treturn[1] string the id
-- @treturn[2] nil
-- @treturn[2] table error of kind `"invalid"`
-- @raise when `v` is neither an id nor a table with an id
function M.arg(fname, v, argname, level)
  level = (level or 2) + 1
  if type(v) == "table" then
    local ok, id = pcall(function() return v.id end)
    if not ok or id == nil then
      error(fname .. ": argument '" .. argname .. "' is a table without an id", level)
    end
    v = id
  end
  if type(v) ~= "string" and type(v) ~= "number" then
    error(fname .. ": argument '" .. argname .. "' must be a task id or a task, got " .. type(v), level)
  end
  local s, why = M.check(v)
  if not s then
    return nil, errors.new { kind = "invalid", message = "argument '" .. argname .. "': " .. why }
  end
  return s
end

--- An id as a URL path segment (percent-encoded; a checked id needs none, but nothing
-- unencoded ever reaches a URL).
-- @tparam string id
-- @treturn string
function M.path_segment(id)
  return (id:gsub("[^%w%-_~]", function(c) return string.format("%%%02X", c:byte()) end))
end

return M
