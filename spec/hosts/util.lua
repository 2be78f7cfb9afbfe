--- Helpers for the specs that run whole programs (Neovim, LÖVE, example scripts):
-- run a command with env vars and a hard timeout, read the Lua result file it wrote.
-- Not a spec (busted only runs *_spec.lua).
local M = {}

-- The first line a shell command prints.
local function first_line(cmd)
  local p = assert(io.popen(cmd))
  local line = p:read("*l")
  p:close()
  return line
end

--- The repository root (the specs run from it). Neither blocks nor yields.
function M.root()
  return first_line("pwd")
end

--- Quotes a string for /bin/sh. Neither blocks nor yields.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- True when `cmd` is on PATH. Blocks (runs `command -v`).
function M.have(cmd)
  local r = os.execute("command -v " .. M.q(cmd) .. " >/dev/null 2>&1")
  return r == true or r == 0
end

--- A fresh temporary directory. Blocks briefly.
function M.tmpdir()
  return first_line("mktemp -d /tmp/mj-spec.XXXXXX")
end

--- Runs `cmd` under `timeout secs` with `env` (name -> value), output to a log file.
-- Blocks until the command ends (at most `secs` seconds).
-- @return exit code (124 on timeout), log text
function M.run(cmd, env, secs, logfile)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. M.q(v) end
  local line = string.format("%s timeout -k 5 %d %s > %s 2>&1; echo $? > %s.rc",
    table.concat(parts, " "), secs, cmd, M.q(logfile), M.q(logfile))
  os.execute(line)
  local rcf = io.open(logfile .. ".rc")
  local rc = rcf and tonumber(rcf:read("*l")) or -1
  if rcf then rcf:close() end
  local lf = io.open(logfile)
  local log = lf and lf:read("*a") or ""
  if lf then lf:close() end
  return rc, log
end

--- Loads a result file written as `return { ... }`. Blocks briefly (reads it).
-- @return the table, or nil and a message
function M.result(path)
  local f = io.open(path)
  if not f then return nil, "no result file " .. path end
  local text = f:read("*a")
  f:close()
  local fn, err = (loadstring or load)(text, "=" .. path)
  if not fn then return nil, err end
  local ok, t = pcall(fn)
  if not ok or type(t) ~= "table" then return nil, "bad result file: " .. tostring(t) end
  return t
end

--- Fails (raises) unless each command of `cmds` is on PATH and the LuaJIT core is built,
-- which the host programs (Neovim, LÖVE) load. Blocks briefly.
-- @param cmds list of {command, name shown} pairs
function M.need_host(cmds)
  for _, c in ipairs(cmds) do
    assert(M.have(c[1]), c[2] .. " is not installed (sh scripts/deps.sh test)")
  end
  local f = io.open(M.root() .. "/build/luajit/midjourney/core.so")
  assert(f, "build the LuaJIT core first: make LUA=luajit")
  f:close()
end

--- Runs a host program with `run` (60 s at most) and loads the result file it wrote.
-- Blocks until the program ends.
-- @param name shown when there is no result
-- @param cmd shell command
-- @param env name -> value
-- @param result path of the result file
-- @param logfile path of the output log
-- @return result table, exit code, log text (raises when there is no result)
function M.run_host(name, cmd, env, result, logfile)
  local rc, log = M.run(cmd, env, 60, logfile)
  local res, err = M.result(result)
  assert(res, string.format("no result from %s (exit %d): %s\n%s", name, rc, tostring(err), log))
  return res, rc, log
end

--- Removes a directory tree made by `tmpdir`. Blocks briefly.
function M.rmtree(dir)
  if dir and dir:match("^/tmp/mj%-spec%.") then os.execute("rm -rf " .. M.q(dir)) end
end

return M
