/*
 * case_ops.c - what each post does to an existing case (and the relay's
 * own jobs on cases): the rules per kind on top of the transition table,
 * building one transaction each. Entry and commit are in post.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "areas.h"
#include "case_state.h"
#include "channel.h"
#include "error.h"
#include "post_internal.h"
#include "log.h"
#include "notify.h"
#include "txn_build.h"

#define MAX_TIPPERS 256 /* tippers remembered for the outcome message */

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
    txn_cmd(b);
    txn_arg(b, "HSET");
    txn_arg(b, txn_dupf(b, "case:%s", case_id));
    txn_arg(b, "state");
    txn_arg(b, case_state_name(to));
    txn_arg(b, "updated");
    txn_arg(b, txn_now(b));
    if (case_state_is_closed(to)) {
        txn_arg(b, "closed");
        txn_arg(b, txn_now(b));
    }
}

/* Closed cases keep personal data for retention-days, then are purged. */
static void schedule_retention(struct post_op *op, struct txn_build *b,
                               const char *case_id)
{
    txn_cmd(b);
    txn_arg(b, "ZADD");
    txn_arg(b, "retention:cases");
    txn_arg(b, txn_dupf(b, "%lld",
                        (long long)time(NULL) +
                            op->relay->cfg.retention_days * 86400LL));
    txn_arg(b, case_id);
}

/* Checks and plans one notice of a case (notify.h); the delivery case
 * is the case id plus 'suffix' ("" for the appeal itself). Notices to
 * buurten also go to their linked chat groups. Takes 'text' (frees it).
 * Returns < 0 when the post was answered (refused text) and 'b' freed. */
static int sms_compose(struct post_op *op, const struct case_rec *c,
                       struct txn_build *b, const char *suffix,
                       const char *kind, char (*codes)[11], int n,
                       const char *user_id, enum outbox_lane lane, char *text)
{
    char dcase[OUTBOX_ID_MAX + 1];
    struct notify_spec spec;
    int rc, len;

    if (!op->relay->outbox) {
        free(text);
        return RELAY_OK;
    }
    len = snprintf(dcase, sizeof(dcase), "%s%s", c->id, suffix);
    if (len < 0 || (size_t)len >= sizeof(dcase)) {
        /* case ids are short: a suffix that does not fit is a bug */
        log_error("case", "case %s: notice id too long", c->id);
        free(text);
        return RELAY_OK;
    }
    memset(&spec, 0, sizeof(spec));
    spec.dcase = dcase;
    spec.kind = kind;
    spec.codes = codes;
    spec.n = n;
    spec.user_id = user_id;
    spec.lane = lane;
    spec.groups = user_id == NULL;
    spec.text = text;
    rc = notify_compose(op, 1, &spec);
    free(text);
    if (rc < 0)
        txn_free(b);
    return rc;
}

/* The appeal's SMS from its stored msg (title, body, instruction). */
static char *appeal_text(const char *alert)
{
    cJSON *a = alert ? cJSON_Parse(alert) : NULL;
    char *t;

    if (!a)
        return NULL;
    t = notify_text(
        "", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "title")),
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "body")),
        cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a, "instruction")));
    cJSON_Delete(a);
    return t;
}

