/*
** Explanation metrics against ground-truth object masks (contract: metrics.h; docs/metrics.md).
**
**   lg_mask mk;
**   lg_mask_decode(png, n, &mk, &err);               // 8/16-bit greyscale PNG of object ids
**   lg_mask_to_frame(&mk, &frame, mask_in_frame, &err); // nearest neighbour through the image's frame
**   lg_metric_iou(map, mask_in_frame, S, S, label, NAN, &iou, &err);
**   lg_metric_pointing(map, mask_in_frame, S, S, label, &hit, &err);
**   lg_metric_mass_in(map, mask_in_frame, S, S, label, &share, &err);
**   lg_mask_free(&mk);
**
** Definitions (all pure functions of their arguments):
**   object(p)  = mask[p] != 0           when label <  0
**              = mask[p] == label       when label >= 0
**   iou        = |{map > thr} ∩ object| / |{map > thr} ∪ object|, thr = mean(map) when threshold is
**                NAN (Chefer et al.: foreground is Res > Res.mean()), else the given threshold.  An
**                empty object gives NAN (undefined; SQLite turns a NaN result into NULL, so avg()
**                skips it).  This is the foreground IoU
**                of one (map, object) pair; averaging it over pairs gives the demo's mIoU.
**   pointing   = 1 when the map's maximum lies on the object, else 0.  Ties: the FIRST maximum in
**                row-major order (smallest y, then smallest x) is the one that counts, so a constant
**                map points at pixel (0, 0).
**   mass_in    = Σ_{p ∈ object} map[p] / Σ_p map[p] (the map must be non-negative); NAN when the map
**                sums to 0.
**   An object with no pixel in the mask (e.g. cut off by the crop) gives NAN for iou and mass_in and
**   hit = -1 for pointing: nothing of it was explained, so nothing is scored.
** Maps must be finite: a NaN or infinite value is an error, never silently compared.
**
** Mask geometry (lg_mask_to_frame).  The image went through frame fr: resized from src_w x src_h to
** rw x rh, then the size x size square at (cx, cy) was cropped (squash: rw = rh = size, cx = cy = 0).
** Output pixel (x, y) takes the mask pixel
**     sx = floor((x + cx + 0.5) * src_w / rw),   sy = floor((y + cy + 0.5) * src_h / rh)
** i.e. the source pixel whose area contains the centre of the output pixel (Pillow's NEAREST and
** torch's 'nearest-exact' use the same centre rule).  It is computed in exact integer arithmetic as
** ((2(x+cx)+1)·src_w) / (2·rw), clamped to src_w-1.
*/
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

/* Is the object at this pixel?  label < 0: any non-zero id. */
static int on_object(uint16_t v, int label) {
  return label < 0 ? v != 0 : v == (uint16_t)label;
}

/* Validates the common arguments of the three metrics; n receives w*h. */
static int check_args(const char *fn, const float *map, const uint16_t *mask, int w, int h, int label,
                      size_t *n, lg_err *err) {
  if (!map || !mask) return lg_errf(err, "%s: map and mask must not be NULL", fn);
  if (w <= 0 || h <= 0) return lg_errf(err, "%s: size must be positive, found %d x %d", fn, w, h);
  if ((size_t)w > SIZE_MAX / sizeof(float) / (size_t)h)
    return lg_errf(err, "%s: size %d x %d is too large", fn, w, h);
  if (label > 65535) return lg_errf(err, "%s: label %d out of range (expected 0..65535, or < 0 for any object)",
                                    fn, label);
  *n = (size_t)w * (size_t)h;
  for (size_t i = 0; i < *n; i++)
    if (!isfinite(map[i]))
      return lg_errf(err, "%s: map value at (x=%d, y=%d) is not finite", fn, (int)(i % (size_t)w),
                     (int)(i / (size_t)w));
  return 0;
}

