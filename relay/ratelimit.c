/*
 * ratelimit.c - token buckets in a fixed-capacity keytab (ratelimit.h).
 */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/*
 * Slack for floating-point rounding: a bucket told to wait exactly
 * retry_after_s must be allowed when it comes back after exactly that
 * long, even if the refill sum rounds a hair below 'cost'.
 */
#define TOKEN_EPSILON 1e-9

struct bucket {
    double tokens;    /* as of last_ms */
    uint64_t last_ms; /* when 'tokens' was computed */
};

struct ratelimit {
    struct keytab *keys;
    struct bucket *buckets; /* indexed by keytab slot */
    double rate_per_ms;
    double burst;
    struct ratelimit_stats stats;
};

struct ratelimit *ratelimit_create(size_t capacity, double rate_per_s,
                                   double burst)
{
    struct ratelimit *rl;

    if (!isfinite(rate_per_s) || rate_per_s <= 0 || !isfinite(burst) ||
        burst <= 0 || capacity == 0 || capacity > KEYTAB_CAPACITY_MAX)
        return NULL;
    rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->keys = keytab_create(capacity);
    rl->buckets = calloc(capacity, sizeof(*rl->buckets));
    if (!rl->keys || !rl->buckets) {
        ratelimit_destroy(rl);
        return NULL;
    }
    rl->rate_per_ms = rate_per_s / 1000.0;
    rl->burst = burst;
    rl->stats.capacity = capacity;
    return rl;
}

void ratelimit_destroy(struct ratelimit *rl)
{
    if (!rl)
        return;
    keytab_destroy(rl->keys);
    free(rl->buckets);
    free(rl);
}

/* Brings b up to now_ms: refill, capped at burst. Time going backwards
 * adds nothing and does not move last_ms back. */
static void refill(const struct ratelimit *rl, struct bucket *b,
                   uint64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    b->tokens += (double)(now_ms - b->last_ms) * rl->rate_per_ms;
    if (b->tokens > rl->burst)
        b->tokens = rl->burst;
    b->last_ms = now_ms;
}

/*
 * Finds or creates the bucket of 'key'. When the table is full the least
 * recently used bucket is evicted, counted as active when it had not yet
 * refilled at now_ms. Returns the slot or -1 (invalid key).
 */
static long bucket_slot(struct ratelimit *rl, const char *key, uint64_t now_ms)
{
    long slot = keytab_find(rl->keys, key);

    if (slot >= 0) {
        keytab_touch(rl->keys, slot);
        return slot;
    }
    if (keytab_count(rl->keys) == keytab_capacity(rl->keys)) {
        long old = keytab_lru(rl->keys);
        struct bucket *ob = &rl->buckets[old];

        refill(rl, ob, now_ms);
        rl->stats.evicted++;
        if (ob->tokens < rl->burst)
            rl->stats.evicted_active++;
        keytab_remove(rl->keys, old);
    }
    slot = keytab_insert(rl->keys, key);
    if (slot < 0)
        return -1;
    rl->buckets[slot].tokens = rl->burst;
    rl->buckets[slot].last_ms = now_ms;
    return slot;
}

int ratelimit_take(struct ratelimit *rl, const char *key, uint64_t now_ms,
                   double cost, double *retry_after_s)
{
    struct bucket *b;
    long slot;

    if (!rl || !keytab_key_valid(key) || !isfinite(cost) || cost <= 0 ||
        cost > rl->burst)
        return RELAY_EINVAL;
    slot = bucket_slot(rl, key, now_ms);
    if (slot < 0)
        return RELAY_EINVAL;
    b = &rl->buckets[slot];
    refill(rl, b, now_ms);
    if (b->tokens + TOKEN_EPSILON >= cost) {
        b->tokens -= cost;
        if (b->tokens < 0)
            b->tokens = 0;
        rl->stats.allowed++;
        if (retry_after_s)
            *retry_after_s = 0;
        return RATELIMIT_ALLOWED;
    }
    rl->stats.limited++;
    if (retry_after_s)
        *retry_after_s = (cost - b->tokens) / (rl->rate_per_ms * 1000.0);
    return RATELIMIT_LIMITED;
}

void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out)
{
    *out = rl->stats;
    out->keys = keytab_count(rl->keys);
}
