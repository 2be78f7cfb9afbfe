---@meta
-- LuaCATS definitions of midjourney.client for lua-language-server (see README "Editor support").
-- The LDoc reference (`make doc`) has the full documentation; spec/annotations_spec.lua checks
-- this file against the real module.

---The submit envelope, decoded: `{code, description, result, properties}` (codes 1, 21, 22 mean accepted).
---@class midjourney.Envelope
---@field code integer # 1 submitted, 21 existed or waiting in MODAL, 22 queued; any other code is an error
---@field description string
---@field result string|string[]|nil # the task id (a list of URLs for `upload`)
---@field properties? table # e.g. `numberOfQueues`, `discordInstanceId`, `bannedWord`

---What `client:download` returns beside the path.
---@class midjourney.DownloadInfo
---@field size? integer
---@field content_type? string
---@field url? string # redacted
---@field source? "imageUrls"|"split" # with `split`
---@field sizes? integer[] # with `split`

---The options of `mj.new` and `client.new`. Times are seconds (0 to 1,000,000), sizes whole bytes.
---@class midjourney.ClientOptions
---@field api_key? string # else env COMETAPI_KEY
---@field base_url? string # else env COMETAPI_BASE_URL, else https://api.cometapi.com
---@field mode? string # "turbo", "fast" or "relax": path prefix /mj-<mode>
---@field timeout? number # per request, default 60
---@field submit_timeout? number # submits that carry images, default max(timeout, 120)
---@field connect_timeout? number # default 10
---@field low_speed_time? number # abort a transfer that moves less than 1 byte/s for this long
---@field deadline? number # per operation, retries and sleeps included; default 2 * timeout + 10
---@field max_body? integer # JSON bodies, default 32 MiB
---@field max_download? integer # downloads, default 512 MiB
---@field max_retries? integer # default 2
---@field retry_base? number # default 0.5
---@field retry_cap? number # default 8
---@field max_retry_after? number # default 60
---@field verify? boolean # TLS verification, default true
---@field ca_file? string
---@field ca_path? string
---@field user_agent? string
---@field headers? string[] # extra "Name: value" lines
---@field logger? fun(level: string, line: string, fields: table)
---@field log_level? "debug"|"info"|"warn"|"error"
---@field random? fun(): number # RNG for the backoff jitter (specs)
---@field sleep? fun(seconds: number) # sleep override (specs)

---The library options of the submits, `fetch`, `list` and `image_seed`.
---@class midjourney.CallOptions
---@field timeout? number # per request
---@field deadline? number # the whole operation, retries included

---The options of `client:wait` and `client:wait_all`.
---@class midjourney.WaitOptions
---@field timeout? number # default 600
---@field interval? number # between polls, default 3
---@field first_delay? number # before the first poll of a task this client just submitted, default 3
---@field on_progress? fun(task: midjourney.Task) # on a status or progress change
---@field on_stall? fun(task: midjourney.Task)
---@field stall_timeout? number # seconds without change that make a stall
---@field stall_error? boolean # end the wait on a stall
---@field not_found_limit? integer # consecutive not_found answers that end it, default 3
---@field coalesce? boolean # share polls between waits, default true
---@field batch? integer # ids per list request, default 50

---The options of `client:action`: wire fields (sent) and library options.
---@class midjourney.ActionOptions
---@field state? string # wire field
---@field enableRemix? boolean # wire field
---@field chooseSameChannel? boolean # wire field
---@field notifyHook? string # wire field
---@field accountFilter? table # wire field
---@field timeout? number
---@field deadline? number
---@field remix? string # a Remix prompt: the dialog is answered with it
---@field wait? boolean|midjourney.WaitOptions # return the finished task instead of its id

---The options of `client:change`.
---@class midjourney.ChangeOptions
---@field state? string # wire field
---@field notifyHook? string # wire field
---@field timeout? number
---@field deadline? number

