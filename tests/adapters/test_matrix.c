/*
 * test_matrix.c - adapters/matrix.c as tables, no network: the send
 * request (URL with the encoded room id and txnId, headers, body JSON
 * with its escaping), the same txnId on a retry, room id syntax, length
 * limits, response verdicts (200, 429 retry_after_ms and Retry-After,
 * 4xx, 5xx), and application-service transactions: authentication
 * (header, legacy query, wrong, missing), replies with their fallback
 * stripped, the bot's own events, events that are not text, malformed
 * bodies.
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

#include <cjson/cJSON.h>

#include "adapter.h"
#include "error.h"

#define TOKEN "syt_Ym90_access_0123456789"
#define HS_TOKEN "hs-token-abcdef0123456789"
#define BOT "@buurtbot:example.org"
#define ROOM "!abcDEF123:example.org"
#define HS "http://127.0.0.1:9999"

static char tok_path[64], hs_path[64];

static void write_secret(char *path, const char *content)
{
    int fd;

    snprintf(path, 64, "/tmp/test_matrix_XXXXXX");
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
    write_secret(hs_path, "  " HS_TOKEN "\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(tok_path);
    unlink(hs_path);
    return 0;
}

/* An instance with every option; with_mo = 0 leaves replies off. */
static struct adapter_instance *make(int with_mo)
{
    struct adapter_instance *in = adapter_instance_create("matrix");
    char err[256];

    assert_non_null(in);
    assert_int_equal(
        adapter_instance_set(in, "homeserver-url", HS, "t", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "access-token-file", tok_path,
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "public-url",
                                          "https://relay.example.nl", "t", err,
                                          sizeof(err)),
                     RELAY_OK);
    if (with_mo) {
        assert_int_equal(adapter_instance_set(in, "hs-token-file", hs_path, "t",
                                              err, sizeof(err)),
                         RELAY_OK);
        assert_int_equal(
            adapter_instance_set(in, "user-id", BOT, "t", err, sizeof(err)),
            RELAY_OK);
    }
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)), RELAY_OK);
    return in;
}

static struct adapter_msg msg_for(struct adapter_instance *in, const char *to,
                                  const char *text, const char *kind,
                                  int urgent)
{
    struct adapter_msg msg = {
        .delivery_id = "d-42",
        .to = to,
        .to_group = 1,
        .text = text,
        .text_len = strlen(text),
        .hook_url = in->hook_url,
        .kind = kind,
        .urgent = urgent,
    };

    return msg;
}

/* ---- Sending ---------------------------------------------------------- */

static void test_build_request(void **state)
{
    struct adapter_instance *in = make(1);
    struct adapter_request req = {0};
    const char *text = "Vermist: man (78) <b>\"Jan\" & 'pet'\n"
                       "Zie foto\\ \xE2\x82\xAC\r\nEinde\x01";
    struct adapter_msg msg = msg_for(in, ROOM, text, "appeal", 0);
    cJSON *root;

    (void)state;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.method, "PUT");
    assert_string_equal(req.url, HS "/_matrix/client/v3/rooms/"
                                    "%21abcDEF123%3Aexample.org/send/"
                                    "m.room.message/d-42");
    assert_int_equal(req.nheaders, 3);
    assert_string_equal(req.headers[0], "Authorization: Bearer " TOKEN);
    assert_string_equal(req.headers[1], "Content-Type: application/json");
    assert_string_equal(req.headers[2], "Accept: application/json");
    assert_string_equal(
        req.body,
        "{\"msgtype\":\"m.text\","
        "\"body\":\"Politie-oproep\\nVermist: man (78) <b>\\\"Jan\\\" & "
        "'pet'\\nZie foto\\\\ \xE2\x82\xAC\\nEinde\\u0001\","
        "\"format\":\"org.matrix.custom.html\","
        "\"formatted_body\":\"<b>Politie-oproep</b><br>Vermist: man (78) "
        "&lt;b&gt;&quot;Jan&quot; &amp; &#39;pet&#39;<br>Zie foto\\\\ "
        "\xE2\x82\xAC<br>Einde\\u0001\"}");
    assert_int_equal(req.body_len, strlen(req.body));
    /* and it decodes back to the words we were given */
    root = cJSON_Parse(req.body);
    assert_non_null(root);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(root, "body")->valuestring,
        "Politie-oproep\nVermist: man (78) <b>\"Jan\" & 'pet'\n"
        "Zie foto\\ \xE2\x82\xAC\nEinde\x01");
    cJSON_Delete(root);
    adapter_request_cleanup(&req);
    adapter_instance_destroy(in);
}

