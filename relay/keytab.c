/*
 * keytab.c - fixed-capacity string-keyed table with LRU order (keytab.h).
 *
 * Layout: 'nodes' holds every slot; a free slot is on the free list, an
 * occupied one is on one hash chain (next_hash) and on the LRU list
 * (prev/next, head = most recent). Chains hang off 'buckets', a power of
 * two at least twice the capacity, so chains stay short. Indices are
 * uint32_t to keep a node small; NIL marks the end of a list.
 */
#include "keytab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NIL UINT32_MAX

struct node {
    uint32_t next_hash; /* next node in the same bucket, or NIL */
    uint32_t prev;      /* LRU neighbour towards the head (more recent) */
    uint32_t next;      /* LRU neighbour towards the tail; free-list link */
    uint8_t len;        /* key length; 0 = free slot */
    char key[KEYTAB_KEY_MAX + 1];
};

struct keytab {
    struct node *nodes;
    uint32_t *buckets;
    size_t capacity;
    size_t count;
    size_t mask;   /* bucket count - 1 */
    uint32_t head; /* most recently used, or NIL */
    uint32_t tail; /* least recently used, or NIL */
    uint32_t free; /* first free node, or NIL */
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
};

struct keytab *keytab_create(size_t capacity)
{
    struct keytab *t;
    size_t nb = 16;

    if (capacity == 0 || capacity > KEYTAB_CAPACITY_MAX || sodium_init() < 0)
        return NULL;
    while (nb < 2 * capacity)
        nb *= 2;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->nodes = calloc(capacity, sizeof(*t->nodes));
    t->buckets = malloc(nb * sizeof(*t->buckets));
    if (!t->nodes || !t->buckets) {
        keytab_destroy(t);
        return NULL;
    }
    for (size_t i = 0; i < nb; i++)
        t->buckets[i] = NIL;
    for (size_t i = 0; i < capacity; i++)
        t->nodes[i].next = i + 1 < capacity ? (uint32_t)(i + 1) : NIL;
    t->capacity = capacity;
    t->mask = nb - 1;
    t->head = NIL;
    t->tail = NIL;
    t->free = 0;
    crypto_shorthash_keygen(t->hash_key);
    return t;
}

void keytab_destroy(struct keytab *t)
{
    if (!t)
        return;
    free(t->nodes);
    free(t->buckets);
    free(t);
}

size_t keytab_capacity(const struct keytab *t)
{
    return t->capacity;
}

size_t keytab_count(const struct keytab *t)
{
    return t->count;
}

int keytab_key_valid(const char *key)
{
    size_t n;

    if (!key)
        return 0;
    n = strnlen(key, KEYTAB_KEY_MAX + 1);
    return n >= 1 && n <= KEYTAB_KEY_MAX;
}

static size_t bucket_of(const struct keytab *t, const char *key, size_t len)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v = 0;

    crypto_shorthash(h, (const unsigned char *)key, len, t->hash_key);
    for (size_t i = 0; i < sizeof(h); i++)
        v = (v << 8) | h[i];
    return (size_t)(v & t->mask);
}

long keytab_find(const struct keytab *t, const char *key)
{
    size_t len;

    if (!keytab_key_valid(key))
        return -1;
    len = strlen(key);
    for (uint32_t i = t->buckets[bucket_of(t, key, len)]; i != NIL;
         i = t->nodes[i].next_hash) {
        const struct node *n = &t->nodes[i];

        if (n->len == len && memcmp(n->key, key, len) == 0)
            return (long)i;
    }
    return -1;
}

/* Takes node i out of the LRU list. */
static void lru_unlink(struct keytab *t, uint32_t i)
{
    struct node *n = &t->nodes[i];

    if (n->prev != NIL)
        t->nodes[n->prev].next = n->next;
    else
        t->head = n->next;
    if (n->next != NIL)
        t->nodes[n->next].prev = n->prev;
    else
        t->tail = n->prev;
    n->prev = NIL;
    n->next = NIL;
}

/* Puts node i (unlinked) at the head of the LRU list. */
static void lru_push(struct keytab *t, uint32_t i)
{
    struct node *n = &t->nodes[i];

    n->prev = NIL;
    n->next = t->head;
    if (t->head != NIL)
        t->nodes[t->head].prev = i;
    t->head = i;
    if (t->tail == NIL)
        t->tail = i;
}

long keytab_insert(struct keytab *t, const char *key)
{
    size_t len, b;
    uint32_t i;
    struct node *n;

    if (!keytab_key_valid(key) || t->free == NIL)
        return -1;
    len = strlen(key);
    i = t->free;
    n = &t->nodes[i];
    t->free = n->next;
    memcpy(n->key, key, len + 1);
    n->len = (uint8_t)len;
    b = bucket_of(t, key, len);
    n->next_hash = t->buckets[b];
    t->buckets[b] = i;
    lru_push(t, i);
    t->count++;
    return (long)i;
}

void keytab_touch(struct keytab *t, long slot)
{
    uint32_t i = (uint32_t)slot;

    if (t->head == i)
        return;
    lru_unlink(t, i);
    lru_push(t, i);
}

void keytab_remove(struct keytab *t, long slot)
{
    uint32_t i = (uint32_t)slot;
    struct node *n = &t->nodes[i];
    uint32_t *link = &t->buckets[bucket_of(t, n->key, n->len)];

    while (*link != NIL && *link != i)
        link = &t->nodes[*link].next_hash;
    if (*link == i)
        *link = n->next_hash;
    lru_unlink(t, i);
    n->len = 0;
    n->key[0] = '\0';
    n->next_hash = NIL;
    n->next = t->free;
    t->free = i;
    t->count--;
}

long keytab_lru(const struct keytab *t)
{
    return t->tail == NIL ? -1 : (long)t->tail;
}

const char *keytab_key(const struct keytab *t, long slot)
{
    return t->nodes[slot].key;
}
