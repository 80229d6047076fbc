/*
** Image decoding: a JPEG, PNG, BMP or GIF blob in memory -> 8-bit RGB, like Pillow's
** Image.open(...).convert("RGB") (spec clip-engine.md 5.1 item 4).
**
**   lg_image img;
**   if (lg_image_decode(blob, n, &img, &err)) fprintf(stderr, "%s\n", err.msg);
**   ...
**   lg_image_free(&img);
**
** JPEG is decoded by libjpeg-turbo (Debian libjpeg62-turbo, the library Pillow links) with Pillow's
** settings (islow DCT, fancy upsampling), so JPEG pixels equal Pillow's exactly; stb_image differs
** by up to 3 levels on ~2-4 % of pixels (measured in docs/preprocessing.md).  CMYK/YCCK JPEGs keep
** their CMYK samples as Pillow does.  PNG, BMP and GIF are decoded by stb_image (Debian libstb),
** which is exact for them.
** Only these four formats are accepted, recognised by their magic bytes (stb would otherwise also
** guess TGA, which has no signature).  Before any pixel is
** decoded the header is read with stbi_info_from_memory and images with a zero side or more than
** LG_IMAGE_MAX_PIXELS pixels are refused (decompression bombs).  Truncated files are refused too:
** stb_image zero-fills a JPEG or BMP that ends early, where Pillow raises "image file is
** truncated", so the JPEG marker structure, the BMP pixel-array size and the GIF block structure
** up to the first frame's end are checked here.  stb_image cannot report the size of an image over
** 2^30 bytes, so the pixel limit is first checked on the raw header fields.
**
** Besides the RGB pixels the decoder records what Pillow's resize needs to know about the source
** mode: the alpha channel (RGBA/LA sources are resized premultiplied) and whether the source is a
** palette or 1-bit image (resized with NEAREST).  See docs/preprocessing.md.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdio.h>

#include <jpeglib.h>
#include <stb/stb_image.h>

#include "image.h"

/* Source formats accepted, recognised by magic bytes. */
typedef enum { FMT_NONE = 0, FMT_JPEG, FMT_PNG, FMT_BMP, FMT_GIF } img_format;

/* Returns the format announced by the first bytes of p[0..n), or FMT_NONE. */
static img_format sniff_format(const uint8_t *p, size_t n) {
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return FMT_JPEG;
  if (n >= 8 && memcmp(p, png_sig, 8) == 0) return FMT_PNG;
  if (n >= 2 && p[0] == 'B' && p[1] == 'M') return FMT_BMP;
  if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return FMT_GIF;
  return FMT_NONE;
}

static const char *format_name(img_format f) {
  switch (f) {
  case FMT_JPEG: return "JPEG";
  case FMT_PNG: return "PNG";
  case FMT_BMP: return "BMP";
  case FMT_GIF: return "GIF";
  default: return "unknown";
  }
}

static unsigned rd_le16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }
static uint32_t rd_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walks the JPEG marker structure of p[0..n) and returns 1 when an EOI marker (FF D9) is reached
** outside any marker segment, 0 when the data ends first (a truncated file).  Entropy-coded data
** after SOS is skipped byte by byte: inside it FF is always followed by 00 (stuffing) or a restart
** marker D0..D7, so any other FF xx is the next marker. */
static int jpeg_is_complete(const uint8_t *p, size_t n) {
  size_t i = 2; /* after SOI */
  while (i + 1 < n) {
    if (p[i] != 0xff) return 0;  /* corrupt: not at a marker */
    uint8_t m = p[i + 1];
    if (m == 0xff) { i++; continue; }  /* fill byte */
    if (m == 0xd9) return 1;           /* EOI */
    if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; } /* no length field */
    if (i + 3 >= n) return 0;
    size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
    if (len < 2) return 0;
    i += 2 + len;
    if (m == 0xda) { /* SOS: skip entropy-coded data up to the next real marker */
      while (i + 1 < n) {
        if (p[i] == 0xff && p[i + 1] != 0x00 && !(p[i + 1] >= 0xd0 && p[i + 1] <= 0xd7)) break;
        i++;
      }
    }
  }
  return 0;
}

