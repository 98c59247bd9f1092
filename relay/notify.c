/*
 * notify.c - see notify.h.
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "auth.h"
#include "bus.h"
#include "channel_pick.h"
#include "contacts.h"
#include "error.h"
#include "log.h"
#include "post.h"
#include "quiet_hours.h"
#include "redis_link.h"

#define PLAN_BUURTEN_MAX 64
#define FALLBACK_POLL_MS 1000
#define FALLBACK_BATCH "50"

struct notify_plan {
    struct notify_plan *next;
    const struct post_op *op; /* while planned; NULL once fired */
    struct relay *relay;
    char dcase[OUTBOX_ID_MAX + 1];
    char kind[16];
    char user_id[OUTBOX_ID_MAX + 1];
    char codes[PLAN_BUURTEN_MAX][11];
    int n;
    enum outbox_lane lane;
    int groups;
    char *text;
    size_t text_len;
};

static struct notify_plan *plans; /* planned, not yet fired */

static void plan_free(struct notify_plan *p)
{
    if (!p)
        return;
    free(p->text);
    free(p);
}

/* Takes the first plan of 'op' out of the list (NULL when none). */
static struct notify_plan *plan_take(const struct post_op *op)
{
    for (struct notify_plan **pp = &plans; *pp; pp = &(*pp)->next)
        if ((*pp)->op == op) {
            struct notify_plan *p = *pp;

            *pp = p->next;
            p->next = NULL;
            return p;
        }
    return NULL;
}

/* ---- Lua scripts ------------------------------------------------------ */

/* person(u): what channel choice needs of account u, as the 5-tuple
 * {id, channels, has phone '1'/'0', contact kinds, quiet}; nil for a
 * disabled or missing account. Shared by both scripts below. */
#define NOTIFY_LUA_PERSON                                                      \
    "local function person(u)\n"                                               \
    "  local f = redis.call('HMGET', 'user:' .. u, 'channels', 'phone',\n"     \
    "    'contact_kinds', 'quiet', 'disabled', 'role')\n"                      \
    "  if not f[6] or f[5] == '1' then return nil end\n"                       \
    "  return {u, f[1] or '', f[2] and '1' or '0', f[3] or '', f[4] or ''}\n"  \
    "end\n"

/*
 * Recipients. ARGV: 1 'buurten' | 'user', 2 groups '1'/'0', 3 the case,
 * 4 the delivery case, 5 ttl s, 6.. buurt codes (or the one user id).
 * Records the delivery case in notify:dcases:{case} (the case's delivery
 * summary: http_api.c). Returns {people, links}: people a flat list
 * of 5-tuples (id, channels, has phone '1'/'0', contact kinds, quiet);
 * links of 2-tuples (link id, adapter). Disabled accounts are skipped
 * (the buurt sets never hold them; a single user is checked).
 */
static const char recipients_script[] = NOTIFY_LUA_PERSON
    "local ids = {}\n"
    "redis.call('SADD', 'notify:dcases:' .. ARGV[3], ARGV[4])\n"
    "redis.call('EXPIRE', 'notify:dcases:' .. ARGV[3], ARGV[5])\n"
    "if ARGV[1] == 'user' then\n"
    "  ids = {ARGV[6]}\n"
    "else\n"
    "  local keys = {}\n"
    "  for i = 6, #ARGV do\n"
    "    keys[#keys + 1] = 'sms:buurt:' .. ARGV[i]\n"
    "    keys[#keys + 1] = 'chat:buurt:' .. ARGV[i]\n"
    "  end\n"
    "  if #keys > 0 then ids = redis.call('SUNION', unpack(keys)) end\n"
    "end\n"
    "local people = {}\n"
    "for _, u in ipairs(ids) do\n"
    "  local p = person(u)\n"
    "  if p then\n"
    "    for _, v in ipairs(p) do people[#people + 1] = v end\n"
    "  end\n"
    "end\n"
    "local links, seen = {}, {}\n"
    "if ARGV[1] == 'buurten' and ARGV[2] == '1' then\n"
    "  for i = 6, #ARGV do\n"
    "    for _, l in ipairs(redis.call('SMEMBERS', 'chatlinks:buurt:' ..\n"
    "        ARGV[i])) do\n"
    "      if not seen[l] then\n"
    "        seen[l] = true\n"
    "        local a = redis.call('HGET', 'chatlink:' .. l, 'adapter')\n"
    "        if a then\n"
    "          links[#links + 1] = l\n"
    "          links[#links + 1] = a\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {people, links}\n";

