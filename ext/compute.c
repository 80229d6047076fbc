/*
** The engine calls behind the SQL functions: text embedding, image forward and map encoding.
** No maths here beyond picking buffers: tokenizer.h, image.h, clip.h, legrad.h and mapblob.h do it.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "mapblob.h"
#include "tokenizer.h"

int lg_text_embedding(const lg_model *m, const char *text, const char *fn, int argno, float *t_emb,
                      lg_err *err) {
  if (!m->has_text || !m->tokenizer)
    return lg_errf(err, "%s(): argument %d (text): the model loaded from '%s' has no %s, so it cannot embed text",
                   fn, argno, m->path, m->has_text ? "tokenizer" : "text tower");
  int ctx = m->text.ctx;
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)(ctx > 0 ? ctx : 1));
  int n_used = 0, rc = -1;
  if (!ids) return lg_errf(err, "%s(): out of memory", fn);
  if (lg_tokenize(m->tokenizer, text, ids, ctx, &n_used, err)) {
    lg_err_strip_engine_name(err);
    lg_err_prefix(err, "%s(): argument %d (text)", fn, argno);
    rc = LG_ROW_FAILED;
    goto done;
  }
  if (lg_text_forward(m, ids, n_used, t_emb, err)) {
    lg_err_prefix(err, "%s()", fn);
    goto done;
  }
  lg_l2_normalize(t_emb, m->embed_dim);
  rc = 0;
done:
  free(ids);
  return rc;
}

/* The text embedding cached on the prompt argument (auxdata) for one model. */
typedef struct lg_text_aux {
  char fingerprint[33];
  int dim;
  float emb[];
} lg_text_aux;

int lg_text_embedding_cached(sqlite3_context *ctx, int arg, const lg_model *m, const char *text,
                             const char *fn, int argno, float *out, lg_err *err) {
  const lg_text_aux *aux = sqlite3_get_auxdata(ctx, arg);
  int E = m->embed_dim;
  if (aux && aux->dim == E && strcmp(aux->fingerprint, m->fingerprint) == 0) {
    memcpy(out, aux->emb, sizeof(float) * (size_t)E);
    return 0;
  }
  int rc = lg_text_embedding(m, text, fn, argno, out, err);
  if (rc) return rc;
  lg_text_aux *keep = sqlite3_malloc64(sizeof *keep + sizeof(float) * (size_t)E);
  if (keep) {
    memcpy(keep->fingerprint, m->fingerprint, sizeof keep->fingerprint);
    keep->fingerprint[32] = 0;
    keep->dim = E;
    memcpy(keep->emb, out, sizeof(float) * (size_t)E);
    sqlite3_set_auxdata(ctx, arg, keep, sqlite3_free);
  }
  return 0;
}

int lg_image_forward(lg_conn *c, const lg_model *m, const void *img, int n, int size,
                     lg_resize mode, lg_keep keep, const char *fn, int argno, float *img_emb,
                     lg_vit_ws **ws_out, lg_frame *frame, lg_err *err) {
  lg_image im = {0};
  float *pixels = NULL;
  int rc = -1;
  char key[33];
  lg_ws_slot *slot = lg_conn_workspace(c, m, size, keep, err);
  if (!slot) return lg_err_prefix(err, "%s()", fn);
  lg_content_hash(img, (size_t)n, key);
  if (slot->image[0] && slot->mode == mode && strcmp(slot->image, key) == 0) {
    /* The workspace still holds this image's forward (another prompt, or an embedding query
    ** over image x prompt pairs): reuse it and the embedding computed with it. */
    if (ws_out) *ws_out = slot->ws;
    if (frame) *frame = slot->frame;
    if (img_emb) memcpy(img_emb, slot->emb, sizeof(float) * (size_t)m->embed_dim);
    return 0;
  }
  slot->image[0] = 0;  /* from here on the workspace is being overwritten */
  lg_interrupt intr;
  lg_image_limits lim;
  lg_image_limits_for_db(c->db, &intr, &lim);
  if (lg_image_decode_limited(img, (size_t)n, &lim, &im, err)) {
    lg_err_strip_engine_name(err);
    lg_err_prefix(err, "%s(): argument %d (image) could not be decoded", fn, argno);
    rc = LG_ROW_FAILED;
    goto done;
  }
  pixels = malloc(sizeof(float) * 3u * (size_t)size * (size_t)size);
  if (!pixels) { lg_errf(err, "%s(): out of memory", fn); goto done; }
  if (lg_preprocess_stop(&im, &m->pre, size, mode, pixels, &slot->frame, &lim.stop, err)) {
    lg_err_strip_engine_name(err);
    lg_err_prefix(err, "%s(): argument %d (image)", fn, argno);
    rc = LG_ROW_FAILED;
    goto done;
  }
  lg_threads_begin(c, m, size);
  int frc = lg_vit_forward(m, slot->ws, pixels, slot->emb, err);
  lg_threads_end();
  if (frc) { lg_err_prefix(err, "%s()", fn); goto done; }
  lg_l2_normalize(slot->emb, m->embed_dim);
  if (img_emb) memcpy(img_emb, slot->emb, sizeof(float) * (size_t)m->embed_dim);
  memcpy(slot->image, key, sizeof key);
  slot->mode = mode;
  if (ws_out) *ws_out = slot->ws;
  if (frame) *frame = slot->frame;
  rc = 0;
done:
  free(pixels);
  lg_image_free(&im);
  return rc;
}

