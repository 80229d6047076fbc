/*
** The map blob: a versioned, self-describing binary format for LeGrad maps (docs/map-format.md).
** Produced by legrad()/legrad_layers(), stored in tables and the cache, read by every legrad_map_*
** and metric function.  The decoder validates everything: a blob from SQL is untrusted input.
**
** A map blob holds one grid [gh, gw] of floats: for legrad() the sum over the chosen layers of the
** raw per-layer grid maps (the final map is min-max(upsample_bilinear(grid, patch)), which equals
** the official upsample-each-then-sum order because upsampling is linear); for legrad_layers() one
** layer's raw grid map.
*/
#ifndef LEGRAD_MAPBLOB_H
#define LEGRAD_MAPBLOB_H
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "lg_error.h"

#define LG_MAP_MAGIC "LGRM"
#define LG_MAP_VERSION 1

enum {
  LG_MAP_F_RELU = 1,       /* gradient clamped at 0 before averaging */
  LG_MAP_F_CONSTANT = 2,   /* the final map is constant (min == max): it renders as zeros */
  LG_MAP_F_SINGLE_LAYER = 4 /* one layer of legrad_layers() */
};

typedef enum lg_method { LG_METHOD_LEGRAD = 1 } lg_method;

typedef struct lg_map {
  int version;
  lg_method method;
  uint32_t flags;
  int gh, gw;              /* grid size */
  int patch;               /* upsampling factor to the model input: input = gh*patch */
  lg_frame frame;          /* where the model input lies in the source image */
  int n_layers;
  int layers[256];         /* block indices (0 = first block) */
  float score;             /* sum over the layers of s_l (NAN when not recorded) */
  char fingerprint[33];    /* model fingerprint (hex), "" if unknown */
  float *grid;             /* [gh, gw], owned */
} lg_map;

/* Serialises m (zlib-compressing the payload when that is smaller).  *out is malloc'ed. */
int lg_map_encode(const lg_map *m, unsigned char **out, size_t *n_out, lg_err *err);
/* Parses and fully validates a blob; m->grid is malloc'ed (free with lg_map_free). */
int lg_map_decode(const void *blob, size_t n, lg_map *m, lg_err *err);
void lg_map_free(lg_map *m);

#endif
