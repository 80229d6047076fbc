/*
** Layer-set selection for LeGrad (engine/explain/legrad.h, docs/legrad.md "Choosing layers").
**
**   lg_layers_from_index(-2, 12, &ls, &err);      // official layer_index: blocks 10, 11
**   lg_layers_parse("0-3, 10, -1", 12, &ls, &err); // explicit set: blocks 0,1,2,3,10,11
**
** Grammar accepted by lg_layers_parse (whitespace allowed around every token, "all" in any case):
**
**   spec  := "all" | INT | item ("," item)*          a lone INT is the official layer_index
**   item  := INT | UINT "-" UINT                        INT < 0 counts from the end (-1 = last)
**
** A lone integer keeps the Python wrapper's meaning (LeGradCLIP(layer_index=k)): 0 = every block,
** k > 0 = blocks k..L-1, k < 0 = the last |k| blocks.  Anything with a comma or a range is an explicit
** set of block indices (so "9-9" or "9,9" select block 9 alone).  The result is sorted and
** de-duplicated.  Every error names the offending text and the valid range.
*/
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "legrad.h"

/* Fills out with the blocks lo..hi (inclusive, already validated). */
static void layers_fill_range(lg_layer_set *out, int lo, int hi) {
  out->n = 0;
  for (int l = lo; l <= hi; l++) out->idx[out->n++] = l;
}

/* Checks the model depth shared by both entry points. */
static int layers_check_depth(const char *fn, int n_layers, lg_err *err) {
  if (n_layers < 1 || n_layers > LG_MAX_LAYERS)
    return lg_errf(err, "%s: the model has %d blocks; expected 1..%d", fn, n_layers,
                   LG_MAX_LAYERS);
  return 0;
}

int lg_layers_from_index(int layer_index, int n_layers, lg_layer_set *out, lg_err *err) {
  if (!out) return lg_errf(err, "lg_layers_from_index: out is NULL");
  out->n = 0;
  if (layers_check_depth("lg_layers_from_index", n_layers, err)) return -1;
  if (layer_index >= n_layers || layer_index < -n_layers)
    return lg_errf(err,
                   "layers: layer_index %d out of range for a model with %d blocks "
                   "(expected %d..%d; 0 = all blocks, -2 = the last two)",
                   layer_index, n_layers, -n_layers, n_layers - 1);
  int start = layer_index >= 0 ? layer_index : n_layers + layer_index;
  layers_fill_range(out, start, n_layers - 1);
  return 0;
}

/* Skips blanks. */
static const char *skip_ws(const char *s) {
  while (*s && isspace((unsigned char)*s)) s++;
  return s;
}

/* Reads one optionally signed decimal integer at *s (after blanks).  Returns 0 and advances *s, or
** -1 when there is no integer there or it does not fit an int. */
static int read_int(const char **s, int *v) {
  const char *p = skip_ws(*s);
  if (!(isdigit((unsigned char)*p) || ((*p == '-' || *p == '+') && isdigit((unsigned char)p[1]))))
    return -1;
  char *end;
  errno = 0;
  long x = strtol(p, &end, 10);
  if (errno || x < INT_MIN || x > INT_MAX) return -1;
  *v = (int)x;
  *s = end;
  return 0;
}

/* Resolves a (possibly negative) block number of an explicit set. */
static int resolve_block(int b, int n_layers, const char *spec, int *out, lg_err *err) {
  int r = b < 0 ? n_layers + b : b;
  if (r < 0 || r >= n_layers)
    return lg_errf(err,
                   "layers '%s': block %d out of range for a model with %d blocks "
                   "(expected 0..%d, or -%d..-1 counting from the end)",
                   spec, b, n_layers, n_layers - 1, n_layers);
  *out = r;
  return 0;
}

int lg_layers_parse(const char *spec, int n_layers, lg_layer_set *out, lg_err *err) {
  if (!out) return lg_errf(err, "lg_layers_parse: out is NULL");
  out->n = 0;
  if (!spec) return lg_errf(err, "layers: NULL specification");
  if (layers_check_depth("lg_layers_parse", n_layers, err)) return -1;

  const char *s = skip_ws(spec);
  if (*s == 0)
    return lg_errf(err, "layers: empty specification (expected \"all\", an integer layer_index, "
                        "or a list like \"9,10,11\" / \"0-11\")");

  /* "all" */
  if (strncasecmp(s, "all", 3) == 0 && *skip_ws(s + 3) == 0) {
    layers_fill_range(out, 0, n_layers - 1);
    return 0;
  }

  /* A lone integer: official layer_index semantics. */
  {
    const char *p = s;
    int v;
    if (read_int(&p, &v) == 0 && *skip_ws(p) == 0) return lg_layers_from_index(v, n_layers, out, err);
  }

  /* An explicit set: items separated by commas. */
  unsigned char chosen[LG_MAX_LAYERS] = {0};
  const char *p = s;
  for (;;) {
    int a, b, ra = 0, rb = 0;
    const char *item = skip_ws(p);
    if (read_int(&p, &a))
      return lg_errf(err, "layers '%s': expected a block number at offset %d, found '%.16s'",
                     spec, (int)(item - spec), item);
    p = skip_ws(p);
    if (*p == '-') {           /* range a-b */
      p++;
      const char *hi = skip_ws(p);
      if (read_int(&p, &b) || b < 0 || a < 0)
        return lg_errf(err,
                       "layers '%s': a range needs two non-negative block numbers like \"8-11\" "
                       "(near offset %d)", spec, (int)(hi - spec));
      if (resolve_block(a, n_layers, spec, &ra, err) || resolve_block(b, n_layers, spec, &rb, err))
        return -1;
      if (ra > rb)
        return lg_errf(err, "layers '%s': range %d-%d is reversed (expected low-high)", spec, a,
                       b);
      for (int l = ra; l <= rb; l++) chosen[l] = 1;
    } else {
      if (resolve_block(a, n_layers, spec, &ra, err)) return -1;
      chosen[ra] = 1;
    }
    p = skip_ws(p);
    if (*p == 0) break;
    if (*p != ',')
      return lg_errf(err, "layers '%s': expected ',' or end at offset %d, found '%.16s'", spec,
                     (int)(p - spec), p);
    p++;
  }
  for (int l = 0; l < n_layers; l++)
    if (chosen[l]) out->idx[out->n++] = l;
  return 0;
}
