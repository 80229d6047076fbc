/*
** Loading CLIP weights from an opened safetensors set into an lg_model, for both key namings
** (spec clip-engine.md §2.1, §2.3).  Internal to the engine; model_load.c drives it.
**
** Every weight is widened to fp32 into model-owned memory; HF q/k/v are fused into one [3D, D]
** in_proj (rows q; k; v) and HF projections transposed to [D, E], so both namings end up in the
** same in-memory layout (and the same fingerprint).  Each tensor's shape is checked against the
** configuration; messages name the checkpoint file, the tensor, the shape expected (and which
** config it came from) and the shape found.
*/
#ifndef LEGRAD_MODEL_TENSORS_H
#define LEGRAD_MODEL_TENSORS_H
#include "clip.h"
#include "model_config.h"
#include "safetensors.h"

/* Owned memory of a model (lg_model.storage). */
typedef struct lg_model_store {
  float **bufs;
  int n_bufs, cap;
  lg_block_w *vblocks, *tblocks;
} lg_model_store;

void lg_model_store_free(lg_model_store *s);

/* Detects the naming from the keys (and a "module." prefix).  Returns 0, or -1 for unsupported
** layouts (SigLIP, timm trunks, ResNet towers, no vision tower) with a message naming `file`. */
int lg_detect_naming(const lg_st *st, const char *file, lg_naming *naming, const char **prefix,
                     lg_err *err);

/* Whether the checkpoint holds a text tower. */
int lg_has_text_weights(const lg_st *st, lg_naming naming, const char *prefix);

/* Fills cfg's sizes from tensor shapes (OpenAI build_model rules; heads = width/64). */
int lg_cfg_from_shapes(const lg_st *st, lg_naming naming, const char *prefix, const char *file,
                       lg_clip_cfg *cfg, lg_err *err);

/* Loads all weights of m (m->naming, m->vision.cfg etc. set from cfg).  cfg_name names where the
** expected shapes came from (e.g. "config.json", or "shapes"). */
int lg_load_weights(lg_model *m, const lg_st *st, const char *prefix, const lg_clip_cfg *cfg,
                    const char *file, const char *cfg_name, lg_err *err);

#endif
