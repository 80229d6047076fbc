/*
** The CLIP engine: model loading and the two towers.  No SQLite dependency.
**
**   lg_err err;
**   lg_model *m = lg_model_load("/models/clip-vit-base-patch16", &err);   // dir or .safetensors
**   lg_vit_ws *ws = lg_vit_ws_new(m, 224, LG_KEEP_DEFAULT, &err);          // once per image size
**   lg_vit_forward(m, ws, pixels, img_emb, &err);     // pixels: [3,S,S] normalised, CHW, fp32
**   lg_text_forward(m, ids, n_ids, txt_emb, &err);    // ids: [SOT ... EOT pad...], n_ids <= ctx
**   lg_vit_ws_free(ws); lg_model_free(m);
**
** Threading: an lg_model is immutable after lg_model_load() and may be shared by any number of
** threads; an lg_vit_ws belongs to one thread at a time.  No global mutable state.
**
** Shapes below: T = tokens (grid*grid + 1 with CLS), D = width, H = heads, d = D/H, F = MLP width,
** E = embedding (projection) dim, S = image side in pixels, P = patch size, G = S/P.
** Matrices are row-major.  Linear weights are stored as PyTorch nn.Linear does: [out, in].
*/
#ifndef LEGRAD_CLIP_H
#define LEGRAD_CLIP_H
#include <stddef.h>
#include <stdint.h>

#include "image.h"     /* lg_preprocess_cfg: the model's input transform */
#include "lg_error.h"

typedef enum lg_act {
  LG_ACT_QUICKGELU = 0, /* x * sigmoid(1.702 x): OpenAI weights, HF "quick_gelu"        */
  LG_ACT_GELU = 1,      /* exact erf GELU: LAION/OpenCLIP weights, HF "gelu"              */
  LG_ACT_GELU_TANH = 2  /* tanh approximation: HF "gelu_pytorch_tanh", "gelu_new"         */
} lg_act;

typedef enum lg_naming { LG_NAMING_HF = 0, LG_NAMING_OPENCLIP = 1 } lg_naming;

/* One pre-LN transformer block's weights (all fp32, owned by the model). */
typedef struct lg_block_w {
  const float *ln1_w, *ln1_b;   /* [D]                                             */
  const float *qkv_w, *qkv_b;   /* [3D, D], [3D]   rows: q; k; v (fused)          */
  const float *out_w, *out_b;   /* [D, D], [D]                                     */
  const float *ln2_w, *ln2_b;   /* [D]                                             */
  const float *fc1_w, *fc1_b;   /* [F, D], [F]                                     */
  const float *fc2_w, *fc2_b;   /* [D, F], [D]                                     */
  const float *ls1, *ls2;       /* [D] LayerScale gammas, NULL when absent         */
} lg_block_w;

typedef struct lg_tower_cfg {
  int width;      /* D */
  int layers;     /* L */
  int heads;      /* H */
  int mlp;        /* F */
  float ln_eps;   /* 1e-5 for CLIP */
  lg_act act;
} lg_tower_cfg;

typedef struct lg_vision_w {
  lg_tower_cfg cfg;
  int patch;          /* P */
  int image_size;     /* native S (224 for B/16) */
  int grid;           /* native G = S/P */
  int n_prefix;       /* tokens before the patch grid: 1 (CLS) for CLIP; 0 for models without CLS */
  const float *patch_w;    /* [D, 3*P*P]  conv1 weight flattened in (c, ky, kx) order */
  const float *patch_b;    /* [D] or NULL (CLIP has no conv bias) */
  const float *cls;        /* [D] */
  const float *pos;        /* [G*G+1, D] native position embeddings (row 0 = CLS) */
  const float *ln_pre_w, *ln_pre_b;   /* [D] */
  lg_block_w *blocks;                  /* [L] */
  const float *ln_post_w, *ln_post_b; /* [D] */
  const float *proj;       /* [D, E]  used as x @ proj (OpenCLIP orientation; HF is transposed at load) */
} lg_vision_w;

typedef struct lg_text_w {
  lg_tower_cfg cfg;
  int vocab;          /* V */
  int ctx;            /* context length (77) */
  const float *tok_emb;    /* [V, D] */
  const float *pos;        /* [ctx, D] */
  lg_block_w *blocks;      /* [L] */
  const float *ln_final_w, *ln_final_b; /* [D] */
  const float *proj;       /* [D, E]  x @ proj */
} lg_text_w;

typedef struct lg_tokenizer lg_tokenizer; /* tokenizer.h */

