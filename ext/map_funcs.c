/*
** Pure SQL functions on map blobs (docs/sql-api.md, docs/map-format.md).
**
**   SELECT legrad_map_info(map);                  -- JSON object: every header field
**   SELECT legrad_map_grid(map);                  -- JSON [[...], ...]: the raw grid, gh rows
**   SELECT legrad_map_json(map);                  -- JSON: final min-max map at the input size
**   SELECT legrad_map_json(map, 64, 48);          -- ... resized to width 64, height 48
**   SELECT legrad_map_json(map, src_w, src_h);    -- crop frame: in the image's coordinates, null
**                                                 -- outside the crop
**   SELECT legrad_map_png(map);                   -- PNG heatmap (jet)
**   SELECT legrad_map_png(map, readfile('x.jpg'), 0.4);  -- overlay on the image, alpha 0.4
**   SELECT legrad_map_png(map, readfile('x.jpg'), 0.4, 'source');  -- ... at the image's size
**   SELECT legrad_map_from_grid('[[0,1],[2,3]]', '{"patch": 16}');  -- import a grid as a map
**
** All are SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC; a NULL map (or grid) gives NULL.  JSON results
** carry the JSON subtype (74).  Errors name the function, the argument, what was expected and what
** was found.  Floats are printed with %.9g, so they read back as the same float32.  Every output is
** capped (lg_check_output_pixels: 16 Mi pixels; JSON text: LG_MAP_MAX_JSON_BYTES).
**
** HOW IT WORKS: every function decodes its map argument with lg_map_decode() (engine/maps/mapblob.c),
** which validates the whole blob; the final map comes from lg_map_final() (lg_map_final_source() in
** the source image's coordinates) and PNGs from
** lg_render_png() (engine/maps/render.c).  JSON text is built with sqlite3_str; legrad_map_from_grid()
** parses its JSON input with cJSON.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conn.h"
#include "image.h"
#include "map_funcs.h"
#include "mapblob.h"
#include "metrics.h"
#include "render.h"

#define JSON_SUBTYPE 74 /* 'J': SQLite's JSON functions treat the text as JSON */

