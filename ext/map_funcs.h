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

/* ---- metric_funcs.c: masks against maps (shared with eval_funcs.c) ---- */
struct lg_mask;
/* Checks that label (>= 0) occurs in the mask, else sets an error listing the ids it holds
** ("fn(): argument pos (label): label 1 does not occur in the mask (it holds 0 and 255); ...").
** label < 0 always passes.  Returns -1 after setting the error. */
int lg_check_label_present(sqlite3_context *ctx, const char *fn, int pos, const struct lg_mask *mask,
                           int label);
/* Checks that the mask's size fits map m: the source size with a recorded frame; without one, the
** input size, or any size when the input is square (it is squashed).  -1 after setting the error. */
int lg_check_mask_size(sqlite3_context *ctx, const char *fn, const struct lg_mask *mask, const lg_map *m);
/* Brings the mask into the frame of map m (nearest neighbour through the recorded frame, or a squash
** to the input size): *out = [H, W] at the map's input size, malloc'ed.  -1 after setting the error. */
int lg_mask_in_map_frame(sqlite3_context *ctx, const char *fn, const struct lg_mask *mask,
                         const lg_map *m, uint16_t **out);

#endif
