/*
** Explanation metrics against ground-truth masks (docs/metrics.md).
**
** A mask is a PNG whose pixel values are object ids (8- or 16-bit greyscale; 0 = background).
** It is brought into the map's frame with the same resize/crop as the image (nearest neighbour),
** so a map of a cropped 224 input is scored against the right pixels.
**
**   label < 0  : the object is every non-zero pixel;  label >= 0 : pixels equal to label.
**   threshold  : NAN = the map's mean (Chefer protocol), else a number in the map's units (0..1).
*/
#ifndef LEGRAD_METRICS_H
#define LEGRAD_METRICS_H
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "lg_error.h"

typedef struct lg_mask {
  int w, h;
  uint16_t *v;   /* [h, w] object ids, owned */
} lg_mask;

int lg_mask_decode(const void *png, size_t n, lg_mask *out, lg_err *err);
void lg_mask_free(lg_mask *m);

/* Nearest-neighbour resample of the mask through frame fr (src_w/src_h must equal the mask's
** size) to [fr->size, fr->size] in out. */
int lg_mask_to_frame(const lg_mask *m, const lg_frame *fr, uint16_t *out, lg_err *err);

/* map and mask are both [h, w] in the same frame.  Return -1 with err on bad arguments. */
int lg_metric_iou(const float *map, const uint16_t *mask, int w, int h, int label, double threshold,
                  double *iou, lg_err *err);
int lg_metric_pointing(const float *map, const uint16_t *mask, int w, int h, int label, int *hit,
                       lg_err *err);
int lg_metric_mass_in(const float *map, const uint16_t *mask, int w, int h, int label, double *share,
                      lg_err *err);

#endif
