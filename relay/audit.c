/*
 * audit.c - the hash-chained audit trail (format and protocol: audit.h).
 *
 * The one Lua script below is shared by the synchronous writer (buurtctl)
 * and the asynchronous one (the daemon). Both compute the hash in C,
 * because the key must never reach Redis, and let the script decide
 * atomically whether their idea of the chain head is still right.
 */
#include "audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "error.h"
#include "log.h"
#include "stream_id.h"

#define KDF_CONTEXT "buurtpii" /* pii.h: the ids of this context */
#define CANON_TAG "buurtaudit.v1\n"
#define HASH_BYTES 32
#define TS_DIGITS_MAX 19 /* < 10^19 fits in uint64 */
#define WALK_BATCH 256
#define RACES_MAX 16  /* buurtctl: lost races before giving up */
#define RACES_WARN 64 /* daemon: races of one entry worth a log line */
#define ERRORS_MAX 5  /* error replies before the daemon drops one */
#define RETRY_MS 1000 /* daemon: retry delay while Redis fails */
#define YIELD_MS 20   /* daemon: pause after winning a contended race */
#define CONTENDED_KEY "audit:contended"
#define HEAD_ROUNDS_MAX 64 /* verify: rounds chasing a moving head */
#define FIELD_COUNT 8      /* ts actor role action target result prev hash */
/* EVAL, script, 3, three keys, prev, hash, lost, then field/value pairs */
#define ARGV_MAX (9 + 2 * FIELD_COUNT)

const char audit_genesis[AUDIT_HASH_HEX] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/*
 * KEYS[1] the stream, KEYS[2] the head key, KEYS[3] the contention flag.
 * ARGV[1] the prev the caller hashed against ("" to only ask for the
 * head), ARGV[2] the new hash, ARGV[3] "1" when this entry already lost a
 * race, ARGV[4..] the entry's field/value pairs. Returns {1, new id, busy}
 * when written, else {0, current head} and writes nothing but the flag.
 *
 * WHY the flag: optimistic appends alone are unfair. A writer with a
 * backlog learns the new head from its own success and sends its next
 * entry at once, so a writer that lost keeps losing. A loss raises the
 * flag; a writer that wins while it is up (busy = 1) pauses YIELD_MS
 * before its next entry, and the loser's winning retry lowers it.
 */
static const char append_script[] =
    "local head = redis.call('GET', KEYS[2])\n"
    "if not head then\n"
    "  head = string.rep('0', 64)\n"
    "  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
    "  if last[1] then\n"
    "    local f = last[1][2]\n"
    "    for i = 1, #f - 1, 2 do\n"
    "      if f[i] == 'hash' then head = f[i + 1] end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if ARGV[1] == '' then return {0, head} end\n"
    "if head ~= ARGV[1] then\n"
    "  redis.call('SET', KEYS[3], '1', 'PX', 1000)\n"
    "  return {0, head}\n"
    "end\n"
    "local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))\n"
    "redis.call('SET', KEYS[2], ARGV[2])\n"
    "local busy = 0\n"
    "if ARGV[3] == '1' then redis.call('DEL', KEYS[3])\n"
    "else busy = redis.call('EXISTS', KEYS[3]) end\n"
    "return {1, id, busy}\n";

/* Character classes of a field (audit.h lists the rules). */
#define CH_LOWER 1u
#define CH_UPPER 2u
#define CH_DIGIT 4u

struct field_rule {
    const char *name;
    size_t max;
    unsigned classes;
    const char *punct; /* other allowed bytes */
    const char *bad;   /* reason when malformed or missing */
};

/* The five text fields, in canonical order after ts. */
static const struct field_rule text_rules[] = {
    {"actor", AUDIT_ACTOR_MAX, CH_LOWER | CH_UPPER | CH_DIGIT, "_-",
     "field 'actor' is missing or malformed"},
    {"role", AUDIT_ROLE_MAX, CH_LOWER, "",
     "field 'role' is missing or malformed"},
    {"action", AUDIT_ACTION_MAX, CH_LOWER | CH_DIGIT, "._-",
     "field 'action' is missing or malformed"},
    {"target", AUDIT_TARGET_MAX, CH_LOWER | CH_UPPER | CH_DIGIT, "_.:-",
     "field 'target' is missing or malformed"},
    {"result", AUDIT_RESULT_MAX, CH_LOWER, "_",
     "field 'result' is missing or malformed"},
};
enum { TEXT_FIELDS = sizeof(text_rules) / sizeof(text_rules[0]) };

