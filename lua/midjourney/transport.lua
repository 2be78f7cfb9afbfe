--- Transport: request → retry → deadline, the one loop every call of the library
-- goes through (API calls and downloads alike).
--
-- An exchange sends an engine request through the active scheduler, hands each
-- finished transfer to an interpreter (`midjourney.responses`), and retries what the
-- policy says may be retried, sleeping the backoff (or the server's Retry-After)
-- between attempts, until the operation's deadline. Blocks in plain code and yields
-- inside a scheduler coroutine (through `midjourney.scheduler`).
-- @module midjourney.transport
local errors = require "midjourney.errors"
local responses = require "midjourney.responses"
local retry = require "midjourney.retry"
local scheduler = require "midjourney.scheduler"

local M = {}


--- Sleeps `s` seconds for a client (its `sleep` override when one was given, for
-- specs). Blocks, or yields in a scheduler coroutine.
-- @param client
-- @tparam number s
function M.sleep(client, s)
  if s <= 0 then return end
  if client._sleep then return client._sleep(s) end
  return scheduler.sleep(s)
end

-- The header lists never change for a client: built once (the engine copies them).
local header_cache = setmetatable({}, { __mode = "k" })

--- The API header list of a client (Authorization, Accept, User-Agent, extra
-- headers; Content-Type when there is a body). Neither blocks nor yields.
-- @param client
-- @tparam boolean with_body
-- @treturn table list of header lines
function M.api_headers(client, with_body)
  local c = header_cache[client]
  if not c then
    c = {}
    header_cache[client] = c
  end
  local k = with_body and "post" or "get"
  local h = c[k]
  if not h then
    h = {
      "Authorization: Bearer " .. client._key(),
      "Accept: application/json",
      "User-Agent: " .. client.user_agent,
    }
    if with_body then h[#h + 1] = "Content-Type: application/json" end
    for _, x in ipairs(client.extra_headers or {}) do h[#h + 1] = x end
    c[k] = h
  end
  return h
end

--- Runs one exchange with retries. Blocks, or yields in a scheduler coroutine.
-- @param client the client (its timeouts, policy, logger)
-- @tparam table req
--   `class` (`"read"`, `"submit"` or `"download"`: the retry rule for failed
--   transfers), `spec` (the engine request without timeouts; reused for every
--   attempt), `interpret(rec)` (a finished transfer without transport error →
--   `value, extra` or `nil, err`; `err.retryable` says whether to try again),
--   `timeout` (per attempt), `deadline` (seconds for the whole operation),
--   `limit` (a description of the size limit, for messages), `cleanup()` (called
--   after every failed attempt), `what` (for the log: method and path), `partial_ok`
--   (a body cut at `max_body` is handed to the interpreter instead of failing), `url`
--   (set into the spec before each attempt: lets calls share one spec table)
-- @return the interpreter's `value, extra`, or `nil, err`
function M.exchange(client, req)
  local spec = req.spec
  local url = req.url
  local now = scheduler.active().now -- (one lookup per call, not per read of the clock)
  local deadline = now() + req.deadline
  local policy = client.policy
  local attempt, last_err = 0, nil
  while true do
    attempt = attempt + 1
    local left = deadline - now()
    if left <= 0 then
      return nil, last_err or errors.new { kind = "timeout", message = "operation deadline passed" }
    end
    local timeout, ct = req.timeout, client.connect_timeout
    spec.timeout = timeout < left and timeout or left
    spec.connect_timeout = ct < left and ct or left
    -- (a spec shared by concurrent calls gets this call's URL right before the request,
    -- which reads it at once: no other call runs in between)
    if url then spec.url = url end
    local rec = scheduler.request(spec)
    local log = client.log
    if log then -- (the poll path builds no log table when logging is off)
      log("debug", { event = req.class == "download" and "download" or "response", method = spec.method,
        path = req.what or spec.url, status = rec.status, attempt = attempt, time = rec.time,
        request_id = rec.request_id, error = rec.error_kind })
    end
    local value, extra
    if rec.error and req.partial_ok and rec.error_kind == "too_large" and rec.body and #rec.body > 0 then
      rec.error, rec.error_kind, rec.partial = nil, nil, true
    end
    if rec.error then
      extra = responses.transport_error(rec, req.class, req.limit)
    else
      value, extra = req.interpret(rec)
      if value ~= nil then return value, extra end
    end
    if req.cleanup then req.cleanup() end
    if extra.kind == "cancelled" then return nil, extra end
    last_err = extra
    if not extra.retryable or attempt > policy.max_retries then return nil, extra end
    local delay = retry.delay(attempt, rec, policy)
    if now() + delay >= deadline then
      extra.message = extra.message .. " (no retry: the operation deadline is near)"
      return nil, extra
    end
    if log then
      log("info", { event = "retry", method = spec.method, path = req.what or spec.url, attempt = attempt,
        time = delay, error = extra.kind })
    end
    M.sleep(client, delay)
  end
end

--- The engine request of an API call (method, URL, headers, body, limits; the
-- timeouts are set per attempt). Neither blocks nor yields.
-- @param client
-- @tparam string method `"GET"` or `"POST"`
-- @tparam string path the path after the base URL (with the mode prefix)
-- @tparam[opt] string body JSON text
-- @tparam boolean submit a submit: a fresh connection, so libcurl cannot silently
--   re-send it on a dead keep-alive connection (submits cost money)
-- @tparam number timeout the per-attempt timeout (for the low-speed guard)
-- @treturn table engine request
function M.api_spec(client, method, path, body, submit, timeout)
  return {
    method = method, url = client.base_url .. path, headers = M.api_headers(client, body ~= nil), body = body,
    max_body = client.max_body, follow = false, verify = client.verify,
    ca_file = client.ca_file, ca_path = client.ca_path,
    -- libcurl's low-speed check also runs while waiting for the first byte: by default it
    -- must not fire before the request timeout (image-seed and submits may think for a minute)
    low_speed_limit = 1,
    low_speed_time = math.max(1, math.ceil(math.min(client.low_speed_time or timeout, timeout))),
    fresh_connect = submit or nil,
  }
end

return M
