---@meta
-- LuaCATS definitions of midjourney.task for lua-language-server (see README "Editor
-- support"). The LDoc reference (`make doc`) has the full documentation;
-- spec/annotations_spec.lua checks this file against the real module.

---A button of a finished task (`task.buttons`).
---@class midjourney.Button
---@field customId string # resolve it from the newest snapshot; never build one
---@field label string # "U1", "V3", "Vary (Strong)", "Zoom Out 2x", ... (may be "")
---@field emoji string # "🔄", "upscale_1", ... (often "")
---@field style? integer # Discord's style number (cosmetic)
---@field type? integer # always 2

---A task's buttons: a list, also callable (`task:buttons()` returns the same list).
---@class midjourney.Buttons: midjourney.Button[]
---@overload fun(self: midjourney.Buttons): midjourney.Button[]

---A task: the decoded task object with its wire field names, plus methods. Unknown wire fields
---are kept as they are; JSON nulls read as nil. Methods never block and never yield.
---@class midjourney.Task
---@field id string # always a string, the exact text the server sent
---@field status string # "", "NOT_START", "SUBMITTED", "IN_PROGRESS", "MODAL", "SUCCESS", "FAILURE", "CANCEL"
---@field progress? string|number # "0%", "45%", "100%", "" ...: see `task:percent()`
---@field action? string # "IMAGINE", "UPSCALE", "VARIATION", ... (an open enum)
---@field prompt? string
---@field promptEn? string
---@field description? string
---@field state? string # the `state` sent with the submit
---@field submitTime? number # epoch milliseconds
---@field startTime? number
---@field finishTime? number
---@field imageUrl? string
---@field imageUrls? table[] # `{url=}` per image, when the gateway gives them
---@field videoUrl? string
---@field videoUrls? table[]
---@field failReason? string
---@field properties? table # `finalPrompt`, ...
---@field buttons midjourney.Buttons # always a list (empty when the server sent none)
local Task = {}

---Progress as a number 0..100, or nil when unknown ("", "N/A", absent).
---@return number?
function Task:percent() end

---True when polling should stop: SUCCESS, FAILURE, CANCEL or MODAL.
---@return boolean
function Task:is_done() end

---True when the task ended badly (FAILURE or CANCEL).
---@return boolean
function Task:is_failed() end

---Finds a button by label, emoji, exact customId, customId family ("upsample::2"), or a table.
---@param spec string|table
---@return midjourney.Button?
function Task:button(spec) end

---The four prompts of a finished DESCRIBE task, without their numbering.
---@return string[]
function Task:suggestions() end

---A plain table copy of the task (all fields, buttons as a plain list).
---@return table
function Task:totable() end

---Task objects.
---@class midjourney.task
---@field done table<string, boolean> # the statuses polling stops on (SUCCESS, FAILURE, CANCEL, MODAL)
local M = {}

---Builds a Task from a decoded table (adopted, not copied). Neither blocks nor yields.
---@param t table
---@return midjourney.Task
function M.new(t) end

---Builds a Task lazily from the scanner's fields of one task object and its JSON text.
---Neither blocks nor yields.
---@param fields table
---@param body string
---@return midjourney.Task
function M.from_scan(fields, body) end

---Builds a Task from a JSON object text, lazily. Neither blocks nor yields.
---@param body string
---@return midjourney.Task? task
---@return string? why
function M.from_json(body) end

---True when `v` is a Task. Neither blocks nor yields.
---@param v any
---@return boolean
function M.is_task(v) end

return M
