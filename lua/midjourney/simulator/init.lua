--- A local simulator of CometAPI's Midjourney gateway (pure Lua over LuaSocket).
--
--     local simulator = require("midjourney.simulator")
--     local sim = assert(simulator.new{ port = 0, speed = 20 })
--     print(sim:url())   -- http://127.0.0.1:PORT
--     sim:run()          -- or call sim:step(0.05) from your own loop
--
-- Routes and behaviour follow the gateway (see `mj-simulator --help`); a control API lives
-- under `/_sim/` (stats, reset, faults, task patches, a forced gateway sync, shutdown).
--
-- Realistic by default: what fetch and list show is the gateway's copy of each task, synced
-- from upstream every `sync` gateway seconds (15, divided by `speed` like every duration),
-- so a new task shows status `""` until the first sync and progress moves in steps; after
-- `/submit/modal` the old MODAL row lingers until the next sync and list returns a second
-- row (action "MODAL") for the id. `instant = true` shows every change at once.
-- @module midjourney.simulator
local socket = require("socket")
local json = require("midjourney.simulator.json")
local http = require("midjourney.simulator.http")
local server_mod = require("midjourney.simulator.server")
local tasks = require("midjourney.simulator.tasks")
local faults_mod = require("midjourney.simulator.faults")
local routes = require("midjourney.simulator.routes")
local hooks_mod = require("midjourney.simulator.hooks")

local M = {}
local Sim = {}
Sim.__index = Sim

--- The simulator's version.
M.VERSION = "0.1.0"
--- Seconds between two looks at the tasks watched for `notifyHook` callbacks.
M.HOOK_POLL = 0.01

local function json_response(status, value)
  return http.response(status, json.encode(value))
end

--- Start a simulator listening on host:port (port 0 picks a free port). Does not block.
--
-- Options: `host` ("127.0.0.1"), `port` (0), `speed` (1: every duration is divided by it),
-- `seed` (nil: ids, hashes and timings repeat with one), `key` (nil: any non-empty key),
-- `faults` (list of rules), `log` (function(line)), and the gateway's behaviour:
--
-- * `instant` (false): show each task's upstream state at once, one row per id (the old,
--   immediately consistent mode), instead of syncing every `sync` seconds;
-- * `sync` (15): the gateway's sync period in gateway seconds (> 0);
-- * `remix_mode` (false): the account is in Remix mode, so every variation, vary
--   subtle/strong, pan and reroll action opens a Remix pop-up (MODAL), asked or not;
-- * `image_urls` (false): SUCCESS grid tasks carry `imageUrls` (4 entries) served as
--   `/mj/image/{id}/{0..3}`, each quadrant of the grid as its own PNG;
-- * `banned_words` ({"forbiddenword"}): a prompt holding one (whole word, any case) gets
--   submit code 24 with `properties.bannedWord` and `properties.promptEn`.
-- @param opts table of options (above)
-- @return simulator, or nil and an error message
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({
    host = opts.host or "127.0.0.1",
    speed = tonumber(opts.speed) or 1,
    key = opts.key,
    log = opts.log,
    faults = faults_mod.new(),
    hooks = hooks_mod.new(),
    stats_routes = {},
    requests = 0,
    stopping = false,
  }, Sim)
  if self.speed <= 0 then return nil, "speed must be > 0" end
  local sync = opts.sync == nil and tasks.SYNC or tonumber(opts.sync)
  if not sync or sync <= 0 or sync ~= sync or sync == math.huge then
    return nil, "sync must be a number of seconds > 0"
  end
  local banned = opts.banned_words
  if banned == nil then banned = tasks.BANNED_WORDS end
  if type(banned) ~= "table" then return nil, "banned_words must be a list of strings" end
  for i, w in ipairs(banned) do
    if type(w) ~= "string" then return nil, "banned_words[" .. i .. "] must be a string" end
  end
  local srv, err = server_mod.new({ host = self.host, port = tonumber(opts.port) or 0,
    handler = function(req, close) return self:handle(req, close) end })
  if not srv then return nil, err end
  self.server = srv
  srv:add_driver(self.hooks)
  self.store = tasks.new({ speed = self.speed, seed = opts.seed, clock = socket.gettime,
    base_url = function() return self:url() end, instant = opts.instant, sync = sync,
    remix_mode = opts.remix_mode, image_urls = opts.image_urls, banned_words = banned })
  self.ctx = { store = self.store, key = self.key, base_url = function() return self:url() end,
    attachments = {}, attachment_png = {} }
  if opts.faults then
    local ok, ferr = self:add_faults(opts.faults)
    if not ok then srv:close(); return nil, ferr end
  end
  return self
end

--- A running simulator, from `simulator.new`.
-- @type Sim

