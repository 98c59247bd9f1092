/*
 * http_client.c - libcurl's multi-socket interface driven by libuv.
 *
 * curl tells us which sockets to watch (on_curl_socket) and when to wake it
 * up (on_curl_timer); libuv tells curl when a socket is ready (on_poll) or
 * the timer fired (on_timer). After each such kick we collect finished
 * transfers (dispatch_done) and call their owners back.
 *
 * Lifetime: the client owns one uv_timer_t and one uv_poll_t per socket
 * curl asked to watch. uv handles can only be released from their close
 * callbacks, so http_client_close() cleans up curl at once but frees the
 * struct from the last close callback (see 'handles').
 */
#include "http_client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "error.h"
#include "log.h"

#ifndef RELAY_VERSION
#define RELAY_VERSION "dev"
#endif

#define BODY_INITIAL_CAP 4096

/* One uv_poll_t for one socket curl asked us to watch. */
struct http_sock {
    uv_poll_t poll;         /* poll.data points back here */
    curl_socket_t fd;       /* the socket */
    struct http_client *c;  /* owner */
    struct http_sock *next; /* in c->socks while not closing */
    struct http_sock **pprev;
};

/* One request in flight. Owns its easy handle, header list and response. */
struct http_xfer {
    struct http_client *c;
    CURL *easy;
    struct curl_slist *headers; /* our copy of the request headers */
    http_done_cb cb;
    void *arg;
    char *body;  /* response body, NUL-terminated */
    size_t len;  /* bytes in body */
    size_t cap;  /* bytes allocated for body */
    int too_big; /* body passed HTTP_CLIENT_BODY_MAX */
    int oom;     /* body buffer could not grow */
    char retry_after[HTTP_CLIENT_RETRY_AFTER_MAX];
    int has_retry_after;
    struct http_xfer *next; /* in c->xfers */
    struct http_xfer **pprev;
};

struct http_client {
    uv_loop_t *loop;         /* borrowed */
    CURLM *multi;            /* NULL once torn down */
    uv_timer_t timer;        /* curl's single timeout */
    long max_in_flight;      /* bound on 'in_flight' */
    long in_flight;          /* entries in 'xfers' */
    struct http_xfer *xfers; /* requests started, not yet called back */
    struct http_sock *socks; /* poll handles open and not closing */
    int handles;             /* uv handles not yet closed (timer + socks) */
    int dispatching;         /* >0 while done callbacks run */
    int closing;             /* http_client_close() was called */
    int torn_down;           /* curl released, handles closing */
    int in_multi_cleanup;    /* inside curl_multi_cleanup() */
    http_closed_cb closed;   /* called when the last handle closed */
    void *closed_arg;
};

static void teardown(struct http_client *c);

/* ---- Lists ------------------------------------------------------------ */

static void xfer_link(struct http_client *c, struct http_xfer *x)
{
    x->next = c->xfers;
    if (x->next)
        x->next->pprev = &x->next;
    x->pprev = &c->xfers;
    c->xfers = x;
    c->in_flight++;
}

static void xfer_unlink(struct http_client *c, struct http_xfer *x)
{
    *x->pprev = x->next;
    if (x->next)
        x->next->pprev = x->pprev;
    x->next = NULL;
    x->pprev = NULL;
    c->in_flight--;
}

