--- The verbs behind `client:upscale`, `variation`, `reroll`, `zoom_out`, `pan`,
-- `upscale_hd`, `vary_region` and `custom_zoom` (documented on the client), and the
-- MODAL flows they share with `client:action`: Remix and the dialogs of Vary Region
-- and Custom Zoom.
--
-- Each verb finds its button (`midjourney.buttons`) in the newest snapshot of the task
-- (a SUCCESS Task is used as is; an id or another snapshot is fetched first) and
-- presses it with `client:action`; it never builds a customId. All block, or yield in a
-- scheduler coroutine. Argument errors raise at the level of the client method.
-- @module midjourney.verbs
local buttons = require "midjourney.buttons"
local download = require "midjourney.download"
local errors = require "midjourney.errors"
local ids = require "midjourney.ids"
local options = require "midjourney.options"
local task_mod = require "midjourney.task"
local wait = require "midjourney.wait"

local M = {}

--- The newest snapshot of a task whose buttons are usable: a SUCCESS Task as it is,
-- else fetched; an unfinished or failed task gives an `invalid` error saying so.
-- The caller has checked that `task_or_id` is a Task or an id. Blocks, or yields.
-- @param client
-- @param task_or_id a Task or an id
-- @tparam string fname the client method, for messages
-- @tparam string what the button asked for, for messages
-- @tparam[opt] number deadline per-call deadline of the fetch
-- @return the Task, or nil and the error
function M.newest(client, task_or_id, fname, what, deadline)
  local t = task_or_id
  if task_mod.is_task(t) and t.status == "SUCCESS" then return t end
  local sid, err = ids.arg(fname, task_or_id, "task") -- the client method checked its type

  if not sid then return nil, err end
  t, err = client:fetch(sid, { deadline = deadline })
  if not t then return nil, err end
  if t.status ~= "SUCCESS" then return nil, buttons.unusable(t, what) end
  return t
end

-- The options of a verb: the action's wire fields and `remix`, `wait` and the wait
-- options (flat), and per verb `strong` or `modal_timeout`.
local wire_fields = {
  state = { kind = "string", wire = true }, enableRemix = { kind = "boolean", wire = true },
  chooseSameChannel = { kind = "boolean", wire = true }, notifyHook = { kind = "string", wire = true },
  accountFilter = { kind = "table", wire = true },
}
local function verb_schema(name, extra)
  local fields = { wait = "boolean" }
  for k, v in pairs(wire_fields) do fields[k] = v end
  for k, v in pairs(extra or {}) do fields[k] = v end
  return options.merge("client:" .. name, wait.options, options.schema("client:" .. name, fields))
end

local schemas = {
  upscale = verb_schema("upscale"),
  variation = verb_schema("variation", { strong = "boolean", remix = "string" }),
  reroll = verb_schema("reroll", { remix = "string" }),
  zoom_out = verb_schema("zoom_out"),
  pan = verb_schema("pan", { remix = "string" }),
  upscale_hd = verb_schema("upscale_hd"),
  vary_region = verb_schema("vary_region", { modal_timeout = "seconds" }),
  custom_zoom = verb_schema("custom_zoom", { modal_timeout = "seconds" }),
}
M.schemas = schemas

local wait_keys = wait.options:keys()

local function wait_opts(opts)
  local o = {}
  for _, k in ipairs(wait_keys) do o[k] = opts[k] end
  return o
end

-- Wait for a task the client just created and may have to answer in MODAL: returns the
-- MODAL snapshot, or the task if it finished without one.
local function wait_for_modal(client, id, opts)
  return wait.wait(client, id, nil, wait.options:check({
    timeout = opts.modal_timeout or opts.timeout or 600, interval = opts.interval,
    first_delay = opts.first_delay,
  }))
end

