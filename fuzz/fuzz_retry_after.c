/* libFuzzer target: Retry-After, retry-after-ms and HTTP-date parsing. */
#include <stdint.h>
#include <stdlib.h>

#include "../src/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  static const double nows[] = {0, 784111777, 1773314942.5, 4102444800.0};
  double out, epoch;
  size_t k;
  for (k = 0; k < sizeof nows / sizeof nows[0]; k++) {
    if (mjs_parse_retry_after(s, size, nows[k], &out) && !(out >= 0 && out <= 86400)) abort();
  }
  if (mjs_parse_retry_after_ms(s, size, &out) && !(out >= 0 && out <= 86400)) abort();
  if (mjs_parse_http_date(s, size, &epoch) && !(epoch >= -2208988800.0 && epoch < 253402300800.0)) abort();
  return 0;
}
