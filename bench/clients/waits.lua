-- N tasks waited on at once against the benchmark server's list endpoint, driven by a host
-- loop that calls mj.step(0) about every millisecond, like a game frame or an editor timer.
--   waits.lua BASE_URL STATE_FILE LIST_LOG IDS_FILE N INTERVAL [MODE] [GC]
-- MODE "coroutines" (default): one mj.spawn + client:wait{coalesce=true} per task;
-- MODE "records": one coroutine, client:wait_all(ids) (plain records in the poller).
-- GC "generational": collectgarbage("generational") first (Lua 5.4), else the default.
-- Phase 1 (3 intervals): every task IN_PROGRESS. Phase 2: STATE_FILE := SUCCESS,
-- step until every wait has returned. Reports the mj.step(0) durations, RSS per
-- waiting task, list requests per interval, and how long completion took to notice.
local lib = require("bench.lib")
local okm, mj = pcall(require, "midjourney")
if not okm or type(mj) ~= "table" or type(mj.new) ~= "function" or type(mj.spawn) ~= "function" then
  lib.na("midjourney Lua layer not built yet")
end
local core = require("midjourney.core")
local base, state_file, list_log, ids_file = arg[1], arg[2], arg[3], arg[4]
local n, interval = tonumber(arg[5]), tonumber(arg[6])
local mode, gc = arg[7] or "coroutines", arg[8] or "incremental"
if gc == "generational" then
  if not pcall(collectgarbage, "generational") then lib.na("no generational GC in " .. _VERSION) end
end

local function set_state(s)
  local f = assert(io.open(state_file .. ".tmp", "w"))
  f:write(s, "\n")
  f:close()
  assert(os.rename(state_file .. ".tmp", state_file))
end
local function list_requests()
  local f = io.open(list_log, "r")
  if not f then return 0 end
  local c = 0
  for _ in f:lines() do c = c + 1 end
  f:close()
  return c
end

local ids = {}
for line in io.lines(ids_file) do
  if #ids < n then ids[#ids + 1] = line end
end
set_state("IN_PROGRESS")

local client = mj.new{ base_url = base, api_key = "bench" }
if type(client.wait) ~= "function" then lib.na("client:wait not built yet") end
-- warm up: the engine, one connection, the JSON path
mj.run(function() return client:list({ ids[1] }) end)
collectgarbage("collect")
collectgarbage("collect")
local rss_idle = lib.rss()

local done, failed, first_err = 0, 0, nil
if mode == "records" then
  mj.spawn(function()
    local res, errs = client:wait_all(ids, { interval = interval, timeout = 120, batch = 50 })
    for i = 1, n do
      local t = res[ids[i]]
      if t and t.status == "SUCCESS" then done = done + 1 else
        failed = failed + 1
        first_err = first_err or tostring(errs and errs[ids[i]])
      end
    end
  end)
else
  for i = 1, n do
    local id = ids[i]
    mj.spawn(function()
      local t, err = client:wait(id, { coalesce = true, interval = interval, timeout = 120 })
      if t and t.status == "SUCCESS" then done = done + 1 else
        failed = failed + 1
        first_err = first_err or tostring(err)
      end
    end)
  end
end

local steps, nsteps = {}, 0
local function frame()
  local t0 = lib.now()
  mj.step(0)
  local dt = lib.now() - t0
  nsteps = nsteps + 1
  steps[nsteps] = dt
  core.sleep(0.001) -- the rest of the host's frame
end

-- phase 1: every task in progress; the list requests are counted between
-- 0.5 and 2.5 intervals (exactly two polling rounds)
local t_start = lib.now()
local rss_wait, req_a, req_b = 0, nil, nil
frame()
local step_first = steps[1]
while lib.now() - t_start < 3 * interval do
  frame()
  local el = lib.now() - t_start
  if not req_a and el > 0.5 * interval then req_a = list_requests() end
  if not req_b and el > 2.5 * interval then req_b = list_requests() end
  if rss_wait == 0 and el > 1.5 * interval then
    collectgarbage("collect")
    rss_wait = lib.rss()
  end
end
local req1 = list_requests()

-- phase 2: everything succeeds; how long until every wait has returned?
set_state("SUCCESS")
local t_switch = lib.now()
while done + failed < n and lib.now() - t_switch < 4 * interval + 5 do frame() end
local t_all = lib.now()
local req2 = list_requests()

local max_rest = 0
for i = 2, nsteps do if steps[i] > max_rest then max_rest = steps[i] end end
table.sort(steps)
local function pct(p) return steps[math.max(1, math.ceil(p * nsteps))] end
local _, hwm = lib.rss()
lib.result{
  n = n, interval = interval, done = done, failed = failed, mode = mode, gc = gc,
  steps = nsteps, step_med_ms = pct(0.5) * 1000, step_p99_ms = pct(0.99) * 1000,
  step_max_ms = steps[nsteps] * 1000,
  rss_idle_kb = rss_idle, rss_wait_kb = rss_wait, rss_kb = hwm,
  per_task_kb = (rss_wait - rss_idle) / n,
  step_first_ms = step_first * 1000, step_max_rest_ms = max_rest * 1000,
  list_requests_per_interval = (req_b - req_a) / 2,
  notice_s = t_all - t_switch, notice_intervals = (t_all - t_switch) / interval,
  list_requests_phase2 = req2 - req1,
}
if first_err then io.stderr:write("waits.lua: first error: ", first_err, "\n") end
