/*
** legrad_explain(image, text, method [, options])  -> map blob (docs/map-format.md)
**
**   SELECT legrad_explain(readfile('cat.jpg'), 'a photo of a cat', 'legrad');
**   SELECT legrad_explain(img, 'a cat', 'legrad', '{"layers": "all", "relu": false, "size": 448}');
**
** method is a name of engine/explain/method.h's table (SELECT name FROM legrad_methods).  options
** is a JSON object: the common keys model, size, resize, cache, on_error (as for legrad()),
** "layers" for a method with layers (an official layer_index or a set like "9,10,11"; default the
** method's), and the method's own options (legrad_methods.options lists them with their
** defaults).  A key of another method is an error naming this one.  legrad_explain(img, txt,
** 'legrad') returns the bytes legrad(img, txt) returns.
**
** HOW IT WORKS
**   lg_explain_result() below is the one path of every function that returns a method's map
**   (legrad() parses its older argument layout into the same lg_legrad_req and calls it too):
**     1. legrad_cache lookup by model fingerprint, image hash, prompt, layers, size, resize, the
**        method's canonical options ("relu=1") and its name (cache.c);
**     2. the prompt's text embedding, kept as auxdata for a constant prompt (methods that read it);
**     3. the vision forward in the connection's workspace, recording what the method needs
**        (lg_method_keep), reused when the previous call saw the same image;
**     4. the method's run: [n_maps, G, G] grids and scores; with LG_POST_SUM their sum is the map
**        and the sum of the scores its score;
**     5. encoding (the method's id, its layers, relu flag when it has that option), cache write;
**     6. lg_row_end (failures.c): the call is counted for legrad_progress(), and a row that failed
**        on its data (LG_ROW_FAILED: image decode, empty BLOB, prompt) is recorded in
**        legrad_failures and gives NULL under {"on_error": "null"}.
**
** FLAGS: as legrad() (legrad_func.c): SQLITE_DIRECTONLY (it may load a model from disk and writes
** the cache table) | SQLITE_DETERMINISTIC (the map depends only on the arguments and the registry).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

void lg_explain_result(sqlite3_context *ctx, lg_conn *c, const lg_legrad_req *r, int parse_rc,
                       const lg_err *parse_err, int text_arg) {
  lg_err err = {{0}};
  float *maps = NULL, *t_emb = NULL;
  unsigned char *blob = NULL;
  int n_blob = 0, rc = parse_rc;
  const lg_explain_method *me = r->method;
  if (rc) {  /* the arguments failed to parse: r->m and possibly r->method are unset */
    err = *parse_err;
    goto done;
  }
  lg_cache_key key;
  if (r->opts.cache) {
    lg_cache_key_init(&key, r, me->name);
    int hit = lg_cache_get(c, &key, &blob, &n_blob, NULL, &err);
    if (hit < 0) { rc = -1; goto done; }
    if (hit) goto done;  /* rc == 0: the cached blob is the result */
  }
  rc = -1;
  if (me->needs & LG_NEED_TEXT) {
    t_emb = malloc(sizeof(float) * (size_t)r->m->embed_dim);
    if (!t_emb) { lg_errf(&err, "%s(): out of memory", r->fn); goto done; }
    rc = lg_text_embedding_cached(ctx, text_arg, r->m, r->text, r->fn, text_arg + 1, t_emb, &err);
    if (rc) goto done;
  }
  float scores[LG_MAX_LAYERS];
  int G = 0, n_maps = 0;
  lg_frame fr;
  if ((rc = lg_explain_compute(c, r, t_emb, &maps, scores, &n_maps, &G, &fr, &err)) != 0) goto done;
  rc = -1;
  float score = scores[0];
  if (me->post & LG_POST_SUM) {  /* the map of a layer set is the sum of its grids (mapblob.h) */
    for (int k = 1; k < n_maps; k++) score += scores[k];
    for (int k = 1; k < n_maps; k++)
      for (int i = 0; i < G * G; i++) maps[i] += maps[(size_t)k * G * G + i];
  }
  if (lg_encode_map(r, &fr, &r->ls, maps, G, score, 0, &blob, &n_blob, &err)) {
    lg_err_prefix(&err, "%s()", r->fn);
    goto done;
  }
  /* A failed store is an error only with {"cache": "strict"} (rc stays -1, the blob is freed). */
  if (r->opts.cache && lg_cache_put(c, &key, blob, n_blob, r->opts.cache, &err)) goto done;
  rc = 0;
done:
  free(maps);
  free(t_emb);
  /* as_null: the row failed on its data and the call asked for {"on_error": "null"} */
  int as_null = lg_row_end(c, &(lg_row){r->fn, r->img, r->n_img, r->text, r->opts.on_error_null},
                           rc, &err);
  if (rc == 0) {
    sqlite3_result_blob(ctx, blob, n_blob, sqlite3_free);
  } else {
    sqlite3_free(blob);
    if (as_null) sqlite3_result_null(ctx);
    else lg_result_err(ctx, &err);
  }
}

/* legrad_explain(image, text, method [, options]) */
static void legradExplainFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_conn *c = sqlite3_user_data(ctx);
  lg_err err = {{0}};
  if (argc < 3 || argc > 4) {
    sqlite3_result_error(ctx, "legrad_explain(): expected 3 or 4 arguments (image, text, method "
                              "[, options])", -1);
    return;
  }
  sqlite3_value *args[4] = {argv[0], argv[1], argv[2], argc > 3 ? argv[3] : NULL};
  lg_legrad_req r;
  int prc = lg_explain_parse(c, "legrad_explain", args, &r, &err);
  if (prc == 1) { sqlite3_result_null(ctx); return; }
  lg_explain_result(ctx, c, &r, prc, &err, 1);
}

int lg_register_explain_functions(sqlite3 *db, lg_conn *c) {
  static const lg_func_def funcs[] = {
      {"legrad_explain", -1, SQLITE_UTF8 | SQLITE_DIRECTONLY | SQLITE_DETERMINISTIC,
       legradExplainFunc},
  };
  return lg_create_functions(db, funcs, sizeof funcs / sizeof funcs[0], c);
}
