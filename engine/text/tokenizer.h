/*
** CLIP BPE tokenizer, bit-exact with OpenAI's SimpleTokenizer / open_clip 2.23 (see
** docs/tokenizer.md for the ftfy repairs that are not replicated).
**
**   lg_tokenizer *t = lg_tokenizer_load_dir("/models/clip", &err);    // vocab.json + merges.txt
**   lg_tokenizer *t = lg_tokenizer_load_bpe_gz("bpe_simple_vocab_16e6.txt.gz", &err);
**   int32_t ids[77]; int n;
**   lg_tokenize(t, "a photo of a cat", ids, 77, &n, &err);   // [SOT ... EOT] then 0-padding
*/
#ifndef LEGRAD_TOKENIZER_H
#define LEGRAD_TOKENIZER_H
#include <stdint.h>

#include "lg_error.h"

typedef struct lg_tokenizer lg_tokenizer;

/* HF layout: vocab.json + merges.txt in dir (tokenizer.json as a fallback if present; its merges
** may be "a b" strings or ["a", "b"] pairs).  merges.txt: an optional first "#version" line, then
** one "a b" merge per line, all of them used (ranks = line order). */
lg_tokenizer *lg_tokenizer_load_dir(const char *dir, lg_err *err);
/* OpenAI bpe_simple_vocab_16e6.txt.gz (or the same file uncompressed): lines 1..48894 are the
** merges; the vocabulary is built as OpenAI does (49408 ids, SOT 49406, EOT 49407). */
lg_tokenizer *lg_tokenizer_load_bpe_gz(const char *path, lg_err *err);
void lg_tokenizer_free(lg_tokenizer *t);

int lg_tokenizer_sot(const lg_tokenizer *t);
int lg_tokenizer_eot(const lg_tokenizer *t);
int lg_tokenizer_vocab_size(const lg_tokenizer *t);

/* Encodes UTF-8 text (NUL-terminated: the text ends at the first NUL byte).  ids: ctx entries
** written (SOT, tokens, EOT, then 0 padding; truncated to ctx keeping EOT last); ctx >= 2.
** *n_used = number of non-pad ids (position of EOT + 1).  Invalid UTF-8 is an error.
** The literal strings "<|startoftext|>" / "<|endoftext|>" (the vocabulary's special tokens) inside
** the text become the special ids, as in OpenAI's SimpleTokenizer and HF's slow tokenizer
** (open_clip 2.23 instead BPE-splits them; docs/tokenizer.md).
** Refined by helper B: sot/eot are taken from the vocabulary ("<|startoftext|>"/"<|endoftext|>",
** else open_clip's "<start_of_text>"/"<end_of_text>"), so non-OpenAI vocabularies work. */
int lg_tokenize(const lg_tokenizer *t, const char *text, int32_t *ids, int ctx, int *n_used,
                lg_err *err);

#endif
