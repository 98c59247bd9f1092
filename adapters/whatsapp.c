/*
 * whatsapp.c - one-to-one messages through the WhatsApp Business Cloud
 * API (Meta's Graph API). There is no group messaging here: the Cloud API
 * sends to one phone number at a time.
 *
 * SEND: POST {api-url}/{api-version}/{phone-number-id}/messages, JSON,
 * "Authorization: Bearer {access token}". msg.to is E.164; the API wants
 * the digits without '+'. Two shapes:
 *   - msg.session_open (the resident wrote to us within WhatsApp's 24-hour
 *     customer-service window): free text,
 *       {"messaging_product":"whatsapp","recipient_type":"individual",
 *        "to":"316...","type":"text",
 *        "text":{"preview_url":false,"body":"*{header}*\n{text}"}}
 *   - otherwise only an approved template may be sent:
 *       {..."type":"template","template":{"name":{template-name},
 *        "language":{"code":{template-language}},"components":[{"type":
 *        "body","parameters":[{"type":"text","text":{header}},
 *                             {"type":"text","text":{text}}]}]}}
 *     The template (to be approved in WhatsApp Manager, category utility)
 *     has a body with exactly two variables, e.g. "*{{1}}*\n{{2}}", and at
 *     most WA_TEMPLATE_FIXED_MAX characters of its own.
 * {header} is the Dutch label of msg.kind ("Politie-oproep", ...), with
 * "🚨 " in front when msg.urgent.
 *
 * FORMATTING. WhatsApp has no escape for its markup (*bold*, _italic_,
 * ~strike~, `code`), so each of those characters that could open or close
 * markup is replaced by a look-alike that cannot (∗ ˍ ∼ ˋ, one code point
 * each, so lengths in code points do not change). Left alone, so that
 * addresses and links keep working: a marker between two word characters
 * ("j_de_vries@...", "5*3"; WhatsApp formats only at word boundaries) and
 * everything inside a URL token ("https://", "http://", "www." up to
 * whitespace; assumed, not verified with a real client, to be left
 * unformatted by WhatsApp).
 * Template parameters may not contain newlines, tabs or more than four
 * consecutive spaces (Meta error 132018 refuses the whole send): every
 * whitespace run holding any of those becomes one space.
 *
 * LIMITS. A text body may have 4096 characters; a template body at most
 * 1024 including its variables. max_text_chars (WA_MAX_TEXT_CHARS = 960
 * code points) is 1024 minus the longest header (23) minus the template's
 * own text (41), so both shapes always fit; build_request refuses (never
 * truncates) anything longer, and texts that are not UTF-8 or hold NUL.
 *
 * VERDICTS. 200 {"messages":[{"id":"wamid..."}]} = SENT with the wamid as
 * provider_id (status webhooks name the message only by it). Errors are
 * {"error":{"message","type","code","error_subcode","fbtrace_id"}};
 * Meta says to act on 'code':
 *   RETRY   HTTP 408/429/5xx, codes 4 and 80007 (app / account call rate),
 *           130429 (throughput), 131056 (pair rate: one message per ~6 s
 *           to the same user), 2 (service unavailable), 131000 (something
 *           went wrong), 131016 (service unavailable); Retry-After is
 *           honoured when present (Meta rarely sends one).
 *   RETRY   131047 (free text outside the 24-hour window) with the error
 *           ADAPTER_ERROR_SESSION_CLOSED: the core forgets the window and
 *           the next attempt is the template.
 *   FAILED  everything else as "wa_{code}", e.g. wa_131026 (undeliverable),
 * wa_100 (invalid parameter), wa_190 (access token expired), wa_132018
 * (template parameters); "http_{status}" without a code. The Cloud API has no
 * idempotency key: a request that timed out may have been sent, and retrying it
 * may send twice (the outbox's documented trade-off for urgent alerts).
 *
 * WEBHOOKS, all at {hook}/webhook (configured in the Meta app, not per
 * message):
 *   GET  ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..  the
 *        subscription check: the token must equal verify-token-file
 *        (constant time); the challenge (letters and digits) is echoed.
 *   POST a JSON notification signed with X-Hub-Signature-256:
 *        "sha256=" hex(HMAC-SHA256(app secret, raw body)), checked in
 *        constant time; anything else is RELAY_EAUTH.
 *        {"object":"whatsapp_business_account","entry":[{"changes":[
 *         {"field":"messages","value":{"metadata":{"phone_number_id"},
 *          "statuses":[...] | "messages":[...]}}]}]}
 *        statuses[0] -> STATUS by provider_id (wamid), "failed" carries
 *        "wa_{errors[0].code}"; messages[0] of type text -> MO (from =
 *        "+" + from, reply_to = context.id, chat = group_id when Meta's
 *        Groups API names one, else ""); anything else -> NONE.
 *        Changes for another phone-number-id of the same app are ignored.
 *        Answered 200 with an empty body (Meta retries anything else).
 * ONE EVENT: struct adapter_event holds one event, so of a notification
 * carrying several statuses or messages (Meta may batch them) only the
 * first is taken; the rest needs a core extension (e.g. an index
 * argument to parse_webhook, called until RELAY_ENOTFOUND).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "adapter.h"
#include "error.h"
#include "json_strict.h"

#define WA_TEMPLATE_BODY_MAX 1024 /* a template body, variables filled */
#define WA_TEXT_BODY_MAX 4096     /* a text message body */
#define WA_HEADER_MAX 23          /* "🚨 Update politie-oproep" */
#define WA_TEMPLATE_FIXED_MAX 41  /* the approved template's own text */
#define WA_MAX_TEXT_CHARS                                                      \
    (WA_TEMPLATE_BODY_MAX - WA_HEADER_MAX - WA_TEMPLATE_FIXED_MAX)
