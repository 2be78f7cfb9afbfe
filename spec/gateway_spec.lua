-- The real gateway's awkward cases, against the simulator in its realistic (default) mode:
-- sync lag, stale MODAL rows after a modal answer, Remix in one call and in Remix mode,
-- video extend, banned words, the submit code table, buttons of unfinished tasks, the
-- first poll of a finished task, the older /submit/change endpoint and describe suggestions.
-- Every count is taken at the simulator.
local simulator = require("spec.helpers.simulator")
local clients = require("spec.helpers.client")
local mj = require("midjourney")
local retry = require("midjourney.retry")

local fast = { interval = 0.02, first_delay = 0, timeout = 60 }
local function with(o)
  local out = {}
  for k, v in pairs(fast) do out[k] = v end
  for k, v in pairs(o or {}) do out[k] = v end
  return out
end

describe("the realistic gateway #sim", function()
  local sim = simulator.for_block { speed = 300, seed = 21 }
  local client = clients.factory(sim, { retry_base = 0.01, retry_cap = 0.05 })

  local function grid_of(c, prompt)
    return assert(c:wait((assert(c:imagine(prompt or "a paper boat --v 6.1"))), fast))
  end

  it("a wait after a modal answer never returns the stale MODAL row (by hand)", function()
    local c = client()
    local up = assert(c:upscale(grid_of(c), 1, with { wait = true }))
    local id = assert(c:action(up, "Vary (Region)"))
    local m = assert(c:wait(id, fast))
    assert.are.equal("MODAL", m.status)
    assert(c:modal(m, { prompt = "a red sail", maskBase64 = simulator.mask() }))
    assert.is_true(c:answered_modal(id))
    -- the gateway serves the MODAL row until its next sync; the wait goes on through it
    -- to the end of the job
    local done = assert(c:wait(id, fast))
    assert.are.equal("SUCCESS", done.status)
    assert.are.equal(9, #done.buttons)
  end)

  it("coalesced waits and wait_all skip the stale rows too (list returns two rows for the id)", function()
    local c = client()
    local up = assert(c:upscale(grid_of(c), 2, with { wait = true }))
    local id = assert(c:action(up, "Custom Zoom"))
    assert.are.equal("MODAL", assert(c:wait(id, fast)).status)
    assert(c:modal(id, { prompt = "wider --zoom 1.5" }))
    local done = mj.run(function() return c:wait(id, fast) end)
    assert.are.equal("SUCCESS", done.status)
    local all, errs = c:wait_all({ id }, fast)
    assert.is_nil(errs)
    assert.are.equal("SUCCESS", all[id].status)
  end)

  it("remix in one call: a variation with a new prompt ends in SUCCESS with that prompt", function()
    local c = client()
    local grid = grid_of(c, "a boat")
    sim:reset()
    local t, err = c:variation(grid, 2, with { remix = "the same boat, at night", wait = true })
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
    assert.are.equal("the same boat, at night", t.promptEn)
    assert.are.equal(1, sim:count("action"))
    assert.are.equal(1, sim:count("modal"))
    -- action with remix returns the id once the dialog is answered
    local id = assert(c:action(grid, "V3", { remix = "a boat in the rain" }))
    assert.are.equal("SUCCESS", assert(c:wait(id, fast)).status)
    -- pan and reroll take it too
    local up = assert(c:upscale(grid, 1, with { wait = true }))
    t = assert(c:pan(up, "left", with { remix = "more sea on the left", wait = true }))
    assert.are.equal("SUCCESS", t.status)
  end)

  it("a verb given neither remix nor wait on an account in Remix mode leaves the dialog to the caller", function()
    -- (the auto-answer is the next spec's, on a Remix-mode simulator)
    local c = client()
    local grid = grid_of(c)
    local id = assert(c:variation(grid, 1))
    assert.are.equal("SUCCESS", assert(c:wait(id, fast)).status) -- no Remix mode here: no dialog
  end)

  it("extends a video with taskId and index, no image", function()
    local c = client()
    local vid = assert(c:video { image = "https://example.com/frame.png", motion = "low", prompt = "waves" })
    local video = assert(c:wait(vid, fast))
    assert.are.equal("SUCCESS", video.status)
    local ext, err = c:video { action = "extend", taskId = video.id, index = 0, prompt = "and on", motion = "low" }
    assert.is_string(ext, tostring(err))
    assert.are.equal("SUCCESS", assert(c:wait(ext, fast)).status)
    -- the local checks follow CometAPI's page: extend needs taskId and a 0-based index
    assert.has_error(function() c:video { action = "extend", taskId = video.id } end)
    assert.has_error(function() c:video { action = "extend", index = 0 } end)
    assert.has_error(function() c:video { motion = "low" } end) -- a new video needs an image
  end)

  it("a banned prompt (code 24) keeps the envelope's properties and names the word", function()
    local c = client()
    local id, err = c:imagine("a forbiddenword at dusk")
    assert.is_nil(id)
    assert.are.equal("api", err.kind)
    assert.are.equal(24, err.code)
    assert.are.equal("forbiddenword", err.properties.bannedWord)
    assert.is_string(err.properties.promptEn)
    assert.truthy(tostring(err):find("banned word: forbiddenword", 1, true), tostring(err))
    assert.is_false(err.retryable)
    assert.are.equal(1, sim:count("imagine"))
  end)

  it("err.retryable and the retry policy agree for every submit code (counted at the simulator)", function()
    local c = client()
    for _, code in ipairs({ 4, 9, 23, 24, 3, 77 }) do
      sim:reset()
      sim:faults { { route = "imagine", kind = "code", code = code, description = "code " .. code, times = -1 } }
      local id, err = c:imagine("a boat")
      assert.is_nil(id)
      local resent = sim:count("imagine") > 1
      assert.are.equal(retry.submit_code_retryable(code), err.retryable, "code " .. code)
      assert.are.equal(err.retryable, resent, "code " .. code .. ": retryable but not resent, or the reverse")
    end
    for _, code in ipairs({ 1, 21, 22 }) do
      sim:reset()
      sim:faults { { route = "imagine", kind = "code", code = code } }
      assert.is_string((c:imagine("a boat")), "code " .. code)
      assert.are.equal(1, sim:count("imagine"))
    end
  end)

  it("pressing a button of an unfinished task says so, with its status and percent", function()
    local c = client()
    local id = assert(c:imagine("a slow boat"))
    sim:reset()
    local newid, err = c:action(id, "U1")
    assert.is_nil(newid)
    assert.are.equal("invalid", err.kind)
    assert.truthy(err.message:find("is not finished", 1, true), err.message)
    assert.truthy(err.message:find("wait for it first", 1, true), err.message)
    assert.truthy(err.message:find('status ""', 1, true) or err.message:find("status %u"), err.message)
    assert.are.equal(0, sim:count("action"))
    newid, err = c:upscale(id, 1)
    assert.is_nil(newid)
    assert.truthy(err.message:find("is not finished", 1, true), err.message)
  end)

  it("a wait on a finished task costs one request, without the first delay", function()
    local c = client()
    local grid = grid_of(c)
    local other = client() -- did not submit it: no first delay
    sim:reset()
    local t0 = require("midjourney.core").now()
    local t = assert(other:wait(grid.id))
    assert.are.equal("SUCCESS", t.status)
    assert.are.equal(1, sim:count("fetch"))
    assert.is_true(require("midjourney.core").now() - t0 < 1)
    sim:reset()
    -- inside a coroutine: one list request
    t = mj.run(function() return other:wait(grid.id) end)
    assert.are.equal("SUCCESS", t.status)
    assert.are.equal(1, sim:count("list"))
    assert.are.equal(0, sim:count("fetch"))
  end)

  it("change: UPSCALE, VARIATION and REROLL through /mj/submit/change", function()
    local c = client()
    local grid = grid_of(c)
    for _, action in ipairs({ "UPSCALE", "VARIATION", "REROLL" }) do
      local id, err = c:change(grid, action, 2)
      assert.is_string(id, tostring(err))
      assert.are.equal("SUCCESS", assert(c:wait(id, fast)).status)
    end
    assert.are.equal(3, sim:count("change"))
    assert.has_error(function() c:change(grid, "ZOOM", 1) end)
    assert.has_error(function() c:change(grid, "UPSCALE", 5) end)
  end)

  it("a describe task's suggestions, unnumbered, ready for imagine", function()
    local c = client()
    local id = assert(c:describe { link = "https://example.com/boat.png" })
    local d = assert(c:wait(id, fast))
    local s = d:suggestions()
    assert.are.equal(4, #s)
    for i = 1, 4 do
      assert.is_nil(s[i]:find("^%d"), s[i])
      assert.is_nil(s[i]:find("\226\131\163", 1, true), s[i]) -- no keycap
    end
    assert.is_string((c:imagine(s[1])))
  end)
end)

describe("an account in Remix mode #sim", function()
  local sim = simulator.for_block { speed = 300, seed = 22, remix_mode = true }
  local client = clients.factory(sim)

  it("a plain variation with wait = true answers the unasked dialog with the source prompt and says so", function()
    local c = client()
    local grid = assert(c:wait((assert(c:imagine("a lighthouse"))), fast))
    local t, err = c:variation(grid, 1, with { wait = true })
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
    assert.is_table(t.auto_remix)
    assert.are.equal("a lighthouse", t.auto_remix.prompt)
    assert.truthy(t.auto_remix.reason:find("Remix mode", 1, true))
    assert.are.equal(1, sim:count("modal"))
  end)

  it("without wait, the verb returns the id and the task sits in MODAL for the caller", function()
    local c = client()
    local grid = assert(c:wait((assert(c:imagine("a harbour"))), fast))
    local id = assert(c:reroll(grid))
    assert.are.equal("MODAL", assert(c:wait(id, fast)).status)
  end)
end)
