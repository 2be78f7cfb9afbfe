--- Opt-in debug log. Enabled by `COMETAPI_LOG=debug|info` (lines go to stderr)
-- or by a `logger` callback given to `mj.new` (`logger(level, line, fields)`).
-- Lines carry method, path (query strings redacted), status, time and request
-- id; never headers, bodies or the API key. Nothing here blocks or yields
-- (apart from the stderr write).
-- @module midjourney.log
local errors = require("midjourney.errors")

local M = {}

local levels = { debug = 1, info = 2, warn = 3, error = 4 }

--- Make a logger.
-- Neither blocks nor yields.
-- @tparam[opt] table opts the client's options: `logger` (a function receiving
--   `level, line, fields`), `log_level` (`"debug"`, `"info"`, `"warn"`, `"error"`);
--   without a level, `COMETAPI_LOG` decides (unset means off unless a logger is given)
-- @treturn function|nil `log(level, fields)` (fields: `event`, `method`, `path`,
--   `status`, `attempt`, `time`, `request_id`, `error`), nil when logging is off
-- @raise when `opts.logger` is not a function
function M.new(opts)
  opts = opts or {}
  local sink = opts.logger
  if sink ~= nil and type(sink) ~= "function" then
    error("option 'logger' must be a function, got " .. type(sink), 3)
  end
  local level = opts.log_level or (os.getenv("COMETAPI_LOG") or ""):lower()
  if sink == nil and not levels[level] then return nil end
  local min = levels[level] or levels.debug
  return function(lvl, fields)
    if (levels[lvl] or 1) < min then return end
    local parts, safe = {}, {}
    for _, k in ipairs({ "event", "method", "path", "status", "attempt", "time", "request_id", "error" }) do
      local v = fields[k]
      if v ~= nil then
        if k == "path" then v = errors.redact_url(v) end
        if k == "time" and type(v) == "number" then v = string.format("%.3fs", v) end
        v = errors.redact(tostring(v))
        safe[k] = v
        parts[#parts + 1] = k .. "=" .. v
      end
    end
    local line = "midjourney " .. lvl .. ": " .. table.concat(parts, " ")
    if sink then
      local ok = pcall(sink, lvl, line, safe)
      if not ok then return end
    else
      io.stderr:write(line, "\n")
    end
  end
end

return M
