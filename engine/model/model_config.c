/*
** Parsing of CLIP config files (HF config.json, open_clip_config.json, preprocessor_config.json)
** with cJSON.  See model_config.h.
*/
#include "model_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CFG_MAX_DIM 65536   /* widths, MLP sizes, image sides */
#define CFG_MAX_LAYERS 1024
#define CFG_MAX_VOCAB 10000000

void lg_cfg_openai_preprocess(lg_preprocess_cfg *pre, int size) {
  static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
  static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  pre->size = size;
  pre->resize = LG_RESIZE_CROP;
  memcpy(pre->mean, mean, sizeof mean);
  memcpy(pre->std, std, sizeof std);
}

void lg_cfg_defaults(lg_clip_cfg *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->vis = (lg_tower_cfg){.width = 768, .layers = 12, .heads = 12, .mlp = 3072, .ln_eps = 1e-5f,
                            .act = LG_ACT_QUICKGELU};
  cfg->txt = (lg_tower_cfg){.width = 512, .layers = 12, .heads = 8, .mlp = 2048, .ln_eps = 1e-5f,
                            .act = LG_ACT_QUICKGELU};
  cfg->patch = 32;
  cfg->image_size = 224;
  cfg->vocab = 49408;
  cfg->ctx = 77;
  cfg->embed_dim = 512;
  cfg->text_in_config = 1;
  lg_cfg_openai_preprocess(&cfg->pre, 224);
}

int lg_act_from_hf(const char *s) {
  if (!strcmp(s, "quick_gelu")) return LG_ACT_QUICKGELU;
  if (!strcmp(s, "gelu")) return LG_ACT_GELU;
  if (!strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_new") || !strcmp(s, "gelu_fast"))
    return LG_ACT_GELU_TANH;
  return -1;
}

/* Writes how a config string is shown in a message into buf: quoted when it looks like a name
** (1..40 of a-z, A-Z, 0-9, '_', '-', '.'), else described by its length, so a message never quotes
** arbitrary bytes of a file. */
static const char *shown(const char *s, char *buf, size_t cap) {
  size_t k = 0;
  int plain = 1;
  for (; s[k]; k++)
    if (k >= 40 || !((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9') ||
                     s[k] == '_' || s[k] == '-' || s[k] == '.')) plain = 0;
  if (plain && k) snprintf(buf, cap, "'%s'", s);
  else snprintf(buf, cap, "(a string of %zu bytes)", k);
  return buf;
}

/* Reads integer key `key` of obj into *out when present; checks 1 <= v <= max. */
static int get_int(const cJSON *obj, const char *key, int max, int *out, const char *file,
                   const char *where, lg_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
      v->valuedouble > max)
    return lg_errf(err, "%s: %s%s: expected an integer in 1..%d", file, where, key, max);
  *out = (int)v->valuedouble;
  return 0;
}

/* Reads a positive finite number key into *out when present. */
static int get_pos(const cJSON *obj, const char *key, double *out, const char *file,
                   const char *where, lg_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble) || v->valuedouble > 1e6)
    return lg_errf(err, "%s: %s%s: expected a positive number", file, where, key);
  *out = v->valuedouble;
  return 0;
}

/* An int, or a [h, w] array with h == w (image sizes); 0 when absent. */
static int get_side(const cJSON *obj, const char *key, int *out, const char *file, const char *where,
                    lg_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (cJSON_IsArray(v)) {
    if (cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(v->child) || !cJSON_IsNumber(v->child->next) ||
        v->child->valuedouble != v->child->next->valuedouble)
      return lg_errf(err, "%s: %s%s: only square sizes [n, n] are supported", file, where, key);
    v = v->child;
  } else if (cJSON_IsObject(v)) {   /* {"height": h, "width": w} or {"shortest_edge": s} */
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(v, "height");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(v, "width");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "shortest_edge");
    if (cJSON_IsNumber(h) && cJSON_IsNumber(w) && h->valuedouble == w->valuedouble) v = h;
    else if (cJSON_IsNumber(s)) v = s;
    else return lg_errf(err, "%s: %s%s: expected a square size", file, where, key);
  }
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
      v->valuedouble > CFG_MAX_DIM)
    return lg_errf(err, "%s: %s%s: expected an integer in 1..%d", file, where, key, CFG_MAX_DIM);
  *out = (int)v->valuedouble;
  return 0;
}

