/*
 * test_webhook.c - adapters/webhook.c as tables, no network: the exact
 * request of both formats (Slack/Mattermost incoming webhook, signed
 * generic JSON), the signature recomputed here two independent ways
 * (libsodium's one-shot crypto_auth_hmacsha256 for a 32-byte key, and
 * HMAC built by hand from SHA-256 for a longer one), Slack escaping and
 * JSON escaping, the Dutch headers per kind, URL and text validation,
 * response verdicts, and init's cross-checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "adapter.h"
#include "error.h"
#include "json_strict.h"

/* exactly crypto_auth_hmacsha256_KEYBYTES (32) bytes */
#define SECRET32 "whsec-0123456789abcdef-012345678"
/* longer than SHA-256's 64-byte block: HMAC hashes the key first */
#define SECRET_LONG                                                            \
    "a-much-longer-webhook-secret-that-exceeds-one-sha256-block-of-64-bytes"

#define SIREN "\xF0\x9F\x9A\xA8"
#define EURO "\xE2\x82\xAC"
#define HOOK "https://meldingen.assen.nl/hooks/buurt-a?src=relay"

static char key32_path[64], keylong_path[64], keyshort_path[64];

static void write_secret(char *path, const char *content)
{
    int fd;

    snprintf(path, 64, "/tmp/test_webhook_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    write_secret(key32_path, SECRET32 "\n");
    write_secret(keylong_path, "  " SECRET_LONG "\n");
    write_secret(keyshort_path, "too-short-secret");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(key32_path);
    unlink(keylong_path);
    unlink(keyshort_path);
    return 0;
}

/* An instance with "key value" pairs applied; init must give 'want'. */
static struct adapter_instance *make_rc(const char *const *kv, size_t n,
                                        int want, char *err, size_t errlen)
{
    struct adapter_instance *in = adapter_instance_create("webhook");

    assert_non_null(in);
    for (size_t i = 0; i < n; i += 2)
        assert_int_equal(
            adapter_instance_set(in, kv[i], kv[i + 1], "t", err, errlen),
            RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, errlen), want);
    return in;
}

static struct adapter_instance *make(const char *const *kv, size_t n)
{
    char err[256];

    return make_rc(kv, n, RELAY_OK, err, sizeof(err));
}

static struct adapter_instance *make_json(const char *secret_path)
{
    const char *kv[] = {"secret-file", secret_path};

    return make(kv, 2);
}

static struct adapter_instance *make_slack(void)
{
    const char *kv[] = {"format", "slack"};

    return make(kv, 2);
}

static struct adapter_msg base_msg(const char *text)
{
    struct adapter_msg m = {
        .delivery_id = "d-42",
        .to = HOOK,
        .to_group = 1,
        .text = text,
        .text_len = strlen(text),
        .hook_url = "https://relay.example.nl/hooks/webhook",
        .kind = "appeal",
        .urgent = 1,
    };

    return m;
}

static const char *header_value(const struct adapter_request *r,
                                const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; i < r->nheaders; i++) {
        if (strncmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':' &&
            r->headers[i][n + 1] == ' ')
            return r->headers[i] + n + 2;
    }
    return NULL;
}

/* HMAC-SHA256 from its definition (RFC 2104) over SHA-256 alone. */
static void hmac_by_hand(const char *key, const char *msg, size_t len,
                         unsigned char out[32])
{
    unsigned char k[64] = {0}, pad[64], inner[32];
    crypto_hash_sha256_state st;
    size_t klen = strlen(key);

    if (klen > 64)
        crypto_hash_sha256(k, (const unsigned char *)key, klen);
    else
        memcpy(k, key, klen);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, pad, 64);
    crypto_hash_sha256_update(&st, (const unsigned char *)msg, len);
    crypto_hash_sha256_final(&st, inner);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, pad, 64);
    crypto_hash_sha256_update(&st, inner, 32);
    crypto_hash_sha256_final(&st, out);
}

/* "{ts}.{body}" */
static char *signed_string(const char *ts, const struct adapter_request *r)
{
    size_t n = strlen(ts) + 1 + r->body_len;
    char *s = malloc(n + 1);

    assert_non_null(s);
    snprintf(s, n + 1, "%s.%s", ts, r->body);
    assert_int_equal(strlen(s), n);
    return s;
}

