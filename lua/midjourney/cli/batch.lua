--- `mj batch FILE`: a thin layer over `midjourney.batch`: reads the file, runs the
-- batch with a live display, handles Ctrl-C and prints the summary.
--
-- Display (on stderr): on a terminal, one overall line (done, failed, unknown, running,
-- queued, elapsed, estimated time left) above one live line per job in flight; in a pipe,
-- one plain line per event; with `--json`, one JSON document per event on stdout (the
-- last one, `"event": "end"`, holds the summary). The summary table goes to stdout.
--
-- Ctrl-C: no new submit starts, waits and downloads are cancelled, submits in flight
-- get up to `M.grace` seconds to bring their answer into the journal; a second Ctrl-C
-- quits at once (the journal is consistent either way). Exit 130.
-- @module midjourney.cli.batch

local mj = require "midjourney"
local batch = require "midjourney.batch"
local journal = require "midjourney.journal"
local render = require "midjourney.cli.render"
local commands = require "midjourney.cli.commands"

local M = {}

local EXIT = commands.EXIT

--- Seconds the submits in flight get to answer after Ctrl-C.
M.grace = 10

local function now() return mj.core.now() end

local function is_interrupt(err)
  if type(err) == "string" then return err:find("interrupted!", 1, true) ~= nil end
  return false
end

local function elapsed_text(s)
  if s < 60 then return string.format("%.1fs", s) end
  if s < 3600 then return string.format("%dm%02ds", math.floor(s / 60), math.floor(s % 60)) end
  return string.format("%dh%02dm", math.floor(s / 3600), math.floor(s % 3600 / 60))
end

local function err_text(e)
  if e == nil then return nil end
  if type(e) == "table" and e.kind == "task_failed" then
    local t = e.task
    local reason = type(t) == "table" and t.failReason or nil
    return render.clean(reason and reason ~= "" and reason or e.message)
  end
  return render.clean(commands.error_text(e))
end

-- ---------------------------------------------------------------- the display

local Display = {}
Display.__index = Display

--- Creates the display for a mode ("tty", "plain", "quiet" or "json"). Blocks briefly.
-- @tparam table o `mode`, `err` (stream), `out` (stream), `width`
-- @return the display
function M.display(o)
  local self = setmetatable({
    mode = o.mode, err = o.err, out = o.out, width = o.width or 80,
    total = 0, done = 0, failed = 0, unknown = 0, queued = 0, running = 0,
    finished_now = 0, live = {}, order = {}, drawn = 0, last_draw = 0,
    t0 = now(), limit = nil, max = nil,
  }, Display)
  self.unicode = o.unicode
  return self
end

local function json_doc(ev)
  local doc = { event = ev.type, at = math.floor((ev.at or 0) * 1000 + 0.5) / 1000 }
  if ev.job then doc.job, doc.key, doc.name, doc.base = ev.job, ev.key, ev.name, ev.base end
  for _, k in ipairs { "unit", "id", "status", "percent", "code", "queue", "path", "size", "reason", "limit",
    "previous", "wait", "state", "final", "total", "queued", "done", "failed", "unknown", "journal" } do
    if ev[k] ~= nil then doc[k] = ev[k] end
  end
  if ev.error ~= nil then
    doc.error = err_text(ev.error)
    if type(ev.error) == "table" then doc.kind, doc.error_code = ev.error.kind, ev.error.code end
  end
  return doc
end

