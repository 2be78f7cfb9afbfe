-- LÖVE configuration for the lua-midjourney example game.
function love.conf(t)
  t.identity = "lua-midjourney-example"
  t.window.title = "lua-midjourney: imagine"
  t.window.width = 640
  t.window.height = 520
  -- In test mode (MJ_LOVE_RESULT set) do not wait for vsync, so the frame count shows
  -- how often the loop really runs while jobs are in flight.
  if os.getenv("MJ_LOVE_RESULT") then t.window.vsync = 0 end
  t.modules.audio = false
  t.modules.sound = false
  t.modules.joystick = false
  t.modules.physics = false
  t.modules.video = false
end
