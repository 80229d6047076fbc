/*
** The backward pass (engine/nn/backward.c, engine/nn/vit_backward.c):
**
** 1. Finite differences: every *_backward on small random shapes (T = 5 or 7 tokens, D = 8, 2 heads,
**    F = 12) against central differences of a double-precision forward written here
**    (LayerNorm, softmax, the three activations, linear, attention with and without the causal
**    mask and with cached or recomputed probabilities, MLP with and without LayerScale, the
**    whole block incl. the gradients at LN1's output, y and the attention probabilities).
** 2. Autograd: lg_vit_backward against tests/reference/ref_backward.py (torch autograd in float64 on
**    the tiny models: QuickGELU, GELU, LayerScale, OpenCLIP and HF layouts, 1 and 3 prompts, CLIP
**    score and plain cosine), and the backward seeded at an intermediate block through LeGrad's
**    mean readout: at every block the gradients at the attention probabilities, the block output,
**    LN1's output and block 0's input within 1e-5 of the largest |value| of that tensor.
** 3. LeGrad: the closed form (lg_legrad_run) equals the general backward seeded at each block's
**    mean readout and run through that block only (ReLU and no ReLU, native and 2x sides).
** 4. Argument errors.
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backward.h"
#include "block.h"
#include "check.h"
#include "clip.h"
#include "fixture.h"
#include "legrad.h"
#include "ops.h"
#include "vit_backward.h"

#define FX "tests/fixtures/backward/"
#define MD "tests/fixtures/models/"

/* ---- deterministic random numbers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1). */
static float urand(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void fill(float *x, size_t n, float scale, float offset) {
  for (size_t i = 0; i < n; i++) x[i] = offset + scale * urand();
}

/* max |a - b| / max |b| (NaN propagates as a failure). */
static double rel_to_max(const float *a, const double *b, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs(a[i] - b[i]);
    if (!(e <= d)) d = e;
    if (fabs(b[i]) > r) r = fabs(b[i]);
  }
  return r > 0 ? d / r : d;
}

static double rel_to_max_f(const float *a, const float *b, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (!(e <= d)) d = e;
    if (fabs(b[i]) > r) r = fabs(b[i]);
  }
  return r > 0 ? d / r : d;
}

/* ---- double-precision forward (the FD reference) ---------------------------------------------- */

static double act_d(lg_act a, double x) {
  switch (a) {
  case LG_ACT_QUICKGELU: return x / (1.0 + exp(-1.702 * x));
  case LG_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  default: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  }
}

static void layernorm_d(const double *x, int n, int D, const float *w, const float *b, double eps,
                        double *y) {
  for (int i = 0; i < n; i++) {
    double m = 0, v = 0;
    for (int j = 0; j < D; j++) m += x[i * D + j];
    m /= D;
    for (int j = 0; j < D; j++) v += (x[i * D + j] - m) * (x[i * D + j] - m);
    double r = 1.0 / sqrt(v / D + eps);
    for (int j = 0; j < D; j++) y[i * D + j] = (x[i * D + j] - m) * r * w[j] + b[j];
  }
}

/* Y[n,out] = X[n,in] · W[out,in]ᵀ + b */
static void linear_d(const double *X, int n, int in, const float *W, const float *b, int out,
                     double *Y) {
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      double s = b ? b[o] : 0;
      for (int k = 0; k < in; k++) s += X[i * in + k] * W[o * in + k];
      Y[i * out + o] = s;
    }
}

static void softmax_d(double *s, int m) {
  double mx = s[0], sum = 0;
  for (int j = 1; j < m; j++) mx = s[j] > mx ? s[j] : mx;
  for (int j = 0; j < m; j++) sum += s[j] = exp(s[j] - mx);
  for (int j = 0; j < m; j++) s[j] /= sum;
}

enum { MAXT = 8, MAXD = 8, MAXH = 2, MAXF = 12 };

/* Attention: qkv [T,3D] -> o [T,D]; A [H,T,T] out (or, when A_in != NULL, used instead of the
** softmax). */
static void attention_d(const double *qkv, int T, int D, int H, int causal, const double *A_in,
                        double *A, double *o) {
  int d = D / H;
  for (int h = 0; h < H; h++)
    for (int i = 0; i < T; i++) {
      double *a = A + (h * T + i) * T;
      if (A_in) {
        memcpy(a, A_in + (h * T + i) * T, (size_t)T * sizeof(double));
      } else {
        int m = causal ? i + 1 : T;
        for (int j = 0; j < m; j++) {
          double s = 0;
          for (int k = 0; k < d; k++) s += qkv[i * 3 * D + h * d + k] * qkv[j * 3 * D + D + h * d + k];
          a[j] = s / sqrt((double)d);
        }
        softmax_d(a, m);
        for (int j = m; j < T; j++) a[j] = 0;
      }
      for (int k = 0; k < d; k++) {
        double s = 0;
        for (int j = 0; j < T; j++) s += a[j] * qkv[j * 3 * D + 2 * D + h * d + k];
        o[i * D + h * d + k] = s;
      }
    }
}