---The options of the verbs: the wire fields of `action`, `wait` and the wait options (flat).
---@class midjourney.VerbOptions: midjourney.WaitOptions
---@field state? string # wire field
---@field enableRemix? boolean # wire field
---@field chooseSameChannel? boolean # wire field
---@field notifyHook? string # wire field
---@field accountFilter? table # wire field
---@field wait? boolean # return the finished task instead of its id

---The options of `client:upscale`.
---@class midjourney.UpscaleOptions: midjourney.VerbOptions

---The options of `client:variation`.
---@class midjourney.VariationOptions: midjourney.VerbOptions
---@field strong? boolean # Vary (Strong) on an upscaled image
---@field remix? string # a Remix prompt

---The options of `client:reroll`.
---@class midjourney.RerollOptions: midjourney.VerbOptions
---@field remix? string # a Remix prompt

---The options of `client:zoom_out`.
---@class midjourney.ZoomOutOptions: midjourney.VerbOptions

---The options of `client:pan`.
---@class midjourney.PanOptions: midjourney.VerbOptions
---@field remix? string # a Remix prompt

---The options of `client:upscale_hd`.
---@class midjourney.UpscaleHdOptions: midjourney.VerbOptions

---The options of `client:vary_region`.
---@class midjourney.VaryRegionOptions: midjourney.VerbOptions
---@field modal_timeout? number # how long to wait for the MODAL, default 600

---The options of `client:custom_zoom`.
---@class midjourney.CustomZoomOptions: midjourney.VerbOptions
---@field modal_timeout? number # how long to wait for the MODAL, default 600

---The options of `client:download`.
---@class midjourney.DownloadOptions
---@field max_bytes? integer # default: the client's max_download
---@field timeout? number # default 300
---@field low_speed_time? number
---@field deadline? number
---@field content_types? string[] # accepted prefixes, default {"image/", "video/"}
---@field video? boolean # the task's videoUrl (videoUrls[index] with index)
---@field index? integer # imageUrls[index] (videoUrls[index] with video)
---@field split? boolean # the four pictures of a grid as four files

---A client, from `mj.new`. Its fields are read-only settings; the API key is not among them.
---Every method that talks to the server blocks in plain code and yields inside a scheduler
---coroutine; runtime failures return `nil, err`.
---@class midjourney.Client
---@field base_url string
---@field prefix string # "/mj-<mode>" or ""
---@field timeout number
---@field submit_timeout number
---@field connect_timeout number
---@field low_speed_time? number
---@field deadline number
---@field max_body integer
---@field max_download integer
---@field verify boolean
---@field ca_file? string
---@field ca_path? string
---@field user_agent string
---@field extra_headers? string[]
local Client = {}

