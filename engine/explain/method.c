/*
** The method table (method.h) and the checks shared by every method: option parsing against the
** descriptor, what the forward must record, and the validation done before a method's run().
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "method.h"

/* One row per method, in the order legrad_methods lists them. */
static const lg_explain_method *const methods[] = {
    &lg_method_legrad,
    &lg_method_raw_attention,
    &lg_method_rollout,
};

int lg_method_count(void) { return (int)(sizeof methods / sizeof methods[0]); }

const lg_explain_method *lg_method_at(int i) {
  return i >= 0 && i < lg_method_count() ? methods[i] : NULL;
}

const lg_explain_method *lg_method_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < lg_method_count(); i++)
    if (strcmp(methods[i]->name, name) == 0) return methods[i];
  return NULL;
}

const lg_explain_method *lg_method_by_blob_id(int id) {
  for (int i = 0; i < lg_method_count(); i++)
    if (methods[i]->blob_id == id) return methods[i];
  return NULL;
}

void lg_method_names(char *out, size_t cap) {
  size_t len = 0;
  if (cap) out[0] = 0;
  for (int i = 0; i < lg_method_count() && len < cap; i++)
    len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", methods[i]->name);
}

lg_keep lg_method_keep(const lg_explain_method *me) {
  if (me->needs & LG_NEED_ATTN_ALL) return LG_KEEP_ATTN_ALL;
  if (me->needs & LG_NEED_ATTN_LAST) return LG_KEEP_ATTN_LAST;
  return LG_KEEP_DEFAULT;
}

int lg_method_option(const lg_explain_method *me, const char *name) {
  for (int k = 0; k < me->n_opts; k++)
    if (strcmp(me->opts[k].name, name) == 0) return k;
  return -1;
}

void lg_method_defaults(const lg_explain_method *me, double *opt) {
  for (int k = 0; k < me->n_opts; k++) opt[k] = me->opts[k].def;
}

int lg_method_set_option(const lg_explain_method *me, int k, double value, int n_layers,
                         double *opt, lg_err *err) {
  if (k < 0 || k >= me->n_opts) return lg_errf(err, "%s has no option %d", me->name, k);
  const lg_method_opt *o = &me->opts[k];
  if (o->type == LG_MOPT_BOOL) {
    if (value != 0 && value != 1)
      return lg_errf(err, "\"%s\" must be true or false, found %g", o->name, value);
  } else {
    double hi = o->max_from_layers ? (double)n_layers - 1 : o->max;
    if (!(value == floor(value) && value >= o->min && value <= hi))
      return lg_errf(err, "\"%s\" must be an integer from %g to %g, found %g", o->name, o->min, hi,
                     value);
  }
  opt[k] = value;
  return 0;
}

void lg_method_options_key(const lg_explain_method *me, const double *opt, char *out, size_t cap) {
  size_t len = 0;
  if (cap) out[0] = 0;
  for (int k = 0; k < me->n_opts && len < cap; k++)
    len += (size_t)snprintf(out + len, cap - len, "%s%s=%.17g", k ? "," : "", me->opts[k].name,
                            opt ? opt[k] : me->opts[k].def);
}

int lg_method_n_maps(const lg_explain_method *me, const lg_explain_in *in) {
  return me->n_maps(in);
}

int lg_explain_run(const lg_explain_method *me, const lg_explain_in *in, float *grids,
                   float *scores, lg_err *err) {
  if (!me || !in || !in->m || !in->ws || !grids || !scores)
    return lg_errf(err, "lg_explain_run: NULL argument");
  if (in->n_prompts < 1)
    return lg_errf(err, "lg_explain_run(%s): n_prompts must be >= 1, found %d", me->name,
                   in->n_prompts);
  if ((me->needs & LG_NEED_TEXT) && !in->text_emb)
    return lg_errf(err, "lg_explain_run(%s): the method needs text embeddings", me->name);
  lg_keep need = lg_method_keep(me);
  if ((need == LG_KEEP_ATTN_ALL && in->ws->keep != LG_KEEP_ATTN_ALL) ||
      (need == LG_KEEP_ATTN_LAST && in->ws->keep == LG_KEEP_DEFAULT))
    return lg_errf(err, "lg_explain_run(%s): the workspace does not keep the attention "
                        "probabilities the method reads (create it with lg_method_keep())",
                   me->name);
  if (me->has_layers && (!in->ls || in->ls->n < 1))
    return lg_errf(err, "lg_explain_run(%s): the method needs a non-empty layer set", me->name);
  int L = in->m->vision.cfg.layers;
  double tmp[LG_METHOD_MAX_OPTS];
  for (int k = 0; k < me->n_opts; k++)  /* the defaults too: they may not fit a small model */
    if (lg_method_set_option(me, k, in->opt ? in->opt[k] : me->opts[k].def, L, tmp, err))
      return lg_err_prefix(err, "lg_explain_run(%s)", me->name);
  return me->run(in, grids, scores, err);
}
