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

local root = require("spec.helpers.simulator").root()

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
      local listed = { "imagine", "action", "modal", "blend", "describe", "shorten", "video", "edits", "swap-face",
        "upload", "fetch", "wait", "list", "seed", "download", "buttons", "batch" }
      for _, c in ipairs(listed) do
        assert.is_truthy(r.out:find("\n  " .. c .. " ", 1, true), c)
      end
      -- and nothing is missing from that list: every command mj knows is in it
      local known = {}
      for name in pairs(require("midjourney.cli.args").commands) do known[#known + 1] = name end
      assert.are.equal(#listed, #known)
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
      { { "edits", "missing-file.png" }, "--prompt P is required" },
      { { "edits", "missing-file.png", "--prompt", "night" }, "cannot read image" },
      { { "swap-face", "face.png" }, "missing argument" },
      { { "swap-face", "http://example.com/face.png", "t.png" }, "SOURCE: expected an image file, got a URL" },
      { { "upload", "http://example.com/a.png" }, "already a URL" },
      { { "upload", "missing-file.png" }, "cannot read image" },
      { { "download", "http://example.com/a.png", "--split" }, "--split needs a TASK" },
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
      local before = sim:stats().requests
      write_file(tmp .. "/notes.txt", "hello")
      for _, argv in ipairs { { "blend", "notes.txt", "notes.txt" }, { "upload", "notes.txt" },
        { "swap-face", "notes.txt", "notes.txt" }, { "edits", "notes.txt", "--prompt", "x" } } do
        local r = mj(argv)
        assert.are.equal(2, r.code, argv[1])
        assert.is_truthy(r.err:find("not a PNG, JPEG, WebP or GIF", 1, true), r.err)
      end
      -- a JPEG (SOI, then a frame header of 16 x 16) given as a Vary Region mask
      write_file(tmp .. "/m.jpg", "\255\216\255\192\0\17\8\0\16\0\16\3" .. string.rep("\0", 20))
      local r = mj { "modal", "1712345678901234", "--mask", "m.jpg" }
      assert.are.equal(2, r.code)
      assert.is_truthy(r.err:find("m.jpg: JPEG image where PNG is expected", 1, true), r.err)
      -- a file with an image signature but a cut header is refused too
      write_file(tmp .. "/header-cut.png", "\137PNG\r\n\26\n\0\0")
      r = mj { "upload", "header-cut.png" }
      assert.are.equal(2, r.code)
      assert.is_truthy(r.err:find("header-cut.png: invalid PNG header", 1, true), r.err)
      assert.are.equal(before, sim:stats().requests, "nothing may be sent")
    end)

    it("suggests the closest command or option for a typo", function()
      local typos = {
        { { "imagin", "a boat" }, "mj: unknown command 'imagin' (did you mean 'imagine'?)\n" },
        { { "swap_face", "a.png", "b.png" }, "mj: unknown command 'swap_face' (did you mean 'swap-face'?)\n" },
        { { "dowload", "1" }, "mj: unknown command 'dowload' (did you mean 'download'?)\n" },
        { { "help", "imagin" }, "mj: unknown command 'imagin' (did you mean 'imagine'?)\n" },
        { { "imagine", "a boat", "--wiat" }, "mj: unknown option '--wiat' for imagine (did you mean '--wait'?)\n" },
        { { "imagine", "a boat", "--dowload", "x.png" },
          "mj: unknown option '--dowload' for imagine (did you mean '--download'?)\n" },
        { { "--wiat", "imagine", "a boat" }, "mj: unknown option '--wiat' (did you mean '--wait'?)\n" },
        { { "batch", "p.txt", "--concurency", "2" },
          "mj: unknown option '--concurency' for batch (did you mean '--concurrency'?)\n" },
        { { "frobnicate" }, "mj: unknown command 'frobnicate' (see mj --help)\n" },
        { { "fetch", "1", "--frobnicate" }, "mj: unknown option '--frobnicate' for fetch\n" },
      }
      for _, c in ipairs(typos) do
        local r = mj(c[1])
        assert.are.equal(2, r.code, table.concat(c[1], " "))
        assert.are.equal("", r.out)
        assert.are.equal(c[2], r.err:sub(1, #c[2]))
      end
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

    it("edits IMAGE --prompt P: a file or a URL, --download, --state", function()
      fixtures()
      local before = sim:stats().routes.edits or 0
      local r = mj(with { "edits", png, "--prompt", "make it night", "--download", "night.png", "--state", "e-1" })
      assert.are.equal(0, r.code, r.err)
      assert.is_truthy(r.out:match("^%d+ EDITS SUCCESS 100%%\n"), r.out)
      assert.is_truthy(r.out:find("prompt:  make it night", 1, true), r.out)
      assert.are.equal("\137PNG", read_file(tmp .. "/night.png"):sub(1, 4))
      local t = done_task { "edits", upscale.imageUrl, "--prompt", "at dawn", "--wait", "--state", "e-2" }
      assert.are.equal("EDITS", t.action)
      assert.are.equal("at dawn", t.prompt)
      assert.are.equal("e-2", t.state)
      assert.are.equal(before + 2, sim:stats().routes.edits)
      local id = submit_id { "edits", png, "--prompt", "no wait" }
      assert.are_not.equal(t.id, id)
    end)

    it("swap-face SOURCE TARGET: the task id, or with --wait the finished task", function()
      fixtures()
      local id = submit_id { "swap-face", png, png }
      local t = done_task { "swap-face", png, png, "--wait", "--state", "sw-1" }
      assert.are_not.equal(id, t.id)
      assert.are.equal("SWAP_FACE", t.action)
      assert.are.equal("SUCCESS", t.status)
      assert.are.equal("sw-1", t.state)
      local r = mj(with { "swap-face", png, png, "--download", "swapped.png" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("\137PNG", read_file(tmp .. "/swapped.png"):sub(1, 4))
    end)

    it("upload FILE... prints one URL per line in order, --json an array, and the URLs serve the images", function()
      fixtures()
      local before = sim:stats().routes.upload or 0
      local r = mj { "upload", png, png }
      assert.are.equal(0, r.code, r.err)
      local urls = lines(r.out)
      assert.are.equal(2, #urls)
      for _, u in ipairs(urls) do assert.is_truthy(u:match("^http://127%.0%.0%.1:%d+/%S+$"), u) end
      assert.are_not.equal(urls[1], urls[2])
      assert.are.equal(before + 1, sim:stats().routes.upload) -- one request for both
      r = mj { "upload", png, "--json" }
      assert.are.equal(0, r.code, r.err)
      local list = cjson.decode(r.out)
      assert.are.equal(1, #list)
      assert.is_truthy(list[1]:match("^http://"))
      r = mj({ "download", urls[2], "-o", "uploaded.png" }, { key = false })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("\137PNG", read_file(tmp .. "/uploaded.png"):sub(1, 4))
      -- an upload answered with an error: exit 3, one line
      sim:faults { { kind = "code", route = "upload", code = 4, description = "uploads forbidden" } }
      r = mj { "upload", png }
      assert.are.equal(3, r.code, r.err)
      assert.are.equal("", r.out)
      assert.is_truthy(r.err:match("^mj: api error %(code 4, HTTP 200%): uploads forbidden\n$"), r.err)
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

    it("download TASK --split: four files (default names, -o DIR, -o BASE), --json", function()
      fixtures()
      local uri = require("midjourney.image.uri")
      local g = assert(uri.info(tmp .. "/" .. grid.id .. ".png") or uri.info(tmp .. "/up.png"))
      local r = mj { "download", grid.id, "--split" }
      assert.are.equal(0, r.code, r.err)
      local out = lines(r.out)
      assert.are.equal(4, #out)
      for k = 1, 4 do
        local data = read_file(tmp .. "/" .. grid.id .. "-" .. k .. ".png")
        assert.is_truthy(data and data:sub(1, 4) == "\137PNG", "picture " .. k)
        assert.are.equal(string.format("saved %s-%d.png (%d bytes)", grid.id, k, #data), out[k])
      end
      assert.is_nil(read_file(tmp .. "/" .. grid.id .. "-1.png.part"))
      assert(os.execute("mkdir -p " .. q(tmp .. "/parts")))
      r = mj { "download", grid.id, "--split", "-o", "parts" }
      assert.are.equal(0, r.code, r.err)
      for k = 1, 4 do assert.is_truthy(read_file(tmp .. "/parts/" .. grid.id .. "-" .. k .. ".png"), k) end
      r = mj { "download", grid.id, "--split", "-o", "boat.png", "--json" }
      assert.are.equal(0, r.code, r.err)
      local doc = cjson.decode(r.out)
      assert.are.same({ "boat-1.png", "boat-2.png", "boat-3.png", "boat-4.png" }, doc.files)
      assert.are.equal("split", doc.source)
      local grid_info = assert(uri.info(read_file(tmp .. "/" .. grid.id .. ".png") or ""))
      local p1 = assert(uri.info(tmp .. "/boat-1.png"))
      assert.are.equal(math.ceil(grid_info.width / 2), p1.width)
      assert.are.equal(#read_file(tmp .. "/boat-4.png"), doc.sizes[4])
      assert.is_truthy(g)
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

    it("buttons TASK aligns its columns by display width (⬅️, 🔄 and ❤️ take two columns)", function()
      fixtures()
      local render = require("midjourney.cli.render")
      for _, id in ipairs { grid.id, upscale.id } do
        local r = mj { "buttons", id }
        assert.are.equal(0, r.code, r.err)
        local col
        for _, line in ipairs(lines(r.out)) do
          local at = assert(line:find("MJ::", 1, true), line)
          local w = render.display_width(line:sub(1, at - 1))
          col = col or w
          assert.are.equal(col, w, "customId column moved: " .. line)
        end
      end
      local r = mj { "buttons", upscale.id }
      assert.is_truthy(r.out:find("⬅️", 1, true), r.out)
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

    it("an error line names its request id once", function()
      local function count(text)
        local _, n = text:gsub("request id", "")
        return n
      end
      -- the gateway's 401 writes the id into its message; the library keeps it in err.request_id
      local r = mj({ "fetch", "1712345678901234" }, { key = "sk-wrong-key-0001" })
      assert.are.equal(3, r.code)
      assert.is_truthy(r.err:match("^mj: HTTP error %(HTTP 401%): invalid token %[request id %w+%]\n$"), r.err)
      -- a relay error whose description carries it
      sim:faults { { kind = "code", route = "imagine", code = 4,
        description = "base64 format error (request id: abc123)" } }
      r = mj { "imagine", "x" }
      assert.are.equal(3, r.code)
      assert.are.equal("mj: api error (code 4, HTTP 200): base64 format error [request id abc123]\n", r.err)
      -- a download refused with the id in a header and in the body
      fixtures()
      sim:faults { { kind = "status", status = 401, route = "image", headers = { ["X-Oneapi-Request-Id"] = "hdr42" },
        body = '{"error":{"message":"invalid token (request id: hdr42)","type":"comet_api_error"}}' } }
      r = mj { "download", grid.id, "-o", "refused.png" }
      assert.are.equal(3, r.code)
      assert.are.equal(1, count(r.err), r.err)
      assert.is_truthy(r.err:find("[request id hdr42]", 1, true), r.err)
      -- a batch stopped by it
      write_file(tmp .. "/one.txt", "a boat\n")
      r = mj({ "batch", "one.txt", "-o", "rid" }, { key = "sk-wrong-key-0001" })
      assert.are.equal(3, r.code)
      for _, line in ipairs(lines(r.err)) do assert.is_true(count(line) <= 1, line) end
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
      -- the bar is labelled with the prompt
      assert.is_truthy(r.tty:find("%d+ a paper boat +%["), "no prompt label")
    end)

    it("labels an action's bar with its button and parent, and shortens a long prompt to fit", function()
      local render = require("midjourney.cli.render")
      local long = "a paper boat at sunrise on a very calm lake below snowy mountains --ar 3:2"
      local r = mj_tty(with { "imagine", long, "--then", "U1" })
      assert.are.equal(0, r.code, r.tty)
      local grid_id = r.tty:match("(%d+) a paper boat at sunrise[^\r\n]*…")
      assert.is_truthy(grid_id, "the long prompt is not shortened with …")
      assert.is_truthy(r.tty:find("%d+ +U1 of " .. grid_id), "no 'U1 of <grid>' label")
      local bars = 0
      for line in r.tty:gsub("\27%[[%d;]*%a", ""):gmatch("[^\r\n]+") do
        if line:find("█", 1, true) or line:find("░", 1, true) then
          bars = bars + 1
          assert.is_true(render.display_width(line) <= 99, "wider than the terminal: " .. line)
        end
      end
      assert.is_true(bars > 0)
    end)

    it("draws one line per task for wait A B C", function()
      local ids = {}
      for i = 1, 3 do ids[i] = submit_id { "imagine", "tty " .. i } end
      local r = mj_tty(with { "wait", ids[1], ids[2], ids[3] })
      assert.are.equal(0, r.code, r.tty)
      assert.is_truthy(r.tty:find("\27[3A", 1, true), "three lines redrawn together")
      -- ids it did not submit: "wait" until the first snapshot brings the prompt
      for i = 1, 3 do assert.is_truthy(r.tty:find(ids[i] .. " tty " .. i .. " ", 1, true), "no prompt for " .. i) end
    end)

    it("the README quick start's simulator makes a job last seconds, through intermediate percentages", function()
      local text = assert(read_file(root .. "/README.md"))
      local section = assert(text:match("### The command line(.-)\n### "))
      local line = assert(section:match("\n(bin/mj%-simulator [^\n]*)"), "no simulator line")
      local speed = assert(tonumber(line:match("%-%-speed (%S+)")), line)
      assert.is_nil(line:find("--instant", 1, true)) -- the realistic gateway, 15-s sync steps
      local qs = simulator.start { speed = speed, key = KEY }
      local ok, r = pcall(mj, { "imagine", "a paper boat at sunrise", "--wait", "--interval", "0.25" },
        { base = qs.url })
      qs:stop()
      assert(ok, r)
      assert.are.equal(0, r.code, r.err)
      assert.is_true(r.secs >= 5, string.format("the job took only %.1f s at --speed %s", r.secs, speed))
      local seen, n = {}, 0
      for p in r.err:gmatch(" IN_PROGRESS (%d+)%%") do
        p = tonumber(p)
        if p > 0 and p < 100 and not seen[p] then seen[p] = true; n = n + 1 end
      end
      assert.is_true(n >= 2, "intermediate percentages seen: " .. n .. "\n" .. r.err)
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

  describe("display width (midjourney.cli.render)", function()
    local render = require("midjourney.cli.render")
    local commands = require("midjourney.cli.commands")

    it("counts emoji and CJK as two columns, variation selectors and joiners as none", function()
      local cases = {
        { "", 0 }, { "U1", 2 }, { "Vary (Region)", 13 }, { "é", 1 }, { "e\u{301}", 1 },
        { "🔄", 2 }, { "⬅️", 2 }, { "⬅", 1 }, { "➡️", 2 }, { "🖌️", 2 }, { "❤️", 2 }, { "🪄", 2 },
        { "中文", 4 }, { "ｶ", 1 }, { "한국어", 6 }, { "\u{FEFF}x", 1 },
        { "👨\u{200D}👩\u{200D}👧", 2 }, { "👍🏽", 2 }, { "U1 🔄 中", 8 },
        { "\255x", 2 }, -- a malformed byte counts as one column
      }
      for _, c in ipairs(cases) do
        assert.are.equal(c[2], render.display_width(c[1]), string.format("%q", c[1]))
      end
    end)

    it("truncates and pads by columns", function()
      assert.are.equal("abc", render.truncate("abc", 3))
      assert.are.equal("ab…", render.truncate("abcd", 3))
      assert.are.equal("中…", render.truncate("中文字", 4))
      assert.are.equal("…", render.truncate("中文", 2))
      assert.are.equal("🔄 ", render.pad("🔄", 3))
      assert.are.equal("⬅️  ", render.pad("⬅️", 4))
      assert.are.equal("abcdef", render.pad("abcdef", 3))
    end)

    it("button_lines puts every customId in the same column", function()
      local out = commands.button_lines {
        { label = "U1", emoji = "", customId = "MJ::a" },
        { label = "", emoji = "🔄", customId = "MJ::b" },
        { label = "", emoji = "⬅️", customId = "MJ::c" },
        { label = "Vary (Region)", emoji = "🖌️", customId = "MJ::d" },
      }
      assert.are.same({
        "U1                 MJ::a",
        "               🔄  MJ::b",
        "               ⬅️  MJ::c",
        "Vary (Region)  🖌️  MJ::d",
      }, out)
    end)

    it("one_request_id keeps one request id per line", function()
      local one = commands.one_request_id
      assert.are.equal("invalid token [request id r9]", one("invalid token (request id: r9) [request id r9]"))
      assert.are.equal("x (request id: r9)", one("x (request id: r9)"))
      assert.are.equal('HTTP 401 {"m":"t ... [request id h]', one('HTTP 401 {"m":"t (request id: 20... [request id h]'))
    end)
  end)
end)
