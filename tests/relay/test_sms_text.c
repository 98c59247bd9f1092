/*
 * test_sms_text.c - relay/sms_text.c: encoding choice, segment counts at
 * every boundary, parts that never split an escape or surrogate pair,
 * refusal instead of truncation, and E.164 normalisation of Dutch input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sms_text.h"

#define EMOJI "\xF0\x9F\x9A\xA8" /* U+1F6A8 police car light */
#define EURO "\xE2\x82\xAC"
#define E_TREMA "\xC3\xAB" /* ë: not in GSM-7 */

/* n copies of 'unit' (a NUL-terminated UTF-8 string) appended to buf. */
static void append_n(char *buf, size_t cap, const char *unit, size_t n)
{
    size_t len = strlen(buf), ul = strlen(unit);

    for (size_t i = 0; i < n; i++) {
        assert_true(len + ul < cap);
        memcpy(buf + len, unit, ul);
        len += ul;
    }
    buf[len] = '\0';
}

/* Splits text with a generous maximum and checks the invariants every
 * split must keep; returns the number of parts. */
static unsigned split_checked(const char *text, unsigned max_parts,
                              struct sms_info *info)
{
    struct sms_part parts[SMS_PARTS_MAX];
    size_t len = strlen(text), pos = 0, units = 0;
    size_t per;
    int rc = sms_text_split(text, len, max_parts, info, parts);

    assert_int_equal(rc, RELAY_OK);
    per = info->parts == 1 ? (info->coding == SMS_CODING_GSM7 ? 160 : 70)
                           : (info->coding == SMS_CODING_GSM7 ? 153 : 67);
    for (unsigned i = 0; i < info->parts; i++) {
        struct sms_info pi;

        assert_int_equal(parts[i].offset, pos);
        assert_true(parts[i].len > 0);
        assert_true(parts[i].units <= per);
        /* each part is valid UTF-8 on its own: nothing split mid-char */
        assert_int_equal(sms_text_measure(text + pos, parts[i].len, &pi),
                         RELAY_OK);
        if (info->coding == SMS_CODING_GSM7)
            assert_int_equal(pi.coding, SMS_CODING_GSM7);
        assert_int_equal(pi.units, parts[i].units);
        pos += parts[i].len;
        units += parts[i].units;
    }
    assert_int_equal(pos, len);
    assert_int_equal(units, info->units);
    return info->parts;
}

static void test_short_gsm(void **state)
{
    struct sms_info info;

    (void)state;
    assert_int_equal(sms_text_measure("Hallo", 5, &info), RELAY_OK);
    assert_int_equal(info.coding, SMS_CODING_GSM7);
    assert_int_equal(info.units, 5);
    assert_int_equal(info.chars, 5);
    assert_int_equal(info.parts, 1);
    /* é, ö, ü, à are in the default alphabet; @ $ _ too */
    assert_int_equal(
        sms_text_measure("Caf\xC3\xA9 @ $_ \xC3\xB6\xC3\xBC", 13, &info),
        RELAY_OK);
    assert_int_equal(info.coding, SMS_CODING_GSM7);
    assert_int_equal(info.units, 11);
}

static void test_gsm_boundaries(void **state)
{
    char buf[1024] = "";
    struct sms_info info;

    (void)state;
    append_n(buf, sizeof(buf), "a", 160);
    assert_int_equal(split_checked(buf, 3, &info), 1);
    append_n(buf, sizeof(buf), "a", 1);
    assert_int_equal(split_checked(buf, 3, &info), 2);
    buf[0] = '\0';
    append_n(buf, sizeof(buf), "a", 306);
    assert_int_equal(split_checked(buf, 3, &info), 2);
    append_n(buf, sizeof(buf), "a", 1);
    assert_int_equal(split_checked(buf, 3, &info), 3);
}

static void test_extension_costs_two(void **state)
{
    char buf[1024] = "";
    struct sms_info info;

    (void)state;
    assert_int_equal(sms_text_measure(EURO "[]{}\\^~|\f", 12, &info), RELAY_OK);
    assert_int_equal(info.coding, SMS_CODING_GSM7);
    assert_int_equal(info.units, 20);
    /* 159 + 2 septets = 161: two parts although 160 characters */
    append_n(buf, sizeof(buf), "a", 159);
    append_n(buf, sizeof(buf), EURO, 1);
    assert_int_equal(split_checked(buf, 3, &info), 2);
    assert_int_equal(info.units, 161);
    assert_int_equal(info.chars, 160);
}