void on_approve(struct post_op *op, const struct case_rec *c,
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
    /* Approved appeals are the severe ones: the urgent lane. */
    if (c->alert && sms_compose(op, c, b, "", "approval",
                                (char(*)[11])c->buurten, c->nbuurten, NULL,
                                OUTBOX_URGENT, appeal_text(c->alert)) < 0)
        return;
    hset_state(b, c->id, to);
    txn_arg(b, "approved_by");
    txn_arg(b, op->user.id);
    txn_event(b, c->id, "approve", &op->user, "{}");
    if (!c->alert || txn_group(b, strdup(c->alert), 1) < 0)
        goto nomem;
    txn_chan_buurten(b, (char(*)[11])c->buurten, c->nbuurten);
    if (txn_copy_hidden(b) < 0)
        goto nomem;
    txn_chan(b, txn_dupf(b, "case:%s", c->id));
    if (txn_group(b, txn_msg_done(txn_msg_new("approved", c->id, &op->user)),
                  0) < 0)
        goto nomem;
    b->groups[b->ngroups - 1].hidden = 1;
    txn_chan(b, txn_dupf(b, "case:%s", c->id));
    txn_chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    snprintf(b->ack_extra, sizeof(b->ack_extra), ",\"state\":\"active\"");
    commit(op, b, c->id, c->version);
    return;
nomem:
    txn_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

void on_update(struct post_op *op, const struct case_rec *c,
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
    {
        char suffix[32];

        snprintf(suffix, sizeof(suffix), "-u%s", c->version);
        /* The update goes out urgently, like the appeal it changes; a
         * buurt it adds first gets the whole appeal (its delivery case is
         * the appeal's, so whoever had it already is skipped). */
        if (c->state == CS_ACTIVE && nadded > 0 && c->alert &&
            sms_compose(op, c, b, "", "appeal", added, nadded, NULL,
                        OUTBOX_URGENT, appeal_text(c->alert)) < 0)
            return;
        if (c->state == CS_ACTIVE &&
            sms_compose(op, c, b, suffix, "update", all, nall, NULL,
                        OUTBOX_URGENT,
                        notify_text("Update: ", p->body, NULL, NULL)) < 0)
            return;
    }
    m = txn_msg_new("update", c->id, &op->user);
    if (m)
        cJSON_AddStringToObject(m, "body", p->body);
    if (txn_group(b, txn_msg_done(m), 1) < 0)
        goto nomem;
    txn_chan_buurten(b, (char(*)[11])c->buurten, c->nbuurten);
    if (txn_copy_hidden(b) < 0)
        goto nomem;
    txn_chan(b, txn_dupf(b, "case:%s", c->id));
    if (nadded) {
        /* Newly reached buurten get the whole appeal, with the update. */
        cJSON *full = c->alert ? cJSON_Parse(c->alert) : NULL;

        if (full) {
            char now[40];

            proto_format_time((double)time(NULL), now, sizeof(now));
            cJSON_AddStringToObject(full, "update", p->body);
            cJSON_AddStringToObject(full, "updated", now);
        }
        if (txn_group(b, txn_msg_done(full), 1) < 0)
            goto nomem;
        txn_chan_buurten(b, added, nadded);
    }
    hset_state(b, c->id, to);
    txn_arg(b, "buurten");
    txn_arg(b, txn_csv(b, all, nall));
    txn_event(b, c->id, "update", &op->user, b->groups[0].msg_json);
    commit(op, b, c->id, c->version);
    return;
nomem:
    txn_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

void on_close(struct post_op *op, const struct case_rec *c, struct txn_build *b,
              const char *tippers)
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
    /* Everyone the appeal reached by SMS hears that it ended: the case's
     * buurten (only an appeal that was published reached anyone). */
    if (c->state == CS_ACTIVE &&
        sms_compose(op, c, b, "-x", "closing", (char(*)[11])c->buurten,
                    c->nbuurten, NULL, OUTBOX_URGENT,
                    notify_text("Afgesloten: ", p->body, NULL, NULL)) < 0)
        return;
    m = txn_msg_new("close", c->id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "body", p->body);
        cJSON_AddStringToObject(m, "outcome", p->outcome);
        /* Shared photos and descriptions of a person must not outlive the
         * appeal (domain rules; Burgernet's closing practice). */
        cJSON_AddStringToObject(m, "instruction",
                                "Verwijder gedeelde foto's en "
                                "beschrijvingen van deze persoon.");
    }
    if (txn_group(b, txn_msg_done(m), 0) < 0)
        goto nomem;
    if (c->state == CS_ACTIVE)
        txn_chan_buurten(b, (char(*)[11])c->buurten, c->nbuurten);
    txn_chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    if (txn_copy_hidden(b) < 0)
        goto nomem;
    txn_chan(b, txn_dupf(b, "case:%s", c->id));
    if (tippers && *tippers) {
        /* Tippers hear how it ended, and nothing about the investigation. */
        const char *t = tippers;

        m = txn_msg_new("outcome", c->id, &op->user);
        if (m) {
            cJSON_AddStringToObject(m, "outcome", p->outcome);
            cJSON_AddStringToObject(m, "body", p->body);
        }
        if (txn_group(b, txn_msg_done(m), 0) < 0)
            goto nomem;
        b->groups[b->ngroups - 1].hidden = 1;
        while (*t) {
            const char *comma = strchr(t, ',');
            int n = comma ? (int)(comma - t) : (int)strlen(t);

            txn_chan(b, txn_dupf(b, "user:%.*s", n, t));
            if (!comma)
                break;
            t = comma + 1;
        }
    }
    hset_state(b, c->id, to);
    txn_arg(b, "outcome");
    txn_arg(b, p->outcome);
    /* The appeal text leaves the case record as it leaves the history. */
    txn_cmd(b);
    txn_arg(b, "HDEL");
    txn_arg(b, txn_dupf(b, "case:%s", c->id));
    txn_arg(b, "alert");
    txn_event(b, c->id, "close", &op->user, b->groups[0].msg_json);
    schedule_retention(op, b, c->id);
    b->redact = 1;
    snprintf(b->ack_extra, sizeof(b->ack_extra), ",\"state\":\"closed\"");
    commit(op, b, c->id, c->version);
    return;
nomem:
    txn_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

void on_tip(struct post_op *op, const struct case_rec *c, struct txn_build *b,
            const char *tippers)
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
    m = txn_msg_new(c->kind == CASE_REPORT ? "comment" : "tip", c->id,
                    &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "body", p->body);
        cJSON_AddBoolToObject(m, "anonymous", anonymous);
        if (!anonymous)
            cJSON_AddStringToObject(m, "tipper", op->user.id);
    }
    if (txn_group(b, txn_msg_done(m), 0) < 0)
        goto nomem;
    txn_chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    if (txn_copy_hidden(b) < 0)
        goto nomem;
    txn_chan(b, txn_dupf(b, "case:%s", c->id));
    txn_event(b, c->id, "tip", &op->user, b->groups[0].msg_json);
    if (op->user.id[0] && op->user.role != ROLE_ANONYMOUS) {
        /* A receipt on the sender's own channel (all their devices). */
        cJSON *r = txn_msg_new("tip_receipt", c->id, &op->user);

        if (txn_group(b, txn_msg_done(r), 0) < 0)
            goto nomem;
        b->groups[b->ngroups - 1].hidden = 1;
        txn_chan(b, txn_dupf(b, "user:%s", op->user.id));
    }
    if (op->user.id[0] && c->kind == CASE_APPEAL) {
        /* Remember logged-in tippers (even anonymous ones: the outcome is
         * sent to their own channel only) for the closing message. */
        size_t len = tippers ? strlen(tippers) : 0;
        int known = tippers && strstr(tippers, op->user.id) != NULL;
        int count = 0;

        for (size_t i = 0; i < len; i++)
            count += tippers[i] == ',';
        if (!known && count < MAX_TIPPERS) {
            txn_cmd(b);
            txn_arg(b, "HSET");
            txn_arg(b, txn_dupf(b, "case:%s", c->id));
            txn_arg(b, "tippers");
            txn_arg(b, len ? txn_dupf(b, "%s,%s", tippers, op->user.id)
                           : op->user.id);
        }
    }
    commit(op, b, c->id, c->version);
    return;
