#include "bus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "error.h"
#include "log.h"
#include "redis_link.h"

#define BUCKETS 4096

/*
 * Transaction script: everything a post changes, atomically, so a post is
 * either wholly stored and published or not at all. KEYS: [1] idempotency
 * key, [2] case key. ARGV: [1] idempotency ttl, [2] history max, [3] epoch
 * for a channel without one, [4] case id, [5] expected case version (""
 * no check, "-" the case must not exist), [6] extra ack members (JSON text
 * starting with ',' or ""), [7] "1" to record each publication in
 * case:{id}:msgs (so an appeal's messages can be redacted later), [8]
 * "1" to redact the case's recorded messages first, [9] number of
 * commands, then each command as (argc, args...), then the number of
 * groups, each (msg JSON, flags: 'r' to record its publications in
 * case:{id}:msgs so they can be redacted later, 'h' to leave them out of
 * the ack's "published" list, channel count, channel names...).
 * Returns {0, ack} when done, {1, ack} for a replayed post id, {2,
 * current version} when the case changed underneath (caller re-reads).
 * Channel keys are derived inside the script; with one Redis that is
 * fine, and all keys of one channel share the {NAME} hash tag.
 */
static const char txn_script[] =
    "local prev = redis.call('GET', KEYS[1])\n"
    "if prev then return {1, prev} end\n"
    "local ckey = KEYS[2]\n"
    "local want = ARGV[5]\n"
    "if want == '-' then\n"
    "  if redis.call('EXISTS', ckey) == 1 then return {2, 'exists'} end\n"
    "elseif want ~= '' then\n"
    "  local cur = redis.call('HGET', ckey, 'version') or 'none'\n"
    "  if cur ~= want then return {2, cur} end\n"
    "end\n"
    "if ARGV[8] == '1' then\n"
    "  for _, m in ipairs(redis.call('LRANGE', ckey .. ':msgs', 0, -1)) do\n"
    "    local sp = string.find(m, ' ', 1, true)\n"
    "    local name = string.sub(m, 1, sp - 1)\n"
    "    local seq = string.sub(m, sp + 1)\n"
    "    redis.call('XDEL', 'ch:{' .. name .. '}:log', seq .. '-0')\n"
    "    redis.call('SADD', 'ch:{' .. name .. '}:redacted', seq)\n"
    "  end\n"
    "  redis.call('DEL', ckey .. ':msgs')\n"
    "end\n"
    "local i = 10\n"
    "for c = 1, tonumber(ARGV[9]) do\n"
    "  local n = tonumber(ARGV[i])\n"
    "  redis.call(unpack(ARGV, i + 1, i + n))\n"
    "  i = i + 1 + n\n"
    "end\n"
    "if ARGV[4] ~= '' then redis.call('HINCRBY', ckey, 'version', 1) end\n"
    "local out = {}\n"
    "local ngroups = tonumber(ARGV[i])\n"
    "i = i + 1\n"
    "for g = 1, ngroups do\n"
    "  local msg = ARGV[i]\n"
    "  local record = ARGV[i + 1]\n"
    "  local nch = tonumber(ARGV[i + 2])\n"
    "  i = i + 3\n"
    "  for c = 1, nch do\n"
    "    local name = ARGV[i]\n"
    "    i = i + 1\n"
    "    local meta = 'ch:{' .. name .. '}:meta'\n"
    "    local log = 'ch:{' .. name .. '}:log'\n"
    "    local epoch = redis.call('HGET', meta, 'epoch')\n"
    "    if not epoch then\n"
    "      epoch = ARGV[3]\n"
    "      redis.call('DEL', log, 'ch:{' .. name .. '}:redacted')\n"
    "      redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)\n"
    "    end\n"
    "    redis.call('PERSIST', meta)\n"
    "    local seq = redis.call('HINCRBY', meta, 'seq', 1)\n"
    "    local frame = '{\"type\":\"message\",\"channel\":\"' .. name .."
    " '\",\"seq\":' .. seq .. ',\"epoch\":\"' .. epoch .. '\",\"msg\":' .."
    " msg .. '}'\n"
    "    redis.call('XADD', log, 'MAXLEN', '~', ARGV[2], seq .. '-0', 'f',"
    " frame)\n"
    "    redis.call('PUBLISH', 'ch:{' .. name .. '}', seq .. ' ' .. epoch .."
    " ' ' .. frame)\n"
    "    if string.find(record, 'r', 1, true) then\n"
    "      redis.call('RPUSH', ckey .. ':msgs', name .. ' ' .. seq)\n"
    "    end\n"
    "    if not string.find(record, 'h', 1, true) then\n"
    "      out[#out + 1] = '{\"channel\":\"' .. name .. '\",\"seq\":' .."
    " seq .. '}'\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local ack = '{\"case\":\"' .. ARGV[4] .. '\"' .. ARGV[6] .."
    " ',\"published\":[' .. table.concat(out, ',') .. ']}'\n"
    "redis.call('SET', KEYS[1], ack, 'EX', ARGV[1])\n"
    "return {0, ack}\n";

