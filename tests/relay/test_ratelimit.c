/* Unit tests for relay/ratelimit.c: refill math, burst, retry_after,
 * bounded memory and eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "ratelimit.h"

#define EPS 1e-9

static void assert_near(double got, double want)
{
    if (got < want - EPS || got > want + EPS)
        fail_msg("got %.12f, want %.12f", got, want);
}

static void test_burst_then_limited(void **state)
{
    struct ratelimit *rl = ratelimit_create(16, 2.0, 5.0);
    double retry = -1;

    assert_non_null(rl);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ratelimit_take(rl, "u1", 1000, 1.0, &retry),
                         RATELIMIT_ALLOWED);
        assert_near(retry, 0);
    }
    assert_int_equal(ratelimit_take(rl, "u1", 1000, 1.0, &retry),
                     RATELIMIT_LIMITED);
    /* 1 token at 2 per second: exactly half a second. */
    assert_near(retry, 0.5);
    /* Another key has its own full bucket. */
    assert_int_equal(ratelimit_take(rl, "u2", 1000, 5.0, &retry),
                     RATELIMIT_ALLOWED);
    ratelimit_destroy(rl);
}

static void test_retry_after_is_exact(void **state)
{
    struct ratelimit *rl = ratelimit_create(4, 2.0, 5.0);
    double retry = 0;

    assert_int_equal(ratelimit_take(rl, "k", 0, 5.0, NULL), RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "k", 0, 1.0, &retry),
                     RATELIMIT_LIMITED);
    assert_near(retry, 0.5);
    /* One millisecond early is still too early, by one millisecond. */
    assert_int_equal(ratelimit_take(rl, "k", 499, 1.0, &retry),
                     RATELIMIT_LIMITED);
    assert_near(retry, 0.001);
    /* Coming back exactly when told works. */
    assert_int_equal(ratelimit_take(rl, "k", 500, 1.0, &retry),
                     RATELIMIT_ALLOWED);
    /* A bigger cost waits proportionally longer: 3 tokens = 1.5 s. */
    assert_int_equal(ratelimit_take(rl, "k", 500, 3.0, &retry),
                     RATELIMIT_LIMITED);
    assert_near(retry, 1.5);
    assert_int_equal(ratelimit_take(rl, "k", 2000, 3.0, &retry),
                     RATELIMIT_ALLOWED);
    ratelimit_destroy(rl);
}

static void test_refill_is_capped_at_burst(void **state)
{
    struct ratelimit *rl = ratelimit_create(4, 10.0, 3.0);
    double retry = 0;

    assert_int_equal(ratelimit_take(rl, "k", 0, 3.0, NULL), RATELIMIT_ALLOWED);
    /* An hour later there are 3 tokens, not 36000. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ratelimit_take(rl, "k", 3600000, 1.0, NULL),
                         RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "k", 3600000, 1.0, &retry),
                     RATELIMIT_LIMITED);
    assert_near(retry, 0.1);
    ratelimit_destroy(rl);
}

static void test_fractional_rate_and_cost(void **state)
{
    /* 5 per 10 minutes (a report limit from the research notes). */
    struct ratelimit *rl = ratelimit_create(4, 5.0 / 600.0, 5.0);
    double retry = 0;

    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_take(rl, "res", 0, 1.0, NULL),
                         RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "res", 0, 1.0, &retry),
                     RATELIMIT_LIMITED);
    assert_near(retry, 120.0);
    assert_int_equal(ratelimit_take(rl, "res", 60000, 1.0, &retry),
                     RATELIMIT_LIMITED);
    assert_near(retry, 60.0);
    assert_int_equal(ratelimit_take(rl, "res", 120000, 1.0, NULL),
                     RATELIMIT_ALLOWED);
    /* Half-token costs. */
    assert_int_equal(ratelimit_take(rl, "half", 0, 0.5, NULL),
                     RATELIMIT_ALLOWED);
    ratelimit_destroy(rl);
}

