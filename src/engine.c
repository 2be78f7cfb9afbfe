/* The engine: one libcurl multi handle, non-blocking transfers, finished transfers
 * handed back to Lua as plain records. curl callbacks only fill C buffers. */
#include <curl/curl.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compat.h"

#define ENGINE_MT "midjourney.core.engine"
#define DEFAULT_MAX_BODY (32u * 1024u * 1024u)
#define DEFAULT_MAX_HEADER (64u * 1024u)
#define EASY_POOL_MAX 64
#define HV_SHORT 256
#define HV_LONG 2048

typedef struct buffer {
  char *data;
  size_t len, cap;
} buffer;

typedef struct transfer {
  CURL *easy;
  lua_Integer id;
  struct curl_slist *headers;
  buffer body;
  size_t max_body, max_header, header_bytes;
  FILE *file;
  char *file_path;
  int too_large, file_failed;
  CURLcode result;
  char content_type[HV_SHORT], retry_after[HV_SHORT], retry_after_ms[HV_SHORT], request_id[HV_SHORT];
  char location[HV_LONG];
  char errbuf[CURL_ERROR_SIZE];
  struct transfer *prev, *next;
} transfer;

typedef struct engine {
  CURLM *multi;
  transfer *head;
  CURL *pool[EASY_POOL_MAX];
  int pooled;
  lua_Integer next_id;
  lua_Integer count; /* transfers in flight */
  int closed;
} engine;

/* ---------- buffers and callbacks (C only: no Lua in here) ---------- */

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
    t->too_large = 1;
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

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
  while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (n >= cap) n = cap - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static int header_is(const char *line, size_t namelen, const char *name) {
  return strlen(name) == namelen && strncasecmp(line, name, namelen) == 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  transfer *t = ud;
  size_t n = size * nmemb, namelen;
  const char *colon, *v;
  t->header_bytes += n;
  if (t->header_bytes > t->max_header) {
    t->too_large = 1;
    return 0;
  }
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (redirect, 100): forget the old headers */
    t->content_type[0] = t->retry_after[0] = t->retry_after_ms[0] = t->request_id[0] = '\0';
    t->location[0] = '\0';
    return n;
  }
  colon = memchr(p, ':', n);
  if (!colon) return n;
  namelen = (size_t)(colon - p);
  v = colon + 1;
  while (v < p + n && (*v == ' ' || *v == '\t')) v++;
  if (header_is(p, namelen, "content-type"))
    copy_value(t->content_type, sizeof t->content_type, v, (size_t)(p + n - v));
  else if (header_is(p, namelen, "retry-after"))
    copy_value(t->retry_after, sizeof t->retry_after, v, (size_t)(p + n - v));
  else if (header_is(p, namelen, "retry-after-ms"))
    copy_value(t->retry_after_ms, sizeof t->retry_after_ms, v, (size_t)(p + n - v));
  else if (header_is(p, namelen, "x-request-id") || header_is(p, namelen, "x-oneapi-request-id") ||
           header_is(p, namelen, "request-id"))
    copy_value(t->request_id, sizeof t->request_id, v, (size_t)(p + n - v));
  else if (header_is(p, namelen, "location"))
    copy_value(t->location, sizeof t->location, v, (size_t)(p + n - v));
  return n;
}

/* ---------- transfer lifetime ---------- */

static void transfer_free(engine *e, transfer *t) {
  if (t->prev)
    t->prev->next = t->next;
  else if (e->head == t)
    e->head = t->next;
  if (t->next) t->next->prev = t->prev;
  e->count--;
  if (t->easy) {
    if (e->multi) curl_multi_remove_handle(e->multi, t->easy);
    if (!e->closed && e->pooled < EASY_POOL_MAX) {
      curl_easy_reset(t->easy);
      e->pool[e->pooled++] = t->easy;
    } else {
      curl_easy_cleanup(t->easy);
    }
  }
  curl_slist_free_all(t->headers);
  free(t->body.data);
  if (t->file) fclose(t->file);
  free(t->file_path);
  free(t);
}

static void engine_cleanup(engine *e) {
  int i;
  if (e->closed) return;
  e->closed = 1;
  while (e->head) transfer_free(e, e->head);
  for (i = 0; i < e->pooled; i++) curl_easy_cleanup(e->pool[i]);
  e->pooled = 0;
  if (e->multi) curl_multi_cleanup(e->multi);
  e->multi = NULL;
}

