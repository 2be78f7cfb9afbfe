-- luacheck: read globals vim
-- Run inside `nvim --headless --clean` by spec/nvim_spec.lua: checks that the repository
-- works as a plugin (plugin/midjourney.lua puts build/luajit on package.cpath).
-- Env: MJ_REPO, MJ_RESULT.
local repo = assert(os.getenv("MJ_REPO"), "MJ_REPO")
local out = { loaded_flag = vim.g.loaded_midjourney == true }
local ok, core = pcall(require, "midjourney.core")
out.core_ok = ok
out.core_version = ok and core.version or tostring(core)
local ok2, mj = pcall(require, "midjourney")
out.mj_ok = ok2 and type(mj.new) == "function"
local ok3, driver = pcall(require, "midjourney.drivers.nvim")
out.driver_ok = ok3 and type(driver.run) == "function"
out.cpath_has_build = package.cpath:find(repo .. "/build/luajit/?.so", 1, true) ~= nil
package.path = repo .. "/?.lua;" .. package.path
require("spec.hosts.serialize").write(assert(os.getenv("MJ_RESULT")), out)
vim.cmd("qall!")
