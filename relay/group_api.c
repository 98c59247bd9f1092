/*
 * group_api.c - see group_api.h.
 *
 * Each request goes: bearer token (no I/O), the account from Redis
 * (auth_load: revoked or disabled is refused), the rights check, then the
 * command chat_store.c builds, sent over the relay's async command link.
 * The Lua, the keys, the encryption and the indexes are chat_store's, so
 * the API and buurtctl write the very same links.
 */
#include "group_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "adapter.h"
#include "areas.h"
#include "auth.h"
#include "channel.h"
#include "chat_store.h"
#include "error.h"
#include "guard.h"
#include "http_api.h"
#include "http_internal.h"
#include "json_strict.h"
#include "log.h"
#include "permissions.h"

#define GROUPS_PATH "/api/v1/groups/"

/*
 * What a request keeps between its Redis steps. It replaces r->body once
 * the work started: one flat heap block, so free_state()'s free() of the
 * body releases it whichever way the request ends.
 */
struct group_job {
    struct user user;
    char buurt[11];                /* GET: the buurt listed */
    char id[CHAT_LINK_ID_MAX + 1]; /* DELETE: the link */
    /* POST: the command, and the strings it borrows and the answer
     * repeats (copies: the parsed body is freed before the reply) */
    struct chat_link_create_cmd create;
    char adapter[ADAPTER_NAME_MAX + 1];
    char name[CHAT_LINK_NAME_MAX + 1];
    char admin[65]; /* a user id, as struct user's */
};

static struct group_job *job_of(struct http_request_state *r)
{
    return (struct group_job *)r->body;
}

/* Puts 'job' in place of the request body. The body is wiped first: a
 * POST's body holds the chat address, which may be a secret URL. */
static void job_install(struct http_request_state *r, struct group_job *job)
{
    if (r->body)
        sodium_memzero(r->body, r->len);
    free(r->body);
    r->body = (char *)job;
    r->len = 0;
}

static struct group_job *job_attach(struct http_request_state *r)
{
    struct group_job *job = calloc(1, sizeof(*job));

    if (job)
        job_install(r, job);
    return job;
}

static struct http_request_state *state_new(struct relay *relay,
                                            struct lws *wsi)
{
    struct http_request_state *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->relay = relay;
    r->wsi = wsi;
    r->route = API_GROUPS;
    r->busy = 1;
    lws_get_peer_simple(wsi, r->ip, sizeof(r->ip));
    copy_authz(r, wsi);
    return r;
}

/* auth_load failed: Redis down, or the token revoked / account disabled. */
static void answer_auth_failure(struct http_request_state *r, int rc)
{
    answer_error(
        r,
        rc == RELAY_EUNAVAILABLE ? PROTO_E_UNAVAILABLE : PROTO_E_UNAUTHORIZED,
        rc == RELAY_EUNAVAILABLE ? "cannot check the token now; retry"
                                 : "token revoked or account disabled");
}

/* A refusal: one audit entry, one log line (ids and codes only), 403. */
static void refuse(struct http_request_state *r, const struct user *u,
                   const char *action, const char *target, const char *why)
{
    guard_audit(r->relay, u, r->ip, action, target, "denied");
    log_info("api", "refused %s: user %s target %s", action, u->id, target);
    answer_error(r, PROTO_E_FORBIDDEN, why);
}

static int is_officer(const struct user *u)
{
    return u->role == ROLE_POLICE || u->role == ROLE_ADMIN;
}

static int has_buurt(const struct user *u, const char *code)
{
    for (int i = 0; i < u->nbuurten; i++)
        if (strcmp(u->buurten[i], code) == 0)
            return 1;
    return 0;
}

static int buurt_code_valid(const char *s)
{
    return strlen(s) == 10 && channel_is_buurtcode(s);
}