static void expect_sig(const struct adapter_request *r,
                       const unsigned char *mac)
{
    char hex[65], want[70];

    sodium_bin2hex(hex, sizeof(hex), mac, 32);
    snprintf(want, sizeof(want), "v1=%s", hex);
    assert_string_equal(header_value(r, "X-Buurtrelay-Signature"), want);
}

#define TEXT                                                                   \
    "Vermist: man (78), \"Henk\" \\ blauwe jas & pet <b>\n"                    \
    "Tips: bel 112 \xE2\x82\xAC\t\x01"

static void test_json_request(void **state)
{
    struct adapter_instance *in = make_json(key32_path);
    struct adapter_request req = {0};
    struct adapter_msg msg = base_msg(TEXT);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char want[1024], *signed_str;
    const char *ts, *why = NULL;
    long long t0, t1, t;
    cJSON *root;

    (void)state;
    t0 = (long long)time(NULL);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    t1 = (long long)time(NULL);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, HOOK);
    assert_int_equal(req.nheaders, 4);
    assert_string_equal(req.headers[0], "Content-Type: application/json");
    assert_string_equal(header_value(&req, "Idempotency-Key"), "d-42");
    ts = header_value(&req, "X-Buurtrelay-Timestamp");
    assert_non_null(ts);
    assert_int_equal(strspn(ts, "0123456789"), strlen(ts));
    t = strtoll(ts, NULL, 10);
    assert_true(t >= t0 && t <= t1);

    /* the exact body: fixed key order, JSON escapes for ", \, newline,
     * tab and U+0001; & and < untouched (this is not Slack); UTF-8 raw */
    snprintf(want, sizeof(want),
             "{\"id\":\"d-42\",\"kind\":\"appeal\",\"urgent\":true,"
             "\"group\":true,\"title\":\"" SIREN " Politie-oproep\","
             "\"text\":\"Vermist: man (78), \\\"Henk\\\" \\\\ blauwe jas & "
             "pet <b>\\nTips: bel 112 " EURO "\\t\\u0001\","
             "\"sent_at\":%s}",
             ts);
    assert_string_equal(req.body, want);
    assert_int_equal(req.body_len, strlen(want));

    /* strict JSON that gives back exactly the text we were handed */
    root = json_strict_parse(req.body, req.body_len, 4, &why);
    assert_non_null(root);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(root, "text")->valuestring, TEXT);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "urgent")));
    assert_int_equal(
        (long long)cJSON_GetObjectItemCaseSensitive(root, "sent_at")
            ->valuedouble,
        t);
    cJSON_Delete(root);

    /* v1 = hex(HMAC-SHA256(secret, "{ts}.{body}")) */
    signed_str = signed_string(ts, &req);
    assert_int_equal(strlen(SECRET32), crypto_auth_hmacsha256_KEYBYTES);
    crypto_auth_hmacsha256(mac, (const unsigned char *)signed_str,
                           strlen(signed_str), (const unsigned char *)SECRET32);
    expect_sig(&req, mac);
    /* and a different body would not match it */
    signed_str[strlen(signed_str) - 2] ^= 1;
    assert_int_not_equal(
        crypto_auth_hmacsha256_verify(mac, (const unsigned char *)signed_str,
                                      strlen(signed_str),
                                      (const unsigned char *)SECRET32),
        0);
    free(signed_str);
    adapter_request_cleanup(&req);
    adapter_instance_destroy(in);
}

