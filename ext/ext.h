/*
** Internal interface between the files of the extension.  Each file registers its own SQL
** functions/modules; legrad0.c's sqlite3_legrad_init() calls them in order.
**
** Every ext file includes this header instead of <sqlite3.h>: in the loadable build the SQLite
** API is reached through the routine table handed to sqlite3_legrad_init() (SQLITE_EXTENSION_INIT3
** declares it; legrad0.c defines it with SQLITE_EXTENSION_INIT1).  The .so is not linked against
** libsqlite3, so a direct call would fail to resolve in hosts that load SQLite with RTLD_LOCAL
** (Python's _sqlite3).  With -DSQLITE_CORE the files compile against <sqlite3.h> for static linking.
*/
#ifndef LEGRAD_EXT_H
#define LEGRAD_EXT_H
#include <stddef.h>
#ifndef SQLITE_CORE
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#else
#include <sqlite3.h>
#endif

/* SQLITE_RESULT_SUBTYPE appeared in SQLite 3.45; older headers (Debian 12 ships 3.40) lack it. */
#ifndef SQLITE_RESULT_SUBTYPE
#define SQLITE_RESULT_SUBTYPE 0
#endif

/* One row of a function registration table. */
typedef struct lg_func_def {
  const char *name;
  int n_arg;       /* -1 = any number */
  int flags;       /* SQLITE_UTF8 | SQLITE_DETERMINISTIC | ... */
  void (*fn)(sqlite3_context *, int, sqlite3_value **);
} lg_func_def;
/* Registers n functions with user data p (legrad0.c); stops at the first failure. */
int lg_create_functions(sqlite3 *db, const lg_func_def *defs, size_t n, void *p);

/* Map blob functions: legrad_map_info/grid/json/png (map_funcs.c). */
int lg_register_map_functions(sqlite3 *db);
/* Metric functions: legrad_iou/pointing/mass_in (metric_funcs.c). */
int lg_register_metric_functions(sqlite3 *db);
/* Evaluation protocols: legrad_seg_eval/seg_image/point_counts (eval_funcs.c). */
int lg_register_eval_functions(sqlite3 *db);

/* The per-connection state (lg_conn, ext/conn.h) is created by sqlite3_legrad_init() and passed
** to the registration functions below, which hand it to SQLite as user data / module pAux. */
typedef struct lg_conn lg_conn;
/* legrad_models eponymous virtual table (models_vtab.c); owns the state's lifetime. */
int lg_register_models_module(sqlite3 *db, lg_conn *c);
/* legrad(), legrad_cache_stats(), legrad_cache_clear() (legrad_func.c). */
int lg_register_legrad_functions(sqlite3 *db, lg_conn *c);
/* legrad_explain() (explain_func.c). */
int lg_register_explain_functions(sqlite3 *db, lg_conn *c);
/* legrad_methods eponymous table: the method table (methods_vtab.c). */
int lg_register_methods_module(sqlite3 *db);
/* legrad_layers table-valued function (layers_vtab.c). */
int lg_register_layers_module(sqlite3 *db, lg_conn *c);
/* clip_image_embedding/clip_text_embedding/clip_similarity/clip_tokenize (clip_funcs.c). */
int lg_register_clip_functions(sqlite3 *db, lg_conn *c);

#endif
