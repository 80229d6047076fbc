/*
** libFuzzer target for the evaluation SQL functions (ext/eval_funcs.c): masks, options, point lists
** and map blobs fed through SQLite itself, as a user's SQL would.
**
**   make fuzz && build/fuzz/fuzz_sql_eval -max_total_time=300 fuzz/corpus/sql_eval
**
** Input: byte 0 picks the statement (low 3 bits) and, with bit 7, recomputes the CRC-32 trailer of a
** map blob argument; the rest is bound as ?1.  Errors are expected results; crashes, sanitizer
** reports and leaks are findings.  Built with -DSQLITE_CORE against the system libsqlite3
** (the fuzz_sql_% rule of the Makefile).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ext.h"
#include "mapblob.h"

/* A 2 x 2 8-bit grey PNG: 0 1 / 0 1. */
#define MASK_2X2                                                                                     \
  "x'89504e470d0a1a0a0000000d494844520000000200000002080000000057dd52f80000000e49444154789c63606064" \
  "6260000000100004058ae4d60000000049454e44ae426082'"

static const char *const STATEMENTS[] = {
    "SELECT legrad_seg_image(legrad_map_from_grid('[[0,1],[2,3]]', '{\"patch\":2}'), ?1)",
    "SELECT legrad_seg_image(legrad_map_from_grid('[[0,1],[2,3]]'), " MASK_2X2 ", CAST(?1 AS TEXT))",
    "SELECT legrad_seg_eval(?1, " MASK_2X2 ")",
    "SELECT legrad_point_counts(legrad_map_from_grid('[[0,1],[2,3]]', "
    "'{\"patch\":2,\"frame\":{\"source\":[60,20],\"mode\":\"crop\"}}'), CAST(?1 AS TEXT))",
    "SELECT legrad_point_counts(?1, '[{\"x\":0.5,\"y\":0.5,\"yesno\":\"yes\"}]', '{\"threshold\":\"mean\"}')",
    "SELECT legrad_seg_eval(legrad_map_from_grid('[[0,1],[2,3]]', "
    "'{\"patch\":16,\"frame\":{\"source\":[60,20],\"mode\":\"crop\"}}'), ?1, '{\"frame\":\"squash224\"}')",
    "SELECT legrad_seg_eval(legrad_map_from_grid('[[0,1],[2,3]]', '{\"patch\":16,\"frame\":"
    "{\"source\":[60,20],\"mode\":\"crop\"}}'), ?1, '{\"threshold\":0.5,\"label\":1}')",
};
#define N_STATEMENTS (sizeof STATEMENTS / sizeof STATEMENTS[0])

/* A map blob whose final map would be large only slows the fuzzer down: skip those. */
static int map_too_big(const unsigned char *b, size_t n) {
  lg_map m;
  if (lg_map_decode(b, n, &m, NULL)) return 0;
  int big = (int64_t)m.gh * m.patch * m.gw * m.patch > 256 * 256 ||
            (int64_t)m.frame.src_w * m.frame.src_h > 256 * 256;
  lg_map_free(&m);
  return big;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned pick = (data[0] & 7u) % N_STATEMENTS;
  size_t n = size - 1;
  unsigned char *arg = malloc(n ? n : 1);
  if (!arg) return 0;
  memcpy(arg, data + 1, n);
  if ((data[0] & 0x80) && n >= 8) {
    uint32_t c = (uint32_t)crc32(0L, arg, (uInt)(n - 4));
    for (int i = 0; i < 4; i++) arg[n - 4 + i] = (unsigned char)(c >> (8 * i));
  }
  if ((pick == 2 || pick == 4) && map_too_big(arg, n)) { free(arg); return 0; }
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  if (sqlite3_open(":memory:", &db) == SQLITE_OK && lg_register_map_functions(db) == SQLITE_OK &&
      lg_register_eval_functions(db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, STATEMENTS[pick], -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_blob(st, 1, arg, (int)n, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
      (void)sqlite3_column_bytes(st, 0);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(arg);
  return 0;
}
