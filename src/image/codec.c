/* Image codec glue: libspng, libjpeg(-turbo), libwebp. No Lua in this file (see codec.h). */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <spng.h>
#include <webp/decode.h>

#include "codec.h"

/* A progressive JPEG may hold any number of scans, and each costs a pass over the coefficients:
 * refuse absurd counts instead of spinning (libjpeg-turbo's own fuzzers stop at 500). */
#define MJI_JPEG_MAX_SCANS 500
/* libjpeg's working memory (coefficient buffers of progressive images), beyond our pixel buffer:
 * enough for a 16384 x 16384 4:2:0 progressive JPEG. */
#define MJI_JPEG_MAX_MEMORY (1024L * 1024 * 1024)
/* Ancillary PNG chunks kept in memory (text, ICC profiles, unknown chunks). */
#define MJI_PNG_CHUNK_LIMIT ((size_t)64 * 1024 * 1024)
#define MJI_PNG_CACHE_LIMIT ((size_t)128 * 1024 * 1024)

static int fail(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, MJI_ERRLEN, fmt, ap);
  va_end(ap);
  return code;
}

int mji_sniff(const unsigned char *p, size_t n) {
  if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return MJI_PNG;
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return MJI_JPEG;
  if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return MJI_WEBP;
  if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return MJI_GIF;
  return MJI_UNKNOWN;
}

const char *mji_format_name(int format) {
  switch (format) {
  case MJI_PNG: return "png";
  case MJI_JPEG: return "jpeg";
  case MJI_WEBP: return "webp";
  case MJI_GIF: return "gif";
  default: return "unknown";
  }
}

mji_limits mji_default_limits(void) {
  mji_limits l;
  l.max_side = MJI_MAX_SIDE;
  l.max_pixels = MJI_MAX_PIXELS;
  return l;
}

int mji_check_size(uint64_t width, uint64_t height, const mji_limits *lim, char *err) {
  if (width == 0 || height == 0)
    return fail(err, MJI_ECORRUPT, "image header gives an empty size (%llux%llu)", (unsigned long long)width,
                (unsigned long long)height);
  if (width > lim->max_side || height > lim->max_side || width * height > lim->max_pixels)
    return fail(err, MJI_ETOOLARGE,
                "image is %llux%llu pixels, over the limit of %ux%u and %llu pixels; refused before decoding",
                (unsigned long long)width, (unsigned long long)height, (unsigned)lim->max_side,
                (unsigned)lim->max_side, (unsigned long long)lim->max_pixels);
  return MJI_OK;
}

void mji_image_free(mji_image *img) {
  if (img) {
    free(img->pixels);
    img->pixels = NULL;
  }
}

/* ---- PNG (libspng: errors are return codes, no setjmp) ---------------------------------------- */

static int decode_png(const unsigned char *data, size_t size, const mji_limits *lim, mji_image *img,
                      char *err) {
  struct spng_ihdr ihdr;
  struct spng_trns trns;
  size_t len = 0;
  int rc, fmt, alpha;
  spng_ctx *ctx = spng_ctx_new(0);
  if (!ctx) return fail(err, MJI_ENOMEM, "out of memory");
  spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_DISCARD);
  spng_set_chunk_limits(ctx, MJI_PNG_CHUNK_LIMIT, MJI_PNG_CACHE_LIMIT);
  rc = spng_set_png_buffer(ctx, data, size);
  if (!rc) rc = spng_get_ihdr(ctx, &ihdr);
  if (rc) {
    rc = fail(err, MJI_ECORRUPT, "invalid PNG header: %s", spng_strerror(rc));
    goto out;
  }
  if ((rc = mji_check_size(ihdr.width, ihdr.height, lim, err)) != MJI_OK) goto out;
  alpha =
    ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA || ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
  if (!alpha) {
    rc = spng_get_trns(ctx, &trns);
    if (rc == 0) {
      alpha = 1;
    } else if (rc != SPNG_ECHUNKAVAIL) {
      rc = fail(err, MJI_ECORRUPT, "invalid PNG: %s", spng_strerror(rc));
      goto out;
    }
  }
  fmt = alpha ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8;
  img->channels = alpha ? 4 : 3;
  rc = spng_decoded_image_size(ctx, fmt, &len);
  if (rc || len != (size_t)ihdr.width * ihdr.height * (size_t)img->channels) {
    rc = fail(err, MJI_ECORRUPT, "invalid PNG: %s", rc ? spng_strerror(rc) : "unexpected image size");
    goto out;
  }
  img->pixels = malloc(len);
  if (!img->pixels) {
    rc = fail(err, MJI_ENOMEM, "out of memory for a %ux%u image", ihdr.width, ihdr.height);
    goto out;
  }
  rc = spng_decode_image(ctx, img->pixels, len, fmt, SPNG_DECODE_TRNS);
  if (rc) {
    rc = fail(err, rc == SPNG_ECHUNK_LIMITS ? MJI_ETOOLARGE : MJI_ECORRUPT, "cannot decode PNG: %s",
              spng_strerror(rc));
    mji_image_free(img);
    goto out;
  }
  img->format = MJI_PNG;
  img->width = ihdr.width;
  img->height = ihdr.height;
  rc = MJI_OK;
