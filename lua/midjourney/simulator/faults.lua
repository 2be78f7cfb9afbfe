--- Fault injection rules of the simulator: matching requests and shaping bad answers.
-- A rule matches by `route` (a route name, "submit" for every submit route, "any") or `path`
-- (a glob with `*`), optional `method`; `after` skips that many matching requests first,
-- `times` (default 1, -1 forever) limits how often it fires. Every rule counts every request
-- it matches; the first rule that may fire answers (one HTTP fault and one job fault at most).
-- @module midjourney.simulator.faults
local json = require("midjourney.simulator.json")
local http = require("midjourney.simulator.http")

local M = {}
local Set = {}
Set.__index = Set

--- Every fault kind with a one-line description (for `--help`).
M.KINDS = {
  { "status", "answer with `status` (default 502), optional `body` (string or JSON) and `headers` {name=value}" },
  { "retry_after", "answer 429 (or `status`) with Retry-After: `retry_after` seconds, or retry-after-ms: "
    .. "`retry_after_ms`, or an HTTP date `http_date` (true or seconds ahead); default Retry-After: 1" },
  { "code", "HTTP 200 submit envelope with `code` and `description`, no task: 9 (trueai's queue full, "
    .. "\"提交失败，队列已满，请稍后重试\"), 23 (queue full), 24 (banned: `prompt`, `banned_word`), 3 (use "
    .. "description=\"无可用的账号实例\" for no account), 4...; 9 and 23 carry discordInstanceId. Codes 1, 21 and 22 "
    .. "process the request and rewrite the envelope (22 shows as 1 with numberOfQueues=`queue`)" },
  { "slow_first_byte", "wait `delay` seconds (default 2) before the normal answer" },
  { "stall_after_headers", "send the headers and `bytes` (default 4) body bytes, wait `delay` (default 30) "
    .. "then close (or send the rest with then=\"finish\")" },
  { "reset_mid_body", "send the headers and half the body, then reset the connection (RST)" },
  { "truncated_json", "send the headers (full Content-Length) and half the body, then close" },
  { "empty_reply", "close the connection without any answer (the request is processed unless process=false)" },
  { "invalid_json", "HTTP 200 with the body `{\"code\":1,` (or `body`) as application/json" },
  { "html", "HTTP 200 (or `status`) text/html error page" },
  { "huge_body", "HTTP 200 chunked JSON-looking body of `bytes` (default 100 MiB), no Content-Length" },
  { "gzip_bomb", "HTTP 200 Content-Encoding: gzip body that inflates to `bytes` (default 100 MiB)" },
  { "redirect", "answer `status` (default 302) with Location: `location` (default another host)" },
  { "raw", "answer exactly `status` (default 200), `body` and `headers`; or send `response` bytes verbatim" },
  { "stick", "job fault: the created task stays IN_PROGRESS at `percent`% (until the 1 h cap)" },
  { "fail", "job fault: the created task fails with `reason` when it reaches `at`% (default 0)" },
  { "disappear", "job fault: the created task vanishes (fetch: task_no_found) at `at`% (default at once)" },
}

local KNOWN = {}
for _, k in ipairs(M.KINDS) do KNOWN[k[1]] = true end

--- Job faults: they act on the task a submit creates, not on the HTTP answer.
M.JOB = { stick = true, fail = true, disappear = true }

--- Submit route names (the "submit" route alias matches any of them).
M.SUBMIT = { imagine = true, action = true, modal = true, blend = true, describe = true, shorten = true,
  video = true, edits = true, upload = true, swap = true, change = true, simple_change = true }

local function glob(p)
  return "^" .. p:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
end

--- Make an empty rule set. Does not block.
-- @return set
function M.new()
  return setmetatable({ rules = {} }, Set)
end

--- Check and normalise a rule. Does not block.
-- @param r table
-- @return rule or nil, error message
function M.check(r)
  if type(r) ~= "table" then return nil, "a fault must be an object" end
  if not KNOWN[r.kind] then return nil, "unknown fault kind: " .. tostring(r.kind) end
  local rule = {}
  for k, v in pairs(r) do rule[k] = v end
  rule.times = tonumber(r.times) or 1
  rule.after = tonumber(r.after) or 0
  rule.seen, rule.used = 0, 0
  if r.path then rule.pattern = glob(tostring(r.path)) end
  if r.method then rule.method = tostring(r.method):upper() end
  return rule
end

