/*
** CLIP BPE tokenizer, bit-exact with OpenAI's SimpleTokenizer (clip/simple_tokenizer.py) for the
** documented ftfy subset (docs/tokenizer.md, spec clip-engine.md 6.1 and 6.3).
**
**   lg_tokenizer *t = lg_tokenizer_load_bpe_gz("bpe_simple_vocab_16e6.txt.gz", &err);
**   int32_t ids[77]; int n;
**   lg_tokenize(t, "a photo of a cat", ids, 77, &n, &err);  // 49406 320 1125 539 320 2368 49407 0..
**
** Loading builds one symbol table holding every string the BPE can produce: the vocabulary, the
** 512 byte symbols (with and without "</w>") and both parts and the result of every merge.  Each
** symbol knows its vocabulary id (-1 when the vocabulary lacks it; using such a symbol is an
** error, as Python's KeyError).  Merges become a hash map (left symbol, right symbol) -> (rank,
** merged symbol), so BPE runs on integers.
**
** Encoding: text cleanup (text_clean.c), the pre-tokenisation regex
**   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
** (IGNORECASE; the two specials are the vocabulary's own strings) evaluated by hand with utf8proc
** categories, bytes_to_unicode, then BPE per piece: repeatedly merge every occurrence of the
** lowest-ranked adjacent pair (the Python loop for short pieces, an equivalent heap-based
** O(n log n) version for pieces over 24 bytes, so a huge single word cannot stall a query).  Encoding stops once ctx - 1 ids are known (the rest would be
** truncated away).
*/
#include "tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <utf8proc.h>
#include <zlib.h>

#include "file_read.h"
#include "hash128.h"
#include "text_clean.h"

#define MAX_FILE_BYTES (256u << 20)  /* refuse larger vocabulary files */

typedef struct {
  uint32_t off, len;  /* in the string arena */
  int32_t vocab_id;   /* -1 when not in the vocabulary */
} symbol;

typedef struct {
  uint64_t key;       /* (left << 32) | right, 0 = empty (symbol ids start at 1) */
  int32_t rank, merged;
} merge_slot;

struct lg_tokenizer {
  char *arena;        /* symbol strings, back to back */
  size_t arena_n, arena_cap;
  symbol *syms;       /* index 0 unused */
  int32_t nsyms, syms_cap;
  int32_t *str_slots; /* open addressing: symbol index or 0 */
  size_t str_cap;     /* power of two */
  merge_slot *merges;
  size_t merge_cap, nmerges;
  int32_t byte_sym[256], byte_sym_w[256]; /* symbols of each byte, plain and with "</w>" */
  int32_t n_vocab;
  int32_t sot, eot;   /* vocabulary ids */
  int32_t sot_sym, eot_sym;
};

/* ---- symbol table --------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
  return h;
}

/* Finds the symbol for s[0..n); 0 when absent. */
static int32_t sym_find(const lg_tokenizer *t, const char *s, size_t n) {
  if (!t->str_cap) return 0;
  size_t mask = t->str_cap - 1, i = hash_bytes(s, n) & mask;
  while (t->str_slots[i]) {
    const symbol *y = &t->syms[t->str_slots[i]];
    if (y->len == n && memcmp(t->arena + y->off, s, n) == 0) return t->str_slots[i];
    i = (i + 1) & mask;
  }
  return 0;
}

static int str_rehash(lg_tokenizer *t, size_t cap, lg_err *err) {
  int32_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return lg_errf(err, "tokenizer: out of memory");
  for (int32_t k = 1; k < t->nsyms; k++) {
    const symbol *y = &t->syms[k];
    size_t i = hash_bytes(t->arena + y->off, y->len) & (cap - 1);
    while (slots[i]) i = (i + 1) & (cap - 1);
    slots[i] = k;
  }
  free(t->str_slots);
  t->str_slots = slots;
  t->str_cap = cap;
  return 0;
}

