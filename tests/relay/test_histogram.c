/* Unit tests for relay/histogram.c: bucketing and the Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "histogram.h"

static void test_buckets_are_upper_bounds(void **state)
{
    struct histogram h;

    memset(&h, 0, sizeof(h));
    histogram_observe(&h, 0.0005); /* on the bound: that bucket */
    histogram_observe(&h, 0.0006);
    histogram_observe(&h, 3.0);
    histogram_observe(&h, 60.0); /* above every bound */
    assert_int_equal(h.counts[0], 1);
    assert_int_equal(h.counts[1], 1);
    assert_int_equal(h.counts[HISTOGRAM_BUCKETS - 1], 1);
    assert_int_equal(h.counts[HISTOGRAM_BUCKETS], 1);
    assert_int_equal(h.total, 4);
}

static void test_text_is_cumulative(void **state)
{
    struct histogram h;
    char out[4096];
    size_t n;

    memset(&h, 0, sizeof(h));
    histogram_observe(&h, 0.002);
    histogram_observe(&h, 0.002);
    histogram_observe(&h, 0.2);
    n = histogram_write(&h, "x_seconds", out, sizeof(out), 0);
    assert_true(n > 0 && n < sizeof(out));
    assert_non_null(strstr(out, "# TYPE x_seconds histogram\n"));
    assert_non_null(strstr(out, "x_seconds_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(out, "x_seconds_bucket{le=\"0.0025\"} 2\n"));
    assert_non_null(strstr(out, "x_seconds_bucket{le=\"0.25\"} 3\n"));
    assert_non_null(strstr(out, "x_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out, "x_seconds_count 3\n"));
    assert_non_null(strstr(out, "x_seconds_sum 0.204000\n"));
}

static void test_never_writes_past_cap(void **state)
{
    struct histogram h;
    char out[64];

    memset(&h, 0, sizeof(h));
    memset(out, 'z', sizeof(out));
    assert_int_equal(histogram_write(&h, "name", out, 40, 0), 40);
    assert_int_equal(out[40], 'z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_are_upper_bounds),
        cmocka_unit_test(test_text_is_cumulative),
        cmocka_unit_test(test_never_writes_past_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