/* Due fallbacks. KEYS[1] notify:fallback. ARGV: 1 now ms, 2 limit.
 * Returns the members this call removed (another relay gets the rest). */
static const char fallback_take_script[] =
    "local out = {}\n"
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf',\n"
    "    ARGV[1], 'LIMIT', 0, ARGV[2])) do\n"
    "  if redis.call('ZREM', KEYS[1], m) == 1 then out[#out + 1] = m end\n"
    "end\n"
    "return out\n";

/*
 * One fallback. ARGV: 1 dcase, 2 user, 3.. adapter names. Returns
 * {person 5-tuple as in recipients (or {} when gone), states (one per
 * adapter, '' when it has no delivery), text or '', kind or ''}: the text
 * and kind of the person's first delivery of that notice.
 */
static const char fallback_state_script[] = NOTIFY_LUA_PERSON
    "local u = ARGV[2]\n"
    "local who = person(u) or {}\n"
    "local states, text, kind = {}, '', ''\n"
    "for i = 3, #ARGV do\n"
    "  local d = redis.call('GET', 'dlv:key:' .. ARGV[1] .. ':' .. u .. ':'\n"
    "    .. ARGV[i])\n"
    "  local st = ''\n"
    "  if d then\n"
    "    local h = redis.call('HMGET', 'dlv:d:' .. d, 'state', 'case',\n"
    "      'text', 'kind')\n"
    "    st = h[1] or ''\n"
    "    if text == '' and h[2] and h[3] then\n"
    "      text = redis.call('GET', 'dlv:txt:' .. h[2] .. ':' .. h[3]) or ''\n"
    "      kind = h[4] or ''\n"
    "    end\n"
    "  end\n"
    "  states[#states + 1] = st\n"
    "end\n"
    "return {who, states, text, kind}\n";

