--- Example LÖVE game on lua-midjourney: imagine -> wait (progress bar) -> download ->
-- draw the image, without ever blocking the game loop (`mj.step(0)` every frame via
-- `midjourney.drivers.love`).
--
--     export COMETAPI_KEY=sk-...          # once, e.g. in your shell profile, as for `mj`
--     love examples/love --prompt "a paper boat"
--
-- The API key comes from the environment (COMETAPI_KEY) or from the first line of a file
-- (--key-file FILE), never from the command line, where it would land in the shell
-- history. COMETAPI_BASE_URL (or --url) points the game at another gateway, such as the
-- local simulator (`bin/mj-simulator --port 8080 --speed 5 --key sk-test &` and
-- `COMETAPI_BASE_URL=http://127.0.0.1:8080`).
--
-- Options: --prompt, --upscale U1 (press a button on the grid first), --dir DIR (download
-- there instead of the save directory), --url URL, --key-file FILE, --result FILE (MJ_LOVE_RESULT: test
-- mode: write frame counts to FILE and quit once the image has been shown),
-- --timeout SECONDS (test mode watchdog, default 30), --blocking 1 (control: run the
-- job with `mj.run` inside one frame, freezing the game, to show the difference).
-- MJ_LOVE_SCREENSHOT=FILE.png saves one frame showing the image there (`make screenshots`).
-- (--key KEY also works, for the test suite's throwaway simulator keys; do not use it with
-- a real key.)

-- Test mode: an error (even while loading) writes it to the result file and quits,
-- instead of LÖVE's error screen waiting for a key.
if os.getenv("MJ_LOVE_RESULT") then
  function love.errorhandler(msg)
    local path = os.getenv("MJ_LOVE_RESULT")
    local f = io.open(path .. ".tmp", "w")
    if f then
      f:write("return { ok = false, error = ", string.format("%q", debug.traceback(tostring(msg), 2)), " }\n")
      f:close()
      os.rename(path .. ".tmp", path)
    end
    return nil -- no error screen: quit
  end
end

-- Find the library: in this repository (examples/love -> ../../lua, ../../build/luajit),
-- else beside the game (copy lua/midjourney into the game and core.so next to it).
local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end
do
  local src = love.filesystem.getSource()
  local repo = src:gsub("/examples/love/?$", "")
  if repo ~= src and exists(repo .. "/lua/midjourney/init.lua") then
    package.path = repo .. "/lua/?.lua;" .. repo .. "/lua/?/init.lua;" .. package.path
    package.cpath = repo .. "/build/luajit/?.so;" .. package.cpath
  end
end
local driver = require "midjourney.drivers.love"
driver.add_cpath()
local mj = require "midjourney"

local state = {
  phase = "starting",
  progress = 0,
  frames = 0,              -- every love.update
  job_frames = 0,          -- updates while the job was running
  max_dt = 0,              -- longest frame after warm-up (seconds)
  drawn_with_image = 0,    -- frames drawn showing the image
  job_started = nil,
  job_seconds = nil,
  image = nil,
  error = nil,
  progress_updates = 0,
}
local opts = {}
local t0

local function parse_args(args)
  local o = {
    url = os.getenv("COMETAPI_BASE_URL"),
    key = os.getenv("COMETAPI_KEY"),
    prompt = "a paper boat at sunrise --v 6.1",
    result = os.getenv("MJ_LOVE_RESULT"),
    timeout = 30,
  }
  local i = 1
  while args and args[i] do
    local a = args[i]
    local name = a:match("^%-%-([%w%-]+)$")
    if name and args[i + 1] then
      o[name] = args[i + 1]
      i = i + 2
    else
      i = i + 1
    end
  end
  o.timeout = tonumber(o.timeout) or 30
  if o["key-file"] then
    -- the first line of the file, trimmed; a missing or empty file is reported on screen
    local f = io.open(o["key-file"], "rb")
    local line = f and f:read("*l")
    if f then f:close() end
    line = line and line:gsub("^%s+", ""):gsub("%s+$", "") or ""
    if line == "" then
      o.key_error = "cannot read an API key from --key-file " .. o["key-file"]
    else
      o.key = line
    end
  end
  return o
end

