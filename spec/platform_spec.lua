-- Interpreters the library runs on, and the one it refuses with a clear message.
local ROOT = (debug.getinfo(1, "S").source:gsub("^@", ""):match("^(.*)/spec/[^/]*$") or ".")

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

describe("interpreters #once", function()
  it("PUC-Rio Lua 5.1 is refused with a message saying why (not a wait that polls forever)", function()
    if not sh("command -v lua5.1"):match("lua5%.1") then
      pending("lua5.1 is not installed")
      return
    end
    local out = sh(string.format("cd %q && LUA_PATH='lua/?.lua;lua/?/init.lua;;' lua5.1 -e 'require \"midjourney\"'",
      ROOT))
    assert.truthy(out:find("needs Lua 5.2 or newer", 1, true), out)
    assert.truthy(out:find("LuaJIT", 1, true), out)
  end)
end)
