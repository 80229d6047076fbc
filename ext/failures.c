/*
** One bad row does not sink a batch: {"on_error": "null"}, the legrad_failures table and
** legrad_failures_clear().
**
**   INSERT INTO maps SELECT id, legrad(img, 'a cat', -2, '{"on_error": "null"}') FROM photos;
**   SELECT seq, function, message, image_bytes, image_format, image_hash FROM legrad_failures;
**   SELECT id FROM photos WHERE legrad_image_hash(img) = '...';   -- the row behind a failure
**   SELECT legrad_failures_clear();                                -- or DELETE FROM legrad_failures
**
** A row fails "on its data" when its image BLOB is empty, does not decode, is too large, or cannot
** be preprocessed, or when the tokenizer refuses its prompt (the compute helpers return
** LG_ROW_FAILED).  Such a failure is always recorded here and its message always ends with the
** row's identification, "[image: 1234 bytes, png 640x480, hash 0123...]" (or "[text: 12 bytes]"
** for a function without an image).  With {"on_error": "null"} the call then returns NULL
** (legrad_layers: no rows) and the statement goes on; by default ("error") the statement fails with
** that message.  Errors in the query itself (an argument of the wrong SQL type, bad options or
** layers, an unknown model) and out-of-memory are never turned into NULL.
**
** Pseudo-schema:
**   CREATE TABLE legrad_failures(seq INT, time TEXT, function TEXT, message TEXT, action TEXT,
**     image_bytes INT, image_format TEXT, image_width INT, image_height INT, image_hash TEXT,
**     prompt TEXT)
**   rowid = seq (1, 2, ... per connection, never reused); time = UTC 'YYYY-MM-DD HH:MM:SS' like
**   CURRENT_TIMESTAMP; action = 'null' (the call gave NULL) or 'error' (the statement failed);
**   image_format sniffed from the magic bytes (jpeg, png, webp, gif, bmp, unknown); width and
**   height as the header says (NULL when it does not); image_hash = lg_content_hash, the key of the
**   image in legrad_cache and the value of legrad_image_hash(); prompt = the first
**   LG_FAILURE_PROMPT_MAX bytes.
**
** The list is per connection, in memory, in a ring of the last LG_FAILURES_MAX (10,000) failures
** (at most ~20 MB: messages <= 1 KiB, prompts <= 1000 bytes).  The "failures" counter of
** legrad_cache_stats() counts every failure of the connection, including those dropped from the
** ring.  DELETE FROM legrad_failures [WHERE ...] removes rows (it opens a write transaction on
** main, like every eponymous table, so on a read-only database use legrad_failures_clear()).
**
** FLAGS: the table is SQLITE_VTAB_DIRECTONLY and legrad_failures_clear() SQLITE_DIRECTONLY (they
** expose and change connection state; not for triggers and views of an untrusted schema).
** legrad_image_hash() is pure (deterministic, innocuous).
*/
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conn.h"

/* ---- the ring --------------------------------------------------------------------------------- */

/* Frees one slot's strings and marks it empty. */
static void failure_clear_slot(lg_failure *f) {
  sqlite3_free(f->message);
  sqlite3_free(f->prompt);
  memset(f, 0, sizeof *f);
}

void lg_failures_free(lg_conn *c) {
  if (!c->failure_ring) return;
  for (int i = 0; i < LG_FAILURES_MAX; i++) failure_clear_slot(&c->failure_ring[i]);
  sqlite3_free(c->failure_ring);
  c->failure_ring = NULL;
}

/* Number of failures in the ring (slots in use). */
static sqlite3_int64 failures_clear_all(lg_conn *c) {
  sqlite3_int64 n = 0;
  if (!c->failure_ring) return 0;
  for (int i = 0; i < LG_FAILURES_MAX; i++)
    if (c->failure_ring[i].seq) { failure_clear_slot(&c->failure_ring[i]); n++; }
  return n;
}

