--- Local validation of what we send: task ids, header values, image inputs and
-- the required fields of each endpoint.
--
-- Functions named `check_*` return `true` or `nil, message`; functions named
-- `assert_*` raise with a message naming the argument (programmer mistakes).
-- Nothing in this module blocks or yields.
-- @module midjourney.validate
local M = {}

local MAX_ID = 64

local function integer_string(n)
  if n ~= n or n == math.huge or n == -math.huge or math.floor(n) ~= n then return nil end
  if math.type and math.type(n) == "integer" then return string.format("%d", n) end
  if n < 0 or n >= 2 ^ 53 then return nil end -- not exact as a double
  return string.format("%.0f", n)
end

--- Normalise and check a task id. Accepts a non-empty string or an integer
-- number (exact: a float beyond 2^53 is refused). Neither blocks nor yields.
-- @param id the id
-- @treturn[1] string the id as a string
-- @treturn[2] nil
-- @treturn[2] string why it was refused
function M.check_task_id(id)
  local s
  if type(id) == "string" then
    s = id
  elseif type(id) == "number" then
    s = integer_string(id)
    if not s then return nil, "task id must be an integer, got " .. tostring(id) end
  else
    return nil, "task id must be a string or an integer, got " .. type(id)
  end
  if s == "" then return nil, "task id is empty" end
  if #s > MAX_ID then return nil, "task id is longer than " .. MAX_ID .. " bytes" end
  if s:find("[%s%z/?#%%\\]") or s:find("..", 1, true) or s:find("[%c\127]") then
    return nil, "task id contains a forbidden character or sequence"
  end
  return s
end

--- Like `check_task_id` but raises. Neither blocks nor yields.
-- @param id the id
-- @tparam[opt="id"] string name the argument name for the message
-- @treturn string the id as a string
-- @raise when the id is not acceptable
function M.assert_task_id(id, name)
  local s, why = M.check_task_id(id)
  if not s then error(string.format("argument '%s': %s", name or "id", why), 3) end
  return s
end

--- Option `name` of the table `opts`: `default` when it is nil, else a number >= 0 (not NaN).
-- Neither blocks nor yields.
-- @param opts table of options
-- @param name option name
-- @param default value when the option is nil (may be nil)
-- @tparam string what prefix of the message naming the function ("" or "wait: ")
-- @tparam integer level the error level as the function calling this one counts it
-- @return the number or `default`
-- @raise "<what>option '<name>' must be a non-negative number, got <v>"
function M.number_option(opts, name, default, what, level)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v or v < 0 then
    error(what .. "option '" .. name .. "' must be a non-negative number, got " .. tostring(v), level + 1)
  end
  return v
end

--- Check a header value: no CR, LF or NUL. Neither blocks nor yields.
-- @tparam string v
-- @treturn[1] boolean true
-- @treturn[2] nil
-- @treturn[2] string why
function M.check_header_value(v)
  if type(v) ~= "string" then return nil, "header value must be a string" end
  if v:find("[\r\n%z]") then return nil, "header value contains CR, LF or NUL" end
  return true
end

local mimes = {
  ["image/png"] = true, ["image/jpeg"] = true, ["image/jpg"] = true,
  ["image/webp"] = true, ["image/gif"] = true,
}

local function is_base64(s)
  return #s > 0 and not s:find("[^%w%+/=%-_\r\n]")
end

--- Check an image input: a data URI `data:image/(png|jpeg|webp|gif);base64,...`,
-- or, when `opts.raw` is true, raw base64 too, or, when `opts.url` is true, an
-- http(s) URL. Neither blocks nor yields.
-- @tparam string v
-- @tparam[opt] table opts `{raw = bool, url = bool}`
-- @treturn[1] boolean true
-- @treturn[2] nil
-- @treturn[2] string why
function M.check_image(v, opts)
  opts = opts or {}
  if type(v) ~= "string" then return nil, "must be a string, got " .. type(v) end
  if v == "" then return nil, "is empty" end
  local mime, payload = v:match("^data:([^;,]+);base64,(.*)$")
  if mime then
    mime = mime:lower()
    if not mimes[mime] then return nil, "has unsupported MIME type " .. mime end
    if not is_base64(payload) then return nil, "is not valid base64" end
    return true
  end
  if v:match("^data:") then return nil, "is a data URI without ';base64,'" end
  if opts.url and v:match("^[Hh][Tt][Tt][Pp][Ss]?://[^%s]+$") then return true end
  if opts.raw and is_base64(v) then return true end
  return nil, "must be a data URI (data:image/png;base64,...)"
    .. (opts.url and " or an http(s) URL" or "") .. (opts.raw and " or raw base64" or "")