static void test_json_long_key_not_urgent(void **state)
{
    const char *kv[] = {"secret-file", keylong_path, "user-agent",
                        "gemeente-assen-relay/1.0"};
    struct adapter_instance *in = make(kv, 4);
    struct adapter_request req = {0};
    struct adapter_msg msg = base_msg("Zoekactie gestopt.");
    unsigned char mac[32];
    char want[512], *signed_str;
    const char *ts;

    (void)state;
    msg.kind = "closing";
    msg.urgent = 0;
    msg.to_group = 0;
    msg.delivery_id = "del_9-Z";
    msg.to = "http://127.0.0.1:8080/hook/buurt-b";
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.url, "http://127.0.0.1:8080/hook/buurt-b");
    assert_int_equal(req.nheaders, 5);
    assert_string_equal(header_value(&req, "User-Agent"),
                        "gemeente-assen-relay/1.0");
    assert_string_equal(header_value(&req, "Idempotency-Key"), "del_9-Z");
    ts = header_value(&req, "X-Buurtrelay-Timestamp");
    assert_non_null(ts);
    snprintf(want, sizeof(want),
             "{\"id\":\"del_9-Z\",\"kind\":\"closing\",\"urgent\":false,"
             "\"group\":false,\"title\":\"Afgesloten\","
             "\"text\":\"Zoekactie gestopt.\",\"sent_at\":%s}",
             ts);
    assert_string_equal(req.body, want);
    /* the key was read trimmed, and is longer than a SHA-256 block */
    signed_str = signed_string(ts, &req);
    hmac_by_hand(SECRET_LONG, signed_str, strlen(signed_str), mac);
    expect_sig(&req, mac);
    free(signed_str);
    adapter_request_cleanup(&req);
    adapter_instance_destroy(in);
}

static void test_slack_request(void **state)
{
    struct adapter_instance *in = make_slack();
    struct adapter_request req = {0};
    struct adapter_msg msg = base_msg(TEXT);
    const char *why = NULL;
    cJSON *root;

    (void)state;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, HOOK);
    /* nothing signed, no idempotency: the URL is the credential */
    assert_int_equal(req.nheaders, 1);
    assert_string_equal(req.headers[0], "Content-Type: application/json");
    assert_string_equal(
        req.body, "{\"text\":\"*" SIREN " Politie-oproep*\\n"
                  "Vermist: man (78), \\\"Henk\\\" \\\\ blauwe jas &amp; pet "
                  "&lt;b&gt;\\nTips: bel 112 " EURO "\\t\\u0001\"}");
    root = json_strict_parse(req.body, req.body_len, 4, &why);
    assert_non_null(root);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(root, "text")->valuestring,
        "*" SIREN " Politie-oproep*\nVermist: man (78), \"Henk\" \\ blauwe "
        "jas &amp; pet &lt;b&gt;\nTips: bel 112 " EURO "\t\x01");
    cJSON_Delete(root);
    adapter_request_cleanup(&req);

    /* text that is already an entity is escaped again: it is plain text */
    msg = base_msg("a &amp; b");
    msg.urgent = 0;
    msg.kind = "test";
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.body, "{\"text\":\"*Test*\\na &amp;amp; b\"}");
    adapter_request_cleanup(&req);
    adapter_instance_destroy(in);
}

static void test_titles(void **state)
{
    static const struct {
        const char *kind;
        int urgent;
        const char *body;
    } cases[] = {
        {"appeal", 1, "{\"text\":\"*" SIREN " Politie-oproep*\\nx\"}"},
        {"appeal", 0, "{\"text\":\"*Politie-oproep*\\nx\"}"},
        {"approval", 0, "{\"text\":\"*Politie-oproep*\\nx\"}"},
        {"update", 0, "{\"text\":\"*Update politie-oproep*\\nx\"}"},
        {"update", 1, "{\"text\":\"*" SIREN " Update politie-oproep*\\nx\"}"},
        {"closing", 1, "{\"text\":\"*" SIREN " Afgesloten*\\nx\"}"},
        {"status", 0, "{\"text\":\"*Uw melding*\\nx\"}"},
        {"notice", 0, "{\"text\":\"*Bericht*\\nx\"}"},
        {"test", 0, "{\"text\":\"*Test*\\nx\"}"},
        /* a kind the adapter does not know yet: neutral, not refused */
        {"future_kind", 0, "{\"text\":\"*Bericht*\\nx\"}"},
    };
    struct adapter_instance *in = make_slack();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_request req = {0};
        struct adapter_msg msg = base_msg("x");

        msg.kind = cases[i].kind;
        msg.urgent = cases[i].urgent;
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_OK);
        assert_string_equal(req.body, cases[i].body);
        adapter_request_cleanup(&req);
    }
    adapter_instance_destroy(in);
}

/* build_request on 'msg' must refuse it and leave req empty. */
static void expect_einval(struct adapter_instance *in,
                          const struct adapter_msg *msg)
{
    struct adapter_request req = {0};

    assert_int_equal(in->ops->build_request(in->priv, msg, &req), RELAY_EINVAL);
    assert_null(req.url);
    assert_null(req.body);
    assert_int_equal(req.nheaders, 0);
}

