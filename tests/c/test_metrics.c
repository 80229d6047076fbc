/*
** Tests for engine/eval/metrics.c: mask decoding (8/16-bit grey, RGB rejected), mask-to-frame nearest
** mapping for squash and crop frames, and IoU / pointing / mass-in against hand-computed cases.
** Fixtures: the PNGs in tests/fixtures/metrics/ (written by tests/reference/metrics_fixtures.py).
** Run from the repository root.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

#define FIX "tests/fixtures/metrics/"

static void test_decode(void) {
  lg_err err = {{0}};
  lg_mask m;
  size_t n = 0;
  unsigned char *png = check_read_file(FIX "grey8.png", &n);
  if (!png) {
    SKIP("%s not found (run from the repository root)", FIX "grey8.png");
    return;
  }
  CHECK(lg_mask_decode(png, n, &m, &err) == 0, "grey8: %s", err.msg);
  CHECK(m.w == 5 && m.h == 4, "grey8 size %d x %d", m.w, m.h);
  int ok = 1;
  for (int y = 0; y < 4 && m.v; y++)
    for (int x = 0; x < 5; x++) ok &= m.v[y * 5 + x] == 10 * y + x;
  CHECK(ok, "grey8 values are 10*y + x");
  lg_mask_free(&m);
  CHECK(m.v == NULL && m.w == 0, "lg_mask_free resets the mask");
  free(png);

  png = check_read_file(FIX "grey16.png", &n);
  CHECK(png != NULL, "grey16.png readable");
  if (png) {
    static const uint16_t want[6] = {0, 300, 65535, 1, 256, 7};
    CHECK(lg_mask_decode(png, n, &m, &err) == 0, "grey16: %s", err.msg);
    CHECK(m.w == 3 && m.h == 2, "grey16 size %d x %d", m.w, m.h);
    CHECK(m.v && memcmp(m.v, want, sizeof want) == 0, "grey16 values kept exactly (no 8-bit scaling)");
    lg_mask_free(&m);
    free(png);
  }

  png = check_read_file(FIX "rgb.png", &n);
  CHECK(png != NULL, "rgb.png readable");
  if (png) {
    CHECK(lg_mask_decode(png, n, &m, &err) == -1, "RGB mask rejected");
    CHECK(strstr(err.msg, "3 channels") && strstr(err.msg, "greyscale"), "message: %s", err.msg);
    CHECK(m.v == NULL, "nothing allocated on error");
    free(png);
  }

  static const unsigned char jpeg_start[8] = {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F'};
  CHECK(lg_mask_decode(jpeg_start, sizeof jpeg_start, &m, &err) == -1 && strstr(err.msg, "not a PNG"),
        "non-PNG rejected: %s", err.msg);
  static const unsigned char truncated[12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
  CHECK(lg_mask_decode(truncated, sizeof truncated, &m, &err) == -1, "truncated PNG rejected");
  CHECK(lg_mask_decode(NULL, 0, &m, &err) == -1, "NULL blob rejected");
}

/* Mask with value(x, y) = 100*y + x. */
static lg_mask grid_mask(int w, int h) {
  lg_mask m = {w, h, malloc((size_t)w * h * sizeof(uint16_t))};
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) m.v[y * w + x] = (uint16_t)(100 * y + x);
  return m;
}

