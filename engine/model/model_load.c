/*
** lg_model_load(): a model directory as users download it, or a single .safetensors file
** (spec clip-engine.md §1.2, §2).
**
** Directory: the checkpoint is the first of open_clip_model.safetensors,
** open_clip_pytorch_model.safetensors, model.safetensors, a *.safetensors.index.json (sharded), or
** the only *.safetensors file.  The key naming is detected from the tensors; the config that goes
** with it is read when present: HF naming -> config.json (+ preprocessor_config.json), OpenCLIP
** naming -> open_clip_config.json (model_cfg + preprocess_cfg).  Without a config the
** hyper-parameters come from tensor shapes (OpenAI build_model) and the activation is QuickGELU
** (OpenAI weights / HF default).  The tokenizer is loaded when present (load_tokenizer below).
** Every file is read through file_read.h: a FIFO, socket, device or directory wearing the name of a
** checkpoint, config or tokenizer file is refused, never opened for reading.  A directory with only
** PyTorch checkpoints, or a .bin/.pt/.pth path, gets an error that says how to convert it.
*/
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clip.h"
#include "file_read.h"
#include "hash128.h"
#include "model_config.h"
#include "model_tensors.h"
#include "safetensors.h"
#include "tokenizer.h"

#define CONFIG_MAX_BYTES (16 << 20)

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Reads a small text file (configs) into a malloc'ed buffer. */
static char *read_text(const char *path, size_t *n, lg_err *err) {
  return lg_file_read_all(path, CONFIG_MAX_BYTES, "config file", n, err);
}

static int is_pytorch_name(const char *nm) {
  return ends_with(nm, ".bin") || ends_with(nm, ".pt") || ends_with(nm, ".pth");
}

/* The error for a path that is a PyTorch checkpoint by name: what its first bytes show it to be
** (a Git LFS pointer, a zip or pickle checkpoint), else that only safetensors is read. */
static int pytorch_file_error(const char *path, lg_err *err) {
  unsigned char head[64];
  struct stat sb;
  ssize_t got = -1;
  int fd = lg_file_open_regular(path, &sb, err);
  if (fd < 0) return -1;
  got = read(fd, head, sizeof head);
  close(fd);
  if (got > 0 && lg_st_check_foreign(head, (size_t)got, path, err)) return -1;
  char hint[512];
  lg_st_torch_hint(path, hint, sizeof hint);
  return lg_errf(err, "'%s' is not safetensors (.bin, .pt and .pth files are PyTorch checkpoints): %s", path, hint);
}

/* Finds the checkpoint of a directory; out receives its path.  *is_index set for index.json.
** Every candidate must be a regular file (symbolic links followed): anything else named like a
** checkpoint is refused, so no FIFO or device is ever opened. */
static int find_checkpoint(const char *dir, char *out, size_t n, int *is_index, lg_err *err) {
  static const char *preferred[] = {"open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                                    "model.safetensors", NULL};
  static const char *torch_names[] = {"open_clip_pytorch_model.bin", "pytorch_model.bin", NULL};
  *is_index = 0;
  for (int i = 0; preferred[i]; i++) {
    snprintf(out, n, "%s/%s", dir, preferred[i]);
    int r = lg_file_probe(out, err);
    if (r) return r > 0 ? 0 : -1;
  }
  DIR *d = opendir(dir);
  if (!d) return lg_errf(err, "%s: cannot open directory: %s", dir, strerror(errno));
  char single[256] = "", index[256] = "";
  int n_single = 0, n_torch = 0, rc = -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *nm = e->d_name;
    if (nm[0] == '.') continue;
    int is_idx = ends_with(nm, ".safetensors.index.json"), is_st = ends_with(nm, ".safetensors");
    if (!is_idx && !is_st) {
      n_torch += is_pytorch_name(nm);
      continue;
    }
    snprintf(out, n, "%.3800s/%.255s", dir, nm);
    int r = lg_file_probe(out, err);
    if (r < 0) goto done;
    if (r == 0) {
      lg_errf(err, "'%s' cannot be examined (a dangling symbolic link?)", out);
      goto done;
    }
    if (is_idx && !index[0]) snprintf(index, sizeof index, "%.255s", nm);
    else if (is_st) { n_single++; snprintf(single, sizeof single, "%.255s", nm); }
  }
  if (index[0]) {
    *is_index = 1;
    snprintf(out, n, "%.3800s/%.255s", dir, index);
    rc = 0;
  } else if (n_single == 1) {
    snprintf(out, n, "%.3800s/%.255s", dir, single);
    rc = 0;
  } else if (n_single > 1) {
    lg_errf(err, "%s: %d .safetensors files and no *.safetensors.index.json: cannot tell which is the model",
            dir, n_single);
  } else if (n_torch) {
    const char *known = NULL;
    for (int i = 0; torch_names[i] && !known; i++) {
      snprintf(out, n, "%.3800s/%s", dir, torch_names[i]);
      if (lg_file_probe(out, NULL) > 0) known = torch_names[i];
    }
    char hint[512];
    lg_st_torch_hint(known ? known : "model.bin", hint, sizeof hint);
    if (known)
      lg_errf(err, "%s: no .safetensors checkpoint, only the PyTorch checkpoint %s: %s", dir, known, hint);
    else
      lg_errf(err, "%s: no .safetensors checkpoint, only PyTorch checkpoints (.bin, .pt or .pth files): %s", dir, hint);
  } else {
    lg_errf(err, "%s: no checkpoint found (looked for open_clip_model.safetensors, model.safetensors, "
            "*.safetensors.index.json, *.safetensors)", dir);
  }
done:
  closedir(d);
  return rc;
}

