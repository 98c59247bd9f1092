/*
 * user_store.c - accounts in Redis over a blocking hiredis context.
 *
 * The data model is documented in user_store.h. Multi-key writes are Lua
 * scripts sent with EVAL: each runs atomically on the server, so a crash
 * or a second buurtctl between two steps cannot leave half an account.
 * Every command is built with redisCommandArgv (explicit lengths, no
 * format strings), so no value can change the shape of a command.
 */
#include "user_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <sodium.h>

#include "channel.h"
#include "config.h"
#include "error.h"
#include "pii.h"

#define KEY_MAX 128 /* "idx:phone:" + 64 hex is the longest key */
#define URL_MAX 256
#define PHONE_SEALED_MAX 256 /* > pii_text_len(PII_PHONE_MAX), which is 80 */
#define CREATE_ARGS 32       /* EVAL + script + numkeys + 3 keys + fields */
#define UPDATE_ARGS 20       /* EVAL + script + numkeys + 3 keys + 14 values */

/*
 * The Lua function revoke(key, after): raises tokens_after of the user
 * hash 'key' to at least 'after' and always past its current value (never
 * lowers it: a revocation cannot be undone by a later, smaller value from
 * two operators with skewed clocks), and tells every relay to close the
 * user's connections. Always past: a token issued in the same second as an
 * earlier revocation carries iat = that tokens_after (see the boundary
 * note in user_store.h); only a strictly larger value revokes it too.
 */
#define LUA_REVOKE                                                             \
    "local function revoke(key, after)\n"                                      \
    "  local cur = tonumber(redis.call('HGET', key, 'tokens_after')"           \
    " or '0') or 0\n"                                                          \
    "  local new = math.max(tonumber(after), cur + 1)\n"                       \
    "  redis.call('HSET', key, 'tokens_after', new)\n"                         \
    "  redis.call('PUBLISH', 'relay:control', 'revoke-user ' .."               \
    " string.sub(key, 6))\n"                                                   \
    "end\n"

/*
 * KEYS[1] user:{id}, KEYS[2] login:{login}, KEYS[3] idx:phone:{index}
 * (optional). ARGV[1] the id, ARGV[2..] field/value pairs for the hash.
 * Returns 0 on success, else the enum user_conflict of what was taken.
 */
static const char create_script[] = USER_STORE_LUA_COUNT
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 2 end\n"
    "if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return 3 end\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 2))\n"
    "redis.call('SET', KEYS[2], ARGV[1])\n"
    "if KEYS[3] then redis.call('SET', KEYS[3], ARGV[1]) end\n"
    "local f = {}\n"
    "for i = 2, #ARGV - 1, 2 do f[ARGV[i]] = ARGV[i + 1] end\n"
    "count(ARGV[1], f.role, f.buurten, f.phone ~= nil, 1)\n"
    "return 0\n";

/*
 * KEYS[1] user:{id}. ARGV[1] new tokens_after, ARGV[2] "1" to disable too
 * (which takes a counted account out of the counters, once).
 * Returns 0 when the user does not exist (nothing written), else 1.
 */
static const char raise_script[] = USER_STORE_LUA_COUNT LUA_REVOKE
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "if ARGV[2] == '1' then\n"
    "  local u = redis.call('HMGET', KEYS[1], 'role', 'buurten', 'phone',"
    " 'counted')\n"
    "  if u[4] ~= '0' then\n"
    "    count(string.sub(KEYS[1], 6), u[1], u[2], u[3] ~= false, -1)\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], 'disabled', '1', 'counted', '0')\n"
    "end\n"
    "revoke(KEYS[1], ARGV[1])\n"
    "return 1\n";

/*
 * KEYS[1] user:{id}. Enables; counts the account again if it was
 * uncounted. Returns 0 when the user does not exist, else 1.
 */
static const char enable_script[] = USER_STORE_LUA_COUNT
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "local u = redis.call('HMGET', KEYS[1], 'role', 'buurten', 'phone',"
    " 'counted')\n"
    "if u[4] == '0' then\n"
    "  count(string.sub(KEYS[1], 6), u[1], u[2], u[3] ~= false, 1)\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'disabled', '0', 'counted', '1')\n"
    "return 1\n";

/*
 * KEYS[1] user:{id}. ARGV[1] new tokens_after, ARGV[2] the password hash.
 * Returns 0 when the user does not exist, else 1.
 */
static const char passwd_script[] =
    LUA_REVOKE "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
               "redis.call('HSET', KEYS[1], 'pw', ARGV[2])\n"
               "revoke(KEYS[1], ARGV[1])\n"
               "return 1\n";

/*
 * KEYS[1] user:{id}, KEYS[2] the new idx:phone:{index} (KEYS[1] when the
 * phone is not set), KEYS[3] the old one (KEYS[1] when there was none or
 * the phone is kept). ARGV[1] the id, [2] tokens_after, [3..5] role,
 * buurten, wijken as read, [6] 'keep' | 'set' | 'clear', [7] the phone
 * ciphertext as read ('' for none; checked unless 'keep'), [8..10] the new
 * role, buurten, wijken, [11] the new phone ciphertext ('set'), [12]
 * 'keep' | 'set' | 'clear' for the addresses, [13] their ciphertext as
 * read ('' for none; checked unless 'keep'), [14] the new one ('set').
 * Returns 0 when done, -1 when the user does not exist, else the enum
 * user_conflict (3 phone taken, 4 stale); nothing is written then.
 */
