/*
 * telegram.c - chat messages through the Telegram Bot API.
 *
 * SEND: POST {api-url}/bot{token}/sendMessage with a JSON body
 *   {"chat_id":<id>,"text":"<b>Header</b>\n...","parse_mode":"HTML",
 *    "link_preview_options":{"is_disabled":true}}
 * 'to' is a chat id: a user's private chat (the user id, > 0) or a group,
 * supergroup or channel (< 0, or "@channelusername"). msg.to_group must
 * agree with it (see add_chat_id). The id travels as a JSON number
 * copied digit for digit from 'to', never through a double. An empty
 * text, invalid UTF-8 or a NUL byte is RELAY_EINVAL.
 * The text gets a bold header for msg.kind ("Politie-oproep", ...; "🚨 "
 * in front when urgent) and is escaped for parse-mode (HTML: & < >;
 * MarkdownV2: every reserved character; none: as is).
 *
 * LENGTH. Telegram allows 1-4096 characters "after entities parsing",
 * i.e. header + "\n" + text without the markup. Whether it counts code
 * points or UTF-16 code units is disputed (third-party measurements say
 * code points, several client libraries say UTF-16), so build_request
 * counts UTF-16 code units, the stricter reading, and refuses (never
 * truncates) anything longer. max_text_chars is what always fits: the
 * longest header (25 units) plus a text whose code points are all
 * outside the BMP (2 units each): (4096 - 25) / 2 = 2035 code points.
 *
 * REPLIES. 200 {"ok":true,"result":{"message_id":N,"chat":{"id":C}}}:
 * sent; provider_id "C:N" (message ids are only unique per chat, and an
 * incoming reply names our message the same way). 429 and 5xx: retry
 * after parameters.retry_after or Retry-After, the longer of the two.
 * 400 with parameters.migrate_to_chat_id (a group became a supergroup):
 * retry at once with ADAPTER_ERROR_MOVED and the new chat id in
 * new_address (the core moves the group link there). Other 400 (chat not
 * found, can't parse entities, message is too long) and 403 (bot
 * blocked by the user, kicked from the group, user never pressed
 * /start): failed for good, "tg_400" / "tg_403". 401 (token revoked or
 * wrong) and 404 (wrong api-url or token path): retry, like twilio.c and
 * kannel.c do for credentials. WHY: it is a fault of our configuration,
 * not of the recipient; an alert must still go out once the operator
 * fixes the token, and max-attempts bounds the retries.
 * Telegram has no idempotency key for sendMessage: a request that timed
 * out may have been delivered, and a retry may deliver it twice (the
 * outbox's documented trade-off for urgent alerts).
 *
 * WEBHOOK: POST {hook}/update, a JSON Update, with the header
 * X-Telegram-Bot-Api-Secret-Token = the secret_token given to setWebhook
 * (webhook-secret-file), compared in constant time before the body is
 * even parsed: missing or wrong is RELAY_EAUTH. A "message" with text
 * from a person is ADAPTER_EVENT_MO: provider_id "{chat.id}:{message_id}"
 * (unique per message, for dedup), from = from.id, chat = chat.id for
 * groups and supergroups ("" for a private chat, whose id is the user's),
 * reply_to = "{chat.id}:{reply_to_message.message_id}" (the provider_id
 * format of what we sent, so the core can map it). Commands ("/start
 * ...") are MO like any text. Everything else that is authentic (edited
 * messages, channel posts, photos, member updates, messages from bots or
 * anonymous admins, shapes we cannot use) is ADAPTER_EVENT_NONE; only a
 * body that is no JSON Update at all is RELAY_EINVAL. The answer is 200
 * with an empty body (Telegram would run a method given in the answer;
 * we never give one).
 *
 * NUMBERS. cJSON keeps numbers as doubles. Telegram promises ids of at
 * most 52 significant bits, which a double holds exactly; anything not an
 * integer within +-(2^53 - 1) is refused rather than rounded into
 * someone else's id.
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

#define TG_TEXT_LIMIT 4096 /* Telegram: characters after entity parsing */
/* "🚨 Update politie-oproep\n": 2 + 1 + 21 + 1 UTF-16 units, the longest
 * header line (test_telegram.c checks every kind against it). */
