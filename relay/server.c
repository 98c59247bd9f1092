#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/socket.h>

#include "conn_limit.h"
#include "audit.h"
#include "error.h"

#include "guard.h"

#include "group_api.h"
#include "http_api.h"
#include "adapter.h"
#include "outbox.h"
#include "log.h"
#include "protocol.h"
#include "session.h"
#include "token.h"

static struct relay *relay_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- HTTP --------------------------------------------------------------- */

static int respond_json(struct lws *wsi, unsigned status, const char *json)
{
    return http_respond(wsi, status, "application/json", json, strlen(json));
}

static size_t outbox_metrics(struct relay *relay, char *out, size_t cap,
                             size_t off);

/* Prometheus text format, one counter or gauge per line. */
static int respond_metrics(struct lws *wsi, struct relay *relay)
{
    const struct relay_metrics *m = &relay->metrics;
    struct bus_stats b;
    char out[8192];
    int n;
    size_t off;
    struct audit_stats a;

    memset(&a, 0, sizeof(a));
    if (relay->audit)
        audit_stats(relay->audit, &a);
    bus_get_stats(relay->bus, &b);
    n = snprintf(out, sizeof(out),
                 "# TYPE buurtrelay_connections gauge\n"
                 "buurtrelay_connections %lu\n"
                 "# TYPE buurtrelay_connections_total counter\n"
                 "buurtrelay_connections_total %lu\n"
                 "# TYPE buurtrelay_frames_in_total counter\n"
                 "buurtrelay_frames_in_total %lu\n"
                 "# TYPE buurtrelay_frames_out_total counter\n"
                 "buurtrelay_frames_out_total %lu\n"
                 "# TYPE buurtrelay_bytes_out_total counter\n"
                 "buurtrelay_bytes_out_total %lu\n"
                 "# TYPE buurtrelay_errors_sent_total counter\n"
                 "buurtrelay_errors_sent_total %lu\n"
                 "# TYPE buurtrelay_closed_slow_total counter\n"
                 "buurtrelay_closed_slow_total %lu\n"
                 "# TYPE buurtrelay_closed_idle_total counter\n"
                 "buurtrelay_closed_idle_total %lu\n"
                 "# TYPE buurtrelay_closed_too_large_total counter\n"
                 "buurtrelay_closed_too_large_total %lu\n"
                 "# TYPE buurtrelay_upgrades_refused_total counter\n"
                 "buurtrelay_upgrades_refused_total %lu\n"
                 "# TYPE buurtrelay_posts_acked_total counter\n"
                 "buurtrelay_posts_acked_total %lu\n"
                 "# TYPE buurtrelay_posts_failed_total counter\n"
                 "buurtrelay_posts_failed_total %lu\n"
                 "# TYPE buurtrelay_rate_limited_total counter\n"
                 "buurtrelay_rate_limited_total %lu\n"
                 "# TYPE buurtrelay_channels gauge\n"
                 "buurtrelay_channels %lu\n"
                 "# TYPE buurtrelay_published_total counter\n"
                 "buurtrelay_published_total %lu\n"
                 "# TYPE buurtrelay_delivered_live_total counter\n"
                 "buurtrelay_delivered_live_total %lu\n"
                 "# TYPE buurtrelay_gaps_repaired_total counter\n"
                 "buurtrelay_gaps_repaired_total %lu\n"
                 "# TYPE buurtrelay_replays_total counter\n"
                 "buurtrelay_replays_total %lu\n"
                 "# TYPE buurtrelay_not_recovered_total counter\n"
                 "buurtrelay_not_recovered_total %lu\n"
                 "# TYPE buurtrelay_ready gauge\n"
                 "buurtrelay_ready %d\n",
                 m->connections, m->connections_total, m->frames_in,
                 m->frames_out, m->bytes_out, m->errors_sent, m->closed_slow,
                 m->closed_idle, m->closed_too_large, m->upgrades_refused,
                 m->posts_acked, m->posts_failed, m->rate_limited, b.channels,
                 b.published, b.delivered_live, b.gaps_repaired, b.replays,
                 b.not_recovered, bus_is_ready(relay->bus));
    off = n > 0 && (size_t)n < sizeof(out) ? (size_t)n : 0;
    n = snprintf(out + off, sizeof(out) - off,
                 "# TYPE buurtrelay_subscriptions gauge\n"
                 "buurtrelay_subscriptions %lu\n"
                 "# TYPE buurtrelay_send_queue_bytes gauge\n"
                 "buurtrelay_send_queue_bytes %zu\n"
                 "# TYPE buurtrelay_redis_connects_total counter\n"
                 "buurtrelay_redis_connects_total %lu\n"
                 "# TYPE buurtrelay_audit_written_total counter\n"
                 "buurtrelay_audit_written_total %llu\n"
                 "# TYPE buurtrelay_audit_dropped_total counter\n"
                 "buurtrelay_audit_dropped_total %llu\n"
                 "# TYPE buurtrelay_audit_queued gauge\n"
                 "buurtrelay_audit_queued %zu\n",
                 m->subscriptions, session_queued_bytes(relay),
                 b.redis_connects, (unsigned long long)a.written,
                 (unsigned long long)a.dropped, a.queued);
    if (n > 0 && off + (size_t)n < sizeof(out))
        off += (size_t)n;
    off = histogram_write(&m->post_seconds, "buurtrelay_post_seconds", out,
                          sizeof(out), off);
    off = outbox_metrics(relay, out, sizeof(out), off);
    n = (int)off;
    return http_respond(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4", out,
                        (size_t)n);
}

