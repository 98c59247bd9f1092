#include "post.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "areas.h"
#include "bus.h"
#include "case_state.h"
#include "case_store.h"
#include "channel.h"
#include "desc_check.h"
#include "error.h"
#include "post_internal.h"
#include "txn_build.h"
#include "log.h"
#include "notify.h"

#define MAX_ATTEMPTS 3

static void set_err(struct proto_error *err, const char *code, const char *msg)
{
    err->code = code;
    snprintf(err->message, sizeof(err->message), "%s", msg);
}

static void op_free(struct post_op *op)
{
    notify_fire(op, 0); /* a plan not sent by now never will be */
    proto_post_cleanup(&op->post);
    cJSON_Delete(op->root);
    free(op);
}

void op_fail(struct post_op *op, int rc, const char *code, const char *msg)
{
    struct proto_error err;

    memset(&err, 0, sizeof(err));
    set_err(&err, code, msg);
    op->cb(op->arg, rc, &err, NULL);
    op_free(op);
}

/* ---- commit ------------------------------------------------------------- */

void commit(struct post_op *op, struct txn_build *b, const char *case_id,
            const char *version);
static void reload(struct post_op *op);

static void txn_done(void *arg, int rc, const char *text, int replayed)
{
    struct post_op *op = arg;

    if (rc == RELAY_ECONFLICT && ++op->attempts < MAX_ATTEMPTS) {
        /* Someone changed the case between our read and our write. */
        reload(op);
        return;
    }
    if (rc == RELAY_ECONFLICT) {
        op_fail(op, rc, PROTO_E_CONFLICT,
                "the case is changing too fast; retry");
        return;
    }
    if (rc < 0) {
        op_fail(op, rc, PROTO_E_UNAVAILABLE,
                "the post was not stored; retry with the same id");
        return;
    }
    /* SMS only for a post stored now, after its ack is on its way. */
    op->cb(op->arg, RELAY_OK, NULL, text);
    notify_fire(op, !replayed);
    op_free(op);
}

void commit(struct post_op *op, struct txn_build *b, const char *case_id,
            const char *version)
{
    struct bus_txn t;
    int rc;

    memset(&t, 0, sizeof(t));
    t.idem_key = op->idem;
    t.case_id = case_id;
    t.expect_version = version;
    t.cmd_args = b->args;
    t.cmd_argc = b->argc;
    t.ncmds = b->ncmds;
    t.groups = b->groups;
    t.ngroups = b->ngroups;
    t.ack_extra = b->ack_extra[0] ? b->ack_extra : NULL;
    t.redact = b->redact;
    rc = bus_transact(op->relay->bus, &t, txn_done, op);
    txn_free(b);
    if (rc < 0)
        op_fail(op, rc, PROTO_E_UNAVAILABLE,
                "the relay cannot reach its store right now; retry with "
                "the same id");
}

/* ---- areas -------------------------------------------------------------- */

/*
 * Turns a posted area into buurt codes (distinct): buurt codes are checked
 * against the loaded area data, wijk/gemeente codes expand to their
 * buurten, circles and polygons to every buurt they touch. On failure
 * answers the post (op is gone) and returns < 0.
 */
