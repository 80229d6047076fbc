/*
** legrad_layers(image, text [, layers [, options]]): the per-layer LeGrad maps as a table-valued
** function, one row per chosen layer (the paper's layer ablation as a query).
**
**   SELECT layer, score, legrad_map_info(map) FROM legrad_layers(readfile('cat.jpg'), 'a cat', 'all');
**
** Pseudo-schema:
**   CREATE TABLE legrad_layers(layer INT, score REAL, map BLOB,
**     image HIDDEN, text HIDDEN, layers HIDDEN, options HIDDEN)
**
**   layer   block index (0 = first block)
**   score   s_l, the cosine between the prompt and the layer's pooled, projected tokens
**   map     a single-layer map blob (flag SINGLE_LAYER) of that layer's raw grid
** The arguments mean what they mean for legrad(); layers defaults to -2 (the last two blocks).
** Each layer's map is cached in legrad_cache under method 'legrad_layer' and the single layer, so
** a later legrad_layers() with any layer set reuses it.  NULL image or text gives no rows; so does
** a row that fails on its data under {"on_error": "null"} (failures.c).
**
** HOW IT WORKS
**   Eponymous-only module (xCreate = 0) following ext/misc/series.c: the hidden columns are the
**   function arguments.  xBestIndex idxNum bits and the argv order of xFilter:
**       bit 1: image   bit 2: text   bit 4: layers   bit 8: options   (argv in this order)
**   image and text are required: present but unusable -> SQLITE_CONSTRAINT (the planner tries
**   another order); absent -> an error naming the missing argument (vtab.html section 2.3.4).
**   xFilter computes (or fetches) every row at once; the cursor then walks them.
*/
#include <stdlib.h>
#include <string.h>

#include "conn.h"

enum {
  LAYERS_LAYER, LAYERS_SCORE, LAYERS_MAP, LAYERS_IMAGE, LAYERS_TEXT, LAYERS_LAYERS,
  LAYERS_OPTIONS
};
#define LAYERS_FIRST_ARG LAYERS_IMAGE
#define LAYERS_NARG 4

typedef struct layers_vtab {
  sqlite3_vtab base;
  lg_conn *c;
} layers_vtab;

typedef struct layers_row {
  int layer;
  double score;
  unsigned char *map;      /* sqlite3_malloc'ed map blob */
  int n_map;
} layers_row;

typedef struct layers_cursor {
  sqlite3_vtab_cursor base;
  layers_row *rows;
  int n, i;
} layers_cursor;

static int layersConnect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                         sqlite3_vtab **ppVtab, char **pzErr) {
  (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(layer INT, score REAL, map BLOB, image "
                                    "HIDDEN, text HIDDEN, layers HIDDEN, options HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  /* It may load the default model from disk and writes the cache: top-level SQL only. */
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  layers_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->c = pAux;
  *ppVtab = &v->base;
  return SQLITE_OK;
}

static int layersDisconnect(sqlite3_vtab *pVtab) {
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/* xBestIndex: see the idxNum table in the header comment. */
static int layersBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *info) {
  int slot[LAYERS_NARG] = {-1, -1, -1, -1};
  unsigned unusable = 0, present = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    int a = c->iColumn - LAYERS_FIRST_ARG;
    if (a < 0 || a >= LAYERS_NARG || c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!c->usable) { unusable |= 1u << a; continue; }
    slot[a] = i;
    present |= 1u << a;
  }
  if ((unusable & 3u) && (present & 3u) != 3u) return SQLITE_CONSTRAINT;
  if ((present & 3u) != 3u) {
    sqlite3_free(pVtab->zErrMsg);
    pVtab->zErrMsg = sqlite3_mprintf(
        "legrad_layers(): argument %d (%s) is missing; usage: legrad_layers(image, text [, layers "
        "[, options]])", (present & 1u) ? 2 : 1, (present & 1u) ? "text" : "image");
    return SQLITE_ERROR;
  }
  int n = 0;
  for (int a = 0; a < LAYERS_NARG; a++) {
    if (slot[a] < 0) continue;
    info->aConstraintUsage[slot[a]].argvIndex = ++n;
    info->aConstraintUsage[slot[a]].omit = 1;
  }
  info->idxNum = (int)present;
  info->estimatedCost = 1000;
  info->estimatedRows = 12;
  return SQLITE_OK;
}

static int layersOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur) {
  (void)pVtab;
  layers_cursor *cur = sqlite3_malloc(sizeof *cur);
  if (!cur) return SQLITE_NOMEM;
  memset(cur, 0, sizeof *cur);
  *ppCur = &cur->base;
  return SQLITE_OK;
}

/* Frees the rows of the previous xFilter. */
static void layers_reset(layers_cursor *cur) {
  for (int i = 0; i < cur->n; i++) sqlite3_free(cur->rows[i].map);
  sqlite3_free(cur->rows);
  cur->rows = NULL;
  cur->n = cur->i = 0;
}

static int layersClose(sqlite3_vtab_cursor *pCur) {
  layers_reset((layers_cursor *)pCur);
  sqlite3_free(pCur);
  return SQLITE_OK;
}