static engine *check_engine(lua_State *L) {
  engine *e = luaL_checkudata(L, 1, ENGINE_MT);
  if (e->closed) luaL_error(L, "midjourney.core: engine is closed");
  return e;
}

/* ---------- request options from a Lua table ---------- */

static const char *opt_string(lua_State *L, int spec, const char *key, int required) {
  const char *s = NULL;
  lua_getfield(L, spec, key);
  if (lua_type(L, -1) == LUA_TSTRING)
    s = lua_tostring(L, -1); /* the spec table keeps the string alive until request() returns */
  else if (!lua_isnil(L, -1) || required)
    luaL_error(L, "request: field '%s' must be a string", key);
  lua_pop(L, 1);
  return s;
}

static double opt_number(lua_State *L, int spec, const char *key, double dflt) {
  double v = dflt;
  lua_getfield(L, spec, key);
  if (lua_type(L, -1) == LUA_TNUMBER) {
    v = (double)lua_tonumber(L, -1);
    if (!(v >= 0) || isinf(v)) luaL_error(L, "request: field '%s' must be a non-negative number", key);
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "request: field '%s' must be a number", key);
  }
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, int spec, const char *key, int dflt) {
  int v = dflt;
  lua_getfield(L, spec, key);
  if (lua_type(L, -1) == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "request: field '%s' must be a boolean", key);
  lua_pop(L, 1);
  return v;
}

static int valid_header(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 0;
  return memchr(s, ':', n) != NULL || (n > 0 && s[n - 1] == ';');
}

/* Collects the header list; raises on a bad value (after freeing what it built). */
static struct curl_slist *build_headers(lua_State *L, int spec, int is_post) {
  struct curl_slist *list = NULL, *next;
  size_t i, n;
  lua_getfield(L, spec, "headers");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    n = 0;
  } else {
    if (!lua_istable(L, -1)) luaL_error(L, "request: field 'headers' must be an array of strings");
    n = mj_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
      size_t len;
      const char *h;
      lua_rawgeti(L, -1, (int)i);
      h = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
      if (!h || !valid_header(h, len)) {
        curl_slist_free_all(list);
        luaL_error(L, "request: headers[%d] must be a 'Name: value' string without CR, LF or NUL", (int)i);
      }
      next = curl_slist_append(list, h);
      lua_pop(L, 1);
      if (!next) {
        curl_slist_free_all(list);
        luaL_error(L, "request: out of memory");
      }
      list = next;
    }
    lua_pop(L, 1);
  }
  if (is_post) { /* never wait for "100 Continue" */
    next = curl_slist_append(list, "Expect:");
    if (next) list = next;
  }
  return list;
}

static CURL *take_easy(engine *e) {
  if (e->pooled > 0) return e->pool[--e->pooled];
  return curl_easy_init();
}