static void test_refused_take_takes_nothing(void **state)
{
    struct ratelimit *rl = ratelimit_create(4, 1.0, 2.0);
    double retry = 0;

    assert_int_equal(ratelimit_take(rl, "k", 0, 2.0, NULL), RATELIMIT_ALLOWED);
    for (int i = 0; i < 100; i++)
        assert_int_equal(ratelimit_take(rl, "k", 0, 1.0, NULL),
                         RATELIMIT_LIMITED);
    /* Hammering while limited did not push the wait further out. */
    assert_int_equal(ratelimit_take(rl, "k", 1000, 1.0, &retry),
                     RATELIMIT_ALLOWED);
    ratelimit_destroy(rl);
}

static void test_clock_going_back_adds_nothing(void **state)
{
    struct ratelimit *rl = ratelimit_create(4, 1.0, 1.0);
    double retry = 0;

    assert_int_equal(ratelimit_take(rl, "k", 10000, 1.0, NULL),
                     RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "k", 5000, 1.0, &retry),
                     RATELIMIT_LIMITED);
    assert_near(retry, 1.0);
    assert_int_equal(ratelimit_take(rl, "k", 10999, 1.0, NULL),
                     RATELIMIT_LIMITED);
    assert_int_equal(ratelimit_take(rl, "k", 11000, 1.0, NULL),
                     RATELIMIT_ALLOWED);
    ratelimit_destroy(rl);
}

static void test_bad_arguments(void **state)
{
    struct ratelimit *rl = ratelimit_create(4, 1.0, 2.0);
    char long_key[RATELIMIT_KEY_MAX + 2];

    assert_null(ratelimit_create(0, 1.0, 1.0));
    assert_null(ratelimit_create(4, 0.0, 1.0));
    assert_null(ratelimit_create(4, -1.0, 1.0));
    assert_null(ratelimit_create(4, 1.0, 0.0));
    assert_null(ratelimit_create(KEYTAB_CAPACITY_MAX + 1, 1.0, 1.0));
    memset(long_key, 'a', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(ratelimit_take(rl, long_key, 0, 1.0, NULL), RELAY_EINVAL);
    long_key[RATELIMIT_KEY_MAX] = '\0'; /* exactly the maximum: fine */
    assert_int_equal(ratelimit_take(rl, long_key, 0, 1.0, NULL),
                     RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "", 0, 1.0, NULL), RELAY_EINVAL);
    assert_int_equal(ratelimit_take(rl, NULL, 0, 1.0, NULL), RELAY_EINVAL);
    assert_int_equal(ratelimit_take(rl, "k", 0, 0.0, NULL), RELAY_EINVAL);
    assert_int_equal(ratelimit_take(rl, "k", 0, 3.0, NULL), RELAY_EINVAL);
    assert_int_equal(ratelimit_take(NULL, "k", 0, 1.0, NULL), RELAY_EINVAL);
    ratelimit_destroy(rl);
    ratelimit_destroy(NULL);
}

static void test_eviction_keeps_memory_bounded(void **state)
{
    struct ratelimit *rl = ratelimit_create(8, 1.0, 1.0);
    struct ratelimit_stats st;
    char key[32];

    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
        assert_int_equal(ratelimit_take(rl, key, 0, 1.0, NULL),
                         RATELIMIT_ALLOWED);
        ratelimit_stats(rl, &st);
        assert_true(st.keys <= 8);
    }
    ratelimit_stats(rl, &st);
    assert_int_equal(st.keys, 8);
    assert_int_equal(st.capacity, 8);
    assert_int_equal(st.evicted, 992);
    /* All drained at t=0: every eviction lost a live bucket. */
    assert_int_equal(st.evicted_active, 992);
    assert_int_equal(st.allowed, 1000);
    ratelimit_destroy(rl);
}

