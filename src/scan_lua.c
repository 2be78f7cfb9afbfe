/* Lua bindings of the scanners (scan.c): core.scan_json, quote_big_integers,
 * parse_retry_after, parse_retry_after_ms, parse_progress, classify, integerize.
 * Number rule: an integer literal of 16+ digits becomes a string of exactly
 * those digits; other numbers are Lua numbers, integers on 5.3+ when integral. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "scan.h"

static const char *check_text(lua_State *L, int i, size_t *len) {
  if (lua_type(L, i) != LUA_TSTRING)
    luaL_argerror(L, i, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, i)));
  return lua_tolstring(L, i, len);
}

static void push_json_number(lua_State *L, const char *s, const mjs_value *v) {
  long long iv;
  double d;
  if (v->flags & MJS_NUM_BIG) {
    lua_pushlstring(L, s + v->off, v->len);
    return;
  }
  if (mjs_small_int(s + v->off, v->len, &iv)) {
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)iv);
#else
    lua_pushnumber(L, (lua_Number)iv);
#endif
    return;
  }
  d = mjs_to_double(s + v->off, v->len);
#if LUA_VERSION_NUM >= 503
  {
    lua_Integer n;
    if (d == floor(d) && lua_numbertointeger(d, &n)) {
      lua_pushinteger(L, n);
      return;
    }
  }
#endif
  lua_pushnumber(L, (lua_Number)d);
}

static void push_json_string(lua_State *L, const char *s, const mjs_value *v) {
  char small[256], *buf = small;
  size_t len;
  if (!(v->flags & MJS_STR_ESC)) {
    lua_pushlstring(L, s + v->off, v->len);
    return;
  }
  if (v->len > sizeof small) buf = (char *)mj_newuserdata(L, v->len);
  len = mjs_unescape(s + v->off, v->len, buf);
  lua_pushlstring(L, buf, len);
  if (buf != small) lua_remove(L, -2);
}

/* Pushes the Lua value of a scalar; returns 0 (pushes nothing) for null and containers. */
static int push_scalar(lua_State *L, const char *s, const mjs_value *v) {
  switch (v->type) {
  case MJS_STRING: push_json_string(L, s, v); return 1;
  case MJS_NUMBER: push_json_number(L, s, v); return 1;
  case MJS_TRUE: lua_pushboolean(L, 1); return 1;
  case MJS_FALSE: lua_pushboolean(L, 0); return 1;
  default: return 0;
  }
}

/* Walk an entered object; scalar members go into the table on top. 1 ok, 0 error. */
/* A member named "id" (a task id) holding a number keeps the number's exact text: an id is
 * what the server sent, the same on every interpreter ("-0", "1e3" and 17 digits alike). */
static int is_id_key(const char *s, const mjs_value *key) {
  return key->len == 2 && !(key->flags & MJS_STR_ESC) && s[key->off] == 'i' && s[key->off + 1] == 'd';
}

static int fill_fields(lua_State *L, mjs_parser *p, mjs_iter *it) {
  mjs_member m;
  int r;
  while ((r = mjs_next(p, it, &m, 0)) == 1) {
    if (m.value.type == MJS_OBJECT || m.value.type == MJS_ARRAY || m.value.type == MJS_NULL) continue;
    push_json_string(L, p->s, &m.key);
    if (m.value.type == MJS_NUMBER && is_id_key(p->s, &m.key))
      lua_pushlstring(L, p->s + m.value.off, m.value.len);
    else
      push_scalar(L, p->s, &m.value);
    lua_rawset(L, -3);
  }
  return r == 0;
}

static int json_error(lua_State *L, const mjs_parser *p) {
  lua_pushnil(L);
  lua_pushfstring(L, "invalid JSON: %s at byte %d", p->err ? p->err : "malformed", (int)(p->err_pos + 1));
  return 2;
}

static int opt_depth(lua_State *L, int i) {
  lua_Number d;
  if (lua_isnoneornil(L, i)) return MJS_DEFAULT_DEPTH;
  if (lua_type(L, i) != LUA_TNUMBER)
    luaL_argerror(L, i, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, i)));
  d = lua_tonumber(L, i);
  if (!(d >= 1 && d <= MJS_MAX_DEPTH) || d != floor(d))
    luaL_argerror(L, i, "max_depth must be an integer from 1 to 4096");
  return (int)d;
}