int lg_encode_map(const lg_legrad_req *r, const lg_frame *fr, const lg_layer_set *ls,
                  const float *grid, int g, float score, int single_layer, unsigned char **blob,
                  int *n, lg_err *err) {
  const lg_model *m = r->m;
  lg_map map;
  memset(&map, 0, sizeof map);
  map.version = LG_MAP_VERSION;
  map.method = (lg_method)r->method->blob_id;
  if (!r->method->options_in_flags)
    snprintf(map.options, sizeof map.options, "%s", r->options_key);
  map.gh = map.gw = g;
  map.patch = m->vision.patch;
  map.frame = *fr;
  map.n_layers = ls->n;
  memcpy(map.layers, ls->idx, sizeof(int) * (size_t)ls->n);
  map.score = score;
  memcpy(map.fingerprint, m->fingerprint, sizeof map.fingerprint);
  map.fingerprint[sizeof map.fingerprint - 1] = 0;
  map.grid = (float *)grid;
  int relu_opt = lg_method_option(r->method, "relu");
  int relu = relu_opt >= 0 && r->opt[relu_opt] != 0;
  /* LG_MAP_F_CONSTANT is computed by the encoder from the grid. */
  map.flags = (relu ? LG_MAP_F_RELU : 0) | (single_layer ? LG_MAP_F_SINGLE_LAYER : 0);
  unsigned char *raw = NULL;
  size_t n_raw = 0;
  if (lg_map_encode(&map, &raw, &n_raw, err)) return -1;
  *blob = sqlite3_malloc64(n_raw ? n_raw : 1);
  if (!*blob) { free(raw); return lg_errf(err, "out of memory"); }
  memcpy(*blob, raw, n_raw);
  *n = (int)n_raw;
  free(raw);
  return 0;
}

/* Fills r's method fields for the LeGrad row with relu from legrad()'s options. */
static void legrad_method_from_opts(lg_legrad_req *r) {
  r->method = &lg_method_legrad;
  lg_method_defaults(r->method, r->opt);
  r->opt[lg_method_option(r->method, "relu")] = r->opts.relu;
  lg_method_options_key(r->method, r->opt, r->options_key, sizeof r->options_key);
}

/* The (image, text) arguments shared by every request parser: fills r->img/n_img/text.  Returns
** -1 with err for an argument of the wrong type; else 0 with *null_img (0, 1 for NULL, or
** LG_ROW_FAILED for an empty BLOB, its message in *img_err) and *null_text (0 or 1 for NULL). */
static int parse_image_text(sqlite3_value *const args[4], const char *fn, lg_legrad_req *r,
                            int *null_img, lg_err *img_err, int *null_text, lg_err *err) {
  memset(r, 0, sizeof *r);
  r->fn = fn;
  *null_img = lg_arg_image(args[0], fn, 1, &r->img, &r->n_img, img_err);
  if (*null_img == -1) { *err = *img_err; return -1; }
  *null_text = lg_arg_text(args[1], fn, 2, &r->text, err);
  return *null_text < 0 ? -1 : 0;
}

/* After the options are read (so on_error is known): 1 when the image or the text is NULL (the
** result is NULL), LG_ROW_FAILED with err for an empty image BLOB (a bad row), 0 to go on. */
static int null_or_empty_row(int null_img, int null_text, const lg_err *img_err, lg_err *err) {
  if (null_text) return 1;
  if (null_img == LG_ROW_FAILED) { *err = *img_err; return LG_ROW_FAILED; }
  return null_img ? 1 : 0;
}