static const char update_script[] = USER_STORE_LUA_COUNT LUA_REVOKE
    "local u, id, mode = KEYS[1], ARGV[1], ARGV[6]\n"
    "if redis.call('EXISTS', u) == 0 then return -1 end\n"
    "local cur = redis.call('HMGET', u, 'role', 'buurten', 'wijken',"
    " 'phone', 'counted')\n"
    "if cur[1] ~= ARGV[3] or cur[2] ~= ARGV[4] or cur[3] ~= ARGV[5] then\n"
    "  return 4\n"
    "end\n"
    "if mode ~= 'keep' and (cur[4] or '') ~= ARGV[7] then return 4 end\n"
    "if ARGV[12] ~= 'keep' and"
    " (redis.call('HGET', u, 'addresses') or '') ~= ARGV[13] then\n"
    "  return 4\n"
    "end\n"
    "if mode == 'set' then\n"
    "  local owner = redis.call('GET', KEYS[2])\n"
    "  if owner and owner ~= id then return 3 end\n"
    "end\n"
    "local had = cur[4] ~= false\n"
    "local has = mode == 'set' or (mode == 'keep' and had)\n"
    "local counted = cur[5] ~= '0'\n"
    "if counted then\n"
    "  count(id, cur[1], cur[2], had, -1)\n"
    "  count(id, ARGV[8], ARGV[9], has, 1)\n"
    "end\n"
    "redis.call('HSET', u, 'role', ARGV[8], 'buurten', ARGV[9], 'wijken',"
    " ARGV[10], 'counted', counted and '1' or '0')\n"
    "if mode ~= 'keep' and KEYS[3] ~= u and KEYS[3] ~= KEYS[2] and"
    " redis.call('GET', KEYS[3]) == id then\n"
    "  redis.call('DEL', KEYS[3])\n"
    "end\n"
    "if mode == 'set' then\n"
    "  redis.call('HSET', u, 'phone', ARGV[11])\n"
    "  redis.call('SET', KEYS[2], id)\n"
    "elseif mode == 'clear' then\n"
    "  redis.call('HDEL', u, 'phone')\n"
    "end\n"
    "if ARGV[12] == 'set' then\n"
    "  redis.call('HSET', u, 'addresses', ARGV[14])\n"
    "elseif ARGV[12] == 'clear' then\n"
    "  redis.call('HDEL', u, 'addresses')\n"
    "end\n"
    "revoke(u, ARGV[2])\n"
    "return 0\n";

/* KEYS[1] revoked:{jti}, ARGV[1] exp. */
static const char revoke_script[] =
    "redis.call('SET', KEYS[1], '1')\n"
    "redis.call('EXPIREAT', KEYS[1], ARGV[1])\n"
    "redis.call('PUBLISH', 'relay:control', 'revoke-jti ' .."
    " string.sub(KEYS[1], 9))\n"
    "return 1\n";

static const char *const roles[] = {"resident", "beheerder", "boa", "police",
                                    "admin"};

/* Fills one argv slot with a NUL-terminated string. */
static void arg_set(const char **argv, size_t *lens, int i, const char *s)
{
    argv[i] = s;
    lens[i] = strlen(s);
}

/*
 * Runs one command. Returns the reply (caller frees with freeReplyObject)
 * or NULL when the connection failed or Redis answered with an error:
 * both are RELAY_EUNAVAILABLE for our callers.
 */
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

/* Parses a whole decimal int64 (no sign other than '-', no spaces). */
static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (s[0] == '\0' || s[0] == ' ' || s[0] == '+')
        return RELAY_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return RELAY_EINVAL;
    *out = (int64_t)v;
    return RELAY_OK;
}

/* Writes "prefix" "name" into out. RELAY_EINVAL if it does not fit. */
static int make_key(char *out, size_t cap, const char *prefix, const char *name)
{
    int n = snprintf(out, cap, "%s%s", prefix, name);

    return (n < 0 || (size_t)n >= cap) ? RELAY_EINVAL : RELAY_OK;
}

int user_store_login_normalize(const char *login, char out[USER_LOGIN_MAX + 1])
{
    char buf[USER_LOGIN_MAX + 1];
    size_t n = 0;

    if (!login || !out)
        return RELAY_EINVAL;
    for (; login[n] != '\0'; n++) {
        char c = login[n];

        if (n >= USER_LOGIN_MAX)
            return RELAY_EINVAL;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '@' || c == '-'))
            return RELAY_EINVAL;
        buf[n] = c;
    }
    if (n == 0)
        return RELAY_EINVAL;
    buf[n] = '\0';
    memcpy(out, buf, n + 1);
    return RELAY_OK;
}

int user_store_role_valid(const char *role)
{
    if (!role)
        return 0;
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strcmp(role, roles[i]) == 0)
            return 1;
    }
    return 0;
}

int user_store_check_areas(const char *role, const char *const *buurten,
                           size_t buurt_count, const char *const *wijken,
                           size_t wijk_count, const char **why)
{
    const char *reason = NULL;

    if (!user_store_role_valid(role))
        reason = "unknown role";
    else if (buurt_count > USER_AREAS_MAX || wijk_count > USER_AREAS_MAX)
        reason = "too many areas";
    for (size_t i = 0; !reason && i < buurt_count; i++) {
        if (!buurten[i] || !channel_is_buurtcode(buurten[i]))
            reason = "invalid buurt code";
    }
    for (size_t i = 0; !reason && i < wijk_count; i++) {
        if (!wijken[i] || !channel_is_wijkcode(wijken[i]))
            reason = "invalid wijk code";
    }
    if (!reason && buurt_count == 0 &&
        (strcmp(role, "resident") == 0 || strcmp(role, "beheerder") == 0))
        reason = "this role needs at least one buurt";
    if (!reason && wijk_count == 0 && strcmp(role, "boa") == 0)
        reason = "this role needs at least one wijk";
    if (reason) {
        if (why)
            *why = reason;
        return RELAY_EINVAL;
    }
    return RELAY_OK;
}