/* Three floats (mean/std); std entries must be positive. */
static int get_rgb(const cJSON *obj, const char *key, float out[3], int positive, const char *file,
                   lg_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (cJSON_IsNumber(v)) {  /* a single number means the same for all channels */
    out[0] = out[1] = out[2] = (float)v->valuedouble;
  } else {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
      return lg_errf(err, "%s: %s: expected 3 numbers", file, key);
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
      if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
        return lg_errf(err, "%s: %s[%d]: expected a number", file, key, i);
      out[i] = (float)c->valuedouble;
    }
  }
  for (int i = 0; i < 3; i++)
    if (!isfinite(out[i]) || (positive && !(out[i] > 0)))
      return lg_errf(err, "%s: %s: expected %s numbers", file, key, positive ? "positive" : "finite");
  return 0;
}

static int check_tower(const lg_tower_cfg *t, const char *file, const char *tower, lg_err *err) {
  if (t->width % t->heads)
    return lg_errf(err, "%s: %s: width %d is not divisible by %d heads", file, tower, t->width, t->heads);
  return 0;
}

/* One HF tower config object (vision_config / text_config) into t (+ vision/text extras). */
static int parse_hf_tower(const cJSON *o, int vision, const char *file, lg_clip_cfg *cfg, lg_err *err) {
  const char *w = vision ? "vision_config." : "text_config.";
  lg_tower_cfg *t = vision ? &cfg->vis : &cfg->txt;
  double eps = t->ln_eps;
  if (get_int(o, "hidden_size", CFG_MAX_DIM, &t->width, file, w, err) ||
      get_int(o, "intermediate_size", 4 * CFG_MAX_DIM, &t->mlp, file, w, err) ||
      get_int(o, "num_attention_heads", CFG_MAX_DIM, &t->heads, file, w, err) ||
      get_int(o, "num_hidden_layers", CFG_MAX_LAYERS, &t->layers, file, w, err) ||
      get_pos(o, "layer_norm_eps", &eps, file, w, err))
    return -1;
  if (!(eps >= 1e-30 && eps <= 1))   /* must stay a positive float */
    return lg_errf(err, "%s: %slayer_norm_eps: expected a number in [1e-30, 1], found %g", file, w, eps);
  t->ln_eps = (float)eps;
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "hidden_act");
  if (act) {
    int a = cJSON_IsString(act) ? lg_act_from_hf(act->valuestring) : -1;
    char b[64];
    if (a < 0)
      return lg_errf(err, "%s: %shidden_act: unsupported activation %s (expected quick_gelu, gelu or gelu_pytorch_tanh)",
                     file, w, cJSON_IsString(act) ? shown(act->valuestring, b, sizeof b) : "(not a string)");
    t->act = (lg_act)a;
    cfg->act_given = 1;
  }
  if (vision) {
    if (get_side(o, "image_size", &cfg->image_size, file, w, err) ||
        get_int(o, "patch_size", CFG_MAX_DIM, &cfg->patch, file, w, err))
      return -1;
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(o, "num_channels");
    if (nc && (!cJSON_IsNumber(nc) || nc->valuedouble != 3))
      return lg_errf(err, "%s: %snum_channels: only 3 (RGB) is supported", file, w);
  } else {
    if (get_int(o, "vocab_size", CFG_MAX_VOCAB, &cfg->vocab, file, w, err) ||
        get_int(o, "max_position_embeddings", CFG_MAX_DIM, &cfg->ctx, file, w, err))
      return -1;
  }
  return check_tower(t, file, vision ? "vision_config" : "text_config", err);
}

