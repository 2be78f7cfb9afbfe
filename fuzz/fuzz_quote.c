/* libFuzzer target: quote_big_integers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  size_t count = mjs_quote_big_integers(s, size, NULL, NULL), outlen = 0, again;
  char *out = malloc(size + 2 * count + 1);
  mjs_parser p;
  int valid;
  if (mjs_quote_big_integers(s, size, out, &outlen) != count) abort();
  if (outlen != size + 2 * count) abort();
  if (count == 0 && memcmp(out, s, size) != 0) abort();
  mjs_init(&p, s, size, 64);
  valid = mjs_validate(&p) != MJS_NONE;
  if (valid) {
    /* valid JSON stays valid, and nothing is left to quote */
    mjs_init(&p, out, outlen, 64);
    if (mjs_validate(&p) == MJS_NONE) abort();
    again = mjs_quote_big_integers(out, outlen, NULL, NULL);
    if (again != 0) abort();
  }
  free(out);
  return 0;
}