int resolve_area(struct post_op *op, const struct proto_area *area,
                 char (*codes)[11], int max, int *n)
{
    const struct areas *a = op->relay->areas;
    const struct area_buurt *found[PROTO_AREA_MAX];
    size_t nfound = 0;
    int rc = RELAY_OK;
    char msg[160];

    *n = 0;
    if (!area) {
        op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST, "post.area: required");
        return RELAY_EINVAL;
    }
    if (area->kind == PROTO_AREA_BUURTEN) {
        for (int i = 0; i < area->count && *n < max; i++) {
            if (a && !areas_find(a, area->buurten[i])) {
                snprintf(msg, sizeof(msg),
                         "post.area.buurten[%d]: unknown buurt code", i);
                op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST, msg);
                return RELAY_EINVAL;
            }
            snprintf(codes[(*n)++], 11, "%s", area->buurten[i]);
        }
        return RELAY_OK;
    }
    if (!a) {
        op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST,
                "post.area: this relay has no area data; target buurten by "
                "code");
        return RELAY_EINVAL;
    }
    switch (area->kind) {
    case PROTO_AREA_CIRCLE:
        rc = areas_resolve_circle(a, area->lat, area->lon, area->radius_m,
                                  found, PROTO_AREA_MAX, &nfound);
        break;
    case PROTO_AREA_POLYGON:
        rc = areas_resolve_polygon(a, (const double(*)[2])area->points,
                                   area->count, found, PROTO_AREA_MAX, &nfound);
        break;
    case PROTO_AREA_CODES:
        for (int i = 0; i < area->count && rc == RELAY_OK; i++) {
            size_t got = 0;

            rc = areas_resolve_code(a, area->buurten[i], found + nfound,
                                    PROTO_AREA_MAX - nfound, &got);
            if (rc == RELAY_ENOTFOUND) {
                snprintf(msg, sizeof(msg), "post.area: no buurten in %s",
                         area->buurten[i]);
                op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST, msg);
                return RELAY_EINVAL;
            }
            nfound += got;
        }
        break;
    default:
        rc = RELAY_EINVAL;
        break;
    }
    if (rc == RELAY_ETOOBIG) {
        snprintf(msg, sizeof(msg), "post.area: more than %d buurten",
                 PROTO_AREA_MAX);
        op_fail(op, rc, PROTO_E_TOO_LARGE, msg);
        return rc;
    }
    if (rc < 0) {
        op_fail(op, rc, PROTO_E_BAD_REQUEST, "post.area: cannot resolve");
        return rc;
    }
    for (size_t i = 0; i < nfound && *n < max; i++) {
        int dup = 0;

        for (int k = 0; k < *n; k++)
            if (strcmp(codes[k], found[i]->code) == 0)
                dup = 1;
        if (!dup)
            snprintf(codes[(*n)++], 11, "%s", found[i]->code);
    }
    if (*n == 0) {
        op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST,
                "post.area: the area contains no buurt");
        return RELAY_EINVAL;
    }
    return RELAY_OK;
}

/* A BOA alerts only inside their own wijken. */
static int boa_may_target(struct post_op *op, char (*codes)[11], int n)
{
    if (op->user.role != ROLE_BOA)
        return RELAY_OK;
    for (int i = 0; i < n; i++)
        if (!perm_boa_covers(&op->user, codes[i])) {
            op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                    "a BOA alerts only within their own wijken");
            return RELAY_EFORBIDDEN;
        }
    return RELAY_OK;
}

/* ---- new cases ---------------------------------------------------------- */

static int is_severe(const char *severity)
{
    return strcmp(severity, "Extreme") == 0 || strcmp(severity, "Severe") == 0;
}

