/*
** The persistent map cache: a table of the connection's main database,
**
**   CREATE TABLE legrad_cache(
**     model TEXT, image TEXT, prompt TEXT, layers TEXT, size INTEGER, resize TEXT,
**     options TEXT, method TEXT,      -- the key (PRIMARY KEY over all eight)
**     map BLOB,                       -- the exact blob legrad()/legrad_layers() returned
**     created TEXT)                   -- CURRENT_TIMESTAMP of the write
** legrad(), legrad_explain() and legrad_layers() look a map up before computing it and hand it to
** the cache after, so a hit returns the byte-identical blob.  A stored blob that does not decode,
** or that records another model, method, layer set, grid, resize mode or relu flag than the key
** asks for, is a miss (counted in "mismatches") and is overwritten by the recomputed map.
**
** THE EXTENSION'S OWN CONNECTIONS
**   The cache is never written on the user's connection, so a cache write never joins, fails or
**   rolls back the user's transaction.  For a file database the extension opens two connections of
**   its own on the same file and VFS (sqlite3_db_filename(db, "main")):
**     rd   lookups, strict writes, legrad_cache_stats() (used on the calling thread only);
**     wr   the flusher thread's writes.
**   Both run with triggers, views and foreign keys disabled, trusted_schema off and defensive on,
**   and before every read or write check that main.legrad_cache is exactly the table this file
**   creates (its CREATE TABLE text and its primary-key autoindex, nothing else: no trigger, view or
**   other index).  Anything else is refused with a message naming what was found.
**   An in-memory or temporary main database has no file to reopen: the cache is then a private
**   in-memory database of the extension (the same table, invisible to the user's SQL, freed with
**   the connection).
**
** THE QUEUE AND THE FLUSHER
**   A computed map is appended to an in-memory queue (at most LG_CACHE_MAX_PENDING maps and
**   LG_CACHE_MAX_BYTES bytes); lookups consult the queue first, so a statement re-run after an
**   interrupt finds every map computed before it.  A flusher thread per connection writes the whole
**   queue in one transaction on wr every LG_CACHE_FLUSH_MS milliseconds, or sooner once
**   LG_CACHE_FLUSH_MAPS maps are waiting.  It flushes only while it holds the user's connection's
**   mutex (sqlite3_mutex_try, so it never waits for it) and that connection holds no lock the write
**   would wait for: no write transaction, and in rollback-journal mode no read transaction either
**   (a commit there needs every reader gone).  The user's connection therefore never meets the
**   flusher's locks, and a busy wait never stands between a connection and its own statement.
**   Other connections and processes are ordinary concurrent writers: the flusher waits up to
**   LG_CACHE_BUSY_MS for them and otherwise retries at the next tick, keeping the maps queued.
**   Closing the connection writes what is left (waiting up to LG_CACHE_CLOSE_BUSY_MS).
**   A batch that cannot be written for a lasting reason (disk or max_page_count full, read-only
**   file, I/O error, a table that is not ours) is dropped and counted under "skipped" with the
**   reason; a map that finds the queue full is counted as "locked".  The user's PRAGMA
**   max_page_count is applied to the flusher's writes too.
**   A connection opened without a mutex (SQLITE_OPEN_NOMUTEX, or a single-thread build) gets no
**   flusher: its maps are written when it closes.
**
** DURABILITY (kill -9)
**   A crash loses the maps still queued: at most the last LG_CACHE_FLUSH_MS milliseconds of maps
**   while the database is writable, plus those computed while it was not (the connection's own
**   write transaction or statement in rollback-journal mode, another writer's lock), bounded by the
**   queue's size.  Written rows are complete (one transaction per batch).
**
** THE IMAGE KEY
**   SQLite exposes no hash function and the project has no crypto dependency (OpenSSL is not one),
**   so the image key is the engine's 128-bit content hash (engine/core/hash128.h, also the model
**   fingerprint) of the 8-byte little-endian length followed by the bytes.  zlib's CRC-32 is too
**   short (a collision among 10^5 images is likely); with 128 bits an accidental collision is
**   negligible.  The hash is not collision-resistant against a deliberate attacker: whoever can
**   write both images and the cache table could make two images share a key (docs/sql-api.md).
*/
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "hash128.h"
#include "mapblob.h"