/* 128-bit fingerprint of the loaded weights and configuration (not cryptographic: a cache key). */
typedef lg_hash128 fp_state;   /* hash128.h */
#define fp_update lg_hash128_update

static void fp_tower(fp_state *s, const lg_tower_cfg *c, const lg_block_w *B) {
  int hdr[6] = {c->width, c->layers, c->heads, c->mlp, (int)c->act, 0};
  memcpy(&hdr[5], &c->ln_eps, 4);
  fp_update(s, hdr, sizeof hdr);
  for (int l = 0; l < c->layers; l++) {
    const lg_block_w *b = &B[l];
    size_t D = (size_t)c->width, F = (size_t)c->mlp;
    fp_update(s, b->ln1_w, D * 4); fp_update(s, b->ln1_b, D * 4);
    fp_update(s, b->qkv_w, 3 * D * D * 4); fp_update(s, b->qkv_b, 3 * D * 4);
    fp_update(s, b->out_w, D * D * 4); fp_update(s, b->out_b, D * 4);
    fp_update(s, b->ln2_w, D * 4); fp_update(s, b->ln2_b, D * 4);
    fp_update(s, b->fc1_w, F * D * 4); fp_update(s, b->fc1_b, F * 4);
    fp_update(s, b->fc2_w, D * F * 4); fp_update(s, b->fc2_b, D * 4);
    if (b->ls1) fp_update(s, b->ls1, D * 4);
    if (b->ls2) fp_update(s, b->ls2, D * 4);
  }
}

/* Fingerprint over weights in a naming-independent order (HF and OpenCLIP copies agree). */
static void model_fingerprint(lg_model *m) {
  fp_state s;
  lg_hash128_init(&s);
  const lg_vision_w *v = &m->vision;
  size_t D = (size_t)v->cfg.width, P = (size_t)v->patch, G = (size_t)v->grid, E = (size_t)m->embed_dim;
  int hdr[6] = {v->patch, v->image_size, m->embed_dim, m->has_text, m->has_text ? m->text.vocab : 0,
                m->has_text ? m->text.ctx : 0};
  fp_update(&s, hdr, sizeof hdr);
  fp_update(&s, v->patch_w, D * 3 * P * P * 4);
  if (v->patch_b) fp_update(&s, v->patch_b, D * 4);
  fp_update(&s, v->cls, D * 4);
  fp_update(&s, v->pos, (G * G + 1) * D * 4);
  fp_update(&s, v->ln_pre_w, D * 4); fp_update(&s, v->ln_pre_b, D * 4);
  fp_tower(&s, &v->cfg, v->blocks);
  fp_update(&s, v->ln_post_w, D * 4); fp_update(&s, v->ln_post_b, D * 4);
  fp_update(&s, v->proj, D * E * 4);
  if (m->has_text) {
    const lg_text_w *t = &m->text;
    size_t Dt = (size_t)t->cfg.width;
    fp_update(&s, t->tok_emb, (size_t)t->vocab * Dt * 4);
    fp_update(&s, t->pos, (size_t)t->ctx * Dt * 4);
    fp_tower(&s, &t->cfg, t->blocks);
    fp_update(&s, t->ln_final_w, Dt * 4); fp_update(&s, t->ln_final_b, Dt * 4);
    fp_update(&s, t->proj, Dt * E * 4);
  }
  fp_update(&s, &m->logit_scale, 4);
  lg_hash128_hex(&s, m->fingerprint);
}

