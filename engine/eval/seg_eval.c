/*
** Chefer et al.'s segmentation metrics per image and over a set (contract and definitions:
** seg_eval.h; the reference is tests/reference/ref_metrics.py).
*/
#include "seg_eval.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "average_precision.h"

int lg_seg_image(const float *res, int constant, const uint8_t *truth, size_t n, double threshold,
                 lg_seg_counts *out, lg_err *err) {
  int rc = -1;
  float *score = NULL;
  uint8_t *onehot = NULL;
  if (!res || !truth || !out) return lg_errf(err, "lg_seg_image: arguments must not be NULL");
  if (n == 0) return lg_errf(err, "lg_seg_image: the image has no pixel");
  if (n > SIZE_MAX / 2 / sizeof(float)) return lg_errf(err, "lg_seg_image: %zu pixels is too many", n);
  memset(out, 0, sizeof *out);
  double thr = threshold;
  if (!constant) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
      if (!isfinite(res[i]))
        return lg_errf(err, "lg_seg_image: map value %zu is not finite", i);
      sum += res[i];
    }
    if (isnan(thr)) thr = sum / (double)n;
  }
  /* [1 − Res, Res] and the one-hot truth [1 − truth, truth], flattened channel by channel */
  score = malloc(2 * n * sizeof *score);
  onehot = malloc(2 * n);
  if (!score || !onehot) { lg_errf(err, "lg_seg_image: out of memory for %zu pixels", n); goto done; }
  /* torch compares a float32 tensor with a float32 threshold (Res.mean() is a float32 tensor; a
  ** Python number is cast to the tensor's dtype), so the threshold is rounded to float32 */
  const float thr32 = (float)thr;
  int64_t pred_n[2] = {0, 0}, truth_n[2] = {0, 0};
  size_t m = 0; /* labelled pixels, packed at the front of each channel's half */
  for (size_t i = 0; i < n; i++) {
    if (truth[i] == LG_SEG_IGNORE) continue;
    int t = truth[i] != 0;
    int p = !constant && res[i] > thr32;
    pred_n[p]++;
    truth_n[t]++;
    out->inter[t] += p == t;
    score[m] = constant ? 0.0f : 1.0f - res[i]; /* float32, as the reference's tensor */
    score[n + m] = constant ? 0.0f : res[i];
    onehot[m] = (uint8_t)!t;
    onehot[n + m] = (uint8_t)t;
    m++;
  }
  /* the background channel's m scores, then the foreground channel's */
  memmove(score + m, score + n, m * sizeof *score);
  memmove(onehot + m, onehot + n, m);
  for (int c = 0; c < 2; c++) out->uni[c] = pred_n[c] + truth_n[c] - out->inter[c];
  out->pixel_labeled = (int64_t)m;
  out->pixel_correct = out->inter[0] + out->inter[1];
  if (lg_average_precision(score, onehot, 2 * m, &out->ap, err)) goto done;
  if (isnan(out->ap)) out->ap = 0; /* np.nan_to_num */
  rc = 0;
done:
  free(score);
  free(onehot);
  return rc;
}

void lg_seg_add(lg_seg_total *t, const lg_seg_counts *c) {
  t->images++;
  t->pixel_correct += c->pixel_correct;
  t->pixel_labeled += c->pixel_labeled;
  for (int k = 0; k < 2; k++) {
    t->inter[k] += c->inter[k];
    t->uni[k] += c->uni[k];
  }
  t->ap_sum += c->ap;
}

void lg_seg_summarise(const lg_seg_total *t, lg_seg_summary *s) {
  const double eps = DBL_EPSILON; /* np.spacing(1) */
  s->images = t->images;
  s->pixel_accuracy = (double)t->pixel_correct / (eps + (double)t->pixel_labeled);
  for (int k = 0; k < 2; k++) s->iou[k] = (double)t->inter[k] / (eps + (double)t->uni[k]);
  s->miou = (s->iou[0] + s->iou[1]) / 2;
  s->map = t->images ? t->ap_sum / (double)t->images : NAN;
}
