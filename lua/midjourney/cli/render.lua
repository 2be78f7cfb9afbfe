--- Progress display of `mj`: one live line per task on a terminal (a bar, the
-- percent, the status and the elapsed time, redrawn in place), or one plain line
-- per change when the output is not a terminal (no control characters at all).
--
-- Progress goes to one stream (stderr by default); results are printed by the
-- caller to stdout after `finish_all`, so the two never interleave on a terminal.
--
-- Nothing in this module yields; writing blocks.
-- @module midjourney.cli.render

local M = {}

local Renderer = {}
Renderer.__index = Renderer

--- Replaces every control character (C0, DEL, and the C1 range as UTF-8) and
-- collapses runs of white space, so text from the server cannot move the cursor
-- or break a line. Neither blocks nor yields.
-- @param s any value (tostring'd)
-- @treturn string
function M.clean(s)
  s = tostring(s)
  s = s:gsub("[%z\1-\31\127]", " ")
  s = s:gsub("\194[\128-\159]", " ")
  s = s:gsub("  +", " ")
  return s
end

-- UTF-8 aware length and truncation (a code point counts as one column).
local function ulen(s)
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end

local function utrunc(s, cols)
  if ulen(s) <= cols then return s end
  local out, n = {}, 0
  for ch in s:gmatch("[%z\1-\127\192-\255][\128-\191]*") do
    if n >= cols - 1 then break end
    n = n + 1
    out[n] = ch
  end
  return table.concat(out) .. "…"
end

--- True when file descriptor `fd` is a terminal (asks `test -t`). Blocks briefly.
-- @tparam integer fd
-- @treturn boolean
function M.isatty(fd)
  local a, b, c = os.execute("test -t " .. math.floor(fd))
  if type(a) == "number" then return a == 0 end -- Lua 5.1 / LuaJIT without 5.2 compat
  return a == true and b == "exit" and c == 0
end

--- Decides the display mode from the options and the environment. Blocks briefly.
-- @tparam table opts `tty` (force bars), `no_tty` (force plain), `quiet`, `fd` (default 2)
-- @treturn string "tty", "plain" or "quiet"
function M.detect(opts)
  opts = opts or {}
  if opts.quiet then return "quiet" end
  if opts.tty then return "tty" end
  if opts.no_tty then return "plain" end
  local term = os.getenv("TERM")
  if not term or term == "" or term == "dumb" then return "plain" end
  if M.isatty(opts.fd or 2) then return "tty" end
  return "plain"
end

local function utf8_locale()
  for _, v in ipairs { "LC_ALL", "LC_CTYPE", "LANG" } do
    local s = os.getenv(v)
    if s and s ~= "" then return (s:upper():find("UTF%-?8")) ~= nil end
  end
  return false
end

local function columns(mode)
  local c = tonumber(os.getenv("COLUMNS") or "")
  if c and c >= 20 then return math.floor(c) end
  if mode == "tty" then
    local p = io.popen("stty size < /dev/tty 2>/dev/null")
    if p then
      local out = p:read("*a") or ""
      p:close()
      local w = tonumber(out:match("^%s*%d+%s+(%d+)"))
      if w and w >= 20 then return w end
    end
  end
  return 80
end

--- Creates a renderer. Blocks briefly (terminal checks).
-- @tparam table opts `mode` ("tty", "plain", "quiet"; default: `detect(opts)`),
-- `out` (stream, default io.stderr), `now` (clock function returning seconds),
-- `width` (columns), `unicode` (bar characters; default from the locale)
-- @return the renderer
function M.new(opts)
  opts = opts or {}
  local mode = opts.mode or M.detect(opts)
  local unicode = opts.unicode
  if unicode == nil then unicode = utf8_locale() end
  return setmetatable({
    mode = mode,
    out = opts.out or io.stderr,
    now = opts.now or os.time,
    width = opts.width or columns(mode),
    full = unicode and "█" or "#",
    empty = unicode and "░" or "-",
    slots = {},
    drawn = 0,       -- lines of the live block currently on screen
    last_draw = 0,
  }, Renderer)
end

--- Adds a line for a task. Neither blocks nor yields.
-- @tparam string label e.g. "imagine", "U2"
-- @tparam[opt] string id the task id when known
-- @tparam[opt="SUBMITTING"] string status the status shown first
-- @return the slot (pass it to `update` and `done`)
function Renderer:add(label, id, status)
  local slot = { label = M.clean(label), id = id and M.clean(id) or nil, status = status or "SUBMITTING",
    start = self.now(), last = nil }
  self.slots[#self.slots + 1] = slot
  if self.mode == "plain" and id then self:plain(slot) end
  if self.mode == "tty" then self:draw() end
  return slot
end

local function percent_text(p)
  if not p then return "  ?%" end
  if p == math.floor(p) then return string.format("%3d%%", p) end
  return string.format("%4.1f%%", p)
end

local function elapsed_text(s)
  if s < 60 then return string.format("%.1fs", s) end
  return string.format("%dm%02ds", math.floor(s / 60), math.floor(s % 60))
end

--- Seconds since a slot was added (frozen when it is done). Neither blocks nor yields.
-- @param slot
-- @treturn number
function Renderer:elapsed(slot)
  return (slot.stop or self.now()) - slot.start
end

--- One line of the live block: id, label, bar, percent, status, elapsed time; cut to
-- the terminal width. Neither blocks nor yields.
-- @param slot
-- @treturn string
function Renderer:line(slot)
  local width = math.max(self.width - 1, 20)
  local p = slot.percent
  if slot.status == "SUCCESS" then p = 100 end
  local head = string.format("%-16s %-8s", slot.id or "-", slot.label)
  local tail = string.format(" %s %-11s %7s", percent_text(p), slot.status, elapsed_text(self:elapsed(slot)))
  if slot.note then tail = tail .. "  " .. slot.note end
  local barw = width - ulen(head) - ulen(tail) - 3
  if barw > 40 then barw = 40 end
  local text
  if barw >= 5 then
    local fill = math.floor((p or 0) / 100 * barw + 0.5)
    text = head .. " [" .. string.rep(self.full, fill) .. string.rep(self.empty, barw - fill) .. "]" .. tail
  else
    text = head .. tail
  end
  return utrunc(text, width)
end

--- Redraws the live block in place (terminal mode). Blocks (writes).
function Renderer:draw()
  if self.mode ~= "tty" then return end
  local buf = {}
  if self.drawn > 0 then buf[#buf + 1] = "\r\27[" .. self.drawn .. "A" end
  for _, slot in ipairs(self.slots) do
    buf[#buf + 1] = "\r\27[2K" .. self:line(slot) .. "\n"
  end
  self.drawn = #self.slots
  self.out:write(table.concat(buf))
  self.out:flush()
  self.last_draw = self.now()
end

--- Prints the plain line of a slot (no control characters). Blocks (writes).
-- @param slot
function Renderer:plain(slot)
  local p = slot.percent
  local parts = { slot.id or "-", slot.label, slot.status }
  if p then parts[#parts + 1] = percent_text(p):gsub("^ +", "") end
  parts[#parts + 1] = elapsed_text(self:elapsed(slot))
  if slot.note then parts[#parts + 1] = slot.note end
  self.out:write(table.concat(parts, " "), "\n")
  self.out:flush()
end

--- Records a new snapshot of a slot's task (status, percent, id). Blocks (writes)
-- when something changed.
-- @param slot from `add`
-- @tparam table t `{ id =, status =, percent = }`
function Renderer:update(slot, t)
  local changed = false
  if t.id and t.id ~= slot.id then slot.id = M.clean(t.id); changed = true end
  local status = (t.status == nil or t.status == "") and "PENDING" or M.clean(t.status)
  if status ~= slot.status then slot.status = status; changed = true end
  if t.percent ~= slot.percent then slot.percent = t.percent; changed = true end
  if not changed then return end
  if self.mode == "tty" then self:draw() elseif self.mode == "plain" then self:plain(slot) end
end

--- Marks a slot finished: its clock stops; `note` (e.g. an error kind) is shown.
-- Blocks (writes).
-- @param slot
-- @tparam[opt] string status final status
-- @tparam[opt] string note
function Renderer:done(slot, status, note)
  slot.stop = self.now()
  local changed = false
  if status and M.clean(status) ~= slot.status then slot.status = M.clean(status); changed = true end
  if note then slot.note = M.clean(note); changed = true end
  if self.mode == "tty" then self:draw() elseif self.mode == "plain" and changed then self:plain(slot) end
end

--- Redraws the elapsed times (terminal mode) at most every `every` seconds.
-- Blocks (writes).
-- @tparam[opt=0.5] number every
function Renderer:tick(every)
  if self.mode ~= "tty" or #self.slots == 0 then return end
  if self.now() - self.last_draw >= (every or 0.5) then self:draw() end
end

--- Prints a message line above the live block (or as is in plain mode).
-- Blocks (writes).
-- @tparam string text one line
function Renderer:message(text)
  if self.mode == "tty" and self.drawn > 0 then
    self.out:write("\r\27[" .. self.drawn .. "A\27[J", M.clean(text), "\n")
    self.drawn = 0
    self:draw()
  else
    self.out:write(M.clean(text), "\n")
    self.out:flush()
  end
end

--- Ends the live block: later output starts below it. Blocks (writes).
function Renderer:finish_all()
  if self.mode == "tty" and #self.slots > 0 then self:draw() end
  self.drawn = 0
  self.slots = {}
end

return M
