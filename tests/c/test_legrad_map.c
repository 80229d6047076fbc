/*
** Tests for LeGrad's layer-set parsing, bilinear resampling, min-max and final map
** (engine/explain/legrad_layers.c, engine/maps/resample.c).  No model needed; test_legrad.c compares against the PyTorch fixtures.
*/
#include "check.h"
#include "legrad.h"

/* Checks that spec parses on an L-block model to exactly the n blocks in want. */
static void expect_layers(const char *spec, int L, const int *want, int n) {
  lg_layer_set ls;
  lg_err err = {{0}};
  int rc = lg_layers_parse(spec, L, &ls, &err);
  CHECK(rc == 0, "lg_layers_parse('%s', %d) failed: %s", spec, L, err.msg);
  if (rc) return;
  int same = ls.n == n;
  for (int i = 0; same && i < n; i++) same = ls.idx[i] == want[i];
  CHECK(same, "lg_layers_parse('%s', %d): got %d blocks (first %d), expected %d", spec, L, ls.n,
        ls.n ? ls.idx[0] : -1, n);
}

/* Checks that spec is rejected with a message containing needle. */
static void expect_error(const char *spec, int L, const char *needle) {
  lg_layer_set ls;
  lg_err err = {{0}};
  int rc = lg_layers_parse(spec, L, &ls, &err);
  CHECK(rc == -1, "lg_layers_parse('%s') should fail", spec);
  CHECK(strstr(err.msg, needle) != NULL, "lg_layers_parse('%s'): message '%s' lacks '%s'", spec,
        err.msg, needle);
  CHECK(ls.n == 0, "failed parse must leave an empty set");
}