/* Unix ms until which a routine notice to this person waits (0: now). */
static long long held_until(const struct relay *relay, const char *quiet)
{
    struct quiet_hours q;
    time_t until;

    if (quiet_hours_parse(quiet[0] ? quiet : relay->cfg.quiet_hours, &q) < 0)
        return 0;
    until = quiet_hours_until(&q, time(NULL));
    return until > 0 ? (long long)until * 1000 : 0;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Checking and planning ------------------------------------------- */

int notify_check(struct relay *relay, const char *text, size_t len, char *msg,
                 size_t msglen)
{
    const struct adapter_set *set = relay->adapters;

    if (!relay->outbox || !set)
        return RELAY_OK;
    for (int i = 0; i < set->n; i++) {
        const struct adapter_instance *in = set->in[i];
        struct sms_info info;
        int rc =
            outbox_check_text(relay->outbox, in->ops->name, text, len, &info);

        if (rc == RELAY_ETOOBIG) {
            if (in->ops->caps & ADAPTER_CAP_SMS)
                snprintf(msg, msglen, "needs %u SMS parts (max %lld)",
                         info.parts, in->common.max_parts);
            else
                snprintf(msg, msglen, "longer than %zu characters for %s",
                         in->ops->max_text_chars, in->ops->name);
            return rc;
        }
        if (rc == RELAY_EINVAL) {
            snprintf(msg, msglen, "the text cannot be sent by %s",
                     in->ops->name);
            return rc;
        }
    }
    return RELAY_OK;
}

static int plan_add(struct post_op *op, const struct notify_spec *s)
{
    struct notify_plan *p;
    size_t len = strlen(s->text);

    if (!op->relay->outbox || (s->n <= 0 && !s->user_id))
        return RELAY_OK;
    p = calloc(1, sizeof(*p));
    if (!p || !(p->text = malloc(len + 1))) {
        free(p);
        return RELAY_ENOMEM;
    }
    memcpy(p->text, s->text, len + 1);
    p->text_len = len;
    p->op = op;
    p->relay = op->relay;
    p->lane = s->lane;
    p->groups = s->groups;
    snprintf(p->dcase, sizeof(p->dcase), "%s", s->dcase);
    snprintf(p->kind, sizeof(p->kind), "%s", s->kind ? s->kind : "notice");
    if (s->user_id)
        snprintf(p->user_id, sizeof(p->user_id), "%s", s->user_id);
    for (int i = 0; s->codes && i < s->n && p->n < PLAN_BUURTEN_MAX; i++)
        memcpy(p->codes[p->n++], s->codes[i], 11);
    /* keep the op's plans in order: appended */
    {
        struct notify_plan **pp = &plans;

        while (*pp)
            pp = &(*pp)->next;
        *pp = p;
    }
    return RELAY_OK;
}

int notify_compose(struct post_op *op, int plan, const struct notify_spec *spec)
{
    char msg[128];
    int rc;

    if (!spec->text) {
        op_fail(op, RELAY_ENOMEM, PROTO_E_INTERNAL, "out of memory");
        return RELAY_ENOMEM;
    }
    rc = notify_check(op->relay, spec->text, strlen(spec->text), msg,
                      sizeof(msg));
    if (rc == RELAY_ETOOBIG) {
        op_fail(op, rc, PROTO_E_TOO_LARGE, msg);
        return rc;
    }
    if (rc < 0) {
        op_fail(op, rc, PROTO_E_BAD_REQUEST, msg);
        return rc;
    }
    if (plan && plan_add(op, spec) < 0)
        log_warn("notify", "case %s: out of memory: no notices", spec->dcase);
    return RELAY_OK;
}

/* ---- Firing ------------------------------------------------------------ */

static void enqueued(void *arg, int rc, const char *delivery_id, int fresh)
{
    (void)arg;
    if (rc < 0)
        log_warn("notify", "delivery not confirmed by redis: %s",
                 relay_strerror(rc));
    else if (fresh)
        log_debug("notify", "delivery %s queued", delivery_id);
}

struct notice {
    struct relay *relay;
    const char *dcase, *kind, *text;
    size_t text_len;
    enum outbox_lane lane;
};

static int enqueue_to(const struct notice *nt, const char *recipient,
                      const struct adapter_instance *in, long long not_before)
{
    struct outbox_item it;
    int rc;

    memset(&it, 0, sizeof(it));
    it.case_id = nt->dcase;
    it.user_id = recipient;
    it.channel = in->ops->name;
    it.lane = nt->lane;
    it.text = nt->text;
    it.text_len = nt->text_len;
    it.kind = nt->kind;
    it.not_before_ms = not_before;
    rc = outbox_enqueue(nt->relay->outbox, &it, enqueued, NULL);
    if (rc < 0)
        log_warn("notify", "case %s: %s via %s not queued: %s", nt->dcase,
                 recipient, in->ops->name, relay_strerror(rc));
    return rc;
}

static void fallback_added(void *arg, redisReply *r)
{
    (void)arg;
    if (!r || r->type == REDIS_REPLY_ERROR)
        log_warn("notify", "a fallback was not stored (redis)");
}

/* Schedules the person's channel 'index' fallback-after seconds after
 * 'from_ms' (now, or the end of their quiet hours: the first channel
 * gets its full chance). */
static void schedule_fallback(struct relay *relay, const char *dcase,
                              const char *user, int index, long long from_ms)
{
    char member[2 * OUTBOX_ID_MAX + 16], due[24];

    snprintf(member, sizeof(member), "%s|%s|%d", dcase, user, index);
    snprintf(due, sizeof(due), "%lld",
             (from_ms > now_ms() ? from_ms : now_ms()) +
                 relay->cfg.fallback_after * 1000);
    if (redis_link_command(bus_command_link(relay->bus), fallback_added, NULL,
                           "ZADD notify:fallback %s %s", due, member) < 0)
        log_warn("notify", "case %s: user %s: no fallback (redis down)", dcase,
                 user);
}

/* One person of a recipients reply: the 5-tuple at r->element[i..]. */
static int notify_person(const struct notice *nt, const redisReply *const *f)
{
    const struct adapter_set *set = nt->relay->adapters;
    const struct adapter_instance *ch[CHANNELS_MAX];
    const char *user = f[0]->str;
    long long held;
    int n, queued = 0;

    if (f[0]->len > OUTBOX_ID_MAX)
        return 0;
    n = channel_pick(set, f[1]->str, f[2]->str[0] == '1', f[3]->str, ch);
    if (n == 0)
        return 0;
    if (nt->lane == OUTBOX_URGENT) {
        for (int i = 0; i < n; i++)
            queued += enqueue_to(nt, user, ch[i], 0) == RELAY_OK;
        return queued;
    }
    held = held_until(nt->relay, f[4]->str);
    queued = enqueue_to(nt, user, ch[0], held) == RELAY_OK;
    if (queued && n > 1)
        schedule_fallback(nt->relay, nt->dcase, user, 1, held);
    return queued;
}

static int all_strings(const redisReply *r, size_t from, size_t n)
{
    for (size_t i = from; i < from + n; i++)
        if (i >= r->elements || r->element[i]->type != REDIS_REPLY_STRING)
            return 0;
    return 1;
}

static void recipients_read(void *arg, redisReply *r)
{
    struct notify_plan *p = arg;
    const redisReply *people, *links;
    struct notice nt = {p->relay, p->dcase,    p->kind,
                        p->text,  p->text_len, p->lane};
    size_t persons = 0, groups = 0;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[1]->type != REDIS_REPLY_ARRAY || !p->relay->adapters) {
        log_warn("notify", "case %s: recipients not read: nothing queued",
                 p->dcase);
        plan_free(p);
        return;
    }
    people = r->element[0];
    links = r->element[1];
    for (size_t i = 0; i + 5 <= people->elements; i += 5)
        if (all_strings(people, i, 5))
            persons +=
                notify_person(&nt, (const redisReply *const *)people->element +
                                       i) > 0;
    for (size_t i = 0; i + 2 <= links->elements; i += 2) {
        const struct adapter_set *set = p->relay->adapters;
        char recipient[OUTBOX_ID_MAX + 1];

        if (!all_strings(links, i, 2))
            continue;
        snprintf(recipient, sizeof(recipient), "%s%s", OUTBOX_GROUP_PREFIX,
                 links->element[i]->str);
        for (int k = 0; k < set->n; k++)
            if (strcmp(set->in[k]->ops->name, links->element[i + 1]->str) ==
                    0 &&
                enqueue_to(&nt, recipient, set->in[k], 0) == RELAY_OK)
                groups++;
    }
    log_info("notify", "case %s (%s): %zu person(s), %zu group(s)", p->dcase,
             p->kind, persons, groups);
    plan_free(p);
}

