/*
 * post.h - turns a validated, permitted post into a publication.
 *
 * Decides which channels a post goes to, builds the "msg" object every
 * subscriber receives and the case record, and hands both to the bus. The
 * client's post id is the idempotency key (scoped by user), so a client that
 * retries after a lost ack gets the same ack and nobody gets the post twice.
 *
 * Kinds handled by this version: alert (area by buurt codes) and report
 * (by buurt code). The others are validated and permission-checked, then
 * answered with bad_request "not available in this version".
 */
#ifndef RELAY_POST_H
#define RELAY_POST_H

#include "bus.h"
#include "permissions.h"
#include "protocol.h"

/*
 * rc RELAY_OK: ack_json is the ack body {"case","published"} (borrowed).
 * rc < 0: err says what to answer (code + message).
 */
typedef void (*post_done_cb)(void *arg, int rc, const struct proto_error *err,
                             const char *ack_json);

/*
 * Submits 'post' by 'user' with the client's idempotency id. Permission
 * must already have been checked (perm_post). Returns RELAY_OK when the
 * callback will be called; otherwise a negative code with 'err' filled and
 * no callback.
 */
int post_submit(struct bus *bus, const struct user *user, const char *client_id,
                const struct proto_post *post, post_done_cb cb, void *arg,
                struct proto_error *err);

/*
 * Builds the complete ack frame {"type":"ack","id","ref"?,"case",
 * "published","seq"} from the ack body the bus returned. Heap string (free
 * with free()), NULL when out of memory. 'ref' may be NULL.
 */
char *post_build_ack(const char *ack_json, const char *id, const char *ref);

#endif
