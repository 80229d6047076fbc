/*
** From a map blob to pixels: the final (upsampled, min-max) map, the jet colormap, and PNG
** heatmaps / overlays (stb_image_write).  No SQLite; used by ext/map_funcs.c and ext/metric_funcs.c.
**
**   float *fin = malloc(sizeof(float) * W * H);
**   lg_map_final(&m, 0, 0, fin, &constant, &err);            // W = gw*patch, H = gh*patch
**   lg_render_png(fin, W, H, NULL, 0.5f, &png, &n, &err);     // jet heatmap
**   lg_image in_frame;  lg_image_to_map_frame(&img, &m, &in_frame, &err);
**   lg_render_png(fin, W, H, &in_frame, 0.5f, &png, &n, &err); // overlay on the image
*/
#ifndef LEGRAD_RENDER_H
#define LEGRAD_RENDER_H
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "lg_error.h"
#include "mapblob.h"

/* Largest final map lg_map_final() will produce, in pixels (w*h). */
#define LG_MAP_MAX_FINAL_PIXELS (4096 * 4096)

/* The final map as the official code computes it: the grid bilinearly resized to [h, w]
** (align_corners=False, F.interpolate semantics; lg_resize_bilinear), then min-max normalised in
** float32: (x - min) / (max - min).  w = h = 0 means the model input size gw*patch x gh*patch; there
** a square grid goes through lg_legrad_final() itself (upsample by patch, then min-max).  A constant
** map (max - min not a positive finite number) gives zeros and *constant = 1 (constant may be
** NULL).  out: [h, w], caller-allocated. */
int lg_map_final(const lg_map *m, int w, int h, float *out, int *constant, lg_err *err);

/* The final map in the source image's coordinates, for a map with a recorded frame: out is
** [src_h, src_w].  A pixel whose centre lies outside the explained region (metrics.h lg_frame_region:
** the part of the image the crop kept) is NAN.  Inside, the grid is sampled bilinearly
** (align_corners=False) at the pixel centre's position in the model input,
**     u = ((sx + 0.5)·rw/src_w − cx)·gw/size − 0.5  (clamped to [0, gw − 1]; likewise v),
** so a squash frame gives exactly F.interpolate(size=(src_h, src_w)); then the inside pixels are
** min-max normalised (constant: zeros, *constant = 1).  Errors when no frame is recorded or the source
** is larger than LG_MAP_MAX_FINAL_PIXELS. */
int lg_map_final_source(const lg_map *m, float *out, int *constant, lg_err *err);

/* matplotlib's "jet" colormap as cm.jet(v, bytes=True): v in [0, 1] picks entry floor(v*256)
** (clamped to 0..255) of a 256-entry table sampled from jet's segments at i/255; channels are
** truncated to 8 bits.  v outside [0, 1] (or NaN) is clamped (NaN -> 0). */
void lg_colormap_jet(float v, uint8_t rgb[3]);

/* Brings a decoded image into the map's frame: with a recorded frame, the image must be
** frame.src_w x frame.src_h; it is resized (Pillow-exact bicubic) to rw x rh and the input square at
** (cx, cy) is cropped.  Without a frame the image is resized straight to the input size
** (gw*patch x gh*patch).  out->rgb is malloc'ed (lg_image_free). */
int lg_image_to_map_frame(const lg_image *img, const lg_map *m, lg_image *out, lg_err *err);

/* PNG (8-bit RGB) of map [h, w] (values in [0, 1]) through the jet colormap; with `under` (an image
** of the same w x h) the colours are alpha-blended over it: round((1-alpha)*pixel + alpha*jet).
** alpha in [0, 1].  *png is malloc'ed.  Deterministic bytes for equal inputs.
** NAN marks a pixel outside the explained region (lg_map_final_source): it shows the image at half
** brightness (floor(pixel / 2); mid-grey 128 without an image), and each region pixel with an
** outside 4-neighbour is drawn white (255, 255, 255), a 1-pixel border around the region. */
int lg_render_png(const float *map, int w, int h, const lg_image *under, float alpha,
                  unsigned char **png, size_t *n_png, lg_err *err);

#endif
