/*
** Raw attention (legrad.md §3.1; Chefer's ViT_orig_LRP.relprop(method="last_layer_attn")): the last
** block's post-softmax attention, clamp(min=0) (a no-op on probabilities), mean over the heads, the
** CLS query row, the patch key columns.  Class- and prompt-agnostic, no gradient.
**
**   map[j] = 1/H * sum_h max(A^{L-1}_h[0, n_prefix + j], 0)        j = 0..G*G-1
**
** Needs the last block's attention probabilities (LG_NEED_ATTN_LAST).  One grid per prompt (the
** same for every prompt), no score (NAN).  Cost: H*G*G additions after the forward.
*/
#include <math.h>
#include <string.h>

#include "method.h"

static int raw_attention_n_maps(const lg_explain_in *in) { return 1; }

static size_t raw_attention_scratch(const lg_explain_in *in) { return 0; }

/* grids [P, 1, G, G], scores [P, 1]. */
static int raw_attention_run(const lg_explain_in *in, float *grids, float *scores, lg_err *err) {
  const lg_vit_ws *ws = in->ws;
  int L = in->m->vision.cfg.layers, H = in->m->vision.cfg.heads, T = ws->tokens;
  int n0 = ws->n_prefix, GG = ws->grid * ws->grid;
  if (n0 < 1)
    return lg_errf(err, "raw_attention: the model has no CLS token, whose attention row the "
                        "method reads");
  const float *A = ws->blocks[L - 1].attn;  /* [H, T, T] */
  if (!A) return lg_errf(err, "raw_attention: the last block's attention was not kept");
  for (int j = 0; j < GG; j++) {
    double s = 0;
    for (int h = 0; h < H; h++) {
      float a = A[(size_t)h * T * T + n0 + j];  /* row 0 (CLS), column n0 + j */
      s += a > 0.f ? a : 0.f;
    }
    grids[j] = (float)(s / H);
  }
  scores[0] = NAN;
  for (int p = 1; p < in->n_prompts; p++) {
    memcpy(grids + (size_t)p * GG, grids, sizeof(float) * (size_t)GG);
    scores[p] = NAN;
  }
  return 0;
}

const lg_explain_method lg_method_raw_attention = {
    .name = "raw_attention",
    .description = "Raw attention: the last block's attention of the CLS token to the patches, "
                   "mean over heads (prompt-independent, no gradient)",
    .blob_id = 3,
    .options_in_flags = 0,
    .needs = LG_NEED_ATTN_LAST,
    .post = 0,
    .has_layers = 0,
    .n_opts = 0,
    .n_maps = raw_attention_n_maps,
    .scratch_bytes = raw_attention_scratch,
    .run = raw_attention_run,
};
