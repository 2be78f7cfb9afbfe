--- Writes a Lua value as `return <literal>` to a file, atomically (for host scripts
-- that report to a spec). Strings, numbers, booleans and nested tables. Blocks briefly.
local M = {}

local function ser(v, ind)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do
      local key = type(k) == "number" and ("[" .. k .. "]") or ("[" .. string.format("%q", k) .. "]")
      parts[#parts + 1] = ind .. "  " .. key .. " = " .. ser(v[k], ind .. "  ")
    end
    return "{\n" .. table.concat(parts, ",\n") .. "\n" .. ind .. "}"
  elseif type(v) == "string" then
    return string.format("%q", v)
  elseif type(v) == "number" or type(v) == "boolean" then
    return tostring(v)
  end
  return "nil"
end

--- Writes `return <value>` to `path` (through a temporary file and a rename).
function M.write(path, value)
  local f = assert(io.open(path .. ".tmp", "w"))
  f:write("return ", ser(value, ""), "\n")
  f:close()
  assert(os.rename(path .. ".tmp", path))
end

return M
