---@meta
-- LuaCATS definitions of midjourney.drivers.luv for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---The options of `attach` (and `attachment:configure`).
---@class midjourney.LuvDriverOptions
---@field mode? "event"|"tick" # event (default where `mj.fd()` exists) or tick
---@field interval? number # tick mode: ms between ticks while transfers are in flight, default 10
---@field max_idle_wait? number # tick mode: ms, longest wait while only sleeps are pending, default 1000
---@field defer? fun(step: function) # runs the step later (e.g. `vim.schedule`); default: in the libuv callback
---@field on_step? function # called after every step
---@field on_error? fun(err: any) # called with what a step raised; default: a line on stderr
---@field scheduler? midjourney.Scheduler # default: the default one, behind `mj.*`

---What `status` returns.
---@class midjourney.LuvDriverStatus
---@field attached boolean
---@field active? boolean
---@field mode? "event"|"tick" # nil until the first step
---@field wakeups? integer # the loop's callbacks into the driver (timer and descriptor)
---@field timer_wakeups? integer
---@field poll_wakeups? integer
---@field ticks? integer # steps
---@field starts? integer
---@field stops? integer
---@field errors? integer

---An attachment of a scheduler to a libuv loop (`attach`).
---@class midjourney.drivers.luv.Attachment
local Attachment = {}

---Makes sure the attachment steps soon. Neither blocks nor yields; safe in libuv callbacks.
function Attachment:kick() end

---The attachment's state. Neither blocks nor yields.
---@return midjourney.LuvDriverStatus
function Attachment:status() end

---Changes options and re-arms with them. Neither blocks nor yields.
---@param opts midjourney.LuvDriverOptions
function Attachment:configure(opts) end

---Stops and closes the handles and forgets the attachment. Neither blocks nor yields.
function Attachment:detach() end

---libuv driver (luv scripts, luvit): one poll handle on `mj.fd()` and one timer for `mj.timeout()`.
---@class midjourney.drivers.luv
local M = {}

---Keeps a scheduler moving inside a running libuv loop, until `detach`. Neither blocks nor yields.
---@param uv? table # the luv module (default: `require "luv"`, else luvit's `require "uv"`)
---@param opts? midjourney.LuvDriverOptions
---@return midjourney.drivers.luv.Attachment
function M.attach(uv, opts) end

---The attachment of the default scheduler, or nil. Neither blocks nor yields.
---@return midjourney.drivers.luv.Attachment?
function M.attachment() end

---Detaches the default scheduler's attachment. Neither blocks nor yields.
function M.detach() end

---The `status()` of the default scheduler's attachment. Neither blocks nor yields.
---@return midjourney.LuvDriverStatus
function M.status() end

---Runs `fn(...)` as a coroutine of the default scheduler and runs the libuv loop until it
---finishes; returns its results or raises its error. Blocks (never call it from a libuv callback).
---@param fn function
---@param ... any
---@return any ...
function M.run(fn, ...) end

return M
