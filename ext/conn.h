/*
** Per-connection state of the extension and the helpers shared by its SQL entry points.
**
**   lg_conn            one per sqlite3 connection (created by sqlite3_legrad_init, freed by the
**                      destructor of the legrad_models module): registered models, the implicit
**                      default model, a small cache of ViT workspaces, cache counters.
**   registry.c         process-wide, refcounted sharing of loaded weights between connections.
**   args.c             the one parser for image / text / layers / options arguments and its messages.
**   compute.c          text embedding, image forward, a method's grids -> map blobs.
**   explain_func.c     legrad_explain() and the one table-driven path every map-producing SQL
**                      function takes (engine/explain/method.h); methods_vtab.c lists the table.
**   cache.c            the persistent legrad_cache table (written through the extension's own
**                      connections and a flusher thread) and the image content hash.
**
** SQLite serialises every call on one connection, so nothing in lg_conn needs a lock, except the
** map cache's queue, which its flusher thread shares (cache.c); the process-wide registry
** (registry.c) has a mutex too.
*/
#ifndef LEGRAD_EXT_CONN_H
#define LEGRAD_EXT_CONN_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "ext.h"
#include "image.h"
#include "legrad.h"
#include "method.h"

/* ---- registry.c: weights shared between connections ---------------------------------------- */

/* Loads the model at path, or returns the already loaded copy when the same files (realpath, sizes,
** mtimes) are loaded by any connection of this process; increments its refcount.  On failure returns
** NULL with a message in err. */
lg_model *lg_registry_acquire(const char *path, lg_err *err);
/* Drops one reference; the model is freed when the last connection lets it go. */
void lg_registry_release(lg_model *m);
/* Number of distinct models currently loaded in this process (for legrad_debug()). */
int lg_registry_loaded(void);

/* ---- conn.c: per-connection state ----------------------------------------------------------- */

typedef struct lg_named_model {
  sqlite3_int64 id;          /* rowid in legrad_models (stable while registered)            */
  char *name;                /* sqlite3_malloc'ed                                           */
  char *path;                /* as given to INSERT, sqlite3_malloc'ed                        */
  lg_model *model;           /* shared, refcounted (registry.c)                             */
  struct lg_named_model *next;
} lg_named_model;

#define LG_WS_SLOTS 2        /* ViT workspaces kept per connection (model x size), LRU        */

typedef struct lg_ws_slot {
  const lg_model *model;     /* NULL = empty slot                                           */
  int size;                  /* image side S                                                */
  lg_vit_ws *ws;
  uint64_t last_use;         /* tick of the last use, for LRU eviction                      */
  /* What ws holds: the forward of this image (content hash) in this resize mode, or nothing
  ** (image[0] == 0).  A later LeGrad call on the same image reuses it (another prompt). */
  char image[33];
  lg_resize mode;
  lg_frame frame;
  float *emb;                /* [E] that image's L2-normalised embedding (valid with image[]) */
} lg_ws_slot;

/* One failed row (failures.c), as listed by legrad_failures. */
typedef struct lg_failure {
  sqlite3_int64 seq;         /* 1, 2, ... per connection; 0 = empty or deleted slot          */
  sqlite3_int64 time;        /* unix seconds                                                */
  const char *fn;            /* static function name                                        */
  char *message;             /* sqlite3_malloc'ed, the full error message                    */
  int nulled;                /* 1 = on_error "null" gave NULL, 0 = the statement failed      */
  sqlite3_int64 image_bytes; /* -1 = the function has no image argument                     */
  const char *image_format;  /* lg_image_probe format, static                                */
  long long image_w, image_h;/* 0 = the header does not say                                  */
  char image_hash[33];       /* lg_content_hash, "" without an image                         */
  char *prompt;              /* sqlite3_malloc'ed (at most LG_FAILURE_PROMPT_MAX bytes) or NULL */
} lg_failure;

#define LG_FAILURES_MAX 10000      /* failures kept per connection (oldest dropped first)   */
#define LG_FAILURE_PROMPT_MAX 1000 /* bytes of the prompt kept with a failure               */

/* legrad_progress() state (progress.c). */
typedef struct lg_progress {
  double every;              /* seconds between lines; 0 = off                               */
  sqlite3_int64 total;       /* expected calls, 0 = unknown                                  */
  sqlite3_int64 calls, failed;
  double t0, last, t_end;    /* monotonic seconds: first counted call, last line, last call  */
} lg_progress;

