/*
** legrad_models: the connection's model registry as an eponymous virtual table.
**
**   INSERT INTO legrad_models(name, path) VALUES ('b16', '/models/clip-vit-base-patch16');
**   INSERT OR REPLACE INTO legrad_models(name, path) VALUES ('b16', '/models/other');
**   SELECT name, layers, width, fingerprint FROM legrad_models;
**   DELETE FROM legrad_models WHERE name = 'b16';
**
** Pseudo-schema:
**   CREATE TABLE legrad_models(name TEXT, path TEXT, family TEXT, layers INT, width INT, heads INT,
**     patch INT, image_size INT, embed_dim INT, has_text INT, params INT, fingerprint TEXT)
**
** INSERT loads the model (a directory or a single .safetensors) through the process-wide registry
** (registry.c: connections that load the same files share one read-only copy); DELETE unregisters
** it (the weights are freed when no connection uses them any more).  Only name and path may be
** given; the other columns describe the loaded model and are read-only.  A function that names no
** model uses the one named 'default' (conn.c).
**
** SECURITY: INSERT reads files named by SQL text, so the table is SQLITE_VTAB_DIRECTONLY: it
** cannot be written (or read) from triggers and views of a database schema, which an attacker who
** supplies the database file could otherwise use to make the host read arbitrary paths.
**
** REGISTRATION WITHOUT A WRITE ON MAIN: an eponymous table belongs to the main schema, so SQLite
** opens a write transaction on main for any INSERT/DELETE on it, which another connection's lock or
** a read-only main database refuses ("database is locked", "attempt to write a readonly
** database").  sqlite3_legrad_init therefore also instantiates the module in the connection's
** private temp schema, which is searched first for unqualified names:
**   CREATE VIRTUAL TABLE IF NOT EXISTS temp.legrad_models USING legrad_models;   -- at load
**   INSERT INTO legrad_models(name, path) VALUES ('default', '/models/b16');     -- writes temp only
** Every instance shows the same per-connection registry.
**
** The module's destructor frees the connection's lg_conn (legrad0.c passes it as pAux), so the
** per-connection state lives exactly as long as the connection.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

/* Column numbers of the declared schema. */
enum {
  MODELS_NAME, MODELS_PATH, MODELS_FAMILY, MODELS_LAYERS, MODELS_WIDTH, MODELS_HEADS,
  MODELS_PATCH, MODELS_IMAGE_SIZE, MODELS_EMBED_DIM, MODELS_HAS_TEXT, MODELS_PARAMS,
  MODELS_FINGERPRINT, MODELS_NCOL
};
static const char *const models_col_names[MODELS_NCOL] = {
    "name", "path", "family", "layers", "width", "heads", "patch", "image_size", "embed_dim",
    "has_text", "params", "fingerprint"};

typedef struct models_vtab {
  sqlite3_vtab base;
  lg_conn *c;
} models_vtab;

typedef struct models_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_int64 *ids;      /* snapshot of the registered rowids at xFilter */
  int n, i;
  lg_named_model *cur;     /* entry for ids[i], NULL at EOF */
} models_cursor;

