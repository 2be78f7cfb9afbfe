--- Outgoing notifyHook POSTs, sent without blocking from the simulator's serve loop.
-- Loopback targets only (127.0.0.1, localhost, ::1), plain http, no retries, a 10 s deadline.
-- @module midjourney.simulator.hooks
local socket = require("socket")

local M = {}
local Hooks = {}
Hooks.__index = Hooks

M.DEADLINE = 10

--- Make a sender. Does not block.
-- @return sender
function M.new()
  return setmetatable({ active = {}, sent = 0, failed = 0 }, Hooks)
end

--- Split a loopback http URL. Does not block.
-- @param url string
-- @return host, port, path; or nil when the URL is not a loopback http URL
function M.parse(url)
  if type(url) ~= "string" then return nil end
  local host, port, path = url:match("^http://([^/:%[%]]+):?(%d*)(.*)$")
  if not host then
    host, port, path = url:match("^http://%[([^%]]+)%]:?(%d*)(.*)$")
  end
  if not host then return nil end
  if host ~= "127.0.0.1" and host ~= "localhost" and host ~= "::1" then return nil end
  if host == "localhost" then host = "127.0.0.1" end
  if path == "" then path = "/" end
  if path:find("[%s%c]") then return nil end
  return host, tonumber(port) or 80, path
end

--- Queue a POST of a JSON body to a loopback URL. Does not block.
-- @param url string
-- @param body JSON text
-- @return true if queued, false when the URL is not allowed
function Hooks:post(url, body)
  local host, port, path = M.parse(url)
  if not host then return false end
  local sock = host:find(":", 1, true) and socket.tcp6() or socket.tcp()
  if not sock then return false end
  sock:settimeout(0)
  local ok, err = sock:connect(host, port)
  if not ok and err ~= "timeout" and err ~= "Operation already in progress" then
    sock:close()
    self.failed = self.failed + 1
    return true
  end
  local hostport = (host:find(":", 1, true) and ("[" .. host .. "]") or host) .. ":" .. port
  local req = "POST " .. path .. " HTTP/1.1\r\nHost: " .. hostport
    .. "\r\nContent-Type: application/json\r\nUser-Agent: mj-simulator\r\nContent-Length: " .. #body
    .. "\r\nConnection: close\r\n\r\n" .. body
  self.active[#self.active + 1] = { sock = sock, data = req, off = 1, deadline = socket.gettime() + M.DEADLINE,
                                    reading = false, got = "" }
  return true
end

--- Sockets to watch: recv list, send list, next wake time. Does not block.
-- @return list, list, number or nil
function Hooks:sockets()
  local r, s, wake = {}, {}, nil
  for _, h in ipairs(self.active) do
    if h.reading then r[#r + 1] = h.sock else s[#s + 1] = h.sock end
    if not wake or h.deadline < wake then wake = h.deadline end
  end
  return r, s, wake
end

--- Advance every POST as far as it goes without blocking. Does not block.
-- @param now seconds
function Hooks:pump(now)
  local keep = {}
  for _, h in ipairs(self.active) do
    local done = false
    if now > h.deadline then
      done = true
      self.failed = self.failed + 1
    elseif not h.reading then
      local i, err, last = h.sock:send(h.data, h.off)
      if i then h.reading = true
      elseif err == "timeout" then h.off = (last or h.off - 1) + 1
      else done = true; self.failed = self.failed + 1 end
    end
    if not done and h.reading then
      local data, err, partial = h.sock:receive(4096)
      h.got = h.got .. (data or partial or "")
      if h.got:find("\r\n\r\n", 1, true) or err == "closed" or (err and err ~= "timeout") then
        done = true
        if h.got:match("^HTTP/%d%.%d %d%d%d") then self.sent = self.sent + 1 else self.failed = self.failed + 1 end
      end
    end
    if done then h.sock:close() else keep[#keep + 1] = h end
  end
  self.active = keep
end

return M
