-- lua-midjourney as a Neovim plugin: lua/ is on the runtime path, so `require("midjourney")`
-- works; this file only lets Neovim's LuaJIT find the C core that the plugin manager's build
-- hook (`make LUA=luajit`) writes to build/luajit/midjourney/core.so. (A core.so copied to
-- lua/midjourney/core.so is found through the runtime path without this.)
if vim.g.loaded_midjourney then return end
vim.g.loaded_midjourney = true

local source = debug.getinfo(1, "S").source
if source:sub(1, 1) ~= "@" then return end
local root = vim.fn.fnamemodify(source:sub(2), ":p:h:h")
local entry = root .. "/build/luajit/?.so"
if not package.cpath:find(entry, 1, true) then
  package.cpath = entry .. ";" .. package.cpath
end
