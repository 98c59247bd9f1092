/*
 * ratelimit.h - token buckets keyed by a short string, in bounded memory.
 *
 * One struct ratelimit is one policy ("posts per user", "frames per IP"):
 * every key gets a bucket of 'burst' tokens that refills at 'rate_per_s'
 * tokens per second; an action costing 'cost' tokens is allowed when the
 * bucket holds that many, and then takes them. A key seen for the first
 * time starts with a full bucket.
 *
 * Memory is fixed at creation: at most 'capacity' buckets (keytab.h).
 * When the table is full, a new key evicts the least recently used
 * bucket. Evicting a bucket that has refilled completely loses nothing (a
 * new bucket is full too); evicting one that has not ("active") lets that
 * key start over with a full burst, so size the capacity above the number
 * of distinct keys expected within burst / rate_per_s seconds. The stats
 * count both kinds so a too small capacity shows on /metrics.
 *
 * Time is passed in by the caller as milliseconds on any monotonic clock
 * (the daemon uses uv_now()), which keeps the unit tests deterministic. A
 * time earlier than the bucket's last update counts as no time passed.
 *
 * Not thread-safe: one limiter belongs to one event loop.
 */
#ifndef RELAY_RATELIMIT_H
#define RELAY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "keytab.h"

#define RATELIMIT_KEY_MAX KEYTAB_KEY_MAX

/* ratelimit_take() verdicts (errors are negative RELAY_* codes). */
#define RATELIMIT_ALLOWED 0
#define RATELIMIT_LIMITED 1

/* Counters since creation, for /metrics. */
struct ratelimit_stats {
    size_t keys;             /* buckets in use */
    size_t capacity;         /* most buckets */
    uint64_t allowed;        /* takes that passed */
    uint64_t limited;        /* takes refused */
    uint64_t evicted;        /* buckets evicted to make room */
    uint64_t evicted_active; /* ... of which had not refilled yet */
};

struct ratelimit;

/*
 * Creates a limiter of 'capacity' buckets (1..KEYTAB_CAPACITY_MAX), each
 * refilling 'rate_per_s' tokens per second (> 0) up to 'burst' (> 0).
 * NULL for an argument out of range or out of memory.
 */
struct ratelimit *ratelimit_create(size_t capacity, double rate_per_s,
                                   double burst);

/* Frees the limiter; NULL is fine. */
void ratelimit_destroy(struct ratelimit *rl);

/*
 * Takes 'cost' tokens (0 < cost <= burst) from the bucket of 'key'
 * (1..RATELIMIT_KEY_MAX bytes) at time 'now_ms'. Returns
 * RATELIMIT_ALLOWED (tokens taken, *retry_after_s = 0) or
 * RATELIMIT_LIMITED (nothing taken; *retry_after_s = the exact seconds
 * until the bucket holds 'cost' tokens, > 0), or RELAY_EINVAL for a bad
 * key or cost. retry_after_s may be NULL.
 */
int ratelimit_take(struct ratelimit *rl, const char *key, uint64_t now_ms,
                   double cost, double *retry_after_s);

/* Fills *out with the current counters. */
void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out);

#endif
