/*
** Map blob codec (engine/maps/mapblob.c): round trip, determinism, compression only when smaller, and
** every kind of corruption rejected with its exact message.
*/
#include <stdint.h>
#include <zlib.h>

#include "check.h"
#include "mapblob.h"

/* A map with a recorded crop frame, two layers, a fingerprint and a smooth (compressible) grid. */
static void sample_map(lg_map *m, float *grid) {
  memset(m, 0, sizeof *m);
  m->method = LG_METHOD_LEGRAD;
  m->flags = LG_MAP_F_RELU;
  m->gh = m->gw = 14;
  m->patch = 16;
  m->frame = (lg_frame){.src_w = 640, .src_h = 480, .rw = 298, .rh = 224, .cx = 37, .cy = 0,
                        .size = 224, .mode = LG_RESIZE_CROP};
  m->n_layers = 2;
  m->layers[0] = 10;
  m->layers[1] = 11;
  m->score = 0.3125f;
  strcpy(m->fingerprint, "0123456789abcdef0123456789abcdef");
  for (int i = 0; i < 14 * 14; i++) grid[i] = (float)(i % 14) * 0.25f;
  m->grid = grid;
}

/* Recomputes the CRC-32 trailer after a deliberate edit, so the field checks are reached. */
static void fix_crc(unsigned char *b, size_t n) {
  uint32_t c = (uint32_t)crc32(0L, b, (uInt)(n - 4));
  for (int i = 0; i < 4; i++) b[n - 4 + i] = (unsigned char)(c >> (8 * i));
}

/* Decodes b and checks it fails with exactly `want`. */
static void expect_error(const unsigned char *b, size_t n, const char *want, const char *what) {
  lg_map m;
  lg_err err = {{0}};
  int rc = lg_map_decode(b, n, &m, &err);
  CHECK(rc == -1, "%s: decode accepted a corrupt blob", what);
  CHECK(strcmp(err.msg, want) == 0, "%s: message\n  got:  %s\n  want: %s", what, err.msg, want);
  CHECK(m.grid == NULL, "%s: grid left allocated on failure", what);
}

/* Copies blob, applies edit (offset, byte), optionally fixes the CRC, and expects `want`. */
static void corrupt_byte(const unsigned char *blob, size_t n, size_t off, unsigned char v, int crc,
                         const char *want) {
  unsigned char *b = malloc(n);
  memcpy(b, blob, n);
  b[off] = v;
  if (crc) fix_crc(b, n);
  char what[64];
  snprintf(what, sizeof what, "byte %zu = 0x%02x", off, v);
  expect_error(b, n, want, what);
  free(b);
}

static void test_round_trip(void) {
  float grid[196];
  lg_map m, back;
  lg_err err;
  sample_map(&m, grid);
  unsigned char *b1 = NULL, *b2 = NULL;
  size_t n1 = 0, n2 = 0;
  CHECK(lg_map_encode(&m, &b1, &n1, &err) == 0, "encode: %s", err.msg);
  CHECK(lg_map_decode(b1, n1, &back, &err) == 0, "decode: %s", err.msg);
  CHECK(back.version == 1 && back.method == LG_METHOD_LEGRAD, "version/method");
  CHECK(back.gh == 14 && back.gw == 14 && back.patch == 16, "sizes");
  CHECK(back.flags == (LG_MAP_F_RELU | LG_MAP_F_COMPRESSED), "flags 0x%x", back.flags);
  CHECK(back.n_layers == 2 && back.layers[0] == 10 && back.layers[1] == 11, "layers");
  CHECK(back.score == 0.3125f, "score %g", back.score);
  CHECK(strcmp(back.fingerprint, m.fingerprint) == 0, "fingerprint %s", back.fingerprint);
  CHECK(memcmp(&back.frame, &m.frame, sizeof m.frame) == 0, "frame");
  CHECK(memcmp(back.grid, grid, sizeof grid) == 0, "grid values bit-exact");
  /* re-encoding the decoded map gives the same bytes (determinism, canonical form) */
  back.flags &= ~(uint32_t)LG_MAP_F_COMPRESSED;
  CHECK(lg_map_encode(&back, &b2, &n2, &err) == 0, "re-encode: %s", err.msg);
  CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0, "re-encoding differs (%zu vs %zu bytes)", n1, n2);
  free(b2);
  b2 = NULL;
  CHECK(lg_map_encode(&m, &b2, &n2, &err) == 0 && n1 == n2 && memcmp(b1, b2, n1) == 0,
        "encoding the same map twice differs");
  lg_map_free(&back);
  free(b1);
  free(b2);
}

