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
#include "log.h"

#define MAX_CHANNELS (CASE_BUURTEN_MAX + 8)
#define MAX_CMD_ARGS 64
#define MAX_TIPPERS 256
#define MAX_ATTEMPTS 3

/* A post in flight. Owns a copy of the post object; 'post' borrows from
 * it. */
struct post_op {
    struct relay *relay;
    enum post_system system; /* non-zero: a timer's job, not a client's */
    struct user user;
    char client_id[PROTO_REF_MAX + 1];
    char idem[PROTO_REF_MAX + 96];
    cJSON *root;
    struct proto_post post;
    post_done_cb cb;
    void *arg;
    int attempts;
};

/* Builder for one transaction: commands, groups and the strings they
 * point to, all freed together. */
struct txn_build {
    const char *args[MAX_CMD_ARGS];
    int argc[16];
    int ncmds;
    int nargs;
    struct bus_group groups[6];
    const char *chans[6][MAX_CHANNELS];
    int ngroups;
    char *owned[64]; /* heap strings to free after the transaction */
    int nowned;
    char ack_extra[96];
    int redact; /* remove the case's recorded messages first */
};

static void set_err(struct proto_error *err, const char *code, const char *msg)
{
    err->code = code;
    snprintf(err->message, sizeof(err->message), "%s", msg);
}

static void op_free(struct post_op *op)
{
    proto_post_cleanup(&op->post);
    cJSON_Delete(op->root);
    free(op);
}

static void op_fail(struct post_op *op, int rc, const char *code,
                    const char *msg)
{
    struct proto_error err;

    memset(&err, 0, sizeof(err));
    set_err(&err, code, msg);
    op->cb(op->arg, rc, &err, NULL);
    op_free(op);
}

/* ---- building blocks ---------------------------------------------------- */

static char *keep(struct txn_build *b, char *s)
{
    if (s && b->nowned < (int)(sizeof(b->owned) / sizeof(*b->owned)))
        b->owned[b->nowned++] = s;
    else if (s) {
        free(s);
        return NULL;
    }
    return s;
}

