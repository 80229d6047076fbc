/* Error message helpers; see lg_error.h. */
#include "lg_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lg_errf(lg_err *err, const char *fmt, ...) {
  if (!err) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return -1;
}

int lg_err_prefix(lg_err *err, const char *fmt, ...) {
  if (!err) return -1;
  char prefix[LG_ERR_MAX], old[LG_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  snprintf(err->msg, sizeof err->msg, "%.256s: %.700s", prefix, old);
  return -1;
}
