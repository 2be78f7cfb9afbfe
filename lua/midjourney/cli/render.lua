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

-- ---------------------------------------------------------------- display width

-- Code point ranges (inclusive) that a terminal draws two columns wide: East Asian Wide and
-- Fullwidth characters (CJK, Hangul, fullwidth forms) and the emoji that are wide by default.
local WIDE = {
  { 0x1100, 0x115F }, { 0x231A, 0x231B }, { 0x2329, 0x232A }, { 0x23E9, 0x23EC }, { 0x23F0, 0x23F0 },
  { 0x23F3, 0x23F3 }, { 0x25FD, 0x25FE }, { 0x2614, 0x2615 }, { 0x2648, 0x2653 }, { 0x267F, 0x267F },
  { 0x2693, 0x2693 }, { 0x26A1, 0x26A1 }, { 0x26AA, 0x26AB }, { 0x26BD, 0x26BE }, { 0x26C4, 0x26C5 },
  { 0x26CE, 0x26CE }, { 0x26D4, 0x26D4 }, { 0x26EA, 0x26EA }, { 0x26F2, 0x26F3 }, { 0x26F5, 0x26F5 },
  { 0x26FA, 0x26FA }, { 0x26FD, 0x26FD }, { 0x2705, 0x2705 }, { 0x270A, 0x270B }, { 0x2728, 0x2728 },
  { 0x274C, 0x274C }, { 0x274E, 0x274E }, { 0x2753, 0x2755 }, { 0x2757, 0x2757 }, { 0x2795, 0x2797 },
  { 0x27B0, 0x27B0 }, { 0x27BF, 0x27BF }, { 0x2B1B, 0x2B1C }, { 0x2B50, 0x2B50 }, { 0x2B55, 0x2B55 },
  { 0x2E80, 0x303E }, { 0x3041, 0x33FF }, { 0x3400, 0x4DBF }, { 0x4E00, 0x9FFF }, { 0xA000, 0xA4CF },
  { 0xA960, 0xA97F }, { 0xAC00, 0xD7A3 }, { 0xF900, 0xFAFF }, { 0xFE10, 0xFE19 }, { 0xFE30, 0xFE6F },
  { 0xFF00, 0xFF60 }, { 0xFFE0, 0xFFE6 }, { 0x16FE0, 0x16FE4 }, { 0x17000, 0x18CFF }, { 0x1B000, 0x1B2FF },
  { 0x1F004, 0x1F004 }, { 0x1F0CF, 0x1F0CF }, { 0x1F18E, 0x1F18E }, { 0x1F191, 0x1F19A },
  { 0x1F200, 0x1F251 }, { 0x1F300, 0x1F320 }, { 0x1F32D, 0x1F335 }, { 0x1F337, 0x1F37C },
  { 0x1F37E, 0x1F393 }, { 0x1F3A0, 0x1F3CA }, { 0x1F3CF, 0x1F3D3 }, { 0x1F3E0, 0x1F3F0 },
  { 0x1F3F4, 0x1F3F4 }, { 0x1F3F8, 0x1F43E }, { 0x1F440, 0x1F440 }, { 0x1F442, 0x1F4FC },
  { 0x1F4FF, 0x1F53D }, { 0x1F54B, 0x1F54E }, { 0x1F550, 0x1F567 }, { 0x1F57A, 0x1F57A },
  { 0x1F595, 0x1F596 }, { 0x1F5A4, 0x1F5A4 }, { 0x1F5FB, 0x1F64F }, { 0x1F680, 0x1F6C5 },
  { 0x1F6CC, 0x1F6CC }, { 0x1F6D0, 0x1F6D2 }, { 0x1F6D5, 0x1F6D7 }, { 0x1F6DC, 0x1F6DF },
  { 0x1F6EB, 0x1F6EC }, { 0x1F6F4, 0x1F6FC }, { 0x1F7E0, 0x1F7EB }, { 0x1F7F0, 0x1F7F0 },
  { 0x1F90C, 0x1F93A }, { 0x1F93C, 0x1F945 }, { 0x1F947, 0x1F9FF }, { 0x1FA70, 0x1FAFF },
  { 0x20000, 0x2FFFD }, { 0x30000, 0x3FFFD },
}

-- Code points a terminal draws with no column of their own: combining marks, zero-width
-- spaces and joiners, variation selectors, emoji skin-tone modifiers, tag characters.
local ZERO = {
  { 0x0300, 0x036F }, { 0x0483, 0x0489 }, { 0x0591, 0x05BD }, { 0x0610, 0x061A }, { 0x064B, 0x065F },
  { 0x0E31, 0x0E31 }, { 0x0E34, 0x0E3A }, { 0x0E47, 0x0E4E }, { 0x1AB0, 0x1AFF }, { 0x1DC0, 0x1DFF },
  { 0x200B, 0x200F }, { 0x2028, 0x202E }, { 0x2060, 0x2064 }, { 0x20D0, 0x20FF }, { 0x302A, 0x302D },
  { 0x3099, 0x309A }, { 0xFE00, 0xFE0F }, { 0xFE20, 0xFE2F }, { 0xFEFF, 0xFEFF }, { 0x1F3FB, 0x1F3FF },
  { 0xE0000, 0xE007F }, { 0xE0100, 0xE01EF },
}

local function in_ranges(list, cp)
  local lo, hi = 1, #list
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    local r = list[mid]
    if cp < r[1] then hi = mid - 1 elseif cp > r[2] then lo = mid + 1 else return true end
  end
  return false
end

