/*
** Image-tower benchmark: times lg_vit_forward at given sizes and compares it with the "GEMM
** floor", the time OpenBLAS sgemm alone needs for exactly the matrix products of the forward
** (patch embedding, per block qkv / out / fc1 / fc2, and per head q·kᵀ and A·v) on this machine.
**
**   build/bench/bench_forward MODEL_DIR [RUNS] [SIZE...]      (defaults: 7 runs, sizes 224 448)
**   OPENBLAS_NUM_THREADS sets the thread count (scripts/bench.sh uses 2).
**
** Prints, per size: tokens, FLOPs (spec clip-engine.md §7 formula
** 2·[Np·3P²·D + L·(4TD² + 2TDF + 2T²D)]), median forward time, GFLOP/s, median GEMM-floor time
** and the ratio forward / floor; then the minimum of each and their ratio (less sensitive to other
** load on a shared machine).  Medians over RUNS runs after one warm-up run; forward and floor runs
** alternate so both see the same conditions.
*/
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clip.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The forward's matrix products alone, same shapes and operand layouts, on scratch buffers. */
typedef struct gemm_bufs { float *a, *b, *c; } gemm_bufs;

static void gemm_floor(const lg_model *m, int T, int GG, gemm_bufs *g) {
  const lg_vision_w *v = &m->vision;
  int D = v->cfg.width, F = v->cfg.mlp, H = v->cfg.heads, d = D / H, P = v->patch;
  /* patch embedding [GG, 3P²] x [D, 3P²]ᵀ */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, GG, D, 3 * P * P, 1.0f, g->a, 3 * P * P, v->patch_w,
              3 * P * P, 0.0f, g->c, D);
  for (int l = 0; l < v->cfg.layers; l++) {
    const lg_block_w *w = &v->blocks[l];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, 3 * D, D, 1.0f, g->a, D, w->qkv_w, D, 0.0f, g->b, 3 * D);
    for (int h = 0; h < H; h++) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, 1.0f, g->b + h * d, 3 * D, g->b + D + h * d, 3 * D,
                  0.0f, g->c, T);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, 1.0f, g->c, T, g->b + 2 * D + h * d, 3 * D, 0.0f,
                  g->a + h * d, D);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, D, D, 1.0f, g->a, D, w->out_w, D, 0.0f, g->c, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, F, D, 1.0f, g->c, D, w->fc1_w, D, 0.0f, g->b, F);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, D, F, 1.0f, g->b, F, w->fc2_w, F, 0.0f, g->a, D);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL_DIR [RUNS] [SIZE...]\n", argv[0]);
    return 2;
  }
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (runs < 1) runs = 1;
  int sizes[16] = {224, 448}, n_sizes = 2;
  if (argc > 3) {
    n_sizes = 0;
    for (int i = 3; i < argc && n_sizes < 16; i++) sizes[n_sizes++] = atoi(argv[i]);
  }
  lg_err err = {{0}};
  double t0 = now();
  lg_model *m = lg_model_load(argv[1], &err);
  if (!m) {
    fprintf(stderr, "bench_forward: %s\n", err.msg);
    return 1;
  }
  const lg_vision_w *v = &m->vision;
  int D = v->cfg.width, F = v->cfg.mlp, L = v->cfg.layers, P = v->patch;
  printf("model %s: vision width %d, layers %d, heads %d, MLP %d, patch %d; loaded in %.2f s\n", argv[1], D, L,
         v->cfg.heads, F, P, now() - t0);
  printf("threads (OPENBLAS_NUM_THREADS): %s, runs: %d (median after 1 warm-up)\n",
         getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "default", runs);
  printf("%6s %6s %9s %10s %9s %12s %10s %7s | %8s %8s %7s\n", "size", "tokens", "GFLOP", "forward_s", "GFLOP/s",
         "gemm_floor_s", "gemm_GF/s", "ratio", "fwd_min", "gemm_min", "ratio");
  double *tf = malloc((size_t)runs * sizeof *tf), *tg = malloc((size_t)runs * sizeof *tg);
  for (int si = 0; si < n_sizes; si++) {
    int S = sizes[si];
    lg_vit_ws *ws = lg_vit_ws_new(m, S, LG_KEEP_DEFAULT, &err);
    if (!ws) {
      fprintf(stderr, "bench_forward: %s\n", err.msg);
      continue;
    }
    int T = ws->tokens, GG = ws->grid * ws->grid;
    double flop = 2.0 * ((double)GG * 3 * P * P * D +
                         (double)L * (4.0 * T * D * D + 2.0 * T * D * F + 2.0 * (double)T * T * D));
    float *pixels = malloc((size_t)3 * S * S * sizeof *pixels), emb[4096];
    for (long i = 0; i < 3L * S * S; i++) pixels[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    size_t big = (size_t)T * (F > 3 * D ? F : 3 * D);
    if ((size_t)T * T > big) big = (size_t)T * T;
    if ((size_t)GG * 3 * P * P > big) big = (size_t)GG * 3 * P * P;
    gemm_bufs g = {calloc(big, 4), calloc(big, 4), calloc(big, 4)};
    lg_vit_forward(m, ws, pixels, emb, &err);
    gemm_floor(m, T, GG, &g);
    for (int r = 0; r < runs; r++) {
      double a = now();
      lg_vit_forward(m, ws, pixels, emb, &err);
      double b = now();
      gemm_floor(m, T, GG, &g);
      double c = now();
      tf[r] = b - a;
      tg[r] = c - b;
    }
    double mf = median(tf, runs), mg = median(tg, runs);   /* sorts tf, tg */
    printf("%6d %6d %9.2f %10.4f %9.1f %12.4f %10.1f %7.3f | %8.4f %8.4f %7.3f\n", S, T, flop / 1e9, mf,
           flop / mf / 1e9, mg, flop / mg / 1e9, mf / mg, tf[0], tg[0], tf[0] / tg[0]);
    free(g.a); free(g.b); free(g.c);
    free(pixels);
    lg_vit_ws_free(ws);
  }
  free(tf);
  free(tg);
  lg_model_free(m);
  return 0;
}
