/*
** The segmentation protocol of Chefer et al. (imagenet_seg_eval.py + utils/metrices.py), which
** LeGrad's segmentation table follows (docs/evaluation.md; spec §4.1):
**
**   lg_seg_counts c;  lg_seg_total t = {0};
**   for each image:
**     lg_seg_image(final, constant, truth, n, NAN, &c, &err);  // final: min-max map, truth: 0/1
**     lg_seg_add(&t, &c);
**   lg_seg_summary s;  lg_seg_summarise(&t, &s);               // pixel accuracy, IoUs, mIoU, mAP
**
** Per image, with Res the min-max map (n pixels) and thr = mean(Res) or a given number:
**   prediction  fg = Res > thr (strict, in float32 as torch compares: thr = the mean of Res
**               computed in double, or the given number, rounded to float), bg otherwise.
**               A constant map (Res = 0/0 = NaN in the reference) predicts background everywhere.
**   ignored     pixels whose truth is LG_SEG_IGNORE (the reference's label −1, e.g. ImageNet-S id
**               1000) are left out of every count and of the AP (ignore_index = −1).
**   pixels      labelled = the other pixels (label + 1 > 0); correct = #(prediction == truth).
**   IoU counts  inter_c = #(pred == c ∧ truth == c), union_c = #pred_c + #truth_c − inter_c, for
**               c = background (0) and foreground (1) (np.histogram bins=2 on pred+1, label+1).
**   ap          sklearn average_precision_score over the 2m scores (m labelled pixels) [1 − Res, Res] against the
**               one-hot truth [1 − truth, truth]; NaN → 0.  A constant map scores 0 in both channels
**               (the reference's NaN guard), which gives ap = 0.5.
** Over a set:
**   pixel_accuracy = Σ correct / (ε + Σ labelled)
**   IoU_c          = Σ inter_c / (ε + Σ union_c),   miou = (IoU_bg + IoU_fg) / 2
**   map            = mean over images of ap
** with ε = np.spacing(1) = 2^−52 (DBL_EPSILON): a class whose union is 0 gets IoU 0.
*/
#ifndef LEGRAD_SEG_EVAL_H
#define LEGRAD_SEG_EVAL_H
#include <stddef.h>
#include <stdint.h>

#include "lg_error.h"

/* truth value of a pixel that is not labelled (excluded from the counts and the AP). */
#define LG_SEG_IGNORE 255

/* One image's counts (background = index 0, foreground = index 1). */
typedef struct lg_seg_counts {
  int64_t pixel_correct, pixel_labeled;
  int64_t inter[2], uni[2];
  double ap; /* in [0, 1]; NaN already mapped to 0 */
} lg_seg_counts;

/* Running totals over a set of images. */
typedef struct lg_seg_total {
  int64_t images;
  int64_t pixel_correct, pixel_labeled;
  int64_t inter[2], uni[2];
  double ap_sum;
} lg_seg_total;

typedef struct lg_seg_summary {
  int64_t images;
  double pixel_accuracy, iou[2], miou, map; /* map: NAN when images == 0 */
} lg_seg_summary;

/* Scores one image.  res: [n] the min-max map in [0, 1] (finite); constant: 1 when the map was
** constant (its min-max is 0/0 in the reference; res is then ignored); truth: [n] 0 = background,
** LG_SEG_IGNORE = not labelled, else foreground; threshold: NAN = the mean of res, else the threshold itself.  Returns 0, or -1
** with err. */
int lg_seg_image(const float *res, int constant, const uint8_t *truth, size_t n, double threshold,
                 lg_seg_counts *out, lg_err *err);

/* Adds one image's counts to the totals. */
void lg_seg_add(lg_seg_total *t, const lg_seg_counts *c);

/* The set's metrics from the totals (definitions above). */
void lg_seg_summarise(const lg_seg_total *t, lg_seg_summary *s);

#endif
