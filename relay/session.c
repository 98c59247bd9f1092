#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "auth.h"
#include "bus.h"
#include "error.h"
#include "guard.h"

#include "log.h"
#include "msgbuf.h"
#include "post.h"
#include "protocol.h"
#include "sendq.h"

/* lws 4.1 keeps the close opcode's write type internal (value 4); its ws
 * role maps it to a CLOSE frame. */
#define SESSION_WRITE_CLOSE ((enum lws_write_protocol)4)

_Static_assert(MSGBUF_HEADROOM >= LWS_PRE,
               "msgbuf headroom must fit the lws frame header");

/* One channel this connection is subscribed to. */
struct subscription {
    struct subscription *next;
    struct session *session;
    struct bus_sub *bus_sub; /* NULL once the bus dropped it */
    char channel[CHANNEL_NAME_MAX + 1];
    char ref[PROTO_REF_MAX + 1]; /* echoed in "subscribed" */
    int has_ref;
};

enum session_state {
    SESSION_OPEN,           /* anonymous or authenticated, reading */
    SESSION_AUTHENTICATING, /* account being read; reading paused */
};

struct session {
    struct session *next, *prev;
    struct relay *relay;
    struct lws *wsi; /* NULL after LWS_CALLBACK_CLOSED */
    unsigned refs;
    enum session_state state;
    struct user user;
    int authenticated;
    char auth_ref[PROTO_REF_MAX + 1]; /* ref of a pending auth frame */
    int auth_has_ref;
    int auth_from_header;
    struct sendq q;
    char *rx; /* message being assembled */
    size_t rxlen;
    size_t rxcap;
    int rx_binary;
    struct subscription *subs;
    int nsubs;
    int close_code; /* non-zero: close at next writeable */
    int close_sent; /* our close frame is written */
    char ip[64];    /* peer address, for per-IP limits */
    char close_reason[64];
    uint64_t last_rx_ms;   /* loop time of the last frame or pong */
    uint64_t next_ping_ms; /* loop time from which a quiet one is pinged */
    int ping_due;          /* write a ping at the next WRITEABLE */
    int kill;              /* idle: drop the socket at the next WRITEABLE */
};

static void session_unref(struct session *s);
static uint64_t ping_spread(const struct relay *relay);

/* ---- sending ------------------------------------------------------------ */

/* Queues a frame (takes a new reference). A full queue closes the
 * connection with 4008: see session.h. */
static void send_frame(struct session *s, struct msgbuf *m)
{
    if (!s->wsi || s->close_code)
        return;
    if (sendq_push(&s->q, m) < 0) {
        s->relay->metrics.closed_slow++;
        log_info("session",
                 "closing slow client (user %s): send queue "
                 "passed %zu bytes",
                 s->user.id[0] ? s->user.id : "-", s->q.max_bytes);
        /* Free the backlog now; the client resyncs with "since". */
        sendq_cleanup(&s->q);
        session_close(s, SESSION_CLOSE_SLOW, "slow");
        /* A reader that never drains its socket never becomes writeable:
         * do not let it hold the connection forever. */
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 10);
        return;
    }
    lws_callback_on_writable(s->wsi);
}

/* Queues a heap string from a proto_build_* function (consumed). */
static void send_string(struct session *s, char *str)
{
    struct msgbuf *m = msgbuf_from_string(str);

    if (!m) {
        session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "oom");
        return;
    }
    send_frame(s, m);
    msgbuf_unref(m);
}

static void send_error(struct session *s, const char *code, const char *msg,
                       const char *ref, const char *id)
{
    s->relay->metrics.errors_sent++;
    send_string(s, proto_build_error(code, msg, ref, id, -1));
}

static const char *code_for(int rc)
{
    switch (rc) {
    case RELAY_EAUTH:
        return PROTO_E_UNAUTHORIZED;
    case RELAY_EFORBIDDEN:
        return PROTO_E_FORBIDDEN;
    case RELAY_EINVAL:
        return PROTO_E_BAD_REQUEST;
    case RELAY_EUNAVAILABLE:
        return PROTO_E_UNAVAILABLE;
    case RELAY_ETOOBIG:
        return PROTO_E_TOO_LARGE;
    default:
        return PROTO_E_INTERNAL;
    }
}

void session_close(struct session *s, int code, const char *reason)
{
    if (!s->wsi || s->close_code)
        return;
    s->close_code = code;
    snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
    lws_callback_on_writable(s->wsi);
}

