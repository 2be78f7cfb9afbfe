-- Development rockspec: `luarocks make` in a checkout builds the working tree. Debian/Ubuntu
-- (README "Install"):
--   sudo luarocks --lua-version=5.4 make   Lua 5.4: the library, `mj` and `mj-simulator`
--   sudo luarocks make                     Lua 5.1, Debian LuaRocks' default: LuaJIT's ABI
--                                          (Neovim, LÖVE, luajit scripts)
-- No header or library variables are needed: only libcurl's library is looked up (LuaRocks
-- searches lib/x86_64-linux-gnu), and the compiler finds curl/curl.h in its own multiarch
-- include directory. CURL_DIR=/opt/homebrew/opt/curl points at a libcurl elsewhere.
-- Release rockspecs are written from a release tag by
-- `lua5.4 scripts/gen-rockspec-modules.lua --release VERSION` (CONTRIBUTING "Cutting a release").
-- The module and install.bin lists between the "generated" markers are kept in step with the
-- tree by `lua5.4 scripts/gen-rockspec-modules.lua`; `make lint` fails when they are stale.
rockspec_format = "3.0"
package = "midjourney"
version = "scm-1"

source = {
   url = "git+https://github.com/lua-midjourney/lua-midjourney.git",
   branch = "main",
}

description = {
   summary = "Drive Midjourney through CometAPI's HTTP API from Lua 5.4 and LuaJIT (Neovim, LÖVE)",
   detailed = [[
lua-midjourney submits Midjourney jobs (imagine, blend, describe, actions such as upscale,
variation, zoom and pan) through CometAPI's HTTP API and waits for them without blocking
the host: a small C core drives libcurl's multi interface, and a pure-Lua layer runs it from
plain scripts (blocking), coroutines, Neovim (libuv timer) or a LÖVE game loop. Ships the
`mj` command-line tool and `mj-simulator`, a local CometAPI simulator for tests and demos.
]],
   homepage = "https://github.com/lua-midjourney/lua-midjourney",
   issues_url = "https://github.com/lua-midjourney/lua-midjourney/issues",
   license = "MIT",
   maintainer = "the lua-midjourney authors",
   labels = { "midjourney", "http", "curl", "async", "neovim", "love" },
}

dependencies = {
   -- The library runs on Lua 5.4 and LuaJIT. LuaRocks calls LuaJIT "5.1" and cannot tell it
   -- from PUC-Rio Lua 5.1, so the range has to include 5.1.
   "lua >= 5.1, < 5.5",
   "lua-cjson",
   "luasocket", -- mj-simulator
}

test_dependencies = {
   "busted",
}

external_dependencies = {
   CURL = {
      library = "curl",
   },
}

build = {
   type = "builtin",
   modules = {
      -- BEGIN generated modules: scripts/gen-rockspec-modules.lua
      ["midjourney.core"] = {
         sources = { "src/core.c", "src/engine.c", "src/scan.c", "src/scan_lua.c" },
         libraries = { "curl" },
         incdirs = { "$(CURL_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)" },
      },
      ["midjourney.attachments"] = "lua/midjourney/attachments.lua",
      ["midjourney.batch"] = "lua/midjourney/batch.lua",
      ["midjourney.buttons"] = "lua/midjourney/buttons.lua",
      ["midjourney.cli.args"] = "lua/midjourney/cli/args.lua",
      ["midjourney.cli.batch"] = "lua/midjourney/cli/batch.lua",
      ["midjourney.cli.commands"] = "lua/midjourney/cli/commands.lua",
      ["midjourney.cli.images"] = "lua/midjourney/cli/images.lua",
      ["midjourney.cli"] = "lua/midjourney/cli/init.lua",
      ["midjourney.cli.render"] = "lua/midjourney/cli/render.lua",
      ["midjourney.client"] = "lua/midjourney/client.lua",
      ["midjourney.customid"] = "lua/midjourney/customid.lua",
      ["midjourney.download"] = "lua/midjourney/download.lua",
      ["midjourney.drivers.cqueues"] = "lua/midjourney/drivers/cqueues.lua",
      ["midjourney.drivers.love"] = "lua/midjourney/drivers/love.lua",
      ["midjourney.drivers.luv"] = "lua/midjourney/drivers/luv.lua",
      ["midjourney.drivers.nvim"] = "lua/midjourney/drivers/nvim.lua",
      ["midjourney.errors"] = "lua/midjourney/errors.lua",
      ["midjourney.health"] = "lua/midjourney/health.lua",
      ["midjourney.ids"] = "lua/midjourney/ids.lua",
      ["midjourney.image"] = "lua/midjourney/image.lua",
      ["midjourney.image.uri"] = "lua/midjourney/image/uri.lua",
      ["midjourney"] = "lua/midjourney/init.lua",
      ["midjourney.journal"] = "lua/midjourney/journal.lua",
      ["midjourney.json"] = "lua/midjourney/json.lua",
      ["midjourney.log"] = "lua/midjourney/log.lua",
      ["midjourney.options"] = "lua/midjourney/options.lua",
      ["midjourney.poller"] = "lua/midjourney/poller.lua",
      ["midjourney.responses"] = "lua/midjourney/responses.lua",
      ["midjourney.retry"] = "lua/midjourney/retry.lua",
      ["midjourney.scheduler"] = "lua/midjourney/scheduler.lua",
      ["midjourney.simulator.faults"] = "lua/midjourney/simulator/faults.lua",
      ["midjourney.simulator.hooks"] = "lua/midjourney/simulator/hooks.lua",
      ["midjourney.simulator.http"] = "lua/midjourney/simulator/http.lua",
      ["midjourney.simulator"] = "lua/midjourney/simulator/init.lua",
      ["midjourney.simulator.json"] = "lua/midjourney/simulator/json.lua",
      ["midjourney.simulator.png"] = "lua/midjourney/simulator/png.lua",
      ["midjourney.simulator.rng"] = "lua/midjourney/simulator/rng.lua",
      ["midjourney.simulator.routes"] = "lua/midjourney/simulator/routes.lua",
      ["midjourney.simulator.server"] = "lua/midjourney/simulator/server.lua",
      ["midjourney.simulator.tasks"] = "lua/midjourney/simulator/tasks.lua",
      ["midjourney.task"] = "lua/midjourney/task.lua",
      ["midjourney.transport"] = "lua/midjourney/transport.lua",
      ["midjourney.validate"] = "lua/midjourney/validate.lua",
      ["midjourney.verbs"] = "lua/midjourney/verbs.lua",
      ["midjourney.wait"] = "lua/midjourney/wait.lua",
      -- END generated modules
   },
   install = {
      bin = {
         -- BEGIN generated bin: scripts/gen-rockspec-modules.lua
         ["mj"] = "bin/mj",
         ["mj-simulator"] = "bin/mj-simulator",
         -- END generated bin
      },
   },
   platforms = {
      windows = {
         modules = {
            ["midjourney.core"] = {
               libraries = { "libcurl" },
            },
         },
      },
   },
}

test = {
   type = "busted",
}
