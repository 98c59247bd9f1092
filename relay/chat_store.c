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

static int buurt_valid(const char *b)
{
    return strlen(b) == 10 && strncmp(b, "BU", 2) == 0 &&
           strspn(b + 2, "0123456789") == 8;
}

static void set_lens(const char *const *argv, size_t *lens, int argc)
{
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
}

int chat_store_link_create_cmd(struct chat_link_create_cmd *cmd,
                               const unsigned char *pii_key,
                               const char *adapter, const char *address,
                               const char *const *buurten, size_t n,
                               const char *name, const char *admin_id)
{
    char context[PII_CONTEXT_MAX], index[PII_INDEX_HEX_BYTES];
    unsigned char rnd[8];
    int rc;

    if (!cmd || !pii_key || !adapter || !contact_kind_valid(adapter) ||
        !address || !contact_value_valid(address) || !buurten || n == 0 ||
        n > CHAT_LINK_BUURTEN_MAX || !name ||
        strlen(name) > CHAT_LINK_NAME_MAX || strpbrk(name, "\r\n") ||
        (admin_id && admin_id[0] && !channel_is_id(admin_id)))
        return RELAY_EINVAL;
    memset(cmd, 0, sizeof(*cmd));
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(cmd->codes);

        if (!buurten[i] || !buurt_valid(buurten[i]))
            return RELAY_EINVAL;
        snprintf(cmd->codes + k, sizeof(cmd->codes) - k, "%s%s", k ? "," : "",
                 buurten[i]);
    }
    randombytes_buf(rnd, sizeof(rnd));
    cmd->id[0] = 'l';
    sodium_bin2hex(cmd->id + 1, CHAT_LINK_ID_MAX, rnd, sizeof(rnd));
    /* The id is in the context: a sealed address copied to another
     * link's hash does not decrypt there. */
    snprintf(context, sizeof(context), "link|address|%s", cmd->id);
    rc = pii_encrypt(pii_key, context, address, strlen(address), cmd->sealed,
                     sizeof(cmd->sealed));
    if (rc < 0 || pii_blind_index(pii_key, address, index) < 0) {
        sodium_memzero(cmd, sizeof(*cmd));
        return rc < 0 ? rc : RELAY_EINVAL;
    }
    snprintf(cmd->key, sizeof(cmd->key), "chatlink:%s", cmd->id);
    snprintf(cmd->ikey, sizeof(cmd->ikey), "idx:link:%s:%s", adapter, index);
    snprintf(cmd->created, sizeof(cmd->created), "%lld", (long long)time(NULL));
    cmd->argv[0] = "EVAL";
    cmd->argv[1] = link_create_script;
    cmd->argv[2] = "2";
    cmd->argv[3] = cmd->key;
    cmd->argv[4] = cmd->ikey;
    cmd->argv[5] = cmd->id;
    cmd->argv[6] = adapter;
    cmd->argv[7] = cmd->sealed;
    cmd->argv[8] = cmd->codes;
    cmd->argv[9] = name;
    cmd->argv[10] = admin_id ? admin_id : "";
    cmd->argv[11] = cmd->created;
    cmd->argv[12] = cmd->ikey;
    cmd->argc = 13;
    set_lens(cmd->argv, cmd->lens, cmd->argc);
    return RELAY_OK;
}

int chat_store_link_create_result(const redisReply *r,
                                  char id_out[CHAT_LINK_ID_MAX + 1])
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER)
        return RELAY_EUNAVAILABLE;
    if (r->element[0]->integer != 1)
        return RELAY_OK;
    if (r->elements < 2 ||
        copy_reply(r->element[1], id_out, CHAT_LINK_ID_MAX + 1) < 0)
        id_out[0] = '\0';
    return RELAY_ECONFLICT;
}

int chat_store_link_create(redisContext *c, const unsigned char *pii_key,
                           const char *adapter, const char *address,
                           const char *const *buurten, size_t n,
                           const char *name, const char *admin_id,
                           char id_out[CHAT_LINK_ID_MAX + 1])
{
    struct chat_link_create_cmd cmd;
    redisReply *r;
    int rc;

    if (!c)
        return RELAY_EINVAL;
    rc = chat_store_link_create_cmd(&cmd, pii_key, adapter, address, buurten, n,
                                    name, admin_id);
    if (rc < 0)
        return rc;
    memcpy(id_out, cmd.id, sizeof(cmd.id));
    r = redisCommandArgv(c, cmd.argc, cmd.argv, cmd.lens);
    rc = chat_store_link_create_result(r, id_out);
    freeReplyObject(r);
    return rc;
}

int chat_store_link_delete_cmd(struct chat_link_delete_cmd *cmd, const char *id)
{
    if (!cmd || !id || !channel_is_id(id) || strlen(id) > CHAT_LINK_ID_MAX)
        return RELAY_EINVAL;
    memset(cmd, 0, sizeof(*cmd));
    snprintf(cmd->id, sizeof(cmd->id), "%s", id);
    snprintf(cmd->key, sizeof(cmd->key), "chatlink:%s", id);
    cmd->argv[0] = "EVAL";
    cmd->argv[1] = link_delete_script;
    cmd->argv[2] = "1";
    cmd->argv[3] = cmd->key;
    cmd->argv[4] = cmd->id;
    cmd->argc = 5;
    set_lens(cmd->argv, cmd->lens, cmd->argc);
    return RELAY_OK;
}

int chat_store_link_delete_result(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return RELAY_EUNAVAILABLE;
    return r->integer == 1 ? RELAY_OK : RELAY_ENOTFOUND;
}

