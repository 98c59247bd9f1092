/*
 * matrix.c - rooms on a Matrix homeserver through the client-server API,
 * replies through the application-service API.
 *
 * SEND (spec: client-server API, PUT /rooms/{roomId}/send/{eventType}/
 * {txnId}):
 *   PUT {homeserver-url}/_matrix/client/v3/rooms/{roomId}/send/
 *       m.room.message/{txnId}
 *   Authorization: Bearer {access token}
 *   {"msgtype":"m.text","body":"...","format":"org.matrix.custom.html",
 *    "formatted_body":"<b>header</b><br>..."}
 * txnId is the delivery id. The spec: the txnId "will be used by the
 * server to ensure idempotency of requests" with the same access token,
 * so a retry after a timeout (the request may have been applied) returns
 * the first event_id instead of posting twice. WHY this matters: the
 * outbox retries every send that got no answer. Limits of that guarantee:
 * a homeserver keeps transaction ids for a while only (Synapse: 30 to 60
 * minutes, keyed by path and user+device or appservice; refusals such as
 * 429 are not kept, so their retry is executed afresh), and another
 * device or token may start a new scope.
 *
 * Addresses are room ids, for groups and for one-to-one residents alike
 * (a direct chat is a room too): "!opaque:server.name" (room versions
 * 1-11) or "!" + 43 url-safe base64 characters (room version 12, where
 * the id is the hash of the create event and has no server name); at
 * most 255 bytes (spec: appendices, room IDs).
 *
 * Responses: 200 {"event_id":"$..."} = sent. 429 M_LIMIT_EXCEEDED with
 * "retry_after_ms" (and, since spec v1.10, a Retry-After header) and 5xx
 * = retry. 401 M_UNKNOWN_TOKEN / M_MISSING_TOKEN, 403 M_FORBIDDEN (the
 * bot is not in the room), 404, 400 (M_BAD_JSON, M_NOT_JSON, ...) and 413
 * M_TOO_LARGE = failed, with error "mx_{errcode}".
 *
 * REPLIES. The homeserver pushes application-service transactions
 * (spec: application service API, PUT /_matrix/app/v1/transactions/
 * {txnId}) with {"events":[...]} in the client event format. The
 * registration's url is {public-url}/hooks/matrix, so a current
 * homeserver calls /hooks/matrix/_matrix/app/v1/transactions/{txnId};
 * the pre-v1 path /hooks/matrix/transactions/{txnId} is served as well.
 * Authentic when "Authorization: Bearer {hs_token}" (spec v1.4) or the
 * legacy "?access_token={hs_token}" matches; when both are present both
 * must match (the spec asks application services to check that). POST
 * .../_matrix/app/v1/ping (the spec's homeserver -> appservice ping) is
 * acknowledged so an operator can test the link.
 * One event per call (struct adapter_event carries one message): the
 * first m.room.message of msgtype m.text that the bot did not send
 * itself and that is not an edit. A transaction with nothing for us is
 * ADAPTER_EVENT_NONE. Every authentic transaction is answered 200 "{}":
 * WHY even an unreadable one: a homeserver retries a refused transaction
 * forever with the same events and sends nothing newer meanwhile, so one
 * poisoned event (any member of any room the bot is in can send one)
 * would silence every later reply.
 *
 * Not supported: end-to-end encrypted rooms (m.room.encrypted events are
 * ignored; our own messages go out unencrypted).
 */
#include <math.h>
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

#define MATRIX_ID_MAX 255     /* user, room and event ids, bytes (spec) */
#define MATRIX_V12_ROOM_ID 43 /* unpadded url-safe base64 of a SHA-256 */

