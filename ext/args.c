/*
** The one parser for the arguments of legrad(), legrad_explain(), legrad_layers() and the clip_*
** functions, and the single home of their error messages.  Every message names the function, the
** argument (number and name), what was expected and what was found, e.g.
**
**   legrad(): argument 1 (image) must be a BLOB of encoded image bytes, found TEXT; pass the
**   file's bytes (shell: readfile('path'); Python: open(path, 'rb').read())
**   legrad(): argument 4 (options): unknown key "sise" (expected one of: model, size, resize, relu,
**   cache, on_error)
**
** Options are a JSON object parsed with cJSON; unknown keys are errors so typos never pass
** silently.
*/
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"

const char *lg_type_name(int type) {
  switch (type) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    default: return "NULL";
  }
}

void lg_err_strip_engine_name(lg_err *err) {
  const char *p = err->msg;
  if (strncmp(p, "lg_", 3) != 0) return;
  p += 3;
  while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_') p++;
  if (p[0] == ':' && p[1] == ' ') memmove(err->msg, p + 2, strlen(p + 2) + 1);
}

void lg_result_err(sqlite3_context *ctx, const lg_err *err) {
  sqlite3_result_error(ctx, err->msg, -1);
}

/* The option names in mask order, for "expected one of" lists. */
static const char *const opt_names[] = {"model", "size", "resize", "relu", "cache", "on_error"};

/* Writes the names allowed by mask as "model, size, ..." into out. */
static void opts_expected(unsigned allowed, char *out, size_t cap) {
  size_t len = 0;
  out[0] = 0;
  for (unsigned i = 0; i < sizeof opt_names / sizeof opt_names[0]; i++) {
    if (!(allowed & (1u << i))) continue;
    len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", opt_names[i]);
    if (len >= cap) break;
  }
}

/* JSON value as a boolean: true/false or the integers 0/1.  Returns -1 when it is neither. */
static int json_bool(const cJSON *it) {
  if (cJSON_IsBool(it)) return cJSON_IsTrue(it) ? 1 : 0;
  if (cJSON_IsNumber(it) && (it->valuedouble == 0 || it->valuedouble == 1))
    return it->valuedouble == 1;
  return -1;
}

/* 1 when name is "layers" or an option of some method other than me (for "does not apply"). */
static int other_method_key(const lg_explain_method *me, const char *name) {
  if (strcmp(name, "layers") == 0) return 1;
  for (int i = 0; i < lg_method_count(); i++) {
    const lg_explain_method *x = lg_method_at(i);
    if (x != me && lg_method_option(x, name) >= 0) return 1;
  }
  return 0;
}

/* One method key of legrad_explain()'s options (me's options or "layers") into mo.  Returns 0,
** 1 when k is not a key of me, or -1 with err. */
static int method_key(const cJSON *it, const char *k, const char *fn, int argno,
                      lg_method_opts *mo, lg_err *err) {
  const lg_explain_method *me = mo->me;
  if (me->has_layers && strcmp(k, "layers") == 0) {
    double d = cJSON_IsNumber(it) ? it->valuedouble : 0.5;
    if (cJSON_IsString(it) && strlen(it->valuestring) < sizeof mo->layers_text) {
      mo->layers_is_text = 1;
      memcpy(mo->layers_text, it->valuestring, strlen(it->valuestring) + 1);
    } else if (d == floor(d) && fabs(d) <= 1e6) {
      mo->layers_index = (sqlite3_int64)d;
    } else {
      return lg_errf(err, "%s(): argument %d (options): \"layers\" of method '%s' must be an "
                          "integer layer_index (e.g. -2) or a string like \"all\", \"0-11\" or "
                          "\"9,10,11\"", fn, argno, me->name);
    }
    mo->layers_given = 1;
    return 0;
  }
  int o = lg_method_option(me, k);
  if (o < 0) return 1;
  int b = json_bool(it);
  if (me->opts[o].type == LG_MOPT_BOOL ? b < 0 : !cJSON_IsNumber(it))
    return lg_errf(err, "%s(): argument %d (options): \"%s\" of method '%s' must be %s", fn,
                   argno, k, me->name,
                   me->opts[o].type == LG_MOPT_BOOL ? "true or false" : "an integer");
  mo->raw[o] = me->opts[o].type == LG_MOPT_BOOL ? b : it->valuedouble;
  mo->given |= 1u << o;
  return 0;
}

