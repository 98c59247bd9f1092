/*
 * test_json_strict.c - relay/json_strict.c: every cJSON trap of
 * reliability.md section 4.6 is refused with its reason, and the grammar
 * cJSON is lenient about is held to RFC 8259.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_strict.h"

#define DEPTH 16

/* Parses 'len' bytes; returns the reason, or NULL (tree deleted) if OK. */
static const char *why_n(const char *buf, size_t len, int max_depth)
{
    const char *why = "not set";
    cJSON *root = json_strict_parse(buf, len, max_depth, &why);

    if (root) {
        cJSON_Delete(root);
        return NULL;
    }
    assert_non_null(why);
    return why;
}

static const char *why(const char *text)
{
    return why_n(text, strlen(text), DEPTH);
}

static cJSON *parse_ok(const char *text)
{
    const char *reason = NULL;
    cJSON *root = json_strict_parse(text, strlen(text), DEPTH, &reason);

    assert_non_null(root);
    return root;
}

/* Builds '[' * depth + ']' * depth. Caller frees. */
static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);

    assert_non_null(s);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

/* --- utf8_valid --------------------------------------------------------- */

static void utf8_accepts_well_formed(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid("plain ascii", 11));
    assert_true(utf8_valid("caf\xc3\xa9", 5));      /* U+00E9 */
    assert_true(utf8_valid("\xe2\x82\xac", 3));     /* U+20AC */
    assert_true(utf8_valid("\xef\xbf\xbf", 3));     /* U+FFFF */
    assert_true(utf8_valid("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
    assert_true(utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
    assert_true(utf8_valid("\xed\x9f\xbf", 3));     /* U+D7FF */
    assert_true(utf8_valid("a\0b", 3));             /* NUL is ASCII */
}

static void utf8_rejects_malformed(void **state)
{
    (void)state;
    assert_false(utf8_valid("\xff\xfe bad", 6));
    assert_false(utf8_valid("\x80", 1));             /* lone continuation */
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(utf8_valid("\xc1\xbf", 2));         /* overlong */
    assert_false(utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(utf8_valid("\xf0\x80\x80\xaf", 4)); /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));     /* U+D800 */
    assert_false(utf8_valid("\xed\xbf\xbf", 3));     /* U+DFFF */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* U+110000 */
    assert_false(utf8_valid("\xf5\x80\x80\x80", 4));
    assert_false(utf8_valid("\xc3", 1));         /* truncated */
    assert_false(utf8_valid("\xe2\x82", 2));     /* truncated */
    assert_false(utf8_valid("\xf0\x9f\x98", 3)); /* truncated */
    assert_false(utf8_valid("\xc3\x28", 2));     /* bad continuation */
    /* The length is respected: the valid prefix alone passes. */
    assert_true(utf8_valid("ab\xff", 2));
}

/* --- the section 4.6 traps ---------------------------------------------- */

static void trap_duplicate_key(void **state)
{
    (void)state;
    assert_string_equal(why("{\"role\":\"resident\",\"role\":\"police\"}"),
                        "duplicate key");
}

static void trap_keys_differing_in_case_are_distinct(void **state)
{
    cJSON *root = parse_ok("{\"ROLE\":\"police\",\"role\":\"resident\"}");

    (void)state;
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(root, "role")->valuestring,
        "resident");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(root, "ROLE")->valuestring, "police");
    cJSON_Delete(root);
}

static void trap_invalid_utf8(void **state)
{
    (void)state;
    assert_string_equal(why("{\"t\":\"\xff\xfe bad\"}"), "invalid UTF-8");
    assert_string_equal(why("{\"t\":\"\xed\xa0\x80\"}"), "invalid UTF-8");
    assert_string_equal(why("{\"\xc0\xaf\":1}"), "invalid UTF-8");
}

static void trap_lone_surrogate_escape(void **state)
{
    (void)state;
    assert_string_equal(why("{\"t\":\"\\ud800\"}"), "malformed JSON");
    assert_string_equal(why("{\"t\":\"\\udc00\"}"), "malformed JSON");
    assert_string_equal(why("{\"t\":\"\\ud800x\"}"), "malformed JSON");
    assert_string_equal(why("{\"t\":\"\\ud800\\u0041\"}"), "malformed JSON");
}

static void surrogate_pair_decodes_to_utf8(void **state)
{
    cJSON *root = parse_ok("{\"t\":\"\\ud83d\\ude00\"}");

    (void)state;
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(root, "t")->valuestring,
        "\xf0\x9f\x98\x80");
    cJSON_Delete(root);
}

