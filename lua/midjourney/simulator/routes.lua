--- The CometAPI Midjourney routes of the simulator: auth, validation, envelopes, error
-- shapes (api.md §2, §3.3, §3.4) on top of the task store.
-- @module midjourney.simulator.routes
local json = require("midjourney.simulator.json")
local http = require("midjourney.simulator.http")
local png = require("midjourney.simulator.png")
local tasks = require("midjourney.simulator.tasks")

local M = {}

local format = string.format
local ENV_ORDER = { "code", "description", "result", "properties" }
local RELAY_ORDER = { "description", "type", "code" }

-- method, pattern, route name, needs auth
local ROUTES = {
  { "POST", "^/mj/submit/imagine$", "imagine", true },
  { "POST", "^/mj/submit/action$", "action", true },
  { "POST", "^/mj/submit/modal$", "modal", true },
  { "POST", "^/mj/submit/blend$", "blend", true },
  { "POST", "^/mj/submit/describe$", "describe", true },
  { "POST", "^/mj/submit/shorten$", "shorten", true },
  { "POST", "^/mj/submit/video$", "video", true },
  { "POST", "^/mj/submit/edits$", "edits", true },
  { "POST", "^/mj/submit/edit$", "edits", true },
  { "POST", "^/mj/submit/upload%-discord%-images$", "upload", true },
  { "POST", "^/mj/insight%-face/swap$", "swap", true },
  { "POST", "^/mj/submit/change$", "change", true },
  { "POST", "^/mj/submit/simple%-change$", "simple_change", true },
  { "GET", "^/mj/task/([^/]+)/fetch$", "fetch", true },
  { "POST", "^/mj/task/list%-by%-condition$", "list", true },
  { "GET", "^/mj/task/([^/]+)/image%-seed$", "seed", true },
  { "GET", "^/mj/image/([^/]+)$", "image", false },
  { "GET", "^/mj/image/([^/]+)/(%d+)$", "image_part", false },
  { "GET", "^/mj/attachments/([^/]+)$", "attachment", false },
  { "GET", "^/mj/video/([^/]+)/(%d+)%.mp4$", "video_file", false },
}

--- Find the route of a request. Does not block.
-- @param method HTTP method
-- @param path request path (no query)
-- @return route name (or "unknown"), captures list, needs-auth flag, tier ("FAST"/"TURBO"/"RELAX" or nil)
function M.resolve(method, path)
  local tier
  local prefix, rest = path:match("^/mj%-(%a+)(/mj/.*)$")
  if prefix == "turbo" or prefix == "fast" or prefix == "relax" then
    tier, path = prefix:upper(), rest
  end
  for _, r in ipairs(ROUTES) do
    local caps = { path:match(r[2]) }
    if #caps > 0 then
      if method == r[1] or (method == "HEAD" and r[1] == "GET" and not r[4]) then
        if caps[1] == path and not r[2]:find("%(") then caps = {} end
        return r[3], caps, r[4], tier
      end
    end
  end
  return "unknown", {}, false, tier
end

local request_counter = 0
local function request_id()
  request_counter = request_counter + 1
  return os.date("!%Y%m%d%H%M%S") .. format("%09d%06x", math.floor(os.clock() * 1e6) % 1e9, request_counter)
end

--- The OpenAI-style error envelope (auth and routing errors). Does not block.
-- @param status HTTP status
-- @param message text (a request id is appended)
-- @param etype error type (default "comet_api_error")
-- @return response
function M.openai_error(status, message, etype)
  return http.response(status, json.encode({ error = json.object({ "code", "message", "type" }, {
    code = "", message = message .. " (request id: " .. request_id() .. ")", type = etype or "comet_api_error" }) }))
end

--- The gateway relay error `{"description":"<reason> ","type":"upstream_error","code":n}`. Does not block.
-- @param reason snake_case reason
-- @param code integer (default 4)
-- @param status HTTP status (default 400)
-- @return response
function M.relay_error(reason, code, status)
  return http.response(status or 400, json.encode(json.object(RELAY_ORDER, {
    description = reason .. " ", type = "upstream_error", code = code or 4 })))
end