end

-- Required fields per endpoint and image fields (with what forms they accept).
local rules = {
  imagine = { required = { "prompt" }, images = { base64Array = { url = true, list = true } } },
  action = { required = { "taskId", "customId" } },
  modal = { required = { "taskId" }, images = { maskBase64 = { raw = true } } },
  blend = { required = { "base64Array" }, images = { base64Array = { url = true, list = true, min = 2, max = 5 } } },
  describe = { one_of = { "base64", "link" }, images = { base64 = {} } },
  shorten = { required = { "prompt" } },
  video = { required = { "image" },
            images = { image = { url = true, raw = true }, endImage = { url = true, raw = true } } },
  edits = { required = { "prompt", "image" }, images = { image = { url = true, raw = true } } },
  swap_face = { required = { "sourceBase64", "targetBase64" },
                images = { sourceBase64 = { raw = true }, targetBase64 = { raw = true } } },
  upload = { required = { "base64Array" }, images = { base64Array = { list = true, min = 1 } } },
}
M.rules = rules

local function present(v)
  if v == nil or v == "" then return false end
  if type(v) == "table" and next(v) == nil then return false end
  return true
end

--- Check a submit body for `endpoint` (`"imagine"`, `"blend"`, ...): required
-- fields present, image fields well formed, text fields strings.
-- Neither blocks nor yields.
-- @tparam string endpoint
-- @tparam table body wire fields
-- @treturn[1] boolean true
-- @treturn[2] nil
-- @treturn[2] string why (names the field)
-- @treturn[2] string `"missing"` or `"type"` (a programmer mistake) or
--   `"content"` (bad data: unsupported image, too long, ...)
function M.check_body(endpoint, body)
  local r = rules[endpoint]
  if not r then return true end
  for _, f in ipairs(r.required or {}) do
    if not present(body[f]) then return nil, "field '" .. f .. "' is required", "missing" end
  end
  if r.one_of then
    local any = false
    for _, f in ipairs(r.one_of) do if present(body[f]) then any = true end end
    if not any then
      return nil, "one of the fields '" .. table.concat(r.one_of, "', '") .. "' is required", "missing"
    end
  end
  for f, o in pairs(r.images or {}) do
    local v = body[f]
    if v ~= nil then
      if o.list then
        if type(v) ~= "table" then return nil, "field '" .. f .. "' must be a list of images", "type" end
        local n = #v
        if o.min and n < o.min then
          return nil, "field '" .. f .. "' needs at least " .. o.min .. " images", "content"
        end
        if o.max and n > o.max then
          return nil, "field '" .. f .. "' takes at most " .. o.max .. " images", "content"
        end
        for i = 1, n do
          local ok, why = M.check_image(v[i], o)
          if not ok then return nil, "field '" .. f .. "[" .. i .. "]' " .. why, "content" end
        end
      else
        local ok, why = M.check_image(v, o)
        if not ok then return nil, "field '" .. f .. "' " .. why, "content" end
      end
    end
  end
  for _, f in ipairs({ "prompt", "state", "notifyHook", "customId", "taskId" }) do
    local v = body[f]
    if v ~= nil and type(v) ~= "string" then
      return nil, "field '" .. f .. "' must be a string, got " .. type(v), "type"
    end
  end
  if type(body.state) == "string" and #body.state > 255 then
    return nil, "field 'state' is longer than 255 characters", "content"
  end
  if type(body.notifyHook) == "string" and #body.notifyHook > 2000 then
    return nil, "field 'notifyHook' is longer than 2000 characters", "content"
  end
  return true
end

return M
