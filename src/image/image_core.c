/* midjourney.image_core: Lua bindings of codec.c. The public API is midjourney.image (Lua), which
 * validates arguments and turns failures into error objects; this layer only moves bytes.
 *
 * Every codec call runs to completion before any Lua API call that could raise: buffers malloc'd by
 * the codec are parked in a "box" userdata (created first, freed by its __gc) so a memory error
 * while pushing results cannot leak them. No Lua state is held while a codec runs. */
#include <stdlib.h>
#include <string.h>

#include "../compat.h"
#include "codec.h"

#define BOX_MT "midjourney.image_core.box"
#define BOX_SLOTS 4

typedef struct {
  void *p[BOX_SLOTS];
} box;

static void box_clear(box *b) {
  int i;
  for (i = 0; i < BOX_SLOTS; i++) {
    free(b->p[i]);
    b->p[i] = NULL;
  }
}

static int box_gc(lua_State *L) {
  box_clear((box *)luaL_checkudata(L, 1, BOX_MT));
  return 0;
}

static box *box_new(lua_State *L) {
  box *b = (box *)mj_newuserdata(L, sizeof(box));
  memset(b, 0, sizeof *b);
  luaL_getmetatable(L, BOX_MT);
  lua_setmetatable(L, -2);
  return b;
}

static const char *reason_name(int code) {
  switch (code) {
  case MJI_EUNSUPPORTED: return "unsupported";
  case MJI_ETOOLARGE: return "too_large";
  case MJI_ECORRUPT: return "corrupt";
  case MJI_ENOMEM: return "nomem";
  default: return "invalid";
  }
}

/* nil, message, reason */
static int push_fail(lua_State *L, int code, const char *err) {
  lua_pushnil(L);
  lua_pushstring(L, err);
  lua_pushstring(L, reason_name(code));
  return 3;
}

/* Limits from optional arguments i and i+1; they can only lower the hard limits. */
static mji_limits opt_limits(lua_State *L, int i) {
  mji_limits lim = mji_default_limits();
  lua_Integer side = luaL_optinteger(L, i, (lua_Integer)lim.max_side);
  lua_Integer pixels = luaL_optinteger(L, i + 1, (lua_Integer)lim.max_pixels);
  luaL_argcheck(L, side >= 1 && side <= (lua_Integer)MJI_MAX_SIDE, i, "max_side out of range");
  luaL_argcheck(L, pixels >= 1 && pixels <= (lua_Integer)MJI_MAX_PIXELS, i + 1, "max_pixels out of range");
  lim.max_side = (uint32_t)side;
  lim.max_pixels = (uint64_t)pixels;
  return lim;
}

static int opt_level(lua_State *L, int i) {
  lua_Integer level = luaL_optinteger(L, i, -1);
  luaL_argcheck(L, level >= -1 && level <= 9, i, "compression level must be 0 to 9");
  return (int)level;
}

/* decode(bytes [, max_side, max_pixels]) -> format, width, height, channels, pixels | nil, msg, reason */
static int l_decode(lua_State *L) {
  size_t size;
  const char *data = luaL_checklstring(L, 1, &size);
  mji_limits lim = opt_limits(L, 2);
  char err[MJI_ERRLEN];
  mji_image img;
  box *b = box_new(L);
  int rc = mji_decode((const unsigned char *)data, size, &lim, &img, err);
  if (rc != MJI_OK) return push_fail(L, rc, err);
  b->p[0] = img.pixels;
  lua_pushstring(L, mji_format_name(img.format));
  lua_pushinteger(L, (lua_Integer)img.width);
  lua_pushinteger(L, (lua_Integer)img.height);
  lua_pushinteger(L, img.channels);
  lua_pushlstring(L, (const char *)img.pixels, (size_t)img.width * img.height * (size_t)img.channels);
  box_clear(b);
  return 5;
}

/* split(bytes [, level, max_side, max_pixels]) -> png1, png2, png3, png4, format, width, height, channels
 *                                               | nil, msg, reason */
static int l_split(lua_State *L) {
  size_t size, out_size[4];
  const char *data = luaL_checklstring(L, 1, &size);
  int level = opt_level(L, 2);
  mji_limits lim = opt_limits(L, 3);
  unsigned char *out[4];
  char err[MJI_ERRLEN];
  mji_image info;
  int i, rc;
  box *b = box_new(L);
  rc = mji_split((const unsigned char *)data, size, &lim, level, out, out_size, &info, err);
  if (rc != MJI_OK) return push_fail(L, rc, err);
  for (i = 0; i < 4; i++) b->p[i] = out[i];
  for (i = 0; i < 4; i++) lua_pushlstring(L, (const char *)out[i], out_size[i]);
  lua_pushstring(L, mji_format_name(info.format));
  lua_pushinteger(L, (lua_Integer)info.width);
  lua_pushinteger(L, (lua_Integer)info.height);
  lua_pushinteger(L, info.channels);
  box_clear(b);
  return 8;
}

