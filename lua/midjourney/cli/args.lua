--- Command-line parsing and help texts of `mj`.
--
-- `args.parse(argv)` turns the argument list into `{ command =, args = {...}, opts = {...} }`
-- or a request for help or the version; a usage error is returned as `nil, message`.
-- Options may come before or after the command and between its arguments;
-- `--name=value` and `--name value` are both accepted; `--` ends the options.
--
-- Nothing in this module blocks or yields.
-- @module midjourney.cli.args

local options = require "midjourney.options"

local M = {}

-- ---------------------------------------------------------------- option tables

local function opt(name, t)
  t.name = name
  return t
end

--- Options every command accepts.
M.global_options = {
  opt("json", { flag = true, help = "print results as JSON, one document per line (for jq)" }),
  opt("timeout", { arg = "SECONDS", number = true,
    help = "give up waiting for a task after SECONDS (default 600); exit 4" }),
  opt("interval", { arg = "SECONDS", number = true,
    help = "seconds between polls while waiting (default: the library's, about 3)" }),
  opt("base-url", { arg = "URL", help = "API base URL (default: $COMETAPI_BASE_URL, else https://api.cometapi.com)" }),
  opt("api-key-file", { arg = "FILE", help = "read the API key from the first line of FILE (default: $COMETAPI_KEY)" }),
  opt("quiet", { short = "q", flag = true, help = "no progress display" }),
  opt("tty", { flag = true, help = "draw live progress bars even when stderr is not a terminal" }),
  opt("no-tty", { flag = true, help = "plain progress lines even on a terminal" }),
  opt("help", { short = "h", flag = true, help = "show this help" }),
}

local submit_options = {
  opt("wait", { short = "w", flag = true, help = "wait for the task to finish, showing its progress" }),
  opt("then", { arg = "BUTTON", multi = true,
    help = "then press BUTTON on the result and wait again (repeatable; implies --wait)" }),
  opt("download", { short = "o", arg = "FILE", help = "save the final image to FILE (implies --wait)" }),
  opt("state", { arg = "TEXT", help = "opaque text echoed back in the task (wire field state)" }),
  opt("notify-hook", { arg = "URL", help = "callback URL for this task (wire field notifyHook)" }),
}

local bot_option = opt("bot", { arg = "mj|niji", choices = { mj = "MID_JOURNEY", niji = "NIJI_JOURNEY",
  MID_JOURNEY = "MID_JOURNEY", NIJI_JOURNEY = "NIJI_JOURNEY" }, help = "MID_JOURNEY (default) or NIJI_JOURNEY" })

local function with(list, ...)
  local out = {}
  for i = 1, #list do out[#out + 1] = list[i] end
  local extra = { ... }
  for i = 1, #extra do out[#out + 1] = extra[i] end
  return out
end

