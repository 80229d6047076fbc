/*
** Timing of the decoding limits: progressive JPEG scan bombs and a WebP photo.
**
**   make build/bench/bench_decode_limits && build/bench/bench_decode_limits [path.jpg|path.webp ...]
**
** Builds progressive JPEG bombs in memory from tests/fixtures/image/in/progressive_2scans_1024x1024.jpg
** (1024 x 1024 grey, a DC scan and an AC scan) by repeating its AC scan, as tests/c/test_image.c
** does, and times lg_image_decode on 1000 scans (at the limit: decoded) and 30,000 scans (refused),
** then on each file given (e.g. ../shared/data/images/la_baguette.webp, or a bomb saved to disk, to
** compare with an older build).  Wall time of one decode each, ms; prints measured numbers only;
** results are recorded in docs/benchmarks.md.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/c/check.h"  /* check_read_file */
#include "image.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Decodes data once and prints the time and the outcome. */
static void time_decode(const char *what, const unsigned char *data, size_t n) {
  lg_err err = {{0}};
  lg_image img;
  double t0 = now_ms();
  int rc = lg_image_decode(data, n, &img, &err);
  double ms = now_ms() - t0;
  if (rc == 0) {
    printf("%-44s %8zu bytes  %10.3f ms  decoded %d x %d\n", what, n, ms, img.w, img.h);
    lg_image_free(&img);
  } else {
    printf("%-44s %8zu bytes  %10.3f ms  refused: %s\n", what, n, ms, err.msg);
  }
}

int main(int argc, char **argv) {
  size_t n = 0;
  unsigned char *base = check_read_file("tests/fixtures/image/in/progressive_2scans_1024x1024.jpg", &n);
  if (!base || n < 20) {
    fprintf(stderr, "run from the repository root (tests/fixtures/image/in/ missing)\n");
    return 1;
  }
  size_t sos = 0;
  for (size_t i = 2; i + 1 < n - 2; i++) if (base[i] == 0xff && base[i + 1] == 0xda) sos = i;
  size_t seg = n - 2 - sos;
  static const unsigned scans[] = {2, 1000, 30000};
  for (size_t k = 0; k < sizeof scans / sizeof scans[0]; k++) {
    unsigned char *bomb = malloc(n + seg * scans[k]);
    if (!bomb) return 1;
    memcpy(bomb, base, n - 2);
    size_t o = n - 2;
    for (unsigned s = 2; s < scans[k]; s++, o += seg) memcpy(bomb + o, base + sos, seg);
    memcpy(bomb + o, base + n - 2, 2);
    char what[64];
    snprintf(what, sizeof what, "progressive JPEG 1024x1024, %u scans", scans[k]);
    time_decode(what, bomb, o + 2);
    free(bomb);
  }
  free(base);
  for (int a = 1; a < argc; a++) {
    unsigned char *blob = check_read_file(argv[a], &n);
    if (!blob) { fprintf(stderr, "cannot read %s\n", argv[a]); continue; }
    time_decode(argv[a], blob, n);
    free(blob);
  }
  return 0;
}
