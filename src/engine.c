/* The engine: one libcurl multi handle, non-blocking transfers, finished transfers handed
 * back to Lua as plain records. libcurl's callbacks only touch C state: the body and header
 * buffers of a transfer, the engine's event descriptor and its timer deadline.
 *
 * The file in the order of a transfer's life: the event descriptor (epoll or kqueue) and
 * libcurl's socket and timer callbacks; the write and header callbacks; the id -> transfer
 * map and the done list; reading a request from its Lua table; creating the transfer and
 * configuring its easy handle; driving libcurl; handing out records; the Lua methods. */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__) && !defined(MJ_NO_EVENTS)
#include <sys/epoll.h>
#define MJ_EPOLL 1
#elif (defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) ||          \
       defined(__DragonFly__)) &&                                                                            \
  !defined(MJ_NO_EVENTS)
#include <fcntl.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#define MJ_KQUEUE 1
#endif
#if defined(MJ_EPOLL) || defined(MJ_KQUEUE)
#define MJ_EVENTS 1
#endif

#include "compat.h"

#define ENGINE_MT "midjourney.core.engine"
#define DEFAULT_MAX_BODY (32.0 * 1024.0 * 1024.0)
#define DEFAULT_MAX_HEADER (64.0 * 1024.0)
#define MAX_SECONDS 86400.0         /* durations (timeouts, step's wait) are clamped to one day */
#define MAX_LONG 2147483647.0       /* counts and rates fit a long everywhere (32 bits on some ABIs) */
#define MAX_SIZE 9007199254740992.0 /* byte limits: 2^53, exact in a double, fits a size_t on 64 bits */
#define EASY_POOL_MAX 256           /* idle transfers (with their configured easy handles) kept per engine */
#define EASY_REUSES 32  /* a pooled easy handle is reset after this many transfers (see transfer_release) */
#define HCACHE_MAX 8    /* header lists kept per engine */
#define BODY_KEEP 65536 /* a pooled transfer keeps a body buffer up to this size */
#define EVENTS_MAX 64
#define HV_MAX 2048 /* longest header value kept (longer ones are cut) */

/* Wraparound is intended here (multiplicative hashing); clang's -fsanitize=integer must not flag it. */
#if defined(__clang__)
#define MJ_WRAPS __attribute__((no_sanitize("integer")))
#else
#define MJ_WRAPS
#endif

typedef struct buffer {
  char *data;
  size_t len, cap;
} buffer;

/* The response headers a record reports (allocated when seen: most responses carry one or two). */
enum { HV_CONTENT_TYPE, HV_RETRY_AFTER, HV_RETRY_AFTER_MS, HV_REQUEST_ID, HV_LOCATION, HV_COUNT };
/* (their record field names are in record_fields, in this order) */

/* A header list as libcurl gets it: a request's lines, then Accept-Encoding (unless the request
 * has its own) and "Expect:" for POST and PUT. The engine keeps its last few distinct lists (a
 * client sends the same few every time), so a request whose lines equal a cached list's shares
 * it instead of building one; the transfers using a list hold a reference, and the last one
 * frees it. Lists are compared by content: no Lua value is kept. */
typedef struct hlist {
  struct curl_slist *list;
  size_t n;   /* lines that came from the request's table */
  int expect; /* ends with "Expect:" */
  int refs;   /* transfers using it, + 1 while in the engine's cache */
} hlist;

static void hlist_release(hlist *h) {
  if (h && --h->refs == 0) {
    curl_slist_free_all(h->list);
    free(h);
  }
}

/* What a pooled easy handle is set to beyond its base configuration (easy_base), so the next
 * request sets only the options that differ. Options that only curl_easy_reset takes back
 * (ca_file, ca_path, HEAD, PUT, DELETE) mark the handle dirty: it is reset before reuse. */
enum { M_GET, M_POST, M_OTHER };
typedef struct easy_state {
  long timeout_ms, connect_ms, low_speed_limit, low_speed_time;
  int method, follow, fresh, bigbuf, verify, dirty;
} easy_state;

typedef struct transfer {
  CURL *easy; /* configured by easy_base; the transfer and its handle are pooled together */
  lua_Integer id;
  hlist *hl; /* the request's header list (a reference) */
  buffer body;
  size_t max_body, max_header, header_bytes;
  FILE *file;
  char *file_path;
  int file_failed, headers_done, finished;
  const char *too_large; /* NULL, or the limit the response went over (the record's `limit`) */
  CURLcode result;
  char *hv[HV_COUNT]; /* the values of the headers we keep, from the last response; NULL: absent */
  easy_state cur;
  char *last_url; /* the URL of the previous request on this handle */
#if LIBCURL_VERSION_NUM >= 0x073f00
  CURLU *uh;  /* last_url parsed, once it was asked for twice in a row */
  int uh_set; /* the handle has CURLOPT_CURLU uh */
#endif
  int uses; /* transfers since the handle was last reset */
  char errbuf[CURL_ERROR_SIZE];
  struct transfer *done_prev, *done_next; /* the done list: finished, record not handed out yet */
} transfer;

typedef struct engine {
  CURLM *multi;
  transfer **slots;  /* id -> transfer: open addressing, linear probing, NULL = free; load <= 1/2 */
  size_t nslots;     /* 0 or a power of two */
  lua_Integer count; /* transfers whose record was not handed out yet (in flight or done) */
  transfer *done_head, *done_tail;
  lua_Integer ndone;
  struct transfer *pool[EASY_POOL_MAX]; /* idle transfers, ready for the next request */
  int pooled;
  hlist *hcache[HCACHE_MAX]; /* header lists of recent requests, each holding a reference */
  int hnext;                 /* the cache slot to replace next */
  char accept_encoding[64];  /* "Accept-Encoding: " and what this libcurl decodes */
  int closed;
  int delivering;  /* inside the protected call that builds the records of a step */
  int evfd;        /* epoll/kqueue descriptor; -1: this engine drives libcurl with poll + perform */
  int evfail;      /* errno of a socket that could not be watched; raised by the next step */
  double deadline; /* libcurl's next timer on the mono_now() clock; < 0: none */
} engine;

/* Process-wide, so an id from a closed engine can never match another engine's transfer. */
static int64_t last_id;

static lua_Integer next_id(void) {
  return (lua_Integer)__atomic_add_fetch(&last_id, 1, __ATOMIC_RELAXED);
}

/* ---------- the event descriptor and libcurl's socket and timer callbacks (no Lua) ---------- */

