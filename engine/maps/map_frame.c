/*
** Bringing a decoded image into a map's frame (render.h: lg_image_to_map_frame), with the same
** geometry as CLIP preprocessing: Pillow-exact bicubic resize (image.c) to the recorded resize size,
** then the recorded crop.  Used to overlay a map on its image (legrad_map_png).
*/
#include <stdlib.h>
#include <string.h>

#include "render.h"

int lg_image_to_map_frame(const lg_image *img, const lg_map *m, lg_image *out, lg_err *err) {
  int rc = -1, W, H;
  uint8_t *resized = NULL;
  memset(out, 0, sizeof *out);
  lg_map_input_size(m, &W, &H);
  const lg_frame *f = &m->frame;
  if (f->src_w == 0) { /* no frame recorded: squash to the input size */
    out->rgb = malloc((size_t)W * H * 3);
    if (!out->rgb) { lg_errf(err, "out of memory for a %dx%d image", W, H); goto done; }
    if (lg_resize_bicubic_u8(img->rgb, img->w, img->h, 3, out->rgb, W, H, err)) goto done;
    out->w = W;
    out->h = H;
    rc = 0;
    goto done;
  }
  if (img->w != f->src_w || img->h != f->src_h) {
    lg_errf(err, "the image is %dx%d but the map was computed on a %dx%d image", img->w, img->h,
            f->src_w, f->src_h);
    goto done;
  }
  if ((uint64_t)f->rw * (uint64_t)f->rh > (uint64_t)LG_IMAGE_MAX_PIXELS) {
    lg_errf(err, "the map's frame resizes the image to %dx%d, more than %u pixels", f->rw, f->rh,
            (unsigned)LG_IMAGE_MAX_PIXELS);
    goto done;
  }
  resized = malloc((size_t)f->rw * f->rh * 3);
  out->rgb = malloc((size_t)f->size * f->size * 3);
  if (!resized || !out->rgb) { lg_errf(err, "out of memory for a %dx%d image", f->rw, f->rh); goto done; }
  if (lg_resize_bicubic_u8(img->rgb, img->w, img->h, 3, resized, f->rw, f->rh, err)) goto done;
  for (int y = 0; y < f->size; y++)
    memcpy(out->rgb + (size_t)y * f->size * 3, resized + ((size_t)(y + f->cy) * f->rw + f->cx) * 3,
           (size_t)f->size * 3);
  out->w = out->h = f->size;
  rc = 0;
done:
  free(resized);
  if (rc) lg_image_free(out);
  return rc;
}

