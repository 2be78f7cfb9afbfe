--- Waiting for tasks: the state machine behind `client:wait` and `client:wait_all`.
--
-- One state per waited id is fed snapshots (or errors) from one of two polling paths:
-- inside a scheduler coroutine, a shared `midjourney.poller` (one list-by-condition
-- request per batch of ids per interval); outside one, a fetch per interval. Both
-- compute the per-request deadline the same way (never past the wait's own), and both
-- use `midjourney.retry`'s rule for what is transient.
--
-- Blocks in plain code and yields inside a scheduler coroutine. Errors raised by
-- `on_progress`/`on_stall` propagate to the caller of `wait`.
-- @module midjourney.wait
local errors = require "midjourney.errors"
local options = require "midjourney.options"
local poller = require "midjourney.poller"
local retry = require "midjourney.retry"
local scheduler = require "midjourney.scheduler"
local ids = require "midjourney.ids"
local task_mod = require "midjourney.task"
local transport = require "midjourney.transport"

local M = {}

local now = scheduler.now

--- The options of `client:wait` and `client:wait_all` (a schema of `midjourney.options`).
M.options = options.schema("client:wait", {
  timeout = "seconds", interval = "seconds", first_delay = "seconds", stall_timeout = "seconds",
  not_found_limit = "count", on_progress = "function", on_stall = "function", stall_error = "boolean",
  coalesce = "boolean", batch = "count",
})

--- Checked wait options with their defaults filled in (a new table).
-- @tparam table opts checked options
-- @treturn table
function M.settings(opts)
  return {
    timeout = opts.timeout or 600,
    interval = math.max(opts.interval or 3, 0.001),
    first_delay = opts.first_delay or 3,
    stall_timeout = opts.stall_timeout,
    not_found_limit = opts.not_found_limit or 3,
    on_progress = opts.on_progress,
    on_stall = opts.on_stall,
    stall_error = opts.stall_error == true,
    coalesce = opts.coalesce ~= false,
    batch = math.max(opts.batch or 50, 1),
  }
end

local function failed_error(t)
  local reason = t.failReason
  if reason == nil or reason == "" then reason = "task " .. tostring(t.status) end
  return errors.new { kind = "task_failed", task = t, message = tostring(reason), retryable = false }
end

--- A new wait state for one id. Neither blocks nor yields.
-- @param client
-- @tparam string id
-- @tparam table o settings (see `settings`) plus `deadline` (absolute, `scheduler.now()` clock)
-- @tparam[opt] Task first a snapshot the caller already has
-- @treturn table state
function M.new_state(client, id, o, first)
  return { client = client, id = id, o = o, last = first, misses = 0, last_change = now(), stall_fired = false }
end

--- Whether a snapshot ends a wait: SUCCESS, FAILURE, CANCEL, or a MODAL that is not a
-- stale row of a dialog this client already answered. Neither blocks nor yields.
-- @param client
-- @param t a Task
-- @treturn boolean
function M.is_final(client, t)
  local s = t.status
  if s == "MODAL" then return not client:answered_modal(t.id) end
  return s == "SUCCESS" or s == "FAILURE" or s == "CANCEL"
end

--- Feeds a poll result (a snapshot, or an error) into a state. Neither blocks nor
-- yields (but runs the callbacks).
-- @tparam table st state
-- @param t a Task or nil
-- @tparam[opt] table err the error when `t` is nil
-- @treturn boolean done
-- @return the task when done with SUCCESS or MODAL
-- @return the error when done otherwise
function M.feed(st, t, err)
  local o = st.o
  if t then
    st.misses = 0
    local prev = st.last
    st.last = t
    if not prev or prev.status ~= t.status or prev.progress ~= t.progress then
      st.last_change = now()
      if o.on_progress then o.on_progress(t) end
    end
    if M.is_final(st.client, t) then
      local s = t.status
      if s == "FAILURE" or s == "CANCEL" then return true, nil, failed_error(t) end
      return true, t
    end
  elseif err then
    if err.kind == "not_found" then
      st.misses = st.misses + 1
      if st.misses >= o.not_found_limit then return true, nil, err end
    elseif not retry.transient(err) then
      return true, nil, err
    end
    st.last_err = err
  end
  if o.stall_timeout and not st.stall_fired and now() - st.last_change >= o.stall_timeout then
    st.stall_fired = true
    if o.on_stall then o.on_stall(st.last) end
    if o.stall_error then
      return true, nil, errors.new { kind = "timeout", task = st.last, stalled = true,
        message = string.format("task %s made no progress for %gs", st.id, o.stall_timeout) }
    end
  end
  if now() >= o.deadline then
    return true, nil, errors.new { kind = "timeout", task = st.last, cause = st.last_err,
      message = string.format("task %s not done after %gs (last status %q, progress %q)", st.id,
        o.timeout, tostring(st.last and st.last.status), tostring(st.last and st.last.progress)) }
  end
  return false
end

--- Whether a coalesced poll's result needs the waiting coroutine: a final snapshot, a
-- changed one when there is an `on_progress` to call, or an error that ends the wait
-- (`feed` then handles it in the coroutine). Otherwise the state takes the result quietly
-- (the latest snapshot, a not-found miss, a transient error) and the coroutine is not
-- resumed.
-- Neither blocks nor yields.
-- @tparam table st state
-- @param t a Task or nil
-- @tparam[opt] table err
-- @treturn boolean
function M.observe(st, t, err)
  if t then
    if M.is_final(st.client, t) then return true end
    local prev = st.last
    local changed = not prev or prev.status ~= t.status or prev.progress ~= t.progress
    -- a change needs the coroutine only to call on_progress in it
    if changed and st.o.on_progress then return true end
    if changed then st.last_change, st.last = now(), t end
    -- (an unchanged snapshot writes nothing: thousands of quiet states stay untouched, so
    -- the garbage collector has nothing of theirs to traverse again)
    if st.misses ~= 0 then st.misses = 0 end
    return false
  end
  if not err then return true end
  if err.kind == "not_found" then
    if st.misses + 1 >= st.o.not_found_limit then return true end
    st.misses = st.misses + 1
    return false
  end
  if not retry.transient(err) then return true end
  if st.last_err ~= err then st.last_err = err end
  return false
end

-- How long to hold the first poll: only for a task this client submitted moments ago
-- (before the gateway's first sync its snapshot is a placeholder).
local function first_hold(client, id, o)
  local at = client:submitted_at(id)
  if not at then return 0 end
  return math.max(0, math.min(at + o.first_delay - now(), o.deadline - now()))
end

--- Waits for one id with checked options (see `client:wait`). Blocks, or yields.
-- @param client
-- @tparam string sid the id (checked)
-- @tparam[opt] Task first a snapshot the caller already has
-- @tparam table opts checked options
-- @return the task, or nil and the error
function M.wait(client, sid, first, opts)
  local o = M.settings(opts)
  o.deadline = now() + o.timeout
  local st = M.new_state(client, sid, o, first)
  if first and M.is_final(client, first) then
    local done, t, e = M.feed(st, first)
    if done then return t, e end
  end
  transport.sleep(client, first_hold(client, sid, o))
  local shared = o.coalesce and scheduler.current() and poller.of(client, o.interval, o.batch)
  local immediate = true
  while true do
    local t, perr
    if shared then
      -- resumed only for a change, the end, or the deadline (or a stall check)
      local wake_at = o.deadline
      if o.stall_timeout and not st.stall_fired then
        wake_at = math.min(wake_at, st.last_change + o.stall_timeout)
      end
      t, perr = shared:next(sid, wake_at, immediate, M.observe, st)
    else
      t, perr = poller.fetch(client, sid, o.deadline)
    end
    immediate = false
    if perr and perr.kind == "cancelled" then return nil, perr end
    local done, v, e = M.feed(st, t, perr)
    if done then return v, e end
    if not shared then transport.sleep(client, math.min(o.interval, math.max(o.deadline - now(), 0))) end
  end
end

-- The distinct ids of `list` as {id =, first =} items (an id the API never issues goes to
-- `errs`, under the text given); every 1,024 ids the coroutine lets a host step go by.
local function normalise(list, sched, errs)
  local items, seen = {}, {}
  for i = 1, #list do
    if i % 1024 == 0 then sched:sleep(0) end
    local v = list[i]
    local sid, err = ids.arg("client:wait_all", v, "ids[" .. i .. "]")
    if not sid then
      errs[tostring(v)] = err
    elseif not seen[sid] then
      seen[sid] = true
      items[#items + 1] = { id = sid, first = task_mod.is_task(v) and v or nil }
    end
  end
  return items
end

-- wait_all without coalescing: one coroutine per id, each polling on its own.
local function wait_each(client, list, opts, sched, results, errs)
  local items = normalise(list, sched, errs)
  local handles = {}
  for i, item in ipairs(items) do
    handles[i] = sched:spawn(M.wait, client, item.id, item.first, opts)
  end
  sched:join(handles)
  local me = sched:running()
  for i, item in ipairs(items) do
    local h = handles[i]
    if me and me.cancelled then h:cancel() end
    local t, e = h:result()
    if t then
      results[item.id] = t
    else
      if h:status() == "failed" then error(e, 0) end -- a callback raised
      errs[item.id] = e
    end
  end
end

-- wait_all with coalescing: every id is a plain record watched by one shared poller, and
-- this one coroutine is resumed only when some task changed, ended, or the deadline came
-- (no coroutine per id: ten thousand waits cost ten thousand small tables).
local function wait_records(client, list, opts, sched, results, errs)
  local items = normalise(list, sched, errs)
  local o = M.settings(opts)
  o.deadline = now() + o.timeout
  local shared = poller.of(client, o.interval, o.batch)
  local me = sched:running()
  local inbox, open, pending, soon = {}, {}, 0, {}
  local function finish(entry, v, e)
    open[entry] = nil
    pending = pending - 1
    if v then results[entry.id] = v else errs[entry.id] = e end
  end
  for i, item in ipairs(items) do
    if i % 256 == 0 then sched:sleep(0) end -- thousands of records: a host step stays short
    local st = M.new_state(client, item.id, o, item.first)
    local entry = { id = item.id, handle = me, inbox = inbox, filter = M.observe, state = st }
    open[entry] = true
    pending = pending + 1
    local done, v, e = false, nil, nil
    if item.first and M.is_final(client, item.first) then done, v, e = M.feed(st, item.first) end
    if done then finish(entry, v, e)
    else
      shared:watch(item.id, entry, false)
      -- polled at once, all in one round, unless this client just submitted it
      if client:submitted_at(item.id) == nil then soon[#soon + 1] = item.id end
    end
  end
  shared:poll_soon(soon)
  while pending > 0 do
    local wake_at = o.deadline
    if o.stall_timeout then
      for entry in pairs(open) do
        local st = entry.state
        if not st.stall_fired then wake_at = math.min(wake_at, st.last_change + o.stall_timeout) end
      end
    end
    local woke, cerr = sched:suspend(math.max(wake_at - now(), 0))
    if woke == nil and cerr and cerr.kind == "cancelled" then
      for entry in pairs(open) do
        shared:unwatch(entry.id, entry)
        finish(entry, nil, cerr)
      end
      break
    end
    -- the results the poller handed in (entry, task, err triples), a few hundred per step;
    -- more may arrive while this coroutine sleeps between chunks
    local i = 1
    while inbox[i] do
      local entry, t, e = inbox[i], inbox[i + 1] or nil, inbox[i + 2] or nil
      inbox[i], inbox[i + 1], inbox[i + 2] = false, false, false
      if open[entry] then
        local done, v, ferr = M.feed(entry.state, t, e)
        if done then finish(entry, v, ferr) else shared:watch(entry.id, entry, false) end
      end
      i = i + 3
      if i % 768 == 1 and inbox[i] then sched:sleep(0) end
    end
    for k = #inbox, 1, -1 do inbox[k] = nil end
    -- the deadline (and stall checks) for the records still watched
    if woke == scheduler.TIMEOUT then
      for entry in pairs(open) do
        local done, v, ferr = M.feed(entry.state, nil, nil)
        if done then
          shared:unwatch(entry.id, entry)
          finish(entry, v, ferr)
        end
      end
    end
  end
end

--- Waits for many ids with checked options (see `client:wait_all`). Blocks, or yields.
-- @param client
-- @tparam table list ids or Tasks (types checked; ids are normalised here)
-- @tparam table opts checked options
-- @treturn table results by id
-- @treturn table errors by id (possibly empty)
function M.wait_all(client, list, opts)
  local results, errs = {}, {}
  local body = opts.coalesce == false and wait_each or wait_records
  local active = scheduler.active()
  if active:running() then
    body(client, list, opts, active, results, errs)
  else
    -- plain code: the waits run on a private scheduler, so no other coroutine of the
    -- host runs inside this blocking call
    local private = scheduler.new()
    local ok, e = pcall(private.run, private, body, client, list, opts, private, results, errs)
    private:close()
    if not ok then error(e, 0) end
  end
  return results, errs
end

return M
