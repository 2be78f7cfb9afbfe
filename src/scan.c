/* Pure C scanners of midjourney.core (see scan.h): JSON, big-integer quoting,
 * Retry-After, progress, response classification. No Lua, no allocation
 * (except a number longer than 64 bytes being converted), single pass.
 *
 * What belongs here (docs/DESIGN.md, "midjourney.core"): C holds mechanism and the pure,
 * fuzzable scanners of the wire format: JSON validation, field extraction, and the
 * classifier that recognises the gateway's error *shapes* (api.md section 3.4: submit
 * envelope, relay error, OpenAI-style error, ...) and pulls out their fields. What a shape
 * *means* for the caller (which error kind, whether to retry, not found or not) is policy
 * and lives in Lua (midjourney.client, midjourney.retry). A new shape is a scanner change
 * here plus a policy change there; no error kind or retry decision is ever made in C. */
#include "scan.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char uchar;

#if defined(__GNUC__)
#define MJS_INLINE static inline __attribute__((always_inline))
#else
#define MJS_INLINE static
#endif

/* Unsigned wraparound is intended in the function marked with this (word-at-a-time byte tricks):
 * clang's -fsanitize=integer (`make sanitize`) must not flag it. Nowhere else in this file. */
#if defined(__clang__)
#define MJS_WRAPS __attribute__((no_sanitize("integer")))
#else
#define MJS_WRAPS
#endif

/* High bit set in each byte of x that is '"', '\\' or below 0x20, exact for the lowest such byte
 * (a borrow only spreads to higher bytes). The subtractions wrap on purpose. */
MJS_INLINE MJS_WRAPS uint64_t str_stop_bits(uint64_t x) {
  uint64_t q = x ^ 0x2222222222222222ULL, b = x ^ 0x5C5C5C5C5C5C5C5CULL;
  return (((q - 0x0101010101010101ULL) & ~q) | ((b - 0x0101010101010101ULL) & ~b) |
          ((x - 0x2020202020202020ULL) & ~x)) &
         0x8080808080808080ULL;
}

/* Bytes that end the fast path inside a string: quote, backslash, controls. */
static const uchar str_stop[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20: '"' */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50: '\\' */
};

#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
#define IS_DIGIT(c) ((uchar)((c) - '0') < 10)

