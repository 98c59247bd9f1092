/*
 * avg.c - inzage and verwijdering of a person's data (avg.h).
 *
 * Finding the data uses SCAN with MATCH (case:*, ch:{desk:*}:log, *{id}*)
 * and reads streams in batches: a full pass over the keyspace, which is
 * fine for an operator command at the scale of one region and never
 * blocks Redis for long (SCAN is incremental; each rewrite script touches
 * one stream or the account's own keys).
 */
#include "avg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "channel.h"
#include "chat_store.h"
#include "error.h"
#include "stream_id.h"
#include "user_store.h"

#define KEY_MAX 256
#define SCAN_COUNT "500"
#define STREAM_BATCH 256

/* Involvement of the person in a case (bits). */
#define INV_OWNER 1u
#define INV_APPROVER 2u
#define INV_TIPPER 4u

/*
 * KEYS[1] a stream. ARGV[1] the id, ARGV[2] its replacement. Rewrites
 * every entry with a field equal to the id, or containing it as a JSON
 * string ("\"{id}\""), keeping entry ids, order and the stream's last id.
 * Returns the number of entries changed (0: nothing written).
 */
static const char scrub_script[] =
    "local q = '\"' .. ARGV[1] .. '\"'\n"
    "local rq = '\"' .. ARGV[2] .. '\"'\n"
    "local entries = redis.call('XRANGE', KEYS[1], '-', '+')\n"
    "local changed = 0\n"
    "for _, e in ipairs(entries) do\n"
    "  local f = e[2]\n"
    "  local hit = false\n"
    "  for i = 2, #f, 2 do\n"
    "    local v = f[i]\n"
    "    if v == ARGV[1] then\n"
    "      f[i] = ARGV[2]\n"
    "      hit = true\n"
    "    elseif string.find(v, q, 1, true) then\n"
    "      local parts, pos = {}, 1\n"
    "      while true do\n"
    "        local a, b = string.find(v, q, pos, true)\n"
    "        if not a then break end\n"
    "        parts[#parts + 1] = string.sub(v, pos, a - 1)\n"
    "        parts[#parts + 1] = rq\n"
    "        pos = b + 1\n"
    "      end\n"
    "      parts[#parts + 1] = string.sub(v, pos)\n"
    "      f[i] = table.concat(parts)\n"
    "      hit = true\n"
    "    end\n"
    "  end\n"
    "  if hit then changed = changed + 1 end\n"
    "end\n"
    "if changed == 0 then return 0 end\n"
    "local info = redis.call('XINFO', 'STREAM', KEYS[1])\n"
    "local last = nil\n"
    "for i = 1, #info - 1, 2 do\n"
    "  if info[i] == 'last-generated-id' then last = info[i + 1] end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "for _, e in ipairs(entries) do\n"
    "  redis.call('XADD', KEYS[1], e[1], unpack(e[2]))\n"
    "end\n"
    "if last then redis.call('XSETID', KEYS[1], last) end\n"
    "return changed\n";

/*
 * Hashes that use user ids as field names (post.c: desc:flags counts a
 * user's refused descriptions). A new structure keyed by user id inside
 * a shared key must be added here, or erase leaves the id behind.
 */
static const char *const id_field_hashes[] = {"desc:flags"};
enum { ID_FIELD_HASHES = sizeof(id_field_hashes) / sizeof(id_field_hashes[0]) };

/*
 * KEYS[1] user:{id}, KEYS[2] login:{login}, KEYS[3] idx:phone:{index} (or
 * user:{id} again when there is no phone), KEYS[4 .. 3+n] keys whose
 * name holds the id, KEYS[4+n .. 3+n+h] hashes with the id as a field
 * name, KEYS[4+n+h ..] case hashes. ARGV[1] the id, ARGV[2] the login,
 * ARGV[3] n, ARGV[4] the replacement, ARGV[5] h. Returns {-1} when the
 * account is gone or is no longer that login, else {keys deleted, cases
 * changed}. A counted account leaves the stats:buurt counters here, in
 * the same script that deletes it, so a repeated erase cannot take it out
 * twice and an uncounted (disabled) one is not taken out at all.
 */
