/*
** LeGrad for CLIP ViTs: the closed-form backward (legrad.md §2) over one cached forward pass.
**
**   lg_vit_forward(m, ws, pixels, NULL, &err);              // fills ws->blocks[l] (LG_KEEP_DEFAULT is enough)
**   lg_legrad_run(m, ws, text_emb, P, &ls, &opt, grid_maps, scores, &err);
**
** For prompt p (t_p, L2-normalised) and chosen block l, with z_i the block-l output tokens,
** T = G*G+1 tokens (CLS first), H heads of width d:
**
**   zbar = mean_i z_i            e = ln_post(zbar) @ proj         s_l = t_p . e/|e|
**   map_l[j] = 1/(H*T) * sum_h sum_i relu(dS/dA_h[i, j])          for the key columns j = 1..T-1
**
** This is exactly what WalBouss/LeGrad compute_legrad_clip obtains with autograd on the hooked
** attention probabilities.  The gradient only has to travel back through the tail of block l:
**
**   g_e    = (t - s*ehat)/|e|                                   [P, E]   normalize backward
**   g_ln   = g_e @ proj^T                                       [P, D]
**   c      = LN_post_backward(g_ln) / T                         [P, D]   same for every token (mean)
**   g_act  = (c * ls2) @ fc2_w                                  [P, F]   token-independent
**   g_h    = g_act[p] * act'(h_i)                               [P*T, F]
**   g_u    = g_h @ fc1_w                                        [P*T, D] the big GEMM
**   g_y    = c + LN2_backward_i(g_u)                            [P*T, D] residual + MLP branch
**   g_O    = (g_y * ls1) @ out_w                                [P*T, D] back through W_out
**   dS/dA_h = g_O[:, h] @ V_h^T                                 [P*T, T] per head (no softmax backward)
**
** All prompts are stacked along the rows of every GEMM (cblas_sgemm), so P prompts cost one
** forward pass plus P tails (in chunks of ~4096 stacked rows, see prompt_chunk, to bound memory).  Without ReLU the column sums are linear and collapse to
** (sum_i g_O[p, i]) @ V^T, so the T x T gradient is never formed.
*/
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "legrad.h"
#include "ops.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* out[j] = a[j] * b[j] for j < n.  The build uses -O2 without -march, where gcc does not
** vectorise this loop, so x86-64 gets SSE2 (baseline) by hand; other targets the plain loop. */
static void mul_elementwise(const float *a, const float *b, float *out, int n) {
  int j = 0;
#if defined(__SSE2__)
  for (; j + 8 <= n; j += 8) {
    _mm_storeu_ps(out + j, _mm_mul_ps(_mm_loadu_ps(a + j), _mm_loadu_ps(b + j)));
    _mm_storeu_ps(out + j + 4, _mm_mul_ps(_mm_loadu_ps(a + j + 4), _mm_loadu_ps(b + j + 4)));
  }
#endif
  for (; j < n; j++) out[j] = a[j] * b[j];
}

/* LayerNorm backward for one vector with known statistics:
**   xhat = (x - mean)*rstd,  out = rstd*(gx - mean(gx) - xhat*mean(gx*xhat)),  gx = g*w.
** x: [n] the LN input; g: [n] gradient w.r.t. the LN output; w: [n] LN weight; out: [n] (may
** alias g).  Accumulated in double. */
static void layernorm_backward(const float *x, float mean, float rstd, const float *g,
                               const float *w, int n, float *out) {
  double m1 = 0, m2 = 0;
  for (int i = 0; i < n; i++) {
    double gx = (double)g[i] * w[i];
    double xh = ((double)x[i] - mean) * rstd;
    m1 += gx;
    m2 += gx * xh;
  }
  m1 /= n;
  m2 /= n;
  for (int i = 0; i < n; i++) {
    double gx = (double)g[i] * w[i];
    double xh = ((double)x[i] - mean) * rstd;
    out[i] = (float)(rstd * (gx - m1 - xh * m2));
  }
}

/* Scratch for one call, sized for P prompts (see the shapes at the top of the file). */
typedef struct legrad_scratch {
  float *zbar, *e;              /* [D], [E]                 */
  float *g_e, *g_ln, *c, *g_m;  /* [P,E], [P,D], [P,D], [P,D] */
  float *g_act;                 /* [P,F]                    */
  float *act_d;                 /* [T,F] act'(h)            */
  float *g_h;                   /* [P*T,F]                  */
  float *g_u;                   /* [P*T,D] g_u -> g_y -> g_a (in place) */
  float *g_O;                   /* [P*T,D]                  */
  float *gA;                    /* [P*T,T] one head's dS/dA (ReLU path) or [P,T] (linear path) */
  double *col;                  /* [P,T] column sums        */
  float *sumO;                  /* [P,D] (linear path)      */
  double *dacc;                 /* [D] double accumulator   */
  float *fcol;                  /* [T] one head's column sums */
} legrad_scratch;

