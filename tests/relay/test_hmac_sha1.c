/*
 * test_hmac_sha1.c - relay/hmac_sha1.c against FIPS 180 SHA-1 examples,
 * the seven RFC 2202 HMAC-SHA1 test cases, and the incremental API fed
 * byte by byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hmac_sha1.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_sha1_fips(void **state)
{
    static const struct {
        const char *msg;
        const char *digest;
    } v[] = {
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    unsigned char d[SHA1_BYTES];
    char h[2 * SHA1_BYTES + 1];
    struct sha1_state s;

    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        sha1_init(&s);
        sha1_update(&s, v[i].msg, strlen(v[i].msg));
        sha1_final(&s, d);
        hex(d, SHA1_BYTES, h);
        assert_string_equal(h, v[i].digest);
    }
    /* one million 'a' */
    sha1_init(&s);
    for (int i = 0; i < 1000; i++) {
        char a[1000];

        memset(a, 'a', sizeof(a));
        sha1_update(&s, a, sizeof(a));
    }
    sha1_final(&s, d);
    hex(d, SHA1_BYTES, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_rfc2202(void **state)
{
    unsigned char k1[20], k3[20], k4[25], k5[20], k6[80];
    unsigned char d3[50], d4[50];
    struct {
        const unsigned char *key;
        size_t keylen;
        const void *data;
        size_t len;
        const char *mac;
    } v[7];
    unsigned char mac[SHA1_BYTES];
    char h[2 * SHA1_BYTES + 1];

    (void)state;
    memset(k1, 0x0b, sizeof(k1));
    memset(k3, 0xaa, sizeof(k3));
    for (int i = 0; i < 25; i++)
        k4[i] = (unsigned char)(i + 1);
    memset(k5, 0x0c, sizeof(k5));
    memset(k6, 0xaa, sizeof(k6));
    memset(d3, 0xdd, sizeof(d3));
    memset(d4, 0xcd, sizeof(d4));
    v[0].key = k1;
    v[0].keylen = 20;
    v[0].data = "Hi There";
    v[0].len = 8;
    v[0].mac = "b617318655057264e28bc0b6fb378c8ef146be00";
    v[1].key = (const unsigned char *)"Jefe";
    v[1].keylen = 4;
    v[1].data = "what do ya want for nothing?";
    v[1].len = 28;
    v[1].mac = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";
    v[2].key = k3;
    v[2].keylen = 20;
    v[2].data = d3;
    v[2].len = 50;
    v[2].mac = "125d7342b9ac11cd91a39af48aa17b4f63f175d3";
    v[3].key = k4;
    v[3].keylen = 25;
    v[3].data = d4;
    v[3].len = 50;
    v[3].mac = "4c9007f4026250c6bc8414f9bf50c86c2d7235da";
    v[4].key = k5;
    v[4].keylen = 20;
    v[4].data = "Test With Truncation";
    v[4].len = 20;
    v[4].mac = "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04";
    v[5].key = k6;
    v[5].keylen = 80;
    v[5].data = "Test Using Larger Than Block-Size Key - Hash Key First";
    v[5].len = 54;
    v[5].mac = "aa4ae5e15272d00e95705637ce8a3b55ed402112";
    v[6].key = k6;
    v[6].keylen = 80;
    v[6].data = "Test Using Larger Than Block-Size Key and Larger Than One "
                "Block-Size Data";
    v[6].len = 73;
    v[6].mac = "e8e99d0f45237d786d6bbaa7965c7808bbff1a91";
    for (int i = 0; i < 7; i++) {
        struct hmac_sha1_state s;

        hmac_sha1(v[i].key, v[i].keylen, v[i].data, v[i].len, mac);
        hex(mac, SHA1_BYTES, h);
        assert_string_equal(h, v[i].mac);
        /* the same, fed one byte at a time */
        hmac_sha1_init(&s, v[i].key, v[i].keylen);
        for (size_t j = 0; j < v[i].len; j++)
            hmac_sha1_update(&s, (const unsigned char *)v[i].data + j, 1);
        hmac_sha1_final(&s, mac);
        hex(mac, SHA1_BYTES, h);
        assert_string_equal(h, v[i].mac);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_fips),
        cmocka_unit_test(test_rfc2202),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
