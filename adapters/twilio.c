/*
 * twilio.c - SMS through Twilio's Programmable Messaging REST API.
 *
 * SEND: POST {api-url}/2010-04-01/Accounts/{sid}/Messages.json,
 * form-encoded To, From (or MessagingServiceSid), Body, StatusCallback =
 * {hook}/status?d={delivery}; HTTP basic auth sid:auth-token.
 * Replies: 201 with {"sid": "SM..."} = accepted; 429 (error 20429) and
 * 5xx = retry, honouring Retry-After (Twilio: "429 responses aren't
 * processed and are safe to retry"); 401/403/404 = credentials or account
 * wrong, a configuration fault, so retry until fixed or dead-lettered;
 * other 4xx (21211 invalid To, 21614 not a mobile, ...) = failed for good.
 * Twilio has no idempotency key for Messages: a request that timed out
 * may have been sent, and retrying it may send twice (the outbox's
 * documented trade-off for urgent alerts).
 *
 * WEBHOOKS, both POSTs with form bodies, both signed:
 *   {hook}/status?d={delivery}  MessageSid, MessageStatus, ErrorCode
 *   {hook}/mo                   an incoming SMS: MessageSid, From, Body
 * X-Twilio-Signature = base64(HMAC-SHA1(auth token, the full URL as
 * Twilio called it + every POST parameter's name and value, sorted by
 * name)), compared in constant time; a missing or wrong signature is
 * RELAY_EAUTH. MO is answered with empty TwiML (no automatic reply).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "adapter.h"
#include "error.h"
#include "hmac_sha1.h"
#include "json_strict.h"

#define TWILIO_PARAMS_MAX 64 /* POST parameters of one webhook */
#define TWILIO_SIG_MAX 64    /* base64 of 20 bytes is 28 */

struct twilio {
    char api_url[CONFIG_STR_MAX];
    char account_sid[CONFIG_STR_MAX];
    char auth_token_file[CONFIG_STR_MAX];
    char from[CONFIG_STR_MAX];
    char messaging_service_sid[CONFIG_STR_MAX];
    /* loaded by init */
    char token[ADAPTER_SECRET_MAX + 1];
};

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

static int check_sid(const char *value, char *why, size_t whylen)
{
    size_t n = strlen(value);

    for (size_t i = 0; i < n; i++) {
        char c = value[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9')))
            n = 0;
    }
    if (n < 2 || n > 64) {
        snprintf(why, whylen, "not an id of 2 to 64 letters and digits");
        return RELAY_EINVAL;
    }
    return 0;
}

#define TOFF(f) offsetof(struct twilio, f)

static const struct config_option twilio_options[] = {
    {"api-url", CONFIG_T_STRING, TOFF(api_url), 0, 0, "https://api.twilio.com",
     0, check_url, 0},
    {"account-sid", CONFIG_T_STRING, TOFF(account_sid), 0, 0, NULL, 0,
     check_sid, 0},
    {"auth-token-file", CONFIG_T_STRING, TOFF(auth_token_file), 0, 0, NULL,
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"from", CONFIG_T_STRING, TOFF(from), 0, 0, NULL, 0, NULL, 0},
    {"messaging-service-sid", CONFIG_T_STRING, TOFF(messaging_service_sid), 0,
     0, NULL, 0, check_sid, 0},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

static int twilio_init(void *priv, char *err, size_t errlen)
{
    struct twilio *t = priv;
    char why[256];
    int rc;

    if (!t->account_sid[0]) {
        snprintf(err, errlen, "twilio.account-sid is required");
        return RELAY_ECONFIG;
    }
    if (!t->from[0] && !t->messaging_service_sid[0]) {
        snprintf(err, errlen,
                 "twilio: set twilio.from or twilio.messaging-service-sid");
        return RELAY_ECONFIG;
    }
    rc = adapter_read_secret(t->auth_token_file, t->token, sizeof(t->token),
                             why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "twilio.auth-token-file: %s", why);
        return rc;
    }
    return RELAY_OK;
}

static void twilio_cleanup(void *priv)
{
    struct twilio *t = priv;

    sodium_memzero(t->token, sizeof(t->token));
}

/* "Authorization: Basic base64(sid:token)" as a heap string. */
static char *basic_auth(const struct twilio *t)
{
    struct adapter_buf cred = {0}, h = {0};
    char b64[sodium_base64_ENCODED_LEN(2 * ADAPTER_SECRET_MAX + 2,
                                       sodium_base64_VARIANT_ORIGINAL)];

    adapter_buf_adds(&cred, t->account_sid);
    adapter_buf_adds(&cred, ":");
    adapter_buf_adds(&cred, t->token);
    if (cred.oom || cred.len > 2 * ADAPTER_SECRET_MAX + 2) {
        adapter_buf_free(&cred);
        return NULL;
    }
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)cred.p, cred.len,
                      sodium_base64_VARIANT_ORIGINAL);
    adapter_buf_free(&cred);
    adapter_buf_adds(&h, "Authorization: Basic ");
    adapter_buf_adds(&h, b64);
    sodium_memzero(b64, sizeof(b64));
    return adapter_buf_take(&h, NULL);
}

