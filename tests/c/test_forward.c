/*
** Vision and text towers against the PyTorch reference (tests/reference/clip_ref.py fixtures):
** per-block hidden states, q/k/v, attention probabilities, MLP pre-activations, pooled features,
** embeddings, at the native size and at 2x (resampled position embeddings), for QuickGELU, GELU,
** LayerScale and single-file models; HF and OpenCLIP copies of the same weights must agree
** bit for bit.  Tolerances: embeddings relative error <= 1e-5, attention max abs <= 1e-4.
*/
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "clip.h"
#include "fixture.h"

#define FX "tests/fixtures/forward/"
#define MD "tests/fixtures/models/"

/* Compares fixture tensor `name` with out[n] by relative L2 error. */
static void cmp_rel(const lg_st *fx, const char *what, const char *name, const float *out, int64_t n,
                    double tol) {
  int64_t m = 0;
  float *ref = fixture_get(fx, name, &m);
  CHECK(ref && m == n, "%s: fixture '%s' missing or %lld values, expected %lld", what, name, (long long)m,
        (long long)n);
  if (ref && m == n) {
    double r = rel_err(out, ref, n);
    CHECK(r <= tol, "%s: %s relative error %.3g > %.1g", what, name, r, tol);
  }
  free(ref);
}

static void cmp_abs(const lg_st *fx, const char *what, const char *name, const float *out, int64_t n,
                    double tol) {
  int64_t m = 0;
  float *ref = fixture_get(fx, name, &m);
  CHECK(ref && m == n, "%s: fixture '%s' missing or wrong size", what, name);
  if (ref && m == n) {
    double a = max_abs_diff(out, ref, n);
    CHECK(a <= tol, "%s: %s max abs error %.3g > %.1g", what, name, a, tol);
  }
  free(ref);
}

/* Runs the vision tower of m at the fixture's size and compares everything the fixture holds.
** Writes the image embedding into emb_out (E floats) when not NULL. */
static void check_vision(const lg_model *m, const char *fx_path, const char *what, float *emb_out) {
  lg_err err = {{0}};
  lg_st fx;
  if (lg_st_open(&fx, fx_path, &err)) { CHECK(0, "%s: %s", what, err.msg); return; }
  int64_t n = 0;
  float *pixels = fixture_get(&fx, "pixels", &n);
  int S = 0;
  while ((int64_t)3 * S * S < n) S++;
  lg_vit_ws *ws = lg_vit_ws_new(m, S, LG_KEEP_ATTN_ALL, &err);
  CHECK(ws != NULL, "%s: ws: %s", what, err.msg);
  float emb[1024];
  if (ws && pixels) {
    int rc = lg_vit_forward(m, ws, pixels, emb, &err);
    CHECK(rc == 0, "%s: forward: %s", what, err.msg);
    int T = ws->tokens, D = m->vision.cfg.width, F = m->vision.cfg.mlp, H = m->vision.cfg.heads;
    cmp_rel(&fx, what, "pos", ws->pos, (int64_t)T * D, 1e-6);
    cmp_rel(&fx, what, "x0", ws->x0, (int64_t)T * D, 1e-6);
    char nm[64];
    for (int l = 0; l < m->vision.cfg.layers; l++) {
      lg_vit_block_cache *c = &ws->blocks[l];
      snprintf(nm, sizeof nm, "x_out.%d", l);
      cmp_rel(&fx, what, nm, c->x_out, (int64_t)T * D, 1e-5);
      snprintf(nm, sizeof nm, "attn.%d", l);
      if (lg_st_find(&fx, nm)) cmp_abs(&fx, what, nm, c->attn, (int64_t)H * T * T, 1e-4);
      snprintf(nm, sizeof nm, "qkv.%d", l);
      if (lg_st_find(&fx, nm)) cmp_rel(&fx, what, nm, c->qkv, (int64_t)T * 3 * D, 1e-5);
      snprintf(nm, sizeof nm, "y.%d", l);
      if (lg_st_find(&fx, nm)) cmp_rel(&fx, what, nm, c->y, (int64_t)T * D, 1e-5);
      snprintf(nm, sizeof nm, "h.%d", l);
      if (lg_st_find(&fx, nm)) cmp_rel(&fx, what, nm, c->h, (int64_t)T * F, 1e-5);
      CHECK(c->x_in == (l ? ws->blocks[l - 1].x_out : ws->x0), "%s: block %d x_in alias", what, l);
    }
    cmp_rel(&fx, what, "pooled", ws->pooled, D, 1e-5);
    cmp_rel(&fx, what, "image_embed", emb, m->embed_dim, 1e-5);
    if (emb_out) memcpy(emb_out, emb, (size_t)m->embed_dim * sizeof(float));
  }
  lg_vit_ws_free(ws);
  free(pixels);
  lg_st_close(&fx);
}