static char *dupf(struct txn_build *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *dupf(struct txn_build *b, const char *fmt, ...)
{
    va_list ap;
    char buf[8192];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return NULL;
    return keep(b, strdup(buf));
}

static void build_free(struct txn_build *b)
{
    for (int i = 0; i < b->nowned; i++)
        free(b->owned[i]);
}

/* Starts a command; its arguments follow through arg(). */
static void cmd(struct txn_build *b)
{
    b->argc[b->ncmds++] = 0;
}

static void arg(struct txn_build *b, const char *s)
{
    if (b->nargs < MAX_CMD_ARGS && s) {
        b->args[b->nargs++] = s;
        b->argc[b->ncmds - 1]++;
    }
}

/* Starts a group for 'msg' (a heap string kept by the builder). */
static int group(struct txn_build *b, char *msg, int record)
{
    struct bus_group *g = &b->groups[b->ngroups];

    if (b->ngroups >= (int)(sizeof(b->groups) / sizeof(*b->groups))) {
        free(msg);
        return RELAY_ENOMEM;
    }
    if (!keep(b, msg))
        return RELAY_ENOMEM;
    g->msg_json = msg;
    g->channels = b->chans[b->ngroups];
    g->nchannels = 0;
    g->record = record;
    g->hidden = 0;
    b->ngroups++;
    return RELAY_OK;
}

/* The same message again, on channels the ack does not list (the case's
 * own channel, personal notices). */
static int copy_hidden(struct txn_build *b)
{
    const char *msg = b->groups[b->ngroups - 1].msg_json;
    int rc = group(b, strdup(msg), 0);

    if (rc == RELAY_OK)
        b->groups[b->ngroups - 1].hidden = 1;
    return rc;
}

/* Adds a channel to the current group, once. */
static void chan(struct txn_build *b, const char *name)
{
    struct bus_group *g = &b->groups[b->ngroups - 1];

    if (!name || g->nchannels >= MAX_CHANNELS)
        return;
    for (int i = 0; i < g->nchannels; i++)
        if (strcmp(g->channels[i], name) == 0)
            return;
    b->chans[b->ngroups - 1][g->nchannels++] = name;
}

static void chan_buurten(struct txn_build *b, char (*codes)[11], int n)
{
    for (int i = 0; i < n; i++)
        chan(b, dupf(b, "buurt:%s", codes[i]));
}

/* The desk of every wijk the buurten lie in. */
static void chan_desks(struct txn_build *b, char (*codes)[11], int n)
{
    for (int i = 0; i < n; i++) {
        char wijk[16];

        if (channel_wijk_of_buurt(codes[i], wijk, sizeof(wijk)) == RELAY_OK)
            chan(b, dupf(b, "desk:%s", wijk));
    }
}

/* A new msg object with the fields every message carries. */
static cJSON *msg_new(const char *kind, const char *case_id,
                      const struct user *by)
{
    cJSON *m = cJSON_CreateObject();
    cJSON *from;
    char sent[40];

    if (!m)
        return NULL;
    proto_format_time((double)time(NULL), sent, sizeof(sent));
    cJSON_AddStringToObject(m, "kind", kind);
    cJSON_AddStringToObject(m, "case", case_id);
    cJSON_AddStringToObject(m, "sent", sent);
    from = cJSON_AddObjectToObject(m, "from");
    if (from)
        cJSON_AddStringToObject(from, "role", role_name(by->role));
    return m;
}

static void add_opt(cJSON *o, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(o, key, value);
}

/* Serialises and deletes 'm' into a malloc'd string. */
static char *msg_done(cJSON *m)
{
    char *tmp, *out = NULL;

    if (!m)
        return NULL;
    tmp = cJSON_PrintUnformatted(m);
    if (tmp) {
        out = strdup(tmp);
        cJSON_free(tmp);
    }
    cJSON_Delete(m);
    return out;
}

static char *now_str(struct txn_build *b)
{
    return dupf(b, "%lld", (long long)time(NULL));
}

static char *csv(struct txn_build *b, char (*codes)[11], int n)
{
    char buf[CASE_BUURTEN_MAX * 11 + 1];
    size_t off = 0;

    buf[0] = '\0';
    for (int i = 0; i < n && off + 12 < sizeof(buf); i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
                                i ? "," : "", codes[i]);
    return keep(b, strdup(buf));
}

/* XADD case:{id}:events * kind K by U: every change leaves a trace. */
static void event(struct txn_build *b, const char *case_id, const char *kind,
                  const struct user *by, const char *msg)
{
    cmd(b);
    arg(b, "XADD");
    arg(b, dupf(b, "case:%s:events", case_id));
    arg(b, "MAXLEN");
    arg(b, "~");
    arg(b, "10000");
    arg(b, "*");
    arg(b, "kind");
    arg(b, kind);
    arg(b, "by");
    arg(b, by->id[0] ? by->id : "anonymous");
    arg(b, "msg");
    arg(b, msg);
}

/* ---- commit ------------------------------------------------------------- */

static void commit(struct post_op *op, struct txn_build *b, const char *case_id,
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
    op->cb(op->arg, RELAY_OK, NULL, text);
    op_free(op);
}

static void commit(struct post_op *op, struct txn_build *b, const char *case_id,
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
    build_free(b);
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
static int resolve_area(struct post_op *op, const struct proto_area *area,
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

    memset(&b, 0, sizeof(b));
    if (resolve_area(op, p->area, codes, PROTO_AREA_MAX, &n) < 0 ||
        boa_may_target(op, codes, n) < 0)
        return;
    case_new_id(case_id);
    pending = op->relay->cfg.approval_severe && is_severe(p->severity);

    m = msg_new("alert", case_id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "title", p->title);
        cJSON_AddStringToObject(m, "body", p->body);
        add_opt(m, "event", p->event);
        cJSON_AddStringToObject(m, "urgency", p->urgency);
        cJSON_AddStringToObject(m, "severity", p->severity);
        add_opt(m, "certainty", p->certainty);
        add_opt(m, "instruction", p->instruction);
    }
    alert = keep(&b, msg_done(m));
    if (!alert)
        goto nomem;

    cmd(&b);
    arg(&b, "HSET");
    arg(&b, dupf(&b, "case:%s", case_id));
    arg(&b, "kind");
    arg(&b, "appeal");
    arg(&b, "state");
    arg(&b, pending ? "pending_approval" : "active");
    arg(&b, "owner");
    arg(&b, op->user.id);
    arg(&b, "buurten");
    arg(&b, csv(&b, codes, n));
    arg(&b, "severity");
    arg(&b, p->severity);
    arg(&b, "alert");
    arg(&b, alert);
    arg(&b, "created");
    arg(&b, now_str(&b));
    if (p->event && strcmp(p->event, "vermissing") == 0) {
        /* The family's consent is recorded with the appeal. */
        arg(&b, "consent");
        arg(&b, now_str(&b));
    }
    event(&b, case_id, "alert", &op->user, alert);
    if (pending) {
        cJSON *w = msg_new("approval_needed", case_id, &op->user);

        if (w) {
            cJSON_AddStringToObject(w, "title", p->title);
            cJSON_AddStringToObject(w, "severity", p->severity);
        }
        if (group(&b, msg_done(w), 0) < 0)
            goto nomem;
        chan_desks(&b, codes, n);
        if (copy_hidden(&b) < 0)
            goto nomem;
        chan(&b, dupf(&b, "case:%s", case_id));
    } else {
        if (group(&b, strdup(alert), 1) < 0)
            goto nomem;
        chan_buurten(&b, codes, n);
        if (copy_hidden(&b) < 0)
            goto nomem;
        chan(&b, dupf(&b, "case:%s", case_id));
    }
    snprintf(b.ack_extra, sizeof(b.ack_extra), ",\"state\":\"%s\"",
             pending ? "pending_approval" : "active");
    commit(op, &b, case_id, "-");
    return;
nomem:
    build_free(&b);
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
    m = msg_new("report", case_id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "category", p->category);
        cJSON_AddStringToObject(m, "body", p->body);
        cJSON_AddStringToObject(m, "buurt", codes[0]);
        add_opt(m, "when", p->when);
        if (p->called_112 >= 0)
            cJSON_AddBoolToObject(m, "called_112", p->called_112);
        cJSON_AddBoolToObject(m, "anonymous", p->anonymous);
        cJSON_AddStringToObject(m, "state", "new");
        /* Desks are police/BOA only; they may know who reported unless
         * the reporter asked to stay anonymous. */
        if (!p->anonymous)
            cJSON_AddStringToObject(m, "reporter", op->user.id);
    }
    report = keep(&b, msg_done(m));
    if (!report)
        goto nomem;
    cmd(&b);
    arg(&b, "HSET");
    arg(&b, dupf(&b, "case:%s", case_id));
    arg(&b, "kind");
    arg(&b, "report");
    arg(&b, "state");
    arg(&b, "new");
    arg(&b, "owner");
    arg(&b, op->user.id);
    arg(&b, "buurten");
    arg(&b, codes[0]);
    arg(&b, "category");
    arg(&b, p->category);
    arg(&b, "anonymous");
    arg(&b, p->anonymous ? "1" : "0");
    arg(&b, "created");
    arg(&b, now_str(&b));
    event(&b, case_id, "report", &op->user, report);
    cmd(&b);
    arg(&b, "ZADD");
    arg(&b, "esc:reports");
    arg(&b, dupf(&b, "%lld",
                 (long long)time(NULL) +
                     escalate_after(&op->relay->cfg, p->category)));
    arg(&b, case_id);

    if (group(&b, strdup(report), 0) < 0)
        goto nomem;
    chan_desks(&b, codes, 1);
    if (copy_hidden(&b) < 0)
        goto nomem;
    chan(&b, dupf(&b, "case:%s", case_id));
    m = msg_new("receipt", case_id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "category", p->category);
        cJSON_AddStringToObject(m, "state", "new");
    }
    if (group(&b, msg_done(m), 0) < 0)
        goto nomem;
    b.groups[b.ngroups - 1].hidden = 1;
    chan(&b, dupf(&b, "user:%s", op->user.id));
    snprintf(b.ack_extra, sizeof(b.ack_extra), ",\"state\":\"new\"");
    commit(op, &b, case_id, "-");
    return;
