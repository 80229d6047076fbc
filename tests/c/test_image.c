/*
** Image decoding against Pillow's Image.open(...).convert("RGB") and the error paths.
**
** Fixtures (tests/reference/ref_inputs.py images): tests/fixtures/image/decode/ holds BMP (24-bit
** and palette), GIF, greyscale and CMYK JPEG and 2-bit grey PNG inputs with Pillow's decoded
** pixels; the generated JPEGs in tests/fixtures/image/in/ with decoded_<name>.bin; WebP (lossy,
** lossless, with alpha, animated) in tests/fixtures/image/webp/ (tests/reference/webp_fixtures.py)
** with Pillow's RGB and alpha.  Every format must decode exactly.  Bad inputs (unsupported format,
** truncated files, zero size, over the pixel limit, empty, progressive JPEG bombs, a JPEG whose
** Huffman table overflows stb_image) must fail with a message naming the problem; should_stop
** interrupts decoding and resizing.
*/
#include <dirent.h>
#include <stdint.h>
#include <time.h>
#include <zlib.h>

#include "check.h"
#include "image.h"
#include "metrics.h"

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

/* Reads a raw file of exactly `want` bytes, or NULL. */
static unsigned char *read_exact(const char *path, size_t want) {
  size_t n = 0;
  unsigned char *b = check_read_file(path, &n);
  if (b && n != want) { free(b); b = NULL; }
  return b;
}

/* WebP fixtures: RGB exactly as Pillow's convert("RGB"); alpha exactly Pillow's A band for images
** Pillow opens as RGBA (dropped when fully opaque), none for RGB ones. */
static void test_webp(void) {
  FILE *f = fopen(FIX "webp/list.txt", "r");
  CHECK(f != NULL, "missing " FIX "webp/list.txt (run tests/reference/webp_fixtures.py)");
  if (!f) return;
  char line[512], name[128], file[128], mode[16];
  int w, h, count = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || sscanf(line, "%127s %127s %d %d %15s", name, file, &w, &h, mode) != 5) continue;
    char path[512], rgb[512];
    snprintf(path, sizeof path, FIX "webp/%s", file);
    snprintf(rgb, sizeof rgb, FIX "webp/%s.rgb", name);
    int d = decode_and_compare(path, rgb, w, h);
    printf("  decode WebP %-14s (Pillow mode %-4s): max |diff| %d\n", name, mode, d);
    CHECK(d == 0, "%s: max |diff| to Pillow %d", name, d);
    size_t n = 0;
    unsigned char *blob = check_read_file(path, &n);
    lg_err err = {{0}};
    lg_image img;
    if (blob && lg_image_decode(blob, n, &img, &err) == 0) {
      if (strcmp(mode, "RGBA") == 0) {
        snprintf(rgb, sizeof rgb, FIX "webp/%s.alpha", name);
        unsigned char *a = read_exact(rgb, (size_t)w * h);
        CHECK(a != NULL, "%s: missing %s", name, rgb);
        CHECK(img.alpha != NULL, "%s: RGBA WebP decoded without alpha", name);
        if (a && img.alpha) CHECK(memcmp(a, img.alpha, (size_t)w * h) == 0, "%s: alpha differs from Pillow", name);
        free(a);
      } else {
        CHECK(img.alpha == NULL, "%s: Pillow mode %s but alpha kept", name, mode);
      }
      CHECK(!img.nearest && !img.ivals && !img.cmyk, "%s: unexpected source mode", name);
      lg_image_free(&img);
    }
    free(blob);
    count++;
  }
  fclose(f);
  CHECK(count >= 5, "only %d WebP fixtures", count);
  /* cut short, a WebP is refused by libwebp's demuxer */
  size_t n = 0;
  unsigned char *blob = check_read_file(FIX "webp/lossy_rgb.webp", &n);
  if (blob) {
    lg_err err = {{0}};
    lg_image img;
    CHECK(lg_image_decode(blob, n * 2 / 3, &img, &err) == -1 && strstr(err.msg, "WebP"),
          "truncated WebP: %s", err.msg);
    blob[12 + 3] = 'Z';  /* unknown first chunk "VP8Z": not a WebP Pillow opens */
    CHECK(lg_image_decode(blob, n, &img, &err) == -1 && strstr(err.msg, "(WebP (unknown first chunk) data"),
          "VP8Z WebP: %s", err.msg);
    free(blob);
  }
  const char *shared = check_shared_dir();
  if (!shared) {
    SKIP("../shared absent: la_baguette.webp not decoded");
    return;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/data/images/la_baguette.webp", shared);
  blob = check_read_file(path, &n);
  CHECK(blob != NULL, "cannot read %s", path);
  lg_err err = {{0}};
  lg_image img;
  if (blob) {
    CHECK(lg_image_decode(blob, n, &img, &err) == 0 && img.w == 1420 && img.h == 946 && !img.alpha,
          "la_baguette.webp: %s (%d x %d)", err.msg, img.w, img.h);
    lg_image_free(&img);
  }
  free(blob);
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
  expect_error("text", "hello world", 11,
               "not a JPEG, PNG, WebP, BMP or GIF image (unrecognised header, 11 bytes)");
  expect_error("RIFF/WebP header only", "RIFF\x10\0\0\0WEBPVP8 ", 16, "cannot read the WebP header");
  expect_error("one byte", "\xff", 1, "(unrecognised header, 1 bytes)");
  expect_error("TIFF", "II*\0\x08\0\0\0", 8, "not a JPEG, PNG, WebP, BMP or GIF image (TIFF data, 8 bytes)");
  expect_error("AVIF", "\0\0\0\x1c" "ftypavif", 12, "(AVIF data, 12 bytes)");
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

}

