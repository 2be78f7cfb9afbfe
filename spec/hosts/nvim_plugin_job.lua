-- luacheck: globals vim
-- Run inside headless Neovim by spec/nvim_spec.lua (not a spec itself): loads the
-- example plugin (examples/nvim), runs `:MjImagine` against the simulator and records
-- what it reported with vim.notify, plus a Vim timer gauge of editor responsiveness.
-- Env: MJ_REPO, MJ_BASE_URL, MJ_KEY, MJ_RESULT, MJ_DIR (download dir), MJ_CANCEL=1
-- (run `:MjCancel` once the job was submitted).
local repo = assert(os.getenv("MJ_REPO"), "MJ_REPO")
package.cpath = repo .. "/build/luajit/?.so;" .. package.cpath
package.path = repo .. "/?.lua;" .. package.path
vim.opt.runtimepath:append(repo .. "/examples/nvim")
vim.cmd("runtime! plugin/mj_example.lua")

local uv = vim.uv or vim.loop
local result_path = assert(os.getenv("MJ_RESULT"), "MJ_RESULT")
local cancel = os.getenv("MJ_CANCEL") == "1"
local driver = require "midjourney.drivers.nvim"
local plugin = require "mj_example"
plugin.setup {
  api_key = os.getenv("MJ_KEY"), base_url = os.getenv("MJ_BASE_URL"), dir = os.getenv("MJ_DIR"),
  interval = 0.2, first_delay = 0.1,
}

local out = { progress_notes = 0, notes = {} }
local function now_ms() return uv.hrtime() / 1e6 end

local function finish()
  require("spec.hosts.serialize").write(result_path, out)
  vim.cmd("qall!")
end

-- Record what the plugin reports (the real vim.notify would print to the message area).
local final
vim.notify = function(msg, level)
  out.notes[#out.notes + 1] = msg
  if msg:find(": [A-Z_]+ %d") then out.progress_notes = out.progress_notes + 1 end
  if msg:find("^Midjourney: done ") then
    final = "done"
    out.done_note = msg
    out.task_id, out.path = msg:match("^Midjourney: done (%S+) %-> (.+)$")
  elseif msg:find("^Midjourney: cancelled") then
    final = "cancelled"
    out.cancel_note, out.cancel_level = msg, level
  elseif level == vim.log.levels.ERROR then
    final = "failed"
    out.error_note = msg
  end
  if cancel and msg:find("^Midjourney: submitted ") then
    vim.schedule(function() vim.cmd("MjCancel") end)
  end
end

local started = now_ms()
local last, ticks_during, max_gap = now_ms(), 0, 0
local finished = false
vim.fn.timer_start(10, function(timer)
  local t = now_ms()
  local gap = t - last
  last = t
  if finished then return end
  if gap > max_gap then max_gap = gap end
  if not final then
    ticks_during = ticks_during + 1
    if t - started > 20000 then
      out.error = "watchdog: no final notification in 20 s"
      finished = true
      vim.fn.timer_stop(timer)
      out.driver = driver.status()
      finish()
    end
    return
  end
  finished = true
  vim.fn.timer_stop(timer)
  out.job_ms = t - started
  out.ticks_during, out.max_gap = ticks_during, max_gap
  out.running_after = plugin.running()
  vim.wait(2000, function() return not driver.status().active end, 5)
  out.driver = driver.status()
  finish()
end, { ["repeat"] = -1 })

-- the user command, as typed
vim.cmd("MjImagine a paper boat at sunrise --v 6.1")
