/*
 * outbox.c - the delivery engine (see outbox.h for the data model, the
 * crash analysis and the guarantees).
 *
 * Moving parts, all on the loop's thread:
 *   reader   one XREADGROUP ... BLOCK on the "outbox-read" link over the
 *            streams of every adapter whose local queue has room; entries
 *            become jobs in that adapter's local queue (urgent, routine)
 *   pump     per adapter: while in-flight < max-in-flight and the token
 *            bucket allows, the next job (urgent first) starts
 *   job      load script (marker SET NX) -> decrypt, check, split ->
 *            adapter builds the request -> http_client -> adapter parses
 *            the response -> verdict script (XACK+XDEL with the outcome)
 *   timers   retry (due retries back into their stream, and the reader
 *            kicked), claim (XAUTOCLAIM of entries idle too long),
 *            verdict (verdicts Redis missed, written again)
 *
 * Lifetime: every Redis command, HTTP request and timer holds a reference
 * on the outbox; outbox_destroy() marks it closing, closes links and
 * timers, and the last reference frees it.
 */
#include "outbox.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "contacts.h"
#include "error.h"
#include "log.h"
#include "ratelimit.h"
#include "redis_link.h"

#define KEY_MAX 256
#define ENTRY_MAX 48
#define TEXT_KEY_HEX 33 /* 32 hex + NUL */
#define MARKER_MAX 192
#define ARGV_MAX 64
#define LANES 2

static const char *const lane_names[LANES] = {"urgent", "routine"};

/* ---- Lua scripts ------------------------------------------------------ */

/*
 * Enqueue. KEYS: 1 dlv:key:{c}:{u}:{ch}, 2 dlv:txt:{c}:{h}, 3 dlv:d:{d},
 * 4 dlv:{c}, 5 dlv:{c}:summary, 6 outbox:{ch}:{lane}, 7 retry zset.
 * ARGV: 1 d, 2 c, 3 u, 4 ch, 5 lane, 6 text key, 7 text, 8 ttl s, 9 now,
 * 10 kind, 11 not before (unix ms; later than now: parked in the retry
 * zset until then, e.g. quiet hours).
 * Returns {1, d} when queued, {0, existing d} when it existed.
 */
static const char enqueue_script[] =
    "local e = redis.call('GET', KEYS[1])\n"
    "if e then return {0, e} end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[8])\n"
    "redis.call('SET', KEYS[2], ARGV[7], 'EX', ARGV[8])\n"
    "redis.call('HSET', KEYS[3], 'case', ARGV[2], 'user', ARGV[3],\n"
    "  'adapter', ARGV[4], 'lane', ARGV[5], 'text', ARGV[6],\n"
    "  'state', 'queued', 'attempts', '0', 'created', ARGV[9],\n"
    "  'updated', ARGV[9], 'kind', ARGV[10])\n"
    "redis.call('EXPIRE', KEYS[3], ARGV[8])\n"
    "redis.call('HSET', KEYS[4], ARGV[1], 'queued')\n"
    "redis.call('EXPIRE', KEYS[4], ARGV[8])\n"
    "redis.call('HINCRBY', KEYS[5], ARGV[4] .. ':queued', 1)\n"
    "redis.call('EXPIRE', KEYS[5], ARGV[8])\n"
    "if tonumber(ARGV[11]) > tonumber(ARGV[9]) then\n"
    "  redis.call('ZADD', KEYS[7], ARGV[11], ARGV[1])\n"
    "else\n"
    "  redis.call('XADD', KEYS[6], '*', 'd', ARGV[1], 'c', ARGV[2],\n"
    "    'u', ARGV[3], 't', ARGV[6])\n"
    "end\n"
    "return {1, ARGV[1]}\n";

/*
 * Load before a send. KEYS: 1 dlv:d:{d}, 2 the address holder (user:{u}
 * or chatlink:{id}), 3 dlv:txt:{c}:{t}, 4 dlv:sent:{d}, 5 win:{ch}:{u}
 * (the recipient wrote to us lately), 6 budget:{ch}:{yyyymmdd}.
 * ARGV: 1 marker value, 2 marker ttl ms, 3 address field, 4 daily budget
 * (0: none), 5 lane.
 * Returns {'gone'} | {'done', state} | {'marked', marker} | {'budget'} |
 * {'go', attempts, sealed address or nil, text or nil, kind, window}.
 * The budget counts sends (attempts); a routine send over it is refused
 * before the marker, an urgent one goes anyway (a police appeal is never
 * held back for cost).
 */
static const char load_script[] =
    "local st = redis.call('HMGET', KEYS[1], 'state', 'attempts', 'kind')\n"
    "if not st[1] then return {'gone'} end\n"
    "if st[1] ~= 'queued' then return {'done', st[1]} end\n"
    "if tonumber(ARGV[4]) > 0 then\n"
    "  local b = redis.call('INCR', KEYS[6])\n"
    "  if b == 1 then redis.call('EXPIRE', KEYS[6], 172800) end\n"
    "  if b > tonumber(ARGV[4]) and ARGV[5] ~= 'urgent' then\n"
    "    redis.call('DECR', KEYS[6])\n"
    "    return {'budget'}\n"
    "  end\n"
    "end\n"
    "local ok = redis.call('SET', KEYS[4], ARGV[1], 'NX', 'PX', ARGV[2])\n"
    "if not ok then\n"
    "  return {'marked', redis.call('GET', KEYS[4]) or ''}\n"
    "end\n"
    "local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)\n"
    "return {'go', tostring(n), redis.call('HGET', KEYS[2], ARGV[3]),\n"
    "  redis.call('GET', KEYS[3]), st[3] or 'notice',\n"
    "  redis.call('EXISTS', KEYS[5])}\n";

/* State ranks shared by the scripts (adapter_state_rank in Lua). */
#define LUA_RANK                                                               \
    "local rank = {queued = 1, sent = 2, delivered = 3, failed = 3,\n"         \
    "  read = 4}\n"

/*
 * Verdict. KEYS: 1 stream, 2 dlv:d:{d}, 3 dlv:{c}, 4 dlv:{c}:summary,
 * 5 dlv:sent:{d}, 6 retry zset, 7 dead stream, 8 dlv:last:{u},
 * 9 dlv:pid:{ch}:{hash of the provider id} (replies and status reports
 * that name only the provider's id find the delivery through it).
 * ARGV: 1 kind (sent|retry|failed|dead|ack), 2 entry id, 3 d, 4 adapter,
 * 5 provider id, 6 error, 7 due ms, 8 now ms, 9 ttl s, 10 c, 11 u,
 * 12 reason, 13 group.
 */
static const char verdict_script[] = LUA_RANK
    "local function advance(new)\n"
    "  local old = redis.call('HGET', KEYS[2], 'state')\n"
    "  if not old or (rank[old] or 0) >= rank[new] then return 0 end\n"
    "  redis.call('HSET', KEYS[2], 'state', new, 'updated', ARGV[8])\n"
    "  redis.call('HSET', KEYS[3], ARGV[3], new)\n"
    "  redis.call('HINCRBY', KEYS[4], ARGV[4] .. ':' .. old, -1)\n"
    "  redis.call('HINCRBY', KEYS[4], ARGV[4] .. ':' .. new, 1)\n"
    "  return 1\n"
    "end\n"
    "redis.call('XACK', KEYS[1], ARGV[13], ARGV[2])\n"
    "redis.call('XDEL', KEYS[1], ARGV[2])\n"
    "local k = ARGV[1]\n"
    "local live = redis.call('EXISTS', KEYS[2]) == 1\n"
    "if k == 'sent' then\n"
    "  advance('sent')\n"
    "  if live then\n"
    "    redis.call('HSET', KEYS[2], 'provider', ARGV[5], 'error', ARGV[6])\n"
    "  end\n"
    "  redis.call('SET', KEYS[8], ARGV[10], 'EX', ARGV[9])\n"
    "  if ARGV[5] ~= '' then\n"
    "    redis.call('SET', KEYS[9], ARGV[3], 'EX', ARGV[9])\n"
    "  end\n"
    "elseif k == 'retry' then\n"
    "  redis.call('DEL', KEYS[5])\n"
    "  if live then\n"
    "    redis.call('HSET', KEYS[2], 'error', ARGV[6], 'updated', ARGV[8])\n"
    "    redis.call('ZADD', KEYS[6], ARGV[7], ARGV[3])\n"
    "  end\n"
    "elseif k == 'failed' or k == 'dead' then\n"
    "  advance('failed')\n"
    "  if live then redis.call('HSET', KEYS[2], 'error', ARGV[6]) end\n"
    "  if k == 'dead' then\n"
    "    local n = redis.call('HGET', KEYS[2], 'attempts') or '0'\n"
    "    redis.call('XADD', KEYS[7], 'MAXLEN', '~', '100000', '*',\n"
    "      'd', ARGV[3], 'c', ARGV[10], 'u', ARGV[11], 'reason', ARGV[12],\n"
    "      'attempts', n, 'error', ARGV[6])\n"
    "  end\n"
    "end\n"
    "return 1\n";

/*
 * Due retries back into their lane's stream. KEYS: 1 retry zset,
 * 2 urgent stream, 3 routine stream. ARGV: 1 now ms, 2 limit.
 */
