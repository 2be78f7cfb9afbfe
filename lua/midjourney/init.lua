--- lua-midjourney: drive Midjourney through CometAPI from Lua.
--
--     local mj = require "midjourney"
--     local client = mj.new{ api_key = os.getenv("COMETAPI_KEY") }
--     local id = assert(client:imagine("a paper boat at sunrise --v 6.1"))
--     local task = assert(client:wait(id))
--
-- Every client call blocks in plain code and yields inside a coroutine started with
-- `mj.spawn` or `mj.run`; a host loop calls `mj.step` to keep things moving.
-- @module midjourney

local scheduler = require "midjourney.scheduler"

local M = {}

--- The library version.
M._VERSION = "0.1.0"
M.version = M._VERSION

--- Creates a client. Neither blocks nor yields.
-- @tparam[opt] table opts `api_key` (else env COMETAPI_KEY), `base_url` (else env
-- COMETAPI_BASE_URL, else https://api.cometapi.com), `timeout`, `connect_timeout`, ...
-- @return a client (see `midjourney.client`)
function M.new(opts)
  return require("midjourney.client").new(opts)
end

--- Starts `fn(...)` as a coroutine; returns a handle at once (`status`, `result`, `cancel`).
-- Neither blocks nor yields.
-- @function spawn
M.spawn = scheduler.spawn

--- Advances every transfer and resumes ready coroutines; never blocks longer than
-- `timeout` seconds (default 0). Returns the number of live coroutines.
-- @function step
M.step = scheduler.step

--- Runs `fn(...)` as a coroutine until it finishes and returns its results (raises its
-- error). Blocks.
-- @function run
M.run = scheduler.run

--- Sleeps `seconds`: yields inside a coroutine, blocks outside one.
-- @function sleep
M.sleep = scheduler.sleep

--- Waits until every handle of a list has finished: yields inside a coroutine,
-- blocks outside one.
-- @function join
M.join = scheduler.join

--- True when transfers, ready coroutines or timers are pending. Neither blocks nor yields.
-- @function busy
M.busy = scheduler.busy

--- Sets engine options before the first request (`max_host_connections`).
-- @function configure
M.configure = scheduler.configure

setmetatable(M, {
  __index = function(_, k)
    if k == "errors" then return require "midjourney.errors" end
    if k == "json" then return require "midjourney.json" end
    if k == "core" then return require "midjourney.core" end
    if k == "batch" then return require "midjourney.batch" end
    return nil
  end,
})

return M