nomem:
    build_free(&b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

/* ---- posts on an existing case ------------------------------------------ */

/* The officer may act on this case: police always, a BOA who owns it or
 * whose wijken cover one of its buurten. */
static int officer_may(const struct user *u, const struct case_rec *c)
{
    if (u->role == ROLE_POLICE || u->role == ROLE_ADMIN)
        return 1;
    if (u->role != ROLE_BOA)
        return 0;
    if (strcmp(c->owner, u->id) == 0)
        return 1;
    for (int i = 0; i < c->nbuurten; i++)
        if (perm_boa_covers(u, c->buurten[i]))
            return 1;
    return 0;
}

static int transition(struct post_op *op, const struct case_rec *c,
                      enum case_op what, enum case_state target,
                      enum case_state *to)
{
    char msg[160];

    if (case_transition(c->kind, c->state, what, target, to) == RELAY_OK)
        return RELAY_OK;
    snprintf(msg, sizeof(msg), "not possible for a%s %s in state %s",
             c->kind == CASE_APPEAL ? "n" : "", case_kind_name(c->kind),
             case_state_name(c->state));
    op_fail(op, RELAY_ECONFLICT, PROTO_E_CONFLICT, msg);
    return RELAY_ECONFLICT;
}

static void hset_state(struct txn_build *b, const char *case_id,
                       enum case_state to)
{
    cmd(b);
    arg(b, "HSET");
    arg(b, dupf(b, "case:%s", case_id));
    arg(b, "state");
    arg(b, case_state_name(to));
    arg(b, "updated");
    arg(b, now_str(b));
    if (case_state_is_closed(to)) {
        arg(b, "closed");
        arg(b, now_str(b));
    }
}

/* Closed cases keep personal data for retention-days, then are purged. */
static void schedule_retention(struct post_op *op, struct txn_build *b,
                               const char *case_id)
{
    cmd(b);
    arg(b, "ZADD");
    arg(b, "retention:cases");
    arg(b,
        dupf(b, "%lld",
             (long long)time(NULL) + op->relay->cfg.retention_days * 86400LL));
    arg(b, case_id);
}

static void on_approve(struct post_op *op, const struct case_rec *c,
                       struct txn_build *b)
{
    enum case_state to;

    if (op->user.role != ROLE_POLICE) {
        op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                "only police approve appeals");
        return;
    }
    if (strcmp(c->owner, op->user.id) == 0) {
        op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                "a second officer must approve this appeal");
        return;
    }
    if (transition(op, c, CASE_OP_APPROVE, 0, &to) < 0)
        return;
    hset_state(b, c->id, to);
    arg(b, "approved_by");
    arg(b, op->user.id);
    event(b, c->id, "approve", &op->user, "{}");
    if (!c->alert || group(b, strdup(c->alert), 1) < 0)
        goto nomem;
    chan_buurten(b, (char(*)[11])c->buurten, c->nbuurten);
    if (copy_hidden(b) < 0)
        goto nomem;
    chan(b, dupf(b, "case:%s", c->id));
    if (group(b, msg_done(msg_new("approved", c->id, &op->user)), 0) < 0)
        goto nomem;
    b->groups[b->ngroups - 1].hidden = 1;
    chan(b, dupf(b, "case:%s", c->id));
    chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    snprintf(b->ack_extra, sizeof(b->ack_extra), ",\"state\":\"active\"");
    commit(op, b, c->id, c->version);
    return;
