/*
** safetensors reader: memory-mapped files, full header validation, sharded index files.
** See safetensors.h for the API and the rules enforced.  JSON parsing is cJSON's.
*/
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"

static const struct { const char *name; int bits; } st_dtypes[LG_ST_NDTYPES] = {
  [LG_ST_BOOL] = {"BOOL", 8},     [LG_ST_U8] = {"U8", 8},           [LG_ST_I8] = {"I8", 8},
  [LG_ST_F8_E5M2] = {"F8_E5M2", 8}, [LG_ST_F8_E4M3] = {"F8_E4M3", 8}, [LG_ST_F8_E8M0] = {"F8_E8M0", 8},
  [LG_ST_I16] = {"I16", 16},      [LG_ST_U16] = {"U16", 16},        [LG_ST_F16] = {"F16", 16},
  [LG_ST_BF16] = {"BF16", 16},    [LG_ST_I32] = {"I32", 32},        [LG_ST_U32] = {"U32", 32},
  [LG_ST_F32] = {"F32", 32},      [LG_ST_F64] = {"F64", 64},        [LG_ST_I64] = {"I64", 64},
  [LG_ST_U64] = {"U64", 64},      [LG_ST_C64] = {"C64", 64},        [LG_ST_F4] = {"F4", 4},
  [LG_ST_F6_E2M3] = {"F6_E2M3", 6}, [LG_ST_F6_E3M2] = {"F6_E3M2", 6},
};

const char *lg_st_dtype_name(lg_st_dtype dt) {
  return (unsigned)dt < LG_ST_NDTYPES ? st_dtypes[dt].name : "?";
}

int lg_st_dtype_bits(lg_st_dtype dt) {
  return (unsigned)dt < LG_ST_NDTYPES ? st_dtypes[dt].bits : 0;
}

void lg_st_shape_str(const int64_t *shape, int ndim, char *buf, size_t n) {
  size_t k = 0;
  if (n == 0) return;
  buf[0] = 0;
  k += (size_t)snprintf(buf + k, n - k, "[");
  for (int i = 0; i < ndim && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
}

/* A JSON number that is an exact non-negative integer <= 2^53; -1 otherwise. */
static int json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return -1;
  *out = (uint64_t)d;
  return 0;
}

static int by_begin(const void *a, const void *b) {
  const lg_st_tensor *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const lg_st_tensor *)a)->name, ((const lg_st_tensor *)b)->name);
}

/* 1 when s looks like a dtype name (1..16 of A-Z, 0-9, '_'), so it can be quoted in a message. */
static int dtype_like(const char *s) {
  size_t k = 0;
  for (; s[k]; k++)
    if (k >= 16 || !(isupper((unsigned char)s[k]) || isdigit((unsigned char)s[k]) || s[k] == '_')) return 0;
  return k > 0;
}

/* 1 when buf[0..n) starts with the ASCII text s, ignoring case. */
static int starts_with_ci(const unsigned char *buf, size_t n, const char *s) {
  size_t k = strlen(s);
  return n >= k && strncasecmp((const char *)buf, s, k) == 0;
}

void lg_st_torch_hint(const char *path, char *out, size_t cap) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  int plain = base[0] != 0;
  for (const char *p = base; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-')) plain = 0;
  snprintf(out, cap, "convert it once, in its directory: python3 -c \"import torch, safetensors.torch as st; "
           "sd = torch.load('%s', map_location='cpu'); sd = sd.get('state_dict', sd); "
           "st.save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')\" "
           "(docs/checkpoints.md)", plain ? base : "model.bin");
}