static void submit_alert(struct post_op *op)
{
    const struct proto_post *p = &op->post;
    struct txn_build b;
    char case_id[18];
    char codes[PROTO_AREA_MAX][11];
    int n = 0;
    int pending;
    cJSON *m;
    char *alert;
    char *sms;
    int rc;

    memset(&b, 0, sizeof(b));
    if (resolve_area(op, p->area, codes, PROTO_AREA_MAX, &n) < 0 ||
        boa_may_target(op, codes, n) < 0)
        return;
    case_new_id(case_id);
    pending = op->relay->cfg.approval_severe && is_severe(p->severity);

    m = txn_msg_new("alert", case_id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "title", p->title);
        cJSON_AddStringToObject(m, "body", p->body);
        txn_msg_opt(m, "event", p->event);
        cJSON_AddStringToObject(m, "urgency", p->urgency);
        cJSON_AddStringToObject(m, "severity", p->severity);
        txn_msg_opt(m, "certainty", p->certainty);
        txn_msg_opt(m, "instruction", p->instruction);
    }
    alert = txn_keep(&b, txn_msg_done(m));
    if (!alert)
        goto nomem;
    sms = notify_text("", p->title, p->body, p->instruction);
    {
        struct notify_spec spec = {
            .dcase = case_id,
            .kind = "appeal",
            .codes = codes,
            .n = n,
            .lane =
                op->user.role == ROLE_POLICE ? OUTBOX_URGENT : OUTBOX_ROUTINE,
            .groups = 1,
            .text = sms,
        };

        rc = notify_compose(op, !pending, &spec);
    }
    free(sms);
    if (rc < 0) {
        txn_free(&b);
        return;
    }

    txn_cmd(&b);
    txn_arg(&b, "HSET");
    txn_arg(&b, txn_dupf(&b, "case:%s", case_id));
    txn_arg(&b, "kind");
    txn_arg(&b, "appeal");
    txn_arg(&b, "state");
    txn_arg(&b, pending ? "pending_approval" : "active");
    txn_arg(&b, "owner");
    txn_arg(&b, op->user.id);
    txn_arg(&b, "buurten");
    txn_arg(&b, txn_csv(&b, codes, n));
    txn_arg(&b, "severity");
    txn_arg(&b, p->severity);
    txn_arg(&b, "alert");
    txn_arg(&b, alert);
    txn_arg(&b, "created");
    txn_arg(&b, txn_now(&b));
    if (p->event && strcmp(p->event, "vermissing") == 0) {
        /* The family's consent is recorded with the appeal. */
        txn_arg(&b, "consent");
        txn_arg(&b, txn_now(&b));
    }
    txn_event(&b, case_id, "alert", &op->user, alert);
    if (pending) {
        cJSON *w = txn_msg_new("approval_needed", case_id, &op->user);

        if (w) {
            cJSON_AddStringToObject(w, "title", p->title);
            cJSON_AddStringToObject(w, "severity", p->severity);
        }
        if (txn_group(&b, txn_msg_done(w), 0) < 0)
            goto nomem;
        txn_chan_desks(&b, codes, n);
        if (txn_copy_hidden(&b) < 0)
            goto nomem;
        txn_chan(&b, txn_dupf(&b, "case:%s", case_id));
    } else {
        if (txn_group(&b, strdup(alert), 1) < 0)
            goto nomem;
        txn_chan_buurten(&b, codes, n);
        if (txn_copy_hidden(&b) < 0)
            goto nomem;
        txn_chan(&b, txn_dupf(&b, "case:%s", case_id));
    }
    snprintf(b.ack_extra, sizeof(b.ack_extra), ",\"state\":\"%s\"",
             pending ? "pending_approval" : "active");
    commit(op, &b, case_id, "-");
    return;