struct lg_conn {
  sqlite3 *db;
  lg_named_model *models;    /* registered models, in insertion order                       */
  sqlite3_int64 next_id;
  lg_model *implicit;        /* default from $LEGRAD_MODEL or samples/model, loaded lazily   */
  lg_ws_slot ws[LG_WS_SLOTS];
  uint64_t tick;
  struct lg_cache *cache;    /* the map cache's connections, queue and counters (cache.c)    */
  sqlite3_int64 failures;    /* rows that failed on their data (legrad_cache_stats())          */
  lg_failure *failure_ring;  /* [LG_FAILURES_MAX], slot (seq - 1) % LG_FAILURES_MAX; lazily made */
  sqlite3_int64 failure_next;/* seq of the next failure                                       */
  lg_progress progress;
  int threads_last;          /* BLAS threads of the latest computation (threads.c)           */
  char threads_why[96];      /* why: "auto: ...", "LEGRAD_THREADS=2", ...; "" = none yet     */
};

lg_conn *lg_conn_new(sqlite3 *db);
void lg_conn_free(void *c);  /* void* so it can be a SQLite destructor */

/* Registers path under name (REPLACE semantics when replace != 0). Returns 0 or -1 + err. */
int lg_conn_add_model(lg_conn *c, const char *name, const char *path, int replace, lg_err *err);
/* Unregisters the entry with this rowid.  Returns 0, or -1 when there is none. */
int lg_conn_remove_model(lg_conn *c, sqlite3_int64 id);
/* Resolves a model: name NULL -> "default" entry, else $LEGRAD_MODEL, else samples/model next to
** the .so.  Unknown names list the registered ones.  The message is prefixed with "fn(): ". */
lg_model *lg_conn_model(lg_conn *c, const char *name, const char *fn, lg_err *err);
/* The workspace slot for (m, size) whose forward keeps at least keep (lg_method_keep), reused
** across rows; owned by c. */
lg_ws_slot *lg_conn_workspace(lg_conn *c, const lg_model *m, int size, lg_keep keep,
                              lg_err *err);

/* ---- args.c: argument parsing --------------------------------------------------------------- */

enum {
  LG_OPT_MODEL = 1, LG_OPT_SIZE = 2, LG_OPT_RESIZE = 4, LG_OPT_RELU = 8, LG_OPT_CACHE = 16,
  LG_OPT_ON_ERROR = 32
};

enum { LG_CACHE_OFF = 0, LG_CACHE_ON = 1, LG_CACHE_STRICT = 2 };

typedef struct lg_opts {
  char model[256];     /* "" = default model                                             */
  int size;            /* 0 = the model's native input size                              */
  int resize;          /* -1 = the model's default, else lg_resize                       */
  int relu;            /* 1 = clamp gradients at 0 (official)                            */
  int cache;           /* 0 = bypass, LG_CACHE_ON = consult/fill legrad_cache, LG_CACHE_STRICT
                          = as LG_CACHE_ON, and a map that cannot be stored is an error      */
  int on_error_null;   /* 1 = {"on_error": "null"}: a row whose data fails gives NULL     */
} lg_opts;

/* Parses a JSON options object (NULL value -> defaults).  allowed: LG_OPT_* mask.  Errors read
** "fn(): argument N (options): ...". */
int lg_opts_parse(sqlite3_value *v, unsigned allowed, const char *fn, int argno, lg_opts *o,
                  lg_err *err);
/* How a message tells the user to pass a file's bytes, in any host (shell, Python, ...). */
#define LG_FILE_BYTES_HINT \
  "pass the file's bytes (shell: readfile('path'); Python: open(path, 'rb').read())"
/* The image argument must be a BLOB; sets *data and *n (data not copied).  Returns 1 when NULL,
** -1 for another type, LG_ROW_FAILED for an empty BLOB (a bad row, see failures.c). */
int lg_arg_image(sqlite3_value *v, const char *fn, int argno, const void **data, int *n,
                 lg_err *err);
/* The text argument must be TEXT (numbers are accepted as their text).  Returns 1 when NULL. */
int lg_arg_text(sqlite3_value *v, const char *fn, int argno, const char **text, lg_err *err);
/* layers: NULL -> -2; INTEGER -> official layer_index; TEXT -> set/range string. */
int lg_arg_layers(sqlite3_value *v, const char *fn, int argno, int n_layers, lg_layer_set *ls,
                  lg_err *err);
