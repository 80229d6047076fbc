/*
** The paper's evaluation protocols in SQL (docs/evaluation.md, docs/sql-api.md "Evaluation"):
**
**   SELECT legrad_seg_eval(map, mask);                       -- aggregate: Chefer's segmentation
**   SELECT legrad_seg_eval(map, mask, '{"threshold": 0.5, "frame": "squash224"}');
**   SELECT legrad_seg_image(map, mask [, options]);          -- one image's counts and AP
**   SELECT legrad_point_counts(map, points [, options]);      -- OpenImages V7 point counts
**
** legrad_seg_eval(map, mask [, options]) over (map, mask) rows returns
**   {"images":N,"pixel_accuracy":..,"iou_background":..,"iou_foreground":..,"miou":..,"map":..,
**    "pixel_correct":..,"pixel_labeled":..,"inter_bg":..,"union_bg":..,"inter_fg":..,"union_fg":..}
** with intersections and unions accumulated over the whole set and map the mean of the per-image
** APs (engine/eval/seg_eval.h).  Rows whose map or mask is NULL are skipped; no row: every metric
** is null.  legrad_seg_image returns one image's
**   {"pixel_correct":..,"pixel_labeled":..,"inter_bg":..,"union_bg":..,"inter_fg":..,"union_fg":..,
**    "ap":..}
** Options (a JSON object, NULL = defaults):
**   threshold  "mean" (default: Res > Res.mean(), per image) or a number in [0, 1]
**   label      the mask value that is the foreground (default: every non-zero pixel); it must occur
**              in the mask
**   ignore     a mask id whose pixels are not labelled: left out of every count and of the AP
**              (Chefer's label −1; ImageNet-S's 1000); default none
**   frame      "model" (default): the map's own frame; the mask goes through it as in legrad_iou.
**              "squash224": Chefer's 224 x 224 squash: the map's grid bilinear to 224 x 224 then
**              min-max, the mask NEAREST-resized to 224 x 224 whatever its size.
**
** legrad_point_counts(map, points [, options]) -> {"tp":..,"fp":..,"fn":..,"tn":..,"unsure":..,
** "outside":..,"ignored":..}; points is a JSON array of {"x": X, "y": Y, "yesno": "yes"|"no"|"unsure"}
** in the original image's normalised coordinates (oidv7-*-annotations-point-labels.csv: X, Y,
** EstimatedYesNo); options {"threshold": 0.5 (default) | number in [0, 1] | "mean"}.  Points cut
** off by the crop count as outside (ignored).  engine/eval/point_eval.h has the exact rule.
**
** All are SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC.
*/
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conn.h"
#include "map_funcs.h"
#include "mapblob.h"
#include "metrics.h"
#include "point_eval.h"
#include "render.h"
#include "seg_eval.h"

#define SQUASH_SIDE 224 /* Chefer's Resize((224, 224)) */

typedef enum eval_frame { FRAME_MODEL = 0, FRAME_SQUASH224 = 1 } eval_frame;

typedef struct eval_opts {
  double threshold; /* NAN = the map's mean */
  int label;        /* -1 = every non-zero pixel */
  eval_frame frame;
  int ignore;       /* mask id left out of every count (not labelled); -1 = none */
} eval_opts;

enum { OPT_THRESHOLD = 1, OPT_LABEL = 2, OPT_FRAME = 4, OPT_IGNORE = 8 };

