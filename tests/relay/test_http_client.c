/*
 * test_http_client.c - relay/http_client.c against a loopback HTTP server
 * that runs on the same libuv loop (port 0, canned responses by path).
 *
 * Every test builds a fresh loop and ends by closing the client, stopping
 * the server and running the loop dry: uv_loop_close() returning 0 proves
 * that every uv handle the client opened was closed, and ASan's leak check
 * proves it was freed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "error.h"
#include "http_client.h"

#define SRV_BUF_MAX (256 * 1024)
#define BIG_BODY (HTTP_CLIENT_BODY_MAX + 512 * 1024)

/* ---- The loopback server ---------------------------------------------- */

struct srv;

struct srv_conn {
    uv_tcp_t tcp;
    struct srv *s;
    char buf[SRV_BUF_MAX + 1];
    size_t len;
    int closing;
    struct srv_conn *next;
};

struct srv {
    uv_tcp_t tcp;
    int port;
    char last_req[SRV_BUF_MAX + 1]; /* head and body of the last request */
    int requests;                   /* complete requests seen */
    int connections;                /* accepted, ever */
    struct srv_conn *conns;
};

struct srv_write {
    uv_write_t req;
    struct srv_conn *conn;
    int close_after; /* close the connection once written */
    char data[];
};

static void on_conn_closed(uv_handle_t *h)
{
    struct srv_conn *conn = h->data;
    struct srv_conn **pp = &conn->s->conns;

    while (*pp != conn)
        pp = &(*pp)->next;
    *pp = conn->next;
    free(conn);
}

static void conn_close(struct srv_conn *conn)
{
    if (conn->closing)
        return;
    conn->closing = 1;
    uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
    struct srv_write *w = (struct srv_write *)req;

    if (w->close_after || status < 0)
        conn_close(w->conn);
    free(w);
}

/* Writes 'len' bytes of 'data' and, if 'fill' > 0, that many 'x' bytes. */
static void srv_send(struct srv_conn *conn, const char *data, size_t len,
                     size_t fill, int close_after)
{
    struct srv_write *w = malloc(sizeof(*w) + len + fill);
    uv_buf_t buf;

    assert_non_null(w);
    w->conn = conn;
    w->close_after = close_after;
    memcpy(w->data, data, len);
    memset(w->data + len, 'x', fill);
    buf = uv_buf_init(w->data, (unsigned)(len + fill));
    if (uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, on_written) < 0) {
        free(w);
        conn_close(conn);
    }
}

/* Answers one complete request by its request line. */
static void srv_answer(struct srv_conn *conn, const char *req, size_t bodylen,
                       const char *body)
{
    char head[512];
    int n;

    if (strncmp(req, "GET /hello ", 11) == 0) {
        static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                "X-Server: loop\r\n\r\nhello";
        srv_send(conn, r, sizeof(r) - 1, 0, 0);
    } else if (strstr(req, " /echo ") != NULL) {
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n",
                     bodylen);
        srv_send(conn, head, (size_t)n, 0, 0);
        if (bodylen > 0)
            srv_send(conn, body, bodylen, 0, 0);
    } else if (strncmp(req, "GET /retry ", 11) == 0) {
        static const char r[] = "HTTP/1.1 429 Too Many Requests\r\n"
                                "retry-after:  120 \r\n"
                                "Content-Length: 4\r\n\r\nslow";
        srv_send(conn, r, sizeof(r) - 1, 0, 0);
    } else if (strncmp(req, "GET /big ", 9) == 0) {
        /* announced size above the cap: refused before any body byte */
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG_BODY);
        srv_send(conn, head, (size_t)n, BIG_BODY, 0);
    } else if (strncmp(req, "GET /bigstream ", 15) == 0) {
        /* no length, body until close: the write callback's cap */
        static const char r[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        srv_send(conn, r, sizeof(r) - 1, BIG_BODY, 1);
    } else if (strncmp(req, "GET /slow ", 10) == 0) {
        /* never answered */
    } else {
        static const char r[] = "HTTP/1.1 404 Not Found\r\n"
                                "Content-Length: 0\r\n\r\n";
        srv_send(conn, r, sizeof(r) - 1, 0, 0);
    }
}

