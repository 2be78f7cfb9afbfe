/* Image codec glue for midjourney.image_core: decode PNG (libspng), JPEG (libjpeg-turbo) and WebP
 * (libwebp) into 8-bit RGB/RGBA, cut a 2x2 grid into four PNGs, rasterize Vary Region masks.
 * Pure C with no Lua dependency, so it can be fuzzed (fuzz/fuzz_image.c). libjpeg reports errors
 * by longjmp: that longjmp stays inside codec.c, whose frames never hold Lua state. */
#ifndef MJ_IMAGE_CODEC_H
#define MJ_IMAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define MJI_HIDDEN __attribute__((visibility("hidden")))

/* Hard limits, checked from the header before any pixel buffer is allocated. */
#define MJI_MAX_SIDE 16384u
#define MJI_MAX_PIXELS 268435456u /* 256 Mpixel = 16384 x 16384 */

enum { MJI_UNKNOWN = 0, MJI_PNG = 1, MJI_JPEG = 2, MJI_WEBP = 3, MJI_GIF = 4 };

/* Error classes (the Lua layer turns them into err.reason). */
enum {
  MJI_OK = 0,
  MJI_EUNSUPPORTED = 1, /* not PNG/JPEG/WebP, or a variant we do not decode (GIF, CMYK JPEG, animation) */
  MJI_ETOOLARGE = 2,    /* over the width/height/pixel limits */
  MJI_ECORRUPT = 3,     /* truncated or malformed data */
  MJI_ENOMEM = 4,       /* allocation failed */
  MJI_EINVALID = 5      /* bad arguments (sizes, channels) */
};

#define MJI_ERRLEN 256

typedef struct {
  uint32_t max_side;   /* each of width and height must be <= this */
  uint64_t max_pixels; /* width * height must be <= this */
} mji_limits;

typedef struct {
  int format; /* MJI_PNG, MJI_JPEG, MJI_WEBP */
  uint32_t width, height;
  int channels;          /* 3 (RGB) or 4 (RGBA), 8 bits each, rows top to bottom, no padding */
  unsigned char *pixels; /* malloc'd, width * height * channels bytes; free with mji_image_free */
} mji_image;

typedef struct {
  uint32_t x, y, w, h;
} mji_rect;

/* A shape of a mask, in pixel units (doubles). kind 1 = rect {x, y, w, h}, 2 = ellipse {cx, cy, rx, ry}. */
typedef struct {
  int kind;
  double a, b, c, d;
} mji_shape;

/* The format from the first bytes (MJI_UNKNOWN when none matches). */
MJI_HIDDEN int mji_sniff(const unsigned char *data, size_t size);
MJI_HIDDEN const char *mji_format_name(int format);

/* The default limits (MJI_MAX_SIDE, MJI_MAX_PIXELS). */
MJI_HIDDEN mji_limits mji_default_limits(void);

/* Checks width/height against limits; on failure writes a message naming the limit. */
MJI_HIDDEN int mji_check_size(uint64_t width, uint64_t height, const mji_limits *lim, char *err);

/* Decodes PNG, JPEG or WebP. Returns MJI_OK and fills *img, or an error class with a message in
 * err (MJI_ERRLEN bytes). On error *img holds nothing to free. */
MJI_HIDDEN int mji_decode(const unsigned char *data, size_t size, const mji_limits *lim, mji_image *img,
                          char *err);
MJI_HIDDEN void mji_image_free(mji_image *img);

/* The four quadrants of a width x height grid in U1..U4 order (top-left, top-right, bottom-left,
 * bottom-right). The left column and the top row get the extra pixel of an odd size:
 * left width = ceil(width / 2), right width = floor(width / 2), and the same for heights.
 * Needs width >= 2 and height >= 2. */
MJI_HIDDEN void mji_quadrants(uint32_t width, uint32_t height, mji_rect q[4]);

/* Encodes the rect r of a pixel buffer (rows of `stride` bytes, `channels` 1 = gray, 3 = RGB,
 * 4 = RGBA) as an 8-bit PNG with zlib level `level` (0-9, -1 = default). *out is malloc'd
 * (free with free()). */
MJI_HIDDEN int mji_encode_png(const unsigned char *pixels, size_t stride, int channels, mji_rect r, int level,
                              unsigned char **out, size_t *out_size, char *err);

/* Decodes a grid and encodes its four quadrants (mji_quadrants) as PNGs: out[i] malloc'd, sizes in
 * out_size[i]; *info gets the grid's format, size and channels (info->pixels stays NULL). On error
 * nothing is left allocated. */
MJI_HIDDEN int mji_split(const unsigned char *data, size_t size, const mji_limits *lim, int level,
                         unsigned char *out[4], size_t out_size[4], mji_image *info, char *err);

/* Rasterizes shapes into a width x height 8-bit gray buffer (255 inside any shape, 0 elsewhere)
 * and encodes it as a gray PNG. A pixel (px, py) is inside a rect when x <= px + 0.5 < x + w and
 * y <= py + 0.5 < y + h; inside an ellipse when ((px + 0.5 - cx) / rx)^2 + ((py + 0.5 - cy) / ry)^2
 * <= 1. */
MJI_HIDDEN int mji_mask_png(uint32_t width, uint32_t height, const mji_shape *shapes, size_t n, int level,
                            unsigned char **out, size_t *out_size, char *err);

/* Library versions, for diagnostics. */
MJI_HIDDEN const char *mji_spng_version(void);
MJI_HIDDEN int mji_jpeg_version(void);
MJI_HIDDEN int mji_webp_version(void);

#endif
