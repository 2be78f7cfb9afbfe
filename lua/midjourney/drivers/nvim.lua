--- Neovim driver: keeps the midjourney scheduler moving from the editor's libuv loop.
--
--     local driver = require "midjourney.drivers.nvim"
--     driver.run(function()
--       local id = assert(client:imagine("a paper boat"))
--       return client:wait(id)
--     end, function(task, err)        -- runs through vim.schedule: vim.api is allowed
--       vim.notify(task and task.imageUrl or tostring(err))
--     end)
--
-- **Event mode** (the default where `mj.fd()` exists): a `uv_poll` handle watches the
-- scheduler's descriptor while transfers are in flight and ONE timer is re-armed for
-- exactly `mj.timeout()` (the next sleep, poll interval or libcurl timer), so a job that
-- waits for its next poll costs the editor no wakeup. **Tick mode** (`setup{mode =
-- "tick"}`, and where `fd()` is nil): a 10 ms timer while transfers are in flight, the
-- next sleep otherwise. Either way nothing runs while the scheduler is idle, and the
-- driver starts again by itself for `run`, `spawn`, `mj.spawn` or a wake. Each step is
-- deferred with `vim.schedule`, so the coroutines run in the main loop (not in libuv's
-- "fast" context) and may call `vim.api`, `vim.fn` and `vim.notify` (for example from an
-- `on_progress` callback). Every `scheduler.step` has a zero timeout: the editor never
-- waits for the network. The loop side is `midjourney.drivers.luv` with `vim.schedule` as
-- its `defer`. Works with Neovim 0.7+ (`vim.uv` or `vim.loop`).
-- @module midjourney.drivers.nvim

local scheduler = require "midjourney.scheduler"
local luv_driver = require "midjourney.drivers.luv"

local M = {}

local uv = vim.uv or vim.loop
local unpack = table.unpack or unpack

local cfg = {
  mode = "event",       -- "event" (falls back to "tick" where mj.fd() is nil) or "tick"
  interval = 10,        -- ms between ticks while transfers are in flight (tick mode)
  max_idle_wait = 1000, -- ms: longest tick-mode wait while only sleeps are pending
}

local pump             -- the luv attachment, created on first use
local watched = {}     -- handle -> on_done callback (or false), for `run`
local watched_n = 0
local callback_errors = 0
-- counters of attachments closed by `stop`, so that status() never goes backwards
local past = { ticks = 0, starts = 0, stops = 0, errors = 0, wakeups = 0, timer_wakeups = 0, poll_wakeups = 0 }

local function notify(msg)
  vim.schedule(function()
    vim.notify("midjourney: " .. tostring(msg), vim.log.levels.ERROR)
  end)
end

local function finished(h)
  local s = h:status()
  return s ~= "pending" and s ~= "running"
end

-- Hands each finished handle's results to its callback, through vim.schedule.
local function deliver()
  if watched_n == 0 then return end
  for h, cb in pairs(watched) do
    if finished(h) then
      watched[h] = nil
      watched_n = watched_n - 1
      if cb then
        local res = { n = 0 }
        local function pack(...) res = { n = select("#", ...), ... } end
        pack(h:result())
        vim.schedule(function()
          local ok, err = pcall(cb, unpack(res, 1, res.n))
          if not ok then
            callback_errors = callback_errors + 1
            notify("callback failed: " .. tostring(err))
          end
        end)
      end
    end
  end
end

local function attachment()
  if not pump then
    pump = luv_driver.attach(uv, {
      mode = cfg.mode, interval = cfg.interval, max_idle_wait = cfg.max_idle_wait,
      defer = vim.schedule, on_step = deliver, on_error = notify,
    })
  end
  return pump
end

--- Makes sure the driver steps soon (call it after waking a suspended coroutine from
-- outside the scheduler; `mj.spawn`, `wake` and `cancel` do it by themselves). Neither
-- blocks nor yields; safe in libuv fast context.
function M.kick()
  attachment():kick()
end

