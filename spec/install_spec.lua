-- Installs the library with the README's own commands (luarocks for Lua 5.4 and LuaJIT, the image
-- rock, `luarocks install`, `make install` for both interpreters into one prefix) into throwaway
-- places and uses it from there with no LUA_PATH/LUA_CPATH set: scripts/check-install.sh.
-- Tagged #once: it drives whole programs, so scripts/test.sh runs it under Lua 5.4 only.

-- Runs a shell command; returns its output (stdout and stderr) and whether it exited 0. The exit
-- status is printed by the shell, since LuaJIT's popen close does not report it.
local function run(cmd)
  local p = assert(io.popen("{ " .. cmd .. "\n} 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  local body, code = out:match("^(.-)exit=(%d+)%s*$")
  return body, tonumber(code) == 0
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function has_ok(out, text)
  for line in out:gmatch("[^\n]+") do
    if line:sub(1, 4) == "ok: " and line:find(text, 1, true) then return line end
  end
  return nil
end

describe("installation #once", function()
  local out, ok, readme

  setup(function()
    out, ok = run("sh scripts/check-install.sh all")
    readme = read("README.md")
  end)

  it("every install check passes", function()
    assert.is_true(ok, out)
    assert.matches("check%-install: %d+ ok, 0 failed", out)
  end)

  it("runs the README's commands word for word", function()
    local n = 0
    for cmd in ("\n" .. out):gmatch("\nreadme: ([^\n]+)") do
      n = n + 1
      assert.is_truthy(readme:find(cmd, 1, true), "README.md does not have the command: " .. cmd)
    end
    if out:find("skip: luarocks: ", 1, true) then
      pending("luarocks checks skipped: " .. out:match("skip: luarocks: ([^\n]*)"))
      return
    end
    assert.is_true(n >= 8, "README commands run: " .. n .. "\n" .. out)
  end)

  it("luarocks, Lua 5.4: installs, and mj, mj-simulator and the library work with no environment", function()
    if out:find("skip: luarocks: ", 1, true) then
      pending("luarocks checks skipped: " .. out:match("skip: luarocks: ([^\n]*)"))
      return
    end
    assert.is_truthy(has_ok(out, "sudo luarocks --lua-version=5.4 make --deps-mode=none"), out)
    assert.matches("Lua 5%.4", assert(has_ok(out, "luarocks 5.4: mj --version with no environment"), out))
    assert.is_truthy(has_ok(out, "luarocks 5.4: mj imagine --download against mj-simulator, no environment"), out)
    assert.matches("imagine %-> wait %-> SUCCESS", assert(has_ok(out, "luarocks 5.4: lua5.4: library"), out))
    assert.is_truthy(has_ok(out, "midjourney.image loads in lua5.4"), out)
  end)

  it("luarocks, Lua 5.1 (LuaJIT's ABI): the modules load in luajit and mj runs luajit", function()
    if out:find("skip: luarocks: ", 1, true) then
      pending("luarocks checks skipped")
      return
    end
    assert.is_truthy(has_ok(out, "luarocks 5.1: /usr/local/bin/mj runs luajit"), out)
    assert.matches("LuaJIT", assert(has_ok(out, "luarocks 5.1: mj --version with no environment"), out))
    assert.is_truthy(has_ok(out, "luarocks 5.1: mj imagine --download against mj-simulator, no environment"), out)
    assert.matches("imagine %-> wait %-> SUCCESS", assert(has_ok(out, "luarocks 5.1: luajit: library"), out))
    assert.is_truthy(has_ok(out, "midjourney.image loads in luajit"), out)
  end)

  it("luarocks install from the README's rockspec URL (made local) installs a working mj", function()
    if out:find("skip: luarocks: ", 1, true) then
      pending("luarocks checks skipped")
      return
    end
    assert.is_truthy(has_ok(out, "sudo luarocks --lua-version=5.4 install https://"), out)
    assert.is_truthy(has_ok(out, "luarocks install: mj imagine --download"), out)
  end)

  it("make install: bin/mj and bin/mj-luajit side by side in one prefix, each working with no environment", function()
    assert.matches("Lua 5%.4", assert(has_ok(out, "make install: mj --version with no environment"), out))
    assert.is_truthy(has_ok(out, "make install: mj imagine --download against mj-simulator, no environment"), out)
    local jit = "make install LUA=luajit: "
    assert.matches("LuaJIT", assert(has_ok(out, jit .. "mj-luajit --version with no environment"), out))
    assert.is_truthy(has_ok(out, jit .. "mj-luajit imagine --download against mj-simulator-luajit"), out)
    assert.is_truthy(has_ok(out, "make install LUA=luajit left bin/mj (Lua 5.4) alone"), out)
    assert.matches("imagine %-> wait %-> SUCCESS", assert(has_ok(out, "make install: lua5.4: library"), out))
    assert.matches("imagine %-> wait %-> SUCCESS", assert(has_ok(out, "make install LUA=luajit: luajit: library"), out))
  end)

  it("make uninstall removes each build, and DESTDIR staging keeps PREFIX in the commands", function()
    assert.is_truthy(has_ok(out, "make uninstall LUA=luajit removes the LuaJIT build and keeps the Lua 5.4 one"), out)
    assert.is_truthy(has_ok(out, "make uninstall removes every installed file"), out)
    assert.is_truthy(has_ok(out, "make install DESTDIR=<tmp> PREFIX=/opt/mj stages under DESTDIR"), out)
  end)
end)

describe("release rockspecs", function()
  it("name only tags that exist, and the lists match (gen-rockspec-modules.lua --check)", function()
    local out, ok = run("lua5.4 scripts/gen-rockspec-modules.lua --check")
    assert.is_true(ok, out)
  end)

  it("--release refuses a version whose tag does not exist", function()
    local out, ok = run("lua5.4 scripts/gen-rockspec-modules.lua --release 99.0.0")
    assert.is_false(ok)
    assert.matches("there is no tag v99%.0%.0", out)
  end)

  it("--release writes rockspecs for an existing tag that lint accepts; without the tag --check fails", function()
    -- a throwaway repository holding this tree, tagged as CONTRIBUTING's "Cutting a release" says
    local version = read("lua/midjourney/client.lua"):match('M%.VERSION = "([%d.]+)"')
    assert.is_truthy(version)
    local dir = assert(run("mktemp -d /tmp/mj-release.XXXXXX")):gsub("%s+$", "")
    finally(function() run("rm -rf '" .. dir .. "'") end)
    local function sh(cmd)
      return run("cd '" .. dir .. "' && " .. cmd)
    end
    local out, ok = run("cp -R Makefile midjourney-scm-1.rockspec rockspecs src lua bin scripts '" .. dir .. "/'")
    assert.is_true(ok, out)
    out, ok = sh("rm -f rockspecs/*-[0-9]*.[0-9]*-[0-9]*.rockspec rockspecs/image/*-[0-9]*.[0-9]*-[0-9]*.rockspec"
      .. " && git init -q -b main"
      .. " && git add -A && git -c user.name=t -c user.email=t@localhost commit -q -m release"
      .. " && git -c user.name=t -c user.email=t@localhost tag -a v" .. version .. " -m v" .. version)
    assert.is_true(ok, out)
    out, ok = sh("lua5.4 scripts/gen-rockspec-modules.lua --release " .. version)
    assert.is_true(ok, out)
    local spec = read(dir .. "/rockspecs/midjourney-" .. version .. "-1.rockspec")
    assert.matches('\nversion = "' .. version:gsub("%.", "%%.") .. '%-1"', spec)
    assert.matches('tag = "v' .. version:gsub("%.", "%%.") .. '"', spec)
    assert.is_nil(spec:find("branch =", 1, true))
    local image = read(dir .. "/rockspecs/image/midjourney-image-" .. version .. "-1.rockspec")
    assert.is_truthy(image:find('"midjourney == ' .. version .. '"', 1, true))
    out, ok = sh("lua5.4 scripts/gen-rockspec-modules.lua --check")
    assert.is_true(ok, out)
    out, ok = sh("luarocks lint rockspecs/midjourney-" .. version .. "-1.rockspec"
      .. " && luarocks lint rockspecs/image/midjourney-image-" .. version .. "-1.rockspec")
    assert.is_true(ok, out)
    -- the same rockspec without its tag is what 0.1.0's was: --check says so
    out, ok = sh("git tag -d v" .. version)
    assert.is_true(ok, out)
    out, ok = sh("lua5.4 scripts/gen-rockspec-modules.lua --check")
    assert.is_false(ok)
    assert.is_truthy(out:find("names the tag v" .. version .. ", which `git tag` does not have", 1, true), out)
    -- a tag on a commit whose client.lua says another version is refused
    out, ok = sh("git -c user.name=t -c user.email=t@localhost tag -a v9.9.9 -m x"
      .. " && lua5.4 scripts/gen-rockspec-modules.lua --release 9.9.9")
    assert.is_false(ok)
    assert.matches("does not say M%.VERSION", out)
  end)
end)
