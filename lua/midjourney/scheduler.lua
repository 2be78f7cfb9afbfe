--- The scheduler: one engine for the process, coroutines, timers, yield-or-block.
--
-- Every HTTP call of the library goes through `scheduler.request`. Inside a coroutine
-- started with `spawn` (or `run`) it yields until its answer arrives; anywhere else it
-- blocks, driving the same engine. A host (a script, Neovim, LÖVE) calls `step` from
-- its own loop to advance all transfers and resume the coroutines that are ready.
-- @module midjourney.scheduler

local core = require "midjourney.core"

local M = {}

local unpack = table.unpack or unpack
local co_running, co_create, co_resume, co_yield, co_status =
  coroutine.running, coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
local now = core.now

local engine_obj           -- the shared engine, created on first use
local engine_opts = { max_host_connections = 32 }
local by_transfer = {}     -- transfer id -> handle waiting for it
local orphans = {}         -- transfer id -> record nobody was waiting for yet (blocking waits)
local ready = {}           -- handles to resume at the next step, in order
local ready_args = {}      -- handle -> packed values to resume it with
local heap = {}            -- timers: { at = seconds, handle = h, seq = n }, a binary min-heap on `at`
local timer_seq = 0
local live = 0             -- coroutines neither finished nor cancelled
local current              -- the handle whose coroutine is running now
local step_budget = 0.001  -- seconds of resuming per step before the rest waits for the next step
local work_hooks = {}      -- functions called when work is queued from outside a step (drivers)
local stepping = false     -- inside M.step

local function notify_work()
  if stepping then return end
  for i = 1, #work_hooks do work_hooks[i]() end
end

local CANCELLED_MESSAGE = "the operation was cancelled"

-- ---------------------------------------------------------------- timers (heap)

local function heap_less(a, b)
  if a.at ~= b.at then return a.at < b.at end
  return a.seq < b.seq
end

local function heap_push(t)
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

local function heap_pop()
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

-- ---------------------------------------------------------------- handles

local Handle = {}
Handle.__index = Handle

