--- Test helper: a fake `midjourney.core` for unit specs, with a virtual clock and an
-- engine whose answers a spec scripts. No process, no socket, no real time: a
-- scheduler made with it (`scheduler.new{core = fake}`) runs its timers and transfers
-- on the virtual clock, so a 600 s wait takes a few milliseconds.
--
--     local fake = require("spec.helpers.fake_core").new(function(spec)
--       return { status = 200, body = '{"id":"1","status":"SUCCESS"}' }, 0.5   -- record, delay
--     end)
--     local sched = require("midjourney.scheduler").new { core = fake }
--
-- The handler gets each engine request (`method`, `url`, `body`, ...) and returns the
-- record (fields as the real engine's: `status`, `body`, `error`, `error_kind`, `sent`,
-- `retry_after`, ...) and the seconds the transfer takes (default 0). `fake.requests`
-- lists every request, `fake:count(pattern)` counts those whose URL matches; `fake.clock`
-- is the virtual time. Engines have the event interface too: `fd()` is a made-up number
-- (`fake.fd_base` plus the engine's serial; nil after `fake.no_fd = true`) and
-- `timeout()` the virtual seconds until the first pending answer.
-- @module spec.helpers.fake_core
local M = {}

local Engine = {}
Engine.__index = Engine

function Engine:request(spec)
  if self.is_closed then error("engine is closed", 2) end
  local fake = self.fake
  fake.next_id = fake.next_id + 1
  local id = fake.next_id
  fake.requests[#fake.requests + 1] = spec
  local rec, delay = fake.handler(spec, fake)
  rec = rec or { status = 0, error = "no answer", error_kind = "other", sent = false }
  rec.id = id
  if rec.sent == nil then rec.sent = true end
  rec.time, rec.size = delay or 0, rec.body and #rec.body or 0
  self.pending[id] = { at = fake.clock + (delay or 0), rec = rec }
  self.count = self.count + 1
  return id
end

function Engine:step(timeout)
  if self.is_closed then error("engine is closed", 2) end
  local fake = self.fake
  local first
  for _, p in pairs(self.pending) do
    if not first or p.at < first then first = p.at end
  end
  if first and first <= fake.clock + (timeout or 0) then
    if first > fake.clock then fake.clock = first end
  else
    fake.clock = fake.clock + (timeout or 0)
  end
  local out
  for id, p in pairs(self.pending) do
    if p.at <= fake.clock then
      out = out or {}
      out[#out + 1] = p.rec
      self.pending[id] = nil
      self.count = self.count - 1
    end
  end
  if out then table.sort(out, function(a, b) return a.id < b.id end) end
  return out, self.count
end

function Engine:cancel(id)
  if self.pending[id] then
    self.pending[id] = nil
    self.count = self.count - 1
    return true
  end
  return false
end

function Engine:running() return self.count end

-- The event interface: a made-up descriptor number (nil when the fake was made with
-- `no_fd`), and the virtual seconds until the first pending answer (nil when none).
function Engine:fd()
  if self.is_closed then error("engine is closed", 2) end
  if self.fake.no_fd then return nil end
  return self.fake.fd_base + self.serial
end

function Engine:timeout()
  if self.is_closed then error("engine is closed", 2) end
  local first
  for _, p in pairs(self.pending) do
    if not first or p.at < first then first = p.at end
  end
  if not first then return nil end
  return math.max(0, first - self.fake.clock)
end
function Engine:close() self.is_closed = true; self.pending = {}; self.count = 0 end
function Engine:closed() return self.is_closed == true end

--- A fake core whose engines answer through `handler(spec, fake) -> record, delay`.
-- @tparam function handler
-- @return the fake core (`now`, `sleep`, `engine`, plus `clock`, `requests`)
function M.new(handler)
  local fake = { clock = 1000, requests = {}, next_id = 0, handler = handler, engines = {} }
  fake.now = function() return fake.clock end
  -- the requests whose URL matches a Lua pattern
  fake.count = function(_, pattern)
    local n = 0
    for _, r in ipairs(fake.requests) do if r.url:find(pattern) then n = n + 1 end end
    return n
  end
  fake.sleep = function(s) fake.clock = fake.clock + math.max(s, 0) end
  fake.fd_base = 100
  fake.engine = function()
    local e = setmetatable({ fake = fake, pending = {}, count = 0, serial = #fake.engines + 1 }, Engine)
    fake.engines[#fake.engines + 1] = e
    return e
  end
  return fake
end

--- A handler serving a tiny gateway from a table of tasks: `tasks[id]` is a function
-- `(fake) -> task table` (or a table), encoded as JSON. Fetch and list-by-condition only.
-- @tparam table tasks
-- @tparam[opt] number delay seconds each answer takes
-- @treturn function handler
function M.gateway(tasks, delay)
  local json = require "midjourney.json"
  local function snapshot(id, fake)
    local t = tasks[id]
    if type(t) == "function" then t = t(fake) end
    return t
  end
  return function(spec, fake)
    local id = spec.url:match("/mj/task/([^/]+)/fetch$")
    if id then
      local t = snapshot(id, fake)
      if not t then
        return { status = 400, body = '{"description":"task_no_found ","type":"upstream_error","code":4}' }, delay
      end
      return { status = 200, body = json.encode(t), content_type = "application/json" }, delay
    end
    if spec.url:match("/mj/task/list%-by%-condition$") then
      local want = json.decode(spec.body).ids
      local out = {}
      for _, x in ipairs(want) do
        local t = snapshot(x, fake)
        if t then out[#out + 1] = t end
      end
      return { status = 200, body = json.encode(json.array(out)), content_type = "application/json" }, delay
    end
    return { status = 404, body = "" }, delay
  end
end

return M
