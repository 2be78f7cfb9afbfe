--- The button catalogue: the customId families the verbs press, which of them open a
-- MODAL dialog, and the messages for a task that has no such button.
--
-- A customId is never built here: the families only *find* a button in the newest
-- `buttons` array of a task (CometAPI warns that customIds are not stable).
--
-- Nothing in this module blocks or yields.
-- @module midjourney.buttons
local customid = require "midjourney.customid"
local errors = require "midjourney.errors"

local M = {}

--- The name a person would use for a button: its label, else its emoji, else its customId.
-- @tparam table b a button
-- @treturn string
function M.name(b)
  local n = (b.label ~= nil and b.label ~= "") and b.label
    or (b.emoji ~= nil and b.emoji ~= "") and b.emoji or b.customId
  return tostring(n)
end

--- The names of a task's buttons, in order.
-- @param t a Task
-- @treturn table list of strings
function M.names(t)
  local out = {}
  for _, b in ipairs(t.buttons or {}) do out[#out + 1] = M.name(b) end
  return out
end

local has_part = customid.has_part

--- Families the verbs press (arguments of `task:button`, or predicates on a customId).
-- @table families
M.families = {
  upscale = function(i) return "upsample::" .. i end,        -- U1..U4 on a grid
  variation = function(i) return "variation::" .. i end,     -- V1..V4 on a grid
  vary_subtle = "low_variation",                              -- Vary (Subtle) on an upscale
  vary_strong = "high_variation",                             -- Vary (Strong)
  reroll = "reroll",                                          -- 🔄
  vary_region = "Inpaint",                                    -- Vary (Region), always MODAL
  custom_zoom = "CustomZoom",                                 -- Custom Zoom, always MODAL
  zoom = { [2] = "Outpaint::50", [1.5] = "Outpaint::75", square = "Outpaint::100" },
  pan = function(dir) return "pan_" .. dir end,
  -- HD upscales: upsample_<version>_2x_subtle / _creative (v6, v6r1, v7), else v5's 2x / 4x
  upscale_hd = function(kind)
    return function(cid) return has_part(cid, "^upsample_.*_" .. kind .. "$") end,
      kind == "subtle" and "upsample_v5_2x" or "upsample_v5_4x"
  end,
}

--- True when pressing the button with this customId can open a Remix dialog (MODAL)
-- when Remix is on: variations (V1–V4, Vary Subtle/Strong), pans and reroll.
-- @tparam string cid
-- @treturn boolean
function M.remixable(cid)
  if type(cid) ~= "string" then return false end
  return has_part(cid, "^variation$") or has_part(cid, "^low_variation$") or has_part(cid, "^high_variation$")
    or has_part(cid, "^pan_%a+$") or has_part(cid, "^reroll$")
end

--- True when pressing the button with this customId always opens a MODAL dialog
-- (Vary Region, Custom Zoom).
-- @tparam string cid
-- @treturn boolean
function M.always_modal(cid)
  if type(cid) ~= "string" then return false end
  return has_part(cid, "^Inpaint$") or has_part(cid, "^CustomZoom$")
end

--- The first button of `t` matching one of `families` (family strings or predicates).
-- @param t a Task
-- @tparam table families list
-- @treturn table|nil the button
function M.find(t, families)
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

--- The error for a task that is not finished, or ended without buttons: kind
-- `"invalid"`, naming its status and percent and what to do.
-- @param t a Task (not SUCCESS)
-- @tparam string what the button asked for
-- @treturn table error
function M.unusable(t, what)
  local id, status = tostring(t.id), tostring(t.status)
  local msg
  if t.status == "MODAL" then
    msg = string.format("task %s is waiting in MODAL: answer it with client:modal (or `mj modal`) "
      .. "before pressing %s", id, what)
  elseif t.status == "FAILURE" or t.status == "CANCEL" then
    msg = string.format("task %s ended with %s and has no buttons (cannot press %s)", id, status, what)
  else
    local pct = t:percent()
    msg = string.format("task %s is not finished (status %s, %s): its buttons appear when it succeeds; "
      .. "wait for it first (client:wait, or `mj wait %s`) before pressing %s",
      id, status == "" and "\"\" (just submitted)" or status, pct and (string.format("%g%%", pct)) or "no progress yet",
      id, what)
  end
  return errors.new { kind = "invalid", task = t, message = msg }
end

--- The error for a finished task without the button asked for: kind `"invalid"`,
-- naming the button and the buttons it has.
-- @param t a Task (SUCCESS)
-- @tparam string what the button asked for
-- @treturn table error
function M.missing(t, what)
  local names = M.names(t)
  return errors.new { kind = "invalid", task = t,
    message = string.format("task %s (status %s, action %s) has no button %s; buttons: %s", tostring(t.id),
      tostring(t.status), tostring(t.action), what, #names > 0 and table.concat(names, " ") or "none") }
end

return M