function Display:line_of(slot)
  local width = math.max(self.width - 1, 30)
  local p = slot.percent
  if slot.status == "SUCCESS" then p = 100 end
  local name = slot.name
  if #name > 24 then name = name:sub(1, 23) .. "~" end
  local pct = p and string.format("%3d%%", math.floor(p + 0.5)) or "  ?%"
  local head = string.format("%-24s %-7s", render.clean(name), render.clean(slot.unit or ""))
  local tail = string.format(" %s %-11s %7s", pct, render.clean(slot.status or ""), elapsed_text(now() - slot.start))
  local barw = math.min(30, width - #head - #tail - 3)
  if barw >= 5 then
    local full, empty = self.unicode and "█" or "#", self.unicode and "░" or "-"
    local fill = math.floor((p or 0) / 100 * barw + 0.5)
    return head .. " [" .. string.rep(full, fill) .. string.rep(empty, barw - fill) .. "]" .. tail
  end
  return head .. tail
end

function Display:overall()
  local el = now() - self.t0
  local left = "?"
  local remaining = self.queued + self.running
  if remaining == 0 then
    left = "0s"
  elseif self.finished_now > 0 then
    left = "~" .. elapsed_text(el / self.finished_now * remaining)
  end
  local s = string.format("batch %d/%d done, %d failed, %d unknown, %d running, %d queued, %s elapsed, %s left",
    self.done, self.total, self.failed, self.unknown, self.running, self.queued, elapsed_text(el), left)
  if self.limit and self.max and self.limit < self.max then
    s = s .. string.format(" (throttled to %d)", self.limit)
  end
  return s
end

function Display:draw(final)
  if self.mode ~= "tty" then return end
  local buf = {}
  if self.drawn > 0 then buf[#buf + 1] = "\r\27[" .. self.drawn .. "A" end
  buf[#buf + 1] = "\r\27[2K" .. self:overall() .. "\n"
  local n = 1
  if not final then
    for _, i in ipairs(self.order) do
      local slot = self.live[i]
      if slot then
        buf[#buf + 1] = "\r\27[2K" .. self:line_of(slot) .. "\n"
        n = n + 1
      end
    end
  end
  buf[#buf + 1] = "\27[J"
  self.drawn = n
  self.err:write(table.concat(buf))
  self.err:flush()
  self.last_draw = now()
end

-- One line of text: in a pipe every event has one; on a terminal only those that matter
-- (`important`) go above the live block, which shows the rest.
function Display:plain(text, important)
  if self.mode == "plain" then
    self.err:write(render.clean(text), "\n")
    self.err:flush()
  elseif self.mode == "tty" and important then
    -- a line above the live block
    if self.drawn > 0 then self.err:write("\r\27[" .. self.drawn .. "A\27[J") end
    self.err:write(render.clean(text), "\n")
    self.drawn = 0
    self:draw()
  end
end

-- A job leaves the live block.
function Display:drop(i)
  self.live[i] = nil
  for k = #self.order, 1, -1 do
    if self.order[k] == i then table.remove(self.order, k) end
  end
end

--- Takes one event of `midjourney.batch`. Blocks (writes).
-- @tparam table ev
function Display:event(ev)
  local t = ev.type
  if self.mode == "json" and t ~= "end" then
    self.out:write(mj.json.encode(json_doc(ev)), "\n")
    self.out:flush()
  end
  local name = ev.base or ""
  local unit = ev.unit or ""
  if t == "start" then
    self.total, self.done, self.failed, self.unknown = ev.total, ev.done, ev.failed, ev.unknown
    self.queued, self.limit, self.max = ev.queued, ev.limit, ev.limit
    local before = ev.done + ev.failed + ev.unknown
    local text = string.format("batch: %d jobs, %d to run%s; journal %s", ev.total, ev.queued,
      before > 0 and string.format(" (%d finished before: %d done, %d failed, %d unknown)", before, ev.done,
        ev.failed, ev.unknown) or "", ev.journal)
    if (ev.repaired or 0) > 0 then
      text = text .. string.format(" (dropped a torn last line of %d bytes)", ev.repaired)
    end
    self:plain(text, true)
  elseif t == "job" then
    self.queued = self.queued - 1
    self.running = self.running + 1
    self.live[ev.job] = { name = name, unit = "imagine", status = "STARTING", start = now() }
    self.order[#self.order + 1] = ev.job
  elseif t == "requeue" then
    self.queued = self.queued + 1
    self.running = self.running - 1
    self:drop(ev.job)
    self:plain(string.format("%s %s refused (%s): queued again", name, unit ~= "" and unit or "imagine",
      err_text(ev.error) or "saturated"))
  elseif t == "submit" then
    local slot = self.live[ev.job]
    if slot then slot.unit, slot.status, slot.percent, slot.start = unit, "SUBMITTING", nil, now() end
  elseif t == "accepted" or t == "attach" then
    local slot = self.live[ev.job]
    if slot then
      slot.unit, slot.status, slot.percent = unit, t == "attach" and "ATTACHED" or "SUBMITTED", nil
      if t == "attach" then slot.start = now() end
    end
    self:plain(string.format("%s %s %s %s", name, unit, ev.id, t == "attach" and "waiting again (known task)"
      or ("submitted" .. ((ev.queue or 0) > 0 and (" (" .. ev.queue .. " queued ahead)") or ""))))
  elseif t == "progress" then
    local slot = self.live[ev.job]
    if slot then
      slot.unit = unit
      slot.status = (ev.status == nil or ev.status == "") and "PENDING" or ev.status
      slot.percent = ev.percent
    end
  elseif t == "status" then
    local slot = self.live[ev.job]
    if slot then slot.status, slot.unit = ev.status, unit end
    self:plain(string.format("%s %s %s %s%s", name, unit, ev.id, ev.status,
      ev.reason and (": " .. ev.reason) or ""))
  elseif t == "saved" then
    self:plain(string.format("%s saved %s (%d bytes)", name, ev.path, ev.size or 0))
  elseif t == "rejected" then
    if ev.final then self:plain(string.format("%s %s refused: %s", name, unit, err_text(ev.error)), true) end
  elseif t == "unknown" then
    self:plain(string.format("%s %s outcome unknown: %s", name, unit, err_text(ev.error)), true)
  elseif t == "done" or t == "failed" or t == "unknown_job" then
    if self.live[ev.job] then
      self:drop(ev.job)
      self.running = self.running - 1
    else
      self.queued = self.queued - 1
    end
    self.finished_now = self.finished_now + 1
    if t == "done" then
      self.done = self.done + 1
      self:plain(name .. " done")
    elseif t == "failed" then
      self.failed = self.failed + 1
      self:plain(name .. " failed" .. (ev.error and (": " .. err_text(ev.error)) or ""), true)
    else
      self.unknown = self.unknown + 1
      self:plain(name .. " unknown: its submit may have been accepted; not sent again", true)
    end
  elseif t == "throttle" then
    self.limit = ev.limit
    if ev.reason == "calm" then
      self:plain(string.format("batch: up to %d jobs in flight again", ev.limit), true)
    else
      self:plain(string.format("batch: gateway saturated (%s): %d jobs in flight at most%s", ev.reason, ev.limit,
        (ev.wait or 0) > 0 and string.format(", pausing new submits for %.1fs", ev.wait) or ""), true)
    end
  elseif t == "fatal" then
    self:plain("batch: stopping: " .. err_text(ev.error), true)
  end
  if self.mode == "tty" and now() - self.last_draw >= 0.1 then self:draw() end
end

--- Redraws the live block at most every half second (terminal). Blocks (writes).
function Display:tick()
  if self.mode == "tty" and now() - self.last_draw >= 0.5 then self:draw() end
end

--- Ends the live block, leaving the overall line. Blocks (writes).
function Display:finish()
  if self.mode == "tty" then self:draw(true) end
  self.drawn = 0
end

-- ---------------------------------------------------------------- the summary

local function summary_table(out, results)
  local rows = { { "job", "status", "tasks", "files" } }
  for _, r in ipairs(results) do
    local tasks = {}
    for _, t in ipairs(r.tasks) do
      tasks[#tasks + 1] = (t.unit == "imagine" and "" or (t.unit .. ":")) .. t.id
    end
    local name = string.format("%03d-%s", r.index, batch.slug(r.name or r.prompt))
    rows[#rows + 1] = { render.clean(name), r.status, #tasks > 0 and render.clean(table.concat(tasks, " ")) or "-",
      #r.files > 0 and render.clean(table.concat(r.files, " ")) or "-" }
  end
  local w = { 0, 0, 0 }
  for _, row in ipairs(rows) do
    for c = 1, 3 do
      local len = render.display_width(row[c])
      if len > w[c] then w[c] = len end
    end
  end
  local pad = render.pad
  for _, row in ipairs(rows) do
    out:write(pad(row[1], w[1]), "  ", pad(row[2], w[2]), "  ", pad(row[3], w[3]), "  ", row[4], "\n")
  end
end

-- ---------------------------------------------------------------- --split

-- With --split, each finished grid is also saved as its four pictures, NNN-slug-1.png ...
-- -4.png (`client:download(task, grid_path, {split = true})`: the task's per-image URLs,
-- else the grid cut locally). It runs beside the batch, in one coroutine of its own: a grid
-- is split when the batch saved it (event `saved`), or, for grids saved by an earlier run,
-- from the start. Each of the four files is journalled like the batch's own downloads (a
-- `file` record of the unit "split:N"), so a rerun leaves a complete split alone.

local Splitter = {}
Splitter.__index = Splitter

--- The journal unit of picture `k` of a split grid.
M.SPLIT_UNIT = "split:%d"

local function join_path(dir, name)
  if dir == "." then return name end
  return (dir:gsub("/+$", "")) .. "/" .. name
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

local function recorded(u)
  if not u.file or type(u.file.path) ~= "string" then return nil end
  local size = file_size(u.file.path)
  if size == nil or (u.file.size ~= nil and size ~= u.file.size) then return nil end
  return u.file.path
end

--- Makes the `--split` worker of a batch: `splitter:event(ev)` takes the batch's events,
-- `splitter:run()` (in a scheduler coroutine) splits the grids, `splitter:files(i)` gives the
-- four recorded files of job `i`. Neither blocks nor yields.
-- @param ctx the command context (`client`, `out`)
-- @tparam table jobs the batch's jobs (as `midjourney.batch.read` gives them)
-- @tparam string dir the output directory
-- @param display the batch display (for its lines)
-- @return the splitter
function M.splitter(ctx, jobs, dir, display)
  return setmetatable({ ctx = ctx, jobs = jobs, dir = dir, display = display, queue = {}, queued = {},
    ids = {}, bases = {}, errors = {}, saved = 0, finished = false }, Splitter)
end

-- The four recorded split files of job `i`, or nil when one is missing.
function Splitter:files(i)
  if not self.j then return nil end
  local out = {}
  for k = 1, 4 do
    local p = recorded(self.j:unit(i, M.SPLIT_UNIT:format(k)))
    if not p then return nil end
    out[k] = p
  end
  return out
end

function Splitter:enqueue(i)
  if self.queued[i] or self:files(i) then return end
  self.queued[i] = true
  self.queue[#self.queue + 1] = i
end

-- Takes the batch's events (before the display does).
function Splitter:event(ev)
  local t = ev.type
  if ev.job and ev.base then self.bases[ev.job] = ev.base end
  if ev.job and ev.id and (ev.unit == nil or ev.unit == "imagine") then self.ids[ev.job] = ev.id end
  if t == "start" then
    -- the batch holds the journal now; a second handle (no lock) reads it and appends the
    -- split records, one whole line each, like the batch's own
    local j, err = journal.open(ev.journal, { fingerprint = batch.fingerprint(self.jobs), jobs = #self.jobs })
    if not j then
      self.display:plain("mj: --split: cannot use the journal: " .. err_text(err), true)
      return
    end
    self.j = j
    for i = 1, #self.jobs do
      local g = j:unit(i)
      if g.id and recorded(g) then
        self.ids[i] = g.id
        self.bases[i] = (recorded(g):match("([^/]+)%.png$"))
        self:enqueue(i)
      end
    end
  elseif t == "saved" and ev.unit == "imagine" then
    self:enqueue(ev.job)
  end
end

function Splitter:emit(doc)
  if self.display.mode ~= "json" then return end
  doc.at = math.floor((now() - self.display.t0) * 1000 + 0.5) / 1000
  self.ctx.out:write(mj.json.encode(doc), "\n")
  self.ctx.out:flush()
end

-- Splits the grid of job `i`; records the four files in the journal.
function Splitter:split(i)
  local base, id = self.bases[i], self.ids[i]
  if not base or not id then return end
  local client = self.ctx.client
  local grid_path = join_path(self.dir, base .. ".png")
  local stem = join_path(self.dir, base)
  -- what a split cut short (a crash, a Ctrl-C) may have left
  os.remove(stem .. ".grid.part")
  for k = 1, 4 do
    os.remove(stem .. "-" .. k .. ".png.part")
    os.remove(stem .. "-" .. k .. ".download.part")
  end
  local task, err = client:fetch(id)
  local paths, info
  if task then paths, info = client:download(task, grid_path, { split = true }) else info = err end
  if not paths then
    if type(info) == "table" and info.kind == "cancelled" then return end
    self.errors[i] = err_text(info)
    self.display:plain(base .. " split failed: " .. self.errors[i] .. " (a rerun tries again)", true)
    self:emit { event = "split_failed", job = i, base = base, id = id, error = self.errors[i],
      kind = type(info) == "table" and info.kind or nil }
    return
  end
  self.errors[i] = nil
  for k, path in ipairs(paths) do
    local size = tonumber(info.sizes and info.sizes[k]) or file_size(path)
    local ok, jerr = self.j:append { t = "file", job = i, button = M.SPLIT_UNIT:format(k), path = path, size = size }
    if not ok then
      self.errors[i] = err_text(jerr)
      self.display:plain("mj: --split: " .. self.errors[i], true)
      return
    end
    self.saved = self.saved + 1
    self.display:plain(string.format("%s saved %s (%d bytes)", base, path, size or 0))
    self:emit { event = "saved", job = i, base = base, unit = "split", id = id, path = path, size = size }
  end
end

-- The worker: splits queued grids until the batch has ended and the queue is empty.
function Splitter:run()
  while not self.stopped do
    local i = table.remove(self.queue, 1)
    if i then
      self:split(i)
    elseif self.finished then
      return
    else
      mj.sleep(0.05)
    end
  end
end

-- ---------------------------------------------------------------- the command

local function usage(ctx, msg)
  ctx.err:write("mj: ", render.clean(msg), "\n")
  return EXIT.usage
end

--- Runs `mj batch FILE` for a parsed command line (see `midjourney.cli`). Blocks.
-- @param ctx the command context (`client`, `opts`, `args`, `out`, `err`)
-- @treturn integer exit code: 0 all done, 1 some job failed or is unknown, 2 usage
--   error or refused journal, 3 an API/HTTP error stopped the batch, 130 interrupted
function M.run(ctx)
  local opts = ctx.opts
  local file = ctx.args[1]
  local n = opts.concurrency
  if n ~= nil and n ~= math.floor(n) then return usage(ctx, "--concurrency expects a whole number, got " .. n) end
  local then_list, why = batch.buttons(opts["then"])
  if not then_list then return usage(ctx, "--then: " .. why) end
  local jobs, err = batch.read(file)
  if not jobs then return usage(ctx, err_text(err)) end
  local mode
  if opts.json then
    mode = "json"
  else
    mode = render.detect { quiet = opts.quiet, tty = opts.tty, no_tty = opts["no-tty"] }
  end
  local display = M.display { mode = mode, err = ctx.err, out = ctx.out,
    width = ctx.render and ctx.render.width or 80, unicode = ctx.render and ctx.render.full == "█" }
  local wait = {}
  if opts.timeout then wait.timeout = opts.timeout end
  if opts.interval then wait.interval, wait.first_delay = opts.interval, opts.interval end
  local dir = opts.output or "."
  local splitter = opts.split and M.splitter(ctx, jobs, dir, display) or nil
  local runner = batch.new(ctx.client, jobs, {
    dir = dir, journal = opts.journal, ["then"] = then_list, concurrency = n,
    resubmit_unknown = opts["resubmit-unknown"] or false, wait = wait,
    source = file == "-" and "stdin" or file,
    on_event = function(ev)
      if splitter then splitter:event(ev) end
      display:event(ev)
    end,
  })
  local h = mj.spawn(function() return runner:run() end)
  local sh = splitter and mj.spawn(function() return splitter:run() end) or nil
  local function alive()
    local s = h:status()
    if s == "pending" or s == "running" then return true end
    if not sh then return false end
    splitter.finished = true
    s = sh:status()
    return s == "pending" or s == "running"
  end
  local interrupted = false
  local ok, e = pcall(function()
    while alive() do
      mj.step(0.1)
      display:tick()
    end
  end)
  if not ok then
    if not is_interrupt(e) then error(e, 0) end
    interrupted = true
    if sh then
      splitter.finished, splitter.stopped = true, true
      pcall(sh.cancel, sh)
    end
    runner:stop(false)
    local inflight = runner:submits_in_flight()
    if inflight > 0 then
      display:plain(string.format("mj: interrupted: waiting up to %ds for %d submit%s in flight to answer "
        .. "(Ctrl-C again quits at once; the journal stays consistent)", M.grace, inflight,
        inflight == 1 and "" or "s"), true)
    end
    local deadline = now() + M.grace
    while alive() and now() < deadline do pcall(mj.step, 0.1) end
    if alive() then
      runner:stop(true)
      deadline = now() + 2
      while alive() and now() < deadline do pcall(mj.step, 0.1) end
    end
  end
  display:finish()
  if sh and sh:status() == "failed" then
    local _, serr = sh:result()
    error(serr, 0)
  end
  local results, summary = h:result()
  if h:status() == "failed" then
    error(summary, 0)
  end
  local split_failed = 0
  if splitter and results then
    for _, r in ipairs(results) do
      local files = splitter:files(r.index)
      for _, p in ipairs(files or {}) do r.files[#r.files + 1] = p end
      if splitter.errors[r.index] then
        split_failed = split_failed + 1
        r.split_error = splitter.errors[r.index]
      end
    end
  end
  if not results then
    if interrupted then
      ctx.err:write("mj: interrupted\n")
      return EXIT.interrupted
    end
    -- the journal was refused
    ctx.err:write("mj: ", err_text(summary), "\n")
    return EXIT.usage
  end
  if mode == "json" then
    local list = {}
    for i, r in ipairs(results) do
      local ids = {}
      for _, t in ipairs(r.tasks) do ids[#ids + 1] = { unit = t.unit, id = t.id } end
      list[i] = { job = r.index, key = r.key, name = r.name, status = r.status, tasks = mj.json.array(ids),
        files = mj.json.array(r.files), error = r.error and commands.one_request_id(r.error),
        unknown = mj.json.array(r.unknown), split_error = r.split_error }
    end
    ctx.out:write(mj.json.encode { event = "summary", total = summary.total, done = summary.done,
      failed = summary.failed, unknown = summary.unknown, pending = summary.pending,
      submits = summary.submits, journal = summary.journal, interrupted = interrupted,
      fatal = summary.fatal and err_text(summary.fatal) or nil, jobs = mj.json.array(list) }, "\n")
  else
    summary_table(ctx.out, results)
  end
  for _, r in ipairs(results) do
    if r.status == "failed" and r.error then
      ctx.err:write("mj: ", string.format("%03d-%s", r.index, batch.slug(r.name or r.prompt)), ": ",
        render.clean(commands.one_request_id(r.error)), r.final and "" or " (a rerun tries again)", "\n")
    end
    if r.split_error then
      ctx.err:write("mj: ", string.format("%03d-%s", r.index, batch.slug(r.name or r.prompt)), ": split: ",
        r.split_error, " (a rerun tries again)\n")
    end
  end
  ctx.err:write(string.format("mj: batch: %d done, %d failed, %d unknown, %d not finished (%d submits sent; "
    .. "journal %s)\n", summary.done, summary.failed, summary.unknown, summary.pending, summary.submits,
    render.clean(summary.journal)))
  if summary.unknown > 0 then
    ctx.err:write(string.format("mj: %d job%s had a submit whose outcome is unknown: it may have been accepted "
      .. "(and paid for) but no task id came back, so it is not sent again; %s\n", summary.unknown,
      summary.unknown == 1 and "" or "s", opts["resubmit-unknown"] and "it was sent once more and is unknown again"
      or "rerun with --resubmit-unknown to send it once more"))
  end
  if interrupted then
    ctx.err:write("mj: interrupted: the journal is consistent; rerun the same command to go on\n")
    return EXIT.interrupted
  end
  if summary.fatal then
    ctx.err:write(commands.error_line(summary.fatal), "\n")
    ctx.err:write("mj: the batch stopped; rerun the same command to go on\n")
    return EXIT.api
  end
  if summary.failed > 0 or summary.unknown > 0 or summary.pending > 0 or split_failed > 0 then
    return EXIT.failed
  end
  return EXIT.ok
end

return M