/*
 * Size of what we send. A Matrix event (the whole PDU: content plus the
 * envelope the homeserver adds: ids, prev_events, auth_events, hashes,
 * signatures) must be at most 65536 bytes of canonical JSON, which is
 * UTF-8 and escapes only '"', '\\' and control characters.
 * Per code point of msg.text, worst case:
 *   body:           6 bytes (a control character as \u00XX)
 *   formatted_body: 6 bytes ('"' as &quot;, or a control character)
 * so 12 bytes (a 4-byte UTF-8 character costs 4 + 4 only). We leave 8 KiB
 * for the envelope (room and sender ids of up to 255 bytes each, a few
 * dozen prev/auth event ids, hashes, signatures) and 512 bytes for our
 * keys and the header: (65536 - 8192 - 512) / 12 = 4736 code points.
 * max_text_chars is 4096, the same as Telegram's limit, well inside it.
 * build_request still checks the built body against MATRIX_CONTENT_MAX.
 */
#define MATRIX_TEXT_MAX 4096
#define MATRIX_CONTENT_MAX (65536 - 8192)

#define MATRIX_JSON_DEPTH 64 /* containers in a pushed transaction */

struct matrix {
    char homeserver_url[CONFIG_STR_MAX];
    char access_token_file[CONFIG_STR_MAX];
    char hs_token_file[CONFIG_STR_MAX];
    char user_id[CONFIG_STR_MAX];
    /* loaded by init; hs_token is "" when replies are off */
    char token[ADAPTER_SECRET_MAX + 1];
    char hs_token[ADAPTER_SECRET_MAX + 1];
};

/* ---- Identifiers (spec: appendices, identifier grammar) -------------- */

/* server_name = host [":" port]; host = IPv4 / "[" IPv6 "]" / DNS name */
static int server_name_valid(const char *s, size_t n)
{
    size_t host;

    if (n == 0)
        return 0;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);

        if (!close || close - s < 3 || close - s > 46)
            return 0;
        for (const char *p = s + 1; p < close; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return 0;
        }
        host = (size_t)(close - s) + 1;
    } else {
        for (host = 0; host < n && s[host] != ':'; host++) {
            char c = s[host];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return 0;
        }
        if (host == 0)
            return 0;
    }
    if (host == n)
        return 1;
    if (s[host] != ':' || n - host - 1 < 1 || n - host - 1 > 5)
        return 0;
    {
        long port = 0;

        for (size_t i = host + 1; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
            port = port * 10 + (s[i] - '0');
        }
        return port <= 65535;
    }
}

/*
 * sigil localpart ":" server_name, at most 255 bytes, valid UTF-8. The
 * localpart of room ids and of historical user ids may hold any code
 * point but ':' and NUL; 'empty_ok' allows an empty one (historical user
 * ids, which the spec says must still be accepted).
 */
static int delimited_id_valid(const char *s, char sigil, int empty_ok)
{
    size_t n = s ? strlen(s) : 0;
    const char *colon;

    if (n < 2 || n > MATRIX_ID_MAX || s[0] != sigil || !utf8_valid(s, n))
        return 0;
    colon = strchr(s + 1, ':');
    if (!colon || (!empty_ok && colon == s + 1))
        return 0;
    return server_name_valid(colon + 1, n - (size_t)(colon + 1 - s));
}

static int room_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 1 + MATRIX_V12_ROOM_ID && s[0] == '!' && !strchr(s, ':')) {
        /* room version 12: "!" + the create event's reference hash */
        for (size_t i = 1; i < n; i++) {
            char c = s[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_'))
                return 0;
        }
        return 1;
    }
    return delimited_id_valid(s, '!', 0);
}

/* A sender as the spec says it must be accepted (historical grammar). */
static int user_id_valid(const char *s)
{
    return delimited_id_valid(s, '@', 1);
}

/* Event ids: "$" + an opaque part (with a domain in room versions 1-2). */
static int event_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n >= 2 && n <= MATRIX_ID_MAX && s[0] == '$' && utf8_valid(s, n);
}

/* ---- Options ---------------------------------------------------------- */

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

/* The bot's own id: the current (strict) user id grammar. */
static int check_user_id(const char *value, char *why, size_t whylen)
{
    const char *colon = strchr(value, ':');
    int ok = value[0] == '@' && colon && colon > value + 1 &&
             strlen(value) <= MATRIX_ID_MAX &&
             server_name_valid(colon + 1, strlen(colon + 1));

    for (const char *p = value + 1; ok && p < colon; p++) {
        char c = *p;

        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
             c == '.' || c == '=' || c == '_' || c == '/' || c == '+';
    }
    if (!ok) {
        snprintf(why, whylen, "not a Matrix user id like @bot:example.org");
        return RELAY_EINVAL;
    }
    return 0;
}

