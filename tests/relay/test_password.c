/* Unit tests for relay/password.c: Argon2id hash and verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "error.h"
#include "password.h"

static void test_hash_then_verify(void **state)
{
    char hash[PASSWORD_HASH_MAX];
    const char *pw = "correct horse battery staple";

    assert_int_equal(password_hash(pw, strlen(pw), hash), RELAY_OK);
    assert_memory_equal(hash, "$argon2id$", 10);
    assert_int_equal(password_verify(hash, pw, strlen(pw)), RELAY_OK);
    assert_int_equal(password_needs_rehash(hash), 0);
}

static void test_wrong_password_fails(void **state)
{
    char hash[PASSWORD_HASH_MAX];
    const char *pw = "hunter2hunter2";

    assert_int_equal(password_hash(pw, strlen(pw), hash), RELAY_OK);
    assert_int_equal(password_verify(hash, "hunter2hunter3", 14), RELAY_EAUTH);
    assert_int_equal(password_verify(hash, pw, strlen(pw) - 1), RELAY_EAUTH);
    assert_int_equal(password_verify(hash, "", 0), RELAY_EAUTH);
}

static void test_same_password_different_salt(void **state)
{
    char a[PASSWORD_HASH_MAX], b[PASSWORD_HASH_MAX];

    assert_int_equal(password_hash("samesame", 8, a), RELAY_OK);
    assert_int_equal(password_hash("samesame", 8, b), RELAY_OK);
    assert_string_not_equal(a, b);
}

static void test_too_short_and_too_long_are_refused(void **state)
{
    static char big[PASSWORD_MAX_LEN + 1];
    char hash[PASSWORD_HASH_MAX];

    memset(hash, 0x5a, sizeof(hash));
    assert_int_equal(password_hash("short", 5, hash), RELAY_EINVAL);
    assert_int_equal(password_hash("", 0, hash), RELAY_EINVAL);
    assert_int_equal(password_hash("1234567", PASSWORD_MIN_LEN - 1, hash),
                     RELAY_EINVAL);
    memset(big, 'x', sizeof(big));
    assert_int_equal(password_hash(big, sizeof(big), hash), RELAY_EINVAL);
    assert_int_equal((unsigned char)hash[0], 0x5a); /* untouched */
    assert_int_equal(password_hash(big, PASSWORD_MAX_LEN, hash), RELAY_OK);
    assert_int_equal(password_verify(hash, big, PASSWORD_MAX_LEN), RELAY_OK);
    assert_int_equal(password_verify(hash, big, sizeof(big)), RELAY_EAUTH);
}

static void test_malformed_hash_fails(void **state)
{
    char unterminated[PASSWORD_HASH_MAX];

    memset(unterminated, 'a', sizeof(unterminated));
    assert_int_equal(password_verify("", "password", 8), RELAY_EAUTH);
    assert_int_equal(password_verify("$argon2id$nonsense", "password", 8),
                     RELAY_EAUTH);
    assert_int_equal(password_verify(unterminated, "password", 8), RELAY_EAUTH);
    assert_int_equal(password_needs_rehash("$2y$10$bcrypt"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_then_verify),
        cmocka_unit_test(test_wrong_password_fails),
        cmocka_unit_test(test_same_password_different_salt),
        cmocka_unit_test(test_too_short_and_too_long_are_refused),
        cmocka_unit_test(test_malformed_hash_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