int chat_store_link_delete(redisContext *c, const char *id)
{
    struct chat_link_delete_cmd cmd;
    redisReply *r;
    int rc;

    if (!c)
        return RELAY_EINVAL;
    rc = chat_store_link_delete_cmd(&cmd, id);
    if (rc < 0)
        return rc;
    r = redisCommandArgv(c, cmd.argc, cmd.argv, cmd.lens);
    rc = chat_store_link_delete_result(r);
    freeReplyObject(r);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The fields a listing shows, in the order link_parse() expects. */
#define LINK_FIELDS "adapter", "buurten", "name", "admin", "created"

/* One link from its HMGET reply (LINK_FIELDS); -1 when it is gone or
 * malformed. */
static int link_parse(const redisReply *r, const char *id, struct chat_link *l)
{
    int ok;

    memset(l, 0, sizeof(*l));
    ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 5 &&
         strlen(id) <= CHAT_LINK_ID_MAX &&
         copy_reply(r->element[0], l->adapter, sizeof(l->adapter)) == 0 &&
         copy_reply(r->element[1], l->buurten, sizeof(l->buurten)) == 0;
    if (ok) {
        snprintf(l->id, sizeof(l->id), "%s", id);
        copy_reply(r->element[2], l->name, sizeof(l->name));
        copy_reply(r->element[3], l->admin, sizeof(l->admin));
        if (r->element[4]->type == REDIS_REPLY_STRING)
            l->created = strtoll(r->element[4]->str, NULL, 10);
    }
    return ok ? 0 : -1;
}

int chat_store_link_read_cmd(struct chat_link_read_cmd *cmd, const char *id)
{
    static const char *const fields[] = {LINK_FIELDS};

    if (!cmd || !id || !channel_is_id(id) || strlen(id) > CHAT_LINK_ID_MAX)
        return RELAY_EINVAL;
    memset(cmd, 0, sizeof(*cmd));
    snprintf(cmd->id, sizeof(cmd->id), "%s", id);
    snprintf(cmd->key, sizeof(cmd->key), "chatlink:%s", id);
    cmd->argv[0] = "HMGET";
    cmd->argv[1] = cmd->key;
    for (int i = 0; i < 5; i++)
        cmd->argv[2 + i] = fields[i];
    cmd->argc = 7;
    set_lens(cmd->argv, cmd->lens, cmd->argc);
    return RELAY_OK;
}

int chat_store_link_read_result(const redisReply *r, const char *id,
                                struct chat_link *l)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        return RELAY_EUNAVAILABLE;
    return link_parse(r, id, l) == 0 ? RELAY_OK : RELAY_ENOTFOUND;
}

/* Reads one link into l; -1 when it is gone or malformed. */
static int link_read(redisContext *c, const char *id, struct chat_link *l)
{
    struct chat_link_read_cmd cmd;
    redisReply *r;
    int rc;

    if (chat_store_link_read_cmd(&cmd, id) < 0)
        return -1;
    r = redisCommandArgv(c, cmd.argc, cmd.argv, cmd.lens);
    rc = chat_store_link_read_result(r, id, l);
    freeReplyObject(r);
    return rc == RELAY_OK ? 0 : -1;
}

/* KEYS[1] chatlinks:buurt:{code}. Returns {{id, {LINK_FIELDS}}, ...}: the
 * set and every link in one round trip, so a listing is consistent. */
static const char link_list_script[] =
    "local out = {}\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  out[#out + 1] = {id, redis.call('HMGET', 'chatlink:' .. id,\n"
    "    'adapter', 'buurten', 'name', 'admin', 'created')}\n"
    "end\n"
    "return out\n";

int chat_store_link_list_cmd(struct chat_link_list_cmd *cmd, const char *buurt)
{
    if (!cmd || !buurt || !buurt_valid(buurt))
        return RELAY_EINVAL;
    memset(cmd, 0, sizeof(*cmd));
    snprintf(cmd->key, sizeof(cmd->key), "chatlinks:buurt:%s", buurt);
    cmd->argv[0] = "EVAL";
    cmd->argv[1] = link_list_script;
    cmd->argv[2] = "1";
    cmd->argv[3] = cmd->key;
    cmd->argc = 4;
    set_lens(cmd->argv, cmd->lens, cmd->argc);
    return RELAY_OK;
}

/* Orders {id, fields} pairs by id. */
static int pair_by_id(const void *a, const void *b)
{
    const redisReply *x = *(const redisReply *const *)a;
    const redisReply *y = *(const redisReply *const *)b;

    return strcmp(x->element[0]->str, y->element[0]->str);
}

int chat_store_link_list_result(const redisReply *r,
                                void (*fn)(void *arg,
                                           const struct chat_link *l),
                                void *arg)
{
    const redisReply **pairs;
    size_t n = 0;

    if (!r || r->type != REDIS_REPLY_ARRAY || !fn)
        return RELAY_EUNAVAILABLE;
    pairs = calloc(r->elements + 1, sizeof(*pairs));
    if (!pairs)
        return RELAY_ENOMEM;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *p = r->element[i];

        if (p->type == REDIS_REPLY_ARRAY && p->elements == 2 &&
            p->element[0]->type == REDIS_REPLY_STRING)
            pairs[n++] = p;
    }
    qsort(pairs, n, sizeof(*pairs), pair_by_id);
    for (size_t i = 0; i < n; i++) {
        struct chat_link l;

        /* a member whose hash is gone (removed meanwhile) is skipped */
        if (link_parse(pairs[i]->element[1], pairs[i]->element[0]->str, &l) ==
            0)
            fn(arg, &l);
    }
    free(pairs);
    return RELAY_OK;
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