/* xConnect: declares the schema and marks the table direct-only. */
static int modelsConnect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                         sqlite3_vtab **ppVtab, char **pzErr) {
  (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(name TEXT, path TEXT, family TEXT, layers "
                                    "INT, width INT, heads INT, patch INT, image_size INT, "
                                    "embed_dim INT, has_text INT, params INT, fingerprint TEXT)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  models_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->c = pAux;
  *ppVtab = &v->base;
  return SQLITE_OK;
}

static int modelsDisconnect(sqlite3_vtab *pVtab) {
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/* xBestIndex: always a full scan of the (small) registry. */
static int modelsBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *info) {
  (void)pVtab;
  info->estimatedCost = 10;
  info->estimatedRows = 10;
  return SQLITE_OK;
}

static int modelsOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur) {
  (void)pVtab;
  models_cursor *cur = sqlite3_malloc(sizeof *cur);
  if (!cur) return SQLITE_NOMEM;
  memset(cur, 0, sizeof *cur);
  *ppCur = &cur->base;
  return SQLITE_OK;
}

static int modelsClose(sqlite3_vtab_cursor *pCur) {
  models_cursor *cur = (models_cursor *)pCur;
  sqlite3_free(cur->ids);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* Points cur->cur at the first still-registered entry at or after ids[i]. */
static void models_seek(models_cursor *cur, lg_conn *c) {
  cur->cur = NULL;
  for (; cur->i < cur->n; cur->i++) {
    for (lg_named_model *e = c->models; e; e = e->next)
      if (e->id == cur->ids[cur->i]) { cur->cur = e; return; }
  }
}

static int modelsFilter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr, int argc,
                        sqlite3_value **argv) {
  (void)idxNum; (void)idxStr; (void)argc; (void)argv;
  models_cursor *cur = (models_cursor *)pCur;
  lg_conn *c = ((models_vtab *)pCur->pVtab)->c;
  int n = 0;
  for (lg_named_model *e = c->models; e; e = e->next) n++;
  sqlite3_free(cur->ids);
  cur->ids = sqlite3_malloc64(sizeof(sqlite3_int64) * (size_t)(n ? n : 1));
  if (!cur->ids) return SQLITE_NOMEM;
  n = 0;
  for (lg_named_model *e = c->models; e; e = e->next) cur->ids[n++] = e->id;
  cur->n = n;
  cur->i = 0;
  models_seek(cur, c);
  return SQLITE_OK;
}

static int modelsNext(sqlite3_vtab_cursor *pCur) {
  models_cursor *cur = (models_cursor *)pCur;
  cur->i++;
  models_seek(cur, ((models_vtab *)pCur->pVtab)->c);
  return SQLITE_OK;
}

static int modelsEof(sqlite3_vtab_cursor *pCur) {
  return ((models_cursor *)pCur)->cur == NULL;
}

static int modelsColumn(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int col) {
  const lg_named_model *e = ((models_cursor *)pCur)->cur;
  const lg_model *m = e->model;
  switch (col) {
    case MODELS_NAME: sqlite3_result_text(ctx, e->name, -1, SQLITE_TRANSIENT); break;
    case MODELS_PATH: sqlite3_result_text(ctx, e->path, -1, SQLITE_TRANSIENT); break;
    case MODELS_FAMILY: sqlite3_result_text(ctx, m->family, -1, SQLITE_TRANSIENT); break;
    case MODELS_LAYERS: sqlite3_result_int(ctx, m->vision.cfg.layers); break;
    case MODELS_WIDTH: sqlite3_result_int(ctx, m->vision.cfg.width); break;
    case MODELS_HEADS: sqlite3_result_int(ctx, m->vision.cfg.heads); break;
    case MODELS_PATCH: sqlite3_result_int(ctx, m->vision.patch); break;
    case MODELS_IMAGE_SIZE: sqlite3_result_int(ctx, m->vision.image_size); break;
    case MODELS_EMBED_DIM: sqlite3_result_int(ctx, m->embed_dim); break;
    case MODELS_HAS_TEXT: sqlite3_result_int(ctx, m->has_text != 0); break;
    case MODELS_PARAMS: sqlite3_result_int64(ctx, m->n_params); break;
    case MODELS_FINGERPRINT: sqlite3_result_text(ctx, m->fingerprint, -1, SQLITE_TRANSIENT); break;
    default: break;
  }
  return SQLITE_OK;
}

static int modelsRowid(sqlite3_vtab_cursor *pCur, sqlite_int64 *pRowid) {
  *pRowid = ((models_cursor *)pCur)->cur->id;
  return SQLITE_OK;
}

/* Sets the vtab's error message (sqlite3_mprintf'ed copy of msg) and returns SQLITE_ERROR. */
static int models_error(sqlite3_vtab *pVtab, const char *msg) {
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = sqlite3_mprintf("%s", msg);
  return SQLITE_ERROR;
}

/*
** xUpdate: argc == 1 -> DELETE of rowid argv[0]; argv[0] NULL -> INSERT with columns argv[2..];
** anything else is an UPDATE, which is refused (DELETE and INSERT instead).
*/
static int modelsUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                        sqlite_int64 *pRowid) {
  models_vtab *v = (models_vtab *)pVtab;
  lg_err err = {{0}};
  char msg[LG_ERR_MAX + 64];
  if (argc == 1) {
    lg_conn_remove_model(v->c, sqlite3_value_int64(argv[0]));
    return SQLITE_OK;
  }
  if (sqlite3_value_type(argv[0]) != SQLITE_NULL)
    return models_error(pVtab, "legrad_models: UPDATE is not supported; DELETE the model and "
                               "INSERT it again");
  if (argc != 2 + MODELS_NCOL) return models_error(pVtab, "legrad_models: bad column count");
  sqlite3_value **col = argv + 2;
  for (int i = MODELS_FAMILY; i < MODELS_NCOL; i++) {
    if (sqlite3_value_type(col[i]) != SQLITE_NULL) {
      snprintf(msg, sizeof msg, "legrad_models: column '%s' is read-only (it describes the loaded "
                                "model); INSERT only name and path", models_col_names[i]);
      return models_error(pVtab, msg);
    }
  }
  int tn = sqlite3_value_type(col[MODELS_NAME]), tp = sqlite3_value_type(col[MODELS_PATH]);
  const char *name = tn == SQLITE_NULL ? "default" : (const char *)sqlite3_value_text(col[MODELS_NAME]);
  if (tn != SQLITE_NULL && (tn != SQLITE_TEXT || !name || !name[0])) {
    snprintf(msg, sizeof msg, "legrad_models: name must be a non-empty TEXT, found %s",
             tn == SQLITE_TEXT ? "an empty string" : lg_type_name(tn));
    return models_error(pVtab, msg);
  }
  if (tp != SQLITE_TEXT) {
    snprintf(msg, sizeof msg, "legrad_models: path must be the TEXT path of a model directory or "
                              ".safetensors file, found %s", lg_type_name(tp));
    return models_error(pVtab, msg);
  }
  const char *path = (const char *)sqlite3_value_text(col[MODELS_PATH]);
  int replace = sqlite3_vtab_on_conflict(v->c->db) == SQLITE_REPLACE;
  if (lg_conn_add_model(v->c, name, path, replace, &err)) return models_error(pVtab, err.msg);
  *pRowid = v->c->next_id - 1;
  return SQLITE_OK;
}

static sqlite3_module models_module = {
    /* iVersion    */ 0,
    /* xCreate     */ modelsConnect, /* eponymous, and creatable in temp: see the header */
    /* xConnect    */ modelsConnect,
    /* xBestIndex  */ modelsBestIndex,
    /* xDisconnect */ modelsDisconnect,
    /* xDestroy    */ modelsDisconnect,
    /* xOpen       */ modelsOpen,
    /* xClose      */ modelsClose,
    /* xFilter     */ modelsFilter,
    /* xNext       */ modelsNext,
    /* xEof        */ modelsEof,
    /* xColumn     */ modelsColumn,
    /* xRowid      */ modelsRowid,
    /* xUpdate     */ modelsUpdate,
    /* xBegin      */ 0,
    /* xSync       */ 0,
    /* xCommit     */ 0,
    /* xRollback   */ 0,
    /* xFindMethod */ 0,
    /* xRename     */ 0,
};

int lg_register_models_module(sqlite3 *db, lg_conn *c) {
  return sqlite3_create_module_v2(db, "legrad_models", &models_module, c, lg_conn_free);
}
