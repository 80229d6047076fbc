/*
** CLIP text tower forward (clip.h, spec §4): x = tok_emb[ids] + pos; L causal pre-LN blocks;
** ln_final on the first end-of-text position; embed = that row · text_projection.
** Only positions 0..eot are computed: under the causal mask later positions cannot influence it.
** Also the embedding helpers (L2 normalisation, dot product, CLIP logit).
*/
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "clip.h"
#include "ops.h"

int lg_text_forward(const lg_model *m, const int32_t *ids, int n_ids, float *embed, lg_err *err) {
  if (!m || !ids || !embed) return lg_errf(err, "lg_text_forward: model, ids and embed are required");
  if (!m->has_text)
    return lg_errf(err, "lg_text_forward: %s is a vision-only checkpoint: the text tower is unavailable", m->path);
  const lg_text_w *t = &m->text;
  if (n_ids < 1 || n_ids > t->ctx)
    return lg_errf(err, "lg_text_forward: %d token ids, expected 1..%d (the context length)", n_ids, t->ctx);
  int eot = -1;
  for (int i = 0; i < n_ids; i++) {
    if (ids[i] < 0 || ids[i] >= t->vocab)
      return lg_errf(err, "lg_text_forward: token id %d at position %d is outside the vocabulary [0,%d)", ids[i],
                     i, t->vocab);
    if (eot < 0 && ids[i] == m->eot_id) eot = i;
  }
  if (eot < 0) return lg_errf(err, "lg_text_forward: no end-of-text id %d among the %d ids", m->eot_id, n_ids);
  int T = eot + 1, D = t->cfg.width, F = t->cfg.mlp, H = t->cfg.heads;
  (void)H;
  size_t TD = (size_t)T * D;
  float *mem = malloc((6 * TD + 3 * TD + 2 * (size_t)T * F + (size_t)T * T) * sizeof(float));
  if (!mem) return lg_errf(err, "lg_text_forward: out of memory");
  float *xa = mem, *xb = xa + TD, *qkv = xb + TD, *y = qkv + 3 * TD, *ln = y + TD, *o = ln + TD, *tmp = o + TD;
  float *h = tmp + TD, *act = h + (size_t)T * F, *scores = act + (size_t)T * F;
  for (int i = 0; i < T; i++) {
    const float *e = t->tok_emb + (size_t)ids[i] * D, *p = t->pos + (size_t)i * D;
    for (int j = 0; j < D; j++) xa[(size_t)i * D + j] = e[j] + p[j];
  }
  for (int l = 0; l < t->cfg.layers; l++) {
    lg_block_bufs b = {NULL, NULL, qkv, NULL, y, NULL, NULL, h, xb, ln, o, tmp, act, scores};
    lg_block_forward(&t->blocks[l], &t->cfg, T, 1, xa, &b);
    float *sw = xa; xa = xb; xb = sw;
  }
  lg_layernorm(xa + (size_t)eot * D, 1, D, t->ln_final_w, t->ln_final_b, t->cfg.ln_eps, ln, NULL, NULL);
  cblas_sgemv(CblasRowMajor, CblasTrans, D, m->embed_dim, 1.0f, t->proj, m->embed_dim, ln, 1, 0.0f, embed, 1);
  free(mem);
  return 0;
}

float lg_dot(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
  return (float)s;
}

float lg_l2_normalize(float *v, int n) {
  float norm = sqrtf(lg_dot(v, v, n));
  if (norm > 0)
    for (int i = 0; i < n; i++) v[i] /= norm;
  return norm;
}

float lg_clip_logit(const lg_model *m, const float *img, const float *txt) {
  int E = m->embed_dim;
  float ni = sqrtf(lg_dot(img, img, E)), nt = sqrtf(lg_dot(txt, txt, E));
  if (!(ni > 0) || !(nt > 0)) return 0.0f;
  return expf(m->logit_scale) * lg_dot(img, txt, E) / (ni * nt);
}