static const char erase_script[] = USER_STORE_LUA_COUNT
    "if redis.call('HGET', KEYS[1], 'login') ~= ARGV[2] then return {-1} "
    "end\n"
    "local id, gone, deleted, cases = ARGV[1], ARGV[4], 0, 0\n"
    "local acct = redis.call('HMGET', KEYS[1], 'role', 'buurten', 'phone',"
    " 'counted')\n"
    "if acct[4] ~= '0' then\n"
    "  count(ARGV[1], acct[1], acct[2], acct[3] ~= false, -1)\n"
    "end\n"
    "if redis.call('GET', KEYS[2]) == id then\n"
    "  deleted = deleted + redis.call('DEL', KEYS[2])\n"
    "end\n"
    "if KEYS[3] ~= KEYS[1] and redis.call('GET', KEYS[3]) == id then\n"
    "  deleted = deleted + redis.call('DEL', KEYS[3])\n"
    "end\n"
    "local ci = redis.call('HGET', KEYS[1], 'contact_idx') or ''\n"
    "for k in string.gmatch(ci, '[^,]+') do\n"
    "  if redis.call('GET', k) == id then\n"
    "    deleted = deleted + redis.call('DEL', k)\n"
    "  end\n"
    "end\n"
    "local n = tonumber(ARGV[3])\n"
    "deleted = deleted + redis.call('DEL', KEYS[1])\n"
    "for i = 4, 3 + n do deleted = deleted + redis.call('DEL', KEYS[i]) "
    "end\n"
    "local h = tonumber(ARGV[5])\n"
    "for i = 4 + n, 3 + n + h do redis.call('HDEL', KEYS[i], id) end\n"
    "for i = 4 + n + h, #KEYS do\n"
    "  local k, hit = KEYS[i], false\n"
    "  for _, f in ipairs({'owner', 'approved_by'}) do\n"
    "    if redis.call('HGET', k, f) == id then\n"
    "      redis.call('HSET', k, f, gone)\n"
    "      hit = true\n"
    "    end\n"
    "  end\n"
    "  local t = redis.call('HGET', k, 'tippers')\n"
    "  if t then\n"
    "    local kept, found = {}, false\n"
    "    for m in string.gmatch(t, '[^,]+') do\n"
    "      if m == id then found = true else kept[#kept + 1] = m end\n"
    "    end\n"
    "    if found then\n"
    "      hit = true\n"
    "      if #kept > 0 then\n"
    "        redis.call('HSET', k, 'tippers', table.concat(kept, ','))\n"
    "      else\n"
    "        redis.call('HDEL', k, 'tippers')\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if hit then cases = cases + 1 end\n"
    "end\n"
    "redis.call('PUBLISH', 'relay:control', 'revoke-user ' .. id)\n"
    "return {deleted, cases}\n";

/* A growable list of strings (key names, case ids). */
struct strlist {
    char **v;
    size_t n, cap;
};

static int strlist_add(struct strlist *l, const char *s, size_t len)
{
    char *copy;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof(*v));

        if (!v)
            return RELAY_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    copy = malloc(len + 1);
    if (!copy)
        return RELAY_ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    l->v[l->n++] = copy;
    return RELAY_OK;
}

static void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and drops duplicates (SCAN may return a key twice). */
static void strlist_unique(struct strlist *l)
{
    size_t out = 0;

    if (l->n < 2)
        return;
    qsort(l->v, l->n, sizeof(*l->v), cmp_str);
    for (size_t i = 0; i < l->n; i++) {
        if (out > 0 && strcmp(l->v[out - 1], l->v[i]) == 0)
            free(l->v[i]);
        else
            l->v[out++] = l->v[i];
    }
    l->n = out;
}

static void arg_set(const char **argv, size_t *lens, int i, const char *s)
{
    argv[i] = s;
    lens[i] = strlen(s);
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

/* Every key matching 'pattern', added to *out (deduplicated). */
static int scan_keys(redisContext *c, const char *pattern, struct strlist *out)
{
    char cursor[32] = "0";
    const char *argv[6];
    size_t lens[6];

    do {
        redisReply *r, *keys;
        int rc = RELAY_OK;

        arg_set(argv, lens, 0, "SCAN");
        arg_set(argv, lens, 1, cursor);
        arg_set(argv, lens, 2, "MATCH");
        arg_set(argv, lens, 3, pattern);
        arg_set(argv, lens, 4, "COUNT");
        arg_set(argv, lens, 5, SCAN_COUNT);
        r = command(c, 6, argv, lens);
        if (!r)
            return RELAY_EUNAVAILABLE;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= sizeof(cursor) ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return RELAY_EINTERNAL;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        keys = r->element[1];
        for (size_t i = 0; i < keys->elements && rc == RELAY_OK; i++) {
            if (keys->element[i]->type == REDIS_REPLY_STRING)
                rc = strlist_add(out, keys->element[i]->str,
                                 keys->element[i]->len);
        }
        freeReplyObject(r);
        if (rc < 0)
            return rc;
    } while (strcmp(cursor, "0") != 0);
    strlist_unique(out);
    return RELAY_OK;
}

/* True for "case:{cid}" (the hash), not case:{cid}:events and friends. */
static const char *case_hash_id(const char *key)
{
    if (strncmp(key, "case:", 5) != 0 || !channel_is_id(key + 5))
        return NULL;
    return key + 5;
}

/* Field 'name' of an HGETALL reply, or NULL. */
static const char *hash_field(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *k = h->element[i], *v = h->element[i + 1];

        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, name) == 0)
            return v->str;
    }
    return NULL;
}

