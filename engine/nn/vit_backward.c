/*
** Top-down backward pass through the CLIP vision tower; see vit_backward.h, docs/backward.md.
**
**   readout   e = ln_post(pool(x_out^l)) @ proj            (pool: CLS token or mean of T tokens)
**             d_pool = LN_postᵀ(proj · d_e)                [D]
**             d_x_out^l = d_pool on row 0 (CLS) | d_pool / T on every row (mean)
**   blocks    l = top .. bottom: lg_block_backward (backward.c), in place on one running [T,D]
**             gradient, copied out to the kept buffers
**
** The lg_vit_grads allocation is one arena: d_x0, the kept per-block buffers, then the running
** gradient [T,D] and lg_block_backward's scratch.
*/
#include "vit_backward.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backward.h"
#include "ops.h"

typedef struct grads_scratch {
  float *arena;
  float *cur;      /* [T,D] running gradient */
  float *block;    /* lg_block_backward_floats() */
} grads_scratch;

#define ALIGN_FLOATS 16

static size_t up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

/* Carves n floats from *cur (NULL base: only counts). */
static float *carve(float *base, size_t *cur, size_t n) {
  float *p = base ? base + *cur : NULL;
  *cur += up(n);
  return p;
}

/* Lays out g's buffers in base (or only counts when base == NULL); returns floats used. */
static size_t layout(const lg_model *m, lg_vit_grads *g, grads_scratch *s, float *base) {
  const lg_tower_cfg *c = &m->vision.cfg;
  size_t T = (size_t)g->tokens, D = (size_t)c->width, H = (size_t)c->heads, cur = 0;
  float *p;
  p = carve(base, &cur, T * D);
  if (base) g->d_x0 = p;
  for (int l = 0; l < c->layers; l++) {
    lg_vit_block_grads b = {0};
    if (g->keep & LG_GRAD_OUT) b.d_out = carve(base, &cur, T * D);
    if (g->keep & LG_GRAD_LN1) b.d_ln1 = carve(base, &cur, T * D);
    if (g->keep & LG_GRAD_ATTN) b.d_attn = carve(base, &cur, H * T * T);
    if (g->keep & LG_GRAD_MID) b.d_y = carve(base, &cur, T * D);
    if (base) g->blocks[l] = b;
  }
  p = carve(base, &cur, T * D);
  if (base) s->cur = p;
  p = carve(base, &cur, lg_block_backward_floats(c, g->tokens));
  if (base) s->block = p;
  return cur;
}

lg_vit_grads *lg_vit_grads_new(const lg_model *m, const lg_vit_ws *ws, unsigned keep, lg_err *err) {
  lg_vit_grads *g = NULL;
  grads_scratch *s = NULL;
  if (!m || !ws) {
    lg_errf(err, "lg_vit_grads_new: model and workspace are required");
    return NULL;
  }
  if (keep & ~(unsigned)LG_GRAD_ALL) {
    lg_errf(err, "lg_vit_grads_new: keep 0x%x has bits outside LG_GRAD_ALL (0x%x)", keep,
            (unsigned)LG_GRAD_ALL);
    return NULL;
  }
  const lg_tower_cfg *c = &m->vision.cfg;
  if (c->layers < 1 || c->heads < 1 || c->width % c->heads) {
    lg_errf(err, "lg_vit_grads_new: vision tower has %d blocks, width %d, %d heads; expected at "
                 "least one block and a width divisible by the heads", c->layers, c->width, c->heads);
    return NULL;
  }
  if (ws->tokens < 1 || !ws->blocks) {
    lg_errf(err, "lg_vit_grads_new: workspace has %d tokens and no block caches", ws->tokens);
    return NULL;
  }
  g = calloc(1, sizeof *g);
  s = calloc(1, sizeof *s);
  if (!g || !s) goto oom;
  g->scratch = s;
  g->model = m;
  g->keep = keep;
  g->tokens = ws->tokens;
  g->top = g->bottom = -1;
  if (!(g->blocks = calloc((size_t)c->layers, sizeof *g->blocks))) goto oom;
  size_t n = layout(m, g, s, NULL);
  if (n > SIZE_MAX / sizeof(float) / 2) goto oom;
  if (posix_memalign((void **)&s->arena, 64, n * sizeof(float))) {
    s->arena = NULL;
    goto oom;
  }
  layout(m, g, s, s->arena);
  g->bytes = n * sizeof(float) + sizeof *g + sizeof *s + (size_t)c->layers * sizeof *g->blocks;
  return g;
oom:
  lg_errf(err, "lg_vit_grads_new: out of memory for the gradients of %d tokens", ws->tokens);
  if (g) g->scratch = s;
  lg_vit_grads_free(g);
  if (!g) free(s);
  return NULL;
}