int lg_st_check_foreign(const unsigned char *buf, size_t n, const char *name, lg_err *err) {
  const char *torch = NULL;
  if (starts_with_ci(buf, n, "version https://git-lfs.github.com/spec/v1"))
    return lg_errf(err, "'%s' is a Git LFS pointer, not the weights: run `git lfs pull` in that repository "
                   "(or download the file itself)", name);
  if (n >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0) torch = "a zip archive";
  else if (n >= 3 && buf[0] == 0x80 && buf[1] >= 2 && buf[1] <= 5 && buf[2] != 0) torch = "a pickle";
  if (torch) {
    char hint[512];
    lg_st_torch_hint(name, hint, sizeof hint);
    return lg_errf(err, "'%s' is a PyTorch checkpoint (%s), not safetensors: %s", name, torch, hint);
  }
  size_t k = 0;
  while (k < n && k < 64 && isspace(buf[k])) k++;
  if (starts_with_ci(buf + k, n - k, "<!doctype html") || starts_with_ci(buf + k, n - k, "<html"))
    return lg_errf(err, "'%s' is an HTML page, not the weights (a failed download? fetch the file again)", name);
  return 0;
}

/* Parses one header entry into t (name not yet set).  Returns 0 or -1. */
static int parse_entry(const cJSON *e, const char *file, lg_st_tensor *t, lg_err *err) {
  const char *nm = e->string;
  if (!cJSON_IsObject(e)) return lg_errf(err, "%s: tensor '%s': header entry is not an object", file, nm);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsString(dt)) return lg_errf(err, "%s: tensor '%s': missing string 'dtype'", file, nm);
  int k = 0;
  while (k < LG_ST_NDTYPES && strcmp(st_dtypes[k].name, dt->valuestring) != 0) k++;
  if (k == LG_ST_NDTYPES) {
    if (dtype_like(dt->valuestring))
      return lg_errf(err, "%s: tensor '%s': unknown dtype '%s'", file, nm, dt->valuestring);
    return lg_errf(err, "%s: tensor '%s': 'dtype' is not a dtype name (a string of %zu bytes; expected "
                   "F32, F16, BF16 or another safetensors dtype)", file, nm, strlen(dt->valuestring));
  }
  t->dtype = (lg_st_dtype)k;
  if (!cJSON_IsArray(sh)) return lg_errf(err, "%s: tensor '%s': missing array 'shape'", file, nm);
  int nd = cJSON_GetArraySize(sh);
  if (nd > LG_ST_MAX_DIMS)
    return lg_errf(err, "%s: tensor '%s': rank %d, at most %d supported", file, nm, nd, LG_ST_MAX_DIMS);
  t->ndim = nd;
  uint64_t numel = 1;
  int i = 0;
  for (const cJSON *d = sh->child; d; d = d->next, i++) {
    uint64_t v;
    if (json_uint(d, &v)) return lg_errf(err, "%s: tensor '%s': shape[%d] is not a non-negative integer", file, nm, i);
    if (__builtin_mul_overflow(numel, v, &numel) || numel > (UINT64_C(1) << 60))
      return lg_errf(err, "%s: tensor '%s': shape has more than 2^60 elements", file, nm);
    t->shape[i] = (int64_t)v;
  }
  t->numel = (int64_t)numel;
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || json_uint(off->child, &t->begin) ||
      json_uint(off->child->next, &t->end))
    return lg_errf(err, "%s: tensor '%s': 'data_offsets' must be [begin, end] non-negative integers", file, nm);
  if (t->end < t->begin)
    return lg_errf(err, "%s: tensor '%s': data_offsets [%llu,%llu] end before begin", file, nm,
                   (unsigned long long)t->begin, (unsigned long long)t->end);
  uint64_t bits;
  char s[160];
  lg_st_shape_str(t->shape, t->ndim, s, sizeof s);
  if (__builtin_mul_overflow(numel, (uint64_t)st_dtypes[k].bits, &bits))
    return lg_errf(err, "%s: tensor '%s': shape %s x %s needs more than 2^61 bytes", file, nm, s, st_dtypes[k].name);
  if (bits % 8)
    return lg_errf(err, "%s: tensor '%s': %s x %s is not a whole number of bytes", file, nm, s, st_dtypes[k].name);
  if (t->end - t->begin != bits / 8)
    return lg_errf(err, "%s: tensor '%s': data_offsets [%llu,%llu] hold %llu bytes, expected %llu for shape %s x %s",
                   file, nm, (unsigned long long)t->begin, (unsigned long long)t->end,
                   (unsigned long long)(t->end - t->begin), (unsigned long long)(bits / 8), s, st_dtypes[k].name);
  return 0;
}

