-- The LDoc reference documents the whole public API where users look for it: `make doc`
-- into a temporary directory, then every public function, method and field of every public
-- module (read from the real tables: spec/helpers/surface.lua) must have its entry on its
-- module's page, internal modules must have no page, and the README's pictures must load.
local surface = require "spec.helpers.surface"

local root = surface.root

local read = require("spec.helpers.simulator").read_file

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The anchors of a page: LDoc writes `<a name = "NAME"></a>` before each entry.
local function anchors(html)
  local out = {}
  for name in html:gmatch('<a name = "([^"]+)"') do out[name] = true end
  return out
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

describe("#once the LDoc reference", function()
  local dir, log

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    -- `make doc` itself: LDoc with fatal warnings, plus the README's pictures
    local p = io.popen("cd " .. root .. " && make --no-print-directory doc DOC_DIR=" .. dir .. " 2>&1")
    log = p:read("*a")
    local ok, _, code = p:close()
    assert(ok == true or code == 0, "make doc failed:\n" .. log)
  end)

  teardown(function()
    if dir then os.execute("rm -rf " .. dir) end
  end)

  local function page(name)
    return read(dir .. "/modules/" .. name .. ".html")
  end

  it("is written (LDoc with fatal warnings, so with no warning)", function()
    assert.is_truthy(read(dir .. "/index.html"), log)
  end)

  it("documents the calls people look for first: wait, upscale, vary_region", function()
    local html = assert(page("midjourney.client"), "no page for midjourney.client")
    local class_at = html:find('name="Class_Client"', 1, true)
    assert.is_truthy(class_at, "the page has no Class Client section")
    for _, word in ipairs({ "wait", "wait_all", "upscale", "vary_region", "download" }) do
      local at = html:find('<a name = "Client:' .. word .. '"', 1, true)
      assert.is_truthy(at, "no entry Client:" .. word)
      assert.is_true(at > class_at, "Client:" .. word .. " is not under the Client type")
      assert.is_truthy(html:find("<strong>Client:" .. word .. "(", 1, true),
        "Client:" .. word .. " is not rendered as a method of the Client type")
    end
  end)

  it("classifies every module as public or internal", function()
    local public, internal = surface.set(surface.public_modules()), surface.set(surface.internal)
    for _, name in ipairs(surface.all_modules()) do
      assert(public[name] or internal[name], name .. " is neither public nor internal: add it to one list of "
        .. "spec/helpers/surface.lua (and config.ld's exclude list when internal)")
      assert(not (public[name] and internal[name]), name .. " is in both lists")
    end
  end)

  it("has a page for every public module, linked from the index", function()
    local index = read(dir .. "/index.html")
    for _, name in ipairs(surface.public_modules()) do
      assert(page(name), "no page for public module " .. name)
      assert.is_truthy(index:find('href="modules/' .. name .. '.html"', 1, true), name .. " is not in the index")
    end
  end)

  it("has no page for an internal module", function()
    local index = read(dir .. "/index.html")
    for _, name in ipairs(surface.internal) do
      assert.is_nil(page(name), "internal module " .. name .. " has a page: exclude it in config.ld")
      assert.is_nil(index:find("modules/" .. name .. ".html", 1, true), name .. " is in the index")
    end
  end)

  it("documents every public function and field of every public module", function()
    local missing = {}
    for _, name in ipairs(surface.public_modules()) do
      local have = anchors(page(name) or "")
      for _, key in ipairs(sorted_keys(surface.members(name))) do
        if not have[key] then missing[#missing + 1] = name .. ": " .. key end
      end
    end
    assert.are.same({}, missing)
  end)

  it("documents every method of every public object under its type", function()
    local missing, checked = {}, 0
    for _, o in ipairs(surface.objects()) do
      local html = page(o.module) or ""
      local have = anchors(html)
      for _, m in ipairs(sorted_keys(o.methods)) do
        checked = checked + 1
        if not have[o.class .. ":" .. m] then missing[#missing + 1] = o.module .. ": " .. o.class .. ":" .. m end
      end
    end
    assert.are.same({}, missing)
    assert.is_true(checked > 60, "only " .. checked .. " methods found: the enumeration is broken")
  end)

  it("says of every function whether it blocks or yields", function()
    -- each entry's description, from its anchor to the next one
    local silent = {}
    for _, name in ipairs(surface.public_modules()) do
      local html = page(name) or ""
      local starts = {}
      for at, entry in html:gmatch('()<a name = "([^"]+)"') do starts[#starts + 1] = { at = at, name = entry } end
      for i, s in ipairs(starts) do
        local body = html:sub(s.at, (starts[i + 1] and starts[i + 1].at or #html + 1) - 1)
        local is_function = body:find("<strong>[^<]*%(") ~= nil
        if is_function and not body:lower():find("block") and not body:lower():find("yield") then
          silent[#silent + 1] = name .. ": " .. s.name
        end
      end
    end
    assert.are.same({}, silent)
  end)

  it("shows the README's pictures: every <img src> of every page exists", function()
    local files = {}
    local p = io.popen("cd " .. dir .. " && find . -name '*.html'")
    for f in p:read("*a"):gmatch("[^\n]+") do files[#files + 1] = f:sub(3) end
    p:close()
    local seen, broken = 0, {}
    for _, f in ipairs(files) do
      local html = read(dir .. "/" .. f)
      local base = f:match("^(.*/)") or ""
      for src in html:gmatch('<img[^>]-src="([^"]+)"') do
        if not src:match("^%a+:") then
          seen = seen + 1
          if not exists(dir .. "/" .. base .. src) then broken[#broken + 1] = f .. ": " .. src end
        end
      end
    end
    assert.are.same({}, broken)
    local readme = read(dir .. "/topics/README.md.html")
    assert.is_truthy(readme and readme:find('<img src="docs/img/cli.png"', 1, true),
      "the README topic lost its first picture")
    assert.is_true(seen >= 2, "expected the README's two pictures, saw " .. seen)
  end)
end)
