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
#include "fuzz_sql_blob.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* statements 2 and 4 render the map at its input or source size */
  return fuzz_sql_blob_run(data, size, STATEMENTS, N_STATEMENTS,
                           7u, (1u << 2) | (1u << 4), lg_register_eval_functions);
}