--- Every command: `usage`, `summary`, `description`, `min`/`max` positional
-- arguments, `options` (besides the global ones) and `submit` (accepts the
-- submit options --wait/--then/--download).
M.commands = {
  imagine = {
    usage = "mj imagine PROMPT [options]", min = 1, max = 1, submit = true,
    summary = "text (and optional reference images) to a 4-image grid",
    description = 'PROMPT is a Midjourney prompt with its flags, e.g. "a paper boat --ar 3:2 --v 6.1".\n'
      .. "Prints the new task id; with --wait, --then or --download it follows the task to the end.",
    options = with(submit_options,
      opt("image", { arg = "IMG", multi = true,
        help = "reference image: a file (PNG/JPEG/WebP/GIF) or an http(s) URL (repeatable)" }),
      bot_option),
    examples = { 'mj imagine "a paper boat at sunrise" --then U2 --download boat.png' },
  },
  action = {
    usage = "mj action TASK BUTTON [options]", min = 2, max = 2, submit = true,
    summary = "press a button of a finished task (U1, V3, \"Zoom Out 2x\", an emoji, a customId)",
    description = "BUTTON is a label (U1..U4, V1..V4, \"Vary (Strong)\", \"Zoom Out 2x\"...), an emoji (🔄),\n"
      .. "a customId or a customId family (upsample::2). It is looked up in the newest snapshot of TASK.\n"
      .. "Prints the new task id. A task that needs more input ends in MODAL: answer it with `mj modal`.",
    options = with(submit_options,
      opt("remix", { flag = true, help = "force the Remix pop-up (the new task stops in MODAL)" }),
      opt("same-channel", { flag = true, help = "prefer the parent task's upstream channel (chooseSameChannel)" })),
    examples = { "mj action 1712345678901234 U1 --wait" },
  },
  modal = {
    usage = "mj modal TASK [--prompt P] [--mask FILE.png] [options]", min = 1, max = 1, submit = true,
    summary = "give the input a MODAL task waits for (Vary Region, Custom Zoom, Remix)",
    description = "TASK is the id of the task in MODAL (the one `mj action` returned).\n"
      .. "For Vary Region give a PNG mask of the image's size: white = repaint, black = keep.",
    options = with(submit_options,
      opt("prompt", { arg = "P", help = "the prompt (Custom Zoom: the prompt plus --zoom 1..2)" }),
      opt("mask", { arg = "FILE.png", help = "PNG mask for Vary Region" })),
    examples = { 'mj modal 1712345678901234 --prompt "a red sail" --mask mask.png --wait' },
  },
  blend = {
    usage = "mj blend IMG IMG... [options]", min = 2, max = 5, submit = true,
    summary = "blend 2 to 5 images into a grid",
    description = "Each IMG is a file (PNG/JPEG/WebP/GIF, sent as a data URI) or an http(s) URL.",
    options = with(submit_options,
      opt("dimensions", { arg = "SHAPE", choices = { portrait = "PORTRAIT", square = "SQUARE", landscape = "LANDSCAPE",
        PORTRAIT = "PORTRAIT", SQUARE = "SQUARE", LANDSCAPE = "LANDSCAPE" },
        help = "portrait (2:3), square (1:1, default) or landscape (3:2)" }),
      bot_option),
    examples = { "mj blend a.png b.jpg --dimensions landscape --wait" },
  },
  describe = {
    usage = "mj describe IMG|URL [options]", min = 1, max = 1, submit = true,
    summary = "four prompt suggestions for an image",
    description = "IMG is a file (sent as a data URI) or an http(s) URL (sent as link).\n"
      .. "With --wait the suggestions are printed.",
    options = with(submit_options, bot_option),
    examples = { "mj describe photo.jpg --wait" },
  },
  shorten = {
    usage = "mj shorten PROMPT [options]", min = 1, max = 1, submit = true,
    summary = "analyse a prompt and suggest shorter ones",
    description = "With --wait the analysis is printed.",
    options = with(submit_options, bot_option),
    examples = { 'mj shorten "a very long prompt ..." --wait' },
  },
  video = {
    usage = "mj video IMG [--motion low|high] [options]", min = 1, max = 1, submit = true,
    summary = "animate an image into short videos",
    description = "IMG (the first frame) is a file or an http(s) URL. --download saves the first video.",
    options = with(submit_options,
      opt("motion", { arg = "low|high", choices = { low = "low", high = "high" },
        help = "amount of motion (default low)" }),
      opt("prompt", { arg = "P", help = "text prompt for the video" }),
      opt("end-image", { arg = "IMG", help = "last frame: a file or an http(s) URL" }),
      opt("loop", { flag = true, help = "loop back to the first frame" }),
      opt("hd", { flag = true, help = "720p (videoType vid_1.1_i2v_720) instead of 480p" }),
      opt("batch-size", { arg = "N", number = true, help = "number of videos: 1, 2 or 4 (default 4)" })),
    examples = { "mj video frame.png --motion high --prompt \"waves\" --wait" },
  },
  edits = {
    usage = "mj edits IMAGE --prompt P [options]", min = 1, max = 1, submit = true,
    summary = "edit an image by prompt (\"make it night\")",
    description = "IMAGE is a file (PNG/JPEG/WebP/GIF, sent as a data URI) or an http(s) URL; --prompt says\n"
      .. "what to change. Prints the new task id; with --wait, --then or --download it follows the task.",
    options = with(submit_options,
      opt("prompt", { arg = "P", help = "what to change (required)" })),
    examples = { 'mj edits photo.png --prompt "make it night" --download night.png' },
  },
  ["swap-face"] = {
    usage = "mj swap-face SOURCE TARGET [options]", min = 2, max = 2, submit = true,
    summary = "put the face of SOURCE on the person in TARGET (InsightFace)",
    description = "SOURCE (the face) and TARGET (the picture) are image files (PNG/JPEG/WebP/GIF), sent as\n"
      .. "data URIs: the gateway takes no URLs here (download them first, or use data: URIs).\n"
      .. "Prints the new task id; with --wait or --download it follows the task.",
    options = submit_options,
    examples = { "mj swap-face face.jpg team-photo.png --download swapped.png" },
  },
  upload = {
    usage = "mj upload FILE... [options]", min = 1, max = math.huge,
    summary = "upload images and print their URLs, one per line",
    description = "Each FILE is a PNG, JPEG, WebP or GIF file. Prints one URL per line, in the order of the\n"
      .. "files (--json: one JSON array). Use the URLs in a prompt, --image, blend, describe or video.\n"
      .. "No task is created: there is nothing to wait for.",
    options = {},
    examples = { "mj upload a.png b.jpg", 'mj imagine "$(mj upload ref.png) a paper boat in the same style"' },
  },
  fetch = {
    usage = "mj fetch TASK... [options]", min = 1, max = math.huge,
    summary = "show tasks as they are now",
    description = "Prints each task's id, action, status, progress, prompt, image and buttons.",
    options = {},
    examples = { "mj fetch 1712345678901234 --json | jq -r .imageUrl" },
  },
  wait = {
    usage = "mj wait TASK... [options]", min = 1, max = math.huge,
    summary = "wait for tasks to finish, with one live progress line per task",
    description = "Waits until every TASK is SUCCESS (or MODAL). Exit 1 when one failed, 4 on --timeout.\n"
      .. "--then and --download need a single TASK.",
    options = {
      submit_options[2], submit_options[3],
    },
    examples = { "mj wait 1712345678901234 1712345678901235" },
  },
  list = {
    usage = "mj list TASK... [options]", min = 1, max = math.huge,
    summary = "show many tasks in one request (list-by-condition)",
    description = "One line per task found: id, action, status, progress. Unknown ids are left out.",
    options = {},
    examples = { "mj list 1712345678901234 1712345678901235 --json" },
  },
  seed = {
    usage = "mj seed TASK [options]", min = 1, max = 1,
    summary = "print the seed of a finished task",
    description = "Prints the seed (a number, as text) of a finished task.",
    options = {},
    examples = { "mj seed 1712345678901234" },
  },
  download = {
    usage = "mj download TASK|URL [-o FILE] [--split] [options]", min = 1, max = 1,
    summary = "save a task's image (or video) to a file",
    description = "Saves the task's image (a video task's first video) to FILE, by default TASK.png\n"
      .. "(TASK.mp4 for a video). The file appears only when the download is complete.\n"
      .. "--split saves the four pictures of a grid instead, in U1..U4 order, as FILE-1.png ... FILE-4.png\n"
      .. "(-o names a directory, giving DIR/TASK-1.png ..., or a base name; default TASK-1.png ...),\n"
      .. "without paying for four upscales: the task's per-image URLs when the gateway sends them,\n"
      .. "else the grid cut locally (needs midjourney.image).",
    options = {
      opt("output", { short = "o", arg = "FILE",
        help = "where to save it (with --split: a directory or a base name)" }),
      opt("split", { flag = true, help = "save the grid's four pictures as four files (FILE-1.png ... FILE-4.png)" }),
    },
    examples = { "mj download 1712345678901234 -o boat.png", "mj download 1712345678901234 --split -o boat" },
  },
  batch = {
    usage = "mj batch FILE [options]", min = 1, max = 1,
    summary = "run many prompts, resumable: a rerun never pays twice for a job",
    description = "FILE has one prompt per line (blank lines and # comments skipped) or JSON lines\n"
      .. '{"prompt": "...", "name": "...", "then": ["U1", "U3"]}; - reads standard input.\n'
      .. "Each job's grid is saved as DIR/NNN-slug.png, each follow-up as DIR/NNN-slug-U1.png.\n"
      .. "A journal (DIR/.mj-batch.jsonl) records every submit before it is sent: run the same\n"
      .. "command again to resume (finished jobs are skipped, known tasks are waited on again,\n"
      .. "missing files fetched again). A submit whose outcome is unknown is not sent again\n"
      .. "unless --resubmit-unknown is given. Exit 0 all done, 1 some job failed or is unknown,\n"
      .. "3 an API/HTTP error stopped the batch, 130 interrupted (rerun to go on).",
    options = {
      opt("output", { short = "o", arg = "DIR", help = "where the images go (default: the current directory)" }),
      opt("then", { arg = "U1,U2|all",
        help = "follow-up buttons pressed on every grid (JSON lines may set their own)" }),
      opt("concurrency", { arg = "N", number = true, help = "jobs in flight at most (default 4)" }),
      opt("journal", { arg = "PATH", help = "the journal (default DIR/.mj-batch.jsonl)" }),
      opt("resubmit-unknown", { flag = true,
        help = "send once more the submits whose outcome is unknown (may pay twice)" }),
      opt("split", { flag = true,
        help = "also save each grid's four pictures as NNN-slug-1.png ... -4.png (no upscale is paid)" }),
    },
    examples = { "mj batch prompts.txt -o out --then U1", "mj batch prompts.txt -o out --split" },
  },
  buttons = {
    usage = "mj buttons TASK [options]", min = 1, max = 1,
    summary = "list the buttons of a task (label, emoji, customId)",
    description = "Any of the three columns can be given to `mj action` or --then.",
    options = {},
    examples = { "mj buttons 1712345678901234" },
  },
}