/* Content-Length of a request head, 0 if absent. */
static size_t head_content_length(const char *head, size_t headlen)
{
    static const char name[] = "\r\ncontent-length:";

    for (size_t i = 0; i + sizeof(name) - 1 <= headlen; i++) {
        if (strncasecmp(head + i, name, sizeof(name) - 1) == 0)
            return (size_t)strtoul(head + i + sizeof(name) - 1, NULL, 10);
    }
    return 0;
}

static void srv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct srv_conn *conn = h->data;

    buf->base = conn->buf + conn->len;
    buf->len = SRV_BUF_MAX - conn->len;
}

static void srv_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct srv_conn *conn = st->data;

    if (nread < 0 || conn->len + (size_t)nread >= SRV_BUF_MAX) {
        conn_close(conn);
        return;
    }
    conn->len += (size_t)nread;
    conn->buf[conn->len] = '\0';
    for (;;) {
        char *end = strstr(conn->buf, "\r\n\r\n");
        size_t headlen;
        size_t bodylen;
        size_t total;

        if (!end)
            return;
        headlen = (size_t)(end - conn->buf) + 4;
        bodylen = head_content_length(conn->buf, headlen);
        total = headlen + bodylen;
        if (conn->len < total)
            return;
        memcpy(conn->s->last_req, conn->buf, total);
        conn->s->last_req[total] = '\0';
        conn->s->requests++;
        srv_answer(conn, conn->s->last_req, bodylen,
                   conn->s->last_req + headlen);
        memmove(conn->buf, conn->buf + total, conn->len - total);
        conn->len -= total;
        conn->buf[conn->len] = '\0';
    }
}

static void srv_on_connection(uv_stream_t *server, int status)
{
    struct srv *s = server->data;
    struct srv_conn *conn;

    if (status < 0)
        return;
    conn = calloc(1, sizeof(*conn));
    assert_non_null(conn);
    conn->s = s;
    uv_tcp_init(server->loop, &conn->tcp);
    conn->tcp.data = conn;
    conn->next = s->conns;
    s->conns = conn;
    if (uv_accept(server, (uv_stream_t *)&conn->tcp) != 0) {
        conn_close(conn);
        return;
    }
    s->connections++;
    uv_read_start((uv_stream_t *)&conn->tcp, srv_alloc, srv_read);
}

static void srv_start(uv_loop_t *loop, struct srv *s)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    memset(s, 0, sizeof(*s));
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_init(loop, &s->tcp), 0);
    s->tcp.data = s;
    assert_int_equal(uv_tcp_bind(&s->tcp, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 64, srv_on_connection),
                     0);
    assert_int_equal(
        uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&bound, &len), 0);
    s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void srv_stop(struct srv *s)
{
    for (struct srv_conn *c = s->conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&s->tcp, NULL);
}

/* ---- Fixture ---------------------------------------------------------- */

struct result {
    int called;
    int rc;
    long status;
    char body[256];
    size_t len;
    char retry_after[HTTP_CLIENT_RETRY_AFTER_MAX];
    int has_retry_after;
};

struct fx {
    uv_loop_t loop;
    struct srv srv;
    uv_timer_t guard;
    int timed_out;
    struct http_client *c;
    int closed;
    char urls[4][128]; /* url() results, used round-robin */
    int next_url;
};

static void on_done(void *arg, int rc, long status, const char *body,
                    size_t len, const char *retry_after)
{
    struct result *r = arg;

    r->called++;
    r->rc = rc;
    r->status = status;
    r->len = len;
    assert_non_null(body);
    assert_int_equal(body[len], '\0');
    snprintf(r->body, sizeof(r->body), "%s", body);
    r->has_retry_after = retry_after != NULL;
    if (retry_after)
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", retry_after);
}

static void on_closed(void *arg)
{
    struct fx *f = arg;

    f->closed++;
}

static void on_guard(uv_timer_t *t)
{
    struct fx *f = t->data;

    f->timed_out = 1;
}

/* Runs the loop until *flag reaches 'want'; fails the test after 10 s. */
static void run_until(struct fx *f, const int *flag, int want)
{
    f->timed_out = 0;
    uv_timer_start(&f->guard, on_guard, 10000, 0);
    while (*flag < want && !f->timed_out)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->guard);
    assert_false(f->timed_out);
}

