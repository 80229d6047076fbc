/*
** legrad_methods: the explanation methods of engine/explain/method.h's table, one row each.
**
**   SELECT name, needs_backward, options FROM legrad_methods;
**
** Schema:
**   CREATE TABLE legrad_methods(name TEXT, description TEXT, options TEXT, layers INT,
**     needs_text INT, needs_backward INT, needs_relprop INT, attention TEXT, id INT)
**
**   name           what legrad_explain()'s method argument takes
**   description    one line: the method and what it computes
**   options        JSON array of the method's own options: [{"name", "type" ("boolean" or
**                  "integer"), "default", "min", "max", "description"}] (max: the model's last
**                  block for options bounded by the layer count, as null)
**   layers         the default layer_index when the method takes "layers", else NULL
**   needs_text     1 when the map depends on the prompt
**   needs_backward 1 when it runs a backward pass through the vision tower
**   needs_relprop  1 when it propagates relevance (LRP rules)
**   attention      the attention probabilities the forward must keep: 'none', 'last' or 'all'
**   id             the method's id in map blobs (docs/map-format.md)
**
** HOW IT WORKS: an eponymous-only module (xCreate = 0) over the static table; a full scan, the rowid
** is the table index.  Pure: it reads nothing but the compiled table (SQLITE_VTAB_INNOCUOUS).
*/
#include <string.h>

#include "conn.h"

enum { M_NAME, M_DESCRIPTION, M_OPTIONS, M_LAYERS, M_NEEDS_TEXT, M_NEEDS_BACKWARD,
       M_NEEDS_RELPROP, M_ATTENTION, M_ID };

typedef struct methods_cursor {
  sqlite3_vtab_cursor base;
  int i;
} methods_cursor;

static int methodsConnect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                          sqlite3_vtab **ppVtab, char **pzErr) {
  (void)pAux; (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(name TEXT, description TEXT, options TEXT, "
                                    "layers INT, needs_text INT, needs_backward INT, "
                                    "needs_relprop INT, attention TEXT, id INT)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  sqlite3_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  *ppVtab = v;
  return SQLITE_OK;
}

static int methodsDisconnect(sqlite3_vtab *pVtab) {
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

static int methodsBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *info) {
  (void)pVtab;
  info->estimatedCost = 10;
  info->estimatedRows = lg_method_count();
  return SQLITE_OK;
}

static int methodsOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur) {
  (void)pVtab;
  methods_cursor *cur = sqlite3_malloc(sizeof *cur);
  if (!cur) return SQLITE_NOMEM;
  memset(cur, 0, sizeof *cur);
  *ppCur = &cur->base;
  return SQLITE_OK;
}

static int methodsClose(sqlite3_vtab_cursor *pCur) {
  sqlite3_free(pCur);
  return SQLITE_OK;
}

static int methodsFilter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr, int argc,
                         sqlite3_value **argv) {
  (void)idxNum; (void)idxStr; (void)argc; (void)argv;
  ((methods_cursor *)pCur)->i = 0;
  return SQLITE_OK;
}

static int methodsNext(sqlite3_vtab_cursor *pCur) {
  ((methods_cursor *)pCur)->i++;
  return SQLITE_OK;
}

static int methodsEof(sqlite3_vtab_cursor *pCur) {
  return ((methods_cursor *)pCur)->i >= lg_method_count();
}

/* Appends s as a JSON string (the table's texts are ASCII; '"' and '\' are escaped). */
static void json_string(sqlite3_str *out, const char *s) {
  sqlite3_str_appendchar(out, 1, '"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') sqlite3_str_appendchar(out, 1, '\\');
    sqlite3_str_appendchar(out, 1, *s);
  }
  sqlite3_str_appendchar(out, 1, '"');
}

/* The options column: a JSON array describing me's options. */
static char *options_json(const lg_explain_method *me) {
  sqlite3_str *out = sqlite3_str_new(NULL);
  sqlite3_str_appendchar(out, 1, '[');
  for (int k = 0; k < me->n_opts; k++) {
    const lg_method_opt *o = &me->opts[k];
    int is_bool = o->type == LG_MOPT_BOOL;
    sqlite3_str_appendall(out, k ? ",{\"name\":" : "{\"name\":");
    json_string(out, o->name);
    sqlite3_str_appendf(out, ",\"type\":\"%s\",\"default\":", is_bool ? "boolean" : "integer");
    if (is_bool) sqlite3_str_appendall(out, o->def != 0 ? "true" : "false");
    else sqlite3_str_appendf(out, "%lld", (long long)o->def);
    if (!is_bool) {
      sqlite3_str_appendf(out, ",\"min\":%lld,\"max\":", (long long)o->min);
      if (o->max_from_layers) sqlite3_str_appendall(out, "null");
      else sqlite3_str_appendf(out, "%lld", (long long)o->max);
    }
    sqlite3_str_appendall(out, ",\"description\":");
    json_string(out, o->description);
    sqlite3_str_appendchar(out, 1, '}');
  }
  sqlite3_str_appendchar(out, 1, ']');
  return sqlite3_str_finish(out);
}

static int methodsColumn(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int col) {
  const lg_explain_method *me = lg_method_at(((methods_cursor *)pCur)->i);
  if (!me) return SQLITE_ERROR;
  switch (col) {
    case M_NAME: sqlite3_result_text(ctx, me->name, -1, SQLITE_STATIC); break;
    case M_DESCRIPTION: sqlite3_result_text(ctx, me->description, -1, SQLITE_STATIC); break;
    case M_OPTIONS: {
      char *json = options_json(me);
      if (!json) return SQLITE_NOMEM;
      sqlite3_result_text(ctx, json, -1, sqlite3_free);
      break;
    }
    case M_LAYERS:
      if (me->has_layers) sqlite3_result_int(ctx, me->default_layers);
      else sqlite3_result_null(ctx);
      break;
    case M_NEEDS_TEXT: sqlite3_result_int(ctx, (me->needs & LG_NEED_TEXT) != 0); break;
    case M_NEEDS_BACKWARD: sqlite3_result_int(ctx, (me->needs & LG_NEED_BACKWARD) != 0); break;
    case M_NEEDS_RELPROP: sqlite3_result_int(ctx, (me->needs & LG_NEED_RELPROP) != 0); break;
    case M_ATTENTION: {
      lg_keep keep = lg_method_keep(me);
      sqlite3_result_text(ctx, keep == LG_KEEP_ATTN_ALL ? "all" : keep == LG_KEEP_ATTN_LAST ? "last"
                                                                                              : "none",
                          -1, SQLITE_STATIC);
      break;
    }
    case M_ID: sqlite3_result_int(ctx, me->blob_id); break;
  }
  return SQLITE_OK;
}

static int methodsRowid(sqlite3_vtab_cursor *pCur, sqlite3_int64 *pRowid) {
  *pRowid = ((methods_cursor *)pCur)->i + 1;
  return SQLITE_OK;
}

static const sqlite3_module methods_module = {
    .iVersion = 0,
    .xCreate = 0,  /* eponymous-only */
    .xConnect = methodsConnect,
    .xBestIndex = methodsBestIndex,
    .xDisconnect = methodsDisconnect,
    .xDestroy = methodsDisconnect,
    .xOpen = methodsOpen,
    .xClose = methodsClose,
    .xFilter = methodsFilter,
    .xNext = methodsNext,
    .xEof = methodsEof,
    .xColumn = methodsColumn,
    .xRowid = methodsRowid,
};

int lg_register_methods_module(sqlite3 *db) {
  return sqlite3_create_module(db, "legrad_methods", &methods_module, NULL);
}
