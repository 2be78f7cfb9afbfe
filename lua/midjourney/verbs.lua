--- Verbs on top of buttons: `upscale`, `variation`, `reroll`, `zoom_out`,
-- `pan`, `vary_region`, `custom_zoom`, `upscale_hd`, installed as client
-- methods.
--
-- Each finds its button in the newest snapshot of the task (a SUCCESS Task is
-- used as is; an id or another snapshot is fetched first) and never builds a
-- customId itself. Each returns the new task id and the envelope, or with
-- `opts.wait = true` the finished task (see `client:wait`; `opts` also carries
-- the wait options and the action's wire fields `state`, `enableRemix`,
-- `chooseSameChannel`, `notifyHook`, `accountFilter`). All block, or yield in
-- a scheduler coroutine. A task without the button gives `nil, err` with kind
-- `"invalid"` naming the button.
-- @module midjourney.verbs
local errors = require("midjourney.errors")
local task_mod = require("midjourney.task")

local M = {}

local function newest(self, t, name)
  if task_mod.is_task(t) and t.status == "SUCCESS" then return t end
  if t == nil then error("client:" .. name .. ": argument 'task' is required", 3) end
  local id_arg = require("midjourney.client")._id_arg
  local sid, err = id_arg(name, t, "task")
  if not sid then return nil, err end
  return self:fetch(sid)
end