/*
 * History script: KEYS [1] meta, [2] log; ARGV [1] since seq (-1: none),
 * [2] since epoch, [3] most entries to return, [4] epoch for a channel
 * without one. Returns {epoch, seq, recovered (-1 not asked, 0, 1),
 * frames...}. A partial replay is never returned: either every missed
 * frame or recovered = 0. A channel nobody has posted to yet gets its epoch
 * here, so "subscribed" and later messages agree; such an empty channel's
 * meta expires after a day unless something is published (no unbounded
 * growth from subscribes alone). since = 0 ("I have nothing") recovers
 * under any epoch as long as the log still starts at 1. KEYS [3] is the
 * channel's set of redacted seqs (messages removed when their appeal
 * closed, for privacy): those replay as {"kind":"redacted"} placeholders
 * so a redaction is not mistaken for lost history. ARGV [5] is the
 * channel name, for the placeholders.
 */
static const char history_script[] =
    "local m = redis.call('HMGET', KEYS[1], 'seq', 'epoch')\n"
    "local seq = tonumber(m[1] or '0')\n"
    "local epoch = m[2]\n"
    "if not epoch then\n"
    "  epoch = ARGV[4]\n"
    "  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)\n"
    "  redis.call('EXPIRE', KEYS[1], 86400)\n"
    "  seq = 0\n"
    "end\n"
    "local since = tonumber(ARGV[1])\n"
    "if since < 0 then return {epoch, seq, -1} end\n"
    "local same = (ARGV[2] == epoch) or since == 0\n"
    "if not same or since > seq then return {epoch, seq, 0} end\n"
    "if since == seq then return {epoch, seq, 1} end\n"
    "if seq - since > tonumber(ARGV[3]) then return {epoch, seq, 0} end\n"
    "local e = redis.call('XRANGE', KEYS[2], (since + 1) .. '-0',"
    " seq .. '-0')\n"
    "local out = {epoch, seq, 1}\n"
    "local j = 1\n"
    "for q = since + 1, seq do\n"
    "  if e[j] and e[j][1] == q .. '-0' then\n"
    "    out[#out + 1] = e[j][2][2]\n"
    "    j = j + 1\n"
    "  elseif redis.call('SISMEMBER', KEYS[3], q) == 1 then\n"
    "    out[#out + 1] = '{\"type\":\"message\",\"channel\":\"' .. ARGV[5]"
    " .. '\",\"seq\":' .. q .. ',\"epoch\":\"' .. epoch .."
    " '\",\"msg\":{\"kind\":\"redacted\"}}'\n"
    "  else\n"
    "    return {epoch, seq, 0}\n"
    "  end\n"
    "end\n"
    "return out\n";

enum chan_state {
    CHAN_UNSUBSCRIBED,  /* no SUBSCRIBE sent on the current link */
    CHAN_SUBSCRIBING,   /* SUBSCRIBE sent, confirmation awaited */
    CHAN_SUBSCRIBED,    /* Redis confirmed; messages flow */
    CHAN_UNSUBSCRIBING, /* no subscribers; UNSUBSCRIBE sent */
};

/* A history read in flight; outlives the sub or channel it was for. */
struct fetch {
    struct bus *bus;
    struct bus_sub *sub;  /* subscriber fetch, NULL if gone or repair */
    struct channel *chan; /* repair fetch, NULL if gone or subscriber */
};

struct pending_msg {
    struct pending_msg *next;
    struct msgbuf *frame;
    char epoch[40];
};

struct channel {
    struct channel *hnext; /* hash chain */
    struct bus *bus;
    char name[96];
    enum chan_state state;
    int restoring;        /* resubscribing after a reconnect */
    struct bus_sub *subs; /* subscribers (doubly linked) */
    unsigned nsubs;
    int seq_known;     /* live_seq/epoch valid */
    uint64_t live_seq; /* last seq dispatched live */
    char epoch[40];
    struct fetch *repair;     /* gap repair in flight */
    struct pending_msg *held; /* live messages waiting on a repair */
    struct pending_msg **held_tail;
    unsigned nheld;
};

enum sub_state {
    SUB_WAIT, /* waiting for SUBSCRIBE confirmation or history */
    SUB_LIVE,
};

struct bus_sub {
    struct bus_sub *next, *prev;
    struct channel *chan;
    enum sub_state state;
    int has_since;
    char since_epoch[40];
    uint64_t since_seq;
    int announced;                /* ready callback made */
    struct fetch *fetch;          /* history read in flight */
    uint64_t last;                /* last seq delivered */
    struct pending_msg *buffered; /* live messages seen while waiting */
    struct pending_msg **buffered_tail;
    unsigned nbuffered;
    int overflow; /* buffer passed replay_max */
    bus_ready_cb ready_cb;
    bus_message_cb message_cb;
    void *arg;
};

