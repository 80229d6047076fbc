/*
** LeGrad benchmark: time per image, FLOPs, ratio to this machine's GEMM floor, marginal cost per
** prompt and peak memory (docs/benchmarks.md "LeGrad").
**
**   build/bench/bench_legrad [model_dir] [runs]     default bench/models/vit_b16, 7 runs
**
** model_dir: a ViT-B/16-shaped random model (tests/reference/make_models.py --bench DIR).
** Threads: OPENBLAS_NUM_THREADS, default 2.
**
** Each configuration (side 224 crop / 448 squash; 1 or 5 prompts; layers -2 or all) runs in a fresh
** child process so that its peak RSS (getrusage ru_maxrss) is its own.  A child loads the model,
** makes a workspace with LG_KEEP_DEFAULT (LeGrad never reads the attention probabilities), runs one
** warm-up, then `runs` timed repetitions of forward + lg_legrad_run + lg_legrad_final for every
** prompt, and reports the median.  Forward-only runs (P = 0) give the marginal cost of a prompt.
**
** FLOPs count multiply-adds as 2 and only the matrix products (elementwise work is < 1 %):
**   forward  = patch GEMM + L * (qkv + QK^T + AV + out + fc1 + fc2)
**   backward = per layer and prompt: fc1^T (2 T F D) + W_out (2 T D^2) + dO V^T (2 T^2 D, ReLU) + small
** GEMM floor = FLOPs / the cblas_sgemm rate measured on this machine with the same threads on the
** shapes the forward uses (gemm_rate).  Ratio = median time / floor.  "CPU s" / "CPU ratio": the same
** with process CPU time instead of wall time.  On a machine shared with other jobs wall time
** swings with the load; with OPENBLAS_NUM_THREADS=1 the CPU time (and its ratio) is the stable
** measure of the work done.
**
** Memory columns: "peak" = VmHWM after the model is loaded (reset through /proc/self/clear_refs):
** resident weights + workspace + LeGrad scratch + BLAS buffers, i.e. what serving an image costs;
** "peak incl. load" = ru_maxrss over the whole process, which also holds the checkpoint file's pages
** while it is converted to fp32.
*/
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clip.h"
#include "legrad.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds used by this process (all its threads). */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Deterministic pseudo-random floats in [-1, 1) (xorshift; no global state). */
static void fill_random(float *v, size_t n, uint32_t seed) {
  uint32_t s = seed ? seed : 1;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >> 17; s ^= s << 5;
    v[i] = (float)(s >> 8) / (float)(1u << 23) - 1.f;
  }
}

/* FLOPs of one forward pass at T tokens. */
static double flops_forward(const lg_model *m, int T) {
  const lg_vision_w *v = &m->vision;
  double D = v->cfg.width, F = v->cfg.mlp, L = v->cfg.layers, P = v->patch;
  double t = T, N = T - 1;
  double per_block = 2 * t * D * 3 * D + 2 * t * t * D * 2 + 2 * t * D * D + 2 * 2 * t * D * F;
  return 2 * N * 3 * P * P * D + L * per_block + 2 * D * m->embed_dim;
}

/* FLOPs of lg_legrad_run for P prompts on n layers. */
static double flops_backward(const lg_model *m, int T, int P, int n, int relu) {
  const lg_vision_w *v = &m->vision;
  double D = v->cfg.width, F = v->cfg.mlp, E = m->embed_dim, t = T;
  double per = 2 * t * F * D + 2 * t * D * D + (relu ? 2 * t * t * D : 2 * t * D) +
               2 * D * E + 2 * D * F;
  return (double)n * (P * per + 2 * D * E);
}

/* sgemm rate (FLOP/s) on the forward's shapes at T tokens: median of 9 calls per shape, best shape,
** per wall second (*wall) and per CPU second (*cpu).  Measured in the same child right after the
** timed runs, so it sees the same machine load. */
static void gemm_rate(int D, int F, int T, double *wall, double *cpu) {
  int shapes[3][3] = {{T, 3 * D, D}, {T, F, D}, {T, D, F}}; /* M, N, K */
  *wall = *cpu = 0;
  for (int s = 0; s < 3; s++) {
    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    float *a = malloc((size_t)M * K * sizeof(float)), *b = malloc((size_t)N * K * sizeof(float));
    float *c = malloc((size_t)M * N * sizeof(float));
    if (!a || !b || !c) { free(a); free(b); free(c); continue; }
    fill_random(a, (size_t)M * K, 1);
    fill_random(b, (size_t)N * K, 2);
    double tw[9], tc[9];
    for (int r = 0; r < 9; r++) {
      double t0 = now_s(), c0 = cpu_s();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, a, K, b, K, 0.f, c, N);
      tw[r] = now_s() - t0;
      tc[r] = cpu_s() - c0;
    }
    qsort(tw, 9, sizeof(double), cmp_double);
    qsort(tc, 9, sizeof(double), cmp_double);
    if (2.0 * M * N * K / tw[4] > *wall) *wall = 2.0 * M * N * K / tw[4];
    if (2.0 * M * N * K / tc[4] > *cpu) *cpu = 2.0 * M * N * K / tc[4];
    free(a); free(b); free(c);
  }
}