static const char promote_script[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],\n"
    "  'LIMIT', 0, ARGV[2])\n"
    "for _, d in ipairs(ids) do\n"
    "  redis.call('ZREM', KEYS[1], d)\n"
    "  local h = redis.call('HMGET', 'dlv:d:' .. d, 'case', 'user', 'lane',\n"
    "    'text', 'state')\n"
    "  if h[1] and h[5] == 'queued' then\n"
    "    local s = KEYS[3]\n"
    "    if h[3] == 'urgent' then s = KEYS[2] end\n"
    "    redis.call('XADD', s, '*', 'd', d, 'c', h[1], 'u', h[2],\n"
    "      't', h[4])\n"
    "  end\n"
    "end\n"
    "return #ids\n";

/*
 * A delivery report. KEYS: 1 dlv:d:{d}, or with ARGV[7] = 'pid' the
 * dlv:pid:{ch}:{hash} naming it. ARGV: 1 d ('' by pid), 2 new state,
 * 3 provider id, 4 error, 5 now ms, 6 adapter, 7 'd' or 'pid'.
 * Returns 1 applied, 0 not (unknown, or not forward), -1 another
 * adapter's delivery.
 */
static const char report_script[] = LUA_RANK
    "if ARGV[7] == 'pid' then\n"
    "  local d = redis.call('GET', KEYS[1])\n"
    "  if not d then return 0 end\n"
    "  KEYS[1] = 'dlv:d:' .. d\n"
    "  ARGV[1] = d\n"
    "end\n"
    "local h = redis.call('HMGET', KEYS[1], 'state', 'case', 'adapter')\n"
    "if not h[1] then return 0 end\n"
    "if h[3] ~= ARGV[6] then return -1 end\n"
    "if (rank[h[1]] or 0) >= rank[ARGV[2]] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated', ARGV[5])\n"
    "if ARGV[3] ~= '' then\n"
    "  redis.call('HSET', KEYS[1], 'provider', ARGV[3])\n"
    "end\n"
    "if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[4]) end\n"
    "redis.call('HSET', 'dlv:' .. h[2], ARGV[1], ARGV[2])\n"
    "local s = 'dlv:' .. h[2] .. ':summary'\n"
    "redis.call('HINCRBY', s, h[3] .. ':' .. h[1], -1)\n"
    "redis.call('HINCRBY', s, h[3] .. ':' .. ARGV[2], 1)\n"
    "return 1\n";

/*
 * An incoming message. KEYS: 1 dlv:mo:{ch}:{hash of its id}, 2 the
 * sender's index (idx:phone:{index} or idx:contact:{kind}:{index}),
 * 3 mo:inbox, 4 idx:link:{ch}:{index of the chat}, 5 idx:contact:{kind}:
 * {index of the chat} (a person's own room), 6 dlv:pid:{ch}:{hash of the
 * answered message}. ARGV: 1 ttl s, 2 adapter, 3 sender index, 4 text,
 * 5 dedup 0/1, 6 has a chat 0/1, 7 answers a message 0/1.
 * The case it is about: the one of the message it answers, else the last
 * one the group (link) got, else the last one the sender got. A person
 * who writes opens the provider's service window (win:{ch}:{u}, 24 h).
 * Returns {0} for a repeat, else {1, entry id, user or '', case or '',
 * link or ''}.
 */
static const char mo_script[] =
    "if ARGV[5] == '1' and not redis.call('SET', KEYS[1], '1', 'NX', 'EX',\n"
    "  ARGV[1]) then return {0} end\n"
    "local link = ''\n"
    "if ARGV[6] == '1' then link = redis.call('GET', KEYS[4]) or '' end\n"
    "local u = redis.call('GET', KEYS[2]) or ''\n"
    "if u == '' and ARGV[6] == '1' and link == '' then\n"
    "  u = redis.call('GET', KEYS[5]) or ''\n"
    "end\n"
    "local c = ''\n"
    "if ARGV[7] == '1' then\n"
    "  local d = redis.call('GET', KEYS[6])\n"
    "  if d then c = redis.call('HGET', 'dlv:d:' .. d, 'case') or '' end\n"
    "end\n"
    "if c == '' and link ~= '' then\n"
    "  c = redis.call('GET', 'dlv:last:grp_' .. link) or ''\n"
    "end\n"
    "if c == '' and u ~= '' then\n"
    "  c = redis.call('GET', 'dlv:last:' .. u) or ''\n"
    "end\n"
    "if u ~= '' then\n"
    "  redis.call('SET', 'win:' .. ARGV[2] .. ':' .. u, '1', 'EX', 86400)\n"
    "end\n"
    "local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000', '*',\n"
    "  'a', ARGV[2], 'u', u, 'c', c, 'l', link, 'p', ARGV[3], 'x', ARGV[4])\n"
    "return {1, id, u, c, link}\n";

/* ---- Types ------------------------------------------------------------ */

static int key(char *out, ...);

enum verdict_kind {
    V_SENT,
    V_RETRY,
    V_FAILED,
    V_DEAD,
    V_ACK, /* nothing to record: a duplicate entry */
};

static const char *const verdict_names[] = {"sent", "retry", "failed", "dead",
                                            "ack"};

struct ob_adapter;

/* One stream entry being worked on. Owns its strings; wipes PII. */
struct ob_job {
    struct ob_job *next;
    struct ob_adapter *ad;
    int lane;
    char entry[ENTRY_MAX];
    char d[OUTBOX_ID_MAX + 1], c[OUTBOX_ID_MAX + 1], u[OUTBOX_ID_MAX + 1];
    char t[TEXT_KEY_HEX];
    long attempts;
    char *text;
    size_t text_len;
    char addr[ADAPTER_ADDR_MAX + 1]; /* decrypted recipient; PII */
    char msg_kind[16];               /* appeal, closing, ... */
    int session_open;                /* win:{ch}:{u} existed */
    /* the verdict, once known */
    enum verdict_kind kind;
    long long due_ms;
    char provider[ADAPTER_PROVIDER_ID_MAX + 1];
    char error[ADAPTER_ERROR_MAX + 1];
    const char *reason;
    int started; /* counted in ad->in_flight */
};

struct ob_adapter {
    struct outbox *ob;
    struct adapter_instance *in;
    const char *name;
    char streams[LANES][KEY_MAX];
    char retry_key[KEY_MAX];
    char dead_key[KEY_MAX];
    struct ob_job *head[LANES], *tail[LANES]; /* local queue */
    long queued;                              /* jobs in it */
    long in_flight;                           /* started, not finished */
    struct ratelimit *rl;
    uv_timer_t rate_timer;
    int rate_timer_on;
    struct outbox_adapter_health health; /* name points at ad->name */
};

struct outbox {
    uv_loop_t *loop;
    struct http_client *http;
    struct redis_link *cmd, *rd;
    struct outbox_options opt;
    unsigned char pii_key[PII_KEY_BYTES];
    char consumer[128];
    struct ob_adapter *ads;
    int nads;
    int reading;
    int closing;
    long refs;
    uv_timer_t retry_timer, claim_timer, verdict_timer;
    struct ob_job *unwritten; /* verdicts Redis did not confirm */
    struct outbox_stats stats;
};

static void ref(struct outbox *ob)
{
    ob->refs++;
}

static void unref(struct outbox *ob)
{
    if (--ob->refs > 0)
        return;
    for (int i = 0; i < ob->nads; i++)
        ratelimit_destroy(ob->ads[i].rl);
    free(ob->ads);
    sodium_memzero(ob->pii_key, sizeof(ob->pii_key));
    free(ob);
}