#ifdef MJ_EVENTS
static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int events_open(void) {
#if defined(MJ_EPOLL)
  return epoll_create1(EPOLL_CLOEXEC);
#elif defined(MJ_KQUEUE)
  int fd = kqueue();
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#endif
}

/* Makes the descriptor watch socket s for `what` (CURL_POLL_IN/OUT/INOUT/REMOVE). */
static void events_watch(engine *e, curl_socket_t s, int what) {
#if defined(MJ_EPOLL)
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(e->evfd, EPOLL_CTL_DEL, s, &ev); /* fails harmlessly when the socket is gone already */
    return;
  }
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  ev.data.fd = s;
  if (epoll_ctl(e->evfd, EPOLL_CTL_MOD, s, &ev) == 0) return;
  if (errno == ENOENT && epoll_ctl(e->evfd, EPOLL_CTL_ADD, s, &ev) == 0) return;
  e->evfail = errno;
#elif defined(MJ_KQUEUE)
  /* One change per call: deleting a filter that was never added fails with ENOENT, and a
   * failed change must not stop the other. Only a failed EV_ADD matters. */
  struct kevent ch;
  EV_SET(&ch, s, EVFILT_READ, (what & CURL_POLL_IN) ? EV_ADD | EV_ENABLE : EV_DELETE, 0, 0, 0);
  if (kevent(e->evfd, &ch, 1, NULL, 0, NULL) == -1 && (ch.flags & EV_ADD)) e->evfail = errno;
  EV_SET(&ch, s, EVFILT_WRITE, (what & CURL_POLL_OUT) ? EV_ADD | EV_ENABLE : EV_DELETE, 0, 0, 0);
  if (kevent(e->evfd, &ch, 1, NULL, 0, NULL) == -1 && (ch.flags & EV_ADD)) e->evfail = errno;
#endif
}

