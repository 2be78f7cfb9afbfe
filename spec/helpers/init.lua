-- Loaded by busted before every spec file (see .busted).
-- Paths are set by scripts/test.sh; this only guards against a missing build.
local ok, err = pcall(require, "midjourney.core")
if not ok then
  io.stderr:write("midjourney.core is not built for this interpreter: run `make test`\n", tostring(err), "\n")
end