/* Per adapter: sends by outcome, whether the provider is failing now. */
static size_t adapter_metrics(struct relay *relay, char *out, size_t cap,
                              size_t off)
{
    struct outbox_adapter_health h;
    int n = snprintf(out + off, cap - off,
                     "# TYPE buurtrelay_adapter_sends_total counter\n"
                     "# TYPE buurtrelay_adapter_up gauge\n"
                     "# TYPE buurtrelay_adapter_consecutive_failures gauge\n");

    if (n > 0 && off + (size_t)n < cap)
        off += (size_t)n;
    for (int i = 0; outbox_adapter_health(relay->outbox, i, &h) == RELAY_OK;
         i++) {
        n = snprintf(out + off, cap - off,
                     "buurtrelay_adapter_sends_total{adapter=\"%s\","
                     "outcome=\"sent\"} %llu\n"
                     "buurtrelay_adapter_sends_total{adapter=\"%s\","
                     "outcome=\"retried\"} %llu\n"
                     "buurtrelay_adapter_sends_total{adapter=\"%s\","
                     "outcome=\"failed\"} %llu\n"
                     "buurtrelay_adapter_sends_total{adapter=\"%s\","
                     "outcome=\"dead\"} %llu\n"
                     "buurtrelay_adapter_up{adapter=\"%s\"} %d\n"
                     "buurtrelay_adapter_consecutive_failures{adapter=\"%s\"} "
                     "%lu\n",
                     h.name, (unsigned long long)h.sent, h.name,
                     (unsigned long long)h.retried, h.name,
                     (unsigned long long)h.failed, h.name,
                     (unsigned long long)h.dead, h.name, !h.failing, h.name,
                     h.consecutive_failures);
        if (n > 0 && off + (size_t)n < cap)
            off += (size_t)n;
    }
    return off;
}

/*
 * /readyz's "adapters": {"name": "up"|"failing"}. A failing provider
 * does not make the relay unready: posts are still taken and deliveries
 * wait in the outbox (retried, never lost); the state is there for the
 * operator's dashboards.
 */
static void adapters_status(struct relay *relay, char *status, size_t cap)
{
    struct outbox_adapter_health h;
    char part[512];
    size_t used = 0, len = strlen(status);
    int n;

    if (!relay->outbox || len < 2 || status[len - 1] != '}')
        return;
    part[0] = '\0';
    for (int i = 0; outbox_adapter_health(relay->outbox, i, &h) == RELAY_OK;
         i++) {
        n = snprintf(part + used, sizeof(part) - used, "%s\"%s\":\"%s\"",
                     i ? "," : "", h.name, h.failing ? "failing" : "up");
        if (n < 0 || used + (size_t)n >= sizeof(part))
            return; /* does not fit: the answer without them */
        used += (size_t)n;
    }
    if (len + used + 16 > cap)
        return;
    /* {"ready":true,...} -> {"ready":true,...,"adapters":{...}} */
    snprintf(status + len - 1, cap - len + 1, ",\"adapters\":{%s}}", part);
}