/* The URL of 'path' on the loopback server; valid for 4 calls. */
static const char *url(struct fx *f, const char *path)
{
    char *u = f->urls[f->next_url++ % 4];

    snprintf(u, sizeof(f->urls[0]), "http://127.0.0.1:%d%s", f->srv.port, path);
    return u;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    srv_start(&f->loop, &f->srv);
    uv_timer_init(&f->loop, &f->guard);
    f->guard.data = f;
    f->c = http_client_create(&f->loop, 8);
    assert_non_null(f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    if (f->c) {
        http_client_close(f->c, on_closed, f);
        f->c = NULL;
    }
    srv_stop(&f->srv);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->closed, 1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* ---- Tests ------------------------------------------------------------ */

static void test_get(void **state)
{
    struct fx *f = *state;
    const char *headers[] = {"X-Test: yes", "Accept: text/plain"};
    struct http_request req = {
        .method = "GET",
        .url = url(f, "/hello"),
        .headers = headers,
        .nheaders = 2,
    };
    struct result r = {0};

    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_OK);
    assert_int_equal(http_client_in_flight(f->c), 1);
    assert_int_equal(r.called, 0); /* never from inside send */
    run_until(f, &r.called, 1);
    assert_int_equal(r.rc, RELAY_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_int_equal(r.len, 5);
    assert_false(r.has_retry_after);
    assert_int_equal(http_client_in_flight(f->c), 0);
    assert_non_null(strstr(f->srv.last_req, "GET /hello HTTP/1.1\r\n"));
    assert_non_null(strstr(f->srv.last_req, "\r\nX-Test: yes\r\n"));
    assert_non_null(strstr(f->srv.last_req, "\r\nAccept: text/plain\r\n"));
    assert_non_null(strstr(f->srv.last_req, "\r\nUser-Agent: buurtrelay/"));
}

static void test_post_copies_request(void **state)
{
    struct fx *f = *state;
    char body[] = "{\"text\":\"brand\"}";
    char hdr[] = "Content-Type: application/json";
    const char *headers[] = {hdr};
    char u[128];
    struct http_request req = {
        .method = "POST",
        .url = u,
        .headers = headers,
        .nheaders = 1,
        .body = body,
        .body_len = strlen(body),
    };
    struct result r = {0};

    snprintf(u, sizeof(u), "%s", url(f, "/echo"));
    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_OK);
    /* everything was copied: scribble over the caller's buffers */
    memset(body, '!', sizeof(body) - 1);
    memset(hdr, '!', sizeof(hdr) - 1);
    memset(u, 0, sizeof(u));
    run_until(f, &r.called, 1);
    assert_int_equal(r.rc, RELAY_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"text\":\"brand\"}");
    assert_non_null(strstr(f->srv.last_req, "POST /echo HTTP/1.1\r\n"));
    assert_non_null(
        strstr(f->srv.last_req, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(f->srv.last_req, "\r\nContent-Length: 16\r\n"));
    assert_null(strstr(f->srv.last_req, "Expect:"));
}

static void test_other_methods_and_binary_body(void **state)
{
    struct fx *f = *state;
    static const char body[] = {'a', '\0', 'b'};
    struct http_request put = {
        .method = "PUT",
        .url = url(f, "/echo"),
        .body = body,
        .body_len = sizeof(body),
    };
    struct http_request del = {.method = "DELETE", .url = url(f, "/echo")};
    struct http_request dflt = {
        .url = url(f, "/echo"), .body = "x", .body_len = 1};
    struct result r = {0};

    assert_int_equal(http_client_send(f->c, &put, on_done, &r), RELAY_OK);
    run_until(f, &r.called, 1);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.len, 3);
    assert_non_null(strstr(f->srv.last_req, "PUT /echo HTTP/1.1\r\n"));

    assert_int_equal(http_client_send(f->c, &del, on_done, &r), RELAY_OK);
    run_until(f, &r.called, 2);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.body, "");
    assert_non_null(strstr(f->srv.last_req, "DELETE /echo HTTP/1.1\r\n"));

    /* no method + a body = POST */
    assert_int_equal(http_client_send(f->c, &dflt, on_done, &r), RELAY_OK);
    run_until(f, &r.called, 3);
    assert_non_null(strstr(f->srv.last_req, "POST /echo HTTP/1.1\r\n"));
}

static void test_retry_after(void **state)
{
    struct fx *f = *state;
    struct http_request req = {.url = url(f, "/retry")};
    struct result r = {0};

    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_OK);
    run_until(f, &r.called, 1);
    assert_int_equal(r.rc, RELAY_OK);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.body, "slow");
    assert_true(r.has_retry_after);
    assert_string_equal(r.retry_after, "120");
}