/* Waits at most ms milliseconds; fills fds[]/whats[] (CURL_CSELECT_IN/OUT) and returns their count. */
static int events_wait(engine *e, int ms, curl_socket_t *fds, int *whats) {
  int n, i;
#if defined(MJ_EPOLL)
  struct epoll_event ev[EVENTS_MAX];
  n = epoll_wait(e->evfd, ev, EVENTS_MAX, ms);
  for (i = 0; i < n; i++) {
    fds[i] = ev[i].data.fd;
    /* Errors and hang-ups without IN/OUT give 0: libcurl then checks the socket itself. */
    whats[i] =
      ((ev[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) | ((ev[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0);
  }
#elif defined(MJ_KQUEUE)
  struct kevent ev[EVENTS_MAX];
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  n = kevent(e->evfd, NULL, 0, ev, EVENTS_MAX, &ts);
  for (i = 0; i < n; i++) {
    fds[i] = (curl_socket_t)ev[i].ident;
    whats[i] = ev[i].filter == EVFILT_READ    ? CURL_CSELECT_IN
               : ev[i].filter == EVFILT_WRITE ? CURL_CSELECT_OUT
                                              : 0;
  }
#endif
  return n < 0 ? 0 : n; /* EINTR: nothing happened */
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *ud, void *socketp) {
  (void)easy;
  (void)socketp;
  events_watch(ud, s, what);
  return 0;
}

static int on_timer(CURLM *multi, long ms, void *ud) {
  engine *e = ud;
  (void)multi;
  e->deadline = ms < 0 ? -1.0 : mono_now() + (double)ms / 1000.0;
  return 0;
}
#endif

/* ---------- the write and header callbacks (no Lua) ---------- */

static int buffer_append(buffer *b, const char *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    char *d;
    while (cap < b->len + n) cap *= 2;
    d = realloc(b->data, cap);
    if (!d) return 0;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 1;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
  transfer *t = ud;
  size_t n = size * nmemb;
  if (t->body.len + n > t->max_body) {
    t->too_large = "max_body";
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  if (t->file_path) {
    if (!t->file) {
      t->file = fopen(t->file_path, "wb");
      if (!t->file) {
        t->file_failed = 1;
        return 0;
      }
    }
    if (fwrite(p, 1, n, t->file) != n) {
      t->file_failed = 1;
      return 0;
    }
    t->body.len += n; /* counts bytes; data is not kept */
    return n;
  }
  if (!buffer_append(&t->body, p, n)) return 0;
  return n;
}

/* Keeps a header value without trailing blanks (cut at HV_MAX); out of memory drops it. */
static void keep_value(transfer *t, int k, const char *v, size_t n) {
  while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (n > HV_MAX) n = HV_MAX;
  free(t->hv[k]);
  t->hv[k] = malloc(n + 1);
  if (!t->hv[k]) return;
  memcpy(t->hv[k], v, n);
  t->hv[k][n] = '\0';
}

static void forget_values(transfer *t) {
  int k;
  for (k = 0; k < HV_COUNT; k++) {
    free(t->hv[k]);
    t->hv[k] = NULL;
  }
}

static int header_is(const char *line, size_t namelen, const char *name) {
  return strlen(name) == namelen && strncasecmp(line, name, namelen) == 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  transfer *t = ud;
  size_t n = size * nmemb, namelen, vlen;
  const char *colon, *v;
  t->header_bytes += n;
  if (t->header_bytes > t->max_header) {
    t->too_large = "max_header";
    return 0;
  }
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (redirect, 100): forget the old headers */
    forget_values(t);
    t->headers_done = 0;
    return n;
  }
  if (n <= 2 && (p[0] == '\r' || p[0] == '\n')) { /* the blank line that ends a response's headers */
    t->headers_done = 1;
    return n;
  }
  colon = memchr(p, ':', n);
  if (!colon) return n;
  namelen = (size_t)(colon - p);
  v = colon + 1;
  while (v < p + n && (*v == ' ' || *v == '\t')) v++;
  vlen = (size_t)(p + n - v);
  if (header_is(p, namelen, "content-type"))
    keep_value(t, HV_CONTENT_TYPE, v, vlen);
  else if (header_is(p, namelen, "retry-after"))
    keep_value(t, HV_RETRY_AFTER, v, vlen);
  else if (header_is(p, namelen, "retry-after-ms"))
    keep_value(t, HV_RETRY_AFTER_MS, v, vlen);
  else if (header_is(p, namelen, "x-request-id") || header_is(p, namelen, "x-oneapi-request-id") ||
           header_is(p, namelen, "request-id"))
    keep_value(t, HV_REQUEST_ID, v, vlen);
  else if (header_is(p, namelen, "location"))
    keep_value(t, HV_LOCATION, v, vlen);
  return n;
}

/* ---------- the base configuration of an easy handle (no Lua) ---------- */

/* The options every request shares, set once per handle (and again after a reset). */
static void easy_base(transfer *t) {
  CURL *h = t->easy;
  curl_easy_setopt(h, CURLOPT_PRIVATE, t);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L); /* only used with CURLOPT_FOLLOWLOCATION */
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  memset(&t->cur, 0, sizeof t->cur); /* libcurl's defaults: GET, no timeouts, no redirects, ... */
  t->cur.verify = 1;                 /* ... and peer and host verification */
#if LIBCURL_VERSION_NUM >= 0x073f00
  t->uh_set = 0;
#endif
  t->uses = 0;
}

/* ---------- the id -> transfer map and the done list ---------- */

static size_t slot_of(lua_Integer id, size_t mask) MJ_WRAPS;
static size_t slot_of(lua_Integer id, size_t mask) {
  uint64_t h = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15); /* Fibonacci hashing */
  return (size_t)(h >> 32) & mask;
}

static void map_insert(transfer **slots, size_t nslots, transfer *t) {
  size_t mask = nslots - 1, i = slot_of(t->id, mask);
  while (slots[i]) i = (i + 1) & mask;
  slots[i] = t;
}

/* Room for one more transfer at load <= 1/2; 0 when out of memory. */
static int map_reserve(engine *e) {
  size_t n = e->nslots ? e->nslots * 2 : 16, i;
  transfer **slots;
  if ((size_t)(e->count + 1) * 2 <= e->nslots) return 1;
  slots = calloc(n, sizeof *slots);
  if (!slots) return 0;
  for (i = 0; i < e->nslots; i++)
    if (e->slots[i]) map_insert(slots, n, e->slots[i]);
  free(e->slots);
  e->slots = slots;
  e->nslots = n;
  return 1;
}

static transfer *map_find(const engine *e, lua_Integer id) {
  size_t mask = e->nslots - 1, i;
  if (!e->nslots) return NULL;
  for (i = slot_of(id, mask); e->slots[i]; i = (i + 1) & mask)
    if (e->slots[i]->id == id) return e->slots[i];
  return NULL;
}

/* Removes t and shifts later members of its probe run back, so no tombstones are needed. */
static void map_remove(engine *e, const transfer *t) {
  size_t n = e->nslots, mask = n - 1, i = slot_of(t->id, mask), j;
  while (e->slots[i] != t) i = (i + 1) & mask;
  for (j = (i + 1) & mask; e->slots[j]; j = (j + 1) & mask) {
    size_t home = slot_of(e->slots[j]->id, mask);
    /* slots[j] may fill the hole at i unless its home lies cyclically in (i, j] */
    if (((j + n - home) & mask) >= ((j + n - i) & mask)) {
      e->slots[i] = e->slots[j];
      i = j;
    }
  }
  e->slots[i] = NULL;
}

static void done_push(engine *e, transfer *t) {
  t->done_prev = e->done_tail;
  t->done_next = NULL;
  if (e->done_tail)
    e->done_tail->done_next = t;
  else
    e->done_head = t;
  e->done_tail = t;
  e->ndone++;
}

static void done_unlink(engine *e, transfer *t) {
  if (t->done_prev)
    t->done_prev->done_next = t->done_next;
  else
    e->done_head = t->done_next;
  if (t->done_next)
    t->done_next->done_prev = t->done_prev;
  else
    e->done_tail = t->done_prev;
  e->ndone--;
}

static void transfer_destroy(transfer *t) {
  if (t->easy) curl_easy_cleanup(t->easy);
#if LIBCURL_VERSION_NUM >= 0x073f00
  curl_url_cleanup(t->uh);
#endif
  free(t->last_url);
  free(t->body.data);
  free(t);
}

/* Frees a transfer's per-request resources and pools it with its easy handle, or destroys it;
 * the map and the done list are the caller's business. A pooled handle keeps its options: the
 * next request changes only what differs (configure_easy). It is reset (and configured again)
 * after a request that set an option only a reset takes back, after a failed transfer, and
 * every EASY_REUSES transfers, so no libcurl state outlives a few dozen transfers (libcurl
 * counts its silent re-sends on dead connections per handle, and only a reset clears that). */
static void transfer_release(engine *e, transfer *t) {
  /* a cancelled transfer (not finished) was cut off by libcurl: reset its handle too */
  int reset = t->cur.dirty || !t->finished || t->result != CURLE_OK || ++t->uses >= EASY_REUSES;
  if (e->multi) curl_multi_remove_handle(e->multi, t->easy);
  hlist_release(t->hl);
  t->hl = NULL;
  forget_values(t);
  if (t->file) fclose(t->file);
  t->file = NULL;
  free(t->file_path);
  t->file_path = NULL;
  if (e->closed || e->pooled >= EASY_POOL_MAX) {
    transfer_destroy(t);
    return;
  }
  if (t->body.cap > BODY_KEEP) {
    free(t->body.data);
    t->body.data = NULL;
    t->body.cap = 0;
  }
  t->body.len = 0;
  t->header_bytes = 0;
  t->file_failed = t->headers_done = t->finished = 0;
  t->too_large = NULL;
  t->done_prev = t->done_next = NULL;
  if (reset) {
    curl_easy_reset(t->easy);
    easy_base(t);
  }
  t->result = CURLE_OK;
  e->pool[e->pooled++] = t;
}

/* A transfer leaves the engine: cancelled, or its record handed out. */
static void transfer_free(engine *e, transfer *t) {
  if (t->finished) done_unlink(e, t);
  map_remove(e, t);
  e->count--;
  transfer_release(e, t);
}

static void engine_cleanup(engine *e) {
  size_t i;
  int k;
  if (e->closed) return;
  e->closed = 1;
  for (i = 0; i < e->nslots; i++)
    if (e->slots[i]) transfer_release(e, e->slots[i]);
  free(e->slots);
  e->slots = NULL;
  e->nslots = 0;
  e->count = e->ndone = 0;
  e->done_head = e->done_tail = NULL;
  for (k = 0; k < e->pooled; k++) transfer_destroy(e->pool[k]);
  e->pooled = 0;
  for (k = 0; k < HCACHE_MAX; k++) {
    hlist_release(e->hcache[k]);
    e->hcache[k] = NULL;
  }
  if (e->multi) curl_multi_cleanup(e->multi); /* may still call on_socket: close the descriptor after */
  e->multi = NULL;
  if (e->evfd >= 0) close(e->evfd);
  e->evfd = -1;
}

/* Every method has two upvalues: the engine metatable (so checking self needs no registry
 * lookup) and the function that builds records (with the field names as its upvalues). */
#define UV_METATABLE lua_upvalueindex(1)
#define UV_RECORDS lua_upvalueindex(2)

/* self, checked against the metatable upvalue; anything else gets luaL_checkudata's error. */
static engine *to_engine(lua_State *L) {
  engine *e = lua_touserdata(L, 1);
  if (e && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, UV_METATABLE);
    lua_pop(L, 1);
    if (same) return e;
  }
  return luaL_checkudata(L, 1, ENGINE_MT);
}

static engine *check_engine(lua_State *L) {
  engine *e = to_engine(L);
  if (e->closed) luaL_error(L, "midjourney.core: engine is closed");
  return e;
}

/* For the methods that free transfers: not from a finalizer that runs while a step builds records. */
static engine *check_idle(lua_State *L) {
  engine *e = check_engine(L);
  if (e->delivering) luaL_error(L, "midjourney.core: engine is busy in step (called from a finalizer?)");
  return e;
}

/* ---------- reading a request from its Lua table (raises on bad input) ---------- */

typedef struct request_opts {
  const char *method, *url, *body, *file, *ca_file, *ca_path;
  size_t body_len;
  double timeout, connect_timeout, low_speed_limit, low_speed_time, max_body, max_header;
  int follow, verify, fresh, has_headers, expect;
  hlist *hl; /* found or built last; the caller owns a reference once read_request returns */
} request_opts;

/* The value on top of the stack, for field `key` of a `what` table ("request", "engine"). */
static const char *opt_string(lua_State *L, const char *key) {
  if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "request: field '%s' must be a string", key);
  return lua_tostring(L, -1); /* the spec table keeps the string alive until the call returns */
}

