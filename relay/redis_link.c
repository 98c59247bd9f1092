#include "redis_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include <sodium.h>

#include "error.h"
#include "log.h"

/* One command waiting for its reply; kept in send order. */
struct pending {
    struct pending *next, *prev;
    struct redis_link *link;
    redis_reply_cb cb;
    void *arg;
    uint64_t sent_ms;
};

struct redis_link {
    uv_loop_t *loop;
    char host[256];
    int port;
    struct redis_link_options opts;
    char name[16];
    redis_state_cb state_cb;
    void *state_arg;

    redisAsyncContext *ac; /* NULL while down */
    int up;                /* connect callback said OK */
    int closing;           /* destroy called: no reconnect */
    uint64_t connect_started_ms;
    long backoff_ms; /* next reconnect delay */

    struct pending *head, *tail; /* oldest first */

    uv_timer_t reconnect_timer;
    uv_timer_t watchdog_timer;
    int handles_open;       /* timers not yet closed */
    unsigned long connects; /* successful connects */
};

static void start_connect(struct redis_link *l);

/* ---- hiredis on libuv ----------------------------------------------------
 *
 * Our own copy of hiredis's libuv adapter. WHY: the one in Debian's
 * hiredis 0.14 (adapters/libuv.h) returns early when libuv reports a poll
 * error, so a reset connection or a refused connect is never handed to
 * hiredis and is only noticed by our command timeout, seconds later. Here
 * an error is passed on as the events we were waiting for (as hiredis 1.x
 * does), so hiredis reads or writes, sees the error and disconnects at
 * once.
 */
struct uv_events {
    redisAsyncContext *context;
    uv_poll_t handle;
    int events;
};

static void uv_events_poll(uv_poll_t *handle, int status, int events)
{
    struct uv_events *p = handle->data;
    int ev = status ? p->events : events;

    if (p->context && (ev & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
}

static void uv_events_update(struct uv_events *p)
{
    if (p->events)
        uv_poll_start(&p->handle, p->events, uv_events_poll);
    else
        uv_poll_stop(&p->handle);
}

static void uv_events_add_read(void *privdata)
{
    struct uv_events *p = privdata;

    p->events |= UV_READABLE;
    uv_events_update(p);
}

static void uv_events_del_read(void *privdata)
{
    struct uv_events *p = privdata;

    p->events &= ~UV_READABLE;
    uv_events_update(p);
}

static void uv_events_add_write(void *privdata)
{
    struct uv_events *p = privdata;

    p->events |= UV_WRITABLE;
    uv_events_update(p);
}

static void uv_events_del_write(void *privdata)
{
    struct uv_events *p = privdata;

    p->events &= ~UV_WRITABLE;
    uv_events_update(p);
}

static void uv_events_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void uv_events_cleanup(void *privdata)
{
    struct uv_events *p = privdata;

    p->context = NULL; /* the context is going away */
    uv_close((uv_handle_t *)&p->handle, uv_events_closed);
}

static int uv_events_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    struct uv_events *p;

    if (ac->ev.data)
        return REDIS_ERR;
    p = calloc(1, sizeof(*p));
    if (!p)
        return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return REDIS_ERR;
    }
    p->handle.data = p;
    p->context = ac;
    ac->ev.addRead = uv_events_add_read;
    ac->ev.delRead = uv_events_del_read;
    ac->ev.addWrite = uv_events_add_write;
    ac->ev.delWrite = uv_events_del_write;
    ac->ev.cleanup = uv_events_cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}

int redis_link_parse_url(const char *url, char *host, size_t hostlen, int *port)
{
    const char *p = url;
    const char *colon;
    size_t n;
    char *end;
    long v = 6379;

    if (strncmp(p, "redis://", 8) != 0)
        return RELAY_EINVAL;
    p += 8;
    colon = strrchr(p, ':');
    n = colon ? (size_t)(colon - p) : strlen(p);
    if (n == 0 || n >= hostlen)
        return RELAY_EINVAL;
    if (colon) {
        v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != '\0' || v < 1 || v > 65535)
            return RELAY_EINVAL;
    }
    memcpy(host, p, n);
    host[n] = '\0';
    *port = (int)v;
    return RELAY_OK;
}

