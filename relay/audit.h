/*
 * audit.h - the audit trail: a hash-chained, append-only Redis stream.
 *
 * Every action of an officer or admin, every denial, and every operator
 * command (buurtctl) becomes one entry of the stream "audit". Entries
 * name who did what to which thing, never personal data: no phone
 * number, name, login, token or message body. The field rules below make
 * the worst mistakes impossible (a '+' or '@' or a space is refused).
 *
 * STREAM "audit", one entry per action, fields in this order:
 *   ts      unix milliseconds, decimal, no leading zeros
 *   actor   user id, or "anonymous", "system", "cli"  [A-Za-z0-9_-]{1,64}
 *   role    the actor's role ("police", ..., "anonymous", "operator")
 *                                                     [a-z]{1,16}
 *   action  what was tried: "post.alert", "deny.subscribe", "user.add",
 *           "user.erase", "token.revoke", ...         [a-z0-9._-]{1,32}
 *   target  channel, case id or user id the action was about, "-" when
 *           there is none                            [A-Za-z0-9_.:-]{1,128}
 *   result  "ok" or "denied" (or another word)        [a-z_]{1,16}
 *   prev    hash of the previous entry (64 lowercase hex digits), or 64
 *           zeros for the first entry
 *   hash    hex(BLAKE2b-256 keyed with the audit key, over
 *           prev || canonical(ts, actor, role, action, target, result))
 *
 * canonical() is "buurtaudit.v1\n" followed, for each of the six fields in
 * the order above, by "<name>=<byte length>:<value>\n". The length prefix
 * makes the encoding unambiguous; audit_canonical() is the reference and
 * the unit tests carry a known-answer vector so another verifier (Python
 * hashlib.blake2b(key=..., digest_size=32)) can be checked against it.
 *
 * KEY "audit:head": the hash of the last entry. Appending is optimistic
 * and atomic: the writer computes the hash in C against the head it
 * believes in, and one Lua script XADDs (and moves the head) only if
 * audit:head still equals that prev; otherwise it writes nothing and
 * returns the current head, and the writer recomputes and retries. So
 * several relay processes and buurtctl append to one chain without a
 * lock, and the hash key never goes to Redis. If audit:head is missing
 * the script takes the head from the last entry (or the genesis zeros for
 * an empty stream).
 *
 * KEY "audit:contended": a flag ("1", expires after 1 s) raised by a lost
 * race so that a writer with a backlog pauses and lets the loser in
 * (see append_script in audit.c). Holds nothing else.
 *
 * THE AUDIT KEY is derived from the PII master key (pii-key-file) with
 * crypto_kdf_derive_from_key, context "buurtpii", subkey id 3 (pii.h lists
 * the ids). Without it nobody can compute a valid hash, so an entry edited
 * in Redis, inserted, removed from the middle or reordered is detected
 * by audit_verify(). Limits, by design: someone with Redis write access
 * can still delete the whole stream or cut entries off its end and move
 * audit:head back (export the chain head elsewhere daily to catch that),
 * and nothing here trims the stream (retention is an operator task).
 */
#ifndef RELAY_AUDIT_H
#define RELAY_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "pii.h"
#include "redis_link.h"

#define AUDIT_STREAM "audit"
#define AUDIT_HEAD_KEY "audit:head"
#define AUDIT_KEY_BYTES 32
#define AUDIT_KDF_SUBKEY_ID 3 /* of context "buurtpii"; see pii.h */
#define AUDIT_HASH_HEX 65     /* 64 hex digits + NUL */
#define AUDIT_ID_MAX 48       /* stream entry id "<ms>-<seq>" + NUL */
#define AUDIT_TS_MAX 21       /* uint64 in decimal + NUL */
#define AUDIT_ACTOR_MAX 64
#define AUDIT_ROLE_MAX 16
#define AUDIT_ACTION_MAX 32
#define AUDIT_TARGET_MAX 128
#define AUDIT_RESULT_MAX 16
#define AUDIT_CANONICAL_MAX 512 /* longest canonical() encoding */

/* One action to record. Every pointer is borrowed. */
struct audit_entry {
    uint64_t ts_ms; /* unix milliseconds; 0 = now (at append time) */
    const char *actor;
    const char *role;
    const char *action;
    const char *target; /* "-" when there is none */
    const char *result;
};

/*
 * One entry as read back from the stream. A field that is missing, given
 * twice, too long or outside its character set is stored as "?" and
 * 'malformed' names the problem (a static English string); such an
 * entry never verifies.
 */
struct audit_record {
    char id[AUDIT_ID_MAX];
    char ts[AUDIT_TS_MAX];
    uint64_t ts_ms;
    char actor[AUDIT_ACTOR_MAX + 1];
    char role[AUDIT_ROLE_MAX + 1];
    char action[AUDIT_ACTION_MAX + 1];
    char target[AUDIT_TARGET_MAX + 1];
    char result[AUDIT_RESULT_MAX + 1];
    char prev[AUDIT_HASH_HEX];
    char hash[AUDIT_HASH_HEX];
    const char *malformed; /* NULL when every field is well-formed */
};

/* --- pure functions ----------------------------------------------------- */

/* Derives the audit key from the PII master key (subkey id 3 of context
 * "buurtpii"). RELAY_EINTERNAL only if libsodium cannot initialise. */
int audit_key_derive(const unsigned char master[PII_KEY_BYTES],
                     unsigned char out[AUDIT_KEY_BYTES]);