static void test_timeout(void **state)
{
    struct fx *f = *state;
    struct http_request req = {.url = url(f, "/slow"), .timeout_ms = 200};
    struct result r = {0};
    uint64_t t0 = uv_now(&f->loop);
    uint64_t took;

    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_OK);
    run_until(f, &r.called, 1);
    uv_update_time(&f->loop);
    took = uv_now(&f->loop) - t0;
    assert_int_equal(r.rc, RELAY_EUNAVAILABLE);
    assert_int_equal(r.status, 0);
    assert_true(took >= 150);
    assert_true(took < 5000);
    assert_int_equal(f->srv.requests, 1);
}

static void test_connection_refused(void **state)
{
    struct fx *f = *state;
    struct http_request req = {.url = "http://127.0.0.1:1/x"};
    struct result r = {0};

    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_OK);
    run_until(f, &r.called, 1);
    assert_int_equal(r.rc, RELAY_EUNAVAILABLE);
    assert_int_equal(r.status, 0);
}

static void test_body_too_big(void **state)
{
    struct fx *f = *state;
    struct http_request big = {.url = url(f, "/big")};
    struct http_request stream = {.url = url(f, "/bigstream")};
    struct result r1 = {0};
    struct result r2 = {0};

    assert_int_equal(http_client_send(f->c, &big, on_done, &r1), RELAY_OK);
    assert_int_equal(http_client_send(f->c, &stream, on_done, &r2), RELAY_OK);
    run_until(f, &r1.called, 1);
    run_until(f, &r2.called, 1);
    assert_int_equal(r1.rc, RELAY_ETOOBIG);
    assert_int_equal(r1.status, 200);
    assert_int_equal(r2.rc, RELAY_ETOOBIG);
    assert_int_equal(r2.status, 200);
}

static void test_many_parallel_and_reuse(void **state)
{
    struct fx *f = *state;
    struct http_request req = {.url = url(f, "/hello")};
    struct result r[8];
    int done = 0;

    memset(r, 0, sizeof(r));
    for (int i = 0; i < 8; i++)
        assert_int_equal(http_client_send(f->c, &req, on_done, &r[i]),
                         RELAY_OK);
    while (done < 8) {
        run_until(f, &r[done].called, 1);
        done++;
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(r[i].rc, RELAY_OK);
        assert_string_equal(r[i].body, "hello");
    }
    assert_int_equal(f->srv.requests, 8);

    /* sequential requests reuse a kept-alive connection */
    {
        int before = f->srv.connections;
        struct result s = {0};

        for (int i = 1; i <= 3; i++) {
            assert_int_equal(http_client_send(f->c, &req, on_done, &s),
                             RELAY_OK);
            run_until(f, &s.called, i);
            assert_int_equal(s.rc, RELAY_OK);
        }
        assert_int_equal(f->srv.connections, before);
    }
}

static void test_max_in_flight_and_destroy(void **state)
{
    struct fx *f = *state;
    struct http_client *c = http_client_create(&f->loop, 2);
    struct http_request slow = {.url = url(f, "/slow")};
    struct result r[3];

    memset(r, 0, sizeof(r));
    assert_non_null(c);
    assert_int_equal(http_client_send(c, &slow, on_done, &r[0]), RELAY_OK);
    assert_int_equal(http_client_send(c, &slow, on_done, &r[1]), RELAY_OK);
    assert_int_equal(http_client_send(c, &slow, on_done, &r[2]), RELAY_EFULL);
    assert_int_equal(http_client_in_flight(c), 2);
    run_until(f, &f->srv.requests, 2); /* both really on the wire */

    http_client_destroy(c);
    /* cancelled synchronously, the refused one never called */
    assert_int_equal(r[0].called, 1);
    assert_int_equal(r[0].rc, RELAY_EUNAVAILABLE);
    assert_int_equal(r[0].status, 0);
    assert_int_equal(r[1].called, 1);
    assert_int_equal(r[1].rc, RELAY_EUNAVAILABLE);
    assert_int_equal(r[2].called, 0);
    /* teardown() runs the loop: its handles must all close */
}

