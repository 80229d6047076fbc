/*
** Average precision as sklearn.metrics.average_precision_score computes it for one binary problem
** (docs/evaluation.md):
**
**   double ap;
**   lg_average_precision(score, truth, n, &ap, &err);   // score [n] finite floats, truth [n] 0/1
**
** The scores are sorted in decreasing order; tied scores form ONE threshold (sklearn's
** _binary_clf_curve keeps only the last index of each run of equal scores).  At each threshold k,
** P_k = TP_k / (TP_k + FP_k) and R_k = TP_k / Σ truth, and
**     AP = Σ_k (R_k − R_{k−1}) · P_k,   R_0 = 0   (no interpolation).
** No positive at all makes recall 0/0: sklearn returns NaN there; this returns NAN too (callers that
** follow Chefer's np.nan_to_num turn it into 0).
*/
#ifndef LEGRAD_AVERAGE_PRECISION_H
#define LEGRAD_AVERAGE_PRECISION_H
#include <stddef.h>
#include <stdint.h>

#include "lg_error.h"

/* score: [n] finite values (a NaN or infinity is an error); truth: [n], 0 = negative, else
** positive.  n may be 0 (AP NAN).  Returns 0, or -1 with err (bad arguments, out of memory). */
int lg_average_precision(const float *score, const uint8_t *truth, size_t n, double *ap, lg_err *err);

#endif
