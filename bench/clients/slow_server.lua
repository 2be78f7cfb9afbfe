-- A gateway stand-in that answers late, as over a real network (luv; Lua 5.4 or LuaJIT).
--   slow_server.lua DELAY_MS [JITTER_MS]
-- Prints its port on stdout, then serves HTTP/1.1 (keep-alive) on 127.0.0.1 until killed:
--   POST /mj/task/list-by-condition {"ids":[...]}  -> every id as an IN_PROGRESS task
--   GET  /mj/task/{id}/fetch                       -> that task
--   anything else                                  -> {"sent_at": S}
-- Each answer waits DELAY_MS (+ up to JITTER_MS, uniformly) and is written in one call;
-- every body carries "sent_at", the CLOCK_MONOTONIC second it was written (the clock of
-- midjourney.core.now() in any process on this machine).
local uv = require("luv")
local delay, jitter = tonumber(arg[1]) or 250, tonumber(arg[2]) or 0

local function task(id, sent_at)
  return string.format('{"id":"%s","action":"IMAGINE","status":"IN_PROGRESS","progress":"45%%",'
    .. '"prompt":"a paper boat","imageUrl":"","failReason":"","buttons":[],"sent_at":%.6f}', id, sent_at)
end

local function answer(method, path, body)
  local sent_at = uv.hrtime() / 1e9
  if method == "POST" and path:match("/mj/task/list%-by%-condition$") then
    local out = {}
    for id in body:gmatch('"(%d+)"') do out[#out + 1] = task(id, sent_at) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local id = path:match("/mj/task/(%d+)/fetch$")
  if id then return task(id, sent_at) end
  return string.format('{"sent_at":%.6f}', sent_at)
end

local server = uv.new_tcp()
assert(server:bind("127.0.0.1", 0))
assert(server:listen(1024, function(err)
  assert(not err, err)
  local c = uv.new_tcp()
  server:accept(c)
  c:nodelay(true)
  local buf = ""
  c:read_start(function(rerr, chunk)
    if rerr or not chunk then
      if not c:is_closing() then c:close() end
      return
    end
    buf = buf .. chunk
    while true do
      local he = buf:find("\r\n\r\n", 1, true)
      if not he then break end
      local head = buf:sub(1, he + 3)
      local len = tonumber(head:match("\n[Cc]ontent%-[Ll]ength:%s*(%d+)")) or 0
      if #buf < he + 3 + len then break end
      local body = buf:sub(he + 4, he + 3 + len)
      buf = buf:sub(he + 4 + len)
      local method, path = head:match("^(%S+) (%S+)")
      local t = uv.new_timer()
      t:start(math.floor(delay + math.random() * jitter), 0, function()
        t:close()
        if c:is_closing() then return end
        local payload = answer(method, path, body)
        c:write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #payload
          .. "\r\n\r\n" .. payload)
      end)
    end
  end)
end))
print(server:getsockname().port)
io.stdout:flush()
uv.run()
