/*
** Final maps, the jet colormap and PNG rendering (render.h).
**
** The final map is resample.h's bilinear resampling and min-max (the official F.interpolate and
** min_max semantics, the same for every method); PNG encoding is stb_image_write's (libstb).  Bringing an image into a
** map's frame is in map_frame.c.
*/
#include "render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "metrics.h"
#include "resample.h"

int lg_map_final(const lg_map *m, int w, int h, float *out, int *constant, lg_err *err) {
  int W, H;
  lg_map_input_size(m, &W, &H);
  if (w == 0 && h == 0) { w = W; h = H; }
  if (w < 1 || h < 1 || (int64_t)w * h > LG_MAP_MAX_FINAL_PIXELS)
    return lg_errf(err, "final map size %dx%d out of range (expected 1..%d pixels)", w, h,
                   LG_MAP_MAX_FINAL_PIXELS);
  /* The model input size of a square grid: exactly the official upsample-by-patch; any other
  ** size: F.interpolate(size=(h, w)) of the grid.  Then min-max. */
  if (w == W && h == H && m->gh == m->gw) lg_upsample_bilinear(m->grid, m->gh, m->gw, m->patch, out);
  else lg_resize_bilinear(m->grid, m->gh, m->gw, out, h, w);
  lg_minmax(out, (size_t)w * h, 0, constant);
  return 0;
}

/* Bilinear sample positions (align_corners=False) of one axis: for source index s in [lo, hi), the
** grid coordinate u = ((s + 0.5)·resized/src − off)·g/size − 0.5 clamped to [0, g − 1], split into
** i0[s], i1[s] and the weight l[s] of i1. */
static void axis_weights(int lo, int hi, int src, int resized, int off, int size, int g, int *i0, int *i1,
                         float *l) {
  for (int s = lo; s < hi; s++) {
    double u = (((double)s + 0.5) * resized / src - off) * g / size - 0.5;
    if (u < 0) u = 0;
    if (u > g - 1) u = g - 1;
    int a = (int)u;
    i0[s] = a;
    i1[s] = a + 1 < g ? a + 1 : a;
    l[s] = (float)(u - a);
  }
}

int lg_map_final_source(const lg_map *m, float *out, int *constant, lg_err *err) {
  const lg_frame *f = &m->frame;
  int rc = -1;
  if (f->src_w <= 0 || f->src_h <= 0)
    return lg_errf(err, "the map records no frame, so it has no source image coordinates");
  if ((int64_t)f->src_w * f->src_h > LG_MAP_MAX_FINAL_PIXELS)
    return lg_errf(err, "source size %dx%d out of range (expected 1..%d pixels)", f->src_w, f->src_h,
                   LG_MAP_MAX_FINAL_PIXELS);
  int x0, y0, x1, y1;
  lg_frame_region(f, &x0, &y0, &x1, &y1);
  int *ix0 = malloc(sizeof(int) * (size_t)f->src_w), *ix1 = malloc(sizeof(int) * (size_t)f->src_w);
  int *iy0 = malloc(sizeof(int) * (size_t)f->src_h), *iy1 = malloc(sizeof(int) * (size_t)f->src_h);
  float *lx = malloc(sizeof(float) * (size_t)f->src_w), *ly = malloc(sizeof(float) * (size_t)f->src_h);
  if (!ix0 || !ix1 || !iy0 || !iy1 || !lx || !ly) {
    lg_errf(err, "out of memory for a %dx%d map", f->src_w, f->src_h);
    goto done;
  }
  axis_weights(x0, x1, f->src_w, f->rw, f->cx, f->size, m->gw, ix0, ix1, lx);
  axis_weights(y0, y1, f->src_h, f->rh, f->cy, f->size, m->gh, iy0, iy1, ly);
  for (int y = 0; y < f->src_h; y++) {
    float *row = out + (size_t)y * f->src_w;
    for (int x = 0; x < f->src_w; x++) {
      if (y < y0 || y >= y1 || x < x0 || x >= x1) { row[x] = NAN; continue; }
      const float *g0 = m->grid + (size_t)iy0[y] * m->gw, *g1 = m->grid + (size_t)iy1[y] * m->gw;
      float top = g0[ix0[x]] + lx[x] * (g0[ix1[x]] - g0[ix0[x]]);
      float bot = g1[ix0[x]] + lx[x] * (g1[ix1[x]] - g1[ix0[x]]);
      float v = top + ly[y] * (bot - top);
      row[x] = v;
    }
  }
  /* Pixels outside the crop stay NaN (not part of the map). */
  lg_minmax(out, (size_t)f->src_w * f->src_h, 1, constant);
  rc = 0;
done:
  free(ix0); free(ix1); free(iy0); free(iy1); free(lx); free(ly);
  return rc;
}

