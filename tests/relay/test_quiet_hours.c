/*
 * test_quiet_hours.c - the daily window of held-back routine notices
 * (quiet_hours.h), in a fixed time zone so the figures are exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "error.h"
#include "quiet_hours.h"

/* Unix time of a local (Europe/Amsterdam) wall-clock moment. */
static time_t local(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "Europe/Amsterdam", 1);
    tzset();
    return 0;
}

static void test_parse(void **state)
{
    struct quiet_hours q;

    (void)state;
    assert_int_equal(quiet_hours_parse("22:00-07:00", &q), RELAY_OK);
    assert_true(q.on);
    assert_int_equal(q.start_min, 22 * 60);
    assert_int_equal(q.end_min, 7 * 60);
    assert_int_equal(quiet_hours_parse("", &q), RELAY_OK);
    assert_false(q.on);
    assert_int_equal(quiet_hours_parse("off", &q), RELAY_OK);
    assert_false(q.on);
    assert_int_equal(quiet_hours_parse("24:00-07:00", &q), RELAY_EINVAL);
    assert_int_equal(quiet_hours_parse("22:60-07:00", &q), RELAY_EINVAL);
    assert_int_equal(quiet_hours_parse("22:00-22:00", &q), RELAY_EINVAL);
    assert_int_equal(quiet_hours_parse("22:00 07:00", &q), RELAY_EINVAL);
    assert_int_equal(quiet_hours_parse("2:00-07:00", &q), RELAY_EINVAL);
    assert_int_equal(quiet_hours_parse("22:00-07:00x", &q), RELAY_EINVAL);
}

static void test_overnight_window(void **state)
{
    struct quiet_hours q;

    (void)state;
    quiet_hours_parse("22:00-07:00", &q);
    /* inside, before midnight: until 07:00 the next morning */
    assert_int_equal(quiet_hours_until(&q, local(2026, 11, 26, 23, 30)),
                     local(2026, 11, 27, 7, 0));
    /* inside, after midnight */
    assert_int_equal(quiet_hours_until(&q, local(2026, 11, 27, 6, 59)),
                     local(2026, 11, 27, 7, 0));
    /* edges: 22:00 is quiet, 07:00 is not */
    assert_int_equal(quiet_hours_until(&q, local(2026, 11, 26, 22, 0)),
                     local(2026, 11, 27, 7, 0));
    assert_int_equal(quiet_hours_until(&q, local(2026, 11, 27, 7, 0)), 0);
    assert_int_equal(quiet_hours_until(&q, local(2026, 11, 26, 12, 0)), 0);
    assert_int_equal(quiet_hours_until(&q, local(2026, 11, 26, 21, 59)), 0);
}

static void test_day_window_and_dst(void **state)
{
    struct quiet_hours q;

    (void)state;
    quiet_hours_parse("09:00-17:00", &q);
    assert_int_equal(quiet_hours_until(&q, local(2026, 6, 1, 12, 0)),
                     local(2026, 6, 1, 17, 0));
    assert_int_equal(quiet_hours_until(&q, local(2026, 6, 1, 8, 59)), 0);
    /* the night the clocks go back (25 Oct 2026): still 07:00 local */
    quiet_hours_parse("22:00-07:00", &q);
    assert_int_equal(quiet_hours_until(&q, local(2026, 10, 24, 23, 0)),
                     local(2026, 10, 25, 7, 0));
    assert_int_equal(local(2026, 10, 25, 7, 0) - local(2026, 10, 24, 23, 0),
                     9 * 3600);
    assert_int_equal(quiet_hours_until(NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_overnight_window),
        cmocka_unit_test(test_day_window_and_dst),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
