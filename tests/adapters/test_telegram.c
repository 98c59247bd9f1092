/*
 * test_telegram.c - adapters/telegram.c as tables, no network: the
 * sendMessage request (private chat, group, channel; HTML, MarkdownV2 and
 * plain escaping; the length limit counted in UTF-16 units; addresses
 * refused), response verdicts (200, 429 with retry_after in the body or
 * Retry-After, 5xx, 400, migration, 401, 403, 404), webhook updates
 * (secret header right, wrong, missing; private and group messages;
 * replies; updates that carry nothing to do; malformed JSON) and init.
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

#define TOKEN "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
#define SECRET "tg-webhook_secret-0123456789"

static char tok_path[64], sec_path[64];

static void write_secret(char *path, const char *content)
{
    int fd;

    snprintf(path, 64, "/tmp/test_telegram_XXXXXX");
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
    write_secret(sec_path, SECRET "\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(tok_path);
    unlink(sec_path);
    return 0;
}

static struct adapter_instance *make_mode(const char *mode)
{
    struct adapter_instance *in = adapter_instance_create("telegram");
    char err[256];
    const char *kv[][2] = {
        {"api-url", "http://127.0.0.1:9999"},
        {"public-url", "https://relay.example.nl"},
        {"bot-token-file", tok_path},
        {"webhook-secret-file", sec_path},
        {"parse-mode", mode},
    };

    assert_non_null(in);
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(
            adapter_instance_set(in, kv[i][0], kv[i][1], "t", err, sizeof(err)),
            RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)), RELAY_OK);
    return in;
}

static struct adapter_instance *make(void)
{
    return make_mode("HTML");
}

static int build(struct adapter_instance *in, const char *to, int group,
                 const char *kind, int urgent, const char *text,
                 struct adapter_request *req)
{
    struct adapter_msg msg = {
        .delivery_id = "d-1",
        .to = to,
        .to_group = group,
        .text = text,
        .text_len = strlen(text),
        .hook_url = in->hook_url,
        .kind = kind,
        .urgent = urgent,
    };

    memset(req, 0, sizeof(*req));
    return in->ops->build_request(in->priv, &msg, req);
}

static void test_ops(void **state)
{
    const struct adapter_ops *ops = adapter_find("telegram");

    (void)state;
    assert_non_null(ops);
    assert_int_equal(ops->caps,
                     ADAPTER_CAP_CHAT | ADAPTER_CAP_GROUP | ADAPTER_CAP_MO);
    assert_string_equal(ops->address_kind, "telegram");
    /* (4096 - 25) / 2: see telegram.c LENGTH */
    assert_int_equal(ops->max_text_chars, 2035);
    assert_non_null(ops->parse_webhook);
}

