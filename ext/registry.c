/*
** Process-wide sharing of loaded weights between connections.
**
** Every connection has its own registry of named models (conn.c), but the weights behind them are
** shared: two connections that register the same files get the same read-only lg_model.  A CLIP
** ViT-B/16 is ~600 MB of fp32; four worker threads with their own connections would otherwise hold
** four copies (docs/benchmarks.md records the measured RSS).
**
** HOW IT WORKS
**   The key of a loaded model is realpath(path) plus the size and mtime of the files it was read
**   from (the file itself, or every regular file directly inside the model directory), so a model
**   rewritten on disk is loaded afresh while connections still using the old one keep it.  Entries
**   are refcounted; the last lg_registry_release() frees the model.
**
** WHY THIS IS THE ONE PIECE OF PROCESS STATE
**   Sharing across connections cannot live in per-connection state.  It is safe because an lg_model
**   is immutable after lg_model_load() (engine/model/clip.h), and it cannot outlive the library: every
**   reference is owned by some connection's lg_conn, which is freed (releasing its references)
**   before SQLite dlclose()s the extension for that connection, and the library stays mapped while
**   any connection still has it loaded.  The list is guarded by a mutex that is only held for list
**   operations, never while files are read: a model loads outside the lock, so a slow disk (or a
**   file that cannot be read) for one registration never holds up another connection.
**
** TWO CONNECTIONS, SAME FILES, SAME TIME
**   The first inserts a placeholder entry (model NULL, `loading` set) under the lock and loads
**   without it; the others find the placeholder and wait on the condition variable (which releases
**   the mutex) until it is either filled (they take a reference) or removed because the load failed
**   (they then try the load themselves and report their own error).  The files are loaded once.
*/
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conn.h"

typedef struct lg_shared {
  char *key;                /* realpath|files|bytes|mtime-digest, malloc'ed */
  lg_model *model;          /* NULL while loading */
  int loading;              /* 1 while a thread loads it outside the lock */
  int refs;
  struct lg_shared *next;
} lg_shared;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registry_cv = PTHREAD_COND_INITIALIZER;   /* a load finished or failed */
static lg_shared *registry_head;

/*
** Builds the identity key of the files behind path into a malloc'ed string.  Returns NULL (with a
** message) when path does not exist.
*/
static char *registry_key(const char *path, lg_err *err) {
  char real[PATH_MAX];
  struct stat st;
  if (!realpath(path, real) || stat(real, &st) != 0)
    { lg_errf(err, "cannot open '%s': no such file or directory", path); return NULL; }
  long long files = 0, bytes = 0, mtime_sum = 0;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(real);
    if (!d) { lg_errf(err, "cannot open directory '%s'", path); return NULL; }
    struct dirent *e;
    char child[PATH_MAX + 256];
    while ((e = readdir(d)) != NULL) {
      struct stat cs;
      snprintf(child, sizeof child, "%s/%s", real, e->d_name);
      if (stat(child, &cs) != 0 || !S_ISREG(cs.st_mode)) continue;
      files++;
      bytes += (long long)cs.st_size;
      mtime_sum += (long long)cs.st_mtim.tv_sec * 1000003LL + cs.st_mtim.tv_nsec;
    }
    closedir(d);
  } else {
    files = 1;
    bytes = (long long)st.st_size;
    mtime_sum = (long long)st.st_mtim.tv_sec * 1000003LL + st.st_mtim.tv_nsec;
  }
  size_t cap = strlen(real) + 96;
  char *key = malloc(cap);
  if (!key) { lg_errf(err, "out of memory"); return NULL; }
  snprintf(key, cap, "%s|%lld|%lld|%lld", real, files, bytes, mtime_sum);
  return key;
}

/* The entry with this key, or NULL.  Caller holds registry_mu. */
static lg_shared *registry_find(const char *key) {
  for (lg_shared *s = registry_head; s; s = s->next)
    if (strcmp(s->key, key) == 0) return s;
  return NULL;
}

lg_model *lg_registry_acquire(const char *path, lg_err *err) {
  char *key = registry_key(path, err);
  if (!key) return NULL;
  lg_model *m = NULL;
  lg_shared *s;
  pthread_mutex_lock(&registry_mu);
  while ((s = registry_find(key)) != NULL && s->loading) pthread_cond_wait(&registry_cv, &registry_mu);
  if (s) {
    s->refs++;
    m = s->model;
    pthread_mutex_unlock(&registry_mu);
    free(key);
    return m;
  }
  s = calloc(1, sizeof *s);
  if (!s) {
    pthread_mutex_unlock(&registry_mu);
    free(key);
    lg_errf(err, "out of memory");
    return NULL;
  }
  s->key = key;
  s->loading = 1;
  s->next = registry_head;
  registry_head = s;
  pthread_mutex_unlock(&registry_mu);

  m = lg_model_load(path, err);   /* without the lock: reads files */

  pthread_mutex_lock(&registry_mu);
  if (m) {
    s->model = m;
    s->refs = 1;
    s->loading = 0;
  } else {
    lg_err_strip_engine_name(err);
    for (lg_shared **pp = &registry_head; *pp; pp = &(*pp)->next)
      if (*pp == s) { *pp = s->next; break; }
  }
  pthread_cond_broadcast(&registry_cv);
  pthread_mutex_unlock(&registry_mu);
  if (!m) {
    free(s->key);
    free(s);
  }
  return m;
}

void lg_registry_release(lg_model *m) {
  if (!m) return;
  lg_shared *dead = NULL;
  pthread_mutex_lock(&registry_mu);
  for (lg_shared **pp = &registry_head; *pp; pp = &(*pp)->next) {
    if (!(*pp)->loading && (*pp)->model == m) {
      if (--(*pp)->refs == 0) { dead = *pp; *pp = dead->next; }
      break;
    }
  }
  pthread_mutex_unlock(&registry_mu);
  if (dead) {
    lg_model_free(dead->model);
    free(dead->key);
    free(dead);
  }
}

int lg_registry_loaded(void) {
  int n = 0;
  pthread_mutex_lock(&registry_mu);
  for (lg_shared *s = registry_head; s; s = s->next) n += !s->loading;
  pthread_mutex_unlock(&registry_mu);
  return n;
}