/* A number: NaN, negatives and infinities raise, naming the field; values above max are clamped
 * to max. `integral` refuses fractions (counts). */
static double opt_number(lua_State *L, const char *what, const char *key, double max, int integral) {
  double v;
  if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "%s: field '%s' must be a number", what, key);
  v = (double)lua_tonumber(L, -1);
  if (!(v >= 0) || isinf(v) || (integral && v != floor(v)))
    luaL_error(L, "%s: field '%s' must be a finite non-negative %s (got %f)", what, key,
               integral ? "integer" : "number", (lua_Number)v);
  return v > max ? max : v;
}

static int opt_bool(lua_State *L, const char *key) {
  if (lua_type(L, -1) != LUA_TBOOLEAN) luaL_error(L, "request: field '%s' must be a boolean", key);
  return lua_toboolean(L, -1);
}

static int valid_header(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 0;
  return memchr(s, ':', n) != NULL || (n > 0 && s[n - 1] == ';');
}

/* Whether the request's lines at table index `tbl` are h's lines. */
static int hlist_equal(lua_State *L, int tbl, size_t n, int expect, const hlist *h) {
  const struct curl_slist *node = h->list;
  size_t i;
  if (h->n != n || h->expect != expect) return 0;
  for (i = 1; i <= n; i++, node = node->next) {
    size_t len = 0;
    const char *v;
    int same;
    lua_rawgeti(L, tbl, (int)i);
    v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    same = v && strlen(node->data) == len && memcmp(node->data, v, len) == 0;
    lua_pop(L, 1);
    if (!same) return 0;
  }
  return 1;
}

static int names_accept_encoding(const char *s, size_t n) {
  return n >= 16 && strncasecmp(s, "Accept-Encoding", 15) == 0 && (s[15] == ':' || s[15] == ';');
}

/* Appends to *list; on failure frees the list and raises. */
static void append_line(lua_State *L, struct curl_slist **list, const char *line) {
  struct curl_slist *next = curl_slist_append(*list, line);
  if (!next) {
    curl_slist_free_all(*list);
    *list = NULL;
    luaL_error(L, "request: out of memory");
  }
  *list = next;
}

/* The header list of a request whose lines are at table index `tbl` (0: none), with a reference
 * for the caller: a cached one with the same lines, or a new one that replaces the oldest cache
 * entry. Raises on a bad line or out of memory, holding nothing then. */
static hlist *header_list(lua_State *L, engine *e, int tbl, int expect) {
  size_t i, n = tbl ? mj_rawlen(L, tbl) : 0;
  struct curl_slist *list = NULL;
  int k, has_ae = 0;
  hlist *h;
  for (k = 0; k < HCACHE_MAX; k++) {
    h = e->hcache[k];
    if (h && hlist_equal(L, tbl, n, expect, h)) {
      h->refs++;
      return h;
    }
  }
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *v;
    lua_rawgeti(L, tbl, (int)i);
    v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!v || !valid_header(v, len)) {
      curl_slist_free_all(list);
      luaL_error(L, "request: headers[%d] must be a 'Name: value' string without CR, LF or NUL", (int)i);
    }
    has_ae = has_ae || names_accept_encoding(v, len);
    append_line(L, &list, v);
    lua_pop(L, 1);
  }
  /* what libcurl would add for CURLOPT_ACCEPT_ENCODING "" (it then skips building its own line) */
  if (!has_ae) append_line(L, &list, e->accept_encoding);
  if (expect) append_line(L, &list, "Expect:"); /* never wait for "100 Continue" */
  h = calloc(1, sizeof *h);
  if (!h) {
    curl_slist_free_all(list);
    luaL_error(L, "request: out of memory");
  }
  h->list = list;
  h->n = n;
  h->expect = expect;
  h->refs = 2; /* the cache's and the caller's */
  k = e->hnext;
  e->hnext = (k + 1) % HCACHE_MAX;
  hlist_release(e->hcache[k]);
  e->hcache[k] = h;
  return h;
}

#define KEY_IS(lit) (len == sizeof(lit) - 1 && memcmp(k, lit, sizeof(lit) - 1) == 0)

