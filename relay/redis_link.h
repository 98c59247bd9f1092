/*
 * redis_link.h - one asynchronous Redis connection that heals itself.
 *
 * Wraps a hiredis async context attached to the process's libuv loop and
 * adds what hiredis 0.14 lacks: reconnection with exponential backoff and
 * jitter, a connect timeout, and a command timeout (a watchdog drops the
 * connection when the oldest unanswered command is older than the limit, so
 * a hung Redis is treated like a dead one). The relay keeps two links: one
 * for commands and one in subscribe mode (a connection in subscribe mode
 * cannot run other commands).
 *
 * Every command callback is called exactly once: with the reply, or with
 * NULL when the link failed or closed before the reply came.
 */
#ifndef RELAY_REDIS_LINK_H
#define RELAY_REDIS_LINK_H

#include <stddef.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

struct redis_link;

/* 'reply' is borrowed (freed by hiredis after the callback); NULL = failed. */
typedef void (*redis_reply_cb)(void *arg, redisReply *reply);
/* Called when the link comes up (up = 1) or goes down (up = 0). */
typedef void (*redis_state_cb)(void *arg, int up);

struct redis_link_options {
    const char *name;      /* for log lines: "cmd", "sub" */
    long timeout_ms;       /* command and connect timeout */
    long reconnect_min_ms; /* first retry delay */
    long reconnect_max_ms; /* backoff ceiling */
};

/* Parses "redis://HOST[:PORT]" (default port 6379). RELAY_EINVAL else. */
int redis_link_parse_url(const char *url, char *host, size_t hostlen,
                         int *port);

/*
 * Creates the link and starts connecting. 'host' is copied. state_cb may be
 * NULL. Returns NULL when out of memory.
 */
struct redis_link *redis_link_create(uv_loop_t *loop, const char *host,
                                     int port,
                                     const struct redis_link_options *opts,
                                     redis_state_cb state_cb, void *arg);

/*
 * Closes the connection (pending callbacks get NULL), stops reconnecting and
 * frees the link once its libuv handles have closed: the caller must let the
 * loop run afterwards. NULL is ignored.
 */
void redis_link_destroy(struct redis_link *l);

int redis_link_is_up(const struct redis_link *l);

/* Successful connects so far (the first one included). */
unsigned long redis_link_connects(const struct redis_link *l);

/*
 * Sends a command given as argv. RELAY_EUNAVAILABLE (callback not called)
 * when the link is down. Arguments are copied by hiredis.
 */
int redis_link_argv(struct redis_link *l, redis_reply_cb cb, void *arg,
                    int argc, const char **argv, const size_t *argvlen);

/* printf-style variant (hiredis formatting: %s, %b, %d, %lld ...). */
int redis_link_command(struct redis_link *l, redis_reply_cb cb, void *arg,
                       const char *fmt, ...);

/*
 * Subscribe-mode access: the raw context while up (NULL while down), for
 * SUBSCRIBE/UNSUBSCRIBE whose callbacks hiredis calls once per message.
 * Those commands are not covered by the command timeout.
 */
redisAsyncContext *redis_link_context(struct redis_link *l);

/* Drops the connection now and reconnects after backoff (e.g. because the
 * other link of the pair found Redis hung). */
void redis_link_reset(struct redis_link *l);

#endif