/* True when the comma-separated 'list' holds 'id' as an element. */
static int csv_has(const char *list, const char *id)
{
    size_t n = strlen(id);

    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len == n && memcmp(p, id, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static unsigned involvement(const redisReply *h, const char *id)
{
    const char *owner = hash_field(h, "owner");
    const char *approver = hash_field(h, "approved_by");
    const char *tippers = hash_field(h, "tippers");
    unsigned inv = 0;

    if (owner && strcmp(owner, id) == 0)
        inv |= INV_OWNER;
    if (approver && strcmp(approver, id) == 0)
        inv |= INV_APPROVER;
    if (tippers && csv_has(tippers, id))
        inv |= INV_TIPPER;
    return inv;
}

/* Called per case the person is involved in; 'h' is its HGETALL. */
typedef int (*case_cb)(void *arg, const char *case_id, const redisReply *h,
                       unsigned inv);

/* Finds every case hash naming 'id' (SCAN case:*, then HGETALL each). */
static int scan_cases(redisContext *c, const char *id, case_cb cb, void *arg)
{
    struct strlist keys = {0};
    const char *argv[2];
    size_t lens[2];
    int rc = scan_keys(c, "case:*", &keys);

    for (size_t i = 0; rc == RELAY_OK && i < keys.n; i++) {
        const char *cid = case_hash_id(keys.v[i]);
        redisReply *r;
        unsigned inv;

        if (!cid)
            continue;
        arg_set(argv, lens, 0, "HGETALL");
        arg_set(argv, lens, 1, keys.v[i]);
        r = command(c, 2, argv, lens);
        if (!r) {
            rc = RELAY_EUNAVAILABLE;
            break;
        }
        if (r->type == REDIS_REPLY_ARRAY) {
            inv = involvement(r, id);
            if (inv)
                rc = cb(arg, cid, r, inv);
        }
        freeReplyObject(r);
    }
    strlist_free(&keys);
    return rc;
}

/* Called per stream entry: its id and its [field, value, ...] array. A
 * nonzero return stops the walk and is returned. */
typedef int (*entry_cb)(void *arg, const char *entry_id,
                        const redisReply *fields);

/* Visits every entry of stream 'key' in batches. */
static int walk_stream(redisContext *c, const char *key, entry_cb cb, void *arg)
{
    char from[STREAM_ID_MAX] = "-", count[16];
    const char *argv[6];
    size_t lens[6];

    snprintf(count, sizeof(count), "%d", STREAM_BATCH);
    for (;;) {
        redisReply *r;
        const char *last = NULL;
        size_t n;
        int rc = RELAY_OK;

        arg_set(argv, lens, 0, "XRANGE");
        arg_set(argv, lens, 1, key);
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
            const redisReply *e = r->element[i];

            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[0]->len >= STREAM_ID_MAX) {
                rc = RELAY_EINTERNAL;
                break;
            }
            last = e->element[0]->str;
            if (e->element[1]->type == REDIS_REPLY_ARRAY)
                rc = cb(arg, last, e->element[1]);
        }
        if (rc == RELAY_OK && last)
            rc = stream_id_next(last, from, sizeof(from)) == RELAY_OK
                     ? RELAY_OK
                     : RELAY_EINTERNAL; /* malformed id from Redis */
        freeReplyObject(r);
        if (rc != RELAY_OK || n < STREAM_BATCH)
            return rc;
    }
}

/* Value of field 'name' in a stream entry's field array, or NULL. */
static const char *entry_field(const redisReply *f, const char *name)
{
    return hash_field(f, name);
}

/* --- erase -------------------------------------------------------------- */

/* Stops the walk (returns 1) at the first value naming the id. */
static int mentions_cb(void *arg, const char *entry_id, const redisReply *f)
{
    const char *id = arg;
    char quoted[KEY_MAX];

    snprintf(quoted, sizeof(quoted), "\"%s\"", id);
    for (size_t i = 1; i < f->elements; i += 2) {
        const redisReply *v = f->element[i];

        if (v->type == REDIS_REPLY_STRING &&
            (strcmp(v->str, id) == 0 || strstr(v->str, quoted)))
            return 1;
    }
    return 0;
}

/* Rewrites stream 'key' without the id when it mentions it. Returns 1
 * when rewritten, 0 when it did not mention the id, or an error. */
