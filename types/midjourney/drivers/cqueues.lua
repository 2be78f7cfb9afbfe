---@meta
-- LuaCATS definitions of midjourney.drivers.cqueues for lua-language-server (see README
-- "Editor support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---The options of `attach`.
---@class midjourney.CqueuesDriverOptions
---@field scheduler? midjourney.Scheduler # default: the default one, behind `mj.*`
---@field on_error? fun(err: any) # called with what a step raised; default: a line on stderr

---What `status` returns.
---@class midjourney.CqueuesDriverStatus
---@field attached boolean
---@field active? boolean # its coroutine is alive
---@field wakeups? integer
---@field ticks? integer
---@field starts? integer
---@field stops? integer
---@field errors? integer

---An attachment of a scheduler to a cqueues controller (`attach`).
---@class midjourney.drivers.cqueues.Attachment
local Attachment = {}

---Makes sure the attachment steps soon. Neither blocks nor yields.
function Attachment:kick() end

---The attachment's state. Neither blocks nor yields.
---@return midjourney.CqueuesDriverStatus
function Attachment:status() end

---Stops stepping: the coroutine ends at its next wakeup. Neither blocks nor yields.
function Attachment:detach() end

---cqueues driver: midjourney work inside a cqueues controller, beside lua-http servers and clients.
---@class midjourney.drivers.cqueues
local M = {}

---Keeps a scheduler moving inside the controller `cq`. Neither blocks nor yields.
---@param cq table # a controller (`cqueues.new()`)
---@param opts? midjourney.CqueuesDriverOptions
---@return midjourney.drivers.cqueues.Attachment
function M.attach(cq, opts) end

---The default scheduler's attachment, or nil. Neither blocks nor yields.
---@return midjourney.drivers.cqueues.Attachment?
function M.attachment() end

---Detaches the default scheduler's attachment. Neither blocks nor yields.
function M.detach() end

---The `status()` of the default scheduler's attachment. Neither blocks nor yields.
---@return midjourney.CqueuesDriverStatus
function M.status() end

---Runs `fn(...)` as a midjourney coroutine and waits for it without blocking the controller:
---yields to it (call it from a cqueues coroutine). Returns fn's results.
---@param fn function
---@param ... any
---@return any ...
function M.call(fn, ...) end

return M
