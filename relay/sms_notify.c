/*
 * sms_notify.c - see sms_notify.h.
 */
#include "sms_notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "auth.h"
#include "bus.h"
#include "error.h"
#include "log.h"
#include "post.h"
#include "redis_link.h"

#define PLAN_BUURTEN_MAX 64

struct sms_plan {
    struct sms_plan *next;
    const struct post_op *op; /* while planned; NULL once fired */
    struct relay *relay;
    char dcase[OUTBOX_ID_MAX + 1];
    char user_id[OUTBOX_ID_MAX + 1];
    char codes[PLAN_BUURTEN_MAX][11];
    int n;
    enum outbox_lane lane;
    char *text;
    size_t text_len;
};

static struct sms_plan *plans; /* planned, not yet fired */

static void plan_free(struct sms_plan *p)
{
    if (!p)
        return;
    free(p->text);
    free(p);
}

/* Takes the plan of 'op' out of the list (NULL when none). */
static struct sms_plan *plan_take(const struct post_op *op)
{
    for (struct sms_plan **pp = &plans; *pp; pp = &(*pp)->next)
        if ((*pp)->op == op) {
            struct sms_plan *p = *pp;

            *pp = p->next;
            p->next = NULL;
            return p;
        }
    return NULL;
}

int sms_notify_check(struct relay *relay, const char *text, size_t len,
                     char *msg, size_t msglen)
{
    const struct adapter_set *set = relay->adapters;

    if (!relay->outbox || !set)
        return RELAY_OK;
    for (int i = 0; i < set->n; i++) {
        struct sms_info info;
        int rc = outbox_check_text(relay->outbox, set->in[i]->ops->name, text,
                                   len, &info);

        if (rc == RELAY_ETOOBIG) {
            snprintf(msg, msglen, "needs %u SMS parts (max %lld)", info.parts,
                     set->in[i]->common.max_parts);
            return rc;
        }
        if (rc == RELAY_EINVAL) {
            snprintf(msg, msglen, "the text cannot be sent by SMS");
            return rc;
        }
    }
    return RELAY_OK;
}

int sms_notify_plan(struct post_op *op, const char *dcase, char (*codes)[11],
                    int n, const char *user_id, enum outbox_lane lane,
                    const char *text)
{
    struct sms_plan *p;
    size_t len = strlen(text);

    plan_free(plan_take(op));
    if (!op->relay->outbox || (n <= 0 && !user_id))
        return RELAY_OK;
    p = calloc(1, sizeof(*p));
    if (!p || !(p->text = malloc(len + 1))) {
        free(p);
        return RELAY_ENOMEM;
    }
    memcpy(p->text, text, len + 1);
    p->text_len = len;
    p->op = op;
    p->relay = op->relay;
    p->lane = lane;
    snprintf(p->dcase, sizeof(p->dcase), "%s", dcase);
    if (user_id)
        snprintf(p->user_id, sizeof(p->user_id), "%s", user_id);
    for (int i = 0; i < n && p->n < PLAN_BUURTEN_MAX; i++)
        memcpy(p->codes[p->n++], codes[i], 11);
    p->next = plans;
    plans = p;
    return RELAY_OK;
}

static void enqueued(void *arg, int rc, const char *delivery_id, int fresh)
{
    (void)arg;
    if (rc < 0)
        log_warn("sms", "delivery not confirmed by redis: %s",
                 relay_strerror(rc));
    else if (fresh)
        log_debug("sms", "delivery %s queued", delivery_id);
}

static void enqueue_one(struct sms_plan *p, const char *user_id)
{
    const struct adapter_set *set = p->relay->adapters;
    struct outbox_item it;
    int rc;

    if (!p->relay->outbox || !set || set->n == 0)
        return;
    memset(&it, 0, sizeof(it));
    it.case_id = p->dcase;
    it.user_id = user_id;
    it.channel = set->in[0]->ops->name;
    it.lane = p->lane;
    it.text = p->text;
    it.text_len = p->text_len;
    rc = outbox_enqueue(p->relay->outbox, &it, enqueued, NULL);
    if (rc < 0)
        log_warn("sms", "case %s: user %s not queued: %s", p->dcase, user_id,
                 relay_strerror(rc));
}

static void members_read(void *arg, redisReply *r)
{
    struct sms_plan *p = arg;
    size_t queued = 0;

    if (!r || r->type != REDIS_REPLY_ARRAY) {
        log_warn("sms", "case %s: recipients not read: nothing queued",
                 p->dcase);
        plan_free(p);
        return;
    }
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            r->element[i]->len <= OUTBOX_ID_MAX) {
            enqueue_one(p, r->element[i]->str);
            queued++;
        }
    log_info("sms", "case %s: %zu recipient(s)", p->dcase, queued);
    plan_free(p);
}