/* Text embeddings for the fixture's three prompts (EOT at 5, 1 and ctx-1). */
static void check_text(const lg_model *m, const char *fx_path, const char *what, float *emb_out) {
  lg_err err = {{0}};
  lg_st fx;
  if (lg_st_open(&fx, fx_path, &err)) { CHECK(0, "%s: %s", what, err.msg); return; }
  int64_t n = 0, ne = 0;
  float *ids_f = fixture_get(&fx, "text_ids", &n), *ref = fixture_get(&fx, "text_embed", &ne);
  int ctx = m->text.ctx, E = m->embed_dim;
  CHECK(ids_f && ref && n == 3 * ctx && ne == 3 * E, "%s: text fixture shape", what);
  if (ids_f && ref && n == 3 * ctx && ne == 3 * E) {
    int32_t ids[512];
    float emb[1024];
    for (int r = 0; r < 3; r++) {
      for (int i = 0; i < ctx; i++) ids[i] = (int32_t)ids_f[r * ctx + i];
      int rc = lg_text_forward(m, ids, ctx, emb, &err);
      CHECK(rc == 0, "%s: text forward: %s", what, err.msg);
      double e = rel_err(emb, ref + r * E, E);
      CHECK(e <= 1e-5, "%s: text prompt %d relative error %.3g", what, r, e);
      if (emb_out) memcpy(emb_out + r * E, emb, (size_t)E * sizeof(float));
    }
    float *ls = fixture_get(&fx, "logit_scale", NULL);
    if (ls) CHECK_NEAR(expf(m->logit_scale), ls[0], 1e-4 * ls[0]);
    free(ls);
  }
  free(ids_f);
  free(ref);
  lg_st_close(&fx);
}

/* A model pair (HF dir, OpenCLIP dir) against fixtures <base>_<S>. */
static void check_pair(const char *hf, const char *oc, const char *base, int native) {
  lg_err err = {{0}};
  char path[256], fx32[256], fx64[256];
  snprintf(fx32, sizeof fx32, FX "%s_%d.safetensors", base, native);
  snprintf(fx64, sizeof fx64, FX "%s_%d.safetensors", base, 2 * native);
  float emb[2][2][64] = {{{0}}}, txt[2][3 * 64] = {{0}};
  const char *dirs[2] = {oc, hf};
  char fps[2][33] = {"", ""};
  for (int k = 0; k < 2; k++) {
    if (!dirs[k]) continue;
    snprintf(path, sizeof path, MD "%s", dirs[k]);
    lg_model *m = lg_model_load(path, &err);
    CHECK(m != NULL, "load %s: %s", path, err.msg);
    if (!m) continue;
    check_vision(m, fx32, path, emb[k][0]);
    check_vision(m, fx64, path, emb[k][1]);
    if (m->has_text) check_text(m, fx32, path, txt[k]);
    memcpy(fps[k], m->fingerprint, 33);
    lg_model_free(m);
  }
  if (hf && oc) {
    CHECK(memcmp(emb[0], emb[1], sizeof emb[0]) == 0, "%s and %s: image embeddings differ", hf, oc);
    CHECK(memcmp(txt[0], txt[1], sizeof txt[0]) == 0, "%s and %s: text embeddings differ", hf, oc);
    CHECK(strcmp(fps[0], fps[1]) == 0, "fingerprints differ: %s vs %s", fps[0], fps[1]);
  }
}

