/*
** CLIP configuration files -> hyper-parameters (spec clip-engine.md §1.2, §2.1, §2.2, §5).
**
**   lg_clip_cfg cfg;
**   lg_cfg_defaults(&cfg);                                   // HF CLIPConfig class defaults
**   lg_cfg_parse_hf(text, n, "config.json", &cfg, &err);     // sparse configs keep the defaults
**   lg_cfg_parse_openclip(text, n, "open_clip_config.json", &cfg, &err);
**   lg_cfg_parse_hf_preprocessor(text, n, "preprocessor_config.json", &cfg.pre, &err);
**
** Parsers validate ranges (positive sizes, heads dividing the width, known activations) and name
** the file and key in their messages.  Nothing here touches weights; model_load.c checks the
** weights against the config.
*/
#ifndef LEGRAD_MODEL_CONFIG_H
#define LEGRAD_MODEL_CONFIG_H
#include <stddef.h>

#include "clip.h"

typedef struct lg_clip_cfg {
  lg_tower_cfg vis, txt;
  int patch, image_size;     /* vision patch P and native side S */
  int vocab, ctx;            /* text vocabulary and context length */
  int embed_dim;             /* E */
  int text_in_config;        /* the config describes a text tower (0 for vision-only configs) */
  int act_given;             /* 1 when the config names the activation (else the loader decides) */
  int pre_given;             /* 1 when `pre` came from a config */
  lg_preprocess_cfg pre;
} lg_clip_cfg;

/* HF CLIPConfig class defaults (text 49408/512/2048/8 heads/12 layers/77; vision 768/3072/12/12,
** image 224, patch 32; quick_gelu; eps 1e-5; projection 512) and OpenAI preprocessing at 224. */
void lg_cfg_defaults(lg_clip_cfg *cfg);

/* OpenAI/CLIP preprocessing: mean/std of OPENAI_DATASET, resize-shortest + centre crop at `size`. */
void lg_cfg_openai_preprocess(lg_preprocess_cfg *pre, int size);

/* HF config.json (CLIPConfig, or CLIPVisionConfig for vision-only models). */
int lg_cfg_parse_hf(const char *text, size_t n, const char *name, lg_clip_cfg *cfg, lg_err *err);

/* open_clip_config.json ({"model_cfg": ..., "preprocess_cfg": ...}) or a bare model_cfg. */
int lg_cfg_parse_openclip(const char *text, size_t n, const char *name, lg_clip_cfg *cfg, lg_err *err);

/* HF preprocessor_config.json (CLIPImageProcessor). */
int lg_cfg_parse_hf_preprocessor(const char *text, size_t n, const char *name,
                                 lg_preprocess_cfg *pre, lg_err *err);

/* Activation from an HF hidden_act string; -1 when unknown. */
int lg_act_from_hf(const char *s);

#endif
