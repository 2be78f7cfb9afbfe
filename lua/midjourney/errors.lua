--- Error objects and secret redaction.
--
-- Every runtime failure of the library is returned as `nil, err` where `err` is
-- a table made by `errors.new`: fields `kind`, `message` and, where known,
-- `status`, `code`, `description`, `retryable`, `request_id`, `task`,
-- `retry_after`, `cause`. `tostring(err)` gives one line, for example
-- `midjourney: api error (code 4, HTTP 200): base64格式错误 [request id 42]`.
--
-- Kinds: `transport`, `timeout`, `http`, `api`, `decode`, `not_found`,
-- `task_failed`, `cancelled`, `maybe_accepted` (a submit whose fate is unknown:
-- never resubmitted automatically), `invalid` (refused locally before sending),
-- `rate_limited`, `pending` (a coroutine's result was asked before it finished).
--
-- What is redacted: every string field of an error and `tostring(err)` lose the
-- registered API keys (and any 8+ byte prefix of one that a cut left at the end),
-- `Bearer` tokens, `sk-...` tokens and credential headers. What is not: the data the
-- server sent that the library hands over as data, such as a Task's fields
-- (`err.task.failReason`, `err.properties`, `task.prompt`): print those through
-- `errors.redact`.
--
-- Nothing in this module blocks or yields.
-- @module midjourney.errors
local M = {}

--- The known kinds, as a set (`errors.kinds.api == true`).
M.kinds = {
  transport = true, timeout = true, http = true, api = true, decode = true,
  not_found = true, task_failed = true, cancelled = true, maybe_accepted = true,
  invalid = true, rate_limited = true, pending = true,
}

local labels = {
  transport = "transport error", timeout = "timeout", http = "HTTP error",
  api = "api error", decode = "decode error", not_found = "not found",
  task_failed = "task failed", cancelled = "cancelled",
  maybe_accepted = "submit outcome unknown", invalid = "invalid request",
  rate_limited = "rate limited", pending = "not finished",
}

-- Secrets registered by clients (set of strings). Keys are strings, so this
-- keeps them alive for the process; that is intended (they must be redacted
-- wherever they show up later).
local secrets = {}
local secret_list = {}

local function plain_gsub(s, needle, repl)
  local out, init = {}, 1
  while true do
    local a, b = s:find(needle, init, true)
    if not a then break end
    out[#out + 1] = s:sub(init, a - 1)
    out[#out + 1] = repl
    init = b + 1
  end
  if init == 1 then return s end
  out[#out + 1] = s:sub(init)
  return table.concat(out)
end

--- Register a secret (an API key) to be redacted from every error message and
-- log line from now on. Neither blocks nor yields.
-- @tparam string secret the secret; strings shorter than 4 bytes are ignored
function M.register_secret(secret)
  if type(secret) == "string" and #secret >= 4 and not secrets[secret] then
    secrets[secret] = true
    secret_list[#secret_list + 1] = secret
    -- longest first so a key that contains another is redacted whole
    table.sort(secret_list, function(a, b) return #a > #b end)
  end
end

--- Remove secrets from a text: registered keys (and `extra`), `Bearer <token>`,
-- `sk-...` tokens and `Authorization:`/`mj-api-secret:` header values.
-- Neither blocks nor yields.
-- @tparam string text any text (non-strings are passed to `tostring`)
-- @tparam[opt] string extra one more secret to strip
-- @treturn string the text with each secret replaced by `***`
function M.redact(text, extra)
  if text == nil then return nil end
  local s = type(text) == "string" and text or tostring(text)
  if type(extra) == "string" and #extra >= 4 then s = plain_gsub(s, extra, "***") end
  for i = 1, #secret_list do s = plain_gsub(s, secret_list[i], "***") end
  s = s:gsub("([Bb][Ee][Aa][Rr][Ee][Rr])%s+[^%s\"',;]+", "%1 ***")
  s = s:gsub("([Aa]uthorization%s*:%s*)[^\r\n\"]+", "%1***")
  s = s:gsub("([Mm][Jj]%-[Aa][Pp][Ii]%-[Ss][Ee][Cc][Rr][Ee][Tt]%s*:%s*)[^\r\n\"]+", "%1***")
  s = s:gsub("sk%-[%w_%-]+", "sk-***")
  return s
end

--- Redact a URL for logs: drop its query string and fragment (signed image
-- links carry credentials there) and any user:password part.
-- Neither blocks nor yields.
-- @tparam string url
-- @treturn string
function M.redact_url(url)
  if type(url) ~= "string" then return url end
  local s = url:gsub("[?#].*$", function(q) return q:sub(1, 1) == "?" and "?***" or "" end)
  s = s:gsub("^(%a[%w+.-]*://)[^/@]*@", "%1***@")
  return M.redact(s)
end

-- The longest prefix (8 bytes or more) of a registered secret that `s` ends with, or 0:
-- a cut that falls inside a key must not leave the key's first half behind.
local function secret_prefix_at_end(s)
  local best = 0
  for i = 1, #secret_list do
    local key = secret_list[i]
    for n = math.min(#key - 1, #s), 8, -1 do
      if n <= best then break end
      if s:sub(-n) == key:sub(1, n) then best = n; break end
    end
  end
  return best
end

--- Make a short, printable, redacted snippet of a response body for messages.
-- The body is redacted first, then cut to `max` bytes; a cut that ends inside a
-- registered key (8 bytes of it or more) loses that part too.
-- Neither blocks nor yields.
-- @tparam string body
-- @tparam[opt=120] integer max bytes kept
-- @treturn string
function M.snippet(body, max)
  if type(body) ~= "string" then return "" end
  max = max or 120
  -- redact a window a little larger than what is kept, so a key across the cut is seen whole
  local window = body:sub(1, max + 4096)
  local red = M.redact((window:gsub("[%z\1-\31\127]", " ")))
  local s = red:sub(1, max):gsub("%s+", " ")
  local cut = secret_prefix_at_end(s)
  if cut > 0 then s = s:sub(1, #s - cut) .. "***" end
  -- cut a trailing partial UTF-8 sequence
  s = s:gsub("[\192-\255][\128-\191]*$", function(tail)
    local c = tail:byte(1)
    local need = c >= 240 and 4 or c >= 224 and 3 or 2
    return #tail >= need and tail or ""
  end)
  if #red > max or #body > #window then s = s .. "..." end
  return s
end

local Error = {}
Error.__index = Error

local function one_line(s)
  return (tostring(s):gsub("[\r\n]+", " "))
end

Error.__tostring = function(e)
  local parts = { "midjourney: ", labels[e.kind] or tostring(e.kind) }
  local meta = {}
  if e.code ~= nil then meta[#meta + 1] = "code " .. tostring(e.code) end
  if e.status ~= nil and e.status ~= 0 then meta[#meta + 1] = "HTTP " .. tostring(e.status) end
  if type(e.task) == "table" then
    local ok, id = pcall(function() return e.task.id end)
    if ok and id ~= nil then meta[#meta + 1] = "task " .. tostring(id) end
  end
  if #meta > 0 then parts[#parts + 1] = " (" .. table.concat(meta, ", ") .. ")" end
  if e.message and e.message ~= "" then parts[#parts + 1] = ": " .. one_line(e.message) end
  local props = e.properties
  if type(props) == "table" and type(props.bannedWord) == "string" and props.bannedWord ~= "" then
    parts[#parts + 1] = " (banned word: " .. one_line(props.bannedWord) .. ")"
  end
  if e.request_id and e.request_id ~= "" then
    parts[#parts + 1] = " [request id " .. one_line(e.request_id) .. "]"
  end
  return M.redact(table.concat(parts))
end

--- Make an error object. Neither blocks nor yields.
-- @tparam table fields at least `kind` (one of `errors.kinds`) and `message`;
--   any other field is kept (`status`, `code`, `description`, `retryable`,
--   `request_id`, `task`, `retry_after`, `cause`, ...). Every string field
--   (not `kind`) is redacted.
-- @treturn table the error, with `__tostring`
-- @raise when `fields` is not a table or `kind` is unknown
function M.new(fields)
  if type(fields) ~= "table" then
    error("errors.new: argument 'fields' must be a table, got " .. type(fields), 2)
  end
  if not M.kinds[fields.kind] then
    error("errors.new: unknown kind " .. tostring(fields.kind), 2)
  end
  local e = {}
  for k, v in pairs(fields) do e[k] = v end
  e.message = M.redact(e.message ~= nil and tostring(e.message) or labels[e.kind])
  -- every string field: servers echo tokens in descriptions, request ids, types...
  for k, v in pairs(e) do
    if type(v) == "string" and k ~= "kind" then e[k] = M.redact(v) end
  end
  if e.retryable == nil then e.retryable = false end
  return setmetatable(e, Error)
end

--- The error of a cancelled operation (kind `"cancelled"`): the one value every
-- cancelled call returns, whatever it was doing (a transfer, a sleep, a wait).
-- Neither blocks nor yields.
-- @tparam[opt] string why what cancelled it (default "the operation was cancelled")
-- @treturn table the error
function M.cancelled(why)
  return M.new { kind = "cancelled", message = why or "the operation was cancelled", retryable = false }
end

--- True when `v` is an error object made by `errors.new`. Neither blocks nor yields.
-- @param v any value
-- @treturn boolean
function M.is_error(v)
  return type(v) == "table" and getmetatable(v) == Error
end

return M
