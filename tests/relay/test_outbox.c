/*
 * test_outbox.c - relay/outbox.c against a real redis-server (started
 * here on a free loopback port, killed at the end), a fake adapter and a
 * fake provider: a loopback HTTP server on the test's own libuv loop that
 * answers each delivery from a plan ("500 200", "429:1 200", "hang 200").
 *
 * Covered: enqueue twice -> one send; 500 then 200 -> one send after the
 * backoff; 429 Retry-After respected; a hanging provider times out and
 * is retried; give-up -> dead letter; a pending entry of a dead consumer
 * reclaimed and sent once; a stale send marker -> dead letter, never a
 * second send; urgent before routine; anti-pumping prefix check; compose
 * time refusal of a too long text; delivery reports (forged ones refused,
 * late ones ignored) and an SMS reply tied to the user and the case.
 *
 * Skipped (not failed) when no redis-server is on PATH.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sodium.h>
#include <uv.h>

#include "adapter.h"
#include "error.h"
#include "http_client.h"
#include "outbox.h"
#include "pii.h"
#include "redis_fixture.h"

#define SRV_BUF_MAX (64 * 1024)
#define MAX_REQS 64
#define MAX_PLANS 16

/* ---- redis-server ------------------------------------------------------ */

static int redis_port;
static char redis_url[64];
static redisContext *R;
static unsigned char pii_key[PII_KEY_BYTES];

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(R, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static void cmd_ok(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(R, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

/* A string value ("" when nil) into out. */
static void get_str(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(R, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    out[0] = '\0';
    if (r->type == REDIS_REPLY_STRING)
        snprintf(out, n, "%s", r->str);
    freeReplyObject(r);
}

static long long get_int(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = -1;

    va_start(ap, fmt);
    r = redisvCommand(R, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    randombytes_buf(pii_key, sizeof(pii_key));
    if (redis_fixture_start(&redis_port, &R) < 0)
        return -1;
    snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", redis_port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_fixture_stop(R);
    R = NULL;
    return 0;
}

/* ---- The fake provider -------------------------------------------------- */

struct srv_conn {
    uv_tcp_t tcp;
    char buf[SRV_BUF_MAX + 1];
    size_t len;
    int closing;
    struct srv_conn *next;
};

struct req_log {
    char d[OUTBOX_ID_MAX + 1];
    char to[32];
    long long ms;
};

struct plan {
    char d[OUTBOX_ID_MAX + 1];
    char steps[8][16];
    int nsteps, next;
};

static struct {
    uv_tcp_t tcp;
    int port;
    struct srv_conn *conns;
    struct req_log reqs[MAX_REQS];
    int nreqs;
    struct plan plans[MAX_PLANS];
    int nplans;
} srv;

static long long wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Answers for delivery d, in order: "200", "500", "400", "429:S", "hang".
 * Past the end (or without a plan): 200. */
static void plan(const char *d, const char *steps)
{
    struct plan *p = &srv.plans[srv.nplans++];
    const char *s = steps;

    snprintf(p->d, sizeof(p->d), "%s", d);
    while (*s && p->nsteps < 8) {
        size_t n = strcspn(s, " ");

        snprintf(p->steps[p->nsteps++], sizeof(p->steps[0]), "%.*s", (int)n, s);
        s += n;
        s += strspn(s, " ");
    }
}

static const char *next_step(const char *d)
{
    for (int i = 0; i < srv.nplans; i++) {
        struct plan *p = &srv.plans[i];

        if (strcmp(p->d, d) == 0 && p->next < p->nsteps)
            return p->steps[p->next++];
    }
    return "200";
}

static int count_reqs(const char *d)
{
    int n = 0;

    for (int i = 0; i < srv.nreqs; i++)
        n += strcmp(srv.reqs[i].d, d) == 0;
    return n;
}

static void conn_closed(uv_handle_t *h)
{
    struct srv_conn *c = h->data, **pp = &srv.conns;

    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    free(c);
}

static void conn_close(struct srv_conn *c)
{
    if (!c->closing) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
}

struct srv_write {
    uv_write_t req;
    struct srv_conn *c;
    char data[512];
};

static void written(uv_write_t *w, int status)
{
    struct srv_write *sw = (struct srv_write *)w;

    conn_close(sw->c);
    free(sw);
}

static void answer(struct srv_conn *c, const char *body)
{
    char d[OUTBOX_ID_MAX + 1], to[32];
    const char *step;
    struct srv_write *w;
    int status = 200, n;
    char extra[64] = "";
    uv_buf_t b;

    if (adapter_form_get(body, strlen(body), "d", d, sizeof(d), NULL) < 0)
        snprintf(d, sizeof(d), "?");
    if (adapter_form_get(body, strlen(body), "to", to, sizeof(to), NULL) < 0)
        to[0] = '\0';
    if (srv.nreqs < MAX_REQS) {
        snprintf(srv.reqs[srv.nreqs].d, sizeof(srv.reqs[0].d), "%s", d);
        snprintf(srv.reqs[srv.nreqs].to, sizeof(srv.reqs[0].to), "%s", to);
        srv.reqs[srv.nreqs].ms = wall_ms();
        srv.nreqs++;
    }
    step = next_step(d);
    if (strcmp(step, "hang") == 0)
        return;
    status = (int)strtol(step, NULL, 10);
    if (strncmp(step, "429:", 4) == 0)
        snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", step + 4);
    w = malloc(sizeof(*w));
    assert_non_null(w);
    w->c = c;
    n = snprintf(w->data, sizeof(w->data),
                 "HTTP/1.1 %d X\r\n%sContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n",
                 status, extra);
    b = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, written) < 0) {
        free(w);
        conn_close(c);
    }
}

static size_t content_length(const char *head)
{
    static const char name[] = "\r\ncontent-length:";

    for (const char *p = head; *p; p++) {
        if (strncasecmp(p, name, sizeof(name) - 1) == 0)
            return (size_t)strtoul(p + sizeof(name) - 1, NULL, 10);
    }
    return 0;
}

static void srv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct srv_conn *c = h->data;

    buf->base = c->buf + c->len;
    buf->len = SRV_BUF_MAX - c->len;
}

static void srv_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct srv_conn *c = st->data;
    char *end;
    size_t head, body;

    if (nread < 0 || c->len + (size_t)nread >= SRV_BUF_MAX) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    c->buf[c->len] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return;
    head = (size_t)(end - c->buf) + 4;
    body = content_length(c->buf);
    if (c->len < head + body)
        return;
    uv_read_stop(st);
    answer(c, c->buf + head);
}

static void srv_conn_cb(uv_stream_t *server, int status)
{
    struct srv_conn *c;

    if (status < 0)
        return;
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->next = srv.conns;
    srv.conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, srv_alloc, srv_read);
}