/* The slot that holds seq, or NULL when it was dropped, deleted or never existed. */
static lg_failure *failure_find(lg_conn *c, sqlite3_int64 seq) {
  if (!c->failure_ring || seq < 1) return NULL;
  lg_failure *f = &c->failure_ring[(seq - 1) % LG_FAILURES_MAX];
  return f->seq == seq ? f : NULL;
}

/* Copies at most cap bytes of s, cut at a UTF-8 character boundary; sqlite3_malloc'ed or NULL. */
static char *copy_prefix(const char *s, size_t cap) {
  size_t n = strlen(s);
  if (n > cap) {
    n = cap;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
  }
  return sqlite3_mprintf("%.*s", (int)n, s);
}

/* Records one failure (best effort: out of memory drops the record, never the row's result). */
static void failure_record(lg_conn *c, const lg_row *row, const lg_image_info *info,
                           const char *hash, const char *message) {
  if (!c->failure_ring) {
    c->failure_ring = sqlite3_malloc64(sizeof(lg_failure) * LG_FAILURES_MAX);
    if (!c->failure_ring) return;
    memset(c->failure_ring, 0, sizeof(lg_failure) * LG_FAILURES_MAX);
  }
  if (c->failure_next < 1) c->failure_next = 1;
  sqlite3_int64 seq = c->failure_next++;
  lg_failure *f = &c->failure_ring[(seq - 1) % LG_FAILURES_MAX];
  failure_clear_slot(f);  /* the oldest failure gives way */
  f->message = sqlite3_mprintf("%s", message);
  f->prompt = row->text ? copy_prefix(row->text, LG_FAILURE_PROMPT_MAX) : NULL;
  if (!f->message || (row->text && !f->prompt)) { failure_clear_slot(f); return; }
  f->seq = seq;
  f->time = (sqlite3_int64)time(NULL);
  f->fn = row->fn;
  f->nulled = row->on_error_null;
  f->image_bytes = row->img ? row->n_img : -1;
  f->image_format = info->format;
  f->image_w = info->width;
  f->image_h = info->height;
  memcpy(f->image_hash, hash, 33);
}

int lg_row_end(lg_conn *c, const lg_row *row, int rc, lg_err *err) {
  lg_progress_count(c, rc != 0);
  if (rc != LG_ROW_FAILED) return 0;
  lg_image_info info = {"", 0, 0};
  char hash[33] = "", id[160];
  if (row->img) {
    lg_image_probe(row->img, (size_t)row->n_img, &info);
    lg_content_hash(row->img, (size_t)row->n_img, hash);
    char dims[48] = "";
    if (info.width > 0 && info.height > 0)
      snprintf(dims, sizeof dims, " %lldx%lld", info.width, info.height);
    snprintf(id, sizeof id, " [image: %d bytes, %s%s, hash %s]", row->n_img, info.format, dims, hash);
  } else {
    snprintf(id, sizeof id, " [text: %zu bytes]", row->text ? strlen(row->text) : (size_t)0);
  }
  size_t len = strlen(err->msg);
  if (len + strlen(id) < sizeof err->msg) memcpy(err->msg + len, id, strlen(id) + 1);
  c->failures++;
  failure_record(c, row, &info, hash, err->msg);
  return row->on_error_null;
}

/* ---- legrad_failures_clear(), legrad_image_hash() ------------------------------------------------ */

/* legrad_failures_clear() -> number of failures removed from the list */
static void failuresClearFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc; (void)argv;
  sqlite3_result_int64(ctx, failures_clear_all(sqlite3_user_data(ctx)));
}

/* legrad_image_hash(image) -> the 32 hex digits legrad_cache and legrad_failures use; NULL -> NULL */
static void imageHashFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int t = sqlite3_value_type(argv[0]);
  if (t == SQLITE_NULL) return;
  if (t != SQLITE_BLOB) {
    char *msg = sqlite3_mprintf("legrad_image_hash(): argument 1 (image) must be a BLOB of encoded "
                                "image bytes, found %s", lg_type_name(t));
    sqlite3_result_error(ctx, msg ? msg : "legrad_image_hash(): out of memory", -1);
    sqlite3_free(msg);
    return;
  }
  char hash[33];
  const void *p = sqlite3_value_blob(argv[0]);
  lg_content_hash(p ? p : "", (size_t)sqlite3_value_bytes(argv[0]), hash);
  sqlite3_result_text(ctx, hash, 32, SQLITE_TRANSIENT);
}