static int scrub_stream(redisContext *c, const char *key, const char *id)
{
    const char *argv[6];
    size_t lens[6];
    redisReply *r;
    int rc = walk_stream(c, key, mentions_cb, (void *)id);

    if (rc <= 0)
        return rc;
    arg_set(argv, lens, 0, "EVAL");
    arg_set(argv, lens, 1, scrub_script);
    arg_set(argv, lens, 2, "1");
    arg_set(argv, lens, 3, key);
    arg_set(argv, lens, 4, id);
    arg_set(argv, lens, 5, AVG_ERASED);
    r = command(c, 6, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    rc = r->type == REDIS_REPLY_INTEGER ? (r->integer > 0) : RELAY_EINTERNAL;
    freeReplyObject(r);
    return rc;
}

static int collect_case(void *arg, const char *case_id, const redisReply *h,
                        unsigned inv)
{
    return strlist_add(arg, case_id, strlen(case_id));
}

/* Step 3: every stream that may mention the id. */
static int scrub_streams(redisContext *c, const char *id,
                         const struct strlist *cases, size_t *scrubbed)
{
    struct strlist streams = {0};
    char key[KEY_MAX];
    int rc = scan_keys(c, "ch:{desk:*}:log", &streams);

    for (size_t i = 0; rc == RELAY_OK && i < cases->n; i++) {
        snprintf(key, sizeof(key), "case:%s:events", cases->v[i]);
        rc = strlist_add(&streams, key, strlen(key));
        if (rc == RELAY_OK) {
            snprintf(key, sizeof(key), "ch:{case:%s}:log", cases->v[i]);
            rc = strlist_add(&streams, key, strlen(key));
        }
    }
    strlist_unique(&streams);
    for (size_t i = 0; rc == RELAY_OK && i < streams.n; i++) {
        int hit = scrub_stream(c, streams.v[i], id);

        if (hit < 0)
            rc = hit;
        else
            *scrubbed += (size_t)hit;
    }
    strlist_free(&streams);
    return rc;
}

/*
 * KEYS: streams of the outbox that name users (mo:inbox, dead:{ch}).
 * ARGV[1] the id, ARGV[2] the phone's blind index ('' for none). Deletes
 * every entry whose u field is the id or whose p field is the index (an
 * SMS from the person's number that matched no account). Returns the
 * number of entries deleted.
 */
static const char sms_streams_script[] =
    "local n = 0\n"
    "for _, k in ipairs(KEYS) do\n"
    "  if redis.call('TYPE', k).ok == 'stream' then\n"
    "    for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do\n"
    "      local f = e[2]\n"
    "      for i = 1, #f - 1, 2 do\n"
    "        if (f[i] == 'u' and f[i + 1] == ARGV[1]) or\n"
    "           (f[i] == 'p' and ARGV[2] ~= '' and f[i + 1] == ARGV[2]) then\n"
    "          n = n + redis.call('XDEL', k, e[1])\n"
    "          break\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return n\n";

/* Step 3b: the person's SMS replies and dead letters (relay/outbox.h). */
static int scrub_sms_streams(redisContext *c, const char *id,
                             const char *phone_index, size_t *scrubbed)
{
    struct strlist streams = {0};
    const char **argv = NULL;
    size_t *lens = NULL;
    char nkeys[24];
    redisReply *r;
    int rc = scan_keys(c, "dead:*", &streams);
    int i = 0;

    if (rc == RELAY_OK)
        rc = strlist_add(&streams, "mo:inbox", 8);
    if (rc < 0)
        goto out;
    rc = RELAY_ENOMEM;
    argv = calloc(streams.n + 5, sizeof(*argv));
    lens = calloc(streams.n + 5, sizeof(*lens));
    if (!argv || !lens)
        goto out;
    snprintf(nkeys, sizeof(nkeys), "%zu", streams.n);
    arg_set(argv, lens, i++, "EVAL");
    arg_set(argv, lens, i++, sms_streams_script);
    arg_set(argv, lens, i++, nkeys);
    for (size_t k = 0; k < streams.n; k++)
        arg_set(argv, lens, i++, streams.v[k]);
    arg_set(argv, lens, i++, id);
    arg_set(argv, lens, i++, phone_index ? phone_index : "");
    r = command(c, (int)i, argv, lens);
    if (!r) {
        rc = RELAY_EUNAVAILABLE;
        goto out;
    }
    rc = r->type == REDIS_REPLY_INTEGER ? RELAY_OK : RELAY_EUNAVAILABLE;
    if (rc == RELAY_OK && r->integer > 0)
        *scrubbed += (size_t)r->integer;
    freeReplyObject(r);
out:
    free(argv);
    free(lens);
    strlist_free(&streams);
    return rc;
}

/* Step 4: the erase script over the account's keys and its cases. */
static int erase_keys(redisContext *c, const struct user_record *u,
                      const char *phone_index, const struct strlist *id_keys,
                      const struct strlist *cases, struct avg_erase_stats *st)
{
    size_t argc = 3 + 3 + id_keys->n + ID_FIELD_HASHES + cases->n + 5;
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *lens = calloc(argc, sizeof(*lens));
    struct strlist owned = {0};
    char user_key[KEY_MAX], login_key[KEY_MAX], phone_key[KEY_MAX];
    char nkeys[24], nid[24], nhash[24];
    redisReply *r = NULL;
    int i = 0, rc = RELAY_ENOMEM;

    if (!argv || !lens)
        goto out;
    snprintf(user_key, sizeof(user_key), "user:%s", u->id);
    snprintf(login_key, sizeof(login_key), "login:%s", u->login);
    snprintf(phone_key, sizeof(phone_key), "idx:phone:%s",
             phone_index ? phone_index : "");
    snprintf(nkeys, sizeof(nkeys), "%zu",
             3 + id_keys->n + ID_FIELD_HASHES + cases->n);
    snprintf(nid, sizeof(nid), "%zu", id_keys->n);
    snprintf(nhash, sizeof(nhash), "%d", ID_FIELD_HASHES);
    arg_set(argv, lens, i++, "EVAL");
    arg_set(argv, lens, i++, erase_script);
    arg_set(argv, lens, i++, nkeys);
    arg_set(argv, lens, i++, user_key);
    arg_set(argv, lens, i++, login_key);
    arg_set(argv, lens, i++, phone_index ? phone_key : user_key);
    for (size_t k = 0; k < id_keys->n; k++)
        arg_set(argv, lens, i++, id_keys->v[k]);
    for (int k = 0; k < ID_FIELD_HASHES; k++)
        arg_set(argv, lens, i++, id_field_hashes[k]);
    for (size_t k = 0; k < cases->n; k++) {
        char key[KEY_MAX];

        snprintf(key, sizeof(key), "case:%s", cases->v[k]);
        if (strlist_add(&owned, key, strlen(key)) < 0)
            goto out;
        arg_set(argv, lens, i++, owned.v[owned.n - 1]);
    }
    arg_set(argv, lens, i++, u->id);
    arg_set(argv, lens, i++, u->login);
    arg_set(argv, lens, i++, nid);
    arg_set(argv, lens, i++, AVG_ERASED);
    arg_set(argv, lens, i++, nhash);
    r = command(c, i, argv, lens);
    if (!r) {
        rc = RELAY_EUNAVAILABLE;
        goto out;
    }
    rc = RELAY_EINTERNAL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER)
        goto out;
    if (r->element[0]->integer < 0) {
        rc = RELAY_ENOTFOUND;
        goto out;
    }
    if (r->elements != 2 || r->element[1]->type != REDIS_REPLY_INTEGER)
        goto out;
    st->keys_deleted = (size_t)r->element[0]->integer;
    st->cases_anonymised = (size_t)r->element[1]->integer;
    rc = RELAY_OK;
out:
    if (r)
        freeReplyObject(r);
    strlist_free(&owned);
    free(argv);
    free(lens);
    return rc;
}

