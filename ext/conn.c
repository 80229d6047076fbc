/*
** Per-connection state: the models registered in legrad_models, the default model, and a small
** LRU cache of ViT workspaces so consecutive rows of a query reuse their buffers.
**
** Default model (a function whose options name no model):
**   1. the model registered under the name 'default';
**   2. else the path in the environment variable LEGRAD_MODEL;
**   3. else the sample model shipped with the project: samples/model found next to the loaded
**      legrad0.so (its own path comes from dladdr), or one or two directories above it (so
**      build/asan/legrad0.so finds the same samples/).
** 2 and 3 are loaded on first use and kept for the connection's lifetime; they are not listed in
** legrad_models.
*/
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conn.h"

lg_conn *lg_conn_new(sqlite3 *db) {
  lg_conn *c = sqlite3_malloc(sizeof *c);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->db = db;
  c->next_id = 1;
  c->failure_next = 1;
  lg_progress_from_env(c);
  return c;
}

/* Frees the workspaces that belong to model m (all of them when m is NULL). */
static void conn_drop_workspaces(lg_conn *c, const lg_model *m) {
  for (int i = 0; i < LG_WS_SLOTS; i++) {
    if (c->ws[i].model && (!m || c->ws[i].model == m)) {
      lg_vit_ws_free(c->ws[i].ws);
      free(c->ws[i].emb);
      memset(&c->ws[i], 0, sizeof c->ws[i]);
    }
  }
}

/* Frees one registry entry and drops its reference on the shared weights. */
static void named_model_free(lg_conn *c, lg_named_model *e) {
  int still_used = (c->implicit == e->model);
  for (lg_named_model *o = c->models; o; o = o->next)
    if (o != e && o->model == e->model) still_used = 1;
  if (!still_used) conn_drop_workspaces(c, e->model);
  lg_registry_release(e->model);
  sqlite3_free(e->name);
  sqlite3_free(e->path);
  sqlite3_free(e);
}

void lg_conn_free(void *p) {
  lg_conn *c = p;
  if (!c) return;
  lg_cache_close(c);  /* writes the maps still queued (bounded wait) */
  conn_drop_workspaces(c, NULL);
  while (c->models) {
    lg_named_model *e = c->models;
    c->models = e->next;
    lg_registry_release(e->model);
    sqlite3_free(e->name);
    sqlite3_free(e->path);
    sqlite3_free(e);
  }
  lg_registry_release(c->implicit);
  lg_failures_free(c);
  sqlite3_free(c);
}

int lg_conn_add_model(lg_conn *c, const char *name, const char *path, int replace, lg_err *err) {
  lg_named_model **pp = &c->models;
  for (; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->name, name) == 0) break;
  }
  if (*pp && !replace)
    return lg_errf(err, "legrad_models: a model named '%s' is already registered (DELETE it "
                        "first, or use INSERT OR REPLACE)", name);
  lg_model *m = lg_registry_acquire(path, err);
  if (!m) return lg_err_prefix(err, "legrad_models: cannot load model '%s'", name);
  lg_named_model *e = sqlite3_malloc(sizeof *e);
  char *nm = sqlite3_mprintf("%s", name), *pt = sqlite3_mprintf("%s", path);
  if (!e || !nm || !pt) {
    sqlite3_free(e); sqlite3_free(nm); sqlite3_free(pt);
    lg_registry_release(m);
    return lg_errf(err, "legrad_models: out of memory");
  }
  e->id = c->next_id++;
  e->name = nm;
  e->path = pt;
  e->model = m;
  if (*pp) {  /* replace in place: keep the list order */
    lg_named_model *old = *pp;
    e->next = old->next;
    *pp = e;
    named_model_free(c, old);
  } else {
    e->next = NULL;
    *pp = e;
  }
  return 0;
}

int lg_conn_remove_model(lg_conn *c, sqlite3_int64 id) {
  for (lg_named_model **pp = &c->models; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      lg_named_model *e = *pp;
      *pp = e->next;
      named_model_free(c, e);
      return 0;
    }
  }
  return -1;
}

/* Writes the directory that holds this shared library into dir (empty on failure). */
static void conn_library_dir(char *dir, size_t cap) {
  Dl_info info;
  dir[0] = 0;
  if (dladdr((void *)&lg_conn_new, &info) && info.dli_fname) {
    char real[PATH_MAX];
    const char *p = realpath(info.dli_fname, real) ? real : info.dli_fname;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", p);
    snprintf(dir, cap, "%s", dirname(tmp));
  }
}