/* Walks a GIF up to the end of its first image's data; 1 when that image is complete in
** p[0..n), 0 when the file ends first.  Later frames are not used. */
static int gif_first_frame_complete(const uint8_t *p, size_t n) {
  if (n < 13) return 0;
  size_t i = 13;
  if (p[10] & 0x80) i += (size_t)3 << ((p[10] & 7) + 1);  /* global colour table */
  while (i < n) {
    if (p[i] == 0x21) {  /* extension: label, then sub-blocks up to a 0 */
      i += 2;
      while (i < n && p[i]) i += (size_t)p[i] + 1;
      if (i >= n) return 0;
      i++;
    } else if (p[i] == 0x2c) {  /* image descriptor, local colour table, LZW size, sub-blocks */
      if (i + 10 > n) return 0;
      uint8_t flags = p[i + 9];
      i += 10;
      if (flags & 0x80) i += (size_t)3 << ((flags & 7) + 1);
      i++; /* LZW minimum code size */
      while (i < n && p[i]) i += (size_t)p[i] + 1;
      return i < n;
    } else {
      return 0;  /* trailer before any image, or garbage */
    }
  }
  return 0;
}

/* Image size from the header bytes alone, for the formats whose header stb_image refuses to
** report once the image is very large (its own limit is 2^30 bytes): 1 when found. */
static int header_dims(img_format f, const uint8_t *p, size_t n, unsigned long long *w,
                       unsigned long long *h) {
  if (f == FMT_PNG && n >= 24 && memcmp(p + 12, "IHDR", 4) == 0) {
    *w = (unsigned long long)p[16] << 24 | p[17] << 16 | p[18] << 8 | p[19];
    *h = (unsigned long long)p[20] << 24 | p[21] << 16 | p[22] << 8 | p[23];
    return 1;
  }
  if (f == FMT_GIF && n >= 10) {
    *w = rd_le16(p + 6);
    *h = rd_le16(p + 8);
    return 1;
  }
  if (f == FMT_BMP && n >= 26 && rd_le32(p + 14) >= 40) {
    int32_t bh = (int32_t)rd_le32(p + 22);
    *w = rd_le32(p + 18);
    *h = bh < 0 ? (unsigned long long)(-(long long)bh) : (unsigned long long)bh;
    return 1;
  }
  if (f == FMT_JPEG) {  /* first SOFn marker segment */
    size_t i = 2;
    while (i + 3 < n && p[i] == 0xff) {
      uint8_t m = p[i + 1];
      size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
      if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
        if (i + 9 > n) return 0;
        *h = (unsigned long long)p[i + 5] << 8 | p[i + 6];
        *w = (unsigned long long)p[i + 7] << 8 | p[i + 8];
        return 1;
      }
      if (m == 0xda || len < 2) return 0;
      i += 2 + len;
    }
  }
  return 0;
}

/* For an uncompressed BMP: 1 when the pixel array announced by the header fits in n bytes,
** 0 when the file is shorter (truncated).  Other compressions are left to stb_image. */
static int bmp_is_complete(const uint8_t *p, size_t n, int w, int h) {
  if (n < 30) return 0;
  uint32_t off = rd_le32(p + 10), hsz = rd_le32(p + 14);
  unsigned bpp = hsz == 12 ? rd_le16(p + 24) : rd_le16(p + 28);
  uint32_t compression = hsz >= 40 && n >= 34 ? rd_le32(p + 30) : 0;
  if (compression != 0 && compression != 3 && compression != 6) return 1;
  unsigned long long stride = (((unsigned long long)w * bpp + 31) / 32) * 4;
  return (unsigned long long)off + stride * (unsigned long long)h <= n;
}

/* Pillow opens a palette image whose palette is the identity grey ramp (entry i = (i, i, i)) as
** "L" instead of "P" (GifImagePlugin _is_palette_needed, BmpImagePlugin's greyscale check).
** pal: count entries of `stride` bytes (RGB or BGR(X): the grey test is order-free). */
static int palette_is_grey_ramp(const uint8_t *pal, size_t count, size_t stride) {
  for (size_t i = 0; i < count; i++) {
    const uint8_t *e = pal + i * stride;
    if (e[0] != i || e[1] != i || e[2] != i) return 0;
  }
  return 1;
}

