-- The LuaCATS definition files in types/ (what lua-language-server reads) match the real
-- library: one `---@meta` file per public module, every public function, field and method
-- annotated and nothing that does not exist, and every key of every options schema in its
-- options class with a matching type (and no other key).
--
-- The definition files are the project's own regular format, parsed here with patterns:
--   ---@class NAME[: PARENT]          then its `---@field name[?] TYPE # text` lines, then
--   local X = {}                      (binds X to the class, for the functions below)
--   function X.name(...) end          a module function; `function X:name(...) end` a method
--   return M                          the module's class
local surface = require "spec.helpers.surface"

local root = surface.root

local read = require("spec.helpers.simulator").read_file

local function sorted(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- Parses one definition file: { classes = { [name] = {parent, fields, functions} }, returned }.
local function parse(text, where)
  local classes, locals = {}, {}
  local current, pending, returned
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local at = where .. ":" .. n
    local cname, parent = line:match("^%-%-%-@class%s+([%w_.]+)%s*:%s*([%w_.%[%]]+)%s*$")
    if not cname then cname = line:match("^%-%-%-@class%s+([%w_.]+)%s*$") end
    if cname then
      assert(not classes[cname], at .. ": class " .. cname .. " defined twice")
      classes[cname] = { parent = parent, fields = {}, functions = {} }
      current, pending = cname, cname
    elseif line:match("^%-%-%-@class") then
      error(at .. ": a class line this spec cannot read: " .. line)
    elseif line:match("^%-%-%-@field%s+%[") then -- index fields ([1], [string]): not keys
      assert(current, at .. ": a field outside a class")
    elseif line:match("^%-%-%-@field") then
      local fname, opt, ftype = line:match("^%-%-%-@field%s+([%a_][%w_]*)(%??)%s+(.-)%s*$")
      assert(fname and current, at .. ": a field line this spec cannot read: " .. line)
      ftype = ftype:gsub("%s+#.*$", "")
      assert(not classes[current].fields[fname], at .. ": field " .. fname .. " twice in " .. current)
      classes[current].fields[fname] = { optional = opt == "?", type = ftype }
    elseif line:match("^%-%-%-") then -- a description, @param, @return, @alias, @overload, @meta
      if not line:match("^%-%-%-@") then current = nil end
    else
      current = nil
      local var = line:match("^local%s+([%a_][%w_]*)%s*=%s*{}%s*$")
      if var then
        assert(pending, at .. ": local " .. var .. " without a class")
        locals[var] = pending
      end
      pending = nil
      local owner, sep, fname = line:match("^function%s+([%a_][%w_]*)([.:])([%a_][%w_]*)%s*%(")
      if owner then
        local class = assert(locals[owner], at .. ": " .. owner .. " is not bound to a class")
        assert(line:match("%)%s*end%s*$"), at .. ": a definition has no body: `function ...(...) end`")
        assert(not classes[class].functions[fname], at .. ": " .. fname .. " twice in " .. class)
        classes[class].functions[fname] = sep
      end
      local r = line:match("^return%s+([%a_][%w_]*)%s*$")
      if r then returned = assert(locals[r], at .. ": returns " .. r .. ", which is not bound to a class") end
    end
  end
  return { classes = classes, returned = returned }
end

-- The definition file of a module: types/a/b.lua or types/a/b/init.lua.
local function types_file(name)
  local rel = name:gsub("%.", "/")
  for _, p in ipairs({ "types/" .. rel .. ".lua", "types/" .. rel .. "/init.lua" }) do
    local text = read(root .. "/" .. p)
    if text then return text, p end
  end
  return nil
end

-- Every class of every definition file, and which file defines it.
local function all_classes(files)
  local out = {}
  for _, f in pairs(files) do
    for cname, c in pairs(f.classes) do
      assert(not out[cname], "class " .. cname .. " is defined in two files")
      out[cname] = c
    end
  end
  return out
end

-- A class's fields, its parents' included.
local function fields_of(classes, cname)
  local out, seen = {}, {}
  while cname do
    assert(not seen[cname], "a class cycle at " .. cname)
    seen[cname] = true
    local c = assert(classes[cname], "no class " .. cname)
    for k, v in pairs(c.fields) do
      if out[k] == nil then out[k] = v end
    end
    cname = c.parent
  end
  return out
end

-- Whether an annotated type fits an options schema's kind.
local function type_fits(kind, t)
  if type(kind) == "table" then -- a list of allowed values
    for _, v in ipairs(kind) do
      if not t:find('"' .. tostring(v) .. '"', 1, true) then return false end
    end
    return true
  end
  if type(kind) ~= "string" or kind == "any" then return true end -- a custom check, or any
  local want = {
    string = { "string" }, boolean = { "boolean" }, ["function"] = { "fun%(", "function" },
    table = { "table", "%[%]", "midjourney%." }, seconds = { "number" }, number = { "number" },
    count = { "integer" }, bytes = { "integer" },
  }
  for _, p in ipairs(want[kind] or {}) do
    if t:find(p) then return true end
  end
  return false
end

describe("the LuaCATS definitions in types/", function()
  local files, classes = {}, nil

  setup(function()
    for _, name in ipairs(surface.public_modules()) do
      local text, path = types_file(name)
      if text then files[name] = parse(text, path) end
    end
    classes = all_classes(files)
  end)

  it("have one ---@meta file per public module, returning the module's class", function()
    for _, name in ipairs(surface.public_modules()) do
      local text, path = types_file(name)
      assert(text, "no definition file for " .. name .. " (types/" .. name:gsub("%.", "/") .. ".lua)")
      assert.are.equal("---@meta", text:match("^[^\n]*"), path .. " must start with ---@meta")
      assert.are.equal(name, files[name].returned, path .. " must `return` the local of class " .. name)
    end
  end)

  it("have no file for a module that is not public", function()
    local public = surface.set(surface.public_modules())
    local p = io.popen("cd " .. root .. "/types && find . -name '*.lua' | sort")
    local list = p:read("*a")
    p:close()
    local n = 0
    for file in list:gmatch("[^\n]+") do
      n = n + 1
      local name = file:gsub("^%./", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      assert(public[name], "types/" .. file:gsub("^%./", "") .. " is for " .. name .. ", not a public module")
    end
    assert.is_true(n >= #surface.public_modules())
  end)

  it("are valid Lua that loads on this interpreter", function()
    for _, name in ipairs(surface.public_modules()) do
      local _, path = types_file(name)
      local chunk, err = loadfile(root .. "/" .. path)
      assert(chunk, err)
      local ok, t = pcall(chunk)
      assert(ok, t)
      assert.are.equal("table", type(t), path .. " returns no table")
    end
  end)

  it("annotate every public function and field of every module, and nothing else", function()
    local problems = {}
    for _, name in ipairs(surface.public_modules()) do
      local real = surface.members(name)
      local t = surface.load(name)
      local c = files[name].classes[name]
      for _, k in ipairs(sorted(real)) do
        if real[k] == "function" and c.functions[k] ~= "." then
          problems[#problems + 1] = name .. "." .. k .. ": function not annotated (function M." .. k .. "(...) end)"
        elseif real[k] == "field" and not c.fields[k] then
          problems[#problems + 1] = name .. "." .. k .. ": field not annotated (---@field)"
        end
      end
      for _, k in ipairs(sorted(c.functions)) do
        if c.functions[k] ~= "." then
          problems[#problems + 1] = name .. ":" .. k .. ": a module function written with ':'"
        end
        if type(t[k]) ~= "function" then
          problems[#problems + 1] = name .. "." .. k .. ": annotated, but no such function"
        end
      end
      for _, k in ipairs(sorted(c.fields)) do
        if t[k] == nil then problems[#problems + 1] = name .. "." .. k .. ": annotated, but no such field" end
      end
    end
    assert.are.same({}, problems)
  end)

  it("annotate every method of every public object (also those attached at run time), and nothing else", function()
    local problems, n = {}, 0
    for _, o in ipairs(surface.objects()) do
      local c = classes[o.luacats]
      if not c then
        problems[#problems + 1] = "no class " .. o.luacats .. " for " .. o.module .. "'s " .. o.class
      else
        for _, m in ipairs(sorted(o.methods)) do
          n = n + 1
          if c.functions[m] ~= ":" then
            problems[#problems + 1] = o.luacats .. ":" .. m .. " not annotated (function " .. o.class .. ":" .. m
              .. "(...) end)"
          end
        end
        for _, m in ipairs(sorted(c.functions)) do
          if not o.methods[m] then
            problems[#problems + 1] = o.luacats .. ":" .. m .. ": annotated, but no such method"
          end
        end
      end
    end
    assert.are.same({}, problems)
    assert.is_true(n > 60, "only " .. n .. " methods found: the enumeration is broken")
  end)

  -- Every options table with a key list at run time, and its class.
  local function option_tables()
    local client = require "midjourney.client"
    local Client = client.Client
    local call_schema = surface.upvalue(Client.imagine, "call_schema")
    assert(call_schema, "client.lua: Client:imagine has no upvalue 'call_schema'")
    local change_options = surface.upvalue(Client.change, "change_options")
    assert(change_options, "client.lua: Client:change has no upvalue 'change_options'")
    local list = {
      { class = "midjourney.ClientOptions", schema = client.new_options },
      { class = "midjourney.CallOptions", schema = call_schema("imagine") },
      { class = "midjourney.ActionOptions", schema = client.action_options },
      { class = "midjourney.ChangeOptions", schema = change_options },
      { class = "midjourney.WaitOptions", schema = require("midjourney.wait").options },
      { class = "midjourney.DownloadOptions", schema = require("midjourney.download").options },
    }
    local verb_classes = {
      upscale = "midjourney.UpscaleOptions", variation = "midjourney.VariationOptions",
      reroll = "midjourney.RerollOptions", zoom_out = "midjourney.ZoomOutOptions", pan = "midjourney.PanOptions",
      upscale_hd = "midjourney.UpscaleHdOptions", vary_region = "midjourney.VaryRegionOptions",
      custom_zoom = "midjourney.CustomZoomOptions",
    }
    for verb, schema in pairs(require("midjourney.verbs").schemas) do
      assert(verb_classes[verb], "verb " .. verb .. " has options but no options class here")
      list[#list + 1] = { class = verb_classes[verb], schema = schema }
    end
    -- key lists that are not schemas
    local batch_keys = surface.upvalue(require("midjourney.batch").new, "OPTION_KEYS")
    assert(batch_keys, "batch.lua: batch.new has no upvalue 'OPTION_KEYS'")
    list[#list + 1] = { class = "midjourney.BatchOptions", keys = batch_keys }
    local nvim_cfg = surface.upvalue(surface.load("midjourney.drivers.nvim").setup, "cfg")
    assert(nvim_cfg, "drivers/nvim.lua: setup has no upvalue 'cfg'")
    list[#list + 1] = { class = "midjourney.NvimDriverOptions", keys = nvim_cfg }
    -- the option names of the luv and cqueues drivers' attach (lists)
    local function set_of(names)
      local s = {}
      for _, n in ipairs(names) do s[n] = true end
      return s
    end
    local drivers = { { "luv", "midjourney.LuvDriverOptions" }, { "cqueues", "midjourney.CqueuesDriverOptions" } }
    for _, d in ipairs(drivers) do
      local attach = surface.load("midjourney.drivers." .. d[1]).attach
      local names = surface.upvalue(attach, "OPTION_NAMES")
      if not names then -- luv: through check_opts
        local check = surface.upvalue(attach, "check_opts")
        names = check and surface.upvalue(check, "OPTION_NAMES")
      end
      assert(names, "drivers/" .. d[1] .. ".lua: attach has no OPTION_NAMES")
      list[#list + 1] = { class = d[2], keys = set_of(names) }
    end
    return list
  end

  it("list every key of every options schema in its class, with its type, and no other key", function()
    local problems = {}
    for _, o in ipairs(option_tables()) do
      if not classes[o.class] then
        problems[#problems + 1] = "no class " .. o.class
      else
        local have = fields_of(classes, o.class)
        local keys = o.schema and o.schema.fields or o.keys
        for _, k in ipairs(sorted(keys)) do
          local f = have[k]
          if not f then
            problems[#problems + 1] = o.class .. ": no field " .. k
          else
            if not f.optional then
              problems[#problems + 1] = o.class .. "." .. k .. ": options are optional (" .. k .. "?)"
            end
            if o.schema and not type_fits(o.schema.fields[k], f.type) then
              local kind = o.schema.fields[k]
              problems[#problems + 1] = o.class .. "." .. k .. ": type " .. f.type .. " does not fit the schema's "
                .. (type(kind) == "table" and table.concat(kind, "|") or tostring(kind))
            end
          end
        end
        for _, k in ipairs(sorted(have)) do
          if keys[k] == nil then problems[#problems + 1] = o.class .. "." .. k .. ": the options have no such key" end
        end
      end
    end
    assert.are.same({}, problems)
  end)

  it("cover every options schema the library makes", function()
    local covered = {}
    for _, o in ipairs(option_tables()) do
      if o.schema then covered[o.schema.fname] = true end
    end
    local p = io.popen("cd " .. root .. " && grep -rhoE 'options\\.schema\\(\"[^\"]+\",' lua/midjourney")
    local out = p:read("*a")
    p:close()
    local n = 0
    -- literal names only: `options.schema("client:" .. name, ...)` is a family, covered above
    for fname in out:gmatch('options%.schema%("([^"]+)",') do
      n = n + 1
      assert(covered[fname], "the options schema " .. fname .. " has no class in types/ (and no check here)")
    end
    assert.is_true(n >= 4, "found only " .. n .. " schemas: the search is broken")
  end)

  it("are what the repository's .luarc.json and the README's Editor support point at", function()
    local json = require "midjourney.json"
    local rc = assert(json.decode(assert(read(root .. "/.luarc.json"), "no .luarc.json")))
    assert.are.same({ "types" }, rc["workspace.library"])
    assert.are.same({ "?.lua", "?/init.lua" }, rc["runtime.path"]) -- require "midjourney.x" -> types/midjourney/x.lua
    local readme = assert(read(root .. "/README.md"))
    local section = assert(readme:match("\n## Editor support\n(.-)\n## "), "README has no Editor support section")
    local example = assert(section:match("```json\n(.-)```"), "Editor support has no JSON example")
    local lib = assert(json.decode(example))["workspace.library"]
    assert.is_truthy(lib and lib[1]:match("/types$"), "the README's example does not point at types/")
    assert.is_truthy(section:find('nvim_get_runtime_file("types/midjourney/init.lua"', 1, true))
    assert.is_truthy(read(root .. "/types/midjourney/init.lua"))
  end)

  it("name only classes that exist", function()
    -- every `midjourney.X` a definition file mentions is a class (or an alias) of some file
    local aliases = {}
    local missing = {}
    for _, name in ipairs(surface.public_modules()) do
      local text = types_file(name)
      for a in text:gmatch("\n%-%-%-@alias%s+([%w_.]+)") do aliases[a] = true end
    end
    for _, name in ipairs(surface.public_modules()) do
      local text, path = types_file(name)
      for line in text:gmatch("[^\n]+") do
        if line:match("^%-%-%-@") then
          local code = line:gsub("%s#.*$", "")
          for ref in code:gmatch("(midjourney[%w_.]*[%w_])") do
            if not classes[ref] and not aliases[ref] then missing[path .. ": " .. ref] = true end
          end
        end
      end
    end
    assert.are.same({}, sorted(missing))
  end)
end)