static int hexval(uchar c) {
  if (IS_DIGIT(c)) return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* The code unit of the \\uXXXX escape at s[i] (s[i] == '\\'): -2 when truncated, -1 when
 * not hex. */
static long hex4(const uchar *s, size_t n, size_t i) {
  int a, b, c, d;
  if (i + 6 > n) return -2;
  a = hexval(s[i + 2]);
  b = hexval(s[i + 3]);
  c = hexval(s[i + 4]);
  d = hexval(s[i + 5]);
  if (a < 0 || b < 0 || c < 0 || d < 0) return -1;
  return ((long)a << 12) | ((long)b << 8) | ((long)c << 4) | (long)d;
}

static int fail(mjs_parser *p, const char *why, size_t at) {
  if (!p->err) {
    p->err = why;
    p->err_pos = at;
  }
  return 0;
}

static size_t skip_ws(const char *s, size_t i, size_t n) {
  while (i < n && (uchar)s[i] <= ' ' && IS_WS(s[i])) i++;
  return i;
}

static const char *bad_byte(uchar c) {
  return c == 0 ? "NUL byte" : "unexpected character";
}

void mjs_init(mjs_parser *p, const char *s, size_t n, int max_depth) {
  p->s = s;
  p->n = n;
  p->pos = 0;
  p->depth = 0;
  p->max_depth = max_depth <= 0 ? MJS_DEFAULT_DEPTH : (max_depth > MJS_MAX_DEPTH ? MJS_MAX_DEPTH : max_depth);
  p->err = NULL;
  p->err_pos = 0;
}

/* p->pos at the opening quote. Inlined: strings are most of a task's bytes. */
MJS_INLINE int scan_string(mjs_parser *p, mjs_value *v) {
  const uchar *s = (const uchar *)p->s;
  size_t n = p->n, i = p->pos + 1, start = i;
  int flags = 0;
  for (;;) {
    uchar c;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* 8 bytes at a time: the lowest flagged byte of a word is the first '"', '\\'
     * or byte < 0x20 in it (borrows only spread to higher bytes). */
    while (i + 8 <= n) {
      uint64_t x, t;
      memcpy(&x, s + i, 8);
      t = str_stop_bits(x);
      if (t) {
        i += (size_t)(__builtin_ctzll(t) >> 3);
        goto stop;
      }
      i += 8;
    }
#endif
    while (i < n && !str_stop[s[i]]) i++;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  stop:
#endif
    if (i >= n) return fail(p, "unterminated string", n);
    c = s[i];
    if (c == '"') break;
    if (c != '\\') return fail(p, c == 0 ? "NUL byte in string" : "control character in string", i);
    flags = MJS_STR_ESC;
    if (i + 1 >= n) return fail(p, "unterminated string", n);
    switch (s[i + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': i += 2; break;
    case 'u': {
      long u = hex4(s, n, i);
      if (u == -2) return fail(p, "truncated \\u escape", i);
      if (u < 0) return fail(p, "invalid \\u escape", i);
      /* UTF-16 surrogates come in pairs: a lone one is not text (lua-cjson refuses it too,
       * and both decoders must accept the same bodies) */
      if (u >= 0xDC00 && u <= 0xDFFF) return fail(p, "lone low surrogate in \\u escape", i);
      if (u >= 0xD800 && u <= 0xDBFF) {
        long lo = (i + 7 < n && s[i + 6] == '\\' && s[i + 7] == 'u') ? hex4(s, n, i + 6) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, "lone high surrogate in \\u escape", i);
        i += 6;
      }
      i += 6;
      break;
    }
    default: return fail(p, "invalid escape", i);
    }
  }
  v->off = start;
  v->len = i - start;
  v->type = MJS_STRING;
  v->flags = flags;
  p->pos = i + 1;
  return 1;
}

/* p->pos at '-' or a digit. */
static int scan_number(mjs_parser *p, mjs_value *v) {
  const char *s = p->s;
  size_t n = p->n, i = p->pos, start = i, d0, digits;
  int flags = MJS_NUM_INT;
  if (s[i] == '-') i++;
  if (i >= n) return fail(p, "unexpected end of text", i);
  d0 = i;
  if (s[i] == '0') {
    i++;
    if (i < n && IS_DIGIT(s[i])) return fail(p, "leading zero in number", d0);
  } else if (IS_DIGIT(s[i])) {
    while (i < n && IS_DIGIT(s[i])) i++;
  } else {
    return fail(p, "invalid number", i);
  }
  digits = i - d0;
  if (i < n && s[i] == '.') {
    flags = 0;
    i++;
    if (i >= n || !IS_DIGIT(s[i])) return fail(p, "invalid number", i);
    while (i < n && IS_DIGIT(s[i])) i++;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    flags = 0;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= n || !IS_DIGIT(s[i])) return fail(p, "invalid number", i);
    while (i < n && IS_DIGIT(s[i])) i++;
  }
  if (flags && digits >= 16) flags |= MJS_NUM_BIG;
  v->off = start;
  v->len = i - start;
  v->type = MJS_NUMBER;
  v->flags = flags;
  p->pos = i;
  return 1;
}

static int scan_literal(mjs_parser *p, mjs_value *v, const char *word, size_t len, int type) {
  size_t i = p->pos;
  if (p->n - i < len || memcmp(p->s + i, word, len) != 0) {
    size_t k = 0;
    while (i + k < p->n && k < len && p->s[i + k] == word[k]) k++;
    if (i + k >= p->n) return fail(p, "unexpected end of text", p->n);
    return fail(p, "invalid literal", i);
  }
  v->off = i;
  v->len = len;
  v->type = type;
  v->flags = 0;
  p->pos = i + len;
  return 1;
}

