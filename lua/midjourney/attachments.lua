--- The attachments of a host driver (libuv, cqueues): at most one per scheduler, each
-- kicked when work is queued on its scheduler from outside a step. One registry per
-- driver; the drivers' `attachment()`, `detach()` and `status()` are built on it.
--
-- Nothing in this module blocks or yields.
-- @module midjourney.attachments
local scheduler = require "midjourney.scheduler"

local M = {}

local Registry = {}
Registry.__index = Registry

--- A new, empty registry.
-- @return the registry
function M.new()
  return setmetatable({
    by = setmetatable({}, { __mode = "k" }),     -- scheduler -> its attachment
    hooked = setmetatable({}, { __mode = "k" }), -- scheduler -> true once on_work is registered
    last = nil,                                  -- the default scheduler's latest attachment
  }, Registry)
end

--- The attachment of scheduler `s` (default: the default scheduler), or nil.
-- @param[opt] s a scheduler
function Registry:get(s)
  return self.by[s or scheduler.default()]
end

--- Registers attachment `a` (with a `kick()` method) for scheduler `s`: work queued on
-- `s` kicks it from now on; when `s` is busy already it is kicked at once.
-- @param s a scheduler
-- @param a the attachment
-- @return a
function Registry:add(s, a)
  self.by[s] = a
  if s == scheduler.default() then self.last = a end
  if not self.hooked[s] then
    self.hooked[s] = true
    local by = self.by
    s:on_work(function()
      local cur = by[s]
      if cur then cur:kick() end
    end)
  end
  if s:busy() then a:kick() end
  return a
end

--- Forgets attachment `a` of scheduler `s` (when it is still the registered one).
-- @param s a scheduler
-- @param a the attachment
function Registry:remove(s, a)
  if self.by[s] == a then self.by[s] = nil end
end

--- The `status()` of the default scheduler's attachment, or of its latest one after a
-- detach, or `{ attached = false }`.
-- @treturn table
function Registry:status()
  local a = self.by[scheduler.default()] or self.last
  if not a then return { attached = false } end
  return a:status()
end

return M