/*
** Parses the options argument (argument number pos of fn).  allowed: OPT_* mask; o holds the
** defaults on entry.  Returns -1 after setting the error.
*/
static int eval_opts_parse(sqlite3_context *ctx, sqlite3_value *v, const char *fn, int pos,
                           unsigned allowed, eval_opts *o) {
  int t = sqlite3_value_type(v), rc = -1;
  if (t == SQLITE_NULL) return 0;
  const char *expected = allowed & OPT_FRAME ? "threshold, label, frame, ignore" : "threshold";
  if (t != SQLITE_TEXT) {
    lg_fn_error(ctx, "%s(): argument %d (options) must be a JSON object as TEXT, found %s", fn, pos,
                lg_type_name(t));
    return -1;
  }
  const char *text = (const char *)sqlite3_value_text(v);
  cJSON *root = cJSON_ParseWithLength(text, (size_t)sqlite3_value_bytes(v));
  if (!root || !cJSON_IsObject(root)) {
    lg_fn_error(ctx, "%s(): argument %d (options) must be a JSON object like '{\"threshold\": 0.5}', "
                     "found '%.80s'", fn, pos, text);
    goto done;
  }
  for (const cJSON *it = root->child; it; it = it->next) {
    const char *k = it->string ? it->string : "";
    if (strcmp(k, "threshold") == 0 && (allowed & OPT_THRESHOLD)) {
      if (cJSON_IsString(it) && strcmp(it->valuestring, "mean") == 0) o->threshold = NAN;
      else if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble <= 1)
        o->threshold = it->valuedouble;
      else {
        lg_fn_error(ctx, "%s(): argument %d (options): \"threshold\" must be \"mean\" or a number in "
                         "[0, 1] (the min-max map's units), found %s", fn, pos,
                    cJSON_IsNumber(it) ? "a number outside [0, 1]" : "another value");
        goto done;
      }
    } else if ((strcmp(k, "label") == 0 && (allowed & OPT_LABEL)) ||
               (strcmp(k, "ignore") == 0 && (allowed & OPT_IGNORE))) {
      int is_label = k[0] == 'l';
      double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
      int *dst = is_label ? &o->label : &o->ignore;
      if (cJSON_IsNull(it)) *dst = -1;
      else if (d >= 0 && d <= 65535 && d == floor(d)) *dst = (int)d;
      else {
        lg_fn_error(ctx, "%s(): argument %d (options): \"%s\" must be an object id in 0..65535 or "
                         "null (%s), found %s", fn, pos, k,
                    is_label ? "every non-zero pixel" : "no pixel is ignored",
                    cJSON_IsNumber(it) ? "an out-of-range or fractional number" : "a non-number");
        goto done;
      }
    } else if (strcmp(k, "frame") == 0 && (allowed & OPT_FRAME)) {
      if (cJSON_IsString(it) && strcmp(it->valuestring, "model") == 0) o->frame = FRAME_MODEL;
      else if (cJSON_IsString(it) && strcmp(it->valuestring, "squash224") == 0) o->frame = FRAME_SQUASH224;
      else {
        lg_fn_error(ctx, "%s(): argument %d (options): \"frame\" must be \"model\" (the map's own "
                         "frame) or \"squash224\" (Chefer's 224x224 squash)", fn, pos);
        goto done;
      }
    } else {
      lg_fn_error(ctx, "%s(): argument %d (options): unknown key \"%.64s\" (expected one of: %s)", fn,
                  pos, k, expected);
      goto done;
    }
  }
  if (o->ignore >= 0 && o->ignore == o->label) {
    lg_fn_error(ctx, "%s(): argument %d (options): \"ignore\" and \"label\" are both %d; the ignored "
                     "id must differ from the foreground's", fn, pos, o->label);
    goto done;
  }
  if (o->ignore == 0 && o->label < 0) {
    lg_fn_error(ctx, "%s(): argument %d (options): \"ignore\" is 0 (the background) with no \"label\"; "
                     "every labelled pixel would be foreground: pass a label", fn, pos);
    goto done;
  }
  rc = 0;
done:
  cJSON_Delete(root);
  return rc;
}

/* Appends a JSON number, or null when it is not finite. */
static void json_num(sqlite3_str *s, const char *key, double x, int first) {
  sqlite3_str_appendf(s, first ? "\"%s\":" : ",\"%s\":", key);
  if (isfinite(x)) sqlite3_str_appendf(s, "%!.17g", x);
  else sqlite3_str_appendall(s, "null");
}

/* Sets s's text (a JSON object) as the result. */
static void result_json(sqlite3_context *ctx, sqlite3_str *s) {
  int len = sqlite3_str_length(s);
  char *text = sqlite3_str_finish(s);
  if (!text) { sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, text, len, sqlite3_free);
}

