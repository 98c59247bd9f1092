/*
 * test_whatsapp.c - adapters/whatsapp.c as tables, no network: both
 * request shapes (free text inside the 24-hour window, template outside
 * it) byte for byte, headers per kind, markup neutralising, template
 * parameter cleaning, refused messages, response verdicts, the GET
 * subscription handshake, X-Hub-Signature-256 (right, wrong, missing,
 * malformed), and the mapping of status and message notifications.
 * Two signatures are pinned to values computed independently (Python
 * hmac/hashlib); the table cases sign with libsodium in sign() below.
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

#include <sodium.h>

#include "adapter.h"
#include "error.h"

#define ACCESS_TOKEN "EAAtest-access-token_0123456789"
#define APP_SECRET "0123456789abcdef0123456789abcdef"
#define VERIFY_TOKEN "buurt-verify.token_1"
#define PNID "106540352242922"
#define WAMID "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"

/* The look-alikes whatsapp.c substitutes (split so no hex escape runs
 * into the following text). */
#define AST "\xE2\x88\x97"
#define LOW "\xCB\x8D"
#define TIL "\xE2\x88\xBC"
#define GRV "\xCB\x8B"
#define SIREN "\xF0\x9F\x9A\xA8"

static char tok_path[64], secret_path[64], verify_path[64];

static void write_secret(char *path, const char *content)
{
    int fd;

    snprintf(path, 64, "/tmp/test_whatsapp_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    write_secret(tok_path, ACCESS_TOKEN "\n");
    write_secret(secret_path, APP_SECRET "\n");
    write_secret(verify_path, VERIFY_TOKEN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(tok_path);
    unlink(secret_path);
    unlink(verify_path);
    return 0;
}

static struct adapter_instance *make(void)
{
    struct adapter_instance *in = adapter_instance_create("whatsapp");
    char err[256];
    const char *const kv[][2] = {
        {"phone-number-id", PNID},
        {"api-url", "http://127.0.0.1:9999"},
        {"public-url", "https://relay.example.nl"},
        {"access-token-file", tok_path},
        {"app-secret-file", secret_path},
        {"verify-token-file", verify_path},
    };

    assert_non_null(in);
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(
            adapter_instance_set(in, kv[i][0], kv[i][1], "t", err, sizeof(err)),
            RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)), RELAY_OK);
    return in;
}

static struct adapter_msg msg_of(const char *text, const char *kind, int urgent,
                                 int session_open)
{
    struct adapter_msg m = {
        .delivery_id = "d-1",
        .to = "+31612345678",
        .text = text,
        .text_len = strlen(text),
        .hook_url = "https://relay.example.nl/hooks/whatsapp",
        .kind = kind,
        .urgent = urgent,
        .session_open = session_open,
    };

    return m;
}

#define BODY_TEXT_PREFIX                                                       \
    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","   \
    "\"to\":\"31612345678\",\"type\":\"text\",\"text\":{\"preview_url\":"      \
    "false,\"body\":\""
#define BODY_TEMPLATE_PREFIX                                                   \
    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\","   \
    "\"to\":\"31612345678\",\"type\":\"template\",\"template\":{\"name\":"     \
    "\"buurtrelay_melding\",\"language\":{\"code\":\"nl\"},\"components\":"    \
    "[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\",\"text\":\""

static void test_build_text(void **state)
{
    struct adapter_instance *in = make();
    struct adapter_request req = {0};
    const char *text = "Vermist: \"Jan\" (78) *blauwe jas*\nMail "
                       "j_de_vries@x.nl of zie https://politie.nl/_a_/*b* "
                       "~nu~ `x`";
    struct adapter_msg msg = msg_of(text, "appeal", 0, 1);

    (void)state;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url,
                        "http://127.0.0.1:9999/v21.0/" PNID "/messages");
    assert_int_equal(req.nheaders, 3);
    assert_string_equal(req.headers[0], "Authorization: Bearer " ACCESS_TOKEN);
    assert_string_equal(req.headers[1], "Content-Type: application/json");
    assert_string_equal(req.headers[2], "Accept: application/json");
    assert_string_equal(
        req.body, BODY_TEXT_PREFIX
        "*Politie-oproep*\\nVermist: \\\"Jan\\\" (78) " AST "blauwe jas" AST
        "\\nMail j_de_vries@x.nl of zie https://politie.nl/_a_/*b* " TIL
        "nu" TIL " " GRV "x" GRV "\"}}");
    assert_int_equal(req.body_len, strlen(req.body));
    adapter_request_cleanup(&req);
    adapter_instance_destroy(in);
}

static void test_build_template(void **state)
{
    struct adapter_instance *in = make();
    struct adapter_request req = {0};
    const char *text = "Gevonden!\r\nDank  u\twel     allen   *samen*";
    struct adapter_msg msg = msg_of(text, "closing", 1, 0);

    (void)state;
    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    assert_string_equal(req.url,
                        "http://127.0.0.1:9999/v21.0/" PNID "/messages");
    assert_string_equal(req.body, BODY_TEMPLATE_PREFIX SIREN
                        " Afgesloten\"},{\"type\":\"text\",\"text\":"
                        "\"Gevonden! Dank  u wel allen   " AST "samen" AST
                        "\"}]}]}}");
    adapter_request_cleanup(&req);
    adapter_instance_destroy(in);
}

