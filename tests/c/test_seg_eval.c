/*
** Tests of the evaluation protocols (engine/eval): sklearn's average precision, Chefer's
** segmentation metrics and the OpenImages point counts.
**
** Fixtures: tests/fixtures/eval/{seg,point}_cases.json, written by tests/reference/ref_metrics.py
** (Chefer's utils/metrices.py semantics in numpy, AP cross-checked against sklearn).  Counts must
** match exactly, AP and the set's metrics to 1e-9.
*/
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "average_precision.h"
#include "check.h"
#include "point_eval.h"
#include "seg_eval.h"

#define FIX "tests/fixtures/eval/"

/* The 4 x 4 map and mask of the hand-checked cases (also in ref_metrics.py):
**        map                      mask
**   0    .25  .5   .75         0 0 1 1
**   .25  .5   .75  1           0 0 1 1
**   0    0    1    1           0 0 1 1
**   0    0    .25  .25         0 0 0 0          */
static const float HAND_MAP[16] = {0, .25f, .5f, .75f, .25f, .5f, .75f, 1, 0, 0, 1, 1, 0, 0, .25f, .25f};
static const uint8_t HAND_MASK[16] = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0};

/*
** By hand.  Sum of the map = 1.5 + 2.5 + 2 + 0.5 = 6.5, mean = 6.5/16 = 0.40625.
** Threshold mean: foreground = values > 0.40625 = {(2,0) (3,0) (1,1) (2,1) (3,1) (2,2) (3,2)}: 7
** pixels, 6 of them on the mask (the mask has 6), (1,1) is not.
**   inter_fg = 6, union_fg = 7 + 6 − 6 = 7;  inter_bg = 16 − 7 = 9, union_bg = 9 + 10 − 9 = 10;
**   correct = 15 of 16.
** Threshold 0.5 (strict): foreground = {(3,0) (2,1) (3,1) (2,2) (3,2)}, all on the mask:
**   inter_fg = 5, union_fg = 6;  inter_bg = 10, union_bg = 11 + 10 − 10 = 11;  correct = 15.
** AP over the 32 scores [1 − map, map] against [1 − mask, mask] (16 positives):
**   score 1    : map 1 on the mask (3) + 1 − 0 off the mask (5): 8 positives, 0 negatives
**                -> P = 8/8, R = 8/16
**   score 0.75 : map .75 on the mask (2) + 1 − .25 off the mask (4): 6 positives
**                -> P = 14/14, R = 14/16
**   score 0.5  : map .5 on (1) and off (1) the mask, 1 − .5 off (1) and on (1): 2 pos, 2 neg
**                -> P = 16/18, R = 1
**   (scores .25 and 0 hold only negatives: R stays 1)
**   AP = 0.5·1 + 0.375·1 + 0.125·16/18 = 0.98611111...
*/
static void test_hand(void) {
  lg_seg_counts c;
  lg_err err;
  CHECK(lg_seg_image(HAND_MAP, 0, HAND_MASK, 16, NAN, &c, &err) == 0, "%s", err.msg);
  CHECK(c.inter[1] == 6 && c.uni[1] == 7 && c.inter[0] == 9 && c.uni[0] == 10, "mean counts");
  CHECK(c.pixel_correct == 15 && c.pixel_labeled == 16, "mean pixels");
  CHECK_NEAR(c.ap, 0.5 + 0.375 + 0.125 * 16.0 / 18.0, 1e-12);
  CHECK(lg_seg_image(HAND_MAP, 0, HAND_MASK, 16, 0.5, &c, &err) == 0, "%s", err.msg);
  CHECK(c.inter[1] == 5 && c.uni[1] == 6 && c.inter[0] == 10 && c.uni[0] == 11, "0.5 counts");
  CHECK(c.pixel_correct == 15, "0.5 correct");
  /* the set of the two: pixel accuracy 30/32, IoU_bg 19/21, IoU_fg 11/13 */
  lg_seg_total t = {0};
  lg_seg_counts a;
  CHECK(lg_seg_image(HAND_MAP, 0, HAND_MASK, 16, NAN, &a, &err) == 0, "%s", err.msg);
  lg_seg_add(&t, &a);
  lg_seg_add(&t, &c);
  lg_seg_summary s;
  lg_seg_summarise(&t, &s);
  CHECK(s.images == 2, "images");
  CHECK_NEAR(s.pixel_accuracy, 30.0 / 32, 1e-12);
  CHECK_NEAR(s.iou[0], 19.0 / 21, 1e-12);
  CHECK_NEAR(s.iou[1], 11.0 / 13, 1e-12);
  CHECK_NEAR(s.miou, (19.0 / 21 + 11.0 / 13) / 2, 1e-12);
  CHECK_NEAR(s.map, 0.5 + 0.375 + 0.125 * 16.0 / 18.0, 1e-12);
  /* a constant map: every pixel background, both AP channels 0 -> AP = 16/32 */
  CHECK(lg_seg_image(HAND_MAP, 1, HAND_MASK, 16, NAN, &c, &err) == 0, "%s", err.msg);
  CHECK(c.inter[1] == 0 && c.uni[1] == 6 && c.inter[0] == 10 && c.uni[0] == 16 && c.pixel_correct == 10,
        "constant map counts");
  CHECK_NEAR(c.ap, 0.5, 1e-15);
  /* an empty set: IoU 0/eps = 0, mAP NaN */
  lg_seg_total z = {0};
  lg_seg_summarise(&z, &s);
  CHECK(s.iou[0] == 0 && s.iou[1] == 0 && s.pixel_accuracy == 0 && isnan(s.map), "empty set");
}