static void test_build_request(void **state)
{
    static const struct {
        const char *to;
        int group;
        const char *kind;
        int urgent;
        const char *text;
        const char *body;
    } cases[] = {
        /* a resident's private chat: a status answer */
        {"123456789", 0, "status", 0, "Uw melding is ontvangen.",
         "{\"chat_id\":123456789,\"text\":\"<b>Uw melding</b>\\nUw melding "
         "is ontvangen.\",\"parse_mode\":\"HTML\",\"link_preview_options\":"
         "{\"is_disabled\":true}}"},
        /* a supergroup: an urgent appeal, id kept digit for digit */
        {"-1001234567890", 1, "appeal", 1,
         "Vermist: man (78), blauwe jas.\nBel 112.",
         "{\"chat_id\":-1001234567890,\"text\":\"<b>\xF0\x9F\x9A\xA8 "
         "Politie-oproep</b>\\nVermist: man (78), blauwe jas.\\nBel 112.\","
         "\"parse_mode\":\"HTML\",\"link_preview_options\":{\"is_disabled\":"
         "true}}"},
        /* a basic group; a public channel by name */
        {"-4012345678", 1, "update", 0, "Nog steeds vermist.",
         "{\"chat_id\":-4012345678,\"text\":\"<b>Update politie-oproep</b>"
         "\\nNog steeds vermist.\",\"parse_mode\":\"HTML\","
         "\"link_preview_options\":{\"is_disabled\":true}}"},
        {"@buurt_alert_nl", 1, "closing", 1, "Terecht.",
         "{\"chat_id\":\"@buurt_alert_nl\",\"text\":\"<b>\xF0\x9F\x9A\xA8 "
         "Afgesloten</b>\\nTerecht.\",\"parse_mode\":\"HTML\","
         "\"link_preview_options\":{\"is_disabled\":true}}"},
        /* every kind has its header; an unknown one falls back */
        {"7", 0, "approval", 0, "x",
         "{\"chat_id\":7,\"text\":\"<b>Politie-oproep</b>\\nx\","
         "\"parse_mode\":\"HTML\",\"link_preview_options\":{\"is_disabled\":"
         "true}}"},
        {"7", 0, "notice", 0, "x",
         "{\"chat_id\":7,\"text\":\"<b>Bericht</b>\\nx\",\"parse_mode\":"
         "\"HTML\",\"link_preview_options\":{\"is_disabled\":true}}"},
        {"7", 0, "test", 0, "x",
         "{\"chat_id\":7,\"text\":\"<b>Test</b>\\nx\",\"parse_mode\":"
         "\"HTML\",\"link_preview_options\":{\"is_disabled\":true}}"},
        {"7", 0, "no-such-kind", 0, "x",
         "{\"chat_id\":7,\"text\":\"<b>Bericht</b>\\nx\",\"parse_mode\":"
         "\"HTML\",\"link_preview_options\":{\"is_disabled\":true}}"},
    };
    struct adapter_instance *in = make();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_request req;

        assert_int_equal(build(in, cases[i].to, cases[i].group, cases[i].kind,
                               cases[i].urgent, cases[i].text, &req),
                         RELAY_OK);
        assert_string_equal(req.method, "POST");
        assert_string_equal(req.url,
                            "http://127.0.0.1:9999/bot" TOKEN "/sendMessage");
        assert_string_equal(req.body, cases[i].body);
        assert_int_equal(req.body_len, strlen(cases[i].body));
        assert_int_equal(req.nheaders, 2);
        assert_string_equal(req.headers[0], "Content-Type: application/json");
        assert_string_equal(req.headers[1], "Accept: application/json");
        adapter_request_cleanup(&req);
    }
    adapter_instance_destroy(in);
}

