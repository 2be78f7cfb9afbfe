--- The commands of `mj`, written on the public API (`require "midjourney"`).
--
-- Each command is `function(ctx) -> exit code`. `ctx` carries the client, the
-- parsed options and arguments, the progress renderer and `ctx:drive(jobs)`, which
-- runs job functions as scheduler coroutines until they all finish (see
-- `midjourney.cli`). Jobs compute; printing happens after the live display ended.
-- @module midjourney.cli.commands

local mj = require "midjourney"
local images = require "midjourney.cli.images"
local render = require "midjourney.cli.render"

local M = {}

--- Exit codes.
M.EXIT = { ok = 0, failed = 1, usage = 2, api = 3, timeout = 4, interrupted = 130 }
local EXIT = M.EXIT

-- ---------------------------------------------------------------- errors and output

--- The exit code for an error object of the library.
-- Neither blocks nor yields.
-- @tparam table err
-- @treturn integer
function M.exit_code(err)
  local k = type(err) == "table" and err.kind or nil
  if k == "task_failed" then return EXIT.failed end
  if k == "timeout" then return EXIT.timeout end
  if k == "invalid" then return EXIT.usage end
  if k == "cancelled" then return EXIT.interrupted end
  return EXIT.api
end

--- Removes the "(request id: X)" a gateway writes into its messages when the text also
-- ends with the library's "[request id X]", so that an error line names its request id
-- once. Neither blocks nor yields.
-- @tparam string s
-- @treturn string
function M.one_request_id(s)
  s = tostring(s)
  if not s:find("[request id ", 1, true) then return s end
  s = s:gsub("%s*%(request id: ?[^%)]*%)", "")
  -- a snippet cut inside the parenthesis ("(request id: 2026...")
  s = s:gsub("%s*%(request id:[^%)%[]*%.%.%.", " ...")
  return s
end

--- The text of an error without the "midjourney: " prefix, its request id named once.
-- Neither blocks nor yields.
-- @param err an error object or a string
-- @treturn string
function M.error_text(err)
  return M.one_request_id((tostring(err):gsub("^midjourney: ", "")))
end

--- One line for an error: `mj: ...`, no control characters, the request id once.
-- Neither blocks nor yields.
-- @param err an error object or a string
-- @treturn string
function M.error_line(err)
  local s
  if type(err) == "table" and err.kind == "task_failed" then
    local t = err.task
    local id = type(t) == "table" and t.id or "?"
    local status = type(t) == "table" and t.status or "FAILURE"
    local reason = err.message
    if type(t) == "table" and t.failReason ~= nil and t.failReason ~= "" then reason = t.failReason end
    s = string.format("task %s %s: %s", tostring(id), status == "CANCEL" and "was cancelled" or "failed",
      tostring(reason))
  else
    s = M.error_text(err)
  end
  return "mj: " .. render.clean(s)
end

local function encode(v)
  return mj.json.encode(v)
end

local function task_doc(t)
  local doc = t:totable()
  if type(doc.properties) == "table" and next(doc.properties) == nil then doc.properties = mj.json.object({}) end
  return doc
end

local function envelope_doc(env)
  local doc = {}
  for k, v in pairs(env or {}) do doc[k] = v end
  if type(doc.properties) == "table" and next(doc.properties) == nil then doc.properties = mj.json.object({}) end
  return doc
end

