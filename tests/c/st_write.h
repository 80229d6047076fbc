/*
** Test helper: writes safetensors files from raw parts, or a modified copy of an opened one, to
** build the bad inputs the loader must reject.
**
**   st_write_raw(path, header_json, data, n_data, pad)  -> 8-byte length + header (+ pad spaces) + data
**   st_copy_edit(src, path, &edit)   copy of every tensor of src except edit.drop (and, with
**                                    edit.prefix, only those with / without that prefix), with
**                                    edit.name's dtype string / shape replaced (bytes unchanged)
*/
#ifndef LEGRAD_TEST_ST_WRITE_H
#define LEGRAD_TEST_ST_WRITE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static inline int st_write_raw(const char *path, const char *header, const void *data, size_t n, int pad) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  unsigned long long hn = strlen(header) + (size_t)pad;
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)(hn >> (8 * i));
  fwrite(len, 1, 8, f);
  fwrite(header, 1, strlen(header), f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  if (n) fwrite(data, 1, n, f);
  return fclose(f);
}

typedef struct st_edit {
  const char *drop;       /* tensor to leave out, or NULL */
  const char *name;       /* tensor whose header entry is changed, or NULL */
  const char *dtype;      /* new dtype string for `name` (NULL: keep) */
  const char *shape;      /* new shape JSON for `name`, e.g. "[32,64]" (NULL: keep) */
  const char *prefix;     /* keep only tensors whose name starts (skip_prefix: does not start) with it */
  int skip_prefix;
} st_edit;

static inline int st_keep(const st_edit *e, const char *name) {
  if (e->drop && !strcmp(name, e->drop)) return 0;
  if (e->prefix && (strncmp(name, e->prefix, strlen(e->prefix)) == 0) == (e->skip_prefix != 0)) return 0;
  return 1;
}

static inline int st_copy_edit(const lg_st *src, const char *path, const st_edit *e) {
  size_t cap = 1 << 20, len = 0, off = 0, total = 0;
  char *h = malloc(cap);
  if (!h) return -1;
  len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
  for (int i = 0; i < src->n_tensors; i++) {
    const lg_st_tensor *t = &src->tensors[i];
    if (!st_keep(e, t->name)) continue;
    char shape[200];
    lg_st_shape_str(t->shape, t->ndim, shape, sizeof shape);
    int ed = e->name && !strcmp(t->name, e->name);
    size_t nb = t->end - t->begin;
    len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                            t->name, ed && e->dtype ? e->dtype : lg_st_dtype_name(t->dtype),
                            ed && e->shape ? e->shape : shape, off, off + nb);
    off += nb;
  }
  snprintf(h + len, cap - len, "}");
  total = off;
  unsigned char *data = malloc(total ? total : 1);
  off = 0;
  for (int i = 0; data && i < src->n_tensors; i++) {
    const lg_st_tensor *t = &src->tensors[i];
    if (!st_keep(e, t->name)) continue;
    memcpy(data + off, t->data, t->end - t->begin);
    off += t->end - t->begin;
  }
  int rc = data ? st_write_raw(path, h, data, total, 0) : -1;
  free(data);
  free(h);
  return rc;
}
#endif
