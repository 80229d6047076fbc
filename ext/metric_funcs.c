/*
** Explanation metrics in SQL: a map blob scored against a ground-truth mask (docs/sql-api.md,
** docs/metrics.md).
**
**   SELECT legrad_iou(map, mask);              -- IoU of (final map > its mean) with the object
**   SELECT legrad_iou(map, mask, 0.5, 3);      -- threshold 0.5, object id 3
**   SELECT legrad_pointing(map, mask);         -- 1 when the map's maximum lies on the object
**   SELECT legrad_mass_in(map, mask);          -- share of the map's mass inside the object
**   SELECT legrad_frame_coverage(map, mask);   -- share of the object inside the explained region
**
** map: a map blob; mask: a PNG blob of object ids (8- or 16-bit greyscale, 0 = background);
** threshold: NULL/absent/'mean' = the map's mean, else a number in [0, 1] (the final map's units);
** label: NULL/absent = every non-zero pixel, else an object id that occurs in the mask.
** All are SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC; a NULL map or mask gives NULL.
**
** A crop frame keeps only the centre of a wide or tall image.  The metrics score the part of the
** object inside the explained region (the object as brought into the map's frame); an object with
** no pixel there gives NULL, never 0.  legrad_frame_coverage() says which share of the object was
** kept (source pixels whose centre lies in the crop, engine/eval/metrics.h lg_frame_region).
**
** HOW IT WORKS: the final map (lg_map_final: bilinear upsample to the model input, min-max) is what
** is scored.  The mask is brought into the map's frame: with a recorded frame through
** lg_mask_to_frame() (the same resize/crop as the image, nearest neighbour; the mask must have the
** source image's size); without one, a mask of the input size is used as is and any other mask is
** squashed to the input size (square inputs only).  The metrics are engine/eval/metrics.c's.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "map_funcs.h"
#include "mapblob.h"
#include "metrics.h"
#include "render.h"

typedef enum metric_kind { METRIC_IOU, METRIC_POINTING, METRIC_MASS_IN, METRIC_COVERAGE } metric_kind;

/*
** Reads the optional label argument: NULL -> -1 (any non-zero id), else an integer in 0..65535.
** Returns -1 after setting the error.
*/
static int label_arg(sqlite3_context *ctx, sqlite3_value *v, const char *fn, int pos, int *label) {
  int t = sqlite3_value_type(v);
  *label = -1;
  if (t == SQLITE_NULL) return 0;
  sqlite3_int64 x = sqlite3_value_int64(v);
  if (t != SQLITE_INTEGER || x < 0 || x > 65535) {
    if (t == SQLITE_INTEGER)
      lg_fn_error(ctx, "%s(): argument %d (label) must be an object id in 0..65535 or NULL, found %lld",
                  fn, pos, x);
    else
      lg_fn_error(ctx, "%s(): argument %d (label) must be an object id in 0..65535 or NULL, found %s",
                  fn, pos, lg_type_name(t));
    return -1;
  }
  *label = (int)x;
  return 0;
}

/*
** Reads the optional threshold argument: NULL or 'mean' -> NAN (the map's mean), else a number in
** [0, 1].  Returns -1 after setting the error.
*/
static int threshold_arg(sqlite3_context *ctx, sqlite3_value *v, const char *fn, int pos, double *thr) {
  int t = sqlite3_value_type(v);
  *thr = NAN;
  if (t == SQLITE_NULL) return 0;
  if (t == SQLITE_TEXT && strcmp((const char *)sqlite3_value_text(v), "mean") == 0) return 0;
  double x = sqlite3_value_double(v);
  if ((t == SQLITE_INTEGER || t == SQLITE_FLOAT) && x >= 0.0 && x <= 1.0) {
    *thr = x;
    return 0;
  }
  if (t == SQLITE_INTEGER)
    lg_fn_error(ctx, "%s(): argument %d (threshold) must be in [0, 1] or 'mean', found %lld", fn, pos,
                sqlite3_value_int64(v));
  else if (t == SQLITE_FLOAT)
    lg_fn_error(ctx, "%s(): argument %d (threshold) must be in [0, 1] or 'mean', found %.9g", fn, pos, x);
  else if (t == SQLITE_TEXT)
    lg_fn_error(ctx, "%s(): argument %d (threshold) must be in [0, 1] or 'mean', found '%.40s'", fn, pos,
                (const char *)sqlite3_value_text(v));
  else
    lg_fn_error(ctx, "%s(): argument %d (threshold) must be in [0, 1] or 'mean', found %s", fn, pos,
                lg_type_name(t));
  return -1;
}

