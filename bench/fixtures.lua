-- Writes the benchmark server's files into DIR (run: lua5.4 bench/fixtures.lua DIR).
--   DIR/task.json        one SUCCESS imagine task (api.md 7.7 style), ~1.3 KB, compact
--   DIR/task_tpl.json    the same task with @ID@ @STATUS@ @PROGRESS@ placeholders
--                        (the list endpoint fills it per requested id)
--   DIR/list1000.json    a JSON array of 1,000 such tasks with distinct ids
--   DIR/ids.txt          10,000 ids, one per line (the waits rows take the first N)
local dir = assert(arg[1], "usage: lua5.4 bench/fixtures.lua DIR")

local job = "9b2f6c1e-4d7a-4a4e-9f0e-0c3b8d2a7e51"
local function button(custom, emoji, label)
  return string.format('{"customId":"%s","emoji":"%s","label":"%s","type":2,"style":2}',
    custom, emoji, label)
end

local function task(id, status, progress)
  local buttons = {
    button("MJ::JOB::upsample::1::" .. job, "", "U1"),
    button("MJ::JOB::upsample::2::" .. job, "", "U2"),
    button("MJ::JOB::upsample::3::" .. job, "", "U3"),
    button("MJ::JOB::upsample::4::" .. job, "", "U4"),
    button("MJ::JOB::reroll::0::" .. job .. "::SOLO", "\240\159\148\132", ""),
    button("MJ::JOB::variation::1::" .. job, "", "V1"),
  }
  return table.concat({
    '{"id":"', id, '","action":"IMAGINE","customId":"","botType":"",',
    '"prompt":"a paper boat floating on calm water at sunrise --v 6.1",',
    '"promptEn":"a paper boat floating on calm water at sunrise --v 6.1",',
    '"description":"Submit success","state":"order-4711",',
    '"submitTime":1773314942177,"startTime":1773314944120,"finishTime":1773314983561,',
    '"imageUrl":"https://api.cometapi.com/mj/image/', id, '","videoUrl":"","videoUrls":null,',
    '"status":"', status, '","progress":"', progress, '","failReason":"",',
    '"buttons":[', table.concat(buttons, ","), '],',
    '"maskBase64":"","properties":{"finalPrompt":"a paper boat floating on calm water at sunrise --v 6.1 --fast","finalZhPrompt":""}}',
  })
end

local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(text)
  f:close()
end

local ids, items = {}, {}
for i = 1, 10000 do
  ids[i] = string.format("%d", 1773314942000000 + i)
  if i <= 1000 then items[i] = task(ids[i], "SUCCESS", "100%") end
end
write("task.json", task("1773314942177684", "SUCCESS", "100%"))
write("task_tpl.json", task("@ID@", "@STATUS@", "@PROGRESS@"))
write("list1000.json", "[" .. table.concat(items, ",") .. "]")
write("ids.txt", table.concat(ids, "\n") .. "\n")