void lg_vit_grads_free(lg_vit_grads *g) {
  if (!g) return;
  grads_scratch *s = g->scratch;
  if (s) free(s->arena);
  free(s);
  free(g->blocks);
  free(g);
}

float lg_score_backward(const float *img, const float *txt, int E, float scale, float *d_img) {
  double ni = 0, nt = 0, dot = 0;
  for (int j = 0; j < E; j++) {
    ni += (double)img[j] * img[j];
    nt += (double)txt[j] * txt[j];
    dot += (double)img[j] * txt[j];
  }
  ni = fmax(sqrt(ni), 1e-12);
  nt = fmax(sqrt(nt), 1e-12);
  double cosv = dot / (ni * nt);
  /* s = scale <e/|e|, t/|t|>  ->  ds/de = scale (t/|t| - cos e/|e|) / |e| */
  for (int j = 0; j < E; j++) d_img[j] = (float)(scale * (txt[j] / nt - cosv * img[j] / ni) / ni);
  return (float)(scale * cosv);
}

/* Checks model, workspace and a block index shared by the readout and backward entry points. */
static int check_ws(const char *fn, const lg_model *m, const lg_vit_ws *ws, int block, lg_err *err) {
  if (!m || !ws) return lg_errf(err, "%s: model and workspace are required", fn);
  const lg_vision_w *v = &m->vision;
  if (!ws->blocks || ws->tokens < 1)
    return lg_errf(err, "%s: workspace has no block caches", fn);
  if (block < 0 || block >= v->cfg.layers)
    return lg_errf(err, "%s: block %d out of range (expected 0..%d)", fn, block, v->cfg.layers - 1);
  if (!ws->blocks[block].x_out)
    return lg_errf(err, "%s: block %d has no forward cache (run lg_vit_forward first)", fn, block);
  return 0;
}

/* Pooled vector of block `block`'s output [D] (mean accumulated in double). */
static void pool_tokens(const lg_vit_ws *ws, int block, int D, lg_pool pool, float *out) {
  const float *x = ws->blocks[block].x_out;
  int T = ws->tokens;
  if (pool == LG_POOL_CLS) {
    memcpy(out, x, (size_t)D * sizeof(float));
    return;
  }
  for (int j = 0; j < D; j++) {
    double acc = 0;
    for (int i = 0; i < T; i++) acc += x[(size_t)i * D + j];
    out[j] = (float)(acc / T);
  }
}

int lg_vit_readout(const lg_model *m, const lg_vit_ws *ws, int block, lg_pool pool, float *emb,
                   lg_err *err) {
  if (check_ws("lg_vit_readout", m, ws, block, err)) return -1;
  if (!emb) return lg_errf(err, "lg_vit_readout: emb is NULL");
  if (pool != LG_POOL_CLS && pool != LG_POOL_MEAN)
    return lg_errf(err, "lg_vit_readout: pool must be LG_POOL_CLS or LG_POOL_MEAN (got %d)", (int)pool);
  if (pool == LG_POOL_CLS && ws->n_prefix < 1)
    return lg_errf(err, "lg_vit_readout: LG_POOL_CLS needs a CLS token; this model has none (use LG_POOL_MEAN)");
  const lg_vision_w *v = &m->vision;
  int D = v->cfg.width;
  float *z = malloc((size_t)D * sizeof(float));
  if (!z) return lg_errf(err, "lg_vit_readout: out of memory");
  pool_tokens(ws, block, D, pool, z);
  lg_layernorm(z, 1, D, v->ln_post_w, v->ln_post_b, v->cfg.ln_eps, z, NULL, NULL);
  cblas_sgemv(CblasRowMajor, CblasTrans, D, m->embed_dim, 1.0f, v->proj, m->embed_dim, z, 1, 0.0f,
              emb, 1);
  free(z);
  return 0;
}