#define MOFF(f) offsetof(struct matrix, f)

static const struct config_option matrix_options[] = {
    {"homeserver-url", CONFIG_T_STRING, MOFF(homeserver_url), 0, 0, NULL, 0,
     check_url, 0},
    {"access-token-file", CONFIG_T_STRING, MOFF(access_token_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"hs-token-file", CONFIG_T_STRING, MOFF(hs_token_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"user-id", CONFIG_T_STRING, MOFF(user_id), 0, 0, NULL, 0, check_user_id,
     0},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

/* A bearer token goes into a header: visible ASCII only (RFC 6750). */
static int token_ok(const char *t)
{
    for (; *t; t++) {
        if (*t < 0x21 || *t > 0x7e)
            return 0;
    }
    return 1;
}

static int load_token(const char *key, const char *path, char *out,
                      size_t outlen, char *err, size_t errlen)
{
    char why[256];
    int rc = adapter_read_secret(path, out, outlen, why, sizeof(why));

    if (rc < 0) {
        snprintf(err, errlen, "matrix.%s: %s", key, why);
        return rc;
    }
    if (!token_ok(out)) {
        sodium_memzero(out, outlen);
        snprintf(err, errlen,
                 "matrix.%s: secret file '%s' holds spaces or control "
                 "characters",
                 key, path);
        return RELAY_ECONFIG;
    }
    return RELAY_OK;
}

static int matrix_init(void *priv, char *err, size_t errlen)
{
    struct matrix *m = priv;
    int rc;

    if (!m->homeserver_url[0]) {
        snprintf(err, errlen, "matrix.homeserver-url is required");
        return RELAY_ECONFIG;
    }
    rc = load_token("access-token-file", m->access_token_file, m->token,
                    sizeof(m->token), err, errlen);
    if (rc < 0)
        return rc;
    if (!m->hs_token_file[0])
        return RELAY_OK; /* no replies: parse_webhook refuses everything */
    /* WHY required: the homeserver pushes our own messages back too, and
     * without the bot's id each alert would come back as a reply */
    if (!m->user_id[0]) {
        snprintf(err, errlen,
                 "matrix.user-id is required with matrix.hs-token-file");
        sodium_memzero(m->token, sizeof(m->token));
        return RELAY_ECONFIG;
    }
    rc = load_token("hs-token-file", m->hs_token_file, m->hs_token,
                    sizeof(m->hs_token), err, errlen);
    if (rc < 0)
        sodium_memzero(m->token, sizeof(m->token));
    return rc;
}

static void matrix_cleanup(void *priv)
{
    struct matrix *m = priv;

    sodium_memzero(m->token, sizeof(m->token));
    sodium_memzero(m->hs_token, sizeof(m->hs_token));
}

/* ---- Sending ---------------------------------------------------------- */

#define URGENT_PREFIX "\xF0\x9F\x9A\xA8 " /* U+1F6A8 police car light */

/* Appends s[0..n) HTML-escaped, line breaks as <br>, as the inside of a
 * JSON string (the escapes never need JSON escaping themselves). */
static void html_json_add(struct adapter_buf *b, const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        const char *rep;

        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\r':
            if (i + 1 < n && s[i + 1] == '\n')
                rep = ""; /* CRLF: the LF makes the one break */
            else
                rep = "<br>";
            break;
        case '\n':
            rep = "<br>";
            break;
        default:
            continue;
        }
        adapter_buf_add_json(b, s + run, i - run);
        run = i + 1;
        adapter_buf_adds(b, rep);
    }
    adapter_buf_add_json(b, s + run, n - run);
}

/* Appends s[0..n) as the inside of a JSON string with every line break
 * (CRLF, CR) written as LF, as Matrix clients expect in a plain body. */
static void plain_json_add(struct adapter_buf *b, const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\r')
            continue;
        adapter_buf_add_json(b, s + run, i - run);
        run = i + 1;
        if (i + 1 >= n || s[i + 1] != '\n')
            adapter_buf_adds(b, "\\n");
    }
    adapter_buf_add_json(b, s + run, n - run);
}

