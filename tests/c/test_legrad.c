/*
** LeGrad closed form (engine/explain/legrad.c) against the autograd reference of the official algorithm
** (tests/reference/ref_legrad.py -> tests/fixtures/legrad/<case>.safetensors).
**
** For every tiny model (QuickGELU, GELU, GELU + LayerScale), input side (native 32 and doubled 64,
** i.e. resampled position embeddings), 1 and 3 prompts, default layers (-2) and all layers (and
** ReLU off for 3 prompts), the C forward + lg_legrad_run must give
**   per-layer grid maps within 1e-5 of the largest |value|, scores within 1e-5,
**   final maps (lg_legrad_final) within 1e-5 max abs.
** Text embeddings come from the fixture (normalised), so this does not depend on the tokenizer.
*/
#include <stdint.h>

#include "check.h"
#include "fixture.h"
#include "clip.h"
#include "legrad.h"
#include "method.h"
#include "safetensors.h"

#define FIX_DIR "tests/fixtures/legrad"
#define MODEL_DIR "tests/fixtures/models"


/* Opens a fixture file; on failure counts a failed check naming the regeneration script. */
static int fixture_open(lg_st *st, const char *file) {
  lg_err err = {{0}};
  if (lg_st_open(st, file, &err) == 0) return 0;
  CHECK(0, "%s: %s (regenerate with tests/reference/ref_legrad.py)", file, err.msg);
  return -1;
}

/* Max |a-b| over n, and max |b|. */
static void max_diff(const float *a, const float *b, size_t n, double *diff, double *ref) {
  *diff = 0;
  *ref = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= *diff)) *diff = d; /* NaN propagates as a failure */
    if (fabs(b[i]) > *ref) *ref = fabs(b[i]);
  }
}

