/*
** The map blob: a versioned, self-describing binary format for LeGrad maps (docs/map-format.md).
** Produced by legrad()/legrad_layers(), stored in tables and the cache, read by every legrad_map_*
** and metric function.  The decoder validates everything: a blob from SQL is untrusted input.
**
** A map blob holds one grid [gh, gw] of floats: for legrad() the sum over the chosen layers of the
** raw per-layer grid maps (the final map is min-max(upsample_bilinear(grid, patch)), which equals
** the official upsample-each-then-sum order because upsampling is linear); for legrad_layers() one
** layer's raw grid map.
**
**   lg_map m = {0};  m.method = LG_METHOD_LEGRAD; m.gh = m.gw = 14; m.patch = 16; m.grid = grid;
**   m.frame = fr; m.n_layers = ls.n; memcpy(m.layers, ls.idx, ...); m.score = s;
**   strcpy(m.fingerprint, model->fingerprint);
**   lg_map_encode(&m, &blob, &n, &err);          // deterministic bytes, malloc'ed
**   lg_map_decode(blob, n, &back, &err);          // validates, back.grid malloc'ed
**   lg_map_final(&back, 0, 0, out, &constant, &err);  // render.h: the min-max map at input size
**   lg_map_free(&back);
**
** Refinements of the first contract (owner: D1):
**   - flags gained LG_MAP_F_NORMALISED and LG_MAP_F_COMPRESSED; the encoder computes
**     LG_MAP_F_CONSTANT and LG_MAP_F_COMPRESSED itself (input values of those two bits are ignored),
**     the decoder checks they agree with the payload.
**   - LG_METHOD_EXTERNAL for maps imported with legrad_map_from_grid().
**   - The frame is optional: frame.src_w == 0 means "not recorded" (all frame fields 0).  When it
**     is recorded the grid is square and frame.size == gh*patch.
**   - lg_map_validate(), lg_map_input_size() and the LG_MAP_MAX_* limits (lg_map_final() is in
**     render.h).
*/
#ifndef LEGRAD_MAPBLOB_H
#define LEGRAD_MAPBLOB_H
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "lg_error.h"

#define LG_MAP_MAGIC "LGRM"
#define LG_MAP_VERSION 2      /* the highest version written: 1 when version 1 can express the map */
#define LG_MAP_MAX_OPTIONS 255 /* bytes of the method's options record (version 2) */

/* Limits checked by the encoder and the decoder. */
#define LG_MAP_MAX_GRID 1024        /* gh, gw <= this */
#define LG_MAP_MAX_PATCH 256        /* patch <= this */
#define LG_MAP_MAX_INPUT 8192       /* gh*patch, gw*patch <= this (the upsampled map) */
#define LG_MAP_MAX_LAYERS 256       /* n_layers <= this */
#define LG_MAP_MAX_LAYER_INDEX 4095 /* each layer index <= this */
#define LG_MAP_FIXED_HEADER 88      /* bytes before the layer list; see docs/map-format.md */

enum {
  LG_MAP_F_RELU = 1,         /* gradient clamped at 0 before averaging */
  LG_MAP_F_CONSTANT = 2,     /* every grid value is equal: the final map renders as zeros
                                (computed by the encoder) */
  LG_MAP_F_SINGLE_LAYER = 4, /* one layer of legrad_layers() (requires n_layers == 1) */
  LG_MAP_F_NORMALISED = 8,   /* the grid is already min-max normalised: values in [0, 1] */
  LG_MAP_F_COMPRESSED = 16,  /* the payload is a zlib stream (set by the encoder when smaller) */
  LG_MAP_F_ALL = 31
};

/* The method that made the map: 1 and 2 below, or 3..255, the id of another method of the
** explanation method table (engine/explain/method.h blob_id; this layer does not know their names,
** ext/ maps ids to names).  Ids above 2 need version 2. */
typedef enum lg_method {
  LG_METHOD_LEGRAD = 1,  /* computed by legrad()/legrad_layers()/legrad_explain(..., 'legrad') */
  LG_METHOD_EXTERNAL = 2 /* imported with legrad_map_from_grid() */
} lg_method;
#define LG_METHOD_MAX 255

typedef struct lg_map {
  int version;             /* set by the decoder; the encoder writes 1 when method <= 2 and
                              options is empty, else 2 */
  lg_method method;        /* 1..LG_METHOD_MAX */
  char options[LG_MAP_MAX_OPTIONS + 1]; /* the method's parameters as its canonical text,
                              "start_layer=1" (name=value joined by ','; characters a-z 0-9 _ = ,
                              . + -); "" = none recorded (version 1 records none)                   */
  uint32_t flags;          /* LG_MAP_F_* */
  int gh, gw;              /* grid size (rows, columns) */
  int patch;               /* upsampling factor to the model input: input = (gh*patch, gw*patch) */
  lg_frame frame;          /* where the model input lies in the source image; src_w == 0: unknown */
  int n_layers;            /* 0 = not recorded */
  int layers[LG_MAP_MAX_LAYERS]; /* block indices (0 = first block), strictly ascending */
  float score;             /* sum over the layers of s_l (NAN when not recorded) */
  char fingerprint[33];    /* model fingerprint: 0..32 lower-case hex digits, "" if unknown */
  float *grid;             /* [gh, gw] row-major, finite values; owned after lg_map_decode */
} lg_map;

/* Checks every field of m (sizes, limits, layers, frame, fingerprint, finite grid values, the
** NORMALISED range).  The CONSTANT and COMPRESSED bits are not checked (the encoder sets them). */
int lg_map_validate(const lg_map *m, lg_err *err);

/* Serialises m (zlib-compressing the payload when that is smaller).  Deterministic: equal maps
** give identical bytes.  *out is malloc'ed. */
int lg_map_encode(const lg_map *m, unsigned char **out, size_t *n_out, lg_err *err);
/* Parses and fully validates a blob; m->grid is malloc'ed (free with lg_map_free). */
int lg_map_decode(const void *blob, size_t n, lg_map *m, lg_err *err);
void lg_map_free(lg_map *m);

/* The model input size of the map: *h = gh*patch, *w = gw*patch. */
void lg_map_input_size(const lg_map *m, int *w, int *h);

#endif
