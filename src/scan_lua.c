/* Placeholder until the scanners land: adds nothing. */
#include "compat.h"

int mjs_open_scan(lua_State *L) {
  (void)L;
  return 0;
}