/* One fixture case on an already loaded model. */
static void run_case(const lg_model *m, const char *file, int layer_index) {
  lg_st st;
  lg_err err = {{0}};
  float *pixels = NULL, *temb = NULL, *layers = NULL, *relu = NULL, *ref_grid = NULL;
  float *ref_scores = NULL, *ref_final = NULL, *grid = NULL, *scores = NULL, *fin = NULL;
  lg_vit_ws *ws = NULL;
  int64_t n_pix, n_temb, n_layers;
  if (fixture_open(&st, file)) return;
  pixels = fixture_tensor(&st, file, "pixels", &n_pix);
  temb = fixture_tensor(&st, file, "text_embed", &n_temb);
  layers = fixture_tensor(&st, file, "layers", &n_layers);
  relu = fixture_tensor(&st, file, "relu", NULL);
  ref_grid = fixture_tensor(&st, file, "grid_maps", NULL);
  ref_scores = fixture_tensor(&st, file, "scores", NULL);
  ref_final = fixture_tensor(&st, file, "final", NULL);
  if (!pixels || !temb || !layers || !relu || !ref_grid || !ref_scores || !ref_final) goto done;

  int S = (int)lrintf(sqrtf((float)(n_pix / 3)));
  int P = (int)(n_temb / m->embed_dim), L = m->vision.cfg.layers;
  int patch = m->vision.patch, G = S / patch;

  /* The layer set of the official layer_index equals the fixture's list. */
  lg_layer_set ls;
  CHECK(lg_layers_from_index(layer_index, L, &ls, &err) == 0, "%s: %s", file, err.msg);
  int same = ls.n == (int)n_layers;
  for (int k = 0; same && k < ls.n; k++) same = ls.idx[k] == (int)layers[k];
  CHECK(same, "%s: layer_index %d gives %d blocks, fixture has %d", file, layer_index, ls.n,
        (int)n_layers);
  if (!same) goto done;

  ws = lg_vit_ws_new(m, S, LG_KEEP_DEFAULT, &err);
  CHECK(ws != NULL, "%s: lg_vit_ws_new(%d): %s", file, S, err.msg);
  if (!ws) goto done;
  CHECK(ws->grid == G, "%s: grid %d, expected %d", file, ws->grid, G);
  if (lg_vit_forward(m, ws, pixels, NULL, &err)) {
    CHECK(0, "%s: lg_vit_forward: %s", file, err.msg);
    goto done;
  }
  size_t nmap = (size_t)P * ls.n * G * G;
  grid = malloc(nmap * sizeof(float));
  scores = malloc((size_t)P * ls.n * sizeof(float));
  fin = malloc((size_t)S * S * sizeof(float));
  if (!grid || !scores || !fin) goto done;
  lg_legrad_opts opt = {.relu = relu[0] != 0.f};
  if (lg_legrad_run(m, ws, temb, P, &ls, &opt, grid, scores, &err)) {
    CHECK(0, "%s: lg_legrad_run: %s", file, err.msg);
    goto done;
  }
  /* The method table's LeGrad row gives the same bytes as lg_legrad_run. */
  {
    const lg_explain_method *me = lg_method_find("legrad");
    float *tgrid = malloc(nmap * sizeof(float)), *tscores = malloc((size_t)P * ls.n * sizeof(float));
    double opt[LG_METHOD_MAX_OPTS];
    CHECK(me != NULL, "legrad is in the method table");
    if (me && tgrid && tscores) {
      lg_method_defaults(me, opt);
      CHECK(lg_method_set_option(me, lg_method_option(me, "relu"), relu[0] != 0.f, L, opt, &err) == 0,
            "%s: relu option: %s", file, err.msg);
      lg_explain_in in = {m, ws, temb, P, &ls, opt};
      CHECK(lg_method_n_maps(me, &in) == ls.n, "%s: n_maps %d, expected %d", file,
            lg_method_n_maps(me, &in), ls.n);
      CHECK(lg_explain_run(me, &in, tgrid, tscores, &err) == 0, "%s: lg_explain_run: %s", file, err.msg);
      CHECK(memcmp(tgrid, grid, nmap * sizeof(float)) == 0 &&
                memcmp(tscores, scores, (size_t)P * ls.n * sizeof(float)) == 0,
            "%s: the method table's legrad differs from lg_legrad_run", file);
    }
    free(tgrid);
    free(tscores);
  }
  /* Per-layer grid maps: relative to the largest value of each layer's reference map. */
  double worst = 0;
  for (int q = 0; q < P * ls.n; q++) {
    double d, r;
    max_diff(grid + (size_t)q * G * G, ref_grid + (size_t)q * G * G, (size_t)G * G, &d, &r);
    double rel = r > 0 ? d / r : d;
    if (!(rel <= worst)) worst = rel;
  }
  CHECK(worst <= 1e-5, "%s: per-layer grid maps differ by %.3g of the largest value", file, worst);
  double ds, rs;
  max_diff(scores, ref_scores, (size_t)P * ls.n, &ds, &rs);
  CHECK(ds <= 1e-5, "%s: scores differ by %.3g", file, ds);
  /* Final maps per prompt. */
  double worst_final = 0;
  for (int p = 0; p < P; p++) {
    int constant = -1;
    CHECK(lg_legrad_final(grid + (size_t)p * ls.n * G * G, ls.n, G, patch, fin, &constant) == 0,
          "%s: lg_legrad_final", file);
    CHECK(constant == 0, "%s: prompt %d map unexpectedly constant", file, p);
    double d, r;
    max_diff(fin, ref_final + (size_t)p * S * S, (size_t)S * S, &d, &r);
    if (!(d <= worst_final)) worst_final = d;
  }
  CHECK(worst_final <= 1e-5, "%s: final maps differ by %.3g max abs", file, worst_final);
  printf("  %-44s grid %.2e of max, scores %.2e, final %.2e\n", file + sizeof FIX_DIR, worst, ds,
         worst_final);
done:
  lg_vit_ws_free(ws);
  free(pixels); free(temb); free(layers); free(relu); free(ref_grid); free(ref_scores);
  free(ref_final); free(grid); free(scores); free(fin);
  lg_st_close(&st);
}

/* Many prompts: lg_legrad_run splits them into chunks of ~4096/T stacked rows (63 at T = 65); every
** prompt must still get exactly its own map.  70 prompts cycle through a fixture's 3. */
static void test_many_prompts(const lg_model *m, const char *file) {
  lg_st st;
  lg_err err = {{0}};
  if (fixture_open(&st, file)) return;
  float *pixels = fixture_tensor(&st, file, "pixels", NULL);
  float *temb = fixture_tensor(&st, file, "text_embed", NULL);
  float *ref = fixture_tensor(&st, file, "grid_maps", NULL);
  const int P = 70, E = m->embed_dim, S = 2 * m->vision.image_size, G = S / m->vision.patch;
  lg_layer_set ls;
  lg_layers_from_index(0, m->vision.cfg.layers, &ls, &err);
  float *many = malloc((size_t)P * E * sizeof(float));
  float *grid = malloc((size_t)P * ls.n * G * G * sizeof(float));
  float *scores = malloc((size_t)P * ls.n * sizeof(float));
  lg_vit_ws *ws = lg_vit_ws_new(m, S, LG_KEEP_DEFAULT, &err);
  if (pixels && temb && ref && many && grid && scores && ws &&
      lg_vit_forward(m, ws, pixels, NULL, &err) == 0) {
    for (int p = 0; p < P; p++) memcpy(many + (size_t)p * E, temb + (size_t)(p % 3) * E, E * sizeof(float));
    CHECK(lg_legrad_run(m, ws, many, P, &ls, NULL, grid, scores, &err) == 0, "70 prompts: %s",
          err.msg);
    double worst = 0;
    size_t per = (size_t)ls.n * G * G;
    for (int p = 0; p < P; p++) {
      double d, r;
      max_diff(grid + p * per, ref + (p % 3) * per, per, &d, &r);
      if (!(d / r <= worst)) worst = d / r;
    }
    CHECK(worst <= 1e-5, "70 prompts in chunks: maps differ by %.3g of max", worst);
  } else {
    CHECK(0, "test_many_prompts setup: %s", err.msg);
  }
  lg_vit_ws_free(ws);
  free(pixels); free(temb); free(ref); free(many); free(grid); free(scores);
  lg_st_close(&st);
}