static int rule_allows(const struct field_rule *rule, const char *s, size_t n)
{
    if (n == 0 || n > rule->max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if ((rule->classes & CH_LOWER) && c >= 'a' && c <= 'z')
            continue;
        if ((rule->classes & CH_UPPER) && c >= 'A' && c <= 'Z')
            continue;
        if ((rule->classes & CH_DIGIT) && c >= '0' && c <= '9')
            continue;
        if (c != '\0' && strchr(rule->punct, c))
            continue;
        return 0;
    }
    return 1;
}

/* The text fields of an entry in canonical order. */
static void entry_texts(const struct audit_entry *e,
                        const char *out[TEXT_FIELDS])
{
    out[0] = e->actor;
    out[1] = e->role;
    out[2] = e->action;
    out[3] = e->target;
    out[4] = e->result;
}

/* True for 64 lowercase hex digits. */
static int hash_hex_valid(const char *s, size_t n)
{
    if (n != AUDIT_HASH_HEX - 1)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

/* Strict decimal: 1..19 digits, no leading zero, not 0. */
static int ts_parse(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > TS_DIGITS_MAX || s[0] == '0')
        return RELAY_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return RELAY_EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return RELAY_OK;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int audit_key_derive(const unsigned char master[PII_KEY_BYTES],
                     unsigned char out[AUDIT_KEY_BYTES])
{
    if (sodium_init() < 0)
        return RELAY_EINTERNAL;
    if (crypto_kdf_derive_from_key(out, AUDIT_KEY_BYTES, AUDIT_KDF_SUBKEY_ID,
                                   KDF_CONTEXT, master) != 0)
        return RELAY_EINTERNAL;
    return RELAY_OK;
}

int audit_entry_check(const struct audit_entry *e)
{
    const char *texts[TEXT_FIELDS];

    if (!e)
        return RELAY_EINVAL;
    entry_texts(e, texts);
    for (int i = 0; i < TEXT_FIELDS; i++) {
        if (!texts[i] || !rule_allows(&text_rules[i], texts[i],
                                      strnlen(texts[i], text_rules[i].max + 1)))
            return RELAY_EINVAL;
    }
    return RELAY_OK;
}

/* Appends "<name>=<len>:<value>\n" at *pos; RELAY_ETOOBIG when full. */
static int canon_field(char *out, size_t cap, size_t *pos, const char *name,
                       const char *value)
{
    size_t vlen = strlen(value);
    int n = snprintf(out + *pos, cap - *pos, "%s=%zu:", name, vlen);

    if (n < 0 || (size_t)n >= cap - *pos || cap - *pos - (size_t)n < vlen + 1)
        return RELAY_ETOOBIG;
    *pos += (size_t)n;
    memcpy(out + *pos, value, vlen);
    *pos += vlen;
    out[(*pos)++] = '\n';
    return RELAY_OK;
}

int audit_canonical(const struct audit_entry *e, char *out, size_t cap,
                    size_t *len)
{
    const char *texts[TEXT_FIELDS];
    char ts[AUDIT_TS_MAX];
    size_t pos = sizeof(CANON_TAG) - 1;
    int rc;

    if (!out || !len || audit_entry_check(e) < 0 || e->ts_ms == 0)
        return RELAY_EINVAL;
    snprintf(ts, sizeof(ts), "%llu", (unsigned long long)e->ts_ms);
    if (strlen(ts) > TS_DIGITS_MAX)
        return RELAY_EINVAL;
    if (cap < pos)
        return RELAY_ETOOBIG;
    memcpy(out, CANON_TAG, pos);
    rc = canon_field(out, cap, &pos, "ts", ts);
    entry_texts(e, texts);
    for (int i = 0; rc == RELAY_OK && i < TEXT_FIELDS; i++)
        rc = canon_field(out, cap, &pos, text_rules[i].name, texts[i]);
    if (rc < 0)
        return rc;
    *len = pos;
    return RELAY_OK;
}

int audit_hash(const unsigned char key[AUDIT_KEY_BYTES], const char *prev,
               const struct audit_entry *e, char out[AUDIT_HASH_HEX])
{
    crypto_generichash_state st;
    unsigned char h[HASH_BYTES];
    char canon[AUDIT_CANONICAL_MAX];
    size_t len = 0;
    int rc;

    if (!key || !prev || !out || !hash_hex_valid(prev, strlen(prev)))
        return RELAY_EINVAL;
    rc = audit_canonical(e, canon, sizeof(canon), &len);
    if (rc < 0)
        return rc;
    if (sodium_init() < 0 ||
        crypto_generichash_init(&st, key, AUDIT_KEY_BYTES, HASH_BYTES) != 0)
        return RELAY_EINTERNAL;
    crypto_generichash_update(&st, (const unsigned char *)prev,
                              AUDIT_HASH_HEX - 1);
    crypto_generichash_update(&st, (const unsigned char *)canon, len);
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2hex(out, AUDIT_HASH_HEX, h, sizeof(h));
    sodium_memzero(&st, sizeof(st));
    return RELAY_OK;
}

/* The audit_entry view of a record (pointers into r). */
static void record_entry(const struct audit_record *r, struct audit_entry *e)
{
    e->ts_ms = r->ts_ms;
    e->actor = r->actor;
    e->role = r->role;
    e->action = r->action;
    e->target = r->target;
    e->result = r->result;
}

int audit_record_verify(const unsigned char key[AUDIT_KEY_BYTES],
                        const struct audit_record *r, const char *expected_prev,
                        const char **why)
{
    struct audit_entry e;
    char want[AUDIT_HASH_HEX];
    const char *reason = NULL;

    if (!key || !r || !expected_prev)
        return RELAY_EINVAL;
    record_entry(r, &e);
    if (r->malformed)
        reason = r->malformed;
    else if (strcmp(r->prev, expected_prev) != 0)
        reason = "prev does not name the entry before it (an entry was "
                 "inserted, removed or moved)";
    else if (audit_hash(key, r->prev, &e, want) < 0)
        reason = "the entry cannot be hashed";
    else if (sodium_memcmp(want, r->hash, AUDIT_HASH_HEX - 1) != 0)
        reason = "hash does not match the entry's fields (the entry was "
                 "edited, or written with another key)";
    if (reason) {
        if (why)
            *why = reason;
        return RELAY_EAUTH;
    }
    return RELAY_OK;
}

/* --- reading the stream ------------------------------------------------ */

/* Stores one field value of a stream entry into the record. Returns 0
 * when the field name is known, -1 when not. */
static int record_field(struct audit_record *r, unsigned *seen,
                        const redisReply *name, const redisReply *value)
{
    static const char *const names[FIELD_COUNT] = {
        "ts", "actor", "role", "action", "target", "result", "prev", "hash"};
    const char *v = value->str;
    size_t n = value->len;
    int f = -1;

    for (int i = 0; i < FIELD_COUNT && f < 0; i++) {
        if (name->len == strlen(names[i]) &&
            memcmp(name->str, names[i], name->len) == 0)
            f = i;
    }
    if (f < 0)
        return -1;
    if (*seen & (1u << f)) {
        r->malformed = "a field appears twice";
        return 0;
    }
    *seen |= 1u << f;
    if (value->type != REDIS_REPLY_STRING || memchr(v, '\0', n))
        return 0; /* left missing: reported below */
    if (f == 0) {
        if (ts_parse(v, n, &r->ts_ms) == RELAY_OK) {
            memcpy(r->ts, v, n);
            r->ts[n] = '\0';
        }
    } else if (f <= TEXT_FIELDS) {
        const struct field_rule *rule = &text_rules[f - 1];
        char *dst[TEXT_FIELDS] = {r->actor, r->role, r->action, r->target,
                                  r->result};

        if (rule_allows(rule, v, n)) {
            memcpy(dst[f - 1], v, n);
            dst[f - 1][n] = '\0';
        }
    } else if (hash_hex_valid(v, n)) {
        char *dst = f == 6 ? r->prev : r->hash;

        memcpy(dst, v, n);
        dst[n] = '\0';
    }
    return 0;
}

/* Replaces an empty (missing or refused) field by "?" and says why. */
static void record_fill(struct audit_record *r, char *field, const char *why)
{
    if (field[0] != '\0')
        return;
    memcpy(field, "?", 2);
    if (!r->malformed)
        r->malformed = why;
}

/*
 * Parses one element of an XRANGE reply ([id, [field, value, ...]]) into
 * *r. A malformed entry is still returned (with r->malformed set); only a
 * reply of the wrong shape is RELAY_EINTERNAL.
 */
static int record_parse(const redisReply *e, struct audit_record *r)
{
    const redisReply *fields;
    unsigned seen = 0;

    memset(r, 0, sizeof(*r));
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len >= AUDIT_ID_MAX)
        return RELAY_EINTERNAL;
    memcpy(r->id, e->element[0]->str, e->element[0]->len + 1);
    fields = e->element[1];
    if (fields->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < fields->elements; i += 2) {
            const redisReply *name = fields->element[i];

            if (name->type != REDIS_REPLY_STRING ||
                record_field(r, &seen, name, fields->element[i + 1]) < 0) {
                if (!r->malformed)
                    r->malformed = "the entry has an unknown field";
            }
        }
        if (fields->elements % 2 != 0 && !r->malformed)
            r->malformed = "the entry has an odd number of fields";
    }
    record_fill(r, r->ts, "field 'ts' is missing or malformed");
    record_fill(r, r->actor, text_rules[0].bad);
    record_fill(r, r->role, text_rules[1].bad);
    record_fill(r, r->action, text_rules[2].bad);
    record_fill(r, r->target, text_rules[3].bad);
    record_fill(r, r->result, text_rules[4].bad);
    record_fill(r, r->prev, "field 'prev' is missing or malformed");
    record_fill(r, r->hash, "field 'hash' is missing or malformed");
    return RELAY_OK;
}