/* Returns the symbol for s[0..n), adding it when new; -1 on error. */
static int32_t sym_intern(lg_tokenizer *t, const char *s, size_t n, lg_err *err) {
  int32_t k = sym_find(t, s, n);
  if (k) return k;
  if (n > 4096) return lg_errf(err, "tokenizer: token of %zu bytes is too long", n);
  if (t->nsyms >= t->syms_cap) {
    int32_t cap = t->syms_cap ? t->syms_cap * 2 : 1024;
    symbol *y = realloc(t->syms, (size_t)cap * sizeof *y);
    if (!y) return lg_errf(err, "tokenizer: out of memory");
    t->syms = y;
    t->syms_cap = cap;
    if (t->nsyms == 0) t->nsyms = 1;
  }
  if (!t->arena || t->arena_n + n > t->arena_cap) {   /* allocated even for an empty first string */
    size_t cap = t->arena_cap ? t->arena_cap : 65536;
    while (cap < t->arena_n + n) cap *= 2;
    char *a = realloc(t->arena, cap);
    if (!a) return lg_errf(err, "tokenizer: out of memory");
    t->arena = a;
    t->arena_cap = cap;
  }
  memcpy(t->arena + t->arena_n, s, n);
  k = t->nsyms++;
  t->syms[k] = (symbol){(uint32_t)t->arena_n, (uint32_t)n, -1};
  t->arena_n += n;
  if ((size_t)t->nsyms * 2 > t->str_cap) {
    if (str_rehash(t, t->str_cap ? t->str_cap * 2 : 4096, err)) return -1;
  } else {
    size_t i = hash_bytes(s, n) & (t->str_cap - 1);
    while (t->str_slots[i]) i = (i + 1) & (t->str_cap - 1);
    t->str_slots[i] = k;
  }
  return k;
}

/* ---- merges --------------------------------------------------------------------------------- */

static const merge_slot *merge_find(const lg_tokenizer *t, int32_t a, int32_t b) {
  if (!t->merge_cap) return NULL;
  uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
  size_t mask = t->merge_cap - 1, i = lg_mix64(key) & mask;
  while (t->merges[i].key) {
    if (t->merges[i].key == key) return &t->merges[i];
    i = (i + 1) & mask;
  }
  return NULL;
}

/* Inserts or overwrites (a, b) -> (rank, merged); a later duplicate line wins, as in Python's
** dict(zip(merges, range(len(merges)))). */
static int merge_put(lg_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t merged, lg_err *err) {
  if ((t->nmerges + 1) * 2 > t->merge_cap) {
    size_t cap = t->merge_cap ? t->merge_cap * 2 : 65536;
    merge_slot *m = calloc(cap, sizeof *m);
    if (!m) return lg_errf(err, "tokenizer: out of memory");
    for (size_t k = 0; k < t->merge_cap; k++) {
      if (!t->merges[k].key) continue;
      size_t i = lg_mix64(t->merges[k].key) & (cap - 1);
      while (m[i].key) i = (i + 1) & (cap - 1);
      m[i] = t->merges[k];
    }
    free(t->merges);
    t->merges = m;
    t->merge_cap = cap;
  }
  uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
  size_t mask = t->merge_cap - 1, i = lg_mix64(key) & mask;
  while (t->merges[i].key && t->merges[i].key != key) i = (i + 1) & mask;
  if (!t->merges[i].key) t->nmerges++;
  t->merges[i] = (merge_slot){key, rank, merged};
  return 0;
}

/* Adds merge number `rank`: strings a and b (a + b is the result). */
static int add_merge(lg_tokenizer *t, const char *a, size_t na, const char *b, size_t nb, int32_t rank,
                     lg_err *err) {
  char buf[8192];
  if (na == 0 || nb == 0 || na + nb > sizeof buf) {
    return lg_errf(err, "merge %d: parts must be non-empty and short", rank + 1);
  }
  int32_t sa = sym_intern(t, a, na, err), sb = sym_intern(t, b, nb, err);
  if (sa < 0 || sb < 0) return -1;
  memcpy(buf, a, na);
  memcpy(buf + na, b, nb);
  int32_t sm = sym_intern(t, buf, na + nb, err);
  if (sm < 0) return -1;
  return merge_put(t, sa, sb, rank, sm, err);
}

/* Sets the vocabulary id of string s. */
static int add_vocab(lg_tokenizer *t, const char *s, size_t n, int32_t id, lg_err *err) {
  int32_t k = sym_intern(t, s, n, err);
  if (k < 0) return -1;
  if (t->syms[k].vocab_id >= 0)
    return lg_errf(err, "vocabulary: a token of %zu byte%s appears twice (ids %d and %d)", n, n == 1 ? "" : "s",
                   t->syms[k].vocab_id, id);
  t->syms[k].vocab_id = id;
  if (id + 1 > t->n_vocab) t->n_vocab = id + 1;
  return 0;
}