local function button_names(t)
  local names = {}
  for _, b in ipairs(t.buttons or {}) do
    local n = (b.label ~= nil and b.label ~= "") and b.label or b.emoji or b.customId
    names[#names + 1] = render.clean(n)
  end
  return names
end

local function field(t, k)
  local v = t[k]
  if v == nil or v == "" then return nil end
  return render.clean(v)
end

local function suggestions(t)
  local props = t.properties
  local text = t.promptEn
  if (text == nil or text == "") and type(props) == "table" then text = props.finalPrompt end
  if type(text) ~= "string" or text == "" then return nil end
  local out = {}
  for line in (text:gsub("\r\n", "\n") .. "\n"):gmatch("(.-)\n") do
    line = render.clean(line):gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

--- The human lines describing a task (no control characters).
-- Neither blocks nor yields.
-- @param t a Task
-- @tparam[opt] boolean brief one line only
-- @treturn table lines
function M.task_lines(t, brief)
  local pct = t:percent()
  local head = string.format("%s %s %s%s", render.clean(t.id or "?"), render.clean(t.action or "-"),
    render.clean((t.status == nil or t.status == "") and "PENDING" or t.status),
    pct and string.format(" %s%%", (pct == math.floor(pct)) and string.format("%d", pct) or tostring(pct)) or "")
  if brief then return { head } end
  local lines = { head }
  local function add(name, v)
    if v then lines[#lines + 1] = string.format("  %-8s %s", name ~= "" and (name .. ":") or "", v) end
  end
  add("prompt", field(t, "prompt"))
  add("reason", field(t, "failReason"))
  add("image", field(t, "imageUrl"))
  add("video", field(t, "videoUrl"))
  if t.status == "SUCCESS" and (t.action == "DESCRIBE" or t.action == "SHORTEN") then
    local s = suggestions(t)
    if s then
      for i, line in ipairs(s) do add(i == 1 and "result" or "", line) end
    end
  end
  local names = button_names(t)
  if #names > 0 then add("buttons", table.concat(names, " ")) end
  return lines
end

-- ---------------------------------------------------------------- helpers

--- The title of a task's live bar from one of its snapshots: its prompt, after the
-- action for anything but IMAGINE ("upscale: a paper boat"); nil when it has no prompt.
-- Neither blocks nor yields.
-- @param t a Task
-- @treturn string|nil
function M.task_title(t)
  local prompt = t.prompt
  if type(prompt) ~= "string" or prompt == "" then prompt = t.promptEn end
  if type(prompt) ~= "string" or prompt == "" then return nil end
  local action = type(t.action) == "string" and t.action or ""
  if action == "" or action == "IMAGINE" then return prompt end
  return action:lower():gsub("_", " ") .. ": " .. prompt
end

-- The wait options of a slot; with `titled`, the first snapshot that carries a prompt
-- becomes the bar's title (`mj wait` on ids it did not submit).
local function wait_opts(ctx, slot, first_delay, titled)
  local o = { on_progress = function(t)
    if titled then
      local title = M.task_title(t)
      if title then
        ctx.render:title(slot, title)
        titled = false
      end
    end
    ctx.render:update(slot, { id = t.id, status = t.status, percent = t:percent() })
  end }
  local opts = ctx.opts
  if opts.timeout then o.timeout = opts.timeout end
  if opts.interval then
    o.interval = opts.interval
    o.first_delay = opts.interval
  end
  if first_delay then o.first_delay = first_delay end
  return o
end

local function submit_fields(ctx, fields)
  local opts = ctx.opts
  if opts.state then fields.state = opts.state end
  if opts["notify-hook"] then fields.notifyHook = opts["notify-hook"] end
  if opts.bot then fields.botType = opts.bot end
  return fields
end

local function is_video(t)
  return t.action == "VIDEO" or (type(t.videoUrl) == "string" and t.videoUrl ~= "")
end

--- The title of an action's live bar: `"U1 of 1773…"` (the button and the parent task).
-- Neither blocks nor yields.
-- @tparam string button
-- @tparam string parent the parent task id
-- @treturn string
function M.action_title(button, parent)
  return tostring(button) .. " of " .. tostring(parent)
end

--- A job that follows one task to its end: optional submit, wait, --then
-- actions, --download. Runs in a scheduler coroutine.
-- @return a result `{ code =, task =, err =, saved =, info = }`
local function follow(ctx, slot, id, steps, first_delay, titled)
  local client = ctx.client
  local task, err = client:wait(id, wait_opts(ctx, slot, first_delay, titled))
  while true do
    if not task then
      ctx.render:done(slot, err.task and err.task.status or nil, err.kind)
      return { code = M.exit_code(err), err = err, task = err.task }
    end
    ctx.render:done(slot, task.status)
    local button = table.remove(steps.buttons, 1)
    if task.status == "MODAL" and (button or steps.download) then
      return { code = EXIT.failed, task = task, err = string.format(
        "task %s is waiting for input (MODAL); answer it with: mj modal %s --prompt ...", task.id, task.id) }
    end
    if not button then break end
    slot = ctx.render:add(button, nil, nil, M.action_title(button, task.id))
    local nid, aerr = client:action(task, button, ctx.action_opts)
    if not nid then
      ctx.render:done(slot, "ERROR", aerr.kind)
      return { code = M.exit_code(aerr), err = aerr }
    end
    ctx.render:update(slot, { id = nid, status = "SUBMITTED" })
    task, err = client:wait(nid, wait_opts(ctx, slot))
  end
  local result = { code = EXIT.ok, task = task }
  if task.status == "MODAL" then result.modal = true end
  if steps.download then
    ctx.downloads[#ctx.downloads + 1] = steps.download
    local video = is_video(task)
    local path, info = client:download(task, steps.download, { video = video })
    if not path then return { code = M.exit_code(info), err = info, task = task } end
    result.saved, result.info = path, info
  end
  return result
end

local function print_result(ctx, r)
  local out = ctx.out
  if ctx.opts.json then
    if r.task then out:write(encode(task_doc(r.task)), "\n") end
  else
    if r.task and (r.code == EXIT.ok or r.code == EXIT.failed) then
      for _, line in ipairs(M.task_lines(r.task)) do out:write(line, "\n") end
    end
    if r.saved then
      local size = r.info and tonumber(r.info.size)
      out:write(string.format("saved %s (%s bytes)\n", render.clean(r.saved),
        size and string.format("%d", size) or "?"))
    end
  end
  if r.modal and r.code == EXIT.ok then
    ctx.err:write(render.clean(string.format(
      "mj: task %s is waiting for input (MODAL): answer it with `mj modal %s --prompt ...`", r.task.id, r.task.id)),
      "\n")
  end
  if r.err then
    ctx.err:write(type(r.err) == "string" and ("mj: " .. render.clean(r.err)) or M.error_line(r.err), "\n")
  end
  return r.code
end

-- A submit command: `make(ctx)` returns the submit function or nil, message
-- (usage error); then submit, and with --wait/--then/--download follow it.
local function submit_command(label, make)
  return function(ctx)
    local submit, why, title = make(ctx)
    if not submit then
      ctx.err:write("mj: ", render.clean(why), "\n")
      return EXIT.usage
    end
    local opts = ctx.opts
    local steps = { buttons = {}, download = opts.download }
    for _, b in ipairs(opts["then"] or {}) do steps.buttons[#steps.buttons + 1] = b end
    local waiting = opts.wait or opts.download or #steps.buttons > 0
    local r = ctx:drive({ function()
      local slot = waiting and ctx.render:add(label, nil, nil, title) or nil
      local id, env = submit(ctx.client)
      if not id then
        if slot then ctx.render:done(slot, "ERROR", env.kind) end
        return { code = M.exit_code(env), err = env }
      end
      if not waiting then return { code = EXIT.ok, id = id, envelope = env } end
      ctx.render:update(slot, { id = id, status = "SUBMITTED" })
      return follow(ctx, slot, id, steps)
    end })[1]
    if r.id then
      if opts.json then
        ctx.out:write(encode(envelope_doc(r.envelope)), "\n")
      else
        ctx.out:write(render.clean(r.id), "\n")
      end
      return EXIT.ok
    end
    return print_result(ctx, r)
  end
end

local function load_image(spec, opts)
  local v, why = images.load(spec, opts)
  if not v then return nil, why end
  return v
end

-- The last part of a path or URL, for a bar's title.
local function base_name(spec)
  if spec:sub(1, 5):lower() == "data:" then return "an image" end
  return spec:match("([^/]+)/*$") or spec
end

-- ---------------------------------------------------------------- submit commands

M.imagine = submit_command("imagine", function(ctx)
  local fields = { prompt = ctx.args[1] }
  local refs = ctx.opts.image
  if refs then
    local list = {}
    for i, spec in ipairs(refs) do
      local v, why = load_image(spec)
      if not v then return nil, why end
      list[i] = v
    end
    fields.base64Array = mj.json.array(list)
  end
  submit_fields(ctx, fields)
  return function(client) return client:imagine(fields) end, nil, fields.prompt
end)

M.action = submit_command("action", function(ctx)
  local task, button = ctx.args[1], ctx.args[2]
  local o = {}
  if ctx.opts.remix then o.enableRemix = true end
  if ctx.opts["same-channel"] then o.chooseSameChannel = true end
  if ctx.opts.state then o.state = ctx.opts.state end
  if ctx.opts["notify-hook"] then o.notifyHook = ctx.opts["notify-hook"] end
  ctx.action_opts = { chooseSameChannel = o.chooseSameChannel }
  return function(client) return client:action(task, button, o) end, nil, M.action_title(button, task)
end)

M.modal = submit_command("modal", function(ctx)
  local fields = {}
  if ctx.opts.prompt then fields.prompt = ctx.opts.prompt end
  if ctx.opts.mask then
    local v, why = load_image(ctx.opts.mask, { only = "png", no_url = true })
    if not v then return nil, "--mask: " .. why end
    fields.maskBase64 = v
  end
  submit_fields(ctx, fields)
  local task = ctx.args[1]
  return function(client) return client:modal(task, fields) end, nil,
    "modal: " .. (fields.prompt or task)
end)

M.blend = submit_command("blend", function(ctx)
  local list, names = {}, {}
  for i, spec in ipairs(ctx.args) do
    local v, why = load_image(spec)
    if not v then return nil, why end
    list[i], names[i] = v, base_name(spec)
  end
  local fields = submit_fields(ctx, { base64Array = mj.json.array(list) })
  if ctx.opts.dimensions then fields.dimensions = ctx.opts.dimensions end
  return function(client) return client:blend(fields) end, nil, "blend " .. table.concat(names, " + ")
end)

M.describe = submit_command("describe", function(ctx)
  local spec = ctx.args[1]
  local fields = {}
  if images.is_url(spec) then
    fields.link = spec
  else
    local v, why = load_image(spec)
    if not v then return nil, why end
    fields.base64 = v
  end
  submit_fields(ctx, fields)
  return function(client) return client:describe(fields) end, nil, "describe " .. base_name(spec)
end)

M.shorten = submit_command("shorten", function(ctx)
  local fields = submit_fields(ctx, { prompt = ctx.args[1] })
  return function(client) return client:shorten(fields) end, nil, "shorten: " .. fields.prompt
end)

M.video = submit_command("video", function(ctx)
  local opts = ctx.opts
  local img, why = load_image(ctx.args[1])
  if not img then return nil, why end
  local fields = { image = img, motion = opts.motion or "low" }
  if opts.prompt then fields.prompt = opts.prompt end
  if opts["end-image"] then
    local e, ewhy = load_image(opts["end-image"])
    if not e then return nil, "--end-image: " .. ewhy end
    fields.endImage = e
  end
  if opts.loop then fields.loop = true end
  if opts.hd then fields.videoType = "vid_1.1_i2v_720" end
  if opts["batch-size"] then
    local n = opts["batch-size"]
    if n ~= 1 and n ~= 2 and n ~= 4 then return nil, "--batch-size must be 1, 2 or 4" end
    fields.batchSize = math.floor(n)
  end
  submit_fields(ctx, fields)
  return function(client) return client:video(fields) end, nil,
    "video: " .. (fields.prompt or base_name(ctx.args[1]))
end)

M.edits = submit_command("edits", function(ctx)
  local prompt = ctx.opts.prompt
  if prompt == nil or prompt:match("^%s*$") then
    return nil, "edits: --prompt P is required (what to change in the image)"
  end
  local img, why = load_image(ctx.args[1])
  if not img then return nil, why end
  local fields = submit_fields(ctx, { image = img, prompt = prompt })
  return function(client) return client:edits(fields) end, nil, "edit: " .. prompt
end)

M["swap-face"] = submit_command("swap-face", function(ctx)
  local source, target = ctx.args[1], ctx.args[2]
  local face, why = load_image(source, { no_url = true })
  if not face then return nil, "SOURCE: " .. why end
  local picture, twhy = load_image(target, { no_url = true })
  if not picture then return nil, "TARGET: " .. twhy end
  local fields = submit_fields(ctx, { sourceBase64 = face, targetBase64 = picture })
  return function(client) return client:swap_face(fields) end, nil,
    "face " .. base_name(source) .. " on " .. base_name(target)
end)

--- `mj upload FILE...`: uploads the images and prints their URLs.
-- Yields inside the CLI's scheduler coroutine; blocks when called outside one.
function M.upload(ctx)
  local list = {}
  for i, spec in ipairs(ctx.args) do
    if images.is_url(spec) then
      ctx.err:write("mj: upload: ", render.clean(spec), " is already a URL: give image files\n")
      return EXIT.usage
    end
    local v, why = load_image(spec)
    if not v then
      ctx.err:write("mj: ", render.clean(why), "\n")
      return EXIT.usage
    end
    list[i] = v
  end
  local r = ctx:drive({ function()
    local urls, env = ctx.client:upload { base64Array = mj.json.array(list) }
    if not urls then return { code = M.exit_code(env), err = env } end
    if type(urls) ~= "table" or #urls ~= #list then
      return { code = EXIT.api, err = string.format("upload: %d images sent, %s URLs came back", #list,
        type(urls) == "table" and tostring(#urls) or "no") }
    end
    return { code = EXIT.ok, urls = urls }
  end })[1]
  if not r.urls then return print_result(ctx, r) end
  if ctx.opts.json then
    ctx.out:write(encode(mj.json.array(r.urls)), "\n")
  else
    for _, u in ipairs(r.urls) do ctx.out:write(render.clean(u), "\n") end
  end
  return EXIT.ok
end

-- ---------------------------------------------------------------- query commands

local function worst(codes)
  local rank = { [EXIT.interrupted] = 6, [EXIT.usage] = 5, [EXIT.api] = 4, [EXIT.timeout] = 3, [EXIT.failed] = 2 }
  local best, r = EXIT.ok, 0
  for _, c in ipairs(codes) do
    if (rank[c] or 0) > r then best, r = c, rank[c] end
  end
  return best
end

--- `mj fetch TASK...`
-- Yields inside the CLI's scheduler coroutine; blocks when called outside one.
function M.fetch(ctx)
  local jobs = {}
  for i, id in ipairs(ctx.args) do
    jobs[i] = function()
      local t, err = ctx.client:fetch(id)
      if not t then return { code = M.exit_code(err), err = err } end
      return { code = EXIT.ok, task = t }
    end
  end
  local codes = {}
  for i, r in ipairs(ctx:drive(jobs)) do codes[i] = print_result(ctx, r) end
  return worst(codes)
end

--- `mj wait TASK...`
-- Yields inside the CLI's scheduler coroutine; blocks when called outside one.
function M.wait(ctx)
  local opts = ctx.opts
  local steps_given = opts.download or opts["then"]
  if steps_given and #ctx.args > 1 then
    ctx.err:write("mj: wait: --then and --download need a single TASK\n")
    return EXIT.usage
  end
  local jobs = {}
  for i, id in ipairs(ctx.args) do
    jobs[i] = function()
      local slot = ctx.render:add("wait", id, "WAITING")
      local steps = { buttons = {}, download = opts.download }
      for _, b in ipairs(opts["then"] or {}) do steps.buttons[#steps.buttons + 1] = b end
      return follow(ctx, slot, id, steps, 0, true)
    end
  end
  local codes = {}
  for i, r in ipairs(ctx:drive(jobs)) do
    if r.code == EXIT.failed and not ctx.opts.json and r.task and r.err and type(r.err) ~= "string" then
      r.task = nil -- the error line says it all
    end
    codes[i] = print_result(ctx, r)
  end
  return worst(codes)
end

--- `mj list TASK...`
-- Yields inside the CLI's scheduler coroutine; blocks when called outside one.
function M.list(ctx)
  local r = ctx:drive({ function()
    local tasks, err = ctx.client:list(ctx.args)
    if not tasks then return { code = M.exit_code(err), err = err } end
    return { code = EXIT.ok, tasks = tasks }
  end })[1]
  if not r.tasks then return print_result(ctx, r) end
  for _, t in ipairs(r.tasks) do
    if ctx.opts.json then
      ctx.out:write(encode(task_doc(t)), "\n")
    else
      ctx.out:write(M.task_lines(t, true)[1], "\n")
    end
  end
  return EXIT.ok
end

--- `mj seed TASK`
-- Yields inside the CLI's scheduler coroutine; blocks when called outside one.
function M.seed(ctx)
  local id = ctx.args[1]
  local r = ctx:drive({ function()
    local seed, err = ctx.client:image_seed(id)
    if not seed then return { code = M.exit_code(err), err = err } end
    return { code = EXIT.ok, seed = seed }
  end })[1]
  if not r.seed then return print_result(ctx, r) end
  if ctx.opts.json then
    ctx.out:write(encode({ id = id, seed = r.seed }), "\n")
  else
    ctx.out:write(render.clean(r.seed), "\n")
  end
  return EXIT.ok
end

local extensions = { ["image/png"] = "png", ["image/jpeg"] = "jpg", ["image/webp"] = "webp",
  ["image/gif"] = "gif", ["video/mp4"] = "mp4", ["video/webm"] = "webm" }

-- `mj download TASK --split`: the four pictures of a grid as four files.
local function download_split(ctx)
  local what = ctx.args[1]
  if images.is_url(what) then
    ctx.err:write("mj: download: --split needs a TASK (its per-image URLs or its grid), not a URL\n")
    return EXIT.usage
  end
  local r = ctx:drive({ function()
    local t, err = ctx.client:fetch(what)
    if not t then return { code = M.exit_code(err), err = err } end
    -- default: TASK-1.png ... in the current directory
    local dest = ctx.opts.output or t.id
    -- what a cut-short split leaves behind (removed on Ctrl-C)
    local base = dest:gsub("/+$", "")
    local f = io.open(dest .. "/.", "rb")
    if f then f:close(); base = base .. "/" .. t.id else base = base:gsub("%.[Pp][Nn][Gg]$", "") end
    ctx.downloads[#ctx.downloads + 1] = base .. ".grid"
    for i = 1, 4 do
      ctx.downloads[#ctx.downloads + 1] = base .. "-" .. i .. ".png"
      ctx.downloads[#ctx.downloads + 1] = base .. "-" .. i .. ".download"
    end
    local paths, info = ctx.client:download(t, dest, { split = true })
    if not paths then return { code = M.exit_code(info), err = info } end
    return { code = EXIT.ok, paths = paths, info = info }
  end })[1]
  if not r.paths then return print_result(ctx, r) end
  local sizes = r.info and r.info.sizes or {}
  if ctx.opts.json then
    ctx.out:write(encode({ files = mj.json.array(r.paths), sizes = mj.json.array(sizes),
      source = r.info and r.info.source }), "\n")
  else
    for i, p in ipairs(r.paths) do
      local size = tonumber(sizes[i])
      ctx.out:write(string.format("saved %s (%s bytes)\n", render.clean(p), size and string.format("%d", size) or "?"))
    end
  end
  return EXIT.ok
end

--- `mj download TASK|URL [-o FILE] [--split]`
-- Yields inside the CLI's scheduler coroutine; blocks when called outside one.
function M.download(ctx)
  if ctx.opts.split then return download_split(ctx) end
  local what = ctx.args[1]
  local path = ctx.opts.output
  local r = ctx:drive({ function()
    local target, video = what, false
    if not images.is_url(what) then
      local t, err = ctx.client:fetch(what)
      if not t then return { code = M.exit_code(err), err = err } end
      target, video = t, is_video(t)
    end
    local dest = path
    if not dest then
      local base = images.is_url(what) and (what:match("([^/?#]+)[?#]?[^/]*$") or "download") or what
      base = base:gsub("[^%w%._%-]", "_")
      if base:match("^%.*$") then base = "download" end
      dest = base:find("%.%w+$") and base or (base .. (video and ".mp4" or ".png"))
    end
    ctx.downloads[#ctx.downloads + 1] = dest
    local saved, info = ctx.client:download(target, dest, { video = video })
    if not saved then return { code = M.exit_code(info), err = info } end
    if not path and info and info.content_type then
      local ext = extensions[(info.content_type:lower():match("^[^;%s]+"))]
      if ext and not saved:find("%." .. ext .. "$") then
        local renamed = saved:gsub("%.%w+$", "") .. "." .. ext
        if os.rename(saved, renamed) then saved = renamed end
      end
    end
    return { code = EXIT.ok, saved = saved, info = info }
  end })[1]
  if r.saved and ctx.opts.json then
    ctx.out:write(encode({ file = r.saved, size = r.info and r.info.size,
      content_type = r.info and r.info.content_type }), "\n")
    return EXIT.ok
  end
  return print_result(ctx, r)
end

--- The lines of the `mj buttons` table: label, emoji and customId in columns aligned by
-- terminal width (an emoji such as 🔄 or ⬅️ takes two columns), trailing blanks cut.
-- Neither blocks nor yields.
-- @tparam table list buttons (`label`, `emoji`, `customId`)
-- @treturn table lines
function M.button_lines(list)
  local rows, w1, w2 = {}, 0, 0
  for i, b in ipairs(list) do
    local row = { render.clean(b.label or ""), render.clean(b.emoji or ""), render.clean(b.customId or "") }
    rows[i] = row
    w1 = math.max(w1, render.display_width(row[1]))
    w2 = math.max(w2, render.display_width(row[2]))
  end
  local lines = {}
  for i, row in ipairs(rows) do
    local line = render.pad(row[1], w1) .. (w1 > 0 and "  " or "") .. render.pad(row[2], w2)
      .. (w2 > 0 and "  " or "") .. row[3]
    lines[i] = (line:gsub("%s+$", ""))
  end
  return lines
end

--- `mj buttons TASK`
-- Yields inside the CLI's scheduler coroutine; blocks when called outside one.
function M.buttons(ctx)
  local id = ctx.args[1]
  local r = ctx:drive({ function()
    local t, err = ctx.client:fetch(id)
    if not t then return { code = M.exit_code(err), err = err } end
    return { code = EXIT.ok, task = t }
  end })[1]
  if not r.task then return print_result(ctx, r) end
  local list = r.task.buttons or {}
  if ctx.opts.json then
    for _, b in ipairs(list) do
      ctx.out:write(encode({ label = b.label, emoji = b.emoji, customId = b.customId, style = b.style,
        type = b.type }), "\n")
    end
  else
    for _, line in ipairs(M.button_lines(list)) do ctx.out:write(line, "\n") end
  end
  return EXIT.ok
end

--- `mj batch FILE`: see `midjourney.cli.batch`.
-- Blocks (drives the scheduler until the batch ends).
function M.batch(ctx)
  return require("midjourney.cli.batch").run(ctx)
end

return M
