/* Pre-LN transformer block forward; see block.h. */
#include "block.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ops.h"

/* Multi-head attention: qkv [T, 3D] -> o [T, D]; probabilities into attn [H,T,T] or scores [T,T]. */
static void attention(const float *qkv, int T, int D, int H, int causal, float *attn, float *scores,
                      float *o) {
  int d = D / H;
  float scale = 1.0f / sqrtf((float)d);
  for (int h = 0; h < H; h++) {
    float *S = attn ? attn + (long)h * T * T : scores;
    const float *q = qkv + h * d, *k = qkv + D + h * d, *v = qkv + 2 * D + h * d;
    /* S[T,T] = scale · q_h[T,d] · k_h[T,d]ᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, scale, q, 3 * D, k, 3 * D, 0.0f, S, T);
    if (causal) {
      for (int i = 0; i < T; i++) {
        lg_softmax_rows(S + (long)i * T, 1, i + 1, T);
        memset(S + (long)i * T + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
      }
    } else {
      lg_softmax_rows(S, T, T, T);
    }
    /* o[:, h*d..] [T,d] = S[T,T] · v_h[T,d] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, 1.0f, S, T, v, 3 * D, 0.0f, o + h * d, D);
  }
}

void lg_block_forward(const lg_block_w *w, const lg_tower_cfg *c, int T, int causal, const float *x_in,
                      const lg_block_bufs *b) {
  int D = c->width, F = c->mlp;
  lg_layernorm(x_in, T, D, w->ln1_w, w->ln1_b, c->ln_eps, b->ln, b->ln1_mean, b->ln1_rstd);
  lg_linear(b->ln, T, D, w->qkv_w, w->qkv_b, 3 * D, b->qkv);
  attention(b->qkv, T, D, c->heads, causal, b->attn, b->scores, b->o);
  lg_linear(b->o, T, D, w->out_w, w->out_b, D, b->tmp);
  lg_residual(b->y, x_in, b->tmp, w->ls1, T, D);
  lg_layernorm(b->y, T, D, w->ln2_w, w->ln2_b, c->ln_eps, b->ln, b->ln2_mean, b->ln2_rstd);
  lg_linear(b->ln, T, D, w->fc1_w, w->fc1_b, F, b->h);
  lg_activation(c->act, b->h, (long)T * F, b->act);
  lg_linear(b->act, T, F, w->fc2_w, w->fc2_b, D, b->tmp);
  lg_residual(b->x_out, b->y, b->tmp, w->ls2, T, D);
}
