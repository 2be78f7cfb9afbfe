--- `mj`, the command-line tool: dispatch, the key and client, the run loop and
-- Ctrl-C.
--
--     os.exit(require("midjourney.cli").main(arg))
--
-- Everything network-bound runs as scheduler coroutines (`mj.spawn`) stepped with
-- short slices (`mj.step(0.1)`), so a SIGINT (turned into the error
-- "interrupted!" by the standalone interpreter) is seen within a fraction of a
-- second; the in-flight transfers are then cancelled and `main` returns 130.
-- @module midjourney.cli

local mj = require "midjourney"
local args = require "midjourney.cli.args"
local render = require "midjourney.cli.render"
local commands = require "midjourney.cli.commands"

local M = {}

local EXIT = commands.EXIT

--- Seconds between two looks at the interrupt flag while waiting.
M.slice = 0.1

local INTERRUPTED = setmetatable({}, { __tostring = function() return "interrupted" end })

local function is_interrupt(err)
  if err == INTERRUPTED then return true end
  if type(err) == "string" then return err:find("interrupted!", 1, true) ~= nil end
  return type(err) == "table" and err.kind == "cancelled"
end

local function now()
  return mj.core.now()
end

-- ---------------------------------------------------------------- the run loop

local Ctx = {}
Ctx.__index = Ctx

-- Cancels every live job, lets them unwind for a bounded time, removes the
-- partial files of downloads that were cut short.
local function abandon(ctx, handles)
  for _, h in ipairs(handles) do pcall(h.cancel, h) end
  local deadline = now() + 0.5
  while now() < deadline do
    local live = false
    for _, h in ipairs(handles) do
      local s = h:status()
      if s == "pending" or s == "running" then live = true end
    end
    if not live then break end
    pcall(mj.step, 0.05)
  end
  for _, path in ipairs(ctx.downloads) do os.remove(path .. ".part") end
end

--- Runs job functions as scheduler coroutines until all of them finish, and
-- returns their results in order. A job that raised gives `{ code = 3, err = msg }`.
-- Raises the interrupt marker when SIGINT arrived (after cancelling the jobs).
-- Blocks.
-- @tparam table jobs list of functions
-- @treturn table results
function Ctx:drive(jobs)
  local handles = {}
  for i, fn in ipairs(jobs) do handles[i] = mj.spawn(fn) end
  local ok, err = pcall(function()
    while true do
      local live = false
      for _, h in ipairs(handles) do
        local s = h:status()
        if s == "pending" or s == "running" then live = true; break end
      end
      if not live then return end
      mj.step(M.slice)
      self.render:tick()
    end
  end)
  if not ok then
    abandon(self, handles)
    if is_interrupt(err) then error(INTERRUPTED, 0) end
    error(err, 0)
  end
  local results = {}
  for i, h in ipairs(handles) do
    local s = h:status()
    local r, e = h:result()
    if s == "done" and type(r) == "table" then
      results[i] = r
    elseif is_interrupt(e) and s ~= "done" then
      abandon(self, handles)
      error(INTERRUPTED, 0)
    else
      results[i] = { code = EXIT.api, err = "internal error: " .. tostring(e) }
    end
  end
  self.render:finish_all()
  return results
end

-- ---------------------------------------------------------------- version, key

