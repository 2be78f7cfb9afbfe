--- Downloads: the implementation of `client:download` (documented on the client).
--
-- The body streams to `path .. ".part"`; on success the file is renamed to `path`
-- (atomic on one filesystem); on any failure the partial file is removed. Redirects are
-- followed without any Authorization header, the size is capped while receiving, and
-- the content type must be one of the accepted prefixes. Retried like a read, through
-- the same loop as every API call (`midjourney.transport`). Blocks, or yields in a
-- scheduler coroutine.
-- @module midjourney.download
local errors = require "midjourney.errors"
local options = require "midjourney.options"
local retry = require "midjourney.retry"
local transport = require "midjourney.transport"

local M = {}

--- The options of `client:download` (a schema of `midjourney.options`).
M.options = options.schema("client:download", {
  max_bytes = "bytes", timeout = "seconds", low_speed_time = "seconds", deadline = "seconds",
  content_types = "table", video = "boolean", index = "count",
})

local function pick_url(t, opts)
  if type(t) == "string" then return t end
  local ok, v = pcall(function()
    if opts.video then
      if opts.index and type(t.videoUrls) == "table" then
        local e = t.videoUrls[opts.index]
        return type(e) == "table" and e.url or nil
      end
      return t.videoUrl
    end
    if opts.index then
      local list = t.imageUrls or t.image_urls
      local e = type(list) == "table" and list[opts.index] or nil
      return type(e) == "table" and e.url or e
    end
    return t.imageUrl
  end)
  if ok then return v end
  return nil
end

local function read_head(path, n)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read(n) or ""
  f:close()
  return s
end

--- Downloads with checked arguments (see `client:download`). Blocks, or yields.
-- @param client
-- @param task_or_url a Task or a URL
-- @tparam string path
-- @tparam table opts checked options
-- @return path and info, or nil and the error
function M.run(client, task_or_url, path, opts)
  local url = pick_url(task_or_url, opts)
  if type(url) ~= "string" or url == "" then
    return nil, errors.new { kind = "invalid",
      message = "the task has no " .. (opts.video and "video" or "image") .. " URL yet",
      task = type(task_or_url) == "table" and task_or_url or nil }
  end
  if not url:match("^[Hh][Tt][Tt][Pp][Ss]?://[^%s]+$") or url:find("[%c]") then
    return nil, errors.new { kind = "invalid", message = "not an http(s) URL: " .. errors.redact_url(url) }
  end
  local part = path .. ".part"
  local types = opts.content_types or { "image/", "video/" }
  local timeout = opts.timeout or 300
  local limit = opts.max_bytes or client.max_download
  local shown = errors.redact_url(url)
  local function interpret(rec)
    if rec.status < 200 or rec.status >= 300 then
      local e = errors.new {
        kind = rec.status == 404 and "not_found" or (rec.status == 429 and "rate_limited" or "http"),
        status = rec.status, request_id = rec.request_id,
        message = "download failed: HTTP " .. rec.status .. " " .. errors.snippet(read_head(part, 200), 80) }
      e.retryable = rec.status ~= 404 and retry.transient(e)
      return nil, e
    end
    local ct = (rec.content_type or ""):lower()
    local ok = false
    for _, p in ipairs(types) do
      if ct:sub(1, #p) == p then ok = true end
    end
    if not ok then
      return nil, errors.new { kind = "decode", status = rec.status, retryable = false,
        message = "download is not an image or video (content type '" .. ct .. "')" }
    end
    local renamed, rerr = os.rename(part, path)
    if not renamed then
      return nil, errors.new { kind = "transport", retryable = false,
        message = "cannot rename the download: " .. tostring(rerr) }
    end
    return path, { size = rec.size, content_type = rec.content_type, url = shown }
  end
  local value, info = transport.exchange(client, {
    class = "download", what = url, interpret = interpret, timeout = timeout,
    deadline = opts.deadline or (2 * timeout + 10),
    limit = "max_bytes = " .. string.format("%d", limit) .. " bytes, " .. shown,
    cleanup = function() os.remove(part) end,
    spec = {
      method = "GET", url = url, file = part, follow = true, max_body = limit,
      headers = { "User-Agent: " .. client.user_agent, "Accept: image/*, video/*;q=0.9, */*;q=0.1" },
      low_speed_limit = 1, low_speed_time = opts.low_speed_time or client.low_speed_time or 30,
      verify = client.verify, ca_file = client.ca_file, ca_path = client.ca_path,
    },
  })
  if value == nil and info and info.kind ~= "cancelled" and info.error_kind
    and not info.message:find(shown, 1, true) then
    info.message = info.message .. " (" .. shown .. ")"
  end
  return value, info
end

--- Checks the arguments of `client:download` and downloads. Blocks, or yields.
-- @param client
-- @param task_or_url
-- @param path
-- @param opts
-- @return path and info, or nil and the error
-- @raise on wrong argument types or an unknown option (at the client method's caller)
function M.download(client, task_or_url, path, opts)
  if type(task_or_url) ~= "string" and type(task_or_url) ~= "table" then
    error("client:download: argument 'task_or_url' must be a task or a URL, got " .. type(task_or_url), 3)
  end
  if type(path) ~= "string" or path == "" then
    error("client:download: argument 'path' must be a non-empty string", 3)
  end
  opts = M.options:check(opts, 3)
  return M.run(client, task_or_url, path, opts)
end

return M
