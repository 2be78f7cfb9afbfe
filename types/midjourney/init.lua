---@meta
-- LuaCATS definitions of midjourney (the public entry) for lua-language-server (see README
-- "Editor support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---The public entry: `mj.new` makes a client; the scheduler functions act on the default
---scheduler (every client call blocks in plain code and yields inside `mj.spawn`/`mj.run`).
---@class midjourney
---@field _VERSION string # the library version
---@field version string # the same
---@field errors midjourney.errors # loaded on first use
---@field json midjourney.json # loaded on first use
---@field core midjourney.core # loaded on first use
---@field scheduler midjourney.scheduler
---@field batch midjourney.batch # loaded on first use
local M = {}

---Creates a client (see `midjourney.client.new`). Neither blocks nor yields.
---@param opts? midjourney.ClientOptions
---@return midjourney.Client
function M.new(opts) end

---Starts `fn(...)` as a coroutine and returns its handle at once. Neither blocks nor yields.
---@param fn function
---@param ... any
---@return midjourney.Handle
function M.spawn(fn, ...) end

---Advances every transfer and resumes ready coroutines; never blocks longer than `timeout`.
---@param timeout? number # seconds, default 0
---@return integer live # live coroutines
function M.step(timeout) end

---Runs `fn(...)` as a coroutine until it finishes and returns its results (raises its error). Blocks.
---@param fn function
---@param ... any
---@return any ...
function M.run(fn, ...) end

---Sleeps: yields inside a coroutine, blocks outside one.
---@param seconds number
function M.sleep(seconds) end

---Waits until every handle of a list has finished: yields inside a coroutine, blocks outside one.
---@param handles midjourney.Handle[]
---@return midjourney.Handle[] handles # the same list
function M.join(handles) end

---True when transfers, ready coroutines or timers are pending. Neither blocks nor yields.
---@return boolean
function M.busy() end

---Sets scheduler options. Neither blocks nor yields.
---@param opts midjourney.SchedulerOptions
function M.configure(opts) end

---The descriptor a host's event loop watches for the default scheduler, or nil where neither
---epoll nor kqueue exists. Neither blocks nor yields.
---@return integer?
function M.fd() end

---Seconds until the host must call `mj.step(0)` even if `mj.fd()` stayed quiet (0 when a
---coroutine is ready), or nil when nothing is due. Neither blocks nor yields.
---@return number?
function M.timeout() end

---The cqueues pollable protocol (`cqueues.poll(mj)`): `mj.fd()`. Neither blocks nor yields.
---@return integer?
function M.pollfd() end

---The cqueues pollable protocol: `"r"`. Neither blocks nor yields.
---@return string
function M.events() end

return M