static void fire_one(struct notify_plan *p)
{
    const char *argv[PLAN_BUURTEN_MAX + 9];
    size_t lens[PLAN_BUURTEN_MAX + 9];
    char base[65], ttl[24];
    int argc = 0;

    notify_case_of(p->dcase, base);
    snprintf(ttl, sizeof(ttl), "%lld", p->relay->cfg.outbox_ttl);

    argv[argc++] = "EVAL";
    argv[argc++] = recipients_script;
    argv[argc++] = "0";
    argv[argc++] = p->user_id[0] ? "user" : "buurten";
    argv[argc++] = p->groups ? "1" : "0";
    argv[argc++] = base;
    argv[argc++] = p->dcase;
    argv[argc++] = ttl;
    if (p->user_id[0])
        argv[argc++] = p->user_id;
    else
        for (int i = 0; i < p->n; i++)
            argv[argc++] = p->codes[i];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (redis_link_argv(bus_command_link(p->relay->bus), recipients_read, p,
                        argc, argv, lens) < 0) {
        log_warn("notify", "case %s: redis down, nothing queued", p->dcase);
        plan_free(p);
    }
}

void notify_fire(struct post_op *op, int send)
{
    struct notify_plan *p;

    while ((p = plan_take(op)) != NULL) {
        p->op = NULL;
        if (!send || !p->relay->bus || !p->relay->outbox)
            plan_free(p);
        else
            fire_one(p);
    }
}

/* ---- Fallback ---------------------------------------------------------- */

struct fallback {
    struct relay *relay;
    char dcase[OUTBOX_ID_MAX + 1];
    char user[OUTBOX_ID_MAX + 1];
    int index;
};

static int settled(const struct adapter_instance *in, const char *state)
{
    return strcmp(state, "delivered") == 0 || strcmp(state, "read") == 0 ||
           (strcmp(state, "sent") == 0 && !(in->ops->caps & ADAPTER_CAP_DLR));
}