--- Answers the Remix dialog of a task just created with `enableRemix`: waits until it
-- reaches MODAL and sends `prompt` with `client:modal`. When the task finished without
-- a dialog (Remix off upstream), returns its id as it is. Blocks, or yields.
-- @param client
-- @tparam string id the new task
-- @tparam table env the action's envelope
-- @tparam string prompt
-- @tparam table opts the caller's options (`modal_timeout`, `timeout`, `interval`, `state`)
-- @return id and envelope (the modal's), or nil and the error
function M.answer_remix(client, id, env, prompt, opts)
  local m, err = wait_for_modal(client, id, opts)
  if not m then return nil, err end
  if m.status ~= "MODAL" then return id, env end
  return client:modal(id, { prompt = prompt, state = opts.state })
end

-- Press `b` of the newest task `t`; then maybe wait, answering a Remix dialog nobody
-- asked for (an account in Remix mode) with the source task's prompt.
local function press(client, t, b, opts)
  local o = { remix = opts.remix }
  for k in pairs(wire_fields) do o[k] = opts[k] end
  local id, env = client:action(t, { customId = b.customId }, o)
  if not id then return nil, env end
  if not opts.wait then return id, env end
  local w = wait_opts(opts)
  local done, err = client:wait(id, w)
  if not done then return nil, err end
  if done.status == "MODAL" and not opts.remix and buttons.remixable(b.customId) then
    local prompt = t.prompt
    if type(prompt) ~= "string" or prompt == "" then prompt = t.promptEn end
    if type(prompt) ~= "string" or prompt == "" then
      return nil, errors.new { kind = "invalid", task = done, message = string.format(
        "task %s waits in a Remix dialog (the account is in Remix mode) and task %s has no prompt to answer it "
        .. "with: pass the remix option", tostring(id), tostring(t.id)) }
    end
    local mid, merr = client:modal(id, { prompt = prompt, state = opts.state })
    if not mid then return nil, merr end
    done, err = client:wait(id, w)
    if not done then return nil, err end
    -- say what the library did on the caller's behalf
    rawset(done, "auto_remix", { prompt = prompt, reason = "the account is in Remix mode: the task waited in "
      .. "a Remix dialog and was answered with the prompt of task " .. tostring(t.id) })
  end
  return done
end

local function index_arg(name, i)
  if type(i) ~= "number" or i ~= math.floor(i) or i < 1 or i > 4 then
    error("client:" .. name .. ": argument 'i' must be an integer 1..4, got " .. tostring(i), 4)
  end
  return string.format("%d", i)
end

-- Find the button of `families` on the newest `task` and press it.
local function click(client, name, task, families, what, opts)
  local t, err = M.newest(client, task, "client:" .. name, what)
  if not t then return nil, err end
  local b = buttons.find(t, families)
  if not b then return nil, buttons.missing(t, what) end
  return press(client, t, b, opts)
end

--- See `client:upscale`.
function M.upscale(client, task, i, opts)
  local s = index_arg("upscale", i)
  opts = schemas.upscale:check(opts, 3)
  return click(client, "upscale", task, { buttons.families.upscale(s) }, "U" .. s, opts)
end

--- See `client:variation`.
function M.variation(client, task, i, opts)
  if type(i) == "table" and opts == nil then opts, i = i, nil end
  opts = schemas.variation:check(opts, 3)
  local fams, what = {}, nil
  if i ~= nil then
    local s = index_arg("variation", i)
    fams[#fams + 1] = buttons.families.variation(s)
    what = "V" .. s
  end
  if opts.strong then
    fams[#fams + 1] = buttons.families.vary_strong
    what = what and (what .. " or Vary (Strong)") or "Vary (Strong)"
  else
    fams[#fams + 1] = buttons.families.vary_subtle
    what = what and (what .. " or Vary (Subtle)") or "Vary (Subtle)"
  end
  return click(client, "variation", task, fams, what, opts)
end

--- See `client:reroll`.
function M.reroll(client, task, opts)
  opts = schemas.reroll:check(opts, 3)
  return click(client, "reroll", task, { buttons.families.reroll }, "reroll (🔄)", opts)
end

local zoom_names = { [2] = "Zoom Out 2x", [1.5] = "Zoom Out 1.5x", square = "Make Square" }

--- See `client:zoom_out`.
function M.zoom_out(client, task, factor, opts)
  local fam = buttons.families.zoom[factor]
  if not fam then
    error("client:zoom_out: argument 'factor' must be 2, 1.5 or \"square\", got " .. tostring(factor), 3)
  end
  opts = schemas.zoom_out:check(opts, 3)
  return click(client, "zoom_out", task, { fam }, zoom_names[factor], opts)
end

local dirs = { left = true, right = true, up = true, down = true }

--- See `client:pan`.
function M.pan(client, task, dir, opts)
  if not dirs[dir] then
    error("client:pan: argument 'dir' must be \"left\", \"right\", \"up\" or \"down\", got " .. tostring(dir), 3)
  end
  opts = schemas.pan:check(opts, 3)
  return click(client, "pan", task, { buttons.families.pan(dir) }, "pan " .. dir, opts)
end

--- See `client:upscale_hd`.
function M.upscale_hd(client, task, kind, opts)
  if kind ~= "subtle" and kind ~= "creative" then
    error("client:upscale_hd: argument 'kind' must be \"subtle\" or \"creative\", got " .. tostring(kind), 3)
  end
  opts = schemas.upscale_hd:check(opts, 3)
  local pred, v5 = buttons.families.upscale_hd(kind)
  return click(client, "upscale_hd", task, { pred, v5 }, "Upscale (" .. kind .. ")", opts)
end

-- Press a button that always opens a dialog, wait for its MODAL, answer it with
-- `fields`; then maybe wait for the result.
local function modal_flow(client, name, task, family, what, fields, opts)
  local t, err = M.newest(client, task, "client:" .. name, what)
  if not t then return nil, err end
  local b = buttons.find(t, { family })
  if not b then return nil, buttons.missing(t, what) end
  local o = {}
  for k in pairs(wire_fields) do o[k] = opts[k] end
  local id, env = client:action(t, { customId = b.customId }, o)
  if not id then return nil, env end
  local m, werr = wait_for_modal(client, id, opts)
  if not m then return nil, werr end
  if m.status ~= "MODAL" then
    return nil, errors.new { kind = "api", task = m,
      message = string.format("task %s is %s, expected MODAL after %s", tostring(id), tostring(m.status), what) }
  end
  fields.state = fields.state or opts.state
  fields.notifyHook = fields.notifyHook or opts.notifyHook
  local mid, menv = client:modal(id, fields)
  if not mid then return nil, menv end
  if opts.wait then return client:wait(mid, wait_opts(opts)) end
  return mid, menv
end

-- A mask drawn from shapes at the size of the task's image (its header only is fetched).
local function mask_of_shapes(client, t, shapes)
  local ok, image = pcall(require, "midjourney.image")
  if not ok then
    return nil, errors.new { kind = "invalid", message = "drawing a mask from shapes needs midjourney.image: "
      .. tostring(image) }
  end
  local url = t.imageUrl
  if type(url) ~= "string" or url == "" then
    return nil, errors.new { kind = "invalid", task = t, message = "task " .. tostring(t.id)
      .. " has no image URL to take the mask's size from" }
  end
  local head, err = download.head(client, url)
  if not head then return nil, err end
  local info, ierr = image.info(head)
  if not info then return nil, ierr end
  local png = image.mask(info.width, info.height, shapes) -- raises on malformed shapes
  return image.data_uri(png, { formats = { "png" } })
end

--- See `client:vary_region`.
function M.vary_region(client, task, mask, prompt, opts)
  if type(mask) ~= "string" and type(mask) ~= "table" then
    error("client:vary_region: argument 'mask' must be a string (a PNG data URI, raw base64, a file path or "
      .. "PNG bytes) or a table of shapes, got " .. type(mask), 3)
  end
  if type(prompt) ~= "string" then error("client:vary_region: argument 'prompt' must be a string", 3) end
  opts = schemas.vary_region:check(opts, 3)
  if type(mask) == "table" then
    local t, err = M.newest(client, task, "client:vary_region", "Vary (Region)")
    if not t then return nil, err end
    local m, merr = mask_of_shapes(client, t, mask)
    if not m then return nil, merr end
    task, mask = t, m
  end
  return modal_flow(client, "vary_region", task, buttons.families.vary_region, "Vary (Region)",
    { maskBase64 = mask, prompt = prompt }, opts)
end

--- See `client:custom_zoom`.
function M.custom_zoom(client, task, prompt, opts)
  if type(prompt) ~= "string" then error("client:custom_zoom: argument 'prompt' must be a string", 3) end
  opts = schemas.custom_zoom:check(opts, 3)
  return modal_flow(client, "custom_zoom", task, buttons.families.custom_zoom, "Custom Zoom", { prompt = prompt }, opts)
end

return M