/*
** One (map, mask) row of the segmentation protocol: fills c.  Returns 0, 1 when map or mask is NULL
** (nothing scored), -1 after setting the error.
*/
static int seg_row(sqlite3_context *ctx, int argc, sqlite3_value **argv, const char *fn, lg_seg_counts *c) {
  lg_map m;
  lg_mask mask = {0};
  uint16_t *framed = NULL;
  float *fin = NULL;
  uint8_t *truth = NULL;
  lg_err err;
  eval_opts o = {NAN, -1, FRAME_MODEL, -1};
  int rc = -1, W = 0, H = 0, constant = 0;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL) return 1;
  int r = lg_map_arg(ctx, argv[0], fn, 1, &m);
  if (r) return r; /* 1: NULL map */
  int t = sqlite3_value_type(argv[1]);
  if (t != SQLITE_BLOB) {
    lg_fn_error(ctx, "%s(): argument 2 (mask) must be a PNG BLOB of object ids, found %s%s", fn,
                lg_type_name(t), t == SQLITE_TEXT ? "; " LG_FILE_BYTES_HINT : "");
    goto done;
  }
  if (argc >= 3 &&
      eval_opts_parse(ctx, argv[2], fn, 3, OPT_THRESHOLD | OPT_LABEL | OPT_FRAME | OPT_IGNORE, &o))
    goto done;
  if (o.frame == FRAME_MODEL) {
    if (lg_map_final_size(ctx, &m, fn, &W, &H)) goto done;
  } else {
    W = H = SQUASH_SIDE;
  }
  if (lg_mask_decode(sqlite3_value_blob(argv[1]), (size_t)sqlite3_value_bytes(argv[1]), &mask, &err)) {
    lg_fn_error(ctx, "%s(): argument 2 (mask) could not be decoded: %s", fn, err.msg);
    goto done;
  }
  if (lg_check_label_present(ctx, fn, 3, &mask, o.label)) goto done;
  size_t n = (size_t)W * (size_t)H;
  if (o.frame == FRAME_MODEL) {
    if (lg_check_mask_size(ctx, fn, &mask, &m) || lg_mask_in_map_frame(ctx, fn, &mask, &m, &framed))
      goto done;
  } else {
    lg_frame sq = {mask.w, mask.h, W, H, 0, 0, W, LG_RESIZE_SQUASH};
    framed = malloc(n * sizeof *framed);
    if (!framed) { sqlite3_result_error_nomem(ctx); goto done; }
    if (lg_mask_to_frame(&mask, &sq, framed, &err)) {
      lg_fn_error(ctx, "%s(): argument 2 (mask): %s", fn, err.msg);
      goto done;
    }
  }
  fin = malloc(n * sizeof *fin);
  truth = malloc(n);
  if (!fin || !truth) { sqlite3_result_error_nomem(ctx); goto done; }
  if (lg_map_final(&m, o.frame == FRAME_MODEL ? 0 : W, o.frame == FRAME_MODEL ? 0 : H, fin, &constant,
                   &err)) {
    lg_fn_error(ctx, "%s(): %s", fn, err.msg);
    goto done;
  }
  for (size_t i = 0; i < n; i++)
    truth[i] = o.ignore >= 0 && framed[i] == (uint16_t)o.ignore
                   ? LG_SEG_IGNORE
                   : (uint8_t)(o.label < 0 ? framed[i] != 0 : framed[i] == (uint16_t)o.label);
  if (lg_seg_image(fin, constant, truth, n, o.threshold, c, &err)) {
    lg_fn_error(ctx, "%s(): %s", fn, err.msg);
    goto done;
  }
  rc = 0;
done:
  free(truth);
  free(fin);
  free(framed);
  lg_mask_free(&mask);
  lg_map_free(&m);
  return rc;
}

