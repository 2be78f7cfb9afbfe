-- The C scanners of midjourney.core: scan_json, quote_big_integers,
-- parse_retry_after(_ms), parse_progress, classify, integerize.
local core = require("midjourney.core")

local is54 = math.type ~= nil
local function mtype(v)
  if is54 then return math.type(v) end
  return type(v)
end

-- api.md 7.7 SUCCESS imagine (the poll hot path), as the gateway sends it (compact)
local BTN = '{"customId":"MJ::JOB::%s::%d::9b2f6c1e-4d7a-4a4e-9f0e-0c3b8d2a7e51%s","emoji":"%s",'
  .. '"label":"%s","type":2,"style":2}'
local buttons = {}
for i = 1, 4 do buttons[#buttons + 1] = BTN:format("upsample", i, "", "", "U" .. i) end
buttons[#buttons + 1] = BTN:format("reroll", 0, "::SOLO", "\240\159\148\132", "")
for i = 1, 4 do buttons[#buttons + 1] = BTN:format("variation", i, "", "", "V" .. i) end
local TASK_SUCCESS = '{"id":"1773314942177684","action":"IMAGINE","customId":"","botType":"",'
  .. '"prompt":"a paper boat floating on calm water at sunrise --v 6.1",'
  .. '"promptEn":"a paper boat floating on calm water at sunrise --v 6.1",'
  .. '"description":"Submit success","state":"order-4711","submitTime":1773314942177,'
  .. '"startTime":1773314944120,"finishTime":1773314983561,'
  .. '"imageUrl":"https://api.cometapi.com/mj/image/1773314942177684","videoUrl":"","videoUrls":null,'
  .. '"status":"SUCCESS","progress":"100%","failReason":"","buttons":[' .. table.concat(buttons, ",") .. '],'
  .. '"maskBase64":"","properties":{"finalPrompt":"a paper boat floating on calm water at sunrise --v 6.1 --fast",'
  .. '"finalZhPrompt":""}}'

-- api.md 7.5, pretty-printed as in the document
local TASK_PLACEHOLDER = [[
{
  "id": "1773314942177684",
  "action": "IMAGINE",
  "customId": "",
  "botType": "",
  "prompt": "a paper boat floating on calm water at sunrise --v 6.1",
  "promptEn": "",
  "description": "Submit success",
  "state": "",
  "submitTime": 1773314942190,
  "startTime": 0,
  "finishTime": 0,
  "imageUrl": "",
  "videoUrl": "",
  "videoUrls": null,
  "status": "",
  "progress": "0%",
  "failReason": "",
  "buttons": null,
  "maskBase64": "",
  "properties": null
}
]]

-- api.md 7.13 (shortened)
local LIST = [[
[
  {
    "id": "1773314942177684", "action": "IMAGINE", "status": "SUCCESS", "progress": "100%",
    "submitTime": 1773314942177,
    "buttons": [ { "customId": "MJ::JOB::upsample::1::9b2f6c1e-4d7a-4a4e-9f0e-0c3b8d2a7e51",
                   "emoji": "", "label": "U1", "type": 2, "style": 2 } ],
    "properties": { "finalPrompt": "x", "finalZhPrompt": "" }
  },
  {
    "id": "1773316012840517", "action": "IMAGINE", "status": "FAILURE", "progress": "100%",
    "failReason": "[Banned prompt detected] Sorry! Our AI moderator thinks this prompt is against our standards.",
    "buttons": [], "properties": { "finalPrompt": "", "finalZhPrompt": "" }
  }
]
]]

describe("core.scan_json", function()
  it("gives the top-level scalar fields of a SUCCESS task (7.7)", function()
    local info = assert(core.scan_json(TASK_SUCCESS))
    assert.equal("object", info.type)
    local f = info.fields
    assert.equal("1773314942177684", f.id)
    assert.equal("SUCCESS", f.status)
    assert.equal("100%", f.progress)
    assert.equal("", f.failReason)
    assert.equal("order-4711", f.state)
    assert.equal(1773314942177, f.submitTime)
    assert.equal(1773314983561, f.finishTime)
    if is54 then assert.equal("integer", mtype(f.finishTime)) end
    -- null and nested values are omitted
    assert.is_nil(f.videoUrls)
    assert.is_nil(f.buttons)
    assert.is_nil(f.properties)
    assert.is_nil(info.items)
  end)

  it("reads a pretty-printed placeholder task (7.5): empty status, null buttons", function()
    local info = assert(core.scan_json(TASK_PLACEHOLDER))
    assert.equal("", info.fields.status)
    assert.equal("0%", info.fields.progress)
    assert.equal(0, info.fields.startTime)
    assert.is_nil(info.fields.buttons)
  end)

  it("gives list items with raw text and fields (7.13)", function()
    local info = assert(core.scan_json(LIST))
    assert.equal("array", info.type)
    assert.equal(2, #info.items)
    local a, b = info.items[1], info.items[2]
    assert.equal("object", a.type)
    assert.equal("1773314942177684", a.fields.id)
    assert.equal("SUCCESS", a.fields.status)
    assert.equal("FAILURE", b.fields.status)
    assert.truthy(b.fields.failReason:find("Banned prompt", 1, true))
    -- raw is exactly the element's text and scans on its own
    assert.equal("{", a.raw:sub(1, 1))
    assert.equal("}", a.raw:sub(-1))
    local again = assert(core.scan_json(a.raw))
    assert.equal("1773314942177684", again.fields.id)
    assert.truthy(LIST:find(b.raw, 1, true))
  end)

  it("gives raw and value for scalar and nested array items", function()
    local info = assert(core.scan_json(' [ "a\\"b" , 3 , true, null, [1, [2]], {} ] '))
    local it = info.items
    assert.equal(6, #it)
    assert.same({ "string", '"a\\"b"', 'a"b' }, { it[1].type, it[1].raw, it[1].value })
    assert.same({ "number", "3", 3 }, { it[2].type, it[2].raw, it[2].value })
    assert.same({ "boolean", "true", true }, { it[3].type, it[3].raw, it[3].value })
    assert.same({ "null", "null" }, { it[4].type, it[4].raw })
    assert.is_nil(it[4].value)
    assert.same({ "array", "[1, [2]]" }, { it[5].type, it[5].raw })
    assert.same({ "object", "{}" }, { it[6].type, it[6].raw })
    assert.same({}, it[6].fields)
    assert.same({}, assert(core.scan_json("[]")).items)
  end)

  it("reports top-level scalars", function()
    assert.same({ type = "string", value = "x" }, core.scan_json(' "x" '))
    assert.same({ type = "boolean", value = false }, core.scan_json("false"))
    assert.same({ type = "null" }, core.scan_json("null"))
    local n = core.scan_json("-12.5e1")
    assert.equal("number", n.type)
    assert.equal(-125, n.value)
  end)

  describe("number rule", function()
    it("keeps ids of 16+ digits as exact strings, also beyond 2^53", function()
      local f = assert(core.scan_json(
        '{"a":1773314942177684,"b":9007199254740993,"c":-12345678901234567890123,"d":123456789012345}')).fields
      assert.equal("1773314942177684", f.a)
      assert.equal("9007199254740993", f.b)
      assert.equal("-12345678901234567890123", f.c)
      assert.equal(123456789012345, f.d) -- 15 digits: a number
      assert.equal("number", type(f.d))
    end)

    it("makes integral numbers integers on 5.3+, other numbers floats", function()
      local f = assert(core.scan_json('{"a":1.0,"b":2.5,"c":1e3,"d":-0,"e":1e300,"f":0.1}')).fields
      assert.equal(1, f.a)
      assert.equal(2.5, f.b)
      assert.equal(1000, f.c)
      assert.equal(0, f.d)
      assert.equal(1e300, f.e)
      assert.equal(0.1, f.f)
      if is54 then
        assert.equal("integer", mtype(f.a))
        assert.equal("float", mtype(f.b))
        assert.equal("integer", mtype(f.c))
        assert.equal("float", mtype(f.e))
      end
    end)

    it("does not round long fractions or exponents into strings", function()
      local f = assert(core.scan_json('{"a":1.2345678901234567,"b":12345678901234567e2}')).fields
      assert.equal("number", type(f.a))
      assert.equal("number", type(f.b))
    end)
  end)

  describe("strings", function()
    it("unescapes every escape", function()
      local f = assert(core.scan_json([[{"s":"\"\\\/\b\f\n\r\t","k\"ey":1}]])).fields
      assert.equal('"\\/\b\f\n\r\t', f.s)
      assert.equal(1, f['k"ey'])
    end)

    it("decodes \\u escapes and surrogate pairs to UTF-8", function()
      local text = [[{"a":"\u00e9\u4e2d","b":"\ud83d\udd04","c":"\u0000x","d":"\uD83D\uDE00"}]]
      local f = assert(core.scan_json(text)).fields
      assert.equal("\195\169\228\184\173", f.a)
      assert.equal("\240\159\148\132", f.b) -- U+1F504, the reroll emoji
      assert.equal("\0x", f.c)
      assert.equal("\240\159\152\128", f.d)
    end)

    it("refuses lone surrogates, as lua-cjson does (both decoders accept the same bodies)", function()
      for _, body in ipairs({ [[{"a":"\ud83d"}]], [[{"b":"\ude00x"}]], [[{"c":"\ud83d\u0041"}]], [["\ud800]] }) do
        local info, err = core.scan_json(body)
        assert.is_nil(info, body)
        assert.truthy(err:find("surrogate", 1, true), err)
      end
      assert.equal("\240\159\152\128", assert(core.scan_json([[{"d":"\ud83d\ude00"}]])).fields.d)
    end)

    it("passes raw UTF-8 through and unescapes long strings", function()
      local long = string.rep("\228\184\173\\n", 400)
      local f = assert(core.scan_json('{"zh":"可能包含敏感词","long":"' .. long .. '"}')).fields
      assert.equal("可能包含敏感词", f.zh)
      assert.equal(string.rep("\228\184\173\n", 400), f.long)
    end)
  end)

  describe("invalid JSON", function()
    local cases = {
      { "", "unexpected end of text at byte 1" },
      { "   ", "unexpected end of text" },
      { "{", "unexpected end of text" },
      { '{"a":1', "unexpected end of text" },
      { '{"a":1} x', "trailing garbage at byte 9" },
      { '{"a":1}{}', "trailing garbage" },
      { "[1,]", "unexpected character at byte 4" },
      { '{"a":1,}', "expected string key" },
      { "{a:1}", "expected string key at byte 2" },
      { '{"a" 1}', "expected ':'" },
      { '{"a":1 "b":2}', "expected ',' or '}'" },
      { "[1 2]", "expected ',' or ']'" },
      { "[01]", "leading zero" },
      { "[1.]", "invalid number" },
      { "[1e]", "invalid number" },
      { "[-]", "invalid number" },
      { "[.5]", "unexpected character" },
      { "[+1]", "unexpected character" },
      { "[tru]", "invalid literal" },
      { "[nul", "unexpected end of text" },
      { "[NaN]", "unexpected character" },
      { "[Infinity]", "unexpected character" },
      { '["a\\x"]', "invalid escape" },
      { '["\\u12G4"]', "invalid \\u escape" },
      { '["\\u12', "truncated \\u escape" },
      { '["abc', "unterminated string" },
      { '["a\nb"]', "control character in string" },
      { '["a\tb"]', "control character in string" },
      { "{'a':1}", "expected string key" },
      { "/* c */ {}", "unexpected character at byte 1" },
    }
    for _, c in ipairs(cases) do
      it(("rejects %q"):format(c[1]), function()
        local info, err = core.scan_json(c[1])
        assert.is_nil(info)
        assert.equal("string", type(err))
        assert.truthy(err:find("^invalid JSON: "), err)
        assert.truthy(err:find(c[2], 1, true), err)
      end)
    end

    it("rejects NUL bytes outside strings and raw NUL inside them", function()
      local _, e1 = core.scan_json('{"a":1}\0')
      assert.truthy(e1:find("NUL byte after the value at byte 8", 1, true), e1)
      local _, e2 = core.scan_json('{"a":\0 1}')
      assert.truthy(e2:find("NUL byte at byte 6", 1, true), e2)
      local _, e3 = core.scan_json('{"a":"x\0y"}')
      assert.truthy(e3:find("NUL byte in string", 1, true), e3)
      local _, e4 = core.scan_json('[1,\0]')
      assert.truthy(e4:find("NUL byte", 1, true), e4)
    end)

    it("rejects every truncation of a valid task", function()
      local text = TASK_SUCCESS
      for cut = 0, #text - 1 do
        local info, err = core.scan_json(text:sub(1, cut))
        if info then error("accepted a truncation at " .. cut) end
        assert.truthy(err:find("^invalid JSON"))
      end
      assert.truthy(core.scan_json(text))
    end)

    it("stops a depth bomb at the limit (default 64)", function()
      local ok = string.rep("[", 64) .. string.rep("]", 64)
      local bad = string.rep("[", 65) .. string.rep("]", 65)
      assert.truthy(core.scan_json(ok))
      local info, err = core.scan_json(bad)
      assert.is_nil(info)
      assert.truthy(err:find("too deeply nested at byte 65", 1, true), err)
      local obj = string.rep('{"a":', 65) .. "1" .. string.rep("}", 65)
      assert.truthy(select(2, core.scan_json(obj)):find("too deeply nested", 1, true))
      -- a huge bomb fails fast, without recursion
      local info2, err2 = core.scan_json(string.rep("[", 1000000))
      assert.is_nil(info2)
      assert.truthy(err2:find("too deeply nested", 1, true))
      -- inside a list item
      local _, err3 = core.scan_json("[" .. bad .. "]")
      assert.truthy(err3:find("too deeply nested", 1, true))
    end)

    it("honours max_depth", function()
      assert.truthy(core.scan_json('{"a":[1]}', 2))
      assert.is_nil(core.scan_json('{"a":[1]}', 1))
      assert.truthy(core.scan_json('{"a":1}', 1))
      assert.truthy(core.scan_json(string.rep("[", 100) .. string.rep("]", 100), 100))
    end)
  end)

  it("raises on wrong argument types", function()
    assert.has_error(function() core.scan_json(nil) end)
    assert.has_error(function() core.scan_json(42) end)
    assert.has_error(function() core.scan_json({}) end)
    assert.has_error(function() core.scan_json("{}", "deep") end)
    assert.has_error(function() core.scan_json("{}", 0) end)
    assert.has_error(function() core.scan_json("{}", 1.5) end)
    local ok, err = pcall(core.scan_json, true)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("string expected, got boolean", 1, true))
  end)

  it("agrees with lua-cjson on what is valid (sampled)", function()
    local cjson = require("cjson").new()
    local samples = {
      TASK_SUCCESS, TASK_PLACEHOLDER, LIST, "[]", "{}", '{"a":[{"b":null}]}', "[1,2", "{,}",
      '{"a":1,"a":2}', "[1e5,-0.5,0]", '"\\ud83d\\ude00"', "[true,false,null]", "[1 2]",
    }
    for _, s in ipairs(samples) do
      local ours = core.scan_json(s) ~= nil
      local theirs = pcall(cjson.decode, s)
      assert.equal(theirs, ours, s)
    end
  end)
end)

describe("core.quote_big_integers", function()
  it("quotes integer literals of 16+ digits outside strings", function()
    local out = core.quote_big_integers('{"id":1773314942177684,"n":-12345678901234567,"small":123456789012345}')
    assert.equal('{"id":"1773314942177684","n":"-12345678901234567","small":123456789012345}', out)
  end)

  it("leaves strings, fractions and exponents alone", function()
    local s = '{"s":"1773314942177684","e":"a\\"1773314942177684","f":1.2345678901234567,'
      .. '"x":12345678901234567e3,"y":1.5E+1234567890123456789}'
    assert.equal(s, core.quote_big_integers(s))
  end)

  it("returns the very same string when nothing changes", function()
    local s = TASK_SUCCESS
    assert.equal(s, core.quote_big_integers(s))
    assert.equal("", core.quote_big_integers(""))
  end)

  it("quotes in arrays, at the edges and next to whitespace", function()
    assert.equal('["1234567890123456"]', core.quote_big_integers("[1234567890123456]"))
    assert.equal('"1234567890123456"', core.quote_big_integers("1234567890123456"))
    assert.equal('[ "1234567890123456" , "9999999999999999999999" ]',
      core.quote_big_integers("[ 1234567890123456 , 9999999999999999999999 ]"))
  end)

  it("makes big ids survive lua-cjson exactly", function()
    local cjson = require("cjson").new()
    local t = cjson.decode(core.quote_big_integers('{"result":9007199254740993,"code":1}'))
    assert.equal("9007199254740993", t.result)
    assert.equal(1, t.code)
  end)

  it("raises on a non-string", function()
    assert.has_error(function() core.quote_big_integers(12) end)
    assert.has_error(function() core.quote_big_integers() end)
  end)
end)

describe("core.parse_retry_after", function()
  -- Sun, 06 Nov 1994 08:49:37 GMT
  local T = 784111777

  it("parses delta-seconds, with fractions", function()
    assert.equal(0, core.parse_retry_after("0"))
    assert.equal(3, core.parse_retry_after("3"))
    assert.equal(1.5, core.parse_retry_after("1.5"))
    assert.equal(120, core.parse_retry_after(" 120 "))
    assert.equal(86400, core.parse_retry_after("86400"))
    assert.equal(0.25, core.parse_retry_after("0.25"))
  end)

  it("parses the three HTTP-date forms relative to now", function()
    assert.equal(10, core.parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", T - 10))
    assert.equal(10, core.parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", T - 10))
    assert.equal(10, core.parse_retry_after("Sun Nov  6 08:49:37 1994", T - 10))
    assert.equal(2.5, core.parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", T - 2.5))
    assert.equal(0, core.parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", T))
    -- a leap day and the end of a year
    assert.equal(1, core.parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800 - 1))
    assert.equal(5, core.parse_retry_after("Fri, 01 Jan 2027 00:00:05 GMT", 1798761600))
  end)

  it("never returns a negative wait for a past date", function()
    assert.equal(0, core.parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", T + 3600))
    assert.equal(0, core.parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"))
  end)

  it("uses the current time when now is not given", function()
    local future = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 30)
    local s = core.parse_retry_after(future)
    assert.truthy(s and s >= 25 and s <= 31, tostring(s))
  end)

  local nonsense = {
    "", "   ", "-1", "-10", "+5", "inf", "Infinity", "nan", "NaN", "1e3", "0x10", "1.", ".5",
    "1,5", "5s", "soon", "99999999999999999999", "86401", "100000", "1.5.2",
    "Sun, 06 Nov 1994 08:49:37", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 29 Feb 1994 08:49:37 GMT",
    "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT junk", "Sun Nov  6 08:49:37", "2024-01-01T00:00:00Z",
  }
  for _, v in ipairs(nonsense) do
    it(("rejects %q"):format(v), function()
      assert.is_nil(core.parse_retry_after(v, T))
    end)
  end

  it("rejects a date more than a day ahead", function()
    assert.is_nil(core.parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", T - 86401))
    assert.equal(86400, core.parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", T - 86400))
  end)

  it("takes numbers and nil", function()
    assert.equal(2, core.parse_retry_after(2))
    assert.is_nil(core.parse_retry_after(-1))
    assert.is_nil(core.parse_retry_after(0 / 0))
    assert.is_nil(core.parse_retry_after(math.huge))
    assert.is_nil(core.parse_retry_after(nil))
  end)

  it("raises on wrong types", function()
    assert.has_error(function() core.parse_retry_after({}) end)
    assert.has_error(function() core.parse_retry_after(true) end)
    assert.has_error(function() core.parse_retry_after("1", "now") end)
  end)
end)

describe("core.parse_retry_after_ms", function()
  it("gives seconds from milliseconds", function()
    assert.equal(1.5, core.parse_retry_after_ms("1500"))
    assert.equal(0.0015, core.parse_retry_after_ms("1.5"))
    assert.equal(0, core.parse_retry_after_ms("0"))
    assert.equal(2, core.parse_retry_after_ms(2000))
  end)

  it("rejects nonsense", function()
    for _, v in ipairs({ "", "-5", "nan", "inf", "abc", "1e3", "86400001", "99999999999999999999" }) do
      assert.is_nil(core.parse_retry_after_ms(v), v)
    end
    assert.is_nil(core.parse_retry_after_ms(nil))
    assert.is_nil(core.parse_retry_after_ms(-1))
    assert.has_error(function() core.parse_retry_after_ms({}) end)
  end)
end)

describe("core.parse_progress", function()
  local good = {
    { "45%", 45 }, { "85.5%", 85.5 }, { " 7 %", 7 }, { "100%", 100 }, { "0%", 0 }, { "100", 100 },
    { "150%", 100 }, { "-3%", 0 }, { "33.333%", 33.333 }, { "\t12%\n", 12 },
  }
  for _, c in ipairs(good) do
    it(("reads %q as %s"):format(c[1], c[2]), function()
      assert.equal(c[2], core.parse_progress(c[1]))
    end)
  end

  local bad = { "", "  ", "N/A", "%", "abc", "45%%", "4 5%", "1e2%", "nan", "NaN%", "inf", "--1", "45 percent" }
  for _, v in ipairs(bad) do
    it(("gives nil for %q"):format(v), function()
      assert.is_nil(core.parse_progress(v))
    end)
  end

  it("clamps numbers and drops NaN", function()
    assert.equal(45, core.parse_progress(45))
    assert.equal(100, core.parse_progress(250))
    assert.equal(0, core.parse_progress(-1))
    assert.equal(100, core.parse_progress(math.huge))
    assert.is_nil(core.parse_progress(0 / 0))
    assert.is_nil(core.parse_progress(nil))
    if is54 then assert.equal("integer", mtype(core.parse_progress("45%"))) end
  end)

  it("raises on wrong types", function()
    assert.has_error(function() core.parse_progress({}) end)
    assert.has_error(function() core.parse_progress(false) end)
  end)
end)

describe("core.classify", function()
  it("reads an accepted submit (7.1)", function()
    local c = core.classify(200, '{"code":1,"description":"Submit success","result":"1773314942177684",'
      .. '"properties":{"discordChannelId":"5e6ca8e1f40e4de6","discordInstanceId":"5e6ca8e1f40e4de6"}}')
    assert.equal("submit", c.shape)
    assert.equal(200, c.status)
    assert.equal(1, c.code)
    assert.equal("Submit success", c.description)
    assert.equal("1773314942177684", c.result)
    assert.equal("string", c.result_kind)
    assert.equal("5e6ca8e1f40e4de6", c.properties.discordChannelId)
  end)

  it("reads a queued submit and a modal (7.2, 7.3)", function()
    local q = core.classify(200, '{"code":1,"description":"排队中，前面还有2个任务","result":"1773315007331902",'
      .. '"properties":{"numberOfQueues":2}}')
    assert.equal(2, q.properties.numberOfQueues)
    local m = core.classify(200, '{"code":21,"description":"Waiting for window confirm","result":"1773315402118733",'
      .. '"properties":{"finalPrompt":"a paper boat","remix":true}}')
    assert.equal(21, m.code)
    assert.equal("1773315402118733", m.result)
    assert.is_true(m.properties.remix)
  end)

  it("turns a numeric result into its exact digits", function()
    local c = core.classify(200, '{"code":1,"description":"ok","result":9007199254740993}')
    assert.equal("9007199254740993", c.result)
    assert.equal("string", c.result_kind)
  end)

  it("tells null, absent and array results apart", function()
    local n = core.classify(200, '{"code":4,"description":"base64格式错误","result":null,"properties":{}}')
    assert.same({ "submit", 4, "null" }, { n.shape, n.code, n.result_kind })
    assert.is_nil(n.result)
    assert.same({}, n.properties)
    local a = core.classify(200, '{"code":24,"description":"可能包含敏感词",'
      .. '"properties":{"promptEn":"nude body","bannedWord":"nude"}}')
    assert.same({ "submit", 24, "absent", "nude" }, { a.shape, a.code, a.result_kind, a.properties.bannedWord })
    local r = core.classify(200, '{"code":1,"description":"ok","result":["https://x/a.png","https://x/b.png"]}')
    assert.equal("array", r.result_kind)
    assert.same({ "https://x/a.png", "https://x/b.png" }, r.results)
  end)

  it("reads relay errors (7.14)", function()
    local c = core.classify(400, '{ "description": "task_no_found ", "type": "upstream_error", "code": 4 }')
    assert.same({ "relay", 4, "task_no_found ", "upstream_error" }, { c.shape, c.code, c.description, c.type })
    local s = core.classify(429, '{ "description": "rate limit exceeded 当前分组负载已饱和，请稍后再试，或升级账户以提升服务质量。", '
      .. '"type": "upstream_error", "code": 30 }')
    assert.equal("relay", s.shape)
    assert.equal(30, s.code)
    assert.equal(429, s.status)
  end)

  it("reads OpenAI-style errors with their request id (7.14)", function()
    local c = core.classify(401, '{ "error": { "code": "", "message": "invalid token (request id: '
      .. '20260312101530123456789abcdef)", "type": "comet_api_error" } }')
    assert.equal("openai", c.shape)
    assert.equal("invalid token (request id: 20260312101530123456789abcdef)", c.message)
    assert.equal("comet_api_error", c.type)
    assert.equal("20260312101530123456789abcdef", c.request_id)
    assert.is_nil(c.code) -- "" carries nothing
    local u = core.classify(400, '{ "error": { "code": "", "message": "Invalid request, unknown_action:'
      .. 'MJ::Job::PicReader::1 (request id: 2026031210abc)", "type": "comet_api_error" } }')
    assert.equal("2026031210abc", u.request_id)
    local nf = core.classify(404, '{"error":{"message":"Invalid URL (POST /mj/x)","type":"invalid_request_error"}}')
    assert.equal("openai", nf.shape)
    assert.is_nil(nf.request_id)
  end)

  it("reads the trueai generic envelope", function()
    local c = core.classify(200, '{"success":false,"code":-1,"message":"State参数过长，最大255字符","timestamp":"638"}')
    assert.same({ "generic", -1, false }, { c.shape, c.code, c.success })
    assert.equal("State参数过长，最大255字符", c.message)
  end)

  it("reads the image error", function()
    local c = core.classify(404, '{"error":"image not found"}')
    assert.same({ "image", "image not found" }, { c.shape, c.message })
  end)

  it("calls anything else json, and tells empty from invalid", function()
    assert.equal("json", core.classify(200, TASK_SUCCESS).shape)
    assert.equal("json", core.classify(200, LIST).shape)
    assert.equal("json", core.classify(200, '"text"').shape)
    assert.equal("json", core.classify(200, '{"error":null}').shape)
    assert.equal("empty", core.classify(502, "").shape)
    assert.equal("empty", core.classify(502, " \r\n").shape)
    assert.equal("empty", core.classify(502, nil).shape)
    local inv = core.classify(502, "<html>Bad Gateway</html>")
    assert.equal("invalid", inv.shape)
    assert.truthy(inv.error:find("^invalid JSON: "))
    assert.equal("invalid", core.classify(200, '{"code":1,"description":"ok"').shape)
    assert.equal("invalid", core.classify(200, '{"error":{"message":"x"}').shape)
  end)

  it("raises on wrong types", function()
    assert.has_error(function() core.classify("200", "{}") end)
    assert.has_error(function() core.classify(200, {}) end)
  end)
end)

describe("core.integerize", function()
  it("turns integral floats into integers in place (5.3+), recursively", function()
    local t = { a = 1.0, b = 2.5, c = { 3.0, { d = 4.0 } }, e = "5", f = 1e300 }
    assert.equal(t, core.integerize(t))
    assert.equal(1, t.a)
    assert.equal(2.5, t.b)
    assert.equal(3, t.c[1])
    assert.equal(4, t.c[2].d)
    assert.equal("5", t.e)
    if is54 then
      assert.equal("integer", mtype(t.a))
      assert.equal("float", mtype(t.b))
      assert.equal("integer", mtype(t.c[2].d))
      assert.equal("float", mtype(t.f))
    end
  end)

  it("stops at max_depth and survives cycles", function()
    local t = { x = { y = { z = 1.0 } } }
    core.integerize(t, 2)
    if is54 then assert.equal("float", mtype(t.x.y.z)) end
    local cyc = { n = 1.0 }
    cyc.self = cyc
    core.integerize(cyc)
    assert.equal(1, cyc.n)
  end)

  it("fixes what cjson decodes as floats", function()
    local cjson = require("cjson").new()
    local t = core.integerize(cjson.decode('{"code":1,"properties":{"numberOfQueues":2}}'))
    assert.equal(1, t.code)
    if is54 then assert.equal("integer", mtype(t.properties.numberOfQueues)) end
  end)

  it("raises on a non-table", function()
    assert.has_error(function() core.integerize("x") end)
  end)
end)

describe("core.scan_task / scan_tasks (the poll path)", function()


  it("returns only id, status and progress, and validates the whole object", function()
    local f = assert(core.scan_task([[{"id":-0,"status":"IN_PROGRESS","progress":"45%","prompt":"x",
      "buttons":[{"customId":"a"}],"properties":{"finalPrompt":"y"}}]]))
    assert.are.same({ id = "-0", status = "IN_PROGRESS", progress = "45%" }, f)
    assert.is_nil((core.scan_task([[{"id":"1","status":"SUCCESS","x":"\ud800"}]])))
    assert.is_nil((core.scan_task([[{"id":"1","buttons":[1,]}]])))
    local v, why = core.scan_task("[1]")
    assert.is_nil(v)
    assert.are.equal("expected a JSON object, got array", why)
  end)

  it("gives each object item's fields and text; null is false; other types are refused", function()
    local f, raw = core.scan_tasks([[ [{"id":"1","status":"A"}, 7, {"id":2,"progress":5,"z":[1]}] ]])
    assert.are.equal(2, #f)
    assert.are.same({ id = "1", status = "A" }, f[1])
    assert.are.same({ id = "2", progress = 5 }, f[2])
    assert.are.equal('{"id":2,"progress":5,"z":[1]}', raw[2])
    assert.is_false(core.scan_tasks(" null "))
    assert.is_nil((core.scan_tasks("{}")))
    assert.is_nil((core.scan_tasks("[{}")))
  end)
end)