int session_writeable(struct session *s)
{
    struct msgbuf *m = sendq_peek(&s->q);

    if (s->kill)
        return -1;
    if (s->ping_due && !s->close_code) {
        unsigned char buf[LWS_PRE + 1];

        s->ping_due = 0;
        buf[LWS_PRE] = 'k'; /* lws sends no empty control frame */
        if (lws_write(s->wsi, buf + LWS_PRE, 1, LWS_WRITE_PING) < 0)
            return -1;
        if (m)
            lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (m) {
        int n = lws_write(s->wsi, (unsigned char *)msgbuf_payload(m), m->len,
                          LWS_WRITE_TEXT);

        if (n < (int)m->len)
            return -1;
        s->relay->metrics.frames_out++;
        s->relay->metrics.bytes_out += m->len;
        sendq_pop(&s->q);
        if (sendq_peek(&s->q) || s->close_code)
            lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (s->close_code && !s->close_sent) {
        /*
         * lws 4.1 treats -1 from WRITEABLE as a failed write and drops the
         * socket without a close frame, so the close frame is written here
         * and the peer's answer ends the connection (lws echoes its close).
         * If the peer never answers, the timeout ends it.
         */
        unsigned char buf[LWS_PRE + 2 + sizeof(s->close_reason)];
        size_t rlen = strlen(s->close_reason);

        buf[LWS_PRE] = (unsigned char)((s->close_code >> 8) & 0xff);
        buf[LWS_PRE + 1] = (unsigned char)(s->close_code & 0xff);
        memcpy(buf + LWS_PRE + 2, s->close_reason, rlen);
        s->close_sent = 1;
        if (lws_write(s->wsi, buf + LWS_PRE, 2 + rlen, SESSION_WRITE_CLOSE) < 0)
            return -1;
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
    }
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void welcome(struct session *s, const char *ref)
{
    const char *buurten[USER_AREAS_MAX];
    const char *wijken[USER_AREAS_MAX];

    for (int i = 0; i < s->user.nbuurten; i++)
        buurten[i] = s->user.buurten[i];
    for (int i = 0; i < s->user.nwijken; i++)
        wijken[i] = s->user.wijken[i];
    send_string(s, proto_build_welcome_wijken(
                       s->authenticated ? s->user.id : NULL,
                       role_name(s->user.role), buurten, s->user.nbuurten,
                       wijken, s->user.nwijken, ref));
}

static void auth_done(void *arg, int rc, const struct user *user)
{
    struct session *s = arg;
    const char *ref = s->auth_has_ref ? s->auth_ref : NULL;

    if (s->wsi && rc == RELAY_EAUTH)
        guard_audit(s->relay, NULL, s->ip, "token.refuse", "-", "denied");
    if (s->wsi) {
        if (rc == RELAY_OK) {
            s->user = *user;
            s->authenticated = 1;
            welcome(s, ref);
        } else if (s->auth_from_header) {
            /* The token looked valid but the account refuses it: the
             * client must not keep an anonymous connection it did not
             * ask for. */
            send_error(s, code_for(rc == RELAY_EUNAVAILABLE ? rc : RELAY_EAUTH),
                       rc == RELAY_EUNAVAILABLE
                           ? "cannot check the token now; reconnect"
                           : "token revoked or account disabled",
                       NULL, NULL);
            session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "unauthorized");
        } else {
            send_error(s, code_for(rc == RELAY_EUNAVAILABLE ? rc : RELAY_EAUTH),
                       rc == RELAY_EUNAVAILABLE
                           ? "cannot check the token now; retry"
                           : "token revoked or account disabled",
                       ref, NULL);
        }
        s->state = SESSION_OPEN;
        lws_rx_flow_control(s->wsi, 1);
    }
    session_unref(s);
}

/* Starts reading the account for verified claims; pauses reading so
 * frames sent right after the token are judged as that user. */
static int start_auth(struct session *s, const struct token_claims *claims)
{
    int rc = auth_load(bus_command_link(s->relay->bus), claims, auth_done, s);

    if (rc < 0)
        return rc;
    s->refs++;
    s->state = SESSION_AUTHENTICATING;
    lws_rx_flow_control(s->wsi, 0);
    return RELAY_OK;
}

int session_open(struct relay *relay, struct lws *wsi, struct pss *pss)
{
    struct session *s = calloc(1, sizeof(*s));

    if (!s)
        return -1;
    s->relay = relay;
    s->wsi = wsi;
    s->refs = 1;
    s->state = SESSION_OPEN;
    s->user.role = ROLE_ANONYMOUS;
    s->last_rx_ms = uv_now(relay->loop);
    s->next_ping_ms = s->last_rx_ms + ping_spread(relay);
    lws_get_peer_simple(wsi, s->ip, sizeof(s->ip));
    sendq_init(&s->q, (size_t)relay->cfg.send_queue_max);
    s->next = relay->sessions;
    if (relay->sessions)
        relay->sessions->prev = s;
    relay->sessions = s;
    pss->session = s;
    relay->metrics.connections++;
    relay->metrics.connections_total++;
    if (pss->has_claims) {
        s->auth_from_header = 1;
        if (start_auth(s, &pss->claims) < 0) {
            send_error(s, PROTO_E_UNAVAILABLE,
                       "cannot check the token now; reconnect", NULL, NULL);
            session_close(s, (enum lws_close_status)1013, "unavailable");
        }
    }
    if (relay->shutting_down)
        session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "shutting down");
    return 0;
}

static void drop_subscriptions(struct session *s)
{
    while (s->subs) {
        struct subscription *sub = s->subs;

        s->subs = sub->next;
        bus_unsubscribe(sub->bus_sub);
        free(sub);
        s->relay->metrics.subscriptions--;
    }
    s->nsubs = 0;
}

void session_closed(struct session *s)
{
    struct relay *relay = s->relay;

    s->wsi = NULL;
    drop_subscriptions(s);
    sendq_cleanup(&s->q);
    free(s->rx);
    s->rx = NULL;
    if (s->prev)
        s->prev->next = s->next;
    else
        relay->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    relay->metrics.connections--;
    session_unref(s);
}

static void session_unref(struct session *s)
{
    if (--s->refs == 0)
        free(s);
}

void session_close_user(struct relay *relay, const char *user_id,
                        const char *jti)
{
    for (struct session *s = relay->sessions; s; s = s->next) {
        if (!s->authenticated || (user_id && strcmp(s->user.id, user_id) != 0))
            continue;
        if (jti && strcmp(s->user.jti, jti) != 0)
            continue;
        send_error(s, PROTO_E_UNAUTHORIZED, "token revoked", NULL, NULL);
        session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "revoked");
    }
}

