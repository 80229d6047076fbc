/*
** CLIP vision tower forward with the per-block cache LeGrad needs (clip.h, spec §4, §4.1).
**
**   patches [G*G, 3P²] (im2col, (c, ky, kx) order) · patch_wᵀ  -> rows n_prefix.. of x
**   x[0] = cls; x += pos (resampled for S != native); x0 = ln_pre(x)
**   blocks l = 0..L-1 (block.c), caches in ws->blocks[l]
**   pooled = ln_post(x_L[0]); embed = pooled · proj
**
** The workspace is one allocation carved into the cache and scratch buffers; its size depends on
** the model and S only.  Attention probabilities are stored only for the blocks ws->keep asks for.
*/
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "clip.h"
#include "ops.h"
#include "posembed.h"

/* Engine-private part of a workspace (ws->scratch). */
typedef struct vit_scratch {
  const lg_model *model;   /* the model this workspace was sized for */
  float *patches;          /* [G*G, 3P²] */
  float *ln, *o, *tmp;     /* [T, D] */
  float *act;              /* [T, F] */
  float *scores;           /* [T, T] */
  float *arena;
} vit_scratch;

#define ALIGN_FLOATS 16     /* 64-byte alignment of every carved buffer */

static size_t up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

/* Carves n floats from *cur (NULL pass: only counts). */
static float *carve(float *base, size_t *cur, size_t n) {
  float *p = base ? base + *cur : NULL;
  *cur += up(n);
  return p;
}

/* Lays out every buffer of ws in `base` (or only counts when base == NULL); returns floats used. */
static size_t layout(const lg_model *m, lg_vit_ws *ws, vit_scratch *s, float *base) {
  const lg_vision_w *v = &m->vision;
  size_t T = (size_t)ws->tokens, D = (size_t)v->cfg.width, F = (size_t)v->cfg.mlp, H = (size_t)v->cfg.heads;
  size_t GG = (size_t)ws->grid * ws->grid, PP3 = 3 * (size_t)v->patch * v->patch, cur = 0;
  int L = v->cfg.layers;
  ws->pos = carve(base, &cur, T * D);
  ws->x0 = carve(base, &cur, T * D);
  for (int l = 0; l < L; l++) {
    lg_vit_block_cache *c = base ? &ws->blocks[l] : NULL;
    int keep_attn = ws->keep == LG_KEEP_ATTN_ALL || (ws->keep == LG_KEEP_ATTN_LAST && l == L - 1);
    float *p[9];
    p[0] = carve(base, &cur, T);          /* ln1_mean */
    p[1] = carve(base, &cur, T);          /* ln1_rstd */
    p[2] = carve(base, &cur, T * 3 * D);  /* qkv */
    p[3] = keep_attn ? carve(base, &cur, H * T * T) : NULL;
    p[4] = carve(base, &cur, T * D);      /* y */
    p[5] = carve(base, &cur, T);          /* ln2_mean */
    p[6] = carve(base, &cur, T);          /* ln2_rstd */
    p[7] = carve(base, &cur, T * F);      /* h */
    p[8] = carve(base, &cur, T * D);      /* x_out */
    if (c) {
      c->x_in = l == 0 ? ws->x0 : ws->blocks[l - 1].x_out;
      c->ln1_mean = p[0]; c->ln1_rstd = p[1]; c->qkv = p[2]; c->attn = p[3]; c->y = p[4];
      c->ln2_mean = p[5]; c->ln2_rstd = p[6]; c->h = p[7]; c->x_out = p[8];
    }
  }
  ws->pooled = carve(base, &cur, D);
  s->patches = carve(base, &cur, GG * PP3);
  s->ln = carve(base, &cur, T * D);
  s->o = carve(base, &cur, T * D);
  s->tmp = carve(base, &cur, T * D);
  s->act = carve(base, &cur, T * F);
  s->scores = carve(base, &cur, T * T);
  return cur;
}