static uint64_t now_ms(struct redis_link *l)
{
    return uv_now(l->loop);
}

static void set_state(struct redis_link *l, int up)
{
    if (l->up == up)
        return;
    l->up = up;
    if (l->state_cb)
        l->state_cb(l->state_arg, up);
}

static void reconnect_timer_cb(uv_timer_t *t)
{
    start_connect(t->data);
}

/* Backoff with +-20 % jitter so several relays do not reconnect in step. */
static void schedule_reconnect(struct redis_link *l)
{
    long delay = l->backoff_ms;
    long jitter = delay / 5;

    if (l->closing)
        return;
    if (jitter > 0)
        delay += (long)randombytes_uniform((uint32_t)(2 * jitter + 1)) - jitter;
    l->backoff_ms *= 2;
    if (l->backoff_ms > l->opts.reconnect_max_ms)
        l->backoff_ms = l->opts.reconnect_max_ms;
    uv_timer_start(&l->reconnect_timer, reconnect_timer_cb, (uint64_t)delay, 0);
}

static void unlink_pending(struct redis_link *l, struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
}

/* hiredis calls this once per command: with the reply, or NULL when the
 * context is freed with the command unanswered. */
static void reply_trampoline(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pending *p = privdata;
    struct redis_link *l = p->link;

    unlink_pending(l, p);
    p->cb(p->arg, r);
    free(p);
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct redis_link *l = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback returns. */
        log_warn("redis", "%s link: connect to %s:%d failed: %s", l->name,
                 l->host, l->port, ac->errstr);
        l->ac = NULL;
        schedule_reconnect(l);
        return;
    }
    log_info("redis", "%s link: connected to %s:%d", l->name, l->host, l->port);
    l->backoff_ms = l->opts.reconnect_min_ms;
    l->connects++;
    set_state(l, 1);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct redis_link *l = ac->data;

    l->ac = NULL;
    if (!l->closing)
        log_warn("redis", "%s link: disconnected from %s:%d", l->name, l->host,
                 l->port);
    set_state(l, 0);
    schedule_reconnect(l);
}

