--- The CometAPI Midjourney client: every endpoint, and the submit → poll → act loop.
--
-- Every method that talks to the server **blocks** in plain code and **yields**
-- inside a coroutine driven by the scheduler (`mj.spawn`/`mj.run`). Runtime
-- failures return `nil, err` (see `midjourney.errors`); programmer mistakes
-- (wrong argument types, missing required fields, unknown option keys) raise with a
-- message naming the argument or key.
--
-- Submit methods (`imagine`, `action`, `modal`, `change`, `blend`, `describe`,
-- `shorten`, `video`, `edits`, `swap_face`) return `task_id, envelope`; codes 1, 21
-- and 22 mean accepted, any other code is an error of kind `"api"`. They are retried
-- only when the server provably did no work (see `midjourney.retry`); any ambiguous
-- failure after the request was sent gives kind `"maybe_accepted"`.
--
-- Options tables mix two sorts of keys: **wire fields**, sent to the server as they
-- are (`state`, `notifyHook`, `enableRemix`, ...), and **library options** that
-- steer the call (`timeout`, `deadline`, `wait`, `remix`, ...). Each method's doc
-- says which is which; an unknown key raises, naming the closest valid one.
--
-- The API key: option `api_key`, else env `COMETAPI_KEY`. A key with CR, LF or NUL
-- raises in `new`. A missing key is not an error in `new` (downloads need none);
-- each API call then returns `nil, err` (kind `"invalid"`) without sending anything.
-- The key never appears in `tostring(client)`, errors or logs.
-- @module midjourney.client
local buttons = require "midjourney.buttons"
local download = require "midjourney.download"
local errors = require "midjourney.errors"
local ids = require "midjourney.ids"
local image_uri = require "midjourney.image.uri"
local json = require "midjourney.json"
local logmod = require "midjourney.log"
local options = require "midjourney.options"
local responses = require "midjourney.responses"
local retry = require "midjourney.retry"
local scheduler = require "midjourney.scheduler"
local task_mod = require "midjourney.task"
local transport = require "midjourney.transport"
local validate = require "midjourney.validate"
local verbs = require "midjourney.verbs"
local wait = require "midjourney.wait"

local M = {}

--- The library version (also `mj._VERSION`).
M.VERSION = "0.2.0"
--- The default `User-Agent` of API calls (option `user_agent` replaces it).
M.USER_AGENT = "lua-midjourney/" .. M.VERSION

local now = scheduler.now

-- The Client class (documented below, before its first method).
local Client = {}
Client.__index = Client
Client.__tostring = function(c)
  return string.format("midjourney.client(%s, key %s)", errors.redact_url(c.base_url),
    c._key and "set" or "missing")
end

-- ------------------------------------------------------------------ construction

local function header_line(v)
  if type(v) ~= "table" then return false, "a list of 'Name: value' strings" end
  for i, h in ipairs(v) do
    local ok, why = validate.check_header_value(h)
    if not ok then return false, "a list of 'Name: value' strings (headers[" .. i .. "]: " .. why .. ")" end
    if not h:find("^[%w!#$%%&'*+.^_`|~-]+:") then
      return false, "a list of 'Name: value' strings (headers[" .. i .. "] has no 'Name:' part)"
    end
  end
  return true
end

local function header_value(v)
  if type(v) ~= "string" then return false, "a string" end
  local ok, why = validate.check_header_value(v)
  return ok == true, ok and "" or ("a header value (" .. tostring(why) .. ")")
end

