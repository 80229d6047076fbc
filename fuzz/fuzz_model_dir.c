/*
** libFuzzer target for whole model directories: configs, weights and tokenizer files together, as
** lg_model_load reads a directory someone downloaded (checkpoint choice, naming detection, config
** against weights, preprocessor config, tokenizer against the token embedding).
**
**   make fuzz && nice build/fuzz/fuzz_model_dir -max_total_time=600 -timeout=10 fuzz/corpus/model_dir
**
** Input: up to MAX_FILES parts separated by FZ_SPLIT ("--LGSPLIT--"); the first byte of a part
** picks the file name (MODEL_DIR_NAMES, modulo its length) and the rest is the file's content (a
** later part of the same name replaces an earlier one).  The files are written to a private
** temporary directory, which is then loaded (fuzz/make_seeds.py writes the seeds).
** Properties (a violation aborts): lg_model_load either fails with a message or gives a model whose
** towers run (fz_check_model: vision forward, tokenizer ids inside the vocabulary, text forward).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"

#define MAX_FILES 8

/* Must match NAMES in fuzz/make_seeds.py. */
static const char *const MODEL_DIR_NAMES[] = {
    "config.json", "model.safetensors", "open_clip_config.json", "open_clip_model.safetensors",
    "preprocessor_config.json", "vocab.json", "merges.txt", "tokenizer.json",
    "model.safetensors.index.json", "model-00001.safetensors", "model-00002.safetensors",
    "bpe_simple_vocab_16e6.txt.gz"};
#define N_NAMES (sizeof MODEL_DIR_NAMES / sizeof MODEL_DIR_NAMES[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_dir_init("fuzz_model_dir");
  fz_dir_clear();
  const uint8_t *part[MAX_FILES];
  size_t len[MAX_FILES];
  int n = fz_split(data, size, part, len, MAX_FILES);
  for (int k = 0; k < n; k++)
    if (len[k] >= 1) fz_put(MODEL_DIR_NAMES[part[k][0] % N_NAMES], part[k] + 1, len[k] - 1);
  lg_err err = {{0}};
  lg_model *m = lg_model_load(fz_dir, &err);
  if (m) fz_check_model(m);
  else FZ_REQUIRE(err.msg[0] != 0);
  lg_model_free(m);
  return 0;
}