/* Frees a transfer that is no longer in the multi handle. */
static void xfer_free(struct http_xfer *x)
{
    if (!x)
        return;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

/* ---- Handle lifetime -------------------------------------------------- */

/* Frees the client once it is torn down and its last handle has closed. */
static void maybe_free(struct http_client *c)
{
    http_closed_cb closed = c->closed;
    void *arg = c->closed_arg;

    if (!c->torn_down || c->handles > 0)
        return;
    free(c);
    curl_global_cleanup();
    if (closed)
        closed(arg);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct http_sock *s = h->data;
    struct http_client *c = s->c;

    free(s);
    c->handles--;
    maybe_free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct http_client *c = h->data;

    c->handles--;
    maybe_free(c);
}

/* Stops watching a socket; the memory goes in the close callback. */
static void sock_close(struct http_sock *s)
{
    *s->pprev = s->next;
    if (s->next)
        s->next->pprev = s->pprev;
    s->next = NULL;
    s->pprev = NULL;
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* ---- Completion ------------------------------------------------------- */

static int map_result(const struct http_xfer *x, CURLcode res)
{
    switch (res) {
    case CURLE_OK:
        return RELAY_OK;
    case CURLE_WRITE_ERROR:
        if (x->oom)
            return RELAY_ENOMEM;
        return x->too_big ? RELAY_ETOOBIG : RELAY_EIO;
    case CURLE_FILESIZE_EXCEEDED:
        return RELAY_ETOOBIG;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return RELAY_EUNAVAILABLE;
    default:
        return RELAY_EIO;
    }
}

/*
 * Calls the owner of a finished (or cancelled) transfer back, then frees
 * it. The transfer is already out of c->xfers and out of the multi handle,
 * so whatever the callback does to the client cannot reach it.
 */
static void xfer_finish(struct http_xfer *x, int rc, long status)
{
    const char *body = x->body ? x->body : "";

    x->cb(x->arg, rc, status, body, x->body ? x->len : 0,
          x->has_retry_after ? x->retry_after : NULL);
    xfer_free(x);
}

/*
 * Reports every transfer curl has finished. Done callbacks run here, so a
 * close requested by one of them is finished after the loop (never while
 * curl_multi_info_read() is iterating).
 */
static void dispatch_done(struct http_client *c)
{
    CURLMsg *msg;
    int pending;

    c->dispatching++;
    while (!c->closing && (msg = curl_multi_info_read(c->multi, &pending))) {
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct http_xfer *x = NULL;
        char *priv = NULL;
        long status = 0;
        int rc;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        x = (struct http_xfer *)priv;
        xfer_unlink(c, x);
        curl_multi_remove_handle(c->multi, easy);
        rc = map_result(x, res);
        if (rc < 0)
            log_debug("http", "transfer failed: %s (status %ld)",
                      curl_easy_strerror(res), status);
        xfer_finish(x, rc, status);
    }
    c->dispatching--;
    if (c->closing && c->dispatching == 0)
        teardown(c);
}

/* ---- curl -> libuv ---------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct http_sock *s = h->data;
    struct http_client *c = s->c;
    int flags = 0;
    int running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    /* 's' may be closed inside this call; it is freed only later. */
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    dispatch_done(c);
}

static void on_timer(uv_timer_t *t)
{
    struct http_client *c = t->data;
    int running;

    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    dispatch_done(c);
}

/*
 * CURLMOPT_SOCKETFUNCTION: start, change or stop watching socket 'fd'.
 * 'socketp' is the struct http_sock we attached with curl_multi_assign().
 */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                          void *socketp)
{
    struct http_client *c = userp;
    struct http_sock *s = socketp;
    int events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            sock_close(s);
            if (!c->in_multi_cleanup)
                curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            log_error("http", "cannot watch socket %d", (int)fd);
            free(s);
            return -1;
        }
        s->fd = fd;
        s->c = c;
        s->poll.data = s;
        s->next = c->socks;
        if (s->next)
            s->next->pprev = &s->next;
        s->pprev = &c->socks;
        c->socks = s;
        c->handles++;
        curl_multi_assign(c->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or stop the single timer. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http_client *c = userp;

    if (timeout_ms < 0 || c->closing)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- Per-transfer curl callbacks -------------------------------------- */

/* Appends response bytes, refusing (and so aborting) past the cap. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_xfer *x = userdata;
    size_t n = size * nmemb;

    if (n > HTTP_CLIENT_BODY_MAX - x->len) {
        x->too_big = 1;
        return 0;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : BODY_INITIAL_CAP;
        char *p;

        while (cap < x->len + n + 1)
            cap *= 2;
        if (cap > HTTP_CLIENT_BODY_MAX + 1)
            cap = HTTP_CLIENT_BODY_MAX + 1;
        p = realloc(x->body, cap);
        if (!p) {
            x->oom = 1;
            return 0;
        }
        x->body = p;
        x->cap = cap;
    }
    memcpy(x->body + x->len, ptr, n);
    x->len += n;
    x->body[x->len] = '\0';
    return n;
}

/* Keeps the Retry-After value of the final response. */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    static const char name[] = "retry-after:";
    struct http_xfer *x = userdata;
    size_t n = size * nitems;
    size_t start = sizeof(name) - 1;
    size_t end = n;
    size_t vlen;

    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue): forget the previous one */
        x->has_retry_after = 0;
        return n;
    }
    if (n < start || strncasecmp(buf, name, start) != 0)
        return n;
    while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
        start++;
    while (end > start && (buf[end - 1] == '\r' || buf[end - 1] == '\n' ||
                           buf[end - 1] == ' ' || buf[end - 1] == '\t'))
        end--;
    vlen = end - start;
    if (vlen > sizeof(x->retry_after) - 1)
        vlen = sizeof(x->retry_after) - 1;
    memcpy(x->retry_after, buf + start, vlen);
    x->retry_after[vlen] = '\0';
    x->has_retry_after = 1;
    return n;
}

/* ---- Public API ------------------------------------------------------- */

struct http_client *http_client_create(uv_loop_t *loop, long max_in_flight)
{
    struct http_client *c;

    if (!loop || max_in_flight <= 0)
        return NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        goto out_global_cleanup;
    c->multi = curl_multi_init();
    if (!c->multi)
        goto out_free;
    c->loop = loop;
    c->max_in_flight = max_in_flight;
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) !=
            CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) !=
            CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK)
        goto out_multi_cleanup;
    uv_timer_init(loop, &c->timer); /* cannot fail */
    c->timer.data = c;
    c->handles = 1;
    return c;

out_multi_cleanup:
    curl_multi_cleanup(c->multi);
out_free:
    free(c);
out_global_cleanup:
    curl_global_cleanup();
    return NULL;
}

