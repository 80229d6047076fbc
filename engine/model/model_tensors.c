/*
** CLIP weights from safetensors into an lg_model (both namings); see model_tensors.h.
*/
#include "model_tensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lg_model_store_free(lg_model_store *s) {
  if (!s) return;
  for (int i = 0; i < s->n_bufs; i++) free(s->bufs[i]);
  free(s->bufs);
  free(s->vblocks);
  free(s->tblocks);
  free(s);
}

/* Allocates n floats owned by the store. */
static float *store_alloc(lg_model_store *s, size_t n) {
  if (s->n_bufs == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    float **b = realloc(s->bufs, (size_t)cap * sizeof *b);
    if (!b) return NULL;
    s->bufs = b;
    s->cap = cap;
  }
  float *p = malloc((n ? n : 1) * sizeof(float));
  if (p) s->bufs[s->n_bufs++] = p;
  return p;
}

static const lg_st_tensor *find_p(const lg_st *st, const char *prefix, const char *name) {
  char full[600];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  return lg_st_find(st, full);
}

int lg_detect_naming(const lg_st *st, const char *file, lg_naming *naming, const char **prefix,
                     lg_err *err) {
  *prefix = "";
  if (lg_st_find(st, "module.visual.conv1.weight") ||
      lg_st_find(st, "module.vision_model.embeddings.patch_embedding.weight"))
    *prefix = "module.";
  const char *p = *prefix;
  if (find_p(st, p, "vision_model.head.probe") || find_p(st, p, "visual.trunk.attn_pool.latent"))
    return lg_errf(err, "%s: SigLIP checkpoints are not supported yet (CLIP only)", file);
  if (find_p(st, p, "vision_model.embeddings.patch_embedding.weight")) {
    if (!find_p(st, p, "vision_model.pre_layrnorm.weight"))
      return lg_errf(err, "%s: HF vision tower without 'vision_model.pre_layrnorm.weight' is not a CLIP model", file);
    *naming = LG_NAMING_HF;
    return 0;
  }
  if (find_p(st, p, "visual.conv1.weight")) {
    if (!find_p(st, p, "visual.proj"))
      return lg_errf(err, "%s: 'visual.conv1.weight' without 'visual.proj': ResNet visual towers are not supported", file);
    *naming = LG_NAMING_OPENCLIP;
    return 0;
  }
  for (int i = 0; i < st->n_tensors; i++)
    if (strstr(st->tensors[i].name, "visual.trunk."))
      return lg_errf(err, "%s: timm-trunk OpenCLIP towers ('visual.trunk.*') are not supported", file);
  return lg_errf(err, "%s: no CLIP vision tower found (looked for 'visual.conv1.weight' and "
                 "'vision_model.embeddings.patch_embedding.weight' among %d tensors)", file, st->n_tensors);
}

int lg_has_text_weights(const lg_st *st, lg_naming naming, const char *prefix) {
  return find_p(st, prefix, naming == LG_NAMING_HF ? "text_model.embeddings.token_embedding.weight"
                                                   : "token_embedding.weight") != NULL;
}

/* Number of consecutive layers i = 0.. for which fmt % i names a tensor. */
static int count_layers(const lg_st *st, const char *prefix, const char *fmt) {
  char name[300];
  int n = 0;
  for (;; n++) {
    snprintf(name, sizeof name, fmt, n);
    if (!find_p(st, prefix, name)) return n;
  }
}

/* Names of the tensors of one naming. */
typedef struct names {
  const char *vblock, *tblock;             /* printf formats of a block prefix */
  const char *ln1, *ln2, *out, *fc1, *fc2; /* inside a block, without .weight/.bias */
  const char *patch, *cls, *vpos, *ln_pre, *ln_post, *vproj;
  const char *tok, *tpos, *ln_final, *tproj;
} names;

static const names oc_names = {
  "visual.transformer.resblocks.%d.", "transformer.resblocks.%d.",
  "ln_1", "ln_2", "attn.out_proj", "mlp.c_fc", "mlp.c_proj",
  "visual.conv1", "visual.class_embedding", "visual.positional_embedding", "visual.ln_pre",
  "visual.ln_post", "visual.proj",
  "token_embedding.weight", "positional_embedding", "ln_final", "text_projection"};