#define LG_CACHE_FLUSH_MS 500           /* the flusher's tick                                 */
#define LG_CACHE_FLUSH_MAPS 32          /* wake the flusher early at this many queued maps    */
#define LG_CACHE_MAX_PENDING 4096       /* queue bound, maps                                  */
#define LG_CACHE_MAX_BYTES (256 << 20)  /* queue bound, blob bytes                            */
#define LG_CACHE_BUSY_MS 250            /* a flush's wait for other writers                   */
#define LG_CACHE_READ_BUSY_MS 1000      /* a lookup's wait for other writers                  */
#define LG_CACHE_CLOSE_BUSY_MS 5000     /* the last flush's wait, at close                    */

/* Reasons a map was not stored, the keys of "skipped" in legrad_cache_stats(). */
enum { SKIP_LOCKED, SKIP_FULL, SKIP_READONLY, SKIP_IO, SKIP_REFUSED, SKIP_N };
static const char *const skip_names[SKIP_N] = {"locked", "full", "readonly", "io", "refused"};

/* One map waiting to be written: the key's strings are copied; resize and method point at string
** literals (lg_cache_key_init; method names live in the engine's method table). */
typedef struct lg_pending {
  struct lg_pending *next;
  char model[33], image[33];
  char *prompt, *layers, *options;
  int size;
  const char *resize, *method;
  unsigned char *map;
  int n_map;
} lg_pending;

enum { CACHE_UNOPENED, CACHE_FILE, CACHE_MEMORY, CACHE_BROKEN };

struct lg_cache {
  int kind;                  /* CACHE_*                                                      */
  int readonly;              /* the user's main database is read-only: lookups only           */
  sqlite3 *db;               /* the user's connection                                          */
  sqlite3 *rd, *wr;          /* the extension's connections (wr NULL when read-only/memory)   */
  char open_err[160];        /* why the cache could not be opened (CACHE_BROKEN)              */
  /* Shared with the flusher: everything below is guarded by mu. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int has_thread, stop;
  lg_pending *head, **tail;
  int n_pending;
  size_t pending_bytes;
  int max_page_count;        /* the user's PRAGMA max_page_count, applied to wr (0 = unknown)  */
  sqlite3_int64 hits, misses, writes, mismatches, skipped[SKIP_N];
};

static const char cache_ddl[] =
    "CREATE TABLE legrad_cache("
    "model TEXT NOT NULL, image TEXT NOT NULL, prompt TEXT NOT NULL, layers TEXT NOT NULL, "
    "size INTEGER NOT NULL, resize TEXT NOT NULL, options TEXT NOT NULL, method TEXT NOT NULL, "
    "map BLOB NOT NULL, created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, "
    "PRIMARY KEY(model, image, prompt, layers, size, resize, options, method))";

static const char cache_insert[] =
    "INSERT OR REPLACE INTO main.legrad_cache(model, image, prompt, layers, size, resize, options, "
    "method, map) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

void lg_content_hash(const void *data, size_t n, char out[33]) {
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)n >> (8 * i));
  lg_hash128 h;
  lg_hash128_init(&h);
  lg_hash128_update(&h, len, sizeof len);  /* the length first, so a prefix never shares a key */
  lg_hash128_update(&h, data, n);
  lg_hash128_hex(&h, out);
}

/* ---- schema check ---------------------------------------------------------------------------- */

/*
** Checks what main.legrad_cache is on connection x.  Returns 0 when there is no such object, 1
** when it is exactly this file's table (the CREATE TABLE text and its autoindex, nothing else), -1
** when it is something else (why: "it has a trigger 'x'", ...), -2 when the schema cannot be read
** (busy; why holds SQLite's message).
*/
static int cache_check_schema(sqlite3 *x, char *why, size_t cap) {
  sqlite3_stmt *st = NULL;
  int found = 0, rc;
  why[0] = 0;
  if (sqlite3_prepare_v2(x, "SELECT type, name, sql FROM main.sqlite_schema WHERE "
                            "tbl_name = 'legrad_cache' COLLATE NOCASE OR "
                            "name = 'legrad_cache' COLLATE NOCASE", -1, &st, NULL) != SQLITE_OK) {
    snprintf(why, cap, "%s", sqlite3_errmsg(x));
    sqlite3_finalize(st);
    return -2;
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *type = (const char *)sqlite3_column_text(st, 0);
    const char *name = (const char *)sqlite3_column_text(st, 1);
    const char *sql = (const char *)sqlite3_column_text(st, 2);
    type = type ? type : "";
    name = name ? name : "";
    if (strcmp(type, "table") == 0 && strcmp(name, "legrad_cache") == 0) {
      if (!sql || strcmp(sql, cache_ddl) != 0) {
        snprintf(why, cap, "its columns or constraints differ from the extension's");
        break;
      }
      found = 1;
    } else if (strcmp(type, "index") == 0 && strcmp(name, "sqlite_autoindex_legrad_cache_1") == 0 &&
               !sql) {
      continue;
    } else {
      if (strcmp(type, "trigger") == 0) snprintf(why, cap, "it has a trigger '%.100s'", name);
      else if (strcmp(type, "index") == 0) snprintf(why, cap, "it has an index '%.100s'", name);
      else if (strcmp(type, "view") == 0) snprintf(why, cap, "it is a view");
      else snprintf(why, cap, "it is a %.20s named '%.100s'", type, name);
      break;
    }
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    snprintf(why, cap, "%s", sqlite3_errmsg(x));
    sqlite3_finalize(st);
    return -2;
  }
  sqlite3_finalize(st);
  if (why[0]) return -1;
  return found;
}