local function envelope(code, description, result, properties, status)
  local env = json.object(ENV_ORDER, { code = code, description = description,
    result = result == nil and json.null or result, properties = properties or json.object({}, {}) })
  local resp = http.response(status or 200, json.encode(env))
  resp.envelope = env
  return resp
end
M.envelope = envelope

local function fail(code, description)
  return envelope(code, description, nil, nil)
end

local function discord_props(ctx)
  return json.object({ "discordChannelId", "discordInstanceId" },
    { discordChannelId = ctx.store.instance_id, discordInstanceId = ctx.store.instance_id })
end

local function submitted(ctx, t, code, description, props)
  local resp = envelope(code or 1, description or "Submit success", t.id, props or discord_props(ctx))
  resp.task = t
  return resp
end

local function token_of(h)
  local a = h["authorization"]
  if a == nil or a == "" or a == "midjourney-proxy" then a = h["mj-api-secret"] end
  if a == nil or a == "" then return nil end
  a = a:gsub("^Bearer ", ""):gsub("^sk%-", "")
  return a
end

--- Check the Authorization (or mj-api-secret) header. Does not block.
-- @param ctx context (ctx.key: configured key or nil)
-- @param headers request headers (lower-case names)
-- @return nil when allowed, else the 401 response
function M.auth(ctx, headers)
  local tok = token_of(headers)
  if not tok or tok == "" then return M.openai_error(401, "未提供令牌 (no token provided)") end
  if ctx.key and ctx.key ~= "" then
    local want = ctx.key:gsub("^Bearer ", ""):gsub("^sk%-", "")
    if tok ~= want then return M.openai_error(401, "invalid token") end
  end
  return nil
end

local function is_image(s)
  if type(s) ~= "string" then return false end
  if s:match("^https?://[%w%.%-]+") then return true end
  return s:match("^data:image/[%w%.%+%-]+;base64,[%w%+/=\r\n]+$") ~= nil
end

local function str(v)
  if type(v) == "string" then return v end
  if type(v) == "number" then return format("%.0f", v) end
  return nil
end

local function common(b)
  if b.state ~= nil and b.state ~= json.null then
    if type(b.state) ~= "string" then return fail(4, "state参数错误") end
    if #b.state > 255 then return fail(4, "State参数过长，最大255字符") end
  end
  if b.notifyHook ~= nil and b.notifyHook ~= json.null then
    if type(b.notifyHook) ~= "string" then return fail(4, "notifyHook参数错误") end
    if #b.notifyHook > 2000 then return fail(4, "notifyHook参数过长，最大2000字符") end
  end
  return nil
end

local function hook_of(b)
  return type(b.notifyHook) == "string" and b.notifyHook ~= "" and b.notifyHook or nil
end

local function state_of(b)
  return type(b.state) == "string" and b.state or ""
end

local function bot_of(b)
  local bt = type(b.botType) == "string" and b.botType:upper() or ""
  if bt == "NIJI_JOURNEY" or bt == "NIJI" then return "NIJI_JOURNEY" end
  return "MID_JOURNEY"
end

