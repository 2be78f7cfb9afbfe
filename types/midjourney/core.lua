---@meta
-- LuaCATS definitions of midjourney.core, the C module (libcurl's multi interface and the
-- response scanners), for lua-language-server (see README "Editor support"). The LDoc
-- reference (`make doc`, from docs/core.luadoc) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---The options of `core.engine`.
---@class midjourney.core.EngineOptions
---@field max_host_connections? integer # 0: no limit
---@field max_connections? integer # 0: no limit

---A transfer for `engine:request`. Unknown fields raise; numbers must be finite and non-negative.
---@class midjourney.core.Request
---@field url string
---@field method? "GET"|"POST"|"HEAD"|"PUT"|"DELETE" # default "GET"
---@field headers? string[] # "Name: value" lines without CR, LF or NUL
---@field body? string
---@field timeout? number # seconds; 0/nil: libcurl's default
---@field connect_timeout? number
---@field low_speed_limit? number # bytes per second
---@field low_speed_time? number
---@field max_body? integer # default 32 MiB, decoded bytes, enforced while receiving
---@field max_header? integer # default 64 KiB, every header line of the answer together
---@field file? string # stream the body to this path
---@field follow? boolean # follow redirects (the Authorization header never goes to another host)
---@field fresh_connect? boolean # a new connection: libcurl can never re-send the request
---@field verify? boolean
---@field ca_file? string
---@field ca_path? string

---A finished transfer, handed out once by `engine:step`.
---@class midjourney.core.Record
---@field id integer
---@field status integer # 0 when no HTTP response arrived
---@field body? string # nil when streamed to a file
---@field file? string
---@field content_type? string
---@field retry_after? string
---@field retry_after_ms? string
---@field request_id? string
---@field location? string
---@field error? string # the transport failure, without secrets
---@field error_kind? "timeout"|"connect"|"resolve"|"tls"|"too_large"|"send"|"recv"|"empty"|"file"|"other"|"cancelled"
---@field limit? "max_body"|"max_header"|"libcurl" # with too_large
---@field curl_code integer
---@field sent boolean # request bytes left this host
---@field time number
---@field size integer

---An engine: one libcurl multi handle. `close()`, `__gc` and `__close` share one cleanup.
---@class midjourney.core.Engine
local Engine = {}

---Queues a transfer; it starts on the next `step`. Neither blocks nor yields.
---@param spec midjourney.core.Request
---@return integer id # unique in the process, never reused
function Engine:request(spec) end

---Advances every transfer and hands back the finished ones; waits at most `timeout` seconds.
---@param timeout? number # default 0
---@return midjourney.core.Record[]? records # nil when none finished
---@return integer running
function Engine:step(timeout) end

---The engine's event descriptor (epoll or kqueue) for a host's own loop, or nil.
---@return integer?
function Engine:fd() end

---Seconds until libcurl's next timer, or nil when none is set.
---@return number?
function Engine:timeout() end

---Aborts a transfer in flight (it yields no record). O(1).
---@param id integer
---@return boolean
function Engine:cancel(id) end

---The number of transfers whose record was not handed out yet.
---@return integer
function Engine:running() end

---Closes the engine (idempotent).
function Engine:close() end

---Whether the engine is closed.
---@return boolean
function Engine:closed() end

---What `core.scan_json` returns.
---@class midjourney.core.ScanInfo
---@field type "object"|"array"|"string"|"number"|"boolean"|"null"
---@field fields? table<string, any> # an object's top-level scalar members
---@field items? table[] # an array's elements: each one's text and fields
---@field value? any # a scalar's value

---What `core.classify` returns: the shape of a response body and its fields.
---@class midjourney.core.Shape
---@field shape "submit"|"relay"|"openai"|"generic"|"image"|"json"|"empty"|"invalid"
---@field code? integer
---@field description? string
---@field message? string
---@field type? string
---@field result? string
---@field result_kind? string
---@field request_id? string
---@field [string] any

---What `core.curl_info` returns.
---@class midjourney.core.CurlInfo
---@field version string
---@field ssl string
---@field tls boolean
---@field asynchdns boolean
---@field http2 boolean

---The C core. Mechanism only; nothing here yields.
---@class midjourney.core
---@field version string # the C core's version
local M = {}

---Monotonic clock in seconds. Neither blocks nor yields.
---@return number
function M.now() end

---Sleeps the whole thread. Blocks.
---@param seconds number
function M.sleep(seconds) end

---Facts about the libcurl in use.
---@return midjourney.core.CurlInfo
function M.curl_info() end

---Creates an engine. Neither blocks nor yields.
---@param opts? midjourney.core.EngineOptions
---@return midjourney.core.Engine
function M.engine(opts) end

---Scans JSON text in one pass: validates it and returns its top-level type and scalar members.
---@param text string
---@param max_depth? integer # default 64
---@return midjourney.core.ScanInfo? info
---@return string? err
function M.scan_json(text, max_depth) end

---Validates JSON text without building anything.
---@param text string
---@param max_depth? integer # default 64
---@return string? type # the top-level type
---@return string? err
function M.check_json(text, max_depth) end

---The poll path's scanner for one task object: `{id=, status=, progress=}`.
---@param text string
---@return table? fields
---@return string? err
function M.scan_task(text) end

---The poll path's scanner for a list-by-condition answer.
---@param text string
---@return table|false|nil fields # the fields of each task; false when the text is `null`
---@return table|string|nil texts_or_err # the JSON text of each task, or the error
function M.scan_tasks(text) end

---Quotes integer literals of 16 or more digits (outside strings).
---@param text string
---@return string
function M.quote_big_integers(text) end

---Parses a Retry-After value (delta seconds or an HTTP date); nonsense gives nil.
---@param value string|number|nil
---@param now_epoch? number
---@return number? seconds
function M.parse_retry_after(value, now_epoch) end

---Parses a retry-after-ms value.
---@param value string|number|nil
---@return number? seconds
function M.parse_retry_after_ms(value) end

---Parses a progress value ("45%", "85.5%", 45) into 0..100; "", "N/A" and garbage give nil.
---@param value string|number|nil
---@return number?
function M.parse_progress(value) end

---Classifies a response body by the API's shapes.
---@param status integer
---@param body string
---@return midjourney.core.Shape
function M.classify(status, body) end

---On Lua 5.3+, turns integral floats into integers in place; does nothing on LuaJIT.
---@param tbl table
---@param max_depth? integer
function M.integerize(tbl, max_depth) end

return M