static const names hf_names = {
  "vision_model.encoder.layers.%d.", "text_model.encoder.layers.%d.",
  "layer_norm1", "layer_norm2", "self_attn.out_proj", "mlp.fc1", "mlp.fc2",
  "vision_model.embeddings.patch_embedding", "vision_model.embeddings.class_embedding",
  "vision_model.embeddings.position_embedding.weight", "vision_model.pre_layrnorm",
  "vision_model.post_layernorm", "visual_projection.weight",
  "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
  "text_model.final_layer_norm", "text_projection.weight"};

static int64_t dim0(const lg_st_tensor *t, int i) { return t && t->ndim > i ? t->shape[i] : 0; }

int lg_cfg_from_shapes(const lg_st *st, lg_naming naming, const char *prefix, const char *file,
                       lg_clip_cfg *cfg, lg_err *err) {
  const names *N = naming == LG_NAMING_HF ? &hf_names : &oc_names;
  char name[300];
  snprintf(name, sizeof name, "%s.weight", N->patch);
  const lg_st_tensor *conv = find_p(st, prefix, name), *pos = find_p(st, prefix, N->vpos);
  const lg_st_tensor *proj = find_p(st, prefix, N->vproj);
  if (!conv || conv->ndim != 4 || conv->shape[1] != 3 || conv->shape[2] != conv->shape[3] || conv->shape[2] < 1)
    return lg_errf(err, "%s: tensor '%s%s': expected shape [D,3,P,P]", file, prefix, name);
  if (!pos || pos->ndim != 2)
    return lg_errf(err, "%s: tensor '%s%s': expected shape [G*G+1,D]", file, prefix, N->vpos);
  if (!proj || proj->ndim != 2)
    return lg_errf(err, "%s: tensor '%s%s': expected a 2-D projection", file, prefix, N->vproj);
  int64_t D = conv->shape[0], P = conv->shape[2], G = (int64_t)llround(sqrt((double)(pos->shape[0] - 1)));
  if (G < 1 || G * G + 1 != pos->shape[0] || D > 65536 || G * P > 65536)
    return lg_errf(err, "%s: tensor '%s%s': %lld rows is not a square grid plus CLS", file, prefix, N->vpos,
                   (long long)pos->shape[0]);
  cfg->vis.width = (int)D;
  cfg->vis.heads = D >= 64 ? (int)(D / 64) : 1;
  cfg->patch = (int)P;
  cfg->image_size = (int)(G * P);
  cfg->pre.size = cfg->image_size;
  cfg->embed_dim = (int)(naming == LG_NAMING_HF ? proj->shape[0] : proj->shape[1]);
  snprintf(name, sizeof name, "%s%s.weight", N->vblock, N->fc1);
  cfg->vis.layers = count_layers(st, prefix, name);
  if (cfg->vis.layers < 1) return lg_errf(err, "%s: no vision transformer blocks found", file);
  char b0[300];
  snprintf(b0, sizeof b0, name, 0);
  cfg->vis.mlp = (int)dim0(find_p(st, prefix, b0), 0);
  if (lg_has_text_weights(st, naming, prefix)) {
    const lg_st_tensor *tok = find_p(st, prefix, N->tok), *tp = find_p(st, prefix, N->tpos);
    snprintf(name, sizeof name, "%s.weight", N->ln_final);
    const lg_st_tensor *lnf = find_p(st, prefix, name);
    if (!tok || tok->ndim != 2 || !tp || tp->ndim != 2 || !lnf || lnf->ndim != 1 || tok->shape[0] < 3 ||
        tok->shape[0] > 10000000 || tp->shape[0] > 65536 || lnf->shape[0] > 65536)
      return lg_errf(err, "%s: text tower tensors '%s', '%s', '%s.weight' missing or not 2-D/2-D/1-D", file,
                     N->tok, N->tpos, N->ln_final);
    int64_t Dt = lnf->shape[0];
    cfg->txt.width = (int)Dt;
    cfg->txt.heads = Dt >= 64 ? (int)(Dt / 64) : 1;
    cfg->vocab = (int)tok->shape[0];
    cfg->ctx = (int)tp->shape[0];
    snprintf(name, sizeof name, "%s%s.weight", N->tblock, N->fc1);
    cfg->txt.layers = count_layers(st, prefix, name);
    snprintf(b0, sizeof b0, name, 0);
    cfg->txt.mlp = (int)dim0(find_p(st, prefix, b0), 0);
    if (cfg->txt.layers < 1) return lg_errf(err, "%s: no text transformer blocks found", file);
  }
  cfg->text_in_config = 1;
  if (cfg->vis.width % cfg->vis.heads || (cfg->txt.width % cfg->txt.heads))
    return lg_errf(err, "%s: width not divisible by width/64 heads; supply a config file", file);
  return 0;
}

