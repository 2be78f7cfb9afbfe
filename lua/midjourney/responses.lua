--- Responses: what an engine record means. Each interpreter turns one finished
-- transfer into a value, or into an error object whose `retryable` field says what
-- the retry policy will do with it.
--
-- The body's shape (submit envelope, gateway relay error, OpenAI-style error, ...) is
-- scanned in C (`core.classify`); what a shape means for the caller (error kind, not
-- found, maybe accepted) is decided here; whether it is worth another try is decided
-- by `midjourney.retry`.
--
-- Nothing in this module blocks or yields.
-- @module midjourney.responses
local core = require "midjourney.core"
local errors = require "midjourney.errors"
local ids = require "midjourney.ids"
local json = require "midjourney.json"
local retry = require "midjourney.retry"
local task_mod = require "midjourney.task"

local M = {}

--- The request id of an answer: a header, else one the body's message carries.
-- @tparam table rec engine record
-- @tparam[opt] table info `core.classify` result
-- @treturn string|nil
function M.request_id(rec, info)
  if rec and rec.request_id and rec.request_id ~= "" then return rec.request_id end
  if info and info.request_id then return info.request_id end
  local msg = info and info.message
  if type(msg) == "string" then
    local rid = msg:match("%(request id: ([^%)]+)%)")
    if rid then return rid end
  end
  return nil
end

local function is_html(rec)
  local ct = rec.content_type or ""
  return ct:find("html", 1, true) or (rec.body or ""):match("^%s*<")
end

local function from(what) return what and (" from " .. what) or "" end

-- A message without the "(request id: ...)" a gateway appends: the id has its own field.
local function without_request_id(msg)
  return (msg:gsub("%s*%(request id: [^%)]+%)", ""))
end

--- The error for an answer that is not what was asked for (any shape, any status).
-- Its `retryable` is the read rule (`retry.transient`); submit callers override it.
-- @tparam table rec engine record
-- @tparam table info `core.classify(rec.status, rec.body)`
-- @tparam[opt] string what the endpoint, for messages (`"fetch"`)
-- @treturn table error
function M.error(rec, info, what)
  local status = rec.status
  local rid = M.request_id(rec, info)
  local ra = retry.retry_after(rec)
  local shape = info.shape
  local e
  if shape == "openai" or shape == "generic" or shape == "image" then
    local msg = info.message and without_request_id(info.message) or ("HTTP " .. status)
    local kind = status == 429 and "rate_limited" or "http"
    if shape == "generic" and status >= 200 and status < 300 then kind = "api" end
    e = errors.new { kind = kind, status = status, code = info.code, message = msg, request_id = rid,
      retry_after = ra, type = info.type }
  elseif shape == "relay" or shape == "submit" then
    local kind = (status == 429 or info.code == 30) and "rate_limited" or "api"
    local desc = without_request_id(info.description or ""):gsub("%s+$", "")
    e = errors.new { kind = kind, status = status, code = info.code, description = desc,
      message = desc ~= "" and desc or ("code " .. tostring(info.code)), request_id = rid, retry_after = ra,
      type = info.type, properties = info.properties }
  elseif shape == "empty" then
    e = errors.new { kind = (status >= 300 or status < 200) and "http" or "decode", status = status,
      request_id = rid, retry_after = ra, message = "empty response body" .. from(what) }
  else
    local why
    if is_html(rec) then why = "HTML page instead of JSON"
    elseif info.error then why = "response is not valid JSON (" .. info.error:gsub("^invalid JSON: ", "") .. ")"
    else why = "response is not the expected JSON" end
    local msg = why .. from(what) .. ": " .. errors.snippet(rec.body)
    local kind = (status >= 300 or status < 200) and "http" or "decode"
    e = errors.new { kind = kind, status = status, request_id = rid, message = msg, retry_after = ra }
  end
  e.retryable = retry.transient(e)
  return e
end

