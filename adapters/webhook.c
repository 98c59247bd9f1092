/*
 * webhook.c - alerts to a municipality's own systems through outgoing
 * webhooks: a Slack/Mattermost incoming webhook, or a generic signed JSON
 * POST. Outbound only (no delivery reports, no replies).
 *
 * ADDRESS. msg.to is the receiving URL of a link (address_kind
 * "webhook"): http:// or https://, a host name, IPv4 or [IPv6] host, an
 * optional port, then a path/query of RFC 3986 characters; no userinfo
 * ("https://good@evil"), no fragment, no spaces, CR, LF or other control
 * bytes, at most ADAPTER_ADDR_MAX (255) bytes. Anything else is
 * RELAY_EINVAL from build_request. A Slack or Mattermost URL is itself
 * the credential ("anyone who has it will be able to post"): it lives
 * only in the request, which adapter_request_cleanup() wipes.
 *
 * FORMAT "slack" (option format = slack): POST {to} with
 *   Content-Type: application/json
 *   {"text": "*{title}*\n{text}"}
 * where title is the Dutch header for msg.kind ("🚨 " first when urgent)
 * and &, <, > in the text become &amp;, &lt;, &gt; (Slack's control
 * characters; only those three may be entity-encoded:
 * api.slack.com/reference/surfaces/formatting#escaping). Slack answers
 * 200 "ok"; errors are a status with one word as the body: 400
 * invalid_payload / no_text / user_not_found, 403 action_prohibited, 404
 * channel_not_found / no_service, 410 channel_is_archived, 500
 * rollup_error, and 429 with Retry-After (about one message per second
 * per webhook). Mattermost accepts the same payload and answers 200 "ok"
 * too (but renders *title* in italics: it wants **bold**).
 *
 * FORMAT "json" (the default): POST {to} with
 *   Content-Type: application/json
 *   X-Buurtrelay-Timestamp: {t}
 *   X-Buurtrelay-Signature: v1={hex(HMAC-SHA256(secret, "{t}.{body}"))}
 *   Idempotency-Key: {delivery id}
 *   {"id":"{delivery id}","kind":"{kind}","urgent":bool,"group":bool,
 *    "title":"{title}","text":"{text}","sent_at":{t}}
 * t is unix seconds. The receiver recomputes the HMAC over the raw body
 * bytes with the shared secret (secret-file), compares in constant time,
 * refuses timestamps more than 5 minutes from its clock and deduplicates
 * on the id / Idempotency-Key: the scheme of Stripe's and Slack's
 * request signing. The timestamp inside the signed string is what makes
 * a captured request useless after 5 minutes; the id is what makes a
 * retry (same id, new timestamp) harmless.
 *
 * WHY time(NULL) in build_request: the interface gives adapters no clock,
 * and none is needed. The outbox calls build_request for every attempt
 * right before handing the request to the HTTP client in the same loop
 * turn (relay/outbox.c send_job), so time(NULL) is the moment the request
 * leaves, and every retry is stamped afresh. The receiver compares the
 * stamp with its own wall clock, so the wall clock (not a monotonic one)
 * is the right source; a clock passed in by the core would read the same
 * time(). Unit tests bracket the call with time() readings.
 *
 * VERDICTS. 2xx = SENT (provider_id: a JSON receiver that answers
 * {"id": "..."} gets that id recorded, else ""); 429 = RETRY honouring
 * Retry-After; 408 and 5xx = RETRY; 1xx (never final; curl hides them)
 * = RETRY; 3xx and other 4xx = FAILED "wh_{status}", for Slack
 * "wh_{status}_{word}" when the body is one short error word. A 401 from
 * a JSON receiver means a wrong secret or a clock off by more than 5
 * minutes: a configuration fault that retrying does not fix.
 *
 * LENGTH. ops->max_text_chars is 4000 code points, a sane limit for a
 * municipality's channel (Slack asked for at most 4,000 characters before
 * it started truncating at 40,000, and may split longer text into
 * several messages). The formatted Slack text is at most 32 header
 * characters plus 5 per text character ("&amp;"): 20,032 < 40,000, so
 * Slack never truncates. build_request refuses (RELAY_EINVAL) a longer
 * text, invalid UTF-8 or a NUL byte rather than cut or mangle it.
 *
 * PRIVACY. Bodies carry alert text; nothing here logs, and every buffer
 * holding text, the URL or the secret is wiped before it is freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "adapter.h"
#include "error.h"
#include "json_strict.h"

#define WEBHOOK_TEXT_MAX 4000 /* code points of msg.text: see LENGTH */
#define WEBHOOK_SECRET_MIN 32 /* bytes of HMAC key (RFC 7518 3.2) */
#define WEBHOOK_USER_AGENT_MAX 128
#define WEBHOOK_WORD_MAX 40 /* a Slack error word kept in error */