nomem:
    build_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

static void on_update(struct post_op *op, const struct case_rec *c,
                      struct txn_build *b)
{
    const struct proto_post *p = &op->post;
    char all[CASE_BUURTEN_MAX][11];
    char added[PROTO_AREA_MAX][11];
    int nall = c->nbuurten, nadded = 0;
    enum case_state to;
    cJSON *m;

    if (!officer_may(&op->user, c)) {
        op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                "you may not update this appeal");
        return;
    }
    if (transition(op, c, CASE_OP_UPDATE, 0, &to) < 0)
        return;
    memcpy(all, c->buurten, sizeof(all[0]) * (size_t)c->nbuurten);
    if (p->area) {
        char wanted[PROTO_AREA_MAX][11];
        int nwanted = 0;

        if (resolve_area(op, p->area, wanted, PROTO_AREA_MAX, &nwanted) < 0)
            return;
        for (int i = 0; i < nwanted; i++) {
            int known = 0;

            for (int k = 0; k < nall; k++)
                if (strcmp(all[k], wanted[i]) == 0)
                    known = 1;
            if (known || nall >= CASE_BUURTEN_MAX)
                continue;
            memcpy(all[nall++], wanted[i], sizeof(all[0]));
            memcpy(added[nadded++], wanted[i], sizeof(added[0]));
        }
    }
    if (op->user.role == ROLE_BOA)
        for (int i = 0; i < nadded; i++)
            if (!perm_boa_covers(&op->user, added[i])) {
                op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                        "a BOA widens appeals only within their wijken");
                return;
            }
    m = msg_new("update", c->id, &op->user);
    if (m)
        cJSON_AddStringToObject(m, "body", p->body);
    if (group(b, msg_done(m), 1) < 0)
        goto nomem;
    chan_buurten(b, (char(*)[11])c->buurten, c->nbuurten);
    if (copy_hidden(b) < 0)
        goto nomem;
    chan(b, dupf(b, "case:%s", c->id));
    if (nadded) {
        /* Newly reached buurten get the whole appeal, with the update. */
        cJSON *full = c->alert ? cJSON_Parse(c->alert) : NULL;

        if (full) {
            char now[40];

            proto_format_time((double)time(NULL), now, sizeof(now));
            cJSON_AddStringToObject(full, "update", p->body);
            cJSON_AddStringToObject(full, "updated", now);
        }
        if (group(b, msg_done(full), 1) < 0)
            goto nomem;
        chan_buurten(b, added, nadded);
    }
    hset_state(b, c->id, to);
    arg(b, "buurten");
    arg(b, csv(b, all, nall));
    event(b, c->id, "update", &op->user, b->groups[0].msg_json);
    commit(op, b, c->id, c->version);
    return;
