/*
** libFuzzer target for the map blob decoder (engine/maps/mapblob.c), the parser of untrusted bytes behind
** every legrad_map_* and metric function.
**
**   make fuzz && build/fuzz/fuzz_mapblob -max_total_time=300 fuzz/corpus/mapblob
**
** Input: byte 0 is a mode byte, the rest is the blob.  Mode bit 0 set: the CRC-32 trailer of the
** blob is recomputed first, so the fuzzer reaches the field checks behind the checksum.
** Properties checked on every blob the decoder accepts:
**   - the decoded map passes lg_map_validate();
**   - re-encoding succeeds, the result decodes to the same fields and bit-identical grid values,
**     and encoding that again gives identical bytes (canonical, deterministic form);
**   - small maps go through lg_map_final() without producing non-finite values.
** Any violation aborts (a finding).
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "mapblob.h"
#include "render.h"

/* Aborts with a message: the fuzzer records the input as a crash. */
#define REQUIRE(c)                                                        \
  do {                                                                    \
    if (!(c)) {                                                           \
      fprintf(stderr, "fuzz_mapblob: property failed: %s\n", #c);          \
      abort();                                                            \
    }                                                                     \
  } while (0)

/* Compares two decoded maps field by field (grid bit-exact). */
static int same_map(const lg_map *a, const lg_map *b) {
  if (a->method != b->method || a->gh != b->gh || a->gw != b->gw || a->patch != b->patch ||
      a->n_layers != b->n_layers || strcmp(a->fingerprint, b->fingerprint) != 0)
    return 0;
  if ((a->flags & ~(uint32_t)LG_MAP_F_COMPRESSED) != (b->flags & ~(uint32_t)LG_MAP_F_COMPRESSED))
    return 0;
  if (memcmp(&a->frame, &b->frame, sizeof a->frame) != 0) return 0;
  if (memcmp(a->layers, b->layers, sizeof(int) * (size_t)a->n_layers) != 0) return 0;
  if (!(isnan(a->score) && isnan(b->score)) && memcmp(&a->score, &b->score, 4) != 0) return 0;
  return memcmp(a->grid, b->grid, sizeof(float) * (size_t)a->gh * a->gw) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t n = size - 1;
  unsigned char *blob = malloc(n ? n : 1); /* own copy: exact bounds for ASan */
  if (!blob) return 0;
  memcpy(blob, data + 1, n);
  if ((data[0] & 1) && n >= 8) {
    uint32_t c = (uint32_t)crc32(0L, blob, (uInt)(n - 4));
    for (int i = 0; i < 4; i++) blob[n - 4 + i] = (unsigned char)(c >> (8 * i));
  }
  lg_map m, back;
  lg_err err;
  if (lg_map_decode(blob, n, &m, &err) == 0) {
    REQUIRE(lg_map_validate(&m, &err) == 0);
    unsigned char *e1 = NULL, *e2 = NULL;
    size_t n1 = 0, n2 = 0;
    REQUIRE(lg_map_encode(&m, &e1, &n1, &err) == 0);
    REQUIRE(lg_map_decode(e1, n1, &back, &err) == 0);
    REQUIRE(same_map(&m, &back));
    REQUIRE(lg_map_encode(&back, &e2, &n2, &err) == 0);
    REQUIRE(n1 == n2 && memcmp(e1, e2, n1) == 0);
    int W, H;
    lg_map_input_size(&m, &W, &H);
    if ((size_t)W * H <= 4096) {
      float *fin = malloc(sizeof(float) * (size_t)W * H);
      int constant = 0;
      REQUIRE(fin && lg_map_final(&m, 0, 0, fin, &constant, &err) == 0);
      for (int i = 0; i < W * H; i++) REQUIRE(fin[i] >= 0.0f && fin[i] <= 1.0f);
      free(fin);
    }
    free(e1);
    free(e2);
    lg_map_free(&back);
    lg_map_free(&m);
  }
  free(blob);
  return 0;
}