static int engine_request(lua_State *L) {
  engine *e = check_engine(L);
  const char *method, *url, *body, *file, *ca_file, *ca_path;
  size_t body_len = 0;
  double timeout, connect_timeout, low_speed_limit, low_speed_time, max_body, max_header;
  int follow, verify, is_post, fresh;
  struct curl_slist *headers;
  transfer *t;
  CURL *h;

  luaL_checktype(L, 2, LUA_TTABLE);
  method = opt_string(L, 2, "method", 0);
  if (!method) method = "GET";
  url = opt_string(L, 2, "url", 1);
  lua_getfield(L, 2, "body");
  if (lua_type(L, -1) == LUA_TSTRING)
    body = lua_tolstring(L, -1, &body_len);
  else if (lua_isnil(L, -1))
    body = NULL;
  else
    return luaL_error(L, "request: field 'body' must be a string");
  lua_pop(L, 1);
  file = opt_string(L, 2, "file", 0);
  ca_file = opt_string(L, 2, "ca_file", 0);
  ca_path = opt_string(L, 2, "ca_path", 0);
  timeout = opt_number(L, 2, "timeout", 0);
  connect_timeout = opt_number(L, 2, "connect_timeout", 0);
  low_speed_limit = opt_number(L, 2, "low_speed_limit", 0);
  low_speed_time = opt_number(L, 2, "low_speed_time", 0);
  max_body = opt_number(L, 2, "max_body", DEFAULT_MAX_BODY);
  max_header = opt_number(L, 2, "max_header", DEFAULT_MAX_HEADER);
  follow = opt_bool(L, 2, "follow", 0);
  verify = opt_bool(L, 2, "verify", 1);
  fresh = opt_bool(L, 2, "fresh_connect", 0);
  if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "HEAD") && strcmp(method, "PUT") &&
      strcmp(method, "DELETE"))
    return luaL_error(L, "request: unsupported method '%s'", method);
  is_post = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;

  headers = build_headers(L, 2, is_post);
  t = malloc(sizeof *t); /* not calloc: the header buffers are large and only need a NUL */
  if (t) {
    memset(t, 0, offsetof(transfer, content_type));
    t->content_type[0] = t->retry_after[0] = t->retry_after_ms[0] = t->request_id[0] = '\0';
    t->location[0] = t->errbuf[0] = '\0';
    t->prev = t->next = NULL;
  }
  h = t ? take_easy(e) : NULL;
  if (!t || !h || (file && !(t->file_path = strdup(file)))) {
    curl_slist_free_all(headers);
    if (h) curl_easy_cleanup(h);
    if (t) free(t->file_path);
    free(t);
    return luaL_error(L, "request: out of memory");
  }
  t->easy = h;
  t->headers = headers;
  t->max_body = max_body >= (double)SIZE_MAX ? SIZE_MAX : (size_t)max_body;
  t->max_header = max_header >= (double)SIZE_MAX ? SIZE_MAX : (size_t)max_header;
  t->id = ++e->next_id;
  t->next = e->head;
  if (e->head) e->head->prev = t;
  e->head = t;
  e->count++;

  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PRIVATE, t);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  if (follow) {
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  }
  /* A request that must never be sent twice: libcurl silently re-sends a request whose reused
   * keep-alive connection turned out dead; a fresh connection cannot be "dead on reuse". */
  if (fresh) curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
  /* downloads: big reads mean fewer callbacks and write calls (curl's own tool does this) */
  if (file) curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024L);
  if (timeout > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000.0 + 0.5));
  if (connect_timeout > 0)
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000.0 + 0.5));
  if (low_speed_limit > 0 && low_speed_time > 0) {
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)low_speed_limit);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)(low_speed_time < 1 ? 1 : low_speed_time));
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
  if (ca_path) curl_easy_setopt(h, CURLOPT_CAPATH, ca_path);
  if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body ? body : "");
  } else if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
      curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
    }
  }
  if (curl_multi_add_handle(e->multi, h) != CURLM_OK) {
    transfer_free(e, t);
    return luaL_error(L, "request: curl_multi_add_handle failed");
  }
  lua_pushinteger(L, t->id);
  return 1;
}

/* ---------- finished transfers become records ---------- */

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

static void set_str(lua_State *L, const char *key, const char *v) {
  if (!v || !*v) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, key);
}

static void push_record(lua_State *L, transfer *t) {
  long status = 0, reqsize = 0;
  double total = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &reqsize);
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &total);
  lua_createtable(L, 0, 12);
  lua_pushinteger(L, t->id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, (lua_Integer)status);
  lua_setfield(L, -2, "status");
  if (t->file_path) {
    if (!t->file && t->result == CURLE_OK) t->file = fopen(t->file_path, "wb"); /* empty body: empty file */
    if (t->file) {
      if (fclose(t->file) != 0 && t->result == CURLE_OK) t->file_failed = 1;
      t->file = NULL;
    }
    lua_pushstring(L, t->file_path);
    lua_setfield(L, -2, "file");
  } else {
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    lua_setfield(L, -2, "body");
  }
  set_str(L, "content_type", t->content_type);
  set_str(L, "retry_after", t->retry_after);
  set_str(L, "retry_after_ms", t->retry_after_ms);
  set_str(L, "request_id", t->request_id);
  set_str(L, "location", t->location);
  if (t->result != CURLE_OK || t->file_failed) {
    const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);
    if (t->too_large)
      msg = "response larger than the configured limit";
    else if (t->file_failed)
      msg = "could not write the output file";
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "error");
    lua_pushstring(L, error_kind(t));
    lua_setfield(L, -2, "error_kind");
  }
  lua_pushinteger(L, (lua_Integer)t->result);
  lua_setfield(L, -2, "curl_code");
  lua_pushboolean(L, reqsize > 0);
  lua_setfield(L, -2, "sent");
  lua_pushnumber(L, (lua_Number)total);
  lua_setfield(L, -2, "time");
  lua_pushnumber(L, (lua_Number)t->body.len);
  lua_setfield(L, -2, "size");
}

