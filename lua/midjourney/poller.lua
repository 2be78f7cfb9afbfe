--- Polling: one batch-poll function, and coalesced polling on top of it.
--
-- `poller.batch(client, ids, deadline)` asks `client:list` for a set of ids and
-- re-checks ids missing from the answer with `client:fetch` (which tells a missing task
-- from a lagging list). Every waiter of the library gets its snapshots from it or from
-- `poller.fetch`.
--
-- A poller (`poller.of(client, interval, batch)`, one per scheduler, client and
-- settings) lets many coroutines waiting on many tasks share one list request per
-- batch of ids per interval. A waiting coroutine calls `poller:next(id, deadline)`; it
-- is suspended until a round has a fresh snapshot of that task (or an error for it),
-- or until its own deadline. One internal coroutine runs the rounds while anyone waits:
-- every `interval` seconds, in batches of `batch` spread over half the interval, and
-- at once for waiters that asked for an immediate poll.
-- @module midjourney.poller
local errors = require "midjourney.errors"
local scheduler = require "midjourney.scheduler"

local M = {}

local now = scheduler.now

--- Fetches one task, bounded by a wait's deadline. Blocks, or yields.
-- @param client
-- @tparam string id
-- @tparam number deadline absolute (`scheduler.now()` clock)
-- @return the Task, or nil and the error
function M.fetch(client, id, deadline)
  local per = math.min(client.deadline, math.max(deadline - now(), 0.001))
  return client:fetch(id, { deadline = per, timeout = math.min(client.timeout, per) })
end

--- Polls a set of ids at once: a list-by-condition request, then a fetch for each id
-- missing from the answer. Blocks, or yields.
-- @param client
-- @tparam table list ids (distinct strings)
-- @tparam number deadline absolute (`scheduler.now()` clock)
-- @treturn table `{ [id] = { task = Task } | { err = error } }`, one entry per id
function M.batch(client, list, deadline)
  local out = {}
  local per = math.min(client.deadline, math.max(deadline - now(), 0.001))
  local tasks, err = client:list(list, { deadline = per, timeout = math.min(client.timeout, per) })
  if not tasks then
    for i = 1, #list do out[list[i]] = { err = err } end
    return out
  end
  for i = 1, #tasks do
    local t = tasks[i]
    if t.id and not out[t.id] then out[t.id] = { task = t } end
  end
  for i = 1, #list do
    local id = list[i]
    if not out[id] then
      local t, ferr = M.fetch(client, id, deadline)
      out[id] = { task = t, err = ferr }
    end
  end
  return out
end

local Poller = {}
Poller.__index = Poller

-- scheduler -> client -> "interval/batch" -> poller; weak, so pollers go with them
local registry = setmetatable({}, { __mode = "k" })

--- The poller of a client with these settings on the active scheduler (made on first
-- use). Neither blocks nor yields.
-- @param client
-- @tparam number interval seconds between rounds
-- @tparam integer batch ids per list request
-- @return the poller (`poller.rounds` counts the rounds run)
function M.of(client, interval, batch)
  local sched = scheduler.active()
  local by_client = registry[sched]
  if not by_client then
    by_client = setmetatable({}, { __mode = "k" })
    registry[sched] = by_client
  end
  local mine = by_client[client]
  if not mine then
    mine = {}
    by_client[client] = mine
  end
  local key = string.format("%.17g/%d", interval, batch)
  local p = mine[key]
  if not p then
    p = setmetatable({
      client = client, sched = sched, interval = interval, batch = batch,
      spread = 0.5,    -- a full round's batches start spread over this fraction of the interval
      watchers = {},   -- id -> { handle, ... } coroutines waiting for the next snapshot
      count = 0,       -- ids watched
      urgent = {},     -- ids to poll at once (waiters that asked for an immediate poll)
      runner = nil,    -- handle of the round coroutine
      sleeping = false,
      rounds = 0,
    }, Poller)
    mine[key] = p
  end
  return p
end