/* The message for a refused table: "fn(): the table main.legrad_cache was not created by ...". */
static int cache_refusal(lg_err *err, const char *fn, const char *why) {
  return lg_errf(err, "%s(): the table main.legrad_cache was not created by this extension (%s): "
                      "drop or rename it, or pass {\"cache\": false}", fn, why);
}

/* ---- opening ----------------------------------------------------------------------------------- */

/* Settings of the extension's own connections: no schema code runs, no extension loads. */
static void cache_configure(sqlite3 *x) {
  sqlite3_db_config(x, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)0);
  sqlite3_db_config(x, SQLITE_DBCONFIG_ENABLE_VIEW, 0, (int *)0);
  sqlite3_db_config(x, SQLITE_DBCONFIG_ENABLE_FKEY, 0, (int *)0);
  sqlite3_db_config(x, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)0);
  sqlite3_db_config(x, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
  sqlite3_db_config(x, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)0);
  sqlite3_extended_result_codes(x, 0);
}

static void *cache_flusher(void *p);

/* Opens the cache's connections on first use.  Failures leave CACHE_BROKEN with the reason (the
** maps are then computed and not stored, counted as "io"). */
static void cache_open(lg_conn *c) {
  struct lg_cache *k = c->cache;
  if (k->kind != CACHE_UNOPENED) return;
  const char *file = sqlite3_db_filename(c->db, "main");
  int rc;
  if (!file || !file[0]) {
    k->kind = CACHE_MEMORY;
    rc = sqlite3_open_v2(":memory:", &k->rd, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                         SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc == SQLITE_OK) {
      cache_configure(k->rd);
      rc = sqlite3_exec(k->rd, cache_ddl, NULL, NULL, NULL);
    }
  } else {
    k->kind = CACHE_FILE;
    sqlite3_vfs *vfs = NULL;
    sqlite3_file_control(c->db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs);
    k->readonly = sqlite3_db_readonly(c->db, "main") == 1;
    int flags = (k->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                SQLITE_OPEN_FULLMUTEX;
    rc = sqlite3_open_v2(file, &k->rd, flags, vfs ? vfs->zName : NULL);
    if (rc == SQLITE_OK) cache_configure(k->rd);
    if (rc == SQLITE_OK && !k->readonly) {
      rc = sqlite3_open_v2(file, &k->wr, flags, vfs ? vfs->zName : NULL);
      if (rc == SQLITE_OK) cache_configure(k->wr);
    }
    /* The flusher synchronises with the user's connection through its mutex. */
    if (rc == SQLITE_OK && k->wr && sqlite3_db_mutex(c->db)) {
      if (pthread_create(&k->thread, NULL, cache_flusher, k) == 0) k->has_thread = 1;
    }
  }
  if (rc != SQLITE_OK) {
    snprintf(k->open_err, sizeof k->open_err, "%s",
             k->rd ? sqlite3_errmsg(k->rd) : sqlite3_errstr(rc));
    sqlite3_close(k->rd);
    sqlite3_close(k->wr);
    k->rd = k->wr = NULL;
    k->kind = CACHE_BROKEN;
  }
}

/* Allocates c->cache (idempotent).  Returns 0, or -1 when out of memory. */
static int cache_state(lg_conn *c) {
  if (c->cache) return 0;
  struct lg_cache *k = sqlite3_malloc(sizeof *k);
  if (!k) return -1;
  memset(k, 0, sizeof *k);
  k->db = c->db;
  k->tail = &k->head;
  pthread_mutex_init(&k->mu, NULL);
  pthread_cond_init(&k->cv, NULL);
  c->cache = k;
  return 0;
}

/* ---- the queue --------------------------------------------------------------------------------- */

static void pending_free(lg_pending *e) {
  free(e->prompt);
  free(e->layers);
  free(e->options);
  free(e->map);
  free(e);
}

/* Removes the first n entries (caller holds mu). */
static void queue_drop(struct lg_cache *k, int n) {
  while (n-- > 0 && k->head) {
    lg_pending *e = k->head;
    k->head = e->next;
    k->n_pending--;
    k->pending_bytes -= (size_t)e->n_map;
    pending_free(e);
  }
  if (!k->head) k->tail = &k->head;
}

/* Binds the eight key columns as ?1..?8 (strings live as long as the statement runs). */
static void bind_key(sqlite3_stmt *st, const char *model, const char *image, const char *prompt,
                     const char *layers, int size, const char *resize, const char *options,
                     const char *method) {
  sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, image, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, prompt, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, layers, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, size);
  sqlite3_bind_text(st, 6, resize, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, options, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, method, -1, SQLITE_STATIC);
}