nomem:
    txn_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

void on_status(struct post_op *op, const struct case_rec *c,
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
    if (c->owner[0] && channel_is_id(c->owner)) {
        /* The reporter, by SMS only if they have a phone. */
        char suffix[32];

        snprintf(suffix, sizeof(suffix), "-s%s", c->version);
        if (sms_compose(op, c, b, suffix, "status", NULL, 0, c->owner,
                        OUTBOX_ROUTINE,
                        notify_text("Uw melding: ", case_state_label_nl(to),
                                    p->note, NULL)) < 0)
            return;
    }
    m = txn_msg_new("status", c->id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "state", case_state_name(to));
        cJSON_AddStringToObject(m, "note", p->note);
        /* The reporter is asked whether they are satisfied. */
        if (case_state_is_closed(to))
            cJSON_AddBoolToObject(m, "ask_feedback", 1);
    }
    if (txn_group(b, txn_msg_done(m), 0) < 0)
        goto nomem;
    txn_chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    if (txn_copy_hidden(b) < 0)
        goto nomem;
    txn_chan(b, txn_dupf(b, "case:%s", c->id));
    if (c->owner[0] && channel_is_id(c->owner))
        txn_chan(b, txn_dupf(b, "user:%s", c->owner));
    hset_state(b, c->id, to);
    txn_event(b, c->id, "status", &op->user, b->groups[0].msg_json);
    txn_cmd(b);
    txn_arg(b, "ZREM");
    txn_arg(b, "esc:reports");
    txn_arg(b, c->id);
    if (case_state_is_closed(to))
        schedule_retention(op, b, c->id);
    snprintf(b->ack_extra, sizeof(b->ack_extra), ",\"state\":\"%s\"",
             case_state_name(to));
    commit(op, b, c->id, c->version);
    return;
nomem:
    txn_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