-- Hands a round's result for `id` to its watchers. A watcher whose filter says the result
-- does not concern it (an unchanged snapshot, a transient error) keeps watching and its
-- coroutine is not resumed; for the others the result goes into their inbox, they stop
-- watching, and their coroutine is woken (once, however many results it receives).
local function deliver(self, id, task, err)
  local list = self.watchers[id]
  if not list then return end
  self.urgent[id] = nil
  local kept = 0
  for i = 1, #list do
    local w = list[i]
    if w.filter and not w.filter(w.state, task, err) then
      kept = kept + 1
      list[kept] = w
    else
      local inbox = w.inbox
      inbox[#inbox + 1] = w
      inbox[#inbox + 1] = task or false
      inbox[#inbox + 1] = err or false
      self.sched:wake(w.handle)
    end
  end
  for i = kept + 1, #list do list[i] = nil end
  if kept == 0 then
    self.watchers[id] = nil
    self.count = self.count - 1
  end
end

--- Stops watching: removes `entry` from `id`'s watchers (when it is still there).
-- Neither blocks nor yields.
-- @tparam string id
-- @tparam table entry the entry given to `watch`
function Poller:unwatch(id, entry)
  local l = self.watchers[id]
  if not l then return end
  for i = #l, 1, -1 do
    if l[i] == entry then table.remove(l, i) end
  end
  if #l == 0 then
    self.watchers[id] = nil
    self.urgent[id] = nil
    self.count = self.count - 1
  end
end

-- One round over `ids`: batches in parallel (spread over the interval when `spread`),
-- each answer delivered as it comes.
local function round(self, ids, spread)
  self.rounds = self.rounds + 1
  local sched = self.sched
  local me = sched:running()
  local pending = 0
  local function worker(slice, offset)
    if offset > 0 then sched:sleep(offset) end
    local ok, res = pcall(M.batch, self.client, slice, now() + self.client.deadline)
    for i = 1, #slice do
      local id = slice[i]
      if ok then deliver(self, id, res[id].task, res[id].err)
      else deliver(self, id, nil, errors.new { kind = "transport", message = tostring(res), retryable = true }) end
    end
    pending = pending - 1
    if pending == 0 then sched:wake(me) end
  end
  local nbatches = math.ceil(#ids / self.batch)
  local spacing = (spread and nbatches > 1) and (self.interval * self.spread) / nbatches or 0
  for first = 1, #ids, self.batch do
    local slice = {}
    for i = first, math.min(first + self.batch - 1, #ids) do slice[#slice + 1] = ids[i] end
    sched:spawn(worker, slice, pending * spacing)
    pending = pending + 1
  end
  -- the workers run from the next step on; wait until the last one is done
  if pending > 0 then sched:suspend() end
end

local function run_rounds(self)
  local sched = self.sched
  local next_at = now() + self.interval
  while self.count > 0 do
    if next(self.urgent) then
      local ids = {}
      for id in pairs(self.urgent) do ids[#ids + 1] = id end
      self.urgent = {}
      -- a round that polls every watched id is the interval's round: the next one is an
      -- interval later (at most ceil(N/batch) list requests per interval)
      if #ids >= self.count then next_at = now() + self.interval end
      round(self, ids, #ids > 8 * self.batch) -- thousands of new waiters: spread them too
    elseif now() >= next_at then
      local ids = {}
      for id in pairs(self.watchers) do ids[#ids + 1] = id end
      next_at = next_at + self.interval
      if next_at < now() then next_at = now() + self.interval end
      round(self, ids, true)
    else
      self.sleeping = true
      sched:suspend(next_at - now()) -- woken early when an urgent id arrives
      self.sleeping = false
    end
  end
  self.runner = nil
end

--- Watches task `id` for one result: `entry` is `{handle =, inbox =, filter =, state =}`.
-- When a round's result for `id` passes `filter(state, task, err)` (or there is no
-- filter), the entry stops watching, `entry, task or false, err or false` are appended
-- to `inbox`, and the coroutine `handle` is woken if it is suspended. Many entries may
-- share one handle and one inbox (`client:wait_all`: one coroutine, plain records).
-- Neither blocks nor yields.
-- @tparam string id
-- @tparam table entry
-- @tparam[opt] boolean immediate poll this id at once instead of at the next round
function Poller:watch(id, entry, immediate)
  local list = self.watchers[id]
  if not list then
    list = {}
    self.watchers[id] = list
    self.count = self.count + 1
  end
  list[#list + 1] = entry
  if immediate then self.urgent[id] = true end
  if not self.runner then
    self.runner = self.sched:spawn(run_rounds, self)
  elseif immediate and self.sleeping then
    self.sched:wake(self.runner)
  end
end

--- Polls these ids at the next step, in one round (as `watch` with `immediate` does for
-- one id). Neither blocks nor yields.
-- @tparam table list ids already watched
function Poller:poll_soon(list)
  for i = 1, #list do
    if self.watchers[list[i]] then self.urgent[list[i]] = true end
  end
  if self.runner and self.sleeping then self.sched:wake(self.runner) end
end

--- Waits for the next snapshot of task `id` from this poller's rounds. Yields; must
-- be called inside a coroutine of the poller's scheduler.
-- @tparam string id
-- @tparam number deadline absolute (`scheduler.now()` clock): the wait returns a `timeout`
--   error then, whatever the round is doing
-- @tparam[opt] boolean immediate poll this id at once instead of at the next round
-- @tparam[opt] function filter `filter(state, task, err)`: false when a round's result
--   does not concern the caller, which then keeps waiting without being resumed (so
--   thousands of waits cost no resume per round while nothing changes)
-- @param[opt] state passed to `filter`
-- @return the Task, or `nil, err` (transient, `not_found`, `timeout`, `cancelled`)
function Poller:next(id, deadline, immediate, filter, state)
  local sched = self.sched
  local h = sched:running()
  if not h then error("poller:next must run inside a coroutine of the poller's scheduler", 2) end
  local entry = { handle = h, inbox = {}, filter = filter, state = state }
  self:watch(id, entry, immediate)
  local woke, cerr = sched:suspend(math.max(deadline - now(), 0))
  local inbox = entry.inbox
  if inbox[1] then return inbox[2] or nil, inbox[3] or nil end
  self:unwatch(id, entry)
  if woke == scheduler.TIMEOUT then
    return nil, M.timeout_error(id)
  end
  return nil, cerr or errors.cancelled()
end

--- The error of a wait whose deadline came before a snapshot: kind `"timeout"`,
-- transient (the wait's state machine decides what it means).
-- @tparam string id
-- @treturn table
function M.timeout_error(id)
  return errors.new { kind = "timeout", message = "no snapshot of task " .. id .. " before the deadline",
    retryable = true }
end

return M
