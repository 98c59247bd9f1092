/* Unit tests for relay/stream_id.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "error.h"
#include "stream_id.h"

static void test_next_increments_seq(void **state)
{
    char out[STREAM_ID_MAX];

    assert_int_equal(stream_id_next("1700000000000-0", out, sizeof(out)),
                     RELAY_OK);
    assert_string_equal(out, "1700000000000-1");
    assert_int_equal(stream_id_next("5-41", out, sizeof(out)), RELAY_OK);
    assert_string_equal(out, "5-42");
}

static void test_seq_overflow_moves_to_next_ms(void **state)
{
    char out[STREAM_ID_MAX];

    assert_int_equal(stream_id_next("7-18446744073709551615", out, sizeof(out)),
                     RELAY_OK);
    assert_string_equal(out, "8-0");
}

static void test_malformed_ids_refused(void **state)
{
    static const char *const bad[] = {"",     "-1",   "12",    "12-",
                                      "x-1",  "1-x",  "1-2-3", " 1-2",
                                      "1- 2", "-5-1", "1--2"};
    char out[STREAM_ID_MAX] = "keep";

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(stream_id_next(bad[i], out, sizeof(out)),
                         RELAY_EINVAL);
    assert_string_equal(out, "keep");
    assert_int_equal(stream_id_next("99-99", out, 4), RELAY_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_increments_seq),
        cmocka_unit_test(test_seq_overflow_moves_to_next_ms),
        cmocka_unit_test(test_malformed_ids_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