--- The text of `mj --version`.
-- Neither blocks nor yields.
-- @treturn string
function M.version_text()
  local lines = { "mj (lua-midjourney) " .. tostring(mj.version) }
  local ok, info = pcall(function() return mj.core.curl_info() end)
  if ok and type(info) == "table" then
    lines[#lines + 1] = "libcurl " .. tostring(info.version) .. (info.ssl and (" (" .. tostring(info.ssl) .. ")") or "")
  else
    lines[#lines + 1] = "libcurl unknown"
  end
  local lua = _VERSION
  if type(jit) == "table" and jit.version then lua = jit.version .. " (" .. _VERSION .. ")" end
  lines[#lines + 1] = lua
  return table.concat(lines, "\n") .. "\n"
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function read_key(opts)
  local file = opts["api-key-file"]
  if file then
    local f, err = io.open(file, "rb")
    if not f then return nil, "cannot read the API key file: " .. tostring(err) end
    local line = f:read("*l")
    f:close()
    line = line and trim(line) or ""
    if line == "" then return nil, "the API key file is empty: " .. file end
    return line
  end
  local key = os.getenv("COMETAPI_KEY")
  if key and trim(key) ~= "" then return trim(key) end
  return nil
end

local function needs_key(parsed)
  if parsed.command == "download" and parsed.args[1]:match("^[Hh][Tt][Tt][Pp][Ss]?://") then return false end
  return true
end

-- ---------------------------------------------------------------- main

-- A stream whose every write goes through the redaction of `midjourney.errors`: nothing
-- mj prints can show the API key, whatever the server sent (a task's failReason, a
-- prompt echoed in --json output, a progress line).
local function redacting(stream)
  local w = {}
  function w.write(_, ...)
    local parts = { ... }
    for i = 1, select("#", ...) do parts[i] = tostring(parts[i]) end
    local ok, err = stream:write(mj.errors.redact(table.concat(parts)))
    if not ok then return nil, err end
    return w
  end
  function w.flush() return stream:flush() end
  return w
end

local function run(argv, io_out, io_err)
  local parsed, why, cmd = args.parse(argv)
  if not parsed then
    io_err:write("mj: ", render.clean(why), "\n")
    io_err:write(cmd and ("Try `mj " .. cmd .. " --help`.\n") or "Try `mj --help`.\n")
    return EXIT.usage
  end
  if parsed.version then
    io_out:write(M.version_text())
    return EXIT.ok
  end
  if parsed.help then
    io_out:write(parsed.command and args.command_help(parsed.command) or args.main_help())
    return EXIT.ok
  end
  local opts = parsed.opts
  local key, kerr = read_key(opts)
  if kerr then
    io_err:write("mj: ", render.clean(kerr), "\n")
    return EXIT.usage
  end
  if not key and needs_key(parsed) then
    io_err:write("mj: no API key: set COMETAPI_KEY or use --api-key-file FILE\n")
    return EXIT.usage
  end
  local ok, client = pcall(mj.new, { api_key = key, base_url = opts["base-url"] })
  if not ok then
    local msg = tostring(client):gsub("^[^:]*:%d+: ", ""):gsub("^mj%.new: ", "")
    io_err:write("mj: ", render.clean(mj.errors.redact(msg, key)), "\n")
    return EXIT.usage
  end
  local ctx = setmetatable({
    client = client, opts = opts, args = parsed.args, command = parsed.command,
    out = io_out, err = io_err, downloads = {},
    render = render.new { quiet = opts.quiet, tty = opts.tty, no_tty = opts["no-tty"], out = io_err, now = now },
  }, Ctx)
  local rok, code = pcall(commands[parsed.command], ctx)
  if not rok then
    ctx.render:finish_all()
    if is_interrupt(code) then
      io_err:write("mj: interrupted\n")
      return EXIT.interrupted
    end
    io_err:write("mj: internal error: ", render.clean(mj.errors.redact(tostring(code), key)), "\n")
    return EXIT.api
  end
  return code
end

--- Runs `mj` with the given arguments and returns the exit code (0 success, 1
-- task failed, 2 usage error, 3 API or HTTP error, 4 timeout, 130 interrupted).
-- Blocks.
-- @tparam table argv the arguments (`arg` of the script)
-- @tparam[opt] table streams `{ out =, err = }` (default io.stdout, io.stderr)
-- @treturn integer exit code
function M.main(argv, streams)
  streams = streams or {}
  local list = {}
  for i = 1, #(argv or {}) do list[i] = tostring(argv[i]) end
  local io_out, io_err = redacting(streams.out or io.stdout), redacting(streams.err or io.stderr)
  local ok, code = pcall(run, list, io_out, io_err)
  if not ok then
    if is_interrupt(code) then
      pcall(io_err.write, io_err, "mj: interrupted\n")
      return EXIT.interrupted
    end
    pcall(io_err.write, io_err, "mj: internal error: " .. render.clean(mj.errors.redact(tostring(code))) .. "\n")
    return EXIT.api
  end
  pcall(io_out.flush, io_out)
  return code
end

return M
