/*
** The persistent map cache: a plain table of the connection's main database,
**
**   CREATE TABLE legrad_cache(
**     model TEXT, image TEXT, prompt TEXT, layers TEXT, size INTEGER, resize TEXT,
**     options TEXT, method TEXT,      -- the key (PRIMARY KEY over all eight)
**     map BLOB,                       -- the exact blob legrad()/legrad_layers() returned
**     created TEXT)                   -- CURRENT_TIMESTAMP of the write
**
** created on first write.  legrad() and legrad_layers() look a map up before computing it and store
** it afterwards, so a hit returns the byte-identical blob.  A stored blob that does not decode
** (lg_map_decode validates it fully) counts as a miss and is overwritten.
**
** CONSISTENCY
**   Each map is written by one INSERT OR REPLACE on a statement prepared on the same connection:
**   a row is either absent or complete.  Inside an explicit transaction the rows belong to it (a
**   ROLLBACK removes them again); in autocommit mode each row commits on its own, so when a later
**   row of the same query fails, the maps of the earlier rows stay valid and cached.
**   A read-only database (sqlite3_db_readonly, PRAGMA query_only, or a write that fails with
**   SQLITE_READONLY/BUSY/LOCKED) is used for lookups only: the map is computed and returned, no
**   error is raised.
**
** THE IMAGE KEY
**   SQLite exposes no hash function and the project has no crypto dependency (OpenSSL is not one),
**   so the image key is the engine's 128-bit content hash (engine/hash128.h, also the model
**   fingerprint) of the 8-byte little-endian length followed by the bytes.  zlib's CRC-32 is too
**   short (a collision among 10^5 images is likely); with 128 bits an accidental collision is
**   negligible.  The hash is not collision-resistant against a deliberate attacker: whoever can
**   write both images and the cache table could make two images share a key (docs/sql-api.md).
*/
#include <string.h>

#include "conn.h"
#include "hash128.h"
#include "mapblob.h"

void lg_content_hash(const void *data, size_t n, char out[33]) {
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)n >> (8 * i));
  lg_hash128 h;
  lg_hash128_init(&h);
  lg_hash128_update(&h, len, sizeof len);  /* the length first, so a prefix never shares a key */
  lg_hash128_update(&h, data, n);
  lg_hash128_hex(&h, out);
}

static const char cache_ddl[] =
    "CREATE TABLE IF NOT EXISTS main.legrad_cache("
    "model TEXT NOT NULL, image TEXT NOT NULL, prompt TEXT NOT NULL, layers TEXT NOT NULL, "
    "size INTEGER NOT NULL, resize TEXT NOT NULL, options TEXT NOT NULL, method TEXT NOT NULL, "
    "map BLOB NOT NULL, created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, "
    "PRIMARY KEY(model, image, prompt, layers, size, resize, options, method))";

/* Binds the eight key columns as ?1..?8. */
static void cache_bind_key(sqlite3_stmt *st, const lg_cache_key *k) {
  sqlite3_bind_text(st, 1, k->model, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, k->image, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, k->prompt, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, k->layers, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, k->size);
  sqlite3_bind_text(st, 6, k->resize, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, k->options, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, k->method, -1, SQLITE_STATIC);
}

