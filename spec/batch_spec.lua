-- midjourney.batch from Lua, against the simulator; every count is taken at the simulator.
local mj = require "midjourney"
local batch = require "midjourney.batch"
local journal = require "midjourney.journal"
local simulator = require "spec.helpers.simulator"
local helper = require "spec.helpers.batch"

local read_file = simulator.read_file

local FAST = { interval = 0.02, first_delay = 0.02, timeout = 60 }

local function prompts(tag, n)
  local list = {}
  for i = 1, n do list[i] = string.format("%s lighthouse number %d --ar 3:2", tag, i) end
  return list
end

local function expected_files(jobs, buttons)
  local names = {}
  for i, p in ipairs(jobs) do
    local job = { index = i, slug = batch.slug(p), ["then"] = buttons or {} }
    local grid, children = batch.file_names(job)
    names[#names + 1] = grid
    for _, b in ipairs(buttons or {}) do names[#names + 1] = children[b] end
  end
  return names
end

local function events_of(list)
  return function(ev) list[#list + 1] = ev end
end

local function count_type(events, t)
  local n = 0
  for _, ev in ipairs(events) do
    if ev.type == t then n = n + 1 end
  end
  return n
end

describe("midjourney.batch", function()
  describe("parse", function()
    it("reads one prompt per line, skipping blank lines and # comments", function()
      local jobs = assert(batch.parse("a paper boat --ar 3:2\r\n\n   # a comment\n  a lighthouse  \n"))
      assert.are.same({ { prompt = "a paper boat --ar 3:2", line = 1 }, { prompt = "a lighthouse", line = 4 } }, jobs)
    end)

    it("reads JSON lines with a name and follow-up buttons, mixed with plain lines", function()
      local text = '{"prompt": "a fox", "name": "Fox", "then": ["U1", "U3"]}\n'
        .. '{"prompt": "a teapot", "then": "all"}\nplain one\n{"prompt": "a violin", "then": "U2,U2, V1"}\n'
      local jobs = assert(batch.parse(text, "p.jsonl"))
      assert.are.equal(4, #jobs)
      assert.are.same({ prompt = "a fox", name = "Fox", ["then"] = { "U1", "U3" }, line = 1 }, jobs[1])
      assert.are.same({ "U1", "U2", "U3", "U4" }, jobs[2]["then"])
      assert.are.same({ prompt = "plain one", line = 3 }, jobs[3])
      assert.are.same({ "U2", "V1" }, jobs[4]["then"])
    end)

    it("names the file and line of a bad JSON line, an unknown key, a missing prompt", function()
      local cases = {
        { 'ok\n{"prompt": "x",\n', "p.txt:2: not a JSON object" },
        { '{"prompt": "x", "promt": "y"}', "p.txt:1: unknown key 'promt'" },
        { '{"name": "x"}', 'p.txt:1: "prompt" must be a non-empty string' },
        { '{"prompt": "x", "then": [1]}', 'p.txt:1: "then": button 1 is not a string' },
        { '{"prompt": "x", "then": "U1,,U2"}', 'p.txt:1: "then": empty button name' },
        { "\n# only comments\n", "p.txt: no prompts" },
      }
      for _, c in ipairs(cases) do
        local jobs, err = batch.parse(c[1], "p.txt")
        assert.is_nil(jobs, c[2])
        assert.are.equal("invalid", err.kind)
        assert.is_truthy(err.message:find(c[2], 1, true), err.message)
      end
    end)

    it("reads a file and reports one it cannot read", function()
      local dir = helper.tmpdir()
      local f = assert(io.open(dir .. "/p.txt", "wb"))
      f:write("one\ntwo\n")
      f:close()
      assert.are.equal(2, #assert(batch.read(dir .. "/p.txt")))
      local jobs, err = batch.read(dir .. "/missing.txt")
      assert.is_nil(jobs)
      assert.is_truthy(err.message:find("missing.txt", 1, true))
      os.execute("rm -rf '" .. dir .. "'")
    end)
  end)

  describe("names", function()
    it("makes file-name slugs without the prompt's parameters", function()
      assert.are.equal("a-paper-boat-at-sunrise", batch.slug("A paper boat, at sunrise! --ar 3:2 --v 6.1"))
      assert.are.equal("job", batch.slug("海上的纸船"))
      assert.are.equal("job", batch.slug("--ar 3:2"))
      local long = batch.slug(string.rep("lighthouse ", 10))
      assert.is_true(#long <= 40)
      assert.is_nil(long:find("%-$"))
      local grid, children = batch.file_names { index = 7, slug = "fox", ["then"] = { "U2", "Zoom Out 2x", "🔄" } }
      assert.are.equal("007-fox.png", grid)
      assert.are.equal("007-fox-U2.png", children.U2)
      assert.are.equal("007-fox-Zoom-Out-2x.png", children["Zoom Out 2x"])
      assert.is_truthy(children["🔄"]:match("^007%-fox%-b%x+%.png$"))
      assert.are.equal("1234-x.png", (batch.file_names { index = 1234, slug = "x", ["then"] = {} }))
    end)

    it("expands follow-up lists", function()
      assert.are.same({ "U1", "U2", "U3", "U4" }, batch.buttons("all"))
      assert.are.same({ "U1", "U3" }, batch.buttons("U1, U3,U1"))
      assert.are.same({ "V2" }, batch.buttons({ "V2" }))
      assert.are.same({}, batch.buttons(nil))
      assert.is_nil((batch.buttons(42)))
    end)

    it("fingerprints the job list: keys and prompts in order, not the follow-ups", function()
      local a = batch.fingerprint { "one", "two" }
      assert.are.equal(a, batch.fingerprint { { prompt = "one", ["then"] = { "U1" } }, "two" })
      assert.are_not.equal(a, batch.fingerprint { "two", "one" })
      assert.are_not.equal(a, batch.fingerprint { "one", "two", "three" })
      assert.are_not.equal(a, batch.fingerprint { { prompt = "one", name = "first" }, "two" })
    end)
  end)

  describe("arguments", function()
    local client = mj.new { base_url = "http://127.0.0.1:9", api_key = "sk-x" }
    it("raise on wrong types and unknown options", function()
      assert.has_error(function() batch.run(nil, { "x" }) end)
      assert.has_error(function() batch.run(client, "x") end)
      assert.has_error(function() batch.run(client, {}) end, "batch.run: argument 'jobs' is empty")
      assert.has_error(function() batch.run(client, { 42 }) end)
      assert.has_error(function() batch.run(client, { { prompt = "" } }) end)
      assert.has_error(function() batch.run(client, { "x" }, { colour = 1 }) end, "batch.run: unknown option 'colour'")
      assert.has_error(function() batch.run(client, { "x" }, { concurrency = 0 }) end)
      assert.has_error(function() batch.run(client, { "x" }, { concurrency = 1.5 }) end)
      assert.has_error(function() batch.run(client, { "x" }, { ["then"] = 7 }) end)
      assert.has_error(function() batch.run(client, { "x" }, { on_event = "yes" }) end)
    end)

    it("are reachable as mj.batch", function()
      assert.are.equal(batch, mj.batch)
    end)
  end)

  describe("against the simulator", function()
    local sim = simulator.for_block { speed = 400, seed = 7 }
    local dir, client, tasks_before

    before_each(function()
      dir = helper.tmpdir()
      client = mj.new { base_url = sim.url, api_key = sim.key, max_retries = 0 }
      tasks_before = sim:stats().tasks
    end)

    after_each(function()
      os.execute("rm -rf '" .. dir .. "'")
    end)

    local function new_tasks(action)
      return helper.count_by_prompt(sim, action, tasks_before)
    end

    local function run(jobs, opts)
      opts = opts or {}
      local o = { dir = dir, wait = FAST }
      for k, v in pairs(opts) do o[k] = v end
      return batch.run(client, jobs, o)
    end

    it("a 20-prompt batch with then U1 completes: every file once, a valid PNG; a rerun sends nothing", function()
      local jobs = prompts("first", 20)
      local events = {}
      local results, summary = run(jobs, { ["then"] = "U1", on_event = events_of(events) })
      assert.are.equal(20, summary.done, require("midjourney.json").encode(results[1]))
      assert.are.equal(0, summary.failed + summary.unknown + summary.pending)
      assert.are.equal(40, summary.submits)
      helper.check_outputs(dir, expected_files(jobs, { "U1" }))
      for i, r in ipairs(results) do
        assert.are.equal("done", r.status)
        assert.are.equal(i, r.index)
        assert.are.equal(2, #r.tasks)
        assert.is_false(r.resumed)
      end
      assert.are.equal(20, sim:count("imagine"))
      assert.are.equal(20, sim:count("action"))
      local by_prompt = new_tasks("IMAGINE")
      for _, p in ipairs(jobs) do assert.are.equal(1, by_prompt[p], p) end
      assert.are.equal(40, count_type(events, "saved"))
      assert.are.equal(20, count_type(events, "done"))
      -- each submit was written to the journal before it was sent
      local st = assert(journal.load(dir .. "/.mj-batch.jsonl"))
      local submits = 0
      for _, rec in ipairs(st.records) do
        if rec.t == "submit" then submits = submits + 1 end
      end
      assert.are.equal(40, submits)
      -- the same batch again: everything is skipped, nothing is sent
      sim:reset()
      events = {}
      local again, s2 = run(jobs, { ["then"] = "U1", on_event = events_of(events) })
      assert.are.equal(20, s2.done)
      assert.are.equal(0, s2.submits)
      assert.are.equal(0, sim:stats().requests)
      assert.are.equal(20, count_type(events, "skipped"))
      for i, r in ipairs(again) do
        assert.is_true(r.resumed)
        assert.are.same(results[i].tasks, r.tasks)
      end
    end)

    it("downloads a missing file again without submitting anything", function()
      local jobs = prompts("second", 3)
      run(jobs, { ["then"] = { "U2" } })
      local names = expected_files(jobs, { "U2" })
      os.remove(dir .. "/" .. names[2]) -- job 1's U2
      os.remove(dir .. "/" .. names[3]) -- job 2's grid
      sim:reset()
      local results, summary = run(jobs, { ["then"] = { "U2" } })
      assert.are.equal(3, summary.done)
      assert.are.equal(0, summary.submits)
      assert.are.equal(0, sim:count("imagine") + sim:count("action"))
      assert.are.equal(2, sim:count("image"))
      helper.check_outputs(dir, names)
      assert.is_false(results[1].resumed)
      assert.is_true(results[3].resumed)
    end)

    it("a submit reset after it was sent ends unknown, is not sent again, and is sent once with resubmit_unknown",
      function()
        local jobs = prompts("third", 5)
        sim:faults { { kind = "reset_mid_body", route = "imagine", after = 2, times = 1 } }
        local events = {}
        local results, summary = run(jobs, { concurrency = 1, on_event = events_of(events) })
        assert.are.equal(4, summary.done)
        assert.are.equal(1, summary.unknown)
        assert.are.equal("unknown", results[3].status)
        assert.are.same({ "imagine" }, results[3].unknown)
        assert.is_truthy(results[3].error:find("not sent again", 1, true))
        assert.are.equal(1, count_type(events, "unknown"))
        assert.are.equal(5, sim:count("imagine"))
        -- the server did create that task: the reset came after
        assert.are.equal(5, sim:stats().tasks - tasks_before)
        -- rerun: nothing is sent for the unknown job
        sim:reset()
        results, summary = run(jobs, { concurrency = 1 })
        assert.are.equal(4, summary.done)
        assert.are.equal(1, summary.unknown)
        assert.are.equal("unknown", results[3].status)
        assert.are.equal(0, sim:stats().requests)
        -- with resubmit_unknown: sent exactly once more
        results, summary = run(jobs, { concurrency = 1, resubmit_unknown = true })
        assert.are.equal(5, summary.done)
        assert.are.equal("done", results[3].status)
        assert.are.equal(1, sim:count("imagine"))
        local by_prompt = new_tasks("IMAGINE")
        for i, p in ipairs(jobs) do assert.are.equal(i == 3 and 2 or 1, by_prompt[p], p) end
        helper.check_outputs(dir, expected_files(jobs))
        -- and a further rerun with the flag sends nothing: the job is done
        sim:reset()
        results, summary = run(jobs, { concurrency = 1, resubmit_unknown = true })
        assert.are.equal(5, summary.done)
        assert.is_true(results[3].resumed)
        assert.are.equal(0, sim:stats().requests)
      end)

    it("refuses the journal of another batch and ignores a torn last line", function()
      local jobs = prompts("fourth", 3)
      run(jobs)
      local path = dir .. "/.mj-batch.jsonl"
      local before = read_file(path)
      sim:reset()
      local results, err = run(prompts("other", 3), { source = "other.txt" })
      assert.is_nil(results)
      assert.are.equal("mismatch", err.reason)
      assert.is_truthy(err.message:find("belongs to another batch", 1, true), err.message)
      assert.is_truthy(err.message:find("other.txt", 1, true), err.message)
      assert.are.equal(before, read_file(path))
      assert.are.equal(0, sim:stats().requests)
      -- a crash mid-write left half a record
      local f = assert(io.open(path, "ab"))
      f:write('{"t":"submit","job":2,"endpoint":"/mj/sub')
      f:close()
      local events = {}
      local _, summary = run(jobs, { on_event = events_of(events) })
      assert.are.equal(3, summary.done)
      assert.are.equal(0, sim:stats().requests)
      assert.are.equal(before, read_file(path):sub(1, #before))
      for _, ev in ipairs(events) do
        if ev.type == "start" then assert.is_true(ev.repaired > 0) end
      end
    end)

    it("with 429s and code 23 injected, slows down and still finishes, each prompt accepted once", function()
      local jobs = prompts("fifth", 20)
      sim:faults {
        { kind = "retry_after", route = "imagine", retry_after = "0.3", after = 2, times = 6 },
        { kind = "code", code = 23, route = "imagine", after = 10, times = 4 },
      }
      local events = {}
      local t0 = mj.core.now()
      local results, summary = run(jobs, { concurrency = 4, cooldown = 0.1, recover = 0.3,
        on_event = events_of(events) })
      local elapsed = mj.core.now() - t0
      assert.are.equal(20, summary.done, tostring(results[1].error))
      helper.check_outputs(dir, expected_files(jobs))
      -- every refused submit was sent again, and nothing else: 20 + 6 + 4 at the simulator
      assert.are.equal(30, sim:count("imagine"))
      assert.are.equal(20, sim:stats().tasks - tasks_before)
      local by_prompt = new_tasks("IMAGINE")
      for _, p in ipairs(jobs) do assert.are.equal(1, by_prompt[p], p) end
      assert.are.equal(10, count_type(events, "requeue"))
      -- the batch slowed down: fewer jobs in flight, and pauses of at least the Retry-After
      assert.is_true(summary.lowest_limit < 4, "lowest limit " .. summary.lowest_limit)
      local paused = false
      for i, ev in ipairs(events) do
        if ev.type == "throttle" and ev.reason == "HTTP 429" then
          assert.are.equal(0.3, ev.wait)
          for k = i + 1, #events do
            if events[k].type == "submit" then
              assert.is_true(events[k].at - ev.at >= 0.29, "submitted again too soon after a 429")
              paused = true
              break
            end
          end
        end
      end
      assert.is_true(paused)
      assert.is_true(elapsed >= 0.3)
      -- and once calm again, it let more jobs run
      local grew = false
      for _, ev in ipairs(events) do
        if ev.type == "throttle" and ev.reason == "calm" then
          grew = true
          assert.are.equal(ev.previous + 1, ev.limit)
        end
      end
      assert.is_true(grew)
    end)

    it("lowers the jobs in flight when the gateway reports numberOfQueues", function()
      local jobs = prompts("sixth", 4)
      sim:faults { { kind = "code", code = 22, queue = 5, route = "imagine", times = 1 } }
      local events = {}
      local _, summary = run(jobs, { concurrency = 4, on_event = events_of(events) })
      assert.are.equal(4, summary.done)
      assert.are.equal(2, summary.lowest_limit)
      local saw = false
      for _, ev in ipairs(events) do
        if ev.type == "accepted" and ev.queue == 5 then saw = true end
        if ev.type == "throttle" then assert.are.equal("numberOfQueues 5", ev.reason) end
      end
      assert.is_true(saw)
      assert.are.equal(4, sim:count("imagine"))
    end)

    it("a failed task, a refused submit and a missing button fail for good; a rerun sends none again", function()
      local jobs = { "seventh a banned picture", "seventh refused", "seventh fine", "seventh no such button" }
      sim:faults { { kind = "code", code = 24, path = "/mj/submit/imagine", after = 1, times = 1 } }
      local list = {
        jobs[1], jobs[2], { prompt = jobs[3], ["then"] = { "U1" } }, { prompt = jobs[4], ["then"] = { "U9" } },
      }
      local results, summary = run(list, { concurrency = 1 })
      assert.are.equal(1, summary.done)
      assert.are.equal(3, summary.failed)
      assert.is_true(results[1].final)
      assert.is_truthy(results[1].error:find("Banned prompt", 1, true), results[1].error)
      assert.is_truthy(results[2].error:find("code 24", 1, true), results[2].error)
      assert.is_truthy(results[4].error:find('no button "U9"', 1, true), results[4].error)
      assert.are.equal(4, sim:count("imagine"))
      assert.are.equal(1, sim:count("action"))
      sim:reset()
      results, summary = run(list, { concurrency = 1 })
      assert.are.equal(3, summary.failed)
      assert.are.equal("failed", results[2].status)
      assert.are.equal(0, sim:stats().requests)
    end)

    it("a wrong key stops the batch after its first submits", function()
      local bad = mj.new { base_url = sim.url, api_key = "sk-wrong-key-123", max_retries = 0 }
      local jobs = prompts("eighth", 10)
      local results, summary = batch.run(bad, jobs, { dir = dir, wait = FAST, concurrency = 2 })
      assert.is_truthy(summary.fatal)
      assert.are.equal(401, summary.fatal.status)
      assert.is_true(sim:count("imagine") <= 2)
      assert.are.equal(0, summary.done)
      assert.are.equal(10, summary.pending)
      assert.are.equal("pending", results[10].status)
      -- the right key: the batch goes on from there
      local _, s2 = run(jobs, { concurrency = 4 })
      assert.are.equal(10, s2.done)
    end)

    it("an unreachable gateway stops the batch; the submit that never left is sent on the rerun", function()
      local jobs = prompts("thirteenth", 3)
      local down = mj.new { base_url = "http://127.0.0.1:" .. simulator.free_port(), api_key = sim.key,
        max_retries = 0 }
      local results, summary = batch.run(down, jobs, { dir = dir, wait = FAST, concurrency = 1 })
      assert.are.equal("transport", summary.fatal.kind)
      assert.are.equal(3, summary.pending)
      assert.are.same({}, results[1].unknown)
      local st = assert(journal.load(dir .. "/.mj-batch.jsonl"))
      assert.is_false(st.jobs[1].grid.unknown)
      assert.is_false(st.jobs[1].grid.rejected.final)
      local _, s2 = run(jobs, { concurrency = 1 })
      assert.are.equal(3, s2.done)
      assert.are.equal(3, sim:count("imagine"))
    end)

    it("a key refused while waiting stops the batch; a rerun waits on the same tasks again", function()
      local jobs = prompts("twelfth", 4)
      sim:faults {
        { kind = "status", status = 401, route = "list", times = -1 },
        { kind = "status", status = 401, route = "fetch", times = -1 },
      }
      local events = {}
      local results, summary = run(jobs, { on_event = events_of(events) })
      assert.are.equal(401, summary.fatal.status)
      assert.are.equal(4, summary.pending)
      assert.are.equal("pending", results[1].status)
      assert.is_truthy(results[1].id)
      assert.are.equal(1, count_type(events, "fatal"))
      assert.are.equal(4, sim:count("imagine"))
      sim:reset()
      events = {}
      local again, s2 = run(jobs, { on_event = events_of(events) })
      assert.are.equal(4, s2.done)
      assert.are.equal(0, sim:count("imagine"))
      assert.are.equal(4, count_type(events, "attach"))
      for i = 1, 4 do assert.are.equal(results[i].id, again[i].id) end
    end)

    it("yields inside a scheduler coroutine, and stop() leaves it resumable", function()
      local jobs = prompts("ninth", 6)
      local ticks, runner = 0, nil
      local events = {}
      local h = mj.spawn(function()
        runner = batch.new(client, jobs, { dir = dir, wait = FAST, concurrency = 2, on_event = function(ev)
          events[#events + 1] = ev
          if ev.type == "saved" and ev.job == 1 then runner:stop() end
        end })
        return runner:run()
      end)
      local ticker = mj.spawn(function()
        while h:status() == "pending" or h:status() == "running" do
          ticks = ticks + 1
          mj.sleep(0.01)
        end
      end)
      mj.join { h, ticker }
      local results, summary = h:result()
      assert.is_true(ticks > 5, "the batch did not yield: " .. ticks)
      assert.is_true(summary.stopped)
      assert.is_true(summary.done >= 1 and summary.done < 6, "done: " .. summary.done)
      assert.are.equal(6, summary.done + summary.pending)
      assert.is_truthy(results)
      local first = sim:count("imagine")
      assert.is_true(first <= 3)
      local _, s2 = run(jobs, { concurrency = 2 })
      assert.are.equal(6, s2.done)
      -- the jobs whose submit was answered before the stop were waited on again, not resubmitted
      assert.are.equal(6, sim:count("imagine"))
      assert.are.equal(6, sim:stats().tasks - tasks_before)
    end)

    it("refuses a second batch on a journal in use", function()
      local jobs = prompts("eleventh", 2)
      local second
      local results, summary = run(jobs, { on_event = function(ev)
        if ev.type == "accepted" and not second then
          second = { batch.run(client, jobs, { dir = dir, wait = FAST }) }
        end
      end })
      assert.is_nil(second[1])
      assert.are.equal("busy", second[2].reason)
      assert.are.equal(2, summary.done)
      assert.are.equal("done", results[1].status)
      assert.are.equal(2, sim:count("imagine"))
      -- released at the end
      local _, s2 = run(jobs)
      assert.are.equal(2, s2.done)
    end)

    it("an error raised by on_event stops the batch and propagates; the journal stays usable", function()
      local jobs = prompts("tenth", 3)
      assert.has_error(function()
        run(jobs, { concurrency = 1, on_event = function(ev)
          if ev.type == "accepted" then error("boom from the callback", 0) end
        end })
      end, "boom from the callback")
      local _, summary = run(jobs, { concurrency = 1 })
      assert.are.equal(3, summary.done)
      assert.are.equal(3, sim:count("imagine"))
    end)
  end)
end)