--- The error for a transfer that failed before an answer (connect, timeout, reset,
-- too large, cancelled...). For a submit that may have reached the server, kind
-- `"maybe_accepted"`.
-- @tparam table rec engine record with `error`
-- @tparam string class `"read"`, `"submit"` or `"download"`
-- @tparam[opt] string limit a description of the size limit, for `too_large`
-- @treturn table error
function M.transport_error(rec, class, limit)
  if rec.error_kind == "cancelled" then return errors.cancelled(rec.error) end
  local kind = rec.error_kind == "timeout" and "timeout" or "transport"
  local msg = rec.error or "transport failure"
  if rec.error_kind == "tls" then
    msg = msg .. " (set the ca_file or ca_path option to trust another CA)"
  elseif rec.error_kind == "too_large" then
    if rec.limit == "max_header" then
      msg = msg .. " (the response headers are over max_header)"
    elseif rec.limit == "libcurl" then
      msg = msg .. " (a response header line or the headers are over libcurl's limit)"
    elseif limit then
      msg = msg .. " (" .. limit .. ")"
    end
  end
  if class == "submit" then
    if rec.sent ~= false then
      return M.maybe_accepted(errors.new { kind = kind, message = msg, error_kind = rec.error_kind })
    end
    return errors.new { kind = kind, message = msg, error_kind = rec.error_kind, curl_code = rec.curl_code,
      retryable = retry.submit_retryable(rec) }
  end
  return errors.new { kind = kind, message = msg, error_kind = rec.error_kind, curl_code = rec.curl_code,
    retryable = retry.read_retryable(rec) }
end