nomem:
    txn_free(&b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

/* Seconds a new report of this category may wait for acknowledgement. */
static long long escalate_after(const struct relay_config *cfg,
                                const char *category)
{
    size_t n = strlen(category);

    for (int i = 0; i < cfg->escalate_count; i++)
        if (strncmp(cfg->escalate[i], category, n) == 0 &&
            cfg->escalate[i][n] == ' ')
            return strtoll(cfg->escalate[i] + n + 1, NULL, 10);
    return cfg->escalate_after;
}

static void submit_report(struct post_op *op)
{
    const struct proto_post *p = &op->post;
    struct txn_build b;
    char case_id[18];
    char codes[1][11];
    cJSON *m;
    char *report;

    memset(&b, 0, sizeof(b));
    if (p->buurt) {
        if (op->relay->areas && !areas_find(op->relay->areas, p->buurt)) {
            op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST,
                    "post.buurt: unknown buurt code");
            return;
        }
        snprintf(codes[0], sizeof(codes[0]), "%s", p->buurt);
    } else {
        const struct area_buurt *at =
            op->relay->areas ? areas_locate(op->relay->areas, p->location_lat,
                                            p->location_lon)
                             : NULL;

        if (!at) {
            op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST,
                    op->relay->areas
                        ? "post.location: outside every known buurt"
                        : "post.buurt: this relay has no area data; give "
                          "the buurt code");
            return;
        }
        snprintf(codes[0], sizeof(codes[0]), "%s", at->code);
    }
    case_new_id(case_id);
    m = txn_msg_new("report", case_id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "category", p->category);
        cJSON_AddStringToObject(m, "body", p->body);
        cJSON_AddStringToObject(m, "buurt", codes[0]);
        txn_msg_opt(m, "when", p->when);
        if (p->called_112 >= 0)
            cJSON_AddBoolToObject(m, "called_112", p->called_112);
        cJSON_AddBoolToObject(m, "anonymous", p->anonymous);
        cJSON_AddStringToObject(m, "state", "new");
        /* Desks are police/BOA only; they may know who reported unless
         * the reporter asked to stay anonymous. */
        if (!p->anonymous)
            cJSON_AddStringToObject(m, "reporter", op->user.id);
    }
    report = txn_keep(&b, txn_msg_done(m));
    if (!report)
        goto nomem;
    txn_cmd(&b);
    txn_arg(&b, "HSET");
    txn_arg(&b, txn_dupf(&b, "case:%s", case_id));
    txn_arg(&b, "kind");
    txn_arg(&b, "report");
    txn_arg(&b, "state");
    txn_arg(&b, "new");
    txn_arg(&b, "owner");
    txn_arg(&b, op->user.id);
    txn_arg(&b, "buurten");
    txn_arg(&b, codes[0]);
    txn_arg(&b, "category");
    txn_arg(&b, p->category);
    txn_arg(&b, "anonymous");
    txn_arg(&b, p->anonymous ? "1" : "0");
    txn_arg(&b, "created");
    txn_arg(&b, txn_now(&b));
    txn_event(&b, case_id, "report", &op->user, report);
    txn_cmd(&b);
    txn_arg(&b, "ZADD");
    txn_arg(&b, "esc:reports");
    txn_arg(&b, txn_dupf(&b, "%lld",
                         (long long)time(NULL) +
                             escalate_after(&op->relay->cfg, p->category)));
    txn_arg(&b, case_id);

    if (txn_group(&b, strdup(report), 0) < 0)
        goto nomem;
    txn_chan_desks(&b, codes, 1);
    if (txn_copy_hidden(&b) < 0)
        goto nomem;
    txn_chan(&b, txn_dupf(&b, "case:%s", case_id));
    m = txn_msg_new("receipt", case_id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "category", p->category);
        cJSON_AddStringToObject(m, "state", "new");
    }
    if (txn_group(&b, txn_msg_done(m), 0) < 0)
        goto nomem;
    b.groups[b.ngroups - 1].hidden = 1;
    txn_chan(&b, txn_dupf(&b, "user:%s", op->user.id));
    snprintf(b.ack_extra, sizeof(b.ack_extra), ",\"state\":\"new\"");
    commit(op, &b, case_id, "-");
    return;
nomem:
    txn_free(&b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

static void tippers_loaded(void *arg, redisReply *r);

static void ignore_reply(void *arg, redisReply *r)
{
}

/* The case as it is now; then the kind's rules decide. */
static void case_loaded(void *arg, int rc, const struct case_rec *c)
{
    struct post_op *op = arg;
    struct txn_build *b;

    if (rc == RELAY_ENOTFOUND) {
        op_fail(op, rc, PROTO_E_NOT_FOUND, "no such case");
        return;
    }
    if (rc < 0) {
        op_fail(op, rc, PROTO_E_UNAVAILABLE, "try again later");
        return;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
        return;
    }
    if (op->system == POST_SYSTEM_ESCALATE) {
        if (c->kind == CASE_REPORT)
            on_escalate(op, c, b);
        else
            op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST, "not a report");
    } else if (op->system == POST_SYSTEM_PURGE) {
        on_purge(op, c, b);
    } else if ((op->post.kind == PROTO_POST_APPROVE ||
                op->post.kind == PROTO_POST_UPDATE ||
                op->post.kind == PROTO_POST_CLOSE) &&
               c->kind != CASE_APPEAL) {
        op_fail(op, RELAY_ECONFLICT, PROTO_E_CONFLICT,
                "this post applies to appeals only");
    } else if ((op->post.kind == PROTO_POST_STATUS ||
                op->post.kind == PROTO_POST_FEEDBACK) &&
               c->kind != CASE_REPORT) {
        op_fail(op, RELAY_ECONFLICT, PROTO_E_CONFLICT,
                "this post applies to reports only");
    } else {
        switch (op->post.kind) {
        case PROTO_POST_APPROVE:
            on_approve(op, c, b);
            break;
        case PROTO_POST_UPDATE:
            on_update(op, c, b);
            break;
        case PROTO_POST_CLOSE:
        case PROTO_POST_TIP:
            /* these also need the tippers list: one more read, same
             * version check at commit */
            {
                struct {
                    struct post_op *op;
                    struct case_rec rec;
                } *ctx = malloc(sizeof(*ctx));

                if (!ctx) {
                    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL,
                            "out of memory");
                    break;
                }
                ctx->op = op;
                ctx->rec = *c;
                ctx->rec.alert = c->alert ? strdup(c->alert) : NULL;
                if (redis_link_command(bus_command_link(op->relay->bus),
                                       tippers_loaded, ctx,
                                       "HGET case:%s tippers", c->id) < 0) {
                    free(ctx->rec.alert);
                    free(ctx);
                    op_fail(op, RELAY_EUNAVAILABLE, PROTO_E_UNAVAILABLE,
                            "try again later");
                }
            }
            break;
        case PROTO_POST_STATUS:
            on_status(op, c, b);
            break;
        case PROTO_POST_FEEDBACK:
            on_feedback(op, c, b);
            break;
        default:
            op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST,
                    "unsupported post kind");
            break;
        }
    }
    free(b);
}