/* Every kind's header, in both shapes, urgent or not. */
static void test_headers(void **state)
{
    static const struct {
        const char *kind;
        int urgent;
        const char *header;
    } cases[] = {
        {"appeal", 0, "Politie-oproep"},
        {"appeal", 1, SIREN " Politie-oproep"},
        {"approval", 0, "Politie-oproep"},
        {"update", 0, "Update politie-oproep"},
        {"update", 1, SIREN " Update politie-oproep"},
        {"closing", 0, "Afgesloten"},
        {"status", 0, "Uw melding"},
        {"notice", 0, "Bericht"},
        {"test", 0, "Test"},
        {"something-new", 0, "Bericht"},
        {NULL, 1, SIREN " Bericht"},
    };
    struct adapter_instance *in = make();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int open = 0; open <= 1; open++) {
            struct adapter_request req = {0};
            struct adapter_msg msg =
                msg_of("x", cases[i].kind, cases[i].urgent, open);
            char want[512];

            if (open)
                snprintf(want, sizeof(want), "%s*%s*\\nx\"}}", BODY_TEXT_PREFIX,
                         cases[i].header);
            else
                snprintf(want, sizeof(want),
                         "%s%s\"},{\"type\":\"text\",\"text\":\"x\"}]}]}}",
                         BODY_TEMPLATE_PREFIX, cases[i].header);
            assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                             RELAY_OK);
            assert_string_equal(req.body, want);
            adapter_request_cleanup(&req);
        }
    }
    adapter_instance_destroy(in);
}

/* The text part of a free-text body ("*Bericht*\n" cut). */
static void text_body(struct adapter_instance *in, const char *text,
                      int session_open, char *out, size_t outlen)
{
    struct adapter_request req = {0};
    struct adapter_msg msg = msg_of(text, "notice", 0, session_open);
    const char *p, *e;

    assert_int_equal(in->ops->build_request(in->priv, &msg, &req), RELAY_OK);
    if (session_open) {
        p = strstr(req.body, "*Bericht*\\n");
        assert_non_null(p);
        p += strlen("*Bericht*\\n");
        e = strstr(p, "\"}}");
    } else {
        p = strstr(req.body, "\"Bericht\"},{\"type\":\"text\",\"text\":\"");
        assert_non_null(p);
        p += strlen("\"Bericht\"},{\"type\":\"text\",\"text\":\"");
        e = strstr(p, "\"}]}]}}");
    }
    assert_non_null(e);
    assert_true((size_t)(e - p) < outlen);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    adapter_request_cleanup(&req);
}

static void test_neutralise(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"*a*", AST "a" AST},
        {"_x_ ~y~", LOW "x" LOW " " TIL "y" TIL},
        {"```code```", GRV GRV GRV "code" GRV GRV GRV},
        {"5*3=15", "5*3=15"},                       /* inside a word */
        {"snake_case_naam", "snake_case_naam"},     /* inside a word */
        {"\xC3\xA9*\xC3\xA9", "\xC3\xA9*\xC3\xA9"}, /* é*é */
        {"a *b", "a " AST "b"},
        {"eind_", "eind" LOW},
        {"www.x.nl/_a_ en _b_", "www.x.nl/_a_ en " LOW "b" LOW},
        {"(https://x.nl/*y*) *z*", "(https://x.nl/*y*) " AST "z" AST},
        {"HTTPS://X.NL/_a_", "HTTPS://X.NL/_a_"},
        {"xhttps://a_b *c*", "xhttps://a_b " AST "c" AST},
        {"zie:http://a.nl/~x~", "zie:http://a.nl/~x~"},
        {"geen markup", "geen markup"},
    };
    struct adapter_instance *in = make();
    char got[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        text_body(in, cases[i].in, 1, got, sizeof(got));
        assert_string_equal(got, cases[i].out);
        /* the same neutralising applies to template parameters */
        text_body(in, cases[i].in, 0, got, sizeof(got));
        assert_string_equal(got, cases[i].out);
    }
    adapter_instance_destroy(in);
}

static void test_template_clean(void **state)
{
    static const struct {
        const char *in, *template_out, *text_out;
    } cases[] = {
        {"a\nb", "a b", "a\\nb"},
        {"a\n\n\nb", "a b", "a\\n\\n\\nb"},
        {"a\r\nb", "a b", "a\\r\\nb"},
        {"a    b", "a    b", "a    b"}, /* four spaces are allowed */
        {"a     b", "a b", "a     b"},  /* five are not */
        {"a \t b", "a b", "a \\t b"},
        {"a\xE2\x80\xA8"
         "b",
         "a b",
         "a\xE2\x80\xA8"
         "b"}, /* U+2028 */
        {"a\xC2\x85"
         "b",
         "a b",
         "a\xC2\x85"
         "b"}, /* U+0085 */
        {"a\vb\fc", "a b c", "a\\u000bb\\fc"},
        {" lead", " lead", " lead"},
        {"eind\n", "eind ", "eind\\n"},
        {"x\x01y", "x\\u0001y", "x\\u0001y"},
        {"back\\slash", "back\\\\slash", "back\\\\slash"},
    };
    struct adapter_instance *in = make();
    char got[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        text_body(in, cases[i].in, 0, got, sizeof(got));
        assert_string_equal(got, cases[i].template_out);
        text_body(in, cases[i].in, 1, got, sizeof(got));
        assert_string_equal(got, cases[i].text_out);
    }
    adapter_instance_destroy(in);
}