int lg_st_parse(lg_st *st, const unsigned char *buf, size_t n, const char *name, lg_err *err) {
  lg_st_tensor *loc = NULL;
  cJSON *root = NULL;
  int nloc = 0, rc = -1;
  uint64_t hn = 0;
  for (int i = 7; i >= 0 && n >= 8; i--) hn = (hn << 8) | buf[i];
  /* A safetensors file has its header length first and '{' at byte 8: anything else is described
  ** (what kind of file it is) rather than quoted. */
  if ((n <= 8 || buf[8] != '{' || hn > LG_ST_MAX_HEADER) && lg_st_check_foreign(buf, n, name, err)) return -1;
  if (n < 8) return lg_errf(err, "%s: %zu bytes, too short for a safetensors file (at least 8)", name, n);
  if (hn > LG_ST_MAX_HEADER)
    return lg_errf(err, "%s: not a safetensors file: its first 8 bytes, read as the header length, exceed "
                   "the %llu-byte limit (file of %zu bytes)", name, LG_ST_MAX_HEADER, n);
  if (n == 8 || buf[8] != '{')   /* before the length is quoted: only a JSON header's length is */
    return lg_errf(err, "%s: not a safetensors file: the header does not start with '{' (file of %zu bytes)", name, n);
  if (hn > n - 8)
    return lg_errf(err, "%s: header length %llu runs past the end of the file (%zu bytes)", name,
                   (unsigned long long)hn, n);
  const char *end = NULL;
  root = cJSON_ParseWithLengthOpts((const char *)buf + 8, (size_t)hn, &end, 0);
  if (!root || !cJSON_IsObject(root)) {
    lg_errf(err, "%s: header is not a valid JSON object", name);
    goto done;
  }
  for (const char *p = end; p && p < (const char *)buf + 8 + hn; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
      lg_errf(err, "%s: header has bytes after the JSON object (at offset %zu)", name,
              (size_t)(p - (const char *)buf));
      goto done;
    }
  int cap = cJSON_GetArraySize(root);
  loc = calloc((size_t)(cap ? cap : 1), sizeof *loc);
  if (!loc) { lg_errf(err, "%s: out of memory", name); goto done; }
  for (const cJSON *e = root->child; e; e = e->next) {
    if (strcmp(e->string, "__metadata__") == 0) continue;
    lg_st_tensor *t = &loc[nloc];
    memset(t, 0, sizeof *t);
    if (parse_entry(e, name, t, err)) goto done;
    t->name = e->string;   /* borrowed until copied below */
    nloc++;
  }
  /* Contiguity: sorted by offset, starting at 0, no gaps or overlaps, ending at EOF. */
  qsort(loc, (size_t)nloc, sizeof *loc, by_begin);
  uint64_t pos = 0, data_size = n - 8 - hn;
  for (int i = 0; i < nloc; i++) {
    if (loc[i].begin != pos) {
      lg_errf(err, "%s: tensor '%s': data starts at byte %llu, expected %llu (tensors must be contiguous)",
              name, loc[i].name, (unsigned long long)loc[i].begin, (unsigned long long)pos);
      goto done;
    }
    pos = loc[i].end;
  }
  if (pos != data_size) {
    lg_errf(err, "%s: tensor data ends at byte %llu but the file holds %llu data bytes (truncated or padded)",
            name, (unsigned long long)pos, (unsigned long long)data_size);
    goto done;
  }
  lg_st_tensor *all = realloc(st->tensors, (size_t)(st->n_tensors + nloc + 1) * sizeof *all);
  if (!all) { lg_errf(err, "%s: out of memory", name); goto done; }
  st->tensors = all;
  int base = st->n_tensors;
  for (int i = 0; i < nloc; i++) {
    lg_st_tensor *t = &all[base + i];
    *t = loc[i];
    t->data = buf + 8 + hn + loc[i].begin;
    t->file = name;
    t->name = strdup(loc[i].name);
    if (!t->name) {
      st->n_tensors = base + i;
      lg_errf(err, "%s: out of memory", name);
      goto done;
    }
  }
  st->n_tensors = base + nloc;
  qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, by_name);
  for (int i = 1; i < st->n_tensors; i++)
    if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0) {
      lg_errf(err, "%s: tensor '%s' appears twice", name, st->tensors[i].name);
      goto done;
    }
  rc = 0;
