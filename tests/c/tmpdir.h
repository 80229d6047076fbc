/*
** Test helper: a private temporary directory for files a test writes.
**
**   if (tmpdir_make("lg_test_model")) { SKIP("mkdtemp failed"); ... }
**   const char *p = tmp("sub/file.json");      // "<tmpdir>/sub/file.json" (4 rotating buffers)
**   tmpdir_remove();                           // rm -rf the directory
*/
#ifndef LEGRAD_TEST_TMPDIR_H
#define LEGRAD_TEST_TMPDIR_H
#include <stdio.h>
#include <stdlib.h>

static char tmpdir_path[96];

static inline int tmpdir_make(const char *prefix) {
  snprintf(tmpdir_path, sizeof tmpdir_path, "/tmp/%.60s_XXXXXX", prefix);
  return mkdtemp(tmpdir_path) ? 0 : -1;
}

static inline const char *tmp(const char *name) {
  static char buf[4][384];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir_path, name);
  return buf[k];
}

static inline void tmpdir_remove(void) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir_path);
}
#endif