static void tippers_loaded(void *arg, redisReply *r)
{
    struct {
        struct post_op *op;
        struct case_rec rec;
    } *ctx = arg;
    struct post_op *op = ctx->op;
    struct txn_build *b = calloc(1, sizeof(*b));
    const char *tippers = r && r->type == REDIS_REPLY_STRING ? r->str : "";

    if (!r || r->type == REDIS_REPLY_ERROR || !b)
        op_fail(op, RELAY_EUNAVAILABLE, PROTO_E_UNAVAILABLE, "try again later");
    else if (op->post.kind == PROTO_POST_CLOSE)
        on_close(op, &ctx->rec, b, tippers);
    else
        on_tip(op, &ctx->rec, b, tippers);
    free(b);
    free(ctx->rec.alert);
    free(ctx);
}

static void reload(struct post_op *op)
{
    int rc = case_load(bus_command_link(op->relay->bus),
                       op->system ? op->client_id : op->post.case_id,
                       case_loaded, op);

    if (rc < 0)
        op_fail(op, rc, PROTO_E_UNAVAILABLE, "try again later");
}

/* ---- entry -------------------------------------------------------------- */

/* Runs the description check on an alert or report; a flagged post is
 * refused with conflict until the sender confirms it. Counted per sender
 * (desc:flags hash) so supervisors can see who relies on bad habits. */
static int check_description(struct post_op *op, struct proto_error *err)
{
    const struct proto_post *p = &op->post;
    unsigned flags = 0;
    const char *names[16];
    int n;
    size_t off;

    if (!op->relay->cfg.desc_check ||
        (p->kind != PROTO_POST_ALERT && p->kind != PROTO_POST_REPORT))
        return RELAY_OK;
    desc_check(p->title, p->body, p->instruction, &flags);
    /* Mentioning origin next to enough concrete details is allowed; it is
     * reported with the other flags but does not stop a post by itself. */
    if (!(flags & ~DESC_MENTIONS_ORIGIN))
        return RELAY_OK;
    if (op->user.id[0])
        redis_link_command(bus_command_link(op->relay->bus), ignore_reply, NULL,
                           "HINCRBY desc:flags %s 1", op->user.id);
    if (p->confirm)
        return RELAY_OK;
    n = (int)desc_flag_names(flags, names, 16);
    err->code = PROTO_E_CONFLICT;
    {
        unsigned first = flags & ~DESC_MENTIONS_ORIGIN;

        first &= ~(first - 1); /* lowest blocking flag */
        snprintf(err->message, sizeof(err->message), "%s",
                 desc_flag_message(first));
    }
    off = (size_t)snprintf(err->extra_json, sizeof(err->extra_json),
                           "\"reason\":\"description_check\",\"flags\":[");
    for (int i = 0; i < n && off < sizeof(err->extra_json); i++)
        off += (size_t)snprintf(err->extra_json + off,
                                sizeof(err->extra_json) - off, "%s\"%s\"",
                                i ? "," : "", names[i]);
    if (off < sizeof(err->extra_json))
        snprintf(err->extra_json + off, sizeof(err->extra_json) - off, "]");
    return RELAY_ECONFLICT;
}