static int twilio_build_request(void *priv, const struct adapter_msg *msg,
                                struct adapter_request *req)
{
    struct twilio *t = priv;
    struct adapter_buf body = {0}, url = {0}, cb = {0};
    char *text;

    if (!adapter_id_valid(msg->delivery_id) || !msg->text || !msg->to)
        return RELAY_EINVAL;
    text = malloc(msg->text_len + 1);
    if (!text)
        return RELAY_ENOMEM;
    memcpy(text, msg->text, msg->text_len);
    text[msg->text_len] = '\0';

    adapter_buf_adds(&cb, msg->hook_url);
    adapter_buf_adds(&cb, "/status?d=");
    adapter_buf_adds(&cb, msg->delivery_id);

    adapter_buf_add_param(&body, "To", msg->to);
    if (t->messaging_service_sid[0])
        adapter_buf_add_param(&body, "MessagingServiceSid",
                              t->messaging_service_sid);
    else
        adapter_buf_add_param(&body, "From", t->from);
    adapter_buf_add_param(&body, "Body", text);
    adapter_buf_add_param(&body, "StatusCallback", cb.p ? cb.p : "");
    sodium_memzero(text, msg->text_len);
    free(text);
    adapter_buf_free(&cb);

    adapter_buf_adds(&url, t->api_url);
    adapter_buf_adds(&url, "/2010-04-01/Accounts/");
    adapter_buf_adds(&url, t->account_sid);
    adapter_buf_adds(&url, "/Messages.json");

    req->method = "POST";
    req->url = adapter_buf_take(&url, NULL);
    req->body = adapter_buf_take(&body, &req->body_len);
    req->headers[0] = basic_auth(t);
    req->headers[1] = strdup("Content-Type: application/x-www-form-urlencoded");
    req->headers[2] = strdup("Accept: application/json");
    req->nheaders = 3;
    if (!req->url || !req->body || !req->headers[0] || !req->headers[1] ||
        !req->headers[2]) {
        adapter_request_cleanup(req);
        return RELAY_ENOMEM;
    }
    return RELAY_OK;
}

/* Copies a JSON string or number member of 'obj' into out ("" if none). */
static void json_member(const cJSON *obj, const char *name, char *out,
                        size_t outlen)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;

    out[0] = '\0';
    if (cJSON_IsString(v) && v->valuestring)
        snprintf(out, outlen, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(out, outlen, "%.0f", v->valuedouble);
}

static int twilio_parse_response(void *priv, long status, const char *body,
                                 size_t len, const char *retry_after,
                                 struct adapter_result *out)
{
    const char *why = NULL;
    cJSON *root = len > 0 ? json_strict_parse(body, len, 16, &why) : NULL;
    char code[ADAPTER_ERROR_MAX + 1];

    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    if (status >= 200 && status < 300) {
        /* Created: even without a readable sid it was sent, and sending
         * again would duplicate it. */
        out->verdict = ADAPTER_SENT;
        json_member(root, "sid", out->provider_id, sizeof(out->provider_id));
        cJSON_Delete(root);
        return RELAY_OK;
    }
    json_member(root, "code", code, sizeof(code));
    cJSON_Delete(root);
    if (code[0])
        snprintf(out->error, sizeof(out->error), "%s", code);
    else
        snprintf(out->error, sizeof(out->error), "http_%ld", status);
    if (status == 401 || status == 403 || status == 404 || status == 408 ||
        status == 429 || status >= 500 || status < 200) {
        out->verdict = ADAPTER_RETRY;
        out->retry_after_s = adapter_retry_after(retry_after, time(NULL));
        return RELAY_OK;
    }
    out->verdict = ADAPTER_FAILED;
    return RELAY_OK;
}

