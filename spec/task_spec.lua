local task = require("midjourney.task")
local json = require("midjourney.json")

local grid = [[{
  "id": 1773314942177684, "action": "IMAGINE", "status": "SUCCESS", "progress": "100%",
  "imageUrl": "https://api.cometapi.com/mj/image/1773314942177684", "failReason": null,
  "videoUrls": null,
  "buttons": [
    {"customId": "MJ::JOB::upsample::1::h1", "emoji": "", "label": "U1", "type": 2, "style": 2},
    {"customId": "MJ::JOB::upsample::2::h1", "emoji": "", "label": "U2", "type": 2, "style": 2},
    {"customId": "MJ::JOB::reroll::0::h1::SOLO", "emoji": "🔄", "label": "", "type": 2, "style": 2},
    {"customId": "MJ::JOB::variation::2::h1", "emoji": "", "label": "V2", "type": 2, "style": 2},
    {"customId": "MJ::JOB::low_variation::1::h1::SOLO", "emoji": "🪄", "label": "Vary (Subtle)", "type": 2, "style": 2},
    {"customId": "MJ::Inpaint::1::h1::SOLO", "emoji": "🖌️", "label": "Vary (Region)", "type": 2, "style": 2},
    {"customId": "MJ::Outpaint::50::1::h1::SOLO", "emoji": "🔍", "label": "Zoom Out 2x", "type": 2, "style": 2},
    {"customId": "MJ::Outpaint::75::1::h1::SOLO", "emoji": "🔍", "label": "Zoom Out 1.5x", "type": 2, "style": 2},
    {"customId": "MJ::CustomZoom::h1", "emoji": "🔍", "label": "Custom Zoom", "type": 2, "style": 2},
    {"customId": "MJ::JOB::pan_left::1::h1::SOLO", "emoji": "⬅️", "label": "", "type": 2, "style": 2}
  ],
  "properties": {"finalPrompt": "a boat", "finalZhPrompt": ""}
}]]

describe("midjourney.task", function()
  it("builds from JSON with wire field names and a string id", function()
    local t = assert(task.from_json(grid))
    assert.are.equal("1773314942177684", t.id)
    assert.are.equal("SUCCESS", t.status)
    assert.are.equal("IMAGINE", t.action)
    assert.is_nil(t.failReason)
    assert.is_nil(t.videoUrls)
    assert.are.equal("a boat", t.properties.finalPrompt)
    assert.are.equal(10, #t.buttons)
    assert.is_true(task.is_task(t))
  end)

  it("turns numeric ids into exact strings", function()
    assert.are.equal("1234", task.new({ id = 1234 }).id)
    assert.are.equal("1773314942177684", task.new({ id = 1773314942177684 }).id)
    local t = assert(task.from_json('{"id": 98765432109876543210, "status": ""}'))
    assert.are.equal("98765432109876543210", t.id)
  end)

  it("buttons is a list and callable; null, missing and empty give {}", function()
    local t = assert(task.from_json(grid))
    assert.are.equal(t.buttons, t:buttons())
    for _, body in ipairs({ '{"id":"1","buttons":null}', '{"id":"1"}', '{"id":"1","buttons":[]}',
                            '{"id":"1","buttons":"junk"}' }) do
      local x = assert(task.from_json(body))
      assert.are.same({}, x:buttons())
      assert.is_nil(x:button("U1"))
    end
  end)

  it("percent() tolerates every progress form", function()
    local cases = { ["45%"] = 45, ["85.5%"] = 85.5, ["100%"] = 100, ["0%"] = 0, [""] = false,
      ["N/A"] = false, ["150%"] = 100, ["-1%"] = 0 }
    for p, want in pairs(cases) do
      local got = task.new({ id = "1", progress = p }):percent()
      if want == false then assert.is_nil(got, p) else assert.are.equal(want, got, p) end
    end
    assert.are.equal(42, task.new({ id = "1", progress = 42 }):percent())
    assert.is_nil(task.new({ id = "1" }):percent())
  end)

  it("is_done() for SUCCESS, FAILURE, CANCEL and MODAL only", function()
    for s, want in pairs({ SUCCESS = true, FAILURE = true, CANCEL = true, MODAL = true, [""] = false,
                           NOT_START = false, SUBMITTED = false, IN_PROGRESS = false, WHATEVER = false }) do
      assert.are.equal(want, task.new({ id = "1", status = s }):is_done(), s)
    end
  end)

  it("finds buttons by label, emoji, customId and family", function()
    local t = assert(task.from_json(grid))
    assert.are.equal("MJ::JOB::upsample::1::h1", t:button("U1").customId)
    assert.are.equal("MJ::JOB::upsample::1::h1", t:button("u1").customId)
    assert.are.equal("MJ::JOB::reroll::0::h1::SOLO", t:button("🔄").customId)
    assert.are.equal("MJ::JOB::upsample::2::h1", t:button("upsample::2").customId)
    assert.are.equal("MJ::Outpaint::50::1::h1::SOLO", t:button("Outpaint::50").customId)
    assert.are.equal("MJ::Outpaint::75::1::h1::SOLO", t:button("Outpaint::75").customId)
    assert.are.equal("MJ::JOB::pan_left::1::h1::SOLO", t:button("pan_left").customId)
    assert.are.equal("MJ::JOB::reroll::0::h1::SOLO", t:button("reroll").customId)
    assert.are.equal("MJ::Inpaint::1::h1::SOLO", t:button("Inpaint").customId)
    assert.are.equal("MJ::CustomZoom::h1", t:button("CustomZoom").customId)
    assert.are.equal("MJ::JOB::low_variation::1::h1::SOLO", t:button("low_variation").customId)
    assert.are.equal("MJ::CustomZoom::h1", t:button("MJ::CustomZoom::h1").customId)
    assert.are.equal("MJ::Inpaint::1::h1::SOLO", t:button("🖌").customId) -- without U+FE0F
    assert.are.equal("MJ::JOB::upsample::2::h1", t:button({ label = "U2" }).customId)
    assert.is_nil(t:button("U4"))
    assert.is_nil(t:button("upsample::3"))
    assert.is_nil(t:button("variation::1")) -- whole parts only: low_variation::1 is not variation::1
    assert.is_nil(t:button("pan_right"))
    assert.is_nil(t:button("high_variation"))
    assert.has_error(function() t:button(42) end)
  end)

  it("materialises lazily and totable() gives a plain table", function()
    local t = assert(task.from_json(grid))
    local plain = t:totable()
    assert.is_nil(getmetatable(plain))
    assert.are.equal("1773314942177684", plain.id)
    assert.are.equal(10, #plain.buttons)
    local back = require("cjson").decode(json.encode(t))
    assert.are.equal("1773314942177684", back.id)
    assert.are.equal("U1", back.buttons[1].label)
  end)

  it("refuses non-objects", function()
    assert.is_nil((task.from_json("[1,2]")))
    assert.is_nil((task.from_json("not json")))
    assert.has_error(function() task.new("x") end)
  end)
end)