/*
 * Erases a user (the steps are in avg.h). Anything read that names the
 * person (the phone number) lives on the stack and is wiped.
 */
int avg_erase(redisContext *c, const unsigned char pii_key[PII_KEY_BYTES],
              const char *id, struct avg_erase_stats *stats)
{
    struct user_record u;
    struct avg_erase_stats st;
    struct strlist cases = {0}, id_keys = {0};
    char phone[PII_PHONE_MAX + 1], index[PII_INDEX_HEX_BYTES];
    char pattern[KEY_MAX];
    int have_index = 0, rc;

    if (!c || !pii_key || !id || !channel_is_id(id))
        return RELAY_EINVAL;
    memset(&st, 0, sizeof(st));
    rc = user_store_get(c, id, &u);
    if (rc < 0)
        return rc;
    if (u.has_phone) {
        rc = user_store_phone(c, pii_key, id, phone);
        if (rc == RELAY_OK) {
            rc = pii_blind_index(pii_key, phone, index);
            have_index = rc == RELAY_OK;
        }
        sodium_memzero(phone, sizeof(phone));
        if (rc < 0)
            return rc;
    }
    rc = user_store_revoke_all(c, id, (int64_t)time(NULL) + 1);
    if (rc == RELAY_OK)
        rc = scan_cases(c, id, collect_case, &cases);
    if (rc == RELAY_OK)
        rc = scrub_streams(c, id, &cases, &st.streams_scrubbed);
    if (rc == RELAY_OK)
        rc = scrub_sms_streams(c, id, have_index ? index : NULL,
                               &st.streams_scrubbed);
    if (rc == RELAY_OK) {
        snprintf(pattern, sizeof(pattern), "*%s*", id);
        rc = scan_keys(c, pattern, &id_keys);
    }
    if (rc == RELAY_OK)
        rc =
            erase_keys(c, &u, have_index ? index : NULL, &id_keys, &cases, &st);
    strlist_free(&cases);
    strlist_free(&id_keys);
    if (rc == RELAY_OK && stats)
        *stats = st;
    return rc;
}

/* --- export ------------------------------------------------------------- */

struct export_ctx {
    redisContext *c;
    const char *id;
    cJSON *cases;
    cJSON *posts;
    cJSON *messages;
    cJSON *audit;
    cJSON *sms_replies;
    int nomem;
};

/* Adds a JSON value parsed from 'text', or the text itself when it is not
 * JSON. */
static void add_json_text(struct export_ctx *x, cJSON *obj, const char *name,
                          const char *text)
{
    cJSON *v = cJSON_Parse(text);

    if (!v)
        v = cJSON_CreateString(text);
    if (!v || !cJSON_AddItemToObject(obj, name, v)) {
        cJSON_Delete(v);
        x->nomem = 1;
    }
}

static void add_str(struct export_ctx *x, cJSON *obj, const char *name,
                    const char *value)
{
    if (!cJSON_AddStringToObject(obj, name, value))
        x->nomem = 1;
}

