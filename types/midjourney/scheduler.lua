---@meta
-- LuaCATS definitions of midjourney.scheduler for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---The options of `configure` (`mj.configure`).
---@class midjourney.SchedulerOptions
---@field step_budget? number|false # seconds a step may spend resuming coroutines (default 0.001; false: no limit)
---@field max_host_connections? integer # engine option, before the first request (default 32)
---@field max_connections? integer # engine option, before the first request

---The options of `scheduler.new`.
---@class midjourney.NewSchedulerOptions: midjourney.SchedulerOptions
---@field core? table # the C core module (default midjourney.core; specs pass a fake)

---A coroutine started by `spawn` (`mj.spawn`, a driver's `run`).
---@class midjourney.Handle
local Handle = {}

---The coroutine's state. Neither blocks nor yields.
---@return "pending"|"running"|"done"|"failed"|"cancelled"
function Handle:status() end

---The results of a finished coroutine: its return values when "done"; `nil, err` when it failed,
---was cancelled (kind "cancelled") or is not finished (kind "pending"). Neither blocks nor yields.
---@return any ...
function Handle:result() end

---Cancels the coroutine's pending call (it returns `nil, err` with kind "cancelled"). Neither
---blocks nor yields.
---@return boolean # true if there was something to cancel
function Handle:cancel() end

---A scheduler: an engine, coroutines, timers.
---@class midjourney.Scheduler
---@field now fun(): number # its clock
local Scheduler = {}

---The scheduler's engine, created on first use. Neither blocks nor yields.
---@return midjourney.core.Engine
function Scheduler:engine() end

---Sets options. Neither blocks nor yields.
---@param opts midjourney.SchedulerOptions
function Scheduler:configure(opts) end

---True when the caller runs inside a coroutine of this scheduler. Neither blocks nor yields.
---@return boolean
function Scheduler:in_coroutine() end

---The handle of the running coroutine of this scheduler, or nil. Neither blocks nor yields.
---@return midjourney.Handle?
function Scheduler:running() end

---Starts an HTTP transfer and waits for it. Yields inside a coroutine, blocks otherwise.
---@param spec midjourney.core.Request
---@return midjourney.core.Record
function Scheduler:request(spec) end

---Sleeps: yields inside a coroutine of this scheduler, blocks otherwise.
---@param seconds number
function Scheduler:sleep(seconds) end

---Suspends the running coroutine until `wake`, a cancel, or `timeout`. Yields.
---@param timeout? number
---@return any ... # the values given to `wake`, `scheduler.TIMEOUT`, or nil, err
function Scheduler:suspend(timeout) end

---Wakes a suspended coroutine, passing values. Neither blocks nor yields.
---@param h midjourney.Handle
---@param ... any
---@return boolean # true if it was suspended
function Scheduler:wake(h, ...) end

---Starts `fn(...)` as a coroutine; it first runs at the next step. Neither blocks nor yields.
---@param fn function
---@param ... any
---@return midjourney.Handle
function Scheduler:spawn(fn, ...) end

---Advances transfers and resumes ready coroutines; never blocks longer than `timeout`.
---@param timeout? number # default 0
---@return integer live
function Scheduler:step(timeout) end

---Waits until every handle has finished. Yields inside a coroutine, blocks outside one.
---@param handles midjourney.Handle[]
---@return midjourney.Handle[] handles
function Scheduler:join(handles) end

---Registers `fn()` to be called when work is queued from outside a step. Neither blocks nor yields.
---@param fn fun()
function Scheduler:on_work(fn) end

---True when transfers, ready coroutines or timers are pending. Neither blocks nor yields.
---@return boolean
function Scheduler:busy() end

---Seconds until the next timer, or nil. Neither blocks nor yields.
---@return number?
function Scheduler:next_timer() end

---The number of live coroutines. Neither blocks nor yields.
---@return integer
function Scheduler:live() end

---Runs `fn(...)` as a coroutine and steps until it finishes. Blocks.
---@param fn function
---@param ... any
---@return any ...
function Scheduler:run(fn, ...) end

---Closes the engine: calls waiting on a transfer return "cancelled". Neither blocks nor yields.
function Scheduler:close() end

---The descriptor a host loop watches for readability (the engine's epoll/kqueue descriptor),
---or nil where neither exists (then tick). Neither blocks nor yields.
---@return integer?
function Scheduler:fd() end

---Seconds until the host must call `step(0)` even if the descriptor stayed quiet: 0 when a
---coroutine is ready; nil when nothing is due. Neither blocks nor yields.
---@return number?
function Scheduler:timeout() end

---The cqueues pollable protocol: the descriptor (`fd()`). Neither blocks nor yields.
---@return integer?
function Scheduler:pollfd() end

---The cqueues pollable protocol: the events watched, `"r"`. Neither blocks nor yields.
---@return string
function Scheduler:events() end

---Schedulers. The module functions act on the active scheduler: the one whose coroutine is
---running, else the default one.
---@class midjourney.scheduler
---@field TIMEOUT table # what `suspend(timeout)` returns when its timeout passed first
local M = {}

---Makes a scheduler. Neither blocks nor yields.
---@param opts? midjourney.NewSchedulerOptions
---@return midjourney.Scheduler
function M.new(opts) end

---The default scheduler (behind `mj.spawn`, `mj.step`, ...). Neither blocks nor yields.
---@return midjourney.Scheduler
function M.default() end

---The active scheduler. Neither blocks nor yields.
---@return midjourney.Scheduler
function M.active() end

---True when `v` is a scheduler. Neither blocks nor yields.
---@param v any
---@return boolean
function M.is_scheduler(v) end

---The active scheduler's clock: monotonic seconds. Neither blocks nor yields.
---@return number
function M.now() end

---The handle of the running coroutine of the active scheduler, or nil. Neither blocks nor yields.
---@return midjourney.Handle?
function M.current() end

---The active scheduler's engine. Neither blocks nor yields.
---@return midjourney.core.Engine
function M.engine() end

---Sets options of the active scheduler (`mj.configure`). Neither blocks nor yields.
---@param opts midjourney.SchedulerOptions
function M.configure(opts) end

---True when the caller runs inside a coroutine of the active scheduler. Neither blocks nor yields.
---@return boolean
function M.in_coroutine() end

---The active scheduler's descriptor (see `Scheduler:fd`). Neither blocks nor yields.
---@return integer?
function M.fd() end

---The active scheduler's timeout (see `Scheduler:timeout`). Neither blocks nor yields.
---@return number?
function M.timeout() end

---The cqueues pollable protocol for the active scheduler. Neither blocks nor yields.
---@return integer?
function M.pollfd() end

---The cqueues pollable protocol for the active scheduler: `"r"`. Neither blocks nor yields.
---@return string
function M.events() end

---Starts an HTTP transfer and waits for it. Yields inside a coroutine, blocks otherwise.
---@param spec midjourney.core.Request
---@return midjourney.core.Record
function M.request(spec) end

---Sleeps: yields inside a coroutine, blocks outside one.
---@param seconds number
function M.sleep(seconds) end

---Suspends the running coroutine until `wake`, a cancel, or `timeout`. Yields.
---@param timeout? number
---@return any ...
function M.suspend(timeout) end

---Wakes a suspended coroutine, passing values. Neither blocks nor yields.
---@param h midjourney.Handle
---@param ... any
---@return boolean
function M.wake(h, ...) end

---Starts `fn(...)` as a coroutine of the active scheduler. Neither blocks nor yields.
---@param fn function
---@param ... any
---@return midjourney.Handle
function M.spawn(fn, ...) end

---Advances transfers and resumes ready coroutines; never blocks longer than `timeout`.
---@param timeout? number
---@return integer live
function M.step(timeout) end

---Waits until every handle has finished. Yields inside a coroutine, blocks outside one.
---@param handles midjourney.Handle[]
---@return midjourney.Handle[]
function M.join(handles) end

---Registers `fn()` to be called when work is queued from outside a step. Neither blocks nor yields.
---@param fn fun()
function M.on_work(fn) end

---True when transfers, ready coroutines or timers are pending. Neither blocks nor yields.
---@return boolean
function M.busy() end

---Seconds until the next timer, or nil. Neither blocks nor yields.
---@return number?
function M.next_timer() end

---The number of live coroutines. Neither blocks nor yields.
---@return integer
function M.live() end

---Runs `fn(...)` as a coroutine and steps until it finishes. Blocks.
---@param fn function
---@param ... any
---@return any ...
function M.run(fn, ...) end

---Closes the active scheduler's engine. Neither blocks nor yields.
function M.close() end

return M