/* One field (key at -2, value at -1); 0 for an unknown key. */
static int read_field(lua_State *L, request_opts *o, const char *k, size_t len) {
  if (KEY_IS("url"))
    o->url = opt_string(L, "url");
  else if (KEY_IS("method"))
    o->method = opt_string(L, "method");
  else if (KEY_IS("headers")) {
    if (!lua_istable(L, -1)) luaL_error(L, "request: field 'headers' must be an array of strings");
    o->has_headers = 1; /* read after every other field, so nothing raises once the list exists */
  } else if (KEY_IS("body")) {
    opt_string(L, "body");
    o->body = lua_tolstring(L, -1, &o->body_len);
  } else if (KEY_IS("timeout"))
    o->timeout = opt_number(L, "request", "timeout", MAX_SECONDS, 0);
  else if (KEY_IS("connect_timeout"))
    o->connect_timeout = opt_number(L, "request", "connect_timeout", MAX_SECONDS, 0);
  else if (KEY_IS("low_speed_limit"))
    o->low_speed_limit = opt_number(L, "request", "low_speed_limit", MAX_LONG, 0);
  else if (KEY_IS("low_speed_time"))
    o->low_speed_time = opt_number(L, "request", "low_speed_time", MAX_SECONDS, 0);
  else if (KEY_IS("max_body"))
    o->max_body = opt_number(L, "request", "max_body", MAX_SIZE, 0);
  else if (KEY_IS("max_header"))
    o->max_header = opt_number(L, "request", "max_header", MAX_SIZE, 0);
  else if (KEY_IS("file"))
    o->file = opt_string(L, "file");
  else if (KEY_IS("follow"))
    o->follow = opt_bool(L, "follow");
  else if (KEY_IS("verify"))
    o->verify = opt_bool(L, "verify");
  else if (KEY_IS("fresh_connect"))
    o->fresh = opt_bool(L, "fresh_connect");
  else if (KEY_IS("ca_file"))
    o->ca_file = opt_string(L, "ca_file");
  else if (KEY_IS("ca_path"))
    o->ca_path = opt_string(L, "ca_path");
  else
    return 0;
  return 1;
}

/* One pass over the table (a request usually sets a handful of its 16 fields). */
static void read_request(lua_State *L, engine *e, int spec, request_opts *o) {
  luaL_checktype(L, spec, LUA_TTABLE);
  memset(o, 0, sizeof *o);
  o->method = "GET";
  o->max_body = DEFAULT_MAX_BODY;
  o->max_header = DEFAULT_MAX_HEADER;
  o->verify = 1;
  lua_pushnil(L);
  while (lua_next(L, spec)) {
    size_t len = 0;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
    if (!k || !read_field(L, o, k, len))
      luaL_error(L, "request: unknown field '%s'", k ? k : luaL_typename(L, -2));
    lua_pop(L, 1);
  }
  if (!o->url) luaL_error(L, "request: field 'url' must be a string");
  if (strcmp(o->method, "GET") && strcmp(o->method, "POST") && strcmp(o->method, "HEAD") &&
      strcmp(o->method, "PUT") && strcmp(o->method, "DELETE"))
    luaL_error(L, "request: unsupported method '%s'", o->method);
  o->expect = strcmp(o->method, "POST") == 0 || strcmp(o->method, "PUT") == 0;
  if (o->has_headers) {
    lua_getfield(L, spec, "headers");
    o->hl = header_list(L, e, lua_gettop(L), o->expect);
    lua_pop(L, 1);
  } else {
    o->hl = header_list(L, e, 0, o->expect);
  }
}

/* ---------- creating the transfer and configuring its easy handle (no Lua) ---------- */

/* An idle transfer from the pool, or a new one with a configured easy handle; NULL when out of memory. */
static transfer *transfer_take(engine *e) {
  transfer *t;
  if (e->pooled > 0) return e->pool[--e->pooled];
  t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->easy = curl_easy_init();
  if (!t->easy) {
    free(t);
    return NULL;
  }
  easy_base(t);
  return t;
}

/* A transfer with a fresh id, in the map, owning o->hl; NULL when out of memory
 * (o->hl is then still the caller's). */
static transfer *transfer_new(engine *e, request_opts *o) {
  transfer *t;
  if (!map_reserve(e) || !(t = transfer_take(e))) return NULL;
  if (o->file && !(t->file_path = strdup(o->file))) {
    e->pool[e->pooled++] = t; /* taken from the pool or new: either way there is room */
    return NULL;
  }
  t->id = next_id();
  t->hl = o->hl;
  o->hl = NULL;
  /* both limits are clamped to 2^53 by read_request, so the conversions are exact */
  t->max_body = (size_t)o->max_body;
  t->max_header = (size_t)o->max_header;
  t->errbuf[0] = '\0';
  map_insert(e->slots, e->nslots, t);
  e->count++;
  return t;
}

/* Milliseconds for libcurl: the value was clamped to one day by read_request. */
static long ms_of(double seconds) {
  return (long)(seconds * 1000.0 + 0.5);
}

/* The same URL as the handle's previous request (polling): hand libcurl the URL parsed once
 * (CURLOPT_CURLU), so it copies the parts instead of parsing the text again. CURLOPT_URL is set
 * as well, so libcurl's idea of the current URL (redirects, CURLINFO_EFFECTIVE_URL) is this one.
 * Parsed with the flags libcurl uses for CURLOPT_URL; a URL it refuses goes to libcurl as text. */
static void set_url(transfer *t, const char *url) {
#if LIBCURL_VERSION_NUM >= 0x073f00
  if (t->last_url && strcmp(t->last_url, url) == 0) {
    if (!t->uh_set && (t->uh || (t->uh = curl_url()) != NULL) &&
        curl_url_set(t->uh, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_easy_setopt(t->easy, CURLOPT_CURLU, t->uh) == CURLE_OK)
      t->uh_set = 1;
    return;
  }
  if (t->uh_set) {
    curl_easy_setopt(t->easy, CURLOPT_CURLU, (CURLU *)NULL);
    t->uh_set = 0;
  }
#endif
  free(t->last_url);
  t->last_url = strdup(url); /* out of memory: nothing remembered */
}

/* Takes back what a POST left on the handle: its body and the method. */
static void undo_post(CURL *h) {
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, (char *)NULL); /* frees the copied body (and selects POST) */
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
  curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
}

/* Sets the request's options on the handle, changing only those that differ from what the
 * previous request on this handle left (t->cur): every option is still decided per request. */