--- The commands in help order.
M.order = { "imagine", "action", "modal", "blend", "describe", "shorten", "video", "edits", "swap-face",
  "upload", "fetch", "wait", "list", "seed", "download", "buttons", "batch" }

-- ---------------------------------------------------------------- help texts

local function option_lines(list, out)
  for i = 1, #list do
    local o = list[i]
    local left = "  " .. (o.short and ("-" .. o.short .. ", ") or "    ") .. "--" .. o.name
    if o.arg then left = left .. " " .. o.arg end
    if #left < 30 then left = left .. string.rep(" ", 30 - #left) else left = left .. "\n" .. string.rep(" ", 30) end
    out[#out + 1] = left .. o.help
  end
end

-- A blank line, `title` and the help lines of the options in `list`.
local function option_section(title, list, out)
  out[#out + 1] = ""
  out[#out + 1] = title
  option_lines(list, out)
end

--- The text of `mj --help`.
-- Neither blocks nor yields.
-- @treturn string
function M.main_help()
  local out = {
    "mj: drive Midjourney through CometAPI from the command line",
    "",
    "Usage: mj COMMAND [ARGS] [OPTIONS]",
    "       mj COMMAND --help     options of one command",
    "       mj --version          versions of the library, libcurl and Lua",
    "",
    "Commands:",
  }
  for _, name in ipairs(M.order) do
    out[#out + 1] = string.format("  %-10s %s", name, M.commands[name].summary)
  end
  option_section("Options of every command:", M.global_options, out)
  option_section("Submit commands (imagine, action, modal, blend, describe, shorten, video, edits,\n"
    .. "swap-face) also take:", submit_options, out)
  for _, line in ipairs {
    "",
    "The API key comes from $COMETAPI_KEY or --api-key-file (there is no --api-key: it would",
    "land in your shell history). Images given as file paths are sent as data URIs.",
    "",
    "Progress goes to stderr: live bars on a terminal, one plain line per change otherwise.",
    "Results go to stdout (--json: one JSON document per line).",
    "",
    "Exit status: 0 success, 1 task failed, 2 usage error, 3 API or HTTP error, 4 timeout,",
    "130 interrupted (Ctrl-C).",
    "",
    "Example:",
    '  mj imagine "a paper boat at sunrise" --then U2 --download boat.png',
  } do out[#out + 1] = line end
  return table.concat(out, "\n") .. "\n"
end

--- The text of `mj COMMAND --help`.
-- Neither blocks nor yields.
-- @tparam string name a command name
-- @treturn string
function M.command_help(name)
  local c = M.commands[name]
  local out = { "Usage: " .. c.usage, "", c.summary .. ".", "" }
  out[#out + 1] = c.description
  if #c.options > 0 then option_section("Options:", c.options, out) end
  option_section("Options of every command:", M.global_options, out)
  if c.examples then
    out[#out + 1] = ""
    out[#out + 1] = "Example:"
    for _, e in ipairs(c.examples) do out[#out + 1] = "  " .. e end
  end
  return table.concat(out, "\n") .. "\n"
end

-- ---------------------------------------------------------------- parsing

-- " (did you mean 'X'?)" for the closest of `candidates` to `word`, or "".
local function suggestion(word, candidates, prefix)
  local near = options.closest(word, candidates)
  if not near then return "" end
  return " (did you mean '" .. (prefix or "") .. near .. "'?)"
end

local function command_names()
  local list = {}
  for i, name in ipairs(M.order) do list[i] = name end
  list[#list + 1] = "help"
  list[#list + 1] = "version"
  return list
end

local function option_names(lists)
  local list = {}
  for _, l in ipairs(lists) do
    for _, o in ipairs(l) do list[#list + 1] = o.name end
  end
  return list
end

local function find_option(lists, token)
  for _, list in ipairs(lists) do
    for _, o in ipairs(list) do
      if token == o.name or token == o.short then return o end
    end
  end
  return nil
end

local function store(opts, o, value, label)
  if o.flag then
    opts[o.name] = true
    return true
  end
  if o.number then
    local n = tonumber(value)
    if not n or n ~= n or n <= 0 or n == math.huge then
      return nil, string.format("option %s expects a positive number, got %q", label, value)
    end
    value = n
  elseif o.choices then
    local v = o.choices[value] or o.choices[value:lower()]
    if not v then return nil, string.format("option %s expects %s, got %q", label, o.arg, value) end
    value = v
  end
  if o.multi then
    opts[o.name] = opts[o.name] or {}
    local list = opts[o.name]
    list[#list + 1] = value
  elseif opts[o.name] ~= nil then
    return nil, "option " .. label .. " given twice"
  else
    opts[o.name] = value
  end
  return true
end

--- Parses the argument list (`arg` of the script, from index 1).
-- Neither blocks nor yields.
-- @tparam table argv
-- @return `{ command =, args =, opts = }`, or `{ help = true, command = name|nil }`,
-- or `{ version = true }`; `nil, message` on a usage error (message names the
-- command when known, as the second field `command` of the third result).
function M.parse(argv)
  local opts, args = {}, {}
  local command
  local i, n = 1, #argv
  local no_more_options = false
  while i <= n do
    local a = argv[i]
    if not no_more_options and a == "--" then
      no_more_options = true
    elseif not no_more_options and a:sub(1, 1) == "-" and a ~= "-" then
      local name, value, label
      if a:sub(1, 2) == "--" then
        name, value = a:match("^%-%-([^=]+)=(.*)$")
        if not name then name = a:sub(3) end
        label = "--" .. name
      else
        name = a:sub(2)
        label = a
      end
      if name == "version" or name == "V" then
        if command == nil then return { version = true } end
      end
      if name == "api-key" or name == "key" then
        return nil, "there is no --api-key option (a key on the command line lands in shell history): "
          .. "set COMETAPI_KEY or use --api-key-file FILE", command
      end
      local lists = { M.global_options }
      if command then lists[2] = M.commands[command].options end
      local o = find_option(lists, name)
      if not o then
        local known = lists
        if not command then -- before the command: any command's option is a likely meaning
          known = { M.global_options }
          for _, c in pairs(M.commands) do known[#known + 1] = c.options end
        end
        return nil, "unknown option '" .. label .. "'" .. (command and (" for " .. command) or "")
          .. suggestion(name, option_names(known), "--"), command
      end
      if o.flag then
        if value then return nil, "option " .. label .. " takes no value", command end
      elseif not value then
        i = i + 1
        value = argv[i]
        if value == nil then return nil, "option " .. label .. " needs a value (" .. o.arg .. ")", command end
      end
      local ok, err = store(opts, o, value, label)
      if not ok then return nil, err, command end
    elseif command == nil then
      if a == "help" then
        local topic = argv[i + 1]
        if topic and not M.commands[topic] then
          local hint = suggestion(topic, M.order)
          return nil, "unknown command '" .. topic .. "'" .. (hint ~= "" and hint or " (see mj --help)")
        end
        return { help = true, command = topic }
      end
      if a == "version" then return { version = true } end
      if not M.commands[a] then
        local hint = suggestion(a, command_names())
        return nil, "unknown command '" .. a .. "'" .. (hint ~= "" and hint or " (see mj --help)")
      end
      command = a
    else
      args[#args + 1] = a
    end
    i = i + 1
  end
  if opts.help then return { help = true, command = command } end
  if not command then return nil, "no command given (see mj --help)" end
  local c = M.commands[command]
  if #args < c.min then
    return nil, string.format("%s: missing argument (usage: %s)", command, c.usage), command
  end
  if #args > c.max then
    return nil, string.format("%s: too many arguments (usage: %s)", command, c.usage), command
  end
  for _, a in ipairs(args) do
    if a == "" then return nil, command .. ": empty argument", command end
  end
  if opts.tty and opts["no-tty"] then return nil, "--tty and --no-tty exclude each other", command end
  return { command = command, args = args, opts = opts }
end

return M
