/* libFuzzer target: the JSON scanner (validate, member walk as core.scan_json does, unescape). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/scan.h"

static void check_string(const char *s, size_t n, const mjs_value *v) {
  char *out;
  size_t len;
  if (v->off + v->len > n) abort();
  out = malloc(v->len + 1);
  len = mjs_unescape(s + v->off, v->len, out);
  if (len > v->len) abort();
  if (!(v->flags & MJS_STR_ESC) && (len != v->len || memcmp(out, s + v->off, len) != 0)) abort();
  free(out);
}

static void check_number(const char *s, size_t n, const mjs_value *v) {
  long long iv;
  if (v->off + v->len > n || v->len == 0) abort();
  if (mjs_small_int(s + v->off, v->len, &iv) && !(v->flags & MJS_NUM_INT)) abort();
  if ((v->flags & MJS_NUM_BIG) && mjs_small_int(s + v->off, v->len, &iv)) abort();
  (void)mjs_to_double(s + v->off, v->len);
}

static void check_value(const char *s, size_t n, const mjs_value *v) {
  if (v->type == MJS_STRING) check_string(s, n, v);
  else if (v->type == MJS_NUMBER) check_number(s, n, v);
  else if (v->off + v->len > n) abort();
}

/* Walk an entered object's members. 1 ok, 0 error. */
static int walk_fields(mjs_parser *p, mjs_iter *it) {
  mjs_member m;
  int r;
  while ((r = mjs_next(p, it, &m, 0)) == 1) {
    check_string(p->s, p->n, &m.key);
    check_value(p->s, p->n, &m.value);
  }
  return r == 0;
}

/* Same walk as l_scan_json. Returns the top-level type or MJS_NONE. */
static int walk(const char *s, size_t n, int depth) {
  mjs_parser p;
  mjs_iter it, inner;
  mjs_member m;
  mjs_value v;
  int t, r;
  mjs_init(&p, s, n, depth);
  t = mjs_peek(&p);
  if (t == MJS_NONE) return MJS_NONE;
  if (t == MJS_OBJECT) {
    mjs_enter(&p, &it);
    if (!walk_fields(&p, &it)) return MJS_NONE;
  } else if (t == MJS_ARRAY) {
    mjs_enter(&p, &it);
    while ((r = mjs_next(&p, &it, &m, MJS_OBJECT)) == 1) {
      if (m.entered) {
        size_t start = m.value.off;
        mjs_parser sub;
        mjs_enter(&p, &inner);
        if (!walk_fields(&p, &inner)) return MJS_NONE;
        /* the element's raw text scans on its own */
        mjs_init(&sub, s + start, p.pos - start, depth);
        if (mjs_validate(&sub) != MJS_OBJECT) abort();
      } else {
        check_value(s, n, &m.value);
      }
    }
    if (r < 0) return MJS_NONE;
  } else {
    if (!mjs_value_scan(&p, &v)) return MJS_NONE;
    check_value(s, n, &v);
  }
  if (!mjs_finish(&p)) return MJS_NONE;
  if (p.depth != 0) abort();
  return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  mjs_parser p;
  int a, b, depth = 64;
  mjs_init(&p, s, size, depth);
  a = mjs_validate(&p);
  if (a == MJS_NONE && (p.err == NULL || p.err_pos > size)) abort();
  if (a != MJS_NONE && p.err != NULL) abort();
  b = walk(s, size, depth);
  /* walk and validate must agree (true/false map to the same letter class) */
  if ((a == MJS_NONE) != (b == MJS_NONE)) abort();
  /* a smaller depth limit can only reject more */
  mjs_init(&p, s, size, 3);
  if (mjs_validate(&p) != MJS_NONE && a == MJS_NONE) abort();
  return 0;
}