#define TG_HEADER_UNITS_MAX 25
#define TG_MAX_TEXT_CHARS ((TG_TEXT_LIMIT - TG_HEADER_UNITS_MAX) / 2)
#define TG_ID_MAX 9007199254740991.0         /* 2^53 - 1: exact in a double */
#define TG_ID_DIGITS 16                      /* digits of TG_ID_MAX */
#define TG_UPDATE_MAX (1024 * 1024)          /* bytes of one webhook body */
#define TG_IN_TEXT_MAX (4 * 4096)            /* bytes of an incoming text */
#define TG_JSON_DEPTH 32                     /* Update nesting (keyboards...) */
#define TG_RETRY_AFTER_MAX 86400             /* seconds; larger is clamped */
#define TG_URGENT_PREFIX "\xF0\x9F\x9A\xA8 " /* U+1F6A8 police light */

enum tg_mode {
    TG_MODE_HTML = 0,
    TG_MODE_MARKDOWN_V2,
    TG_MODE_NONE,
};

struct telegram {
    char api_url[CONFIG_STR_MAX];             /* no trailing '/' */
    char bot_token_file[CONFIG_STR_MAX];      /* secret file */
    char webhook_secret_file[CONFIG_STR_MAX]; /* secret file */
    char parse_mode[CONFIG_STR_MAX];          /* HTML|MarkdownV2|none */
    /* set by init */
    char token[ADAPTER_SECRET_MAX + 1];  /* "123456:AbC-..."; in URLs */
    char secret[ADAPTER_SECRET_MAX + 1]; /* the webhook's header value */
    enum tg_mode mode;                   /* parse_mode, parsed */
};

/* ---- Options ------------------------------------------------------------ */

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

static int mode_parse(const char *value, enum tg_mode *mode)
{
    if (strcasecmp(value, "HTML") == 0)
        *mode = TG_MODE_HTML;
    else if (strcasecmp(value, "MarkdownV2") == 0)
        *mode = TG_MODE_MARKDOWN_V2;
    else if (strcasecmp(value, "none") == 0)
        *mode = TG_MODE_NONE;
    else
        return RELAY_EINVAL;
    return 0;
}

static int check_mode(const char *value, char *why, size_t whylen)
{
    enum tg_mode mode;

    if (mode_parse(value, &mode) < 0) {
        snprintf(why, whylen, "not HTML, MarkdownV2 or none");
        return RELAY_EINVAL;
    }
    return 0;
}

#define TOFF(f) offsetof(struct telegram, f)

static const struct config_option telegram_options[] = {
    {"api-url", CONFIG_T_STRING, TOFF(api_url), 0, 0,
     "https://api.telegram.org", 0, check_url, 0},
    {"bot-token-file", CONFIG_T_STRING, TOFF(bot_token_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"webhook-secret-file", CONFIG_T_STRING, TOFF(webhook_secret_file), 0, 0,
     NULL, CONFIG_F_SECRET_PATH, NULL, 0},
    {"parse-mode", CONFIG_T_STRING, TOFF(parse_mode), 0, 0, "HTML", 0,
     check_mode, 0},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

static int is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* A bot token as BotFather issues it: "{bot id}:{[A-Za-z0-9_-]+}". WHY
 * checked: it is pasted into the request path, where '/', '?', '%' or a
 * blank would send the request somewhere else. */
static int token_valid(const char *s)
{
    size_t i = 0, n;

    while (s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0 || i > 20 || s[i] != ':')
        return 0;
    n = strlen(s + i + 1);
    if (n == 0)
        return 0;
    for (size_t k = i + 1; s[k]; k++) {
        if (!is_token_char(s[k]))
            return 0;
    }
    return 1;
}

/* setWebhook's secret_token: "1-256 characters. Only characters A-Z,
 * a-z, 0-9, _ and - are allowed." */
static int secret_valid(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_token_char(s[i]))
            return 0;
    }
    return 1;
}

