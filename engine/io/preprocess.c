/*
** CLIP image preprocessing exactly as torchvision + Pillow (spec clip-engine.md 5.1, 5.2).
**
**   lg_frame fr;
**   lg_preprocess(&img, &model->pre, 0, model->pre.resize, pixels, &fr, &err); // [3,S,S] fp32
**
** crop mode (OpenAI/OpenCLIP eval transform): Resize(S) resizes the short side to S and the long
**   side to int(S * long / short) (truncation, torchvision _compute_resized_output_size), then
**   CenterCrop(S) takes top = round((rh - S) / 2), left = round((rw - S) / 2) with Python's
**   round-half-to-even.
** squash mode (LeGrad's LePreprocess, SigLIP): Resize((S, S)), no crop.
** A resize to the image's own size is skipped (Pillow returns a copy).  The resize itself follows
** the source mode like Pillow's Image.resize: NEAREST for palette/1-bit sources, bicubic on
** premultiplied RGBa for sources with alpha, 32-bit samples for 16-bit greyscale (mode "I", clipped
** to 0..255 by the conversion), the four bands of CMYK JPEGs, plain bicubic otherwise;
** convert("RGB") comes after.
** Normalisation is ToTensor + Normalize in fp32: x = ((float)u8 / 255 - mean[c]) / std[c].
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

/* Python's round() for a value that is an integer or an integer + 0.5 (banker's rounding). */
static int round_half_even_div2(int v) {
  /* v / 2 exactly: v even -> v/2; v odd -> the even one of (v-1)/2 and (v+1)/2 */
  if (v % 2 == 0) return v / 2;
  int lo = (v - 1) / 2;
  return lo % 2 == 0 ? lo : lo + 1;
}

int lg_frame_compute(int src_w, int src_h, int size, lg_resize mode, lg_frame *fr, lg_err *err) {
  if (!fr) return lg_errf(err, "lg_frame_compute: fr is NULL");
  if (src_w <= 0 || src_h <= 0) {
    return lg_errf(err, "lg_frame_compute: image size must be positive, found %d x %d", src_w, src_h);
  }
  if (size <= 0 || size > 8192) {
    return lg_errf(err, "lg_frame_compute: target size must be 1..8192, found %d", size);
  }
  if (mode != LG_RESIZE_CROP && mode != LG_RESIZE_SQUASH) {
    return lg_errf(err, "lg_frame_compute: unknown resize mode %d", (int)mode);
  }
  memset(fr, 0, sizeof *fr);
  fr->src_w = src_w;
  fr->src_h = src_h;
  fr->size = size;
  fr->mode = mode;
  if (mode == LG_RESIZE_SQUASH) {
    fr->rw = fr->rh = size;
    return 0;
  }
  int w_short = src_w <= src_h;
  long long s = w_short ? src_w : src_h, l = w_short ? src_h : src_w;
  /* Python: int(size * long / short), true division of exact integers in double. */
  double nl = (double)((long long)size * l) / (double)s;
  if (nl > 1e9) return lg_errf(err, "lg_frame_compute: aspect ratio %d x %d too extreme", src_w, src_h);
  int new_long = (int)nl;
  fr->rw = w_short ? size : new_long;
  fr->rh = w_short ? new_long : size;
  fr->cx = round_half_even_div2(fr->rw - size);
  fr->cy = round_half_even_div2(fr->rh - size);
  return 0;
}

/* Premultiplies rgb by alpha into rgba ([n,4]) like Pillow's RGBA -> RGBa conversion. */
static void premultiply(const uint8_t *rgb, const uint8_t *alpha, size_t n, uint8_t *rgba) {
  for (size_t i = 0; i < n; i++) {
    unsigned a = alpha[i];
    for (int c = 0; c < 3; c++) {
      unsigned t = rgb[3 * i + c] * a + 128;
      rgba[4 * i + c] = (uint8_t)(((t >> 8) + t) >> 8);
    }
    rgba[4 * i + 3] = (uint8_t)a;
  }
}

/* Un-premultiplies one RGBa pixel into RGB like Pillow's RGBa -> RGBA conversion. */
static void unpremultiply_px(const uint8_t *rgba, uint8_t *rgb) {
  unsigned a = rgba[3];
  for (int c = 0; c < 3; c++) {
    unsigned v = a == 0 || a == 255 ? rgba[c] : (255u * rgba[c]) / a;
    rgb[c] = (uint8_t)(v > 255 ? 255 : v);
  }
}

int lg_preprocess_u8(const lg_image *img, int size, lg_resize mode, uint8_t *out, lg_frame *fr,
                     lg_err *err) {
  return lg_preprocess_u8_stop(img, size, mode, out, fr, NULL, err);
}