lg_vit_ws *lg_vit_ws_new(const lg_model *m, int size, lg_keep keep, lg_err *err) {
  lg_vit_ws *ws = NULL;
  vit_scratch *s = NULL;
  if (!m) { lg_errf(err, "lg_vit_ws_new: no model"); return NULL; }
  const lg_vision_w *v = &m->vision;
  if (size <= 0) size = v->image_size;
  if (size % v->patch || size > 8192) {
    lg_errf(err, "lg_vit_ws_new: image size %d must be a positive multiple of the patch size %d (at most 8192)",
            size, v->patch);
    return NULL;
  }
  if (keep != LG_KEEP_DEFAULT && keep != LG_KEEP_ATTN_LAST && keep != LG_KEEP_ATTN_ALL) {
    lg_errf(err, "lg_vit_ws_new: keep must be LG_KEEP_DEFAULT, LG_KEEP_ATTN_LAST or LG_KEEP_ATTN_ALL (got %d)", (int)keep);
    return NULL;
  }
  ws = calloc(1, sizeof *ws);
  s = calloc(1, sizeof *s);
  if (!ws || !s) goto oom;
  ws->scratch = s;
  s->model = m;
  ws->size = size;
  ws->grid = size / v->patch;
  ws->n_prefix = v->n_prefix;
  ws->tokens = ws->n_prefix + ws->grid * ws->grid;
  ws->keep = keep;
  if (!(ws->blocks = calloc((size_t)v->cfg.layers, sizeof *ws->blocks))) goto oom;
  size_t n = layout(m, ws, s, NULL);
  if (n > SIZE_MAX / sizeof(float) / 2) goto oom;
  if (posix_memalign((void **)&s->arena, 64, n * sizeof(float))) { s->arena = NULL; goto oom; }
  layout(m, ws, s, s->arena);
  ws->bytes = n * sizeof(float) + sizeof *ws + sizeof *s + (size_t)v->cfg.layers * sizeof *ws->blocks;
  if (lg_posembed_resample(v->pos, v->n_prefix, v->grid, v->cfg.width, ws->grid, ws->pos, err)) {
    lg_vit_ws_free(ws);
    return NULL;
  }
  return ws;
oom:
  lg_errf(err, "lg_vit_ws_new: out of memory for a %dx%d workspace", size, size);
  if (ws) ws->scratch = s;
  lg_vit_ws_free(ws);
  if (!ws) free(s);
  return NULL;
}

void lg_vit_ws_free(lg_vit_ws *ws) {
  if (!ws) return;
  vit_scratch *s = ws->scratch;
  if (s) free(s->arena);
  free(s);
  free(ws->blocks);
  free(ws);
}

/* im2col: pixels [3,S,S] -> patches [G*G, 3P²], patch (gy, gx) -> row gy*G+gx, col (c*P+ky)*P+kx. */
static void im2col(const float *pixels, int S, int P, int G, float *patches) {
  for (int gy = 0; gy < G; gy++)
    for (int gx = 0; gx < G; gx++) {
      float *row = patches + ((long)gy * G + gx) * 3 * P * P;
      for (int c = 0; c < 3; c++)
        for (int ky = 0; ky < P; ky++)
          memcpy(row + (c * P + ky) * P, pixels + ((long)c * S + gy * P + ky) * S + gx * P, (size_t)P * sizeof(float));
    }
}

int lg_vit_forward(const lg_model *m, lg_vit_ws *ws, const float *pixels, float *embed, lg_err *err) {
  if (!m || !ws || !pixels) return lg_errf(err, "lg_vit_forward: model, workspace and pixels are required");
  vit_scratch *s = ws->scratch;
  if (s->model != m) return lg_errf(err, "lg_vit_forward: workspace was created for another model");
  const lg_vision_w *v = &m->vision;
  int D = v->cfg.width, P = v->patch, G = ws->grid, T = ws->tokens, np = ws->n_prefix, L = v->cfg.layers;
  im2col(pixels, ws->size, P, G, s->patches);
  float *x = ws->x0;
  lg_linear(s->patches, G * G, 3 * P * P, v->patch_w, v->patch_b, D, x + (long)np * D);
  if (np) memcpy(x, v->cls, (size_t)D * sizeof(float));
  for (long i = 0; i < (long)T * D; i++) x[i] += ws->pos[i];
  lg_layernorm(x, T, D, v->ln_pre_w, v->ln_pre_b, v->cfg.ln_eps, x, NULL, NULL);
  for (int l = 0; l < L; l++) {
    lg_vit_block_cache *c = &ws->blocks[l];
    lg_block_bufs b = {c->ln1_mean, c->ln1_rstd, c->qkv, c->attn, c->y, c->ln2_mean, c->ln2_rstd, c->h,
                       c->x_out, s->ln, s->o, s->tmp, s->act, s->scores};
    lg_block_forward(&v->blocks[l], &v->cfg, T, 0, c->x_in, &b);
  }
  lg_layernorm(ws->blocks[L - 1].x_out, 1, D, v->ln_post_w, v->ln_post_b, v->cfg.ln_eps, ws->pooled, NULL, NULL);
  if (embed)
    cblas_sgemv(CblasRowMajor, CblasTrans, D, m->embed_dim, 1.0f, v->proj, m->embed_dim, ws->pooled, 1, 0.0f,
                embed, 1);
  return 0;
}