/* legrad_seg_image(map, mask [, options]) -> one image's counts and AP as JSON. */
static void seg_image_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_seg_counts c;
  if (seg_row(ctx, argc, argv, "legrad_seg_image", &c)) return;
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendf(s, "{\"pixel_correct\":%lld,\"pixel_labeled\":%lld,\"inter_bg\":%lld,"
                         "\"union_bg\":%lld,\"inter_fg\":%lld,\"union_fg\":%lld",
                      (long long)c.pixel_correct, (long long)c.pixel_labeled, (long long)c.inter[0],
                      (long long)c.uni[0], (long long)c.inter[1], (long long)c.uni[1]);
  json_num(s, "ap", c.ap, 0);
  sqlite3_str_appendall(s, "}");
  result_json(ctx, s);
}

/* legrad_seg_eval step: adds one row's counts to the running totals. */
static void seg_eval_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lg_seg_total *t = sqlite3_aggregate_context(ctx, sizeof *t);
  if (!t) { sqlite3_result_error_nomem(ctx); return; }
  lg_seg_counts c;
  if (seg_row(ctx, argc, argv, "legrad_seg_eval", &c)) return;
  lg_seg_add(t, &c);
}

/* legrad_seg_eval final: the set's metrics as JSON (metrics null when no row was scored). */
static void seg_eval_final(sqlite3_context *ctx) {
  lg_seg_total *t = sqlite3_aggregate_context(ctx, 0);
  lg_seg_total zero = {0};
  lg_seg_summary sm;
  if (!t) t = &zero;
  lg_seg_summarise(t, &sm);
  int none = t->images == 0;
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendf(s, "{\"images\":%lld", (long long)t->images);
  json_num(s, "pixel_accuracy", none ? NAN : sm.pixel_accuracy, 0);
  json_num(s, "iou_background", none ? NAN : sm.iou[0], 0);
  json_num(s, "iou_foreground", none ? NAN : sm.iou[1], 0);
  json_num(s, "miou", none ? NAN : sm.miou, 0);
  json_num(s, "map", sm.map, 0);
  sqlite3_str_appendf(s, ",\"pixel_correct\":%lld,\"pixel_labeled\":%lld,\"inter_bg\":%lld,"
                         "\"union_bg\":%lld,\"inter_fg\":%lld,\"union_fg\":%lld}",
                      (long long)t->pixel_correct, (long long)t->pixel_labeled, (long long)t->inter[0],
                      (long long)t->uni[0], (long long)t->inter[1], (long long)t->uni[1]);
  result_json(ctx, s);
}

/*
** Parses the points argument: a JSON array of {"x": X, "y": Y, "yesno": "yes"|"no"|"unsure"}.
** *pts is malloc'ed.  Returns -1 after setting the error.
*/
static int points_arg(sqlite3_context *ctx, sqlite3_value *v, const char *fn, lg_point **pts, size_t *n) {
  int t = sqlite3_value_type(v), rc = -1;
  *pts = NULL;
  *n = 0;
  if (t != SQLITE_TEXT) {
    lg_fn_error(ctx, "%s(): argument 2 (points) must be a JSON array of {\"x\", \"y\", \"yesno\"} objects "
                     "as TEXT, found %s", fn, lg_type_name(t));
    return -1;
  }
  const char *text = (const char *)sqlite3_value_text(v);
  cJSON *root = cJSON_ParseWithLength(text, (size_t)sqlite3_value_bytes(v));
  if (!root || !cJSON_IsArray(root)) {
    lg_fn_error(ctx, "%s(): argument 2 (points) must be a JSON array like '[{\"x\":0.5,\"y\":0.25,"
                     "\"yesno\":\"yes\"}]', found '%.80s'", fn, text);
    goto done;
  }
  size_t cnt = (size_t)cJSON_GetArraySize(root), i = 0;
  *pts = malloc((cnt ? cnt : 1) * sizeof **pts);
  if (!*pts) { sqlite3_result_error_nomem(ctx); goto done; }
  for (const cJSON *it = root->child; it; it = it->next, i++) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(it, "x");
    const cJSON *y = cJSON_GetObjectItemCaseSensitive(it, "y");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "yesno");
    if (!cJSON_IsObject(it) || !cJSON_IsNumber(x) || !cJSON_IsNumber(y) || !cJSON_IsString(a)) {
      lg_fn_error(ctx, "%s(): argument 2 (points): point %lld must be an object with numbers \"x\" and "
                       "\"y\" and a string \"yesno\"", fn, (long long)i);
      goto done;
    }
    lg_point *p = &(*pts)[i];
    p->x = x->valuedouble;
    p->y = y->valuedouble;
    if (strcmp(a->valuestring, "yes") == 0) p->label = LG_POINT_YES;
    else if (strcmp(a->valuestring, "no") == 0) p->label = LG_POINT_NO;
    else if (strcmp(a->valuestring, "unsure") == 0) p->label = LG_POINT_UNSURE;
    else {
      lg_fn_error(ctx, "%s(): argument 2 (points): point %lld: \"yesno\" must be \"yes\", \"no\" or "
                       "\"unsure\" (the CSV's EstimatedYesNo), found \"%.40s\"", fn, (long long)i,
                  a->valuestring);
      goto done;
    }
    if (!(p->x >= 0 && p->x <= 1 && p->y >= 0 && p->y <= 1)) {
      lg_fn_error(ctx, "%s(): argument 2 (points): point %lld: x and y must lie in [0, 1] (normalised to "
                       "the original image), found (%g, %g)", fn, (long long)i, p->x, p->y);
      goto done;
    }
  }
  *n = i;
  rc = 0;
