/*
** Pillow-exact image resizing of interleaved 8-bit pixels (Pillow 9.x src/libImaging/Resample.c
** and Geometry.c; spec clip-engine.md 5.1 item 2).
**
**   lg_resize_bicubic_u8(src, sw, sh, 3, dst, dw, dh, &err);  // Image.resize(..., BICUBIC)
**   lg_resize_nearest_u8(src, sw, sh, 1, dst, dw, dh, &err);  // Image.resize(..., NEAREST)
**
** Bicubic: separable, horizontal pass first into an 8-bit temporary, then vertical.  Per axis
** scale = in/out, filterscale = max(scale, 1), support = 2 * filterscale (the kernel widens when
** downscaling: antialiasing).  Output i has centre (i + 0.5) * scale and taps
** [max((int)(centre - support + 0.5), 0), min((int)(centre + support + 0.5), in)); weights are the
** Keys cubic (a = -0.5) at (j - centre + 0.5) / filterscale, divided by their sum, and quantised to
** 22-bit fixed point; each pass rounds (accumulator starts at 1 << 21) and clamps to 0..255.  A pass
** whose size does not change is skipped, and the horizontal pass only produces the source rows the
** vertical pass reads, exactly as Pillow does.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define PRECISION_BITS 22  /* 32 - 8 - 2, as in Pillow */

