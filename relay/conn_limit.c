/*
 * conn_limit.c - per-key connection counts in a keytab (conn_limit.h).
 */
#include "conn_limit.h"

#include <stdlib.h>

#include "error.h"

struct conn_limit {
    struct keytab *keys;
    unsigned *counts; /* indexed by keytab slot; > 0 while occupied */
    unsigned max_per_key;
    struct conn_limit_stats stats;
};

struct conn_limit *conn_limit_create(size_t capacity, unsigned max_per_key)
{
    struct conn_limit *cl;

    if (capacity == 0 || capacity > KEYTAB_CAPACITY_MAX || max_per_key == 0)
        return NULL;
    cl = calloc(1, sizeof(*cl));
    if (!cl)
        return NULL;
    cl->keys = keytab_create(capacity);
    cl->counts = calloc(capacity, sizeof(*cl->counts));
    if (!cl->keys || !cl->counts) {
        conn_limit_destroy(cl);
        return NULL;
    }
    cl->max_per_key = max_per_key;
    cl->stats.capacity = capacity;
    return cl;
}

void conn_limit_destroy(struct conn_limit *cl)
{
    if (!cl)
        return;
    keytab_destroy(cl->keys);
    free(cl->counts);
    free(cl);
}

int conn_limit_acquire(struct conn_limit *cl, const char *key)
{
    long slot;

    if (!cl || !keytab_key_valid(key))
        return RELAY_EINVAL;
    slot = keytab_find(cl->keys, key);
    if (slot >= 0) {
        if (cl->counts[slot] >= cl->max_per_key) {
            cl->stats.refused_key++;
            return RELAY_ETOOBIG;
        }
        cl->counts[slot]++;
        return RELAY_OK;
    }
    slot = keytab_insert(cl->keys, key);
    if (slot < 0) {
        cl->stats.refused_table++;
        return RELAY_EFULL;
    }
    cl->counts[slot] = 1;
    return RELAY_OK;
}

int conn_limit_release(struct conn_limit *cl, const char *key)
{
    long slot;

    if (!cl)
        return RELAY_EINVAL;
    slot = keytab_find(cl->keys, key);
    if (slot < 0)
        return RELAY_ENOTFOUND;
    if (--cl->counts[slot] == 0)
        keytab_remove(cl->keys, slot);
    return RELAY_OK;
}

unsigned conn_limit_count(const struct conn_limit *cl, const char *key)
{
    long slot = cl ? keytab_find(cl->keys, key) : -1;

    return slot < 0 ? 0 : cl->counts[slot];
}

void conn_limit_stats(const struct conn_limit *cl, struct conn_limit_stats *out)
{
    *out = cl->stats;
    out->keys = keytab_count(cl->keys);
}
