/*
** safetensors reader: dtype widening (F32/F16/BF16 incl. subnormals, Inf, NaN), unaligned data,
** __metadata__, rank-0 and empty tensors, sharded index files, and every header rule of the spec
** (clip-engine.md §1.1) with the exact error messages.
*/
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "safetensors.h"
#include "st_write.h"
#include "tmpdir.h"


/* Parses header+data from memory; returns rc and leaves the message in err. */
static int parse_mem(const char *header, const void *data, size_t n, lg_err *err) {
  size_t hn = strlen(header);
  unsigned char *buf = malloc(8 + hn + n + 1);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((unsigned long long)hn >> (8 * i));
  memcpy(buf + 8, header, hn);
  if (n) memcpy(buf + 8 + hn, data, n);
  lg_st st = {0};
  int rc = lg_st_parse(&st, buf, 8 + hn + n, "mem.safetensors", err);
  lg_st_close(&st);
  free(buf);
  return rc;
}

#define EXPECT_FAIL(hdr, data, n, needle)                                                         \
  do {                                                                                          \
    lg_err e_ = {{0}};                                                                          \
    int rc_ = parse_mem(hdr, data, n, &e_);                                                     \
    CHECK(rc_ == -1 && strstr(e_.msg, needle), "expected failure with '%s', got rc=%d '%s'",    \
          needle, rc_, e_.msg);                                                                 \
  } while (0)

