--- Batches: run many prompts (imagine, optional follow-up buttons, downloads) with a
-- journal, so that a batch that died can be run again without paying twice.
--
--     local mj = require "midjourney"
--     local batch = require "midjourney.batch"
--     local client = mj.new()
--     local results, summary = batch.run(client, { "a paper boat", "a lighthouse" }, {
--       dir = "out", ["then"] = { "U1" },
--       on_event = function(ev) print(ev.type, ev.job, ev.unit, ev.status or "") end,
--     })
--     for _, r in ipairs(results) do print(r.index, r.status, table.concat(r.files, " ")) end
--
-- Every job is a prompt: it is submitted (`imagine`), waited on, its grid is saved to
-- `DIR/NNN-slug.png`, then each follow-up button (`"U2"`) is pressed on the grid, waited
-- on and saved to `DIR/NNN-slug-U2.png`. NNN is the job's position (1-based, 3 digits or
-- more); the slug comes from the job's name or its prompt. Files are written under a
-- temporary name and renamed when complete (`client:download`).
--
-- **The journal** (`midjourney.journal`, default `DIR/.mj-batch.jsonl`) records each
-- submit before it is sent and its answer after, each finished task and each saved
-- file. Running the same batch again **resumes** it: finished jobs are skipped (their
-- files kept), jobs with a known task id are waited on again (not resubmitted), missing
-- files are downloaded again, follow-ups not yet sent are sent once. A submit whose
-- outcome is unknown (it may have reached the server, but no task id came back: a reset
-- connection, a timeout, a process killed in between) is **not** sent again: its job
-- ends `unknown`, unless `resubmit_unknown` is set, and then it is sent once more.
-- A journal written for another job list is refused.
--
-- **Concurrency adapts to the gateway.** At most `concurrency` jobs are in flight. A
-- submit refused because the account is saturated (HTTP 429, codes 23, 9 or 30) halves
-- the number of jobs in flight, pauses new submits (the server's Retry-After, else a
-- backoff doubling from `cooldown` seconds up to 60 s), and the job is submitted again
-- later (those codes mean no task was created). An accepted submit that reports
-- `numberOfQueues` also halves it. After `recover` calm seconds it grows again by one.
--
-- `batch.run` **blocks** in plain code and **yields** inside a scheduler coroutine
-- (`mj.spawn`/`mj.run`), like every client call: the jobs run as scheduler coroutines.
-- @module midjourney.batch

local mj = require "midjourney"
local json = require "midjourney.json"
local errors = require "midjourney.errors"
local journal = require "midjourney.journal"

local M = {}

local now = function() return mj.core.now() end

--- The buttons `"all"` stands for.
M.ALL = { "U1", "U2", "U3", "U4" }

--- Defaults of `run`'s options.
M.defaults = { concurrency = 4, cooldown = 2, max_cooldown = 60, recover = 30, max_rejections = 8 }

local JOURNAL_NAME = ".mj-batch.jsonl"

local function invalid(message)
  return errors.new { kind = "invalid", message = message }
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- ---------------------------------------------------------------- names

--- A file-name slug: lower-case ASCII letters, digits and dashes, at most 40
-- characters, without the prompt's `--parameters`; `"job"` when nothing is left.
-- Neither blocks nor yields.
-- @tparam string text a name or a prompt
-- @treturn string
function M.slug(text)
  local s = tostring(text):gsub("%s%-%-.*$", ""):gsub("^%-%-.*$", "")
  s = s:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  if #s > 40 then
    s = s:sub(1, 40)
    local cut = s:match("^(.*)%-[^%-]*$")
    if cut and #cut >= 20 then s = cut end
    s = s:gsub("%-+$", "")
  end
  if s == "" then s = "job" end
  return s
end

local function button_slug(b)
  local s = tostring(b):gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  if s == "" then s = "b" .. journal.hash(tostring(b)):sub(1, 6) end
  return s
end

--- The output file names of a job: the grid's and, by button, the follow-ups'.
-- Neither blocks nor yields.
-- @tparam table job a normalised job (`index`, `slug`, `then`)
-- @treturn string the grid's file name (`NNN-slug.png`)
-- @treturn table `{ [button] = "NNN-slug-BUTTON.png" }`
function M.file_names(job)
  local base = string.format("%03d-%s", job.index, job.slug)
  local children = {}
  for _, b in ipairs(job["then"]) do children[b] = base .. "-" .. button_slug(b) .. ".png" end
  return base .. ".png", children
end

-- ---------------------------------------------------------------- jobs

