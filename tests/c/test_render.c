/*
** Final maps and PNG rendering (engine/maps/render.c): lg_map_final against lg_legrad_final and a
** hand-computed resize, the jet colormap at known values, and PNGs decoded back with stb_image.
*/
#include <stb/stb_image.h>

#include "check.h"
#include "legrad.h"
#include "mapblob.h"
#include "render.h"

static lg_map grid_map(float *grid, int gh, int gw, int patch) {
  lg_map m = {0};
  m.method = LG_METHOD_EXTERNAL;
  m.gh = gh;
  m.gw = gw;
  m.patch = patch;
  m.score = NAN;
  m.grid = grid;
  return m;
}

static void test_final(void) {
  lg_err err;
  int constant = -1;
  /* default size of a square grid: identical to lg_legrad_final */
  float g[9] = {0.1f, -2, 3, 0.5f, 7, 1e-4f, 2, 2, -1};
  lg_map m = grid_map(g, 3, 3, 4);
  float a[144], b[144];
  CHECK(lg_map_final(&m, 0, 0, a, &constant, &err) == 0, "final: %s", err.msg);
  CHECK(constant == 0, "constant %d", constant);
  CHECK(lg_legrad_final(g, 1, 3, 4, b, NULL) == 0, "lg_legrad_final");
  CHECK(memcmp(a, b, sizeof a) == 0, "lg_map_final differs from lg_legrad_final");
  float mn = a[0], mx = a[0];
  for (int i = 0; i < 144; i++) { mn = fminf(mn, a[i]); mx = fmaxf(mx, a[i]); }
  CHECK(mn == 0.0f && mx == 1.0f, "min %g max %g", mn, mx);
  /* 1x2 grid [0, 1], patch 2 -> 2x4: src x = (x+0.5)/2-0.5 = -0.25(->0), 0.25, 0.75, 1.25(->1) */
  float g2[2] = {0, 1}, o[8];
  m = grid_map(g2, 1, 2, 2);
  CHECK(lg_map_final(&m, 0, 0, o, &constant, &err) == 0, "final: %s", err.msg);
  const float want[4] = {0, 0.25f, 0.75f, 1};
  for (int y = 0; y < 2; y++)
    for (int x = 0; x < 4; x++) CHECK_NEAR(o[y * 4 + x], want[x], 1e-7);
  /* explicit size: F.interpolate(size=(1, 3)) of [0, 1]: x = (x+0.5)*2/3-0.5 = -1/6(->0), 1/2, 7/6(->1) */
  CHECK(lg_map_final(&m, 3, 1, o, &constant, &err) == 0, "final 3x1: %s", err.msg);
  CHECK_NEAR(o[0], 0, 1e-7);
  CHECK_NEAR(o[1], 0.5, 1e-7);
  CHECK_NEAR(o[2], 1, 1e-7);
  /* constant grid: zeros and the constant flag */
  float g3[4] = {5, 5, 5, 5};
  m = grid_map(g3, 2, 2, 3);
  float z[36];
  CHECK(lg_map_final(&m, 0, 0, z, &constant, &err) == 0 && constant == 1, "constant map");
  int zeros = 1;
  for (int i = 0; i < 36; i++) zeros &= z[i] == 0.0f;
  CHECK(zeros, "constant map is not all zeros");
  /* sizes out of range */
  CHECK(lg_map_final(&m, 0, 5, z, NULL, &err) == -1 &&
            strcmp(err.msg, "final map size 0x5 out of range (expected 1..16777216 pixels)") == 0,
        "size check: %s", err.msg);
}

static void test_jet(void) {
  /* matplotlib: cm.jet([0, .25, .5, .75, 1], bytes=True)[:, :3], derived by hand from _jet_data */
  static const struct { float v; uint8_t rgb[3]; } known[] = {
      {0.0f, {0, 0, 127}},      /* blue = 0.5 */
      {0.25f, {0, 128, 255}},   /* entry 64: green (64/255-.125)/.25 = 0.5039 */
      {0.5f, {125, 255, 121}},  /* entry 128: red 0.4902, blue 0.4775 */
      {0.75f, {255, 148, 0}},   /* entry 192: green 1-(192/255-.64)/.27 = 0.5817 */
      {1.0f, {127, 0, 0}},      /* red = 0.5 */
      {-3.0f, {0, 0, 127}},     /* clamped */
      {7.0f, {127, 0, 0}},
  };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    uint8_t c[3];
    lg_colormap_jet(known[i].v, c);
    CHECK(memcmp(c, known[i].rgb, 3) == 0, "jet(%g) = (%d,%d,%d), want (%d,%d,%d)", known[i].v, c[0],
          c[1], c[2], known[i].rgb[0], known[i].rgb[1], known[i].rgb[2]);
  }
  uint8_t c[3];
  lg_colormap_jet(NAN, c);
  CHECK(c[0] == 0 && c[1] == 0 && c[2] == 127, "jet(NaN)");
}

