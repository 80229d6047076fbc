/*
** Helpers shared by the fuzz targets that turn one input into several files in a private
** temporary directory (fuzz_shards, fuzz_model_dir), and the checks they run on a loaded model.
** Header-only (static functions): each target is one translation unit.
**
**   fz_dir_init("fuzz_shards");          once: creates /tmp/lg_fuzz_XXXXXX, removed at exit
**   fz_dir_clear();                      per input: empties it
**   fz_put("model.safetensors", p, n);   writes one file
**   fz_split(data, size, parts, lens, max) splits an input at FZ_SPLIT
**   fz_check_model(m);                   runs the towers of a loaded model (when small)
*/
#ifndef FUZZ_FILES_H
#define FUZZ_FILES_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clip.h"
#include "tokenizer.h"

#define FZ_SPLIT "--LGSPLIT--"  /* separates the files of one input (fuzz/make_seeds.py writes it) */

#define FZ_REQUIRE(c)                                                     \
  do {                                                                    \
    if (!(c)) {                                                           \
      fprintf(stderr, "fuzz: property failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
      abort();                                                            \
    }                                                                     \
  } while (0)

static char fz_dir[64];

/* Removes every file of the directory (the targets write no subdirectories). */
static void fz_dir_clear(void) {
  DIR *d = opendir(fz_dir);
  if (!d) return;
  struct dirent *e;
  char p[384];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", fz_dir, e->d_name);
    unlink(p);
  }
  closedir(d);
}

static void fz_dir_remove(void) {
  fz_dir_clear();
  rmdir(fz_dir);
}

/* Creates the private directory once; exits (a setup failure, not a finding) when it cannot. */
static void fz_dir_init(const char *target) {
  if (fz_dir[0]) return;
  snprintf(fz_dir, sizeof fz_dir, "/tmp/lg_fuzz_XXXXXX");
  if (!mkdtemp(fz_dir)) {
    fprintf(stderr, "%s: cannot create a temporary directory\n", target);
    exit(1);
  }
  atexit(fz_dir_remove);
}

/* Writes n bytes to fz_dir/name. */
static void fz_put(const char *name, const uint8_t *data, size_t n) {
  char p[384];
  snprintf(p, sizeof p, "%s/%s", fz_dir, name);
  FILE *f = fopen(p, "wb");
  FZ_REQUIRE(f != NULL);
  if (n) FZ_REQUIRE(fwrite(data, 1, n, f) == n);
  FZ_REQUIRE(fclose(f) == 0);
}

/* Splits data at each FZ_SPLIT into at most max parts (the last part keeps any further
** separators).  Returns the number of parts (>= 1). */
static int fz_split(const uint8_t *data, size_t size, const uint8_t **part, size_t *len, int max) {
  const size_t k = sizeof FZ_SPLIT - 1;
  int n = 0;
  size_t pos = 0;
  while (n < max - 1) {
    const uint8_t *hit = size - pos >= k ? memmem(data + pos, size - pos, FZ_SPLIT, k) : NULL;
    if (!hit) break;
    part[n] = data + pos;
    len[n++] = (size_t)(hit - (data + pos));
    pos = (size_t)(hit - data) + k;
  }
  part[n] = data + pos;
  len[n++] = size - pos;
  return n;
}

/* Checks a loaded model and runs it: the vision tower on a zero image at the native size and the
** text tower on SOT, "a photo", EOT (tokenizer) or SOT, EOT, when the towers are small enough to
** keep each input fast.  Any failure of a forward on a loaded model is a finding. */
static void fz_check_model(const lg_model *m) {
  lg_err err = {{0}};
  const lg_vision_w *v = &m->vision;
  FZ_REQUIRE(m->embed_dim >= 1 && v->patch >= 1 && v->image_size >= v->patch && m->fingerprint[32] == 0);
  if ((int64_t)v->image_size * v->image_size * v->cfg.width <= (1 << 20) && v->cfg.layers <= 8) {
    lg_vit_ws *ws = lg_vit_ws_new(m, 0, LG_KEEP_ATTN_ALL, &err);
    FZ_REQUIRE(ws != NULL);
    float *px = calloc((size_t)3 * v->image_size * v->image_size, sizeof *px);
    float *emb = calloc((size_t)m->embed_dim, sizeof *emb);
    FZ_REQUIRE(px && emb);
    FZ_REQUIRE(lg_vit_forward(m, ws, px, emb, &err) == 0);
    free(px);
    free(emb);
    lg_vit_ws_free(ws);
  }
  if (!m->has_text) return;
  const lg_text_w *t = &m->text;
  FZ_REQUIRE(m->sot_id >= 0 && m->sot_id < t->vocab && m->eot_id >= 0 && m->eot_id < t->vocab);
  if ((int64_t)t->ctx * t->cfg.width > (1 << 20) || t->cfg.layers > 8) return;
  int32_t *ids = calloc((size_t)(t->ctx > 2 ? t->ctx : 2), sizeof *ids);
  float *emb = calloc((size_t)m->embed_dim, sizeof *emb);
  FZ_REQUIRE(ids && emb);
  int n = 2;
  ids[0] = m->sot_id;
  ids[1] = m->eot_id;
  if (m->tokenizer && t->ctx >= 2 && lg_tokenize(m->tokenizer, "a photo", ids, t->ctx, &n, &err) != 0) {
    FZ_REQUIRE(err.msg[0] != 0);   /* a symbol missing from the vocabulary */
    n = 0;
  }
  if (n >= 1 && n <= t->ctx) {
    for (int k = 0; k < n; k++) FZ_REQUIRE(ids[k] >= 0 && ids[k] < t->vocab);
    FZ_REQUIRE(lg_text_forward(m, ids, n, emb, &err) == 0);
  }
  free(ids);
  free(emb);
}

#endif
