/*
** CLIP embeddings in SQL.
**
**   clip_image_embedding(image [, options])  -> float32 BLOB [E], L2-normalised, subtype 223
**   clip_text_embedding(text [, options])    -> float32 BLOB [E], L2-normalised, subtype 223
**   clip_similarity(image, text [, options]) -> REAL cosine of the two embeddings
**   clip_tokenize(text [, options])          -> JSON array of token ids, SOT ... EOT (no padding)
**
**   SELECT clip_similarity(readfile('cat.jpg'), 'a photo of a cat');
**   CREATE VIRTUAL TABLE v USING vec0(e float[512]);            -- sqlite-vec, if loaded
**   INSERT INTO v SELECT rowid, clip_image_embedding(img) FROM photos;
**
** Options (JSON object): image functions take model, size, resize, on_error; text functions take
** model, on_error.  {"on_error": "null"}: a row that fails on its data (an image that does not
** decode, a prompt the tokenizer refuses) gives NULL and is listed in legrad_failures (failures.c).
** The embeddings are raw native-endian float32 arrays tagged with subtype 223, sqlite-vec's float32
** vector subtype, so vec0 tables and vec_* functions accept them directly.
**
** FLAGS: SQLITE_DIRECTONLY (they may load the default model from disk) | SQLITE_DETERMINISTIC (for
** a given model registry the result depends only on the arguments) | SQLITE_RESULT_SUBTYPE for the
** two embedding functions.  A constant prompt is embedded once per statement (auxdata).
*/
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "tokenizer.h"

#define CLIP_VEC_SUBTYPE 223 /* sqlite-vec's float32 vector subtype */

/* Resolves the model named by the options value (may be NULL). */
static lg_model *clip_model(lg_conn *c, sqlite3_value *opt, unsigned allowed, const char *fn,
                            int argno, lg_opts *o, lg_err *err) {
  if (lg_opts_parse(opt, allowed, fn, argno, o, err)) return NULL;
  return lg_conn_model(c, o->model, fn, err);
}

/* Returns a sqlite3_malloc'ed copy of v [n] as a BLOB result with the float32 subtype. */
static void clip_result_vector(sqlite3_context *ctx, const float *v, int n) {
  float *copy = sqlite3_malloc64(sizeof(float) * (size_t)n);
  if (!copy) { sqlite3_result_error_nomem(ctx); return; }
  memcpy(copy, v, sizeof(float) * (size_t)n);
  sqlite3_result_blob(ctx, copy, (int)(sizeof(float) * (size_t)n), sqlite3_free);
  sqlite3_result_subtype(ctx, CLIP_VEC_SUBTYPE);
}

/*
** Image embedding of img with the options in opt (argument number opt_argno) into *out, a
** malloc'ed [E] vector, and *pm.  row receives the image and on_error option for lg_row_end.
** Returns 0, 1 for a NULL image, -1 with err, or LG_ROW_FAILED with err (the image's bytes).
*/
static int clip_image_vec(sqlite3_context *ctx, sqlite3_value *img, sqlite3_value *opt,
                          int opt_argno, lg_model **pm, float **out, lg_row *row, lg_err *err) {
  lg_conn *c = sqlite3_user_data(ctx);
  const char *fn = row->fn;
  int size = 0;
  lg_resize mode;
  lg_opts o;
  *out = NULL;
  lg_err img_err;
  int null_img = lg_arg_image(img, fn, 1, &row->img, &row->n_img, &img_err);
  if (null_img == -1) { *err = img_err; return -1; }
  if (lg_opts_parse(opt, LG_OPT_MODEL | LG_OPT_SIZE | LG_OPT_RESIZE | LG_OPT_ON_ERROR, fn, opt_argno,
                    &o, err))
    return -1;
  row->on_error_null = o.on_error_null;
  lg_model *m = lg_conn_model(c, o.model, fn, err);
  if (!m) return -1;
  if (null_img == 1) return 1;
  if (null_img == LG_ROW_FAILED) { *err = img_err; return LG_ROW_FAILED; }  /* an empty BLOB */
  if (lg_opts_geometry(&o, m, fn, opt_argno, &size, &mode, err)) return -1;
  float *e = malloc(sizeof(float) * (size_t)m->embed_dim);
  if (!e) return lg_errf(err, "%s(): out of memory", fn);
  int rc = lg_image_forward(c, m, row->img, row->n_img, size, mode, LG_KEEP_DEFAULT, fn, 1, e, NULL,
                            NULL, err);
  if (rc) { free(e); return rc; }
  *pm = m;
  *out = e;
  return 0;
}

/* clip_image_embedding(image [, options]) */
static void clipImageEmbeddingFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_err err = {{0}};
  lg_model *m = NULL;
  float *e = NULL;
  lg_row row = {"clip_image_embedding", NULL, 0, NULL, 0};
  int rc = clip_image_vec(ctx, argv[0], argc > 1 ? argv[1] : NULL, 2, &m, &e, &row, &err);
  if (rc == 1) { sqlite3_result_null(ctx); return; }
  int as_null = lg_row_end(sqlite3_user_data(ctx), &row, rc, &err);
  if (rc == 0) clip_result_vector(ctx, e, m->embed_dim);
  else if (as_null) sqlite3_result_null(ctx);
  else lg_result_err(ctx, &err);
  free(e);
}

