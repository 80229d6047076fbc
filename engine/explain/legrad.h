/*
** LeGrad for CLIP ViTs (official WalBouss/LeGrad semantics; docs/legrad.md), closed-form backward.
**
**   lg_layer_set ls;  lg_layers_from_index(-2, L, &ls, &err);   // or lg_layers_parse("9,10,11", ...)
**   // after lg_vit_forward(m, ws, pixels, ...):
**   lg_legrad_run(m, ws, text_emb, P, &ls, &opt, grid_maps, scores, &err);
**   lg_legrad_final(grid_maps + p*ls.n*G*G, ls.n, G, patch, final_map, &constant);  // prompt p
*/
#ifndef LEGRAD_LEGRAD_H
#define LEGRAD_LEGRAD_H
#include <stddef.h>

#include "clip.h"
#include "lg_error.h"
#include "resample.h"  /* the resampler and min-max of lg_legrad_final */

#define LG_MAX_LAYERS 256

typedef struct lg_layer_set {
  int n;                    /* number of chosen blocks, ascending, distinct */
  int idx[LG_MAX_LAYERS];   /* block indices, 0 = first block */
} lg_layer_set;

/* Official layer_index: -2 (default) = last two blocks; 0 = all; negative counts from the end;
** positive k = blocks k..L-1 (starting_depth = k).  Out of range (k >= L or k < -L): -1 + err. */
int lg_layers_from_index(int layer_index, int n_layers, lg_layer_set *out, lg_err *err);
/* "all"; a lone integer = the official layer_index above ("-2", "0"); otherwise an explicit set of
** block numbers and ranges: "9,10,11", "0-11", "0-3,10", "-1,-2" (negative = from the end).
** "9-9" selects block 9 alone.  Sorted and de-duplicated; out-of-range blocks are an error. */
int lg_layers_parse(const char *spec, int n_layers, lg_layer_set *out, lg_err *err);

typedef struct lg_legrad_opts {
  int relu;     /* 1 (default): clamp the gradient at 0 before averaging */
} lg_legrad_opts;

/* Per prompt p (text_emb: [P, E], L2-normalised) and chosen block l:
**   grid_maps[(p*ls->n + k)*G*G + r*G + c]  raw (un-normalised) grid map of block ls->idx[k]
**   scores[p*ls->n + k]                       s_l = <t_p, normalize(ln_post(mean_tokens(x_l)) @ proj)>
** All prompts share the single forward in ws and are batched in the backward GEMMs.
** Needs, for each chosen block, the caches qkv, y, ln2_mean/ln2_rstd, h and x_out (never attn:
** LG_KEEP_DEFAULT suffices).  opt may be NULL (relu = 1).  Allocates lg_legrad_scratch_bytes()
** for the call and frees it before returning. */
int lg_legrad_run(const lg_model *m, const lg_vit_ws *ws, const float *text_emb, int n_prompts,
                  const lg_layer_set *ls, const lg_legrad_opts *opt, float *grid_maps, float *scores,
                  lg_err *err);
/* Bytes of scratch lg_legrad_run allocates for n_prompts on ws (for memory budgeting).  Prompts
** are processed in chunks of about 4096 / T (all stacked in each GEMM), so this stays bounded. */
size_t lg_legrad_scratch_bytes(const lg_model *m, const lg_vit_ws *ws, int n_prompts, int relu);

/* Final map as the official code: upsample each layer map by `patch`, sum, min-max (resample.h).
** grid_maps: [n_layers, G, G] (one prompt's block of lg_legrad_run's output).
** out: [G*patch, G*patch].  A constant map (or one with a non-finite value) gives zeros and
** *constant = 1: never NaN.
** Returns -1 only for invalid sizes (n_layers, grid, patch < 1, or G*patch > 65536). */
int lg_legrad_final(const float *grid_maps, int n_layers, int grid, int patch, float *out,
                    int *constant);

#endif