--- Add rules. Does not block.
-- @param list list of rule tables
-- @return true, or nil and an error message (nothing is added then)
function Set:add(list)
  local checked = {}
  for i, r in ipairs(list) do
    local rule, err = M.check(r)
    if not rule then return nil, "fault " .. i .. ": " .. err end
    checked[#checked + 1] = rule
  end
  for _, rule in ipairs(checked) do self.rules[#self.rules + 1] = rule end
  return true
end

--- Remove every rule. Does not block.
function Set:clear()
  self.rules = {}
end

local function matches(rule, route, method, path)
  if rule.method and rule.method ~= method then return false end
  if rule.pattern and not path:match(rule.pattern) then return false end
  if rule.route and rule.route ~= "any" then
    if rule.route == "submit" then
      if not M.SUBMIT[route] then return false end
    elseif rule.route ~= route then
      return false
    end
  end
  if M.JOB[rule.kind] and not M.SUBMIT[route] then return false end
  return true
end

--- Find the rules that fire for a request (counting it against them). Does not block.
-- @param route route name
-- @param method HTTP method
-- @param path request path
-- @return response rule or nil, job rule or nil
function Set:match(route, method, path)
  local resp, job
  for _, rule in ipairs(self.rules) do
    if matches(rule, route, method, path) then
      rule.seen = rule.seen + 1
      local free = (M.JOB[rule.kind] and not job) or (not M.JOB[rule.kind] and not resp)
      if free and rule.seen > rule.after and (rule.times < 0 or rule.used < rule.times) then
        rule.used = rule.used + 1
        if M.JOB[rule.kind] then job = rule else resp = rule end
      end
    end
  end
  return resp, job
end

local function body_of(v, default)
  if v == nil then return default end
  if type(v) == "table" then return json.encode(v) end
  return tostring(v)
end

local function extra_headers(rule)
  local list = {}
  if type(rule.headers) == "table" then
    local names = {}
    for k in pairs(rule.headers) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do list[#list + 1] = { k, tostring(rule.headers[k]) } end
  end
  return list
end

local DEFAULT_CODE_TEXT = {
  [3] = "关联任务不存在或已失效", [4] = "参数错误", [9] = "提交失败，队列已满，请稍后重试",
  [23] = "队列已满，请稍后尝试", [24] = "可能包含敏感词",
}

--- The normal ops for a response: head and body in one send. Does not block.
-- @param resp {status=, headers=, body=}
-- @param close boolean: close the connection after
-- @return list of ops
function M.ops(resp, close)
  local ops = { { op = "send", data = http.head(resp.status, resp.headers, #resp.body, close) .. resp.body } }
  if close then ops[#ops + 1] = { op = "close" } end
  return ops
end

local gzip_cache = {}

local function gzip_zeros(n)
  if gzip_cache[n] then return gzip_cache[n] end
  local cmd = string.format("head -c %d /dev/zero | gzip -c -9 2>/dev/null", n)
  local p = io.popen(cmd, "r")
  local data = p and p:read("*a") or ""
  if p then p:close() end
  if #data < 18 then return nil end
  gzip_cache[n] = data
  return data
end

--- Whether a response fault lets the request be processed by its route. Does not block.
-- @param rule fault rule
-- @return boolean
function M.processes(rule)
  if rule.process ~= nil then return rule.process and true or false end
  local k = rule.kind
  if k == "code" then
    local c = tonumber(rule.code)
    return c == 1 or c == 21 or c == 22
  end
  return k == "slow_first_byte" or k == "stall_after_headers" or k == "reset_mid_body"
    or k == "truncated_json" or k == "empty_reply"
end

--- Build the ops of a response fault. Does not block.
-- @param rule fault rule
-- @param resp the normal response (when the request was processed) or nil
-- @param close boolean: close after a normal answer
-- @param now wall clock seconds
-- @param instance_id the upstream account id for `properties.discordInstanceId` (optional)
-- @return list of ops, and true when the connection must close after them
function M.apply(rule, resp, close, now, instance_id)
  local k = rule.kind
  local extra = extra_headers(rule)
  if k == "status" then
    local st = tonumber(rule.status) or 502
    local body = body_of(rule.body, json.encode({ error = { message = "simulated HTTP " .. st,
      type = "upstream_error", code = "" } }))
    return M.ops(http.response(st, body, rule.content_type, extra), close), close
  elseif k == "retry_after" then
    local st = tonumber(rule.status) or 429
    if rule.retry_after ~= nil then extra[#extra + 1] = { "Retry-After", tostring(rule.retry_after) } end
    if rule.retry_after_ms ~= nil then extra[#extra + 1] = { "retry-after-ms", tostring(rule.retry_after_ms) } end
    if rule.http_date then
      local ahead = tonumber(rule.http_date) or 1
      extra[#extra + 1] = { "Retry-After", http.date(now + ahead) }
    end
    if rule.retry_after == nil and rule.retry_after_ms == nil and not rule.http_date then
      extra[#extra + 1] = { "Retry-After", "1" }
    end
    local body = body_of(rule.body, json.encode(json.object({ "description", "type", "code" }, {
      description = "rate limit exceeded 当前分组负载已饱和，请稍后再试，或升级账户以提升服务质量。",
      type = "upstream_error", code = 30 })))
    return M.ops(http.response(st, body, nil, extra), close), close
  elseif k == "code" then
    local code = tonumber(rule.code) or 23
    if resp then return M.ops(resp, close), close end
    local env = json.object({ "code", "description", "result", "properties" }, {
      code = code, description = rule.description or DEFAULT_CODE_TEXT[code] or "simulated code " .. code,
      result = json.null, properties = json.object({}, {}) })
    if code == 24 then
      env.properties = json.object({ "promptEn", "bannedWord" },
        { promptEn = rule.prompt or "nude body", bannedWord = rule.banned_word or "nude" })
    elseif (code == 9 or code == 23) and instance_id then
      -- trueai and novicezk name the account that refused (api.md §3.3)
      env.properties = json.object({ "discordInstanceId" }, { discordInstanceId = instance_id })
    end
    return M.ops(http.response(200, json.encode(env), nil, extra), close), close
  elseif k == "slow_first_byte" then
    local ops = { { op = "wait", s = tonumber(rule.delay) or 2 } }
    for _, o in ipairs(M.ops(resp, close)) do ops[#ops + 1] = o end
    return ops, close
  elseif k == "stall_after_headers" then
    local n = tonumber(rule.bytes) or 4
    local head = http.head(resp.status, resp.headers, #resp.body, close)
    local ops = { { op = "send", data = head .. resp.body:sub(1, n) },
                  { op = "wait", s = tonumber(rule.delay) or 30 } }
    if rule["then"] == "finish" then
      ops[#ops + 1] = { op = "send", data = resp.body:sub(n + 1) }
      if close then ops[#ops + 1] = { op = "close" } end
      return ops, close
    end
    ops[#ops + 1] = { op = "close" }
    return ops, true
  elseif k == "reset_mid_body" or k == "truncated_json" then
    local head = http.head(resp.status, resp.headers, #resp.body, false)
    local half = math.floor(#resp.body / 2)
    return { { op = "send", data = head .. resp.body:sub(1, half) },
             { op = k == "reset_mid_body" and "reset" or "close" } }, true
  elseif k == "empty_reply" then
    return { { op = "close" } }, true
  elseif k == "invalid_json" then
    local body = body_of(rule.body, '{"code":1,')
    return M.ops(http.response(tonumber(rule.status) or 200, body, nil, extra), close), close
  elseif k == "html" then
    local st = tonumber(rule.status) or 200
    local body = body_of(rule.body, "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
      .. "<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>\n")
    return M.ops(http.response(st, body, "text/html; charset=utf-8", extra), close), close
  elseif k == "huge_body" then
    local total = tonumber(rule.bytes) or 100 * 1024 * 1024
    local headers = { { "Content-Type", "application/json" }, { "Transfer-Encoding", "chunked" } }
    for _, h in ipairs(extra) do headers[#headers + 1] = h end
    local first = '{"code":1,"description":"'
    local block = string.rep("x", 65536)
    local sent = 0
    local function next_chunk()
      if sent >= total then return nil end
      local data
      if sent == 0 then data = first .. block:sub(1, 65536 - #first) else data = block end
      if sent + #data > total then data = data:sub(1, total - sent) end
      sent = sent + #data
      return string.format("%x\r\n", #data) .. data .. "\r\n"
    end
    return { { op = "send", data = http.head(200, headers, nil, close) },
             { op = "stream", next = next_chunk },
             { op = "send", data = "0\r\n\r\n" },
             close and { op = "close" } or nil }, close
  elseif k == "gzip_bomb" then
    local n = tonumber(rule.bytes) or 100 * 1024 * 1024
    local gz = gzip_zeros(n)
    if not gz then
      return M.ops(http.response(500, '{"error":"gzip is not available for gzip_bomb"}'), close), close
    end
    local headers = { { "Content-Type", "application/json" }, { "Content-Encoding", "gzip" } }
    for _, h in ipairs(extra) do headers[#headers + 1] = h end
    return M.ops({ status = 200, headers = headers, body = gz }, close), close
  elseif k == "redirect" then
    local st = tonumber(rule.status) or 302
    extra[#extra + 1] = { "Location", rule.location or "http://127.0.0.2:9/mj/redirected" }
    local body = body_of(rule.body, "<html><body>Moved</body></html>")
    return M.ops(http.response(st, body, "text/html", extra), close), close
  elseif k == "raw" then
    if rule.response then
      return { { op = "send", data = tostring(rule.response) }, { op = "close" } }, true
    end
    local st = tonumber(rule.status) or 200
    local body = body_of(rule.body, "")
    return M.ops({ status = st, headers = extra, body = body }, close), close
  end
  return M.ops(resp or http.response(500, '{"error":"unknown fault"}'), close), close
end

return M
