--- lua-midjourney: drive Midjourney through CometAPI from Lua.
--
--     local mj = require "midjourney"
--     local client = mj.new{ api_key = os.getenv("COMETAPI_KEY") }
--     local id = assert(client:imagine("a paper boat at sunrise --v 6.1"))
--     local task = assert(client:wait(id))
--
-- Every client call blocks in plain code and yields inside a coroutine started with
-- `mj.spawn` or `mj.run`; a host loop calls `mj.step` to keep things moving. The
-- functions below act on the default scheduler (`midjourney.scheduler`).
-- @module midjourney

-- PUC-Rio Lua 5.1 cannot yield across pcall, which the scheduler's coroutines do: say so
-- before anything else (even before the C core, which is not built for it).
if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  error("lua-midjourney needs Lua 5.2 or newer (5.4 first) or LuaJIT: PUC-Rio Lua 5.1 cannot yield "
    .. "across pcall, which the scheduler's coroutines do", 0)
end

local client = require "midjourney.client"
local scheduler = require "midjourney.scheduler"

local M = {}

--- The library version.
M._VERSION = client.VERSION
--- The library version (the same as `_VERSION`).
M.version = M._VERSION

--- Creates a client (see `midjourney.client.new` for every option). Neither blocks nor yields.
-- @tparam[opt] table opts `api_key` (else env COMETAPI_KEY), `base_url` (else env
-- COMETAPI_BASE_URL, else https://api.cometapi.com), `timeout`, `connect_timeout`, ...
-- @return a client (see `midjourney.client`)
-- @raise on an unknown option or a bad value
function M.new(opts)
  return client.new(opts) -- a tail call: option errors point at the caller of mj.new
end

--- Starts `fn(...)` as a coroutine; returns a handle at once (`status`, `result`, `cancel`).
-- Neither blocks nor yields.
-- @tparam function fn
-- @return the handle
function M.spawn(fn, ...) return scheduler.spawn(fn, ...) end

--- Advances every transfer and resumes ready coroutines; never blocks longer than
-- `timeout` seconds (default 0). Returns the number of live coroutines.
-- @tparam[opt=0] number timeout
-- @treturn integer
function M.step(timeout) return scheduler.step(timeout) end

--- Runs `fn(...)` as a coroutine until it finishes and returns its results (raises its
-- error). Blocks.
-- @tparam function fn
function M.run(fn, ...) return scheduler.run(fn, ...) end

--- Sleeps `seconds`: yields inside a coroutine, blocks outside one.
-- @tparam number seconds
function M.sleep(seconds) return scheduler.sleep(seconds) end

--- Waits until every handle of a list has finished: yields inside a coroutine,
-- blocks outside one.
-- @tparam table handles
-- @treturn table the same list
function M.join(handles) return scheduler.join(handles) end

--- True when transfers, ready coroutines or timers are pending. Neither blocks nor yields.
-- @treturn boolean
function M.busy() return scheduler.busy() end

--- The descriptor a host's event loop watches for the default scheduler: readable
-- whenever a transfer needs attention (an epoll or kqueue descriptor owned by the
-- engine; never read from it or close it). With `mj.timeout()` and `mj.step(0)` it is all
-- a loop needs: watch it, arm a timer for `mj.timeout()`, call `mj.step(0)` on either.
-- Neither blocks nor yields.
-- @treturn integer|nil nil where neither epoll nor kqueue exists (then step from a timer)
function M.fd() return scheduler.fd() end

--- Seconds until the host must call `mj.step(0)` even if `mj.fd()` stayed quiet: 0 when
-- a coroutine is ready, else the earliest of the sleeps, suspends and poll intervals
-- pending and the engine's own timer. Neither blocks nor yields.
-- @treturn number|nil nil when nothing is due (idle, or only transfers waiting for the
-- descriptor)
function M.timeout() return scheduler.timeout() end

--- The cqueues pollable protocol, so that `cqueues.poll(mj)` waits until the default
-- scheduler has something to do: `mj.pollfd()` is `mj.fd()`, `mj.events()` is `"r"` and
-- `mj.timeout()` is above (each ignores its arguments, so `mj:pollfd()` works too).
-- Neither blocks nor yields.
-- @treturn integer|nil
function M.pollfd() return scheduler.fd() end

--- The cqueues pollable protocol: the events to watch `mj.pollfd()` for. Neither blocks
-- nor yields.
-- @treturn string `"r"`
function M.events() return "r" end

--- Sets scheduler options: `step_budget` (seconds of resuming per step, default 0.001,
-- `false` for no limit), and before the first request the engine's
-- `max_host_connections` and `max_connections`. Neither blocks nor yields.
-- @tparam table opts
-- @raise on an unknown option or a bad value
function M.configure(opts) return scheduler.configure(opts) end

--- The `midjourney.errors` module, loaded on first use.
-- @field errors

--- The `midjourney.json` module (decode with big task ids kept exact; encode), loaded on first use.
-- @field json

--- The C core `midjourney.core`, loaded on first use.
-- @field core

--- The `midjourney.scheduler` module (the default scheduler is behind `mj.spawn`, `mj.step`, ...).
-- @field scheduler

--- The `midjourney.batch` module, loaded on first use.
-- @field batch

setmetatable(M, {
  __index = function(_, k)
    if k == "errors" then return require "midjourney.errors" end
    if k == "json" then return require "midjourney.json" end
    if k == "core" then return require "midjourney.core" end
    if k == "scheduler" then return scheduler end
    if k == "batch" then return require "midjourney.batch" end
    return nil
  end,
})

return M