/* The block of block.h in double.  Overrides (NULL = computed): u1 (LN1 output), A (attention
** probabilities), y (LN2's input; the residual then starts from it). */
static void block_d(const lg_block_w *w, const lg_tower_cfg *c, int T, int causal, const double *x,
                    const double *u1_in, const double *A_in, const double *y_in, double *out) {
  int D = c->width, F = c->mlp;
  double u[MAXT * MAXD], qkv[MAXT * 3 * MAXD], A[MAXH * MAXT * MAXT], o[MAXT * MAXD];
  double a[MAXT * MAXD], y[MAXT * MAXD], hh[MAXT * MAXF], mm[MAXT * MAXD];
  if (u1_in) memcpy(u, u1_in, sizeof(double) * T * D);
  else layernorm_d(x, T, D, w->ln1_w, w->ln1_b, c->ln_eps, u);
  linear_d(u, T, D, w->qkv_w, w->qkv_b, 3 * D, qkv);
  attention_d(qkv, T, D, c->heads, causal, A_in, A, o);
  linear_d(o, T, D, w->out_w, w->out_b, D, a);
  for (int i = 0; i < T * D; i++) y[i] = y_in ? y_in[i] : x[i] + (w->ls1 ? w->ls1[i % D] : 1.0) * a[i];
  layernorm_d(y, T, D, w->ln2_w, w->ln2_b, c->ln_eps, u);
  linear_d(u, T, D, w->fc1_w, w->fc1_b, F, hh);
  for (int i = 0; i < T * F; i++) hh[i] = act_d(c->act, hh[i]);
  linear_d(hh, T, F, w->fc2_w, w->fc2_b, D, mm);
  for (int i = 0; i < T * D; i++) out[i] = y[i] + (w->ls2 ? w->ls2[i % D] : 1.0) * mm[i];
}

static double dot_d(const double *a, const float *r, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += a[i] * r[i];
  return s;
}

/* ---- 1. finite differences --------------------------------------------------------------------- */

static const double H_FD = 1e-6;

/* Softmax, activations, LayerNorm and linear backward, each against central differences. */
static void test_fd_elementwise(void) {
  enum { N = 3, M = 11, D = 13 };
  /* softmax rows */
  float S[N * M], A[N * M], R[N * M], dS[N * M];
  double fd[N * M];
  fill(S, N * M, 3.0f, 0.0f);
  fill(R, N * M, 1.0f, 0.0f);
  memcpy(A, S, sizeof S);
  lg_softmax_rows(A, N, M, M);
  lg_softmax_backward_rows(A, R, N, M, M, dS);
  for (int i = 0; i < N * M; i++) {
    double rowp[M], rowm[M];
    int r = i / M;
    for (int j = 0; j < M; j++) rowp[j] = rowm[j] = S[r * M + j];
    rowp[i % M] += H_FD;
    rowm[i % M] -= H_FD;
    softmax_d(rowp, M);
    softmax_d(rowm, M);
    fd[i] = (dot_d(rowp, R + r * M, M) - dot_d(rowm, R + r * M, M)) / (2 * H_FD);
  }
  CHECK(rel_to_max(dS, fd, N * M) < 2e-6, "softmax backward vs FD: %.3g of max",
        rel_to_max(dS, fd, N * M));
  /* in place */
  memcpy(dS, R, sizeof R);
  lg_softmax_backward_rows(A, dS, N, M, M, dS);
  CHECK(rel_to_max(dS, fd, N * M) < 2e-6, "softmax backward in place");

  /* activations over [-6, 6] */
  enum { NA = 2500 };
  static float X[NA], G[NA], dX[NA];
  static double fa[NA];
  for (int i = 0; i < NA; i++) { X[i] = -6.0f + 12.0f * (float)i / (NA - 1); G[i] = urand(); }
  for (int a = 0; a < 3; a++) {
    lg_activation_backward((lg_act)a, X, G, NA, dX);
    for (int i = 0; i < NA; i++)
      fa[i] = G[i] * (act_d((lg_act)a, X[i] + H_FD) - act_d((lg_act)a, X[i] - H_FD)) / (2 * H_FD);
    CHECK(rel_to_max(dX, fa, NA) < 3e-6, "activation %d backward vs FD: %.3g of max", a,
          rel_to_max(dX, fa, NA));
  }

  /* LayerNorm backward (ops.h) */
  float x[N * D], w[D], b[D], y[N * D], mean[N], rstd[N], g[N * D], RL[N * D];
  double xd[N * D], yp[N * D], ym[N * D], fl[N * D];
  fill(x, N * D, 2.0f, 1.5f);
  fill(w, D, 0.5f, 1.0f);
  fill(b, D, 0.5f, 0.0f);
  fill(RL, N * D, 1.0f, 0.0f);
  lg_layernorm(x, N, D, w, b, 1e-5f, y, mean, rstd);
  memcpy(g, RL, sizeof RL);
  lg_layernorm_backward(x, N, D, mean, rstd, w, NULL, NULL, g);
  for (int i = 0; i < N * D; i++) xd[i] = x[i];
  for (int i = 0; i < N * D; i++) {
    xd[i] += H_FD;
    layernorm_d(xd, N, D, w, b, 1e-5, yp);
    xd[i] -= 2 * H_FD;
    layernorm_d(xd, N, D, w, b, 1e-5, ym);
    xd[i] += H_FD;
    fl[i] = (dot_d(yp, RL, N * D) - dot_d(ym, RL, N * D)) / (2 * H_FD);
  }
  CHECK(rel_to_max(g, fl, N * D) < 5e-6, "layernorm backward vs FD: %.3g of max",
        rel_to_max(g, fl, N * D));

  /* linear backward, with beta = 1 accumulation */
  enum { IN = 9, OUT = 6 };
  float W[OUT * IN], dY[N * OUT], dXl[N * IN];
  double ref[N * IN];
  fill(W, OUT * IN, 1.0f, 0.0f);
  fill(dY, N * OUT, 1.0f, 0.0f);
  for (int i = 0; i < N * IN; i++) dXl[i] = 0.5f;
  for (int i = 0; i < N; i++)
    for (int k = 0; k < IN; k++) {
      double s = 0.5;
      for (int o = 0; o < OUT; o++) s += (double)dY[i * OUT + o] * W[o * IN + k];
      ref[i * IN + k] = s;
    }
  lg_linear_backward(dY, N, OUT, W, IN, 1.0f, dXl);
  CHECK(rel_to_max(dXl, ref, N * IN) < 1e-6, "linear backward: %.3g of max",
        rel_to_max(dXl, ref, N * IN));
}