/* Runs a command; NULL for a connection failure or an error reply. */
static redisReply *command(redisContext *c, int argc, const char **argv,
                           const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);

    if (r && r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static void arg_set(const char **argv, size_t *lens, int i, const char *s)
{
    argv[i] = s;
    lens[i] = strlen(s);
}

/* A malformed id from Redis is an unexpected reply, hence EINTERNAL. */
static int id_next(const char *id, char out[AUDIT_ID_MAX])
{
    return stream_id_next(id, out, AUDIT_ID_MAX) == RELAY_OK ? RELAY_OK
                                                             : RELAY_EINTERNAL;
}

/*
 * Calls cb for every entry after 'start' ("-" for the beginning, else an
 * inclusive id) in batches. last_id (AUDIT_ID_MAX, optional) gets the id
 * of the last entry visited and is left alone when there was none.
 */
static int walk_from(redisContext *c, const char *start, audit_record_cb cb,
                     void *arg, char *last_id)
{
    char from[AUDIT_ID_MAX], count[16];
    const char *argv[6];
    size_t lens[6];
    struct audit_record rec;

    snprintf(from, sizeof(from), "%s", start);
    snprintf(count, sizeof(count), "%d", WALK_BATCH);
    for (;;) {
        redisReply *r;
        size_t n;
        int rc = RELAY_OK;

        arg_set(argv, lens, 0, "XRANGE");
        arg_set(argv, lens, 1, AUDIT_STREAM);
        arg_set(argv, lens, 2, from);
        arg_set(argv, lens, 3, "+");
        arg_set(argv, lens, 4, "COUNT");
        arg_set(argv, lens, 5, count);
        r = command(c, 6, argv, lens);
        if (!r)
            return RELAY_EUNAVAILABLE;
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return RELAY_EINTERNAL;
        }
        n = r->elements;
        for (size_t i = 0; i < n && rc == RELAY_OK; i++) {
            rc = record_parse(r->element[i], &rec);
            if (rc == RELAY_OK) {
                if (last_id)
                    memcpy(last_id, rec.id, strlen(rec.id) + 1);
                rc = cb(arg, &rec);
            }
        }
        if (rc == RELAY_OK && n > 0)
            rc = id_next(rec.id, from);
        freeReplyObject(r);
        if (rc != RELAY_OK || n < WALK_BATCH)
            return rc;
    }
}

