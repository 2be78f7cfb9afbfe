--- cqueues driver: midjourney work inside a cqueues controller, beside lua-http servers
-- and clients.
--
--     local cqueues = require "cqueues"
--     local driver = require "midjourney.drivers.cqueues"
--     local cq = cqueues.new()
--     driver.attach(cq)             -- steps the scheduler from a coroutine of cq
--     cq:wrap(function()            -- any cqueues coroutine (a lua-http handler...)
--       local task = driver.call(function()
--         local id = assert(client:imagine("a paper boat"))
--         return client:wait(id)
--       end)                        -- yields to the controller until the job ends
--     end)
--     assert(cq:loop())
--
-- While the scheduler has work, one coroutine of the controller waits in
-- `cqueues.poll(scheduler, work)`: the scheduler is a cqueues pollable (its descriptor,
-- `"r"`, and `timeout()`), and `work` is a condition signalled when work is queued from
-- outside a step. It then calls `step(0)` and waits again. When the scheduler is idle the
-- coroutine ends, so `cq:loop()` returns once the servers and the jobs are done; new work
-- (`mj.spawn`, `call`, a wake) starts it again.
--
-- Midjourney coroutines are not cqueues coroutines: inside a job use the client (and
-- `mj.sleep`), never `cqueues.poll` or a cqueues socket; inside a cqueues coroutine use
-- `call` instead of calling the client directly (which would block the controller).
-- @module midjourney.drivers.cqueues

local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local attachments = require "midjourney.attachments"
local scheduler = require "midjourney.scheduler"

local M = {}

local unpack = table.unpack or unpack

local registry = attachments.new() -- one attachment per scheduler

local TICK = 0.01 -- seconds between steps where the scheduler has no descriptor
local OPTION_NAMES = { "scheduler", "on_error" } -- the options of attach

local Attachment = {}
Attachment.__index = Attachment

local function report(a, err)
  a.stats.errors = a.stats.errors + 1
  a.last_error = err
  if a.on_error then
    pcall(a.on_error, err)
  else
    io.stderr:write("midjourney.drivers.cqueues: ", tostring(err), "\n")
  end
end

-- The coroutine that keeps the scheduler moving while it has work.
local function pump(a)
  local s = a.s
  a.stats.starts = a.stats.starts + 1
  while not a.closed and (s:busy() or s:timeout() ~= nil) do
    -- returns when the descriptor is readable, timeout() has passed, or work was queued;
    -- without a descriptor (no epoll or kqueue), a 10 ms tick while busy
    if s:fd() then cqueues.poll(s, a.work) else cqueues.poll(a.work, math.min(s:timeout() or TICK, TICK)) end
    if a.closed then break end
    a.stats.wakeups = a.stats.wakeups + 1
    a.stats.ticks = a.stats.ticks + 1
    local ok, err = pcall(s.step, s, 0)
    if not ok then report(a, err) end
    a.stepped:signal()
  end
  a.running = false
  a.stats.stops = a.stats.stops + 1
  a.stepped:signal()
end

--- Makes sure the attachment steps soon: starts its coroutine in the controller, or
-- interrupts its wait (`mj.spawn`, `wake` and `cancel` do it by themselves through
-- `on_work`). Neither blocks nor yields.
function Attachment:kick()
  if self.closed then return end
  if self.running then
    self.work:signal()
  else
    self.running = true
    self.cq:wrap(pump, self)
  end
end