static void test_url_validation(void **state)
{
    static const char *const good[] = {
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        "http://127.0.0.1:39123/hook/buurt-a",
        "https://mm.assen.nl/hooks/abc123?x=1&y=%2F",
        "https://example.nl",
        "https://example.nl:443",
        "http://[::1]:8080/h",
        "https://relay.example.nl/a/b@c/~d_e-f.g;h=i,j+k!l$m*n'o(p)",
    };
    static const char *const bad[] = {
        "",
        "ftp://example.nl/h",
        "HTTPS//example.nl",
        "https://",
        "https:///path",
        "https://.example.nl/",
        "https://-example.nl/",
        "https://user:pw@example.nl/h",   /* userinfo */
        "https://good.nl@evil.example/h", /* userinfo */
        "https://example.nl:0/h",
        "https://example.nl:65536/h",
        "https://example.nl:123456/h",
        "https://example.nl:/h",
        "https://example.nl/a b",
        "https://example.nl/a\r\nX-Injected: 1",
        "https://example.nl/a\tb",
        "https://example.nl/h#frag",
        "https://example.nl/%zz",
        "https://example.nl/%4",
        "https://example.nl/<x>",
        "https://example.nl/a\\b",
        "https://example.nl/\xC3\xA9",
        "https://[::1/h",
        "https://[]/h",
        "https://example.nl\\@evil/",
    };
    struct adapter_instance *in = make_slack();
    char longest[ADAPTER_ADDR_MAX + 2];
    struct adapter_request req = {0};
    struct adapter_msg msg = base_msg("x");

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        msg.to = good[i];
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_OK);
        assert_string_equal(req.url, good[i]);
        adapter_request_cleanup(&req);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg.to = bad[i];
        expect_einval(in, &msg);
    }
    msg.to = NULL;
    expect_einval(in, &msg);

    /* 255 bytes is the most an address may have */
    memset(longest, 'a', sizeof(longest));
    memcpy(longest, "https://example.nl/", 19);
    longest[ADAPTER_ADDR_MAX] = '\0';
    msg.to = longest;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    adapter_request_cleanup(&req);
    longest[ADAPTER_ADDR_MAX] = 'a';
    longest[ADAPTER_ADDR_MAX + 1] = '\0';
    expect_einval(in, &msg);
    adapter_instance_destroy(in);
}

static void test_text_validation(void **state)
{
    struct adapter_instance *slack = make_slack();
    struct adapter_instance *json = make_json(key32_path);
    size_t max = slack->ops->max_text_chars;
    char *text = malloc(3 * (max + 1) + 1);
    struct adapter_request req = {0};
    struct adapter_msg msg;
    size_t n = 0;

    (void)state;
    assert_int_equal(max, 4000);
    assert_non_null(text);
    /* 4000 code points of 3 bytes each are fine */
    for (size_t i = 0; i < max; i++) {
        memcpy(text + n, EURO, 3);
        n += 3;
    }
    text[n] = '\0';
    msg = base_msg(text);
    assert_int_equal(json->ops->build_request(json->priv, &msg, &req),
                     RELAY_OK);
    adapter_request_cleanup(&req);
    /* one more is refused, not truncated */
    memcpy(text + n, EURO, 3);
    text[n + 3] = '\0';
    msg = base_msg(text);
    expect_einval(json, &msg);
    expect_einval(slack, &msg);

    /* the worst Slack case, 4000 '&', stays far below Slack's 40,000 */
    memset(text, '&', max);
    text[max] = '\0';
    msg = base_msg(text);
    assert_int_equal(slack->ops->build_request(slack->priv, &msg, &req),
                     RELAY_OK);
    assert_true(req.body_len < 40000);
    adapter_request_cleanup(&req);
    free(text);

    /* invalid UTF-8, an embedded NUL, a bad delivery id, a bad kind */
    msg = base_msg("overlong \xC0\xAF");
    expect_einval(json, &msg);
    msg = base_msg("half \xE2\x82");
    expect_einval(slack, &msg);
    msg = base_msg("nul");
    msg.text = "a\0b";
    msg.text_len = 3;
    expect_einval(json, &msg);
    msg = base_msg("x");
    msg.delivery_id = "d/1";
    expect_einval(json, &msg);
    msg.delivery_id = "";
    expect_einval(json, &msg);
    msg = base_msg("x");
    msg.kind = NULL;
    expect_einval(json, &msg);
    msg.kind = "";
    expect_einval(json, &msg);
    msg.kind = "appeal\",\"urgent\":false";
    expect_einval(json, &msg);
    msg = base_msg("x");
    msg.text = NULL;
    expect_einval(json, &msg);

    /* an empty text still has its header */
    msg = base_msg("");
    msg.urgent = 0;
    assert_int_equal(slack->ops->build_request(slack->priv, &msg, &req),
                     RELAY_OK);
    assert_string_equal(req.body, "{\"text\":\"*Politie-oproep*\\n\"}");
    adapter_request_cleanup(&req);
    adapter_instance_destroy(slack);
    adapter_instance_destroy(json);
}