static void handle_closed(uv_handle_t *h)
{
    unref(h->data);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void job_free(struct ob_job *j)
{
    if (!j)
        return;
    if (j->text) {
        sodium_memzero(j->text, j->text_len);
        free(j->text);
    }
    sodium_memzero(j, sizeof(*j));
    free(j);
}

static int id_ok(const char *s)
{
    return adapter_id_valid(s);
}

/* A delivery to a group link rather than a person (outbox.h). */
static const char *group_link_of(const char *u)
{
    size_t n = sizeof(OUTBOX_GROUP_PREFIX) - 1;

    return strncmp(u, OUTBOX_GROUP_PREFIX, n) == 0 ? u + n : NULL;
}

/* True when the adapter sends to phone numbers (SMS, WhatsApp). */
static int phone_kind(const struct adapter_instance *in)
{
    return !in->ops->address_kind ||
           strcmp(in->ops->address_kind, "phone") == 0;
}

/* "{prefix}{ch}:{32 hex of BLAKE2b-128(id)}": provider ids may hold any
 * byte (Matrix "$x:server", Telegram "chat:msg"), keys get a fixed
 * alphabet. -1 when it does not fit. */
static int hashed_key(char *out, const char *prefix, const char *ch,
                      const char *id)
{
    unsigned char h[16];
    char hex[TEXT_KEY_HEX];

    crypto_generichash(h, sizeof(h), (const unsigned char *)id, strlen(id),
                       NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    return key(out, prefix, ch, ":", hex, NULL);
}

static struct ob_adapter *find_adapter(const struct outbox *ob,
                                       const char *name)
{
    for (int i = 0; name && i < ob->nads; i++) {
        if (strcmp(ob->ads[i].name, name) == 0)
            return &ob->ads[i];
    }
    return NULL;
}

/* ---- Redis plumbing --------------------------------------------------- */

/* A Redis command whose reply goes to fn(arg, reply) with a reference on
 * the outbox held meanwhile. */
struct ob_cmd {
    struct outbox *ob;
    void (*fn)(struct outbox *ob, void *arg, redisReply *r);
    void *arg;
};

static void cmd_done(void *p, redisReply *r)
{
    struct ob_cmd *c = p;
    struct outbox *ob = c->ob;

    c->fn(ob, c->arg, r);
    free(c);
    unref(ob);
}

static int send_argv(struct outbox *ob, struct redis_link *l,
                     void (*fn)(struct outbox *, void *, redisReply *),
                     void *arg, int argc, const char **argv, const size_t *lens)
{
    struct ob_cmd *c;
    int rc;

    if (ob->closing)
        return RELAY_EUNAVAILABLE;
    c = malloc(sizeof(*c));
    if (!c)
        return RELAY_ENOMEM;
    c->ob = ob;
    c->fn = fn;
    c->arg = arg;
    ref(ob);
    rc = redis_link_argv(l, cmd_done, c, argc, argv, lens);
    if (rc < 0) {
        free(c);
        unref(ob);
    }
    return rc;
}

/* argv builder: strings with explicit lengths (texts may hold anything). */
struct args {
    const char *v[ARGV_MAX];
    size_t len[ARGV_MAX];
    int n;
};

static void push(struct args *a, const char *s)
{
    a->v[a->n] = s;
    a->len[a->n] = strlen(s);
    a->n++;
}

static void pushn(struct args *a, const char *s, size_t n)
{
    a->v[a->n] = s;
    a->len[a->n] = n;
    a->n++;
}

/* Concatenates the strings up to a NULL into out (KEY_MAX bytes): a
 * Redis key. -1 when it does not fit. */
static int key(char *out, ...)
{
    size_t n = 0;
    const char *s;
    va_list ap;

    va_start(ap, out);
    while ((s = va_arg(ap, const char *)) != NULL) {
        size_t len = strlen(s);

        if (n + len + 1 > KEY_MAX) {
            va_end(ap);
            return -1;
        }
        memcpy(out + n, s, len);
        n += len;
    }
    va_end(ap);
    out[n] = '\0';
    return 0;
}

static const redisReply *elem(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    return r->element[i];
}

static int str_is(const redisReply *r, const char *s)
{
    return r && r->type == REDIS_REPLY_STRING && strcmp(r->str, s) == 0;
}

/* Copies a string reply of at most cap-1 bytes; -1 otherwise. */
static int copy_str(const redisReply *r, char *out, size_t cap)
{
    if (!r ||
        (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) ||
        r->len + 1 > cap)
        return -1;
    memcpy(out, r->str, r->len);
    out[r->len] = '\0';
    return 0;
}

static void ignore_reply(struct outbox *ob, void *arg, redisReply *r)
{
}

/* ---- Consumer groups and reading ------------------------------------- */

static void maybe_read(struct outbox *ob);
static void pump(struct ob_adapter *ad);

static void create_groups(struct outbox *ob, struct redis_link *l)
{
    for (int i = 0; i < ob->nads; i++) {
        for (int lane = 0; lane < LANES; lane++) {
            struct args a = {.n = 0};

            push(&a, "XGROUP");
            push(&a, "CREATE");
            push(&a, ob->ads[i].streams[lane]);
            push(&a, OUTBOX_GROUP);
            push(&a, "0");
            push(&a, "MKSTREAM");
            send_argv(ob, l, ignore_reply, NULL, a.n, a.v, a.len);
        }
    }
}

static void read_link_state(void *p, int up)
{
    struct outbox *ob = p;

    if (!up || ob->closing)
        return;
    create_groups(ob, ob->rd);
    maybe_read(ob);
}

static void cmd_link_state(void *p, int up)
{
    struct outbox *ob = p;

    if (up)
        log_info("outbox", "redis up (consumer %s)", ob->consumer);
}

/* True when 'entry' is already a job of ad (queued or in flight). */
static int job_known(struct ob_adapter *ad, const char *entry);

/* Turns one stream entry [id, [field, value, ...]] into a queued job. */
static void add_entry(struct ob_adapter *ad, int lane, const redisReply *e,
                      int claimed)
{
    const redisReply *id = elem(e, 0), *f = elem(e, 1);
    struct ob_job *j;

    if (!id || id->type != REDIS_REPLY_STRING || !f ||
        f->type != REDIS_REPLY_ARRAY)
        return;
    if (claimed && job_known(ad, id->str))
        return;
    j = calloc(1, sizeof(*j));
    if (!j)
        return; /* stays pending: reclaimed later */
    j->ad = ad;
    j->lane = lane;
    if (copy_str(id, j->entry, sizeof(j->entry)) < 0)
        goto bad;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        char *dst = NULL;
        size_t cap = 0;

        if (str_is(k, "d")) {
            dst = j->d;
            cap = sizeof(j->d);
        } else if (str_is(k, "c")) {
            dst = j->c;
            cap = sizeof(j->c);
        } else if (str_is(k, "u")) {
            dst = j->u;
            cap = sizeof(j->u);
        } else if (str_is(k, "t")) {
            dst = j->t;
            cap = sizeof(j->t);
        }
        if (dst && copy_str(v, dst, cap) < 0)
            goto bad;
    }
    if (!id_ok(j->d) || !id_ok(j->c) || !id_ok(j->u) || !id_ok(j->t))
        goto bad;
    if (ad->tail[lane])
        ad->tail[lane]->next = j;
    else
        ad->head[lane] = j;
    ad->tail[lane] = j;
    ad->queued++;
    if (claimed)
        ad->ob->stats.claimed++;
    return;
bad:
    /* not an entry we wrote: leave it pending for a human (XPENDING) */
    log_warn("outbox", "%s: malformed stream entry %s ignored", ad->name,
             j->entry[0] ? j->entry : "?");
    job_free(j);
}

static int lane_of(const struct ob_adapter *ad, const char *stream)
{
    for (int lane = 0; lane < LANES; lane++) {
        if (strcmp(ad->streams[lane], stream) == 0)
            return lane;
    }
    return -1;
}

static void read_done(struct outbox *ob, void *arg, redisReply *r)
{
    ob->reading = 0;
    if (ob->closing || !r)
        return; /* link down: read_link_state() restarts us */
    if (r->type == REDIS_REPLY_ERROR) {
        log_warn("outbox", "XREADGROUP: %s", r->str);
        if (strstr(r->str, "NOGROUP"))
            create_groups(ob, ob->rd);
        return; /* the retry timer reads again */
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *s = r->element[i];
        const redisReply *name = elem(s, 0), *entries = elem(s, 1);

        if (!name || name->type != REDIS_REPLY_STRING || !entries)
            continue;
        for (int a = 0; a < ob->nads; a++) {
            int lane = lane_of(&ob->ads[a], name->str);

            if (lane < 0)
                continue;
            for (size_t k = 0; k < entries->elements; k++)
                add_entry(&ob->ads[a], lane, entries->element[k], 0);
        }
    }
    for (int a = 0; a < ob->nads; a++)
        pump(&ob->ads[a]);
    maybe_read(ob);
}

/* Local room: never hold more than one batch per adapter, so entries do
 * not sit idle here long enough to be reclaimed by others. */
static int has_room(const struct ob_adapter *ad)
{
    return ad->queued < ad->ob->opt.batch;
}

static void maybe_read(struct outbox *ob)
{
    struct args a = {.n = 0};
    char count[24], block[24];
    int nstreams = 0;

    if (ob->closing || !ob->opt.worker || ob->reading ||
        !redis_link_is_up(ob->rd))
        return;
    snprintf(count, sizeof(count), "%ld", ob->opt.batch);
    snprintf(block, sizeof(block), "%ld", ob->opt.block_ms);
    push(&a, "XREADGROUP");
    push(&a, "GROUP");
    push(&a, OUTBOX_GROUP);
    push(&a, ob->consumer);
    push(&a, "COUNT");
    push(&a, count);
    push(&a, "BLOCK");
    push(&a, block);
    push(&a, "STREAMS");
    for (int i = 0; i < ob->nads; i++) {
        if (!has_room(&ob->ads[i]) ||
            a.n + 2 * (nstreams + LANES) + 1 > ARGV_MAX)
            continue;
        for (int lane = 0; lane < LANES; lane++) {
            push(&a, ob->ads[i].streams[lane]);
            nstreams++;
        }
    }
    if (nstreams == 0)
        return; /* every local queue full: a finishing job reads again */
    for (int i = 0; i < nstreams; i++)
        push(&a, ">");
    if (send_argv(ob, ob->rd, read_done, NULL, a.n, a.v, a.len) == RELAY_OK)
        ob->reading = 1;
}

/* ---- Reclaiming ------------------------------------------------------- */

static int job_known(struct ob_adapter *ad, const char *entry)
{
    for (int lane = 0; lane < LANES; lane++) {
        for (struct ob_job *j = ad->head[lane]; j; j = j->next) {
            if (strcmp(j->entry, entry) == 0)
                return 1;
        }
    }
    return 0;
}

struct claim_ctx {
    struct ob_adapter *ad;
    int lane;
};

static void claim_done(struct outbox *ob, void *p, redisReply *r)
{
    struct claim_ctx *cc = p;
    const redisReply *entries = elem(r, 1);

    if (!ob->closing && entries && entries->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < entries->elements; i++)
            add_entry(cc->ad, cc->lane, entries->element[i], 1);
        if (entries->elements > 0) {
            log_info("outbox", "%s: reclaimed %zu %s entries", cc->ad->name,
                     entries->elements, lane_names[cc->lane]);
            pump(cc->ad);
        }
    }
    free(cc);
}