--- The attachment's state: `{ attached = bool, active = bool, wakeups = n, ticks = n,
-- starts = n, stops = n, errors = n }` (`active`: its coroutine is alive; `starts` and
-- `stops` count its runs). Neither blocks nor yields.
-- @treturn table
function Attachment:status()
  local st = { attached = not self.closed, active = self.running }
  for k, v in pairs(self.stats) do st[k] = v end
  return st
end

--- Stops stepping: the coroutine ends at its next wakeup (it is woken at once).
-- Midjourney coroutines stay where they are. Neither blocks nor yields.
function Attachment:detach()
  if self.closed then return end
  self.closed = true
  registry:remove(self.s, self)
  self.work:signal()
  self.stepped:signal()
end

--- Keeps a scheduler moving inside the cqueues controller `cq`: whenever it has work,
-- a coroutine of `cq` polls it and steps it (see the module description). One
-- attachment per scheduler: attaching again to the same controller returns it. Neither
-- blocks nor yields.
-- @param cq a controller (`cqueues.new()`)
-- @tparam[opt] table opts `scheduler` (default: the default one, behind `mj.*`),
--   `on_error` (called with what a step raised; default: a line on stderr)
-- @return the attachment (`kick()`, `status()`, `detach()`)
-- @raise when cq is not a controller, on an unknown option, or when the scheduler is
--   attached to another controller
function M.attach(cq, opts)
  if cqueues.type(cq) ~= "controller" then error("attach: cq must be a cqueues controller", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("attach: opts must be a table", 2) end
  opts = opts or {}
  for k, v in pairs(opts) do
    if k == "scheduler" then
      if not scheduler.is_scheduler(v) then error("attach: option 'scheduler' must be a scheduler", 2) end
    elseif k == "on_error" then
      if type(v) ~= "function" then error("attach: option 'on_error' must be a function", 2) end
    else
      local near = require("midjourney.options").closest(tostring(k), OPTION_NAMES)
      error("attach: unknown option '" .. tostring(k) .. "'" .. (near and (" (did you mean '" .. near .. "'?)")
        or ""), 2)
    end
  end
  local s = opts.scheduler or scheduler.default()
  local a = registry:get(s)
  if a then
    if a.cq ~= cq then error("attach: the scheduler is attached to another controller (detach it first)", 2) end
    return a
  end
  a = setmetatable({
    cq = cq, s = s, on_error = opts.on_error,
    work = condition.new(), stepped = condition.new(),
    running = false, closed = false,
    stats = { wakeups = 0, ticks = 0, starts = 0, stops = 0, errors = 0 },
  }, Attachment)
  return registry:add(s, a)
end

--- The default scheduler's attachment, or nil. Neither blocks nor yields.
function M.attachment()
  return registry:get()
end

--- Detaches the default scheduler's attachment. Neither blocks nor yields.
function M.detach()
  local a = registry:get()
  if a then a:detach() end
end

--- The `status()` of the default scheduler's attachment (or of the latest one, after a
-- detach), or `{ attached = false }`. Neither blocks nor yields.
-- @treturn table
function M.status()
  return registry:status()
end

local function finished(h)
  local st = h:status()
  return st ~= "pending" and st ~= "running"
end

--- Runs `fn(...)` as a midjourney coroutine and waits for it without blocking the
-- controller: the calling cqueues coroutine yields until `fn` ends. Attaches the
-- default scheduler to the running controller when it is not attached yet. Yields (to
-- cqueues); must be called inside a cqueues coroutine.
-- @tparam function fn the job; every client call in it yields (to the scheduler)
-- @return fn's results (`nil, err` when it was cancelled)
-- @raise fn's error; outside a cqueues coroutine
function M.call(fn, ...)
  if type(fn) ~= "function" then error("call: fn must be a function", 2) end
  local cq, inside = cqueues.running()
  if not cq or not inside then
    error("call: not inside a cqueues coroutine (use mj.run in plain code)", 2)
  end
  local a = registry:get() or M.attach(cq)
  local h = a.s:spawn(fn, ...)
  a:kick()
  while not finished(h) do
    if a.closed then
      h:cancel()
      error("call: the driver was detached while the job ran", 2)
    end
    a.stepped:wait()
  end
  local res = { n = 0 }
  local function pack(...) res = { n = select("#", ...), ... } end
  pack(h:result())
  if h:status() == "failed" then error(res[2], 0) end
  return unpack(res, 1, res.n)
end

return M
