-- The `mj` command-line tool, run as a real subprocess (bin/mj under lua5.4) against the
-- real simulator (bin/mj-simulator). Tagged #once: scripts/test.sh runs it under Lua 5.4 only.
local socket = require("socket")
local cjson = require("cjson")
local simulator = require("spec.helpers.simulator")

local KEY = "sk-cli-Zx9Q7secretKEY42"
local SECRET = "Zx9Q7secretKEY42"

local read_file = require("spec.helpers.simulator").read_file

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local root do
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  root = src:match("^(.*)/spec/[^/]*$") or "."
  if root:sub(1, 1) ~= "/" then
    local p = io.popen("pwd")
    root = p:read("*l") .. "/" .. root
    p:close()
  end
end

local MJ = root .. "/bin/mj"
local LUA_PATH = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;"
local LUA_CPATH = root .. "/build/lua5.4/?.so;;"

local function has_control(s)
  -- any C0 control but newline, DEL, or ESC sequences
  return s:find("[%z\1-\9\11-\31\127]") ~= nil
end

local function lines(s)
  local out = {}
  for line in s:gmatch("([^\n]*)\n") do out[#out + 1] = line end
  return out
end

local function json_lines(s)
  local docs = {}
  for _, line in ipairs(lines(s)) do
    docs[#docs + 1] = assert(cjson.decode(line))
  end
  return docs
end

describe("mj command-line tool #once", function()
  local sim, tmp

  local function env_prefix(o)
    local env = {
      "LUA_PATH=" .. q(LUA_PATH), "LUA_CPATH=" .. q(LUA_CPATH),
      "TERM=" .. q(o.term or "xterm"), "LANG=C.UTF-8", "COLUMNS=100",
    }
    if o.base ~= false then env[#env + 1] = "COMETAPI_BASE_URL=" .. q(o.base or sim.url) end
    if o.key ~= false then env[#env + 1] = "COMETAPI_KEY=" .. q(o.key or KEY) end
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

  -- Runs mj with stdout and stderr on files (not terminals); returns { code, out, err, secs }.
  local function mj(argv, o)
    o = o or {}
    local out, err, rc = tmp .. "/out", tmp .. "/err", tmp .. "/rc"
    local cmd = "cd " .. q(o.cwd or tmp) .. " && " .. env_prefix(o) .. " " .. command_line(argv)
      .. " >" .. q(out) .. " 2>" .. q(err) .. " </dev/null; echo $? >" .. q(rc)
    local t0 = socket.gettime()
    os.execute(cmd)
    local r = { code = tonumber(read_file(rc)), out = read_file(out) or "", err = read_file(err) or "",
      secs = socket.gettime() - t0 }
    check_no_key(r.out)
    check_no_key(r.err)
    return r
  end

  -- Runs mj inside a pseudo-terminal (util-linux `script`); returns { code, tty }.
  local function mj_tty(argv, o)
    o = o or {}
    local out = tmp .. "/tty"
    local inner = "cd " .. q(tmp) .. " && " .. env_prefix(o) .. " " .. command_line(argv)
    local cmd = "script -qec " .. q(inner) .. " /dev/null </dev/null >" .. q(out) .. " 2>&1; echo $? >"
      .. q(tmp .. "/rc")
    os.execute(cmd)
    local r = { code = tonumber(read_file(tmp .. "/rc")), tty = read_file(out) or "" }
    check_no_key(r.tty)
    return r
  end

  local FAST = { "--interval", "0.02" }
  local function with(argv, extra)
    local out = {}
    for _, a in ipairs(argv) do out[#out + 1] = a end
    for _, a in ipairs(extra or FAST) do out[#out + 1] = a end
    return out
  end

  local function submit_id(argv)
    local r = mj(argv)
    assert.are.equal(0, r.code, r.err)
    local id = r.out:match("^(%d+)\n$")
    assert.is_truthy(id, "expected a task id, got: " .. r.out)
    return id
  end

  local function done_task(argv)
    local r = mj(with(argv, { "--interval", "0.02", "--json" }))
    assert.are.equal(0, r.code, r.err)
    local docs = json_lines(r.out)
    assert.are.equal(1, #docs)
    return docs[1]
  end

  setup(function()
    sim = simulator.start { speed = 400, key = KEY }
    tmp = os.tmpname()
    os.remove(tmp)
    assert(os.execute("mkdir -p " .. q(tmp)))
  end)

  teardown(function()
    if sim then sim:stop() end
    if tmp then os.execute("rm -rf " .. q(tmp)) end
  end)

  -- a grid and an upscale shared by several tests
  local grid, upscale, png
  local function fixtures()
    if grid then return end
    grid = done_task { "imagine", "a paper boat", "--wait" }
    upscale = done_task { "action", grid.id, "U1", "--wait" }
    png = tmp .. "/up.png"
    local r = mj { "download", upscale.id, "-o", png }
    assert.are.equal(0, r.code, r.err)
  end

  describe("help and version", function()
    it("mj --help lists every command and exit code", function()
      local r = mj { "--help" }
      assert.are.equal(0, r.code)
      for _, c in ipairs { "imagine", "action", "modal", "blend", "describe", "shorten", "video", "fetch",
        "wait", "list", "seed", "download", "buttons" } do
        assert.is_truthy(r.out:find("\n  " .. c .. " ", 1, true), c)
      end
      assert.is_truthy(r.out:find("130 interrupted", 1, true))
      assert.are.equal("", r.err)
    end)

    it("mj COMMAND --help documents every option of that command", function()
      local args = require("midjourney.cli.args")
      for name, c in pairs(args.commands) do
        local r = mj { name, "--help" }
        assert.are.equal(0, r.code, name)
        assert.is_truthy(r.out:find("Usage: mj " .. name, 1, true), name)
        for _, o in ipairs(c.options) do
          assert.is_truthy(r.out:find("--" .. o.name, 1, true), name .. " --" .. o.name)
        end
        for _, o in ipairs(args.global_options) do
          assert.is_truthy(r.out:find("--" .. o.name, 1, true), name .. " --" .. o.name)
        end
      end
      assert.are.equal(mj { "wait", "--help" }.out, mj { "help", "wait" }.out)
    end)

    it("mj --version prints the library, libcurl and Lua versions", function()
      local r = mj { "--version" }
      assert.are.equal(0, r.code)
      assert.is_truthy(r.out:match("^mj %(lua%-midjourney%) %d+%.%d+"))
      assert.is_truthy(r.out:match("\nlibcurl %d+%.%d+"))
      assert.is_truthy(r.out:find("\nLua 5.4\n", 1, true))
    end)
  end)

  describe("usage errors exit 2 with one line on stderr", function()
    local cases = {
      { {}, "no command" },
      { { "paint" }, "unknown command" },
      { { "imagine" }, "missing argument" },
      { { "seed", "1", "2" }, "too many arguments" },
      { { "fetch", "1", "--frobnicate" }, "unknown option" },
      { { "imagine", "x", "--api-key", KEY }, "no --api-key" },
      { { "imagine", "x", "--timeout", "soon" }, "positive number" },
      { { "video", "x.png", "--motion", "wild" }, "low|high" },
      { { "blend", "a.png" }, "missing argument" },
      { { "describe", "missing-file.png" }, "cannot read image" },
      { { "wait", "1", "2", "--then", "U1" }, "single TASK" },
    }
    for _, case in ipairs(cases) do
      it(case[2] .. ": mj " .. table.concat(case[1], " "), function()
        local r = mj(case[1])
        assert.are.equal(2, r.code)
        assert.are.equal("", r.out)
        assert.is_truthy(r.err:match("^mj: [^\n]+\n"), r.err)
        assert.is_truthy(r.err:find(case[2], 1, true), r.err)
      end)
    end

    it("no key at all", function()
      local r = mj({ "fetch", "1" }, { key = false })
      assert.are.equal(2, r.code)
      assert.is_truthy(r.err:find("COMETAPI_KEY", 1, true))
    end)

    it("a file that is not an image, and a mask that is not a PNG", function()
      write_file(tmp .. "/notes.txt", "hello")
      local r = mj { "blend", "notes.txt", "notes.txt" }
      assert.are.equal(2, r.code)
      assert.is_truthy(r.err:find("not a PNG, JPEG, WebP or GIF", 1, true))
      write_file(tmp .. "/m.jpg", "\255\216\255\224" .. string.rep("x", 20))
      r = mj { "modal", "1712345678901234", "--mask", "m.jpg" }
      assert.are.equal(2, r.code)
      assert.is_truthy(r.err:find("expected image/png, got image/jpeg", 1, true))
    end)

    it("a button the task does not have", function()
      fixtures()
      local r = mj { "action", grid.id, "Zoom Out 2x" }
      assert.are.equal(2, r.code)
      assert.is_truthy(r.err:find("Zoom Out 2x", 1, true), r.err)
    end)
  end)

  describe("submit commands", function()
    it("imagine prints the new task id, or its envelope with --json", function()
      local before = sim:stats().routes.imagine or 0
      local id = submit_id { "imagine", "a lighthouse" }
      assert.are.equal(before + 1, sim:stats().routes.imagine)
      local r = mj { "imagine", "a lighthouse", "--json" }
      assert.are.equal(0, r.code)
      local docs = json_lines(r.out)
      assert.are.equal(1, #docs)
      assert.are.equal(1, docs[1].code)
      assert.is_truthy(docs[1].result:match("^%d+$"))
      assert.are_not.equal(id, docs[1].result)
    end)

    it("imagine --wait through a pipe: plain progress lines, no control characters", function()
      local r = mj(with { "imagine", "a paper boat", "--wait" })
      assert.are.equal(0, r.code, r.err)
      assert.is_false(has_control(r.out))
      assert.is_false(has_control(r.err))
      assert.is_truthy(r.out:match("^%d+ IMAGINE SUCCESS 100%%\n"), r.out)
      assert.is_truthy(r.out:find("buttons: U1 U2 U3 U4", 1, true))
      local statuses = {}
      for _, line in ipairs(lines(r.err)) do
        local s = line:match("^%d+ imagine (%u[%u_]+)")
        assert.is_truthy(s, "unexpected progress line: " .. line)
        statuses[#statuses + 1] = s
      end
      assert.are.equal("SUCCESS", statuses[#statuses])
      assert.is_truthy(r.err:find(" IN_PROGRESS ", 1, true) or r.err:find(" SUBMITTED ", 1, true))
    end)

    it("imagine --then U2 --download FILE: submit, poll, act, download in one line", function()
      local r = mj(with { "imagine", "a paper boat", "--then", "U2", "--download", "boat.png" })
      assert.are.equal(0, r.code, r.err)
      local data = read_file(tmp .. "/boat.png")
      assert.is_truthy(data and data:sub(1, 8) == "\137PNG\r\n\26\n")
      assert.is_nil(read_file(tmp .. "/boat.png.part"))
      assert.is_truthy(r.out:match("^%d+ UPSCALE SUCCESS"), r.out)
      assert.is_truthy(r.out:find("saved boat.png (" .. #data .. " bytes)", 1, true), r.out)
      assert.is_truthy(r.err:find(" U2 SUCCESS", 1, true), r.err)
    end)

    it("imagine --image sends reference images as data URIs", function()
      fixtures()
      local t = done_task { "imagine", "like this", "--image", png, "--wait" }
      assert.are.equal("SUCCESS", t.status)
      assert.are.equal("IMAGINE", t.action)
    end)

    it("action TASK BUTTON --wait", function()
      fixtures()
      local t = done_task { "action", grid.id, "V2", "--wait" }
      assert.are.equal("VARIATION", t.action)
      assert.are.equal("SUCCESS", t.status)
      local id = submit_id { "action", grid.id, "🔄" }
      assert.are_not.equal(grid.id, id)
    end)

    it("action to MODAL, then modal TASK --prompt --mask", function()
      fixtures()
      local r = mj(with { "action", upscale.id, "Vary (Region)", "--wait" })
      assert.are.equal(0, r.code, r.err)
      local id = r.out:match("^(%d+) %u+ MODAL")
      assert.is_truthy(id, r.out)
      assert.is_truthy(r.err:find("mj modal " .. id, 1, true))
      local t = done_task { "modal", id, "--prompt", "a red sail", "--mask", png, "--wait" }
      assert.are.equal(id, t.id)
      assert.are.equal("SUCCESS", t.status)
    end)

    it("a chain that reaches MODAL stops there with exit 1 and says how to go on", function()
      fixtures()
      local r = mj(with { "action", upscale.id, "Vary (Region)", "--then", "U1" })
      assert.are.equal(1, r.code, r.err)
      local id = r.err:match("mj: task (%d+) is waiting for input %(MODAL%)")
      assert.is_truthy(id, r.err)
      assert.is_truthy(r.err:find("mj modal " .. id, 1, true))
    end)

    it("blend IMG IMG --dimensions", function()
      fixtures()
      local t = done_task { "blend", png, png, "--dimensions", "landscape", "--wait" }
      assert.are.equal("BLEND", t.action)
      assert.are.equal("SUCCESS", t.status)
    end)

    it("describe a file and a URL prints the suggestions", function()
      fixtures()
      local r = mj(with { "describe", png, "--wait" })
      assert.are.equal(0, r.code, r.err)
      assert.is_truthy(r.out:find("result:", 1, true), r.out)
      local t = done_task { "describe", upscale.imageUrl, "--wait" }
      assert.are.equal("DESCRIBE", t.action)
    end)

    it("shorten PROMPT", function()
      local t = done_task { "shorten", "a very long prompt about a small paper boat", "--wait" }
      assert.are.equal("SHORTEN", t.action)
      assert.are.equal("SUCCESS", t.status)
    end)

    it("video IMG --motion high --download FILE saves the video", function()
      fixtures()
      local r = mj(with { "video", png, "--motion", "high", "--prompt", "waves", "--download", "v.mp4" })
      assert.are.equal(0, r.code, r.err)
      local data = read_file(tmp .. "/v.mp4")
      assert.is_truthy(data and data:sub(5, 8) == "ftyp", "not an mp4")
      assert.is_truthy(r.out:match("^%d+ VIDEO SUCCESS"))
    end)
  end)

  describe("query commands", function()
    it("fetch TASK, human and --json", function()
      fixtures()
      local r = mj { "fetch", grid.id }
      assert.are.equal(0, r.code)
      assert.is_truthy(r.out:match("^" .. grid.id .. " IMAGINE SUCCESS 100%%\n"))
      assert.is_truthy(r.out:find("image:   " .. grid.imageUrl, 1, true))
      local docs = json_lines(mj({ "fetch", grid.id, upscale.id, "--json" }).out)
      assert.are.equal(2, #docs)
      assert.are.equal(grid.id, docs[1].id)
      assert.are.equal(upscale.id, docs[2].id)
      assert.are.equal("string", type(docs[1].id))
    end)

    it("wait TASK... waits for several tasks at once", function()
      local ids = {}
      for i = 1, 3 do ids[i] = submit_id { "imagine", "boat " .. i } end
      local r = mj(with { "wait", ids[1], ids[2], ids[3], "--json" })
      assert.are.equal(0, r.code, r.err)
      local docs = json_lines(r.out)
      assert.are.equal(3, #docs)
      for i = 1, 3 do
        assert.are.equal(ids[i], docs[i].id)
        assert.are.equal("SUCCESS", docs[i].status)
      end
      for i = 1, 3 do assert.is_truthy(r.err:find(ids[i] .. " wait SUCCESS", 1, true), r.err) end
    end)

    it("wait TASK --then U1 --download FILE", function()
      local id = submit_id { "imagine", "a kite" }
      local r = mj(with { "wait", id, "--then", "U1", "--download", "kite.png", "-q" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("", r.err) -- -q: no progress
      assert.are.equal("\137PNG", read_file(tmp .. "/kite.png"):sub(1, 4))
    end)

    it("list TASK... in one request", function()
      fixtures()
      local before = sim:stats().routes
      local r = mj { "list", grid.id, upscale.id, "1000000000000001", "--json" }
      local after = sim:stats().routes
      assert.are.equal(0, r.code, r.err)
      assert.are.equal((before.list or 0) + 1, after.list)
      assert.are.equal(before.fetch, after.fetch)
      local docs = json_lines(r.out)
      assert.are.equal(2, #docs)
      local seen = {}
      for _, d in ipairs(docs) do seen[d.id] = true end
      assert.is_true(seen[grid.id])
      assert.is_true(seen[upscale.id])
      r = mj { "list", grid.id }
      assert.is_truthy(r.out:match("^" .. grid.id .. " IMAGINE SUCCESS 100%%\n$"), r.out)
    end)

    it("seed TASK", function()
      fixtures()
      local r = mj { "seed", grid.id }
      assert.are.equal(0, r.code, r.err)
      assert.is_truthy(r.out:match("^%d+\n$"), r.out)
      local doc = json_lines(mj({ "seed", grid.id, "--json" }).out)[1]
      assert.are.equal(r.out:match("%d+"), doc.seed)
    end)

    it("download TASK (default name) and download URL (no key needed)", function()
      fixtures()
      local r = mj { "download", grid.id }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("\137PNG", read_file(tmp .. "/" .. grid.id .. ".png"):sub(1, 4))
      r = mj({ "download", grid.imageUrl, "-o", "by-url.png", "--json" }, { key = false })
      assert.are.equal(0, r.code, r.err)
      local doc = json_lines(r.out)[1]
      assert.are.equal("by-url.png", doc.file)
      assert.are.equal("image/png", doc.content_type)
      assert.are.equal(#read_file(tmp .. "/by-url.png"), doc.size)
    end)

    it("buttons TASK, human and --json", function()
      fixtures()
      local r = mj { "buttons", grid.id }
      assert.are.equal(0, r.code)
      assert.is_truthy(r.out:find("^U1%s+MJ::JOB::upsample::1::"), r.out)
      local docs = json_lines(mj({ "buttons", grid.id, "--json" }).out)
      assert.are.equal(9, #docs)
      assert.are.equal("U1", docs[1].label)
      assert.is_truthy(docs[1].customId:find("upsample::1", 1, true))
    end)
  end)

  describe("exit codes", function()
    it("1 when the task fails, with the failReason", function()
      local r = mj(with { "imagine", "a banned thing", "--wait" })
      assert.are.equal(1, r.code)
      local last = lines(r.err)[#lines(r.err)]
      assert.is_truthy(last:match("^mj: task %d+ failed: .+"), last)
      local t = cjson.decode(mj { "fetch", last:match("task (%d+)"), "--json" }.out)
      assert.is_truthy(last:find(t.failReason, 1, true))
      -- --json prints the failed task too
      r = mj(with { "imagine", "a banned thing", "--wait", "--json" })
      assert.are.equal(1, r.code)
      assert.are.equal("FAILURE", json_lines(r.out)[1].status)
    end)

    it("3 on an API or HTTP error, without the key in any output", function()
      local r = mj({ "fetch", "1712345678901234" }, { key = "sk-wrong-" .. SECRET .. "x" })
      assert.are.equal(3, r.code)
      assert.is_truthy(r.err:match("^mj: [^\n]*401[^\n]*\n$"), r.err)
      r = mj { "fetch", "1712345678901234" }
      assert.are.equal(3, r.code)
      assert.is_truthy(r.err:find("not found", 1, true))
      sim:faults { { kind = "code", route = "imagine", code = 24, description = "banned prompt" } }
      r = mj { "imagine", "x" }
      assert.are.equal(3, r.code)
      assert.is_truthy(r.err:match("^mj: api error %(code 24"), r.err)
    end)

    it("the key is read from --api-key-file and never printed", function()
      write_file(tmp .. "/key", KEY .. "\n")
      local r = mj({ "imagine", "from a key file" , "--api-key-file", "key" }, { key = false })
      assert.are.equal(0, r.code, r.err)
      r = mj({ "fetch", "1", "--api-key-file", "nope" }, { key = false })
      assert.are.equal(2, r.code)
    end)

    it("4 on --timeout, promptly", function()
      sim:faults { { kind = "stick", route = "imagine", percent = 40 } }
      local r = mj(with { "imagine", "stuck", "--wait", "--timeout", "0.5" })
      assert.are.equal(4, r.code, r.err)
      assert.is_truthy(r.err:find("timeout", 1, true))
      assert.is_true(r.secs < 5)
    end)
  end)

  describe("Ctrl-C", function()
    local function start_bg(argv)
      local pidf, rcf, errf = tmp .. "/bg.pid", tmp .. "/bg.rc", tmp .. "/bg.err"
      os.remove(pidf); os.remove(rcf)
      local cmd = "cd " .. q(tmp) .. " && ( " .. env_prefix {} .. " " .. command_line(argv)
        .. " >/dev/null 2>" .. q(errf) .. " </dev/null & echo $! >" .. q(pidf) .. "; wait $!; echo $? >"
        .. q(rcf) .. " ) >/dev/null 2>&1 &"
      os.execute(cmd)
      return pidf, rcf, errf
    end

    local function until_true(pred, secs)
      local deadline = socket.gettime() + secs
      while socket.gettime() < deadline do
        local v = pred()
        if v then return v end
        socket.sleep(0.01)
      end
      return nil
    end

    local function interrupt(argv, ready)
      local pidf, rcf, errf = start_bg(argv)
      local pid = until_true(function() return (read_file(pidf) or ""):match("%d+") end, 5)
      assert.is_truthy(pid, "mj did not start")
      assert.is_truthy(until_true(function() return ready(read_file(errf) or "") end, 10), "mj never got busy")
      local t0 = socket.gettime()
      os.execute("kill -INT " .. pid)
      local rc = until_true(function() return tonumber(read_file(rcf) or "") end, 5)
      return rc, socket.gettime() - t0, read_file(errf) or ""
    end

    it("interrupts a wait: exit 130 within a fraction of a second", function()
      sim:faults { { kind = "stick", route = "imagine", percent = 30 } }
      local rc, secs, err = interrupt(with { "imagine", "stuck", "--wait" }, function(e)
        return e:find("IN_PROGRESS", 1, true)
      end)
      assert.are.equal(130, rc)
      assert.is_true(secs < 1, "took " .. secs .. " s")
      assert.is_truthy(err:find("mj: interrupted\n", 1, true))
      check_no_key(err)
    end)

    it("interrupts a request blocked inside the engine (slow server)", function()
      local before = sim:stats().routes.fetch or 0
      sim:faults { { kind = "slow_first_byte", route = "fetch", delay = 20 } }
      local rc, secs = interrupt({ "fetch", "1712345678901234" }, function()
        return (sim:stats().routes.fetch or 0) > before
      end)
      assert.are.equal(130, rc)
      assert.is_true(secs < 1, "took " .. secs .. " s")
    end)

    it("interrupts a download and leaves no partial file", function()
      fixtures()
      local before = sim:stats().routes.image or 0
      sim:faults { { kind = "stall_after_headers", route = "image", bytes = 100, delay = 20 } }
      local rc, secs = interrupt({ "download", upscale.id, "-o", "cut.png" }, function()
        return (sim:stats().routes.image or 0) > before
      end)
      assert.are.equal(130, rc)
      assert.is_true(secs < 1, "took " .. secs .. " s")
      assert.is_nil(read_file(tmp .. "/cut.png"))
      assert.is_nil(read_file(tmp .. "/cut.png.part"))
    end)
  end)

  describe("terminal rendering", function()
    it("draws live bars redrawn in place on a terminal", function()
      local r = mj_tty(with { "imagine", "a paper boat", "--wait" })
      assert.are.equal(0, r.code, r.tty)
      assert.is_truthy(r.tty:find("\27[2K", 1, true))
      assert.is_truthy(r.tty:find("\27[1A", 1, true), "no redraw in place")
      assert.is_truthy(r.tty:find("█", 1, true))
      assert.is_truthy(r.tty:find("] 100%% SUCCESS"))
      assert.is_truthy(r.tty:find("%d+%.%ds"), "no elapsed time")
    end)

    it("draws one line per task for wait A B C", function()
      local ids = {}
      for i = 1, 3 do ids[i] = submit_id { "imagine", "tty " .. i } end
      local r = mj_tty(with { "wait", ids[1], ids[2], ids[3] })
      assert.are.equal(0, r.code, r.tty)
      assert.is_truthy(r.tty:find("\27[3A", 1, true), "three lines redrawn together")
      for i = 1, 3 do assert.is_truthy(r.tty:find(ids[i] .. " wait", 1, true)) end
    end)

    it("--no-tty and TERM=dumb give plain lines even on a terminal", function()
      for _, o in ipairs { { args = { "--no-tty" } }, { args = {}, term = "dumb" } } do
        local argv = with { "imagine", "plain", "--wait" }
        for _, a in ipairs(o.args) do argv[#argv + 1] = a end
        local r = mj_tty(argv, { term = o.term })
        assert.are.equal(0, r.code)
        assert.is_nil(r.tty:find("\27", 1, true))
        assert.is_truthy(r.tty:find(" imagine SUCCESS 100%", 1, true))
      end
    end)
  end)
end)
