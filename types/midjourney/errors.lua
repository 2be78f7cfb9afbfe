---@meta
-- LuaCATS definitions of midjourney.errors for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---The kinds of runtime failures.
---@alias midjourney.ErrorKind
---| "transport" # no usable HTTP answer (`error_kind` says why)
---| "timeout"
---| "http" # an HTTP error status without a known body
---| "api" # the API refused (`code`, `description`)
---| "decode" # a body that is not what the endpoint sends
---| "not_found" # unknown task id
---| "task_failed" # the task ended in FAILURE or CANCEL (`task`)
---| "cancelled"
---| "maybe_accepted" # a submit whose fate is unknown: never resent automatically
---| "invalid" # refused locally, nothing was sent
---| "rate_limited" # `retry_after`
---| "pending" # a coroutine's result asked before it finished

---An error object: what every runtime failure returns as `nil, err`. `tostring(err)` is one
---line, without the API key.
---@class midjourney.Error
---@field kind midjourney.ErrorKind
---@field message string
---@field retryable boolean
---@field status? integer # HTTP status, when one arrived
---@field code? integer # API code
---@field description? string # the API's description
---@field request_id? string
---@field task? midjourney.Task # the task, for task_failed and a wait's timeout
---@field retry_after? number # seconds, for rate_limited
---@field error_kind? string # transport: connect, resolve, tls, too_large, recv, send, timeout, ...
---@field reason? string # invalid: what was refused (e.g. a journal's "mismatch", an image's "corrupt")
---@field path? string # a file the error is about
---@field properties? table
---@field cause? any

---The fields of `errors.new`: at least `kind` and `message`; any other field is kept.
---@class midjourney.ErrorFields
---@field kind midjourney.ErrorKind
---@field message? string
---@field [string] any

---Error objects and secret redaction. Nothing here blocks or yields.
---@class midjourney.errors
---@field kinds table<midjourney.ErrorKind, boolean> # the known kinds, as a set
local M = {}

---Registers a secret (an API key) to be redacted from every error and log line from now on.
---@param secret string
function M.register_secret(secret) end

---Removes secrets from a text: registered keys (and `extra`), Bearer tokens, sk-... tokens,
---credential headers.
---@param text any
---@param extra? string
---@return string
function M.redact(text, extra) end

---Redacts a URL for logs: drops its query string, fragment and user:password part.
---@param url string
---@return string
function M.redact_url(url) end

---A short, printable, redacted snippet of a response body.
---@param body string
---@param max? integer # bytes kept, default 120
---@return string
function M.snippet(body, max) end

---Makes an error object.
---@param fields midjourney.ErrorFields
---@return midjourney.Error
function M.new(fields) end

---The error of a cancelled operation (kind "cancelled").
---@param why? string
---@return midjourney.Error
function M.cancelled(why) end

---True when `v` is an error object made by `errors.new`.
---@param v any
---@return boolean
function M.is_error(v) end

return M