struct bus {
    uv_loop_t *loop;
    struct bus_options opts;
    struct redis_link *cmd;
    struct redis_link *sub;
    bus_state_cb state_cb;
    void *state_arg;
    int ready;
    bus_control_cb control_cb; /* relay:control messages */
    void *control_arg;
    struct channel *table[BUCKETS];
    unsigned long nchannels;
    struct bus_stats stats;
};

static void start_fetch_for_sub(struct bus_sub *s);
static void dispatch_live(struct channel *c, struct msgbuf *frame,
                          const char *epoch);
static void update_ready(struct bus *bus);

/* ---- channel table ------------------------------------------------------ */

static unsigned bucket_of(const char *name)
{
    uint32_t h = 2166136261u;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BUCKETS;
}

static struct channel *channel_find(struct bus *bus, const char *name)
{
    for (struct channel *c = bus->table[bucket_of(name)]; c; c = c->hnext)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void free_pending_list(struct pending_msg *p)
{
    while (p) {
        struct pending_msg *next = p->next;

        msgbuf_unref(p->frame);
        free(p);
        p = next;
    }
}

static void channel_free(struct channel *c)
{
    struct bus *bus = c->bus;
    struct channel **pp = &bus->table[bucket_of(c->name)];

    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = c->hnext;
    if (c->repair)
        c->repair->chan = NULL;
    free_pending_list(c->held);
    bus->nchannels--;
    free(c);
}

/* ---- Redis subscribe link ----------------------------------------------- */

static void on_pubsub(redisAsyncContext *ac, void *r, void *privdata);

static void send_subscribe(struct channel *c, const char *verb)
{
    redisAsyncContext *ac = redis_link_context(c->bus->sub);
    char key[128];

    if (!ac)
        return;
    snprintf(key, sizeof(key), "ch:{%s}", c->name);
    if (redisAsyncCommand(ac, on_pubsub, c->bus, "%s %s", verb, key) ==
        REDIS_OK)
        c->state = strcmp(verb, "SUBSCRIBE") == 0 ? CHAN_SUBSCRIBING
                                                  : CHAN_UNSUBSCRIBING;
}

/* Parses "<seq> <epoch> <frame>" from the pub/sub payload. */
static int parse_payload(const char *p, size_t len, uint64_t *seq, char *epoch,
                         size_t epochlen, const char **frame)
{
    const char *end = p + len;
    const char *sp;
    uint64_t v = 0;
    size_t n;

    if (p == end || *p < '0' || *p > '9')
        return RELAY_EINVAL;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == end || *p++ != ' ')
        return RELAY_EINVAL;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp)
        return RELAY_EINVAL;
    n = (size_t)(sp - p);
    if (n == 0 || n >= epochlen)
        return RELAY_EINVAL;
    memcpy(epoch, p, n);
    epoch[n] = '\0';
    *seq = v;
    *frame = sp + 1;
    return RELAY_OK;
}

static void channel_subscribed(struct channel *c);

/*
 * One callback for every reply on the subscribe link: "subscribe"
 * confirmations, "message"s and "unsubscribe" confirmations, plus NULL when
 * the link is torn down.
 */
static void on_pubsub(redisAsyncContext *ac, void *r, void *privdata)
{
    struct bus *bus = privdata;
    redisReply *reply = r;
    struct channel *c;
    const char *kind;
    const char *name;

    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    kind = reply->element[0]->str;
    name = reply->element[1]->str;
    if (strcmp(name, BUS_CONTROL_CHANNEL) == 0) {
        if (strcmp(kind, "message") == 0 &&
            reply->element[2]->type == REDIS_REPLY_STRING && bus->control_cb)
            bus->control_cb(bus->control_arg, reply->element[2]->str);
        return;
    }
    /* strip "ch:{" and "}" */
    if (strncmp(name, "ch:{", 4) != 0 || reply->element[1]->len < 6)
        return;
    {
        char cname[96];
        size_t n = reply->element[1]->len - 5;

        if (n >= sizeof(cname))
            return;
        memcpy(cname, name + 4, n);
        cname[n] = '\0';
        c = channel_find(bus, cname);
    }
    if (!c)
        return;

    if (strcmp(kind, "subscribe") == 0) {
        if (c->state == CHAN_SUBSCRIBING)
            channel_subscribed(c);
    } else if (strcmp(kind, "unsubscribe") == 0) {
        if (c->state != CHAN_UNSUBSCRIBING)
            return;
        if (c->nsubs == 0) {
            channel_free(c);
        } else {
            /* Someone subscribed while the UNSUBSCRIBE was in flight. */
            c->state = CHAN_UNSUBSCRIBED;
            send_subscribe(c, "SUBSCRIBE");
        }
        update_ready(bus);
    } else if (strcmp(kind, "message") == 0) {
        const redisReply *payload = reply->element[2];
        uint64_t seq;
        char epoch[40];
        const char *frame;
        struct msgbuf *m;

        if (payload->type != REDIS_REPLY_STRING || c->state != CHAN_SUBSCRIBED)
            return;
        if (parse_payload(payload->str, payload->len, &seq, epoch,
                          sizeof(epoch), &frame) < 0) {
            log_warn("bus", "malformed payload on %s dropped", c->name);
            return;
        }
        m = msgbuf_create(frame, payload->len - (size_t)(frame - payload->str),
                          seq);
        if (!m) {
            log_error("bus", "out of memory on %s: resyncing", c->name);
            return;
        }
        dispatch_live(c, m, epoch);
        msgbuf_unref(m);
    }
}

