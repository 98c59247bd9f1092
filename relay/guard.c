#include "guard.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "bus.h"
#include "conn_limit.h"
#include "error.h"
#include "log.h"
#include "ratelimit.h"

/* Keys tracked per limiter: beyond this the least recently used go (a
 * forgotten key starts with a full bucket, which only ever lets more
 * through for a moment, never less). */
#define GUARD_KEYS 65536
/* Audit entries about refusals: per IP, 5 per second, bursts of 20. */
#define GUARD_AUDIT_RATE 5.0
#define GUARD_AUDIT_BURST 20.0

int guard_init(struct relay *relay)
{
    const struct relay_config *c = &relay->cfg;
    unsigned char audit_key[AUDIT_KEY_BYTES];

    relay->rl_frames = ratelimit_create(GUARD_KEYS, (double)c->rate_frames,
                                        (double)c->rate_frames_burst);
    relay->rl_posts = ratelimit_create(GUARD_KEYS, (double)c->rate_posts,
                                       (double)c->rate_posts_burst);
    relay->rl_anon =
        ratelimit_create(GUARD_KEYS, (double)c->rate_anon_posts / 60.0,
                         (double)c->rate_anon_posts);
    relay->rl_logins = ratelimit_create(
        GUARD_KEYS, (double)c->rate_logins / 60.0, (double)c->rate_logins);
    relay->rl_audit =
        ratelimit_create(GUARD_KEYS, GUARD_AUDIT_RATE, GUARD_AUDIT_BURST);
    relay->conns = conn_limit_create(GUARD_KEYS, (unsigned)c->max_conns_per_ip);
    if (audit_key_derive(relay->pii_key, audit_key) == RELAY_OK)
        relay->audit = audit_create(relay->loop, bus_command_link(relay->bus),
                                    audit_key, 4096);
    sodium_memzero(audit_key, sizeof(audit_key));
    if (!relay->rl_frames || !relay->rl_posts || !relay->rl_anon ||
        !relay->rl_logins || !relay->rl_audit || !relay->conns || !relay->audit)
        return RELAY_ENOMEM;
    return RELAY_OK;
}

void guard_cleanup(struct relay *relay)
{
    ratelimit_destroy(relay->rl_frames);
    ratelimit_destroy(relay->rl_posts);
    ratelimit_destroy(relay->rl_anon);
    ratelimit_destroy(relay->rl_logins);
    ratelimit_destroy(relay->rl_audit);
    conn_limit_destroy(relay->conns);
    audit_destroy(relay->audit);
    relay->rl_frames = relay->rl_posts = relay->rl_anon = NULL;
    relay->rl_logins = relay->rl_audit = NULL;
    relay->conns = NULL;
    relay->audit = NULL;
}

int guard_take(struct relay *relay, enum guard_limit limit, const char *key,
               int *retry_after)
{
    struct ratelimit *rl = limit == GUARD_FRAMES       ? relay->rl_frames
                           : limit == GUARD_POSTS      ? relay->rl_posts
                           : limit == GUARD_ANON_POSTS ? relay->rl_anon
                                                       : relay->rl_logins;
    double wait = 0;
    int rc;

    if (!rl || !key || !key[0])
        return RELAY_OK;
    rc = ratelimit_take(rl, key, uv_now(relay->loop), 1.0, &wait);
    if (rc != RATELIMIT_LIMITED)
        return RELAY_OK; /* allowed, or a key we cannot track: let it in */
    relay->metrics.rate_limited++;
    *retry_after = (int)ceil(wait);
    if (*retry_after < 1)
        *retry_after = 1;
    return RELAY_EFULL;
}

void guard_audit(struct relay *relay, const struct user *user, const char *ip,
                 const char *action, const char *target, const char *result)
{
    struct audit_entry e;
    double wait;
    int anonymous = !user || user->role == ROLE_ANONYMOUS || !user->id[0];

    if (!relay->audit)
        return;
    if (strcmp(result, "ok") != 0 && ip && ip[0] &&
        ratelimit_take(relay->rl_audit, ip, uv_now(relay->loop), 1.0, &wait) ==
            RATELIMIT_LIMITED)
        return;
    memset(&e, 0, sizeof(e));
    e.actor = anonymous ? "anonymous" : user->id;
    e.role = anonymous ? "anonymous" : role_name(user->role);
    e.action = action;
    e.target = target && target[0] ? target : "-";
    e.result = result;
    if (audit_append(relay->audit, &e) < 0)
        log_warn("guard", "audit entry %s not queued", action);
}