/* Random block weights (owned by the caller's arrays). */
typedef struct tiny_block {
  float ln1_w[MAXD], ln1_b[MAXD], qkv_w[3 * MAXD * MAXD], qkv_b[3 * MAXD], out_w[MAXD * MAXD],
      out_b[MAXD], ln2_w[MAXD], ln2_b[MAXD], fc1_w[MAXF * MAXD], fc1_b[MAXF], fc2_w[MAXD * MAXF],
      fc2_b[MAXD], ls1[MAXD], ls2[MAXD];
  lg_block_w w;
  lg_tower_cfg c;
} tiny_block;

static void tiny_block_init(tiny_block *t, lg_act act, int layerscale) {
  const int D = MAXD, F = MAXF;
  t->c = (lg_tower_cfg){.width = D, .layers = 1, .heads = MAXH, .mlp = F, .ln_eps = 1e-5f, .act = act};
  fill(t->ln1_w, D, 0.3f, 1.0f); fill(t->ln1_b, D, 0.3f, 0.0f);
  fill(t->qkv_w, 3 * D * D, 0.6f, 0.0f); fill(t->qkv_b, 3 * D, 0.3f, 0.0f);
  fill(t->out_w, D * D, 0.5f, 0.0f); fill(t->out_b, D, 0.3f, 0.0f);
  fill(t->ln2_w, D, 0.3f, 1.0f); fill(t->ln2_b, D, 0.3f, 0.0f);
  fill(t->fc1_w, F * D, 0.5f, 0.0f); fill(t->fc1_b, F, 0.5f, 0.0f);
  fill(t->fc2_w, D * F, 0.4f, 0.0f); fill(t->fc2_b, D, 0.3f, 0.0f);
  fill(t->ls1, D, 0.4f, 0.6f); fill(t->ls2, D, 0.4f, 0.6f);
  t->w = (lg_block_w){t->ln1_w, t->ln1_b, t->qkv_w, t->qkv_b, t->out_w, t->out_b, t->ln2_w, t->ln2_b,
                      t->fc1_w, t->fc1_b, t->fc2_w, t->fc2_b, layerscale ? t->ls1 : NULL,
                      layerscale ? t->ls2 : NULL};
}

/* Forward caches of one block (float, lg_block_forward). */
typedef struct tiny_cache {
  float x[MAXT * MAXD], ln1_mean[MAXT], ln1_rstd[MAXT], qkv[MAXT * 3 * MAXD], attn[MAXH * MAXT * MAXT],
      y[MAXT * MAXD], ln2_mean[MAXT], ln2_rstd[MAXT], h[MAXT * MAXF], x_out[MAXT * MAXD];
  float ln[MAXT * MAXD], o[MAXT * MAXD], tmp[MAXT * MAXD], act[MAXT * MAXF], scores[MAXT * MAXT];
  lg_vit_block_cache k;
} tiny_cache;