int lg_vit_readout_backward(const lg_model *m, const lg_vit_ws *ws, int block, lg_pool pool,
                            const float *d_emb, float *d_x, lg_err *err) {
  if (check_ws("lg_vit_readout_backward", m, ws, block, err)) return -1;
  if (!d_emb || !d_x) return lg_errf(err, "lg_vit_readout_backward: d_emb and d_x are required");
  if (pool != LG_POOL_CLS && pool != LG_POOL_MEAN)
    return lg_errf(err, "lg_vit_readout_backward: pool must be LG_POOL_CLS or LG_POOL_MEAN (got %d)",
                   (int)pool);
  if (pool == LG_POOL_CLS && ws->n_prefix < 1)
    return lg_errf(err, "lg_vit_readout_backward: LG_POOL_CLS needs a CLS token; this model has none "
                        "(use LG_POOL_MEAN)");
  const lg_vision_w *v = &m->vision;
  int D = v->cfg.width, T = ws->tokens;
  float mean, rstd, *z = malloc(2 * (size_t)D * sizeof(float));
  if (!z) return lg_errf(err, "lg_vit_readout_backward: out of memory");
  float *dz = z + D;
  pool_tokens(ws, block, D, pool, z);
  lg_layernorm(z, 1, D, v->ln_post_w, v->ln_post_b, v->cfg.ln_eps, dz, &mean, &rstd);
  /* d ln_post output [D] = proj[D,E] · d_emb[E] */
  cblas_sgemv(CblasRowMajor, CblasNoTrans, D, m->embed_dim, 1.0f, v->proj, m->embed_dim, d_emb, 1,
              0.0f, dz, 1);
  lg_layernorm_backward(z, 1, D, &mean, &rstd, v->ln_post_w, NULL, NULL, dz);
  if (pool == LG_POOL_CLS) {
    memset(d_x, 0, (size_t)T * D * sizeof(float));
    memcpy(d_x, dz, (size_t)D * sizeof(float));
  } else {
    for (int j = 0; j < D; j++) dz[j] /= (float)T;
    for (int i = 0; i < T; i++) memcpy(d_x + (size_t)i * D, dz, (size_t)D * sizeof(float));
  }
  free(z);
  return 0;
}

int lg_vit_backward_blocks(const lg_model *m, const lg_vit_ws *ws, int top, const float *d_top,
                           int bottom, lg_vit_grads *g, lg_err *err) {
  static const char fn[] = "lg_vit_backward_blocks";
  if (check_ws(fn, m, ws, top, err)) return -1;
  if (!d_top || !g) return lg_errf(err, "%s: d_top and grads are required", fn);
  if (bottom < 0 || bottom > top)
    return lg_errf(err, "%s: bottom block %d out of range (expected 0..%d, the top block)", fn,
                   bottom, top);
  if (g->model != m || g->tokens != ws->tokens)
    return lg_errf(err, "%s: gradients were allocated for another model or token count (%d, "
                        "workspace has %d)", fn, g->tokens, ws->tokens);
  const lg_vision_w *v = &m->vision;
  const size_t TD = (size_t)ws->tokens * v->cfg.width;
  for (int l = bottom; l <= top; l++) {
    const lg_vit_block_cache *c = &ws->blocks[l];
    if (!c->x_in || !c->ln1_mean || !c->ln1_rstd || !c->qkv || !c->y || !c->ln2_mean ||
        !c->ln2_rstd || !c->h)
      return lg_errf(err, "%s: block %d has no forward cache (run lg_vit_forward first)", fn, l);
  }
  grads_scratch *s = g->scratch;
  memcpy(s->cur, d_top, TD * sizeof(float));
  if (g->blocks[top].d_out) memcpy(g->blocks[top].d_out, d_top, TD * sizeof(float));
  for (int l = top; l >= bottom; l--) {
    const lg_vit_block_grads *b = &g->blocks[l];
    lg_block_grads bg = {b->d_attn, b->d_ln1, b->d_y};
    lg_block_backward(&v->blocks[l], &v->cfg, ws->tokens, 0, &ws->blocks[l], s->cur, s->cur, &bg,
                      s->block);
    float *below = l > 0 ? g->blocks[l - 1].d_out : g->d_x0;
    if (below) memcpy(below, s->cur, TD * sizeof(float));
  }
  g->top = top;
  g->bottom = bottom;
  return 0;
}

int lg_vit_backward(const lg_model *m, const lg_vit_ws *ws, const float *d_emb, lg_vit_grads *g,
                    lg_err *err) {
  if (!m || !ws || !g) return lg_errf(err, "lg_vit_backward: model, workspace and grads are required");
  if (g->model != m || g->tokens != ws->tokens)
    return lg_errf(err, "lg_vit_backward: gradients were allocated for another model or token count "
                        "(%d, workspace has %d)", g->tokens, ws->tokens);
  int top = m->vision.cfg.layers - 1;
  grads_scratch *s = g->scratch;
  /* The readout gradient is built in the block scratch, which lg_vit_backward_blocks copies from
  ** into the running gradient before it uses the scratch itself. */
  if (lg_vit_readout_backward(m, ws, top, LG_POOL_CLS, d_emb, s->block, err)) return -1;
  return lg_vit_backward_blocks(m, ws, top, s->block, 0, g, err);
}