static void test_compression_choice(void) {
  lg_err err;
  /* smooth grid: compressed and smaller than raw */
  float grid[196];
  lg_map m;
  sample_map(&m, grid);
  unsigned char *b = NULL;
  size_t n = 0;
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0, "encode: %s", err.msg);
  CHECK(n < 88 + 4 + 196 * 4 + 4, "smooth grid not compressed (%zu bytes)", n);
  CHECK(b[8] & LG_MAP_F_COMPRESSED, "compressed flag not set");
  free(b);
  /* random grid: zlib cannot shrink it, stored raw */
  uint32_t s = 12345;
  for (int i = 0; i < 196; i++) { /* random bit patterns, finite ones only */
    do {
      s ^= s << 13; s ^= s >> 17; s ^= s << 5; /* xorshift32 */
      memcpy(&grid[i], &s, 4);
    } while (!isfinite(grid[i]));
  }
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0, "encode: %s", err.msg);
  CHECK(n == 88 + 4 + 196 * 4 + 4, "random grid: %zu bytes, expected raw size", n);
  CHECK(!(b[8] & LG_MAP_F_COMPRESSED), "compressed flag set on a raw payload");
  lg_map back;
  CHECK(lg_map_decode(b, n, &back, &err) == 0 && memcmp(back.grid, grid, sizeof grid) == 0,
        "raw round trip: %s", err.msg);
  lg_map_free(&back);
  free(b);
  /* a constant grid gets the constant flag, whatever the caller said */
  for (int i = 0; i < 196; i++) grid[i] = 0.5f;
  m.flags = LG_MAP_F_COMPRESSED;
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0, "encode: %s", err.msg);
  CHECK(b[8] == (LG_MAP_F_CONSTANT | LG_MAP_F_COMPRESSED), "constant flags 0x%x", b[8]);
  free(b);
}

static void test_optional_fields(void) {
  /* no frame, no layers, no score, no fingerprint, non-square grid */
  float grid[6] = {0, 1, 2, 3, 4, 5};
  lg_map m = {0}, back;
  lg_err err;
  m.method = LG_METHOD_EXTERNAL;
  m.gh = 2;
  m.gw = 3;
  m.patch = 1;
  m.score = NAN;
  m.grid = grid;
  unsigned char *b = NULL;
  size_t n = 0;
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0, "encode: %s", err.msg);
  CHECK(n <= 88 + 24 + 4, "size %zu", n);
  CHECK(b[44] == 0 && b[45] == 0 && b[46] == 0xc0 && b[47] == 0x7f, "canonical NaN score");
  CHECK(lg_map_decode(b, n, &back, &err) == 0, "decode: %s", err.msg);
  CHECK(isnan(back.score) && back.fingerprint[0] == 0 && back.frame.src_w == 0 && back.n_layers == 0,
        "optional fields");
  lg_map_free(&back);
  free(b);
}