#define WA_CHALLENGE_MAX 128 /* hub.challenge we echo (Meta: digits) */
#define WA_JSON_DEPTH 16     /* notifications nest about 10 deep */
#define WA_SIG_MAX 80        /* "sha256=" + 64 hex digits */
#define WA_MODE_MAX 32       /* hub.mode */

/* "*" header "*\n" text must fit a text body too. */
_Static_assert(WA_MAX_TEXT_CHARS + WA_HEADER_MAX + 3 <= WA_TEXT_BODY_MAX,
               "text message limit");

struct whatsapp {
    char api_url[CONFIG_STR_MAX];           /* no trailing '/' */
    char api_version[CONFIG_STR_MAX];       /* "v21.0" */
    char phone_number_id[CONFIG_STR_MAX];   /* the sending number's id */
    char access_token_file[CONFIG_STR_MAX]; /* secret paths */
    char app_secret_file[CONFIG_STR_MAX];
    char verify_token_file[CONFIG_STR_MAX];
    char template_name[CONFIG_STR_MAX]; /* used outside the 24 h window */
    char template_language[CONFIG_STR_MAX];
    /* loaded by init, wiped by cleanup */
    char access_token[ADAPTER_SECRET_MAX + 1];
    char app_secret[ADAPTER_SECRET_MAX + 1];
    char verify_token[ADAPTER_SECRET_MAX + 1];
};

/* ---- Options ----------------------------------------------------------- */

