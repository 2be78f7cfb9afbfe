-- The whole submit -> poll -> act loop: imagine, wait, upscale U1, wait, download.
-- Run it against the local simulator with `make demo`, or against CometAPI with
-- COMETAPI_KEY set:  lua5.4 examples/demo.lua "a paper boat at sunrise --v 6.1"
local mj = require "midjourney"

local prompt = arg[1] or "a paper boat floating on calm water at sunrise --v 6.1"
local out = arg[2] or "demo-upscale.png"
local client = mj.new { timeout = 30 }

-- one line per status or progress change (readable on a terminal and in a log)
local function show(task)
  print(string.format("  %-12s %5s  %s", task.status ~= "" and task.status or "PENDING",
    task.progress or "", task.id))
end

local function step(name, ok, err)
  if not ok then
    io.stderr:write("\n", name, " failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return ok
end

print("imagine: " .. prompt)
local id = step("imagine", client:imagine(prompt))
local grid = step("wait", client:wait(id, { on_progress = show, first_delay = 0.5, interval = 0.5 }))
print("  grid ready: " .. grid.imageUrl)
step("download", client:download(grid, "demo-grid.png"))
print("  saved demo-grid.png")

print("upscale U1 (customId read from the newest buttons: " .. grid:button("U1").customId .. ")")
local up_id = step("action", client:action(grid, "U1"))
local up = step("wait", client:wait(up_id, { on_progress = show, first_delay = 0.5, interval = 0.5 }))
print("  upscale ready: " .. up.imageUrl)
step("download", client:download(up, out))
print("  saved " .. out)
