/*
 * relay.h - the process: one libuv loop and what hangs off it.
 *
 * struct relay is created once in main.c and passed to the server, the
 * sessions and the bus callbacks. It owns the lws context (running on the
 * libuv loop as a "foreign" loop), the bus (two hiredis async links on the
 * same loop), the HTTP client (curl multi on the same loop) and the list of
 * live sessions. Nothing here blocks: long work (password hashing) goes to
 * the libuv thread pool.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stdint.h>

#include <libwebsockets.h>
#include <uv.h>

#include "bus.h"
#include "histogram.h"

#include "config.h"
#include "token.h"

struct session;
struct http_client;
struct case_timers;
struct areas;
struct audit;
struct ratelimit;
struct conn_limit;
struct outbox;
struct adapter_set;

/* Counters exported on /metrics. Plain integers: one thread. */
struct relay_metrics {
    unsigned long connections;       /* open WebSocket connections */
    unsigned long connections_total; /* accepted since start */
    unsigned long frames_in;
    unsigned long frames_out;
    unsigned long bytes_out;
    unsigned long errors_sent;      /* error frames sent */
    unsigned long closed_slow;      /* closed with 4008 */
    unsigned long closed_idle;      /* no frame or pong for idle-timeout */
    unsigned long closed_too_large; /* closed with 1009 */
    unsigned long upgrades_refused; /* 401/403 on the upgrade */
    unsigned long posts_acked;
    unsigned long posts_replayed; /* acked again from idempotency */
    unsigned long posts_failed;
    unsigned long rate_limited;    /* requests refused by a limiter */
    unsigned long subscriptions;   /* open subscriptions, all clients */
    struct histogram post_seconds; /* post received -> ack (Redis) */
};

struct relay {
    uv_loop_t *loop;
    struct relay_config cfg;
    unsigned char token_key[TOKEN_KEY_BYTES];
    int have_token_key;
    struct lws_context *lws;
    struct bus *bus;
    struct http_client *http;
    struct case_timers *timers;  /* escalation and retention jobs */
    struct areas *areas;         /* buurt geometry; NULL when none */
    char *areas_geojson;         /* all buurten for the map, built once */
    unsigned char pii_key[32];   /* master key: PII fields, audit key */
    struct audit *audit;         /* hash-chained audit trail writer */
    struct ratelimit *rl_frames; /* per user id or IP */
    struct ratelimit *rl_posts;  /* per user id */
    struct ratelimit *rl_anon;   /* anonymous posts per IP */
    struct ratelimit *rl_logins; /* login attempts per IP */
    struct ratelimit *rl_audit;  /* denial audit entries per IP */
    struct conn_limit *conns;    /* open WebSockets per IP */
    struct outbox *outbox;       /* SMS delivery; NULL: no adapter */
    const struct adapter_set *adapters; /* with the outbox; else NULL */
    /* Queue depths per adapter (index in adapters), polled for /metrics:
     * urgent, routine (stream lengths), retry (zset), dead (stream). */
    long long sms_depth[8][4];
    uv_timer_t sms_depth_timer;
    int sms_depth_timer_on; /* and fallback_timer (notify.c) */
    uv_timer_t fallback_timer;
    struct session *sessions; /* doubly linked, all live sessions */
    struct relay_metrics metrics;
    int shutting_down;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    uv_timer_t keepalive_timer; /* session.c: pings and idle timeouts */
    uint64_t drain_started_ms;  /* uv_now() when shutdown began */
    char listen_host[128];
    int listen_port;
};

#endif