/* ---- subscribe ---------------------------------------------------------- */

static struct subscription *find_sub(struct session *s, const char *channel)
{
    for (struct subscription *sub = s->subs; sub; sub = sub->next)
        if (strcmp(sub->channel, channel) == 0)
            return sub;
    return NULL;
}

static void remove_sub(struct session *s, struct subscription *target)
{
    struct subscription **pp = &s->subs;

    while (*pp && *pp != target)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = target->next;
        s->nsubs--;
        s->relay->metrics.subscriptions--;
        free(target);
    }
}

static void sub_ready(void *arg, int rc, const char *epoch, uint64_t seq,
                      int recovered)
{
    struct subscription *sub = arg;
    struct session *s = sub->session;
    const char *ref = sub->has_ref ? sub->ref : NULL;

    if (rc < 0) {
        /* The bus freed its side already. */
        send_error(s, PROTO_E_UNAVAILABLE, "channel history unavailable; retry",
                   ref, NULL);
        remove_sub(s, sub);
        return;
    }
    send_string(
        s, proto_build_subscribed(sub->channel, epoch, seq, recovered, ref));
}

static void sub_message(void *arg, struct msgbuf *frame)
{
    struct subscription *sub = arg;

    send_frame(sub->session, frame);
}

static void handle_subscribe(struct session *s, const struct proto_request *r)
{
    const char *ref = r->has_ref ? r->ref : NULL;
    struct subscription *sub;
    int rc = perm_subscribe(&s->user, r->channel);

    if (rc < 0) {
        send_error(s, code_for(rc),
                   rc == RELAY_EAUTH ? "log in to subscribe to this channel"
                                     : "you may not subscribe to this channel",
                   ref, NULL);
        guard_audit(s->relay, &s->user, s->ip, "deny.subscribe", r->channel,
                    "denied");
        return;
    }
    /* Subscribing again (e.g. after seeing a seq gap) replaces the old
     * subscription, so the client gets one ordered stream. */
    sub = find_sub(s, r->channel);
    if (sub) {
        bus_unsubscribe(sub->bus_sub);
        remove_sub(s, sub);
    }
    if (s->nsubs >= s->relay->cfg.max_subscriptions) {
        char msg[96];

        snprintf(msg, sizeof(msg),
                 "at most %lld subscriptions per "
                 "connection",
                 s->relay->cfg.max_subscriptions);
        send_error(s, PROTO_E_TOO_LARGE, msg, ref, NULL);
        return;
    }
    sub = calloc(1, sizeof(*sub));
    if (!sub) {
        send_error(s, PROTO_E_INTERNAL, "out of memory", ref, NULL);
        return;
    }
    sub->session = s;
    snprintf(sub->channel, sizeof(sub->channel), "%s", r->channel);
    sub->has_ref = r->has_ref;
    if (r->has_ref)
        snprintf(sub->ref, sizeof(sub->ref), "%s", r->ref);
    sub->bus_sub =
        bus_subscribe(s->relay->bus, r->channel, r->has_since, r->since_epoch,
                      r->since_seq, sub_ready, sub_message, sub, &rc);
    if (!sub->bus_sub) {
        free(sub);
        send_error(s, code_for(rc),
                   "the relay cannot reach its store right now; retry", ref,
                   NULL);
        return;
    }
    sub->next = s->subs;
    s->subs = sub;
    s->nsubs++;
    s->relay->metrics.subscriptions++;
}