int main(void) {
  check_pair("tiny_qg_hf", "tiny_qg_oc", "tiny_qg_oc", 32);
  check_pair("tiny_gelu_hf", "tiny_gelu_oc", "tiny_gelu_oc", 32);
  check_pair(NULL, "tiny_ls_oc", "tiny_ls_oc", 32);

  /* Vision-only HF copy of tiny_gelu's vision tower: same image embeddings, no text. */
  lg_err err = {{0}};
  lg_model *m = lg_model_load(MD "tiny_vis_hf", &err);
  CHECK(m != NULL, "load tiny_vis_hf: %s", err.msg);
  if (m) {
    CHECK(!m->has_text, "vision-only model reports a text tower");
    check_vision(m, FX "tiny_gelu_oc_32.safetensors", "tiny_vis_hf", NULL);
    check_vision(m, FX "tiny_gelu_oc_64.safetensors", "tiny_vis_hf", NULL);
    int32_t ids[3] = {998, 5, 999};
    float e[64];
    CHECK(lg_text_forward(m, ids, 3, e, &err) == -1 && strstr(err.msg, "vision-only"), "text on vision-only: %s",
          err.msg);
    lg_model_free(m);
  }

  /* Single OpenCLIP-named .safetensors: hyper-parameters from shapes (heads = width/64). */
  m = lg_model_load(MD "tiny_single.safetensors", &err);
  CHECK(m != NULL, "load tiny_single: %s", err.msg);
  if (m) {
    CHECK(m->vision.cfg.heads == 1 && m->vision.cfg.layers == 2 && m->text.cfg.layers == 1, "single: shapes");
    CHECK(m->vision.cfg.act == LG_ACT_QUICKGELU, "single: OpenAI weights use QuickGELU");
    check_vision(m, FX "tiny_single_32.safetensors", "tiny_single", NULL);
    check_text(m, FX "tiny_single_32.safetensors", "tiny_single", NULL);
    lg_model_free(m);
  }

  /* Keep policy: default keeps no attention, ATTN_LAST only the last block's. */
  m = lg_model_load(MD "tiny_qg_oc", &err);
  if (m) {
    lg_vit_ws *a = lg_vit_ws_new(m, 32, LG_KEEP_DEFAULT, &err), *b = lg_vit_ws_new(m, 64, LG_KEEP_ATTN_LAST, &err);
    CHECK(a && b, "ws: %s", err.msg);
    if (a && b) {
      CHECK(a->blocks[0].attn == NULL && a->blocks[2].attn == NULL, "default keep stores attention");
      CHECK(b->blocks[1].attn == NULL && b->blocks[2].attn != NULL, "ATTN_LAST keep");
      CHECK(b->tokens == 65 && b->n_prefix == 1 && b->grid == 8, "2x tokens %d", b->tokens);
      CHECK(a->bytes < b->bytes, "workspace bytes %zu %zu", a->bytes, b->bytes);
      check_vision(m, FX "tiny_qg_oc_32.safetensors", "keep-all reference", NULL);
    }
    lg_vit_ws_free(a);
    lg_vit_ws_free(b);
    CHECK(lg_vit_ws_new(m, 36, LG_KEEP_DEFAULT, &err) == NULL && strstr(err.msg, "multiple of the patch size 8"),
          "size 36: %s", err.msg);
    lg_model_free(m);
  }
  return check_report("test_forward");
}