static int check_url(const char *value, char *why, size_t whylen)
{
    size_t n = strlen(value);

    if ((strncmp(value, "http://", 7) != 0 &&
         strncmp(value, "https://", 8) != 0) ||
        value[n - 1] == '/') {
        snprintf(why, whylen, "not an http(s) URL without a trailing /");
        return RELAY_EINVAL;
    }
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* "v" digits "." digits, e.g. v21.0 */
static int check_version(const char *value, char *why, size_t whylen)
{
    const char *p = value;
    size_t a = 0, b = 0;

    if (*p++ == 'v') {
        while (is_digit(*p) && a < 4)
            p++, a++;
        if (*p++ == '.') {
            while (is_digit(*p) && b < 4)
                p++, b++;
            if (a && b && *p == '\0')
                return 0;
        }
    }
    snprintf(why, whylen, "not a Graph API version such as v21.0");
    return RELAY_EINVAL;
}

static int check_number_id(const char *value, char *why, size_t whylen)
{
    size_t n = 0;

    while (is_digit(value[n]))
        n++;
    if (n == 0 || n > 32 || value[n] != '\0') {
        snprintf(why, whylen, "not a phone number id of 1 to 32 digits");
        return RELAY_EINVAL;
    }
    return 0;
}

/* Template names: lowercase letters, digits and '_' (WhatsApp Manager). */
static int check_template(const char *value, char *why, size_t whylen)
{
    size_t n = 0;

    for (; value[n]; n++) {
        char c = value[n];

        if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_'))
            break;
    }
    if (n == 0 || value[n] != '\0') {
        snprintf(why, whylen, "not a template name of [a-z0-9_]");
        return RELAY_EINVAL;
    }
    return 0;
}

/* Language codes: "nl", "en_US", "pt_BR". */
static int check_language(const char *value, char *why, size_t whylen)
{
    size_t n = 0;

    for (; value[n]; n++) {
        char c = value[n];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
            break;
    }
    if (n < 2 || n > 15 || value[n] != '\0') {
        snprintf(why, whylen, "not a language code such as nl or en_US");
        return RELAY_EINVAL;
    }
    return 0;
}

#define WOFF(f) offsetof(struct whatsapp, f)

static const struct config_option whatsapp_options[] = {
    {"api-url", CONFIG_T_STRING, WOFF(api_url), 0, 0,
     "https://graph.facebook.com", 0, check_url, 0},
    {"api-version", CONFIG_T_STRING, WOFF(api_version), 0, 0, "v21.0", 0,
     check_version, 0},
    {"phone-number-id", CONFIG_T_STRING, WOFF(phone_number_id), 0, 0, NULL, 0,
     check_number_id, 0},
    {"access-token-file", CONFIG_T_STRING, WOFF(access_token_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"app-secret-file", CONFIG_T_STRING, WOFF(app_secret_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"verify-token-file", CONFIG_T_STRING, WOFF(verify_token_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"template-name", CONFIG_T_STRING, WOFF(template_name), 0, 0,
     "buurtrelay_melding", 0, check_template, 0},
    {"template-language", CONFIG_T_STRING, WOFF(template_language), 0, 0, "nl",
     0, check_language, 0},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

static int load_secret(const char *key, const char *path, char *out,
                       size_t outlen, char *err, size_t errlen)
{
    char why[256];
    int rc = adapter_read_secret(path, out, outlen, why, sizeof(why));

    if (rc < 0)
        snprintf(err, errlen, "whatsapp.%s: %s", key, why);
    return rc;
}

static int whatsapp_init(void *priv, char *err, size_t errlen)
{
    struct whatsapp *w = priv;
    int rc;

    if (!w->phone_number_id[0]) {
        snprintf(err, errlen, "whatsapp.phone-number-id is required");
        return RELAY_ECONFIG;
    }
    rc = load_secret("access-token-file", w->access_token_file, w->access_token,
                     sizeof(w->access_token), err, errlen);
    if (rc == 0)
        rc = load_secret("app-secret-file", w->app_secret_file, w->app_secret,
                         sizeof(w->app_secret), err, errlen);
    if (rc == 0)
        rc = load_secret("verify-token-file", w->verify_token_file,
                         w->verify_token, sizeof(w->verify_token), err, errlen);
    if (rc < 0)
        return rc;
    /* The token comes back in a query string that the HTTP server and
     * adapter_form_get() each decode once: only characters that survive
     * that unchanged are allowed. */
    for (const char *p = w->verify_token; *p; p++) {
        if (!is_alnum(*p) && *p != '-' && *p != '.' && *p != '_' && *p != '~') {
            snprintf(err, errlen,
                     "whatsapp.verify-token-file: use only letters, digits "
                     "and - . _ ~");
            return RELAY_ECONFIG;
        }
    }
    for (const char *p = w->access_token; *p; p++) {
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
            snprintf(err, errlen, "whatsapp.access-token-file: not a token");
            return RELAY_ECONFIG;
        }
    }
    return RELAY_OK;
}

static void whatsapp_cleanup(void *priv)
{
    struct whatsapp *w = priv;

    sodium_memzero(w->access_token, sizeof(w->access_token));
    sodium_memzero(w->app_secret, sizeof(w->app_secret));
    sodium_memzero(w->verify_token, sizeof(w->verify_token));
}

/* ---- Sending ----------------------------------------------------------- */

/* +, then 8 to 15 digits, the first not 0. */
static int phone_valid(const char *to)
{
    size_t n = 0;

    if (to[0] != '+' || to[1] < '1' || to[1] > '9')
        return 0;
    while (is_digit(to[1 + n]))
        n++;
    return n >= 8 && n <= 15 && to[1 + n] == '\0';
}

/* Letters and digits of any script count as word characters. */
static int word_byte(unsigned char c)
{
    return is_alnum((char)c) || c >= 0x80;
}

/* Length of the URL token starting at s (0 when none): up to whitespace. */
static size_t url_token(const char *s, size_t n)
{
    static const char *const starts[] = {"https://", "http://", "www."};
    size_t i = 0;

    for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
        size_t sl = strlen(starts[k]);

        if (n >= sl && strncasecmp(s, starts[k], sl) == 0) {
            while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' &&
                   s[i] != '\r')
                i++;
            return i;
        }
    }
    return 0;
}

/*
 * Appends s[0..n) with WhatsApp's markup characters replaced by
 * look-alikes (see FORMATTING at the top).
 */
static void neutralise(struct adapter_buf *b, const char *s, size_t n)
{
    size_t i = 0, start = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        size_t u;

        if ((i == 0 || !word_byte((unsigned char)s[i - 1])) &&
            (u = url_token(s + i, n - i)) > 0) {
            i += u;
            continue;
        }
        if (c == '*')
            rep = "\xE2\x88\x97"; /* U+2217 ASTERISK OPERATOR */
        else if (c == '_')
            rep = "\xCB\x8D"; /* U+02CD MODIFIER LETTER LOW MACRON */
        else if (c == '~')
            rep = "\xE2\x88\xBC"; /* U+223C TILDE OPERATOR */
        else if (c == '`')
            rep = "\xCB\x8B"; /* U+02CB MODIFIER LETTER GRAVE ACCENT */
        if (rep && i > 0 && i + 1 < n && word_byte((unsigned char)s[i - 1]) &&
            word_byte((unsigned char)s[i + 1]))
            rep = NULL; /* inside a word: never markup */
        if (rep) {
            adapter_buf_add(b, s + start, i - start);
            adapter_buf_adds(b, rep);
            start = i + 1;
        }
        i++;
    }
    adapter_buf_add(b, s + start, n - start);
}

/* Bytes of the whitespace character at s (0 if none); *plain is set when
 * it is an ordinary space. */
static size_t space_at(const char *s, size_t n, int *plain)
{
    unsigned char c = (unsigned char)s[0];

    *plain = c == ' ';
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
        c == '\f')
        return 1;
    if (n >= 2 && c == 0xC2 && (unsigned char)s[1] == 0x85)
        return 2; /* U+0085 NEXT LINE */
    if (n >= 3 && c == 0xE2 && (unsigned char)s[1] == 0x80 &&
        ((unsigned char)s[2] == 0xA8 || (unsigned char)s[2] == 0xA9))
        return 3; /* U+2028 LINE / U+2029 PARAGRAPH SEPARATOR */
    return 0;
}

