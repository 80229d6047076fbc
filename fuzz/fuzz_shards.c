/*
** libFuzzer target for sharded checkpoints: a *.safetensors.index.json and the shard files it names,
** read by lg_st_open_index and loaded by lg_model_load, as a downloaded model directory would be.
**
**   make fuzz && nice build/fuzz/fuzz_shards -max_total_time=600 -timeout=10 fuzz/corpus/shards
**
** Input: the index.json text, then up to MAX_SHARDS shard files, separated by FZ_SPLIT
** ("--LGSPLIT--"); shard k (1-based) is written as model-0000k.safetensors next to
** model.safetensors.index.json in a private temporary directory (fuzz/make_seeds.py writes seeds).
** Properties (a violation aborts):
**   - lg_st_open_index either fails with a message or gives tensors sorted by name, without
**     duplicates, each inside the bytes of a shard in the temporary directory, with numel x dtype
**     size bytes;
**   - lg_model_load on the directory either fails with a message or gives a model whose towers run
**     (fz_check_model).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "safetensors.h"

#define MAX_SHARDS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_dir_init("fuzz_shards");
  fz_dir_clear();
  const uint8_t *part[MAX_SHARDS + 1];
  size_t len[MAX_SHARDS + 1];
  int n = fz_split(data, size, part, len, MAX_SHARDS + 1);
  char name[64], index[128];
  fz_put("model.safetensors.index.json", part[0], len[0]);
  for (int k = 1; k < n; k++) {
    snprintf(name, sizeof name, "model-%05d.safetensors", k);
    fz_put(name, part[k], len[k]);
  }
  snprintf(index, sizeof index, "%s/model.safetensors.index.json", fz_dir);

  lg_err err = {{0}};
  lg_st st = {0};
  if (lg_st_open_index(&st, index, &err) != 0) {
    FZ_REQUIRE(err.msg[0] != 0);
  } else {
    for (int i = 0; i < st.n_tensors; i++) {
      const lg_st_tensor *t = &st.tensors[i];
      if (i) FZ_REQUIRE(strcmp(st.tensors[i - 1].name, t->name) < 0);
      FZ_REQUIRE((uint64_t)t->numel * (uint64_t)lg_st_dtype_bits(t->dtype) / 8 == t->end - t->begin);
      FZ_REQUIRE(lg_st_find(&st, t->name) == t);
      FZ_REQUIRE(strncmp(t->file, fz_dir, strlen(fz_dir)) == 0);
      const lg_st_file *f = NULL;
      for (int j = 0; j < st.n_files && !f; j++)
        if (strcmp(st.files[j].path, t->file) == 0) f = &st.files[j];
      FZ_REQUIRE(f != NULL && f->map != NULL && t->data >= f->map &&
                 t->data + (t->end - t->begin) <= f->map + f->size);
    }
    lg_st_close(&st);
    lg_model *m = lg_model_load(fz_dir, &err);
    if (m) fz_check_model(m);
    else FZ_REQUIRE(err.msg[0] != 0);
    lg_model_free(m);
  }
  return 0;
}
