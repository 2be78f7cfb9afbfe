---@meta
-- LuaCATS definitions of midjourney.simulator (the simulator's public entry) for
-- lua-language-server (see README "Editor support"). The LDoc reference (`make doc`) has the
-- full documentation; spec/annotations_spec.lua checks this file against the real module.

---The options of `simulator.new`.
---@class midjourney.SimulatorOptions
---@field host? string # default "127.0.0.1"
---@field port? integer # 0 picks a free port (default)
---@field speed? number # every duration is divided by it, default 1
---@field seed? integer # ids, hashes and timings repeat with one
---@field key? string # nil: any non-empty key
---@field faults? table[] # fault rules (see mj-simulator --help)
---@field log? fun(line: string)
---@field instant? boolean # no gateway sync lag, one row per id
---@field sync? number # the gateway's sync period in gateway seconds, default 15
---@field remix_mode? boolean # the account is in Remix mode
---@field image_urls? boolean # SUCCESS grids carry imageUrls
---@field banned_words? string[] # default {"forbiddenword"}

---A running simulator, from `simulator.new`.
---@class midjourney.Simulator
---@field host string
---@field speed number
---@field key? string
local Sim = {}

---The base URL, e.g. "http://127.0.0.1:41234". Does not block.
---@return string
function Sim:url() end

---The port it listens on. Does not block.
---@return integer
function Sim:port() end

---Adds fault rules. Does not block.
---@param list table[]
---@return true? ok
---@return string? err
function Sim:add_faults(list) end

---Statistics as served by `GET /_sim/stats`. Does not block.
---@return table
function Sim:stats() end

---Clears statistics and fault rules (tasks are kept). Does not block.
function Sim:reset() end

---Merges fields into a stored task's fetch output. Does not block.
---@param id string
---@param patch table # `{"$raw": "text"}` is emitted verbatim, `{"$delete": true}` removes the key
---@return true? ok
---@return string? err
function Sim:patch_task(id, patch) end

---Answers a control request under `/_sim/`. Does not block.
---@param req table # a parsed request
---@return table response
function Sim:control(req) end

---Handles one parsed request (called by the server). Does not block.
---@param req table
---@param close boolean
---@return table ops
---@return boolean must_close
function Sim:handle(req, close) end

---Watches a task with a notifyHook so that its forward changes are posted. Does not block.
---@param t table
function Sim:watch(t) end

---Posts notifyHook callbacks for watched tasks that moved forward. Does not block.
---@return number? next # when it wants to look again (socket.gettime)
function Sim:notify() end

---Serves for at most `timeout` seconds (0: just poll). Blocks up to `timeout` seconds.
---@param timeout? number
---@return boolean running # false once /_sim/shutdown was called
function Sim:step(timeout) end

---Serves until /_sim/shutdown. Blocks.
---@param opts? { watch_pid: integer } # also stop when that process is gone
function Sim:run(opts) end

---Stops listening and closes every connection (idempotent). Does not block.
function Sim:close() end

---A local simulator of CometAPI's Midjourney gateway (LuaSocket).
---@class midjourney.simulator
---@field VERSION string
---@field HOOK_POLL number # seconds between two looks at the tasks watched for notifyHook callbacks
local M = {}

---Starts a simulator listening on host:port. Does not block.
---@param opts? midjourney.SimulatorOptions
---@return midjourney.Simulator? sim
---@return string? err
function M.new(opts) end

return M