/* The keys legrad_explain() accepts for mo->me after the common ones, ", layers, relu". */
static void method_expected(const lg_explain_method *me, char *out, size_t cap) {
  size_t len = strlen(out);
  if (me->has_layers && len < cap)
    len += (size_t)snprintf(out + len, cap - len, "%slayers", len ? ", " : "");
  for (int k = 0; k < me->n_opts && len < cap; k++)
    len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", me->opts[k].name);
}

/* lg_opts_parse, and for legrad_explain() (mo != NULL) the method's own keys. */
static int opts_parse(sqlite3_value *v, unsigned allowed, lg_method_opts *mo, const char *fn,
                      int argno, lg_opts *o, lg_err *err) {
  memset(o, 0, sizeof *o);
  o->resize = -1;
  o->relu = 1;
  o->cache = LG_CACHE_ON;
  if (!v || sqlite3_value_type(v) == SQLITE_NULL) return 0;
  if (sqlite3_value_type(v) != SQLITE_TEXT)
    return lg_errf(err, "%s(): argument %d (options) must be a JSON object as TEXT, found %s", fn,
                   argno, lg_type_name(sqlite3_value_type(v)));
  const char *text = (const char *)sqlite3_value_text(v);
  int rc = -1;
  cJSON *root = cJSON_ParseWithLength(text, (size_t)sqlite3_value_bytes(v));
  char expected[512];
  opts_expected(allowed, expected, sizeof expected);
  if (mo) method_expected(mo->me, expected, sizeof expected);
  if (!root || !cJSON_IsObject(root)) {
    lg_errf(err, "%s(): argument %d (options) must be a JSON object like '{\"size\": 448}', "
                 "found '%.80s'", fn, argno, text);
    goto done;
  }
  for (const cJSON *it = root->child; it; it = it->next) {
    const char *k = it->string ? it->string : "";
    unsigned bit = 0;
    for (unsigned i = 0; i < sizeof opt_names / sizeof opt_names[0]; i++)
      if (strcmp(k, opt_names[i]) == 0) bit = 1u << i;
    if (!(bit & allowed) && mo) {
      int mk = method_key(it, k, fn, argno, mo, err);
      if (mk < 0) goto done;
      if (mk == 0) continue;
      if (bit || other_method_key(mo->me, k)) {
        lg_errf(err, "%s(): argument %d (options): \"%.64s\" does not apply to method '%s' "
                     "(its options: %s)", fn, argno, k, mo->me->name, expected);
        goto done;
      }
      lg_errf(err, "%s(): argument %d (options): unknown key \"%.64s\" for method '%s' (expected "
                   "one of: %s)", fn, argno, k, mo->me->name, expected);
      goto done;
    }
    if (!(bit & allowed)) {
      lg_errf(err, "%s(): argument %d (options): unknown key \"%.64s\" (expected one of: %s)", fn,
              argno, k, expected);
      goto done;
    }
    if (bit == LG_OPT_MODEL) {
      if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) >= sizeof o->model) {
        lg_errf(err, "%s(): argument %d (options): \"model\" must be a registered model name "
                     "(a non-empty string), found %s", fn, argno,
                cJSON_IsString(it) ? "an empty or over-long string" : "a non-string");
        goto done;
      }
      memcpy(o->model, it->valuestring, strlen(it->valuestring) + 1);
    } else if (bit == LG_OPT_SIZE) {
      double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
      if (!(d >= 1 && d <= 8192 && d == floor(d))) {
        lg_errf(err, "%s(): argument %d (options): \"size\" must be a positive integer image side "
                     "in pixels (e.g. 224 or 448), found %s", fn, argno,
                cJSON_IsNumber(it) ? "an out-of-range or fractional number" : "a non-number");
        goto done;
      }
      o->size = (int)d;
    } else if (bit == LG_OPT_RESIZE) {
      if (cJSON_IsString(it) && strcmp(it->valuestring, "crop") == 0) o->resize = LG_RESIZE_CROP;
      else if (cJSON_IsString(it) && strcmp(it->valuestring, "squash") == 0)
        o->resize = LG_RESIZE_SQUASH;
      else {
        lg_errf(err, "%s(): argument %d (options): \"resize\" must be \"crop\" or \"squash\", "
                     "found %.40s%s%s", fn, argno, cJSON_IsString(it) ? "\"" : "",
                cJSON_IsString(it) ? it->valuestring : "a non-string",
                cJSON_IsString(it) ? "\"" : "");
        goto done;
      }
    } else if (bit == LG_OPT_CACHE && cJSON_IsString(it) && strcmp(it->valuestring, "strict") == 0) {
      o->cache = LG_CACHE_STRICT;
    } else if (bit == LG_OPT_ON_ERROR) {
      if (cJSON_IsString(it) && strcmp(it->valuestring, "error") == 0) o->on_error_null = 0;
      else if (cJSON_IsString(it) && strcmp(it->valuestring, "null") == 0) o->on_error_null = 1;
      else {
        lg_errf(err, "%s(): argument %d (options): \"on_error\" must be \"error\" (the default: "
                     "a row that fails stops the statement) or \"null\" (it gives NULL and is "
                     "listed in legrad_failures), found %.40s%s%s", fn, argno,
                cJSON_IsString(it) ? "\"" : "", cJSON_IsString(it) ? it->valuestring : "a non-string",
                cJSON_IsString(it) ? "\"" : "");
        goto done;
      }
    } else {
      int b = json_bool(it);
      if (b < 0 && bit == LG_OPT_CACHE) {
        lg_errf(err, "%s(): argument %d (options): \"cache\" must be true, false or \"strict\"", fn,
                argno);
        goto done;
      }
      if (b < 0) {
        lg_errf(err, "%s(): argument %d (options): \"%s\" must be true or false", fn, argno, k);
        goto done;
      }
      if (bit == LG_OPT_RELU) o->relu = b;
      else o->cache = b ? LG_CACHE_ON : LG_CACHE_OFF;
    }
  }
  rc = 0;