static void fallback_read(void *arg, redisReply *r)
{
    struct fallback *fb = arg;
    const struct adapter_set *set = fb->relay->adapters;
    const struct adapter_instance *ch[CHANNELS_MAX];
    const redisReply *person, *states, *text, *kind;
    struct notice nt;
    long long held;
    int n;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4 || !set ||
        fb->relay->shutting_down)
        goto out;
    person = r->element[0];
    states = r->element[1];
    text = r->element[2];
    kind = r->element[3];
    if (person->type != REDIS_REPLY_ARRAY || person->elements != 5 ||
        !all_strings(person, 0, 5) || states->type != REDIS_REPLY_ARRAY ||
        states->elements != (size_t)set->n ||
        !all_strings(states, 0, states->elements) ||
        text->type != REDIS_REPLY_STRING || text->len == 0 ||
        kind->type != REDIS_REPLY_STRING)
        goto out; /* the person or the notice is gone */
    n = channel_pick(set, person->element[1]->str,
                     person->element[2]->str[0] == '1', person->element[3]->str,
                     ch);
    if (fb->index >= n)
        goto out;
    for (int i = 0; i < fb->index; i++)
        for (int k = 0; k < set->n; k++)
            if (set->in[k] == ch[i] &&
                settled(ch[i], states->element[k]->str)) {
                log_debug("notify", "case %s: user %s reached, no fallback",
                          fb->dcase, fb->user);
                goto out;
            }
    nt.relay = fb->relay;
    nt.dcase = fb->dcase;
    nt.kind = kind->len ? kind->str : "notice";
    nt.text = text->str;
    nt.text_len = text->len;
    nt.lane = OUTBOX_ROUTINE;
    log_info("notify", "case %s: user %s not reached, falling back to %s",
             fb->dcase, fb->user, ch[fb->index]->ops->name);
    held = held_until(fb->relay, person->element[4]->str);
    if (enqueue_to(&nt, fb->user, ch[fb->index], held) == RELAY_OK &&
        fb->index + 1 < n)
        schedule_fallback(fb->relay, fb->dcase, fb->user, fb->index + 1, held);
out:
    free(fb);
}

static void fallback_taken(void *arg, redisReply *r)
{
    struct relay *relay = arg;
    const struct adapter_set *set = relay->adapters;

    if (!r || r->type != REDIS_REPLY_ARRAY || !set || relay->shutting_down)
        return;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *m = r->element[i];
        const char *argv[6 + ADAPTER_SET_MAX];
        size_t lens[6 + ADAPTER_SET_MAX];
        struct fallback *fb;
        char *bar1, *bar2;
        int argc = 0;

        if (m->type != REDIS_REPLY_STRING || m->len > 2 * OUTBOX_ID_MAX + 8)
            continue;
        fb = calloc(1, sizeof(*fb));
        if (!fb)
            return;
        fb->relay = relay;
        bar1 = strchr(m->str, '|');
        bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (!bar2 || (size_t)(bar1 - m->str) > OUTBOX_ID_MAX ||
            (size_t)(bar2 - bar1 - 1) > OUTBOX_ID_MAX) {
            free(fb);
            continue;
        }
        memcpy(fb->dcase, m->str, (size_t)(bar1 - m->str));
        memcpy(fb->user, bar1 + 1, (size_t)(bar2 - bar1 - 1));
        fb->index = (int)strtol(bar2 + 1, NULL, 10);
        argv[argc++] = "EVAL";
        argv[argc++] = fallback_state_script;
        argv[argc++] = "0";
        argv[argc++] = fb->dcase;
        argv[argc++] = fb->user;
        for (int k = 0; k < set->n; k++)
            argv[argc++] = set->in[k]->ops->name;
        for (int k = 0; k < argc; k++)
            lens[k] = strlen(argv[k]);
        if (fb->index < 1 ||
            redis_link_argv(bus_command_link(relay->bus), fallback_read, fb,
                            argc, argv, lens) < 0)
            free(fb);
    }
}