enum webhook_format {
    WEBHOOK_JSON = 0,
    WEBHOOK_SLACK = 1,
};

struct webhook {
    char format[CONFIG_STR_MAX];
    char secret_file[CONFIG_STR_MAX];
    char user_agent[CONFIG_STR_MAX];
    /* set by init */
    enum webhook_format fmt;
    char secret[ADAPTER_SECRET_MAX + 1]; /* json: the HMAC key; wiped */
    size_t secret_len;
};

static int check_format(const char *value, char *why, size_t whylen)
{
    if (strcmp(value, "json") != 0 && strcmp(value, "slack") != 0) {
        snprintf(why, whylen, "not 'json' or 'slack'");
        return RELAY_EINVAL;
    }
    return 0;
}

/* A header value: printable ASCII, so no CR/LF can split the header. */
static int check_user_agent(const char *value, char *why, size_t whylen)
{
    size_t n = strlen(value), i = 0;

    while (i < n && value[i] >= 0x20 && value[i] <= 0x7e)
        i++;
    if (i < n || n > WEBHOOK_USER_AGENT_MAX) {
        snprintf(why, whylen, "not at most %d printable ASCII characters",
                 WEBHOOK_USER_AGENT_MAX);
        return RELAY_EINVAL;
    }
    return 0;
}

#define WOFF(f) offsetof(struct webhook, f)