void on_feedback(struct post_op *op, const struct case_rec *c,
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
    m = txn_msg_new("feedback", c->id, &op->user);
    if (m) {
        cJSON_AddBoolToObject(m, "satisfied", p->satisfied);
        txn_msg_opt(m, "comment", p->comment);
        cJSON_AddStringToObject(m, "state", case_state_name(to));
    }
    if (txn_group(b, txn_msg_done(m), 0) < 0)
        goto nomem;
    txn_chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    if (txn_copy_hidden(b) < 0)
        goto nomem;
    txn_chan(b, txn_dupf(b, "case:%s", c->id));
    /* The reporter's own channel hears the answer too, so every device of
     * theirs knows the question is settled. */
    txn_chan(b, txn_dupf(b, "user:%s", c->owner));
    if (to != c->state) {
        hset_state(b, c->id, to);
        txn_cmd(b);
        txn_arg(b, "ZREM");
        txn_arg(b, "retention:cases");
        txn_arg(b, c->id);
    } else {
        txn_cmd(b);
        txn_arg(b, "HSET");
        txn_arg(b, txn_dupf(b, "case:%s", c->id));
        txn_arg(b, "satisfied");
        txn_arg(b, "1");
    }
    txn_event(b, c->id, "feedback", &op->user, b->groups[0].msg_json);
    snprintf(b->ack_extra, sizeof(b->ack_extra), ",\"state\":\"%s\"",
             case_state_name(to));
    commit(op, b, c->id, c->version);
    return;
nomem:
    txn_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

/* Nobody acknowledged a report in time: the police desk of its gemeente
 * sees it, and it shows as overdue on the district desk. */
void on_escalate(struct post_op *op, const struct case_rec *c,
                 struct txn_build *b)
{
    enum case_state to;
    cJSON *m;

    if (case_transition(c->kind, c->state, CASE_OP_ESCALATE, 0, &to) < 0) {
        /* Acknowledged meanwhile: just forget the timer. */
        txn_cmd(b);
        txn_arg(b, "ZREM");
        txn_arg(b, "esc:reports");
        txn_arg(b, c->id);
        commit(op, b, c->id, c->version);
        return;
    }
    m = txn_msg_new("escalated", c->id, &op->user);
    if (m) {
        cJSON_AddStringToObject(m, "category", c->category);
        if (c->nbuurten)
            cJSON_AddStringToObject(m, "buurt", c->buurten[0]);
        cJSON_AddBoolToObject(m, "overdue", 1);
    }
    if (txn_group(b, txn_msg_done(m), 0) < 0)
        goto nomem;
    txn_chan_desks(b, (char(*)[11])c->buurten, c->nbuurten);
    for (int i = 0; i < c->nbuurten; i++)
        txn_chan(b, txn_dupf(b, "desk:GM%.4s", c->buurten[i] + 2));
    if (txn_copy_hidden(b) < 0)
        goto nomem;
    txn_chan(b, txn_dupf(b, "case:%s", c->id));
    txn_cmd(b);
    txn_arg(b, "HSET");
    txn_arg(b, txn_dupf(b, "case:%s", c->id));
    txn_arg(b, "overdue");
    txn_arg(b, "1");
    txn_cmd(b);
    txn_arg(b, "ZREM");
    txn_arg(b, "esc:reports");
    txn_arg(b, c->id);
    txn_event(b, c->id, "escalated", &op->user, b->groups[0].msg_json);
    commit(op, b, c->id, c->version);
    return;
nomem:
    txn_free(b);
    op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
}

/* Retention: a case closed long enough loses everything personal (who
 * reported or tipped, descriptions, the event history); what remains is
 * kind, category, buurten and dates, for statistics. */
void on_purge(struct post_op *op, const struct case_rec *c, struct txn_build *b)
{
    if (case_state_is_closed(c->state)) {
        txn_cmd(b);
        txn_arg(b, "DEL");
        txn_arg(b, txn_dupf(b, "case:%s:events", c->id));
        txn_arg(b, txn_dupf(b, "case:%s:msgs", c->id));
        txn_cmd(b);
        txn_arg(b, "HDEL");
        txn_arg(b, txn_dupf(b, "case:%s", c->id));
        txn_arg(b, "owner");
        txn_arg(b, "alert");
        txn_arg(b, "tippers");
        txn_arg(b, "approved_by");
        txn_cmd(b);
        txn_arg(b, "HSET");
        txn_arg(b, txn_dupf(b, "case:%s", c->id));
        txn_arg(b, "purged");
        txn_arg(b, txn_now(b));
    }
    txn_cmd(b);
    txn_arg(b, "ZREM");
    txn_arg(b, "retention:cases");
    txn_arg(b, c->id);
    commit(op, b, c->id, c->version);
}