/* ---- the legrad_failures eponymous table --------------------------------------------------------- */

enum {
  FAIL_SEQ, FAIL_TIME, FAIL_FUNCTION, FAIL_MESSAGE, FAIL_ACTION, FAIL_IMAGE_BYTES, FAIL_IMAGE_FORMAT,
  FAIL_IMAGE_WIDTH, FAIL_IMAGE_HEIGHT, FAIL_IMAGE_HASH, FAIL_PROMPT
};

typedef struct failures_vtab {
  sqlite3_vtab base;
  lg_conn *c;
} failures_vtab;

typedef struct failures_cursor {
  sqlite3_vtab_cursor base;
  sqlite3_int64 seq;       /* current row's seq                                        */
  sqlite3_int64 end;       /* first seq past the scan (c->failure_next at xFilter)     */
} failures_cursor;

static int failuresConnect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                           sqlite3_vtab **ppVtab, char **pzErr) {
  (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(seq INT, time TEXT, function TEXT, message "
                                    "TEXT, action TEXT, image_bytes INT, image_format TEXT, "
                                    "image_width INT, image_height INT, image_hash TEXT, prompt TEXT)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  failures_vtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->c = pAux;
  *ppVtab = &v->base;
  return SQLITE_OK;
}

static int failuresDisconnect(sqlite3_vtab *pVtab) {
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/* A full scan in seq order (the ring holds at most LG_FAILURES_MAX rows). */
static int failuresBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *info) {
  (void)pVtab;
  info->estimatedCost = 1000;
  info->estimatedRows = 1000;
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn <= FAIL_SEQ && !info->aOrderBy[0].desc)
    info->orderByConsumed = 1;  /* rowid and seq ascending: the scan order */
  return SQLITE_OK;
}

static int failuresOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur) {
  (void)pVtab;
  failures_cursor *cur = sqlite3_malloc(sizeof *cur);
  if (!cur) return SQLITE_NOMEM;
  memset(cur, 0, sizeof *cur);
  *ppCur = &cur->base;
  return SQLITE_OK;
}

static int failuresClose(sqlite3_vtab_cursor *pCur) {
  sqlite3_free(pCur);
  return SQLITE_OK;
}

/* Moves cur to the first live failure with seq >= from (or to the end). */
static void failures_seek(failures_cursor *cur, lg_conn *c, sqlite3_int64 from) {
  sqlite3_int64 oldest = cur->end - LG_FAILURES_MAX;
  if (from < oldest) from = oldest;
  if (from < 1) from = 1;
  while (from < cur->end && !failure_find(c, from)) from++;
  cur->seq = from;
}

static int failuresFilter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr, int argc,
                          sqlite3_value **argv) {
  (void)idxNum; (void)idxStr; (void)argc; (void)argv;
  failures_cursor *cur = (failures_cursor *)pCur;
  lg_conn *c = ((failures_vtab *)pCur->pVtab)->c;
  cur->end = c->failure_next;
  failures_seek(cur, c, 1);
  return SQLITE_OK;
}

static int failuresNext(sqlite3_vtab_cursor *pCur) {
  failures_cursor *cur = (failures_cursor *)pCur;
  failures_seek(cur, ((failures_vtab *)pCur->pVtab)->c, cur->seq + 1);
  return SQLITE_OK;
}

static int failuresEof(sqlite3_vtab_cursor *pCur) {
  failures_cursor *cur = (failures_cursor *)pCur;
  return cur->seq >= cur->end;
}