-- The code point of one UTF-8 sequence (as matched by CHAR), or nil for a malformed one.
local CHAR = "[%z\1-\127\192-\255][\128-\191]*"
local function codepoint(ch)
  local c, n = ch:byte(1), #ch
  if c < 0x80 then return n == 1 and c or nil end
  if c >= 0xF0 and n == 4 then
    local b, d, e = ch:byte(2, 4)
    return ((c - 0xF0) * 64 + (b - 0x80)) * 4096 + (d - 0x80) * 64 + (e - 0x80)
  elseif c >= 0xE0 and c < 0xF0 and n == 3 then
    local b, d = ch:byte(2, 3)
    return (c - 0xE0) * 4096 + (b - 0x80) * 64 + (d - 0x80)
  elseif c >= 0xC2 and c < 0xE0 and n == 2 then
    return (c - 0xC0) * 64 + (ch:byte(2) - 0x80)
  end
  return nil
end

-- The columns of each character of `s`, in order: a list of `{text, width}`. A character
-- followed by U+FE0F (emoji presentation, as in "⬅️") is two columns wide; a character
-- after a zero-width joiner joins the glyph before it (no column of its own); a malformed
-- byte counts as one column.
local function cells(s)
  local out, n = {}, 0
  local joined = false
  for ch in s:gmatch(CHAR) do
    local cp = codepoint(ch)
    local w
    if not cp then
      w = 1
    elseif cp == 0x200D then
      w, joined = 0, true
    elseif joined then
      w, joined = 0, false
    elseif cp == 0xFE0F then
      w = 0
      if n > 0 and out[n][2] == 1 then out[n][2] = 2 end
    elseif cp < 0x20 or (cp >= 0x7F and cp < 0xA0) then
      w = 0
    elseif in_ranges(ZERO, cp) then
      w = 0
    elseif in_ranges(WIDE, cp) then
      w = 2
    else
      w = 1
    end
    n = n + 1
    out[n] = { ch, w }
  end
  return out
end

--- The number of terminal columns `s` takes: CJK wide characters and emoji count 2,
-- combining marks, variation selectors (U+FE0F turns the character before it into a
-- 2-column emoji, as in "⬅️") and zero-width joiners 0, everything else 1.
-- Neither blocks nor yields.
-- @tparam string s UTF-8 text
-- @treturn integer columns
function M.display_width(s)
  s = tostring(s)
  if not s:find("[\128-\255]") then return #s end
  local w = 0
  for _, c in ipairs(cells(s)) do w = w + c[2] end
  return w
end

--- `s` cut to at most `cols` terminal columns, ending with "…" when it was cut.
-- Neither blocks nor yields.
-- @tparam string s UTF-8 text
-- @tparam integer cols
-- @treturn string
function M.truncate(s, cols)
  s = tostring(s)
  if M.display_width(s) <= cols then return s end
  if cols <= 0 then return "" end
  local out, used = {}, 0
  for _, c in ipairs(cells(s)) do
    if used + c[2] > cols - 1 then break end
    used = used + c[2]
    out[#out + 1] = c[1]
  end
  return table.concat(out) .. "…"
end

--- `s` followed by spaces up to `cols` terminal columns (unchanged when it is wider).
-- Neither blocks nor yields.
-- @tparam string s UTF-8 text
-- @tparam integer cols
-- @treturn string
function M.pad(s, cols)
  s = tostring(s)
  local w = M.display_width(s)
  if w >= cols then return s end
  return s .. string.rep(" ", cols - w)
end

local ulen, utrunc = M.display_width, M.truncate

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
-- @tparam string label a short word for plain lines, e.g. "imagine", "U2", "wait"
-- @tparam[opt] string id the task id when known
-- @tparam[opt="SUBMITTING"] string status the status shown first
-- @tparam[opt] string title what the live bar is labelled with (the prompt, "U1 of 1773…");
--   default `label`
-- @return the slot (pass it to `update`, `title` and `done`)
function Renderer:add(label, id, status, title)
  local slot = { label = M.clean(label), id = id and M.clean(id) or nil, status = status or "SUBMITTING",
    title = title and M.clean(title) or nil, start = self.now(), last = nil }
  self.slots[#self.slots + 1] = slot
  if self.mode == "plain" and id then self:plain(slot) end
  if self.mode == "tty" then self:draw() end
  return slot
end

--- Sets the text a slot's live bar is labelled with (plain lines keep their label).
-- Blocks (writes) on a terminal when it changed.
-- @param slot from `add`
-- @tparam string title
function Renderer:title(slot, title)
  title = M.clean(title)
  if title == slot.title then return end
  slot.title = title
  if self.mode == "tty" then self:draw() end
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

--- One line of the live block: id, title (the prompt, shortened to fit), bar, percent,
-- status, elapsed time; cut to the terminal width. Neither blocks nor yields.
-- @param slot
-- @treturn string
function Renderer:line(slot)
  local width = math.max(self.width - 1, 20)
  local p = slot.percent
  if slot.status == "SUCCESS" then p = 100 end
  local id = string.format("%-16s", slot.id or "-")
  local tail = string.format(" %s %-11s %7s", percent_text(p), slot.status, elapsed_text(self:elapsed(slot)))
  if slot.note then tail = tail .. "  " .. slot.note end
  -- the title gets what a bar of 10 leaves, between 8 and 32 columns
  local titlew = width - ulen(id) - 1 - ulen(tail) - 13
  if titlew > 32 then titlew = 32 end
  if titlew < 8 then titlew = 8 end
  local head = id .. " " .. M.pad(utrunc(slot.title or slot.label, titlew), titlew)
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
