-- luacheck: read globals vim
-- Run inside headless Neovim by spec/nvim_spec.lua (not a spec itself).
-- Env: MJ_REPO (repo root), MJ_GET_URL (a URL on a local server), MJ_RESULT (file to
-- write), MJ_JOBS (coroutines), MJ_ROUNDS (request+sleep rounds each), MJ_BLOCKING=1
-- (control: run the same jobs with mj.run in the main loop, which freezes the editor),
-- MJ_SLOW_URL (a URL answered late, requested once per job after the rounds).
-- Writes `return { ... }` (a Lua table) to MJ_RESULT and quits.
local repo = assert(os.getenv("MJ_REPO"), "MJ_REPO")
package.cpath = repo .. "/build/luajit/?.so;" .. package.cpath
package.path = repo .. "/?.lua;" .. package.path

local uv = vim.uv or vim.loop
local get_url = assert(os.getenv("MJ_GET_URL"), "MJ_GET_URL")
local result_path = assert(os.getenv("MJ_RESULT"), "MJ_RESULT")
local jobs = tonumber(os.getenv("MJ_JOBS") or "10")
local rounds = tonumber(os.getenv("MJ_ROUNDS") or "5")
local blocking = os.getenv("MJ_BLOCKING") == "1"
local slow_url = os.getenv("MJ_SLOW_URL") -- optional: one request per job that answers late

local driver = require "midjourney.drivers.nvim"
local scheduler = require "midjourney.scheduler"

local function now_ms() return uv.hrtime() / 1e6 end

local out = { jobs = jobs, rounds = rounds, blocking = blocking }
local max_gap = 0
local function finish()
  out.max_gap = max_gap
  require("spec.hosts.serialize").write(result_path, out)
  vim.cmd("qall!")
end

-- The gauge: a repeating Vim timer (main loop) and typed keys. If the editor blocks,
-- the timer stops firing and the keys wait in typeahead.
local ticks, last_tick = 0, now_ms()
local job_running = false
local ticks_during, gap_during = 0, 0
vim.fn.timer_start(10, function()
  local t = now_ms()
  local gap = t - last_tick
  last_tick = t
  ticks = ticks + 1
  if gap > max_gap then max_gap = gap end
  if job_running then
    ticks_during = ticks_during + 1
    if gap > gap_during then gap_during = gap end
    -- type a key while the job runs: Normal-mode "A" appends to the line
    if ticks_during % 5 == 0 then vim.api.nvim_feedkeys("Ak\27", "n", false) end
  end
end, { ["repeat"] = -1 })

-- A watchdog so a hung driver ends the run with a result instead of a timeout.
vim.defer_fn(function()
  out.error = "watchdog: job did not finish in 20 s"
  out.driver = driver.status()
  finish()
end, 20000)

local progress_calls, progress_errors = 0, 0
local function job(i)
  local statuses = {}
  for r = 1, rounds do
    local rec = scheduler.request { method = "GET", url = get_url, timeout = 10 }
    statuses[#statuses + 1] = rec.status
    scheduler.sleep(0.05)
    -- like an on_progress callback: the coroutine may touch the editor (not fast context)
    local ok = pcall(vim.api.nvim_buf_set_var, 0, "mj_job_" .. i, r)
    if ok then progress_calls = progress_calls + 1 else progress_errors = progress_errors + 1 end
  end
  if slow_url then
    -- a long quiet stretch: nothing finishes for a while, the driver must not wait for it
    local rec = scheduler.request { method = "GET", url = slow_url, timeout = 10 }
    out.slow_status = rec.status
  end
  return i, statuses
end

local function keys_typed()
  local line = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] or ""
  return select(2, line:gsub("k", ""))
end

local started = now_ms()
local first_keys
job_running = true
out.peak_transfers = 0

if blocking then
  -- control case: the same jobs, run to completion in the main loop
  vim.defer_fn(function()
    scheduler.run(function()
      local hs = {}
      for i = 1, jobs do hs[i] = scheduler.spawn(job, i) end
      while scheduler.live() > 1 do scheduler.sleep(0.005) end
      return hs
    end)
    job_running = false
    out.job_ms = now_ms() - started
    out.ticks_during, out.gap_during = ticks_during, gap_during
    out.keys_during = keys_typed()
    out.done = jobs
    out.progress_calls, out.progress_errors = progress_calls, progress_errors
    vim.defer_fn(finish, 50)
  end, 50)
  return
end

local done, results = 0, {}
local peak_watch = uv.new_timer()
peak_watch:start(1, 1, function()
  local e = scheduler.engine()
  local n = e:running()
  if n > out.peak_transfers then out.peak_transfers = n end
end)
for i = 1, jobs do
  driver.run(job, function(idx, statuses, err)
    -- through vim.schedule: not in fast context
    out.callback_in_fast = vim.in_fast_event()
    if not idx then
      out.error = tostring(statuses or err)
    else
      results[idx] = table.concat(statuses, ",")
    end
    done = done + 1
    if done == jobs then
      job_running = false
      peak_watch:stop()
      out.job_ms = now_ms() - started
      out.ticks_during, out.gap_during = ticks_during, gap_during
      out.keys_during = keys_typed()
      out.results = results
      out.done = done
      out.progress_calls, out.progress_errors = progress_calls, progress_errors
      out.driver_at_done = driver.status()
      -- the timer must stop by itself once nothing is pending
      out.went_idle = vim.wait(2000, function() return not driver.status().active end, 5)
      out.driver = driver.status()
      -- and start again for a new job
      driver.run(function() scheduler.sleep(0.01) return "again" end, function(v)
        out.again = v
        out.driver_after_again = driver.status()
        finish()
      end)
    end
  end, i)
end
first_keys = keys_typed()
out.keys_before = first_keys