--- Expands a follow-up list: `"all"` (U1 to U4), `"U1,U3"`, or a list of buttons
-- (labels, emojis or customId families, as `client:action` takes them). Duplicates are
-- dropped. Neither blocks nor yields.
-- @tparam string|table spec
-- @treturn[1] table list of buttons
-- @treturn[2] nil
-- @treturn[2] string why
function M.buttons(spec)
  if spec == nil then return {} end
  local list = {}
  if type(spec) == "string" then
    if trim(spec) == "" then return {} end
    for part in (spec .. ","):gmatch("([^,]*),") do list[#list + 1] = trim(part) end
  elseif type(spec) == "table" then
    for i = 1, #spec do
      if type(spec[i]) ~= "string" then return nil, "button " .. i .. " is not a string" end
      list[#list + 1] = trim(spec[i])
    end
  else
    return nil, "follow-up buttons must be a string or a list of strings"
  end
  local out, seen = {}, {}
  for _, b in ipairs(list) do
    if b == "" then return nil, "empty button name in the follow-up list" end
    if b:lower() == "all" then
      for _, u in ipairs(M.ALL) do
        if not seen[u] then seen[u] = true; out[#out + 1] = u end
      end
    elseif not seen[b] then
      seen[b] = true
      out[#out + 1] = b
    end
  end
  return out
end

local JOB_KEYS = { prompt = true, name = true, ["then"] = true }

--- Parses a batch file's text: one prompt per line (blank lines and `#` comments
-- skipped), or JSON lines `{"prompt": "...", "name": "...", "then": ["U1", "U3"]}`
-- (`then` may also be `"all"` or `"U1,U3"`); both kinds may be mixed.
-- Neither blocks nor yields.
-- @tparam string text
-- @tparam[opt="input"] string source a name for messages (the file name)
-- @treturn[1] table list of jobs `{ prompt =, name =, ["then"] =, line = }`
-- @treturn[2] nil
-- @treturn[2] table error (kind `"invalid"`, naming the line)
function M.parse(text, source)
  if type(text) ~= "string" then error("batch.parse: argument 'text' must be a string", 2) end
  source = source or "input"
  local jobs = {}
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local s = trim(line:gsub("\r$", ""))
    if s ~= "" and s:sub(1, 1) ~= "#" then
      local where = source .. ":" .. n .. ": "
      if s:sub(1, 1) == "{" then
        local v, err = json.decode(s)
        if type(v) ~= "table" then return nil, invalid(where .. "not a JSON object: " .. tostring(err)) end
        for k in pairs(v) do
          if not JOB_KEYS[k] then
            return nil, invalid(where .. "unknown key '" .. tostring(k) .. "' (use prompt, name, then)")
          end
        end
        if type(v.prompt) ~= "string" or trim(v.prompt) == "" then
          return nil, invalid(where .. "\"prompt\" must be a non-empty string")
        end
        if v.name ~= nil and (type(v.name) ~= "string" or trim(v.name) == "") then
          return nil, invalid(where .. "\"name\" must be a non-empty string")
        end
        local job = { prompt = trim(v.prompt), name = v.name and trim(v.name) or nil, line = n }
        if v["then"] ~= nil then
          local b, why = M.buttons(v["then"])
          if not b then return nil, invalid(where .. "\"then\": " .. why) end
          job["then"] = b
        end
        jobs[#jobs + 1] = job
      else
        jobs[#jobs + 1] = { prompt = s, line = n }
      end
    end
  end
  if #jobs == 0 then return nil, invalid(source .. ": no prompts (blank lines and # comments are skipped)") end
  return jobs
end

--- Reads and parses a batch file (`"-"`: standard input). Blocks (reads the file).
-- @tparam string path
-- @treturn[1] table jobs (see `parse`)
-- @treturn[2] nil
-- @treturn[2] table error (kind `"invalid"`)
function M.read(path)
  if type(path) ~= "string" or path == "" then error("batch.read: argument 'path' must be a non-empty string", 2) end
  local text
  if path == "-" then
    text = io.stdin:read("*a") or ""
  else
    local f, err = io.open(path, "rb")
    if not f then return nil, invalid("cannot read " .. tostring(err)) end
    text = f:read("*a") or ""
    f:close()
  end
  return M.parse(text, path == "-" and "stdin" or path)
end

-- Normalised copies of the jobs given to `run`; raises on wrong types.
local function normalise(jobs, default_then, level)
  if type(jobs) ~= "table" then error("batch.run: argument 'jobs' must be a list", level) end
  local out = {}
  for i = 1, #jobs do
    local j = jobs[i]
    if type(j) == "string" then j = { prompt = j } end
    if type(j) ~= "table" then error("batch.run: jobs[" .. i .. "] must be a prompt or a table", level) end
    if type(j.prompt) ~= "string" or trim(j.prompt) == "" then
      error("batch.run: jobs[" .. i .. "].prompt must be a non-empty string", level)
    end
    if j.name ~= nil and type(j.name) ~= "string" then
      error("batch.run: jobs[" .. i .. "].name must be a string", level)
    end
    local b = default_then
    if j["then"] ~= nil then
      local why
      b, why = M.buttons(j["then"])
      if not b then error("batch.run: jobs[" .. i .. "].then: " .. why, level) end
    end
    local prompt = trim(j.prompt)
    local name = j.name and trim(j.name) or nil
    if name == "" then name = nil end
    out[i] = { index = i, prompt = prompt, name = name, key = name or prompt, ["then"] = b,
      slug = M.slug(name or prompt) }
  end
  if #out == 0 then error("batch.run: argument 'jobs' is empty", level) end
  return out
end

--- The fingerprint of a job list: a hash of every job's key and prompt, in order
-- (follow-up buttons are not part of it, so a rerun may add some). A journal keeps the
-- fingerprint of its batch and refuses another one. Neither blocks nor yields.
-- @tparam table jobs a list of prompts or job tables (as for `run`)
-- @treturn string
function M.fingerprint(jobs)
  local parts = {}
  for i, j in ipairs(normalise(jobs, {}, 3)) do
    parts[i] = j.key .. "\0" .. j.prompt
  end
  return journal.hash(#parts .. "\n" .. table.concat(parts, "\n"))
end

-- ---------------------------------------------------------------- the runner

local Runner = {}
Runner.__index = Runner

local OPTION_KEYS = { dir = true, journal = true, concurrency = true, ["then"] = true, resubmit_unknown = true,
  on_event = true, wait = true, download = true, source = true, cooldown = true, max_cooldown = true,
  recover = true, max_rejections = true }

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

local function join_path(dir, name)
  if dir == "." then return name end
  return (dir:gsub("/+$", "")) .. "/" .. name
end

local function number_opt(opts, k, min)
  local v = opts[k]
  if v == nil then return M.defaults[k] end
  if type(v) ~= "number" or v ~= v or v < min or v == math.huge then
    error("batch.run: option '" .. k .. "' must be a number >= " .. min, 3)
  end
  return v
end

--- Makes a runner without starting it (the CLI uses it to stop a batch on Ctrl-C).
-- Neither blocks nor yields. Options as for `run`.
-- @param client a client from `mj.new`
-- @tparam table jobs
-- @tparam[opt] table opts
-- @treturn Runner with `run()` and `stop(force)`
-- @raise on wrong argument types or unknown option keys
function M.new(client, jobs, opts)
  if type(client) ~= "table" or type(client.imagine) ~= "function" then
    error("batch.run: argument 'client' must be a client from mj.new", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("batch.run: argument 'opts' must be a table", 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTION_KEYS[k] then error("batch.run: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local default_then, why = M.buttons(opts["then"])
  if not default_then then error("batch.run: option 'then': " .. why, 2) end
  local list = normalise(jobs, default_then, 3)
  local dir = opts.dir or "."
  if type(dir) ~= "string" or dir == "" then error("batch.run: option 'dir' must be a non-empty string", 2) end
  if opts.journal ~= nil and (type(opts.journal) ~= "string" or opts.journal == "") then
    error("batch.run: option 'journal' must be a non-empty string", 2)
  end
  if opts.on_event ~= nil and type(opts.on_event) ~= "function" then
    error("batch.run: option 'on_event' must be a function", 2)
  end
  for _, k in ipairs { "wait", "download" } do
    if opts[k] ~= nil and type(opts[k]) ~= "table" then error("batch.run: option '" .. k .. "' must be a table", 2) end
  end
  local concurrency = number_opt(opts, "concurrency", 1)
  if concurrency ~= math.floor(concurrency) then error("batch.run: option 'concurrency' must be a whole number", 2) end
  local self = setmetatable({
    client = client, jobs = list, dir = dir,
    journal_path = opts.journal or join_path(dir, JOURNAL_NAME),
    source = opts.source ~= nil and tostring(opts.source) or nil,
    max = concurrency, limit = concurrency, lowest = concurrency,
    resubmit_unknown = opts.resubmit_unknown and true or false,
    on_event = opts.on_event, wait_opts = opts.wait or {}, download_opts = opts.download or {},
    cooldown = number_opt(opts, "cooldown", 0), max_cooldown = number_opt(opts, "max_cooldown", 0),
    recover = number_opt(opts, "recover", 0), max_rejections = number_opt(opts, "max_rejections", 0),
    queue = {}, active = 0, workers = {}, worker_job = {}, errors = {}, resent = {},
    cooldown_until = 0, last_cut = -math.huge, strikes = 0, calm_since = 0,
    stopping = false, started = false, submits = 0,
  }, Runner)
  return self
end

-- ---------------------------------------------------------------- events

function Runner:emit(ev)
  if ev.job then
    local job = self.jobs[ev.job]
    ev.key, ev.name, ev.base = job.key, job.name, string.format("%03d-%s", job.index, job.slug)
  end
  ev.at = now() - self.t0
  if self.on_event then self.on_event(ev) end
end

local function unit_name(button) return button or "imagine" end

-- ---------------------------------------------------------------- adaptation

function Runner:saturated(reason, retry_after, pause)
  local t = now()
  local old = self.limit
  if t - self.last_cut >= math.max(self.cooldown, 0.5) then
    self.limit = math.max(1, math.floor(self.limit / 2))
    self.last_cut = t
  end
  if self.limit < self.lowest then self.lowest = self.limit end
  local wait = 0
  if pause then
    self.strikes = self.strikes + 1
    wait = retry_after or math.min(self.max_cooldown, self.cooldown * 2 ^ (self.strikes - 1))
    if wait > self.max_cooldown then wait = self.max_cooldown end
    if t + wait > self.cooldown_until then self.cooldown_until = t + wait end
  end
  self.calm_since = t
  self:emit { type = "throttle", limit = self.limit, previous = old, reason = reason, wait = wait }
end

function Runner:calm()
  self.strikes = 0
  local t = now()
  if self.limit < self.max and t - self.calm_since >= self.recover then
    local old = self.limit
    self.limit = self.limit + 1
    self.calm_since = t
    self:emit { type = "throttle", limit = self.limit, previous = old, reason = "calm", wait = 0 }
  end
end

-- ---------------------------------------------------------------- stopping

--- A runner, from `batch.new`: one batch, run once with `run()`, stopped with `stop()`.
-- @type Runner

--- Stops the batch: no new job or submit starts; waits and downloads in flight are
-- cancelled (their jobs stay resumable); a submit in flight is left to get its answer
-- so that the journal records it, unless `force` is set (its job is then `unknown`).
-- `run` returns soon after. Neither blocks nor yields.
-- @tparam[opt] boolean force also cancel submits in flight
function Runner:stop(force)
  self:halt(force, nil)
end

function Runner:halt(force, except)
  self.stopping = true
  if force then self.forced = true end
  for w, h in pairs(self.workers) do
    if w ~= except then
      local job = self.worker_job[w]
      if force or not (job and job.submitting) then h:cancel() end
    end
  end
end

--- The number of submits whose answer has not arrived yet. Neither blocks nor yields.
-- @treturn integer
function Runner:submits_in_flight()
  local n = 0
  for _, job in pairs(self.worker_job) do
    if job.submitting then n = n + 1 end
  end
  return n
end

function Runner:set_fatal(err, w)
  if not self.fatal then
    self.fatal = err
    self:emit { type = "fatal", error = err }
  end
  self:halt(false, w)
end

-- ---------------------------------------------------------------- outcomes

-- How a failed submit leaves its unit: "unknown" (may have been accepted), "saturated"
-- (refused, nothing created, send again later), "fatal" (the batch cannot go on),
-- "final" (this job's submit is refused for good).
local function submit_outcome(err)
  local k = err.kind
  if k == "cancelled" or k == "maybe_accepted" or k == "decode" then return "unknown" end
  if k == "rate_limited" then return "saturated" end
  if k == "api" and (err.code == 23 or err.code == 9 or err.code == 30) then return "saturated" end
  if type(err.status) == "number" and err.status >= 500 then return "unknown" end
  -- transport and timeout: the request never left (the client says maybe_accepted otherwise),
  -- so the gateway is unreachable
  if k == "http" or k == "transport" or k == "timeout" then return "fatal" end
  if err.status == 401 or err.status == 403 then return "fatal" end
  if k == "invalid" and tostring(err.message):find("no API key", 1, true) then return "fatal" end
  return "final"
end

-- How a failed wait/fetch/download leaves a job: "stopped" (cancelled, or an error that
-- stops the whole batch: a refused key), or "error" (this run failed on it; a rerun tries
-- again).
function Runner:read_failed(err, w)
  local k = err.kind
  if k == "cancelled" then return "stopped" end
  if err.status == 401 or err.status == 403
    or (k == "invalid" and tostring(err.message):find("no API key", 1, true)) then
    self:set_fatal(err, w)
    return "stopped"
  end
  return "error"
end

function Runner:record(rec, w)
  local ok, err = self.j:append(rec)
  if not ok then self:set_fatal(err, w) end
  return ok
end

local function file_ok(u, path)
  if not u.file or u.file.path ~= path then return false end
  local size = file_size(path)
  return size ~= nil and (u.file.size == nil or size == u.file.size)
end

-- ---------------------------------------------------------------- one unit

-- Waits for a unit's task; records its end status. Returns the task, or nil, outcome, err.
function Runner:await(job, button, id, w)
  local i = job.index
  local wo = {}
  for k, v in pairs(self.wait_opts) do wo[k] = v end
  local unit = unit_name(button)
  wo.on_progress = function(t)
    self:emit { type = "progress", job = i, unit = unit, id = id, status = t.status, percent = t:percent() }
  end
  local t, err = self.client:wait(id, wo)
  if t then
    if t.status == "MODAL" then
      self:record({ t = "status", job = i, button = button, id = id, status = "MODAL" }, w)
      local msg = "task " .. id .. " is waiting for input (MODAL); a batch cannot answer it"
      self:record({ t = "error", job = i, button = button, kind = "invalid", message = msg, final = true }, w)
      self:emit { type = "status", job = i, unit = unit, id = id, status = "MODAL" }
      return nil, "failed", msg
    end
    if not self:record({ t = "status", job = i, button = button, id = id, status = "SUCCESS" }, w) then
      return nil, "stopped"
    end
    self:emit { type = "status", job = i, unit = unit, id = id, status = "SUCCESS" }
    return t
  end
  if err.kind == "task_failed" then
    local task = err.task or {}
    local status = task.status == "CANCEL" and "CANCEL" or "FAILURE"
    local reason = task.failReason
    if reason == nil or reason == "" then reason = err.message end
    self:record({ t = "status", job = i, button = button, id = id, status = status, reason = reason }, w)
    self:emit { type = "status", job = i, unit = unit, id = id, status = status, reason = reason }
    return nil, "failed", reason
  end
  if err.kind == "not_found" then
    local msg = "task " .. id .. " is not known to the gateway (any more)"
    self:record({ t = "error", job = i, button = button, kind = "not_found", message = msg, final = true }, w)
    return nil, "failed", msg
  end
  return nil, self:read_failed(err, w), err
end

-- Submits a unit (the grid, or a button on `parent`). Returns the new task id, or nil,
-- outcome, err.
function Runner:submit(job, button, parent, w)
  local i = job.index
  local u = self.j:unit(i, button)
  local unit = unit_name(button)
  local tag = string.format("mjb:%s:%d:%s:%d", tostring(self.j.header.tag), i, unit, u.attempts + 1)
  local body, endpoint, custom
  if button == nil then
    body = { prompt = job.prompt, state = tag }
    endpoint = "/mj/submit/imagine"
  else
    local b = parent:button(button)
    if not b or type(b.customId) ~= "string" or b.customId == "" then
      local names = {}
      for _, x in ipairs(parent.buttons or {}) do
        local n = (x.label ~= nil and x.label ~= "") and x.label or x.emoji or x.customId
        names[#names + 1] = tostring(n)
      end
      local msg = string.format("task %s has no button %q (buttons: %s)", tostring(parent.id), button,
        #names > 0 and table.concat(names, " ") or "none")
      self:record({ t = "error", job = i, button = button, kind = "invalid", message = msg, final = true }, w)
      return nil, "failed", msg
    end
    custom = b.customId
    body = { customId = custom, state = tag, taskId = parent.id }
    endpoint = "/mj/submit/action"
  end
  if self.stopping then return nil, "stopped" end
  -- the intent goes to disk before the request leaves: a crash from here on leaves
  -- the unit unknown, never silently resubmitted
  job.submitting = true
  local ok = self:record({ t = "submit", job = i, button = button, endpoint = endpoint,
    body = journal.hash(json.encode(body)), state = tag, key = button == nil and job.key or nil,
    parent = parent and parent.id or nil }, w)
  if not ok then
    job.submitting = false
    return nil, "stopped"
  end
  self.submits = self.submits + 1
  self:emit { type = "submit", job = i, unit = unit, state = tag }
  local id, env
  if button == nil then
    id, env = self.client:imagine(body)
  else
    id, env = self.client:action(parent, custom, { state = tag })
  end
  job.submitting = false
  if id then
    local props = type(env) == "table" and env.properties or nil
    local queue = type(props) == "table" and tonumber(props.numberOfQueues) or nil
    if not self:record({ t = "accepted", job = i, button = button, id = id, code = env and env.code,
      queue = queue }, w) then
      return nil, "stopped"
    end
    self:emit { type = "accepted", job = i, unit = unit, id = id, code = env and env.code, queue = queue }
    if queue and queue > 0 then
      self:saturated("numberOfQueues " .. queue, nil, false)
    else
      self:calm()
    end
    return id
  end
  local err = env
  local outcome = submit_outcome(err)
  if outcome == "unknown" then
    local msg = tostring(err)
    if err.kind == "cancelled" then msg = "the submit was cancelled while in flight; it may have been accepted" end
    self:record({ t = "unknown", job = i, button = button, message = msg }, w)
    self:emit { type = "unknown", job = i, unit = unit, error = err }
    return nil, "unknown", err
  end
  local final = outcome == "final"
  self:record({ t = "rejected", job = i, button = button, kind = err.kind, code = err.code, status = err.status,
    message = tostring(err), final = final }, w)
  self:emit { type = "rejected", job = i, unit = unit, error = err, final = final }
  if outcome == "saturated" then
    self:saturated(err.status == 429 and "HTTP 429" or ("code " .. tostring(err.code)), tonumber(err.retry_after), true)
    return nil, "retry", err
  end
  if outcome == "fatal" then
    self:set_fatal(err, w)
    return nil, "stopped", err
  end
  return nil, "failed", err
end

-- Brings a unit to a SUCCESS task snapshot: re-attaches to a known id, or submits.
-- Returns the task, or nil, outcome ("failed", "unknown", "retry", "stopped", "error"), err.
function Runner:obtain(job, button, parent, w)
  local i = job.index
  local u = self.j:unit(i, button)
  local unit = unit_name(button)
  if u.failed then return nil, "failed", u.failed.message end
  if u.id then
    if u.status == "SUCCESS" then
      local t, err = self.client:fetch(u.id)
      if t and t.status == "SUCCESS" then return t end
      if not t then
        if err.kind == "not_found" then
          local msg = "task " .. u.id .. " is not known to the gateway (any more)"
          self:record({ t = "error", job = i, button = button, kind = "not_found", message = msg, final = true }, w)
          return nil, "failed", msg
        end
        return nil, self:read_failed(err, w), err
      end
    end
    self:emit { type = "attach", job = i, unit = unit, id = u.id }
    return self:await(job, button, u.id, w)
  end
  if u.unknown then
    local k = i .. "\0" .. unit
    if not self.resubmit_unknown or self.resent[k] then
      return nil, "unknown", u.unknown_message
    end
    self.resent[k] = true
  end
  local id, outcome, err = self:submit(job, button, parent, w)
  if not id then return nil, outcome, err end
  return self:await(job, button, id, w)
end

-- Saves a unit's image unless the journal says it is already there.
function Runner:save(job, button, task, path, w)
  local i = job.index
  local saved, info = self.client:download(task, path, self.download_opts)
  if not saved then return nil, self:read_failed(info, w), info end
  local size = tonumber(info and info.size) or file_size(path)
  if not self:record({ t = "file", job = i, button = button, path = path, size = size }, w) then
    return nil, "stopped"
  end
  self:emit { type = "saved", job = i, unit = unit_name(button), path = path, size = size }
  return true
end

-- Runs one job as far as it can go. Returns "done", "failed", "unknown", "retry",
-- "stopped" or "error" (and an error).
function Runner:run_job(job, w)
  local i = job.index
  local grid_path, child_paths = self:paths(job)
  local g = self.j:unit(i)
  local need_children = {}
  for _, b in ipairs(job["then"]) do
    if not file_ok(self.j:unit(i, b), child_paths[b]) then need_children[#need_children + 1] = b end
  end
  local grid_done = file_ok(g, grid_path)
  -- the grid's snapshot is needed to save it, or to press a button not pressed yet
  local press = false
  for _, b in ipairs(need_children) do
    local c = self.j:unit(i, b)
    if not c.id and not c.failed and (not c.unknown or self.resubmit_unknown) then press = true end
  end
  local grid
  if not grid_done or press then
    local outcome, err
    grid, outcome, err = self:obtain(job, nil, nil, w)
    if not grid then return outcome, err end
    if not grid_done then
      if self.stopping then return "stopped" end
      local ok, o2, e2 = self:save(job, nil, grid, grid_path, w)
      if not ok then return o2, e2 end
    end
  end
  local worst, worst_err = "done", nil
  local rank = { done = 0, unknown = 1, failed = 2, error = 3, retry = 4, stopped = 5 }
  for _, b in ipairs(need_children) do
    if self.stopping then return "stopped" end
    local t, outcome, err = self:obtain(job, b, grid, w)
    if t then
      if self.stopping then return "stopped" end
      local ok, o2, e2 = self:save(job, b, t, child_paths[b], w)
      if not ok then outcome, err = o2, e2 end
    end
    if outcome then
      if rank[outcome] > rank[worst] then worst, worst_err = outcome, err end
      if outcome == "stopped" or outcome == "retry" then return outcome, err end
    end
  end
  return worst, worst_err
end

function Runner:paths(job)
  local grid, children = M.file_names(job)
  local out = {}
  for b, name in pairs(children) do out[b] = join_path(self.dir, name) end
  return join_path(self.dir, grid), out
end

-- ---------------------------------------------------------------- workers

function Runner:take()
  while true do
    if self.stopping or #self.queue == 0 then return nil end
    local t = now()
    if self.active < self.limit and t >= self.cooldown_until then
      return table.remove(self.queue, 1)
    end
    -- a slot frees when a job ends, a pause ends at cooldown_until: look again soon
    mj.sleep(math.max(0.01, math.min(0.05, self.cooldown_until - t)))
  end
end

function Runner:worker(w)
  while true do
    local job = self:take()
    if not job then return end
    self.active = self.active + 1
    self.worker_job[w] = job
    self:emit { type = "job", job = job.index }
    local ok, outcome, err = pcall(self.run_job, self, job, w)
    job.submitting = false
    self.worker_job[w] = nil
    self.active = self.active - 1
    if not ok then
      -- an error raised by on_event (or a bug): stop everything and raise it from run
      self.raised = self.raised or outcome
      self:halt(false, w)
      return
    end
    if outcome == "retry" and not self.stopping then
      job.rejections = (job.rejections or 0) + 1
      if job.rejections > self.max_rejections then
        self.errors[job.index] = errors.new { kind = "rate_limited", retryable = true,
          message = "the gateway stayed saturated after " .. job.rejections .. " attempts; rerun later" }
        self:emit { type = "failed", job = job.index, error = self.errors[job.index] }
      else
        table.insert(self.queue, 1, job)
        self:emit { type = "requeue", job = job.index, error = err }
      end
    elseif outcome == "error" or outcome == "failed" then
      if err ~= nil then self.errors[job.index] = err end
      self:emit { type = "failed", job = job.index, error = err }
    elseif outcome == "unknown" then
      self:emit { type = "unknown_job", job = job.index, error = err }
    elseif outcome == "done" then
      self.errors[job.index] = nil
      self.finished = self.finished + 1
      self:emit { type = "done", job = job.index }
    end
  end
end

-- ---------------------------------------------------------------- results

-- The status of a job as the journal tells it (plus this run's errors).
function Runner:result(job)
  local i = job.index
  local grid_path, child_paths = self:paths(job)
  local g = self.j:unit(i)
  local r = { index = i, key = job.key, name = job.name, prompt = job.prompt, tasks = {}, files = {},
    unknown = {}, resumed = self.done_before[i] == true }
  if g.id then r.id = g.id; r.tasks[#r.tasks + 1] = { unit = "imagine", id = g.id } end
  local failed, unknown, pending = nil, false, false
  local function look(u, path, unit)
    if u.failed then
      failed = failed or u.failed.message or "failed"
    elseif u.unknown then
      unknown = true
      r.unknown[#r.unknown + 1] = unit
    elseif file_ok(u, path) then
      r.files[#r.files + 1] = path
    else
      pending = true
    end
  end
  look(g, grid_path, "imagine")
  if not g.failed and not g.unknown then
    for _, b in ipairs(job["then"]) do
      local c = self.j:unit(i, b)
      if c.id then r.tasks[#r.tasks + 1] = { unit = b, id = c.id } end
      look(c, child_paths[b], b)
    end
  end
  local run_err = self.errors[i]
  if failed then
    r.status, r.error, r.final = "failed", failed, true
  elseif run_err and pending then
    r.status, r.error, r.final = "failed", run_err, false
  elseif unknown then
    r.status = "unknown"
    r.error = "the submit of " .. table.concat(r.unknown, ", ")
      .. " may have reached the server but no task id was recorded; it is not sent again"
      .. (self.resubmit_unknown and "" or " without resubmit_unknown")
  elseif pending then
    r.status = "pending"
  else
    r.status = "done"
  end
  if type(r.error) == "table" then r.error = tostring(r.error):gsub("^midjourney: ", "") end
  return r
end

--- Runs the batch (see `run`). A runner runs once. Blocks, or yields inside a
-- scheduler coroutine.
-- @treturn[1] table results
-- @treturn[1] table summary
-- @treturn[2] nil
-- @treturn[2] table error: the journal was refused (kind `"invalid"`, `reason`)
-- @raise errors raised by `on_event`
function Runner:run()
  if self.started then error("batch: a runner runs once", 2) end
  self.started = true
  self.t0 = now()
  self.finished = 0
  local probe = io.open(self.dir, "rb")
  if probe then
    probe:close()
  else
    -- a missing output directory: create it (the journal's open reports any failure)
    os.execute("mkdir -p '" .. self.dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  end
  local j, err = journal.open(self.journal_path, { fingerprint = M.fingerprint(self.jobs), jobs = #self.jobs,
    source = self.source or "this job list", run = { resubmit_unknown = self.resubmit_unknown }, lock = true })
  if not j then return nil, err end
  self.j = j
  local ok, results, summary = pcall(self.drive, self)
  j:close()
  if not ok then error(results, 0) end
  return results, summary
end

-- The body of `run` once the journal is open.
function Runner:drive()
  local j = self.j
  self.done_before = {}
  local counts = { done = 0, failed = 0, unknown = 0 }
  local skipped = {}
  for _, job in ipairs(self.jobs) do
    local grid_path, child_paths = self:paths(job)
    -- a download cut short by a crash leaves NAME.part: never a final file; remove it
    os.remove(grid_path .. ".part")
    for _, p in pairs(child_paths) do os.remove(p .. ".part") end
    local r = self:result(job)
    if r.status == "done" then
      self.done_before[job.index] = true
      counts.done = counts.done + 1
      skipped[#skipped + 1] = { type = "skipped", job = job.index, status = "done" }
    elseif r.status == "failed" then
      counts.failed = counts.failed + 1
      skipped[#skipped + 1] = { type = "skipped", job = job.index, status = "failed", error = r.error }
    elseif r.status == "unknown" and not self.resubmit_unknown and not self.j:unit(job.index).id then
      counts.unknown = counts.unknown + 1
      skipped[#skipped + 1] = { type = "skipped", job = job.index, status = "unknown", error = r.error }
    else
      self.queue[#self.queue + 1] = job
    end
  end
  self:emit { type = "start", total = #self.jobs, queued = #self.queue, done = counts.done,
    failed = counts.failed, unknown = counts.unknown, limit = self.limit, journal = self.journal_path,
    repaired = j.repaired, created = j.created }
  for _, ev in ipairs(skipped) do self:emit(ev) end
  local handles = {}
  for w = 1, math.min(self.max, #self.queue) do
    handles[w] = mj.spawn(function() return self:worker(w) end)
    self.workers[w] = handles[w]
  end
  if #handles > 0 then mj.join(handles) end
  local unwinding = false
  for _, h in pairs(self.workers) do
    local st = h:status()
    if st == "pending" or st == "running" then unwinding = true end
  end
  if unwinding then
    -- our own coroutine was cancelled while the workers ran: cancel them too
    self:halt(true, nil)
  end
  for w, h in pairs(self.workers) do
    if h:status() == "failed" then
      local _, e = h:result()
      self.raised = self.raised or e
    end
    self.workers[w] = nil
  end
  local results = {}
  local summary = { total = #self.jobs, done = 0, failed = 0, unknown = 0, pending = 0, fatal = self.fatal,
    stopped = self.stopping and not self.fatal, submits = self.submits, elapsed = now() - self.t0,
    journal = self.journal_path, lowest_limit = self.lowest }
  for n, job in ipairs(self.jobs) do
    local r = self:result(job)
    results[n] = r
    summary[r.status] = summary[r.status] + 1
  end
  self:emit { type = "end", summary = summary }
  if self.raised then error(self.raised, 0) end
  return results, summary
end

--- @section end

--- Runs a batch. Blocks, or yields inside a scheduler coroutine (`mj.spawn`/`mj.run`).
-- @param client a client from `mj.new`
-- @tparam table jobs a list of prompts (strings) or tables `{ prompt =, name =, ["then"] = }`
--   (`then`: buttons for this job, overriding the option)
-- @tparam[opt] table opts
--   `dir` (output directory, default `"."`; created when missing),
--   `journal` (default `DIR/.mj-batch.jsonl`),
--   `then` (follow-up buttons for every job: a list, `"U1,U3"` or `"all"`),
--   `concurrency` (jobs in flight at most, default 4),
--   `resubmit_unknown` (send once more the submits whose outcome is unknown),
--   `on_event` (function(ev), see below), `wait` (options for `client:wait`: `timeout`,
--   `interval`, `first_delay`...), `download` (options for `client:download`),
--   `source` (a name for the journal's messages, e.g. the batch file),
--   `cooldown` (first pause after a saturated answer, default 2 s), `max_cooldown` (60 s),
--   `recover` (calm seconds before one more job may run, default 30),
--   `max_rejections` (saturated answers one job takes before it fails for this run, default 8)
-- @treturn[1] table results, one per job, in order: `{ index, key, name, prompt,
--   status = "done"|"failed"|"unknown"|"pending", final (a failure a rerun will not retry),
--   resumed (done before this run), id (the grid's task id), tasks = { {unit=, id=} },
--   files = { paths }, unknown = { units }, error (a message) }`
-- @treturn[1] table summary `{ total, done, failed, unknown, pending, fatal (error that stopped
--   the batch, or nil), stopped (stopped by `stop`), submits (sent by this run), elapsed,
--   journal, lowest_limit }`
-- @treturn[2] nil
-- @treturn[2] table error: the journal was refused (kind `"invalid"`, `reason` "mismatch",
--   "corrupt", "version" or "io")
-- @raise on wrong argument types or unknown option keys; errors raised by `on_event`
--
-- Events (`ev.type`; every event carries `at` (seconds since the start); job events carry
-- `job` (position), `key`, `name`, `base` (`NNN-slug`, the start of its file names) and
-- `unit` ("imagine" or a button)): `start` (`total`, `queued`,
-- `done`, `failed`, `unknown`, `limit`, `journal`, `repaired`), `skipped` (finished before:
-- `status`), `job` (a job starts), `submit` (`state`), `accepted` (`id`, `code`, `queue`),
-- `rejected` (`error`, `final`), `unknown` (`error`), `attach` (`id`: waiting again on a
-- known task), `progress` (`id`, `status`, `percent`), `status` (`id`, `status`: SUCCESS,
-- FAILURE, CANCEL, MODAL; `reason`), `saved` (`path`, `size`), `done`, `failed` (`error`),
-- `unknown_job`, `requeue` (saturated: the job waits in the queue again), `throttle`
-- (`limit`, `previous`, `reason`, `wait`), `fatal` (`error`), `end` (`summary`).
function M.run(client, jobs, opts)
  return M.new(client, jobs, opts):run()
end

return M
