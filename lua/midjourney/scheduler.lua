--- The scheduler: an engine, coroutines, timers, yield-or-block.
--
-- Every HTTP call of the library goes through a scheduler's `request`. Inside a
-- coroutine started with `spawn` (or `run`) it yields until its answer arrives;
-- anywhere else it blocks, driving the same engine. A host (a script, Neovim, LÖVE)
-- calls `step` from its own loop to advance all transfers and resume the coroutines
-- that are ready.
--
-- `scheduler.new()` makes an independent scheduler (its own engine, coroutines and
-- timers); the library's default one is behind `mj.spawn/step/run/...` and the module
-- functions below. Module functions act on the **active** scheduler: the one whose
-- coroutine is running, else the default one, so a call made inside a coroutine of any
-- scheduler yields to that scheduler.
--
-- Cancellation has one value: a cancelled call returns `nil, err` with
-- `err.kind == "cancelled"` (`errors.cancelled()`), whatever it was waiting for.
-- @module midjourney.scheduler

local errors = require "midjourney.errors"
local options = require "midjourney.options"

-- Coroutines of the library yield across pcall (a poll round protects each batch), which
-- PUC-Rio Lua 5.1 cannot do: refuse it plainly rather than let a wait poll forever.
if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  error("lua-midjourney needs Lua 5.2 or newer (5.4 first) or LuaJIT: PUC-Rio Lua 5.1 cannot yield "
    .. "across pcall, which the scheduler's coroutines do", 0)
end

local M = {}

local unpack = table.unpack or unpack
local co_running, co_create, co_resume, co_yield, co_status =
  coroutine.running, coroutine.create, coroutine.resume, coroutine.yield, coroutine.status

--- The value `suspend(timeout)` returns when its timeout passed first.
M.TIMEOUT = setmetatable({}, { __tostring = function() return "midjourney.scheduler.TIMEOUT" end })

local running_sched -- the scheduler whose coroutine is running now (nil outside every resume)
local default_sched -- created on first use

local Scheduler = {}
Scheduler.__index = Scheduler

local Handle = {}
Handle.__index = Handle

-- ---------------------------------------------------------------- timers (binary min-heap)

local function heap_less(a, b)
  if a.at ~= b.at then return a.at < b.at end
  return a.seq < b.seq
end

