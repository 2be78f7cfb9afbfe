--- The "waits between polls" scenario shared by spec/drivers_spec.lua (luv) and the
-- Neovim host script: `n` tasks submitted, then `n` waits that sit between their polls
-- while the driver's wakeups and the poll requests the server saw are counted over a
-- window. Not a spec; runs inside a midjourney coroutine driven by the driver under test.
local scheduler = require "midjourney.scheduler"

local M = {}

--- Runs the scenario. Yields (inside a scheduler coroutine).
-- @tparam table o `client`, `status` (function -> the driver's status table),
--   `requests` (function -> poll requests the server has seen so far), `n` (10),
--   `interval` (seconds between polls, 0.5), `warmup` (seconds, 1), `window` (seconds, 3)
-- @treturn table `{ wakeups =, requests =, seconds =, waiting =, n = }`
function M.run(o)
  local n, interval = o.n or 10, o.interval or 0.5
  local ids = {}
  for i = 1, n do ids[i] = assert(o.client:imagine("an idle wait number " .. i)) end
  local hs = {}
  for i = 1, n do
    hs[i] = scheduler.spawn(function()
      return o.client:wait(ids[i], { first_delay = 0, interval = interval, timeout = 120 })
    end)
  end
  scheduler.sleep(o.warmup or 1)
  local w0, r0, t0 = o.status().wakeups, o.requests(), scheduler.now()
  scheduler.sleep(o.window or 3)
  local w1, r1, t1 = o.status().wakeups, o.requests(), scheduler.now()
  local waiting = 0
  for _, h in ipairs(hs) do
    if h:status() == "running" then waiting = waiting + 1 end
    h:cancel()
  end
  scheduler.join(hs)
  return { wakeups = w1 - w0, requests = r1 - r0, seconds = t1 - t0, waiting = waiting, n = n }
end

return M
