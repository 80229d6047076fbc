/*
** Test helpers for comparing engine outputs with the PyTorch fixtures (tests/fixtures/forward/,
** written by tests/reference/make_fixtures.py as safetensors files).
**
**   lg_st fx; lg_st_open(&fx, "tests/fixtures/forward/tiny_qg_oc_32.safetensors", &err);
**   float *ref = fixture_get(&fx, "image_embed", &n);      // malloc'ed F32 copy, NULL if absent
**   double r = rel_err(out, ref, n);                       // ||out-ref|| / ||ref||
**   double a = max_abs_diff(out, ref, n);
*/
#ifndef LEGRAD_TEST_FIXTURE_H
#define LEGRAD_TEST_FIXTURE_H
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "safetensors.h"

static inline float *fixture_get(const lg_st *fx, const char *name, int64_t *n) {
  const lg_st_tensor *t = lg_st_find(fx, name);
  if (!t) return NULL;
  float *buf = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *buf);
  if (buf && lg_st_read_f32(t, buf, NULL)) { free(buf); return NULL; }
  if (n) *n = t->numel;
  return buf;
}

/* As fixture_get, but a missing or unreadable tensor is a failed check naming file and tensor;
** *n (may be NULL) gets numel. */
static inline float *fixture_tensor(const lg_st *st, const char *file, const char *name, int64_t *n) {
  const lg_st_tensor *t = lg_st_find(st, name);
  CHECK(t != NULL, "%s: tensor '%s' missing", file, name);
  if (!t) return NULL;
  float *buf = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
  lg_err err = {{0}};
  if (!buf || lg_st_read_f32(t, buf, &err)) {
    CHECK(0, "%s: reading '%s': %s", file, name, err.msg);
    free(buf);
    return NULL;
  }
  if (n) *n = t->numel;
  return buf;
}

static inline double rel_err(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static inline double max_abs_diff(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= m)) m = d;   /* NaN propagates as a failure */
  }
  return m;
}
#endif
