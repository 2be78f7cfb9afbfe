--- Test helper: clients against a simulator handle from `spec.helpers.simulator`.
--
--     local sim = require("spec.helpers.simulator").for_block { speed = 200, seed = 1, key = "sk-test" }
--     local client = require("spec.helpers.client").factory(sim)
--     local c = client { timeout = 2 }   -- mj.new with api_key = sim.key, base_url = sim.url
--
-- Not a spec (busted only runs *_spec.lua).
-- @module spec.helpers.client
local mj = require("midjourney")

local M = {}

--- A function `client(o)` returning `mj.new(o)` with `api_key` (sim.key) and `base_url`
-- (sim.url) filled in unless `o` sets them, and each of `defaults` that `o` leaves nil.
-- It reads sim.key and sim.url at each call, so it can be made before the simulator starts.
-- Neither blocks nor yields.
-- @param sim simulator handle
-- @param defaults table of client options (optional)
-- @return function(o) -> client
function M.factory(sim, defaults)
  return function(o)
    o = o or {}
    if o.api_key == nil then o.api_key = sim.key end
    if o.base_url == nil then o.base_url = sim.url end
    for k, v in pairs(defaults or {}) do
      if o[k] == nil then o[k] = v end
    end
    return mj.new(o)
  end
end

return M