static void test_escaping(void **state)
{
    static const struct {
        const char *mode;
        const char *text;
        const char *body_text; /* the "text" value as it is in the JSON */
    } cases[] = {
        /* HTML: & < > become entities; " and \ only get JSON escapes;
         * control characters are \u escapes */
        {"HTML", "a<b>&amp; c > \"d\" \\ e\tf\x01",
         "<b>Bericht</b>\\na&lt;b&gt;&amp;amp; c &gt; \\\"d\\\" \\\\ "
         "e\\u0009f\\u0001"},
        /* a tag in the text stays text */
        {"HTML", "<b>niet vet</b> <a href=\"x\">",
         "<b>Bericht</b>\\n&lt;b&gt;niet vet&lt;/b&gt; &lt;a href=\\\"x\\\""
         "&gt;"},
        /* UTF-8 passes as is */
        {"HTML", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
         "<b>Bericht</b>\\ncaf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
        /* MarkdownV2: every reserved character (and '\') gets a '\',
         * written "\\" inside JSON; the header is bold with '*' */
        {"MarkdownV2", "Bel 112. (Spoed!) a_b*c [x] ~`>#+-=|{} \\",
         "*Bericht*\\nBel 112\\\\. \\\\(Spoed\\\\!\\\\) a\\\\_b\\\\*c "
         "\\\\[x\\\\] \\\\~\\\\`\\\\>\\\\#\\\\+\\\\-\\\\=\\\\|\\\\{\\\\} "
         "\\\\\\\\"},
        /* none: no markup at all, and no parse_mode */
        {"none", "<b> & *x*", "Bericht\\n<b> & *x*"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_instance *in = make_mode(cases[i].mode);
        struct adapter_request req;
        char want[512];

        assert_int_equal(build(in, "42", 0, "notice", 0, cases[i].text, &req),
                         RELAY_OK);
        if (strcmp(cases[i].mode, "none") == 0)
            snprintf(want, sizeof(want),
                     "{\"chat_id\":42,\"text\":\"%s\",\"link_preview_"
                     "options\":{\"is_disabled\":true}}",
                     cases[i].body_text);
        else
            snprintf(want, sizeof(want),
                     "{\"chat_id\":42,\"text\":\"%s\",\"parse_mode\":\"%s\","
                     "\"link_preview_options\":{\"is_disabled\":true}}",
                     cases[i].body_text, cases[i].mode);
        assert_string_equal(req.body, want);
        adapter_request_cleanup(&req);
        adapter_instance_destroy(in);
    }
    /* MarkdownV2 escapes the header's '-' too */
    {
        struct adapter_instance *in = make_mode("MarkdownV2");
        struct adapter_request req;

        assert_int_equal(build(in, "42", 0, "update", 1, "x", &req), RELAY_OK);
        assert_non_null(strstr(req.body, "\"text\":\"*\xF0\x9F\x9A\xA8 Update "
                                         "politie\\\\-oproep*\\nx\""));
        assert_non_null(strstr(req.body, "\"parse_mode\":\"MarkdownV2\""));
        adapter_request_cleanup(&req);
        adapter_instance_destroy(in);
    }
}

/* A text of n copies of the UTF-8 character c (heap). */
static char *repeat(const char *c, size_t n)
{
    size_t cl = strlen(c);
    char *s = malloc(cl * n + 1);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * cl, c, cl);
    s[cl * n] = '\0';
    return s;
}

static void test_length(void **state)
{
    static const char *const kinds[] = {
        "appeal", "approval", "update", "closing", "status", "notice", "test"};
    static const struct {
        const char *ch; /* one character */
        size_t n;       /* how many */
        const char *kind;
        int urgent;
        int rc;
    } cases[] = {
        /* the longest header: "🚨 Update politie-oproep\n" = 25 units */
        {"a", 4096 - 25, "update", 1, RELAY_OK},
        {"a", 4096 - 25 + 1, "update", 1, RELAY_EINVAL},
        /* '&' counts once: the limit is after entity parsing */
        {"&", 4096 - 25, "update", 1, RELAY_OK},
        /* "Test\n" = 5 */
        {"a", 4096 - 5, "test", 0, RELAY_OK},
        {"a", 4096 - 5 + 1, "test", 0, RELAY_EINVAL},
        /* a BMP character is one unit whatever its UTF-8 length */
        {"\xE2\x82\xAC", 4096 - 5, "test", 0, RELAY_OK},
        {"\xE2\x82\xAC", 4096 - 5 + 1, "test", 0, RELAY_EINVAL},
        /* outside the BMP: two units (the stricter reading) */
        {"\xF0\x9F\x98\x80", 2045, "test", 0, RELAY_OK},
        {"\xF0\x9F\x98\x80", 2046, "test", 0, RELAY_EINVAL},
        /* max_text_chars always fits, with any header */
        {"\xF0\x9F\x98\x80", 2035, "update", 1, RELAY_OK},
        {"\xF0\x9F\x98\x80", 2036, "update", 1, RELAY_EINVAL},
    };
    struct adapter_instance *in = make();
    struct adapter_request req;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = repeat(cases[i].ch, cases[i].n);

        assert_int_equal(
            build(in, "42", 0, cases[i].kind, cases[i].urgent, text, &req),
            cases[i].rc);
        if (cases[i].rc != RELAY_OK)
            assert_null(req.body);
        adapter_request_cleanup(&req);
        free(text);
    }
    /* max_text_chars worst case fits under every kind, urgent or not */
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        char *text = repeat("\xF0\x9F\x98\x80", in->ops->max_text_chars);

        for (int urgent = 0; urgent < 2; urgent++) {
            assert_int_equal(build(in, "42", 0, kinds[k], urgent, text, &req),
                             RELAY_OK);
            adapter_request_cleanup(&req);
        }
        free(text);
    }
    adapter_instance_destroy(in);
}