static void fallback_tick(uv_timer_t *t)
{
    struct relay *relay = t->data;
    struct redis_link *link;
    char now[24];

    if (!relay->bus || relay->shutting_down)
        return;
    link = bus_command_link(relay->bus);
    if (!redis_link_is_up(link))
        return;
    snprintf(now, sizeof(now), "%lld", now_ms());
    redis_link_command(link, fallback_taken, relay, "EVAL %s 1 %s %s %s",
                       fallback_take_script, "notify:fallback", now,
                       FALLBACK_BATCH);
}

/* One line (fakesmsc and many phones show a newline poorly): parts
 * joined by ". ", or by " " after a part that ends in punctuation. */
char *notify_text(const char *prefix, const char *a, const char *b,
                  const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t len = strlen(prefix) + 1, off;
    char *out;

    for (int i = 0; i < 3; i++)
        if (parts[i])
            len += strlen(parts[i]) + 2;
    out = malloc(len);
    if (!out)
        return NULL;
    off = strlen(prefix);
    memcpy(out, prefix, off);
    for (int i = 0; i < 3; i++) {
        size_t n = parts[i] ? strlen(parts[i]) : 0;

        if (!n)
            continue;
        if (off > 0 && out[off - 1] != ' ') {
            if (!strchr(".!?:", out[off - 1]))
                out[off++] = '.';
            out[off++] = ' ';
        }
        memcpy(out + off, parts[i], n);
        off += n;
    }
    out[off] = '\0';
    return out;
}

void notify_case_of(const char *dcase, char out[65])
{
    size_t n = strcspn(dcase, "-");

    if (n > 64)
        n = 64;
    memcpy(out, dcase, n);
    out[n] = '\0';
}

/* ---- replies ----------------------------------------------------------- */

struct reply_tip {
    struct relay *relay;
    char post_id[OUTBOX_ID_MAX + 8];
    char case_id[65];
    char user_id[OUTBOX_ID_MAX + 1];
    char *text;
};

static void reply_free(struct reply_tip *t)
{
    free(t->text);
    free(t);
}

static void tip_done(void *arg, int rc, const struct proto_error *err,
                     const char *ack_json)
{
    struct reply_tip *t = arg;

    (void)ack_json;
    if (rc < 0)
        log_warn("notify", "reply %s: no tip on case %s: %s", t->post_id,
                 t->case_id, err && err->code ? err->code : "error");
    else
        log_info("notify", "reply %s: tip on case %s by user %s", t->post_id,
                 t->case_id, t->user_id);
    reply_free(t);
}

static void reply_post(struct reply_tip *t, const struct user *user);

static void reply_authed(void *arg, int rc, const struct user *user)
{
    struct reply_tip *t = arg;

    if (rc < 0) {
        log_info("notify", "reply %s: user %s not allowed (%s): inbox only",
                 t->post_id, t->user_id, relay_strerror(rc));
        reply_free(t);
        return;
    }
    reply_post(t, user);
}

/* Posts the reply as a tip by 'user' (an account, or anonymous). */
static void reply_post(struct reply_tip *t, const struct user *user)
{
    struct proto_error err;
    cJSON *post = cJSON_CreateObject();
    int rc;

    if (!post || !cJSON_AddStringToObject(post, "kind", "tip") ||
        !cJSON_AddStringToObject(post, "case", t->case_id) ||
        !cJSON_AddStringToObject(post, "body", t->text)) {
        cJSON_Delete(post);
        log_warn("notify", "reply %s: out of memory: inbox only", t->post_id);
        reply_free(t);
        return;
    }
    memset(&err, 0, sizeof(err));
    rc = post_submit(t->relay, user, t->post_id, post, tip_done, t, &err);
    cJSON_Delete(post);
    if (rc < 0) {
        log_warn("notify", "reply %s: no tip on case %s: %s", t->post_id,
                 t->case_id, err.code ? err.code : relay_strerror(rc));
        reply_free(t);
    }
}