static void test_encoder_rejects(void) {
  float grid[196];
  lg_map m;
  lg_err err;
  unsigned char *b = NULL;
  size_t n = 0;
#define REJECT(stmt, want)                                                           \
  do {                                                                               \
    sample_map(&m, grid);                                                            \
    stmt;                                                                            \
    int rc = lg_map_encode(&m, &b, &n, &err);                                        \
    CHECK(rc == -1 && b == NULL, "encoder accepted: %s", #stmt);                     \
    CHECK(rc == -1 && strcmp(err.msg, want) == 0, "%s\n  got:  %s\n  want: %s", #stmt, \
          err.msg, want);                                                            \
  } while (0)
  REJECT(grid[17] = NAN, "grid value at row 1, column 3 is NaN");
  REJECT(grid[0] = INFINITY, "grid value at row 0, column 0 is Inf");
  REJECT(m.gh = 0, "grid size 0x14 out of range (expected 1..1024 each)");
  REJECT(m.patch = 0, "patch 0 out of range (expected 1..256)");
  REJECT((m.gh = m.gw = 600, m.frame.src_w = 0, m.frame.size = 0),
         "input size 9600x9600 (grid x patch) exceeds 8192");
  REJECT(m.layers[1] = 10, "layers must be strictly ascending: 10 at position 1 follows 10");
  REJECT(m.layers[1] = 5000, "layer 5000 at position 1 out of range (expected 0..4095)");
  REJECT(m.n_layers = 300, "layer count 300 out of range (expected 0..256)");
  REJECT(m.flags |= LG_MAP_F_SINGLE_LAYER, "the single-layer flag needs exactly 1 layer, found 2");
  REJECT(m.flags |= 64, "unknown flag bits 0x40 (known: 0x1f)");
  REJECT(m.method = 256,
         "unknown method 256 (expected 1 = legrad, 2 = external, or a method id up to 255)");
  REJECT(m.score = INFINITY, "score is infinite (expected a finite number or NaN)");
  REJECT(m.fingerprint[3] = 'G', "fingerprint character 3 is 0x47: expected lower-case hex digits");
  REJECT((m.flags |= LG_MAP_F_NORMALISED, grid[5] = 1.5f),
         "grid value 1.5 at row 0, column 5 is outside [0, 1] although the normalised flag is set");
  REJECT(m.frame.size = 200, "frame: size 200 does not match gh*patch = 224");
  REJECT(m.frame.cx = 80,
         "frame: crop offset (80, 0) puts the 224x224 input outside the resized 298x224 image");
  REJECT(m.frame.rh = 100, "frame: resized size 298x100 is smaller than the input size 224");
  REJECT(m.frame.mode = LG_RESIZE_SQUASH,
         "frame: squash mode needs rw = rh = 224 and no crop offset, found 298x224 at (37, 0)");
  REJECT(m.frame.src_h = 0, "frame: source size 640x0 out of range (expected 1..67108864 pixels)");
  REJECT(m.frame.src_w = 0, "frame: src_w is 0 (not recorded) but other frame fields are set "
                            "(src_h 480, rw 298, rh 224, cx 37, cy 0, size 224)");
  REJECT((m.gw = 7, m.grid = grid), "frame: a recorded frame needs a square grid, found 14x7");
  REJECT(m.grid = NULL, "grid is missing");
#undef REJECT
}

static void test_decoder_rejects(void) {
  float grid[196];
  lg_map m;
  lg_err err;
  sample_map(&m, grid);
  unsigned char *b = NULL;
  size_t n = 0;
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0, "encode: %s", err.msg);

  expect_error((const unsigned char *)"RIFF\0\0\0\0", 8, "expected magic 'LGRM', found 52 49 46 46",
               "RIFF");
  expect_error(b, 0, "expected magic 'LGRM', found an empty blob", "empty");
  expect_error(b, 50, "blob too short: expected at least 92 bytes, found 50", "short");
  char want[256];
  snprintf(want, sizeof want, "blob length %zu does not match its header: expected %zu bytes (88 "
           "header + 2*2 layers + %zu payload + 4 checksum)", n - 1, n, n - 88 - 4 - 4);
  expect_error(b, n - 1, want, "truncated");
  corrupt_byte(b, n, 4, 3, 1, "unsupported version 3 (this build reads versions 1 and 2)");
  /* payload bit flip without fixing the CRC */
  unsigned char *c = malloc(n);
  memcpy(c, b, n);
  c[100] ^= 0x10;
  uint32_t crc_now = (uint32_t)crc32(0L, c, (uInt)(n - 4)), crc_old = (uint32_t)crc32(0L, b, (uInt)(n - 4));
  snprintf(want, sizeof want, "checksum mismatch: stored %08x, computed %08x (the blob is corrupt)",
           crc_old, crc_now);
  expect_error(c, n, want, "bit flip");
  /* the same flip with a fixed CRC: the zlib stream catches it */
  fix_crc(c, n);
  lg_map back;
  lg_err e2;
  int rc = lg_map_decode(c, n, &back, &e2);
  CHECK(rc == -1 && strncmp(e2.msg, "zlib payload", 12) == 0, "corrupt zlib: %s", e2.msg);
  free(c);

  corrupt_byte(b, n, 5, 9, 1, "unknown method 9 in a version 1 blob (expected 1 = legrad or 2 = external)");
  corrupt_byte(b, n, 6, 3, 1, "unknown frame mode 3 (expected 0 = not recorded, 1 = crop, 2 = squash)");
  corrupt_byte(b, n, 6, 0, 1, "frame: mode is 0 (not recorded) but src_w is 640");
  corrupt_byte(b, n, 6, 2, 1, "frame: squash mode needs rw = rh = 224 and no crop offset, found "
                              "298x224 at (37, 0)");
  corrupt_byte(b, n, 7, 1, 1, "reserved byte 7 must be 0, found 1");
  corrupt_byte(b, n, 8, 0x41, 1, "unknown flag bits 0x40 (known: 0x1f)");
  snprintf(want, sizeof want, "uncompressed payload is %zu bytes, expected gh*gw*4 = 784",
           n - 88 - 4 - 4);
  corrupt_byte(b, n, 8, 0x01, 1, want);
  corrupt_byte(b, n, 8, 0x13, 1, "the constant flag is set but the grid is not constant");
  corrupt_byte(b, n, 8, 0x19, 1, "grid value 1.25 at row 0, column 5 is outside [0, 1] although "
                                 "the normalised flag is set");
  corrupt_byte(b, n, 8, 0x15, 1, "the single-layer flag needs exactly 1 layer, found 2");
  corrupt_byte(b, n, 12, 0, 1, "grid size 0x14 out of range (expected 1..1024 each)");
  corrupt_byte(b, n, 12, 13, 1, "frame: a recorded frame needs a square grid, found 13x14");
  corrupt_byte(b, n, 16, 0, 1, "patch 0 out of range (expected 1..256)");
  { /* gh and patch near 65535 with a frame: found by fuzz_sql_maps as an int overflow in gh*patch */
    unsigned char *d = malloc(n);
    memcpy(d, b, n);
    d[12] = 0xfe; d[13] = 0xff; d[16] = 0xfc; d[17] = 0xff;
    fix_crc(d, n);
    expect_error(d, n, "grid size 65534x14 out of range (expected 1..1024 each)", "gh*patch overflow");
    d[12] = 14; d[13] = 0;
    fix_crc(d, n);
    expect_error(d, n, "patch 65532 out of range (expected 1..256)", "patch 65532");
    free(d);
  }
  corrupt_byte(b, n, 23, 0x04, 1,
               "frame: source size 67109504x480 out of range (expected 1..67108864 pixels)");
  corrupt_byte(b, n, 23, 0x80, 1, "frame field at offset 20 is 2147484288, larger than 2^31-1");
  {
    unsigned char *d = malloc(n);
    memcpy(d, b, n);
    d[46] = 0x80; d[47] = 0x7f; /* +Inf */
    fix_crc(d, n);
    expect_error(d, n, "score is infinite (expected a finite number or NaN)", "score inf");
    d[47] = 0x7f; d[46] = 0xa0; /* a NaN with a payload: accepted as "not recorded" */
    fix_crc(d, n);
    lg_map nan_m;
    CHECK(lg_map_decode(d, n, &nan_m, &err) == 0 && isnan(nan_m.score), "NaN score: %s", err.msg);
    lg_map_free(&nan_m);
    free(d);
  }
  corrupt_byte(b, n, 49, 0, 1, "fingerprint byte 2 is 0x32 after NUL padding");
  corrupt_byte(b, n, 50, 'x', 1, "fingerprint character 2 is 0x78: expected lower-case hex digits");
  corrupt_byte(b, n, 80, 0x11, 1, "raw payload length 785 does not match the grid: 14x14 floats = 784 bytes");
  corrupt_byte(b, n, 90, 10, 1, "layers must be strictly ascending: 10 at position 1 follows 10");
  corrupt_byte(b, n, 19, 2, 1, "layer count 514 out of range (expected 0..256)");
  free(b);
}