static void test_frame(void) {
  lg_err err = {{0}};
  uint16_t out[64];

  /* Squash 4 x 2 -> 8 x 8: sx = floor((x+0.5)*4/8) = x/2, sy = floor((y+0.5)*2/8) = y/4. */
  lg_mask m = grid_mask(4, 2);
  lg_frame sq = {4, 2, 8, 8, 0, 0, 8, LG_RESIZE_SQUASH};
  CHECK(lg_mask_to_frame(&m, &sq, out, &err) == 0, "squash: %s", err.msg);
  int ok = 1;
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++) ok &= out[y * 8 + x] == 100 * (y / 4) + x / 2;
  CHECK(ok, "squash upscale maps (x, y) to (x/2, y/4)");
  lg_mask_free(&m);

  /* Squash 5 -> 3 (non-integer ratio): sx = floor((x+0.5)*5/3) = 0, 2, 4. */
  m = grid_mask(5, 5);
  lg_frame sq3 = {5, 5, 3, 3, 0, 0, 3, LG_RESIZE_SQUASH};
  CHECK(lg_mask_to_frame(&m, &sq3, out, &err) == 0, "squash 5->3: %s", err.msg);
  static const uint16_t want3[9] = {0, 2, 4, 200, 202, 204, 400, 402, 404};
  CHECK(memcmp(out, want3, sizeof want3) == 0, "squash 5->3 picks 0, 2, 4 on both axes");
  lg_mask_free(&m);

  /* Upscale 2 -> 5: floor((x+0.5)*2/5) = 0, 0, 1, 1, 1. */
  m = grid_mask(2, 2);
  lg_frame up = {2, 2, 5, 5, 0, 0, 5, LG_RESIZE_SQUASH};
  CHECK(lg_mask_to_frame(&m, &up, out, &err) == 0, "squash 2->5: %s", err.msg);
  static const int col5[5] = {0, 0, 1, 1, 1};
  ok = 1;
  for (int y = 0; y < 5; y++)
    for (int x = 0; x < 5; x++) ok &= out[y * 5 + x] == 100 * col5[y] + col5[x];
  CHECK(ok, "squash 2->5 picks 0,0,1,1,1");
  lg_mask_free(&m);

  /* Crop: 6 x 4 resized to 3 x 2 (short side 4 -> 2), square of 2 at cx = 1:
  ** sx = floor((x+1+0.5)*6/3) = 2x+3, sy = floor((y+0.5)*4/2) = 2y+1. */
  m = grid_mask(6, 4);
  lg_frame cr = {6, 4, 3, 2, 1, 0, 2, LG_RESIZE_CROP};
  CHECK(lg_mask_to_frame(&m, &cr, out, &err) == 0, "crop: %s", err.msg);
  static const uint16_t wantc[4] = {103, 105, 303, 305};
  CHECK(memcmp(out, wantc, sizeof wantc) == 0, "crop: got %u %u %u %u", out[0], out[1], out[2], out[3]);
  /* Same source, crop at cx = 0: sx = 2x+1. */
  cr.cx = 0;
  CHECK(lg_mask_to_frame(&m, &cr, out, &err) == 0, "crop cx=0: %s", err.msg);
  static const uint16_t wantc0[4] = {101, 103, 301, 303};
  CHECK(memcmp(out, wantc0, sizeof wantc0) == 0, "crop cx=0: got %u %u %u %u", out[0], out[1], out[2], out[3]);
  /* Portrait: 4 x 6 resized to 4 x 6 (no scale), square 4 at cy = 1: rows 1..4 copied exactly. */
  lg_mask_free(&m);
  m = grid_mask(4, 6);
  lg_frame pt = {4, 6, 4, 6, 0, 1, 4, LG_RESIZE_CROP};
  CHECK(lg_mask_to_frame(&m, &pt, out, &err) == 0, "portrait crop: %s", err.msg);
  ok = 1;
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 4; x++) ok &= out[y * 4 + x] == 100 * (y + 1) + x;
  CHECK(ok, "identity-scale crop copies rows cy.. exactly");

  /* Errors: size mismatch, crop window outside the resized image. */
  lg_frame bad = {5, 6, 4, 6, 0, 1, 4, LG_RESIZE_CROP};
  CHECK(lg_mask_to_frame(&m, &bad, out, &err) == -1 && strstr(err.msg, "differs"), "size mismatch: %s",
        err.msg);
  lg_frame outside = {4, 6, 4, 6, 0, 3, 4, LG_RESIZE_CROP};
  CHECK(lg_mask_to_frame(&m, &outside, out, &err) == -1 && strstr(err.msg, "invalid frame"),
        "window outside: %s", err.msg);
  lg_mask_free(&m);
}

/* Decodes fixture `name` into m; returns 0 when it is missing or broken (counted as a failure). */
static int load_mask(const char *name, lg_mask *m) {
  char path[256];
  size_t n = 0;
  lg_err err = {{0}};
  snprintf(path, sizeof path, FIX "%s", name);
  unsigned char *png = check_read_file(path, &n);
  CHECK(png != NULL, "%s readable", path);
  int ok = png && lg_mask_decode(png, n, m, &err) == 0;
  CHECK(!png || ok, "%s: %s", path, err.msg);
  free(png);
  return ok;
}

