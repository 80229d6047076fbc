/*
** The method table (engine/explain/method.h): lookups, option parsing and its messages, what the
** forward must record, and the checks lg_explain_run does before a method runs.  The maths of each
** method is tested against its PyTorch fixtures (test_legrad.c for LeGrad).
*/
#include <stdint.h>

#include "check.h"
#include "fixture.h"
#include "clip.h"
#include "method.h"
#include "safetensors.h"

#define MODEL_DIR "tests/fixtures/models"
#define FIX_DIR "tests/fixtures/methods"


/* One fixture of tests/reference/ref_methods.py: the method's grid (for 1 and 3 prompts: the
** methods are prompt-independent, every prompt gets the same grid) within 1e-5 of the largest
** value, and the final map (lg_upsample_bilinear + lg_minmax) within 1e-5. */
static void method_case(const lg_model *m, const char *method, const char *file) {
  const lg_explain_method *me = lg_method_find(method);
  lg_st st;
  lg_err err = {{0}};
  float *pixels = NULL, *ref = NULL, *fin_ref = NULL, *start = NULL, *grids = NULL, *fin = NULL;
  lg_vit_ws *ws = NULL;
  CHECK(me != NULL, "method %s", method);
  if (!me) return;
  if (lg_st_open(&st, file, &err)) {
    CHECK(0, "%s: %s (regenerate with tests/reference/ref_methods.py)", file, err.msg);
    return;
  }
  int64_t n_pix = 0;
  pixels = fixture_tensor(&st, file, "pixels", &n_pix);
  ref = fixture_tensor(&st, file, "grid", NULL);
  fin_ref = fixture_tensor(&st, file, "final", NULL);
  if (lg_st_find(&st, "start_layer")) start = fixture_tensor(&st, file, "start_layer", NULL);
  if (!pixels || !ref || !fin_ref) goto done;
  int S = (int)lrintf(sqrtf((float)(n_pix / 3))), patch = m->vision.patch, G = S / patch;
  ws = lg_vit_ws_new(m, S, lg_method_keep(me), &err);
  if (!ws || lg_vit_forward(m, ws, pixels, NULL, &err)) {
    CHECK(0, "%s: forward: %s", file, err.msg);
    goto done;
  }
  double opt[LG_METHOD_MAX_OPTS];
  lg_method_defaults(me, opt);
  if (start) opt[lg_method_option(me, "start_layer")] = start[0];
  float temb[3 * 64] = {0};
  lg_explain_in in = {m, ws, temb, 3, NULL, opt};
  CHECK(lg_method_n_maps(me, &in) == 1, "%s: one map per prompt", file);
  grids = malloc(sizeof(float) * 3u * (size_t)G * G);
  fin = malloc(sizeof(float) * (size_t)S * S);
  float scores[3];
  if (!grids || !fin) goto done;
  for (int P = 1; P <= 3; P += 2) {
    in.n_prompts = P;
    if (lg_explain_run(me, &in, grids, scores, &err)) {
      CHECK(0, "%s: lg_explain_run: %s", file, err.msg);
      goto done;
    }
    double worst = 0, mx = 0;
    for (int i = 0; i < G * G; i++) mx = fmax(mx, fabs(ref[i]));
    for (int p = 0; p < P; p++) {
      for (int i = 0; i < G * G; i++) {
        double d = fabs((double)grids[(size_t)p * G * G + i] - ref[i]) / mx;
        if (!(d <= worst)) worst = d;
      }
      CHECK(isnan(scores[p]), "%s: no score", file);
    }
    CHECK(worst <= 1e-5, "%s, %d prompts: grid differs by %.3g of the largest value", file, P, worst);
    if (P == 1) printf("  %-48s grid %.2e of max", file + sizeof FIX_DIR, worst);
  }
  int constant = -1;
  lg_upsample_bilinear(grids, G, G, patch, fin);
  lg_minmax(fin, (size_t)S * S, 0, &constant);
  double worst_final = 0;
  for (int i = 0; i < S * S; i++) worst_final = fmax(worst_final, fabs((double)fin[i] - fin_ref[i]));
  CHECK(constant == 0 && worst_final <= 1e-5, "%s: final map differs by %.3g", file, worst_final);
  printf(", final %.2e\n", worst_final);
done:
  lg_vit_ws_free(ws);
  free(pixels); free(ref); free(fin_ref); free(start); free(grids); free(fin);
  lg_st_close(&st);
}