/*
 * Makes s[0..n) a valid template parameter in place: every whitespace run
 * holding a line break or tab, or longer than four spaces, becomes one
 * space. Never lengthens; returns the new length (the tail is wiped).
 */
static size_t template_clean(char *s, size_t n)
{
    size_t i = 0, o = 0;

    while (i < n) {
        size_t run = 0, chars = 0;
        int hard = 0, plain;
        size_t k;

        while (i + run < n &&
               (k = space_at(s + i + run, n - i - run, &plain))) {
            run += k;
            chars++;
            hard |= !plain;
        }
        if (run == 0) {
            s[o++] = s[i++];
            continue;
        }
        if (hard || chars > 4) {
            s[o++] = ' ';
        } else {
            memmove(s + o, s + i, run);
            o += run;
        }
        i += run;
    }
    sodium_memzero(s + o, n - o);
    return o;
}

/* Appends s[0..n) as a JSON string literal. */
static void json_str(struct adapter_buf *b, const char *s, size_t n)
{
    adapter_buf_add(b, "\"", 1);
    adapter_buf_add_json(b, s, n);
    adapter_buf_add(b, "\"", 1);
}

static void json_strs(struct adapter_buf *b, const char *s)
{
    json_str(b, s, strlen(s));
}

/* The JSON body for 'msg' whose formatted text is text[0..len). */
static void build_body(const struct whatsapp *w, const struct adapter_msg *msg,
                       const char *header, const char *text, size_t len,
                       struct adapter_buf *body)
{
    adapter_buf_adds(body, "{\"messaging_product\":\"whatsapp\","
                           "\"recipient_type\":\"individual\",\"to\":");
    json_strs(body, msg->to + 1);
    if (msg->session_open) {
        struct adapter_buf t = {0};

        adapter_buf_adds(&t, "*");
        adapter_buf_adds(&t, header);
        adapter_buf_adds(&t, "*\n");
        adapter_buf_add(&t, text, len);
        adapter_buf_adds(body, ",\"type\":\"text\",\"text\":{\"preview_url\":"
                               "false,\"body\":");
        if (t.oom)
            body->oom = 1;
        else
            json_str(body, t.p, t.len);
        adapter_buf_free(&t);
        adapter_buf_adds(body, "}}");
        return;
    }
    adapter_buf_adds(body, ",\"type\":\"template\",\"template\":{\"name\":");
    json_strs(body, w->template_name);
    adapter_buf_adds(body, ",\"language\":{\"code\":");
    json_strs(body, w->template_language);
    adapter_buf_adds(body, "},\"components\":[{\"type\":\"body\","
                           "\"parameters\":[{\"type\":\"text\",\"text\":");
    json_strs(body, header);
    adapter_buf_adds(body, "},{\"type\":\"text\",\"text\":");
    json_str(body, text, len);
    adapter_buf_adds(body, "}]}]}}");
}

