/*
** LeGrad's row of the method table (method.h): the closed-form backward of legrad.c, one raw grid
** and one score s_l per chosen block; the map is their sum (LG_POST_SUM), upsampled and min-max
** normalised like every map (docs/legrad.md, docs/methods.md).
**
**   option relu (boolean, default true): clamp dS/dA at 0 before averaging (the official code).
**   layers: the blocks whose maps are summed (default -2: the last two).
*/
#include <stdint.h>

#include "method.h"

static int legrad_n_maps(const lg_explain_in *in) { return in->ls ? in->ls->n : 0; }

static int legrad_relu(const lg_explain_in *in) { return in->opt ? in->opt[0] != 0 : 1; }

static size_t legrad_scratch(const lg_explain_in *in) {
  return lg_legrad_scratch_bytes(in->m, in->ws, in->n_prompts, legrad_relu(in));
}

/* grids [P, ls->n, G, G] and scores [P, ls->n]: exactly lg_legrad_run's layout. */
static int legrad_method_run(const lg_explain_in *in, float *grids, float *scores, lg_err *err) {
  lg_legrad_opts opt = {.relu = legrad_relu(in)};
  return lg_legrad_run(in->m, in->ws, in->text_emb, in->n_prompts, in->ls, &opt, grids, scores,
                       err);
}

const lg_explain_method lg_method_legrad = {
    .name = "legrad",
    .description = "LeGrad (Bousselham et al. 2024): gradient of the prompt's similarity w.r.t. "
                   "each chosen block's attention maps, ReLU, mean over heads and queries, "
                   "summed over the blocks",
    .blob_id = 1,
    .options_in_flags = 1,
    .needs = LG_NEED_TEXT | LG_NEED_BACKWARD,
    .post = LG_POST_SUM,
    .has_layers = 1,
    .default_layers = -2,
    .n_opts = 1,
    .opts = {{.name = "relu", .type = LG_MOPT_BOOL, .def = 1, .min = 0, .max = 1,
              .description = "clamp the gradient at 0 before averaging (official: true)"}},
    .n_maps = legrad_n_maps,
    .scratch_bytes = legrad_scratch,
    .run = legrad_method_run,
};

int lg_legrad_final(const float *grid_maps, int n_layers, int grid, int patch, float *out,
                    int *constant) {
  if (constant) *constant = 0;
  if (!grid_maps || !out || n_layers < 1 || grid < 1 || patch < 1) return -1;
  if ((int64_t)grid * patch > 65536) return -1;
  lg_upsample_sum(grid_maps, n_layers, grid, patch, out);
  lg_minmax(out, (size_t)grid * patch * grid * patch, 0, constant);
  return 0;
}
