-- Verbs on buttons, the customId-from-newest-buttons rule, MODAL flows, download.
local simulator = require("spec.helpers.simulator")
local mj = require("midjourney")

local MASK = require("spec.helpers.simulator").mask(64, 64, 128, 96)
  .. "hKmMIQAAAABJRU5ErkJggg=="

describe("client verbs #sim", function()
  local sim = simulator.for_block { speed = 200, seed = 1, key = "sk-test" }
  local c
  local fast = { first_delay = 0, interval = 0.05 }
  setup(function() c = mj.new { api_key = sim.key, base_url = sim.url } end)
  local function w(extra)
    local o = { wait = true }
    for k, v in pairs(fast) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  local grid, up
  it("upscale(task, i) with wait gives the upscaled task", function()
    grid = assert(c:wait(assert(c:imagine("a paper boat --v 6.1")), fast))
    local t, err = c:upscale(grid, 2, w())
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
    assert.are.equal("UPSCALE", t.action)
    up = t
    assert.is_table(up:button("Outpaint::50"))
  end)

  it("action on an id or a stale snapshot fetches the newest buttons first", function()
    local id = assert(c:imagine("another boat --v 6.1"))
    local stale = assert(c:fetch(id)) -- not SUCCESS yet: no buttons
    assert.are_not.equal("SUCCESS", stale.status)
    assert(c:wait(id, fast))
    local before = sim:count("fetch")
    local nid, err = c:action(stale, "U1")
    assert.is_string(nid, tostring(err))
    assert.are.equal(before + 1, sim:count("fetch"))
    -- by id too
    local nid2 = assert(c:action(id, "V1"))
    assert.is_string(nid2)
    -- every job has its own hash: the upscale's U-family customIds differ from the grid's
    local g = assert(c:fetch(id))
    local u = assert(c:wait(nid, fast))
    assert.are_not.equal(g:button("U1").customId, (u:button("Vary (Subtle)") or {}).customId)
  end)

  it("a button the task does not have is a clear error naming it", function()
    local t, err = c:zoom_out(grid, 2)
    assert.is_nil(t)
    assert.are.equal("invalid", err.kind)
    assert.truthy(err.message:find("Zoom Out 2x", 1, true))
    local n, e2 = c:action(grid, "Nope")
    assert.is_nil(n)
    assert.truthy(e2.message:find('"Nope"', 1, true))
    assert.truthy(e2.message:find("U1", 1, true)) -- lists what exists
    assert.has_error(function() c:zoom_out(grid, 3) end)
    assert.has_error(function() c:pan(grid, "sideways") end)
    assert.has_error(function() c:upscale(grid, 5) end)
  end)

  it("variation, reroll, zoom_out, pan, upscale_hd each start a job", function()
    local calls = {
      function() return c:variation(grid, 3) end,
      function() return c:reroll(grid) end,
      function() return c:variation(up, nil, { strong = true }) end,
      function() return c:variation(up) end,
      function() return c:zoom_out(up, 2) end,
      function() return c:zoom_out(up, 1.5) end,
      function() return c:pan(up, "left") end,
      function() return c:upscale_hd(up, "subtle") end,
      function() return c:upscale_hd(up, "creative") end,
    }
    for i, f in ipairs(calls) do
      local id, env = f()
      assert.is_string(id, i .. ": " .. tostring(env))
    end
    assert.are.equal(#calls, sim:count("action"))
    local t = assert(c:zoom_out(up, 2, w()))
    assert.are.equal("SUCCESS", t.status)
  end)

  it("vary_region: action, MODAL, then the mask and prompt, in one call", function()
    local t, err = c:vary_region(up, MASK, "a red sail", w())
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
    assert.are.equal(1, sim:count("action"))
    assert.are.equal(1, sim:count("modal"))
  end)

  it("custom_zoom: action, MODAL, then the prompt", function()
    local id, env = c:custom_zoom(up, "a paper boat --zoom 1.5")
    assert.is_string(id, tostring(env))
    local t = assert(c:wait(id, fast))
    assert.are.equal("SUCCESS", t.status)
    -- the simulator refuses a custom zoom without --zoom: an api error
    local _, err = c:custom_zoom(up, "no zoom flag")
    assert.are.equal("api", err.kind)
    assert.are.equal(4, err.code)
  end)

  it("modal() by hand after an action that ends in MODAL", function()
    local mid = assert(c:action(up, "CustomZoom"))
    local m = assert(c:wait(mid, fast))
    assert.are.equal("MODAL", m.status)
    local same, env = c:modal(m, { prompt = "boat --zoom 2" })
    assert.are.equal(mid, same, tostring(env))
    assert.are.equal("SUCCESS", assert(c:wait(mid, fast)).status)
  end)

  describe("download", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local function exists(p) local f = io.open(p, "rb"); if f then f:close() end; return f ~= nil end

    it("streams the image to the path, atomically", function()
      local path = dir .. "/up.png"
      local p, info = c:download(up, path)
      assert.are.equal(path, p, tostring(info))
      local f = assert(io.open(path, "rb"))
      local head = f:read(8)
      f:close()
      assert.are.equal("\137PNG\r\n\26\n", head)
      assert.is_false(exists(path .. ".part"))
      assert.truthy(info.content_type:find("^image/"))
    end)

    it("fails cleanly on 404, wrong content type and size cap, leaving no partial file", function()
      local path = dir .. "/bad.png"
      local p, err = c:download(sim.url .. "/mj/image/9999999999999999", path)
      assert.is_nil(p)
      assert.is_true(err.kind == "not_found" or err.kind == "http", tostring(err))
      assert.is_false(exists(path)); assert.is_false(exists(path .. ".part"))
      sim:faults { { path = "/mj/image/*", kind = "html" } }
      p, err = c:download(up, path)
      assert.is_nil(p)
      assert.are.equal("decode", err.kind)
      assert.is_false(exists(path)); assert.is_false(exists(path .. ".part"))
      p, err = c:download(up, path, { max_bytes = 10 })
      assert.is_nil(p)
      assert.truthy(err.error_kind == "too_large", tostring(err))
      assert.is_false(exists(path)); assert.is_false(exists(path .. ".part"))
    end)

    it("follows a redirect", function()
      local path = dir .. "/redir.png"
      sim:faults { { path = "/mj/image/*", kind = "redirect", status = 302, location = up.imageUrl } }
      local p, err = c:download(up, path)
      assert.are.equal(path, p, tostring(err))
      assert.are.equal(2, sim:stats().requests)
    end)

    it("redacts the URL query string in errors", function()
      local p, err = c:download(sim.url .. "/mj/image/9999999999999999?sig=SECRETSIG", dir .. "/x.png")
      assert.is_nil(p)
      assert.is_nil(tostring(err):find("SECRETSIG", 1, true))
    end)
  end)
end)
