/* Pure C scanners of midjourney.core: no Lua, no allocation, fuzzable.
 *
 * JSON: a strict RFC 8259 scanner that walks the text once. A caller walks a
 * container member by member with mjs_next(); scalars are scanned (and
 * validated) as they are met, nested containers are either skipped (validated,
 * span recorded) or entered. Nothing is copied: values are spans of the text.
 *
 * scan.c is also compiled on its own into the fuzz targets (fuzz/), so no
 * MJ_HIDDEN here: inside the .so these symbols are hidden by -fvisibility=hidden.
 */
#ifndef MJ_SCAN_H
#define MJ_SCAN_H

#include <stddef.h>

#define MJS_DEFAULT_DEPTH 64
#define MJS_MAX_DEPTH 4096 /* largest max_depth accepted */

typedef enum {
  MJS_NONE = 0, /* absent / invalid */
  MJS_OBJECT,
  MJS_ARRAY,
  MJS_STRING,
  MJS_NUMBER,
  MJS_TRUE,
  MJS_FALSE,
  MJS_NULL
} mjs_type;

/* Number flags (mjs_value.flags for MJS_NUMBER). */
#define MJS_NUM_INT 1 /* integer literal: -?digits, no fraction, no exponent */
#define MJS_NUM_BIG 2 /* integer literal of 16 or more digits (number rule: becomes a string) */
/* String flags (mjs_value.flags / key_flags for MJS_STRING). */
#define MJS_STR_ESC 4 /* contains at least one backslash escape */

typedef struct {
  size_t off, len; /* span in the text; for strings without the quotes */
  int type;        /* mjs_type */
  int flags;       /* MJS_NUM_* / MJS_STR_ESC */
} mjs_value;

typedef struct {
  const char *s;
  size_t n;
  size_t pos;
  int depth;       /* containers currently entered */
  int max_depth;   /* deepest nesting allowed (top-level container is depth 1) */
  const char *err; /* static reason, NULL while fine */
  size_t err_pos;  /* 0-based byte offset of the error */
} mjs_parser;

/* State of one container being walked. */
typedef struct {
  char kind;  /* '{' or '[' */
  char first; /* no member read yet */
} mjs_iter;

/* Member given by mjs_next. key is MJS_NONE for array elements. */
typedef struct {
  mjs_value key;
  mjs_value value;
  int entered; /* the value is an object/array that was entered (not skipped) */
} mjs_member;

/* Start scanning text s[0..n). max_depth <= 0 means MJS_DEFAULT_DEPTH. */
void mjs_init(mjs_parser *p, const char *s, size_t n, int max_depth);

/* Type of the next value (after whitespace), without consuming it; MJS_NONE
 * (and p->err set) at the end of the text or on a byte that cannot start a value. */
int mjs_peek(mjs_parser *p);

/* Scan one whole value (any type, nested containers validated and skipped).
 * Returns 1 and fills v, or 0 with p->err set. */
int mjs_value_scan(mjs_parser *p, mjs_value *v);

/* Enter the object or array at the current position (after mjs_peek said so). */
int mjs_enter(mjs_parser *p, mjs_iter *it);

/* Next member of the entered container it. Objects give key + value, arrays the
 * value only. Scalars are scanned, containers skipped (validated, span set) --
 * unless the value's type equals descend (MJS_OBJECT or MJS_ARRAY; 0 for never):
 * then the value is left unconsumed at p->pos == m->value.off, m->entered = 1,
 * and the caller must consume it before the next call (mjs_enter + walk, or
 * mjs_value_scan); its span is then value.off .. p->pos.
 * Returns 1 for a member, 0 at the end of the container (closing byte consumed),
 * -1 on error (p->err set). */
int mjs_next(mjs_parser *p, mjs_iter *it, mjs_member *m, int descend);

/* After the top-level value: only whitespace may follow. 1 ok, 0 error. */
int mjs_finish(mjs_parser *p);

/* Validate a whole text. Returns the top-level type, MJS_NONE on error (p->err). */
int mjs_validate(mjs_parser *p);

/* Unescape a string span's content (no quotes) into out, which must hold at
 * least len bytes (unescaping never grows the text). Lone surrogates become
 * U+FFFD. Safe on unvalidated input. Returns the output length. */
size_t mjs_unescape(const char *raw, size_t len, char *out);

/* Number rule helpers. For a number span: 1 and *out set when the literal is an
 * integer of at most 15 digits (exact in a double and in int64); 0 otherwise. */
int mjs_small_int(const char *s, size_t len, long long *out);
/* Any JSON number literal to double (locale independent). */
double mjs_to_double(const char *s, size_t len);

/* Rewrite integer literals of 16+ digits (optional leading '-') outside strings
 * into JSON strings. Pass out = NULL to count: returns the number of literals
 * to quote. With out (capacity n + 2 * count) writes the result and returns the
 * count; *outlen gets the written length. Lexical only: never validates. */
size_t mjs_quote_big_integers(const char *s, size_t n, char *out, size_t *outlen);

/* Retry-After header value: delta-seconds (fractions allowed) or an HTTP-date
 * (IMF-fixdate, RFC 850, asctime) converted to seconds after now (epoch
 * seconds), never negative. Returns 1 and *out, or 0 when invalid (empty,
 * garbage, negative, NaN, inf, more than 86400 s). */
int mjs_parse_retry_after(const char *s, size_t n, double now, double *out);
/* retry-after-ms: milliseconds, fractions allowed, at most 86400000. *out in seconds. */
int mjs_parse_retry_after_ms(const char *s, size_t n, double *out);
/* Seconds since the epoch of an HTTP-date, or 0 when it is not one. */
int mjs_parse_http_date(const char *s, size_t n, double *epoch);

/* Progress: "45%", "85.5%", " 7 %", "100", "-3" -> clamped to [0, 100].
 * Returns 1 and *out, 0 for "", "N/A", garbage. */
int mjs_parse_progress(const char *s, size_t n, double *out);
/* Clamp a numeric progress; 0 for NaN. */
int mjs_clamp_progress(double v, double *out);

typedef enum {
  MJS_SHAPE_INVALID = 0,
  MJS_SHAPE_EMPTY,
  MJS_SHAPE_SUBMIT,  /* {code, description, result, properties} */
  MJS_SHAPE_RELAY,   /* {description, type, code} */
  MJS_SHAPE_OPENAI,  /* {"error": {code, message, type}} */
  MJS_SHAPE_GENERIC, /* {"success": false, "code": -1, "message": ...} */
  MJS_SHAPE_IMAGE,   /* {"error": "text"} */
  MJS_SHAPE_JSON     /* any other JSON */
} mjs_shape;

typedef struct {
  int shape;      /* mjs_shape */
  int top;        /* top-level mjs_type (MJS_NONE when invalid/empty) */
  mjs_value code; /* each: type MJS_NONE when absent */
  mjs_value description;
  mjs_value message;
  mjs_value type;
  mjs_value result;
  mjs_value properties;
  mjs_value success;
  const char *err; /* when invalid */
  size_t err_pos;
} mjs_class;

/* Classify a response body (api.md 3.4). Never fails: invalid text gives
 * MJS_SHAPE_INVALID with err/err_pos. */
void mjs_classify(const char *s, size_t n, mjs_class *c);

/* Find "(request id: X)" in a text; returns 1 and the span of X. */
int mjs_find_request_id(const char *s, size_t n, size_t *off, size_t *len);

const char *mjs_type_name(int type);
const char *mjs_shape_name(int shape);

#endif