/*
** Checks that label (>= 0) occurs in the mask; otherwise sets an error that lists the ids present:
**   "fn(): argument 4 (label): label 1 does not occur in the mask (it holds 0 and 255); pass 255, or
**    omit label to use every non-zero pixel".  Returns -1 after setting the error.
*/
int lg_check_label_present(sqlite3_context *ctx, const char *fn, int pos, const lg_mask *mask,
                           int label) {
  enum { SHOW = 8 };
  uint8_t seen[8192];
  if (label < 0) return 0;
  int n_ids = lg_mask_ids(mask, seen);
  if (seen[label >> 3] & (1u << (label & 7))) return 0;
  int ids[SHOW], shown = 0, nonzero = 0;
  for (int v = 0; v < 65536; v++) {
    if (!(seen[v >> 3] & (1u << (v & 7)))) continue;
    if (shown < SHOW) ids[shown++] = v;
    nonzero += v != 0;
  }
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendf(s, "%s(): argument %d (label): label %d does not occur in the mask (it holds ", fn,
                      pos, label);
  if (n_ids == 1) sqlite3_str_appendf(s, "only %d", ids[0]);
  for (int i = 0; n_ids > 1 && i < shown; i++)
    sqlite3_str_appendf(s, "%s%d", i == 0 ? "" : (i == n_ids - 1 ? " and " : ", "), ids[i]);
  if (n_ids > shown) sqlite3_str_appendf(s, " and %d more", n_ids - shown);
  if (nonzero == 0) {
    sqlite3_str_appendall(s, ": no object)");
  } else if (nonzero <= SHOW && n_ids <= shown) {
    /* every id was listed: name the non-zero ones to pass */
    sqlite3_str_appendall(s, "); pass ");
    for (int i = 0, k = 0; i < shown; i++) {
      if (!ids[i]) continue;
      sqlite3_str_appendf(s, "%s%d", k == 0 ? "" : (k == nonzero - 1 ? " or " : ", "), ids[i]);
      k++;
    }
    sqlite3_str_appendall(s, ", or omit label to use every non-zero pixel");
  } else {
    sqlite3_str_appendall(s, "); pass one of its non-zero ids, or omit label to use every non-zero pixel");
  }
  char *msg = sqlite3_str_finish(s);
  if (!msg) { sqlite3_result_error_nomem(ctx); return -1; }
  sqlite3_result_error(ctx, msg, -1);
  sqlite3_free(msg);
  return -1;
}

/*
** Checks that the mask's size fits map m: the source size with a recorded frame; without one, the
** input size, or any size when the input is square (it is squashed).  -1 after setting the error.
*/
int lg_check_mask_size(sqlite3_context *ctx, const char *fn, const lg_mask *mask, const lg_map *m) {
  int W, H;
  lg_map_input_size(m, &W, &H);
  const lg_frame *fr = &m->frame;
  if (fr->src_w == 0) {
    if (W != H && (mask->w != W || mask->h != H)) {
      lg_fn_error(ctx, "%s(): argument 2 (mask) is %dx%d; the map records no frame and its input is "
                       "%dx%d, so the mask must be %dx%d", fn, mask->w, mask->h, W, H, W, H);
      return -1;
    }
  } else if (mask->w != fr->src_w || mask->h != fr->src_h) {
    lg_fn_error(ctx, "%s(): argument 2 (mask) is %dx%d but the map was computed on a %dx%d image", fn,
                mask->w, mask->h, fr->src_w, fr->src_h);
    return -1;
  }
  return 0;
}

/*
** Brings mask into the frame of map m: out = [H, W] (the map's input size), malloc'ed.  The mask's
** size has been checked (check_mask_size).  Returns -1 after setting the error.
*/
int lg_mask_in_map_frame(sqlite3_context *ctx, const char *fn, const lg_mask *mask,
                         const lg_map *m, uint16_t **out) {
  int W, H;
  lg_err err;
  lg_map_input_size(m, &W, &H);
  *out = malloc(sizeof(uint16_t) * (size_t)W * H);
  if (!*out) { sqlite3_result_error_nomem(ctx); return -1; }
  if (m->frame.src_w == 0 && mask->w == W && mask->h == H) {
    memcpy(*out, mask->v, sizeof(uint16_t) * (size_t)W * H);
    return 0;
  }
  lg_frame fr = m->frame;
  if (fr.src_w == 0) { /* no frame recorded, square input: squash the mask to the input size */
    fr.src_w = mask->w; fr.src_h = mask->h;
    fr.rw = fr.rh = fr.size = W;
    fr.cx = fr.cy = 0;
    fr.mode = LG_RESIZE_SQUASH;
  }
  if (lg_mask_to_frame(mask, &fr, *out, &err)) {
    lg_fn_error(ctx, "%s(): argument 2 (mask): %s", fn, err.msg);
    free(*out);
    *out = NULL;
    return -1;
  }
  return 0;
}