/* Average precision: ties form one threshold; no positive gives NaN; errors. */
static void test_average_precision(void) {
  lg_err err;
  double ap;
  /* scores 0.9 (+), 0.5 (+, −), 0.1 (−): P/R at 0.9 = 1, 1/2; at 0.5 = 2/3, 1 -> AP = 1/2 + 1/2·2/3 */
  const float s1[4] = {0.5f, 0.9f, 0.1f, 0.5f};
  const uint8_t y1[4] = {0, 1, 0, 1};
  CHECK(lg_average_precision(s1, y1, 4, &ap, &err) == 0, "%s", err.msg);
  CHECK_NEAR(ap, 0.5 + 0.5 * 2.0 / 3.0, 1e-15);
  /* every score tied: one threshold, AP = the share of positives */
  const float s2[5] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
  const uint8_t y2[5] = {1, 0, 0, 1, 0};
  CHECK(lg_average_precision(s2, y2, 5, &ap, &err) == 0, "%s", err.msg);
  CHECK_NEAR(ap, 0.4, 1e-15);
  const uint8_t none[5] = {0};
  CHECK(lg_average_precision(s2, none, 5, &ap, &err) == 0 && isnan(ap), "no positive: NaN");
  const float bad[2] = {0.1f, NAN};
  CHECK(lg_average_precision(bad, y1, 2, &ap, &err) == -1 && strstr(err.msg, "score 1 is not finite"),
        "NaN score: %s", err.msg);
  lg_seg_counts c;
  CHECK(lg_seg_image(bad, 0, y1, 2, NAN, &c, &err) == -1 && strstr(err.msg, "not finite"), "NaN map");
  CHECK(lg_seg_image(s1, 0, y1, 0, NAN, &c, &err) == -1, "no pixel");
}

/* Reads a JSON fixture; NULL (after a SKIP) when it is absent. */
static cJSON *load(const char *path) {
  size_t n = 0;
  unsigned char *text = check_read_file(path, &n);
  if (!text) { SKIP("%s absent (run tests/reference/ref_metrics.py)", path); return NULL; }
  cJSON *root = cJSON_ParseWithLength((const char *)text, n);
  free(text);
  CHECK(root != NULL, "%s does not parse", path);
  return root;
}

static double num(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k)->valuedouble;
}