done:
  free(loc);
  cJSON_Delete(root);
  return rc;
}

/* Maps `path` read-only into a new entry of st->files. */
static int map_file(lg_st *st, const char *path, lg_st_file **out, lg_err *err) {
  int fd = -1, rc = -1;
  struct stat sb;
  lg_st_file *files = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *files);
  if (!files) return lg_errf(err, "%s: out of memory", path);
  st->files = files;
  lg_st_file *f = &files[st->n_files];
  memset(f, 0, sizeof *f);
  fd = lg_file_open_regular(path, &sb, err);
  if (fd < 0) goto done;
  if ((unsigned long long)sb.st_size > SIZE_MAX) { lg_errf(err, "%s: too large to map", path); goto done; }
  f->path = strdup(path);
  if (!f->path) { lg_errf(err, "%s: out of memory", path); goto done; }
  f->size = (size_t)sb.st_size;
  if (f->size) {
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
      f->map = NULL;
      free(f->path);
      lg_errf(err, "%s: mmap failed: %s", path, strerror(errno));
      goto done;
    }
  }
  st->n_files++;
  *out = f;
  rc = 0;
done:
  if (fd >= 0) close(fd);
  return rc;
}

int lg_st_open(lg_st *st, const char *path, lg_err *err) {
  lg_st_file *f;
  memset(st, 0, sizeof *st);
  if (map_file(st, path, &f, err)) {
    lg_st_close(st);
    return -1;
  }
  static const unsigned char empty[1];
  if (lg_st_parse(st, f->map ? f->map : empty, f->size, f->path, err)) {
    lg_st_close(st);
    return -1;
  }
  return 0;
}

/* A shard name as Hugging Face writes them: NAME.safetensors, no directory part, not hidden. */
static int plain_shard_name(const char *s) {
  size_t k = strlen(s), ext = strlen(".safetensors");
  return k > ext && k <= 255 && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\') &&
         strcmp(s + k - ext, ".safetensors") == 0;
}