/* lg_frame_compute + lg_mask_to_frame against Pillow's NEAREST resize + centre crop / squash. */
static void test_pillow_alignment(void) {
  static const char *const names[2] = {"mask_40x30", "mask_30x40"};
  static const char *const modes[2] = {"crop16", "squash16"};
  for (int i = 0; i < 2; i++) {
    lg_mask src, want;
    char name[64];
    snprintf(name, sizeof name, "%s.png", names[i]);
    if (!load_mask(name, &src)) continue;
    for (int k = 0; k < 2; k++) {
      lg_err err = {{0}};
      lg_frame fr;
      uint16_t out[16 * 16];
      snprintf(name, sizeof name, "%s_%s.png", names[i], modes[k]);
      if (!load_mask(name, &want)) continue;
      CHECK(lg_frame_compute(src.w, src.h, 16, k ? LG_RESIZE_SQUASH : LG_RESIZE_CROP, &fr, &err) == 0, "%s",
            err.msg);
      CHECK(lg_mask_to_frame(&src, &fr, out, &err) == 0, "%s: %s", name, err.msg);
      CHECK(want.w == 16 && want.h == 16 && memcmp(out, want.v, sizeof out) == 0,
            "%s: mask in the frame (resized %d x %d, crop at %d,%d) differs from Pillow's", name, fr.rw, fr.rh,
            fr.cx, fr.cy);
      lg_mask_free(&want);
    }
    lg_mask_free(&src);
  }
}

/* The explained region of a 300 x 100 image centre-cropped to 64 (resized to 192 x 64, crop at x = 64):
** source columns whose centre maps into [64, 128): (2·sx + 1)·192 in [38400, 76800) -> sx in [100, 200). */
static void test_region_coverage(void) {
  lg_err err = {{0}};
  lg_frame fr;
  CHECK(lg_frame_compute(300, 100, 64, LG_RESIZE_CROP, &fr, &err) == 0, "%s", err.msg);
  CHECK(fr.rw == 192 && fr.rh == 64 && fr.cx == 64 && fr.cy == 0, "frame %d x %d at %d,%d", fr.rw, fr.rh,
        fr.cx, fr.cy);
  int x0, y0, x1, y1;
  lg_frame_region(&fr, &x0, &y0, &x1, &y1);
  CHECK(x0 == 100 && x1 == 200 && y0 == 0 && y1 == 100, "region [%d, %d) x [%d, %d)", x0, x1, y0, y1);
  lg_frame sq;
  CHECK(lg_frame_compute(300, 100, 64, LG_RESIZE_SQUASH, &sq, &err) == 0, "%s", err.msg);
  lg_frame_region(&sq, &x0, &y0, &x1, &y1);
  CHECK(x0 == 0 && x1 == 300 && y0 == 0 && y1 == 100, "squash region is the whole image");
  lg_frame none = {0};
  lg_frame_region(&none, &x0, &y0, &x1, &y1);
  CHECK(x0 == 0 && x1 == 0 && y0 == 0 && y1 == 0, "no frame, no region");

  /* ids: 1 at x < 50 (cut off), 2 at 90 <= x < 110 (half kept), 3 at x >= 290 (cut off), 0 elsewhere */
  lg_mask m = {300, 100, malloc(sizeof(uint16_t) * 300 * 100)};
  CHECK(m.v != NULL, "out of memory");
  if (!m.v) return;
  for (int y = 0; y < 100; y++)
    for (int x = 0; x < 300; x++)
      m.v[y * 300 + x] = x < 50 ? 1 : (x >= 90 && x < 110) ? 2 : x >= 290 ? 3 : 0;
  size_t in = 9, all = 9;
  CHECK(lg_mask_coverage(&m, &fr, 1, &in, &all, &err) == 0 && in == 0 && all == 5000, "id 1: %zu / %zu", in, all);
  CHECK(lg_mask_coverage(&m, &fr, 2, &in, &all, &err) == 0 && in == 1000 && all == 2000, "id 2: %zu / %zu", in,
        all);
  CHECK(lg_mask_coverage(&m, &fr, -1, &in, &all, &err) == 0 && in == 1000 && all == 8000, "any: %zu / %zu", in,
        all);
  CHECK(lg_mask_coverage(&m, &sq, 1, &in, &all, &err) == 0 && in == 5000 && all == 5000, "squash keeps all");
  CHECK(lg_mask_coverage(&m, NULL, 7, &in, &all, &err) == 0 && in == 0 && all == 0, "absent id: 0 / 0");
  lg_frame other = fr;
  other.src_w = 301;
  CHECK(lg_mask_coverage(&m, &other, 1, &in, &all, &err) == -1 && strstr(err.msg, "300 x 100"), "size: %s",
        err.msg);
  uint8_t seen[8192];
  CHECK(lg_mask_ids(&m, seen) == 4, "four distinct ids");
  CHECK(seen[0] == 0x0f && seen[1] == 0, "ids 0..3 marked: %02x", seen[0]);
  /* In the frame, id 1 has no pixel: every metric is undefined. */
  uint16_t framed[64 * 64];
  float map[64 * 64];
  for (int i = 0; i < 64 * 64; i++) map[i] = (float)(i % 64) / 63.0f;
  CHECK(lg_mask_to_frame(&m, &fr, framed, &err) == 0, "%s", err.msg);
  double v = 0;
  int hit = 0;
  CHECK(lg_metric_iou(map, framed, 64, 64, 1, NAN, &v, &err) == 0 && isnan(v), "iou of a cut-off object");
  CHECK(lg_metric_pointing(map, framed, 64, 64, 1, &hit, &err) == 0 && hit == -1, "pointing: %d", hit);
  CHECK(lg_metric_mass_in(map, framed, 64, 64, 1, &v, &err) == 0 && isnan(v), "mass_in of a cut-off object");
  CHECK(lg_metric_mass_in(map, framed, 64, 64, 2, &v, &err) == 0 && v > 0 && v < 1, "kept half scored: %g", v);
  lg_mask_free(&m);
}