static void test_headers_by_kind(void **state)
{
    static const struct {
        const char *kind;
        int urgent;
        const char *body_start, *html_start;
    } cases[] = {
        {"appeal", 1, "\xF0\x9F\x9A\xA8 Politie-oproep\n",
         "<b>\xF0\x9F\x9A\xA8 Politie-oproep</b><br>"},
        {"approval", 0, "Politie-oproep\n", "<b>Politie-oproep</b><br>"},
        {"update", 0, "Update politie-oproep\n",
         "<b>Update politie-oproep</b><br>"},
        {"closing", 1, "\xF0\x9F\x9A\xA8 Afgesloten\n",
         "<b>\xF0\x9F\x9A\xA8 Afgesloten</b><br>"},
        {"status", 0, "Uw melding\n", "<b>Uw melding</b><br>"},
        {"notice", 0, "Bericht\n", "<b>Bericht</b><br>"},
        {"test", 0, "Test\n", "<b>Test</b><br>"},
        {"something-new", 0, "Bericht\n", "<b>Bericht</b><br>"},
    };
    struct adapter_instance *in = make(0);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_request req = {0};
        struct adapter_msg msg =
            msg_for(in, ROOM, "tekst", cases[i].kind, cases[i].urgent);
        cJSON *root;
        const char *body, *html;

        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_OK);
        root = cJSON_Parse(req.body);
        assert_non_null(root);
        body = cJSON_GetObjectItemCaseSensitive(root, "body")->valuestring;
        html = cJSON_GetObjectItemCaseSensitive(root, "formatted_body")
                   ->valuestring;
        assert_int_equal(
            strncmp(body, cases[i].body_start, strlen(cases[i].body_start)), 0);
        assert_string_equal(body + strlen(cases[i].body_start), "tekst");
        assert_int_equal(
            strncmp(html, cases[i].html_start, strlen(cases[i].html_start)), 0);
        assert_string_equal(html + strlen(cases[i].html_start), "tekst");
        cJSON_Delete(root);
        adapter_request_cleanup(&req);
    }
    adapter_instance_destroy(in);
}

/* CRLF, CR and LF are one line break each, in both bodies. */
static void test_line_breaks(void **state)
{
    struct adapter_instance *in = make(0);
    struct adapter_request req = {0};
    struct adapter_msg msg =
        msg_for(in, ROOM, "a\rb\r\nc\n\r\nd\r", "notice", 0);

    (void)state;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.body,
                        "{\"msgtype\":\"m.text\",\"body\":\"Bericht\\na\\nb\\nc"
                        "\\n\\nd\\n\",\"format\":\"org.matrix.custom.html\","
                        "\"formatted_body\":\"<b>Bericht</b><br>a<br>b<br>c<br>"
                        "<br>d<br>\"}");
    adapter_request_cleanup(&req);
    adapter_instance_destroy(in);
}

/* A retry builds the very same request: same txnId, so the homeserver
 * answers it with the first event instead of posting twice. */
static void test_retry_same_txn(void **state)
{
    struct adapter_instance *in = make(0);
    struct adapter_request a = {0}, b = {0};
    struct adapter_msg msg = msg_for(in, ROOM, "Gezien?", "appeal", 1);

    (void)state;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &a), RELAY_OK);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &b), RELAY_OK);
    assert_string_equal(a.url, b.url);
    assert_non_null(strstr(a.url, "/send/m.room.message/d-42"));
    assert_int_equal(a.body_len, b.body_len);
    assert_memory_equal(a.body, b.body, a.body_len);
    adapter_request_cleanup(&a);
    adapter_request_cleanup(&b);
    adapter_instance_destroy(in);
}

