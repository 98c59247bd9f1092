/*
 * session.h - one WebSocket connection speaking buurtrelay.v1.
 *
 * A session is created when the upgrade completes and freed when the last
 * of its references goes: lws's (dropped on close) and one per request in
 * flight (auth, subscribe, post). Callbacks that arrive after the
 * connection closed find s->wsi == NULL and drop their answer; nothing is
 * ever freed inside its own callback chain.
 *
 * Writes: frames go into a bounded send queue (sendq.h) and are written one
 * per WRITEABLE callback, as lws requires. A client that lets the queue
 * pass send-queue-max is closed with 4008 "slow" and counted: it never
 * stalls anyone else, and it knows to reconnect with "since".
 */
#ifndef RELAY_SESSION_H
#define RELAY_SESSION_H

#include <stddef.h>

#include <libwebsockets.h>

#include "permissions.h"
#include "relay.h"
#include "token.h"

#define SESSION_CLOSE_SLOW 4008

/* lws per-connection storage (zeroed by lws). Shared by HTTP requests. */
struct pss {
    struct session *session; /* WebSocket: the session */
    int has_claims;          /* upgrade carried a valid token */
    struct token_claims claims;
    struct http_request_state *http; /* HTTP: request being answered */
    int conn_counted;                /* holds a per-IP connection slot */
    char ip[64];                     /* peer address of the upgrade */
};

/* Called from LWS_CALLBACK_ESTABLISHED. Returns -1 to refuse. */
int session_open(struct relay *relay, struct lws *wsi, struct pss *pss);

/* LWS_CALLBACK_RECEIVE: one fragment. Returns -1 to close the socket. */
int session_receive(struct session *s, const void *in, size_t len);

/* LWS_CALLBACK_SERVER_WRITEABLE. Returns -1 to close the socket. */
int session_writeable(struct session *s);

/* LWS_CALLBACK_CLOSED: the socket is gone; drops lws's reference. */
void session_closed(struct session *s);

/* Asks for the connection to be closed with 'code'/'reason' at the next
 * writeable point (safe from any callback). */
void session_close(struct session *s, int code, const char *reason);

/* Bytes waiting in every client's send queue (for /metrics). */
size_t session_queued_bytes(const struct relay *relay);

/* A pong from the peer: it is alive (keepalive). */
void session_pong(struct session *s);

/* The relay's own ping / idle-timeout walk over every connection (see
 * session.c keepalive_tick for why not lws's); stop closes the timer. */
void session_keepalive_start(struct relay *relay);
void session_keepalive_stop(struct relay *relay);

/* Asks every session to close (shutdown: 1001 "going away"). */
void session_close_all(struct relay *relay, int code, const char *reason);

/* Closes the sessions of a revoked token (jti, any user when user_id is
 * NULL) or of every token of user_id (jti NULL). */
void session_close_user(struct relay *relay, const char *user_id,
                        const char *jti);

#endif
