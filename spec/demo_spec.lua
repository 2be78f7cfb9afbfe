-- `make demo` (scripts/demo.sh): a real imagine -> wait -> U1 -> wait -> download
-- against the simulator it starts itself, leaving two PNGs a person can open.
local root = os.getenv("PWD") or "."

local read = require("spec.helpers.simulator").read_file

describe("#once make demo", function()
  it("runs the whole loop and leaves the grid and the upscale as PNG files", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local p = io.popen(("cd %s && MJ_DEMO_SPEED=200 timeout 120 sh %s/scripts/demo.sh 2>&1"):format(dir, root))
    local out = p:read("*a")
    local ok, _, code = p:close()
    local grid, up = read(dir .. "/demo-grid.png"), read(dir .. "/demo-upscale.png")
    os.execute("rm -rf " .. dir)
    assert.is_true(ok == true or code == 0, out)
    assert.matches("customId read from the newest buttons: MJ::JOB::upsample::1::", out)
    assert.matches("SUCCESS", out)
    assert.are.equal("\137PNG", grid and grid:sub(1, 4))
    assert.are.equal("\137PNG", up and up:sub(1, 4))
    assert.are_not.equal(grid, up)
  end)
end)