static void test_refused(void **state)
{
    static const struct {
        const char *to;
        int group;
        const char *text;
    } cases[] = {
        {"", 0, "x"},
        {"abc", 0, "x"},
        {"0", 0, "x"},
        {"-0", 1, "x"},
        {"-", 1, "x"},
        {"+123", 0, "x"},
        {"0123", 0, "x"},
        {"12 3", 0, "x"},
        {"123\n", 0, "x"},
        {"12345678901234567", 0, "x"}, /* 17 digits */
        {"9007199254740992", 0, "x"},  /* 2^53 */
        {"-9007199254740992", 1, "x"}, /* -2^53 */
        {"123456789", 1, "x"},         /* a user is not a group */
        {"-1001234567890", 0, "x"},    /* a group is not a user */
        {"@buurt_alert_nl", 0, "x"},   /* a channel is not a user */
        {"@abcd", 1, "x"},             /* too short */
        {"@1abcde", 1, "x"},           /* letter first */
        {"@abc-def", 1, "x"},          /* [A-Za-z0-9_] */
        {"@abc/../x", 1, "x"},         /* not a path */
        {"@abcdefghijklmnopqrstuvwxyz0123456", 1, "x"}, /* 33 */
        {"42", 0, ""},                                  /* nothing to say */
        {"42", 0, "\xC3"},                              /* truncated UTF-8 */
        {"42", 0, "\xED\xA0\x80"},                      /* a surrogate */
        {"42", 0, "\xC0\xAF"},                          /* overlong */
    };
    struct adapter_instance *in = make();
    struct adapter_request req;
    struct adapter_msg msg = {
        .to = "42",
        .text = "a\0b",
        .text_len = 3,
        .kind = "notice",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(build(in, cases[i].to, cases[i].group, "notice", 0,
                               cases[i].text, &req),
                         RELAY_EINVAL);
        assert_null(req.url);
        assert_null(req.body);
    }
    /* the largest ids are fine */
    assert_int_equal(build(in, "9007199254740991", 0, "notice", 0, "x", &req),
                     RELAY_OK);
    adapter_request_cleanup(&req);
    assert_int_equal(build(in, "-9007199254740991", 1, "notice", 0, "x", &req),
                     RELAY_OK);
    adapter_request_cleanup(&req);
    /* a NUL inside the text */
    memset(&req, 0, sizeof(req));
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                     RELAY_EINVAL);
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
        {200,
         "{\"ok\":true,\"result\":{\"message_id\":42,\"from\":{\"id\":"
         "123456789,\"is_bot\":true,\"first_name\":\"Buurt\"},\"chat\":{"
         "\"id\":987654321,\"first_name\":\"A\",\"type\":\"private\"},"
         "\"date\":1700000000,\"text\":\"Uw melding\\nx\"}}",
         NULL, ADAPTER_SENT, -1, "987654321:42", ""},
        {200,
         "{\"ok\":true,\"result\":{\"message_id\":7,\"chat\":{\"id\":"
         "-1001234567890,\"title\":\"Buurt\",\"type\":\"supergroup\"}}}",
         NULL, ADAPTER_SENT, -1, "-1001234567890:7", ""},
        /* accepted, but nothing readable: still sent, no id */
        {200, "not json", NULL, ADAPTER_SENT, -1, "", ""},
        {200, "", NULL, ADAPTER_SENT, -1, "", ""},
        {200,
         "{\"ok\":true,\"result\":{\"message_id\":\"7\",\"chat\":{\"id\":"
         "1}}}",
         NULL, ADAPTER_SENT, -1, "", ""},
        /* an id a double cannot hold is not rounded into another */
        {200,
         "{\"ok\":true,\"result\":{\"message_id\":7,\"chat\":{\"id\":"
         "9007199254740993}}}",
         NULL, ADAPTER_SENT, -1, "", ""},
        {200,
         "{\"ok\":true,\"result\":{\"message_id\":7.5,\"chat\":{\"id\":"
         "1}}}",
         NULL, ADAPTER_SENT, -1, "", ""},
        /* 429: the body's retry_after, the header, the longer of both */
        {429,
         "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many "
         "Requests: retry after 34\",\"parameters\":{\"retry_after\":34}}",
         NULL, ADAPTER_RETRY, 34, "", "tg_429"},
        {429, "", "5", ADAPTER_RETRY, 5, "", "tg_429"},
        {429,
         "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many "
         "Requests: retry after 3\",\"parameters\":{\"retry_after\":3}}",
         "10", ADAPTER_RETRY, 10, "", "tg_429"},
        {429,
         "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many "
         "Requests: retry after 30\",\"parameters\":{\"retry_after\":30}}",
         "2", ADAPTER_RETRY, 30, "", "tg_429"},
        {429, "{\"ok\":false,\"parameters\":{\"retry_after\":-3}}", NULL,
         ADAPTER_RETRY, -1, "", "tg_429"},
        {429, "{\"ok\":false,\"parameters\":{\"retry_after\":99999999}}", NULL,
         ADAPTER_RETRY, 86400, "", "tg_429"},
        {429, "{\"ok\":false,\"parameters\":{\"retry_after\":\"3\"}}", NULL,
         ADAPTER_RETRY, -1, "", "tg_429"},
        {429, "", NULL, ADAPTER_RETRY, -1, "", "tg_429"},
        /* 5xx */
        {500, "", NULL, ADAPTER_RETRY, -1, "", "tg_500"},
        {502, "<html>Bad Gateway</html>", "7", ADAPTER_RETRY, 7, "", "tg_502"},
        /* refused for good */
        {400,
         "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: "
         "chat not found\"}",
         NULL, ADAPTER_FAILED, -1, "", "tg_400"},
        {400,
         "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: "
         "can't parse entities: Unsupported start tag \\\"x\\\" at byte "
         "offset 0\"}",
         NULL, ADAPTER_FAILED, -1, "", "tg_400"},
        {400,
         "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: "
         "group chat was upgraded to a supergroup chat\",\"parameters\":{"
         "\"migrate_to_chat_id\":-1001234567890}}",
         NULL, ADAPTER_RETRY, 0, "", ADAPTER_ERROR_MOVED},
        {403,
         "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot "
         "was blocked by the user\"}",
         NULL, ADAPTER_FAILED, -1, "", "tg_403"},
        {403,
         "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot "
         "was kicked from the supergroup chat\"}",
         NULL, ADAPTER_FAILED, -1, "", "tg_403"},
        {409, "", NULL, ADAPTER_FAILED, -1, "", "tg_409"},
        /* our configuration: retry until fixed or dead-lettered */
        {401,
         "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}",
         NULL, ADAPTER_RETRY, -1, "", "tg_401"},
        {404, "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}",
         NULL, ADAPTER_RETRY, -1, "", "tg_404"},
        {302, "", NULL, ADAPTER_RETRY, -1, "", "tg_302"},
    };
    struct adapter_instance *in = make();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_result r;

        memset(&r, 0x5a, sizeof(r));
        assert_int_equal(in->ops->parse_response(
                             in->priv, cases[i].status, cases[i].body,
                             strlen(cases[i].body), cases[i].retry_after, &r),
                         RELAY_OK);
        assert_int_equal(r.verdict, cases[i].verdict);
        assert_int_equal(r.retry_after_s, cases[i].retry_after_s);
        assert_string_equal(r.provider_id, cases[i].provider_id);
        assert_string_equal(r.error, cases[i].error);
        /* the supergroup's id travels with the verdict */
        assert_string_equal(
            r.new_address,
            strcmp(r.error, ADAPTER_ERROR_MOVED) == 0 ? "-1001234567890" : "");
    }
    adapter_instance_destroy(in);
}

