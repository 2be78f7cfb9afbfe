--- Waiting for tasks: `client:wait` and `client:wait_all`.
--
-- Both block in plain code and yield inside a scheduler coroutine (they poll
-- through the client's requests and sleep with `scheduler.sleep`).
--
-- A wait ends only at SUCCESS or MODAL (returns the task), FAILURE or CANCEL
-- (kind `"task_failed"`, `err.task`), `not_found` after `not_found_limit`
-- consecutive misses, a non-transient error (401, 403, invalid...), the
-- deadline (kind `"timeout"`, `err.task` = last snapshot) or a stall when
-- `stall_error` is set. Transient errors (transport, timeout, 5xx, 429, bad
-- bodies) do not end it. `status == ""` means pending.
--
-- Errors raised by `on_progress`/`on_stall` propagate to the caller of
-- `wait` as Lua errors (inside a coroutine: out of the coroutine, to whoever
-- reads its result); the wait stops there and the engine is unaffected.
-- @module midjourney.wait
local errors = require("midjourney.errors")
local task_mod = require("midjourney.task")
local validate = require("midjourney.validate")

local M = {}

local now = require("midjourney.core").now
local scheduler = require "midjourney.scheduler"

local function sleep(client, s)
  if s <= 0 then return end
  if client._sleep then return client._sleep(s) end
  return scheduler.sleep(s)
end

local function num_opt(opts, k, default)
  local v = validate.number_option(opts, k, default, "wait: ", 4) -- not a tail call: the level counts this frame
  return v
end

local function fn_opt(opts, k)
  local v = opts[k]
  if v ~= nil and type(v) ~= "function" then
    error("wait: option '" .. k .. "' must be a function, got " .. type(v), 4)
  end
  return v
end

local function parse_opts(opts)
  if opts ~= nil and type(opts) ~= "table" then error("wait: argument 'opts' must be a table", 3) end
  opts = opts or {}
  return {
    timeout = num_opt(opts, "timeout", 600),
    interval = math.max(num_opt(opts, "interval", 3), 0.001),
    first_delay = num_opt(opts, "first_delay", 3),
    stall_timeout = num_opt(opts, "stall_timeout", nil),
    not_found_limit = num_opt(opts, "not_found_limit", 3),
    on_progress = fn_opt(opts, "on_progress"),
    on_stall = fn_opt(opts, "on_stall"),
    stall_error = opts.stall_error and true or false,
    coalesce = opts.coalesce ~= false,
    batch = num_opt(opts, "batch", 50),
  }
end

--- Whether an error seen while polling ends the wait.
-- Neither blocks nor yields.
-- @tparam table err
-- @treturn boolean
function M.is_transient(err)
  local k = err.kind
  if k == "transport" or k == "timeout" or k == "rate_limited" or k == "decode" then return true end
  if err.retryable then return true end
  local s = err.status
  if type(s) == "number" and (s >= 500 or s == 408 or s == 409 or s == 429) then return true end
  return false
end

--- Poll once for one id: the one step a coalescing poller replaces.
-- Blocks, or yields in a scheduler coroutine.
-- @param client the client
-- @tparam string id
-- @tparam table o parsed wait options plus `deadline` (absolute, core.now() clock)
-- @treturn[1] Task
-- @treturn[2] nil
-- @treturn[2] table error
function M.poll_once(client, id, o)
  local left = o.deadline - now()
  local per = math.min(client.deadline, math.max(left, 0.001))
  return client:fetch(id, { deadline = per, timeout = math.min(client.timeout, per) })
end

local function failed_error(t)
  local reason = t.failReason
  if reason == nil or reason == "" then reason = "task " .. tostring(t.status) end
  return errors.new { kind = "task_failed", task = t, message = tostring(reason),
    status = nil, retryable = false }
end

-- One state machine per waited id, shared by wait and wait_all.
local function new_state(id, o, first)
  return { id = id, o = o, last = first, misses = 0, last_change = now(), stall_fired = false }
end

-- Feed a poll result into a state. Returns "done", value, err when finished.
local function feed(st, t, err)
  local o = st.o
  if t then
    st.misses = 0
    local prev = st.last
    if not prev or prev.status ~= t.status or prev.progress ~= t.progress then
      st.last_change = now()
      st.last = t
      if o.on_progress then o.on_progress(t) end
    else
      st.last = t
    end
    local s = t.status
    if s == "SUCCESS" or s == "MODAL" then return true, t end
    if s == "FAILURE" or s == "CANCEL" then return true, nil, failed_error(t) end
  else
    if err.kind == "not_found" then
      st.misses = st.misses + 1
      if st.misses >= o.not_found_limit then return true, nil, err end
    elseif err.kind == "cancelled" or not M.is_transient(err) then
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

local function id_of(v, name)
  local id_arg = require("midjourney.client")._id_arg
  return id_arg(name, v, "id_or_task")
end

local function wait(self, id_or_task, opts)
  local o = parse_opts(opts)
  local sid, err = id_of(id_or_task, "wait")
  if not sid then return nil, err end
  o.deadline = now() + o.timeout
  local first = task_mod.is_task(id_or_task) and id_or_task or nil
  local st = new_state(sid, o, first)
  if first and first:is_done() then
    local done, t, e = feed(st, first)
    if done then return t, e end
  end
  local poller
  if o.coalesce and scheduler.current() then
    self._poller = self._poller or require("midjourney.poller").new(self, { interval = o.interval, batch = o.batch })
    poller = self._poller
  end
  if not poller then sleep(self, math.min(o.first_delay, math.max(o.deadline - now(), 0))) end
  while true do
    local t, perr
    if poller then t, perr = poller:next(sid, o.interval)
    else t, perr = M.poll_once(self, sid, o) end
    local done, v, e = feed(st, t, perr)
    if done then return v, e end
    if not poller then sleep(self, math.min(o.interval, math.max(o.deadline - now(), 0))) end
  end
end

--- Wait for a task to finish. Blocks, or yields in a scheduler coroutine.
-- @param self the client
-- @tparam string|number|table id_or_task a task id or a Task (a done Task
--   returns at once)
-- @tparam[opt] table opts `timeout` (600 s), `interval` (3 s), `first_delay`
--   (3 s), `on_progress(task)` (on status or progress change), `on_stall(task)`,
--   `stall_timeout` (seconds without change), `stall_error` (end the wait on a
--   stall), `not_found_limit` (3), `coalesce` (default true: share list-by-condition polls
--   with other coroutines; scheduler coroutines only)
-- @treturn[1] Task the task in SUCCESS or MODAL
-- @treturn[2] nil
-- @treturn[2] table error: `task_failed` (with `err.task`), `timeout` (with the
--   last snapshot in `err.task`), `not_found`, `cancelled`, or a non-transient error
-- @raise on wrong argument types; errors raised by the callbacks propagate
local function wait_method(self, id_or_task, opts)
  return wait(self, id_or_task, opts)
end

--- Wait for many tasks, polling them together with list-by-condition (ids
-- missing from an answer are re-checked with fetch). Blocks, or yields.
-- @param self the client
-- @tparam table ids list of task ids or Tasks
-- @tparam[opt] table opts as for `wait`, plus `batch` (ids per list request, 50)
-- @treturn table results by id: the Task for ids that reached SUCCESS or MODAL
-- @treturn table|nil errors by id (task_failed, timeout, not_found, ...), nil when none
-- @raise on wrong argument types
local function wait_all(self, ids, opts)
  if type(ids) ~= "table" then error("client:wait_all: argument 'ids' must be a list", 2) end
  local o = parse_opts(opts)
  local batch = (opts and opts.batch) or 50
  o.deadline = now() + o.timeout
  local states, order = {}, {}
  local results, errs = {}, {}
  local nerr = 0
  for i = 1, #ids do
    local sid, err = id_of(ids[i], "wait_all")
    if not sid then
      errs[tostring(ids[i])] = err; nerr = nerr + 1
    elseif not states[sid] then
      states[sid] = new_state(sid, o, task_mod.is_task(ids[i]) and ids[i] or nil)
      order[#order + 1] = sid
    end
  end
  local function finish(sid, done, v, e)
    if not done then return false end
    if v then results[sid] = v else errs[sid] = e; nerr = nerr + 1 end
    states[sid] = nil
    return true
  end
  sleep(self, math.min(o.first_delay, o.timeout))
  while true do
    local pending = {}
    for _, sid in ipairs(order) do if states[sid] then pending[#pending + 1] = sid end end
    if #pending == 0 then break end
    for first = 1, #pending, batch do
      local slice = {}
      for i = first, math.min(first + batch - 1, #pending) do slice[#slice + 1] = pending[i] end
      local left = math.max(o.deadline - now(), 0.001)
      local tasks, lerr = self:list(slice, { deadline = math.min(self.deadline, left) })
      local seen = {}
      if tasks then
        for _, t in ipairs(tasks) do
          if states[t.id] and not seen[t.id] then
            seen[t.id] = true
            finish(t.id, feed(states[t.id], t))
          end
        end
      end
      for _, sid in ipairs(slice) do
        if states[sid] and not seen[sid] then
          if tasks then
            -- missing from the list: ask fetch (it tells not_found apart)
            finish(sid, feed(states[sid], M.poll_once(self, sid, o)))
          else
            finish(sid, feed(states[sid], nil, lerr))
          end
        end
      end
    end
    local any = false
    for _, sid in ipairs(order) do if states[sid] then any = true end end
    if not any then break end
    sleep(self, math.min(o.interval, math.max(o.deadline - now(), 0)))
  end
  return results, nerr > 0 and errs or nil
end

--- Install `wait` and `wait_all` as client methods.
-- Neither blocks nor yields.
-- @tparam table methods the client method table
function M.install(methods)
  methods.wait = wait_method
  methods.wait_all = wait_all
end

return M
