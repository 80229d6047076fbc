/*
** Image decoding (stb_image) and CLIP preprocessing (Pillow-exact bicubic).
**
**   lg_image img;
**   if (lg_image_decode(blob, n, &img, &err)) ...;            // -> 8-bit RGB, Pillow's convert("RGB")
**   lg_frame fr;
**   lg_preprocess(&img, &m->pre, size, mode, pixels, &fr, &err); // pixels: [3,size,size] CHW fp32
**   lg_image_free(&img);
**
** lg_frame records where the model's input square lies in the original image, so masks and maps
** can be brought into the same frame (metrics.h).
*/
#ifndef LEGRAD_IMAGE_H
#define LEGRAD_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "lg_error.h"

/* Largest accepted image, in pixels (decompression-bomb guard). Documented in docs/preprocessing.md. */
#define LG_IMAGE_MAX_PIXELS (64u * 1024u * 1024u)

/* A decoded image.  Only w, h and rgb are required; the two extra fields reproduce how Pillow
** resamples images that are not plain RGB (spec 5.1 item 4) and may be left zero:
**   alpha    source alpha (RGBA/LA images): Pillow resizes those premultiplied ("RGBa"), then
**            un-premultiplies and drops alpha; NULL for opaque sources.
**   nearest  1 for palette ("P") and 1-bit ("1") sources, which Pillow resizes with NEAREST.
**   ivals    Pillow mode "I" samples (16-bit greyscale PNG): Pillow resizes the 16-bit values in
**            32-bit and only then converts to RGB, clipping to 0..255; rgb holds that clipped
**            conversion of the unresized image.  NULL otherwise.
**   cmyk     Pillow mode "CMYK" samples (CMYK/YCCK JPEG): Pillow resizes CMYK, then converts;
**            rgb holds the conversion of the unresized image.  NULL otherwise.
** (Refined by helper B: alpha, nearest, ivals, cmyk added; zero-initialised users keep the old
** behaviour.) */
typedef struct lg_image {
  int w, h;          /* pixels */
  uint8_t *rgb;      /* [h, w, 3], owned; free with lg_image_free */
  uint8_t *alpha;    /* [h, w] or NULL, owned */
  int nearest;       /* 0 = bicubic, 1 = Pillow NEAREST (palette / 1-bit sources) */
  int32_t *ivals;    /* [h, w] or NULL, owned */
  uint8_t *cmyk;     /* [h, w, 4] or NULL, owned */
} lg_image;

/* Geometry of preprocessing: the source image (w x h) is resized to (rw x rh), then the square
** [cx, cx+size) x [cy, cy+size) is cropped (crop mode), or resized straight to size x size
** (squash mode: rw = rh = size, cx = cy = 0). */
typedef struct lg_frame {
  int src_w, src_h;
  int rw, rh;
  int cx, cy;
  int size;
  lg_resize mode;
} lg_frame;

int lg_image_decode(const void *data, size_t n, lg_image *out, lg_err *err);

/* What the first bytes of an encoded image say, without decoding it (for error reports). */
typedef struct lg_image_info {
  const char *format;        /* "jpeg" | "png" | "webp" | "gif" | "bmp" | "unknown" (static)  */
  long long width, height;   /* pixels from the header, 0 when the header does not say        */
} lg_image_info;
/* Sniffs the format from the magic bytes and reads the size from the header when it is there
** (PNG IHDR, GIF screen, BMP info header, JPEG first SOFn, WebP VP8/VP8L/VP8X).  Never fails. */
void lg_image_probe(const void *data, size_t n, lg_image_info *info);
void lg_image_free(lg_image *img);

/* Pillow's CMYK -> RGB conversion (cmyk2rgb): c' = (255-k) - (c*(255-k))/255 with Pillow's
** rounding.  cmyk: [n, 4], rgb: [n, 3]. */
void lg_cmyk_to_rgb(const uint8_t *cmyk, size_t n, uint8_t *rgb);

/* Computes the frame (output size, crop offsets) exactly as torchvision/Pillow would. */
int lg_frame_compute(int src_w, int src_h, int size, lg_resize mode, lg_frame *fr, lg_err *err);

/* Pillow-exact bicubic resize of interleaved 8-bit pixels with ch channels (1..4).
** src: [sh, sw, ch], dst: [dh, dw, ch]. */
int lg_resize_bicubic_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh,
                         lg_err *err);

/* Pillow's bicubic resize of 32-bit integer samples (mode "I": double weights, each pass rounds
** half away from zero, no clamping).  src: [sh, sw], dst: [dh, dw]. */
int lg_resize_bicubic_i32(const int32_t *src, int sw, int sh, int32_t *dst, int dw, int dh, lg_err *err);

/* Pillow's NEAREST resize (ImagingScaleAffine), used for palette images. Same layout as above. */
int lg_resize_nearest_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh,
                         lg_err *err);

/* The 8-bit model input before normalisation: resize + crop/squash + RGB conversion exactly as
** torchvision/Pillow.  size: target S (> 0).  out: [S, S, 3] HWC uint8.  fr may be NULL. */
int lg_preprocess_u8(const lg_image *img, int size, lg_resize mode, uint8_t *out, lg_frame *fr,
                     lg_err *err);

/* Resize + crop/squash + normalise with pre->mean/std.  size: target S (0 = pre->size).
** out: [3, S, S] CHW, x = ((float)u8 / 255 - mean[c]) / std[c] in fp32 like ToTensor+Normalize.
** fr may be NULL. */
int lg_preprocess(const lg_image *img, const lg_preprocess_cfg *pre, int size, lg_resize mode,
                  float *out, lg_frame *fr, lg_err *err);

#endif
