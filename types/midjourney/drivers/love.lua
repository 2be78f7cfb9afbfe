---@meta
-- LuaCATS definitions of midjourney.drivers.love for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---What `status` returns.
---@class midjourney.LoveDriverStatus
---@field updates integer
---@field max_step number # the longest update step so far, seconds
---@field watched integer

---LÖVE driver: call `update` from `love.update`; `on_done` callbacks run on the main thread.
---@class midjourney.drivers.love
local M = {}

---The native files a game must ship beside the .love or the executable. Neither blocks nor yields.
---@param os_name? "Linux"|"OS X"|"Windows" # default: the running system
---@return string[]
function M.native_files(os_name) end

---Adds the directories a game ships native modules in to package.cpath. Neither blocks nor yields.
---@param extra? string[]
---@return string cpath
function M.add_cpath(extra) end

---Advances every transfer and resumes ready coroutines, then calls the `on_done` callbacks of
---jobs that ended. Never blocks; does not yield.
---@return integer live
function M.update() end

---Starts `fn(...)` as a scheduler coroutine; `update` calls `on_done(...)` once it ends.
---@param fn function
---@param on_done? function
---@param ... any
---@return midjourney.Handle
function M.run(fn, on_done, ...) end

---True when transfers, ready coroutines or sleeps are pending.
---@return boolean
function M.busy() end

---The driver's counters.
---@return midjourney.LoveDriverStatus
function M.status() end

---An absolute path in the game's save directory, for a download target.
---@param name string
---@return string
function M.save_path(name) end

---Decodes an image file at any absolute path into ImageData. Blocks briefly.
---@param path string
---@return table? image_data # love.image.ImageData
---@return string? err
function M.load_image_data(path) end

---Loads an image file at any absolute path into a drawable Image (needs a window). Blocks briefly.
---@param path string
---@return table? image # love.graphics.Image
---@return string? err
function M.load_image(path) end

return M
