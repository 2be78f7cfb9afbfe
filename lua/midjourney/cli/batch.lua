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
  return render.clean((tostring(e):gsub("^midjourney: ", "")))
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

local function pad(s, n)
  local len = select(2, s:gsub("[^\128-\191]", ""))
  if len >= n then return s end
  return s .. string.rep(" ", n - len)
end

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
      local len = select(2, row[c]:gsub("[^\128-\191]", ""))
      if len > w[c] then w[c] = len end
    end
  end
  for _, row in ipairs(rows) do
    out:write(pad(row[1], w[1]), "  ", pad(row[2], w[2]), "  ", pad(row[3], w[3]), "  ", row[4], "\n")
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
  local runner = batch.new(ctx.client, jobs, {
    dir = opts.output or ".", journal = opts.journal, ["then"] = then_list, concurrency = n,
    resubmit_unknown = opts["resubmit-unknown"] or false, wait = wait,
    source = file == "-" and "stdin" or file,
    on_event = function(ev) display:event(ev) end,
  })
  local h = mj.spawn(function() return runner:run() end)
  local function alive()
    local s = h:status()
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
  local results, summary = h:result()
  if h:status() == "failed" then
    error(summary, 0)
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
        files = mj.json.array(r.files), error = r.error, unknown = mj.json.array(r.unknown) }
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
        render.clean(r.error), r.final and "" or " (a rerun tries again)", "\n")
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
  if summary.failed > 0 or summary.unknown > 0 or summary.pending > 0 then return EXIT.failed end
  return EXIT.ok
end

return M