out:
  spng_ctx_free(ctx);
  return rc;
}

int mji_encode_png(const unsigned char *pixels, size_t stride, int channels, mji_rect r, int level,
                   unsigned char **out, size_t *out_size, char *err) {
  struct spng_ihdr ihdr;
  size_t row_len, len = 0;
  uint32_t y;
  int rc;
  void *buf;
  spng_ctx *ctx;
  *out = NULL;
  *out_size = 0;
  if (channels != 1 && channels != 3 && channels != 4)
    return fail(err, MJI_EINVALID, "channels must be 1, 3 or 4 (got %d)", channels);
  if (r.w == 0 || r.h == 0) return fail(err, MJI_EINVALID, "cannot encode an empty image");
  if (level < -1 || level > 9) return fail(err, MJI_EINVALID, "compression level must be 0 to 9");
  ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  if (!ctx) return fail(err, MJI_ENOMEM, "out of memory");
  memset(&ihdr, 0, sizeof ihdr);
  ihdr.width = r.w;
  ihdr.height = r.h;
  ihdr.bit_depth = 8;
  ihdr.color_type = channels == 1   ? SPNG_COLOR_TYPE_GRAYSCALE
                    : channels == 3 ? SPNG_COLOR_TYPE_TRUECOLOR
                                    : SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
  rc = spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  if (!rc && level >= 0) rc = spng_set_option(ctx, SPNG_IMG_COMPRESSION_LEVEL, level);
  if (!rc) rc = spng_set_ihdr(ctx, &ihdr);
  if (!rc) rc = spng_encode_image(ctx, NULL, 0, SPNG_FMT_PNG, SPNG_ENCODE_PROGRESSIVE | SPNG_ENCODE_FINALIZE);
  row_len = (size_t)r.w * (size_t)channels;
  for (y = 0; !rc && y < r.h; y++) {
    rc = spng_encode_row(ctx, pixels + (size_t)(r.y + y) * stride + (size_t)r.x * (size_t)channels, row_len);
  }
  if (rc != SPNG_EOI) {
    rc = fail(err, rc == SPNG_EMEM ? MJI_ENOMEM : MJI_EINVALID, "cannot encode PNG: %s",
              rc ? spng_strerror(rc) : "the encoder wanted more rows");
    spng_ctx_free(ctx);
    return rc;
  }
  buf = spng_get_png_buffer(ctx, &len, &rc);
  spng_ctx_free(ctx);
  if (!buf || rc) {
    free(buf);
    return fail(err, MJI_ENOMEM, "cannot encode PNG: %s", rc ? spng_strerror(rc) : "no output");
  }
  *out = buf;
  *out_size = len;
  return MJI_OK;
}

/* ---- JPEG (libjpeg reports errors by longjmp; it never leaves this file) ----------------------- */

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jmp;
  char msg[JMSG_LENGTH_MAX];
} jpeg_err;

