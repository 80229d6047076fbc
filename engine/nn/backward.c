/*
** Backward passes of the transformer-block layers; see backward.h and docs/backward.md.
**
** Block backward, for d_out = ∂s/∂x_out [T,D] (block.h forward in reverse):
**
**   d_y    = d_out + LN2ᵀ( fc1ᵀ( act'(h) ⊙ fc2ᵀ(ls2 ⊙ d_out) ) )      MLP branch + residual
**   dO     = (ls1 ⊙ d_y) · W_out                                      [T,D]
**   per head h:  dA_h = dO_h · v_hᵀ                                   [T,T]  (→ d_attn)
**                dv_h = A_hᵀ · dO_h                                   [T,d]
**                dS_h = A_h ⊙ (dA_h − rowsum(A_h ⊙ dA_h))              [T,T]  softmax backward
**                dq_h = d^-½ dS_h · k_h,   dk_h = d^-½ dS_hᵀ · q_h     [T,d]
**   d_u1   = dqkv · W_qkv                                             [T,D]  (→ d_ln1)
**   d_in   = d_y + LN1ᵀ(d_u1)                                         [T,D]
**
** where LNᵀ is lg_layernorm_backward with the forward's per-row statistics and Wᵀ-products are
** lg_linear_backward (sgemm with the weight as stored, [out, in]).
*/
#include "backward.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ops.h"

void lg_linear_backward(const float *dY, int n, int out, const float *W, int in, float beta,
                        float *dX) {
  /* dX[n,in] = dY[n,out] · W[out,in] */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dY, out, W, in, beta, dX,
              in);
}

void lg_scale_backward(const float *dY, const float *g, int n, int D, float *dB) {
  for (int i = 0; i < n; i++) {
    const float *dy = dY + (long)i * D;
    float *db = dB + (long)i * D;
    if (g) for (int j = 0; j < D; j++) db[j] = dy[j] * g[j];
    else if (db != dy) memcpy(db, dy, (size_t)D * sizeof(float));
  }
}

void lg_activation_backward(lg_act act, const float *Hpre, const float *dA, long n, float *dH) {
  enum { CHUNK = 1024 };
  float gate[CHUNK];   /* act'(Hpre) for one chunk */
  for (long i0 = 0; i0 < n; i0 += CHUNK) {
    long len = n - i0 < CHUNK ? n - i0 : CHUNK;
    lg_activation_grad(act, Hpre + i0, len, gate);
    for (long i = 0; i < len; i++) dH[i0 + i] = dA[i0 + i] * gate[i];
  }
}

void lg_softmax_backward_rows(const float *A, const float *dA, int n, int m, int ld, float *dS) {
  for (int i = 0; i < n; i++) {
    const float *a = A + (long)i * ld, *da = dA + (long)i * ld;
    float *ds = dS + (long)i * ld;
    float acc[8] = {0}, r = 0;
    int j = 0;
    for (; j + 8 <= m; j += 8)
      for (int k = 0; k < 8; k++) acc[k] += a[j + k] * da[j + k];
    for (; j < m; j++) r += a[j] * da[j];
    for (int k = 0; k < 8; k++) r += acc[k];
    for (j = 0; j < m; j++) ds[j] = a[j] * (da[j] - r);
  }
}

/* One head's probabilities A[T,T] from qkv, exactly as block.c's forward computes them. */
static void attention_probs(const float *qkv, int T, int D, int H, int h, int causal, float *A) {
  int d = D / H;
  float scale = 1.0f / sqrtf((float)d);
  const float *q = qkv + h * d, *k = qkv + D + h * d;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, scale, q, 3 * D, k, 3 * D, 0.0f, A, T);
  if (causal) {
    for (int i = 0; i < T; i++) {
      lg_softmax_rows(A + (long)i * T, 1, i + 1, T);
      memset(A + (long)i * T + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
    }
  } else {
    lg_softmax_rows(A, T, T, T);
  }
}