nomem:
    build_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

static void on_close(struct post_op *op, const struct case_rec *c,
                     struct txn_build *b, const char *tippers)
{
    const struct proto_post *p = &op->post;
    enum case_state to;
    cJSON *m;

    if (!officer_may(&op->user, c)) {
        op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                "you may not close this appeal");
        return;
    }
    if (transition(op, c, CASE_OP_CLOSE, 0, &to) < 0)
        return;
    m = msg_new("close", c->id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "body", p->body);
        cJSON_AddStringToObject(m, "outcome", p->outcome);
        /* Shared photos and descriptions of a person must not outlive the
         * appeal (domain rules; Burgernet's closing practice). */
        cJSON_AddStringToObject(m, "instruction",
                                "Verwijder gedeelde foto's en "
                                "beschrijvingen van deze persoon.");
    }
    if (group(b, msg_done(m), 0) < 0)
        goto nomem;
    if (c->state == CS_ACTIVE)
        chan_buurten(b, (char(*)[11])c->buurten, c->nbuurten);
    chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    if (copy_hidden(b) < 0)
        goto nomem;
    chan(b, dupf(b, "case:%s", c->id));
    if (tippers && *tippers) {
        /* Tippers hear how it ended, and nothing about the investigation. */
        const char *t = tippers;

        m = msg_new("outcome", c->id, &op->user);
        if (m) {
            cJSON_AddStringToObject(m, "outcome", p->outcome);
            cJSON_AddStringToObject(m, "body", p->body);
        }
        if (group(b, msg_done(m), 0) < 0)
            goto nomem;
        b->groups[b->ngroups - 1].hidden = 1;
        while (*t) {
            const char *comma = strchr(t, ',');
            int n = comma ? (int)(comma - t) : (int)strlen(t);

            chan(b, dupf(b, "user:%.*s", n, t));
            if (!comma)
                break;
            t = comma + 1;
        }
    }
    hset_state(b, c->id, to);
    arg(b, "outcome");
    arg(b, p->outcome);
    /* The appeal text leaves the case record as it leaves the history. */
    cmd(b);
    arg(b, "HDEL");
    arg(b, dupf(b, "case:%s", c->id));
    arg(b, "alert");
    event(b, c->id, "close", &op->user, b->groups[0].msg_json);
    schedule_retention(op, b, c->id);
    b->redact = 1;
    snprintf(b->ack_extra, sizeof(b->ack_extra), ",\"state\":\"closed\"");
    commit(op, b, c->id, c->version);
    return;