/* Sets a printf-style message (sqlite3_mprintf) as the function's error. */
void lg_fn_error(sqlite3_context *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  if (!msg) { sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_error(ctx, msg, -1);
  sqlite3_free(msg);
}

/* See map_funcs.h. */
int lg_check_output_pixels(sqlite3_context *ctx, const char *fn, const char *what, sqlite3_int64 W,
                           sqlite3_int64 H) {
  if (W * H <= LG_MAP_MAX_FINAL_PIXELS) return 0;
  lg_fn_error(ctx, "%s(): a %lldx%lld %s exceeds the limit of %d pixels", fn, W, H, what,
              LG_MAP_MAX_FINAL_PIXELS);
  return -1;
}

/* See map_funcs.h. */
int lg_map_final_size(sqlite3_context *ctx, const lg_map *m, const char *fn, int *W, int *H) {
  lg_map_input_size(m, W, H);
  if ((sqlite3_int64)*W * *H > LG_MAP_MAX_FINAL_PIXELS) {
    lg_fn_error(ctx, "%s(): the map's %dx%d input exceeds the limit of %d pixels", fn, *W, *H,
                LG_MAP_MAX_FINAL_PIXELS);
    return -1;
  }
  return 0;
}

int lg_map_arg(sqlite3_context *ctx, sqlite3_value *v, const char *fn, int pos, lg_map *m) {
  int t = sqlite3_value_type(v);
  memset(m, 0, sizeof *m);
  if (t == SQLITE_NULL) return 1;
  if (t != SQLITE_BLOB) {
    lg_fn_error(ctx, "%s(): argument %d (map) must be a BLOB (a legrad map), found %s", fn, pos,
             lg_type_name(t));
    return -1;
  }
  lg_err err;
  const void *b = sqlite3_value_blob(v);
  int n = sqlite3_value_bytes(v);
  if (lg_map_decode(b, (size_t)n, m, &err)) {
    lg_fn_error(ctx, "%s(): argument %d (map) is not a legrad map blob: %s", fn, pos, err.msg);
    return -1;
  }
  return 0;
}

/* Appends a float with %.9g (round-trips float32). */
static void str_float(sqlite3_str *s, double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.9g", v);
  sqlite3_str_appendall(s, buf);
}

/*
** Appends rows x cols floats as a JSON 2-D array (NaN as null: a pixel outside the explained
** region).  Stops and returns -1 after setting the error when the text passes
** LG_MAP_MAX_JSON_BYTES; the caller then frees s without using it.
*/
static int str_matrix(sqlite3_context *ctx, const char *fn, sqlite3_str *s, const float *a, int rows,
                      int cols) {
  sqlite3_str_appendchar(s, 1, '[');
  for (int r = 0; r < rows; r++) {
    sqlite3_str_appendall(s, r ? ",[" : "[");
    for (int c = 0; c < cols; c++) {
      if (c) sqlite3_str_appendchar(s, 1, ',');
      float v = a[(size_t)r * cols + c];
      if (isnan(v)) sqlite3_str_appendall(s, "null");
      else str_float(s, v);
    }
    sqlite3_str_appendchar(s, 1, ']');
    if (sqlite3_str_length(s) > LG_MAP_MAX_JSON_BYTES) {
      lg_fn_error(ctx, "%s(): the JSON text of a %dx%d map exceeds the limit of %d bytes (64 MiB) at "
                       "row %d; ask for a smaller width and height", fn, cols, rows,
                  LG_MAP_MAX_JSON_BYTES, r + 1);
      return -1;
    }
  }
  sqlite3_str_appendchar(s, 1, ']');
  return 0;
}

/* Hands a finished sqlite3_str to SQLite as JSON text (or reports its error). */
static void result_json(sqlite3_context *ctx, sqlite3_str *s) {
  int rc = sqlite3_str_errcode(s);
  int n = sqlite3_str_length(s);
  char *z = sqlite3_str_finish(s);
  if (rc == SQLITE_TOOBIG) { sqlite3_free(z); sqlite3_result_error_toobig(ctx); return; }
  if (rc != SQLITE_OK || !z) { sqlite3_free(z); sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, z, n, sqlite3_free);
  sqlite3_result_subtype(ctx, JSON_SUBTYPE);
}

/* The name of a blob's method id: "external", or the method table's name; an id this build does
** not know (a blob from a newer build) reads "unknown". */
static const char *method_name(lg_method m) {
  if (m == LG_METHOD_EXTERNAL) return "external";
  const lg_explain_method *me = lg_method_by_blob_id((int)m);
  return me ? me->name : "unknown";
}

/*
** legrad_map_info(map) -> JSON object with every header field:
**   {"version":1,"method":"legrad"[,"method_id":N][,"options":"start_layer=1"],
**    "grid":[gh,gw],"patch":16,"input":[H,W],
**    "frame":{"source":[w,h],"resize":[rw,rh],"crop":[cx,cy],"mode":"crop"} | null,
**    "layers":[10,11],"score":0.25 | null,"fingerprint":"..." | null,
**    "flags":{"relu":true,"constant":false,"single_layer":false,"normalised":false,
**             "compressed":true},"bytes":N,"payload_bytes":N}
** "options" (the method's parameters) is present when the blob records them (version 2);
** "method_id" when the method is "unknown" to this build.
*/
static void map_info_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_map m;
  if (lg_map_arg(ctx, argv[0], "legrad_map_info", 1, &m)) return;
  int W, H;
  lg_map_input_size(&m, &W, &H);
  int nbytes = sqlite3_value_bytes(argv[0]);
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  const char *mname = method_name(m.method);
  sqlite3_str_appendf(s, "{\"version\":%d,\"method\":\"%s\"", m.version, mname);
  if (strcmp(mname, "unknown") == 0) sqlite3_str_appendf(s, ",\"method_id\":%d", (int)m.method);
  if (m.options[0]) sqlite3_str_appendf(s, ",\"options\":\"%s\"", m.options);
  sqlite3_str_appendf(s, ",\"grid\":[%d,%d],\"patch\":%d,\"input\":[%d,%d],\"frame\":", m.gh,
                      m.gw, m.patch, H, W);
  const lg_frame *f = &m.frame;
  if (f->src_w == 0)
    sqlite3_str_appendall(s, "null");
  else
    sqlite3_str_appendf(s, "{\"source\":[%d,%d],\"resize\":[%d,%d],\"crop\":[%d,%d],\"size\":%d,"
                           "\"mode\":\"%s\"}",
                        f->src_w, f->src_h, f->rw, f->rh, f->cx, f->cy, f->size,
                        f->mode == LG_RESIZE_SQUASH ? "squash" : "crop");
  sqlite3_str_appendall(s, ",\"layers\":[");
  for (int i = 0; i < m.n_layers; i++) sqlite3_str_appendf(s, i ? ",%d" : "%d", m.layers[i]);
  sqlite3_str_appendall(s, "],\"score\":");
  if (isnan(m.score)) sqlite3_str_appendall(s, "null");
  else str_float(s, m.score);
  if (m.fingerprint[0]) sqlite3_str_appendf(s, ",\"fingerprint\":\"%s\"", m.fingerprint);
  else sqlite3_str_appendall(s, ",\"fingerprint\":null");
  static const struct { uint32_t bit; const char *name; } F[] = {
      {LG_MAP_F_RELU, "relu"},
      {LG_MAP_F_CONSTANT, "constant"},
      {LG_MAP_F_SINGLE_LAYER, "single_layer"},
      {LG_MAP_F_NORMALISED, "normalised"},
      {LG_MAP_F_COMPRESSED, "compressed"}};
  sqlite3_str_appendall(s, ",\"flags\":{");
  for (size_t i = 0; i < sizeof F / sizeof F[0]; i++)
    sqlite3_str_appendf(s, "%s\"%s\":%s", i ? "," : "", F[i].name,
                        (m.flags & F[i].bit) ? "true" : "false");
  uint32_t payload = (uint32_t)nbytes - LG_MAP_FIXED_HEADER - 2u * (uint32_t)m.n_layers - 4u;
  sqlite3_str_appendf(s, "},\"bytes\":%d,\"payload_bytes\":%u}", nbytes, payload);
  lg_map_free(&m);
  result_json(ctx, s);
}