static void test_layers(void) {
  const int last2[] = {10, 11}, all[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  const int from9[] = {9, 10, 11}, last1[] = {11}, mix[] = {0, 1, 2, 3, 10, 11}, b9[] = {9};
  expect_layers("-2", 12, last2, 2);          /* official default */
  expect_layers("0", 12, all, 12);            /* official: 0 = every block */
  expect_layers(" 9 ", 12, from9, 3);         /* official: starting depth 9 */
  expect_layers("-1", 12, last1, 1);
  expect_layers("-12", 12, all, 12);
  expect_layers("all", 12, all, 12);
  expect_layers(" ALL ", 12, all, 12);
  expect_layers("0-11", 12, all, 12);
  expect_layers("9,10,11", 12, from9, 3);
  expect_layers("11, 10 ,9,10", 12, from9, 3); /* sorted, de-duplicated */
  expect_layers("0-3,10,-1", 12, mix, 6);
  expect_layers("9-9", 12, b9, 1);
  expect_layers("-3,-2,-1", 12, from9, 3);

  expect_error("12", 12, "out of range");
  expect_error("-13", 12, "out of range");
  expect_error("0-12", 12, "block 12 out of range");
  expect_error("5,12", 12, "block 12 out of range");
  expect_error("7-3", 12, "reversed");
  expect_error("", 12, "empty");
  expect_error("   ", 12, "empty");
  expect_error("abc", 12, "expected a block number");
  expect_error("1,,2", 12, "expected a block number");
  expect_error("1,2,", 12, "expected a block number");
  expect_error("1;2", 12, "expected ','");
  expect_error("3-", 12, "range");
  expect_error("-3--1", 12, "range");
  expect_error("99999999999999", 12, "expected a block number");

  lg_layer_set ls;
  lg_err err = {{0}};
  CHECK(lg_layers_from_index(-2, 3, &ls, &err) == 0 && ls.n == 2 && ls.idx[0] == 1 && ls.idx[1] == 2,
        "layer_index -2 on 3 blocks");
  CHECK(lg_layers_from_index(3, 3, &ls, &err) == -1 && strstr(err.msg, "layer_index 3"),
        "layer_index 3 on 3 blocks: %s", err.msg);
  CHECK(lg_layers_from_index(0, 0, &ls, &err) == -1, "zero-block model rejected");
  CHECK(lg_layers_parse(NULL, 12, &ls, &err) == -1, "NULL spec rejected");
}

static void test_upsample(void) {
  /* Hand-derived align_corners=False weights for x2: [a, .75a+.25b, .25a+.75b, b]. */
  const float src[2] = {1.f, 5.f};
  float dst[4 * 4];
  lg_upsample_bilinear(src, 1, 2, 2, dst);
  CHECK_NEAR(dst[0], 1.f, 0);
  CHECK_NEAR(dst[1], 2.f, 1e-6);
  CHECK_NEAR(dst[2], 4.f, 1e-6);
  CHECK_NEAR(dst[3], 5.f, 0);
  CHECK_NEAR(dst[4], 1.f, 0); /* second output row = same (one source row) */

  /* A constant grid stays constant; a grid upsampled by 1 is unchanged. */
  float g[3 * 3], up[9 * 9];
  for (int i = 0; i < 9; i++) g[i] = 0.25f;
  lg_upsample_bilinear(g, 3, 3, 3, up);
  int ok = 1;
  for (int i = 0; i < 81; i++) ok &= fabsf(up[i] - 0.25f) < 1e-7f;
  CHECK(ok, "constant grid must upsample to a constant");
  for (int i = 0; i < 9; i++) g[i] = (float)i;
  lg_upsample_bilinear(g, 3, 3, 1, up);
  ok = 1;
  for (int i = 0; i < 9; i++) ok &= up[i] == g[i];
  CHECK(ok, "scale 1 is the identity");

  /* resize to a size: same as upsample for an integer ratio. */
  float r[9 * 9];
  lg_upsample_bilinear(g, 3, 3, 3, up);
  lg_resize_bilinear(g, 3, 3, r, 9, 9);
  ok = 1;
  for (int i = 0; i < 81; i++) ok &= fabsf(up[i] - r[i]) < 1e-6f;
  CHECK(ok, "resize to 3x size equals upsample x3");
}

static void test_final(void) {
  /* Two layers; final = min-max(up(a) + up(b)); the result spans exactly [0, 1]. */
  float grids[2 * 2 * 2] = {0.f, 1.f, 2.f, 3.f, 3.f, 0.f, 0.f, 1.f};
  float out[4 * 4], ua[16], ub[16];
  int constant = -1;
  CHECK(lg_legrad_final(grids, 2, 2, 2, out, &constant) == 0, "final");
  CHECK(constant == 0, "not constant");
  lg_upsample_bilinear(grids, 2, 2, 2, ua);
  lg_upsample_bilinear(grids + 4, 2, 2, 2, ub);
  float mn = 1e9f, mx = -1e9f;
  for (int i = 0; i < 16; i++) {
    float s = ua[i] + ub[i];
    mn = s < mn ? s : mn;
    mx = s > mx ? s : mx;
  }
  int ok = 1;
  float omn = 1, omx = 0;
  for (int i = 0; i < 16; i++) {
    ok &= fabsf(out[i] - (ua[i] + ub[i] - mn) / (mx - mn)) < 1e-6f;
    omn = out[i] < omn ? out[i] : omn;
    omx = out[i] > omx ? out[i] : omx;
  }
  CHECK(ok, "final = min-max(sum of upsampled layers)");
  CHECK(omn == 0.f && omx == 1.f, "final spans [0,1]: [%g, %g]", omn, omx);

  /* Constant map: zeros and the flag, never NaN. */
  float flat[2 * 3 * 3];
  for (int i = 0; i < 18; i++) flat[i] = 0.5f;
  float fo[6 * 6];
  CHECK(lg_legrad_final(flat, 2, 3, 2, fo, &constant) == 0, "constant final");
  ok = 1;
  for (int i = 0; i < 36; i++) ok &= fo[i] == 0.f;
  CHECK(ok && constant == 1, "constant map gives zeros and the flag (constant=%d)", constant);
  /* All-zero maps (ReLU killed every gradient) are constant too. */
  for (int i = 0; i < 18; i++) flat[i] = 0.f;
  CHECK(lg_legrad_final(flat, 2, 3, 2, fo, &constant) == 0 && constant == 1, "all-zero map");
  /* Non-finite input never leaks NaN. */
  flat[4] = NAN;
  CHECK(lg_legrad_final(flat, 2, 3, 2, fo, &constant) == 0, "NaN input");
  ok = 1;
  for (int i = 0; i < 36; i++) ok &= !isnan(fo[i]);
  CHECK(ok && constant == 1, "NaN input gives zeros + flag");

  CHECK(lg_legrad_final(grids, 0, 2, 2, out, &constant) == -1, "0 layers rejected");
  CHECK(lg_legrad_final(grids, 2, 0, 2, out, &constant) == -1, "grid 0 rejected");
  CHECK(lg_legrad_final(NULL, 2, 2, 2, out, &constant) == -1, "NULL rejected");
}

/* lg_minmax: the one min-max of every map (final maps at any size and in the source frame). */
static void test_minmax(void) {
  float v[4] = {1, 3, 2, 5};
  int c = -1;
  lg_minmax(v, 4, 0, &c);
  CHECK(c == 0 && v[0] == 0.f && v[1] == 0.5f && v[2] == 0.25f && v[3] == 1.f, "plain min-max");
  float k[3] = {2, 2, 2};
  lg_minmax(k, 3, 0, &c);
  CHECK(c == 1 && k[0] == 0.f && k[2] == 0.f, "constant -> zeros");
  float inf[3] = {0, INFINITY, 1};
  lg_minmax(inf, 3, 0, &c);
  CHECK(c == 1 && inf[1] == 0.f, "non-finite -> zeros");
  float nan0[3] = {0, NAN, 1};
  lg_minmax(nan0, 3, 0, &c);
  CHECK(c == 1 && nan0[1] == 0.f, "NaN counts as non-finite without skip_nan");
  float nan1[4] = {NAN, 2, 4, NAN};
  lg_minmax(nan1, 4, 1, &c);
  CHECK(c == 0 && isnan(nan1[0]) && nan1[1] == 0.f && nan1[2] == 1.f && isnan(nan1[3]),
        "skip_nan leaves NaN outside the map");
  float all_nan[2] = {NAN, NAN};
  lg_minmax(all_nan, 2, 1, &c);
  CHECK(c == 1 && isnan(all_nan[0]), "no values: constant");
  lg_minmax(v, 0, 0, NULL);
  CHECK(1, "empty, NULL constant");
}

int main(void) {
  test_layers();
  test_minmax();
  test_upsample();
  test_final();
  return check_report("test_legrad_map");
}
