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
local image_uri = require "midjourney.image.uri"
local options = require "midjourney.options"
local retry = require "midjourney.retry"
local transport = require "midjourney.transport"

local M = {}

--- The options of `client:download` (a schema of `midjourney.options`).
M.options = options.schema("client:download", {
  max_bytes = "bytes", timeout = "seconds", low_speed_time = "seconds", deadline = "seconds",
  content_types = "table", video = "boolean", index = "count", split = "boolean",
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
        message = "download failed: HTTP " .. rec.status .. " "
          .. errors.snippet((read_head(part, 200):gsub("%s*%(request id: [^%)]+%)", "")), 80) }
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

local function is_dir(path)
  local f = io.open(path .. "/.", "rb")
  if f then f:close(); return true end
  return false
end

-- The four file names of a split download: `dest` is a directory (then `<dest>/<task id>`)
-- or a base name (a trailing ".png" is dropped); each file is `<base>-<i>.<ext>`.
local function split_base(task, dest)
  if is_dir(dest) then
    local id = type(task) == "table" and task.id or nil
    return dest:gsub("/+$", "") .. "/" .. tostring(id or "grid")
  end
  return (dest:gsub("%.[Pp][Nn][Gg]$", ""))
end

local extensions = { png = "png", jpeg = "jpg", webp = "webp", gif = "gif" }

local function write_atomic(path, bytes)
  local part = path .. ".part"
  local f, err = io.open(part, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(bytes)
  local closed, cerr = f:close()
  if not ok or not closed then
    os.remove(part)
    return nil, werr or cerr
  end
  local renamed, rerr = os.rename(part, path)
  if not renamed then os.remove(part); return nil, rerr end
  return path
end

--- Downloads the four pictures of a grid task as four files (see `client:download`'s
-- `split`): the task's per-image URLs when the gateway gives them (`imageUrls`), else the
-- grid, cut locally (`midjourney.image`). Blocks, or yields.
-- @param client
-- @param task a Task
-- @tparam string dest a directory or a base name
-- @tparam table opts checked options
-- @treturn[1] table the four paths, in U1–U4 order
-- @treturn[1] table info `{source = "imageUrls"|"split", sizes = {...}}`
-- @return[2] nil and the error
function M.split(client, task, dest, opts)
  if type(task) ~= "table" then
    return nil, errors.new { kind = "invalid", message = "split needs a task (its imageUrls or its grid), not a URL" }
  end
  local base = split_base(task, dest)
  local o = {}
  for k, v in pairs(opts) do if k ~= "split" and k ~= "index" then o[k] = v end end
  local urls = task.imageUrls or task.image_urls
  if type(urls) == "table" and #urls >= 4 then
    local paths, sizes = {}, {}
    for i = 1, 4 do
      local tmp = base .. "-" .. i .. ".download"
      o.index = i
      local p, info = M.run(client, task, tmp, o)
      if not p then return nil, info end
      local f = io.open(p, "rb")
      local head = f and f:read(16) or ""
      if f then f:close() end
      local format = image_uri.sniff(head)
      local final = base .. "-" .. i .. "." .. (extensions[format] or "png")
      local ok, rerr = os.rename(p, final)
      if not ok then os.remove(p); return nil, errors.new { kind = "transport", message = tostring(rerr) } end
      paths[i], sizes[i] = final, info.size
    end
    return paths, { source = "imageUrls", sizes = sizes }
  end
  local ok_image, image = pcall(require, "midjourney.image")
  if not ok_image then
    return nil, errors.new { kind = "invalid", message = "the task has no per-image URLs, and cutting its grid "
      .. "locally needs midjourney.image: " .. tostring(image) }
  end
  local grid = base .. ".grid"
  local p, info = M.run(client, task, grid, o)
  if not p then return nil, info end
  local parts, err = image.split(p)
  os.remove(p)
  if not parts then return nil, err end
  local paths, sizes = {}, {}
  for i = 1, 4 do
    local path = base .. "-" .. i .. ".png"
    local ok, werr = write_atomic(path, parts[i])
    if not ok then
      return nil, errors.new { kind = "transport", message = "cannot write " .. path .. ": " .. tostring(werr) }
    end
    paths[i], sizes[i] = path, #parts[i]
  end
  return paths, { source = "split", sizes = sizes, grid_size = info.size }
end

--- The first bytes of an image (enough for its header: format and size), without the
-- rest: a ranged request, cut at `max` bytes when the server ignores the range. Blocks,
-- or yields.
-- @param client
-- @tparam string url
-- @tparam[opt=262144] integer max bytes kept
-- @return the bytes, or nil and the error
function M.head(client, url, max)
  max = max or 262144
  return transport.exchange(client, {
    class = "download", what = url, timeout = 60, deadline = 130, partial_ok = true,
    interpret = function(rec)
      if rec.status ~= 200 and rec.status ~= 206 then
        local e = errors.new { kind = rec.status == 404 and "not_found" or "http", status = rec.status,
          message = "image header read failed: HTTP " .. rec.status }
        e.retryable = rec.status ~= 404 and retry.transient(e)
        return nil, e
      end
      return rec.body or ""
    end,
    spec = {
      method = "GET", url = url, follow = true, max_body = max,
      headers = { "User-Agent: " .. client.user_agent, "Range: bytes=0-" .. string.format("%d", max - 1) },
      low_speed_limit = 1, low_speed_time = 30,
      verify = client.verify, ca_file = client.ca_file, ca_path = client.ca_path,
    },
  })
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
  if opts.split then return M.split(client, task_or_url, path, opts) end
  return M.run(client, task_or_url, path, opts)
end

return M
