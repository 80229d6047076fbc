/*
** Image decoding (libjpeg-turbo, libwebp, stb_image) and CLIP preprocessing (Pillow-exact bicubic).
**
**   lg_image img;
**   if (lg_image_decode(blob, n, &img, &err)) ...;            // -> 8-bit RGB, Pillow's convert("RGB")
**   lg_image_limits lim = {.stop = {should_stop, arg}};      // optional: limits + cancellation
**   if (lg_image_decode_limited(blob, n, &lim, &img, &err)) ...;
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

#include "lg_error.h"

/* How the image becomes the model's input square: resize the shorter side to S and crop the centre
** (OpenAI's eval transform), or squash the whole image to S x S. */
typedef enum lg_resize { LG_RESIZE_CROP = 0, LG_RESIZE_SQUASH = 1 } lg_resize;

/* A model's input transform (lg_model.pre, read from its preprocessor config). */
typedef struct lg_preprocess_cfg {
  int size;           /* S: the model's native input size */
  lg_resize resize;   /* crop (OpenAI eval transform) or squash */
  float mean[3], std[3];
} lg_preprocess_cfg;

/* Default limits of a decode (decompression bombs), documented in docs/preprocessing.md:
**   LG_IMAGE_MAX_PIXELS            width x height of the image (64 Mi pixels, e.g. 8192 x 8192);
**   LG_IMAGE_MAX_JPEG_SCANS        scans (SOS markers) in a JPEG; a normal progressive JPEG has ~10;
**   LG_IMAGE_MAX_JPEG_SCAN_PIXELS  scans x width x height of a JPEG: each progressive scan passes over
**                                  the whole coefficient buffer, so this bounds the decoding work
**                                  (16 full scans of a 64 Mpx image, 1000 of a 1 Mpx one). */
#define LG_IMAGE_MAX_PIXELS (64u * 1024u * 1024u)
#define LG_IMAGE_MAX_JPEG_SCANS 1000u
#define LG_IMAGE_MAX_JPEG_SCAN_PIXELS (1ull << 30)

/* A cancellation callback, polled during long work (JPEG decoding: per scan row; resizing: per
** output row).  should_stop(arg) != 0 stops the work, which then fails with "interrupted".
** should_stop NULL: never stop. */
typedef struct lg_stop {
  int (*should_stop)(void *arg);
  void *arg;
} lg_stop;

/* 1 when stop (may be NULL) asks to stop now. */
static inline int lg_stop_requested(const lg_stop *stop) {
  return stop && stop->should_stop && stop->should_stop(stop->arg);
}

/* Limits of one decode; a zero field takes the default above. */
typedef struct lg_image_limits {
  uint64_t max_pixels;            /* width x height */
  uint32_t max_jpeg_scans;        /* SOS markers in a JPEG */
  uint64_t max_jpeg_scan_pixels;  /* scans x width x height of a JPEG */
  lg_stop stop;                   /* cancellation, polled while decoding */
} lg_image_limits;

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
** A zero-initialised lg_image with only w, h and rgb set is a plain RGB image. */
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

/* Decodes a JPEG, PNG, WebP, BMP or GIF blob (format from its magic bytes; exactly one decoder runs
** on it) into *out, as Pillow's Image.open(...).convert("RGB").  lim: NULL = default limits, no
** cancellation.  On error *out is cleared and err names the problem. */
int lg_image_decode_limited(const void *data, size_t n, const lg_image_limits *lim, lg_image *out,
                            lg_err *err);
/* lg_image_decode_limited with the default limits and no cancellation. */
int lg_image_decode(const void *data, size_t n, lg_image *out, lg_err *err);

/* What the first bytes of an encoded image say, without decoding it (for error reports). */
typedef struct lg_image_info {
  const char *format;        /* "jpeg" | "png" | "webp" | "gif" | "bmp" | "unknown" (static)  */
  long long width, height;   /* pixels from the header, 0 when the header does not say        */
} lg_image_info;
/* Sniffs the format from the magic bytes and reads the size from the header when it is there
** (PNG IHDR, GIF screen, BMP info header, JPEG first SOFn, WebP VP8/VP8L/VP8X).  Never fails. */
void lg_image_probe(const void *data, size_t n, lg_image_info *info);
/* Checks a PNG's chunk structure before a decoder allocates anything: refuses a chunk that runs
** past the end of the n bytes (truncated file) and an IDAT stream that inflates to more than the
** IHDR's pixels need (zlib bomb), polling stop (may be NULL) while inflating.  Messages start with
** "who: ".  Returns 0 (also for input that is not a PNG with an IHDR: the decoder reports those),
** or -1 with err. */
int lg_png_check(const void *png, size_t n, const char *who, const lg_stop *stop, lg_err *err);
/* A malloc'ed copy of the PNG png[0..n) without its empty IDAT chunks in *out, or *out = NULL when
** it has none (stb_image has undefined behaviour on an empty first IDAT chunk; they carry no data).
** Returns 0, or -1 when out of memory. */
int lg_png_drop_empty_idat(const void *png, size_t n, unsigned char **out, size_t *n_out);
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
/* The same, polling stop (may be NULL) once per output row of each pass. */
int lg_resize_bicubic_u8_stop(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw,
                              int dh, const lg_stop *stop, lg_err *err);

/* Pillow's bicubic resize of 32-bit integer samples (mode "I": double weights, each pass rounds
** half away from zero, no clamping).  src: [sh, sw], dst: [dh, dw]. */
int lg_resize_bicubic_i32(const int32_t *src, int sw, int sh, int32_t *dst, int dw, int dh,
                          const lg_stop *stop, lg_err *err);

/* Pillow's NEAREST resize (ImagingScaleAffine), used for palette images. Same layout as above. */
int lg_resize_nearest_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh,
                         lg_err *err);

/* The 8-bit model input before normalisation: resize + crop/squash + RGB conversion exactly as
** torchvision/Pillow.  size: target S (> 0).  out: [S, S, 3] HWC uint8.  fr may be NULL. */
int lg_preprocess_u8(const lg_image *img, int size, lg_resize mode, uint8_t *out, lg_frame *fr,
                     lg_err *err);
/* lg_preprocess_u8 polling stop (may be NULL) while resizing. */
int lg_preprocess_u8_stop(const lg_image *img, int size, lg_resize mode, uint8_t *out, lg_frame *fr,
                          const lg_stop *stop, lg_err *err);

/* Resize + crop/squash + normalise with pre->mean/std.  size: target S (0 = pre->size).
** out: [3, S, S] CHW, x = ((float)u8 / 255 - mean[c]) / std[c] in fp32 like ToTensor+Normalize.
** fr may be NULL. */
int lg_preprocess(const lg_image *img, const lg_preprocess_cfg *pre, int size, lg_resize mode,
                  float *out, lg_frame *fr, lg_err *err);
/* lg_preprocess polling stop (may be NULL) while resizing. */
int lg_preprocess_stop(const lg_image *img, const lg_preprocess_cfg *pre, int size, lg_resize mode,
                       float *out, lg_frame *fr, const lg_stop *stop, lg_err *err);

#endif