/* The outbox's counters, when SMS delivery is on. */
static size_t outbox_metrics(struct relay *relay, char *out, size_t cap,
                             size_t off)
{
    struct outbox_stats s;
    int n;

    if (!relay->outbox)
        return off;
    outbox_get_stats(relay->outbox, &s);
    n = snprintf(out + off, cap - off,
                 "# TYPE buurtrelay_outbox_ready gauge\n"
                 "buurtrelay_outbox_ready %d\n"
                 "# TYPE buurtrelay_outbox_deliveries_total counter\n"
                 "buurtrelay_outbox_deliveries_total{event=\"enqueued\"} %llu\n"
                 "buurtrelay_outbox_deliveries_total{event=\"duplicate\"} "
                 "%llu\n"
                 "buurtrelay_outbox_deliveries_total{event=\"sent\"} %llu\n"
                 "buurtrelay_outbox_deliveries_total{event=\"retried\"} %llu\n"
                 "buurtrelay_outbox_deliveries_total{event=\"failed\"} %llu\n"
                 "buurtrelay_outbox_deliveries_total{event=\"dead\"} %llu\n"
                 "buurtrelay_outbox_deliveries_total{event=\"claimed\"} %llu\n"
                 "# TYPE buurtrelay_outbox_reports_total counter\n"
                 "buurtrelay_outbox_reports_total %llu\n"
                 "# TYPE buurtrelay_outbox_replies_total counter\n"
                 "buurtrelay_outbox_replies_total %llu\n"
                 "# TYPE buurtrelay_outbox_forged_total counter\n"
                 "buurtrelay_outbox_forged_total %llu\n"
                 "# TYPE buurtrelay_outbox_rate_limited_total counter\n"
                 "buurtrelay_outbox_rate_limited_total %llu\n"
                 "# TYPE buurtrelay_outbox_in_flight gauge\n"
                 "buurtrelay_outbox_in_flight %lu\n",
                 outbox_is_ready(relay->outbox), (unsigned long long)s.enqueued,
                 (unsigned long long)s.duplicates, (unsigned long long)s.sent,
                 (unsigned long long)s.retried, (unsigned long long)s.failed,
                 (unsigned long long)s.dead, (unsigned long long)s.claimed,
                 (unsigned long long)s.reports, (unsigned long long)s.replies,
                 (unsigned long long)s.forged,
                 (unsigned long long)s.rate_limited, s.in_flight);
    if (n > 0 && off + (size_t)n < cap)
        off += (size_t)n;
    if (!relay->adapters)
        return off;
    off = adapter_metrics(relay, out, cap, off);
    n = snprintf(out + off, cap - off,
                 "# TYPE buurtrelay_outbox_queue_depth gauge\n");
    if (n > 0 && off + (size_t)n < cap)
        off += (size_t)n;
    for (int i = 0; i < relay->adapters->n && i < 8; i++) {
        static const char *const q[4] = {"urgent", "routine", "retry", "dead"};

        for (int w = 0; w < 4; w++) {
            n = snprintf(out + off, cap - off,
                         "buurtrelay_outbox_queue_depth{adapter=\"%s\","
                         "queue=\"%s\"} %lld\n",
                         relay->adapters->in[i]->ops->name, q[w],
                         relay->sms_depth[i][w]);
            if (n > 0 && off + (size_t)n < cap)
                off += (size_t)n;
        }
    }
    return off;
}

