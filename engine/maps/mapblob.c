/*
** Map blob codec (mapblob.h, docs/map-format.md).
**
** Layout (all integers little-endian; version 2 differs from version 1 only where marked):
**
**   off  size  field
**     0     4  magic "LGRM"
**     4     1  version (1 or 2)
**     5     1  method (1 = legrad, 2 = external; v2: 1..255, ids of the method table)
**     6     1  frame mode (0 = not recorded, 1 = crop, 2 = squash)
**     7     1  v1: reserved, 0;  v2: no = length of the options record
**     8     4  flags (LG_MAP_F_*)
**    12     2  gh          14  2  gw          16  2  patch        18  2  n_layers
**    20     4  frame.src_w 24  4  frame.src_h 28  4  frame.rw     32  4  frame.rh
**    36     4  frame.cx    40  4  frame.cy
**    44     4  score (IEEE-754 float32; NaN = not recorded, written as 0x7fc00000)
**    48    32  fingerprint: lower-case hex digits, NUL-padded (all NUL = unknown)
**    80     4  raw_len = gh*gw*4
**    84     4  stored_len (bytes of payload as stored)
**    88  2*nl  layers (u16 each, strictly ascending)
**     .    no  v2: the method's options, ASCII "start_layer=1" (no NUL)
**     .  stored_len  payload: gh*gw float32 row-major, or its zlib stream (flag COMPRESSED)
**     .     4  CRC-32 (zlib's crc32) of every preceding byte
**
** HOW IT WORKS: the encoder validates the struct, serialises the grid, compresses it with zlib at
** level 9 and keeps the stream only if it is strictly smaller.  The decoder checks the sizes it needs
** to find the end of the blob, then the checksum, then every field, then inflates into a buffer of
** exactly raw_len bytes and checks the stream filled it and was consumed entirely.
*/
#include "mapblob.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define TRAILER 4

/* Little-endian writers/readers on byte buffers (no alignment or host-order assumptions). */
static void put_u16(unsigned char *p, uint32_t v) { p[0] = v & 255; p[1] = (v >> 8) & 255; }
static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = v & 255; p[1] = (v >> 8) & 255; p[2] = (v >> 16) & 255; p[3] = (v >> 24) & 255;
}
static uint32_t get_u16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Checks the frame against the grid: not recorded (all zero) or a consistent crop/squash frame. */
static int validate_frame(const lg_map *m, lg_err *err) {
  const lg_frame *f = &m->frame;
  if (f->src_w == 0) {
    if (f->src_h || f->rw || f->rh || f->cx || f->cy || f->size)
      return lg_errf(err, "frame: src_w is 0 (not recorded) but other frame fields are set "
                          "(src_h %d, rw %d, rh %d, cx %d, cy %d, size %d)",
                     f->src_h, f->rw, f->rh, f->cx, f->cy, f->size);
    return 0;
  }
  if (f->mode != LG_RESIZE_CROP && f->mode != LG_RESIZE_SQUASH)
    return lg_errf(err, "frame: unknown resize mode %d", (int)f->mode);
  if (f->src_w < 1 || f->src_h < 1 ||
      (uint64_t)f->src_w * (uint64_t)f->src_h > (uint64_t)LG_IMAGE_MAX_PIXELS)
    return lg_errf(err, "frame: source size %dx%d out of range (expected 1..%u pixels)",
                   f->src_w, f->src_h, (unsigned)LG_IMAGE_MAX_PIXELS);
  if (m->gh != m->gw)
    return lg_errf(err, "frame: a recorded frame needs a square grid, found %dx%d", m->gh, m->gw);
  if (f->size != m->gh * m->patch)
    return lg_errf(err, "frame: size %d does not match gh*patch = %d", f->size, m->gh * m->patch);
  if (f->rw < f->size || f->rh < f->size)
    return lg_errf(err, "frame: resized size %dx%d is smaller than the input size %d", f->rw,
                   f->rh, f->size);
  if (f->cx < 0 || f->cy < 0 || f->cx > f->rw - f->size || f->cy > f->rh - f->size)
    return lg_errf(err, "frame: crop offset (%d, %d) puts the %dx%d input outside the resized "
                        "%dx%d image", f->cx, f->cy, f->size, f->size, f->rw, f->rh);
  if (f->mode == LG_RESIZE_SQUASH && (f->rw != f->size || f->rh != f->size || f->cx || f->cy))
    return lg_errf(err, "frame: squash mode needs rw = rh = %d and no crop offset, found %dx%d "
                        "at (%d, %d)", f->size, f->rw, f->rh, f->cx, f->cy);
  return 0;
}

