--- The CometAPI Midjourney client: endpoints, submit envelope, fetch/list,
-- action, modal.
--
-- Every method that talks to the server **blocks** in plain code and **yields**
-- inside a coroutine driven by the scheduler (`mj.spawn`/`mj.run`). Runtime
-- failures return `nil, err` (see `midjourney.errors`); programmer mistakes
-- (wrong argument types, missing required fields) raise with a message naming
-- the argument.
--
-- Submit methods (`imagine`, `action`, `modal`, `blend`, `describe`, `shorten`,
-- `video`, `edits`, `swap_face`) return `task_id, envelope`; codes 1, 21 and 22
-- mean accepted, any other code is an error of kind `"api"`. They are retried
-- only when the server provably did no work (see `midjourney.retry`); any
-- ambiguous failure after the request was sent gives kind `"maybe_accepted"`.
--
-- The API key: argument `api_key`, else env `COMETAPI_KEY`. A key with CR, LF or
-- NUL raises in `new`. A missing key is not an error in `new` (downloads need
-- none); each API call then returns `nil, err` (kind `"invalid"`) without
-- sending anything. The key never appears in `tostring(client)`, errors or logs.
-- @module midjourney.client
local errors = require("midjourney.errors")
local json = require("midjourney.json")
local task_mod = require("midjourney.task")
local validate = require("midjourney.validate")
local retry = require("midjourney.retry")
local logmod = require("midjourney.log")

local M = {}

M.VERSION = "0.1.0"
M.USER_AGENT = "lua-midjourney/" .. M.VERSION

local core = require "midjourney.core"

local scheduler = require "midjourney.scheduler"

local now = core.now

local Client = {}
local methods = {}
Client.__index = methods
Client.__tostring = function(c)
  return string.format("midjourney.client(%s, key %s)", errors.redact_url(c.base_url),
    c._key and "set" or "missing")
end
M.methods = methods

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function opt_number(opts, name, default)
  local v = validate.number_option(opts, name, default, "", 3) -- not a tail call: the level counts this frame
  return v
end