static void test_escape_never_split(void **state)
{
    char buf[1024] = "";
    struct sms_part parts[3];
    struct sms_info info;

    (void)state;
    /* 152 + '[' (2) would be 154 > 153: the pair moves to part 2 */
    append_n(buf, sizeof(buf), "a", 152);
    append_n(buf, sizeof(buf), "[", 1);
    append_n(buf, sizeof(buf), "b", 10);
    assert_int_equal(sms_text_split(buf, strlen(buf), 3, &info, parts),
                     RELAY_OK);
    assert_int_equal(info.parts, 2);
    assert_int_equal(parts[0].units, 152);
    assert_int_equal(parts[0].len, 152);
    assert_int_equal(parts[1].units, 12);
    assert_int_equal(buf[parts[1].offset], '[');
}

static void test_ucs2_switch_and_boundaries(void **state)
{
    char buf[1024] = "";
    struct sms_info info;

    (void)state;
    /* one non-GSM character makes the whole text UCS-2 */
    assert_int_equal(sms_text_measure("Belgi" E_TREMA, 7, &info), RELAY_OK);
    assert_int_equal(info.coding, SMS_CODING_UCS2);
    assert_int_equal(info.units, 6);
    assert_int_equal(sms_text_measure("`", 1, &info), RELAY_OK);
    assert_int_equal(info.coding, SMS_CODING_UCS2);
    assert_int_equal(sms_text_measure("a\tb", 3, &info), RELAY_OK);
    assert_int_equal(info.coding, SMS_CODING_UCS2);

    append_n(buf, sizeof(buf), E_TREMA, 70);
    assert_int_equal(split_checked(buf, 3, &info), 1);
    append_n(buf, sizeof(buf), E_TREMA, 1);
    assert_int_equal(split_checked(buf, 3, &info), 2);
    /* an emoji is a surrogate pair: 68 + 2 = 70 units, still one SMS */
    buf[0] = '\0';
    append_n(buf, sizeof(buf), "a", 68);
    append_n(buf, sizeof(buf), EMOJI, 1);
    assert_int_equal(split_checked(buf, 3, &info), 1);
    assert_int_equal(info.units, 70);
    assert_int_equal(info.chars, 69);
}

static void test_surrogate_never_split(void **state)
{
    char buf[1024] = "";
    struct sms_part parts[3];
    struct sms_info info;

    (void)state;
    /* 66 + 2 would be 68 > 67: the pair starts part 2 */
    append_n(buf, sizeof(buf), "a", 66);
    append_n(buf, sizeof(buf), EMOJI, 1);
    append_n(buf, sizeof(buf), "b", 10);
    assert_int_equal(sms_text_split(buf, strlen(buf), 3, &info, parts),
                     RELAY_OK);
    assert_int_equal(info.coding, SMS_CODING_UCS2);
    assert_int_equal(info.units, 78);
    assert_int_equal(info.parts, 2);
    assert_int_equal(parts[0].units, 66);
    assert_int_equal(parts[1].units, 12);
    assert_memory_equal(buf + parts[1].offset, EMOJI, 4);
}

static void test_part_count_not_simple_division(void **state)
{
    char buf[2048] = "";
    struct sms_info info;

    (void)state;
    /* 306 septets would be 2 parts by division, but a '{' on each cut
     * moves: 152 + {(2) ... costs a third part. */
    append_n(buf, sizeof(buf), "a", 152);
    append_n(buf, sizeof(buf), "{", 1);
    append_n(buf, sizeof(buf), "a", 150);
    append_n(buf, sizeof(buf), "{", 1);
    assert_int_equal(sms_text_measure(buf, strlen(buf), &info), RELAY_OK);
    assert_int_equal(info.units, 306);
    assert_int_equal(info.parts, 3);
    assert_int_equal(split_checked(buf, 3, &info), 3);
}

static void test_invalid_input(void **state)
{
    struct sms_info info;
    struct sms_part parts[2];
    static const char *const bad[] = {
        "\xC0\x80",         /* overlong NUL */
        "\xE0\x80\xAF",     /* overlong '/' */
        "\xED\xA0\x80",     /* UTF-16 surrogate */
        "\xF4\x90\x80\x80", /* > U+10FFFF */
        "\xE2\x82",         /* truncated */
        "\x80",             /* lone continuation */
        "\xFF",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sms_text_measure(bad[i], strlen(bad[i]), &info),
                         RELAY_EINVAL);
    assert_int_equal(sms_text_measure("a\0b", 3, &info), RELAY_EINVAL);
    assert_int_equal(sms_text_measure("", 0, &info), RELAY_EINVAL);
    assert_int_equal(sms_text_measure(NULL, 1, &info), RELAY_EINVAL);
    assert_int_equal(sms_text_split("a", 1, 0, &info, parts), RELAY_EINVAL);
    assert_int_equal(sms_text_split("a", 1, 256, &info, parts), RELAY_EINVAL);
}

