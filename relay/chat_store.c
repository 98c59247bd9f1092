/*
 * chat_store.c - see chat_store.h.
 */
#include "chat_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "channel.h"
#include "error.h"

#define KEY_MAX 160
#define SEALED_MAX 2048 /* >= pii_text_len(CONTACTS_TEXT_MAX) */

/*
 * KEYS[1] user:{id}. ARGV: 1 id, 2 the contacts ciphertext as read (''
 * none), 3 new ciphertext ('' clears), 4 new kinds, 5 new index keys
 * (comma list), 6 channels ('' clears), 7 quiet ('' clears).
 * Returns 0 done, -1 no such user, 4 stale, 3 an address is taken.
 */
static const char person_script[] =
    "local u, id = KEYS[1], ARGV[1]\n"
    "if redis.call('EXISTS', u) == 0 then return -1 end\n"
    "local cur = redis.call('HMGET', u, 'contacts', 'contact_idx',\n"
    "  'contact_kinds', 'role', 'buurten', 'counted')\n"
    "if (cur[1] or '') ~= ARGV[2] then return 4 end\n"
    "for k in string.gmatch(ARGV[5], '[^,]+') do\n"
    "  local o = redis.call('GET', k)\n"
    "  if o and o ~= id then return 3 end\n"
    "end\n"
    "for k in string.gmatch(cur[2] or '', '[^,]+') do\n"
    "  if redis.call('GET', k) == id then redis.call('DEL', k) end\n"
    "end\n"
    "for k in string.gmatch(ARGV[5], '[^,]+') do\n"
    "  redis.call('SET', k, id)\n"
    "end\n"
    "local had, has = cur[3] ~= false, ARGV[3] ~= ''\n"
    "if had ~= has and cur[6] ~= '0' and (cur[4] == 'resident' or\n"
    "    cur[4] == 'beheerder') then\n"
    "  for code in string.gmatch(cur[5] or '', 'BU%d+') do\n"
    "    if has then redis.call('SADD', 'chat:buurt:' .. code, id)\n"
    "    else redis.call('SREM', 'chat:buurt:' .. code, id) end\n"
    "  end\n"
    "end\n"
    "if has then\n"
    "  redis.call('HSET', u, 'contacts', ARGV[3], 'contact_kinds', ARGV[4],\n"
    "    'contact_idx', ARGV[5])\n"
    "else\n"
    "  redis.call('HDEL', u, 'contacts', 'contact_kinds', 'contact_idx')\n"
    "end\n"
    "if ARGV[6] ~= '' then redis.call('HSET', u, 'channels', ARGV[6])\n"
    "else redis.call('HDEL', u, 'channels') end\n"
    "if ARGV[7] ~= '' then redis.call('HSET', u, 'quiet', ARGV[7])\n"
    "else redis.call('HDEL', u, 'quiet') end\n"
    "return 0\n";

/*
 * KEYS[1] chatlink:{id}, KEYS[2] idx:link:{adapter}:{index}. ARGV: 1 id,
 * 2 adapter, 3 sealed address, 4 buurten, 5 name, 6 admin, 7 created,
 * 8 index key. Returns {0} or {1, existing id}.
 */
static const char link_create_script[] =
    "local e = redis.call('GET', KEYS[2])\n"
    "if e then return {1, e} end\n"
    "redis.call('SET', KEYS[2], ARGV[1])\n"
    "redis.call('HSET', KEYS[1], 'adapter', ARGV[2], 'address', ARGV[3],\n"
    "  'buurten', ARGV[4], 'name', ARGV[5], 'admin', ARGV[6],\n"
    "  'created', ARGV[7], 'idx', ARGV[8])\n"
    "for code in string.gmatch(ARGV[4], 'BU%d+') do\n"
    "  redis.call('SADD', 'chatlinks:buurt:' .. code, ARGV[1])\n"
    "end\n"
    "return {0}\n";

