/*
** Scoring one map against point labels (contract: point_eval.h).
*/
#include "point_eval.h"

#include <math.h>
#include <string.h>

/* The index of the cell holding normalised coordinate t along an axis of `cells` cells. */
static int64_t cell_of(double t, int cells) {
  int64_t c = (int64_t)floor(t * (double)cells);
  return c >= cells ? cells - 1 : c;
}

int lg_point_score(const float *final, int w, int h, const lg_frame *fr, const lg_point *pts, size_t n,
                   double threshold, lg_point_counts *out, lg_err *err) {
  if (!final || !out || (n && !pts)) return lg_errf(err, "lg_point_score: arguments must not be NULL");
  if (w <= 0 || h <= 0) return lg_errf(err, "lg_point_score: map size must be positive, found %d x %d", w, h);
  int framed = fr && fr->src_w != 0;
  if (framed && (w != fr->size || h != fr->size || fr->rw <= 0 || fr->rh <= 0 || fr->cx < 0 || fr->cy < 0))
    return lg_errf(err, "lg_point_score: the map is %d x %d but its frame crops %d x %d", w, h, fr->size,
                   fr->size);
  memset(out, 0, sizeof *out);
  size_t np = (size_t)w * (size_t)h;
  double thr = threshold;
  if (isnan(thr)) {
    double sum = 0;
    for (size_t i = 0; i < np; i++) sum += final[i];
    thr = sum / (double)np;
  }
  const float thr32 = (float)thr; /* compared in float32, as torch and the segmentation protocol */
  for (size_t i = 0; i < n; i++) {
    const lg_point *p = &pts[i];
    if (!(p->x >= 0 && p->x <= 1 && p->y >= 0 && p->y <= 1))
      return lg_errf(err, "point %zu: coordinates (%g, %g) must lie in [0, 1] (normalised to the image)",
                     i, p->x, p->y);
    if (p->label != LG_POINT_YES && p->label != LG_POINT_NO && p->label != LG_POINT_UNSURE)
      return lg_errf(err, "point %zu: unknown label %d", i, (int)p->label);
    if (p->label == LG_POINT_UNSURE) { out->unsure++; continue; }
    int64_t col, row;
    if (framed) {
      col = cell_of(p->x, fr->rw) - fr->cx;
      row = cell_of(p->y, fr->rh) - fr->cy;
      if (col < 0 || col >= fr->size || row < 0 || row >= fr->size) { out->outside++; continue; }
    } else {
      col = cell_of(p->x, w);
      row = cell_of(p->y, h);
    }
    int fg = final[(size_t)row * (size_t)w + (size_t)col] > thr32;
    if (p->label == LG_POINT_YES) { if (fg) out->tp++; else out->fn++; }
    else { if (fg) out->fp++; else out->tn++; }
  }
  return 0;
}
