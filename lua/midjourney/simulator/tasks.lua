--- Task store and lifecycle of the simulator, in scaled time.
-- A task's upstream state is computed lazily from the clock whenever it is read:
-- NOT_START, SUBMITTED ("0%"), IN_PROGRESS (rising "NN%"), then SUCCESS ("100%") or
-- FAILURE ("100%" plus failReason). `speed` divides every duration.
--
-- What fetch and list show is the gateway's copy (api.md §6): by default it is refreshed
-- only at sync points, every `sync` gateway seconds (15), so it shows the placeholder
-- (status `""`) until the first sync and then moves in steps. After `/submit/modal` the
-- old MODAL row stays visible until the next sync, and list also returns a second row
-- (action "MODAL") for the same id (api.md §4.3). `instant = true` shows the upstream
-- state at once (with a short `""` placeholder phase of its own), one row per id.
-- @module midjourney.simulator.tasks
local json = require("midjourney.simulator.json")
local rngmod = require("midjourney.simulator.rng")
local png = require("midjourney.simulator.png")

local M = {}
local Store = {}
Store.__index = Store

local floor, format = math.floor, string.format

--- Failure reasons used by the simulator.
M.BANNED_REASON = "[Banned prompt detected] Sorry! Our AI moderator thinks this prompt is probably "
  .. "against our community standards."