static void test_valid(void) {
  /* F32 [2] (unaligned: header length 3 mod 4), F16 [4], BF16 [2], I64 [1], scalar F32, empty. */
  unsigned char data[8 + 8 + 4 + 8 + 4];
  float f32[2] = {1.5f, -2.25f};
  uint16_t f16[4] = {0x3c00, 0x0001, 0x7c00, 0x7e00};  /* 1, smallest subnormal, +inf, nan */
  uint16_t bf16[2] = {0x3f80, 0xc040};                 /* 1, -3 */
  long long i64 = 7;
  float sc = 4.6052f;
  size_t o = 0;
  memcpy(data + o, f32, 8); o += 8;
  memcpy(data + o, f16, 8); o += 8;
  memcpy(data + o, bf16, 4); o += 4;
  memcpy(data + o, &i64, 8); o += 8;
  memcpy(data + o, &sc, 4); o += 4;
  const char *hdr =
      "{\"__metadata__\":{\"format\":\"pt\"}, "
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[8,16]},"
      "\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]},"
      "\"position_ids\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[20,28]},"
      "\"scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[28,32]},"
      "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[32,32]}}";
  CHECK(strlen(hdr) % 4 != 0, "header length should make the data unaligned");
  const char *path = tmp("valid.safetensors");
  CHECK(st_write_raw(path, hdr, data, sizeof data, 0) == 0, "write");
  lg_st st;
  lg_err err = {{0}};
  int rc = lg_st_open(&st, path, &err);
  CHECK(rc == 0, "open: %s", err.msg);
  if (rc) return;
  CHECK(st.n_tensors == 6, "n_tensors %d (metadata must be skipped)", st.n_tensors);
  CHECK(lg_st_find(&st, "__metadata__") == NULL, "metadata listed");
  float out[4];
  const lg_st_tensor *t = lg_st_find(&st, "a");
  CHECK(t && lg_st_read_f32(t, out, &err) == 0 && out[0] == 1.5f && out[1] == -2.25f, "F32 values");
  CHECK(t && ((uintptr_t)t->data % 4) != 0, "F32 data is unaligned in this file");
  t = lg_st_find(&st, "b");
  CHECK(t && t->ndim == 2 && t->numel == 4 && lg_st_read_f32(t, out, &err) == 0, "F16 read");
  CHECK(out[0] == 1.0f && out[1] == ldexpf(1.0f, -24) && isinf(out[2]) && out[2] > 0 && isnan(out[3]),
        "F16 values %g %g %g %g", out[0], out[1], out[2], out[3]);
  t = lg_st_find(&st, "c");
  CHECK(t && lg_st_read_f32(t, out, &err) == 0 && out[0] == 1.0f && out[1] == -3.0f, "BF16 values");
  t = lg_st_find(&st, "scale");
  CHECK(t && t->ndim == 0 && t->numel == 1 && lg_st_read_f32(t, out, &err) == 0 && out[0] == sc, "scalar");
  t = lg_st_find(&st, "empty");
  CHECK(t && t->numel == 0 && t->begin == t->end, "empty tensor");
  t = lg_st_find(&st, "position_ids");
  CHECK(t && t->dtype == LG_ST_I64, "I64 listed");
  CHECK(t && lg_st_read_f32(t, out, &err) == -1 && strstr(err.msg, "'position_ids': dtype I64 is not a floating type"),
        "I64 read: %s", err.msg);
  lg_st_close(&st);
  /* Every F16 bit pattern, through the reader (vector path for multiples of 8, then the tail) and
  ** through lg_f16_to_f32, against the definition (sign, exponent, mantissa). */
  {
    enum { NH = 65536 + 5 };
    static uint16_t all[NH];
    static float got[NH];
    for (int i = 0; i < NH; i++) all[i] = (uint16_t)i;
    lg_st_tensor ft = {.name = "all", .dtype = LG_ST_F16, .ndim = 1, .numel = NH, .data = (const unsigned char *)all};
    CHECK(lg_st_read_f32(&ft, got, &err) == 0, "read all f16");
    int bad = 0;
    for (int i = 0; i < NH; i++) {
      uint16_t h = all[i];
      int e = (h >> 10) & 31, mant = h & 1023;
      double v = e == 0 ? ldexp(mant, -24) : e == 31 ? (mant ? NAN : INFINITY) : ldexp(1024 + mant, e - 25);
      if (h & 0x8000) v = -v;
      float a = got[i], b = lg_f16_to_f32(h);
      int ok = isnan(v) ? (isnan(a) && isnan(b)) : (a == (float)v && b == (float)v && !signbit(a) == !signbit(v));
      bad += !ok;
    }
    CHECK(bad == 0, "%d F16 patterns widened wrongly", bad);
  }
  /* F16 subnormal max and a normal value */
  CHECK(lg_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24), "max subnormal");
  CHECK(lg_f16_to_f32(0xc000) == -2.0f && lg_f16_to_f32(0x7bff) == 65504.0f, "f16 normals");
  /* header padded with spaces is valid */
  CHECK(st_write_raw(tmp("pad.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                     f32, 4, 5) == 0, "write");
  rc = lg_st_open(&st, tmp("pad.safetensors"), &err);
  CHECK(rc == 0, "padded header: %s", err.msg);
  if (!rc) lg_st_close(&st);
}

static void test_bad_headers(void) {
  float z[4] = {0};
  lg_err err = {{0}};
  lg_st st = {0};
  CHECK(lg_st_parse(&st, (const unsigned char *)"abc", 3, "short.safetensors", &err) == -1 &&
        strstr(err.msg, "short.safetensors: 3 bytes, too short"), "%s", err.msg);
  unsigned char big[16] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, '{', '}'};
  CHECK(lg_st_parse(&st, big, 10, "big.safetensors", &err) == -1 &&
        !strcmp(err.msg, "big.safetensors: not a safetensors file: its first 8 bytes, read as the header length, "
                         "exceed the 100000000-byte limit (file of 10 bytes)"), "%s", err.msg);
  unsigned char past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  CHECK(lg_st_parse(&st, past, 10, "past.safetensors", &err) == -1 &&
        strstr(err.msg, "header length 100 runs past the end of the file (10 bytes)"), "%s", err.msg);
  EXPECT_FAIL("[1,2]", NULL, 0, "mem.safetensors: not a safetensors file: the header does not start with '{' (file of 13 bytes)");
  /* a length field that fits but no JSON after it: the length is not repeated back */
  unsigned char bin[32] = {200, 0, 0, 0, 0, 0, 0, 0, 0x7f, 'E', 'L', 'F'};
  CHECK(lg_st_parse(&st, bin, sizeof bin, "bin.safetensors", &err) == -1 &&
        !strcmp(err.msg, "bin.safetensors: not a safetensors file: the header does not start with '{' (file of 32 bytes)"),
        "%s", err.msg);
  EXPECT_FAIL("{\"a\":", NULL, 0, "not a valid JSON object");
  EXPECT_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}xx", z, 4, "bytes after the JSON");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F12\",\"shape\":[1],\"data_offsets\":[0,4]}}", z, 4,
              "mem.safetensors: tensor 'w': unknown dtype 'F12'");
  EXPECT_FAIL("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", z, 4, "tensor 'w': missing string 'dtype'");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", z, 4,
              "tensor 'w': shape[0] is not a non-negative integer");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", z, 4, "shape[0] is not");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", z, 4, "'data_offsets' must be");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", z, 4,
              "tensor 'w': rank 9, at most 8");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", z, 4,
              "more than 2^60 elements");
  /* a header that lies about sizes */
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", z, 8,
              "mem.safetensors: tensor 'w': data_offsets [0,8] hold 8 bytes, expected 16 for shape [2,2] x F32");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", z, 8, "end before begin");
  /* gaps, overlaps, truncation, trailing bytes */
  EXPECT_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", z, 12,
              "tensor 'b': data starts at byte 8, expected 4 (tensors must be contiguous)");
  EXPECT_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", z, 8, "must be contiguous");
  EXPECT_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", z, 8,
              "tensor data ends at byte 16 but the file holds 8 data bytes");
  EXPECT_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", z, 8,
              "tensor data ends at byte 4 but the file holds 8 data bytes");
  EXPECT_FAIL("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", z, 8, "tensor 'a' appears twice");
  EXPECT_FAIL("{\"a\":{\"dtype\":\"F4\",\"shape\":[1],\"data_offsets\":[0,1]}}", z, 1, "not a whole number of bytes");
  /* file-level errors name the path */
  CHECK(lg_st_open(&st, tmp("missing.safetensors"), &err) == -1 &&
        strstr(err.msg, "missing.safetensors: cannot open: No such file or directory"),
        "%s", err.msg);
  /* truncated copy of a real file */
  size_t n = 0;
  unsigned char *buf = check_read_file("tests/fixtures/models/tiny_qg_oc/open_clip_model.safetensors", &n);
  CHECK(buf != NULL, "fixture model missing");
  if (buf) {
    FILE *f = fopen(tmp("trunc.safetensors"), "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    CHECK(lg_st_open(&st, tmp("trunc.safetensors"), &err) == -1 && strstr(err.msg, "trunc.safetensors: tensor data ends at byte"),
          "%s", err.msg);
    free(buf);
  }
}

