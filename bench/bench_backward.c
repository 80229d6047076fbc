/*
** Backward-pass benchmark: forward alone vs forward + full backward through every block of the
** vision tower (docs/benchmarks.md "Backward pass", docs/backward.md).
**
**   build/bench/bench_backward [model_dir] [runs] [sides...]    default bench/models/vit_b16, 7, 224
**
** model_dir: a ViT-B/16-shaped random model (tests/reference/make_models.py --bench DIR).
** Threads: OPENBLAS_NUM_THREADS (scripts/bench.sh sets 2).
**
** For each side S, after one warm-up, `runs` timed repetitions of each configuration, interleaved
** (one run of each in turn, so all see the same machine load); the median wall time and the median
** process CPU time are reported:
**   forward                lg_vit_forward, LG_KEEP_DEFAULT (what every method pays)
**   fwd+bwd (recompute A)  + CLIP score gradient + lg_vit_backward through all blocks, keeping the
**                          gradients at every block's output, LN1 output and attention
**                          probabilities; the probabilities are recomputed from qkv (LG_KEEP_DEFAULT)
**   fwd+bwd (cached A)     the same with LG_KEEP_ATTN_ALL (the forward stores every block's A)
**   fwd+bwd (no copies)    keep = 0: only the gradient at block 0's input is kept
** Memory: workspace and gradient bytes (lg_vit_ws.bytes, lg_vit_grads.bytes).
** FLOPs (matrix products, multiply-add = 2): forward 8TD² + 4TDF + 4T²D per block;
** backward (activation gradients only) 8TD² + 4TDF + 8T²D per block, + 2T²D when A is recomputed.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clip.h"
#include "vit_backward.h"

static double now_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One configuration: keep (forward) and gkeep (gradients, -1 = no backward). */
typedef struct config {
  const char *label;
  lg_keep keep;
  int gkeep;
  lg_vit_ws *ws;
  lg_vit_grads *g;
  double *wall, *cpu;
} config;

/* Forward (and backward when c->g) of one image; returns the wall and CPU seconds. */
static int run_once(const lg_model *m, config *c, const float *pixels, const float *txt, float *emb,
                    float *d_emb, double *wall, double *cpu, lg_err *err) {
  double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
  if (lg_vit_forward(m, c->ws, pixels, emb, err)) return -1;
  if (c->g) {
    lg_score_backward(emb, txt, m->embed_dim, expf(m->logit_scale), d_emb);
    if (lg_vit_backward(m, c->ws, d_emb, c->g, err)) return -1;
  }
  *wall = now_s(CLOCK_MONOTONIC) - t0;
  *cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  return 0;
}

