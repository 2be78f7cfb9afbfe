--- LÖVE driver: keeps the midjourney scheduler moving from `love.update`.
--
--     local driver = require "midjourney.drivers.love"   -- after driver.add_cpath()
--     function love.load()
--       driver.run(function()
--         local id = assert(client:imagine("a paper boat"))
--         local task = assert(client:wait(id))
--         return assert(client:download(task, driver.save_path("boat.png")))
--       end, function(path, err) image = path and driver.load_image(path) end)
--     end
--     function love.update(dt) driver.update() end
--
-- `update` calls `mj.step(0)`: it never waits for the network, so the frame rate does
-- not depend on the jobs. Callbacks given to `run` are called from `update`, on the main
-- thread, after the step (so they may create images and other graphics objects).
--
-- Native modules cannot be loaded from inside a zipped or fused `.love`: ship the files
-- `native_files()` lists (the C core and lua-cjson, which LÖVE does not bundle) beside the
-- `.love` or the fused executable, and call `add_cpath` before anything requires `midjourney`.
-- @module midjourney.drivers.love

local M = {}

local unpack = table.unpack or unpack

local scheduler_mod
local function scheduler()
  -- required lazily so that `add_cpath` can run before the C core is loaded
  if not scheduler_mod then scheduler_mod = require "midjourney.scheduler" end
  return scheduler_mod
end

local watched = {}   -- list of { handle, on_done }
local stats = { updates = 0, max_step = 0 }

local function finished(h)
  local s = h:status()
  return s ~= "pending" and s ~= "running"
end

local function pack(...)
  return { n = select("#", ...), ... }
end

-- LuaJIT's suffix for C modules on each system LÖVE names (`love.system.getOS()`): `.so`
-- everywhere but Windows, macOS included.
local SUFFIX = { Linux = "so", ["OS X"] = "so", Windows = "dll" }

local function running_os()
  local sys = love and love.system
  return sys and sys.getOS and sys.getOS() or nil
end

--- The native files a packaged game ships, as paths relative to a directory that `add_cpath`
-- puts on `package.cpath`, normally the one holding the `.love` file or the fused executable:
-- the C core `midjourney/core` built for LuaJIT (`make LUA=luajit`), and lua-cjson's `cjson`,
-- which LÖVE does not bundle. On Linux and macOS that is `{"midjourney/core.so", "cjson.so"}`,
-- on Windows `{"midjourney/core.dll", "cjson.dll"}`. The core also needs libcurl, which is not
-- in the list: Linux (`libcurl.so.4`) and macOS (`/usr/lib/libcurl.4.dylib`) have it as a
-- system library; on Windows, ship the libcurl DLL the core was linked against beside the
-- executable, where Windows looks for a DLL's dependencies. `midjourney.image` needs one more
-- module, `midjourney/image_core`, and the image libraries; it is not in the list. Neither
-- blocks nor yields.
-- @tparam[opt] string os_name `"Linux"`, `"OS X"` or `"Windows"`, as `love.system.getOS()`
--   names them (default: the running system; required outside LÖVE)
-- @treturn {string,...} the relative paths, with `/` as the separator
-- @raise when `os_name` is missing outside LÖVE or names another system
function M.native_files(os_name)
  if os_name == nil then os_name = running_os() end
  if type(os_name) ~= "string" then
    error("native_files: os_name must be \"Linux\", \"OS X\" or \"Windows\" (outside LÖVE it is required)", 2)
  end
  local ext = SUFFIX[os_name]
  if not ext then
    error("native_files: unsupported system " .. string.format("%q", os_name)
      .. " (expected \"Linux\", \"OS X\" or \"Windows\")", 2)
  end
  return { "midjourney/core." .. ext, "cjson." .. ext }
end

