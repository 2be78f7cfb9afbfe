-- The image codec of lua-midjourney, `midjourney.image_core`, as its own rock: it links libspng,
-- libjpeg(-turbo) and libwebp, and LuaRocks' builtin backend cannot make a C module optional (a
-- missing external dependency fails the whole install), so keeping it out of the `midjourney` rock
-- keeps that rock installable with libcurl alone. The Lua side (`midjourney.image`,
-- `midjourney.image.uri`) ships in the `midjourney` rock; this rock adds the C module it loads.
--
-- It lives in rockspecs/image/ because `luarocks make` without an argument refuses a checkout whose
-- top directory (or rockspecs/) holds rockspecs of two different packages. From a checkout, after
-- the `midjourney` rock (README "Install"), with no further variables on Debian/Ubuntu:
--   sudo luarocks --lua-version=5.4 make rockspecs/image/midjourney-image-scm-1.rockspec   (Lua 5.4)
--   sudo luarocks make rockspecs/image/midjourney-image-scm-1.rockspec          (LuaJIT's 5.1 ABI)
-- Debian/Ubuntu: apt-get install libspng-dev libjpeg-dev libwebp-dev. Other prefixes: SPNG_DIR,
-- JPEG_DIR, WEBP_DIR (or the *_INCDIR/*_LIBDIR variables).
-- The source list between the "generated" markers is kept in step with src/image/*.c by
-- `lua5.4 scripts/gen-rockspec-modules.lua`.
rockspec_format = "3.0"
package = "midjourney-image"
version = "scm-1"

source = {
   url = "git+https://github.com/lua-midjourney/lua-midjourney.git",
   branch = "main",
}

description = {
   summary = "Image codec for lua-midjourney: split 2x2 grids, Vary Region masks (libspng, libjpeg-turbo, libwebp)",
   detailed = [[
The C module midjourney.image_core behind midjourney.image: decodes PNG, JPEG and WebP with the
system's libspng, libjpeg-turbo and libwebp, cuts a Midjourney 2x2 grid into its four pictures as
PNG files in U1-U4 order, and draws Vary Region masks. Sizes are checked against hard limits
(16384 x 16384, 256 Mpixel) from the header before any pixel buffer is allocated.
]],
   homepage = "https://github.com/lua-midjourney/lua-midjourney",
   issues_url = "https://github.com/lua-midjourney/lua-midjourney/issues",
   license = "MIT",
   maintainer = "the lua-midjourney authors",
   labels = { "midjourney", "image", "png", "jpeg", "webp" },
}

dependencies = {
   "lua >= 5.1, < 5.5",
   "midjourney", -- midjourney.image (Lua), which loads this module
}

external_dependencies = {
   SPNG = {
      header = "spng.h",
      library = "spng",
   },
   JPEG = {
      header = "jpeglib.h",
      library = "jpeg",
   },
   WEBP = {
      header = "webp/decode.h",
      library = "webp",
   },
}

build = {
   type = "builtin",
   modules = {
      -- BEGIN generated image-modules: scripts/gen-rockspec-modules.lua
      ["midjourney.image_core"] = {
         sources = { "src/image/codec.c", "src/image/image_core.c" },
         libraries = { "spng", "jpeg", "webp", "m" },
         incdirs = { "$(SPNG_INCDIR)", "$(JPEG_INCDIR)", "$(WEBP_INCDIR)" },
         libdirs = { "$(SPNG_LIBDIR)", "$(JPEG_LIBDIR)", "$(WEBP_LIBDIR)" },
      },
      -- END generated image-modules
   },
}