-- work queued anywhere (mj.spawn, a wake, a cancel) starts the driver
scheduler.on_work(M.kick)

--- Starts `fn(...)` as a scheduler coroutine and makes sure the driver ticks. Neither
-- blocks nor yields.
-- @tparam function fn
-- @return the handle (`status()`, `result()`, `cancel()`)
function M.spawn(fn, ...)
  local h = scheduler.spawn(fn, ...)
  M.kick()
  return h
end

--- Runs `fn(...)` as a scheduler coroutine driven by the timer, and calls
-- `on_done(...)` with what `handle:result()` gives once it ends: `fn`'s return values,
-- or `nil, err` when it raised or was cancelled (`err.kind == "cancelled"`). `on_done`
-- runs through `vim.schedule` (so it may use `vim.api`). Neither blocks nor yields.
-- @tparam function fn the job; every client call in it yields
-- @tparam[opt] function on_done
-- @return the handle (`status()`, `result()`, `cancel()`)
function M.run(fn, on_done, ...)
  if type(fn) ~= "function" then error("run: fn must be a function", 2) end
  if on_done ~= nil and type(on_done) ~= "function" then error("run: on_done must be a function", 2) end
  local h = scheduler.spawn(fn, ...)
  watched[h] = on_done or false
  watched_n = watched_n + 1
  M.kick()
  return h
end

--- Cancels a handle started with `run` or `spawn` and keeps ticking so that the
-- cancellation is delivered. Neither blocks nor yields.
-- @param h the handle
-- @return true if there was something to cancel
function M.cancel(h)
  local r = h:cancel()
  M.kick()
  return r
end

--- Sets driver options. Neither blocks nor yields.
-- @tparam table opts `mode` ("event", the default: the scheduler's descriptor and one
-- timer, falling back to "tick" where `mj.fd()` is nil; or "tick"), `interval` (ms between
-- ticks while transfers are in flight in tick mode, default 10), `max_idle_wait` (ms,
-- longest tick-mode wait while only sleeps are pending, default 1000)
-- @raise on an unknown option or a bad value
function M.setup(opts)
  if opts ~= nil and type(opts) ~= "table" then error("setup: opts must be a table", 2) end
  for k, v in pairs(opts or {}) do
    if cfg[k] == nil then error("setup: unknown option " .. tostring(k), 2) end
    if k == "mode" then
      if v ~= "event" and v ~= "tick" then error("setup: mode must be \"event\" or \"tick\"", 2) end
    elseif type(v) ~= "number" or v ~= v or v < 1 or v == math.huge then
      error("setup: " .. k .. " must be a number >= 1", 2)
    end
  end
  for k, v in pairs(opts or {}) do cfg[k] = type(v) == "number" and math.floor(v) or v end
  if pump then pump:configure { mode = cfg.mode, interval = cfg.interval, max_idle_wait = cfg.max_idle_wait } end
end

--- The driver's state: `{ mode = "event"|"tick", active = bool, wakeups = n,
-- timer_wakeups = n, poll_wakeups = n, ticks = n, starts = n, stops = n, errors = n,
-- watched = n }`. `wakeups` counts the editor loop's callbacks into the driver (timer
-- and descriptor), `ticks` the steps; `active` is true from a start until the driver
-- finds the scheduler idle; `mode` is the one in use (nil before the first step).
-- Neither blocks nor yields.
function M.status()
  local st = pump and pump:status() or {}
  local out = { mode = st.mode, active = st.active or false, watched = watched_n }
  for k, v in pairs(past) do out[k] = v + (st[k] or 0) end
  out.errors = out.errors + callback_errors
  return out
end

--- Stops and closes the driver's handles (for example on VimLeavePre). Running
-- coroutines stay where they are; `kick` (or new work) starts the driver again.
-- Neither blocks nor yields.
function M.stop()
  if pump then
    local st = pump:status()
    for k in pairs(past) do past[k] = past[k] + (st[k] or 0) end
    pump:detach()
    pump = nil
  end
end

return M