/* RELAY_OK when every field of 'e' follows the rules at the top of this
 * file, else RELAY_EINVAL. ts_ms 0 is accepted (it means now). */
int audit_entry_check(const struct audit_entry *e);

/*
 * Writes canonical(e) (not NUL-terminated; *len bytes) into out. Fails
 * with RELAY_EINVAL for an entry audit_entry_check() refuses or ts_ms 0,
 * RELAY_ETOOBIG when cap is too small (AUDIT_CANONICAL_MAX always fits).
 */
int audit_canonical(const struct audit_entry *e, char *out, size_t cap,
                    size_t *len);

/*
 * The hash of entry 'e' chained after 'prev' (64 lowercase hex digits) as
 * 64 lowercase hex digits + NUL. RELAY_EINVAL for a bad entry or prev.
 */
int audit_hash(const unsigned char key[AUDIT_KEY_BYTES], const char *prev,
               const struct audit_entry *e, char out[AUDIT_HASH_HEX]);

/*
 * Checks one record read back: well-formed, r->prev equals 'expected_prev'
 * (the previous entry's hash, or the genesis zeros for the first entry),
 * and r->hash is the hash of its fields. RELAY_OK or RELAY_EAUTH with *why
 * (optional) set to a static English reason.
 */
int audit_record_verify(const unsigned char key[AUDIT_KEY_BYTES],
                        const struct audit_record *r, const char *expected_prev,
                        const char **why);

/* The genesis prev: 64 '0' characters. */
extern const char audit_genesis[AUDIT_HASH_HEX];

/* --- synchronous access (buurtctl) -------------------------------------- */

/*
 * Appends 'e' (ts_ms 0 = now) to the chain over a blocking context,
 * retrying when another writer moved the head in between. The new entry's
 * id goes to id_out (optional). RELAY_EINVAL for a bad entry,
 * RELAY_ECONFLICT after too many lost races, RELAY_EUNAVAILABLE when
 * Redis fails, RELAY_EINTERNAL for an unexpected reply.
 */
int audit_append_sync(redisContext *c, const unsigned char key[AUDIT_KEY_BYTES],
                      const struct audit_entry *e, char id_out[AUDIT_ID_MAX]);

/* Called once per record, oldest first; a nonzero return stops the walk
 * and is returned by the walker. 'r' is only valid during the call. */
typedef int (*audit_record_cb)(void *arg, const struct audit_record *r);

/*
 * Calls cb for every entry of the stream, oldest first, reading in
 * batches (so memory stays bounded however long the trail is). With
 * last_n > 0 only the last 'last_n' entries are visited (still oldest
 * first). RELAY_OK, cb's nonzero return, RELAY_EUNAVAILABLE or
 * RELAY_EINTERNAL.
 */
int audit_walk(redisContext *c, size_t last_n, audit_record_cb cb, void *arg);

/* What audit_verify() found. */
struct audit_verify_result {
    size_t entries;            /* entries checked */
    char bad_id[AUDIT_ID_MAX]; /* first bad entry; "" when the problem is
                                  audit:head itself or the chain is intact */
    const char *why;           /* static English reason, NULL when intact */
};

/*
 * Walks the whole stream from the start, recomputing every hash and
 * checking every prev link, then checks that audit:head names the last
 * entry (entries appended during the walk are followed). RELAY_OK when
 * the chain is intact; RELAY_EAUTH when it is not, with res->bad_id and
 * res->why; RELAY_EUNAVAILABLE / RELAY_EINTERNAL as usual.
 */
int audit_verify(redisContext *c, const unsigned char key[AUDIT_KEY_BYTES],
                 struct audit_verify_result *res);

/* --- asynchronous access (the daemon) ----------------------------------- */

struct audit;

/* Counters for /metrics. */
struct audit_stats {
    size_t queued;      /* entries waiting (including the one in flight) */
    uint64_t written;   /* entries stored */
    uint64_t dropped;   /* entries lost: queue full, rejected, or shutdown */
    uint64_t conflicts; /* appends retried because another writer won */
};

/*
 * Creates the daemon's audit writer on 'link' (the command link, borrowed:
 * it must outlive the writer) and 'loop' (for the retry timer). 'key' is
 * copied (and wiped on destroy). At most 'queue_max' (>= 1) entries wait
 * while Redis is slow or down. NULL when out of memory or queue_max is 0.
 */
struct audit *audit_create(uv_loop_t *loop, struct redis_link *link,
                           const unsigned char key[AUDIT_KEY_BYTES],
                           size_t queue_max);

/*
 * Queues 'e' (copied; ts_ms 0 = now) and returns at once: fire and
 * forget. Entries are written in order, one at a time; while Redis is
 * down they wait and are retried every second. RELAY_OK when queued;
 * RELAY_EINVAL for an entry audit_entry_check() refuses; RELAY_EFULL when
 * the queue is full (the entry is dropped and counted, with one log
 * line). An entry Redis answers with an error is dropped after a few
 * attempts, with a log line; lost races are retried without limit (each
 * means another entry was written, so the chain is moving).
 */
int audit_append(struct audit *a, const struct audit_entry *e);

/* Fills *out with the current counters. */
void audit_stats(const struct audit *a, struct audit_stats *out);

/*
 * Stops the writer: queued entries are dropped (counted in one log line;
 * a clean shutdown waits for audit_stats().queued == 0 first). The memory
 * is freed once the timer has closed and any command in flight has been
 * answered, so the loop must run afterwards. Call it BEFORE destroying
 * the link. NULL is ignored.
 */
void audit_destroy(struct audit *a);

#endif
