#!/usr/bin/env lua5.4
--- 20 Midjourney jobs at once from a plain Lua script: each coroutine imagines a
-- prompt, waits for the grid, presses U1 and waits for the upscale. All of them share
-- one libcurl engine; `mj.run` drives them until the last one ends.
--
--     COMETAPI_KEY=sk-... lua5.4 examples/concurrent.lua [--jobs 20] [--interval 3]
--     # against the local simulator:
--     bin/mj-simulator --port 8080 --speed 200 &
--     COMETAPI_BASE_URL=http://127.0.0.1:8080 COMETAPI_KEY=sk-test \
--       lua5.4 examples/concurrent.lua --interval 0.2
--
-- Prints one line per job and a summary; exits 1 if any job failed.

-- Run from a checkout without installing: find lua/ and build/<lua>/ next to examples/.
local script = arg and arg[0] or ""
local here = script:match("^(.*)[/\\]examples[/\\][^/\\]*$")
  or (script:match("^examples[/\\][^/\\]*$") and ".")
if here then
  local build = (jit and "luajit") or ("lua" .. _VERSION:match("%d+%.%d+"))
  package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
  package.cpath = here .. "/build/" .. build .. "/?.so;" .. package.cpath
end

local mj = require "midjourney"

local opts = { jobs = 20, interval = nil, first_delay = nil, button = "U1" }
do
  local i = 1
  while arg and arg[i] do
    local name = arg[i]:match("^%-%-([%w_]+)$")
    if not name or arg[i + 1] == nil then
      io.stderr:write("usage: concurrent.lua [--jobs N] [--interval S] [--first_delay S] [--button U1]\n")
      os.exit(2)
    end
    opts[name] = tonumber(arg[i + 1]) or arg[i + 1]
    i = i + 2
  end
end

local client = mj.new() -- COMETAPI_KEY, COMETAPI_BASE_URL
local wait_opts = { interval = opts.interval, first_delay = opts.first_delay or opts.interval }

local subjects = { "a paper boat", "a lighthouse", "a red fox", "a glass city", "an old tram",
  "a koi pond", "a desert moon", "a clockwork owl", "a snowy pass", "a neon alley" }

-- One job: imagine -> wait -> U1 -> wait. Runs as a coroutine: every call yields.
local function job(i)
  local prompt = subjects[(i - 1) % #subjects + 1] .. ", study " .. i .. " --v 6.1"
  local id, err = client:imagine(prompt)
  if not id then return nil, "imagine: " .. tostring(err) end
  local grid
  grid, err = client:wait(id, wait_opts)
  if not grid then return nil, "wait " .. id .. ": " .. tostring(err) end
  if grid.status ~= "SUCCESS" then return nil, "grid " .. id .. " ended " .. tostring(grid.status) end
  local up_id
  up_id, err = client:action(grid, opts.button)
  if not up_id then return nil, opts.button .. " on " .. id .. ": " .. tostring(err) end
  local up
  up, err = client:wait(up_id, wait_opts)
  if not up then return nil, "wait " .. up_id .. ": " .. tostring(err) end
  if up.status ~= "SUCCESS" then return nil, "upscale " .. up_id .. " ended " .. tostring(up.status) end
  return { grid = id, upscale = up_id, image = up.imageUrl }
end

local t0 = mj.core.now()
local results = mj.run(function()
  local handles = {}
  for i = 1, opts.jobs do handles[i] = mj.spawn(job, i) end
  -- join: sleep (yielding) until every job has ended
  local out = {}
  for i, h in ipairs(handles) do
    while h:status() == "pending" or h:status() == "running" do mj.sleep(0.05) end
    local r, err = h:result()
    out[i] = r or { error = tostring(err) }
  end
  return out
end)

local failed = 0
for i, r in ipairs(results) do
  if r.error then
    failed = failed + 1
    print(string.format("job %2d: FAILED %s", i, r.error))
  else
    print(string.format("job %2d: imagine %s -> %s %s -> %s", i, r.grid, opts.button, r.upscale, r.image))
  end
end
print(string.format("%d jobs, %d upscaled, %d failed, %.2f s", #results, #results - failed, failed,
  mj.core.now() - t0))
os.exit(failed == 0 and 0 or 1)