long http_client_in_flight(const struct http_client *c)
{
    return c ? c->in_flight : 0;
}

/* Method names are HTTP tokens; we accept upper-case letters only. */
static int method_ok(const char *m)
{
    if (!*m)
        return 0;
    for (; *m; m++) {
        if (*m < 'A' || *m > 'Z')
            return 0;
    }
    return 1;
}

/* Builds our copy of the header list; refuses CR/LF (header injection). */
static int copy_headers(struct http_xfer *x, const struct http_request *req)
{
    int has_expect = 0;

    for (int i = 0; i < req->nheaders; i++) {
        const char *h = req->headers[i];
        struct curl_slist *l;

        if (!h || strpbrk(h, "\r\n"))
            return RELAY_EINVAL;
        if (strncasecmp(h, "Expect:", 7) == 0)
            has_expect = 1;
        l = curl_slist_append(x->headers, h);
        if (!l)
            return RELAY_ENOMEM;
        x->headers = l;
    }
    if (req->body && !has_expect) {
        /* no "Expect: 100-continue" round trip before the body */
        struct curl_slist *l = curl_slist_append(x->headers, "Expect:");

        if (!l)
            return RELAY_ENOMEM;
        x->headers = l;
    }
    return RELAY_OK;
}

/* Sets the method and body; curl copies the body (COPYPOSTFIELDS). */
static int set_method(CURL *e, const struct http_request *req)
{
    const char *m = req->method ? req->method : (req->body ? "POST" : "GET");
    CURLcode rc = CURLE_OK;

    if (!method_ok(m))
        return RELAY_EINVAL;
    if (strcmp(m, "GET") == 0 && !req->body)
        return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK
                   ? RELAY_OK
                   : RELAY_ENOMEM;
    if (strcmp(m, "HEAD") == 0 && !req->body)
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK
                   ? RELAY_OK
                   : RELAY_ENOMEM;
    if (req->body || strcmp(m, "POST") == 0) {
        rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                              (curl_off_t)(req->body ? req->body_len : 0));
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
                                  req->body ? req->body : "");
    }
    if (rc == CURLE_OK && strcmp(m, "POST") != 0)
        rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    return rc == CURLE_OK ? RELAY_OK : RELAY_ENOMEM;
}

static int set_options(struct http_xfer *x, const struct http_request *req)
{
    CURL *e = x->easy;
    long timeout =
        req->timeout_ms > 0 ? req->timeout_ms : HTTP_CLIENT_TIMEOUT_MS;

    if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
#endif
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)x) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                         (curl_off_t)HTTP_CLIENT_BODY_MAX) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USERAGENT, "buurtrelay/" RELAY_VERSION) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) != CURLE_OK)
        return RELAY_ENOMEM;
    return set_method(e, req);
}

int http_client_send(struct http_client *c, const struct http_request *req,
                     http_done_cb cb, void *arg)
{
    struct http_xfer *x;
    int rc;

    if (!c || !req || !req->url || !cb || req->nheaders < 0 ||
        (req->nheaders > 0 && !req->headers) ||
        (!req->body && req->body_len > 0))
        return RELAY_EINVAL;
    if (strncasecmp(req->url, "http://", 7) != 0 &&
        strncasecmp(req->url, "https://", 8) != 0)
        return RELAY_EINVAL;
    if (c->closing)
        return RELAY_EUNAVAILABLE;
    if (c->in_flight >= c->max_in_flight)
        return RELAY_EFULL;

    x = calloc(1, sizeof(*x));
    if (!x)
        return RELAY_ENOMEM;
    x->c = c;
    x->cb = cb;
    x->arg = arg;
    x->easy = curl_easy_init();
    if (!x->easy) {
        rc = RELAY_ENOMEM;
        goto out_free_xfer;
    }
    rc = copy_headers(x, req);
    if (rc < 0)
        goto out_free_xfer;
    rc = set_options(x, req);
    if (rc < 0)
        goto out_free_xfer;
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        rc = RELAY_ENOMEM;
        goto out_free_xfer;
    }
    xfer_link(c, x);
    return RELAY_OK;

out_free_xfer:
    xfer_free(x);
    return rc;
}

/*
 * Cancels what is in flight, releases curl and starts closing every uv
 * handle. Runs once, never inside dispatch_done()'s loop.
 */
static void teardown(struct http_client *c)
{
    struct http_xfer *x;

    if (c->torn_down)
        return;
    c->torn_down = 1;
    while ((x = c->xfers) != NULL) {
        xfer_unlink(c, x);
        curl_multi_remove_handle(c->multi, x->easy);
        xfer_finish(x, RELAY_EUNAVAILABLE, 0);
    }
    c->in_multi_cleanup = 1;
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_close(c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

void http_client_close(struct http_client *c, http_closed_cb closed, void *arg)
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    c->closed = closed;
    c->closed_arg = arg;
    if (c->dispatching == 0)
        teardown(c);
}

void http_client_destroy(struct http_client *c)
{
    http_client_close(c, NULL, NULL);
}
