--- libuv driver (luv: plain `luv` scripts, luvit, and the engine under the Neovim driver).
--
--     local driver = require "midjourney.drivers.luv"
--     -- a script: run the loop until the job ends
--     local task = driver.run(function()
--       local id = assert(client:imagine("a paper boat"))
--       return client:wait(id)
--     end)
--     -- inside a loop that runs anyway (luvit, a server): keep the scheduler moving
--     driver.attach()          -- or driver.attach(require "uv") under luvit
--     mj.spawn(job)            -- started by the driver at once
--
-- **Event mode** (the default where `mj.fd()` exists): a `uv_poll` handle watches the
-- scheduler's descriptor while transfers are in flight, and ONE timer is re-armed after
-- every step for exactly `mj.timeout()` (a sleep, a poll interval, libcurl's own timer, or
-- 0 when a coroutine is ready). A wait sitting between polls costs no wakeup at all; an
-- idle scheduler has no active handle, so it does not keep the loop alive.
-- **Tick mode** (`mode = "tick"`, and where `fd()` is nil): the timer ticks every
-- `interval` ms while transfers are in flight, and waits for the next sleep otherwise.
--
-- Every step is `mj.step(0)`: the loop never waits in the network. `status()` counts the
-- loop's wakeups (timer and descriptor callbacks) and steps.
-- @module midjourney.drivers.luv

local attachments = require "midjourney.attachments"
local scheduler = require "midjourney.scheduler"

local M = {}

local unpack = table.unpack or unpack

local registry = attachments.new() -- one attachment per scheduler

local OPTION_NAMES = { "mode", "interval", "max_idle_wait", "defer", "on_step", "on_error", "scheduler" }

local function check_opts(opts, where)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(where .. ": opts must be a table", 3) end
  for k, v in pairs(opts) do
    if k == "mode" then
      if v ~= "event" and v ~= "tick" then
        error(where .. ": option 'mode' must be \"event\" or \"tick\", got " .. tostring(v), 3)
      end
    elseif k == "interval" or k == "max_idle_wait" then
      if type(v) ~= "number" or v ~= v or v < 1 or v == math.huge then
        error(where .. ": option '" .. k .. "' must be a number of milliseconds >= 1, got " .. tostring(v), 3)
      end
    elseif k == "defer" or k == "on_step" or k == "on_error" then
      if type(v) ~= "function" then error(where .. ": option '" .. k .. "' must be a function", 3) end
    elseif k == "scheduler" then
      if not scheduler.is_scheduler(v) then error(where .. ": option 'scheduler' must be a scheduler", 3) end
    else
      local near = require("midjourney.options").closest(tostring(k), OPTION_NAMES)
      error(where .. ": unknown option '" .. tostring(k) .. "'" .. (near and (" (did you mean '" .. near .. "'?)")
        or ""), 3)
    end
  end
  return opts
end

-- The luv module: luv's own name, luvit's, or Neovim's.
local function find_uv()
  local uv = package.loaded.luv or package.loaded.uv
  if uv then return uv end
  local ok, mod = pcall(require, "luv")
  if ok then return mod end
  ok, mod = pcall(require, "uv")
  if ok then return mod end
  error("midjourney.drivers.luv: the luv module is not installed (Debian: apt-get install lua-luv)", 3)
end

-- ---------------------------------------------------------------- the attachment

local Attachment = {}
Attachment.__index = Attachment

local function report(p, err)
  p.stats.errors = p.stats.errors + 1
  p.last_error = err
  if p.cfg.on_error then
    pcall(p.cfg.on_error, err)
  else
    io.stderr:write("midjourney.drivers.luv: ", tostring(err), "\n")
  end
end

local function stop_timer(p)
  if p.timer_on then
    p.timer:stop()
    p.timer_on = false
  end
end

local function start_timer(p, ms)
  if not p.timer then p.timer = p.uv.new_timer() end
  -- the loop's clock is cached at the start of an iteration: refresh it, so that the
  -- timer does not fire before the scheduler's deadline
  p.uv.update_time()
  p.timer:start(ms, 0, p.on_timer)
  p.timer_on = true
end

local function unwatch(p)
  if p.poll_on then
    p.poll:stop()
    p.poll_on = false
  end
end

local function drop_poll(p)
  if p.poll then
    unwatch(p)
    if not p.poll:is_closing() then p.poll:close() end
    p.poll, p.poll_engine = nil, nil
  end
end

local function watch(p, e, fd)
  if p.poll and p.poll_engine ~= e then drop_poll(p) end -- a new engine: a new descriptor
  if not p.poll then
    p.poll = p.uv.new_poll(fd)
    p.poll_engine = e
  end
  if not p.poll_on then
    p.poll:start("r", p.on_poll)
    p.poll_on = true
  end
end

local function set_active(p, on)
  if on and not p.active then
    p.active = true
    p.stats.starts = p.stats.starts + 1
  elseif not on and p.active then
    p.active = false
    p.stats.stops = p.stats.stops + 1
  end
end

local MAX_WAIT = 2 ^ 31 / 1000 -- seconds: the longest timer armed at once

