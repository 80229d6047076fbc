/*
** CLIP BPE tokenizer against the Python SimpleTokenizer algorithm
** (fixtures from tests/reference/ref_inputs.py tokens).
**
** - tokens_tiny.txt with a committed small vocabulary in all three file layouts (vocab.json +
**   merges.txt, tokenizer.json with "a b" merges, tokenizer.json with ["a","b"] merges): always runs.
** - tokens_openai.txt (hand-picked) and tokens_random.txt (1000 random strings of hard pieces and
**   random code points) with OpenAI's bpe_simple_vocab_16e6.txt.gz from ../shared (SKIP if absent).
** - error paths: invalid UTF-8, bad files, missing specials, bad arguments; truncation at ctx.
*/
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "tokenizer.h"

#define FIX "tests/fixtures/tokenizer/"

/* Decodes hex into a NUL-terminated string ("-" = empty). */
static char *unhex(const char *h, size_t len) {
  char *s = malloc(len / 2 + 1);
  size_t n = 0;
  if (!(len == 1 && h[0] == '-')) {
    for (size_t i = 0; i + 1 < len; i += 2) {
      unsigned v;
      sscanf(h + i, "%2x", &v);
      s[n++] = (char)v;
    }
  }
  s[n] = 0;
  return s;
}

/* Tokenizes every prompt of a fixture file and compares ids; returns the number of prompts. */
static int run_token_file(const lg_tokenizer *t, const char *path, const char *label) {
  size_t n = 0;
  char *text = (char *)check_read_file(path, &n);
  CHECK(text != NULL, "cannot read %s", path);
  if (!text) return 0;
  int prompts = 0, mismatched = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
    CHECK(tab1 && tab2, "%s: malformed line", path);
    if (!tab1 || !tab2) continue;
    char *prompt = unhex(line, (size_t)(tab1 - line));
    int32_t want[77], got[77];
    int nwant = 0, nused = -1;
    for (char *p = tab1 + 1; p < tab2 && nwant < 77;) {
      char *end;
      long v = strtol(p, &end, 10);
      if (end == p) break;
      want[nwant++] = (int32_t)v;
      p = end;
    }
    lg_err err = {{0}};
    int rc = lg_tokenize(t, prompt, got, 77, &nused, &err);
    int same = rc == 0 && nused == nwant;
    for (int k = 0; same && k < 77; k++) same = got[k] == (k < nwant ? want[k] : 0);
    if (!same && mismatched++ < 10) {
      fprintf(stderr, "%s: prompt %d %s: rc %d (%s), %d ids vs %d expected\n  got: ", label, prompts,
              strrchr(line, '\t') + 1, rc, err.msg, nused, nwant);
      for (int k = 0; k < nused && k < 77; k++) fprintf(stderr, "%d ", got[k]);
      fprintf(stderr, "\n want: %.*s\n", (int)(tab2 - tab1 - 1), tab1 + 1);
    }
    CHECK(same, "%s: prompt %d differs", label, prompts);
    free(prompt);
    prompts++;
  }
  printf("  %s: %d prompts, %d differ\n", label, prompts, mismatched);
  free(text);
  return prompts;
}

static void test_tiny(void) {
  static const char *dirs[] = {FIX "tiny", FIX "tiny_tj_str", FIX "tiny_tj_pairs"};
  int sot = -1, eot = -1, size = -1;
  for (int d = 0; d < 3; d++) {
    lg_err err = {{0}};
    lg_tokenizer *t = lg_tokenizer_load_dir(dirs[d], &err);
    CHECK(t != NULL, "%s: %s", dirs[d], err.msg);
    if (!t) continue;
    if (d == 0) {
      sot = lg_tokenizer_sot(t);
      eot = lg_tokenizer_eot(t);
      size = lg_tokenizer_vocab_size(t);
      CHECK(sot == size - 2 && eot == size - 1, "tiny specials %d %d of %d", sot, eot, size);
    } else {
      CHECK(lg_tokenizer_sot(t) == sot && lg_tokenizer_eot(t) == eot &&
                lg_tokenizer_vocab_size(t) == size, "%s: specials/size differ from vocab.json", dirs[d]);
    }
    int n = run_token_file(t, FIX "tokens_tiny.txt", dirs[d]);
    CHECK(n >= 200, "only %d prompts", n);
    lg_tokenizer_free(t);
  }
}