/* legrad_map_grid(map) -> the raw grid as a JSON 2-D array (gh rows of gw numbers). */
static void map_grid_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_map m;
  const char *fn = "legrad_map_grid";
  if (lg_map_arg(ctx, argv[0], fn, 1, &m)) return;
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  if (lg_check_output_pixels(ctx, fn, "grid", m.gw, m.gh) || str_matrix(ctx, fn, s, m.grid, m.gh, m.gw))
    sqlite3_free(sqlite3_str_finish(s));
  else
    result_json(ctx, s);
  lg_map_free(&m);
}

/*
** Reads an optional positive integer argument (NULL -> *out unchanged).  Returns -1 after setting
** the error when it is not an integer in 1..max.
*/
static int int_arg(sqlite3_context *ctx, sqlite3_value *v, const char *fn, int pos,
                   const char *name, int max, int *out) {
  int t = sqlite3_value_type(v);
  if (t == SQLITE_NULL) return 0;
  sqlite3_int64 x = sqlite3_value_int64(v);
  if (t != SQLITE_INTEGER || x < 1 || x > max) {
    if (t == SQLITE_INTEGER)
      lg_fn_error(ctx, "%s(): argument %d (%s) must be an integer in 1..%d, found %lld", fn, pos, name,
               max, x);
    else
      lg_fn_error(ctx, "%s(): argument %d (%s) must be an integer in 1..%d, found %s", fn, pos, name,
               max, lg_type_name(t));
    return -1;
  }
  *out = (int)x;
  return 0;
}

/* 1 when frame f is a crop that leaves part of its source image out of the explained region. */
static int frame_cuts(const lg_frame *f) {
  int x0, y0, x1, y1;
  if (f->src_w == 0) return 0;
  lg_frame_region(f, &x0, &y0, &x1, &y1);
  return x0 > 0 || y0 > 0 || x1 < f->src_w || y1 < f->src_h;
}