static int telegram_init(void *priv, char *err, size_t errlen)
{
    struct telegram *t = priv;
    char why[256];
    int rc;

    if (!t->bot_token_file[0]) {
        snprintf(err, errlen, "telegram.bot-token-file is required");
        return RELAY_ECONFIG;
    }
    if (!t->webhook_secret_file[0]) {
        snprintf(err, errlen, "telegram.webhook-secret-file is required");
        return RELAY_ECONFIG;
    }
    rc = adapter_read_secret(t->bot_token_file, t->token, sizeof(t->token), why,
                             sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "telegram.bot-token-file: %s", why);
        return rc;
    }
    if (!token_valid(t->token)) {
        snprintf(err, errlen,
                 "telegram.bot-token-file: %s does not hold a bot token "
                 "(digits:[A-Za-z0-9_-])",
                 t->bot_token_file);
        goto out_wipe;
    }
    rc = adapter_read_secret(t->webhook_secret_file, t->secret,
                             sizeof(t->secret), why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "telegram.webhook-secret-file: %s", why);
        sodium_memzero(t->token, sizeof(t->token));
        return rc;
    }
    if (!secret_valid(t->secret)) {
        snprintf(err, errlen,
                 "telegram.webhook-secret-file: %s must hold 1-256 of "
                 "A-Z a-z 0-9 _ - (Telegram's secret_token)",
                 t->webhook_secret_file);
        goto out_wipe;
    }
    if (mode_parse(t->parse_mode, &t->mode) < 0) {
        snprintf(err, errlen,
                 "telegram.parse-mode: not HTML, MarkdownV2 "
                 "or none");
        goto out_wipe;
    }
    return RELAY_OK;
out_wipe:
    sodium_memzero(t->token, sizeof(t->token));
    sodium_memzero(t->secret, sizeof(t->secret));
    return RELAY_ECONFIG;
}

static void telegram_cleanup(void *priv)
{
    struct telegram *t = priv;

    sodium_memzero(t->token, sizeof(t->token));
    sodium_memzero(t->secret, sizeof(t->secret));
}

/* ---- Sending ------------------------------------------------------------ */

/* UTF-16 code units of valid UTF-8: one per sequence, two for the
 * four-byte ones (outside the BMP). */
static size_t utf16_units(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c & 0xC0) != 0x80)
            n += c >= 0xF0 ? 2 : 1;
    }
    return n;
}

/*
 * Validates 'to' for a private (to_group 0) or group chat and writes it
 * into body as the chat_id value: the digits as a JSON number, or
 * "@name" as a string. WHY the group/private check: a user's own status
 * message must never land in a group because an address was mixed up,
 * and a private chat id is always the (positive) user id.
 */
static int add_chat_id(struct adapter_buf *body, const char *to, int to_group)
{
    size_t n = strlen(to), i = 0;
    double v = 0;

    if (to[0] == '@') {
        /* a public channel or supergroup: 5-32 of [A-Za-z0-9_], a
         * letter first */
        if (!to_group || n < 6 || n > 33 ||
            !((to[1] >= 'A' && to[1] <= 'Z') || (to[1] >= 'a' && to[1] <= 'z')))
            return RELAY_EINVAL;
        for (i = 1; i < n; i++) {
            if (!is_token_char(to[i]) || to[i] == '-')
                return RELAY_EINVAL;
        }
        adapter_buf_adds(body, "\"");
        adapter_buf_adds(body, to);
        adapter_buf_adds(body, "\"");
        return RELAY_OK;
    }
    if (to[0] == '-')
        i = 1;
    if ((i == 1) != (to_group != 0) || n == i || n - i > TG_ID_DIGITS ||
        to[i] == '0')
        return RELAY_EINVAL;
    for (size_t k = i; k < n; k++) {
        if (to[k] < '0' || to[k] > '9')
            return RELAY_EINVAL;
        v = v * 10 + (to[k] - '0');
    }
    /* at most 16 digits: v is exact below 2^53 and this compare is too */
    if (v > TG_ID_MAX)
        return RELAY_EINVAL;
    adapter_buf_adds(body, to);
    return RELAY_OK;
}

/*
 * Appends s[0..n) as the inside of a JSON string, first escaped for the
 * parse mode (HTML entities, MarkdownV2 backslashes), then for JSON.
 */
static void add_text(struct adapter_buf *b, const char *s, size_t n,
                     enum tg_mode mode)
{
    static const char md_reserved[] = "_*[]()~`>#+-=|{}.!\\";
    static const char hexd[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (mode == TG_MODE_HTML && c == '&') {
            adapter_buf_adds(b, "&amp;");
        } else if (mode == TG_MODE_HTML && c == '<') {
            adapter_buf_adds(b, "&lt;");
        } else if (mode == TG_MODE_HTML && c == '>') {
            adapter_buf_adds(b, "&gt;");
        } else if (c == '"') {
            adapter_buf_adds(b, "\\\"");
        } else if (c == '\\') {
            adapter_buf_adds(b,
                             mode == TG_MODE_MARKDOWN_V2 ? "\\\\\\\\" : "\\\\");
        } else if (c == '\n') {
            adapter_buf_adds(b, "\\n");
        } else if (c < 0x20) {
            char u[7] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15], 0};

