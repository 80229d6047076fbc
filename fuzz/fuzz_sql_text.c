/*
** libFuzzer target for SQL text run against a connection with the extension loaded: whole
** statements, so the functions, the two virtual tables, the map cache and the flags meet each
** other and SQLite's own features (subqueries, CTEs, views, triggers, NULLs, wrong types).
**
**   make fuzz && nice build/fuzz/fuzz_sql_text -max_total_time=600 -timeout=10 -dict=fuzz/sql.dict \
**     fuzz/corpus/sql_text
**
** Run from the repository root.  Each input is UTF-8 SQL (one or more statements) run on a fresh
** in-memory connection where
**   - the fixture models are registered: default (samples/model, the only one with a tokenizer),
**     qg (tests/fixtures/models/tiny_qg_hf), oc (tiny_gelu_oc), ls (tiny_ls_oc), vis (tiny_vis_hf,
**     vision only), single (tiny_single.safetensors); the weights are loaded once per process and
**     shared by the connections;
**   - a table imgs(id, name, img) holds small images of every supported format
**     (tests/fixtures/image/in, samples/heldout);
**   - what could touch files is refused by an authorizer: ATTACH/DETACH (and so VACUUM INTO),
**     PRAGMA, CREATE/DROP VIRTUAL TABLE and INSERT INTO legrad_models (registering reads the files
**     a path names); DELETE and UPDATE on it stay allowed;
**   - sqlite3_limit bounds lengths (LIMITS below) and a progress handler stops a statement after
**     MAX_PROGRESS_CALLS x PROGRESS_OPS virtual machine operations.
** Work bound: the "size" option accepts up to 64 patches a side (4096 tokens: seconds per call
** under ASan), so an input whose text has "size" followed by a number above MAX_SIZE is skipped.
** A size computed by SQL expressions is not caught; the fuzzer reports such an input as a timeout.
** Property: no input crashes, leaks or trips a sanitizer; SQL errors are expected and ignored.
** With FUZZ_SQL_VERBOSE=1 in the environment each statement's outcome is printed (for writing seeds).
*/
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

int sqlite3_legrad_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

#define MAX_SIZE 128            /* largest literal "size" option run, in pixels */
#define PROGRESS_OPS 1000       /* virtual machine operations between progress callbacks */
#define MAX_PROGRESS_CALLS 100  /* callbacks before a statement is interrupted (10^5 operations) */
#define MAX_STATEMENTS 32       /* statements run per input */

static const char *const MODELS =
    "INSERT INTO legrad_models(name, path) VALUES"
    " ('default', 'samples/model'), ('qg', 'tests/fixtures/models/tiny_qg_hf'),"
    " ('oc', 'tests/fixtures/models/tiny_gelu_oc'), ('ls', 'tests/fixtures/models/tiny_ls_oc'),"
    " ('vis', 'tests/fixtures/models/tiny_vis_hf'), ('single', 'tests/fixtures/models/tiny_single.safetensors')";

static const char *const IMAGES[] = {
    "samples/heldout/images/000000.png",          "tests/fixtures/image/in/rgb_1x1.png",
    "tests/fixtures/image/in/rgb_17x13.png",      "tests/fixtures/image/in/grey16_37x29.png",
    "tests/fixtures/image/in/palette_trns_45x70.png", "tests/fixtures/image/in/jpeg_baseline_96x72.jpg",
    "tests/fixtures/image/in/jpeg_progressive_96x72.jpg", "tests/fixtures/image/in/bilevel_53x41.bmp",
    "tests/fixtures/image/in/colour_trns_47x38.gif"};
#define N_IMAGES (sizeof IMAGES / sizeof IMAGES[0])

static const struct { int id, value; } LIMITS[] = {
    {SQLITE_LIMIT_LENGTH, 1 << 20},     {SQLITE_LIMIT_SQL_LENGTH, 1 << 16},
    {SQLITE_LIMIT_COLUMN, 64},          {SQLITE_LIMIT_EXPR_DEPTH, 64},
    {SQLITE_LIMIT_COMPOUND_SELECT, 8},  {SQLITE_LIMIT_VDBE_OP, 20000},
    {SQLITE_LIMIT_FUNCTION_ARG, 8},     {SQLITE_LIMIT_ATTACHED, 0},
    {SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 64}, {SQLITE_LIMIT_VARIABLE_NUMBER, 16},
    {SQLITE_LIMIT_TRIGGER_DEPTH, 4},    {SQLITE_LIMIT_WORKER_THREADS, 0}};

