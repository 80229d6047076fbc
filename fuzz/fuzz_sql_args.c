/*
** libFuzzer target for the SQL entry points' argument handling (ext/args.c, ext/compute.c and the
** functions behind them): options JSON, layer specifications, prompts and images as they arrive
** from SQL.  Built statically (-DSQLITE_CORE) with the ext sources and linked with libsqlite3.
**
**   make fuzz && build/fuzz/fuzz_sql_args -max_total_time=300 fuzz/corpus/sql_args
**
** Run from the repository root: the sample model samples/model is registered as 'default' and
** the image is the first held-out sample image unless the input supplies one.
** Input: byte 0 picks the statement (legrad, legrad_layers, clip_*, legrad_explain with the layers
** part as the method name), the rest is split at the first three 0x00 bytes into text, layers,
** options and image (absent parts are NULL; an empty
** image part means the default image).  The property is that no statement crashes, leaks or
** trips a sanitizer; errors are expected and ignored.
** Work bound: options whose "size" exceeds MAX_SIZE are skipped.  The extension accepts up to 64
** patches a side (512 px for the sample model, 4096 tokens: 8 s a statement under ASan), which
** only repeats the same code on more tokens; 128 px keeps every input well under a second.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#define MAX_SIZE 128 /* largest "size" option run, in pixels (16 patches of the sample model) */

int sqlite3_legrad_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

static const char *const statements[] = {
    "SELECT legrad(?4, ?1, ?2, ?3)",
    "SELECT count(*), sum(length(map)) FROM legrad_layers(?4, ?1, ?2, ?3)",
    "SELECT clip_image_embedding(?4, ?3)",
    "SELECT clip_text_embedding(?1, ?3)",
    "SELECT clip_similarity(?4, ?1, ?3)",
    "SELECT clip_tokenize(?1, ?3)",
    "SELECT legrad(?4, ?1, CAST(?2 AS INTEGER), ?3)",
    "SELECT legrad_explain(?4, ?1, ?2, ?3)",
    "SELECT legrad_map_info(legrad_explain(?4, ?1, ?2, ?3))",
};

/* 1 when the options text is a JSON object with a "size" member (any of them, when the key is
** repeated) that is a number above MAX_SIZE. */
static int size_too_big(const uint8_t *text, size_t n) {
  cJSON *root = text ? cJSON_ParseWithLength((const char *)text, n) : NULL;
  int big = 0;
  if (cJSON_IsObject(root))
    for (const cJSON *it = root->child; it; it = it->next)
      if (it->string && strcmp(it->string, "size") == 0 && cJSON_IsNumber(it) && it->valuedouble > MAX_SIZE) big = 1;
  cJSON_Delete(root);
  return big;
}

static sqlite3 *db;
static unsigned char *image;
static long n_image;

/* Opens the connection once: extension, sample model, default image. */
static void fuzz_setup(void) {
  char *err = NULL;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK || sqlite3_legrad_init(db, &err, NULL) != SQLITE_OK ||
      sqlite3_exec(db, "INSERT INTO legrad_models(name, path) VALUES ('default', 'samples/model')",
                   NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "fuzz_sql_args: setup failed (run from the repository root): %s\n",
            err ? err : sqlite3_errmsg(db));
    abort();
  }
  FILE *f = fopen("samples/heldout/images/000000.png", "rb");
  if (!f) { fprintf(stderr, "fuzz_sql_args: samples/heldout/images/000000.png missing\n"); abort(); }
  fseek(f, 0, SEEK_END);
  n_image = ftell(f);
  fseek(f, 0, SEEK_SET);
  image = malloc((size_t)n_image);
  if (!image || fread(image, 1, (size_t)n_image, f) != (size_t)n_image) abort();
  fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!db) fuzz_setup();
  if (size < 1) return 0;
  const char *sql = statements[data[0] % (sizeof statements / sizeof statements[0])];
  const uint8_t *part[4] = {NULL, NULL, NULL, NULL};
  size_t len[4] = {0, 0, 0, 0};
  size_t pos = 1;
  for (int k = 0; k < 4 && pos <= size; k++) {
    const uint8_t *end = k < 3 ? memchr(data + pos, 0, size - pos) : NULL;
    size_t n = end ? (size_t)(end - (data + pos)) : size - pos;
    part[k] = data + pos;
    len[k] = n;
    pos += n + 1;
    if (!end) break;
  }
  if (size_too_big(part[2], len[2])) return 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) abort();
  for (int k = 0; k < 3; k++)
    if (part[k]) sqlite3_bind_text(st, k + 1, (const char *)part[k], (int)len[k], SQLITE_TRANSIENT);
  if (part[3] && len[3] > 0) sqlite3_bind_blob(st, 4, part[3], (int)len[3], SQLITE_TRANSIENT);
  else sqlite3_bind_blob(st, 4, image, (int)n_image, SQLITE_STATIC);
  while (sqlite3_step(st) == SQLITE_ROW) {
  }
  sqlite3_finalize(st);
  return 0;
}
