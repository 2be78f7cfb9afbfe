-- `mj batch` as a real process (bin/mj under lua5.4) against the simulator, including
-- SIGKILL at many moments and Ctrl-C. Every count is taken at the simulator. Tagged
-- #once: scripts/test.sh runs it under Lua 5.4 only.
local socket = require("socket")
local cjson = require("cjson")
local simulator = require("spec.helpers.simulator")
local helper = require("spec.helpers.batch")
local batch = require("midjourney.batch")
local journal = require("midjourney.journal")

local read_file = simulator.read_file

local KEY = "sk-batch-Qw8Rt5secretKEY77"
local SECRET = "Qw8Rt5secretKEY77"

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local root = require("spec.helpers.simulator").root()

local MJ = root .. "/bin/mj"
local LUA_PATH = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"
local LUA_CPATH = root .. "/build/lua5.4/?.so;;"

local function lines(s)
  local out = {}
  for line in s:gmatch("([^\n]*)\n") do out[#out + 1] = line end
  return out
end

local function until_true(pred, secs)
  local deadline = socket.gettime() + secs
  while socket.gettime() < deadline do
    local v = pred()
    if v then return v end
    socket.sleep(0.005)
  end
  return nil
end

local function alive(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  if not s then return false end
  return not s:match("^%d+ %b() [ZX]")
end

local function prompts(tag, n)
  local list = {}
  for i = 1, n do list[i] = string.format("%s harbour scene %d --ar 3:2", tag, i) end
  return list
end

local function expected_files(jobs, buttons)
  local names = {}
  for i, p in ipairs(jobs) do
    local grid, children = batch.file_names { index = i, slug = batch.slug(p), ["then"] = buttons or {} }
    names[#names + 1] = grid
    for _, b in ipairs(buttons or {}) do names[#names + 1] = children[b] end
  end
  return names
end

describe("mj batch #once", function()
  local sim, tmp

  local function env_prefix(o)
    local env = {
      "LUA_PATH=" .. q(LUA_PATH), "LUA_CPATH=" .. q(LUA_CPATH),
      "TERM=" .. q(o.term or "xterm"), "LANG=C.UTF-8", "COLUMNS=100",
      "COMETAPI_BASE_URL=" .. q(sim.url), "COMETAPI_KEY=" .. q(o.key or KEY),
    }
    return "env -u COMETAPI_KEY -u COMETAPI_BASE_URL " .. table.concat(env, " ")
  end

  local function command_line(argv)
    local parts = {}
    for i, a in ipairs(argv) do parts[i] = q(a) end
    return "lua5.4 " .. q(MJ) .. " " .. table.concat(parts, " ")
  end

  local function check_no_key(text)
    assert.is_nil(text:find(SECRET, 1, true), "the API key leaked into the output")
  end

  -- Runs mj to its end with stdout and stderr on files; returns { code, out, err }.
  local function mj(argv, o)
    o = o or {}
    local out, err, rc = tmp .. "/out", tmp .. "/err", tmp .. "/rc"
    local cmd = "cd " .. q(o.cwd or tmp) .. " && " .. env_prefix(o) .. " " .. command_line(argv)
      .. " >" .. q(out) .. " 2>" .. q(err) .. (o.stdin and (" <" .. q(o.stdin)) or " </dev/null")
      .. "; echo $? >" .. q(rc)
    os.execute(cmd)
    local r = { code = tonumber(read_file(rc)), out = read_file(out) or "", err = read_file(err) or "" }
    check_no_key(r.out)
    check_no_key(r.err)
    return r
  end

  -- Starts mj in the background; returns a handle { pid, rc() }.
  local function start_bg(argv, o)
    o = o or {}
    local pidf, rcf, errf = tmp .. "/bg.pid", tmp .. "/bg.rc", tmp .. "/bg.err"
    os.remove(pidf); os.remove(rcf)
    local cmd = "cd " .. q(o.cwd or tmp) .. " && ( " .. env_prefix(o) .. " " .. command_line(argv)
      .. " >/dev/null 2>" .. q(errf) .. " </dev/null & echo $! >" .. q(pidf) .. "; wait $!; echo $? >"
      .. q(rcf) .. " ) >/dev/null 2>&1 &"
    os.execute(cmd)
    local pid = until_true(function() return (read_file(pidf) or ""):match("%d+") end, 5)
    assert.is_truthy(pid, "mj did not start")
    return {
      pid = pid,
      rc = function(secs) return until_true(function() return tonumber(read_file(rcf) or "") end, secs or 10) end,
      err = function() return read_file(errf) or "" end,
    }
  end

  local function kill9(h)
    os.execute("kill -9 " .. h.pid .. " 2>/dev/null")
    assert.is_truthy(until_true(function() return not alive(h.pid) end, 5), "mj survived SIGKILL")
    h.rc(5)
  end

  local FAST = { "--interval", "0.02" }
  local function argv_of(file, dir, extra)
    local a = { "batch", file, "-o", dir, "--then", "U1" }
    for _, x in ipairs(FAST) do a[#a + 1] = x end
    for _, x in ipairs(extra or {}) do a[#a + 1] = x end
    return a
  end

  local function json_docs(text)
    local docs = {}
    for _, line in ipairs(lines(text)) do docs[#docs + 1] = assert(cjson.decode(line), line) end
    return docs
  end

  setup(function()
    sim = simulator.start { speed = 400, seed = 11, key = KEY }
    tmp = helper.tmpdir()
  end)

  teardown(function()
    if sim then sim:stop() end
    if tmp then os.execute("rm -rf " .. q(tmp)) end
  end)

  before_each(function() sim:reset() end)

  -- A batch file with n prompts; returns its path and the prompts.
  local function batch_file(tag, n)
    local list = prompts(tag, n)
    local path = tmp .. "/" .. tag .. ".txt"
    write_file(path, "# " .. tag .. "\n" .. table.concat(list, "\n") .. "\n")
    return path, list
  end

  describe("usage", function()
    it("is documented in mj --help and mj batch --help", function()
      local r = mj { "--help" }
      assert.is_truthy(r.out:find("\n  batch ", 1, true))
      r = mj { "batch", "--help" }
      assert.are.equal(0, r.code)
      for _, o in ipairs { "--output", "--then", "--concurrency", "--journal", "--resubmit-unknown", "--json",
        "--split" } do
        assert.is_truthy(r.out:find(o, 1, true), o)
      end
    end)

    it("exits 2 with one line naming the problem", function()
      write_file(tmp .. "/bad.txt", 'fine\n{"prompt": "x", "nme": "y"}\n')
      write_file(tmp .. "/empty.txt", "# nothing\n\n")
      local cases = {
        { { "batch" }, "missing argument" },
        { { "batch", "nosuch.txt" }, "nosuch.txt" },
        { { "batch", "bad.txt" }, "bad.txt:2: unknown key 'nme'" },
        { { "batch", "empty.txt" }, "empty.txt: no prompts" },
        { { "batch", "bad.txt", "--concurrency", "2.5" }, "--concurrency expects a whole number" },
        { { "batch", "bad.txt", "--concurrency", "0" }, "positive number" },
        { { "batch", "bad.txt", "--then", "U1,,U2" }, "--then: empty button name" },
      }
      for _, c in ipairs(cases) do
        local r = mj(c[1])
        assert.are.equal(2, r.code, c[2] .. ": " .. r.err)
        assert.is_truthy(r.err:find(c[2], 1, true), r.err)
        assert.are.equal(1, #lines(r.err) - (r.err:find("Try", 1, true) and 1 or 0), r.err)
      end
      assert.are.equal(0, sim:stats().requests)
    end)

    it("refuses the journal of another batch file (exit 2) and sends nothing", function()
      local dir = tmp .. "/refuse"
      local a = batch_file("refuse-a", 2)
      local b = batch_file("refuse-b", 2)
      local r = mj(argv_of(a, dir))
      assert.are.equal(0, r.code, r.err)
      sim:reset()
      r = mj(argv_of(b, dir))
      assert.are.equal(2, r.code, r.err)
      assert.is_truthy(r.err:find("belongs to another batch", 1, true), r.err)
      assert.is_truthy(r.err:find("refuse-a.txt", 1, true), r.err)
      assert.are.equal(0, sim:stats().requests)
      -- another journal is fine
      r = mj(argv_of(b, dir, { "--journal", dir .. "/b.jsonl" }))
      assert.are.equal(0, r.code, r.err)
    end)
  end)

  describe("a batch already running", function()
    it("makes a second mj batch on the same directory exit 2 without sending anything", function()
      local file = batch_file("busy", 3)
      local dir = tmp .. "/busy"
      sim:faults { { kind = "slow_first_byte", route = "imagine", delay = 1 } }
      local h = start_bg(argv_of(file, dir))
      assert.is_truthy(until_true(function() return sim:count("imagine") >= 1 end, 10))
      local r = mj(argv_of(file, dir))
      assert.are.equal(2, r.code, r.err)
      assert.is_truthy(r.err:find("in use by another batch (process " .. h.pid .. ")", 1, true), r.err)
      assert.are.equal(0, h.rc(20))
      assert.are.equal(3, sim:count("imagine"))
      assert.is_nil(read_file(dir .. "/.mj-batch.jsonl.lock"))
    end)
  end)

  describe("a batch in a pipe", function()
    it("runs 20 prompts with --then U1: plain event lines, a summary table, every file once and valid", function()
      local file, list = batch_file("pipe", 20)
      local dir = tmp .. "/pipe"
      local r = mj(argv_of(file, dir))
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, expected_files(list, { "U1" }))
      assert.are.equal(20, sim:count("imagine"))
      assert.are.equal(20, sim:count("action"))
      assert.is_nil(r.err:find("\27", 1, true))
      assert.is_truthy(r.err:find("batch: 20 jobs, 20 to run", 1, true), r.err)
      assert.is_truthy(r.err:find("001-pipe-harbour-scene-1 done\n", 1, true), r.err)
      assert.is_truthy(r.err:find("mj: batch: 20 done, 0 failed, 0 unknown, 0 not finished (40 submits sent", 1, true))
      local out = lines(r.out)
      assert.are.equal(21, #out)
      assert.is_truthy(out[1]:match("^job%s+status%s+tasks%s+files$"), out[1])
      assert.is_truthy(out[2]:match("^001%-pipe%-harbour%-scene%-1%s+done%s+%d+ U1:%d+%s+"), out[2])
      -- the same command again: nothing to do, nothing sent
      sim:reset()
      r = mj(argv_of(file, dir))
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(0, sim:stats().requests)
      assert.is_truthy(r.err:find("20 finished before: 20 done", 1, true), r.err)
      assert.is_truthy(r.err:find("(0 submits sent", 1, true), r.err)
    end)

    it("--json prints one JSON document per event and a summary; - reads standard input", function()
      local file, list = batch_file("json", 3)
      local dir = tmp .. "/json"
      local r = mj({ "batch", "-", "-o", dir, "--json", "--interval", "0.02" }, { stdin = file })
      assert.are.equal(0, r.code, r.err)
      local docs = json_docs(r.out)
      local kinds = {}
      for _, d in ipairs(docs) do kinds[d.event] = (kinds[d.event] or 0) + 1 end
      assert.are.equal(1, kinds.start)
      assert.are.equal(3, kinds.accepted)
      assert.are.equal(3, kinds.saved)
      assert.are.equal(3, kinds.done)
      local last = docs[#docs]
      assert.are.equal("summary", last.event)
      assert.are.equal(3, last.done)
      assert.are.equal("done", last.jobs[2].status)
      assert.are.equal(list[2], last.jobs[2].key)
      assert.are.equal("string", type(last.jobs[2].tasks[1].id))
      for _, d in ipairs(docs) do
        if d.event == "accepted" then assert.are.equal("string", type(d.id)) end
      end
      helper.check_outputs(dir, expected_files(list))
      local h = read_file(dir .. "/.mj-batch.jsonl")
      assert.is_truthy(h:find('"source":"stdin"', 1, true))
    end)

    it("takes names and per-job follow-ups from JSON lines", function()
      local dir = tmp .. "/named"
      write_file(tmp .. "/named.jsonl", '{"prompt": "named fox --ar 3:2", "name": "Red Fox", "then": ["U2", "U3"]}\n'
        .. "named plain teapot\n")
      local r = mj { "batch", "named.jsonl", "-o", dir, "--interval", "0.02" }
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, { "001-red-fox.png", "001-red-fox-U2.png", "001-red-fox-U3.png",
        "002-named-plain-teapot.png" })
      assert.are.equal(2, sim:count("action"))
    end)

    it("draws an overall line and live job lines on a terminal", function()
      local file = batch_file("tty", 3)
      local out = tmp .. "/tty.out"
      local inner = "cd " .. q(tmp) .. " && " .. env_prefix {} .. " "
        .. command_line { "batch", file, "-o", tmp .. "/tty", "--interval", "0.02" }
      os.execute("script -qec " .. q(inner) .. " /dev/null </dev/null >" .. q(out) .. " 2>&1")
      local text = read_file(out) or ""
      check_no_key(text)
      assert.is_truthy(text:find("\27[", 1, true), "no cursor movement")
      assert.is_truthy(text:find("batch 3/3 done, 0 failed, 0 unknown, 0 running, 0 queued", 1, true), text)
      assert.is_truthy(text:find("running", 1, true))
      assert.is_truthy(text:match("001%-tty%-harbour%-scene%-1%s+%a+ %["), "no live job line")
    end)

    it("exits 3 when the gateway refuses the key, and names it without the key", function()
      local file = batch_file("badkey", 4)
      local r = mj(argv_of(file, tmp .. "/badkey"), { key = "sk-wrong-" .. SECRET .. "x" })
      assert.are.equal(3, r.code, r.err)
      assert.is_truthy(r.err:find("HTTP 401", 1, true), r.err)
      assert.is_truthy(r.err:find("the batch stopped", 1, true), r.err)
      assert.is_nil(r.err:find(SECRET, 1, true))
    end)
  end)

  describe("killed and rerun", function()
    -- Kills (SIGKILL) the batch at the given moments, then reruns it until it finishes
    -- (once more with --resubmit-unknown when jobs ended unknown). Returns what it saw.
    local function kill_then_finish(tag, n, moments, opts)
      opts = opts or {}
      local file, list = batch_file(tag, n)
      local dir = tmp .. "/" .. tag
      local tasks_before = sim:stats().tasks
      sim:reset()
      if opts.faults then sim:faults(opts.faults) end
      local kills = 0
      local phases = { submit = 0, download = 0 }
      for _, moment in ipairs(moments) do
        local h = start_bg(argv_of(file, dir, opts.args))
        local when = moment(h, dir)
        if alive(h.pid) then
          assert.is_truthy(when, "the moment to kill never came")
          kill9(h)
          kills = kills + 1
          -- where the kill landed: submits without an answer, downloads cut short
          local st = journal.load(dir .. "/.mj-batch.jsonl")
          for _, job in pairs(st and st.jobs or {}) do
            if job.grid.unknown then phases.submit = phases.submit + 1 end
            for _, c in pairs(job.children) do
              if c.unknown then phases.submit = phases.submit + 1 end
            end
          end
          for _, name in ipairs(helper.listing(dir)) do
            if name:match("%.part$") then phases.download = phases.download + 1 end
          end
        else
          h.rc(5)
        end
      end
      local function args(extra)
        local a = {}
        for _, x in ipairs(opts.args or {}) do a[#a + 1] = x end
        for _, x in ipairs(extra) do a[#a + 1] = x end
        return argv_of(file, dir, a)
      end
      local r = mj(args { "--json" })
      local summary = json_docs(r.out)
      summary = summary[#summary]
      assert.are.equal("summary", summary.event, r.err)
      local unknown = {}
      for _, j in ipairs(summary.jobs) do
        if j.status == "unknown" then unknown[j.job] = j.unknown end
      end
      local before_flag = { imagine = sim:count("imagine"), action = sim:count("action") }
      if summary.unknown > 0 then
        assert.are.equal(1, r.code, r.err)
        assert.is_truthy(r.err:find("--resubmit-unknown", 1, true))
        -- a plain rerun sends nothing for them
        local again = mj(args {})
        assert.are.equal(1, again.code)
        assert.are.equal(before_flag.imagine, sim:count("imagine"))
        assert.are.equal(before_flag.action, sim:count("action"))
        r = mj(args { "--resubmit-unknown" })
      end
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, expected_files(list, { "U1" }))
      -- what the simulator saw, per prompt, against what the journal says was sent
      local st = assert(journal.load(dir .. "/.mj-batch.jsonl"))
      local by_prompt = helper.count_by_prompt(sim, "IMAGINE", tasks_before)
      local grid_attempts, child_attempts, resent = 0, 0, 0
      for i, p in ipairs(list) do
        local job = st.jobs[i]
        local g, c = job.grid, job.children.U1
        grid_attempts, child_attempts = grid_attempts + g.attempts, child_attempts + c.attempts
        local was_unknown = unknown[i] ~= nil
        if g.attempts > 1 or c.attempts > 1 then resent = resent + 1 end
        -- sent again only when the job ended unknown, and then only once
        assert.is_true(g.attempts == 1 or (g.attempts == 2 and was_unknown), p .. ": grid sent " .. g.attempts)
        assert.is_true(c.attempts == 1 or (c.attempts == 2 and was_unknown), p .. ": U1 sent " .. c.attempts)
        assert.is_true(by_prompt[p] >= 1 and by_prompt[p] <= g.attempts,
          p .. ": " .. tostring(by_prompt[p]) .. " imagine tasks for " .. g.attempts .. " submits")
      end
      local imagine, action = sim:count("imagine"), sim:count("action")
      assert.is_true(imagine >= n and imagine <= grid_attempts, "imagine requests: " .. imagine)
      assert.is_true(action >= n and action <= child_attempts, "action requests: " .. action)
      if next(unknown) == nil then
        -- no job ended unknown: each prompt and each follow-up exactly once
        assert.are.equal(n, imagine)
        assert.are.equal(n, action)
        assert.are.equal(2 * n, sim:stats().tasks - tasks_before)
        for _, p in ipairs(list) do assert.are.equal(1, by_prompt[p], p) end
      end
      return { kills = kills, unknown = unknown, resent = resent, dir = dir, phases = phases }
    end

    local function after(secs)
      return function()
        socket.sleep(secs)
        return true
      end
    end

    it("at many moments (seeds and delays): no prompt or follow-up sent twice unless it ended unknown", function()
      local total_kills, total_unknown, in_submit, in_download = 0, 0, 0, 0
      for seed = 1, 3 do
        local moments = {}
        for k = 1, 4 do
          moments[k] = after(0.05 + ((seed * 7 + k * 13) % 17) * 0.04)
        end
        local seen = kill_then_finish("kill" .. seed, 20, moments)
        total_kills = total_kills + seen.kills
        in_submit, in_download = in_submit + seen.phases.submit, in_download + seen.phases.download
        for _ in pairs(seen.unknown) do total_unknown = total_unknown + 1 end
      end
      assert.is_true(total_kills >= 9, "only " .. total_kills .. " kills landed")
      print(string.format("\n  killed %d times (cutting %d submits from their answers and %d downloads); "
        .. "%d jobs ended unknown", total_kills, in_submit, in_download, total_unknown))
    end)

    it("between a submit and its answer: the job is unknown, not resubmitted; --resubmit-unknown sends it once",
      function()
        local seen = kill_then_finish("slow-submit", 8, { function()
          -- the 4th imagine reached the server, whose answer is held for 3 s: kill now
          return until_true(function() return sim:count("imagine") >= 4 end, 10)
        end }, { args = { "--concurrency", "1" },
          faults = { { kind = "slow_first_byte", route = "imagine", after = 3, delay = 3 } } })
        assert.are.equal(1, seen.kills)
        local n = 0
        for _, units in pairs(seen.unknown) do
          n = n + 1
          assert.are.same({ "imagine" }, units)
        end
        assert.are.equal(1, n)
        assert.is_truthy(seen.unknown[4], "job 4 (the slow submit) is not the unknown one")
        assert.are.equal(1, seen.resent)
      end)

    it("between a follow-up's submit and its answer: only that follow-up is unknown", function()
      local seen = kill_then_finish("slow-action", 6, { function()
        return until_true(function() return sim:count("action") >= 3 end, 10)
      end }, { args = { "--concurrency", "1" },
        faults = { { kind = "slow_first_byte", route = "action", after = 2, delay = 3 } } })
      assert.are.equal(1, seen.kills)
      -- job 3's U1 (the 3rd action) is the one in flight
      assert.are.same({ [3] = { "U1" } }, seen.unknown)
      assert.are.equal(1, seen.resent)
    end)

    it("in the middle of a download: the file is fetched again, complete, with no partial file left", function()
      local seen = kill_then_finish("mid-download", 6, { function(_, dir)
        return until_true(function()
          for _, name in ipairs(helper.listing(dir)) do
            if name:match("%.part$") and sim:count("image") >= 3 then return true end
          end
          return false
        end, 10)
      end }, { args = { "--concurrency", "1" },
        faults = { { kind = "stall_after_headers", route = "image", after = 2, bytes = 1000, delay = 5 } } })
      assert.are.equal(1, seen.kills)
      assert.is_nil(next(seen.unknown))
    end)
  end)

  describe("--split", function()
    local uri = require("midjourney.image.uri")

    local function split_names(list)
      local names = expected_files(list)
      for i, p in ipairs(list) do
        local base = string.format("%03d-%s", i, batch.slug(p))
        for k = 1, 4 do names[#names + 1] = base .. "-" .. k .. ".png" end
      end
      return names
    end

    it("saves each grid's four pictures, journals them, and a rerun splits only what is missing", function()
      local file, list = batch_file("split", 3)
      local dir = tmp .. "/split"
      local argv = { "batch", file, "-o", dir, "--split", "--interval", "0.02" }
      local r = mj(argv)
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, split_names(list))
      assert.are.equal(3, sim:count("imagine"))
      assert.are.equal(0, sim:count("action"))
      -- each picture is the grid's top-left, top-right, ... quarter (odd sizes: left/top get the extra pixel)
      local base = string.format("%03d-%s", 1, batch.slug(list[1]))
      local g = assert(uri.info(dir .. "/" .. base .. ".png"))
      for k = 1, 4 do
        local p = assert(uri.info(dir .. "/" .. base .. "-" .. k .. ".png"))
        assert.are.equal(k % 2 == 1 and math.ceil(g.width / 2) or math.floor(g.width / 2), p.width)
        assert.are.equal(k <= 2 and math.ceil(g.height / 2) or math.floor(g.height / 2), p.height)
      end
      -- journalled like the other files: a file record per picture
      local st = assert(journal.load(dir .. "/.mj-batch.jsonl"))
      for i = 1, 3 do
        for k = 1, 4 do
          local u = st.jobs[i].children["split:" .. k]
          assert.is_truthy(u and u.file, "job " .. i .. " picture " .. k)
          assert.are.equal(#read_file(u.file.path), u.file.size)
        end
      end
      assert.is_truthy(r.out:find(base .. "-4.png", 1, true), r.out)
      assert.is_truthy(r.err:find(base .. " saved " .. dir .. "/" .. base .. "-1.png", 1, true), r.err)
      -- the same command again: nothing is sent, not even a fetch
      sim:reset()
      r = mj(argv)
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(0, sim:stats().requests)
      -- a deleted picture: only its grid is split again (one fetch, one grid download, no submit)
      local base2 = string.format("%03d-%s", 2, batch.slug(list[2]))
      os.remove(dir .. "/" .. base2 .. "-3.png")
      sim:reset()
      r = mj(argv)
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, split_names(list))
      assert.are.equal(0, sim:count("imagine"))
      assert.are.equal(1, sim:count("fetch"))
      assert.are.equal(1, sim:count("image"))
    end)

    it("splits the grids of an earlier run without --split, and reports them in --json", function()
      local file, list = batch_file("split-late", 2)
      local dir = tmp .. "/split-late"
      local r = mj { "batch", file, "-o", dir, "--interval", "0.02" }
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, expected_files(list))
      sim:reset()
      r = mj { "batch", file, "-o", dir, "--split", "--json", "--interval", "0.02" }
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, split_names(list))
      assert.are.equal(0, sim:count("imagine"))
      local saved = 0
      for _, d in ipairs(json_docs(r.out)) do
        if d.event == "saved" and d.unit == "split" then
          saved = saved + 1
          assert.is_truthy(d.path:match("%-[1-4]%.png$"), d.path)
        end
      end
      assert.are.equal(8, saved)
    end)

    it("Ctrl-C in the middle of a split: exit 130, no partial picture, and a rerun completes it", function()
      local file, list = batch_file("split-int", 1)
      local dir = tmp .. "/split-int"
      -- the batch's own grid download passes; the split's grid download stalls
      sim:faults { { kind = "stall_after_headers", route = "image", after = 1, bytes = 100, delay = 20 } }
      local h = start_bg { "batch", file, "-o", dir, "--split", "--interval", "0.02" }
      assert.is_truthy(until_true(function() return sim:count("image") >= 2 end, 10), h.err())
      os.execute("kill -INT " .. h.pid)
      assert.are.equal(130, h.rc(10), h.err())
      helper.check_outputs(dir, expected_files(list)) -- the grid alone: no picture, no .part file
      sim:reset()
      local r = mj { "batch", file, "-o", dir, "--split", "--interval", "0.02" }
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, split_names(list))
      assert.are.equal(0, sim:count("imagine"))
    end)

    it("a grid that cannot be split is named, exit 1, and a rerun tries again", function()
      local file, list = batch_file("split-fail", 1)
      local dir = tmp .. "/split-fail"
      -- the grid download for the split fails (the batch's own grid download came first)
      sim:faults { { kind = "status", status = 404, route = "image", after = 1 } }
      local r = mj { "batch", file, "-o", dir, "--split", "--interval", "0.02" }
      assert.are.equal(1, r.code, r.err)
      local base = string.format("%03d-%s", 1, batch.slug(list[1]))
      assert.is_truthy(r.err:find("mj: " .. base .. ": split: ", 1, true), r.err)
      assert.is_truthy(r.err:find("a rerun tries again", 1, true), r.err)
      sim:reset()
      r = mj { "batch", file, "-o", dir, "--split", "--interval", "0.02" }
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, split_names(list))
      assert.are.equal(0, sim:count("imagine"))
    end)
  end)

  describe("the README's Batches section", function()
    local function block_after(text, heading, lang)
      local at = assert(text:find(heading, 1, true), "README has no heading " .. heading)
      return assert(text:match("```" .. lang .. "\n(.-)```", at), "no " .. lang .. " block after " .. heading)
    end

    it("runs as written: the shell example, its rerun, and the Lua example", function()
      local text = assert(read_file(root .. "/README.md"))
      local dir = tmp .. "/readme"
      assert(os.execute("mkdir -p " .. q(dir) .. " && ln -s " .. q(root .. "/bin") .. " " .. q(dir .. "/bin")))
      write_file(dir .. "/block.sh", block_after(text, "## Batches", "sh"))
      write_file(dir .. "/example.lua", block_after(text, "## Batches", "lua"))
      -- the Lua example runs meanwhile (its own directory), since both mostly wait for polls
      local lua_out, lua_rc = tmp .. "/readme-lua.out", tmp .. "/readme-lua.rc"
      os.execute("cd " .. q(dir) .. " && ( " .. env_prefix {} .. " lua5.4 example.lua >" .. q(lua_out)
        .. " 2>&1; echo $? >" .. q(lua_rc) .. " ) >/dev/null 2>&1 &")
      local out, rc = tmp .. "/readme.out", tmp .. "/readme.rc"
      os.execute("cd " .. q(dir) .. " && " .. env_prefix {} .. " bash -e block.sh >" .. q(out) .. " 2>&1; echo $? >"
        .. q(rc))
      local log = read_file(out) or ""
      check_no_key(log)
      assert.are.equal(0, tonumber(read_file(rc)), log)
      helper.check_outputs(dir .. "/out", { "001-a-red-paper-boat-on-a-pond.png",
        "001-a-red-paper-boat-on-a-pond-U2.png", "002-a-lighthouse-in-the-fog.png",
        "002-a-lighthouse-in-the-fog-U2.png", "003-fox.png", "003-fox-U1.png", "003-fox-U3.png" })
      assert.is_truthy(log:find("(7 submits sent", 1, true), log)
      -- the second command sent nothing
      assert.is_truthy(log:find("(0 submits sent", 1, true), log)
      local code = until_true(function() return tonumber(read_file(lua_rc) or "") end, 60)
      log = read_file(lua_out) or ""
      assert.are.equal(0, code, log)
      assert.is_truthy(log:find("2 done, 0 failed, 0 unknown", 1, true), log)
      assert.is_truthy(log:find("saved lua-out/002-fox-U3.png", 1, true), log)
      helper.check_outputs(dir .. "/lua-out", { "001-a-red-paper-boat-on-a-pond.png", "002-fox.png", "002-fox-U1.png",
        "002-fox-U3.png" })
      -- at the simulator: 3 + 2 prompts and 4 + 2 buttons, each sent once
      assert.are.equal(5, sim:count("imagine"))
      assert.are.equal(6, sim:count("action"))
    end)
  end)

  describe("Ctrl-C", function()
    it("lets the submit in flight answer, exits 130, and a rerun finishes with each prompt sent once", function()
      local file, list = batch_file("ctrl-c", 8)
      local dir = tmp .. "/ctrl-c"
      sim:faults { { kind = "slow_first_byte", route = "imagine", after = 2, delay = 0.5 } }
      local h = start_bg(argv_of(file, dir))
      assert.is_truthy(until_true(function() return sim:count("imagine") >= 3 end, 10))
      os.execute("kill -INT " .. h.pid)
      local rc = h.rc(15)
      assert.are.equal(130, rc, h.err())
      local err = h.err()
      assert.is_truthy(err:find("rerun the same command to go on", 1, true), err)
      -- every submit sent got its answer into the journal
      local st = assert(journal.load(dir .. "/.mj-batch.jsonl"))
      for _, job in pairs(st.jobs) do assert.is_false(job.grid.unknown) end
      assert.is_nil(read_file(dir .. "/.mj-batch.jsonl"):find('"t":"unknown"', 1, true))
      local r = mj(argv_of(file, dir))
      assert.are.equal(0, r.code, r.err)
      helper.check_outputs(dir, expected_files(list, { "U1" }))
      assert.are.equal(8, sim:count("imagine"))
      assert.are.equal(8, sim:count("action"))
    end)
  end)
end)
