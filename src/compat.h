/* One C source for Lua 5.4 and LuaJIT (Lua 5.1 API): the few shims we need. */
#ifndef MJ_COMPAT_H
#define MJ_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define mj_setfuncs(L, l) luaL_register((L), NULL, (l))
#define mj_newuserdata(L, sz) lua_newuserdata((L), (sz))
#define mj_rawlen(L, i) lua_objlen((L), (i))
#define mj_absindex(L, i) (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
#else
#define mj_setfuncs(L, l) luaL_setfuncs((L), (l), 0)
#define mj_rawlen(L, i) lua_rawlen((L), (i))
#define mj_absindex(L, i) lua_absindex((L), (i))
#if LUA_VERSION_NUM >= 504
#define mj_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 0)
#else
#define mj_newuserdata(L, sz) lua_newuserdata((L), (sz))
#endif
#endif

/* Functions shared between the C files of the module; hidden from the .so's exports. */
#define MJ_HIDDEN __attribute__((visibility("hidden")))

MJ_HIDDEN int mjs_open_engine(lua_State *L); /* engine.c: adds core.engine to the table on top */
MJ_HIDDEN int mjs_open_scan(lua_State *L);   /* scan_lua.c: adds the scanners */

#endif