static char *repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static void test_limits_and_refusals(void **state)
{
    struct adapter_instance *in = make();
    const size_t max = in->ops->max_text_chars;
    char *e_ok = repeat("\xC3\xA9", max), *e_long = repeat("\xC3\xA9", max + 1);
    char *emoji_ok = repeat(SIREN, max), *a_long = repeat("a", max + 1);
    static const char *const bad_to[] = {
        "31612345678",   "+0612345678",   "+3161234", "+3161234567890123",
        "+31 612345678", "+31612345678x", "",
    };

    (void)state;
    /* 960: 1024 template characters - header (23) - template text (41) */
    assert_int_equal(max, 960);
    assert_int_equal(in->ops->caps, ADAPTER_CAP_CHAT | ADAPTER_CAP_DLR |
                                        ADAPTER_CAP_MO | ADAPTER_CAP_READ);
    assert_string_equal(in->ops->address_kind, "phone");
    for (int open = 0; open <= 1; open++) {
        const char *ok[] = {e_ok, emoji_ok};
        const char *bad[] = {e_long, a_long};

        for (size_t i = 0; i < 2; i++) {
            struct adapter_request req = {0};
            struct adapter_msg msg = msg_of(ok[i], "appeal", 1, open);

            assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                             RELAY_OK);
            adapter_request_cleanup(&req);
            msg = msg_of(bad[i], "appeal", 1, open);
            assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                             RELAY_EINVAL);
            assert_null(req.url);
            assert_null(req.body);
            assert_null(req.headers[0]);
        }
    }
    for (size_t i = 0; i < sizeof(bad_to) / sizeof(bad_to[0]); i++) {
        struct adapter_request req = {0};
        struct adapter_msg msg = msg_of("x", "appeal", 0, 1);

        msg.to = bad_to[i];
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_EINVAL);
        assert_null(req.body);
    }
    {
        struct adapter_request req = {0};
        struct adapter_msg msg = msg_of("x", "appeal", 0, 1);

        msg.to = NULL;
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_EINVAL);
        msg = msg_of("", "appeal", 0, 1); /* empty */
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_EINVAL);
        msg = msg_of("bad \xC3( utf8", "appeal", 0, 1);
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_EINVAL);
        msg = msg_of("nul", "appeal", 0, 1);
        msg.text_len = 4; /* the terminating NUL inside the text */
        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_EINVAL);
        assert_null(req.body);
    }
    free(e_ok);
    free(e_long);
    free(emoji_ok);
    free(a_long);
    adapter_instance_destroy(in);
}

#define ERR(code, msg)                                                         \
    "{\"error\":{\"message\":\"(#" #code ") " msg "\",\"type\":"               \
    "\"OAuthException\",\"code\":" #code ",\"error_data\":{"                   \
    "\"messaging_product\":\"whatsapp\",\"details\":\"" msg "\"},"             \
    "\"fbtrace_id\":\"AbCdEf\"}}"

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
         "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":"
         "\"+31612345678\",\"wa_id\":\"31612345678\"}],\"messages\":[{\"id\":"
         "\"" WAMID "\"}]}",
         NULL, ADAPTER_SENT, -1, WAMID, ""},
        {200, "not json", NULL, ADAPTER_SENT, -1, "", ""},
        {200, "{\"messages\":[{\"id\":\"has space\"}]}", NULL, ADAPTER_SENT, -1,
         "", ""},
        {200, "{\"messages\":[]}", NULL, ADAPTER_SENT, -1, "", ""},
        /* for good */
        /* outside the 24-hour window: retry at once as a template */
        {400, ERR(131047, "Re-engagement message"), NULL, ADAPTER_RETRY, 0, "",
         ADAPTER_ERROR_SESSION_CLOSED},
        {400, ERR(131026, "Message undeliverable"), NULL, ADAPTER_FAILED, -1,
         "", "wa_131026"},
        {400, ERR(100, "Invalid parameter"), NULL, ADAPTER_FAILED, -1, "",
         "wa_100"},
        {401, ERR(190, "Access token has expired"), NULL, ADAPTER_FAILED, -1,
         "", "wa_190"},
        {400, ERR(132018, "There was an issue with the parameters"), NULL,
         ADAPTER_FAILED, -1, "", "wa_132018"},
        {404, ERR(132001, "Template name does not exist"), NULL, ADAPTER_FAILED,
         -1, "", "wa_132001"},
        {400, ERR(131048, "Spam rate limit hit"), NULL, ADAPTER_FAILED, -1, "",
         "wa_131048"},
        {400, "{}", NULL, ADAPTER_FAILED, -1, "", "http_400"},
        {400, "{\"error\":{\"code\":\"131047\"}}", NULL, ADAPTER_FAILED, -1, "",
         "http_400"},
        {400, "{\"error\":{\"code\":1.5}}", NULL, ADAPTER_FAILED, -1, "",
         "http_400"},
        /* not now */
        {400, ERR(130429, "Rate limit hit"), NULL, ADAPTER_RETRY, -1, "",
         "wa_130429"},
        {400, ERR(131056, "(Business Account, Consumer Account) pair rate"),
         NULL, ADAPTER_RETRY, -1, "", "wa_131056"},
        {429, ERR(4, "Application request limit reached"), "2", ADAPTER_RETRY,
         2, "", "wa_4"},
        {400, ERR(80007, "Rate limit issues"), NULL, ADAPTER_RETRY, -1, "",
         "wa_80007"},
        {429, "", "5", ADAPTER_RETRY, 5, "", "http_429"},
        {429, ERR(130429, "Rate limit hit"), "Thu, 01 Jan 1970 00:00:00 GMT",
         ADAPTER_RETRY, 0, "", "wa_130429"},
        {500, ERR(131000, "Something went wrong"), NULL, ADAPTER_RETRY, -1, "",
         "wa_131000"},
        {400, ERR(131000, "Something went wrong"), NULL, ADAPTER_RETRY, -1, "",
         "wa_131000"},
        {503, ERR(2, "Service temporarily unavailable"), "30", ADAPTER_RETRY,
         30, "", "wa_2"},
        {500, ERR(131016, "Service unavailable"), NULL, ADAPTER_RETRY, -1, "",
         "wa_131016"},
        {500, "<html>", NULL, ADAPTER_RETRY, -1, "", "http_500"},
        {502, "", NULL, ADAPTER_RETRY, -1, "", "http_502"},
        {408, "", NULL, ADAPTER_RETRY, -1, "", "http_408"},
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
    }
    adapter_instance_destroy(in);
}