done:
  cJSON_Delete(root);
  return rc;
}

int lg_opts_parse(sqlite3_value *v, unsigned allowed, const char *fn, int argno, lg_opts *o,
                  lg_err *err) {
  return opts_parse(v, allowed, NULL, fn, argno, o, err);
}

int lg_explain_opts_parse(sqlite3_value *v, unsigned allowed, const lg_explain_method *me,
                          const char *fn, int argno, lg_opts *o, lg_method_opts *mo, lg_err *err) {
  memset(mo, 0, sizeof *mo);
  mo->me = me;
  return opts_parse(v, allowed, mo, fn, argno, o, err);
}

int lg_method_opts_resolve(const lg_method_opts *mo, const lg_model *m, const char *fn, int argno,
                           double *opt, lg_layer_set *ls, lg_err *err) {
  const lg_explain_method *me = mo->me;
  int L = m->vision.cfg.layers;
  lg_method_defaults(me, opt);
  for (int k = 0; k < me->n_opts; k++) {  /* defaults too: they may not fit a small model */
    double v = (mo->given & (1u << k)) ? mo->raw[k] : me->opts[k].def;
    if (lg_method_set_option(me, k, v, L, opt, err))
      return lg_err_prefix(err, "%s(): argument %d (options) of method '%s'", fn, argno, me->name);
  }
  memset(ls, 0, sizeof *ls);
  if (!me->has_layers) return 0;
  int rc;
  if (mo->layers_given && mo->layers_is_text) {
    rc = lg_layers_parse(mo->layers_text, L, ls, err);
  } else {
    sqlite3_int64 idx = mo->layers_given ? mo->layers_index : me->default_layers;
    if (idx < -(sqlite3_int64)L || idx >= L)
      return lg_errf(err, "%s(): argument %d (options): \"layers\": layer_index %lld is out of "
                          "range for a model with %d layers (expected %d..%d)", fn, argno,
                     (long long)idx, L, -L, L - 1);
    rc = lg_layers_from_index((int)idx, L, ls, err);
  }
  if (rc) {
    if (strncmp(err->msg, "layers: ", 8) == 0) memmove(err->msg, err->msg + 8, strlen(err->msg + 8) + 1);
    return lg_err_prefix(err, "%s(): argument %d (options): \"layers\"", fn, argno);
  }
  return 0;
}

int lg_arg_method(sqlite3_value *v, const char *fn, int argno, const lg_explain_method **me,
                  lg_err *err) {
  char names[512];
  lg_method_names(names, sizeof names);
  int t = v ? sqlite3_value_type(v) : SQLITE_NULL;
  if (t != SQLITE_TEXT)
    return lg_errf(err, "%s(): argument %d (method) must be TEXT naming a method (one of: %s), "
                        "found %s", fn, argno, names, lg_type_name(t));
  const char *name = (const char *)sqlite3_value_text(v);
  *me = lg_method_find(name);
  if (!*me)
    return lg_errf(err, "%s(): argument %d (method): unknown method '%.64s' (expected one of: %s; "
                        "SELECT name FROM legrad_methods lists them)", fn, argno, name, names);
  return 0;
}