void notify_reply(struct relay *relay, const struct outbox_reply *r)
{
    struct token_claims claims;
    struct reply_tip *t;
    int anonymous = !r->user_id && r->link_id;

    if ((!r->user_id && !anonymous) || !r->case_id || !r->text_len ||
        !relay->bus) {
        log_info("notify", "reply %s via %s: %s: inbox only", r->entry_id,
                 r->adapter,
                 r->user_id || r->link_id ? "no case" : "unknown sender");
        return;
    }
    t = calloc(1, sizeof(*t));
    if (!t || !(t->text = malloc(r->text_len + 1))) {
        free(t);
        log_warn("notify", "reply %s: out of memory: inbox only", r->entry_id);
        return;
    }
    memcpy(t->text, r->text, r->text_len);
    t->text[r->text_len] = '\0';
    t->relay = relay;
    snprintf(t->post_id, sizeof(t->post_id), "sms-%s", r->entry_id);
    notify_case_of(r->case_id, t->case_id);
    if (anonymous) {
        /* a member of a linked group we hold no account for: a tip like
         * one from the anonymous web form (the group link is in mo:inbox) */
        struct user anon;

        memset(&anon, 0, sizeof(anon));
        anon.role = ROLE_ANONYMOUS;
        snprintf(t->user_id, sizeof(t->user_id), "(group %s)", r->link_id);
        reply_post(t, &anon);
        return;
    }
    snprintf(t->user_id, sizeof(t->user_id), "%s", r->user_id);
    memset(&claims, 0, sizeof(claims));
    snprintf(claims.sub, sizeof(claims.sub), "%s", r->user_id);
    snprintf(claims.jti, sizeof(claims.jti), "sms-reply");
    claims.iat = (int64_t)time(NULL);
    claims.exp = claims.iat + 60;
    if (auth_load(bus_command_link(relay->bus), &claims, reply_authed, t) < 0) {
        log_warn("notify", "reply %s: redis down: inbox only", r->entry_id);
        reply_free(t);
    }
}

/* ---- queue depths for /metrics ------------------------------------------ */

#define DEPTH_POLL_MS 5000

/* Keys "{prefix}{adapter}{suffix}": urgent, routine, retry, dead. */
static const char *const depth_prefix[4] = {
    "outbox:", "outbox:", "outbox:", "dead:"};
static const char *const depth_suffix[4] = {":urgent", ":routine", ":retry",
                                            ""};

struct depth_req {
    struct relay *relay;
    int adapter;
    int which;
};

static void depth_read(void *arg, redisReply *r)
{
    struct depth_req *d = arg;

    if (r && r->type == REDIS_REPLY_INTEGER && d->adapter < 8)
        d->relay->sms_depth[d->adapter][d->which] = r->integer;
    free(d);
}

static void depth_tick(uv_timer_t *t)
{
    struct relay *relay = t->data;
    const struct adapter_set *set = relay->adapters;
    struct redis_link *link;

    if (!set || !relay->bus || relay->shutting_down)
        return;
    link = bus_command_link(relay->bus);
    if (!redis_link_is_up(link))
        return;
    for (int i = 0; i < set->n && i < 8; i++)
        for (int w = 0; w < 4; w++) {
            struct depth_req *d = malloc(sizeof(*d));
            char key[96];

            if (!d)
                return;
            d->relay = relay;
            d->adapter = i;
            d->which = w;
            snprintf(key, sizeof(key), "%s%s%s", depth_prefix[w],
                     set->in[i]->ops->name, depth_suffix[w]);
            if (redis_link_command(link, depth_read, d,
                                   w == 2 ? "ZCARD %s" : "XLEN %s", key) < 0)
                free(d);
        }
}

void notify_start(struct relay *relay)
{
    if (relay->sms_depth_timer_on || !relay->outbox)
        return;
    uv_timer_init(relay->loop, &relay->sms_depth_timer);
    relay->sms_depth_timer.data = relay;
    uv_timer_start(&relay->sms_depth_timer, depth_tick, 100, DEPTH_POLL_MS);
    uv_timer_init(relay->loop, &relay->fallback_timer);
    relay->fallback_timer.data = relay;
    uv_timer_start(&relay->fallback_timer, fallback_tick, FALLBACK_POLL_MS,
                   FALLBACK_POLL_MS);
    relay->sms_depth_timer_on = 1;
}

void notify_stop(struct relay *relay)
{
    if (!relay->sms_depth_timer_on)
        return;
    uv_timer_stop(&relay->sms_depth_timer);
    uv_close((uv_handle_t *)&relay->sms_depth_timer, NULL);
    uv_timer_stop(&relay->fallback_timer);
    uv_close((uv_handle_t *)&relay->fallback_timer, NULL);
    relay->sms_depth_timer_on = 0;
}