--- The base URL, e.g. "http://127.0.0.1:41234". Does not block.
-- @return string
function Sim:url()
  local h = self.host
  if h == "0.0.0.0" or h == "*" then h = "127.0.0.1" end
  if h:find(":", 1, true) then h = "[" .. h .. "]" end
  return "http://" .. h .. ":" .. self.server.port
end

--- The port it listens on. Does not block.
-- @return integer
function Sim:port()
  return self.server.port
end

--- Add fault rules (see `faults.KINDS`); job faults with a `task` id apply to that task now.
-- Does not block.
-- @param list list of rule tables
-- @return true, or nil and an error message
function Sim:add_faults(list)
  if type(list) ~= "table" then return nil, "faults must be a list" end
  local rest = {}
  for i, r in ipairs(list) do
    if type(r) == "table" and faults_mod.JOB[r.kind] and r.task ~= nil then
      local t = self.store.tasks[tostring(r.task)]
      if not t then return nil, "fault " .. i .. ": unknown task " .. tostring(r.task) end
      self.store:apply_job_fault(t, r)
    else
      rest[#rest + 1] = r
    end
  end
  return self.faults:add(rest)
end

--- Statistics as served by `GET /_sim/stats` (counts, and the mode: `mode` "realistic" or
-- "instant", `sync` in gateway seconds, `remix_mode`, `image_urls`). Does not block.
-- @return table
function Sim:stats()
  local routes_t = json.object({})
  for k, v in pairs(self.stats_routes) do routes_t[k] = v end
  local st = self.store
  return json.object({ "requests", "routes", "max_in_flight_jobs", "connections", "peak_connections",
    "tasks", "hooks_sent", "hooks_failed", "mode", "sync", "remix_mode", "image_urls" }, {
    requests = self.requests, routes = routes_t, max_in_flight_jobs = st:max_in_flight(),
    connections = self.server:connections(), peak_connections = self.server:peak_connections(),
    tasks = #st.list, hooks_sent = self.hooks.sent, hooks_failed = self.hooks.failed,
    mode = st.instant and "instant" or "realistic", sync = st.sync, remix_mode = st.remix_mode,
    image_urls = st.image_urls,
  })
end

--- Clear statistics and fault rules (tasks are kept). Does not block.
function Sim:reset()
  self.requests = 0
  self.stats_routes = {}
  self.faults:clear()
  self.store:reset_stats()
  self.server:reset_peak()
  self.hooks.sent, self.hooks.failed = 0, 0
end

--- Merge fields into a stored task's fetch output (raw values allowed). Does not block.
-- A value `{"$raw": "text"}` is emitted verbatim, `{"$delete": true}` removes the key.
-- @param id task id
-- @param patch table
-- @return true, or nil and an error message
function Sim:patch_task(id, patch)
  local t = self.store.tasks[tostring(id)]
  if not t then return nil, "unknown task" end
  for k, v in pairs(patch) do t.patch[k] = v end
  return true
end

--- Answer a control request under `/_sim/` (no auth). Does not block.
-- @param req parsed request
-- @return response
function Sim:control(req)
  local p, m = req.path, req.method
  if p == "/_sim/stats" and m == "GET" then
    return json_response(200, self:stats())
  elseif p == "/_sim/reset" and m == "POST" then
    self:reset()
    return json_response(200, { ok = true })
  elseif p == "/_sim/faults" and m == "POST" then
    local v, err = json.decode(req.body)
    local list = type(v) == "table" and (v.faults or (getmetatable(v) and v)) or nil
    if type(list) ~= "table" then return json_response(400, { error = err or "expected {\"faults\": [...]}" }) end
    local ok, ferr = self:add_faults(list)
    if not ok then return json_response(400, { error = ferr }) end
    return json_response(200, { ok = true, rules = #self.faults.rules })
  elseif p == "/_sim/faults" and m == "GET" then
    local out = json.array()
    for _, r in ipairs(self.faults.rules) do
      out[#out + 1] = { kind = r.kind, route = r.route, path = r.path, times = r.times, used = r.used, seen = r.seen }
    end
    return json_response(200, { faults = out })
  elseif p:match("^/_sim/tasks/[^/]+$") and m == "POST" then
    local id = p:match("^/_sim/tasks/([^/]+)$")
    local v, err = json.decode(req.body, { raw_numbers = true })
    if type(v) ~= "table" or getmetatable(v) then
      return json_response(400, { error = err or "expected a JSON object" })
    end
    local ok, perr = self:patch_task(id, v)
    if not ok then return json_response(404, { error = perr }) end
    return json_response(200, { ok = true })
  elseif p == "/_sim/sync" and m == "POST" then
    self.store:force_sync()
    return json_response(200, { ok = true })
  elseif p == "/_sim/shutdown" and m == "POST" then
    self.stopping = true
    return json_response(200, { ok = true })
  end
  return json_response(404, { error = "unknown control route " .. m .. " " .. p })
end

local function rewrite_code(rule, resp)
  local env = resp.envelope
  if not env or (env.code ~= 1 and env.code ~= 21) then return end
  local code = tonumber(rule.code)
  if code == 22 then
    local n = tonumber(rule.queue) or 2
    env.code = rule.raw and 22 or 1
    env.description = rule.description or ("排队中，前面还有" .. n .. "个任务")
    local props = json.object({ "numberOfQueues", "discordChannelId", "discordInstanceId" }, {})
    for k, v in pairs(env.properties) do props[k] = v end
    props.numberOfQueues = n
    env.properties = props
  elseif code == 21 then
    env.code = 21
    env.description = rule.description or env.description
  else
    env.code = 1
    if rule.description then env.description = rule.description end
  end
  resp.body = json.encode(env)
end

--- Handle one parsed request (called by the server). Does not block.
-- @param req parsed request
-- @param close boolean: the client asked to close after this answer
-- @return ops, must_close
function Sim:handle(req, close)
  if req.path:sub(1, 6) == "/_sim/" then
    return faults_mod.ops(self:control(req), close), close
  end
  local route, caps, needs_auth, tier = routes.resolve(req.method, req.path)
  self.requests = self.requests + 1
  self.stats_routes[route] = (self.stats_routes[route] or 0) + 1
  local rrule, jrule = self.faults:match(route, req.method, req.path)
  local resp
  if not rrule or faults_mod.processes(rrule) then
    self.ctx.tier = tier
    resp = routes.handle(self.ctx, route, caps, needs_auth, req)
    if req.method == "HEAD" then resp.head_only = true end
  end
  if resp and resp.task then
    if jrule then self.store:apply_job_fault(resp.task, jrule) end
    if resp.task.hook then self:watch(resp.task) end
  end
  if self.log then
    self.log(string.format("%s %s -> %s%s", req.method, req.path, resp and resp.status or "-",
      rrule and (" [fault " .. rrule.kind .. "]") or ""))
  end
  if rrule then
    if rrule.kind == "code" and resp then rewrite_code(rrule, resp) end
    return faults_mod.apply(rrule, resp, close, socket.gettime(), self.store.instance_id)
  end
  if resp.head_only then
    local ops = { { op = "send", data = http.head(resp.status, resp.headers, #resp.body, close) } }
    if close then ops[2] = { op = "close" } end
    return ops, close
  end
  return faults_mod.ops(resp, close), close
end

--- Watch a task with a notifyHook so that its forward changes are posted. Does not block.
-- @param t task
function Sim:watch(t)
  self.watched = self.watched or {}
  for _, w in ipairs(self.watched) do if w == t then return end end
  t.hook_order = t.hook_order or -1
  self.watched[#self.watched + 1] = t
end

--- Post notifyHook callbacks for watched tasks whose state moved forward. Does not block.
-- @return the next time (socket.gettime) it wants to look again, or nil
function Sim:notify()
  if not self.watched or #self.watched == 0 then return nil end
  local now = socket.gettime()
  local keep = {}
  for _, t in ipairs(self.watched) do
    local p = self.store:phase(t, now)
    local order = tasks.order(p)
    local gone = t.gone_at and now >= t.gone_at
    if order and order > t.hook_order and not gone then
      t.hook_order = order
      if not self.hooks:post(t.hook, json.encode(self.store:upstream(t, p))) then t.hook_order = 99 end
    end
    if t.hook_order < 4 and not gone then keep[#keep + 1] = t end
  end
  self.watched = keep
  if #keep > 0 then return now + M.HOOK_POLL end
  return nil
end

--- Serve for at most `timeout` seconds (0 = just poll). Blocks up to `timeout` seconds.
-- @param timeout seconds (default 0)
-- @return true while running, false once `/_sim/shutdown` was called
function Sim:step(timeout)
  local wake = self:notify()
  self.server:step(timeout or 0, wake)
  self:notify()
  return not self.stopping
end

--- Serve until `/_sim/shutdown` (then flush pending answers for up to 1 s). Blocks.
-- @param opts optional {watch_pid = pid}: also stop when that process is gone
function Sim:run(opts)
  local watch = opts and opts.watch_pid
  local next_check = 0
  while self:step(0.5) do
    if watch and socket.gettime() >= next_check then
      next_check = socket.gettime() + 1
      local f = io.open("/proc/" .. watch .. "/stat", "r")
      local alive = f ~= nil
      if f then
        local st = f:read("*l") or ""
        f:close()
        if st:match("^%d+ %b() Z") then alive = false end
      end
      if not alive then break end
    end
  end
  local deadline = socket.gettime() + 1
  while not self.server:idle() and socket.gettime() < deadline do self.server:step(0.05) end
end

--- Stop listening and close every connection (idempotent). Does not block.
function Sim:close()
  self.stopping = true
  if self.server then self.server:close() end
end

return M