/* ---- delivery ----------------------------------------------------------- */

static int append_pending(struct pending_msg ***tail, struct msgbuf *m,
                          const char *epoch)
{
    struct pending_msg *p = malloc(sizeof(*p));

    if (!p)
        return RELAY_ENOMEM;
    p->next = NULL;
    p->frame = msgbuf_ref(m);
    snprintf(p->epoch, sizeof(p->epoch), "%s", epoch);
    **tail = p;
    *tail = &p->next;
    return RELAY_OK;
}

/* Hands one in-order live message to every subscriber of the channel. */
static void deliver_in_order(struct channel *c, struct msgbuf *m)
{
    struct bus *bus = c->bus;

    c->live_seq = m->seq;
    for (struct bus_sub *s = c->subs; s; s = s->next) {
        if (s->state == SUB_LIVE) {
            if (m->seq > s->last) {
                s->last = m->seq;
                s->message_cb(s->arg, m);
                bus->stats.delivered_live++;
            }
        } else if (!s->overflow) {
            if (s->nbuffered >= (unsigned)bus->opts.replay_max ||
                append_pending(&s->buffered_tail, m, c->epoch) < 0)
                s->overflow = 1;
            else
                s->nbuffered++;
        }
    }
}

static void start_repair(struct channel *c);

/*
 * Orders live traffic: duplicates (seq <= live_seq) are dropped, the next
 * seq is delivered, anything beyond is held while the gap is read back
 * from the channel's stream.
 */
static void dispatch_live(struct channel *c, struct msgbuf *m,
                          const char *epoch)
{
    if (!c->seq_known || c->repair) {
        if (c->nheld < (unsigned)c->bus->opts.replay_max &&
            append_pending(&c->held_tail, m, epoch) == RELAY_OK)
            c->nheld++;
        return;
    }
    if (strcmp(epoch, c->epoch) != 0) {
        /* History was lost and restarted: follow the new numbering. */
        log_warn("bus", "%s: epoch changed, following new history", c->name);
        snprintf(c->epoch, sizeof(c->epoch), "%s", epoch);
        c->live_seq = m->seq - 1;
        for (struct bus_sub *s = c->subs; s; s = s->next)
            if (s->state == SUB_LIVE)
                s->last = m->seq - 1;
    }
    if (m->seq <= c->live_seq)
        return;
    if (m->seq == c->live_seq + 1) {
        deliver_in_order(c, m);
        return;
    }
    if (append_pending(&c->held_tail, m, epoch) == RELAY_OK)
        c->nheld++;
    start_repair(c);
}

/* Delivers held messages that are now in order; repairs again on a gap. */
static void drain_held(struct channel *c)
{
    while (c->held && !c->repair) {
        struct pending_msg *p = c->held;

        c->held = p->next;
        if (!c->held)
            c->held_tail = &c->held;
        c->nheld--;
        dispatch_live(c, p->frame, p->epoch);
        msgbuf_unref(p->frame);
        free(p);
    }
}

/* ---- history reads ------------------------------------------------------ */

static void history_reply(void *arg, redisReply *reply);

static int send_history(struct bus *bus, struct fetch *f, const char *name,
                        long long since, const char *since_epoch)
{
    char meta[128], log[128], redacted[128], since_s[32], max_s[32];
    unsigned char rnd[8];
    char epoch[17];
    const char *argv[11];
    size_t argvlen[11];

    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(epoch, sizeof(epoch), rnd, sizeof(rnd));

    snprintf(meta, sizeof(meta), "ch:{%s}:meta", name);
    snprintf(log, sizeof(log), "ch:{%s}:log", name);
    snprintf(redacted, sizeof(redacted), "ch:{%s}:redacted", name);
    snprintf(since_s, sizeof(since_s), "%lld", since);
    snprintf(max_s, sizeof(max_s), "%ld", bus->opts.replay_max);
    argv[0] = "EVAL";
    argv[1] = history_script;
    argv[2] = "3";
    argv[3] = meta;
    argv[4] = log;
    argv[5] = redacted;
    argv[6] = since_s;
    argv[7] = since_epoch;
    argv[8] = max_s;
    argv[9] = epoch;
    argv[10] = name;
    for (int i = 0; i < 11; i++)
        argvlen[i] = strlen(argv[i]);
    return redis_link_argv(bus->cmd, history_reply, f, 11, argv, argvlen);
}