/*
** legrad_map_json(map [, width, height]) -> the final map (bilinear resize, then min-max) as a JSON
** 2-D array of `height` rows of `width` numbers; default: the model input size.  For a map with a
** recorded crop frame, width x height equal to the source image's size gives the map in the image's
** coordinates (lg_map_final_source), null outside the explained region; a crop that cut part of the
** image accepts only that size or a square one (the model input resized).
*/
static void map_json_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *fn = "legrad_map_json";
  lg_map m;
  float *fin = NULL;
  lg_err err;
  if (lg_map_arg(ctx, argv[0], fn, 1, &m)) return;
  int W, H;
  lg_map_input_size(&m, &W, &H);
  if (argc == 3) {
    if (int_arg(ctx, argv[1], fn, 2, "width", LG_MAP_MAX_INPUT, &W)) goto done;
    if (int_arg(ctx, argv[2], fn, 3, "height", LG_MAP_MAX_INPUT, &H)) goto done;
  }
  const lg_frame *f = &m.frame;
  int in_source = argc == 3 && f->src_w != 0 && f->mode == LG_RESIZE_CROP && W == f->src_w &&
                  H == f->src_h;
  if (!in_source && W != H && frame_cuts(f)) {
    int x0, y0, x1, y1;
    lg_frame_region(f, &x0, &y0, &x1, &y1);
    lg_fn_error(ctx, "%s(): the map explains only the %dx%d centre crop of its %dx%d image, so a %dx%d "
                     "map would stretch it; pass %d, %d for the image's coordinates (null outside the "
                     "crop) or a square size for the model input", fn, x1 - x0, y1 - y0, f->src_w,
                f->src_h, W, H, f->src_w, f->src_h);
    goto done;
  }
  if (lg_check_output_pixels(ctx, fn, "map", W, H)) goto done;
  fin = malloc(sizeof(float) * (size_t)W * H);
  if (!fin) { sqlite3_result_error_nomem(ctx); goto done; }
  if (in_source ? lg_map_final_source(&m, fin, NULL, &err) : lg_map_final(&m, W, H, fin, NULL, &err)) {
    lg_fn_error(ctx, "%s(): %s", fn, err.msg);
    goto done;
  }
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  if (str_matrix(ctx, fn, s, fin, H, W)) sqlite3_free(sqlite3_str_finish(s));
  else result_json(ctx, s);
done:
  free(fin);
  lg_map_free(&m);
}

