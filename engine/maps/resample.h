/*
** The one bilinear resampler and the one min-max normalisation of every map, whatever method made
** it (F.interpolate(mode='bilinear', align_corners=False) semantics; the official min_max).
**
**   lg_upsample_bilinear(grid, G, G, patch, up);             // F.interpolate(scale_factor=patch)
**   lg_resize_bilinear(grid, G, G, up, H, W);                 // F.interpolate(size=(H, W))
**   lg_upsample_sum(grids, n, G, patch, up);                  // sum of n upsampled grids
**   lg_minmax(up, n, 0, &constant);                           // (x - min) / (max - min) in place
*/
#ifndef LEGRAD_RESAMPLE_H
#define LEGRAD_RESAMPLE_H
#include <stddef.h>

/* Bilinear upsampling by an integer factor, align_corners=False (F.interpolate semantics).
** src: [gh, gw] -> dst: [gh*scale, gw*scale]. */
void lg_upsample_bilinear(const float *src, int gh, int gw, int scale, float *dst);
/* Bilinear resize to any (dh, dw), align_corners=False. */
void lg_resize_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw);
/* dst [G*scale, G*scale] = sum over k < n of the upsampled grids[k] ([n, G, G]), accumulated at full
** resolution in order k = 0..n-1 (the official `acc += upsample(map_k)`). */
void lg_upsample_sum(const float *grids, int n, int grid, int scale, float *dst);

/* Min-max normalisation in place: v = (v - min) / (max - min) in float, as the official min_max.
** skip_nan = 1: NaN entries are outside the map (left NaN, not counted); skip_nan = 0: a NaN is a
** non-finite value like +-Inf.  A map with no values, a non-finite value, or max == min becomes all
** zeros (never NaN) and *constant = 1 (constant may be NULL); else *constant = 0. */
void lg_minmax(float *v, size_t n, int skip_nan, int *constant);

#endif