/* Checks the history reply's shape; RELAY_OK with the header fields. */
static int parse_history(const redisReply *r, char *epoch, size_t epochlen,
                         uint64_t *seq, int *recovered)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_INTEGER ||
        r->element[0]->len >= epochlen || r->element[1]->integer < 0)
        return RELAY_EUNAVAILABLE;
    for (size_t i = 3; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return RELAY_EUNAVAILABLE;
    memcpy(epoch, r->element[0]->str, r->element[0]->len);
    epoch[r->element[0]->len] = '\0';
    *seq = (uint64_t)r->element[1]->integer;
    *recovered = (int)r->element[2]->integer;
    return RELAY_OK;
}

static void sub_remove(struct bus_sub *s);

static void finish_sub_fetch(struct bus_sub *s, const redisReply *r)
{
    struct channel *c = s->chan;
    struct bus *bus = c->bus;
    char epoch[40];
    uint64_t seq;
    int recovered;
    uint64_t first_seq;

    if (parse_history(r, epoch, sizeof(epoch), &seq, &recovered) < 0) {
        if (!s->announced) {
            bus_ready_cb cb = s->ready_cb;
            void *arg = s->arg;

            sub_remove(s);
            cb(arg, RELAY_EUNAVAILABLE, NULL, 0, -1);
            return;
        }
        /* A refetch after overflow failed: leave the client with a gap it
         * will see in seq and resolve with "since". */
        recovered = 0;
        seq = s->last;
        snprintf(epoch, sizeof(epoch), "%s", c->epoch);
    }
    if (!c->seq_known) {
        c->seq_known = 1;
        c->live_seq = seq;
        snprintf(c->epoch, sizeof(c->epoch), "%s", epoch);
    }
    if (!s->announced) {
        s->announced = 1;
        if (s->has_since) {
            if (recovered == 1)
                bus->stats.replays++;
            else
                bus->stats.not_recovered++;
        }
        s->ready_cb(s->arg, RELAY_OK, epoch, seq,
                    s->has_since ? recovered : -1);
    }
    first_seq = seq - (r ? (uint64_t)(r->elements - 3) : 0) + 1;
    for (size_t i = 3; r && i < r->elements; i++) {
        uint64_t q = first_seq + (i - 3);
        struct msgbuf *m =
            msgbuf_create(r->element[i]->str, r->element[i]->len, q);

        if (!m)
            break;
        if (q > s->last) {
            s->last = q;
            s->message_cb(s->arg, m);
        }
        msgbuf_unref(m);
    }
    if (s->last < seq)
        s->last = seq;
    /* Live messages that arrived while we waited, in order, no repeats. */
    while (s->buffered) {
        struct pending_msg *p = s->buffered;

        s->buffered = p->next;
        if (p->frame->seq > s->last) {
            s->last = p->frame->seq;
            s->message_cb(s->arg, p->frame);
        }
        msgbuf_unref(p->frame);
        free(p);
    }
    s->buffered_tail = &s->buffered;
    s->nbuffered = 0;
    if (s->overflow) {
        /* Too much arrived while waiting: read the rest from history. */
        s->overflow = 0;
        s->has_since = 1;
        snprintf(s->since_epoch, sizeof(s->since_epoch), "%s", c->epoch);
        s->since_seq = s->last;
        start_fetch_for_sub(s);
        goto out_drain;
    }
    s->state = SUB_LIVE;
    /* Catch up with anything the channel delivered past our history. */
    if (c->live_seq > s->last) {
        s->state = SUB_WAIT;
        s->has_since = 1;
        snprintf(s->since_epoch, sizeof(s->since_epoch), "%s", c->epoch);
        s->since_seq = s->last;
        start_fetch_for_sub(s);
    }
out_drain:
    /* Live traffic held before the channel's position was known. */
    if (c->held && !c->repair)
        drain_held(c);
}

static void finish_repair(struct channel *c, const redisReply *r)
{
    char epoch[40];
    uint64_t seq;
    int recovered;

    if (parse_history(r, epoch, sizeof(epoch), &seq, &recovered) < 0) {
        /* Redis went away: the resubscribe after reconnect repairs. */
        drain_held(c);
        return;
    }
    if (recovered == 1) {
        uint64_t first = seq - (uint64_t)(r->elements - 3) + 1;

        for (size_t i = 3; i < r->elements; i++) {
            struct msgbuf *m = msgbuf_create(
                r->element[i]->str, r->element[i]->len, first + (i - 3));

            if (!m)
                break;
            if (m->seq == c->live_seq + 1)
                deliver_in_order(c, m);
            msgbuf_unref(m);
        }
        c->bus->stats.gaps_repaired++;
    } else {
        /* Gap cannot be filled: jump ahead; clients see the seq gap and
         * resubscribe with "since" to be told recovered:false. */
        log_warn("bus", "%s: history gap could not be repaired", c->name);
        snprintf(c->epoch, sizeof(c->epoch), "%s", epoch);
        c->live_seq = seq;
        for (struct bus_sub *s = c->subs; s; s = s->next)
            if (s->state == SUB_LIVE && s->last < seq)
                s->last = seq;
    }
    drain_held(c);
}