/*
** Fills cur->rows for request r: every layer from the cache when all are there, else one forward
** and LeGrad for the whole set, storing each layer's map.  Returns 0, -1 or LG_ROW_FAILED.
*/
static int layers_fill(layers_cursor *cur, lg_conn *c, const lg_legrad_req *r, lg_err *err) {
  int n = r->ls.n, rc = -1;
  float *maps = NULL, *t_emb = NULL;
  lg_cache_key *keys = NULL;
  cur->rows = sqlite3_malloc64(sizeof(layers_row) * (size_t)n);
  keys = malloc(sizeof(lg_cache_key) * (size_t)n);
  if (!cur->rows || !keys) { lg_errf(err, "legrad_layers(): out of memory"); goto done; }
  memset(cur->rows, 0, sizeof(layers_row) * (size_t)n);
  cur->n = n;
  int hits = 0;
  if (r->opts.cache) lg_cache_key_init(&keys[0], r, "legrad_layer");  /* hashes the image once */
  for (int k = 0; k < n; k++) {
    cur->rows[k].layer = r->ls.idx[k];
    if (!r->opts.cache) continue;
    keys[k] = keys[0];
    lg_cache_key_layer(&keys[k], r->ls.idx[k]);
    float score = 0;
    int hit = lg_cache_get(c, &keys[k], &cur->rows[k].map, &cur->rows[k].n_map, &score, err);
    if (hit < 0) goto done;
    if (hit) {
      cur->rows[k].score = score;
      hits++;
    }
  }
  if (hits == n) { rc = 0; goto done; }
  t_emb = malloc(sizeof(float) * (size_t)r->m->embed_dim);
  if (!t_emb) { lg_errf(err, "legrad_layers(): out of memory"); goto done; }
  if ((rc = lg_text_embedding(r->m, r->text, r->fn, 2, t_emb, err)) != 0) goto done;
  float scores[LG_MAX_LAYERS];
  int G = 0, n_maps = 0;
  lg_frame fr;
  if ((rc = lg_explain_compute(c, r, t_emb, &maps, scores, &n_maps, &G, &fr, err)) != 0) goto done;
  rc = -1;
  for (int k = 0; k < n; k++) {
    layers_row *row = &cur->rows[k];
    if (row->map) continue;
    lg_layer_set one = {.n = 1, .idx = {r->ls.idx[k]}};
    if (lg_encode_map(r, &fr, &one, maps + (size_t)k * G * G, G, scores[k], 1, &row->map,
                      &row->n_map, err)) {
      lg_err_prefix(err, "legrad_layers()");
      goto done;
    }
    row->score = scores[k];
    if (r->opts.cache && lg_cache_put(c, &keys[k], row->map, row->n_map, r->opts.cache, err))
      goto done;
  }
  rc = 0;
done:
  free(keys);
  free(maps);
  free(t_emb);
  return rc;
}

static int layersFilter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr, int argc,
                        sqlite3_value **argv) {
  (void)idxStr;
  layers_cursor *cur = (layers_cursor *)pCur;
  layers_vtab *v = (layers_vtab *)pCur->pVtab;
  lg_err err = {{0}};
  sqlite3_value *args[LAYERS_NARG] = {NULL, NULL, NULL, NULL};
  int j = 0;
  layers_reset(cur);
  for (int a = 0; a < LAYERS_NARG && j < argc; a++)
    if (idxNum & (1 << a)) args[a] = argv[j++];
  lg_legrad_req r;
  int rc = lg_legrad_parse(v->c, "legrad_layers", args, &r, &err);
  if (rc == 1) return SQLITE_OK;  /* NULL image or text: no rows */
  if (rc == 0) rc = layers_fill(cur, v->c, &r, &err);
  int as_null = lg_row_end(v->c, &(lg_row){"legrad_layers", r.img, r.n_img, r.text,
                                           r.opts.on_error_null}, rc, &err);
  if (rc == 0) return SQLITE_OK;
  layers_reset(cur);
  if (as_null) return SQLITE_OK;  /* the row failed on its data: no rows, as asked */
  sqlite3_free(pCur->pVtab->zErrMsg);
  pCur->pVtab->zErrMsg = sqlite3_mprintf("%s", err.msg);
  return SQLITE_ERROR;
}

static int layersNext(sqlite3_vtab_cursor *pCur) {
  ((layers_cursor *)pCur)->i++;
  return SQLITE_OK;
}

static int layersEof(sqlite3_vtab_cursor *pCur) {
  layers_cursor *cur = (layers_cursor *)pCur;
  return cur->i >= cur->n;
}

static int layersColumn(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int col) {
  layers_cursor *cur = (layers_cursor *)pCur;
  const layers_row *row = &cur->rows[cur->i];
  switch (col) {
    case LAYERS_LAYER: sqlite3_result_int(ctx, row->layer); break;
    case LAYERS_SCORE: sqlite3_result_double(ctx, row->score); break;
    case LAYERS_MAP: sqlite3_result_blob(ctx, row->map, row->n_map, SQLITE_TRANSIENT); break;
    default: sqlite3_result_null(ctx); break; /* hidden inputs are not echoed */
  }
  return SQLITE_OK;
}

static int layersRowid(sqlite3_vtab_cursor *pCur, sqlite_int64 *pRowid) {
  *pRowid = ((layers_cursor *)pCur)->i + 1;
  return SQLITE_OK;
}

static sqlite3_module layers_module = {
    /* iVersion    */ 0,
    /* xCreate     */ 0, /* eponymous-only */
    /* xConnect    */ layersConnect,
    /* xBestIndex  */ layersBestIndex,
    /* xDisconnect */ layersDisconnect,
    /* xDestroy    */ 0,
    /* xOpen       */ layersOpen,
    /* xClose      */ layersClose,
    /* xFilter     */ layersFilter,
    /* xNext       */ layersNext,
    /* xEof        */ layersEof,
    /* xColumn     */ layersColumn,
    /* xRowid      */ layersRowid,
    /* xUpdate     */ 0,
};

int lg_register_layers_module(sqlite3 *db, lg_conn *c) {
  return sqlite3_create_module_v2(db, "legrad_layers", &layers_module, c, NULL);
}
