--- The batch journal: an append-only JSON-lines file that remembers, for every job
-- of a batch, what was sent and what came back, so that a batch that died can be
-- resumed without paying twice.
--
--     local journal = require "midjourney.journal"
--     local j = assert(journal.open("out/.mj-batch.jsonl", { fingerprint = fp, jobs = 20 }))
--     local unit = j:unit(3)            -- the grid of job 3 (j:unit(3, "U1") its U1 child)
--     if not unit.id and not unit.unknown then
--       assert(j:append { t = "submit", job = 3, endpoint = "/mj/submit/imagine", body = hash, state = tag })
--       -- ... send the submit, then record what came back:
--       assert(j:append { t = "accepted", job = 3, id = task_id, code = 1 })
--     end
--
-- **Records** (one JSON object per line; `job` is the job's position, 1-based; `button`
-- names an action child such as `"U2"` and is absent for the job's own grid):
--
-- - `batch`: the first line: `v` (format version, 1), `fp` (fingerprint of the job
--   list), `jobs` (their number), `tag` (random; goes into every `state` sent),
--   `source` (where the jobs came from, for messages).
-- - `run`: one per run that opened the journal (`at`, `resubmit_unknown`).
-- - `submit`: the intent, written **before** the request is sent: `endpoint`, `body`
--   (a hash of the request body), `state` (the tag sent with it), `key` (the job's key;
--   grid only), `parent` (the parent task id; children only).
-- - `accepted`: the answer had a task id: `id`, `code`, `queue` (numberOfQueues).
-- - `rejected`: the server refused and created nothing: `kind`, `code`, `status`,
--   `message`, `final` (true: do not try again; false: may be sent again later).
-- - `unknown`: the submit's fate is unknown (it may have been accepted): `message`.
-- - `status`: a status worth keeping (SUCCESS, FAILURE, CANCEL, MODAL): `id`,
--   `status`, `reason`.
-- - `file`: a finished download: `path`, `size`.
-- - `error`: a failure that is not a submit's answer (a button the task lacks, a task
--   that vanished, ...): `kind`, `message`, `final`.
--
-- A `submit` without a later `accepted`, `rejected` or `unknown` means the process died
-- between sending and recording the answer: on reload that unit is **unknown**.
--
-- **Writing.** Each record is one line written with a single append (the file is
-- opened in append mode, the line is written in one piece and the file is closed,
-- which flushes it) before the caller goes on to the network step that depends on it.
-- A process that is killed leaves at most one torn last line; it survives a crash of
-- the process, not a power cut (plain Lua cannot `fsync`).
--
-- **Reading.** `open` reads the whole file and rebuilds the state of every job. A torn
-- last line (a crash mid-write) is dropped, and the file is rewritten without it
-- (through a temporary file and a rename) so later appends start on a clean line. Any
-- other line that is not a record is refused: the journal is corrupt. Opening never
-- sends anything.
--
-- Nothing in this module yields; reading and writing the file block (local I/O).
-- Errors are `nil, err` with `err.kind == "invalid"` and `err.reason` one of
-- `"mismatch"` (another batch's journal), `"corrupt"`, `"version"`, `"busy"` (another
-- batch uses it), `"io"`.
-- @module midjourney.journal

local json = require "midjourney.json"
local errors = require "midjourney.errors"

local M = {}

--- The format version written in the `batch` record.
M.VERSION = 1

--- The record types.
M.TYPES = { batch = true, run = true, submit = true, accepted = true, rejected = true, unknown = true,
  status = true, file = true, error = true }

local function fail(reason, message)
  return nil, errors.new { kind = "invalid", reason = reason, message = message }
end

-- ---------------------------------------------------------------- hashing

local P1, P2 = 4294967291, 4294967279 -- primes below 2^32: every product stays exact in a double

