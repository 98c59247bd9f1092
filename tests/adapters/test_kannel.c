/*
 * test_kannel.c - adapters/kannel.c as tables, no network: (message ->
 * expected sendsms request), (reply -> verdict), (webhook -> event or
 * refusal). Secrets come from temporary files, as in production.
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

#define TOKEN "tok_0123456789abcdef"
#define HOOK "http://127.0.0.1:8080/hooks/kannel"

static char pw_path[64], tok_path[64];

static void write_secret(char *path, const char *content)
{
    int fd;

    snprintf(path, 64, "/tmp/test_kannel_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    close(fd);
}

static struct adapter_instance *make(const char *method)
{
    struct adapter_instance *in = adapter_instance_create("kannel");
    char err[256];

    assert_non_null(in);
    assert_int_equal(adapter_instance_set(in, "password-file", pw_path, "t",
                                          err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "webhook-token-file", tok_path,
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "from", "3197010000001", "t", err,
                                          sizeof(err)),
                     RELAY_OK);
    assert_int_equal(
        adapter_instance_set(in, "method", method, "t", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)), RELAY_OK);
    assert_string_equal(in->hook_url, HOOK);
    return in;
}

static int setup(void **state)
{
    (void)state;
    write_secret(pw_path, "s3cret pw\n");
    write_secret(tok_path, TOKEN "\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(pw_path);
    unlink(tok_path);
    return 0;
}

#define DLR_ENC                                                                \
    "dlr-url=http%3A%2F%2F127.0.0.1%3A8080%2Fhooks%2Fkannel%2Fdlr%3Fd%3D"      \
    "d1%26k%3D" TOKEN "%26t%3D%25d%26f%3D%25F"
#define DLR_RAW HOOK "/dlr?d=d1&k=" TOKEN "&t=%d&f=%F"

static void test_build_get(void **state)
{
    struct adapter_instance *in = make("get");
    struct adapter_request req = {0};
    struct sms_info info;
    struct adapter_msg msg = {
        .delivery_id = "d1",
        .to = "+31612345678",
        .text = "Hallo buren \xE2\x82\xAC & meer",
        .info = &info,
        .hook_url = in->hook_url,
    };

    (void)state;
    msg.text_len = strlen(msg.text);
    assert_int_equal(sms_text_measure(msg.text, msg.text_len, &info), RELAY_OK);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.method, "GET");
    assert_string_equal(
        req.url, "http://127.0.0.1:13013/cgi-bin/sendsms?username=relay&"
                 "password=s3cret%20pw&from=3197010000001&to=%2B31612345678&"
                 "text=Hallo%20buren%20%E2%82%AC%20%26%20meer&charset=UTF-8&"
                 "coding=0&dlr-mask=31&" DLR_ENC);
    assert_null(req.body);
    assert_int_equal(req.nheaders, 0);
    adapter_request_cleanup(&req);
    assert_null(req.url);
    adapter_instance_destroy(in);
}

static void test_build_post(void **state)
{
    static const struct {
        const char *text;
        const char *coding;
    } cases[] = {
        {"Prijs 5\xE2\x82\xAC [x]", "0"},
        {"Idee\xC3\xABn? \xF0\x9F\x9A\xA8", "2"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_instance *in = make("post");
        struct adapter_request req = {0};
        struct sms_info info;
        char coding[32];
        struct adapter_msg msg = {
            .delivery_id = "d1",
            .to = "+31612345678",
            .text = cases[i].text,
            .text_len = strlen(cases[i].text),
            .info = &info,
            .hook_url = in->hook_url,
        };
        const char *want[] = {
            "Content-Type: text/plain; charset=UTF-8",
            "X-Kannel-Username: relay",
            "X-Kannel-Password: s3cret pw",
            "X-Kannel-From: 3197010000001",
            "X-Kannel-To: +31612345678",
            coding,
            "X-Kannel-DLR-Mask: 31",
            "X-Kannel-DLR-Url: " DLR_RAW,
        };

        snprintf(coding, sizeof(coding), "X-Kannel-Coding: %s",
                 cases[i].coding);
        assert_int_equal(sms_text_measure(msg.text, msg.text_len, &info),
                         RELAY_OK);
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_OK);
        assert_string_equal(req.method, "POST");
        assert_string_equal(req.url, "http://127.0.0.1:13013/cgi-bin/sendsms");
        /* the text is the body, byte for byte; no PII in the URL */
        assert_int_equal(req.body_len, strlen(cases[i].text));
        assert_memory_equal(req.body, cases[i].text, req.body_len);
        assert_int_equal(req.nheaders, 8);
        for (int h = 0; h < 8; h++)
            assert_string_equal(req.headers[h], want[h]);
        adapter_request_cleanup(&req);
        adapter_instance_destroy(in);
    }
}

