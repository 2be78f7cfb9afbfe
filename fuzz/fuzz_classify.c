/* libFuzzer target: response classification (and request-id extraction). */
#include <stdint.h>
#include <stdlib.h>

#include "../src/scan.h"

static void span_ok(const mjs_value *v, size_t n) {
  if (v->type != MJS_NONE && v->off + v->len > n) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  mjs_class c;
  mjs_parser p;
  size_t off, len;
  int valid;
  mjs_classify(s, size, &c);
  if (c.shape < MJS_SHAPE_INVALID || c.shape > MJS_SHAPE_JSON) abort();
  span_ok(&c.code, size);
  span_ok(&c.description, size);
  span_ok(&c.message, size);
  span_ok(&c.type, size);
  span_ok(&c.result, size);
  span_ok(&c.properties, size);
  mjs_init(&p, s, size, MJS_DEFAULT_DEPTH);
  valid = mjs_validate(&p) != MJS_NONE;
  if (c.shape == MJS_SHAPE_INVALID && (valid || c.err == NULL)) abort();
  if (c.shape != MJS_SHAPE_INVALID && c.shape != MJS_SHAPE_EMPTY && !valid) abort();
  if ((c.shape == MJS_SHAPE_OPENAI || c.shape == MJS_SHAPE_SUBMIT || c.shape == MJS_SHAPE_RELAY) &&
      c.top != MJS_OBJECT)
    abort();
  if (c.properties.type == MJS_OBJECT) { /* the binding re-enters this span */
    mjs_init(&p, s + c.properties.off, c.properties.len, MJS_DEFAULT_DEPTH);
    if (mjs_validate(&p) != MJS_OBJECT) abort();
  }
  if (mjs_find_request_id(s, size, &off, &len) && (len == 0 || off + len > size)) abort();
  return 0;
}