typedef struct lg_model {
  char path[4096];          /* what was loaded (directory or file), as given */
  char family[32];          /* "clip" */
  lg_naming naming;
  int embed_dim;            /* E */
  float logit_scale;        /* log-space, as stored; logits use expf(logit_scale) */
  lg_vision_w vision;
  int has_text;             /* 0 for vision-only checkpoints */
  lg_text_w text;
  int sot_id, eot_id;       /* start/end-of-text ids (49406/49407 for the OpenAI vocab) */
  lg_tokenizer *tokenizer;  /* NULL when the directory has no tokenizer files and none was found */
  lg_preprocess_cfg pre;
  int64_t n_params;         /* parameters actually loaded */
  char fingerprint[33];     /* 128-bit hex digest of the loaded weights + config: cache key */
  void *storage;            /* engine-private: owned buffers / mappings */
} lg_model;

/* Loads a model directory (HF CLIPModel or OpenCLIP layout) or a single .safetensors file.
** Returns NULL and fills err on failure. */
lg_model *lg_model_load(const char *path, lg_err *err);
void lg_model_free(lg_model *m);

/* ---- Vision forward with per-block cache ---------------------------------------------------- */

/* What the forward keeps for every block l (all owned by the workspace, sized once). */
typedef struct lg_vit_block_cache {
  float *x_in;             /* [T, D]  block input (alias of the previous block's x_out)   */
  float *ln1_mean, *ln1_rstd; /* [T]  LN1 statistics                                      */
  float *qkv;              /* [T, 3D] q (unscaled), k, v, each incl. bias; head h uses
                              columns h*d .. h*d+d-1 of its D-wide section                 */
  float *attn;             /* [H, T, T] post-softmax probabilities, or NULL when this
                              block's attention was not kept (see lg_keep)                 */
  float *y;                /* [T, D]  x_in + attention branch (input of LN2)              */
  float *ln2_mean, *ln2_rstd; /* [T]  LN2 statistics                                      */
  float *h;                /* [T, F]  MLP pre-activation (fc1 output, before act)          */
  float *x_out;            /* [T, D]  block output                                        */
} lg_vit_block_cache;

/* Which attention maps to keep ([H,T,T] per block is the big part of the cache at 448). */
typedef enum lg_keep {
  LG_KEEP_DEFAULT = 0,     /* keep everything except attention probabilities */
  LG_KEEP_ATTN_LAST = 1,   /* + the last block's attention */
  LG_KEEP_ATTN_ALL = 2     /* + every block's attention */
} lg_keep;

typedef struct lg_vit_ws {
  int size;                /* S */
  int grid;                /* G */
  int tokens;              /* T = n_prefix + G*G */
  int n_prefix;            /* leading non-patch tokens (1 = CLS for CLIP); patch token (r, c) is
                              row n_prefix + r*G + c */
  lg_keep keep;
  float *pos;              /* [T, D] position embeddings for this size (resampled if S != native) */
  float *x0;               /* [T, D] after ln_pre = block 0 input */
  lg_vit_block_cache *blocks; /* [L] */
  float *pooled;           /* [D] ln_post(CLS) */
  void *scratch;           /* engine-private scratch buffers */
  size_t bytes;            /* total bytes allocated by this workspace */
} lg_vit_ws;

/* Allocates a workspace for images of side S (a multiple of the patch size; S <= 0: the native
** size).  For S != native the position embeddings are resampled once here (posembed.h). */
lg_vit_ws *lg_vit_ws_new(const lg_model *m, int size, lg_keep keep, lg_err *err);
void lg_vit_ws_free(lg_vit_ws *ws);

/* Runs the vision tower.  pixels: [3, S, S] normalised CHW.  embed: [E] (not normalised), may be
** NULL.  Fills ws->blocks[*] caches. */
int lg_vit_forward(const lg_model *m, lg_vit_ws *ws, const float *pixels, float *embed, lg_err *err);

/* ---- Text forward ---------------------------------------------------------------------------- */

/* Runs the text tower on token ids (SOT ... EOT, optionally padded; n_ids <= ctx).  Pools at the
** first EOT (m->eot_id) and computes only positions up to it.  embed: [E] (not normalised). */
int lg_text_forward(const lg_model *m, const int32_t *ids, int n_ids, float *embed, lg_err *err);

/* ---- Small helpers ---------------------------------------------------------------------------- */

/* CLIP logit: expf(m->logit_scale) * cos(img, txt) for unnormalised embeddings of length E. */
float lg_clip_logit(const lg_model *m, const float *img, const float *txt);

/* In-place L2 normalisation; returns the original norm. */
float lg_l2_normalize(float *v, int n);
/* Dot product. */
float lg_dot(const float *a, const float *b, int n);

#endif