static const struct config_option webhook_options[] = {
    {"format", CONFIG_T_STRING, WOFF(format), 0, 0, "json", 0, check_format, 0},
    {"secret-file", CONFIG_T_STRING, WOFF(secret_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    /* empty: the HTTP client's own "buurtrelay/{version}" */
    {"user-agent", CONFIG_T_STRING, WOFF(user_agent), 0, 0, NULL, 0,
     check_user_agent, 0},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

static int webhook_init(void *priv, char *err, size_t errlen)
{
    struct webhook *w = priv;
    char why[256];
    int rc;

    w->fmt = strcmp(w->format, "slack") == 0 ? WEBHOOK_SLACK : WEBHOOK_JSON;
    if (w->fmt == WEBHOOK_SLACK) {
        /* Slack/Mattermost sign nothing: the URL is the credential. A
         * secret here would be silently unused, so say so. */
        if (w->secret_file[0]) {
            snprintf(err, errlen,
                     "webhook.secret-file is only used with webhook.format "
                     "json");
            return RELAY_ECONFIG;
        }
        return RELAY_OK;
    }
    if (!w->secret_file[0]) {
        snprintf(err, errlen,
                 "webhook.secret-file is required with webhook.format json");
        return RELAY_ECONFIG;
    }
    rc = adapter_read_secret(w->secret_file, w->secret, sizeof(w->secret), why,
                             sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "webhook.secret-file: %s", why);
        return rc;
    }
    w->secret_len = strlen(w->secret);
    if (w->secret_len < WEBHOOK_SECRET_MIN) {
        /* an HMAC key must not be guessable offline from one captured
         * request: ask for a random key, e.g. openssl rand -hex 32 */
        sodium_memzero(w->secret, sizeof(w->secret));
        w->secret_len = 0;
        snprintf(err, errlen,
                 "webhook.secret-file: %s: shorter than %d bytes (use a "
                 "random key, e.g. openssl rand -hex 32)",
                 w->secret_file, WEBHOOK_SECRET_MIN);
        return RELAY_ECONFIG;
    }
    return RELAY_OK;
}

static void webhook_cleanup(void *priv)
{
    struct webhook *w = priv;

    sodium_memzero(w->secret, sizeof(w->secret));
    w->secret_len = 0;
}

/* ---- The receiving URL ------------------------------------------------ */

static int is_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9');
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* RFC 3986 characters allowed after the authority, '%' checked apart;
 * '#' is not: a fragment is never sent and only hides what follows. */
static int is_path_char(char c)
{
    return is_alnum(c) || (c != '\0' && strchr("-._~/?:@!$&'()*+,;=", c));
}

/* See ADDRESS at the top. True for a URL we are willing to POST to. */
static int url_valid(const char *u)
{
    size_t n, i, host;

    if (!u)
        return 0;
    n = strnlen(u, ADAPTER_ADDR_MAX + 1);
    if (n > ADAPTER_ADDR_MAX)
        return 0;
    if (strncmp(u, "https://", 8) == 0)
        i = 8;
    else if (strncmp(u, "http://", 7) == 0)
        i = 7;
    else
        return 0;
    host = i;
    if (u[i] == '[') {
        /* an IPv6 literal: hex digits, ':' and '.' (IPv4-mapped) */
        for (i++; i < n && (is_hex(u[i]) || u[i] == ':' || u[i] == '.'); i++)
            ;
        if (i == host + 1 || i >= n || u[i] != ']')
            return 0;
        i++;
    } else {
        /* a DNS name or IPv4 address; '@' (userinfo) ends up refused
         * below because it is neither part of a host nor a path start */
        for (; i < n && (is_alnum(u[i]) || u[i] == '-' || u[i] == '.'); i++)
            ;
        if (i == host || u[host] == '.' || u[host] == '-')
            return 0;
    }
    if (i < n && u[i] == ':') {
        size_t p = ++i;
        long port = 0;

        for (; i < n && u[i] >= '0' && u[i] <= '9' && i - p < 5; i++)
            port = port * 10 + (u[i] - '0');
        if (i == p || port < 1 || port > 65535)
            return 0;
    }
    if (i < n && u[i] != '/' && u[i] != '?')
        return 0;
    for (; i < n; i++) {
        if (u[i] == '%') {
            if (i + 2 >= n || !is_hex(u[i + 1]) || !is_hex(u[i + 2]))
                return 0;
            i += 2;
        } else if (!is_path_char(u[i])) {
            return 0;
        }
    }
    return 1;
}

/* ---- Building --------------------------------------------------------- */

/*
 * Appends s[0..n) as the inside of a JSON string; with 'slack' also
 * entity-encodes Slack's three control characters first. Input is valid
 * UTF-8 without NUL (checked by the caller): bytes >= 0x80 pass as they
 * are, control bytes become \n, \t, ... or \u00XX.
 */
static void add_json_chars(struct adapter_buf *b, const char *s, size_t n,
                           int slack)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of bytes not yet copied */

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char u[7];

        if (c == '"')
            rep = "\\\"";
        else if (c == '\\')
            rep = "\\\\";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '\r')
            rep = "\\r";
        else if (c == '\t')
            rep = "\\t";
        else if (c == '\b')
            rep = "\\b";
        else if (c == '\f')
            rep = "\\f";
        else if (slack && c == '&')
            rep = "&amp;";
        else if (slack && c == '<')
            rep = "&lt;";
        else if (slack && c == '>')
            rep = "&gt;";
        else if (c < 0x20) {
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4];
            u[5] = hex[c & 0xf];
            u[6] = '\0';
            rep = u;
        }
        if (!rep)
            continue;
        adapter_buf_add(b, s + run, i - run);
        adapter_buf_adds(b, rep);
        run = i + 1;
    }
    adapter_buf_add(b, s + run, n - run);
}

/* Appends "s" as a JSON string (s is ASCII or valid UTF-8, no NUL). */
static void add_json_str(struct adapter_buf *b, const char *s)
{
    adapter_buf_adds(b, "\"");
    add_json_chars(b, s, strlen(s), 0);
    adapter_buf_adds(b, "\"");
}

