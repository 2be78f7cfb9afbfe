--- Coalesced polling: many coroutines waiting on many tasks share one
-- `list-by-condition` request per batch of ids per interval.
--
-- A waiting coroutine calls `poller:next(id)`; it is suspended until the next polling
-- round has a fresh snapshot of that task (or an error for it). One internal
-- coroutine runs the rounds while anyone is waiting: every `interval` seconds it asks
-- `client:list` for the watched ids in batches of `batch` (default 50), in parallel,
-- and re-checks ids missing from an answer with `client:fetch`.
-- @module midjourney.poller

local scheduler = require "midjourney.scheduler"
local now = require("midjourney.core").now

local M = {}

local Poller = {}
Poller.__index = Poller

--- Creates a poller for a client. Neither blocks nor yields.
-- @param client a `midjourney.client`
-- @tparam[opt] table opts `interval` (seconds between rounds, default 3), `batch`
-- (ids per list request, default 50), `spread` (the batches of a round start spread
-- over this fraction of the interval, default 0.5)
function M.new(client, opts)
  opts = opts or {}
  return setmetatable({
    client = client,
    interval = opts.interval or 3,
    batch = opts.batch or 50,
    spread = opts.spread or 0.5, -- fraction of the interval over which a round's batches start
    watchers = {},   -- id -> { handle, ... } coroutines waiting for the next snapshot
    count = 0,       -- number of ids watched
    runner = nil,    -- handle of the round coroutine
    rounds = 0,
  }, Poller)
end

local function deliver(self, id, task, err)
  local list = self.watchers[id]
  if not list then return end
  self.watchers[id] = nil
  self.count = self.count - 1
  for i = 1, #list do scheduler.wake(list[i], task, err) end
end

local function poll_batch(self, ids)
  local tasks, err = self.client:list(ids)
  local missing = {}
  if not tasks then
    for i = 1, #ids do deliver(self, ids[i], nil, err) end
    return
  end
  local seen = {}
  for i = 1, #tasks do
    local t = tasks[i]
    local id = t.id
    if id and not seen[id] then
      seen[id] = true
      deliver(self, id, t)
    end
  end
  for i = 1, #ids do
    if not seen[ids[i]] then missing[#missing + 1] = ids[i] end
  end
  for i = 1, #missing do
    local id = missing[i]
    if self.watchers[id] then
      local t, ferr = self.client:fetch(id)
      deliver(self, id, t, ferr)
    end
  end
end

local function round(self)
  local ids = {}
  for id in pairs(self.watchers) do ids[#ids + 1] = id end
  table.sort(ids)
  self.rounds = self.rounds + 1
  local pending = 0
  local me = scheduler.current()
  local function worker(slice, offset)
    -- batches are spread over the interval, so a host step never has to take in
    -- every answer of a round at once
    if offset > 0 then scheduler.sleep(offset) end
    local ok, perr = pcall(poll_batch, self, slice)
    if not ok then
      for i = 1, #slice do deliver(self, slice[i], nil, perr) end
    end
    pending = pending - 1
    if pending == 0 then scheduler.wake(me) end
  end
  local nbatches = math.ceil(#ids / self.batch)
  local spacing = nbatches > 1 and (self.interval * self.spread) / nbatches or 0
  for first = 1, #ids, self.batch do
    local slice = {}
    for i = first, math.min(first + self.batch - 1, #ids) do slice[#slice + 1] = ids[i] end
    scheduler.spawn(worker, slice, pending * spacing)
    pending = pending + 1
  end
  -- the workers run from the next step on; wait until the last one is done
  if pending > 0 then scheduler.suspend() end
end

local function run_rounds(self)
  -- rounds start every `interval` seconds (a round itself takes about interval * spread)
  local t = now()
  while self.count > 0 do
    t = t + self.interval
    local wait = t - now()
    if wait > 0 then scheduler.sleep(wait) else t = now() end
    if self.count == 0 then break end
    round(self)
  end
  self.runner = nil
end

--- Waits for the next polling round's snapshot of task `id`. Yields; must be called
-- inside a scheduler coroutine.
-- @tparam string id
-- @tparam[opt] number interval shortens the poller's interval if smaller
-- @return the task, or `nil, err` for this round (transient or not_found)
function Poller:next(id, interval)
  local h = scheduler.current()
  if not h then error("poller:next must run inside a scheduler coroutine", 2) end
  if interval and interval < self.interval then self.interval = interval end
  local list = self.watchers[id]
  if not list then
    list = {}
    self.watchers[id] = list
    self.count = self.count + 1
  end
  list[#list + 1] = h
  if not self.runner then self.runner = scheduler.spawn(run_rounds, self) end
  local task, err = scheduler.suspend()
  if task == nil and err == "cancelled" then
    -- we were cancelled: stop watching
    local l = self.watchers[id]
    if l then
      for i = #l, 1, -1 do
        if l[i] == h then table.remove(l, i) end
      end
      if #l == 0 then
        self.watchers[id] = nil
        self.count = self.count - 1
      end
    end
    return nil, require("midjourney.errors").new { kind = "cancelled", message = "the operation was cancelled" }
  end
  return task, err
end

return M