/*
** The (text [, options]) arguments of clip_text_embedding() and clip_tokenize(): sets row->text,
** row->on_error_null and *pm and returns 0, or sets the result (an error, or NULL for a NULL text)
** and returns 1.
*/
static int clip_text_args(sqlite3_context *ctx, int argc, sqlite3_value **argv, lg_row *row,
                          lg_model **pm, lg_err *err) {
  lg_opts o;
  const char *fn = row->fn;
  int null_text = lg_arg_text(argv[0], fn, 1, &row->text, err);
  if (null_text >= 0)
    *pm = clip_model(sqlite3_user_data(ctx), argc > 1 ? argv[1] : NULL,
                     LG_OPT_MODEL | LG_OPT_ON_ERROR, fn, 2, &o, err);
  if (null_text < 0 || !*pm) { lg_result_err(ctx, err); return 1; }
  if (null_text) { sqlite3_result_null(ctx); return 1; }
  row->on_error_null = o.on_error_null;
  return 0;
}

/* clip_text_embedding(text [, options]) */
static void clipTextEmbeddingFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_err err = {{0}};
  lg_model *m = NULL;
  lg_row row = {"clip_text_embedding", NULL, 0, NULL, 0};
  if (clip_text_args(ctx, argc, argv, &row, &m, &err)) return;
  float *e = malloc(sizeof(float) * (size_t)m->embed_dim);
  if (!e) { sqlite3_result_error_nomem(ctx); return; }
  int rc = lg_text_embedding_cached(ctx, 0, m, row.text, row.fn, 1, e, &err);
  int as_null = lg_row_end(sqlite3_user_data(ctx), &row, rc, &err);
  if (rc == 0) clip_result_vector(ctx, e, m->embed_dim);
  else if (as_null) sqlite3_result_null(ctx);
  else lg_result_err(ctx, &err);
  free(e);
}

/* clip_similarity(image, text [, options]) */
static void clipSimilarityFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  static const char fn[] = "clip_similarity";
  lg_err err = {{0}};
  lg_model *m = NULL;
  float *t = NULL, *e = NULL;
  lg_row row = {fn, NULL, 0, NULL, 0};
  int null_text = lg_arg_text(argv[1], fn, 2, &row.text, &err);
  if (null_text < 0) { lg_result_err(ctx, &err); return; }
  if (null_text) {  /* still validate the other arguments' types */
    const void *d; int n;
    if (lg_arg_image(argv[0], fn, 1, &d, &n, &err) == -1) { lg_result_err(ctx, &err); return; }
    sqlite3_result_null(ctx);
    return;
  }
  int rc = clip_image_vec(ctx, argv[0], argc > 2 ? argv[2] : NULL, 3, &m, &e, &row, &err);
  if (rc == 1) { sqlite3_result_null(ctx); return; }
  if (rc == 0) {
    t = malloc(sizeof(float) * (size_t)m->embed_dim);
    if (!t) rc = lg_errf(&err, "%s(): out of memory", fn);
    else rc = lg_text_embedding_cached(ctx, 1, m, row.text, fn, 2, t, &err);
  }
  int as_null = lg_row_end(sqlite3_user_data(ctx), &row, rc, &err);
  if (rc == 0) sqlite3_result_double(ctx, lg_dot(e, t, m->embed_dim));
  else if (as_null) sqlite3_result_null(ctx);
  else lg_result_err(ctx, &err);
  free(t);
  free(e);
}

/* clip_tokenize(text [, options]) */
static void clipTokenizeFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  static const char fn[] = "clip_tokenize";
  lg_err err = {{0}};
  lg_model *m = NULL;
  lg_row row = {fn, NULL, 0, NULL, 0};
  if (clip_text_args(ctx, argc, argv, &row, &m, &err)) return;
  if (!m->tokenizer || m->text.ctx <= 0) {
    sqlite3_result_error(ctx, "clip_tokenize(): the model has no tokenizer", -1);
    return;
  }
  int ctxlen = m->text.ctx, n_used = 0;
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)ctxlen);
  if (!ids) { sqlite3_result_error_nomem(ctx); return; }
  int rc = 0;
  if (lg_tokenize(m->tokenizer, row.text, ids, ctxlen, &n_used, &err)) {
    lg_err_strip_engine_name(&err);
    lg_err_prefix(&err, "%s(): argument 1 (text)", fn);
    rc = LG_ROW_FAILED;
  }
  int as_null = lg_row_end(sqlite3_user_data(ctx), &row, rc, &err);
  if (rc) {
    free(ids);
    if (as_null) sqlite3_result_null(ctx);
    else lg_result_err(ctx, &err);
    return;
  }
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendchar(s, 1, '[');
  for (int i = 0; i < n_used; i++) sqlite3_str_appendf(s, "%s%d", i ? "," : "", ids[i]);
  sqlite3_str_appendchar(s, 1, ']');
  free(ids);
  int len = sqlite3_str_length(s);
  char *json = sqlite3_str_finish(s);
  if (!json) { sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, json, len, sqlite3_free);
  sqlite3_result_subtype(ctx, 'J'); /* JSON subtype, as SQLite's json functions use */
}

int lg_register_clip_functions(sqlite3 *db, lg_conn *c) {
  enum { F = SQLITE_UTF8 | SQLITE_DIRECTONLY | SQLITE_DETERMINISTIC, V = F | SQLITE_RESULT_SUBTYPE };
  static const lg_func_def funcs[] = {
      {"clip_image_embedding", 1, V, clipImageEmbeddingFunc},
      {"clip_image_embedding", 2, V, clipImageEmbeddingFunc},
      {"clip_text_embedding", 1, V, clipTextEmbeddingFunc},
      {"clip_text_embedding", 2, V, clipTextEmbeddingFunc},
      {"clip_similarity", 2, F, clipSimilarityFunc},
      {"clip_similarity", 3, F, clipSimilarityFunc},
      {"clip_tokenize", 1, V, clipTokenizeFunc},
      {"clip_tokenize", 2, V, clipTokenizeFunc},
  };
  return lg_create_functions(db, funcs, sizeof funcs / sizeof funcs[0], c);
}