static int whatsapp_build_request(void *priv, const struct adapter_msg *msg,
                                  struct adapter_request *req)
{
    struct whatsapp *w = priv;
    struct adapter_buf text = {0}, body = {0}, url = {0}, auth = {0};
    char header[64];

    if (!msg->to || !msg->text || msg->text_len == 0 || !phone_valid(msg->to) ||
        memchr(msg->text, '\0', msg->text_len) ||
        !utf8_valid(msg->text, msg->text_len) ||
        adapter_utf8_count(msg->text, msg->text_len) > WA_MAX_TEXT_CHARS)
        return RELAY_EINVAL;
    snprintf(header, sizeof(header), "%s%s",
             msg->urgent ? "\xF0\x9F\x9A\xA8 " : "",
             adapter_kind_header(msg->kind));

    neutralise(&text, msg->text, msg->text_len);
    if (text.oom) {
        adapter_buf_free(&text);
        return RELAY_ENOMEM;
    }
    if (!msg->session_open)
        text.len = template_clean(text.p, text.len);
    build_body(w, msg, header, text.p, text.len, &body);
    adapter_buf_free(&text);

    adapter_buf_adds(&url, w->api_url);
    adapter_buf_adds(&url, "/");
    adapter_buf_adds(&url, w->api_version);
    adapter_buf_adds(&url, "/");
    adapter_buf_adds(&url, w->phone_number_id);
    adapter_buf_adds(&url, "/messages");
    adapter_buf_adds(&auth, "Authorization: Bearer ");
    adapter_buf_adds(&auth, w->access_token);

    req->method = "POST";
    req->url = adapter_buf_take(&url, NULL);
    req->body = adapter_buf_take(&body, &req->body_len);
    req->headers[0] = adapter_buf_take(&auth, NULL);
    req->headers[1] = strdup("Content-Type: application/json");
    req->headers[2] = strdup("Accept: application/json");
    req->nheaders = 3;
    if (!req->url || !req->body || !req->headers[0] || !req->headers[1] ||
        !req->headers[2]) {
        adapter_request_cleanup(req);
        return RELAY_ENOMEM;
    }
    return RELAY_OK;
}

/* ---- Responses --------------------------------------------------------- */

static const cJSON *member(const cJSON *obj, const char *name)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name)
                               : NULL;
}

/* The first element of array member 'name' of obj, or NULL. */
static const cJSON *first_of(const cJSON *obj, const char *name)
{
    const cJSON *a = member(obj, name);

    return cJSON_IsArray(a) ? a->child : NULL;
}

