#include "case_timers.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "log.h"
#include "post.h"
#include "redis_link.h"

#define TICK_MS 1000
#define LEASE_S 60
#define BATCH 20

/* KEYS [1] a deadline zset; ARGV [1] now, [2] lease end, [3] batch size.
 * Returns the due ids, each now leased until [2]. */
static const char claim_script[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1],"
    " 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "for _, id in ipairs(ids) do\n"
    "  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)\n"
    "end\n"
    "return ids\n";

struct case_timers {
    struct relay *relay;
    uv_timer_t timer;
};

struct claim {
    struct case_timers *t;
    enum post_system what;
};

static void job_done(void *arg, int rc, const struct proto_error *err,
                     const char *ack)
{
    if (rc < 0 && rc != RELAY_ENOTFOUND)
        log_warn("cases", "case job failed (%s); retried after the lease",
                 err ? err->code : "?");
}

static void claimed(void *arg, redisReply *r)
{
    struct claim *c = arg;

    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]->type != REDIS_REPLY_STRING)
                continue;
            if (c->what == POST_SYSTEM_ESCALATE)
                log_info("cases", "report %s escalates", r->element[i]->str);
            post_system(c->t->relay, c->what, r->element[i]->str, job_done,
                        NULL);
        }
    }
    free(c);
}

static void claim(struct case_timers *t, const char *set, enum post_system what)
{
    struct claim *c = malloc(sizeof(*c));
    long long now = (long long)time(NULL);

    if (!c)
        return;
    c->t = t;
    c->what = what;
    if (redis_link_command(bus_command_link(t->relay->bus), claimed, c,
                           "EVAL %s 1 %s %lld %lld %d", claim_script, set, now,
                           now + LEASE_S, BATCH) < 0)
        free(c);
}

static void tick(uv_timer_t *timer)
{
    struct case_timers *t = timer->data;

    if (!t->relay->bus || !bus_is_ready(t->relay->bus))
        return;
    claim(t, "esc:reports", POST_SYSTEM_ESCALATE);
    claim(t, "retention:cases", POST_SYSTEM_PURGE);
}

struct case_timers *case_timers_start(struct relay *relay)
{
    struct case_timers *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->relay = relay;
    uv_timer_init(relay->loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, tick, TICK_MS, TICK_MS);
    return t;
}

static void closed(uv_handle_t *h)
{
    free(h->data);
}

void case_timers_stop(struct case_timers *t)
{
    if (!t)
        return;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, closed);
}