static void test_iou(void) {
  lg_err err = {{0}};
  double v = -1;
  const float map[4] = {0.875f, 0.75f, 0.125f, 0.0f};  /* exact in binary; mean 0.4375 -> fg {0, 1} */
  const uint16_t any[4] = {1, 0, 1, 0};          /* object {0, 2} */
  CHECK(lg_metric_iou(map, any, 4, 1, -1, NAN, &v, &err) == 0, "%s", err.msg);
  CHECK_NEAR(v, 1.0 / 3.0, 1e-12);
  CHECK(lg_metric_iou(map, any, 4, 1, -1, 0.0625, &v, &err) == 0, "%s", err.msg);  /* fg {0,1,2} */
  CHECK_NEAR(v, 2.0 / 3.0, 1e-12);
  CHECK(lg_metric_iou(map, any, 2, 2, -1, 0.0625, &v, &err) == 0, "%s", err.msg);  /* same, as 2 x 2 */
  CHECK_NEAR(v, 2.0 / 3.0, 1e-12);
  const uint16_t two[4] = {1, 2, 1, 0};          /* label 2 -> object {1} */
  CHECK(lg_metric_iou(map, two, 4, 1, 2, NAN, &v, &err) == 0, "%s", err.msg);
  CHECK_NEAR(v, 0.5, 1e-12);
  /* Strictly greater: a value equal to the threshold is background. */
  CHECK(lg_metric_iou(map, two, 4, 1, 2, 0.75, &v, &err) == 0, "%s", err.msg);  /* fg {0} */
  CHECK_NEAR(v, 0.0, 1e-12);
  /* Object absent from the frame: undefined (NaN), whether or not something is above threshold. */
  CHECK(lg_metric_iou(map, two, 4, 1, 7, 0.95, &v, &err) == 0 && isnan(v), "empty object gives NaN");
  CHECK(lg_metric_iou(map, two, 4, 1, 7, NAN, &v, &err) == 0 && isnan(v), "empty object gives NaN");
  /* Errors. */
  CHECK(lg_metric_iou(map, two, 0, 1, -1, NAN, &v, &err) == -1 && strstr(err.msg, "size"), "w=0: %s", err.msg);
  CHECK(lg_metric_iou(map, two, 4, 1, 70000, NAN, &v, &err) == -1 && strstr(err.msg, "label 70000"),
        "label range: %s", err.msg);
  const float nan_map[4] = {0.1f, NAN, 0.2f, 0.3f};
  CHECK(lg_metric_iou(nan_map, two, 2, 2, -1, NAN, &v, &err) == -1 && strstr(err.msg, "(x=1, y=0)"),
        "NaN map: %s", err.msg);
  CHECK(lg_metric_iou(NULL, two, 4, 1, -1, NAN, &v, &err) == -1, "NULL map rejected");
}

