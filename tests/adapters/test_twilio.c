/*
 * test_twilio.c - adapters/twilio.c as tables, no network: the Messages
 * request, response verdicts (201/400/401/429/5xx), and signed webhooks:
 * Twilio's own documented signature example, our status and MO
 * callbacks, and forgeries (changed body, URL, missing header).
 * Expected signatures were computed independently (Python hmac/hashlib).
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

#define TOKEN "tw-auth-token-0123456789"

static char tok_path[64];

static void write_secret(char *path, const char *content)
{
    int fd;

    snprintf(path, 64, "/tmp/test_twilio_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    write_secret(tok_path, TOKEN "\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(tok_path);
    return 0;
}

static struct adapter_instance *make(const char *token_path)
{
    struct adapter_instance *in = adapter_instance_create("twilio");
    char err[256];
    static const char *const kv[][2] = {
        {"account-sid", "ACtest"},
        {"from", "+3197010000001"},
        {"api-url", "http://127.0.0.1:9999"},
        {"public-url", "https://relay.example.nl"},
    };

    assert_non_null(in);
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(
            adapter_instance_set(in, kv[i][0], kv[i][1], "t", err, sizeof(err)),
            RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "auth-token-file", token_path,
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)), RELAY_OK);
    return in;
}

static void test_build_request(void **state)
{
    struct adapter_instance *in = make(tok_path);
    struct adapter_request req = {0};
    struct sms_info info;
    const char *text = "Vermist: man (78) \xE2\x82\xAC & pet";
    struct adapter_msg msg = {
        .delivery_id = "d-42",
        .to = "+31612345678",
        .text = text,
        .text_len = strlen(text),
        .info = &info,
        .hook_url = in->hook_url,
    };

    (void)state;
    assert_int_equal(sms_text_measure(text, strlen(text), &info), RELAY_OK);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url,
                        "http://127.0.0.1:9999/2010-04-01/Accounts/ACtest/"
                        "Messages.json");
    assert_string_equal(
        req.body, "To=%2B31612345678&From=%2B3197010000001&"
                  "Body=Vermist%3A%20man%20%2878%29%20%E2%82%AC%20%26%20pet&"
                  "StatusCallback=https%3A%2F%2Frelay.example.nl%2Fhooks%2F"
                  "twilio%2Fstatus%3Fd%3Dd-42");
    assert_int_equal(req.nheaders, 3);
    /* base64("ACtest:" TOKEN) */
    assert_string_equal(req.headers[0],
                        "Authorization: Basic "
                        "QUN0ZXN0OnR3LWF1dGgtdG9rZW4tMDEyMzQ1Njc4OQ==");
    assert_string_equal(req.headers[1],
                        "Content-Type: application/x-www-form-urlencoded");
    adapter_request_cleanup(&req);
    adapter_instance_destroy(in);
}

static void test_parse_response(void **state)
{
    static const struct {
        long status;
        const char *body;
        const char *retry_after;
        enum adapter_verdict verdict;
        long retry_after_s;
        const char *provider_id;
        const char *error;
    } cases[] = {
        {201,
         "{\"sid\":\"SM0123\",\"status\":\"queued\",\"num_segments\":\"1\"}",
         NULL, ADAPTER_SENT, -1, "SM0123", ""},
        {201, "not json", NULL, ADAPTER_SENT, -1, "", ""},
        {400, "{\"code\":21211,\"message\":\"Invalid 'To' Phone Number\"}",
         NULL, ADAPTER_FAILED, -1, "", "21211"},
        {400, "{\"code\":21614,\"message\":\"not a mobile number\"}", NULL,
         ADAPTER_FAILED, -1, "", "21614"},
        {401, "{\"code\":20003,\"message\":\"Authenticate\"}", NULL,
         ADAPTER_RETRY, -1, "", "20003"},
        {429, "{\"code\":20429,\"message\":\"Too Many Requests\"}", "3",
         ADAPTER_RETRY, 3, "", "20429"},
        {429, "", "Thu, 01 Jan 1970 00:00:00 GMT", ADAPTER_RETRY, 0, "",
         "http_429"},
        {500, "", NULL, ADAPTER_RETRY, -1, "", "http_500"},
        {503, "<html>", "120", ADAPTER_RETRY, 120, "", "http_503"},
    };
    struct adapter_instance *in = make(tok_path);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_result r;

        assert_int_equal(in->ops->parse_response(
                             in->priv, cases[i].status, cases[i].body,
                             strlen(cases[i].body), cases[i].retry_after, &r),
                         RELAY_OK);
        assert_int_equal(r.verdict, cases[i].verdict);
        assert_int_equal(r.retry_after_s, cases[i].retry_after_s);
        assert_string_equal(r.provider_id, cases[i].provider_id);
        assert_string_equal(r.error, cases[i].error);
    }
    adapter_instance_destroy(in);
}

static int hook(struct adapter_instance *in, const char *path, const char *url,
                const char *sig, const char *body, struct adapter_event *ev)
{
    char hdr[128];
    const char *headers[2] = {"Content-Type: application/x-www-form-"
                              "urlencoded",
                              hdr};
    struct adapter_webhook_req req = {
        .method = "POST",
        .path = path,
        .url = url,
        .headers = headers,
        .nheaders = sig ? 2 : 1,
        .body = body,
        .body_len = strlen(body),
    };

    snprintf(hdr, sizeof(hdr), "X-Twilio-Signature: %s", sig ? sig : "");
    memset(ev, 0x5a, sizeof(*ev));
    return in->ops->parse_webhook(in->priv, &req, ev);
}