static int get(struct adapter_instance *in, const char *method,
               const char *path, struct adapter_event *ev)
{
    char url[1024];
    struct adapter_webhook_req req = {
        .method = method,
        .path = path,
        .url = url,
        .headers = NULL,
        .nheaders = 0,
        .body = NULL,
        .body_len = 0,
    };

    snprintf(url, sizeof(url), "https://relay.example.nl%s", path);
    memset(ev, 0x5a, sizeof(*ev));
    return in->ops->parse_webhook(in->priv, &req, ev);
}

#define HOOK "/hooks/whatsapp/webhook"

static void test_handshake(void **state)
{
    static const char c128[] = "0123456789abcdef0123456789abcdef"
                               "0123456789abcdef0123456789abcdef"
                               "0123456789abcdef0123456789abcdef"
                               "0123456789abcdef0123456789ABCDEF";
    static const struct {
        const char *path;
        int rc;
        const char *reply;
    } cases[] = {
        {HOOK "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
              "&hub.challenge=1158201444",
         RELAY_OK, "1158201444"},
        {HOOK "?hub.challenge=abc123&hub.mode=subscribe&hub.verify_"
              "token=" VERIFY_TOKEN,
         RELAY_OK, "abc123"},
        {HOOK "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
              "&hub.challenge="
              "0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789ABCDEF",
         RELAY_OK, c128},
        /* the token */
        {HOOK "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
         RELAY_EAUTH, NULL},
        {HOOK "?hub.mode=subscribe&hub.verify_token=buurt-verify.token_"
              "&hub.challenge=1",
         RELAY_EAUTH, NULL},
        {HOOK "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
              "x&hub.challenge=1",
         RELAY_EAUTH, NULL},
        {HOOK "?hub.mode=subscribe&hub.verify_token=&hub.challenge=1",
         RELAY_EAUTH, NULL},
        {HOOK "?hub.mode=subscribe&hub.challenge=1", RELAY_EAUTH, NULL},
        {HOOK, RELAY_EAUTH, NULL},
        /* right token, wrong request */
        {HOOK "?hub.mode=unsubscribe&hub.verify_token=" VERIFY_TOKEN
              "&hub.challenge=1",
         RELAY_EINVAL, NULL},
        {HOOK "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN,
         RELAY_EINVAL, NULL},
        {HOOK "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
              "&hub.challenge=",
         RELAY_EINVAL, NULL},
        {HOOK "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
              "&hub.challenge=%3Cscript%3E",
         RELAY_EINVAL, NULL},
        {HOOK "?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
              "&hub.challenge="
              "0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789abcdefX",
         RELAY_EINVAL, NULL},
        /* other paths */
        {"/hooks/whatsapp/"
         "other?hub.mode=subscribe&hub.verify_token=" VERIFY_TOKEN
         "&hub.challenge=1",
         RELAY_ENOTFOUND, NULL},
        {"/hooks/whatsappx/webhook", RELAY_ENOTFOUND, NULL},
    };
    struct adapter_instance *in = make();
    struct adapter_event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(get(in, "GET", cases[i].path, &ev), cases[i].rc);
        if (cases[i].rc == RELAY_OK) {
            assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
            assert_int_equal(ev.http_status, 200);
            assert_string_equal(ev.reply_type, "text/plain");
            assert_string_equal(ev.reply_body, cases[i].reply);
            assert_ptr_equal(ev.reply_body, ev.reply_buf);
        } else {
            /* nothing filled */
            assert_null(ev.reply_body);
            assert_int_equal(ev.http_status, 0);
            assert_null(ev.text);
        }
        adapter_event_cleanup(&ev);
    }
    assert_int_equal(get(in, "PUT", HOOK, &ev), RELAY_EINVAL);
    adapter_event_cleanup(&ev);
    adapter_instance_destroy(in);
}