M.HOUR_REASON = "上游任务超时（超过1小时）"
M.HOUR = 3600
--- The gateway's default sync period in gateway seconds (api.md §6).
M.SYNC = 15
--- Default banned words: a prompt containing one gets submit code 24.
M.BANNED_WORDS = { "forbiddenword" }
--- The description of the second row a modal submit adds (the modal submit's answer).
M.MODAL_DESCRIPTION = "提交成功"
--- How many tasks keep their PNG bytes cached.
M.PNG_CACHE = 32

-- durations in simulated seconds: placeholder, NOT_START, SUBMITTED, IN_PROGRESS
local DURATIONS = {
  grid = { ph = { 1, 3 }, ns = { 1, 3 }, sub = { 2, 4 }, run = { 25, 50 } },
  upscale = { ph = { 1, 2 }, ns = { 0.5, 1 }, sub = { 1, 2 }, run = { 5, 10 } },
  single = { ph = { 1, 2 }, ns = { 0.5, 1 }, sub = { 1, 2 }, run = { 5, 10 } },
  describe = { ph = { 1, 2 }, ns = { 0.5, 1 }, sub = { 1, 2 }, run = { 3, 6 } },
  shorten = { ph = { 1, 2 }, ns = { 0.5, 1 }, sub = { 1, 2 }, run = { 3, 6 } },
  video = { ph = { 1, 3 }, ns = { 1, 3 }, sub = { 2, 4 }, run = { 60, 120 } },
}

local DTO_ORDER = { "id", "action", "customId", "botType", "prompt", "promptEn", "description",
  "state", "submitTime", "startTime", "finishTime", "imageUrl", "imageUrls", "videoUrl", "videoUrls",
  "status",
  "progress", "failReason", "buttons", "maskBase64", "properties" }
local UPSTREAM_ORDER = { "id", "parentId", "botType", "action", "status", "prompt", "promptEn",
  "promptFull", "description", "state", "submitTime", "startTime", "finishTime", "imageUrl",
  "progress", "failReason", "jobId", "mode", "version", "buttons", "properties" }
local BUTTON_ORDER = { "customId", "emoji", "label", "type", "style" }
local PROPS_ORDER = { "finalPrompt", "finalZhPrompt" }

local function button(custom_id, emoji, label)
  return json.object(BUTTON_ORDER, { customId = custom_id, emoji = emoji, label = label, type = 2, style = 2 })
end

--- The 9 grid buttons (U1-U4, reroll, V1-V4) for a job hash. Does not block.
-- @param hash job UUID
-- @return list of buttons
function M.grid_buttons(hash)
  local b = json.array()
  for i = 1, 4 do b[#b + 1] = button("MJ::JOB::upsample::" .. i .. "::" .. hash, "", "U" .. i) end
  b[#b + 1] = button("MJ::JOB::reroll::0::" .. hash .. "::SOLO", "🔄", "")
  for i = 1, 4 do b[#b + 1] = button("MJ::JOB::variation::" .. i .. "::" .. hash, "", "V" .. i) end
  return b
end

--- Midjourney version family of a prompt: "v7", "v6r1", "v6" or "v5". Does not block.
-- @param prompt string
-- @return string
function M.version(prompt)
  prompt = prompt or ""
  local v = prompt:match("%-%-v%s+([%d%.]+)") or prompt:match("%-%-version%s+([%d%.]+)")
  local niji = prompt:match("%-%-niji%s*([%d%.]*)")
  if niji then v = (niji ~= "" and niji) or "6" end
  if not v then return "v7" end
  if v:match("^6%.1") then return "v6r1" end
  if v:match("^6") then return "v6" end
  if v:match("^5") then return "v5" end
  return "v7"
end

--- The 13 buttons of an upscaled image (api.md 7.8). Does not block.
-- @param hash job UUID
-- @param version from `version`
-- @return list of buttons
function M.upscale_buttons(hash, version)
  local b = json.array()
  local tail = "::1::" .. hash .. "::SOLO"
  if version == "v5" then
    b[#b + 1] = button("MJ::JOB::upsample_v5_2x" .. tail, "upscale_1", "Upscale (2x)")
    b[#b + 1] = button("MJ::JOB::upsample_v5_4x" .. tail, "upscale_1", "Upscale (4x)")
  else
    b[#b + 1] = button("MJ::JOB::upsample_" .. version .. "_2x_subtle" .. tail, "upscale_1", "Upscale (Subtle)")
    b[#b + 1] = button("MJ::JOB::upsample_" .. version .. "_2x_creative" .. tail, "upscale_1", "Upscale (Creative)")
  end
  b[#b + 1] = button("MJ::JOB::low_variation" .. tail, "🪄", "Vary (Subtle)")
  b[#b + 1] = button("MJ::JOB::high_variation" .. tail, "🪄", "Vary (Strong)")
  b[#b + 1] = button("MJ::Inpaint" .. tail, "🖌️", "Vary (Region)")
  b[#b + 1] = button("MJ::Outpaint::50" .. tail, "🔍", "Zoom Out 2x")
  b[#b + 1] = button("MJ::Outpaint::75" .. tail, "🔍", "Zoom Out 1.5x")
  b[#b + 1] = button("MJ::CustomZoom::" .. hash, "🔍", "Custom Zoom")
  b[#b + 1] = button("MJ::JOB::pan_left" .. tail, "⬅️", "")
  b[#b + 1] = button("MJ::JOB::pan_right" .. tail, "➡️", "")
  b[#b + 1] = button("MJ::JOB::pan_up" .. tail, "⬆️", "")
  b[#b + 1] = button("MJ::JOB::pan_down" .. tail, "⬇️", "")
  b[#b + 1] = button("MJ::BOOKMARK::" .. hash, "❤️", "")
  return b
end

local KEYCAPS = { "1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣" }

--- Describe's PicReader buttons. Does not block.
-- @return list of buttons
function M.describe_buttons()
  local b = json.array()
  for i = 1, 4 do b[#b + 1] = button("MJ::Job::PicReader::" .. i, KEYCAPS[i], "") end
  b[#b + 1] = button("MJ::Picread::Retry", "🔄", "")
  return b
end

local function shorten_buttons(hash)
  local b = json.array()
  for i = 1, 5 do b[#b + 1] = button("MJ::Job::PromptAnalyzer::" .. hash .. "::" .. i, KEYCAPS[i], "") end
  return b
end

local function video_buttons(hash, n)
  local b = json.array()
  for i = 1, n do b[#b + 1] = button("MJ::JOB::video_virtual_upscale::" .. i .. "::" .. hash, "", "U" .. i) end
  b[#b + 1] = button("MJ::JOB::reroll::0::" .. hash .. "::SOLO", "🔄", "")
  return b
end

--- Classify a customId the way the gateway does (api.md §4.3). Does not block.
-- @param custom_id string
-- @return gateway action label ("UPSCALE", "VARIATION", ...) and the index, or nil
function M.classify(custom_id)
  local parts = {}
  for p in (custom_id .. "::"):gmatch("(.-)::") do parts[#parts + 1] = p end
  if #parts < 2 then return nil end
  local verb = parts[2] == "JOB" and parts[3] or parts[2]
  if not verb or verb == "" then return nil end
  local index = tonumber(parts[4] or "")
  if verb:find("upsample", 1, true) then
    if not index then return nil end
    return "UPSCALE", index
  elseif verb:find("variation", 1, true) then
    if verb == "low_variation" then return "LOW_VARIATION", index end
    if verb == "high_variation" then return "HIGH_VARIATION", index end
    return "VARIATION", index
  elseif verb:find("pan", 1, true) then return "PAN", index
  elseif verb:find("reroll", 1, true) then return "REROLL", index
  elseif verb == "Outpaint" then return "ZOOM", index
  elseif verb == "CustomZoom" then return "CUSTOM_ZOOM", index
  elseif verb == "Inpaint" then return "INPAINT", index
  end
  return nil
end

--- Actions that can open a Remix pop-up (enableRemix).
M.REMIX_CAPABLE = { VARIATION = true, LOW_VARIATION = true, HIGH_VARIATION = true, PAN = true, REROLL = true }
--- Actions that always open a modal (code 21).
M.ALWAYS_MODAL = { INPAINT = true, CUSTOM_ZOOM = true }

local WORDS = {
  adj = { "misty", "golden", "quiet", "neon", "ancient", "tiny", "vast", "pastel", "stormy", "glowing" },
  noun = { "paper boat", "lighthouse", "fox", "city street", "forest", "teapot", "robot", "mountain lake",
    "violin", "garden" },
  style = { "watercolor", "oil painting", "35mm photo", "minimalist", "isometric", "ink sketch",
    "cinematic lighting", "soft focus" },
}

--- Make a store. Does not block.
-- @param opts {speed=, seed=, clock=function() -> seconds, base_url=function() -> "http://host:port",
--   instant=false, sync=15 (gateway seconds), image_urls=false, remix_mode=false,
--   banned_words=list (default `BANNED_WORDS`)}
-- @return store
function M.new(opts)
  local seeded = opts.seed ~= nil
  local s = setmetatable({
    speed = opts.speed or 1,
    rng = rngmod.new(opts.seed),
    seeded = seeded,
    clock = opts.clock,
    base_url = opts.base_url,
    instant = opts.instant and true or false,
    sync = tonumber(opts.sync) or M.SYNC,
    image_urls = opts.image_urls and true or false,
    remix_mode = opts.remix_mode and true or false,
    banned_words = opts.banned_words or M.BANNED_WORDS,
    tasks = {},
    list = {},
    count = 0,
    last_ms = 0,
    stats_since = opts.clock(),
    epoch = opts.clock(),
    forced = {},
  }, Store)
  s.instance_id = s.rng:hex(16)
  return s
end

--- A fresh task id: millisecond timestamp plus 3 random digits (16 digits). Does not block.
-- @return string
function Store:new_id()
  self.count = self.count + 1
  local ms
  if self.seeded then
    ms = 1773314942000 + self.count * 1371
  else
    ms = floor(self.clock() * 1000)
    if ms <= self.last_ms then ms = self.last_ms + 1 end
  end
  self.last_ms = ms
  return format("%d%03d", ms, self.rng:int(0, 999))
end

local function colors_for(text, rng_hash)
  local h = rngmod.hash(text)
  local base = h % 360
  local colors = {}
  for i = 1, 4 do
    local r, g, b = png.hsv(base + (i - 1) * 90 + (floor(h / 360) % 30), 0.65, 0.9)
    colors[i] = { r, g, b }
  end
  return colors, rng_hash
end

local function final_prompt(prompt, mode)
  if prompt == "" then return "" end
  if prompt:find("%-%-fast") or prompt:find("%-%-relax") or prompt:find("%-%-turbo") then return prompt end
  return prompt .. " --" .. (mode or "fast"):lower()
end

--- Create a task. Does not block.
-- @param spec {action=, kind="grid"|"upscale"|"single"|"describe"|"shorten"|"video", prompt=,
--   state=, notifyHook=, parent=task, index=, mode=, description=, modal=bool, color=, batch=,
--   promptEn=, bot=}
-- @return task
function Store:create(spec)
  local now = self.clock()
  local rng = self.rng
  local d = DURATIONS[spec.kind] or DURATIONS.grid
  local t = {
    id = self:new_id(),
    action = spec.action,
    kind = spec.kind,
    prompt = spec.prompt or "",
    prompt_en = spec.promptEn or spec.prompt or "",
    state = spec.state or "",
    hook = spec.notifyHook,
    parent = spec.parent,
    index = spec.index,
    mode = spec.mode or "FAST",
    bot = spec.bot or "MID_JOURNEY",
    description = spec.description or "Submit success",
    created = now,
    base = now,
    submit_ms = floor(now * 1000),
    hash = rng:uuid(),
    seed = format("%d", rng:int(1000000000, 4294967295)),
    batch = spec.batch or 4,
    d = {
      ph = rng:range(d.ph[1], d.ph[2]),
      ns = rng:range(d.ns[1], d.ns[2]),
      sub = rng:range(d.sub[1], d.sub[2]),
      run = rng:range(d.run[1], d.run[2]),
    },
    modal_wait = spec.modal or false,
    remix = spec.remix or false,
    patch = {},
    upscales = {},
  }
  -- seeded runs sync each task on a grid of its own, at a fixed offset from its creation,
  -- so that what fetch shows repeats too; otherwise one global grid, like the gateway's loop
  if self.seeded then t.sync_frac = 0.05 + 0.95 * (rngmod.hash(t.id) % 9973) / 9973 end
  t.final_prompt = final_prompt(t.prompt_en, t.mode)
  if spec.color then
    t.colors = { spec.color }
  else
    t.colors = colors_for((t.prompt ~= "" and t.prompt or t.hash) .. (spec.parent and t.hash or ""))
  end
  if t.prompt:lower():find("banned", 1, true) and (t.kind == "grid" or t.kind == "video") then
    t.fail_reason, t.fail_at = M.BANNED_REASON, 0
  end
  self.tasks[t.id] = t
  self.list[#self.list + 1] = t
  return t
end

--- Apply a job fault (stick, fail, disappear) to a task. Does not block.
-- @param t task
-- @param rule fault rule {kind=, percent=, reason=, at=}
function Store:apply_job_fault(t, rule)
  if rule.kind == "stick" then
    t.stick_at = tonumber(rule.percent or rule.at) or 50
  elseif rule.kind == "fail" then
    t.fail_reason = rule.reason or "[Invalid parameter] simulated failure"
    t.fail_at = (tonumber(rule.at or rule.percent) or 0) / 100
  elseif rule.kind == "disappear" then
    local at = tonumber(rule.at or rule.percent)
    if not at then
      t.gone_at = self.clock()
    else
      local d = t.d
      t.gone_at = t.base + (d.ph + d.ns + d.sub + d.run * at / 100) / self.speed
    end
  end
end

--- Look a task up; disappeared tasks are not found. Does not block.
-- @param id string
-- @return task or nil
function Store:get(id)
  local t = self.tasks[tostring(id)]
  if not t then return nil end
  if t.gone_at and self.clock() >= t.gone_at then return nil end
  return t
end

--- The phase of a task at time `now` (seconds). Does not block.
-- @param t task
-- @param now seconds (default the clock)
-- @return {status=, pct=number|nil, start=seconds|nil, finish=seconds|nil, reason=}
function Store:phase(t, now)
  now = now or self.clock()
  local sp, d = self.speed, t.d
  local hour_at = t.created + M.HOUR / sp
  local p
  -- without `instant` the placeholder is the gateway's (see `visible`): upstream starts at NOT_START
  local ph = self.instant and d.ph or 0
  if t.modal_wait then
    if (now - t.created) * sp < ph then p = { status = "" } else p = { status = "MODAL" } end
  else
    local e = (now - t.base) * sp
    local t1 = d.ph
    local t2 = t1 + d.ns
    local t3 = t2 + d.sub
    local start = t.base + t3 / sp
    if e < t1 then p = { status = self.instant and "" or "NOT_START" }
    elseif e < t2 then p = { status = "NOT_START" }
    elseif e < t3 then p = { status = "SUBMITTED", pct = 0 }
    else
      local frac = (e - t3) / d.run
      if t.fail_reason and frac >= t.fail_at then
        p = { status = "FAILURE", pct = 100, start = start, reason = t.fail_reason,
              finish = t.base + (t3 + d.run * t.fail_at) / sp }
      elseif t.stick_at and frac * 100 >= t.stick_at then
        p = { status = "IN_PROGRESS", pct = t.stick_at, start = start }
      elseif frac >= 1 then
        p = { status = "SUCCESS", pct = 100, start = start, finish = t.base + (t3 + d.run) / sp }
      else
        p = { status = "IN_PROGRESS", pct = floor(frac * 100), start = start }
      end
    end
  end
  if p.status ~= "SUCCESS" and p.status ~= "FAILURE" and now >= hour_at then
    p = { status = "FAILURE", pct = 100, start = p.start, reason = M.HOUR_REASON, finish = hour_at }
  end
  return p
end

--- When a task leaves the non-terminal states (seconds; may be in the future). Does not block.
-- @param t task
-- @return seconds
function Store:end_time(t)
  local sp, d = self.speed, t.d
  local hour_at = t.created + M.HOUR / sp
  local e
  if t.modal_wait or t.stick_at then
    e = hour_at
  else
    local t3 = d.ph + d.ns + d.sub
    if t.fail_reason then e = t.base + (t3 + d.run * t.fail_at) / sp
    else e = t.base + (t3 + d.run) / sp end
    if t.stick_at then e = hour_at end
    if e > hour_at then e = hour_at end
  end
  if t.gone_at and t.gone_at < e then e = t.gone_at end
  return e
end

--- The most tasks that were non-terminal at the same moment since the last reset. Does not block.
-- @return integer
function Store:max_in_flight()
  local now, since = self.clock(), self.stats_since
  local ev = {}
  for _, t in ipairs(self.list) do
    local e = self:end_time(t)
    if e > since then
      local s = t.created > since and t.created or since
      if e > now then e = now + 1 end
      ev[#ev + 1] = { s, 1 }
      ev[#ev + 1] = { e, -1 }
    end
  end
  table.sort(ev, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local cur, best = 0, 0
  for _, x in ipairs(ev) do
    cur = cur + x[2]
    if cur > best then best = cur end
  end
  return best
end

--- Restart the statistics window (for `/_sim/reset`). Does not block.
function Store:reset_stats()
  self.stats_since = self.clock()
end

--- Continue a MODAL task after `/submit/modal`. Does not block.
-- @param t task in MODAL
-- @param prompt the prompt to use
function Store:continue_modal(t, prompt)
  t.modal_wait = false
  t.base = self.clock()
  t.modal_at = t.base
  t.d.ph, t.d.ns = 0, 0
  t.prompt_en = prompt
  t.final_prompt = final_prompt(prompt, t.mode)
  if prompt:lower():find("banned", 1, true) then t.fail_reason, t.fail_at = M.BANNED_REASON, 0 end
end

--- The buttons of a finished task. Does not block.
-- @param t task
-- @return list
function Store:buttons(t) -- luacheck: no unused args
  if t.kind == "grid" then return M.grid_buttons(t.hash)
  elseif t.kind == "upscale" then return M.upscale_buttons(t.hash, M.version(t.prompt))
  elseif t.kind == "describe" then return M.describe_buttons()
  elseif t.kind == "shorten" then return shorten_buttons(t.hash)
  elseif t.kind == "video" then return video_buttons(t.hash, t.batch)
  end
  return json.array()
end

--- True when the task has a button with exactly this customId. Does not block.
-- @param t task
-- @param custom_id string
-- @return boolean
function Store:has_button(t, custom_id)
  for _, b in ipairs(self:buttons(t)) do
    if b.customId == custom_id then return true end
  end
  return false
end

--- The describe suggestions for a task. Does not block.
-- @param t task
-- @return string
function Store:suggestions(t) -- luacheck: no unused args
  local h = rngmod.hash(t.hash)
  local out = {}
  for i = 1, 4 do
    local a = WORDS.adj[(h + i * 7) % #WORDS.adj + 1]
    local n = WORDS.noun[(floor(h / 10) + i * 3) % #WORDS.noun + 1]
    local s = WORDS.style[(floor(h / 100) + i) % #WORDS.style + 1]
    out[i] = KEYCAPS[i] .. " a " .. a .. " " .. n .. ", " .. s .. " --ar 1:1"
  end
  return table.concat(out, "\n\n")
end

local function has_image(t)
  return t.kind ~= "shorten"
end

--- The URL of a task's image on this simulator. Does not block.
-- @param t task
-- @return string
function Store:image_url(t)
  return self.base_url() .. "/mj/image/" .. t.id
end

local function props(final)
  return json.object(PROPS_ORDER, { finalPrompt = final, finalZhPrompt = "" })
end

--- The task in the gateway's DTO shape (api.md §3.1) for a phase, patches applied. Does not block.
-- @param t task
-- @param now optional time (the moment the phase belongs to; default the clock)
-- @param p optional phase (default the upstream phase at `now`)
-- @param row optional fields set before the patches (e.g. the second row's action)
-- @return table for json.encode
function Store:dto(t, now, p, row)
  now = now or self.clock()
  p = p or self:phase(t, now)
  local st = p.status
  local v = json.object(DTO_ORDER, {
    id = t.id, action = t.action, customId = "", botType = "", prompt = t.prompt,
    promptEn = "", description = t.description, state = "", submitTime = t.submit_ms,
    startTime = 0, finishTime = 0, imageUrl = "", videoUrl = "", videoUrls = json.null,
    status = st, progress = "", failReason = "", buttons = json.array(), maskBase64 = "",
    properties = props(""),
  })
  if st == "" then
    v.progress, v.buttons, v.properties = "0%", json.null, json.null
  elseif st == "MODAL" then
    v.state = t.state
    v.description = "Waiting for window confirm"
  else
    v.state = t.state
    v.promptEn = t.prompt_en
    if p.pct then v.progress = format("%d%%", p.pct) end
    if p.start then v.startTime = floor(p.start * 1000) end
    if p.finish then v.finishTime = floor(p.finish * 1000) end
    if st == "IN_PROGRESS" or st == "SUCCESS" then v.properties = props(t.final_prompt) end
    if st == "IN_PROGRESS" and has_image(t) and p.pct >= 10 then
      v.imageUrl = self:image_url(t) .. "?rand=" .. format("%d", floor(now * 1e6))
    end
    if st == "FAILURE" then v.failReason = p.reason end
    if st == "SUCCESS" then
      if has_image(t) then v.imageUrl = self:image_url(t) end
      v.buttons = self:buttons(t)
      if self.image_urls and t.kind == "grid" then
        local list = json.array()
        for i = 0, 3 do list[i + 1] = json.object({ "url" }, { url = self:image_url(t) .. "/" .. i }) end
        v.imageUrls = list
      end
      if t.kind == "describe" then
        v.promptEn = self:suggestions(t)
        v.properties = props(v.promptEn)
      elseif t.kind == "shorten" then
        v.promptEn = t.prompt
        v.properties = props("IMPORTANT TOKENS: " .. t.prompt .. "\nSHORTENED PROMPTS\n" .. t.prompt)
      elseif t.kind == "video" then
        local urls = json.array()
        for i = 1, t.batch do
          local u = self.base_url() .. "/mj/video/" .. t.hash .. "/" .. (i - 1) .. ".mp4"
          urls[i] = json.object({ "url" }, { url = u })
        end
        v.videoUrl, v.videoUrls = urls[1].url, urls
      end
    end
  end
  for k, val in pairs(row or {}) do v[k] = val end
  for k, val in pairs(t.patch) do
    if type(val) == "table" and val["$delete"] == true then v[k] = nil
    elseif type(val) == "table" and type(val["$raw"]) == "string" then v[k] = json.raw(val["$raw"])
    else v[k] = val end
  end
  return v
end

--- The gateway's sync period in real seconds (`sync` gateway seconds divided by the speed).
-- Does not block.
-- @return seconds
function Store:period()
  return self.sync / self.speed
end

local function sync_anchor(self, t)
  if t.sync_frac then return t.created + t.sync_frac * self:period() end
  return self.epoch
end

-- index of the last forced sync at or before x (0 when none)
local function forced_before(self, x)
  local f = self.forced
  local lo, hi = 0, #f
  while lo < hi do
    local mid = floor((lo + hi + 1) / 2)
    if f[mid] <= x then lo = mid else hi = mid - 1 end
  end
  return lo
end

--- Add a sync point now, for every task (`POST /_sim/sync`): the gateway copies the
-- upstream state at once, besides its regular period. Does not block.
function Store:force_sync()
  local now = self.clock()
  local f = self.forced
  if f[#f] and f[#f] >= now then now = f[#f] + 1e-6 end
  f[#f + 1] = now
end

--- The last sync point at or before `now` that came after the task was created. Does not block.
-- @param t task
-- @param now seconds
-- @return seconds, or nil when the gateway has not synced the task yet
function Store:last_sync(t, now)
  local per, a = self:period(), sync_anchor(self, t)
  local s = a + floor((now - a) / per) * per
  if s > now then s = s - per end
  local i = forced_before(self, now)
  if i > 0 and self.forced[i] > s then s = self.forced[i] end
  if s <= t.created then return nil end
  return s
end

--- The first sync point at or after `x` that comes after the task was created. Does not block.
-- @param t task
-- @param x seconds
-- @return seconds
function Store:next_sync(t, x)
  local per, a = self:period(), sync_anchor(self, t)
  if x <= t.created then x = t.created + 1e-9 end
  local s = a + math.ceil((x - a) / per) * per
  if s < x then s = s + per end
  local f = self.forced
  local i = forced_before(self, x)
  if f[i] == x then i = i - 1 end
  if f[i + 1] and f[i + 1] < s then s = f[i + 1] end
  return s
end

--- The phase the gateway's row of a task shows at `now` (api.md §6). Does not block.
-- @param t task
-- @param now seconds (default the clock)
-- @return phase, and the sync point it was taken at (nil: placeholder, or instant mode)
function Store:visible(t, now)
  now = now or self.clock()
  if self.instant then return self:phase(t, now), nil end
  local s = self:last_sync(t, now)
  if not s then return { status = "" }, nil end
  if t.modal_at and s <= t.modal_at then return { status = "MODAL" }, s end
  return self:phase(t, s), s
end

--- The task as fetch shows it: the gateway's first row for the id. Does not block.
-- @param t task
-- @param now seconds (default the clock)
-- @return table for json.encode
function Store:public(t, now)
  now = now or self.clock()
  local p, s = self:visible(t, now)
  return self:dto(t, s or now, p)
end

--- Every gateway row of a task, as list-by-condition shows them (api.md §4.3): the task's
-- row, and after `/submit/modal` (not in instant mode) a second row with action "MODAL"
-- that shows the placeholder until the next sync and then advances; it is listed until the
-- sync after the one that showed the final state. Does not block.
-- @param t task
-- @param now seconds (default the clock)
-- @return list of tables for json.encode
function Store:rows(t, now)
  now = now or self.clock()
  local first = self:public(t, now)
  if self.instant or not t.modal_at or now < t.modal_at then return { first } end
  local s = self:last_sync(t, now)
  if s and s > self:next_sync(t, self:end_time(t)) then return { first } end
  local row = { action = "MODAL", description = M.MODAL_DESCRIPTION }
  local second
  if not s or s <= t.modal_at then
    row.submitTime = floor(t.modal_at * 1000) -- the gateway's own insert time, until upstream's replaces it
    second = self:dto(t, now, { status = "" }, row)
  else
    second = self:dto(t, s, self:phase(t, s), row)
  end
  return { first, second }
end

local function escape_pattern(w)
  return (w:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

--- The first banned word a prompt contains (whole words, any case), or nil. Does not block.
-- @param prompt string
-- @return the word as configured, or nil
function Store:banned_word(prompt)
  if type(prompt) ~= "string" then return nil end
  local low = prompt:lower()
  for _, w in ipairs(self.banned_words) do
    local lw = w:lower()
    if lw ~= "" and low:find("%f[%w]" .. escape_pattern(lw) .. "%f[%W]") then return w end
  end
  return nil
end

--- The order of a task state for callbacks (nil: no callback, e.g. MODAL). Does not block.
-- @param p phase
-- @return number or nil
function M.order(p)
  local s = p.status
  if s == "" or s == "NOT_START" then return 0 end
  if s == "SUBMITTED" then return 1 end
  if s == "IN_PROGRESS" then return 3 + (p.pct or 0) / 100 end
  if s == "FAILURE" then return 4 end
  if s == "SUCCESS" then return 5 end
  return nil
end

--- The upstream-style task object sent to a notifyHook (api.md §3.1b). Does not block.
-- @param t task
-- @param p phase (from `phase`)
-- @return table for json.encode
function Store:upstream(t, p)
  local st = p.status == "" and "NOT_START" or p.status
  local up = {
    SUBMITTED = true, IN_PROGRESS = true, SUCCESS = true, FAILURE = true }
  local v = json.object(UPSTREAM_ORDER, {
    id = t.id, parentId = t.parent and t.parent.id or json.null, botType = t.bot,
    action = t.action, status = st, prompt = t.prompt, promptEn = t.prompt_en,
    promptFull = t.final_prompt, description = "/" .. t.action:lower() .. " " .. t.prompt,
    state = t.state, submitTime = t.submit_ms,
    startTime = p.start and floor(p.start * 1000) or 0,
    finishTime = p.finish and floor(p.finish * 1000) or 0,
    imageUrl = (st == "SUCCESS" and has_image(t)) and self:image_url(t) or "",
    progress = (up[st] and p.pct) and format("%d%%", p.pct) or "",
    failReason = p.reason or json.null, jobId = t.hash, mode = t.mode,
    version = M.version(t.prompt):gsub("^v(%d)r?(%d?)$", function(a, b)
      return "v " .. a .. (b ~= "" and ("." .. b) or "")
    end),
    buttons = st == "SUCCESS" and self:buttons(t) or json.array(),
    properties = {
      notifyHook = t.hook, finalPrompt = t.final_prompt, discordInstanceId = self.instance_id,
      discordChannelId = self.instance_id, messageHash = t.hash, nonce = t.id .. "0",
    },
  })
  return v
end

local PNG_KEYS = { "png_preview", "png_final", "png_part0", "png_part1", "png_part2", "png_part3" }

-- remember that `t` holds PNG bytes; drop the bytes of the oldest tasks (bounded memory)
local function cache_png(self, t)
  local cached = self.png_cached or {}
  self.png_cached = cached
  for _, x in ipairs(cached) do if x == t then return end end
  cached[#cached + 1] = t
  if #cached > M.PNG_CACHE then
    local old = table.remove(cached, 1)
    for _, k in ipairs(PNG_KEYS) do old[k] = nil end
  end
end

--- The PNG bytes for a task (grid or single; a dimmer preview while running), cached.
-- Does not block (CPU only, some milliseconds the first time).
-- @param t task
-- @param preview boolean
-- @return bytes
function Store:png(t, preview)
  local key = preview and "png_preview" or "png_final"
  if not t[key] then
    cache_png(self, t)
    local dim = preview and 0.55 or 1
    if t.kind == "grid" or t.kind == "video" then
      t[key] = png.grid(t.colors, png.SIDE, dim)
    else
      t[key] = png.single(t.colors[1], png.SIDE, dim)
    end
  end
  return t[key]
end

--- The PNG bytes of one image of a finished grid: quadrant `i` (0 top-left, 1 top-right,
-- 2 bottom-left, 3 bottom-right), exactly those pixels of the grid image, cached.
-- Does not block (CPU only).
-- @param t task (kind "grid")
-- @param i 0..3
-- @return bytes
function Store:png_part(t, i)
  local key = "png_part" .. i
  if not t[key] then
    cache_png(self, t)
    t[key] = png.grid_part(t.colors, png.SIDE, 1, i)
  end
  return t[key]
end

return M
