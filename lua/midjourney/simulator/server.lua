--- The simulator's HTTP/1.1 server over LuaSocket: one thread, `socket.select`, many
-- connections, keep-alive, pipelined requests, `Expect: 100-continue`, chunked request
-- bodies, and per-connection timers (so that a delayed answer never blocks the others).
-- Answers are lists of ops: send bytes, wait, stream chunks, close, reset.
-- @module midjourney.simulator.server
local socket = require("socket")
local http = require("midjourney.simulator.http")

local M = {}
local Server = {}
Server.__index = Server

local concat = table.concat

M.MAX_HEADER = 64 * 1024
M.MAX_BODY = 32 * 1024 * 1024
M.MAX_CONNECTIONS = 900
M.IDLE_TIMEOUT = 120

--- Listen on host:port. Does not block.
-- @param opts {host=, port=, handler=function(req) -> ops, close; on_error=function(msg)}
-- @return server, or nil and an error message
function M.new(opts)
  local sock, err = socket.tcp()
  if not sock then return nil, err end
  sock:setoption("reuseaddr", true)
  local ok
  ok, err = sock:bind(opts.host or "127.0.0.1", opts.port or 0)
  if not ok then sock:close(); return nil, "bind: " .. tostring(err) end
  ok, err = sock:listen(256)
  if not ok then sock:close(); return nil, "listen: " .. tostring(err) end
  sock:settimeout(0)
  local host, port = sock:getsockname()
  return setmetatable({
    sock = sock, host = host, port = tonumber(port), handler = opts.handler,
    conns = {}, count = 0, peak = 0, extra = {},
  }, Server)
end

local function close_conn(self, c, reset)
  if c.closed then return end
  c.closed = true
  if reset then pcall(c.sock.setoption, c.sock, "linger", { on = true, timeout = 0 }) end
  c.sock:close()
  self.conns[c.sock] = nil
  self.count = self.count - 1
end

local function accept_all(self, now)
  while true do
    local client = self.sock:accept()
    if not client then return end
    if self.count >= M.MAX_CONNECTIONS then
      client:close()
    else
      client:settimeout(0)
      pcall(client.setoption, client, "tcp-nodelay", true)
      self.conns[client] = { sock = client, buf = "", pending = {}, pending_len = 0, ops = {},
                             last = now }
      self.count = self.count + 1
      if self.count > self.peak then self.peak = self.count end
    end
  end
end

