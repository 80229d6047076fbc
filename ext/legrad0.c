/*
** legrad0: the sqlite-legrad loadable extension's entry point.
**
**   sqlite> .load ./legrad0
**   sqlite> INSERT INTO legrad_models(name, path) VALUES ('default', 'samples/model');
**   sqlite> SELECT legrad_map_info(legrad(readfile('cat.jpg'), 'a photo of a cat'));
**
** SQLite derives the entry point from the file name (legrad0.so -> sqlite3_legrad_init).  Built
** with -DSQLITE_CORE the same code links statically: call sqlite3_auto_extension(
** (void (*)(void))sqlite3_legrad_init) before opening connections.
**
** Loading it again into a connection that has it is a no-op (the registered models are kept).
** sqlite3_legrad_init creates the connection's state (lg_conn, ext/conn.h) and registers, in order:
**   legrad_version(), legrad_debug()                       this file
**   legrad_models                                          models_vtab.c (owns the state)
**   legrad(), legrad_cache_stats(), legrad_cache_clear()   legrad_func.c
**   legrad_explain()                                       explain_func.c
**   legrad_methods                                         methods_vtab.c
**   legrad_layers                                          layers_vtab.c
**   clip_image_embedding/text_embedding/similarity/tokenize  clip_funcs.c
**   legrad_map_*                                           map_funcs.c
**   metric functions                                       metric_funcs.c
**   evaluation protocols (segmentation, points)            eval_funcs.c
** and creates temp.legrad_models (models_vtab.c: registration without a write on main).
**   legrad_failures, legrad_failures_clear(), legrad_image_hash()  failures.c
**   legrad_progress()                                      progress.c
*/
#ifndef SQLITE_CORE
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#endif
#include <cjson/cJSON.h>
#include <stdio.h>
#include <utf8proc.h>
#include <zlib.h>
/* jconfig.h needs stddef/stdio first, as jpeglib.h does. */
#include <jconfig.h>
#include <webp/decode.h>

#include "conn.h"
#include "ext.h"

#define LEGRAD_VERSION "0.1.0"

/* libjpeg-turbo's version as a string, from its jconfig.h (compile time). */
#define LG_STR2(x) #x
#define LG_STR(x) LG_STR2(x)
#ifdef LIBJPEG_TURBO_VERSION
#define LG_JPEG_VERSION LG_STR(LIBJPEG_TURBO_VERSION)
#else
#define LG_JPEG_VERSION "unknown"
#endif

/* OpenBLAS's own introspection (cblas.h declares them too, but only in newer releases). */
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);

/* legrad_version(): the extension's version string. */
static void legradVersionFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc; (void)argv;
  sqlite3_result_text(ctx, "v" LEGRAD_VERSION, -1, SQLITE_STATIC);
}

/*
** legrad_debug(): one "key: value" line per fact: version, build date, compiler, optimisation and
** sanitizer flags, BLAS configuration and threads, the BLAS thread policy and this connection's
** latest choice (threads.c), and the versions of the libraries in use.
*/
static void legradDebugFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc; (void)argv;
  const char *opt =
#ifdef __OPTIMIZE__
      "optimized";
#else
      "unoptimized";
#endif
  const char *san =
#if defined(__SANITIZE_ADDRESS__)
      "address,undefined";
#else
      "none";
#endif
  int webp = WebPGetDecoderVersion();  /* 0xMMmmrr */
  lg_interrupt intr;
  lg_image_limits lim;
  int can_stop = lg_image_limits_for_db(sqlite3_context_db_handle(ctx), &intr, &lim);
  char *threads = lg_threads_describe(sqlite3_user_data(ctx));
  char *s = sqlite3_mprintf(
      "version: v%s\n"
      "build: %s %s, gcc %s, %s, sanitizers: %s, %s\n"
      "blas: %s, threads %d\n"
      "threads: %s\n"
      "sqlite: %s (compiled against %s)\n"
      "zlib: %s\n"
      "cjson: %s\n"
      "utf8proc: %s\n"
      "libjpeg-turbo: %s (JPEG decoding)\n"
      "libwebp: %d.%d.%d (WebP decoding)\n"
      "stb_image: Debian libstb\n"
      "image decoding interruptible: %s\n"
      "models loaded in this process: %d",
      LEGRAD_VERSION, __DATE__, __TIME__, __VERSION__, opt, san,
#ifdef SQLITE_CORE
      "static (SQLITE_CORE)",
#else
      "loadable",
#endif
      openblas_get_config(), openblas_get_num_threads(), threads ? threads : "?",
      sqlite3_libversion(), SQLITE_VERSION, zlibVersion(), cJSON_Version(), utf8proc_version(),
      LG_JPEG_VERSION, webp >> 16, (webp >> 8) & 0xff, webp & 0xff,
      can_stop ? "yes (sqlite3_is_interrupted)" : "no (needs SQLite 3.41 or later)",
      lg_registry_loaded());
  sqlite3_free(threads);
  if (!s) { sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, s, -1, sqlite3_free);
}