int lg_st_open_index(lg_st *st, const char *index_path, lg_err *err) {
  size_t n = 0;
  char *text = NULL, *dir = NULL, *shard = NULL;
  cJSON *root = NULL;
  int rc = -1;
  memset(st, 0, sizeof *st);
  text = lg_file_read_all(index_path, LG_ST_MAX_INDEX, "safetensors index", &n, err);
  if (!text) return -1;
  root = cJSON_ParseWithLength(text, n);
  const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
  if (!cJSON_IsObject(wm)) { lg_errf(err, "%s: no 'weight_map' object", index_path); goto done; }
  dir = strdup(index_path);
  if (!dir) { lg_errf(err, "%s: out of memory", index_path); goto done; }
  char *slash = strrchr(dir, '/');
  if (slash) slash[1] = 0; else dir[0] = 0;
  for (const cJSON *e = wm->child; e; e = e->next) {
    if (!cJSON_IsString(e) || !plain_shard_name(e->valuestring)) {
      lg_errf(err, "%s: weight_map['%s'] is not a plain shard file name (NAME.safetensors in the index's "
              "directory)", index_path, e->string);
      goto done;
    }
    int seen = 0;
    for (int i = 0; i < st->n_files && !seen; i++) {
      const char *b = strrchr(st->files[i].path, '/');
      seen = strcmp(b ? b + 1 : st->files[i].path, e->valuestring) == 0;
    }
    if (seen) continue;
    free(shard);
    shard = malloc(strlen(dir) + strlen(e->valuestring) + 1);
    if (!shard) { lg_errf(err, "%s: out of memory", index_path); goto done; }
    strcpy(shard, dir);
    strcat(shard, e->valuestring);
    lg_st_file *f;
    if (map_file(st, shard, &f, err)) goto done;
    static const unsigned char empty[1];
    if (lg_st_parse(st, f->map ? f->map : empty, f->size, f->path, err)) goto done;
  }
  for (const cJSON *e = wm->child; e; e = e->next) {
    const lg_st_tensor *t = lg_st_find(st, e->string);
    const char *b = t ? strrchr(t->file, '/') : NULL;
    if (!t || strcmp(b ? b + 1 : t->file, e->valuestring) != 0) {
      lg_errf(err, "%s: tensor '%s' is not in shard '%s'", index_path, e->string, e->valuestring);
      goto done;
    }
  }
  rc = 0;
done:
  if (rc) lg_st_close(st);
  cJSON_Delete(root);
  free(text);
  free(dir);
  free(shard);
  return rc;
}

const lg_st_tensor *lg_st_find(const lg_st *st, const char *name) {
  int lo = 0, hi = st->n_tensors - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(st->tensors[mid].name, name);
    if (c == 0) return &st->tensors[mid];
    if (c < 0) lo = mid + 1; else hi = mid - 1;
  }
  return NULL;
}

float lg_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {                     /* subnormal: normalise */
      int e = -1;
      do { e++; man <<= 1; } while (!(man & 0x400));
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

float lg_bf16_to_f32(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* Widens the first multiple-of-8 F16 values with the F16C instruction (same results as
** lg_f16_to_f32: the conversion is exact) when the CPU has it; returns how many were done. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx,f16c"))) static int64_t f16c_loop(const unsigned char *p, float *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i))));
  return i;
}
static int64_t f16c_widen(const unsigned char *p, float *dst, int64_t n) {
  /* every AVX2 CPU (Intel Haswell, AMD Zen and later) has F16C; clang 14 cannot test "f16c" */
  return __builtin_cpu_supports("avx2") ? f16c_loop(p, dst, n) : 0;
}
#else
static int64_t f16c_widen(const unsigned char *p, float *dst, int64_t n) { return 0; }
#endif

int lg_st_read_f32(const lg_st_tensor *t, float *dst, lg_err *err) {
  const unsigned char *p = t->data;
  int64_t n = t->numel;
  switch (t->dtype) {
  case LG_ST_F32:
    memcpy(dst, p, (size_t)n * 4);
    return 0;
  case LG_ST_F16: {
    int64_t i = f16c_widen(p, dst, n);
    for (; i < n; i++) dst[i] = lg_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
    return 0;
  }
  case LG_ST_BF16:
    for (int64_t i = 0; i < n; i++) {
      uint32_t bits = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
      memcpy(dst + i, &bits, 4);
    }
    return 0;
  case LG_ST_F64:
    for (int64_t i = 0; i < n; i++) {
      double d;
      memcpy(&d, p + 8 * i, 8);
      dst[i] = (float)d;
    }
    return 0;
  default:
    return lg_errf(err, "%s: tensor '%s': dtype %s is not a floating type (expected F32, F16 or BF16)",
                   t->file, t->name, lg_st_dtype_name(t->dtype));
  }
}

void lg_st_close(lg_st *st) {
  for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
  free(st->tensors);
  for (int i = 0; i < st->n_files; i++) {
    if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
    free(st->files[i].path);
  }
  free(st->files);
  memset(st, 0, sizeof *st);
}