static int handle_http(struct lws *wsi, struct relay *relay, struct pss *pss)
{
    char uri[256];

    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_POST_URI) > 0) {
        if (strncmp(uri, "/hooks/", 7) == 0 &&
            http_api_hook_begin(relay, wsi, "POST", uri, &pss->http))
            return 0; /* the body follows */
        if (http_api_begin(relay, wsi, uri, &pss->http))
            return 0; /* the body follows */
        return respond_json(wsi, HTTP_STATUS_NOT_FOUND,
                            "{\"error\":\"not found\"}");
    }
    /* PUT only for webhooks: Matrix pushes application-service
     * transactions that way. */
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_PUT_URI) > 0) {
        if (strncmp(uri, "/hooks/", 7) == 0 &&
            http_api_hook_begin(relay, wsi, "PUT", uri, &pss->http))
            return 0; /* the body follows */
        return respond_json(wsi, HTTP_STATUS_NOT_FOUND,
                            "{\"error\":\"not found\"}");
    }
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_DELETE_URI) > 0) {
        if (strcmp(uri, "/api/v1/session") == 0)
            return http_api_logout(relay, wsi, &pss->http);
        if (strncmp(uri, "/api/v1/groups/", 15) == 0)
            return group_api_delete(relay, wsi, uri, &pss->http);
        return respond_json(wsi, HTTP_STATUS_NOT_FOUND,
                            "{\"error\":\"not found\"}");
    }
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return respond_json(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED,
                            "{\"error\":\"method not allowed\"}");
    if (strncmp(uri, "/hooks/", 7) == 0) {
        if (!http_api_hook_begin(relay, wsi, "GET", uri, &pss->http))
            return respond_json(wsi, HTTP_STATUS_NOT_FOUND,
                                "{\"error\":\"not found\"}");
        http_api_complete(pss->http);
        return 0;
    }
    if (strncmp(uri, "/api/v1/cases/", 14) == 0)
        return http_api_get_case(relay, wsi, uri, &pss->http);
    if (strcmp(uri, "/api/v1/groups") == 0)
        return group_api_get(relay, wsi, &pss->http);
    if (strncmp(uri, "/api/", 5) == 0) {
        int rc = http_api_get(relay, wsi, uri);

        if (rc != 1)
            return rc;
    }
    if (strcmp(uri, "/healthz") == 0)
        return respond_json(wsi, HTTP_STATUS_OK, "{\"status\":\"ok\"}");
    if (strcmp(uri, "/readyz") == 0) {
        char status[1024];

        bus_status(relay->bus, status, sizeof(status));
        if (relay->shutting_down)
            snprintf(status, sizeof(status),
                     "{\"ready\":false,\"shutting_down\":true}");
        if (relay->outbox && !outbox_is_ready(relay->outbox) &&
            !relay->shutting_down)
            snprintf(status, sizeof(status),
                     "{\"ready\":false,\"outbox\":\"redis not ready\"}");
        adapters_status(relay, status, sizeof(status));
        return respond_json(
            wsi,
            bus_is_ready(relay->bus) && !relay->shutting_down &&
                    (!relay->outbox || outbox_is_ready(relay->outbox))
                ? HTTP_STATUS_OK
                : HTTP_STATUS_SERVICE_UNAVAILABLE,
            status);
    }
    if (strcmp(uri, "/metrics") == 0)
        return respond_metrics(wsi, relay);
    return respond_json(wsi, HTTP_STATUS_NOT_FOUND,
                        "{\"error\":\"not found\"}");
}

/* ---- upgrade checks ----------------------------------------------------- */

/* Browsers send Origin; the relay's own pages are always allowed, other
 * origins only when listed in the config (cross-site WebSocket hijacking
 * otherwise). Non-browser clients send none. */
static int origin_allowed(struct lws *wsi, struct relay *relay)
{
    char origin[256], host[256], own[300];

    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return 1;
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return 0;
    if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0) {
        snprintf(own, sizeof(own), "http://%s", host);
        if (strcmp(origin, own) == 0)
            return 1;
        snprintf(own, sizeof(own), "https://%s", host);
        if (strcmp(origin, own) == 0)
            return 1;
    }
    for (int i = 0; i < relay->cfg.origin_count; i++)
        if (strcmp(origin, relay->cfg.origins[i]) == 0)
            return 1;
    return 0;
}