/* The person's own events in one case. */
static int post_cb(void *arg, const char *entry_id, const redisReply *f)
{
    struct export_ctx *x = arg;
    const char *by = entry_field(f, "by");
    const char *kind = entry_field(f, "kind");
    const char *msg = entry_field(f, "msg");
    cJSON *o;

    if (!by || strcmp(by, x->id) != 0)
        return 0;
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(x->posts, o)) {
        cJSON_Delete(o);
        x->nomem = 1;
        return RELAY_ENOMEM;
    }
    add_str(x, o, "event", entry_id);
    add_str(x, o, "kind", kind ? kind : "");
    add_json_text(x, o, "msg", msg ? msg : "null");
    return x->nomem ? RELAY_ENOMEM : 0;
}

/*
 * One case the person is involved in: its own fields, but not the other
 * people it names (owner, approver, tippers appear only as the person's
 * own involvement), and the appeal text only to its owner.
 */
static int export_case(void *arg, const char *case_id, const redisReply *h,
                       unsigned inv)
{
    static const char *const shown[] = {
        "kind",    "state",   "buurten", "category", "severity", "anonymous",
        "overdue", "created", "updated", "closed",   "purged"};
    struct export_ctx *x = arg;
    cJSON *o = cJSON_CreateObject(), *roles;
    char key[KEY_MAX];
    const char *alert = hash_field(h, "alert");

    if (!o || !cJSON_AddItemToArray(x->cases, o)) {
        cJSON_Delete(o);
        return RELAY_ENOMEM;
    }
    add_str(x, o, "id", case_id);
    roles = cJSON_AddArrayToObject(o, "involvement");
    if (!roles)
        return RELAY_ENOMEM;
    if (inv & INV_OWNER)
        cJSON_AddItemToArray(roles, cJSON_CreateString("owner"));
    if (inv & INV_APPROVER)
        cJSON_AddItemToArray(roles, cJSON_CreateString("approver"));
    if (inv & INV_TIPPER)
        cJSON_AddItemToArray(roles, cJSON_CreateString("tipper"));
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
        const char *v = hash_field(h, shown[i]);

        if (v)
            add_str(x, o, shown[i], v);
    }
    if (alert && (inv & INV_OWNER))
        add_json_text(x, o, "alert", alert);
    if (x->nomem)
        return RELAY_ENOMEM;
    snprintf(key, sizeof(key), "case:%s:events", case_id);
    return walk_stream(x->c, key, post_cb, x);
}

/* One message of the person's own channel user:{id}. */
static int message_cb(void *arg, const char *entry_id, const redisReply *f)
{
    struct export_ctx *x = arg;
    const char *frame = entry_field(f, "f");
    cJSON *parsed = frame ? cJSON_Parse(frame) : NULL;
    cJSON *msg = parsed ? cJSON_DetachItemFromObject(parsed, "msg") : NULL;
    cJSON *o = cJSON_CreateObject();

    cJSON_Delete(parsed);
    if (!o || !cJSON_AddItemToArray(x->messages, o)) {
        cJSON_Delete(o);
        cJSON_Delete(msg);
        return RELAY_ENOMEM;
    }
    add_str(x, o, "id", entry_id);
    if (!msg)
        msg = cJSON_CreateNull();
    if (!msg || !cJSON_AddItemToObject(o, "msg", msg)) {
        cJSON_Delete(msg);
        return RELAY_ENOMEM;
    }
    return x->nomem ? RELAY_ENOMEM : 0;
}

static int audit_cb(void *arg, const struct audit_record *r)
{
    struct export_ctx *x = arg;
    cJSON *o;

    if (strcmp(r->actor, x->id) != 0 && strcmp(r->target, x->id) != 0)
        return 0;
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(x->audit, o)) {
        cJSON_Delete(o);
        return RELAY_ENOMEM;
    }
    add_str(x, o, "id", r->id);
    if (!cJSON_AddNumberToObject(o, "ts", (double)r->ts_ms))
        x->nomem = 1;
    add_str(x, o, "actor", r->actor);
    add_str(x, o, "role", r->role);
    add_str(x, o, "action", r->action);
    add_str(x, o, "target", r->target);
    add_str(x, o, "result", r->result);
    return x->nomem ? RELAY_ENOMEM : 0;
}

/* Splits "A,B,C" into a JSON array of strings. */
static cJSON *csv_array(const char *list)
{
    cJSON *a = cJSON_CreateArray();

    for (const char *p = list; a && p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[16];

        if (len > 0 && len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = '\0';
            if (!cJSON_AddItemToArray(a, cJSON_CreateString(item))) {
                cJSON_Delete(a);
                return NULL;
            }
        }
        p = end ? end + 1 : NULL;
    }
    return a;
}

/* [{"postcode": "9401AB", "number": 12}, ...] */
static cJSON *address_array(const struct user_address *a, size_t n)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
        if (!cJSON_AddStringToObject(o, "postcode", a[i].pc6) ||
            !cJSON_AddNumberToObject(o, "number", a[i].number)) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/*
 * The "account" object: every field but the password hash, with the
 * phone and the addresses decrypted ("addresses": [] when none).
 */