int lg_create_functions(sqlite3 *db, const lg_func_def *defs, size_t n, void *p) {
  for (size_t i = 0; i < n; i++) {
    int rc = sqlite3_create_function_v2(db, defs[i].name, defs[i].n_arg, defs[i].flags, p,
                                        defs[i].fn, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

/* 1 when this connection already has the extension (loading twice keeps the first load's state:
** registering everything again would replace legrad_models' module and free its registry). */
static int legrad_already_loaded(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT legrad_version()", -1, &st, NULL);
  sqlite3_finalize(st);
  return rc == SQLITE_OK;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_legrad_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
#ifndef SQLITE_CORE
  SQLITE_EXTENSION_INIT2(pApi);
#else
  (void)pApi;
#endif
  if (sqlite3_libversion_number() < 3034000) {
    *pzErrMsg = sqlite3_mprintf("legrad0 needs SQLite 3.34.0 or newer (directonly functions, "
                                "sqlite3_txn_state), found %s", sqlite3_libversion());
    return SQLITE_ERROR;
  }
  if (legrad_already_loaded(db)) return SQLITE_OK;
  static const lg_func_def funcs[] = {
      {"legrad_version", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, legradVersionFunc},
  };
  static const lg_func_def debug_funcs[] = {  /* user data: the connection's lg_conn */
      {"legrad_debug", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, legradDebugFunc},
  };
  const char *step = "legrad_version/legrad_debug";
  int rc = lg_create_functions(db, funcs, sizeof funcs / sizeof funcs[0], NULL);
  lg_conn *c = NULL;
  if (rc == SQLITE_OK) {
    step = "legrad_models";
    c = lg_conn_new(db);
    if (!c) rc = SQLITE_NOMEM;
    /* From here on the module's destructor owns c (it frees it even when registration fails). */
    else rc = lg_register_models_module(db, c);
  }
  if (rc == SQLITE_OK) {
    step = "legrad_version/legrad_debug";
    rc = lg_create_functions(db, debug_funcs, sizeof debug_funcs / sizeof debug_funcs[0], c);
  }
  if (rc == SQLITE_OK) { step = "legrad"; rc = lg_register_legrad_functions(db, c); }
  if (rc == SQLITE_OK) { step = "legrad_explain"; rc = lg_register_explain_functions(db, c); }
  if (rc == SQLITE_OK) { step = "legrad_methods"; rc = lg_register_methods_module(db); }
  if (rc == SQLITE_OK) { step = "legrad_layers"; rc = lg_register_layers_module(db, c); }
  if (rc == SQLITE_OK) { step = "clip functions"; rc = lg_register_clip_functions(db, c); }
  if (rc == SQLITE_OK) { step = "map functions"; rc = lg_register_map_functions(db); }
  if (rc == SQLITE_OK) { step = "metric functions"; rc = lg_register_metric_functions(db); }
  if (rc == SQLITE_OK) { step = "evaluation functions"; rc = lg_register_eval_functions(db); }
  if (rc == SQLITE_OK) { step = "legrad_failures"; rc = lg_register_failures(db, c); }
  if (rc == SQLITE_OK) { step = "legrad_progress"; rc = lg_register_progress(db, c); }
  if (rc != SQLITE_OK) {
    *pzErrMsg = sqlite3_mprintf("legrad0: error registering %s: %s", step, sqlite3_errmsg(db));
    return rc;
  }
  /* A temp instance of legrad_models takes unqualified INSERTs, so registering a model writes the
  ** connection's private temp schema instead of opening a write transaction on main (which other
  ** connections' locks, or a read-only file, would refuse).  Best effort: without it (e.g. temp
  ** unavailable) the eponymous main.legrad_models still works. */
  sqlite3_exec(db, "CREATE VIRTUAL TABLE IF NOT EXISTS temp.legrad_models USING legrad_models",
               NULL, NULL, NULL);
  return SQLITE_OK;
}