static void test_documented_signature(void **state)
{
    char path[64];
    struct adapter_instance *in;
    struct adapter_event ev;

    (void)state;
    /* twilio.com/docs/usage/webhooks/webhooks-security: token 12345 */
    write_secret(path, "12345");
    in = make(path);
    assert_int_equal(hook(in, "/hooks/twilio/mo",
                          "https://mycompany.com/myapp.php?foo=1&bar=2",
                          "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
                          "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&"
                          "Digits=1234&From=%2B12349013030&To=%2B18005551212",
                          &ev),
                     RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_MO);
    assert_string_equal(ev.from, "+12349013030");
    adapter_event_cleanup(&ev);
    /* the same parameters in another order sign the same */
    assert_int_equal(hook(in, "/hooks/twilio/mo",
                          "https://mycompany.com/myapp.php?foo=1&bar=2",
                          "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
                          "To=%2B18005551212&Digits=1234&From=%2B12349013030&"
                          "Caller=%2B12349013030&CallSid=CA1234567890ABCDE",
                          &ev),
                     RELAY_OK);
    adapter_event_cleanup(&ev);
    adapter_instance_destroy(in);
    unlink(path);
}

#define STATUS_URL "https://relay.example.nl/hooks/twilio/status?d=d1"
#define STATUS_BODY                                                            \
    "MessageSid=SM123&MessageStatus=delivered&AccountSid=ACtest&"              \
    "To=%2B31612345678&From=%2B3197010000001&ErrorCode="
#define STATUS_SIG "pi19ELwK7r9xJIS0xap4d4mXrG0="
#define MO_URL "https://relay.example.nl/hooks/twilio/mo"
#define MO_BODY                                                                \
    "MessageSid=SM9&From=%2B31612345678&To=%2B3197010000001&"                  \
    "Body=Gezien+bij+station%2C+blauwe+jas+%26+pet+%E2%82%AC"
#define MO_SIG "PAHqxFSjetRfXmRBy9s3/daBkoQ="

static void test_status_callback(void **state)
{
    struct adapter_instance *in = make(tok_path);
    struct adapter_event ev;

    (void)state;
    assert_int_equal(hook(in, "/hooks/twilio/status?d=d1", STATUS_URL,
                          STATUS_SIG, STATUS_BODY, &ev),
                     RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_STATUS);
    assert_int_equal(ev.state, ADAPTER_STATE_DELIVERED);
    assert_string_equal(ev.delivery_id, "d1");
    assert_string_equal(ev.provider_id, "SM123");
    assert_int_equal(ev.http_status, 200);
    adapter_event_cleanup(&ev);
    adapter_instance_destroy(in);
}

static void test_mo(void **state)
{
    struct adapter_instance *in = make(tok_path);
    struct adapter_event ev;

    (void)state;
    assert_int_equal(hook(in, "/hooks/twilio/mo", MO_URL, MO_SIG, MO_BODY, &ev),
                     RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_MO);
    assert_string_equal(ev.from, "+31612345678");
    assert_string_equal(ev.text,
                        "Gezien bij station, blauwe jas & pet \xE2\x82\xAC");
    assert_string_equal(ev.provider_id, "SM9");
    assert_string_equal(ev.reply_type, "text/xml");
    assert_non_null(strstr(ev.reply_body, "<Response></Response>"));
    adapter_event_cleanup(&ev);
    adapter_instance_destroy(in);
}

static void test_forged(void **state)
{
    struct adapter_instance *in = make(tok_path);
    struct adapter_event ev;

    (void)state;
    /* status changed from delivered to failed: signature no longer fits */
    assert_int_equal(
        hook(in, "/hooks/twilio/status?d=d1", STATUS_URL, STATUS_SIG,
             "MessageSid=SM123&MessageStatus=failed&AccountSid=ACtest&"
             "To=%2B31612345678&From=%2B3197010000001&ErrorCode=",
             &ev),
        RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    /* the same body replayed against another delivery id */
    assert_int_equal(hook(in, "/hooks/twilio/status?d=d2",
                          "https://relay.example.nl/hooks/twilio/status?d=d2",
                          STATUS_SIG, STATUS_BODY, &ev),
                     RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    /* no header, empty header, garbage header */
    assert_int_equal(hook(in, "/hooks/twilio/status?d=d1", STATUS_URL, NULL,
                          STATUS_BODY, &ev),
                     RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    assert_int_equal(
        hook(in, "/hooks/twilio/status?d=d1", STATUS_URL, "", STATUS_BODY, &ev),
        RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    assert_int_equal(hook(in, "/hooks/twilio/mo", MO_URL, "AAAA", MO_BODY, &ev),
                     RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    /* unknown path, malformed body */
    assert_int_equal(hook(in, "/hooks/twilio/x", MO_URL, MO_SIG, MO_BODY, &ev),
                     RELAY_ENOTFOUND);
    adapter_event_cleanup(&ev);
    assert_int_equal(
        hook(in, "/hooks/twilio/mo", MO_URL, MO_SIG, "Body=%zz", &ev),
        RELAY_EINVAL);
    adapter_event_cleanup(&ev);
    adapter_instance_destroy(in);
}

static void test_init_needs_sender(void **state)
{
    struct adapter_instance *in = adapter_instance_create("twilio");
    char err[256];

    (void)state;
    assert_int_equal(
        adapter_instance_set(in, "account-sid", "ACx", "t", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "from"));
    assert_int_equal(
        adapter_instance_set(in, "account-sid", "AC/x", "t", err, sizeof(err)),
        RELAY_ECONFIG);
    adapter_instance_destroy(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_documented_signature),
        cmocka_unit_test(test_status_callback),
        cmocka_unit_test(test_mo),
        cmocka_unit_test(test_forged),
        cmocka_unit_test(test_init_needs_sender),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