/* The version the encoder writes for m: 1 whenever version 1 can express it. */
static int map_version(const lg_map *m) {
  return (m->method == LG_METHOD_LEGRAD || m->method == LG_METHOD_EXTERNAL) && !m->options[0] ? 1 : 2;
}

/* The options record: at most LG_MAP_MAX_OPTIONS characters of a-z 0-9 _ = , . + -. */
static int validate_options(const lg_map *m, lg_err *err) {
  size_t n = strnlen(m->options, sizeof m->options);
  if (n > LG_MAP_MAX_OPTIONS)
    return lg_errf(err, "options record longer than %d bytes", LG_MAP_MAX_OPTIONS);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)m->options[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '=' || c == ',' ||
          c == '.' || c == '+' || c == '-'))
      return lg_errf(err, "options record byte %zu is 0x%02x (expected a-z 0-9 _ = , . + -)", i, c);
  }
  return 0;
}

/* Every field but the grid values. */
static int validate_fields(const lg_map *m, lg_err *err) {
  if ((int)m->method < 1 || (int)m->method > LG_METHOD_MAX)
    return lg_errf(err, "unknown method %d (expected 1 = legrad, 2 = external, or a method id up "
                        "to %d)", (int)m->method, LG_METHOD_MAX);
  if (validate_options(m, err)) return -1;
  if (m->flags & ~(uint32_t)LG_MAP_F_ALL)
    return lg_errf(err, "unknown flag bits 0x%x (known: 0x%x)", (unsigned)(m->flags & ~(uint32_t)LG_MAP_F_ALL),
                   (unsigned)LG_MAP_F_ALL);
  if (m->gh < 1 || m->gw < 1 || m->gh > LG_MAP_MAX_GRID || m->gw > LG_MAP_MAX_GRID)
    return lg_errf(err, "grid size %dx%d out of range (expected 1..%d each)", m->gh, m->gw,
                   LG_MAP_MAX_GRID);
  if (m->patch < 1 || m->patch > LG_MAP_MAX_PATCH)
    return lg_errf(err, "patch %d out of range (expected 1..%d)", m->patch, LG_MAP_MAX_PATCH);
  if (m->gh * m->patch > LG_MAP_MAX_INPUT || m->gw * m->patch > LG_MAP_MAX_INPUT)
    return lg_errf(err, "input size %dx%d (grid x patch) exceeds %d", m->gw * m->patch,
                   m->gh * m->patch, LG_MAP_MAX_INPUT);
  if (m->n_layers < 0 || m->n_layers > LG_MAP_MAX_LAYERS)
    return lg_errf(err, "layer count %d out of range (expected 0..%d)", m->n_layers,
                   LG_MAP_MAX_LAYERS);
  for (int i = 0; i < m->n_layers; i++) {
    if (m->layers[i] < 0 || m->layers[i] > LG_MAP_MAX_LAYER_INDEX)
      return lg_errf(err, "layer %d at position %d out of range (expected 0..%d)", m->layers[i], i,
                     LG_MAP_MAX_LAYER_INDEX);
    if (i > 0 && m->layers[i] <= m->layers[i - 1])
      return lg_errf(err, "layers must be strictly ascending: %d at position %d follows %d",
                     m->layers[i], i, m->layers[i - 1]);
  }
  if ((m->flags & LG_MAP_F_SINGLE_LAYER) && m->n_layers != 1)
    return lg_errf(err, "the single-layer flag needs exactly 1 layer, found %d", m->n_layers);
  if (isinf(m->score)) return lg_errf(err, "score is infinite (expected a finite number or NaN)");
  size_t nf = strnlen(m->fingerprint, sizeof m->fingerprint);
  if (nf > 32) return lg_errf(err, "fingerprint longer than 32 characters");
  for (size_t i = 0; i < nf; i++) {
    char c = m->fingerprint[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return lg_errf(err, "fingerprint character %zu is 0x%02x: expected lower-case hex digits",
                     i, (unsigned char)c);
  }
  return validate_frame(m, err);
}

/* The grid values: finite, and in [0, 1] when the normalised flag is set. */
static int validate_values(const lg_map *m, lg_err *err) {
  for (int r = 0; r < m->gh; r++)
    for (int c = 0; c < m->gw; c++) {
      float v = m->grid[(size_t)r * m->gw + c];
      if (!isfinite(v))
        return lg_errf(err, "grid value at row %d, column %d is %s", r, c, isnan(v) ? "NaN" : "Inf");
      if ((m->flags & LG_MAP_F_NORMALISED) && !(v >= 0.0f && v <= 1.0f))
        return lg_errf(err, "grid value %.9g at row %d, column %d is outside [0, 1] although the "
                            "normalised flag is set", (double)v, r, c);
    }
  return 0;
}

int lg_map_validate(const lg_map *m, lg_err *err) {
  if (validate_fields(m, err)) return -1;
  if (!m->grid) return lg_errf(err, "grid is missing");
  return validate_values(m, err);
}

/* 1 when every grid value equals the first one. */
static int grid_is_constant(const float *g, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (g[i] != g[0]) return 0;
  return 1;
}

void lg_map_input_size(const lg_map *m, int *w, int *h) {
  *w = m->gw * m->patch;
  *h = m->gh * m->patch;
}

int lg_map_encode(const lg_map *m, unsigned char **out, size_t *n_out, lg_err *err) {
  int rc = -1;
  unsigned char *raw = NULL, *z = NULL, *blob = NULL;
  *out = NULL;
  *n_out = 0;
  if (lg_map_validate(m, err)) goto done;

  size_t cells = (size_t)m->gh * (size_t)m->gw, raw_len = cells * 4;
  raw = malloc(raw_len);
  uLongf z_len = compressBound((uLong)raw_len);
  z = malloc(z_len);
  if (!raw || !z) { lg_errf(err, "out of memory encoding a %dx%d map", m->gh, m->gw); goto done; }
  for (size_t i = 0; i < cells; i++) put_u32(raw + 4 * i, f32_bits(m->grid[i]));

  uint32_t flags = m->flags & ~(uint32_t)(LG_MAP_F_CONSTANT | LG_MAP_F_COMPRESSED);
  if (grid_is_constant(m->grid, cells)) flags |= LG_MAP_F_CONSTANT;
  const unsigned char *payload = raw;
  size_t stored = raw_len;
  if (compress2(z, &z_len, raw, (uLong)raw_len, 9) == Z_OK && z_len < raw_len) {
    flags |= LG_MAP_F_COMPRESSED;
    payload = z;
    stored = z_len;
  }

  int version = map_version(m);
  size_t n_opt = strlen(m->options);
  size_t hdr = LG_MAP_FIXED_HEADER + 2 * (size_t)m->n_layers + n_opt, n = hdr + stored + TRAILER;
  blob = calloc(1, n);
  if (!blob) { lg_errf(err, "out of memory encoding a %dx%d map", m->gh, m->gw); goto done; }
  const lg_frame *f = &m->frame;
  memcpy(blob, LG_MAP_MAGIC, 4);
  blob[4] = (unsigned char)version;
  blob[5] = (unsigned char)m->method;
  blob[6] = f->src_w == 0 ? 0 : (f->mode == LG_RESIZE_CROP ? 1 : 2);
  blob[7] = (unsigned char)n_opt;  /* 0 in version 1 */
  put_u32(blob + 8, flags);
  put_u16(blob + 12, (uint32_t)m->gh);
  put_u16(blob + 14, (uint32_t)m->gw);
  put_u16(blob + 16, (uint32_t)m->patch);
  put_u16(blob + 18, (uint32_t)m->n_layers);
  put_u32(blob + 20, (uint32_t)f->src_w);
  put_u32(blob + 24, (uint32_t)f->src_h);
  put_u32(blob + 28, (uint32_t)f->rw);
  put_u32(blob + 32, (uint32_t)f->rh);
  put_u32(blob + 36, (uint32_t)f->cx);
  put_u32(blob + 40, (uint32_t)f->cy);
  put_u32(blob + 44, isnan(m->score) ? 0x7fc00000u : f32_bits(m->score));
  memcpy(blob + 48, m->fingerprint, strnlen(m->fingerprint, 32));
  put_u32(blob + 80, (uint32_t)raw_len);
  put_u32(blob + 84, (uint32_t)stored);
  for (int i = 0; i < m->n_layers; i++) put_u16(blob + LG_MAP_FIXED_HEADER + 2 * i, (uint32_t)m->layers[i]);
  memcpy(blob + LG_MAP_FIXED_HEADER + 2 * (size_t)m->n_layers, m->options, n_opt);
  memcpy(blob + hdr, payload, stored);
  put_u32(blob + n - TRAILER, (uint32_t)crc32(0L, blob, (uInt)(n - TRAILER)));
  *out = blob;
  *n_out = n;
  blob = NULL;
  rc = 0;
done:
  free(raw);
  free(z);
  free(blob);
  return rc;
}

int lg_map_decode(const void *data, size_t n, lg_map *m, lg_err *err) {
  const unsigned char *b = data;
  unsigned char *raw = NULL;
  int rc = -1;
  memset(m, 0, sizeof *m);
  if (n < 4 || memcmp(b, LG_MAP_MAGIC, 4) != 0) {
    char found[16] = "";
    for (size_t i = 0; i < 4 && i < n; i++) {
      size_t k = strlen(found);
      snprintf(found + k, sizeof found - k, i ? " %02x" : "%02x", b[i]);
    }
    if (n == 0) snprintf(found, sizeof found, "an empty blob");
    lg_errf(err, "expected magic 'LGRM', found %s", found);
    goto done;
  }
  if (n < LG_MAP_FIXED_HEADER + TRAILER) {
    lg_errf(err, "blob too short: expected at least %d bytes, found %zu",
            LG_MAP_FIXED_HEADER + TRAILER, n);
    goto done;
  }
  if (b[4] < 1 || b[4] > LG_MAP_VERSION) {
    lg_errf(err, "unsupported version %d (this build reads versions 1 and 2)", b[4]);
    goto done;
  }
  uint32_t n_layers = get_u16(b + 18), raw_len = get_u32(b + 80), stored = get_u32(b + 84);
  uint32_t n_opt = b[4] == 2 ? b[7] : 0;
  if (n_layers > LG_MAP_MAX_LAYERS) {
    lg_errf(err, "layer count %u out of range (expected 0..%d)", n_layers, LG_MAP_MAX_LAYERS);
    goto done;
  }
  uint64_t expect = (uint64_t)LG_MAP_FIXED_HEADER + 2 * (uint64_t)n_layers + n_opt + stored + TRAILER;
  if (expect != n) {
    if (n_opt)
      lg_errf(err, "blob length %zu does not match its header: expected %llu bytes (%d header + "
                   "%u*2 layers + %u options + %u payload + 4 checksum)",
              n, (unsigned long long)expect, LG_MAP_FIXED_HEADER, n_layers, n_opt, stored);
    else
      lg_errf(err, "blob length %zu does not match its header: expected %llu bytes (%d header + "
                   "%u*2 layers + %u payload + 4 checksum)",
              n, (unsigned long long)expect, LG_MAP_FIXED_HEADER, n_layers, stored);
    goto done;
  }
  uint32_t crc_stored = get_u32(b + n - TRAILER);
  uint32_t crc_now = (uint32_t)crc32(0L, b, (uInt)(n - TRAILER));
  if (crc_stored != crc_now) {
    lg_errf(err, "checksum mismatch: stored %08x, computed %08x (the blob is corrupt)", crc_stored,
            crc_now);
    goto done;
  }
  if (b[6] > 2) {
    lg_errf(err, "unknown frame mode %d (expected 0 = not recorded, 1 = crop, 2 = squash)", b[6]);
    goto done;
  }
  if (b[4] == 1 && b[7] != 0) { lg_errf(err, "reserved byte 7 must be 0, found %d", b[7]); goto done; }
  if (b[4] == 1 && b[5] != LG_METHOD_LEGRAD && b[5] != LG_METHOD_EXTERNAL) {
    lg_errf(err, "unknown method %d in a version 1 blob (expected 1 = legrad or 2 = external)", b[5]);
    goto done;
  }
  if (b[4] == 2 && (b[5] == LG_METHOD_LEGRAD || b[5] == LG_METHOD_EXTERNAL) && n_opt == 0) {
    lg_errf(err, "a version 2 blob must record a method id above 2 or options (this map is "
                 "written as version 1)");
    goto done;
  }

  m->version = b[4];
  m->method = (lg_method)b[5];
  m->flags = get_u32(b + 8);
  m->gh = (int)get_u16(b + 12);
  m->gw = (int)get_u16(b + 14);
  m->patch = (int)get_u16(b + 16);
  m->n_layers = (int)n_layers;
  uint32_t fr[6];
  for (int i = 0; i < 6; i++) {
    fr[i] = get_u32(b + 20 + 4 * i);
    if (fr[i] > 0x7fffffffu) {
      lg_errf(err, "frame field at offset %d is %u, larger than 2^31-1", 20 + 4 * i, fr[i]);
      goto done;
    }
  }
  m->frame.src_w = (int)fr[0];
  m->frame.src_h = (int)fr[1];
  m->frame.rw = (int)fr[2];
  m->frame.rh = (int)fr[3];
  m->frame.cx = (int)fr[4];
  m->frame.cy = (int)fr[5];
  if (b[6] == 0 && m->frame.src_w != 0) {
    lg_errf(err, "frame: mode is 0 (not recorded) but src_w is %d", m->frame.src_w);
    goto done;
  }
  if (b[6] != 0 && m->frame.src_w == 0) {
    lg_errf(err, "frame: mode is %d but src_w is 0", b[6]);
    goto done;
  }
  m->frame.mode = b[6] == 2 ? LG_RESIZE_SQUASH : LG_RESIZE_CROP;
  /* frame.size = gh*patch, once both are in range (validate_fields reports them otherwise; the
  ** product of two unchecked u16 fields would overflow an int) */
  if (b[6] != 0 && m->gh <= LG_MAP_MAX_GRID && m->patch <= LG_MAP_MAX_PATCH)
    m->frame.size = m->gh * m->patch;
  m->score = bits_f32(get_u32(b + 44));
  if (isnan(m->score)) m->score = NAN;
  int nul = 0;
  for (int i = 0; i < 32; i++) {
    unsigned char c = b[48 + i];
    if (c == 0) { nul = 1; continue; }
    if (nul) {
      lg_errf(err, "fingerprint byte %d is 0x%02x after NUL padding", i, c);
      goto done;
    }
    m->fingerprint[i] = (char)c;
  }
  for (uint32_t i = 0; i < n_layers; i++) m->layers[i] = (int)get_u16(b + LG_MAP_FIXED_HEADER + 2 * i);
  const unsigned char *opt = b + LG_MAP_FIXED_HEADER + 2 * n_layers;
  for (uint32_t i = 0; i < n_opt; i++) {
    if (opt[i] == 0) { lg_errf(err, "options record byte %u is NUL", i); goto done; }
    m->options[i] = (char)opt[i];
  }

  if (validate_fields(m, err)) goto done;
  uint32_t cells_bytes = (uint32_t)m->gh * (uint32_t)m->gw * 4u;
  if (raw_len != cells_bytes) {
    lg_errf(err, "raw payload length %u does not match the grid: %dx%d floats = %u bytes", raw_len,
            m->gh, m->gw, cells_bytes);
    goto done;
  }
  if (m->flags & LG_MAP_F_COMPRESSED) {
    if (stored >= raw_len) {
      lg_errf(err, "compressed payload (%u bytes) is not smaller than the raw payload (%u bytes)",
              stored, raw_len);
      goto done;
    }
  } else if (stored != raw_len) {
    lg_errf(err, "uncompressed payload is %u bytes, expected gh*gw*4 = %u", stored, raw_len);
    goto done;
  }

  const unsigned char *payload = b + LG_MAP_FIXED_HEADER + 2 * n_layers + n_opt;
  raw = malloc(raw_len);
  m->grid = malloc(raw_len);
  if (!raw || !m->grid) { lg_errf(err, "out of memory decoding a %dx%d map", m->gh, m->gw); goto done; }
  if (m->flags & LG_MAP_F_COMPRESSED) {
    uLongf got = raw_len;
    uLong used = stored;
    int zrc = uncompress2(raw, &got, payload, &used);
    if (zrc != Z_OK) {
      lg_errf(err, "zlib payload is corrupt (%s)",
              zrc == Z_BUF_ERROR ? "truncated, or inflates to more than gh*gw*4 bytes"
              : zrc == Z_MEM_ERROR ? "out of memory" : "invalid deflate data");
      goto done;
    }
    if (got != raw_len) {
      lg_errf(err, "zlib payload inflates to %lu bytes, expected gh*gw*4 = %u", (unsigned long)got, raw_len);
      goto done;
    }
    if (used != stored) {
      lg_errf(err, "zlib stream ends after %lu of %u payload bytes", (unsigned long)used, stored);
      goto done;
    }
  } else {
    memcpy(raw, payload, raw_len);
  }
  size_t cells = (size_t)m->gh * m->gw;
  for (size_t i = 0; i < cells; i++) m->grid[i] = bits_f32(get_u32(raw + 4 * i));
  if (validate_values(m, err)) goto done;
  int constant = grid_is_constant(m->grid, cells);
  if (constant != !!(m->flags & LG_MAP_F_CONSTANT)) {
    lg_errf(err, "the constant flag is %s but the grid is %s", constant ? "clear" : "set",
            constant ? "constant" : "not constant");
    goto done;
  }
  rc = 0;
done:
  free(raw);
  if (rc) lg_map_free(m);
  return rc;
}

void lg_map_free(lg_map *m) {
  if (!m) return;
  free(m->grid);
  m->grid = NULL;
}