/* "sha256=" + hex(HMAC-SHA256(key, body)). */
static void sign(const char *key, const char *body, char *out, size_t outlen)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * sizeof(mac) + 1];

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body,
                                  strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, outlen, "sha256=%s", hex);
}

/* POSTs body with header "X-Hub-Signature-256: sig" (none when NULL). */
static int post_sig(struct adapter_instance *in, const char *sig,
                    const char *body, size_t body_len, struct adapter_event *ev)
{
    char hdr[256];
    const char *headers[2] = {"Content-Type: application/json", hdr};
    struct adapter_webhook_req req = {
        .method = "POST",
        .path = HOOK,
        .url = "https://relay.example.nl" HOOK,
        .headers = headers,
        .nheaders = sig ? 2 : 1,
        .body = body,
        .body_len = body_len,
    };

    snprintf(hdr, sizeof(hdr), "X-Hub-Signature-256: %s", sig ? sig : "");
    memset(ev, 0x5a, sizeof(*ev));
    return in->ops->parse_webhook(in->priv, &req, ev);
}

/* POSTs body signed correctly. */
static int post(struct adapter_instance *in, const char *body,
                struct adapter_event *ev)
{
    char sig[128];

    sign(APP_SECRET, body, sig, sizeof(sig));
    return post_sig(in, sig, body, strlen(body), ev);
}

#define PINNED_BODY                                                            \
    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"            \
    "\"102290129340398\",\"changes\":[{\"value\":{\"messaging_product\":"      \
    "\"whatsapp\",\"metadata\":{\"display_phone_number\":\"15550783881\","     \
    "\"phone_number_id\":\"" PNID "\"},\"statuses\":[{\"id\":\"" WAMID         \
    "\",\"status\":\"delivered\",\"timestamp\":\"1750857384\","                \
    "\"recipient_id\":\"31612345678\"}]},\"field\":\"messages\"}]}]}"
#define PINNED_SIG                                                             \
    "sha256=79b749d6026ac6c614654807207f3a859a23a6e75ae55bf60c420cef4351258f"
#define EMPTY_ENTRY "{\"object\":\"whatsapp_business_account\",\"entry\":[]}"
#define EMPTY_ENTRY_SIG                                                        \
    "sha256=eefab58106e73358686845848feb95c56372e7391b3dc050b6a31c8c5f347ece"

