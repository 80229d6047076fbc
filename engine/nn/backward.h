/*
** Backward passes of the transformer-block layers (docs/backward.md), llm.c style: for each
** forward of ops.h / block.h a *_backward that maps the gradient at the layer's output to the
** gradient at its input, from what the forward kept.  Activation gradients only: the weights are
** constants here, so nothing the forward would have to store only for dW (LN outputs, the
** activation output, the concatenated head outputs) is needed.  Row-major fp32; every matrix
** product is an OpenBLAS sgemm.
**
**   lg_linear_backward(dY, n, out, W, in, beta, dX)      dX[n,in] = dY[n,out]·W[out,in] + beta·dX
**   lg_scale_backward(dY, g, n, D, dB)                   dB = dY ⊙ g   (LayerScale; g NULL = copy)
**   lg_activation_backward(act, Hpre, dA, n, dH)         dH = dA ⊙ act'(Hpre)
**   lg_softmax_backward_rows(A, dA, n, m, ld, dS)        dS = A ⊙ (dA − Σ_j A·dA), per row
**   lg_attention_backward(qkv, attn, T, D, H, causal, dO, dqkv, d_attn, scratch)
**   lg_mlp_backward(w, cfg, T, cache, d_out, d_y, scratch)      d_y += ∂MLP branch
**   lg_block_backward(w, cfg, T, causal, cache, d_out, d_in, g, scratch)
**
** The LayerNorm backward is lg_layernorm_backward (ops.h).  Shapes: T tokens, D width, H heads of
** d = D/H, F MLP width.
*/
#ifndef LEGRAD_NN_BACKWARD_H
#define LEGRAD_NN_BACKWARD_H
#include <stddef.h>

#include "clip.h"

/* dX[n,in] = dY[n,out] · W[out,in] + beta·dX: the input gradient of Y = X·Wᵀ + b (lg_linear). */
void lg_linear_backward(const float *dY, int n, int out, const float *W, int in, float beta,
                        float *dX);

/* dB[n,D] = dY ⊙ g per row (the branch gradient of the residual Y = X + g ⊙ B; g [D] LayerScale,
** NULL = 1).  The gradient at X is dY itself.  dB may alias dY. */
void lg_scale_backward(const float *dY, const float *g, int n, int D, float *dB);

/* dH[i] = dA[i] · act'(Hpre[i]) for i < n: back through lg_activation.  dH may alias dA. */
void lg_activation_backward(lg_act act, const float *Hpre, const float *dA, long n, float *dH);

/* Softmax backward over n rows of length m (row stride ld): with A = softmax(S) row-wise and dA
** the gradient at A, dS[i,j] = A[i,j]·(dA[i,j] − Σ_k A[i,k]·dA[i,k]).  dS may alias dA. */
void lg_softmax_backward_rows(const float *A, const float *dA, int n, int m, int ld, float *dS);

/* Multi-head attention backward (the forward of block.c: S_h = d^-½ q_h k_hᵀ [+ causal mask],
** A_h = softmax(S_h), O[:, h-block] = A_h v_h).
**   qkv     [T, 3D]   forward cache (q unscaled; k; v)
**   attn    [H, T, T] forward probabilities, or NULL: recomputed per head from qkv (one sgemm
**                     and a softmax per head, the forward's own arithmetic)
**   dO      [T, D]    gradient at the concatenated head outputs
**   dqkv    [T, 3D]   out: gradient at q, k and v
**   d_attn  [H, T, T] out: gradient at the attention probabilities, or NULL
**   scratch [2·T·T]   floats */
void lg_attention_backward(const float *qkv, const float *attn, int T, int D, int H, int causal,
                           const float *dO, float *dqkv, float *d_attn, float *scratch);

/* Floats of scratch lg_block_backward needs for T tokens (see lg_block_backward). */
size_t lg_block_backward_floats(const lg_tower_cfg *c, int T);

/* MLP branch backward: with x_out = y + ls2 ⊙ fc2(act(fc1(LN2(y)))),
**   d_y[T,D] += ∂(ls2 ⊙ MLP(LN2(y)))/∂y ᵀ · d_out
** using cache->y, ln2_mean, ln2_rstd and h.  scratch: [T·D + T·F] floats. */
void lg_mlp_backward(const lg_block_w *w, const lg_tower_cfg *c, int T,
                     const lg_vit_block_cache *cache, const float *d_out, float *d_y,
                     float *scratch);

/* What lg_block_backward also writes out (each may be NULL). */
typedef struct lg_block_grads {
  float *d_attn;   /* [H, T, T] gradient at the post-softmax attention probabilities */
  float *d_ln1;    /* [T, D]    gradient at LN1's output (the attention input)       */
  float *d_y;      /* [T, D]    gradient at y = x_in + attention branch (LN2's input) */
} lg_block_grads;

/* Whole pre-LN block backward (block.h): from d_out [T,D] at x_out to d_in [T,D] at x_in.
** cache: the block's forward record (clip.h; attn may be NULL, then recomputed); g may be NULL.
** d_in may alias d_out.  scratch: lg_block_backward_floats() floats, not aliasing anything else. */
void lg_block_backward(const lg_block_w *w, const lg_tower_cfg *c, int T, int causal,
                       const lg_vit_block_cache *cache, const float *d_out, float *d_in,
                       const lg_block_grads *g, float *scratch);

#endif