static void handle_unsubscribe(struct session *s, const struct proto_request *r)
{
    const char *ref = r->has_ref ? r->ref : NULL;
    struct subscription *sub = find_sub(s, r->channel);

    if (!sub) {
        send_error(s, PROTO_E_NOT_FOUND, "not subscribed to this channel", ref,
                   NULL);
        return;
    }
    bus_unsubscribe(sub->bus_sub);
    remove_sub(s, sub);
    send_string(s, proto_build_unsubscribed(r->channel, ref));
}

/* ---- post --------------------------------------------------------------- */

/* What a post in flight must remember to answer. */
struct post_ctx {
    struct session *session;
    char kind[16];
    uint64_t started_ns; /* uv_hrtime() when the post arrived */
    char id[PROTO_REF_MAX + 1];
    char ref[PROTO_REF_MAX + 1];
    int has_ref;
};

static void post_done(void *arg, int rc, const struct proto_error *err,
                      const char *ack_json)
{
    struct post_ctx *ctx = arg;
    struct session *s = ctx->session;
    const char *ref = ctx->has_ref ? ctx->ref : NULL;

    if (s->wsi) {
        if (rc == RELAY_OK) {
            s->relay->metrics.posts_acked++;
            histogram_observe(&s->relay->metrics.post_seconds,
                              (double)(uv_hrtime() - ctx->started_ns) / 1e9);
            if (s->user.role == ROLE_POLICE || s->user.role == ROLE_BOA ||
                s->user.role == ROLE_ADMIN) {
                /* Officers' actions are on the audit trail. */
                char action[32], case_id[65] = "-";
                const char *c = strstr(ack_json, "\"case\":\"");

                if (c)
                    sscanf(c + 8, "%64[A-Za-z0-9_-]", case_id);
                snprintf(action, sizeof(action), "post.%s", ctx->kind);
                guard_audit(s->relay, &s->user, s->ip, action, case_id, "ok");
            }
            send_string(s, post_build_ack(ack_json, ctx->id, ref));
        } else {
            s->relay->metrics.posts_failed++;
            s->relay->metrics.errors_sent++;
            send_string(s, proto_build_error_ex(err, ref, ctx->id));
        }
    }
    session_unref(s);
    free(ctx);
}