static void test_signature(void **state)
{
    struct adapter_instance *in = make();
    struct adapter_event ev;
    char sig[128], upper[128], *forged;
    static const char *const malformed[] = {
        "",
        "sha256=",
        "sha256",
        "sha1=eefab58106e73358686845848feb95c56372e739",
        /* 63 and 65 hex digits */
        "sha256="
        "efab58106e73358686845848feb95c56372e7391b3dc050b6a31c8c5f347ece",
        "sha256="
        "eefab58106e73358686845848feb95c56372e7391b3dc050b6a31c8c5f347ece0",
        /* a non-hex digit */
        "sha256="
        "gefab58106e73358686845848feb95c56372e7391b3dc050b6a31c8c5f347ece",
        "sha256= "
        "eefab58106e73358686845848feb95c56372e7391b3dc050b6a31c8c5f347ec",
        "SHA256="
        "eefab58106e73358686845848feb95c56372e7391b3dc050b6a31c8c5f347ece",
        "eefab58106e73358686845848feb95c56372e7391b3dc050b6a31c8c5f347ece",
    };

    (void)state;
    /* independently computed */
    assert_int_equal(
        post_sig(in, PINNED_SIG, PINNED_BODY, strlen(PINNED_BODY), &ev),
        RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_STATUS);
    assert_int_equal(ev.state, ADAPTER_STATE_DELIVERED);
    assert_string_equal(ev.provider_id, WAMID);
    assert_string_equal(ev.delivery_id, "");
    assert_int_equal(ev.http_status, 200);
    assert_string_equal(ev.reply_body, "");
    adapter_event_cleanup(&ev);
    assert_int_equal(
        post_sig(in, EMPTY_ENTRY_SIG, EMPTY_ENTRY, strlen(EMPTY_ENTRY), &ev),
        RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
    adapter_event_cleanup(&ev);
    /* hex digits in upper case are the same signature */
    snprintf(upper, sizeof(upper), "%s", EMPTY_ENTRY_SIG);
    for (char *p = upper + 7; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(post_sig(in, upper, EMPTY_ENTRY, strlen(EMPTY_ENTRY), &ev),
                     RELAY_OK);
    adapter_event_cleanup(&ev);

    /* every single-byte change of the body breaks the signature */
    forged = strdup(PINNED_BODY);
    assert_non_null(forged);
    for (size_t i = 0; i < strlen(forged); i++) {
        char c = forged[i];

        forged[i] = (char)(c ^ 1);
        assert_int_equal(post_sig(in, PINNED_SIG, forged, strlen(forged), &ev),
                         RELAY_EAUTH);
        assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
        assert_string_equal(ev.provider_id, "");
        adapter_event_cleanup(&ev);
        forged[i] = c;
    }
    free(forged);
    /* a truncated or extended body */
    assert_int_equal(
        post_sig(in, PINNED_SIG, PINNED_BODY, strlen(PINNED_BODY) - 1, &ev),
        RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    /* missing, malformed, another key */
    assert_int_equal(post_sig(in, NULL, PINNED_BODY, strlen(PINNED_BODY), &ev),
                     RELAY_EAUTH);
    assert_null(ev.reply_body);
    adapter_event_cleanup(&ev);
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        assert_int_equal(
            post_sig(in, malformed[i], EMPTY_ENTRY, strlen(EMPTY_ENTRY), &ev),
            RELAY_EAUTH);
        adapter_event_cleanup(&ev);
    }
    sign("not-the-app-secret", PINNED_BODY, sig, sizeof(sig));
    assert_int_equal(post_sig(in, sig, PINNED_BODY, strlen(PINNED_BODY), &ev),
                     RELAY_EAUTH);
    adapter_event_cleanup(&ev);
    /* the header name is case-insensitive */
    {
        const char *headers[] = {"x-hub-signature-256: " PINNED_SIG};
        struct adapter_webhook_req req = {
            .method = "POST",
            .path = HOOK,
            .url = "https://relay.example.nl" HOOK,
            .headers = headers,
            .nheaders = 1,
            .body = PINNED_BODY,
            .body_len = strlen(PINNED_BODY),
        };

        assert_int_equal(in->ops->parse_webhook(in->priv, &req, &ev), RELAY_OK);
        assert_int_equal(ev.type, ADAPTER_EVENT_STATUS);
        adapter_event_cleanup(&ev);
    }
    /* a signed POST to another path */
    {
        const char *headers[] = {"X-Hub-Signature-256: " PINNED_SIG};
        struct adapter_webhook_req req = {
            .method = "POST",
            .path = "/hooks/whatsapp/status",
            .url = "https://relay.example.nl/hooks/whatsapp/status",
            .headers = headers,
            .nheaders = 1,
            .body = PINNED_BODY,
            .body_len = strlen(PINNED_BODY),
        };

        assert_int_equal(in->ops->parse_webhook(in->priv, &req, &ev),
                         RELAY_ENOTFOUND);
        adapter_event_cleanup(&ev);
    }
    adapter_instance_destroy(in);
}

/* A notification with one change of field "messages" whose value holds
 * 'inner' (JSON members after metadata). */
static char *notification(const char *pnid, const char *inner)
{
    char *s = malloc(4096);

    assert_non_null(s);
    snprintf(s, 4096,
             "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
             "\"102290129340398\",\"changes\":[{\"value\":{"
             "\"messaging_product\":\"whatsapp\",\"metadata\":{"
             "\"display_phone_number\":\"3197010000001\",\"phone_number_id\":"
             "\"%s\"},%s},\"field\":\"messages\"}]}]}",
             pnid, inner);
    return s;
}

#define STATUS(st, extra)                                                      \
    "\"statuses\":[{\"id\":\"" WAMID "\",\"status\":\"" st "\","               \
    "\"timestamp\":\"1750857384\",\"recipient_id\":\"31612345678\"" extra "}]"

static void test_statuses(void **state)
{
    static const struct {
        const char *inner;
        enum adapter_event_type type;
        enum adapter_state state;
        const char *error;
    } cases[] = {
        {STATUS("sent", ",\"conversation\":{\"id\":\"c1\",\"origin\":{"
                        "\"type\":\"utility\"}},\"pricing\":{\"billable\":"
                        "true,\"category\":\"utility\"}"),
         ADAPTER_EVENT_STATUS, ADAPTER_STATE_SENT, ""},
        {STATUS("delivered", ""), ADAPTER_EVENT_STATUS, ADAPTER_STATE_DELIVERED,
         ""},
        {STATUS("read", ""), ADAPTER_EVENT_STATUS, ADAPTER_STATE_READ, ""},
        {STATUS("failed",
                ",\"errors\":[{\"code\":131047,\"title\":\"Re-engagement "
                "message\",\"message\":\"Re-engagement message\","
                "\"error_data\":{\"details\":\"Message failed to send "
                "because more than 24 hours have passed\"}}]"),
         ADAPTER_EVENT_STATUS, ADAPTER_STATE_FAILED, "wa_131047"},
        {STATUS("failed", ",\"errors\":[{\"code\":131026}]"),
         ADAPTER_EVENT_STATUS, ADAPTER_STATE_FAILED, "wa_131026"},
        {STATUS("failed", ""), ADAPTER_EVENT_STATUS, ADAPTER_STATE_FAILED, ""},
        {STATUS("deleted", ""), ADAPTER_EVENT_NONE, ADAPTER_STATE_NONE, ""},
        {STATUS("warning", ""), ADAPTER_EVENT_NONE, ADAPTER_STATE_NONE, ""},
        {"\"statuses\":[{\"status\":\"read\"}]", ADAPTER_EVENT_NONE,
         ADAPTER_STATE_NONE, ""},
        {"\"statuses\":[{\"id\":12,\"status\":\"read\"}]", ADAPTER_EVENT_NONE,
         ADAPTER_STATE_NONE, ""},
        {"\"statuses\":[]", ADAPTER_EVENT_NONE, ADAPTER_STATE_NONE, ""},
        /* several statuses: the first is taken */
        {"\"statuses\":[{\"id\":\"" WAMID "\",\"status\":\"read\"},{\"id\":"
         "\"wamid.other\",\"status\":\"failed\"}]",
         ADAPTER_EVENT_STATUS, ADAPTER_STATE_READ, ""},
        /* an errors-only notification (value.errors) */
        {"\"errors\":[{\"code\":130429,\"title\":\"Rate limit hit\"}]",
         ADAPTER_EVENT_NONE, ADAPTER_STATE_NONE, ""},
    };
    struct adapter_instance *in = make();
    struct adapter_event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *body = notification(PNID, cases[i].inner);

        assert_int_equal(post(in, body, &ev), RELAY_OK);
        assert_int_equal(ev.type, cases[i].type);
        assert_int_equal(ev.state, cases[i].state);
        assert_string_equal(ev.error, cases[i].error);
        assert_string_equal(ev.delivery_id, "");
        assert_string_equal(ev.provider_id,
                            cases[i].type == ADAPTER_EVENT_STATUS ? WAMID : "");
        assert_int_equal(ev.http_status, 200);
        assert_string_equal(ev.reply_type, "text/plain");
        assert_string_equal(ev.reply_body, "");
        assert_null(ev.text);
        adapter_event_cleanup(&ev);
        free(body);
    }
    adapter_instance_destroy(in);
}

#define MSG(from, type, extra)                                                 \
    "\"contacts\":[{\"profile\":{\"name\":\"Bewoner\"},\"wa_id\":\"" from      \
    "\"}],\"messages\":[{\"from\":\"" from "\",\"id\":\"wamid.IN1\","          \
    "\"timestamp\":\"1750857390\",\"type\":\"" type "\"" extra "}]"

static void test_messages(void **state)
{
    static const struct {
        const char *inner;
        enum adapter_event_type type;
        const char *from, *text, *reply_to, *chat;
    } cases[] = {
        {MSG("31612345678", "text",
             ",\"context\":{\"from\":\"3197010000001\",\"id\":\"" WAMID "\"},"
             "\"text\":{\"body\":\"Ik zag hem bij het station "
             "\xF0\x9F\x9A\xB2\"}"),
         ADAPTER_EVENT_MO, "+31612345678",
         "Ik zag hem bij het station \xF0\x9F\x9A\xB2", WAMID, ""},
        {MSG("31612345678", "text",
             ",\"text\":{\"body\":\"\\\"Blauwe\\\" jas\\nen pet \\u20ac\"}"),
         ADAPTER_EVENT_MO, "+31612345678",
         "\"Blauwe\" jas\nen pet \xE2\x82\xAC", "", ""},
        {MSG("4915112345678", "text",
             ",\"context\":{\"id\":\"has space\"},\"text\":{\"body\":\"\"}"),
         ADAPTER_EVENT_MO, "+4915112345678", "", "", ""},
        {MSG("31612345678", "text",
             ",\"group_id\":\"Y2FwaV9ncm91cDox\",\"text\":{\"body\":\"hoi\"}"),
         ADAPTER_EVENT_MO, "+31612345678", "hoi", "", "Y2FwaV9ncm91cDox"},
        /* nothing to take */
        {MSG("31612345678", "image",
             ",\"image\":{\"caption\":\"foto\",\"mime_type\":\"image/jpeg\","
             "\"id\":\"2754859441498128\"}"),
         ADAPTER_EVENT_NONE, "", NULL, "", ""},
        {MSG("31612345678", "reaction",
             ",\"reaction\":{\"emoji\":\"x\",\"message_id\":\"" WAMID "\"}"),
         ADAPTER_EVENT_NONE, "", NULL, "", ""},
        {MSG("0612345678", "text", ",\"text\":{\"body\":\"x\"}"),
         ADAPTER_EVENT_NONE, "", NULL, "", ""},
        {MSG("+31612345678", "text", ",\"text\":{\"body\":\"x\"}"),
         ADAPTER_EVENT_NONE, "", NULL, "", ""},
        {MSG("3161234", "text", ",\"text\":{\"body\":\"x\"}"),
         ADAPTER_EVENT_NONE, "", NULL, "", ""},
        {MSG("31612345678", "text", ""), ADAPTER_EVENT_NONE, "", NULL, "", ""},
        {MSG("31612345678", "text", ",\"text\":{\"body\":5}"),
         ADAPTER_EVENT_NONE, "", NULL, "", ""},
    };
    struct adapter_instance *in = make();
    struct adapter_event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *body = notification(PNID, cases[i].inner);

        assert_int_equal(post(in, body, &ev), RELAY_OK);
        assert_int_equal(ev.type, cases[i].type);
        assert_string_equal(ev.from, cases[i].from);
        assert_string_equal(ev.reply_to, cases[i].reply_to);
        assert_string_equal(ev.chat, cases[i].chat);
        if (cases[i].text) {
            assert_non_null(ev.text);
            assert_string_equal(ev.text, cases[i].text);
            assert_int_equal(ev.text_len, strlen(cases[i].text));
            assert_string_equal(ev.provider_id, "wamid.IN1");
        } else {
            assert_null(ev.text);
            assert_string_equal(ev.provider_id, "");
        }
        assert_int_equal(ev.http_status, 200);
        assert_string_equal(ev.reply_body, "");
        adapter_event_cleanup(&ev);
        free(body);
    }
    adapter_instance_destroy(in);
}