/*
** legrad_map_png(map [, image [, alpha [, frame]]]) -> PNG of the final map through the jet colormap;
** with an image (encoded BLOB; NULL = none) the colours are blended over it with weight alpha
** (default 0.5).  frame 'input' (default, NULL): the model input square, the image brought into the
** map's frame.  frame 'source': the source image's size and coordinates (lg_map_final_source); the
** heatmap covers only the explained region, outside it the image is dimmed, and a white line marks
** the region's border (render.h lg_render_png).
*/
static void map_png_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *fn = "legrad_map_png";
  lg_map m;
  lg_image img = {0}, framed = {0};
  float *fin = NULL;
  unsigned char *png = NULL;
  size_t n_png = 0;
  double alpha = 0.5;
  int in_source = 0;
  lg_err err;
  if (lg_map_arg(ctx, argv[0], fn, 1, &m)) return;
  const void *img_data = NULL;
  int img_n = 0;
  int have_image = 0;
  if (argc >= 2) {
    int r = lg_arg_image(argv[1], fn, 2, &img_data, &img_n, &err);
    if (r < 0) { lg_result_err(ctx, &err); goto done; }
    have_image = r == 0;
  }
  if (argc >= 3 && sqlite3_value_type(argv[2]) != SQLITE_NULL) {
    int t = sqlite3_value_type(argv[2]);
    alpha = sqlite3_value_double(argv[2]);
    if ((t != SQLITE_INTEGER && t != SQLITE_FLOAT) || !(alpha >= 0.0 && alpha <= 1.0)) {
      if (t == SQLITE_INTEGER || t == SQLITE_FLOAT)
        lg_fn_error(ctx, "%s(): argument 3 (alpha) must be a number in 0..1, found %.9g", fn, alpha);
      else
        lg_fn_error(ctx, "%s(): argument 3 (alpha) must be a number in 0..1, found %s", fn, lg_type_name(t));
      goto done;
    }
  }
  if (argc >= 4 && sqlite3_value_type(argv[3]) != SQLITE_NULL) {
    const char *z = sqlite3_value_type(argv[3]) == SQLITE_TEXT ? (const char *)sqlite3_value_text(argv[3])
                                                                : NULL;
    if (!z || (strcmp(z, "input") != 0 && strcmp(z, "source") != 0)) {
      lg_fn_error(ctx, "%s(): argument 4 (frame) must be 'input' or 'source', found %s%.40s%s", fn,
                  z ? "'" : "", z ? z : lg_type_name(sqlite3_value_type(argv[3])), z ? "'" : "");
      goto done;
    }
    in_source = z[0] == 's';
    if (in_source && m.frame.src_w == 0) {
      lg_fn_error(ctx, "%s(): argument 4 (frame) is 'source' but the map records no frame (no source "
                       "image coordinates); use 'input'", fn);
      goto done;
    }
  }
  int W, H;
  if (in_source) {
    W = m.frame.src_w;
    H = m.frame.src_h;
    if (lg_check_output_pixels(ctx, fn, "image", W, H)) goto done;
  } else if (lg_map_final_size(ctx, &m, fn, &W, &H)) {
    goto done;
  }
  fin = malloc(sizeof(float) * (size_t)W * H);
  if (!fin) { sqlite3_result_error_nomem(ctx); goto done; }
  if (in_source ? lg_map_final_source(&m, fin, NULL, &err) : lg_map_final(&m, 0, 0, fin, NULL, &err)) {
    lg_fn_error(ctx, "%s(): %s", fn, err.msg);
    goto done;
  }
  if (have_image) {
    lg_interrupt intr;
    lg_image_limits lim;
    lg_image_limits_for_db(sqlite3_context_db_handle(ctx), &intr, &lim);
    if (lg_image_decode_limited(img_data, (size_t)img_n, &lim, &img, &err)) {
      lg_err_strip_engine_name(&err);
      lg_fn_error(ctx, "%s(): argument 2 (image) could not be decoded: %s", fn, err.msg);
      goto done;
    }
    if (in_source && (img.w != W || img.h != H)) {
      lg_fn_error(ctx, "%s(): argument 2 (image) does not fit the map: the image is %dx%d but the map "
                       "was computed on a %dx%d image", fn, img.w, img.h, W, H);
      goto done;
    }
    if (!in_source && lg_image_to_map_frame(&img, &m, &framed, &err)) {
      lg_fn_error(ctx, "%s(): argument 2 (image) does not fit the map: %s", fn, err.msg);
      goto done;
    }
  }
  const lg_image *under = !have_image ? NULL : in_source ? &img : &framed;
  if (lg_render_png(fin, W, H, under, (float)alpha, &png, &n_png, &err)) {
    lg_fn_error(ctx, "%s(): %s", fn, err.msg);
    goto done;
  }
  sqlite3_result_blob64(ctx, png, n_png, free);
  png = NULL;
done:
  free(png);
  free(fin);
  lg_image_free(&img);
  lg_image_free(&framed);
  lg_map_free(&m);
}

