/*
** Image decoding: a JPEG, PNG, WebP, BMP or GIF blob in memory -> 8-bit RGB, like Pillow's
** Image.open(...).convert("RGB") (spec clip-engine.md 5.1 item 4).
**
**   lg_image img;
**   if (lg_image_decode(blob, n, &img, &err)) fprintf(stderr, "%s\n", err.msg);
**   ...
**   lg_image_free(&img);
**
** The format is recognised once, from the magic bytes, and exactly one decoder ever sees the bytes:
**   JPEG  libjpeg-turbo (Debian libjpeg62-turbo, the library Pillow links) with Pillow's settings
**         (islow DCT, fancy upsampling), so the pixels equal Pillow's; CMYK/YCCK JPEGs keep their
**         CMYK samples as Pillow does.  Size from jpeg_read_header.
**   WebP  libwebp's WebPAnimDecoder (Debian libwebp7/libwebpdemux2, the libraries Pillow links) with
**         Pillow's options (RGBA output, first frame); mode RGBA when WebPGetFeatures reports alpha,
**         else RGB, as Pillow's WebPImagePlugin.  Size from WebPGetFeatures.
**   PNG, BMP, GIF  stb_image (Debian libstb), exact for them.  Size from stbi_info_from_memory.
** stb_image never sees JPEG or WebP bytes (its JPEG reader is not used at all).
**
** Decoding is bounded (lg_image_limits; defaults in image.h): the pixel count is checked on the
** header before any pixel is decoded; a JPEG's scans are counted on its marker structure before
** libjpeg runs, and both the scan count and scans x pixels (the work of a progressive decode) are
** limited; libjpeg's progress monitor re-checks the scan number and polls the caller's should_stop
** once per scan row.  Truncated files are refused as Pillow does ("image file is truncated"):
** stb_image zero-fills a BMP that ends early and libjpeg a JPEG, so the JPEG marker structure, the
** BMP pixel-array size and the GIF block structure up to the first frame's end are checked here;
** libwebp's demuxer refuses incomplete WebP files.  stb_image cannot report the size of an image
** over 2^30 bytes, so the pixel limit is first checked on the raw header fields.
**
** Besides the RGB pixels the decoder records what Pillow's resize needs to know about the source
** mode: the alpha channel (RGBA/LA sources are resized premultiplied) and whether the source is a
** palette or 1-bit image (resized with NEAREST).  See docs/preprocessing.md.
*/
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdio.h>

#include <jpeglib.h>
#include <stb/stb_image.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <zlib.h>

#include "image.h"

/* Source formats accepted, recognised by magic bytes. */
typedef enum { FMT_NONE = 0, FMT_JPEG, FMT_PNG, FMT_WEBP, FMT_BMP, FMT_GIF } img_format;

/* Returns the format announced by the first bytes of p[0..n), or FMT_NONE.  WebP is a RIFF file
** of form WEBP whose first chunk is VP8, VP8L or VP8X (the files Pillow's WebP plugin accepts). */
static img_format sniff_format(const uint8_t *p, size_t n) {
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return FMT_JPEG;
  if (n >= 8 && memcmp(p, png_sig, 8) == 0) return FMT_PNG;
  if (n >= 16 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0 &&
      (memcmp(p + 12, "VP8 ", 4) == 0 || memcmp(p + 12, "VP8L", 4) == 0 || memcmp(p + 12, "VP8X", 4) == 0))
    return FMT_WEBP;
  if (n >= 2 && p[0] == 'B' && p[1] == 'M') return FMT_BMP;
  if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return FMT_GIF;
  return FMT_NONE;
}

static const char *format_name(img_format f) {
  switch (f) {
  case FMT_JPEG: return "JPEG";
  case FMT_PNG: return "PNG";
  case FMT_WEBP: return "WebP";
  case FMT_BMP: return "BMP";
  case FMT_GIF: return "GIF";
  default: return "unknown";
  }
}

