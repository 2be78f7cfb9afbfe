--- Test helper: start `bin/mj-simulator` as a separate process on a free loopback port.
--
--     local sim = require("spec.helpers.simulator").start{ speed = 200, seed = 1, key = "sk-test" }
--     -- realistic like the shipped binary (the gateway syncs every 15 s, scaled by speed);
--     -- `instant = true` for the immediately consistent mode
--     -- sim.url, sim.key, sim:stats(), sim:count(route), sim:faults{...}, sim:reset(),
--     -- sim:task(id, patch), sim:sync(), sim:request(method, path, body, headers), sim:stop()
--
-- Inside a `describe`, `for_block(opts)` does the setup/teardown/before_each for you.
--
-- The interpreter is $MJ_SIM_LUA (default "lua5.4"). The process exits by itself when the
-- test process is gone (--watch-pid), so a crashed spec leaves no simulator behind.
-- @module spec.helpers.simulator
local socket = require("socket")
local shttp = require("socket.http")
local ltn12 = require("ltn12")
local json = require("midjourney.simulator.json")

local M = {}
local Sim = {}
Sim.__index = Sim

local function root_dir()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/spec/helpers/[^/]*$")
  if not dir or dir == "" then dir = "." end
  if dir:sub(1, 1) ~= "/" then
    local p = io.popen("pwd")
    local cwd = p:read("*l")
    p:close()
    dir = cwd .. "/" .. dir
  end
  return dir
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- The checkout's absolute path (specs use it to find bin/, build/ and fixtures).
-- @treturn string
M.root = root_dir

--- The whole content of a file, or nil when it cannot be read (specs use it too).
M.read_file = read_file

--- A Vary Region mask the simulator accepts: a PNG data URI of the size of its images
-- (`png.SIDE` square), white (repaint) inside the rectangle `x, y, w, h` (default: all).
-- Does not block.
function M.mask(x, y, w, h)
  local png = require("midjourney.simulator.png")
  local side = png.SIDE
  x, y, w, h = x or 0, y or 0, w or side, h or side
  local bytes = png.encode(side, side, function(px, py)
    local v = (px >= x and px < x + w and py >= y and py < y + h) and 255 or 0
    return v, v, v
  end)
  return "data:image/png;base64," .. require("midjourney.image.uri").base64(bytes)
end