/* Runs the webhook with an optional secret header. */
static int hook_full(struct adapter_instance *in, const char *method,
                     const char *path, const char *secret_hdr, const char *body,
                     struct adapter_event *ev)
{
    const char *headers[2] = {"Content-Type: application/json", secret_hdr};
    struct adapter_webhook_req req = {
        .method = method,
        .path = path,
        .url = "https://relay.example.nl/hooks/telegram/update",
        .headers = headers,
        .nheaders = secret_hdr ? 2 : 1,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };

    memset(ev, 0x5a, sizeof(*ev));
    return in->ops->parse_webhook(in->priv, &req, ev);
}

static int hook(struct adapter_instance *in, const char *body,
                struct adapter_event *ev)
{
    return hook_full(in, "POST", "/hooks/telegram/update",
                     "X-Telegram-Bot-Api-Secret-Token: " SECRET, body, ev);
}

#define PRIVATE_MSG                                                            \
    "{\"update_id\":10000,\"message\":{\"message_id\":1365,\"from\":{\"id\":"  \
    "1111111,\"is_bot\":false,\"first_name\":\"Jan\",\"language_code\":"       \
    "\"nl\"},\"chat\":{\"id\":1111111,\"first_name\":\"Jan\",\"type\":"        \
    "\"private\"},\"date\":1441645532,\"text\":\"Gezien bij station & "        \
    "<kerk> \\u20ac\"}}"

