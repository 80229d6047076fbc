/*
** The method table (engine/explain/method.h): lookups, option parsing and its messages, what the
** forward must record, and the checks lg_explain_run does before a method runs.  The maths of each
** method is tested against its PyTorch fixtures (test_legrad.c for LeGrad).
*/
#include <stdint.h>

#include "check.h"
#include "clip.h"
#include "method.h"

#define MODEL_DIR "tests/fixtures/models"

static void test_lookup(void) {
  CHECK(lg_method_count() >= 1, "at least one method");
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
  return check_report("test_method");
}