/* A scalar at p->pos (no whitespace before it). */
static int scan_scalar(mjs_parser *p, mjs_value *v) {
  uchar c = (uchar)p->s[p->pos];
  switch (c) {
  case '"': return scan_string(p, v);
  case 't': return scan_literal(p, v, "true", 4, MJS_TRUE);
  case 'f': return scan_literal(p, v, "false", 5, MJS_FALSE);
  case 'n': return scan_literal(p, v, "null", 4, MJS_NULL);
  default:
    if (c == '-' || IS_DIGIT(c)) return scan_number(p, v);
    return fail(p, bad_byte(c), p->pos);
  }
}

/* p->pos at '{' or '['; validates and skips the whole container without recursion. */
static int skip_container(mjs_parser *p, mjs_value *v) {
  const char *s = p->s;
  size_t n = p->n, i = p->pos, start = i;
  uchar stack[MJS_MAX_DEPTH / 8 + 1]; /* bit d set: level d is an object */
  int d = 0, room = p->max_depth - p->depth, obj;
  mjs_value tmp;
  char c;

value:
  c = s[i];
  if (c == '{' || c == '[') {
    if (d >= room) return fail(p, "too deeply nested", i);
    if (c == '{')
      stack[d >> 3] |= (uchar)(1u << (d & 7));
    else
      stack[d >> 3] &= (uchar) ~(1u << (d & 7));
    d++;
    i = skip_ws(s, i + 1, n);
    if (i >= n) return fail(p, "unexpected end of text", n);
    if (c == '{') {
      if (s[i] == '}') {
        i++;
        d--;
        goto after;
      }
      goto key;
    }
    if (s[i] == ']') {
      i++;
      d--;
      goto after;
    }
    goto value;
  }
  p->pos = i;
  if (!scan_scalar(p, &tmp)) return 0;
  i = p->pos;
  goto after;

key:
  if (s[i] != '"') return fail(p, s[i] == 0 ? "NUL byte" : "expected string key", i);
  p->pos = i;
  if (!scan_string(p, &tmp)) return 0;
  i = skip_ws(s, p->pos, n);
  if (i >= n) return fail(p, "unexpected end of text", n);
  if (s[i] != ':') return fail(p, s[i] == 0 ? "NUL byte" : "expected ':'", i);
  i = skip_ws(s, i + 1, n);
  if (i >= n) return fail(p, "unexpected end of text", n);
  goto value;

after:
  if (d == 0) {
    v->off = start;
    v->len = i - start;
    v->type = s[start] == '{' ? MJS_OBJECT : MJS_ARRAY;
    v->flags = 0;
    p->pos = i;
    return 1;
  }
  i = skip_ws(s, i, n);
  if (i >= n) return fail(p, "unexpected end of text", n);
  obj = (stack[(d - 1) >> 3] >> ((d - 1) & 7)) & 1;
  c = s[i];
  if (c == ',') {
    i = skip_ws(s, i + 1, n);
    if (i >= n) return fail(p, "unexpected end of text", n);
    if (obj) goto key;
    goto value;
  }
  if (c == (obj ? '}' : ']')) {
    i++;
    d--;
    goto after;
  }
  if (c == 0) return fail(p, "NUL byte", i);
  return fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'", i);
}

int mjs_peek(mjs_parser *p) {
  size_t i = skip_ws(p->s, p->pos, p->n);
  uchar c;
  p->pos = i;
  if (i >= p->n) {
    fail(p, "unexpected end of text", i);
    return MJS_NONE;
  }
  c = (uchar)p->s[i];
  switch (c) {
  case '{': return MJS_OBJECT;
  case '[': return MJS_ARRAY;
  case '"': return MJS_STRING;
  case 't': return MJS_TRUE;
  case 'f': return MJS_FALSE;
  case 'n': return MJS_NULL;
  default:
    if (c == '-' || IS_DIGIT(c)) return MJS_NUMBER;
    fail(p, bad_byte(c), i);
    return MJS_NONE;
  }
}

int mjs_value_scan(mjs_parser *p, mjs_value *v) {
  size_t i = skip_ws(p->s, p->pos, p->n);
  p->pos = i;
  if (i >= p->n) return fail(p, "unexpected end of text", i);
  if (p->s[i] == '{' || p->s[i] == '[') return skip_container(p, v);
  return scan_scalar(p, v);
}