/* A compressed payload that is not smaller than raw, and a raw payload stored with a wrong size,
** are rebuilt by hand. */
static void test_payload_rules(void) {
  /* 1x1 grid: raw 4 bytes; a zlib stream of 4 bytes is >= 4 -> must be stored raw */
  unsigned char z[64];
  uLongf zn = sizeof z;
  unsigned char raw[4] = {0, 0, 0x80, 0x3f}; /* 1.0f */
  CHECK(compress2(z, &zn, raw, 4, 9) == Z_OK, "zlib");
  size_t n = 88 + zn + 4;
  unsigned char *b = calloc(1, n);
  memcpy(b, "LGRM", 4);
  b[4] = 1; b[5] = 2; b[8] = LG_MAP_F_COMPRESSED | LG_MAP_F_CONSTANT;
  b[12] = 1; b[14] = 1; b[16] = 1;
  b[44] = 0; b[45] = 0; b[46] = 0xc0; b[47] = 0x7f;
  b[80] = 4;
  b[84] = (unsigned char)zn;
  memcpy(b + 88, z, zn);
  fix_crc(b, n);
  char want[128];
  snprintf(want, sizeof want,
           "compressed payload (%lu bytes) is not smaller than the raw payload (4 bytes)",
           (unsigned long)zn);
  expect_error(b, n, want, "compressed not smaller");
  free(b);

  /* a 16x16 zero grid compressed, with trailing garbage inside the payload */
  float grid[256] = {0};
  lg_map m = {0};
  lg_err err;
  m.method = LG_METHOD_EXTERNAL; m.gh = m.gw = 16; m.patch = 1; m.score = NAN; m.grid = grid;
  unsigned char *e = NULL;
  size_t en = 0;
  CHECK(lg_map_encode(&m, &e, &en, &err) == 0, "encode: %s", err.msg);
  uint32_t stored = e[84] | e[85] << 8;
  b = calloc(1, en + 3);
  memcpy(b, e, en - 4);
  uint32_t s2 = stored + 3;
  b[84] = s2 & 255; b[85] = s2 >> 8;
  fix_crc(b, en + 3);
  snprintf(want, sizeof want, "zlib stream ends after %u of %u payload bytes", stored, s2);
  expect_error(b, en + 3, want, "trailing bytes in payload");
  free(b);
  free(e);
}