local function make_ready(h, ...)
  if h.state ~= "running" and h.state ~= "pending" then return end
  if ready_args[h] then return end -- already queued
  ready[#ready + 1] = h
  ready_args[h] = { n = select("#", ...), ... }
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

local function cancelled_record(id)
  return { id = id, status = 0, error = CANCELLED_MESSAGE, error_kind = "cancelled", sent = false, time = 0, size = 0 }
end

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
  local errors = require "midjourney.errors"
  if self.state == "cancelled" then
    return nil, errors.new { kind = "cancelled", message = CANCELLED_MESSAGE }
  end
  return nil, errors.new { kind = "pending", message = "the coroutine has not finished" }
end

--- Cancels the coroutine's in-flight transfer (or sleep): its pending call returns
-- `nil, err` with `err.kind == "cancelled"`, and every later call it makes returns the
-- same at once, so it can unwind. A coroutine that has not started never runs.
-- Neither blocks nor yields.
-- @return true if there was something to cancel
function Handle:cancel()
  if self.state == "pending" then
    self.state = "cancelled"
    live = live - 1
    if ready_args[self] then ready_args[self] = nil end
    wake_joiners(self)
    return true
  end
  if self.state ~= "running" then return false end
  self.cancelled = true
  if self.transfer then
    local id = self.transfer
    self.transfer = nil
    by_transfer[id] = nil
    if engine_obj and not engine_obj:closed() then engine_obj:cancel(id) end
    make_ready(self, cancelled_record(id))
  elseif self.timer then
    self.timer.handle = nil -- the heap entry becomes inert
    self.timer = nil
    make_ready(self)
  elseif self.suspended then
    self.suspended = nil
    make_ready(self, nil, "cancelled")
  end
  notify_work()
  return true
end

function Handle:__tostring()
  return "midjourney coroutine (" .. self.state .. ")"
end

local function finish(h, ok, ...)
  if co_status(h.co) ~= "dead" then return end
  live = live - 1
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

local function resume(h)
  local args = ready_args[h]
  ready_args[h] = nil
  if not args then return end
  if h.state == "pending" then h.state = "running" end
  if h.state ~= "running" then return end
  local previous = current
  current = h
  finish(h, co_resume(h.co, unpack(args, 1, args.n)))
  current = previous
end

-- ---------------------------------------------------------------- engine

--- The process-wide engine (a `midjourney.core` engine), created on first use.
-- Neither blocks nor yields.
function M.engine()
  if not engine_obj or engine_obj:closed() then engine_obj = core.engine(engine_opts) end
  return engine_obj
end

--- Sets options: engine options before first use (`max_host_connections`,
-- `max_connections`), and `step_budget`: seconds a `step` may spend resuming
-- coroutines before it leaves the rest for the next step (default 0.001; `false`
-- resumes every ready coroutine in one step). Neither blocks nor yields.
-- @tparam table opts
function M.configure(opts)
  if type(opts) ~= "table" then error("configure: opts must be a table", 2) end
  for k, v in pairs(opts) do
    if k == "step_budget" then
      if v ~= false and (type(v) ~= "number" or v ~= v or v < 0) then
        error("configure: step_budget must be a non-negative number or false", 2)
      end
      step_budget = v
    else
      engine_opts[k] = v
    end
  end
end

local function dispatch(records)
  for i = 1, #records do
    local r = records[i]
    local h = by_transfer[r.id]
    if h then
      by_transfer[r.id] = nil
      h.transfer = nil
      make_ready(h, r)
    else
      orphans[r.id] = r
    end
  end
end

--- True when the caller runs inside a coroutine driven by this scheduler, so that
-- calls yield instead of blocking. Neither blocks nor yields.
function M.in_coroutine()
  if not current then return false end
  local co = co_running()
  if co ~= current.co then return false end
  if coroutine.isyieldable and not coroutine.isyieldable() then return false end
  return true
end

--- The handle of the running scheduler coroutine, or nil. Neither blocks nor yields.
function M.current()
  if M.in_coroutine() then return current end
  return nil
end

--- Starts an HTTP transfer and waits for it. Yields inside a scheduler coroutine,
-- blocks otherwise. A cancelled call returns a record with `error_kind = "cancelled"`.
-- @tparam table spec the engine request (see docs/DESIGN.md)
-- @return the record of the finished transfer
function M.request(spec)
  if M.in_coroutine() then
    local h = current
    if h.cancelled then return cancelled_record(0) end
    local id = M.engine():request(spec)
    h.transfer = id
    by_transfer[id] = h
    return co_yield()
  end
  local e = M.engine()
  local id = e:request(spec)
  while true do
    local r = orphans[id]
    if r then
      orphans[id] = nil
      return r
    end
    local records = e:step(1)
    if records then dispatch(records) end
  end
end

--- Sleeps: yields inside a scheduler coroutine, blocks otherwise (while blocking it
-- keeps the engine's transfers moving).
-- @tparam number seconds
function M.sleep(seconds)
  assert(type(seconds) == "number", "sleep: seconds must be a number")
  if seconds ~= seconds then error("sleep: seconds must not be NaN", 2) end
  if M.in_coroutine() then
    local h = current
    if h.cancelled then return end
    timer_seq = timer_seq + 1
    local t = { at = now() + math.max(seconds, 0), handle = h, seq = timer_seq }
    h.timer = t
    heap_push(t)
    co_yield()
    return
  end
  local deadline = now() + math.max(seconds, 0)
  while true do
    local left = deadline - now()
    if left <= 0 then return end
    local e = engine_obj
    if e and not e:closed() and e:running() > 0 then
      local records = e:step(left)
      if records then dispatch(records) end
    else
      core.sleep(left)
    end
  end
end

--- Suspends the running scheduler coroutine until `wake` is called for it (or it is
-- cancelled, then it returns `nil, "cancelled"`). Yields; raises outside a coroutine.
-- @return the values given to `wake`
function M.suspend()
  local h = M.current()
  if not h then error("suspend: not inside a scheduler coroutine", 2) end
  if h.cancelled then return nil, "cancelled" end
  h.suspended = true
  return co_yield()
end

--- Wakes a coroutine suspended with `suspend`, passing values. Neither blocks nor yields.
-- @param h the handle
-- @return true if it was suspended
function M.wake(h, ...)
  if not h.suspended then return false end
  h.suspended = nil
  make_ready(h, ...)
  notify_work()
  return true
end

--- Starts `fn(...)` as a coroutine and returns its handle at once; it first runs at
-- the next `step`. Neither blocks nor yields.
-- @tparam function fn
-- @return the handle (`status()`, `result()`, `cancel()`)
function M.spawn(fn, ...)
  if type(fn) ~= "function" then error("spawn: fn must be a function", 2) end
  local h = setmetatable({ co = co_create(fn), state = "pending" }, Handle)
  live = live + 1
  make_ready(h, ...)
  notify_work()
  return h
end

local function fire_timers(t)
  while heap[1] and heap[1].at <= t do
    local timer = heap_pop()
    local h = timer.handle
    if h and h.timer == timer then
      h.timer = nil
      make_ready(h)
    end
  end
end

--- Advances every transfer, resumes every coroutine that is ready, and returns the
-- number of live coroutines. Never blocks longer than `timeout` seconds (default 0);
-- it returns early when something happened.
-- @tparam[opt=0] number timeout
-- @treturn integer live coroutines
function M.step(timeout)
  timeout = timeout or 0
  if type(timeout) ~= "number" then error("step: timeout must be a number", 2) end
  if stepping then error("step: called from inside a step (a coroutine must not step the scheduler)", 2) end
  stepping = true
  local ok, live_or_err = pcall(M._step, timeout)
  stepping = false
  if not ok then error(live_or_err, 0) end
  return live_or_err
end

function M._step(timeout)
  local t = now()
  fire_timers(t)
  local wait = timeout
  if #ready > 0 then
    wait = 0
  elseif heap[1] then
    wait = math.max(0, math.min(wait, heap[1].at - t))
  end
  local e = engine_obj
  if e and not e:closed() and e:running() > 0 then
    local records = e:step(wait)
    if records then dispatch(records) end
  elseif wait > 0 and heap[1] then
    core.sleep(wait)
  end
  fire_timers(now())
  local batch = ready
  ready = {}
  local started = step_budget and now()
  for i = 1, #batch do
    resume(batch[i])
    if started and i < #batch and now() - started > step_budget then
      -- over budget: the rest go first at the next step (a host frame stays short)
      local rest = {}
      for j = i + 1, #batch do rest[#rest + 1] = batch[j] end
      for j = 1, #ready do rest[#rest + 1] = ready[j] end
      ready = rest
      break
    end
  end
  return live
end

--- Waits until every handle in `handles` has finished (done, failed or cancelled).
-- Yields inside a scheduler coroutine; blocks (stepping) outside one.
-- @tparam table handles a list of handles from `spawn`
-- @treturn table the same list
function M.join(handles)
  if type(handles) ~= "table" then error("join: handles must be a list of handles", 2) end
  for i = 1, #handles do
    if getmetatable(handles[i]) ~= Handle then error("join: handles[" .. i .. "] is not a handle", 2) end
  end
  local me = M.current()
  for i = 1, #handles do
    local h = handles[i]
    while h.state == "pending" or h.state == "running" do
      if me then
        if me.cancelled then return handles end
        h.joiners = h.joiners or {}
        h.joiners[#h.joiners + 1] = me
        M.suspend()
      else
        M.step(0.05)
      end
    end
  end
  return handles
end

--- Registers `fn()` to be called whenever work is queued from outside a step
-- (`spawn`, `wake`, `cancel`), so a host driver can start ticking. Neither blocks nor
-- yields; `fn` must neither.
-- @tparam function fn
function M.on_work(fn)
  if type(fn) ~= "function" then error("on_work: fn must be a function", 2) end
  for i = 1, #work_hooks do
    if work_hooks[i] == fn then return end
  end
  work_hooks[#work_hooks + 1] = fn
end

--- True when anything is pending: transfers in flight, coroutines ready, or timers.
-- Drivers use it to stop ticking when idle. Neither blocks nor yields.
function M.busy()
  if #ready > 0 or heap[1] then return true end
  local e = engine_obj
  return e ~= nil and not e:closed() and e:running() > 0
end

--- Seconds until the next timer, or nil. Neither blocks nor yields.
function M.next_timer()
  if heap[1] then return math.max(0, heap[1].at - now()) end
  return nil
end

--- The number of live coroutines. Neither blocks nor yields.
function M.live()
  return live
end

--- Runs `fn(...)` as a coroutine and steps until it finishes. Blocks.
-- @tparam function fn
-- @return fn's results; raises fn's error
function M.run(fn, ...)
  if type(fn) ~= "function" then error("run: fn must be a function", 2) end
  local h = M.spawn(fn, ...)
  while h.state == "pending" or h.state == "running" do
    M.step(1)
  end
  if h.state == "failed" then error(h.err, 0) end
  return h:result()
end

return M