static void trap_depth_limit(void **state)
{
    char *at = nested(DEPTH);
    char *over = nested(DEPTH + 1);

    (void)state;
    assert_null(why(at));
    assert_string_equal(why(over), "nesting too deep");
    /* Objects count like arrays. */
    assert_null(why_n("{\"a\":{\"b\":1}}", 13, 2));
    assert_string_equal(why_n("{\"a\":{\"b\":1}}", 13, 1), "nesting too deep");
    /* Depth 0 allows scalars only. */
    assert_null(why_n("1", 1, 0));
    assert_string_equal(why_n("[]", 2, 0), "nesting too deep");
    free(at);
    free(over);
}

static void trap_depth_capped_at_cjson_limit(void **state)
{
    char *at = nested(1000);
    char *over = nested(1001);

    (void)state;
    assert_null(why_n(at, strlen(at), 5000));
    assert_string_equal(why_n(over, strlen(over), 5000), "nesting too deep");
    free(at);
    free(over);
}

static void trap_number_overflow(void **state)
{
    (void)state;
    assert_string_equal(why("{\"n\":1e400}"), "number out of range");
    assert_string_equal(why("{\"n\":-1e400}"), "number out of range");
    assert_string_equal(why("[1E+309]"), "number out of range");
    /* Underflow to zero is a finite value. */
    assert_null(why("[1e-400]"));
}

static void trap_number_beyond_2_53_rounds(void **state)
{
    cJSON *root = parse_ok("{\"m\":9007199254740993}");

    (void)state;
    assert_true(cJSON_GetObjectItemCaseSensitive(root, "m")->valuedouble ==
                9007199254740992.0);
    cJSON_Delete(root);
}

static void trap_long_number_token(void **state)
{
    char buf[80];

    (void)state;
    /* cJSON would cut a number at 63 bytes and misparse the rest. */
    memset(buf, '1', 64);
    buf[64] = '\0';
    assert_string_equal(why(buf), "number out of range");
    buf[63] = '\0';
    assert_null(why(buf));
}

static void trap_trailing_characters(void **state)
{
    (void)state;
    assert_string_equal(why("{\"a\":1} trailing"), "trailing characters");
    assert_string_equal(why("{\"a\":1}{\"b\":2}"), "trailing characters");
    assert_string_equal(why_n("{\"a\":1}\0x", 9, DEPTH), "trailing characters");
    assert_string_equal(why_n("{\"a\":1}\0", 8, DEPTH), "trailing characters");
    assert_null(why(" \t\r\n{\"a\":1} \t\r\n"));
}

static void trap_nul_escape(void **state)
{
    (void)state;
    assert_string_equal(why("{\"a\":\"x\\u0000y\"}"),
                        "NUL character in string");
    assert_string_equal(why("{\"x\\u0000\":1}"), "NUL character in string");
    /* Escaped backslash, then \u0000: still a NUL. */
    assert_string_equal(why("{\"a\":\"\\\\\\u0000\"}"),
                        "NUL character in string");
    assert_string_equal(why("[\"\\\"\\u0000\"]"), "NUL character in string");
}

static void escaped_backslash_then_u0000_is_text(void **state)
{
    /* JSON text "\\u0000": a backslash followed by the letters u0000. */
    cJSON *root = parse_ok("{\"a\":\"\\\\u0000\"}");
    const char *s;

    (void)state;
    s = cJSON_GetObjectItemCaseSensitive(root, "a")->valuestring;
    assert_int_equal(strlen(s), 6);
    assert_string_equal(s, "\\u0000");
    cJSON_Delete(root);
}

static void trap_raw_nul_byte(void **state)
{
    (void)state;
    assert_string_equal(why_n("{\"a\":\"x\0y\"}", 11, DEPTH),
                        "NUL character in string");
    /* cJSON treats every byte <= 0x20 as whitespace, NUL included. */
    assert_string_equal(why_n("{\"a\":\0 1}", 9, DEPTH), "malformed JSON");
}

/* --- duplicates after unescaping, in depth, and in large objects -------- */

static void duplicate_after_unescape(void **state)
{
    (void)state;
    assert_string_equal(why("{\"a\":1,\"\\u0061\":2}"), "duplicate key");
}

static void duplicate_nested(void **state)
{
    (void)state;
    assert_string_equal(why("{\"x\":{\"a\":1,\"b\":2,\"a\":3}}"),
                        "duplicate key");
    assert_string_equal(why("[1,{\"a\":1,\"a\":1}]"), "duplicate key");
    /* Same name in different objects is fine. */
    assert_null(why("{\"a\":{\"a\":{\"a\":1}}}"));
}

/* Over the pairwise threshold the check sorts; both paths must agree. */
static void duplicate_in_large_object(void **state)
{
    char buf[2048];
    size_t n = 0;

    (void)state;
    buf[n++] = '{';
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":%d",
                              i ? "," : "", i, i);
    buf[n++] = '}';
    buf[n] = '\0';
    assert_null(why(buf));
    n--;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"k37\":0}");
    assert_string_equal(why(buf), "duplicate key");
}