/* Finds samples/model next to the library; returns 1 and fills out, or 0 with where it looked. */
static int conn_find_sample(char *out, size_t cap, char *looked, size_t lcap) {
  char dir[PATH_MAX];
  static const char *const rel[] = {"samples/model", "../samples/model", "../../samples/model"};
  conn_library_dir(dir, sizeof dir);
  snprintf(looked, lcap, "%s/samples/model", dir[0] ? dir : ".");
  if (!dir[0]) return 0;
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    struct stat st;
    snprintf(out, cap, "%s/%s", dir, rel[i]);
    if (stat(out, &st) == 0) return 1;
  }
  return 0;
}

/* Appends the registered names to a message: " (registered: a, b)" or how to register one. */
static void conn_list_names(const lg_conn *c, char *out, size_t cap) {
  if (!c->models) {
    snprintf(out, cap, "no models are registered; register one with INSERT INTO "
                       "legrad_models(name, path) VALUES ('name', '/path/to/model')");
    return;
  }
  size_t len = (size_t)snprintf(out, cap, "registered: ");
  for (const lg_named_model *e = c->models; e && len < cap; e = e->next)
    len += (size_t)snprintf(out + len, cap - len, "%s%s", e->name, e->next ? ", " : "");
}

lg_model *lg_conn_model(lg_conn *c, const char *name, const char *fn, lg_err *err) {
  const char *want = (name && name[0]) ? name : "default";
  for (lg_named_model *e = c->models; e; e = e->next)
    if (strcmp(e->name, want) == 0) return e->model;
  if (name && name[0] && strcmp(name, "default") != 0) {
    char names[600];
    conn_list_names(c, names, sizeof names);
    lg_errf(err, "%s(): unknown model '%s' (%s)", fn, name, names);
    return NULL;
  }
  if (c->implicit) return c->implicit;
  const char *env = getenv("LEGRAD_MODEL");
  if (env && env[0]) {
    c->implicit = lg_registry_acquire(env, err);
    if (!c->implicit) lg_err_prefix(err, "%s(): cannot load the default model $LEGRAD_MODEL", fn);
    return c->implicit;
  }
  char sample[PATH_MAX + 32], looked[PATH_MAX + 32];
  if (!conn_find_sample(sample, sizeof sample, looked, sizeof looked)) {
    lg_errf(err, "%s(): no default model: none is registered under the name 'default', "
                 "$LEGRAD_MODEL is not set, and the sample model was not found at %s; register "
                 "one with INSERT INTO legrad_models(name, path) VALUES ('default', "
                 "'/path/to/model')", fn, looked);
    return NULL;
  }
  c->implicit = lg_registry_acquire(sample, err);
  if (!c->implicit) lg_err_prefix(err, "%s(): cannot load the sample model", fn);
  return c->implicit;
}

lg_ws_slot *lg_conn_workspace(lg_conn *c, const lg_model *m, int size, lg_keep keep,
                              lg_err *err) {
  lg_ws_slot *victim = &c->ws[0];
  c->tick++;
  for (int i = 0; i < LG_WS_SLOTS; i++) {
    lg_ws_slot *s = &c->ws[i];
    if (s->model == m && s->size == size) {
      /* lg_keep grows: a workspace keeping more attention maps serves every request for less. */
      if (s->ws->keep >= keep) { s->last_use = c->tick; return s; }
      victim = s;  /* same image size, fewer attention maps kept: rebuild this slot */
      break;
    }
    if (!s->model) victim = s;
    else if (victim->model && s->last_use < victim->last_use) victim = s;
  }
  if (victim->model) {
    lg_vit_ws_free(victim->ws);
    free(victim->emb);
    memset(victim, 0, sizeof *victim);
  }
  lg_vit_ws *ws = lg_vit_ws_new(m, size, keep, err);
  if (!ws) return NULL;
  float *emb = malloc(sizeof(float) * (size_t)m->embed_dim);
  if (!emb) {
    lg_vit_ws_free(ws);
    lg_errf(err, "out of memory for the image embedding");
    return NULL;
  }
  victim->emb = emb;
  victim->model = m;
  victim->size = size;
  victim->ws = ws;
  victim->last_use = c->tick;
  return victim;
}