local function missing(t, what)
  local names = {}
  for _, b in ipairs(t.buttons or {}) do
    local n = (b.label ~= nil and b.label ~= "") and b.label or b.emoji or b.customId
    names[#names + 1] = tostring(n)
  end
  return errors.new { kind = "invalid", task = t,
    message = string.format("task %s (status %s, action %s) has no %s button; buttons: %s",
      tostring(t.id), tostring(t.status), tostring(t.action), what,
      #names > 0 and table.concat(names, " ") or "none") }
end

-- Find the first button whose customId matches one of the families.
local function find(t, families)
  for _, fam in ipairs(families) do
    local b
    if type(fam) == "function" then
      for _, x in ipairs(t.buttons or {}) do
        if type(x.customId) == "string" and fam(x.customId) then b = x; break end
      end
    else
      b = t:button(fam)
    end
    if b and type(b.customId) == "string" and b.customId ~= "" then return b end
  end
  return nil
end

local wire = { "state", "enableRemix", "chooseSameChannel", "notifyHook", "accountFilter" }

-- only the action's wire fields (wait options such as `timeout` must not
-- become the HTTP timeout)
local function action_opts(opts)
  local o = {}
  for _, k in ipairs(wire) do o[k] = opts[k] end
  return o
end

local function opts_arg(name, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("client:" .. name .. ": argument 'opts' must be a table, got " .. type(opts), 3)
  end
  return opts or {}
end

-- Press the button of `families` on the newest `task`: new id and envelope, or nil, err.
local function press(self, name, task, families, what, opts)
  local t, err = newest(self, task, name)
  if not t then return nil, err end
  local b = find(t, families)
  if not b then return nil, missing(t, what) end
  return self:action(t, { customId = b.customId }, action_opts(opts))
end

-- Click `families` on the newest `task`; then maybe wait.
local function click(self, name, task, families, what, opts)
  local id, env = press(self, name, task, families, what, opts)
  if not id then return nil, env end
  if opts.wait then return self:wait(id, opts) end
  return id, env
end

local function index_arg(name, i)
  if type(i) ~= "number" or i ~= math.floor(i) or i < 1 or i > 4 then
    error("client:" .. name .. ": argument 'i' must be an integer 1..4, got " .. tostring(i), 3)
  end
  return string.format("%d", i)
end

--- Upscale image `i` of a grid (button U`i`).
-- @param self the client
-- @param task a Task or task id
-- @tparam integer i 1..4
-- @tparam[opt] table opts `wait`, wait options, action wire fields
-- @return new id and envelope, or the finished task with `wait`; nil, err on failure
-- @raise on wrong argument types
local function upscale(self, task, i, opts)
  local s = index_arg("upscale", i)
  opts = opts_arg("upscale", opts)
  return click(self, "upscale", task, { "upsample::" .. s }, "U" .. s, opts)
end

--- Variations: on a grid, image `i` (button V`i`); on an upscaled image,
-- Vary (Subtle), or Vary (Strong) with `opts.strong`.
-- @param self the client
-- @param task a Task or task id
-- @tparam[opt] integer i 1..4 (grids)
-- @tparam[opt] table opts `strong`, `wait`, wait options, action wire fields
-- @return new id and envelope, or the finished task with `wait`; nil, err on failure
-- @raise on wrong argument types
local function variation(self, task, i, opts)
  if type(i) == "table" and opts == nil then opts, i = i, nil end
  opts = opts_arg("variation", opts)
  local fams, what = {}, nil
  if i ~= nil then
    local s = index_arg("variation", i)
    fams[#fams + 1] = "variation::" .. s
    what = "V" .. s
  end
  if opts.strong then
    fams[#fams + 1] = "high_variation"
    what = what and (what .. " or Vary (Strong)") or "Vary (Strong)"
  else
    fams[#fams + 1] = "low_variation"
    what = what and (what .. " or Vary (Subtle)") or "Vary (Subtle)"
  end
  local o = {}
  for k, v in pairs(opts) do if k ~= "strong" then o[k] = v end end
  return click(self, "variation", task, fams, what, o)
end

--- Re-run the job (🔄).
-- @param self the client
-- @param task a Task or task id
-- @tparam[opt] table opts `wait`, wait options, action wire fields
-- @return new id and envelope, or the finished task with `wait`; nil, err on failure
local function reroll(self, task, opts)
  opts = opts_arg("reroll", opts)
  return click(self, "reroll", task, { "reroll" }, "reroll (🔄)", opts)
end

--- Zoom out an upscaled image: `2` (Zoom Out 2x), `1.5` (Zoom Out 1.5x) or
-- `"square"` (Make Square).
-- @param self the client
-- @param task a Task or task id
-- @tparam number|string factor 2, 1.5 or "square"
-- @tparam[opt] table opts
-- @return new id and envelope, or the finished task with `wait`; nil, err on failure
-- @raise on a wrong factor
local function zoom_out(self, task, factor, opts)
  local fam, what
  if factor == 2 then fam, what = "Outpaint::50", "Zoom Out 2x"
  elseif factor == 1.5 then fam, what = "Outpaint::75", "Zoom Out 1.5x"
  elseif factor == "square" then fam, what = "Outpaint::100", "Make Square"
  else error("client:zoom_out: argument 'factor' must be 2, 1.5 or \"square\", got " .. tostring(factor), 2) end
  opts = opts_arg("zoom_out", opts)
  return click(self, "zoom_out", task, { fam }, what, opts)
end

local dirs = { left = true, right = true, up = true, down = true }

--- Pan an upscaled image.
-- @param self the client
-- @param task a Task or task id
-- @tparam string dir "left", "right", "up" or "down"
-- @tparam[opt] table opts
-- @return new id and envelope, or the finished task with `wait`; nil, err on failure
-- @raise on a wrong direction
local function pan(self, task, dir, opts)
  if not dirs[dir] then
    error("client:pan: argument 'dir' must be \"left\", \"right\", \"up\" or \"down\", got " .. tostring(dir), 2)
  end
  opts = opts_arg("pan", opts)
  return click(self, "pan", task, { "pan_" .. dir }, "pan " .. dir, opts)
end

--- HD upscale of an upscaled image: "subtle" or "creative" (v6/v7 buttons;
-- on v5, "subtle" takes Upscale (2x) and "creative" Upscale (4x)).
-- @param self the client
-- @param task a Task or task id
-- @tparam string kind "subtle" or "creative"
-- @tparam[opt] table opts
-- @return new id and envelope, or the finished task with `wait`; nil, err on failure
-- @raise on a wrong kind
local function upscale_hd(self, task, kind, opts)
  if kind ~= "subtle" and kind ~= "creative" then
    error("client:upscale_hd: argument 'kind' must be \"subtle\" or \"creative\", got " .. tostring(kind), 2)
  end
  opts = opts_arg("upscale_hd", opts)
  local v5 = kind == "subtle" and "upsample_v5_2x" or "upsample_v5_4x"
  local fams = {
    function(cid)
      for part in (cid .. "::"):gmatch("(.-)::") do
        if part:match("^upsample_.*_" .. kind .. "$") then return true end
      end
      return false
    end,
    v5,
  }
  return click(self, "upscale_hd", task, fams, "Upscale (" .. kind .. ")", opts)
end

-- action, then wait for MODAL, then the modal answer
local function modal_flow(self, name, task, families, what, fields, opts)
  local id, env = press(self, name, task, families, what, opts)
  if not id then return nil, env end
  local m, werr = self:wait(id, {
    timeout = opts.modal_timeout or opts.timeout or 600,
    interval = opts.interval, first_delay = opts.modal_first_delay or opts.first_delay or 1,
  })
  if not m then return nil, werr end
  if m.status ~= "MODAL" then
    return nil, errors.new { kind = "api", task = m,
      message = string.format("task %s is %s, expected MODAL after %s", tostring(id), tostring(m.status), what) }
  end
  for _, k in ipairs({ "state", "notifyHook" }) do
    if opts[k] ~= nil and fields[k] == nil then fields[k] = opts[k] end
  end
  local mid, menv = self:modal(id, fields)
  if not mid then return nil, menv end
  if opts.wait then return self:wait(mid, opts) end
  return mid, menv
end

--- Vary (Region): action Inpaint, wait for MODAL, then submit the mask and prompt.
-- @param self the client
-- @param task a Task or task id
-- @tparam string mask PNG mask (data URI or raw base64), white = repaint
-- @tparam string prompt
-- @tparam[opt] table opts `wait`, wait options, `modal_timeout`, action wire fields
-- @return the task id and envelope, or the finished task with `wait`; nil, err on failure
-- @raise on wrong argument types
local function vary_region(self, task, mask, prompt, opts)
  if type(mask) ~= "string" then error("client:vary_region: argument 'mask' must be a string", 2) end
  if type(prompt) ~= "string" then error("client:vary_region: argument 'prompt' must be a string", 2) end
  opts = opts_arg("vary_region", opts)
  return modal_flow(self, "vary_region", task, { "Inpaint" }, "Vary (Region)",
    { maskBase64 = mask, prompt = prompt }, opts)
end

--- Custom Zoom: action CustomZoom, wait for MODAL, then submit the prompt
-- (which should end with `--zoom <1..2>`).
-- @param self the client
-- @param task a Task or task id
-- @tparam string prompt
-- @tparam[opt] table opts
-- @return the task id and envelope, or the finished task with `wait`; nil, err on failure
-- @raise on wrong argument types
local function custom_zoom(self, task, prompt, opts)
  if type(prompt) ~= "string" then error("client:custom_zoom: argument 'prompt' must be a string", 2) end
  opts = opts_arg("custom_zoom", opts)
  return modal_flow(self, "custom_zoom", task, { "CustomZoom" }, "Custom Zoom", { prompt = prompt }, opts)
end

--- Install the verbs as client methods.
-- Neither blocks nor yields.
-- @tparam table methods the client method table
function M.install(methods)
  methods.upscale = upscale
  methods.variation = variation
  methods.reroll = reroll
  methods.zoom_out = zoom_out
  methods.pan = pan
  methods.upscale_hd = upscale_hd
  methods.vary_region = vary_region
  methods.custom_zoom = custom_zoom
end

return M