/* What legrad_explain()'s options object holds beyond lg_opts, before the model is known: the
** method's own options (raw values, checked against the model by lg_method_opts_resolve) and
** "layers" (methods with layers only). */
typedef struct lg_method_opts {
  const lg_explain_method *me;
  double raw[LG_METHOD_MAX_OPTS];  /* value of option k when bit k of given is set            */
  unsigned given;
  int layers_given;                /* "layers" was present: an integer or a string             */
  int layers_is_text;
  sqlite3_int64 layers_index;
  char layers_text[256];
} lg_method_opts;
/* Parses legrad_explain()'s options (NULL -> defaults): the keys of allowed (LG_OPT_*), "layers"
** when me has layers, and me's options.  A key of another method, or "layers" for a method without
** layers, is an error naming the method; other unknown keys list the keys me accepts. */
int lg_explain_opts_parse(sqlite3_value *v, unsigned allowed, const lg_explain_method *me,
                          const char *fn, int argno, lg_opts *o, lg_method_opts *mo, lg_err *err);
/* With the model known: checks the method's option values (opt [n_opts], defaults where absent)
** and the layer set (the method's default layers where absent; ls->n = 0 without layers). */
int lg_method_opts_resolve(const lg_method_opts *mo, const lg_model *m, const char *fn, int argno,
                           double *opt, lg_layer_set *ls, lg_err *err);
/* The method named by argument argno (TEXT); unknown names list the table's. */
int lg_arg_method(sqlite3_value *v, const char *fn, int argno, const lg_explain_method **me,
                  lg_err *err);
/* Canonical text of a layer set ("10,11"), used as the cache key. */
void lg_layers_key(const lg_layer_set *ls, char *out, size_t cap);
/* Effective size / resize mode for options on model m; checks size against the patch grid. */
int lg_opts_geometry(const lg_opts *o, const lg_model *m, const char *fn, int argno, int *size,
                     lg_resize *mode, lg_err *err);

/* ---- compute.c: the engine calls ------------------------------------------------------------ */

/* t_emb [E] = normalize(text tower(tokenize(text))).  Errors are prefixed with "fn(): "; a prompt
** the tokenizer refuses returns LG_ROW_FAILED. */
int lg_text_embedding(const lg_model *m, const char *text, const char *fn, int argno, float *t_emb,
                      lg_err *err);
/* As lg_text_embedding, for the SQL argument index arg (0-based) of a scalar function: a constant
** prompt is embedded once per statement (kept with sqlite3_set_auxdata, keyed on the model's
** fingerprint). */
int lg_text_embedding_cached(sqlite3_context *ctx, int arg, const lg_model *m, const char *text,
                             const char *fn, int argno, float *out, lg_err *err);
/* Decodes + preprocesses the image and runs the vision tower in the connection's workspace for
** (m, size) keeping at least keep (lg_method_keep).  img_emb [E] (L2-normalised) may be NULL;
** *ws_out / *frame receive the workspace and the frame.  Decoding errors read "fn(): argument N
** (image) could not be decoded: ..."; they and preprocessing errors return LG_ROW_FAILED.
** When the workspace already holds the forward of the same image bytes in the same mode (e.g. the
** previous row explained or embedded the same image with another prompt), nothing is recomputed:
** the slot keeps that forward's embedding too. */
int lg_image_forward(lg_conn *c, const lg_model *m, const void *img, int n, int size,
                     lg_resize mode, lg_keep keep, const char *fn, int argno, float *img_emb,
                     lg_vit_ws **ws_out, lg_frame *frame, lg_err *err);
/* A parsed request for a method's maps: legrad() / legrad_layers() (image, text [, layers [,
** options]]) and legrad_explain() (image, text, method [, options]). */
typedef struct lg_legrad_req {
  const char *fn;            /* "legrad" | "legrad_layers" | "legrad_explain", for messages */
  const lg_explain_method *method;
  double opt[LG_METHOD_MAX_OPTS]; /* the method's option values, in table order              */
  char options_key[256];     /* lg_method_options_key of opt: cache key and map record      */
  lg_model *m;
  const void *img;           /* encoded image bytes (not copied: valid during the call)   */
  int n_img;
  const char *text;
  lg_layer_set ls;           /* chosen blocks (ls.n = 0 for a method without layers)       */
  int size;                  /* effective image side                                      */
  lg_resize mode;
  lg_opts opts;              /* model, size, resize, cache (relu: legrad()'s spelling)     */
} lg_legrad_req;

/* Encodes one grid [G, G] of r's method as a map blob (sqlite3_malloc'ed, so it can be handed to
** sqlite3_result_blob with sqlite3_free).  ls: the layers the grid covers. */
int lg_encode_map(const lg_legrad_req *r, const lg_frame *fr, const lg_layer_set *ls,
                  const float *grid, int g, float score, int single_layer, unsigned char **blob,
                  int *n, lg_err *err);

