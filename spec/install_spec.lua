-- Installs the rock (luarocks make, Lua 5.4 and 5.1/LuaJIT) and `make install` into throwaway
-- trees, loads it from there and makes a request against the simulator: scripts/check-install.sh.
-- Tagged #once: it drives whole programs, so scripts/test.sh runs it under Lua 5.4 only.

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  local ok, how, code = p:close()
  if type(ok) == "number" then -- Lua 5.1 / LuaJIT: close returns the status
    code = ok
    ok = code == 0
  end
  return out, ok == true, code, how
end

local function has(program)
  local _, ok = run("command -v " .. program .. " >/dev/null")
  return ok
end

describe("installation #once", function()
  local out, ok

  setup(function()
    out, ok = run("sh scripts/check-install.sh all")
  end)

  it("every install check passes", function()
    assert.is_true(ok, out)
    assert.matches("check%-install: %d+ ok, 0 failed", out)
  end)

  it("luarocks make installs and loads for Lua 5.4 and for 5.1 (LuaJIT)", function()
    if not has("luarocks") then
      pending("luarocks is not installed")
      return
    end
    assert.matches("ok: luarocks make %-%-lua%-version=5%.4", out)
    assert.matches("ok: luarocks lua5%.4: core ", out)
    assert.matches("ok: luarocks make %-%-lua%-version=5%.1 %(luajit%)", out)
    assert.matches("ok: luarocks luajit: core ", out)
  end)

  it("make install / make uninstall work for lua5.4 and luajit, and honour DESTDIR", function()
    assert.matches("ok: make install LUA=lua5%.4", out)
    assert.matches("ok: make install lua5%.4: core ", out)
    assert.matches("ok: make uninstall LUA=lua5%.4 removes every installed file", out)
    assert.matches("ok: make install LUA=luajit", out)
    assert.matches("ok: make install luajit: core ", out)
    assert.matches("ok: make uninstall LUA=luajit removes every installed file", out)
    assert.matches("ok: make install DESTDIR=", out)
  end)

  it("the installed code answers a real request from the installed simulator", function()
    local f = io.open("bin/mj-simulator")
    if not f then
      pending("the simulator command (bin/mj-simulator) has not landed yet")
      return
    end
    f:close()
    local labels = { "luarocks lua5.4", "luarocks luajit", "make install lua5.4", "make install luajit" }
    for _, label in ipairs(labels) do
      local line = out:match("ok: " .. label:gsub("%p", "%%%0") .. ": core [^\n]*")
      assert.is_truthy(line, label .. ": no ok line\n" .. out)
      assert.matches("/_sim/stats %-> 200", line)
      assert.matches("imagine %-> %a+ %-> SUCCESS", line)
    end
  end)
end)