-- Creates the task of a new submit (`fields`: action, kind, prompt...; the body's state and
-- notifyHook and the account's tier are added) and answers that it was submitted.
local function submit_new(ctx, b, fields)
  fields.state, fields.notifyHook, fields.mode = state_of(b), hook_of(b), ctx.tier
  return submitted(ctx, ctx.store:create(fields))
end

local function images_ok(list)
  for i = 1, #list do
    if not is_image(list[i]) then return false end
  end
  return true
end

-- submit code 24 when the prompt holds a banned word (novicezk style, api.md §3.3), else nil
local function banned(ctx, prompt)
  local word = ctx.store:banned_word(prompt)
  if not word then return nil end
  return envelope(24, "可能包含敏感词", nil, json.object({ "promptEn", "bannedWord" },
    { promptEn = prompt, bannedWord = word }))
end

local H = {}

function H.imagine(ctx, b)
  if type(b.prompt) ~= "string" or b.prompt:match("^%s*$") then
    return M.relay_error("prompt_is_required")
  end
  if b.base64Array ~= nil and b.base64Array ~= json.null then
    if type(b.base64Array) ~= "table" or not images_ok(b.base64Array) then return fail(4, "base64格式错误") end
  end
  local ban = banned(ctx, b.prompt)
  if ban then return ban end
  return submit_new(ctx, b, { action = "IMAGINE", kind = "grid", prompt = b.prompt, bot = bot_of(b) })
end

local function action_on(ctx, b, parent_id, custom_id)
  local label, index = tasks.classify(custom_id)
  local store = ctx.store
  local parent = store:get(parent_id)
  if not parent then return M.relay_error("task_not_found") end
  -- the gateway checks its own copy of the parent (it may not have synced the SUCCESS yet)
  if store:visible(parent).status ~= "SUCCESS" then return M.relay_error("task_status_not_success") end
  if not store:has_button(parent, custom_id) then
    return fail(4, "customId不存在 (this task has no button with this customId)")
  end
  if label == "UPSCALE" and parent.upscales[custom_id] then
    local old = store:get(parent.upscales[custom_id])
    if old then
      local p = store:phase(old)
      return submitted(ctx, old, 1, "任务已存在", json.object({ "status", "imageUrl" },
        { status = p.status, imageUrl = p.status == "SUCCESS" and store:image_url(old) or "" }))
    end
  end
  -- a Remix pop-up: asked for with enableRemix, or always when the account is in Remix mode
  local remix = tasks.REMIX_CAPABLE[label] and (b.enableRemix == true or store.remix_mode) or false
  local modal = tasks.ALWAYS_MODAL[label] or remix
  local kind, color = "grid", nil
  if label == "UPSCALE" then
    kind = "upscale"
    color = parent.colors[(parent.kind == "grid" and index and index >= 1 and index <= 4) and index or 1]
  end
  local t = store:create({ action = label, kind = kind, prompt = parent.prompt, promptEn = parent.prompt_en,
    state = state_of(b), notifyHook = hook_of(b), parent = parent, index = index, mode = parent.mode,
    bot = parent.bot, modal = modal and true or false, remix = remix, color = color })
  if label == "UPSCALE" then parent.upscales[custom_id] = t.id end
  if modal then
    t.description = "Waiting for window confirm"
    local props = json.object({ "finalPrompt", "remix" }, { finalPrompt = parent.prompt, remix = true })
    return submitted(ctx, t, tasks.ALWAYS_MODAL[label] and 21 or 1, "Waiting for window confirm", props)
  end
  return submitted(ctx, t)
end

function H.action(ctx, b)
  local custom_id = b.customId
  if type(custom_id) ~= "string" or custom_id == "" then
    return M.openai_error(400, "Invalid request, custom_id_is_required")
  end
  if not tasks.classify(custom_id) then
    return M.openai_error(400, "Invalid request, unknown_action:" .. custom_id)
  end
  local id = str(b.taskId)
  if not id or id == "" then return M.relay_error("task_id_is_required") end
  return action_on(ctx, b, id, custom_id)
end

function H.modal(ctx, b)
  local id = str(b.taskId)
  if not id or id == "" then return M.relay_error("task_id_is_required") end
  local store = ctx.store
  local t = store:get(id)
  if not t then return M.relay_error("task_not_found") end
  local st = store:phase(t).status
  if not t.modal_wait or st == "FAILURE" then return fail(4, "任务状态错误 (the task is not waiting in MODAL)") end
  local prompt = type(b.prompt) == "string" and b.prompt or ""
  -- a Remix pop-up needs the new prompt; Vary Region and Custom Zoom fall back to the parent's
  if prompt:match("^%s*$") and not t.remix then prompt = t.prompt end
  if prompt:match("^%s*$") then return fail(4, "prompt不能为空") end
  local ban = banned(ctx, prompt)
  if ban then return ban end
  if t.action == "CUSTOM_ZOOM" then
    local z = tonumber(prompt:match("%-%-zoom%s+([%d%.]+)") or "")
    if not z or z < 1 or z > 2 then return fail(4, "--zoom 参数错误 (Custom Zoom needs --zoom 1.0-2.0)") end
  end
  if t.action == "INPAINT" then
    local mask = b.maskBase64
    if type(mask) ~= "string" or mask == "" then return fail(4, "maskBase64不能为空") end
    local raw = mask:gsub("^data:image/png;base64,", "")
    if not raw:match("^[%w%+/=\r\n]+$") then return fail(4, "maskBase64格式错误") end
    -- the mask must be a PNG of the image's size (the upstream refuses anything else)
    local w, h = png.header_size(png.unbase64(raw:gsub("[\r\n]", ""):sub(1, 44)))
    local side = png.SIDE
    if not w then return fail(4, "maskBase64格式错误 (not a PNG)") end
    if w ~= side or h ~= side then
      return fail(4, string.format("mask size %dx%d does not match the image (%dx%d)", w, h, side, side))
    end
  end
  store:continue_modal(t, prompt)
  return submitted(ctx, t, 1, "提交成功")
end

function H.blend(ctx, b)
  local list = b.base64Array
  if type(list) ~= "table" or #list == 0 then return fail(4, "base64List参数错误") end
  if #list < 2 or #list > 5 then return fail(4, "图片参数错误，2~5张图片") end
  if not images_ok(list) then return fail(4, "base64格式错误") end
  local dim = b.dimensions
  if dim ~= nil and dim ~= json.null and dim ~= "PORTRAIT" and dim ~= "SQUARE" and dim ~= "LANDSCAPE" then
    return fail(4, "dimensions参数错误")
  end
  return submit_new(ctx, b, { action = "BLEND", kind = "grid", prompt = "", bot = bot_of(b) })
end

function H.describe(ctx, b)
  local img = b.base64
  local link = b.link
  if (type(img) ~= "string" or img == "") and (type(link) ~= "string" or link == "") then
    return fail(4, "base64和link不能同时为空")
  end
  if type(img) == "string" and img ~= "" and not is_image(img) then return fail(4, "base64格式错误") end
  if (type(img) ~= "string" or img == "") and not link:match("^https?://") then return fail(4, "link格式错误") end
  return submit_new(ctx, b, { action = "DESCRIBE", kind = "describe", prompt = "", bot = bot_of(b) })
end

function H.shorten(ctx, b)
  if type(b.prompt) ~= "string" or b.prompt:match("^%s*$") then return fail(4, "prompt不能为空") end
  local ban = banned(ctx, b.prompt)
  if ban then return ban end
  return submit_new(ctx, b, { action = "SHORTEN", kind = "shorten", prompt = b.prompt, bot = bot_of(b) })
end

function H.video(ctx, b)
  local store = ctx.store
  -- the gateway first looks the parent up in its own rows when a taskId is given
  -- (relay/mjproxy_handler.go): unknown -> task_not_found, not SUCCESS there -> task_status_not_success
  local parent_id = str(b.taskId)
  local parent
  if parent_id and parent_id ~= "" then
    parent = store:get(parent_id)
    if not parent then return M.relay_error("task_not_found") end
    if store:visible(parent).status ~= "SUCCESS" then return M.relay_error("task_status_not_success") end
  end
  local batch = b.batchSize
  if batch == nil or batch == json.null then batch = 4 end
  if batch ~= 1 and batch ~= 2 and batch ~= 4 then return fail(4, "batchSize参数错误 (1, 2 or 4)") end
  if b.motion ~= nil and b.motion ~= json.null and b.motion ~= "low" and b.motion ~= "high" then
    return fail(4, "motion参数错误 (low or high)")
  end
  local prompt = type(b.prompt) == "string" and b.prompt or ""
  if b.action == "extend" then
    if not parent then return fail(4, "taskId不能为空") end
    local idx = b.index
    if type(idx) ~= "number" or idx < 0 or idx > 3 or idx % 1 ~= 0 then return fail(4, "index参数错误 (0..3)") end
    if parent.kind ~= "video" then return fail(4, "关联任务状态错误 (not a video task)") end
    if idx >= parent.batch then
      return fail(4, format("index参数错误 (the parent has %d video%s)", parent.batch, parent.batch == 1 and "" or "s"))
    end
    if prompt == "" then prompt = parent.prompt end
  else
    parent = nil
    if not is_image(b.image) then
      return fail(4, (b.image == nil or b.image == "") and "image不能为空" or "image格式错误")
    end
    if b.endImage ~= nil and b.endImage ~= json.null and b.endImage ~= "" and not is_image(b.endImage) then
      return fail(4, "endImage格式错误")
    end
  end
  local ban = banned(ctx, prompt)
  if ban then return ban end
  return submit_new(ctx, b, { action = "VIDEO", kind = "video", prompt = prompt, parent = parent, batch = batch,
    index = parent and b.index or nil })
end

function H.edits(ctx, b)
  if type(b.prompt) ~= "string" or b.prompt:match("^%s*$") then return fail(4, "prompt不能为空") end
  if b.image == nil or b.image == "" then return fail(4, "image不能为空") end
  if type(b.image) ~= "string" then return fail(4, "image格式错误") end
  local ban = banned(ctx, b.prompt)
  if ban then return ban end
  return submit_new(ctx, b, { action = "EDITS", kind = "grid", prompt = b.prompt })
end

function H.upload(ctx, b)
  local list = b.base64Array
  if type(list) ~= "table" or #list == 0 then return fail(4, "base64List参数错误") end
  if not images_ok(list) then return fail(4, "base64格式错误") end
  local urls = json.array()
  for i = 1, #list do
    local name = ctx.store.rng:uuid() .. ".png"
    ctx.attachments[name] = { ctx.store.rng:int(40, 230), ctx.store.rng:int(40, 230), ctx.store.rng:int(40, 230) }
    urls[i] = ctx.base_url() .. "/mj/attachments/" .. name
  end
  local resp = http.response(200, json.encode(json.object({ "code", "description", "result" },
    { code = 1, description = "提交成功", result = urls })))
  return resp
end

function H.swap(ctx, b)
  if type(b.sourceBase64) ~= "string" or b.sourceBase64 == "" or type(b.targetBase64) ~= "string"
      or b.targetBase64 == "" then
    return M.relay_error("sour_base64_and_target_base64_is_required")
  end
  return submit_new(ctx, b, { action = "SWAP_FACE", kind = "single", prompt = "InsightFace", bot = "INSIGHT_FACE" })
end

local CHANGE_ACTIONS = { UPSCALE = true, VARIATION = true, REROLL = true }

local function change(ctx, b, id, action, index)
  -- the gateway's checks (relay/mjproxy_handler.go), then the upstream's
  if not id or id == "" then return M.relay_error("task_id_is_required") end
  if type(action) ~= "string" or action == "" then return M.relay_error("action_is_required") end
  if not index or index == 0 then return M.relay_error("index_is_required") end
  local store = ctx.store
  local parent = store:get(id)
  if not parent then return M.relay_error("task_not_found") end
  if store:visible(parent).status ~= "SUCCESS" then return M.relay_error("task_status_not_success") end
  if not CHANGE_ACTIONS[action] then return fail(4, "action参数错误 (UPSCALE, VARIATION or REROLL)") end
  if index < 1 or index > 4 or index % 1 ~= 0 then return fail(4, "index参数错误 (1..4)") end
  local custom_id
  if action == "UPSCALE" then custom_id = "MJ::JOB::upsample::" .. index .. "::" .. parent.hash
  elseif action == "VARIATION" then custom_id = "MJ::JOB::variation::" .. index .. "::" .. parent.hash
  else custom_id = "MJ::JOB::reroll::0::" .. parent.hash .. "::SOLO" end
  return action_on(ctx, b, id, custom_id)
end

function H.change(ctx, b)
  return change(ctx, b, str(b.taskId), b.action, tonumber(b.index))
end

function H.simple_change(ctx, b)
  local id, tok = (type(b.content) == "string" and b.content or ""):match("^%s*(%d+)%s+(%S+)%s*$")
  if not id then return M.openai_error(400, "Invalid request, invalid_request") end
  local letter, n = tok:match("^([UVR])(%d?)$")
  if not letter then return M.openai_error(400, "Invalid request, invalid_request") end
  local action = ({ U = "UPSCALE", V = "VARIATION", R = "REROLL" })[letter]
  return change(ctx, b, id, action, tonumber(n) or (letter == "R" and 1 or nil))
end

function H.fetch(ctx, _, caps)
  local t = ctx.store:get(caps[1])
  if not t then return M.relay_error("task_no_found") end
  return http.response(200, json.encode(ctx.store:public(t)))
end

function H.list(ctx, b)
  local out = json.array()
  local ids = b.ids
  if type(ids) ~= "table" then return http.response(200, "[]") end
  local seen, found = {}, {}
  for _, raw in ipairs(ids) do
    local id = str(raw)
    if id and not seen[id] then
      seen[id] = true
      local t = ctx.store:get(id)
      if t then found[#found + 1] = t end
    end
  end
  -- the database order, not the input order: newest first
  table.sort(found, function(a, c)
    if #a.id ~= #c.id then return #a.id > #c.id end
    return a.id > c.id
  end)
  local now = ctx.store.clock()
  for _, t in ipairs(found) do
    for _, row in ipairs(ctx.store:rows(t, now)) do out[#out + 1] = row end
  end
  return http.response(200, json.encode(out))
end

function H.seed(ctx, _, caps)
  local t = ctx.store:get(caps[1])
  if not t then return M.relay_error("task_no_found") end
  if ctx.store:phase(t).status ~= "SUCCESS" then
    return envelope(4, "关联任务状态错误", nil, nil, 400)
  end
  return envelope(1, "成功", t.seed, nil)
end

-- the gateway streams the image its own row points at: the final one once it synced SUCCESS,
-- the preview while its row shows IN_PROGRESS at 10% or more
function H.image(ctx, _, caps)
  local store = ctx.store
  local t = store:get(caps[1])
  if not t then return http.response(400, '{"error":"midjourney_task_not_found"}') end
  local p = store:visible(t)
  if t.kind == "shorten" or not (p.status == "SUCCESS" or (p.status == "IN_PROGRESS" and p.pct >= 10)) then
    return http.response(500, '{"error":"http_get_image_failed"}')
  end
  return http.response(200, store:png(t, p.status ~= "SUCCESS"), "image/png")
end

-- one image of a finished grid (only with the image_urls option; the gateway has no such route)
function H.image_part(ctx, _, caps, req)
  local store = ctx.store
  if not store.image_urls then return M.handle(ctx, "unknown", {}, false, req) end
  local t = store:get(caps[1])
  if not t then return http.response(400, '{"error":"midjourney_task_not_found"}') end
  local i = tonumber(caps[2])
  if t.kind ~= "grid" or i > 3 then return http.response(404, '{"error":"image_not_found"}') end
  if store:visible(t).status ~= "SUCCESS" then return http.response(500, '{"error":"http_get_image_failed"}') end
  return http.response(200, store:png_part(t, i), "image/png")
end

function H.attachment(ctx, _, caps)
  local color = ctx.attachments[caps[1]]
  if not color then return http.response(404, '{"error":"attachment_not_found"}') end
  if not ctx.attachment_png[caps[1]] then ctx.attachment_png[caps[1]] = png.single(color, 64) end
  return http.response(200, ctx.attachment_png[caps[1]], "image/png")
end

function H.video_file()
  -- a tiny ISO-BMFF "ftyp" box: enough for a download test, not a playable video
  return http.response(200, "\0\0\0\24ftypisom\0\0\2\0isomiso2", "video/mp4")
end

local BODY_ROUTES = { imagine = true, action = true, modal = true, blend = true, describe = true,
  shorten = true, video = true, edits = true, upload = true, swap = true, change = true,
  simple_change = true, list = true }

--- Handle a request on a resolved route. Does not block.
-- @param ctx {store=, key=, base_url=, attachments=, attachment_png=, tier=}
-- @param route route name from `resolve`
-- @param caps captures from `resolve`
-- @param needs_auth boolean
-- @param req parsed request (method, path, headers, body)
-- @return response {status=, headers=, body=, envelope=?, task=?}
function M.handle(ctx, route, caps, needs_auth, req)
  if route == "unknown" then
    return http.response(404, json.encode({ error = json.object({ "message", "type", "param", "code" }, {
      message = "Invalid URL (" .. req.method .. " " .. req.path .. ")", type = "invalid_request_error",
      param = "", code = "" }) }))
  end
  if needs_auth then
    local denied = M.auth(ctx, req.headers)
    if denied then return denied end
  end
  local b = {}
  if BODY_ROUTES[route] then
    local v, err = json.decode(req.body or "")
    if type(v) ~= "table" or v == json.null or getmetatable(v) then
      return M.openai_error(400, "Invalid request, " .. (err or "the body must be a JSON object"))
    end
    b = v
    if route ~= "list" then
      local bad = common(b)
      if bad then return bad end
    end
  end
  return H[route](ctx, b, caps, req)
end

return M