/* Parses args[0..3] (image, text, layers, options; a NULL pointer = argument absent) of legrad()
** and legrad_layers(): the LeGrad row with relu from the options.  Returns 0, 1 when image or
** text is SQL NULL (the result is NULL / no rows), -1 with err, or LG_ROW_FAILED with err for an
** empty image BLOB (r->opts is parsed then, r->m is NULL). */
int lg_legrad_parse(lg_conn *c, const char *fn, sqlite3_value *const args[4], lg_legrad_req *r,
                    lg_err *err);
/* Parses legrad_explain()'s args[0..3] (image, text, method, options; NULL = absent).  Same
** returns as lg_legrad_parse. */
int lg_explain_parse(lg_conn *c, const char *fn, sqlite3_value *const args[4], lg_legrad_req *r,
                     lg_err *err);
/* Forward + r's method with text embedding t_emb [E] (NULL for a method without LG_NEED_TEXT).
** *grid_maps [*n_maps, G, G] is malloc'ed; scores [*n_maps] (room for LG_MAX_LAYERS); *g = G;
** *fr = the preprocessing frame.  Returns 0, -1 or LG_ROW_FAILED. */
int lg_explain_compute(lg_conn *c, const lg_legrad_req *r, const float *t_emb, float **grid_maps,
                       float *scores, int *n_maps, int *g, lg_frame *fr, lg_err *err);
/* The map of r as a SQL result: cache lookup, text embedding (kept as auxdata on SQL argument
** text_arg), forward, the method, its post-processing (LG_POST_SUM), encoding, cache write; ends
** the row with lg_row_end (a row that fails on its data under {"on_error": "null"} gives NULL).
** parse_rc: what lg_legrad_parse / lg_explain_parse returned other than 1 (0, or -1 /
** LG_ROW_FAILED with the message in *parse_err), so that a failed parse ends its row the same way. */
void lg_explain_result(sqlite3_context *ctx, lg_conn *c, const lg_legrad_req *r, int parse_rc,
                       const lg_err *parse_err, int text_arg);

/* ---- cache.c: the persistent legrad_cache table ---------------------------------------------- */

typedef struct lg_cache_key {
  const char *fn;        /* "legrad" | "legrad_layers", for messages                       */
  const char *model;     /* model fingerprint (hex)                                       */
  char image[33];        /* content hash of the encoded image bytes (hex)                  */
  const char *prompt;
  char layers[1024];     /* canonical layer list                                           */
  int size;
  const char *resize;    /* "crop" | "squash"                                             */
  const char *options;   /* canonical remaining options, e.g. "relu=1"                     */
  const char *method;    /* the method's name (summed map) | "legrad_layer" (one layer)   */
  int blob_id;           /* the method's id in map blobs                                  */
  const char *blob_options; /* the options text its blobs record ("" for LeGrad: flags)   */
  /* What a stored blob must record to answer this key (checked before a hit is returned). */
  lg_layer_set ls;       /* the layers of the map                                          */
  int grid, patch;       /* G = size / patch, the model's patch                            */
  lg_resize mode;
  int relu;
} lg_cache_key;

/* 128-bit content hash (engine/core/hash128.h) of (length, bytes) as 32 hex digits + NUL (cache.c). */
void lg_content_hash(const void *data, size_t n, char out[33]);
/* Looks key up among the maps waiting to be written, then in the table.  Returns 1 on a hit with a
** sqlite3_malloc'ed copy of the blob and (score != NULL) the map's score, 0 on a miss (absent, a
** blob that does not decode or records another request, a locked table), or -1 with err when
** legrad_cache exists but was not created by this extension.  Counts hits/misses. */
int lg_cache_get(lg_conn *c, const lg_cache_key *k, unsigned char **blob, int *n, float *score,
                 lg_err *err);
/* Hands one map to the cache: queued for the flusher (LG_CACHE_ON), or written before returning
** (LG_CACHE_STRICT).  Returns 0; -1 with err only in strict mode when it cannot be stored. */
int lg_cache_put(lg_conn *c, const lg_cache_key *k, const unsigned char *blob, int n, int mode,
                 lg_err *err);
/* Writes the queued maps (bounded wait) and closes the cache's connections (from lg_conn_free). */
void lg_cache_close(lg_conn *c);