---When this client submitted task `id` (seconds on `scheduler.now()`'s clock), or nil.
---@param id string
---@return number?
function Client:submitted_at(id) end

---True when this client answered task `id`'s MODAL dialog (a MODAL snapshot of it is then stale).
---@param id string
---@return boolean
function Client:answered_modal(id) end

---Submit `/mj/submit/imagine`. Blocks, or yields in a scheduler coroutine.
---@param prompt string|table # the prompt, or a table of wire fields (`prompt` required)
---@param opts? midjourney.CallOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:imagine(prompt, opts) end

---Submit `/mj/submit/blend`: 2 to 5 images into one grid. Blocks, or yields.
---@param fields table # `base64Array`, `dimensions`, `botType`, `state`, ...
---@param opts? midjourney.CallOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:blend(fields, opts) end

---Submit `/mj/submit/describe`: an image to four prompts. Blocks, or yields.
---@param fields table # `base64` (a data URI) or `link` (a URL), `botType`, ...
---@param opts? midjourney.CallOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:describe(fields, opts) end

---Submit `/mj/submit/shorten`: analyse a prompt. Blocks, or yields.
---@param fields table # `prompt`, `botType`, ...
---@param opts? midjourney.CallOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:shorten(fields, opts) end

---Submit `/mj/submit/video` (a new video, or `action = "extend"`). Blocks, or yields.
---@param fields table # `image`, `motion`, `prompt`, ...; or `action`, `taskId`, `index`
---@param opts? midjourney.CallOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:video(fields, opts) end

---Submit `/mj/submit/edits`: edit an image by prompt. Blocks, or yields.
---@param fields table # `image` (URL or data URI), `prompt`
---@param opts? midjourney.CallOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:edits(fields, opts) end

---Submit `/mj/insight-face/swap`. Blocks, or yields.
---@param fields table # `sourceBase64` (the face), `targetBase64`
---@param opts? midjourney.CallOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:swap_face(fields, opts) end

---Upload images (`/mj/submit/upload-discord-images`) to get URLs for them. Blocks, or yields.
---@param fields table # `base64Array` (data URIs)
---@param opts? midjourney.CallOptions
---@return string[]? urls
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:upload(fields, opts) end

---Fetch one task (`GET /mj/task/{id}/fetch`); an unknown id gives kind "not_found". Blocks, or yields.
---@param id string|number|midjourney.Task
---@param opts? midjourney.CallOptions
---@return midjourney.Task? task
---@return midjourney.Error? err
function Client:fetch(id, opts) end

---List tasks by id (`POST /mj/task/list-by-condition`); unknown ids are left out. Blocks, or yields.
---@param list (string|number|midjourney.Task)[]
---@param opts? midjourney.CallOptions
---@return midjourney.Task[]? tasks
---@return midjourney.Error? err
function Client:list(list, opts) end

---The seed of a finished task (`GET /mj/task/{id}/image-seed`). Blocks, or yields.
---@param id string|number|midjourney.Task
---@param opts? midjourney.CallOptions # timeout defaults to 90 s here
---@return string? seed
---@return midjourney.Error? err
function Client:image_seed(id, opts) end

---Press a button (`/mj/submit/action`), resolved against the task's newest buttons. Blocks, or yields.
---@param task_or_id string|number|midjourney.Task
---@param button string|table # label ("U1"), emoji, customId, family ("upsample::2") or a button table
---@param opts? midjourney.ActionOptions
---@return string|midjourney.Task|nil id_or_task # the new task id; with `wait`, the finished Task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:action(task_or_id, button, opts) end

---Answer a task waiting in MODAL (`/mj/submit/modal`): Vary Region, Custom Zoom, Remix. Blocks, or yields.
---@param task_or_id string|number|midjourney.Task
---@param fields? table # `prompt`, `maskBase64`, `state`, `notifyHook`, ...
---@param opts? midjourney.CallOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:modal(task_or_id, fields, opts) end

---The older button API (`/mj/submit/change`). Blocks, or yields.
---@param task_or_id string|number|midjourney.Task
---@param action "UPSCALE"|"VARIATION"|"REROLL"
---@param index integer # 1..4
---@param opts? midjourney.ChangeOptions
---@return string? task_id
---@return midjourney.Envelope|midjourney.Error envelope_or_err
function Client:change(task_or_id, action, index, opts) end

---Wait for a task to end: SUCCESS or MODAL return the task; FAILURE/CANCEL give kind "task_failed",
---the deadline kind "timeout" (with `err.task`). Blocks, or yields in a scheduler coroutine.
---@param id_or_task string|number|midjourney.Task
---@param opts? midjourney.WaitOptions
---@return midjourney.Task? task
---@return midjourney.Error? err
function Client:wait(id_or_task, opts) end

---Wait for many tasks at once (shared polls). Blocks, or yields.
---@param list (string|number|midjourney.Task)[]
---@param opts? midjourney.WaitOptions
---@return table<string, midjourney.Task> results # by id: the tasks that reached SUCCESS or MODAL
---@return table<string, midjourney.Error>? errors # by id; nil when none
function Client:wait_all(list, opts) end

---Upscale image `i` of a grid (button U`i`). Blocks, or yields.
---@param task string|number|midjourney.Task
---@param i integer # 1..4
---@param opts? midjourney.UpscaleOptions
---@return string|midjourney.Task|nil id_or_task # with `wait`, the finished Task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:upscale(task, i, opts) end

---Variations: of image `i` of a grid, or Vary (Subtle/Strong) of an upscaled image. Blocks, or yields.
---@param task string|number|midjourney.Task
---@param i? integer # 1..4 (grids)
---@param opts? midjourney.VariationOptions
---@return string|midjourney.Task|nil id_or_task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:variation(task, i, opts) end

---Re-run the job. Blocks, or yields.
---@param task string|number|midjourney.Task
---@param opts? midjourney.RerollOptions
---@return string|midjourney.Task|nil id_or_task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:reroll(task, opts) end

---Zoom out an upscaled image. Blocks, or yields.
---@param task string|number|midjourney.Task
---@param factor number|"square" # 2, 1.5 or "square"
---@param opts? midjourney.ZoomOutOptions
---@return string|midjourney.Task|nil id_or_task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:zoom_out(task, factor, opts) end

---Pan an upscaled image. Blocks, or yields.
---@param task string|number|midjourney.Task
---@param dir "left"|"right"|"up"|"down"
---@param opts? midjourney.PanOptions
---@return string|midjourney.Task|nil id_or_task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:pan(task, dir, opts) end

---HD upscale of an upscaled image. Blocks, or yields.
---@param task string|number|midjourney.Task
---@param kind "subtle"|"creative"
---@param opts? midjourney.UpscaleHdOptions
---@return string|midjourney.Task|nil id_or_task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:upscale_hd(task, kind, opts) end

---Vary (Region): press the button, wait for its MODAL, send the mask and the prompt. Blocks, or yields.
---@param task string|number|midjourney.Task
---@param mask string|table # a PNG data URI, raw base64, a PNG path or bytes; or shapes (`midjourney.image.mask`)
---@param prompt string
---@param opts? midjourney.VaryRegionOptions
---@return string|midjourney.Task|nil id_or_task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:vary_region(task, mask, prompt, opts) end

---Custom Zoom: press the button, wait for its MODAL, send the prompt (`--zoom <1..2>`). Blocks, or yields.
---@param task string|number|midjourney.Task
---@param prompt string
---@param opts? midjourney.CustomZoomOptions
---@return string|midjourney.Task|nil id_or_task
---@return midjourney.Envelope|midjourney.Error|nil envelope_or_err
function Client:custom_zoom(task, prompt, opts) end

---Download a task's image (or a URL) to `dest`, streaming to disk (with `split`: four files).
---Blocks, or yields.
---@param task_or_url midjourney.Task|string
---@param dest string # a file (with `split`: a directory or a base name)
---@param opts? midjourney.DownloadOptions
---@return string|string[]|nil path # with `split`, the four paths
---@return midjourney.DownloadInfo|midjourney.Error info_or_err
function Client:download(task_or_url, dest, opts) end

---An options schema of the library (`schema:check(opts)`, `schema.fields`, `schema:keys()`).
---@class midjourney.OptionsSchema
---@field fname string
---@field fields table<string, any>
---@field wire table<string, boolean>

---@class midjourney.client
---@field VERSION string # the library version
---@field USER_AGENT string # the default User-Agent
---@field new_options midjourney.OptionsSchema # the options of `mj.new`
---@field action_options midjourney.OptionsSchema # the options of `client:action`
---@field Client midjourney.Client # the metatable of every client
local M = {}

---Create a client. Neither blocks nor yields.
---@param opts? midjourney.ClientOptions
---@return midjourney.Client
function M.new(opts) end

---True when `v` is a client. Neither blocks nor yields.
---@param v any
---@return boolean
function M.is_client(v) end

return M