/* "{title}" or "🚨 {title}" */
static void add_title(struct adapter_buf *b, const struct adapter_msg *msg)
{
    if (msg->urgent)
        adapter_buf_adds(b, "\xF0\x9F\x9A\xA8 ");
    adapter_buf_adds(b, adapter_kind_header(msg->kind));
}

static void build_slack_body(struct adapter_buf *body,
                             const struct adapter_msg *msg)
{
    adapter_buf_adds(body, "{\"text\":\"*");
    add_title(body, msg);
    adapter_buf_adds(body, "*\\n");
    add_json_chars(body, msg->text, msg->text_len, 1);
    adapter_buf_adds(body, "\"}");
}

static void build_json_body(struct adapter_buf *body,
                            const struct adapter_msg *msg, const char *ts)
{
    struct adapter_buf title = {0};

    add_title(&title, msg);
    adapter_buf_adds(body, "{\"id\":");
    add_json_str(body, msg->delivery_id);
    adapter_buf_adds(body, ",\"kind\":");
    add_json_str(body, msg->kind);
    adapter_buf_adds(body,
                     msg->urgent ? ",\"urgent\":true" : ",\"urgent\":false");
    adapter_buf_adds(body,
                     msg->to_group ? ",\"group\":true" : ",\"group\":false");
    adapter_buf_adds(body, ",\"title\":");
    if (title.oom)
        body->oom = 1;
    else
        add_json_str(body, title.p);
    adapter_buf_adds(body, ",\"text\":\"");
    add_json_chars(body, msg->text, msg->text_len, 0);
    adapter_buf_adds(body, "\",\"sent_at\":");
    adapter_buf_adds(body, ts);
    adapter_buf_adds(body, "}");
    adapter_buf_free(&title);
}

/* "X-Buurtrelay-Signature: v1={hex}" over "{ts}.{body}", a heap string. */
static char *sign_header(const struct webhook *w, const char *ts,
                         const char *body, size_t body_len)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    struct adapter_buf h = {0};

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)w->secret,
                                w->secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    adapter_buf_adds(&h, "X-Buurtrelay-Signature: v1=");
    adapter_buf_adds(&h, hex);
    sodium_memzero(mac, sizeof(mac));
    sodium_memzero(hex, sizeof(hex));
    return adapter_buf_take(&h, NULL);
}

/* "Name: value" as a heap string. */
static char *header(const char *name, const char *value)
{
    struct adapter_buf h = {0};

    adapter_buf_adds(&h, name);
    adapter_buf_adds(&h, ": ");
    adapter_buf_adds(&h, value);
    return adapter_buf_take(&h, NULL);
}

static int webhook_build_request(void *priv, const struct adapter_msg *msg,
                                 struct adapter_request *req)
{
    struct webhook *w = priv;
    struct adapter_buf body = {0};
    char ts[24];
    int n = 0;

    if (!adapter_id_valid(msg->delivery_id) || !url_valid(msg->to) ||
        !msg->kind || !msg->text || memchr(msg->text, '\0', msg->text_len) ||
        !utf8_valid(msg->text, msg->text_len) ||
        adapter_utf8_count(msg->text, msg->text_len) > WEBHOOK_TEXT_MAX)
        return RELAY_EINVAL;
    /* the kind goes verbatim into the JSON body: keep it a plain word */
    for (const char *k = msg->kind; *k; k++) {
        if (!is_alnum(*k) && *k != '_' && *k != '-')
            return RELAY_EINVAL;
    }
    if (!msg->kind[0] || strlen(msg->kind) > 32)
        return RELAY_EINVAL;

    /* see "WHY time(NULL)" at the top */
    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    if (w->fmt == WEBHOOK_SLACK)
        build_slack_body(&body, msg);
    else
        build_json_body(&body, msg, ts);

