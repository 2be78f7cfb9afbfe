-- luacheck: read globals vim
-- Run inside `nvim --headless --clean` by spec/nvim_spec.lua on a copy of doc/midjourney.txt:
-- :helptags on it, then `:help midjourney`, every tag the file defines and every |link| in it.
-- Env: MJ_HELP_DIR (holds doc/midjourney.txt and is on 'runtimepath'), MJ_REPO, MJ_RESULT.
local dir = assert(os.getenv("MJ_HELP_DIR"), "MJ_HELP_DIR")
local repo = assert(os.getenv("MJ_REPO"), "MJ_REPO")
local out = { tags = {}, links = {}, failures = {} }

-- :helptags fails (E154) on a tag defined twice
local ok, err = pcall(vim.cmd, "helptags " .. vim.fn.fnameescape(dir .. "/doc"))
out.helptags_ok = ok
if not ok then out.helptags_error = tostring(err) end

-- Opens `:help {tag}`; returns the help file's name and the line the cursor is on.
local function help(tag)
  local hok, herr = pcall(vim.cmd, "help " .. tag)
  if not hok then return nil, tostring(herr) end
  local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ":t")
  local line = vim.api.nvim_get_current_line()
  pcall(vim.cmd, "helpclose")
  return name, line
end

local name, line = help("midjourney")
out.main_file, out.main_line = name, line

local text = table.concat(vim.fn.readfile(dir .. "/doc/midjourney.txt"), "\n")
local seen = {}
for tag in (" " .. text:gsub("\n", " \n ") .. " "):gmatch("%s%*([^%s%*|]+)%*%f[%s]") do
  if not seen[tag] then
    seen[tag] = true
    out.tags[#out.tags + 1] = tag
    local file, at = help(tag)
    if file ~= "midjourney.txt" or not at:find("*" .. tag .. "*", 1, true) then
      out.failures[#out.failures + 1] = "tag " .. tag .. ": " .. tostring(file) .. ": " .. tostring(at)
    end
  end
end
local linked = {}
for link in text:gmatch("|([^%s|]+)|") do
  if not linked[link] then
    linked[link] = true
    out.links[#out.links + 1] = link
    local file, why = help(link)
    if not file then out.failures[#out.failures + 1] = "link |" .. link .. "|: " .. tostring(why) end
  end
end
table.sort(out.tags)
table.sort(out.links)
package.path = repo .. "/?.lua;" .. package.path
require("spec.hosts.serialize").write(assert(os.getenv("MJ_RESULT")), out)
vim.cmd("qall!")