--- A 64-bit hash of a string as 16 hex digits (two polynomial hashes modulo primes).
-- For identifying bodies and job lists, not for security. The same on Lua 5.4 and
-- LuaJIT. Neither blocks nor yields.
-- @tparam string s
-- @treturn string 16 lowercase hex digits
function M.hash(s)
  if type(s) ~= "string" then error("journal.hash: argument 's' must be a string, got " .. type(s), 2) end
  local h1, h2 = 5381, 7919
  local n = #s
  local i = 1
  while i <= n do
    local j = math.min(i + 63, n)
    local bytes = { s:byte(i, j) }
    for k = 1, #bytes do
      local b = bytes[k]
      h1 = (h1 * 33 + b) % P1
      h2 = (h2 * 131 + b + 1) % P2
    end
    i = j + 1
  end
  h1 = (h1 * 33 + n % 65536) % P1
  return string.format("%08x%08x", h1, h2)
end

-- ---------------------------------------------------------------- state

--- A fresh unit state (the grid of a job, or one action child).
-- Fields: `id` (task id, a string), `code`, `queue`, `attempts` (submits recorded),
-- `pending` (a submit without an answer yet), `unknown` (the last submit's fate is
-- unknown), `rejected` (the last refusal), `status`, `reason`, `file` (`{path, size}`),
-- `failed` (`{kind, message}`: nothing more will be tried), `parent`, `state`.
-- Neither blocks nor yields.
-- @treturn table
function M.new_unit()
  return { attempts = 0, pending = false, unknown = false }
end

local function job_state(st, i)
  local job = st.jobs[i]
  if not job then
    job = { index = i, grid = M.new_unit(), children = {}, order = {} }
    st.jobs[i] = job
  end
  return job
end