/* For a blob that is none of the accepted formats: the name of a common image or document format
** its magic bytes announce, so the error can say what it is without echoing the bytes; NULL when
** nothing is recognised. */
static const char *unsupported_format_name(const uint8_t *p, size_t n) {
  if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0)) return "TIFF";
  if (n >= 12 && memcmp(p + 4, "ftyp", 4) == 0) {
    if (memcmp(p + 8, "avi", 3) == 0) return "AVIF";
    if (memcmp(p + 8, "hei", 3) == 0 || memcmp(p + 8, "mif1", 4) == 0) return "HEIF";
    return "ISO media (MP4/HEIF)";
  }
  if (n >= 12 && memcmp(p, "\0\0\0\x0cjP  \r\n\x87\n", 12) == 0) return "JPEG 2000";
  if (n >= 4 && memcmp(p, "\xff\x4f\xff\x51", 4) == 0) return "JPEG 2000 codestream";
  if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
    return "WebP (unknown first chunk)";
  if (n >= 4 && memcmp(p, "RIFF", 4) == 0) return "RIFF (not WebP)";
  if (n >= 4 && memcmp(p, "\0\0\1\0", 4) == 0) return "ICO";
  if (n >= 4 && memcmp(p, "8BPS", 4) == 0) return "Photoshop";
  if (n >= 5 && memcmp(p, "%PDF-", 5) == 0) return "PDF";
  if (n >= 2 && memcmp(p, "\xff\xd8", 2) == 0) return "JPEG without a marker after SOI";
  return NULL;
}

