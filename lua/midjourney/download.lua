--- `client:download(task_or_url, path, opts)`: stream an image or video to a
-- file. Blocks, or yields in a scheduler coroutine.
--
-- The body goes to `path .. ".part"` (constant memory), redirects are followed
-- without any Authorization header (image links need none; the API key is
-- never sent), the size is capped while receiving, the content type must be
-- `image/*` or `video/*`, and on success the file is renamed to `path`
-- (atomic on one filesystem). On any failure the partial file is removed.
-- Retried like a read (transport errors, 408, 409, 429, 5xx, 524).
-- @module midjourney.download
local scheduler = require "midjourney.scheduler"

local M = {}

local function pick_url(t, opts)
  if type(t) == "string" then return t end
  local ok, v = pcall(function()
    if opts.video then
      if type(opts.index) == "number" and type(t.videoUrls) == "table" then
        local e = t.videoUrls[opts.index]
        return type(e) == "table" and e.url or nil
      end
      return t.videoUrl
    end
    if type(opts.index) == "number" then
      local list = t.imageUrls or t.image_urls
      local e = type(list) == "table" and list[opts.index] or nil
      return type(e) == "table" and e.url or e
    end
    return t.imageUrl
  end)
  if ok then return v end
  return nil
end

--- Install `download` as a client method.
-- Neither blocks nor yields.
-- @tparam table methods client methods
-- @tparam table env `{errors=, retry=, now=, sleep=}` from the client
function M.install(methods, env)
  local errors, retry = env.errors, env.retry

  --- Download a task's image (or a URL) to `path`. Blocks, or yields.
  -- @param self the client
  -- @param task_or_url a Task (its `imageUrl`; `opts.video` for `videoUrl`;
  --   `opts.index` for `imageUrls[i]`/`videoUrls[i]`) or an http(s) URL
  -- @tparam string path destination file
  -- @tparam[opt] table opts `max_bytes` (client `max_download`), `timeout`
  --   (300 s), `low_speed_time` (client option, else 30 s: abort a stalled
  --   transfer), `deadline`, `content_types` (list of accepted prefixes,
  --   default `{"image/", "video/"}`), `video`, `index`
  -- @treturn[1] string path
  -- @treturn[1] table info `{size=, content_type=, url=}` (url redacted)
  -- @treturn[2] nil
  -- @treturn[2] table error
  -- @raise on wrong argument types
  function methods.download(self, task_or_url, path, opts)
    if type(task_or_url) ~= "string" and type(task_or_url) ~= "table" then
      error("client:download: argument 'task_or_url' must be a task or a URL, got " .. type(task_or_url), 2)
    end
    if type(path) ~= "string" or path == "" then
      error("client:download: argument 'path' must be a non-empty string", 2)
    end
    if opts ~= nil and type(opts) ~= "table" then error("client:download: argument 'opts' must be a table", 2) end
    opts = opts or {}
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
    local t0 = env.now()
    local deadline = t0 + (opts.deadline or (2 * timeout + 10))
    local attempt, last = 0, nil
    while true do
      attempt = attempt + 1
      local left = deadline - env.now()
      if left <= 0 then
        os.remove(part)
        return nil, last or errors.new { kind = "timeout", message = "download deadline passed" }
      end
      local rec = scheduler.request {
        method = "GET", url = url,
        headers = { "User-Agent: " .. self.user_agent, "Accept: image/*, video/*;q=0.9, */*;q=0.1" },
        file = part, follow = true,
        max_body = opts.max_bytes or self.max_download,
        timeout = math.min(timeout, left), connect_timeout = math.min(self.connect_timeout, left),
        low_speed_limit = 1, low_speed_time = opts.low_speed_time or self.low_speed_time or 30,
        verify = self.verify, ca_file = self.ca_file, ca_path = self.ca_path,
      }
      if self.log then
        -- the URL goes through errors.redact_url in the logger: no query string
        self.log("debug", { event = "download", method = "GET", path = url, status = rec.status,
          attempt = attempt, time = rec.time, request_id = rec.request_id, error = rec.error_kind })
      end
      local err
      if rec.error then
        if rec.error_kind == "cancelled" then
          os.remove(part)
          return nil, errors.new { kind = "cancelled", message = "the operation was cancelled" }
        end
        local kind = rec.error_kind == "timeout" and "timeout" or "transport"
        local limit = rec.error_kind == "too_large"
          and (", max_bytes = " .. tostring(opts.max_bytes or self.max_download) .. " bytes") or ""
        err = errors.new { kind = kind,
          message = (rec.error or "transport failure") .. " (" .. errors.redact_url(url) .. limit .. ")",
          error_kind = rec.error_kind, retryable = retry.read_retryable(rec) }
      elseif rec.status < 200 or rec.status >= 300 then
        local f = io.open(part, "rb")
        local body = f and f:read(200) or ""
        if f then f:close() end
        err = errors.new { kind = rec.status == 404 and "not_found" or (rec.status == 429 and "rate_limited" or "http"),
          status = rec.status, request_id = rec.request_id,
          message = "download failed: HTTP " .. rec.status .. " " .. errors.snippet(body, 80),
          retryable = retry.read_statuses[rec.status] == true }
      else
        local ct = (rec.content_type or ""):lower()
        local ok = false
        for _, p in ipairs(types) do
          if ct:sub(1, #p) == p then ok = true end
        end
        if not ok then
          err = errors.new { kind = "decode", status = rec.status,
            message = "download is not an image or video (content type '" .. ct .. "')" }
        else
          local renamed, rerr = os.rename(part, path)
          if not renamed then
            os.remove(part)
            return nil, errors.new { kind = "transport", message = "cannot rename the download: " .. tostring(rerr) }
          end
          return path, { size = rec.size, content_type = rec.content_type, url = errors.redact_url(url) }
        end
      end
      os.remove(part)
      last = err
      if not (rec.error and retry.read_retryable(rec) or retry.read_statuses[rec.status])
        or attempt > self.policy.max_retries then
        return nil, err
      end
      local delay = retry.delay(attempt, rec, self.policy)
      if env.now() + delay >= deadline then return nil, err end
      env.sleep(self, delay)
    end
  end
end

return M