/* A JSON error code as a non-negative integer, or -1. */
static long long code_of(const cJSON *v)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e12 &&
        v->valuedouble == (double)(long long)v->valuedouble)
        return (long long)v->valuedouble;
    return -1;
}

/* True for a provider id we can carry: 1..128 printable ASCII, no space. */
static int id_ok(const cJSON *v)
{
    size_t n = 0;

    if (!cJSON_IsString(v) || !v->valuestring)
        return 0;
    for (; v->valuestring[n]; n++) {
        unsigned char c = (unsigned char)v->valuestring[n];

        if (n >= ADAPTER_PROVIDER_ID_MAX || c <= ' ' || c >= 0x7f)
            return 0;
    }
    return n > 0;
}

/* Codes that mean "not now" rather than "never" (see VERDICTS). */
static int code_retryable(long long code)
{
    static const long long codes[] = {2,      4,      80007, 130429,
                                      131000, 131016, 131056};

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (code == codes[i])
            return 1;
    }
    return 0;
}

static int whatsapp_parse_response(void *priv, long status, const char *body,
                                   size_t len, const char *retry_after,
                                   struct adapter_result *out)
{
    const char *why = NULL;
    cJSON *root = body && len > 0
                      ? json_strict_parse(body, len, WA_JSON_DEPTH, &why)
                      : NULL;
    long long code;

    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    if (status >= 200 && status < 300) {
        /* Accepted: even without a readable id it was sent, and sending
         * again would duplicate it. */
        const cJSON *id = member(first_of(root, "messages"), "id");

        out->verdict = ADAPTER_SENT;
        if (id_ok(id))
            snprintf(out->provider_id, sizeof(out->provider_id), "%s",
                     id->valuestring);
        adapter_json_wipe_delete(root);
        return RELAY_OK;
    }
    code = code_of(member(member(root, "error"), "code"));
    adapter_json_wipe_delete(root);
    if (code >= 0)
        snprintf(out->error, sizeof(out->error), "wa_%lld", code);
    else
        snprintf(out->error, sizeof(out->error), "http_%ld", status);
    if (code == 131047) {
        /* free text outside the 24-hour window: the core forgets the
         * window and we send the template instead */
        out->verdict = ADAPTER_RETRY;
        out->retry_after_s = 0;
        snprintf(out->error, sizeof(out->error), "%s",
                 ADAPTER_ERROR_SESSION_CLOSED);
        return RELAY_OK;
    }
    if (code_retryable(code) || status == 408 || status == 429 ||
        status >= 500 || status < 200) {
        out->verdict = ADAPTER_RETRY;
        out->retry_after_s = adapter_retry_after(retry_after, time(NULL));
        return RELAY_OK;
    }
    out->verdict = ADAPTER_FAILED;
    return RELAY_OK;
}

/* ---- Webhooks ---------------------------------------------------------- */

/* The GET subscription check: echo hub.challenge when the token fits. */
static int handshake(const struct whatsapp *w,
                     const struct adapter_webhook_req *req,
                     struct adapter_event *out)
{
    const char *q = adapter_query(req->path);
    char token[ADAPTER_SECRET_MAX + 1], mode[WA_MODE_MAX + 1];
    char challenge[WA_CHALLENGE_MAX + 1];
    size_t n = 0;
    int ok;

    if (adapter_form_get(q, strlen(q), "hub.verify_token", token, sizeof(token),
                         NULL) < 0)
        return RELAY_EAUTH;
    ok = adapter_str_equal(token, w->verify_token);
    sodium_memzero(token, sizeof(token));
    if (!ok)
        return RELAY_EAUTH;
    if (adapter_form_get(q, strlen(q), "hub.mode", mode, sizeof(mode), NULL) <
            0 ||
        strcmp(mode, "subscribe") != 0 ||
        adapter_form_get(q, strlen(q), "hub.challenge", challenge,
                         sizeof(challenge), NULL) < 0)
        return RELAY_EINVAL;
    while (is_alnum(challenge[n]))
        n++;
    if (n == 0 || challenge[n] != '\0')
        return RELAY_EINVAL; /* we echo it: nothing but letters, digits */
    memcpy(out->reply_buf, challenge, n + 1);
    out->reply_body = out->reply_buf;
    return RELAY_OK;
}