            adapter_buf_adds(b, u);
        } else {
            /* a MarkdownV2 reserved character gets a '\', itself
             * written as "\\" inside the JSON string */
            if (mode == TG_MODE_MARKDOWN_V2 && c != 0 && strchr(md_reserved, c))
                adapter_buf_adds(b, "\\\\");
            adapter_buf_add(b, s + i, 1);
        }
    }
}

/* Appends the JSON string value of "text": the bold header line, then
 * the escaped text. */
static void add_message(struct adapter_buf *b, const struct adapter_msg *msg,
                        enum tg_mode mode)
{
    const char *title = adapter_kind_header(msg->kind);

    adapter_buf_adds(b, "\"");
    if (mode == TG_MODE_HTML)
        adapter_buf_adds(b, "<b>");
    else if (mode == TG_MODE_MARKDOWN_V2)
        adapter_buf_adds(b, "*");
    if (msg->urgent)
        adapter_buf_adds(b, TG_URGENT_PREFIX);
    add_text(b, title, strlen(title), mode);
    if (mode == TG_MODE_HTML)
        adapter_buf_adds(b, "</b>");
    else if (mode == TG_MODE_MARKDOWN_V2)
        adapter_buf_adds(b, "*");
    adapter_buf_adds(b, "\\n");
    add_text(b, msg->text, msg->text_len, mode);
    adapter_buf_adds(b, "\"");
}

static int telegram_build_request(void *priv, const struct adapter_msg *msg,
                                  struct adapter_request *req)
{
    static const char *const mode_names[] = {"HTML", "MarkdownV2", NULL};
    struct telegram *t = priv;
    struct adapter_buf body = {0}, url = {0};
    const char *title;
    size_t units;

    if (!msg->to || !msg->text || msg->text_len == 0 ||
        memchr(msg->text, '\0', msg->text_len) ||
        !utf8_valid(msg->text, msg->text_len))
        return RELAY_EINVAL;
    title = adapter_kind_header(msg->kind);
    units = (msg->urgent ? 3 : 0) + utf16_units(title, strlen(title)) + 1 +
            utf16_units(msg->text, msg->text_len);
    if (units > TG_TEXT_LIMIT)
        return RELAY_EINVAL;

    adapter_buf_adds(&body, "{\"chat_id\":");
    if (add_chat_id(&body, msg->to, msg->to_group) < 0) {
        adapter_buf_free(&body);
        return RELAY_EINVAL;
    }
    adapter_buf_adds(&body, ",\"text\":");
    add_message(&body, msg, t->mode);
    if (mode_names[t->mode]) {
        adapter_buf_adds(&body, ",\"parse_mode\":\"");
        adapter_buf_adds(&body, mode_names[t->mode]);
        adapter_buf_adds(&body, "\"");
    }
    /* no preview cards: an appeal's link should not pull a stranger's
     * page (and its tracker) into every neighbour's chat */
    adapter_buf_adds(&body,
                     ",\"link_preview_options\":{\"is_disabled\":true}}");

    adapter_buf_adds(&url, t->api_url);
    adapter_buf_adds(&url, "/bot");
    adapter_buf_adds(&url, t->token);
    adapter_buf_adds(&url, "/sendMessage");

    req->method = "POST";
    req->url = adapter_buf_take(&url, NULL);
    req->body = adapter_buf_take(&body, &req->body_len);
    req->headers[0] = strdup("Content-Type: application/json");
    req->headers[1] = strdup("Accept: application/json");
    req->nheaders = 2;
    if (!req->url || !req->body || !req->headers[0] || !req->headers[1]) {
        adapter_request_cleanup(req);
        return RELAY_ENOMEM;
    }
    return RELAY_OK;
}

/* ---- JSON helpers ------------------------------------------------------- */

static const cJSON *member(const cJSON *obj, const char *name)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name)
                               : NULL;
}

/* An integer member of 'obj' that a double holds exactly (see NUMBERS):
 * RELAY_OK and *out, else RELAY_EINVAL (absent, not a number, fractional,
 * beyond 2^53 - 1) with *out untouched. */
static int json_id(const cJSON *obj, const char *name, long long *out)
{
    const cJSON *v = member(obj, name);
    double d;

    if (!cJSON_IsNumber(v))
        return RELAY_EINVAL;
    d = v->valuedouble;
    if (!(d >= -TG_ID_MAX && d <= TG_ID_MAX)) /* NaN fails too */
        return RELAY_EINVAL;
    if ((double)(long long)d != d)
        return RELAY_EINVAL;
    *out = (long long)d;
    return RELAY_OK;
}

