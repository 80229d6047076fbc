/*
** Helpers shared by the map and metric SQL functions (map_funcs.c, metric_funcs.c).
*/
#ifndef LEGRAD_MAP_FUNCS_H
#define LEGRAD_MAP_FUNCS_H
#include "conn.h"
#include "mapblob.h"

/* Sets a printf-style message (sqlite3_mprintf syntax) as the function's error. */
void lg_fn_error(sqlite3_context *ctx, const char *fmt, ...);
/* Decodes v (argument number pos of SQL function fn) as a map blob.  Returns 1 when it is NULL
** (the caller returns NULL), 0 on success (free m with lg_map_free), -1 after setting the error
** "fn(): argument pos (map) ...". */
int lg_map_arg(sqlite3_context *ctx, sqlite3_value *v, const char *fn, int pos, lg_map *m);
/* The size (*W x *H) of the map's model input, i.e. of its final map; -1 after setting the error
** "fn(): the map's WxH input exceeds the limit of N pixels" when it is larger than
** LG_MAP_MAX_FINAL_PIXELS, so nothing that size is allocated. */
int lg_map_final_size(sqlite3_context *ctx, const lg_map *m, const char *fn, int *W, int *H);
/* The output limit of every map function that produces pixels or numbers (json, grid, png): 0 when
** W x H <= LG_MAP_MAX_FINAL_PIXELS, else -1 after setting "fn(): a WxH <what> exceeds the limit of
** 16777216 pixels". */
int lg_check_output_pixels(sqlite3_context *ctx, const char *fn, const char *what, sqlite3_int64 W,
                           sqlite3_int64 H);

/* Largest JSON text a map function returns (legrad_map_json, legrad_map_grid): 64 MiB. */
#define LG_MAP_MAX_JSON_BYTES (64 * 1024 * 1024)

#endif