typedef struct {
  struct jpeg_decompress_struct cinfo;
  jpeg_err jerr;
  struct jpeg_progress_mgr progress;
  const mji_limits *lim;
  mji_image *img;
  int code; /* error class when the longjmp came from our own checks */
  char *err;
} jpeg_job;

static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_err *e = (jpeg_err *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, e->msg);
  longjmp(e->jmp, 1);
}

/* Warnings that mean the decoded pixels are wrong (truncated or corrupt data) stop the decode:
 * a grid cut into four must never silently come out grey at the bottom. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  switch (cinfo->err->msg_code) {
  case JWRN_JPEG_EOF:
  case JWRN_HIT_MARKER:
  case JWRN_HUFF_BAD_CODE:
  case JWRN_ARITH_BAD_CODE:
  case JWRN_MUST_RESYNC:
  case JWRN_NOT_SEQUENTIAL: jpeg_on_error(cinfo); break;
  default: break;
  }
}

static void jpeg_on_progress(j_common_ptr cinfo) {
  if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > MJI_JPEG_MAX_SCANS) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    snprintf(e->msg, sizeof e->msg, "JPEG has more than %d scans", MJI_JPEG_MAX_SCANS);
    longjmp(e->jmp, 1);
  }
}

/* Every libjpeg call lives here, after the setjmp; the caller cleans up whichever way it returns.
 * Nothing in this frame is read after a longjmp except through `job`, which is not modified. */
static int jpeg_run(jpeg_job *job, const unsigned char *data, size_t size) {
  struct jpeg_decompress_struct *c = &job->cinfo;
  if (setjmp(job->jerr.jmp)) return job->code ? job->code : MJI_ECORRUPT;
  jpeg_create_decompress(c);
  c->mem->max_memory_to_use = MJI_JPEG_MAX_MEMORY;
  c->progress = &job->progress;
  jpeg_mem_src(c, data, (unsigned long)size);
  jpeg_read_header(c, TRUE);
  if ((job->code = mji_check_size(c->image_width, c->image_height, job->lim, job->err)) != MJI_OK)
    return job->code;
  switch (c->jpeg_color_space) {
  case JCS_GRAYSCALE:
  case JCS_YCbCr:
  case JCS_RGB: break;
  default:
    job->code = fail(job->err, MJI_EUNSUPPORTED, "JPEG colour space %d (CMYK/YCCK) is not supported",
                     (int)c->jpeg_color_space);
    return job->code;
  }
  c->out_color_space = JCS_RGB;
  jpeg_start_decompress(c);
  if (c->output_width != c->image_width || c->output_height != c->image_height || c->output_components != 3) {
    job->code = fail(job->err, MJI_ECORRUPT, "unexpected JPEG output geometry");
    return job->code;
  }
  job->img->pixels = malloc((size_t)c->output_width * c->output_height * 3);
  if (!job->img->pixels) {
    job->code =
      fail(job->err, MJI_ENOMEM, "out of memory for a %ux%u image", c->output_width, c->output_height);
    return job->code;
  }
  while (c->output_scanline < c->output_height) {
    JSAMPROW row = job->img->pixels + (size_t)c->output_scanline * c->output_width * 3;
    if (jpeg_read_scanlines(c, &row, 1) != 1) {
      job->code = fail(job->err, MJI_ECORRUPT, "JPEG data ended early");
      return job->code;
    }
  }
  jpeg_finish_decompress(c);
  return MJI_OK;
}