/* The last n entries: one XREVRANGE, visited oldest first. */
static int walk_tail(redisContext *c, size_t last_n, audit_record_cb cb,
                     void *arg)
{
    char count[24];
    const char *argv[6];
    size_t lens[6];
    struct audit_record rec;
    redisReply *r;
    int rc = RELAY_OK;

    snprintf(count, sizeof(count), "%zu", last_n);
    arg_set(argv, lens, 0, "XREVRANGE");
    arg_set(argv, lens, 1, AUDIT_STREAM);
    arg_set(argv, lens, 2, "+");
    arg_set(argv, lens, 3, "-");
    arg_set(argv, lens, 4, "COUNT");
    arg_set(argv, lens, 5, count);
    r = command(c, 6, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return RELAY_EINTERNAL;
    }
    for (size_t i = r->elements; i > 0 && rc == RELAY_OK; i--) {
        rc = record_parse(r->element[i - 1], &rec);
        if (rc == RELAY_OK)
            rc = cb(arg, &rec);
    }
    freeReplyObject(r);
    return rc;
}

int audit_walk(redisContext *c, size_t last_n, audit_record_cb cb, void *arg)
{
    if (!c || !cb)
        return RELAY_EINVAL;
    if (last_n > 0)
        return walk_tail(c, last_n, cb, arg);
    return walk_from(c, "-", cb, arg, NULL);
}

