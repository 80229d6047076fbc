/*
** libFuzzer target for the config parsers (HF config.json, open_clip_config.json,
** preprocessor_config.json).  The first input byte picks the parser, the rest is the JSON text.
**
**   make fuzz && nice build/fuzz/fuzz_config -max_total_time=300 -max_len=4096 fuzz/corpus/config
**
** Properties checked (a violation aborts): failure leaves a non-empty message; success leaves
** positive sizes within the parsers' bounds, heads dividing widths, a known activation, finite
** normalisation constants with positive std.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_config.h"

#define REQUIRE(c)                                                     \
  do {                                                                 \
    if (!(c)) {                                                        \
      fprintf(stderr, "fuzz_config: property failed: %s\n", #c);      \
      abort();                                                         \
    }                                                                  \
  } while (0)

static void check_tower(const lg_tower_cfg *t) {
  REQUIRE(t->width >= 1 && t->heads >= 1 && t->layers >= 1 && t->mlp >= 1);
  REQUIRE(t->width % t->heads == 0);
  REQUIRE(t->ln_eps > 0 && isfinite(t->ln_eps));
  REQUIRE(t->act == LG_ACT_QUICKGELU || t->act == LG_ACT_GELU || t->act == LG_ACT_GELU_TANH);
}

static void check_pre(const lg_preprocess_cfg *p) {
  REQUIRE(p->size >= 1);
  REQUIRE(p->resize == LG_RESIZE_CROP || p->resize == LG_RESIZE_SQUASH);
  for (int i = 0; i < 3; i++) REQUIRE(isfinite(p->mean[i]) && isfinite(p->std[i]) && p->std[i] > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  lg_err err = {{0}};
  const char *text = (const char *)data + 1;
  size_t n = size - 1;
  int which = data[0] % 3, rc;
  if (which == 2) {
    lg_preprocess_cfg pre;
    lg_cfg_openai_preprocess(&pre, 224);
    rc = lg_cfg_parse_hf_preprocessor(text, n, "preprocessor_config.json", &pre, &err);
    if (rc == 0) check_pre(&pre);
  } else {
    lg_clip_cfg cfg;
    lg_cfg_defaults(&cfg);
    rc = which == 0 ? lg_cfg_parse_hf(text, n, "config.json", &cfg, &err)
                    : lg_cfg_parse_openclip(text, n, "open_clip_config.json", &cfg, &err);
    if (rc == 0) {
      check_tower(&cfg.vis);
      check_tower(&cfg.txt);
      REQUIRE(cfg.patch >= 1 && cfg.patch <= cfg.image_size);
      REQUIRE(cfg.embed_dim >= 1 && cfg.vocab >= 1 && cfg.ctx >= 1);
      check_pre(&cfg.pre);
    }
  }
  REQUIRE(rc == 0 || err.msg[0] != 0);
  return 0;
}
