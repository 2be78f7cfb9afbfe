--- A portable pseudo-random generator (Park-Miller, exact in doubles), so that a seed
-- gives the same ids, hashes and timings under Lua 5.4 and LuaJIT alike.
-- @module midjourney.simulator.rng
local M = {}
M.__index = M

local floor = math.floor
local MOD = 2147483647

--- Make a generator. Does not block.
-- @param seed number, or nil for a seed from the clock
-- @return generator
function M.new(seed)
  if seed == nil then
    local ok, socket = pcall(require, "socket")
    local t = ok and socket.gettime() or os.time()
    seed = floor((t * 1000) % MOD) + floor(os.clock() * 1e6)
  end
  local s = floor(seed) % MOD
  if s <= 0 then s = s + 1234567 end
  local g = setmetatable({ state = s }, M)
  for _ = 1, 3 do g:next() end
  return g
end

--- Next raw value in 1..2^31-2. Does not block.
-- @return integer
function M:next()
  self.state = (self.state * 16807) % MOD
  return self.state
end

--- A float in [0, 1). Does not block.
-- @return number
function M:float()
  return (self:next() - 1) / (MOD - 1)
end

--- An integer in [lo, hi]. Does not block.
-- @param lo lower bound
-- @param hi upper bound
-- @return integer
function M:int(lo, hi)
  return lo + floor(self:float() * (hi - lo + 1))
end

--- A float in [lo, hi). Does not block.
-- @param lo lower bound
-- @param hi upper bound
-- @return number
function M:range(lo, hi)
  return lo + self:float() * (hi - lo)
end

--- A string of n lower-case hex digits. Does not block.
-- @param n length
-- @return string
function M:hex(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%x", self:int(0, 15)) end
  return table.concat(t)
end

--- A version-4 style UUID string. Does not block.
-- @return string like "9b2f6c1e-4d7a-4a4e-9f0e-0c3b8d2a7e51"
function M:uuid()
  local variant = ({ "8", "9", "a", "b" })[self:int(1, 4)]
  return self:hex(8) .. "-" .. self:hex(4) .. "-4" .. self:hex(3) .. "-" .. variant .. self:hex(3)
    .. "-" .. self:hex(12)
end

--- A 32-bit hash of a string (djb2 style, exact in doubles). Does not block.
-- @param s string
-- @return integer
function M.hash(s)
  local h = 5381
  for i = 1, #s do
    h = (h * 33 + s:byte(i)) % 4294967291
  end
  return h
end

return M