/* Argument validation of lg_legrad_run on a real model and workspace. */
static void test_errors(const lg_model *m) {
  lg_err err = {{0}};
  lg_vit_ws *ws = lg_vit_ws_new(m, m->vision.image_size, LG_KEEP_DEFAULT, &err);
  CHECK(ws != NULL, "ws: %s", err.msg);
  if (!ws) return;
  float t[64] = {0}, grid[64], sc[8];
  lg_layer_set ls = {.n = 2, .idx = {2, 1}};
  CHECK(lg_legrad_run(m, ws, t, 1, &ls, NULL, grid, sc, &err) == -1 &&
            strstr(err.msg, "ascending"), "unsorted set: %s", err.msg);
  ls = (lg_layer_set){.n = 1, .idx = {m->vision.cfg.layers}};
  CHECK(lg_legrad_run(m, ws, t, 1, &ls, NULL, grid, sc, &err) == -1, "block out of range");
  ls = (lg_layer_set){.n = 1, .idx = {0}};
  CHECK(lg_legrad_run(m, ws, t, 0, &ls, NULL, grid, sc, &err) == -1 && strstr(err.msg, "n_prompts"),
        "0 prompts: %s", err.msg);
  CHECK(lg_legrad_run(m, ws, NULL, 1, &ls, NULL, grid, sc, &err) == -1, "NULL text");
  lg_vit_ws_free(ws);
}

/* Bilinear upsampling / resize against F.interpolate(mode='bilinear'). */
static void test_upsample_fixture(void) {
  const char *file = FIX_DIR "/upsample.safetensors";
  lg_st st;
  if (fixture_open(&st, file)) return;
  float *src = fixture_tensor(&st, file, "src", NULL);
  const struct { const char *name; int h, w, scale; } cases[] = {
      {"up8", 40, 56, 8}, {"up14", 70, 98, 14}, {"resized", 13, 29, 0}, {"resized_down", 3, 4, 0}};
  for (size_t c = 0; src && c < sizeof cases / sizeof cases[0]; c++) {
    float *want = fixture_tensor(&st, file, cases[c].name, NULL);
    float *got = malloc((size_t)cases[c].h * cases[c].w * sizeof(float));
    if (want && got) {
      if (cases[c].scale) lg_upsample_bilinear(src, 5, 7, cases[c].scale, got);
      else lg_resize_bilinear(src, 5, 7, got, cases[c].h, cases[c].w);
      double d, r;
      max_diff(got, want, (size_t)cases[c].h * cases[c].w, &d, &r);
      CHECK(d <= 1e-6 * (r > 1 ? r : 1), "%s: %s differs from F.interpolate by %.3g", file,
            cases[c].name, d);
    }
    free(want);
    free(got);
  }
  free(src);
  lg_st_close(&st);
}

int main(void) {
  static const char *models[] = {"tiny_qg_oc", "tiny_gelu_oc", "tiny_ls_oc"};
  test_upsample_fixture();
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    char path[512];
    lg_err err = {{0}};
    snprintf(path, sizeof path, MODEL_DIR "/%s", models[i]);
    lg_model *m = lg_model_load(path, &err);
    CHECK(m != NULL, "lg_model_load(%s): %s", path, err.msg);
    if (!m) continue;
    if (i == 0) {
      test_errors(m);
      test_many_prompts(m, FIX_DIR "/tiny_qg_oc_64_p3_all.safetensors");
    }
    int native = m->vision.image_size;
    for (int s = 1; s <= 2; s++)
      for (int P = 1; P <= 3; P += 2) {
        char file[600];
        snprintf(file, sizeof file, FIX_DIR "/%s_%d_p%d_default.safetensors", models[i],
                 native * s, P);
        run_case(m, file, -2);
        snprintf(file, sizeof file, FIX_DIR "/%s_%d_p%d_all.safetensors", models[i], native * s, P);
        run_case(m, file, 0);
        if (P == 3) {
          snprintf(file, sizeof file, FIX_DIR "/%s_%d_p%d_all_norelu.safetensors", models[i],
                   native * s, P);
          run_case(m, file, 0);
        }
      }
    lg_model_free(m);
  }
  return check_report("test_legrad");
}
