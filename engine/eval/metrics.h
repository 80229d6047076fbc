/*
** Explanation metrics against ground-truth masks (docs/metrics.md).
**
** A mask is a PNG whose pixel values are object ids (8- or 16-bit greyscale; 0 = background).
** It is brought into the map's frame with the same resize/crop as the image (nearest neighbour),
** so a map of a cropped 224 input is scored against the right pixels.
**
**   label < 0  : the object is every non-zero pixel;  label >= 0 : pixels equal to label.
**   threshold  : NAN = the map's mean (Chefer protocol), else a number in the map's units (0..1).
**
** The frame keeps only part of a wide or tall image (crop mode).  The explained region is the set of
** source pixels whose centre falls inside the crop (lg_frame_region); lg_mask_coverage() says how
** much of an object lies in it.  An object with no pixel in the map's frame makes every metric
** undefined (NAN, or *hit = -1): it is never scored as a miss.
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

/* The explained region of frame fr in source pixels: columns [*x0, *x1) and rows [*y0, *y1), the
** source pixels whose centre (sx + 0.5, sy + 0.5) maps inside the crop, i.e.
**     2·cx·src_w <= (2·sx + 1)·rw < 2·(cx + size)·src_w   (and likewise for y).
** A frame that is not recorded (src_w == 0) has no region (all zero). */
void lg_frame_region(const lg_frame *fr, int *x0, int *y0, int *x1, int *y1);

/* Counts the object's pixels in mask m (at the source size) and those inside the region of frame fr
** (fr NULL or not recorded: every pixel is inside).  label as above. */
int lg_mask_coverage(const lg_mask *m, const lg_frame *fr, int label, size_t *inside, size_t *total,
                     lg_err *err);

/* Marks which ids occur in m: bit v of seen (seen[v >> 3] & (1 << (v & 7))) is set when some pixel
** equals v.  seen must hold 8192 bytes.  Returns the number of distinct ids. */
int lg_mask_ids(const lg_mask *m, uint8_t seen[8192]);

/* map and mask are both [h, w] in the same frame.  Return -1 with err on bad arguments.
** When the object has no pixel in the mask, iou and share are NAN and *hit is -1 (undefined). */
int lg_metric_iou(const float *map, const uint16_t *mask, int w, int h, int label, double threshold,
                  double *iou, lg_err *err);
int lg_metric_pointing(const float *map, const uint16_t *mask, int w, int h, int label, int *hit,
                       lg_err *err);
int lg_metric_mass_in(const float *map, const uint16_t *mask, int w, int h, int label, double *share,
                      lg_err *err);

#endif