static int failuresColumn(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int col) {
  failures_cursor *cur = (failures_cursor *)pCur;
  const lg_failure *f = failure_find(((failures_vtab *)pCur->pVtab)->c, cur->seq);
  if (!f) return SQLITE_OK;  /* deleted during the scan: NULLs */
  int has_img = f->image_bytes >= 0;
  switch (col) {
    case FAIL_SEQ: sqlite3_result_int64(ctx, f->seq); break;
    case FAIL_TIME: {
      time_t t = (time_t)f->time;
      struct tm tm;
      char buf[32];
      if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm))
        sqlite3_result_text(ctx, buf, -1, SQLITE_TRANSIENT);
      break;
    }
    case FAIL_FUNCTION: sqlite3_result_text(ctx, f->fn, -1, SQLITE_STATIC); break;
    case FAIL_MESSAGE: sqlite3_result_text(ctx, f->message, -1, SQLITE_TRANSIENT); break;
    case FAIL_ACTION: sqlite3_result_text(ctx, f->nulled ? "null" : "error", -1, SQLITE_STATIC); break;
    case FAIL_IMAGE_BYTES: if (has_img) sqlite3_result_int64(ctx, f->image_bytes); break;
    case FAIL_IMAGE_FORMAT:
      if (has_img) sqlite3_result_text(ctx, f->image_format, -1, SQLITE_STATIC);
      break;
    case FAIL_IMAGE_WIDTH: if (has_img && f->image_w > 0) sqlite3_result_int64(ctx, f->image_w); break;
    case FAIL_IMAGE_HEIGHT: if (has_img && f->image_h > 0) sqlite3_result_int64(ctx, f->image_h); break;
    case FAIL_IMAGE_HASH: if (has_img) sqlite3_result_text(ctx, f->image_hash, 32, SQLITE_TRANSIENT); break;
    case FAIL_PROMPT: if (f->prompt) sqlite3_result_text(ctx, f->prompt, -1, SQLITE_TRANSIENT); break;
    default: break;
  }
  return SQLITE_OK;
}

static int failuresRowid(sqlite3_vtab_cursor *pCur, sqlite_int64 *pRowid) {
  *pRowid = ((failures_cursor *)pCur)->seq;
  return SQLITE_OK;
}

/* xUpdate: DELETE only (argc == 1, argv[0] = the rowid, i.e. seq). */
static int failuresUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                          sqlite_int64 *pRowid) {
  (void)pRowid;
  if (argc != 1) {
    sqlite3_free(pVtab->zErrMsg);
    pVtab->zErrMsg = sqlite3_mprintf("legrad_failures: only DELETE is supported (the rows are "
                                     "written by the computing functions)");
    return SQLITE_ERROR;
  }
  lg_failure *f = failure_find(((failures_vtab *)pVtab)->c, sqlite3_value_int64(argv[0]));
  if (f) failure_clear_slot(f);
  return SQLITE_OK;
}

static sqlite3_module failures_module = {
    /* iVersion    */ 0,
    /* xCreate     */ 0, /* eponymous-only */
    /* xConnect    */ failuresConnect,
    /* xBestIndex  */ failuresBestIndex,
    /* xDisconnect */ failuresDisconnect,
    /* xDestroy    */ 0,
    /* xOpen       */ failuresOpen,
    /* xClose      */ failuresClose,
    /* xFilter     */ failuresFilter,
    /* xNext       */ failuresNext,
    /* xEof        */ failuresEof,
    /* xColumn     */ failuresColumn,
    /* xRowid      */ failuresRowid,
    /* xUpdate     */ failuresUpdate,
};

int lg_register_failures(sqlite3 *db, lg_conn *c) {
  static const lg_func_def funcs[] = {
      {"legrad_failures_clear", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, failuresClearFunc},
      {"legrad_image_hash", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, imageHashFunc},
  };
  int rc = sqlite3_create_module_v2(db, "legrad_failures", &failures_module, c, NULL);
  if (rc != SQLITE_OK) return rc;
  return lg_create_functions(db, funcs, sizeof funcs / sizeof funcs[0], c);
}