--- Create a client. Neither blocks nor yields.
-- @tparam[opt] table opts
--   `api_key` (else env COMETAPI_KEY),
--   `base_url` (else env COMETAPI_BASE_URL, else https://api.cometapi.com),
--   `mode` (`"turbo"`, `"fast"`, `"relax"`: path prefix `/mj-<mode>`),
--   `timeout` (per request, default 60 s), `submit_timeout` (default 120 s),
--   `connect_timeout` (default 10 s), `low_speed_time` (abort a transfer
--   that moves less than 1 byte/s for this long, waiting for the first byte
--   included; API calls default to their request timeout so a slow upstream
--   is not cut early, downloads to 30 s), `deadline` (per operation including
--   retries and sleeps; default `2 * timeout + 10`), `max_retries` (2),
--   `retry_base` (0.5), `retry_cap` (8), `max_retry_after` (60),
--   `max_body` (JSON bodies, 32 MiB), `max_download` (downloads, 512 MiB),
--   `verify` (TLS, default true), `ca_file`, `ca_path`, `user_agent`,
--   `headers` (extra header lines), `logger` (function(level, line, fields)),
--   `random` (RNG for jitter, tests), `sleep` (override, tests).
-- @return the client
-- @raise on wrong option types or a malformed key/base URL
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("mj.new: argument 'opts' must be a table, got " .. type(opts), 2)
  end
  opts = opts or {}
  local key = opts.api_key
  if key == nil then key = os.getenv("COMETAPI_KEY") end
  if key ~= nil and type(key) ~= "string" then
    error("mj.new: option 'api_key' must be a string, got " .. type(key), 2)
  end
  if key then
    key = trim(key)
    if key:find("[%c\127]") then error("mj.new: option 'api_key' contains control characters", 2) end
    if key == "" then key = nil end
  end
  if key then
    errors.register_secret(key)
    -- gateways echo the token without its "sk-" prefix
    local bare = key:match("^[Ss][Kk]%-(.+)$")
    if bare and #bare >= 8 then errors.register_secret(bare) end
  end
  local base = opts.base_url
  if base == nil then
    base = os.getenv("COMETAPI_BASE_URL")
    if base == "" then base = nil end
  end
  base = base or "https://api.cometapi.com"
  if type(base) ~= "string" then error("mj.new: option 'base_url' must be a string", 2) end
  base = trim(base):gsub("/+$", "")
  if not base:match("^[Hh][Tt][Tt][Pp][Ss]?://[^%s]+$") or base:find("[%c]") then
    error("mj.new: option 'base_url' must be an http(s) URL", 2)
  end
  local mode = opts.mode
  if mode ~= nil and (type(mode) ~= "string" or not mode:match("^%a+$")) then
    error("mj.new: option 'mode' must be a word such as \"turbo\"", 2)
  end
  if opts.headers ~= nil and type(opts.headers) ~= "table" then
    error("mj.new: option 'headers' must be a list of strings", 2)
  end
  for i, h in ipairs(opts.headers or {}) do
    local ok, why = validate.check_header_value(h)
    if not ok then error("mj.new: option 'headers[" .. i .. "]': " .. why, 2) end
  end
  local timeout = opt_number(opts, "timeout", 60)
  local self = {
    base_url = base,
    prefix = mode and ("/mj-" .. mode:lower()) or "",
    timeout = timeout,
    submit_timeout = opt_number(opts, "submit_timeout", math.max(timeout, 120)),
    connect_timeout = opt_number(opts, "connect_timeout", 10),
    low_speed_time = opt_number(opts, "low_speed_time", nil),
    deadline = opt_number(opts, "deadline", 2 * timeout + 10),
    max_body = opt_number(opts, "max_body", 32 * 1024 * 1024),
    max_download = opt_number(opts, "max_download", 512 * 1024 * 1024),
    verify = opts.verify ~= false,
    ca_file = opts.ca_file, ca_path = opts.ca_path,
    user_agent = opts.user_agent or M.USER_AGENT,
    extra_headers = opts.headers,
    policy = retry.policy {
      max_retries = opts.max_retries, base = opts.retry_base, cap = opts.retry_cap,
      max_retry_after = opts.max_retry_after, random = opts.random,
    },
    log = logmod.new(opts),
    _sleep = opts.sleep,
  }
  if opts.user_agent ~= nil then
    local ok, why = validate.check_header_value(opts.user_agent)
    if not ok then error("mj.new: option 'user_agent': " .. why, 2) end
  end
  -- the key is kept in a closure, not in a field, so that dumping the client
  -- table does not show it
  self._key = key and function() return key end or nil
  return setmetatable(self, Client)
end

--- True when `v` is a client. Neither blocks nor yields.
function M.is_client(v) return getmetatable(v) == Client end

-- ------------------------------------------------------------------ plumbing

local function sleep(self, s)
  if s <= 0 then return end
  if self._sleep then return self._sleep(s) end
  return scheduler.sleep(s)
end

local function request_id_of(rec, info)
  if rec and rec.request_id and rec.request_id ~= "" then return rec.request_id end
  if info and info.request_id then return info.request_id end
  local msg = info and info.message
  if type(msg) == "string" then
    local rid = msg:match("%(request id: ([^%)]+)%)")
    if rid then return rid end
  end
  return nil
end

-- The body's shape (api.md §3.4), scanned in C.
local function classify(status, body)
  return core.classify(status, body or "")
end

local function is_html(rec)
  local ct = rec.content_type or ""
  return ct:find("html", 1, true) or (rec.body or ""):match("^%s*<")
end

-- Build the error for a response that is not what we wanted.
local function response_error(rec, info, what)
  local status = rec.status
  local rid = request_id_of(rec, info)
  local ra = retry.retry_after(rec)
  local shape = info.shape
  if shape == "openai" or shape == "generic" or shape == "image" then
    local msg = info.message or ("HTTP " .. status)
    local kind = status == 429 and "rate_limited" or "http"
    if shape == "generic" and status >= 200 and status < 300 then kind = "api" end
    return errors.new { kind = kind, status = status, code = info.code, message = msg,
      request_id = rid, retry_after = ra, type = info.type, retryable = retry.read_statuses[status] == true }
  elseif shape == "relay" or shape == "submit" then
    local kind = (status == 429 or info.code == 30) and "rate_limited" or "api"
    local desc = info.description or ""
    return errors.new { kind = kind, status = status, code = info.code, description = desc,
      message = (desc:gsub("%s+$", "")) ~= "" and (desc:gsub("%s+$", "")) or ("code " .. tostring(info.code)),
      request_id = rid, retry_after = ra, type = info.type,
      retryable = kind == "rate_limited" or info.code == 23 or info.code == 9 }
  elseif shape == "empty" then
    return errors.new { kind = status >= 400 and "http" or "decode", status = status, request_id = rid,
      message = "empty response body" .. (what and (" from " .. what) or "") }
  else
    local msg = (is_html(rec) and "HTML page instead of JSON" or "response is not the expected JSON")
      .. (what and (" from " .. what) or "") .. ": " .. errors.snippet(rec.body)
    local kind = (status >= 300 and status ~= 200) and "http" or "decode"
    return errors.new { kind = kind, status = status, request_id = rid, message = msg,
      retry_after = ra, retryable = retry.read_statuses[status] == true }
  end
end

local function transport_error(rec, submit, max_body)
  local kind = rec.error_kind == "timeout" and "timeout" or "transport"
  if rec.error_kind == "cancelled" then
    return errors.new { kind = "cancelled", message = "the operation was cancelled" }
  end
  local msg = rec.error or "transport failure"
  if rec.error_kind == "tls" then
    msg = msg .. " (set the ca_file or ca_path option to trust another CA)"
  elseif rec.error_kind == "too_large" then
    msg = msg .. " (max_body = " .. tostring(max_body) .. " bytes)"
  end
  if submit and rec.sent ~= false then
    return errors.new { kind = "maybe_accepted", cause = kind, retryable = false,
      message = "the submit may have been accepted (" .. msg .. "); it was not resent" }
  end
  return errors.new { kind = kind, message = msg, retryable = not retry.fatal_transport[rec.error_kind],
    error_kind = rec.error_kind, curl_code = rec.curl_code }
end

local header_cache = setmetatable({}, { __mode = "k" }) -- client -> { get = {...}, post = {...} }

local function build_headers(self, with_body)
  local h = {
    "Authorization: Bearer " .. self._key(),
    "Accept: application/json",
    "User-Agent: " .. self.user_agent,
  }
  if with_body then h[#h + 1] = "Content-Type: application/json" end
  for _, x in ipairs(self.extra_headers or {}) do h[#h + 1] = x end
  return h
end

-- The header lists never change for a client: build them once (the engine copies them).
local function headers_for(self, with_body)
  local c = header_cache[self]
  if not c then
    c = {}
    header_cache[self] = c
  end
  local k = with_body and "post" or "get"
  local h = c[k]
  if not h then
    h = build_headers(self, with_body)
    c[k] = h
  end
  return h
end

local function no_key_error()
  return errors.new { kind = "invalid",
    message = "no API key: pass api_key to mj.new or set COMETAPI_KEY" }
end

-- One HTTP exchange with retries.
-- `class` is "read" or "submit"; `interpret(rec, info)` returns
-- `value, extra` on success or `nil, err, retry_ok`.
local function call(self, class, method, path, body, interpret, opts, fast)
  if not self._key then return nil, no_key_error() end
  opts = opts or {}
  local t0 = now()
  local deadline = t0 + (opts.deadline or self.deadline)
  local timeout = opts.timeout or (class == "submit" and body and self.submit_timeout or self.timeout)
  local url = self.base_url .. path
  local attempt = 0
  local last_err
  while true do
    attempt = attempt + 1
    local left = deadline - now()
    if left <= 0 then
      return nil, last_err or errors.new { kind = "timeout", message = "operation deadline passed" }
    end
    local spec = {
      method = method, url = url, headers = headers_for(self, body ~= nil), body = body,
      timeout = math.min(timeout, left), connect_timeout = math.min(self.connect_timeout, left),
      max_body = self.max_body, follow = false, verify = self.verify,
      ca_file = self.ca_file, ca_path = self.ca_path,
      -- libcurl's low-speed check also runs while waiting for the first byte:
      -- by default it must not fire before the request timeout (image-seed and
      -- submits may legitimately think for a minute)
      low_speed_limit = 1,
      low_speed_time = math.max(1, math.ceil(math.min(self.low_speed_time or timeout, timeout))),
      -- a submit must not ride a reused keep-alive connection: libcurl silently
      -- resends a request whose reused connection died without an answer
      fresh_connect = class == "submit" or nil,
    }
    local rec = scheduler.request(spec)
    if self.log then
      self.log("debug", { event = "response", method = method, path = path, status = rec.status,
        attempt = attempt, time = rec.time, request_id = rec.request_id,
        error = rec.error_kind })
    end
    local value, extra, retryable
    if rec.error then
      if rec.error_kind == "cancelled" then return nil, transport_error(rec) end
      extra = transport_error(rec, class == "submit", self.max_body)
      if class == "submit" then retryable = retry.submit_retryable(rec)
      else retryable = retry.read_retryable(rec) end
    else
      -- the poll path: a 200 whose body is what we want skips the error classification
      if fast and rec.status == 200 then
        local v = fast(rec)
        if v ~= nil then return v end
      end
      local info = classify(rec.status, rec.body)
      value, extra, retryable = interpret(rec, info)
      if value ~= nil then return value, extra end
      if retryable == nil then
        if class == "submit" then retryable = retry.submit_retryable(rec, info.code)
        else retryable = retry.read_retryable(rec) end
      end
    end
    last_err = extra
    if not retryable or attempt > self.policy.max_retries then return nil, extra end
    local delay = retry.delay(attempt, rec, self.policy)
    if now() + delay >= deadline then
      extra.message = extra.message .. " (no retry: the operation deadline is near)"
      return nil, extra
    end
    if self.log then
      self.log("info", { event = "retry", method = method, path = path, attempt = attempt,
        time = delay, error = extra.kind })
    end
    sleep(self, delay)
  end
end
M._call = call

local function encode_id(id)
  return (id:gsub("[^%w%-_.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function path(self, p) return self.prefix .. p end

-- ------------------------------------------------------------------ submits

-- Interpret a submit answer: codes 1/21/22 with a result are accepted.
local accepted = { [1] = true, [21] = true, [22] = true }

local function submit_interpret(want_list)
  return function(rec, info)
    if info.shape == "submit" and accepted[info.code] then
      local env = info.value
      if env == nil then env = json.decode(rec.body) end
      if type(env) == "table" then json.strip_nulls(env) else env = {} end
      local r = env.result
      if want_list then
        if type(r) == "table" then
          local urls = {}
          for i, u in ipairs(r) do urls[i] = tostring(u) end
          return urls, env
        elseif type(r) == "string" and r ~= "" then
          return { r }, env
        end
      else
        local id = task_mod.id_string(r) or info.result
        if type(id) == "string" and id ~= "" then
          env.result = id
          env.code = info.code
          return id, env
        end
      end
      local e = errors.new { kind = "decode", status = rec.status, code = info.code,
        message = "accepted submit without a usable result: " .. errors.snippet(rec.body),
        request_id = request_id_of(rec, info) }
      return nil, e, false
    end
    local status = rec.status
    if info.shape == "submit" or info.shape == "relay" or info.shape == "generic" or info.shape == "openai" then
      -- a well-formed rejection: the server said no
      if status >= 500 and info.shape ~= "submit" and info.shape ~= "relay" then
        local e = response_error(rec, info)
        return nil, errors.new { kind = "maybe_accepted", status = status, retryable = false,
          cause = e.kind, request_id = e.request_id,
          message = "the submit may have been accepted (" .. e.message .. "); it was not resent" }, false
      end
      if status >= 500 and info.shape == "relay" and info.code == 5 then
        local e = response_error(rec, info)
        return nil, errors.new { kind = "maybe_accepted", status = status, retryable = false,
          cause = "api", code = 5, request_id = e.request_id,
          message = "the submit may have been accepted (" .. e.message .. "); it was not resent" }, false
      end
      local e = response_error(rec, info, "submit")
      if status == 429 then e.kind = "rate_limited"; e.retryable = true end
      return nil, e
    end
    -- empty, invalid, HTML, unexpected JSON
    if status >= 400 and status < 500 and status ~= 408 then
      return nil, response_error(rec, info, "submit"), status == 429
    end
    local e = response_error(rec, info, "submit")
    return nil, errors.new { kind = "maybe_accepted", status = status, retryable = false, cause = e.kind,
      request_id = e.request_id,
      message = "the submit may have been accepted (" .. e.message .. "); it was not resent" }, false
  end
end

local submit_paths = {
  imagine = "/mj/submit/imagine", action = "/mj/submit/action", modal = "/mj/submit/modal",
  blend = "/mj/submit/blend", describe = "/mj/submit/describe", shorten = "/mj/submit/shorten",
  video = "/mj/submit/video", edits = "/mj/submit/edits", swap_face = "/mj/insight-face/swap",
  upload = "/mj/submit/upload-discord-images",
}

local function copy_fields(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- Validate and send a submit body.
local function submit(self, endpoint, body, opts, level)
  local ok, why, what = validate.check_body(endpoint, body)
  if not ok then
    if what == "content" then
      return nil, errors.new { kind = "invalid", message = endpoint .. ": " .. why }
    end
    error("client:" .. endpoint .. ": " .. why, (level or 2) + 1)
  end
  local text = json.encode(body)
  return call(self, "submit", "POST", path(self, submit_paths[endpoint]), text,
    submit_interpret(endpoint == "upload"), opts)
end

local function check_self(self, name)
  if getmetatable(self) ~= Client then
    error("client:" .. name .. ": call it with ':' on a client", 3)
  end
end

local function body_arg(name, t, level)
  if type(t) ~= "table" then
    error("client:" .. name .. ": argument 'fields' must be a table of wire fields, got " .. type(t), level or 3)
  end
  return copy_fields(t)
end

local function call_opts(o)
  if o == nil then return nil end
  if type(o) ~= "table" then error("argument 'opts' must be a table", 3) end
  return o
end

--- Submit `/mj/submit/imagine`. Blocks, or yields in a scheduler coroutine.
-- @tparam string|table prompt the prompt, or a table of wire fields
--   (`prompt` required; `botType`, `base64Array`, `state`, `notifyHook`,
--   `accountFilter`, unknown fields passed through)
-- @tparam[opt] table opts per-call `timeout`, `deadline`
-- @treturn[1] string task id
-- @treturn[1] table envelope `{code, description, result, properties}`
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type or a missing prompt
function methods:imagine(prompt, opts)
  check_self(self, "imagine")
  local body
  if type(prompt) == "string" then body = { prompt = prompt }
  elseif type(prompt) == "table" then body = copy_fields(prompt)
  else error("client:imagine: argument 'prompt' must be a string or a table, got " .. type(prompt), 2) end
  return submit(self, "imagine", body, call_opts(opts))
end

local function simple_submit(endpoint)
  return function(self, fields, opts)
    check_self(self, endpoint)
    return submit(self, endpoint, body_arg(endpoint, fields), call_opts(opts))
  end
end

--- Submit `/mj/submit/blend` (`base64Array` of 2-5 images, `dimensions`).
-- Blocks, or yields in a scheduler coroutine.
-- @tparam table fields wire fields
-- @tparam[opt] table opts
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type or a missing required field
-- @function blend
methods.blend = simple_submit("blend")

--- Submit `/mj/submit/describe` (`base64` or `link`). Blocks, or yields.
-- @tparam table fields wire fields
-- @tparam[opt] table opts
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type or a missing required field
-- @function describe
methods.describe = simple_submit("describe")

--- Submit `/mj/submit/shorten` (`prompt`). Blocks, or yields.
-- @tparam table fields wire fields
-- @tparam[opt] table opts
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type or a missing required field
-- @function shorten
methods.shorten = simple_submit("shorten")

--- Submit `/mj/submit/video` (`image`, `motion`, `prompt`, ...). Blocks, or yields.
-- @tparam table fields wire fields
-- @tparam[opt] table opts
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type or a missing required field
-- @function video
methods.video = simple_submit("video")

--- Submit `/mj/submit/edits` (`image`, `prompt`). Blocks, or yields.
-- @tparam table fields wire fields
-- @tparam[opt] table opts
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type or a missing required field
-- @function edits
methods.edits = simple_submit("edits")

--- Submit `/mj/insight-face/swap` (`sourceBase64`, `targetBase64`). Blocks, or yields.
-- @tparam table fields wire fields
-- @tparam[opt] table opts
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type or a missing required field
-- @function swap_face
methods.swap_face = simple_submit("swap_face")

--- Upload images (`/mj/submit/upload-discord-images`). Blocks, or yields.
-- @tparam table fields `{base64Array = {...}}`
-- @tparam[opt] table opts
-- @treturn[1] table list of URLs
-- @treturn[1] table envelope
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type or a missing required field
-- @function upload
methods.upload = simple_submit("upload")

-- ------------------------------------------------------------------ reads

local function fetch_interpret(rec, info)
  local status = rec.status
  if status == 204 or status == 404 or info.shape == "empty"
    or (info.shape == "json" and (rec.body or ""):match("^%s*null%s*$")) then
    return nil, errors.new { kind = "not_found", status = status, message = "no such task",
      request_id = request_id_of(rec, info) }, false
  end
  if info.shape == "relay" or info.shape == "submit" then
    local d = info.description or ""
    if d:find("task_no_found", 1, true) or d:find("task_not_found", 1, true) or info.code == 3 then
      return nil, errors.new { kind = "not_found", status = status, code = info.code,
        description = d, message = "no such task", request_id = request_id_of(rec, info) }, false
    end
  end
  if status >= 200 and status < 300 and (info.shape == "json") then
    local t, err = task_mod.from_json(rec.body)
    if t and t.id ~= nil then return t end
    if t then err = "task object without an id" end
    return nil, errors.new { kind = "decode", status = status,
      message = tostring(err) .. ": " .. errors.snippet(rec.body) }, false
  end
  return nil, response_error(rec, info, "fetch")
end

-- A 200 with a task object that has an id: one scan, no classification.
local function fetch_fast(rec)
  local t = task_mod.from_json(rec.body or "")
  if t and t.id ~= nil then return t end
  return nil
end

local function id_arg(name, v, argname)
  if type(v) == "table" then
    local ok, id = pcall(function() return v.id end)
    if not ok or id == nil then
      error("client:" .. name .. ": argument '" .. argname .. "' is a table without an id", 3)
    end
    v = id
  end
  if type(v) ~= "string" and type(v) ~= "number" then
    error("client:" .. name .. ": argument '" .. argname .. "' must be a task id or a task, got " .. type(v), 3)
  end
  local s, why = validate.check_task_id(v)
  if not s then
    return nil, errors.new { kind = "invalid", message = "argument '" .. argname .. "': " .. why }
  end
  return s
end
M._id_arg = id_arg

--- Fetch one task (`GET /mj/task/{id}/fetch`). Blocks, or yields.
-- An unknown id gives kind `"not_found"` whatever shape the server used
-- (HTTP 400 task_no_found, 404, 204, empty body, `null`).
-- @tparam string|number|table id a task id or a task
-- @tparam[opt] table opts per-call `timeout`, `deadline`
-- @treturn[1] Task
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type
function methods:fetch(id, opts)
  check_self(self, "fetch")
  local sid, err = id_arg("fetch", id, "id")
  if not sid then return nil, err end
  return call(self, "read", "GET", path(self, "/mj/task/" .. encode_id(sid) .. "/fetch"), nil,
    fetch_interpret, call_opts(opts), fetch_fast)
end

-- The tasks of a list answer, lazily: each element's top-level fields come from the
-- C scanner and the element's text is decoded only when a caller reads more.
local function list_items(body)
  local info = core.scan_json(body or "")
  if not info then return nil end
  if info.type == "null" then return json.null end
  if info.type == "object" then return json.decode(body) end -- not a list: the caller reports it
  if info.type ~= "array" then return info.value end
  local out = {}
  for _, item in ipairs(info.items or {}) do
    if item.type == "object" then out[#out + 1] = task_mod.from_scan(item.fields or {}, item.raw) end
  end
  return out
end

local function list_interpret(rec, info)
  local status = rec.status
  if status >= 200 and status < 300 then
    if info.shape == "empty" then return {} end
    local v = list_items(rec.body)
    if type(v) == "table" and (v[1] ~= nil or next(v) == nil) then
      local out, index = {}, {}
      for _, x in ipairs(v) do
        if type(x) == "table" then
          local t = getmetatable(x) and x or task_mod.new(x)
          local id = t.id
          if id ~= nil then
            if index[id] then
              -- a modal can make two rows with one id: keep the most advanced
              local prev = out[index[id]]
              local pp, np = prev:percent() or -1, t:percent() or -1
              if (t:is_done() and not prev:is_done()) or (t:is_done() == prev:is_done() and np > pp) then
                out[index[id]] = t
              end
            else
              out[#out + 1] = t
              index[id] = #out
            end
          end
        end
      end
      return out
    end
    if v == json.null then return {} end
  end
  return nil, response_error(rec, info, "list-by-condition")
end

--- List tasks by id (`POST /mj/task/list-by-condition`). Blocks, or yields.
-- Unknown ids are left out; order is the server's; duplicate rows of one id
-- are merged (the most advanced kept).
-- @tparam table ids a list of task ids (strings or integers) or tasks
-- @tparam[opt] table opts per-call `timeout`, `deadline`
-- @treturn[1] table list of Tasks
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type
function methods:list(ids, opts)
  check_self(self, "list")
  if type(ids) ~= "table" then error("client:list: argument 'ids' must be a list of task ids", 2) end
  local list, seen = {}, {}
  for i = 1, #ids do
    local s, err = id_arg("list", ids[i], "ids[" .. i .. "]")
    if not s then return nil, err end
    if not seen[s] then seen[s] = true; list[#list + 1] = s end
  end
  if #list == 0 then return {} end
  local body = json.encode { ids = json.array(list) }
  return call(self, "read", "POST", path(self, "/mj/task/list-by-condition"), body,
    list_interpret, call_opts(opts))
end

local function seed_interpret(rec, info)
  if info.shape == "submit" and info.code == 1 then
    local r = info.result
    if r == nil and info.value then r = task_mod.id_string(info.value.result) end
    if r ~= nil and r ~= "" then return tostring(r) end
  end
  local err = select(2, fetch_interpret(rec, info))
  if err and err.kind == "not_found" then return nil, err, false end
  return nil, response_error(rec, info, "image-seed")
end

--- The seed of a finished task (`GET /mj/task/{id}/image-seed`). Blocks, or yields.
-- @tparam string|number|table id a task id or a task
-- @tparam[opt] table opts per-call `timeout` (default 90 s: the upstream may
--   take up to 60 s), `deadline`
-- @treturn[1] string the seed
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type
function methods:image_seed(id, opts)
  check_self(self, "image_seed")
  local sid, err = id_arg("image_seed", id, "id")
  if not sid then return nil, err end
  opts = call_opts(opts) or {}
  local o = { timeout = opts.timeout or math.max(self.timeout, 90), deadline = opts.deadline }
  o.deadline = o.deadline or (2 * o.timeout + 10)
  return call(self, "read", "GET", path(self, "/mj/task/" .. encode_id(sid) .. "/image-seed"), nil,
    seed_interpret, o)
end

-- ------------------------------------------------------------------ action / modal

local pass_opts = { "state", "enableRemix", "chooseSameChannel", "notifyHook", "accountFilter", "strong" }

--- Click a button (`/mj/submit/action`). When given an id, or a task that is
-- not a SUCCESS snapshot, fetches the newest task first; the button is always
-- resolved against that newest `buttons` list. Blocks, or yields.
-- @tparam string|number|table task_or_id a task id or a Task
-- @tparam string|table button label (`"U1"`), emoji (`"🔄"`), customId, family
--   (`"upsample::2"`, `"pan_left"`), or a button table
-- @tparam[opt] table opts `state`, `enableRemix`, `chooseSameChannel`,
--   `notifyHook`, `accountFilter`, `strong` (wire fields) and `timeout`, `deadline`
-- @treturn[1] string the new task id
-- @treturn[1] table envelope
-- @treturn[2] nil
-- @treturn[2] table error (kind `"invalid"` naming the button when the task has none such)
-- @raise on wrong argument types
function methods:action(task_or_id, button, opts)
  check_self(self, "action")
  if type(button) ~= "string" and type(button) ~= "table" then
    error("client:action: argument 'button' must be a string or a button table, got " .. type(button), 2)
  end
  opts = call_opts(opts) or {}
  local t = task_or_id
  if not (task_mod.is_task(t) and t.status == "SUCCESS") then
    local sid, err = id_arg("action", task_or_id, "task_or_id")
    if not sid then return nil, err end
    t, err = self:fetch(sid, { deadline = opts.deadline })
    if not t then return nil, err end
  end
  local b = t:button(button)
  if not b or type(b.customId) ~= "string" or b.customId == "" then
    local names = {}
    for _, x in ipairs(t.buttons or {}) do
      local n = (x.label ~= nil and x.label ~= "") and x.label or x.emoji or x.customId
      names[#names + 1] = tostring(n)
    end
    local bname = type(button) == "table" and (button.customId or button.label or button.emoji) or button
    return nil, errors.new { kind = "invalid", task = t,
      message = string.format("task %s (status %s) has no button %q; buttons: %s", tostring(t.id),
        tostring(t.status), tostring(bname), #names > 0 and table.concat(names, " ") or "none") }
  end
  local body = { taskId = t.id, customId = b.customId }
  for _, k in ipairs(pass_opts) do
    if opts[k] ~= nil then body[k] = opts[k] end
  end
  return submit(self, "action", body, opts)
end

--- Answer a task waiting in MODAL (`/mj/submit/modal`). Blocks, or yields.
-- @tparam string|number|table task_or_id the MODAL task (id or Task)
-- @tparam[opt] table fields `prompt`, `maskBase64` (data URI or raw base64),
--   `state`, `notifyHook`, other wire fields passed through
-- @tparam[opt] table opts `timeout`, `deadline`
-- @treturn[1] string the task id (the same as the modal task's)
-- @treturn[1] table envelope
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on wrong argument types
function methods:modal(task_or_id, fields, opts)
  check_self(self, "modal")
  local sid, err = id_arg("modal", task_or_id, "task_or_id")
  if not sid then return nil, err end
  if fields ~= nil and type(fields) ~= "table" then
    error("client:modal: argument 'fields' must be a table, got " .. type(fields), 2)
  end
  local body = fields and copy_fields(fields) or {}
  body.taskId = sid
  return submit(self, "modal", body, call_opts(opts))
end

-- ------------------------------------------------------------------ extensions

-- wait/wait_all, verbs and download install themselves as methods.
require("midjourney.wait").install(methods)
require("midjourney.verbs").install(methods)
require("midjourney.download").install(methods, {
  errors = errors, retry = retry, now = now, sleep = sleep,
})

return M