static void scratch_free(legrad_scratch *s) {
  free(s->zbar); free(s->e); free(s->g_e); free(s->g_ln); free(s->c); free(s->g_m);
  free(s->g_act); free(s->act_d); free(s->g_h); free(s->g_u); free(s->g_O); free(s->gA);
  free(s->col); free(s->sumO); free(s->dacc); free(s->fcol);
}

/* Allocates n floats (n > 0). */
static float *falloc(size_t n) { return malloc(n * sizeof(float)); }

static int scratch_alloc(legrad_scratch *s, size_t P, size_t T, size_t D, size_t E, size_t F,
                         int relu) {
  memset(s, 0, sizeof *s);
  s->zbar = falloc(D); s->e = falloc(E);
  s->g_e = falloc(P * E); s->g_ln = falloc(P * D); s->c = falloc(P * D); s->g_m = falloc(P * D);
  s->g_act = falloc(P * F); s->act_d = falloc(T * F);
  s->g_h = falloc(P * T * F); s->g_u = falloc(P * T * D); s->g_O = falloc(P * T * D);
  s->gA = falloc(relu ? P * T * T : P * T);
  s->col = malloc(P * T * sizeof(double));
  s->sumO = falloc(P * D);
  s->dacc = malloc(D * sizeof(double));
  s->fcol = falloc(T);
  if (!s->zbar || !s->e || !s->g_e || !s->g_ln || !s->c || !s->g_m || !s->g_act || !s->act_d ||
      !s->g_h || !s->g_u || !s->g_O || !s->gA || !s->col || !s->sumO || !s->dacc || !s->fcol) {
    scratch_free(s);
    return -1;
  }
  return 0;
}

/* Validates the arguments of lg_legrad_run. */
static int legrad_check(const lg_model *m, const lg_vit_ws *ws, const float *text_emb,
                        int n_prompts, const lg_layer_set *ls, const float *grid_maps,
                        const float *scores, lg_err *err) {
  if (!m || !ws || !text_emb || !ls || !grid_maps || !scores)
    return lg_errf(err, "lg_legrad_run: NULL argument (model, workspace, text embeddings, layer "
                        "set, grid_maps and scores are required)");
  const lg_vision_w *v = &m->vision;
  int L = v->cfg.layers, D = v->cfg.width, H = v->cfg.heads;
  if (n_prompts < 1) return lg_errf(err, "lg_legrad_run: n_prompts is %d; expected >= 1", n_prompts);
  if (H < 1 || D % H) return lg_errf(err, "lg_legrad_run: width %d not divisible by %d heads", D, H);
  if (!v->proj || !v->ln_post_w || !v->ln_post_b || m->embed_dim < 1)
    return lg_errf(err, "lg_legrad_run: the model has no vision projection / ln_post");
  if (ws->grid < 1 || ws->tokens != ws->grid * ws->grid + 1 || !ws->blocks)
    return lg_errf(err, "lg_legrad_run: workspace has %d tokens for a %dx%d grid; expected %d",
                   ws->tokens, ws->grid, ws->grid, ws->grid * ws->grid + 1);
  if (ls->n < 1 || ls->n > L || ls->n > LG_MAX_LAYERS)
    return lg_errf(err, "lg_legrad_run: %d layers chosen; expected 1..%d", ls->n, L);
  for (int k = 0; k < ls->n; k++) {
    int l = ls->idx[k];
    if (l < 0 || l >= L || (k && l <= ls->idx[k - 1]))
      return lg_errf(err, "lg_legrad_run: layer set entry %d is block %d; expected ascending "
                          "distinct blocks in 0..%d", k, l, L - 1);
    const lg_vit_block_cache *c = &ws->blocks[l];
    if (!c->qkv || !c->y || !c->ln2_mean || !c->ln2_rstd || !c->h || !c->x_out)
      return lg_errf(err, "lg_legrad_run: block %d has no forward cache (run lg_vit_forward "
                          "first)", l);
  }
  return 0;
}