/* KEYS[1] chatlink:{id}. ARGV[1] id. Returns 0 gone already, 1 done. */
static const char link_delete_script[] =
    "local h = redis.call('HMGET', KEYS[1], 'buurten', 'idx')\n"
    "if not h[1] then return 0 end\n"
    "for code in string.gmatch(h[1], 'BU%d+') do\n"
    "  redis.call('SREM', 'chatlinks:buurt:' .. code, ARGV[1])\n"
    "end\n"
    "if h[2] and redis.call('GET', h[2]) == ARGV[1] then\n"
    "  redis.call('DEL', h[2])\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return 1\n";

static redisReply *run(redisContext *c, int argc, const char **argv)
{
    size_t lens[16];

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return redisCommandArgv(c, argc, argv, lens);
}

static int copy_reply(const redisReply *r, char *out, size_t cap)
{
    if (!r || r->type != REDIS_REPLY_STRING || r->len + 1 > cap)
        return -1;
    memcpy(out, r->str, r->len + 1);
    return 0;
}

int chat_store_person_read(redisContext *c, const unsigned char *pii_key,
                           const char *id, struct chat_person *out)
{
    char key[KEY_MAX], context[PII_CONTEXT_MAX], plain[CONTACTS_TEXT_MAX + 1];
    const char *argv[6];
    redisReply *r;
    int rc = RELAY_OK;

    if (!c || !pii_key || !id || !out || !channel_is_id(id))
        return RELAY_EINVAL;
    memset(out, 0, sizeof(*out));
    snprintf(key, sizeof(key), "user:%s", id);
    argv[0] = "HMGET";
    argv[1] = key;
    argv[2] = "contacts";
    argv[3] = "channels";
    argv[4] = "quiet";
    argv[5] = "role";
    r = run(c, 6, argv);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
        freeReplyObject(r);
        return RELAY_EUNAVAILABLE;
    }
    if (r->element[3]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return RELAY_ENOTFOUND;
    }
    if (r->element[1]->type == REDIS_REPLY_STRING)
        copy_reply(r->element[1], out->channels, sizeof(out->channels));
    if (r->element[2]->type == REDIS_REPLY_STRING)
        copy_reply(r->element[2], out->quiet, sizeof(out->quiet));
    if (r->element[0]->type == REDIS_REPLY_STRING) {
        out->sealed = strdup(r->element[0]->str);
        snprintf(context, sizeof(context), "user|contacts|%s", id);
        rc = !out->sealed ? RELAY_ENOMEM
                          : pii_decrypt(pii_key, context, out->sealed, plain,
                                        sizeof(plain), NULL);
        if (rc == RELAY_OK)
            rc = contacts_parse(plain, out->contacts, &out->ncontacts);
        sodium_memzero(plain, sizeof(plain));
    }
    freeReplyObject(r);
    if (rc < 0)
        chat_store_person_free(out);
    return rc;
}

void chat_store_person_free(struct chat_person *p)
{
    if (!p)
        return;
    free(p->sealed);
    sodium_memzero(p, sizeof(*p));
}