/* The skip reason of a failed write's result code. */
static int skip_reason(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: return SKIP_LOCKED;
    case SQLITE_FULL: return SKIP_FULL;
    case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return SKIP_READONLY;
    default: return SKIP_IO;
  }
}

/*
** Writes the first n queued maps (or the one map in single, when not NULL) on x in one transaction,
** creating the table when absent.  Returns SQLITE_OK, SQLITE_BUSY (nothing written, try again), or
** another code (why: the refusal or SQLite's message; refused set when the table is not ours).
** The queue is not touched: the caller holds the user's connection's mutex, so nothing else
** changes it meanwhile.
*/
static int cache_write(struct lg_cache *k, sqlite3 *x, int n, const lg_pending *single,
                       char *why, size_t cap, int *refused) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_exec(x, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  *refused = 0;
  why[0] = 0;
  if (rc != SQLITE_OK) goto done;
  int s = cache_check_schema(x, why, cap);
  if (s == -2) { rc = sqlite3_errcode(x) ? sqlite3_errcode(x) : SQLITE_ERROR; goto done; }
  if (s == -1) { *refused = 1; rc = SQLITE_ERROR; goto done; }
  if (s == 0 && (rc = sqlite3_exec(x, cache_ddl, NULL, NULL, NULL)) != SQLITE_OK) goto done;
  if ((rc = sqlite3_prepare_v2(x, cache_insert, -1, &st, NULL)) != SQLITE_OK) goto done;
  const lg_pending *e = single ? single : k->head;
  for (int i = 0; e && (single ? i < 1 : i < n); i++, e = e->next) {
    bind_key(st, e->model, e->image, e->prompt, e->layers, e->size, e->resize, e->options,
             e->method);
    sqlite3_bind_blob(st, 9, e->map, e->n_map, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) { rc = sqlite3_errcode(x); goto done; }
  }
  rc = sqlite3_exec(x, "COMMIT", NULL, NULL, NULL);
done:
  if (rc != SQLITE_OK && !why[0]) snprintf(why, cap, "%s", sqlite3_errmsg(x));
  sqlite3_finalize(st);
  if (rc != SQLITE_OK && !sqlite3_get_autocommit(x)) sqlite3_exec(x, "ROLLBACK", NULL, NULL, NULL);
  return rc == SQLITE_OK ? SQLITE_OK : (rc & 0xff) == SQLITE_LOCKED ? SQLITE_BUSY : rc;
}

/* 1 when x's main database is in WAL mode. */
static int cache_is_wal(sqlite3 *x) {
  sqlite3_stmt *st = NULL;
  int wal = 0;
  if (sqlite3_prepare_v2(x, "PRAGMA main.journal_mode", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const char *m = (const char *)sqlite3_column_text(st, 0);
    wal = m && strcmp(m, "wal") == 0;
  }
  sqlite3_finalize(st);
  return wal;
}

/* Applies the user's max_page_count (read by the calling thread into k) to x. */
static void cache_apply_limits(struct lg_cache *k, sqlite3 *x) {
  int mpc;
  pthread_mutex_lock(&k->mu);
  mpc = k->max_page_count;
  pthread_mutex_unlock(&k->mu);
  if (mpc > 0) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA main.max_page_count = %d", mpc);
    sqlite3_exec(x, sql, NULL, NULL, NULL);
  }
}