static int decode_jpeg(const unsigned char *data, size_t size, const mji_limits *lim, mji_image *img,
                       char *err) {
  jpeg_job *job;
  int rc;
  if (size > ULONG_MAX) return fail(err, MJI_ETOOLARGE, "JPEG data too large");
  job = calloc(1, sizeof *job);
  if (!job) return fail(err, MJI_ENOMEM, "out of memory");
  job->cinfo.err = jpeg_std_error(&job->jerr.pub);
  job->jerr.pub.error_exit = jpeg_on_error;
  job->jerr.pub.emit_message = jpeg_on_message;
  job->progress.progress_monitor = jpeg_on_progress;
  job->lim = lim;
  job->img = img;
  job->err = err;
  rc = jpeg_run(job, data, size);
  if (rc != MJI_OK) {
    if (!job->code) fail(err, rc, "cannot decode JPEG: %s", job->jerr.msg);
    mji_image_free(img);
  } else {
    img->format = MJI_JPEG;
    img->width = job->cinfo.output_width;
    img->height = job->cinfo.output_height;
    img->channels = 3;
  }
  jpeg_destroy_decompress(&job->cinfo);
  free(job);
  return rc;
}

/* ---- WebP -------------------------------------------------------------------------------------- */

static int decode_webp(const unsigned char *data, size_t size, const mji_limits *lim, mji_image *img,
                       char *err) {
  WebPBitstreamFeatures f;
  size_t stride, len;
  uint8_t *ok;
  int rc;
  VP8StatusCode st = WebPGetFeatures(data, size, &f);
  if (st != VP8_STATUS_OK) return fail(err, MJI_ECORRUPT, "invalid WebP header (libwebp status %d)", (int)st);
  if ((rc = mji_check_size((uint64_t)(f.width < 0 ? 0 : f.width), (uint64_t)(f.height < 0 ? 0 : f.height),
                           lim, err)) != MJI_OK)
    return rc;
  if (f.has_animation) return fail(err, MJI_EUNSUPPORTED, "animated WebP is not supported");
  img->channels = f.has_alpha ? 4 : 3;
  stride = (size_t)f.width * (size_t)img->channels;
  len = stride * (size_t)f.height;
  img->pixels = malloc(len);
  if (!img->pixels) return fail(err, MJI_ENOMEM, "out of memory for a %dx%d image", f.width, f.height);
  ok = f.has_alpha ? WebPDecodeRGBAInto(data, size, img->pixels, len, (int)stride)
                   : WebPDecodeRGBInto(data, size, img->pixels, len, (int)stride);
  if (!ok) {
    mji_image_free(img);
    return fail(err, MJI_ECORRUPT, "cannot decode WebP: corrupt or truncated data");
  }
  img->format = MJI_WEBP;
  img->width = (uint32_t)f.width;
  img->height = (uint32_t)f.height;
  return MJI_OK;
}

/* ---- public ------------------------------------------------------------------------------------ */

int mji_decode(const unsigned char *data, size_t size, const mji_limits *lim, mji_image *img, char *err) {
  int format = mji_sniff(data, size);
  memset(img, 0, sizeof *img);
  switch (format) {
  case MJI_PNG: return decode_png(data, size, lim, img, err);
  case MJI_JPEG: return decode_jpeg(data, size, lim, img, err);
  case MJI_WEBP: return decode_webp(data, size, lim, img, err);
  case MJI_GIF: return fail(err, MJI_EUNSUPPORTED, "GIF images cannot be decoded (PNG, JPEG and WebP can)");
  default: return fail(err, MJI_EUNSUPPORTED, "not a PNG, JPEG, WebP or GIF image");
  }
}

void mji_quadrants(uint32_t width, uint32_t height, mji_rect q[4]) {
  uint32_t lw = width - width / 2, th = height - height / 2;
  q[0].x = 0, q[0].y = 0, q[0].w = lw, q[0].h = th;
  q[1].x = lw, q[1].y = 0, q[1].w = width / 2, q[1].h = th;
  q[2].x = 0, q[2].y = th, q[2].w = lw, q[2].h = height / 2;
  q[3].x = lw, q[3].y = th, q[3].w = width / 2, q[3].h = height / 2;
}