/* The JSON of one link as listed: never its address. */
static cJSON *link_json(const char *id, const char *adapter,
                        const char *buurten, const char *name,
                        const char *admin, long long created)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *codes = o ? cJSON_AddArrayToObject(o, "buurten") : NULL;
    char when[40];

    if (!codes) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "adapter", adapter);
    for (const char *p = buurten; *p;) {
        size_t n = strcspn(p, ",");
        char code[16];

        if (n > 0 && n < sizeof(code)) {
            memcpy(code, p, n);
            code[n] = '\0';
            cJSON_AddItemToArray(codes, cJSON_CreateString(code));
        }
        p += n;
        if (*p == ',')
            p++;
    }
    cJSON_AddStringToObject(o, "name", name);
    if (admin[0])
        cJSON_AddStringToObject(o, "admin", admin);
    else
        cJSON_AddNullToObject(o, "admin");
    proto_format_time((double)created, when, sizeof(when));
    cJSON_AddStringToObject(o, "created", when);
    return o;
}

/* Prints and answers 'root' (taken). */
static void answer_json(struct http_request_state *r, unsigned status,
                        cJSON *root)
{
    char *json = root ? cJSON_PrintUnformatted(root) : NULL;

    cJSON_Delete(root);
    if (!json) {
        answer_error(r, PROTO_E_INTERNAL, "out of memory");
        return;
    }
    /* answer() takes a malloc'd string; cJSON's allocator may differ */
    answer(r, status, strdup(json));
    cJSON_free(json);
}

/* ---- GET /api/v1/groups?buurt=BU........ --------------------------------- */

static void add_listed(void *arg, const struct chat_link *l)
{
    cJSON *o =
        link_json(l->id, l->adapter, l->buurten, l->name, l->admin, l->created);

    if (o)
        cJSON_AddItemToArray(arg, o);
}

static void listed(void *arg, redisReply *reply)
{
    struct http_request_state *r = arg;
    cJSON *root = cJSON_CreateObject();
    cJSON *links = root ? cJSON_AddArrayToObject(root, "links") : NULL;
    int rc;

    if (!links) {
        cJSON_Delete(root);
        answer_error(r, PROTO_E_INTERNAL, "out of memory");
        return;
    }
    rc = chat_store_link_list_result(reply, add_listed, links);
    if (rc < 0) {
        cJSON_Delete(root);
        answer_error(
            r, rc == RELAY_ENOMEM ? PROTO_E_INTERNAL : PROTO_E_UNAVAILABLE,
            "try again later");
        return;
    }
    answer_json(r, 200, root);
}