local function push(c, ops)
  for _, op in ipairs(ops) do c.ops[#c.ops + 1] = op end
end

local function answer_now(c, status, msg)
  local body = '{"error":{"message":"' .. msg .. '","type":"invalid_request_error","code":""}}'
  push(c, { { op = "send", data = http.head(status, { { "Content-Type", "application/json" } }, #body, true) .. body },
            { op = "close" } })
  c.closing = true
end

-- decode a chunked body from c.buf; returns body or nil when incomplete, or false on error
local function take_chunked(c)
  local buf, pos, parts = c.buf, 1, {}
  while true do
    local s, e = buf:find("\r\n", pos, true)
    if not s then return nil end
    local size = tonumber(buf:sub(pos, s - 1):match("^%s*(%x+)"), 16)
    if not size then return false end
    if size == 0 then
      local s2, e2 = buf:find("\r\n\r\n", s, true)
      if buf:sub(e + 1, e + 2) == "\r\n" then e2 = e + 2; s2 = e + 1 end
      if not s2 then return nil end
      c.buf = buf:sub(e2 + 1)
      return concat(parts)
    end
    if #buf < e + size + 2 then return nil end
    parts[#parts + 1] = buf:sub(e + 1, e + size)
    pos = e + size + 3
  end
end

local function parse(self, c)
  while not c.closing do
    if c.pending_len > 0 then
      if c.need and #c.buf + c.pending_len < c.need then return end
      c.buf = c.buf .. concat(c.pending)
      c.pending, c.pending_len = {}, 0
    end
    if not c.req then
      local s, e = c.buf:find("\r\n\r\n", 1, true)
      if not s then
        if #c.buf > M.MAX_HEADER then answer_now(c, 431, "request header too large") end
        return
      end
      local head = c.buf:sub(1, s - 1):gsub("^\r\n", "")
      c.buf = c.buf:sub(e + 1)
      local req = http.parse_head(head)
      if not req then answer_now(c, 400, "bad request"); return end
      local te = req.headers["transfer-encoding"]
      if te and te:lower():find("chunked", 1, true) then
        req.chunked = true
      else
        local cl = req.headers["content-length"] or "0"
        local n = tonumber(cl:match("^%s*(%d+)%s*$") or "")
        if not n then answer_now(c, 400, "bad content-length"); return end
        if n > M.MAX_BODY then answer_now(c, 413, "request body too large"); return end
        c.need = n
      end
      c.req = req
      local expect = req.headers["expect"]
      if expect and expect:lower() == "100-continue" and (req.chunked or #c.buf < c.need) then
        push(c, { { op = "send", data = "HTTP/1.1 100 Continue\r\n\r\n" } })
      end
    end
    local req = c.req
    local body
    if req.chunked then
      body = take_chunked(c)
      if body == false then answer_now(c, 400, "bad chunked body"); return end
      if body == nil then
        if #c.buf > M.MAX_BODY then answer_now(c, 413, "request body too large") end
        return
      end
    else
      if #c.buf < c.need then return end
      body = c.buf:sub(1, c.need)
      c.buf = c.buf:sub(c.need + 1)
    end
    c.req, c.need = nil, nil
    req.body = body
    local conn_h = (req.headers["connection"] or ""):lower()
    local close = conn_h:find("close", 1, true) ~= nil
      or (req.version == "1.0" and not conn_h:find("keep-alive", 1, true))
    local ok, ops, must_close = pcall(self.handler, req, close)
    if not ok then
      io.stderr:write("mj-simulator: handler error: ", tostring(ops), "\n")
      local msg = '{"error":{"message":"simulator internal error","type":"simulator_error","code":""}}'
      ops = { { op = "send", data = http.head(500, { { "Content-Type", "application/json" } }, #msg, close) .. msg } }
      if close then ops[#ops + 1] = { op = "close" } end
      must_close = close
    end
    push(c, ops)
    if must_close then c.closing = true end
  end
end

local function read(self, c, now)
  local data, err, partial = c.sock:receive(65536)
  local chunk = data or partial
  if chunk and #chunk > 0 then
    c.pending[#c.pending + 1] = chunk
    c.pending_len = c.pending_len + #chunk
    c.last = now
  end
  if err == "closed" then c.eof = true
  elseif err and err ~= "timeout" then c.eof = true end
  parse(self, c)
end

-- run the head ops of a connection as far as possible; returns the time it next needs a wake-up
local function pump(self, c, now)
  while not c.closed do
    local op = c.ops[1]
    if not op then
      if c.eof or (c.closing and not c.req) then close_conn(self, c) end
      return nil
    end
    if op.op == "send" or op.op == "stream" then
      if op.op == "stream" and not op.cur then
        op.cur = op.next()
        op.off = 1
        if not op.cur then table.remove(c.ops, 1); op = nil end
      end
      if op then
        local data = op.op == "stream" and op.cur or op.data
        local i, err, last = c.sock:send(data, op.off or 1)
        if i then
          if op.op == "stream" then op.cur = nil else table.remove(c.ops, 1) end
          c.last = now
        elseif err == "timeout" then
          op.off = (last or (op.off or 1) - 1) + 1
          c.want_write = true
          return nil
        else
          close_conn(self, c)
          return nil
        end
      end
    elseif op.op == "wait" then
      op["until"] = op["until"] or (now + op.s)
      if now < op["until"] then return op["until"] end
      table.remove(c.ops, 1)
    elseif op.op == "close" then
      close_conn(self, c)
      return nil
    elseif op.op == "reset" then
      close_conn(self, c, true)
      return nil
    else
      table.remove(c.ops, 1)
    end
  end
  return nil
end

--- Register an extra socket driver (used for outgoing notifyHook requests).
-- The driver has `sockets() -> recv list, send list` and `pump(now) -> next wake time or nil`.
-- Does not block.
-- @param driver table
function Server:add_driver(driver)
  self.extra[#self.extra + 1] = driver
end

--- Serve for at most `timeout` seconds (0 = poll). Blocks up to `timeout`.
-- @param timeout seconds
-- @param wake optional earliest time (socket.gettime) at which the caller needs control back
function Server:step(timeout, wake)
  local now = socket.gettime()
  local recv, send = { self.sock }, {}
  local deadline = now + (timeout or 0)
  if wake and wake < deadline then deadline = wake end
  for _, c in pairs(self.conns) do
    if not c.eof and not c.closing then recv[#recv + 1] = c.sock end
    if c.want_write then send[#send + 1] = c.sock end
    local op = c.ops[1]
    if op and op.op == "wait" and op["until"] and op["until"] < deadline then deadline = op["until"] end
    if op and op.op ~= "wait" and not c.want_write then deadline = now end
  end
  for _, d in ipairs(self.extra) do
    local r, s, w = d:sockets()
    for _, x in ipairs(r) do recv[#recv + 1] = x end
    for _, x in ipairs(s) do send[#send + 1] = x end
    if w and w < deadline then deadline = w end
  end
  local wait = deadline - now
  if wait < 0 then wait = 0 end
  local readable = socket.select(recv, send, wait)
  now = socket.gettime()
  if readable and readable[self.sock] then accept_all(self, now) end
  for s, c in pairs(self.conns) do
    if readable and readable[s] then read(self, c, now) end
  end
  for _, c in pairs(self.conns) do
    c.want_write = false
    pump(self, c, now)
    if not c.closed and #c.ops == 0 and now - c.last > M.IDLE_TIMEOUT then close_conn(self, c) end
  end
  for _, d in ipairs(self.extra) do d:pump(now) end
end

--- Currently open connections. Does not block.
-- @return integer
function Server:connections()
  return self.count
end

--- Most connections open at once since the last `reset_peak`. Does not block.
-- @return integer
function Server:peak_connections()
  return self.peak
end

--- Restart the peak-connections count. Does not block.
function Server:reset_peak()
  self.peak = self.count
end

--- True when no connection has answers left to send. Does not block.
-- @return boolean
function Server:idle()
  for _, c in pairs(self.conns) do
    if #c.ops > 0 then return false end
  end
  return true
end

--- Close the listening socket and every connection. Does not block.
function Server:close()
  if self.closed then return end
  self.closed = true
  for _, c in pairs(self.conns) do close_conn(self, c) end
  self.sock:close()
end

return M