/* Every fixture of ref_methods.py for one model directory (fixtures named after model fix). */
static void test_reference(const char *model, const char *fix) {
  char path[512], file[700];
  lg_err err = {{0}};
  snprintf(path, sizeof path, MODEL_DIR "/%s", model);
  lg_model *m = lg_model_load(path, &err);
  CHECK(m != NULL, "lg_model_load(%s): %s", path, err.msg);
  if (!m) return;
  int L = m->vision.cfg.layers, native = m->vision.image_size;
  for (int s = 1; s <= 2; s++) {
    snprintf(file, sizeof file, FIX_DIR "/%s_%d_raw_attention.safetensors", fix, native * s);
    method_case(m, "raw_attention", file);
    int starts[3] = {0, 1, L - 1};
    for (int k = 0; k < 3; k++) {
      if (k == 2 && L - 1 <= 1) break;
      snprintf(file, sizeof file, FIX_DIR "/%s_%d_rollout_s%d.safetensors", fix, native * s,
               starts[k]);
      method_case(m, "rollout", file);
    }
  }
  lg_model_free(m);
}

static void test_lookup(void) {
  CHECK(lg_method_count() == 3, "legrad, raw_attention, rollout");
  CHECK(lg_method_find("raw_attention") == &lg_method_raw_attention &&
            lg_method_find("rollout") == &lg_method_rollout, "the two attention baselines");
  CHECK(lg_method_keep(&lg_method_raw_attention) == LG_KEEP_ATTN_LAST &&
            lg_method_keep(&lg_method_rollout) == LG_KEEP_ATTN_ALL, "what the forward keeps");
  CHECK(lg_method_at(0) == &lg_method_legrad, "LeGrad is the first row");
  CHECK(lg_method_at(-1) == NULL && lg_method_at(lg_method_count()) == NULL, "out of range rows");
  CHECK(lg_method_find("legrad") == &lg_method_legrad, "find legrad");
  CHECK(lg_method_find("LeGrad") == NULL && lg_method_find("") == NULL && !lg_method_find(NULL),
        "names are exact");
  CHECK(lg_method_by_blob_id(1) == &lg_method_legrad, "blob id 1 is LeGrad");
  CHECK(lg_method_by_blob_id(0) == NULL, "no blob id 0");
  for (int i = 0; i < lg_method_count(); i++) {
    const lg_explain_method *me = lg_method_at(i);
    CHECK(me->name && me->description && me->run && me->n_maps && me->scratch_bytes,
          "row %d is complete", i);
    CHECK(lg_method_find(me->name) == me, "%s: unique name", me->name);
    CHECK(lg_method_by_blob_id(me->blob_id) == me, "%s: unique blob id", me->name);
    CHECK(me->n_opts >= 0 && me->n_opts <= LG_METHOD_MAX_OPTS, "%s: option count", me->name);
  }
  char names[256];
  lg_method_names(names, sizeof names);
  CHECK(strncmp(names, "legrad", 6) == 0, "names list: %s", names);
}