static void configure_easy(transfer *t, const request_opts *o) {
  CURL *h = t->easy;
  easy_state *c = &t->cur;
  long timeout_ms = o->timeout > 0 ? ms_of(o->timeout) : 0;
  long connect_ms = o->connect_timeout > 0 ? ms_of(o->connect_timeout) : 0;
  long lsl = 0, lst = 0;
  int method = strcmp(o->method, "GET") == 0 ? M_GET : strcmp(o->method, "POST") == 0 ? M_POST : M_OTHER;
  int bigbuf = o->file != NULL;
  curl_easy_setopt(h, CURLOPT_URL, o->url);
  set_url(t, o->url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->hl->list);
  if (o->follow != c->follow) { /* MAXREDIRS is part of the base configuration */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, o->follow ? 1L : 0L);
    c->follow = o->follow;
  }
  /* A request that must never be sent twice: libcurl silently re-sends a request whose reused
   * keep-alive connection turned out dead; a fresh connection cannot be "dead on reuse". */
  if (o->fresh != c->fresh) {
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, o->fresh ? 1L : 0L);
    c->fresh = o->fresh;
  }
  /* downloads: big reads mean fewer callbacks and write calls (curl's own tool does this) */
  if (bigbuf != c->bigbuf &&
      curl_easy_setopt(h, CURLOPT_BUFFERSIZE, bigbuf ? 256L * 1024L : (long)CURL_MAX_WRITE_SIZE) == CURLE_OK)
    c->bigbuf = bigbuf;
  if (timeout_ms != c->timeout_ms) {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    c->timeout_ms = timeout_ms;
  }
  if (connect_ms != c->connect_ms) {
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms); /* 0: libcurl's default */
    c->connect_ms = connect_ms;
  }
  if (o->low_speed_limit > 0 && o->low_speed_time > 0) {
    lsl = (long)o->low_speed_limit;
    lst = (long)(o->low_speed_time < 1 ? 1 : o->low_speed_time);
  }
  if (lsl != c->low_speed_limit || lst != c->low_speed_time) {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, lsl);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, lst);
    c->low_speed_limit = lsl;
    c->low_speed_time = lst;
  }
  if (o->verify != c->verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
    c->verify = o->verify;
  }
  if (o->ca_file) {
    curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
    c->dirty = 1;
  }
  if (o->ca_path) {
    curl_easy_setopt(h, CURLOPT_CAPATH, o->ca_path);
    c->dirty = 1;
  }
  if (c->method == M_POST && method != M_POST) undo_post(h);
  c->method = method;
  if (method == M_POST) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "");
  } else if (method == M_OTHER) {
    c->dirty = 1;
    if (strcmp(o->method, "HEAD") == 0) {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, o->method);
      if (o->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, o->body);
      }
    }
  }
}

/* ---------- driving libcurl (no Lua) ---------- */

/* Milliseconds to wait for activity: 0 when records are waiting, else at most `timeout` (clamped
 * to a day) and no later than libcurl's next timer. Rounded up, so a timer is never run early. */
static int wait_ms(const engine *e, double timeout) {
  if (!(timeout > 0) || e->done_head) return 0;
  if (timeout > MAX_SECONDS) timeout = MAX_SECONDS;
#ifdef MJ_EVENTS
  if (e->evfd >= 0 && e->deadline >= 0) {
    double left = e->deadline - mono_now();
    if (left < timeout) timeout = left > 0 ? left : 0;
  }
#endif
  return (int)ceil(timeout * 1000.0);
}

#ifdef MJ_EVENTS
/* socket_action mode: wait on the descriptor, hand libcurl the ready sockets, then its timer if due. */
static CURLMcode drive_events(engine *e, double timeout) {
  curl_socket_t fds[EVENTS_MAX];
  int whats[EVENTS_MAX], n, i, running;
  CURLMcode rc = CURLM_OK;
  n = events_wait(e, wait_ms(e, timeout), fds, whats);
  for (i = 0; i < n && rc == CURLM_OK; i++)
    rc = curl_multi_socket_action(e->multi, fds[i], whats[i], &running);
  if (rc == CURLM_OK && e->deadline >= 0 && mono_now() >= e->deadline) {
    /* libcurl calls on_timer again from inside this call when another timer is pending (even
     * the same one, should it run early: it clears its "last timer" memory for a timeout). */
    e->deadline = -1.0;
    rc = curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  return rc;
}
#endif

/* poll + perform mode, for platforms without epoll or kqueue. */
static CURLMcode drive_poll(engine *e, double timeout) {
  int running, ms = wait_ms(e, timeout);
  CURLMcode rc = CURLM_OK;
  if (ms > 0) rc = curl_multi_poll(e->multi, NULL, 0, ms, NULL);
  if (rc == CURLM_OK) rc = curl_multi_perform(e->multi, &running);
  return rc;
}

/* libcurl 7.88 reports a response header line over CURL_MAX_HTTP_HEADER (100 KiB) as "Out of
 * memory" and headers over 300 KiB in all as a receive error "Too large response headers";
 * 8.6+ says CURLE_TOO_LARGE for both. Any of these before the headers ended: too large. */
static int header_overflow(const transfer *t) {
  if (t->headers_done) return 0;
  if (t->result == CURLE_OUT_OF_MEMORY) return 1;
#if LIBCURL_VERSION_NUM >= 0x080600
  if (t->result == CURLE_TOO_LARGE) return 1;
#endif
  return t->result == CURLE_RECV_ERROR && strncmp(t->errbuf, "Too large response headers", 26) == 0;
}

/* A finished transfer: close its output file, name a header overflow; C state only, so doing it
 * twice or handing the record out at a later step changes nothing. */
static void transfer_finish(transfer *t, CURLcode result) {
  t->finished = 1;
  t->result = result;
  if (t->file_path) {
    if (!t->file && result == CURLE_OK) { /* an empty body: an empty file */
      t->file = fopen(t->file_path, "wb");
      if (!t->file) t->file_failed = 1;
    }
    if (t->file) {
      if (fclose(t->file) != 0 && result == CURLE_OK) t->file_failed = 1;
      t->file = NULL;
    }
  }
  if (!t->too_large && header_overflow(t)) t->too_large = "libcurl";
}

/* Moves every finished transfer from libcurl's message queue to the done list. No Lua here:
 * a message read from the queue is gone from libcurl, so nothing may raise before the
 * transfer is on the done list, from where the next step hands it out if this one cannot. */
static void drain(engine *e) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
    transfer *t = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    if (!t || t->finished) continue;
    transfer_finish(t, msg->data.result);
    done_push(e, t);
  }
}

/* ---------- records (Lua) ---------- */

static const char *error_kind(const transfer *t) {
  if (t->too_large) return "too_large";
  if (t->file_failed) return "file";
  switch (t->result) {
  case CURLE_OPERATION_TIMEDOUT: return "timeout";
  case CURLE_COULDNT_CONNECT: return "connect";
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return "resolve";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR: return "tls";
  case CURLE_SEND_ERROR: return "send";
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_BAD_CONTENT_ENCODING: return "recv";
  case CURLE_GOT_NOTHING: return "empty";
  default: return "other";
  }
}