/* Reads the options object of legrad_map_from_grid into m.  Returns -1 after setting the error. */
static int from_grid_options(sqlite3_context *ctx, const cJSON *o, lg_map *m) {
  const char *fn = "legrad_map_from_grid";
  const cJSON *frame = NULL;
  for (const cJSON *it = o->child; it; it = it->next) {
    const char *k = it->string;
    if (!strcmp(k, "patch")) {
      if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 1 ||
          it->valuedouble > LG_MAP_MAX_PATCH) {
        lg_fn_error(ctx, "%s(): argument 2 (options): \"patch\" must be an integer in 1..%d", fn,
                 LG_MAP_MAX_PATCH);
        return -1;
      }
      m->patch = (int)it->valuedouble;
    } else if (!strcmp(k, "method")) {
      const char *v = cJSON_GetStringValue(it);
      const lg_explain_method *me = v ? lg_method_find(v) : NULL;
      if (v && !strcmp(v, "external")) m->method = LG_METHOD_EXTERNAL;
      else if (me) m->method = (lg_method)me->blob_id;
      else {
        char names[512];
        lg_method_names(names, sizeof names);
        lg_fn_error(ctx, "%s(): argument 2 (options): \"method\" must be \"external\" or a method "
                         "name (%s)", fn, names);
        return -1;
      }
    } else if (!strcmp(k, "options")) {
      const char *v = cJSON_GetStringValue(it);
      if (!v || strlen(v) > LG_MAP_MAX_OPTIONS) {
        lg_fn_error(ctx, "%s(): argument 2 (options): \"options\" must be the method's options "
                         "record, a string of at most %d bytes like \"start_layer=1\"", fn,
                    LG_MAP_MAX_OPTIONS);
        return -1;
      }
      memcpy(m->options, v, strlen(v) + 1);
    } else if (!strcmp(k, "layers")) {
      int n = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : -1;
      if (n < 0 || n > LG_MAP_MAX_LAYERS) {
        lg_fn_error(ctx, "%s(): argument 2 (options): \"layers\" must be an array of at most %d "
                      "integers", fn, LG_MAP_MAX_LAYERS);
        return -1;
      }
      m->n_layers = 0;
      for (const cJSON *l = it->child; l; l = l->next) {
        if (!cJSON_IsNumber(l) || l->valuedouble != floor(l->valuedouble) || l->valuedouble < 0 ||
            l->valuedouble > LG_MAP_MAX_LAYER_INDEX) {
          lg_fn_error(ctx, "%s(): argument 2 (options): \"layers\" must hold integers in 0..%d", fn,
                   LG_MAP_MAX_LAYER_INDEX);
          return -1;
        }
        m->layers[m->n_layers++] = (int)l->valuedouble;
      }
    } else if (!strcmp(k, "score")) {
      if (cJSON_IsNull(it)) m->score = NAN;
      else if (cJSON_IsNumber(it)) m->score = (float)it->valuedouble;
      else {
        lg_fn_error(ctx, "%s(): argument 2 (options): \"score\" must be a number or null", fn);
        return -1;
      }
    } else if (!strcmp(k, "fingerprint")) {
      const char *v = cJSON_GetStringValue(it);
      if (!v || strlen(v) > 32) {
        lg_fn_error(ctx, "%s(): argument 2 (options): \"fingerprint\" must be a string of at most 32 "
                      "lower-case hex digits", fn);
        return -1;
      }
      memcpy(m->fingerprint, v, strlen(v) + 1);
    } else if (!strcmp(k, "relu") || !strcmp(k, "normalised") || !strcmp(k, "single_layer")) {
      uint32_t bit = k[0] == 'r' ? LG_MAP_F_RELU : k[0] == 'n' ? LG_MAP_F_NORMALISED
                                                                : LG_MAP_F_SINGLE_LAYER;
      if (!cJSON_IsBool(it)) {
        lg_fn_error(ctx, "%s(): argument 2 (options): \"%s\" must be true or false", fn, k);
        return -1;
      }
      if (cJSON_IsTrue(it)) m->flags |= bit;
      else m->flags &= ~bit;
    } else if (!strcmp(k, "frame")) {
      frame = it;
    } else {
      lg_fn_error(ctx, "%s(): argument 2 (options): unknown key \"%s\" (expected patch, method, "
                    "options, layers, score, fingerprint, relu, normalised, single_layer, frame)",
                  fn, k);
      return -1;
    }
  }
  if (!frame || cJSON_IsNull(frame)) return 0;
  /* "frame": {"source":[w,h], "mode":"crop"|"squash" [, "resize":[rw,rh], "crop":[cx,cy]]} */
  const char *bad = NULL;
  int v[6] = {0};
  static const char *keys[3] = {"source", "resize", "crop"};
  lg_resize mode = LG_RESIZE_CROP;
  if (!cJSON_IsObject(frame)) bad = "must be an object";
  for (const cJSON *it = bad ? NULL : frame->child; it && !bad; it = it->next) {
    int slot = -1;
    for (int i = 0; i < 3; i++)
      if (!strcmp(it->string, keys[i])) slot = i;
    if (!strcmp(it->string, "mode")) {
      const char *s = cJSON_GetStringValue(it);
      if (s && !strcmp(s, "crop")) mode = LG_RESIZE_CROP;
      else if (s && !strcmp(s, "squash")) mode = LG_RESIZE_SQUASH;
      else bad = "\"mode\" must be \"crop\" or \"squash\"";
    } else if (!strcmp(it->string, "size")) {
      /* accepted for symmetry with legrad_map_info(); must equal the input size (checked below) */
      if (!cJSON_IsNumber(it) || it->valuedouble != m->gh * m->patch)
        bad = "\"size\" must equal the input size (rows x patch)";
    } else if (slot < 0) {
      bad = "unknown key (expected source, mode, resize, crop, size)";
    } else if (cJSON_GetArraySize(it) != 2 || !cJSON_IsArray(it)) {
      bad = "\"source\", \"resize\" and \"crop\" must be [x, y] pairs of integers";
    } else {
      for (int j = 0; j < 2; j++) {
        const cJSON *e = cJSON_GetArrayItem(it, j);
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble > 0x7fffffff)
          bad = "\"source\", \"resize\" and \"crop\" must be [x, y] pairs of integers";
        else
          v[2 * slot + j] = (int)e->valuedouble;
      }
    }
  }
  if (!bad && !cJSON_GetObjectItemCaseSensitive(frame, "source")) bad = "\"source\" is required";
  if (bad) {
    lg_fn_error(ctx, "%s(): argument 2 (options): \"frame\" %s", fn, bad);
    return -1;
  }
  lg_err err;
  int size = m->gh * m->patch;
  if (v[0] < 1 || v[1] < 1) {
    lg_fn_error(ctx, "%s(): argument 2 (options): \"frame\" source size must be positive", fn);
    return -1;
  }
  if (cJSON_GetObjectItemCaseSensitive(frame, "resize")) {
    m->frame.src_w = v[0]; m->frame.src_h = v[1];
    m->frame.rw = v[2]; m->frame.rh = v[3];
    m->frame.cx = v[4]; m->frame.cy = v[5];
    m->frame.size = size;
    m->frame.mode = mode;
  } else if (lg_frame_compute(v[0], v[1], size, mode, &m->frame, &err)) {
    lg_fn_error(ctx, "%s(): argument 2 (options): \"frame\": %s", fn, err.msg);
    return -1;
  }
  return 0;
}

