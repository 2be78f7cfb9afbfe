--- Task objects: the decoded task with its wire field names (`id`, `status`,
-- `progress`, `imageUrl`, `buttons`, `failReason`, `properties`, ...) plus
-- methods.
--
-- A Task built from a response body materialises lazily: the top-level scalar
-- fields come from `core.scan_json`; the whole body is decoded (once) on the
-- first read of any other field (`buttons`, `properties`, ...). JSON nulls read
-- as nil. `id` is always a string. `buttons` is always a list (empty when the
-- server sent null or nothing); it is also callable, so `task:buttons()`
-- returns the same list.
--
-- Methods never block and never yield.
-- @module midjourney.task
-- @alias methods
local core = require "midjourney.core"
local customid = require "midjourney.customid"
local ids = require "midjourney.ids"
local json = require "midjourney.json"

local M = {}

local methods = {}
local Task = {}

--- Done statuses: polling stops on these (MODAL means it needs input).
M.done = { SUCCESS = true, FAILURE = true, CANCEL = true, MODAL = true }

local buttons_mt = { __call = function(self) return self end }

-- The JSON text of a task not decoded yet lives in the task under this private key: a
-- table, so it can never collide with a wire field name, and `totable`/JSON encoding skip
-- it. (Not a weak side table: thousands of polled tasks would make every garbage
-- collection re-traverse it.)
local BODY = setmetatable({}, { __tostring = function() return "midjourney.task body" end })