static cJSON *account_json(struct export_ctx *x, const struct user_record *u,
                           const char *phone, const struct user_address *addr,
                           size_t naddr)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *b = csv_array(u->buurten), *w = csv_array(u->wijken);
    cJSON *a = address_array(addr, naddr);

    if (!o || !b || !w || !a) {
        cJSON_Delete(o);
        cJSON_Delete(b);
        cJSON_Delete(w);
        cJSON_Delete(a);
        return NULL;
    }
    add_str(x, o, "id", u->id);
    add_str(x, o, "login", u->login);
    add_str(x, o, "role", u->role);
    cJSON_AddItemToObject(o, "buurten", b);
    cJSON_AddItemToObject(o, "wijken", w);
    if (!cJSON_AddBoolToObject(o, "disabled", u->disabled) ||
        !cJSON_AddNumberToObject(o, "created", (double)u->created) ||
        !cJSON_AddNumberToObject(o, "tokens_after", (double)u->tokens_after))
        x->nomem = 1;
    if (phone)
        add_str(x, o, "phone", phone);
    else if (!cJSON_AddNullToObject(o, "phone"))
        x->nomem = 1;
    cJSON_AddItemToObject(o, "addresses", a);
    return o;
}

/*
 * The person's chat side in the account object: "contacts" {kind:
 * address} decrypted, "channels" and "quiet" as stored (null when
 * absent). A person hands these in themselves (buurtctl contact).
 */
static int export_chat(redisContext *c, const unsigned char *pii_key,
                       const char *id, cJSON *account)
{
    struct chat_person p;
    cJSON *o;
    int rc = chat_store_person_read(c, pii_key, id, &p);

    if (rc == RELAY_ENOTFOUND)
        return RELAY_OK;
    if (rc < 0)
        return rc;
    o = cJSON_AddObjectToObject(account, "contacts");
    for (size_t i = 0; o && i < p.ncontacts; i++)
        if (!cJSON_AddStringToObject(o, p.contacts[i].kind,
                                     p.contacts[i].value))
            o = NULL;
    if (o && !(p.channels[0]
                   ? cJSON_AddStringToObject(account, "channels", p.channels)
                   : cJSON_AddNullToObject(account, "channels")))
        o = NULL;
    if (o && !(p.quiet[0] ? cJSON_AddStringToObject(account, "quiet", p.quiet)
                          : cJSON_AddNullToObject(account, "quiet")))
        o = NULL;
    chat_store_person_free(&p);
    return o ? RELAY_OK : RELAY_ENOMEM;
}

/* "counters": the person's field in each of the id_field_hashes. */
static int export_id_fields(struct export_ctx *x, cJSON *doc)
{
    cJSON *o = cJSON_AddObjectToObject(doc, "counters");
    const char *argv[3];
    size_t lens[3];

    if (!o)
        return RELAY_ENOMEM;
    for (int i = 0; i < ID_FIELD_HASHES; i++) {
        redisReply *r;

        arg_set(argv, lens, 0, "HGET");
        arg_set(argv, lens, 1, id_field_hashes[i]);
        arg_set(argv, lens, 2, x->id);
        r = command(x->c, 3, argv, lens);
        if (!r)
            return RELAY_EUNAVAILABLE;
        if (r->type == REDIS_REPLY_STRING)
            add_str(x, o, id_field_hashes[i], r->str);
        freeReplyObject(r);
    }
    return x->nomem ? RELAY_ENOMEM : RELAY_OK;
}

/*
 * Builds the inzage document (avg.h). The decrypted phone number and
 * addresses go only into the document (the caller prints it to the
 * person) and their stack copies are wiped.
 */
/* A string member, or null when the value is missing. */
static void add_opt(struct export_ctx *x, cJSON *obj, const char *name,
                    const char *value)
{
    if (value)
        add_str(x, obj, name, value);
    else if (!cJSON_AddNullToObject(obj, name))
        x->nomem = 1;
}

/* The person's SMS replies in mo:inbox (relay/outbox.h). */
static int sms_reply_cb(void *arg, const char *entry_id, const redisReply *f)
{
    struct export_ctx *x = arg;
    const char *u = entry_field(f, "u");
    cJSON *o;

    if (!u || strcmp(u, x->id) != 0)
        return RELAY_OK;
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(x->sms_replies, o)) {
        cJSON_Delete(o);
        return RELAY_ENOMEM;
    }
    add_str(x, o, "id", entry_id);
    add_opt(x, o, "adapter", entry_field(f, "a"));
    add_opt(x, o, "case", entry_field(f, "c"));
    add_opt(x, o, "text", entry_field(f, "x"));
    return RELAY_OK;
}

/*
 * "sms": the buurten whose SMS recipients the person is (sms:buurt:{code}),
 * the case their last SMS was about (dlv:last:{id}) and their replies.
 */