static void handle_post(struct session *s, const struct proto_request *r)
{
    const char *ref = r->has_ref ? r->ref : NULL;
    struct proto_post post;
    struct proto_error err;
    struct post_ctx *ctx;
    int rc;

    memset(&err, 0, sizeof(err));
    if (proto_parse_post(r->post, &post, &err) < 0) {
        send_error(s, err.code, err.message, ref, r->id);
        return;
    }
    rc = perm_post(&s->user, &post);
    if (rc < 0) {
        send_error(s, code_for(rc),
                   rc == RELAY_EAUTH ? "log in to post this"
                                     : "your role may not post this here",
                   ref, r->id);
        {
            char action[32];

            snprintf(action, sizeof(action), "deny.post.%s",
                     proto_post_kind_name(post.kind));
            guard_audit(s->relay, &s->user, s->ip, action,
                        post.case_id ? post.case_id : "-", "denied");
        }
        proto_post_cleanup(&post);
        return;
    }
    {
        int retry = 0;
        int limited =
            s->authenticated
                ? guard_take(s->relay, GUARD_POSTS, s->user.id, &retry)
                : guard_take(s->relay, GUARD_ANON_POSTS, s->ip, &retry);

        if (limited < 0) {
            s->relay->metrics.errors_sent++;
            send_string(s, proto_build_error(PROTO_E_RATE_LIMITED,
                                             "too many posts; retry later", ref,
                                             r->id, retry));
            proto_post_cleanup(&post);
            return;
        }
    }
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        send_error(s, PROTO_E_INTERNAL, "out of memory", ref, r->id);
        proto_post_cleanup(&post);
        return;
    }
    ctx->session = s;
    ctx->started_ns = uv_hrtime();
    snprintf(ctx->kind, sizeof(ctx->kind), "%s",
             proto_post_kind_name(post.kind));
    snprintf(ctx->id, sizeof(ctx->id), "%s", r->id);
    ctx->has_ref = r->has_ref;
    if (r->has_ref)
        snprintf(ctx->ref, sizeof(ctx->ref), "%s", r->ref);
    proto_post_cleanup(&post);
    memset(&err, 0, sizeof(err));
    /* The callback may run before post_submit returns (a post refused
     * without I/O): hold the reference it will drop first. */
    s->refs++;
    rc = post_submit(s->relay, &s->user, r->id, r->post, post_done, ctx, &err);
    if (rc < 0) {
        s->refs--;
        s->relay->metrics.posts_failed++;
        s->relay->metrics.errors_sent++;
        send_string(s, proto_build_error_ex(&err, ref, r->id));
        free(ctx);
        return;
    }
}

/* ---- frames ------------------------------------------------------------- */

static void handle_auth(struct session *s, const struct proto_request *r)
{
    const char *ref = r->has_ref ? r->ref : NULL;
    struct token_claims claims;
    int rc;

    if (s->authenticated) {
        send_error(s, PROTO_E_BAD_REQUEST, "already authenticated", ref, NULL);
        return;
    }
    if (!s->relay->have_token_key ||
        token_verify(s->relay->token_key, r->token,
                     s->relay->cfg.token_audience, (int64_t)time(NULL),
                     &claims) < 0) {
        send_error(s, PROTO_E_UNAUTHORIZED, "invalid or expired token", ref,
                   NULL);
        guard_audit(s->relay, NULL, s->ip, "token.refuse", "-", "denied");
        return;
    }
    s->auth_has_ref = r->has_ref;
    if (r->has_ref)
        snprintf(s->auth_ref, sizeof(s->auth_ref), "%s", r->ref);
    rc = start_auth(s, &claims);
    if (rc < 0)
        send_error(s, code_for(rc), "cannot check the token now; retry", ref,
                   NULL);
}

static void handle_frame(struct session *s, const char *buf, size_t len)
{
    struct proto_request r;
    struct proto_error err;

    s->relay->metrics.frames_in++;
    {
        int retry = 0;

        if (guard_take(s->relay, GUARD_FRAMES,
                       s->authenticated ? s->user.id : s->ip, &retry) < 0) {
            /* The frame is dropped unparsed: no ref to echo. */
            s->relay->metrics.errors_sent++;
            send_string(s, proto_build_error(PROTO_E_RATE_LIMITED,
                                             "too many frames; slow down", NULL,
                                             NULL, retry));
            return;
        }
    }
    memset(&r, 0, sizeof(r));
    if (proto_parse_request(buf, len, &r, &err) < 0) {
        send_error(s, err.code, err.message, r.has_ref ? r.ref : NULL,
                   r.id[0] ? r.id : NULL);
        return;
    }
    switch (r.type) {
    case PROTO_T_AUTH:
        handle_auth(s, &r);
        break;
    case PROTO_T_SUBSCRIBE:
        handle_subscribe(s, &r);
        break;
    case PROTO_T_UNSUBSCRIBE:
        handle_unsubscribe(s, &r);
        break;
    case PROTO_T_POST:
        handle_post(s, &r);
        break;
    case PROTO_T_READ:
        /* Read marks feed delivery tracking, which arrives with the
         * delivery engine; nothing is answered. */
        break;
    case PROTO_T_PING:
        send_string(s, proto_build_pong(r.has_ref ? r.ref : NULL));
        break;
    }
    proto_request_cleanup(&r);
}

