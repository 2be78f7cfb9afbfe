--- customIds as data: their `::`-separated parts, and the two ways of matching them
-- (a family of consecutive parts, a pattern on one part). Never used to build one.
--
-- Nothing in this module blocks or yields.
-- @module midjourney.customid
local M = {}

--- The `::`-separated parts of a customId.
-- @tparam string cid
-- @treturn table list of strings
function M.parts(cid)
  local out = {}
  for part in (cid .. "::"):gmatch("(.-)::") do out[#out + 1] = part end
  return out
end

--- True when the parts of `fam` appear, consecutively, among the parts of `cid`
-- (`"upsample::2"` matches `MJ::JOB::upsample::2::<hash>`).
-- @tparam string cid
-- @tparam string fam
-- @treturn boolean
function M.family_match(cid, fam)
  local segs, want = M.parts(cid), M.parts(fam)
  for i = 1, #segs - #want + 1 do
    local ok = true
    for j = 1, #want do
      if segs[i + j - 1] ~= want[j] then ok = false; break end
    end
    if ok then return true end
  end
  return false
end

--- True when one part of `cid` matches the Lua pattern `pattern`.
-- @tparam string cid
-- @tparam string pattern
-- @treturn boolean
function M.has_part(cid, pattern)
  for _, part in ipairs(M.parts(cid)) do
    if part:match(pattern) then return true end
  end
  return false
end

return M
