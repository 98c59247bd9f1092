#include "http_api.h"
#include "http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "areas.h"
#include "auth.h"
#include "channel.h"
#include "error.h"
#include "group_api.h"
#include "guard.h"

#include "json_strict.h"
#include "log.h"
#include "password.h"
#include "outbox.h"
#include "permissions.h"
#include "post.h"
#include "protocol.h"
#include "token.h"

/* At most this many Argon2id checks at once: each holds 64 MiB and a core. */
#define LOGINS_IN_FLIGHT_MAX 4

/* A syntactically valid Argon2id hash that matches no password: unknown
 * logins are checked against it so they cost as much as known ones. */
static char dummy_hash[PASSWORD_HASH_MAX];
static int logins_in_flight;

int http_respond(struct lws *wsi, unsigned status, const char *ctype,
                 const char *body, size_t len)
{
    size_t cap = LWS_PRE + 1024 + len;
    unsigned char *buf = malloc(cap);
    unsigned char *start, *p, *end;
    int rc = -1;

    if (!buf)
        return -1;
    start = p = buf + LWS_PRE;
    end = buf + cap;
    if (lws_add_http_common_headers(wsi, status, ctype, (lws_filepos_t)len, &p,
                                    end) ||
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"cache-control:",
            (const unsigned char *)"no-store", 8, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        goto out;
    if (len) {
        memcpy(start, body, len);
        if (lws_write(wsi, start, len, LWS_WRITE_HTTP_FINAL) != (int)len)
            goto out;
    }
    rc = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
    free(buf);
    return rc;
}

static unsigned status_of(const char *code)
{
    static const struct {
        const char *code;
        unsigned status;
    } map[] = {
        {PROTO_E_BAD_REQUEST, 400},  {PROTO_E_UNAUTHORIZED, 401},
        {PROTO_E_FORBIDDEN, 403},    {PROTO_E_NOT_FOUND, 404},
        {PROTO_E_CONFLICT, 409},     {PROTO_E_TOO_LARGE, 413},
        {PROTO_E_RATE_LIMITED, 429}, {PROTO_E_UNAVAILABLE, 503},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].code, code) == 0)
            return map[i].status;
    return 500;
}

static void free_state(struct http_request_state *r)
{
    sodium_memzero(r->password, sizeof(r->password));
    for (int i = 0; i < r->nheaders; i++) {
        /* Authorization and signatures are credentials */
        sodium_memzero(r->headers[i], strlen(r->headers[i]));
        free(r->headers[i]);
    }
    free(r->target);
    free(r->body);
    free(r->response);
    free(r);
}

/* Stores the answer and asks lws for a writeable callback; frees the
 * state instead when the client already left. Takes 'json' (heap). */
void answer(struct http_request_state *r, unsigned status, char *json)
{
    r->busy = 0;
    if (!r->wsi) {
        free(json);
        free_state(r);
        return;
    }
    r->status = status;
    r->response = json;
    r->answered = 1;
    lws_callback_on_writable(r->wsi);
}

void answer_error(struct http_request_state *r, const char *code,
                  const char *message)
{
    answer(r, status_of(code),
           proto_build_error(code, message, NULL, r->idem[0] ? r->idem : NULL,
                             -1));
}

/* Keeps the Authorization header for the request (ignored if too long
 * to be a token). */
void copy_authz(struct http_request_state *r, struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) <
        (int)sizeof(r->authz))
        lws_hdr_copy(wsi, r->authz, sizeof(r->authz),
                     WSI_TOKEN_HTTP_AUTHORIZATION);
}

/* Verifies "Bearer <token>" (signature, audience, expiry; revocation is
 * auth_load's). Answers 401 and returns -1 when it is not valid. */
int bearer_claims(struct http_request_state *r, struct token_claims *claims)
{
    if (strncmp(r->authz, "Bearer ", 7) != 0 ||
        token_verify(r->relay->token_key, r->authz + 7,
                     r->relay->cfg.token_audience, (int64_t)time(NULL),
                     claims) < 0) {
        answer_error(r, PROTO_E_UNAUTHORIZED,
                     "expected Authorization: Bearer <valid token>");
        return -1;
    }
    return 0;
}

int http_api_begin(struct relay *relay, struct lws *wsi, const char *uri,
                   struct http_request_state **slot)
{
    struct http_request_state *r;
    enum api_route route;

    if (strcmp(uri, "/api/v1/session") == 0)
        route = API_SESSION;
    else if (strcmp(uri, "/api/v1/posts") == 0)
        route = API_POSTS;
    else if (strcmp(uri, "/api/v1/areas/resolve") == 0)
        route = API_RESOLVE;
    else if (strcmp(uri, "/api/v1/groups") == 0)
        route = API_GROUPS;
    else
        return 0;
    r = calloc(1, sizeof(*r));
    if (!r)
        return 0;
    r->relay = relay;
    r->wsi = wsi;
    r->route = route;
    lws_get_peer_simple(wsi, r->ip, sizeof(r->ip));
    copy_authz(r, wsi);
    if (lws_hdr_custom_length(wsi, "idempotency-key:", 16) > 0 &&
        lws_hdr_custom_length(wsi, "idempotency-key:", 16) <= PROTO_REF_MAX)
        lws_hdr_custom_copy(wsi, r->idem, sizeof(r->idem),
                            "idempotency-key:", 16);
    *slot = r;
    return 1;
}