-- Event mode: the descriptor while transfers are in flight, the timer for timeout().
local function arm_event(p, e, fd)
  local s = p.s
  local t = s:timeout()
  local inflight = e:running() > 0
  if t == nil and not inflight then
    stop_timer(p); unwatch(p); set_active(p, false)
    return
  end
  set_active(p, true)
  if inflight then watch(p, e, fd) else unwatch(p) end
  if t == nil then
    stop_timer(p)
  elseif t <= 0 then
    start_timer(p, 0)
  else
    -- whole milliseconds, rounded up and one more: libuv's clock has millisecond steps,
    -- and a timer that fired early would cost a second wakeup (a far timer is capped at
    -- about 24 days and simply re-armed then)
    start_timer(p, math.floor(math.min(t, MAX_WAIT) * 1000) + 1)
  end
end

-- Tick mode: what the Neovim driver always did.
local function arm_tick(p, e, delay)
  local s = p.s
  unwatch(p)
  if not delay then
    if not s:busy() then
      stop_timer(p); set_active(p, false)
      return
    end
    delay = p.cfg.interval or 10
    local nt = s:next_timer()
    if nt and e:running() == 0 and s:timeout() ~= 0 then
      -- only sleeps pending (no transfer, no coroutine ready): wake when the first one
      -- is due (a new job kicks earlier)
      delay = math.min(math.max(math.floor(nt * 1000), 1), p.cfg.max_idle_wait or 1000)
    end
  end
  set_active(p, true)
  start_timer(p, delay)
end

local function arm(p, delay)
  if p.queued or p.closed then return end
  local e = p.s:engine()
  local fd = p.cfg.mode ~= "tick" and e:fd()
  if fd then
    p.mode = "event"
    if delay then
      set_active(p, true)
      start_timer(p, delay)
    else
      arm_event(p, e, fd)
    end
  else
    p.mode = "tick"
    if p.poll then drop_poll(p) end
    arm_tick(p, e, delay)
  end
end

-- At most this many steps in one callback, and no new one after this many seconds: a
-- chain of coroutines that wake each other (a poll round: its timer, the worker, the
-- request) runs without going round the loop, yet the loop's other handles wait little.
local CHAIN_STEPS, CHAIN_SECONDS = 8, 0.002

