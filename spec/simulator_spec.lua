-- Specs of the CometAPI simulator itself (bin/mj-simulator), over raw HTTP with LuaSocket.
local socket = require("socket")
local json = require("midjourney.simulator.json")
local png = require("midjourney.simulator.png")
local helper = require("spec.helpers.simulator")
local RAW_MASK = (helper.mask():gsub("^data:image/png;base64,", "")) -- raw base64, no data: prefix

local KEY = "sk-test"

-- raw HTTP/1.1 client -------------------------------------------------------------------

local function connect(sim)
  local c = assert(socket.tcp())
  c:settimeout(5)
  assert(c:connect(sim.host, sim.port))
  return c
end

local function request_text(method, path, body, headers)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  if body then
    lines[#lines + 1] = "Content-Type: application/json"
    lines[#lines + 1] = "Content-Length: " .. #body
  end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

-- read one response; returns {status=, headers=, body=} or nil, err, partial
local function read_response(c)
  local line, err = c:receive("*l")
  if not line then return nil, err end
  local status = tonumber(line:match("^HTTP/1%.1 (%d+)"))
  local headers = {}
  while true do
    local l, e = c:receive("*l")
    if not l then return nil, e end
    if l == "" then break end
    local k, v = l:match("^([^:]+):%s*(.*)$")
    headers[k:lower()] = v
  end
  local body
  if headers["content-length"] then
    local n = tonumber(headers["content-length"])
    local partial
    body, err, partial = c:receive(n)
    if not body then return nil, err, { status = status, headers = headers, body = partial } end
  elseif (headers["transfer-encoding"] or ""):find("chunked") then
    local parts = {}
    while true do
      local size_line = assert(c:receive("*l"))
      local n = tonumber(size_line, 16)
      if n == 0 then c:receive("*l"); break end
      parts[#parts + 1] = assert(c:receive(n))
      c:receive("*l")
    end
    body = table.concat(parts)
  else
    body = c:receive("*a")
  end
  return { status = status, headers = headers, body = body }
end

local function call(sim, method, path, body, headers)
  if type(body) == "table" then body = json.encode(body) end
  local h = headers or { Authorization = "Bearer " .. KEY }
  local c = connect(sim)
  assert(c:send(request_text(method, path, body, h)))
  local r, err, partial = read_response(c)
  c:close()
  return r, err, partial
end

local function decode(r)
  return assert(json.decode(r.body))
end

local function submit(sim, route, body)
  local r = call(sim, "POST", "/mj/submit/" .. route, body)
  assert.are.equal(200, r.status)
  return decode(r)
end

local function fetch(sim, id)
  local r = call(sim, "GET", "/mj/task/" .. id .. "/fetch")
  return r.status == 200 and decode(r) or nil, r
end

local function wait_status(sim, id, want, timeout)
  local deadline = socket.gettime() + (timeout or 10)
  local t
  repeat
    t = fetch(sim, id)
    if t and t.status == want then return t end
    socket.sleep(0.01)
  until socket.gettime() > deadline
  error("task " .. id .. " did not reach " .. want .. " (last: " .. tostring(t and t.status) .. ")")
end

local function imagine_done(sim, prompt)
  local env = submit(sim, "imagine", { prompt = prompt or "a paper boat --v 6.1" })
  assert.are.equal(1, env.code)
  return wait_status(sim, env.result, "SUCCESS"), env
end

local function find_button(task, pattern)
  for _, b in ipairs(task.buttons) do
    if b.customId:find(pattern) then return b.customId end
  end
end

-- PNG checking: chunk CRCs, IHDR, zlib stored blocks and adler32, pixels
local function u32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local function check_png(data)
  assert.are.equal("\137PNG\r\n\26\n", data:sub(1, 8))
  local pos, chunks, idat = 9, {}, {}
  while pos <= #data do
    local len = u32(data, pos)
    local kind = data:sub(pos + 4, pos + 7)
    local body = data:sub(pos + 8, pos + 7 + len)
    assert.are.equal(u32(data, pos + 8 + len), png.crc32(kind .. body), "CRC of " .. kind)
    chunks[#chunks + 1] = kind
    if kind == "IDAT" then idat[#idat + 1] = body end
    if kind == "IHDR" then chunks.w, chunks.h = u32(body, 1), u32(body, 5); chunks.ihdr = body end
    pos = pos + 12 + len
  end
  assert.are.same({ "IHDR", "IDAT", "IEND" }, { chunks[1], chunks[2], chunks[#chunks] })
  assert.are.equal("\8\2\0\0\0", chunks.ihdr:sub(9, 13))
  -- inflate stored blocks
  local z = table.concat(idat)
  assert.are.equal(0, (z:byte(1) * 256 + z:byte(2)) % 31)
  local p, raw, final = 3, {}, false
  while not final do
    local hdr = z:byte(p)
    final = hdr % 2 == 1
    assert.are.equal(0, math.floor(hdr / 2) % 4, "stored block")
    local len = z:byte(p + 1) + z:byte(p + 2) * 256
    local nlen = z:byte(p + 3) + z:byte(p + 4) * 256
    assert.are.equal(65535, len + nlen)
    raw[#raw + 1] = z:sub(p + 5, p + 4 + len)
    p = p + 5 + len
  end
  local pixels = table.concat(raw)
  assert.are.equal(u32(z, p), png.adler32(pixels))
  assert.are.equal(chunks.h * (1 + 3 * chunks.w), #pixels)
  local function px(x, y)
    local i = y * (1 + 3 * chunks.w) + 2 + 3 * x
    return pixels:byte(i, i + 2)
  end
  return chunks.w, chunks.h, px
end

-- specs ---------------------------------------------------------------------------------

describe("mj-simulator", function()
  local sim

  setup(function()
    sim = helper.start({ speed = 200, key = KEY, lua = os.getenv("MJ_TEST_LUA") })
  end)

  teardown(function()
    if sim then sim:stop() end
  end)

  before_each(function()
    sim:reset()
  end)

  it("checks its own crc32 and adler32 against known values", function()
    assert.are.equal(0xCBF43926, png.crc32("123456789"))
    assert.are.equal(0x11E60398, png.adler32("Wikipedia"))
  end)

  describe("lifecycle", function()
    it("walks NOT_START/SUBMITTED/IN_PROGRESS to SUCCESS with rising progress", function()
      local env = submit(sim, "imagine", { prompt = "a paper boat --v 6.1", state = "order-1" })
      assert.are.equal(1, env.code)
      assert.is_string(env.result)
      assert.truthy(env.result:match("^%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d$"))
      assert.is_string(env.properties.discordInstanceId)
      local rank = { [""] = 0, NOT_START = 1, SUBMITTED = 2, IN_PROGRESS = 3, SUCCESS = 4 }
      local last_rank, last_pct = -1, -1
      local deadline = socket.gettime() + 10
      local t
      repeat
        t = assert(fetch(sim, env.result))
        local r = rank[t.status]
        assert.is_not_nil(r, "unexpected status " .. tostring(t.status))
        assert.is_true(r >= last_rank, "status went backwards")
        last_rank = r
        if t.status == "IN_PROGRESS" then
          local pct = tonumber(t.progress:match("^(%d+)%%$"))
          assert.is_true(pct >= last_pct)
          last_pct = pct
        end
      until t.status == "SUCCESS" or socket.gettime() > deadline
      assert.are.equal("SUCCESS", t.status)
      assert.are.equal("100%", t.progress)
      assert.are.equal("order-1", t.state)
      assert.are.equal("IMAGINE", t.action)
      assert.are.equal(sim.url .. "/mj/image/" .. env.result, t.imageUrl)
      assert.is_true(t.finishTime >= t.startTime and t.startTime >= t.submitTime and t.submitTime > 0)
      assert.truthy(t.properties.finalPrompt:find("a paper boat", 1, true))
      for _, k in ipairs({ "id", "action", "customId", "botType", "prompt", "promptEn", "description", "state",
        "submitTime", "startTime", "finishTime", "imageUrl", "videoUrl", "status", "progress", "failReason",
        "buttons", "maskBase64", "properties" }) do
        assert.is_not_nil(t[k], "missing " .. k)
      end
    end)

    it("fails a banned prompt with progress 100% and the banned reason", function()
      local env = submit(sim, "imagine", { prompt = "a banned thing" })
      assert.are.equal(1, env.code)
      local t = wait_status(sim, env.result, "FAILURE")
      assert.are.equal("100%", t.progress)
      assert.truthy(t.failReason:find("Banned prompt", 1, true))
      assert.are.same({}, t.buttons)
    end)

    it("gives the grid 9 buttons with a hash of its own per job", function()
      local a = imagine_done(sim, "one")
      local b = imagine_done(sim, "two")
      assert.are.equal(9, #a.buttons)
      local labels = {}
      for i, btn in ipairs(a.buttons) do
        labels[i] = btn.label
        assert.are.equal(2, btn.type)
      end
      assert.are.same({ "U1", "U2", "U3", "U4", "", "V1", "V2", "V3", "V4" }, labels)
      local ha = a.buttons[1].customId:match("^MJ::JOB::upsample::1::(.+)$")
      local hb = b.buttons[1].customId:match("^MJ::JOB::upsample::1::(.+)$")
      assert.truthy(ha:match("^%x+%-%x+%-4%x+%-%x+%-%x+$"))
      assert.are_not.equal(ha, hb)
      assert.are.equal("MJ::JOB::reroll::0::" .. ha .. "::SOLO", a.buttons[5].customId)
    end)
  end)

  describe("actions", function()
    it("upscales to a single image with the 13-button set", function()
      local grid = imagine_done(sim, "a fox --v 6.1")
      local env = submit(sim, "action", { taskId = grid.id, customId = find_button(grid, "upsample::2::") })
      assert.are.equal(1, env.code)
      assert.are_not.equal(grid.id, env.result)
      local up = wait_status(sim, env.result, "SUCCESS")
      assert.are.equal("UPSCALE", up.action)
      assert.are.equal(grid.prompt, up.prompt)
      assert.are.equal(13, #up.buttons)
      for _, pat in ipairs({ "^MJ::JOB::upsample_v6r1_2x_subtle::1::", "^MJ::JOB::upsample_v6r1_2x_creative::1::",
        "^MJ::JOB::low_variation::1::", "^MJ::JOB::high_variation::1::", "^MJ::Inpaint::1::",
        "^MJ::Outpaint::50::1::", "^MJ::Outpaint::75::1::", "^MJ::CustomZoom::", "^MJ::JOB::pan_left::1::",
        "^MJ::JOB::pan_right::1::", "^MJ::JOB::pan_up::1::", "^MJ::JOB::pan_down::1::", "^MJ::BOOKMARK::" }) do
        assert.is_not_nil(find_button(up, pat), pat)
      end
      assert.is_nil(find_button(up, grid.buttons[1].customId:match("::([^:]+)$")))
    end)

    it("refuses an action on a task that is not SUCCESS", function()
      local env = submit(sim, "imagine", { prompt = "still running" })
      local r = call(sim, "POST", "/mj/submit/action", { taskId = env.result, customId = "MJ::JOB::upsample::1::x" })
      assert.are.equal(400, r.status)
      assert.are.same({ description = "task_status_not_success ", type = "upstream_error", code = 4 }, decode(r))
    end)

    it("answers the gateway's errors for unknown ids and customIds", function()
      local grid = imagine_done(sim, "errors")
      local r = call(sim, "POST", "/mj/submit/action",
        { taskId = "1773314942177999", customId = grid.buttons[1].customId })
      assert.are.equal(400, r.status)
      assert.are.equal("task_not_found ", decode(r).description)
      r = call(sim, "POST", "/mj/submit/action", { taskId = grid.id, customId = "MJ::Job::PicReader::1" })
      assert.are.equal(400, r.status)
      local e = decode(r).error
      assert.are.equal("comet_api_error", e.type)
      assert.truthy(e.message:find("^Invalid request, unknown_action:MJ::Job::PicReader::1 %(request id: "))
      r = call(sim, "POST", "/mj/submit/action", { taskId = grid.id, customId = "MJ::BOOKMARK::abc" })
      assert.are.equal(400, r.status)
      r = call(sim, "POST", "/mj/submit/action", { taskId = grid.id })
      assert.are.equal(400, r.status)
      assert.truthy(decode(r).error.message:find("custom_id_is_required", 1, true))
      -- a real family, but not a button of this task
      r = call(sim, "POST", "/mj/submit/action", { taskId = grid.id, customId = "MJ::JOB::upsample::1::other-hash" })
      assert.are.equal(200, r.status)
      assert.are.equal(4, decode(r).code)
      r = call(sim, "POST", "/mj/submit/action", { customId = grid.buttons[1].customId })
      assert.are.equal("task_id_is_required ", decode(r).description)
    end)

    it("answers 'already exists' (code 1, same id) for the same upscale twice", function()
      local grid = imagine_done(sim, "twice")
      local cid = find_button(grid, "upsample::1::")
      local a = submit(sim, "action", { taskId = grid.id, customId = cid })
      local b = submit(sim, "action", { taskId = grid.id, customId = cid })
      assert.are.equal(a.result, b.result)
      assert.are.equal(1, b.code)
      assert.is_string(b.properties.status)
    end)
  end)

  describe("MODAL", function()
    it("opens Vary Region with code 21 and continues the same id after /submit/modal", function()
      local grid = imagine_done(sim, "region")
      local up = submit(sim, "action", { taskId = grid.id, customId = find_button(grid, "upsample::1::") })
      up = wait_status(sim, up.result, "SUCCESS")
      local env = submit(sim, "action", { taskId = up.id, customId = find_button(up, "^MJ::Inpaint") })
      assert.are.equal(21, env.code)
      assert.are.equal(true, env.properties.remix)
      assert.are.equal(grid.prompt, env.properties.finalPrompt)
      local m = wait_status(sim, env.result, "MODAL")
      assert.are.equal("INPAINT", m.action)
      assert.are.same({}, m.buttons)
      local r = call(sim, "POST", "/mj/submit/modal", { taskId = env.result, prompt = "a red lighthouse" })
      assert.are.equal(4, decode(r).code) -- no mask
      -- a mask that is not a PNG of the image's size is refused, as the upstream does
      r = call(sim, "POST", "/mj/submit/modal", { taskId = env.result, prompt = "a red lighthouse",
        maskBase64 = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA" })
      local refused = decode(r)
      assert.are.equal(4, refused.code)
      assert.truthy(refused.description:find("1x1", 1, true), refused.description)
      local ok = submit(sim, "modal", { taskId = env.result, prompt = "a red lighthouse",
        maskBase64 = helper.mask() })
      assert.are.equal(1, ok.code)
      assert.are.equal(env.result, ok.result)
      local done = wait_status(sim, env.result, "SUCCESS")
      assert.are.equal(9, #done.buttons)
      assert.are.equal("a red lighthouse", done.promptEn)
    end)

    it("gives code 1 and a MODAL task for a variation with enableRemix", function()
      local grid = imagine_done(sim, "remix")
      local env = submit(sim, "action", { taskId = grid.id, customId = find_button(grid, "variation::3::"),
        enableRemix = true })
      assert.are.equal(1, env.code)
      wait_status(sim, env.result, "MODAL")
      local plain = submit(sim, "action", { taskId = grid.id, customId = find_button(grid, "variation::2::") })
      assert.are.equal("SUCCESS", wait_status(sim, plain.result, "SUCCESS").status)
    end)

    it("needs --zoom for Custom Zoom", function()
      local grid = imagine_done(sim, "zoom")
      local up = wait_status(sim, submit(sim, "action", { taskId = grid.id,
        customId = find_button(grid, "upsample::4::") }).result, "SUCCESS")
      local env = submit(sim, "action", { taskId = up.id, customId = find_button(up, "^MJ::CustomZoom::") })
      assert.are.equal(21, env.code)
      wait_status(sim, env.result, "MODAL")
      assert.are.equal(4, submit(sim, "modal", { taskId = env.result, prompt = "wider" }).code)
      assert.are.equal(1, submit(sim, "modal", { taskId = env.result, prompt = "wider --zoom 1.5" }).code)
      assert.are.equal("CUSTOM_ZOOM", wait_status(sim, env.result, "SUCCESS").action)
    end)
  end)

  describe("queries", function()
    it("lists known ids once, newest first, not in input order", function()
      local a = submit(sim, "imagine", { prompt = "list a" }).result
      local b = submit(sim, "imagine", { prompt = "list b" }).result
      local r = call(sim, "POST", "/mj/task/list-by-condition", { ids = { a, "9999999999999999", b, a } })
      assert.are.equal(200, r.status)
      local list = decode(r)
      assert.are.equal(2, #list)
      assert.are.equal(b, list[1].id)
      assert.are.equal(a, list[2].id)
      r = call(sim, "POST", "/mj/task/list-by-condition", {})
      assert.are.equal("[]", r.body)
    end)

    it("answers image-seed for finished tasks only", function()
      local env = submit(sim, "imagine", { prompt = "seed" })
      local r = call(sim, "GET", "/mj/task/" .. env.result .. "/image-seed")
      assert.are.equal(400, r.status)
      wait_status(sim, env.result, "SUCCESS")
      r = call(sim, "GET", "/mj/task/" .. env.result .. "/image-seed")
      local s = decode(r)
      assert.are.equal(1, s.code)
      assert.truthy(s.result:match("^%d+$"))
      r = call(sim, "GET", "/mj/task/1234567890123456/image-seed")
      assert.are.equal("task_no_found ", decode(r).description)
    end)

    it("answers task_no_found for an unknown id", function()
      local r = call(sim, "GET", "/mj/task/1773314942177684/fetch")
      assert.are.equal(400, r.status)
      assert.are.equal('{"description":"task_no_found ","type":"upstream_error","code":4}', r.body)
    end)

    it("serves a real PNG grid with four distinct quadrants, without auth", function()
      local t = imagine_done(sim, "colours")
      local r = call(sim, "GET", "/mj/image/" .. t.id, nil, {})
      assert.are.equal(200, r.status)
      assert.are.equal("image/png", r.headers["content-type"])
      local w, h, px = check_png(r.body)
      assert.are.equal(256, w)
      assert.are.equal(256, h)
      local seen = {}
      for _, xy in ipairs({ { 60, 60 }, { 190, 60 }, { 60, 190 }, { 190, 190 } }) do
        local cr, cg, cb = px(xy[1], xy[2])
        seen[cr .. "," .. cg .. "," .. cb] = true
      end
      local n = 0
      for _ in pairs(seen) do n = n + 1 end
      assert.are.equal(4, n)
      local up = wait_status(sim, submit(sim, "action", { taskId = t.id,
        customId = find_button(t, "upsample::3::") }).result, "SUCCESS")
      r = call(sim, "GET", "/mj/image/" .. up.id, nil, {})
      local _, _, upx = check_png(r.body)
      assert.are.same({ upx(5, 5) }, { upx(250, 5) })
      r = call(sim, "GET", "/mj/image/12345", nil, {})
      assert.are.equal(400, r.status)
      assert.are.equal('{"error":"midjourney_task_not_found"}', r.body)
    end)
  end)

  describe("auth and validation", function()
    it("answers 401 with the OpenAI-style envelope for a missing or wrong key", function()
      local r = call(sim, "GET", "/mj/task/1/fetch", nil, {})
      assert.are.equal(401, r.status)
      assert.are.equal("comet_api_error", decode(r).error.type)
      r = call(sim, "GET", "/mj/task/1/fetch", nil, { Authorization = "Bearer sk-wrong" })
      assert.are.equal(401, r.status)
      assert.is_nil(r.body:find(KEY, 1, true))
      r = call(sim, "GET", "/mj/task/1/fetch", nil, { Authorization = KEY })
      assert.are.equal(400, r.status) -- bare "sk-..." accepted, then unknown id
      r = call(sim, "GET", "/mj/task/1/fetch", nil, { ["mj-api-secret"] = KEY })
      assert.are.equal(400, r.status)
    end)

    it("validates bodies like the gateway", function()
      local r = call(sim, "POST", "/mj/submit/imagine", { prompt = "" })
      assert.are.same({ description = "prompt_is_required ", type = "upstream_error", code = 4 }, decode(r))
      r = call(sim, "POST", "/mj/submit/blend", { base64Array = { "data:image/png;base64,AAAA" } })
      assert.are.equal(200, r.status)
      assert.are.equal(4, decode(r).code)
      r = call(sim, "POST", "/mj/insight-face/swap", { sourceBase64 = "x" })
      assert.are.equal(400, r.status)
      assert.are.equal("sour_base64_and_target_base64_is_required ", decode(r).description)
      r = call(sim, "POST", "/mj/submit/imagine", "{\"prompt\":")
      assert.are.equal(400, r.status)
      assert.truthy(decode(r).error.message:find("^Invalid request"))
      r = call(sim, "POST", "/mj/task/1/cancel", "{}")
      assert.are.equal(404, r.status)
      assert.are.equal("invalid_request_error", decode(r).error.type)
      r = call(sim, "POST", "/mj/submit/imagine", { prompt = "x", state = string.rep("s", 300) })
      assert.are.equal(4, decode(r).code)
    end)

    it("serves every submit route and the speed prefixes", function()
      local img = "data:image/png;base64,iVBORw0KGgo="
      local cases = {
        { "blend", { base64Array = { img, img }, dimensions = "PORTRAIT" }, "BLEND" },
        { "describe", { base64 = img }, "DESCRIBE" },
        { "shorten", { prompt = "a very long prompt" }, "SHORTEN" },
        { "video", { image = img, motion = "low", prompt = "move", batchSize = 2 }, "VIDEO" },
        { "edits", { prompt = "make it blue", image = img }, "EDITS" },
      }
      local ids = {}
      for _, c in ipairs(cases) do
        local env = submit(sim, c[1], c[2])
        assert.are.equal(1, env.code, c[1])
        ids[#ids + 1] = { env.result, c[3] }
      end
      local swap = decode(call(sim, "POST", "/mj/insight-face/swap", { sourceBase64 = img, targetBase64 = img }))
      ids[#ids + 1] = { swap.result, "SWAP_FACE" }
      local turbo = decode(call(sim, "POST", "/mj-turbo/mj/submit/imagine", { prompt = "fast one" }))
      ids[#ids + 1] = { turbo.result, "IMAGINE" }
      for _, x in ipairs(ids) do
        local t = wait_status(sim, x[1], "SUCCESS")
        assert.are.equal(x[2], t.action)
        if x[2] == "DESCRIBE" then
          assert.truthy(t.promptEn:find("1️⃣", 1, true))
          assert.are.equal("MJ::Job::PicReader::1", t.buttons[1].customId)
          assert.are.equal("MJ::Picread::Retry", t.buttons[5].customId)
        elseif x[2] == "VIDEO" then
          assert.are.equal(2, #t.videoUrls)
          assert.are.equal(t.videoUrls[1].url, t.videoUrl)
        end
      end
      assert.truthy(fetch(sim, turbo.result).properties.finalPrompt:find("--turbo", 1, true))
      local vid = ids[4][1]
      local ext = submit(sim, "video", { action = "extend", taskId = vid, index = 1, prompt = "longer" })
      assert.are.equal(1, ext.code)
      assert.are.equal("VIDEO", wait_status(sim, ext.result, "SUCCESS").action)
      assert.are.equal(4, submit(sim, "video", { action = "extend", taskId = vid, index = 9 }).code)
      assert.are.equal(4, submit(sim, "video", { motion = "low" }).code)
      local up = decode(call(sim, "POST", "/mj/submit/upload-discord-images", { base64Array = { img } }))
      assert.are.equal(1, up.code)
      local r = call(sim, "GET", up.result[1]:gsub("^http://[^/]+", ""), nil, {})
      assert.are.equal(200, r.status)
      check_png(r.body)
    end)
  end)

  describe("connections", function()
    it("keeps a connection alive and answers pipelined requests in order", function()
      local a = submit(sim, "imagine", { prompt = "pipe" }).result
      local c = connect(sim)
      local h = { Authorization = "Bearer " .. KEY }
      local req = request_text("GET", "/mj/task/" .. a .. "/fetch", nil, h)
        .. request_text("GET", "/mj/task/1/fetch", nil, h)
        .. request_text("POST", "/mj/task/list-by-condition", json.encode({ ids = { a } }), h)
      assert(c:send(req))
      local r1 = assert(read_response(c))
      local r2 = assert(read_response(c))
      local r3 = assert(read_response(c))
      assert.are.equal(a, decode(r1).id)
      assert.are.equal(400, r2.status)
      assert.are.equal(a, decode(r3)[1].id)
      -- and the same connection serves one more request afterwards
      assert(c:send(request_text("GET", "/mj/task/" .. a .. "/fetch", nil, h)))
      assert.are.equal(200, assert(read_response(c)).status)
      c:close()
    end)

    it("serves many connections at once and counts them", function()
      local conns = {}
      for i = 1, 25 do conns[i] = connect(sim) end
      for i = 1, 25 do
        assert(conns[i]:send(request_text("POST", "/mj/submit/imagine", json.encode({ prompt = "c" .. i }),
          { Authorization = "Bearer " .. KEY })))
      end
      for i = 25, 1, -1 do
        local r = assert(read_response(conns[i]))
        assert.are.equal(1, decode(r).code)
      end
      local st = sim:stats()
      assert.is_true(st.peak_connections >= 25)
      assert.is_true(st.max_in_flight_jobs >= 2)
      assert.are.equal(25, st.routes.imagine)
      for i = 1, 25 do conns[i]:close() end
    end)

    it("counts jobs in flight at the same moment", function()
      for i = 1, 5 do submit(sim, "imagine", { prompt = "flight " .. i }) end
      assert.is_true(sim:stats().max_in_flight_jobs >= 5)
    end)
  end)

  describe("faults", function()
    it("answers a status with headers, `times` and `after`", function()
      sim:faults({ { route = "fetch", kind = "status", status = 503, after = 1, times = 2,
        headers = { ["x-should-retry"] = "true" } } })
      local got = {}
      for i = 1, 4 do got[i] = call(sim, "GET", "/mj/task/1/fetch").status end
      assert.are.same({ 400, 503, 503, 400 }, got)
      sim:faults({ { path = "/mj/task/*/fetch", kind = "status", status = 524 } })
      local r = call(sim, "GET", "/mj/task/1/fetch")
      assert.are.equal(524, r.status)
    end)

    it("sends Retry-After in its three forms", function()
      sim:faults({ { route = "imagine", kind = "retry_after", retry_after = "2" },
                   { route = "fetch", kind = "retry_after", retry_after_ms = "1500" },
                   { route = "list", kind = "retry_after", http_date = 3 } })
      local r = call(sim, "POST", "/mj/submit/imagine", { prompt = "x" })
      assert.are.equal(429, r.status)
      assert.are.equal("2", r.headers["retry-after"])
      assert.are.equal(30, decode(r).code)
      r = call(sim, "GET", "/mj/task/1/fetch")
      assert.are.equal("1500", r.headers["retry-after-ms"])
      r = call(sim, "POST", "/mj/task/list-by-condition", { ids = {} })
      assert.truthy(r.headers["retry-after"]:match("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"))
    end)

    it("answers submit codes 23 and 24 without creating a task, and rewrites 22 to 1", function()
      sim:faults({ { route = "imagine", kind = "code", code = 23 }, { route = "submit", kind = "code", code = 24 },
                   { route = "imagine", kind = "code", code = 22, queue = 7, after = 2 } })
      local e = submit(sim, "imagine", { prompt = "q" })
      assert.are.equal(23, e.code)
      assert.are.equal(json.null, e.result)
      e = submit(sim, "imagine", { prompt = "q" })
      assert.are.equal(24, e.code)
      assert.are.equal("nude", e.properties.bannedWord)
      e = submit(sim, "imagine", { prompt = "q" })
      assert.are.equal(1, e.code)
      assert.are.equal(7, e.properties.numberOfQueues)
      assert.is_not_nil(fetch(sim, e.result))
      assert.are.equal(3, sim:stats().routes.imagine)
    end)

    it("delays the first byte without blocking other connections", function()
      sim:faults({ { route = "fetch", kind = "slow_first_byte", delay = 0.6 } })
      local slow = connect(sim)
      local t0 = socket.gettime()
      assert(slow:send(request_text("GET", "/mj/task/1/fetch", nil, { Authorization = "Bearer " .. KEY })))
      local other = call(sim, "POST", "/mj/task/list-by-condition", { ids = {} })
      assert.are.equal(200, other.status)
      assert.is_true(socket.gettime() - t0 < 0.5)
      local r = assert(read_response(slow))
      assert.are.equal(400, r.status)
      assert.is_true(socket.gettime() - t0 >= 0.55)
      slow:close()
    end)

    it("stalls after the headers, then closes", function()
      sim:faults({ { route = "fetch", kind = "stall_after_headers", delay = 0.3, bytes = 4 } })
      local r, err, partial = call(sim, "GET", "/mj/task/1/fetch")
      assert.is_nil(r)
      assert.are.equal("closed", err)
      assert.are.equal(400, partial.status)
      assert.are.equal(4, #partial.body)
    end)

    it("resets mid-body, truncates, and closes without a reply", function()
      sim:faults({ { route = "fetch", kind = "reset_mid_body" } })
      local r = call(sim, "GET", "/mj/task/1/fetch")
      assert.is_nil(r)
      sim:faults({ { route = "fetch", kind = "truncated_json" } })
      local r2, err2, partial2 = call(sim, "GET", "/mj/task/1/fetch")
      assert.is_nil(r2)
      assert.are.equal("closed", err2)
      assert.is_true(#partial2.body > 0 and #partial2.body < tonumber(partial2.headers["content-length"]))
      local before = sim:stats().tasks
      sim:faults({ { route = "imagine", kind = "empty_reply" } })
      local r3, err3 = call(sim, "POST", "/mj/submit/imagine", { prompt = "lost answer" })
      assert.is_nil(r3)
      assert.are.equal("closed", err3)
      assert.are.equal(before + 1, sim:stats().tasks) -- the submit was processed all the same
    end)

    it("sends invalid JSON, HTML, a redirect and raw answers", function()
      sim:faults({ { route = "fetch", kind = "invalid_json" }, { route = "list", kind = "html" },
                   { route = "seed", kind = "redirect", location = "http://127.0.0.2:1/x" },
                   { route = "image", kind = "raw", status = 200, body = "null",
                     headers = { ["Content-Type"] = "application/json" } } })
      local r = call(sim, "GET", "/mj/task/1/fetch")
      assert.are.equal(200, r.status)
      assert.are.equal('{"code":1,', r.body)
      r = call(sim, "POST", "/mj/task/list-by-condition", { ids = {} })
      assert.truthy(r.headers["content-type"]:find("text/html", 1, true))
      r = call(sim, "GET", "/mj/task/1/image-seed")
      assert.are.equal(302, r.status)
      assert.are.equal("http://127.0.0.2:1/x", r.headers["location"])
      r = call(sim, "GET", "/mj/image/1", nil, {})
      assert.are.equal("null", r.body)
    end)

    it("streams a huge chunked body and a gzip bomb", function()
      sim:faults({ { route = "fetch", kind = "huge_body", bytes = 3 * 1024 * 1024 },
                   { route = "list", kind = "gzip_bomb", bytes = 8 * 1024 * 1024 } })
      local r = call(sim, "GET", "/mj/task/1/fetch")
      assert.is_nil(r.headers["content-length"])
      assert.are.equal(3 * 1024 * 1024, #r.body)
      r = call(sim, "POST", "/mj/task/list-by-condition", { ids = {} })
      assert.are.equal("gzip", r.headers["content-encoding"])
      assert.is_true(#r.body < 200 * 1024)
      local tmp = os.tmpname()
      local f = assert(io.open(tmp, "wb"))
      f:write(r.body)
      f:close()
      local p = io.popen("gzip -dc < " .. tmp .. " | wc -c")
      local n = tonumber(p:read("*a"))
      p:close()
      os.remove(tmp)
      assert.are.equal(8 * 1024 * 1024, n)
    end)

    it("makes a job stick, fail, or disappear", function()
      sim:faults({ { route = "imagine", kind = "stick", percent = 40 } })
      local stuck = submit(sim, "imagine", { prompt = "stuck" }).result
      sim:faults({ { route = "imagine", kind = "fail", reason = "执行超时 5 分钟", at = 30 } })
      local failing = submit(sim, "imagine", { prompt = "failing" }).result
      sim:faults({ { route = "imagine", kind = "disappear" } })
      local gone = submit(sim, "imagine", { prompt = "gone" }).result
      local f = wait_status(sim, failing, "FAILURE")
      assert.are.equal("执行超时 5 分钟", f.failReason)
      assert.are.equal("100%", f.progress)
      local t = wait_status(sim, stuck, "IN_PROGRESS")
      local deadline = socket.gettime() + 0.5
      while socket.gettime() < deadline and t.progress ~= "40%" do t = fetch(sim, stuck); socket.sleep(0.01) end
      assert.are.equal("40%", t.progress)
      local _, r = fetch(sim, gone)
      assert.are.equal(400, r.status)
      assert.are.equal("task_no_found ", decode(r).description)
      -- a job fault on an existing task
      sim:faults({ { kind = "disappear", task = stuck } })
      assert.are.equal(400, select(2, fetch(sim, stuck)).status)
    end)

    it("patches a task's fetch output with odd values", function()
      local t = imagine_done(sim, "patched")
      sim:task(t.id, '{"id": 1773314942177684, "buttons": null, "progress": "85.5%", "status": {"$delete": true}}')
      local r = call(sim, "GET", "/mj/task/" .. t.id .. "/fetch")
      assert.truthy(r.body:find('"id":1773314942177684', 1, true))
      assert.truthy(r.body:find('"buttons":null', 1, true))
      assert.truthy(r.body:find('"progress":"85.5%"', 1, true))
      assert.is_nil(r.body:find('"status"', 1, true))
    end)

    it("clears faults and stats on reset", function()
      sim:faults({ { route = "fetch", kind = "status", status = 500, times = -1 } })
      assert.are.equal(500, call(sim, "GET", "/mj/task/1/fetch").status)
      sim:reset()
      assert.are.equal(400, call(sim, "GET", "/mj/task/1/fetch").status)
      local st = sim:stats()
      assert.are.equal(1, st.requests)
      assert.are.equal(1, st.routes.fetch)
    end)
  end)

  describe("notifyHook", function()
    it("posts forward status changes once each, ending in SUCCESS", function()
      local srv = assert(socket.bind("127.0.0.1", 0))
      srv:settimeout(0.05)
      local _, port = srv:getsockname()
      local env = submit(sim, "imagine", { prompt = "hooked", notifyHook = "http://127.0.0.1:" .. port .. "/cb" })
      local bodies = {}
      local deadline = socket.gettime() + 10
      while socket.gettime() < deadline do
        local c = srv:accept()
        if c then
          c:settimeout(2)
          local head = {}
          local len = 0
          while true do
            local l = assert(c:receive("*l"))
            if l == "" then break end
            head[#head + 1] = l
            len = tonumber(l:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")) or len
          end
          assert.are.equal("POST /cb HTTP/1.1", head[1])
          bodies[#bodies + 1] = json.decode(assert(c:receive(len)))
          c:send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
          c:close()
          if bodies[#bodies].status == "SUCCESS" then break end
        end
      end
      srv:close()
      assert.is_true(#bodies >= 2)
      local order = { NOT_START = 0, SUBMITTED = 1, IN_PROGRESS = 3, SUCCESS = 5 }
      local last = -1
      for _, b in ipairs(bodies) do
        assert.are.equal(env.result, b.id)
        local o = order[b.status] + (b.status == "IN_PROGRESS" and tonumber(b.progress:match("%d+")) / 100 or 0)
        assert.is_true(o > last)
        last = o
      end
      assert.are.equal("SUCCESS", bodies[#bodies].status)
      assert.are.equal(9, #bodies[#bodies].buttons)
    end)
  end)
end)

describe("mj-simulator command line", function()
  local function run(cmd)
    local p = io.popen(cmd .. " 2>&1")
    local out = p:read("*a")
    p:close()
    return out
  end

  it("lists every option and every fault kind in --help, found without LUA_PATH", function()
    local lua = os.getenv("MJ_TEST_LUA") or "lua5.4"
    local out = run("env -u LUA_PATH " .. lua .. " bin/mj-simulator --help")
    for _, opt in ipairs({ "--port", "--host", "--speed", "--seed", "--key", "--fault", "--log", "--watch-pid",
      "--help", "--version", "--sync", "--instant", "--remix-mode", "--image-urls", "--banned-words",
      "/_sim/sync" }) do
      assert.truthy(out:find(opt, 1, true), opt)
    end
    for _, k in ipairs(require("midjourney.simulator.faults").KINDS) do
      assert.truthy(out:find("\n  " .. k[1] .. " "), k[1])
    end
    assert.truthy(out:find("banned", 1, true))
    out = run(lua .. " bin/mj-simulator --bogus")
    assert.truthy(out:find("unknown option --bogus", 1, true))
    for _, bad in ipairs({ "0", "-5", "soon" }) do
      out = run("LUA_PATH='lua/?.lua;lua/?/init.lua;;' " .. lua .. " bin/mj-simulator --port 0 --sync " .. bad)
      assert.truthy(out:find("--sync needs a number of seconds > 0", 1, true), out)
    end
  end)

  it("checks the new options from Lua too", function()
    local simulator = require("midjourney.simulator")
    for _, bad in ipairs({ { sync = 0 }, { sync = "x" }, { banned_words = "teapot" }, { banned_words = { 1 } } }) do
      local s, err = simulator.new(bad)
      assert.is_nil(s)
      assert.is_string(err)
    end
    local s = assert(simulator.new({ port = 0, instant = true, sync = 30, remix_mode = true, image_urls = true,
      banned_words = {} }))
    local st = s:stats()
    s:close()
    assert.are.same({ "instant", 30, true, true }, { st.mode, st.sync, st.remix_mode, st.image_urls })
  end)

  it("takes --fault as JSON or as key=value pairs", function()
    local s = helper.start({ speed = 500, key = KEY, faults = { { route = "fetch", kind = "status", status = 503 } },
      args = { "--fault", "kind=retry_after,route=fetch,retry_after=7,after=1" } })
    local ok, err = pcall(function()
      assert.are.equal(503, call(s, "GET", "/mj/task/1/fetch").status)
      local r = call(s, "GET", "/mj/task/1/fetch")
      assert.are.equal(429, r.status)
      assert.are.equal("7", r.headers["retry-after"])
      assert.are.equal(400, call(s, "GET", "/mj/task/1/fetch").status)
    end)
    s:stop()
    assert(ok, err)
  end)

  it("handles Expect: 100-continue and chunked request bodies", function()
    local s = helper.start({ speed = 500, key = KEY })
    local ok, err = pcall(function()
      local c = connect(s)
      local body = json.encode({ prompt = "expect" })
      assert(c:send("POST /mj/submit/imagine HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " .. KEY
        .. "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " .. #body .. "\r\n\r\n"))
      assert.are.equal("HTTP/1.1 100 Continue", c:receive("*l"))
      assert.are.equal("", c:receive("*l"))
      assert(c:send(body))
      assert.are.equal(1, decode(assert(read_response(c))).code)
      assert(c:send("POST /mj/submit/imagine HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " .. KEY
        .. "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pro\r\n" .. string.format("%x", #body - 5)
        .. "\r\n" .. body:sub(6) .. "\r\n0\r\n\r\n"))
      assert.are.equal(1, decode(assert(read_response(c))).code)
      c:close()
    end)
    s:stop()
    assert(ok, err)
  end)

  it("exits when the watched process is gone", function()
    local lua = os.getenv("MJ_TEST_LUA") or "lua5.4"
    local out = run("sh -c 'sleep 0.3 & w=$!; LUA_PATH=\"lua/?.lua;lua/?/init.lua;;\" " .. lua
      .. " bin/mj-simulator --port 0 --watch-pid $w > /dev/null & s=$!; wait $w; "
      .. "i=0; while kill -0 $s 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; "
      .. "kill -0 $s 2>/dev/null && { kill $s; echo alive; } || echo gone'")
    assert.are.equal("gone\n", out)
  end)
end)

describe("mj-simulator timing modes", function()
  it("shows the placeholder status right after submit at speed 1", function()
    local slow = helper.start({ speed = 1, key = false })
    local ok, err = pcall(function()
      local r = call(slow, "POST", "/mj/submit/imagine", { prompt = "slow" }, { Authorization = "Bearer anything" })
      local id = decode(r).result
      r = call(slow, "GET", "/mj/task/" .. id .. "/fetch", nil, { Authorization = "Bearer anything" })
      local t = decode(r)
      assert.are.equal("", t.status)
      assert.are.equal("0%", t.progress)
      assert.are.equal(json.null, t.buttons)
      assert.are.equal(json.null, t.properties)
      r = call(slow, "GET", "/mj/task/" .. id .. "/fetch", nil, {})
      assert.are.equal(401, r.status)
    end)
    slow:stop()
    assert(ok, err)
  end)

  it("fails a MODAL task left alone after the scaled hour", function()
    local fast = helper.start({ speed = 20000, key = KEY })
    local ok, err = pcall(function()
      local grid = imagine_done(fast, "abandoned")
      local up = wait_status(fast, submit(fast, "action", { taskId = grid.id,
        customId = find_button(grid, "upsample::1::") }).result, "SUCCESS")
      local env = submit(fast, "action", { taskId = up.id, customId = find_button(up, "^MJ::Inpaint") })
      local t = wait_status(fast, env.result, "FAILURE", 5)
      assert.are.equal("上游任务超时（超过1小时）", t.failReason)
    end)
    fast:stop()
    assert(ok, err)
  end)

  it("repeats ids, hashes, timings and the synced snapshots with the same seed", function()
    -- speed 100, sync 20 gateway seconds: the gateway syncs every 0.2 s; a job takes 0.3-0.6 s
    local runs = {}
    for i = 1, 2 do
      local s = helper.start({ speed = 100, seed = 42, key = KEY, sync = 20 })
      local ok, err = pcall(function()
        local env = submit(s, "imagine", { prompt = "same" })
        local steps, t = {}
        local deadline = socket.gettime() + 10
        repeat
          t = assert(fetch(s, env.result))
          local key = t.status .. " " .. t.progress
          if steps[#steps] ~= key then steps[#steps + 1] = key end
          socket.sleep(0.005)
        until t.status == "SUCCESS" or socket.gettime() > deadline
        assert.are.equal("SUCCESS", t.status)
        runs[i] = { id = env.result, hash = t.buttons[1].customId, dur = t.finishTime - t.submitTime,
          steps = table.concat(steps, " | ") }
      end)
      s:stop()
      assert(ok, err)
    end
    assert.are.equal(runs[1].id, runs[2].id)
    assert.are.equal(runs[1].hash, runs[2].hash)
    assert.is_true(math.abs(runs[1].dur - runs[2].dur) <= 2)
    assert.are.equal(runs[1].steps, runs[2].steps)
  end)
end)

-- the gateway's realism (api.md §2.1, §3.3, §4.3, §4.4, §6) -----------------------------

-- upstream SUCCESS, seen through image-seed (which the upstream answers, not the gateway's copy)
local function wait_upstream(sim, id, timeout)
  local deadline = socket.gettime() + (timeout or 10)
  repeat
    local r = call(sim, "GET", "/mj/task/" .. id .. "/image-seed")
    if r.status == 200 and decode(r).code == 1 then return end
    socket.sleep(0.01)
  until socket.gettime() > deadline
  error("task " .. id .. " did not finish upstream")
end

-- wait for upstream SUCCESS, let the gateway sync, and return what fetch shows then
local function synced(sim, id)
  wait_upstream(sim, id)
  sim:sync()
  local t = assert(fetch(sim, id))
  assert.are.equal("SUCCESS", t.status)
  return t
end

local function list(sim, ids)
  local r = call(sim, "POST", "/mj/task/list-by-condition", { ids = ids })
  assert.are.equal(200, r.status)
  return decode(r)
end

local PLACEHOLDER = { status = "", progress = "0%", buttons = json.null, properties = json.null }

local function assert_placeholder(t)
  for k, v in pairs(PLACEHOLDER) do assert.are.equal(v, t[k], k) end
  assert.are.equal("", t.promptEn)
  assert.are.equal(0, t.startTime)
end

describe("mj-simulator as the gateway (realistic by default)", function()
  local gw, opt -- gw syncs only when told (POST /_sim/sync); opt has every option on
  local img = "data:image/png;base64,iVBORw0KGgo="

  setup(function()
    gw = helper.start({ speed = 500, key = KEY, sync = 1000000 })
    opt = helper.start({ speed = 500, key = KEY, sync = 1000000, remix_mode = true, image_urls = true,
      banned_words = { "teapot", "red fox" } })
  end)

  teardown(function()
    if gw then gw:stop() end
    if opt then opt:stop() end
  end)

  before_each(function()
    gw:reset()
    opt:reset()
  end)

  describe("sync lag", function()
    it("is the default of the binary and of the spec helper", function()
      local st = gw:stats()
      assert.are.equal("realistic", st.mode)
      assert.are.equal(1000000, st.sync)
      assert.are.equal(false, st.remix_mode)
      local plain = helper.start({ speed = 200, key = KEY })
      local inst = helper.start({ speed = 200, key = KEY, instant = true })
      local ok, err = pcall(function()
        st = plain:stats()
        assert.are.equal("realistic", st.mode)
        assert.are.equal(15, st.sync)
        assert.are.equal("instant", inst:stats().mode)
      end)
      plain:stop()
      inst:stop()
      assert(ok, err)
    end)

    it("shows the placeholder until the first sync, even once the job finished upstream", function()
      local env = submit(gw, "imagine", { prompt = "lagging boat", state = "s-1" })
      assert.are.equal(1, env.code)
      local id = env.result
      assert_placeholder(assert(fetch(gw, id)))
      wait_upstream(gw, id)
      local t = assert(fetch(gw, id))
      assert_placeholder(t)
      assert.are.equal("", t.state) -- the state is echoed only after a sync
      assert_placeholder(list(gw, { id })[1])
      assert.are.equal(500, call(gw, "GET", "/mj/image/" .. id, nil, {}).status)
      -- the gateway checks its own copy before an action
      local r = call(gw, "POST", "/mj/submit/action", { taskId = id, customId = "MJ::JOB::upsample::1::x" })
      assert.are.equal(400, r.status)
      assert.are.equal("task_status_not_success ", decode(r).description)
      gw:sync()
      t = assert(fetch(gw, id))
      assert.are.equal("SUCCESS", t.status)
      assert.are.equal("100%", t.progress)
      assert.are.equal("s-1", t.state)
      assert.are.equal(9, #t.buttons)
      assert.are.equal("SUCCESS", list(gw, { id })[1].status)
      assert.are.equal(200, call(gw, "GET", "/mj/image/" .. id, nil, {}).status)
      assert.are.equal(1, submit(gw, "action", { taskId = id, customId = find_button(t, "upsample::1::") }).code)
    end)

    it("freezes what fetch shows between two syncs", function()
      local id = submit(gw, "imagine", { prompt = "frozen" }).result
      gw:sync() -- the upstream has barely started: NOT_START or SUBMITTED
      local first = call(gw, "GET", "/mj/task/" .. id .. "/fetch").body
      local t = json.decode(first)
      assert.truthy(t.status == "NOT_START" or t.status == "SUBMITTED", t.status)
      wait_upstream(gw, id)
      assert.are.equal(first, call(gw, "GET", "/mj/task/" .. id .. "/fetch").body)
      gw:sync()
      assert.are.equal("SUCCESS", fetch(gw, id).status)
    end)

    it("moves in steps at its period: each change of what fetch shows is one sync apart", function()
      -- speed 100, sync 20 gateway seconds: a sync every 0.2 s, a job of 0.3-0.6 s
      local s = helper.start({ speed = 100, key = KEY, sync = 20 })
      local ok, err = pcall(function()
        local id = submit(s, "imagine", { prompt = "steps" }).result
        local seen = {} -- distinct snapshots: {key=, first_recv=, last_send=}
        local rank = { [""] = 0, NOT_START = 1, SUBMITTED = 2, IN_PROGRESS = 3, SUCCESS = 4 }
        local deadline = socket.gettime() + 10
        repeat
          local sent = socket.gettime()
          local t = assert(fetch(s, id))
          local recv = socket.gettime()
          local key = t.status .. " " .. t.progress
          local last = seen[#seen]
          if not last or last.key ~= key then
            if last then assert.is_true(rank[t.status] >= last.rank, "went backwards: " .. key) end
            seen[#seen + 1] = { key = key, rank = rank[t.status], first_recv = recv, last_send = sent }
          else
            last.last_send = sent
          end
          socket.sleep(0.005)
        until t.status == "SUCCESS" or socket.gettime() > deadline
        assert.are.equal("SUCCESS", seen[#seen].key:match("^%S+"))
        assert.is_true(#seen >= 3, "too few steps: " .. #seen)
        -- change i happens at a sync in (last_send of snapshot i-1, first_recv of snapshot i];
        -- two changes are a period (0.2 s) apart at least
        for i = 3, #seen do
          local span = seen[i].first_recv - seen[i - 2].last_send
          assert.is_true(span > 0.2, string.format("changes %d and %d less than a sync apart (%.3f s)", i - 1, i, span))
        end
      end)
      s:stop()
      assert(ok, err)
    end)

    it("keeps the old MODAL row for fetch until the next sync, and lists both rows for a while", function()
      local grid = synced(gw, submit(gw, "imagine", { prompt = "two rows" }).result)
      local up = synced(gw, submit(gw, "action", { taskId = grid.id, customId = find_button(grid, "upsample::1::") })
        .result)
      local env = submit(gw, "action", { taskId = up.id, customId = find_button(up, "^MJ::Inpaint") })
      assert.are.equal(21, env.code)
      local id = env.result
      assert_placeholder(assert(fetch(gw, id)))
      gw:sync()
      local m = assert(fetch(gw, id))
      assert.are.equal("MODAL", m.status)
      assert.are.equal("INPAINT", m.action)
      assert.are.equal(1, #list(gw, { id }))
      assert.are.equal(1, submit(gw, "modal", { taskId = id, prompt = "a lighthouse",
        maskBase64 = helper.mask() }).code)
      -- before the next sync: fetch shows the old row, list both rows
      m = assert(fetch(gw, id))
      assert.are.equal("MODAL", m.status)
      assert.are.equal("INPAINT", m.action)
      local rows = list(gw, { id, grid.id })
      assert.are.equal(3, #rows)
      assert.are.same({ id, id, grid.id }, { rows[1].id, rows[2].id, rows[3].id })
      assert.are.equal("MODAL", rows[1].status)
      assert.are.equal("INPAINT", rows[1].action)
      assert.are.equal("MODAL", rows[2].action)
      assert_placeholder(rows[2])
      assert.are.equal(grid.prompt, rows[2].prompt)
      assert.is_true(rows[2].submitTime >= rows[1].submitTime) -- inserted by the modal submit
      -- the job runs; the next sync shows the final state on both rows
      wait_upstream(gw, id)
      assert.are.equal("MODAL", fetch(gw, id).status)
      gw:sync()
      local done = assert(fetch(gw, id))
      assert.are.equal("SUCCESS", done.status)
      assert.are.equal("INPAINT", done.action)
      assert.are.equal(9, #done.buttons)
      rows = list(gw, { id })
      assert.are.equal(2, #rows)
      assert.are.same({ "INPAINT", "MODAL" }, { rows[1].action, rows[2].action })
      assert.are.same({ "SUCCESS", "SUCCESS" }, { rows[1].status, rows[2].status })
      assert.are.equal("a lighthouse", rows[2].promptEn)
      -- and one sync later the second row is gone
      gw:sync()
      rows = list(gw, { id })
      assert.are.equal(1, #rows)
      assert.are.equal("INPAINT", rows[1].action)
    end)

    it("shows the second row advancing while the job runs", function()
      local grid = synced(gw, submit(gw, "imagine", { prompt = "advancing" }).result)
      local env = submit(gw, "action", { taskId = grid.id, customId = find_button(grid, "variation::1::"),
        enableRemix = true })
      local id = env.result
      gw:sync()
      assert.are.equal(1, submit(gw, "modal", { taskId = id, prompt = "a remixed boat" }).code)
      gw:sync() -- right after the modal: the job has barely started
      local rows = list(gw, { id })
      assert.are.equal(2, #rows)
      assert.are_not.equal("MODAL", rows[1].status)
      assert.are_not.equal("", rows[2].status)
      assert.are.equal(rows[1].status, rows[2].status)
      assert.are.equal("MODAL", rows[2].action)
      assert.are.equal("VARIATION", rows[1].action)
    end)
  end)

  describe("Remix", function()
    it("sends variation, Vary (Subtle/Strong), pan and reroll with enableRemix through MODAL, code 1", function()
      local grid = synced(gw, submit(gw, "imagine", { prompt = "remix all --v 6.1" }).result)
      local up = synced(gw, submit(gw, "action", { taskId = grid.id, customId = find_button(grid, "upsample::2::") })
        .result)
      local cases = {
        { grid, "variation::4::", "VARIATION" }, { grid, "^MJ::JOB::reroll::", "REROLL" },
        { up, "low_variation", "LOW_VARIATION" }, { up, "high_variation", "HIGH_VARIATION" },
        { up, "pan_left", "PAN" }, { up, "pan_down", "PAN" },
      }
      local ids = {}
      for i, c in ipairs(cases) do
        local env = submit(gw, "action", { taskId = c[1].id, customId = find_button(c[1], c[2]), enableRemix = true })
        assert.are.equal(1, env.code, c[3]) -- the gateway rewrites 21 to 1 for a Remix pop-up
        assert.are.equal(true, env.properties.remix)
        ids[i] = env.result
      end
      gw:sync()
      for i, c in ipairs(cases) do
        local t = assert(fetch(gw, ids[i]))
        assert.are.equal("MODAL", t.status, c[3])
        assert.are.equal(c[3], t.action)
        -- a Remix pop-up needs the new prompt
        assert.are.equal(4, submit(gw, "modal", { taskId = ids[i] }).code)
        assert.are.equal(4, submit(gw, "modal", { taskId = ids[i], prompt = "   " }).code)
        local ok = submit(gw, "modal", { taskId = ids[i], prompt = "remixed " .. i })
        assert.are.equal(1, ok.code)
        assert.are.equal(ids[i], ok.result)
      end
      for i in ipairs(cases) do wait_upstream(gw, ids[i]) end
      gw:sync()
      for i, c in ipairs(cases) do
        local t = assert(fetch(gw, ids[i]))
        assert.are.equal("SUCCESS", t.status)
        assert.are.equal(c[3], t.action)
        assert.are.equal("remixed " .. i, t.promptEn)
        local labels = {}
        for j, b in ipairs(t.buttons) do labels[j] = b.label end
        assert.are.same({ "U1", "U2", "U3", "U4", "", "V1", "V2", "V3", "V4" }, labels) -- a 4-image grid
      end
    end)

    it("ignores enableRemix on an upscale and goes straight on without it", function()
      local grid = synced(gw, submit(gw, "imagine", { prompt = "no remix" }).result)
      local u = submit(gw, "action", { taskId = grid.id, customId = find_button(grid, "upsample::3::"),
        enableRemix = true })
      local v = submit(gw, "action", { taskId = grid.id, customId = find_button(grid, "variation::3::") })
      assert.are.equal("UPSCALE", synced(gw, u.result).action)
      assert.are.equal("VARIATION", synced(gw, v.result).action)
    end)

    it("with the account in Remix mode, opens the pop-up without enableRemix", function()
      local grid = synced(opt, submit(opt, "imagine", { prompt = "remix account" }).result)
      local v = submit(opt, "action", { taskId = grid.id, customId = find_button(grid, "variation::2::") })
      assert.are.equal(1, v.code)
      local c = submit(opt, "change", { taskId = grid.id, action = "VARIATION", index = 1 })
      assert.are.equal(1, c.code)
      local u = submit(opt, "action", { taskId = grid.id, customId = find_button(grid, "upsample::1::") })
      opt:sync()
      assert.are.equal("MODAL", fetch(opt, v.result).status)
      assert.are.equal("MODAL", fetch(opt, c.result).status)
      assert.are.equal(4, submit(opt, "modal", { taskId = v.result, prompt = "" }).code)
      assert.are.equal(1, submit(opt, "modal", { taskId = v.result, prompt = "remix mode" }).code)
      assert.are.equal("VARIATION", synced(opt, v.result).action)
      assert.are.equal("UPSCALE", synced(opt, u.result).action)
      assert.are.equal(true, opt:stats().remix_mode)
    end)

    it("still lets Vary Region fall back to the parent's prompt", function()
      local grid = synced(gw, submit(gw, "imagine", { prompt = "region fallback" }).result)
      local up = synced(gw, submit(gw, "action", { taskId = grid.id, customId = find_button(grid, "upsample::1::") })
        .result)
      local env = submit(gw, "action", { taskId = up.id, customId = find_button(up, "^MJ::Inpaint") })
      assert.are.equal(1, submit(gw, "modal", { taskId = env.result, maskBase64 = RAW_MASK }).code)
      assert.are.equal("region fallback", synced(gw, env.result).promptEn)
    end)
  end)

  describe("video extend", function()
    it("extends video n of a finished VIDEO task without an image", function()
      local vid = synced(gw, submit(gw, "video", { image = img, motion = "low", prompt = "waves", batchSize = 2 })
        .result)
      local env = submit(gw, "video", { action = "extend", taskId = vid.id, index = 1, motion = "high" })
      assert.are.equal(1, env.code)
      local t = synced(gw, env.result)
      assert.are.equal("VIDEO", t.action)
      assert.are.equal("waves", t.prompt)
      assert.are.equal(4, #t.videoUrls)
      assert.are.equal(1, submit(gw, "video", { action = "extend", taskId = vid.id, index = 0 }).code)
    end)

    it("validates like the gateway: unknown or unfinished parent, index, parent kind", function()
      local vid = synced(gw, submit(gw, "video", { image = img, prompt = "short", batchSize = 2 }).result)
      local r = call(gw, "POST", "/mj/submit/video", { action = "extend", taskId = "1773314942177999", index = 0 })
      assert.are.equal(400, r.status)
      assert.are.same({ description = "task_not_found ", type = "upstream_error", code = 4 }, decode(r))
      local running = submit(gw, "video", { image = img, prompt = "running" }).result
      r = call(gw, "POST", "/mj/submit/video", { action = "extend", taskId = running, index = 0 })
      assert.are.equal(400, r.status)
      assert.are.equal("task_status_not_success ", decode(r).description)
      for _, bad in ipairs({ 2, 4, -1, 1.5, "1", json.null }) do
        local e = submit(gw, "video", { action = "extend", taskId = vid.id, index = bad })
        assert.are.equal(4, e.code, tostring(bad))
        assert.are.equal(json.null, e.result)
      end
      assert.are.equal(4, submit(gw, "video", { action = "extend", index = 0 }).code)
      local grid = synced(gw, submit(gw, "imagine", { prompt = "not a video" }).result)
      assert.are.equal(4, submit(gw, "video", { action = "extend", taskId = grid.id, index = 0 }).code)
    end)
  end)

  describe("banned words and refusals", function()
    it("answers code 24 with bannedWord and promptEn for a banned word, and makes no task", function()
      local before = gw:stats().tasks
      local prompt = "a ForbiddenWord at sea"
      local e = submit(gw, "imagine", { prompt = prompt })
      assert.are.equal(24, e.code)
      assert.are.equal(json.null, e.result)
      assert.are.equal("forbiddenword", e.properties.bannedWord)
      assert.are.equal(prompt, e.properties.promptEn)
      assert.are.equal(24, submit(gw, "shorten", { prompt = "forbiddenword" }).code)
      assert.are.equal(24, submit(gw, "edits", { prompt = "forbiddenword", image = img }).code)
      assert.are.equal(24, submit(gw, "video", { prompt = "forbiddenword!", image = img }).code)
      assert.are.equal(before, gw:stats().tasks)
      -- whole words only
      assert.are.equal(1, submit(gw, "imagine", { prompt = "forbiddenwords and unforbiddenword" }).code)
      -- the modal's prompt too
      local grid = synced(gw, submit(gw, "imagine", { prompt = "clean" }).result)
      local env = submit(gw, "action", { taskId = grid.id, customId = find_button(grid, "variation::1::"),
        enableRemix = true })
      assert.are.equal(24, submit(gw, "modal", { taskId = env.result, prompt = "forbiddenword" }).code)
      assert.are.equal(1, submit(gw, "modal", { taskId = env.result, prompt = "allowed" }).code)
    end)

    it("takes the banned words from its options", function()
      local e = submit(opt, "imagine", { prompt = "a Red Fox in snow" })
      assert.are.equal(24, e.code)
      assert.are.equal("red fox", e.properties.bannedWord)
      assert.are.equal("teapot", submit(opt, "imagine", { prompt = "teapot" }).properties.bannedWord)
      assert.are.equal(1, submit(opt, "imagine", { prompt = "forbiddenword" }).code)
    end)

    it("injects code 9 (queue full) and code 3 (no account) without making a task", function()
      local inst = submit(gw, "imagine", { prompt = "instance" }).properties.discordInstanceId
      gw:faults({ { route = "imagine", kind = "code", code = 9 },
                  { route = "submit", kind = "code", code = 3, description = "无可用的账号实例", after = 1 } })
      local before = gw:stats().tasks
      local e = submit(gw, "imagine", { prompt = "full" })
      assert.are.equal(9, e.code)
      assert.are.equal("提交失败，队列已满，请稍后重试", e.description)
      assert.are.equal(json.null, e.result)
      assert.are.equal(inst, e.properties.discordInstanceId)
      e = submit(gw, "blend", { base64Array = { img, img } })
      assert.are.equal(3, e.code)
      assert.are.equal("无可用的账号实例", e.description)
      assert.are.equal(before, gw:stats().tasks)
    end)
  end)

  describe("/submit/change", function()
    it("makes the task of the matching button", function()
      local grid = synced(gw, submit(gw, "imagine", { prompt = "legacy --v 6.1" }).result)
      local u = submit(gw, "change", { taskId = grid.id, action = "UPSCALE", index = 2 })
      assert.are.equal(1, u.code)
      local same = submit(gw, "action", { taskId = grid.id, customId = find_button(grid, "upsample::2::") })
      assert.are.equal(u.result, same.result)
      local v = submit(gw, "change", { taskId = grid.id, action = "VARIATION", index = 3 })
      local r = submit(gw, "change", { taskId = grid.id, action = "REROLL", index = 1 })
      local s = submit(gw, "simple-change", { content = grid.id .. " V4" })
      local up = synced(gw, u.result)
      assert.are.equal("UPSCALE", up.action)
      assert.are.equal(13, #up.buttons)
      assert.are.equal("VARIATION", synced(gw, v.result).action)
      assert.are.equal("REROLL", synced(gw, r.result).action)
      assert.are.equal(9, #synced(gw, s.result).buttons)
    end)

    it("checks the body like the gateway, index required even for REROLL", function()
      local grid = synced(gw, submit(gw, "imagine", { prompt = "legacy checks" }).result)
      local function relay(body, want)
        local r = call(gw, "POST", "/mj/submit/change", body)
        assert.are.equal(400, r.status)
        assert.are.same({ description = want .. " ", type = "upstream_error", code = 4 }, decode(r))
      end
      relay({ taskId = grid.id, action = "REROLL", index = 0 }, "index_is_required")
      relay({ taskId = grid.id, action = "REROLL" }, "index_is_required")
      relay({ taskId = grid.id, index = 1 }, "action_is_required")
      relay({ action = "UPSCALE", index = 1 }, "task_id_is_required")
      relay({ taskId = "1773314942177999", action = "UPSCALE", index = 1 }, "task_not_found")
      local running = submit(gw, "imagine", { prompt = "not yet" }).result
      relay({ taskId = running, action = "UPSCALE", index = 1 }, "task_status_not_success")
      assert.are.equal(4, submit(gw, "change", { taskId = grid.id, action = "UPSCALE", index = 5 }).code)
      assert.are.equal(4, submit(gw, "change", { taskId = grid.id, action = "ZOOM", index = 1 }).code)
    end)
  end)

  describe("per-image URLs", function()
    it("lists the four images of a finished grid, each quadrant of the grid as its own PNG", function()
      local id = submit(opt, "imagine", { prompt = "four pictures" }).result
      opt:sync()
      assert.is_nil(fetch(opt, id).imageUrls)
      local grid = synced(opt, id)
      assert.are.equal(4, #grid.imageUrls)
      local r = call(opt, "GET", "/mj/image/" .. id, nil, {})
      local gw_, gh, gpx = check_png(r.body)
      assert.are.equal(256, gw_)
      assert.are.equal(256, gh)
      local colours = {}
      for i = 0, 3 do
        local url = grid.imageUrls[i + 1].url
        assert.are.equal(grid.imageUrl .. "/" .. i, url)
        r = call(opt, "GET", url:gsub("^http://[^/]+", ""), nil, {})
        assert.are.equal(200, r.status)
        assert.are.equal("image/png", r.headers["content-type"])
        local w, h, px = check_png(r.body)
        assert.are.equal(128, w)
        assert.are.equal(128, h)
        local ox, oy = (i % 2) * 128, i >= 2 and 128 or 0
        for y = 0, 127 do
          for x = 0, 127 do
            local a1, a2, a3 = px(x, y)
            local b1, b2, b3 = gpx(x + ox, y + oy)
            if a1 ~= b1 or a2 ~= b2 or a3 ~= b3 then
              error(string.format("image %d differs from the grid at %d,%d", i, x, y))
            end
          end
        end
        colours[table.concat({ px(60, 60) }, ",")] = true
      end
      local n = 0
      for _ in pairs(colours) do n = n + 1 end
      assert.are.equal(4, n)
      assert.are.equal(404, call(opt, "GET", "/mj/image/" .. id .. "/4", nil, {}).status)
      assert.are.equal(400, call(opt, "GET", "/mj/image/1234/0", nil, {}).status)
      -- an upscale is one image: no imageUrls
      local up = synced(opt, submit(opt, "action", { taskId = id, customId = find_button(grid, "upsample::1::") })
        .result)
      assert.is_nil(up.imageUrls)
      assert.are.equal(404, call(opt, "GET", "/mj/image/" .. up.id .. "/0", nil, {}).status)
    end)

    it("has no imageUrls field and no per-image route without the option, as on the gateway", function()
      local grid = synced(gw, submit(gw, "imagine", { prompt = "one picture" }).result)
      local r = call(gw, "GET", "/mj/task/" .. grid.id .. "/fetch")
      assert.is_nil(r.body:find("imageUrls", 1, true))
      r = call(gw, "GET", "/mj/image/" .. grid.id .. "/0", nil, {})
      assert.are.equal(404, r.status)
      assert.are.equal("invalid_request_error", decode(r).error.type)
    end)
  end)

  describe("instant mode", function()
    it("shows every change at once and one row per id", function()
      local s = helper.start({ speed = 200, key = KEY, instant = true })
      local ok, err = pcall(function()
        local grid = wait_status(s, submit(s, "imagine", { prompt = "instant" }).result, "SUCCESS")
        local up = wait_status(s, submit(s, "action", { taskId = grid.id,
          customId = find_button(grid, "upsample::1::") }).result, "SUCCESS")
        local id = submit(s, "action", { taskId = up.id, customId = find_button(up, "^MJ::Inpaint") }).result
        wait_status(s, id, "MODAL")
        assert.are.equal(1, submit(s, "modal", { taskId = id, prompt = "now", maskBase64 = RAW_MASK }).code)
        assert.are_not.equal("MODAL", fetch(s, id).status)
        assert.are.equal(1, #list(s, { id }))
      end)
      s:stop()
      assert(ok, err)
    end)
  end)
end)