static void test_pointing(void) {
  lg_err err = {{0}};
  int hit = -1;
  const float map[4] = {0.5f, 1.0f, 1.0f, 0.0f};  /* two maxima: index 1 counts (first, row-major) */
  const uint16_t at1[4] = {0, 1, 0, 0}, at2[4] = {0, 0, 1, 0};
  CHECK(lg_metric_pointing(map, at1, 4, 1, -1, &hit, &err) == 0 && hit == 1, "first max on object");
  CHECK(lg_metric_pointing(map, at2, 4, 1, -1, &hit, &err) == 0 && hit == 0, "second max does not count");
  /* Row-major on 2 x 2: maxima at (1,0) and (0,1): (1,0) is first. */
  const uint16_t lab[4] = {0, 3, 5, 0};
  CHECK(lg_metric_pointing(map, lab, 2, 2, 3, &hit, &err) == 0 && hit == 1, "label 3 hit");
  CHECK(lg_metric_pointing(map, lab, 2, 2, 5, &hit, &err) == 0 && hit == 0, "label 5 miss");
  const float flat[4] = {0.2f, 0.2f, 0.2f, 0.2f};
  const uint16_t corner[4] = {4, 0, 0, 0};
  CHECK(lg_metric_pointing(flat, corner, 2, 2, -1, &hit, &err) == 0 && hit == 1, "constant map points at (0,0)");
  CHECK(lg_metric_pointing(map, at1, 4, 1, -1, NULL, &err) == -1, "NULL out rejected");
  CHECK(lg_metric_pointing(map, lab, 2, 2, 9, &hit, &err) == 0 && hit == -1, "absent object: undefined");
}

static void test_mass_in(void) {
  lg_err err = {{0}};
  double v = -1;
  const float map[4] = {1, 2, 3, 4};
  const uint16_t m[4] = {1, 0, 0, 2};
  CHECK(lg_metric_mass_in(map, m, 4, 1, -1, &v, &err) == 0, "%s", err.msg);
  CHECK_NEAR(v, 0.5, 1e-12);
  CHECK(lg_metric_mass_in(map, m, 2, 2, 2, &v, &err) == 0, "%s", err.msg);
  CHECK_NEAR(v, 0.4, 1e-12);
  const float zero[4] = {0, 0, 0, 0};
  CHECK(lg_metric_mass_in(zero, m, 4, 1, -1, &v, &err) == 0 && isnan(v), "zero map gives NaN");
  CHECK(lg_metric_mass_in(map, m, 4, 1, 9, &v, &err) == 0 && isnan(v), "absent object gives NaN");
  const float neg[4] = {1, -0.5f, 0, 0};
  CHECK(lg_metric_mass_in(neg, m, 4, 1, -1, &v, &err) == -1 && strstr(err.msg, "negative"), "negative: %s",
        err.msg);
  const float inf[4] = {1, INFINITY, 0, 0};
  CHECK(lg_metric_mass_in(inf, m, 4, 1, -1, &v, &err) == -1 && strstr(err.msg, "not finite"), "inf: %s",
        err.msg);
}

int main(void) {
  test_decode();
  test_frame();
  test_pillow_alignment();
  test_region_coverage();
  test_iou();
  test_pointing();
  test_mass_in();
  return check_report("test_metrics");
}
