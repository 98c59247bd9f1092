/* Unit tests for relay/conn_limit.c: per-key maximum, release, bounded
 * table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "conn_limit.h"
#include "error.h"

static void test_max_per_key(void **state)
{
    struct conn_limit *cl = conn_limit_create(16, 3);
    struct conn_limit_stats st;

    assert_non_null(cl);
    for (int i = 0; i < 3; i++)
        assert_int_equal(conn_limit_acquire(cl, "192.0.2.1"), RELAY_OK);
    assert_int_equal(conn_limit_acquire(cl, "192.0.2.1"), RELAY_ETOOBIG);
    assert_int_equal(conn_limit_count(cl, "192.0.2.1"), 3);
    /* Another address is not affected. */
    assert_int_equal(conn_limit_acquire(cl, "2001:db8::1"), RELAY_OK);
    /* One closes: one more may open. */
    assert_int_equal(conn_limit_release(cl, "192.0.2.1"), RELAY_OK);
    assert_int_equal(conn_limit_acquire(cl, "192.0.2.1"), RELAY_OK);
    assert_int_equal(conn_limit_acquire(cl, "192.0.2.1"), RELAY_ETOOBIG);
    conn_limit_stats(cl, &st);
    assert_int_equal(st.keys, 2);
    assert_int_equal(st.refused_key, 2);
    assert_int_equal(st.refused_table, 0);
    conn_limit_destroy(cl);
}

static void test_release_to_zero_forgets_the_key(void **state)
{
    struct conn_limit *cl = conn_limit_create(1, 2);
    struct conn_limit_stats st;

    assert_int_equal(conn_limit_acquire(cl, "a"), RELAY_OK);
    assert_int_equal(conn_limit_acquire(cl, "a"), RELAY_OK);
    /* Table of one: a second key has no room while "a" is open. */
    assert_int_equal(conn_limit_acquire(cl, "b"), RELAY_EFULL);
    assert_int_equal(conn_limit_release(cl, "a"), RELAY_OK);
    assert_int_equal(conn_limit_acquire(cl, "b"), RELAY_EFULL);
    assert_int_equal(conn_limit_release(cl, "a"), RELAY_OK);
    assert_int_equal(conn_limit_count(cl, "a"), 0);
    conn_limit_stats(cl, &st);
    assert_int_equal(st.keys, 0);
    assert_int_equal(st.refused_table, 2);
    /* The slot is free again. */
    assert_int_equal(conn_limit_acquire(cl, "b"), RELAY_OK);
    /* Releasing what was never counted changes nothing. */
    assert_int_equal(conn_limit_release(cl, "a"), RELAY_ENOTFOUND);
    assert_int_equal(conn_limit_count(cl, "b"), 1);
    conn_limit_destroy(cl);
}

static void test_bad_arguments(void **state)
{
    struct conn_limit *cl = conn_limit_create(4, 1);
    char long_key[CONN_LIMIT_KEY_MAX + 2];

    assert_null(conn_limit_create(0, 1));
    assert_null(conn_limit_create(4, 0));
    memset(long_key, '1', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(conn_limit_acquire(cl, long_key), RELAY_EINVAL);
    assert_int_equal(conn_limit_acquire(cl, ""), RELAY_EINVAL);
    assert_int_equal(conn_limit_acquire(cl, NULL), RELAY_EINVAL);
    assert_int_equal(conn_limit_release(cl, NULL), RELAY_ENOTFOUND);
    assert_int_equal(conn_limit_count(cl, NULL), 0);
    conn_limit_destroy(cl);
    conn_limit_destroy(NULL);
}

/* Many addresses opening and closing in waves: counts stay exact and the
 * table ends empty. */
static void test_many_keys_churn(void **state)
{
    enum { N = 5000 };
    struct conn_limit *cl = conn_limit_create(N, 2);
    struct conn_limit_stats st;
    char key[48];

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof(key), "10.%d.%d.%d", round, i / 256, i % 256);
            assert_int_equal(conn_limit_acquire(cl, key), RELAY_OK);
            assert_int_equal(conn_limit_acquire(cl, key), RELAY_OK);
            assert_int_equal(conn_limit_acquire(cl, key), RELAY_ETOOBIG);
        }
        conn_limit_stats(cl, &st);
        assert_int_equal(st.keys, N);
        snprintf(key, sizeof(key), "spare");
        assert_int_equal(conn_limit_acquire(cl, key), RELAY_EFULL);
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof(key), "10.%d.%d.%d", round, i / 256, i % 256);
            assert_int_equal(conn_limit_count(cl, key), 2);
            assert_int_equal(conn_limit_release(cl, key), RELAY_OK);
            assert_int_equal(conn_limit_release(cl, key), RELAY_OK);
        }
        conn_limit_stats(cl, &st);
        assert_int_equal(st.keys, 0);
    }
    conn_limit_destroy(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_per_key),
        cmocka_unit_test(test_release_to_zero_forgets_the_key),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_many_keys_churn),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
