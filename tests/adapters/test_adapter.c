/*
 * test_adapter.c - adapters/adapter.c and registry.c: registry lookups,
 * the monotonic state ranks, URL encoding, form parsing, headers,
 * Retry-After (seconds and HTTP dates) and secret files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "error.h"

static void test_registry(void **state)
{
    (void)state;
    assert_non_null(adapter_find("kannel"));
    assert_non_null(adapter_find("twilio"));
    assert_non_null(adapter_find("telegram"));
    assert_non_null(adapter_find("matrix"));
    assert_non_null(adapter_find("whatsapp"));
    assert_non_null(adapter_find("webhook"));
    assert_null(adapter_find("nope"));
    assert_non_null(adapter_at(5));
    assert_null(adapter_at(6));
    for (size_t i = 0; adapter_at(i); i++) {
        const struct adapter_ops *o = adapter_at(i);

        /* SMS adapters segment; chat adapters state their own limit. */
        assert_true((o->caps & ADAPTER_CAP_SMS) != 0 ||
                    ((o->caps & ADAPTER_CAP_CHAT) && o->max_text_chars > 0));
        assert_non_null(o->address_kind);

        assert_non_null(o->build_request);
        assert_non_null(o->parse_response);
        assert_true(o->priv_size > 0);
    }
}

static void test_states(void **state)
{
    (void)state;
    assert_string_equal(adapter_state_name(ADAPTER_STATE_DELIVERED),
                        "delivered");
    assert_int_equal(adapter_state_parse("read"), ADAPTER_STATE_READ);
    assert_int_equal(adapter_state_parse("bogus"), ADAPTER_STATE_NONE);
    assert_true(adapter_state_rank(ADAPTER_STATE_QUEUED) <
                adapter_state_rank(ADAPTER_STATE_SENT));
    assert_true(adapter_state_rank(ADAPTER_STATE_SENT) <
                adapter_state_rank(ADAPTER_STATE_DELIVERED));
    assert_int_equal(adapter_state_rank(ADAPTER_STATE_DELIVERED),
                     adapter_state_rank(ADAPTER_STATE_FAILED));
    assert_true(adapter_state_rank(ADAPTER_STATE_FAILED) <
                adapter_state_rank(ADAPTER_STATE_READ));
}

static void test_encode_and_parse(void **state)
{
    struct adapter_buf b = {0};
    struct adapter_form_iter it;
    char name[32], value[64];
    size_t len;
    char *s;

    (void)state;
    adapter_buf_add_param(&b, "a b", "x&y=z/\xE2\x82\xAC~");
    adapter_buf_add_param(&b, "empty", "");
    s = adapter_buf_take(&b, &len);
    assert_string_equal(s, "a%20b=x%26y%3Dz%2F%E2%82%AC~&empty=");
    adapter_form_begin(&it, s, len);
    assert_int_equal(
        adapter_form_next(&it, name, sizeof(name), value, sizeof(value), &len),
        1);
    assert_string_equal(name, "a b");
    assert_string_equal(value, "x&y=z/\xE2\x82\xAC~");
    assert_int_equal(
        adapter_form_next(&it, name, sizeof(name), value, sizeof(value), &len),
        1);
    assert_string_equal(name, "empty");
    assert_int_equal(len, 0);
    assert_int_equal(
        adapter_form_next(&it, name, sizeof(name), value, sizeof(value), &len),
        0);
    free(s);

    assert_int_equal(
        adapter_form_get("a=1&&b=x+y&b=2", 14, "b", value, sizeof(value), NULL),
        RELAY_OK);
    assert_string_equal(value, "x y");
    assert_int_equal(
        adapter_form_get("a=1", 3, "b", value, sizeof(value), NULL),
        RELAY_ENOTFOUND);
    assert_int_equal(
        adapter_form_get("b=%4", 4, "b", value, sizeof(value), NULL),
        RELAY_EINVAL);
    assert_int_equal(
        adapter_form_get("b=%00", 5, "b", value, sizeof(value), NULL),
        RELAY_EINVAL);
    assert_int_equal(adapter_form_get("b=123456", 8, "b", value, 4, NULL),
                     RELAY_ETOOBIG);
    assert_string_equal(adapter_query("/hooks/x/dlr?d=1"), "d=1");
    assert_string_equal(adapter_query("/hooks/x/dlr"), "");
    assert_true(adapter_path_is("/hooks/kannel/dlr?d=1", "kannel", "dlr"));
    assert_true(adapter_path_is("/hooks/kannel/dlr", "kannel", "dlr"));
    assert_false(adapter_path_is("/hooks/kannel/dlrx", "kannel", "dlr"));
    assert_false(adapter_path_is("/hooks/kannelx/dlr", "kannel", "dlr"));
    assert_false(adapter_path_is("/api/kannel/dlr", "kannel", "dlr"));
}