/*
 * Joins validated codes with ',' into out, dropping repeats (a code given
 * twice is a typo, not a meaning). 'out' is USER_AREAS_STR_MAX bytes: 64
 * codes of at most 10 characters plus separators always fit.
 */
static void join_codes(const char *const *codes, size_t count, char *out)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(codes[i]);
        int seen = 0;

        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(codes[i], codes[j]) == 0;
        if (seen)
            continue;
        if (len > 0)
            out[len++] = ',';
        memcpy(out + len, codes[i], n + 1);
        len += n;
    }
}

void user_store_new_id(char out[USER_ID_LEN + 1])
{
    unsigned char raw[(USER_ID_LEN - 1) / 2];

    if (sodium_init() < 0)
        abort(); /* libsodium cannot work at all: nothing safe to do */
    randombytes_buf(raw, sizeof(raw));
    out[0] = 'u';
    sodium_bin2hex(out + 1, USER_ID_LEN, raw, sizeof(raw));
}

/*
 * Connects (see user_store.h). The URL is parsed by config.c, the same
 * parser the daemon uses, so a typo is a clear "bad URL" rather than a
 * DNS failure.
 */
int user_store_connect(const char *url, int timeout_ms, redisContext **out,
                       char *err, size_t errlen)
{
    char host[URL_MAX];
    int port = 0;
    struct timeval tv;
    redisContext *c;

    if (!url || !out || timeout_ms <= 0 ||
        config_split_redis(url, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "bad Redis URL (want redis://HOST:PORT)");
        return RELAY_EINVAL;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    c = redisConnectWithTimeout(host, port, tv);
    if (!c) {
        snprintf(err, errlen, "cannot allocate a Redis context");
        return RELAY_ENOMEM;
    }
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(err, errlen, "cannot connect to Redis at %s:%d: %s", host,
                 port, c->err ? c->errstr : "cannot set timeout");
        redisFree(c);
        return RELAY_EUNAVAILABLE;
    }
    *out = c;
    return RELAY_OK;
}

void user_store_disconnect(redisContext *c)
{
    if (c)
        redisFree(c);
}

/* True for a pii_blind_index() value: 64 lowercase hex digits. */
static int index_valid(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (n >= PII_INDEX_HEX_BYTES - 1 ||
            !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    }
    return n == PII_INDEX_HEX_BYTES - 1;
}

/* Validates a struct user_new as far as possible without Redis. */
static int new_user_check(const struct user_new *u, char *login)
{
    if (!u->id || !channel_is_id(u->id) || !u->pw_hash || u->pw_hash[0] == '\0')
        return RELAY_EINVAL;
    if (user_store_login_normalize(u->login, login) < 0)
        return RELAY_EINVAL;
    if (user_store_check_areas(u->role, u->buurten, u->buurt_count, u->wijken,
                               u->wijk_count, NULL) < 0)
        return RELAY_EINVAL;
    if (!u->phone_text != !u->phone_index)
        return RELAY_EINVAL;
    if (u->phone_index && !index_valid(u->phone_index))
        return RELAY_EINVAL;
    if (u->addresses_text && u->addresses_text[0] == '\0')
        return RELAY_EINVAL;
    return RELAY_OK;
}

/*
 * Creates an account (see user_store.h): validate, then one EVAL of
 * create_script with the hash fields as arguments.
 */
int user_store_create(redisContext *c, const struct user_new *u,
                      enum user_conflict *conflict)
{
    char login[USER_LOGIN_MAX + 1];
    char user_key[KEY_MAX], login_key[KEY_MAX], phone_key[KEY_MAX];
    char buurten[USER_AREAS_STR_MAX], wijken[USER_AREAS_STR_MAX];
    char created[24];
    const char *argv[CREATE_ARGS];
    size_t lens[CREATE_ARGS];
    redisReply *r;
    int argc = 0, rc;

    if (!c || !u)
        return RELAY_EINVAL;
    rc = new_user_check(u, login);
    if (rc < 0)
        return rc;
    if (make_key(user_key, sizeof(user_key), "user:", u->id) < 0 ||
        make_key(login_key, sizeof(login_key), "login:", login) < 0)
        return RELAY_EINVAL;
    if (u->phone_index && make_key(phone_key, sizeof(phone_key),
                                   "idx:phone:", u->phone_index) < 0)
        return RELAY_EINVAL;
    join_codes(u->buurten, u->buurt_count, buurten);
    join_codes(u->wijken, u->wijk_count, wijken);
    snprintf(created, sizeof(created), "%lld", (long long)u->created);