/*
** One flush of the whole queue on wr.  final: called at close (the user's connection is closing
** and holds no lock; wait longer, and what is still locked out is skipped).  Otherwise the caller
** holds the user's connection's mutex and has checked that it holds no conflicting lock.
** Returns 1 when the queue was written or dropped, 0 when it should be tried again.
*/
static int cache_flush(struct lg_cache *k, int final) {
  char why[256];
  int refused = 0;
  pthread_mutex_lock(&k->mu);
  int n = k->n_pending;
  pthread_mutex_unlock(&k->mu);
  if (n == 0) return 1;
  cache_apply_limits(k, k->wr);
  sqlite3_busy_timeout(k->wr, final ? LG_CACHE_CLOSE_BUSY_MS : LG_CACHE_BUSY_MS);
  int rc = cache_write(k, k->wr, n, NULL, why, sizeof why, &refused);
  if (rc == SQLITE_BUSY && !final) return 0;
  pthread_mutex_lock(&k->mu);
  if (rc == SQLITE_OK) k->writes += n;
  else k->skipped[refused ? SKIP_REFUSED : skip_reason(rc)] += n;
  queue_drop(k, n);
  pthread_mutex_unlock(&k->mu);
  return 1;
}

/* Tries one flush from the flusher thread, only while the user's connection is idle enough. */
static int cache_flush_if_idle(struct lg_cache *k) {
  sqlite3_mutex *mu = sqlite3_db_mutex(k->db);
  if (!mu || sqlite3_mutex_try(mu) != SQLITE_OK) return 0;
  int state = sqlite3_txn_state(k->db, "main"), done = 0;
  if (state == SQLITE_TXN_NONE || (state == SQLITE_TXN_READ && cache_is_wal(k->wr)))
    done = cache_flush(k, 0);
  sqlite3_mutex_leave(mu);
  return done;
}

/* Adds ms milliseconds to the current CLOCK_REALTIME (pthread_cond_timedwait's clock). */
static struct timespec deadline_in(int ms) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
  return t;
}

/* The flusher thread: writes the queue every tick, or sooner when it fills up. */
static void *cache_flusher(void *p) {
  struct lg_cache *k = p;
  pthread_mutex_lock(&k->mu);
  while (!k->stop) {
    struct timespec t = deadline_in(LG_CACHE_FLUSH_MS);
    /* Sleep a tick, or until enough maps are queued (or stop). */
    while (!k->stop && k->n_pending < LG_CACHE_FLUSH_MAPS) {
      if (pthread_cond_timedwait(&k->cv, &k->mu, &t) == ETIMEDOUT) break;
    }
    if (k->stop || !k->n_pending) continue;
    pthread_mutex_unlock(&k->mu);
    int done = cache_flush_if_idle(k);
    pthread_mutex_lock(&k->mu);
    /* Not now (the connection is busy or locked out): wait a short while before trying again. */
    if (!done && !k->stop) {
      struct timespec w = deadline_in(50);
      pthread_cond_timedwait(&k->cv, &k->mu, &w);
    }
  }
  pthread_mutex_unlock(&k->mu);
  return NULL;
}

void lg_cache_close(lg_conn *c) {
  struct lg_cache *k = c->cache;
  if (!k) return;
  if (k->has_thread) {
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
  }
  if (k->wr) cache_flush(k, 1);
  pthread_mutex_lock(&k->mu);
  k->skipped[k->readonly ? SKIP_READONLY : SKIP_IO] += k->n_pending;
  queue_drop(k, k->n_pending);
  pthread_mutex_unlock(&k->mu);
  sqlite3_close(k->rd);
  sqlite3_close(k->wr);
  pthread_cond_destroy(&k->cv);
  pthread_mutex_destroy(&k->mu);
  sqlite3_free(k);
  c->cache = NULL;
}

/* ---- lookups ------------------------------------------------------------------------------------ */

/* 1 when blob decodes and records what key k asks for (model, method, layers, grid, patch, size,
** resize mode, relu, single layer); fills *score. */
static int cache_blob_matches(const lg_cache_key *k, const void *blob, int n, float *score) {
  lg_map m;
  if (!blob || n <= 0 || lg_map_decode(blob, (size_t)n, &m, NULL) != 0) return 0;
  int single = strcmp(k->method, "legrad_layer") == 0;
  int ok = strcmp(m.fingerprint, k->model) == 0 && (int)m.method == k->blob_id &&
           strcmp(m.options, k->blob_options) == 0 &&
           m.gh == k->grid && m.gw == k->grid && m.patch == k->patch &&
           m.frame.size == k->size && m.frame.mode == k->mode &&
           ((m.flags & LG_MAP_F_RELU) != 0) == (k->relu != 0) &&
           ((m.flags & LG_MAP_F_SINGLE_LAYER) != 0) == single && m.n_layers == k->ls.n &&
           memcmp(m.layers, k->ls.idx, sizeof(int) * (size_t)k->ls.n) == 0;
  if (ok && score) *score = m.score;
  lg_map_free(&m);
  return ok;
}

