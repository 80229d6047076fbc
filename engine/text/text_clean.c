/*
** Text cleanup for the CLIP BPE tokenizer: the steps OpenAI's SimpleTokenizer applies before its
** pre-tokenisation regex, on Unicode code points (see text_clean.h and docs/tokenizer.md).
**
**   basic_clean(text)      = ftfy.fix_text(text) -> html.unescape twice -> strip()
**   whitespace_clean(text) = " ".join(text.split())
**   then .lower()
**
** Unicode data comes from utf8proc (categories, bidirectional classes, case mappings, NFC/NFKC).
** ftfy is replaced by the subset of its fixes listed in lg_ftfy_subset; its tables (control
** characters, ligatures, width map, quotes) are ftfy's (ftfy/chardata.py).  html.unescape uses the
** HTML5 table in html5_entities.inc, generated from Python's html module.
*/
#include "text_clean.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "html5_entities.inc"

void lg_u32buf_free(lg_u32buf *b) {
  if (!b) return;
  free(b->v);
  b->v = NULL;
  b->n = b->cap = 0;
}

/* Ensures room for `extra` more code points. */
static int buf_reserve(lg_u32buf *b, size_t extra, lg_err *err) {
  if (b->n + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->n + extra) {
    if (cap > ((size_t)1 << 40)) return lg_errf(err, "lg_tokenize: text too long");
    cap *= 2;
  }
  uint32_t *v = realloc(b->v, cap * sizeof *v);
  if (!v) return lg_errf(err, "lg_tokenize: out of memory for %zu code points", cap);
  b->v = v;
  b->cap = cap;
  return 0;
}

static int buf_push(lg_u32buf *b, uint32_t c, lg_err *err) {
  if (buf_reserve(b, 1, err)) return -1;
  b->v[b->n++] = c;
  return 0;
}

/* Appends the code points of a valid UTF-8 string of n bytes. */
static int buf_push_utf8(lg_u32buf *b, const uint8_t *s, size_t n, lg_err *err) {
  size_t i = 0;
  while (i < n) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0) return lg_errf(err, "lg_tokenize: internal UTF-8 error");
    if (buf_push(b, (uint32_t)c, err)) return -1;
    i += (size_t)k;
  }
  return 0;
}

int lg_utf8_to_u32(const char *s, size_t n, lg_u32buf *out, lg_err *err) {
  const uint8_t *p = (const uint8_t *)s;
  out->n = 0;
  if (buf_reserve(out, n + 1, err)) return -1;
  size_t i = 0;
  while (i < n) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0 || c < 0) {
      return lg_errf(err, "lg_tokenize: text is not valid UTF-8 (bad byte 0x%02x at offset %zu)", p[i], i);
    }
    if (c == 0) return lg_errf(err, "lg_tokenize: text contains a NUL character at offset %zu", i);
    out->v[out->n++] = (uint32_t)c;
    i += (size_t)k;
  }
  return 0;
}

/* Encodes t[from, to) as UTF-8 into a malloc'ed buffer; *len = bytes. */
static uint8_t *to_utf8(const uint32_t *v, size_t count, size_t *len, lg_err *err) {
  uint8_t *s = malloc(count * 4 + 1);
  if (!s) { lg_errf(err, "lg_tokenize: out of memory"); return NULL; }
  size_t o = 0;
  for (size_t i = 0; i < count; i++) o += (size_t)utf8proc_encode_char((utf8proc_int32_t)v[i], s + o);
  s[o] = 0;
  *len = o;
  return s;
}

int lg_py_isspace(uint32_t c) {
  if (c > 0x10ffff) return 0;
  const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
  return p->bidi_class == UTF8PROC_BIDI_CLASS_WS || p->bidi_class == UTF8PROC_BIDI_CLASS_B ||
         p->bidi_class == UTF8PROC_BIDI_CLASS_S || p->category == UTF8PROC_CATEGORY_ZS;
}

/* ---- ftfy subset --------------------------------------------------------------------------- */

/* Windows-1252 for bytes 0x80..0x9f; 0 where cp1252 leaves the byte undefined (kept as is, as
** ftfy's "sloppy" codec does). */
static const uint16_t cp1252_c1[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178};

/* ftfy CONTROL_CHARS: removed by remove_control_chars. */
static int ftfy_is_control(uint32_t c) {
  return c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f ||
         (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc) ||
         (c >= 0x1d173 && c <= 0x1d17a) || (c >= 0xe0000 && c <= 0xe007f);
}

