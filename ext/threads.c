/*
** How many BLAS threads a computation uses (docs/benchmarks.md "BLAS threads" has the measurements).
**
** OpenBLAS starts with as many threads as the machine has cores, and on a small model that is a
** loss: the GEMMs of the sample model are so small that waking and joining a second thread costs
** more than it saves, and on a busy machine the second thread waits for a core (2.7x slower in wall
** time than 1 thread, measured).  So before each image forward and each LeGrad backward:
**
**   1. $LEGRAD_THREADS = N (a positive integer): N threads, always.
**   2. else $OPENBLAS_NUM_THREADS, $GOTO_NUM_THREADS or $OMP_NUM_THREADS is set: the user chose;
**      OpenBLAS read it when it loaded and nothing is changed.
**   3. else automatic:
**      - 1 thread when one image forward of the model at this input size costs less than
**        LG_THREADS_SMALL_GFLOP (the sample model at 64 px: 0.11 GFLOP; ViT-B/16 at 224: 35);
**      - 1 thread while another connection of this process is computing too (the cores are taken;
**        each computation on one thread wastes nothing);
**      - else one thread per idle core: the cores this process may run on (sched_getaffinity)
**        minus the load others put on them, i.e. the 1-minute load average less this process's
**        own share (the threads of its latest computation, when that ended under a minute ago),
**        rounded, at least 1.  On an idle 2-core machine that is 2; with one busy job beside it, 1.
**      Other processes are only seen through the load average, which lags by up to a minute.
**
** openblas_set_num_threads() is process-wide: the count chosen by the latest computation applies to
** every BLAS call of the process, including other connections and any other library using OpenBLAS
** in the same process.  It is only called when the count changes.  legrad_debug() shows the
** policy and the latest choice of the connection.
**
** PROCESS STATE: the number of computations in progress, over all connections, guarded by a mutex
** (like the weights registry, registry.c): the BLAS thread count it steers is process-wide too.
*/
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

/* OpenBLAS's own controls (cblas.h declares them only in newer releases). */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);

static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static int threads_active;  /* computations in progress in this process (guarded by threads_mu) */
static double threads_own;  /* BLAS threads of the latest computation of this process (threads_mu) */
static double threads_end_t; /* monotonic seconds when it ended (threads_mu) */

/* Monotonic clock in seconds. */
static double threads_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Cores this process may run on (at least 1). */
static int threads_cores(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

double lg_forward_gflop(const lg_model *m, int size) {
  const lg_tower_cfg *v = &m->vision.cfg;
  double g = m->vision.patch > 0 ? (double)(size / m->vision.patch) : 0;
  double T = g * g + 1, D = v->width, F = v->mlp, L = v->layers;
  double P2 = (double)m->vision.patch * m->vision.patch;
  /* patch embedding + per block: qkv, QK^T, AV, out projection, fc1, fc2 (multiply-add = 2) */
  double flop = 2 * (T - 1) * 3 * P2 * D + L * (2 * T * D * 3 * D + 4 * T * T * D + 2 * T * D * D +
                                               4 * T * D * F);
  return flop * 1e-9;
}

/* The first of the environment variables OpenBLAS reads for its thread count that is set, or NULL. */
static const char *threads_user_env(const char **value) {
  static const char *const names[] = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *v = getenv(names[i]);
    if (v && v[0]) { *value = v; return names[i]; }
  }
  return NULL;
}

void lg_threads_begin(lg_conn *c, const lg_model *m, int size) {
  pthread_mutex_lock(&threads_mu);
  int others = threads_active++;
  double own = threads_active > 1 || threads_now() - threads_end_t < 60 ? threads_own : 0;
  pthread_mutex_unlock(&threads_mu);
  const char *env = getenv("LEGRAD_THREADS"), *uval = NULL;
  int want = 0;
  char *end = NULL;
  long n = env && env[0] ? strtol(env, &end, 10) : 0;
  double gf = lg_forward_gflop(m, size);
  if (env && env[0] && end && *end == 0 && n >= 1 && n <= 256) {
    want = (int)n;
    snprintf(c->threads_why, sizeof c->threads_why, "LEGRAD_THREADS=%d", want);
  } else if (threads_user_env(&uval)) {
    snprintf(c->threads_why, sizeof c->threads_why, "%s=%.16s, left to OpenBLAS",
             threads_user_env(&uval), uval);
  } else if (gf < LG_THREADS_SMALL_GFLOP) {
    want = 1;
    snprintf(c->threads_why, sizeof c->threads_why, "auto: %.2f GFLOP per forward < %g",
             gf, (double)LG_THREADS_SMALL_GFLOP);
  } else if (others > 0) {
    want = 1;
    snprintf(c->threads_why, sizeof c->threads_why, "auto: another connection is computing");
  } else {
    int cores = threads_cores();
    double load[1] = {0};
    if (getloadavg(load, 1) < 1) load[0] = 0;
    double busy = load[0] - own;
    want = (int)(cores - (busy > 0 ? busy : 0) + 0.5);
    if (want < 1) want = 1;
    if (want > cores) want = cores;
    snprintf(c->threads_why, sizeof c->threads_why,
             "auto: %.2f GFLOP per forward, %d cores, load %.2f of which %.0f ours", gf, cores,
             load[0], own);
  }
  if (want > 0 && want != openblas_get_num_threads()) openblas_set_num_threads(want);
  c->threads_last = openblas_get_num_threads();
}

void lg_threads_end(void) {
  int n = openblas_get_num_threads();
  pthread_mutex_lock(&threads_mu);
  threads_active--;
  threads_own = n;
  threads_end_t = threads_now();
  pthread_mutex_unlock(&threads_mu);
}

char *lg_threads_describe(const lg_conn *c) {
  const char *uval = NULL, *uenv = threads_user_env(&uval), *env = getenv("LEGRAD_THREADS");
  const char *policy = env && env[0] ? "LEGRAD_THREADS" : uenv ? uenv : "auto";
  if (!c || !c->threads_why[0])
    return sqlite3_mprintf("%s (no computation yet on this connection; %d cores; auto: 1 thread "
                           "under %g GFLOP per forward or while connections compute at once, "
                           "else one per idle core)",
                           policy, threads_cores(), (double)LG_THREADS_SMALL_GFLOP);
  return sqlite3_mprintf("%d (%s)", c->threads_last, c->threads_why);
}