static unsigned rd_le16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }
static uint32_t rd_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t rd_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Walks the JPEG marker structure of p[0..n), counting the scans (SOS markers) into *scans, and
** returns 1 when an EOI marker (FF D9) is reached outside any marker segment, 0 when the data ends
** first (a truncated file).  Entropy-coded data after SOS is skipped byte by byte: inside it FF is
** always followed by 00 (stuffing) or a restart marker D0..D7, so any other FF xx is the next
** marker.  Linear in n; reads nothing beyond p[n-1]. */
static int jpeg_walk(const uint8_t *p, size_t n, unsigned long *scans) {
  size_t i = 2; /* after SOI */
  *scans = 0;
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
      (*scans)++;
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
    *w = rd_be32(p + 16);
    *h = rd_be32(p + 20);
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

/* Bytes of filtered scanline data a PNG's IHDR calls for: one filter byte per row plus the packed
** samples, summed over the seven Adam7 passes for an interlaced image.  0 for an IHDR whose
** colour type / depth pair PNG does not define (stb_image refuses those). */
static uint64_t png_raw_size(uint64_t w, uint64_t h, int depth, int colour, int interlace) {
  static const int xs[7] = {0, 4, 0, 2, 0, 1, 0}, ys[7] = {0, 0, 4, 0, 2, 0, 1};
  static const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  int channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 3 ? 1 : colour == 4 ? 2 : colour == 6 ? 4 : 0;
  if (!channels || !(depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)) return 0;
  uint64_t bpp = (uint64_t)channels * (uint64_t)depth, total = 0;
  if (!interlace) return h * (1 + (w * bpp + 7) / 8);
  for (int k = 0; k < 7; k++) {
    uint64_t pw = w > (uint64_t)xs[k] ? (w - xs[k] + dx[k] - 1) / dx[k] : 0;
    uint64_t ph = h > (uint64_t)ys[k] ? (h - ys[k] + dy[k] - 1) / dy[k] : 0;
    if (pw && ph) total += ph * (1 + (pw * bpp + 7) / 8);
  }
  return total;
}

/* PNG structure checks before stb_image runs (lg_png_check in image.h).
** Truncation: stb_image allocates what a chunk's length field announces before it notices that the
** file ends sooner (an 85-byte PNG can make it ask for 2 GiB), so a chunk that runs past the end of
** the bytes is refused here.
** Zlib bombs: stb_image inflates the whole IDAT stream, growing its buffer up to 4 GiB, however few
** pixels the IHDR declares (a 1 MB PNG of 1 x 1 pixels can inflate to 1 GiB).  This inflates the
** IDAT chunks with zlib into a scratch buffer, counting bytes and polling stop, and refuses a stream
** that inflates to more than its pixels need.  Pillow stops reading once the image is full, so it
** opens such files; a well-formed PNG never holds more data than its pixels need.  Returns 0 when
** stb_image may run (corrupt streams are left to its own errors), -1 with err. */
int lg_png_check(const void *png, size_t n, const char *who, const lg_stop *stop, lg_err *err) {
  const uint8_t *p = png;
  if (n < 29 || memcmp(p + 12, "IHDR", 4) != 0) return 0;  /* stb_image reports a bad header */
  uint64_t w = rd_be32(p + 16), h = rd_be32(p + 20);
  uint64_t limit = png_raw_size(w, h, p[24], p[25], p[28]);
  z_stream z;
  unsigned char scratch[1 << 15];
  int rc = 0, zrc = Z_OK;
  uint64_t total = 0;
  memset(&z, 0, sizeof z);
  if (inflateInit(&z) != Z_OK) return lg_errf(err, "%s: zlib initialisation failed", who);
  /* Every chunk is walked, also after the zlib stream has ended: stb_image reads (and allocates
  ** for) every IDAT chunk up to IEND. */
  for (size_t i = 8; i + 8 <= n; ) {  /* length, type, data, CRC */
    uint32_t len = rd_be32(p + i);
    const uint8_t *type = p + i + 4, *data = p + i + 8;
    if (n - i < 12 || len > n - i - 12) {
      char name[5];
      for (int k = 0; k < 4; k++) name[k] = isalpha(type[k]) ? (char)type[k] : '?';
      name[4] = 0;
      rc = lg_errf(err, "%s: PNG image is truncated (its %s chunk announces %lu bytes, %zu remain)",
                   who, name, (unsigned long)len, n - i - 8);
      break;
    }
    if (memcmp(type, "CgBI", 4) == 0) {
      rc = lg_errf(err, "%s: PNG image is an Apple CgBI PNG (raw deflate, BGRA), which Pillow "
                        "cannot open either", who);
      break;
    }
    if (memcmp(type, "IEND", 4) == 0) break;
    if (memcmp(type, "IDAT", 4) == 0 && limit && zrc == Z_OK) {
      z.next_in = (unsigned char *)data;
      z.avail_in = len;
      while (z.avail_in > 0 && zrc == Z_OK) {
        z.next_out = scratch;
        z.avail_out = sizeof scratch;
        zrc = inflate(&z, Z_NO_FLUSH);
        total += sizeof scratch - z.avail_out;
        if (zrc == Z_BUF_ERROR) zrc = Z_OK;  /* needs the next IDAT */
        if (total > limit) {
          rc = lg_errf(err, "%s: PNG image data inflates to more than %llu bytes, the most its "
                            "pixels need (zlib bomb?)", who, (unsigned long long)limit);
          break;
        }
        if (lg_stop_requested(stop)) {
          rc = lg_errf(err, "%s: interrupted while reading the PNG image data", who);
          break;
        }
      }
      if (rc) break;  /* corrupt zlib data (zrc < 0) stops the inflating, not the chunk walk:
                      ** stb_image reports it */
    }
    i += 12 + (size_t)len;
  }
  inflateEnd(&z);
  return rc;
}

/* stb_image computes `idata + ioff` on its still-NULL IDAT buffer when the first IDAT chunk is empty
** (undefined behaviour, found by fuzz_sql_eval); libpng and Pillow read such files, since an empty
** IDAT chunk adds nothing to the zlib stream.  Copies the chunks of png[0..n) except the empty IDAT
** ones into a malloc'ed *out (NULL when there is none to drop).  Chunks that run past the end stop the
** copy (lg_png_check refuses those first).  Returns 0, or -1 when out of memory. */
int lg_png_drop_empty_idat(const void *png, size_t n, unsigned char **out, size_t *n_out) {
  const uint8_t *p = png;
  *out = NULL;
  *n_out = 0;
  int any = 0;
  for (size_t i = 8; i + 12 <= n && !any; i += 12 + (size_t)rd_be32(p + i)) {
    if (rd_be32(p + i) > n - i - 12) break;
    any = rd_be32(p + i) == 0 && memcmp(p + i + 4, "IDAT", 4) == 0;
  }
  if (!any) return 0;
  unsigned char *q = malloc(n);
  if (!q) return -1;
  size_t m = 8, i = 8;
  memcpy(q, p, 8);
  for (; i + 12 <= n; ) {
    size_t len = rd_be32(p + i);
    if (len > n - i - 12) break;
    if (!(len == 0 && memcmp(p + i + 4, "IDAT", 4) == 0)) {
      memcpy(q + m, p + i, 12 + len);
      m += 12 + len;
    }
    i += 12 + len;
  }
  memcpy(q + m, p + i, n - i);  /* whatever follows the last whole chunk, as it was */
  *out = q;
  *n_out = m + (n - i);
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

/* The limits of one decode with the defaults filled in. */
typedef struct {
  uint64_t max_pixels;
  unsigned long max_jpeg_scans;
  uint64_t max_jpeg_scan_pixels;
  lg_stop stop;
} decode_limits;

static void limits_resolve(const lg_image_limits *lim, decode_limits *d) {
  memset(d, 0, sizeof *d);
  d->max_pixels = lim && lim->max_pixels ? lim->max_pixels : LG_IMAGE_MAX_PIXELS;
  d->max_jpeg_scans = lim && lim->max_jpeg_scans ? lim->max_jpeg_scans : LG_IMAGE_MAX_JPEG_SCANS;
  d->max_jpeg_scan_pixels =
      lim && lim->max_jpeg_scan_pixels ? lim->max_jpeg_scan_pixels : LG_IMAGE_MAX_JPEG_SCAN_PIXELS;
  if (lim) d->stop = lim->stop;
}

/* libjpeg error manager that longjmps back instead of exiting, keeping the message.  The progress
** monitor below longjmps through it too, with its own message in msg and own = 1. */
typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  int own;  /* 1: msg is a complete message of ours (limit, interruption), not libjpeg's */
  char msg[JMSG_LENGTH_MAX + 128];
} jpeg_err_mgr;

static void jpeg_error_exit(j_common_ptr cinfo) {
  jpeg_err_mgr *e = (jpeg_err_mgr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, e->msg);
  e->own = 0;
  longjmp(e->jump, 1);
}

/* Warnings ("Corrupt JPEG data: ...") are ignored like Pillow does; truncation is caught before. */
static void jpeg_emit_message(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

/* libjpeg progress monitor: called once per scan row while a multi-scan (progressive) file is
** absorbed by jpeg_start_decompress, and once per jpeg_read_scanlines call.  It refuses a scan
** beyond the limit (the scans were counted before libjpeg ran; this holds even if libjpeg parses
** the file differently) and stops when the caller asks to. */
typedef struct {
  struct jpeg_progress_mgr pub;
  const decode_limits *lim;
} jpeg_progress;

static void jpeg_progress_monitor(j_common_ptr cinfo) {
  jpeg_progress *pr = (jpeg_progress *)cinfo->progress;
  jpeg_err_mgr *e = (jpeg_err_mgr *)cinfo->err;
  int scan = ((j_decompress_ptr)cinfo)->input_scan_number;
  if (scan > 0 && (unsigned long)scan > pr->lim->max_jpeg_scans) {
    snprintf(e->msg, sizeof e->msg,
             "lg_image_decode: image has more JPEG scans than the limit of %lu (progressive JPEG bomb?)",
             pr->lim->max_jpeg_scans);
  } else if (lg_stop_requested(&pr->lim->stop)) {
    snprintf(e->msg, sizeof e->msg, "lg_image_decode: interrupted while decoding the JPEG image");
  } else {
    return;
  }
  e->own = 1;
  longjmp(e->jump, 1);
}

/* Decodes a JPEG with libjpeg-turbo's defaults, as Pillow: YCbCr/greyscale/RGB to RGB in out->rgb,
** CMYK/YCCK to Pillow's "CMYK" samples in out->cmyk (libjpeg's CMYK output inverted, Pillow's
** "CMYK;I" raw mode for Adobe files) with their RGB conversion in out->rgb.  scans: the SOS markers
** counted by jpeg_walk.  The size comes from jpeg_read_header and is checked against the limits
** before any pixel is decoded.  Returns 0, or -1 with out cleared. */
static int jpeg_decode(const uint8_t *p, size_t n, unsigned long scans, const decode_limits *lim,
                       lg_image *out, lg_err *err) {
  struct jpeg_decompress_struct cinfo;
  jpeg_err_mgr jerr;
  jpeg_progress prog;
  uint8_t *volatile pix = NULL;
  volatile int rc = -1;
  memset(&cinfo, 0, sizeof cinfo);
  memset(&prog, 0, sizeof prog);
  cinfo.err = jpeg_std_error(&jerr.pub);
  jerr.pub.error_exit = jpeg_error_exit;
  jerr.pub.emit_message = jpeg_emit_message;
  jerr.msg[0] = 0;
  jerr.own = 0;
  prog.pub.progress_monitor = jpeg_progress_monitor;
  prog.lim = lim;
  if (setjmp(jerr.jump)) {
    if (jerr.own) lg_errf(err, "%s", jerr.msg);
    else lg_errf(err, "lg_image_decode: cannot decode the JPEG image (%s)", jerr.msg);
    goto done;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &prog.pub;
  jpeg_mem_src(&cinfo, p, (unsigned long)n);
  jpeg_read_header(&cinfo, TRUE);
  uint64_t w = cinfo.image_width, h = cinfo.image_height;
  if (w == 0 || h == 0) {  /* libjpeg refuses these itself; kept so the size is known positive */
    lg_errf(err, "lg_image_decode: JPEG image has zero size (%llu x %llu)", (unsigned long long)w,
            (unsigned long long)h);
    goto done;
  }
  if (w * h > lim->max_pixels) {
    lg_errf(err, "lg_image_decode: JPEG image of %llu x %llu pixels exceeds the limit of %llu pixels",
            (unsigned long long)w, (unsigned long long)h, (unsigned long long)lim->max_pixels);
    goto done;
  }
  if (scans > lim->max_jpeg_scan_pixels / (w * h)) {  /* scans x w x h > limit, without overflow */
    lg_errf(err,
            "lg_image_decode: JPEG image of %llu x %llu pixels in %lu scans needs %llu scan-pixels "
            "of decoding work, more than the limit of %llu (progressive JPEG bomb?)",
            (unsigned long long)w, (unsigned long long)h, scans,
            (unsigned long long)((uint64_t)scans * w * h), (unsigned long long)lim->max_jpeg_scan_pixels);
    goto done;
  }
  int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  size_t ch = cmyk ? 4 : 3, npx = (size_t)w * (size_t)h;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  /* grey is replicated, as Pillow's L -> RGB */
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_width != w || cinfo.output_height != h || (size_t)cinfo.output_components != ch) {
    lg_errf(err, "lg_image_decode: libjpeg output %u x %u x %d differs from the header %llu x %llu x %zu",
            cinfo.output_width, cinfo.output_height, cinfo.output_components, (unsigned long long)w,
            (unsigned long long)h, ch);
    goto done;
  }
  pix = malloc(npx * ch);
  if (!pix) {
    lg_errf(err, "lg_image_decode: out of memory for %llu x %llu pixels", (unsigned long long)w,
            (unsigned long long)h);
    goto done;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pix + (size_t)cinfo.output_scanline * (size_t)w * ch;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  out->w = (int)w;
  out->h = (int)h;
  if (cmyk) {  /* Pillow "CMYK": keep the samples (resized before conversion), rgb = converted */
    for (size_t i = 0; i < npx * 4; i++) pix[i] = (uint8_t)(255 - pix[i]);
    out->cmyk = pix;
    pix = NULL;
    out->rgb = malloc(npx * 3);
    if (!out->rgb) {
      lg_errf(err, "lg_image_decode: out of memory for %d x %d pixels", out->w, out->h);
      goto done;
    }
    lg_cmyk_to_rgb(out->cmyk, npx, out->rgb);
  } else {
    out->rgb = pix;
    pix = NULL;
  }
  rc = 0;
done:
  jpeg_destroy_decompress(&cinfo);
  free(pix);
  if (rc) lg_image_free(out);
  return rc;
}

/* libwebp's name for a status code. */
static const char *webp_status_name(VP8StatusCode st) {
  switch (st) {
  case VP8_STATUS_OK: return "ok";
  case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
  case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
  case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
  case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
  case VP8_STATUS_SUSPENDED: return "suspended";
  case VP8_STATUS_USER_ABORT: return "aborted";
  case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data: truncated file";
  default: return "unknown status";
  }
}

/* Decodes a WebP (lossy, lossless, with or without alpha; the first frame of an animation) as
** Pillow 9's WebPImagePlugin does: WebPAnimDecoder with its default options (MODE_RGBA, no
** threads) renders the first frame onto the canvas; the image is "RGBA" when WebPGetFeatures
** reports alpha and "RGB" otherwise.  RGBA images keep their alpha (resized premultiplied, like
** RGBA PNGs); a fully opaque alpha is dropped.  The canvas size from WebPGetFeatures is checked
** against the pixel limit before anything is allocated.  Returns 0, or -1 with out cleared. */
static int webp_decode(const uint8_t *p, size_t n, const decode_limits *lim, lg_image *out, lg_err *err) {
  WebPBitstreamFeatures feat;
  WebPAnimDecoder *dec = NULL;
  int rc = -1;
  VP8StatusCode st = WebPGetFeatures(p, n, &feat);
  if (st != VP8_STATUS_OK) {
    return lg_errf(err, "lg_image_decode: cannot read the WebP header (%s)", webp_status_name(st));
  }
  if (feat.width <= 0 || feat.height <= 0) {
    return lg_errf(err, "lg_image_decode: WebP image has zero size (%d x %d)", feat.width, feat.height);
  }
  if ((uint64_t)feat.width * (uint64_t)feat.height > lim->max_pixels) {
    return lg_errf(err, "lg_image_decode: WebP image of %d x %d pixels exceeds the limit of %llu pixels",
                   feat.width, feat.height, (unsigned long long)lim->max_pixels);
  }
  if (lg_stop_requested(&lim->stop))
    return lg_errf(err, "lg_image_decode: interrupted before decoding the WebP image");
  WebPAnimDecoderOptions opt;
  if (!WebPAnimDecoderOptionsInit(&opt)) return lg_errf(err, "lg_image_decode: libwebp version mismatch");
  opt.color_mode = MODE_RGBA;
  opt.use_threads = 0;
  WebPData data = {p, n};
  dec = WebPAnimDecoderNew(&data, &opt);
  WebPAnimInfo info;
  if (!dec || !WebPAnimDecoderGetInfo(dec, &info)) {
    lg_errf(err, "lg_image_decode: cannot decode the WebP image (invalid or truncated RIFF/WebP structure)");
    goto done;
  }
  if ((int)info.canvas_width != feat.width || (int)info.canvas_height != feat.height) {
    lg_errf(err, "lg_image_decode: WebP canvas %u x %u differs from its header %d x %d",
            info.canvas_width, info.canvas_height, feat.width, feat.height);
    goto done;
  }
  uint8_t *rgba = NULL;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(dec, &rgba, &timestamp) || !rgba) {
    lg_errf(err, "lg_image_decode: cannot decode the WebP image (bad %s bitstream)",
            feat.format == 2 ? "lossless" : feat.format == 1 ? "lossy" : "image");
    goto done;
  }
  size_t npx = (size_t)feat.width * (size_t)feat.height;
  out->rgb = malloc(npx * 3);
  out->alpha = feat.has_alpha ? malloc(npx) : NULL;
  if (!out->rgb || (feat.has_alpha && !out->alpha)) {
    lg_errf(err, "lg_image_decode: out of memory for %d x %d pixels", feat.width, feat.height);
    goto done;
  }
  int opaque = 1;
  for (size_t i = 0; i < npx; i++) {
    memcpy(out->rgb + 3 * i, rgba + 4 * i, 3);
    if (out->alpha) {
      out->alpha[i] = rgba[4 * i + 3];
      opaque &= rgba[4 * i + 3] == 255;
    }
  }
  if (out->alpha && opaque) { free(out->alpha); out->alpha = NULL; } /* premultiplying by 255 is exact */
  out->w = feat.width;
  out->h = feat.height;
  rc = 0;
done:
  WebPAnimDecoderDelete(dec);
  if (rc) lg_image_free(out);
  return rc;
}

/* Decodes a PNG, BMP or GIF with stb_image, recording Pillow's source mode (alpha band, palette /
** 1-bit, 16-bit greyscale).  Returns 0, or -1 with out cleared. */
static int stb_decode(img_format fmt, const uint8_t *p, size_t n, const decode_limits *lim, lg_image *out,
                      lg_err *err) {
  uint8_t *px = NULL;
  int rc = -1, w = 0, h = 0, comp = 0;
  unsigned long long hw = 0, hh = 0;
  if (header_dims(fmt, p, n, &hw, &hh) && hw * hh > lim->max_pixels) {
    return lg_errf(err, "lg_image_decode: %s image of %llu x %llu pixels exceeds the limit of %llu pixels",
                   format_name(fmt), hw, hh, (unsigned long long)lim->max_pixels);
  }
  if (!stbi_info_from_memory(p, (int)n, &w, &h, &comp)) {
    return lg_errf(err, "lg_image_decode: cannot read the %s header (%s)", format_name(fmt),
                   stbi_failure_reason());
  }
  if (w <= 0 || h <= 0) {
    return lg_errf(err, "lg_image_decode: %s image has zero size (%d x %d)", format_name(fmt), w, h);
  }
  if ((unsigned long long)w * (unsigned long long)h > lim->max_pixels) {
    return lg_errf(err, "lg_image_decode: %s image of %d x %d pixels exceeds the limit of %llu pixels",
                   format_name(fmt), w, h, (unsigned long long)lim->max_pixels);
  }
  if ((fmt == FMT_BMP && !bmp_is_complete(p, n, w, h)) ||
      (fmt == FMT_GIF && !gif_first_frame_complete(p, n))) {
    return lg_errf(err, "lg_image_decode: %s image is truncated (%zu bytes, no end of image data)",
                   format_name(fmt), n);
  }
  if (fmt == FMT_PNG && lg_png_check(p, n, "lg_image_decode", &lim->stop, err)) return -1;
  if (lg_stop_requested(&lim->stop)) {
    return lg_errf(err, "lg_image_decode: interrupted before decoding the %s image", format_name(fmt));
  }
  int nearest = pillow_uses_nearest(fmt, p, n);
  int want_alpha = !nearest && pillow_has_alpha_band(fmt, p, n);
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

int lg_image_decode(const void *data, size_t n, lg_image *out, lg_err *err) {
  return lg_image_decode_limited(data, n, NULL, out, err);
}

int lg_image_decode_limited(const void *data, size_t n, const lg_image_limits *lim, lg_image *out,
                            lg_err *err) {
  const uint8_t *p = data;
  decode_limits d;
  if (!out) return lg_errf(err, "lg_image_decode: out is NULL");
  memset(out, 0, sizeof *out);
  if (!p || n == 0) return lg_errf(err, "lg_image_decode: empty image blob (0 bytes)");
  if (n > INT_MAX) return lg_errf(err, "lg_image_decode: image blob of %zu bytes is too large", n);
  limits_resolve(lim, &d);

  img_format fmt = sniff_format(p, n);
  if (fmt == FMT_NONE) {
    const char *other = unsupported_format_name(p, n);
    if (other) {
      return lg_errf(err, "lg_image_decode: not a JPEG, PNG, WebP, BMP or GIF image (%s data, %zu bytes)",
                     other, n);
    }
    return lg_errf(err, "lg_image_decode: not a JPEG, PNG, WebP, BMP or GIF image (unrecognised header, "
                   "%zu bytes)", n);
  }
  if (fmt == FMT_WEBP) return webp_decode(p, n, &d, out, err);
  if (fmt == FMT_PNG) {
    unsigned char *copy = NULL;
    size_t n_copy = 0;
    if (lg_png_drop_empty_idat(p, n, &copy, &n_copy))
      return lg_errf(err, "lg_image_decode: out of memory for a %zu-byte PNG", n);
    int rc = stb_decode(fmt, copy ? copy : p, copy ? n_copy : n, &d, out, err);
    free(copy);
    return rc;
  }
  if (fmt != FMT_JPEG) return stb_decode(fmt, p, n, &d, out, err);

  /* JPEG: the SOF size and the scan count come from the marker structure before libjpeg runs */
  unsigned long long hw = 0, hh = 0;
  if (header_dims(fmt, p, n, &hw, &hh) && hw * hh > d.max_pixels) {
    return lg_errf(err, "lg_image_decode: JPEG image of %llu x %llu pixels exceeds the limit of %llu pixels",
                   hw, hh, (unsigned long long)d.max_pixels);
  }
  unsigned long scans = 0;
  int complete = jpeg_walk(p, n, &scans);
  if (scans > d.max_jpeg_scans) {
    return lg_errf(err, "lg_image_decode: image has %lu JPEG scans, more than the limit of %lu "
                   "(progressive JPEG bomb?)", scans, d.max_jpeg_scans);
  }
  if (!complete) {
    return lg_errf(err, "lg_image_decode: JPEG image is truncated (%zu bytes, no end of image data)", n);
  }
  return jpeg_decode(p, n, scans, &d, out, err);
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
  static const char *const lower[] = {[FMT_NONE] = "unknown", [FMT_JPEG] = "jpeg",
                                      [FMT_PNG] = "png", [FMT_WEBP] = "webp",
                                      [FMT_BMP] = "bmp", [FMT_GIF] = "gif"};
  info->format = lower[fmt];
  if (fmt == FMT_NONE) return;
  if (header_dims(fmt, p, n, &w, &h) && w > 0 && h > 0) {
    info->width = (long long)w;
    info->height = (long long)h;
  }
}