/* X-Hub-Signature-256 over the raw body, in constant time. */
static int verify_signature(const struct whatsapp *w,
                            const struct adapter_webhook_req *req)
{
    char sig[WA_SIG_MAX + 1];
    unsigned char got[crypto_auth_hmacsha256_BYTES];
    unsigned char want[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    size_t binlen = 0;
    const char *end = NULL;
    int rc;

    if (adapter_header_get(req->headers, req->nheaders, "X-Hub-Signature-256",
                           sig, sizeof(sig)) < 0 ||
        strncmp(sig, "sha256=", 7) != 0 ||
        strlen(sig + 7) != 2 * crypto_auth_hmacsha256_BYTES ||
        sodium_hex2bin(got, sizeof(got), sig + 7, strlen(sig + 7), NULL,
                       &binlen, &end) != 0 ||
        binlen != sizeof(got) || *end != '\0')
        return RELAY_EAUTH;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)w->app_secret,
                                strlen(w->app_secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)req->body,
                                  req->body ? req->body_len : 0);
    crypto_auth_hmacsha256_final(&st, want);
    rc = sodium_memcmp(got, want, sizeof(want)) == 0 ? RELAY_OK : RELAY_EAUTH;
    sodium_memzero(want, sizeof(want));
    sodium_memzero(&st, sizeof(st));
    return rc;
}

static enum adapter_state status_state(const char *s)
{
    if (strcmp(s, "sent") == 0)
        return ADAPTER_STATE_SENT;
    if (strcmp(s, "delivered") == 0)
        return ADAPTER_STATE_DELIVERED;
    if (strcmp(s, "read") == 0)
        return ADAPTER_STATE_READ;
    if (strcmp(s, "failed") == 0)
        return ADAPTER_STATE_FAILED;
    return ADAPTER_STATE_NONE;
}

static void fill_status(const cJSON *st, struct adapter_event *out)
{
    const cJSON *id = member(st, "id"), *s = member(st, "status");
    enum adapter_state state;
    long long code;

    if (!id_ok(id) || !cJSON_IsString(s) || !s->valuestring)
        return; /* nothing we could tie to a delivery */
    state = status_state(s->valuestring);
    if (state == ADAPTER_STATE_NONE)
        return;
    out->type = ADAPTER_EVENT_STATUS;
    out->state = state;
    snprintf(out->provider_id, sizeof(out->provider_id), "%s", id->valuestring);
    code = code_of(member(first_of(st, "errors"), "code"));
    if (state == ADAPTER_STATE_FAILED && code >= 0)
        snprintf(out->error, sizeof(out->error), "wa_%lld", code);
}

static int fill_message(const cJSON *m, struct adapter_event *out)
{
    const cJSON *id = member(m, "id"), *type = member(m, "type");
    const cJSON *from = member(m, "from"), *ctx = member(m, "context");
    const cJSON *body = member(member(m, "text"), "body");
    const cJSON *group = member(m, "group_id");
    size_t n = 0, len;

    if (!id_ok(id) || !cJSON_IsString(type) || !type->valuestring ||
        strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(body) ||
        !body->valuestring || !cJSON_IsString(from) || !from->valuestring)
        return RELAY_OK; /* media, reactions, ...: nothing to take */
    while (is_digit(from->valuestring[n]))
        n++;
    if (n < 8 || n > 15 || from->valuestring[0] == '0' ||
        from->valuestring[n] != '\0')
        return RELAY_OK; /* not a phone number: nothing to tie */
    len = strlen(body->valuestring);
    out->text = malloc(len + 1);
    if (!out->text)
        return RELAY_ENOMEM;
    memcpy(out->text, body->valuestring, len + 1);
    out->text_len = len;
    out->from[0] = '+';
    memcpy(out->from + 1, from->valuestring, n + 1);
    snprintf(out->provider_id, sizeof(out->provider_id), "%s", id->valuestring);
    if (id_ok(member(ctx, "id")))
        snprintf(out->reply_to, sizeof(out->reply_to), "%s",
                 member(ctx, "id")->valuestring);
    /* Groups API messages name their group; our sends are 1:1 */
    if (cJSON_IsString(group) && group->valuestring &&
        strlen(group->valuestring) <= ADAPTER_ADDR_MAX)
        memcpy(out->chat, group->valuestring, strlen(group->valuestring) + 1);
    out->type = ADAPTER_EVENT_MO;
    return RELAY_OK;
}

