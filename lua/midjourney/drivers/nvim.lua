--- Neovim driver: keeps the midjourney scheduler moving from a libuv timer.
--
--     local driver = require "midjourney.drivers.nvim"
--     driver.run(function()
--       local id = assert(client:imagine("a paper boat"))
--       return client:wait(id)
--     end, function(task, err)        -- runs through vim.schedule: vim.api is allowed
--       vim.notify(task and task.imageUrl or tostring(err))
--     end)
--
-- The timer runs only while the scheduler has work (`scheduler.busy()`): transfers in
-- flight, coroutines ready to resume, or sleeps pending. It stops itself when idle and
-- is started again by `run`, `spawn` or `kick`. Each tick is deferred with
-- `vim.schedule`, so the coroutines themselves run in the main loop (not in libuv's
-- "fast" context) and may call `vim.api`, `vim.fn` and `vim.notify` (for example from an
-- `on_progress` callback). Every `scheduler.step` is called with a zero timeout: the
-- editor never waits for the network. Works with Neovim 0.7+ (`vim.uv` or `vim.loop`).
-- @module midjourney.drivers.nvim

local scheduler = require "midjourney.scheduler"

local M = {}

local uv = vim.uv or vim.loop
local unpack = table.unpack or unpack

local cfg = {
  interval = 10,      -- ms between ticks while transfers are in flight
  max_idle_wait = 1000, -- ms: longest re-arm while only sleeps are pending
}

local timer            -- the uv timer, created lazily
local armed = false    -- the timer is started
local queued = false   -- a tick is waiting in vim.schedule's queue
local active = false   -- between a start and the stop when idle
local watched = {}     -- handle -> on_done callback (or false), for `run`
local watched_n = 0
local stats = { ticks = 0, starts = 0, stops = 0, errors = 0 }

local function notify_error(msg)
  stats.errors = stats.errors + 1
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
          if not ok then notify_error("callback failed: " .. tostring(err)) end
        end)
      end
    end
  end
end

local arm

-- One tick, in the main loop (scheduled): step without waiting, deliver, re-arm or stop.
local function tick()
  queued = false
  stats.ticks = stats.ticks + 1
  local ok, err = pcall(scheduler.step, 0)
  if not ok then notify_error(err) end
  deliver()
  arm()
end

local function on_timer()
  -- libuv fast context: only defer the real work to the main loop.
  armed = false
  if not queued then
    queued = true
    vim.schedule(tick)
  end
end

-- True when the shared engine has transfers in flight.
local function transfers_pending()
  local e = scheduler.engine()
  return not e:closed() and e:running() > 0
end

-- Starts the one-shot timer with a delay that fits what is pending, or stops it.
arm = function(delay)
  if queued then return end
  if not delay then
    if not scheduler.busy() then
      if armed then timer:stop() end
      armed = false
      if active then
        active = false
        stats.stops = stats.stops + 1
      end
      return
    end
    delay = cfg.interval
    local nt = scheduler.next_timer()
    if nt and not transfers_pending() then
      -- only sleeps pending: wake when the first one is due (a new job kicks earlier)
      delay = math.min(math.max(math.floor(nt * 1000), 1), cfg.max_idle_wait)
    end
  end
  if not timer then timer = uv.new_timer() end
  if armed then timer:stop() end
  if not active then
    active = true
    stats.starts = stats.starts + 1
  end
  armed = true
  timer:start(delay, 0, on_timer)
end

--- Makes sure the timer ticks soon (call it after `mj.spawn`, or after waking a
-- suspended coroutine from outside the scheduler). Neither blocks nor yields; safe in
-- libuv fast context.
function M.kick()
  if queued then return end
  arm(0)
end

-- work queued anywhere (mj.spawn, a wake, a cancel) starts the timer
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
-- @tparam table opts `interval` (ms between ticks while transfers are in flight,
-- default 10), `max_idle_wait` (ms, longest re-arm while only sleeps are pending,
-- default 1000)
function M.setup(opts)
  for k, v in pairs(opts or {}) do
    if cfg[k] == nil then error("setup: unknown option " .. tostring(k), 2) end
    if type(v) ~= "number" or v < 1 then error("setup: " .. k .. " must be a number >= 1", 2) end
    cfg[k] = math.floor(v)
  end
end

--- The driver's state: `{ active = bool, ticks = n, starts = n, stops = n, errors = n,
-- watched = n }`. `active` is true from a start until the driver finds the scheduler idle.
-- Neither blocks nor yields.
function M.status()
  return {
    active = active,
    ticks = stats.ticks,
    starts = stats.starts,
    stops = stats.stops,
    errors = stats.errors,
    watched = watched_n,
  }
end

--- Stops and closes the timer (for example on VimLeavePre). Running coroutines stay
-- where they are; `kick` starts a new timer. Neither blocks nor yields.
function M.stop()
  if timer then
    timer:stop()
    if not timer:is_closing() then timer:close() end
    timer = nil
  end
  armed = false
  active = false
end

return M