static void claim_tick(uv_timer_t *t)
{
    struct outbox *ob = t->data;
    char idle[24], count[24];

    if (ob->closing || !ob->opt.worker)
        return;
    snprintf(idle, sizeof(idle), "%ld", ob->opt.claim_idle_ms);
    snprintf(count, sizeof(count), "%ld", ob->opt.batch);
    for (int i = 0; i < ob->nads; i++) {
        for (int lane = 0; lane < LANES; lane++) {
            struct args a = {.n = 0};
            struct claim_ctx *cc;

            if (!has_room(&ob->ads[i]))
                continue;
            cc = malloc(sizeof(*cc));
            if (!cc)
                return;
            cc->ad = &ob->ads[i];
            cc->lane = lane;
            push(&a, "XAUTOCLAIM");
            push(&a, ob->ads[i].streams[lane]);
            push(&a, OUTBOX_GROUP);
            push(&a, ob->consumer);
            push(&a, idle);
            push(&a, "0-0");
            push(&a, "COUNT");
            push(&a, count);
            if (send_argv(ob, ob->cmd, claim_done, cc, a.n, a.v, a.len) < 0)
                free(cc);
        }
    }
}

/* ---- Retries ---------------------------------------------------------- */

static void promote_done(struct outbox *ob, void *arg, redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ERROR)
        log_warn("outbox", "retry promotion: %s", r->str);
}

static void retry_tick(uv_timer_t *t)
{
    struct outbox *ob = t->data;
    char now[24], limit[24];

    if (ob->closing)
        return;
    snprintf(now, sizeof(now), "%lld", now_ms());
    snprintf(limit, sizeof(limit), "%ld", ob->opt.batch * 4);
    for (int i = 0; ob->opt.worker && i < ob->nads; i++) {
        struct args a = {.n = 0};

        push(&a, "EVAL");
        push(&a, promote_script);
        push(&a, "3");
        push(&a, ob->ads[i].retry_key);
        push(&a, ob->ads[i].streams[OUTBOX_URGENT]);
        push(&a, ob->ads[i].streams[OUTBOX_ROUTINE]);
        push(&a, now);
        push(&a, limit);
        send_argv(ob, ob->cmd, promote_done, NULL, a.n, a.v, a.len);
    }
    maybe_read(ob);
}

/* Exponential backoff with jitter: a random delay in [d/2, d] where d
 * doubles per attempt from backoff_min_ms up to backoff_max_ms; a
 * provider's Retry-After wins when it asked for longer than backoff_min. */
static long long retry_delay_ms(const struct outbox *ob, long attempts,
                                long retry_after_s)
{
    long long d = ob->opt.backoff_min_ms;

    if (retry_after_s >= 0) {
        long long ra = (long long)retry_after_s * 1000;

        return ra > ob->opt.backoff_min_ms ? ra : ob->opt.backoff_min_ms;
    }
    for (long i = 1; i < attempts && d < ob->opt.backoff_max_ms; i++)
        d *= 2;
    if (d > ob->opt.backoff_max_ms)
        d = ob->opt.backoff_max_ms;
    return d / 2 + (long long)randombytes_uniform((uint32_t)(d / 2 + 1));
}

/* ---- Verdicts --------------------------------------------------------- */

static void finish_job(struct ob_job *j);

static void write_verdict(struct ob_job *j);

static void verdict_done(struct outbox *ob, void *p, redisReply *r)
{
    struct ob_job *j = p;

    if (ob->closing) {
        job_free(j);
        return;
    }
    if (!r) {
        /* Redis did not confirm: keep the verdict and write it again */
        j->next = ob->unwritten;
        ob->unwritten = j;
        return;
    }
    if (r->type == REDIS_REPLY_ERROR)
        log_error("outbox", "%s: verdict for delivery %s: %s", j->ad->name,
                  j->d, r->str);
    finish_job(j);
}

static void write_verdict(struct ob_job *j)
{
    struct outbox *ob = j->ad->ob;
    struct ob_adapter *ad = j->ad;
    char k_d[KEY_MAX], k_case[KEY_MAX], k_sum[KEY_MAX], k_sent[KEY_MAX],
        k_last[KEY_MAX], k_pid[KEY_MAX];
    char due[24], now[24], ttl[24];
    struct args a = {.n = 0};
    int rc;

    if (key(k_d, "dlv:d:", j->d, NULL) < 0 ||
        key(k_case, "dlv:", j->c, NULL) < 0 ||
        key(k_sum, "dlv:", j->c, ":summary", NULL) < 0 ||
        key(k_sent, "dlv:sent:", j->d, NULL) < 0 ||
        key(k_last, "dlv:last:", j->u, NULL) < 0 ||
        hashed_key(k_pid, "dlv:pid:", ad->name, j->provider) < 0) {
        finish_job(j);
        return;
    }
    snprintf(due, sizeof(due), "%lld", j->due_ms);
    snprintf(now, sizeof(now), "%lld", now_ms());
    snprintf(ttl, sizeof(ttl), "%ld", ob->opt.ttl_s);
    push(&a, "EVAL");
    push(&a, verdict_script);
    push(&a, "9");
    push(&a, ad->streams[j->lane]);
    push(&a, k_d);
    push(&a, k_case);
    push(&a, k_sum);
    push(&a, k_sent);
    push(&a, ad->retry_key);
    push(&a, ad->dead_key);
    push(&a, k_last);
    push(&a, k_pid);
    push(&a, verdict_names[j->kind]);
    push(&a, j->entry);
    push(&a, j->d);
    push(&a, ad->name);
    push(&a, j->provider);
    push(&a, j->error);
    push(&a, due);
    push(&a, now);
    push(&a, ttl);
    push(&a, j->c);
    push(&a, j->u);
    push(&a, j->reason ? j->reason : "");
    push(&a, OUTBOX_GROUP);
    rc = send_argv(ob, ob->cmd, verdict_done, j, a.n, a.v, a.len);
    if (rc < 0) {
        j->next = ob->unwritten;
        ob->unwritten = j;
    }
}

static void verdict_tick(uv_timer_t *t)
{
    struct outbox *ob = t->data;
    struct ob_job *list;

    if (ob->closing || !ob->unwritten || !redis_link_is_up(ob->cmd))
        return;
    list = ob->unwritten;
    ob->unwritten = NULL;
    while (list) {
        struct ob_job *j = list;

        list = j->next;
        j->next = NULL;
        write_verdict(j);
    }
}

/* Records the outcome in the counters and the log, then writes it. */
static void conclude(struct ob_job *j, enum verdict_kind kind,
                     const char *error)
{
    struct outbox *ob = j->ad->ob;
    long max = (long)j->ad->in->common.max_attempts;

    if (error && error != j->error)
        snprintf(j->error, sizeof(j->error), "%s", error);
    if (kind == V_RETRY && j->attempts >= max) {
        kind = V_DEAD;
        j->reason = "max_attempts";
    }
    j->kind = kind;
    switch (kind) {
    case V_SENT:
        ob->stats.sent++;
        j->ad->health.sent++;
        j->ad->health.consecutive_failures = 0;
        j->ad->health.last_ok_ms = now_ms();
        log_debug("outbox", "%s: delivery %s sent (attempt %ld)", j->ad->name,
                  j->d, j->attempts);
        break;
    case V_RETRY:
        ob->stats.retried++;
        j->ad->health.retried++;
        /* the provider did not take it: a sign of its health */
        j->ad->health.consecutive_failures++;
        log_info("outbox", "%s: delivery %s retry in %lld ms (%s)", j->ad->name,
                 j->d, j->due_ms - now_ms(), j->error);
        break;
    case V_FAILED:
        ob->stats.failed++;
        j->ad->health.failed++; /* refused for good: the message, not the
                                   provider (bad number, blocked bot) */
        log_info("outbox", "%s: delivery %s failed (%s)", j->ad->name, j->d,
                 j->error);
        break;
    case V_DEAD:
        ob->stats.dead++;
        j->ad->health.dead++;
        log_warn("outbox", "%s: delivery %s dead-lettered (%s, %s)",
                 j->ad->name, j->d, j->reason ? j->reason : "", j->error);
        break;
    case V_ACK:
        break;
    }
    write_verdict(j);
}

static void retry_job(struct ob_job *j, long retry_after_s, const char *error)
{
    j->due_ms =
        now_ms() + retry_delay_ms(j->ad->ob, j->attempts, retry_after_s);
    conclude(j, V_RETRY, error);
}

/* The job is done locally: free it and let the adapter go on. */
static void finish_job(struct ob_job *j)
{
    struct ob_adapter *ad = j->ad;

    if (j->started)
        ad->in_flight--;
    job_free(j);
    if (!ad->ob->closing) {
        pump(ad);
        maybe_read(ad->ob);
    }
}

/* ---- Sending ---------------------------------------------------------- */

/*
 * A group link's chat moved. KEYS: 1 chatlink:{id}, 2 the new
 * idx:link:{ch}:{index}. ARGV: 1 link id, 2 the new sealed address.
 * Returns 0 when the link is gone, 1 moved.
 */
static const char move_script[] =
    "local old = redis.call('HGET', KEYS[1], 'idx')\n"
    "if not redis.call('HGET', KEYS[1], 'adapter') then return 0 end\n"
    "if old and redis.call('GET', old) == ARGV[1] then\n"
    "  redis.call('DEL', old)\n"
    "end\n"
    "redis.call('SET', KEYS[2], ARGV[1])\n"
    "redis.call('HSET', KEYS[1], 'address', ARGV[2], 'idx', KEYS[2])\n"
    "return 1\n";

/*
 * The provider says the chat moved (a Telegram group became a
 * supergroup): a group link follows it (re-encrypted, re-indexed) and the
 * delivery is sent again at once; a person's address is theirs to change,
 * so theirs fails. Returns 1 when the job was retried.
 */
