--- `:checkhealth midjourney` for Neovim.
--
-- Reports whether the library and its C core (`midjourney.core`) load in Neovim's LuaJIT,
-- libcurl's version, TLS backend and asynchronous DNS, whether `COMETAPI_KEY` is set (never its
-- value) and whether the base URL (`COMETAPI_BASE_URL`, else https://api.cometapi.com) answers.
--
-- Neovim finds this module by its name (`lua/midjourney/health.lua` on the runtime path); it is
-- of no use outside Neovim. `check` blocks for at most about 3 seconds (the reachability probe).
-- @module midjourney.health

local M = {}

local DEFAULT_BASE_URL = "https://api.cometapi.com"

-- vim.health.start/ok/warn/error/info (Neovim 0.10+), else the older report_* names (0.8, 0.9).
local function reporter()
  local h = vim.health or {}
  local ok_, legacy = pcall(require, "health") -- Neovim 0.8's lua/health.lua
  if not ok_ then legacy = {} end
  local function pick(new, old)
    return h[new] or h[old] or legacy[old] or function(msg) print(new .. ": " .. msg) end
  end
  return {
    start = pick("start", "report_start"),
    ok = pick("ok", "report_ok"),
    warn = pick("warn", "report_warn"),
    error = pick("error", "report_error"),
    info = pick("info", "report_info"),
  }
end

local function first_line(s)
  return (tostring(s):gsub("\n.*", ""))
end

-- The base URL with any userinfo and query removed, so nothing secret is echoed.
local function display_url(url)
  return (url:gsub("^(%a[%w+.-]*://)[^/@]*@", "%1"):gsub("[?#].*$", ""))
end

local function check_modules(r)
  r.start("midjourney: modules")
  local jit_version = rawget(_G, "jit") and jit.version or _VERSION
  r.info("Lua: " .. jit_version)

  local ok_core, core = pcall(require, "midjourney.core")
  if ok_core then
    local where = package.searchpath and package.searchpath("midjourney.core", package.cpath)
    r.ok(string.format("midjourney.core %s loaded%s", tostring(core.version),
      where and (" from " .. where) or ""))
  else
    r.error("midjourney.core (the C module) does not load: " .. first_line(core), {
      "Build it for Neovim's LuaJIT: `make LUA=luajit` in the plugin directory "
        .. "(or your plugin manager's build hook)",
      "A core built for Lua 5.4 does not load in LuaJIT: rebuild with LUA=luajit",
      "Debian/Ubuntu: apt-get install libcurl4-openssl-dev libluajit-5.1-dev (or libluajit2-5.1-dev)",
    })
  end

  local ok_json, json = pcall(require, "midjourney.json")
  if ok_json then
    r.ok("JSON: lua-cjson through " .. (json.backend == "vim.json" and "Neovim's vim.json (no separate cjson "
      .. "module on the cpath; the same library)" or "the cjson module"))
  elseif ok_core then
    r.error("JSON: neither the cjson module nor vim.json loads: " .. first_line(json),
      { "Install lua-cjson for LuaJIT (Debian: apt-get install lua-cjson; LuaRocks: --lua-version=5.1 lua-cjson)" })
  end

  local ok_mj, mj = pcall(require, "midjourney")
  if ok_mj then
    r.ok("midjourney " .. tostring(mj.version or mj._VERSION or "?") .. " loaded")
  else
    r.error("require('midjourney') fails: " .. first_line(mj))
  end
  return ok_core and core or nil
end

local function check_curl(r, core)
  r.start("midjourney: libcurl")
  if not core then
    r.warn("skipped: midjourney.core does not load")
    return
  end
  local ok_, info = pcall(core.curl_info)
  if not ok_ or type(info) ~= "table" then
    r.error("core.curl_info() failed: " .. first_line(info))
    return
  end
  r.ok("libcurl " .. tostring(info.version))
  if info.ssl and info.ssl ~= "" then
    r.ok("TLS: " .. info.ssl)
  else
    r.error("libcurl has no TLS support: https:// URLs (the real API) will fail",
      { "Install a libcurl built with OpenSSL or GnuTLS and rebuild the core" })
  end
  if info.asynchdns then
    r.ok("asynchronous DNS: yes (name lookups never block the editor)")
  else
    r.warn("asynchronous DNS: no (each new host name lookup blocks Neovim briefly)",
      { "Use a libcurl built with c-ares or the threaded resolver (Debian's libcurl4 has it)" })
  end
  if info.http2 ~= nil then r.info("HTTP/2: " .. (info.http2 and "yes" or "no")) end
end

local function check_key(r)
  r.start("midjourney: API key")
  local key = os.getenv("COMETAPI_KEY")
  if key == nil or key == "" then
    r.warn("COMETAPI_KEY is not set", {
      "Set it in the environment Neovim starts from, or pass api_key to mj.new",
      "Without a key only the local simulator (bin/mj-simulator) can be used",
    })
  elseif key:find("[%c]") then
    r.error("COMETAPI_KEY is set but contains control characters (CR, LF, NUL...): it would be refused")
  elseif key:find("^%s") or key:find("%s$") then
    r.warn("COMETAPI_KEY is set but starts or ends with whitespace")
  else
    r.ok("COMETAPI_KEY is set (value not shown)")
  end
end

-- One GET of the base URL with short timeouts; any HTTP answer (even 401/404) means reachable.
local function probe(core, url)
  local e = core.engine()
  local ok_, err = pcall(e.request, e, { method = "GET", url = url, timeout = 3, connect_timeout = 3 })
  if not ok_ then
    e:close()
    return nil, first_line(err)
  end
  local rec
  local deadline = core.now() + 4
  while not rec and core.now() < deadline do
    local records = e:step(0.1)
    if records then rec = records[1] end
  end
  e:close()
  if not rec then return nil, "no answer within 4 s" end
  if (rec.status or 0) > 0 then return rec.status end
  return nil, (rec.error_kind or "error") .. ": " .. tostring(rec.error)
end

local function check_base_url(r, core)
  r.start("midjourney: base URL")
  local url = os.getenv("COMETAPI_BASE_URL")
  local from = "COMETAPI_BASE_URL"
  if url == nil or url == "" then
    url, from = DEFAULT_BASE_URL, "default"
  end
  if not url:match("^https?://[^/%s]+") then
    r.error(string.format("base URL (%s) is not an http(s) URL: %s", from, display_url(url)))
    return
  end
  local shown = display_url(url)
  r.info(string.format("base URL (%s): %s", from, shown))
  if shown:match("^http://") and not shown:match("^http://127%.") and not shown:match("^http://localhost[:/]?")
    and not shown:match("^http://%[::1%]") then
    r.warn("plain http:// to a remote host: the API key would travel unencrypted")
  end
  if not core or type(core.engine) ~= "function" then
    r.warn("reachability not checked: midjourney.core does not load")
    return
  end
  local status, err = probe(core, url)
  if status then
    r.ok(string.format("reachable (HTTP %d)", status))
  else
    r.warn("not reachable: " .. tostring(err), { "Check the network, a proxy (https_proxy) or the URL" })
  end
end

--- Runs the health check (Neovim calls it for `:checkhealth midjourney`).
-- Blocks for at most about 3 seconds while probing the base URL. Returns nothing; reports
-- through `vim.health`.
function M.check()
  local r = reporter()
  local core = check_modules(r)
  check_curl(r, core)
  check_key(r)
  check_base_url(r, core)
end

return M
