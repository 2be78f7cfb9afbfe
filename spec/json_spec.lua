local json = require("midjourney.json")

describe("midjourney.json", function()
  describe("decode", function()
    it("keeps 16+ digit integers as exact strings", function()
      local v = assert(json.decode('{"id":1773314942177684,"big":123456789012345678901,"neg":-1234567890123456789}'))
      assert.are.equal("1773314942177684", v.id)
      assert.are.equal("123456789012345678901", v.big)
      assert.are.equal("-1234567890123456789", v.neg)
    end)

    it("does not touch digits inside strings, fractions or exponents", function()
      local v = assert(json.decode('{"s":"x 12345678901234567 \\" 12345678901234567",'
        .. '"f":0.12345678901234567,"e":1234567890123456e2}'))
      assert.are.equal('x 12345678901234567 " 12345678901234567', v.s)
      assert.are.equal("number", type(v.f))
      assert.are.equal("number", type(v.e))
    end)

    it("big integers are quoted like the contract says", function()
      local q = require("midjourney.core").quote_big_integers
      assert.are.equal('["1234567890123456",1,"a1234567890123456"]', q('[1234567890123456,1,"a1234567890123456"]'))
      assert.are.equal('[123456789012345]', q('[123456789012345]'))
      assert.are.equal('{"a":"-99999999999999999"}', q('{"a":-99999999999999999}'))
    end)

    it("gives integers on 5.3+ for integral numbers", function()
      local v = assert(json.decode('{"n":3,"t":1773314942177,"x":1.5}'))
      assert.are.equal(3, v.n)
      assert.are.equal(1773314942177, v.t)
      assert.are.equal(1.5, v.x)
      if math.type then
        assert.are.equal("integer", math.type(v.n))
        assert.are.equal("integer", math.type(v.t))
        assert.are.equal("float", math.type(v.x))
      end
    end)

    it("returns nil, message on bad JSON and on nesting deeper than 64", function()
      local v, err = json.decode('{"a":')
      assert.is_nil(v)
      assert.is_string(err)
      v, err = json.decode(string.rep("[", 100) .. string.rep("]", 100))
      assert.is_nil(v)
      assert.is_string(err)
      assert.is_table(json.decode(string.rep("[", 60) .. string.rep("]", 60)))
    end)

    it("decodes null to json.null and strip_nulls drops object members", function()
      local v = assert(json.decode('{"a":null,"b":[null,1],"c":{"d":null,"e":2}}'))
      assert.are.equal(json.null, v.a)
      json.strip_nulls(v)
      assert.is_nil(v.a)
      assert.are.equal(json.null, v.b[1])
      assert.is_nil(v.c.d)
      assert.are.equal(2, v.c.e)
      assert.is_nil(json.strip_nulls(json.decode("null")))
    end)

    it("raises on a non-string argument", function()
      assert.has_error(function() json.decode(42) end, "json.decode: argument 'text' must be a string, got number")
    end)

    it("does not change the global cjson settings", function()
      local cjson = require("cjson")
      local before = cjson.decode_max_depth()
      json.decode("[]")
      assert.are.equal(before, cjson.decode_max_depth())
    end)
  end)

  describe("encode", function()
    it("escapes quotes, backslashes, control characters, NUL and DEL", function()
      local s = json.encode('a"b\\c\n\r\t\0\1\31\127')
      assert.are.equal('"a\\"b\\\\c\\n\\r\\t\\u0000\\u0001\\u001f\\u007f"', s)
      -- and round-trips through a real parser
      assert.are.equal('a"b\\c\n\r\t\0\1\31\127', require("cjson").decode(s))
    end)

    it("escapes U+2028 and U+2029 and keeps other UTF-8", function()
      assert.are.equal('"\\u2028x\\u2029 é 🔄"', json.encode("\226\128\168x\226\128\169 é 🔄"))
    end)

    it("replaces invalid UTF-8 with U+FFFD", function()
      assert.are.equal('"a\239\191\189b\239\191\189"', json.encode("a\255b\195"))
      -- a UTF-16 surrogate encoded in UTF-8 is invalid: each byte is replaced
      assert.are.equal('"' .. string.rep("\239\191\189", 3) .. '"', json.encode("\237\160\128"))
    end)

    it("encodes an empty table as [] and json.object{} as {}", function()
      assert.are.equal("[]", json.encode({}))
      assert.are.equal("{}", json.encode(json.object {}))
      assert.are.equal('{"a":[],"b":{}}', json.encode({ a = {}, b = json.object() }))
      assert.are.equal("[]", json.encode(json.array {}))
    end)

    it("encodes arrays and objects with sorted keys", function()
      assert.are.equal('[1,"x",true,false,null]', json.encode({ 1, "x", true, false, json.null }))
      assert.are.equal('{"a":1,"b":{"c":[2]}}', json.encode({ b = { c = { 2 } }, a = 1 }))
    end)

    it("prints integers without exponent and refuses NaN and infinity", function()
      assert.are.equal("9007199254740992", json.encode(2 ^ 53))
      assert.are.equal("1773314942177", json.encode(1773314942177))
      assert.are.equal("-5", json.encode(-5))
      assert.are.equal("0.1", json.encode(0.1))
      assert.are.equal("2.5", json.encode(2.5))
      assert.has_error(function() json.encode(0 / 0) end)
      assert.has_error(function() json.encode({ x = math.huge }) end)
      assert.has_error(function() json.encode(-math.huge) end)
    end)

    it("refuses cycles, sparse arrays, mixed keys and functions", function()
      local t = {}
      t.self = t
      assert.has_error(function() json.encode(t) end, "json.encode: cycle detected")
      assert.has_error(function() json.encode({ 1, nil, 3 }) end)
      assert.has_error(function() json.encode({ 1, a = 2 }) end)
      assert.has_error(function() json.encode({ f = print }) end)
      assert.has_error(function() json.encode({ [true] = 1 }) end)
    end)

    it("allows a shared (non-cyclic) table twice", function()
      local shared = { 1 }
      assert.are.equal('{"a":[1],"b":[1]}', json.encode({ a = shared, b = shared }))
    end)

    it("round-trips any byte string that is valid UTF-8", function()
      local cjson = require("cjson")
      local chars = {}
      for c = 0, 127 do chars[#chars + 1] = string.char(c) end
      local s = table.concat(chars) .. "日本語🔄"
      assert.are.equal(s, cjson.decode(json.encode({ s = s })).s)
    end)
  end)
end)
