#!/usr/bin/env lua5.4
-- Keeps the rockspecs' module and bin lists in step with the tree, and writes release rockspecs.
--
--   lua5.4 scripts/gen-rockspec-modules.lua                   rewrite the generated blocks
--   lua5.4 scripts/gen-rockspec-modules.lua --check           report what is missing, stale or
--                                                             dishonest; exit 1 if anything is
--   lua5.4 scripts/gen-rockspec-modules.lua --release 0.2.0   write rockspecs/midjourney-0.2.0-1.rockspec
--                                                             and rockspecs/image/midjourney-image-0.2.0-1.rockspec
--                                                             from the tag v0.2.0, which must exist
--
-- Sources of truth: every lua/midjourney/**.lua (module name from its path, `init.lua` names its
-- directory), every src/*.c (compiled into midjourney.core), every file in bin/, and for the
-- separate image rock (rockspecs/image/) every src/image/*.c (midjourney.image_core).
-- A development rockspec (version scm-N) lists the working tree. A release rockspec (version
-- X.Y.Z-N) builds the tag vX.Y.Z, so it lists that tag's tree, and `--check` fails when the tag
-- is missing from `git tag` (a rockspec must never name a tag that does not exist).
-- Only the text between the "BEGIN generated" and "END generated" markers is rewritten.

local root = (arg[0]:match("^(.*)/scripts/[^/]*$")) or "."
local mode, release_version = "write", nil
if arg[1] == "--check" then
  mode = "check"
elseif arg[1] == "--release" then
  mode, release_version = "release", arg[2]
  if not (release_version and release_version:match("^%d+%.%d+%.%d+$")) then
    io.stderr:write("usage: lua5.4 scripts/gen-rockspec-modules.lua --release X.Y.Z\n")
    os.exit(2)
  end
elseif arg[1] ~= nil then
  io.stderr:write("usage: lua5.4 scripts/gen-rockspec-modules.lua [--check | --release X.Y.Z]\n")
  os.exit(2)
end

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The output lines of a shell command run in the repository root, and whether it succeeded.
local function lines_of(cmd)
  local out = {}
  local p = assert(io.popen("cd " .. sh_quote(root) .. " && " .. cmd .. " 2>/dev/null"))
  for line in p:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  local ok, _, code = p:close()
  if type(ok) == "number" then ok = ok == 0 end -- LuaJIT
  return out, ok == true or code == 0
end

local function read(path)
  local f, err = io.open(root .. "/" .. path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(root .. "/" .. path, "wb"))
  f:write(text)
  f:close()
end

-- The files a rockspec lists: from the working tree (ref nil) or from a git tag's tree.
local function tree_files(ref)
  local all
  if ref then
    all = lines_of("git ls-tree -r --name-only " .. sh_quote(ref) .. " -- lua/midjourney src bin")
  else
    all = lines_of("find lua/midjourney src bin -type f")
  end
  local t = { lua = {}, c = {}, bin = {}, image = {} }
  for _, f in ipairs(all) do
    if f:match("^lua/midjourney/.+%.lua$") then
      t.lua[#t.lua + 1] = f
    elseif f:match("^src/[^/]+%.c$") then
      t.c[#t.c + 1] = f
    elseif f:match("^src/image/[^/]+%.c$") then
      t.image[#t.image + 1] = f
    elseif f:match("^bin/[^/.][^/]*$") then
      t.bin[#t.bin + 1] = f
    end
  end
  for _, l in pairs(t) do table.sort(l) end
  return t
end

local function module_name(path)
  local name = path:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  return name
end

local function q(s)
  return string.format("%q", s)
end

local function modules_block(files, indent)
  local lines = {}
  local srcs = {}
  for _, f in ipairs(files.c) do srcs[#srcs + 1] = q(f) end
  lines[#lines + 1] = indent .. '["midjourney.core"] = {'
  lines[#lines + 1] = indent .. "   sources = { " .. table.concat(srcs, ", ") .. " },"
  lines[#lines + 1] = indent .. '   libraries = { "curl" },'
  lines[#lines + 1] = indent .. '   incdirs = { "$(CURL_INCDIR)" },'
  lines[#lines + 1] = indent .. '   libdirs = { "$(CURL_LIBDIR)" },'
  lines[#lines + 1] = indent .. "},"
  for _, f in ipairs(files.lua) do
    lines[#lines + 1] = indent .. "[" .. q(module_name(f)) .. "] = " .. q(f) .. ","
  end
  return lines
end

local function image_block(files, indent)
  local srcs = {}
  for _, f in ipairs(files.image) do srcs[#srcs + 1] = q(f) end
  return {
    indent .. '["midjourney.image_core"] = {',
    indent .. "   sources = { " .. table.concat(srcs, ", ") .. " },",
    indent .. '   libraries = { "spng", "jpeg", "webp", "m" },',
    indent .. '   incdirs = { "$(SPNG_INCDIR)", "$(JPEG_INCDIR)", "$(WEBP_INCDIR)" },',
    indent .. '   libdirs = { "$(SPNG_LIBDIR)", "$(JPEG_LIBDIR)", "$(WEBP_LIBDIR)" },',
    indent .. "},",
  }
end

local function bin_block(files, indent)
  local lines = {}
  for _, f in ipairs(files.bin) do
    lines[#lines + 1] = indent .. "[" .. q((f:gsub("^bin/", ""))) .. "] = " .. q(f) .. ","
  end
  return lines
end

-- Rewrites the block between the markers named `what`; returns the text and whether it was found.
local function regenerate(text, what, make, files)
  local pattern = "(\n([ \t]*)%-%- BEGIN generated " .. what .. "[^\n]*\n)(.-)"
    .. "(\n?[ \t]*%-%- END generated " .. what .. ")"
  local found = false
  local out = text:gsub(pattern, function(head, indent, _, tail)
    found = true
    local body = table.concat(make(files, indent), "\n")
    if body ~= "" then body = body .. "\n" end
    return head .. body .. tail:gsub("^\n", "")
  end)
  return out, found
end

-- The rockspec text with its generated blocks rebuilt from `files`, or nil and a message.
local function rebuild(text, is_image, files)
  if is_image then
    local new, found = regenerate(text, "image%-modules", image_block, files)
    if not found then return nil, "missing '-- BEGIN/END generated image-modules' markers" end
    return new
  end
  local new, ok1 = regenerate(text, "modules", modules_block, files)
  local ok2
  new, ok2 = regenerate(new, "bin", bin_block, files)
  if not (ok1 and ok2) then return nil, "missing '-- BEGIN/END generated modules|bin' markers" end
  return new
end

-- The entries a rockspec text lists, for a readable --check report.
local function listed(text)
  local set = {}
  for v in text:gmatch('"([^"]+)"') do set[v] = true end
  return set
end

local function tag_exists(tag)
  local out = lines_of("git tag -l " .. sh_quote(tag))
  return out[1] == tag
end

local function is_git()
  local _, ok = lines_of("git rev-parse --git-dir")
  return ok
end

local function is_shallow()
  local out = lines_of("git rev-parse --is-shallow-repository")
  return out[1] == "true"
end

-- Every rockspec of the repository: { path =, text =, image =, version =, tag = }.
local function rockspecs()
  local list = {}
  local paths = lines_of("ls *.rockspec rockspecs/*.rockspec rockspecs/image/*.rockspec")
  for _, path in ipairs(paths) do
    local text, err = read(path)
    if not text then
      io.stderr:write("gen-rockspec-modules: cannot read ", path, ": ", tostring(err), "\n")
      os.exit(1)
    end
    list[#list + 1] = {
      path = path,
      text = text,
      image = text:match('\npackage%s*=%s*"([^"]+)"') == "midjourney-image",
      version = text:match('\nversion%s*=%s*"([^"]+)"'),
      tag = text:match('\n%s*tag%s*=%s*"([^"]+)"'),
    }
  end
  return list
end

local status = 0
local function problem(msg)
  print(msg)
  status = 1
end

-- --release X.Y.Z: the release rockspecs, written from the development ones and the tag's tree.
if mode == "release" then
  local v = release_version
  local tag = "v" .. v
  if not is_git() then
    io.stderr:write("gen-rockspec-modules: not a git checkout: a release rockspec needs the tag ", tag, "\n")
    os.exit(1)
  end
  if not tag_exists(tag) then
    io.stderr:write("gen-rockspec-modules: there is no tag ", tag, ": cut the release first ",
      "(CONTRIBUTING.md, \"Cutting a release\": git tag -a ", tag, ")\n")
    os.exit(1)
  end
  local client = table.concat(lines_of("git show " .. sh_quote(tag .. ":lua/midjourney/client.lua")), "\n")
  if not client:find('M.VERSION = "' .. v .. '"', 1, true) then
    io.stderr:write("gen-rockspec-modules: lua/midjourney/client.lua at ", tag, " does not say M.VERSION = \"",
      v, "\": the tag is on the wrong commit\n")
    os.exit(1)
  end
  local files = tree_files(tag)
  for _, spec in ipairs(rockspecs()) do
    if spec.version and spec.version:match("^scm%-") then
      local text = spec.text
      -- the header comment: what this file is
      local at = assert(text:find("\nrockspec_format", 1, true), spec.path .. ": no rockspec_format line")
      text = ("-- Release rockspec for %s: builds the tag %s. Written by\n"
        .. "-- `lua5.4 scripts/gen-rockspec-modules.lua --release %s` (CONTRIBUTING.md, \"Cutting a release\");\n"
        .. "-- its module lists are the tag's tree. Install: luarocks install %s %s\n")
        :format(v, tag, v, spec.image and "midjourney-image" or "midjourney", v) .. text:sub(at + 1)
      text = text:gsub('\nversion%s*=%s*"[^"]*"', '\nversion = "' .. v .. '-1"', 1)
      text = text:gsub('\n(%s*)branch%s*=%s*"[^"]*",', '\n%1tag = "' .. tag .. '",', 1)
      if spec.image then
        text = text:gsub('\n(%s*)"midjourney",', '\n%1"midjourney == ' .. v .. '",', 1)
      end
      local new, err = rebuild(text, spec.image, files)
      if not new then
        io.stderr:write("gen-rockspec-modules: ", spec.path, ": ", err, "\n")
        os.exit(1)
      end
      local dir = spec.image and "rockspecs/image/" or "rockspecs/"
      local out = dir .. (spec.image and "midjourney-image" or "midjourney") .. "-" .. v .. "-1.rockspec"
      write(out, new)
      print("wrote " .. out .. " (source tag " .. tag .. ")")
    end
  end
  os.exit(0)
end

local work_files = tree_files(nil)
local git, shallow = is_git(), nil
for _, spec in ipairs(rockspecs()) do
  local files = work_files
  local release = spec.version and not spec.version:match("^scm%-") and not spec.version:match("^dev%-")
  if release then
    -- a release rockspec builds its tag: the tag must exist, and the lists are the tag's tree
    local want = "v" .. (spec.version:match("^(.-)%-%d+$") or spec.version)
    if spec.tag ~= want then
      problem(spec.path .. ": version " .. spec.version .. " but source tag " .. tostring(spec.tag)
        .. " (expected " .. want .. ")")
      files = nil
    elseif not git then
      print(spec.path .. ": note: not a git checkout, the tag " .. want .. " was not checked")
      files = nil
    elseif not tag_exists(want) then
      if shallow == nil then shallow = is_shallow() end
      if shallow then
        print(spec.path .. ": note: shallow clone without tags, the tag " .. want .. " was not checked")
      else
        problem(spec.path .. ": names the tag " .. want .. ", which `git tag` does not have (a release "
          .. "rockspec is written after tagging: CONTRIBUTING.md, \"Cutting a release\")")
      end
      files = nil
    else
      files = tree_files(want)
    end
  end
  if files then
    local new, err = rebuild(spec.text, spec.image, files)
    if not new then
      problem("gen-rockspec-modules: " .. spec.path .. ": " .. err)
    elseif new ~= spec.text then
      if mode == "check" then
        local reported = false
        local have, want = listed(spec.text), listed(new)
        local groups = spec.image and { files.image } or { files.lua, files.c, files.bin }
        for _, group in ipairs(groups) do
          for _, f in ipairs(group) do
            if not have[f] then
              problem(spec.path .. ": " .. f .. " is not listed (run: lua5.4 scripts/gen-rockspec-modules.lua)")
              reported = true
            end
          end
        end
        for v in pairs(have) do
          if (v:match("^lua/.*%.lua$") or v:match("^src/.*%.c$") or v:match("^bin/")) and not want[v] then
            problem(spec.path .. ": lists " .. v .. ", which does not exist"
              .. " (run: lua5.4 scripts/gen-rockspec-modules.lua)")
            reported = true
          end
        end
        if not reported then
          problem(spec.path .. ": generated lists are stale (run: lua5.4 scripts/gen-rockspec-modules.lua)")
        end
      else
        write(spec.path, new)
        print("updated " .. spec.path)
      end
    end
  end
end
os.exit(status)