static void test_openai(const char *shared) {
  char path[1024];
  snprintf(path, sizeof path, "%s/data/clip-bpe/bpe_simple_vocab_16e6.txt.gz", shared);
  lg_err err = {{0}};
  lg_tokenizer *t = lg_tokenizer_load_bpe_gz(path, &err);
  CHECK(t != NULL, "%s", err.msg);
  if (!t) return;
  CHECK(lg_tokenizer_sot(t) == 49406 && lg_tokenizer_eot(t) == 49407 &&
            lg_tokenizer_vocab_size(t) == 49408, "OpenAI vocab: sot %d eot %d size %d",
        lg_tokenizer_sot(t), lg_tokenizer_eot(t), lg_tokenizer_vocab_size(t));
  int n = run_token_file(t, FIX "tokens_openai.txt", "openai");
  CHECK(n >= 200, "only %d prompts", n);
  n = run_token_file(t, FIX "tokens_random.txt", "openai random");
  CHECK(n >= 1000, "only %d random prompts", n);

  /* truncation keeps EOT last; padding is 0 */
  int32_t ids[8];
  int used = 0;
  CHECK(lg_tokenize(t, "a photo of a cat on a mat with a hat", ids, 5, &used, &err) == 0, "%s", err.msg);
  CHECK(used == 5 && ids[0] == 49406 && ids[1] == 320 && ids[4] == 49407, "truncated: %d %d %d %d",
        used, ids[0], ids[1], ids[4]);
  CHECK(lg_tokenize(t, "cat", ids, 8, &used, &err) == 0 && used == 3 && ids[3] == 0 && ids[7] == 0,
        "padding: used %d", used);
  CHECK(lg_tokenize(t, "", ids, 2, &used, &err) == 0 && used == 2 && ids[1] == 49407, "ctx 2");
  lg_tokenizer_free(t);
}

/* Writes a small file for the error-path tests. */
static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (f) { fputs(text, f); fclose(f); }
}

