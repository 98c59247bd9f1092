/*
 * kannel.c - SMS through a Kannel smsbox: sendsms out, delivery reports
 * and incoming SMS (MO) back.
 *
 * SEND: {sendsms-url} with username, password, from (a numeric sender,
 * so people can reply), to, text (UTF-8), coding 0 (GSM-7) or 2 (UCS-2)
 * as sms_text decided, dlr-mask and dlr-url = {hook}/dlr?d={delivery}&
 * k={token}&t=%d&f=%F (Kannel fills %d, the report type, and %F, the
 * SMSC's message id, when it calls back). method "post" (the default)
 * sends the text as a text/plain body and everything else as X-Kannel-*
 * headers, so no phone number or text lands in a URL (Kannel 1.4.5
 * refuses form-encoded POSTs: "Invalid content-type"); method "get" puts
 * all of it in the query string.
 * Replies: 202 "0: Accepted for delivery" and 202 "3: Queued for later
 * delivery" both mean Kannel took it (with store-type spool it survives a
 * bearerbox crash); 403 is bad credentials (a configuration fault: retry
 * until fixed or dead-lettered); other 4xx refuse the message; 5xx retry.
 *
 * WEBHOOKS. Kannel cannot sign anything, so both URLs carry a secret
 * token (k=, from webhook-token-file, [A-Za-z0-9_-] only because Kannel
 * treats '%' in URLs as its escapes) compared in constant time:
 *   {hook}/dlr?d=&k=&t=&f=   delivery report; t: 1 delivered, 2 failed,
 *                            4 queued at SMSC, 8 at SMSC, 16 SMSC reject
 *   {hook}/mo?k=&id=%I       incoming SMS from an sms-service: with
 *                            post-url + send-sender the text is the body
 *                            and the sender is X-Kannel-From (no PII in
 *                            the URL, which Kannel logs); with get-url
 *                            they are the from= and text= parameters.
 *                            A UCS-2 SMS arrives as UTF-16BE (the body's
 *                            charset says so) and is converted to UTF-8.
 * See config/kannel.conf for the matching Kannel side.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "adapter.h"
#include "error.h"

struct kannel {
    char sendsms_url[CONFIG_STR_MAX];
    char username[CONFIG_STR_MAX];
    char password_file[CONFIG_STR_MAX];
    char from[CONFIG_STR_MAX];
    char method[CONFIG_STR_MAX];
    char smsc[CONFIG_STR_MAX];
    long long dlr_mask;
    char webhook_token_file[CONFIG_STR_MAX];
    /* loaded by init */
    char password[ADAPTER_SECRET_MAX + 1];
    char token[ADAPTER_SECRET_MAX + 1];
    int post;
};

static int check_url(const char *value, char *why, size_t whylen)
{
    if (strncmp(value, "http://", 7) != 0 &&
        strncmp(value, "https://", 8) != 0) {
        snprintf(why, whylen, "not an http(s) URL");
        return RELAY_EINVAL;
    }
    return 0;
}

/* A numeric sender: people cannot reply to an alphanumeric one. */
static int check_from(const char *value, char *why, size_t whylen)
{
    size_t n = strlen(value), i = value[0] == '+' ? 1 : 0;

    if (n - i < 3 || n - i > 15)
        goto bad;
    for (; i < n; i++) {
        if (value[i] < '0' || value[i] > '9')
            goto bad;
    }
    return 0;
bad:
    snprintf(why, whylen, "not a numeric sender of 3 to 15 digits");
    return RELAY_EINVAL;
}

static int check_method(const char *value, char *why, size_t whylen)
{
    if (strcmp(value, "get") != 0 && strcmp(value, "post") != 0) {
        snprintf(why, whylen, "not 'get' or 'post'");
        return RELAY_EINVAL;
    }
    return 0;
}

#define KOFF(f) offsetof(struct kannel, f)