/* The event content for msg into body (see the top of the file). */
static void build_content(struct adapter_buf *body,
                          const struct adapter_msg *msg)
{
    const char *header = adapter_kind_header(msg->kind);
    const char *prefix = msg->urgent ? URGENT_PREFIX : "";

    adapter_buf_adds(body, "{\"msgtype\":\"m.text\",\"body\":\"");
    adapter_buf_add_json(body, prefix, strlen(prefix));
    adapter_buf_add_json(body, header, strlen(header));
    adapter_buf_adds(body, "\\n");
    plain_json_add(body, msg->text, msg->text_len);
    adapter_buf_adds(body, "\",\"format\":\"org.matrix.custom.html\","
                           "\"formatted_body\":\"<b>");
    html_json_add(body, prefix, strlen(prefix));
    html_json_add(body, header, strlen(header));
    adapter_buf_adds(body, "</b><br>");
    html_json_add(body, msg->text, msg->text_len);
    adapter_buf_adds(body, "\"}");
}

static char *bearer_header(const char *token)
{
    struct adapter_buf h = {0};

    adapter_buf_adds(&h, "Authorization: Bearer ");
    adapter_buf_adds(&h, token);
    return adapter_buf_take(&h, NULL);
}

static int matrix_build_request(void *priv, const struct adapter_msg *msg,
                                struct adapter_request *req)
{
    struct matrix *m = priv;
    struct adapter_buf body = {0}, url = {0};
    size_t cps;

    if (!adapter_id_valid(msg->delivery_id) || !room_id_valid(msg->to) ||
        !msg->text || memchr(msg->text, '\0', msg->text_len) ||
        !utf8_valid(msg->text, msg->text_len))
        return RELAY_EINVAL;
    /* never truncate: a cut police appeal can say the wrong thing */
    cps = adapter_utf8_count(msg->text, msg->text_len);
    if (cps == 0 || cps > MATRIX_TEXT_MAX)
        return RELAY_EINVAL;

    build_content(&body, msg);
    if (!body.oom && body.len > MATRIX_CONTENT_MAX) {
        adapter_buf_free(&body);
        return RELAY_EINVAL;
    }
    adapter_buf_adds(&url, m->homeserver_url);
    adapter_buf_adds(&url, "/_matrix/client/v3/rooms/");
    adapter_buf_add_enc(&url, msg->to, strlen(msg->to));
    adapter_buf_adds(&url, "/send/m.room.message/");
    adapter_buf_add_enc(&url, msg->delivery_id, strlen(msg->delivery_id));