int lg_cache_get(lg_conn *c, const lg_cache_key *k, unsigned char **blob, int *n, float *score) {
  sqlite3_stmt *st = NULL;
  int hit = 0;
  *blob = NULL;
  *n = 0;
  /* Preparing fails while the table does not exist yet: that is a miss. */
  if (sqlite3_prepare_v2(c->db,
                         "SELECT map FROM main.legrad_cache WHERE model=?1 AND image=?2 AND "
                         "prompt=?3 AND layers=?4 AND size=?5 AND resize=?6 AND options=?7 AND "
                         "method=?8",
                         -1, &st, NULL) == SQLITE_OK) {
    cache_bind_key(st, k);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB) {
      int len = sqlite3_column_bytes(st, 0);
      const void *p = sqlite3_column_blob(st, 0);
      lg_map m;
      /* Only a blob that decodes is a hit: a damaged row is recomputed and overwritten. */
      if (p && len > 0 && lg_map_decode(p, (size_t)len, &m, NULL) == 0) {
        if (score) *score = m.score;
        lg_map_free(&m);
        if ((*blob = sqlite3_malloc(len)) != NULL) {
          memcpy(*blob, p, (size_t)len);
          *n = len;
          hit = 1;
        }
      }
    }
  }
  sqlite3_finalize(st);
  if (hit) c->cache_hits++;
  else c->cache_misses++;
  return hit;
}

void lg_cache_put(lg_conn *c, const lg_cache_key *k, const unsigned char *blob, int n) {
  static const char ins[] =
      "INSERT OR REPLACE INTO main.legrad_cache(model, image, prompt, layers, size, resize, "
      "options, method, map) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
  sqlite3_stmt *st = NULL;
  if (sqlite3_db_readonly(c->db, "main") == 1) return;
  if (sqlite3_prepare_v2(c->db, ins, -1, &st, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(c->db, cache_ddl, NULL, NULL, NULL) != SQLITE_OK) return;
    if (sqlite3_prepare_v2(c->db, ins, -1, &st, NULL) != SQLITE_OK) { sqlite3_finalize(st); return; }
  }
  cache_bind_key(st, k);
  sqlite3_bind_blob(st, 9, blob, n, SQLITE_STATIC);
  /* The cache row must not become the user's last_insert_rowid(). */
  sqlite3_int64 last_rowid = sqlite3_last_insert_rowid(c->db);
  if (sqlite3_step(st) == SQLITE_DONE) c->cache_writes++;
  sqlite3_finalize(st);
  sqlite3_set_last_insert_rowid(c->db, last_rowid);
}

void lg_cache_key_init(lg_cache_key *k, const lg_legrad_req *r, const char *method) {
  memset(k, 0, sizeof *k);
  k->model = r->m->fingerprint;
  lg_content_hash(r->img, (size_t)r->n_img, k->image);
  k->prompt = r->text;
  lg_layers_key(&r->ls, k->layers, sizeof k->layers);
  k->size = r->size;
  k->resize = r->mode == LG_RESIZE_SQUASH ? "squash" : "crop";
  k->options = r->opts.relu ? "relu=1" : "relu=0";
  k->method = method;
}

char *lg_cache_stats_json(lg_conn *c) {
  sqlite3_int64 rows = 0, bytes = 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(c->db, "SELECT count(*), coalesce(sum(length(map)), 0) FROM "
                                "main.legrad_cache", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    rows = sqlite3_column_int64(st, 0);
    bytes = sqlite3_column_int64(st, 1);
  }
  sqlite3_finalize(st);
  return sqlite3_mprintf("{\"hits\":%lld,\"misses\":%lld,\"writes\":%lld,\"rows\":%lld,"
                         "\"bytes\":%lld,\"failures\":%lld}", (long long)c->cache_hits,
                         (long long)c->cache_misses, (long long)c->cache_writes, (long long)rows,
                         (long long)bytes, (long long)c->failures);
}

int lg_cache_clear(lg_conn *c, sqlite3_int64 *n_deleted, lg_err *err) {
  sqlite3_stmt *st = NULL;
  *n_deleted = 0;
  /* No table yet: nothing to clear. */
  if (sqlite3_prepare_v2(c->db, "DELETE FROM main.legrad_cache", -1, &st, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return 0;
  }
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) {
    lg_errf(err, "legrad_cache_clear(): cannot delete from legrad_cache: %s",
            sqlite3_errmsg(c->db));
    sqlite3_finalize(st);
    return -1;
  }
  *n_deleted = sqlite3_changes(c->db);
  sqlite3_finalize(st);
  return 0;
}