/*
** Decodes a PNG mask (8- or 16-bit, one grey channel) into out->v [h, w] object ids.
** RGB, palette and grey+alpha PNGs are rejected: ids must be the grey values themselves.
*/
int lg_mask_decode(const void *png, size_t n, lg_mask *out, lg_err *err) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  int w = 0, h = 0, comp = 0, rc = -1;
  void *px = NULL;
  if (!out) return lg_errf(err, "lg_mask_decode: out must not be NULL");
  memset(out, 0, sizeof *out);
  if (!png || n < 8 || memcmp(png, sig, 8) != 0)
    return lg_errf(err, "mask: not a PNG (expected an 8- or 16-bit greyscale PNG of object ids)");
  if (n > (size_t)INT32_MAX) return lg_errf(err, "mask: PNG of %zu bytes is too large", n);
  if (lg_png_check(png, n, "mask", NULL, err)) return -1;
  unsigned char *copy = NULL;
  size_t n_copy = 0;
  if (lg_png_drop_empty_idat(png, n, &copy, &n_copy))
    return lg_errf(err, "mask: out of memory for a %zu-byte PNG", n);
  if (copy) {  /* the same PNG without empty IDAT chunks (which stb_image mishandles) */
    int rc_copy = lg_mask_decode(copy, n_copy, out, err);
    free(copy);
    return rc_copy;
  }
  if (!stbi_info_from_memory(png, (int)n, &w, &h, &comp))
    return lg_errf(err, "mask: cannot read PNG header: %s", stbi_failure_reason());
  if (comp != 1)
    return lg_errf(err,
                   "mask: PNG has %d channels (%s); expected a 1-channel greyscale PNG whose pixel values "
                   "are object ids (convert RGB class masks first, e.g. ImageNet-S id = R + 256*G)",
                   comp, comp == 3 ? "RGB or palette" : comp == 4 ? "RGBA" : "grey+alpha");
  if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > LG_IMAGE_MAX_PIXELS)
    return lg_errf(err, "mask: %d x %d pixels is outside 1..%u pixels", w, h, LG_IMAGE_MAX_PIXELS);
  int is16 = stbi_is_16_bit_from_memory(png, (int)n);
  int dw = 0, dh = 0, dc = 0;
  /* 8-bit files must go through the 8-bit loader: the 16-bit one rescales values (v * 257). */
  px = is16 ? (void *)stbi_load_16_from_memory(png, (int)n, &dw, &dh, &dc, 1)
            : (void *)stbi_load_from_memory(png, (int)n, &dw, &dh, &dc, 1);
  if (!px) {
    lg_errf(err, "mask: PNG decoding failed: %s", stbi_failure_reason());
    goto done;
  }
  if (dw != w || dh != h) {
    lg_errf(err, "mask: decoded size %d x %d differs from the header's %d x %d", dw, dh, w, h);
    goto done;
  }
  size_t np = (size_t)w * (size_t)h;
  out->v = malloc(np * sizeof *out->v);
  if (!out->v) {
    lg_errf(err, "mask: out of memory for %d x %d pixels", w, h);
    goto done;
  }
  if (is16) {
    memcpy(out->v, px, np * sizeof *out->v);
  } else {
    const unsigned char *p8 = px;
    for (size_t i = 0; i < np; i++) out->v[i] = p8[i];
  }
  out->w = w;
  out->h = h;
  rc = 0;
done:
  stbi_image_free(px);
  return rc;
}

void lg_mask_free(lg_mask *m) {
  if (!m) return;
  free(m->v);
  m->v = NULL;
  m->w = m->h = 0;
}

/* Source index for output coordinate o of a frame axis: floor((o + off + 0.5) * src / resized). */
static int nearest_src(int o, int off, int src, int resized) {
  int64_t s = ((2 * (int64_t)(o + off) + 1) * src) / (2 * (int64_t)resized);
  return s >= src ? src - 1 : (int)s;
}

/*
** Nearest-neighbour resample of mask m through frame fr into out [fr->size, fr->size] (see the
** header comment for the exact mapping).  The mask must have the frame's source size.
*/
int lg_mask_to_frame(const lg_mask *m, const lg_frame *fr, uint16_t *out, lg_err *err) {
  if (!m || !m->v || !fr || !out) return lg_errf(err, "lg_mask_to_frame: arguments must not be NULL");
  if (m->w != fr->src_w || m->h != fr->src_h)
    return lg_errf(err, "mask: size %d x %d differs from the image's %d x %d", m->w, m->h, fr->src_w,
                   fr->src_h);
  if (fr->size <= 0 || fr->rw <= 0 || fr->rh <= 0 || fr->cx < 0 || fr->cy < 0 ||
      fr->cx > fr->rw - fr->size || fr->cy > fr->rh - fr->size)
    return lg_errf(err, "lg_mask_to_frame: invalid frame (resized %d x %d, crop %d at %d,%d)", fr->rw, fr->rh,
                   fr->size, fr->cx, fr->cy);
  int S = fr->size;
  int *sx = malloc((size_t)S * sizeof *sx);
  if (!sx) return lg_errf(err, "lg_mask_to_frame: out of memory");
  for (int x = 0; x < S; x++) sx[x] = nearest_src(x, fr->cx, fr->src_w, fr->rw);
  for (int y = 0; y < S; y++) {
    const uint16_t *row = m->v + (size_t)nearest_src(y, fr->cy, fr->src_h, fr->rh) * (size_t)m->w;
    for (int x = 0; x < S; x++) out[(size_t)y * S + x] = row[sx[x]];
  }
  free(sx);
  return 0;
}

/* One axis of lg_frame_region: [*lo, *hi) of source indices whose centre maps into [off, off+size). */
static void region_axis(int src, int resized, int off, int size, int *lo, int *hi) {
  int64_t a = 2 * (int64_t)off * src, b = 2 * (int64_t)(off + size) * src;
  *lo = *hi = 0;
  int s = 0;
  while (s < src && (2 * (int64_t)s + 1) * resized < a) s++;
  *lo = s;
  while (s < src && (2 * (int64_t)s + 1) * resized < b) s++;
  *hi = s;
}