    req->method = "PUT";
    req->url = adapter_buf_take(&url, NULL);
    req->body = adapter_buf_take(&body, &req->body_len);
    req->headers[0] = bearer_header(m->token);
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

/* The string member 'name' of obj, or NULL. */
static const char *json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_IsObject(obj)
                         ? cJSON_GetObjectItemCaseSensitive(obj, name)
                         : NULL;

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An errcode fit for our logs and error field: [A-Za-z0-9_.-], short. */
static int errcode_ok(const char *e)
{
    size_t n = e ? strlen(e) : 0;

    if (n == 0 || n > ADAPTER_ERROR_MAX - 3)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = e[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* retry_after_ms of a Matrix error body as whole seconds, or -1. */
static long body_retry_after(const cJSON *root)
{
    const cJSON *v =
        cJSON_IsObject(root)
            ? cJSON_GetObjectItemCaseSensitive(root, "retry_after_ms")
            : NULL;
    double ms;

    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return -1;
    ms = v->valuedouble > 86400000.0 ? 86400000.0 : v->valuedouble;
    return (long)ceil(ms / 1000.0);
}

static int matrix_parse_response(void *priv, long status, const char *body,
                                 size_t len, const char *retry_after,
                                 struct adapter_result *out)
{
    const char *why = NULL;
    cJSON *root =
        len > 0 && body ? json_strict_parse(body, len, 16, &why) : NULL;
    const char *s;

    (void)priv;
    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    if (status >= 200 && status < 300) {
        /* accepted: even without a readable event_id it was posted, and
         * the same txnId would only give the same answer */
        out->verdict = ADAPTER_SENT;
        s = json_str(root, "event_id");
        if (s && strlen(s) <= ADAPTER_PROVIDER_ID_MAX)
            snprintf(out->provider_id, sizeof(out->provider_id), "%s", s);
        cJSON_Delete(root);
        return RELAY_OK;
    }
    s = json_str(root, "errcode");
    if (errcode_ok(s))
        snprintf(out->error, sizeof(out->error), "mx_%s", s);
    else
        snprintf(out->error, sizeof(out->error), "http_%ld", status);
    if (status == 429 || status == 408 || status >= 500 || status < 200) {
        long header = adapter_retry_after(retry_after, time(NULL));
        long inbody = body_retry_after(root);

        /* both may be present (spec v1.10 added the header): the longer
         * wish, so we never come back before the homeserver allows */
        out->verdict = ADAPTER_RETRY;
        out->retry_after_s = header > inbody ? header : inbody;
    } else {
        /* 400 bad request, 401 token, 403 not in room, 404, 413 too large:
         * the same request would be refused again */
        out->verdict = ADAPTER_FAILED;
    }
    cJSON_Delete(root);
    return RELAY_OK;
}

/* ---- Webhooks (application service API) -------------------------------- */

enum hook_kind { HOOK_NONE = 0, HOOK_TXN, HOOK_PING };

/* Which application-service endpoint 'path' is (its query cut). */
static enum hook_kind hook_kind(const char *path)
{
    static const char base[] = "/hooks/matrix";
    static const char v1[] = "/_matrix/app/v1";
    static const char txn[] = "/transactions/";
    const char *p = path, *end = path + strcspn(path, "?");

    if (strncmp(p, base, sizeof(base) - 1) != 0)
        return HOOK_NONE;
    p += sizeof(base) - 1;
    if (strncmp(p, v1, sizeof(v1) - 1) == 0) {
        p += sizeof(v1) - 1;
        if (end - p == 5 && strncmp(p, "/ping", 5) == 0)
            return HOOK_PING;
    }
    if (strncmp(p, txn, sizeof(txn) - 1) != 0)
        return HOOK_NONE;
    p += sizeof(txn) - 1;
    /* one non-empty path segment: the homeserver's transaction id */
    if (p == end || memchr(p, '/', (size_t)(end - p)))
        return HOOK_NONE;
    return HOOK_TXN;
}

/*
 * The homeserver's credentials: Authorization: Bearer {hs_token} and/or
 * ?access_token={hs_token}; at least one, and every one given matches.
 */
static int verify_hs_token(const struct matrix *m,
                           const struct adapter_webhook_req *req)
{
    char hdr[ADAPTER_SECRET_MAX + 32], q[ADAPTER_SECRET_MAX + 1];
    const char *query = adapter_query(req->path);
    int seen = 0, ok = 1, rc;

    if (!m->hs_token[0])
        return RELAY_EAUTH; /* replies not configured: nothing is ours */
    rc = adapter_header_get(req->headers, req->nheaders, "Authorization", hdr,
                            sizeof(hdr));
    if (rc == RELAY_OK) {
        const char *t = hdr + 7;

        seen = 1;
        if (strncasecmp(hdr, "Bearer ", 7) != 0)
            ok = 0;
        while (ok && *t == ' ')
            t++;
        ok = ok && adapter_str_equal(t, m->hs_token);
    } else if (rc != RELAY_ENOTFOUND) {
        ok = 0;
    }
    rc = adapter_form_get(query, strlen(query), "access_token", q, sizeof(q),
                          NULL);
    if (rc == RELAY_OK) {
        seen = 1;
        ok = ok && adapter_str_equal(q, m->hs_token);
    } else if (rc != RELAY_ENOTFOUND) {
        ok = 0;
    }
    sodium_memzero(hdr, sizeof(hdr));
    sodium_memzero(q, sizeof(q));
    return seen && ok ? RELAY_OK : RELAY_EAUTH;
}

/*
 * m.relates_to of a reply: the event it answers, or NULL. In a thread
 * (rel_type m.thread) an m.in_reply_to marked is_falling_back only points
 * at the thread's latest event for old clients; the message then answers
 * the thread's root (ours, when a resident replies in a thread under an
 * alert). *fallback: the body may start with a reply fallback.
 */
static const char *reply_target(const cJSON *rel, int *fallback)
{
    const cJSON *irt = cJSON_GetObjectItemCaseSensitive(rel, "m.in_reply_to");
    const char *rel_type = json_str(rel, "rel_type");
    const char *irt_id = json_str(irt, "event_id");

    *fallback = 0;
    if (rel_type && strcmp(rel_type, "m.thread") == 0 &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rel, "is_falling_back")))
        return json_str(rel, "event_id");
    if (irt_id) {
        *fallback = 1;
        return irt_id;
    }
    if (rel_type && strcmp(rel_type, "m.thread") == 0)
        return json_str(rel, "event_id");
    return NULL;
}

/*
 * True when 'ev' is a message for us: m.room.message, msgtype m.text,
 * not a state event, not an edit (rel_type m.replace: the original was
 * taken already), with valid ids, not sent by the bot itself.
 */
static int relevant(const struct matrix *m, const cJSON *ev)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(ev, "content");
    const cJSON *rel;
    const char *type = json_str(ev, "type");
    const char *msgtype = json_str(content, "msgtype");
    const char *sender = json_str(ev, "sender");
    const char *rel_type;