int lg_legrad_parse(lg_conn *c, const char *fn, sqlite3_value *const args[4], lg_legrad_req *r,
                    lg_err *err) {
  lg_err img_err;
  int null_img, null_text;
  if (parse_image_text(args, fn, r, &null_img, &img_err, &null_text, err)) return -1;
  if (lg_opts_parse(args[3], LG_OPT_MODEL | LG_OPT_SIZE | LG_OPT_RESIZE | LG_OPT_RELU | LG_OPT_CACHE |
                    LG_OPT_ON_ERROR, fn, 4, &r->opts, err))
    return -1;
  legrad_method_from_opts(r);
  int lt = args[2] ? sqlite3_value_type(args[2]) : SQLITE_NULL;
  if (lt == SQLITE_FLOAT || lt == SQLITE_BLOB)  /* type errors before any model is loaded */
    return lg_arg_layers(args[2], fn, 3, 1, &r->ls, err);
  int skip = null_or_empty_row(null_img, null_text, &img_err, err);
  if (skip) return skip;
  r->m = lg_conn_model(c, r->opts.model, fn, err);
  if (!r->m) return -1;
  if (lg_opts_geometry(&r->opts, r->m, fn, 4, &r->size, &r->mode, err)) return -1;
  if (lg_arg_layers(args[2], fn, 3, r->m->vision.cfg.layers, &r->ls, err)) return -1;
  return 0;
}

int lg_explain_parse(lg_conn *c, const char *fn, sqlite3_value *const args[4], lg_legrad_req *r,
                     lg_err *err) {
  lg_err img_err;
  int null_img, null_text;
  if (parse_image_text(args, fn, r, &null_img, &img_err, &null_text, err)) return -1;
  if (lg_arg_method(args[2], fn, 3, &r->method, err)) return -1;
  lg_method_opts mo;
  if (lg_explain_opts_parse(args[3], LG_OPT_MODEL | LG_OPT_SIZE | LG_OPT_RESIZE | LG_OPT_CACHE |
                            LG_OPT_ON_ERROR, r->method, fn, 4, &r->opts, &mo, err))
    return -1;
  int skip = null_or_empty_row(null_img, null_text, &img_err, err);
  if (skip) return skip;
  r->m = lg_conn_model(c, r->opts.model, fn, err);
  if (!r->m) return -1;
  if (lg_opts_geometry(&r->opts, r->m, fn, 4, &r->size, &r->mode, err)) return -1;
  if (lg_method_opts_resolve(&mo, r->m, fn, 4, r->opt, &r->ls, err)) return -1;
  lg_method_options_key(r->method, r->opt, r->options_key, sizeof r->options_key);
  return 0;
}

int lg_explain_compute(lg_conn *c, const lg_legrad_req *r, const float *t_emb, float **grid_maps,
                       float *scores, int *n_maps, int *g, lg_frame *fr, lg_err *err) {
  lg_vit_ws *ws = NULL;
  const lg_explain_method *me = r->method;
  *grid_maps = NULL;
  int rc = lg_image_forward(c, r->m, r->img, r->n_img, r->size, r->mode, lg_method_keep(me), r->fn,
                            1, NULL, &ws, fr, err);
  if (rc) return rc;
  lg_explain_in in = {r->m, ws, t_emb, 1, &r->ls, r->opt};
  int n = lg_method_n_maps(me, &in), G = ws->grid;
  if (n < 1 || n > LG_MAX_LAYERS)
    return lg_errf(err, "%s(): method '%s' gives %d maps (expected 1..%d)", r->fn, me->name, n,
                   LG_MAX_LAYERS);
  float *maps = malloc(sizeof(float) * (size_t)n * (size_t)G * (size_t)G);
  if (!maps) return lg_errf(err, "%s(): out of memory", r->fn);
  lg_threads_begin(c, r->m, r->size);  /* the method's own products (LeGrad's backward) */
  rc = lg_explain_run(me, &in, maps, scores, err);
  lg_threads_end();
  if (rc) {
    free(maps);
    return lg_err_prefix(err, "%s()", r->fn);
  }
  *grid_maps = maps;
  *n_maps = n;
  *g = G;
  return 0;
}
