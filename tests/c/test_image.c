/*
** Image decoding against Pillow's Image.open(...).convert("RGB") and the error paths.
**
** Fixtures (tests/reference/ref_inputs.py images): tests/fixtures/image/decode/ holds BMP (24-bit
** and palette), GIF, greyscale and CMYK JPEG and 2-bit grey PNG inputs with Pillow's decoded
** pixels; the generated JPEGs in tests/fixtures/image/in/ with decoded_<name>.bin.  Every
** format must decode exactly.  Bad inputs
** (unsupported format, WebP, truncated files, zero size, over the pixel limit, empty) must fail
** with a message naming the problem.
*/
#include <dirent.h>
#include <stdint.h>

#include "check.h"
#include "image.h"

#define FIX "tests/fixtures/image/"


/* Decodes path and compares with the raw RGB file; returns the max abs difference or -1. */
static int decode_and_compare(const char *path, const char *rgb_path, int w, int h) {
  size_t n = 0, ne = 0;
  unsigned char *blob = check_read_file(path, &n), *want = check_read_file(rgb_path, &ne);
  int maxd = -1;
  CHECK(blob && want, "missing %s or %s", path, rgb_path);
  if (blob && want) {
    lg_err err = {{0}};
    lg_image img;
    int rc = lg_image_decode(blob, n, &img, &err);
    CHECK(rc == 0, "%s: %s", path, err.msg);
    if (rc == 0) {
      CHECK(img.w == w && img.h == h && ne == (size_t)w * h * 3, "%s: %dx%d, Pillow %dx%d", path, img.w,
            img.h, w, h);
      if (img.w == w && img.h == h && ne == (size_t)w * h * 3) {
        maxd = 0;
        for (size_t i = 0; i < ne; i++) {
          int d = abs((int)img.rgb[i] - (int)want[i]);
          if (d > maxd) maxd = d;
        }
      }
      lg_image_free(&img);
    }
  }
  free(blob);
  free(want);
  return maxd;
}

static void test_formats(void) {
  FILE *f = fopen(FIX "decode/list.txt", "r");
  CHECK(f != NULL, "missing " FIX "decode/list.txt");
  if (!f) return;
  char line[512], name[128], file[128], mode[16];
  int w, h, count = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || sscanf(line, "%127s %127s %d %d %15s", name, file, &w, &h, mode) != 5) continue;
    char path[512], rgb[512];
    snprintf(path, sizeof path, FIX "decode/%s", file);
    snprintf(rgb, sizeof rgb, FIX "decode/%s.rgb", name);
    int d = decode_and_compare(path, rgb, w, h);
    printf("  decode %-14s (Pillow mode %-4s): max |diff| %d\n", name, mode, d);
    CHECK(d == 0, "%s: max |diff| to Pillow %d", name, d);
    count++;
  }
  fclose(f);
  CHECK(count >= 6, "only %d decode fixtures", count);
  static const char *jpegs[] = {"jpeg_baseline_96x72", "jpeg_progressive_96x72"};
  for (int k = 0; k < 2; k++) {
    char path[512], rgb[512];
    snprintf(path, sizeof path, FIX "in/%s.jpg", jpegs[k]);
    snprintf(rgb, sizeof rgb, FIX "decoded_%s.bin", jpegs[k]);
    int d = decode_and_compare(path, rgb, 96, 72);
    CHECK(d == 0, "%s: libjpeg-turbo decode differs from Pillow by %d", jpegs[k], d);
  }
}

/* Expects decoding to fail with a message containing `want`. */
static void expect_error(const char *what, const void *data, size_t n, const char *want) {
  lg_err err = {{0}};
  lg_image img;
  int rc = lg_image_decode(data, n, &img, &err);
  CHECK(rc == -1 && strstr(err.msg, want), "%s: rc %d, message '%s' lacks '%s'", what, rc, err.msg, want);
  if (rc == 0) lg_image_free(&img);
  else CHECK(img.rgb == NULL && img.alpha == NULL, "%s: output not cleared", what);
}

/* Big-endian 32-bit store. */
static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* A PNG signature + IHDR chunk (no pixel data) claiming w x h. */
static size_t png_header(uint8_t *buf, uint32_t w, uint32_t h) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  memcpy(buf, sig, 8);
  be32(buf + 8, 13);
  memcpy(buf + 12, "IHDR", 4);
  be32(buf + 16, w);
  be32(buf + 20, h);
  buf[24] = 8; buf[25] = 2; buf[26] = buf[27] = buf[28] = 0;
  be32(buf + 29, 0); /* CRC (stb_image does not check it) */
  memcpy(buf + 33, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
  return 45;
}

