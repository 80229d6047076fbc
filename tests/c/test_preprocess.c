/*
** Preprocessing against torchvision + Pillow (fixtures from tests/reference/ref_inputs.py images).
**
** For every case in tests/fixtures/image/cases.txt the input is decoded and preprocessed and the
** uint8 [S, S, 3] result before normalisation must equal Pillow's byte for byte (PNG inputs), or
** stay within the JPEG bound below (JPEG inputs, see
** docs/preprocessing.md).  The frame (resize size, crop offsets) must equal torchvision's, and the
** fp32 normalisation must equal ToTensor + Normalize exactly.  The shared photos are checked when
** ../shared is present.
*/
#include "check.h"
#include "image.h"

#define FIX "tests/fixtures/image/"

/* Bounds for JPEG inputs, in 0-255 units after preprocessing: both sides use libjpeg-turbo (islow
** DCT), measured identical; one level is tolerated for another libjpeg-turbo build. */
#define JPEG_MAX_ABS_DIFF 1
#define JPEG_MAX_MEAN_DIFF 0.01

typedef struct {
  int max_abs;
  double mean_abs;
  double share_diff;
} diff_stats;

static diff_stats compare_u8(const uint8_t *a, const uint8_t *b, size_t n) {
  diff_stats d = {0, 0, 0};
  size_t ndiff = 0;
  for (size_t i = 0; i < n; i++) {
    int v = abs((int)a[i] - (int)b[i]);
    if (v > d.max_abs) d.max_abs = v;
    d.mean_abs += v;
    ndiff += v != 0;
  }
  d.mean_abs /= (double)n;
  d.share_diff = (double)ndiff / (double)n;
  return d;
}

/* Runs one case; expected points at S*S*3 bytes.  is_jpeg selects the bounded comparison. */
static void run_case(const char *name, const char *path, const char *mode_s, int size, int rw, int rh,
                     int cx, int cy, const uint8_t *expected, int is_jpeg) {
  size_t n = 0;
  unsigned char *blob = check_read_file(path, &n);
  CHECK(blob != NULL, "%s: cannot read %s", name, path);
  if (!blob) return;
  lg_err err = {{0}};
  lg_image img;
  int rc = lg_image_decode(blob, n, &img, &err);
  CHECK(rc == 0, "%s: decode failed: %s", name, err.msg);
  free(blob);
  if (rc) return;
  lg_resize mode = strcmp(mode_s, "crop") == 0 ? LG_RESIZE_CROP : LG_RESIZE_SQUASH;
  uint8_t *out = malloc((size_t)size * size * 3);
  lg_frame fr;
  rc = lg_preprocess_u8(&img, size, mode, out, &fr, &err);
  CHECK(rc == 0, "%s: preprocess failed: %s", name, err.msg);
  if (rc == 0) {
    CHECK(fr.rw == rw && fr.rh == rh && fr.cx == cx && fr.cy == cy,
          "%s %s %d: frame %dx%d+%d+%d, torchvision %dx%d+%d+%d", name, mode_s, size, fr.rw, fr.rh,
          fr.cx, fr.cy, rw, rh, cx, cy);
    diff_stats d = compare_u8(out, expected, (size_t)size * size * 3);
    if (is_jpeg) {
      printf("  %-28s %-6s %3d: max |diff| %d, mean %.4f, %.2f%% of values differ\n", name, mode_s,
             size, d.max_abs, d.mean_abs, 100 * d.share_diff);
      CHECK(d.max_abs <= JPEG_MAX_ABS_DIFF && d.mean_abs <= JPEG_MAX_MEAN_DIFF,
            "%s %s %d: JPEG difference to Pillow max %d mean %.4f", name, mode_s, size, d.max_abs,
            d.mean_abs);
    } else {
      CHECK(d.max_abs == 0, "%s %s %d: max |diff| to Pillow %d (%.2f%% of values differ)", name,
            mode_s, size, d.max_abs, 100 * d.share_diff);
    }
  }
  free(out);
  lg_image_free(&img);
}