static void start_connect(struct redis_link *l)
{
    redisAsyncContext *ac;

    if (l->closing || l->ac)
        return;
    ac = redisAsyncConnect(l->host, l->port);
    if (!ac) {
        schedule_reconnect(l);
        return;
    }
    if (ac->err) {
        log_warn("redis", "%s link: cannot connect to %s:%d: %s", l->name,
                 l->host, l->port, ac->errstr);
        redisAsyncFree(ac);
        schedule_reconnect(l);
        return;
    }
    ac->data = l;
    if (uv_events_attach(ac, l->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(l);
        return;
    }
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
    l->ac = ac;
    l->connect_started_ms = now_ms(l);
}

/*
 * Frees the context from outside any hiredis callback. Pending callbacks
 * get NULL; the disconnect callback runs only if the link had connected,
 * so the down transition and the retry are done here for the other case.
 */
static void drop_connection(struct redis_link *l)
{
    redisAsyncContext *ac = l->ac;
    int was_up = l->up;

    if (!ac)
        return;
    redisAsyncFree(ac);
    if (!was_up || l->ac) {
        l->ac = NULL;
        set_state(l, 0);
        schedule_reconnect(l);
    }
}

/* Twice a second: a connect or a command older than the timeout means Redis
 * is unreachable or hung; drop the connection so callers get their NULL
 * replies (and posts their 'unavailable') instead of waiting forever. */
static void watchdog_cb(uv_timer_t *t)
{
    struct redis_link *l = t->data;
    uint64_t now = now_ms(l);

    if (!l->ac)
        return;
    if (!l->up && now - l->connect_started_ms > (uint64_t)l->opts.timeout_ms) {
        log_warn("redis", "%s link: connect to %s:%d timed out", l->name,
                 l->host, l->port);
        drop_connection(l);
        return;
    }
    if (l->head && now - l->head->sent_ms > (uint64_t)l->opts.timeout_ms) {
        log_warn("redis",
                 "%s link: command unanswered for %ld ms, "
                 "reconnecting",
                 l->name, l->opts.timeout_ms);
        drop_connection(l);
    }
}

struct redis_link *redis_link_create(uv_loop_t *loop, const char *host,
                                     int port,
                                     const struct redis_link_options *opts,
                                     redis_state_cb state_cb, void *arg)
{
    struct redis_link *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->loop = loop;
    snprintf(l->host, sizeof(l->host), "%s", host);
    l->port = port;
    l->opts = *opts;
    snprintf(l->name, sizeof(l->name), "%s", opts->name ? opts->name : "");
    l->opts.name = l->name;
    l->state_cb = state_cb;
    l->state_arg = arg;
    l->backoff_ms = opts->reconnect_min_ms;
    uv_timer_init(loop, &l->reconnect_timer);
    uv_timer_init(loop, &l->watchdog_timer);
    l->reconnect_timer.data = l;
    l->watchdog_timer.data = l;
    l->handles_open = 2;
    uv_timer_start(&l->watchdog_timer, watchdog_cb, 500, 500);
    start_connect(l);
    return l;
}

static void timer_closed(uv_handle_t *h)
{
    struct redis_link *l = h->data;

    if (--l->handles_open == 0)
        free(l);
}

void redis_link_destroy(struct redis_link *l)
{
    if (!l)
        return;
    l->closing = 1;
    l->state_cb = NULL;
    if (l->ac) {
        redisAsyncContext *ac = l->ac;

        l->ac = NULL;
        redisAsyncFree(ac);
    }
    uv_timer_stop(&l->reconnect_timer);
    uv_timer_stop(&l->watchdog_timer);
    uv_close((uv_handle_t *)&l->reconnect_timer, timer_closed);
    uv_close((uv_handle_t *)&l->watchdog_timer, timer_closed);
}

unsigned long redis_link_connects(const struct redis_link *l)
{
    return l->connects;
}

int redis_link_is_up(const struct redis_link *l)
{
    return l->ac != NULL && l->up;
}

static struct pending *new_pending(struct redis_link *l, redis_reply_cb cb,
                                   void *arg)
{
    struct pending *p = malloc(sizeof(*p));

    if (!p)
        return NULL;
    p->link = l;
    p->cb = cb;
    p->arg = arg;
    p->sent_ms = now_ms(l);
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    return p;
}

int redis_link_argv(struct redis_link *l, redis_reply_cb cb, void *arg,
                    int argc, const char **argv, const size_t *argvlen)
{
    struct pending *p;

    if (!redis_link_is_up(l))
        return RELAY_EUNAVAILABLE;
    p = new_pending(l, cb, arg);
    if (!p)
        return RELAY_ENOMEM;
    if (redisAsyncCommandArgv(l->ac, reply_trampoline, p, argc, argv,
                              argvlen) != REDIS_OK) {
        unlink_pending(l, p);
        free(p);
        return RELAY_EUNAVAILABLE;
    }
    return RELAY_OK;
}

int redis_link_command(struct redis_link *l, redis_reply_cb cb, void *arg,
                       const char *fmt, ...)
{
    struct pending *p;
    va_list ap;
    int rc;

    if (!redis_link_is_up(l))
        return RELAY_EUNAVAILABLE;
    p = new_pending(l, cb, arg);
    if (!p)
        return RELAY_ENOMEM;
    va_start(ap, fmt);
    rc = redisvAsyncCommand(l->ac, reply_trampoline, p, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        unlink_pending(l, p);
        free(p);
        return RELAY_EUNAVAILABLE;
    }
    return RELAY_OK;
}

redisAsyncContext *redis_link_context(struct redis_link *l)
{
    return redis_link_is_up(l) ? l->ac : NULL;
}

void redis_link_reset(struct redis_link *l)
{
    drop_connection(l);
}