static void test_room_ids(void **state)
{
    static const struct {
        const char *room;
        int ok;
    } cases[] = {
        {"!abc:example.org", 1},
        {"!abc:example.org:8448", 1},
        {"!abc:matrix-01.example.org", 1},
        {"!abc:1.2.3.4", 1},
        {"!abc:[::1]", 1},
        {"!abc:[2001:db8::1]:8448", 1},
        {"!\xC3\xBCn\xC3\xAF c/d:example.org", 1}, /* any code point */
        /* room version 12: "!" + 43 url-safe base64, no server name */
        {"!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM", 1},
        {"", 0},
        {"abc:example.org", 0},
        {"#alias:example.org", 0},
        {"@user:example.org", 0},
        {"!abc", 0},
        {"!:example.org", 0},
        {"!abc:", 0},
        {"!abc:exa mple.org", 0},
        {"!abc:example.org:", 0},
        {"!abc:example.org:99999", 0},
        {"!abc:example.org:123456", 0},
        {"!abc:example.org:80a", 0},
        {"!abc:[::1", 0},
        {"!abc:[xyz]", 0},
        {"!abc:example.org/x", 0},
        {"!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogL", 0},   /* 42 */
        {"!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM+", 0}, /* 44 */
        {"!31hneApxJ/1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM", 0},  /* '/' */
        {"!\xC3(:example.org", 0},                            /* bad UTF-8 */
    };
    struct adapter_instance *in = make(0);
    char longid[300];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_request req = {0};
        struct adapter_msg msg = msg_for(in, cases[i].room, "x", "notice", 0);
        int rc = in->ops->build_request(in->priv, &msg, &req);

        if (rc != (cases[i].ok ? RELAY_OK : RELAY_EINVAL))
            fail_msg("room id case %zu: rc %d", i, rc);
        adapter_request_cleanup(&req);
    }
    /* 255 bytes is the limit, sigil and server name included */
    memset(longid, 'a', sizeof(longid));
    longid[0] = '!';
    memcpy(longid + 255 - 12, ":example.org", 13);
    assert_int_equal(strlen(longid), 255);
    {
        struct adapter_request req = {0};
        struct adapter_msg msg = msg_for(in, longid, "x", "notice", 0);

        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_OK);
        adapter_request_cleanup(&req);
    }
    longid[0] = 'a';
    longid[1] = '!';
    {
        struct adapter_request req = {0};
        struct adapter_msg msg = msg_for(in, longid + 1, "x", "notice", 0);

        /* 254 bytes, fine; now make it 256 */
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_OK);
        adapter_request_cleanup(&req);
    }
    memset(longid, 'a', sizeof(longid));
    longid[0] = '!';
    memcpy(longid + 256 - 12, ":example.org", 13);
    {
        struct adapter_request req = {0};
        struct adapter_msg msg = msg_for(in, longid, "x", "notice", 0);

        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_EINVAL);
        assert_null(req.url);
    }
    adapter_instance_destroy(in);
}

static void test_text_limits(void **state)
{
    struct adapter_instance *in = make(0);
    size_t max = in->ops->max_text_chars;
    char *big = malloc(4 * (max + 1) + 1);
    struct adapter_request req = {0};
    struct adapter_msg msg;

    (void)state;
    assert_non_null(big);
    assert_true(max >= 1000);
    /* worst case for size: every character escaped in both bodies */
    memset(big, '"', max);
    big[max] = '\0';
    msg = msg_for(in, ROOM, big, "appeal", 1);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_true(req.body_len <= 65536 - 8192);
    adapter_request_cleanup(&req);
    memset(big, 0x01, max);
    msg = msg_for(in, ROOM, big, "appeal", 1);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_true(req.body_len <= 65536 - 8192);
    adapter_request_cleanup(&req);
    /* code points, not bytes: max four-byte characters still fit */
    for (size_t i = 0; i < max; i++)
        memcpy(big + 4 * i, "\xF0\x9F\x9A\xA8", 4);
    big[4 * max] = '\0';
    msg = msg_for(in, ROOM, big, "notice", 0);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    adapter_request_cleanup(&req);
    /* one more is refused, never cut */
    memcpy(big + 4 * max, "\xF0\x9F\x9A\xA8", 5);
    msg = msg_for(in, ROOM, big, "notice", 0);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                     RELAY_EINVAL);
    assert_null(req.url);
    assert_null(req.body);
    memset(big, 'a', max + 1);
    big[max + 1] = '\0';
    msg = msg_for(in, ROOM, big, "notice", 0);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                     RELAY_EINVAL);
    free(big);

    /* empty, invalid UTF-8, an embedded NUL, a bad delivery id */
    msg = msg_for(in, ROOM, "", "notice", 0);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                     RELAY_EINVAL);
    msg = msg_for(in, ROOM, "caf\xC3", "notice", 0);
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                     RELAY_EINVAL);
    msg = msg_for(in, ROOM, "ab", "notice", 0);
    msg.text = "a\0b";
    msg.text_len = 3;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                     RELAY_EINVAL);
    msg = msg_for(in, ROOM, "ok", "notice", 0);
    msg.delivery_id = "d/../x";
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                     RELAY_EINVAL);
    adapter_instance_destroy(in);
}