void http_api_body(struct http_request_state *r, const void *in, size_t len)
{
    char *b;

    if (r->too_large)
        return;
    if (r->len + len > (r->route == API_HOOK
                            ? (size_t)r->relay->cfg.max_hook_body
                            : (size_t)r->relay->cfg.max_frame)) {
        r->too_large = 1;
        return;
    }
    b = realloc(r->body, r->len + len + 1);
    if (!b) {
        r->too_large = 1;
        return;
    }
    memcpy(b + r->len, in, len);
    r->len += len;
    b[r->len] = '\0';
    r->body = b;
}

/* ---- POST /api/v1/session ----------------------------------------------- */

static void verify_work(uv_work_t *w)
{
    struct http_request_state *r = w->data;

    /* On the thread pool: touches only this request's own buffers. */
    r->verified = password_verify(r->known ? r->hash : dummy_hash, r->password,
                                  r->password_len) == RELAY_OK;
    sodium_memzero(r->password, sizeof(r->password));
}

static void verify_done(uv_work_t *w, int status)
{
    struct http_request_state *r = w->data;
    struct relay *relay = r->relay;
    char token[TOKEN_MAX], expires[40];
    struct token_claims claims;
    int64_t now = (int64_t)time(NULL);
    int64_t iat = now > r->tokens_after ? now : (int64_t)r->tokens_after;
    cJSON *o;
    char *json;

    logins_in_flight--;
    if (status != 0 || !r->known || !r->verified) {
        log_info("api", "login refused");
        guard_audit(r->relay, NULL, r->ip, "login.refuse", "-", "denied");
        answer_error(r, PROTO_E_UNAUTHORIZED,
                     "unknown login or wrong "
                     "password");
        return;
    }
    if (token_issue(relay->token_key, r->user_id, r->role,
                    relay->cfg.token_audience, iat, relay->cfg.token_ttl, token,
                    sizeof(token), &claims) < 0) {
        answer_error(r, PROTO_E_INTERNAL, "cannot issue a token");
        return;
    }
    proto_format_time((double)claims.exp, expires, sizeof(expires));
    o = cJSON_CreateObject();
    if (o) {
        cJSON *u = cJSON_AddObjectToObject(o, "user");

        cJSON_AddStringToObject(o, "token", token);
        cJSON_AddStringToObject(o, "expires", expires);
        if (u) {
            cJSON_AddStringToObject(u, "id", r->user_id);
            cJSON_AddStringToObject(u, "role", r->role);
        }
    }
    sodium_memzero(token, sizeof(token));
    json = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    log_info("api", "login: user %s", r->user_id);
    answer(r, json ? 200 : 500, json);
}

/* KEYS [1] login:{login}. Returns {} or {id, pw, role, disabled,
 * tokens_after}. */
static const char login_script[] =
    "local id = redis.call('GET', KEYS[1])\n"
    "if not id then return {} end\n"
    "local u = redis.call('HMGET', 'user:' .. id, 'pw', 'role', 'disabled',"
    " 'tokens_after')\n"
    "for i = 1, 4 do if not u[i] then u[i] = '' end end\n"
    "return {id, u[1], u[2], u[3], u[4]}\n";

static void copy_str(char *out, size_t outlen, const redisReply *e)
{
    if (e->type == REDIS_REPLY_STRING && e->len < outlen) {
        memcpy(out, e->str, e->len);
        out[e->len] = '\0';
    } else {
        out[0] = '\0';
    }
}

static void login_loaded(void *arg, redisReply *reply)
{
    struct http_request_state *r = arg;

    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        logins_in_flight--;
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
        return;
    }
    if (reply->elements == 5) {
        char disabled[4], after[24];

        copy_str(r->user_id, sizeof(r->user_id), reply->element[0]);
        copy_str(r->hash, sizeof(r->hash), reply->element[1]);
        copy_str(r->role, sizeof(r->role), reply->element[2]);
        copy_str(disabled, sizeof(disabled), reply->element[3]);
        copy_str(after, sizeof(after), reply->element[4]);
        r->tokens_after = strtoll(after, NULL, 10);
        r->known = r->user_id[0] && r->hash[0] && strcmp(disabled, "1") != 0;
    }
    r->work.data = r;
    if (uv_queue_work(r->relay->loop, &r->work, verify_work, verify_done) !=
        0) {
        logins_in_flight--;
        answer_error(r, PROTO_E_INTERNAL, "cannot check the password");
    }
}