static void test_bad_message(void **state)
{
    struct adapter_instance *in = make("post");
    struct adapter_request req = {0};
    struct sms_info info = {0};
    struct adapter_msg msg = {.delivery_id = "d/1",
                              .to = "+31612345678",
                              .text = "x",
                              .text_len = 1,
                              .info = &info,
                              .hook_url = HOOK};

    (void)state;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                     RELAY_EINVAL);
    assert_null(req.url);
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
        const char *error;
    } cases[] = {
        {202, "0: Accepted for delivery", NULL, ADAPTER_SENT, -1, ""},
        {202, "3: Queued for later delivery", NULL, ADAPTER_SENT, -1, "queued"},
        {403, "Authorization failed for sendsms", NULL, ADAPTER_RETRY, -1,
         "http_403"},
        {400, "Empty receiver number not allowed, rejected", NULL,
         ADAPTER_FAILED, -1, "http_400"},
        {503, "Temporal failure, try again later.", "7", ADAPTER_RETRY, 7,
         "http_503"},
        {500, "", NULL, ADAPTER_RETRY, -1, "http_500"},
    };
    struct adapter_instance *in = make("post");

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_result r;

        assert_int_equal(in->ops->parse_response(
                             in->priv, cases[i].status, cases[i].body,
                             strlen(cases[i].body), cases[i].retry_after, &r),
                         RELAY_OK);
        assert_int_equal(r.verdict, cases[i].verdict);
        assert_int_equal(r.retry_after_s, cases[i].retry_after_s);
        assert_string_equal(r.error, cases[i].error);
    }
    adapter_instance_destroy(in);
}

static int hook(struct adapter_instance *in, const char *method,
                const char *path, const char *const *headers, int nheaders,
                const char *body, struct adapter_event *ev)
{
    char url[512];
    struct adapter_webhook_req req = {
        .method = method,
        .path = path,
        .url = url,
        .headers = headers,
        .nheaders = nheaders,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };

    snprintf(url, sizeof(url), "http://127.0.0.1:8080%s", path);
    return in->ops->parse_webhook(in->priv, &req, ev);
}

static void test_dlr_webhooks(void **state)
{
    static const struct {
        const char *path;
        int rc;
        enum adapter_event_type type;
        enum adapter_state st;
        const char *error;
    } cases[] = {
        {"/hooks/kannel/dlr?d=d1&k=" TOKEN "&t=1&f=abc-1", RELAY_OK,
         ADAPTER_EVENT_STATUS, ADAPTER_STATE_DELIVERED, ""},
        {"/hooks/kannel/dlr?d=d1&k=" TOKEN "&t=8&f=", RELAY_OK,
         ADAPTER_EVENT_STATUS, ADAPTER_STATE_SENT, ""},
        {"/hooks/kannel/dlr?d=d1&k=" TOKEN "&t=2&f=", RELAY_OK,
         ADAPTER_EVENT_STATUS, ADAPTER_STATE_FAILED, "dlr_2"},
        {"/hooks/kannel/dlr?d=d1&k=" TOKEN "&t=16", RELAY_OK,
         ADAPTER_EVENT_STATUS, ADAPTER_STATE_FAILED, "dlr_16"},
        {"/hooks/kannel/dlr?d=d1&k=" TOKEN "&t=32", RELAY_OK,
         ADAPTER_EVENT_NONE, ADAPTER_STATE_NONE, ""},
        /* forged: wrong, missing or truncated token */
        {"/hooks/kannel/dlr?d=d1&k=tok_0123456789abcdeX&t=1", RELAY_EAUTH, 0, 0,
         ""},
        {"/hooks/kannel/dlr?d=d1&t=1", RELAY_EAUTH, 0, 0, ""},
        {"/hooks/kannel/dlr?d=d1&k=tok_0123&t=1", RELAY_EAUTH, 0, 0, ""},
        /* malformed */
        {"/hooks/kannel/dlr?d=d%2F1&k=" TOKEN "&t=1", RELAY_EINVAL, 0, 0, ""},
        {"/hooks/kannel/dlr?d=d1&k=" TOKEN "&t=x", RELAY_EINVAL, 0, 0, ""},
        {"/hooks/kannel/other?k=" TOKEN, RELAY_ENOTFOUND, 0, 0, ""},
        {"/hooks/twilio/dlr?k=" TOKEN, RELAY_ENOTFOUND, 0, 0, ""},
    };
    struct adapter_instance *in = make("post");

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_event ev;
        int rc = hook(in, "GET", cases[i].path, NULL, 0, NULL, &ev);

        assert_int_equal(rc, cases[i].rc);
        if (rc == RELAY_OK) {
            assert_int_equal(ev.type, cases[i].type);
            assert_int_equal(ev.state, cases[i].st);
            assert_string_equal(ev.delivery_id, "d1");
            assert_string_equal(ev.error, cases[i].error);
            assert_int_equal(ev.http_status, 200);
        }
        adapter_event_cleanup(&ev);
    }
    adapter_instance_destroy(in);
}