static void test_eviction_is_least_recently_used(void **state)
{
    struct ratelimit *rl = ratelimit_create(3, 1.0, 1.0);
    struct ratelimit_stats st;

    assert_int_equal(ratelimit_take(rl, "a", 0, 1.0, NULL), RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "b", 0, 1.0, NULL), RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "c", 0, 1.0, NULL), RATELIMIT_ALLOWED);
    /* Touch "a" (refused, but still used) so "b" is the oldest. */
    assert_int_equal(ratelimit_take(rl, "a", 0, 1.0, NULL), RATELIMIT_LIMITED);
    assert_int_equal(ratelimit_take(rl, "d", 0, 1.0, NULL), RATELIMIT_ALLOWED);
    /* "a" and "c" kept their drained buckets ... */
    assert_int_equal(ratelimit_take(rl, "a", 0, 1.0, NULL), RATELIMIT_LIMITED);
    assert_int_equal(ratelimit_take(rl, "c", 0, 1.0, NULL), RATELIMIT_LIMITED);
    /* ... "b" was evicted and starts over (this evicts "d"). */
    assert_int_equal(ratelimit_take(rl, "b", 0, 1.0, NULL), RATELIMIT_ALLOWED);
    ratelimit_stats(rl, &st);
    assert_int_equal(st.evicted, 2);
    ratelimit_destroy(rl);
}

static void test_evicting_refilled_buckets_is_not_active(void **state)
{
    struct ratelimit *rl = ratelimit_create(2, 1.0, 2.0);
    struct ratelimit_stats st;

    assert_int_equal(ratelimit_take(rl, "a", 0, 1.0, NULL), RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "b", 0, 1.0, NULL), RATELIMIT_ALLOWED);
    /* 1 s later both have refilled to 2: evicting "a" loses nothing. */
    assert_int_equal(ratelimit_take(rl, "c", 1000, 1.0, NULL),
                     RATELIMIT_ALLOWED);
    ratelimit_stats(rl, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.evicted_active, 0);
    /* Now "c" is the oldest: 1 token at 1000 ms, 1.5 at 1500 ms, not
     * yet refilled, so evicting it counts as active. */
    assert_int_equal(ratelimit_take(rl, "b", 1000, 2.0, NULL),
                     RATELIMIT_ALLOWED);
    assert_int_equal(ratelimit_take(rl, "d", 1500, 1.0, NULL),
                     RATELIMIT_ALLOWED);
    ratelimit_stats(rl, &st);
    assert_int_equal(st.evicted, 2);
    assert_int_equal(st.evicted_active, 1);
    ratelimit_destroy(rl);
}

/* Many keys in a big table: every key is found again with its own state. */
static void test_many_keys(void **state)
{
    enum { N = 20000 };
    struct ratelimit *rl = ratelimit_create(N, 1.0, 2.0);
    struct ratelimit_stats st;
    char key[32];

    assert_non_null(rl);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "u%016x", (unsigned)i * 2654435761u);
        assert_int_equal(ratelimit_take(rl, key, 0, 1.0, NULL),
                         RATELIMIT_ALLOWED);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "u%016x", (unsigned)i * 2654435761u);
        assert_int_equal(ratelimit_take(rl, key, 0, 1.0, NULL),
                         RATELIMIT_ALLOWED);
        assert_int_equal(ratelimit_take(rl, key, 0, 1.0, NULL),
                         RATELIMIT_LIMITED);
    }
    ratelimit_stats(rl, &st);
    assert_int_equal(st.keys, N);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.allowed, 2 * N);
    assert_int_equal(st.limited, N);
    ratelimit_destroy(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_limited),
        cmocka_unit_test(test_retry_after_is_exact),
        cmocka_unit_test(test_refill_is_capped_at_burst),
        cmocka_unit_test(test_fractional_rate_and_cost),
        cmocka_unit_test(test_refused_take_takes_nothing),
        cmocka_unit_test(test_clock_going_back_adds_nothing),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_eviction_keeps_memory_bounded),
        cmocka_unit_test(test_eviction_is_least_recently_used),
        cmocka_unit_test(test_evicting_refilled_buckets_is_not_active),
        cmocka_unit_test(test_many_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
