#!/usr/bin/env lua5.4
-- Keeps the rockspecs' module and bin lists in step with the tree.
--
--   lua5.4 scripts/gen-rockspec-modules.lua           rewrite the generated blocks in both rockspecs
--   lua5.4 scripts/gen-rockspec-modules.lua --check   print what is missing or stale; exit 1 if anything is
--
-- Sources of truth: every lua/midjourney/**.lua (module name from its path, `init.lua` names its
-- directory), every src/*.c (compiled into midjourney.core), every file in bin/, and for the
-- separate image rock (rockspecs/image/*.rockspec) every src/image/*.c (midjourney.image_core).
-- Only the text between the "BEGIN generated" and "END generated" markers is touched.

local check = arg[1] == "--check"
local root = (arg[0]:match("^(.*)/scripts/[^/]*$")) or "."

local ROCKSPECS = {
  "midjourney-scm-1.rockspec",
}
do -- every versioned rockspec too
  local p = io.popen("cd '" .. root .. "' && ls rockspecs/*.rockspec 2>/dev/null")
  for line in p:lines() do ROCKSPECS[#ROCKSPECS + 1] = line end
  p:close()
end

local function list(cmd)
  local out = {}
  local p = assert(io.popen("cd '" .. root .. "' && " .. cmd .. " 2>/dev/null"))
  for line in p:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  p:close()
  table.sort(out)
  return out
end

local lua_files = list("find lua/midjourney -type f -name '*.lua'")
local c_files = list("find src -maxdepth 1 -type f -name '*.c'")
local bin_files = list("find bin -maxdepth 1 -type f ! -name '.*'")
local image_files = list("find src/image -maxdepth 1 -type f -name '*.c'")
local IMAGE_ROCKSPECS = list("ls rockspecs/image/*.rockspec")

local function module_name(path)
  local name = path:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  return name
end

local function q(s)
  return string.format("%q", s)
end

local function modules_block(indent)
  local lines = {}
  local srcs = {}
  for _, f in ipairs(c_files) do srcs[#srcs + 1] = q(f) end
  lines[#lines + 1] = indent .. '["midjourney.core"] = {'
  lines[#lines + 1] = indent .. "   sources = { " .. table.concat(srcs, ", ") .. " },"
  lines[#lines + 1] = indent .. '   libraries = { "curl" },'
  lines[#lines + 1] = indent .. '   incdirs = { "$(CURL_INCDIR)" },'
  lines[#lines + 1] = indent .. '   libdirs = { "$(CURL_LIBDIR)" },'
  lines[#lines + 1] = indent .. "},"
  for _, f in ipairs(lua_files) do
    lines[#lines + 1] = indent .. "[" .. q(module_name(f)) .. "] = " .. q(f) .. ","
  end
  return lines
end

local function image_block(indent)
  local srcs = {}
  for _, f in ipairs(image_files) do srcs[#srcs + 1] = q(f) end
  return {
    indent .. '["midjourney.image_core"] = {',
    indent .. "   sources = { " .. table.concat(srcs, ", ") .. " },",
    indent .. '   libraries = { "spng", "jpeg", "webp", "m" },',
    indent .. '   incdirs = { "$(SPNG_INCDIR)", "$(JPEG_INCDIR)", "$(WEBP_INCDIR)" },',
    indent .. '   libdirs = { "$(SPNG_LIBDIR)", "$(JPEG_LIBDIR)", "$(WEBP_LIBDIR)" },',
    indent .. "},",
  }
end

local function bin_block(indent)
  local lines = {}
  for _, f in ipairs(bin_files) do
    lines[#lines + 1] = indent .. "[" .. q((f:gsub("^bin/", ""))) .. "] = " .. q(f) .. ","
  end
  return lines
end

local function regenerate(text, what, make)
  local pattern = "(\n([ \t]*)%-%- BEGIN generated " .. what .. "[^\n]*\n)(.-)"
    .. "(\n?[ \t]*%-%- END generated " .. what .. ")"
  local found = false
  local out = text:gsub(pattern, function(head, indent, _, tail)
    found = true
    local body = table.concat(make(indent), "\n")
    if body ~= "" then body = body .. "\n" end
    return head .. body .. tail:gsub("^\n", "")
  end)
  return out, found
end

local function read(path)
  local f, err = io.open(root .. "/" .. path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

-- The entries a rockspec text lists, for a readable --check report.
local function listed(text)
  local set = {}
  for v in text:gmatch('"([^"]+)"') do set[v] = true end
  return set
end

local status = 0
for _, spec in ipairs(ROCKSPECS) do
  local text, err = read(spec)
  if not text then
    io.stderr:write("gen-rockspec-modules: cannot read ", spec, ": ", tostring(err), "\n")
    status = 1
  else
    local new, ok1 = regenerate(text, "modules", modules_block)
    local ok2
    new, ok2 = regenerate(new, "bin", bin_block)
    if not (ok1 and ok2) then
      io.stderr:write("gen-rockspec-modules: ", spec, ": missing '-- BEGIN/END generated modules|bin' markers\n")
      status = 1
    elseif new ~= text then
      if check then
        status = 1
        local reported = false
        local have = listed(text)
        local want = listed(new)
        for _, group in ipairs({ lua_files, c_files, bin_files }) do
          for _, f in ipairs(group) do
            if not have[f] then
              print(spec .. ": " .. f .. " is not listed (run: lua5.4 scripts/gen-rockspec-modules.lua)")
              reported = true
            end
          end
        end
        for v in pairs(have) do
          if v:match("^lua/.*%.lua$") or v:match("^src/.*%.c$") or v:match("^bin/") then
            if not want[v] then
              print(spec .. ": lists " .. v .. ", which does not exist (run: lua5.4 scripts/gen-rockspec-modules.lua)")
              reported = true
            end
          end
        end
        if not reported then
          print(spec .. ": generated module/bin lists are stale (run: lua5.4 scripts/gen-rockspec-modules.lua)")
        end
      else
        local f = assert(io.open(root .. "/" .. spec, "wb"))
        f:write(new)
        f:close()
        print("updated " .. spec)
      end
    end
  end
end
for _, spec in ipairs(IMAGE_ROCKSPECS) do
  local text, err = read(spec)
  if not text then
    io.stderr:write("gen-rockspec-modules: cannot read ", spec, ": ", tostring(err), "\n")
    status = 1
  else
    local new, found = regenerate(text, "image%-modules", image_block)
    if not found then
      io.stderr:write("gen-rockspec-modules: ", spec, ": missing '-- BEGIN/END generated image-modules' markers\n")
      status = 1
    elseif new ~= text then
      if check then
        status = 1
        print(spec .. ": the midjourney.image_core sources differ from src/image/*.c (run: lua5.4 "
          .. "scripts/gen-rockspec-modules.lua)")
      else
        local f = assert(io.open(root .. "/" .. spec, "wb"))
        f:write(new)
        f:close()
        print("updated " .. spec)
      end
    end
  end
end
os.exit(status)
