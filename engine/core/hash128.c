/* 128-bit content hash; see hash128.h. */
#include "hash128.h"

#include <stdio.h>
#include <string.h>

uint64_t lg_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void lg_hash128_init(lg_hash128 *s) {
  s->h[0] = 0x6c67726164303031ull;
  s->h[1] = 0x636c697076697431ull;
  s->h[2] = 0x1234567887654321ull;
  s->h[3] = 0x0fedcba987654321ull;
  s->len = 0;
}

void lg_hash128_update(lg_hash128 *s, const void *data, size_t n) {
  const unsigned char *p = data;
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; k++) {
      uint64_t w;
      memcpy(&w, p + i + 8 * k, 8);
      s->h[k] = (s->h[k] ^ w) * 0x9e3779b97f4a7c15ull;
      s->h[k] ^= s->h[k] >> 29;
    }
  for (; i < n; i++) s->h[i & 3] = (s->h[i & 3] ^ p[i]) * 0x100000001b3ull;
  s->len += n;
}

void lg_hash128_hex(const lg_hash128 *s, char out[33]) {
  uint64_t a = lg_mix64(s->h[0] ^ lg_mix64(s->h[2] + s->len));
  uint64_t b = lg_mix64(s->h[1] ^ lg_mix64(s->h[3] ^ a));
  snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}
