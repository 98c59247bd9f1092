/*
 * conn_limit.h - open connections counted per key (an IP address), with a
 * maximum per key, in bounded memory.
 *
 * The server calls conn_limit_acquire() when a connection is accepted and
 * conn_limit_release() exactly once when that connection ends, with the
 * same key. A key whose count drops to zero is forgotten at once, so the
 * table holds only keys with open connections and nothing ever needs
 * evicting: when it is full (more distinct keys with open connections
 * than 'capacity') new keys are refused. Make the capacity at least the
 * most connections one process accepts; then the table is never the
 * limit.
 *
 * Not thread-safe: one table belongs to one event loop.
 */
#ifndef RELAY_CONN_LIMIT_H
#define RELAY_CONN_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "keytab.h"

#define CONN_LIMIT_KEY_MAX KEYTAB_KEY_MAX

struct conn_limit;

/* Counters since creation, for /metrics. */
struct conn_limit_stats {
    size_t keys;            /* keys with at least one open connection */
    size_t capacity;        /* most such keys */
    uint64_t refused_key;   /* acquires refused: that key was at its max */
    uint64_t refused_table; /* acquires refused: the table was full */
};

/* A table of 'capacity' keys (1..KEYTAB_CAPACITY_MAX), each allowed
 * 'max_per_key' (>= 1) connections. NULL when out of range or memory. */
struct conn_limit *conn_limit_create(size_t capacity, unsigned max_per_key);

/* Frees the table; NULL is fine. */
void conn_limit_destroy(struct conn_limit *cl);

/*
 * Counts one more connection for 'key' (1..CONN_LIMIT_KEY_MAX bytes).
 * RELAY_OK; RELAY_ETOOBIG when the key already has max_per_key
 * connections; RELAY_EFULL when the key is new and the table is full;
 * RELAY_EINVAL for a bad key. Nothing is counted on failure, so the
 * caller must not release after a refusal.
 */
int conn_limit_acquire(struct conn_limit *cl, const char *key);

/* Counts one connection of 'key' less. RELAY_OK, or RELAY_ENOTFOUND when
 * the key has no connection counted (a caller bug; nothing changes). */
int conn_limit_release(struct conn_limit *cl, const char *key);

/* Open connections counted for 'key' (0 when unknown). */
unsigned conn_limit_count(const struct conn_limit *cl, const char *key);

/* Fills *out with the current counters. */
void conn_limit_stats(const struct conn_limit *cl,
                      struct conn_limit_stats *out);

#endif
