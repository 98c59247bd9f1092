/*
 * http_client.h - the process's one libcurl multi handle, on the libuv loop.
 *
 * All outbound HTTP (SMS gateways, chat APIs, webhooks) goes through one
 * struct http_client. WHY one: a single place bounds the requests in
 * flight, shares connections and DNS between adapters, and plugs curl's
 * sockets into the event loop (curl_multi_socket_action() with one
 * uv_poll_t per socket and one uv_timer_t), so nothing ever blocks the loop.
 *
 * Threading: everything runs on the loop's thread; nothing here is
 * thread-safe.
 *
 * Privacy: URLs and bodies may carry tokens or phone numbers, so this
 * module never logs them (only curl result codes and HTTP statuses).
 */
#ifndef RELAY_HTTP_CLIENT_H
#define RELAY_HTTP_CLIENT_H

#include <stddef.h>

#include <uv.h>

#define HTTP_CLIENT_BODY_MAX (1024 * 1024) /* response bytes kept */
#define HTTP_CLIENT_TIMEOUT_MS 10000       /* when a request says <= 0 */
#define HTTP_CLIENT_RETRY_AFTER_MAX 64     /* bytes of Retry-After, w/ NUL */

struct http_client;

/*
 * One request. Every pointer is borrowed for the duration of
 * http_client_send() only: the client copies what it needs, so the caller
 * may free or reuse all of it as soon as send returns.
 */
struct http_request {
    const char *method;         /* "GET", "POST", "PUT", "DELETE", ...;
                                   NULL: GET, or POST if there is a body */
    const char *url;            /* http:// or https:// only */
    const char *const *headers; /* "Name: value" strings, no CRLF */
    int nheaders;               /* entries in headers */
    const char *body;           /* request body or NULL */
    size_t body_len;            /* bytes of body */
    long timeout_ms;            /* whole transfer; <= 0: the default */
};

/*
 * Called exactly once per accepted request, on the loop thread, never from
 * inside http_client_send().
 *   rc:     RELAY_OK when an HTTP response arrived (whatever its status);
 *           RELAY_EUNAVAILABLE on connect/DNS/TLS failure, timeout, or when
 *           the client was destroyed with the request in flight;
 *           RELAY_ETOOBIG when the response body exceeded
 *           HTTP_CLIENT_BODY_MAX; RELAY_EIO for other transfer errors.
 *   status: the HTTP status if a status line arrived, else 0 (a timeout
 *           in the middle of a body gives a status with a failing rc).
 *   body/len: the response body, NUL-terminated for convenience (len
 *           excludes the NUL); "" and 0 when there is none. Borrowed: valid
 *           only during the call.
 *   retry_after: the Retry-After header's value as sent (seconds or an
 *           HTTP date), or NULL if absent. Borrowed, like body.
 * 'arg' stays the caller's: the client never frees it. The callback may
 * call http_client_send() (e.g. a follow-up request) and
 * http_client_close()/http_client_destroy().
 */
typedef void (*http_done_cb)(void *arg, int rc, long status, const char *body,
                             size_t len, const char *retry_after);

/* Called once when every handle of a closed client is closed. */
typedef void (*http_closed_cb)(void *arg);

/*
 * Creates the client on 'loop' (borrowed; it must outlive the client).
 * At most 'max_in_flight' (> 0) requests run or wait at once. Returns NULL
 * on bad arguments or when curl or libuv cannot be set up.
 */
struct http_client *http_client_create(uv_loop_t *loop, long max_in_flight);

/*
 * Starts a request. On RELAY_OK, 'cb' will be called exactly once with
 * 'arg'. Otherwise 'cb' is never called: RELAY_EFULL when max_in_flight
 * requests are already running, RELAY_EUNAVAILABLE while the client is
 * closing, RELAY_EINVAL for a NULL url/cb or a negative nheaders,
 * RELAY_ENOMEM.
 */
int http_client_send(struct http_client *c, const struct http_request *req,
                     http_done_cb cb, void *arg);

/* Requests started and not yet completed. */
long http_client_in_flight(const struct http_client *c);

/*
 * Closes the client: every request still in flight is cancelled and its
 * callback called, before this returns, with RELAY_EUNAVAILABLE; then the
 * curl handles are cleaned up and every uv handle is uv_close()d. The
 * memory is released from the last close callback, so the CALLER MUST RUN
 * THE LOOP afterwards (uv_run() until it returns 0 or 'closed' fires);
 * 'closed' (may be NULL) is called then with 'arg'. Safe to call from a
 * done callback (the close is finished when that callback returns). 'c'
 * must not be used after this call. NULL is accepted.
 */
void http_client_close(struct http_client *c, http_closed_cb closed, void *arg);

/* http_client_close(c, NULL, NULL). */
void http_client_destroy(struct http_client *c);

#endif
