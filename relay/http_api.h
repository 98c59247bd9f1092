/*
 * http_api.h - the REST endpoints: login and posting without a socket.
 *
 *   POST /api/v1/session  {"login","password"} -> 200 {"token","expires",
 *                         "user":{"id","role"}}; 401 for any bad login
 *                         (the same answer and roughly the same time for an
 *                         unknown login and a wrong password).
 *   POST /api/v1/areas/resolve {"area": AREA} -> {"buurten": [{code, name,
 *                         wijk, wijknaam, gemeente, residents: {ws, sms,
 *                         chat}}]}: what an alert to AREA would reach.
 *   POST /api/v1/posts    bearer token; body = a post object; optional
 *                         header Idempotency-Key (else the post is not
 *                         deduplicated) -> 200 with the ack frame, or the
 *                         error frame with a matching HTTP status.
 *
 * Requests are answered asynchronously: the body is collected (at most
 * max-frame bytes), the work runs (Redis; password checks on the libuv
 * thread pool, never on the loop), and the answer is written from
 * LWS_CALLBACK_HTTP_WRITEABLE. If the client goes away first, the request
 * state is orphaned and freed when its work completes.
 */
#ifndef RELAY_HTTP_API_H
#define RELAY_HTTP_API_H

#include <stddef.h>

#include <libwebsockets.h>

#include "relay.h"

struct http_request_state;

/* Prepares the login path's dummy hash. Call once at start-up (it blocks
 * for a moment). */
int http_api_init(void);

/* LWS_CALLBACK_HTTP for a POST to 'uri'. Returns 1 when the API owns the
 * request (state stored in *slot), 0 when the path is not an API path. */
int http_api_begin(struct relay *relay, struct lws *wsi, const char *uri,
                   struct http_request_state **slot);

/*
 * GET requests answered at once: /api/v1/areas[?code=WK..|GM..|BU..] (the
 * buurten as GeoJSON for the map) and /api/v1/postcode/{PC6}/{number}.
 * Returns 1 when 'uri' is not one of them, else lws's verdict.
 */
int http_api_get(struct relay *relay, struct lws *wsi, const char *uri);

/*
 * GET /api/v1/cases/{id} with a bearer token: the case and its events for
 * those entitled (police, admin, a BOA of its wijk: everything; the person
 * who reported or posted it: its states, notes and their own words).
 * Answered from LWS_CALLBACK_HTTP_WRITEABLE like the POST requests.
 */
int http_api_get_case(struct relay *relay, struct lws *wsi, const char *uri,
                      struct http_request_state **slot);

/* DELETE /api/v1/session: revokes the bearer token (logout). Answered
 * like the POST requests. */
int http_api_logout(struct relay *relay, struct lws *wsi,
                    struct http_request_state **slot);

/*
 * GET or POST /hooks/{adapter}/...: a provider's webhook (delivery
 * reports, status callbacks, incoming SMS), answered by the outbox. No
 * token or Origin check: the adapters authenticate. Returns 1 when the
 * request is taken (a POST's body follows; call http_api_complete() at
 * once for a GET), 0 when it is not a webhook path or memory ran out.
 */
int http_api_hook_begin(struct relay *relay, struct lws *wsi,
                        const char *method, const char *uri,
                        struct http_request_state **slot);

/* LWS_CALLBACK_HTTP_BODY. */
void http_api_body(struct http_request_state *r, const void *in, size_t len);

/* LWS_CALLBACK_HTTP_BODY_COMPLETION: starts the work. */
void http_api_complete(struct http_request_state *r);

/* LWS_CALLBACK_HTTP_WRITEABLE: writes the answer once it is ready; frees
 * the state (and clears *slot) after writing. Returns lws's verdict. */
int http_api_writeable(struct http_request_state **slot);

/* LWS_CALLBACK_CLOSED_HTTP: the client is gone. */
void http_api_closed(struct http_request_state **slot);

/* Writes a small complete HTTP response (headers and body). */
int http_respond(struct lws *wsi, unsigned status, const char *ctype,
                 const char *body, size_t len);

#endif