    if (!type || strcmp(type, "m.room.message") != 0 ||
        cJSON_GetObjectItemCaseSensitive(ev, "state_key") || !msgtype ||
        strcmp(msgtype, "m.text") != 0 || !json_str(content, "body") ||
        !user_id_valid(sender) || !room_id_valid(json_str(ev, "room_id")) ||
        !event_id_valid(json_str(ev, "event_id")))
        return 0;
    if (m->user_id[0] && strcmp(sender, m->user_id) == 0)
        return 0;
    rel = cJSON_GetObjectItemCaseSensitive(content, "m.relates_to");
    rel_type = json_str(rel, "rel_type");
    return !(rel_type && strcmp(rel_type, "m.replace") == 0);
}

/*
 * The nth (0-based) relevant event of a transaction in *found (NULL when
 * there are fewer); returns how many relevant events it has. WHY count:
 * one call yields one event, and a transaction may carry several; see
 * the note at parse_webhook.
 */
static int find_message(const struct matrix *m, const cJSON *root, int nth,
                        const cJSON **found)
{
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "events");
    const cJSON *ev;
    int count = 0;

    *found = NULL;
    if (!cJSON_IsArray(events))
        return 0;
    cJSON_ArrayForEach(ev, events)
    {
        if (!cJSON_IsObject(ev) || !relevant(m, ev))
            continue;
        if (count == nth)
            *found = ev;
        count++;
    }
    return count;
}

/*
 * The reply text without its reply fallback (spec: rich replies,
 * "stripping the fallback"): leading lines that start with "> " go, and
 * then the blank line that separates the fallback from the reply.
 */
static const char *strip_fallback(const char *body)
{
    const char *p = body;

    while (strncmp(p, "> ", 2) == 0) {
        const char *nl = strchr(p, '\n');

        if (!nl)
            return p + strlen(p); /* nothing but the quote */
        p = nl + 1;
    }
    if (p != body && *p == '\n')
        p++;
    return p;
}