static const struct config_option kannel_options[] = {
    {"sendsms-url", CONFIG_T_STRING, KOFF(sendsms_url), 0, 0,
     "http://127.0.0.1:13013/cgi-bin/sendsms", 0, check_url, 0},
    {"username", CONFIG_T_STRING, KOFF(username), 0, 0, "relay", 0, NULL, 0},
    {"password-file", CONFIG_T_STRING, KOFF(password_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"from", CONFIG_T_STRING, KOFF(from), 0, 0, NULL, 0, check_from, 0},
    {"method", CONFIG_T_STRING, KOFF(method), 0, 0, "post", 0, check_method, 0},
    {"smsc", CONFIG_T_STRING, KOFF(smsc), 0, 0, NULL, 0, NULL, 0},
    {"dlr-mask", CONFIG_T_INT, KOFF(dlr_mask), 0, 63, "31", 0, NULL, 0},
    {"webhook-token-file", CONFIG_T_STRING, KOFF(webhook_token_file), 0, 0,
     NULL, CONFIG_F_SECRET_PATH, NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

static int kannel_init(void *priv, char *err, size_t errlen)
{
    struct kannel *k = priv;
    char why[256];
    int rc;

    rc = adapter_read_secret(k->password_file, k->password, sizeof(k->password),
                             why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "kannel.password-file: %s", why);
        return rc;
    }
    rc = adapter_read_secret(k->webhook_token_file, k->token, sizeof(k->token),
                             why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "kannel.webhook-token-file: %s", why);
        return rc;
    }
    /* the token goes into URLs that Kannel parses for %-escapes */
    if (!adapter_id_valid(k->token) || strlen(k->token) < 16) {
        snprintf(err, errlen,
                 "kannel.webhook-token-file: the token must be 16 to 64 "
                 "characters of [A-Za-z0-9_-]");
        return RELAY_ECONFIG;
    }
    /* header-safe: no control characters in what goes into X-Kannel-* */
    for (const char *p = k->password; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(err, errlen,
                     "kannel.password-file: control "
                     "characters in the password");
            return RELAY_ECONFIG;
        }
    }
    k->post = strcmp(k->method, "post") == 0;
    return RELAY_OK;
}

static void kannel_cleanup(void *priv)
{
    struct kannel *k = priv;

    sodium_memzero(k->password, sizeof(k->password));
    sodium_memzero(k->token, sizeof(k->token));
}

/* Appends "Name: value" as the next header; 0 or -1 when out of room
 * or memory (the request is cleaned up by the caller). */
static int add_header(struct adapter_request *req, const char *name,
                      const char *value)
{
    struct adapter_buf h = {0};

    if (req->nheaders >= ADAPTER_HEADERS_MAX)
        return -1;
    adapter_buf_adds(&h, name);
    adapter_buf_adds(&h, ": ");
    adapter_buf_adds(&h, value);
    req->headers[req->nheaders] = adapter_buf_take(&h, NULL);
    if (!req->headers[req->nheaders])
        return -1;
    req->nheaders++;
    return 0;
}

static int build_post(struct kannel *k, const struct adapter_msg *msg,
                      const char *dlr, const char *coding, const char *mask,
                      struct adapter_request *req)
{
    req->method = "POST";
    req->url = strdup(k->sendsms_url);
    req->body = malloc(msg->text_len + 1);
    if (!req->url || !req->body)
        return -1;
    memcpy(req->body, msg->text, msg->text_len);
    req->body[msg->text_len] = '\0';
    req->body_len = msg->text_len;
    if (add_header(req, "Content-Type", "text/plain; charset=UTF-8") < 0 ||
        add_header(req, "X-Kannel-Username", k->username) < 0 ||
        add_header(req, "X-Kannel-Password", k->password) < 0 ||
        (k->from[0] && add_header(req, "X-Kannel-From", k->from) < 0) ||
        add_header(req, "X-Kannel-To", msg->to) < 0 ||
        add_header(req, "X-Kannel-Coding", coding) < 0 ||
        add_header(req, "X-Kannel-DLR-Mask", mask) < 0 ||
        add_header(req, "X-Kannel-DLR-Url", dlr) < 0 ||
        (k->smsc[0] && add_header(req, "X-Kannel-SMSC", k->smsc) < 0))
        return -1;
    return 0;
}

