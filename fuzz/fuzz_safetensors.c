/*
** libFuzzer target for the safetensors reader and the CLIP weight loader behind it.
**
**   make fuzz && nice build/fuzz/fuzz_safetensors -max_total_time=300 -max_len=16384 fuzz/corpus/safetensors
**
** Every input goes through lg_st_parse.  Properties checked (a violation aborts):
**   - failure leaves a non-empty message;
**   - on success the tensors are sorted by name without duplicates, every tensor's bytes lie inside
**     the input and match numel x dtype size (computed without overflow), and every floating tensor
**     widens to F32;
**   - a parsed input is also written to a temporary file and given to lg_model_load, which must
**     either load it (then the vision tower runs on a zero image at the native size when that is
**     small) or fail with a message.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip.h"
#include "safetensors.h"

#define REQUIRE(c)                                                        \
  do {                                                                    \
    if (!(c)) {                                                           \
      fprintf(stderr, "fuzz_safetensors: property failed: %s\n", #c);    \
      abort();                                                            \
    }                                                                     \
  } while (0)

static void try_model(const uint8_t *data, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/fuzz_st_%d.safetensors", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(data, 1, size, f);
  fclose(f);
  lg_err err = {{0}};
  lg_model *m = lg_model_load(path, &err);
  if (!m) {
    REQUIRE(err.msg[0] != 0);
  } else {
    const lg_vision_w *v = &m->vision;
    if ((int64_t)v->image_size * v->image_size * v->cfg.width <= (1 << 20) && v->cfg.layers <= 8) {
      lg_vit_ws *ws = lg_vit_ws_new(m, 0, LG_KEEP_ATTN_ALL, &err);
      REQUIRE(ws != NULL);
      float *px = calloc((size_t)3 * v->image_size * v->image_size, sizeof *px);
      float *emb = calloc((size_t)m->embed_dim, sizeof *emb);
      REQUIRE(px && emb);
      REQUIRE(lg_vit_forward(m, ws, px, emb, &err) == 0);
      free(px);
      free(emb);
      lg_vit_ws_free(ws);
    }
    lg_model_free(m);
  }
  unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lg_err err = {{0}};
  lg_st st = {0};
  int rc = lg_st_parse(&st, data, size, "fuzz.safetensors", &err);
  if (rc) {
    REQUIRE(err.msg[0] != 0);
    lg_st_close(&st);
    return 0;
  }
  for (int i = 0; i < st.n_tensors; i++) {
    const lg_st_tensor *t = &st.tensors[i];
    if (i) REQUIRE(strcmp(st.tensors[i - 1].name, t->name) < 0);
    REQUIRE(t->data >= data && t->data + (t->end - t->begin) <= data + size);
    uint64_t bits;
    REQUIRE(!__builtin_mul_overflow((uint64_t)t->numel, (uint64_t)lg_st_dtype_bits(t->dtype), &bits));
    REQUIRE(bits % 8 == 0 && bits / 8 == t->end - t->begin);
    REQUIRE(lg_st_find(&st, t->name) == t);
    if (t->dtype == LG_ST_F32 || t->dtype == LG_ST_F16 || t->dtype == LG_ST_BF16 || t->dtype == LG_ST_F64) {
      float *buf = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *buf);
      REQUIRE(buf && lg_st_read_f32(t, buf, &err) == 0);
      free(buf);
    }
  }
  if (st.n_tensors) try_model(data, size);
  lg_st_close(&st);
  return 0;
}
