---@meta
-- LuaCATS definitions of midjourney.drivers.nvim for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---The options of `setup`.
---@class midjourney.NvimDriverOptions
---@field mode? "event"|"tick" # event (default where `mj.fd()` exists): a libuv poll on the descriptor and one timer
---@field interval? integer # tick mode: ms between ticks while transfers are in flight, default 10
---@field max_idle_wait? integer # ms, longest re-arm while only sleeps are pending, default 1000

---What `status` returns.
---@class midjourney.NvimDriverStatus
---@field active boolean
---@field ticks integer
---@field starts integer
---@field stops integer
---@field errors integer
---@field watched integer
---@field mode? "event"|"tick" # nil until the first step
---@field wakeups? integer # the loop's callbacks into the driver (timer and descriptor)
---@field timer_wakeups? integer
---@field poll_wakeups? integer

---Neovim driver: keeps the scheduler moving from a libuv timer; coroutines run in the main loop.
---Nothing here blocks or yields.
---@class midjourney.drivers.nvim
local M = {}

---Makes sure the timer ticks soon. Safe in libuv fast context.
function M.kick() end

---Starts `fn(...)` as a scheduler coroutine and makes sure the driver ticks.
---@param fn function
---@param ... any
---@return midjourney.Handle
function M.spawn(fn, ...) end

---Runs `fn(...)` as a scheduler coroutine and calls `on_done(...)` (through vim.schedule) with what
---`handle:result()` gives once it ends.
---@param fn function
---@param on_done? function
---@param ... any
---@return midjourney.Handle
function M.run(fn, on_done, ...) end

---Cancels a handle and keeps ticking so that the cancellation is delivered.
---@param h midjourney.Handle
---@return boolean
function M.cancel(h) end

---Sets driver options.
---@param opts midjourney.NvimDriverOptions
function M.setup(opts) end

---The driver's state.
---@return midjourney.NvimDriverStatus
function M.status() end

---Stops and closes the timer (for example on VimLeavePre).
function M.stop() end

return M