/* ---- bytes_to_unicode ----------------------------------------------------------------------- */

/* The code point GPT-2/CLIP's bytes_to_unicode assigns to byte b. */
static uint32_t byte_to_cp(int b) {
  if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
  int n = 0;
  for (int k = 0; k < b; k++) {
    if (!((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || (k >= 174 && k <= 255))) n++;
  }
  return 256u + (uint32_t)n;
}

/* The order of list(bytes_to_unicode().values()): printable bytes first, then the others. */
static void byte_order(int order[256]) {
  int k = 0;
  for (int b = 0; b < 256; b++) if (byte_to_cp(b) == (uint32_t)b) order[k++] = b;
  for (int b = 0; b < 256; b++) if (byte_to_cp(b) != (uint32_t)b) order[k++] = b;
}

/* Interns the 512 byte symbols and finds the specials; called once vocab and merges are in. */
static int finish_load(lg_tokenizer *t, const char *src, lg_err *err) {
  for (int b = 0; b < 256; b++) {
    char s[16];
    int n = utf8proc_encode_char((utf8proc_int32_t)byte_to_cp(b), (uint8_t *)s);
    memcpy(s + n, "</w>", 4);
    t->byte_sym[b] = sym_intern(t, s, (size_t)n, err);
    t->byte_sym_w[b] = sym_intern(t, s, (size_t)n + 4, err);
    if (t->byte_sym[b] < 0 || t->byte_sym_w[b] < 0) return -1;
  }
  static const char *const sot_names[] = {"<|startoftext|>", "<start_of_text>"};
  static const char *const eot_names[] = {"<|endoftext|>", "<end_of_text>"};
  t->sot = t->eot = -1;
  for (int k = 0; k < 2 && t->sot < 0; k++) {
    int32_t s = sym_find(t, sot_names[k], strlen(sot_names[k]));
    if (s && t->syms[s].vocab_id >= 0) { t->sot = t->syms[s].vocab_id; t->sot_sym = s; }
  }
  for (int k = 0; k < 2 && t->eot < 0; k++) {
    int32_t s = sym_find(t, eot_names[k], strlen(eot_names[k]));
    if (s && t->syms[s].vocab_id >= 0) { t->eot = t->syms[s].vocab_id; t->eot_sym = s; }
  }
  if (t->sot < 0 || t->eot < 0) {
    return lg_errf(err, "%s: vocabulary has no '<|startoftext|>'/'<|endoftext|>' tokens", src);
  }
  return 0;
}

void lg_tokenizer_free(lg_tokenizer *t) {
  if (!t) return;
  free(t->arena);
  free(t->syms);
  free(t->str_slots);
  free(t->merges);
  free(t);
}

/* ---- file loading --------------------------------------------------------------------------- */

/* Reads a whole regular file (plain or gzip, zlib's gzread handles both; at most MAX_FILE_BYTES
** once uncompressed). NUL-terminated; *n bytes. */
static char *slurp(const char *path, size_t *n, lg_err *err) {
  struct stat sb;
  int fd = lg_file_open_regular(path, &sb, err);
  if (fd < 0) return NULL;
  gzFile f = gzdopen(fd, "rb");
  if (!f) { close(fd); lg_errf(err, "%s: cannot open: out of memory", path); return NULL; }
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap + 1);
  if (!buf) lg_errf(err, "%s: out of memory", path);
  while (buf) {
    if (len == cap) {
      if (cap >= MAX_FILE_BYTES) { free(buf); buf = NULL; lg_errf(err, "%s: larger than %u bytes", path, MAX_FILE_BYTES); break; }
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) { free(buf); buf = NULL; lg_errf(err, "%s: out of memory", path); break; }
      buf = nb;
      cap *= 2;
    }
    int r = gzread(f, buf + len, (unsigned)(cap - len));
    if (r < 0) { free(buf); buf = NULL; lg_errf(err, "%s: read error (corrupt gzip?)", path); break; }
    if (r == 0) break;
    len += (size_t)r;
  }
  gzclose(f);
  if (!buf) return NULL;  /* err set above */
  buf[len] = 0;
  *n = len;
  return buf;
}

static lg_tokenizer *tok_new(lg_err *err) {
  lg_tokenizer *t = calloc(1, sizeof *t);
  if (!t) lg_errf(err, "tokenizer: out of memory");
  return t;
}

