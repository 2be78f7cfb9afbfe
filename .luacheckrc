-- luacheck configuration (`make lint` runs scripts/lint.sh, which runs luacheck on
-- lua/ bin/ spec/ examples/ scripts/ and the rockspecs).
-- Portable Lua only: std "min" (what Lua 5.1, LuaJIT and 5.4 all have). Host globals are allowed
-- only in the files written for that host: `vim` in the Neovim driver, health check and
-- example; `love` in the LÖVE driver and example. No new globals anywhere.

std = "min"
max_line_length = 120 -- luacheck's default; C is formatted to 110 (.clang-format)
allow_defined_top = false
codes = true

-- Version-specific names that portable code reads only behind a fallback, e.g.
-- `local unpack = table.unpack or unpack`, `local mtype = math.type`, `if jit then`.
read_globals = {
  "unpack", "loadstring", "setfenv", "getfenv", "jit", "bit", "utf8",
  table = { fields = { "pack", "unpack", "move" } },
  math = { fields = { "type", "tointeger", "ult", "maxinteger", "mininteger" } },
  coroutine = { fields = { "isyieldable", "close" } },
  string = { fields = { "pack", "unpack", "packsize" } },
  package = { fields = { "searchpath" } }, -- 5.2+, LuaJIT
}

exclude_files = {
  "build/", "doc/", "bench/out/", "fuzz/out/", ".git/",
  "lua_modules/", ".luarocks/",
}

-- Neovim: `vim` is a read-only global whose fields (vim.g, vim.o, vim.env...) may be set.
local vim_global = { vim = { other_fields = true, read_only = false } }
files["lua/midjourney/drivers/nvim.lua"] = { read_globals = vim_global }
files["lua/midjourney/health.lua"] = { read_globals = vim_global }
files["examples/nvim"] = { read_globals = vim_global }
files["plugin"] = { read_globals = vim_global }

-- LÖVE: the callbacks (love.load, love.update, love.draw...) are fields the game sets.
files["lua/midjourney/drivers/love.lua"] = { std = "+love" }
files["examples/love"] = { std = "+love" }

-- busted specs and their helpers.
files["spec"] = { std = "+busted" }

-- Tool files evaluated by their tools. (Rockspecs are checked by `luarocks lint`: given a
-- .rockspec, luacheck checks the modules it lists instead.)
files[".luacheckrc"] = { std = "+luacheckrc" }
files[".busted"] = { std = "min" }
files["config.ld"] = { std = "+ldoc" }
