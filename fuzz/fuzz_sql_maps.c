/*
** libFuzzer target for the map and metric SQL functions (ext/map_funcs.c, ext/metric_funcs.c): the
** argument parsers behind them (map blobs, JSON grids and options, masks, overlay images) fed
** through SQLite itself, as a user's SQL would.
**
**   make fuzz && build/fuzz/fuzz_sql_maps -max_total_time=300 fuzz/corpus/sql_maps
**
** Input: byte 0 picks the statement (low 4 bits) and, with bit 7, recomputes the CRC-32 trailer of a
** map blob argument; the rest is bound as ?1.  Errors are expected results; crashes, sanitizer
** reports and leaks are findings.  Built with -DSQLITE_CORE against the system libsqlite3
** (the fuzz_sql_% rule of the Makefile).
*/
#include "fuzz_sql_blob.h"

static const char *const STATEMENTS[] = {
    "SELECT legrad_map_info(?1)",
    "SELECT legrad_map_grid(?1)",
    "SELECT legrad_map_json(?1, 7, 5)",
    "SELECT legrad_map_png(?1)",
    "SELECT legrad_map_from_grid(CAST(?1 AS TEXT))",
    "SELECT legrad_map_from_grid('[[0,1],[2,3]]', CAST(?1 AS TEXT))",
    "SELECT legrad_map_info(legrad_map_from_grid(CAST(?1 AS TEXT), '{\"patch\":2}'))",
    "SELECT legrad_iou(legrad_map_from_grid('[[0,1],[2,3]]', '{\"patch\":2}'), ?1, 0.5, 1)",
    "SELECT legrad_mass_in(legrad_map_from_grid('[[0,1],[2,3]]'), ?1)",
    "SELECT legrad_map_png(legrad_map_from_grid('[[0,1],[2,3]]', '{\"patch\":4}'), ?1, 0.3)",
    "SELECT legrad_pointing(?1, x'89504e470d0a1a0a')",
    "SELECT legrad_map_png(?1, NULL, 0.5, 'source')",
    "SELECT legrad_frame_coverage(legrad_map_from_grid('[[0,1],[2,3]]', "
    "'{\"patch\":16,\"frame\":{\"source\":[60,20],\"mode\":\"crop\"}}'), ?1, 1)",
};
#define N_STATEMENTS (sizeof STATEMENTS / sizeof STATEMENTS[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* statements 3 and 11 render the map at its input or source size */
  return fuzz_sql_blob_run(data, size, STATEMENTS, N_STATEMENTS,
                           15u, (1u << 3) | (1u << 11), lg_register_metric_functions);
}
