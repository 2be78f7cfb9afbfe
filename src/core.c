/* midjourney.core: module entry, clock, sleep, libcurl facts. */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <time.h>

#include "compat.h"

#define MJ_CORE_VERSION "0.1.0"

static int core_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

static int core_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec ts;
  if (!(s > 0)) return 0; /* also rejects NaN */
  if (s > 86400.0) s = 86400.0;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
  return 0;
}

static int core_curl_info(lua_State *L) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, v->version);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, v->ssl_version ? v->ssl_version : "");
  lua_setfield(L, -2, "ssl");
  lua_pushboolean(L, (v->features & CURL_VERSION_ASYNCHDNS) != 0);
  lua_setfield(L, -2, "asynchdns");
  lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
  lua_setfield(L, -2, "http2");
  lua_pushboolean(L, (v->features & CURL_VERSION_SSL) != 0);
  lua_setfield(L, -2, "tls");
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"now", core_now},
  {"sleep", core_sleep},
  {"curl_info", core_curl_info},
  {NULL, NULL},
};

__attribute__((visibility("default"))) int luaopen_midjourney_core(lua_State *L);

int luaopen_midjourney_core(lua_State *L) {
  static int curl_ready = 0;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return luaL_error(L, "curl_global_init failed");
    curl_ready = 1;
  }
  lua_newtable(L);
  mj_setfuncs(L, core_funcs);
  lua_pushliteral(L, MJ_CORE_VERSION);
  lua_setfield(L, -2, "version");
  mjs_open_engine(L);
  mjs_open_scan(L);
  return 1;
}