/* A JPEG whose DHT announces 16 x 255 = 4080 Huffman codes (more than 256; stb_image's
** stbi__build_huffman writes past its 257-entry size table on it, even from stbi_info): only
** libjpeg-turbo reads JPEGs, and it refuses the table. */
static void test_bad_dht(void) {
  size_t n = 0;
  unsigned char *blob = check_read_file("fuzz/corpus/image/jpeg_dht_counts_over_256.jpg", &n);
  CHECK(blob && n == 282, "missing the 282-byte DHT reproducer (%zu bytes)", n);
  if (blob) {
    int sum = 0;
    for (int i = 0; i < 16; i++) sum += blob[7 + i];
    CHECK(blob[2] == 0xff && blob[3] == 0xc4 && sum == 4080, "reproducer: not a DHT with 4080 codes");
    expect_error("DHT with 4080 codes", blob, n, "cannot decode the JPEG image (Bogus Huffman table definition)");
  }
  free(blob);
}

/* The committed progressive JPEG (1024 x 1024 grey: one DC scan, one AC scan) with its AC scan
** repeated until the file has `scans` scans; libjpeg warns about the repeated progression and
** decodes it.  Returns the malloc'ed file and its size. */
static unsigned char *make_scan_bomb(unsigned scans, size_t *n_out) {
  size_t n = 0;
  unsigned char *base = check_read_file(FIX "in/progressive_2scans_1024x1024.jpg", &n), *out = NULL;
  CHECK(base != NULL && n > 20, "missing " FIX "in/progressive_2scans_1024x1024.jpg");
  if (!base || n <= 20) { free(base); return NULL; }
  size_t sos = 0;
  for (size_t i = 2; i + 1 < n - 2; i++) if (base[i] == 0xff && base[i + 1] == 0xda) sos = i;
  size_t seg = n - 2 - sos;  /* last SOS marker to EOI */
  out = malloc(n + seg * scans);
  if (out) {
    memcpy(out, base, n - 2);
    size_t o = n - 2;
    for (unsigned k = 2; k < scans; k++, o += seg) memcpy(out + o, base + sos, seg);
    memcpy(out + o, base + n - 2, 2);
    *n_out = o + 2;
  }
  free(base);
  return out;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* should_stop that says stop once it has been asked *arg times. */
static int stop_after(void *arg) {
  int *left = arg;
  return --*left < 0;
}

/* A 1 x 1 RGB PNG whose IDAT inflates to the 4 bytes its pixel needs plus `extra` zero bytes
** (a zlib bomb when extra is large).  Returns the malloc'ed file and its size. */
static unsigned char *make_png_zlib_bomb(size_t extra, size_t *n_out) {
  size_t raw_n = 4 + extra;
  unsigned char *raw = calloc(raw_n, 1);
  uLongf zn = compressBound(raw_n);
  unsigned char *png = malloc(64 + zn);
  CHECK(raw && png, "out of memory");
  if (!raw || !png) { free(raw); free(png); return NULL; }
  raw[1] = 200;  /* filter 0, pixel (200, 0, 0) */
  size_t o = png_header(png, 1, 1) - 12;  /* keep signature + IHDR (33 bytes), drop IEND */
  CHECK(compress2(png + o + 8, &zn, raw, raw_n, 9) == Z_OK, "compress2 failed");
  free(raw);
  be32(png + o, (uint32_t)zn);
  memcpy(png + o + 4, "IDAT", 4);
  o += 8 + zn;
  be32(png + o, (uint32_t)crc32(crc32(0, (const Bytef *)"IDAT", 4), png + o - zn, zn));
  memcpy(png + o + 4, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
  *n_out = o + 16;
  return png;
}

/* stb_image inflates a PNG's whole IDAT stream (up to 4 GiB) however few pixels it declares: the
** decoder inflates it first with zlib and refuses data beyond what the pixels need. */
static void test_png_zlib_bomb(void) {
  size_t n = 0;
  lg_err err = {{0}};
  lg_image img;
  unsigned char *png = make_png_zlib_bomb(0, &n);
  CHECK(png && lg_image_decode(png, n, &img, &err) == 0 && img.w == 1 && img.rgb[0] == 200,
        "1 x 1 PNG built by the test: %s", err.msg);
  if (png && img.rgb) lg_image_free(&img);
  free(png);
  png = make_png_zlib_bomb((size_t)64 << 20, &n);  /* 64 MiB of zeros in ~64 KB */
  if (png) {
    double t0 = now_s();
    expect_error("PNG zlib bomb", png, n,
                 "PNG image data inflates to more than 4 bytes, the most its pixels need (zlib bomb?)");
    printf("  1 x 1 PNG inflating to 64 MiB (%zu bytes) refused in %.4f s\n", n, now_s() - t0);
  }
  free(png);
  /* An empty IDAT chunk before the data (legal; stb_image has undefined behaviour on it): decoded
  ** exactly as the file without it, as an image and as a mask. */
  unsigned char *orig = check_read_file(FIX "in/grey_70x50.png", &n);
  unsigned char *first = orig ? memmem(orig, n, "IDAT", 4) : NULL;
  if (first && first - orig >= 12) {
    size_t at = (size_t)(first - 4 - orig), n2 = n + 12;
    unsigned char *with = malloc(n2);
    memcpy(with, orig, at);
    be32(with + at, 0);
    memcpy(with + at + 4, "IDAT", 4);
    be32(with + at + 8, (uint32_t)crc32(0, (const unsigned char *)"IDAT", 4));
    memcpy(with + at + 12, orig + at, n - at);
    lg_image a, b;
    lg_err e1 = {{0}}, e2 = {{0}};
    int ra = lg_image_decode(orig, n, &a, &e1), rb = lg_image_decode(with, n2, &b, &e2);
    CHECK(ra == 0 && rb == 0 && a.w == b.w && a.h == b.h &&
              memcmp(a.rgb, b.rgb, (size_t)a.w * a.h * 3) == 0,
          "empty first IDAT chunk: %s / %s", e1.msg, e2.msg);
    if (ra == 0) lg_image_free(&a);
    if (rb == 0) lg_image_free(&b);
    lg_mask ma, mb;
    ra = lg_mask_decode(orig, n, &ma, &e1);
    rb = lg_mask_decode(with, n2, &mb, &e2);
    CHECK(ra == 0 && rb == 0 && ma.w == mb.w && ma.h == mb.h &&
              memcmp(ma.v, mb.v, sizeof *ma.v * (size_t)ma.w * ma.h) == 0,
          "mask with an empty first IDAT chunk: %s / %s", e1.msg, e2.msg);
    if (ra == 0) lg_mask_free(&ma);
    if (rb == 0) lg_mask_free(&mb);
    free(with);
  }
  free(orig);
  /* A chunk whose length field runs past the end of the file: refused before stb_image allocates
  ** what the field announces, for images and masks alike. */
  unsigned char *cut = check_read_file(FIX "in/grey_70x50.png", &n);
  unsigned char *idat = cut ? memmem(cut, n, "IDAT", 4) : NULL;
  CHECK(idat != NULL && idat - cut >= 12, "grey_70x50.png has an IDAT chunk");
  if (idat && idat - cut >= 12) {
    be32(idat - 4, 0x7fffff00u);
    char want[160];
    snprintf(want, sizeof want, "PNG image is truncated (its IDAT chunk announces 2147483392 bytes, "
             "%zu remain)", n - (size_t)(idat + 4 - cut));
    expect_error("PNG chunk past the end", cut, n, want);
    lg_mask mask;
    lg_err err2 = {{0}};
    CHECK(lg_mask_decode(cut, n, &mask, &err2) == -1 && strncmp(err2.msg, "mask: ", 6) == 0 &&
              strcmp(err2.msg + 6, want) == 0,
          "mask with a chunk past the end: '%s'", err2.msg);
  }
  free(cut);
}

/* Progressive JPEG bombs are refused before libjpeg decodes a scan; limits and cancellation. */
static void test_limits(void) {
  size_t n = 0;
  lg_err err = {{0}};
  lg_image img;
  unsigned char *bomb = make_scan_bomb(30000, &n);
  if (bomb) {
    double t0 = now_s();
    expect_error("30000-scan JPEG", bomb, n,
                 "image has 30000 JPEG scans, more than the limit of 1000 (progressive JPEG bomb?)");
    printf("  30000-scan progressive JPEG (%zu bytes) refused in %.4f s\n", n, now_s() - t0);
  }
  free(bomb);
  bomb = make_scan_bomb(1000, &n);  /* at the limit: decodes */
  if (bomb) {
    double t0 = now_s();
    int rc = lg_image_decode(bomb, n, &img, &err);
    CHECK(rc == 0 && img.w == 1024 && img.h == 1024 && img.rgb[0] == 128,
          "1000-scan JPEG: %s", err.msg);
    printf("  1000-scan progressive JPEG 1024 x 1024 (%zu bytes) decoded in %.3f s\n", n, now_s() - t0);
    if (rc == 0) lg_image_free(&img);
    /* the same with a smaller work limit: scans x pixels over it */
    lg_image_limits lim = {.max_jpeg_scan_pixels = 100u << 20};
    CHECK(lg_image_decode_limited(bomb, n, &lim, &img, &err) == -1 &&
              strstr(err.msg, "JPEG image of 1024 x 1024 pixels in 1000 scans needs 1048576000 scan-pixels "
                              "of decoding work, more than the limit of 104857600"),
          "work limit: %s", err.msg);
    /* should_stop is polled while libjpeg absorbs the scans */
    int left = 50;
    lim = (lg_image_limits){.stop = {stop_after, &left}};
    CHECK(lg_image_decode_limited(bomb, n, &lim, &img, &err) == -1 && strstr(err.msg, "interrupted") &&
              img.rgb == NULL,
          "should_stop: %s", err.msg);
    /* a scan limit of the caller's */
    lim = (lg_image_limits){.max_jpeg_scans = 999};
    CHECK(lg_image_decode_limited(bomb, n, &lim, &img, &err) == -1 &&
              strstr(err.msg, "1000 JPEG scans, more than the limit of 999"),
          "scan limit 999: %s", err.msg);
    /* the default work limit, with the SOF patched to 2048 x 2048: refused before decoding */
    for (size_t i = 2; i + 8 < n; i++) {
      if (bomb[i] == 0xff && bomb[i + 1] == 0xc2) {
        bomb[i + 5] = bomb[i + 7] = 0x08;
        bomb[i + 6] = bomb[i + 8] = 0x00;
        break;
      }
    }
    expect_error("2048 x 2048 in 1000 scans", bomb, n, "more than the limit of 1073741824 (progressive JPEG bomb?)");
  }
  free(bomb);
  /* a pixel limit of the caller's */
  unsigned char *png = check_read_file(FIX "in/rgb_97x61.png", &n);
  if (png) {
    lg_image_limits lim = {.max_pixels = 97 * 61 - 1};
    CHECK(lg_image_decode_limited(png, n, &lim, &img, &err) == -1 &&
              strstr(err.msg, "PNG image of 97 x 61 pixels exceeds the limit of 5916 pixels"),
          "pixel limit: %s", err.msg);
    lim.max_pixels = 97 * 61;
    CHECK(lg_image_decode_limited(png, n, &lim, &img, &err) == 0, "at the pixel limit: %s", err.msg);
    /* resizing polls should_stop too */
    int left = 3;
    lg_stop stop = {stop_after, &left};
    uint8_t out[16 * 16 * 3];
    CHECK(lg_preprocess_u8_stop(&img, 16, LG_RESIZE_CROP, out, NULL, &stop, &err) == -1 &&
              strstr(err.msg, "interrupted"),
          "resize should_stop: %s", err.msg);
    left = 1000000;
    CHECK(lg_preprocess_u8_stop(&img, 16, LG_RESIZE_CROP, out, NULL, &stop, &err) == 0, "%s", err.msg);
    lg_image_free(&img);
  }
  free(png);
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
  test_webp();
  test_errors();
  test_bad_dht();
  test_limits();
  test_png_zlib_bomb();
  test_source_modes();
  return check_report("test_image");
}
