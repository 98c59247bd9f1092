/*
 * keytab.h - a fixed-capacity table of short string keys with an LRU order.
 *
 * The index behind ratelimit.c and conn_limit.c. It maps a key (a user id,
 * an IP address) to a slot number 0..capacity-1; the caller keeps its
 * per-key values in its own array indexed by slot. All memory is allocated
 * by keytab_create(): the table never grows, so a flood of distinct keys
 * (spoofed ids, many IPs) cannot make the process grow. The caller decides
 * what to do when it is full (evict the least recently used key, or
 * refuse).
 *
 * Keys are hashed with SipHash-2-4 (crypto_shorthash) under a random
 * per-table key, so a client choosing keys cannot force long chains.
 *
 * Not thread-safe: one table belongs to one event loop.
 */
#ifndef RELAY_KEYTAB_H
#define RELAY_KEYTAB_H

#include <stddef.h>

#define KEYTAB_KEY_MAX 64               /* longest key, bytes, no NUL */
#define KEYTAB_CAPACITY_MAX (1UL << 24) /* most slots a table may have */

struct keytab;

/* Allocates a table for 'capacity' keys (1..KEYTAB_CAPACITY_MAX). NULL
 * when the capacity is out of range or memory is short. */
struct keytab *keytab_create(size_t capacity);

/* Frees the table; NULL is fine. */
void keytab_destroy(struct keytab *t);

size_t keytab_capacity(const struct keytab *t);

/* Keys currently stored. */
size_t keytab_count(const struct keytab *t);

/* True for a key the table accepts: 1..KEYTAB_KEY_MAX bytes. */
int keytab_key_valid(const char *key);

/* The slot of 'key', or -1 when absent (or invalid). Does not change the
 * LRU order. */
long keytab_find(const struct keytab *t, const char *key);

/*
 * Adds 'key', which must not be present, as the most recently used.
 * Returns its slot, or -1 when the table is full or the key is invalid.
 * Evicting to make room is the caller's choice (keytab_lru, then
 * keytab_remove).
 */
long keytab_insert(struct keytab *t, const char *key);

/* Marks 'slot' (occupied) as the most recently used. */
void keytab_touch(struct keytab *t, long slot);

/* Frees an occupied slot; the slot number may be reused by a later
 * insert. */
void keytab_remove(struct keytab *t, long slot);

/* The least recently used occupied slot, or -1 when the table is empty. */
long keytab_lru(const struct keytab *t);

/* The key in an occupied slot (borrowed; valid until the slot is
 * removed). */
const char *keytab_key(const struct keytab *t, long slot);

#endif