static int export_sms(struct export_ctx *x, cJSON *doc,
                      const struct user_record *u)
{
    cJSON *sms = cJSON_AddObjectToObject(doc, "sms");
    cJSON *buurten = sms ? cJSON_AddArrayToObject(sms, "buurten") : NULL;
    const char *p = u->buurten;
    char key[KEY_MAX];
    redisReply *r;
    const char *argv[3];
    size_t lens[3];

    x->sms_replies = sms ? cJSON_AddArrayToObject(sms, "replies") : NULL;
    if (!buurten || !x->sms_replies)
        return RELAY_ENOMEM;
    while (*p) {
        size_t n = strcspn(p, ",");
        char code[16];

        if (n > 0 && n < sizeof(code)) {
            memcpy(code, p, n);
            code[n] = '\0';
            snprintf(key, sizeof(key), "sms:buurt:%s", code);
            arg_set(argv, lens, 0, "SISMEMBER");
            arg_set(argv, lens, 1, key);
            arg_set(argv, lens, 2, x->id);
            r = command(x->c, 3, argv, lens);
            if (!r)
                return RELAY_EUNAVAILABLE;
            if (r->type == REDIS_REPLY_INTEGER && r->integer == 1 &&
                !cJSON_AddItemToArray(buurten, cJSON_CreateString(code)))
                x->nomem = 1;
            freeReplyObject(r);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    snprintf(key, sizeof(key), "dlv:last:%s", x->id);
    arg_set(argv, lens, 0, "GET");
    arg_set(argv, lens, 1, key);
    r = command(x->c, 2, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    add_opt(x, sms, "last_case", r->type == REDIS_REPLY_STRING ? r->str : NULL);
    freeReplyObject(r);
    return walk_stream(x->c, "mo:inbox", sms_reply_cb, x);
}

int avg_export(redisContext *c, const unsigned char pii_key[PII_KEY_BYTES],
               const char *id, cJSON **out)
{
    struct export_ctx x;
    struct user_record u;
    char phone[PII_PHONE_MAX + 1], key[KEY_MAX];
    char sealed[USER_ADDRESSES_TEXT_MAX];
    struct user_address addr[USER_ADDRESSES_MAX];
    size_t naddr = 0;
    cJSON *doc, *account;
    int rc, has_phone = 0;

    if (!c || !pii_key || !id || !out || !channel_is_id(id))
        return RELAY_EINVAL;
    rc = user_store_get(c, id, &u);
    if (rc < 0)
        return rc;
    if (u.has_phone) {
        rc = user_store_phone(c, pii_key, id, phone);
        if (rc < 0 && rc != RELAY_ENOTFOUND)
            return rc;
        has_phone = rc == RELAY_OK;
    }
    if (u.has_addresses) {
        rc = user_store_addresses_sealed(c, id, sealed, sizeof(sealed));
        if (rc == RELAY_OK)
            rc = user_store_addresses_open(pii_key, id, sealed, addr, &naddr);
        if (rc < 0 && rc != RELAY_ENOTFOUND) {
            sodium_memzero(phone, sizeof(phone));
            sodium_memzero(addr, sizeof(addr));
            return rc;
        }
    }
    memset(&x, 0, sizeof(x));
    x.c = c;
    x.id = id;
    doc = cJSON_CreateObject();
    account = doc ? account_json(&x, &u, has_phone ? phone : NULL, addr, naddr)
                  : NULL;
    sodium_memzero(phone, sizeof(phone));
    sodium_memzero(addr, sizeof(addr));
    if (!account || !cJSON_AddItemToObject(doc, "account", account)) {
        cJSON_Delete(account);
        cJSON_Delete(doc);
        return RELAY_ENOMEM;
    }
    rc = export_chat(c, pii_key, id, account);
    if (rc < 0) {
        cJSON_Delete(doc);
        return rc;
    }
    x.cases = cJSON_AddArrayToObject(doc, "cases");
    x.posts = cJSON_AddArrayToObject(doc, "posts");
    x.messages = cJSON_AddArrayToObject(doc, "messages");
    x.audit = cJSON_AddArrayToObject(doc, "audit");
    rc = (!x.cases || !x.posts || !x.messages || !x.audit || x.nomem)
             ? RELAY_ENOMEM
             : RELAY_OK;
    if (rc == RELAY_OK)
        rc = export_id_fields(&x, doc);
    if (rc == RELAY_OK)
        rc = scan_cases(c, id, export_case, &x);
    if (rc == RELAY_OK) {
        snprintf(key, sizeof(key), "ch:{user:%s}:log", id);
        rc = walk_stream(c, key, message_cb, &x);
    }
    if (rc == RELAY_OK)
        rc = audit_walk(c, 0, audit_cb, &x);
    if (rc == RELAY_OK)
        rc = export_sms(&x, doc, &u);
    if (rc == RELAY_OK && x.nomem)
        rc = RELAY_ENOMEM;
    if (rc != RELAY_OK) {
        cJSON_Delete(doc);
        return rc;
    }
    *out = doc;
    return RELAY_OK;
}
