/*
** Replays a libFuzzer corpus through a fuzz target without libFuzzer, so the committed corpora are
** regression tests in `make test` (built with gcc; the sanitizer pass builds it with ASan+UBSan).
**
**   build/replay/fuzz_mapblob fuzz/corpus/mapblob [more dirs or files...]
**
** Linked with one fuzz/fuzz_*.c, which defines LLVMFuzzerTestOneInput (and optionally
** LLVMFuzzerInitialize).  Every input is fed once; a target signals a finding by aborting, which
** fails the run.  Prints "<name>: N passed, 0 failed, 0 skipped" at the end (N = inputs replayed).
*/
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Feeds one file to the target; returns 0, or -1 when the file cannot be read. */
static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  int rc = -1;
  uint8_t *buf = NULL;
  if (fseek(f, 0, SEEK_END) != 0) goto done;
  long n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) goto done;
  buf = malloc((size_t)n + 1); /* +1: a zero-length input still gets a valid pointer */
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) goto done;
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  rc = 0;
done:
  free(buf);
  fclose(f);
  return rc;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of dir in name order; adds to *count.  Returns 0 or -1. */
static int replay_dir(const char *dir, int *count) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown) { rc = -1; goto done; }
      names = grown;
    }
    names[n] = strdup(e->d_name);
    if (!names[n]) { rc = -1; goto done; }
    n++;
  }
  qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (replay_file(path) != 0) { fprintf(stderr, "cannot read %s\n", path); rc = -1; goto done; }
    (*count)++;
  }
done:
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  closedir(d);
  return rc;
}

int main(int argc, char **argv) {
  const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) { fprintf(stderr, "%s: no such corpus: %s\n", name, argv[i]); return 1; }
    int rc = S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count) : replay_file(argv[i]);
    if (rc == 0 && !S_ISDIR(st.st_mode)) count++;
    if (rc != 0) { fprintf(stderr, "%s: cannot replay %s\n", name, argv[i]); return 1; }
  }
  printf("%s: %d passed, 0 failed, 0 skipped\n", name, count);
  return 0;
}
