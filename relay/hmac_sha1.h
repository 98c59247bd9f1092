/*
 * hmac_sha1.h - SHA-1 and HMAC-SHA1 (FIPS 180-4, RFC 2104).
 *
 * WHY this exists: Twilio signs its webhooks with HMAC-SHA1, libsodium
 * has no SHA-1, and OpenSSL is not a dependency. SHA-1 is broken for
 * collision resistance but HMAC-SHA1 is still a sound MAC; use it only
 * where a provider demands it, never for anything of our own (that is
 * crypto_auth_hmacsha256 / BLAKE2b in libsodium).
 *
 * The state lives in caller storage; hmac_sha1_final() wipes it. No
 * allocation, no logging, thread-safe.
 */
#ifndef RELAY_HMAC_SHA1_H
#define RELAY_HMAC_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_BYTES 20
#define SHA1_BLOCK 64

struct sha1_state {
    uint32_t h[5];
    uint64_t bytes;                  /* message length so far */
    unsigned char block[SHA1_BLOCK]; /* partial block */
    size_t fill;                     /* bytes in block */
};

struct hmac_sha1_state {
    struct sha1_state inner;
    unsigned char okey[SHA1_BLOCK]; /* key ^ opad, for final */
};

void sha1_init(struct sha1_state *s);
void sha1_update(struct sha1_state *s, const void *data, size_t len);
/* Writes the digest and wipes the state. */
void sha1_final(struct sha1_state *s, unsigned char out[SHA1_BYTES]);

/* Incremental HMAC-SHA1 under a key of any length. */
void hmac_sha1_init(struct hmac_sha1_state *s, const void *key, size_t keylen);
void hmac_sha1_update(struct hmac_sha1_state *s, const void *data, size_t len);
void hmac_sha1_final(struct hmac_sha1_state *s, unsigned char out[SHA1_BYTES]);

/* One-shot HMAC-SHA1. */
void hmac_sha1(const void *key, size_t keylen, const void *data, size_t len,
               unsigned char out[SHA1_BYTES]);

#endif