/* Shared body of the metric functions and legrad_frame_coverage(). */
static void metric_func(sqlite3_context *ctx, int argc, sqlite3_value **argv, metric_kind kind,
                        const char *fn) {
  lg_map m;
  lg_mask mask = {0};
  uint16_t *framed = NULL;
  float *fin = NULL;
  lg_err err;
  int label = -1;
  double threshold = NAN;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL) return;
  if (lg_map_arg(ctx, argv[0], fn, 1, &m)) return;
  int t = sqlite3_value_type(argv[1]);
  if (t != SQLITE_BLOB) {
    lg_fn_error(ctx, "%s(): argument 2 (mask) must be a PNG BLOB of object ids, found %s%s", fn,
                lg_type_name(t), t == SQLITE_TEXT ? "; " LG_FILE_BYTES_HINT : "");
    goto done;
  }
  int label_pos = kind == METRIC_IOU ? 4 : 3;
  if (kind == METRIC_IOU && argc >= 3 && threshold_arg(ctx, argv[2], fn, 3, &threshold)) goto done;
  if (argc >= label_pos && label_arg(ctx, argv[label_pos - 1], fn, label_pos, &label)) goto done;
  int W, H;
  if (lg_map_final_size(ctx, &m, fn, &W, &H)) goto done;
  if (lg_mask_decode(sqlite3_value_blob(argv[1]), (size_t)sqlite3_value_bytes(argv[1]), &mask, &err)) {
    lg_fn_error(ctx, "%s(): argument 2 (mask) could not be decoded: %s", fn, err.msg);
    goto done;
  }
  if (lg_check_mask_size(ctx, fn, &mask, &m)) goto done;
  if (lg_check_label_present(ctx, fn, label_pos, &mask, label)) goto done;
  if (kind == METRIC_COVERAGE) {
    size_t inside = 0, total = 0;
    if (lg_mask_coverage(&mask, &m.frame, label, &inside, &total, &err)) {
      lg_fn_error(ctx, "%s(): argument 2 (mask): %s", fn, err.msg);
      goto done;
    }
    if (total) sqlite3_result_double(ctx, (double)inside / (double)total);
    goto done; /* an empty object (no label, all-zero mask): NULL */
  }
  if (lg_mask_in_map_frame(ctx, fn, &mask, &m, &framed)) goto done;
  fin = malloc(sizeof(float) * (size_t)W * H);
  if (!fin) { sqlite3_result_error_nomem(ctx); goto done; }
  if (lg_map_final(&m, 0, 0, fin, NULL, &err)) { lg_fn_error(ctx, "%s(): %s", fn, err.msg); goto done; }
  int rc, hit = 0;
  double value = 0;
  switch (kind) {
    case METRIC_IOU: rc = lg_metric_iou(fin, framed, W, H, label, threshold, &value, &err); break;
    case METRIC_POINTING: rc = lg_metric_pointing(fin, framed, W, H, label, &hit, &err); break;
    default: rc = lg_metric_mass_in(fin, framed, W, H, label, &value, &err); break;
  }
  if (rc) { lg_fn_error(ctx, "%s(): %s", fn, err.msg); goto done; }
  /* NaN / hit -1: the object has no pixel in the map's frame (or the map sums to 0): NULL */
  if (kind == METRIC_POINTING) {
    if (hit >= 0) sqlite3_result_int(ctx, hit);
  } else if (!isnan(value)) {
    sqlite3_result_double(ctx, value);
  }
done:
  free(fin);
  free(framed);
  lg_mask_free(&mask);
  lg_map_free(&m);
}

/* legrad_iou(map, mask [, threshold [, label]]) -> REAL in [0, 1]. */
static void iou_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  metric_func(ctx, argc, argv, METRIC_IOU, "legrad_iou");
}
/* legrad_pointing(map, mask [, label]) -> 1 when the final map's maximum is on the object, else 0. */
static void pointing_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  metric_func(ctx, argc, argv, METRIC_POINTING, "legrad_pointing");
}
/* legrad_mass_in(map, mask [, label]) -> REAL: sum of the final map on the object / total sum. */
static void mass_in_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  metric_func(ctx, argc, argv, METRIC_MASS_IN, "legrad_mass_in");
}
/* legrad_frame_coverage(map, mask [, label]) -> REAL: share of the object's source pixels inside the
** map's explained region (1 for squash frames and maps without a frame). */
static void coverage_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  metric_func(ctx, argc, argv, METRIC_COVERAGE, "legrad_frame_coverage");
}

int lg_register_metric_functions(sqlite3 *db) {
  static const int pure = SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC;
  static const struct {
    const char *name;
    int n_arg;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
  } F[] = {
      {"legrad_iou", 2, iou_func},           {"legrad_iou", 3, iou_func},
      {"legrad_iou", 4, iou_func},           {"legrad_pointing", 2, pointing_func},
      {"legrad_pointing", 3, pointing_func}, {"legrad_mass_in", 2, mass_in_func},
      {"legrad_mass_in", 3, mass_in_func},  {"legrad_frame_coverage", 2, coverage_func},
      {"legrad_frame_coverage", 3, coverage_func},
  };
  for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
    int rc = sqlite3_create_function_v2(db, F[i].name, F[i].n_arg, pure, NULL, F[i].fn, NULL, NULL,
                                        NULL);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}