static int build_get(struct kannel *k, const struct adapter_msg *msg,
                     const char *dlr, const char *coding, const char *mask,
                     struct adapter_request *req)
{
    struct adapter_buf q = {0}, url = {0};
    char *text = malloc(msg->text_len + 1);

    if (!text)
        return -1;
    memcpy(text, msg->text, msg->text_len);
    text[msg->text_len] = '\0';
    adapter_buf_add_param(&q, "username", k->username);
    adapter_buf_add_param(&q, "password", k->password);
    if (k->from[0])
        adapter_buf_add_param(&q, "from", k->from);
    adapter_buf_add_param(&q, "to", msg->to);
    adapter_buf_add_param(&q, "text", text);
    adapter_buf_add_param(&q, "charset", "UTF-8");
    adapter_buf_add_param(&q, "coding", coding);
    adapter_buf_add_param(&q, "dlr-mask", mask);
    adapter_buf_add_param(&q, "dlr-url", dlr);
    if (k->smsc[0])
        adapter_buf_add_param(&q, "smsc", k->smsc);
    sodium_memzero(text, msg->text_len);
    free(text);
    adapter_buf_adds(&url, k->sendsms_url);
    adapter_buf_adds(&url, "?");
    if (q.p)
        adapter_buf_add(&url, q.p, q.len);
    adapter_buf_free(&q);
    req->method = "GET";
    req->url = adapter_buf_take(&url, NULL);
    return req->url ? 0 : -1;
}

static int kannel_build_request(void *priv, const struct adapter_msg *msg,
                                struct adapter_request *req)
{
    struct kannel *k = priv;
    struct adapter_buf dlr = {0};
    const char *coding;
    char mask[16];
    int rc;

    if (!adapter_id_valid(msg->delivery_id) || !msg->text || !msg->info ||
        !msg->to || !msg->hook_url)
        return RELAY_EINVAL;
    coding = msg->info->coding == SMS_CODING_UCS2 ? "2" : "0";
    snprintf(mask, sizeof(mask), "%lld", k->dlr_mask);
    adapter_buf_adds(&dlr, msg->hook_url);
    adapter_buf_adds(&dlr, "/dlr?d=");
    adapter_buf_adds(&dlr, msg->delivery_id);
    adapter_buf_adds(&dlr, "&k=");
    adapter_buf_adds(&dlr, k->token);
    adapter_buf_adds(&dlr, "&t=%d&f=%F");
    if (dlr.oom) {
        adapter_buf_free(&dlr);
        return RELAY_ENOMEM;
    }
    if (k->post)
        rc = build_post(k, msg, dlr.p, coding, mask, req);
    else
        rc = build_get(k, msg, dlr.p, coding, mask, req);
    adapter_buf_free(&dlr);
    if (rc < 0) {
        adapter_request_cleanup(req);
        return RELAY_ENOMEM;
    }
    return RELAY_OK;
}

static int kannel_parse_response(void *priv, long status, const char *body,
                                 size_t len, const char *retry_after,
                                 struct adapter_result *out)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    if (status >= 200 && status < 300) {
        out->verdict = ADAPTER_SENT;
        /* "3: Queued for later delivery": Kannel holds it (no SMSC now) */
        if (len >= 2 && body[0] == '3' && body[1] == ':')
            snprintf(out->error, sizeof(out->error), "queued");
        return RELAY_OK;
    }
    snprintf(out->error, sizeof(out->error), "http_%ld", status);
    if (status == 403 || status == 408 || status == 429 || status >= 500 ||
        status < 200) {
        out->verdict = ADAPTER_RETRY;
        out->retry_after_s = adapter_retry_after(retry_after, time(NULL));
        return RELAY_OK;
    }
    out->verdict = ADAPTER_FAILED;
    return RELAY_OK;
}

