/*
 * test_channel.c - relay/channel.c: the channel alphabet of channel.h, to
 * the byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "channel.h"
#include "error.h"

static void buurtcode(void **state)
{
    (void)state;
    assert_true(channel_is_buurtcode("BU01060101"));
    assert_true(channel_is_buurtcode("BU99999999"));
    assert_false(channel_is_buurtcode("BU0106010"));   /* 7 digits */
    assert_false(channel_is_buurtcode("BU010601011")); /* 9 digits */
    assert_false(channel_is_buurtcode("bu01060101"));
    assert_false(channel_is_buurtcode("Bu01060101"));
    assert_false(channel_is_buurtcode("WK01060101"));
    assert_false(channel_is_buurtcode("BU0106010a"));
    assert_false(channel_is_buurtcode("BU 1060101"));
    assert_false(channel_is_buurtcode("BU01060101 "));
    assert_false(channel_is_buurtcode(""));
    assert_false(channel_is_buurtcode("BU"));
    assert_false(channel_is_buurtcode(NULL));
    /* Arabic-Indic digit: no locale-dependent isdigit(). */
    assert_false(channel_is_buurtcode("BU0106010\xd9\xa1"));
}

static void wijkcode_and_gemeentecode(void **state)
{
    (void)state;
    assert_true(channel_is_wijkcode("WK010601"));
    assert_false(channel_is_wijkcode("WK01060"));
    assert_false(channel_is_wijkcode("WK0106011"));
    assert_false(channel_is_wijkcode("wk010601"));
    assert_false(channel_is_wijkcode("BU010601"));
    assert_false(channel_is_wijkcode(NULL));
    assert_true(channel_is_gemeentecode("GM0106"));
    assert_false(channel_is_gemeentecode("GM010"));
    assert_false(channel_is_gemeentecode("GM01060"));
    assert_false(channel_is_gemeentecode("gm0106"));
    assert_false(channel_is_gemeentecode(NULL));
}

static void ids(void **state)
{
    char max[66];

    (void)state;
    assert_true(channel_is_id("a"));
    assert_true(channel_is_id("Case_01-xyz"));
    assert_false(channel_is_id(""));
    assert_false(channel_is_id(NULL));
    assert_false(channel_is_id("a b"));
    assert_false(channel_is_id("a:b"));
    assert_false(channel_is_id("a.b"));
    assert_false(channel_is_id("a{b}"));
    assert_false(channel_is_id("caf\xc3\xa9"));
    memset(max, 'x', 64);
    max[64] = '\0';
    assert_true(channel_is_id(max));
    max[64] = 'x';
    max[65] = '\0';
    assert_false(channel_is_id(max));
}

static void wijk_of_buurt(void **state)
{
    char out[9];
    char small[8];

    (void)state;
    assert_int_equal(channel_wijk_of_buurt("BU01060101", out, sizeof(out)),
                     RELAY_OK);
    assert_string_equal(out, "WK010601");
    assert_int_equal(channel_wijk_of_buurt("BU03631234", out, sizeof(out)),
                     RELAY_OK);
    assert_string_equal(out, "WK036312");
    memcpy(out, "unchange", 9);
    assert_int_equal(channel_wijk_of_buurt("WK010601", out, sizeof(out)),
                     RELAY_EINVAL);
    assert_string_equal(out, "unchange");
    assert_true(channel_wijk_of_buurt("BU01060101", small, sizeof(small)) < 0);
    assert_int_equal(channel_wijk_of_buurt(NULL, out, sizeof(out)),
                     RELAY_EINVAL);
}

static void parse_valid_names(void **state)
{
    static const struct {
        const char *name;
        enum channel_kind kind;
        const char *suffix;
    } cases[] = {
        {"buurt:BU01060101", CHANNEL_BUURT, "BU01060101"},
        {"desk:WK010601", CHANNEL_DESK, "WK010601"},
        {"desk:BU01060101", CHANNEL_DESK, "BU01060101"},
        {"desk:GM0106", CHANNEL_DESK, "GM0106"},
        {"user:u-42_x", CHANNEL_USER, "u-42_x"},
        {"case:C0001", CHANNEL_CASE, "C0001"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum channel_kind kind = 0;
        const char *suffix = NULL;

        assert_int_equal(channel_parse(cases[i].name, &kind, &suffix),
                         RELAY_OK);
        assert_int_equal(kind, cases[i].kind);
        assert_string_equal(suffix, cases[i].suffix);
        /* The suffix points into the name, just past the colon. */
        assert_ptr_equal(suffix, strchr(cases[i].name, ':') + 1);
    }
}

static void parse_longest_name_fits_the_limit(void **state)
{
    char name[CHANNEL_NAME_MAX + 2];
    enum channel_kind kind;
    const char *suffix;

    (void)state;
    memcpy(name, "user:", 5);
    memset(name + 5, 'a', 64);
    name[69] = '\0';
    assert_true(strlen(name) <= CHANNEL_NAME_MAX);
    assert_int_equal(channel_parse(name, &kind, &suffix), RELAY_OK);
    name[69] = 'a';
    name[70] = '\0';
    assert_int_equal(channel_parse(name, &kind, &suffix), RELAY_EINVAL);
}

static void parse_rejects_and_leaves_outputs(void **state)
{
    static const char *const bad[] = {
        "buurt:bu01060101",
        "buurt:BU0106010",
        "buurt:BU010601011",
        "buurt:WK010601",
        "buurt:",
        "buurt",
        "Buurt:BU01060101",
        "desk:WK01060",
        "desk:GM010",
        "desk:GM01066",
        "desk:",
        "user:",
        "user:a b",
        "user:a:b",
        "case:",
        "case:x/y",
        "room:abc",
        "",
        ":BU01060101",
        "buurt:BU01060101\n",
        "buurt: BU01060101",
        "user:caf\xc3\xa9",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum channel_kind kind = (enum channel_kind)99;
        const char *suffix = "untouched";

        if (channel_parse(bad[i], &kind, &suffix) != RELAY_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(kind, 99);
        assert_string_equal(suffix, "untouched");
    }
    assert_int_equal(channel_parse(NULL, NULL, NULL), RELAY_EINVAL);
}

static void parse_allows_null_outputs(void **state)
{
    (void)state;
    assert_int_equal(channel_parse("case:x", NULL, NULL), RELAY_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buurtcode),
        cmocka_unit_test(wijkcode_and_gemeentecode),
        cmocka_unit_test(ids),
        cmocka_unit_test(wijk_of_buurt),
        cmocka_unit_test(parse_valid_names),
        cmocka_unit_test(parse_longest_name_fits_the_limit),
        cmocka_unit_test(parse_rejects_and_leaves_outputs),
        cmocka_unit_test(parse_allows_null_outputs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
