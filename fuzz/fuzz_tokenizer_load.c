/*
** libFuzzer target for the tokenizer file loaders: vocab.json + merges.txt, tokenizer.json (both
** merges serialisations) and the OpenAI merges file (plain or gzip), all user-supplied files
** inside model directories.
**
**   make fuzz && nice build/fuzz/fuzz_tokenizer_load -max_total_time=300 fuzz/corpus/tokenizer_load
**
** Input: byte 0 selects the layout (0: vocab.json + merges.txt split at the first NUL byte,
** 1: tokenizer.json, 2: OpenAI merges file); the rest is written to files in a private temporary
** directory and loaded.  Properties (a violation aborts): loading either fails with a message or
** gives a tokenizer whose SOT/EOT ids lie inside the vocabulary, and tokenizing a fixed prompt
** then either fails with a message (a symbol missing from the vocabulary) or starts with SOT and
** ends with EOT.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer.h"

#define REQUIRE(c)                                                         \
  do {                                                                     \
    if (!(c)) {                                                            \
      fprintf(stderr, "fuzz_tokenizer_load: property failed: %s\n", #c);  \
      abort();                                                             \
    }                                                                      \
  } while (0)

static char dir[64];
static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer.json", "bpe.txt"};

/* Removes the files of the last input and the directory (at exit). */
static void cleanup(void) {
  char p[128];
  for (int k = 0; k < 4; k++) {
    snprintf(p, sizeof p, "%s/%s", dir, names[k]);
    unlink(p);
  }
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  snprintf(dir, sizeof dir, "/tmp/lg_fuzz_tok_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("fuzz_tokenizer_load: mkdtemp");
    exit(1);
  }
  atexit(cleanup);
  return 0;
}

/* Writes n bytes to dir/name; returns the path in a static buffer. */
static const char *put(const char *name, const uint8_t *data, size_t n) {
  static char path[2][128];
  static int which;
  char *p = path[which ^= 1];
  snprintf(p, 128, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  REQUIRE(f != NULL);
  if (n) REQUIRE(fwrite(data, 1, n, f) == n);
  fclose(f);
  return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] % 3;
  const uint8_t *body = data + 1;
  size_t n = size - 1;
  cleanup();  /* start from an empty directory each time */
  REQUIRE(mkdir(dir, 0700) == 0);
  lg_err err = {{0}};
  lg_tokenizer *t = NULL;
  if (mode == 0) {
    const uint8_t *nul = memchr(body, 0, n);
    size_t vn = nul ? (size_t)(nul - body) : n;
    put("vocab.json", body, vn);
    put("merges.txt", nul ? nul + 1 : body + n, nul ? n - vn - 1 : 0);
    t = lg_tokenizer_load_dir(dir, &err);
  } else if (mode == 1) {
    put("tokenizer.json", body, n);
    t = lg_tokenizer_load_dir(dir, &err);
  } else {
    t = lg_tokenizer_load_bpe_gz(put("bpe.txt", body, n), &err);
  }
  if (!t) {
    REQUIRE(err.msg[0] != 0);
    return 0;
  }
  int v = lg_tokenizer_vocab_size(t), sot = lg_tokenizer_sot(t), eot = lg_tokenizer_eot(t);
  REQUIRE(v > 0 && sot >= 0 && sot < v && eot >= 0 && eot < v);
  int32_t ids[16];
  int used = 0;
  if (lg_tokenize(t, "a photo of the cat's 2 toys!", ids, 16, &used, &err) == 0) {
    REQUIRE(used >= 2 && used <= 16 && ids[0] == sot && ids[used - 1] == eot);
    for (int k = 0; k < used; k++) REQUIRE(ids[k] >= 0 && ids[k] < v);
  } else {
    REQUIRE(err.msg[0] != 0);
  }
  lg_tokenizer_free(t);
  return 0;
}