static void start_login(struct http_request_state *r)
{
    cJSON *root;
    const cJSON *login, *password;
    const char *why;
    char key[96];
    size_t n;

    root = json_strict_parse(r->body ? r->body : "", r->len, 4, &why);
    login = root ? cJSON_GetObjectItemCaseSensitive(root, "login") : NULL;
    password = root ? cJSON_GetObjectItemCaseSensitive(root, "password") : NULL;
    if (!cJSON_IsString(login) || !cJSON_IsString(password) ||
        strlen(login->valuestring) == 0 ||
        strlen(login->valuestring) >= sizeof(r->login) ||
        strlen(password->valuestring) > PASSWORD_MAX_LEN) {
        cJSON_Delete(root);
        answer_error(r, PROTO_E_BAD_REQUEST,
                     "expected {\"login\": string, \"password\": string}");
        return;
    }
    /* Logins are case-insensitive ASCII (user_store.h). */
    n = strlen(login->valuestring);
    for (size_t i = 0; i <= n; i++) {
        char c = login->valuestring[i];

        r->login[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    r->password_len = strlen(password->valuestring);
    memcpy(r->password, password->valuestring, r->password_len + 1);
    sodium_memzero(password->valuestring, r->password_len);
    cJSON_Delete(root);
    {
        int retry = 0;

        if (guard_take(r->relay, GUARD_LOGINS, r->ip, &retry) < 0) {
            guard_audit(r->relay, NULL, r->ip, "deny.login", "-", "denied");
            answer(r, 429,
                   proto_build_error(PROTO_E_RATE_LIMITED,
                                     "too many login attempts; retry later",
                                     NULL, NULL, retry));
            return;
        }
    }
    if (logins_in_flight >= LOGINS_IN_FLIGHT_MAX) {
        answer(r, 429,
               proto_build_error(PROTO_E_RATE_LIMITED,
                                 "too many logins at once; retry", NULL, NULL,
                                 1));
        return;
    }
    snprintf(key, sizeof(key), "login:%s", r->login);
    logins_in_flight++;
    if (redis_link_command(bus_command_link(r->relay->bus), login_loaded, r,
                           "EVAL %s 1 %s", login_script, key) < 0) {
        logins_in_flight--;
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
    }
}

/* ---- POST /api/v1/posts ------------------------------------------------- */

struct rest_post {
    struct http_request_state *r;
    cJSON *root;
    struct user user;
};

static void rest_post_done(void *arg, int rc, const struct proto_error *err,
                           const char *ack_json)
{
    struct http_request_state *r = arg;

    if (rc == RELAY_OK) {
        char *ack = post_build_ack(ack_json, r->idem, NULL);

        r->relay->metrics.posts_acked++;
        answer(r, ack ? 200 : 500, ack);
    } else {
        r->relay->metrics.posts_failed++;
        answer(r, status_of(err->code),
               proto_build_error_ex(err, NULL, r->idem));
    }
}

static void rest_post_authed(void *arg, int rc, const struct user *user)
{
    struct http_request_state *r = arg;
    struct proto_error err;
    struct proto_post post;
    const char *why;
    cJSON *root;

    if (rc < 0) {
        answer_error(r,
                     rc == RELAY_EUNAVAILABLE ? PROTO_E_UNAVAILABLE
                                              : PROTO_E_UNAUTHORIZED,
                     rc == RELAY_EUNAVAILABLE
                         ? "cannot check the token now; retry"
                         : "token revoked or account disabled");
        return;
    }
    root = json_strict_parse(r->body ? r->body : "", r->len, PROTO_MAX_DEPTH,
                             &why);
    if (!root) {
        snprintf(err.message, sizeof(err.message), "body: %s", why);
        answer_error(r, PROTO_E_BAD_REQUEST, err.message);
        return;
    }
    memset(&err, 0, sizeof(err));
    if (proto_parse_post(root, &post, &err) < 0) {
        cJSON_Delete(root);
        answer_error(r, err.code, err.message);
        return;
    }
    rc = perm_post(user, &post);
    if (rc < 0) {
        {
            char action[32];

            snprintf(action, sizeof(action), "deny.post.%s",
                     proto_post_kind_name(post.kind));
            guard_audit(r->relay, user, r->ip, action,
                        post.case_id ? post.case_id : "-", "denied");
        }
        proto_post_cleanup(&post);
        cJSON_Delete(root);
        answer_error(r, PROTO_E_FORBIDDEN, "your role may not post this here");
        return;
    }
    {
        int retry = 0;

        if (guard_take(r->relay, GUARD_POSTS, user->id, &retry) < 0) {
            proto_post_cleanup(&post);
            cJSON_Delete(root);
            answer(r, 429,
                   proto_build_error(PROTO_E_RATE_LIMITED,
                                     "too many posts; retry later", NULL,
                                     r->idem[0] ? r->idem : NULL, retry));
            return;
        }
    }
    if (!r->idem[0]) {
        /* No key given: a fresh one, so the post is simply not
         * deduplicated. */
        unsigned char rnd[12];

        randombytes_buf(rnd, sizeof(rnd));
        r->idem[0] = 'r';
        sodium_bin2hex(r->idem + 1, sizeof(r->idem) - 1, rnd, sizeof(rnd));
    }
    proto_post_cleanup(&post);
    memset(&err, 0, sizeof(err));
    rc = post_submit(r->relay, user, r->idem, root, rest_post_done, r, &err);
    cJSON_Delete(root);
    if (rc < 0)
        answer(r, status_of(err.code),
               proto_build_error_ex(&err, NULL, r->idem));
}

static void start_post(struct http_request_state *r)
{
    struct token_claims claims;

    if (bearer_claims(r, &claims) < 0)
        return;
    if (auth_load(bus_command_link(r->relay->bus), &claims, rest_post_authed,
                  r) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
}

/* ---- areas --------------------------------------------------------------- */

/* What a resolve request found, kept until the counts come back. */
struct resolve_state {
    const struct area_buurt *found[PROTO_AREA_MAX];
    size_t n;
};

/*
 * Answers {"buurten":[{code, name, wijk, wijknaam, gemeente, residents:
 * {ws, sms, chat}}]} from the counts (one HMGET reply per buurt).
 */
static void resolve_counted(void *arg, redisReply *reply)
{
    struct http_request_state *r = arg;
    struct resolve_state *rs = (struct resolve_state *)r->body;
    cJSON *root = cJSON_CreateObject();
    cJSON *list = root ? cJSON_AddArrayToObject(root, "buurten") : NULL;
    char *json;

    if (!reply || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != rs->n) {
        cJSON_Delete(root);
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
        return;
    }
    for (size_t i = 0; list && i < rs->n; i++) {
        const struct area_buurt *b = rs->found[i];
        const redisReply *c = reply->element[i];
        cJSON *o = cJSON_CreateObject();
        cJSON *res;
        static const char *const chans[] = {"ws", "sms", "chat"};

        if (!o)
            break;
        cJSON_AddStringToObject(o, "code", b->code);
        cJSON_AddStringToObject(o, "name", b->name);
        cJSON_AddStringToObject(o, "wijk", b->wijk);
        cJSON_AddStringToObject(o, "wijknaam", b->wijknaam);
        cJSON_AddStringToObject(o, "gemeente", b->gemeente);
        res = cJSON_AddObjectToObject(o, "residents");
        for (size_t k = 0; res && k < 3; k++) {
            long long v = 0;

            if (c->type == REDIS_REPLY_ARRAY && k < c->elements &&
                c->element[k]->type == REDIS_REPLY_STRING)
                v = strtoll(c->element[k]->str, NULL, 10);
            cJSON_AddNumberToObject(res, chans[k], (double)v);
        }
        cJSON_AddItemToArray(list, o);
    }
    json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    answer(r, json ? 200 : 500, json ? strdup(json) : NULL);
    if (json)
        cJSON_free(json);
}

/* Resident counts per channel live in stats:buurt:{code} (ws, sms, chat),
 * kept by the account scripts (user_store.c). */
static const char counts_script[] =
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  out[i] = redis.call('HMGET', k, 'ws', 'sms', 'chat')\n"
    "end\n"
    "return out\n";

static void start_resolve(struct http_request_state *r)
{
    const struct areas *a = r->relay->areas;
    struct resolve_state *rs;
    struct proto_error err;
    const cJSON *area;
    struct proto_area *pa = NULL;
    const char *why;
    cJSON *root;
    cJSON *fake;
    struct proto_post post;
    const char **argv;
    size_t *lens;
    char(*keys)[32];
    int rc = RELAY_EINVAL;

    if (!a) {
        answer_error(r, PROTO_E_NOT_FOUND, "this relay has no area data");
        return;
    }
    root = json_strict_parse(r->body ? r->body : "", r->len, PROTO_MAX_DEPTH,
                             &why);
    area = root ? cJSON_GetObjectItemCaseSensitive(root, "area") : NULL;
    if (!area) {
        cJSON_Delete(root);
        answer_error(r, PROTO_E_BAD_REQUEST, "expected {\"area\": AREA}");
        return;
    }
    /* Validate the area exactly as in an alert. */
    fake = cJSON_CreateObject();
    memset(&err, 0, sizeof(err));
    memset(&post, 0, sizeof(post));
    if (fake) {
        cJSON_AddStringToObject(fake, "kind", "update");
        cJSON_AddStringToObject(fake, "case", "c0");
        cJSON_AddStringToObject(fake, "body", "-");
        cJSON_AddItemReferenceToObject(fake, "area", (cJSON *)area);
        rc = proto_parse_post(fake, &post, &err);
        pa = post.area;
    }
    rs = calloc(1, sizeof(*rs));
    if (rc < 0 || !rs || !pa) {
        free(rs);
        proto_post_cleanup(&post);
        cJSON_Delete(fake);
        cJSON_Delete(root);
        answer_error(r, err.code ? err.code : PROTO_E_INTERNAL,
                     err.code ? err.message : "out of memory");
        return;
    }
    switch (pa->kind) {
    case PROTO_AREA_BUURTEN:
        rc = RELAY_OK;
        for (int i = 0; i < pa->count; i++) {
            const struct area_buurt *b = areas_find(a, pa->buurten[i]);

            if (b)
                rs->found[rs->n++] = b;
        }
        break;
    case PROTO_AREA_CIRCLE:
        rc = areas_resolve_circle(a, pa->lat, pa->lon, pa->radius_m, rs->found,
                                  PROTO_AREA_MAX, &rs->n);
        break;
    case PROTO_AREA_POLYGON:
        rc = areas_resolve_polygon(a, (const double(*)[2])pa->points, pa->count,
                                   rs->found, PROTO_AREA_MAX, &rs->n);
        break;
    default:
        rc = RELAY_OK;
        for (int i = 0; i < pa->count && rc >= 0; i++) {
            size_t got = 0;

            rc = areas_resolve_code(a, pa->buurten[i], rs->found + rs->n,
                                    PROTO_AREA_MAX - rs->n, &got);
            if (rc == RELAY_ENOTFOUND)
                rc = RELAY_OK;
            rs->n += got;
        }
        break;
    }
    proto_post_cleanup(&post);
    cJSON_Delete(fake);
    cJSON_Delete(root);
    if (rc < 0) {
        free(rs);
        answer_error(
            r, rc == RELAY_ETOOBIG ? PROTO_E_TOO_LARGE : PROTO_E_BAD_REQUEST,
            rc == RELAY_ETOOBIG ? "the area holds too many buurten"
                                : "cannot resolve this area");
        return;
    }
    /* The body is no longer needed: it now holds the result. */
    free(r->body);
    r->body = (char *)rs;
    if (rs->n == 0) {
        answer(r, 200, strdup("{\"buurten\":[]}"));
        return;
    }
    argv = calloc(rs->n + 3, sizeof(*argv));
    lens = calloc(rs->n + 3, sizeof(*lens));
    keys = calloc(rs->n, sizeof(*keys));
    if (argv && lens && keys) {
        char nkeys[24];

        snprintf(nkeys, sizeof(nkeys), "%zu", rs->n);
        argv[0] = "EVAL";
        argv[1] = counts_script;
        argv[2] = nkeys;
        for (size_t i = 0; i < rs->n; i++) {
            snprintf(keys[i], sizeof(keys[i]), "stats:buurt:%s",
                     rs->found[i]->code);
            argv[3 + i] = keys[i];
        }
        for (size_t i = 0; i < rs->n + 3; i++)
            lens[i] = strlen(argv[i]);
        rc = redis_link_argv(bus_command_link(r->relay->bus), resolve_counted,
                             r, (int)(rs->n + 3), argv, lens);
    } else {
        rc = RELAY_ENOMEM;
    }
    free(argv);
    free(lens);
    free(keys);
    if (rc < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
}

/* ---- DELETE /api/v1/session (logout) ------------------------------------- */

/* KEYS [1] revoked:{jti}; ARGV [1] exp, [2] jti. The same marks as
 * buurtctl token revoke, so every relay closes the token's connections. */
static const char logout_script[] =
    "redis.call('SET', KEYS[1], '1')\n"
    "redis.call('EXPIREAT', KEYS[1], ARGV[1])\n"
    "redis.call('PUBLISH', 'relay:control', 'revoke-jti ' .. ARGV[2])\n"
    "return 1\n";

static void logged_out(void *arg, redisReply *reply)
{
    struct http_request_state *r = arg;

    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
        return;
    }
    answer(r, 200, strdup("{\"revoked\":true}"));
}

/* Logout: the token in the Authorization header is revoked at once, on
 * every relay process (a lost phone is logged out from anywhere). */
int http_api_logout(struct relay *relay, struct lws *wsi,
                    struct http_request_state **slot)
{
    struct http_request_state *r = calloc(1, sizeof(*r));
    struct token_claims claims;
    char key[64];

    if (!r)
        return -1;
    r->relay = relay;
    r->wsi = wsi;
    r->route = API_SESSION;
    r->busy = 1;
    *slot = r;
    copy_authz(r, wsi);
    if (bearer_claims(r, &claims) < 0)
        return 0;
    snprintf(key, sizeof(key), "revoked:%s", claims.jti);
    if (redis_link_command(bus_command_link(relay->bus), logged_out, r,
                           "EVAL %s 1 %s %lld %s", logout_script, key,
                           (long long)claims.exp, claims.jti) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
    return 0;
}

/* ---- GET /api/v1/cases/{id} --------------------------------------------- */

/* KEYS [1] case:{id}, [2] case:{id}:events, [3] notify:dcases:{id}.
 * Returns {fields (flat HGETALL), events (newest 200, oldest first),
 * deliveries}: deliveries a flat list of (notice, "{channel}:{state}",
 * count) for every notice of the case (the appeal, updates, closing,
 * status messages: notify.h) from the outbox's dlv:{notice}:summary. */
static const char case_script[] =
    "local f = redis.call('HGETALL', KEYS[1])\n"
    "local e = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 200)\n"
    "local out = {}\n"
    "for i = #e, 1, -1 do out[#out + 1] = e[i] end\n"
    "local d = {}\n"
    "for _, n in ipairs(redis.call('SMEMBERS', KEYS[3])) do\n"
    "  local s = redis.call('HGETALL', 'dlv:' .. n .. ':summary')\n"
    "  for i = 1, #s, 2 do\n"
    "    d[#d + 1] = n\n"
    "    d[#d + 1] = s[i]\n"
    "    d[#d + 1] = s[i + 1]\n"
    "  end\n"
    "end\n"
    "return {f, out, d}\n";

/*
 * Adds "deliveries" to an officer's view: per channel and state the
 * number of deliveries now in that state over all the case's notices
 * ("total"), and the same per notice ("notices": {"{case}-x": ...}).
 */
static void add_deliveries(cJSON *root, const redisReply *d)
{
    cJSON *dl = cJSON_AddObjectToObject(root, "deliveries");
    cJSON *total = dl ? cJSON_AddObjectToObject(dl, "total") : NULL;
    cJSON *notices = dl ? cJSON_AddObjectToObject(dl, "notices") : NULL;

    if (!total || !notices)
        return;
    for (size_t i = 0; i + 3 <= d->elements; i += 3) {
        const redisReply *n = d->element[i], *k = d->element[i + 1],
                         *v = d->element[i + 2];
        char ch[64];
        const char *colon;
        double count;
        cJSON *targets[2];

        if (n->type != REDIS_REPLY_STRING || k->type != REDIS_REPLY_STRING ||
            v->type != REDIS_REPLY_STRING)
            continue;
        colon = strchr(k->str, ':');
        if (!colon || (size_t)(colon - k->str) >= sizeof(ch))
            continue;
        memcpy(ch, k->str, (size_t)(colon - k->str));
        ch[colon - k->str] = '\0';
        count = strtod(v->str, NULL);
        if (count <= 0)
            continue; /* a state every delivery has left */
        targets[0] = total;
        targets[1] = cJSON_GetObjectItemCaseSensitive(notices, n->str);
        if (!targets[1])
            targets[1] = cJSON_AddObjectToObject(notices, n->str);
        for (int t = 0; t < 2; t++) {
            cJSON *per, *st;

            if (!targets[t])
                continue;
            per = cJSON_GetObjectItemCaseSensitive(targets[t], ch);
            if (!per)
                per = cJSON_AddObjectToObject(targets[t], ch);
            if (!per)
                continue;
            st = cJSON_GetObjectItemCaseSensitive(per, colon + 1);
            if (st)
                cJSON_SetNumberValue(st, st->valuedouble + count);
            else
                cJSON_AddNumberToObject(per, colon + 1, count);
        }
    }
}

static const char *hash_get(const redisReply *f, const char *key)
{
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(f->element[i]->str, key) == 0 &&
            f->element[i + 1]->type == REDIS_REPLY_STRING)
            return f->element[i + 1]->str;
    return NULL;
}

/* Officers see the whole case; the person who reported (or posted) it sees
 * its own story: states, notes and their own words, not who handled it or
 * who else sent tips. */
static void case_read(void *arg, redisReply *reply)
{
    struct http_request_state *r = arg;
    struct rest_case {
        struct user user;
    } *rc_ = (struct rest_case *)r->body;
    const struct user *u = &rc_->user;
    const redisReply *f, *ev;
    const char *owner, *buurten;
    int officer = 0, entitled;
    cJSON *root, *c, *events;
    char *json;
    static const char *const public_fields[] = {
        "kind",    "state",  "category", "severity", "created",
        "updated", "closed", "overdue",  "outcome",  "purged"};
    static const char *const reporter_events[] = {"report", "status",
                                                  "feedback", "tip"};

    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY ||
        reply->element[1]->type != REDIS_REPLY_ARRAY ||
        reply->element[2]->type != REDIS_REPLY_ARRAY) {
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
        return;
    }
    f = reply->element[0];
    ev = reply->element[1];
    if (f->elements == 0) {
        answer_error(r, PROTO_E_NOT_FOUND, "no such case");
        return;
    }
    owner = hash_get(f, "owner");
    buurten = hash_get(f, "buurten");
    if (u->role == ROLE_POLICE || u->role == ROLE_ADMIN)
        officer = 1;
    else if (u->role == ROLE_BOA && buurten) {
        char code[11];

        for (const char *p = buurten; strlen(p) >= 10; p += 11) {
            memcpy(code, p, 10);
            code[10] = '\0';
            if (perm_boa_covers(u, code))
                officer = 1;
            if (p[10] != ',')
                break;
        }
    }
    entitled = officer || (owner && strcmp(owner, u->id) == 0);
    if (!entitled) {
        log_info("audit", "refused case read: user %s case %s", u->id,
                 r->case_id);
        answer_error(r, PROTO_E_FORBIDDEN, "not your case");
        return;
    }
    root = cJSON_CreateObject();
    c = root ? cJSON_AddObjectToObject(root, "case") : NULL;
    events = root ? cJSON_AddArrayToObject(root, "events") : NULL;
    if (!c || !events) {
        cJSON_Delete(root);
        answer_error(r, PROTO_E_INTERNAL, "out of memory");
        return;
    }
    cJSON_AddStringToObject(c, "id", r->case_id);
    for (size_t i = 0; i < sizeof(public_fields) / sizeof(*public_fields);
         i++) {
        const char *v = hash_get(f, public_fields[i]);

        if (v)
            cJSON_AddStringToObject(c, public_fields[i], v);
    }
    if (buurten)
        cJSON_AddStringToObject(c, "buurten", buurten);
    if (officer && owner &&
        !(hash_get(f, "anonymous") &&
          strcmp(hash_get(f, "anonymous"), "1") == 0))
        cJSON_AddStringToObject(c, "owner", owner);
    for (size_t i = 0; i < ev->elements; i++) {
        const redisReply *e = ev->element[i];
        const redisReply *fv;
        const char *kind = NULL, *by = NULL, *msg = NULL;
        int shown = officer;
        cJSON *o;

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        fv = e->element[1];
        kind = hash_get(fv, "kind");
        by = hash_get(fv, "by");
        msg = hash_get(fv, "msg");
        for (size_t k = 0;
             !shown && kind &&
             k < sizeof(reporter_events) / sizeof(*reporter_events);
             k++)
            if (strcmp(kind, reporter_events[k]) == 0)
                shown =
                    strcmp(kind, "tip") != 0 || (by && strcmp(by, u->id) == 0);
        if (!shown || !kind)
            continue;
        o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "kind", kind);
        if (officer && by)
            cJSON_AddStringToObject(o, "by", by);
        if (msg) {
            cJSON *m = cJSON_Parse(msg);

            if (m) {
                if (!officer) {
                    cJSON_DeleteItemFromObjectCaseSensitive(m, "tipper");
                    cJSON_DeleteItemFromObjectCaseSensitive(m, "reporter");
                }
                cJSON_AddItemToObject(o, "msg", m);
            }
        }
        cJSON_AddItemToArray(events, o);
    }
    if (officer)
        add_deliveries(root, reply->element[2]);
    json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    answer(r, json ? 200 : 500, json ? strdup(json) : NULL);
    if (json)
        cJSON_free(json);
}

static void case_authed(void *arg, int rc, const struct user *user)
{
    struct http_request_state *r = arg;
    char key[96], events[104], notices[112];
    struct user *copy;

    if (rc < 0) {
        answer_error(r,
                     rc == RELAY_EUNAVAILABLE ? PROTO_E_UNAVAILABLE
                                              : PROTO_E_UNAUTHORIZED,
                     "token refused");
        return;
    }
    copy = malloc(sizeof(*copy));
    if (!copy) {
        answer_error(r, PROTO_E_INTERNAL, "out of memory");
        return;
    }
    *copy = *user;
    free(r->body);
    r->body = (char *)copy;
    snprintf(key, sizeof(key), "case:%s", r->case_id);
    snprintf(events, sizeof(events), "case:%s:events", r->case_id);
    snprintf(notices, sizeof(notices), "notify:dcases:%s", r->case_id);
    if (redis_link_command(bus_command_link(r->relay->bus), case_read, r,
                           "EVAL %s 3 %s %s %s", case_script, key, events,
                           notices) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
}

/* GET /api/v1/cases/{id}: needs a token; answered asynchronously. */
int http_api_get_case(struct relay *relay, struct lws *wsi, const char *uri,
                      struct http_request_state **slot)
{
    struct http_request_state *r;
    struct token_claims claims;
    const char *id = uri + strlen("/api/v1/cases/");

    if (!channel_is_id(id))
        return http_respond(wsi, 404, "application/json",
                            "{\"error\":\"not found\"}", 21);
    r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->relay = relay;
    r->wsi = wsi;
    r->route = API_CASE;
    r->busy = 1;
    snprintf(r->case_id, sizeof(r->case_id), "%s", id);
    *slot = r;
    copy_authz(r, wsi);
    if (bearer_claims(r, &claims) < 0)
        return 0;
    if (auth_load(bus_command_link(relay->bus), &claims, case_authed, r) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
    return 0;
}

int http_api_get(struct relay *relay, struct lws *wsi, const char *uri)
{
    const struct areas *a = relay->areas;
    char code[32];
    const char *value;
    char *json;
    int rc;

    if (strcmp(uri, "/api/v1/areas") == 0) {
        if (!a)
            return http_respond(wsi, 404, "application/json",
                                "{\"error\":\"no area data\"}", 24);
        /* lws copies "code=VALUE" and returns VALUE's start. */
        if ((value = lws_get_urlarg_by_name(wsi, "code=", code,
                                            sizeof(code))) != NULL)
            json = areas_geojson(a, value);
        else if (relay->areas_geojson)
            json = strdup(relay->areas_geojson);
        else
            json = areas_geojson(a, NULL);
        if (!json)
            return http_respond(wsi, 404, "application/json",
                                "{\"error\":\"unknown code\"}", 25);
        rc = http_respond(wsi, 200, "application/geo+json", json, strlen(json));
        free(json);
        return rc;
    }
    if (strncmp(uri, "/api/v1/postcode/", 17) == 0) {
        const char *p = uri + 17;
        const char *slash = strchr(p, '/');
        const struct area_buurt *b = NULL;
        char pc6[8], out[512];
        char *end;
        long number;

        if (!slash || slash - p != 6 || !a)
            return http_respond(wsi, 404, "application/json",
                                "{\"error\":\"not found\"}", 21);
        memcpy(pc6, p, 6);
        pc6[6] = '\0';
        number = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || number < 1 ||
            areas_postcode(a, pc6, (int)number, &b) < 0 || !b)
            return http_respond(wsi, 404, "application/json",
                                "{\"error\":\"not found\"}", 21);
        {
            cJSON *o = cJSON_CreateObject();
            char *s;

            if (!o)
                return -1;
            cJSON_AddStringToObject(o, "buurt", b->code);
            cJSON_AddStringToObject(o, "wijk", b->wijk);
            cJSON_AddStringToObject(o, "gemeente", b->gemeente);
            cJSON_AddStringToObject(o, "name", b->name);
            cJSON_AddStringToObject(o, "wijknaam", b->wijknaam);
            cJSON_AddStringToObject(o, "gemeentenaam", b->gemeentenaam);
            s = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            snprintf(out, sizeof(out), "%s", s ? s : "{}");
            if (s)
                cJSON_free(s);
        }
        return http_respond(wsi, 200, "application/json", out, strlen(out));
    }
    return 1; /* not ours */
}

/* ---- Webhooks: /hooks/{adapter}/... ---------------------------------- */

/* Stores a plain answer (not JSON) for a webhook. */
static void answer_hook(struct http_request_state *r, unsigned status,
                        const char *ctype, const char *body)
{
    char *copy = strdup(body ? body : "");

    snprintf(r->ctype, sizeof(r->ctype), "%s",
             ctype && ctype[0] ? ctype : "text/plain");
    if (!copy)
        status = 500;
    answer(r, status, copy);
}

static void hook_done(void *arg, int status, const char *content_type,
                      const char *body)
{
    answer_hook(arg, (unsigned)status, content_type, body);
}

static void start_hook(struct http_request_state *r)
{
    struct outbox_webhook_req req;
    int rc;

    if (r->too_large) {
        answer_hook(r, 413, "text/plain", "too large\n");
        return;
    }
    if (!r->relay->outbox) {
        answer_hook(r, 404, "text/plain", "not found\n");
        return;
    }
    memset(&req, 0, sizeof(req));
    req.method = r->method;
    req.path = r->target;
    req.headers = (const char *const *)r->headers;
    req.nheaders = r->nheaders;
    req.body = r->body ? r->body : "";
    req.body_len = r->len;
    rc = outbox_webhook(r->relay->outbox, r->adapter, &req, hook_done, r);
    switch (rc) {
    case RELAY_OK:
        return;
    case RELAY_ENOTFOUND:
        answer_hook(r, 404, "text/plain", "not found\n");
        break;
    case RELAY_EAUTH:
        answer_hook(r, 403, "text/plain", "forbidden\n");
        break;
    case RELAY_EINVAL:
        answer_hook(r, 400, "text/plain", "bad request\n");
        break;
    case RELAY_EUNAVAILABLE:
        answer_hook(r, 503, "text/plain", "unavailable\n");
        break;
    default:
        answer_hook(r, 500, "text/plain", "internal error\n");
        break;
    }
}

/* Copies one request header as "Name: value" when present. */
static int hook_header(struct http_request_state *r, struct lws *wsi,
                       const char *name, enum lws_token_indexes tok,
                       const char *custom)
{
    int len = custom ? lws_hdr_custom_length(wsi, custom, (int)strlen(custom))
                     : lws_hdr_total_length(wsi, tok);
    size_t nlen = strlen(name);
    char *h;

    if (len <= 0 || r->nheaders >= HOOK_HEADERS_MAX)
        return RELAY_OK;
    if (len > 4096)
        return RELAY_EINVAL;
    h = malloc(nlen + 2 + (size_t)len + 1);
    if (!h)
        return RELAY_ENOMEM;
    memcpy(h, name, nlen);
    memcpy(h + nlen, ": ", 2);
    if ((custom ? lws_hdr_custom_copy(wsi, h + nlen + 2, len + 1, custom,
                                      (int)strlen(custom))
                : lws_hdr_copy(wsi, h + nlen + 2, len + 1, tok)) < 0) {
        free(h);
        return RELAY_EINVAL;
    }
    r->headers[r->nheaders++] = h;
    return RELAY_OK;
}

/* The request target as the provider sent (and signed) it: the path and
 * the query string's arguments joined again with '&'. */
static char *hook_target(struct lws *wsi, const char *uri)
{
    char frag[1024];
    size_t ulen = strlen(uri);
    size_t off;
    char *t = malloc(HOOK_TARGET_MAX);

    if (!t || ulen >= HOOK_TARGET_MAX) {
        free(t);
        return NULL;
    }
    memcpy(t, uri, ulen + 1);
    off = ulen;
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
                                      WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        if (off + 1 + (size_t)n + 1 > HOOK_TARGET_MAX) {
            free(t);
            return NULL;
        }
        t[off++] = i == 0 ? '?' : '&';
        memcpy(t + off, frag, (size_t)n);
        off += (size_t)n;
        t[off] = '\0';
    }
    return t;
}

int http_api_hook_begin(struct relay *relay, struct lws *wsi,
                        const char *method, const char *uri,
                        struct http_request_state **slot)
{
    static const struct {
        const char *name;
        const char *custom;
    } hdrs[] = {
        {"X-Twilio-Signature", "x-twilio-signature:"},
        {"X-Kannel-From", "x-kannel-from:"},
        {"X-Kannel-To", "x-kannel-to:"},
        {"X-Kannel-Time", "x-kannel-time:"},
        {"X-Kannel-Coding", "x-kannel-coding:"},
        {"X-Kannel-SMSC", "x-kannel-smsc:"},
        {"X-Hub-Signature-256", "x-hub-signature-256:"},
        {"X-Telegram-Bot-Api-Secret-Token", "x-telegram-bot-api-secret-token:"},
    };
    struct http_request_state *r;
    const char *name = uri + 7; /* after "/hooks/" */
    size_t nlen = strcspn(name, "/?");

    if (strncmp(uri, "/hooks/", 7) != 0 || nlen == 0 || nlen > ADAPTER_NAME_MAX)
        return 0;
    r = calloc(1, sizeof(*r));
    if (!r)
        return 0;
    r->relay = relay;
    r->wsi = wsi;
    r->route = API_HOOK;
    snprintf(r->method, sizeof(r->method), "%s", method);
    memcpy(r->adapter, name, nlen);
    r->adapter[nlen] = '\0';
    lws_get_peer_simple(wsi, r->ip, sizeof(r->ip));
    r->target = hook_target(wsi, uri);
    if (!r->target ||
        hook_header(r, wsi, "Content-Type", WSI_TOKEN_HTTP_CONTENT_TYPE, NULL) <
            0 ||
        hook_header(r, wsi, "Authorization", WSI_TOKEN_HTTP_AUTHORIZATION,
                    NULL) < 0) {
        free_state(r);
        return 0;
    }
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
        if (hook_header(r, wsi, hdrs[i].name, WSI_TOKEN_COUNT, hdrs[i].custom) <
            0) {
            free_state(r);
            return 0;
        }
    *slot = r;
    return 1;
}

void http_api_complete(struct http_request_state *r)
{
    r->busy = 1;
    if (r->route == API_HOOK) {
        start_hook(r);
        return;
    }
    if (r->too_large) {
        answer_error(r, PROTO_E_TOO_LARGE, "request body exceeds max-frame");
        return;
    }
    if (r->route == API_SESSION)
        start_login(r);
    else if (r->route == API_RESOLVE)
        start_resolve(r);
    else if (r->route == API_GROUPS)
        group_api_post(r);
    else
        start_post(r);
}

int http_api_writeable(struct http_request_state **slot)
{
    struct http_request_state *r = *slot;
    int rc;

    if (!r || !r->answered)
        return 0;
    /* Completing the transaction lets lws reset the per-connection
     * storage that holds *slot: forget the request before answering. */
    *slot = NULL;
    rc = http_respond(r->wsi, r->status,
                      r->ctype[0] ? r->ctype : "application/json",
                      r->response ? r->response : "{}",
                      r->response ? strlen(r->response) : 2);
    free_state(r);
    return rc;
}

void http_api_closed(struct http_request_state **slot)
{
    struct http_request_state *r = *slot;

    if (!r)
        return;
    *slot = NULL;
    r->wsi = NULL;
    if (!r->busy)
        free_state(r);
}

/* Computed once at start-up (it takes a moment and 64 MiB). */
int http_api_init(void)
{
    static const char pw[] = "no password matches this hash";

    if (dummy_hash[0])
        return RELAY_OK;
    return password_hash(pw, sizeof(pw) - 1, dummy_hash);
}