/* Cuts a fixture file to `keep` of its bytes and expects a truncation/decoding error. */
static void expect_truncated(const char *path, double keep, const char *want) {
  size_t n = 0;
  unsigned char *blob = check_read_file(path, &n);
  CHECK(blob != NULL, "missing %s", path);
  if (!blob) return;
  char what[600];
  snprintf(what, sizeof what, "%s cut to %.0f%%", path, keep * 100);
  expect_error(what, blob, (size_t)(n * keep), want);
  free(blob);
}

static void test_errors(void) {
  uint8_t buf[64];
  lg_err err = {{0}};
  lg_image img;
  expect_error("empty", "", 0, "empty");
  expect_error("NULL", NULL, 10, "empty");
  CHECK(lg_image_decode("x", 1, NULL, &err) == -1 && strstr(err.msg, "out"), "NULL out: %s", err.msg);
  expect_error("text", "hello world", 11, "not a JPEG/PNG/BMP/GIF image (first bytes 68 65 6c 6c)");
  expect_error("RIFF/WebP header", "RIFF\x10\0\0\0WEBPVP8 ", 16, "first bytes 52 49 46 46");
  expect_error("one byte", "\xff", 1, "first bytes ff)");
  size_t n = png_header(buf, 0, 10);
  expect_error("zero width PNG", buf, n, "PNG");
  n = png_header(buf, 20000, 20000);
  expect_error("20000x20000 PNG", buf, n, "exceeds the limit of 67108864 pixels");
  n = png_header(buf, 10000, 10000);  /* within stb_image's own limit, over ours */
  expect_error("10000x10000 PNG", buf, n, "exceeds the limit of 67108864 pixels");
  static const uint8_t jpeg_bomb[] = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xea, 0x60, 0xea, 0x60, 0x03, 1,
                                      0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9};
  expect_error("60000x60000 JPEG", jpeg_bomb, sizeof jpeg_bomb, "60000 x 60000 pixels exceeds the limit");
  n = png_header(buf, 16, 16);
  expect_error("PNG without pixel data", buf, n, "PNG");
  expect_truncated(FIX "in/rgb_97x61.png", 0.5, "PNG");
  expect_truncated(FIX "in/jpeg_baseline_96x72.jpg", 0.6, "truncated");
  expect_truncated(FIX "in/jpeg_progressive_96x72.jpg", 0.6, "truncated");
  expect_truncated(FIX "decode/bmp24.bmp", 0.7, "truncated");
  expect_truncated(FIX "decode/gif.gif", 0.5, "GIF");
  expect_truncated(FIX "in/jpeg_baseline_96x72.jpg", 0.01, "JPEG");
  /* a JPEG SOI with nothing after it */
  expect_error("bare SOI", "\xff\xd8\xff", 3, "JPEG");
  /* lg_image_free tolerates NULL and double frees */
  memset(&img, 0, sizeof img);
  lg_image_free(&img);
  lg_image_free(NULL);

  const char *shared = check_shared_dir();
  if (!shared) {
    SKIP("../shared absent: la_baguette.webp not checked");
  } else {
    char path[1024];
    snprintf(path, sizeof path, "%s/data/images/la_baguette.webp", shared);
    unsigned char *blob = check_read_file(path, &n);
    CHECK(blob != NULL, "cannot read %s", path);
    if (blob) expect_error("la_baguette.webp", blob, n, "not a JPEG/PNG/BMP/GIF image (first bytes 52 49 46 46)");
    free(blob);
  }
}

