--- The retry policy: which failures are worth another try, and how long to wait.
--
-- One rule decides what is transient, for the retries of a read and for the polling
-- of `wait` alike (`retry.transient`): transport failures other than TLS, size and
-- cancellation, timeouts, HTTP 408, 409, 425, 429 and every 5xx, rate limits, and
-- bodies that could not be decoded. A 5xx or 429 answer is transient whatever its
-- body says, even when it is empty.
--
-- Submits (`imagine`, `action`, `modal`, ...) are retried only when the server
-- provably did no work: the request never left this host (`record.sent == false`:
-- connect or resolve failures), HTTP 429, or a body code that says nothing was created
-- and a later try may work (`retry.submit_codes`). One table decides both whether a
-- submit is retried and the `retryable` field of its error.
--
-- Backoff: `base * 2^(n-1)` capped at `cap`, times a jitter factor in [0.75, 1].
-- `Retry-After` (`retry-after-ms`, seconds with fractions, HTTP date) is honoured
-- when sane, capped at `max_retry_after`; nonsense (negative, NaN, unparsable) is
-- ignored.
--
-- Nothing in this module blocks or yields.
-- @module midjourney.retry
local core = require "midjourney.core"

local M = {}

--- Default policy values.
M.defaults = {
  max_retries = 2,      -- retries after the first attempt
  base = 0.5,           -- first backoff, seconds
  cap = 8,              -- backoff cap, seconds
  max_retry_after = 60, -- cap for an honoured Retry-After, seconds
}

--- Transport error kinds that are never retried (retrying cannot help).
M.fatal_transport = { tls = true, too_large = true, cancelled = true, file = true }

--- Error kinds that are transient by nature.
M.transient_kinds = { transport = true, timeout = true, rate_limited = true, decode = true }

--- Whether an HTTP status is transient: 408, 409, 425, 429 and 5xx.
-- @tparam integer status
-- @treturn boolean
function M.transient_status(status)
  if type(status) ~= "number" then return false end
  return status == 408 or status == 409 or status == 425 or status == 429 or (status >= 500 and status <= 599)
end

--- Submit body codes (the SubmitResult `code`): `accepted` codes created a task; `retryable`
-- codes created nothing and a later submit may succeed. Codes not listed are
-- neither (an unknown code is never retried).
M.submit_codes = {
  [1] = { accepted = true },        -- submitted
  [21] = { accepted = true },       -- exists / waiting in MODAL
  [22] = { accepted = true },       -- queued
  [3] = { retryable = false },      -- related task missing (or no account)
  [4] = { retryable = false },      -- validation error
  [9] = { retryable = true },       -- upstream failure or queue full: nothing was created
  [23] = { retryable = true },      -- queue full
  [24] = { retryable = false },     -- banned prompt
  [30] = { retryable = true },      -- gateway saturated (sent with HTTP 429)
}

--- Whether a submit answered with body `code` may be sent again.
-- @param code the body's code (any value)
-- @treturn boolean
function M.submit_code_retryable(code)
  local c = M.submit_codes[code]
  return c ~= nil and c.retryable == true
end

--- Make a policy table from options (missing fields take `retry.defaults`).
-- @tparam[opt] table opts `{max_retries=, base=, cap=, max_retry_after=, random=fn}`
-- @treturn table policy
-- @raise when a field has the wrong type
function M.policy(opts)
  opts = opts or {}
  local p = {}
  for k, v in pairs(M.defaults) do
    local x = opts[k]
    if x == nil then x = v end
    if type(x) ~= "number" or x ~= x or x < 0 or x == math.huge then
      error("retry policy: option '" .. k .. "' must be a finite non-negative number", 3)
    end
    p[k] = x
  end
  p.random = opts.random or math.random
  return p
end

--- Whether an error (from a read, or seen while polling) is transient: worth trying
-- again later. The one rule of the library.
-- @tparam table err an error object
-- @treturn boolean
function M.transient(err)
  if err.kind == "cancelled" or err.kind == "invalid" or err.kind == "not_found" then return false end
  if err.kind == "transport" and M.fatal_transport[err.error_kind] then return false end
  if M.transient_kinds[err.kind] then return true end
  return M.transient_status(err.status)
end

--- Whether a read should be retried after this engine record (before an error is
-- built from it): transport failures other than the fatal ones, transient statuses.
-- @tparam table record an engine record
-- @treturn boolean
function M.read_retryable(record)
  if record.error then return not M.fatal_transport[record.error_kind] end
  return M.transient_status(record.status)
end

--- Whether a submit may be sent again after this record and its body code.
-- @tparam table record an engine record
-- @param[opt] code the body's `code` when one was parsed
-- @treturn boolean
function M.submit_retryable(record, code)
  if record.error then
    return record.sent == false and not M.fatal_transport[record.error_kind]
  end
  if record.status == 429 then return true end
  return M.submit_code_retryable(code)
end

--- The server's requested wait from a record, in seconds, or nil when it gave
-- none or nonsense. `retry-after-ms` wins over `retry-after`. Capped at
-- `policy.max_retry_after`.
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