static void test_errors(void) {
  lg_err err = {{0}};
  lg_tokenizer *t = lg_tokenizer_load_dir(FIX "tiny", &err);
  CHECK(t != NULL, "%s", err.msg);
  if (t) {
    int32_t ids[77];
    int used;
    static const char *bad[] = {"caf\xe9", "\xc3", "\xed\xa0\x80 surrogate", "\xf5\x80\x80\x80",
                                "\xc0\xaf overlong", "ok \xff"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
      err.msg[0] = 0;
      CHECK(lg_tokenize(t, bad[k], ids, 77, &used, &err) == -1 && strstr(err.msg, "not valid UTF-8"),
            "invalid UTF-8 #%zu accepted: '%s'", k, err.msg);
    }
    CHECK(lg_tokenize(t, "x", ids, 1, &used, &err) == -1 && strstr(err.msg, "context"), "ctx 1: %s", err.msg);
    CHECK(lg_tokenize(t, NULL, ids, 77, &used, &err) == -1, "NULL text accepted");
    lg_tokenizer_free(t);
  }
  CHECK(lg_tokenizer_load_dir("/nonexistent/dir", &err) == NULL && strstr(err.msg, "tokenizer.json"),
        "missing dir: %s", err.msg);
  CHECK(lg_tokenizer_load_bpe_gz("/nonexistent.gz", &err) == NULL && strstr(err.msg, "cannot open"),
        "missing gz: %s", err.msg);

  char dir[] = "/tmp/lg_tok_XXXXXX";
  if (!mkdtemp(dir)) { CHECK(0, "mkdtemp failed"); return; }
  char v[256], m[256];
  snprintf(v, sizeof v, "%s/vocab.json", dir);
  snprintf(m, sizeof m, "%s/merges.txt", dir);
  write_file(v, "{\"a\": 0, \"b\": 1, \"a</w>\": 2, \"b</w>\": 3}");
  write_file(m, "#version: 0.2\na b</w>\n");
  CHECK(lg_tokenizer_load_dir(dir, &err) == NULL && strstr(err.msg, "startoftext"), "no specials: %s", err.msg);
  write_file(m, "#version: 0.2\nab\n");
  CHECK(lg_tokenizer_load_dir(dir, &err) == NULL && strstr(err.msg, "line 2"), "bad merge: %s", err.msg);
  write_file(v, "{\"a\": 0, \"a\": 1}");
  CHECK(lg_tokenizer_load_dir(dir, &err) == NULL &&
        strstr(err.msg, "vocab.json: entry 2: vocabulary: a token of 1 byte appears twice (ids 0 and 1)"),
        "dup token: %s", err.msg);
  /* messages describe a bad token, never quote it */
  write_file(v, "{\"secret-token-text\": -3}");
  CHECK(lg_tokenizer_load_dir(dir, &err) == NULL &&
        strstr(err.msg, "vocab.json: entry 1 (a token of 17 bytes): the id must be an integer in 0..16777216") &&
        !strstr(err.msg, "secret"), "bad id: %s", err.msg);
  /* an empty first key (once NULL + 0 in the string arena: undefined behaviour) */
  write_file(v, "{\"\": 0, \"a</w>\": 1, \"<|startoftext|>\": 2, \"<|endoftext|>\": 3}");
  write_file(m, "#version: 0.2\n");
  t = lg_tokenizer_load_dir(dir, &err);
  CHECK(t != NULL && lg_tokenizer_vocab_size(t) == 4, "empty first key: %s", err.msg);
  if (t) {
    int32_t ids[8];
    int used;
    CHECK(lg_tokenize(t, "a", ids, 8, &used, &err) == 0 && used == 3 && ids[1] == 1, "empty first key: %s", err.msg);
    lg_tokenizer_free(t);
  }
  /* a FIFO as vocab.json is refused at once (opening it for reading would wait for a writer) */
  remove(v);
  if (mkfifo(v, 0600) == 0) {
    alarm(20);   /* guard: a blocking open fails the test instead of hanging it */
    char want[400];
    snprintf(want, sizeof want, "'%s' is a FIFO, not a regular file", v);
    CHECK(lg_tokenizer_load_dir(dir, &err) == NULL && !strcmp(err.msg, want), "FIFO vocab.json: %s", err.msg);
    CHECK(lg_tokenizer_load_bpe_gz(v, &err) == NULL && !strcmp(err.msg, want), "FIFO merges file: %s", err.msg);
    alarm(0);
    remove(v);
  } else {
    SKIP("mkfifo failed: FIFO vocab.json not checked");
  }
  write_file(v, "[1, 2");
  CHECK(lg_tokenizer_load_dir(dir, &err) == NULL && strstr(err.msg, "JSON"), "bad json: %s", err.msg);
  /* a vocabulary lacking a symbol the BPE produces: error, like Python's KeyError */
  write_file(v, "{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}");
  write_file(m, "#version: 0.2\n");
  t = lg_tokenizer_load_dir(dir, &err);
  CHECK(t != NULL, "minimal vocab: %s", err.msg);
  if (t) {
    int32_t ids[8];
    int used;
    CHECK(lg_tokenize(t, "a", ids, 8, &used, &err) == -1 && strstr(err.msg, "not in the vocabulary"),
          "missing symbol: %s", err.msg);
    CHECK(lg_tokenize(t, "<|endoftext|>", ids, 8, &used, &err) == 0 && used == 3 && ids[1] == 2,
          "literal special: %s", err.msg);
    lg_tokenizer_free(t);
  }
  /* A merges file whose results do not follow their parts ("a bc" ranked before "b c"): the fast
  ** BPE path must fall back to the reference loop.  Python: (b,c) merges first, then (a,bc). */
  write_file(v, "{\"a\": 0, \"b\": 1, \"c</w>\": 2, \"bc\": 3, \"abc\": 4, \"c\": 5, "
                "\"<|startoftext|>\": 6, \"<|endoftext|>\": 7}");
  write_file(m, "#version: 0.2\na bc\nb c\n");
  t = lg_tokenizer_load_dir(dir, &err);
  CHECK(t != NULL, "ill-ordered merges: %s", err.msg);
  if (t) {
    int32_t ids[16];
    int used;
    CHECK(lg_tokenize(t, "abcabcabcabcabcabcabcabcabc", ids, 16, &used, &err) == 0, "%s", err.msg);
    int ok = used == 13 && ids[0] == 6 && ids[12] == 7 && ids[9] == 0 && ids[10] == 1 && ids[11] == 2;
    for (int k = 1; k <= 8; k++) ok = ok && ids[k] == 4;
    CHECK(ok, "ill-ordered merges: used %d ids %d %d .. %d %d %d", used, ids[0], ids[1], ids[9], ids[10], ids[11]);
    lg_tokenizer_free(t);
  }
  remove(v);
  remove(m);
  rmdir(dir);
}

int main(void) {
  test_tiny();
  test_errors();
  const char *shared = check_shared_dir();
  if (shared) test_openai(shared);
  else SKIP("../shared absent: OpenAI bpe_simple_vocab_16e6.txt.gz prompts not checked");
  return check_report("test_tokenizer");
}