local function unit_of(st, i, button)
  local job = job_state(st, i)
  if button == nil then return job.grid end
  local u = job.children[button]
  if not u then
    u = M.new_unit()
    job.children[button] = u
    job.order[#job.order + 1] = button
  end
  return u
end

-- Checks one decoded record; returns nil or a message.
local function check(rec, njobs)
  if type(rec) ~= "table" then return "not an object" end
  local t = rec.t
  if type(t) ~= "string" or not M.TYPES[t] then return "unknown record type " .. tostring(t) end
  if t == "batch" or t == "run" then return nil end
  local i = rec.job
  if type(i) ~= "number" or i < 1 or i ~= math.floor(i) or (njobs and i > njobs) then
    return "bad job number " .. tostring(i)
  end
  if rec.button ~= nil and type(rec.button) ~= "string" then return "bad button" end
  if (t == "accepted" or t == "status") and type(rec.id) ~= "string" then return "missing task id" end
  if t == "file" and type(rec.path) ~= "string" then return "missing path" end
  return nil
end

--- Applies one record to a state (the replay step, also used after each append).
-- Neither blocks nor yields.
-- @tparam table st `{ jobs = {} }`
-- @tparam table rec a record
function M.apply(st, rec)
  local t = rec.t
  if t == "batch" then st.header = rec; return end
  if t == "run" then st.runs = (st.runs or 0) + 1; return end
  local u = unit_of(st, rec.job, rec.button)
  if t == "submit" then
    u.attempts = u.attempts + 1
    u.pending, u.unknown, u.rejected = true, false, nil
    u.state, u.parent = rec.state, rec.parent
    if rec.key ~= nil then job_state(st, rec.job).key = rec.key end
  elseif t == "accepted" then
    u.pending, u.unknown = false, false
    u.id, u.code, u.queue = rec.id, rec.code, rec.queue
  elseif t == "rejected" then
    u.pending = false
    u.rejected = { kind = rec.kind, code = rec.code, status = rec.status, message = rec.message, final = rec.final }
    if rec.final then u.failed = { kind = rec.kind or "api", message = rec.message } end
  elseif t == "unknown" then
    u.pending, u.unknown = false, true
    u.unknown_message = rec.message
  elseif t == "status" then
    u.id = u.id or rec.id
    u.status, u.reason = rec.status, rec.reason
    if rec.status == "FAILURE" or rec.status == "CANCEL" then
      u.failed = { kind = "task_failed", message = rec.reason or ("task " .. rec.status) }
    end
  elseif t == "file" then
    u.file = { path = rec.path, size = rec.size }
  elseif t == "error" then
    if rec.final then u.failed = { kind = rec.kind or "invalid", message = rec.message } end
  end
end

-- A submit left pending at the end of a replay is unknown: the process died after
-- sending it (or while sending it) and before recording its answer.
local function settle(st)
  for _, job in pairs(st.jobs) do
    local function one(u)
      if u.pending then
        u.pending, u.unknown = false, true
        u.unknown_message = u.unknown_message or "no answer was recorded for this submit (the process stopped)"
      end
    end
    one(job.grid)
    for _, u in pairs(job.children) do one(u) end
  end
end

-- ---------------------------------------------------------------- reading

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text or ""
end

--- Parses journal text into records. A torn last line is dropped (reported as
-- `dropped`, its byte count); any other line that is not a record is an error.
-- Neither blocks nor yields.
-- @tparam string text
-- @tparam[opt] integer njobs when given, job numbers above it are refused
-- @treturn[1] table records
-- @treturn[1] integer bytes dropped (0 when the last line was whole)
-- @treturn[1] string the text that was kept
-- @treturn[2] nil
-- @treturn[2] table error (`reason = "corrupt"`)
function M.parse(text, njobs)
  local lines, starts = {}, {}
  local pos = 1
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    starts[#starts + 1] = pos
    if nl then
      lines[#lines + 1] = text:sub(pos, nl - 1)
      pos = nl + 1
    else
      lines[#lines + 1] = text:sub(pos)
      pos = #text + 1
    end
  end
  local records = {}
  local dropped, keep = 0, #text
  for n, line in ipairs(lines) do
    local rec, why
    if line:match("^%s*$") then
      why = "empty line"
    else
      local v, err = json.decode(line)
      if v == nil then why = "not JSON (" .. tostring(err) .. ")" else rec = v; why = check(v, njobs) end
    end
    if why then
      if n == #lines then
        -- the last line: a crash while it was written; drop it
        dropped = #text - starts[n] + 1
        keep = starts[n] - 1
        break
      end
      return fail("corrupt", string.format("journal line %d is not a record (%s); the journal is damaged", n, why))
    end
    records[#records + 1] = rec
  end
  return records, dropped, text:sub(1, keep)
end

--- Rebuilds the state of every job from a list of records. Neither blocks nor yields.
-- @tparam table records
-- @treturn table `{ header =, runs =, jobs = { [i] = { index, key, grid = unit, children = { [button] = unit },
--   order = { buttons } } } }`
function M.replay(records)
  local st = { jobs = {} }
  for _, rec in ipairs(records) do M.apply(st, rec) end
  settle(st)
  return st
end

--- Reads a journal without opening it for writing and without repairing it.
-- Blocks (reads the file).
-- @tparam string path
-- @treturn[1] table state (see `replay`), with `records` and `dropped`
-- @treturn[2] nil
-- @treturn[2] table error (`reason` "io" when the file cannot be read, "corrupt")
function M.load(path)
  if type(path) ~= "string" then error("journal.load: argument 'path' must be a string", 2) end
  local text = read_all(path)
  if not text then return fail("io", "cannot read the journal " .. path) end
  local records, dropped = M.parse(text)
  if not records then return nil, dropped end
  local st = M.replay(records)
  st.records, st.dropped = records, dropped
  return st
end

-- ---------------------------------------------------------------- the open journal

local Journal = {}
Journal.__index = Journal

local function write_line(path, line)
  local f, err = io.open(path, "ab")
  if not f then return nil, err end
  -- one buffer as large as the line, so the line leaves in one write(2) at close
  f:setvbuf("full", #line + 64)
  local ok, werr = f:write(line)
  local cok, cerr = f:close()
  if not ok then return nil, werr end
  if not cok then return nil, cerr end
  return true
end

local function date(t)
  return os.date("!%Y-%m-%d %H:%M:%S UTC", t)
end

local function random_tag()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(6)
  if f then f:close() end
  if bytes and #bytes == 6 then
    return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
  end
  return M.hash(tostring(os.time()) .. tostring(os.clock()) .. tostring({})):sub(1, 12)
end

-- ---------------------------------------------------------------- locking

local held = {} -- paths this process holds with `lock = true`

local function own_pid()
  local s = read_all("/proc/self/stat")
  return s and s:match("^(%d+)") or nil
end

local function pid_alive(pid)
  local s = read_all("/proc/" .. pid .. "/stat")
  return s ~= nil and not s:match("^%d+ %b() [ZX]")
end

-- Takes the journal's lock (see `open`); returns true or nil, err.
local function lock(self)
  local path = self.path
  if held[path] then
    return fail("busy", path .. " is already in use by another batch in this process")
  end
  local pid = own_pid()
  if pid then
    local file = path .. ".lock"
    local other = (read_all(file) or ""):match("^(%d+)")
    if other and other ~= pid and pid_alive(other) then
      return fail("busy", string.format("%s is in use by another batch (process %s): wait for it to end or "
        .. "stop it (if no batch runs, remove %s)", path, other, file))
    end
    local f = io.open(file, "wb")
    if f then
      f:write(pid, "\n")
      f:close()
      self.lock_file, self.pid = file, pid
    end
  end
  held[path] = true
  self.held = true
  return true
end

--- An open journal, from `journal.open`: fields `path`, `header` (the `batch` record),
-- `state` (every job's state, rebuilt from the records), `repaired` (bytes of a torn
-- last line dropped on reading), `created` (the file was created by this `open`).
-- @type Journal

--- Releases the journal's lock (when `open` took one). Idempotent; the journal can
-- still be read (`state`) but should not be appended to any more. Blocks briefly
-- (removes the lock file).
function Journal:close()
  if self.lock_file and (read_all(self.lock_file) or ""):match("^(%d+)") == self.pid then
    os.remove(self.lock_file)
  end
  self.lock_file = nil
  if self.held then
    held[self.path] = nil
    self.held = nil
  end
end

--- @section end

--- Opens a journal for a batch: reads it (when it exists) and rebuilds every job's
-- state, refuses a journal written for another job list, drops a torn last line,
-- or creates the file with its `batch` record. Blocks (local file I/O); sends nothing.
--
-- With `lock`, only one batch at a time may use the journal: a second `open` in the
-- same process is refused until `close`, and on Linux `PATH.lock` holds the process
-- id, so a batch in another process is refused while that process lives (a lock left
-- by a process that died is taken over). Best effort: two processes starting in the
-- same instant are not told apart.
-- @tparam string path
-- @tparam table opts `fingerprint` (string, required: identifies the job list, see
--   `midjourney.batch.fingerprint`), `jobs` (number of jobs), `source` (a name for
--   messages, e.g. the batch file), `run` (a table: fields of the `run` record to append;
--   default none), `lock` (boolean, default false)
-- @treturn[1] Journal the open journal (`path`, `header`, `state`, `repaired` bytes dropped, `created`)
-- @treturn[2] nil
-- @treturn[2] table error: kind `"invalid"`, `reason` "mismatch", "corrupt", "version", "busy" or "io"
-- @raise on wrong argument types
function M.open(path, opts)
  if type(path) ~= "string" or path == "" then error("journal.open: argument 'path' must be a non-empty string", 2) end
  if type(opts) ~= "table" then error("journal.open: argument 'opts' must be a table", 2) end
  for k in pairs(opts) do
    if k ~= "fingerprint" and k ~= "jobs" and k ~= "source" and k ~= "run" and k ~= "lock" then
      error("journal.open: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  if type(opts.fingerprint) ~= "string" then error("journal.open: option 'fingerprint' must be a string", 2) end
  local njobs = opts.jobs
  if njobs ~= nil and type(njobs) ~= "number" then error("journal.open: option 'jobs' must be a number", 2) end
  local self = setmetatable({ path = path, repaired = 0, created = false }, Journal)
  if opts.lock then
    local ok, err = lock(self)
    if not ok then return nil, err end
  end
  local j, err = self:_read(opts, njobs)
  if not j then self:close() end
  return j, err
end

-- The body of `open` after the lock.
function Journal:_read(opts, njobs)
  local path = self.path
  local text = read_all(path)
  local records = {}
  if text and text ~= "" then
    local recs, dropped, kept = M.parse(text)
    if not recs then
      local e = dropped
      e.message = path .. ": " .. e.message
      return nil, e
    end
    records = recs
    local h = records[1]
    if h and h.t ~= "batch" then
      return fail("corrupt", path .. " is not a batch journal (its first record is not a batch header)")
    end
    if h and type(h.v) == "number" and h.v > M.VERSION then
      return fail("version", path .. " was written by a newer version (journal format " .. tostring(h.v) .. ")")
    end
    if h and h.fp ~= opts.fingerprint then
      return fail("mismatch", string.format(
        "%s belongs to another batch (%s, %s jobs, started %s), not to %s (%s jobs); "
          .. "give another --journal or output directory, or remove it",
        path, tostring(h.source or "unknown source"), tostring(h.jobs or "?"),
        h.at and date(h.at) or "at an unknown time", tostring(opts.source or "this job list"), tostring(njobs or "?")))
    end
    if njobs then
      for n, rec in ipairs(records) do
        local why = check(rec, njobs)
        if why then return fail("corrupt", string.format("%s: record %d: %s", path, n, why)) end
      end
    end
    if dropped > 0 then
      -- rewrite without the torn line, so that the next append starts on its own line
      local tmp = path .. ".tmp"
      local f, err = io.open(tmp, "wb")
      if not f then return fail("io", "cannot repair the journal " .. path .. ": " .. tostring(err)) end
      local ok, werr = f:write(kept)
      local cok, cerr = f:close()
      if not ok or not cok then
        os.remove(tmp)
        return fail("io", "cannot repair the journal " .. path .. ": " .. tostring(werr or cerr))
      end
      local rok, rerr = os.rename(tmp, path)
      if not rok then
        os.remove(tmp)
        return fail("io", "cannot repair the journal " .. path .. ": " .. tostring(rerr))
      end
      self.repaired = dropped
    end
  end
  self.state = M.replay(records)
  if not self.state.header then
    local header = { t = "batch", v = M.VERSION, fp = opts.fingerprint, jobs = njobs, tag = random_tag(),
      source = opts.source, at = os.time() }
    local ok, err = self:append(header)
    if not ok then return nil, err end
    self.created = true
  end
  self.header = self.state.header
  if opts.run then
    local rec = { t = "run", at = os.time() }
    for k, v in pairs(opts.run) do rec[k] = v end
    local ok, err = self:append(rec)
    if not ok then return nil, err end
  end
  return self
end

--- @type Journal

--- Appends one record (a table with `t` and its fields; see the module doc) as one
-- line, closes the file (which flushes it), then applies it to `state`. After a failed
-- write every later append fails too. Blocks (local file I/O).
-- @tparam table rec
-- @treturn[1] true
-- @treturn[2] nil
-- @treturn[2] table error (kind `"invalid"`, `reason = "io"`)
-- @raise when `rec` is not a valid record
function Journal:append(rec)
  local why = check(rec)
  if why then error("journal:append: " .. why, 2) end
  if self.broken then return nil, self.broken end
  local line = json.encode(rec) .. "\n"
  local ok, err = write_line(self.path, line)
  if not ok then
    local _, e = fail("io", "cannot write the journal " .. self.path .. ": " .. tostring(err))
    self.broken = e
    return nil, e
  end
  M.apply(self.state, rec)
  return true
end

--- The state of one job (created empty when the journal has nothing on it).
-- Neither blocks nor yields.
-- @tparam integer i the job's position (1-based)
-- @treturn table `{ index, key, grid, children, order }`
function Journal:job(i)
  return job_state(self.state, i)
end

--- The state of a job's grid (`button` nil) or of one of its action children.
-- Neither blocks nor yields.
-- @tparam integer i the job's position
-- @tparam[opt] string button e.g. "U2"
-- @treturn table the unit (see `new_unit`)
function Journal:unit(i, button)
  return unit_of(self.state, i, button)
end

return M
