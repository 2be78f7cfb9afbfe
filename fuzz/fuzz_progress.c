/* libFuzzer target: progress parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  double out, v;
  if (mjs_parse_progress((const char *)data, size, &out) && !(out >= 0 && out <= 100)) abort();
  if (size >= sizeof v) {
    memcpy(&v, data, sizeof v);
    if (mjs_clamp_progress(v, &out) && !(out >= 0 && out <= 100)) abort();
  }
  return 0;
}