static void tiny_forward(const tiny_block *t, int T, int causal, int keep_attn, tiny_cache *c) {
  lg_block_bufs b = {c->ln1_mean, c->ln1_rstd, c->qkv, c->attn, c->y, c->ln2_mean, c->ln2_rstd, c->h,
                     c->x_out, c->ln, c->o, c->tmp, c->act, c->scores};
  lg_block_forward(&t->w, &t->c, T, causal, c->x, &b);
  c->k = (lg_vit_block_cache){c->x, c->ln1_mean, c->ln1_rstd, c->qkv, keep_attn ? c->attn : NULL,
                              c->y, c->ln2_mean, c->ln2_rstd, c->h, c->x_out};
}

/* Central difference of <R, block_d(...)> with respect to entry i of the array `v` (one of the
** override inputs, or x). */
static double fd_block(const tiny_block *t, int T, int causal, double *x, double *u1, double *A,
                       double *y, double *v, int i, const float *R) {
  double outp[MAXT * MAXD], outm[MAXT * MAXD], keep = v[i];
  v[i] = keep + H_FD;
  block_d(&t->w, &t->c, T, causal, x, u1, A, y, outp);
  v[i] = keep - H_FD;
  block_d(&t->w, &t->c, T, causal, x, u1, A, y, outm);
  v[i] = keep;
  int n = T * t->c.width;
  return (dot_d(outp, R, n) - dot_d(outm, R, n)) / (2 * H_FD);
}

/* Attention, MLP and whole-block backward against FD of block_d, for each activation, with and
** without LayerScale, causal or not, probabilities cached or recomputed. */
static void test_fd_block(void) {
  const int D = MAXD, H = MAXH;
  static tiny_block t;
  static tiny_cache c;
  static float scratch[8192];
  double worst[6] = {0};   /* d_in, d_ln1, d_y, d_attn, MLP, attention */
  for (int act = 0; act < 3; act++)
    for (int ls = 0; ls < 2; ls++)
      for (int causal = 0; causal < 2; causal++)
        for (int keep = 0; keep < 2; keep++) {
          const int T = causal ? 7 : 5;
          char tag[96];
          snprintf(tag, sizeof tag, "act %d, LayerScale %d, causal %d, attn %s", act, ls, causal,
                   keep ? "cached" : "recomputed");
          tiny_block_init(&t, (lg_act)act, ls);
          fill(c.x, (size_t)T * D, 1.5f, 0.2f);
          tiny_forward(&t, T, causal, keep, &c);
          CHECK(lg_block_backward_floats(&t.c, T) <= sizeof scratch / sizeof scratch[0], "scratch");
          float R[MAXT * MAXD], d_in[MAXT * MAXD], d_ln1[MAXT * MAXD], d_y[MAXT * MAXD];
          float d_attn[MAXH * MAXT * MAXT];
          fill(R, (size_t)T * D, 1.0f, 0.0f);
          lg_block_grads g = {d_attn, d_ln1, d_y};
          lg_block_backward(&t.w, &t.c, T, causal, &c.k, R, d_in, &g, scratch);

          /* references: the double forward's intermediates, then FD of each input */
          double x[MAXT * MAXD], u1[MAXT * MAXD], A[MAXH * MAXT * MAXT], y[MAXT * MAXD];
          double qkv[MAXT * 3 * MAXD], o[MAXT * MAXD], a[MAXT * MAXD];
          double f_in[MAXT * MAXD], f_ln1[MAXT * MAXD], f_y[MAXT * MAXD], f_attn[MAXH * MAXT * MAXT];
          for (int i = 0; i < T * D; i++) x[i] = c.x[i];
          layernorm_d(x, T, D, t.w.ln1_w, t.w.ln1_b, 1e-5, u1);
          linear_d(u1, T, D, t.w.qkv_w, t.w.qkv_b, 3 * D, qkv);
          attention_d(qkv, T, D, H, causal, NULL, A, o);
          linear_d(o, T, D, t.w.out_w, t.w.out_b, D, a);
          for (int i = 0; i < T * D; i++) y[i] = x[i] + (ls ? t.ls1[i % D] : 1.0) * a[i];
          for (int i = 0; i < T * D; i++) {
            f_in[i] = fd_block(&t, T, causal, x, NULL, NULL, NULL, x, i, R);
            f_ln1[i] = fd_block(&t, T, causal, x, u1, NULL, NULL, u1, i, R);
            f_y[i] = fd_block(&t, T, causal, x, NULL, NULL, y, y, i, R);
          }
          for (int i = 0; i < H * T * T; i++) f_attn[i] = fd_block(&t, T, causal, x, NULL, A, NULL, A, i, R);
          double e_in = rel_to_max(d_in, f_in, (size_t)T * D), e_ln1 = rel_to_max(d_ln1, f_ln1, (size_t)T * D);
          double e_y = rel_to_max(d_y, f_y, (size_t)T * D), e_a = rel_to_max(d_attn, f_attn, (size_t)H * T * T);
          worst[0] = fmax(worst[0], e_in); worst[1] = fmax(worst[1], e_ln1);
          worst[2] = fmax(worst[2], e_y); worst[3] = fmax(worst[3], e_a);
          CHECK(e_in < 1e-5 && e_ln1 < 1e-5 && e_y < 1e-5 && e_a < 1e-5,
                "block backward vs FD (%s): d_in %.3g, d_ln1 %.3g, d_y %.3g, d_attn %.3g of max", tag,
                e_in, e_ln1, e_y, e_a);

          /* MLP alone: d_y starts at 0, so it is the MLP branch's gradient: FD over y minus R. */
          float d_m[MAXT * MAXD] = {0};
          lg_mlp_backward(&t.w, &t.c, T, &c.k, R, d_m, scratch);
          double f_m[MAXT * MAXD];
          for (int i = 0; i < T * D; i++) f_m[i] = f_y[i] - R[i];
          worst[4] = fmax(worst[4], rel_to_max(d_m, f_m, (size_t)T * D));
          CHECK(rel_to_max(d_m, f_m, (size_t)T * D) < 1e-5, "MLP backward vs FD (%s): %.3g of max", tag,
                rel_to_max(d_m, f_m, (size_t)T * D));

          /* Attention alone: <R2, O(qkv)> by FD over qkv. */
          float R2[MAXT * MAXD], dqkv[MAXT * 3 * MAXD];
          double f_qkv[MAXT * 3 * MAXD], Ad[MAXH * MAXT * MAXT], op[MAXT * MAXD], om[MAXT * MAXD];
          fill(R2, (size_t)T * D, 1.0f, 0.0f);
          lg_attention_backward(c.qkv, keep ? c.attn : NULL, T, D, H, causal, R2, dqkv, NULL, scratch);
          double q2[MAXT * 3 * MAXD];
          for (int i = 0; i < T * 3 * D; i++) q2[i] = c.qkv[i];
          for (int i = 0; i < T * 3 * D; i++) {
            double k0 = q2[i];
            q2[i] = k0 + H_FD;
            attention_d(q2, T, D, H, causal, NULL, Ad, op);
            q2[i] = k0 - H_FD;
            attention_d(q2, T, D, H, causal, NULL, Ad, om);
            q2[i] = k0;
            f_qkv[i] = (dot_d(op, R2, T * D) - dot_d(om, R2, T * D)) / (2 * H_FD);
          }
          worst[5] = fmax(worst[5], rel_to_max(dqkv, f_qkv, (size_t)T * 3 * D));
          CHECK(rel_to_max(dqkv, f_qkv, (size_t)T * 3 * D) < 1e-5, "attention backward vs FD (%s): %.3g of max",
                tag, rel_to_max(dqkv, f_qkv, (size_t)T * 3 * D));
        }
  printf("  finite differences (worst over 24 configurations, of max): block d_in %.1e, d_ln1 %.1e, "
         "d_y %.1e, d_attn %.1e; MLP %.1e; attention dqkv %.1e\n", worst[0], worst[1], worst[2],
         worst[3], worst[4], worst[5]);
}