/* Keys cubic convolution kernel with a = -0.5 (Pillow bicubic_filter). */
static double bicubic_kernel(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/* Fixed-point resampling coefficients for one axis (Pillow precompute_coeffs +
** normalize_coeffs_8bpc).  For output index i, taps are source indices bounds[2i] ..
** bounds[2i] + bounds[2i+1] - 1 with weights kk[i * ksize + t]. */
typedef struct {
  int ksize;
  int *bounds;   /* [out, 2]: first tap, tap count */
  int32_t *kk;   /* [out, ksize] fixed point, for 8-bit samples */
  double *kd;    /* [out, ksize] normalised doubles, for 32-bit samples */
} resample_coeffs;

static void coeffs_free(resample_coeffs *c) {
  free(c->bounds);
  free(c->kk);
  free(c->kd);
  c->bounds = NULL;
  c->kk = NULL;
  c->kd = NULL;
}

static int coeffs_compute(int in_size, int out_size, resample_coeffs *c, lg_err *err) {
  double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 2.0 * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  double *w = malloc(sizeof(double) * (size_t)ksize);
  c->ksize = ksize;
  c->bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
  c->kk = calloc((size_t)out_size * (size_t)ksize, sizeof(int32_t));
  c->kd = calloc((size_t)out_size * (size_t)ksize, sizeof(double));
  if (!w || !c->bounds || !c->kk || !c->kd) {
    free(w);
    coeffs_free(c);
    return lg_errf(err, "lg_resize_bicubic_u8: out of memory for %d -> %d coefficients", in_size,
                   out_size);
  }
  for (int i = 0; i < out_size; i++) {
    double center = (i + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
    if (xmin < 0) xmin = 0;
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      w[x] = bicubic_kernel((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (int x = 0; x < xmax; x++) {
      double k = ww != 0.0 ? w[x] / ww : w[x];
      c->kd[(size_t)i * ksize + x] = k;
      c->kk[(size_t)i * ksize + x] =
          (int32_t)(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS));
    }
    c->bounds[2 * i] = xmin;
    c->bounds[2 * i + 1] = xmax;
  }
  free(w);
  return 0;
}

/* Rounds a fixed-point accumulator (already offset by one half) to 0..255. */
static inline uint8_t clip8(int32_t acc) {
  int32_t v = acc >> PRECISION_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass: src rows [y0, y0 + rows) of width sw -> dst [rows, dw, ch].  Returns -1 when
** stop asked to stop (polled per row), else 0. */
static int pass_horizontal(const uint8_t *src, int sw, int ch, int y0, int rows, uint8_t *dst,
                           int dw, const resample_coeffs *c, const lg_stop *stop) {
  for (int y = 0; y < rows; y++) {
    if (lg_stop_requested(stop)) return -1;
    const uint8_t *row = src + ((size_t)(y0 + y) * sw) * ch;
    uint8_t *o = dst + (size_t)y * dw * ch;
    for (int x = 0; x < dw; x++) {
      const int32_t *k = c->kk + (size_t)x * c->ksize;
      int xmin = c->bounds[2 * x], xn = c->bounds[2 * x + 1];
      for (int b = 0; b < ch; b++) {
        int32_t acc = 1 << (PRECISION_BITS - 1);
        const uint8_t *s = row + (size_t)xmin * ch + b;
        for (int t = 0; t < xn; t++) acc += s[(size_t)t * ch] * k[t];
        o[(size_t)x * ch + b] = clip8(acc);
      }
    }
  }
  return 0;
}

/* Vertical pass: src [*, w, ch] whose row 0 is source row y_first -> dst [dh, w, ch].  Returns -1
** when stop asked to stop (polled per row), else 0. */
static int pass_vertical(const uint8_t *src, int w, int ch, int y_first, uint8_t *dst, int dh,
                         const resample_coeffs *c, const lg_stop *stop) {
  size_t rowlen = (size_t)w * ch;
  for (int y = 0; y < dh; y++) {
    if (lg_stop_requested(stop)) return -1;
    const int32_t *k = c->kk + (size_t)y * c->ksize;
    int ymin = c->bounds[2 * y] - y_first, yn = c->bounds[2 * y + 1];
    const uint8_t *s0 = src + (size_t)ymin * rowlen;
    uint8_t *o = dst + (size_t)y * rowlen;
    for (size_t i = 0; i < rowlen; i++) {
      int32_t acc = 1 << (PRECISION_BITS - 1);
      for (int t = 0; t < yn; t++) acc += s0[(size_t)t * rowlen + i] * k[t];
      o[i] = clip8(acc);
    }
  }
  return 0;
}

/* Validates the common arguments of the two resize functions. */
static int check_args(const char *fn, const uint8_t *src, int sw, int sh, int ch, uint8_t *dst,
                      int dw, int dh, lg_err *err) {
  if (!src || !dst) return lg_errf(err, "%s: NULL pixel buffer", fn);
  if (ch < 1 || ch > 4) return lg_errf(err, "%s: ch must be 1..4, found %d", fn, ch);
  if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0) {
    return lg_errf(err, "%s: sizes must be positive, found %dx%d -> %dx%d", fn, sw, sh, dw, dh);
  }
  return 0;
}

int lg_resize_bicubic_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh,
                         lg_err *err) {
  return lg_resize_bicubic_u8_stop(src, sw, sh, ch, dst, dw, dh, NULL, err);
}

int lg_resize_bicubic_u8_stop(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw,
                              int dh, const lg_stop *stop, lg_err *err) {
  resample_coeffs ch_h = {0}, ch_v = {0};
  uint8_t *tmp = NULL;
  int rc = -1;
  if (check_args("lg_resize_bicubic_u8", src, sw, sh, ch, dst, dw, dh, err)) return -1;
  int need_h = dw != sw, need_v = dh != sh;
  if (!need_h && !need_v) {
    memcpy(dst, src, (size_t)sw * sh * ch);
    return 0;
  }
  if (need_h && coeffs_compute(sw, dw, &ch_h, err)) goto done;
  if (need_v && coeffs_compute(sh, dh, &ch_v, err)) goto done;
  int stopped = 0;
  if (!need_v) {
    stopped = pass_horizontal(src, sw, ch, 0, sh, dst, dw, &ch_h, stop);
  } else if (!need_h) {
    stopped = pass_vertical(src, sw, ch, 0, dst, dh, &ch_v, stop);
  } else {
    /* Only the source rows the vertical pass reads go through the horizontal pass. */
    int y_first = ch_v.bounds[0];
    int y_last = ch_v.bounds[2 * dh - 2] + ch_v.bounds[2 * dh - 1];
    tmp = malloc((size_t)(y_last - y_first) * dw * ch);
    if (!tmp) {
      lg_errf(err, "lg_resize_bicubic_u8: out of memory for a %dx%d temporary", dw, y_last - y_first);
      goto done;
    }
    stopped = pass_horizontal(src, sw, ch, y_first, y_last - y_first, tmp, dw, &ch_h, stop) ||
              pass_vertical(tmp, dw, ch, y_first, dst, dh, &ch_v, stop);
  }
  if (stopped) {
    lg_errf(err, "lg_resize_bicubic_u8: interrupted while resizing %dx%d to %dx%d", sw, sh, dw, dh);
    goto done;
  }
  rc = 0;
done:
  free(tmp);
  coeffs_free(&ch_h);
  coeffs_free(&ch_v);
  return rc;
}

/* Pillow ROUND_UP: half away from zero, for the 32-bit passes. */
static inline int32_t round_up(double f) { return (int32_t)(f >= 0.0 ? f + 0.5F : f - 0.5F); }

int lg_resize_bicubic_i32(const int32_t *src, int sw, int sh, int32_t *dst, int dw, int dh,
                          const lg_stop *stop, lg_err *err) {
  resample_coeffs ch_h = {0}, ch_v = {0};
  int32_t *tmp = NULL;
  int rc = -1;
  if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0) {
    return lg_errf(err, "lg_resize_bicubic_i32: bad arguments %dx%d -> %dx%d", sw, sh, dw, dh);
  }
  int need_h = dw != sw, need_v = dh != sh;
  if (need_h && coeffs_compute(sw, dw, &ch_h, err)) goto done;
  if (need_v && coeffs_compute(sh, dh, &ch_v, err)) goto done;
  int y_first = need_v ? ch_v.bounds[0] : 0;
  int y_last = need_v ? ch_v.bounds[2 * dh - 2] + ch_v.bounds[2 * dh - 1] : sh;
  const int32_t *vin = src;
  int vin_w = sw, vin_y0 = 0;
  if (need_h) {
    int rows = y_last - y_first;
    int32_t *hout = need_v ? (tmp = malloc(sizeof(int32_t) * (size_t)rows * dw)) : dst;
    if (!hout) { lg_errf(err, "lg_resize_bicubic_i32: out of memory"); goto done; }
    for (int y = 0; y < rows; y++) {
      if (lg_stop_requested(stop)) {
        lg_errf(err, "lg_resize_bicubic_i32: interrupted while resizing %dx%d to %dx%d", sw, sh, dw, dh);
        goto done;
      }
      const int32_t *row = src + (size_t)(y + y_first) * sw;
      for (int x = 0; x < dw; x++) {
        const double *k = ch_h.kd + (size_t)x * ch_h.ksize;
        int xmin = ch_h.bounds[2 * x], xn = ch_h.bounds[2 * x + 1];
        double ss = 0.0;
        for (int t = 0; t < xn; t++) ss += row[xmin + t] * k[t];
        hout[(size_t)y * dw + x] = round_up(ss);
      }
    }
    vin = hout;
    vin_w = dw;
    vin_y0 = y_first;
  }
  if (need_v) {
    for (int y = 0; y < dh; y++) {
      if (lg_stop_requested(stop)) {
        lg_errf(err, "lg_resize_bicubic_i32: interrupted while resizing %dx%d to %dx%d", sw, sh, dw, dh);
        goto done;
      }
      const double *k = ch_v.kd + (size_t)y * ch_v.ksize;
      int ymin = ch_v.bounds[2 * y] - vin_y0, yn = ch_v.bounds[2 * y + 1];
      for (int x = 0; x < vin_w; x++) {
        double ss = 0.0;
        for (int t = 0; t < yn; t++) ss += vin[(size_t)(ymin + t) * vin_w + x] * k[t];
        dst[(size_t)y * vin_w + x] = round_up(ss);
      }
    }
  }
  if (!need_h && !need_v) memcpy(dst, src, sizeof(int32_t) * (size_t)sw * sh);
  rc = 0;
done:
  free(tmp);
  coeffs_free(&ch_h);
  coeffs_free(&ch_v);
  return rc;
}

int lg_resize_nearest_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh,
                         lg_err *err) {
  if (check_args("lg_resize_nearest_u8", src, sw, sh, ch, dst, dw, dh, err)) return -1;
  int *xin = malloc(sizeof(int) * (size_t)dw);
  if (!xin) return lg_errf(err, "lg_resize_nearest_u8: out of memory");
  /* ImagingScaleAffine: source coordinates are accumulated in double from scale / 2, step scale,
  ** and truncated (COORD); out-of-range taps cannot occur for a full-image box. */
  double ax = (double)sw / dw, ay = (double)sh / dh, xo = ax * 0.5, yo = ay * 0.5;
  for (int x = 0; x < dw; x++, xo += ax) {
    int v = xo < 0.0 ? 0 : (int)xo;
    xin[x] = v >= sw ? sw - 1 : v;
  }
  for (int y = 0; y < dh; y++, yo += ay) {
    int yi = yo < 0.0 ? 0 : (int)yo;
    if (yi >= sh) yi = sh - 1;
    const uint8_t *row = src + (size_t)yi * sw * ch;
    uint8_t *o = dst + (size_t)y * dw * ch;
    for (int x = 0; x < dw; x++) memcpy(o + (size_t)x * ch, row + (size_t)xin[x] * ch, (size_t)ch);
  }
  free(xin);
  return 0;
}