/* ---- loading ------------------------------------------------------------------------------ */

typedef struct loader {
  const lg_st *st;
  const char *prefix, *file, *cfg_name;
  lg_model_store *s;
  lg_err *err;
  int64_t n_params;
} loader;

/* Loads tensor `name` (prefix added), checking rank and shape; into dst when given, else into a new
** store buffer.  optional: return NULL without error when absent.  *fail set on error. */
static float *get(loader *L, const char *name, int nd, const int64_t *shape, float *dst, int optional,
                  int *fail) {
  char full[600], want[160], got[160];
  snprintf(full, sizeof full, "%s%s", L->prefix, name);
  const lg_st_tensor *t = lg_st_find(L->st, full);
  lg_st_shape_str(shape, nd, want, sizeof want);
  if (!t) {
    if (optional) return NULL;
    *fail = lg_errf(L->err, "%s: missing tensor '%s' (expected shape %s from %s)", L->file, full, want,
                    L->cfg_name);
    return NULL;
  }
  int ok = t->ndim == nd;
  for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == shape[i];
  if (!ok && nd == 0 && t->numel == 1) ok = 1;   /* logit_scale stored as [1] */
  if (!ok) {
    lg_st_shape_str(t->shape, t->ndim, got, sizeof got);
    *fail = lg_errf(L->err, "%s: tensor '%s': expected shape %s (from %s), found %s", t->file, full, want,
                    L->cfg_name, got);
    return NULL;
  }
  if (t->dtype != LG_ST_F32 && t->dtype != LG_ST_F16 && t->dtype != LG_ST_BF16 && t->dtype != LG_ST_F64) {
    *fail = lg_errf(L->err, "%s: tensor '%s': dtype %s is not supported (expected F32, F16 or BF16)", t->file,
                    full, lg_st_dtype_name(t->dtype));
    return NULL;
  }
  if (!dst && !(dst = store_alloc(L->s, (size_t)t->numel))) {
    *fail = lg_errf(L->err, "%s: out of memory loading tensor '%s' (%lld values)", L->file, full,
                    (long long)t->numel);
    return NULL;
  }
  if (lg_st_read_f32(t, dst, L->err)) { *fail = -1; return NULL; }
  L->n_params += t->numel;
  return dst;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* Loads [rows, cols] stored transposed (HF Linear [cols, rows]) into a new [rows, cols] buffer. */
static const float *get_transposed(loader *L, const char *name, int64_t rows, int64_t cols, int *fail) {
  float *tmp = malloc((size_t)(rows * cols) * sizeof *tmp), *out = NULL;
  if (!tmp) { *fail = lg_errf(L->err, "%s: out of memory", L->file); return NULL; }
  if (get(L, name, 2, SHAPE(cols, rows), tmp, 0, fail) && (out = store_alloc(L->s, (size_t)(rows * cols)))) {
    for (int64_t i = 0; i < cols; i++)
      for (int64_t j = 0; j < rows; j++) out[j * cols + i] = tmp[i * rows + j];
  } else if (!*fail) {
    *fail = lg_errf(L->err, "%s: out of memory", L->file);
  }
  free(tmp);
  return out;
}

/* "<base>.weight" [rows, cols] (cols == 0: a [rows] vector) and "<base>.bias" [rows], unless *fail. */
static void get_pair(loader *L, const char *base, int64_t rows, int64_t cols, const float **w, const float **b,
                     int *fail) {
  char n[400];
  if (*fail) return;
  snprintf(n, sizeof n, "%s.weight", base);
  *w = cols ? get(L, n, 2, SHAPE(rows, cols), NULL, 0, fail) : get(L, n, 1, SHAPE(rows), NULL, 0, fail);
  snprintf(n, sizeof n, "%s.bias", base);
  if (!*fail) *b = get(L, n, 1, SHAPE(rows), NULL, 0, fail);
}

/* A tower's final LayerNorm [D] and projection [D, E] (HF stores the projection as Linear [E, D]). */
static void get_ln_proj(loader *L, lg_naming naming, const char *ln, const char *proj, int64_t D, int64_t E,
                        const float **lw, const float **lb, const float **P, int *fail) {
  get_pair(L, ln, D, 0, lw, lb, fail);
  if (*fail) return;
  *P = naming == LG_NAMING_HF ? get_transposed(L, proj, D, E, fail) : get(L, proj, 2, SHAPE(D, E), NULL, 0, fail);
}

/* One tower's blocks. */
static int load_blocks(loader *L, lg_naming naming, const char *fmt, const lg_tower_cfg *c, lg_block_w *B) {
  const names *N = naming == LG_NAMING_HF ? &hf_names : &oc_names;
  int64_t D = c->width, F = c->mlp;
  int fail = 0;
  char p[300], n[400];
  for (int l = 0; l < c->layers && !fail; l++) {
    lg_block_w *b = &B[l];
    snprintf(p, sizeof p, fmt, l);
    snprintf(n, sizeof n, "%s%s", p, N->ln1);
    get_pair(L, n, D, 0, &b->ln1_w, &b->ln1_b, &fail);
    if (fail) break;
    if (naming == LG_NAMING_OPENCLIP) {
      snprintf(n, sizeof n, "%sattn.in_proj_weight", p);
      b->qkv_w = get(L, n, 2, SHAPE(3 * D, D), NULL, 0, &fail);
      snprintf(n, sizeof n, "%sattn.in_proj_bias", p);
      if (!fail) b->qkv_b = get(L, n, 1, SHAPE(3 * D), NULL, 0, &fail);
    } else {
      float *w = store_alloc(L->s, (size_t)(3 * D * D)), *bb = store_alloc(L->s, (size_t)(3 * D));
      if (!w || !bb) return lg_errf(L->err, "%s: out of memory", L->file);
      const char *qkv[3] = {"q", "k", "v"};
      for (int k = 0; k < 3 && !fail; k++) {
        snprintf(n, sizeof n, "%sself_attn.%s_proj.weight", p, qkv[k]);
        get(L, n, 2, SHAPE(D, D), w + k * D * D, 0, &fail);
        snprintf(n, sizeof n, "%sself_attn.%s_proj.bias", p, qkv[k]);
        if (!fail) get(L, n, 1, SHAPE(D), bb + k * D, 0, &fail);
      }
      b->qkv_w = w;
      b->qkv_b = bb;
    }
    snprintf(n, sizeof n, "%s%s", p, N->out);
    get_pair(L, n, D, D, &b->out_w, &b->out_b, &fail);
    snprintf(n, sizeof n, "%s%s", p, N->ln2);
    get_pair(L, n, D, 0, &b->ln2_w, &b->ln2_b, &fail);
    snprintf(n, sizeof n, "%s%s", p, N->fc1);
    get_pair(L, n, F, D, &b->fc1_w, &b->fc1_b, &fail);
    snprintf(n, sizeof n, "%s%s", p, N->fc2);
    get_pair(L, n, D, F, &b->fc2_w, &b->fc2_b, &fail);
    if (!fail && naming == LG_NAMING_OPENCLIP) {
      snprintf(n, sizeof n, "%sls_1.gamma", p);
      b->ls1 = get(L, n, 1, SHAPE(D), NULL, 1, &fail);
      snprintf(n, sizeof n, "%sls_2.gamma", p);
      if (!fail) b->ls2 = get(L, n, 1, SHAPE(D), NULL, 1, &fail);
    }
  }
  if (fail) return -1;
  /* The config's layer count must not hide extra blocks in the checkpoint. */
  snprintf(p, sizeof p, fmt, c->layers);
  snprintf(n, sizeof n, "%s%s.weight", p, N->fc1);
  if (find_p(L->st, L->prefix, n))
    return lg_errf(L->err, "%s: tensor '%s%s' exists but %s says %d layers", L->file, L->prefix, n,
                   L->cfg_name, c->layers);
  return 0;
}

int lg_load_weights(lg_model *m, const lg_st *st, const char *prefix, const lg_clip_cfg *cfg,
                    const char *file, const char *cfg_name, lg_err *err) {
  lg_model_store *s = m->storage;
  loader L = {st, prefix, file, cfg_name, s, err, 0};
  const names *N = m->naming == LG_NAMING_HF ? &hf_names : &oc_names;
  lg_vision_w *v = &m->vision;
  int64_t D = cfg->vis.width, P = cfg->patch, G = cfg->image_size / cfg->patch, E = cfg->embed_dim;
  int fail = 0;
  char n[300];
  if (cfg->image_size % cfg->patch)
    return lg_errf(err, "%s: image_size %d is not a multiple of patch_size %d", cfg_name, cfg->image_size,
                   cfg->patch);
  v->cfg = cfg->vis;
  v->patch = (int)P;
  v->image_size = cfg->image_size;
  v->grid = (int)G;
  v->n_prefix = 1;
  snprintf(n, sizeof n, "%s.weight", N->patch);
  v->patch_w = get(&L, n, 4, SHAPE(D, 3, P, P), NULL, 0, &fail);
  snprintf(n, sizeof n, "%s.bias", N->patch);
  if (!fail) v->patch_b = get(&L, n, 1, SHAPE(D), NULL, 1, &fail);
  if (!fail) v->cls = get(&L, N->cls, 1, SHAPE(D), NULL, 0, &fail);
  if (!fail) v->pos = get(&L, N->vpos, 2, SHAPE(G * G + 1, D), NULL, 0, &fail);
  get_pair(&L, N->ln_pre, D, 0, &v->ln_pre_w, &v->ln_pre_b, &fail);
  if (fail) return -1;
  if (!(s->vblocks = calloc((size_t)cfg->vis.layers, sizeof *s->vblocks)))
    return lg_errf(err, "%s: out of memory", file);
  v->blocks = s->vblocks;
  if (load_blocks(&L, m->naming, N->vblock, &cfg->vis, v->blocks)) return -1;
  get_ln_proj(&L, m->naming, N->ln_post, N->vproj, D, E, &v->ln_post_w, &v->ln_post_b, &v->proj, &fail);
  if (fail) return -1;
  m->embed_dim = (int)E;

  m->has_text = lg_has_text_weights(st, m->naming, prefix);
  if (m->has_text) {
    lg_text_w *t = &m->text;
    int64_t Dt = cfg->txt.width;
    t->cfg = cfg->txt;
    t->vocab = cfg->vocab;
    t->ctx = cfg->ctx;
    t->tok_emb = get(&L, N->tok, 2, SHAPE(cfg->vocab, Dt), NULL, 0, &fail);
    if (!fail) t->pos = get(&L, N->tpos, 2, SHAPE(cfg->ctx, Dt), NULL, 0, &fail);
    if (fail) return -1;
    if (!(s->tblocks = calloc((size_t)cfg->txt.layers, sizeof *s->tblocks)))
      return lg_errf(err, "%s: out of memory", file);
    t->blocks = s->tblocks;
    if (load_blocks(&L, m->naming, N->tblock, &cfg->txt, t->blocks)) return -1;
    get_ln_proj(&L, m->naming, N->ln_final, N->tproj, Dt, E, &t->ln_final_w, &t->ln_final_b, &t->proj, &fail);
    if (fail) return -1;
  }
  float ls;
  m->logit_scale = logf(1.0f / 0.07f);   /* CLIP's init value when the checkpoint has none */
  if (get(&L, "logit_scale", 0, NULL, &ls, 1, &fail)) m->logit_scale = ls;
  if (fail) return -1;
  m->n_params = L.n_params;
  return 0;
}