static int refuse_upgrade(struct lws *wsi, struct relay *relay, unsigned status,
                          const char *why)
{
    char resp[256];
    const char *text = status == HTTP_STATUS_UNAUTHORIZED ? "Unauthorized"
                       : status == HTTP_STATUS_FORBIDDEN  ? "Forbidden"
                       : status == HTTP_STATUS_NOT_FOUND  ? "Not Found"
                       : status == 429                    ? "Too Many Requests"
                                                          : "Unavailable";
    int n;

    relay->metrics.upgrades_refused++;
    log_info("server", "upgrade refused (%u): %s", status, why);
    /*
     * lws 4.1 offers no way to answer from this callback: a non-zero return
     * drops the connection, and output queued through lws is discarded with
     * it. The socket is fresh and the answer small, so one non-blocking
     * send() puts it in the kernel buffer before lws closes the socket.
     */
    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 %u %s\r\ncontent-type: text/plain\r\n"
                 "content-length: %zu\r\nconnection: close\r\n\r\n%s\n",
                 status, text, strlen(why) + 1, why);
    if (n > 0 && (size_t)n < sizeof(resp))
        (void)!send(lws_get_socket_fd(wsi), resp, (size_t)n,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    return -1;
}

/* Judges the upgrade before it completes: path, Origin, bearer token. */
static int check_upgrade(struct lws *wsi, struct relay *relay, struct pss *pss)
{
    char uri[64];
    char auth[TOKEN_MAX + 16];
    int n;

    if (relay->shutting_down)
        return refuse_upgrade(wsi, relay, HTTP_STATUS_SERVICE_UNAVAILABLE,
                              "shutting down");
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        strcmp(uri, "/ws") != 0)
        return refuse_upgrade(wsi, relay, HTTP_STATUS_NOT_FOUND,
                              "WebSocket endpoint is /ws");
    if (!origin_allowed(wsi, relay)) {
        guard_audit(relay, NULL, pss->ip, "deny.origin", "-", "denied");
        return refuse_upgrade(wsi, relay, HTTP_STATUS_FORBIDDEN,
                              "origin not allowed");
    }
    n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 0)
        return 0; /* anonymous */
    if (n >= (int)sizeof(auth) ||
        lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <=
            0 ||
        strncmp(auth, "Bearer ", 7) != 0 || !relay->have_token_key ||
        token_verify(relay->token_key, auth + 7, relay->cfg.token_audience,
                     (int64_t)time(NULL), &pss->claims) < 0) {
        guard_audit(relay, NULL, pss->ip, "token.refuse", "-", "denied");
        return refuse_upgrade(wsi, relay, HTTP_STATUS_UNAUTHORIZED,
                              "invalid or expired token");
    }
    pss->has_claims = 1;
    return 0;
}

/* The checks, then a per-IP connection slot (released at close). */
static int filter_upgrade(struct lws *wsi, struct relay *relay, struct pss *pss)
{
    int rc;

    lws_get_peer_simple(wsi, pss->ip, sizeof(pss->ip));
    if (check_upgrade(wsi, relay, pss) < 0)
        return -1;
    rc = conn_limit_acquire(relay->conns, pss->ip);
    if (rc == RELAY_ETOOBIG || rc == RELAY_EFULL) {
        relay->metrics.rate_limited++;
        guard_audit(relay, NULL, pss->ip, "deny.connections", "-", "denied");
        return refuse_upgrade(wsi, relay, 429, "too many connections");
    }
    pss->conn_counted = rc == RELAY_OK;
    return 0;
}