/* Parses merges in the text form: one "a b" per line; a first line starting with "#version" is
** skipped, as are empty lines.  max < 0: all lines. */
static int parse_merge_lines(lg_tokenizer *t, char *text, size_t n, long max, const char *src,
                             lg_err *err) {
  char *p = text, *end = text + n;
  long line_no = 0;
  int32_t rank = 0;
  while (p < end && (max < 0 || rank < max)) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *le = nl ? nl : end;
    line_no++;
    size_t len = (size_t)(le - p);
    if (len && p[len - 1] == '\r') len--;
    if (!(line_no == 1 && len >= 8 && memcmp(p, "#version", 8) == 0) && len > 0) {
      char *sp = memchr(p, ' ', len);
      if (!sp || sp == p || sp + 1 == p + len || memchr(sp + 1, ' ', (size_t)(p + len - sp - 1))) {
        return lg_errf(err, "%s: line %ld: expected two tokens separated by one space", src, line_no);
      }
      if (add_merge(t, p, (size_t)(sp - p), sp + 1, (size_t)(p + len - sp - 1), rank, err)) {
        return lg_err_prefix(err, "%s: line %ld", src, line_no);
      }
      rank++;
    }
    p = nl ? nl + 1 : end;
  }
  return 0;
}

lg_tokenizer *lg_tokenizer_load_bpe_gz(const char *path, lg_err *err) {
  size_t n = 0;
  char *text = slurp(path, &n, err);
  if (!text) return NULL;
  lg_tokenizer *t = tok_new(err);
  if (!t) { free(text); return NULL; }
  if (memchr(text, 0, n)) { lg_errf(err, "%s: contains NUL bytes, not a BPE merges file", path); goto fail; }
  /* OpenAI: lines[1 : 49152 - 256 - 2 + 1]: skip the version line, keep 48894 merges. */
  char *first = memchr(text, '\n', n);
  if (!first) { lg_errf(err, "%s: no merges after the header line", path); goto fail; }
  /* Vocabulary: byte symbols in bytes_to_unicode order, the same with "</w>", merges, specials. */
  int order[256];
  byte_order(order);
  int32_t id = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int k = 0; k < 256; k++) {
      char s[16];
      int m = utf8proc_encode_char((utf8proc_int32_t)byte_to_cp(order[k]), (uint8_t *)s);
      if (pass) { memcpy(s + m, "</w>", 4); m += 4; }
      if (add_vocab(t, s, (size_t)m, id++, err)) goto fail;
    }
  }
  size_t rest = n - (size_t)(first + 1 - text);
  /* parse_merge_lines treats its first line as a possible header: feed it from line 1 on, and
  ** count ranks from there. */
  if (parse_merge_lines(t, first + 1, rest, 49152 - 256 - 2, path, err)) goto fail;
  /* merge results in rank order get the next ids */
  int32_t nm = (int32_t)t->nmerges;
  int32_t *by_rank = malloc(sizeof(int32_t) * (size_t)(nm ? nm : 1));
  if (!by_rank) { lg_errf(err, "%s: out of memory", path); goto fail; }
  for (int32_t r = 0; r < nm; r++) by_rank[r] = 0;
  for (size_t k = 0; k < t->merge_cap; k++) {
    if (t->merges[k].key && t->merges[k].rank < nm) by_rank[t->merges[k].rank] = t->merges[k].merged;
  }
  for (int32_t r = 0; r < nm; r++) {
    symbol *y = &t->syms[by_rank[r]];
    if (by_rank[r] == 0 || y->vocab_id >= 0) {
      free(by_rank);
      lg_errf(err, "%s: merge %d repeats an earlier merge or token", path, r + 1);
      goto fail;
    }
    y->vocab_id = id++;
  }
  free(by_rank);
  if (add_vocab(t, "<|startoftext|>", 15, id++, err) || add_vocab(t, "<|endoftext|>", 13, id++, err)) goto fail;
  t->n_vocab = id;
  if (finish_load(t, path, err)) goto fail;
  free(text);
  return t;
fail:
  free(text);
  lg_tokenizer_free(t);
  return NULL;
}