/* Sets t.raw (element text) and t.type for an array item at value v. */
static void set_item_raw(lua_State *L, const char *s, const mjs_value *v) {
  if (v->type == MJS_STRING)
    lua_pushlstring(L, s + v->off - 1, v->len + 2);
  else
    lua_pushlstring(L, s + v->off, v->len);
  lua_setfield(L, -2, "raw");
  lua_pushstring(L, mjs_type_name(v->type));
  lua_setfield(L, -2, "type");
}

/* The members a poll reads: "id", "status" and "progress" (unescaped keys). A Task gets every
 * other field from the full decode when something asks for it, so a poll builds no strings for
 * the prompt, the URLs or the description. */
static int is_poll_key(const char *s, const mjs_value *key) {
  const char *k = s + key->off;
  if (key->flags & MJS_STR_ESC) return 0;
  switch (key->len) {
  case 2: return k[0] == 'i' && k[1] == 'd';
  case 6: return memcmp(k, "status", 6) == 0;
  case 8: return memcmp(k, "progress", 8) == 0;
  default: return 0;
  }
}

/* Like fill_fields, for the poll members only (the rest is validated and skipped). */
static int fill_poll_fields(lua_State *L, mjs_parser *p, mjs_iter *it) {
  mjs_member m;
  int r;
  while ((r = mjs_next(p, it, &m, 0)) == 1) {
    if (!is_poll_key(p->s, &m.key)) continue;
    if (m.value.type == MJS_NUMBER && m.key.len == 2) {
      lua_pushlstring(L, p->s + m.value.off, m.value.len); /* an id: its exact text */
    } else if (!push_scalar(L, p->s, &m.value)) {
      continue;
    }
    lua_pushlstring(L, p->s + m.key.off, m.key.len);
    lua_insert(L, -2);
    lua_rawset(L, -3);
  }
  return r == 0;
}

/* core.scan_task(text) -> fields | nil, err. The whole text is validated (it must be one JSON
 * object); fields holds its id, status and progress. */
static int l_scan_task(lua_State *L) {
  size_t n;
  const char *s = check_text(L, 1, &n);
  mjs_parser p;
  mjs_iter it;
  mjs_value v;
  int t;
  mjs_init(&p, s, n, MJS_DEFAULT_DEPTH);
  t = mjs_peek(&p);
  if (t == MJS_NONE) return json_error(L, &p);
  if (t != MJS_OBJECT) {
    if (!mjs_value_scan(&p, &v) || !mjs_finish(&p)) return json_error(L, &p);
    lua_pushnil(L);
    lua_pushfstring(L, "expected a JSON object, got %s", mjs_type_name(t));
    return 2;
  }
  mjs_enter(&p, &it);
  lua_createtable(L, 0, 4);
  if (!fill_poll_fields(L, &p, &it) || !mjs_finish(&p)) return json_error(L, &p);
  return 1;
}

/* core.scan_tasks(text) -> fields list, raw list | false (null) | nil, err. The whole text is
 * validated; for a JSON array, each object item gives its poll fields and its own text (items
 * that are not objects are skipped); null gives false. */
static int l_scan_tasks(lua_State *L) {
  size_t n;
  const char *s = check_text(L, 1, &n);
  mjs_parser p;
  mjs_iter it, inner;
  mjs_member m;
  mjs_value v;
  int t, r, idx = 0;
  mjs_init(&p, s, n, MJS_DEFAULT_DEPTH);
  t = mjs_peek(&p);
  if (t == MJS_NONE) return json_error(L, &p);
  if (t != MJS_ARRAY) {
    if (!mjs_value_scan(&p, &v) || !mjs_finish(&p)) return json_error(L, &p);
    if (t == MJS_NULL) {
      lua_pushboolean(L, 0);
      return 1;
    }
    lua_pushnil(L);
    lua_pushfstring(L, "expected a JSON array, got %s", mjs_type_name(t));
    return 2;
  }
  mjs_enter(&p, &it);
  lua_newtable(L);
  lua_newtable(L);
  while ((r = mjs_next(&p, &it, &m, MJS_OBJECT)) == 1) {
    if (!m.entered) continue;
    mjs_enter(&p, &inner);
    lua_createtable(L, 0, 4);
    if (!fill_poll_fields(L, &p, &inner)) return json_error(L, &p);
    lua_rawseti(L, -3, ++idx);
    lua_pushlstring(L, s + m.value.off, p.pos - m.value.off);
    lua_rawseti(L, -2, idx);
  }
  if (r < 0 || !mjs_finish(&p)) return json_error(L, &p);
  return 2;
}

