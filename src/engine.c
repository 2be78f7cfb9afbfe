/* Placeholder until the engine lands. */
#include "compat.h"

int mjs_open_engine(lua_State *L) {
  (void)L;
  return 0;
}