static void history_reply(void *arg, redisReply *reply)
{
    struct fetch *f = arg;

    if (f->sub) {
        f->sub->fetch = NULL;
        finish_sub_fetch(f->sub, reply);
    } else if (f->chan) {
        f->chan->repair = NULL;
        finish_repair(f->chan, reply);
    }
    free(f);
}

/* Sends the history read for a waiting subscriber. RELAY_OK also when the
 * read must wait for the SUBSCRIBE confirmation. */
static int send_fetch(struct bus_sub *s)
{
    struct fetch *f;
    struct channel *c = s->chan;

    if (s->fetch || c->state != CHAN_SUBSCRIBED)
        return RELAY_OK;
    f = calloc(1, sizeof(*f));
    if (!f)
        return RELAY_ENOMEM;
    f->bus = c->bus;
    f->sub = s;
    if (send_history(c->bus, f, c->name,
                     s->has_since ? (long long)s->since_seq : -1,
                     s->has_since ? s->since_epoch : "0") < 0) {
        free(f);
        return RELAY_EUNAVAILABLE;
    }
    s->fetch = f;
    return RELAY_OK;
}

/* As send_fetch(), but a failure is reported through the subscription's
 * callbacks (used from reply callbacks, never from bus_subscribe). */
static void start_fetch_for_sub(struct bus_sub *s)
{
    if (send_fetch(s) < 0)
        finish_sub_fetch(s, NULL);
}

static void start_repair(struct channel *c)
{
    struct fetch *f;

    if (c->repair || !c->seq_known)
        return;
    f = calloc(1, sizeof(*f));
    if (!f)
        return;
    f->bus = c->bus;
    f->chan = c;
    if (send_history(c->bus, f, c->name, (long long)c->live_seq, c->epoch) <
        0) {
        free(f);
        return;
    }
    c->repair = f;
}

static void channel_subscribed(struct channel *c)
{
    c->state = CHAN_SUBSCRIBED;
    c->restoring = 0;
    for (struct bus_sub *s = c->subs; s; s = s->next)
        if (s->state == SUB_WAIT)
            start_fetch_for_sub(s);
    /* After a reconnect, fetch what pub/sub lost while we were away. */
    if (c->seq_known)
        start_repair(c);
    update_ready(c->bus);
}

/* ---- subscriptions ------------------------------------------------------ */

static void sub_remove(struct bus_sub *s)
{
    struct channel *c = s->chan;

    if (s->fetch)
        s->fetch->sub = NULL;
    free_pending_list(s->buffered);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->nsubs--;
    free(s);
    if (c->nsubs == 0) {
        if (c->state == CHAN_SUBSCRIBED || c->state == CHAN_SUBSCRIBING) {
            send_subscribe(c, "UNSUBSCRIBE");
            if (c->state != CHAN_UNSUBSCRIBING)
                channel_free(c);
        } else if (c->state == CHAN_UNSUBSCRIBED) {
            channel_free(c);
        }
    }
}

struct bus_sub *bus_subscribe(struct bus *bus, const char *channel,
                              int has_since, const char *since_epoch,
                              uint64_t since_seq, bus_ready_cb ready,
                              bus_message_cb message, void *arg, int *rc)
{
    struct channel *c;
    struct bus_sub *s;

    if (!redis_link_is_up(bus->cmd) || !redis_link_is_up(bus->sub)) {
        *rc = RELAY_EUNAVAILABLE;
        return NULL;
    }
    if (strlen(channel) >= sizeof(c->name) ||
        (has_since && strlen(since_epoch) >= sizeof(s->since_epoch))) {
        *rc = RELAY_EINVAL;
        return NULL;
    }
    c = channel_find(bus, channel);
    if (!c) {
        unsigned b = bucket_of(channel);

        c = calloc(1, sizeof(*c));
        if (!c) {
            *rc = RELAY_ENOMEM;
            return NULL;
        }
        c->bus = bus;
        snprintf(c->name, sizeof(c->name), "%s", channel);
        c->state = CHAN_UNSUBSCRIBED;
        c->held_tail = &c->held;
        c->hnext = bus->table[b];
        bus->table[b] = c;
        bus->nchannels++;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        if (c->nsubs == 0 && c->state == CHAN_UNSUBSCRIBED)
            channel_free(c);
        *rc = RELAY_ENOMEM;
        return NULL;
    }
    s->chan = c;
    s->state = SUB_WAIT;
    s->has_since = has_since;
    if (has_since)
        snprintf(s->since_epoch, sizeof(s->since_epoch), "%s", since_epoch);
    s->since_seq = since_seq;
    s->buffered_tail = &s->buffered;
    s->ready_cb = ready;
    s->message_cb = message;
    s->arg = arg;
    s->next = c->subs;
    if (c->subs)
        c->subs->prev = s;
    c->subs = s;
    c->nsubs++;

    if (c->state == CHAN_UNSUBSCRIBED)
        send_subscribe(c, "SUBSCRIBE");
    else if (c->state == CHAN_SUBSCRIBED && send_fetch(s) < 0) {
        sub_remove(s);
        *rc = RELAY_EUNAVAILABLE;
        return NULL;
    }
    /* SUBSCRIBING: the confirmation starts the fetch; UNSUBSCRIBING: the
     * unsubscribe confirmation subscribes again. */
    update_ready(bus);
    *rc = RELAY_OK;
    return s;
}