void lg_frame_region(const lg_frame *fr, int *x0, int *y0, int *x1, int *y1) {
  *x0 = *y0 = *x1 = *y1 = 0;
  if (!fr || fr->src_w <= 0 || fr->src_h <= 0 || fr->rw <= 0 || fr->rh <= 0) return;
  region_axis(fr->src_w, fr->rw, fr->cx, fr->size, x0, x1);
  region_axis(fr->src_h, fr->rh, fr->cy, fr->size, y0, y1);
}

int lg_mask_coverage(const lg_mask *m, const lg_frame *fr, int label, size_t *inside, size_t *total,
                     lg_err *err) {
  if (!m || !m->v || !inside || !total) return lg_errf(err, "lg_mask_coverage: arguments must not be NULL");
  int x0 = 0, y0 = 0, x1 = m->w, y1 = m->h;
  if (fr && fr->src_w != 0) {
    if (m->w != fr->src_w || m->h != fr->src_h)
      return lg_errf(err, "mask: size %d x %d differs from the image's %d x %d", m->w, m->h, fr->src_w,
                     fr->src_h);
    lg_frame_region(fr, &x0, &y0, &x1, &y1);
  }
  size_t in = 0, all = 0;
  for (int y = 0; y < m->h; y++)
    for (int x = 0; x < m->w; x++)
      if (on_object(m->v[(size_t)y * m->w + x], label)) {
        all++;
        in += (size_t)(x >= x0 && x < x1 && y >= y0 && y < y1);
      }
  *inside = in;
  *total = all;
  return 0;
}

int lg_mask_ids(const lg_mask *m, uint8_t seen[8192]) {
  int n = 0;
  memset(seen, 0, 8192);
  if (!m || !m->v) return 0;
  size_t np = (size_t)m->w * (size_t)m->h;
  for (size_t i = 0; i < np; i++) {
    uint16_t v = m->v[i];
    if (!(seen[v >> 3] & (1u << (v & 7)))) {
      seen[v >> 3] |= (uint8_t)(1u << (v & 7));
      n++;
    }
  }
  return n;
}

/* Number of object pixels in mask [n]. */
static size_t object_size(const uint16_t *mask, size_t n, int label) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += (size_t)on_object(mask[i], label);
  return k;
}

/* Foreground IoU of {map > threshold} against the object (threshold NAN = the map's mean). */
int lg_metric_iou(const float *map, const uint16_t *mask, int w, int h, int label, double threshold,
                  double *iou, lg_err *err) {
  size_t n;
  if (!iou) return lg_errf(err, "lg_metric_iou: iou must not be NULL");
  if (check_args("lg_metric_iou", map, mask, w, h, label, &n, err)) return -1;
  if (!object_size(mask, n, label)) {
    *iou = NAN;
    return 0;
  }
  double thr = threshold;
  if (isnan(thr)) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += map[i];
    thr = sum / (double)n;
  }
  size_t inter = 0, uni = 0;
  for (size_t i = 0; i < n; i++) {
    int fg = (double)map[i] > thr, obj = on_object(mask[i], label);
    inter += (size_t)(fg && obj);
    uni += (size_t)(fg || obj);
  }
  *iou = (double)inter / (double)uni; /* uni >= the object's size > 0 */
  return 0;
}

/* 1 when the first maximum of the map (row-major order) lies on the object. */
int lg_metric_pointing(const float *map, const uint16_t *mask, int w, int h, int label, int *hit,
                       lg_err *err) {
  size_t n;
  if (!hit) return lg_errf(err, "lg_metric_pointing: hit must not be NULL");
  if (check_args("lg_metric_pointing", map, mask, w, h, label, &n, err)) return -1;
  if (!object_size(mask, n, label)) {
    *hit = -1;
    return 0;
  }
  size_t best = 0;
  for (size_t i = 1; i < n; i++)
    if (map[i] > map[best]) best = i;
  *hit = on_object(mask[best], label);
  return 0;
}

/* Share of the (non-negative) map's mass that lies on the object. */
int lg_metric_mass_in(const float *map, const uint16_t *mask, int w, int h, int label, double *share,
                      lg_err *err) {
  size_t n;
  if (!share) return lg_errf(err, "lg_metric_mass_in: share must not be NULL");
  if (check_args("lg_metric_mass_in", map, mask, w, h, label, &n, err)) return -1;
  int empty = !object_size(mask, n, label);
  double in = 0, all = 0;
  for (size_t i = 0; i < n; i++) {
    if (map[i] < 0)
      return lg_errf(err, "map: value %g at (x=%d, y=%d) is negative; mass_in needs a "
                     "non-negative map", (double)map[i], (int)(i % (size_t)w), (int)(i / (size_t)w));
    all += map[i];
    if (on_object(mask[i], label)) in += map[i];
  }
  *share = empty || !(all > 0) ? NAN : in / all;
  return 0;
}