/* All configurations at side S, interleaved run by run so that they see the same machine load. */
static int bench_side(const lg_model *m, int S, int runs) {
  const unsigned full = LG_GRAD_OUT | LG_GRAD_LN1 | LG_GRAD_ATTN;
  config cs[] = {{"forward", LG_KEEP_DEFAULT, -1},
                 {"fwd+bwd (recompute A)", LG_KEEP_DEFAULT, (int)full},
                 {"fwd+bwd (cached A)", LG_KEEP_ATTN_ALL, (int)full},
                 {"fwd+bwd (no copies)", LG_KEEP_DEFAULT, 0}};
  enum { NC = sizeof cs / sizeof cs[0] };
  lg_err err = {{0}};
  int E = m->embed_dim, rc = -1;
  float *pixels = malloc((size_t)3 * S * S * sizeof(float));
  float *emb = malloc((size_t)E * sizeof(float)), *txt = malloc((size_t)E * sizeof(float));
  float *d_emb = malloc((size_t)E * sizeof(float));
  if (!pixels || !emb || !txt || !d_emb) goto done;
  for (long i = 0; i < 3L * S * S; i++) pixels[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  for (int j = 0; j < E; j++) txt[j] = sinf(0.37f * (float)j);
  for (int k = 0; k < NC; k++) {
    config *c = &cs[k];
    c->ws = lg_vit_ws_new(m, S, c->keep, &err);
    c->g = c->ws && c->gkeep >= 0 ? lg_vit_grads_new(m, c->ws, (unsigned)c->gkeep, &err) : NULL;
    c->wall = calloc((size_t)runs, sizeof(double));
    c->cpu = calloc((size_t)runs, sizeof(double));
    if (!c->ws || (c->gkeep >= 0 && !c->g) || !c->wall || !c->cpu) goto done;
  }
  for (int r = -1; r < runs; r++)
    for (int k = 0; k < NC; k++) {
      double w, u;
      if (run_once(m, &cs[k], pixels, txt, emb, d_emb, &w, &u, &err)) goto done;
      if (r >= 0) { cs[k].wall[r] = w; cs[k].cpu[r] = u; }
    }
  double med[NC], cmed[NC];
  for (int k = 0; k < NC; k++) {
    config *c = &cs[k];
    qsort(c->wall, (size_t)runs, sizeof(double), cmp_double);
    qsort(c->cpu, (size_t)runs, sizeof(double), cmp_double);
    med[k] = c->wall[runs / 2];
    cmed[k] = c->cpu[runs / 2];
    printf("%4d  %-22s %9.1f %9.1f %11.1f %11.1f\n", S, c->label, med[k] * 1e3, cmed[k] * 1e3,
           c->ws->bytes / 1048576.0, c->g ? c->g->bytes / 1048576.0 : 0.0);
  }
  const lg_tower_cfg *tc = &m->vision.cfg;
  double T = (double)(S / m->vision.patch) * (S / m->vision.patch) + 1, D = tc->width, F = tc->mlp;
  double ff = tc->layers * (8 * T * D * D + 4 * T * D * F + 4 * T * T * D);
  double fb = tc->layers * (8 * T * D * D + 4 * T * D * F + 8 * T * T * D);
  printf("%4d  backward / forward, CPU time: recompute %.2f, cached %.2f, no copies %.2f "
         "(wall: %.2f, %.2f, %.2f)\n", S, cmed[1] / cmed[0] - 1, cmed[2] / cmed[0] - 1,
         cmed[3] / cmed[0] - 1, med[1] / med[0] - 1, med[2] / med[0] - 1, med[3] / med[0] - 1);
  printf("%4d  GFLOP: forward %.1f, backward %.1f (+%.1f when A is recomputed)\n", S, ff * 1e-9,
         fb * 1e-9, tc->layers * 2 * T * T * D * 1e-9);
  rc = 0;
done:
  if (rc) fprintf(stderr, "bench_backward: side %d: %s\n", S, err.msg[0] ? err.msg : "out of memory");
  for (int k = 0; k < NC; k++) {
    lg_vit_grads_free(cs[k].g);
    lg_vit_ws_free(cs[k].ws);
    free(cs[k].wall);
    free(cs[k].cpu);
  }
  free(pixels); free(emb); free(txt); free(d_emb);
  return rc;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "bench/models/vit_b16";
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (runs < 1) runs = 1;
  lg_err err = {{0}};
  lg_model *m = lg_model_load(dir, &err);
  if (!m) {
    fprintf(stderr, "bench_backward: %s (build it with tests/reference/make_models.py --bench %s)\n",
            err.msg, dir);
    return 1;
  }
  const lg_tower_cfg *c = &m->vision.cfg;
  printf("model %s: width %d, %d blocks, %d heads, MLP %d; median of %d runs\n", dir, c->width,
         c->layers, c->heads, c->mlp, runs);
  printf("side  configuration          wall ms    CPU ms  ws MiB      grads MiB\n");
  int nsides = argc > 3 ? argc - 3 : 1;
  for (int k = 0; k < nsides; k++)
    if (bench_side(m, argc > 3 ? atoi(argv[3 + k]) : 224, runs)) break;
  lg_model_free(m);
  return 0;
}
