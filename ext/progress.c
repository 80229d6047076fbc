/*
** legrad_progress(): progress lines on stderr for long statements, e.g. in the sqlite3 shell.
**
**   sqlite> SELECT legrad_progress(10, 100000);   -- a line at most every 10 s, 100,000 expected
**   sqlite> INSERT INTO maps SELECT id, legrad(img, 'a cat') FROM photos;
**   legrad: 1,234 calls, 3.2 calls/s, 00:06:25 elapsed, ~08:33:40 left of 100,000
**   ...
**   sqlite> SELECT legrad_progress(0);           -- off; returns the final counts as JSON
**
**   legrad_progress(every_seconds [, expected_total])  -> JSON of the new state
**   legrad_progress()                                  -> JSON of the current state, unchanged
**   $LEGRAD_PROGRESS="every_seconds[,expected_total]"  -> the same, for every new connection
**
** Every call of a computing function (legrad, legrad_layers, clip_image_embedding,
** clip_text_embedding, clip_similarity, clip_tokenize) counts as one call, cache hits and failures
** included; a call with a NULL argument computes nothing and is not counted.  A line is printed
** when a call ends and every_seconds have passed since the previous line (or since the first
** call counted); "failed" appears once a row has failed on its data (legrad_failures), and the
** time left once expected_total is known and calls remain.  Turning progress on (again) restarts
** the count and the clock; every_seconds may be fractional, 0 turns it off.
**
** The JSON: {"every":10.0,"total":100000,"calls":1234,"failed":0,"elapsed":385.1} (elapsed in
** seconds since the first counted call).  The state is per connection.
**
** FLAGS: SQLITE_DIRECTONLY (it changes connection state and writes to stderr).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"

/* Monotonic clock in seconds. */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* n with thousands separators ("1,234,567") into out. */
static void fmt_count(sqlite3_int64 n, char *out, size_t cap) {
  char digits[32];
  int len = snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
  size_t o = 0;
  if (n < 0 && o + 1 < cap) out[o++] = '-';
  for (int i = 0; i < len && o + 2 < cap; i++) {
    if (i > 0 && (len - i) % 3 == 0) out[o++] = ',';
    out[o++] = digits[i];
  }
  out[o] = 0;
}

/* Seconds as HH:MM:SS (hours may exceed 99). */
static void fmt_hms(double s, char *out, size_t cap) {
  long long t = s < 0 ? 0 : (long long)(s + 0.5);
  snprintf(out, cap, "%02lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
}

/* Starts counting from zero with a line every `every` seconds (0 = off). */
static void progress_start(lg_progress *p, double every, sqlite3_int64 total) {
  memset(p, 0, sizeof *p);
  p->every = every;
  p->total = total;
}

/* Prints the progress line of p at time t. */
static void progress_print(const lg_progress *p, double t) {
  double el = t - p->t0, rate = el > 0 ? (double)p->calls / el : 0;
  char calls[32], failed[48] = "", elapsed[32], left[96] = "";
  fmt_count(p->calls, calls, sizeof calls);
  if (p->failed) {
    char f[32];
    fmt_count(p->failed, f, sizeof f);
    snprintf(failed, sizeof failed, " (%s failed)", f);
  }
  fmt_hms(el, elapsed, sizeof elapsed);
  if (p->total > 0) {
    char tot[32], eta[32];
    fmt_count(p->total, tot, sizeof tot);
    if (p->calls < p->total && rate > 0) {
      fmt_hms((double)(p->total - p->calls) / rate, eta, sizeof eta);
      snprintf(left, sizeof left, ", ~%s left of %s", eta, tot);
    } else {
      snprintf(left, sizeof left, " of %s", tot);
    }
  }
  fprintf(stderr, "legrad: %s calls%s, %.1f calls/s, %s elapsed%s\n", calls, failed, rate,
          elapsed, left);
  fflush(stderr);
}

void lg_progress_count(lg_conn *c, int failed) {
  lg_progress *p = &c->progress;
  if (p->every <= 0) return;
  double t = now_s();
  if (p->calls == 0) p->t0 = p->last = t;
  p->calls++;
  p->t_end = t;
  if (failed) p->failed++;
  if (t - p->last >= p->every) {
    progress_print(p, t);
    p->last = t;
  }
}

void lg_progress_from_env(lg_conn *c) {
  const char *env = getenv("LEGRAD_PROGRESS");
  if (!env || !env[0]) return;
  char *end = NULL;
  double every = strtod(env, &end);
  long long total = 0;
  if (end && *end == ',') total = strtoll(end + 1, NULL, 10);
  if (every > 0 && every <= 1e9) progress_start(&c->progress, every, total > 0 ? total : 0);
}

/* legrad_progress([every_seconds [, expected_total]]) */
static void progressFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_conn *c = sqlite3_user_data(ctx);
  lg_progress *p = &c->progress;
  if (argc >= 1) {
    int t = sqlite3_value_type(argv[0]);
    double every = sqlite3_value_double(argv[0]);
    if ((t != SQLITE_INTEGER && t != SQLITE_FLOAT) || !(every >= 0 && every <= 1e9)) {
      sqlite3_result_error(ctx, "legrad_progress(): argument 1 (every_seconds) must be a number of "
                                "seconds between progress lines (e.g. 10; 0 turns progress off)", -1);
      return;
    }
    sqlite3_int64 total = 0;
    if (argc >= 2 && sqlite3_value_type(argv[1]) != SQLITE_NULL) {
      if (sqlite3_value_type(argv[1]) != SQLITE_INTEGER || sqlite3_value_int64(argv[1]) < 0) {
        sqlite3_result_error(ctx, "legrad_progress(): argument 2 (expected_total) must be a "
                                  "non-negative INTEGER number of calls (or NULL when unknown)", -1);
        return;
      }
      total = sqlite3_value_int64(argv[1]);
    }
    if (every > 0) progress_start(p, every, total);
    else p->every = 0;  /* off: the counts stay readable */
  }
  double el = p->calls ? p->t_end - p->t0 : 0;
  char *json = sqlite3_mprintf("{\"every\":%.3f,\"total\":%lld,\"calls\":%lld,\"failed\":%lld,"
                               "\"elapsed\":%.1f}", p->every, (long long)p->total,
                               (long long)p->calls, (long long)p->failed, el);
  if (!json) { sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, json, -1, sqlite3_free);
}

int lg_register_progress(sqlite3 *db, lg_conn *c) {
  static const lg_func_def funcs[] = {
      {"legrad_progress", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, progressFunc},
      {"legrad_progress", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, progressFunc},
      {"legrad_progress", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, progressFunc},
  };
  return lg_create_functions(db, funcs, sizeof funcs / sizeof funcs[0], c);
}