/* Authentic notifications that are not ours or not about messages. */
static void test_not_ours(void **state)
{
    struct adapter_instance *in = make();
    struct adapter_event ev;
    char *body = notification("999999999", STATUS("read", ""));
    static const char *const others[] = {
        "{\"object\":\"page\",\"entry\":[]}",
        "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":"
        "[{\"field\":\"message_template_status_update\",\"value\":{"
        "\"event\":\"APPROVED\"}}]}]}",
        "{\"object\":\"whatsapp_business_account\"}",
        "{\"object\":\"whatsapp_business_account\",\"entry\":{}}",
        "{\"object\":\"whatsapp_business_account\",\"entry\":[1,\"x\",[]]}",
        "[]",
        "\"x\"",
    };

    (void)state;
    /* another phone number of the same app */
    assert_int_equal(post(in, body, &ev), RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
    adapter_event_cleanup(&ev);
    free(body);
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        assert_int_equal(post(in, others[i], &ev), RELAY_OK);
        assert_int_equal(ev.type, ADAPTER_EVENT_NONE);
        assert_string_equal(ev.reply_body, "");
        adapter_event_cleanup(&ev);
    }
    /* our change after one for another number is found */
    body = malloc(4096);
    assert_non_null(body);
    snprintf(body, 4096,
             "{\"object\":\"whatsapp_business_account\",\"entry\":["
             "{\"changes\":[{\"field\":\"messages\",\"value\":{\"metadata\":"
             "{\"phone_number_id\":\"1\"},%s}}]},"
             "{\"changes\":[{\"field\":\"messages\",\"value\":{\"metadata\":"
             "{\"phone_number_id\":\"" PNID "\"},%s}}]}]}",
             STATUS("sent", ""), STATUS("read", ""));
    assert_int_equal(post(in, body, &ev), RELAY_OK);
    assert_int_equal(ev.type, ADAPTER_EVENT_STATUS);
    assert_int_equal(ev.state, ADAPTER_STATE_READ);
    adapter_event_cleanup(&ev);
    free(body);
    adapter_instance_destroy(in);
}