static void phone_read(void *arg, redisReply *r)
{
    struct sms_plan *p = arg;

    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        enqueue_one(p, p->user_id);
    plan_free(p);
}

void sms_notify_fire(struct post_op *op, int send)
{
    struct sms_plan *p = plan_take(op);
    struct redis_link *link;
    const char *argv[PLAN_BUURTEN_MAX + 1];
    size_t lens[PLAN_BUURTEN_MAX + 1];
    char keys[PLAN_BUURTEN_MAX][24];
    int rc;

    if (!p)
        return;
    p->op = NULL;
    if (!send || !p->relay->bus) {
        plan_free(p);
        return;
    }
    link = bus_command_link(p->relay->bus);
    if (p->user_id[0]) {
        rc = redis_link_command(link, phone_read, p, "HEXISTS user:%s phone",
                                p->user_id);
    } else {
        argv[0] = "SUNION";
        lens[0] = 6;
        for (int i = 0; i < p->n; i++) {
            snprintf(keys[i], sizeof(keys[i]), "sms:buurt:%s", p->codes[i]);
            argv[i + 1] = keys[i];
            lens[i + 1] = strlen(keys[i]);
        }
        rc = redis_link_argv(link, members_read, p, p->n + 1, argv, lens);
    }
    if (rc < 0) {
        log_warn("sms", "case %s: redis down, nothing queued", p->dcase);
        plan_free(p);
    }
}

/* One line (fakesmsc and many phones show a newline poorly): parts
 * joined by ". ", or by " " after a part that ends in punctuation. */
char *sms_notify_text(const char *prefix, const char *a, const char *b,
                      const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t len = strlen(prefix) + 1, off;
    char *out;

    for (int i = 0; i < 3; i++)
        if (parts[i])
            len += strlen(parts[i]) + 2;
    out = malloc(len);
    if (!out)
        return NULL;
    off = strlen(prefix);
    memcpy(out, prefix, off);
    for (int i = 0; i < 3; i++) {
        size_t n = parts[i] ? strlen(parts[i]) : 0;

        if (!n)
            continue;
        if (off > 0 && out[off - 1] != ' ') {
            if (!strchr(".!?:", out[off - 1]))
                out[off++] = '.';
            out[off++] = ' ';
        }
        memcpy(out + off, parts[i], n);
        off += n;
    }
    out[off] = '\0';
    return out;
}

int sms_notify_compose(struct post_op *op, int plan, const char *dcase,
                       char (*codes)[11], int n, const char *user_id,
                       enum outbox_lane lane, const char *text)
{
    char msg[128];
    int rc;

    if (!text) {
        op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
        return RELAY_ENOMEM;
    }
    rc = sms_notify_check(op->relay, text, strlen(text), msg, sizeof(msg));
    if (rc == RELAY_ETOOBIG) {
        op_fail(op, rc, PROTO_E_TOO_LARGE, msg);
        return rc;
    }
    if (rc < 0) {
        op_fail(op, rc, PROTO_E_BAD_REQUEST, msg);
        return rc;
    }
    if (plan && sms_notify_plan(op, dcase, codes, n, user_id, lane, text) < 0)
        log_warn("sms", "case %s: out of memory: no SMS", dcase);
    return RELAY_OK;
}

void sms_notify_case_of(const char *dcase, char out[65])
{
    size_t n = strcspn(dcase, "-");

    if (n > 64)
        n = 64;
    memcpy(out, dcase, n);
    out[n] = '\0';
}

/* ---- replies ----------------------------------------------------------- */

struct reply_tip {
    struct relay *relay;
    char post_id[OUTBOX_ID_MAX + 8];
    char case_id[65];
    char user_id[OUTBOX_ID_MAX + 1];
    char *text;
};

static void reply_free(struct reply_tip *t)
{
    free(t->text);
    free(t);
}

static void tip_done(void *arg, int rc, const struct proto_error *err,
                     const char *ack_json)
{
    struct reply_tip *t = arg;

    (void)ack_json;
    if (rc < 0)
        log_warn("sms", "reply %s: no tip on case %s: %s", t->post_id,
                 t->case_id, err && err->code ? err->code : "error");
    else
        log_info("sms", "reply %s: tip on case %s by user %s", t->post_id,
                 t->case_id, t->user_id);
    reply_free(t);
}