static void test_mo_webhooks(void **state)
{
    const char *hdr_ok[] = {"X-Kannel-From: 31612345678",
                            "X-Kannel-To: 3197010000001"};
    const char *hdr_bad[] = {"x-kannel-from:  +31 ab"};
    struct adapter_instance *in = make("post");
    struct adapter_event ev;

    (void)state;
    /* post-url + send-sender: text is the body, sender a header */
    assert_int_equal(hook(in, "POST", "/hooks/kannel/mo?k=" TOKEN "&id=u-1",
                          hdr_ok, 2, "Gezien bij station \xC3\xA9", &ev),
                     RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_MO);
    assert_string_equal(ev.from, "+31612345678");
    assert_string_equal(ev.text, "Gezien bij station \xC3\xA9");
    assert_string_equal(ev.provider_id, "u-1");
    adapter_event_cleanup(&ev);

    /* a UCS-2 SMS arrives as UTF-16BE: "hë" + U+1F6A8 */
    {
        const char *h16[] = {"X-Kannel-From: 31612345678",
                             "Content-Type: text/plain; charset=\"UTF-16BE\""};
        static const char body[] = {0x00,       'h',  0x00,       (char)0xEB,
                                    (char)0xD8, 0x3D, (char)0xDE, (char)0xA8};
        struct adapter_webhook_req r = {
            .method = "POST",
            .path = "/hooks/kannel/mo?k=" TOKEN "&id=u-3",
            .url = "http://127.0.0.1:8080/hooks/kannel/mo",
            .headers = h16,
            .nheaders = 2,
            .body = body,
            .body_len = sizeof(body),
        };

        assert_int_equal(in->ops->parse_webhook(in->priv, &r, &ev), RELAY_OK);
        assert_int_equal(ev.type, ADAPTER_EVENT_MO);
        assert_string_equal(ev.text, "h\xC3\xAB\xF0\x9F\x9A\xA8");
        adapter_event_cleanup(&ev);
        r.body_len = 7; /* odd: not UTF-16, dropped */
        assert_int_equal(in->ops->parse_webhook(in->priv, &r, &ev), RELAY_OK);
        assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
        adapter_event_cleanup(&ev);
        r.body_len = 6; /* lone high surrogate */
        assert_int_equal(in->ops->parse_webhook(in->priv, &r, &ev), RELAY_OK);
        assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
        adapter_event_cleanup(&ev);
    }

    /* get-url: from= and text= */
    assert_int_equal(hook(in, "GET",
                          "/hooks/kannel/mo?k=" TOKEN
                          "&id=u-2&from=0612345678&text=Vermist+kind+gezien",
                          NULL, 0, NULL, &ev),
                     RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_MO);
    assert_string_equal(ev.from, "+31612345678");
    assert_string_equal(ev.text, "Vermist kind gezien");
    adapter_event_cleanup(&ev);

    /* an unusable sender is acknowledged and dropped */
    assert_int_equal(
        hook(in, "POST", "/hooks/kannel/mo?k=" TOKEN, hdr_bad, 1, "tip", &ev),
        RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
    assert_null(ev.text);
    adapter_event_cleanup(&ev);

    /* forged */
    assert_int_equal(
        hook(in, "POST", "/hooks/kannel/mo?k=nope", hdr_ok, 2, "tip", &ev),
        RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    assert_int_equal(
        hook(in, "POST", "/hooks/kannel/mo", hdr_ok, 2, "tip", &ev),
        RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    adapter_instance_destroy(in);
}

static void test_config_errors(void **state)
{
    struct adapter_instance *in = adapter_instance_create("kannel");
    char err[256];

    (void)state;
    assert_int_equal(
        adapter_instance_set(in, "from", "Buurtalert", "t", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_non_null(strstr(err, "from"));
    assert_int_equal(
        adapter_instance_set(in, "method", "put", "t", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_int_equal(
        adapter_instance_set(in, "nonsense", "1", "t", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_int_equal(
        adapter_instance_set(in, "max-parts", "0", "t", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_int_equal(adapter_instance_set(in, "allowed-prefixes", "31", "t",
                                          err, sizeof(err)),
                     RELAY_ECONFIG);
    /* no secret files: init refuses, naming the key */
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "password-file"));
    adapter_instance_destroy(in);
    assert_null(adapter_instance_create("nosuch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_get),
        cmocka_unit_test(test_build_post),
        cmocka_unit_test(test_bad_message),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_dlr_webhooks),
        cmocka_unit_test(test_mo_webhooks),
        cmocka_unit_test(test_config_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