/* core.check_json(text [, max_depth]) -> type name | nil, err: validation only, no tables. */
static int l_check_json(lua_State *L) {
  size_t n;
  const char *s = check_text(L, 1, &n);
  mjs_parser p;
  int t;
  mjs_init(&p, s, n, opt_depth(L, 2));
  t = mjs_validate(&p);
  if (t == MJS_NONE) return json_error(L, &p);
  lua_pushstring(L, mjs_type_name(t));
  return 1;
}

/* core.scan_json(text [, max_depth]) -> info | nil, err */
static int l_scan_json(lua_State *L) {
  size_t n;
  const char *s = check_text(L, 1, &n);
  int max_depth = opt_depth(L, 2), t, r;
  mjs_parser p;
  mjs_iter it, inner;
  mjs_member m;
  mjs_value v;
  lua_settop(L, 2);
  mjs_init(&p, s, n, max_depth);
  t = mjs_peek(&p);
  if (t == MJS_NONE) return json_error(L, &p);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, mjs_type_name(t));
  lua_setfield(L, -2, "type");
  if (t == MJS_OBJECT) {
    mjs_enter(&p, &it);
    lua_createtable(L, 0, 24);
    if (!fill_fields(L, &p, &it)) return json_error(L, &p);
    lua_setfield(L, -2, "fields");
  } else if (t == MJS_ARRAY) {
    int idx = 0;
    mjs_enter(&p, &it);
    lua_newtable(L);
    while ((r = mjs_next(&p, &it, &m, MJS_OBJECT)) == 1) {
      lua_createtable(L, 0, 3);
      if (m.entered) {
        mjs_enter(&p, &inner);
        lua_createtable(L, 0, 24);
        if (!fill_fields(L, &p, &inner)) return json_error(L, &p);
        lua_setfield(L, -2, "fields");
        m.value.len = p.pos - m.value.off;
      } else if (push_scalar(L, s, &m.value)) {
        lua_setfield(L, -2, "value");
      }
      set_item_raw(L, s, &m.value);
      lua_rawseti(L, -2, ++idx);
    }
    if (r < 0) return json_error(L, &p);
    lua_setfield(L, -2, "items");
  } else {
    if (!mjs_value_scan(&p, &v)) return json_error(L, &p);
    if (push_scalar(L, s, &v)) lua_setfield(L, -2, "value");
  }
  if (!mjs_finish(&p)) return json_error(L, &p);
  return 1;
}

/* core.quote_big_integers(text) -> text */
static int l_quote_big_integers(lua_State *L) {
  size_t n, count, outlen = 0;
  const char *s = check_text(L, 1, &n);
  char *out;
  count = mjs_quote_big_integers(s, n, NULL, NULL);
  if (count == 0) {
    lua_settop(L, 1);
    return 1;
  }
  out = (char *)mj_newuserdata(L, n + 2 * count);
  mjs_quote_big_integers(s, n, out, &outlen);
  lua_pushlstring(L, out, outlen);
  return 1;
}

/* Header value argument: string, number (taken as is) or nil (absent header). */
static const char *header_arg(lua_State *L, const char *fname, size_t *n, lua_Number *num, int *is_num) {
  int t = lua_type(L, 1);
  *is_num = 0;
  if (t == LUA_TSTRING) return lua_tolstring(L, 1, n);
  if (t == LUA_TNUMBER) {
    *is_num = 1;
    *num = lua_tonumber(L, 1);
    return NULL;
  }
  if (t == LUA_TNONE || t == LUA_TNIL) return NULL;
  luaL_error(L, "bad argument #1 to '%s' (string, number or nil expected, got %s)", fname,
             luaL_typename(L, 1));
  return NULL;
}