/* --- appending ---------------------------------------------------------- */

/* An entry ready to send: its fields as strings and its chain links. */
struct wire_entry {
    char ts[AUDIT_TS_MAX];
    const char *texts[TEXT_FIELDS];
    const char *prev; /* "" = only ask for the head */
    const char *hash;
    int lost; /* this entry lost a race before */
};

/* Builds the EVAL argv of append_script for w. Returns argc. */
static int append_argv(const struct wire_entry *w, const char **argv,
                       size_t *lens)
{
    int n = 0;

    arg_set(argv, lens, n++, "EVAL");
    arg_set(argv, lens, n++, append_script);
    arg_set(argv, lens, n++, "3");
    arg_set(argv, lens, n++, AUDIT_STREAM);
    arg_set(argv, lens, n++, AUDIT_HEAD_KEY);
    arg_set(argv, lens, n++, CONTENDED_KEY);
    arg_set(argv, lens, n++, w->prev);
    arg_set(argv, lens, n++, w->hash);
    arg_set(argv, lens, n++, w->lost ? "1" : "0");
    arg_set(argv, lens, n++, "ts");
    arg_set(argv, lens, n++, w->ts);
    for (int i = 0; i < TEXT_FIELDS; i++) {
        arg_set(argv, lens, n++, text_rules[i].name);
        arg_set(argv, lens, n++, w->texts[i]);
    }
    arg_set(argv, lens, n++, "prev");
    arg_set(argv, lens, n++, w->prev);
    arg_set(argv, lens, n++, "hash");
    arg_set(argv, lens, n++, w->hash);
    return n;
}

/*
 * Reads the script's reply. Returns 2 when written and another writer is
 * waiting (busy), 1 when written (id copied to id_out, optional), 0 when
 * refused (the current head copied to head_out), or RELAY_EINTERNAL for
 * any other shape (including a corrupt head).
 */
static int append_reply(const redisReply *r, char *id_out,
                        char head_out[AUDIT_HASH_HEX])
{
    const redisReply *v;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return RELAY_EINTERNAL;
    v = r->element[1];
    if (r->element[0]->integer == 1) {
        if (v->len >= AUDIT_ID_MAX || r->elements != 3 ||
            r->element[2]->type != REDIS_REPLY_INTEGER)
            return RELAY_EINTERNAL;
        if (id_out)
            memcpy(id_out, v->str, v->len + 1);
        return r->element[2]->integer ? 2 : 1;
    }
    if (r->elements != 2 || r->element[0]->integer != 0 ||
        !hash_hex_valid(v->str, v->len))
        return RELAY_EINTERNAL;
    memcpy(head_out, v->str, v->len + 1);
    return 0;
}

/* Fills w from e (ts_ms already set) and the chain head; computes the
 * hash into 'hash' unless the head is unknown (""). */
static int wire_prepare(const unsigned char key[AUDIT_KEY_BYTES],
                        const struct audit_entry *e, const char *head,
                        char hash[AUDIT_HASH_HEX], struct wire_entry *w)
{
    snprintf(w->ts, sizeof(w->ts), "%llu", (unsigned long long)e->ts_ms);
    entry_texts(e, w->texts);
    w->prev = head;
    w->hash = hash;
    w->lost = 0;
    hash[0] = '\0';
    if (head[0] == '\0')
        return RELAY_OK;
    return audit_hash(key, head, e, hash);
}