typedef struct bench_cfg {
  int size;        /* S */
  int prompts;     /* P (0 = forward only) */
  int all_layers;  /* 0: layer_index -2, 1: every block */
} bench_cfg;

/* Runs one configuration in this (fresh) process and prints one table row. */
/* Peak resident set since the last reset (VmHWM of /proc/self/status), in MB; -1 if unknown. */
static double vm_hwm_mb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  double kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb < 0 ? -1 : kb / 1024.0;
}

/* Resets the peak RSS to the current RSS (Linux clear_refs "5"); returns 0 on success. */
static int reset_peak_rss(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return -1;
  int ok = fputs("5", f) >= 0;
  return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int run_config(const char *dir, bench_cfg c, int runs, int out_fd) {
  lg_err err = {{0}};
  int rc = 1;
  lg_model *m = lg_model_load(dir, &err);
  if (!m) { fprintf(stderr, "bench_legrad: %s\n", err.msg); return 1; }
  int reset_ok = reset_peak_rss() == 0;  /* from here on: the serving peak, without loading */
  lg_vit_ws *ws = lg_vit_ws_new(m, c.size, LG_KEEP_DEFAULT, &err);
  float *pixels = NULL, *temb = NULL, *grid = NULL, *scores = NULL, *fin = NULL;
  double *times = calloc((size_t)runs, sizeof(double));
  double *ctimes = calloc((size_t)runs, sizeof(double));
  if (!ws || !times || !ctimes) { fprintf(stderr, "bench_legrad: %s\n", err.msg); goto done; }
  int S = c.size, G = ws->grid, T = ws->tokens, E = m->embed_dim, L = m->vision.cfg.layers;
  int P = c.prompts;
  lg_layer_set ls;
  if (lg_layers_from_index(c.all_layers ? 0 : -2, L, &ls, &err)) goto done;
  pixels = malloc((size_t)3 * S * S * sizeof(float));
  temb = malloc((size_t)(P ? P : 1) * E * sizeof(float));
  grid = malloc((size_t)(P ? P : 1) * ls.n * G * G * sizeof(float));
  scores = malloc((size_t)(P ? P : 1) * ls.n * sizeof(float));
  fin = malloc((size_t)S * S * sizeof(float));
  if (!pixels || !temb || !grid || !scores || !fin) goto done;
  fill_random(pixels, (size_t)3 * S * S, 42);
  for (int p = 0; p < P; p++) {
    fill_random(temb + (size_t)p * E, (size_t)E, 100 + p);
    lg_l2_normalize(temb + (size_t)p * E, E);
  }
  for (int r = -1; r < runs; r++) {
    double t0 = now_s(), c0 = cpu_s();
    if (lg_vit_forward(m, ws, pixels, NULL, &err)) goto done;
    if (P) {
      if (lg_legrad_run(m, ws, temb, P, &ls, NULL, grid, scores, &err)) goto done;
      for (int p = 0; p < P; p++) {
        int constant;
        lg_legrad_final(grid + (size_t)p * ls.n * G * G, ls.n, G, m->vision.patch, fin, &constant);
      }
    }
    if (r >= 0) {
      times[r] = now_s() - t0;
      ctimes[r] = cpu_s() - c0;
    }
  }
  qsort(times, (size_t)runs, sizeof(double), cmp_double);
  qsort(ctimes, (size_t)runs, sizeof(double), cmp_double);
  double med = times[runs / 2], cmed = ctimes[runs / 2];
  double fl = flops_forward(m, T) + (P ? flops_backward(m, T, P, ls.n, 1) : 0);
  double rate, crate;
  gemm_rate(m->vision.cfg.width, m->vision.cfg.mlp, T, &rate, &crate);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double weights_mb = (double)m->n_params * 4 / 1048576.0;
  double scratch_mb = P ? lg_legrad_scratch_bytes(m, ws, P, 1) / 1048576.0 : 0;
  printf("| %3d | %d | %-6s | %7.3f | %6.1f | %5.1f | %6.3f | %5.2fx | %7.3f | %5.2fx | %6.0f | %6.0f | %5.0f | %4.0f | %4.0f |\n",
         S, P, P ? (c.all_layers ? "all" : "-2") : "fwd", med, fl * 1e-9, rate * 1e-9, fl / rate,
         med / (fl / rate), cmed, cmed / (fl / crate), reset_ok ? vm_hwm_mb() : -1.0, ru.ru_maxrss / 1024.0, weights_mb,
         ws->bytes / 1048576.0, scratch_mb);
  fflush(stdout);
  double both[2] = {med, cmed};
  if (write(out_fd, both, sizeof both) != (ssize_t)sizeof both) goto done;
  rc = 0;
done:
  if (rc && err.msg[0]) fprintf(stderr, "bench_legrad: %s\n", err.msg);
  free(times); free(ctimes); free(pixels); free(temb); free(grid); free(scores); free(fin);
  lg_vit_ws_free(ws);
  lg_model_free(m);
  return rc;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "bench/models/vit_b16";
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (runs < 1) runs = 1;
  const char *thr = getenv("OPENBLAS_NUM_THREADS");
  int threads = thr && atoi(thr) > 0 ? atoi(thr) : 2;
  openblas_set_num_threads(threads);
  if (access(dir, R_OK) != 0) {
    printf("bench_legrad: SKIP: no model at %s (make it with: /usr/bin/python3 "
           "tests/reference/make_models.py --bench %s)\n", dir, dir);
    return 0;
  }
  printf("bench_legrad: %s, %d threads, median of %d runs (after 1 warm-up), fresh process per row\n",
         dir, threads, runs);
  double load[3] = {0};
  getloadavg(load, 3);
  printf("load average at the start: %.2f\n", load[0]);
  printf("| S | P | layers | s/image | GFLOP | GEMM GFLOP/s | floor s | ratio | CPU s | CPU ratio | peak MB | peak incl. load MB | weights MB | ws MB | scratch MB |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  fflush(stdout);
  static const bench_cfg cfgs[] = {
      {224, 0, 0}, {224, 1, 0}, {224, 5, 0}, {224, 1, 1}, {224, 5, 1},
      {448, 0, 0}, {448, 1, 0}, {448, 5, 0}, {448, 1, 1}, {448, 5, 1}};
  enum { NCFG = sizeof cfgs / sizeof cfgs[0] };
  double med[NCFG][2]; /* wall, CPU */
  int fails = 0;
  for (size_t i = 0; i < NCFG; i++) {
    int fd[2];
    med[i][0] = med[i][1] = NAN;
    if (pipe(fd)) { perror("pipe"); return 1; }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      close(fd[0]);
      _exit(run_config(dir, cfgs[i], runs, fd[1]));
    }
    close(fd[1]);
    if (read(fd[0], med[i], sizeof med[i]) != (ssize_t)sizeof med[i]) med[i][0] = med[i][1] = NAN;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) fails++;
  }
  getloadavg(load, 3);
  printf("load average at the end: %.2f\n", load[0]);
  /* Marginal cost of each extra prompt: (t(P=5) - t(P=1)) / 4, relative to the one-prompt image;
  ** from wall times and from CPU times. */
  printf("\n| S | layers | clock | 1 prompt s | 5 prompts s | per extra prompt s | per extra prompt / first | backward share of 1 prompt |\n");
  printf("|---|---|---|---|---|---|---|---|\n");
  for (int clk = 0; clk < 2; clk++)
    for (size_t i = 0; i < NCFG; i++) {
      if (cfgs[i].prompts != 1) continue;
      double fwd = NAN, five = NAN, one = med[i][clk];
      for (size_t j = 0; j < NCFG; j++) {
        if (cfgs[j].size != cfgs[i].size) continue;
        if (cfgs[j].prompts == 0) fwd = med[j][clk];
        if (cfgs[j].prompts == 5 && cfgs[j].all_layers == cfgs[i].all_layers) five = med[j][clk];
      }
      double extra = (five - one) / 4;
      printf("| %d | %s | %s | %.3f | %.3f | %.3f | %.1f %% | %.1f %% |\n", cfgs[i].size,
             cfgs[i].all_layers ? "all" : "-2", clk ? "CPU" : "wall", one, five, extra,
             100 * extra / one, 100 * (one - fwd) / one);
    }
  return fails ? 1 : 0;
}