/* --- grammar cJSON is lenient about ------------------------------------- */

static void rejects_non_rfc8259_numbers(void **state)
{
    static const char *const bad[] = {
        "[+1]",  "[01]",   "[.5]",    "[1.]",       "[1e]",  "[1e+]", "[-]",
        "[--1]", "[0x10]", "[1.5.2]", "[Infinity]", "[NaN]", "[-0.]",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *reason = why(bad[i]);

        assert_non_null(reason);
        assert_string_equal(reason, "malformed JSON");
    }
}

static void accepts_rfc8259_numbers(void **state)
{
    cJSON *root = parse_ok("[0,-0,1.5,-2e3,1E-2,10,0.25e+1]");

    (void)state;
    assert_int_equal(cJSON_GetArraySize(root), 7);
    assert_true(cJSON_GetArrayItem(root, 3)->valuedouble == -2000.0);
    assert_true(cJSON_GetArrayItem(root, 6)->valuedouble == 2.5);
    cJSON_Delete(root);
}

static void rejects_malformed_text(void **state)
{
    static const char *const bad[] = {
        "",
        "   ",
        "{",
        "{\"a\":1",
        "{\"a\" 1}",
        "{a:1}",
        "{'a':1}",
        "[1,]",
        "{\"a\":1,}",
        "[,1]",
        "tru",
        "nul",
        "True",
        "\"unterminated",
        "{\"a\":\"x\ny\"}",  /* raw newline in a string */
        "{\"a\":\"x\ty\"}",  /* raw tab in a string */
        "{\"a\":\"\\x\"}",   /* unknown escape */
        "{\"a\":\"\\u12\"}", /* short \u */
        "{\"a\":\"\\u12g4\"}",
        "\x01{\"a\":1}",         /* control byte as whitespace */
        "\xef\xbb\xbf{\"a\":1}", /* byte order mark */
        "{\"a\":1}\x0b",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *reason = why(bad[i]);

        assert_non_null(reason);
        if (strcmp(reason, "malformed JSON") != 0 &&
            strcmp(reason, "trailing characters") != 0)
            fail_msg("input %zu: unexpected reason %s", i, reason);
    }
    assert_string_equal(why("{\"a\":1}\x0b"), "trailing characters");
    assert_string_equal(why("[1,]"), "malformed JSON");
    assert_string_equal(why_n(NULL, 0, DEPTH), "malformed JSON");
}

static void accepts_escapes_and_scalars(void **state)
{
    cJSON *root = parse_ok("{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\","
                           "\"t\":true,\"f\":false,\"n\":null}");

    (void)state;
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(root, "s")->valuestring,
        "\"\\/\b\f\n\r\t\xc3\xa9");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "t")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "f")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "n")));
    cJSON_Delete(root);
    assert_null(why("1"));
    assert_null(why("\"x\""));
    assert_null(why("null"));
    assert_null(why("{}"));
    assert_null(why("[]"));
    assert_null(why("{\"\":1}"));
}

static void buffer_need_not_be_nul_terminated(void **state)
{
    static const char text[] = "{\"a\":1}GARBAGE";
    const char *reason = NULL;
    cJSON *root = json_strict_parse(text, 7, DEPTH, &reason);

    (void)state;
    assert_non_null(root);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(root, "a")->valueint, 1);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_accepts_well_formed),
        cmocka_unit_test(utf8_rejects_malformed),
        cmocka_unit_test(trap_duplicate_key),
        cmocka_unit_test(trap_keys_differing_in_case_are_distinct),
        cmocka_unit_test(trap_invalid_utf8),
        cmocka_unit_test(trap_lone_surrogate_escape),
        cmocka_unit_test(surrogate_pair_decodes_to_utf8),
        cmocka_unit_test(trap_depth_limit),
        cmocka_unit_test(trap_depth_capped_at_cjson_limit),
        cmocka_unit_test(trap_number_overflow),
        cmocka_unit_test(trap_number_beyond_2_53_rounds),
        cmocka_unit_test(trap_long_number_token),
        cmocka_unit_test(trap_trailing_characters),
        cmocka_unit_test(trap_nul_escape),
        cmocka_unit_test(escaped_backslash_then_u0000_is_text),
        cmocka_unit_test(trap_raw_nul_byte),
        cmocka_unit_test(duplicate_after_unescape),
        cmocka_unit_test(duplicate_nested),
        cmocka_unit_test(duplicate_in_large_object),
        cmocka_unit_test(rejects_non_rfc8259_numbers),
        cmocka_unit_test(accepts_rfc8259_numbers),
        cmocka_unit_test(rejects_malformed_text),
        cmocka_unit_test(accepts_escapes_and_scalars),
        cmocka_unit_test(buffer_need_not_be_nul_terminated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
