/*
 * Raw C libcurl baseline for bench/run.sh ("the practical limit").
 *
 *   raw seq   URL N              one easy handle reused N times, body kept in a
 *                                buffer, no decoding
 *   raw multi URL N INFLIGHT     a multi handle with INFLIGHT transfers in flight
 *                                until N have completed (handles re-added on
 *                                completion, keep-alive)
 *   raw download URL FILE        stream URL to FILE with one easy handle
 *
 * Prints one line: RESULT n=.. wall=.. cpu=.. rss_kb=.. [bytes=..] [errors=..]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct buf {
  char *p;
  size_t len, cap;
};

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long max_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  struct buf *b = ud;
  size_t n = size * nmemb;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return n;
}

static void setup(CURL *h, const char *url, struct buf *b) {
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
}

static int run_seq(const char *url, long n) {
  struct buf b = {0};
  long errors = 0;
  CURL *h = curl_easy_init();
  setup(h, url, &b);
  double w0 = now_mono(), c0 = now_cpu();
  for (long i = 0; i < n; i++) {
    b.len = 0;
    long code = 0;
    if (curl_easy_perform(h) != CURLE_OK) errors++;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 || b.len == 0) errors++;
  }
  double w1 = now_mono(), c1 = now_cpu();
  printf("RESULT n=%ld wall=%.6f cpu=%.6f rss_kb=%ld bytes=%zu errors=%ld\n", n, w1 - w0,
         c1 - c0, max_rss_kb(), b.len, errors);
  curl_easy_cleanup(h);
  free(b.p);
  return errors != 0;
}

static int run_multi(const char *url, long n, int inflight) {
  CURLM *m = curl_multi_init();
  CURL **hs = calloc((size_t)inflight, sizeof *hs);
  struct buf *bs = calloc((size_t)inflight, sizeof *bs);
  long started = 0, done = 0, errors = 0;
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)inflight);
  double w0 = now_mono(), c0 = now_cpu();
  for (int i = 0; i < inflight && started < n; i++) {
    hs[i] = curl_easy_init();
    setup(hs[i], url, &bs[i]);
    curl_easy_setopt(hs[i], CURLOPT_PRIVATE, (void *)&bs[i]);
    curl_multi_add_handle(m, hs[i]);
    started++;
  }
  int running = 1;
  while (done < n) {
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL *h = msg->easy_handle;
      struct buf *b;
      long code = 0;
      curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&b);
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
      if (msg->data.result != CURLE_OK || code != 200 || b->len == 0) errors++;
      done++;
      curl_multi_remove_handle(m, h);
      if (started < n) {
        b->len = 0;
        curl_multi_add_handle(m, h);
        started++;
      }
    }
    if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  double w1 = now_mono(), c1 = now_cpu();
  printf("RESULT n=%ld wall=%.6f cpu=%.6f rss_kb=%ld inflight=%d errors=%ld\n", n, w1 - w0,
         c1 - c0, max_rss_kb(), inflight, errors);
  for (int i = 0; i < inflight; i++)
    if (hs[i]) curl_easy_cleanup(hs[i]);
  curl_multi_cleanup(m);
  for (int i = 0; i < inflight; i++) free(bs[i].p);
  free(bs);
  free(hs);
  return errors != 0;
}

static int run_download(const char *url, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) return 2;
  CURL *h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
  double w0 = now_mono(), c0 = now_cpu();
  CURLcode rc = curl_easy_perform(h);
  fclose(f);
  double w1 = now_mono(), c1 = now_cpu();
  curl_off_t size = 0;
  curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &size);
  printf("RESULT n=1 wall=%.6f cpu=%.6f rss_kb=%ld bytes=%ld errors=%d\n", w1 - w0, c1 - c0,
         max_rss_kb(), (long)size, rc != CURLE_OK);
  curl_easy_cleanup(h);
  return rc != CURLE_OK;
}

int main(int argc, char **argv) {
  int rc = 2;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (argc == 4 && strcmp(argv[1], "seq") == 0)
    rc = run_seq(argv[2], atol(argv[3]));
  else if (argc == 5 && strcmp(argv[1], "multi") == 0)
    rc = run_multi(argv[2], atol(argv[3]), atoi(argv[4]));
  else if (argc == 4 && strcmp(argv[1], "download") == 0)
    rc = run_download(argv[2], argv[3]);
  else
    fprintf(stderr, "usage: raw seq URL N | raw multi URL N INFLIGHT | raw download URL FILE\n");
  curl_global_cleanup();
  return rc;
}
