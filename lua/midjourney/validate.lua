--- Local validation of what we send: header values, image inputs and the required
-- fields of each endpoint (task ids: `midjourney.ids`; option tables:
-- `midjourney.options`).
--
-- Functions named `check_*` return `true` or `nil, message`.
-- Nothing in this module blocks or yields.
-- @module midjourney.validate
local M = {}

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
  -- a new video needs an image; an extension (action "extend") names the VIDEO task and
  -- the 0-based index of one of its videos instead (CometAPI's Submit Video page)
  video = { required = { "image" },
            images = { image = { url = true, raw = true }, endImage = { url = true, raw = true } },
            variant = function(body)
              if body.action == nil then return nil end
              if body.action ~= "extend" then return nil, "field 'action' must be \"extend\" (or absent)", "content" end
              if type(body.taskId) ~= "string" and type(body.taskId) ~= "number" then
                return nil, "field 'taskId' is required with action \"extend\"", "missing"
              end
              local i = body.index
              if type(i) ~= "number" or i ~= math.floor(i) or i < 0 or i > 3 then
                return nil, "field 'index' must be an integer 0..3 with action \"extend\" (0-based)", "missing"
              end
              return { images = { image = { url = true, raw = true } } }
            end },
  change = { required = { "taskId", "action" } },
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
  if r.variant then
    local v, why, what = r.variant(body)
    if why then return nil, why, what end
    if v then r = v end
  end
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
  for _, f in ipairs({ "prompt", "state", "notifyHook", "customId" }) do
    local v = body[f]
    if v ~= nil and type(v) ~= "string" then
      return nil, "field '" .. f .. "' must be a string, got " .. type(v), "type"
    end
  end
  if body.taskId ~= nil and type(body.taskId) ~= "string" and type(body.taskId) ~= "number" then
    return nil, "field 'taskId' must be a task id, got " .. type(body.taskId), "type"
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