/* ftfy LIGATURES: replacement (ASCII or U+017F + 't') or NULL. */
static const char *ftfy_ligature(uint32_t c) {
  switch (c) {
  case 0x132: return "IJ";
  case 0x133: return "ij";
  case 0xfb00: return "ff";
  case 0xfb01: return "fi";
  case 0xfb02: return "fl";
  case 0xfb03: return "ffi";
  case 0xfb04: return "ffl";
  case 0xfb05: return "\305\277t"; /* U+017F LATIN SMALL LETTER LONG S, 't' */
  case 0xfb06: return "st";
  default: return NULL;
  }
}

/* Applies one pass of per-character fixes (C1, ligatures, width, quotes, line breaks) from src
** into dst. */
static int ftfy_char_fixes(const lg_u32buf *src, lg_u32buf *dst, lg_err *err) {
  dst->n = 0;
  for (size_t i = 0; i < src->n; i++) {
    uint32_t c = src->v[i];
    if (c >= 0x80 && c <= 0x9f && cp1252_c1[c - 0x80]) c = cp1252_c1[c - 0x80];  /* fix_c1_controls */
    const char *lig = ftfy_ligature(c);
    if (lig) {  /* fix_latin_ligatures */
      if (buf_push_utf8(dst, (const uint8_t *)lig, strlen(lig), err)) return -1;
      continue;
    }
    if (c == 0x3000) c = ' ';  /* fix_character_width: ideographic space */
    if (c >= 0xff01 && c <= 0xffef) { /* fix_character_width: NFKC of half/fullwidth forms */
      uint8_t one[8], *nf = NULL;
      utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)c, one);
      utf8proc_ssize_t m = utf8proc_map(one, k, &nf, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
      if (m < 0) return lg_errf(err, "lg_tokenize: NFKC failed (%s)", utf8proc_errmsg(m));
      int rc = buf_push_utf8(dst, nf, (size_t)m, err);
      free(nf);
      if (rc) return -1;
      continue;
    }
    if (c >= 0x2018 && c <= 0x201b) c = '\'';  /* uncurl_quotes */
    else if (c >= 0x201c && c <= 0x201f) c = '"';
    if (c == '\r') {  /* fix_line_breaks: \r\n and \r -> \n */
      if (i + 1 < src->n && src->v[i + 1] == '\n') i++;
      c = '\n';
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      c = '\n';
    }
    if (buf_push(dst, c, err)) return -1;
  }
  return 0;
}

/* remove_terminal_escapes (ESC '[' (\d|;)* [a-zA-Z], \d being any Unicode decimal digit) and
** remove_control_chars, in place. */
static void ftfy_strip_escapes_controls(lg_u32buf *t) {
  size_t o = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (t->v[i] == 0x1b && i + 1 < t->n && t->v[i + 1] == '[') {
      size_t j = i + 2;
      while (j < t->n && (t->v[j] == ';' || (t->v[j] <= 0x10ffff &&
                          utf8proc_category((utf8proc_int32_t)t->v[j]) == UTF8PROC_CATEGORY_ND))) j++;
      if (j < t->n && ((t->v[j] | 0x20) >= 'a' && (t->v[j] | 0x20) <= 'z')) {
        i = j;
        continue;
      }
    }
    t->v[o++] = t->v[i];
  }
  t->n = o;
  o = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (!ftfy_is_control(t->v[i])) t->v[o++] = t->v[i];
  }
  t->n = o;
}

/* Unicode NFC of t, in place (via utf8proc). */
static int nfc_inplace(lg_u32buf *t, lg_err *err) {
  size_t len;
  uint8_t *s = to_utf8(t->v, t->n, &len, err), *nf = NULL;
  if (!s) return -1;
  utf8proc_ssize_t m = utf8proc_map(s, (utf8proc_ssize_t)len, &nf, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  free(s);
  if (m < 0) return lg_errf(err, "lg_tokenize: NFC failed (%s)", utf8proc_errmsg(m));
  t->n = 0;
  int rc = buf_push_utf8(t, nf, (size_t)m, err);
  free(nf);
  return rc;
}

static int u32_equal(const lg_u32buf *a, const lg_u32buf *b) {
  return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0);
}

int lg_ftfy_subset(lg_u32buf *t, lg_err *err) {
  lg_u32buf prev = {0}, tmp = {0};
  int rc = -1;
  for (int iter = 0; iter < 16; iter++) {  /* ftfy repeats until the text stops changing */
    prev.n = 0;
    if (buf_reserve(&prev, t->n, err)) goto done;
    if (t->n) memcpy(prev.v, t->v, t->n * sizeof *t->v);
    prev.n = t->n;
    if (ftfy_char_fixes(t, &tmp, err)) goto done;
    ftfy_strip_escapes_controls(&tmp);
    if (nfc_inplace(&tmp, err)) goto done;
    lg_u32buf swap = *t;
    *t = tmp;
    tmp = swap;
    if (u32_equal(t, &prev)) break;
  }
  rc = 0;
done:
  lg_u32buf_free(&prev);
  lg_u32buf_free(&tmp);
  return rc;
}

