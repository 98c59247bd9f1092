/*
 * hmac_sha1.c - SHA-1 as in FIPS 180-4 section 6.1, HMAC as in RFC 2104.
 * Checked against the FIPS examples and the RFC 2202 test cases
 * (tests/relay/test_hmac_sha1.c).
 */
#include "hmac_sha1.h"

#include <string.h>

#include <sodium.h>

static uint32_t rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static void compress(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 80; t++)
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    for (int t = 0; t < 80; t++) {
        uint32_t f, k, tmp;

        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        tmp = rol(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    sodium_memzero(w, sizeof(w));
}

void sha1_init(struct sha1_state *s)
{
    s->h[0] = 0x67452301;
    s->h[1] = 0xEFCDAB89;
    s->h[2] = 0x98BADCFE;
    s->h[3] = 0x10325476;
    s->h[4] = 0xC3D2E1F0;
    s->bytes = 0;
    s->fill = 0;
}

void sha1_update(struct sha1_state *s, const void *data, size_t len)
{
    const unsigned char *p = data;

    s->bytes += len;
    while (len > 0) {
        size_t n = SHA1_BLOCK - s->fill;

        if (n > len)
            n = len;
        memcpy(s->block + s->fill, p, n);
        s->fill += n;
        p += n;
        len -= n;
        if (s->fill == SHA1_BLOCK) {
            compress(s->h, s->block);
            s->fill = 0;
        }
    }
}

void sha1_final(struct sha1_state *s, unsigned char out[SHA1_BYTES])
{
    uint64_t bits = s->bytes * 8;
    unsigned char pad = 0x80;
    unsigned char len[8];

    sha1_update(s, &pad, 1);
    pad = 0;
    while (s->fill != SHA1_BLOCK - 8)
        sha1_update(s, &pad, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_update(s, len, 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s->h[i];
    }
    sodium_memzero(s, sizeof(*s));
}

void hmac_sha1_init(struct hmac_sha1_state *s, const void *key, size_t keylen)
{
    unsigned char k[SHA1_BLOCK] = {0};
    unsigned char ikey[SHA1_BLOCK];

    if (keylen > SHA1_BLOCK) {
        struct sha1_state h;

        sha1_init(&h);
        sha1_update(&h, key, keylen);
        sha1_final(&h, k);
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    for (int i = 0; i < SHA1_BLOCK; i++) {
        ikey[i] = k[i] ^ 0x36;
        s->okey[i] = k[i] ^ 0x5c;
    }
    sha1_init(&s->inner);
    sha1_update(&s->inner, ikey, SHA1_BLOCK);
    sodium_memzero(k, sizeof(k));
    sodium_memzero(ikey, sizeof(ikey));
}

void hmac_sha1_update(struct hmac_sha1_state *s, const void *data, size_t len)
{
    sha1_update(&s->inner, data, len);
}

void hmac_sha1_final(struct hmac_sha1_state *s, unsigned char out[SHA1_BYTES])
{
    unsigned char ih[SHA1_BYTES];
    struct sha1_state outer;

    sha1_final(&s->inner, ih);
    sha1_init(&outer);
    sha1_update(&outer, s->okey, SHA1_BLOCK);
    sha1_update(&outer, ih, SHA1_BYTES);
    sha1_final(&outer, out);
    sodium_memzero(ih, sizeof(ih));
    sodium_memzero(s, sizeof(*s));
}

void hmac_sha1(const void *key, size_t keylen, const void *data, size_t len,
               unsigned char out[SHA1_BYTES])
{
    struct hmac_sha1_state s;

    hmac_sha1_init(&s, key, keylen);
    hmac_sha1_update(&s, data, len);
    hmac_sha1_final(&s, out);
}