void bus_unsubscribe(struct bus_sub *sub)
{
    struct bus *bus;

    if (!sub)
        return;
    bus = sub->chan->bus;
    sub_remove(sub);
    update_ready(bus);
}

/* ---- readiness ---------------------------------------------------------- */

/* Readiness asks whether subscriptions lost with a connection are back; a
 * brand-new subscribe in progress does not make the process unready. */
static unsigned long count_restoring(const struct bus *bus)
{
    unsigned long n = 0;

    for (unsigned i = 0; i < BUCKETS; i++)
        for (struct channel *c = bus->table[i]; c; c = c->hnext)
            if (c->nsubs > 0 && c->restoring)
                n++;
    return n;
}

static void update_ready(struct bus *bus)
{
    int ready = redis_link_is_up(bus->cmd) && redis_link_is_up(bus->sub) &&
                count_restoring(bus) == 0;

    if (ready == bus->ready)
        return;
    bus->ready = ready;
    if (bus->state_cb)
        bus->state_cb(bus->state_arg, ready);
}

int bus_is_ready(const struct bus *bus)
{
    return bus->ready;
}

void bus_status(const struct bus *bus, char *out, size_t outlen)
{
    unsigned long pending = count_restoring(bus);

    snprintf(out, outlen,
             "{\"ready\":%s,\"redis_commands\":\"%s\","
             "\"redis_subscriptions\":\"%s\",\"channels\":%lu,"
             "\"channels_not_restored\":%lu}",
             bus->ready ? "true" : "false",
             redis_link_is_up(bus->cmd) ? "up" : "down",
             redis_link_is_up(bus->sub) ? "up" : "down", bus->nchannels,
             pending);
}

void bus_get_stats(const struct bus *bus, struct bus_stats *out)
{
    *out = bus->stats;
    out->channels = bus->nchannels;
    out->redis_connects =
        redis_link_connects(bus->cmd) + redis_link_connects(bus->sub);
}

static void cmd_state(void *arg, int up)
{
    update_ready(arg);
}

/* The subscribe link came back: hiredis forgot every subscription with the
 * old context, so subscribe again to everything still wanted; channels
 * nobody wants any more are dropped. */
static void sub_state(void *arg, int up)
{
    struct bus *bus = arg;

    for (unsigned i = 0; i < BUCKETS; i++) {
        struct channel *c = bus->table[i];

        while (c) {
            struct channel *next = c->hnext;

            if (c->nsubs == 0) {
                channel_free(c);
            } else {
                c->state = CHAN_UNSUBSCRIBED;
                c->restoring = 1;
                if (up)
                    send_subscribe(c, "SUBSCRIBE");
            }
            c = next;
        }
    }
    if (up) {
        redisAsyncContext *ac = redis_link_context(bus->sub);

        if (ac)
            redisAsyncCommand(ac, on_pubsub, bus, "SUBSCRIBE %s",
                              BUS_CONTROL_CHANNEL);
        log_info("bus", "subscribe link up: %lu channels resubscribing",
                 bus->nchannels);
    }
    update_ready(bus);
}

struct bus *bus_create(uv_loop_t *loop, const struct bus_options *opts,
                       bus_state_cb state_cb, void *arg)
{
    struct bus *bus;
    char host[256];
    int port;
    struct redis_link_options lo;

    if (redis_link_parse_url(opts->redis_url, host, sizeof(host), &port) < 0)
        return NULL;
    bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    bus->loop = loop;
    bus->opts = *opts;
    bus->opts.redis_url = NULL;
    bus->state_cb = state_cb;
    bus->state_arg = arg;
    lo.timeout_ms = opts->timeout_ms;
    lo.reconnect_min_ms = opts->reconnect_min_ms;
    lo.reconnect_max_ms = opts->reconnect_max_ms;
    lo.name = "cmd";
    bus->cmd = redis_link_create(loop, host, port, &lo, cmd_state, bus);
    lo.name = "sub";
    bus->sub = redis_link_create(loop, host, port, &lo, sub_state, bus);
    if (!bus->cmd || !bus->sub) {
        redis_link_destroy(bus->cmd);
        redis_link_destroy(bus->sub);
        free(bus);
        return NULL;
    }
    return bus;
}

void bus_destroy(struct bus *bus)
{
    if (!bus)
        return;
    bus->state_cb = NULL;
    for (unsigned i = 0; i < BUCKETS; i++) {
        while (bus->table[i]) {
            struct channel *c = bus->table[i];

            while (c->subs) {
                struct bus_sub *s = c->subs;

                c->subs = s->next;
                if (s->fetch)
                    s->fetch->sub = NULL;
                free_pending_list(s->buffered);
                free(s);
            }
            c->nsubs = 0;
            channel_free(c);
        }
    }
    redis_link_destroy(bus->sub);
    redis_link_destroy(bus->cmd);
    free(bus);
}