/* The worked example of docs/map-format.md, byte for byte (keeps the document honest). */
static void test_documented_example(void) {
  static const char *want_hex =
      "4c47524d010101000100000002000200100002004000000030000000" "2a000000"
      "200000000500000000000000" "0000803e"
      "3031323334353637383961626364656630313233343536373839616263646566"
      "10000000100000000a000b00" "000000000000003f0000c03f000080be" "3a6f6fa0";
  float grid[4] = {0.0f, 0.5f, 1.5f, -0.25f};
  lg_map m = {0};
  lg_err err;
  m.method = LG_METHOD_LEGRAD;
  m.flags = LG_MAP_F_RELU;
  m.gh = m.gw = 2;
  m.patch = 16;
  m.frame = (lg_frame){.src_w = 64, .src_h = 48, .rw = 42, .rh = 32, .cx = 5, .cy = 0, .size = 32,
                       .mode = LG_RESIZE_CROP};
  m.n_layers = 2;
  m.layers[0] = 10;
  m.layers[1] = 11;
  m.score = 0.25f;
  strcpy(m.fingerprint, "0123456789abcdef0123456789abcdef");
  m.grid = grid;
  unsigned char *b = NULL;
  size_t n = 0;
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0, "encode: %s", err.msg);
  char hex[2 * 112 + 1] = "";
  for (size_t i = 0; i < n && i < 112; i++) snprintf(hex + 2 * i, 3, "%02x", b[i]);
  CHECK(n == 112 && strcmp(hex, want_hex) == 0, "docs/map-format.md example differs:\n  got  %s\n  want %s",
        hex, want_hex);
  free(b);
}