static const char *error_message(const transfer *t) {
  if (t->too_large) {
    if (strcmp(t->too_large, "max_body") == 0) return "response larger than the configured limit";
    if (strcmp(t->too_large, "max_header") == 0) return "response headers larger than the configured limit";
    return "response headers larger than libcurl accepts (a line over 100 KiB or over 300 KiB in all)";
  }
  if (t->file_failed) return "could not write the output file";
  return t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);
}

/* The record fields, in the order of push_records' upvalues. */
enum {
  K_ID = 1,
  K_STATUS,
  K_FILE,
  K_BODY,
  K_HV,
  K_ERROR = K_HV + HV_COUNT,
  K_ERROR_KIND,
  K_LIMIT,
  K_CURL_CODE,
  K_SENT,
  K_TIME,
  K_SIZE,
  K_COUNT = K_SIZE
};
static const char *const record_fields[K_COUNT] = {
  "id",       "status", "file",       "body",  "content_type", "retry_after", "retry_after_ms", "request_id",
  "location", "error",  "error_kind", "limit", "curl_code",    "sent",        "time",           "size"};

/* record[field k] = the value on top (the field names are push_records' upvalues: no lookup of
 * the name's string for every field of every record). */
static void set_k(lua_State *L, int k) {
  lua_pushvalue(L, lua_upvalueindex(k));
  lua_insert(L, -2);
  lua_rawset(L, -3);
}

static void set_str(lua_State *L, int k, const char *v) {
  if (!v || !*v) return;
  lua_pushstring(L, v);
  set_k(L, k);
}

/* Reads the transfer and changes nothing, so it can run again for the same transfer. */
static void push_record(lua_State *L, const transfer *t) {
  long status = 0, reqsize = 0;
  int k, n = 7, failed = t->result != CURLE_OK || t->file_failed;
  double total = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &reqsize);
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &total);
  for (k = 0; k < HV_COUNT; k++) n += t->hv[k] != NULL;
  lua_createtable(L, 0, failed ? n + 3 : n);
  lua_pushinteger(L, t->id);
  set_k(L, K_ID);
  lua_pushinteger(L, (lua_Integer)status);
  set_k(L, K_STATUS);
  if (t->file_path) {
    lua_pushstring(L, t->file_path);
    set_k(L, K_FILE);
  } else {
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    set_k(L, K_BODY);
  }
  for (k = 0; k < HV_COUNT; k++) set_str(L, K_HV + k, t->hv[k]);
  if (failed) {
    lua_pushstring(L, error_message(t));
    set_k(L, K_ERROR);
    lua_pushstring(L, error_kind(t));
    set_k(L, K_ERROR_KIND);
    set_str(L, K_LIMIT, t->too_large);
  }
  lua_pushinteger(L, (lua_Integer)t->result);
  set_k(L, K_CURL_CODE);
  lua_pushboolean(L, reqsize > 0);
  set_k(L, K_SENT);
  lua_pushnumber(L, (lua_Number)total);
  set_k(L, K_TIME);
  lua_pushnumber(L, (lua_Number)t->body.len);
  set_k(L, K_SIZE);
}