/* Parses the config file at `path` with `parse` when it exists. *used set to 1 when read. */
static int read_config(const char *path, int (*parse)(const char *, size_t, const char *, lg_clip_cfg *, lg_err *),
                       lg_clip_cfg *cfg, int *used, lg_err *err) {
  size_t n = 0;
  *used = 0;
  int r = lg_file_probe(path, err);
  if (r <= 0) return r;
  char *text = read_text(path, &n, err);
  if (!text) return -1;
  int rc = parse(text, n, path, cfg, err);
  free(text);
  *used = rc == 0;
  return rc;
}

/* HF preprocessor_config.json next to config.json, when present. */
static int read_hf_preprocessor(const char *dir, lg_clip_cfg *cfg, lg_err *err) {
  char path[4200];
  size_t n = 0;
  snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
  int r = lg_file_probe(path, err);
  if (r <= 0) return r;
  char *text = read_text(path, &n, err);
  if (!text) return -1;
  int rc = lg_cfg_parse_hf_preprocessor(text, n, path, &cfg->pre, err);
  free(text);
  if (rc == 0) cfg->pre_given = 1;
  return rc;
}

/* The model's tokenizer: vocab.json + merges.txt (or tokenizer.json) in the model directory, else
** an OpenAI bpe_simple_vocab_16e6.txt.gz in that directory (or next to a single file), else the
** file named by $LEGRAD_BPE for models with the OpenAI vocabulary size 49408.  Absent: t = NULL.
** The tokenizer may not have more ids than the token embedding has rows; sot/eot come from it. */
static int load_tokenizer(lg_model *m, const char *dir, lg_err *err) {
  char p1[4200], p2[4200], p3[4200];
  lg_tokenizer *t = NULL;
  snprintf(p1, sizeof p1, "%s/vocab.json", dir);
  snprintf(p2, sizeof p2, "%s/merges.txt", dir);
  snprintf(p3, sizeof p3, "%s/tokenizer.json", dir);
  const char *env = getenv("LEGRAD_BPE");
  int r1, r2, r3 = 0;   /* tokenizer.json is only looked at without vocab.json + merges.txt */
  if ((r1 = lg_file_probe(p1, err)) < 0 || (r2 = lg_file_probe(p2, err)) < 0 ||
      (!(r1 && r2) && (r3 = lg_file_probe(p3, err)) < 0))
    return lg_err_prefix(err, "%s: tokenizer", dir);
  if ((r1 && r2) || r3) {
    t = lg_tokenizer_load_dir(dir, err);
  } else {
    snprintf(p1, sizeof p1, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
    int r = lg_file_probe(p1, err);
    if (r < 0) return lg_err_prefix(err, "%s: tokenizer", dir);
    if (r) t = lg_tokenizer_load_bpe_gz(p1, err);
    else if (env && env[0] && m->text.vocab == 49408) t = lg_tokenizer_load_bpe_gz(env, err);
    else return 0;
  }
  if (!t) return lg_err_prefix(err, "%s: tokenizer", dir);
  m->tokenizer = t;
  if (lg_tokenizer_vocab_size(t) > m->text.vocab)
    return lg_errf(err, "%s: tokenizer has %d ids but the text tower's token embedding only %d rows", dir,
                   lg_tokenizer_vocab_size(t), m->text.vocab);
  m->sot_id = lg_tokenizer_sot(t);
  m->eot_id = lg_tokenizer_eot(t);
  return 0;
}

lg_model *lg_model_load(const char *path, lg_err *err) {
  lg_model *m = NULL;
  lg_st st = {0};
  char ckpt[4200], dir[4096], cfg_path[4200];
  const char *cfg_name = "tensor shapes";
  int is_index = 0, used = 0;
  struct stat sb;
  lg_clip_cfg cfg;
  lg_cfg_defaults(&cfg);
  if (!path || !path[0]) { lg_errf(err, "lg_model_load: empty path"); goto fail; }
  if (strlen(path) >= sizeof dir - 64) { lg_errf(err, "lg_model_load: path too long"); goto fail; }
  if (stat(path, &sb)) { lg_errf(err, "%s: %s", path, strerror(errno)); goto fail; }
  int is_dir = S_ISDIR(sb.st_mode);
  if (!is_dir && !S_ISREG(sb.st_mode)) {
    lg_errf(err, "'%s' is %s, not a model directory or a regular file", path, lg_file_kind(sb.st_mode));
    goto fail;
  }
  if (is_dir) {
    snprintf(dir, sizeof dir, "%s", path);
    size_t k = strlen(dir);
    while (k > 1 && dir[k - 1] == '/') dir[--k] = 0;
    if (find_checkpoint(dir, ckpt, sizeof ckpt, &is_index, err)) goto fail;
  } else {
    snprintf(ckpt, sizeof ckpt, "%s", path);
    is_index = ends_with(path, ".index.json");
    if (is_pytorch_name(path)) {
      pytorch_file_error(path, err);
      goto fail;
    }
    if (!is_index && !ends_with(path, ".safetensors")) {
      lg_errf(err, "%s: expected a model directory, a .safetensors file or a .safetensors.index.json", path);
      goto fail;
    }
  }
  if (is_index ? lg_st_open_index(&st, ckpt, err) : lg_st_open(&st, ckpt, err)) goto fail;

  m = calloc(1, sizeof *m);
  if (!m || !(m->storage = calloc(1, sizeof(lg_model_store)))) { lg_errf(err, "%s: out of memory", path); goto fail; }
  snprintf(m->path, sizeof m->path, "%s", path);
  snprintf(m->family, sizeof m->family, "clip");
  const char *prefix;
  if (lg_detect_naming(&st, ckpt, &m->naming, &prefix, err)) goto fail;
  if (is_dir) {
    if (m->naming == LG_NAMING_OPENCLIP) {
      snprintf(cfg_path, sizeof cfg_path, "%s/open_clip_config.json", dir);
      if (read_config(cfg_path, lg_cfg_parse_openclip, &cfg, &used, err)) goto fail;
    } else {
      snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
      if (read_config(cfg_path, lg_cfg_parse_hf, &cfg, &used, err)) goto fail;
      if (read_hf_preprocessor(dir, &cfg, err)) goto fail;
    }
    if (used) cfg_name = strrchr(cfg_path, '/') + 1;
  }
  if (!used) {
    if (lg_cfg_from_shapes(&st, m->naming, prefix, ckpt, &cfg, err)) goto fail;
    cfg.pre.size = cfg.image_size;
  }
  if (!cfg.act_given) cfg.vis.act = cfg.txt.act = LG_ACT_QUICKGELU;
  if (lg_load_weights(m, &st, prefix, &cfg, ckpt, cfg_name, err)) goto fail;
  m->pre = cfg.pre;
  if (!cfg.pre_given) lg_cfg_openai_preprocess(&m->pre, cfg.image_size);
  if (m->pre.size < 1) m->pre.size = cfg.image_size;
  m->sot_id = m->has_text ? m->text.vocab - 2 : -1;   /* CLIP: SOT, EOT are the last two ids */
  m->eot_id = m->has_text ? m->text.vocab - 1 : -1;
  m->tokenizer = NULL;
  if (m->has_text) {
    if (!is_dir) {   /* a single file: look next to it */
      snprintf(dir, sizeof dir, "%s", path);
      char *slash = strrchr(dir, '/');
      if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    }
    if (load_tokenizer(m, dir, err)) goto fail;
  }
  model_fingerprint(m);
  lg_st_close(&st);
  return m;
fail:
  lg_st_close(&st);
  lg_model_free(m);
  return NULL;
}

void lg_model_free(lg_model *m) {
  if (!m) return;
  lg_tokenizer_free(m->tokenizer);
  lg_model_store_free(m->storage);
  free(m);
}