--- Adds the directories a game ships native modules in to `package.cpath`: the game's
-- source directory (when run from a folder), the folder holding the `.love` or the
-- fused executable, the save directory, and any `extra` directories. Each gets `/?.so`
-- (`/?.dll` on Windows), so `require` finds the files `native_files()` lists in any of
-- them. Call it before the first `require "midjourney"`. Neither blocks nor yields.
-- @tparam[opt] {string,...} extra more directories
-- @treturn string the new `package.cpath`
function M.add_cpath(extra)
  local dirs = {}
  for _, d in ipairs(extra or {}) do dirs[#dirs + 1] = d end
  local fs = love.filesystem
  if not fs.isFused() then
    local src = fs.getSource()
    -- a folder game (not a .love zip): its own directory can hold the .so
    if src and not src:match("%.love$") then dirs[#dirs + 1] = src end
  end
  dirs[#dirs + 1] = fs.getSourceBaseDirectory()
  dirs[#dirs + 1] = fs.getSaveDirectory()
  local ext = SUFFIX[running_os() or "Linux"] or "so"
  local parts = {}
  for _, d in ipairs(dirs) do
    if d and d ~= "" then
      local entry = d .. "/?." .. ext
      if not package.cpath:find(entry, 1, true) then parts[#parts + 1] = entry end
    end
  end
  if #parts > 0 then package.cpath = table.concat(parts, ";") .. ";" .. package.cpath end
  return package.cpath
end

--- Advances every transfer and resumes ready coroutines (`mj.step(0)`), then calls the
-- `on_done` callbacks of jobs started with `run` that ended. Call it once per frame from
-- `love.update`. Never blocks (the step has a zero timeout) and does not yield.
-- @treturn integer the number of live coroutines
function M.update()
  local s = scheduler()
  local t0 = love.timer and love.timer.getTime()
  local live = s.step(0)
  if t0 then
    local took = love.timer.getTime() - t0
    if took > stats.max_step then stats.max_step = took end
  end
  stats.updates = stats.updates + 1
  if #watched > 0 then
    local keep, done = {}, {}
    for _, w in ipairs(watched) do
      if finished(w[1]) then done[#done + 1] = w else keep[#keep + 1] = w end
    end
    watched = keep
    for _, w in ipairs(done) do
      if w[2] then
        local res = pack(w[1]:result())
        w[2](unpack(res, 1, res.n))
      end
    end
  end
  return live
end

--- Starts `fn(...)` as a scheduler coroutine; once it ends, `update` calls
-- `on_done(...)` with what `handle:result()` gives: `fn`'s return values, or `nil, err`
-- when it raised or was cancelled. Neither blocks nor yields.
-- @tparam function fn the job; every client call in it yields
-- @tparam[opt] function on_done
-- @return the handle (`status()`, `result()`, `cancel()`)
function M.run(fn, on_done, ...)
  if type(fn) ~= "function" then error("run: fn must be a function", 2) end
  if on_done ~= nil and type(on_done) ~= "function" then error("run: on_done must be a function", 2) end
  local h = scheduler().spawn(fn, ...)
  watched[#watched + 1] = { h, on_done }
  return h
end

--- True when transfers, ready coroutines or sleeps are pending. Neither blocks nor yields.
function M.busy()
  return scheduler().busy()
end

--- The driver's counters: `{ updates = n, max_step = seconds, watched = n }`
-- (`max_step` is the longest `update` step so far). Neither blocks nor yields.
function M.status()
  return { updates = stats.updates, max_step = stats.max_step, watched = #watched }
end

--- An absolute path in the game's save directory (created if missing), suitable as a
-- download target that `love.filesystem` can read back. Neither blocks nor yields.
-- @tparam string name a file name
-- @treturn string
function M.save_path(name)
  love.filesystem.createDirectory("")
  return love.filesystem.getSaveDirectory() .. "/" .. name
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("*a")
  f:close()
  return data
end

--- Decodes an image file at any absolute path (for example a finished download) into
-- `ImageData`. Needs `love.image` only (works without a window). Blocks briefly (reads
-- and decodes the file); does not yield.
-- @tparam string path
-- @return ImageData, or `nil, message`
function M.load_image_data(path)
  local bytes, err = read_file(path)
  if not bytes then return nil, err end
  local ok, fd = pcall(love.filesystem.newFileData, bytes, path:match("[^/\\]+$") or "image")
  if not ok then return nil, tostring(fd) end
  local ok2, data = pcall(love.image.newImageData, fd)
  if not ok2 then return nil, tostring(data) end
  return data
end

--- Loads an image file at any absolute path into a drawable `Image` (needs a window).
-- Blocks briefly (reads, decodes and uploads the file); does not yield.
-- @tparam string path
-- @return Image, or `nil, message`
function M.load_image(path)
  local data, err = M.load_image_data(path)
  if not data then return nil, err end
  local ok, img = pcall(love.graphics.newImage, data)
  if not ok then return nil, tostring(img) end
  return img
end

return M