--- The options of `mj.new` (a schema of `midjourney.options`).
M.new_options = options.schema("mj.new", {
  api_key = "string", base_url = "string", mode = "string",
  timeout = "seconds", submit_timeout = "seconds", connect_timeout = "seconds", low_speed_time = "seconds",
  deadline = "seconds", max_body = "bytes", max_download = "bytes",
  max_retries = "count", retry_base = "seconds", retry_cap = "seconds", max_retry_after = "seconds",
  verify = "boolean", ca_file = "string", ca_path = "string", user_agent = header_value, headers = header_line,
  logger = "function", log_level = { "debug", "info", "warn", "error" },
  random = "function", sleep = "function",
})

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Create a client. Neither blocks nor yields.
-- @tparam[opt] table opts
--   `api_key` (else env COMETAPI_KEY),
--   `base_url` (else env COMETAPI_BASE_URL, else https://api.cometapi.com),
--   `mode` (`"turbo"`, `"fast"`, `"relax"`: path prefix `/mj-<mode>`),
--   `timeout` (per request, default 60 s; also text-only submits),
--   `submit_timeout` (submits that carry images, default max(timeout, 120) s),
--   `connect_timeout` (default 10 s), `low_speed_time` (abort a transfer that moves
--   less than 1 byte/s for this long, waiting for the first byte included; API calls
--   default to their request timeout so a slow upstream is not cut early, downloads
--   to 30 s), `deadline` (per operation including retries and sleeps; default
--   `2 * timeout + 10`), `max_retries` (2), `retry_base` (0.5 s), `retry_cap` (8 s),
--   `max_retry_after` (60 s), `max_body` (JSON bodies, 32 MiB), `max_download`
--   (downloads, 512 MiB), `verify` (TLS, default true), `ca_file`, `ca_path`,
--   `user_agent`, `headers` (extra `"Name: value"` lines), `logger`
--   (`function(level, line, fields)`), `log_level` (`"debug"`, `"info"`, `"warn"`,
--   `"error"`), `random` (RNG for jitter, specs), `sleep` (override, specs).
--   Times are seconds (0 to 1,000,000); sizes are whole numbers of bytes.
-- @treturn Client the client
-- @raise on an unknown option, a wrong option type, or a malformed key/base URL
function M.new(opts)
  opts = M.new_options:check(opts, 2)
  local key = opts.api_key
  if key == nil then key = os.getenv("COMETAPI_KEY") end
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
  base = trim(base or "https://api.cometapi.com"):gsub("/+$", "")
  if not base:match("^[Hh][Tt][Tt][Pp][Ss]?://[^%s]+$") or base:find("[%c]") then
    error("mj.new: option 'base_url' must be an http(s) URL", 2)
  end
  local mode = opts.mode
  if mode ~= nil and not mode:match("^%a+$") then
    error("mj.new: option 'mode' must be a word such as \"turbo\"", 2)
  end
  local timeout = opts.timeout or 60
  local self = setmetatable({
    base_url = base,
    prefix = mode and ("/mj-" .. mode:lower()) or "",
    timeout = timeout,
    submit_timeout = opts.submit_timeout or math.max(timeout, 120),
    connect_timeout = opts.connect_timeout or 10,
    low_speed_time = opts.low_speed_time,
    deadline = opts.deadline or (2 * timeout + 10),
    max_body = opts.max_body or 32 * 1024 * 1024,
    max_download = opts.max_download or 512 * 1024 * 1024,
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
    -- what this client did recently, by task id: submits (the first poll waits a
    -- little) and modal answers (a stale MODAL row is not the end of a wait)
    _recent = { submitted = {}, modal = {}, n = 0 },
  }, Client)
  -- the key is kept in a closure, not in a field, so that dumping the client
  -- table does not show it
  self._key = key and function() return key end or nil
  return self
end

--- True when `v` is a client. Neither blocks nor yields.
-- @param v
-- @treturn boolean
function M.is_client(v) return getmetatable(v) == Client end

-- ------------------------------------------------------------------ plumbing

local function check_self(self, name)
  if getmetatable(self) ~= Client then
    error("client:" .. name .. ": call it with ':' on a client", 3)
  end
end

local call_options = {}
local function call_schema(name)
  local s = call_options[name]
  if not s then
    s = options.schema("client:" .. name, { timeout = "seconds", deadline = "seconds" })
    call_options[name] = s
  end
  return s
end

-- Remember that this client submitted (or answered the modal of) a task, for a while.
local RECENT_TTL = 3600
local function remember(self, kind, id)
  local r = self._recent
  r[kind][id] = now()
  r.n = r.n + 1
  if r.n > 4096 then -- forget what is older than the gateway's one-hour cap
    local cut, n = now() - RECENT_TTL, 0
    for _, k in ipairs({ "submitted", "modal" }) do
      for x, t in pairs(r[k]) do
        if t < cut then r[k][x] = nil else n = n + 1 end
      end
    end
    r.n = n
  end
end

--- A client, made by `mj.new(opts)` (or `client.new`). Its fields (`base_url`, `timeout`,
-- `deadline`, ...) are read-only settings; the API key is not among them. Its methods
-- are every endpoint (`imagine`, `fetch`, `action`, ...), the waits (`wait`,
-- `wait_all`), the verbs on top of buttons (`upscale`, `vary_region`, ...) and
-- `download`; call them with `:`.
-- @type Client

--- When this client submitted task `id` (seconds on `scheduler.now()`'s clock), or nil.
-- Neither blocks nor yields.
-- @tparam string id
-- @treturn number|nil
function Client:submitted_at(id)
  return self._recent.submitted[id]
end

--- True when this client answered task `id`'s MODAL dialog (`client:modal`): a MODAL
-- snapshot of it is then stale (the gateway keeps serving the old row until its next
-- sync), not the end of a wait. Neither blocks nor yields.
-- @tparam string id
-- @treturn boolean
function Client:answered_modal(id)
  return self._recent.modal[id] ~= nil
end

local function path(self, p) return self.prefix .. p end

local function no_key_error()
  return errors.new { kind = "invalid", message = "no API key: pass api_key to mj.new or set COMETAPI_KEY" }
end

-- One API call through the transport.
local function call(self, class, method, p, body, interpret, o, timeout)
  if not self._key then return nil, no_key_error() end
  o = o or {}
  timeout = o.timeout or timeout or self.timeout
  return transport.exchange(self, {
    class = class, what = p, interpret = interpret, timeout = timeout,
    deadline = o.deadline or self.deadline, limit = string.format("max_body = %d bytes", self.max_body),
    spec = transport.api_spec(self, method, path(self, p), body, class == "submit", timeout),
  })
end

-- ------------------------------------------------------------------ submits

local submit_paths = {
  imagine = "/mj/submit/imagine", action = "/mj/submit/action", modal = "/mj/submit/modal",
  change = "/mj/submit/change",
  blend = "/mj/submit/blend", describe = "/mj/submit/describe", shorten = "/mj/submit/shorten",
  video = "/mj/submit/video", edits = "/mj/submit/edits", swap_face = "/mj/insight-face/swap",
  upload = "/mj/submit/upload-discord-images",
}

local function copy_fields(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- True when the body carries an image field (the submit then uses submit_timeout).
local function carries_images(endpoint, body)
  local r = validate.rules[endpoint]
  for f in pairs(r and r.images or {}) do
    if body[f] ~= nil then return true end
  end
  return false
end

-- True when an image field's value is image bytes or the path of a readable file (it then
-- becomes a data URI); URLs, data URIs and anything else (raw base64) are sent as they are.
local function is_file_or_bytes(v)
  if image_uri.sniff(v) then return true end
  if #v > 4096 or v:find("%z") or v:match("^[Hh][Tt][Tt][Pp][Ss]?://") or v:match("^[Dd][Aa][Tt][Aa]:") then
    return false
  end
  local f = io.open(v, "rb")
  if not f then return false end
  f:close()
  return true
end

-- Image fields given as a file path or as image bytes become data URIs (a mask must be a PNG).
local function attach_images(endpoint, body)
  local r = validate.rules[endpoint]
  for f, o in pairs(r and r.images or {}) do
    local v = body[f]
    local formats = f == "maskBase64" and { "png" } or nil
    local function convert(x, where)
      if type(x) ~= "string" or not is_file_or_bytes(x) then return x end
      local u, err = image_uri.data_uri(x, { formats = formats })
      if not u then
        err.message = endpoint .. ": field '" .. where .. "': " .. err.message
        return nil, err
      end
      return u
    end
    if o.list and type(v) == "table" then
      local out = {}
      for i = 1, #v do
        local u, err = convert(v[i], f .. "[" .. i .. "]")
        if not u then return nil, err end
        out[i] = u
      end
      body[f] = out
    elseif v ~= nil then
      local u, err = convert(v, f)
      if not u then return nil, err end
      body[f] = u
    end
  end
  return true
end

-- Validate and send a submit body; remember the new task id.
local function submit(self, endpoint, body, o, level)
  local attached, aerr = attach_images(endpoint, body)
  if not attached then return nil, aerr end
  if body.taskId ~= nil and (type(body.taskId) == "string" or type(body.taskId) == "number") then
    local sid, why = ids.check(body.taskId)
    if not sid then return nil, errors.new { kind = "invalid", message = endpoint .. ": field 'taskId': " .. why } end
    body.taskId = sid
  end
  local ok, why, what = validate.check_body(endpoint, body)
  if not ok then
    if what == "content" then
      return nil, errors.new { kind = "invalid", message = endpoint .. ": " .. why }
    end
    error("client:" .. endpoint .. ": " .. why, (level or 2) + 1)
  end
  local want_list = endpoint == "upload"
  local id, env = call(self, "submit", "POST", submit_paths[endpoint], json.encode(body),
    function(rec) return responses.submit(rec, want_list) end, o,
    carries_images(endpoint, body) and self.submit_timeout or self.timeout)
  if id and not want_list then remember(self, endpoint == "modal" and "modal" or "submitted", id) end
  return id, env
end

-- A verb's task argument: a Task, or an id (raises on a wrong type; nil, err for an id
-- the API never issues).
local function task_arg(name, task)
  if task_mod.is_task(task) then return true end
  local sid, err = ids.arg("client:" .. name, task, "task", 3)
  if not sid then return nil, err end
  return true
end

local function fields_arg(name, t)
  if type(t) ~= "table" then
    error("client:" .. name .. ": argument 'fields' must be a table of wire fields, got " .. type(t), 3)
  end
  return copy_fields(t)
end

--- Submit `/mj/submit/imagine`. Blocks, or yields in a scheduler coroutine.
-- @tparam string|table prompt the prompt, or a table of wire fields (`prompt`
--   required; `botType`, `base64Array`, `state`, `notifyHook`, `accountFilter`,
--   unknown fields passed through)
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn[1] string task id
-- @treturn[1] table envelope `{code, description, result, properties}`
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type, an unknown option or a missing prompt
function Client:imagine(prompt, opts)
  check_self(self, "imagine")
  local body
  if type(prompt) == "string" then body = { prompt = prompt }
  elseif type(prompt) == "table" then body = copy_fields(prompt)
  else error("client:imagine: argument 'prompt' must be a string or a table, got " .. type(prompt), 2) end
  return submit(self, "imagine", body, call_schema("imagine"):check(opts, 2))
end

--- Submit `/mj/submit/blend`: 2 to 5 images into one grid. Blocks, or yields.
-- @tparam table fields wire fields: `base64Array` (2–5 data URIs or URLs),
--   `dimensions` (`"PORTRAIT"`, `"SQUARE"`, `"LANDSCAPE"`), `botType`, `state`, ...
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type, an unknown option or a missing required field
function Client:blend(fields, opts)
  check_self(self, "blend")
  return submit(self, "blend", fields_arg("blend", fields), call_schema("blend"):check(opts, 2))
end

--- Submit `/mj/submit/describe`: an image to four prompt suggestions
-- (`task:suggestions()` on the finished task). Blocks, or yields.
-- @tparam table fields wire fields: `base64` (a data URI) or `link` (a URL), `botType`, ...
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type, an unknown option or a missing required field
function Client:describe(fields, opts)
  check_self(self, "describe")
  return submit(self, "describe", fields_arg("describe", fields), call_schema("describe"):check(opts, 2))
end

--- Submit `/mj/submit/shorten`: analyse a prompt. Blocks, or yields.
-- @tparam table fields wire fields: `prompt`, `botType`, ...
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type, an unknown option or a missing required field
function Client:shorten(fields, opts)
  check_self(self, "shorten")
  return submit(self, "shorten", fields_arg("shorten", fields), call_schema("shorten"):check(opts, 2))
end

--- Submit `/mj/submit/video`: an image to video, or (with `action = "extend"`) extend
-- a video of an earlier VIDEO task. Blocks, or yields.
-- @tparam table fields wire fields: a new video takes `image` (URL or data URI,
--   required), `motion` (`"low"`/`"high"`), `prompt`, `endImage`, `loop`, `videoType`,
--   `batchSize`; an extension takes `action = "extend"`, `taskId` (the VIDEO task)
--   and `index` (0-based, 0..3), `motion`, `prompt`, and no image
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type, an unknown option or a missing required field
function Client:video(fields, opts)
  check_self(self, "video")
  return submit(self, "video", fields_arg("video", fields), call_schema("video"):check(opts, 2))
end

--- Submit `/mj/submit/edits`: edit an image by prompt. Blocks, or yields.
-- @tparam table fields wire fields: `image` (URL or data URI), `prompt`
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type, an unknown option or a missing required field
function Client:edits(fields, opts)
  check_self(self, "edits")
  return submit(self, "edits", fields_arg("edits", fields), call_schema("edits"):check(opts, 2))
end

--- Submit `/mj/insight-face/swap`: put the face of one image on another. Blocks, or yields.
-- @tparam table fields wire fields: `sourceBase64` (the face), `targetBase64`
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn string|nil task id, or nil and an error
-- @treturn table envelope or error
-- @raise on a wrong argument type, an unknown option or a missing required field
function Client:swap_face(fields, opts)
  check_self(self, "swap_face")
  return submit(self, "swap_face", fields_arg("swap_face", fields), call_schema("swap_face"):check(opts, 2))
end

--- Upload images (`/mj/submit/upload-discord-images`) to get URLs for them. Blocks, or yields.
-- @tparam table fields wire fields: `base64Array` (data URIs)
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn[1] table list of URLs
-- @treturn[1] table envelope
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type, an unknown option or a missing required field
function Client:upload(fields, opts)
  check_self(self, "upload")
  return submit(self, "upload", fields_arg("upload", fields), call_schema("upload"):check(opts, 2))
end

-- ------------------------------------------------------------------ reads

local str_find = string.find

-- The poll path: a fetch with no options shares one request description per client (the
-- spec and everything but the URL), so a poll builds two small tables, not four.
-- (kept beside the client, weakly, not in it: the spec holds the Authorization header)
local fetch_req_mt = {}
local fetch_bases = setmetatable({}, { __mode = "k" })
local function fast_fetch(self, sid)
  local base = fetch_bases[self]
  if not base then
    local timeout = self.timeout
    local task_path = self.prefix .. "/mj/task/"
    base = {
      class = "read", interpret = responses.fetch, timeout = timeout, deadline = self.deadline,
      limit = string.format("max_body = %d bytes", self.max_body), prefix = self.base_url .. task_path,
      path = task_path,
      spec = transport.api_spec(self, "GET", task_path, nil, false, timeout),
    }
    base.__index = base
    fetch_bases[self] = setmetatable(base, fetch_req_mt)
  end
  local what = self.log and (base.path .. sid .. "/fetch") or nil -- for the log only
  return transport.exchange(self, setmetatable({ url = base.prefix .. sid .. "/fetch", what = what }, base))
end

--- Fetch one task (`GET /mj/task/{id}/fetch`). Blocks, or yields.
-- An unknown id gives kind `"not_found"` whatever shape the server used
-- (HTTP 400 task_no_found, 404, 204, an empty or `null` body on a 2xx/4xx answer).
-- @tparam string|number|Task id a task id or a task
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn[1] Task
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type or an unknown option
function Client:fetch(id, opts)
  check_self(self, "fetch")
  if opts == nil and self._key and type(id) == "string" and #id <= ids.MAX and id ~= ""
    and not str_find(id, "[^%w_%-]") then
    return fast_fetch(self, id)
  end
  local sid, err = ids.arg("client:fetch", id, "id")
  if not sid then return nil, err end
  return call(self, "read", "GET", "/mj/task/" .. ids.path_segment(sid) .. "/fetch", nil, responses.fetch,
    call_schema("fetch"):check(opts, 2))
end

--- List tasks by id (`POST /mj/task/list-by-condition`). Blocks, or yields.
-- Unknown ids are left out; the order is the server's; when one id has two rows
-- (after a modal), the one further along its lifecycle is kept.
-- @tparam table list a list of task ids (strings or integers) or tasks
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn[1] table list of Tasks
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type or an unknown option
function Client:list(list, opts)
  check_self(self, "list")
  if type(list) ~= "table" then error("client:list: argument 'ids' must be a list of task ids", 2) end
  opts = call_schema("list"):check(opts, 2)
  local out, seen = {}, {}
  for i = 1, #list do
    local s, err = ids.arg("client:list", list[i], "ids[" .. i .. "]")
    if not s then return nil, err end
    if not seen[s] then seen[s] = true; out[#out + 1] = s end
  end
  if #out == 0 then return {} end
  return call(self, "read", "POST", "/mj/task/list-by-condition", json.encode { ids = json.array(out) },
    responses.list, opts)
end

--- The seed of a finished task (`GET /mj/task/{id}/image-seed`). Blocks, or yields.
-- @tparam string|number|Task id a task id or a task
-- @tparam[opt] table opts library options: `timeout` (default 90 s: the upstream may
--   take up to 60 s), `deadline`
-- @treturn[1] string the seed
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on a wrong argument type or an unknown option
function Client:image_seed(id, opts)
  check_self(self, "image_seed")
  local sid, err = ids.arg("client:image_seed", id, "id")
  if not sid then return nil, err end
  opts = call_schema("image_seed"):check(opts, 2)
  local timeout = opts.timeout or math.max(self.timeout, 90)
  return call(self, "read", "GET", "/mj/task/" .. ids.path_segment(sid) .. "/image-seed", nil, responses.seed,
    { timeout = timeout, deadline = opts.deadline or (2 * timeout + 10) })
end

-- ------------------------------------------------------------------ action / modal / change

local action_options = options.schema("client:action", {
  state = { kind = "string", wire = true }, enableRemix = { kind = "boolean", wire = true },
  chooseSameChannel = { kind = "boolean", wire = true }, notifyHook = { kind = "string", wire = true },
  accountFilter = { kind = "table", wire = true },
  timeout = "seconds", deadline = "seconds", remix = "string",
  wait = function(v) return type(v) == "boolean" or type(v) == "table", "true, false or a table of wait options" end,
})
--- @section end

--- The options of `client:action` (a schema of `midjourney.options`).
M.action_options = action_options

--- @type Client

--- Press a button (`/mj/submit/action`). When given an id, or a task that is not a
-- SUCCESS snapshot, fetches the newest task first; the button is always resolved
-- against that newest `buttons` list (a customId is never built). Blocks, or yields.
--
-- With `remix = "a new prompt"`, the action is sent with `enableRemix = true`, the new
-- task is waited for until it opens its Remix dialog (MODAL), and the dialog is
-- answered with the prompt (`client:modal`); the task id is returned as usual.
-- @tparam string|number|Task task_or_id a task id or a Task
-- @tparam string|table button label (`"U1"`), emoji (`"🔄"`), customId, family
--   (`"upsample::2"`, `"pan_left"`), or a button table
-- @tparam[opt] table opts wire fields: `state`, `enableRemix`, `chooseSameChannel`,
--   `notifyHook`, `accountFilter`; library options: `timeout`, `deadline` (the
--   HTTP calls), `remix` (the Remix prompt, see above), `wait` (`true`, or a table of
--   `client:wait` options: return the finished task instead of its id)
-- @treturn[1] string the new task id (with `wait`: the finished Task)
-- @treturn[1] table envelope
-- @treturn[2] nil
-- @treturn[2] table error: kind `"invalid"` when the task is not finished (naming its
--   status and percent) or has no such button (naming the buttons it has)
-- @raise on wrong argument types or an unknown option
function Client:action(task_or_id, button, opts)
  check_self(self, "action")
  if type(button) ~= "string" and type(button) ~= "table" then
    error("client:action: argument 'button' must be a string or a button table, got " .. type(button), 2)
  end
  opts = action_options:check(opts, 2)
  local ok, aerr = task_arg("action", task_or_id)
  if not ok then return nil, aerr end
  local what = type(button) == "table" and tostring(button.customId or button.label or button.emoji)
    or string.format("%q", button)
  local t, err = verbs.newest(self, task_or_id, "client:action", what, opts.deadline)
  if not t then return nil, err end
  local b = t:button(button)
  if not b or type(b.customId) ~= "string" or b.customId == "" then return nil, buttons.missing(t, what) end
  local body = action_options:wire_fields(opts)
  body.taskId, body.customId = t.id, b.customId
  if opts.remix then body.enableRemix = true end
  local id, env = submit(self, "action", body, { timeout = opts.timeout, deadline = opts.deadline })
  if not id then return nil, env end
  if opts.remix then
    id, env = verbs.answer_remix(self, id, env, opts.remix, opts)
    if not id then return nil, env end
  end
  if opts.wait then return self:wait(id, type(opts.wait) == "table" and opts.wait or nil) end
  return id, env
end

--- Answer a task waiting in MODAL (`/mj/submit/modal`): Vary Region, Custom Zoom,
-- Remix. From then on, a MODAL snapshot of this task counts as stale for this
-- client's waits (the gateway serves the old row until its next sync). Blocks, or yields.
-- @tparam string|number|Task task_or_id the MODAL task (id or Task)
-- @tparam[opt] table fields wire fields: `prompt`, `maskBase64` (a PNG data URI or
--   raw base64), `state`, `notifyHook`, other fields passed through
-- @tparam[opt] table opts library options: `timeout`, `deadline`
-- @treturn[1] string the task id (the same as the modal task's)
-- @treturn[1] table envelope
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on wrong argument types or an unknown option
function Client:modal(task_or_id, fields, opts)
  check_self(self, "modal")
  local sid, err = ids.arg("client:modal", task_or_id, "task_or_id")
  if not sid then return nil, err end
  if fields ~= nil and type(fields) ~= "table" then
    error("client:modal: argument 'fields' must be a table, got " .. type(fields), 2)
  end
  local body = fields and copy_fields(fields) or {}
  body.taskId = sid
  return submit(self, "modal", body, call_schema("modal"):check(opts, 2))
end

local change_actions = { UPSCALE = true, VARIATION = true, REROLL = true }
local change_options = options.schema("client:change", { state = { kind = "string", wire = true },
  notifyHook = { kind = "string", wire = true }, timeout = "seconds", deadline = "seconds" })

--- The older button API (`/mj/submit/change`): `UPSCALE`, `VARIATION` or `REROLL` of
-- image `index` of a grid, without reading its buttons. Prefer `action` and the verbs.
-- Blocks, or yields.
-- @tparam string|number|Task task_or_id the grid task (id or Task)
-- @tparam string action `"UPSCALE"`, `"VARIATION"` or `"REROLL"`
-- @tparam integer index 1..4 (the gateway requires one even for REROLL)
-- @tparam[opt] table opts wire fields: `state`, `notifyHook`; library options:
--   `timeout`, `deadline`
-- @treturn string|nil the new task id, or nil and an error
-- @treturn table envelope or error
-- @raise on wrong argument types or an unknown option
function Client:change(task_or_id, action, index, opts)
  check_self(self, "change")
  if not change_actions[action] then
    error("client:change: argument 'action' must be \"UPSCALE\", \"VARIATION\" or \"REROLL\", got "
      .. tostring(action), 2)
  end
  if type(index) ~= "number" or index ~= math.floor(index) or index < 1 or index > 4 then
    error("client:change: argument 'index' must be an integer 1..4, got " .. tostring(index), 2)
  end
  local sid, err = ids.arg("client:change", task_or_id, "task_or_id")
  if not sid then return nil, err end
  opts = change_options:check(opts, 2)
  local body = { taskId = sid, action = action, index = index, state = opts.state, notifyHook = opts.notifyHook }
  return submit(self, "change", body, { timeout = opts.timeout, deadline = opts.deadline })
end

-- ------------------------------------------------------------------ waiting

--- Wait for a task to finish. Blocks, or yields in a scheduler coroutine.
--
-- Ends at SUCCESS or MODAL (returns the task), FAILURE or CANCEL (kind
-- `"task_failed"`), `not_found` after `not_found_limit` consecutive misses, a
-- non-transient error (401, 403, invalid...), the deadline (kind `"timeout"`,
-- `err.task` = the last snapshot) or a stall when `stall_error` is set. Transient
-- errors (`midjourney.retry`'s rule) do not end it. A MODAL snapshot of a task whose
-- dialog this client answered (`client:modal`) is stale and does not end it either.
--
-- The first poll goes out at once, except for a task this client submitted less than
-- `first_delay` seconds ago (its first snapshot would only be the placeholder).
-- Inside a scheduler coroutine, waits share their polls (`coalesce`): one
-- list-by-condition request per `batch` tasks per `interval`.
-- @tparam string|number|Task id_or_task a task id or a Task (a finished Task returns at once)
-- @tparam[opt] table opts library options: `timeout` (600 s), `interval` (3 s),
--   `first_delay` (3 s), `on_progress(task)` (on status or progress change),
--   `on_stall(task)`, `stall_timeout` (seconds without change), `stall_error` (end the
--   wait on a stall), `not_found_limit` (3), `coalesce` (default true), `batch` (50)
-- @treturn[1] Task the task in SUCCESS or MODAL
-- @treturn[2] nil
-- @treturn[2] table error: `task_failed` (with `err.task`), `timeout` (with the last
--   snapshot in `err.task`), `not_found`, `cancelled`, or a non-transient error
-- @raise on wrong argument types or an unknown option; errors raised by the callbacks
--   propagate (inside a coroutine: out of it, to whoever reads its result)
function Client:wait(id_or_task, opts)
  check_self(self, "wait")
  opts = wait.options:check(opts, 2)
  local sid, err = ids.arg("client:wait", id_or_task, "id_or_task")
  if not sid then return nil, err end
  return wait.wait(self, sid, task_mod.is_task(id_or_task) and id_or_task or nil, opts)
end

--- Wait for many tasks at once; their polls are shared (one list-by-condition request
-- per `batch` tasks per `interval`). Blocks, or yields in a scheduler coroutine.
-- @tparam table list task ids or Tasks
-- @tparam[opt] table opts library options, as for `wait`
-- @treturn table results by id: the Task for ids that reached SUCCESS or MODAL
-- @treturn table|nil errors by id (task_failed, timeout, not_found, ...), nil when none
-- @raise on wrong argument types or an unknown option
function Client:wait_all(list, opts)
  check_self(self, "wait_all")
  if type(list) ~= "table" then error("client:wait_all: argument 'ids' must be a list", 2) end
  opts = wait.options:check(opts, 2)
  -- argument types now (they raise); ids are normalised while the waits start, in chunks
  for i = 1, #list do
    local v = list[i]
    local tv = type(v)
    if tv ~= "string" and tv ~= "number" and not (tv == "table" and v.id ~= nil) then
      ids.arg("client:wait_all", v, "ids[" .. i .. "]") -- raises with the usual message
    end
  end
  local results, errs = wait.wait_all(self, list, opts)
  return results, next(errs) and errs or nil
end

-- ------------------------------------------------------------------ verbs

--- Upscale image `i` of a grid (button U`i`). Blocks, or yields.
-- @tparam string|number|Task task a grid task or its id
-- @tparam integer i 1..4
-- @tparam[opt] table opts wire fields of `action`; library options: `wait` (return the
--   finished task) and the `client:wait` options
-- @return the new id and envelope, or with `wait` the finished Task; nil, err on failure
-- @raise on wrong argument types or an unknown option
function Client:upscale(task, i, opts)
  check_self(self, "upscale")
  local ok, err = task_arg("upscale", task)
  if not ok then return nil, err end
  local r1, r2 = verbs.upscale(self, task, i, opts)
  return r1, r2
end

--- Variations: on a grid, of image `i` (button V`i`); on an upscaled image, Vary
-- (Subtle), or Vary (Strong) with `strong`. Blocks, or yields.
-- @tparam string|number|Task task a task or its id
-- @tparam[opt] integer i 1..4 (grids)
-- @tparam[opt] table opts wire fields of `action`; library options: `strong`, `remix`
--   (a Remix prompt, see `action`), `wait` and the `client:wait` options
-- @return the new id and envelope, or with `wait` the finished Task; nil, err on failure
-- @raise on wrong argument types or an unknown option
function Client:variation(task, i, opts)
  check_self(self, "variation")
  local ok, err = task_arg("variation", task)
  if not ok then return nil, err end
  local r1, r2 = verbs.variation(self, task, i, opts)
  return r1, r2
end

--- Re-run the job (🔄). Blocks, or yields.
-- @tparam string|number|Task task a task or its id
-- @tparam[opt] table opts wire fields of `action`; library options: `remix`, `wait`
--   and the `client:wait` options
-- @return the new id and envelope, or with `wait` the finished Task; nil, err on failure
-- @raise on wrong argument types or an unknown option
function Client:reroll(task, opts)
  check_self(self, "reroll")
  local ok, err = task_arg("reroll", task)
  if not ok then return nil, err end
  local r1, r2 = verbs.reroll(self, task, opts)
  return r1, r2
end

--- Zoom out an upscaled image: `2` (Zoom Out 2x), `1.5` (Zoom Out 1.5x) or `"square"`
-- (Make Square). Blocks, or yields.
-- @tparam string|number|Task task an upscaled task or its id
-- @tparam number|string factor 2, 1.5 or "square"
-- @tparam[opt] table opts wire fields of `action`; library options: `wait` and the
--   `client:wait` options
-- @return the new id and envelope, or with `wait` the finished Task; nil, err on failure
-- @raise on a wrong factor or an unknown option
function Client:zoom_out(task, factor, opts)
  check_self(self, "zoom_out")
  local ok, err = task_arg("zoom_out", task)
  if not ok then return nil, err end
  local r1, r2 = verbs.zoom_out(self, task, factor, opts)
  return r1, r2
end

--- Pan an upscaled image. Blocks, or yields.
-- @tparam string|number|Task task an upscaled task or its id
-- @tparam string dir "left", "right", "up" or "down"
-- @tparam[opt] table opts wire fields of `action`; library options: `remix`, `wait`
--   and the `client:wait` options
-- @return the new id and envelope, or with `wait` the finished Task; nil, err on failure
-- @raise on a wrong direction or an unknown option
function Client:pan(task, dir, opts)
  check_self(self, "pan")
  local ok, err = task_arg("pan", task)
  if not ok then return nil, err end
  local r1, r2 = verbs.pan(self, task, dir, opts)
  return r1, r2
end

--- HD upscale of an upscaled image: "subtle" or "creative" (v6/v7 buttons; on v5,
-- "subtle" takes Upscale (2x) and "creative" Upscale (4x)). Blocks, or yields.
-- @tparam string|number|Task task an upscaled task or its id
-- @tparam string kind "subtle" or "creative"
-- @tparam[opt] table opts wire fields of `action`; library options: `wait` and the
--   `client:wait` options
-- @return the new id and envelope, or with `wait` the finished Task; nil, err on failure
-- @raise on a wrong kind or an unknown option
function Client:upscale_hd(task, kind, opts)
  check_self(self, "upscale_hd")
  local ok, err = task_arg("upscale_hd", task)
  if not ok then return nil, err end
  local r1, r2 = verbs.upscale_hd(self, task, kind, opts)
  return r1, r2
end

--- Vary (Region): press Vary (Region), wait for its MODAL, then send the mask and the
-- prompt. Blocks, or yields.
-- @tparam string|number|Task task an upscaled task or its id
-- @tparam string|table mask the mask, white = repaint: a PNG data URI, raw base64, a PNG
--   file path or PNG bytes; or a table of shapes (`midjourney.image.mask`), drawn at the
--   size of the task's image (only its header is fetched; needs `midjourney.image`)
-- @tparam string prompt
-- @tparam[opt] table opts wire fields of `action`; library options: `wait`, the
--   `client:wait` options, `modal_timeout` (how long to wait for the MODAL, 600 s)
-- @return the task id and envelope, or with `wait` the finished Task; nil, err on failure
-- @raise on wrong argument types or an unknown option
function Client:vary_region(task, mask, prompt, opts)
  check_self(self, "vary_region")
  local ok, err = task_arg("vary_region", task)
  if not ok then return nil, err end
  local r1, r2 = verbs.vary_region(self, task, mask, prompt, opts)
  return r1, r2
end

--- Custom Zoom: press Custom Zoom, wait for its MODAL, then send the prompt (which
-- should end with `--zoom <1..2>`). Blocks, or yields.
-- @tparam string|number|Task task an upscaled task or its id
-- @tparam string prompt
-- @tparam[opt] table opts as for `vary_region`
-- @return the task id and envelope, or with `wait` the finished Task; nil, err on failure
-- @raise on wrong argument types or an unknown option
function Client:custom_zoom(task, prompt, opts)
  check_self(self, "custom_zoom")
  local ok, err = task_arg("custom_zoom", task)
  if not ok then return nil, err end
  local r1, r2 = verbs.custom_zoom(self, task, prompt, opts)
  return r1, r2
end

-- ------------------------------------------------------------------ downloads

--- Download a task's image (or a URL) to `path`, streaming to disk. Blocks, or yields.
--
-- The body goes to `path .. ".part"` (constant memory), redirects are followed without
-- any Authorization header (the API key is never sent), the size is capped while
-- receiving, the content type must be `image/*` or `video/*`, and on success the file
-- is renamed to `path`. On any failure the partial file is removed. Retried like a read.
--
-- With `split = true`, the four pictures of a grid task become four files, without four
-- billed upscales: `dest` is a directory (files `<dest>/<task id>-1.png` … `-4.png`) or a
-- base name (`boat.png` gives `boat-1.png` … `boat-4.png`). The task's per-image URLs
-- (`imageUrls`) are used when the gateway gives them (a file keeps the format they serve:
-- `.png`, `.jpg` or `.webp`); otherwise the grid is downloaded and cut locally with
-- `midjourney.image` (U1–U4 order: top-left, top-right, bottom-left, bottom-right).
-- @tparam Task|string task_or_url a Task (its `imageUrl`; `video` for `videoUrl`;
--   `index` for `imageUrls[i]`/`videoUrls[i]`) or an http(s) URL
-- @tparam string dest destination file (with `split`: a directory or a base name)
-- @tparam[opt] table opts library options: `max_bytes` (client `max_download`),
--   `timeout` (300 s), `low_speed_time` (client option, else 30 s), `deadline`,
--   `content_types` (accepted prefixes, default `{"image/", "video/"}`), `video`, `index`,
--   `split`
-- @treturn[1] string path (with `split`: the list of the four paths)
-- @treturn[1] table info `{size=, content_type=, url=}` (url redacted; with `split`:
--   `{source = "imageUrls"|"split", sizes = {...}}`)
-- @treturn[2] nil
-- @treturn[2] table error
-- @raise on wrong argument types or an unknown option
function Client:download(task_or_url, dest, opts)
  check_self(self, "download")
  local r1, r2 = download.download(self, task_or_url, dest, opts)
  return r1, r2
end

--- @section end

--- The Client class: the metatable of every client (`getmetatable(client) == client.Client`).
M.Client = Client

return M