int session_receive(struct session *s, const void *in, size_t len)
{
    s->last_rx_ms = uv_now(s->relay->loop);
    struct lws *wsi = s->wsi;
    size_t max = (size_t)s->relay->cfg.max_frame;

    if (s->close_code)
        return 0; /* closing: the peer's remaining frames are moot */
    if (s->rxlen == 0)
        s->rx_binary = lws_frame_is_binary(wsi);
    if (s->rxlen + len > max) {
        s->relay->metrics.closed_too_large++;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                         (unsigned char *)"too large", 9);
        return -1;
    }
    if (s->rxlen + len > s->rxcap) {
        size_t cap = s->rxcap ? s->rxcap : 1024;
        char *rx;

        while (cap < s->rxlen + len)
            cap *= 2;
        if (cap > max)
            cap = max;
        rx = realloc(s->rx, cap);
        if (!rx)
            return -1;
        s->rx = rx;
        s->rxcap = cap;
    }
    memcpy(s->rx + s->rxlen, in, len);
    s->rxlen += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    if (s->rx_binary)
        send_error(s, PROTO_E_BAD_REQUEST,
                   "frames must be UTF-8 JSON text frames", NULL, NULL);
    else
        handle_frame(s, s->rx, s->rxlen);
    s->rxlen = 0;
    /* Give back memory a single large frame took. */
    if (s->rxcap > 4096) {
        free(s->rx);
        s->rx = NULL;
        s->rxcap = 0;
    }
    return 0;
}

/* ---- keepalive ---------------------------------------------------------- */

/* ping-interval, less up to a quarter at random (ms). WHY: connections
 * made together (a reconnect storm, a benchmark) would otherwise all be
 * pinged in the same second, and all answer in the next. */
static uint64_t ping_spread(const struct relay *relay)
{
    uint64_t ms = (uint64_t)relay->cfg.ping_interval * 1000;

    return ms - randombytes_uniform((uint32_t)(ms / 4 + 1));
}

void session_pong(struct session *s)
{
    s->last_rx_ms = uv_now(s->relay->loop);
}

/*
 * Once a second over every connection: a ping to one that has been quiet
 * for ping-interval, and the end of one quiet for idle-timeout (a peer
 * that vanished without a FIN: no close frame can reach it). WHY here and
 * not lws's retry_and_idle_policy: lws 4.1 keeps every connection's
 * validity timer in one sorted list and re-sorts on activity, linear in
 * the number of connections; at 10,000 subscribers that halved the relay's
 * fan-out (scripts/bench S1). One walk a second is cheap and flat.
 */
static void keepalive_tick(uv_timer_t *t)
{
    struct relay *relay = t->data;
    uint64_t now = uv_now(relay->loop);
    uint64_t ping = (uint64_t)relay->cfg.ping_interval * 1000;
    uint64_t idle = (uint64_t)relay->cfg.idle_timeout * 1000;

    for (struct session *s = relay->sessions; s; s = s->next) {
        if (!s->wsi || s->close_code)
            continue;
        if (now - s->last_rx_ms >= idle) {
            log_info("session",
                     "closing idle connection (user %s): no "
                     "frame or pong for %lld s",
                     s->user.id[0] ? s->user.id : "-", relay->cfg.idle_timeout);
            relay->metrics.closed_idle++;
            /* no close frame: nobody is there to answer it. -1 from the
             * next WRITEABLE drops the socket at once (see
             * session_writeable); the timeout is there in case the
             * socket never becomes writeable. */
            s->close_code = LWS_CLOSE_STATUS_ABNORMAL_CLOSE;
            s->close_sent = 1;
            s->kill = 1;
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 5);
            lws_callback_on_writable(s->wsi);
        } else if (now - s->last_rx_ms >= ping - ping / 4 &&
                   now >= s->next_ping_ms) {
            s->next_ping_ms = now + ping_spread(relay);
            s->ping_due = 1;
            lws_callback_on_writable(s->wsi);
        }
    }
}

void session_keepalive_start(struct relay *relay)
{
    uv_timer_init(relay->loop, &relay->keepalive_timer);
    relay->keepalive_timer.data = relay;
    uv_timer_start(&relay->keepalive_timer, keepalive_tick, 1000, 1000);
}

void session_keepalive_stop(struct relay *relay)
{
    uv_timer_stop(&relay->keepalive_timer);
    uv_close((uv_handle_t *)&relay->keepalive_timer, NULL);
}

size_t session_queued_bytes(const struct relay *relay)
{
    size_t n = 0;

    for (const struct session *s = relay->sessions; s; s = s->next)
        n += s->q.bytes;
    return n;
}

void session_close_all(struct relay *relay, int code, const char *reason)
{
    for (struct session *s = relay->sessions; s; s = s->next)
        session_close(s, code, reason);
}