local function heap_push(heap, t)
  heap[#heap + 1] = t
  local i = #heap
  while i > 1 do
    local p = math.floor(i / 2)
    if heap_less(heap[i], heap[p]) then
      heap[i], heap[p] = heap[p], heap[i]
      i = p
    else
      break
    end
  end
end

local function heap_pop(heap)
  local n = #heap
  local top = heap[1]
  heap[1] = heap[n]
  heap[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and heap_less(heap[l], heap[m]) then m = l end
    if r <= n and heap_less(heap[r], heap[m]) then m = r end
    if m == i then break end
    heap[i], heap[m] = heap[m], heap[i]
    i = m
  end
  return top
end

-- ---------------------------------------------------------------- construction

--- Make a scheduler. Neither blocks nor yields.
-- @tparam[opt] table opts `core` (the C core module, default `midjourney.core`; specs
--   pass a fake), `step_budget` (see `configure`), `max_host_connections`,
--   `max_connections` (engine options)
-- @return the scheduler
function M.new(opts)
  opts = opts or {}
  local core = opts.core or require "midjourney.core"
  local s = setmetatable({
    core = core,
    now = core.now,
    engine_opts = { max_host_connections = 32 },
    engine_obj = nil,   -- created on first use
    transfers = {},     -- transfer id (of engine_obj) -> handle waiting for it
    orphans = {},       -- transfer id -> record nobody was waiting for yet (blocking waits)
    ready = {},         -- handles to resume at the next step, in order
    ready_args = {},    -- handle -> packed values to resume it with
    heap = {},          -- timers { at =, handle =, seq =, kind = "sleep"|"suspend" }
    timer_seq = 0,
    live_count = 0,     -- coroutines neither finished nor cancelled
    current = nil,      -- the handle whose coroutine is running now
    step_budget = 0.001,
    work_hooks = {},
    stepping = false,
  }, Scheduler)
  if opts.step_budget ~= nil or opts.max_host_connections ~= nil or opts.max_connections ~= nil then
    s:configure { step_budget = opts.step_budget, max_host_connections = opts.max_host_connections,
      max_connections = opts.max_connections }
  end
  return s
end

--- The default scheduler (behind `mj.spawn`, `mj.step`, ...), created on first use.
-- Neither blocks nor yields.
function M.default()
  if not default_sched then default_sched = M.new() end
  return default_sched
end

--- The active scheduler: the one whose coroutine is running, else the default one.
-- Neither blocks nor yields.
function M.active()
  return running_sched or M.default()
end

--- True when `v` is a scheduler. Neither blocks nor yields.
function M.is_scheduler(v) return getmetatable(v) == Scheduler end

-- ---------------------------------------------------------------- handles

local function notify_work(s)
  if s.stepping then return end
  for i = 1, #s.work_hooks do s.work_hooks[i]() end
end

local function make_ready(h, ...)
  if h.state ~= "running" and h.state ~= "pending" then return end
  local s = h.sched
  if s.ready_args[h] then return end -- already queued
  s.ready[#s.ready + 1] = h
  s.ready_args[h] = { n = select("#", ...), ... }
end

local function wake_joiners(h)
  local js = h.joiners
  if not js then return end
  h.joiners = nil
  for i = 1, #js do
    local j = js[i]
    if j.suspended then
      j.suspended = nil
      make_ready(j)
    end
  end
end

local function failed_record(id, kind, message)
  return { id = id, status = 0, error = message, error_kind = kind, sent = false, time = 0, size = 0 }
end

local CANCELLED = "the operation was cancelled"

local function clear_timer(h)
  if h.timer then
    h.timer.handle = nil -- the heap entry becomes inert
    h.timer = nil
  end
end

--- A handle: what `spawn` (and `mj.spawn`, a driver's `run`) returns for a coroutine.
-- @type Handle

--- The state of a spawned coroutine. Neither blocks nor yields.
-- @return "pending" (not started yet), "running", "done", "failed" or "cancelled"
function Handle:status()
  return self.state
end

--- The results of a finished coroutine. Neither blocks nor yields.
-- @return the function's return values when it is "done"; `nil, err` when it failed
-- (err is what it raised), was cancelled (err.kind == "cancelled") or is not finished
-- (err.kind == "pending").
function Handle:result()
  if self.state == "done" then return unpack(self.values, 1, self.values.n) end
  if self.state == "failed" then return nil, self.err end
  if self.state == "cancelled" then return nil, errors.cancelled() end
  return nil, errors.new { kind = "pending", message = "the coroutine has not finished (status " .. self.state .. ")" }
end

--- Cancels the coroutine's in-flight transfer (or sleep, or wait): its pending call
-- returns `nil, err` with `err.kind == "cancelled"`, and every later call it makes
-- returns the same at once, so it can unwind. A coroutine that has not started never
-- runs. Neither blocks nor yields.
-- @return true if there was something to cancel
function Handle:cancel()
  local s = self.sched
  if self.state == "pending" then
    self.state = "cancelled"
    s.live_count = s.live_count - 1
    s.ready_args[self] = nil
    wake_joiners(self)
    return true
  end
  if self.state ~= "running" then return false end
  self.cancelled = true
  if self.transfer then
    local id = self.transfer
    self.transfer = nil
    s.transfers[id] = nil
    local e = s.engine_obj
    if e and not e:closed() then e:cancel(id) end
    make_ready(self, failed_record(id, "cancelled", CANCELLED))
  elseif self.timer then
    local kind = self.timer.kind
    clear_timer(self)
    if kind == "suspend" then
      self.suspended = nil
      make_ready(self, nil, errors.cancelled())
    else
      make_ready(self)
    end
  elseif self.suspended then
    self.suspended = nil
    make_ready(self, nil, errors.cancelled())
  end
  notify_work(s)
  return true
end

function Handle:__tostring()
  return "midjourney coroutine (" .. self.state .. ")"
end

local function finish(h, ok, ...)
  local s = h.sched
  if co_status(h.co) ~= "dead" then
    if h.parked then return end
    -- the coroutine yielded without the library asking (a coroutine.yield() of the
    -- caller's own, e.g. inside on_progress): nothing could ever resume it
    h.err = errors.new { kind = "invalid", message = "coroutine.yield() was called inside a midjourney "
      .. "coroutine outside the library (for example in on_progress); use mj.sleep or mj.spawn instead" }
    if coroutine.close then pcall(coroutine.close, h.co) end
    s.live_count = s.live_count - 1
    h.state = "failed"
    if h.on_error then pcall(h.on_error, h.err) end
    wake_joiners(h)
    return
  end
  s.live_count = s.live_count - 1
  if ok then
    h.state = "done"
    h.values = { n = select("#", ...), ... }
  else
    h.state = "failed"
    h.err = ...
    if h.on_error then pcall(h.on_error, h.err) end
  end
  wake_joiners(h)
end

local function resume(s, h)
  local args = s.ready_args[h]
  s.ready_args[h] = nil
  if not args then return end
  if h.state == "pending" then h.state = "running" end
  if h.state ~= "running" then return end
  local previous, previous_sched = s.current, running_sched
  s.current, running_sched = h, s
  h.parked = false
  finish(h, co_resume(h.co, unpack(args, 1, args.n)))
  s.current, running_sched = previous, previous_sched
end

-- A library yield: the coroutine is parked on something the scheduler will resume.
local function park(h)
  h.parked = true
  return co_yield()
end

-- ---------------------------------------------------------------- engine

--- A scheduler: an engine, its coroutines and timers (`scheduler.new()`, or the default
-- one behind the module functions and `mj.*`).
-- @type Scheduler

--- The scheduler's engine (a `midjourney.core` engine), created on first use and
-- again after it was closed. Neither blocks nor yields.
function Scheduler:engine()
  local e = self.engine_obj
  if e and e:closed() then self:_engine_lost(); e = nil end
  if not e then
    e = self.core.engine(self.engine_opts)
    self.engine_obj = e
  end
  return e
end

-- The engine was closed under us (by `close()` or by a caller): every call waiting on
-- one of its transfers fails as cancelled, and its ids are forgotten, so that no later
-- answer can reach a stale coroutine.
function Scheduler:_engine_lost()
  local waiting = self.transfers
  self.transfers, self.orphans, self.engine_obj = {}, {}, nil
  for id, h in pairs(waiting) do
    h.transfer = nil
    make_ready(h, failed_record(id, "cancelled", "the engine was closed"))
  end
end

--- Sets options: engine options before first use (`max_host_connections`,
-- `max_connections`: whole numbers), and `step_budget`: seconds a `step` may spend
-- resuming coroutines before it leaves the rest for the next step (default 0.001;
-- `false` resumes every ready coroutine in one step). Neither blocks nor yields.
-- @tparam table opts
-- @raise on an unknown key or a bad value
function Scheduler:configure(opts)
  if type(opts) ~= "table" then error("configure: opts must be a table", 2) end
  for k, v in pairs(opts) do
    if k == "step_budget" then
      if v ~= false and (type(v) ~= "number" or v ~= v or v < 0 or v == math.huge) then
        error("configure: option 'step_budget' must be a non-negative number or false, got " .. tostring(v), 2)
      end
      self.step_budget = v
    elseif k == "max_host_connections" or k == "max_connections" then
      if type(v) ~= "number" or v ~= v or v < 0 or v ~= math.floor(v) or v > 1e6 then
        error("configure: option '" .. k .. "' must be a whole number between 0 and 1000000, got "
          .. tostring(v), 2)
      end
      self.engine_opts[k] = v
    else
      local near = options.closest(tostring(k), { "step_budget", "max_host_connections", "max_connections" })
      local hint = near and (" (did you mean '" .. near .. "'?)") or ""
      error("configure: unknown option '" .. tostring(k) .. "'" .. hint, 2)
    end
  end
end

local function dispatch(s, records)
  for i = 1, #records do
    local r = records[i]
    local h = s.transfers[r.id]
    if h then
      s.transfers[r.id] = nil
      h.transfer = nil
      make_ready(h, r)
    else
      s.orphans[r.id] = r
    end
  end
end

-- Steps the engine for at most `wait` seconds and hands out what finished.
local function step_engine(s, wait)
  local e = s.engine_obj
  if not e then return false end
  if e:closed() then s:_engine_lost(); return false end
  if e:running() == 0 then return false end
  local records = e:step(wait)
  if records then dispatch(s, records) end
  return true
end

--- True when the caller runs inside a coroutine driven by this scheduler, so that
-- calls yield instead of blocking. Neither blocks nor yields.
function Scheduler:in_coroutine()
  local h = self.current
  if not h then return false end
  if co_running() ~= h.co then return false end
  if coroutine.isyieldable and not coroutine.isyieldable() then return false end
  return true
end

--- The handle of the running coroutine of this scheduler, or nil. Neither blocks nor yields.
function Scheduler:running()
  if self:in_coroutine() then return self.current end
  return nil
end

--- Starts an HTTP transfer and waits for it. Yields inside a coroutine of this
-- scheduler, blocks otherwise. A cancelled call (or one whose engine was closed)
-- returns a record with `error_kind = "cancelled"`.
-- @tparam table spec the engine request (see docs/DESIGN.md)
-- @return the record of the finished transfer
function Scheduler:request(spec)
  if self:in_coroutine() then
    local h = self.current
    if h.cancelled then return failed_record(0, "cancelled", CANCELLED) end
    local id = self:engine():request(spec)
    h.transfer = id
    self.transfers[id] = h
    return park(h)
  end
  local e = self:engine()
  local id = e:request(spec)
  local orphans = self.orphans
  while true do
    local r = orphans[id]
    if r then
      orphans[id] = nil
      return r
    end
    if e:closed() or self.engine_obj ~= e then
      if self.engine_obj == e then self:_engine_lost() end
      return failed_record(id, "cancelled", "the engine was closed")
    end
    local records = e:step(1)
    if records then
      -- ours is handed back at once; the others go to their coroutines (or wait as orphans)
      local mine
      for i = 1, #records do
        local rec = records[i]
        if rec.id == id then mine = rec else dispatch(self, { rec }) end
      end
      if mine then return mine end
    end
  end
end

local function add_timer(s, h, seconds, kind)
  s.timer_seq = s.timer_seq + 1
  local t = { at = s.now() + math.max(seconds, 0), handle = h, seq = s.timer_seq, kind = kind }
  h.timer = t
  heap_push(s.heap, t)
end

--- Sleeps: yields inside a coroutine of this scheduler, blocks otherwise (while
-- blocking it keeps the engine's transfers moving).
-- @tparam number seconds
-- @raise when `seconds` is not a number or is NaN
function Scheduler:sleep(seconds)
  if type(seconds) ~= "number" then error("sleep: seconds must be a number, got " .. type(seconds), 2) end
  if seconds ~= seconds then error("sleep: seconds must not be NaN", 2) end
  if self:in_coroutine() then
    local h = self.current
    if h.cancelled then return end
    add_timer(self, h, seconds, "sleep")
    park(h)
    return
  end
  local deadline = self.now() + math.max(seconds, 0)
  while true do
    local left = deadline - self.now()
    if left <= 0 then return end
    if not step_engine(self, left) then self.core.sleep(left) end
  end
end

--- Suspends the running coroutine until `wake` is called for it, it is cancelled
-- (then it returns `nil, err` with `err.kind == "cancelled"`), or `timeout` seconds
-- passed (then it returns `scheduler.TIMEOUT`). Yields; raises outside a coroutine.
-- @tparam[opt] number timeout seconds
-- @return the values given to `wake`
function Scheduler:suspend(timeout)
  local h = self:running()
  if not h then error("suspend: not inside a scheduler coroutine", 2) end
  if h.cancelled then return nil, errors.cancelled() end
  h.suspended = true
  if timeout then add_timer(self, h, timeout, "suspend") end
  return park(h)
end

--- Wakes a coroutine suspended with `suspend`, passing values. Neither blocks nor yields.
-- @param h the handle
-- @return true if it was suspended
function Scheduler:wake(h, ...)
  if not h.suspended then return false end
  h.suspended = nil
  clear_timer(h)
  make_ready(h, ...)
  notify_work(self)
  return true
end

--- Starts `fn(...)` as a coroutine and returns its handle at once; it first runs at
-- the next `step`. Neither blocks nor yields.
-- @tparam function fn
-- @return the handle (`status()`, `result()`, `cancel()`)
function Scheduler:spawn(fn, ...)
  if type(fn) ~= "function" then error("spawn: fn must be a function, got " .. type(fn), 2) end
  local h = setmetatable({ co = co_create(fn), state = "pending", sched = self }, Handle)
  self.live_count = self.live_count + 1
  make_ready(h, ...)
  notify_work(self)
  return h
end

local function fire_timers(s, t)
  local heap = s.heap
  while heap[1] and heap[1].at <= t do
    local timer = heap_pop(heap)
    local h = timer.handle
    if h and h.timer == timer then
      h.timer = nil
      if timer.kind == "suspend" then
        if h.suspended then
          h.suspended = nil
          make_ready(h, M.TIMEOUT)
        end
      else
        make_ready(h)
      end
    end
  end
end

local function step_body(s, timeout)
  local now = s.now
  fire_timers(s, now())
  local wait = timeout
  if #s.ready > 0 then
    wait = 0
  elseif s.heap[1] then
    wait = math.max(0, math.min(wait, s.heap[1].at - now()))
  end
  if not step_engine(s, wait) and wait > 0 and s.heap[1] then s.core.sleep(wait) end
  fire_timers(s, now())
  local batch = s.ready
  s.ready = {}
  local budget = s.step_budget
  local started = budget and now()
  for i = 1, #batch do
    resume(s, batch[i])
    if started and i < #batch and now() - started > budget then
      -- over budget: the rest go first at the next step (a host frame stays short)
      local rest = {}
      for j = i + 1, #batch do rest[#rest + 1] = batch[j] end
      for j = 1, #s.ready do rest[#rest + 1] = s.ready[j] end
      s.ready = rest
      break
    end
  end
  return s.live_count
end

--- Advances every transfer, resumes every coroutine that is ready (within the step
-- budget), and returns the number of live coroutines. Never blocks longer than
-- `timeout` seconds (default 0); it returns early when something happened.
-- @tparam[opt=0] number timeout
-- @treturn integer live coroutines
-- @raise when called from inside a step (a coroutine must not step its scheduler)
function Scheduler:step(timeout)
  timeout = timeout or 0
  if type(timeout) ~= "number" or timeout ~= timeout then error("step: timeout must be a number", 2) end
  if self.stepping then error("step: called from inside a step (a coroutine must not step the scheduler)", 2) end
  self.stepping = true
  local ok, live_or_err = pcall(step_body, self, timeout)
  self.stepping = false
  if not ok then error(live_or_err, 0) end
  return live_or_err
end

--- Waits until every handle in `handles` has finished (done, failed or cancelled).
-- Yields inside a coroutine of this scheduler; blocks (stepping) outside one.
-- @tparam table handles a list of handles from `spawn`
-- @treturn table the same list
function Scheduler:join(handles)
  if type(handles) ~= "table" then error("join: handles must be a list of handles", 2) end
  for i = 1, #handles do
    if getmetatable(handles[i]) ~= Handle then error("join: handles[" .. i .. "] is not a handle", 2) end
  end
  local me = self:running()
  for i = 1, #handles do
    local h = handles[i]
    while h.state == "pending" or h.state == "running" do
      if me then
        if me.cancelled then return handles end
        h.joiners = h.joiners or {}
        h.joiners[#h.joiners + 1] = me
        self:suspend()
      else
        h.sched:step(0.05)
      end
    end
  end
  return handles
end

--- Registers `fn()` to be called whenever work is queued from outside a step
-- (`spawn`, `wake`, `cancel`), so a host driver can start ticking. Neither blocks nor
-- yields; `fn` must neither.
-- @tparam function fn
function Scheduler:on_work(fn)
  if type(fn) ~= "function" then error("on_work: fn must be a function", 2) end
  for i = 1, #self.work_hooks do
    if self.work_hooks[i] == fn then return end
  end
  self.work_hooks[#self.work_hooks + 1] = fn
end

--- True when anything is pending: transfers in flight, coroutines ready, or timers.
-- Drivers use it to stop ticking when idle. Neither blocks nor yields.
function Scheduler:busy()
  if #self.ready > 0 then return true end
  local heap = self.heap
  while heap[1] and not (heap[1].handle and heap[1].handle.timer == heap[1]) do heap_pop(heap) end -- inert
  if heap[1] then return true end
  local e = self.engine_obj
  return e ~= nil and not e:closed() and e:running() > 0
end

--- Seconds until the next timer, or nil. Neither blocks nor yields.
function Scheduler:next_timer()
  if self.heap[1] then return math.max(0, self.heap[1].at - self.now()) end
  return nil
end

-- ---------------------------------------------------------------- a host's event loop
--
-- A host that has its own loop (libuv, cqueues, a `poll` loop) needs three things:
-- watch `fd()` for readability, arm a timer for `timeout()` seconds, and call `step(0)`
-- when either fires. Nothing calls back into Lua from C; `on_work` tells the host when
-- work was queued from outside a step (then `timeout()` has become 0).

--- The descriptor a host's loop watches: the engine's event descriptor (an epoll or
-- kqueue descriptor, see `engine:fd()`), which becomes readable whenever one of the
-- transfers needs attention. The engine is created if there is none yet, and again after
-- it was closed, so the descriptor of a closed engine is never handed out (compare
-- `engine()` to notice a new one). Do not read from it or close it. Neither blocks nor
-- yields.
-- @treturn integer|nil the descriptor; nil where neither epoll nor kqueue exists (then
--   call `step(0)` from a timer while `busy()`)
function Scheduler:fd()
  return self:engine():fd()
end

--- Seconds until the host must call `step(0)` even if the descriptor stayed quiet: 0
-- when a coroutine is ready to resume (or answers wait to be handed out), else the
-- earliest of the scheduler's own timers (sleeps, suspends with a timeout, retry
-- backoffs, poll intervals) and the engine's timer (`engine:timeout()`). Neither blocks
-- nor yields.
-- @treturn number|nil seconds (never negative); nil when nothing is due: the scheduler
--   is idle, or its only work is transfers that wait for the descriptor (`busy()` tells
--   the two apart)
function Scheduler:timeout()
  if #self.ready > 0 then return 0 end
  local e = self.engine_obj
  if e and e:closed() then
    -- closed under us: the next step hands every waiting call its cancelled record
    if next(self.transfers) then return 0 end
    e = nil
  end
  local heap = self.heap
  while heap[1] and not (heap[1].handle and heap[1].handle.timer == heap[1]) do heap_pop(heap) end -- inert
  local t
  if heap[1] then t = math.max(0, heap[1].at - self.now()) end
  if e and e:running() > 0 then
    local et = e:timeout()
    if et and (t == nil or et < t) then t = et end
  end
  return t
end

--- The cqueues pollable protocol: `pollfd()` is `fd()`, `events()` is `"r"`, and
-- `timeout()` is the one above, so a scheduler (or the `midjourney` module, for the
-- default one) can be handed to `cqueues.poll`. Neither blocks nor yields.
-- @treturn integer|nil
function Scheduler:pollfd()
  return self:fd()
end

--- The cqueues pollable protocol: the events `pollfd()` is watched for. Neither blocks
-- nor yields.
-- @treturn string `"r"`
function Scheduler:events() -- luacheck: no unused args
  return "r"
end

--- The number of live coroutines. Neither blocks nor yields.
function Scheduler:live()
  return self.live_count
end

--- Runs `fn(...)` as a coroutine and steps until it finishes. Blocks.
-- @tparam function fn
-- @return fn's results; raises fn's error
function Scheduler:run(fn, ...)
  if type(fn) ~= "function" then error("run: fn must be a function, got " .. type(fn), 2) end
  local h = self:spawn(fn, ...)
  while h.state == "pending" or h.state == "running" do
    self:step(1)
  end
  if h.state == "failed" then error(h.err, 0) end
  return h:result()
end

--- Closes the engine: every call waiting on a transfer returns `cancelled` at its
-- next step. The scheduler stays usable (a new engine is made on the next request).
-- Neither blocks nor yields.
function Scheduler:close()
  local e = self.engine_obj
  if e then
    if not e:closed() then e:close() end
    self:_engine_lost()
  end
end

-- ---------------------------------------------------------------- module functions

-- Each method is also a module function acting on the active scheduler, so library
-- code (and `mj.*`) never has to carry a scheduler around.

--- @section end

--- The active scheduler's engine (`Scheduler:engine`), created on first use.
-- Neither blocks nor yields.
-- @function engine
-- @return a `midjourney.core` engine

--- Sets options of the active scheduler (`Scheduler:configure`; `mj.configure`):
-- `step_budget`, and before the first request `max_host_connections`, `max_connections`.
-- Neither blocks nor yields.
-- @function configure
-- @tparam table opts
-- @raise on an unknown key or a bad value

--- True when the caller runs inside a coroutine of the active scheduler, so that calls
-- yield instead of blocking (`Scheduler:in_coroutine`). Neither blocks nor yields.
-- @function in_coroutine
-- @treturn boolean

--- Starts an HTTP transfer on the active scheduler and waits for it
-- (`Scheduler:request`). Yields inside a coroutine, blocks otherwise.
-- @function request
-- @tparam table spec the engine request (`engine:request` of `midjourney.core`)
-- @treturn table the record of the finished transfer

--- Sleeps `seconds` (`Scheduler:sleep`; `mj.sleep`): yields inside a coroutine, blocks
-- outside one (keeping the engine's transfers moving).
-- @function sleep
-- @tparam number seconds
-- @raise when `seconds` is not a number or is NaN

--- Suspends the running coroutine until `wake`, a cancel or `timeout` seconds
-- (`Scheduler:suspend`). Yields; raises outside a coroutine.
-- @function suspend
-- @tparam[opt] number timeout seconds
-- @return the values given to `wake`, `scheduler.TIMEOUT`, or `nil, err` (cancelled)

--- Wakes a coroutine suspended with `suspend`, passing values (`Scheduler:wake`).
-- Neither blocks nor yields.
-- @function wake
-- @tparam Handle h
-- @param ... the values `suspend` returns
-- @treturn boolean true if it was suspended

--- Starts `fn(...)` as a coroutine of the active scheduler and returns its handle at
-- once (`Scheduler:spawn`; `mj.spawn`). Neither blocks nor yields.
-- @function spawn
-- @tparam function fn
-- @param ... its arguments
-- @treturn Handle

--- Advances every transfer and resumes the coroutines that are ready (`Scheduler:step`;
-- `mj.step`). Never blocks longer than `timeout` seconds (default 0).
-- @function step
-- @tparam[opt=0] number timeout
-- @treturn integer live coroutines
-- @raise when called from inside a step

--- Waits until every handle of a list has finished (`Scheduler:join`; `mj.join`).
-- Yields inside a coroutine, blocks outside one.
-- @function join
-- @tparam table handles
-- @treturn table the same list

--- Registers `fn()` to be called when work is queued from outside a step
-- (`Scheduler:on_work`; drivers use it). Neither blocks nor yields.
-- @function on_work
-- @tparam function fn

--- True when transfers, ready coroutines or timers are pending (`Scheduler:busy`;
-- `mj.busy`). Neither blocks nor yields.
-- @function busy
-- @treturn boolean

--- Seconds until the active scheduler's next timer, or nil (`Scheduler:next_timer`).
-- Neither blocks nor yields.
-- @function next_timer
-- @treturn number|nil

--- The number of live coroutines of the active scheduler (`Scheduler:live`).
-- Neither blocks nor yields.
-- @function live
-- @treturn integer

--- Runs `fn(...)` as a coroutine and steps until it finishes (`Scheduler:run`;
-- `mj.run`). Blocks.
-- @function run
-- @tparam function fn
-- @param ... its arguments
-- @return fn's results; raises fn's error

--- Closes the active scheduler's engine: calls waiting on a transfer return
-- `cancelled` (`Scheduler:close`). Neither blocks nor yields.
-- @function close

--- The active scheduler's descriptor for a host loop (`Scheduler:fd`). Neither blocks
-- nor yields.
-- @function fd
-- @treturn integer|nil

--- Seconds until the host must step the active scheduler (`Scheduler:timeout`). Neither
-- blocks nor yields.
-- @function timeout
-- @treturn number|nil

--- The cqueues pollable protocol for the active scheduler: its descriptor. Neither
-- blocks nor yields.
-- @function pollfd
-- @treturn integer|nil

--- The cqueues pollable protocol: `"r"`. Neither blocks nor yields.
-- @function events
-- @treturn string
for _, name in ipairs({ "engine", "configure", "in_coroutine", "request", "sleep", "suspend", "wake",
  "spawn", "step", "join", "on_work", "busy", "next_timer", "live", "run", "close",
  "fd", "timeout", "pollfd", "events" }) do
  local method = Scheduler[name]
  M[name] = function(...) return method(M.active(), ...) end
end

--- The active scheduler's clock: monotonic seconds (`core.now()` unless the scheduler
-- was made with another core). Every deadline of the library is on this clock.
-- Neither blocks nor yields.
-- @treturn number
function M.now()
  return M.active().now()
end

--- The handle of the running scheduler coroutine (of the active scheduler), or nil.
-- Neither blocks nor yields.
function M.current()
  return M.active():running()
end

return M