/* Shapes whose byte size overflows 64 bits once multiplied by the dtype's bits: 2^60 elements of
** F32 or F64 are 2^65 / 2^66 bits, which wrapped to 0 and matched data_offsets [0,0]. */
static void test_impossible_sizes(void) {
  float z[1] = {0};
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F64\",\"shape\":[1073741824,1073741824],\"data_offsets\":[0,0]}}", NULL, 0,
              "mem.safetensors: tensor 'w': shape [1073741824,1073741824] x F64 needs more than 2^61 bytes");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F32\",\"shape\":[1024,1024,1024,1024,1024,1024],\"data_offsets\":[0,0]}}", NULL, 0,
              "shape [1024,1024,1024,1024,1024,1024] x F32 needs more than 2^61 bytes");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"U8\",\"shape\":[2147483648,2147483648,2147483648],\"data_offsets\":[0,0]}}", NULL, 0,
              "tensor 'w': shape has more than 2^60 elements");
  EXPECT_FAIL("{\"w\":{\"dtype\":\"F4\",\"shape\":[1073741824,1073741824],\"data_offsets\":[0,4]}}", z, 4,
              "hold 4 bytes, expected 576460752303423488 for shape [1073741824,1073741824] x F4");
  /* a zero dimension makes the rest irrelevant */
  lg_err err = {{0}};
  CHECK(parse_mem("{\"w\":{\"dtype\":\"F64\",\"shape\":[0,1073741824,1073741824],\"data_offsets\":[0,0]}}", NULL, 0, &err) == 0,
        "empty tensor: %s", err.msg);
}

/* Writes n raw bytes to path. */
static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f) { fwrite(data, 1, n, f); fclose(f); }
}