/* ---- Responses -------------------------------------------------------- */

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
        {200, "{\"event_id\":\"$YUwRidLecu:example.com\"}", NULL, ADAPTER_SENT,
         -1, "$YUwRidLecu:example.com", ""},
        {200, "{\"event_id\":\"$31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM\"}",
         NULL, ADAPTER_SENT, -1, "$31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM",
         ""},
        {200, "not json", NULL, ADAPTER_SENT, -1, "", ""},
        {200, "{\"event_id\":42}", NULL, ADAPTER_SENT, -1, "", ""},
        {429,
         "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"error\":\"Too many requests\","
         "\"retry_after_ms\":2000}",
         NULL, ADAPTER_RETRY, 2, "", "mx_M_LIMIT_EXCEEDED"},
        {429,
         "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"error\":\"Too many requests\","
         "\"retry_after_ms\":1501}",
         NULL, ADAPTER_RETRY, 2, "", "mx_M_LIMIT_EXCEEDED"},
        {429, "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":1}", NULL,
         ADAPTER_RETRY, 1, "", "mx_M_LIMIT_EXCEEDED"},
        /* header and body: the longer wish */
        {429, "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":2000}", "5",
         ADAPTER_RETRY, 5, "", "mx_M_LIMIT_EXCEEDED"},
        {429, "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":9000}", "5",
         ADAPTER_RETRY, 9, "", "mx_M_LIMIT_EXCEEDED"},
        {429, "{\"errcode\":\"M_LIMIT_EXCEEDED\"}", "3", ADAPTER_RETRY, 3, "",
         "mx_M_LIMIT_EXCEEDED"},
        {429, "{\"errcode\":\"M_LIMIT_EXCEEDED\"}", NULL, ADAPTER_RETRY, -1, "",
         "mx_M_LIMIT_EXCEEDED"},
        {429, "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":-5}", NULL,
         ADAPTER_RETRY, -1, "", "mx_M_LIMIT_EXCEEDED"},
        {429, "{\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":\"2000\"}",
         NULL, ADAPTER_RETRY, -1, "", "mx_M_LIMIT_EXCEEDED"},
        {429, "{\"retry_after_ms\":1e12}", NULL, ADAPTER_RETRY, 86400, "",
         "http_429"},
        {500, "", NULL, ADAPTER_RETRY, -1, "", "http_500"},
        {502, "<html>bad gateway</html>", NULL, ADAPTER_RETRY, -1, "",
         "http_502"},
        {503, "{\"errcode\":\"M_UNKNOWN\",\"error\":\"overloaded\"}", "120",
         ADAPTER_RETRY, 120, "", "mx_M_UNKNOWN"},
        {408, "", NULL, ADAPTER_RETRY, -1, "", "http_408"},
        {403,
         "{\"errcode\":\"M_FORBIDDEN\",\"error\":\"User @buurtbot:example.org "
         "not in room !abc:example.org\"}",
         NULL, ADAPTER_FAILED, -1, "", "mx_M_FORBIDDEN"},
        {404, "{\"errcode\":\"M_NOT_FOUND\",\"error\":\"Unknown room\"}", NULL,
         ADAPTER_FAILED, -1, "", "mx_M_NOT_FOUND"},
        {400, "{\"errcode\":\"M_BAD_JSON\",\"error\":\"bad\"}", NULL,
         ADAPTER_FAILED, -1, "", "mx_M_BAD_JSON"},
        {400, "", NULL, ADAPTER_FAILED, -1, "", "http_400"},
        {401,
         "{\"errcode\":\"M_UNKNOWN_TOKEN\",\"error\":\"Invalid access token "
         "passed.\",\"soft_logout\":false}",
         NULL, ADAPTER_FAILED, -1, "", "mx_M_UNKNOWN_TOKEN"},
        {401, "{\"errcode\":\"M_MISSING_TOKEN\",\"error\":\"Missing\"}", NULL,
         ADAPTER_FAILED, -1, "", "mx_M_MISSING_TOKEN"},
        {413, "{\"errcode\":\"M_TOO_LARGE\",\"error\":\"event too large\"}",
         NULL, ADAPTER_FAILED, -1, "", "mx_M_TOO_LARGE"},
        /* errcodes that are not fit for our logs */
        {403, "{\"errcode\":\"M_FORBIDDEN user +31612345678\"}", NULL,
         ADAPTER_FAILED, -1, "", "http_403"},
        {403,
         "{\"errcode\":\"M_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAAAAAAAAAAAAAAAAAAAAAAAA\"}",
         NULL, ADAPTER_FAILED, -1, "", "http_403"},
        {403, "{\"errcode\":\"\"}", NULL, ADAPTER_FAILED, -1, "", "http_403"},
    };
    struct adapter_instance *in = make(0);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_result r;

        memset(&r, 0x5a, sizeof(r));
        assert_int_equal(in->ops->parse_response(
                             in->priv, cases[i].status, cases[i].body,
                             strlen(cases[i].body), cases[i].retry_after, &r),
                         RELAY_OK);
        if (r.verdict != cases[i].verdict ||
            r.retry_after_s != cases[i].retry_after_s ||
            strcmp(r.provider_id, cases[i].provider_id) != 0 ||
            strcmp(r.error, cases[i].error) != 0)
            fail_msg("response case %zu: verdict %d retry %ld id '%s' "
                     "error '%s'",
                     i, r.verdict, r.retry_after_s, r.provider_id, r.error);
    }
    adapter_instance_destroy(in);
}

