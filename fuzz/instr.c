/* Instruction-count driver for the JSON scanner (not a fuzz target).
 *   cc -O2 -Isrc fuzz/instr.c src/scan.c -o /tmp/instr
 *   for n in 1 1001; do valgrind --tool=callgrind --callgrind-out-file=/dev/null /tmp/instr FILE $n; done
 * (difference of the two totals) / 1000 = instructions per validation of FILE. */
#include <stdio.h>
#include <stdlib.h>

#include "scan.h"

int main(int argc, char **argv) {
  static char buf[1 << 20];
  FILE *f;
  size_t n;
  long k, times, sink = 0;
  if (argc < 3 || !(f = fopen(argv[1], "rb"))) {
    fprintf(stderr, "usage: instr FILE TIMES\n");
    return 2;
  }
  n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  times = atol(argv[2]);
  for (k = 0; k < times; k++) {
    mjs_parser p;
    mjs_init(&p, buf, n, MJS_DEFAULT_DEPTH);
    sink += mjs_validate(&p);
  }
  printf("%ld\n", sink);
  return 0;
}