struct resp_case {
    long status;
    const char *body;
    const char *retry_after;
    enum adapter_verdict verdict;
    long retry_after_s;
    const char *provider_id;
    const char *error;
};

static void run_cases(struct adapter_instance *in, const struct resp_case *c,
                      size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct adapter_result r;

        memset(&r, 0x5a, sizeof(r));
        assert_int_equal(in->ops->parse_response(in->priv, c[i].status,
                                                 c[i].body, strlen(c[i].body),
                                                 c[i].retry_after, &r),
                         RELAY_OK);
        assert_int_equal(r.verdict, c[i].verdict);
        assert_int_equal(r.retry_after_s, c[i].retry_after_s);
        assert_string_equal(r.provider_id, c[i].provider_id);
        assert_string_equal(r.error, c[i].error);
    }
}

static void test_slack_responses(void **state)
{
    static const struct resp_case cases[] = {
        {200, "ok", NULL, ADAPTER_SENT, -1, "", ""},
        {200, "", NULL, ADAPTER_SENT, -1, "", ""},
        {204, "", NULL, ADAPTER_SENT, -1, "", ""},
        {400, "invalid_payload", NULL, ADAPTER_FAILED, -1, "",
         "wh_400_invalid_payload"},
        {400, "no_text\n", NULL, ADAPTER_FAILED, -1, "", "wh_400_no_text"},
        {403, "action_prohibited", NULL, ADAPTER_FAILED, -1, "",
         "wh_403_action_prohibited"},
        {404, "channel_not_found", NULL, ADAPTER_FAILED, -1, "",
         "wh_404_channel_not_found"},
        {404, "no_service", NULL, ADAPTER_FAILED, -1, "", "wh_404_no_service"},
        {410, "channel_is_archived", NULL, ADAPTER_FAILED, -1, "",
         "wh_410_channel_is_archived"},
        {429, "", "2", ADAPTER_RETRY, 2, "", "wh_429"},
        /* Slack's documented 429 body is JSON, not a word */
        {429,
         "{\"ok\":false,\"count_hour_ago\":400,\"count_minute_ago\":100,"
         "\"count_second_ago\":5}",
         "1", ADAPTER_RETRY, 1, "", "wh_429"},
        {500, "rollup_error", NULL, ADAPTER_RETRY, -1, "",
         "wh_500_rollup_error"},
        {502, "<html><body>Bad Gateway</body></html>", NULL, ADAPTER_RETRY, -1,
         "", "wh_502"},
        {503, "", "Thu, 01 Jan 1970 00:00:00 GMT", ADAPTER_RETRY, 0, "",
         "wh_503"},
        {408, "", NULL, ADAPTER_RETRY, -1, "", "wh_408"},
        /* not one short word: the status alone */
        {400, "Invalid Payload", NULL, ADAPTER_FAILED, -1, "", "wh_400"},
        {400, "an_error_word_that_is_much_too_long_to_keep_in_the_error_field",
         NULL, ADAPTER_FAILED, -1, "", "wh_400"},
        {301, "", NULL, ADAPTER_FAILED, -1, "", "wh_301"},
    };
    struct adapter_instance *in = make_slack();

    (void)state;
    run_cases(in, cases, sizeof(cases) / sizeof(cases[0]));
    adapter_instance_destroy(in);
}

