/*
** The harness shared by the SQL fuzz targets that bind one blob (fuzz_sql_maps, fuzz_sql_eval):
** byte 0 of the input picks the statement and, with bit 7, recomputes the CRC-32 trailer of a map
** blob argument; the rest is bound as ?1 on a fresh in-memory connection.  Errors are expected
** results; crashes, sanitizer reports and leaks are findings.
*/
#ifndef LEGRAD_FUZZ_SQL_BLOB_H
#define LEGRAD_FUZZ_SQL_BLOB_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ext.h"
#include "mapblob.h"

/* 1 when b[0..n) is a map blob whose final map (input or source size) exceeds 256 x 256 pixels:
** rendering it only slows the fuzzer down. */
static int fuzz_map_too_big(const unsigned char *b, size_t n) {
  lg_map m;
  if (lg_map_decode(b, n, &m, NULL)) return 0;
  int big = (int64_t)m.gh * m.patch * m.gw * m.patch > 256 * 256 ||
            (int64_t)m.frame.src_w * m.frame.src_h > 256 * 256;
  lg_map_free(&m);
  return big;
}

/* Runs the statement that data[0] picks (data[0] & pick_mask, modulo n_sql) with ?1 bound to
** data[1..size), after registering the map functions and register_more's.  Statements whose index
** has its bit set in big_maps are skipped for map blobs that fuzz_map_too_big() refuses. */
static int fuzz_sql_blob_run(const uint8_t *data, size_t size, const char *const *sql,
                             unsigned n_sql, unsigned pick_mask, unsigned big_maps,
                             int (*register_more)(sqlite3 *)) {
  if (size < 1) return 0;
  unsigned pick = (data[0] & pick_mask) % n_sql;
  size_t n = size - 1;
  unsigned char *arg = malloc(n ? n : 1);
  if (!arg) return 0;
  memcpy(arg, data + 1, n);
  if ((data[0] & 0x80) && n >= 8) {
    uint32_t c = (uint32_t)crc32(0L, arg, (uInt)(n - 4));
    for (int i = 0; i < 4; i++) arg[n - 4 + i] = (unsigned char)(c >> (8 * i));
  }
  if ((big_maps >> pick & 1u) && fuzz_map_too_big(arg, n)) { free(arg); return 0; }
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  if (sqlite3_open(":memory:", &db) == SQLITE_OK && lg_register_map_functions(db) == SQLITE_OK &&
      register_more(db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql[pick], -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_blob(st, 1, arg, (int)n, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) (void)sqlite3_column_bytes(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(arg);
  return 0;
}
#endif