/* Pushes the seconds of a delay header read by header_arg: a number argument within [0, max]
   (in units of 1/per_second seconds), else the text's value `out` when `parsed`, else nil. */
static int push_delay(lua_State *L, int is_num, lua_Number num, double max, double per_second, int parsed,
                      double out) {
  if (is_num && num >= 0 && num <= max)
    lua_pushnumber(L, num / per_second);
  else if (parsed)
    lua_pushnumber(L, (lua_Number)out);
  else
    lua_pushnil(L);
  return 1;
}

/* core.parse_retry_after(value [, now_epoch]) -> seconds | nil */
static int l_parse_retry_after(lua_State *L) {
  size_t n = 0;
  lua_Number num = 0, now;
  int is_num, parsed;
  double out = 0;
  const char *s = header_arg(L, "parse_retry_after", &n, &num, &is_num);
  if (lua_isnoneornil(L, 2)) {
    now = (lua_Number)time(NULL);
  } else {
    if (lua_type(L, 2) != LUA_TNUMBER)
      luaL_argerror(L, 2, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, 2)));
    now = lua_tonumber(L, 2);
  }
  parsed = !is_num && s && mjs_parse_retry_after(s, n, (double)now, &out);
  return push_delay(L, is_num, num, 86400, 1, parsed, out);
}

/* core.parse_retry_after_ms(value) -> seconds | nil */
static int l_parse_retry_after_ms(lua_State *L) {
  size_t n = 0;
  lua_Number num = 0;
  int is_num, parsed;
  double out = 0;
  const char *s = header_arg(L, "parse_retry_after_ms", &n, &num, &is_num);
  parsed = !is_num && s && mjs_parse_retry_after_ms(s, n, &out);
  return push_delay(L, is_num, num, 86400000.0, 1000.0, parsed, out);
}

/* core.parse_progress(value) -> number | nil */
static int l_parse_progress(lua_State *L) {
  size_t n = 0;
  lua_Number num = 0;
  int is_num, ok;
  double out;
  const char *s = header_arg(L, "parse_progress", &n, &num, &is_num);
  if (is_num)
    ok = mjs_clamp_progress((double)num, &out);
  else
    ok = s && mjs_parse_progress(s, n, &out);
  if (!ok) {
    lua_pushnil(L);
    return 1;
  }
#if LUA_VERSION_NUM >= 503
  if (out == floor(out)) {
    lua_pushinteger(L, (lua_Integer)out);
    return 1;
  }
#endif
  lua_pushnumber(L, (lua_Number)out);
  return 1;
}

static void set_scalar(lua_State *L, const char *s, const mjs_value *v, const char *name) {
  if (v->type == MJS_STRING && v->len == 0) return; /* "" carries nothing (e.g. OpenAI code "") */
  if (push_scalar(L, s, v)) lua_setfield(L, -2, name);
}

/* The request id inside the string field name of the table on top, if any. */
static int set_request_id(lua_State *L, const char *name) {
  size_t n, off, len;
  const char *t;
  int found = 0;
  lua_getfield(L, -1, name);
  t = lua_tolstring(L, -1, &n);
  if (t && lua_type(L, -1) == LUA_TSTRING && mjs_find_request_id(t, n, &off, &len)) {
    lua_pushlstring(L, t + off, len);
    lua_setfield(L, -3, "request_id");
    found = 1;
  }
  lua_pop(L, 1);
  return found;
}