static void reply_authed(void *arg, int rc, const struct user *user)
{
    struct reply_tip *t = arg;
    struct proto_error err;
    cJSON *post;

    if (rc < 0) {
        log_info("sms", "reply %s: user %s not allowed (%s): inbox only",
                 t->post_id, t->user_id, relay_strerror(rc));
        reply_free(t);
        return;
    }
    post = cJSON_CreateObject();
    if (!post || !cJSON_AddStringToObject(post, "kind", "tip") ||
        !cJSON_AddStringToObject(post, "case", t->case_id) ||
        !cJSON_AddStringToObject(post, "body", t->text)) {
        cJSON_Delete(post);
        log_warn("sms", "reply %s: out of memory: inbox only", t->post_id);
        reply_free(t);
        return;
    }
    memset(&err, 0, sizeof(err));
    rc = post_submit(t->relay, user, t->post_id, post, tip_done, t, &err);
    cJSON_Delete(post);
    if (rc < 0) {
        log_warn("sms", "reply %s: no tip on case %s: %s", t->post_id,
                 t->case_id, err.code ? err.code : relay_strerror(rc));
        reply_free(t);
    }
}

void sms_notify_reply(struct relay *relay, const struct outbox_reply *r)
{
    struct token_claims claims;
    struct reply_tip *t;

    if (!r->user_id || !r->case_id || !r->text_len || !relay->bus) {
        log_info("sms", "reply %s via %s: %s: inbox only", r->entry_id,
                 r->adapter, r->user_id ? "no case" : "unknown number");
        return;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->text = malloc(r->text_len + 1))) {
        free(t);
        log_warn("sms", "reply %s: out of memory: inbox only", r->entry_id);
        return;
    }
    memcpy(t->text, r->text, r->text_len);
    t->text[r->text_len] = '\0';
    t->relay = relay;
    snprintf(t->post_id, sizeof(t->post_id), "sms-%s", r->entry_id);
    sms_notify_case_of(r->case_id, t->case_id);
    snprintf(t->user_id, sizeof(t->user_id), "%s", r->user_id);
    memset(&claims, 0, sizeof(claims));
    snprintf(claims.sub, sizeof(claims.sub), "%s", r->user_id);
    snprintf(claims.jti, sizeof(claims.jti), "sms-reply");
    claims.iat = (int64_t)time(NULL);
    claims.exp = claims.iat + 60;
    if (auth_load(bus_command_link(relay->bus), &claims, reply_authed, t) < 0) {
        log_warn("sms", "reply %s: redis down: inbox only", r->entry_id);
        reply_free(t);
    }
}

/* ---- queue depths for /metrics ------------------------------------------ */

#define DEPTH_POLL_MS 5000

/* Keys "{prefix}{adapter}{suffix}": urgent, routine, retry, dead. */
static const char *const depth_prefix[4] = {
    "outbox:", "outbox:", "outbox:", "dead:"};
static const char *const depth_suffix[4] = {":urgent", ":routine", ":retry",
                                            ""};

struct depth_req {
    struct relay *relay;
    int adapter;
    int which;
};

static void depth_read(void *arg, redisReply *r)
{
    struct depth_req *d = arg;

    if (r && r->type == REDIS_REPLY_INTEGER && d->adapter < 8)
        d->relay->sms_depth[d->adapter][d->which] = r->integer;
    free(d);
}

static void depth_tick(uv_timer_t *t)
{
    struct relay *relay = t->data;
    const struct adapter_set *set = relay->adapters;
    struct redis_link *link;

    if (!set || !relay->bus || relay->shutting_down)
        return;
    link = bus_command_link(relay->bus);
    if (!redis_link_is_up(link))
        return;
    for (int i = 0; i < set->n && i < 8; i++)
        for (int w = 0; w < 4; w++) {
            struct depth_req *d = malloc(sizeof(*d));
            char key[96];

            if (!d)
                return;
            d->relay = relay;
            d->adapter = i;
            d->which = w;
            snprintf(key, sizeof(key), "%s%s%s", depth_prefix[w],
                     set->in[i]->ops->name, depth_suffix[w]);
            if (redis_link_command(link, depth_read, d,
                                   w == 2 ? "ZCARD %s" : "XLEN %s", key) < 0)
                free(d);
        }
}

void sms_notify_start(struct relay *relay)
{
    if (relay->sms_depth_timer_on || !relay->outbox)
        return;
    uv_timer_init(relay->loop, &relay->sms_depth_timer);
    relay->sms_depth_timer.data = relay;
    uv_timer_start(&relay->sms_depth_timer, depth_tick, 100, DEPTH_POLL_MS);
    relay->sms_depth_timer_on = 1;
}

void sms_notify_stop(struct relay *relay)
{
    if (!relay->sms_depth_timer_on)
        return;
    uv_timer_stop(&relay->sms_depth_timer);
    uv_close((uv_handle_t *)&relay->sms_depth_timer, NULL);
    relay->sms_depth_timer_on = 0;
}