/* jet's segment data (matplotlib _cm._jet_data): per channel, (x, y) break points. */
typedef struct { double x, y; } seg_pt;
static const seg_pt JET_R[] = {{0, 0}, {0.35, 0}, {0.66, 1}, {0.89, 1}, {1, 0.5}};
static const seg_pt JET_G[] = {{0, 0}, {0.125, 0}, {0.375, 1}, {0.64, 1}, {0.91, 0}, {1, 0}};
static const seg_pt JET_B[] = {{0, 0.5}, {0.11, 1}, {0.34, 1}, {0.65, 0}, {1, 0}};

/* Channel value at x in [0, 1] as matplotlib's _create_lookup_table computes it:
** distance = (x - x0) / (x1 - x0); y = distance * (y1 - y0) + y0, clipped to [0, 1]. */
static double seg_eval(const seg_pt *p, int n, double x) {
  if (x <= 0) return p[0].y;
  if (x >= 1) return p[n - 1].y;
  for (int i = 1; i < n; i++)
    if (x <= p[i].x) {
      double d = (x - p[i - 1].x) / (p[i].x - p[i - 1].x);
      double y = d * (p[i].y - p[i - 1].y) + p[i - 1].y;
      return y < 0 ? 0 : y > 1 ? 1 : y;
    }
  return p[n - 1].y;
}

void lg_colormap_jet(float v, uint8_t rgb[3]) {
  if (!(v > 0.0f)) v = 0.0f; /* NaN and negatives */
  int i = (int)((double)v * 256.0);
  if (i > 255) i = 255;
  double x = i == 255 ? 1.0 : i * (1.0 / 255.0); /* np.linspace(0, 1, 256)[i] */
  double c[3] = {seg_eval(JET_R, 5, x), seg_eval(JET_G, 6, x), seg_eval(JET_B, 5, x)};
  for (int k = 0; k < 3; k++) rgb[k] = (uint8_t)(c[k] * 255.0); /* (lut * 255).astype(uint8) */
}

/* Growable output buffer for stbi_write_png_to_func. */
typedef struct png_buf {
  unsigned char *p;
  size_t n, cap;
  int oom;
} png_buf;

static void png_append(void *ctx, void *data, int size) {
  png_buf *b = ctx;
  if (b->oom || size <= 0) return;
  if (b->n + (size_t)size > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + (size_t)size) cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, data, (size_t)size);
  b->n += (size_t)size;
}

int lg_render_png(const float *map, int w, int h, const lg_image *under, float alpha,
                  unsigned char **png, size_t *n_png, lg_err *err) {
  int rc = -1;
  png_buf buf = {0};
  *png = NULL;
  *n_png = 0;
  if (w < 1 || h < 1 || (int64_t)w * h > LG_MAP_MAX_FINAL_PIXELS)
    return lg_errf(err, "PNG size %dx%d out of range (expected 1..%d pixels)", w, h,
                   LG_MAP_MAX_FINAL_PIXELS);
  if (!(alpha >= 0.0f && alpha <= 1.0f))
    return lg_errf(err, "alpha %g out of range (expected 0..1)", (double)alpha);
  if (under && (under->w != w || under->h != h))
    return lg_errf(err, "overlay image is %dx%d, the map is %dx%d", under->w, under->h, w, h);
  uint8_t *rgb = malloc((size_t)w * h * 3);
  if (!rgb) return lg_errf(err, "out of memory for a %dx%d PNG", w, h);
  for (size_t i = 0; i < (size_t)w * h; i++) {
    uint8_t *px = rgb + 3 * i;
    if (isnan(map[i])) { /* outside the explained region: the image dimmed */
      for (int k = 0; k < 3; k++) px[k] = under ? (uint8_t)(under->rgb[3 * i + k] / 2) : 128;
      continue;
    }
    int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
    if ((x > 0 && isnan(map[i - 1])) || (x + 1 < w && isnan(map[i + 1])) ||
        (y > 0 && isnan(map[i - (size_t)w])) || (y + 1 < h && isnan(map[i + (size_t)w]))) {
      px[0] = px[1] = px[2] = 255; /* the region's border */
      continue;
    }
    lg_colormap_jet(map[i], px);
    if (under)
      for (int k = 0; k < 3; k++)
        px[k] = (uint8_t)lrintf((1.0f - alpha) * under->rgb[3 * i + k] + alpha * px[k]);
  }
  if (!stbi_write_png_to_func(png_append, &buf, w, h, 3, rgb, w * 3) || buf.oom) {
    lg_errf(err, "PNG encoding of a %dx%d image failed%s", w, h, buf.oom ? " (out of memory)" : "");
    goto done;
  }
  *png = buf.p;
  *n_png = buf.n;
  buf.p = NULL;
  rc = 0;
done:
  free(buf.p);
  free(rgb);
  return rc;
}