/* Adds every "token": id pair of a JSON object as the vocabulary. */
static int load_vocab_json(lg_tokenizer *t, const cJSON *vocab, const char *src, lg_err *err) {
  if (!cJSON_IsObject(vocab)) return lg_errf(err, "%s: vocabulary is not a JSON object", src);
  int count = 0;
  for (const cJSON *it = vocab->child; it; it = it->next) {
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 16777216 ||
        it->valuedouble != (double)(int)it->valuedouble) {
      size_t len = strlen(it->string ? it->string : "");
      return lg_errf(err, "%s: entry %d (a token of %zu byte%s): the id must be an integer in 0..16777216", src,
                     count + 1, len, len == 1 ? "" : "s");
    }
    if (add_vocab(t, it->string, strlen(it->string), (int32_t)it->valuedouble, err)) {
      return lg_err_prefix(err, "%s: entry %d", src, count + 1);
    }
    count++;
  }
  if (count == 0) return lg_errf(err, "%s: empty vocabulary", src);
  return 0;
}

/* Loads tokenizer.json (HF tokenizers): model.vocab and model.merges as "a b" or ["a", "b"]. */
static lg_tokenizer *load_tokenizer_json(const char *path, lg_err *err) {
  size_t n = 0;
  char *text = slurp(path, &n, err);
  if (!text) return NULL;
  lg_tokenizer *t = tok_new(err);
  cJSON *root = cJSON_ParseWithLength(text, n);
  free(text);
  if (!t) { cJSON_Delete(root); return NULL; }
  if (!root) { lg_errf(err, "%s: not valid JSON", path); goto fail; }
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
  const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
  const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
  if (!cJSON_IsArray(merges)) { lg_errf(err, "%s: model.merges missing or not an array", path); goto fail; }
  if (load_vocab_json(t, vocab, path, err)) goto fail;
  int32_t rank = 0;
  for (const cJSON *m = merges->child; m; m = m->next, rank++) {
    if (cJSON_IsString(m)) {
      const char *s = m->valuestring, *sp = strchr(s, ' ');
      if (!sp || strchr(sp + 1, ' ')) { lg_errf(err, "%s: merge %d: expected \"a b\"", path, rank + 1); goto fail; }
      if (add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank, err)) goto fail_merge;
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
               cJSON_IsString(m->child->next)) {
      const char *a = m->child->valuestring, *b = m->child->next->valuestring;
      if (add_merge(t, a, strlen(a), b, strlen(b), rank, err)) goto fail_merge;
    } else {
      lg_errf(err, "%s: merge %d: expected \"a b\" or [\"a\", \"b\"]", path, rank + 1);
      goto fail;
    }
  }
  /* specials may live only in added_tokens */
  const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
  for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a; a = a->next) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
    if (!cJSON_IsString(c) || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 16777216) continue;
    int32_t k = sym_find(t, c->valuestring, strlen(c->valuestring));
    if (k && t->syms[k].vocab_id >= 0) continue;
    if (add_vocab(t, c->valuestring, strlen(c->valuestring), (int32_t)id->valuedouble, err)) goto fail;
  }
  if (finish_load(t, path, err)) goto fail;
  cJSON_Delete(root);
  return t;
fail_merge:
  lg_err_prefix(err, "%s", path);
fail:
  cJSON_Delete(root);
  lg_tokenizer_free(t);
  return NULL;
}

lg_tokenizer *lg_tokenizer_load_dir(const char *dir, lg_err *err) {
  char vpath[4200], mpath[4200];
  if (!dir) { lg_errf(err, "lg_tokenizer_load_dir: dir is NULL"); return NULL; }
  if (strlen(dir) > 4000) { lg_errf(err, "lg_tokenizer_load_dir: path too long"); return NULL; }
  snprintf(vpath, sizeof vpath, "%s/vocab.json", dir);
  snprintf(mpath, sizeof mpath, "%s/merges.txt", dir);
  int rv = lg_file_probe(vpath, err), rm = rv < 0 ? -1 : lg_file_probe(mpath, err);
  if (rv < 0 || rm < 0) return NULL;
  if (!(rv && rm)) {
    snprintf(vpath, sizeof vpath, "%s/tokenizer.json", dir);
    int rt = lg_file_probe(vpath, err);
    if (rt < 0) return NULL;
    if (!rt) {
      lg_errf(err, "%s: no vocab.json + merges.txt and no tokenizer.json", dir);
      return NULL;
    }
    return load_tokenizer_json(vpath, err);
  }
  size_t n = 0;
  char *text = slurp(vpath, &n, err);
  if (!text) return NULL;
  lg_tokenizer *t = tok_new(err);
  cJSON *root = cJSON_ParseWithLength(text, n);
  free(text);
  text = NULL;
  if (!t) { cJSON_Delete(root); return NULL; }
  if (!root) { lg_errf(err, "%s: not valid JSON", vpath); goto fail; }
  if (load_vocab_json(t, root, vpath, err)) goto fail;
  text = slurp(mpath, &n, err);
  if (!text) goto fail;
  if (parse_merge_lines(t, text, n, -1, mpath, err)) goto fail;
  if (finish_load(t, vpath, err)) goto fail;
  free(text);
  cJSON_Delete(root);
  return t;
fail:
  free(text);
  cJSON_Delete(root);
  lg_tokenizer_free(t);
  return NULL;
}

