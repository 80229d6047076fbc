/*
** safetensors reader: dtype widening (F32/F16/BF16 incl. subnormals, Inf, NaN), unaligned data,
** __metadata__, rank-0 and empty tensors, sharded index files, and every header rule of the spec
** (clip-engine.md §1.1) with the exact error messages.
*/
#include <math.h>
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
  CHECK(lg_st_parse(&st, big, 10, "big.safetensors", &err) == -1 && strstr(err.msg, "exceeds the limit 100000000"),
        "%s", err.msg);
  unsigned char past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  CHECK(lg_st_parse(&st, past, 10, "past.safetensors", &err) == -1 &&
        strstr(err.msg, "header length 100 runs past the end of the file (10 bytes)"), "%s", err.msg);
  EXPECT_FAIL("[1,2]", NULL, 0, "does not start with '{'");
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
  CHECK(lg_st_open(&st, tmp("missing.safetensors"), &err) == -1 && strstr(err.msg, "missing.safetensors: cannot open"),
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
        strstr(err.msg, "weight_map['a'] is not a plain shard file name"), "%s", err.msg);
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
  test_sharded();
  tmpdir_remove();
  return check_report("test_safetensors");
}