/* Fills out (type MO) from a relevant event. */
static int fill_message(const cJSON *ev, struct adapter_event *out)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(ev, "content");
    const cJSON *rel =
        cJSON_GetObjectItemCaseSensitive(content, "m.relates_to");
    const char *event_id = json_str(ev, "event_id");
    const char *text = json_str(content, "body");
    const char *target = NULL;
    int fallback = 0;
    size_t n;

    if (cJSON_IsObject(rel))
        target = reply_target(rel, &fallback);
    if (fallback)
        text = strip_fallback(text);
    n = strlen(text);
    out->text = malloc(n + 1);
    if (!out->text)
        return RELAY_ENOMEM;
    memcpy(out->text, text, n + 1);
    out->text_len = n;
    /* ids longer than our fields (room versions 1-2 allow 255 bytes) are
     * left empty: no dedup, no reply link, rather than a cut id */
    if (strlen(event_id) <= ADAPTER_PROVIDER_ID_MAX)
        snprintf(out->provider_id, sizeof(out->provider_id), "%s", event_id);
    if (target && event_id_valid(target) &&
        strlen(target) <= ADAPTER_PROVIDER_ID_MAX)
        snprintf(out->reply_to, sizeof(out->reply_to), "%s", target);
    /* sender and room_id were checked: at most 255 bytes */
    snprintf(out->from, sizeof(out->from), "%s", json_str(ev, "sender"));
    snprintf(out->chat, sizeof(out->chat), "%s", json_str(ev, "room_id"));
    out->type = ADAPTER_EVENT_MO;
    return RELAY_OK;
}

/*
 * One event per call: the core asks for index 0, 1, ... (parse_webhook_at)
 * until RELAY_ENOTFOUND, so a transaction carrying two replies gives both
 * (the homeserver will not send them again once it got its 200).
 */
static int matrix_parse_webhook_at(void *priv,
                                   const struct adapter_webhook_req *req,
                                   int index, struct adapter_event *out)
{
    struct matrix *m = priv;
    enum hook_kind kind = req->path ? hook_kind(req->path) : HOOK_NONE;
    const cJSON *ev;
    const char *why = NULL;
    cJSON *root;
    int rc;

    memset(out, 0, sizeof(*out));
    if (kind == HOOK_NONE)
        return RELAY_ENOTFOUND;
    if (!req->method ||
        strcmp(req->method, kind == HOOK_PING ? "POST" : "PUT") != 0)
        return RELAY_EINVAL;
    rc = verify_hs_token(m, req);
    if (rc < 0)
        return rc;
    out->http_status = 200;
    out->reply_type = "application/json";
    out->reply_body = "{}";
    out->type = ADAPTER_EVENT_NONE;
    if (kind == HOOK_PING || req->body_len == 0 || !req->body)
        return index == 0 ? RELAY_OK : RELAY_ENOTFOUND;
    root = json_strict_parse(req->body, req->body_len, MATRIX_JSON_DEPTH, &why);
    if (!root) {
        /* authentic but unreadable: acknowledged (see the top) */
        if (why && strcmp(why, "out of memory") == 0) {
            memset(out, 0, sizeof(*out));
            return RELAY_ENOMEM;
        }
        return index == 0 ? RELAY_OK : RELAY_ENOTFOUND;
    }
    if (index >= 0 && find_message(m, root, index, &ev) > 0 && ev) {
        rc = fill_message(ev, out);
        if (rc < 0)
            adapter_event_cleanup(out);
    } else if (index > 0) {
        memset(out, 0, sizeof(*out));
        rc = RELAY_ENOTFOUND; /* past the last message */
    }
    adapter_json_wipe_delete(root);
    return rc;
}

static int matrix_parse_webhook(void *priv,
                                const struct adapter_webhook_req *req,
                                struct adapter_event *out)
{
    return matrix_parse_webhook_at(priv, req, 0, out);
}

const struct adapter_ops adapter_matrix = {
    .name = "matrix",
    .caps = ADAPTER_CAP_CHAT | ADAPTER_CAP_GROUP | ADAPTER_CAP_MO,
    .address_kind = "matrix",
    .max_text_chars = MATRIX_TEXT_MAX,
    .priv_size = sizeof(struct matrix),
    .options = matrix_options,
    .init = matrix_init,
    .cleanup = matrix_cleanup,
    .build_request = matrix_build_request,
    .parse_response = matrix_parse_response,
    .parse_webhook = matrix_parse_webhook,
    .parse_webhook_at = matrix_parse_webhook_at,
};