int lg_cfg_parse_hf(const char *text, size_t n, const char *name, lg_clip_cfg *cfg, lg_err *err) {
  int rc = -1;
  cJSON *root = cJSON_ParseWithLength(text, n);
  if (!cJSON_IsObject(root)) { lg_errf(err, "%s: not a JSON object", name); goto done; }
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
  const char *model_type = cJSON_IsString(mt) ? mt->valuestring : "";
  char b[64];
  if (strstr(model_type, "siglip")) {
    lg_errf(err, "%s: model_type %s is not supported yet (CLIP only)", name, shown(model_type, b, sizeof b));
    goto done;
  }
  if (model_type[0] && strcmp(model_type, "clip") && strcmp(model_type, "clip_vision_model")) {
    lg_errf(err, "%s: model_type %s is not a CLIP config (expected 'clip')", name, shown(model_type, b, sizeof b));
    goto done;
  }
  if (get_int(root, "projection_dim", CFG_MAX_DIM, &cfg->embed_dim, name, "", err)) goto done;
  if (!strcmp(model_type, "clip_vision_model")) {    /* CLIPVisionModel(WithProjection) */
    cfg->text_in_config = 0;
    if (parse_hf_tower(root, 1, name, cfg, err)) goto done;
  } else {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "vision_config_dict");
    if (!cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "text_config_dict");
    if (!cJSON_IsObject(t)) t = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (v && !cJSON_IsObject(v)) { lg_errf(err, "%s: vision_config: expected an object", name); goto done; }
    if (t && !cJSON_IsObject(t)) { lg_errf(err, "%s: text_config: expected an object", name); goto done; }
    if (v && parse_hf_tower(v, 1, name, cfg, err)) goto done;
    if (t && parse_hf_tower(t, 0, name, cfg, err)) goto done;
  }
  if (cfg->patch > cfg->image_size) {
    lg_errf(err, "%s: patch_size %d is larger than image_size %d", name, cfg->patch, cfg->image_size);
    goto done;
  }
  cfg->pre.size = cfg->image_size;
  rc = 0;
done:
  cJSON_Delete(root);
  return rc;
}

/* open_clip vision_cfg / text_cfg: width, layers, heads (text) or head_width (vision), mlp_ratio. */
static int parse_oc_tower(const cJSON *o, int vision, const char *file, lg_clip_cfg *cfg, lg_err *err) {
  const char *w = vision ? "model_cfg.vision_cfg." : "model_cfg.text_cfg.";
  lg_tower_cfg *t = vision ? &cfg->vis : &cfg->txt;
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
  if (cJSON_IsArray(layers))
    return lg_errf(err, "%s: %slayers is a list: ResNet towers are not supported", file, w);
  const char *unsupported[] = {"timm_model_name", "hf_model_name", "attentional_pool", "no_ln_pre",
                               "final_ln_after_pool", "output_tokens", NULL};
  for (int i = 0; unsupported[i]; i++) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, unsupported[i]);
    if (u && !cJSON_IsNull(u) && !cJSON_IsFalse(u))
      return lg_errf(err, "%s: %s%s is not supported", file, w, unsupported[i]);
  }
  if (get_int(o, "width", CFG_MAX_DIM, &t->width, file, w, err) ||
      get_int(o, "layers", CFG_MAX_LAYERS, &t->layers, file, w, err))
    return -1;
  double ratio = 4.0;
  if (get_pos(o, "mlp_ratio", &ratio, file, w, err)) return -1;
  double mlp = t->width * ratio;
  if (mlp < 1 || mlp > 4.0 * CFG_MAX_DIM) return lg_errf(err, "%s: %smlp_ratio gives MLP width %g", file, w, mlp);
  t->mlp = (int)mlp;   /* python int(): truncation (bigG: 1664 * 4.9231 -> 8192) */
  if (vision) {
    int hw = 64;
    if (get_int(o, "head_width", CFG_MAX_DIM, &hw, file, w, err) ||
        get_side(o, "image_size", &cfg->image_size, file, w, err) ||
        get_int(o, "patch_size", CFG_MAX_DIM, &cfg->patch, file, w, err))
      return -1;
    if (t->width % hw) return lg_errf(err, "%s: %swidth %d is not a multiple of head_width %d", file, w, t->width, hw);
    t->heads = t->width / hw;
  } else {
    if (get_int(o, "heads", CFG_MAX_DIM, &t->heads, file, w, err) ||
        get_int(o, "context_length", CFG_MAX_DIM, &cfg->ctx, file, w, err) ||
        get_int(o, "vocab_size", CFG_MAX_VOCAB, &cfg->vocab, file, w, err))
      return -1;
  }
  return check_tower(t, file, vision ? "vision_cfg" : "text_cfg", err);
}

/* open_clip preprocess_cfg: mean, std, resize_mode, size. */
static int parse_oc_preprocess(const cJSON *p, const char *file, lg_clip_cfg *cfg, lg_err *err) {
  if (get_rgb(p, "mean", cfg->pre.mean, 0, file, err) || get_rgb(p, "std", cfg->pre.std, 1, file, err) ||
      get_side(p, "size", &cfg->pre.size, file, "preprocess_cfg.", err))
    return -1;
  const cJSON *rm = cJSON_GetObjectItemCaseSensitive(p, "resize_mode");
  if (rm) {
    if (cJSON_IsString(rm) && !strcmp(rm->valuestring, "squash")) cfg->pre.resize = LG_RESIZE_SQUASH;
    else if (cJSON_IsString(rm) && !strcmp(rm->valuestring, "shortest")) cfg->pre.resize = LG_RESIZE_CROP;
    else return lg_errf(err, "%s: preprocess_cfg.resize_mode: expected 'shortest' or 'squash'", file);
  }
  cfg->pre_given = 1;
  return 0;
}

