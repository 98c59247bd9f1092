/*
 * post.h - the post engine: what every kind of post does to cases and
 * channels.
 *
 * One entry point for both the WebSocket "post" frame and the REST mirror.
 * A post that creates a case (alert, report) becomes one bus transaction.
 * A post on an existing case (update, close, tip, status, approve,
 * feedback) first reads the case, checks the transition table
 * (case_state.h) and who may act on this case, then commits one
 * transaction guarded by the case's version; if someone else changed the
 * case meanwhile the engine re-reads and tries again. The client's post id
 * is the idempotency key (scoped by user): a retry after a lost ack gets
 * the same ack and nobody gets the post twice.
 *
 * Who hears what:
 *   alert    buurt:<each buurt>, case:<id>   (pending approval: the
 *            desks of its wijken and case:<id> only)
 *   approve  the alert to its buurten; "approved" on case:<id>
 *   update   "update" to the case's buurten and case:<id>; the full alert
 *            to buurten the update adds
 *   close    "close" to every buurt, case:<id>, the desks, and "outcome"
 *            to every logged-in tipper's user:<id>; the appeal's earlier
 *            messages leave the channel histories
 *   report   desk:<wijk>, case:<id>; a "receipt" on the reporter's user:
 *   tip      desk:<wijk of each buurt>, case:<id>
 *   status   desk, case:<id>, and the reporter's user:<id>
 *   feedback desk, case:<id> (and the reporter's user: when it reopens)
 */
#ifndef RELAY_POST_H
#define RELAY_POST_H

#include <cjson/cJSON.h>

#include "permissions.h"
#include "protocol.h"
#include "relay.h"

/*
 * rc RELAY_OK: ack_json is the ack body {"case", "state"?, "published"}
 * (borrowed). rc < 0: err says what to answer (code + message, and for a
 * description check the reason and flags in err->extra_json).
 */
typedef void (*post_done_cb)(void *arg, int rc, const struct proto_error *err,
                             const char *ack_json);

/*
 * Submits the post object 'post' (borrowed: copied before this returns)
 * by 'user' with the client's idempotency id. The caller has validated it
 * with proto_parse_post() and checked perm_post(). Returns RELAY_OK when
 * the callback will be called; otherwise a negative code with 'err'
 * filled and no callback.
 */
int post_submit(struct relay *relay, const struct user *user,
                const char *client_id, const cJSON *post, post_done_cb cb,
                void *arg, struct proto_error *err);

/* Jobs the relay runs by itself on a case (case_timers.c). */
enum post_system {
    POST_SYSTEM_NONE = 0,
    POST_SYSTEM_ESCALATE, /* a report nobody acknowledged in time */
    POST_SYSTEM_PURGE,    /* retention: drop a closed case's personal data */
};

/* Runs a system job on 'case_id' with the same guarantees as a post
 * (atomic, idempotent, version-checked). 'cb' gets the outcome. */
int post_system(struct relay *relay, enum post_system what, const char *case_id,
                post_done_cb cb, void *arg);

/*
 * Builds the complete ack frame {"type":"ack","id","ref"?,"case",
 * "published","seq"...} from the ack body. Heap string (free with free()),
 * NULL when out of memory. 'ref' may be NULL.
 */
char *post_build_ack(const char *ack_json, const char *id, const char *ref);

#endif