int chat_store_person_write(redisContext *c, const unsigned char *pii_key,
                            const char *id, const struct chat_person *p)
{
    char key[KEY_MAX], context[PII_CONTEXT_MAX], plain[CONTACTS_TEXT_MAX + 1];
    char sealed[SEALED_MAX], kinds[CONTACTS_MAX * (CONTACT_KIND_MAX + 1) + 1];
    char idx[CONTACTS_MAX * KEY_MAX];
    const char *argv[11];
    redisReply *r;
    int rc;

    if (!c || !pii_key || !id || !p || !channel_is_id(id))
        return RELAY_EINVAL;
    sealed[0] = kinds[0] = idx[0] = '\0';
    rc = contacts_format(p->contacts, p->ncontacts, plain, sizeof(plain));
    if (rc < 0)
        return rc;
    snprintf(context, sizeof(context), "user|contacts|%s", id);
    if (p->ncontacts > 0)
        rc = pii_encrypt(pii_key, context, plain, strlen(plain), sealed,
                         sizeof(sealed));
    sodium_memzero(plain, sizeof(plain));
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < p->ncontacts; i++) {
        char index[PII_INDEX_HEX_BYTES];
        size_t k = strlen(kinds), x = strlen(idx);

        if (pii_blind_index(pii_key, p->contacts[i].value, index) < 0)
            return RELAY_EINVAL;
        snprintf(kinds + k, sizeof(kinds) - k, "%s%s", k ? "," : "",
                 p->contacts[i].kind);
        snprintf(idx + x, sizeof(idx) - x, "%sidx:contact:%s:%s", x ? "," : "",
                 p->contacts[i].kind, index);
    }
    snprintf(key, sizeof(key), "user:%s", id);
    argv[0] = "EVAL";
    argv[1] = person_script;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = id;
    argv[5] = p->sealed ? p->sealed : "";
    argv[6] = sealed;
    argv[7] = kinds;
    argv[8] = idx;
    argv[9] = p->channels;
    argv[10] = p->quiet;
    r = run(c, 11, argv);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return RELAY_EUNAVAILABLE;
    }
    rc = r->integer == 0    ? RELAY_OK
         : r->integer == -1 ? RELAY_ENOTFOUND
                            : RELAY_ECONFLICT;
    freeReplyObject(r);
    return rc;
}

int chat_store_link_create(redisContext *c, const unsigned char *pii_key,
                           const char *adapter, const char *address,
                           const char *const *buurten, size_t n,
                           const char *name, const char *admin_id,
                           char id_out[CHAT_LINK_ID_MAX + 1])
{
    char key[KEY_MAX], ikey[KEY_MAX], context[PII_CONTEXT_MAX],
        index[PII_INDEX_HEX_BYTES], sealed[SEALED_MAX],
        codes[CHAT_LINK_BUURTEN_MAX * 11 + 1], created[24];
    unsigned char rnd[8];
    const char *argv[13];
    redisReply *r;
    int rc;

    if (!c || !pii_key || !adapter || !contact_kind_valid(adapter) ||
        !contact_value_valid(address) || !buurten || n == 0 ||
        n > CHAT_LINK_BUURTEN_MAX || !name ||
        strlen(name) > CHAT_LINK_NAME_MAX || strpbrk(name, "\r\n") ||
        (admin_id && admin_id[0] && !channel_is_id(admin_id)))
        return RELAY_EINVAL;
    codes[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(codes);

        if (strlen(buurten[i]) != 10 || strncmp(buurten[i], "BU", 2) != 0 ||
            strspn(buurten[i] + 2, "0123456789") != 8)
            return RELAY_EINVAL;
        snprintf(codes + k, sizeof(codes) - k, "%s%s", k ? "," : "",
                 buurten[i]);
    }
    randombytes_buf(rnd, sizeof(rnd));
    id_out[0] = 'l';
    sodium_bin2hex(id_out + 1, CHAT_LINK_ID_MAX, rnd, sizeof(rnd));
    snprintf(context, sizeof(context), "link|address|%s", id_out);
    rc = pii_encrypt(pii_key, context, address, strlen(address), sealed,
                     sizeof(sealed));
    if (rc < 0 || pii_blind_index(pii_key, address, index) < 0)
        return rc < 0 ? rc : RELAY_EINVAL;
    snprintf(key, sizeof(key), "chatlink:%s", id_out);
    snprintf(ikey, sizeof(ikey), "idx:link:%s:%s", adapter, index);
    snprintf(created, sizeof(created), "%lld", (long long)time(NULL));
    argv[0] = "EVAL";
    argv[1] = link_create_script;
    argv[2] = "2";
    argv[3] = key;
    argv[4] = ikey;
    argv[5] = id_out;
    argv[6] = adapter;
    argv[7] = sealed;
    argv[8] = codes;
    argv[9] = name;
    argv[10] = admin_id ? admin_id : "";
    argv[11] = created;
    argv[12] = ikey;
    r = run(c, 13, argv);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return RELAY_EUNAVAILABLE;
    }
    rc = RELAY_OK;
    if (r->element[0]->integer == 1) {
        rc = RELAY_ECONFLICT;
        if (r->elements < 2 ||
            copy_reply(r->element[1], id_out, CHAT_LINK_ID_MAX + 1) < 0)
            id_out[0] = '\0';
    }
    freeReplyObject(r);
    return rc;
}