static void srv_start(uv_loop_t *loop)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);

    memset(&srv, 0, sizeof(srv));
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_init(loop, &srv.tcp), 0);
    assert_int_equal(uv_tcp_bind(&srv.tcp, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&srv.tcp, 64, srv_conn_cb), 0);
    assert_int_equal(
        uv_tcp_getsockname(&srv.tcp, (struct sockaddr *)&bound, &len), 0);
    srv.port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void srv_stop(void)
{
    for (struct srv_conn *c = srv.conns; c; c = c->next)
        conn_close(c);
    uv_close((uv_handle_t *)&srv.tcp, NULL);
}

/* ---- The fake adapter ---------------------------------------------------- */

/*
 * POST http://127.0.0.1:{srv.port}/send with body d=&to=&text=. Replies:
 * 2xx sent ("P-{d}"), 429 and 5xx retry (Retry-After honoured), other
 * 4xx failed. Webhooks: /hooks/fake/status?d=&s=&sig=ok (anything but
 * sig=ok is forged) and /hooks/fake/mo?id=&from=&text=&sig=ok.
 */
struct fake {
    int unused;
};

static int fake_build(void *priv, const struct adapter_msg *msg,
                      struct adapter_request *req)
{
    struct adapter_buf url = {0}, body = {0};
    char port[16], *text;

    snprintf(port, sizeof(port), "%d", srv.port);
    adapter_buf_adds(&url, "http://127.0.0.1:");
    adapter_buf_adds(&url, port);
    adapter_buf_adds(&url, "/send");
    text = strndup(msg->text, msg->text_len);
    assert_non_null(text);
    adapter_buf_add_param(&body, "d", msg->delivery_id);
    adapter_buf_add_param(&body, "to", msg->to);
    adapter_buf_add_param(&body, "text", text);
    free(text);
    req->method = "POST";
    req->url = adapter_buf_take(&url, NULL);
    req->body = adapter_buf_take(&body, &req->body_len);
    return req->url && req->body ? RELAY_OK : RELAY_ENOMEM;
}