/* Copies a blob with sqlite3_malloc (for sqlite3_result_blob's destructor). */
static unsigned char *blob_copy(const void *p, int n) {
  unsigned char *b = sqlite3_malloc(n > 0 ? n : 1);
  if (b) memcpy(b, p, (size_t)n);
  return b;
}

int lg_cache_get(lg_conn *c, const lg_cache_key *k, unsigned char **blob, int *n, float *score,
                 lg_err *err) {
  sqlite3_stmt *st = NULL;
  int hit = 0, mismatch = 0;
  char why[256];
  *blob = NULL;
  *n = 0;
  if (cache_state(c)) return lg_errf(err, "%s(): out of memory", k->fn);
  struct lg_cache *q = c->cache;
  cache_open(c);
  /* The queue first: maps computed but not written yet.  Only this thread appends to or removes
  ** from it while the flusher is idle, and the flusher writes only while holding this connection's
  ** mutex, which the calling thread holds now. */
  for (const lg_pending *e = q->head; e && !hit; e = e->next) {
    if (strcmp(e->image, k->image) == 0 && strcmp(e->model, k->model) == 0 &&
        strcmp(e->prompt, k->prompt) == 0 && strcmp(e->layers, k->layers) == 0 &&
        e->size == k->size && strcmp(e->resize, k->resize) == 0 &&
        strcmp(e->options, k->options) == 0 && strcmp(e->method, k->method) == 0) {
      if (cache_blob_matches(k, e->map, e->n_map, score) && (*blob = blob_copy(e->map, e->n_map)))
        *n = e->n_map, hit = 1;
    }
  }
  if (!hit && q->rd) {
    /* A write transaction of the user's own connection may hold the lock a read waits for (in
    ** rollback-journal mode): do not wait for it. */
    int own_write = sqlite3_txn_state(c->db, "main") == SQLITE_TXN_WRITE;
    sqlite3_busy_timeout(q->rd, own_write ? 0 : LG_CACHE_READ_BUSY_MS);
    int s = cache_check_schema(q->rd, why, sizeof why);
    if (s == -1) return cache_refusal(err, k->fn, why);
    if (s == 1 && sqlite3_prepare_v2(q->rd,
                                     "SELECT map FROM main.legrad_cache WHERE model=?1 AND "
                                     "image=?2 AND prompt=?3 AND layers=?4 AND size=?5 AND "
                                     "resize=?6 AND options=?7 AND method=?8",
                                     -1, &st, NULL) == SQLITE_OK) {
      bind_key(st, k->model, k->image, k->prompt, k->layers, k->size, k->resize, k->options,
               k->method);
      if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB) {
        int len = sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        /* Only a blob that decodes and records this request is a hit: anything else is computed
        ** again and overwritten. */
        if (cache_blob_matches(k, p, len, score)) {
          if ((*blob = blob_copy(p, len)) != NULL) *n = len, hit = 1;
        } else {
          mismatch = 1;
        }
      }
    }
    sqlite3_finalize(st);
  }
  pthread_mutex_lock(&q->mu);
  if (hit) q->hits++;
  else q->misses++;
  q->mismatches += mismatch;
  pthread_mutex_unlock(&q->mu);
  return hit;
}

/* ---- writes ------------------------------------------------------------------------------------- */

/* 1 when the user's connection has PRAGMA query_only on; *mpc = its max_page_count. */
static int user_limits(sqlite3 *db, int *mpc) {
  sqlite3_stmt *st = NULL;
  int q = 0;
  *mpc = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA query_only", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    q = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(db, "PRAGMA main.max_page_count", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    *mpc = v > 0 && v < 0x7fffffff ? (int)v : 0;
  }
  sqlite3_finalize(st);
  return q;
}