/* Fills the key of request r for method (r's method name or "legrad_layer"); for one layer of
** legrad_layers the caller then calls lg_cache_key_layer. */
void lg_cache_key_init(lg_cache_key *k, const lg_legrad_req *r, const char *method);
/* Narrows k to the single layer idx (legrad_layers' per-layer rows). */
void lg_cache_key_layer(lg_cache_key *k, int idx);
/* legrad_cache_stats() JSON and legrad_cache_clear() row count (cache.c). */
char *lg_cache_stats_json(lg_conn *c);
int lg_cache_clear(lg_conn *c, sqlite3_int64 *n_deleted, lg_err *err);

/* ---- failures.c: one bad row does not sink a batch ------------------------------------------- */

/* Return code of the compute helpers when the failure lies in the row's data (an image that does
** not decode or is too large, an empty image BLOB, a prompt the tokenizer refuses), as opposed to
** the query (argument types, options, layers, model) or the machine (out of memory). */
#define LG_ROW_FAILED (-2)

/* The inputs of one call of a computing function, to identify its row in failure reports. */
typedef struct lg_row {
  const char *fn;            /* static function name                                      */
  const void *img;           /* encoded image bytes, NULL when there is none              */
  int n_img;
  const char *text;          /* prompt, NULL when there is none                           */
  int on_error_null;         /* the call's {"on_error": "null"}                           */
} lg_row;

/* Ends one call of a computing function (rc 0 = success, else err holds its message): counts it
** for legrad_progress(), and when rc is LG_ROW_FAILED appends the row's identification to err
** ("... [image: 1234 bytes, png 640x480, hash 0123...]"), records the failure for
** legrad_failures and returns 1 if the call asked for on_error "null" (the caller returns NULL, or
** no rows).  Returns 0 otherwise (on failure the caller raises err). */
int lg_row_end(lg_conn *c, const lg_row *row, int rc, lg_err *err);
/* Frees the failure ring (lg_conn_free). */
void lg_failures_free(lg_conn *c);
/* legrad_failures table and legrad_failures_clear() (failures.c); legrad_progress() (progress.c). */
int lg_register_failures(sqlite3 *db, lg_conn *c);
int lg_register_progress(sqlite3 *db, lg_conn *c);
/* Counts one call for legrad_progress() and prints a line when it is due (progress.c). */
void lg_progress_count(lg_conn *c, int failed);
/* Reads $LEGRAD_PROGRESS ("seconds[,total]") into c->progress (progress.c, from lg_conn_new). */
void lg_progress_from_env(lg_conn *c);

/* ---- threads.c: BLAS threads per computation ------------------------------------------------- */

/* Forward cost, in GFLOP, below which one BLAS thread is used (docs/benchmarks.md). */
#define LG_THREADS_SMALL_GFLOP 2
/* GFLOP (multiply-add = 2) of one image forward of m at input side size. */
double lg_forward_gflop(const lg_model *m, int size);
/* Sets the BLAS thread count for a computation of m at size (the policy is in threads.c) and
** counts it as in progress until lg_threads_end(). */
void lg_threads_begin(lg_conn *c, const lg_model *m, int size);
void lg_threads_end(void);
/* The "threads:" line of legrad_debug() for connection c (NULL = none), sqlite3_malloc'ed. */
char *lg_threads_describe(const lg_conn *c);

/* ---- small helpers ---------------------------------------------------------------------------- */

/* ---- interrupt.c: image decoding limits for SQL functions -------------------------------- */

/* What an image decode polls to notice sqlite3_interrupt(db). */
typedef struct lg_interrupt {
  sqlite3 *db;
  int (*is_interrupted)(sqlite3 *);  /* the running SQLite's sqlite3_is_interrupted, or NULL */
} lg_interrupt;
/* Fills lim with the default decode limits and, when the running SQLite has
** sqlite3_is_interrupted (3.41+), a should_stop reporting it through *intr (which must outlive the
** decode).  Returns 1 when decoding can be interrupted, 0 when not. */
int lg_image_limits_for_db(sqlite3 *db, lg_interrupt *intr, lg_image_limits *lim);

/* Removes a leading engine function name ("lg_image_decode: ") from err->msg, so the message can be
** prefixed with the SQL function and argument instead. */
void lg_err_strip_engine_name(lg_err *err);
/* sqlite3_result_error with err->msg (the message already names the function). */
void lg_result_err(sqlite3_context *ctx, const lg_err *err);
/* Name of a SQLite fundamental type, for messages ("INTEGER", "TEXT", ...). */
const char *lg_type_name(int type);

#endif
