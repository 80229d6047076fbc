/*
** Image decoding limits for SQL functions, with cancellation by sqlite3_interrupt().
**
**   lg_interrupt intr;
**   lg_image_limits lim;
**   lg_image_limits_for_db(db, &intr, &lim);       // default limits + should_stop
**   lg_image_decode_limited(blob, n, &lim, &img, &err);
**   lg_preprocess_stop(&img, pre, size, mode, out, &fr, &lim.stop, &err);
**
** The engine has no SQLite dependency: it polls a plain should_stop(arg) callback (image.h).  Here
** that callback reports sqlite3_is_interrupted(db), so a long decode or resize stops when the
** statement is interrupted (Ctrl-C in the shell, sqlite3_interrupt from another thread, Python's
** Connection.interrupt).  sqlite3_is_interrupted exists from SQLite 3.41.0.  The loadable
** extension compiled against older headers (Debian 12 ships 3.40.1) finds it at run time: the
** routine table handed to sqlite3_legrad_init() only grows, and from 3.41.0 its member after
** value_encoding (the last one in 3.40) is is_interrupted.  On an older SQLite there is nothing to
** poll and decoding is bounded by the limits alone (docs/preprocessing.md).
*/
#include <string.h>

#include "conn.h"

/* should_stop callback: arg is an lg_interrupt. */
static int db_interrupted(void *arg) {
  const lg_interrupt *intr = arg;
  return intr->is_interrupted(intr->db);
}

#if SQLITE_VERSION_NUMBER < 3041000 && !defined(SQLITE_CORE)
/* The 3.41 routine table: the 3.40 one followed by is_interrupted. */
typedef struct {
  sqlite3_api_routines v340;
  int (*is_interrupted)(sqlite3 *);
} api_routines_3041;
#endif

/* sqlite3_is_interrupted of the running SQLite, or NULL before 3.41.0. */
static int (*find_is_interrupted(void))(sqlite3 *) {
#if SQLITE_VERSION_NUMBER >= 3041000
  return sqlite3_is_interrupted;
#elif !defined(SQLITE_CORE)
  if (sqlite3_libversion_number() < 3041000) return NULL;
  return ((const api_routines_3041 *)sqlite3_api)->is_interrupted;
#else
  return NULL;  /* statically linked with an older SQLite */
#endif
}

int lg_image_limits_for_db(sqlite3 *db, lg_interrupt *intr, lg_image_limits *lim) {
  memset(lim, 0, sizeof *lim);  /* zero fields: the engine's defaults */
  intr->db = db;
  intr->is_interrupted = find_is_interrupted();
  if (!intr->is_interrupted) return 0;
  lim->stop.should_stop = db_interrupted;
  lim->stop.arg = intr;
  return 1;
}
