---@meta
-- LuaCATS definitions of midjourney.journal for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---A journal record: `t` (batch, run, submit, accepted, rejected, unknown, status, file, error),
---`job` (1-based), `button` (an action child), and the type's fields.
---@class midjourney.journal.Record
---@field t string
---@field job? integer
---@field button? string
---@field [string] any

---The state of one unit (a job's grid or an action child).
---@class midjourney.journal.Unit
---@field id? string
---@field code? integer
---@field queue? integer
---@field attempts integer
---@field pending boolean
---@field unknown boolean
---@field rejected? table
---@field status? string
---@field reason? string
---@field file? { path: string, size: integer }
---@field failed? { kind: string, message: string }
---@field parent? string
---@field state? string

---The state of one job.
---@class midjourney.journal.JobState
---@field index integer
---@field key? string
---@field grid midjourney.journal.Unit
---@field children table<string, midjourney.journal.Unit>
---@field order string[]

---The state of every job, rebuilt from the records.
---@class midjourney.journal.State
---@field header? midjourney.journal.Record
---@field runs? integer
---@field jobs table<integer, midjourney.journal.JobState>

---The options of `journal.open`.
---@class midjourney.JournalOptions
---@field fingerprint string # identifies the job list (batch.fingerprint)
---@field jobs? integer # the number of jobs
---@field source? string # a name for messages
---@field run? table # fields of the `run` record to append
---@field lock? boolean # one batch at a time, default false

---An open journal, from `journal.open`.
---@class midjourney.journal.Journal
---@field path string
---@field header midjourney.journal.Record
---@field state midjourney.journal.State
---@field repaired integer # bytes of a torn last line dropped on reading
---@field created boolean
local Journal = {}

---Releases the journal's lock (idempotent). Blocks briefly (removes the lock file).
function Journal:close() end

---Appends one record as one line, then applies it to `state`. Blocks (local file I/O).
---@param rec midjourney.journal.Record
---@return true? ok
---@return midjourney.Error? err
function Journal:append(rec) end

---The state of one job. Neither blocks nor yields.
---@param i integer
---@return midjourney.journal.JobState
function Journal:job(i) end

---The state of a job's grid (`button` nil) or of one of its action children. Neither blocks nor yields.
---@param i integer
---@param button? string
---@return midjourney.journal.Unit
function Journal:unit(i, button) end

---The batch journal: an append-only JSON-lines file. Reading and writing block (local I/O);
---nothing yields.
---@class midjourney.journal
---@field VERSION integer # the format version
---@field TYPES table<string, boolean> # the record types
local M = {}

---A 64-bit hash of a string as 16 hex digits. Neither blocks nor yields.
---@param s string
---@return string
function M.hash(s) end

---A fresh unit state. Neither blocks nor yields.
---@return midjourney.journal.Unit
function M.new_unit() end

---Applies one record to a state. Neither blocks nor yields.
---@param st midjourney.journal.State
---@param rec midjourney.journal.Record
function M.apply(st, rec) end

---Parses a journal's text. Neither blocks nor yields.
---@param text string
---@param njobs? integer
---@return midjourney.journal.Record[]? records
---@return integer|midjourney.Error dropped_or_err # bytes dropped
---@return string? kept # the text that was kept
function M.parse(text, njobs) end

---Rebuilds the state of every job from a list of records. Neither blocks nor yields.
---@param records midjourney.journal.Record[]
---@return midjourney.journal.State
function M.replay(records) end

---Reads a journal without opening it for writing. Blocks (reads the file).
---@param path string
---@return midjourney.journal.State? state # with `records` and `dropped`
---@return midjourney.Error? err
function M.load(path) end

---Opens a journal for a batch. Blocks (local file I/O).
---@param path string
---@param opts midjourney.JournalOptions
---@return midjourney.journal.Journal? journal
---@return midjourney.Error? err
function M.open(path, opts) end

return M
