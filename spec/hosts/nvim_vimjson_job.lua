-- luacheck: read globals vim
-- Run inside headless Neovim by spec/nvim_spec.lua: with no separate `cjson` on the cpath
-- (only the checkout's build/luajit), the library decodes through Neovim's vim.json and
-- runs a whole job (imagine -> wait -> U1 -> wait) against the simulator via the driver.
-- Env: MJ_REPO, MJ_BASE_URL, MJ_KEY, MJ_RESULT.
local repo = assert(os.getenv("MJ_REPO"), "MJ_REPO")
package.cpath = repo .. "/build/luajit/?.so" -- nothing else: no system cjson.so
package.path = repo .. "/?.lua;" .. package.path
local out = { cjson_loadable = (pcall(require, "cjson")) }
local mj = require "midjourney"
local driver = require "midjourney.drivers.nvim"
out.backend = require("midjourney.json").backend
local client = mj.new { api_key = os.getenv("MJ_KEY"), base_url = os.getenv("MJ_BASE_URL") }
driver.run(function()
  local id = assert(client:imagine("a boat decoded by vim.json"))
  local grid = assert(client:wait(id, { interval = 0.05 }))
  local up = assert(client:upscale(grid, 1, { wait = true, interval = 0.05 }))
  return grid, up
end, function(grid, up)
  if grid and up then
    out.grid_status, out.up_status, out.buttons = grid.status, up.status, #grid.buttons
  else
    out.error = tostring(up)
  end
  require("spec.hosts.serialize").write(assert(os.getenv("MJ_RESULT")), out)
  vim.cmd("qall!")
end)
