/*
** Position-embedding resampling for input sizes other than the native one (spec clip-engine.md
** §5.3): timm resample_abs_pos_embed as LeGrad uses it = PyTorch F.interpolate(mode='bicubic',
** antialias=True, align_corners=False) on the patch grid (Keys cubic a = -0.5, support widened by
** the scale when downsampling, truncated window renormalised at the borders), horizontal pass
** first, fp32; the n_prefix leading rows (CLS) are copied unchanged.
**
**   lg_posembed_resample(pos, n_prefix, G, D, G2, out);   // pos [n_prefix+G*G, D] -> out [n_prefix+G2*G2, D]
*/
#ifndef LEGRAD_POSEMBED_H
#define LEGRAD_POSEMBED_H
#include "lg_error.h"

int lg_posembed_resample(const float *pos, int n_prefix, int G, int D, int G2, float *out, lg_err *err);

#endif