/* ---- Responses ---------------------------------------------------------- */

/* parameters.retry_after of an error body, clamped; -1 when absent. */
static long body_retry_after(const cJSON *root)
{
    long long s;

    if (json_id(member(root, "parameters"), "retry_after", &s) < 0 || s < 0)
        return -1;
    return s > TG_RETRY_AFTER_MAX ? TG_RETRY_AFTER_MAX : (long)s;
}

static int telegram_parse_response(void *priv, long status, const char *body,
                                   size_t len, const char *retry_after,
                                   struct adapter_result *out)
{
    const char *why = NULL;
    cJSON *root = NULL;
    long long chat, id;
    long header_s, body_s;

    if (!out)
        return RELAY_EINVAL;
    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    if (body && len > 0 && len <= TG_UPDATE_MAX)
        root = json_strict_parse(body, len, TG_JSON_DEPTH, &why);
    if (status >= 200 && status < 300) {
        const cJSON *res = member(root, "result");

        /* accepted: even without a readable id it was sent, and sending
         * again would post it twice */
        out->verdict = ADAPTER_SENT;
        if (cJSON_IsTrue(member(root, "ok")) &&
            json_id(res, "message_id", &id) == 0 && id > 0 &&
            json_id(member(res, "chat"), "id", &chat) == 0 && chat != 0)
            snprintf(out->provider_id, sizeof(out->provider_id), "%lld:%lld",
                     chat, id);
        goto out_delete;
    }
    if (status == 400 &&
        json_id(member(root, "parameters"), "migrate_to_chat_id", &chat) == 0) {
        if (chat < 0) {
            out->verdict = ADAPTER_RETRY;
            out->retry_after_s = 0;
            snprintf(out->error, sizeof(out->error), "%s", ADAPTER_ERROR_MOVED);
            snprintf(out->new_address, sizeof(out->new_address), "%lld", chat);
        } else {
            out->verdict = ADAPTER_FAILED; /* a supergroup id is negative */
            snprintf(out->error, sizeof(out->error), "tg_migrated");
        }
        goto out_delete;
    }
    snprintf(out->error, sizeof(out->error), "tg_%ld", status);
    if (status == 429 || status >= 500 || status == 401 || status == 404 ||
        status < 200 || (status >= 300 && status < 400)) {
        out->verdict = ADAPTER_RETRY;
        header_s = adapter_retry_after(retry_after, time(NULL));
        if (header_s > TG_RETRY_AFTER_MAX)
            header_s = TG_RETRY_AFTER_MAX;
        body_s = body_retry_after(root);
        /* both given: wait the longer, which satisfies both */
        out->retry_after_s = header_s > body_s ? header_s : body_s;
        goto out_delete;
    }
    out->verdict = ADAPTER_FAILED;
out_delete:
    adapter_json_wipe_delete(root);
    return RELAY_OK;
}

/* ---- Webhook ------------------------------------------------------------ */

/*
 * Fills ev from one Update (see WEBHOOK): RELAY_OK with ev->type MO or
 * NONE; RELAY_EINVAL when it is no Update at all (not an object, no
 * update_id); RELAY_ENOMEM. A message whose fields are missing or of the
 * wrong type is NONE, not EINVAL. WHY: the request is authentic, and
 * Telegram re-sends an update that was not answered with 2xx, so a
 * refusal would only repeat it. ev->text is allocated last: a failure
 * leaves nothing to free.
 */