/* RGBA sources keep alpha for the premultiplied resize; opaque ones drop it; palettes say so. */
static void test_source_modes(void) {
  static const struct { const char *file; int alpha, nearest; } cases[] = {
      {FIX "in/rgba_60x44.png", 1, 0},  {FIX "in/la_39x52.png", 1, 0},
      {FIX "in/palette_70x45.png", 0, 1}, {FIX "in/bilevel_50x34.png", 0, 1},
      {FIX "in/rgb_50x40.png", 0, 0},  {FIX "decode/gif.gif", 0, 1},
      {FIX "decode/bmp8_palette.bmp", 0, 1}, {FIX "in/grey_70x50.png", 0, 0},
      {FIX "in/grey_53x41.gif", 0, 0}, {FIX "in/grey_53x41.bmp", 0, 0},
      {FIX "in/bilevel_53x41.bmp", 0, 1}, {FIX "in/fewgrey_53x41.gif", 0, 1},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    size_t n = 0;
    unsigned char *blob = check_read_file(cases[k].file, &n);
    lg_err err = {{0}};
    lg_image img;
    CHECK(blob && lg_image_decode(blob, n, &img, &err) == 0, "%s: %s", cases[k].file, err.msg);
    if (blob && img.rgb) {
      CHECK((img.alpha != NULL) == cases[k].alpha && img.nearest == cases[k].nearest,
            "%s: alpha %d nearest %d", cases[k].file, img.alpha != NULL, img.nearest);
      lg_image_free(&img);
    }
    free(blob);
  }
  /* 16-bit greyscale keeps its samples (Pillow mode "I"); rgb is their clipped conversion */
  size_t n = 0;
  unsigned char *blob = check_read_file(FIX "in/grey16_37x29.png", &n);
  lg_err err = {{0}};
  lg_image img;
  CHECK(blob && lg_image_decode(blob, n, &img, &err) == 0, "grey16: %s", err.msg);
  if (blob && img.rgb) {
    int ok = img.ivals != NULL && img.alpha == NULL && !img.nearest;
    for (int i = 0; ok && i < img.w * img.h; i++) {
      int v = img.ivals[i] > 255 ? 255 : img.ivals[i];
      ok = img.rgb[3 * i] == v && img.rgb[3 * i + 2] == v;
    }
    CHECK(ok, "grey16: ivals/rgb inconsistent");
    lg_image_free(&img);
  }
  free(blob);
}

/* lg_image_probe: the format from the magic bytes and the size from the header, for every
** fixture in image/in (named *_WxH.ext), a WebP header and inputs that say nothing. */
static void test_probe(void) {
  DIR *d = opendir(FIX "in");
  CHECK(d != NULL, "missing " FIX "in");
  if (!d) return;
  int count = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    const char *us = strrchr(e->d_name, '_'), *dot = strrchr(e->d_name, '.');
    int w = 0, h = 0;
    if (!us || !dot || sscanf(us, "_%dx%d.", &w, &h) != 2) continue;
    const char *want = strcmp(dot, ".jpg") == 0 ? "jpeg" : dot + 1;
    char path[600];
    snprintf(path, sizeof path, FIX "in/%s", e->d_name);
    size_t n = 0;
    unsigned char *blob = check_read_file(path, &n);
    lg_image_info info;
    lg_image_probe(blob, n, &info);
    CHECK(strcmp(info.format, want) == 0 && info.width == w && info.height == h,
          "%s: probe says %s %lldx%lld", e->d_name, info.format, info.width, info.height);
    /* The first bytes alone still name the format. */
    lg_image_probe(blob, n < 8 ? n : 8, &info);
    CHECK(strcmp(info.format, want) == 0, "%s cut to 8 bytes: %s", e->d_name, info.format);
    free(blob);
    count++;
  }
  closedir(d);
  CHECK(count >= 20, "only %d probe fixtures", count);
  static const unsigned char webp[] = "RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0\x30\x01\0\x9d\x01\x2a"
                                      "\x80\x02\xe0\x01";
  lg_image_info info;
  lg_image_probe(webp, sizeof webp - 1, &info);
  CHECK(strcmp(info.format, "webp") == 0 && info.width == 640 && info.height == 480,
        "webp: %s %lldx%lld", info.format, info.width, info.height);
  lg_image_probe("RIFF\0\0\0\0WEBP", 12, &info);
  CHECK(strcmp(info.format, "webp") == 0 && info.width == 0, "short webp: %s", info.format);
  lg_image_probe("hello", 5, &info);
  CHECK(strcmp(info.format, "unknown") == 0 && info.width == 0 && info.height == 0, "text: %s",
        info.format);
  lg_image_probe(NULL, 0, &info);
  CHECK(strcmp(info.format, "unknown") == 0, "empty: %s", info.format);
}

int main(void) {
  test_probe();
  test_formats();
  test_errors();
  test_source_modes();
  return check_report("test_image");
}