static void test_headers_and_ids(void **state)
{
    const char *h[] = {"Content-Type: text/plain", "x-twilio-signature:  ab= "};
    char out[16];

    (void)state;
    assert_int_equal(
        adapter_header_get(h, 2, "X-Twilio-Signature", out, sizeof(out)),
        RELAY_OK);
    assert_string_equal(out, "ab=");
    assert_int_equal(adapter_header_get(h, 2, "X-Other", out, sizeof(out)),
                     RELAY_ENOTFOUND);
    assert_int_equal(adapter_header_get(h, 2, "Content-Type", out, 4),
                     RELAY_ETOOBIG);
    assert_true(adapter_id_valid("d-1_A"));
    assert_false(adapter_id_valid(""));
    assert_false(adapter_id_valid("a/b"));
    assert_false(adapter_id_valid(
        "0123456789012345678901234567890123456789012345678901234567890123x"));
    assert_true(adapter_str_equal("abc", "abc"));
    assert_false(adapter_str_equal("abc", "abd"));
    assert_false(adapter_str_equal("abc", "ab"));
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(adapter_retry_after(NULL, 0), -1);
    assert_int_equal(adapter_retry_after("", 0), -1);
    assert_int_equal(adapter_retry_after("30", 0), 30);
    assert_int_equal(adapter_retry_after("999999", 0), 86400);
    assert_int_equal(adapter_retry_after("-1", 0), -1);
    assert_int_equal(adapter_retry_after("soon", 0), -1);
    /* 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example) */
    assert_int_equal(
        adapter_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 5), 5);
    assert_int_equal(
        adapter_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 5), 0);
    assert_int_equal(adapter_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", 0),
                     -1);
}

static void test_secret_file(void **state)
{
    char path[] = "/tmp/test_adapter_XXXXXX";
    char out[32], err[256];
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "  abc\n", 6), 6);
    close(fd);
    assert_int_equal(
        adapter_read_secret(path, out, sizeof(out), err, sizeof(err)),
        RELAY_OK);
    assert_string_equal(out, "abc");
    unlink(path);
    assert_int_equal(
        adapter_read_secret(path, out, sizeof(out), err, sizeof(err)),
        RELAY_ECONFIG);
    assert_non_null(strstr(err, path));
}

static void test_config_glue(void **state)
{
    char path[] = "/tmp/test_adapter_XXXXXX",
         tok[] = "/tmp/test_adapter_XXXXXX";
    char l1[128], l2[128];
    const char *names[] = {"kannel"};
    const char *bad_names[] = {"kannel", "kannel"};
    const char *unknown[] = {"sms77"};
    const char *lines[] = {l1, l2, "kannel.from 3197010000001",
                           "kannel.max-parts 5"};
    const char *orphan[] = {"twilio.from +3197010000001"};
    const char *badval[] = {"kannel.max-parts 0"};
    struct adapter_set set;
    char err[256];
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_int_equal(write(fd, "pw\n", 3), 3);
    close(fd);
    fd = mkstemp(tok);
    assert_int_equal(write(fd, "token_0123456789abc\n", 20), 20);
    close(fd);
    snprintf(l1, sizeof(l1), "kannel.password-file %s", path);
    snprintf(l2, sizeof(l2), "kannel.webhook-token-file  %s", tok);

    assert_true(adapter_key_valid("kannel.from"));
    assert_true(adapter_key_valid("twilio.max-parts"));
    assert_false(adapter_key_valid("kannel.nope"));
    assert_false(adapter_key_valid("nope.from"));
    assert_false(adapter_key_valid("kannel."));
    assert_false(adapter_key_valid("from"));

    assert_int_equal(
        adapter_set_build(&set, names, 1, lines, 4, "f.conf", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.in[0]->common.max_parts, 5);
    assert_true(set.in[0]->inited);
    adapter_set_destroy(&set);
    assert_int_equal(set.n, 0);

    assert_int_equal(adapter_set_build(&set, bad_names, 2, NULL, 0, "f.conf",
                                       err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(adapter_set_build(&set, unknown, 1, NULL, 0, "f.conf", err,
                                       sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "sms77"));
    assert_int_equal(adapter_set_build(&set, names, 1, orphan, 1, "f.conf", err,
                                       sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "adapter twilio"));
    assert_int_equal(adapter_set_build(&set, names, 1, badval, 1, "f.conf", err,
                                       sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "max-parts"));
    /* enabled, but its secret files are missing: init names the key */
    assert_int_equal(
        adapter_set_build(&set, names, 1, NULL, 0, "f.conf", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_non_null(strstr(err, "kannel.password-file"));
    assert_int_equal(set.n, 0);
    unlink(path);
    unlink(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_encode_and_parse),
        cmocka_unit_test(test_headers_and_ids),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_config_glue),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
