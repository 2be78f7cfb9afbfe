--- Test helper for the batch specs: what the simulator created (counted at the simulator),
-- output directories and PNG checks.
-- @module spec.helpers.batch
local json = require("midjourney.simulator.json")

local M = {}

local read_file = require("spec.helpers.simulator").read_file

--- Every task a seeded simulator created, as `{ n, id, action, prompt, state }` (`n`: the
-- task's rank, 1 for the first task it made), oldest first.
-- The simulator has no route that lists all tasks, so this asks `list-by-condition` for
-- every id a seeded simulator can have made (its ids are a millisecond stamp that grows by
-- 1371 per task, plus three random digits) and checks that it found as many tasks as
-- `/_sim/stats` counts. Blocks.
-- @param sim a handle from `spec.helpers.simulator` started with a `seed`
-- @tparam[opt=0] integer from skip the first `from` tasks
-- @treturn table tasks
function M.tasks(sim, from)
  from = from or 0
  local total = sim:stats().tasks
  local found = {}
  for k = from + 1, total do
    local ms = 1773314942000 + k * 1371
    local ids = {}
    for d = 0, 999 do ids[#ids + 1] = string.format("%d%03d", ms, d) end
    local status, body = sim:api("POST", "/mj/task/list-by-condition", { ids = json.array(ids) })
    assert(status == 200, "list-by-condition failed: " .. tostring(status))
    local list = json.decode(body)
    for _, t in ipairs(list) do
      found[#found + 1] = { n = k, id = tostring(t.id), action = t.action, prompt = t.prompt, state = t.state }
    end
  end
  assert(#found == total - from, string.format("found %d of the simulator's %d tasks: the seeded id format "
    .. "changed (spec/helpers/batch.lua)", #found, total - from))
  return found
end

--- How many tasks of `action` ("IMAGINE", "UPSCALE", ...) the simulator created per prompt.
-- Blocks.
-- @param sim a seeded simulator handle
-- @tparam string action
-- @tparam[opt=0] integer from skip the first `from` tasks
-- @treturn table `{ [prompt] = n }`
function M.count_by_prompt(sim, action, from)
  local out = {}
  for _, t in ipairs(M.tasks(sim, from)) do
    if t.action == action then out[t.prompt] = (out[t.prompt] or 0) + 1 end
  end
  return out
end

--- Whether `data` is a complete PNG: the signature, an IHDR chunk first, whole chunks
-- (length, type, data, CRC) up to an IEND chunk that ends the data exactly.
-- Neither blocks nor yields.
-- @tparam string data
-- @treturn boolean
-- @treturn string why not
function M.valid_png(data)
  if type(data) ~= "string" then return false, "no data" end
  if data:sub(1, 8) ~= "\137PNG\r\n\26\n" then return false, "no PNG signature" end
  local pos, first, idat = 9, true, false
  while true do
    if pos + 7 > #data then return false, "truncated before IEND" end
    local a, b, c, d = data:byte(pos, pos + 3)
    local len = ((a * 256 + b) * 256 + c) * 256 + d
    local kind = data:sub(pos + 4, pos + 7)
    if first and kind ~= "IHDR" then return false, "first chunk is " .. kind end
    first = false
    if kind == "IDAT" then idat = true end
    local after = pos + 8 + len + 4
    if after - 1 > #data then return false, "chunk " .. kind .. " truncated" end
    if kind == "IEND" then
      if after - 1 ~= #data then return false, "data after IEND" end
      if not idat then return false, "no IDAT" end
      return true
    end
    pos = after
  end
end

--- The names in a directory (hidden ones included), sorted. Blocks.
-- @tparam string dir
-- @treturn table
function M.listing(dir)
  local p = io.popen("ls -A '" .. dir .. "' 2>/dev/null")
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

--- Checks that `dir` holds exactly the expected files (plus the journal), each a complete
-- PNG, and no `.part` file. Raises with a message otherwise. Blocks.
-- @tparam string dir
-- @tparam table names expected file names
function M.check_outputs(dir, names)
  local want = { [".mj-batch.jsonl"] = true }
  for _, n in ipairs(names) do want[n] = true end
  local seen = {}
  for _, n in ipairs(M.listing(dir)) do
    assert(want[n], "unexpected file in the output directory: " .. n)
    seen[n] = true
  end
  for _, n in ipairs(names) do
    assert(seen[n], "missing output file: " .. n)
    local ok, why = M.valid_png(read_file(dir .. "/" .. n))
    assert(ok, n .. " is not a complete PNG: " .. tostring(why))
  end
end

--- A fresh temporary directory. Blocks.
-- @treturn string
function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  return dir
end

return M
