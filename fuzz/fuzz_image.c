/*
** libFuzzer target for the image path: lg_image_probe (header sniffing for failure reports),
** lg_image_decode (JPEG via libjpeg-turbo, WebP via libwebp, PNG/BMP/GIF via stb_image; header
** checks, pixel and JPEG scan limits) followed by lg_preprocess_u8 in both modes.
**
**   make fuzz && nice build/fuzz/fuzz_image -max_total_time=300 -max_len=65536 fuzz/corpus/image
**
** Properties checked on every input (a violation aborts, which the fuzzer records):
**   - decoding either fails with a non-empty message and cleared output, or returns an image with
**     positive size within LG_IMAGE_MAX_PIXELS;
**   - preprocessing a decoded image (small targets, crop and squash) succeeds and its frame lies
**     inside the resized image.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define REQUIRE(c)                                                    \
  do {                                                                \
    if (!(c)) {                                                       \
      fprintf(stderr, "fuzz_image: property failed: %s\n", #c);      \
      abort();                                                        \
    }                                                                 \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lg_err err = {{0}};
  lg_image img;
  lg_image_info info;  /* the header probe used in failure reports never fails */
  lg_image_probe(data, size, &info);
  REQUIRE(info.format != NULL && info.width >= 0 && info.height >= 0);
  if (lg_image_decode(data, size, &img, &err) != 0) {
    REQUIRE(err.msg[0] != 0);
    REQUIRE(img.rgb == NULL && img.alpha == NULL);
    return 0;
  }
  REQUIRE(img.w > 0 && img.h > 0 && img.rgb != NULL);
  REQUIRE((uint64_t)img.w * (uint64_t)img.h <= LG_IMAGE_MAX_PIXELS);
  /* keep each run fast: preprocess only images up to 1 Mpx */
  if ((uint64_t)img.w * (uint64_t)img.h <= (1u << 20)) {
    static const struct { int size; lg_resize mode; } runs[] = {{16, LG_RESIZE_CROP}, {23, LG_RESIZE_SQUASH}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
      int s = runs[k].size;
      uint8_t *out = malloc((size_t)s * s * 3);
      lg_frame fr;
      REQUIRE(out != NULL);
      REQUIRE(lg_preprocess_u8(&img, s, runs[k].mode, out, &fr, &err) == 0);
      REQUIRE(fr.cx >= 0 && fr.cy >= 0 && fr.cx + s <= fr.rw && fr.cy + s <= fr.rh);
      free(out);
    }
  }
  lg_image_free(&img);
  return 0;
}
