--- Retry policy by idempotency class (issue 6).
--
-- Reads (`fetch`, `list`, `image_seed`, downloads) retry transport errors and
-- HTTP 408, 409, 429, 500, 502, 503, 504, 524. Submits (`imagine`, `action`,
-- `modal`, ...) retry only when the server provably did no work: the request
-- never left this host (`record.sent == false`: connect or resolve failures),
-- HTTP 429, or body code 23 (queue full). Backoff: `base * 2^(n-1)` capped at
-- `cap`, times a jitter factor in [0.75, 1]. `Retry-After` (`retry-after-ms`,
-- seconds with fractions, HTTP date) is honoured when sane, capped at
-- `max_retry_after`; nonsense (negative, NaN, unparsable) is ignored.
--
-- Nothing here blocks or yields except `retry.sleep`, which sleeps through the
-- scheduler (yields inside a scheduler coroutine, blocks otherwise).
-- @module midjourney.retry
local M = {}

local core = require "midjourney.core"

--- Default policy values.
M.defaults = {
  max_retries = 2,      -- retries after the first attempt
  base = 0.5,           -- first backoff, seconds
  cap = 8,              -- backoff cap, seconds
  max_retry_after = 60, -- cap for an honoured Retry-After, seconds
}

--- HTTP statuses a read retries.
M.read_statuses = { [408] = true, [409] = true, [429] = true, [500] = true, [502] = true,
  [503] = true, [504] = true, [524] = true }

--- Transport error kinds that are never retried (retrying cannot help).
M.fatal_transport = { tls = true, too_large = true, cancelled = true }

--- Make a policy table from options (missing fields take `retry.defaults`).
-- Neither blocks nor yields.
-- @tparam[opt] table opts `{max_retries=, base=, cap=, max_retry_after=, random=fn}`
-- @treturn table policy
-- @raise when a field has the wrong type
function M.policy(opts)
  opts = opts or {}
  local p = {}
  for k, v in pairs(M.defaults) do
    local x = opts[k]
    if x == nil then x = v end
    if type(x) ~= "number" or x ~= x or x < 0 then
      error("retry policy: option '" .. k .. "' must be a non-negative number", 3)
    end
    p[k] = x
  end
  p.random = opts.random or math.random
  return p
end

--- Whether a read should be retried after this record.
-- Neither blocks nor yields.
-- @tparam table record an engine record
-- @treturn boolean
-- @treturn string|nil a short reason
function M.read_retryable(record)
  if record.error then
    if M.fatal_transport[record.error_kind] then return false end
    return true, record.error_kind or "transport"
  end
  if M.read_statuses[record.status] then return true, "HTTP " .. record.status end
  return false
end

--- Whether a submit may be retried after this record (and its body code).
-- Neither blocks nor yields.
-- @tparam table record an engine record
-- @tparam[opt] number code the body's `code` when one was parsed
-- @treturn boolean
-- @treturn string|nil a short reason
function M.submit_retryable(record, code)
  if record.error then
    if record.sent == false and not M.fatal_transport[record.error_kind] then
      return true, "not sent (" .. tostring(record.error_kind) .. ")"
    end
    return false
  end
  if record.status == 429 then return true, "HTTP 429" end
  if code == 23 then return true, "queue full (code 23)" end
  return false
end

--- The server's requested wait from a record, in seconds, or nil when it gave
-- none or nonsense. `retry-after-ms` wins over `retry-after`. Capped at
-- `policy.max_retry_after`.
-- Neither blocks nor yields.
-- @tparam table record
-- @tparam[opt] table policy
-- @treturn number|nil seconds
function M.retry_after(record, policy)
  local cap = (policy or M.defaults).max_retry_after
  local s
  -- the C parsers turn nonsense (negative, NaN, garbage, over a day) into nil
  if record.retry_after_ms ~= nil then s = core.parse_retry_after_ms(record.retry_after_ms) end
  if s == nil and record.retry_after ~= nil then s = core.parse_retry_after(record.retry_after) end
  if s == nil then return nil end
  if s > cap then s = cap end
  return s
end

--- The backoff before retry number `attempt` (1 for the first retry), with jitter.
-- Neither blocks nor yields.
-- @tparam integer attempt
-- @tparam[opt] table policy
-- @treturn number seconds
function M.backoff(attempt, policy)
  policy = policy or M.policy()
  local d = policy.base * 2 ^ (attempt - 1)
  if d > policy.cap then d = policy.cap end
  return d * (0.75 + 0.25 * policy.random())
end

--- The delay before retry `attempt`: Retry-After when given, else backoff.
-- Neither blocks nor yields.
-- @tparam integer attempt
-- @tparam table record
-- @tparam[opt] table policy
-- @treturn number seconds
function M.delay(attempt, record, policy)
  local ra = M.retry_after(record, policy)
  if ra then return ra end
  return M.backoff(attempt, policy)
end

return M
