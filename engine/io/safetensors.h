/*
** safetensors reader (huggingface/safetensors "Format"; spec clip-engine.md §1.1).
**
**   lg_st st;
**   if (lg_st_open(&st, "model.safetensors", &err)) ...;          // one file, memory-mapped
**   if (lg_st_open_index(&st, "model.safetensors.index.json", &err)) ...;   // sharded checkpoint
**   const lg_st_tensor *t = lg_st_find(&st, "visual.proj");
**   float *buf = malloc(t->numel * sizeof(float));
**   lg_st_read_f32(t, buf, &err);                                 // F32/F16/BF16 widened to F32
**   lg_st_close(&st);
**
** Files are opened with lg_file_open_regular (file_read.h): regular files only, never blocking.
** The header is validated completely at open time: length <= 100,000,000 and inside the file, JSON
** object starting with '{', every entry with a known dtype, a shape of non-negative integers
** (rank <= LG_ST_MAX_DIMS), data_offsets [begin,end] with end-begin == numel * dtype size, tensors
** contiguous from offset 0 and ending exactly at the end of the file, no duplicate names; every size
** product is overflow-checked.  Git LFS pointers, PyTorch checkpoints and HTML pages are named as
** such.  An index's shards are plain NAME.safetensors names in the index's own directory.
** `__metadata__` is skipped.  Tensor data may be unaligned; reads go through memcpy.
** lg_st_parse() validates a buffer already in memory (used by open and by the fuzzer).
*/
#ifndef LEGRAD_SAFETENSORS_H
#define LEGRAD_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "lg_error.h"

#define LG_ST_MAX_DIMS 8
#define LG_ST_MAX_HEADER 100000000ull
#define LG_ST_MAX_INDEX (64u << 20)   /* bytes of a *.safetensors.index.json */

typedef enum lg_st_dtype {
  LG_ST_BOOL, LG_ST_U8, LG_ST_I8, LG_ST_F8_E5M2, LG_ST_F8_E4M3, LG_ST_F8_E8M0, LG_ST_I16,
  LG_ST_U16, LG_ST_F16, LG_ST_BF16, LG_ST_I32, LG_ST_U32, LG_ST_F32, LG_ST_F64, LG_ST_I64,
  LG_ST_U64, LG_ST_C64, LG_ST_F4, LG_ST_F6_E2M3, LG_ST_F6_E3M2, LG_ST_NDTYPES
} lg_st_dtype;

typedef struct lg_st_tensor {
  char *name;                    /* owned */
  lg_st_dtype dtype;
  int ndim;
  int64_t shape[LG_ST_MAX_DIMS];
  int64_t numel;                 /* product of shape (1 for rank 0) */
  uint64_t begin, end;           /* byte offsets relative to the data section */
  const unsigned char *data;     /* start of this tensor's bytes (may be unaligned) */
  const char *file;              /* path of the file it lives in (owned by lg_st) */
} lg_st_tensor;

typedef struct lg_st_file {
  char *path;                    /* owned */
  unsigned char *map;            /* mmap'ed bytes, or NULL for an in-memory buffer */
  size_t size;
} lg_st_file;

typedef struct lg_st {
  lg_st_file *files;  int n_files;
  lg_st_tensor *tensors; int n_tensors;   /* sorted by name */
} lg_st;

/* dtype name ("F32") and element size in bits (F4 = 4, F6_* = 6). */
const char *lg_st_dtype_name(lg_st_dtype dt);
int lg_st_dtype_bits(lg_st_dtype dt);

/* Parses and validates a safetensors image buf[0..n) named `name` (for messages) and appends its
** tensors to st (pointing into buf, which must outlive st).  Returns 0 or -1 with err set. */
int lg_st_parse(lg_st *st, const unsigned char *buf, size_t n, const char *name, lg_err *err);

/* When buf[0..n) (the start of a file named `name`) is recognisably something else than
** safetensors, writes what it is and what to do into err and returns -1; else returns 0:
**   "'NAME' is a Git LFS pointer, not the weights: run `git lfs pull` in that repository (or
**    download the file itself)"
**   "'NAME' is a PyTorch checkpoint (a zip archive|a pickle), not safetensors: convert it once, ..."
**   "'NAME' is an HTML page, not the weights (a failed download? fetch the file again)"
** lg_st_parse calls it when a buffer does not start like a safetensors file (a real file whose
** header length happens to begin with a pickle's bytes is never taken for one). */
int lg_st_check_foreign(const unsigned char *buf, size_t n, const char *name, lg_err *err);

/* Writes into out how to convert the PyTorch checkpoint at path to model.safetensors: a python3
** one-liner naming the file (its base name when that is plain, else 'model.bin'). */
void lg_st_torch_hint(const char *path, char *out, size_t cap);

/* Opens one file (st is initialised here).  Returns 0 or -1 (st left empty). */
int lg_st_open(lg_st *st, const char *path, lg_err *err);

/* Opens a sharded checkpoint from its index.json: every shard named in weight_map is opened once;
** each tensor must live in the shard the map names. */
int lg_st_open_index(lg_st *st, const char *index_path, lg_err *err);

/* Finds a tensor by exact name; NULL when absent. */
const lg_st_tensor *lg_st_find(const lg_st *st, const char *name);

/* Converts a floating tensor (F32/F16/BF16/F64) to F32 into dst[numel].  Other dtypes: -1. */
int lg_st_read_f32(const lg_st_tensor *t, float *dst, lg_err *err);

/* "[768,3,16,16]" into buf. */
void lg_st_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

void lg_st_close(lg_st *st);

/* IEEE binary16 / bfloat16 -> float. */
float lg_f16_to_f32(uint16_t h);
float lg_bf16_to_f32(uint16_t b);

#endif