/* A Dutch appeal of exactly 600 characters. */
static const char appeal[] =
    "Politie Assen: vermist sinds vanmiddag 15.00 uur. Man, 78 jaar, "
    "loopt verward met een rollator. Blauwe jas, grijze pet, bruine "
    "schoenen. Hij is voor het laatst gezien bij het winkelcentrum in de "
    "Lariks en loopt mogelijk richting het Asserbos of het station. Hij "
    "heeft medicijnen nodig. Ziet u hem? Spreek hem rustig aan, blijf bij "
    "hem en bel direct 112. Heeft u camerabeelden van uw voordeur of "
    "auto uit de omgeving van de Lariks tussen 14.30 en 17.00 uur? Neem "
    "dan contact op met de politie via 0900-8844 en noem zaaknummer "
    "2024-123. Deel dit bericht met uw buren. Bedankt voor uw hulp en "
    "alertheid!";

static void test_600_char_gsm_appeal(void **state)
{
    struct sms_info info;
    struct sms_part parts[5];

    (void)state;
    assert_int_equal(strlen(appeal), 600);
    /* 600 septets: 153 * 3 = 459 < 600 -> refused with the count, never
     * cut to 459 as Kannel would */
    assert_int_equal(sms_text_split(appeal, 600, 3, &info, parts),
                     RELAY_ETOOBIG);
    assert_int_equal(info.coding, SMS_CODING_GSM7);
    assert_int_equal(info.units, 600);
    assert_int_equal(info.parts, 4);
    assert_int_equal(split_checked(appeal, 5, &info), 4);
}

static void test_600_char_appeal_with_emoji(void **state)
{
    char buf[2048] = EMOJI " ";
    struct sms_info info;
    struct sms_part parts[5];
    size_t len;

    (void)state;
    /* emoji, space, then 598 characters with Dutch diacritics: 600
     * characters, UCS-2, 601 units (the emoji is a surrogate pair) */
    memcpy(buf + 5, appeal, 587);
    buf[5 + 587] = '\0';
    append_n(buf, sizeof(buf), E_TREMA, 11); /* "ideeën"-style letters */
    len = strlen(buf);
    assert_int_equal(sms_text_measure(buf, len, &info), RELAY_OK);
    assert_int_equal(info.chars, 600);
    assert_int_equal(info.coding, SMS_CODING_UCS2);
    assert_int_equal(info.units, 601);
    /* ceil(601 / 67) = 9 parts: refused at 3 and at 5, never truncated */
    assert_int_equal(sms_text_split(buf, len, 3, &info, parts), RELAY_ETOOBIG);
    assert_int_equal(info.parts, 9);
    assert_int_equal(sms_text_split(buf, len, 5, &info, parts), RELAY_ETOOBIG);
    assert_int_equal(info.parts, 9);
    assert_int_equal(split_checked(buf, 10, &info), 9);
    assert_int_equal(split_checked(buf, 9, &info), 9);
}

static void test_short_emoji_appeal_fits_five(void **state)
{
    char buf[1024] = EMOJI " ";
    struct sms_info info;
    struct sms_part parts[5];

    (void)state;
    /* 300 characters with an emoji: 301 units -> 5 parts of <= 67 */
    memcpy(buf + 5, appeal, 298);
    buf[5 + 298] = '\0';
    assert_int_equal(sms_text_split(buf, strlen(buf), 3, &info, parts),
                     RELAY_ETOOBIG);
    assert_int_equal(info.parts, 5);
    assert_int_equal(split_checked(buf, 5, &info), 5);
}

