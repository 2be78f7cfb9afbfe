--- HTTP/1.1 message helpers for the simulator: request head parsing, response building.
-- @module midjourney.simulator.http
local M = {}

local concat = table.concat

M.REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [303] = "See Other", [307] = "Temporary Redirect",
  [308] = "Permanent Redirect", [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [408] = "Request Timeout",
  [413] = "Payload Too Large", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large", [500] = "Internal Server Error", [501] = "Not Implemented",
  [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout", [524] = "A Timeout Occurred",
}

--- Parse a request head (request line and header lines, without the blank line). Does not block.
-- @param head string
-- @return {method=, target=, path=, query=, version=, headers={lowercase name = value}} or nil, err
function M.parse_head(head)
  local line, rest = head:match("^([^\r\n]*)\r?\n?(.*)$")
  local method, target, version = line:match("^(%u+) (%S+) HTTP/(%d%.%d)$")
  if not method then return nil, "bad request line" end
  local headers = {}
  for l in rest:gmatch("[^\r\n]+") do
    local k, v = l:match("^([^:%s]+):%s*(.-)%s*$")
    if not k then return nil, "bad header line" end
    k = k:lower()
    if headers[k] and k ~= "content-length" then headers[k] = headers[k] .. ", " .. v else headers[k] = v end
  end
  local path, query = target:match("^([^?#]*)%??([^#]*)")
  return { method = method, target = target, path = path, query = query, version = version, headers = headers }
end

--- An HTTP-date for `t` seconds since the epoch. Does not block.
-- @param t seconds
-- @return string
function M.date(t)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", math.floor(t))
end

--- Build a response head. Does not block.
-- @param status integer
-- @param headers list of {name, value} (Content-Length is added when `length` is given)
-- @param length body length, or nil to send no Content-Length
-- @param close boolean: add "Connection: close"
-- @return string
function M.head(status, headers, length, close)
  local out = { "HTTP/1.1 " .. status .. " " .. (M.REASONS[status] or "Status") }
  local has_date = false
  for _, h in ipairs(headers or {}) do
    out[#out + 1] = h[1] .. ": " .. h[2]
    if h[1]:lower() == "date" then has_date = true end
  end
  if not has_date then out[#out + 1] = "Date: " .. M.date(os.time()) end
  if length then out[#out + 1] = "Content-Length: " .. length end
  if close then out[#out + 1] = "Connection: close" end
  return concat(out, "\r\n") .. "\r\n\r\n"
end

--- Make a response table. Does not block.
-- @param status integer
-- @param body string
-- @param content_type string (default application/json)
-- @param extra list of {name, value} headers (optional)
-- @return {status=, headers=, body=}
function M.response(status, body, content_type, extra)
  local headers = { { "Content-Type", content_type or "application/json" } }
  for _, h in ipairs(extra or {}) do headers[#headers + 1] = h end
  return { status = status, headers = headers, body = body or "" }
end

return M