/* ---- the protocol callback ---------------------------------------------- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_HTTP:
        /* No per-connection storage: nothing can be served. */
        if (!pss)
            return -1;
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_RECEIVE_PONG:
    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    case LWS_CALLBACK_HTTP_WRITEABLE:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (!pss)
            return 0;
        break;
    default:
        break;
    }
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return filter_upgrade(wsi, relay_of(wsi), pss);
    case LWS_CALLBACK_ESTABLISHED:
        return session_open(relay_of(wsi), wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        if (!pss->session)
            return -1;
        return session_receive(pss->session, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss->session)
            return 0;
        return session_writeable(pss->session);
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss->session)
            session_pong(pss->session);
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (pss->session) {
            session_closed(pss->session);
            pss->session = NULL;
        }
        if (pss->conn_counted) {
            conn_limit_release(relay_of(wsi)->conns, pss->ip);
            pss->conn_counted = 0;
        }
        return 0;
    case LWS_CALLBACK_HTTP:
        return handle_http(wsi, relay_of(wsi), pss);
    case LWS_CALLBACK_HTTP_BODY:
        if (pss->http)
            http_api_body(pss->http, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (pss->http)
            http_api_complete(pss->http);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (pss->http)
            return http_api_writeable(&pss->http);
        break;
    case LWS_CALLBACK_CLOSED_HTTP:
        /* A connection closed before its request was read has no
         * per-session storage (browsers' preconnects, port scans). */
        if (pss)
            http_api_closed(&pss->http);
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/*
 * libwebsockets keeps a receive buffer of this size for every connection
 * from the upgrade on. WHY small: most connections are idle subscribers
 * whose frames (subscribe, ping) are a few hundred bytes; a larger frame
 * (a post, up to max-frame) arrives in pieces that session.c joins.
 * 512 bytes instead of 4 KiB saves 3.5 KiB on every idle connection
 * (scripts/bench S2: 9.1 -> about 5.7 KiB per connection).
 */
#define RX_BUFFER_BYTES 512

static struct lws_protocols protocols[] = {
    {PROTO_SUBPROTOCOL, callback, sizeof(struct pss), RX_BUFFER_BYTES, 0, NULL,
     0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Paths answered by the callback; everything else is a static file. */
static struct lws_http_mount mounts[6];

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);

    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    log_warn("lws", "%.*s", (int)n, line);
}

int server_start(struct relay *relay)
{
    struct lws_context_creation_info info;
    static const char *const cb_paths[] = {"/healthz", "/readyz", "/metrics",
                                           "/api", "/hooks"};
    void *foreign_loops[1];

    lws_set_log_level(LLL_ERR, lws_log_emit);
    memset(mounts, 0, sizeof(mounts));
    for (int i = 0; i < 5; i++) {
        mounts[i].mount_next = &mounts[i + 1];
        mounts[i].mountpoint = cb_paths[i];
        mounts[i].mountpoint_len = (unsigned char)strlen(cb_paths[i]);
        mounts[i].origin = PROTO_SUBPROTOCOL;
        mounts[i].origin_protocol = LWSMPRO_CALLBACK;
    }
    mounts[5].mountpoint = "/";
    mounts[5].mountpoint_len = 1;
    mounts[5].origin = relay->cfg.web_root;
    mounts[5].def = "index.html";
    mounts[5].origin_protocol = LWSMPRO_FILE;

    memset(&info, 0, sizeof(info));
    foreign_loops[0] = relay->loop;
    info.foreign_loops = foreign_loops;
    info.options =
        LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
        LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    info.port = relay->listen_port;
    info.iface = relay->listen_host;
    info.protocols = protocols;
    info.mounts = mounts;
    info.user = relay;
    info.pcontext = &relay->lws;
    /* No lws validity policy: the relay pings and times out idle
     * connections itself (session.c keepalive_tick says why). */
    info.timeout_secs = 10;
    /* The vhost explicitly: a context creates its default vhost even when
     * the port is taken (and only logs it), lws_create_vhost() says so. */
    info.options |= LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    relay->lws = lws_create_context(&info);
    if (!relay->lws || !lws_create_vhost(relay->lws, &info)) {
        log_error("server", "cannot listen on %s:%d", relay->listen_host,
                  relay->listen_port);
        if (relay->lws)
            lws_context_destroy(relay->lws);
        relay->lws = NULL;
        return RELAY_EIO;
    }
    return RELAY_OK;
}

void server_close_all(struct relay *relay)
{
    session_close_all(relay, LWS_CLOSE_STATUS_GOINGAWAY, "shutting down");
}

void server_stop(struct relay *relay)
{
    if (relay->lws)
        lws_context_destroy(relay->lws);
}