int mji_split(const unsigned char *data, size_t size, const mji_limits *lim, int level, unsigned char *out[4],
              size_t out_size[4], mji_image *info, char *err) {
  mji_rect q[4];
  int i, rc;
  for (i = 0; i < 4; i++) out[i] = NULL, out_size[i] = 0;
  rc = mji_decode(data, size, lim, info, err);
  if (rc != MJI_OK) return rc;
  if (info->width < 2 || info->height < 2) {
    rc = fail(err, MJI_EINVALID, "a %ux%u image is too small to split into a 2x2 grid", info->width,
              info->height);
  } else {
    mji_quadrants(info->width, info->height, q);
    for (i = 0; i < 4 && rc == MJI_OK; i++) {
      rc = mji_encode_png(info->pixels, (size_t)info->width * (size_t)info->channels, info->channels, q[i],
                          level, &out[i], &out_size[i], err);
    }
  }
  mji_image_free(info);
  if (rc != MJI_OK) {
    for (i = 0; i < 4; i++) {
      free(out[i]);
      out[i] = NULL;
      out_size[i] = 0;
    }
  }
  return rc;
}

/* Clamps a pixel bound to [0, limit] in double before converting, so huge or negative shapes are safe. */
static uint32_t clamp_px(double v, uint32_t limit) {
  if (!(v > 0)) return 0;
  if (v >= (double)limit) return limit;
  return (uint32_t)v;
}

int mji_mask_png(uint32_t width, uint32_t height, const mji_shape *shapes, size_t n, int level,
                 unsigned char **out, size_t *out_size, char *err) {
  mji_limits lim = mji_default_limits();
  mji_rect all;
  unsigned char *buf;
  size_t i;
  int rc;
  *out = NULL;
  *out_size = 0;
  if ((rc = mji_check_size(width, height, &lim, err)) != MJI_OK) return rc;
  for (i = 0; i < n; i++) {
    const mji_shape *s = &shapes[i];
    if (!isfinite(s->a) || !isfinite(s->b) || !isfinite(s->c) || !isfinite(s->d) || !(s->c > 0) ||
        !(s->d > 0) || (s->kind != 1 && s->kind != 2))
      return fail(err, MJI_EINVALID, "shape %zu: invalid kind or numbers", i + 1);
  }
  buf = calloc((size_t)width, (size_t)height);
  if (!buf) return fail(err, MJI_ENOMEM, "out of memory for a %ux%u mask", width, height);
  for (i = 0; i < n; i++) {
    const mji_shape *s = &shapes[i];
    /* a bounding box one pixel wider than the shape on each side; the exact test decides */
    double x0 = s->kind == 1 ? s->a : s->a - s->c, y0 = s->kind == 1 ? s->b : s->b - s->d;
    double x1 = s->a + s->c, y1 = s->b + s->d; /* x + w for a rect, cx + rx for an ellipse */
    uint32_t px0 = clamp_px(floor(x0) - 1, width), px1 = clamp_px(ceil(x1) + 1, width);
    uint32_t py0 = clamp_px(floor(y0) - 1, height), py1 = clamp_px(ceil(y1) + 1, height);
    uint32_t px, py;
    for (py = py0; py < py1; py++) {
      double cy = (double)py + 0.5;
      unsigned char *row = buf + (size_t)py * width;
      for (px = px0; px < px1; px++) {
        double cx = (double)px + 0.5;
        int in;
        if (s->kind == 1) {
          in = s->a <= cx && cx < s->a + s->c && s->b <= cy && cy < s->b + s->d;
        } else {
          double dx = (cx - s->a) / s->c, dy = (cy - s->b) / s->d;
          in = dx * dx + dy * dy <= 1.0;
        }
        if (in) row[px] = 255;
      }
    }
  }
  all.x = 0, all.y = 0, all.w = width, all.h = height;
  rc = mji_encode_png(buf, width, 1, all, level, out, out_size, err);
  free(buf);
  return rc;
}

const char *mji_spng_version(void) {
  return spng_version_string();
}

int mji_jpeg_version(void) {
#ifdef LIBJPEG_TURBO_VERSION_NUMBER
  return LIBJPEG_TURBO_VERSION_NUMBER;
#else
  return JPEG_LIB_VERSION;
#endif
}

int mji_webp_version(void) {
  return WebPGetDecoderVersion();
}
