/*
 * test_contacts.c - chat addresses and channel preferences (contacts.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "contacts.h"
#include "error.h"

static void test_kinds_and_values(void **state)
{
    (void)state;
    assert_true(contact_kind_valid("telegram"));
    assert_false(contact_kind_valid(""));
    assert_false(contact_kind_valid("Telegram"));
    assert_false(contact_kind_valid("tele-gram"));
    assert_false(contact_kind_valid("abcdefghijklmnopq")); /* 17 */
    assert_true(contact_value_valid("-1001234567890"));
    assert_true(contact_value_valid("!room:matrix.example.org"));
    assert_true(contact_value_valid("https://hooks.example.nl/b1?x=1"
                                    "&y"));
    assert_false(contact_value_valid(""));
    assert_false(contact_value_valid("a b"));
    assert_true(contact_value_valid("a=b,c"));
    assert_false(contact_value_valid("a\nb"));
    assert_false(contact_value_valid("caf\xc3\xa9"));
}

static void test_parse_format_roundtrip(void **state)
{
    struct contact c[CONTACTS_MAX];
    char text[CONTACTS_TEXT_MAX + 1];
    size_t n;

    (void)state;
    assert_int_equal(contacts_parse("", c, &n), RELAY_OK);
    assert_int_equal(n, 0);
    assert_int_equal(
        contacts_parse("telegram=700001\nmatrix=!r:example.org", c, &n),
        RELAY_OK);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].value, "700001");
    assert_string_equal(c[1].kind, "matrix");
    assert_string_equal(c[1].value, "!r:example.org");
    assert_int_equal(contacts_format(c, n, text, sizeof(text)), RELAY_OK);
    assert_string_equal(text, "telegram=700001\nmatrix=!r:example.org");
    /* malformed: no '=', a kind twice, a bad value, too many */
    assert_int_equal(contacts_parse("telegram", c, &n), RELAY_EINVAL);
    assert_int_equal(contacts_parse("telegram=1\ntelegram=2", c, &n),
                     RELAY_EINVAL);
    assert_int_equal(contacts_parse("telegram=a b", c, &n), RELAY_EINVAL);
    assert_int_equal(contacts_parse("a=1\nb=2\nc=3\nd=4\ne=5", c, &n),
                     RELAY_EINVAL);
    assert_int_equal(contacts_format(c, 0, text, sizeof(text)), RELAY_OK);
    assert_string_equal(text, "");
}

static void test_set_get(void **state)
{
    struct contact c[CONTACTS_MAX];
    char text[CONTACTS_TEXT_MAX + 1], v[CONTACT_VALUE_MAX + 1];
    size_t n = 0;

    (void)state;
    assert_int_equal(contacts_set(c, &n, "telegram", "1"), RELAY_OK);
    assert_int_equal(contacts_set(c, &n, "matrix", "!a:b"), RELAY_OK);
    assert_int_equal(contacts_set(c, &n, "telegram", "2"), RELAY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(contacts_set(c, &n, "matrix", NULL), RELAY_OK);
    assert_int_equal(n, 1);
    assert_int_equal(contacts_set(c, &n, "matrix", NULL), RELAY_OK);
    assert_int_equal(contacts_set(c, &n, "Bad", "1"), RELAY_EINVAL);
    assert_int_equal(contacts_set(c, &n, "signal", "a b"), RELAY_EINVAL);
    assert_int_equal(contacts_set(c, &n, "a", "1"), RELAY_OK);
    assert_int_equal(contacts_set(c, &n, "b", "1"), RELAY_OK);
    assert_int_equal(contacts_set(c, &n, "c", "1"), RELAY_OK);
    assert_int_equal(contacts_set(c, &n, "d", "1"), RELAY_EFULL);
    assert_int_equal(contacts_format(c, n, text, sizeof(text)), RELAY_OK);
    assert_int_equal(contacts_get(text, "telegram", v, sizeof(v)), RELAY_OK);
    assert_string_equal(v, "2");
    assert_int_equal(contacts_get(text, "matrix", v, sizeof(v)),
                     RELAY_ENOTFOUND);
    assert_int_equal(contacts_get(text, "telegram", v, 1), RELAY_ETOOBIG);
    assert_int_equal(contacts_get("x", "telegram", v, sizeof(v)), RELAY_EINVAL);
}

static void test_channels(void **state)
{
    char names[CHANNELS_MAX][CONTACT_KIND_MAX + 1];
    size_t n;

    (void)state;
    assert_int_equal(channels_parse("telegram,sms", names, &n), RELAY_OK);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "telegram");
    assert_string_equal(names[1], "sms");
    assert_int_equal(channels_parse("", names, &n), RELAY_OK);
    assert_int_equal(n, 0);
    assert_int_equal(channels_parse("sms,sms", names, &n), RELAY_EINVAL);
    assert_int_equal(channels_parse("sms,", names, &n), RELAY_EINVAL);
    assert_int_equal(channels_parse(",sms", names, &n), RELAY_EINVAL);
    assert_int_equal(channels_parse("SMS", names, &n), RELAY_EINVAL);
    assert_int_equal(channels_parse("a,b,c,d,e,f,g", names, &n), RELAY_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_values),
        cmocka_unit_test(test_parse_format_roundtrip),
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_channels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