int lg_arg_image(sqlite3_value *v, const char *fn, int argno, const void **data, int *n,
                 lg_err *err) {
  int t = sqlite3_value_type(v);
  if (t == SQLITE_NULL) return 1;
  if (t == SQLITE_TEXT)
    return lg_errf(err, "%s(): argument %d (image) must be a BLOB of encoded image bytes, found "
                        "TEXT; " LG_FILE_BYTES_HINT, fn, argno);
  if (t != SQLITE_BLOB)
    return lg_errf(err, "%s(): argument %d (image) must be a BLOB of encoded image bytes, found %s",
                   fn, argno, lg_type_name(t));
  *data = sqlite3_value_blob(v);
  *n = sqlite3_value_bytes(v);
  if (*n == 0) {  /* a value of the right type: a bad row (LG_ROW_FAILED), not a bad query */
    *data = "";   /* an image of 0 bytes, not "no image" (lg_row) */
    lg_errf(err, "%s(): argument %d (image) must be a BLOB of encoded image bytes, found an "
                 "empty BLOB", fn, argno);
    return LG_ROW_FAILED;
  }
  return 0;
}

int lg_arg_text(sqlite3_value *v, const char *fn, int argno, const char **text, lg_err *err) {
  int t = sqlite3_value_type(v);
  if (t == SQLITE_NULL) return 1;
  if (t == SQLITE_BLOB)
    return lg_errf(err, "%s(): argument %d (text) must be TEXT, found BLOB", fn, argno);
  *text = (const char *)sqlite3_value_text(v);
  if (!*text) return lg_errf(err, "%s(): out of memory", fn);
  return 0;
}

int lg_arg_layers(sqlite3_value *v, const char *fn, int argno, int n_layers, lg_layer_set *ls,
                  lg_err *err) {
  int t = v ? sqlite3_value_type(v) : SQLITE_NULL;
  int rc;
  if (t == SQLITE_NULL || t == SQLITE_INTEGER) {
    sqlite3_int64 idx = t == SQLITE_NULL ? -2 : sqlite3_value_int64(v);
    if (idx < -(sqlite3_int64)n_layers || idx >= n_layers)
      return lg_errf(err, "%s(): argument %d (layers): layer_index %lld is out of range for a "
                          "model with %d layers (expected %d..%d)", fn, argno, (long long)idx,
                     n_layers, -n_layers, n_layers - 1);
    rc = lg_layers_from_index((int)idx, n_layers, ls, err);
  } else if (t == SQLITE_TEXT) {
    rc = lg_layers_parse((const char *)sqlite3_value_text(v), n_layers, ls, err);
  } else {
    return lg_errf(err, "%s(): argument %d (layers) must be an INTEGER layer_index (e.g. -2) or "
                        "TEXT like 'all', '0-11' or '9,10,11', found %s", fn, argno,
                   lg_type_name(t));
  }
  if (rc) {
    if (strncmp(err->msg, "layers: ", 8) == 0) memmove(err->msg, err->msg + 8, strlen(err->msg + 8) + 1);
    return lg_err_prefix(err, "%s(): argument %d (layers)", fn, argno);
  }
  return 0;
}

void lg_layers_key(const lg_layer_set *ls, char *out, size_t cap) {
  size_t len = 0;
  out[0] = 0;
  for (int k = 0; k < ls->n && len < cap; k++)
    len += (size_t)snprintf(out + len, cap - len, "%s%d", k ? "," : "", ls->idx[k]);
}

int lg_opts_geometry(const lg_opts *o, const lg_model *m, const char *fn, int argno, int *size,
                     lg_resize *mode, lg_err *err) {
  int patch = m->vision.patch;
  int s = o->size ? o->size : m->pre.size;
  if (patch <= 0 || s % patch != 0 || s / patch > 64)
    return lg_errf(err, "%s(): argument %d (options): \"size\" must be a multiple of the model's "
                        "patch size %d, at most %d, found %d", fn, argno, patch, patch * 64, s);
  *size = s;
  *mode = o->resize < 0 ? m->pre.resize : (lg_resize)o->resize;
  return 0;
}
