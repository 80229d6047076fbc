/*
** The shipped sample model (samples/model) works with the engine's own code paths:
**   - engine/text/tokenizer.c over its vocab.json + merges.txt gives the ids of the Python tokenizer the
**     model was trained with (fixture tests/fixtures/samples/tokens.json, written by
**     tests/reference/sample_tokens.py), and <|startoftext|>/<|endoftext|> are the two last ids.
** Run from the repository root.
*/
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "tokenizer.h"

#define MODEL_DIR "samples/model"
#define TOKENS "tests/fixtures/samples/tokens.json"

static void test_tokenizer(void) {
  lg_err err = {{0}};
  size_t n = 0;
  char *json = (char *)check_read_file(TOKENS, &n);
  if (!json) {
    SKIP("%s not found (run from the repository root)", TOKENS);
    return;
  }
  cJSON *root = cJSON_ParseWithLength(json, n);
  CHECK(root != NULL, "%s parses", TOKENS);
  lg_tokenizer *t = lg_tokenizer_load_dir(MODEL_DIR, &err);
  CHECK(t != NULL, "load %s: %s", MODEL_DIR, err.msg);
  if (!root || !t) goto done;
  int vs = lg_tokenizer_vocab_size(t);
  CHECK(vs == cJSON_GetObjectItem(root, "vocab_size")->valueint, "vocab size %d", vs);
  CHECK(lg_tokenizer_sot(t) == vs - 2 && lg_tokenizer_eot(t) == vs - 1, "SOT %d, EOT %d are the last ids",
        lg_tokenizer_sot(t), lg_tokenizer_eot(t));
  const cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
    const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
    const cJSON *want = cJSON_GetObjectItem(c, "ids");
    int32_t ids[77];
    int used = 0;
    CHECK(lg_tokenize(t, text, ids, 77, &used, &err) == 0, "tokenize '%s': %s", text, err.msg);
    int same = used == cJSON_GetArraySize(want);
    for (int i = 0; same && i < used; i++) same = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
    for (int i = used; same && i < 77; i++) same = ids[i] == 0;
    CHECK(same, "'%s': C ids differ from the Python tokenizer's (%d vs %d ids)", text, used,
          cJSON_GetArraySize(want));
  }
done:
  lg_tokenizer_free(t);
  cJSON_Delete(root);
  free(json);
}

int main(void) {
  test_tokenizer();
  return check_report("test_sample_model");
}