int post_submit(struct relay *relay, const struct user *user,
                const char *client_id, const cJSON *post, post_done_cb cb,
                void *arg, struct proto_error *err)
{
    struct post_op *op = calloc(1, sizeof(*op));
    int rc;

    if (!op) {
        set_err(err, PROTO_E_INTERNAL, "out of memory");
        return RELAY_ENOMEM;
    }
    op->relay = relay;
    op->user = *user;
    op->cb = cb;
    op->arg = arg;
    snprintf(op->client_id, sizeof(op->client_id), "%s", client_id);
    snprintf(op->idem, sizeof(op->idem), "idem:%s:%s",
             user->id[0] ? user->id : "anon", client_id);
    op->root = cJSON_Duplicate(post, 1);
    if (!op->root || proto_parse_post(op->root, &op->post, err) < 0) {
        if (!op->root)
            set_err(err, PROTO_E_INTERNAL, "out of memory");
        cJSON_Delete(op->root);
        free(op);
        return RELAY_EINVAL;
    }
    rc = check_description(op, err);
    if (rc < 0) {
        op_free(op);
        return rc;
    }
    if (!redis_link_is_up(bus_command_link(relay->bus))) {
        set_err(err, PROTO_E_UNAVAILABLE,
                "the relay cannot reach its store right now; retry with "
                "the same id");
        op_free(op);
        return RELAY_EUNAVAILABLE;
    }
    switch (op->post.kind) {
    case PROTO_POST_ALERT:
        submit_alert(op);
        break;
    case PROTO_POST_REPORT:
        submit_report(op);
        break;
    default:
        reload(op);
        break;
    }
    return RELAY_OK;
}

/* Builds {"type":"ack","id","ref"?, ...ack body} from the stored ack. */
char *post_build_ack(const char *ack_json, const char *id, const char *ref)
{
    cJSON *ack = cJSON_Parse(ack_json);
    cJSON *out = cJSON_CreateObject();
    char *str = NULL;

    if (!ack || !out)
        goto out;
    cJSON_AddStringToObject(out, "type", "ack");
    cJSON_AddStringToObject(out, "id", id);
    if (ref)
        cJSON_AddStringToObject(out, "ref", ref);
    for (cJSON *item = ack->child; item;) {
        cJSON *next = item->next;

        cJSON_AddItemToObject(out, item->string,
                              cJSON_DetachItemViaPointer(ack, item));
        item = next;
    }
    {
        /* "seq": where it was published (first channel), for clients
         * that post to one channel. */
        cJSON *pub = cJSON_GetObjectItemCaseSensitive(out, "published");
        cJSON *first = pub ? cJSON_GetArrayItem(pub, 0) : NULL;
        cJSON *seq =
            first ? cJSON_GetObjectItemCaseSensitive(first, "seq") : NULL;

        if (seq)
            cJSON_AddNumberToObject(out, "seq", seq->valuedouble);
    }
    str = txn_msg_done(out);
    out = NULL;
out:
    cJSON_Delete(ack);
    cJSON_Delete(out);
    return str;
}

int post_system(struct relay *relay, enum post_system what, const char *case_id,
                post_done_cb cb, void *arg)
{
    struct post_op *op;

    if (!channel_is_id(case_id))
        return RELAY_EINVAL;
    op = calloc(1, sizeof(*op));
    if (!op)
        return RELAY_ENOMEM;
    op->relay = relay;
    op->system = what;
    op->user.role = ROLE_ADMIN;
    snprintf(op->user.id, sizeof(op->user.id), "system");
    op->cb = cb;
    op->arg = arg;
    /* For system jobs client_id holds the case id; the idempotency key
     * makes a job done twice (two relays, a retry) count once. */
    snprintf(op->client_id, sizeof(op->client_id), "%s", case_id);
    snprintf(op->idem, sizeof(op->idem), "idem:system:%s:%s",
             what == POST_SYSTEM_ESCALATE ? "escalate" : "purge", case_id);
    op->post.called_112 = -1;
    reload(op);
    return RELAY_OK;
}
