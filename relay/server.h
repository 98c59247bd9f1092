/*
 * server.h - HTTP and WebSocket on one port (libwebsockets on libuv).
 *
 * Routes: GET /ws (upgrade, subprotocol buurtrelay.v1), GET /healthz,
 * GET /readyz, GET /metrics, and the web UI's static files under /. The
 * upgrade is judged in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION, the
 * earliest point where headers are known (not CONFIRM_UPGRADE: see
 * CVE-2025-11677): path, Origin allow-list and bearer token.
 */
#ifndef RELAY_SERVER_H
#define RELAY_SERVER_H

#include "relay.h"

/* Creates the lws context on relay->loop, listening on the configured
 * address. RELAY_EIO when the port cannot be bound. */
int server_start(struct relay *relay);

/* Begins a graceful stop: every WebSocket is closed with 1001. */
void server_close_all(struct relay *relay);

/* Destroys the lws context (the loop must run afterwards). */
void server_stop(struct relay *relay);

#endif
