-- luacheck: read globals vim
-- Run inside headless Neovim by spec/nvim_spec.lua: ten waits sitting between their polls
-- (spec/hosts/idle_waits.lua) through the Neovim driver in the mode MJ_MODE ("event" or
-- "tick"), counting the driver's wakeups and the poll requests the simulator saw.
-- Env: MJ_REPO, MJ_BASE_URL, MJ_KEY, MJ_RESULT, MJ_MODE.
local repo = assert(os.getenv("MJ_REPO"), "MJ_REPO")
package.cpath = repo .. "/build/luajit/?.so;" .. package.cpath
package.path = repo .. "/?.lua;" .. package.path
local mj = require "midjourney"
local core = require "midjourney.core"
local json = require "midjourney.json"
local driver = require "midjourney.drivers.nvim"
local base = assert(os.getenv("MJ_BASE_URL"), "MJ_BASE_URL")
local result_path = assert(os.getenv("MJ_RESULT"), "MJ_RESULT")
local mode = assert(os.getenv("MJ_MODE"), "MJ_MODE")

local out = { mode_asked = mode }
local function finish()
  require("spec.hosts.serialize").write(result_path, out)
  vim.cmd("qall!")
end
vim.defer_fn(function()
  out.error = "watchdog: the scenario did not finish in 40 s"
  out.driver = driver.status()
  finish()
end, 40000)

-- The poll requests the simulator has seen, through an engine of its own (blocking for a
-- moment; it must not step the driver's scheduler).
local stats_engine = core.engine()
local function requests()
  local id = stats_engine:request { url = base .. "/_sim/stats", timeout = 5 }
  while true do
    local recs = stats_engine:step(1)
    for _, r in ipairs(recs or {}) do
      if r.id == id then
        local st = assert(json.decode(assert(r.body, r.error)))
        return (st.routes.list or 0) + (st.routes.fetch or 0)
      end
    end
  end
end

driver.setup { mode = mode }
local client = mj.new { api_key = os.getenv("MJ_KEY"), base_url = base }
driver.run(function()
  return require("spec.hosts.idle_waits").run { client = client, status = driver.status, requests = requests,
    interval = 0.5, warmup = 0.8, window = 2.5 }
end, function(res, err)
  if res then out.res = res else out.error = tostring(err) end
  out.went_idle = vim.wait(3000, function() return not driver.status().active end, 5)
  out.driver = driver.status()
  finish()
end)