nomem:
    build_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

static void on_tip(struct post_op *op, const struct case_rec *c,
                   struct txn_build *b, const char *tippers)
{
    const struct proto_post *p = &op->post;
    int anonymous = p->anonymous || op->user.role == ROLE_ANONYMOUS;
    enum case_state to;
    cJSON *m;

    if (c->kind == CASE_REPORT && strcmp(c->owner, op->user.id) != 0) {
        op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                "only the reporter adds to a report");
        return;
    }
    if (transition(op, c, CASE_OP_TIP, 0, &to) < 0)
        return;
    m = msg_new(c->kind == CASE_REPORT ? "comment" : "tip", c->id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "body", p->body);
        cJSON_AddBoolToObject(m, "anonymous", anonymous);
        if (!anonymous)
            cJSON_AddStringToObject(m, "tipper", op->user.id);
    }
    if (group(b, msg_done(m), 0) < 0)
        goto nomem;
    chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    if (copy_hidden(b) < 0)
        goto nomem;
    chan(b, dupf(b, "case:%s", c->id));
    event(b, c->id, "tip", &op->user, b->groups[0].msg_json);
    if (op->user.id[0] && c->kind == CASE_APPEAL) {
        /* Remember logged-in tippers (even anonymous ones: the outcome is
         * sent to their own channel only) for the closing message. */
        size_t len = tippers ? strlen(tippers) : 0;
        int known = tippers && strstr(tippers, op->user.id) != NULL;
        int count = 0;

        for (size_t i = 0; i < len; i++)
            count += tippers[i] == ',';
        if (!known && count < MAX_TIPPERS) {
            cmd(b);
            arg(b, "HSET");
            arg(b, dupf(b, "case:%s", c->id));
            arg(b, "tippers");
            arg(b, len ? dupf(b, "%s,%s", tippers, op->user.id) : op->user.id);
        }
    }
    commit(op, b, c->id, c->version);
    return;
nomem:
    build_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

static void on_status(struct post_op *op, const struct case_rec *c,
                      struct txn_build *b)
{
    const struct proto_post *p = &op->post;
    enum case_state target, to;
    cJSON *m;

    if (!officer_may(&op->user, c)) {
        op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                "you may not handle this report");
        return;
    }
    if (case_state_parse(p->state, &target) < 0) {
        op_fail(op, RELAY_EINVAL, PROTO_E_BAD_REQUEST,
                "post.state: unknown state");
        return;
    }
    if (transition(op, c, CASE_OP_STATUS, target, &to) < 0)
        return; /* answered, and op is gone */
    m = msg_new("status", c->id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "state", case_state_name(to));
        cJSON_AddStringToObject(m, "note", p->note);
        /* The reporter is asked whether they are satisfied. */
        if (case_state_is_closed(to))
            cJSON_AddBoolToObject(m, "ask_feedback", 1);
    }
    if (group(b, msg_done(m), 0) < 0)
        goto nomem;
    chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    if (copy_hidden(b) < 0)
        goto nomem;
    chan(b, dupf(b, "case:%s", c->id));
    if (c->owner[0] && channel_is_id(c->owner))
        chan(b, dupf(b, "user:%s", c->owner));
    hset_state(b, c->id, to);
    event(b, c->id, "status", &op->user, b->groups[0].msg_json);
    cmd(b);
    arg(b, "ZREM");
    arg(b, "esc:reports");
    arg(b, c->id);
    if (case_state_is_closed(to))
        schedule_retention(op, b, c->id);
    snprintf(b->ack_extra, sizeof(b->ack_extra), ",\"state\":\"%s\"",
             case_state_name(to));
    commit(op, b, c->id, c->version);
    return;
nomem:
    build_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

static void on_feedback(struct post_op *op, const struct case_rec *c,
                        struct txn_build *b)
{
    const struct proto_post *p = &op->post;
    enum case_state to;
    cJSON *m;