/* ---- Application-service transactions ---------------------------------- */

#define TXN_PATH "/hooks/matrix/_matrix/app/v1/transactions/17"
#define LEGACY_PATH "/hooks/matrix/transactions/17"
#define AUTH "Authorization: Bearer " HS_TOKEN

/* One text event from a resident in ROOM. */
#define EVENT(id, sender, content)                                             \
    "{\"type\":\"m.room.message\",\"room_id\":\"" ROOM                         \
    "\",\"sender\":\"" sender "\",\"event_id\":\"" id                          \
    "\",\"origin_server_ts\":1732612345678,"                                   \
    "\"content\":" content ",\"unsigned\":{\"age\":12}}"
#define TEXT(body) "{\"msgtype\":\"m.text\",\"body\":\"" body "\"}"
#define TXN(events) "{\"events\":[" events "]}"

static int hook(struct adapter_instance *in, const char *method,
                const char *path, const char *auth, const char *body,
                struct adapter_event *ev)
{
    const char *headers[2] = {"Content-Type: application/json", auth};
    char url[512];
    struct adapter_webhook_req req = {
        .method = method,
        .path = path,
        .url = url,
        .headers = headers,
        .nheaders = auth ? 2 : 1,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };

    snprintf(url, sizeof(url), "https://relay.example.nl%s", path);
    memset(ev, 0x5a, sizeof(*ev));
    return in->ops->parse_webhook(in->priv, &req, ev);
}

static void assert_untouched(const struct adapter_event *ev)
{
    assert_int_equal(ev->type, ADAPTER_EVENT_NONE);
    assert_null(ev->text);
    assert_string_equal(ev->from, "");
    assert_string_equal(ev->provider_id, "");
}

static void test_webhook_auth(void **state)
{
    static const struct {
        const char *path, *auth;
        int rc;
    } cases[] = {
        {TXN_PATH, AUTH, RELAY_OK},
        {LEGACY_PATH, AUTH, RELAY_OK},
        {TXN_PATH, "authorization:   bearer   " HS_TOKEN "  ", RELAY_OK},
        {TXN_PATH "?access_token=" HS_TOKEN, NULL, RELAY_OK},
        {LEGACY_PATH "?access_token=" HS_TOKEN, NULL, RELAY_OK},
        {TXN_PATH "?access_token=" HS_TOKEN, AUTH, RELAY_OK},
        /* both given: both must match */
        {TXN_PATH "?access_token=wrong", AUTH, RELAY_EAUTH},
        {TXN_PATH "?access_token=" HS_TOKEN, "Authorization: Bearer x",
         RELAY_EAUTH},
        {TXN_PATH, NULL, RELAY_EAUTH},
        {TXN_PATH, "Authorization: Bearer " HS_TOKEN "x", RELAY_EAUTH},
        {TXN_PATH, "Authorization: Bearer hs-token-abcdef012345678",
         RELAY_EAUTH},
        {TXN_PATH, "Authorization: Bearer " TOKEN, RELAY_EAUTH},
        {TXN_PATH, "Authorization: Basic " HS_TOKEN, RELAY_EAUTH},
        {TXN_PATH, "Authorization: " HS_TOKEN, RELAY_EAUTH},
        {TXN_PATH, "Authorization: Bearer", RELAY_EAUTH},
        {TXN_PATH, "Authorization:", RELAY_EAUTH},
        {TXN_PATH "?access_token=", NULL, RELAY_EAUTH},
        {TXN_PATH "?access_token=%zz", NULL, RELAY_EAUTH},
        {TXN_PATH "?token=" HS_TOKEN, NULL, RELAY_EAUTH},
        /* paths we do not serve, whatever the credentials */
        {"/hooks/matrix/transactions/", AUTH, RELAY_ENOTFOUND},
        {"/hooks/matrix/transactions/1/2", AUTH, RELAY_ENOTFOUND},
        {"/hooks/matrix/_matrix/app/v1/users/@a:b", AUTH, RELAY_ENOTFOUND},
        {"/hooks/matrix/mo", AUTH, RELAY_ENOTFOUND},
        {"/hooks/matrixx/transactions/1", AUTH, RELAY_ENOTFOUND},
        {"/hooks/twilio/transactions/1", AUTH, RELAY_ENOTFOUND},
    };
    struct adapter_instance *in = make(1);
    const char *body = TXN(EVENT("$e1", "@jan:example.org", TEXT("Gezien")));

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_event ev;
        int rc = hook(in, "PUT", cases[i].path, cases[i].auth, body, &ev);

        if (rc != cases[i].rc)
            fail_msg("auth case %zu: rc %d", i, rc);
        if (rc == RELAY_OK) {
            assert_int_equal(ev.type, ADAPTER_EVENT_MO);
            assert_int_equal(ev.http_status, 200);
            assert_string_equal(ev.reply_type, "application/json");
            assert_string_equal(ev.reply_body, "{}");
        } else {
            /* refused: nothing filled */
            assert_untouched(&ev);
        }
        adapter_event_cleanup(&ev);
    }
    adapter_instance_destroy(in);
}