int lg_preprocess_u8_stop(const lg_image *img, int size, lg_resize mode, uint8_t *out, lg_frame *fr,
                          const lg_stop *stop, lg_err *err) {
  lg_frame f;
  uint8_t *src4 = NULL, *res = NULL;
  int rc = -1;
  if (!img || !img->rgb || !out) return lg_errf(err, "lg_preprocess: NULL image or output");
  if (lg_frame_compute(img->w, img->h, size, mode, &f, err)) return -1;
  int ch = img->alpha && !img->nearest ? 4 : 3;
  const uint8_t *resized = img->rgb;
  if (img->ivals && (f.rw != img->w || f.rh != img->h)) {
    /* Pillow mode "I": resize the 32-bit samples, then convert("RGB") clips to 0..255 */
    int32_t *iv = malloc(sizeof(int32_t) * (size_t)f.rw * f.rh);
    res = malloc((size_t)f.rw * f.rh * 3);
    if (!iv || !res) { free(iv); lg_errf(err, "lg_preprocess: out of memory for %d x %d", f.rw, f.rh); goto done; }
    if (lg_resize_bicubic_i32(img->ivals, img->w, img->h, iv, f.rw, f.rh, stop, err)) { free(iv); goto done; }
    for (size_t i = 0; i < (size_t)f.rw * f.rh; i++) {
      uint8_t v = iv[i] <= 0 ? 0 : iv[i] >= 255 ? 255 : (uint8_t)iv[i];
      res[3 * i] = res[3 * i + 1] = res[3 * i + 2] = v;
    }
    free(iv);
    resized = res;
    ch = 3;
  } else if (img->cmyk && (f.rw != img->w || f.rh != img->h)) {
    /* Pillow mode "CMYK": resize the four bands, then convert */
    uint8_t *c4 = malloc((size_t)f.rw * f.rh * 4);
    res = malloc((size_t)f.rw * f.rh * 3);
    if (!c4 || !res) { free(c4); lg_errf(err, "lg_preprocess: out of memory for %d x %d", f.rw, f.rh); goto done; }
    if (lg_resize_bicubic_u8_stop(img->cmyk, img->w, img->h, 4, c4, f.rw, f.rh, stop, err)) { free(c4); goto done; }
    lg_cmyk_to_rgb(c4, (size_t)f.rw * f.rh, res);
    free(c4);
    resized = res;
    ch = 3;
  } else if (f.rw != img->w || f.rh != img->h) {
    const uint8_t *src = img->rgb;
    if (ch == 4) {
      src4 = malloc((size_t)img->w * img->h * 4);
      if (!src4) { lg_errf(err, "lg_preprocess: out of memory"); goto done; }
      premultiply(img->rgb, img->alpha, (size_t)img->w * img->h, src4);
      src = src4;
    }
    res = malloc((size_t)f.rw * f.rh * ch);
    if (!res) { lg_errf(err, "lg_preprocess: out of memory for %d x %d", f.rw, f.rh); goto done; }
    int r = img->nearest ? lg_resize_nearest_u8(src, img->w, img->h, ch, res, f.rw, f.rh, err)
                         : lg_resize_bicubic_u8_stop(src, img->w, img->h, ch, res, f.rw, f.rh, stop, err);
    if (r) goto done;
    resized = res;
  } else {
    ch = 3; /* no resize: Pillow never premultiplies, convert("RGB") just drops alpha */
  }
  for (int y = 0; y < size; y++) {
    const uint8_t *row = resized + ((size_t)(y + f.cy) * f.rw + f.cx) * ch;
    uint8_t *o = out + (size_t)y * size * 3;
    for (int x = 0; x < size; x++) {
      if (ch == 4) unpremultiply_px(row + 4 * (size_t)x, o + 3 * (size_t)x);
      else memcpy(o + 3 * (size_t)x, row + 3 * (size_t)x, 3);
    }
  }
  if (fr) *fr = f;
  rc = 0;
done:
  free(src4);
  free(res);
  return rc;
}

int lg_preprocess(const lg_image *img, const lg_preprocess_cfg *pre, int size, lg_resize mode,
                  float *out, lg_frame *fr, lg_err *err) {
  return lg_preprocess_stop(img, pre, size, mode, out, fr, NULL, err);
}

int lg_preprocess_stop(const lg_image *img, const lg_preprocess_cfg *pre, int size, lg_resize mode,
                       float *out, lg_frame *fr, const lg_stop *stop, lg_err *err) {
  if (!pre || !out) return lg_errf(err, "lg_preprocess: NULL config or output");
  if (size == 0) size = pre->size;
  for (int c = 0; c < 3; c++) {
    if (!(pre->std[c] > 0.0f) || !isfinite(pre->mean[c])) {
      return lg_errf(err, "lg_preprocess: channel %d needs finite mean and std > 0, found %g / %g", c,
                     (double)pre->mean[c], (double)pre->std[c]);
    }
  }
  if (size <= 0 || size > 8192) return lg_errf(err, "lg_preprocess: target size must be 1..8192, found %d", size);
  uint8_t *u8 = malloc((size_t)size * size * 3);
  if (!u8) return lg_errf(err, "lg_preprocess: out of memory for %d x %d", size, size);
  if (lg_preprocess_u8_stop(img, size, mode, u8, fr, stop, err)) {
    free(u8);
    return -1;
  }
  size_t plane = (size_t)size * size;
  for (int c = 0; c < 3; c++) {
    float m = pre->mean[c], s = pre->std[c];
    for (size_t i = 0; i < plane; i++) out[c * plane + i] = ((float)u8[3 * i + c] / 255.0f - m) / s;
  }
  free(u8);
  return 0;
}