struct redis_link *bus_command_link(struct bus *bus)
{
    return bus->cmd;
}

/* ---- transactions ------------------------------------------------------ */

struct txn_op {
    struct bus *bus;
    bus_txn_cb cb;
    void *arg;
};

static void txn_reply(void *arg, redisReply *r)
{
    struct txn_op *op = arg;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        if (r && r->type == REDIS_REPLY_ERROR)
            log_error("bus", "transaction script failed: %s", r->str);
        op->cb(op->arg, RELAY_EUNAVAILABLE, NULL, 0);
    } else if (r->element[0]->integer == 2) {
        op->cb(op->arg, RELAY_ECONFLICT, r->element[1]->str, 0);
    } else {
        if (r->element[0]->integer == 0)
            op->bus->stats.published++;
        op->cb(op->arg, RELAY_OK, r->element[1]->str,
               (int)r->element[0]->integer);
    }
    free(op);
}

int bus_transact(struct bus *bus, const struct bus_txn *t, bus_txn_cb cb,
                 void *arg)
{
    int nchan = 0, nargs = 0;
    int argc;
    const char **argv = NULL;
    size_t *argvlen = NULL;
    char *numbers = NULL; /* decimal counts, 16 bytes per slot */
    int nnum = 0;
    char ttl_s[32], hist_s[32], case_key[96];
    unsigned char rnd[8];
    char epoch[17];
    struct txn_op *op = NULL;
    int i = 0, rc = RELAY_ENOMEM;

    if (!redis_link_is_up(bus->cmd))
        return RELAY_EUNAVAILABLE;
    for (int g = 0; g < t->ngroups; g++)
        nchan += t->groups[g].nchannels;
    for (int c = 0; c < t->ncmds; c++)
        nargs += t->cmd_argc[c];
    argc = 5 + 9 + (t->ncmds + nargs) + 1 + 3 * t->ngroups + nchan;
    argv = calloc((size_t)argc, sizeof(*argv));
    argvlen = calloc((size_t)argc, sizeof(*argvlen));
    numbers = calloc((size_t)(t->ncmds + t->ngroups + 2), 16);
    op = malloc(sizeof(*op));
    if (!argv || !argvlen || !numbers || !op)
        goto out;
#define NUM(v)                                                                 \
    (snprintf(numbers + 16 * nnum, 16, "%d", (v)), numbers + 16 * nnum++)
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(epoch, sizeof(epoch), rnd, sizeof(rnd));
    snprintf(ttl_s, sizeof(ttl_s), "%ld", bus->opts.idempotency_ttl);
    snprintf(hist_s, sizeof(hist_s), "%ld", bus->opts.history_max);
    snprintf(case_key, sizeof(case_key), "case:%s", t->case_id);

    argv[i++] = "EVAL";
    argv[i++] = txn_script;
    argv[i++] = "2";
    argv[i++] = t->idem_key;
    argv[i++] = case_key;
    argv[i++] = ttl_s;
    argv[i++] = hist_s;
    argv[i++] = epoch;
    argv[i++] = t->case_id;
    argv[i++] = t->expect_version ? t->expect_version : "";
    argv[i++] = t->ack_extra ? t->ack_extra : "";
    argv[i++] = "0";
    argv[i++] = t->redact ? "1" : "0";
    argv[i++] = NUM(t->ncmds);
    for (int c = 0, k = 0; c < t->ncmds; c++) {
        argv[i++] = NUM(t->cmd_argc[c]);
        for (int a = 0; a < t->cmd_argc[c]; a++)
            argv[i++] = t->cmd_args[k++];
    }
    argv[i++] = NUM(t->ngroups);
    for (int g = 0; g < t->ngroups; g++) {
        argv[i++] = t->groups[g].msg_json;
        argv[i++] = t->groups[g].record && t->groups[g].hidden ? "rh"
                    : t->groups[g].record                      ? "r"
                    : t->groups[g].hidden                      ? "h"
                                                               : "-";
        argv[i++] = NUM(t->groups[g].nchannels);
        for (int c = 0; c < t->groups[g].nchannels; c++)
            argv[i++] = t->groups[g].channels[c];
    }
#undef NUM
    for (int k = 0; k < i; k++)
        argvlen[k] = strlen(argv[k]);
    op->bus = bus;
    op->cb = cb;
    op->arg = arg;
    rc = redis_link_argv(bus->cmd, txn_reply, op, i, argv, argvlen);
    if (rc == RELAY_OK)
        op = NULL; /* the reply callback owns it now */
out:
    free(op);
    free(numbers);
    free(argv);
    free(argvlen);
    return rc;
}

void bus_set_control_cb(struct bus *bus, bus_control_cb cb, void *arg)
{
    bus->control_cb = cb;
    bus->control_arg = arg;
}