static int fake_parse(void *priv, long status, const char *body, size_t len,
                      const char *retry_after, struct adapter_result *out)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    snprintf(out->error, sizeof(out->error), "http_%ld", status);
    if (status >= 200 && status < 300) {
        out->verdict = ADAPTER_SENT;
        snprintf(out->provider_id, sizeof(out->provider_id), "P-ok");
        out->error[0] = '\0';
    } else if (status == 429 || status >= 500) {
        out->verdict = ADAPTER_RETRY;
        out->retry_after_s = adapter_retry_after(retry_after, 0);
    } else {
        out->verdict = ADAPTER_FAILED;
    }
    return RELAY_OK;
}

static int fake_webhook(void *priv, const struct adapter_webhook_req *req,
                        struct adapter_event *ev)
{
    const char *q = adapter_query(req->path);
    char sig[16], s[16], from[32];

    memset(ev, 0, sizeof(*ev));
    ev->http_status = 200;
    ev->reply_type = "text/plain";
    ev->reply_body = "ok";
    if (adapter_form_get(q, strlen(q), "sig", sig, sizeof(sig), NULL) < 0 ||
        strcmp(sig, "ok") != 0)
        return RELAY_EAUTH;
    if (adapter_path_is(req->path, "fake", "status")) {
        if (adapter_form_get(q, strlen(q), "d", ev->delivery_id,
                             sizeof(ev->delivery_id), NULL) < 0 ||
            adapter_form_get(q, strlen(q), "s", s, sizeof(s), NULL) < 0)
            return RELAY_EINVAL;
        ev->state = adapter_state_parse(s);
        ev->type = ADAPTER_EVENT_STATUS;
        return RELAY_OK;
    }
    if (adapter_path_is(req->path, "fake", "mo")) {
        size_t cap = strlen(q) + 1;

        if (adapter_form_get(q, strlen(q), "from", from, sizeof(from), NULL) <
                0 ||
            sms_phone_normalize(from, 0, ev->from) < 0)
            return RELAY_EINVAL;
        if (adapter_form_get(q, strlen(q), "id", ev->provider_id,
                             sizeof(ev->provider_id), NULL) < 0)
            ev->provider_id[0] = '\0';
        ev->text = malloc(cap);
        assert_non_null(ev->text);
        if (adapter_form_get(q, strlen(q), "text", ev->text, cap,
                             &ev->text_len) < 0) {
            ev->text[0] = '\0';
            ev->text_len = 0;
        }
        ev->type = ADAPTER_EVENT_MO;
        return RELAY_OK;
    }
    return RELAY_ENOTFOUND;
}

static const struct adapter_ops fake_ops = {
    .name = "fake",
    .caps = ADAPTER_CAP_SMS | ADAPTER_CAP_DLR | ADAPTER_CAP_MO,
    .priv_size = sizeof(struct fake),
    .build_request = fake_build,
    .parse_response = fake_parse,
    .parse_webhook = fake_webhook,
};

/* ---- Fixture --------------------------------------------------------------
 */

struct fx {
    uv_loop_t loop;
    uv_timer_t tick;
    struct http_client *http;
    struct adapter_instance *in;
    struct outbox *ob;
    struct outbox *producer;
    /* callbacks */
    int enq_calls, enq_rc, enq_fresh;
    char enq_id[OUTBOX_ID_MAX + 1];
    int wh_calls, wh_status;
    int replies;
    char reply_user[64], reply_case[64], reply_text[256];
};

static struct fx F;

static void tick_cb(uv_timer_t *t)
{
}

/* A user with an encrypted phone and its blind index, as user_store.c
 * writes them. */
static void make_user(const char *id, const char *phone)
{
    char ctx[128], text[512], idx[PII_INDEX_HEX_BYTES];

    snprintf(ctx, sizeof(ctx), "user|phone|%s", id);
    assert_int_equal(
        pii_encrypt(pii_key, ctx, phone, strlen(phone), text, sizeof(text)),
        RELAY_OK);
    assert_int_equal(pii_blind_index(pii_key, phone, idx), RELAY_OK);
    cmd_ok("HSET user:%s login %s role resident phone %s", id, id, text);
    cmd_ok("SET idx:phone:%s %s", idx, id);
}

