-- TLS: verification is on by default, a certificate error names the option that
-- fixes it, and ca_file makes a private CA trusted. A real TLS server: openssl s_server.
local mj = require "midjourney"
local core = require "midjourney.core"
local socket = require "socket"

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local free_port = require("spec.helpers.simulator").free_port

describe("TLS", function()
  local dir, port, pidfile

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(sh("mkdir -p " .. dir))
    assert(sh(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/key.pem -out %s/cert.pem -days 2 "
      .. "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1"):format(dir, dir)),
      "openssl could not make a certificate")
    port = free_port()
    pidfile = dir .. "/pid"
    assert(sh(("(timeout 120 openssl s_server -accept 127.0.0.1:%d -cert %s/cert.pem -key %s/key.pem "
      .. "-www -quiet >/dev/null 2>&1 & echo $! > %s)"):format(port, dir, dir, pidfile)))
    local deadline = core.now() + 10
    while true do
      local c = socket.connect("127.0.0.1", port)
      if c then c:close() break end
      assert(core.now() < deadline, "openssl s_server did not start")
      core.sleep(0.05)
    end
  end)

  teardown(function()
    if pidfile then
      local f = io.open(pidfile)
      if f then
        local pid = f:read("*l")
        f:close()
        if pid then sh("kill " .. pid .. " 2>/dev/null") end
      end
    end
    if dir then sh("rm -rf " .. dir) end
  end)

  it("refuses an untrusted certificate by default and says which option fixes it", function()
    local c = mj.new { api_key = "sk-tls-secret", base_url = "https://127.0.0.1:" .. port, max_retries = 0 }
    local t, err = c:fetch("1773314942177684")
    assert.is_nil(t)
    assert.are.equal("transport", err.kind)
    assert.are.equal("tls", err.error_kind)
    assert.matches("ca_file", tostring(err))
    assert.is_nil(tostring(err):find("sk-tls-secret", 1, true))
  end)

  it("trusts the server once ca_file names its certificate", function()
    local c = mj.new { api_key = "sk-tls-secret", base_url = "https://127.0.0.1:" .. port,
      ca_file = dir .. "/cert.pem", max_retries = 0 }
    local t, err = c:fetch("1773314942177684")
    -- the TLS handshake succeeded: s_server answers with an HTML status page
    assert.is_nil(t)
    assert.are.equal("decode", err.kind)
    assert.are.equal(200, err.status)
  end)
end)