/* Files that are not safetensors are named for what they are, and messages never quote them. */
static void test_foreign_files(void) {
  lg_err err = {{0}};
  lg_st st;
  char want[1024];
  const char *lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:"
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nsize 598641023\n";
  write_bytes(tmp("lfs.safetensors"), lfs, strlen(lfs));
  snprintf(want, sizeof want, "'%s' is a Git LFS pointer, not the weights: run `git lfs pull` in that repository "
           "(or download the file itself)", tmp("lfs.safetensors"));
  CHECK(lg_st_open(&st, tmp("lfs.safetensors"), &err) == -1 && !strcmp(err.msg, want), "LFS: %s", err.msg);
  const char *hint = "convert it once, in its directory: python3 -c \"import torch, safetensors.torch as st; "
                     "sd = torch.load('zip.safetensors', map_location='cpu'); sd = sd.get('state_dict', sd); "
                     "st.save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')\" (docs/checkpoints.md)";
  write_bytes(tmp("zip.safetensors"), "PK\x03\x04\x14\0\0\0\0\0archive/data.pkl", 26);
  snprintf(want, sizeof want, "'%s' is a PyTorch checkpoint (a zip archive), not safetensors: %s", tmp("zip.safetensors"), hint);
  CHECK(lg_st_open(&st, tmp("zip.safetensors"), &err) == -1 && !strcmp(err.msg, want), "zip: %s", err.msg);
  /* legacy torch.save: a pickle starting with its magic number */
  static const unsigned char pkl[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
  CHECK(lg_st_parse(&st, pkl, sizeof pkl, "old.pt", &err) == -1 &&
        strstr(err.msg, "'old.pt' is a PyTorch checkpoint (a pickle), not safetensors: convert it once, in its directory: "
                        "python3 -c \"import torch, safetensors.torch as st; sd = torch.load('old.pt',"), "pickle: %s", err.msg);
  /* a file name that cannot be pasted into the command stands as model.bin */
  CHECK(lg_st_parse(&st, pkl, sizeof pkl, "dir/it's.bin", &err) == -1 && strstr(err.msg, "torch.load('model.bin',"),
        "pickle name: %s", err.msg);
  const char *html = "\n<!DOCTYPE html><html><body>Entry not found</body></html>";
  CHECK(lg_st_parse(&st, (const unsigned char *)html, strlen(html), "page.safetensors", &err) == -1 &&
        !strcmp(err.msg, "'page.safetensors' is an HTML page, not the weights (a failed download? fetch the file again)"),
        "html: %s", err.msg);
  /* A real header of exactly 640 bytes starts with 0x80 0x02 like a pickle: it loads, and a
  ** truncated copy is reported as truncated, not as a pickle. */
  char hdr[641];
  const char *entry = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  memset(hdr, ' ', 640);
  memcpy(hdr, entry, strlen(entry));
  hdr[640] = 0;
  float one = 1;
  CHECK(st_write_raw(tmp("h640.safetensors"), hdr, &one, 4, 0) == 0, "write");
  int rc = lg_st_open(&st, tmp("h640.safetensors"), &err);
  CHECK(rc == 0, "640-byte header: %s", err.msg);
  if (rc == 0) lg_st_close(&st);
  unsigned char buf[100] = {0x80, 0x02, 0, 0, 0, 0, 0, 0};
  memcpy(buf + 8, hdr, sizeof buf - 8);
  CHECK(lg_st_parse(&st, buf, sizeof buf, "cut.safetensors", &err) == -1 &&
        !strcmp(err.msg, "cut.safetensors: header length 640 runs past the end of the file (100 bytes)"), "cut: %s", err.msg);
  /* an unknown dtype that is not a dtype name is described, not quoted */
  EXPECT_FAIL("{\"w\":{\"dtype\":\"root:x:0:0:root:/root\",\"shape\":[1],\"data_offsets\":[0,4]}}", &one, 4,
              "mem.safetensors: tensor 'w': 'dtype' is not a dtype name (a string of 21 bytes; expected F32, F16, BF16 or "
              "another safetensors dtype)");
}

/* FIFOs, directories and devices are refused without being read (a FIFO would block forever). */
static void test_not_regular(void) {
  lg_err err = {{0}};
  lg_st st;
  char want[512];
  alarm(20);   /* guard: a blocking open fails the suite (SIGALRM) instead of hanging it */
  if (mkfifo(tmp("fifo.safetensors"), 0600) == 0) {
    snprintf(want, sizeof want, "'%s' is a FIFO, not a regular file", tmp("fifo.safetensors"));
    CHECK(lg_st_open(&st, tmp("fifo.safetensors"), &err) == -1 && !strcmp(err.msg, want), "FIFO: %s", err.msg);
    /* a FIFO as a shard, and as the index itself */
    FILE *f = fopen(tmp("f.safetensors.index.json"), "w");
    fprintf(f, "{\"weight_map\":{\"a\":\"fifo.safetensors\"}}");
    fclose(f);
    CHECK(lg_st_open_index(&st, tmp("f.safetensors.index.json"), &err) == -1 && !strcmp(err.msg, want), "FIFO shard: %s", err.msg);
    CHECK(mkfifo(tmp("fifo.safetensors.index.json"), 0600) == 0, "mkfifo");
    snprintf(want, sizeof want, "'%s' is a FIFO, not a regular file", tmp("fifo.safetensors.index.json"));
    CHECK(lg_st_open_index(&st, tmp("fifo.safetensors.index.json"), &err) == -1 && !strcmp(err.msg, want),
          "FIFO index: %s", err.msg);
  } else {
    SKIP("mkfifo failed: FIFO checks skipped");
  }
  CHECK(lg_st_open(&st, "/dev/null", &err) == -1 && !strcmp(err.msg, "'/dev/null' is a character device, not a regular file"),
        "device: %s", err.msg);
  CHECK(lg_st_open(&st, "tests", &err) == -1 && !strcmp(err.msg, "'tests' is a directory, not a regular file"), "dir: %s", err.msg);
  alarm(0);
}

static void test_sharded(void) {
  float a[2] = {1, 2}, b[3] = {3, 4, 5};
  lg_err err = {{0}};
  lg_st st;
  st_write_raw(tmp("m-00001-of-00002.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", a, 8, 0);
  st_write_raw(tmp("m-00002-of-00002.safetensors"), "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", b, 12, 0);
  FILE *f = fopen(tmp("m.safetensors.index.json"), "w");
  fprintf(f, "{\"metadata\":{\"total_size\":20},\"weight_map\":{\"a\":\"m-00001-of-00002.safetensors\","
             "\"b\":\"m-00002-of-00002.safetensors\"}}");
  fclose(f);
  int rc = lg_st_open_index(&st, tmp("m.safetensors.index.json"), &err);
  CHECK(rc == 0, "index: %s", err.msg);
  if (!rc) {
    float out[3];
    const lg_st_tensor *t = lg_st_find(&st, "b");
    CHECK(st.n_files == 2 && st.n_tensors == 2, "shards %d tensors %d", st.n_files, st.n_tensors);
    CHECK(t && lg_st_read_f32(t, out, &err) == 0 && out[2] == 5 && strstr(t->file, "m-00002-of-00002"), "shard 2");
    lg_st_close(&st);
  }
  f = fopen(tmp("bad.safetensors.index.json"), "w");
  fprintf(f, "{\"weight_map\":{\"a\":\"m-00002-of-00002.safetensors\"}}");
  fclose(f);
  CHECK(lg_st_open_index(&st, tmp("bad.safetensors.index.json"), &err) == -1 &&
        strstr(err.msg, "tensor 'a' is not in shard 'm-00002-of-00002.safetensors'"), "%s", err.msg);
  f = fopen(tmp("evil.safetensors.index.json"), "w");
  fprintf(f, "{\"weight_map\":{\"a\":\"../x.safetensors\"}}");
  fclose(f);
  CHECK(lg_st_open_index(&st, tmp("evil.safetensors.index.json"), &err) == -1 &&
        strstr(err.msg, "weight_map['a'] is not a plain shard file name (NAME.safetensors in the index's directory)"),
        "%s", err.msg);
  static const char *const bad_names[] = {"/etc/passwd", "..", ".hidden.safetensors", "m.bin", "a\\\\b.safetensors",
                                          ".safetensors", ""};
  for (size_t k = 0; k < sizeof bad_names / sizeof bad_names[0]; k++) {
    f = fopen(tmp("evil.safetensors.index.json"), "w");
    fprintf(f, "{\"weight_map\":{\"a\":\"%s\"}}", bad_names[k]);
    fclose(f);
    CHECK(lg_st_open_index(&st, tmp("evil.safetensors.index.json"), &err) == -1 &&
          strstr(err.msg, "weight_map['a'] is not a plain shard file name"), "shard '%s': %s", bad_names[k], err.msg);
  }
  f = fopen(tmp("nomap.safetensors.index.json"), "w");
  fprintf(f, "{\"metadata\":{}}");
  fclose(f);
  CHECK(lg_st_open_index(&st, tmp("nomap.safetensors.index.json"), &err) == -1 && strstr(err.msg, "no 'weight_map'"),
        "%s", err.msg);
}

int main(void) {
  if (tmpdir_make("lg_test_safetensors")) { SKIP("mkdtemp failed"); return check_report("test_safetensors"); }
  test_valid();
  test_bad_headers();
  test_impossible_sizes();
  test_foreign_files();
  test_not_regular();
  test_sharded();
  tmpdir_remove();
  return check_report("test_safetensors");
}
