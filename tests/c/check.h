/*
** Minimal test harness for the C suites.
**
**   CHECK(cond, fmt, ...)     counts a pass, or prints file:line and the message and counts a failure
**   CHECK_NEAR(a, b, tol)     |a-b| <= tol
**   SKIP(fmt, ...)            counts a skip and prints why (e.g. ../shared absent)
**   return check_report("name");   last line of main(): prints "name: N passed, N failed, N skipped"
**
** Helpers: check_shared_dir() finds ../shared (or $LEGRAD_SHARED) and returns NULL when absent, so a
** test that needs it can SKIP with a clear message; check_read_file() slurps a file.
*/
#ifndef LEGRAD_CHECK_H
#define LEGRAD_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int check_passed, check_failed, check_skipped;

#define CHECK(cond, ...)                                                              \
  do {                                                                                \
    if (cond) {                                                                       \
      check_passed++;                                                                 \
    } else {                                                                          \
      check_failed++;                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);        \
      fprintf(stderr, __VA_ARGS__);                                                   \
      fputc('\n', stderr);                                                            \
    }                                                                                 \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                         \
  CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s=%.9g %s=%.9g tol=%g", #a,       \
        (double)(a), #b, (double)(b), (double)(tol))

#define SKIP(...)                                                                     \
  do {                                                                                \
    check_skipped++;                                                                  \
    fprintf(stderr, "%s:%d: SKIP: ", __FILE__, __LINE__);                             \
    fprintf(stderr, __VA_ARGS__);                                                     \
    fputc('\n', stderr);                                                              \
  } while (0)

static inline int check_report(const char *name) {
  printf("%s: %d passed, %d failed, %d skipped\n", name, check_passed, check_failed,
         check_skipped);
  return check_failed ? 1 : 0;
}

/* Directory of the shared reference data, or NULL when it is not present. */
static inline const char *check_shared_dir(void) {
  struct stat st;
  const char *env = getenv("LEGRAD_SHARED");
  if (env && stat(env, &st) == 0 && S_ISDIR(st.st_mode)) return env;
  if (stat("../shared/data", &st) == 0 && S_ISDIR(st.st_mode)) return "../shared";
  return NULL;
}

/* Reads a whole file; returns a malloc'ed buffer (NUL-terminated, size in *n) or NULL. */
static inline unsigned char *check_read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)sz + 1);
  if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) { free(buf); buf = NULL; }
  if (buf) { buf[sz] = 0; if (n) *n = (size_t)sz; }
  fclose(f);
  return buf;
}
#endif