    req->method = "POST";
    req->url = strdup(msg->to);
    req->body = adapter_buf_take(&body, &req->body_len);
    req->headers[n++] = strdup("Content-Type: application/json");
    if (w->fmt == WEBHOOK_JSON) {
        req->headers[n++] = header("X-Buurtrelay-Timestamp", ts);
        req->headers[n++] =
            req->body ? sign_header(w, ts, req->body, req->body_len) : NULL;
        req->headers[n++] = header("Idempotency-Key", msg->delivery_id);
    }
    if (w->user_agent[0])
        req->headers[n++] = header("User-Agent", w->user_agent);
    req->nheaders = n;
    for (int i = 0; i < n; i++) {
        if (!req->headers[i])
            goto nomem;
    }
    if (!req->url || !req->body)
        goto nomem;
    return RELAY_OK;
nomem:
    adapter_request_cleanup(req);
    return RELAY_ENOMEM;
}

/* ---- Responses -------------------------------------------------------- */

/* True when body[0..len), blanks trimmed, is one short lower-case word
 * (Slack's error strings); the word into out. */
static int error_word(const char *body, size_t len, char *out, size_t outlen)
{
    size_t s = 0, e = len;

    if (!body)
        return 0;
    while (s < e && (body[s] == ' ' || body[s] == '\n' || body[s] == '\r' ||
                     body[s] == '\t'))
        s++;
    while (e > s && (body[e - 1] == ' ' || body[e - 1] == '\n' ||
                     body[e - 1] == '\r' || body[e - 1] == '\t'))
        e--;
    if (e == s || e - s > WEBHOOK_WORD_MAX || e - s >= outlen)
        return 0;
    for (size_t i = s; i < e; i++) {
        char c = body[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    memcpy(out, body + s, e - s);
    out[e - s] = '\0';
    return 1;
}

/* A JSON receiver's {"id": "..."} answer, when it gives one we can keep:
 * 1..ADAPTER_PROVIDER_ID_MAX printable ASCII characters. */
static void receiver_id(const char *body, size_t len, char *out, size_t outlen)
{
    const char *why = NULL;
    cJSON *root = len > 0 ? json_strict_parse(body, len, 4, &why) : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");

    out[0] = '\0';
    if (cJSON_IsObject(root) && cJSON_IsString(id) && id->valuestring) {
        size_t n = strlen(id->valuestring);
        int ok = n > 0 && n < outlen;

        for (size_t i = 0; ok && i < n; i++)
            ok = id->valuestring[i] > 0x20 && id->valuestring[i] < 0x7f;
        if (ok)
            memcpy(out, id->valuestring, n + 1);
    }
    cJSON_Delete(root);
}

static int webhook_parse_response(void *priv, long status, const char *body,
                                  size_t len, const char *retry_after,
                                  struct adapter_result *out)
{
    struct webhook *w = priv;
    char word[WEBHOOK_WORD_MAX + 1];

    if (!w || !out)
        return RELAY_EINVAL;
    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    if (status >= 200 && status < 300) {
        /* Accepted: whatever the body says, sending again would post
         * twice to a Slack channel. */
        out->verdict = ADAPTER_SENT;
        if (w->fmt == WEBHOOK_JSON)
            receiver_id(body, len, out->provider_id, sizeof(out->provider_id));
        return RELAY_OK;
    }
    /* "wh_404_channel_not_found": at most 3 + 20 + 1 + 40 < 64 */
    if (w->fmt == WEBHOOK_SLACK && error_word(body, len, word, sizeof(word)))
        snprintf(out->error, sizeof(out->error), "wh_%ld_%s", status, word);
    else
        snprintf(out->error, sizeof(out->error), "wh_%ld", status);
    if (status == 429 || status == 408 || status >= 500 || status < 200) {
        out->verdict = ADAPTER_RETRY;
        out->retry_after_s = adapter_retry_after(retry_after, time(NULL));
        return RELAY_OK;
    }
    out->verdict = ADAPTER_FAILED;
    return RELAY_OK;
}

const struct adapter_ops adapter_webhook = {
    .name = "webhook",
    .caps = ADAPTER_CAP_CHAT | ADAPTER_CAP_GROUP,
    .address_kind = "webhook",
    .max_text_chars = WEBHOOK_TEXT_MAX,
    .priv_size = sizeof(struct webhook),
    .options = webhook_options,
    .init = webhook_init,
    .cleanup = webhook_cleanup,
    .build_request = webhook_build_request,
    .parse_response = webhook_parse_response,
    .parse_webhook = NULL, /* outbound only: nothing comes back */
};
