/*
** Top-down backward pass through the CLIP vision tower (docs/backward.md): gradients of a score
** at every block's output, LN1 output, mid-block residual and attention probabilities, from one
** cached forward (lg_vit_forward; any lg_keep: blocks whose probabilities were not kept recompute
** them from qkv).
**
**   lg_vit_grads *g = lg_vit_grads_new(m, ws, LG_GRAD_OUT | LG_GRAD_ATTN, &err);
**   lg_vit_forward(m, ws, pixels, img, &err);
**   // CLIP score s = exp(logit_scale)·cos(img, txt), CLS-pooled (the authors' CLIP):
**   lg_score_backward(img, txt, E, expf(m->logit_scale), d_img);
**   lg_vit_backward(m, ws, d_img, g, &err);           // blocks L-1 .. 0
**   g->blocks[l].d_attn   [H,T,T]   ∂s/∂A^l          g->blocks[l].d_out  [T,D]  ∂s/∂x_out^l
**   g->d_x0               [T,D]     ∂s/∂(block 0 input)
**
**   // LeGrad's per-layer score s^l (legrad.md §1.1): mean-pooled readout at block l's output
**   lg_vit_readout(m, ws, l, LG_POOL_MEAN, e, &err);
**   lg_score_backward(e, txt, E, 1.0f, d_e);
**   lg_vit_readout_backward(m, ws, l, LG_POOL_MEAN, d_e, d_x, &err);   // d_x [T,D]
**   lg_vit_backward_blocks(m, ws, l, d_x, l, g, &err);                  // block l only
**
** Shapes: T tokens (n_prefix + G²), D width, H heads, E embedding dim, L blocks.  A gradient
** buffer of a block the last call did not run through (outside g->bottom..g->top) is stale.
**
** Threading: the backward only reads the model and the workspace; an lg_vit_grads belongs to one
** thread at a time (like an lg_vit_ws).  No global state.
*/
#ifndef LEGRAD_NN_VIT_BACKWARD_H
#define LEGRAD_NN_VIT_BACKWARD_H
#include <stddef.h>

#include "clip.h"
#include "lg_error.h"

/* Which per-block gradients an lg_vit_grads keeps (bit flags). */
enum {
  LG_GRAD_OUT = 1,    /* d_out  [T,D]   at each block's output (block l's input is block l-1's) */
  LG_GRAD_LN1 = 2,    /* d_ln1  [T,D]   at each block's LN1 output                              */
  LG_GRAD_ATTN = 4,   /* d_attn [H,T,T] at each block's post-softmax attention probabilities    */
  LG_GRAD_MID = 8,    /* d_y    [T,D]   at y = x_in + attention branch (LN2's input)            */
  LG_GRAD_ALL = 15
};

/* Token pooling of a readout e = ln_post(pool(x)) @ proj. */
typedef enum lg_pool {
  LG_POOL_CLS = 0,    /* token 0, as CLIP's own embedding (the forward's `embed` at block L-1) */
  LG_POOL_MEAN = 1    /* mean over all T tokens, CLS included (LeGrad's readout) */
} lg_pool;

typedef struct lg_vit_block_grads {
  float *d_out, *d_ln1, *d_attn, *d_y;   /* see LG_GRAD_*; NULL when not kept */
} lg_vit_block_grads;

typedef struct lg_vit_grads {
  const lg_model *model;       /* the model it was sized for */
  unsigned keep;               /* LG_GRAD_* flags */
  int tokens;                  /* T */
  int top, bottom;             /* blocks the last backward ran through (-1, -1 before any) */
  float *d_x0;                 /* [T,D] gradient at block 0's input (after ln_pre), when bottom = 0 */
  lg_vit_block_grads *blocks;  /* [L] */
  void *scratch;               /* engine-private */
  size_t bytes;                /* total bytes allocated */
} lg_vit_grads;

/* Allocates gradient buffers for the workspace's token count.  keep: LG_GRAD_* flags (0 keeps
** only d_x0). */
lg_vit_grads *lg_vit_grads_new(const lg_model *m, const lg_vit_ws *ws, unsigned keep, lg_err *err);
void lg_vit_grads_free(lg_vit_grads *g);

/* s = scale · cos(img, txt) for embeddings of length E (neither needs to be normalised; norms
** below 1e-12 are clamped as F.normalize does).  d_img [E] = ∂s/∂img.  Returns s. */
float lg_score_backward(const float *img, const float *txt, int E, float scale, float *d_img);

/* The readout of block `block`'s output: emb [E] = ln_post(pool(x_out^block)) @ proj. */
int lg_vit_readout(const lg_model *m, const lg_vit_ws *ws, int block, lg_pool pool, float *emb,
                   lg_err *err);
/* Its backward: d_x [T,D] = ∂s/∂x_out^block for d_emb [E] = ∂s/∂emb. */
int lg_vit_readout_backward(const lg_model *m, const lg_vit_ws *ws, int block, lg_pool pool,
                            const float *d_emb, float *d_x, lg_err *err);

/* Backward from d_top [T,D] at the output of block `top` down through block `bottom` (0 <= bottom
** <= top < L), filling the kept gradients of blocks bottom..top (and d_x0 when bottom = 0). */
int lg_vit_backward_blocks(const lg_model *m, const lg_vit_ws *ws, int top, const float *d_top,
                           int bottom, lg_vit_grads *g, lg_err *err);

/* Backward of CLIP's image embedding (CLS readout of the last block; models with a CLS token):
** from d_emb [E] = ∂s/∂embed through every block down to d_x0. */
int lg_vit_backward(const lg_model *m, const lg_vit_ws *ws, const float *d_emb, lg_vit_grads *g,
                    lg_err *err);

#endif