static void list_authed(void *arg, int rc, const struct user *user)
{
    struct http_request_state *r = arg;
    struct group_job *job = job_of(r);
    struct chat_link_list_cmd cmd;

    if (rc < 0) {
        answer_auth_failure(r, rc);
        return;
    }
    job->user = *user;
    /* The people who run or police the buurt: a list names the groups
     * residents talk in, and who administers them. */
    if (!is_officer(user) && !perm_boa_covers(user, job->buurt) &&
        !(user->role == ROLE_BEHEERDER && has_buurt(user, job->buurt))) {
        refuse(r, &job->user, "deny.group.list", job->buurt, "not your buurt");
        return;
    }
    if (chat_store_link_list_cmd(&cmd, job->buurt) < 0 ||
        redis_link_argv(bus_command_link(r->relay->bus), listed, r, cmd.argc,
                        cmd.argv, cmd.lens) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
}

int group_api_get(struct relay *relay, struct lws *wsi,
                  struct http_request_state **slot)
{
    struct http_request_state *r = state_new(relay, wsi);
    struct token_claims claims;
    struct group_job *job;
    char arg[32];
    const char *value;

    if (!r)
        return -1;
    *slot = r;
    job = job_attach(r);
    if (!job) {
        answer_error(r, PROTO_E_INTERNAL, "out of memory");
        return 0;
    }
    /* lws copies "buurt=VALUE" and returns VALUE's start. */
    value = lws_get_urlarg_by_name(wsi, "buurt=", arg, sizeof(arg));
    if (value && buurt_code_valid(value))
        snprintf(job->buurt, sizeof(job->buurt), "%s", value);
    if (bearer_claims(r, &claims) < 0)
        return 0;
    if (!job->buurt[0]) {
        answer_error(r, PROTO_E_BAD_REQUEST,
                     "expected ?buurt=BU followed by 8 digits");
        return 0;
    }
    if (auth_load(bus_command_link(relay->bus), &claims, list_authed, r) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
    return 0;
}

/* ---- POST /api/v1/groups ------------------------------------------------ */

/* True when this relay runs 'name' and it can address group chats: a
 * link to anything else would never be delivered. */
static int group_adapter(const struct relay *relay, const char *name)
{
    if (!relay->adapters)
        return 0;
    for (int i = 0; i < relay->adapters->n; i++) {
        const struct adapter_ops *ops = relay->adapters->in[i]->ops;

        if (strcmp(ops->name, name) == 0)
            return (ops->caps & ADAPTER_CAP_GROUP) != 0;
    }
    return 0;
}

static void created(void *arg, redisReply *reply)
{
    struct http_request_state *r = arg;
    struct group_job *job = job_of(r);
    char existing[CHAT_LINK_ID_MAX + 1] = "";
    int rc = chat_store_link_create_result(reply, existing);

    if (rc == RELAY_ECONFLICT) {
        struct proto_error err;
        const char *target = existing[0] ? existing : "-";

        guard_audit(r->relay, &job->user, r->ip, "group.link", target,
                    "conflict");
        log_info("api", "group link refused: user %s, chat linked as %s",
                 job->user.id, target);
        /* The error frame, with the existing link's id so the caller can
         * manage that one instead ("error" for plain-HTTP clients). */
        memset(&err, 0, sizeof(err));
        err.code = PROTO_E_CONFLICT;
        snprintf(err.message, sizeof(err.message),
                 "that chat is linked already");
        snprintf(err.extra_json, sizeof(err.extra_json),
                 "\"error\":\"conflict\"");
        answer(r, 409,
               proto_build_error_ex(&err, NULL, existing[0] ? existing : NULL));
        return;
    }
    if (rc < 0) {
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
        return;
    }
    guard_audit(r->relay, &job->user, r->ip, "group.link", job->create.id,
                "ok");
    log_info("api", "group link %s created: user %s adapter %s", job->create.id,
             job->user.id, job->adapter);
    answer_json(r, 201,
                link_json(job->create.id, job->adapter, job->create.codes,
                          job->name, job->admin,
                          strtoll(job->create.created, NULL, 10)));
}

/*
 * Checks the body's fields; on success fills codes[0..*n) (pointers into
 * root) and returns NULL, else the message for a 400.
 */
static const char *link_fields(const struct relay *relay, const cJSON *root,
                               const char **codes, size_t *n)
{
    const cJSON *adapter = cJSON_GetObjectItemCaseSensitive(root, "adapter");
    const cJSON *address = cJSON_GetObjectItemCaseSensitive(root, "address");
    const cJSON *buurten = cJSON_GetObjectItemCaseSensitive(root, "buurten");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *b;

    if (!cJSON_IsString(adapter) || !contact_kind_valid(adapter->valuestring))
        return "adapter: the name of a chat adapter";
    if (!group_adapter(relay, adapter->valuestring))
        return "adapter: not configured on this relay for group chats";
    /* never echo the address: it may be a secret URL */
    if (!cJSON_IsString(address) || !contact_value_valid(address->valuestring))
        return "address: printable ASCII without spaces";
    if (name && !cJSON_IsNull(name) &&
        (!cJSON_IsString(name) ||
         strlen(name->valuestring) > CHAT_LINK_NAME_MAX ||
         strpbrk(name->valuestring, "\r\n")))
        return "name: at most 80 bytes, one line";
    if (!cJSON_IsArray(buurten))
        return "buurten: an array of buurt codes";
    *n = 0;
    cJSON_ArrayForEach(b, buurten)
    {
        if (*n >= CHAT_LINK_BUURTEN_MAX)
            return "buurten: too many";
        if (!cJSON_IsString(b) || !buurt_code_valid(b->valuestring))
            return "buurten: BU followed by 8 digits";
        /* with area data, a code it does not know is a typo */
        if (relay->areas && !areas_find(relay->areas, b->valuestring))
            return "buurten: unknown buurt";
        for (size_t k = 0; k < *n; k++)
            if (strcmp(codes[k], b->valuestring) == 0)
                return "buurten: a code given twice";
        codes[(*n)++] = b->valuestring;
    }
    if (*n == 0)
        return "buurten: at least one buurt";
    return NULL;
}

/* Frees a parsed POST body, wiping the address first (it may be a
 * secret URL; cJSON_Delete does not clear what it frees). */
static void drop_body_tree(cJSON *root)
{
    cJSON *address = cJSON_GetObjectItemCaseSensitive(root, "address");

    if (cJSON_IsString(address))
        sodium_memzero(address->valuestring, strlen(address->valuestring));
    cJSON_Delete(root);
}

static void create_authed(void *arg, int rc, const struct user *user)
{
    struct http_request_state *r = arg;
    const char *codes[CHAT_LINK_BUURTEN_MAX];
    const char *why = NULL;
    struct group_job *job = NULL;
    cJSON *root, *address, *jname;
    size_t n = 0;

    /* Parsed at once and the raw body wiped, whatever the answer: from
     * here on the address exists only in the tree. */
    root = json_strict_parse(r->body ? r->body : "", r->len, PROTO_MAX_DEPTH,
                             &why);
    if (r->body)
        sodium_memzero(r->body, r->len);
    if (rc < 0) {
        drop_body_tree(root);
        answer_auth_failure(r, rc);
        return;
    }
    if (!is_officer(user) && user->role != ROLE_BEHEERDER) {
        drop_body_tree(root);
        refuse(r, user, "deny.group.link", "-",
               "your role may not link chat groups");
        return;
    }
    if (!root || !cJSON_IsObject(root)) {
        char msg[96];

        snprintf(msg, sizeof(msg), "body: %s", root ? "not an object" : why);
        drop_body_tree(root);
        answer_error(r, PROTO_E_BAD_REQUEST, msg);
        return;
    }
    why = link_fields(r->relay, root, codes, &n);
    if (why) {
        drop_body_tree(root);
        answer_error(r, PROTO_E_BAD_REQUEST, why);
        return;
    }
    /* A beheerder administers groups of their own buurten only, and is
     * the admin of what they link (they may unlink it again). */
    for (size_t k = 0; user->role == ROLE_BEHEERDER && k < n; k++)
        if (!has_buurt(user, codes[k])) {
            char target[11];

            snprintf(target, sizeof(target), "%s", codes[k]);
            drop_body_tree(root);
            refuse(r, user, "deny.group.link", target, "not your buurt");
            return;
        }
    address = cJSON_GetObjectItemCaseSensitive(root, "address");
    jname = cJSON_GetObjectItemCaseSensitive(root, "name");
    job = calloc(1, sizeof(*job));
    if (job) {
        job->user = *user;
        snprintf(
            job->adapter, sizeof(job->adapter), "%s",
            cJSON_GetObjectItemCaseSensitive(root, "adapter")->valuestring);
        snprintf(job->name, sizeof(job->name), "%s",
                 cJSON_IsString(jname) ? jname->valuestring : "");
        if (user->role == ROLE_BEHEERDER)
            snprintf(job->admin, sizeof(job->admin), "%s", user->id);
        /* the command borrows adapter, name and admin: the job's copies,
         * which outlive the parsed body */
        rc = chat_store_link_create_cmd(&job->create, r->relay->pii_key,
                                        job->adapter, address->valuestring,
                                        codes, n, job->name, job->admin);
    }
    drop_body_tree(root);
    if (!job) {
        answer_error(r, PROTO_E_INTERNAL, "out of memory");
        return;
    }
    job_install(r, job);
    if (rc < 0) {
        answer_error(r, PROTO_E_BAD_REQUEST, "invalid link");
        return;
    }
    if (redis_link_argv(bus_command_link(r->relay->bus), created, r,
                        job->create.argc, job->create.argv,
                        job->create.lens) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
}

void group_api_post(struct http_request_state *r)
{
    struct token_claims claims;

    /* No Idempotency-Key here: a chat is linked once (its index), and the
     * error frame's "id" names the existing link on a conflict. */
    r->idem[0] = '\0';
    if (bearer_claims(r, &claims) < 0) {
        if (r->body) /* it holds the address */
            sodium_memzero(r->body, r->len);
        return;
    }
    if (auth_load(bus_command_link(r->relay->bus), &claims, create_authed, r) <
        0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
}

/* ---- DELETE /api/v1/groups/{id} ---------------------------------------- */

static void deleted(void *arg, redisReply *reply)
{
    struct http_request_state *r = arg;
    struct group_job *job = job_of(r);
    int rc = chat_store_link_delete_result(reply);
    char json[64];

    if (rc == RELAY_ENOTFOUND) {
        guard_audit(r->relay, &job->user, r->ip, "group.unlink", job->id,
                    "not_found");
        answer_error(r, PROTO_E_NOT_FOUND, "no such link");
        return;
    }
    if (rc < 0) {
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
        return;
    }
    guard_audit(r->relay, &job->user, r->ip, "group.unlink", job->id, "ok");
    log_info("api", "group link %s deleted: user %s", job->id, job->user.id);
    snprintf(json, sizeof(json), "{\"deleted\":\"%s\"}", job->id);
    answer(r, 200, strdup(json));
}

static void send_delete(struct http_request_state *r)
{
    struct chat_link_delete_cmd cmd;

    if (chat_store_link_delete_cmd(&cmd, job_of(r)->id) < 0 ||
        redis_link_argv(bus_command_link(r->relay->bus), deleted, r, cmd.argc,
                        cmd.argv, cmd.lens) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
}

/* A beheerder's delete: only the link's own admin may remove it. */
static void delete_read(void *arg, redisReply *reply)
{
    struct http_request_state *r = arg;
    struct group_job *job = job_of(r);
    struct chat_link l;
    int rc = chat_store_link_read_result(reply, job->id, &l);

    if (rc == RELAY_ENOTFOUND) {
        guard_audit(r->relay, &job->user, r->ip, "group.unlink", job->id,
                    "not_found");
        answer_error(r, PROTO_E_NOT_FOUND, "no such link");
        return;
    }
    if (rc < 0) {
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
        return;
    }
    if (strcmp(l.admin, job->user.id) != 0) {
        refuse(r, &job->user, "deny.group.unlink", job->id,
               "only the link's admin, police or an admin may remove it");
        return;
    }
    send_delete(r);
}

static void delete_authed(void *arg, int rc, const struct user *user)
{
    struct http_request_state *r = arg;
    struct group_job *job = job_of(r);
    struct chat_link_read_cmd cmd;

    if (rc < 0) {
        answer_auth_failure(r, rc);
        return;
    }
    job->user = *user;
    if (is_officer(user)) {
        send_delete(r);
        return;
    }
    if (user->role != ROLE_BEHEERDER) {
        refuse(r, &job->user, "deny.group.unlink", job->id,
               "your role may not remove chat links");
        return;
    }
    if (chat_store_link_read_cmd(&cmd, job->id) < 0 ||
        redis_link_argv(bus_command_link(r->relay->bus), delete_read, r,
                        cmd.argc, cmd.argv, cmd.lens) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
}

int group_api_delete(struct relay *relay, struct lws *wsi, const char *uri,
                     struct http_request_state **slot)
{
    const char *id = uri + strlen(GROUPS_PATH);
    struct http_request_state *r;
    struct token_claims claims;
    struct group_job *job;

    if (strncmp(uri, GROUPS_PATH, strlen(GROUPS_PATH)) != 0 ||
        !channel_is_id(id) || strlen(id) > CHAT_LINK_ID_MAX)
        return http_respond(wsi, 404, "application/json",
                            "{\"error\":\"not found\"}", 21);
    r = state_new(relay, wsi);
    if (!r)
        return -1;
    *slot = r;
    job = job_attach(r);
    if (!job) {
        answer_error(r, PROTO_E_INTERNAL, "out of memory");
        return 0;
    }
    snprintf(job->id, sizeof(job->id), "%s", id);
    if (bearer_claims(r, &claims) < 0)
        return 0;
    if (auth_load(bus_command_link(relay->bus), &claims, delete_authed, r) < 0)
        answer_error(r, PROTO_E_UNAVAILABLE, "try again later");
    return 0;
}