static void test_webhook_method_and_ping(void **state)
{
    struct adapter_instance *in = make(1);
    struct adapter_instance *off = make(0);
    struct adapter_event ev;
    const char *body = TXN(EVENT("$e1", "@jan:example.org", TEXT("Gezien")));

    (void)state;
    assert_int_equal(hook(in, "POST", TXN_PATH, AUTH, body, &ev), RELAY_EINVAL);
    adapter_event_cleanup(&ev);
    assert_int_equal(hook(in, "GET", TXN_PATH, AUTH, NULL, &ev), RELAY_EINVAL);
    adapter_event_cleanup(&ev);
    /* the homeserver's ping (spec v1.7) */
    assert_int_equal(hook(in, "POST", "/hooks/matrix/_matrix/app/v1/ping", AUTH,
                          "{\"transaction_id\":\"meow\"}", &ev),
                     RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
    assert_string_equal(ev.reply_body, "{}");
    adapter_event_cleanup(&ev);
    assert_int_equal(hook(in, "POST", "/hooks/matrix/_matrix/app/v1/ping",
                          "Authorization: Bearer nope", "{}", &ev),
                     RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    /* replies not configured: nothing can be authentic */
    assert_int_equal(hook(off, "PUT", TXN_PATH, AUTH, body, &ev), RELAY_EAUTH);
    assert_untouched(&ev);
    adapter_event_cleanup(&ev);
    assert_int_equal(
        hook(off, "PUT", TXN_PATH "?access_token=", NULL, body, &ev),
        RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    adapter_instance_destroy(in);
    adapter_instance_destroy(off);
}

static void test_mo(void **state)
{
    static const struct {
        const char *body;
        enum adapter_event_type type;
        const char *provider_id, *from, *reply_to, *text;
    } cases[] = {
        /* a plain message in a room */
        {TXN(EVENT("$ev1:example.org", "@jan:example.org",
                   TEXT("Gezien bij station, \\\"blauwe\\\" jas & pet "
                        "\xE2\x82\xAC"))),
         ADAPTER_EVENT_MO, "$ev1:example.org", "@jan:example.org", "",
         "Gezien bij station, \"blauwe\" jas & pet \xE2\x82\xAC"},
        /* a rich reply: fallback stripped, the answered event named */
        {TXN(EVENT("$ev2", "@jan:example.org",
                   "{\"msgtype\":\"m.text\",\"body\":\"> <@buurtbot:example."
                   "org> Politie-oproep\\n> Vermist: man (78)\\n\\nGezien bij "
                   "het station\\nom 14:00\",\"format\":\"org.matrix.custom."
                   "html\",\"formatted_body\":\"<mx-reply>...</mx-reply>"
                   "Gezien\",\"m.relates_to\":{\"m.in_reply_to\":{"
                   "\"event_id\":\"$alert1\"}}}")),
         ADAPTER_EVENT_MO, "$ev2", "@jan:example.org", "$alert1",
         "Gezien bij het station\nom 14:00"},
        /* a reply without a fallback (spec v1.13 clients) */
        {TXN(EVENT("$ev3", "@jan:example.org",
                   "{\"msgtype\":\"m.text\",\"body\":\"Ja\",\"m.relates_to\":"
                   "{\"m.in_reply_to\":{\"event_id\":\"$alert1\"}}}")),
         ADAPTER_EVENT_MO, "$ev3", "@jan:example.org", "$alert1", "Ja"},
        /* a quote in a message that is no reply stays */
        {TXN(EVENT("$ev4", "@jan:example.org",
                   TEXT("> eerder bericht\\n\\nmijn antwoord"))),
         ADAPTER_EVENT_MO, "$ev4", "@jan:example.org", "",
         "> eerder bericht\n\nmijn antwoord"},
        /* a reply that is nothing but quote */
        {TXN(EVENT("$ev5", "@jan:example.org",
                   "{\"msgtype\":\"m.text\",\"body\":\"> <@a:b> x\","
                   "\"m.relates_to\":{\"m.in_reply_to\":{\"event_id\":"
                   "\"$alert1\"}}}")),
         ADAPTER_EVENT_MO, "$ev5", "@jan:example.org", "$alert1", ""},
        /* in a thread under our alert: the thread root is answered */
        {TXN(EVENT("$ev6", "@jan:example.org",
                   "{\"msgtype\":\"m.text\",\"body\":\"In de thread\","
                   "\"m.relates_to\":{\"rel_type\":\"m.thread\",\"event_id\":"
                   "\"$alert1\",\"is_falling_back\":true,\"m.in_reply_to\":{"
                   "\"event_id\":\"$other\"}}}")),
         ADAPTER_EVENT_MO, "$ev6", "@jan:example.org", "$alert1",
         "In de thread"},
        /* the bot's own message pushed back: ignored */
        {TXN(EVENT("$own", BOT, TEXT("Politie-oproep"))), ADAPTER_EVENT_NONE,
         "", "", "", NULL},
        /* own first, then a resident: the resident's */
        {TXN(EVENT("$own", BOT, TEXT("Politie-oproep")) "," EVENT(
             "$ev7", "@piet:other.example", TEXT("Ik zag hem"))),
         ADAPTER_EVENT_MO, "$ev7", "@piet:other.example", "", "Ik zag hem"},
        /* two residents: the first (see matrix.c on the limit) */
        {TXN(EVENT("$ev8", "@jan:example.org", TEXT("een")) "," EVENT(
             "$ev9", "@piet:example.org", TEXT("twee"))),
         ADAPTER_EVENT_MO, "$ev8", "@jan:example.org", "", "een"},
        /* not text: images, notices, emotes, membership, encrypted */
        {TXN(EVENT("$img", "@jan:example.org",
                   "{\"msgtype\":\"m.image\",\"body\":\"foto.jpg\","
                   "\"url\":\"mxc://example.org/abc\"}")),
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        {TXN(EVENT("$not", "@jan:example.org",
                   "{\"msgtype\":\"m.notice\",\"body\":\"bot\"}")),
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        {TXN(EVENT("$emo", "@jan:example.org",
                   "{\"msgtype\":\"m.emote\",\"body\":\"zwaait\"}")),
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        {TXN("{\"type\":\"m.room.member\",\"room_id\":\"" ROOM
             "\",\"sender\":\"@jan:example.org\",\"event_id\":\"$m\","
             "\"state_key\":\"@jan:example.org\",\"content\":{\"membership\":"
             "\"join\"}}"),
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        {TXN("{\"type\":\"m.room.encrypted\",\"room_id\":\"" ROOM
             "\",\"sender\":\"@jan:example.org\",\"event_id\":\"$enc\","
             "\"content\":{\"algorithm\":\"m.megolm.v1.aes-sha2\","
             "\"ciphertext\":\"AwgA\"}}"),
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        /* an edit of an earlier message is not a new reply */
        {TXN(EVENT("$edit", "@jan:example.org",
                   "{\"msgtype\":\"m.text\",\"body\":\"* Gezien!\","
                   "\"m.new_content\":{\"msgtype\":\"m.text\",\"body\":"
                   "\"Gezien!\"},\"m.relates_to\":{\"rel_type\":\"m.replace\","
                   "\"event_id\":\"$ev1\"}}")),
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        /* redacted (content emptied), a body that is no string */
        {TXN(EVENT("$red", "@jan:example.org", "{}")), ADAPTER_EVENT_NONE, "",
         "", "", NULL},
        {TXN(EVENT("$num", "@jan:example.org",
                   "{\"msgtype\":\"m.text\",\"body\":5}")),
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        /* bad ids */
        {TXN(EVENT("$bad", "jan", TEXT("x"))), ADAPTER_EVENT_NONE, "", "", "",
         NULL},
        {TXN(EVENT("nodollar", "@jan:example.org", TEXT("x"))),
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        /* nothing for us at all */
        {TXN(""), ADAPTER_EVENT_NONE, "", "", "", NULL},
        {"{\"events\":[],\"ephemeral\":[{\"type\":\"m.typing\"}]}",
         ADAPTER_EVENT_NONE, "", "", "", NULL},
        {"{}", ADAPTER_EVENT_NONE, "", "", "", NULL},
        {"{\"events\":{}}", ADAPTER_EVENT_NONE, "", "", "", NULL},
        {"{\"events\":[1,\"x\",null,[]]}", ADAPTER_EVENT_NONE, "", "", "",
         NULL},
        /* malformed: acknowledged, or the homeserver retries it forever */
        {"{\"events\":[", ADAPTER_EVENT_NONE, "", "", "", NULL},
        {"not json", ADAPTER_EVENT_NONE, "", "", "", NULL},
        {"{\"events\":[],\"events\":[]}", ADAPTER_EVENT_NONE, "", "", "", NULL},
        {"", ADAPTER_EVENT_NONE, "", "", "", NULL},
    };
    struct adapter_instance *in = make(1);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_event ev;
        int rc = hook(in, "PUT", TXN_PATH, AUTH, cases[i].body, &ev);

        if (rc != RELAY_OK || ev.type != cases[i].type)
            fail_msg("mo case %zu: rc %d type %d", i, rc, ev.type);
        assert_int_equal(ev.http_status, 200);
        assert_string_equal(ev.reply_body, "{}");
        assert_string_equal(ev.provider_id, cases[i].provider_id);
        assert_string_equal(ev.from, cases[i].from);
        assert_string_equal(ev.reply_to, cases[i].reply_to);
        if (cases[i].text) {
            assert_non_null(ev.text);
            assert_string_equal(ev.text, cases[i].text);
            assert_int_equal(ev.text_len, strlen(cases[i].text));
            assert_string_equal(ev.chat, ROOM);
        } else {
            assert_null(ev.text);
            assert_string_equal(ev.chat, "");
        }
        adapter_event_cleanup(&ev);
    }
    adapter_instance_destroy(in);
}

static void test_mo_deep_nesting(void **state)
{
    struct adapter_instance *in = make(1);
    struct adapter_event ev;
    char *body = malloc(4096);
    size_t n = 0;

    (void)state;
    assert_non_null(body);
    n += (size_t)snprintf(body, 4096, "%s",
                          "{\"events\":[{\"type\":\"m.room.message\","
                          "\"content\":{\"x\":");
    for (int i = 0; i < 200; i++)
        body[n++] = '[';
    for (int i = 0; i < 200; i++)
        body[n++] = ']';
    memcpy(body + n, "}}]}", 5);
    /* too deep for us: acknowledged, nothing taken */
    assert_int_equal(hook(in, "PUT", TXN_PATH, AUTH, body, &ev), RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
    adapter_event_cleanup(&ev);
    free(body);
    adapter_instance_destroy(in);
}

/* ---- Configuration ------------------------------------------------------ */

static void test_init(void **state)
{
    struct adapter_instance *in;
    char err[256], bad[64];

    (void)state;
    /* no homeserver */
    in = adapter_instance_create("matrix");
    assert_int_equal(adapter_instance_set(in, "access-token-file", tok_path,
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "homeserver-url"));
    adapter_instance_destroy(in);
    /* no token file */
    in = adapter_instance_create("matrix");
    assert_int_equal(
        adapter_instance_set(in, "homeserver-url", HS, "t", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "access-token-file"));
    adapter_instance_destroy(in);
    /* replies without the bot's id */
    in = adapter_instance_create("matrix");
    assert_int_equal(
        adapter_instance_set(in, "homeserver-url", HS, "t", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "access-token-file", tok_path,
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "hs-token-file", hs_path, "t",
                                          err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "user-id"));
    adapter_instance_destroy(in);
    /* option syntax */
    in = adapter_instance_create("matrix");
    assert_int_equal(adapter_instance_set(in, "homeserver-url", HS "/", "t",
                                          err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_int_equal(adapter_instance_set(in, "homeserver-url",
                                          "ftp://example.org", "t", err,
                                          sizeof(err)),
                     RELAY_ECONFIG);
    assert_int_equal(adapter_instance_set(in, "user-id", "@Bot:example.org",
                                          "t", err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_int_equal(adapter_instance_set(in, "user-id", "bot:example.org", "t",
                                          err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_int_equal(
        adapter_instance_set(in, "user-id", "@bot", "t", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_int_equal(adapter_instance_set(in, "user-id",
                                          "@bot_1.x=y/z+q:example.org:8448",
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    adapter_instance_destroy(in);
    /* a token that cannot go into a header; the error names no secret */
    write_secret(bad, "two words\n");
    in = adapter_instance_create("matrix");
    assert_int_equal(
        adapter_instance_set(in, "homeserver-url", HS, "t", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "access-token-file", bad, "t",
                                          err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_null(strstr(err, "two words"));
    adapter_instance_destroy(in);
    unlink(bad);
}

static void test_ops(void **state)
{
    const struct adapter_ops *ops = adapter_find("matrix");

    (void)state;
    assert_non_null(ops);
    assert_int_equal(ops->caps,
                     ADAPTER_CAP_CHAT | ADAPTER_CAP_GROUP | ADAPTER_CAP_MO);
    assert_string_equal(ops->address_kind, "matrix");
    assert_int_equal(ops->max_text_chars, 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_headers_by_kind),
        cmocka_unit_test(test_line_breaks),
        cmocka_unit_test(test_retry_same_txn),
        cmocka_unit_test(test_room_ids),
        cmocka_unit_test(test_text_limits),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_webhook_auth),
        cmocka_unit_test(test_webhook_method_and_ping),
        cmocka_unit_test(test_mo),
        cmocka_unit_test(test_mo_deep_nesting),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_ops),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