static int follow_move(struct ob_job *j, const char *new_address)
{
    struct outbox *ob = j->ad->ob;
    const char *link = group_link_of(j->u);
    char context[PII_CONTEXT_MAX], sealed[1024], index[PII_INDEX_HEX_BYTES];
    char k_link[KEY_MAX], k_idx[KEY_MAX];
    struct args a = {.n = 0};

    if (!link || !new_address[0] || !adapter_id_valid(link))
        return 0;
    snprintf(context, sizeof(context), "link|address|%s", link);
    if (pii_encrypt(ob->pii_key, context, new_address, strlen(new_address),
                    sealed, sizeof(sealed)) < 0 ||
        pii_blind_index(ob->pii_key, new_address, index) < 0 ||
        key(k_link, "chatlink:", link, NULL) < 0 ||
        key(k_idx, "idx:link:", j->ad->name, ":", index, NULL) < 0)
        return 0;
    push(&a, "EVAL");
    push(&a, move_script);
    push(&a, "2");
    push(&a, k_link);
    push(&a, k_idx);
    push(&a, link);
    push(&a, sealed);
    if (send_argv(ob, ob->cmd, ignore_reply, NULL, a.n, a.v, a.len) < 0)
        return 0;
    log_info("outbox", "%s: group link %s moved to a new chat", j->ad->name,
             link);
    retry_job(j, 0, ADAPTER_ERROR_MOVED);
    return 1;
}

/* The provider says the recipient's service window is closed: forget
 * it (outbox.h win:{ch}:{u}) before the retry loads the delivery again
 * (same link, so in order). */
static void forget_window(struct ob_job *j)
{
    struct outbox *ob = j->ad->ob;
    char k[KEY_MAX];
    struct args a = {.n = 0};

    if (key(k, "win:", j->ad->name, ":", j->u, NULL) < 0)
        return;
    push(&a, "DEL");
    push(&a, k);
    send_argv(ob, ob->cmd, ignore_reply, NULL, a.n, a.v, a.len);
}

static void http_done(void *p, int rc, long status, const char *body,
                      size_t len, const char *retry_after)
{
    struct ob_job *j = p;
    struct outbox *ob = j->ad->ob;
    struct adapter_result res;
    char err[32];

    ob->stats.in_flight--;
    if (ob->closing) {
        job_free(j);
        unref(ob);
        return;
    }
    if (rc < 0) {
        /* no answer: timeout, refused connection, ... The provider most
         * likely did not take it; retrying risks a rare duplicate. */
        snprintf(err, sizeof(err), "transport_%d", -rc);
        retry_job(j, -1, err);
    } else if (j->ad->in->ops->parse_response(j->ad->in->priv, status, body,
                                              len, retry_after, &res) < 0) {
        retry_job(j, -1, "parse");
    } else if (res.verdict == ADAPTER_SENT) {
        snprintf(j->provider, sizeof(j->provider), "%s", res.provider_id);
        conclude(j, V_SENT, res.error);
    } else if (res.verdict == ADAPTER_RETRY &&
               strcmp(res.error, ADAPTER_ERROR_MOVED) == 0) {
        if (!follow_move(j, res.new_address))
            conclude(j, V_FAILED, "moved");
        sodium_memzero(res.new_address, sizeof(res.new_address));
    } else if (res.verdict == ADAPTER_RETRY &&
               strcmp(res.error, ADAPTER_ERROR_SESSION_CLOSED) == 0) {
        forget_window(j);
        retry_job(j, 0, res.error);
    } else if (res.verdict == ADAPTER_RETRY) {
        retry_job(j, res.retry_after_s, res.error);
    } else {
        conclude(j, V_FAILED, res.error[0] ? res.error : "refused");
    }
    unref(ob);
}

/* Steps 3 and 4 of outbox.h: check, build, call the provider. */
static void send_job(struct ob_job *j)
{
    struct ob_adapter *ad = j->ad;
    struct outbox *ob = ad->ob;
    struct sms_part parts[SMS_PARTS_MAX];
    struct sms_info info;
    struct adapter_request req = {0};
    struct http_request hr;
    struct adapter_msg msg;
    int rc;

    /* anti-pumping: numbers outside the allowed prefixes never cost */
    if (phone_kind(ad->in) &&
        !sms_phone_allowed(j->addr, ad->in->common.allowed_prefixes)) {
        sodium_memzero(j->addr, sizeof(j->addr));
        conclude(j, V_FAILED, "prefix_not_allowed");
        return;
    }
    memset(&msg, 0, sizeof(msg));
    if (ad->in->ops->caps & ADAPTER_CAP_SMS) {
        rc = sms_text_split(j->text, j->text_len,
                            (unsigned)ad->in->common.max_parts, &info, parts);
        if (rc < 0) {
            sodium_memzero(j->addr, sizeof(j->addr));
            conclude(j, V_FAILED,
                     rc == RELAY_ETOOBIG ? "too_long" : "bad_text");
            return;
        }
        msg.info = &info;
    } else if (adapter_utf8_count(j->text, j->text_len) >
               ad->in->ops->max_text_chars) {
        sodium_memzero(j->addr, sizeof(j->addr));
        conclude(j, V_FAILED, "too_long");
        return;
    }
    msg.delivery_id = j->d;
    msg.to = j->addr;
    msg.to_group = group_link_of(j->u) != NULL;
    msg.text = j->text;
    msg.text_len = j->text_len;
    msg.hook_url = ad->in->hook_url;
    msg.kind = j->msg_kind[0] ? j->msg_kind : "notice";
    msg.urgent = j->lane == OUTBOX_URGENT;
    msg.session_open = j->session_open;
    rc = ad->in->ops->build_request(ad->in->priv, &msg, &req);
    sodium_memzero(j->addr, sizeof(j->addr)); /* in req now */
    if (rc < 0) {
        conclude(j, V_FAILED, "build");
        return;
    }
    adapter_request_view(&req, (long)ad->in->common.timeout_ms, &hr);
    ref(ob);
    rc = http_client_send(ob->http, &hr, http_done, j);
    adapter_request_cleanup(&req);
    if (rc < 0) {
        unref(ob);
        retry_job(j, -1, rc == RELAY_EFULL ? "client_full" : "client");
        return;
    }
    ob->stats.in_flight++;
}

/* "{consumer}|{ms}": how old is another consumer's marker? */
static long long marker_age_ms(const char *marker)
{
    const char *bar = strrchr(marker, '|');
    char *end;
    long long t;

    if (!bar)
        return -1;
    t = strtoll(bar + 1, &end, 10);
    if (end == bar + 1 || *end != '\0')
        return -1;
    return now_ms() - t;
}

static void load_done(struct outbox *ob, void *p, redisReply *r)
{
    struct ob_job *j = p;
    const redisReply *what = elem(r, 0);
    char context[PII_CONTEXT_MAX];
    const redisReply *ph, *tx;
    const char *link;
    int rc;

    if (ob->closing || !r || r->type == REDIS_REPLY_ERROR || !what) {
        if (r && r->type == REDIS_REPLY_ERROR)
            log_error("outbox", "load of delivery %s: %s", j->d, r->str);
        /* the entry stays pending and is reclaimed later */
        finish_job(j);
        return;
    }
    if (str_is(what, "gone") || str_is(what, "done")) {
        conclude(j, V_ACK, NULL);
        return;
    }
    if (str_is(what, "budget")) {
        conclude(j, V_FAILED, "budget_exhausted");
        return;
    }
    if (str_is(what, "marked")) {
        const redisReply *m = elem(r, 1);
        long long age =
            m && m->type == REDIS_REPLY_STRING ? marker_age_ms(m->str) : -1;

        if (age >= 0 && age < ob->opt.stale_ms) {
            finish_job(j); /* someone may be sending it right now */
            return;
        }
        j->reason = "unconfirmed";
        conclude(j, V_DEAD, "unconfirmed");
        return;
    }
    {
        char n[24];

        j->attempts =
            copy_str(elem(r, 1), n, sizeof(n)) == 0 ? strtol(n, NULL, 10) : 1;
    }
    ph = elem(r, 2);
    tx = elem(r, 3);
    if (copy_str(elem(r, 4), j->msg_kind, sizeof(j->msg_kind)) < 0)
        snprintf(j->msg_kind, sizeof(j->msg_kind), "notice");
    j->session_open = elem(r, 5) && elem(r, 5)->type == REDIS_REPLY_INTEGER &&
                      elem(r, 5)->integer == 1;
    if (!ph || ph->type != REDIS_REPLY_STRING) {
        conclude(j, V_FAILED, "no_address");
        return;
    }
    if (!tx || tx->type != REDIS_REPLY_STRING || tx->len == 0) {
        conclude(j, V_FAILED, "text_expired");
        return;
    }
    link = group_link_of(j->u);
    if (link) {
        snprintf(context, sizeof(context), "link|address|%s", link);
        rc = pii_decrypt(ob->pii_key, context, ph->str, j->addr,
                         sizeof(j->addr), NULL);
    } else if (phone_kind(j->ad->in)) {
        snprintf(context, sizeof(context), "user|phone|%s", j->u);
        rc = pii_decrypt(ob->pii_key, context, ph->str, j->addr,
                         sizeof(j->addr), NULL);
        if (rc == RELAY_OK && !pii_phone_valid(j->addr))
            rc = RELAY_EINVAL;
    } else {
        char plain[CONTACTS_TEXT_MAX + 1];

        snprintf(context, sizeof(context), "user|contacts|%s", j->u);
        rc = pii_decrypt(ob->pii_key, context, ph->str, plain, sizeof(plain),
                         NULL);
        if (rc == RELAY_OK)
            rc = contacts_get(plain, j->ad->in->ops->address_kind, j->addr,
                              sizeof(j->addr));
        sodium_memzero(plain, sizeof(plain));
        if (rc == RELAY_ENOTFOUND) {
            conclude(j, V_FAILED, "no_address");
            return;
        }
    }
    if (rc < 0) {
        sodium_memzero(j->addr, sizeof(j->addr));
        log_error("outbox", "delivery %s: address of %s does not decrypt", j->d,
                  j->u);
        conclude(j, V_FAILED, "address_undecryptable");
        return;
    }
    j->text = malloc(tx->len + 1);
    if (!j->text) {
        retry_job(j, -1, "oom");
        return;
    }
    memcpy(j->text, tx->str, tx->len);
    j->text[tx->len] = '\0';
    j->text_len = tx->len;
    send_job(j);
}