/* Run through lua_pcall: builds the array of records of the done list and frees nothing. */
static int push_records(lua_State *L) {
  const engine *e = lua_touserdata(L, 1);
  const transfer *t;
  int n = 0;
  lua_createtable(L, (int)e->ndone, 0);
  for (t = e->done_head; t; t = t->done_next) {
    push_record(L, t);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* ---------- the Lua methods ---------- */

/* e:request(spec) -> id. Three steps: read the table (may raise; takes a header list last),
 * create the transfer (no Lua), configure its easy handle (no Lua). */
static int engine_request(lua_State *L) {
  engine *e = check_engine(L);
  request_opts o;
  transfer *t;
  read_request(L, e, 2, &o);
  t = transfer_new(e, &o);
  if (!t) {
    hlist_release(o.hl);
    return luaL_error(L, "request: out of memory");
  }
  configure_easy(t, &o);
  if (curl_multi_add_handle(e->multi, t->easy) != CURLM_OK) {
    transfer_free(e, t);
    return luaL_error(L, "request: curl_multi_add_handle failed");
  }
  lua_pushinteger(L, t->id);
  return 1;
}

/* e:step([timeout]) -> records|nil, running.
 * No record is ever lost: drain() moves finished transfers to the done list without touching
 * Lua; the records are then built in a protected call that frees nothing. If anything raises
 * there (out of memory, a finalizer's error), the step re-raises and the done list is intact,
 * so the next step hands the same transfers out. Only once the whole array exists are the
 * transfers freed, and nothing after that can raise. Finalizers that run during the protected
 * call cannot free transfers under it: step, cancel and close raise while `delivering`. */
static int engine_step(lua_State *L) {
  engine *e = check_idle(L);
  double timeout = luaL_optnumber(L, 2, 0);
  CURLMcode rc = CURLM_OK;
  int status;
  if (e->evfail) {
    int err = e->evfail;
    e->evfail = 0;
    return luaL_error(L, "midjourney.core: could not watch a socket: %s", strerror(err));
  }
  if (e->count > e->ndone) { /* transfers in flight */
#ifdef MJ_EVENTS
    rc = e->evfd >= 0 ? drive_events(e, timeout) : drive_poll(e, timeout);
#else
    rc = drive_poll(e, timeout);
#endif
  }
  if (rc != CURLM_OK) return luaL_error(L, "midjourney.core: %s", curl_multi_strerror(rc));
  drain(e);
  if (!e->done_head) {
    lua_pushnil(L);
  } else {
    lua_pushvalue(L, UV_RECORDS);
    lua_pushlightuserdata(L, e);
    e->delivering = 1;
    status = lua_pcall(L, 1, 1, 0);
    e->delivering = 0;
    if (status != 0) return lua_error(L);
    while (e->done_head) transfer_free(e, e->done_head);
  }
  lua_pushinteger(L, e->count);
  return 2;
}

/* e:fd() -> integer|nil: the epoll/kqueue descriptor, readable when a socket needs attention. */
static int engine_fd(lua_State *L) {
  engine *e = check_engine(L);
  if (e->evfd >= 0)
    lua_pushinteger(L, e->evfd);
  else
    lua_pushnil(L);
  return 1;
}

/* e:timeout() -> seconds|nil until libcurl's next timer; 0 when records wait for a step. */
static int engine_timeout(lua_State *L) {
  engine *e = check_engine(L);
  double left = 0;
  int have = 0;
  if (e->done_head) {
    have = 1;
  } else if (e->count > 0) {
#ifdef MJ_EVENTS
    if (e->evfd >= 0) {
      have = e->deadline >= 0;
      if (have) left = e->deadline - mono_now();
    } else
#endif
    {
      long ms = -1;
      have = curl_multi_timeout(e->multi, &ms) == CURLM_OK && ms >= 0;
      if (have) left = (double)ms / 1000.0;
    }
  }
  if (!have)
    lua_pushnil(L);
  else
    lua_pushnumber(L, (lua_Number)(left > 0 ? left : 0));
  return 1;
}

static int engine_cancel(lua_State *L) {
  engine *e = check_idle(L);
  transfer *t = map_find(e, luaL_checkinteger(L, 2));
  if (t) transfer_free(e, t);
  lua_pushboolean(L, t != NULL);
  return 1;
}

static int engine_running(lua_State *L) {
  engine *e = check_engine(L);
  lua_pushinteger(L, e->count);
  return 1;
}

static int engine_close(lua_State *L) {
  engine *e = to_engine(L);
  if (e->delivering)
    return luaL_error(L, "midjourney.core: engine is busy in step (called from a finalizer?)");
  engine_cleanup(e);
  return 0;
}

static int engine_closed(lua_State *L) {
  engine *e = to_engine(L);
  lua_pushboolean(L, e->closed);
  return 1;
}

static int engine_tostring(lua_State *L) {
  engine *e = to_engine(L);
  lua_pushfstring(L, "midjourney.core.engine (%s)", e->closed ? "closed" : "open");
  return 1;
}

/* The Accept-Encoding line libcurl builds for CURLOPT_ACCEPT_ENCODING "": every encoding this
 * libcurl decodes, in its order. Sent as one of the request's lines, so libcurl does not format
 * its own for every request; the handle keeps CURLOPT_ACCEPT_ENCODING "", which makes libcurl
 * decode the answer. */
static void accept_encoding_line(char *out, size_t size) {
  static const struct {
    int feature;
    const char *name;
  } enc[] = {
    {CURL_VERSION_LIBZ, "deflate"},
    {CURL_VERSION_LIBZ, "gzip"},
#ifdef CURL_VERSION_BROTLI
    {CURL_VERSION_BROTLI, "br"},
#endif
#ifdef CURL_VERSION_ZSTD
    {CURL_VERSION_ZSTD, "zstd"},
#endif
  };
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  const char *sep = " ";
  size_t i, len = (size_t)snprintf(out, size, "Accept-Encoding:");
  for (i = 0; i < sizeof enc / sizeof enc[0]; i++) {
    if (!(v->features & enc[i].feature)) continue;
    len += (size_t)snprintf(out + len, size - len, "%s%s", sep, enc[i].name);
    sep = ", ";
  }
  if (*sep == ' ') snprintf(out + len, size - len, " identity"); /* libcurl's word for "none" */
}

/* core.engine([opts]) */
static int engine_new(lua_State *L) {
  engine *e;
  double max_host = 0, max_total = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      if (strcmp(k, "max_host_connections") == 0)
        max_host = opt_number(L, "engine", k, MAX_LONG, 1);
      else if (strcmp(k, "max_connections") == 0)
        max_total = opt_number(L, "engine", k, MAX_LONG, 1);
      else
        luaL_error(L, "engine: unknown option '%s'",
                   lua_type(L, -2) == LUA_TSTRING ? k : luaL_typename(L, -2));
      lua_pop(L, 1);
    }
  }
  e = mj_newuserdata(L, sizeof *e);
  memset(e, 0, sizeof *e);
  e->closed = 1; /* until the multi handle exists, so a failed init is safe to collect */
  e->evfd = -1;
  e->deadline = -1.0;
  accept_encoding_line(e->accept_encoding, sizeof e->accept_encoding);
  luaL_getmetatable(L, ENGINE_MT);
  lua_setmetatable(L, -2);
  e->multi = curl_multi_init();
  if (!e->multi) return luaL_error(L, "midjourney.core: curl_multi_init failed");
  e->closed = 0;
  if (max_host > 0) curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_host);
  if (max_total > 0) curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_total);
#ifdef MJ_EVENTS
  /* One mode per engine, chosen here: socket_action with the descriptor, or (when it cannot be
   * created, e.g. out of descriptors) poll + perform, as on platforms without either. */
  e->evfd = events_open();
  if (e->evfd >= 0) {
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
  }
#endif
  return 1;
}

static const luaL_Reg engine_methods[] = {
  {"request", engine_request}, {"step", engine_step},     {"fd", engine_fd},
  {"timeout", engine_timeout}, {"cancel", engine_cancel}, {"running", engine_running},
  {"close", engine_close},     {"closed", engine_closed}, {NULL, NULL},
};

/* Sets the functions of l into the table below the nup values on top, each function with those
 * values as its upvalues (luaL_setfuncs, written out for the Lua 5.1 API), and pops the values. */
static void set_closures(lua_State *L, const luaL_Reg *l, int nup) {
  int i;
  for (; l->name; l++) {
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

static const luaL_Reg engine_meta[] = {
  {"__gc", engine_close},
  {"__close", engine_close},
  {"__tostring", engine_tostring},
  {NULL, NULL},
};

int mjs_open_engine(lua_State *L) {
  int module = mj_absindex(L, -1), mt, k;
  if (luaL_newmetatable(L, ENGINE_MT)) {
    mt = lua_gettop(L);
    lua_pushvalue(L, mt); /* upvalue 1 of every method */
    for (k = 0; k < K_COUNT; k++) lua_pushstring(L, record_fields[k]);
    lua_pushcclosure(L, push_records, K_COUNT); /* upvalue 2 */
    lua_newtable(L);
    lua_pushvalue(L, mt + 1);
    lua_pushvalue(L, mt + 2);
    set_closures(L, engine_methods, 2);
    lua_setfield(L, mt, "__index");
    set_closures(L, engine_meta, 2); /* into the metatable, below the two upvalues */
    lua_pushliteral(L, "midjourney.core.engine");
    lua_setfield(L, mt, "__name");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, engine_new);
  lua_setfield(L, module, "engine");
  return 0;
}
