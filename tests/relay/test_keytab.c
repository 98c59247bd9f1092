/* Unit tests for relay/keytab.c: find/insert/remove, LRU order, slot
 * reuse, fixed capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "keytab.h"

static void test_insert_find_remove(void **state)
{
    struct keytab *t = keytab_create(4);
    long a, b;

    assert_non_null(t);
    assert_int_equal(keytab_capacity(t), 4);
    assert_int_equal(keytab_find(t, "a"), -1);
    a = keytab_insert(t, "a");
    b = keytab_insert(t, "b");
    assert_true(a >= 0 && a < 4 && b >= 0 && b < 4 && a != b);
    assert_int_equal(keytab_find(t, "a"), a);
    assert_int_equal(keytab_find(t, "b"), b);
    assert_string_equal(keytab_key(t, a), "a");
    assert_int_equal(keytab_count(t), 2);
    keytab_remove(t, a);
    assert_int_equal(keytab_find(t, "a"), -1);
    assert_int_equal(keytab_find(t, "b"), b);
    assert_int_equal(keytab_count(t), 1);
    keytab_destroy(t);
}

static void test_full_table_refuses(void **state)
{
    struct keytab *t = keytab_create(2);

    assert_true(keytab_insert(t, "a") >= 0);
    assert_true(keytab_insert(t, "b") >= 0);
    assert_int_equal(keytab_insert(t, "c"), -1);
    keytab_remove(t, keytab_find(t, "a"));
    assert_true(keytab_insert(t, "c") >= 0);
    assert_int_equal(keytab_count(t), 2);
    keytab_destroy(t);
}

static void test_lru_order(void **state)
{
    struct keytab *t = keytab_create(8);

    assert_int_equal(keytab_lru(t), -1);
    keytab_insert(t, "a");
    keytab_insert(t, "b");
    keytab_insert(t, "c");
    assert_string_equal(keytab_key(t, keytab_lru(t)), "a");
    keytab_touch(t, keytab_find(t, "a"));
    assert_string_equal(keytab_key(t, keytab_lru(t)), "b");
    keytab_touch(t, keytab_find(t, "a")); /* already most recent */
    assert_string_equal(keytab_key(t, keytab_lru(t)), "b");
    keytab_touch(t, keytab_find(t, "c")); /* order now c, a, b */
    keytab_remove(t, keytab_find(t, "b"));
    assert_string_equal(keytab_key(t, keytab_lru(t)), "a");
    keytab_remove(t, keytab_find(t, "a"));
    assert_string_equal(keytab_key(t, keytab_lru(t)), "c");
    keytab_remove(t, keytab_find(t, "c"));
    assert_int_equal(keytab_lru(t), -1);
    keytab_destroy(t);
}

static void test_keys_are_exact(void **state)
{
    struct keytab *t = keytab_create(8);
    char max[KEYTAB_KEY_MAX + 2];

    keytab_insert(t, "ab");
    assert_int_equal(keytab_find(t, "a"), -1);
    assert_int_equal(keytab_find(t, "abc"), -1);
    assert_int_equal(keytab_find(t, "AB"), -1);
    memset(max, 'x', sizeof(max) - 1);
    max[sizeof(max) - 1] = '\0';
    assert_false(keytab_key_valid(max));
    assert_int_equal(keytab_insert(t, max), -1);
    max[KEYTAB_KEY_MAX] = '\0';
    assert_true(keytab_key_valid(max));
    assert_true(keytab_insert(t, max) >= 0);
    assert_true(keytab_find(t, max) >= 0);
    assert_false(keytab_key_valid(""));
    assert_false(keytab_key_valid(NULL));
    assert_null(keytab_create(0));
    keytab_destroy(t);
    keytab_destroy(NULL);
}

/* Fill, empty in a scrambled order, refill: every key stays findable and
 * slots are reused. */
static void test_churn(void **state)
{
    enum { N = 3000 };
    struct keytab *t = keytab_create(N);
    char key[32];

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof(key), "r%dk%d", round, i);
            assert_true(keytab_insert(t, key) >= 0);
        }
        assert_int_equal(keytab_count(t), N);
        for (int j = 0; j < N; j++) {
            int i = (int)(((unsigned)j * 7919u) % N);
            long slot;

            snprintf(key, sizeof(key), "r%dk%d", round, i);
            slot = keytab_find(t, key);
            assert_true(slot >= 0);
            assert_string_equal(keytab_key(t, slot), key);
            keytab_remove(t, slot);
        }
        assert_int_equal(keytab_count(t), 0);
    }
    keytab_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_find_remove),
        cmocka_unit_test(test_full_table_refuses),
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_keys_are_exact),
        cmocka_unit_test(test_churn),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
