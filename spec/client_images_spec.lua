-- Images through the client, against the realistic simulator: the four pictures of a grid
-- as four files (per-image URLs, or the grid cut locally), a Vary Region mask drawn from
-- shapes at the image's size, and file paths wherever an image is taken.
local simulator = require("spec.helpers.simulator")
local clients = require("spec.helpers.client")
local image = require("midjourney.image")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p '" .. d .. "'"))
  return d
end

-- each file's pixels equal the matching quadrant of the grid
local function assert_quadrants(grid_bytes, paths)
  local grid = assert(image.decode(grid_bytes))
  local rects = image.quadrants(grid.width, grid.height)
  for i = 1, 4 do
    local part = assert(image.decode(read(paths[i])))
    local r = rects[i]
    assert.are.equal(r.w, part.width)
    assert.are.equal(r.h, part.height)
    local bpp = grid.channels
    for y = 0, r.h - 1 do
      local first = ((r.y + y) * grid.width + r.x) * bpp
      local row = grid.pixels:sub(first + 1, first + r.w * bpp)
      local prow = part.pixels:sub(y * part.width * part.channels + 1, (y + 1) * part.width * part.channels)
      assert.are.equal(#row, #prow)
      assert.is_true(row == prow, "quadrant " .. i .. " row " .. y)
    end
  end
end

for _, mode in ipairs({ "grid cut locally", "per-image URLs" }) do
  describe("download{split = true} (" .. mode .. ") #sim", function()
    local urls = mode == "per-image URLs"
    local sim = simulator.for_block { speed = 400, seed = 3, image_urls = urls }
    local client = clients.factory(sim)
    local dir
    before_each(function() dir = tmpdir() end)
    after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

    it("gives the four pictures as four files in U1-U4 order, pixel for pixel", function()
      local c = client()
      local grid = assert(c:wait((assert(c:imagine("four boats"))), { interval = 0.02, first_delay = 0 }))
      assert.are.equal(urls, grid.imageUrls ~= nil)
      sim:reset()
      local paths, info = assert(c:download(grid, dir, { split = true }))
      assert.are.equal(4, #paths)
      for i = 1, 4 do assert.are.equal(dir .. "/" .. grid.id .. "-" .. i .. ".png", paths[i]) end
      assert.are.equal(urls and "imageUrls" or "split", info.source)
      -- the grid, fetched separately, is what the four files were cut from
      local whole = dir .. "/whole.png"
      assert(c:download(grid, whole))
      assert_quadrants(read(whole), paths)
      -- per-image URLs: four per-image requests and no grid; locally: one grid request (each
      -- plus the whole grid fetched above)
      local st = sim:stats()
      assert.are.equal(urls and 4 or 0, st.routes.image_part or 0)
      assert.are.equal(urls and 1 or 2, st.routes.image)
      -- no part files left
      local p = io.popen("ls -a '" .. dir .. "'")
      local listing = p:read("*a")
      p:close()
      assert.is_nil(listing:find("%.part"), listing)
      assert.is_nil(listing:find("%.grid"), listing)
    end)

    it("takes a base name instead of a directory", function()
      local c = client()
      local grid = assert(c:wait((assert(c:imagine("named boats"))), { interval = 0.02, first_delay = 0 }))
      local paths = assert(c:download(grid, dir .. "/boats.png", { split = true }))
      for i = 1, 4 do assert.are.equal(dir .. "/boats-" .. i .. ".png", paths[i]) end
    end)
  end)
end

describe("vary_region with a shapes table #sim", function()
  local sim = simulator.for_block { speed = 400, seed = 4 }
  local client = clients.factory(sim)

  it("draws the mask at the image's size from its header and runs to SUCCESS", function()
    local c = client()
    local grid = assert(c:wait((assert(c:imagine("a lighthouse"))), { interval = 0.02, first_delay = 0 }))
    local up = assert(c:upscale(grid, 1, { wait = true, interval = 0.02, first_delay = 0 }))
    local t, err = c:vary_region(up, { { rect = { 0.25, 0.25, 0.5, 0.5 }, unit = "fraction" },
      { ellipse = { 20, 20, 10, 10 } } }, "a red lighthouse", { wait = true, interval = 0.02, first_delay = 0 })
    assert.is_table(t, tostring(err))
    assert.are.equal("SUCCESS", t.status)
  end)

  it("a mask of the wrong size is refused by the gateway (code 4), a file path is read", function()
    local c = client()
    local grid = assert(c:wait((assert(c:imagine("a harbour"))), { interval = 0.02, first_delay = 0 }))
    local up = assert(c:upscale(grid, 1, { wait = true, interval = 0.02, first_delay = 0 }))
    local small = os.tmpname()
    local f = assert(io.open(small, "wb"))
    f:write(image.mask(10, 10, { { rect = { 0, 0, 5, 5 } } }))
    f:close()
    local t, err = c:vary_region(up, small, "a harbour at night", { wait = true, interval = 0.02, first_delay = 0 })
    os.remove(small)
    assert.is_nil(t)
    assert.are.equal("api", err.kind)
    assert.are.equal(4, err.code)
  end)

  it("misspelt shape keys raise before anything is pressed", function()
    local c = client()
    local grid = assert(c:wait((assert(c:imagine("a quay"))), { interval = 0.02, first_delay = 0 }))
    local up = assert(c:upscale(grid, 1, { wait = true, interval = 0.02, first_delay = 0 }))
    sim:reset()
    assert.has_error(function() c:vary_region(up, { { elipse = { 1, 1, 1, 1 } } }, "x") end)
    assert.are.equal(0, sim:count("action"))
  end)
end)

describe("image arguments given as files #sim", function()
  local sim = simulator.for_block { speed = 400, seed = 6 }
  local client = clients.factory(sim)

  it("blend, describe and image prompts take file paths and image bytes", function()
    local c = client()
    local png = require("midjourney.simulator.png").single({ 200, 30, 30 }, 64, 1)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(png)
    f:close()
    assert.is_string((c:blend { base64Array = { path, png } }))
    assert.is_string((c:describe { base64 = path }))
    assert.is_string((c:imagine { prompt = "like this", base64Array = { path } }))
    local notimg = os.tmpname()
    f = assert(io.open(notimg, "wb"))
    f:write("just text, not an image")
    f:close()
    local id, err = c:describe { base64 = notimg }
    assert.is_nil(id)
    assert.are.equal("invalid", err.kind)
    os.remove(path)
    os.remove(notimg)
    assert.are.equal(1, sim:count("describe"))
  end)
end)