local function tick(p)
  p.queued = false
  if p.closed then return end
  local s = p.s
  local started = s.now()
  for i = 1, CHAIN_STEPS do
    p.stats.ticks = p.stats.ticks + 1
    local ok, err = pcall(s.step, s, 0)
    if not ok then report(p, err); break end
    if p.mode ~= "event" or i == CHAIN_STEPS or s:timeout() ~= 0 or s.now() - started > CHAIN_SECONDS then break end
  end
  if p.cfg.on_step then
    local ok2, err2 = pcall(p.cfg.on_step)
    if not ok2 then report(p, err2) end
  end
  -- an error must not escape into libuv (luv ends the process on a callback's error)
  local ok3, err3 = pcall(arm, p)
  if not ok3 then report(p, err3) end
end

local function queue(p)
  if p.queued or p.closed then return end
  p.queued = true
  if p.cfg.defer then p.cfg.defer(p.tick_fn) else p.tick_fn() end
end

local function new_pump(uv, s, cfg)
  local p = setmetatable({
    uv = uv, s = s, cfg = cfg,
    timer = nil, timer_on = false,
    poll = nil, poll_engine = nil, poll_on = false,
    queued = false, active = false, closed = false, mode = nil,
    stats = { wakeups = 0, timer_wakeups = 0, poll_wakeups = 0, ticks = 0, starts = 0, stops = 0, errors = 0 },
  }, Attachment)
  p.tick_fn = function() tick(p) end
  p.on_timer = function()
    p.timer_on = false
    p.stats.wakeups = p.stats.wakeups + 1
    p.stats.timer_wakeups = p.stats.timer_wakeups + 1
    queue(p)
  end
  p.on_poll = function()
    p.stats.wakeups = p.stats.wakeups + 1
    p.stats.poll_wakeups = p.stats.poll_wakeups + 1
    -- with a deferred step the descriptor stays readable until the step runs: stop
    -- watching it until then, or the loop would spin
    if p.cfg.defer then unwatch(p) end
    queue(p)
  end
  return p
end

--- Makes sure the attachment steps soon (after work was queued from outside a step;
-- `mj.spawn`, `wake` and `cancel` do it by themselves through `on_work`). Neither blocks
-- nor yields; safe in libuv callbacks (and in Neovim's fast context).
function Attachment:kick()
  if self.queued or self.closed then return end
  arm(self, 0)
end

--- The attachment's state: `{ mode = "event"|"tick"|nil, active = bool, wakeups = n,
-- timer_wakeups = n, poll_wakeups = n, ticks = n, starts = n, stops = n, errors = n }`.
-- `wakeups` counts the loop's callbacks into the driver (timer and descriptor), `ticks`
-- the steps, `starts`/`stops` the changes between busy and idle; `mode` is nil until the
-- first step. Neither blocks nor yields.
-- @treturn table
function Attachment:status()
  local st = { mode = self.mode, active = self.active, attached = not self.closed }
  for k, v in pairs(self.stats) do st[k] = v end
  return st
end

--- Changes options (`mode`, `interval`, `max_idle_wait`, `on_step`, `on_error`) and
-- re-arms with them. Neither blocks nor yields.
-- @tparam table opts
-- @raise on an unknown option or a bad value
function Attachment:configure(opts)
  check_opts(opts, "configure")
  if opts.scheduler and opts.scheduler ~= self.s then error("configure: option 'scheduler' cannot change", 2) end
  for k, v in pairs(opts) do self.cfg[k] = v end
  if self.closed then return end
  stop_timer(self)
  drop_poll(self)
  if self.active then arm(self, 0) end
end

--- Stops and closes the handles and forgets the attachment: coroutines stay where they
-- are until the scheduler is stepped again (for example by a new `attach`). Neither
-- blocks nor yields.
function Attachment:detach()
  if self.closed then return end
  self.closed = true
  stop_timer(self)
  if self.timer and not self.timer:is_closing() then self.timer:close() end
  self.timer = nil
  drop_poll(self)
  self.active = false
  registry:remove(self.s, self)
end

-- ---------------------------------------------------------------- module functions

--- Keeps a scheduler moving inside a running libuv loop: from now on work queued on it
-- (`mj.spawn`, a wake) is stepped from the loop, until `detach`. One attachment per
-- scheduler: attaching again returns the existing one. Neither blocks nor yields.
-- @param[opt] uv the luv module (default: `require "luv"`, else luvit's `require "uv"`)
-- @tparam[opt] table opts `mode` ("event", the default, falls back to "tick" where
--   `fd()` is nil; or "tick"), `interval` (ms between ticks while transfers are in
--   flight in tick mode, default 10), `max_idle_wait` (ms, longest tick-mode wait while
--   only sleeps are pending, default 1000), `defer` (a function that runs the step later,
--   e.g. `vim.schedule`; default: step inside the libuv callback), `on_step` (called after
--   every step), `on_error` (called with what a step raised; default: a line on stderr),
--   `scheduler` (default: the default one, behind `mj.*`)
-- @return the attachment (`kick()`, `status()`, `configure(opts)`, `detach()`)
-- @raise on an unknown option or a bad value
function M.attach(uv, opts)
  opts = check_opts(opts, "attach")
  uv = uv or find_uv()
  if type(uv) ~= "table" or type(uv.new_timer) ~= "function" then
    error("attach: uv must be the luv module", 2)
  end
  local s = opts.scheduler or scheduler.default()
  local p = registry:get(s)
  if p then return p end
  local cfg = {}
  for k, v in pairs(opts) do cfg[k] = v end
  return registry:add(s, new_pump(uv, s, cfg))
end

--- The attachment of the default scheduler, or nil. Neither blocks nor yields.
function M.attachment()
  return registry:get()
end

--- Detaches the default scheduler's attachment (see `attach`). Neither blocks nor yields.
function M.detach()
  local p = registry:get()
  if p then p:detach() end
end

--- The `status()` of the default scheduler's attachment, or of the latest one when it
-- was detached (`attached = false`; e.g. after `run`), or `{ attached = false }`.
-- Neither blocks nor yields.
-- @treturn table
function M.status()
  return registry:status()
end

local function finished(h)
  local st = h:status()
  return st ~= "pending" and st ~= "running"
end

--- Runs `fn(...)` as a coroutine of the default scheduler and runs the libuv loop
-- (`uv.run("once")` at a time) until it finishes; returns its results, or raises its
-- error (a cancelled `fn` gives `nil, err`). Other handles of the loop run meanwhile.
-- Blocks; call it where the loop is not running (a script, luvit's main chunk), never
-- from a libuv callback. Uses the existing attachment, or attaches for the call.
-- @tparam function fn the job; every client call in it yields
-- @return fn's results
-- @raise fn's error, a step's error, or when fn waits for something that can never come
--   (the loop has no active handle left)
function M.run(fn, ...)
  if type(fn) ~= "function" then error("run: fn must be a function", 2) end
  local s = scheduler.default()
  local p = registry:get(s)
  local mine = false
  local failure
  if not p then
    p = M.attach(nil, { on_error = function(err) failure = failure or err end })
    mine = true
  end
  local uv = p.uv
  local h = s:spawn(fn, ...)
  p:kick()
  local ok, err = pcall(function()
    while not finished(h) and failure == nil do
      if not uv.run("once") and not finished(h) and failure == nil and not p.active then
        error("run: the job waits for something that can never happen (the loop has nothing left to do)", 0)
      end
    end
  end)
  if mine then
    p:detach()
    -- let libuv finish closing the handles now: a close callback left for the loop's
    -- finalizer at exit would run into a Lua state being closed
    uv.run("nowait")
  end
  if not ok then h:cancel(); error(err, 0) end
  if failure ~= nil then h:cancel(); error(failure, 0) end
  local res = { n = 0 }
  local function pack(...) res = { n = select("#", ...), ... } end
  pack(h:result())
  if h:status() == "failed" then error(res[2], 0) end
  return unpack(res, 1, res.n)
end

return M
