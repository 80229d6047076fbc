/*
** legrad(image, text [, layers [, options]])  -> map blob (docs/map-format.md)
** legrad_cache_stats()                        -> '{"hits":..,"misses":..,"writes":..,"rows":..,"bytes":..,
**                                                  "pending":..,"mismatches":..,"skipped":{..},"failures":..}'
** legrad_cache_clear()                        -> number of cached maps deleted
**
**   SELECT legrad(readfile('cat.jpg'), 'a photo of a cat');
**   SELECT legrad(img, 'a cat', 'all', '{"size": 448, "resize": "squash", "cache": false}') FROM t;
**
** HOW IT WORKS
**   The arguments are parsed by lg_legrad_parse (args.c/compute.c) into the request of LeGrad's
**   row of the method table; lg_explain_result (explain_func.c) does the rest, as for every
**   method.  The prompt's text embedding is
**   kept with sqlite3_set_auxdata on argument 2, so for a constant prompt it is computed once per
**   statement.  Unless {"cache": false}, the map is looked up in legrad_cache (cache.c) by model
**   fingerprint, image content hash, prompt, layers, size, resize and relu; on a miss the vision
**   tower runs in the connection's workspace, LeGrad gives one raw grid per chosen layer, their sum
**   is encoded as the map blob, handed to the cache (queued for the extension's own writer
**   connection, never written in the caller's transaction; {"cache": "strict"} writes it before
**   returning and fails when it cannot) and returned.
**
** FLAGS
**   SQLITE_DIRECTONLY: legrad() may load the default model from disk ($LEGRAD_MODEL, the sample
**   model) and writes the cache table, so it must not run from views or triggers of an untrusted
**   schema.  SQLITE_DETERMINISTIC: for a given model registry the map depends only on the
**   arguments (the cache returns the same bytes), so the planner may factor out constant calls.
**   The registry is connection state: do not use legrad() in indexes or generated columns (the
**   DIRECTONLY flag refuses both anyway).
*/
#include "conn.h"

/* legrad(image, text [, layers [, options]]): the LeGrad row of the method table through
** lg_explain_result (explain_func.c), with layers as argument 3 and relu among the options. */
static void legradFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_conn *c = sqlite3_user_data(ctx);
  lg_err err = {{0}};
  if (argc < 2 || argc > 4) {
    sqlite3_result_error(ctx, "legrad(): expected 2 to 4 arguments (image, text [, layers [, "
                              "options]])", -1);
    return;
  }
  sqlite3_value *args[4] = {argv[0], argv[1], argc > 2 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL};
  lg_legrad_req r;
  int prc = lg_legrad_parse(c, "legrad", args, &r, &err);
  if (prc == 1) { sqlite3_result_null(ctx); return; }
  lg_explain_result(ctx, c, &r, prc, &err, 1);
}

/* legrad_cache_stats() */
static void legradCacheStatsFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc; (void)argv;
  char *json = lg_cache_stats_json(sqlite3_user_data(ctx));
  if (!json) { sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, json, -1, sqlite3_free);
}

/* legrad_cache_clear() */
static void legradCacheClearFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc; (void)argv;
  lg_err err = {{0}};
  sqlite3_int64 n = 0;
  if (lg_cache_clear(sqlite3_user_data(ctx), &n, &err)) { lg_result_err(ctx, &err); return; }
  sqlite3_result_int64(ctx, n);
}

int lg_register_legrad_functions(sqlite3 *db, lg_conn *c) {
  static const lg_func_def funcs[] = {
      {"legrad", -1, SQLITE_UTF8 | SQLITE_DIRECTONLY | SQLITE_DETERMINISTIC, legradFunc},
      {"legrad_cache_stats", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, legradCacheStatsFunc},
      {"legrad_cache_clear", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, legradCacheClearFunc},
  };
  return lg_create_functions(db, funcs, sizeof funcs / sizeof funcs[0], c);
}