    if (c->kind != CASE_REPORT || strcmp(c->owner, op->user.id) != 0) {
        op_fail(op, RELAY_EFORBIDDEN, PROTO_E_FORBIDDEN,
                "only the reporter gives feedback on a report");
        return;
    }
    if (transition(op, c,
                   p->satisfied ? CASE_OP_SATISFIED : CASE_OP_UNSATISFIED, 0,
                   &to) < 0)
        return;
    m = msg_new("feedback", c->id, &op->user);
    if (m) {
        cJSON_AddBoolToObject(m, "satisfied", p->satisfied);
        add_opt(m, "comment", p->comment);
        cJSON_AddStringToObject(m, "state", case_state_name(to));
    }
    if (group(b, msg_done(m), 0) < 0)
        goto nomem;
    chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    if (copy_hidden(b) < 0)
        goto nomem;
    chan(b, dupf(b, "case:%s", c->id));
    if (to != c->state) {
        chan(b, dupf(b, "user:%s", c->owner));
        hset_state(b, c->id, to);
        cmd(b);
        arg(b, "ZREM");
        arg(b, "retention:cases");
        arg(b, c->id);
    } else {
        cmd(b);
        arg(b, "HSET");
        arg(b, dupf(b, "case:%s", c->id));
        arg(b, "satisfied");
        arg(b, "1");
    }
    event(b, c->id, "feedback", &op->user, b->groups[0].msg_json);
    snprintf(b->ack_extra, sizeof(b->ack_extra), ",\"state\":\"%s\"",
             case_state_name(to));
    commit(op, b, c->id, c->version);
    return;
nomem:
    build_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

/* Nobody acknowledged a report in time: the police desk of its gemeente
 * sees it, and it shows as overdue on the district desk. */
static void on_escalate(struct post_op *op, const struct case_rec *c,
                        struct txn_build *b)
{
    enum case_state to;
    cJSON *m;

    if (case_transition(c->kind, c->state, CASE_OP_ESCALATE, 0, &to) < 0) {
        /* Acknowledged meanwhile: just forget the timer. */
        cmd(b);
        arg(b, "ZREM");
        arg(b, "esc:reports");
        arg(b, c->id);
        commit(op, b, c->id, c->version);
        return;
    }
    m = msg_new("escalated", c->id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "category", c->category);
        if (c->nbuurten)
            cJSON_AddStringToObject(m, "buurt", c->buurten[0]);
        cJSON_AddBoolToObject(m, "overdue", 1);
    }
    if (group(b, msg_done(m), 0) < 0)
        goto nomem;
    chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    for (int i = 0; i < c->nbuurten; i++)
        chan(b, dupf(b, "desk:GM%.4s", c->buurten[i] + 2));
    if (copy_hidden(b) < 0)
        goto nomem;
    chan(b, dupf(b, "case:%s", c->id));
    cmd(b);
    arg(b, "HSET");
    arg(b, dupf(b, "case:%s", c->id));
    arg(b, "overdue");
    arg(b, "1");
    cmd(b);
    arg(b, "ZREM");
    arg(b, "esc:reports");
    arg(b, c->id);
    event(b, c->id, "escalated", &op->user, b->groups[0].msg_json);
    commit(op, b, c->id, c->version);
    return;
nomem:
    build_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

/* Retention: a case closed long enough loses everything personal (who
 * reported or tipped, descriptions, the event history); what remains is
 * kind, category, buurten and dates, for statistics. */
static void on_purge(struct post_op *op, const struct case_rec *c,
                     struct txn_build *b)
{
    if (case_state_is_closed(c->state)) {
        cmd(b);
        arg(b, "DEL");
        arg(b, dupf(b, "case:%s:events", c->id));
        arg(b, dupf(b, "case:%s:msgs", c->id));
        cmd(b);
        arg(b, "HDEL");
        arg(b, dupf(b, "case:%s", c->id));
        arg(b, "owner");
        arg(b, "alert");
        arg(b, "tippers");
        arg(b, "approved_by");
        cmd(b);
        arg(b, "HSET");
        arg(b, dupf(b, "case:%s", c->id));
        arg(b, "purged");
        arg(b, now_str(b));
    }
    cmd(b);
    arg(b, "ZREM");
    arg(b, "retention:cases");
    arg(b, c->id);
    commit(op, b, c->id, c->version);
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
    str = msg_done(out);
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
