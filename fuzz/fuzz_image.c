/* libFuzzer target: the decode -> split path of midjourney.image_core (src/image/codec.c) on hostile
 * PNG, JPEG and WebP bytes, and the header-size limits. Lower limits than the library's keep each run
 * small; the invariants are checked on every input that decodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/image/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mji_limits lim;
  mji_image info;
  mji_rect q[4];
  unsigned char *out[4];
  size_t out_size[4];
  char err[MJI_ERRLEN];
  int i, rc;
  lim.max_side = 1024;
  lim.max_pixels = 512 * 512;
  rc = mji_split(data, size, &lim, 1, out, out_size, &info, err);
  if (rc != MJI_OK) {
    for (i = 0; i < 4; i++)
      if (out[i]) abort(); /* nothing may be left allocated on failure */
    if (err[0] == '\0' || memchr(err, '\0', MJI_ERRLEN) == NULL) abort();
    return 0;
  }
  if (info.pixels) abort();
  if (info.width < 2 || info.height < 2 || info.width > lim.max_side || info.height > lim.max_side) abort();
  if ((uint64_t)info.width * info.height > lim.max_pixels) abort();
  if (info.channels != 3 && info.channels != 4) abort();
  mji_quadrants(info.width, info.height, q);
  if (q[0].w + q[1].w != info.width || q[0].h + q[2].h != info.height) abort();
  for (i = 0; i < 4; i++) {
    mji_image part;
    mji_limits any = mji_default_limits();
    /* each part is a PNG we can decode again, with the quadrant's size */
    if (!out[i] || mji_decode(out[i], out_size[i], &any, &part, err) != MJI_OK) abort();
    if (part.format != MJI_PNG || part.width != q[i].w || part.height != q[i].h ||
        part.channels != info.channels)
      abort();
    mji_image_free(&part);
    free(out[i]);
  }
  return 0;
}
