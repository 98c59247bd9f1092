/*
 * guard.h - the relay's limits and its audit trail, in one place.
 *
 * Limiters (token buckets, relay/ratelimit.h) per user id or per IP:
 * frames, posts, anonymous posts, logins; a cap on open WebSockets per IP
 * (relay/conn_limit.h). Every refusal of a logged-in user, every officer's
 * post and every refused token goes to the hash-chained audit trail
 * (relay/audit.h); refusals are audited at a bounded rate per IP so a
 * flood cannot fill the trail.
 */
#ifndef RELAY_GUARD_H
#define RELAY_GUARD_H

#include "permissions.h"
#include "relay.h"

enum guard_limit {
    GUARD_FRAMES,
    GUARD_POSTS,
    GUARD_ANON_POSTS,
    GUARD_LOGINS,
};

/* Creates the limiters and the audit writer (needs relay->pii_key and the
 * bus). RELAY_ENOMEM. */
int guard_init(struct relay *relay);

/* Frees what guard_init made; the loop must run afterwards. */
void guard_cleanup(struct relay *relay);

/*
 * Takes one unit from 'limit' for 'key' (user id or IP). RELAY_OK when
 * allowed; RELAY_EFULL when limited, with *retry_after set in whole
 * seconds (at least 1) for the client's retry_after.
 */
int guard_take(struct relay *relay, enum guard_limit limit, const char *key,
               int *retry_after);

/*
 * Appends one audit entry: 'user' (NULL or anonymous: actor "anonymous"),
 * action (e.g. "deny.subscribe", "post.alert"), target (channel, case id;
 * "-" for none), result ("ok", "denied"). Denials ('result' not "ok") are
 * limited per 'ip'. Never fails the caller: problems are logged.
 */
void guard_audit(struct relay *relay, const struct user *user, const char *ip,
                 const char *action, const char *target, const char *result);

#endif