/* ---- 2. autograd fixtures ------------------------------------------------------------------------ */

/* Worst ratio max|got - ref| / max|ref| for one [n] slice of fixture tensor `name` at offset off. */
static double fx_cmp(const lg_st *fx, const char *file, const char *name, size_t off, const float *got,
                     size_t n) {
  int64_t m = 0;
  float *ref = fixture_get(fx, name, &m);
  CHECK(ref && (size_t)m >= off + n, "%s: tensor '%s' missing or too small", file, name);
  double e = ref && (size_t)m >= off + n ? rel_to_max_f(got, ref + off, n) : 1.0;
  free(ref);
  return e;
}

typedef struct fx_case { const char *model; int P; const char *score; } fx_case;

static void test_autograd_case(const fx_case *k, int idx) {
  char file[256], path[256];
  int S = 32;
  snprintf(file, sizeof file, FX "%s_%d_p%d_%s.safetensors", k->model, S, k->P, k->score);
  snprintf(path, sizeof path, MD "%s", k->model);
  lg_err err = {{0}};
  lg_st fx;
  lg_model *m = NULL;
  lg_vit_ws *ws = NULL;
  lg_vit_grads *g = NULL;
  float *pixels = NULL, *temb = NULL, *score = NULL, *mid_score = NULL, *emb = NULL, *d_emb = NULL,
        *d_x = NULL, *mid = NULL;
  if (lg_st_open(&fx, file, &err)) {
    CHECK(0, "%s: %s (regenerate with tests/reference/ref_backward.py)", file, err.msg);
    return;
  }
  m = lg_model_load(path, &err);
  CHECK(m != NULL, "%s: %s", path, err.msg);
  if (!m) goto done;
  const int L = m->vision.cfg.layers, D = m->vision.cfg.width, H = m->vision.cfg.heads, E = m->embed_dim;
  /* Alternate the workspaces: probabilities cached, or recomputed by the backward. */
  ws = lg_vit_ws_new(m, S, idx % 2 ? LG_KEEP_DEFAULT : LG_KEEP_ATTN_ALL, &err);
  g = ws ? lg_vit_grads_new(m, ws, LG_GRAD_OUT | LG_GRAD_LN1 | LG_GRAD_ATTN, &err) : NULL;
  CHECK(ws && g, "%s: workspace/grads: %s", file, err.msg);
  pixels = fixture_get(&fx, "pixels", NULL);
  temb = fixture_get(&fx, "text_embed", NULL);
  score = fixture_get(&fx, "score", NULL);
  mid_score = fixture_get(&fx, "mid_score", NULL);
  mid = fixture_get(&fx, "mid_block", NULL);
  emb = malloc((size_t)E * sizeof(float));
  d_emb = malloc((size_t)E * sizeof(float));
  if (!ws || !g || !pixels || !temb || !score || !mid_score || !mid || !emb || !d_emb) {
    CHECK(0, "%s: setup failed", file);
    goto done;
  }
  const int T = ws->tokens;
  const size_t TD = (size_t)T * D, HTT = (size_t)H * T * T;
  d_x = malloc(TD * sizeof(float));
  if (lg_vit_forward(m, ws, pixels, emb, &err)) {
    CHECK(0, "%s: forward: %s", file, err.msg);
    goto done;
  }
  float scale = strcmp(k->score, "clip") == 0 ? expf(m->logit_scale) : 1.0f;
  double worst_block[64][3] = {{0}}, worst_x0 = 0, worst_mid = 0, worst_score = 0;
  for (int p = 0; p < k->P; p++) {
    float s = lg_score_backward(emb, temb + (size_t)p * E, E, scale, d_emb);
    worst_score = fmax(worst_score, fabs(s - score[p]) / fmax(1.0, fabs(score[p])));
    CHECK(lg_vit_backward(m, ws, d_emb, g, &err) == 0, "%s: backward: %s", file, err.msg);
    CHECK(g->top == L - 1 && g->bottom == 0, "%s: ran blocks %d..%d", file, g->bottom, g->top);
    for (int l = 0; l < L && l < 64; l++) {
      char name[64];
      snprintf(name, sizeof name, "d_attn.%d", l);
      worst_block[l][0] = fmax(worst_block[l][0], fx_cmp(&fx, file, name, p * HTT, g->blocks[l].d_attn, HTT));
      snprintf(name, sizeof name, "d_out.%d", l);
      worst_block[l][1] = fmax(worst_block[l][1], fx_cmp(&fx, file, name, p * TD, g->blocks[l].d_out, TD));
      snprintf(name, sizeof name, "d_ln1.%d", l);
      worst_block[l][2] = fmax(worst_block[l][2], fx_cmp(&fx, file, name, p * TD, g->blocks[l].d_ln1, TD));
    }
    worst_x0 = fmax(worst_x0, fx_cmp(&fx, file, "d_x0", p * TD, g->d_x0, TD));

    /* LeGrad's readout at the middle block, back to block 0. */
    int mb = (int)mid[0];
    CHECK(lg_vit_readout(m, ws, mb, LG_POOL_MEAN, emb + 0, &err) == 0, "%s: readout: %s", file, err.msg);
    float sm = lg_score_backward(emb, temb + (size_t)p * E, E, 1.0f, d_emb);
    worst_score = fmax(worst_score, fabs(sm - mid_score[p]) / fmax(1.0, fabs(mid_score[p])));
    CHECK(lg_vit_readout_backward(m, ws, mb, LG_POOL_MEAN, d_emb, d_x, &err) == 0 &&
              lg_vit_backward_blocks(m, ws, mb, d_x, 0, g, &err) == 0,
          "%s: mid backward: %s", file, err.msg);
    for (int l = 0; l <= mb; l++) {
      char name[64];
      snprintf(name, sizeof name, "mid.d_attn.%d", l);
      worst_mid = fmax(worst_mid, fx_cmp(&fx, file, name, p * HTT, g->blocks[l].d_attn, HTT));
      if (l < mb) {
        snprintf(name, sizeof name, "mid.d_out.%d", l);
        worst_mid = fmax(worst_mid, fx_cmp(&fx, file, name, p * TD, g->blocks[l].d_out, TD));
      }
    }
    worst_mid = fmax(worst_mid, fx_cmp(&fx, file, "mid.d_x0", p * TD, g->d_x0, TD));
    /* restore the CLS embedding for the next prompt */
    lg_vit_readout(m, ws, L - 1, LG_POOL_CLS, emb, &err);
  }
  /* The scores are float32 forwards against a float64 reference: up to 1.4e-5 apart depending on
  ** the OpenBLAS kernel (measured with OPENBLAS_CORETYPE unset and Haswell, 1 and 2 threads). */
  CHECK(worst_score < 5e-5, "%s: scores differ by %.3g", file, worst_score);
  printf("  %-34s", file + sizeof FX - 1);
  for (int l = 0; l < L && l < 64; l++) {
    CHECK(worst_block[l][0] <= 1e-5 && worst_block[l][1] <= 1e-5 && worst_block[l][2] <= 1e-5,
          "%s: block %d: d_attn %.3g, d_out %.3g, d_ln1 %.3g of max", file, l, worst_block[l][0],
          worst_block[l][1], worst_block[l][2]);
    printf(" b%d %.1e/%.1e/%.1e", l, worst_block[l][0], worst_block[l][1], worst_block[l][2]);
  }
  CHECK(worst_x0 <= 1e-5 && worst_mid <= 1e-5, "%s: d_x0 %.3g, mid readout %.3g of max", file,
        worst_x0, worst_mid);
  printf(" x0 %.1e mid %.1e\n", worst_x0, worst_mid);
done:
  lg_vit_grads_free(g);
  lg_vit_ws_free(ws);
  lg_model_free(m);
  free(pixels); free(temb); free(score); free(mid_score); free(mid); free(emb); free(d_emb); free(d_x);
  lg_st_close(&fx);
}