#define GROUP_REPLY                                                            \
    "{\"update_id\":10001,\"message\":{\"message_id\":88,\"from\":{\"id\":"    \
    "2222222,\"is_bot\":false,\"first_name\":\"Piet\"},\"chat\":{\"id\":"      \
    "-1001234567890,\"title\":\"Buurt\",\"type\":\"supergroup\"},\"date\":"    \
    "1441645600,\"reply_to_message\":{\"message_id\":42,\"from\":{\"id\":"     \
    "123456789,\"is_bot\":true,\"first_name\":\"Buurtrelay\"},\"chat\":{"      \
    "\"id\":-1001234567890,\"title\":\"Buurt\",\"type\":\"supergroup\"},"      \
    "\"date\":1441645500,\"text\":\"Politie-oproep\\nVermist\"},\"text\":"     \
    "\"Ik zag hem om 14:00\"}}"

static void test_webhook_mo(void **state)
{
    static const struct {
        const char *body;
        const char *provider_id, *from, *chat, *reply_to, *text;
    } cases[] = {
        {PRIVATE_MSG, "1111111:1365", "1111111", "", "",
         "Gezien bij station & <kerk> \xE2\x82\xAC"},
        {GROUP_REPLY, "-1001234567890:88", "2222222", "-1001234567890",
         "-1001234567890:42", "Ik zag hem om 14:00"},
        /* a basic group; a private reply without a chat in the reply */
        {"{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3,"
         "\"is_bot\":false},\"chat\":{\"id\":-4012345678,\"type\":\"group\"},"
         "\"text\":\"ja\"}}",
         "-4012345678:5", "3", "-4012345678", "", "ja"},
        {"{\"update_id\":1,\"message\":{\"message_id\":6,\"from\":{\"id\":3},"
         "\"chat\":{\"id\":3,\"type\":\"private\"},\"reply_to_message\":{"
         "\"message_id\":4},\"text\":\"/start\"}}",
         "3:6", "3", "", "3:4", "/start"},
        /* unknown fields are ignored; ids up to 2^53 - 1 */
        {"{\"update_id\":2,\"message\":{\"message_id\":9007199254740991,"
         "\"from\":{\"id\":9007199254740991,\"is_premium\":true},\"chat\":{"
         "\"id\":9007199254740991,\"type\":\"private\"},\"entities\":[{"
         "\"type\":\"bold\",\"offset\":0,\"length\":1}],\"text\":\"x\"}}",
         "9007199254740991:9007199254740991", "9007199254740991", "", "", "x"},
    };
    struct adapter_instance *in = make();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_event ev;

        assert_int_equal(hook(in, cases[i].body, &ev), RELAY_OK);
        assert_int_equal(ev.type, ADAPTER_EVENT_MO);
        assert_string_equal(ev.provider_id, cases[i].provider_id);
        assert_string_equal(ev.from, cases[i].from);
        assert_string_equal(ev.chat, cases[i].chat);
        assert_string_equal(ev.reply_to, cases[i].reply_to);
        assert_string_equal(ev.text, cases[i].text);
        assert_int_equal(ev.text_len, strlen(cases[i].text));
        assert_int_equal(ev.http_status, 200);
        assert_string_equal(ev.reply_body, "");
        assert_non_null(ev.reply_type);
        adapter_event_cleanup(&ev);
    }
    adapter_instance_destroy(in);
}

