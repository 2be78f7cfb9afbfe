-- The public API, read from the real modules at run time. spec/reference_spec.lua checks that
-- the LDoc reference documents all of it (and that internal modules have no page);
-- spec/annotations_spec.lua checks the LuaCATS definitions in types/ against it.
--
-- What is public is decided here, once: every module under lua/midjourney/ is either in
-- `public` (or a driver: every file of lua/midjourney/drivers/ is public) or in `internal`;
-- a new module in neither list fails both specs until someone decides.
local M = {}

M.root = os.getenv("PWD") or "."

-- The public modules, in the order of the reference's index.
M.public = {
  "midjourney", "midjourney.client", "midjourney.task", "midjourney.errors",
  "midjourney.scheduler", "midjourney.batch", "midjourney.journal", "midjourney.image",
  "midjourney.image.uri", "midjourney.simulator", "midjourney.json", "midjourney.core",
}

-- The internal modules: layers under the client, the mj command, the simulator's internals,
-- :checkhealth. They have no page in the reference and no definition file.
M.internal = {
  "midjourney.attachments", "midjourney.buttons", "midjourney.customid", "midjourney.download",
  "midjourney.health",
  "midjourney.ids", "midjourney.log", "midjourney.options", "midjourney.poller",
  "midjourney.responses", "midjourney.retry", "midjourney.transport", "midjourney.validate",
  "midjourney.verbs", "midjourney.wait",
  "midjourney.cli", "midjourney.cli.args", "midjourney.cli.batch", "midjourney.cli.commands",
  "midjourney.cli.images", "midjourney.cli.render",
  "midjourney.simulator.faults", "midjourney.simulator.hooks", "midjourney.simulator.http",
  "midjourney.simulator.json", "midjourney.simulator.png", "midjourney.simulator.rng",
  "midjourney.simulator.routes", "midjourney.simulator.server", "midjourney.simulator.tasks",
}

-- Module-table keys that are reached through a metatable (`mj.errors` loads the module on
-- first use), so `pairs` does not list them.
M.lazy_keys = {
  midjourney = { "errors", "json", "core", "scheduler", "batch" },
}

-- Methods of public objects that are the object's own machinery, not API (each is called
-- only from inside its module).
M.internal_methods = {
  Runner = {
    emit = true, saturated = true, calm = true, halt = true, set_fatal = true, read_failed = true,
    record = true, await = true, submit = true, obtain = true, save = true, run_job = true,
    paths = true, take = true, worker = true, drive = true, result = true,
  },
}

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

