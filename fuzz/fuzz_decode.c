/* libFuzzer target: the two JSON decoders must agree. The same bytes go to the C scanner
 * (mjs_validate, what core.scan_json and core.check_json use) and to the Lua decode path
 * (midjourney.json.decode, and the lazy decode of a scanned Task through lua-cjson).
 *   - json.decode accepts exactly what the scanner accepts;
 *   - whatever the scanner accepts, lua-cjson (our instance) decodes: a scanned Task can
 *     always materialise its other fields, never stays half-empty.
 * Built against Lua 5.4 and the core's own sources (fuzz/run.sh); lua-cjson is the
 * system module. MJ_ROOT is the checkout (for lua/?.lua). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../src/scan.h"

int luaopen_midjourney_core(lua_State *L);

#ifndef MJ_ROOT
#define MJ_ROOT "."
#endif

static lua_State *L;
static int ref_decode, ref_decode_scanned;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushstring(L, MJ_ROOT "/lua/?.lua;" MJ_ROOT "/lua/?/init.lua");
  lua_setfield(L, -2, "path");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_midjourney_core);
  lua_setfield(L, -2, "midjourney.core");
  lua_pop(L, 2);
  lua_getglobal(L, "require");
  lua_pushstring(L, "midjourney.json");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_decode: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_getfield(L, -1, "decode");
  ref_decode = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, -1, "decode_scanned");
  ref_decode_scanned = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return 0;
}

/* 1 when fn(text) returned a first value that is not nil (JSON null decodes to json.null). */
static int lua_accepts(int ref, const uint8_t *data, size_t size) {
  int ok;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_decode: decode raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  ok = !lua_isnil(L, -1);
  lua_pop(L, 1);
  return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mjs_parser p;
  int scanner, decode;
  static unsigned runs;
  mjs_init(&p, (const char *)data, size, MJS_DEFAULT_DEPTH);
  scanner = mjs_validate(&p) != MJS_NONE;
  decode = lua_accepts(ref_decode, data, size);
  if (scanner != decode) {
    fprintf(stderr, "fuzz_decode: the scanner %s and json.decode %s\n", scanner ? "accepts" : "refuses",
            decode ? "accepts" : "refuses");
    abort();
  }
  if (scanner && !lua_accepts(ref_decode_scanned, data, size)) {
    fprintf(stderr, "fuzz_decode: lua-cjson refuses a body the scanner accepts\n");
    abort();
  }
  if (++runs % 4096 == 0) lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