/*
 * Counts the statuses and messages of every change of field "messages"
 * for our phone number, in order, and fills the event from the index-th
 * (Meta may batch several). RELAY_ENOTFOUND past the last one (index 0
 * of a notification with none is NONE).
 */
static int parse_notification(const struct whatsapp *w, const cJSON *root,
                              int index, struct adapter_event *out)
{
    int seen = 0;

    const cJSON *obj = member(root, "object"), *e, *c;

    if (!cJSON_IsString(obj) || !obj->valuestring ||
        strcmp(obj->valuestring, "whatsapp_business_account") != 0)
        return index == 0 ? RELAY_OK : RELAY_ENOTFOUND;
    for (e = first_of(root, "entry"); e; e = e->next) {
        for (c = first_of(e, "changes"); c; c = c->next) {
            const cJSON *field = member(c, "field"), *v = member(c, "value");
            const cJSON *pid = member(member(v, "metadata"), "phone_number_id");
            const cJSON *item;

            if (!cJSON_IsString(field) || !field->valuestring ||
                strcmp(field->valuestring, "messages") != 0)
                continue;
            if (cJSON_IsString(pid) && pid->valuestring &&
                strcmp(pid->valuestring, w->phone_number_id) != 0)
                continue; /* another number of the same app */
            for (item = first_of(v, "statuses"); item; item = item->next)
                if (seen++ == index) {
                    fill_status(item, out);
                    return RELAY_OK;
                }
            for (item = first_of(v, "messages"); item; item = item->next)
                if (seen++ == index)
                    return fill_message(item, out);
        }
    }
    return index == 0 ? RELAY_OK : RELAY_ENOTFOUND;
}

static int whatsapp_parse_webhook_at(void *priv,
                                     const struct adapter_webhook_req *req,
                                     int index, struct adapter_event *out)
{
    struct whatsapp *w = priv;
    const char *why = NULL;
    cJSON *root;
    int rc;

    memset(out, 0, sizeof(*out));
    out->http_status = 200;
    out->reply_type = "text/plain";
    out->reply_body = "";
    if (!adapter_path_is(req->path, "whatsapp", "webhook"))
        rc = RELAY_ENOTFOUND;
    else if (strcmp(req->method, "GET") == 0)
        rc = handshake(w, req, out);
    else if (strcmp(req->method, "POST") != 0)
        rc = RELAY_EINVAL;
    else
        rc = verify_signature(w, req);
    if (rc == RELAY_OK && index > 0 && strcmp(req->method, "GET") == 0)
        rc = RELAY_ENOTFOUND; /* a handshake is one event */
    if (rc < 0 || strcmp(req->method, "GET") == 0)
        goto out;
    root = req->body_len > 0 ? json_strict_parse(req->body, req->body_len,
                                                 WA_JSON_DEPTH, &why)
                             : NULL;
    if (!root) {
        rc = why && strcmp(why, "out of memory") == 0 ? RELAY_ENOMEM
                                                      : RELAY_EINVAL;
        goto out;
    }
    rc = parse_notification(w, root, index, out);
    adapter_json_wipe_delete(root);
out:
    if (rc < 0) {
        adapter_event_cleanup(out);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

static int whatsapp_parse_webhook(void *priv,
                                  const struct adapter_webhook_req *req,
                                  struct adapter_event *out)
{
    return whatsapp_parse_webhook_at(priv, req, 0, out);
}

const struct adapter_ops adapter_whatsapp = {
    .name = "whatsapp",
    .caps =
        ADAPTER_CAP_CHAT | ADAPTER_CAP_DLR | ADAPTER_CAP_MO | ADAPTER_CAP_READ,
    .address_kind = "phone",
    .max_text_chars = WA_MAX_TEXT_CHARS,
    .priv_size = sizeof(struct whatsapp),
    .options = whatsapp_options,
    .init = whatsapp_init,
    .cleanup = whatsapp_cleanup,
    .build_request = whatsapp_build_request,
    .parse_response = whatsapp_parse_response,
    .parse_webhook = whatsapp_parse_webhook,
    .parse_webhook_at = whatsapp_parse_webhook_at,
};
