-- Opt-in checks against the real CometAPI (no job is submitted, nothing is charged).
-- Runs only when COMETAPI_KEY is set and COMETAPI_LIVE=1:
--   COMETAPI_LIVE=1 COMETAPI_KEY=sk-... sh scripts/test.sh spec/live_spec.lua
local mj = require "midjourney"

local live = os.getenv("COMETAPI_LIVE") == "1" and (os.getenv("COMETAPI_KEY") or "") ~= ""
local maybe_it = live and it or pending

describe("live CometAPI (opt-in)", function()
  maybe_it("an unknown task id is not_found, and the key appears in no error", function()
    local c = mj.new { base_url = "https://api.cometapi.com" }
    local t, err = c:fetch("1000000000000000")
    assert.is_nil(t)
    assert.are.equal("not_found", err.kind, tostring(err))
    assert.is_nil(tostring(err):find(os.getenv("COMETAPI_KEY"), 1, true))
  end)

  maybe_it("list-by-condition of unknown ids is empty", function()
    local c = mj.new { base_url = "https://api.cometapi.com" }
    local tasks, err = c:list { "1000000000000000" }
    assert.is_table(tasks, tostring(err))
    assert.are.equal(0, #tasks)
  end)
end)