/* GIF: 1 when the first frame is "P" in Pillow (its palette, local or else global, is not the
** grey ramp), 0 when it is "L". */
static int gif_first_frame_is_palette(const uint8_t *p, size_t n) {
  if (n < 13) return 1;
  const uint8_t *global = NULL;
  size_t gcount = 0, i = 13;
  if (p[10] & 0x80) {
    gcount = (size_t)1 << ((p[10] & 7) + 1);
    global = p + 13;
    i += 3 * gcount;
  }
  while (i < n) {
    if (p[i] == 0x21) {
      i += 2;
      while (i < n && p[i]) i += (size_t)p[i] + 1;
      i++;
    } else if (p[i] == 0x2c && i + 10 <= n) {
      uint8_t flags = p[i + 9];
      if (flags & 0x80) {
        size_t count = (size_t)1 << ((flags & 7) + 1);
        if (i + 10 + 3 * count > n) return 1;
        return !palette_is_grey_ramp(p + i + 10, count, 3);
      }
      break;
    } else {
      break;
    }
  }
  if (!global || 13 + 3 * gcount > n) return global != NULL;  /* no palette at all: "L" */
  return !palette_is_grey_ramp(global, gcount, 3);
}

/* 1 when Pillow would open this source as a palette ("P") or bilevel ("1") image, which its
** Image.resize resamples with NEAREST instead of the requested filter. */
static int pillow_uses_nearest(img_format f, const uint8_t *p, size_t n) {
  if (f == FMT_GIF) return gif_first_frame_is_palette(p, n);
  if (f == FMT_PNG && n >= 26 && memcmp(p + 12, "IHDR", 4) == 0) {
    int depth = p[24], colour = p[25];
    return colour == 3 || (colour == 0 && depth == 1);
  }
  if (f == FMT_BMP && n >= 30) {
    uint32_t hsz = rd_le32(p + 14);
    unsigned bpp = hsz == 12 ? rd_le16(p + 24) : rd_le16(p + 28);
    if (bpp > 8) return 0;
    /* BmpImagePlugin: 2 colours black/white -> "1" (nearest); a grey ramp -> "L" (bicubic) */
    size_t colours = hsz >= 40 && n >= 50 ? rd_le32(p + 46) : 0;
    if (colours == 0) colours = (size_t)1 << bpp;
    size_t stride = hsz == 12 ? 3 : 4, off = 14 + (size_t)hsz;
    if (colours == 2 || colours > 256 || off + colours * stride > n) return 1;
    return !palette_is_grey_ramp(p + off, colours, stride);
  }
  return 0;
}

/* GIF: the colour Pillow shows where the first frame writes no pixel (its transparent pixels and
** the screen outside the frame): Pillow fills the canvas with the transparency index, else index
** 0, and converts through the frame's palette (local, else global; the index itself for "L").
** stb_image leaves those pixels as RGBA 0. */
static void gif_fill_colour(const uint8_t *p, size_t n, uint8_t rgb[3]) {
  const uint8_t *pal = NULL;
  size_t pcount = 0, i = 13;
  int index = 0;
  if (n >= 13 && (p[10] & 0x80)) {
    pcount = (size_t)1 << ((p[10] & 7) + 1);
    pal = p + 13;
    i += 3 * pcount;
  }
  while (i + 1 < n) {
    if (p[i] == 0x21) {
      if (p[i + 1] == 0xf9 && i + 6 < n && p[i + 2] >= 4 && (p[i + 3] & 1)) index = p[i + 6];
      i += 2;
      while (i < n && p[i]) i += (size_t)p[i] + 1;
      i++;
    } else if (p[i] == 0x2c && i + 10 <= n) {
      if (p[i + 9] & 0x80) {
        pcount = (size_t)1 << ((p[i + 9] & 7) + 1);
        pal = p + i + 10;
      }
      break;
    } else {
      break;
    }
  }
  if (pal && (size_t)index < pcount && (size_t)(pal - p) + 3 * pcount <= n) {
    memcpy(rgb, pal + 3 * index, 3);
  } else {
    rgb[0] = rgb[1] = rgb[2] = (uint8_t)index;
  }
}