int lg_tokenizer_sot(const lg_tokenizer *t) { return t ? t->sot : -1; }
int lg_tokenizer_eot(const lg_tokenizer *t) { return t ? t->eot : -1; }
int lg_tokenizer_vocab_size(const lg_tokenizer *t) { return t ? t->n_vocab : 0; }

/* ---- encoding ------------------------------------------------------------------------------- */

static int is_letter(uint32_t c) {
  if (c > 0x10ffff) return 0;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    return 1;
  default:
    return 0;
  }
}

static int is_number(uint32_t c) {
  if (c > 0x10ffff) return 0;
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* 1 when v[i..) starts with the ASCII string s (the text is already lowercased). */
static int starts_with(const uint32_t *v, size_t n, size_t i, const char *s, size_t len) {
  if (n - i < len) return 0;
  for (size_t k = 0; k < len; k++) if (v[i + k] != (uint8_t)s[k]) return 0;
  return 1;
}

/* Length of the contraction alternative ('s|'t|'re|'ve|'m|'ll|'d) at i, 0 if none.  IGNORECASE
** also lets U+017F (long s, case-folds to s) match 's. */
static size_t contraction_at(const uint32_t *v, size_t n, size_t i) {
  if (v[i] != '\'' || i + 1 >= n) return 0;
  uint32_t c = v[i + 1];
  if (c == 's' || c == 0x17f || c == 't' || c == 'm' || c == 'd') return 2;
  if (i + 2 < n && ((c == 'r' && v[i + 2] == 'e') || (c == 'v' && v[i + 2] == 'e') ||
                    (c == 'l' && v[i + 2] == 'l'))) return 3;
  return 0;
}

/* Appends the vocabulary id of symbol s, or fails like Python's KeyError. */
static int emit(const lg_tokenizer *t, int32_t s, int32_t *out, int *n_out, int cap, lg_err *err) {
  int32_t id = t->syms[s].vocab_id;
  if (id < 0) {
    return lg_errf(err, "lg_tokenize: BPE produced '%.*s', which is not in the vocabulary",
                   (int)(t->syms[s].len > 64 ? 64 : t->syms[s].len), t->arena + t->syms[s].off);
  }
  if (*n_out < cap) out[*n_out] = id;
  (*n_out)++;
  return 0;
}

/* Rank of the pair (a, b), or INT32_MAX when it is not a merge. */
static int32_t pair_rank(const lg_tokenizer *t, int32_t a, int32_t b) {
  const merge_slot *m = merge_find(t, a, b);
  return m ? m->rank : INT32_MAX;
}

/* Reference BPE, the Python loop verbatim: while some adjacent pair has a rank, merge every
** occurrence of the lowest-ranked one, left to right, without overlap.  O(n^2): used for short
** pieces.  sym: [n] initial symbols, rewritten; rank: [n] scratch.  Returns the final count. */
static size_t bpe_simple(const lg_tokenizer *t, int32_t *sym, size_t n, int32_t *rank) {
  for (size_t k = 0; k + 1 < n; k++) rank[k] = pair_rank(t, sym[k], sym[k + 1]);
  while (n > 1) {
    int32_t best = INT32_MAX;
    size_t at = 0;
    for (size_t k = 0; k + 1 < n; k++) if (rank[k] < best) { best = rank[k]; at = k; }
    if (best == INT32_MAX) break;
    int32_t left = sym[at], right = sym[at + 1], merged = merge_find(t, left, right)->merged;
    size_t o = 0;
    for (size_t k = 0; k < n;) {
      if (k + 1 < n && sym[k] == left && sym[k + 1] == right) { sym[o++] = merged; k += 2; }
      else sym[o++] = sym[k++];
    }
    n = o;
    for (size_t k = 0; k + 1 < n; k++) rank[k] = pair_rank(t, sym[k], sym[k + 1]);
  }
  return n;
}

/* A candidate merge: the pair starting at node `pos`, expected to be (left, right). */
typedef struct {
  int32_t rank, pos, left, right;
} bpe_cand;

static int cand_less(const bpe_cand *a, const bpe_cand *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bpe_cand *h, size_t *n, bpe_cand c) {
  size_t i = (*n)++;
  while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
  h[i] = c;
}

static bpe_cand heap_pop(bpe_cand *h, size_t *n) {
  bpe_cand top = h[0], last = h[--(*n)];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
    if (!cand_less(&h[c], &last)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n) h[i] = last;
  return top;
}

/* The same BPE in O(n log n) for long pieces: a linked list of symbols and a heap of candidate
** pairs ordered by (rank, position), stale candidates skipped.  Popping by position within a rank
** is Python's left-to-right pass; a merge never creates a pair of the same rank (the merged
** symbol differs from both parts), and in a merges list where every result comes after its parts
** it never creates a lower rank either.  When it does (an unusual merges file), returns 0 and the
** caller falls back to bpe_simple.  sym: [n] in/out.  Returns the final count, or 0. */
static size_t bpe_heap(const lg_tokenizer *t, int32_t *sym, size_t n, lg_err *err, int *oom) {
  int32_t *next = malloc(sizeof(int32_t) * n * 2);
  bpe_cand *heap = malloc(sizeof(bpe_cand) * (3 * n + 1));
  size_t hn = 0, out = 0;
  if (!next || !heap) { *oom = lg_errf(err, "lg_tokenize: out of memory"); goto done; }
  int32_t *prev = next + n;
  for (size_t k = 0; k < n; k++) {
    next[k] = k + 1 < n ? (int32_t)k + 1 : -1;
    prev[k] = (int32_t)k - 1;
  }
  for (size_t k = 0; k + 1 < n; k++) {
    int32_t r = pair_rank(t, sym[k], sym[k + 1]);
    if (r != INT32_MAX) heap_push(heap, &hn, (bpe_cand){r, (int32_t)k, sym[k], sym[k + 1]});
  }
  int32_t round = -1;
  while (hn) {
    bpe_cand c = heap_pop(heap, &hn);
    int32_t nx = next[c.pos];
    if (sym[c.pos] != c.left || nx < 0 || sym[nx] != c.right) continue;  /* stale */
    round = c.rank;
    sym[c.pos] = merge_find(t, c.left, c.right)->merged;
    next[c.pos] = next[nx];
    if (next[nx] >= 0) prev[next[nx]] = c.pos;
    sym[nx] = -1;
    int32_t p = prev[c.pos], q = next[c.pos];
    int32_t rp = p >= 0 ? pair_rank(t, sym[p], sym[c.pos]) : INT32_MAX;
    int32_t rq = q >= 0 ? pair_rank(t, sym[c.pos], sym[q]) : INT32_MAX;
    if ((rp != INT32_MAX && rp <= round) || (rq != INT32_MAX && rq <= round)) goto done; /* fall back */
    if (rp != INT32_MAX) heap_push(heap, &hn, (bpe_cand){rp, p, sym[p], sym[c.pos]});
    if (rq != INT32_MAX) heap_push(heap, &hn, (bpe_cand){rq, c.pos, sym[c.pos], sym[q]});
  }
  for (int32_t k = 0; k >= 0; k = next[k]) sym[out++] = sym[k];  /* node 0 is never removed */
done:
  free(next);
  free(heap);
  return out;
}

/* BPE of one pre-token given as UTF-8 bytes; appends ids.  work: >= 2 * nb int32 scratch. */
static int bpe_piece(const lg_tokenizer *t, const uint8_t *b, size_t nb, int32_t *work, int32_t *out,
                     int *n_out, int cap, lg_err *err) {
  int32_t *sym = work, *rank = work + nb;
  for (size_t k = 0; k < nb; k++) sym[k] = k + 1 == nb ? t->byte_sym_w[b[k]] : t->byte_sym[b[k]];
  size_t n = 0;
  if (nb > 24) {
    int oom = 0;
    n = bpe_heap(t, sym, nb, err, &oom);
    if (oom) return -1;
    if (n == 0) { /* heap path declined: restart with the reference loop */
      for (size_t k = 0; k < nb; k++) sym[k] = k + 1 == nb ? t->byte_sym_w[b[k]] : t->byte_sym[b[k]];
    }
  }
  if (n == 0) n = bpe_simple(t, sym, nb, rank);
  for (size_t k = 0; k < n; k++) if (emit(t, sym[k], out, n_out, cap, err)) return -1;
  return 0;
}

int lg_tokenize(const lg_tokenizer *t, const char *text, int32_t *ids, int ctx, int *n_used,
                lg_err *err) {
  lg_u32buf s = {0};
  uint8_t *bytes = NULL;
  int32_t *work = NULL, *toks = NULL;
  int rc = -1, ntok = 0;
  if (!t || !text || !ids) return lg_errf(err, "lg_tokenize: NULL tokenizer, text or ids");
  if (ctx < 2) return lg_errf(err, "lg_tokenize: context length must be >= 2, found %d", ctx);
  if (lg_utf8_to_u32(text, strlen(text), &s, err)) goto done;
  if (lg_clip_clean(&s, err)) goto done;
  int want = ctx - 1;  /* ids beyond this are truncated away: stop early */
  size_t cap = 64;  /* bytes of the longest piece so far: bytes [cap], work [2 * cap] */
  bytes = malloc(cap);
  work = malloc(sizeof(int32_t) * 2 * cap);
  toks = malloc(sizeof(int32_t) * (size_t)want);
  if (!bytes || !work || !toks) { lg_errf(err, "lg_tokenize: out of memory"); goto done; }
  size_t sot_len = t->syms[t->sot_sym].len, eot_len = t->syms[t->eot_sym].len;
  const char *sot_s = t->arena + t->syms[t->sot_sym].off, *eot_s = t->arena + t->syms[t->eot_sym].off;
  size_t i = 0;
  while (i < s.n && ntok < want) {
    uint32_t c = s.v[i];
    if (lg_py_isspace(c)) { i++; continue; }
    if (starts_with(s.v, s.n, i, sot_s, sot_len) || starts_with(s.v, s.n, i, eot_s, eot_len)) {
      int sot = starts_with(s.v, s.n, i, sot_s, sot_len);
      if (emit(t, sot ? t->sot_sym : t->eot_sym, toks, &ntok, want, err)) goto done;
      i += sot ? sot_len : eot_len;
      continue;
    }
    size_t j = i + contraction_at(s.v, s.n, i);
    if (j == i) {
      if (is_letter(c)) {
        while (j < s.n && is_letter(s.v[j])) j++;
      } else if (is_number(c)) {
        j = i + 1;
      } else {
        while (j < s.n && !is_letter(s.v[j]) && !is_number(s.v[j]) && !lg_py_isspace(s.v[j])) j++;
      }
    }
    if ((j - i) * 4 > cap) {
      cap = (j - i) * 4;
      uint8_t *nbuf = realloc(bytes, cap);
      if (nbuf) bytes = nbuf;
      int32_t *nwork = nbuf ? realloc(work, sizeof(int32_t) * 2 * cap) : NULL;
      if (nwork) work = nwork;
      if (!nbuf || !nwork) { lg_errf(err, "lg_tokenize: out of memory for a %zu-character word", j - i); goto done; }
    }
    size_t nb = 0;
    for (size_t k = i; k < j; k++) nb += (size_t)utf8proc_encode_char((utf8proc_int32_t)s.v[k], bytes + nb);
    if (bpe_piece(t, bytes, nb, work, toks, &ntok, want, err)) goto done;
    i = j;
  }
  /* [SOT] + tokens + [EOT], truncated to ctx with EOT forced last, then 0 padding */
  int n = ntok < want - 1 ? ntok : want - 1;
  ids[0] = t->sot;
  for (int k = 0; k < n; k++) ids[1 + k] = toks[k];
  ids[1 + n] = t->eot;
  for (int k = n + 2; k < ctx; k++) ids[k] = 0;
  if (n_used) *n_used = n + 2;
  rc = 0;
done:
  lg_u32buf_free(&s);
  free(bytes);
  free(work);
  free(toks);
  return rc;
}