--- A submit whose fate is unknown: it may have been accepted and is never resent.
-- @tparam table cause the error that made it unknown
-- @treturn table error of kind `"maybe_accepted"` (`err.cause` = the cause's kind)
function M.maybe_accepted(cause)
  return errors.new { kind = "maybe_accepted", status = cause.status, code = cause.code, retryable = false,
    cause = cause.kind, error_kind = cause.error_kind, request_id = cause.request_id,
    message = "the submit may have been accepted (" .. cause.message .. "); it was not resent" }
end

-- ---------------------------------------------------------------- submits

local function decode_envelope(rec)
  local env = json.decode(rec.body)
  if type(env) == "table" then json.strip_nulls(env) else env = {} end
  return env
end

--- Interpret a submit answer. Accepted (codes 1, 21, 22 with a usable result): the
-- task id (or, for uploads, the list of URLs) and the envelope. A well-formed
-- refusal: its error, `retryable` per `retry.submit_codes`. Anything else after the
-- request was sent (5xx, HTML, garbage, an accepted code without a usable result):
-- `maybe_accepted`.
-- @tparam table rec engine record (no transport error)
-- @tparam[opt] boolean want_list the result is a list of URLs (upload)
-- @return id (or URL list) and envelope, or nil and the error
function M.submit(rec, want_list)
  local info = core.classify(rec.status, rec.body or "")
  local status = rec.status
  local code = retry.submit_codes[info.code]
  if info.shape == "submit" and code and code.accepted then
    local env = decode_envelope(rec)
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
      -- the scanner gives a numeric result as its exact text
      local id = info.result_kind == "string" and info.result or ids.from_wire(r)
      if type(id) == "string" and id ~= "" then
        env.result = id
        env.code = info.code
        return id, env
      end
    end
    -- the server accepted something: never resend it
    return nil, M.maybe_accepted(errors.new { kind = "decode", status = status, code = info.code,
      request_id = M.request_id(rec, info),
      message = "accepted (code " .. tostring(info.code) .. ") without a usable result: " .. errors.snippet(rec.body) })
  end
  local refusal = info.shape == "submit" or info.shape == "relay" or info.shape == "generic" or info.shape == "openai"
  if refusal then
    local e = M.error(rec, info, "submit")
    -- a gateway relay failure (code 5) or a 5xx without a Midjourney envelope may come
    -- after the upstream took the job
    if status >= 500 and (info.shape == "generic" or info.shape == "openai"
        or (info.shape == "relay" and info.code == 5)) then
      return nil, M.maybe_accepted(e)
    end
    if status == 429 then e.kind = "rate_limited" end
    e.retryable = retry.submit_retryable(rec, info.code)
    if info.shape == "submit" then
      -- the envelope's whole properties (bannedWord, promptEn, numberOfQueues, ...)
      local env = decode_envelope(rec)
      if type(env.properties) == "table" then e.properties = env.properties end
    end
    return nil, e
  end
  -- empty, invalid, HTML, unexpected JSON
  if status >= 400 and status < 500 and status ~= 408 then
    local e = M.error(rec, info, "submit")
    e.retryable = retry.submit_retryable(rec, nil)
    return nil, e
  end
  return nil, M.maybe_accepted(M.error(rec, info, "submit"))
end

-- ---------------------------------------------------------------- reads

local function not_found(rec, info, code, desc)
  return errors.new { kind = "not_found", status = rec.status, code = code, description = desc,
    message = "no such task", request_id = M.request_id(rec, info), retryable = false }
end

-- "No such task", in any of the shapes the gateway and the proxies use: HTTP 204, 404,
-- a relay/submit body saying task_no_found (or code 3), and an empty or `null` body on a
-- 2xx or 4xx answer. A 5xx, 408 or 429 is transient whatever its body.
local function is_not_found(rec, info)
  local status = rec.status
  if retry.transient_status(status) then return false end
  if status == 204 or status == 404 then return true end
  if info.shape == "empty" then return true end
  if info.shape == "json" and (rec.body or ""):match("^%s*null%s*$") then return true end
  if info.shape == "relay" or info.shape == "submit" then
    local d = info.description or ""
    return d:find("task_no_found", 1, true) ~= nil or d:find("task_not_found", 1, true) ~= nil or info.code == 3
  end
  return false
end

local function decode_error(rec, why)
  return errors.new { kind = "decode", status = rec.status, retryable = true,
    message = tostring(why) .. ": " .. errors.snippet(rec.body) }
end

--- Interpret a fetch answer: a Task, or `not_found`, or the error.
-- @tparam table rec engine record (no transport error)
-- @return Task, or nil and the error
function M.fetch(rec)
  local status = rec.status
  if status == 200 then -- the poll path: one scan, no classification
    local t, why = task_mod.from_json(rec.body or "")
    if t and t.id ~= nil then return t end
    if t then why = "task object without an id" end
    local info = core.classify(status, rec.body or "")
    if is_not_found(rec, info) then return nil, not_found(rec, info, info.code, info.description) end
    if info.shape == "json" then return nil, decode_error(rec, why) end
    return nil, M.error(rec, info, "fetch")
  end
  local info = core.classify(status, rec.body or "")
  if is_not_found(rec, info) then return nil, not_found(rec, info, info.code, info.description) end
  if status >= 200 and status < 300 and info.shape == "json" then
    local t, why = task_mod.from_json(rec.body)
    if t and t.id ~= nil then return t end
    return nil, decode_error(rec, t and "task object without an id" or why)
  end
  return nil, M.error(rec, info, "fetch")
end

-- The rank of a row for de-duplication: the lifecycle order, MODAL before the job runs.
local status_rank = { [""] = 0, NOT_START = 1, MODAL = 2, SUBMITTED = 3, IN_PROGRESS = 4,
  FAILURE = 5, CANCEL = 5, SUCCESS = 5 }

local function more_advanced(a, b)
  local ra, rb = status_rank[a.status] or 0, status_rank[b.status] or 0
  if ra ~= rb then return ra > rb end
  return (a:percent() or -1) > (b:percent() or -1)
end

--- Interpret a list-by-condition answer: the tasks, one per id (when a modal left two
-- rows for an id, the one further along its lifecycle is kept).
-- @tparam table rec engine record (no transport error)
-- @return list of Tasks, or nil and the error
function M.list(rec)
  local status = rec.status
  if status >= 200 and status < 300 then
    local body = rec.body or ""
    if body:match("^%s*$") then return {} end
    local fields, raws = core.scan_tasks(body)
    if fields == false then return {} end -- null
    if not fields then
      if raws:find("^expected a JSON array") then
        return nil, M.error(rec, core.classify(status, body), "list-by-condition")
      end
      return nil, decode_error(rec, raws)
    end
    local out, index = {}, {}
    for i = 1, #fields do
      local t = task_mod.from_scan(fields[i], raws[i])
      local id = t.id
      if id ~= nil then
        local at = index[id]
        if not at then
          out[#out + 1] = t
          index[id] = #out
        elseif more_advanced(t, out[at]) then
          out[at] = t
        end
      end
    end
    return out
  end
  return nil, M.error(rec, core.classify(status, rec.body or ""), "list-by-condition")
end

--- Interpret an image-seed answer: the seed as a string.
-- @tparam table rec engine record (no transport error)
-- @return string, or nil and the error
function M.seed(rec)
  local info = core.classify(rec.status, rec.body or "")
  if info.shape == "submit" and info.code == 1 and info.result_kind == "string" and info.result ~= "" then
    return info.result
  end
  if is_not_found(rec, info) then return nil, not_found(rec, info, info.code, info.description) end
  return nil, M.error(rec, info, "image-seed")
end

return M