/*
** legrad_map_from_grid(json_grid [, options]) -> a map blob (method "external" unless options say
** otherwise) from a JSON 2-D array of numbers: rows of equal length.  options (JSON object): patch
** (default 1: the grid is at input resolution), method ("external" or a name of legrad_methods),
** options (the method's options record, "start_layer=1"; docs/map-format.md), layers, score,
** fingerprint, relu, normalised, single_layer, frame ({"source":[w,h],"mode":"crop"} computes the crop like
** preprocessing; "resize"/"crop" give it explicitly).
*/
static void map_from_grid_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *fn = "legrad_map_from_grid";
  cJSON *grid = NULL, *opts = NULL;
  lg_map m;
  unsigned char *blob = NULL;
  size_t n_blob = 0;
  lg_err err;
  memset(&m, 0, sizeof m);
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
    lg_fn_error(ctx, "%s(): argument 1 (grid) must be TEXT (a JSON 2-D array of numbers), found %s", fn,
             lg_type_name(sqlite3_value_type(argv[0])));
    return;
  }
  const char *z = (const char *)sqlite3_value_text(argv[0]);
  grid = cJSON_ParseWithLength(z, (size_t)sqlite3_value_bytes(argv[0]));
  if (!grid || !cJSON_IsArray(grid) || !grid->child || !cJSON_IsArray(grid->child)) {
    lg_fn_error(ctx, "%s(): argument 1 (grid) is not a JSON 2-D array of numbers%s", fn,
             !grid ? " (JSON syntax error)" : " (expected [[...], ...] with at least one row)");
    goto done;
  }
  int rows = cJSON_GetArraySize(grid), cols = cJSON_GetArraySize(grid->child);
  if (rows > LG_MAP_MAX_GRID || cols < 1 || cols > LG_MAP_MAX_GRID) {
    lg_fn_error(ctx, "%s(): argument 1 (grid) is %d rows of %d values: expected 1..%d each", fn, rows,
             cols, LG_MAP_MAX_GRID);
    goto done;
  }
  m.grid = malloc(sizeof(float) * (size_t)rows * cols);
  if (!m.grid) { sqlite3_result_error_nomem(ctx); goto done; }
  int r = 0;
  for (const cJSON *row = grid->child; row; row = row->next, r++) {
    if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != cols) {
      lg_fn_error(ctx, "%s(): argument 1 (grid): row %d has %d values, expected %d like row 0", fn, r,
               cJSON_IsArray(row) ? cJSON_GetArraySize(row) : 0, cols);
      goto done;
    }
    int c = 0;
    for (const cJSON *e = row->child; e; e = e->next, c++) {
      float f = (float)(cJSON_IsNumber(e) ? e->valuedouble : NAN);
      if (!cJSON_IsNumber(e) || !isfinite(f)) {
        lg_fn_error(ctx, "%s(): argument 1 (grid): value at row %d, column %d is %s", fn, r, c,
                 cJSON_IsNumber(e) ? "out of float32 range" : "not a number");
        goto done;
      }
      m.grid[(size_t)r * cols + c] = f;
    }
  }
  m.method = LG_METHOD_EXTERNAL;
  m.gh = rows;
  m.gw = cols;
  m.patch = 1;
  m.score = NAN;
  if (argc >= 2 && sqlite3_value_type(argv[1]) != SQLITE_NULL) {
    int t = sqlite3_value_type(argv[1]);
    if (t == SQLITE_TEXT)
      opts = cJSON_ParseWithLength((const char *)sqlite3_value_text(argv[1]),
                                   (size_t)sqlite3_value_bytes(argv[1]));
    if (!cJSON_IsObject(opts)) {
      lg_fn_error(ctx, "%s(): argument 2 (options) must be a JSON object, found %s", fn,
               t == SQLITE_TEXT ? (opts ? "other JSON" : "invalid JSON") : lg_type_name(t));
      goto done;
    }
    /* patch first: the frame's size depends on it */
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(opts, "patch");
    if (cJSON_IsNumber(p) && p->valuedouble >= 1 && p->valuedouble <= LG_MAP_MAX_PATCH)
      m.patch = (int)p->valuedouble;
    if (from_grid_options(ctx, opts, &m)) goto done;
  }
  if (lg_map_encode(&m, &blob, &n_blob, &err)) {
    lg_fn_error(ctx, "%s(): cannot build the map: %s", fn, err.msg);
    goto done;
  }
  sqlite3_result_blob64(ctx, blob, n_blob, free);
  blob = NULL;