static void test_json_responses(void **state)
{
    static const struct resp_case cases[] = {
        {200, "{\"ok\":true,\"id\":\"d-42\"}", NULL, ADAPTER_SENT, -1, "d-42",
         ""},
        {200, "ok", NULL, ADAPTER_SENT, -1, "", ""},
        {202, "", NULL, ADAPTER_SENT, -1, "", ""},
        {201, "{\"id\":\"has space\"}", NULL, ADAPTER_SENT, -1, "", ""},
        {201, "{\"id\":42}", NULL, ADAPTER_SENT, -1, "", ""},
        {201, "[\"id\"]", NULL, ADAPTER_SENT, -1, "", ""},
        /* a wrong secret or a clock 5 minutes off: retrying won't help */
        {401, "{\"error\":\"invalid_signature\"}", NULL, ADAPTER_FAILED, -1, "",
         "wh_401"},
        /* json receivers' words are not copied */
        {400, "invalid_payload", NULL, ADAPTER_FAILED, -1, "", "wh_400"},
        {404, "", NULL, ADAPTER_FAILED, -1, "", "wh_404"},
        {429, "{}", "7", ADAPTER_RETRY, 7, "", "wh_429"},
        {429, "", "soon", ADAPTER_RETRY, -1, "", "wh_429"},
        {408, "", NULL, ADAPTER_RETRY, -1, "", "wh_408"},
        {500, "", NULL, ADAPTER_RETRY, -1, "", "wh_500"},
        {504, "", "30", ADAPTER_RETRY, 30, "", "wh_504"},
    };
    struct adapter_instance *in = make_json(key32_path);

    (void)state;
    run_cases(in, cases, sizeof(cases) / sizeof(cases[0]));
    adapter_instance_destroy(in);
}

static void test_ops_and_init(void **state)
{
    const struct adapter_ops *ops = adapter_find("webhook");
    struct adapter_instance *in;
    char err[256];

    (void)state;
    assert_non_null(ops);
    assert_int_equal(ops->caps, ADAPTER_CAP_CHAT | ADAPTER_CAP_GROUP);
    assert_string_equal(ops->address_kind, "webhook");
    assert_int_equal(ops->max_text_chars, 4000);
    assert_null(ops->parse_webhook);

    /* json (the default) needs a secret file ... */
    in = make_rc(NULL, 0, RELAY_ECONFIG, err, sizeof(err));
    assert_non_null(strstr(err, "webhook.secret-file"));
    adapter_instance_destroy(in);
    /* ... holding a long enough key, never echoed in the error */
    {
        const char *kv[] = {"secret-file", keyshort_path};

        in = make_rc(kv, 2, RELAY_ECONFIG, err, sizeof(err));
        assert_non_null(strstr(err, "32 bytes"));
        assert_null(strstr(err, "too-short-secret"));
        adapter_instance_destroy(in);
    }
    {
        const char *kv[] = {"secret-file", "/nonexistent/webhook.key"};

        in = make_rc(kv, 2, RELAY_ECONFIG, err, sizeof(err));
        assert_non_null(strstr(err, "webhook.secret-file"));
        adapter_instance_destroy(in);
    }
    /* slack signs nothing: a secret there is a mistake */
    {
        const char *kv[] = {"format", "slack", "secret-file", key32_path};

        in = make_rc(kv, 4, RELAY_ECONFIG, err, sizeof(err));
        assert_non_null(strstr(err, "only used with"));
        adapter_instance_destroy(in);
    }
    /* bad values are refused when set */
    in = adapter_instance_create("webhook");
    assert_non_null(in);
    assert_int_equal(
        adapter_instance_set(in, "format", "xml", "t", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_int_equal(adapter_instance_set(in, "user-agent", "a\r\nX-Evil: 1",
                                          "t", err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_int_equal(adapter_instance_set(in, "user-agent", "caf\xC3\xA9", "t",
                                          err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_int_equal(
        adapter_instance_set(in, "no-such-key", "1", "t", err, sizeof(err)),
        RELAY_ECONFIG);
    adapter_instance_destroy(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_request),
        cmocka_unit_test(test_json_long_key_not_urgent),
        cmocka_unit_test(test_slack_request),
        cmocka_unit_test(test_titles),
        cmocka_unit_test(test_url_validation),
        cmocka_unit_test(test_text_validation),
        cmocka_unit_test(test_slack_responses),
        cmocka_unit_test(test_json_responses),
        cmocka_unit_test(test_ops_and_init),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
