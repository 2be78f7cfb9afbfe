--- Example Neovim plugin on lua-midjourney: `:MjImagine {prompt}`.
--
-- The job (imagine, wait with progress, download) runs in a scheduler coroutine driven
-- by `midjourney.drivers.nvim`; every client call yields, so the editor stays
-- responsive. Configure with `require("mj_example").setup{ api_key = ..., base_url = ...,
-- dir = ... }` or the env vars COMETAPI_KEY / COMETAPI_BASE_URL.
-- @module mj_example

local M = {}

local cfg = {
  api_key = nil,      -- else env COMETAPI_KEY
  base_url = nil,     -- else env COMETAPI_BASE_URL, else https://api.cometapi.com
  dir = nil,          -- download directory, default stdpath("cache") .. "/midjourney"
  interval = nil,     -- poll interval (s), default the client's
  first_delay = nil,  -- first poll delay (s), default the client's
  upscale = nil,      -- a button such as "U1" to press on the grid before downloading
}

local client
local jobs = {}       -- handle -> prompt
local TITLE = { title = "Midjourney" }

local function notify(msg, level)
  vim.notify("Midjourney: " .. msg, level or vim.log.levels.INFO, TITLE)
end

--- Sets options (see the module table `cfg` above). Neither blocks nor yields.
-- @tparam table opts
function M.setup(opts)
  for k, v in pairs(opts or {}) do cfg[k] = v end
  client = nil
end

local function get_client()
  if not client then
    client = require("midjourney").new { api_key = cfg.api_key, base_url = cfg.base_url }
  end
  return client
end

local function short(s)
  s = tostring(s)
  return #s > 40 and (s:sub(1, 37) .. "...") or s
end

local function wait_opts(label)
  local last
  return {
    interval = cfg.interval,
    first_delay = cfg.first_delay,
    -- runs inside the coroutine, in the main loop (not a fast event): vim.notify is fine
    on_progress = function(task)
      local p = task.progress ~= "" and task.progress or "0%"
      local msg = label .. ": " .. (task.status or "?") .. " " .. p
      if msg ~= last then
        last = msg
        notify(msg)
      end
    end,
  }
end

-- The job: runs as a scheduler coroutine; every client call yields.
local function job(prompt)
  local c = get_client()
  local id, err = c:imagine(prompt)
  if not id then return nil, err end
  notify("submitted " .. id .. " (" .. short(prompt) .. ")")
  local task
  task, err = c:wait(id, wait_opts(id))
  if not task then return nil, err end
  if task.status ~= "SUCCESS" then return nil, "task " .. id .. " ended " .. tostring(task.status) end
  if cfg.upscale then
    local uid
    uid, err = c:action(task, cfg.upscale)
    if not uid then return nil, err end
    task, err = c:wait(uid, wait_opts(cfg.upscale))
    if not task then return nil, err end
    if task.status ~= "SUCCESS" then return nil, "task " .. uid .. " ended " .. tostring(task.status) end
  end
  local dir = cfg.dir or (vim.fn.stdpath("cache") .. "/midjourney")
  vim.fn.mkdir(dir, "p")
  local path = dir .. "/" .. task.id .. ".png"
  local ok
  ok, err = c:download(task, path)
  if not ok then return nil, err end
  return task, path
end

--- `:MjImagine {prompt}`: starts a job and returns its handle at once. Progress and
-- the result are reported with `vim.notify`; `on_done(task, path)` or
-- `on_done(nil, err)` is called after the final message (through vim.schedule).
-- Neither blocks nor yields.
-- @tparam string prompt
-- @tparam[opt] function on_done
-- @return the job's handle (`status()`, `cancel()`)
function M.imagine(prompt, on_done)
  if type(prompt) ~= "string" or prompt:match("^%s*$") then
    notify("usage: :MjImagine {prompt}", vim.log.levels.WARN)
    return nil
  end
  local driver = require("midjourney.drivers.nvim")
  local h
  h = driver.run(job, function(task, path_or_err)
    jobs[h] = nil
    if task then
      notify("done " .. task.id .. " -> " .. path_or_err)
    elseif type(path_or_err) == "table" and path_or_err.kind == "cancelled" then
      -- the user asked for it (:MjCancel): information, not an error
      notify("cancelled (" .. short(prompt) .. ")", vim.log.levels.INFO)
    else
      notify("failed: " .. tostring(path_or_err), vim.log.levels.ERROR)
    end
    if on_done then on_done(task, path_or_err) end
  end, prompt)
  jobs[h] = prompt
  return h
end

--- `:MjCancel`: cancels every running job; each reports "cancelled" as information
-- (`vim.log.levels.INFO`), not as an error, and its `on_done` gets `nil, err` with
-- `err.kind == "cancelled"`.
-- Neither blocks nor yields.
-- @treturn integer the number of jobs cancelled
function M.cancel_all()
  local driver = require("midjourney.drivers.nvim")
  local n = 0
  for h in pairs(jobs) do
    if driver.cancel(h) then n = n + 1 end
  end
  return n
end

--- The number of running jobs. Neither blocks nor yields.
function M.running()
  local n = 0
  for _ in pairs(jobs) do n = n + 1 end
  return n
end

return M