    arg_set(argv, lens, argc++, "EVAL");
    arg_set(argv, lens, argc++, create_script);
    arg_set(argv, lens, argc++, u->phone_index ? "3" : "2");
    arg_set(argv, lens, argc++, user_key);
    arg_set(argv, lens, argc++, login_key);
    if (u->phone_index)
        arg_set(argv, lens, argc++, phone_key);
    arg_set(argv, lens, argc++, u->id);
    arg_set(argv, lens, argc++, "login");
    arg_set(argv, lens, argc++, login);
    arg_set(argv, lens, argc++, "role");
    arg_set(argv, lens, argc++, u->role);
    arg_set(argv, lens, argc++, "buurten");
    arg_set(argv, lens, argc++, buurten);
    arg_set(argv, lens, argc++, "wijken");
    arg_set(argv, lens, argc++, wijken);
    arg_set(argv, lens, argc++, "pw");
    arg_set(argv, lens, argc++, u->pw_hash);
    arg_set(argv, lens, argc++, "disabled");
    arg_set(argv, lens, argc++, "0");
    arg_set(argv, lens, argc++, "created");
    arg_set(argv, lens, argc++, created);
    arg_set(argv, lens, argc++, "tokens_after");
    arg_set(argv, lens, argc++, "0");
    arg_set(argv, lens, argc++, "counted");
    arg_set(argv, lens, argc++, "1");
    if (u->phone_text) {
        arg_set(argv, lens, argc++, "phone");
        arg_set(argv, lens, argc++, u->phone_text);
    }
    if (u->addresses_text) {
        arg_set(argv, lens, argc++, "addresses");
        arg_set(argv, lens, argc++, u->addresses_text);
    }

    r = command(c, argc, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 ||
        r->integer > USER_CONFLICT_PHONE)
        rc = RELAY_EINTERNAL;
    else if (r->integer != 0)
        rc = RELAY_ECONFLICT;
    if (conflict)
        *conflict = rc == RELAY_ECONFLICT ? (enum user_conflict)r->integer
                                          : USER_CONFLICT_NONE;
    freeReplyObject(r);
    return rc;
}

int user_store_find_login(redisContext *c, const char *login,
                          char id[USER_ID_MAX + 1])
{
    char norm[USER_LOGIN_MAX + 1];
    char key[KEY_MAX];
    const char *argv[2];
    size_t lens[2];
    redisReply *r;
    int rc = RELAY_OK;

    if (!c || !id || user_store_login_normalize(login, norm) < 0 ||
        make_key(key, sizeof(key), "login:", norm) < 0)
        return RELAY_EINVAL;
    arg_set(argv, lens, 0, "GET");
    arg_set(argv, lens, 1, key);
    r = command(c, 2, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type == REDIS_REPLY_NIL)
        rc = RELAY_ENOTFOUND;
    else if (r->type != REDIS_REPLY_STRING || r->len > USER_ID_MAX ||
             !channel_is_id(r->str))
        rc = RELAY_EINTERNAL;
    else
        memcpy(id, r->str, r->len + 1);
    freeReplyObject(r);
    return rc;
}

/* Copies a string element of an HMGET reply. RELAY_EINTERNAL if it is nil,
 * not a string or does not fit. */
static int elem_str(const redisReply *e, char *out, size_t cap)
{
    if (e->type != REDIS_REPLY_STRING || e->len >= cap)
        return RELAY_EINTERNAL;
    memcpy(out, e->str, e->len + 1);
    return RELAY_OK;
}

/* Reads a decimal element of an HMGET reply. */
static int elem_i64(const redisReply *e, int64_t *out)
{
    char buf[24];

    if (elem_str(e, buf, sizeof(buf)) < 0 || parse_i64(buf, out) < 0)
        return RELAY_EINTERNAL;
    return RELAY_OK;
}

/*
 * Reads user:{id} (see user_store.h). The phone and addresses fields are
 * fetched only to learn whether they exist; their ciphertext is not
 * copied anywhere.
 */
int user_store_get(redisContext *c, const char *id, struct user_record *out)
{
    static const char *const fields[] = {
        "login",   "role",         "buurten", "wijken",   "disabled",
        "created", "tokens_after", "phone",   "addresses"};
    enum { F_COUNT = sizeof(fields) / sizeof(fields[0]) };
    const char *argv[2 + F_COUNT];
    size_t lens[2 + F_COUNT];
    char key[KEY_MAX];
    struct user_record rec;
    redisReply *r, **e;
    int64_t disabled = 0;
    int rc = RELAY_EINTERNAL;

    if (!c || !out || !id || !channel_is_id(id) ||
        make_key(key, sizeof(key), "user:", id) < 0)
        return RELAY_EINVAL;
    arg_set(argv, lens, 0, "HMGET");
    arg_set(argv, lens, 1, key);
    for (int i = 0; i < F_COUNT; i++)
        arg_set(argv, lens, 2 + i, fields[i]);
    r = command(c, 2 + F_COUNT, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != F_COUNT)
        goto out_free_reply;
    e = r->element;
    if (e[0]->type == REDIS_REPLY_NIL && e[1]->type == REDIS_REPLY_NIL) {
        rc = RELAY_ENOTFOUND;
        goto out_free_reply;
    }
    memset(&rec, 0, sizeof(rec));
    memcpy(rec.id, id, strlen(id) + 1);
    if (elem_str(e[0], rec.login, sizeof(rec.login)) < 0 ||
        elem_str(e[1], rec.role, sizeof(rec.role)) < 0 ||
        elem_str(e[2], rec.buurten, sizeof(rec.buurten)) < 0 ||
        elem_str(e[3], rec.wijken, sizeof(rec.wijken)) < 0 ||
        elem_i64(e[4], &disabled) < 0 || elem_i64(e[5], &rec.created) < 0 ||
        elem_i64(e[6], &rec.tokens_after) < 0)
        goto out_free_reply;
    if (disabled != 0 && disabled != 1)
        goto out_free_reply;
    rec.disabled = (int)disabled;
    rec.has_phone = e[7]->type == REDIS_REPLY_STRING;
    rec.has_addresses = e[8]->type == REDIS_REPLY_STRING;
    *out = rec;
    rc = RELAY_OK;

out_free_reply:
    freeReplyObject(r);
    return rc;
}