int chat_store_link_delete(redisContext *c, const char *id)
{
    char key[KEY_MAX];
    const char *argv[5];
    redisReply *r;
    int rc;

    if (!c || !id || !channel_is_id(id) || strlen(id) > CHAT_LINK_ID_MAX)
        return RELAY_EINVAL;
    snprintf(key, sizeof(key), "chatlink:%s", id);
    argv[0] = "EVAL";
    argv[1] = link_delete_script;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = id;
    r = run(c, 5, argv);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return RELAY_EUNAVAILABLE;
    }
    rc = r->integer == 1 ? RELAY_OK : RELAY_ENOTFOUND;
    freeReplyObject(r);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads one link into l; -1 when it is gone or malformed. */
static int link_read(redisContext *c, const char *id, struct chat_link *l)
{
    char key[KEY_MAX];
    const char *argv[7];
    redisReply *r;
    int ok;

    snprintf(key, sizeof(key), "chatlink:%s", id);
    argv[0] = "HMGET";
    argv[1] = key;
    argv[2] = "adapter";
    argv[3] = "buurten";
    argv[4] = "name";
    argv[5] = "admin";
    argv[6] = "created";
    r = run(c, 7, argv);
    memset(l, 0, sizeof(*l));
    ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 5 &&
         copy_reply(r->element[0], l->adapter, sizeof(l->adapter)) == 0 &&
         copy_reply(r->element[1], l->buurten, sizeof(l->buurten)) == 0;
    if (ok) {
        snprintf(l->id, sizeof(l->id), "%s", id);
        copy_reply(r->element[2], l->name, sizeof(l->name));
        copy_reply(r->element[3], l->admin, sizeof(l->admin));
        if (r->element[4]->type == REDIS_REPLY_STRING)
            l->created = strtoll(r->element[4]->str, NULL, 10);
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int chat_store_link_list(redisContext *c, const char *buurt,
                         void (*fn)(void *arg, const struct chat_link *l),
                         void *arg)
{
    redisReply *r;
    char **ids;
    size_t n = 0;

    if (!c || !fn)
        return RELAY_EINVAL;
    if (buurt) {
        char key[KEY_MAX];
        const char *argv[2] = {"SMEMBERS", key};

        snprintf(key, sizeof(key), "chatlinks:buurt:%s", buurt);
        r = run(c, 2, argv);
    } else {
        const char *argv[2] = {"KEYS", "chatlink:*"};

        r = run(c, 2, argv);
    }
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return RELAY_EUNAVAILABLE;
    }
    ids = calloc(r->elements + 1, sizeof(*ids));
    if (!ids) {
        freeReplyObject(r);
        return RELAY_ENOMEM;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const char *s = r->element[i]->str;

        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue;
        if (!buurt)
            s += strlen("chatlink:");
        ids[n++] = (char *)s;
    }
    qsort(ids, n, sizeof(*ids), by_id);
    for (size_t i = 0; i < n; i++) {
        struct chat_link l;

        if (strlen(ids[i]) <= CHAT_LINK_ID_MAX && link_read(c, ids[i], &l) == 0)
            fn(arg, &l);
    }
    free(ids);
    freeReplyObject(r);
    return RELAY_OK;
}