static sqlite3 *anchor;                /* keeps the shared weights loaded between inputs */
static unsigned char *image[N_IMAGES];
static int n_image[N_IMAGES];

/* Reads a whole file; aborts (a setup error, not a finding) when it cannot. */
static unsigned char *read_file(const char *path, int *n) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "fuzz_sql_text: %s missing (run from the repository root)\n", path); abort(); }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)len + 1);
  if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) abort();
  fclose(f);
  *n = (int)len;
  return buf;
}

/* Opens a connection with the extension, the models and the images; aborts on failure. */
static sqlite3 *open_connection(void) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  char *err = NULL;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK || sqlite3_legrad_init(db, &err, NULL) != SQLITE_OK ||
      sqlite3_exec(db, MODELS, NULL, NULL, &err) != SQLITE_OK ||
      sqlite3_exec(db, "CREATE TABLE imgs(id INTEGER PRIMARY KEY, name TEXT, img BLOB)", NULL, NULL, &err) ||
      sqlite3_prepare_v2(db, "INSERT INTO imgs(name, img) VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "fuzz_sql_text: setup failed: %s\n", err ? err : sqlite3_errmsg(db));
    abort();
  }
  for (size_t k = 0; k < N_IMAGES; k++) {
    const char *base = strrchr(IMAGES[k], '/') + 1;
    sqlite3_bind_text(st, 1, base, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, image[k], n_image[k], SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) abort();
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return db;
}

/* Refuses what could read or write files or change the registry's files (see the top comment). */
static int authorize(void *arg, int action, const char *a, const char *b, const char *db, const char *trigger) {
  (void)arg; (void)b; (void)db; (void)trigger;
  switch (action) {
    case SQLITE_ATTACH: case SQLITE_DETACH: case SQLITE_PRAGMA:
    case SQLITE_CREATE_VTABLE: case SQLITE_DROP_VTABLE:
      return SQLITE_DENY;
    case SQLITE_INSERT:
      return a && sqlite3_stricmp(a, "legrad_models") == 0 ? SQLITE_DENY : SQLITE_OK;
    default:
      return SQLITE_OK;
  }
}

static int progress(void *arg) {
  int *calls = arg;
  return ++*calls > MAX_PROGRESS_CALLS;
}

/* 1 when "size" (any case) is followed, past quotes, blanks, ':' '=' ',', by a number > MAX_SIZE. */
static int size_too_big(const char *sql, size_t n) {
  for (size_t i = 0; i + 4 <= n; i++) {
    if (strncasecmp(sql + i, "size", 4) != 0) continue;
    size_t j = i + 4;
    while (j < n && j < i + 12 && strchr("\"' \t\r\n:=,", sql[j]) && sql[j]) j++;
    long v = 0;
    while (j < n && isdigit((unsigned char)sql[j]) && v <= MAX_SIZE) v = v * 10 + (sql[j++] - '0');
    if (v > MAX_SIZE) return 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!anchor) {
    for (size_t k = 0; k < N_IMAGES; k++) image[k] = read_file(IMAGES[k], &n_image[k]);
    anchor = open_connection();
  }
  if (size > (1 << 16) || size_too_big((const char *)data, size)) return 0;
  char *sql = malloc(size + 1);
  if (!sql) return 0;
  memcpy(sql, data, size);
  sql[size] = 0;
  sqlite3 *db = open_connection();
  for (size_t k = 0; k < sizeof LIMITS / sizeof LIMITS[0]; k++) sqlite3_limit(db, LIMITS[k].id, LIMITS[k].value);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
  sqlite3_set_authorizer(db, authorize, NULL);
  int calls = 0;
  sqlite3_progress_handler(db, PROGRESS_OPS, progress, &calls);
  const char *tail = sql;
  int verbose = getenv("FUZZ_SQL_VERBOSE") != NULL;
  for (int k = 0; k < MAX_STATEMENTS && tail && *tail; k++) {
    sqlite3_stmt *st = NULL;
    const char *next = NULL;
    if (sqlite3_prepare_v2(db, tail, -1, &st, &next) != SQLITE_OK) {
      if (verbose) fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
      break;
    }
    tail = next;
    calls = 0;
    int rc, rows = 0;
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(st); c++) (void)sqlite3_column_bytes(st, c);
      rows++;
    }
    if (verbose && st) fprintf(stderr, "%d rows, %s: %.60s\n", rows, rc == SQLITE_DONE ? "done" : sqlite3_errmsg(db), sqlite3_sql(st));
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  free(sql);
  return 0;
}
