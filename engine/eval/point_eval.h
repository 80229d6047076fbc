/*
** The point protocol of OpenImages V7 p-mIoU (Benenson & Ferrari point labels; spec §4.2;
** docs/evaluation.md): one map scored against the yes/no/unsure points of one (image, class).
**
**   lg_point pts[] = {{0.25, 0.5, LG_POINT_YES}, {0.9, 0.1, LG_POINT_NO}};
**   lg_point_counts c;
**   lg_point_score(final, W, H, &frame, pts, 2, 0.5, &c, &err);
**
** A point (x, y) is in the ORIGINAL image's normalised coordinates, x, y in [0, 1] (the CSV's X and
** Y).  It is read from the final map (the min-max map at the model input, [H, W]) at the pixel of
** the model input that contains it:
**   frame recorded:  column floor(x·rw) of the resized image (x = 1 is the last column, rw − 1),
**                    minus the crop offset cx; likewise rows with rh and cy.  A point whose column or
**                    row falls outside [0, size) was cut off by the crop: it is counted in `outside`
**                    and never scored.
**   no frame:        the map covers the whole image (squash): column min(floor(x·W), W − 1).
** The point is foreground when map > threshold (strict, in float32; threshold NAN = the map's mean
** computed in double, then rounded to float like any given threshold).  Then
**   yes + foreground → tp     yes + background → fn
**   no  + foreground → fp     no  + background → tn
**   unsure           → unsure (never scored, wherever it lies)
** ignored = unsure + outside.
*/
#ifndef LEGRAD_POINT_EVAL_H
#define LEGRAD_POINT_EVAL_H
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "lg_error.h"

typedef enum lg_point_label { LG_POINT_NO = 0, LG_POINT_YES = 1, LG_POINT_UNSURE = 2 } lg_point_label;

typedef struct lg_point {
  double x, y;          /* normalised to [0, 1] in the original image */
  lg_point_label label;
} lg_point;

typedef struct lg_point_counts {
  int64_t tp, fp, fn, tn;
  int64_t unsure, outside; /* ignored = unsure + outside */
} lg_point_counts;

/* final: [h, w] min-max map; fr: the map's frame (NULL or src_w == 0: none, the map covers the
** whole image; recorded: w == h == fr->size); pts: [n]; threshold: NAN = the mean of final, else a
** number.  Returns 0, or -1 with err (a coordinate outside [0, 1] names the point). */
int lg_point_score(const float *final, int w, int h, const lg_frame *fr, const lg_point *pts, size_t n,
                   double threshold, lg_point_counts *out, lg_err *err);

#endif