static void start_job(struct ob_job *j)
{
    struct outbox *ob = j->ad->ob;
    char k_d[KEY_MAX], k_user[KEY_MAX], k_txt[KEY_MAX], k_sent[KEY_MAX],
        k_win[KEY_MAX], k_budget[KEY_MAX];
    char marker[MARKER_MAX], ttl[24], budget[24], day[16];
    const char *link = group_link_of(j->u), *field;
    struct args a = {.n = 0};
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);
    field = link ? "address" : phone_kind(j->ad->in) ? "phone" : "contacts";
    if (key(k_d, "dlv:d:", j->d, NULL) < 0 ||
        (link ? key(k_user, "chatlink:", link, NULL)
              : key(k_user, "user:", j->u, NULL)) < 0 ||
        key(k_txt, "dlv:txt:", j->c, ":", j->t, NULL) < 0 ||
        key(k_sent, "dlv:sent:", j->d, NULL) < 0 ||
        key(k_win, "win:", j->ad->name, ":", j->u, NULL) < 0 ||
        key(k_budget, "budget:", j->ad->name, ":", day, NULL) < 0) {
        finish_job(j);
        return;
    }
    snprintf(budget, sizeof(budget), "%lld", j->ad->in->common.daily_budget);
    snprintf(marker, sizeof(marker), "%s|%lld", ob->consumer, now_ms());
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ob->opt.ttl_s * 1000);
    push(&a, "EVAL");
    push(&a, load_script);
    push(&a, "6");
    push(&a, k_d);
    push(&a, k_user);
    push(&a, k_txt);
    push(&a, k_sent);
    push(&a, k_win);
    push(&a, k_budget);
    push(&a, marker);
    push(&a, ttl);
    push(&a, field);
    push(&a, budget);
    push(&a, lane_names[j->lane]);
    if (send_argv(ob, ob->cmd, load_done, j, a.n, a.v, a.len) < 0)
        finish_job(j); /* Redis down: stays pending, reclaimed later */
}

static void rate_timer_cb(uv_timer_t *t)
{
    struct ob_adapter *ad = t->data;

    ad->rate_timer_on = 0;
    pump(ad);
}

static struct ob_job *pop_job(struct ob_adapter *ad)
{
    for (int lane = 0; lane < LANES; lane++) {
        struct ob_job *j = ad->head[lane];

        if (!j)
            continue;
        ad->head[lane] = j->next;
        if (!ad->head[lane])
            ad->tail[lane] = NULL;
        j->next = NULL;
        ad->queued--;
        return j;
    }
    return NULL;
}

static void pump(struct ob_adapter *ad)
{
    struct outbox *ob = ad->ob;

    while (!ob->closing && ad->queued > 0 &&
           ad->in_flight < ad->in->common.max_in_flight) {
        double wait_s = 0;
        struct ob_job *j;
        int rc;

        rc = ratelimit_take(ad->rl, ad->name, uv_now(ob->loop), 1.0, &wait_s);
        if (rc == RATELIMIT_LIMITED) {
            ob->stats.rate_limited++;
            if (!ad->rate_timer_on) {
                ad->rate_timer_on = 1;
                uv_timer_start(&ad->rate_timer, rate_timer_cb,
                               (uint64_t)(wait_s * 1000) + 1, 0);
            }
            return;
        }
        j = pop_job(ad);
        j->started = 1;
        ad->in_flight++;
        start_job(j);
    }
}

/* ---- Enqueue ---------------------------------------------------------- */

struct enq_ctx {
    outbox_enqueue_cb cb;
    void *arg;
};

static void enqueue_done(struct outbox *ob, void *p, redisReply *r)
{
    struct enq_ctx *e = p;
    const redisReply *fresh = elem(r, 0), *id = elem(r, 1);
    char d[OUTBOX_ID_MAX + 1];

    if (!r || r->type == REDIS_REPLY_ERROR || !fresh ||
        fresh->type != REDIS_REPLY_INTEGER || copy_str(id, d, sizeof(d)) < 0) {
        if (r && r->type == REDIS_REPLY_ERROR)
            log_error("outbox", "enqueue: %s", r->str);
        if (e->cb)
            e->cb(e->arg, RELAY_EUNAVAILABLE, NULL, 0);
        free(e);
        return;
    }
    if (fresh->integer)
        ob->stats.enqueued++;
    else
        ob->stats.duplicates++;
    if (e->cb)
        e->cb(e->arg, RELAY_OK, d, (int)fresh->integer);
    free(e);
}

int outbox_check_text(const struct outbox *ob, const char *channel,
                      const char *text, size_t len, struct sms_info *info)
{
    struct ob_adapter *ad = find_adapter(ob, channel);
    struct sms_part parts[SMS_PARTS_MAX];

    if (!ad)
        return RELAY_ENOTFOUND;
    if (!(ad->in->ops->caps & ADAPTER_CAP_SMS)) {
        /* a chat message is one message up to the adapter's limit */
        size_t n = adapter_utf8_count(text, len);

        memset(info, 0, sizeof(*info));
        info->parts = (unsigned)(n <= ad->in->ops->max_text_chars ? 1 : 2);
        return n == 0                             ? RELAY_EINVAL
               : n <= ad->in->ops->max_text_chars ? RELAY_OK
                                                  : RELAY_ETOOBIG;
    }
    return sms_text_split(text, len, (unsigned)ad->in->common.max_parts, info,
                          parts);
}

int outbox_enqueue(struct outbox *ob, const struct outbox_item *item,
                   outbox_enqueue_cb cb, void *arg)
{
    struct ob_adapter *ad;
    struct sms_info info;
    char d[OUTBOX_ID_MAX + 1], th[TEXT_KEY_HEX];
    unsigned char h[16], rnd[12];
    char k_key[KEY_MAX], k_txt[KEY_MAX], k_d[KEY_MAX], k_case[KEY_MAX],
        k_sum[KEY_MAX];
    char ttl[24], now[24], not_before[24];
    struct args a = {.n = 0};
    struct enq_ctx *e;
    int rc;

    if (!ob || !item || !id_ok(item->case_id) || !id_ok(item->user_id) ||
        (item->lane != OUTBOX_URGENT && item->lane != OUTBOX_ROUTINE) ||
        (item->delivery_id && !id_ok(item->delivery_id)) || !item->text ||
        (item->kind && (!*item->kind || strlen(item->kind) >= 16)))
        return RELAY_EINVAL;
    ad = find_adapter(ob, item->channel);
    if (!ad)
        return RELAY_ENOTFOUND;
    rc =
        outbox_check_text(ob, item->channel, item->text, item->text_len, &info);
    if (rc < 0)
        return rc;
    if (!redis_link_is_up(ob->cmd))
        return RELAY_EUNAVAILABLE;
    if (item->delivery_id) {
        snprintf(d, sizeof(d), "%s", item->delivery_id);
    } else {
        randombytes_buf(rnd, sizeof(rnd));
        d[0] = 'd';
        sodium_bin2hex(d + 1, sizeof(d) - 1, rnd, sizeof(rnd));
    }
    crypto_generichash(h, sizeof(h), (const unsigned char *)item->text,
                       item->text_len, NULL, 0);
    sodium_bin2hex(th, sizeof(th), h, sizeof(h));
    if (key(k_key, "dlv:key:", item->case_id, ":", item->user_id, ":", ad->name,
            NULL) < 0 ||
        key(k_txt, "dlv:txt:", item->case_id, ":", th, NULL) < 0 ||
        key(k_d, "dlv:d:", d, NULL) < 0 ||
        key(k_case, "dlv:", item->case_id, NULL) < 0 ||
        key(k_sum, "dlv:", item->case_id, ":summary", NULL) < 0)
        return RELAY_EINVAL;
    e = malloc(sizeof(*e));
    if (!e)
        return RELAY_ENOMEM;
    e->cb = cb;
    e->arg = arg;
    snprintf(ttl, sizeof(ttl), "%ld", ob->opt.ttl_s);
    snprintf(now, sizeof(now), "%lld", now_ms());
    snprintf(not_before, sizeof(not_before), "%lld", item->not_before_ms);
    push(&a, "EVAL");
    push(&a, enqueue_script);
    push(&a, "7");
    push(&a, k_key);
    push(&a, k_txt);
    push(&a, k_d);
    push(&a, k_case);
    push(&a, k_sum);
    push(&a, ad->streams[item->lane]);
    push(&a, ad->retry_key);
    push(&a, d);
    push(&a, item->case_id);
    push(&a, item->user_id);
    push(&a, ad->name);
    push(&a, lane_names[item->lane]);
    push(&a, th);
    pushn(&a, item->text, item->text_len);
    push(&a, ttl);
    push(&a, now);
    push(&a, item->kind ? item->kind : "notice");
    push(&a, not_before);
    rc = send_argv(ob, ob->cmd, enqueue_done, e, a.n, a.v, a.len);
    if (rc < 0)
        free(e);
    return rc;
}