/* A queue entry for key k and blob (malloc'ed copies), or NULL when out of memory. */
static lg_pending *pending_new(const lg_cache_key *k, const unsigned char *blob, int n) {
  lg_pending *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  memcpy(e->model, k->model, strnlen(k->model, 32));
  memcpy(e->image, k->image, sizeof e->image);
  e->prompt = strdup(k->prompt);
  e->layers = strdup(k->layers);
  e->options = strdup(k->options);
  e->map = malloc(n > 0 ? (size_t)n : 1);
  if (!e->prompt || !e->layers || !e->options || !e->map) { pending_free(e); return NULL; }
  memcpy(e->map, blob, (size_t)n);
  e->n_map = n;
  e->size = k->size;
  e->resize = k->resize;
  e->method = k->method;
  return e;
}

int lg_cache_put(lg_conn *c, const lg_cache_key *k, const unsigned char *blob, int n, int mode,
                 lg_err *err) {
  int strict = mode == LG_CACHE_STRICT, mpc = 0, reason = -1, refused = 0;
  char why[256] = "";
  if (cache_state(c)) return strict ? lg_errf(err, "%s(): out of memory", k->fn) : 0;
  struct lg_cache *q = c->cache;
  cache_open(c);
  int query_only = user_limits(c->db, &mpc);
  lg_pending *e = NULL;
  if (q->kind == CACHE_BROKEN) {
    reason = SKIP_IO;
    snprintf(why, sizeof why, "the cache database could not be opened: %s", q->open_err);
  } else if (q->readonly || query_only) {
    reason = SKIP_READONLY;
    snprintf(why, sizeof why, "the database is read-only%s", query_only ? " (PRAGMA query_only)" : "");
  } else if (!(e = pending_new(k, blob, n))) {
    reason = SKIP_IO;
    snprintf(why, sizeof why, "out of memory");
  } else if (q->kind == CACHE_MEMORY || strict) {
    /* Written before returning: the private in-memory database has no other writer; a strict
    ** write reports its failure to the caller. */
    sqlite3 *x = q->rd;
    int wal = q->kind == CACHE_MEMORY || cache_is_wal(x);
    int rc;
    if (!wal && sqlite3_txn_state(c->db, "main") != SQLITE_TXN_NONE) {
      rc = SQLITE_BUSY;
      snprintf(why, sizeof why, "in rollback-journal mode the write would wait for this "
                                "statement's own lock; use PRAGMA journal_mode=WAL");
    } else {
      int own_write = sqlite3_txn_state(c->db, "main") == SQLITE_TXN_WRITE;
      sqlite3_busy_timeout(x, own_write ? 0 : LG_CACHE_READ_BUSY_MS);
      pthread_mutex_lock(&q->mu);
      q->max_page_count = mpc;
      pthread_mutex_unlock(&q->mu);
      if (q->kind == CACHE_FILE) cache_apply_limits(q, x);
      rc = cache_write(q, x, 1, e, why, sizeof why, &refused);
      if (rc == SQLITE_BUSY && own_write)
        snprintf(why, sizeof why, "this connection's own write transaction holds the lock");
    }
    pending_free(e);
    e = NULL;
    if (rc == SQLITE_OK) {
      pthread_mutex_lock(&q->mu);
      q->writes++;
      pthread_mutex_unlock(&q->mu);
      return 0;
    }
    reason = refused ? SKIP_REFUSED : skip_reason(rc);
  }
  if (reason < 0) {
    pthread_mutex_lock(&q->mu);
    q->max_page_count = mpc;
    if (q->n_pending >= LG_CACHE_MAX_PENDING ||
        q->pending_bytes + (size_t)n > (size_t)LG_CACHE_MAX_BYTES) {
      reason = SKIP_LOCKED;  /* the database stayed locked while the queue filled up */
      snprintf(why, sizeof why, "%d maps are already waiting to be written", q->n_pending);
    } else {
      *q->tail = e;
      q->tail = &e->next;
      q->n_pending++;
      q->pending_bytes += (size_t)n;
      e = NULL;
      if (q->n_pending >= LG_CACHE_FLUSH_MAPS) pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
  }
  if (e) pending_free(e);
  if (reason < 0) return 0;
  pthread_mutex_lock(&q->mu);
  q->skipped[reason]++;
  pthread_mutex_unlock(&q->mu);
  if (!strict) return 0;
  if (reason == SKIP_REFUSED) return cache_refusal(err, k->fn, why);
  return lg_errf(err, "%s(): the map could not be stored in legrad_cache (%s: %s); pass "
                      "{\"cache\": true} to compute without storing it", k->fn,
                 skip_names[reason], why);
}

void lg_cache_key_init(lg_cache_key *k, const lg_legrad_req *r, const char *method) {
  memset(k, 0, sizeof *k);
  k->fn = r->fn;
  k->model = r->m->fingerprint;
  lg_content_hash(r->img, (size_t)r->n_img, k->image);
  /* A prompt-independent method's map is shared by every prompt. */
  k->prompt = (r->method->needs & LG_NEED_TEXT) ? r->text : "";
  lg_layers_key(&r->ls, k->layers, sizeof k->layers);
  k->size = r->size;
  k->resize = r->mode == LG_RESIZE_SQUASH ? "squash" : "crop";
  k->options = r->options_key;   /* the method's options, "relu=1" for LeGrad */
  k->method = method;
  k->blob_id = r->method->blob_id;
  k->blob_options = r->method->options_in_flags ? "" : r->options_key;
  k->ls = r->ls;
  k->patch = r->m->vision.patch;
  k->grid = k->patch > 0 ? r->size / k->patch : 0;
  k->mode = r->mode;
  int relu_opt = lg_method_option(r->method, "relu");
  k->relu = relu_opt >= 0 && r->opt[relu_opt] != 0;
}

void lg_cache_key_layer(lg_cache_key *k, int idx) {
  k->ls.n = 1;
  k->ls.idx[0] = idx;
  lg_layers_key(&k->ls, k->layers, sizeof k->layers);
}

/* ---- legrad_cache_stats() and legrad_cache_clear() ---------------------------------------------- */

char *lg_cache_stats_json(lg_conn *c) {
  sqlite3_int64 rows = 0, bytes = 0;
  char why[256];
  if (cache_state(c)) return NULL;
  struct lg_cache *q = c->cache;
  cache_open(c);
  if (q->rd && cache_check_schema(q->rd, why, sizeof why) == 1) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->rd, "SELECT count(*), coalesce(sum(length(map)), 0) FROM "
                                  "main.legrad_cache", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      rows = sqlite3_column_int64(st, 0);
      bytes = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
  }
  pthread_mutex_lock(&q->mu);
  char *s = sqlite3_mprintf(
      "{\"hits\":%lld,\"misses\":%lld,\"writes\":%lld,\"rows\":%lld,\"bytes\":%lld,"
      "\"pending\":%d,\"mismatches\":%lld,\"skipped\":{\"%s\":%lld,\"%s\":%lld,\"%s\":%lld,"
      "\"%s\":%lld,\"%s\":%lld},\"failures\":%lld}",
      (long long)q->hits, (long long)q->misses, (long long)q->writes,
      (long long)rows + q->n_pending, (long long)bytes + (long long)q->pending_bytes,
      q->n_pending, (long long)q->mismatches, skip_names[0], (long long)q->skipped[0],
      skip_names[1], (long long)q->skipped[1], skip_names[2], (long long)q->skipped[2],
      skip_names[3], (long long)q->skipped[3], skip_names[4], (long long)q->skipped[4],
      (long long)c->failures);
  pthread_mutex_unlock(&q->mu);
  return s;
}

