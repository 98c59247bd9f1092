/* Unit tests for relay/pii.c: field encryption, blind index, E.164. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "error.h"
#include "pii.h"

#define PHONE "+31612345678"
#define CTX "user|phone|u0123456789abcdef"

static unsigned char key[PII_KEY_BYTES];
static unsigned char other_key[PII_KEY_BYTES];

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char)i;
        other_key[i] = (unsigned char)(i + 1);
    }
    return 0;
}

static void seal(const char *plain, char *text, size_t cap)
{
    assert_int_equal(pii_encrypt(key, CTX, plain, strlen(plain), text, cap),
                     RELAY_OK);
}

static void test_roundtrip(void **state)
{
    char text[256], plain[64];
    size_t len = 0;

    seal(PHONE, text, sizeof(text));
    assert_memory_equal(text, "k1:", 3);
    assert_int_equal(strlen(text) + 1, pii_text_len(strlen(PHONE)));
    assert_null(strstr(text, "3161234"));
    assert_int_equal(pii_decrypt(key, CTX, text, plain, sizeof(plain), &len),
                     RELAY_OK);
    assert_string_equal(plain, PHONE);
    assert_int_equal(len, strlen(PHONE));
}

static void test_random_nonce_each_time(void **state)
{
    char a[256], b[256];

    seal(PHONE, a, sizeof(a));
    seal(PHONE, b, sizeof(b));
    assert_string_not_equal(a, b);
}

static void test_empty_and_longest_fields(void **state)
{
    static char big[PII_PLAIN_MAX + 1];
    static char text[PII_PLAIN_MAX * 2];
    static char plain[PII_PLAIN_MAX + 1];
    size_t len = 99;

    assert_int_equal(pii_encrypt(key, CTX, "", 0, text, sizeof(text)),
                     RELAY_OK);
    assert_int_equal(pii_decrypt(key, CTX, text, plain, sizeof(plain), &len),
                     RELAY_OK);
    assert_int_equal(len, 0);
    memset(big, 'x', PII_PLAIN_MAX);
    assert_int_equal(
        pii_encrypt(key, CTX, big, PII_PLAIN_MAX, text, sizeof(text)),
        RELAY_OK);
    assert_int_equal(pii_decrypt(key, CTX, text, plain, sizeof(plain), &len),
                     RELAY_OK);
    assert_int_equal(len, PII_PLAIN_MAX);
    assert_int_equal(
        pii_encrypt(key, CTX, big, PII_PLAIN_MAX + 1, text, sizeof(text)),
        RELAY_EINVAL);
}

static void test_wrong_context_fails(void **state)
{
    char text[256], plain[64];

    seal(PHONE, text, sizeof(text));
    assert_int_equal(pii_decrypt(key, "user|phone|u0123456789abcdee", text,
                                 plain, sizeof(plain), NULL),
                     RELAY_EAUTH);
    assert_int_equal(pii_decrypt(key, "case|phone|u0123456789abcdef", text,
                                 plain, sizeof(plain), NULL),
                     RELAY_EAUTH);
    assert_int_equal(pii_decrypt(key, "", text, plain, sizeof(plain), NULL),
                     RELAY_EINVAL);
}

static void test_wrong_key_fails(void **state)
{
    char text[256], plain[64];

    seal(PHONE, text, sizeof(text));
    assert_int_equal(
        pii_decrypt(other_key, CTX, text, plain, sizeof(plain), NULL),
        RELAY_EAUTH);
}

static void test_tamper_fails(void **state)
{
    char text[256], bad[256], plain[64];
    size_t n;

    seal(PHONE, text, sizeof(text));
    n = strlen(text);
    /* every position of the base64 body, one character changed */
    for (size_t i = 3; i < n; i++) {
        memcpy(bad, text, n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        if (bad[i] == text[i])
            continue;
        assert_int_equal(pii_decrypt(key, CTX, bad, plain, sizeof(plain), NULL),
                         RELAY_EAUTH);
    }
    memcpy(bad, text, n + 1);
    bad[1] = '2'; /* unknown key id */
    assert_int_equal(pii_decrypt(key, CTX, bad, plain, sizeof(plain), NULL),
                     RELAY_EAUTH);
    memcpy(bad, text, n + 1);
    bad[n - 8] = '\0'; /* truncated */
    assert_int_equal(pii_decrypt(key, CTX, bad, plain, sizeof(plain), NULL),
                     RELAY_EAUTH);
    assert_int_equal(pii_decrypt(key, CTX, "k1:", plain, sizeof(plain), NULL),
                     RELAY_EAUTH);
    assert_int_equal(pii_decrypt(key, CTX, PHONE, plain, sizeof(plain), NULL),
                     RELAY_EAUTH);
    assert_int_equal(pii_decrypt(key, CTX, "", plain, sizeof(plain), NULL),
                     RELAY_EAUTH);
}

static void test_buffers_too_small(void **state)
{
    char text[256], plain[64];

    assert_int_equal(pii_encrypt(key, CTX, PHONE, strlen(PHONE), text,
                                 pii_text_len(strlen(PHONE)) - 1),
                     RELAY_ETOOBIG);
    seal(PHONE, text, sizeof(text));
    assert_int_equal(pii_decrypt(key, CTX, text, plain, strlen(PHONE), NULL),
                     RELAY_ETOOBIG);
    assert_int_equal(
        pii_decrypt(key, CTX, text, plain, strlen(PHONE) + 1, NULL), RELAY_OK);
}

static void test_blind_index_stable_and_keyed(void **state)
{
    char a[PII_INDEX_HEX_BYTES], b[PII_INDEX_HEX_BYTES];
    char c[PII_INDEX_HEX_BYTES], d[PII_INDEX_HEX_BYTES];

    assert_int_equal(pii_blind_index(key, PHONE, a), RELAY_OK);
    assert_int_equal(pii_blind_index(key, PHONE, b), RELAY_OK);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    assert_int_equal(pii_blind_index(other_key, PHONE, c), RELAY_OK);
    assert_string_not_equal(a, c);
    assert_int_equal(pii_blind_index(key, "+31612345679", d), RELAY_OK);
    assert_string_not_equal(a, d);
    assert_int_equal(pii_blind_index(key, "", d), RELAY_EINVAL);
}

static void test_phone_validation(void **state)
{
    static const char *const good[] = {
        "+31612345678",
        "+12345678",
        "+123456789012345",
        "+442071234567",
    };
    static const char *const bad[] = {
        "",
        "+",
        "31612345678",
        "+031612345678",
        "+1234567",
        "+1234567890123456",
        "+31 612345678",
        "+31-612345678",
        "+3161234567a",
        "0612345678",
        "++31612345678",
        "+31612345678\n",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(pii_phone_valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pii_phone_valid(bad[i]))
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_false(pii_phone_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_random_nonce_each_time),
        cmocka_unit_test(test_empty_and_longest_fields),
        cmocka_unit_test(test_wrong_context_fails),
        cmocka_unit_test(test_wrong_key_fails),
        cmocka_unit_test(test_tamper_fails),
        cmocka_unit_test(test_buffers_too_small),
        cmocka_unit_test(test_blind_index_stable_and_keyed),
        cmocka_unit_test(test_phone_validation),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