/* ---- Webhooks --------------------------------------------------------- */

/* One webhook request: the answer is given once every event it carried
 * was stored (or one failed: 503, the provider sends it all again and the
 * stored ones are recognised as repeats). */
struct wh_batch {
    outbox_webhook_cb cb;
    void *arg;
    int pending; /* events not yet stored */
    int failed;
    int http_status;
    const char *reply_type;
    char reply_body[ADAPTER_REPLY_MAX + 1];
};

struct wh_ctx {
    struct wh_batch *batch;
    struct ob_adapter *ad;
    struct adapter_event ev;
    char index[PII_INDEX_HEX_BYTES];
    char chat_index[PII_INDEX_HEX_BYTES];
};

static void wh_free(struct wh_ctx *w)
{
    adapter_event_cleanup(&w->ev);
    free(w);
}

static void wh_answer(struct wh_ctx *w, int ok)
{
    struct wh_batch *b = w->batch;

    if (!ok)
        b->failed = 1;
    if (--b->pending > 0)
        return;
    if (b->failed)
        b->cb(b->arg, 503, "text/plain", "unavailable");
    else
        b->cb(b->arg, b->http_status, b->reply_type, b->reply_body);
    free(b);
}

static void wh_none_done(struct outbox *ob, void *p, redisReply *r)
{
    struct wh_ctx *w = p;

    wh_answer(w, r != NULL);
    wh_free(w);
}

static void wh_report_done(struct outbox *ob, void *p, redisReply *r)
{
    struct wh_ctx *w = p;
    int ok = r && r->type == REDIS_REPLY_INTEGER;

    if (ok && r->integer == 1) {
        ob->stats.reports++;
        log_debug("outbox", "%s: delivery %s now %s", w->ad->name,
                  w->ev.delivery_id, adapter_state_name(w->ev.state));
    } else if (ok && r->integer < 0) {
        log_warn("outbox", "%s: report for another adapter's delivery %s",
                 w->ad->name, w->ev.delivery_id);
    }
    wh_answer(w, ok);
    wh_free(w);
}

static void wh_mo_done(struct outbox *ob, void *p, redisReply *r)
{
    struct wh_ctx *w = p;
    const redisReply *fresh = elem(r, 0);
    int ok = fresh && fresh->type == REDIS_REPLY_INTEGER;

    if (ok && fresh->integer == 1 && !ob->closing) {
        const redisReply *id = elem(r, 1), *u = elem(r, 2), *c = elem(r, 3),
                         *l = elem(r, 4);
        struct outbox_reply reply = {
            .adapter = w->ad->name,
            .entry_id = id && id->type == REDIS_REPLY_STRING ? id->str : "",
            .user_id =
                u && u->type == REDIS_REPLY_STRING && u->len ? u->str : NULL,
            .case_id =
                c && c->type == REDIS_REPLY_STRING && c->len ? c->str : NULL,
            .link_id =
                l && l->type == REDIS_REPLY_STRING && l->len ? l->str : NULL,
            .phone_index = w->index,
            .text = w->ev.text,
            .text_len = w->ev.text_len,
        };

        ob->stats.replies++;
        log_info("outbox", "%s: reply from user %s about case %s", w->ad->name,
                 reply.user_id ? reply.user_id : "(unknown)",
                 reply.case_id ? reply.case_id : "(none)");
        if (ob->opt.on_reply)
            ob->opt.on_reply(ob->opt.reply_arg, &reply);
    }
    wh_answer(w, ok);
    wh_free(w);
}

/* Stores what one event said; its callback answers through the batch.
 * On failure 'w' is left to the caller. */
static int wh_dispatch(struct outbox *ob, struct wh_ctx *w)
{
    struct ob_adapter *ad = w->ad;
    struct args a = {.n = 0};
    char k1[KEY_MAX], k2[KEY_MAX], k4[KEY_MAX], k5[KEY_MAX], k6[KEY_MAX],
        now[24], ttl[24];
    const char *kind =
        !phone_kind(ad->in) ? ad->in->ops->address_kind : "phone";
    int rc;

    snprintf(now, sizeof(now), "%lld", now_ms());
    snprintf(ttl, sizeof(ttl), "%ld", ob->opt.ttl_s);
    if (w->ev.type == ADAPTER_EVENT_STATUS) {
        int by_pid = w->ev.delivery_id[0] == '\0';

        if (by_pid
                ? (w->ev.provider_id[0] == '\0' ||
                   hashed_key(k1, "dlv:pid:", ad->name, w->ev.provider_id) < 0)
                : key(k1, "dlv:d:", w->ev.delivery_id, NULL) < 0)
            goto inval;
        push(&a, "EVAL");
        push(&a, report_script);
        push(&a, "1");
        push(&a, k1);
        push(&a, w->ev.delivery_id);
        push(&a, adapter_state_name(w->ev.state));
        push(&a, w->ev.provider_id);
        push(&a, w->ev.error);
        push(&a, now);
        push(&a, ad->name);
        push(&a, by_pid ? "pid" : "d");
        rc = send_argv(ob, ob->cmd, wh_report_done, w, a.n, a.v, a.len);
    } else if (w->ev.type == ADAPTER_EVENT_MO) {
        int dedup = w->ev.provider_id[0] != '\0';
        int in_chat = w->ev.chat[0] != '\0';
        int answers = w->ev.reply_to[0] != '\0';

        if (!w->ev.from[0] ||
            pii_blind_index(ob->pii_key, w->ev.from, w->index) < 0 ||
            (in_chat &&
             pii_blind_index(ob->pii_key, w->ev.chat, w->chat_index) < 0) ||
            hashed_key(k1, "dlv:mo:", ad->name,
                       dedup ? w->ev.provider_id : "-") < 0 ||
            (strcmp(kind, "phone") == 0
                 ? key(k2, "idx:phone:", w->index, NULL)
                 : key(k2, "idx:contact:", kind, ":", w->index, NULL)) < 0 ||
            key(k4, "idx:link:", ad->name, ":", in_chat ? w->chat_index : "-",
                NULL) < 0 ||
            key(k5, "idx:contact:", kind, ":", in_chat ? w->chat_index : "-",
                NULL) < 0 ||
            hashed_key(k6, "dlv:pid:", ad->name,
                       answers ? w->ev.reply_to : "-") < 0)
            goto inval;
        push(&a, "EVAL");
        push(&a, mo_script);
        push(&a, "6");
        push(&a, k1);
        push(&a, k2);
        push(&a, "mo:inbox");
        push(&a, k4);
        push(&a, k5);
        push(&a, k6);
        push(&a, ttl);
        push(&a, ad->name);
        push(&a, w->index);
        pushn(&a, w->ev.text ? w->ev.text : "", w->ev.text_len);
        push(&a, dedup ? "1" : "0");
        push(&a, in_chat ? "1" : "0");
        push(&a, answers ? "1" : "0");
        rc = send_argv(ob, ob->cmd, wh_mo_done, w, a.n, a.v, a.len);
    } else {
        /* nothing to store; answer after one round trip, never inline */
        push(&a, "PING");
        rc = send_argv(ob, ob->cmd, wh_none_done, w, a.n, a.v, a.len);
    }
    return rc;
inval:
    return RELAY_EINVAL;
}

/* The index-th event of a request: parse_webhook_at when the adapter has
 * it (providers that batch), else parse_webhook for index 0. */
static int wh_parse(const struct ob_adapter *ad,
                    const struct adapter_webhook_req *wr, int index,
                    struct adapter_event *ev)
{
    if (ad->in->ops->parse_webhook_at)
        return ad->in->ops->parse_webhook_at(ad->in->priv, wr, index, ev);
    if (index > 0)
        return RELAY_ENOTFOUND;
    return ad->in->ops->parse_webhook(ad->in->priv, wr, ev);
}

int outbox_webhook(struct outbox *ob, const char *adapter,
                   const struct outbox_webhook_req *req, outbox_webhook_cb cb,
                   void *arg)
{
    struct ob_adapter *ad = ob ? find_adapter(ob, adapter) : NULL;
    struct adapter_webhook_req wr;
    struct adapter_buf url = {0};
    struct wh_ctx *list[OUTBOX_WEBHOOK_EVENTS_MAX];
    struct wh_batch *b;
    int n = 0, dispatched = 0, rc = RELAY_OK;

    if (!ad || (!ad->in->ops->parse_webhook && !ad->in->ops->parse_webhook_at))
        return RELAY_ENOTFOUND;
    if (!req || !req->method || !req->path || !cb)
        return RELAY_EINVAL;
    if (!redis_link_is_up(ob->cmd))
        return RELAY_EUNAVAILABLE;
    adapter_buf_adds(&url, ad->in->common.public_url);
    adapter_buf_adds(&url, req->path);
    if (url.oom)
        return RELAY_ENOMEM;
    memset(&wr, 0, sizeof(wr));
    wr.method = req->method;
    wr.path = req->path;
    wr.url = url.p;
    wr.headers = req->headers;
    wr.nheaders = req->nheaders;
    wr.body = req->body ? req->body : "";
    wr.body_len = req->body ? req->body_len : 0;
    while (n < OUTBOX_WEBHOOK_EVENTS_MAX) {
        struct wh_ctx *w = calloc(1, sizeof(*w));

        if (!w) {
            rc = RELAY_ENOMEM;
            break;
        }
        w->ad = ad;
        rc = wh_parse(ad, &wr, n, &w->ev);
        if (rc < 0) {
            wh_free(w);
            break;
        }
        list[n++] = w;
    }
    adapter_buf_free(&url);
    if (rc == RELAY_ENOTFOUND && n > 0)
        rc = RELAY_OK; /* past the last event */
    if (rc < 0 || n == 0) {
        if (rc == RELAY_EAUTH) {
            ob->stats.forged++;
            log_warn("outbox", "%s: forged or unsigned webhook refused",
                     ad->name);
        }
        for (int i = 0; i < n; i++)
            wh_free(list[i]);
        return rc < 0 ? rc : RELAY_EINVAL;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        for (int i = 0; i < n; i++)
            wh_free(list[i]);
        return RELAY_ENOMEM;
    }
    b->cb = cb;
    b->arg = arg;
    b->http_status = list[0]->ev.http_status;
    b->reply_type = list[0]->ev.reply_type;
    snprintf(b->reply_body, sizeof(b->reply_body), "%s",
             list[0]->ev.reply_body ? list[0]->ev.reply_body : "");
    /* a guard reference: replies never come inside this call, so the
     * batch answers only after the loop, and only if one was sent */
    b->pending = 1;
    for (int i = 0; i < n; i++) {
        list[i]->batch = b;
        rc = wh_dispatch(ob, list[i]);
        if (rc < 0) {
            b->failed = 1;
            wh_free(list[i]);
        } else {
            b->pending++;
            dispatched++;
        }
    }
    b->pending--;
    if (dispatched == 0) {
        free(b);
        return rc;
    }
    return RELAY_OK;
}