local function normalise_buttons(b)
  local out = {}
  if type(b) == "table" then
    for _, x in ipairs(b) do
      if type(x) == "table" then out[#out + 1] = x end
    end
  end
  return setmetatable(out, buttons_mt)
end

-- Full decode on first access to a field the scan did not provide. The body was
-- validated by the C scanner when the task was made, and the scanner refuses what the
-- full decoder refuses, so this cannot fail on a body that made a task.
local function materialise(t)
  local body = rawget(t, BODY)
  if not body then return end
  rawset(t, BODY, nil)
  local v, why = json.decode_scanned(body)
  if type(v) ~= "table" then
    error("midjourney.task: the task body could not be decoded (" .. tostring(why) .. ")", 0)
  end
  json.strip_nulls(v)
  for k, x in pairs(v) do
    if rawget(t, k) == nil then rawset(t, k, x) end
  end
  rawset(t, "buttons", normalise_buttons(v.buttons))
  if v.id ~= nil and rawget(t, "id") == nil then rawset(t, "id", ids.from_wire(v.id)) end
end

Task.__index = function(t, k)
  local m = methods[k]
  if m then return m end
  if rawget(t, BODY) then
    materialise(t)
    return rawget(t, k)
  end
  return nil
end

Task.__tojson = function(t)
  return json.encode(t:totable())
end

Task.__tostring = function(t)
  return string.format("midjourney.Task(%s %s %s)", tostring(rawget(t, "id")),
    tostring(rawget(t, "status")), tostring(rawget(t, "progress")))
end

--- Build a Task from a decoded table (wire field names). The table is adopted
-- (not copied); nulls are removed, `id` becomes a string, `buttons` a list.
-- Neither blocks nor yields.
-- @tparam table t
-- @treturn Task
-- @raise when `t` is not a table
function M.new(t)
  if type(t) ~= "table" then error("task.new: argument 't' must be a table", 2) end
  if getmetatable(t) == Task then return t end
  json.strip_nulls(t)
  if t.id ~= nil then t.id = ids.from_wire(t.id) end
  t.buttons = normalise_buttons(t.buttons)
  return setmetatable(t, Task)
end

--- Build a Task lazily from the fields the C scanner gave for one task object (`id`,
-- `status`, `progress`: what a poll reads) and that object's JSON text, already validated
-- by the scanner (the table `fields` is adopted). Neither blocks nor yields.
-- @tparam table fields
-- @tparam string body
-- @treturn Task
function M.from_scan(fields, body)
  fields.buttons = nil -- always a list: built by the full decode
  local id = fields.id
  if id ~= nil and type(id) ~= "string" then fields.id = ids.from_wire(id) end
  fields[BODY] = body
  return setmetatable(fields, Task)
end

local scan_task = core.scan_task

--- Build a Task from a JSON object text, lazily (see the module doc).
-- Neither blocks nor yields.
-- @tparam string body JSON text of one task object
-- @treturn[1] Task
-- @treturn[2] nil
-- @treturn[2] string why (not JSON, not an object)
function M.from_json(body)
  if type(body) ~= "string" then error("task.from_json: argument 'body' must be a string", 2) end
  local fields, err = scan_task(body)
  if not fields then return nil, err end
  return M.from_scan(fields, body)
end

--- True when `v` is a Task.
-- Neither blocks nor yields.
-- @param v
-- @treturn boolean
function M.is_task(v)
  return type(v) == "table" and getmetatable(v) == Task
end

local parse_progress = core.parse_progress

--- A task: the decoded task object with its wire field names (`id`, always a string;
-- `status`: `""`, `NOT_START`, `SUBMITTED`, `IN_PROGRESS`, `MODAL`, `SUCCESS`, `FAILURE`
-- or `CANCEL`; `progress`, `action`, `prompt`, `promptEn`, `imageUrl`, `imageUrls`,
-- `videoUrl`, `failReason`, `submitTime`, `startTime`, `finishTime`, `properties`, and
-- `buttons`, a list of `{customId=, label=, emoji=, style=, type=}`, also callable as
-- `task:buttons()`), plus the methods below. Unknown wire fields are kept as they are.
-- @type Task

--- Progress as a number 0..100, or nil when unknown (`""`, `"N/A"`, absent).
-- Tolerates `"45%"`, `"85.5%"`, numbers; clamps out-of-range values.
-- Neither blocks nor yields.
-- @treturn number|nil
function methods:percent()
  local p = self.progress
  if p == nil then return nil end
  local n = parse_progress(p)
  return n
end

--- True when polling should stop: SUCCESS, FAILURE, CANCEL or MODAL.
-- Neither blocks nor yields.
-- @treturn boolean
function methods:is_done()
  return M.done[self.status] == true
end

--- True when the task ended badly (FAILURE or CANCEL).
-- Neither blocks nor yields.
-- @treturn boolean
function methods:is_failed()
  local s = self.status
  return s == "FAILURE" or s == "CANCEL"
end

local function strip_vs(s)
  return (s:gsub("\239\184\143", "")) -- U+FE0F variation selector
end

local family_match = customid.family_match

--- Find a button. `spec` is a label (`"U1"`, `"Vary (Strong)"`, case-insensitive),
-- an emoji (`"🔄"`), an exact customId, a customId family (`"upsample::2"`,
-- `"Outpaint::50"`, `"pan_left"`, `"reroll"`, `"Inpaint"`, `"CustomZoom"`,
-- `"low_variation"`: consecutive `::`-separated parts of the customId), or a
-- table `{customId=}` / `{label=}` / `{emoji=}`. Tries, in order: exact customId,
-- label, emoji, family. Neither blocks nor yields.
-- @tparam string|table spec
-- @treturn table|nil the button (`{customId=, label=, emoji=, ...}`)
-- @raise when `spec` is neither a string nor a table
function methods:button(spec)
  local list = self.buttons or {}
  if type(spec) == "table" then
    for _, field in ipairs({ "customId", "label", "emoji" }) do
      if spec[field] ~= nil then return self:button(tostring(spec[field])) end
    end
    return nil
  end
  if type(spec) ~= "string" then
    error("task:button: argument 'spec' must be a string or a table, got " .. type(spec), 2)
  end
  if spec == "" then return nil end
  for _, b in ipairs(list) do
    if b.customId == spec then return b end
  end
  local lower = spec:lower()
  for _, b in ipairs(list) do
    if type(b.label) == "string" and b.label ~= "" and b.label:lower() == lower then return b end
  end
  local bare = strip_vs(spec)
  for _, b in ipairs(list) do
    if type(b.emoji) == "string" and b.emoji ~= "" and strip_vs(b.emoji) == bare then return b end
  end
  for _, b in ipairs(list) do
    if type(b.customId) == "string" and family_match(b.customId, spec) then return b end
  end
  return nil
end

--- The prompt suggestions of a finished DESCRIBE task, without their numbering
-- (`1️⃣ `, `2. `, ...), ready for `client:imagine`: from `promptEn`, else the
-- `finalPrompt` property. An empty list when there are none.
-- Neither blocks nor yields.
-- @treturn table list of strings
function methods:suggestions()
  local text = self.promptEn
  if type(text) ~= "string" or text == "" then
    local p = self.properties
    text = type(p) == "table" and p.finalPrompt or nil
  end
  local out = {}
  if type(text) ~= "string" then return out end
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local s = line:gsub("^%s+", ""):gsub("%s+$", "")
    -- the numbering: a keycap emoji (digit, optional U+FE0F, U+20E3), or "1." / "1)"
    s = s:gsub("^%d\239\184\143?\226\131\163%s*", ""):gsub("^%d+[%.%)]%s+", "")
    if s ~= "" then out[#out + 1] = s end
  end
  return out
end

--- A plain table copy of the task (all fields, buttons as a plain list), for
-- serialising or inspection.
-- Neither blocks nor yields.
-- @treturn table
function methods:totable()
  materialise(self)
  local out = {}
  for k, v in pairs(self) do
    if type(k) == "string" then out[k] = v end
  end
  local b = {}
  for i, x in ipairs(self.buttons or {}) do b[i] = x end
  out.buttons = json.array(b)
  return out
end

return M