int lg_cache_clear(lg_conn *c, sqlite3_int64 *n_deleted, lg_err *err) {
  char why[256];
  *n_deleted = 0;
  if (cache_state(c)) return lg_errf(err, "legrad_cache_clear(): out of memory");
  struct lg_cache *q = c->cache;
  cache_open(c);
  pthread_mutex_lock(&q->mu);
  *n_deleted = q->n_pending;
  queue_drop(q, q->n_pending);
  pthread_mutex_unlock(&q->mu);
  /* A private in-memory cache is cleared on its own connection; a file's table is cleared by this
  ** statement on the user's connection (an explicit request, part of the user's transaction),
  ** after the same check as every write. */
  sqlite3 *x = q->kind == CACHE_MEMORY ? q->rd : c->db;
  int s = cache_check_schema(x, why, sizeof why);
  if (s == 0) return 0;
  if (s == -1) return cache_refusal(err, "legrad_cache_clear", why);
  if (s == -2)
    return lg_errf(err, "legrad_cache_clear(): cannot read the schema: %s", why);
  sqlite3_int64 last_rowid = sqlite3_last_insert_rowid(x);
  if (sqlite3_exec(x, "DELETE FROM main.legrad_cache", NULL, NULL, NULL) != SQLITE_OK)
    return lg_errf(err, "legrad_cache_clear(): cannot delete from legrad_cache: %s",
                   sqlite3_errmsg(x));
  *n_deleted += sqlite3_changes(x);
  sqlite3_set_last_insert_rowid(x, last_rowid);
  return 0;
}
