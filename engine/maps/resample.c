/*
** The bilinear resampler and min-max normalisation of every map (resample.h).
**
** Both resamplers reproduce PyTorch's CPU upsample_bilinear2d with align_corners=False, per axis:
**   src = scale*(dst+0.5) - 0.5 (computed in double, rounded to float), clamped below at 0,
**   i0 = (int)src, i1 = i0+1 unless i0 is the last index, l1 = src - i0, l0 = 1 - l1,
**   out = l0h*(l0w*a + l1w*b) + l1h*(l0w*c + l1w*d)
** where scale = 1/scale_factor when a factor is given and in/out when a size is given, exactly as
** ATen's area_pixel_compute_scale chooses.
*/
#include <math.h>
#include <stdint.h>

#include "resample.h"

/* One output index's source taps along an axis. */
typedef struct lin_tap {
  int i0, i1;
  float l0, l1;
} lin_tap;

/* ATen area_pixel_compute_source_index (linear, align_corners=False) + the index/weight rule. */
static lin_tap lin_tap_at(float scale, int dst, int n_in) {
  lin_tap t;
  float src = (float)((double)scale * ((double)dst + 0.5) - 0.5);
  if (src < 0.f) src = 0.f;
  t.i0 = (int)src;
  if (t.i0 > n_in - 1) t.i0 = n_in - 1;
  t.i1 = t.i0 < n_in - 1 ? t.i0 + 1 : t.i0;
  float l1 = src - (float)t.i0;
  if (l1 < 0.f) l1 = 0.f;
  if (l1 > 1.f) l1 = 1.f;
  t.l1 = l1;
  t.l0 = 1.f - l1;
  return t;
}

/* Shared kernel: resamples src [sh, sw] to [dh, dw] with the given per-axis scales; the result is
** written to dst (accumulate = 0) or added to dst (accumulate = 1, the official `acc += up(map)`).
** Taps are recomputed per pixel (a few flops) so the kernel needs no allocation. */
static void resample(const float *src, int sh, int sw, float sy, float sx, float *dst, int dh,
                     int dw, int accumulate) {
  for (int y = 0; y < dh; y++) {
    lin_tap ty = lin_tap_at(sy, y, sh);
    const float *r0 = src + (size_t)ty.i0 * sw, *r1 = src + (size_t)ty.i1 * sw;
    float *o = dst + (size_t)y * dw;
    for (int x = 0; x < dw; x++) {
      lin_tap t = lin_tap_at(sx, x, sw);
      float v = ty.l0 * (t.l0 * r0[t.i0] + t.l1 * r0[t.i1]) +
                ty.l1 * (t.l0 * r1[t.i0] + t.l1 * r1[t.i1]);
      o[x] = accumulate ? o[x] + v : v;
    }
  }
}

void lg_upsample_bilinear(const float *src, int gh, int gw, int scale, float *dst) {
  if (!src || !dst || gh < 1 || gw < 1 || scale < 1) return;
  float s = (float)(1.0 / scale);
  resample(src, gh, gw, s, s, dst, gh * scale, gw * scale, 0);
}

void lg_resize_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw) {
  if (!src || !dst || sh < 1 || sw < 1 || dh < 1 || dw < 1) return;
  resample(src, sh, sw, (float)sh / (float)dh, (float)sw / (float)dw, dst, dh, dw, 0);
}

void lg_upsample_sum(const float *grids, int n, int grid, int scale, float *dst) {
  if (!grids || !dst || n < 1 || grid < 1 || scale < 1) return;
  int side = grid * scale;
  float s = (float)(1.0 / scale);
  for (size_t i = 0; i < (size_t)side * side; i++) dst[i] = 0.f;
  for (int k = 0; k < n; k++)
    resample(grids + (size_t)k * grid * grid, grid, grid, s, s, dst, side, side, 1);
}

void lg_minmax(float *v, size_t n, int skip_nan, int *constant) {
  float mn = INFINITY, mx = -INFINITY;
  int finite = 1;
  size_t counted = 0;
  for (size_t i = 0; i < n; i++) {
    if (skip_nan && isnan(v[i])) continue;
    counted++;
    if (!isfinite(v[i])) finite = 0;
    if (v[i] < mn) mn = v[i];
    if (v[i] > mx) mx = v[i];
  }
  float range = mx - mn;
  int is_const = !counted || !finite || !(range > 0.f) || !isfinite(range);
  for (size_t i = 0; i < n; i++) {
    if (skip_nan && isnan(v[i])) continue;
    /* A constant (or non-finite) map: the official code would divide by zero and return NaN. */
    v[i] = is_const ? 0.f : (v[i] - mn) / range;
  }
  if (constant) *constant = is_const;
}