static int fill_event(const cJSON *root, struct adapter_event *ev)
{
    const cJSON *msg, *chat, *from, *text, *type, *reply;
    long long update_id, msg_id, chat_id, from_id, reply_id, reply_chat;
    char reply_to[ADAPTER_PROVIDER_ID_MAX + 1] = "";
    int group;
    size_t n;

    if (!cJSON_IsObject(root) || json_id(root, "update_id", &update_id) < 0)
        return RELAY_EINVAL;
    ev->type = ADAPTER_EVENT_NONE;
    /* only "message": edited_message, channel_post, my_chat_member,
     * callback_query ... are acknowledged and dropped */
    msg = member(root, "message");
    chat = member(msg, "chat");
    type = member(chat, "type");
    text = member(msg, "text");
    if (json_id(msg, "message_id", &msg_id) < 0 || msg_id <= 0 ||
        json_id(chat, "id", &chat_id) < 0 || chat_id == 0 ||
        !cJSON_IsString(type) || !cJSON_IsString(text))
        return RELAY_OK; /* no text: a photo, sticker, service message */
    if (strcmp(type->valuestring, "private") == 0)
        group = 0;
    else if ((strcmp(type->valuestring, "group") == 0 ||
              strcmp(type->valuestring, "supergroup") == 0) &&
             chat_id < 0)
        group = 1; /* group ids are negative: build_request insists */
    else
        return RELAY_OK; /* a channel: no person to answer */
    /* no 'from': an anonymous group admin or a channel speaking in a
     * group, no person to tie the reply to. A bot: never answer bots
     * (two relays could otherwise talk to each other forever). A private
     * chat's id is its user's id. */
    from = member(msg, "from");
    if (json_id(from, "id", &from_id) < 0 || from_id <= 0 ||
        cJSON_IsTrue(member(from, "is_bot")) || (!group && from_id != chat_id))
        return RELAY_OK;
    n = strlen(text->valuestring);
    if (n == 0 || n > TG_IN_TEXT_MAX)
        return RELAY_OK;
    reply = member(msg, "reply_to_message");
    if (json_id(reply, "message_id", &reply_id) == 0 && reply_id > 0) {
        /* a reply is in the same chat; its own chat object says so */
        if (json_id(member(reply, "chat"), "id", &reply_chat) < 0)
            reply_chat = chat_id;
        snprintf(reply_to, sizeof(reply_to), "%lld:%lld", reply_chat, reply_id);
    }
    ev->text = malloc(n + 1);
    if (!ev->text)
        return RELAY_ENOMEM;
    memcpy(ev->text, text->valuestring, n + 1);
    ev->text_len = n;
    snprintf(ev->provider_id, sizeof(ev->provider_id), "%lld:%lld", chat_id,
             msg_id);
    snprintf(ev->from, sizeof(ev->from), "%lld", from_id);
    if (group)
        snprintf(ev->chat, sizeof(ev->chat), "%lld", chat_id);
    memcpy(ev->reply_to, reply_to, sizeof(reply_to));
    ev->type = ADAPTER_EVENT_MO;
    return RELAY_OK;
}

/* Clears what fill_event may have written, keeping the answer fields. */
static void event_reset(struct adapter_event *ev)
{
    adapter_event_cleanup(ev);
    memset(ev, 0, sizeof(*ev));
    ev->http_status = 200;
    ev->reply_type = "text/plain";
    ev->reply_body = "";
}

static int telegram_parse_webhook(void *priv,
                                  const struct adapter_webhook_req *req,
                                  struct adapter_event *out)
{
    struct telegram *t = priv;
    char got[ADAPTER_SECRET_MAX + 2];
    const char *why = NULL;
    cJSON *root;
    int rc, ok;

    memset(out, 0, sizeof(*out));
    event_reset(out);
    if (!adapter_path_is(req->path, "telegram", "update"))
        return RELAY_ENOTFOUND;
    /* authenticity first: nothing of an unauthenticated body is parsed */
    rc =
        adapter_header_get(req->headers, req->nheaders,
                           "X-Telegram-Bot-Api-Secret-Token", got, sizeof(got));
    ok = rc == RELAY_OK && adapter_str_equal(got, t->secret);
    sodium_memzero(got, sizeof(got));
    if (!ok)
        return RELAY_EAUTH;
    if (strcmp(req->method, "POST") != 0 || !req->body || req->body_len == 0 ||
        req->body_len > TG_UPDATE_MAX)
        return RELAY_EINVAL;
    root = json_strict_parse(req->body, req->body_len, TG_JSON_DEPTH, &why);
    if (!root)
        return why && strcmp(why, "out of memory") == 0 ? RELAY_ENOMEM
                                                        : RELAY_EINVAL;
    rc = fill_event(root, out);
    adapter_json_wipe_delete(root);
    if (rc < 0)
        event_reset(out);
    return rc;
}

const struct adapter_ops adapter_telegram = {
    .name = "telegram",
    .caps = ADAPTER_CAP_CHAT | ADAPTER_CAP_GROUP | ADAPTER_CAP_MO,
    .address_kind = "telegram",
    .max_text_chars = TG_MAX_TEXT_CHARS,
    .priv_size = sizeof(struct telegram),
    .options = telegram_options,
    .init = telegram_init,
    .cleanup = telegram_cleanup,
    .build_request = telegram_build_request,
    .parse_response = telegram_parse_response,
    .parse_webhook = telegram_parse_webhook,
};