static void test_webhook_none(void **state)
{
    static const char *const bodies[] = {
        /* other update types */
        "{\"update_id\":1,\"edited_message\":{\"message_id\":5,\"from\":{"
        "\"id\":3},\"chat\":{\"id\":3,\"type\":\"private\"},\"text\":\"x\"}}",
        "{\"update_id\":1,\"channel_post\":{\"message_id\":5,\"chat\":{\"id\":"
        "-1001,\"type\":\"channel\"},\"text\":\"x\"}}",
        "{\"update_id\":1,\"my_chat_member\":{\"chat\":{\"id\":3}}}",
        "{\"update_id\":1}",
        /* a photo with a caption, a sticker, a service message */
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":3,\"type\":\"private\"},\"photo\":[{\"file_id\":"
        "\"A\",\"width\":90,\"height\":90}],\"caption\":\"kijk\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":-5,\"type\":\"group\"},\"new_chat_members\":[{"
        "\"id\":9}]}}",
        /* from a bot; from nobody (anonymous admin); in a channel */
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3,"
        "\"is_bot\":true},\"chat\":{\"id\":-5,\"type\":\"group\"},\"text\":"
        "\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"sender_chat\":{"
        "\"id\":-5},\"chat\":{\"id\":-5,\"type\":\"supergroup\"},\"text\":"
        "\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":-5,\"type\":\"channel\"},\"text\":\"x\"}}",
        /* shapes Telegram does not send: acknowledged, not used */
        "{\"update_id\":1,\"message\":\"x\"}",
        "{\"update_id\":1,\"message\":{\"message_id\":\"5\",\"from\":{\"id\":"
        "3},\"chat\":{\"id\":3,\"type\":\"private\"},\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":9007199254740993,\"type\":\"private\"},\"text\":"
        "\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":4,\"type\":\"private\"},\"text\":\"x\"}}",
        /* a group with a positive id, a private chat with a negative one */
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":5,\"type\":\"supergroup\"},\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":-3,\"type\":\"private\"},\"text\":\"x\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":3,\"type\":\"private\"},\"text\":7}}",
        "{\"update_id\":1,\"message\":{\"message_id\":5,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":3,\"type\":\"private\"},\"text\":\"\"}}",
        "{\"update_id\":1,\"message\":{\"message_id\":0,\"from\":{\"id\":3},"
        "\"chat\":{\"id\":3,\"type\":\"private\"},\"text\":\"x\"}}",
    };
    struct adapter_instance *in = make();

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct adapter_event ev;

        assert_int_equal(hook(in, bodies[i], &ev), RELAY_OK);
        assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
        assert_null(ev.text);
        assert_string_equal(ev.from, "");
        assert_string_equal(ev.provider_id, "");
        assert_int_equal(ev.http_status, 200);
        assert_string_equal(ev.reply_body, "");
        adapter_event_cleanup(&ev);
    }
    adapter_instance_destroy(in);
}

static void test_webhook_refused(void **state)
{
    static const struct {
        const char *method, *path, *header, *body;
        int rc;
    } cases[] = {
        /* the secret: missing, wrong, empty, a prefix, longer, case */
        {"POST", "/hooks/telegram/update", NULL, PRIVATE_MSG, RELAY_EAUTH},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: wrong", PRIVATE_MSG, RELAY_EAUTH},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: ", PRIVATE_MSG, RELAY_EAUTH},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: tg-webhook_secret-012345678",
         PRIVATE_MSG, RELAY_EAUTH},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET "9", PRIVATE_MSG,
         RELAY_EAUTH},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: TG-WEBHOOK_SECRET-0123456789",
         PRIVATE_MSG, RELAY_EAUTH},
        {"POST", "/hooks/telegram/update", "X-Other: " SECRET, PRIVATE_MSG,
         RELAY_EAUTH},
        /* unauthenticated garbage is refused as forged, not parsed */
        {"POST", "/hooks/telegram/update", NULL, "{", RELAY_EAUTH},
        /* the header name is case-insensitive (HTTP) */
        {"POST", "/hooks/telegram/update",
         "x-telegram-bot-api-secret-token: " SECRET, PRIVATE_MSG, RELAY_OK},
        /* wrong path, wrong method, no body */
        {"POST", "/hooks/telegram/other",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, PRIVATE_MSG,
         RELAY_ENOTFOUND},
        {"POST", "/hooks/twilio/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, PRIVATE_MSG,
         RELAY_ENOTFOUND},
        {"GET", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, PRIVATE_MSG, RELAY_EINVAL},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, NULL, RELAY_EINVAL},
        /* malformed JSON, or not an Update */
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, "{", RELAY_EINVAL},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, "[]", RELAY_EINVAL},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, "{}", RELAY_EINVAL},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, "{\"update_id\":\"1\"}",
         RELAY_EINVAL},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET, PRIVATE_MSG " x",
         RELAY_EINVAL},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET,
         "{\"update_id\":1,\"update_id\":2}", RELAY_EINVAL},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET,
         "{\"update_id\":1,\"message\":{\"text\":\"\xff\"}}", RELAY_EINVAL},
        {"POST", "/hooks/telegram/update",
         "X-Telegram-Bot-Api-Secret-Token: " SECRET,
         "{\"update_id\":1,\"message\":{\"text\":\"a\\u0000b\"}}",
         RELAY_EINVAL},
    };
    struct adapter_instance *in = make();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_event ev;

        assert_int_equal(hook_full(in, cases[i].method, cases[i].path,
                                   cases[i].header, cases[i].body, &ev),
                         cases[i].rc);
        if (cases[i].rc != RELAY_OK) {
            /* nothing filled */
            assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
            assert_null(ev.text);
            assert_string_equal(ev.from, "");
            assert_string_equal(ev.provider_id, "");
        }
        adapter_event_cleanup(&ev);
    }
    adapter_instance_destroy(in);
}