/* The per-layer, all-prompt tail backward of block l; fills the maps and scores of column k. */
static void legrad_layer(const lg_model *m, const lg_vit_ws *ws, const float *text_emb, int P,
                         int l, int k, int n_sel, int relu, legrad_scratch *s, float *grid_maps,
                         float *scores) {
  const lg_vision_w *v = &m->vision;
  const lg_block_w *bw = &v->blocks[l];
  const lg_vit_block_cache *c = &ws->blocks[l];
  const int T = ws->tokens, D = v->cfg.width, F = v->cfg.mlp, E = m->embed_dim;
  const int H = v->cfg.heads, d = D / H, GG = T - 1, PT = P * T;
  const float eps = v->cfg.ln_eps;

  /* zbar = mean over all T tokens (CLS included) of the block output. */
  {
    double *acc = s->dacc;
    memset(acc, 0, (size_t)D * sizeof(double));
    for (int i = 0; i < T; i++) {
      const float *z = c->x_out + (size_t)i * D;
      for (int j = 0; j < D; j++) acc[j] += z[j];
    }
    for (int j = 0; j < D; j++) s->zbar[j] = (float)(acc[j] / T);
  }
  /* ln_post(zbar), its statistics, and e = ln @ proj. */
  double mu = 0, var = 0;
  for (int j = 0; j < D; j++) mu += s->zbar[j];
  mu /= D;
  for (int j = 0; j < D; j++) var += ((double)s->zbar[j] - mu) * ((double)s->zbar[j] - mu);
  var /= D;
  float rstd = (float)(1.0 / sqrt(var + eps));
  /* g_m doubles as the ln_post output for this step (it is overwritten below). */
  float *ln = s->g_m;
  for (int j = 0; j < D; j++)
    ln[j] = (float)(((double)s->zbar[j] - mu) * rstd) * v->ln_post_w[j] + v->ln_post_b[j];
  cblas_sgemv(CblasRowMajor, CblasTrans, D, E, 1.f, v->proj, E, ln, 1, 0.f, s->e, 1);
  double nrm = 0;
  for (int j = 0; j < E; j++) nrm += (double)s->e[j] * s->e[j];
  nrm = sqrt(nrm);
  if (nrm < 1e-12) nrm = 1e-12; /* F.normalize's eps */

  /* Scores and g_e per prompt. */
  for (int p = 0; p < P; p++) {
    const float *t = text_emb + (size_t)p * E;
    double sc = 0;
    for (int j = 0; j < E; j++) sc += (double)t[j] * s->e[j];
    sc /= nrm;
    scores[(size_t)p * n_sel + k] = (float)sc;
    for (int j = 0; j < E; j++) s->g_e[(size_t)p * E + j] = (float)((t[j] - sc * s->e[j] / nrm) / nrm);
  }
  /* g_ln = g_e @ proj^T   [P,E] x [E,D] */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, D, E, 1.f, s->g_e, E, v->proj, E, 0.f,
              s->g_ln, D);
  /* c = LN_post backward / T;  g_m = c * ls2 */
  for (int p = 0; p < P; p++) {
    float *cp = s->c + (size_t)p * D;
    layernorm_backward(s->zbar, (float)mu, rstd, s->g_ln + (size_t)p * D, v->ln_post_w, D, cp);
    for (int j = 0; j < D; j++) {
      cp[j] /= (float)T;
      s->g_m[(size_t)p * D + j] = bw->ls2 ? cp[j] * bw->ls2[j] : cp[j];
    }
  }
  /* g_act = g_m @ fc2_w   [P,D] x [D,F] */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, P, F, D, 1.f, s->g_m, D, bw->fc2_w, F,
              0.f, s->g_act, F);
  /* act'(h) once per layer, then g_h = g_act[p] * act'(h_i) for every (p, i). */
  lg_activation_grad(v->cfg.act, c->h, (long)T * F, s->act_d);
  for (int p = 0; p < P; p++) {
    const float *ga = s->g_act + (size_t)p * F;
    for (int i = 0; i < T; i++)
      mul_elementwise(ga, s->act_d + (size_t)i * F, s->g_h + ((size_t)p * T + i) * F, F);
  }
  /* g_u = g_h @ fc1_w   [P*T,F] x [F,D] */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, PT, D, F, 1.f, s->g_h, F, bw->fc1_w, D,
              0.f, s->g_u, D);
  /* g_y = c + LN2 backward (per token), then g_a = g_y * ls1, in place in g_u. */
  for (int p = 0; p < P; p++)
    lg_layernorm_backward(c->y, T, D, c->ln2_mean, c->ln2_rstd, bw->ln2_w, s->c + (size_t)p * D,
                          bw->ls1, s->g_u + (size_t)p * T * D);
  /* g_O = g_a @ out_w   [P*T,D] x [D,D] */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, PT, D, D, 1.f, s->g_u, D, bw->out_w, D,
              0.f, s->g_O, D);

  const float *V = c->qkv + 2 * D; /* [T, D] with row stride 3D */
  memset(s->col, 0, (size_t)P * T * sizeof(double));
  if (relu) {
    /* dS/dA_h = g_O_h @ V_h^T for all prompts at once, then ReLU column sums: first in float
    ** over one head's T rows (lg_relu_colsum, vectorised), then into double. */
    for (int h = 0; h < H; h++) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, PT, T, d, 1.f, s->g_O + h * d, D,
                  V + h * d, 3 * D, 0.f, s->gA, T);
      for (int p = 0; p < P; p++) {
        float *fc = s->fcol;
        memset(fc, 0, (size_t)T * sizeof(float));
        lg_relu_colsum(s->gA + (size_t)p * T * T, T, T, T, fc);
        double *col = s->col + (size_t)p * T;
        for (int j = 0; j < T; j++) col[j] += fc[j];
      }
    }
  } else {
    /* Linear: sum_h sum_i g_O_h,i . v_h,j = (sum_i g_O_i) . v_j over all D columns. */
    for (int p = 0; p < P; p++) {
      double *acc = s->dacc;
      memset(acc, 0, (size_t)D * sizeof(double));
      for (int i = 0; i < T; i++) {
        const float *g = s->g_O + ((size_t)p * T + i) * D;
        for (int j = 0; j < D; j++) acc[j] += g[j];
      }
      for (int j = 0; j < D; j++) s->sumO[(size_t)p * D + j] = (float)acc[j];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, T, D, 1.f, s->sumO, D, V, 3 * D, 0.f,
                s->gA, T);
    for (size_t q = 0; q < (size_t)P * T; q++) s->col[q] = s->gA[q];
  }
  /* mean over heads and query rows; drop the CLS column. */
  const double inv = 1.0 / ((double)H * T);
  for (int p = 0; p < P; p++) {
    float *out = grid_maps + ((size_t)p * n_sel + k) * GG;
    const double *col = s->col + (size_t)p * T;
    for (int j = 1; j < T; j++) out[j - 1] = (float)(col[j] * inv);
  }
}