/*
 * Runs 'script' with KEYS[1] = user:{id} and up to two ARGV values (NULL
 * ends the list) for scripts that answer 1 (done) or 0 (no such user).
 */
static int eval_user(redisContext *c, const char *script, const char *id,
                     const char *arg1, const char *arg2)
{
    char key[KEY_MAX];
    const char *argv[6];
    size_t lens[6];
    redisReply *r;
    int argc = 0, rc;

    if (!c || !id || !channel_is_id(id) ||
        make_key(key, sizeof(key), "user:", id) < 0)
        return RELAY_EINVAL;
    arg_set(argv, lens, argc++, "EVAL");
    arg_set(argv, lens, argc++, script);
    arg_set(argv, lens, argc++, "1");
    arg_set(argv, lens, argc++, key);
    if (arg1)
        arg_set(argv, lens, argc++, arg1);
    if (arg1 && arg2)
        arg_set(argv, lens, argc++, arg2);
    r = command(c, argc, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = RELAY_EINTERNAL;
    else
        rc = r->integer == 1 ? RELAY_OK : RELAY_ENOTFOUND;
    freeReplyObject(r);
    return rc;
}

/* Runs raise_script for user 'id'; see user_store_disable/revoke_all. */
static int raise_tokens_after(redisContext *c, const char *id,
                              int64_t tokens_after, int disable)
{
    char when[24];

    if (tokens_after < 0)
        return RELAY_EINVAL;
    snprintf(when, sizeof(when), "%lld", (long long)tokens_after);
    return eval_user(c, raise_script, id, when, disable ? "1" : "0");
}

int user_store_disable(redisContext *c, const char *id, int64_t tokens_after)
{
    return raise_tokens_after(c, id, tokens_after, 1);
}

int user_store_revoke_all(redisContext *c, const char *id, int64_t tokens_after)
{
    return raise_tokens_after(c, id, tokens_after, 0);
}

int user_store_enable(redisContext *c, const char *id)
{
    return eval_user(c, enable_script, id, NULL, NULL);
}

int user_store_set_password(redisContext *c, const char *id,
                            const char *pw_hash, int64_t tokens_after)
{
    char when[24];

    if (!pw_hash || pw_hash[0] == '\0' || tokens_after < 0)
        return RELAY_EINVAL;
    snprintf(when, sizeof(when), "%lld", (long long)tokens_after);
    return eval_user(c, passwd_script, id, when, pw_hash);
}

/* Validates a struct user_update as far as possible without Redis. */
static int update_check(const struct user_update *u)
{
    int old_phone = u->old_phone_text != NULL;

    if (!u->id || !channel_is_id(u->id) || !u->old_role || !u->old_buurten ||
        !u->old_wijken || u->tokens_after < 0)
        return RELAY_EINVAL;
    if (user_store_check_areas(u->role, u->buurten, u->buurt_count, u->wijken,
                               u->wijk_count, NULL) < 0)
        return RELAY_EINVAL;
    if (u->addresses != USER_ADDR_KEEP && u->addresses != USER_ADDR_SET &&
        u->addresses != USER_ADDR_CLEAR)
        return RELAY_EINVAL;
    if (u->addresses == USER_ADDR_SET &&
        (!u->addresses_text || u->addresses_text[0] == '\0'))
        return RELAY_EINVAL;
    if (u->old_addresses_text && u->old_addresses_text[0] == '\0')
        return RELAY_EINVAL;
    switch (u->phone) {
    case USER_PHONE_KEEP:
        return RELAY_OK;
    case USER_PHONE_SET:
        if (!u->phone_text || u->phone_text[0] == '\0' || !u->phone_index ||
            !index_valid(u->phone_index))
            return RELAY_EINVAL;
        break;
    case USER_PHONE_CLEAR:
        break;
    default:
        return RELAY_EINVAL;
    }
    if (old_phone != (u->old_phone_index != NULL) ||
        (old_phone &&
         (u->old_phone_text[0] == '\0' || !index_valid(u->old_phone_index))))
        return RELAY_EINVAL;
    return RELAY_OK;
}

/*
 * Changes an account (see user_store.h): validate, then one EVAL of
 * update_script.
 */
int user_store_update(redisContext *c, const struct user_update *u,
                      enum user_conflict *conflict)
{
    static const char *const modes[] = {"keep", "set", "clear"};
    char user_key[KEY_MAX], new_key[KEY_MAX], old_key[KEY_MAX];
    char buurten[USER_AREAS_STR_MAX], wijken[USER_AREAS_STR_MAX];
    char when[24];
    const char *argv[UPDATE_ARGS];
    size_t lens[UPDATE_ARGS];
    int set, changes, argc = 0, rc = RELAY_OK;
    redisReply *r;

    if (conflict)
        *conflict = USER_CONFLICT_NONE;
    if (!c || !u || update_check(u) < 0 ||
        make_key(user_key, sizeof(user_key), "user:", u->id) < 0)
        return RELAY_EINVAL;
    set = u->phone == USER_PHONE_SET;
    changes = u->phone != USER_PHONE_KEEP;
    if (set &&
        make_key(new_key, sizeof(new_key), "idx:phone:", u->phone_index) < 0)
        return RELAY_EINVAL;
    if (changes && u->old_phone_index &&
        make_key(old_key, sizeof(old_key), "idx:phone:", u->old_phone_index) <
            0)
        return RELAY_EINVAL;
    join_codes(u->buurten, u->buurt_count, buurten);
    join_codes(u->wijken, u->wijk_count, wijken);
    snprintf(when, sizeof(when), "%lld", (long long)u->tokens_after);

    arg_set(argv, lens, argc++, "EVAL");
    arg_set(argv, lens, argc++, update_script);
    arg_set(argv, lens, argc++, "3");
    arg_set(argv, lens, argc++, user_key);
    arg_set(argv, lens, argc++, set ? new_key : user_key);
    arg_set(argv, lens, argc++,
            changes && u->old_phone_index ? old_key : user_key);
    arg_set(argv, lens, argc++, u->id);
    arg_set(argv, lens, argc++, when);
    arg_set(argv, lens, argc++, u->old_role);
    arg_set(argv, lens, argc++, u->old_buurten);
    arg_set(argv, lens, argc++, u->old_wijken);
    arg_set(argv, lens, argc++, modes[u->phone]);
    arg_set(argv, lens, argc++,
            changes && u->old_phone_text ? u->old_phone_text : "");
    arg_set(argv, lens, argc++, u->role);
    arg_set(argv, lens, argc++, buurten);
    arg_set(argv, lens, argc++, wijken);
    arg_set(argv, lens, argc++, set ? u->phone_text : "");
    arg_set(argv, lens, argc++, modes[u->addresses]);
    arg_set(argv, lens, argc++,
            u->addresses != USER_ADDR_KEEP && u->old_addresses_text
                ? u->old_addresses_text
                : "");
    arg_set(argv, lens, argc++,
            u->addresses == USER_ADDR_SET ? u->addresses_text : "");

    r = command(c, argc, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = RELAY_EINTERNAL;
    else if (r->integer == -1)
        rc = RELAY_ENOTFOUND;
    else if (r->integer == USER_CONFLICT_PHONE ||
             r->integer == USER_CONFLICT_STALE) {
        rc = RELAY_ECONFLICT;
        if (conflict)
            *conflict = (enum user_conflict)r->integer;
    } else if (r->integer != 0)
        rc = RELAY_EINTERNAL;
    freeReplyObject(r);
    return rc;
}

int user_store_revoke_token(redisContext *c, const char *jti, int64_t exp)
{
    char key[KEY_MAX];
    char when[24];
    const char *argv[5];
    size_t lens[5];
    redisReply *r;
    int rc = RELAY_OK;

    if (!c || !jti || jti[0] == '\0' || exp < 0 ||
        make_key(key, sizeof(key), "revoked:", jti) < 0)
        return RELAY_EINVAL;
    snprintf(when, sizeof(when), "%lld", (long long)exp);
    arg_set(argv, lens, 0, "EVAL");
    arg_set(argv, lens, 1, revoke_script);
    arg_set(argv, lens, 2, "1");
    arg_set(argv, lens, 3, key);
    arg_set(argv, lens, 4, when);
    r = command(c, 5, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = RELAY_EINTERNAL;
    freeReplyObject(r);
    return rc;
}

/* Copies field 'field' of user:{id} as stored into out (cap bytes). */
static int field_sealed(redisContext *c, const char *id, const char *field,
                        char *out, size_t cap)
{
    char key[KEY_MAX];
    const char *argv[3];
    size_t lens[3];
    redisReply *r;
    int rc = RELAY_OK;

    if (!c || !id || !out || cap == 0 || !channel_is_id(id) ||
        make_key(key, sizeof(key), "user:", id) < 0)
        return RELAY_EINVAL;
    arg_set(argv, lens, 0, "HGET");
    arg_set(argv, lens, 1, key);
    arg_set(argv, lens, 2, field);
    r = command(c, 3, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type == REDIS_REPLY_NIL)
        rc = RELAY_ENOTFOUND;
    else if (r->type != REDIS_REPLY_STRING || r->len >= cap ||
             strlen(r->str) != r->len)
        rc = RELAY_EINTERNAL;
    else
        memcpy(out, r->str, r->len + 1);
    freeReplyObject(r);
    return rc;
}

int user_store_phone_sealed(redisContext *c, const char *id, char *out,
                            size_t cap)
{
    return field_sealed(c, id, "phone", out, cap);
}

int user_store_addresses_sealed(redisContext *c, const char *id, char *out,
                                size_t cap)
{
    return field_sealed(c, id, "addresses", out, cap);
}

/*
 * Decrypts a phone field (see user_store.h). The plaintext goes through a
 * stack buffer that is wiped before returning.
 */
int user_store_phone_open(const unsigned char pii_key[PII_KEY_BYTES],
                          const char *id, const char *sealed,
                          char out[PII_PHONE_MAX + 1])
{
    char context[PII_CONTEXT_MAX], plain[PII_PHONE_MAX + 1];
    size_t len = 0;
    int rc;

    if (!pii_key || !id || !sealed || !out || !channel_is_id(id))
        return RELAY_EINVAL;
    snprintf(context, sizeof(context), "user|phone|%s", id);
    rc = pii_decrypt(pii_key, context, sealed, plain, sizeof(plain), &len);
    if (rc == RELAY_ETOOBIG || (rc == RELAY_OK && !pii_phone_valid(plain)))
        rc = RELAY_EINTERNAL; /* decrypts, but is not a number we store */
    if (rc == RELAY_OK)
        memcpy(out, plain, len + 1);
    sodium_memzero(plain, sizeof(plain));
    return rc;
}

/* Reads user:{id}'s phone field and decrypts it (see user_store.h). */
int user_store_phone(redisContext *c,
                     const unsigned char pii_key[PII_KEY_BYTES], const char *id,
                     char out[PII_PHONE_MAX + 1])
{
    char sealed[PHONE_SEALED_MAX];
    int rc;

    if (!pii_key || !out)
        return RELAY_EINVAL;
    rc = user_store_phone_sealed(c, id, sealed, sizeof(sealed));
    if (rc == RELAY_OK)
        rc = user_store_phone_open(pii_key, id, sealed, out);
    return rc;
}

/*
 * Reference implementation of the Redis half of token checking (see
 * user_store.h). Two round trips; the daemon pipelines the same commands.
 */
int user_store_token_valid(redisContext *c, const struct token_claims *claims)
{
    char key[KEY_MAX];
    const char *argv[4];
    size_t lens[4];
    redisReply *r;
    int64_t disabled = 0, after = 0;
    int rc = RELAY_EINTERNAL;

    if (!c || !claims || !channel_is_id(claims->sub) ||
        make_key(key, sizeof(key), "user:", claims->sub) < 0)
        return RELAY_EINVAL;
    arg_set(argv, lens, 0, "HMGET");
    arg_set(argv, lens, 1, key);
    arg_set(argv, lens, 2, "disabled");
    arg_set(argv, lens, 3, "tokens_after");
    r = command(c, 4, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        goto out_free_reply;
    if (r->element[0]->type == REDIS_REPLY_NIL) {
        rc = RELAY_EAUTH; /* no such user */
        goto out_free_reply;
    }
    if (elem_i64(r->element[0], &disabled) < 0 ||
        elem_i64(r->element[1], &after) < 0)
        goto out_free_reply;
    freeReplyObject(r);
    if (disabled != 0 || claims->iat < after)
        return RELAY_EAUTH;

    if (make_key(key, sizeof(key), "revoked:", claims->jti) < 0)
        return RELAY_EINVAL;
    arg_set(argv, lens, 0, "EXISTS");
    arg_set(argv, lens, 1, key);
    r = command(c, 2, argv, lens);
    if (!r)
        return RELAY_EUNAVAILABLE;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = RELAY_EINTERNAL;
    else
        rc = r->integer == 0 ? RELAY_OK : RELAY_EAUTH;

out_free_reply:
    freeReplyObject(r);
    return rc;
}

/* Parses a house number: 1..AREAS_HOUSE_NUMBER_MAX (99999), digits only,
 * no leading zero, up to 'end'. */
static int parse_house_number(const char *s, const char *end, int *out)
{
    int v = 0;

    if (s == end || end - s > 5 || *s == '0')
        return RELAY_EINVAL;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return RELAY_EINVAL;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return RELAY_OK;
}

int user_store_address_parse(const char *text, struct user_address *out)
{
    struct user_address a;
    const char *colon;
    size_t k = 0;

    if (!text || !out)
        return RELAY_EINVAL;
    colon = strchr(text, ':');
    if (!colon)
        return RELAY_EINVAL;
    /* "9401AB", "9401ab" or "9401 AB" (areas_postcode's forms) */
    for (const char *p = text; p < colon; p++) {
        char c = *p;

        if (c == ' ' && k == 4 && p[-1] != ' ')
            continue;
        if (k == USER_PC6_LEN)
            return RELAY_EINVAL;
        if (k >= 4 && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (k < 4 ? (c < '0' || c > '9' || (k == 0 && c == '0'))
                  : (c < 'A' || c > 'Z'))
            return RELAY_EINVAL;
        a.pc6[k++] = c;
    }
    if (k != USER_PC6_LEN)
        return RELAY_EINVAL;
    a.pc6[k] = '\0';
    if (parse_house_number(colon + 1, colon + 1 + strlen(colon + 1),
                           &a.number) < 0)
        return RELAY_EINVAL;
    *out = a;
    return RELAY_OK;
}

/* True for a normalised address (what user_store_address_parse makes). */
static int address_valid(const struct user_address *a)
{
    struct user_address b;
    char text[USER_PC6_LEN + 8];

    snprintf(text, sizeof(text), "%.6s:%d", a->pc6, a->number);
    return strlen(a->pc6) == USER_PC6_LEN &&
           user_store_address_parse(text, &b) == RELAY_OK &&
           strcmp(a->pc6, b.pc6) == 0 && a->number == b.number;
}

int user_store_addresses_join(const struct user_address *a, size_t n, char *out,
                              size_t cap)
{
    size_t len = 0;

    if (!a || !out || cap == 0 || n > USER_ADDRESSES_MAX)
        return RELAY_EINVAL;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int seen = 0, w;

        if (!address_valid(&a[i]))
            return RELAY_EINVAL;
        for (size_t j = 0; j < i && !seen; j++)
            seen =
                strcmp(a[i].pc6, a[j].pc6) == 0 && a[i].number == a[j].number;
        if (seen)
            continue;
        w = snprintf(out + len, cap - len, "%s%s:%d", len ? ";" : "", a[i].pc6,
                     a[i].number);
        if (w < 0 || (size_t)w >= cap - len) {
            sodium_memzero(out, cap);
            return RELAY_ETOOBIG;
        }
        len += (size_t)w;
    }
    return RELAY_OK;
}

int user_store_addresses_split(const char *plain,
                               struct user_address out[USER_ADDRESSES_MAX],
                               size_t *n)
{
    char item[USER_PC6_LEN + 8];
    size_t count = 0;
    int rc = RELAY_OK;

    if (!plain || !out || !n)
        return RELAY_EINVAL;
    for (const char *p = plain; *p && rc == RELAY_OK;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (count >= USER_ADDRESSES_MAX || len == 0 || len >= sizeof(item)) {
            rc = RELAY_EINTERNAL;
            break;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (user_store_address_parse(item, &out[count]) < 0 ||
            !address_valid(&out[count]))
            rc = RELAY_EINTERNAL;
        count++;
        if (!end)
            break;
        p = end + 1;
        if (!*p)
            rc = RELAY_EINTERNAL; /* a trailing ';' */
    }
    sodium_memzero(item, sizeof(item));
    if (rc == RELAY_OK && count == 0)
        rc = RELAY_EINTERNAL;
    if (rc == RELAY_OK)
        *n = count;
    return rc;
}

int user_store_addresses_seal(const unsigned char pii_key[PII_KEY_BYTES],
                              const char *id, const struct user_address *a,
                              size_t n, char *text, size_t cap)
{
    char context[PII_CONTEXT_MAX], plain[USER_ADDRESSES_PLAIN_MAX];
    int rc;

    if (!pii_key || !id || !text || n == 0 || !channel_is_id(id))
        return RELAY_EINVAL;
    rc = user_store_addresses_join(a, n, plain, sizeof(plain));
    if (rc == RELAY_OK) {
        snprintf(context, sizeof(context), "user|addresses|%s", id);
        rc = pii_encrypt(pii_key, context, plain, strlen(plain), text, cap);
    }
    sodium_memzero(plain, sizeof(plain));
    return rc;
}

int user_store_addresses_open(const unsigned char pii_key[PII_KEY_BYTES],
                              const char *id, const char *sealed,
                              struct user_address out[USER_ADDRESSES_MAX],
                              size_t *n)
{
    char context[PII_CONTEXT_MAX], plain[USER_ADDRESSES_PLAIN_MAX];
    int rc;

    if (!pii_key || !id || !sealed || !out || !n || !channel_is_id(id))
        return RELAY_EINVAL;
    snprintf(context, sizeof(context), "user|addresses|%s", id);
    rc = pii_decrypt(pii_key, context, sealed, plain, sizeof(plain), NULL);
    if (rc == RELAY_ETOOBIG)
        rc = RELAY_EINTERNAL; /* decrypts, but longer than we store */
    if (rc == RELAY_OK)
        rc = user_store_addresses_split(plain, out, n);
    sodium_memzero(plain, sizeof(plain));
    return rc;
}

/* ---- SMS recipients ------------------------------------------------------ */

/*
 * KEYS[1] user:{id}. Adds a counted account with a phone to the
 * sms:buurt sets of its buurten (SADD: repeating it changes nothing); the
 * counters are left alone. Returns the number of ids added.
 */
static const char sms_rebuild_script[] =
    "if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end\n"
    "local u = redis.call('HMGET', KEYS[1], 'role', 'buurten', 'phone',"
    " 'counted')\n"
    "if (u[1] ~= 'resident' and u[1] ~= 'beheerder') or not u[3] or"
    " u[4] == '0' then return 0 end\n"
    "local id, n = string.sub(KEYS[1], 6), 0\n"
    "for code in string.gmatch(u[2] or '', 'BU%d+') do\n"
    "  n = n + redis.call('SADD', 'sms:buurt:' .. code, id)\n"
    "end\n"
    "return n\n";

int user_store_sms_rebuild(redisContext *c, size_t *added)
{
    char cursor[32] = "0";
    const char *argv[6];
    size_t lens[6];

    if (!c || !added)
        return RELAY_EINVAL;
    *added = 0;
    do {
        redisReply *r;
        int rc = RELAY_OK;

        arg_set(argv, lens, 0, "SCAN");
        arg_set(argv, lens, 1, cursor);
        arg_set(argv, lens, 2, "MATCH");
        arg_set(argv, lens, 3, "user:*");
        arg_set(argv, lens, 4, "COUNT");
        arg_set(argv, lens, 5, "500");
        r = command(c, 6, argv, lens);
        if (!r)
            return RELAY_EUNAVAILABLE;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= sizeof(cursor) ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return RELAY_EUNAVAILABLE;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        for (size_t i = 0; rc == RELAY_OK && i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            redisReply *s;

            if (k->type != REDIS_REPLY_STRING || strchr(k->str + 5, ':'))
                continue; /* user:{id} only, not user:{id}:... */
            arg_set(argv, lens, 0, "EVAL");
            arg_set(argv, lens, 1, sms_rebuild_script);
            arg_set(argv, lens, 2, "1");
            arg_set(argv, lens, 3, k->str);
            s = command(c, 4, argv, lens);
            if (!s)
                rc = RELAY_EUNAVAILABLE;
            else if (s->type == REDIS_REPLY_INTEGER && s->integer > 0)
                *added += (size_t)s->integer;
            if (s)
                freeReplyObject(s);
        }
        freeReplyObject(r);
        if (rc < 0)
            return rc;
    } while (strcmp(cursor, "0") != 0);
    return RELAY_OK;
}