/* 1 when Pillow opens the source with an alpha band (RGBA/LA), which its resize premultiplies:
** PNG colour types 4 and 6 (a tRNS chunk only sets info["transparency"]), BMP bitfields with an
** alpha mask (32-bit BI_RGB is "RGB"/BGRX).  GIF and JPEG never. */
static int pillow_has_alpha_band(img_format f, const uint8_t *p, size_t n) {
  if (f == FMT_PNG && n >= 26 && memcmp(p + 12, "IHDR", 4) == 0) return p[25] == 4 || p[25] == 6;
  if (f == FMT_BMP && n >= 70) {
    uint32_t hsz = rd_le32(p + 14), compression = rd_le32(p + 30);
    unsigned bpp = rd_le16(p + 28);
    return hsz >= 56 && bpp == 32 && (compression == 3 || compression == 6) && rd_le32(p + 66) != 0;
  }
  return 0;
}

/* libjpeg error manager that longjmps back instead of exiting, keeping the message. */
typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
} jpeg_err_mgr;

static void jpeg_error_exit(j_common_ptr cinfo) {
  jpeg_err_mgr *e = (jpeg_err_mgr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, e->msg);
  longjmp(e->jump, 1);
}

/* Warnings ("Corrupt JPEG data: ...") are ignored like Pillow does; truncation is caught before. */
static void jpeg_emit_message(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

/* Decodes a JPEG with libjpeg-turbo's defaults, as Pillow: YCbCr/greyscale/RGB to RGB (*ch = 3),
** CMYK/YCCK to Pillow's "CMYK" samples (*ch = 4; libjpeg's CMYK output inverted, Pillow's
** "CMYK;I" raw mode for Adobe files).  Returns 0 with *pix = malloc'ed [h, w, *ch], -1 on error. */
static int jpeg_decode(const uint8_t *p, size_t n, int w, int h, uint8_t **pix, int *ch, lg_err *err) {
  struct jpeg_decompress_struct cinfo;
  jpeg_err_mgr jerr;
  uint8_t *volatile out = NULL;
  volatile int rc = -1;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&jerr.pub);
  jerr.pub.error_exit = jpeg_error_exit;
  jerr.pub.emit_message = jpeg_emit_message;
  jerr.msg[0] = 0;
  if (setjmp(jerr.jump)) {
    lg_errf(err, "lg_image_decode: cannot decode the JPEG image (%s)", jerr.msg);
    goto done;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, p, (unsigned long)n);
  jpeg_read_header(&cinfo, TRUE);
  int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  *ch = cmyk ? 4 : 3;
  if ((int)cinfo.image_width != w || (int)cinfo.image_height != h) {
    lg_errf(err, "lg_image_decode: JPEG header says %u x %u, expected %d x %d", cinfo.image_width,
            cinfo.image_height, w, h);
    goto done;
  }
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  /* grey is replicated, as Pillow's L -> RGB */
  jpeg_start_decompress(&cinfo);
  out = malloc((size_t)w * (size_t)h * (size_t)*ch);
  if (!out) {
    lg_errf(err, "lg_image_decode: out of memory for %d x %d pixels", w, h);
    goto done;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out + (size_t)cinfo.output_scanline * (size_t)w * (size_t)*ch;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  if (cmyk) for (size_t i = 0; i < (size_t)w * (size_t)h * 4; i++) out[i] = (uint8_t)(255 - out[i]);
  *pix = out;
  out = NULL;
  rc = 0;
done:
  jpeg_destroy_decompress(&cinfo);
  free(out);
  return rc;
}

int lg_image_decode(const void *data, size_t n, lg_image *out, lg_err *err) {
  const uint8_t *p = data;
  uint8_t *px = NULL;
  int rc = -1, w = 0, h = 0, comp = 0;
  if (!out) return lg_errf(err, "lg_image_decode: out is NULL");
  memset(out, 0, sizeof *out);
  if (!p || n == 0) return lg_errf(err, "lg_image_decode: empty image blob (0 bytes)");
  if (n > INT_MAX) return lg_errf(err, "lg_image_decode: image blob of %zu bytes is too large", n);

  img_format fmt = sniff_format(p, n);
  if (fmt == FMT_NONE) {
    char hex[32] = "";
    size_t k = n < 4 ? n : 4, o = 0;
    for (size_t i = 0; i < k; i++) o += (size_t)snprintf(hex + o, sizeof hex - o, i ? " %02x" : "%02x", p[i]);
    return lg_errf(err, "lg_image_decode: not a JPEG/PNG/BMP/GIF image (first bytes %s)", hex);
  }
  unsigned long long hw = 0, hh = 0;
  if (header_dims(fmt, p, n, &hw, &hh) && hw * hh > LG_IMAGE_MAX_PIXELS) {
    return lg_errf(err,
                   "lg_image_decode: %s image of %llu x %llu pixels exceeds the limit of %u pixels",
                   format_name(fmt), hw, hh, (unsigned)LG_IMAGE_MAX_PIXELS);
  }
  if (!stbi_info_from_memory(p, (int)n, &w, &h, &comp)) {
    return lg_errf(err, "lg_image_decode: cannot read the %s header (%s)", format_name(fmt),
                   stbi_failure_reason());
  }
  if (w <= 0 || h <= 0) {
    return lg_errf(err, "lg_image_decode: %s image has zero size (%d x %d)", format_name(fmt), w, h);
  }
  if ((unsigned long long)w * (unsigned long long)h > LG_IMAGE_MAX_PIXELS) {
    return lg_errf(err,
                   "lg_image_decode: %s image of %d x %d pixels exceeds the limit of %u pixels",
                   format_name(fmt), w, h, (unsigned)LG_IMAGE_MAX_PIXELS);
  }
  if ((fmt == FMT_JPEG && !jpeg_is_complete(p, n)) || (fmt == FMT_BMP && !bmp_is_complete(p, n, w, h)) ||
      (fmt == FMT_GIF && !gif_first_frame_complete(p, n))) {
    return lg_errf(err, "lg_image_decode: %s image is truncated (%zu bytes, no end of image data)",
                   format_name(fmt), n);
  }

  int nearest = pillow_uses_nearest(fmt, p, n);
  int want_alpha = !nearest && pillow_has_alpha_band(fmt, p, n);
  if (fmt == FMT_JPEG) {
    uint8_t *pix = NULL;
    int ch = 3;
    if (jpeg_decode(p, n, w, h, &pix, &ch, err)) return -1;
    if (ch == 4) {  /* Pillow "CMYK": keep the samples (resized before conversion), rgb = converted */
      out->cmyk = pix;
      out->rgb = malloc((size_t)w * (size_t)h * 3);
      if (!out->rgb) {
        lg_image_free(out);
        return lg_errf(err, "lg_image_decode: out of memory for %d x %d pixels", w, h);
      }
      lg_cmyk_to_rgb(pix, (size_t)w * (size_t)h, out->rgb);
    } else {
      out->rgb = pix;
    }
    out->w = w;
    out->h = h;
    return 0;
  }
  if (fmt == FMT_PNG && n >= 26 && p[24] == 16 && p[25] == 0) {  /* 16-bit grey: Pillow mode "I" */
    uint16_t *g = stbi_load_16_from_memory(p, (int)n, &w, &h, &comp, 1);
    if (!g) {
      return lg_errf(err, "lg_image_decode: cannot decode the PNG image (%s)", stbi_failure_reason());
    }
    size_t npx = (size_t)w * (size_t)h;
    out->ivals = malloc(sizeof(int32_t) * npx);
    out->rgb = malloc(npx * 3);
    if (!out->ivals || !out->rgb) {
      stbi_image_free(g);
      lg_image_free(out);
      return lg_errf(err, "lg_image_decode: out of memory for %d x %d pixels", w, h);
    }
    for (size_t i = 0; i < npx; i++) {
      out->ivals[i] = g[i];
      out->rgb[3 * i] = out->rgb[3 * i + 1] = out->rgb[3 * i + 2] = g[i] >= 255 ? 255 : (uint8_t)g[i];
    }
    stbi_image_free(g);
    out->w = w;
    out->h = h;
    return 0;
  }
  int dw = 0, dh = 0, dc = 0;
  px = stbi_load_from_memory(p, (int)n, &dw, &dh, &dc, want_alpha || fmt == FMT_GIF ? 4 : 3);
  if (!px) {
    lg_errf(err, "lg_image_decode: cannot decode the %s image (%s)", format_name(fmt),
            stbi_failure_reason());
    goto done;
  }
  if (dw != w || dh != h) {
    lg_errf(err, "lg_image_decode: %s header says %d x %d but %d x %d was decoded",
            format_name(fmt), w, h, dw, dh);
    goto done;
  }
  size_t npx = (size_t)w * (size_t)h;
  if (fmt == FMT_GIF) {  /* unwritten (alpha 0) pixels take Pillow's fill colour */
    uint8_t fill[3];
    gif_fill_colour(p, n, fill);
    out->rgb = malloc(npx * 3);
    if (!out->rgb) {
      lg_errf(err, "lg_image_decode: out of memory for %d x %d pixels", w, h);
      goto done;
    }
    for (size_t i = 0; i < npx; i++) memcpy(out->rgb + 3 * i, px[4 * i + 3] ? px + 4 * i : fill, 3);
  } else if (want_alpha) {
    out->rgb = malloc(npx * 3);
    out->alpha = malloc(npx);
    if (!out->rgb || !out->alpha) {
      lg_errf(err, "lg_image_decode: out of memory for %d x %d pixels", w, h);
      goto done;
    }
    int opaque = 1;
    for (size_t i = 0; i < npx; i++) {
      memcpy(out->rgb + 3 * i, px + 4 * i, 3);
      out->alpha[i] = px[4 * i + 3];
      opaque &= px[4 * i + 3] == 255;
    }
    if (opaque) { free(out->alpha); out->alpha = NULL; } /* premultiplying by 255 is exact */
  } else {
    out->rgb = px;
    px = NULL;
  }
  out->w = w;
  out->h = h;
  out->nearest = nearest;
  rc = 0;
done:
  stbi_image_free(px);
  if (rc) lg_image_free(out);
  return rc;
}

void lg_cmyk_to_rgb(const uint8_t *cmyk, size_t n, uint8_t *rgb) {
  for (size_t i = 0; i < n; i++) {
    const uint8_t *c = cmyk + 4 * i;
    unsigned nk = 255u - c[3];
    for (int k = 0; k < 3; k++) {
      unsigned t = c[k] * nk + 128;  /* Pillow MULDIV255 */
      rgb[3 * i + k] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
    }
  }
}

void lg_image_free(lg_image *img) {
  if (!img) return;
  free(img->rgb);
  free(img->alpha);
  free(img->ivals);
  free(img->cmyk);
  img->cmyk = NULL;
  img->rgb = NULL;
  img->alpha = NULL;
  img->ivals = NULL;
  img->w = img->h = 0;
  img->nearest = 0;
}

/* Little-endian 24-bit value (WebP VP8X canvas size). */
static unsigned rd_le24(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16; }

/* WebP canvas size from the first chunk (VP8 / VP8L / VP8X): 1 when found.  p starts "RIFF....WEBP". */
static int webp_dims(const uint8_t *p, size_t n, unsigned long long *w, unsigned long long *h) {
  if (n >= 30 && memcmp(p + 12, "VP8 ", 4) == 0 && p[23] == 0x9d && p[24] == 0x01 && p[25] == 0x2a) {
    *w = rd_le16(p + 26) & 0x3fff;
    *h = rd_le16(p + 28) & 0x3fff;
    return 1;
  }
  if (n >= 25 && memcmp(p + 12, "VP8L", 4) == 0 && p[20] == 0x2f) {
    uint32_t b = rd_le32(p + 21);
    *w = (b & 0x3fff) + 1;
    *h = ((b >> 14) & 0x3fff) + 1;
    return 1;
  }
  if (n >= 30 && memcmp(p + 12, "VP8X", 4) == 0) {
    *w = (unsigned long long)rd_le24(p + 24) + 1;
    *h = (unsigned long long)rd_le24(p + 27) + 1;
    return 1;
  }
  return 0;
}

void lg_image_probe(const void *data, size_t n, lg_image_info *info) {
  const uint8_t *p = data;
  unsigned long long w = 0, h = 0;
  memset(info, 0, sizeof *info);
  info->format = "unknown";
  if (!p || n == 0) return;
  if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
    info->format = "webp";
    if (webp_dims(p, n, &w, &h)) { info->width = (long long)w; info->height = (long long)h; }
    return;
  }
  img_format fmt = sniff_format(p, n);
  static const char *const lower[] = {"unknown", "jpeg", "png", "bmp", "gif"};
  info->format = lower[fmt];
  if (fmt == FMT_NONE) return;
  if (header_dims(fmt, p, n, &w, &h) && w > 0 && h > 0) {
    info->width = (long long)w;
    info->height = (long long)h;
  }
}