--- A loopback port nobody listens on (bound, read and closed). Does not block.
-- @treturn integer
function M.free_port()
  local s = assert(require("socket").bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

local function own_pid()
  local s = read_file("/proc/self/stat")
  return s and s:match("^(%d+)")
end

local function alive(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  if not s then return false end
  return not s:match("^%d+ %b() [ZX]")
end

-- Starts the process for `opts` and fills the handle `self` in place (url, key, pid, ...).
local function launch(self, opts)
  local root = root_dir()
  local lua = opts.lua or os.getenv("MJ_SIM_LUA") or "lua5.4"
  local key = opts.key
  if key == nil then key = "sk-test" end
  local tmp = os.tmpname()
  local out, err, pidf = tmp .. ".out", tmp .. ".err", tmp .. ".pid"
  local args = { "--port", "0", "--speed", tostring(opts.speed or 200) }
  if opts.seed then args[#args + 1] = "--seed"; args[#args + 1] = tostring(opts.seed) end
  if key ~= false then args[#args + 1] = "--key"; args[#args + 1] = key end
  if opts.host then args[#args + 1] = "--host"; args[#args + 1] = opts.host end
  if opts.instant then args[#args + 1] = "--instant" end
  if opts.sync then args[#args + 1] = "--sync"; args[#args + 1] = tostring(opts.sync) end
  if opts.remix_mode then args[#args + 1] = "--remix-mode" end
  if opts.image_urls then args[#args + 1] = "--image-urls" end
  if opts.banned_words then
    args[#args + 1] = "--banned-words"; args[#args + 1] = table.concat(opts.banned_words, ",")
  end
  if opts.log then args[#args + 1] = "--log" end
  local me = own_pid()
  if me then args[#args + 1] = "--watch-pid"; args[#args + 1] = me end
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = tostring(a) end
  for _, f in ipairs(opts.faults or {}) do
    args[#args + 1] = "--fault"; args[#args + 1] = json.encode(f)
  end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = shell_quote(a) end
  local lua_path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. (os.getenv("LUA_PATH") or ";")
  local cmd = "LUA_PATH=" .. shell_quote(lua_path) .. " " .. shell_quote(lua) .. " "
    .. shell_quote(root .. "/bin/mj-simulator") .. " " .. table.concat(quoted, " ")
    .. " >" .. shell_quote(out) .. " 2>" .. shell_quote(err) .. " </dev/null & echo $! >" .. shell_quote(pidf)
  os.execute(cmd)
  local deadline = socket.gettime() + (opts.timeout or 10)
  local pid, url
  while socket.gettime() < deadline do
    pid = pid or (read_file(pidf) or ""):match("(%d+)")
    url = (read_file(out) or ""):match("^mj%-simulator listening on (http://%S+)\n")
    if url then break end
    if pid and not alive(pid) then break end
    socket.sleep(0.01)
  end
  os.remove(pidf)
  if not url then
    local e = read_file(err) or ""
    if pid then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
    os.remove(out); os.remove(err); os.remove(tmp)
    error("mj-simulator did not start: " .. e:sub(1, 500), 2)
  end
  local host, port = url:match("^http://([^:/]+):(%d+)")
  self.url, self.key, self.pid, self.host, self.port = url, key ~= false and key or nil, pid, host, tonumber(port)
  self.files, self.stopped = { out, err, tmp }, nil
  return self
end

--- Start a simulator process and wait (bounded) for its URL. Blocks up to `opts.timeout` (10 s).
-- @param opts {speed=200, seed=nil, key="sk-test" (false: accept any key), faults={...}, args={extra CLI args},
--   host=, lua=, timeout=10, log=false, instant=false (true: no gateway sync lag), sync=nil (gateway
--   seconds, default 15), remix_mode=false, image_urls=false, banned_words=nil (list; default "forbiddenword")}
-- @return sim handle (raises on failure)
function M.start(opts)
  return launch(setmetatable({}, Sim), opts or {})
end

--- A simulator for the enclosing `describe` block: started in its setup, stopped in its
-- teardown, reset before each test. Call it inside `describe`. Does not block (setup does).
-- The handle is returned at once and filled in (url, key, ...) when setup runs.
-- @param opts as for `start`; `reset = false` skips the reset before each test
-- @return sim handle
function M.for_block(opts)
  opts = opts or {}
  local busted = require("busted")
  local sim = setmetatable({}, Sim)
  busted.setup(function() launch(sim, opts) end)
  busted.teardown(function() if sim.files then sim:stop() end end)
  if opts.reset ~= false then busted.before_each(function() sim:reset() end) end
  return sim
end

--- One HTTP request to the simulator (LuaSocket; a fresh connection). Blocks (5 s timeout).
-- @param method "GET" | "POST"
-- @param path e.g. "/mj/task/1/fetch"
-- @param body string, table (JSON-encoded) or nil
-- @param headers table of extra headers (optional); `auth = true` in place of headers adds the key
-- @return status, body, response headers
function Sim:request(method, path, body, headers)
  local h = {}
  for k, v in pairs(headers or {}) do h[k] = v end
  if type(body) == "table" then body = json.encode(body) end
  if body then
    h["content-type"] = h["content-type"] or "application/json"
    h["content-length"] = tostring(#body)
  end
  local chunks = {}
  shttp.TIMEOUT = 5
  local ok, status, rh = shttp.request({
    url = self.url .. path, method = method, headers = h,
    source = body and ltn12.source.string(body) or nil,
    sink = ltn12.sink.table(chunks),
  })
  if not ok then return nil, tostring(status) end
  return status, table.concat(chunks), rh
end

--- Request with the API key. Blocks.
-- @param method HTTP method
-- @param path path
-- @param body string, table or nil
-- @return status, body, headers
function Sim:api(method, path, body)
  return self:request(method, path, body, { authorization = "Bearer " .. (self.key or "sk-any") })
end

local function control(self, method, path, body)
  local status, text = self:request(method, path, body)
  if status ~= 200 then
    error("simulator control " .. path .. " failed: " .. tostring(status) .. " " .. tostring(text), 3)
  end
  return json.decode(text)
end

--- The simulator's statistics (`GET /_sim/stats`). Blocks.
-- @return table
function Sim:stats()
  return control(self, "GET", "/_sim/stats")
end

--- How many requests reached `route` (e.g. "fetch") since the last reset. Blocks.
-- @return integer
function Sim:count(route)
  return (self:stats().routes or {})[route] or 0
end

--- Add fault rules. Blocks.
-- @param list list of rule tables
function Sim:faults(list)
  return control(self, "POST", "/_sim/faults", { faults = json.array(list) })
end

--- Clear stats and faults. Blocks.
function Sim:reset()
  return control(self, "POST", "/_sim/reset", "{}")
end

--- Make the simulated gateway sync every task now (`POST /_sim/sync`). Blocks.
function Sim:sync()
  return control(self, "POST", "/_sim/sync", "{}")
end

--- Merge fields into a task's fetch output. Blocks.
-- @param id task id
-- @param patch table (or a JSON string, to keep exact number literals)
function Sim:task(id, patch)
  return control(self, "POST", "/_sim/tasks/" .. id, patch)
end

--- Poll `fetch` until `pred(task)` is true or the deadline passes. Blocks (bounded).
-- @param id task id
-- @param pred function(task) -> boolean
-- @param timeout seconds (default 10)
-- @return the task table, or nil and the last one seen
function Sim:wait_for(id, pred, timeout)
  local deadline = socket.gettime() + (timeout or 10)
  local last
  repeat
    local st, body = self:api("GET", "/mj/task/" .. id .. "/fetch")
    if st == 200 then
      last = json.decode(body)
      if last and pred(last) then return last end
    end
    socket.sleep(0.01)
  until socket.gettime() > deadline
  return nil, last
end

--- Stop the simulator: POST /_sim/shutdown, then make sure the process is gone. Blocks (≤ 5 s).
function Sim:stop()
  if self.stopped then return end
  self.stopped = true
  pcall(self.request, self, "POST", "/_sim/shutdown", "{}")
  if self.pid then
    local deadline = socket.gettime() + 3
    while alive(self.pid) and socket.gettime() < deadline do socket.sleep(0.02) end
    if alive(self.pid) then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
  end
  for _, f in ipairs(self.files) do os.remove(f) end
end

--- The simulator's stderr so far (for debugging a failing spec). Does not block.
-- @return string
function Sim:stderr()
  return read_file(self.files[2]) or ""
end

return M