int mjs_enter(mjs_parser *p, mjs_iter *it) {
  size_t i = skip_ws(p->s, p->pos, p->n);
  if (i >= p->n) return fail(p, "unexpected end of text", i);
  if (p->s[i] != '{' && p->s[i] != '[') return fail(p, "expected object or array", i);
  if (p->depth >= p->max_depth) return fail(p, "too deeply nested", i);
  p->depth++;
  it->kind = p->s[i];
  it->first = 1;
  p->pos = i + 1;
  return 1;
}

int mjs_next(mjs_parser *p, mjs_iter *it, mjs_member *m, int descend) {
  const char *s = p->s;
  size_t n = p->n, i = skip_ws(s, p->pos, n);
  char close = it->kind == '{' ? '}' : ']';
  int t;
  if (i >= n) return fail(p, "unexpected end of text", n) - 1;
  if (s[i] == close) { /* empty container, or the end after a member */
    p->pos = i + 1;
    p->depth--;
    return 0;
  }
  if (!it->first) {
    if (s[i] != ',') {
      if (s[i] == 0) return fail(p, "NUL byte", i) - 1;
      return fail(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'", i) - 1;
    }
    i = skip_ws(s, i + 1, n);
    if (i >= n) return fail(p, "unexpected end of text", n) - 1;
  }
  it->first = 0;
  if (close == '}') {
    if (s[i] != '"') return fail(p, s[i] == 0 ? "NUL byte" : "expected string key", i) - 1;
    p->pos = i;
    if (!scan_string(p, &m->key)) return -1;
    i = skip_ws(s, p->pos, n);
    if (i >= n) return fail(p, "unexpected end of text", n) - 1;
    if (s[i] != ':') return fail(p, s[i] == 0 ? "NUL byte" : "expected ':'", i) - 1;
    i = skip_ws(s, i + 1, n);
    if (i >= n) return fail(p, "unexpected end of text", n) - 1;
  } else {
    m->key.type = MJS_NONE;
    m->key.off = m->key.len = 0;
    m->key.flags = 0;
  }
  p->pos = i;
  m->entered = 0;
  t = s[i] == '{' ? MJS_OBJECT : (s[i] == '[' ? MJS_ARRAY : MJS_NONE);
  if (t != MJS_NONE && t == descend) {
    m->value.off = i;
    m->value.len = 0;
    m->value.type = t;
    m->value.flags = 0;
    m->entered = 1;
    return 1;
  }
  if (t != MJS_NONE) return skip_container(p, &m->value) ? 1 : -1;
  return scan_scalar(p, &m->value) ? 1 : -1;
}

int mjs_finish(mjs_parser *p) {
  size_t i = skip_ws(p->s, p->pos, p->n);
  p->pos = i;
  if (i < p->n) return fail(p, p->s[i] == 0 ? "NUL byte after the value" : "trailing garbage", i);
  return 1;
}

int mjs_validate(mjs_parser *p) {
  mjs_value v;
  if (!mjs_value_scan(p, &v)) return MJS_NONE;
  if (!mjs_finish(p)) return MJS_NONE;
  return v.type;
}

/* ---- strings and numbers ---- */

static size_t put_utf8(unsigned long cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* \uXXXX at raw[i] (raw[i] == '\\'); returns the code unit or -1. */
static long hex4_at(const char *raw, size_t len, size_t i) {
  long v = 0;
  size_t k;
  if (i + 6 > len || raw[i] != '\\' || raw[i + 1] != 'u') return -1;
  for (k = 2; k < 6; k++) {
    int h = hexval((uchar)raw[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

size_t mjs_unescape(const char *raw, size_t len, char *out) {
  size_t i = 0, o = 0;
  while (i < len) {
    const char *bs = memchr(raw + i, '\\', len - i);
    size_t run = bs ? (size_t)(bs - (raw + i)) : len - i;
    long cp, lo;
    memcpy(out + o, raw + i, run);
    o += run;
    i += run;
    if (i >= len) break;
    if (i + 1 >= len) { /* stray backslash at the end (unvalidated input) */
      out[o++] = '\\';
      i++;
      break;
    }
    switch (raw[i + 1]) {
    case '"':
      out[o++] = '"';
      i += 2;
      break;
    case '\\':
      out[o++] = '\\';
      i += 2;
      break;
    case '/':
      out[o++] = '/';
      i += 2;
      break;
    case 'b':
      out[o++] = '\b';
      i += 2;
      break;
    case 'f':
      out[o++] = '\f';
      i += 2;
      break;
    case 'n':
      out[o++] = '\n';
      i += 2;
      break;
    case 'r':
      out[o++] = '\r';
      i += 2;
      break;
    case 't':
      out[o++] = '\t';
      i += 2;
      break;
    case 'u':
      cp = hex4_at(raw, len, i);
      if (cp < 0) {
        out[o++] = '\\';
        i++;
        break;
      }
      i += 6;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        lo = hex4_at(raw, len, i);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        } else {
          cp = 0xFFFD;
        }
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD;
      }
      o += put_utf8((unsigned long)cp, out + o);
      break;
    default:
      out[o++] = '\\';
      i++;
      break;
    }
  }
  return o;
}

int mjs_small_int(const char *s, size_t len, long long *out) {
  size_t i = 0;
  long long v = 0;
  int neg = 0;
  if (len > 0 && s[0] == '-') {
    neg = 1;
    i = 1;
  }
  if (i >= len || len - i > 15) return 0;
  for (; i < len; i++) {
    if (!IS_DIGIT(s[i])) return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = neg ? -v : v;
  return 1;
}

double mjs_to_double(const char *s, size_t len) {
  char small[64], *buf = small, dp = '.';
  double v;
  size_t k;
  const struct lconv *lc = localeconv();
  if (lc && lc->decimal_point && lc->decimal_point[0]) dp = lc->decimal_point[0];
  if (len >= sizeof small) {
    buf = malloc(len + 1);
    if (!buf) return 0.0;
  }
  memcpy(buf, s, len);
  buf[len] = 0;
  if (dp != '.')
    for (k = 0; k < len; k++)
      if (buf[k] == '.') buf[k] = dp;
  v = strtod(buf, NULL);
  if (buf != small) free(buf);
  return v;
}

/* ---- big integers ---- */

size_t mjs_quote_big_integers(const char *s, size_t n, char *out, size_t *outlen) {
  size_t i = 0, o = 0, last = 0, count = 0;
  while (i < n) {
    char c = s[i];
    if (c == '"') {
      i++;
      while (i < n) {
        if (s[i] == '\\') {
          i += 2;
          continue;
        }
        if (s[i] == '"') {
          i++;
          break;
        }
        i++;
      }
      continue;
    }
    if (c == '-' || IS_DIGIT(c)) {
      size_t start = i, d0;
      if (c == '-') i++;
      d0 = i;
      while (i < n && IS_DIGIT(s[i])) i++;
      if (i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) {
        while (i < n &&
               (IS_DIGIT(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
          i++;
        continue;
      }
      if (i - d0 >= 16) {
        count++;
        if (out) {
          memcpy(out + o, s + last, start - last);
          o += start - last;
          out[o++] = '"';
          memcpy(out + o, s + start, i - start);
          o += i - start;
          out[o++] = '"';
          last = i;
        }
      }
      if (i == start) i++; /* not reached: defensive */
      continue;
    }
    i++;
  }
  if (out) {
    if (last < n) {
      memcpy(out + o, s + last, n - last);
      o += n - last;
    }
    if (outlen) *outlen = o;
  }
  return count;
}

/* ---- Retry-After ---- */

static void trim(const char **s, size_t *n) {
  while (*n > 0 && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* The whole of s is digits [ '.' digits ]; at most max. */
static int parse_decimal(const char *s, size_t n, double max, double *out) {
  size_t i = 0;
  double v = 0, frac = 0, scale = 1;
  while (i < n && IS_DIGIT(s[i])) {
    v = v * 10 + (s[i] - '0');
    if (v > max) return 0;
    i++;
  }
  if (i == 0) return 0;
  if (i < n && s[i] == '.') {
    i++;
    if (i >= n || !IS_DIGIT(s[i])) return 0;
    while (i < n && IS_DIGIT(s[i])) {
      if (scale < 1e15) {
        frac = frac * 10 + (s[i] - '0');
        scale *= 10;
      }
      i++;
    }
  }
  if (i != n) return 0;
  v += frac / scale;
  if (v > max) return 0;
  *out = v;
  return 1;
}

static const char *const wdays[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const wdays_long[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                          "friday", "saturday", "sunday"};
static const char *const months[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};

static int ieq(const char *a, size_t n, const char *lower) {
  size_t k;
  if (strlen(lower) != n) return 0;
  for (k = 0; k < n; k++)
    if ((a[k] | 0x20) != lower[k]) return 0;
  return 1;
}

typedef struct {
  const char *s;
  size_t n, i;
} cur;

static size_t take_alpha(cur *c) {
  size_t st = c->i;
  while (c->i < c->n && (((uchar)c->s[c->i] | 0x20) >= 'a' && ((uchar)c->s[c->i] | 0x20) <= 'z')) c->i++;
  return c->i - st;
}

static int take_int(cur *c, size_t minlen, size_t maxlen, int *out) {
  size_t st = c->i;
  int v = 0;
  while (c->i < c->n && IS_DIGIT(c->s[c->i]) && c->i - st < maxlen) {
    v = v * 10 + (c->s[c->i] - '0');
    c->i++;
  }
  if (c->i - st < minlen) return 0;
  if (c->i < c->n && IS_DIGIT(c->s[c->i])) return 0; /* too many digits */
  *out = v;
  return 1;
}

static int take_char(cur *c, char ch) {
  if (c->i < c->n && c->s[c->i] == ch) {
    c->i++;
    return 1;
  }
  return 0;
}

static int take_month(cur *c, int *mon) {
  size_t st = c->i, len = take_alpha(c), k;
  for (k = 0; k < 12; k++)
    if (ieq(c->s + st, len, months[k])) {
      *mon = (int)k + 1;
      return 1;
    }
  return 0;
}

static int take_time(cur *c, int *h, int *mi, int *se) {
  return take_int(c, 2, 2, h) && take_char(c, ':') && take_int(c, 2, 2, mi) && take_char(c, ':') &&
         take_int(c, 2, 2, se) && *h <= 23 && *mi <= 59 && *se <= 60;
}

static int take_gmt(cur *c) {
  size_t st = c->i, len = take_alpha(c);
  return ieq(c->s + st, len, "gmt") || ieq(c->s + st, len, "utc");
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long days_from_civil(long y, int m, int d) {
  long era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
  static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[m - 1];
}

int mjs_parse_http_date(const char *s, size_t n, double *epoch) {
  cur c;
  size_t len, k;
  int wd = -1, day = 0, mon = 0, year = 0, h = 0, mi = 0, se = 0;
  trim(&s, &n);
  c.s = s;
  c.n = n;
  c.i = 0;
  len = take_alpha(&c);
  for (k = 0; k < 7; k++)
    if (ieq(s, len, wdays[k]) || ieq(s, len, wdays_long[k])) wd = (int)k;
  if (wd < 0) return 0;
  if (take_char(&c, ',')) {
    if (!take_char(&c, ' ')) return 0;
    if (!take_int(&c, 1, 2, &day)) return 0;
    if (take_char(&c, '-')) { /* RFC 850: 06-Nov-94 */
      if (!take_month(&c, &mon) || !take_char(&c, '-')) return 0;
      if (!take_int(&c, 2, 4, &year)) return 0;
      if (year < 100) year += year < 70 ? 2000 : 1900;
    } else { /* IMF-fixdate: 06 Nov 1994 */
      if (!take_char(&c, ' ') || !take_month(&c, &mon) || !take_char(&c, ' ')) return 0;
      if (!take_int(&c, 4, 4, &year)) return 0;
    }
    if (!take_char(&c, ' ') || !take_time(&c, &h, &mi, &se)) return 0;
    if (!take_char(&c, ' ') || !take_gmt(&c)) return 0;
  } else { /* asctime: Sun Nov  6 08:49:37 1994 */
    if (!take_char(&c, ' ') || !take_month(&c, &mon) || !take_char(&c, ' ')) return 0;
    take_char(&c, ' ');
    if (!take_int(&c, 1, 2, &day)) return 0;
    if (!take_char(&c, ' ') || !take_time(&c, &h, &mi, &se)) return 0;
    if (!take_char(&c, ' ') || !take_int(&c, 4, 4, &year)) return 0;
  }
  if (c.i != c.n) return 0;
  if (year < 1900 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon)) return 0;
  *epoch = (double)days_from_civil(year, mon, day) * 86400.0 + h * 3600.0 + mi * 60.0 + se;
  return 1;
}

int mjs_parse_retry_after(const char *s, size_t n, double now, double *out) {
  double v, epoch;
  trim(&s, &n);
  if (n == 0) return 0;
  if (IS_DIGIT(s[0])) {
    if (!parse_decimal(s, n, 86400.0, &v)) return 0;
    *out = v;
    return 1;
  }
  if (!mjs_parse_http_date(s, n, &epoch)) return 0;
  if (now != now) return 0;
  v = epoch - now;
  if (v < 0) v = 0;
  if (!(v <= 86400.0)) return 0;
  *out = v;
  return 1;
}

int mjs_parse_retry_after_ms(const char *s, size_t n, double *out) {
  double v;
  trim(&s, &n);
  if (n == 0 || !IS_DIGIT(s[0])) return 0;
  if (!parse_decimal(s, n, 86400000.0, &v)) return 0;
  *out = v / 1000.0;
  return 1;
}

/* ---- progress ---- */

int mjs_clamp_progress(double v, double *out) {
  if (v != v) return 0;
  *out = v < 0 ? 0 : (v > 100 ? 100 : v);
  return 1;
}

int mjs_parse_progress(const char *s, size_t n, double *out) {
  size_t i = 0;
  int neg = 0, digits = 0;
  double v = 0, scale = 1;
  while (n > 0 && IS_WS(s[0])) {
    s++;
    n--;
  }
  while (n > 0 && IS_WS(s[n - 1])) n--;
  if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  while (i < n && IS_DIGIT(s[i])) {
    if (v < 1e6) v = v * 10 + (s[i] - '0');
    digits++;
    i++;
  }
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && IS_DIGIT(s[i])) {
      if (scale < 1e9) {
        scale *= 10;
        v += (s[i] - '0') / scale;
      }
      digits++;
      i++;
    }
  }
  if (digits == 0) return 0;
  while (i < n && IS_WS(s[i])) i++;
  if (i < n && s[i] == '%') i++;
  if (i != n) return 0;
  return mjs_clamp_progress(neg ? -v : v, out);
}

/* ---- classification ---- */

static int key_is(const char *s, const mjs_value *k, const char *name, size_t len) {
  return k->len == len && memcmp(s + k->off, name, len) == 0;
}

int mjs_find_request_id(const char *s, size_t n, size_t *off, size_t *len) {
  static const char tag[] = "(request id:";
  size_t tl = sizeof tag - 1, i, j;
  if (n < tl + 1) return 0;
  for (i = 0; i + tl <= n; i++) {
    if (s[i] != '(' || memcmp(s + i, tag, tl) != 0) continue;
    j = i + tl;
    while (j < n && s[j] == ' ') j++;
    i = j;
    while (j < n && s[j] != ')' && s[j] != ' ') j++;
    if (j >= n || s[j] != ')' || j == i) return 0;
    *off = i;
    *len = j - i;
    return 1;
  }
  return 0;
}

void mjs_classify(const char *s, size_t n, mjs_class *c) {
  mjs_parser p;
  mjs_iter it, inner;
  mjs_member m, im;
  mjs_value error, ecode, emsg, etype;
  size_t k;
  int r;
  memset(c, 0, sizeof *c);
  memset(&error, 0, sizeof error);
  ecode = emsg = etype = error;
  for (k = 0; k < n && IS_WS(s[k]); k++) {
  }
  if (k == n) {
    c->shape = MJS_SHAPE_EMPTY;
    return;
  }
  mjs_init(&p, s, n, MJS_DEFAULT_DEPTH);
  c->top = mjs_peek(&p);
  if (c->top != MJS_OBJECT) {
    c->top = mjs_validate(&p);
    c->shape = c->top == MJS_NONE ? MJS_SHAPE_INVALID : MJS_SHAPE_JSON;
    goto done;
  }
  mjs_enter(&p, &it);
  while ((r = mjs_next(&p, &it, &m, MJS_OBJECT)) == 1) {
    const mjs_value *key = &m.key;
    if (m.entered) {
      if (key_is(s, key, "error", 5)) {
        error.type = MJS_OBJECT;
        error.off = m.value.off;
        if (!mjs_enter(&p, &inner)) break;
        while ((r = mjs_next(&p, &inner, &im, 0)) == 1) {
          if (key_is(s, &im.key, "code", 4))
            ecode = im.value;
          else if (key_is(s, &im.key, "message", 7))
            emsg = im.value;
          else if (key_is(s, &im.key, "type", 4))
            etype = im.value;
        }
        if (r < 0) break;
        error.len = p.pos - error.off;
        continue;
      }
      if (!mjs_value_scan(&p, &m.value)) {
        r = -1;
        break;
      }
    }
    if (key_is(s, key, "code", 4))
      c->code = m.value;
    else if (key_is(s, key, "description", 11))
      c->description = m.value;
    else if (key_is(s, key, "message", 7))
      c->message = m.value;
    else if (key_is(s, key, "type", 4))
      c->type = m.value;
    else if (key_is(s, key, "result", 6))
      c->result = m.value;
    else if (key_is(s, key, "properties", 10))
      c->properties = m.value;
    else if (key_is(s, key, "success", 7))
      c->success = m.value;
    else if (key_is(s, key, "error", 5))
      error = m.value;
  }
  if (r != 0 || !mjs_finish(&p)) {
    c->shape = MJS_SHAPE_INVALID;
    c->top = MJS_NONE;
    goto done;
  }
  if (error.type == MJS_OBJECT) {
    c->shape = MJS_SHAPE_OPENAI;
    c->code = ecode;
    c->message = emsg;
    c->type = etype;
  } else if (error.type == MJS_STRING) {
    c->shape = MJS_SHAPE_IMAGE;
    c->message = error;
  } else if (c->type.type == MJS_STRING && c->description.type != MJS_NONE && c->result.type == MJS_NONE &&
             c->properties.type == MJS_NONE) {
    c->shape = MJS_SHAPE_RELAY;
  } else if ((c->success.type == MJS_FALSE || c->success.type == MJS_TRUE) &&
             (c->message.type != MJS_NONE || c->code.type != MJS_NONE)) {
    c->shape = MJS_SHAPE_GENERIC;
  } else if (c->code.type == MJS_NUMBER && (c->description.type != MJS_NONE || c->result.type != MJS_NONE ||
                                            c->properties.type != MJS_NONE)) {
    c->shape = MJS_SHAPE_SUBMIT;
  } else {
    c->shape = MJS_SHAPE_JSON;
  }
done:
  if (c->shape == MJS_SHAPE_INVALID) {
    c->err = p.err ? p.err : "invalid JSON";
    c->err_pos = p.err_pos;
  }
}

const char *mjs_type_name(int type) {
  static const char *const names[] = {"none",   "object",  "array",   "string",
                                      "number", "boolean", "boolean", "null"};
  if (type < 0 || type > MJS_NULL) return "none";
  return names[type];
}

const char *mjs_shape_name(int shape) {
  static const char *const names[] = {"invalid", "empty",   "submit", "relay",
                                      "openai",  "generic", "image",  "json"};
  if (shape < 0 || shape > MJS_SHAPE_JSON) return "invalid";
  return names[shape];
}
