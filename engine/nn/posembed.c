/*
** Antialiased bicubic resampling of position-embedding grids, mirroring PyTorch's
** aten/src/ATen/native/cpu/UpSampleKernel.cpp (_compute_weights_aa, aa_filter with a = -0.5,
** separable: the contiguous (width) dimension first, then height).  See posembed.h.
*/
#include "posembed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Keys cubic convolution kernel with a = -0.5 (PIL-compatible, PyTorch aa_filter). */
static float aa_cubic(float x) {
  const float a = -0.5f;
  x = fabsf(x);
  if (x < 1.0f) return ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1.0f;
  if (x < 2.0f) return ((a * x - 5.0f * a) * x + 8.0f * a) * x - 4.0f * a;
  return 0.0f;
}

/* Weights for output index i of an in -> out resize: taps xmin .. xmin+*xsize-1 into w[]. */
static void aa_weights(int i, int in, int out, float *w, int *xmin, int *xsize) {
  float scale = (float)in / (float)out;
  float support = scale >= 1.0f ? 2.0f * scale : 2.0f;
  float center = scale * ((float)i + 0.5f);
  float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  int lo = (int)(center - support + 0.5f);
  if (lo < 0) lo = 0;
  int hi = (int)(center + support + 0.5f);
  if (hi > in) hi = in;
  float total = 0.0f;
  for (int j = 0; j < hi - lo; j++) {
    w[j] = aa_cubic(((float)(j + lo) - center + 0.5f) * invscale);
    total += w[j];
  }
  for (int j = 0; j < hi - lo; j++)
    if (total != 0.0f) w[j] /= total;
  *xmin = lo;
  *xsize = hi - lo;
}

/* One separable pass over D-channel vectors: src has `in` samples along the resized axis with
** stride s_in (in vectors) and n_other lines with line stride l_in; same for dst. */
static void aa_pass(const float *src, int in, long s_in, long l_in, float *dst, int out, long s_out,
                    long l_out, int n_other, int D, float *w) {
  for (int i = 0; i < out; i++) {
    int xmin, xsize;
    aa_weights(i, in, out, w, &xmin, &xsize);
    for (int l = 0; l < n_other; l++) {
      float *y = dst + (l * l_out + i * s_out) * D;
      for (int c = 0; c < D; c++) {
        float acc = 0.0f;
        for (int j = 0; j < xsize; j++) acc += src[(l * l_in + (long)(xmin + j) * s_in) * D + c] * w[j];
        y[c] = acc;
      }
    }
  }
}

int lg_posembed_resample(const float *pos, int n_prefix, int G, int D, int G2, float *out, lg_err *err) {
  if (G < 1 || G2 < 1 || D < 1 || n_prefix < 0)
    return lg_errf(err, "lg_posembed_resample: bad sizes G=%d G2=%d D=%d", G, G2, D);
  memcpy(out, pos, (size_t)n_prefix * D * sizeof(float));
  if (G == G2) {
    memcpy(out + (long)n_prefix * D, pos + (long)n_prefix * D, (size_t)G * G * D * sizeof(float));
    return 0;
  }
  int maxtaps = 2 * (int)ceilf(2.0f * ((float)G / G2 > 1 ? (float)G / G2 : 1.0f)) + 4;
  float *w = malloc((size_t)maxtaps * sizeof *w);
  float *tmp = malloc((size_t)G * G2 * D * sizeof *tmp);   /* [G rows][G2 cols][D] */
  if (!w || !tmp) {
    free(w);
    free(tmp);
    return lg_errf(err, "lg_posembed_resample: out of memory (%d -> %d grid, D=%d)", G, G2, D);
  }
  const float *grid = pos + (long)n_prefix * D;
  /* Horizontal: along columns (stride 1 vector), G lines of G (src) / G2 (tmp) vectors. */
  aa_pass(grid, G, 1, G, tmp, G2, 1, G2, G, D, w);
  /* Vertical: along rows (stride G2 vectors), G2 lines (columns). */
  aa_pass(tmp, G, G2, 1, out + (long)n_prefix * D, G2, G2, 1, G2, D, w);
  free(w);
  free(tmp);
  return 0;
}