-- Every module under lua/midjourney/, by name, sorted; and the drivers among them.
function M.all_modules()
  local out = {}
  for file in sh("cd " .. M.root .. "/lua && find midjourney -name '*.lua' | sort"):gmatch("[^\n]+") do
    local name = file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
    out[#out + 1] = name
  end
  out[#out + 1] = "midjourney.core" -- the C module (docs/core.luadoc)
  table.sort(out)
  return out
end

function M.drivers()
  local out = {}
  for _, name in ipairs(M.all_modules()) do
    if name:match("^midjourney%.drivers%.") then out[#out + 1] = name end
  end
  return out
end

-- Every public module: `public` plus the drivers.
function M.public_modules()
  local out = {}
  for _, n in ipairs(M.public) do out[#out + 1] = n end
  for _, n in ipairs(M.drivers()) do out[#out + 1] = n end
  return out
end

function M.set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- The source file of a Lua module.
function M.source(name)
  local rel = name:gsub("%.", "/")
  for _, p in ipairs({ "/lua/" .. rel .. ".lua", "/lua/" .. rel .. "/init.lua" }) do
    local f = io.open(M.root .. p, "rb")
    if f then
      local text = f:read("*a")
      f:close()
      return text, M.root .. p
    end
  end
  return nil
end

-- A driver's table when its host library is missing here (a driver for a library this
-- machine lacks): its `function M.name(` and `M.name =` lines, read from the source.
local function from_source(name)
  local text = assert(M.source(name), "no source for " .. name)
  local t = {}
  for fname in text:gmatch("\nfunction M%.([%w_]+)%s*%(") do t[fname] = function() end end
  for key in text:gmatch("\nM%.([%w_]+)%s*=") do
    if t[key] == nil then t[key] = true end
  end
  return t
end

-- The module's real table. The Neovim driver reads `vim.uv` when it loads: a stand-in
-- `vim` exists only while it is required (busted restores _G after each file).
function M.load(name)
  if name == "midjourney.drivers.nvim" and rawget(_G, "vim") == nil then
    rawset(_G, "vim", { uv = {}, loop = {} })
    local ok, t = pcall(require, name)
    rawset(_G, "vim", nil)
    if not ok then error(t, 0) end
    return t
  end
  local ok, t = pcall(require, name)
  if ok then return t end
  local missing = tostring(t):match("module '([^']+)' not found")
  if name:match("^midjourney%.drivers%.") and missing and not missing:match("^midjourney") then
    return from_source(name), "source"
  end
  error(t, 0)
end

-- The public members of a module table: { name = "function" | "field" }. Keys starting
-- with "_" are private, except `_VERSION`.
function M.members(name)
  local t = M.load(name)
  local out = {}
  for k, v in pairs(t) do
    if type(k) == "string" and (k:sub(1, 1) ~= "_" or k == "_VERSION") then
      out[k] = type(v) == "function" and "function" or "field"
    end
  end
  for _, k in ipairs(M.lazy_keys[name] or {}) do
    assert(t[k] ~= nil, name .. "." .. k .. " is listed as a lazy key but is nil")
    out[k] = type(t[k]) == "function" and "function" or "field"
  end
  return out
end

-- The methods of a metatable's method table (functions whose names do not start with "_").
local function methods_of(tbl, class)
  local out = {}
  local skip = M.internal_methods[class] or {}
  for k, v in pairs(tbl) do
    if type(k) == "string" and type(v) == "function" and k:sub(1, 1) ~= "_" and not skip[k] then
      out[k] = true
    end
  end
  return out
end

-- The upvalue called `name` of function `f` (run-time tables a module keeps local).
function M.upvalue(f, name)
  local i = 1
  while true do
    local n, v = debug.getupvalue(f, i)
    if n == nil then return nil end
    if n == name then return v end
    i = i + 1
  end
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. d))
  return d
end

-- The public objects of each module, from real instances: a list of
-- { module =, class = (LDoc's type name: anchors are "<class>:<method>"),
--   luacats = (the class name in types/), methods = set }.
function M.objects()
  local mj = require "midjourney"
  local out = {}
  local function add(module, class, luacats, tbl)
    out[#out + 1] = { module = module, class = class, luacats = luacats, methods = methods_of(tbl, class) }
  end
  local client = mj.new { api_key = "sk-surface", base_url = "http://127.0.0.1:9" }
  add("midjourney.client", "Client", "midjourney.Client", getmetatable(client).__index)

  local task = require("midjourney.task").new { id = "1", status = "SUCCESS" }
  local methods = M.upvalue(getmetatable(task).__index, "methods")
  assert(type(methods) == "table", "midjourney.task: Task.__index has no upvalue 'methods'")
  add("midjourney.task", "Task", "midjourney.Task", methods)

  local scheduler = require "midjourney.scheduler"
  local s = scheduler.new()
  add("midjourney.scheduler", "Scheduler", "midjourney.Scheduler", getmetatable(s).__index)
  local h = s:spawn(function() end)
  add("midjourney.scheduler", "Handle", "midjourney.Handle", getmetatable(h).__index)
  h:cancel()

  local dir = tmpdir()
  local runner = require("midjourney.batch").new(client, { "a boat" }, { dir = dir })
  add("midjourney.batch", "Runner", "midjourney.batch.Runner", getmetatable(runner).__index)
  local j = assert(require("midjourney.journal").open(dir .. "/j.jsonl", { fingerprint = "surface" }))
  add("midjourney.journal", "Journal", "midjourney.journal.Journal", getmetatable(j).__index)
  j:close()
  os.execute("rm -rf " .. dir)

  local sim = assert(require("midjourney.simulator").new { port = 0 })
  add("midjourney.simulator", "Sim", "midjourney.Simulator", getmetatable(sim).__index)
  sim:close()

  local engine = require("midjourney.core").engine()
  add("midjourney.core", "engine", "midjourney.core.Engine", getmetatable(engine).__index)
  engine:close()

  -- the drivers' attachments: their method tables, read from the modules (no live libuv or
  -- cqueues handles are made here, so no loop outlives this helper)
  for _, d in ipairs({ "luv", "cqueues" }) do
    local name = "midjourney.drivers." .. d
    local mod = M.load(name)
    local attach = mod and mod.attach
    local class = attach and (M.upvalue(attach, "Attachment")
      or (M.upvalue(attach, "new_pump") and M.upvalue(M.upvalue(attach, "new_pump"), "Attachment")))
    if class then add(name, "Attachment", name .. ".Attachment", class) end
  end
  return out
end

return M
