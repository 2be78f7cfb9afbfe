---@meta
-- LuaCATS definitions of midjourney.batch for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---A job of a batch: a prompt, or a table.
---@class midjourney.batch.Job
---@field prompt string
---@field name? string # the file-name slug comes from it (else from the prompt)
---@field then? string|string[] # follow-up buttons for this job ("U1,U3", "all" or a list)

---The options of `batch.run` and `batch.new`.
---@class midjourney.BatchOptions
---@field dir? string # output directory, default "." (created when missing)
---@field journal? string # default DIR/.mj-batch.jsonl
---@field then? string|string[] # follow-up buttons for every job: a list, "U1,U3" or "all"
---@field concurrency? integer # jobs in flight at most, default 4
---@field resubmit_unknown? boolean # send once more the submits whose outcome is unknown
---@field on_event? fun(ev: midjourney.batch.Event) # every event
---@field wait? midjourney.WaitOptions # options for client:wait
---@field download? midjourney.DownloadOptions # options for client:download
---@field source? string # a name for the journal's messages (the batch file)
---@field cooldown? number # first pause after a saturated answer, default 2
---@field max_cooldown? number # default 60
---@field recover? number # calm seconds before one more job may run, default 30
---@field max_rejections? integer # saturated answers one job takes before it fails this run, default 8

---An event of a batch: `type` is start, skipped, job, submit, accepted, rejected, unknown, attach,
---progress, status, saved, done, failed, unknown_job, requeue, throttle, fatal or end.
---@class midjourney.batch.Event
---@field type string
---@field at number # seconds since the start
---@field job? integer # the job's position
---@field key? string
---@field name? string
---@field base? string # NNN-slug
---@field unit? string # "imagine" or a button
---@field [string] any

---One job's result.
---@class midjourney.batch.Result
---@field index integer
---@field key string
---@field name? string
---@field prompt string
---@field status "done"|"failed"|"unknown"|"pending"
---@field final? boolean # a failure a rerun will not retry
---@field resumed? boolean # done before this run
---@field id? string # the grid's task id
---@field tasks { unit: string, id: string }[]
---@field files string[]
---@field unknown? string[] # units whose submit's fate is unknown
---@field error? string

---A batch's summary.
---@class midjourney.batch.Summary
---@field total integer
---@field done integer
---@field failed integer
---@field unknown integer
---@field pending integer
---@field fatal? midjourney.Error # the error that stopped the batch
---@field stopped boolean # stopped by `stop`
---@field submits integer # sent by this run
---@field elapsed number
---@field journal string
---@field lowest_limit integer

---A runner, from `batch.new`: one batch, run once.
---@class midjourney.batch.Runner
local Runner = {}

---Stops the batch; waits and downloads in flight are cancelled. Neither blocks nor yields.
---@param force? boolean # also cancel submits in flight (their jobs become unknown)
function Runner:stop(force) end

---The number of submits whose answer has not arrived yet. Neither blocks nor yields.
---@return integer
function Runner:submits_in_flight() end

---Runs the batch. Blocks, or yields inside a scheduler coroutine.
---@return midjourney.batch.Result[]? results
---@return midjourney.batch.Summary|midjourney.Error summary_or_err
function Runner:run() end

---Batches: many prompts, follow-up buttons and downloads, with a journal so that a batch that
---died is resumed without paying twice.
---@class midjourney.batch
---@field ALL string[] # the buttons "all" stands for
---@field defaults table<string, number> # defaults of run's options
local M = {}

---A file-name slug of a name or a prompt. Neither blocks nor yields.
---@param text string
---@return string
function M.slug(text) end

---The output file names of a normalised job. Neither blocks nor yields.
---@param job table
---@return string grid # NNN-slug.png
---@return table<string, string> follow_ups # by button
function M.file_names(job) end

---Expands a follow-up list ("all", "U1,U3" or a list). Neither blocks nor yields.
---@param spec string|string[]
---@return string[]? buttons
---@return string? why
function M.buttons(spec) end

---Parses a batch file's text (one prompt per line, or JSON lines). Neither blocks nor yields.
---@param text string
---@param source? string # a name for messages
---@return midjourney.batch.Job[]? jobs
---@return midjourney.Error? err
function M.parse(text, source) end

---Reads and parses a batch file ("-": standard input). Blocks (reads the file).
---@param path string
---@return midjourney.batch.Job[]? jobs
---@return midjourney.Error? err
function M.read(path) end

---The fingerprint of a job list. Neither blocks nor yields.
---@param jobs (string|midjourney.batch.Job)[]
---@return string
function M.fingerprint(jobs) end

---Makes a runner without starting it. Neither blocks nor yields.
---@param client midjourney.Client
---@param jobs (string|midjourney.batch.Job)[]
---@param opts? midjourney.BatchOptions
---@return midjourney.batch.Runner
function M.new(client, jobs, opts) end

---Runs a batch. Blocks, or yields inside a scheduler coroutine.
---@param client midjourney.Client
---@param jobs (string|midjourney.batch.Job)[]
---@param opts? midjourney.BatchOptions
---@return midjourney.batch.Result[]? results
---@return midjourney.batch.Summary|midjourney.Error summary_or_err
function M.run(client, jobs, opts) end

return M
