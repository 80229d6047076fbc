/*
** The method table: one descriptor per explanation method, so that everything above the engine
** (legrad_explain(), legrad_methods, the cache, the map blob) is driven by data, not by a switch.
**
**   const lg_explain_method *me = lg_method_find("legrad");
**   double opt[LG_METHOD_MAX_OPTS];
**   lg_method_defaults(me, opt);                                   // then lg_method_set_option()
**   lg_vit_ws *ws = lg_vit_ws_new(m, S, lg_method_keep(me), &err);  // what the forward must record
**   lg_vit_forward(m, ws, pixels, NULL, &err);
**   lg_explain_in in = {m, ws, text_emb, P, &ls, opt};
**   int n = lg_method_n_maps(me, &in);                              // grids per prompt
**   lg_explain_run(me, &in, grids, scores, &err);                   // grids [P, n, G, G], scores [P, n]
**
** Adding a method: write engine/explain/<method>.c defining `const lg_explain_method
** lg_method_<name>` (its run function, options and needs), declare it below, and add one row to the
** table in method.c.  docs/architecture.md and docs/methods.md describe the steps.
*/
#ifndef LEGRAD_METHOD_H
#define LEGRAD_METHOD_H
#include <stddef.h>

#include "clip.h"
#include "legrad.h"
#include "lg_error.h"

#define LG_METHOD_MAX_OPTS 4

/* What a method needs, beyond the forward's default caches (x_in, LN statistics, qkv = the
** values, y, h, x_out of every block; see lg_vit_block_cache). */
enum {
  LG_NEED_TEXT = 1,       /* uses the prompts' text embeddings (else the map is text-independent) */
  LG_NEED_ATTN_LAST = 2,  /* the forward keeps the last block's attention probabilities            */
  LG_NEED_ATTN_ALL = 4,   /* the forward keeps every block's attention probabilities               */
  LG_NEED_BACKWARD = 8,   /* a backward pass through (part of) the vision tower                    */
  LG_NEED_RELPROP = 16    /* relevance propagation (LRP rules) through the vision tower            */
};

/* How a method's grids become the one map of a prompt (recorded in the map blob's flags). */
enum {
  LG_POST_SUM = 1  /* the map's grid is the sum of the method's n_maps grids (LeGrad's layers) */
};

typedef enum lg_opt_type { LG_MOPT_BOOL = 0, LG_MOPT_INT = 1 } lg_opt_type;

/* One option of a method (beyond the common model/size/resize/cache, and layers). */
typedef struct lg_method_opt {
  const char *name;         /* the JSON key, e.g. "relu"                                   */
  lg_opt_type type;
  double def;               /* default value                                               */
  double min, max;          /* accepted range (LG_MOPT_INT; 0..1 for LG_MOPT_BOOL)           */
  int max_from_layers;      /* 1: the upper bound is the tower's block count L (max ignored) */
  const char *description;
} lg_method_opt;

/* The inputs of a method's run. */
typedef struct lg_explain_in {
  const lg_model *m;
  const lg_vit_ws *ws;      /* after lg_vit_forward, recording at least lg_method_keep()    */
  const float *text_emb;    /* [n_prompts, E] L2-normalised; may be NULL without LG_NEED_TEXT */
  int n_prompts;            /* P >= 1                                                       */
  const lg_layer_set *ls;   /* the chosen blocks, for methods with layers; else ignored     */
  const double *opt;        /* [n_opts] option values in table order; NULL = the defaults   */
} lg_explain_in;

typedef struct lg_explain_method {
  const char *name;         /* SQL name: "legrad", ...                                       */
  const char *description;  /* one line for legrad_methods                                   */
  int blob_id;              /* method id recorded in map blobs (mapblob.h lg_method)         */
  int options_in_flags;     /* 1: the blob's flags carry the options (LeGrad's relu), so the
                               blob records no options text; 0: it records
                               lg_method_options_key (docs/map-format.md)                    */
  unsigned needs;           /* LG_NEED_*                                                     */
  unsigned post;            /* LG_POST_*                                                     */
  int has_layers;           /* 1: takes a layer set (option "layers")                        */
  int default_layers;       /* the default official layer_index when has_layers (LeGrad: -2) */
  int n_opts;
  lg_method_opt opts[LG_METHOD_MAX_OPTS];
  /* Grids per prompt (LeGrad: one per chosen block). */
  int (*n_maps)(const lg_explain_in *in);
  /* Bytes of scratch run() allocates (for memory budgeting). */
  size_t (*scratch_bytes)(const lg_explain_in *in);
  /* grids: [n_prompts, n_maps, G, G] raw grid maps (G = ws->grid, row-major); scores:
  ** [n_prompts, n_maps] (NAN where the method has no score).  Inputs were checked by
  ** lg_explain_run.  Returns 0, or -1 with err. */
  int (*run)(const lg_explain_in *in, float *grids, float *scores, lg_err *err);
} lg_explain_method;

/* The rows of the table (one file each in engine/explain/). */
extern const lg_explain_method lg_method_legrad;        /* legrad_method.c */
extern const lg_explain_method lg_method_raw_attention; /* raw_attention.c */
extern const lg_explain_method lg_method_rollout;       /* rollout.c       */

/* Number of methods and the i-th (0-based, table order); NULL when out of range. */
int lg_method_count(void);
const lg_explain_method *lg_method_at(int i);
/* The method called name (exact, case-sensitive); NULL when there is none. */
const lg_explain_method *lg_method_find(const char *name);
/* The method whose blob id is id; NULL when there is none. */
const lg_explain_method *lg_method_by_blob_id(int id);
/* "legrad, raw_attention, ..." (the table's names) into out, for error messages. */
void lg_method_names(char *out, size_t cap);

/* What the forward must record for this method (lg_vit_ws_new's keep). */
lg_keep lg_method_keep(const lg_explain_method *me);
/* The index of option name in me->opts, or -1. */
int lg_method_option(const lg_explain_method *me, const char *name);
/* Fills opt[0..n_opts) with the defaults. */
void lg_method_defaults(const lg_explain_method *me, double *opt);
/* Checks value against option k's type and range (n_layers: the tower's L, for options bounded by
** it) and stores it in opt[k].  Errors read "<option> must be ..., found <value>". */
int lg_method_set_option(const lg_explain_method *me, int k, double value, int n_layers,
                         double *opt, lg_err *err);
/* Canonical text of the option values, "name=value" joined by ',' in table order ("relu=1"):
** the cache key and the map blob's record.  "" for a method without options. */
void lg_method_options_key(const lg_explain_method *me, const double *opt, char *out, size_t cap);

/* Grids per prompt for in (me->n_maps). */
int lg_method_n_maps(const lg_explain_method *me, const lg_explain_in *in);
/* Checks in against me (workspace records, text, layer set, option ranges) and runs it.
** grids: [n_prompts, n_maps, G, G]; scores: [n_prompts, n_maps]. */
int lg_explain_run(const lg_explain_method *me, const lg_explain_in *in, float *grids,
                   float *scores, lg_err *err);

#endif