/* ---- Life cycle ------------------------------------------------------- */

void outbox_options_defaults(struct outbox_options *o)
{
    memset(o, 0, sizeof(*o));
    o->worker = 1;
    o->batch = 16;
    o->block_ms = 2000;
    o->timeout_ms = 5000;
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 5000;
    o->claim_idle_ms = 60000;
    o->claim_interval_ms = 15000;
    o->stale_ms = 120000;
    o->backoff_min_ms = 1000;
    o->backoff_max_ms = 300000;
    o->retry_poll_ms = 500;
    o->ttl_s = 7 * 86400;
}

static int options_valid(const struct outbox_options *o)
{
    if (!o->pii_key || o->nadapters < 0 || (o->nadapters && !o->adapters) ||
        o->batch < 1 || o->batch > 1000 || o->block_ms < 1 ||
        o->block_ms >= o->timeout_ms || o->claim_idle_ms < 1 ||
        o->claim_interval_ms < 1 || o->stale_ms < 1 || o->backoff_min_ms < 1 ||
        o->backoff_max_ms < o->backoff_min_ms || o->retry_poll_ms < 1 ||
        o->ttl_s < 60)
        return 0;
    for (int i = 0; i < o->nadapters; i++) {
        const struct adapter_instance *in = o->adapters[i];

        /* a marker younger than a request can last is not a crash */
        if (!in || !in->inited ||
            !(in->ops->caps & (ADAPTER_CAP_SMS | ADAPTER_CAP_CHAT)) ||
            strlen(in->ops->name) > ADAPTER_NAME_MAX ||
            o->stale_ms <= in->common.timeout_ms)
            return 0;
        for (int k = 0; k < i; k++) {
            if (strcmp(o->adapters[k]->ops->name, in->ops->name) == 0)
                return 0;
        }
    }
    return 1;
}

struct outbox *outbox_create(uv_loop_t *loop, const char *redis_url,
                             struct http_client *http,
                             const struct outbox_options *options)
{
    struct outbox *ob;
    struct redis_link_options lo;
    char host[256], hostname[64];
    int port;

    if (!loop || !redis_url || !http || !options || !options_valid(options) ||
        redis_link_parse_url(redis_url, host, sizeof(host), &port) < 0)
        return NULL;
    ob = calloc(1, sizeof(*ob));
    if (!ob)
        return NULL;
    ob->loop = loop;
    ob->http = http;
    ob->opt = *options;
    ob->refs = 1; /* the owner's, dropped by outbox_destroy() */
    memcpy(ob->pii_key, options->pii_key, PII_KEY_BYTES);
    ob->opt.pii_key = NULL;
    if (options->consumer) {
        snprintf(ob->consumer, sizeof(ob->consumer), "%s", options->consumer);
    } else {
        if (gethostname(hostname, sizeof(hostname)) != 0)
            snprintf(hostname, sizeof(hostname), "host");
        hostname[sizeof(hostname) - 1] = '\0';
        snprintf(ob->consumer, sizeof(ob->consumer), "%s:%ld", hostname,
                 (long)getpid());
    }
    ob->nads = options->nadapters;
    ob->ads = calloc(ob->nads ? (size_t)ob->nads : 1, sizeof(*ob->ads));
    if (!ob->ads)
        goto fail;
    for (int i = 0; i < ob->nads; i++) {
        struct ob_adapter *ad = &ob->ads[i];

        ad->ob = ob;
        ad->in = options->adapters[i];
        ad->name = ad->in->ops->name;
        for (int lane = 0; lane < LANES; lane++)
            key(ad->streams[lane], "outbox:", ad->name, ":", lane_names[lane],
                NULL);
        key(ad->retry_key, "outbox:", ad->name, ":retry", NULL);
        key(ad->dead_key, "dead:", ad->name, NULL);
        ad->rl = ratelimit_create(1, (double)ad->in->common.rate,
                                  (double)ad->in->common.burst);
        if (!ad->rl)
            goto fail;
    }
    lo.timeout_ms = options->timeout_ms;
    lo.reconnect_min_ms = options->reconnect_min_ms;
    lo.reconnect_max_ms = options->reconnect_max_ms;
    lo.name = "outbox";
    ob->cmd = redis_link_create(loop, host, port, &lo, cmd_link_state, ob);
    lo.name = "outbox-read";
    ob->rd = redis_link_create(loop, host, port, &lo, read_link_state, ob);
    if (!ob->cmd || !ob->rd)
        goto fail_links;
    uv_timer_init(loop, &ob->retry_timer);
    uv_timer_init(loop, &ob->claim_timer);
    uv_timer_init(loop, &ob->verdict_timer);
    ob->retry_timer.data = ob;
    ob->claim_timer.data = ob;
    ob->verdict_timer.data = ob;
    ref(ob);
    ref(ob);
    ref(ob);
    uv_timer_start(&ob->retry_timer, retry_tick,
                   (uint64_t)options->retry_poll_ms,
                   (uint64_t)options->retry_poll_ms);
    uv_timer_start(&ob->claim_timer, claim_tick,
                   (uint64_t)options->claim_interval_ms,
                   (uint64_t)options->claim_interval_ms);
    uv_timer_start(&ob->verdict_timer, verdict_tick, 1000, 1000);
    for (int i = 0; i < ob->nads; i++) {
        uv_timer_init(loop, &ob->ads[i].rate_timer);
        ob->ads[i].rate_timer.data = &ob->ads[i];
        ref(ob);
    }
    return ob;
fail_links:
    redis_link_destroy(ob->cmd);
    redis_link_destroy(ob->rd);
fail:
    for (int i = 0; ob->ads && i < ob->nads; i++)
        ratelimit_destroy(ob->ads[i].rl);
    free(ob->ads);
    sodium_memzero(ob->pii_key, sizeof(ob->pii_key));
    free(ob);
    return NULL;
}

static void rate_timer_closed(uv_handle_t *h)
{
    struct ob_adapter *ad = h->data;

    unref(ad->ob);
}

void outbox_destroy(struct outbox *ob)
{
    if (!ob || ob->closing)
        return;
    ref(ob); /* callbacks below may drop other references */
    ob->closing = 1;
    for (int i = 0; i < ob->nads; i++) {
        struct ob_adapter *ad = &ob->ads[i];
        struct ob_job *j;

        while ((j = pop_job(ad)) != NULL)
            job_free(j);
        uv_timer_stop(&ad->rate_timer);
        uv_close((uv_handle_t *)&ad->rate_timer, rate_timer_closed);
    }
    while (ob->unwritten) {
        struct ob_job *j = ob->unwritten;

        ob->unwritten = j->next;
        log_warn("outbox", "%s: verdict for delivery %s not written",
                 j->ad->name, j->d);
        job_free(j);
    }
    redis_link_destroy(ob->rd);
    redis_link_destroy(ob->cmd);
    ob->rd = ob->cmd = NULL;
    uv_timer_stop(&ob->retry_timer);
    uv_timer_stop(&ob->claim_timer);
    uv_timer_stop(&ob->verdict_timer);
    uv_close((uv_handle_t *)&ob->retry_timer, handle_closed);
    uv_close((uv_handle_t *)&ob->claim_timer, handle_closed);
    uv_close((uv_handle_t *)&ob->verdict_timer, handle_closed);
    unref(ob); /* the owner's */
    unref(ob); /* ours */
}

int outbox_is_ready(const struct outbox *ob)
{
    return ob && !ob->closing && redis_link_is_up(ob->cmd);
}

void outbox_get_stats(const struct outbox *ob, struct outbox_stats *out)
{
    *out = ob->stats;
}

int outbox_adapter_health(const struct outbox *ob, int i,
                          struct outbox_adapter_health *out)
{
    if (!ob || i < 0 || i >= ob->nads)
        return RELAY_ENOTFOUND;
    *out = ob->ads[i].health;
    out->name = ob->ads[i].name;
    out->failing = out->consecutive_failures >= OUTBOX_FAILING_AFTER ? 1 : 0;
    return RELAY_OK;
}