int lg_cfg_parse_openclip(const char *text, size_t n, const char *name, lg_clip_cfg *cfg, lg_err *err) {
  int rc = -1;
  cJSON *root = cJSON_ParseWithLength(text, n);
  if (!cJSON_IsObject(root)) { lg_errf(err, "%s: not a JSON object", name); goto done; }
  const cJSON *mc = cJSON_GetObjectItemCaseSensitive(root, "model_cfg");
  if (!mc) mc = root;
  if (!cJSON_IsObject(mc)) { lg_errf(err, "%s: model_cfg: expected an object", name); goto done; }
  const cJSON *vc = cJSON_GetObjectItemCaseSensitive(mc, "vision_cfg");
  if (!cJSON_IsObject(vc)) { lg_errf(err, "%s: model_cfg.vision_cfg: missing", name); goto done; }
  if (!cJSON_GetObjectItemCaseSensitive(mc, "embed_dim")) {
    lg_errf(err, "%s: model_cfg.embed_dim: missing", name);
    goto done;
  }
  if (get_int(mc, "embed_dim", CFG_MAX_DIM, &cfg->embed_dim, name, "model_cfg.", err)) goto done;
  /* open_clip defaults differ from HF's: vision patch 16, head_width 64, text 49408/77/512/8/12. */
  cfg->patch = 16;
  if (parse_oc_tower(vc, 1, name, cfg, err)) goto done;
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(mc, "text_cfg");
  cfg->text_in_config = tc != NULL;
  if (tc && (!cJSON_IsObject(tc) || parse_oc_tower(tc, 0, name, cfg, err))) {
    if (!cJSON_IsObject(tc)) lg_errf(err, "%s: model_cfg.text_cfg: expected an object", name);
    goto done;
  }
  const cJSON *qg = cJSON_GetObjectItemCaseSensitive(mc, "quick_gelu");
  lg_act act = cJSON_IsTrue(qg) ? LG_ACT_QUICKGELU : LG_ACT_GELU;
  cfg->vis.act = cfg->txt.act = act;
  cfg->act_given = 1;
  if (cfg->patch > cfg->image_size) {
    lg_errf(err, "%s: patch_size %d is larger than image_size %d", name, cfg->patch, cfg->image_size);
    goto done;
  }
  cfg->pre.size = cfg->image_size;
  const cJSON *pc = cJSON_GetObjectItemCaseSensitive(root, "preprocess_cfg");
  if (pc && (!cJSON_IsObject(pc) || parse_oc_preprocess(pc, name, cfg, err))) {
    if (!cJSON_IsObject(pc)) lg_errf(err, "%s: preprocess_cfg: expected an object", name);
    goto done;
  }
  rc = 0;
done:
  cJSON_Delete(root);
  return rc;
}

int lg_cfg_parse_hf_preprocessor(const char *text, size_t n, const char *name, lg_preprocess_cfg *pre,
                                 lg_err *err) {
  int rc = -1;
  cJSON *root = cJSON_ParseWithLength(text, n);
  if (!cJSON_IsObject(root)) { lg_errf(err, "%s: not a JSON object", name); goto done; }
  if (get_rgb(root, "image_mean", pre->mean, 0, name, err) || get_rgb(root, "image_std", pre->std, 1, name, err))
    goto done;
  int crop = 0, size = 0;
  if (get_side(root, "crop_size", &crop, name, "", err) || get_side(root, "size", &size, name, "", err))
    goto done;
  const cJSON *dc = cJSON_GetObjectItemCaseSensitive(root, "do_center_crop");
  pre->resize = cJSON_IsFalse(dc) ? LG_RESIZE_SQUASH : LG_RESIZE_CROP;
  if (pre->resize == LG_RESIZE_CROP && crop) pre->size = crop;
  else if (size) pre->size = size;
  rc = 0;
done:
  cJSON_Delete(root);
  return rc;
}