/* Every segmentation case of the fixture, one by one and as a set. */
static void test_seg_fixtures(void) {
  cJSON *root = load(FIX "seg_cases.json");
  if (!root) return;
  lg_seg_total t = {0};
  int n_cases = 0;
  const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases"), *cs;
  cJSON_ArrayForEach(cs, cases) {
    const char *name = cJSON_GetObjectItemCaseSensitive(cs, "name")->valuestring;
    int h = (int)num(cs, "h"), w = (int)num(cs, "w"), n = w * h;
    int constant = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "constant"));
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(cs, "label");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(cs, "threshold");
    int label = cJSON_IsNumber(lab) ? (int)lab->valuedouble : -1;
    const cJSON *ign = cJSON_GetObjectItemCaseSensitive(cs, "ignore");
    int ignore = cJSON_IsNumber(ign) ? (int)ign->valuedouble : -1;
    float *res = malloc(sizeof(float) * (size_t)n);
    uint8_t *truth = malloc((size_t)n);
    int k = 0;
    const cJSON *row, *v;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(cs, "grid")) {
      cJSON_ArrayForEach(v, row) res[k++] = (float)v->valuedouble;
    }
    k = 0;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(cs, "mask")) {
      cJSON_ArrayForEach(v, row) {
        int id = (int)v->valuedouble;
        truth[k++] = id == ignore ? LG_SEG_IGNORE : (uint8_t)(label < 0 ? id != 0 : id == label);
      }
    }
    lg_seg_counts c;
    lg_err err;
    CHECK(lg_seg_image(res, constant, truth, (size_t)n, cJSON_IsNumber(thr) ? thr->valuedouble : NAN,
                       &c, &err) == 0, "%s: %s", name, err.msg);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cs, "expected");
    CHECK(c.pixel_correct == (int64_t)num(e, "pixel_correct") &&
              c.pixel_labeled == (int64_t)num(e, "pixel_labeled") &&
              c.inter[0] == (int64_t)num(e, "inter_bg") && c.uni[0] == (int64_t)num(e, "union_bg") &&
              c.inter[1] == (int64_t)num(e, "inter_fg") && c.uni[1] == (int64_t)num(e, "union_fg"),
          "%s: counts %lld %lld %lld %lld %lld %lld", name, (long long)c.pixel_correct,
          (long long)c.pixel_labeled, (long long)c.inter[0], (long long)c.uni[0], (long long)c.inter[1],
          (long long)c.uni[1]);
    CHECK(fabs(c.ap - num(e, "ap")) <= 1e-9, "%s: ap %.17g, reference %.17g", name, c.ap, num(e, "ap"));
    lg_seg_add(&t, &c);
    n_cases++;
    free(res);
    free(truth);
  }
  lg_seg_summary s;
  lg_seg_summarise(&t, &s);
  const cJSON *sm = cJSON_GetObjectItemCaseSensitive(root, "summary");
  CHECK(s.images == (int64_t)num(sm, "images") && n_cases > 20, "images %lld", (long long)s.images);
  CHECK_NEAR(s.pixel_accuracy, num(sm, "pixel_accuracy"), 1e-9);
  CHECK_NEAR(s.iou[0], num(sm, "iou_background"), 1e-9);
  CHECK_NEAR(s.iou[1], num(sm, "iou_foreground"), 1e-9);
  CHECK_NEAR(s.miou, num(sm, "miou"), 1e-9);
  CHECK_NEAR(s.map, num(sm, "map"), 1e-9);
  cJSON_Delete(root);
}

