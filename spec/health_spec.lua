-- `:checkhealth midjourney` in a real headless Neovim (lua/midjourney/health.lua).
-- Tagged #once: it drives a whole program, so scripts/test.sh runs it under Lua 5.4 only.

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  return out
end

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local has_nvim = sh("command -v nvim"):match("nvim") ~= nil

-- Runs :checkhealth midjourney with the checkout as a plugin (plugin/ adds build/luajit to
-- package.cpath) and returns the report text.
local function checkhealth(env)
  local out = os.tmpname()
  local vars = {}
  for k, v in pairs(env) do vars[#vars + 1] = k .. "=" .. q(v) end
  sh(string.format("env -u COMETAPI_KEY -u COMETAPI_BASE_URL %s timeout 60 nvim --headless --clean "
    .. "--cmd 'set rtp^=.' -c 'checkhealth midjourney' -c %s -c 'qa!' </dev/null >/dev/null",
    table.concat(vars, " "), q("w! " .. out)))
  local f = io.open(out)
  local text = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(out)
  return text
end

describe("checkhealth midjourney #once", function()
  if not has_nvim then
    it("needs Neovim", function() pending("nvim is not installed") end)
    return
  end

  local sim
  setup(function()
    sim = require("spec.helpers.simulator").start({ speed = 200, seed = 1 })
  end)
  teardown(function()
    if sim then sim:stop() end
  end)

  it("reports the module, libcurl, the key's presence and a reachable base URL", function()
    local secret = "sk-health-secret-0123456789"
    local text = checkhealth({ COMETAPI_KEY = secret, COMETAPI_BASE_URL = sim.url })
    assert.matches("OK:? midjourney%.core [%d.]+ loaded", text)
    assert.matches("OK:? libcurl %d", text)
    assert.matches("TLS: ", text)
    assert.matches("asynchronous DNS: ", text)
    assert.matches("COMETAPI_KEY is set %(value not shown%)", text)
    assert.matches("base URL %(COMETAPI_BASE_URL%): http://127%.0%.0%.1", text)
    assert.matches("reachable %(HTTP %d+%)", text)
    assert.is_nil(text:find(secret, 1, true), "the key's value leaked into :checkhealth")
    assert.is_nil(text:find("ERROR", 1, true), text)
  end)

  it("reports which JSON module the library uses: vim.json when no cjson is on the cpath", function()
    local text = checkhealth({ COMETAPI_BASE_URL = sim.url, LUA_CPATH = "/nonexistent/?.so" })
    assert.matches("OK:? JSON: lua%-cjson through Neovim's vim%.json", text)
    text = checkhealth({ COMETAPI_BASE_URL = sim.url })
    assert.matches("OK:? JSON: lua%-cjson through the cjson module", text)
  end)

  it("warns when the key is missing and the base URL does not answer", function()
    local text = checkhealth({ COMETAPI_BASE_URL = "http://user:pw@127.0.0.1:9/x?token=t" })
    assert.matches("COMETAPI_KEY is not set", text)
    assert.matches("not reachable", text)
    assert.is_nil(text:find("pw@", 1, true), "userinfo of the base URL was shown")
    assert.is_nil(text:find("token=t", 1, true), "query of the base URL was shown")
  end)
end)
