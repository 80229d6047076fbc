/*
** A fast 128-bit non-cryptographic hash, used as a content key: the model fingerprint
** (model_load.c) and the image key of the SQL map cache (ext/cache.c).
**
**   lg_hash128 h;  lg_hash128_init(&h);
**   lg_hash128_update(&h, data, n);  ...          // any number of calls
**   char hex[33];  lg_hash128_hex(&h, hex);        // 32 lower-case hex digits
**
** Four 64-bit lanes take 8-byte words in turn (xor, multiply by the golden-ratio constant, xorshift);
** bytes that do not fill a 32-byte block go into the lanes one at a time (FNV-style); the total
** length and a splitmix64 finaliser combine the lanes.  The digest depends on how the input is split
** into update calls (a call's tail bytes are hashed bytewise), so callers hash the same way every
** time.  Not collision-resistant against an adversary; accidental collisions are negligible.
** (Moved out of model_load.c unchanged by helper D2 so the extension can share it.)
*/
#ifndef LEGRAD_HASH128_H
#define LEGRAD_HASH128_H
#include <stddef.h>
#include <stdint.h>

typedef struct lg_hash128 {
  uint64_t h[4];
  uint64_t len;
} lg_hash128;

void lg_hash128_init(lg_hash128 *s);
void lg_hash128_update(lg_hash128 *s, const void *data, size_t n);
/* Writes the digest as 32 hex digits + NUL (does not modify s). */
void lg_hash128_hex(const lg_hash128 *s, char out[33]);

/* The splitmix64 finaliser: a bijective 64-bit mixer (also used for hash-table slots). */
uint64_t lg_mix64(uint64_t x);

#endif
