/*
** sklearn's average precision with tied scores grouped into one threshold (average_precision.h).
** The (score, truth) pairs are sorted by decreasing score; each run of equal scores adds its
** positives and negatives at once, then contributes (R − R_prev) · P.
*/
#include "average_precision.h"

#include <math.h>
#include <stdlib.h>

typedef struct scored {
  float s;
  uint8_t y;
} scored;

/* qsort order: decreasing score. */
static int by_score_desc(const void *a, const void *b) {
  float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
  return (x < y) - (x > y);
}

int lg_average_precision(const float *score, const uint8_t *truth, size_t n, double *ap, lg_err *err) {
  if (!ap || (n && (!score || !truth)))
    return lg_errf(err, "lg_average_precision: arguments must not be NULL");
  *ap = NAN;
  if (n > SIZE_MAX / sizeof(scored)) return lg_errf(err, "lg_average_precision: %zu scores is too many", n);
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(score[i]))
      return lg_errf(err, "lg_average_precision: score %zu is not finite", i);
    pos += truth[i] != 0;
  }
  if (pos == 0) return 0; /* recall undefined: NaN, as sklearn */
  scored *v = malloc(n * sizeof *v);
  if (!v) return lg_errf(err, "lg_average_precision: out of memory for %zu scores", n);
  for (size_t i = 0; i < n; i++) v[i] = (scored){score[i], (uint8_t)(truth[i] != 0)};
  qsort(v, n, sizeof *v, by_score_desc);
  double sum = 0, prev_recall = 0;
  size_t tp = 0, seen = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && v[j].s == v[i].s) tp += v[j++].y; /* one threshold per run of equal scores */
    seen = j;
    double recall = (double)tp / (double)pos, precision = (double)tp / (double)seen;
    sum += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  free(v);
  *ap = sum;
  return 0;
}