static void on_reply(void *arg, const struct outbox_reply *r)
{
    F.replies++;
    snprintf(F.reply_user, sizeof(F.reply_user), "%s",
             r->user_id ? r->user_id : "");
    snprintf(F.reply_case, sizeof(F.reply_case), "%s",
             r->case_id ? r->case_id : "");
    snprintf(F.reply_text, sizeof(F.reply_text), "%.*s", (int)r->text_len,
             r->text);
    assert_int_equal(strlen(r->phone_index), 64);
}

static struct outbox *make_outbox(int worker)
{
    struct outbox_options o;
    struct adapter_instance *ads[1] = {F.in};

    outbox_options_defaults(&o);
    o.adapters = ads;
    o.nadapters = 1;
    o.pii_key = pii_key;
    o.worker = worker;
    o.consumer = worker ? "test:worker" : "test:producer";
    o.block_ms = 200;
    o.timeout_ms = 1000;
    o.claim_idle_ms = 300;
    o.claim_interval_ms = 100;
    o.stale_ms = 1500; /* > the instance's timeout-ms */
    o.backoff_min_ms = 200;
    o.backoff_max_ms = 800;
    o.retry_poll_ms = 50;
    o.on_reply = on_reply;
    return outbox_create(&F.loop, redis_url, F.http, &o);
}

/* Runs the loop until cond() or timeout_ms; returns cond()'s last value. */
static int run_until(int (*cond)(void), long timeout_ms)
{
    long long end = wall_ms() + timeout_ms;

    while (wall_ms() < end) {
        if (cond())
            return 1;
        uv_run(&F.loop, UV_RUN_ONCE);
    }
    return cond();
}

static int never(void)
{
    return 0;
}

static int ready(void)
{
    return F.ob && outbox_is_ready(F.ob);
}

static int producer_ready(void)
{
    return outbox_is_ready(F.producer);
}