/* Prompts processed together: every prompt in a chunk shares each backward GEMM.  The cap keeps
** the stacked rows (chunk * T) near 4096, beyond which batching gains nothing and the scratch
** (about 4*T*(F + 2D + T) bytes per prompt) would grow without bound: 20 prompts at 224, 5 at 448
** for ViT-B/16. */
static int prompt_chunk(int n_prompts, int tokens) {
  int c = 4096 / (tokens > 0 ? tokens : 1);
  if (c < 1) c = 1;
  return n_prompts < c ? n_prompts : c;
}

size_t lg_legrad_scratch_bytes(const lg_model *m, const lg_vit_ws *ws, int n_prompts, int relu) {
  size_t P = (size_t)prompt_chunk(n_prompts, ws->tokens), T = (size_t)ws->tokens;
  size_t D = (size_t)m->vision.cfg.width, E = (size_t)m->embed_dim, F = (size_t)m->vision.cfg.mlp;
  size_t fl = D + E + P * E + 3 * P * D + P * F + T * F + P * T * F + 2 * P * T * D +
              (relu ? P * T * T : P * T) + P * D + T;
  return fl * sizeof(float) + (P * T + D) * sizeof(double);
}

int lg_legrad_run(const lg_model *m, const lg_vit_ws *ws, const float *text_emb, int n_prompts,
                  const lg_layer_set *ls, const lg_legrad_opts *opt, float *grid_maps, float *scores,
                  lg_err *err) {
  if (legrad_check(m, ws, text_emb, n_prompts, ls, grid_maps, scores, err)) return -1;
  int relu = opt ? opt->relu : 1;
  const lg_vision_w *v = &m->vision;
  const size_t E = (size_t)m->embed_dim, GG = (size_t)ws->grid * ws->grid;
  int chunk = prompt_chunk(n_prompts, ws->tokens);
  legrad_scratch s;
  if (scratch_alloc(&s, (size_t)chunk, (size_t)ws->tokens, (size_t)v->cfg.width, E,
                    (size_t)v->cfg.mlp, relu))
    return lg_errf(err, "lg_legrad_run: out of memory for %zu bytes of scratch (%d prompts, %d "
                        "tokens)",
                   lg_legrad_scratch_bytes(m, ws, n_prompts, relu), chunk, ws->tokens);
  for (int p0 = 0; p0 < n_prompts; p0 += chunk) {
    int pc = n_prompts - p0 < chunk ? n_prompts - p0 : chunk;
    for (int k = 0; k < ls->n; k++)
      legrad_layer(m, ws, text_emb + (size_t)p0 * E, pc, ls->idx[k], k, ls->n, relu, &s,
                   grid_maps + (size_t)p0 * ls->n * GG, scores + (size_t)p0 * ls->n);
  }
  scratch_free(&s);
  return 0;
}