/* ---- html.unescape ------------------------------------------------------------------------- */

/* Compares a code-point name with a UTF-8 table name, bytewise on the UTF-8 encoding. */
static int name_cmp(const uint8_t *name, size_t len, const char *tab) {
  size_t tl = strlen(tab), m = len < tl ? len : tl;
  int c = memcmp(name, tab, m);
  if (c) return c;
  return len < tl ? -1 : len > tl ? 1 : 0;
}

/* Looks up an entity name (UTF-8 bytes, with or without ';'); returns its value or NULL. */
static const char *html5_lookup(const uint8_t *name, size_t len) {
  size_t lo = 0, hi = sizeof html5_entities / sizeof html5_entities[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = name_cmp(name, len, html5_entities[mid].name);
    if (c == 0) return html5_entities[mid].value;
    if (c < 0) hi = mid; else lo = mid + 1;
  }
  return NULL;
}

/* Resolves a numeric reference like Python's html._replace_charref; pushes 0 or 1 code point. */
static int push_charref(lg_u32buf *o, unsigned long long num, int overflow, lg_err *err) {
  if (!overflow) {
    for (size_t k = 0; k < sizeof html_invalid_charrefs / sizeof html_invalid_charrefs[0]; k++) {
      if (html_invalid_charrefs[k].num == num) return buf_push(o, html_invalid_charrefs[k].cp, err);
    }
  }
  if (overflow || (num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return buf_push(o, 0xfffd, err);
  for (size_t k = 0; k < sizeof html_invalid_codepoints / sizeof html_invalid_codepoints[0]; k++) {
    if (html_invalid_codepoints[k] == num) return 0;
  }
  return buf_push(o, (uint32_t)num, err);
}

static int is_hex(uint32_t c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* One html.unescape pass: regex &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?). */
int lg_html_unescape(lg_u32buf *t, lg_err *err) {
  lg_u32buf o = {0};
  uint8_t name[32 * 4 + 2];
  if (buf_reserve(&o, t->n + 1, err)) return -1;
  size_t i = 0;
  while (i < t->n) {
    uint32_t c = t->v[i];
    if (c != '&') {
      if (buf_push(&o, c, err)) goto fail;
      i++;
      continue;
    }
    size_t j = i + 1;
    if (j < t->n && t->v[j] == '#') {
      int hex = j + 1 < t->n && (t->v[j + 1] == 'x' || t->v[j + 1] == 'X');
      size_t d = j + 1 + (size_t)hex, e = d;
      unsigned long long num = 0;
      int overflow = 0;
      while (e < t->n && (hex ? is_hex(t->v[e]) : (t->v[e] >= '0' && t->v[e] <= '9'))) {
        uint32_t v = t->v[e];
        unsigned dv = v <= '9' ? v - '0' : (v | 0x20) - 'a' + 10;
        if (num > 0x10ffffull * 16) overflow = 1; else num = num * (hex ? 16 : 10) + dv;
        e++;
      }
      if (e == d && hex) {  /* "&#x" without digits: try decimal? no digits either: no match */
        hex = 0;
        d = e = j + 1;
      }
      if (e > d) {
        if (e < t->n && t->v[e] == ';') e++;
        if (push_charref(&o, num, overflow, err)) goto fail;
        i = e;
        continue;
      }
      if (buf_push(&o, '&', err)) goto fail;  /* "&#" not followed by a number */
      i++;
      continue;
    }
    /* named: up to 32 characters other than \t \n \f space < & # ; then an optional ';' */
    size_t e = j, nlen = 0;
    while (e < t->n && e - j < 32) {
      uint32_t v = t->v[e];
      if (v == '\t' || v == '\n' || v == '\f' || v == ' ' || v == '<' || v == '&' || v == '#' || v == ';') break;
      e++;
    }
    if (e == j) {
      if (buf_push(&o, '&', err)) goto fail;
      i++;
      continue;
    }
    int semi = e < t->n && t->v[e] == ';';
    /* UTF-8 of the name, remembering each character's byte end for the prefix search */
    size_t ends[34];
    for (size_t k = j; k < e; k++) {
      nlen += (size_t)utf8proc_encode_char((utf8proc_int32_t)t->v[k], name + nlen);
      ends[k - j] = nlen;
    }
    size_t nchar = e - j;
    if (semi) {
      name[nlen++] = ';';
      ends[nchar] = nlen;
    }
    size_t total = nchar + (size_t)semi; /* characters in s */
    const char *val = html5_lookup(name, nlen);
    if (val) {
      if (buf_push_utf8(&o, (const uint8_t *)val, strlen(val), err)) goto fail;
      i = j + total;
      continue;
    }
    /* longest prefix s[:x] for x = len(s)-1 down to 2 */
    int done = 0;
    for (size_t x = total - 1; x >= 2 && x < total; x--) {
      val = html5_lookup(name, ends[x - 1]);
      if (val) {
        if (buf_push_utf8(&o, (const uint8_t *)val, strlen(val), err)) goto fail;
        for (size_t k = j + x; k < j + total; k++) if (buf_push(&o, t->v[k], err)) goto fail;
        done = 1;
        break;
      }
    }
    if (!done) {
      for (size_t k = i; k < j + total; k++) if (buf_push(&o, t->v[k], err)) goto fail;
    }
    i = j + total;
  }
  lg_u32buf_free(t);
  *t = o;
  return 0;
fail:
  lg_u32buf_free(&o);
  return -1;
}

/* ---- lower() ------------------------------------------------------------------------------- */

static int cat_of(uint32_t c) {
  return c > 0x10ffff ? UTF8PROC_CATEGORY_CN : (int)utf8proc_category((utf8proc_int32_t)c);
}

/* Unicode Case_Ignorable: Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter/MidNumLet/Single_Quote. */
static int case_ignorable(uint32_t c) {
  int k = cat_of(c);
  if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
      k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK) return 1;
  switch (c) {
  case 0x27: case 0x2e: case 0x3a: case 0xb7: case 0x387: case 0x55f: case 0x5f4: case 0x2018:
  case 0x2019: case 0x2024: case 0x2027: case 0xfe13: case 0xfe52: case 0xfe55: case 0xff07:
  case 0xff0e: case 0xff1a:
    return 1;
  default:
    return 0;
  }
}

/* Unicode Cased, approximated as Lu/Ll/Lt or having a case mapping. */
static int is_cased(uint32_t c) {
  int k = cat_of(c);
  if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return 1;
  if (c > 0x10ffff) return 0;
  return utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
         utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

/* CPython's handle_capital_sigma: is U+03A3 at i in the Final_Sigma context? */
static int final_sigma(const lg_u32buf *t, size_t i) {
  size_t j = i;
  while (j > 0 && case_ignorable(t->v[j - 1])) j--;
  if (j == 0 || !is_cased(t->v[j - 1])) return 0;
  j = i + 1;
  while (j < t->n && case_ignorable(t->v[j])) j++;
  return j == t->n || !is_cased(t->v[j]);
}

int lg_py_lower(lg_u32buf *t, lg_err *err) {
  lg_u32buf o = {0};
  if (buf_reserve(&o, t->n + 8, err)) return -1;
  for (size_t i = 0; i < t->n; i++) {
    uint32_t c = t->v[i];
    if (c == 0x130) {  /* SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE */
      if (buf_push(&o, 'i', err) || buf_push(&o, 0x307, err)) goto fail;
    } else if (c == 0x3a3) {
      if (buf_push(&o, final_sigma(t, i) ? 0x3c2 : 0x3c3, err)) goto fail;
    } else {
      uint32_t l = c <= 0x10ffff ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)c) : c;
      if (buf_push(&o, l, err)) goto fail;
    }
  }
  lg_u32buf_free(t);
  *t = o;
  return 0;
fail:
  lg_u32buf_free(&o);
  return -1;
}

/* ---- the whole cleanup ---------------------------------------------------------------------- */

/* " ".join(text.split()): also strips both ends. */
static void collapse_whitespace(lg_u32buf *t) {
  size_t o = 0;
  int pending = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (lg_py_isspace(t->v[i])) {
      pending = o > 0;
      continue;
    }
    if (pending) t->v[o++] = ' ';
    pending = 0;
    t->v[o++] = t->v[i];
  }
  t->n = o;
}

int lg_clip_clean(lg_u32buf *t, lg_err *err) {
  if (lg_ftfy_subset(t, err)) return -1;
  if (lg_html_unescape(t, err) || lg_html_unescape(t, err)) return -1;
  collapse_whitespace(t);  /* strip() then split/join: the join also strips */
  return lg_py_lower(t, err);
}