int audit_append_sync(redisContext *c, const unsigned char key[AUDIT_KEY_BYTES],
                      const struct audit_entry *e, char id_out[AUDIT_ID_MAX])
{
    struct audit_entry entry;
    struct wire_entry w;
    char head[AUDIT_HASH_HEX] = "", hash[AUDIT_HASH_HEX];
    const char *argv[ARGV_MAX];
    size_t lens[ARGV_MAX];

    if (!c || !key || audit_entry_check(e) < 0)
        return RELAY_EINVAL;
    entry = *e;
    if (entry.ts_ms == 0)
        entry.ts_ms = wall_ms();
    /* The first round only learns the head; each later one is a real
     * attempt that another writer may win. */
    for (int round = 0; round <= RACES_MAX; round++) {
        redisReply *r;
        int argc, rc = wire_prepare(key, &entry, head, hash, &w);

        if (rc < 0)
            return rc;
        w.lost = round > 1;
        argc = append_argv(&w, argv, lens);
        r = command(c, argc, argv, lens);
        if (!r)
            return RELAY_EUNAVAILABLE;
        rc = append_reply(r, id_out, head);
        freeReplyObject(r);
        if (rc != 0)
            return rc < 0 ? rc : RELAY_OK;
    }
    return RELAY_ECONFLICT;
}

/* --- verifying ---------------------------------------------------------- */

struct verify_state {
    const unsigned char *key;
    char expected[AUDIT_HASH_HEX]; /* hash of the last good entry */
    struct audit_verify_result *res;
};

static int verify_one(void *arg, const struct audit_record *r)
{
    struct verify_state *vs = arg;
    const char *why = NULL;

    if (audit_record_verify(vs->key, r, vs->expected, &why) != RELAY_OK) {
        snprintf(vs->res->bad_id, sizeof(vs->res->bad_id), "%s", r->id);
        vs->res->why = why;
        return 1;
    }
    memcpy(vs->expected, r->hash, AUDIT_HASH_HEX);
    vs->res->entries++;
    return 0;
}