/* encode_png(pixels, width, height, channels [, level]) -> png | nil, msg, reason */
static int l_encode_png(lua_State *L) {
  size_t size, out_size;
  const char *pixels = luaL_checklstring(L, 1, &size);
  lua_Integer w = luaL_checkinteger(L, 2), h = luaL_checkinteger(L, 3), ch = luaL_checkinteger(L, 4);
  int level = opt_level(L, 5);
  mji_limits lim = mji_default_limits();
  unsigned char *out;
  char err[MJI_ERRLEN];
  mji_rect r;
  box *b;
  int rc;
  luaL_argcheck(L, ch == 1 || ch == 3 || ch == 4, 4, "channels must be 1, 3 or 4");
  luaL_argcheck(L, w >= 1 && h >= 1, 2, "width and height must be positive");
  if (mji_check_size((uint64_t)w, (uint64_t)h, &lim, err) != MJI_OK) return luaL_error(L, "%s", err);
  luaL_argcheck(L, size == (size_t)w * (size_t)h * (size_t)ch, 1,
                "pixels must hold width * height * channels bytes");
  b = box_new(L);
  r.x = 0, r.y = 0, r.w = (uint32_t)w, r.h = (uint32_t)h;
  rc = mji_encode_png((const unsigned char *)pixels, (size_t)w * (size_t)ch, (int)ch, r, level, &out,
                      &out_size, err);
  if (rc != MJI_OK) return push_fail(L, rc, err);
  b->p[0] = out;
  lua_pushlstring(L, (const char *)out, out_size);
  box_clear(b);
  return 1;
}

/* mask(width, height, shapes [, level]) -> png | nil, msg, reason
 * shapes: a flat array {kind, a, b, c, d, kind, a, b, c, d, ...} in pixels (kind 1 rect, 2 ellipse),
 * already validated by midjourney.image. */
static int l_mask(lua_State *L) {
  lua_Integer w = luaL_checkinteger(L, 1), h = luaL_checkinteger(L, 2);
  size_t n, i, out_size;
  int level = opt_level(L, 4), rc;
  mji_shape *shapes;
  unsigned char *out;
  char err[MJI_ERRLEN];
  box *b;
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, w >= 1 && w <= (lua_Integer)MJI_MAX_SIDE, 1, "width out of range");
  luaL_argcheck(L, h >= 1 && h <= (lua_Integer)MJI_MAX_SIDE, 2, "height out of range");
  n = mj_rawlen(L, 3);
  luaL_argcheck(L, n % 5 == 0 && n / 5 <= 100000, 3, "shapes must be groups of 5 numbers");
  n /= 5;
  b = box_new(L);
  shapes = (mji_shape *)calloc(n ? n : 1, sizeof *shapes);
  if (!shapes) return luaL_error(L, "out of memory");
  b->p[0] = shapes;
  for (i = 0; i < n; i++) {
    lua_Number v[5];
    int k;
    for (k = 0; k < 5; k++) {
      lua_rawgeti(L, 3, (int)(i * 5 + (size_t)k + 1));
      if (!lua_isnumber(L, -1)) return luaL_argerror(L, 3, "shapes must hold numbers only");
      v[k] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
    shapes[i].kind = (int)v[0];
    shapes[i].a = v[1], shapes[i].b = v[2], shapes[i].c = v[3], shapes[i].d = v[4];
  }
  rc = mji_mask_png((uint32_t)w, (uint32_t)h, shapes, n, level, &out, &out_size, err);
  box_clear(b);
  if (rc != MJI_OK) return push_fail(L, rc, err);
  b->p[0] = out;
  lua_pushlstring(L, (const char *)out, out_size);
  box_clear(b);
  return 1;
}

/* quadrants(width, height) -> {x1, y1, w1, h1, x2, ...} (U1..U4), the split rule of codec.h */
static int l_quadrants(lua_State *L) {
  lua_Integer w = luaL_checkinteger(L, 1), h = luaL_checkinteger(L, 2);
  mji_rect q[4];
  int i;
  luaL_argcheck(L, w >= 2 && w <= (lua_Integer)MJI_MAX_SIDE, 1, "width must be 2 to 16384");
  luaL_argcheck(L, h >= 2 && h <= (lua_Integer)MJI_MAX_SIDE, 2, "height must be 2 to 16384");
  mji_quadrants((uint32_t)w, (uint32_t)h, q);
  lua_createtable(L, 16, 0);
  for (i = 0; i < 4; i++) {
    lua_pushinteger(L, (lua_Integer)q[i].x);
    lua_rawseti(L, -2, i * 4 + 1);
    lua_pushinteger(L, (lua_Integer)q[i].y);
    lua_rawseti(L, -2, i * 4 + 2);
    lua_pushinteger(L, (lua_Integer)q[i].w);
    lua_rawseti(L, -2, i * 4 + 3);
    lua_pushinteger(L, (lua_Integer)q[i].h);
    lua_rawseti(L, -2, i * 4 + 4);
  }
  return 1;
}

static void push_version(lua_State *L, int v, const char *field) {
  /* libwebp packs major.minor.revision in bytes; libjpeg-turbo as MMMmmmppp */
  if (v > 1000000)
    lua_pushfstring(L, "%d.%d.%d", v / 1000000, (v / 1000) % 1000, v % 1000);
  else if (v > 255)
    lua_pushfstring(L, "%d.%d.%d", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  else
    lua_pushfstring(L, "%d", v);
  lua_setfield(L, -2, field);
}

static int l_versions(lua_State *L) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, mji_spng_version());
  lua_setfield(L, -2, "spng");
  push_version(L, mji_jpeg_version(), "jpeg");
  push_version(L, mji_webp_version(), "webp");
  return 1;
}

static const luaL_Reg image_funcs[] = {
  {"decode", l_decode}, {"split", l_split},         {"encode_png", l_encode_png},
  {"mask", l_mask},     {"quadrants", l_quadrants}, {"versions", l_versions},
  {NULL, NULL},
};

__attribute__((visibility("default"))) int luaopen_midjourney_image_core(lua_State *L);

int luaopen_midjourney_image_core(lua_State *L) {
  if (luaL_newmetatable(L, BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  mj_setfuncs(L, image_funcs);
  lua_pushinteger(L, (lua_Integer)MJI_MAX_SIDE);
  lua_setfield(L, -2, "max_side");
  lua_pushinteger(L, (lua_Integer)MJI_MAX_PIXELS);
  lua_setfield(L, -2, "max_pixels");
  return 1;
}
