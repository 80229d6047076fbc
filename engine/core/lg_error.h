/*
** Error reporting for the engine.  Every fallible engine function takes an `lg_err *err` (may be
** NULL) and returns 0 on success or -1 on failure after writing a message into err->msg.
** Messages name what was being read (file, tensor, argument), what was expected and what was
** found, e.g. "model.safetensors: tensor 'visual.proj': expected shape [768,512], found [512,768]".
** The extension prefixes them with the SQL function name.
*/
#ifndef LEGRAD_ERROR_H
#define LEGRAD_ERROR_H
#include <stddef.h>

#define LG_ERR_MAX 1024

typedef struct lg_err {
  char msg[LG_ERR_MAX];
} lg_err;

/* Formats a message into err (if not NULL). Always returns -1 so callers can `return lg_errf(...)`. */
int lg_errf(lg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to an existing message (for adding context on the way up). Returns -1. */
int lg_err_prefix(lg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