static enum adapter_state dlr_state(long type)
{
    switch (type) {
    case 1:
        return ADAPTER_STATE_DELIVERED;
    case 2:
    case 16:
        return ADAPTER_STATE_FAILED;
    case 4:
    case 8:
        return ADAPTER_STATE_SENT;
    default:
        return ADAPTER_STATE_NONE;
    }
}

static int check_token(struct kannel *k, const char *query)
{
    char tok[ADAPTER_SECRET_MAX + 1];
    int rc =
        adapter_form_get(query, strlen(query), "k", tok, sizeof(tok), NULL);

    if (rc < 0 || !adapter_str_equal(tok, k->token))
        return RELAY_EAUTH;
    return RELAY_OK;
}

static int parse_dlr(struct kannel *k, const char *query,
                     struct adapter_event *ev)
{
    char t[16];
    char *end;
    long type;

    if (adapter_form_get(query, strlen(query), "d", ev->delivery_id,
                         sizeof(ev->delivery_id), NULL) < 0 ||
        !adapter_id_valid(ev->delivery_id) ||
        adapter_form_get(query, strlen(query), "t", t, sizeof(t), NULL) < 0)
        return RELAY_EINVAL;
    type = strtol(t, &end, 10);
    if (end == t || *end != '\0')
        return RELAY_EINVAL;
    if (adapter_form_get(query, strlen(query), "f", ev->provider_id,
                         sizeof(ev->provider_id), NULL) < 0)
        ev->provider_id[0] = '\0';
    ev->state = dlr_state(type);
    ev->type = ev->state == ADAPTER_STATE_NONE ? ADAPTER_EVENT_NONE
                                               : ADAPTER_EVENT_STATUS;
    if (ev->state == ADAPTER_STATE_FAILED)
        snprintf(ev->error, sizeof(ev->error), "dlr_%ld", type);
    return RELAY_OK;
}