/* core.classify(status, body) -> info */
static int l_classify(lua_State *L) {
  size_t n;
  const char *s;
  mjs_class c;
  if (lua_type(L, 1) != LUA_TNUMBER)
    luaL_argerror(L, 1, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, 1)));
  if (lua_isnil(L, 2)) {
    s = "";
    n = 0;
  } else {
    s = check_text(L, 2, &n);
  }
  mjs_classify(s, n, &c);
  lua_createtable(L, 0, 10);
  lua_pushstring(L, mjs_shape_name(c.shape));
  lua_setfield(L, -2, "shape");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "status");
  if (c.shape == MJS_SHAPE_INVALID) {
    lua_pushfstring(L, "invalid JSON: %s at byte %d", c.err, (int)(c.err_pos + 1));
    lua_setfield(L, -2, "error");
    return 1;
  }
  if (c.shape == MJS_SHAPE_EMPTY) return 1;
  set_scalar(L, s, &c.code, "code");
  set_scalar(L, s, &c.description, "description");
  set_scalar(L, s, &c.message, "message");
  set_scalar(L, s, &c.type, "type");
  if (c.success.type == MJS_TRUE || c.success.type == MJS_FALSE) set_scalar(L, s, &c.success, "success");
  if (c.top == MJS_OBJECT) {
    const char *kind = "absent";
    switch (c.result.type) {
    case MJS_STRING:
      kind = "string";
      push_json_string(L, s, &c.result);
      break;
    case MJS_NUMBER:
      kind = "string";
      lua_pushlstring(L, s + c.result.off, c.result.len);
      break;
    case MJS_NULL: kind = "null"; break;
    case MJS_ARRAY: kind = "array"; break;
    case MJS_NONE: break;
    default: kind = "other"; break;
    }
    if (kind[0] == 's') lua_setfield(L, -2, "result");
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "result_kind");
    if (c.result.type == MJS_ARRAY) { /* results = the string/number elements, in order */
      mjs_parser p;
      mjs_iter it;
      mjs_member m;
      int idx = 0;
      mjs_init(&p, s + c.result.off, c.result.len, MJS_DEFAULT_DEPTH);
      mjs_enter(&p, &it);
      lua_newtable(L);
      while (mjs_next(&p, &it, &m, 0) == 1) {
        if (m.value.type == MJS_STRING)
          push_json_string(L, p.s, &m.value);
        else if (m.value.type == MJS_NUMBER)
          lua_pushlstring(L, p.s + m.value.off, m.value.len);
        else
          continue;
        lua_rawseti(L, -2, ++idx);
      }
      lua_setfield(L, -2, "results");
    }
    if (c.properties.type == MJS_OBJECT) { /* properties = its scalar members */
      mjs_parser p;
      mjs_iter it;
      mjs_init(&p, s + c.properties.off, c.properties.len, MJS_DEFAULT_DEPTH);
      mjs_enter(&p, &it);
      lua_newtable(L);
      fill_fields(L, &p, &it);
      lua_setfield(L, -2, "properties");
    }
    if (!set_request_id(L, "message")) set_request_id(L, "description");
  }
  return 1;
}

#if LUA_VERSION_NUM >= 503
static void integerize(lua_State *L, int idx, int depth) {
  luaL_checkstack(L, 4, "integerize: table too deep");
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int t = lua_type(L, -1);
    if (t == LUA_TNUMBER && !lua_isinteger(L, -1)) {
      lua_Number x = lua_tonumber(L, -1);
      lua_Integer i;
      if (x == floor(x) && lua_numbertointeger(x, &i)) {
        lua_pushvalue(L, -2);
        lua_pushinteger(L, i);
        lua_rawset(L, idx);
      }
    } else if (t == LUA_TTABLE && depth > 1) {
      integerize(L, lua_gettop(L), depth - 1);
    }
    lua_pop(L, 1);
  }
}
#endif

/* core.integerize(tbl [, max_depth]) -> tbl */
static int l_integerize(lua_State *L) {
  int depth;
  luaL_checktype(L, 1, LUA_TTABLE);
  depth = opt_depth(L, 2);
  lua_settop(L, 1);
#if LUA_VERSION_NUM >= 503
  integerize(L, 1, depth);
#else
  (void)depth;
#endif
  return 1;
}

int mjs_open_scan(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"scan_json", l_scan_json},
    {"check_json", l_check_json},
    {"scan_task", l_scan_task},
    {"scan_tasks", l_scan_tasks},
    {"quote_big_integers", l_quote_big_integers},
    {"parse_retry_after", l_parse_retry_after},
    {"parse_retry_after_ms", l_parse_retry_after_ms},
    {"parse_progress", l_parse_progress},
    {"classify", l_classify},
    {"integerize", l_integerize},
    {NULL, NULL},
  };
  mj_setfuncs(L, funcs);
  return 0;
}