/* e:step(timeout) -> records|nil, running. Waits at most `timeout` seconds for activity. */
static int engine_step(lua_State *L) {
  engine *e = check_engine(L);
  double timeout = luaL_optnumber(L, 2, 0);
  int running = 0, left, n = 0;
  CURLMsg *msg;
  if (timeout > 0 && e->head) {
    int ms = timeout > 86400 ? 86400000 : (int)(timeout * 1000.0 + 0.5);
    if (curl_multi_poll(e->multi, NULL, 0, ms, NULL) != CURLM_OK)
      return luaL_error(L, "midjourney.core: curl_multi_poll failed");
  }
  if (e->head && curl_multi_perform(e->multi, &running) != CURLM_OK)
    return luaL_error(L, "midjourney.core: curl_multi_perform failed");
  /* finished transfers come from libcurl's message queue: no walk over those in flight */
  while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
    transfer *t = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    if (!t) continue;
    t->result = msg->data.result;
    if (n == 0) lua_newtable(L);
    push_record(L, t);
    lua_rawseti(L, -2, ++n);
    transfer_free(e, t);
  }
  if (n == 0) lua_pushnil(L);
  lua_pushinteger(L, running);
  return 2;
}

static int engine_cancel(lua_State *L) {
  engine *e = check_engine(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  transfer *t;
  for (t = e->head; t; t = t->next) {
    if (t->id == id) {
      transfer_free(e, t);
      lua_pushboolean(L, 1);
      return 1;
    }
  }
  lua_pushboolean(L, 0);
  return 1;
}

static int engine_running(lua_State *L) {
  engine *e = check_engine(L);
  lua_pushinteger(L, e->count);
  return 1;
}

static int engine_close(lua_State *L) {
  engine *e = luaL_checkudata(L, 1, ENGINE_MT);
  engine_cleanup(e);
  return 0;
}

static int engine_closed(lua_State *L) {
  engine *e = luaL_checkudata(L, 1, ENGINE_MT);
  lua_pushboolean(L, e->closed);
  return 1;
}

static int engine_tostring(lua_State *L) {
  engine *e = luaL_checkudata(L, 1, ENGINE_MT);
  lua_pushfstring(L, "midjourney.core.engine (%s)", e->closed ? "closed" : "open");
  return 1;
}

/* core.engine([opts]) */
static int engine_new(lua_State *L) {
  engine *e;
  long max_host = 0, max_total = 0;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    max_host = (long)opt_number(L, 1, "max_host_connections", 0);
    max_total = (long)opt_number(L, 1, "max_connections", 0);
  }
  e = mj_newuserdata(L, sizeof *e);
  memset(e, 0, sizeof *e);
  e->closed = 1; /* until the multi handle exists, so a failed init is safe to collect */
  luaL_getmetatable(L, ENGINE_MT);
  lua_setmetatable(L, -2);
  e->multi = curl_multi_init();
  if (!e->multi) return luaL_error(L, "midjourney.core: curl_multi_init failed");
  e->closed = 0;
  if (max_host > 0) curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
  if (max_total > 0) curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total);
  return 1;
}

static const luaL_Reg engine_methods[] = {
  {"request", engine_request},
  {"step", engine_step},
  {"cancel", engine_cancel},
  {"running", engine_running},
  {"close", engine_close},
  {"closed", engine_closed},
  {NULL, NULL},
};

int mjs_open_engine(lua_State *L) {
  int module = mj_absindex(L, -1);
  if (luaL_newmetatable(L, ENGINE_MT)) {
    lua_newtable(L);
    mj_setfuncs(L, engine_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, engine_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, engine_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, engine_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "midjourney.core.engine");
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, engine_new);
  lua_setfield(L, module, "engine");
  return 0;
}