/* GET audit:head into head ("" when missing). */
static int read_head(redisContext *c, char head[AUDIT_HASH_HEX])
{
    const char *argv[2];
    size_t lens[2];
    redisReply *r;
    int rc = RELAY_OK;

    arg_set(argv, lens, 0, "GET");
    arg_set(argv, lens, 1, AUDIT_HEAD_KEY);
    r = command(c, 2, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    head[0] = '\0';
    if (r->type == REDIS_REPLY_STRING && r->len < AUDIT_HASH_HEX)
        memcpy(head, r->str, r->len + 1);
    else if (r->type == REDIS_REPLY_STRING)
        memcpy(head, "?", 2); /* too long: matches no hash */
    else if (r->type != REDIS_REPLY_NIL)
        rc = RELAY_EINTERNAL;
    freeReplyObject(r);
    return rc;
}

/*
 * Verifies the chain (audit.h). After the walk, audit:head must name the
 * last entry; when it does not, entries may have been appended meanwhile,
 * so the walk continues from the last entry seen and the head is read
 * again, until either they agree or no new entry turns up.
 */
int audit_verify(redisContext *c, const unsigned char key[AUDIT_KEY_BYTES],
                 struct audit_verify_result *res)
{
    struct verify_state vs;
    char last_id[AUDIT_ID_MAX] = "", from[AUDIT_ID_MAX];
    char head[AUDIT_HASH_HEX];
    int rc;

    if (!c || !key || !res)
        return RELAY_EINVAL;
    memset(res, 0, sizeof(*res));
    vs.key = key;
    vs.res = res;
    memcpy(vs.expected, audit_genesis, AUDIT_HASH_HEX);
    rc = walk_from(c, "-", verify_one, &vs, last_id);
    for (int round = 0; rc == RELAY_OK && round < HEAD_ROUNDS_MAX; round++) {
        size_t before = res->entries;

        rc = read_head(c, head);
        if (rc < 0)
            return rc;
        if (head[0] == '\0' && res->entries == 0)
            return RELAY_OK;
        if (res->entries > 0 && strcmp(head, vs.expected) == 0)
            return RELAY_OK;
        if (last_id[0] == '\0')
            snprintf(from, sizeof(from), "-");
        else if (id_next(last_id, from) < 0)
            return RELAY_EINTERNAL;
        rc = walk_from(c, from, verify_one, &vs, last_id);
        if (rc == RELAY_OK && res->entries == before) {
            if (res->entries > 0)
                snprintf(res->bad_id, sizeof(res->bad_id), "%s", last_id);
            if (head[0] == '\0')
                res->why = "audit:head is missing";
            else if (res->entries == 0)
                res->why = "the stream is empty but audit:head is set "
                           "(entries were deleted)";
            else
                res->why = "audit:head does not name the last entry "
                           "(entries were removed from the end)";
            return RELAY_EAUTH;
        }
    }
    if (rc == 1)
        return RELAY_EAUTH;
    return rc == RELAY_OK ? RELAY_ECONFLICT : rc;
}

/* --- the daemon's asynchronous writer ----------------------------------- */

/* One queued entry, with its own copies of the strings. */
struct queued {
    uint64_t ts_ms;
    char actor[AUDIT_ACTOR_MAX + 1];
    char role[AUDIT_ROLE_MAX + 1];
    char action[AUDIT_ACTION_MAX + 1];
    char target[AUDIT_TARGET_MAX + 1];
    char result[AUDIT_RESULT_MAX + 1];
    unsigned races;  /* attempts another writer won */
    unsigned errors; /* error replies */
};

struct audit {
    uv_loop_t *loop;
    struct redis_link *link; /* borrowed */
    unsigned char key[AUDIT_KEY_BYTES];
    struct queued *ring;
    size_t cap, head, count;
    char chain_head[AUDIT_HASH_HEX]; /* last known head; "" = unknown */
    char sent_hash[AUDIT_HASH_HEX];  /* hash of the entry in flight */
    uv_timer_t timer;
    int in_flight;   /* a command is waiting for its reply */
    int timer_armed; /* a retry is scheduled */
    int timer_open;  /* the timer handle is not closed yet */
    int closing;     /* audit_destroy() was called */
    int warned_down; /* logged that Redis fails, until a write works */
    int warned_full; /* logged that the queue is full, until it drains */
    struct audit_stats stats;
};

static void pump(struct audit *a);

static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void queued_entry(const struct queued *q, struct audit_entry *e)
{
    e->ts_ms = q->ts_ms;
    e->actor = q->actor;
    e->role = q->role;
    e->action = q->action;
    e->target = q->target;
    e->result = q->result;
}

static void maybe_free(struct audit *a)
{
    if (!a->closing || a->in_flight || a->timer_open)
        return;
    sodium_memzero(a->key, sizeof(a->key));
    free(a->ring);
    free(a);
}

static void timer_closed(uv_handle_t *h)
{
    struct audit *a = h->data;

    a->timer_open = 0;
    maybe_free(a);
}

static void timer_cb(uv_timer_t *t)
{
    struct audit *a = t->data;

    a->timer_armed = 0;
    pump(a);
}

/* Sends nothing for delay_ms, then goes on with the queue. */
static void pause_for(struct audit *a, uint64_t delay_ms)
{
    if (a->timer_armed || a->closing)
        return;
    a->timer_armed = 1;
    uv_timer_start(&a->timer, timer_cb, delay_ms, 0);
}

/* Removes the oldest entry (written or given up). */
static void pop(struct audit *a)
{
    a->head = (a->head + 1) % a->cap;
    a->count--;
    if (a->count == 0)
        a->warned_full = 0;
}

static void drop_oldest(struct audit *a, const char *why)
{
    const struct queued *q = &a->ring[a->head];

    log_warn("audit", "audit entry dropped (%s): action %s result %s", why,
             q->action, q->result);
    a->stats.dropped++;
    pop(a);
}

/*
 * Handles the script's reply for the oldest entry: written (next one, or
 * after YIELD_MS when another writer is waiting), refused because the
 * head moved (recompute against the new head and go again at once; never
 * dropped for that, since every lost race means another entry was
 * written), or failed (wait RETRY_MS; a link failure is retried for as
 * long as the entry stays queued, an error reply only ERRORS_MAX times).
 */
static void append_done(void *arg, redisReply *r)
{
    struct audit *a = arg;
    struct queued *q;
    int rc;

    a->in_flight = 0;
    if (a->closing) {
        maybe_free(a);
        return;
    }
    q = &a->ring[a->head];
    if (!r) {
        if (!a->warned_down)
            log_warn("audit", "cannot write the audit trail (Redis "
                              "unavailable); entries wait and are retried");
        a->warned_down = 1;
        pause_for(a, RETRY_MS);
        return;
    }
    rc = r->type == REDIS_REPLY_ERROR ? RELAY_EINTERNAL
                                      : append_reply(r, NULL, a->chain_head);
    if (rc == 1 || rc == 2) {
        memcpy(a->chain_head, a->sent_hash, AUDIT_HASH_HEX);
        a->stats.written++;
        a->warned_down = 0;
        pop(a);
        if (rc == 2) {
            pause_for(a, YIELD_MS);
            return;
        }
    } else if (rc == 0) {
        if (a->sent_hash[0] != '\0') {
            a->stats.conflicts++;
            if (++q->races == RACES_WARN)
                log_warn("audit",
                         "an audit entry lost %d races for the "
                         "chain head; still retrying",
                         RACES_WARN);
        }
    } else {
        a->chain_head[0] = '\0';
        if (++q->errors >= ERRORS_MAX)
            drop_oldest(a, "Redis refused it repeatedly");
        else
            log_warn("audit", "Redis refused an audit append (%s); retrying",
                     r->type == REDIS_REPLY_ERROR ? "error reply"
                                                  : "unexpected reply");
        pause_for(a, RETRY_MS);
        return;
    }
    pump(a);
}

/* Sends the oldest entry unless one is in flight or a retry waits. */
static void pump(struct audit *a)
{
    struct audit_entry e;
    struct wire_entry w;
    const char *argv[ARGV_MAX];
    size_t lens[ARGV_MAX];
    int argc, rc;

    if (a->closing || a->in_flight || a->timer_armed || a->count == 0)
        return;
    queued_entry(&a->ring[a->head], &e);
    rc = wire_prepare(a->key, &e, a->chain_head, a->sent_hash, &w);
    if (rc < 0) {
        /* Checked when queued, so this is a corrupt head: ask again. */
        a->chain_head[0] = '\0';
        rc = wire_prepare(a->key, &e, a->chain_head, a->sent_hash, &w);
    }
    if (rc < 0) {
        drop_oldest(a, "cannot be hashed");
        pump(a);
        return;
    }
    w.lost = a->ring[a->head].races > 0;
    argc = append_argv(&w, argv, lens);
    rc = redis_link_argv(a->link, append_done, a, argc, argv, lens);
    if (rc == RELAY_OK) {
        a->in_flight = 1;
        return;
    }
    if (!a->warned_down)
        log_warn("audit", "cannot write the audit trail (Redis "
                          "unavailable); entries wait and are retried");
    a->warned_down = 1;
    pause_for(a, RETRY_MS);
}

struct audit *audit_create(uv_loop_t *loop, struct redis_link *link,
                           const unsigned char key[AUDIT_KEY_BYTES],
                           size_t queue_max)
{
    struct audit *a;

    if (!loop || !link || !key || queue_max == 0 ||
        queue_max > SIZE_MAX / sizeof(struct queued))
        return NULL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->ring = calloc(queue_max, sizeof(*a->ring));
    if (!a->ring) {
        free(a);
        return NULL;
    }
    a->loop = loop;
    a->link = link;
    memcpy(a->key, key, AUDIT_KEY_BYTES);
    a->cap = queue_max;
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    a->timer_open = 1;
    return a;
}

int audit_append(struct audit *a, const struct audit_entry *e)
{
    struct queued *q;

    if (!a || a->closing || audit_entry_check(e) < 0)
        return RELAY_EINVAL;
    if (a->count == a->cap) {
        a->stats.dropped++;
        if (!a->warned_full)
            log_warn("audit",
                     "audit queue full (%zu entries): dropping new entries "
                     "until Redis catches up",
                     a->cap);
        a->warned_full = 1;
        return RELAY_EFULL;
    }
    q = &a->ring[(a->head + a->count) % a->cap];
    memset(q, 0, sizeof(*q));
    q->ts_ms = e->ts_ms ? e->ts_ms : wall_ms();
    copy_text(q->actor, sizeof(q->actor), e->actor);
    copy_text(q->role, sizeof(q->role), e->role);
    copy_text(q->action, sizeof(q->action), e->action);
    copy_text(q->target, sizeof(q->target), e->target);
    copy_text(q->result, sizeof(q->result), e->result);
    a->count++;
    pump(a);
    return RELAY_OK;
}

void audit_stats(const struct audit *a, struct audit_stats *out)
{
    *out = a->stats;
    out->queued = a->count;
}

void audit_destroy(struct audit *a)
{
    size_t lost;

    if (!a)
        return;
    lost = a->count - (a->in_flight ? 1 : 0);
    if (lost > 0)
        log_warn("audit", "shutting down with %zu audit entries unwritten",
                 lost);
    a->stats.dropped += lost;
    a->count = 0;
    a->closing = 1;
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, timer_closed);
}