/* Common options of the fake instance for one test. */
static void setup_instance(const char *const *kv, size_t n)
{
    char err[256];

    F.in = adapter_instance_create_ops(&fake_ops);
    assert_non_null(F.in);
    assert_int_equal(
        adapter_instance_set(F.in, "rate", "1000", "t", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(
        adapter_instance_set(F.in, "burst", "1000", "t", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(
        adapter_instance_set(F.in, "timeout-ms", "1000", "t", err, sizeof(err)),
        RELAY_OK);
    for (size_t i = 0; i + 1 < n; i += 2)
        assert_int_equal(
            adapter_instance_set(F.in, kv[i], kv[i + 1], "t", err, sizeof(err)),
            RELAY_OK);
    assert_int_equal(adapter_instance_init(F.in, err, sizeof(err)), RELAY_OK);
}

static int setup(void **state)
{
    if (!R) {
        skip();
        return 0;
    }
    memset(&F, 0, sizeof(F));
    assert_int_equal(uv_loop_init(&F.loop), 0);
    uv_timer_init(&F.loop, &F.tick);
    uv_timer_start(&F.tick, tick_cb, 10, 10);
    srv_start(&F.loop);
    F.http = http_client_create(&F.loop, 64);
    assert_non_null(F.http);
    cmd_ok("FLUSHALL");
    make_user("u1", "+31612345678");
    make_user("u2", "+31612345672");
    make_user("u3", "+31612345673");
    make_user("u4", "+31612345674");
    make_user("u5", "+31612345675");
    make_user("uDE", "+4915112345678");
    *state = &F;
    return 0;
}

static void start_worker(void)
{
    F.ob = make_outbox(1);
    assert_non_null(F.ob);
    assert_true(run_until(ready, 3000));
}

static int teardown(void **state)
{
    if (!R)
        return 0;
    outbox_destroy(F.ob);
    outbox_destroy(F.producer);
    F.ob = F.producer = NULL;
    http_client_close(F.http, NULL, NULL);
    srv_stop();
    uv_timer_stop(&F.tick);
    uv_close((uv_handle_t *)&F.tick, NULL);
    while (uv_run(&F.loop, UV_RUN_DEFAULT) != 0)
        ;
    assert_int_equal(uv_loop_close(&F.loop), 0);
    adapter_instance_destroy(F.in);
    F.in = NULL;
    return 0;
}

static void enq_cb(void *arg, int rc, const char *id, int fresh)
{
    F.enq_calls++;
    F.enq_rc = rc;
    F.enq_fresh = fresh;
    snprintf(F.enq_id, sizeof(F.enq_id), "%s", id ? id : "");
}

static int enq_called(void)
{
    return F.enq_calls > 0;
}

/* Enqueues through 'ob' and waits for the answer; returns fresh. */
static int enqueue(struct outbox *ob, const char *c, const char *u,
                   enum outbox_lane lane, const char *d, const char *text)
{
    struct outbox_item it = {
        .case_id = c,
        .user_id = u,
        .channel = "fake",
        .lane = lane,
        .text = text,
        .text_len = strlen(text),
        .delivery_id = d,
    };

    F.enq_calls = 0;
    assert_int_equal(outbox_enqueue(ob, &it, enq_cb, NULL), RELAY_OK);
    assert_true(run_until(enq_called, 3000));
    assert_int_equal(F.enq_rc, RELAY_OK);
    return F.enq_fresh;
}

static char want_d[OUTBOX_ID_MAX + 1];
static char want_state[16];

static int state_is(void)
{
    char s[32];

    get_str(s, sizeof(s), "HGET dlv:d:%s state", want_d);
    return strcmp(s, want_state) == 0;
}

static int wait_state(const char *d, const char *st, long ms)
{
    snprintf(want_d, sizeof(want_d), "%s", d);
    snprintf(want_state, sizeof(want_state), "%s", st);
    return run_until(state_is, ms);
}

static int dead_one(void)
{
    return get_int("XLEN dead:fake") >= 1;
}

static void settle(long ms)
{
    run_until(never, ms);
}

/* ---- Tests ------------------------------------------------------------------
 */

static void test_enqueue_twice_sends_once(void **state)
{
    char v[64];

    setup_instance(NULL, 0);
    start_worker();
    assert_int_equal(enqueue(F.ob, "c1", "u1", OUTBOX_URGENT, "dA",
                             "Vermist: man 78, blauwe jas. Bel 112."),
                     1);
    /* the same case, user and channel again: nothing new, same id */
    assert_int_equal(enqueue(F.ob, "c1", "u1", OUTBOX_URGENT, "dOther",
                             "Vermist: man 78, blauwe jas. Bel 112."),
                     0);
    assert_string_equal(F.enq_id, "dA");
    assert_true(wait_state("dA", "sent", 3000));
    settle(600);
    assert_int_equal(count_reqs("dA"), 1);
    assert_int_equal(srv.nreqs, 1);
    assert_string_equal(srv.reqs[0].to, "+31612345678");
    get_str(v, sizeof(v), "HGET dlv:c1 dA");
    assert_string_equal(v, "sent");
    assert_int_equal(get_int("HGET dlv:c1:summary fake:sent"), 1);
    assert_int_equal(get_int("HGET dlv:c1:summary fake:queued"), 0);
    get_str(v, sizeof(v), "GET dlv:last:u1");
    assert_string_equal(v, "c1");
    get_str(v, sizeof(v), "HGET dlv:d:dA provider");
    assert_string_equal(v, "P-ok");
    /* the stream holds ids only, and nothing once done */
    assert_int_equal(get_int("XLEN outbox:fake:urgent"), 0);
}

static void test_500_then_200_sends_once_after_backoff(void **state)
{
    setup_instance(NULL, 0);
    plan("dB", "500 200");
    start_worker();
    enqueue(F.ob, "c1", "u1", OUTBOX_ROUTINE, "dB", "Tekst");
    assert_true(wait_state("dB", "sent", 5000));
    settle(300);
    assert_int_equal(count_reqs("dB"), 2);
    /* jittered backoff: between backoff_min/2 and backoff_min */
    assert_true(srv.reqs[1].ms - srv.reqs[0].ms >= 100);
    assert_int_equal(get_int("HGET dlv:d:dB attempts"), 2);
}

static void test_429_retry_after_respected(void **state)
{
    setup_instance(NULL, 0);
    plan("dC", "429:1 200");
    start_worker();
    enqueue(F.ob, "c1", "u1", OUTBOX_URGENT, "dC", "Tekst");
    assert_true(wait_state("dC", "sent", 5000));
    assert_int_equal(count_reqs("dC"), 2);
    assert_true(srv.reqs[1].ms - srv.reqs[0].ms >= 1000);
}

static void test_hang_times_out_and_retries(void **state)
{
    const char *kv[] = {"timeout-ms", "300"};

    setup_instance(kv, 2);
    plan("dD", "hang 200");
    start_worker();
    enqueue(F.ob, "c1", "u1", OUTBOX_URGENT, "dD", "Tekst");
    assert_true(wait_state("dD", "sent", 5000));
    assert_int_equal(count_reqs("dD"), 2);
    assert_true(srv.reqs[1].ms - srv.reqs[0].ms >= 300);
}

static void test_give_up_dead_letter(void **state)
{
    const char *kv[] = {"max-attempts", "3"};
    redisReply *r;

    setup_instance(kv, 2);
    plan("dE", "500 500 500 500 500");
    start_worker();
    enqueue(F.ob, "c1", "u1", OUTBOX_ROUTINE, "dE", "Tekst");
    assert_true(run_until(dead_one, 8000));
    assert_true(wait_state("dE", "failed", 1000));
    settle(500);
    assert_int_equal(count_reqs("dE"), 3);
    r = cmd("XRANGE dead:fake - +");
    assert_int_equal(r->element[0]->element[1]->elements, 12);
    assert_string_equal(r->element[0]->element[1]->element[1]->str, "dE");
    assert_string_equal(r->element[0]->element[1]->element[7]->str,
                        "max_attempts");
    freeReplyObject(r);
    assert_int_equal(get_int("HGET dlv:c1:summary fake:failed"), 1);
    assert_int_equal(get_int("ZCARD outbox:fake:retry"), 0);
}

/* Leaves delivery d pending for consumer "dead:1", as a crashed relay
 * would (read, never acked). */
static void strand(const char *c, const char *u, const char *d)
{
    redisReply *r;

    F.producer = make_outbox(0);
    assert_non_null(F.producer);
    assert_true(run_until(producer_ready, 3000));
    settle(100); /* its read link created the groups */
    enqueue(F.producer, c, u, OUTBOX_ROUTINE, d, "Tekst van een dode");
    r = cmd("XREADGROUP GROUP relay dead:1 COUNT 10 STREAMS "
            "outbox:fake:routine >");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    assert_int_equal(get_int("XLEN outbox:fake:routine"), 1);
}

static void test_reclaim_from_dead_consumer(void **state)
{
    struct outbox_stats st;

    setup_instance(NULL, 0);
    strand("c1", "u1", "dF");
    start_worker();
    assert_true(wait_state("dF", "sent", 5000));
    settle(500);
    assert_int_equal(count_reqs("dF"), 1);
    outbox_get_stats(F.ob, &st);
    assert_true(st.claimed >= 1);
    assert_int_equal(st.sent, 1);
}

static void test_stale_marker_is_dead_lettered_not_resent(void **state)
{
    setup_instance(NULL, 0);
    strand("c1", "u1", "dG");
    /* the dead consumer had called the provider: its marker is old */
    cmd_ok("SET dlv:sent:dG dead:1|%lld", wall_ms() - 60000);
    start_worker();
    assert_true(run_until(dead_one, 5000));
    assert_true(wait_state("dG", "failed", 1000));
    settle(300);
    assert_int_equal(count_reqs("dG"), 0);
    {
        char v[64];

        get_str(v, sizeof(v), "HGET dlv:d:dG error");
        assert_string_equal(v, "unconfirmed");
    }
}

static void test_urgent_before_routine(void **state)
{
    const char *kv[] = {"max-in-flight", "1"};

    setup_instance(kv, 2);
    F.producer = make_outbox(0);
    assert_non_null(F.producer);
    assert_true(run_until(producer_ready, 3000));
    settle(100);
    enqueue(F.producer, "c2", "u2", OUTBOX_ROUTINE, "r2", "Routine 2");
    enqueue(F.producer, "c2", "u3", OUTBOX_ROUTINE, "r3", "Routine 3");
    enqueue(F.producer, "c2", "u4", OUTBOX_ROUTINE, "r4", "Routine 4");
    enqueue(F.producer, "c2", "u5", OUTBOX_ROUTINE, "r5", "Routine 5");
    enqueue(F.producer, "c3", "u1", OUTBOX_URGENT, "urg", "Urgent!");
    start_worker();
    assert_true(wait_state("r5", "sent", 5000));
    assert_true(wait_state("r2", "sent", 5000));
    assert_int_equal(srv.nreqs, 5);
    assert_string_equal(srv.reqs[0].d, "urg");
}

static void test_prefix_not_allowed(void **state)
{
    char v[64];

    setup_instance(NULL, 0);
    start_worker();
    enqueue(F.ob, "c1", "uDE", OUTBOX_URGENT, "dH", "Tekst");
    assert_true(wait_state("dH", "failed", 3000));
    get_str(v, sizeof(v), "HGET dlv:d:dH error");
    assert_string_equal(v, "prefix_not_allowed");
    assert_int_equal(srv.nreqs, 0);
}

static void test_too_long_refused_at_compose_time(void **state)
{
    char text[700];
    struct sms_info info;
    struct outbox_item it = {
        .case_id = "c1",
        .user_id = "u1",
        .channel = "fake",
        .lane = OUTBOX_URGENT,
        .text = text,
    };

    setup_instance(NULL, 0);
    start_worker();
    memset(text, 'a', 600);
    text[600] = '\0';
    it.text_len = 600;
    assert_int_equal(outbox_check_text(F.ob, "fake", text, 600, &info),
                     RELAY_ETOOBIG);
    assert_int_equal(info.parts, 4);
    assert_int_equal(outbox_enqueue(F.ob, &it, enq_cb, NULL), RELAY_ETOOBIG);
    it.channel = "nope";
    assert_int_equal(outbox_enqueue(F.ob, &it, enq_cb, NULL), RELAY_ENOTFOUND);
    it.channel = "fake";
    it.user_id = "u/1";
    assert_int_equal(outbox_enqueue(F.ob, &it, enq_cb, NULL), RELAY_EINVAL);
    settle(100);
    assert_int_equal(F.enq_calls, 0);
}

static int one_request(void)
{
    return srv.nreqs >= 1;
}

/* Teardown destroys the outbox with a request hanging at the provider:
 * everything must still be released (ASan) and every handle closed
 * (uv_loop_close in teardown). */
static void test_destroy_with_request_in_flight(void **state)
{
    struct outbox_stats st;

    setup_instance(NULL, 0);
    plan("dK", "hang");
    start_worker();
    enqueue(F.ob, "c1", "u1", OUTBOX_URGENT, "dK", "Tekst");
    assert_true(run_until(one_request, 3000));
    outbox_get_stats(F.ob, &st);
    assert_int_equal(st.in_flight, 1);
}

static void test_create_validates_options(void **state)
{
    struct outbox_options o;
    struct adapter_instance *ads[2];

    setup_instance(NULL, 0);
    ads[0] = ads[1] = F.in;
    outbox_options_defaults(&o);
    o.adapters = ads;
    o.nadapters = 1;
    assert_null(outbox_create(&F.loop, redis_url, F.http, &o)); /* no key */
    o.pii_key = pii_key;
    o.stale_ms = 1000; /* not above the adapter's timeout-ms (1000) */
    assert_null(outbox_create(&F.loop, redis_url, F.http, &o));
    o.stale_ms = 5000;
    o.block_ms = o.timeout_ms; /* the watchdog would kill the read */
    assert_null(outbox_create(&F.loop, redis_url, F.http, &o));
    o.block_ms = 100;
    o.nadapters = 2; /* the same adapter twice */
    assert_null(outbox_create(&F.loop, redis_url, F.http, &o));
    assert_null(outbox_create(&F.loop, "http://x", F.http, &o));
}

static void wh_cb(void *arg, int status, const char *ctype, const char *body)
{
    F.wh_calls++;
    F.wh_status = status;
}

static int wh_called(void)
{
    return F.wh_calls > 0;
}

static int webhook(const char *path)
{
    struct outbox_webhook_req req = {.method = "GET", .path = path};
    int rc;

    F.wh_calls = 0;
    rc = outbox_webhook(F.ob, "fake", &req, wh_cb, NULL);
    if (rc == RELAY_OK) {
        assert_int_equal(F.wh_calls, 0); /* never inline */
        assert_true(run_until(wh_called, 3000));
        assert_int_equal(F.wh_status, 200);
    }
    return rc;
}

static void test_reports_and_replies(void **state)
{
    char v[64];

    setup_instance(NULL, 0);
    start_worker();
    enqueue(F.ob, "c9", "u1", OUTBOX_URGENT, "dJ", "Vermist kind");
    assert_true(wait_state("dJ", "sent", 3000));

    /* forged: refused, no change */
    assert_int_equal(webhook("/hooks/fake/status?d=dJ&s=delivered&sig=no"),
                     RELAY_EAUTH);
    get_str(v, sizeof(v), "HGET dlv:d:dJ state");
    assert_string_equal(v, "sent");

    assert_int_equal(webhook("/hooks/fake/status?d=dJ&s=delivered&sig=ok"),
                     RELAY_OK);
    get_str(v, sizeof(v), "HGET dlv:c9 dJ");
    assert_string_equal(v, "delivered");
    assert_int_equal(get_int("HGET dlv:c9:summary fake:delivered"), 1);
    assert_int_equal(get_int("HGET dlv:c9:summary fake:sent"), 0);
    /* late "sent" and a "failed" after delivered: ignored */
    assert_int_equal(webhook("/hooks/fake/status?d=dJ&s=sent&sig=ok"),
                     RELAY_OK);
    assert_int_equal(webhook("/hooks/fake/status?d=dJ&s=failed&sig=ok"),
                     RELAY_OK);
    get_str(v, sizeof(v), "HGET dlv:d:dJ state");
    assert_string_equal(v, "delivered");
    /* read moves on */
    assert_int_equal(webhook("/hooks/fake/status?d=dJ&s=read&sig=ok"),
                     RELAY_OK);
    assert_int_equal(get_int("HGET dlv:c9:summary fake:read"), 1);
    /* unknown delivery: acknowledged, nothing created */
    assert_int_equal(webhook("/hooks/fake/status?d=nope&s=read&sig=ok"),
                     RELAY_OK);
    assert_int_equal(get_int("EXISTS dlv:d:nope"), 0);

    /* an SMS reply: tied to u1 and to c9, the case it last got */
    assert_int_equal(
        webhook("/hooks/fake/mo?id=m1&from=0612345678&text=Gezien+bij+de+"
                "Vaart&sig=ok"),
        RELAY_OK);
    assert_int_equal(F.replies, 1);
    assert_string_equal(F.reply_user, "u1");
    assert_string_equal(F.reply_case, "c9");
    assert_string_equal(F.reply_text, "Gezien bij de Vaart");
    assert_int_equal(get_int("XLEN mo:inbox"), 1);
    /* the provider retries it: taken once */
    assert_int_equal(
        webhook("/hooks/fake/mo?id=m1&from=0612345678&text=Gezien+bij+de+"
                "Vaart&sig=ok"),
        RELAY_OK);
    assert_int_equal(F.replies, 1);
    /* unknown sender: still stored, no user */
    assert_int_equal(
        webhook("/hooks/fake/mo?id=m2&from=0687654321&text=Tip&sig=ok"),
        RELAY_OK);
    assert_int_equal(F.replies, 2);
    assert_string_equal(F.reply_user, "");
    /* no phone number anywhere in the inbox */
    {
        redisReply *r = cmd("XRANGE mo:inbox - +");

        for (size_t i = 0; i < r->elements; i++) {
            redisReply *f = r->element[i]->element[1];

            for (size_t k = 0; k < f->elements; k++)
                assert_null(strstr(f->element[k]->str, "612345678"));
        }
        freeReplyObject(r);
    }
    assert_int_equal(webhook("/hooks/fake/mo?from=06&sig=ok"), RELAY_EINVAL);
    assert_int_equal(webhook("/hooks/fake/other?sig=ok"), RELAY_ENOTFOUND);
    {
        struct outbox_webhook_req req = {.method = "GET", .path = "/hooks/x/y"};

        assert_int_equal(outbox_webhook(F.ob, "nope", &req, wh_cb, NULL),
                         RELAY_ENOTFOUND);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_twice_sends_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_500_then_200_sends_once_after_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_retry_after_respected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hang_times_out_and_retries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_give_up_dead_letter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_from_dead_consumer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_stale_marker_is_dead_lettered_not_resent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_urgent_before_routine, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prefix_not_allowed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_long_refused_at_compose_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reports_and_replies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_validates_options, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_request_in_flight,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
