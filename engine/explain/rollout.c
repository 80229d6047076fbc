/*
** Attention rollout (Abnar & Zuidema 2020), as Chefer's Transformer-Explainability computes it
** (baselines/ViT/ViT_explanation_generator.py: generate_rollout + compute_rollout_attention;
** legrad.md §3.2):
**
**   Ahat_l = 1/H * sum_h A_l,h                                   [T, T] mean over heads
**   Atil_l = (Ahat_l + I) / rowsum(Ahat_l + I)                   residual, rows normalised
**   R      = Atil_{L-1} @ ... @ Atil_{s+1} @ Atil_s              s = start_layer (default 1)
**   map    = R[0, n_prefix:]                                      the CLS row, patch columns
**
** The evaluation scripts call it with start_layer = 1 (block 0 skipped), the default here.  Only
** the CLS row of R is needed, so it is computed as a row vector, r = e_0, r <- r @ Atil_l for
** l = L-1 down to s: O(L*H*T^2) instead of O(L*T^3), the same product in another association.
** Prompt-independent, no gradient; one grid per prompt (the same), no score (NAN).
** Needs every block's attention probabilities (LG_NEED_ATTN_ALL).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"

static int rollout_n_maps(const lg_explain_in *in) { return 1; }

/* Scratch: the row r and the next row (double), and the mean attention of one block (double). */
static size_t rollout_scratch(const lg_explain_in *in) {
  size_t T = (size_t)in->ws->tokens;
  return sizeof(double) * (2 * T + T * T);
}

static int rollout_start(const lg_explain_in *in) {
  return in->opt ? (int)in->opt[0] : (int)lg_method_rollout.opts[0].def;
}

/* grids [P, 1, G, G], scores [P, 1]. */
static int rollout_run(const lg_explain_in *in, float *grids, float *scores, lg_err *err) {
  const lg_vit_ws *ws = in->ws;
  int L = in->m->vision.cfg.layers, H = in->m->vision.cfg.heads, T = ws->tokens;
  int n0 = ws->n_prefix, GG = ws->grid * ws->grid, s = rollout_start(in);
  if (n0 < 1)
    return lg_errf(err, "rollout: the model has no CLS token, whose row of the rollout is the map");
  double *r = malloc(sizeof(double) * (size_t)T), *next = malloc(sizeof(double) * (size_t)T);
  double *mean = malloc(sizeof(double) * (size_t)T * (size_t)T);
  int rc = -1;
  if (!r || !next || !mean) {
    lg_errf(err, "rollout: out of memory for %d tokens", T);
    goto done;
  }
  for (int k = 0; k < T; k++) r[k] = k == 0;
  for (int l = L - 1; l >= s; l--) {
    const float *A = ws->blocks[l].attn;  /* [H, T, T] */
    if (!A) { lg_errf(err, "rollout: block %d's attention was not kept", l); goto done; }
    /* mean[j, k] = Ahat_l[j, k] + (j == k); then each row divided by its sum. */
    for (size_t i = 0; i < (size_t)T * T; i++) {
      double acc = 0;
      for (int h = 0; h < H; h++) acc += A[(size_t)h * T * T + i];
      mean[i] = acc / H;
    }
    for (int j = 0; j < T; j++) {
      double *row = mean + (size_t)j * T, sum = 0;
      row[j] += 1.0;
      for (int k = 0; k < T; k++) sum += row[k];
      for (int k = 0; k < T; k++) row[k] /= sum;
    }
    /* next = r @ Atil_l */
    for (int k = 0; k < T; k++) next[k] = 0;
    for (int j = 0; j < T; j++) {
      if (r[j] == 0) continue;
      const double *row = mean + (size_t)j * T;
      for (int k = 0; k < T; k++) next[k] += r[j] * row[k];
    }
    double *t = r; r = next; next = t;
  }
  for (int j = 0; j < GG; j++) grids[j] = (float)r[n0 + j];
  scores[0] = NAN;
  for (int p = 1; p < in->n_prompts; p++) {
    memcpy(grids + (size_t)p * GG, grids, sizeof(float) * (size_t)GG);
    scores[p] = NAN;
  }
  rc = 0;
done:
  free(r); free(next); free(mean);
  return rc;
}

const lg_explain_method lg_method_rollout = {
    .name = "rollout",
    .description = "Attention rollout (Abnar & Zuidema; Chefer's compute_rollout_attention): the "
                   "product of the head-averaged attentions plus identity, rows normalised, from "
                   "block start_layer up; the CLS row (prompt-independent, no gradient)",
    .blob_id = 4,
    .options_in_flags = 0,
    .needs = LG_NEED_ATTN_ALL,
    .post = 0,
    .has_layers = 0,
    .n_opts = 1,
    .opts = {{.name = "start_layer", .type = LG_MOPT_INT, .def = 1, .min = 0, .max_from_layers = 1,
              .description = "first block multiplied in (0 = all; 1 as Chefer's evaluation "
                             "scripts)"}},
    .n_maps = rollout_n_maps,
    .scratch_bytes = rollout_scratch,
    .run = rollout_run,
};