static void test_options(void) {
  const lg_explain_method *me = &lg_method_legrad;
  lg_err err = {{0}};
  double opt[LG_METHOD_MAX_OPTS];
  char key[128];
  lg_method_defaults(me, opt);
  int k = lg_method_option(me, "relu");
  CHECK(k == 0 && opt[0] == 1, "relu defaults to true");
  CHECK(lg_method_option(me, "start_layer") == -1, "legrad has no start_layer");
  lg_method_options_key(me, opt, key, sizeof key);
  CHECK(strcmp(key, "relu=1") == 0, "options key: %s", key);
  CHECK(lg_method_set_option(me, k, 0, 12, opt, &err) == 0 && opt[0] == 0, "relu false");
  lg_method_options_key(me, opt, key, sizeof key);
  CHECK(strcmp(key, "relu=0") == 0, "options key: %s", key);
  CHECK(lg_method_set_option(me, k, 2, 12, opt, &err) == -1 && strstr(err.msg, "\"relu\"") &&
            strstr(err.msg, "true or false"), "relu 2: %s", err.msg);
  CHECK(opt[0] == 0, "a rejected value leaves the option unchanged");
  CHECK(lg_method_set_option(me, 5, 1, 12, opt, &err) == -1, "option index out of range");
  CHECK(lg_method_keep(me) == LG_KEEP_DEFAULT, "LeGrad needs no attention probabilities");
  CHECK((me->needs & LG_NEED_TEXT) && (me->needs & LG_NEED_BACKWARD), "LeGrad needs text, backward");
}

static void test_run_checks(void) {
  lg_err err = {{0}};
  lg_model *m = lg_model_load(MODEL_DIR "/tiny_qg_oc", &err);
  CHECK(m != NULL, "load: %s", err.msg);
  if (!m) return;
  lg_vit_ws *ws = lg_vit_ws_new(m, 0, LG_KEEP_DEFAULT, &err);
  float *pixels = calloc(3u * (size_t)ws->size * ws->size, sizeof(float));
  float *t = calloc((size_t)m->embed_dim, sizeof(float));
  int G = ws->grid;
  float *grids = malloc(sizeof(float) * (size_t)m->vision.cfg.layers * G * G);
  float scores[64];
  if (!pixels || !t || !grids || lg_vit_forward(m, ws, pixels, NULL, &err)) {
    CHECK(0, "setup: %s", err.msg);
    goto done;
  }
  t[0] = 1;
  const lg_explain_method *me = &lg_method_legrad;
  lg_layer_set ls;
  lg_layers_from_index(-2, m->vision.cfg.layers, &ls, &err);
  double bad[LG_METHOD_MAX_OPTS] = {3};
  lg_explain_in in = {m, ws, t, 1, &ls, bad};
  CHECK(lg_explain_run(me, &in, grids, scores, &err) == -1 && strstr(err.msg, "legrad") &&
            strstr(err.msg, "relu"), "bad option value: %s", err.msg);
  in.opt = NULL;
  in.text_emb = NULL;
  CHECK(lg_explain_run(me, &in, grids, scores, &err) == -1 && strstr(err.msg, "text"),
        "no text: %s", err.msg);
  in.text_emb = t;
  in.ls = NULL;
  CHECK(lg_explain_run(me, &in, grids, scores, &err) == -1 && strstr(err.msg, "layer set"),
        "no layers: %s", err.msg);
  in.ls = &ls;
  in.n_prompts = 0;
  CHECK(lg_explain_run(me, &in, grids, scores, &err) == -1 && strstr(err.msg, "n_prompts"),
        "0 prompts: %s", err.msg);
  in.n_prompts = 1;
  CHECK(lg_explain_run(me, &in, grids, scores, &err) == 0, "valid run: %s", err.msg);
  CHECK(me->scratch_bytes(&in) > 0, "scratch size");
done:
  free(pixels); free(t); free(grids);
  lg_vit_ws_free(ws);
  lg_model_free(m);
}

int main(void) {
  test_lookup();
  test_options();
  test_run_checks();
  test_reference("tiny_qg_oc", "tiny_qg_oc");
  test_reference("tiny_gelu_oc", "tiny_gelu_oc");
  test_reference("tiny_ls_oc", "tiny_ls_oc");
  /* The HF layout of the same weights gives the same maps. */
  test_reference("tiny_qg_hf", "tiny_qg_oc");
  test_reference("tiny_gelu_hf", "tiny_gelu_oc");
  return check_report("test_method");
}