void lg_attention_backward(const float *qkv, const float *attn, int T, int D, int H, int causal,
                           const float *dO, float *dqkv, float *d_attn, float *scratch) {
  int d = D / H;
  float scale = 1.0f / sqrtf((float)d);
  float *Abuf = scratch, *dS = scratch + (long)T * T;
  for (int h = 0; h < H; h++) {
    const float *q = qkv + h * d, *k = qkv + D + h * d, *v = qkv + 2 * D + h * d;
    const float *dOh = dO + h * d;
    float *dq = dqkv + h * d, *dk = dqkv + D + h * d, *dv = dqkv + 2 * D + h * d;
    const float *A = attn ? attn + (long)h * T * T : Abuf;
    if (!attn) attention_probs(qkv, T, D, H, h, causal, Abuf);
    float *dA = d_attn ? d_attn + (long)h * T * T : dS;
    /* dA[T,T] = dO_h[T,d] · v_h[T,d]ᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, 1.0f, dOh, D, v, 3 * D, 0.0f, dA, T);
    /* dv_h[T,d] = A[T,T]ᵀ · dO_h[T,d] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, 1.0f, A, T, dOh, D, 0.0f, dv, 3 * D);
    /* dS = softmax backward (masked entries have A = 0, so dS = 0 there) */
    lg_softmax_backward_rows(A, dA, T, T, T, dS);
    /* dq_h[T,d] = scale · dS[T,T] · k_h[T,d];  dk_h[T,d] = scale · dSᵀ · q_h */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, scale, dS, T, k, 3 * D, 0.0f, dq, 3 * D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, scale, dS, T, q, 3 * D, 0.0f, dk, 3 * D);
  }
}

void lg_mlp_backward(const lg_block_w *w, const lg_tower_cfg *c, int T,
                     const lg_vit_block_cache *cache, const float *d_out, float *d_y,
                     float *scratch) {
  int D = c->width, F = c->mlp;
  float *tD = scratch;                       /* [T,D] ls2 ⊙ d_out, then LN2's input gradient */
  float *tF = scratch + (size_t)T * D;       /* [T,F] */
  const float *dm = d_out;
  if (w->ls2) {
    lg_scale_backward(d_out, w->ls2, T, D, tD);
    dm = tD;
  }
  lg_linear_backward(dm, T, D, w->fc2_w, F, 0.0f, tF);                  /* d act(h) [T,F] */
  lg_activation_backward(c->act, cache->h, tF, (long)T * F, tF);        /* d h      [T,F] */
  lg_linear_backward(tF, T, F, w->fc1_w, D, 0.0f, tD);                  /* d LN2(y) [T,D] */
  lg_layernorm_backward(cache->y, T, D, cache->ln2_mean, cache->ln2_rstd, w->ln2_w, NULL, NULL, tD);
  for (long i = 0; i < (long)T * D; i++) d_y[i] += tD[i];
}

/* Scratch layout of lg_block_backward: dy, t1, t2 [T,D]; dqkv [T,3D]; then a region shared by the
** MLP ([T·D + T·F]) and the attention ([2·T·T]) backward. */
size_t lg_block_backward_floats(const lg_tower_cfg *c, int T) {
  size_t t = (size_t)T, D = (size_t)c->width, F = (size_t)c->mlp;
  size_t mlp = t * D + t * F, att = 2 * t * t;
  return 6 * t * D + (mlp > att ? mlp : att);
}

void lg_block_backward(const lg_block_w *w, const lg_tower_cfg *c, int T, int causal,
                       const lg_vit_block_cache *cache, const float *d_out, float *d_in,
                       const lg_block_grads *g, float *scratch) {
  const int D = c->width;
  const size_t TD = (size_t)T * D;
  float *dy = g && g->d_y ? g->d_y : scratch;
  float *t1 = scratch + TD, *t2 = scratch + 2 * TD, *dqkv = scratch + 3 * TD, *region = scratch + 6 * TD;
  memcpy(dy, d_out, TD * sizeof(float));                    /* residual: x_out = y + ... */
  lg_mlp_backward(w, c, T, cache, d_out, dy, region);
  lg_scale_backward(dy, w->ls1, T, D, t1);                  /* d (attention branch)  [T,D] */
  lg_linear_backward(t1, T, D, w->out_w, D, 0.0f, t2);      /* dO                    [T,D] */
  lg_attention_backward(cache->qkv, cache->attn, T, D, c->heads, causal, t2, dqkv,
                        g ? g->d_attn : NULL, region);
  lg_linear_backward(dqkv, T, 3 * D, w->qkv_w, D, 0.0f, t1); /* d LN1(x_in)           [T,D] */
  if (g && g->d_ln1) memcpy(g->d_ln1, t1, TD * sizeof(float));
  lg_layernorm_backward(cache->x_in, T, D, cache->ln1_mean, cache->ln1_rstd, w->ln1_w, NULL, NULL, t1);
  for (size_t i = 0; i < TD; i++) d_in[i] = dy[i] + t1[i];
}