/* Every point case of the fixture (maps with patch 1: the final map is the grid). */
static void test_point_fixtures(void) {
  cJSON *root = load(FIX "point_cases.json");
  if (!root) return;
  const cJSON *cs;
  cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
    const char *name = cJSON_GetObjectItemCaseSensitive(cs, "name")->valuestring;
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(cs, "grid"), *row, *v, *p;
    int h = cJSON_GetArraySize(grid), w = cJSON_GetArraySize(grid->child), k = 0;
    float *fin = malloc(sizeof(float) * (size_t)w * h);
    cJSON_ArrayForEach(row, grid) { cJSON_ArrayForEach(v, row) fin[k++] = (float)v->valuedouble; }
    lg_frame fr = {0};
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(cs, "frame");
    if (cJSON_IsObject(f)) {
      const cJSON *src = cJSON_GetObjectItemCaseSensitive(f, "source");
      const cJSON *rs = cJSON_GetObjectItemCaseSensitive(f, "resize");
      const cJSON *cr = cJSON_GetObjectItemCaseSensitive(f, "crop");
      fr.src_w = src->child->valueint; fr.src_h = src->child->next->valueint;
      fr.rw = rs->child->valueint; fr.rh = rs->child->next->valueint;
      fr.cx = cr->child->valueint; fr.cy = cr->child->next->valueint;
      fr.size = (int)num(f, "size");
    }
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(cs, "points");
    size_t n = (size_t)cJSON_GetArraySize(pts), i = 0;
    lg_point *pt = malloc(sizeof *pt * (n ? n : 1));
    cJSON_ArrayForEach(p, pts) {
      const char *a = cJSON_GetObjectItemCaseSensitive(p, "yesno")->valuestring;
      pt[i].x = num(p, "x");
      pt[i].y = num(p, "y");
      pt[i++].label = strcmp(a, "yes") == 0 ? LG_POINT_YES : strcmp(a, "no") == 0 ? LG_POINT_NO
                                                                                 : LG_POINT_UNSURE;
    }
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(cs, "threshold");
    lg_point_counts c;
    lg_err err;
    CHECK(lg_point_score(fin, w, h, &fr, pt, n, cJSON_IsNumber(thr) ? thr->valuedouble : NAN, &c,
                         &err) == 0, "%s: %s", name, err.msg);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cs, "expected");
    CHECK(c.tp == (int64_t)num(e, "tp") && c.fp == (int64_t)num(e, "fp") && c.fn == (int64_t)num(e, "fn") &&
              c.tn == (int64_t)num(e, "tn") && c.unsure == (int64_t)num(e, "unsure") &&
              c.outside == (int64_t)num(e, "outside"),
          "%s: tp %lld fp %lld fn %lld tn %lld unsure %lld outside %lld", name, (long long)c.tp,
          (long long)c.fp, (long long)c.fn, (long long)c.tn, (long long)c.unsure, (long long)c.outside);
    free(pt);
    free(fin);
  }
  cJSON_Delete(root);
}

/*
** Points by hand on HAND_MAP, no frame, threshold 0.5 (cell = floor(4·x), floor(4·y)):
**   (0.9, 0.1) yes -> cell (3, 0) = .75 > .5: tp      (0.1, 0.9) yes -> (0, 3) = 0: fn
**   (0.6, 0.3) no  -> (2, 1) = .75: fp                 (0.5, 0.0) no  -> (2, 0) = .5, not > .5: tn
**   (1.0, 1.0) yes -> x = 1 is the last cell (3, 3) = .25: fn
**   unsure anywhere: ignored.
** With the crop frame of a 12 x 8 image (resize 6 x 4, crop 4 at (1, 0)): x = 0.1 is column 0 of
** the resized image, outside the crop; x = 0.6 is column 3, i.e. cell 2 of the map.
*/
static void test_points_hand(void) {
  const lg_point pts[6] = {{0.9, 0.1, LG_POINT_YES}, {0.1, 0.9, LG_POINT_YES}, {0.6, 0.3, LG_POINT_NO},
                           {0.5, 0.0, LG_POINT_NO},  {1.0, 1.0, LG_POINT_YES}, {0.3, 0.6, LG_POINT_UNSURE}};
  lg_point_counts c;
  lg_err err;
  CHECK(lg_point_score(HAND_MAP, 4, 4, NULL, pts, 6, 0.5, &c, &err) == 0, "%s", err.msg);
  CHECK(c.tp == 1 && c.fn == 2 && c.fp == 1 && c.tn == 1 && c.unsure == 1 && c.outside == 0, "hand points");
  lg_frame fr = {12, 8, 6, 4, 1, 0, 4, LG_RESIZE_CROP};
  const lg_point cp[2] = {{0.1, 0.5, LG_POINT_YES}, {0.6, 0.3, LG_POINT_YES}};
  CHECK(lg_point_score(HAND_MAP, 4, 4, &fr, cp, 2, 0.5, &c, &err) == 0, "%s", err.msg);
  CHECK(c.outside == 1 && c.tp == 1 && c.fn == 0, "crop points");
  const lg_point bad[1] = {{1.5, 0.2, LG_POINT_YES}};
  CHECK(lg_point_score(HAND_MAP, 4, 4, NULL, bad, 1, 0.5, &c, &err) == -1 &&
            strstr(err.msg, "point 0: coordinates (1.5, 0.2) must lie in [0, 1]"),
        "bad point: %s", err.msg);
  CHECK(lg_point_score(HAND_MAP, 3, 3, &fr, cp, 2, 0.5, &c, &err) == -1, "map size vs frame");
}

int main(void) {
  test_average_precision();
  test_hand();
  test_seg_fixtures();
  test_point_fixtures();
  test_points_hand();
  return check_report("test_seg_eval");
}