done:
  cJSON_Delete(root);
  if (rc) { free(*pts); *pts = NULL; }
  return rc;
}

/* legrad_point_counts(map, points [, options]) -> {"tp","fp","fn","tn","unsure","outside","ignored"}. */
static void point_counts_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  static const char *fn = "legrad_point_counts";
  lg_map m;
  lg_point *pts = NULL;
  float *fin = NULL;
  size_t n = 0;
  lg_err err;
  eval_opts o = {0.5, -1, FRAME_MODEL, -1};
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL) return;
  if (lg_map_arg(ctx, argv[0], fn, 1, &m)) return;
  if (points_arg(ctx, argv[1], fn, &pts, &n)) goto done;
  if (argc >= 3 && eval_opts_parse(ctx, argv[2], fn, 3, OPT_THRESHOLD, &o)) goto done;
  int W, H;
  if (lg_map_final_size(ctx, &m, fn, &W, &H)) goto done;
  fin = malloc(sizeof(float) * (size_t)W * H);
  if (!fin) { sqlite3_result_error_nomem(ctx); goto done; }
  if (lg_map_final(&m, 0, 0, fin, NULL, &err)) { lg_fn_error(ctx, "%s(): %s", fn, err.msg); goto done; }
  lg_point_counts c;
  if (lg_point_score(fin, W, H, &m.frame, pts, n, o.threshold, &c, &err)) {
    lg_fn_error(ctx, "%s(): %s", fn, err.msg);
    goto done;
  }
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendf(s, "{\"tp\":%lld,\"fp\":%lld,\"fn\":%lld,\"tn\":%lld,\"unsure\":%lld,"
                         "\"outside\":%lld,\"ignored\":%lld}",
                      (long long)c.tp, (long long)c.fp, (long long)c.fn, (long long)c.tn,
                      (long long)c.unsure, (long long)c.outside, (long long)(c.unsure + c.outside));
  result_json(ctx, s);
done:
  free(fin);
  free(pts);
  lg_map_free(&m);
}

int lg_register_eval_functions(sqlite3 *db) {
  static const int pure = SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC;
  int rc = SQLITE_OK;
  for (int n = 2; n <= 3 && rc == SQLITE_OK; n++) {
    rc = sqlite3_create_function_v2(db, "legrad_seg_image", n, pure, NULL, seg_image_func, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
      rc = sqlite3_create_function_v2(db, "legrad_seg_eval", n, pure, NULL, NULL, seg_eval_step,
                                      seg_eval_final, NULL);
    if (rc == SQLITE_OK)
      rc = sqlite3_create_function_v2(db, "legrad_point_counts", n, pure, NULL, point_counts_func, NULL,
                                      NULL, NULL);
  }
  return rc;
}