static void test_close_notifies_after_loop(void **state)
{
    struct fx *f = *state;
    struct http_request req = {.url = url(f, "/slow")};
    struct result r = {0};
    int closed_before = f->closed;

    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_OK);
    run_until(f, &f->srv.requests, 1);
    http_client_close(f->c, on_closed, f);
    f->c = NULL;
    assert_int_equal(r.called, 1);
    assert_int_equal(r.rc, RELAY_EUNAVAILABLE);
    assert_int_equal(f->closed, closed_before); /* not yet: loop must run */
    run_until(f, &f->closed, closed_before + 1);
    /* teardown() expects one close; account for this one */
    f->c = http_client_create(&f->loop, 1);
    assert_non_null(f->c);
    f->closed--;
}

/* Done callback that closes the client it was called from. */
struct closer {
    struct fx *f;
    struct result r;
};

static void on_done_close(void *arg, int rc, long status, const char *body,
                          size_t len, const char *retry_after)
{
    struct closer *cl = arg;

    on_done(&cl->r, rc, status, body, len, retry_after);
    http_client_close(cl->f->c, on_closed, cl->f);
    cl->f->c = NULL;
}

static void test_close_from_callback(void **state)
{
    struct fx *f = *state;
    struct http_request hello = {.url = url(f, "/hello")};
    struct http_request slow = {.url = url(f, "/slow")};
    struct closer cl = {.f = f};
    struct result other = {0};

    assert_int_equal(http_client_send(f->c, &slow, on_done, &other), RELAY_OK);
    assert_int_equal(http_client_send(f->c, &hello, on_done_close, &cl),
                     RELAY_OK);
    run_until(f, &cl.r.called, 1);
    assert_int_equal(cl.r.rc, RELAY_OK);
    assert_int_equal(other.called, 1);
    assert_int_equal(other.rc, RELAY_EUNAVAILABLE);
    run_until(f, &f->closed, 1);
    f->c = http_client_create(&f->loop, 1);
    f->closed--;
}

/* Done callback that sends a follow-up request once. */
struct chain {
    struct fx *f;
    struct result first;
    struct result second;
};

static void on_done_chain(void *arg, int rc, long status, const char *body,
                          size_t len, const char *retry_after)
{
    struct chain *ch = arg;
    struct http_request next = {.url = url(ch->f, "/retry")};

    on_done(&ch->first, rc, status, body, len, retry_after);
    assert_int_equal(http_client_send(ch->f->c, &next, on_done, &ch->second),
                     RELAY_OK);
}

static void test_send_from_callback(void **state)
{
    struct fx *f = *state;
    struct http_request req = {.url = url(f, "/hello")};
    struct chain ch = {.f = f};

    assert_int_equal(http_client_send(f->c, &req, on_done_chain, &ch),
                     RELAY_OK);
    run_until(f, &ch.second.called, 1);
    assert_int_equal(ch.first.status, 200);
    assert_int_equal(ch.second.status, 429);
}

static void test_bad_arguments(void **state)
{
    struct fx *f = *state;
    const char *crlf[] = {"X-A: 1\r\nX-Injected: 1"};
    const char *null_hdr[] = {NULL};
    struct http_request req = {.url = url(f, "/hello")};
    struct result r = {0};

    assert_null(http_client_create(&f->loop, 0));
    assert_null(http_client_create(NULL, 4));
    assert_int_equal(http_client_send(f->c, NULL, on_done, &r), RELAY_EINVAL);
    assert_int_equal(http_client_send(f->c, &req, NULL, &r), RELAY_EINVAL);
    req.url = "file:///etc/passwd";
    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_EINVAL);
    req.url = "ftp://127.0.0.1/";
    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_EINVAL);
    req.url = url(f, "/hello");
    req.headers = crlf;
    req.nheaders = 1;
    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_EINVAL);
    req.headers = null_hdr;
    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_EINVAL);
    req.headers = NULL;
    req.nheaders = -1;
    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_EINVAL);
    req.nheaders = 0;
    req.method = "G T";
    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_EINVAL);
    req.method = "GET";
    req.body_len = 3;
    assert_int_equal(http_client_send(f->c, &req, on_done, &r), RELAY_EINVAL);
    assert_int_equal(http_client_in_flight(f->c), 0);
    assert_int_equal(r.called, 0);
    http_client_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_copies_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_methods_and_binary_body,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_body_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_parallel_and_reuse, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_in_flight_and_destroy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_notifies_after_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_send_from_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };

    /* the server writes to sockets the client may already have closed */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