static void test_phone_normalize(void **state)
{
    static const struct {
        const char *in;
        unsigned flags;
        const char *out; /* NULL: refused */
    } cases[] = {
        {"0612345678", 0, "+31612345678"},
        {"06-1234 5678", 0, "+31612345678"},
        {"06.12.34.56.78", 0, "+31612345678"},
        {"+31612345678", 0, "+31612345678"},
        {"+31 6 12345678", 0, "+31612345678"},
        {"+31 (0)6 12345678", 0, "+31612345678"},
        {"0031612345678", 0, "+31612345678"},
        {"0031 (0)6 1234 5678", 0, "+31612345678"},
        {"(020) 123 4567", 0, "+31201234567"},
        {"31612345678", SMS_PHONE_BARE_INTL, "+31612345678"},
        {"31612345678", 0, NULL},
        {"+4915112345678", 0, "+4915112345678"},
        {"004915112345678", 0, "+4915112345678"},
        {"061234567", 0, NULL},         /* 9 digits */
        {"06123456789", 0, NULL},       /* 11 digits */
        {"+3161234567", 0, NULL},       /* +31 needs 9 more */
        {"+316123456789", 0, NULL},     /* ... exactly */
        {"+0612345678", 0, NULL},       /* country code cannot start 0 */
        {"06 1234 567a", 0, NULL},      /* letters */
        {"++31612345678", 0, NULL},     /* two pluses */
        {"+31+612345678", 0, NULL},     /* plus inside */
        {"06\n12345678", 0, NULL},      /* control */
        {"", 0, NULL},                  /* empty */
        {"  --  ", 0, NULL},            /* separators only */
        {"+1234567", 0, NULL},          /* 7 digits */
        {"+1234567890123456", 0, NULL}, /* 16 digits */
        {"00", 0, NULL},
        {"+31066120061", 0, NULL}, /* 0 after +31 (0) */
        {"310066120061", SMS_PHONE_BARE_INTL, NULL},
        {"0", 0, NULL},
    };
    char out[SMS_PHONE_MAX + 1];
    char longin[100];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;

        memset(out, 'x', sizeof(out));
        rc = sms_phone_normalize(cases[i].in, cases[i].flags, out);
        if (cases[i].out) {
            assert_int_equal(rc, RELAY_OK);
            assert_string_equal(out, cases[i].out);
        } else {
            assert_int_equal(rc, RELAY_EINVAL);
            assert_int_equal(out[0], 'x'); /* untouched */
        }
    }
    memset(longin, ' ', sizeof(longin));
    memcpy(longin, "0612345678", 10);
    longin[sizeof(longin) - 1] = '\0';
    assert_int_equal(sms_phone_normalize(longin, 0, out), RELAY_EINVAL);
    assert_int_equal(sms_phone_normalize(NULL, 0, out), RELAY_EINVAL);
}

static void test_phone_allowed(void **state)
{
    char why[128];

    (void)state;
    assert_true(sms_phone_allowed("+31612345678", SMS_PREFIXES_DEFAULT));
    assert_false(sms_phone_allowed("+4915112345678", "+31"));
    assert_false(sms_phone_allowed("+32470123456", "+31"));
    assert_true(sms_phone_allowed("+32470123456", "+31, +32"));
    assert_true(sms_phone_allowed("+31612345678", "+316,+3197"));
    assert_false(sms_phone_allowed("+31201234567", "+316,+3197"));
    assert_false(sms_phone_allowed("+31612345678", ""));
    assert_false(sms_phone_allowed("+31612345678", "+"));
    assert_false(sms_phone_allowed(NULL, "+31"));
    assert_false(sms_phone_allowed("31612345678", "3"));

    assert_int_equal(sms_prefixes_check("+31", why, sizeof(why)), 0);
    assert_int_equal(sms_prefixes_check("+316, +3197", why, sizeof(why)), 0);
    assert_int_equal(sms_prefixes_check("31", why, sizeof(why)), RELAY_EINVAL);
    assert_int_equal(sms_prefixes_check("+3a", why, sizeof(why)), RELAY_EINVAL);
    assert_int_equal(sms_prefixes_check("+31,", why, sizeof(why)),
                     RELAY_EINVAL);
    assert_int_equal(sms_prefixes_check("", why, sizeof(why)), RELAY_EINVAL);
    assert_int_equal(sms_prefixes_check("+", why, sizeof(why)), RELAY_EINVAL);
    assert_true(strlen(why) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_gsm),
        cmocka_unit_test(test_gsm_boundaries),
        cmocka_unit_test(test_extension_costs_two),
        cmocka_unit_test(test_escape_never_split),
        cmocka_unit_test(test_ucs2_switch_and_boundaries),
        cmocka_unit_test(test_surrogate_never_split),
        cmocka_unit_test(test_part_count_not_simple_division),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_600_char_gsm_appeal),
        cmocka_unit_test(test_600_char_appeal_with_emoji),
        cmocka_unit_test(test_short_emoji_appeal_fits_five),
        cmocka_unit_test(test_phone_normalize),
        cmocka_unit_test(test_phone_allowed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