static void test_png(void) {
  lg_err err;
  /* 2x2 grid, patch 1: the final map is 0, 1/3, 2/3, 1 */
  float g[4] = {0, 1, 2, 3}, fin[4];
  lg_map m = grid_map(g, 2, 2, 1);
  CHECK(lg_map_final(&m, 0, 0, fin, NULL, &err) == 0, "final: %s", err.msg);
  unsigned char *png = NULL, *png2 = NULL;
  size_t n = 0, n2 = 0;
  CHECK(lg_render_png(fin, 2, 2, NULL, 0.5f, &png, &n, &err) == 0, "png: %s", err.msg);
  CHECK(n > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG signature");
  int w = 0, h = 0, ch = 0;
  unsigned char *px = stbi_load_from_memory(png, (int)n, &w, &h, &ch, 3);
  CHECK(px && w == 2 && h == 2 && ch == 3, "decoded %dx%d, %d channels", w, h, ch);
  if (px) {
    CHECK(px[0] == 0 && px[1] == 0 && px[2] == 127, "pixel 0 = jet(0)");
    CHECK(px[9] == 127 && px[10] == 0 && px[11] == 0, "pixel 3 = jet(1)");
    uint8_t c[3];
    lg_colormap_jet(fin[1], c);
    CHECK(memcmp(px + 3, c, 3) == 0, "pixel 1 = jet(1/3)");
    stbi_image_free(px);
  }
  CHECK(lg_render_png(fin, 2, 2, NULL, 0.5f, &png2, &n2, &err) == 0 && n2 == n &&
            memcmp(png, png2, n) == 0, "PNG bytes are not deterministic");
  free(png2);
  png2 = NULL;
  /* overlay on a grey image with alpha 0.5 */
  uint8_t grey[12];
  memset(grey, 100, sizeof grey);
  lg_image under = {.w = 2, .h = 2, .rgb = grey};
  CHECK(lg_render_png(fin, 2, 2, &under, 0.5f, &png2, &n2, &err) == 0, "overlay: %s", err.msg);
  px = stbi_load_from_memory(png2, (int)n2, &w, &h, &ch, 3);
  CHECK(px && w == 2 && h == 2, "overlay decoded");
  if (px) {
    CHECK(px[0] == 50 && px[1] == 50 && px[2] == 114, "overlay pixel 0 = (%d,%d,%d)", px[0], px[1],
          px[2]); /* 0.5*100 + 0.5*(0,0,127) = (50, 50, 113.5 -> 114) */
    CHECK(px[9] == 114 && px[10] == 50 && px[11] == 50, "overlay pixel 3");
    stbi_image_free(px);
  }
  free(png2);
  png2 = NULL;
  /* alpha 0: the image itself */
  CHECK(lg_render_png(fin, 2, 2, &under, 0.0f, &png2, &n2, &err) == 0, "alpha 0: %s", err.msg);
  px = stbi_load_from_memory(png2, (int)n2, &w, &h, &ch, 3);
  CHECK(px && memcmp(px, grey, 12) == 0, "alpha 0 is the image");
  stbi_image_free(px);
  free(png2);
  png2 = NULL;
  /* errors */
  CHECK(lg_render_png(fin, 2, 2, &under, 1.5f, &png2, &n2, &err) == -1 && png2 == NULL &&
            strcmp(err.msg, "alpha 1.5 out of range (expected 0..1)") == 0, "alpha: %s", err.msg);
  lg_image small = {.w = 1, .h = 2, .rgb = grey};
  CHECK(lg_render_png(fin, 2, 2, &small, 0.5f, &png2, &n2, &err) == -1 &&
            strcmp(err.msg, "overlay image is 1x2, the map is 2x2") == 0, "size: %s", err.msg);
  free(png);
}

static void test_image_to_frame(void) {
  lg_err err;
  /* 64x48 source, left half white: crop frame for a 32 input = resize 42x32, crop at (5, 0) */
  uint8_t *src = malloc(64 * 48 * 3);
  for (int y = 0; y < 48; y++)
    for (int x = 0; x < 64; x++) memset(src + (y * 64 + x) * 3, x < 32 ? 255 : 0, 3);
  lg_image img = {.w = 64, .h = 48, .rgb = src}, out;
  float g[4] = {0, 1, 2, 3};
  lg_map m = grid_map(g, 2, 2, 16);
  CHECK(lg_frame_compute(64, 48, 32, LG_RESIZE_CROP, &m.frame, &err) == 0, "frame: %s", err.msg);
  CHECK(m.frame.rw == 42 && m.frame.rh == 32 && m.frame.cx == 5 && m.frame.cy == 0,
        "frame %dx%d at (%d, %d)", m.frame.rw, m.frame.rh, m.frame.cx, m.frame.cy);
  CHECK(lg_image_to_map_frame(&img, &m, &out, &err) == 0, "to frame: %s", err.msg);
  CHECK(out.w == 32 && out.h == 32, "framed %dx%d", out.w, out.h);
  /* the edge sits at x = 21 in the resized image, 16 in the crop */
  CHECK(out.rgb[(10 * 32 + 2) * 3] == 255 && out.rgb[(10 * 32 + 29) * 3] == 0, "edge position");
  lg_image_free(&out);
  /* a different image size is refused */
  lg_image small = {.w = 10, .h = 7, .rgb = src};
  CHECK(lg_image_to_map_frame(&small, &m, &out, &err) == -1 && out.rgb == NULL &&
            strcmp(err.msg, "the image is 10x7 but the map was computed on a 64x48 image") == 0,
        "size mismatch: %s", err.msg);
  /* no frame recorded: squashed to the input size */
  memset(&m.frame, 0, sizeof m.frame);
  CHECK(lg_image_to_map_frame(&small, &m, &out, &err) == 0 && out.w == 32 && out.h == 32,
        "squash: %s", err.msg);
  lg_image_free(&out);
  free(src);
}

/* The final map in source coordinates: a squash frame is the plain resize to the source size; a crop
** frame is NAN outside the explained region; the PNG dims the outside and draws the border. */
static void test_final_source(void) {
  lg_err err;
  float g[4] = {0, 1, 2, 3};
  lg_map m = grid_map(g, 2, 2, 4);
  float plain[12 * 4], src[12 * 4];
  CHECK(lg_frame_compute(12, 4, 8, LG_RESIZE_SQUASH, &m.frame, &err) == 0, "%s", err.msg);
  CHECK(lg_map_final(&m, 12, 4, plain, NULL, &err) == 0, "%s", err.msg);
  CHECK(lg_map_final_source(&m, src, NULL, &err) == 0, "%s", err.msg);
  float d = 0;
  for (int i = 0; i < 48; i++) d = fmaxf(d, fabsf(plain[i] - src[i]));
  CHECK(d < 1e-6f, "squash: source map differs from the resize by %g", d);
  /* crop: 12x4 -> resized 24x8, crop 8 at x = 8: source columns [4, 8) are explained */
  CHECK(lg_frame_compute(12, 4, 8, LG_RESIZE_CROP, &m.frame, &err) == 0, "%s", err.msg);
  CHECK(m.frame.rw == 24 && m.frame.cx == 8, "frame %dx%d at %d", m.frame.rw, m.frame.rh, m.frame.cx);
  int constant = -1;
  CHECK(lg_map_final_source(&m, src, &constant, &err) == 0 && constant == 0, "%s", err.msg);
  int ok = 1;
  float mn = 1, mx = 0;
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 12; x++) {
      float v = src[y * 12 + x];
      ok &= (x >= 4 && x < 8) ? !isnan(v) : isnan(v);
      if (!isnan(v)) { mn = fminf(mn, v); mx = fmaxf(mx, v); }
    }
  CHECK(ok, "NAN exactly outside columns 4..7");
  CHECK(mn == 0.0f && mx == 1.0f, "inside min %g max %g", mn, mx);
  /* source pixel (4, 0): input x = 4.5*2 - 8 = 1, y = 0.5*2 = 1 -> grid u = 1*2/8 - 0.5 < 0 -> 0 */
  CHECK_NEAR(src[4], 0.0, 1e-7);
  unsigned char *png = NULL;
  size_t n = 0;
  uint8_t img[12 * 4 * 3];
  memset(img, 200, sizeof img);
  lg_image under = {.w = 12, .h = 4, .rgb = img};
  CHECK(lg_render_png(src, 12, 4, &under, 0.5f, &png, &n, &err) == 0, "%s", err.msg);
  int w, h, ch;
  unsigned char *px = png ? stbi_load_from_memory(png, (int)n, &w, &h, &ch, 3) : NULL;
  CHECK(px && w == 12 && h == 4, "decoded");
  if (px) {
    CHECK(px[0] == 100 && px[3 * 11] == 100, "outside dimmed to half: %d", px[0]);
    CHECK(px[3 * 4] == 255 && px[3 * 7] == 255, "border columns white");
    uint8_t c[3];
    lg_colormap_jet(src[5], c);
    for (int k = 0; k < 3; k++)
      CHECK(px[3 * 5 + k] == (uint8_t)lrintf(0.5f * 200 + 0.5f * c[k]), "inside blended, channel %d", k);
    stbi_image_free(px);
  }
  free(png);
  lg_map none = grid_map(g, 2, 2, 4);
  CHECK(lg_map_final_source(&none, src, NULL, &err) == -1 &&
            strcmp(err.msg, "the map records no frame, so it has no source image coordinates") == 0,
        "no frame: %s", err.msg);
}

int main(void) {
  test_final_source();
  test_image_to_frame();
  test_final();
  test_jet();
  test_png();
  return check_report("test_render");
}