/* Version 2: a method id above 2 or an options record; version 1 whenever it can express the map;
** a committed version-1 blob (written before version 2 existed) still reads. */
static void test_version2(void) {
  lg_map m, back;
  float grid[14 * 14];
  lg_err err = {{0}};
  unsigned char *b = NULL, *b2 = NULL;
  size_t n = 0, n2 = 0;
  sample_map(&m, grid);
  m.method = (lg_method)4;
  snprintf(m.options, sizeof m.options, "start_layer=1");
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0, "encode v2: %s", err.msg);
  if (!b) return;
  CHECK(b[4] == 2 && b[5] == 4 && b[7] == 13, "v2 header: version %d method %d options %d", b[4],
        b[5], b[7]);
  CHECK(memcmp(b + LG_MAP_FIXED_HEADER + 2 * m.n_layers, "start_layer=1", 13) == 0,
        "options after the layers");
  CHECK(lg_map_decode(b, n, &back, &err) == 0, "decode v2: %s", err.msg);
  CHECK(back.version == 2 && back.method == 4 && strcmp(back.options, "start_layer=1") == 0,
        "v2 round trip: version %d method %d options '%s'", back.version, (int)back.method,
        back.options);
  CHECK(lg_map_encode(&back, &b2, &n2, &err) == 0 && n2 == n && memcmp(b, b2, n) == 0,
        "v2 re-encodes to the same bytes");
  lg_map_free(&back);
  free(b2);
  /* Byte 7 of a v2 blob is the options length: shortening it breaks the length check. */
  char want[256];
  snprintf(want, sizeof want, "blob length %zu does not match its header: expected %zu bytes (88 "
           "header + 2*2 layers + 12 options + %zu payload + 4 checksum)", n, n - 1,
           n - 88 - 4 - 13 - 4);
  corrupt_byte(b, n, 7, 12, 1, want);
  free(b);
  /* LeGrad with an options record is version 2; without, version 1. */
  sample_map(&m, grid);
  snprintf(m.options, sizeof m.options, "relu=0");
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0 && b[4] == 2, "legrad + options is v2");
  free(b);
  m.options[0] = 0;
  CHECK(lg_map_encode(&m, &b, &n, &err) == 0 && b[4] == 1, "legrad without options is v1");
  /* A v2 blob v1 could express is refused (the encoding stays canonical). */
  if (b) {
    b[4] = 2;
    fix_crc(b, n);
    expect_error(b, n, "a version 2 blob must record a method id above 2 or options (this map is "
                       "written as version 1)", "v2 without a reason");
    b[4] = 1;
    b[5] = 7;
    fix_crc(b, n);
    expect_error(b, n, "unknown method 7 in a version 1 blob (expected 1 = legrad or 2 = external)",
                 "v1 with a v2 method id");
  }
  free(b);
  /* Options characters and method range. */
  sample_map(&m, grid);
  snprintf(m.options, sizeof m.options, "Start=1");
  CHECK(lg_map_encode(&m, &b, &n, &err) == -1 && strstr(err.msg, "options record byte 0 is 0x53"),
        "bad option character: %s", err.msg);
  m.options[0] = 0;
  m.method = (lg_method)0;
  CHECK(lg_map_encode(&m, &b, &n, &err) == -1 && strstr(err.msg, "unknown method 0"),
        "method 0: %s", err.msg);
  /* The committed version-1 blob: legrad(sample image, 'a green circle', 'all') from before
  ** version 2 (tests/fixtures/mapfuncs/v1_legrad.bin). */
  size_t nv1 = 0;
  unsigned char *v1 = (unsigned char *)check_read_file("tests/fixtures/mapfuncs/v1_legrad.bin", &nv1);
  CHECK(v1 != NULL && nv1 == 356, "v1 fixture: %zu bytes", nv1);
  if (v1 && lg_map_decode(v1, nv1, &back, &err) == 0) {
    CHECK(back.version == 1 && back.method == LG_METHOD_LEGRAD && back.options[0] == 0 &&
              back.gh == 8 && back.patch == 8 && back.n_layers == 4 && back.layers[3] == 3 &&
              (back.flags & LG_MAP_F_RELU) && strcmp(back.fingerprint,
                                                      "c223d14d89f8bd7a75ee76c1ac43e932") == 0,
          "v1 fixture fields");
    CHECK_NEAR(back.grid[0], 0.000720394077, 1e-12);
    CHECK(lg_map_encode(&back, &b2, &n2, &err) == 0 && n2 == nv1 && memcmp(b2, v1, nv1) == 0,
          "a version-1 map re-encodes to its version-1 bytes");
    free(b2);
    lg_map_free(&back);
  } else {
    CHECK(0, "v1 fixture decodes: %s", err.msg);
  }
  free(v1);
}

int main(void) {
  test_documented_example();
  test_round_trip();
  test_compression_choice();
  test_optional_fields();
  test_encoder_rejects();
  test_decoder_rejects();
  test_payload_rules();
  test_version2();
  return check_report("test_mapblob");
}
