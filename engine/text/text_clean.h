/*
** Text cleanup in front of the CLIP BPE tokenizer (engine-internal; see docs/tokenizer.md).
**
**   lg_u32buf t = {0};
**   if (lg_utf8_to_u32(text, strlen(text), &t, &err)) ...;     // invalid UTF-8 is an error
**   if (lg_clip_clean(&t, &err)) ...;                            // ftfy subset ... lower()
**   ... t.v[0 .. t.n) ...
**   lg_u32buf_free(&t);
**
** lg_clip_clean reproduces, on Unicode code points, what OpenAI's SimpleTokenizer does before
** pre-tokenisation: whitespace_clean(basic_clean(text)).lower(), where basic_clean is
** ftfy.fix_text (the documented subset), html.unescape twice and strip().
*/
#ifndef LEGRAD_TEXT_CLEAN_H
#define LEGRAD_TEXT_CLEAN_H
#include <stddef.h>
#include <stdint.h>

#include "lg_error.h"

/* A growable array of Unicode code points. */
typedef struct lg_u32buf {
  uint32_t *v;
  size_t n, cap;
} lg_u32buf;

void lg_u32buf_free(lg_u32buf *b);

/* Decodes n bytes of UTF-8 into out (replacing its contents).  Invalid sequences, surrogates and
** NUL bytes are errors naming the byte offset. */
int lg_utf8_to_u32(const char *s, size_t n, lg_u32buf *out, lg_err *err);

/* Python's str.isspace(): bidirectional class WS, B or S, or general category Zs. */
int lg_py_isspace(uint32_t c);

/* The ftfy.fix_text subset (C1 controls as Windows-1252, Latin ligatures, character width, curly
** quotes, line breaks, terminal escapes, control characters, NFC; repeated to a fixed point). */
int lg_ftfy_subset(lg_u32buf *t, lg_err *err);

/* Python's html.unescape (HTML5 named references, numeric references with the HTML5 fix-ups). */
int lg_html_unescape(lg_u32buf *t, lg_err *err);

/* Python's str.lower(): full lowercase mapping (U+0130 -> "i" U+0307) and Final_Sigma. */
int lg_py_lower(lg_u32buf *t, lg_err *err);

/* whitespace_clean(basic_clean(text)).lower() as in clip/simple_tokenizer.py. */
int lg_clip_clean(lg_u32buf *t, lg_err *err);

#endif