static void test_autograd(void) {
  static const fx_case cases[] = {
      {"tiny_qg_oc", 1, "clip"},   {"tiny_qg_oc", 3, "clip"}, {"tiny_qg_oc", 1, "cos"},
      {"tiny_gelu_oc", 1, "clip"}, {"tiny_gelu_oc", 3, "clip"}, {"tiny_ls_oc", 1, "clip"},
      {"tiny_ls_oc", 3, "cos"},    {"tiny_qg_hf", 3, "clip"}, {"tiny_gelu_hf", 1, "cos"}};
  printf("  per block: d_attn/d_out/d_ln1 max error over max |autograd|\n");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_autograd_case(&cases[i], (int)i);
}

/* ---- 3. LeGrad closed form vs general backward ---------------------------------------------------- */

static void test_legrad_closed_form(const char *model, int S) {
  char path[256];
  snprintf(path, sizeof path, MD "%s", model);
  lg_err err = {{0}};
  lg_model *m = lg_model_load(path, &err);
  CHECK(m != NULL, "%s: %s", path, err.msg);
  if (!m) return;
  enum { P = 3 };
  const int L = m->vision.cfg.layers, E = m->embed_dim, H = m->vision.cfg.heads;
  lg_vit_ws *ws = lg_vit_ws_new(m, S, LG_KEEP_DEFAULT, &err);
  lg_vit_grads *g = ws ? lg_vit_grads_new(m, ws, LG_GRAD_ATTN, &err) : NULL;
  const int T = ws ? ws->tokens : 1, GG = T - 1;
  float *pixels = malloc((size_t)3 * S * S * sizeof(float)), *temb = malloc((size_t)P * E * sizeof(float));
  float *grid = malloc((size_t)P * L * GG * sizeof(float)), *scores = malloc((size_t)P * L * sizeof(float));
  float *d_x = malloc((size_t)T * m->vision.cfg.width * sizeof(float));
  float *emb = malloc((size_t)E * sizeof(float)), *d_emb = malloc((size_t)E * sizeof(float));
  float *map = malloc((size_t)GG * sizeof(float));
  if (!ws || !g || !pixels || !temb || !grid || !scores || !d_x || !emb || !d_emb || !map) {
    CHECK(0, "%s: setup: %s", model, err.msg);
    goto done;
  }
  fill(pixels, (size_t)3 * S * S, 1.5f, 0.0f);
  fill(temb, (size_t)P * E, 1.0f, 0.0f);
  for (int p = 0; p < P; p++) lg_l2_normalize(temb + (size_t)p * E, E);
  CHECK(lg_vit_forward(m, ws, pixels, NULL, &err) == 0, "forward: %s", err.msg);
  lg_layer_set ls;
  lg_layers_from_index(0, L, &ls, &err);
  for (int relu = 0; relu < 2; relu++) {
    lg_legrad_opts opt = {.relu = relu};
    CHECK(lg_legrad_run(m, ws, temb, P, &ls, &opt, grid, scores, &err) == 0, "legrad: %s", err.msg);
    double worst = 0, worst_s = 0;
    for (int p = 0; p < P; p++)
      for (int l = 0; l < L; l++) {
        lg_vit_readout(m, ws, l, LG_POOL_MEAN, emb, &err);
        float s = lg_score_backward(emb, temb + (size_t)p * E, E, 1.0f, d_emb);
        worst_s = fmax(worst_s, fabs(s - scores[p * L + l]));
        if (lg_vit_readout_backward(m, ws, l, LG_POOL_MEAN, d_emb, d_x, &err) ||
            lg_vit_backward_blocks(m, ws, l, d_x, l, g, &err)) {
          CHECK(0, "general backward: %s", err.msg);
          goto done;
        }
        /* LeGrad's map from the general d_attn: mean over heads and query rows, CLS column dropped */
        const float *dA = g->blocks[l].d_attn;
        for (int j = 1; j < T; j++) {
          double acc = 0;
          for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
              float v = dA[((size_t)h * T + i) * T + j];
              acc += relu ? (v > 0 ? v : 0) : v;
            }
          map[j - 1] = (float)(acc / ((double)H * T));
        }
        worst = fmax(worst, rel_to_max_f(map, grid + ((size_t)p * L + l) * GG, (size_t)GG));
      }
    CHECK(worst <= 1e-5 && worst_s <= 1e-5,
          "%s S=%d relu %d: closed form vs general backward: maps %.3g of max, scores %.3g", model, S,
          relu, worst, worst_s);
    printf("  LeGrad %s S=%d relu %d: closed form vs general backward %.1e of max\n", model, S, relu,
           worst);
  }