static void test_init(void **state)
{
    static const struct {
        const char *token, *secret;
        const char *err; /* a part of the message */
    } cases[] = {
        {"123:abc/../x", SECRET, "bot-token-file"},
        {"abc:def", SECRET, "bot-token-file"},
        {"123:", SECRET, "bot-token-file"},
        {"123:ab cd", SECRET, "bot-token-file"},
        {TOKEN, "has space", "webhook-secret-file"},
        {TOKEN, "a+b", "webhook-secret-file"},
    };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct adapter_instance *in = adapter_instance_create("telegram");
        char tp[64], sp[64];

        write_secret(tp, cases[i].token);
        write_secret(sp, cases[i].secret);
        assert_int_equal(adapter_instance_set(in, "bot-token-file", tp, "t",
                                              err, sizeof(err)),
                         RELAY_OK);
        assert_int_equal(adapter_instance_set(in, "webhook-secret-file", sp,
                                              "t", err, sizeof(err)),
                         RELAY_OK);
        assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                         RELAY_ECONFIG);
        assert_non_null(strstr(err, cases[i].err));
        /* never the secret itself */
        assert_null(strstr(err, cases[i].token));
        assert_null(strstr(err, cases[i].secret));
        adapter_instance_destroy(in);
        unlink(tp);
        unlink(sp);
    }
    /* both files are required */
    {
        struct adapter_instance *in = adapter_instance_create("telegram");

        assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                         RELAY_ECONFIG);
        assert_non_null(strstr(err, "bot-token-file"));
        assert_int_equal(adapter_instance_set(in, "bot-token-file", tok_path,
                                              "t", err, sizeof(err)),
                         RELAY_OK);
        assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                         RELAY_ECONFIG);
        assert_non_null(strstr(err, "webhook-secret-file"));
        /* options checked when set */
        assert_int_equal(adapter_instance_set(in, "parse-mode", "Markdown", "t",
                                              err, sizeof(err)),
                         RELAY_ECONFIG);
        assert_int_equal(adapter_instance_set(in, "api-url",
                                              "https://api.telegram.org/", "t",
                                              err, sizeof(err)),
                         RELAY_ECONFIG);
        assert_int_equal(adapter_instance_set(in, "api-url", "ftp://x", "t",
                                              err, sizeof(err)),
                         RELAY_ECONFIG);
        assert_int_equal(adapter_instance_set(in, "parse-mode", "markdownv2",
                                              "t", err, sizeof(err)),
                         RELAY_OK);
        adapter_instance_destroy(in);
    }
    /* the default api-url */
    {
        struct adapter_instance *in = adapter_instance_create("telegram");
        struct adapter_request req;

        assert_int_equal(adapter_instance_set(in, "bot-token-file", tok_path,
                                              "t", err, sizeof(err)),
                         RELAY_OK);
        assert_int_equal(adapter_instance_set(in, "webhook-secret-file",
                                              sec_path, "t", err, sizeof(err)),
                         RELAY_OK);
        assert_int_equal(adapter_instance_init(in, err, sizeof(err)), RELAY_OK);
        assert_int_equal(build(in, "42", 0, "test", 0, "x", &req), RELAY_OK);
        assert_string_equal(req.url, "https://api.telegram.org/bot" TOKEN
                                     "/sendMessage");
        adapter_request_cleanup(&req);
        adapter_instance_destroy(in);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_length),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_webhook_mo),
        cmocka_unit_test(test_webhook_none),
        cmocka_unit_test(test_webhook_refused),
        cmocka_unit_test(test_init),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