/* One decoded POST parameter, pointing into a scratch buffer. */
struct param {
    const char *name, *value;
    size_t value_len;
    int index; /* original position: ties keep their order */
};

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : x->index - y->index;
}

/*
 * Decodes the form body into params (names and values copied into
 * 'store', store_cap bytes). Returns the count or a RELAY_* error.
 */
static int parse_params(const char *body, size_t len, struct param *params,
                        char *store, size_t store_cap)
{
    struct adapter_form_iter it;
    size_t used = 0;
    int n = 0;

    adapter_form_begin(&it, body, len);
    for (;;) {
        char *name = store + used;
        char *value;
        size_t vlen, left = store_cap - used;
        int rc;

        if (left < 2)
            return RELAY_ETOOBIG;
        /* name and value each get at most what is left; the decoded
         * form is never longer than the encoded one */
        value = name + left / 2;
        rc = adapter_form_next(&it, name, left / 2, value, left - left / 2,
                               &vlen);
        if (rc <= 0)
            return rc < 0 ? rc : n;
        if (n == TWILIO_PARAMS_MAX)
            return RELAY_ETOOBIG;
        /* compact: move the value right after the name */
        memmove(name + strlen(name) + 1, value, vlen + 1);
        value = name + strlen(name) + 1;
        params[n].name = name;
        params[n].value = value;
        params[n].value_len = vlen;
        params[n].index = n;
        used += strlen(name) + 1 + vlen + 1;
        n++;
    }
}

/* Checks X-Twilio-Signature over req->url and the sorted parameters. */
static int verify_signature(const struct twilio *t,
                            const struct adapter_webhook_req *req,
                            struct param *params, int n)
{
    char sig[TWILIO_SIG_MAX + 1];
    char want[sodium_base64_ENCODED_LEN(SHA1_BYTES,
                                        sodium_base64_VARIANT_ORIGINAL)];
    unsigned char mac[SHA1_BYTES];
    struct hmac_sha1_state s;

    if (adapter_header_get(req->headers, req->nheaders, "X-Twilio-Signature",
                           sig, sizeof(sig)) < 0 ||
        !req->url)
        return RELAY_EAUTH;
    qsort(params, (size_t)n, sizeof(params[0]), param_cmp);
    hmac_sha1_init(&s, t->token, strlen(t->token));
    hmac_sha1_update(&s, req->url, strlen(req->url));
    for (int i = 0; i < n; i++) {
        hmac_sha1_update(&s, params[i].name, strlen(params[i].name));
        hmac_sha1_update(&s, params[i].value, params[i].value_len);
    }
    hmac_sha1_final(&s, mac);
    sodium_bin2base64(want, sizeof(want), mac, sizeof(mac),
                      sodium_base64_VARIANT_ORIGINAL);
    return adapter_str_equal(sig, want) ? RELAY_OK : RELAY_EAUTH;
}

static const struct param *find_param(const struct param *params, int n,
                                      const char *name)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(params[i].name, name) == 0)
            return &params[i];
    }
    return NULL;
}

static enum adapter_state status_state(const char *s)
{
    static const struct {
        const char *name;
        enum adapter_state state;
    } map[] = {
        {"accepted", ADAPTER_STATE_SENT},
        {"scheduled", ADAPTER_STATE_SENT},
        {"queued", ADAPTER_STATE_SENT},
        {"sending", ADAPTER_STATE_SENT},
        {"sent", ADAPTER_STATE_SENT},
        {"delivered", ADAPTER_STATE_DELIVERED},
        {"read", ADAPTER_STATE_READ},
        {"failed", ADAPTER_STATE_FAILED},
        {"undelivered", ADAPTER_STATE_FAILED},
        {"canceled", ADAPTER_STATE_FAILED},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(s, map[i].name) == 0)
            return map[i].state;
    }
    return ADAPTER_STATE_NONE;
}

