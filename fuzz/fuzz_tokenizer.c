/*
** libFuzzer target for the CLIP BPE tokenizer: UTF-8 validation, the ftfy subset, html.unescape,
** lowercasing, pre-tokenisation and BPE on arbitrary bytes.
**
**   make fuzz && nice build/fuzz/fuzz_tokenizer -max_total_time=300 -max_len=2048 fuzz/corpus/tokenizer
**
** Vocabulary: OpenAI's bpe_simple_vocab_16e6.txt.gz from $LEGRAD_SHARED or ../shared when present,
** else the committed tests/fixtures/tokenizer/tiny (run from the repository root).
** Properties (a violation aborts):
**   - tokenizing either fails with a message (invalid UTF-8 and similar) or returns SOT first, EOT
**     at n_used - 1, ids within the vocabulary and 0 padding;
**   - a shorter context gives the same ids up to its last position, which is EOT (truncation
**     keeps a prefix).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

#define REQUIRE(c)                                                    \
  do {                                                                \
    if (!(c)) {                                                       \
      fprintf(stderr, "fuzz_tokenizer: property failed: %s\n", #c);  \
      abort();                                                        \
    }                                                                 \
  } while (0)

static lg_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  lg_err err = {{0}};
  char path[4096];
  const char *shared = getenv("LEGRAD_SHARED");
  snprintf(path, sizeof path, "%s/data/clip-bpe/bpe_simple_vocab_16e6.txt.gz", shared ? shared : "../shared");
  tok = lg_tokenizer_load_bpe_gz(path, &err);
  if (!tok) tok = lg_tokenizer_load_dir("tests/fixtures/tokenizer/tiny", &err);
  if (!tok) {
    fprintf(stderr, "fuzz_tokenizer: no vocabulary: %s\n", err.msg);
    exit(1);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  REQUIRE(text != NULL);
  memcpy(text, data, size);
  text[size] = 0;
  int32_t ids[77], short_ids[77];
  int used = 0, short_used = 0;
  lg_err err = {{0}};
  int rc = lg_tokenize(tok, text, ids, 77, &used, &err);
  if (rc != 0) {
    REQUIRE(err.msg[0] != 0);
  } else {
    int vocab = lg_tokenizer_vocab_size(tok);
    REQUIRE(used >= 2 && used <= 77);
    REQUIRE(ids[0] == lg_tokenizer_sot(tok) && ids[used - 1] == lg_tokenizer_eot(tok));
    for (int k = 0; k < 77; k++) REQUIRE(k < used ? (ids[k] >= 0 && ids[k] < vocab) : ids[k] == 0);
    int ctx = 2 + (size ? data[0] % 20 : 0);
    REQUIRE(lg_tokenize(tok, text, short_ids, ctx, &short_used, &err) == 0);
    REQUIRE(short_used == (used < ctx ? used : ctx));
    for (int k = 0; k < short_used - 1; k++) REQUIRE(short_ids[k] == ids[k]);
    REQUIRE(short_ids[short_used - 1] == lg_tokenizer_eot(tok));
  }
  free(text);
  return 0;
}