done:
  lg_vit_grads_free(g);
  lg_vit_ws_free(ws);
  lg_model_free(m);
  free(pixels); free(temb); free(grid); free(scores); free(d_x); free(emb); free(d_emb); free(map);
}

/* ---- 4. errors ------------------------------------------------------------------------------------- */

static void test_errors(void) {
  lg_err err = {{0}};
  lg_model *m = lg_model_load(MD "tiny_qg_oc", &err);
  CHECK(m != NULL, "load: %s", err.msg);
  if (!m) return;
  lg_vit_ws *ws = lg_vit_ws_new(m, 32, LG_KEEP_DEFAULT, &err);
  lg_vit_ws *ws2 = lg_vit_ws_new(m, 64, LG_KEEP_DEFAULT, &err);
  lg_vit_grads *g = lg_vit_grads_new(m, ws, LG_GRAD_ALL, &err);
  float d[4096] = {0};
  CHECK(ws && ws2 && g, "setup: %s", err.msg);
  if (!ws || !ws2 || !g) goto done;
  CHECK(lg_vit_grads_new(m, ws, 0x40, &err) == NULL && strstr(err.msg, "LG_GRAD_ALL"), "keep bits: %s", err.msg);
  CHECK(lg_vit_grads_new(NULL, ws, 0, &err) == NULL, "NULL model");
  CHECK(lg_vit_backward_blocks(m, ws, 3, d, 0, g, &err) == -1 && strstr(err.msg, "block 3 out of range"),
        "top out of range: %s", err.msg);
  CHECK(lg_vit_backward_blocks(m, ws, 1, d, 2, g, &err) == -1 && strstr(err.msg, "bottom block 2"),
        "bottom above top: %s", err.msg);
  CHECK(lg_vit_backward_blocks(m, ws2, 1, d, 0, g, &err) == -1 && strstr(err.msg, "token count"),
        "grads for another size: %s", err.msg);
  CHECK(lg_vit_backward(m, ws2, d, g, &err) == -1 && strstr(err.msg, "token count"),
        "lg_vit_backward, another size: %s", err.msg);
  CHECK(lg_vit_backward_blocks(m, ws, 1, NULL, 0, g, &err) == -1, "NULL d_top");
  CHECK(lg_vit_readout(m, ws, 0, (lg_pool)7, d, &err) == -1 && strstr(err.msg, "pool"), "pool: %s", err.msg);
  CHECK(lg_vit_readout_backward(m, ws, -1, LG_POOL_MEAN, d, d, &err) == -1, "readout block -1");
  CHECK(g->top == -1 && g->bottom == -1, "failed calls must not mark blocks as computed");
  /* Zero seed gives zero gradients everywhere (after a forward). */
  float *pix = calloc(3 * 32 * 32, sizeof(float));
  if (pix && lg_vit_forward(m, ws, pix, NULL, &err) == 0 && lg_vit_backward(m, ws, d, g, &err) == 0) {
    double mx = 0;
    for (int l = 0; l < m->vision.cfg.layers; l++)
      for (size_t i = 0; i < (size_t)ws->tokens * m->vision.cfg.width; i++)
        mx = fmax(mx, fabs(g->blocks[l].d_out[i]) + fabs(g->blocks[l].d_ln1[i]) + fabs(g->blocks[l].d_y[i]));
    CHECK(mx == 0, "zero seed: max |gradient| %g", mx);
  } else {
    CHECK(0, "zero seed run: %s", err.msg);
  }
  free(pix);
done:
  lg_vit_grads_free(g);
  lg_vit_ws_free(ws);
  lg_vit_ws_free(ws2);
  lg_model_free(m);
}

int main(void) {
  test_fd_elementwise();
  test_fd_block();
  test_autograd();
  test_legrad_closed_form("tiny_qg_oc", 32);
  test_legrad_closed_form("tiny_gelu_oc", 64);
  test_legrad_closed_form("tiny_ls_oc", 32);
  test_legrad_closed_form("tiny_ls_oc", 64);
  test_errors();
  return check_report("test_backward");
}