static void test_malformed(void **state)
{
    static const char *const bodies[] = {
        "{",
        "",
        "{\"object\":\"whatsapp_business_account\",\"object\":\"x\"}",
        "{\"object\":\"whatsapp_business_account\"} trailing",
        "{\"object\":\"whatsapp_business_\xC3(\"}",
        "{\"object\":\"whatsapp\\u0000_business_account\"}",
        "{\"a\":1e400}",
        "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]",
    };
    struct adapter_instance *in = make();
    struct adapter_event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(post(in, bodies[i], &ev), RELAY_EINVAL);
        assert_null(ev.reply_body);
        assert_null(ev.text);
        adapter_event_cleanup(&ev);
    }
    adapter_instance_destroy(in);
}

static void test_init(void **state)
{
    static const struct {
        const char *key, *value;
    } bad_values[] = {
        {"api-url", "ftp://x"},     {"api-url", "https://graph.facebook.com/"},
        {"api-version", "21.0"},    {"api-version", "v21"},
        {"api-version", "v21.0x"},  {"phone-number-id", "12a"},
        {"phone-number-id", ""},    {"template-name", "Buurt-Melding"},
        {"template-language", "n"}, {"template-language", "nl-NL"},
    };
    char err[256], bad_token[64];
    struct adapter_instance *in;

    (void)state;
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        in = adapter_instance_create("whatsapp");
        assert_int_equal(adapter_instance_set(in, bad_values[i].key,
                                              bad_values[i].value, "t", err,
                                              sizeof(err)),
                         RELAY_ECONFIG);
        adapter_instance_destroy(in);
    }
    /* phone-number-id missing */
    in = adapter_instance_create("whatsapp");
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "phone-number-id"));
    adapter_instance_destroy(in);
    /* a secret file missing */
    in = adapter_instance_create("whatsapp");
    assert_int_equal(adapter_instance_set(in, "phone-number-id", PNID, "t", err,
                                          sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "access-token-file", tok_path,
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_set(in, "app-secret-file", secret_path,
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "verify-token-file"));
    /* a verify token that a query string would mangle */
    write_secret(bad_token, "a b&c");
    assert_int_equal(adapter_instance_set(in, "verify-token-file", bad_token,
                                          "t", err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(adapter_instance_init(in, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_non_null(strstr(err, "verify-token-file"));
    assert_null(strstr(err, "a b&c")); /* never the secret itself */
    unlink(bad_token);
    adapter_instance_destroy(in);
    /* defaults */
    in = make();
    {
        struct adapter_request req = {0};
        struct adapter_msg msg = msg_of("x", "test", 0, 0);

        assert_int_equal(in->ops->build_request(in->priv, &msg, &req),
                         RELAY_OK);
        assert_non_null(strstr(req.url, "/v21.0/"));
        assert_non_null(strstr(req.body, "\"name\":\"buurtrelay_melding\""));
        assert_non_null(strstr(req.body, "\"code\":\"nl\""));
        adapter_request_cleanup(&req);
    }
    adapter_instance_destroy(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_text),
        cmocka_unit_test(test_build_template),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_neutralise),
        cmocka_unit_test(test_template_clean),
        cmocka_unit_test(test_limits_and_refusals),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_not_ours),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_init),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