/* Appends code point cp as UTF-8 to out (room for 4 bytes assumed). */
static size_t put_utf8(unsigned char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * The MO body as UTF-8 in a new heap string. Kannel's post-url sends
 * charset="UTF-8" for GSM-7 messages and charset="UTF-16BE" for UCS-2
 * ones (verified with 1.4.5); ISO-8859-1 is converted too. Returns
 * RELAY_OK, 1 when the body cannot be converted (odd UTF-16 length, lone
 * surrogate: *text stays NULL), or RELAY_ENOMEM.
 */
static int body_to_utf8(const struct adapter_webhook_req *req, char **text,
                        size_t *text_len)
{
    char ctype[128];
    const unsigned char *b = (const unsigned char *)req->body;
    size_t n = req->body_len, o = 0;
    unsigned char *out;
    int utf16 = 0, latin1 = 0;

    if (adapter_header_get(req->headers, req->nheaders, "Content-Type", ctype,
                           sizeof(ctype)) == RELAY_OK) {
        for (char *p = ctype; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        utf16 = strstr(ctype, "UTF-16BE") || strstr(ctype, "UCS-2");
        latin1 = strstr(ctype, "ISO-8859-1") || strstr(ctype, "LATIN1");
    }
    *text = NULL;
    *text_len = 0;
    out = malloc(2 * n + 1);
    if (!out)
        return RELAY_ENOMEM;
    if (utf16) {
        if (n % 2)
            goto bad;
        for (size_t i = 0; i < n; i += 2) {
            uint32_t u = (uint32_t)b[i] << 8 | b[i + 1];

            if (u >= 0xD800 && u <= 0xDBFF && i + 3 < n) {
                uint32_t l = (uint32_t)b[i + 2] << 8 | b[i + 3];

                if (l < 0xDC00 || l > 0xDFFF)
                    goto bad;
                u = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
                i += 2;
            } else if (u >= 0xD800 && u <= 0xDFFF) {
                goto bad;
            }
            o += put_utf8(out + o, u);
        }
    } else if (latin1) {
        for (size_t i = 0; i < n; i++)
            o += put_utf8(out + o, b[i]);
    } else {
        if (n)
            memcpy(out, b, n);
        o = n;
    }
    out[o] = '\0';
    *text = (char *)out;
    *text_len = o;
    return RELAY_OK;
bad:
    sodium_memzero(out, 2 * n + 1);
    free(out);
    return 1;
}

static int parse_mo(struct kannel *k, const struct adapter_webhook_req *req,
                    const char *query, struct adapter_event *ev)
{
    char from[SMS_PHONE_INPUT_MAX + 1];
    char *text = NULL;
    size_t text_len = 0;
    struct sms_info info;
    int rc;

    if (adapter_form_get(query, strlen(query), "id", ev->provider_id,
                         sizeof(ev->provider_id), NULL) < 0)
        ev->provider_id[0] = '\0';
    if (strcmp(req->method, "POST") == 0) {
        rc = adapter_header_get(req->headers, req->nheaders, "X-Kannel-From",
                                from, sizeof(from));
        if (rc < 0)
            return RELAY_EINVAL;
        rc = body_to_utf8(req, &text, &text_len);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            ev->type = ADAPTER_EVENT_NONE; /* acknowledge, drop */
            return RELAY_OK;
        }
    } else {
        size_t cap = strlen(query) + 1;

        if (adapter_form_get(query, strlen(query), "from", from, sizeof(from),
                             NULL) < 0)
            return RELAY_EINVAL;
        text = malloc(cap);
        if (!text)
            return RELAY_ENOMEM;
        rc = adapter_form_get(query, strlen(query), "text", text, cap,
                              &text_len);
        if (rc == RELAY_ENOTFOUND) {
            text[0] = '\0';
            text_len = 0;
        } else if (rc < 0) {
            free(text);
            return RELAY_EINVAL;
        }
    }
    /* A sender we cannot normalise, or a text that is not UTF-8, cannot
     * become a tip: acknowledge (so Kannel stops retrying) and drop. */
    if (sms_phone_normalize(from, SMS_PHONE_BARE_INTL, ev->from) < 0 ||
        (text_len > 0 && (memchr(text, '\0', text_len) ||
                          sms_text_measure(text, text_len, &info) < 0))) {
        sodium_memzero(text, text_len);
        free(text);
        sodium_memzero(ev->from, sizeof(ev->from));
        ev->type = ADAPTER_EVENT_NONE;
        return RELAY_OK;
    }
    ev->type = ADAPTER_EVENT_MO;
    ev->text = text;
    ev->text_len = text_len;
    return RELAY_OK;
}

static int kannel_parse_webhook(void *priv,
                                const struct adapter_webhook_req *req,
                                struct adapter_event *out)
{
    struct kannel *k = priv;
    const char *query = adapter_query(req->path);
    int rc;

    memset(out, 0, sizeof(*out));
    out->http_status = 200;
    out->reply_type = "text/plain";
    out->reply_body = "";
    if (adapter_path_is(req->path, "kannel", "dlr")) {
        if (check_token(k, query) < 0)
            return RELAY_EAUTH;
        return parse_dlr(k, query, out);
    }
    if (adapter_path_is(req->path, "kannel", "mo")) {
        if (check_token(k, query) < 0)
            return RELAY_EAUTH;
        rc = parse_mo(k, req, query, out);
        if (rc < 0)
            adapter_event_cleanup(out);
        return rc;
    }
    return RELAY_ENOTFOUND;
}

const struct adapter_ops adapter_kannel = {
    .name = "kannel",
    .caps = ADAPTER_CAP_SMS | ADAPTER_CAP_DLR | ADAPTER_CAP_MO,
    .address_kind = "phone",
    .priv_size = sizeof(struct kannel),
    .options = kannel_options,
    .init = kannel_init,
    .cleanup = kannel_cleanup,
    .build_request = kannel_build_request,
    .parse_response = kannel_parse_response,
    .parse_webhook = kannel_parse_webhook,
};