static void copy_param(const struct param *p, char *out, size_t outlen)
{
    out[0] = '\0';
    if (p && p->value_len < outlen)
        memcpy(out, p->value, p->value_len + 1);
}

static int fill_event(const struct adapter_webhook_req *req, int is_mo,
                      const struct param *params, int n,
                      struct adapter_event *ev)
{
    const struct param *p;

    copy_param(find_param(params, n, "MessageSid"), ev->provider_id,
               sizeof(ev->provider_id));
    if (!is_mo) {
        const char *q = adapter_query(req->path);

        if (adapter_form_get(q, strlen(q), "d", ev->delivery_id,
                             sizeof(ev->delivery_id), NULL) < 0 ||
            !adapter_id_valid(ev->delivery_id))
            return RELAY_EINVAL;
        p = find_param(params, n, "MessageStatus");
        if (!p)
            return RELAY_EINVAL;
        ev->state = status_state(p->value);
        ev->type = ev->state == ADAPTER_STATE_NONE ? ADAPTER_EVENT_NONE
                                                   : ADAPTER_EVENT_STATUS;
        copy_param(find_param(params, n, "ErrorCode"), ev->error,
                   sizeof(ev->error));
        return RELAY_OK;
    }
    ev->reply_type = "text/xml";
    ev->reply_body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                     "<Response></Response>";
    p = find_param(params, n, "From");
    if (!p || sms_phone_normalize(p->value, 0, ev->from) < 0) {
        ev->type = ADAPTER_EVENT_NONE; /* not a phone: nothing to tie */
        return RELAY_OK;
    }
    p = find_param(params, n, "Body");
    ev->text = malloc(p ? p->value_len + 1 : 1);
    if (!ev->text)
        return RELAY_ENOMEM;
    ev->text_len = p ? p->value_len : 0;
    memcpy(ev->text, p ? p->value : "", ev->text_len + 1);
    ev->type = ADAPTER_EVENT_MO;
    return RELAY_OK;
}

static int twilio_parse_webhook(void *priv,
                                const struct adapter_webhook_req *req,
                                struct adapter_event *out)
{
    struct twilio *t = priv;
    struct param params[TWILIO_PARAMS_MAX];
    size_t store_cap = 2 * req->body_len + 512;
    char *store;
    int is_mo, n, rc;

    memset(out, 0, sizeof(*out));
    out->http_status = 200;
    out->reply_type = "text/plain";
    out->reply_body = "";
    if (adapter_path_is(req->path, "twilio", "mo"))
        is_mo = 1;
    else if (adapter_path_is(req->path, "twilio", "status"))
        is_mo = 0;
    else
        return RELAY_ENOTFOUND;
    if (strcmp(req->method, "POST") != 0)
        return RELAY_EINVAL;
    store = malloc(store_cap);
    if (!store)
        return RELAY_ENOMEM;
    n = parse_params(req->body, req->body_len, params, store, store_cap);
    if (n < 0) {
        rc = RELAY_EINVAL;
        goto out_free_store;
    }
    rc = verify_signature(t, req, params, n);
    if (rc < 0)
        goto out_free_store;
    rc = fill_event(req, is_mo, params, n, out);
    if (rc < 0)
        adapter_event_cleanup(out);
out_free_store:
    sodium_memzero(store, store_cap);
    free(store);
    return rc;
}

const struct adapter_ops adapter_twilio = {
    .name = "twilio",
    .caps = ADAPTER_CAP_SMS | ADAPTER_CAP_DLR | ADAPTER_CAP_MO,
    .address_kind = "phone",
    .priv_size = sizeof(struct twilio),
    .options = twilio_options,
    .init = twilio_init,
    .cleanup = twilio_cleanup,
    .build_request = twilio_build_request,
    .parse_response = twilio_parse_response,
    .parse_webhook = twilio_parse_webhook,
};