local function write_result()
  if not opts.result then return end
  local st = driver.status()
  local r = {
    ok = state.error == nil and state.image ~= nil,
    error = state.error and tostring(state.error) or nil,
    frames = state.frames,
    job_frames = state.job_frames,
    max_dt = state.max_dt,
    max_dt_frame = state.max_dt_frame,
    job_seconds = state.job_seconds,
    drawn_with_image = state.drawn_with_image,
    progress_updates = state.progress_updates,
    image_width = state.image and state.image:getWidth() or nil,
    image_height = state.image and state.image:getHeight() or nil,
    path = state.path,
    task_id = state.task_id,
    max_step = st.max_step,
    updates = st.updates,
  }
  local keys = {}
  for k in pairs(r) do keys[#keys + 1] = k end
  table.sort(keys)
  local lines = { "return {" }
  for _, k in ipairs(keys) do
    local v = r[k]
    lines[#lines + 1] = string.format("  %s = %s,", k, type(v) == "string" and string.format("%q", v) or tostring(v))
  end
  lines[#lines + 1] = "}"
  local f = assert(io.open(opts.result .. ".tmp", "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  assert(os.rename(opts.result .. ".tmp", opts.result))
end

local function quit(code)
  write_result()
  love.event.quit(code)
end

-- The job: a scheduler coroutine; every client call below yields.
local function job()
  if opts.key_error then return nil, opts.key_error end
  local client = mj.new { api_key = opts.key, base_url = opts.url }
  local function on_progress(task)
    state.phase = (task.status ~= "" and task.status or "SUBMITTED")
    state.progress = tonumber((task.progress or ""):match("[%d.]+")) or state.progress
    state.progress_updates = state.progress_updates + 1
  end
  state.phase = "submitting"
  local id, err = client:imagine(opts.prompt)
  if not id then return nil, err end
  local task
  task, err = client:wait(id, { on_progress = on_progress, interval = 0.5, first_delay = 0.2 })
  if not task then return nil, err end
  if task.status ~= "SUCCESS" then return nil, "task ended " .. tostring(task.status) end
  if opts.upscale then
    state.phase, state.progress = "upscaling", 0
    local uid
    uid, err = client:action(task, opts.upscale)
    if not uid then return nil, err end
    task, err = client:wait(uid, { on_progress = on_progress, interval = 0.5, first_delay = 0.2 })
    if not task then return nil, err end
    if task.status ~= "SUCCESS" then return nil, "upscale ended " .. tostring(task.status) end
  end
  state.phase = "downloading"
  local path = opts.dir and (opts.dir .. "/" .. task.id .. ".png") or driver.save_path(task.id .. ".png")
  local ok
  ok, err = client:download(task, path)
  if not ok then return nil, err end
  return task, path
end

local function on_done(task, path_or_err)
  state.job_seconds = love.timer.getTime() - state.job_started
  state.job_started = nil
  if not task then
    state.phase, state.error = "failed", tostring(path_or_err)
    return
  end
  state.task_id, state.path = task.id, path_or_err
  local img, err = driver.load_image(path_or_err)
  if not img then
    state.phase, state.error = "failed", "cannot load the image: " .. tostring(err)
    return
  end
  state.image, state.phase, state.progress = img, "done", 100
end

function love.load(args)
  opts = parse_args(args)
  t0 = love.timer.getTime()
  state.job_started = t0
  if opts.blocking == "1" then return end -- control mode: see love.update
  driver.run(job, on_done)
end

function love.update(dt)
  state.frames = state.frames + 1
  if state.job_started then
    state.job_frames = state.job_frames + 1
  end
  -- the longest frame (a blocked loop shows here); the first frames' dt include the
  -- window's first draw (GL warm-up), so measure from the fourth frame on
  if state.frames > 3 and dt > state.max_dt then
    state.max_dt, state.max_dt_frame = dt, state.frames
  end
  if opts.blocking == "1" and state.job_started and state.job_frames == 5 then
    -- control mode (--blocking 1): what a blocking client does to a game, i.e. the
    -- same job run to completion inside one frame
    state.job_started = love.timer.getTime()
    on_done(mj.run(job))
  end
  driver.update()
  local shot = os.getenv("MJ_LOVE_SCREENSHOT")
  if shot and state.drawn_with_image == 3 then
    -- captured at the end of the next frame's draw
    love.graphics.captureScreenshot(function(data)
      local f = assert(io.open(shot, "wb"))
      f:write(data:encode("png"):getString())
      f:close()
    end)
  end
  if opts.result then
    if state.error then quit(1)
    elseif state.drawn_with_image >= 10 then quit(0)
    elseif love.timer.getTime() - t0 > opts.timeout then
      state.error = "timeout: no image after " .. opts.timeout .. " s (phase " .. state.phase .. ")"
      quit(1)
    end
  end
end

function love.draw()
  local w, h = love.graphics.getDimensions()
  love.graphics.clear(0.1, 0.1, 0.12)
  love.graphics.setColor(1, 1, 1)
  love.graphics.print(string.format("%s  %d%%   frames %d", state.phase, state.progress, state.frames), 20, 16)
  -- progress bar
  love.graphics.rectangle("line", 20, 40, w - 40, 16)
  love.graphics.setColor(0.3, 0.7, 1)
  love.graphics.rectangle("fill", 22, 42, (w - 44) * state.progress / 100, 12)
  love.graphics.setColor(1, 1, 1)
  if state.image then
    local iw, ih = state.image:getDimensions()
    local s = math.min((w - 40) / iw, (h - 90) / ih, 1)
    love.graphics.draw(state.image, 20, 70, 0, s, s)
    state.drawn_with_image = state.drawn_with_image + 1
  elseif state.error then
    love.graphics.setColor(1, 0.4, 0.4)
    love.graphics.printf(state.error, 20, 70, w - 40)
  end
end

function love.keypressed(key)
  if key == "escape" then love.event.quit(0) end
end