done:
  free(blob);
  free(m.grid);
  cJSON_Delete(grid);
  cJSON_Delete(opts);
}

int lg_register_map_functions(sqlite3 *db) {
  static const int pure = SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC;
  static const struct {
    const char *name;
    int n_arg;
    int flags;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
  } F[] = {
      {"legrad_map_info", 1, SQLITE_RESULT_SUBTYPE, map_info_func},
      {"legrad_map_grid", 1, SQLITE_RESULT_SUBTYPE, map_grid_func},
      {"legrad_map_json", 1, SQLITE_RESULT_SUBTYPE, map_json_func},
      {"legrad_map_json", 3, SQLITE_RESULT_SUBTYPE, map_json_func},
      {"legrad_map_png", 1, 0, map_png_func},
      {"legrad_map_png", 2, 0, map_png_func},
      {"legrad_map_png", 3, 0, map_png_func},
      {"legrad_map_png", 4, 0, map_png_func},
      {"legrad_map_from_grid", 1, 0, map_from_grid_func},
      {"legrad_map_from_grid", 2, 0, map_from_grid_func},
  };
  for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
    int rc = sqlite3_create_function_v2(db, F[i].name, F[i].n_arg, pure | F[i].flags, NULL, F[i].fn,
                                        NULL, NULL, NULL);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}