/* Runs every case listed in a cases file (format: see ref_inputs.py). */
static int run_cases_file(const char *list, const char *dir, const char *bin_fmt, const uint8_t *bin_all,
                          size_t bin_all_n) {
  FILE *f = fopen(list, "r");
  if (!f) return -1;
  char line[1024], name[256], file[512], mode[16];
  int count = 0;
  while (fgets(line, sizeof line, f)) {
    int size, rw, rh, cx, cy;
    size_t off;
    if (line[0] == '#' || line[0] == '\n') continue;
    if (sscanf(line, "%255s %511s %15s %d %d %d %d %d %zu", name, file, mode, &size, &rw, &rh, &cx,
               &cy, &off) != 9) {
      CHECK(0, "%s: bad line '%s'", list, line);
      continue;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    const uint8_t *bin = bin_all;
    size_t bin_n = bin_all_n;
    unsigned char *own = NULL;
    if (bin_fmt) { /* per-stem expected file */
      char bp[1024];
      snprintf(bp, sizeof bp, bin_fmt, name);
      own = check_read_file(bp, &bin_n);
      bin = own;
    }
    size_t need = (size_t)size * size * 3;
    CHECK(bin && off + need <= bin_n, "%s: expected data missing for %s", list, name);
    int is_jpeg = strstr(file, ".jpg") || strstr(file, ".jpeg");
    if (bin && off + need <= bin_n) run_case(name, path, mode, size, rw, rh, cx, cy, bin + off, is_jpeg);
    free(own);
    count++;
  }
  fclose(f);
  return count;
}

/* ToTensor + Normalize must match torch in fp32 exactly. */
static void test_normalisation(void) {
  size_t n = 0, ne = 0;
  unsigned char *blob = check_read_file(FIX "in/rgb_97x61.png", &n);
  float *expected = (float *)check_read_file(FIX "normalised_rgb_97x61_crop48.f32", &ne);
  CHECK(blob && expected && ne == 3 * 48 * 48 * sizeof(float), "normalisation fixture missing");
  if (blob && expected && ne == 3 * 48 * 48 * sizeof(float)) {
    lg_err err = {{0}};
    lg_image img;
    lg_preprocess_cfg pre = {224, LG_RESIZE_CROP, {0.48145466f, 0.4578275f, 0.40821073f},
                             {0.26862954f, 0.26130258f, 0.27577711f}};
    float out[3 * 48 * 48];
    CHECK(lg_image_decode(blob, n, &img, &err) == 0, "%s", err.msg);
    CHECK(lg_preprocess(&img, &pre, 48, LG_RESIZE_CROP, out, NULL, &err) == 0, "%s", err.msg);
    int mismatches = 0;
    for (int i = 0; i < 3 * 48 * 48; i++) mismatches += out[i] != expected[i];
    CHECK(mismatches == 0, "normalised tensor: %d of %d values differ from torch", mismatches, 3 * 48 * 48);
    /* size 0 means pre->size; bad std is refused */
    lg_preprocess_cfg bad = pre;
    bad.std[1] = 0;
    CHECK(lg_preprocess(&img, &bad, 48, LG_RESIZE_CROP, out, NULL, &err) == -1 &&
              strstr(err.msg, "std"), "zero std accepted: %s", err.msg);
    lg_image_free(&img);
  }
  free(blob);
  free(expected);
}

/* Geometry corner cases of lg_frame_compute. */
static void test_frame(void) {
  lg_frame fr;
  lg_err err = {{0}};
  CHECK(lg_frame_compute(640, 480, 224, LG_RESIZE_CROP, &fr, &err) == 0, "%s", err.msg);
  CHECK(fr.rw == 298 && fr.rh == 224 && fr.cx == 37 && fr.cy == 0, "640x480: %dx%d+%d+%d", fr.rw,
        fr.rh, fr.cx, fr.cy);
  CHECK(lg_frame_compute(480, 640, 448, LG_RESIZE_SQUASH, &fr, &err) == 0 && fr.rw == 448 &&
            fr.rh == 448 && fr.cx == 0 && fr.cy == 0, "squash frame");
  CHECK(lg_frame_compute(0, 10, 224, LG_RESIZE_CROP, &fr, &err) == -1 && strstr(err.msg, "positive"),
        "zero width accepted: %s", err.msg);
  CHECK(lg_frame_compute(10, 10, 0, LG_RESIZE_CROP, &fr, &err) == -1 && strstr(err.msg, "target size"),
        "zero size accepted: %s", err.msg);
  CHECK(lg_frame_compute(10, 10, 16, (lg_resize)7, &fr, &err) == -1 && strstr(err.msg, "mode"),
        "bad mode accepted: %s", err.msg);
}

int main(void) {
  size_t n = 0;
  unsigned char *bin = check_read_file(FIX "expected.bin", &n);
  CHECK(bin != NULL, "missing " FIX "expected.bin (run tests/reference/ref_inputs.py images)");
  if (bin) {
    int cases = run_cases_file(FIX "cases.txt", FIX, NULL, bin, n);
    CHECK(cases >= 40, "expected >= 40 fixture cases, found %d", cases);
    free(bin);
  }
  /* WebP (tests/reference/webp_fixtures.py): Pillow-exact, RGBA ones resized premultiplied */
  int webp_cases = run_cases_file(FIX "webp/cases.txt", FIX, FIX "webp/%s.bin", NULL, 0);
  CHECK(webp_cases >= 10, "expected >= 10 WebP cases, found %d", webp_cases);
  test_normalisation();
  test_frame();
  const char *shared = check_shared_dir();
  if (!shared) {
    SKIP("../shared absent: shared JPEG photos not checked");
  } else {
    char fmt[1024];
    snprintf(fmt, sizeof fmt, FIX "shared_%%s.bin");
    int cases = run_cases_file(FIX "shared_jpeg.txt", shared, fmt, NULL, 0);
    CHECK(cases > 0, "no shared JPEG cases run");
    cases = run_cases_file(FIX "shared_webp.txt", shared, fmt, NULL, 0);
    CHECK(cases > 0, "no shared WebP cases run");
  }
  return check_report("test_preprocess");
}
