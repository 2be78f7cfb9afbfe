-- Example plugin: `:MjImagine {prompt}` runs imagine -> wait -> download without
-- blocking the editor and reports progress with vim.notify.
-- Put examples/nvim (and the lua-midjourney repo) on the runtime path to try it.
if vim.g.loaded_mj_example then return end
vim.g.loaded_mj_example = true

vim.api.nvim_create_user_command("MjImagine", function(args)
  require("mj_example").imagine(args.args)
end, { nargs = "+", desc = "Midjourney: imagine a prompt (progress via vim.notify)" })

vim.api.nvim_create_user_command("MjCancel", function()
  require("mj_example").cancel_all()
end, { nargs = 0, desc = "Midjourney: cancel running :MjImagine jobs" })
