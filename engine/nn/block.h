/*
** One pre-LN transformer block forward, shared by the vision and text towers (spec §4):
**
**   y     = x_in + ls1 ⊙ (Attn(LN1(x_in)) · W_outᵀ + b_out)
**   x_out = y + ls2 ⊙ (act(LN2(y) · W_fc1ᵀ + b_fc1) · W_fc2ᵀ + b_fc2)
**   Attn: qkv = LN1(x)·W_inᵀ + b_in; per head h (d = D/H): A_h = softmax(q_h k_hᵀ · d^-0.5 [+ causal
**         mask]); O[:, h*d:(h+1)*d] = A_h v_h.
**
** Every linear layer and both attention products are OpenBLAS sgemm calls.  The caller provides
** the buffers (sizes for T tokens, width D, MLP width F, H heads):
*/
#ifndef LEGRAD_BLOCK_H
#define LEGRAD_BLOCK_H
#include "clip.h"

typedef struct lg_block_bufs {
  /* outputs kept for LeGrad (see lg_vit_block_cache) */
  float *ln1_mean, *ln1_rstd; /* [T] or NULL */
  float *qkv;                 /* [T, 3D] */
  float *attn;                /* [H, T, T], or NULL to use `scores` per head (probabilities dropped) */
  float *y;                   /* [T, D] */
  float *ln2_mean, *ln2_rstd; /* [T] or NULL */
  float *h;                   /* [T, F] fc1 output before the activation */
  float *x_out;               /* [T, D] */
  /* scratch */
  float *ln;                  /* [T, D] LayerNorm output */
  float *o;                   /* [T, D] concatenated head outputs */
  float *tmp;                 /* [T, D] branch output before the residual add */
  float *act;                 /* [T, F] activation output */
  float *scores;              /* [T, T] one head's probabilities when attn == NULL */
} lg_block_bufs;

/* Runs the block on x_in [T, D] (x_in must not alias any buffer in b). causal: text mask. */
void lg_block_forward(const lg_block_w *w, const lg_tower_cfg *c, int T, int causal, const float *x_in,
                      const lg_block_bufs *b);

#endif
