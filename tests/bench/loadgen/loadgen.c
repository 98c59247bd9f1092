/*
 * loadgen.c - one load generator for buurtrelay and the peers it is
 * compared with (tests/bench/suite.mjs, scripts/bench, issue #10).
 *
 * Raw epoll, non-blocking sockets and four small client protocols in one
 * program, so every system is driven by the same code with one clock:
 *   relay   RFC 6455 client speaking buurtrelay.v1 (relay/PROTOCOL.md):
 *           subscribe / message frames, posts as alerts with an officer's
 *           bearer token, acks; seq gaps resubscribe with 'since'.
 *   wsjson  the same frames against tests/bench/peers/ws_ioredis.mjs.
 *   sio     Socket.IO 4 (Engine.IO v4 over WebSocket): "40" connect,
 *           420["join",ch] acked, 42N["pub",{ch,payload}] acked, ping "2"
 *           answered "3", events 42["m",payload].
 *   mqtt    MQTT 3.1.1 over TCP, QoS 0 or 1 (--qos): CONNECT, SUBSCRIBE,
 *           PUBLISH (PUBACK both ways at QoS 1).
 *
 * Every published payload carries a marker "Kenmerk q<step>x<ch>x<seq>x<t>."
 * where t is CLOCK_MONOTONIC in ns at send time: a subscriber (same host,
 * same clock, also across the worker processes) takes latency as now - t,
 * and per subscription a bitmap of seqs gives exact duplicates, reorderings
 * (a seq below the highest seen) and losses (acked but never seen).
 *
 * Scenario (one run): connect every subscriber (bounded concurrency, from
 * --src-ips loopback source addresses to get past the ephemeral port
 * limit), optionally idle (memory per connection is read from /proc of
 * --server-pid), then steps: publish at the group rates times
 * factor^step for --step-secs, drain, evaluate; stop at --p99-limit-ms,
 * any loss/duplicate/reordering, when the server no longer keeps up, or
 * after --max-steps. --at SEC:CMD runs a shell command SEC seconds into the
 * first step (a relay kill, a Redis blip). The result is one JSON object
 * (--json FILE, else stdout); progress goes to stderr.
 *
 * WHY several worker processes (--workers): the machine's hard limit on
 * open files per process (20000 here) is below the 20,000 clients of the
 * capacity scenario; workers share results through one MAP_SHARED mapping.
 * Worker 0 publishes and runs the scenario; the others only subscribe.
 *
 * Not part of the relay: nothing here is linked into relay_core. Logs hold
 * counts and codes only, never tokens or message text.
 */
#define _GNU_SOURCE /* memmem, MAP_ANONYMOUS */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"

#define MAX_TARGETS 8
#define MAX_GROUPS 8
#define MAX_TOKENS 16
#define MAX_PIDS 16
#define MAX_EVENTS 8
#define MAX_STEPS 16
#define MAX_WORKERS 8
#define MAX_TL 240 /* timeline seconds */
#define RBUF (256 * 1024)
#define MARKER "Kenmerk q"
#define HS_TIMEOUT 15000000000ull /* ns: connect to subscribed */

enum proto { P_RELAY, P_WSJSON, P_SIO, P_MQTT };

enum cstate {
    CS_IDLE,
    CS_CONNECTING, /* TCP connect in progress */
    CS_UPGRADING,  /* HTTP upgrade sent, waiting for 101 */
    CS_OPENING, /* sio: waiting "0"/"40"; mqtt: CONNACK; relay pub: welcome */
    CS_SUBSCRIBING,
    CS_LIVE,
    CS_RESUB, /* relay: resubscribing with since after a gap */
    CS_WAIT,  /* closed, reconnect scheduled */
    CS_DEAD,
};

enum phase { PH_CONNECT, PH_IDLE, PH_RUN, PH_DRAIN, PH_DONE };

/* One client connection (subscriber or publisher). Owned by the worker's
 * conns array; buffers are heap and freed on close. */
struct conn {
    int fd;
    int idx;    /* subscriber index (global), or -1 - publisher number */
    int ch;     /* channel of a subscriber */
    int target; /* index into opts.targets */
    uint8_t state;
    uint8_t slow;     /* stops reading once live (bad-day scenario) */
    uint8_t dropped;  /* was disconnected at least once during the run */
    uint8_t counted;  /* counted in ready/failed */
    uint8_t want_out; /* EPOLLOUT registered */
    uint8_t attempts; /* connects tried before the first time live */
    uint8_t failed;   /* never got live: not in the per-class totals */
    char *in;         /* unparsed input kept between reads */
    uint32_t inlen, incap;
    char *out; /* output the kernel did not take yet */
    uint32_t outlen, outcap;
    char *frag; /* a fragmented WebSocket message */
    uint32_t fraglen, fragcap;
    uint64_t t_start; /* ns: connect started */
    uint64_t t_sub;   /* ns: subscribe sent */
    uint64_t t_drop;  /* ns: connection lost */
    uint64_t t_retry; /* ns: reconnect due */
    uint8_t *seen;    /* bitmap of marker seqs received */
    uint32_t seencap; /* bytes */
    uint32_t maxseq1; /* highest seq seen + 1 */
    uint64_t uniq, dups, reorders;
    int64_t rseq;   /* relay: last channel seq accepted, -1 none */
    char epoch[40]; /* relay: epoch of rseq */
    uint16_t pid;   /* mqtt packet id */
    uint32_t mask;  /* ws masking key state */
};

/* One worker's results, written by that worker only (atomics where worker
 * 0 reads them while the run goes on). */
struct wres {
    _Atomic int ready;  /* subscribers live (first time) */
    _Atomic int failed; /* subscribers that never got live */
    _Atomic int done;   /* final figures below are written */
    _Atomic uint64_t delivered[MAX_STEPS];
    _Atomic uint64_t dups[MAX_STEPS];
    _Atomic uint64_t reorders[MAX_STEPS];
    struct hist lat[MAX_STEPS];
    struct hist tl[MAX_TL]; /* latency per second of never-dropped subs */
    struct hist handshake;  /* connect start -> upgraded/CONNACK */
    struct hist subscribe;  /* subscribe sent -> confirmed */
    struct hist reconnect;  /* dropped -> live again */
    struct hist healthy;    /* all steps, never-dropped subscribers */
    uint64_t cls[3][5]; /* healthy/dropped/slow: subs,expected,uniq,dup,reord */
    uint64_t reconnects, recovered_true, recovered_false, gaps;
    uint64_t connect_retries; /* refused/reset before first live, retried */
    uint64_t cpu_ticks;
    char first_error[160];
};

struct shared {
    _Atomic int phase;
    _Atomic int step;
    _Atomic uint64_t t_run0; /* ns: first step start (timeline origin) */
    struct wres w[MAX_WORKERS];
};

struct opts {
    enum proto proto;
    int qos;
    struct sockaddr_in targets[MAX_TARGETS];
    char target_name[MAX_TARGETS][64];
    int ntargets;
    const char *path;
    const char *tokens[MAX_TOKENS];
    int ntokens;
    int src_ips;
    int gch[MAX_GROUPS], gsubs[MAX_GROUPS];
    double grate[MAX_GROUPS];
    int ngroups;
    double step_secs, factor, p99_limit_ms, drain_secs, idle_secs;
    double settle_secs, connect_timeout;
    int max_steps;
    int workers;
    int concurrency;
    double slow_frac;
    int reconnect;
    int publishers;
    int window;
    int server_pids[MAX_PIDS], nserver;
    int redis_pid;
    double ev_at[MAX_EVENTS];
    const char *ev_cmd[MAX_EVENTS];
    int nevents;
    const char *json;
    const char *label;
};

static struct opts O = {
    .proto = P_RELAY,
    .path = NULL,
    .src_ips = 4,
    .step_secs = 10,
    .factor = 1.5,
    .p99_limit_ms = 100,
    .drain_secs = 3,
    .settle_secs = 1,
    .connect_timeout = 60,
    .max_steps = 1,
    .workers = 1,
    .concurrency = 256,
    .publishers = 1,
    .window = 2000,
    .label = "",
};

/* Derived layout: channel of each subscriber and counts per channel. */
static int nch;       /* channels */
static int nsubs;     /* subscribers */
static int *sub_ch;   /* [nsubs] channel of subscriber i */
static int *ch_group; /* [nch] group of channel */
/* [nch] shared: subscribers that count (not slow, not failed to connect) */
static _Atomic uint32_t *ch_live;
static _Atomic uint64_t *acked_ch; /* [nch] shared: acked posts per channel */

static struct shared *S;
static int W; /* this worker's number */
static int ep;
static struct conn *conns; /* this worker's subscribers, then publishers */
static int nconns;
static int nmysubs;
static char *rbuf;
static pid_t children[MAX_WORKERS];

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void note_error(const char *fmt, ...)
{
    struct wres *r = &S->w[W];
    va_list ap;

    if (r->first_error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(r->first_error, sizeof(r->first_error), fmt, ap);
    va_end(ap);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (!q)
        die("out of memory");
    return q;
}

/* Appends n bytes to a growable buffer. */
static void buf_put(char **b, uint32_t *len, uint32_t *cap, const void *p,
                    size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n)
            c *= 2;
        *b = xrealloc(*b, c);
        *cap = (uint32_t)c;
    }
    memcpy(*b + *len, p, n);
    *len += (uint32_t)n;
}

static int parse_u64(const char *s, const char *end, uint64_t *v,
                     const char **next)
{
    uint64_t x = 0;
    const char *p = s;

    while (p < end && *p >= '0' && *p <= '9')
        x = x * 10 + (uint64_t)(*p++ - '0');
    if (p == s)
        return -1;
    *v = x;
    *next = p;
    return 0;
}

/* CPU ticks (utime + stime) of a process, 0 when it is gone. */
static uint64_t cpu_ticks(int pid)
{
    char path[64], buf[1024];
    FILE *f;
    size_t n;
    char *p;
    unsigned long ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2)
        return 0;
    return (uint64_t)ut + st;
}

static uint64_t rss_kib(int pid)
{
    char path[64], line[256];
    FILE *f;
    unsigned long v = 0;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %lu", &v) == 1)
            break;
    fclose(f);
    return v;
}

static uint64_t slab_kib(void)
{
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long v = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Slab: %lu", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* CPU ticks of all server processes. WHY the last value: a server killed
 * mid-step (bad-day scenario) has no /proc entry any more; its ticks stay
 * at the last reading, so the sum never goes backwards. */
static uint64_t server_last[MAX_PIDS];

static uint64_t servers_cpu(void)
{
    uint64_t t = 0;

    for (int i = 0; i < O.nserver; i++) {
        uint64_t v = cpu_ticks(O.server_pids[i]);
        if (v >= server_last[i])
            server_last[i] = v;
        t += server_last[i];
    }
    return t;
}

static uint64_t servers_rss(void)
{
    uint64_t t = 0;

    for (int i = 0; i < O.nserver; i++)
        t += rss_kib(O.server_pids[i]);
    return t;
}

static uint64_t gen_cpu(void)
{
    uint64_t t = cpu_ticks((int)getpid());

    for (int i = 1; i < O.workers; i++)
        t += cpu_ticks((int)children[i]);
    return t;
}

/* ---- output ------------------------------------------------------------- */

static void conn_arm(struct conn *c, int out)
{
    struct epoll_event ev = {0};
    int in = !(c->slow && c->state == CS_LIVE);

    ev.events = (in ? EPOLLIN : 0u) | (out ? EPOLLOUT : 0u);
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = (uint8_t)out;
}

static void conn_close(struct conn *c, const char *why);

static int is_pub(const struct conn *c)
{
    return c->idx < 0;
}

/* A subscriber that never got live: no longer expected to receive. */
static void sub_failed(struct conn *c)
{
    c->state = CS_DEAD;
    if (c->counted || is_pub(c))
        return;
    c->counted = 1;
    c->failed = 1;
    atomic_fetch_add(&S->w[W].failed, 1);
    if (!c->slow)
        atomic_fetch_sub(&ch_live[c->ch], 1);
}

/* Writes what the kernel takes; keeps the rest in c->out (EPOLLOUT). */
static void conn_flush(struct conn *c)
{
    while (c->outlen) {
        ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            conn_close(c, "send");
            return;
        }
        memmove(c->out, c->out + n, c->outlen - (size_t)n);
        c->outlen -= (uint32_t)n;
    }
    if (c->outlen && !c->want_out)
        conn_arm(c, 1);
    else if (!c->outlen && c->want_out)
        conn_arm(c, 0);
}

static void conn_send(struct conn *c, const void *p, size_t n)
{
    if (c->fd < 0)
        return;
    buf_put(&c->out, &c->outlen, &c->outcap, p, n);
    if (!c->want_out)
        conn_flush(c);
}

/* One masked client text frame (RFC 6455 5.2/5.3). */
static void ws_send(struct conn *c, const char *p, size_t n, int opcode)
{
    uint8_t h[14];
    size_t hl = 2;
    uint8_t mk[4];
    char stackbuf[2048];
    char *m = n <= sizeof(stackbuf) ? stackbuf : xrealloc(NULL, n);

    h[0] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        h[1] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    c->mask = c->mask * 1664525u + 1013904223u;
    memcpy(mk, &c->mask, 4);
    memcpy(h + hl, mk, 4);
    hl += 4;
    for (size_t i = 0; i < n; i++)
        m[i] = (char)(p[i] ^ (char)mk[i & 3]);
    conn_send(c, h, hl);
    conn_send(c, m, n);
    if (m != stackbuf)
        free(m);
}

static void ws_text(struct conn *c, const char *p, size_t n)
{
    ws_send(c, p, n, 1);
}

static void mqtt_packet(struct conn *c, uint8_t first, const uint8_t *body,
                        size_t n)
{
    uint8_t h[5];
    size_t hl = 1;
    size_t len = n;

    h[0] = first;
    do {
        uint8_t d = (uint8_t)(len % 128);
        len /= 128;
        if (len)
            d |= 0x80;
        h[hl++] = d;
    } while (len && hl < 5);
    conn_send(c, h, hl);
    conn_send(c, body, n);
}

/* ---- channels and payloads ---------------------------------------------- */

static void channel_name(int ch, char *out, size_t n)
{
    if (O.proto == P_MQTT)
        snprintf(out, n, "buurt/BU%08d", ch + 1);
    else
        snprintf(out, n, "buurt:BU%08d", ch + 1);
}

/* The alert text: a realistic appeal (it passes the relay's description
 * check) ending in the marker. */
static const char BODY[] =
    "Loopt verward rond met een rollator, draagt een blauwe jas en een "
    "grijze pet, spreekt Nederlands. Laatst gezien bij de bushalte aan de "
    "Vaart om 14:00. Zie je hem? Bel 112.";

/* The post object as JSON for channel ch, marker (step, seq, t). */
static int post_json(char *out, size_t n, int ch, int step, uint64_t seq,
                     uint64_t t)
{
    return snprintf(out, n,
                    "{\"kind\":\"alert\",\"area\":{\"buurten\":[\"BU%08d\"]},"
                    "\"title\":\"Vermist: man 78\",\"body\":\"%s " MARKER
                    "%dx%dx%" PRIu64 "x%" PRIu64 ".\",\"urgency\":"
                    "\"Immediate\",\"severity\":\"Moderate\",\"certainty\":"
                    "\"Likely\",\"event\":\"vermissing\",\"consent\":true}",
                    ch + 1, BODY, step, ch, seq, t);
}

/* ---- subscriber bookkeeping --------------------------------------------- */

static void record(struct conn *c, const char *p, size_t n, uint64_t now)
{
    const char *m = memmem(p, n, MARKER, sizeof(MARKER) - 1);
    const char *end = p + n;
    uint64_t step, ch, seq, t;
    struct wres *r = &S->w[W];

    if (!m)
        return;
    m += sizeof(MARKER) - 1;
    if (parse_u64(m, end, &step, &m) || m >= end || *m++ != 'x' ||
        parse_u64(m, end, &ch, &m) || m >= end || *m++ != 'x' ||
        parse_u64(m, end, &seq, &m) || m >= end || *m++ != 'x' ||
        parse_u64(m, end, &t, &m))
        return;
    if (step >= MAX_STEPS || (int)ch != c->ch || seq > (1u << 30))
        return;
    if (seq / 8 >= c->seencap) {
        uint32_t cap = c->seencap ? c->seencap : 16;
        while (seq / 8 >= cap)
            cap *= 2;
        c->seen = xrealloc(c->seen, cap);
        memset(c->seen + c->seencap, 0, cap - c->seencap);
        c->seencap = cap;
    }
    if (c->seen[seq / 8] & (1u << (seq % 8))) {
        c->dups++;
        atomic_fetch_add_explicit(&r->dups[step], 1, memory_order_relaxed);
        return;
    }
    c->seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
    c->uniq++;
    if (seq + 1 < c->maxseq1) {
        c->reorders++;
        atomic_fetch_add_explicit(&r->reorders[step], 1, memory_order_relaxed);
    } else {
        c->maxseq1 = (uint32_t)seq + 1;
    }
    atomic_fetch_add_explicit(&r->delivered[step], 1, memory_order_relaxed);
    {
        uint64_t us = now > t ? (now - t) / 1000 : 0;
        uint64_t t0 = atomic_load_explicit(&S->t_run0, memory_order_relaxed);
        hist_add(&r->lat[step], us);
        if (!c->dropped)
            hist_add(&r->healthy, us);
        if (!c->dropped && t0 && now > t0) {
            uint64_t sec = (now - t0) / 1000000000ull;
            if (sec < MAX_TL)
                hist_add(&r->tl[sec], us);
        }
    }
}

static void became_live(struct conn *c, uint64_t now)
{
    struct wres *r = &S->w[W];

    if (c->t_sub)
        hist_add(&r->subscribe, (now - c->t_sub) / 1000);
    if (c->dropped && c->t_drop) {
        hist_add(&r->reconnect, (now - c->t_drop) / 1000);
        c->t_drop = 0;
    }
    c->state = CS_LIVE;
    if (!c->counted && !is_pub(c)) {
        c->counted = 1;
        atomic_fetch_add(&r->ready, 1);
    }
    if (c->slow)
        conn_arm(c, c->want_out);
}

/* ---- publisher bookkeeping (worker 0) ----------------------------------- */

/* One post in flight or done, indexed by post number. */
struct post {
    int32_t ch;
    uint8_t step;
    uint8_t state; /* 0 unused, 1 in flight, 2 acked, 3 failed */
    uint16_t pub;  /* publisher */
    uint64_t t;
};

/* WHY a nonce in post ids: the relay remembers a post id per user for
 * idempotency-ttl and answers a repeated id without publishing again, so
 * ids must differ from run to run with the same officer account. */
static uint64_t run_nonce;
static struct post *posts;
static uint64_t nposts, capposts;
static uint64_t *ch_seq; /* [nch] next marker seq per channel */
static uint64_t step_expected[MAX_STEPS], step_acked[MAX_STEPS];
static uint64_t step_posted[MAX_STEPS], step_failed[MAX_STEPS];
static struct hist ack_hist[MAX_STEPS];
static int *pub_inflight;                /* [publishers] */
static uint32_t (*mqtt_pid_post)[65536]; /* per publisher: pid -> post */

static void post_done(uint64_t no, int ok, uint64_t now)
{
    struct post *p;

    if (no >= nposts)
        return;
    p = &posts[no];
    if (p->state != 1)
        return;
    pub_inflight[p->pub]--;
    if (!ok) {
        p->state = 3;
        step_failed[p->step]++;
        return;
    }
    p->state = 2;
    step_acked[p->step]++;
    step_expected[p->step] += atomic_load(&ch_live[p->ch]);
    atomic_fetch_add_explicit(&acked_ch[p->ch], 1, memory_order_relaxed);
    hist_add(&ack_hist[p->step], (now - p->t) / 1000);
}

/* Publishes one message to channel ch through publisher pi. */
static void publish(struct conn *c, int pi, int ch, int step, uint64_t now)
{
    char obj[1024], frame[1400], topic[64];
    uint64_t no = nposts;
    uint64_t seq = ch_seq[ch]++;
    int n;

    if (nposts == capposts) {
        capposts = capposts ? capposts * 2 : 65536;
        posts = xrealloc(posts, capposts * sizeof(*posts));
    }
    posts[nposts++] = (struct post){.ch = ch,
                                    .step = (uint8_t)step,
                                    .state = 1,
                                    .pub = (uint16_t)pi,
                                    .t = now};
    pub_inflight[pi]++;
    step_posted[step]++;
    post_json(obj, sizeof(obj), ch, step, seq, now);
    switch (O.proto) {
    case P_RELAY:
    case P_WSJSON:
        n = snprintf(frame, sizeof(frame),
                     "{\"type\":\"post\",\"id\":\"p%" PRIu64 "r%" PRIu64
                     "\",\"post\":%s}",
                     no, run_nonce, obj);
        ws_text(c, frame, (size_t)n);
        break;
    case P_SIO:
        channel_name(ch, topic, sizeof(topic));
        n = snprintf(frame, sizeof(frame),
                     "42%" PRIu64 "[\"pub\",{\"ch\":\"%s\",\"payload\":%s}]",
                     no, topic, obj);
        ws_text(c, frame, (size_t)n);
        break;
    case P_MQTT: {
        uint8_t body[1200];
        size_t tl, bl = 0;
        channel_name(ch, topic, sizeof(topic));
        tl = strlen(topic);
        body[bl++] = (uint8_t)(tl >> 8);
        body[bl++] = (uint8_t)tl;
        memcpy(body + bl, topic, tl);
        bl += tl;
        if (O.qos) {
            c->pid = (uint16_t)(c->pid + 1 ? c->pid + 1 : 1);
            body[bl++] = (uint8_t)(c->pid >> 8);
            body[bl++] = (uint8_t)c->pid;
            mqtt_pid_post[pi][c->pid] = (uint32_t)no;
        }
        n = (int)strlen(obj);
        memcpy(body + bl, obj, (size_t)n);
        bl += (size_t)n;
        mqtt_packet(c, (uint8_t)(0x30 | (O.qos << 1)), body, bl);
        if (!O.qos)
            post_done(no, 1, now); /* QoS 0: written is all we know */
        break;
    }
    }
}

/* ---- protocol handshakes ------------------------------------------------ */

static void send_subscribe(struct conn *c, int with_since)
{
    char name[64], f[256];
    int n;

    channel_name(c->ch, name, sizeof(name));
    c->t_sub = now_ns();
    switch (O.proto) {
    case P_RELAY:
    case P_WSJSON:
        if (with_since && c->rseq >= 0 && c->epoch[0])
            n = snprintf(f, sizeof(f),
                         "{\"type\":\"subscribe\",\"channel\":\"%s\","
                         "\"since\":{\"epoch\":\"%s\",\"seq\":%" PRId64 "}}",
                         name, c->epoch, c->rseq);
        else
            n = snprintf(f, sizeof(f),
                         "{\"type\":\"subscribe\",\"channel\":\"%s\"}", name);
        ws_text(c, f, (size_t)n);
        break;
    case P_SIO:
        n = snprintf(f, sizeof(f), "420[\"join\",\"%s\"]", name);
        ws_text(c, f, (size_t)n);
        break;
    case P_MQTT: {
        uint8_t b[80];
        size_t tl = strlen(name), bl = 0;
        b[bl++] = 0;
        b[bl++] = 1;
        b[bl++] = (uint8_t)(tl >> 8);
        b[bl++] = (uint8_t)tl;
        memcpy(b + bl, name, tl);
        bl += tl;
        b[bl++] = (uint8_t)O.qos;
        mqtt_packet(c, 0x82, b, bl);
        break;
    }
    }
    c->state = CS_SUBSCRIBING;
}

/* Called once the transport is open (101 or TCP connect for MQTT). */
static void opened(struct conn *c, uint64_t now)
{
    hist_add(&S->w[W].handshake, (now - c->t_start) / 1000);
    if (O.proto == P_MQTT) {
        char id[32];
        uint8_t b[64];
        size_t il, bl = 0;
        static const uint8_t vh[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0};
        snprintf(id, sizeof(id), "lg%dx%d", W, c->idx);
        il = strlen(id);
        memcpy(b, vh, sizeof(vh));
        bl = sizeof(vh);
        b[bl++] = (uint8_t)(il >> 8);
        b[bl++] = (uint8_t)il;
        memcpy(b + bl, id, il);
        bl += il;
        mqtt_packet(c, 0x10, b, bl);
        c->state = CS_OPENING;
    } else if (O.proto == P_SIO ||
               (O.proto == P_RELAY && is_pub(c) && O.ntokens)) {
        c->state = CS_OPENING; /* "0" open packet / welcome */
    } else if (is_pub(c)) {
        became_live(c, now);
    } else {
        send_subscribe(c, 1);
    }
}

static void start_upgrade(struct conn *c)
{
    char req[1024];
    const char *path = O.path ? O.path
                       : O.proto == P_SIO
                           ? "/socket.io/?EIO=4&transport=websocket"
                           : "/ws";
    char auth[600] = "";
    int n;

    if (is_pub(c) && O.ntokens && O.proto == P_RELAY)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n",
                 O.tokens[(-c->idx - 1) % O.ntokens]);
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n%s%s\r\n",
                 path, O.target_name[c->target],
                 O.proto == P_SIO ? ""
                                  : "Sec-WebSocket-Protocol: buurtrelay.v1\r\n",
                 auth);
    c->state = CS_UPGRADING;
    conn_send(c, req, (size_t)n);
}

/* ---- connection lifecycle ----------------------------------------------- */

static int cur_phase(void)
{
    return atomic_load_explicit(&S->phase, memory_order_acquire);
}

static void conn_start(struct conn *c)
{
    struct sockaddr_in src = {0};
    struct epoll_event ev = {0};
    int one = 1;
    int fd;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        note_error("socket: %s", strerror(errno));
        sub_failed(c);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (c->slow) {
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    }
    if (O.src_ips > 0) {
        /* 127.0.0.2 .. 127.0.0.(1+src_ips): ~28k ephemeral ports each */
        int k = (c->idx < 0 ? 0 : c->idx) % O.src_ips;
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)k);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            note_error("bind 127.0.0.%d: %s", 2 + k, strerror(errno));
            close(fd);
            sub_failed(c);
            return;
        }
    }
    c->fd = fd;
    c->t_start = now_ns();
    c->state = CS_CONNECTING;
    ev.events = EPOLLOUT;
    ev.data.ptr = c;
    c->want_out = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *)&O.targets[c->target],
                sizeof(O.targets[0])) < 0 &&
        errno != EINPROGRESS) {
        note_error("connect: %s", strerror(errno));
        conn_close(c, NULL);
    }
}

static void conn_close(struct conn *c, const char *why)
{
    uint64_t now = now_ns();
    int was_live = c->state == CS_LIVE || c->state == CS_RESUB;

    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (why && !is_pub(c))
        note_error("subscriber closed (%s) in state %d", why, c->state);
    else if (why)
        note_error("publisher closed (%s) in state %d", why, c->state);
    c->inlen = c->outlen = c->fraglen = 0;
    c->want_out = 0;
    /* A subscriber refused or reset before it was ever live (a full
     * listen backlog under a connect storm) tries again, up to 3 times,
     * as a real client would; counted in connect_retries. */
    if (!is_pub(c) && !c->counted && ++c->attempts < 3 &&
        cur_phase() != PH_DONE) {
        S->w[W].connect_retries++;
        c->mask = c->mask * 1664525u + 1013904223u;
        c->t_retry = now + 200000000ull + (c->mask % 300u) * 1000000ull;
        c->state = CS_WAIT;
        return;
    }
    if (is_pub(c) || c->slow || !O.reconnect || cur_phase() == PH_DONE ||
        cur_phase() == PH_CONNECT) {
        sub_failed(c);
        return;
    }
    /* Reconnect to the next target after 100-600 ms, like a client with
     * jittered backoff would; resume with since (relay). */
    if (was_live || !c->dropped) {
        c->dropped = 1;
        c->t_drop = now;
        S->w[W].reconnects++;
    }
    c->target = (c->target + 1) % O.ntargets;
    c->mask = c->mask * 1664525u + 1013904223u;
    c->t_retry = now + 100000000ull + (c->mask % 500u) * 1000000ull;
    c->state = CS_WAIT;
}

/* ---- inbound parsing ---------------------------------------------------- */

static const char *find_field(const char *p, size_t n, const char *key)
{
    const char *k = memmem(p, n, key, strlen(key));
    return k ? k + strlen(key) : NULL;
}

/* A relay/wsjson text message (one JSON object). */
static void on_json(struct conn *c, const char *p, size_t n, uint64_t now)
{
    size_t head = n < 48 ? n : 48;
    const char *end = p + n;

    if (memmem(p, head, "\"type\":\"message\"", 16)) {
        const char *s;
        uint64_t seq;
        if (c->state == CS_RESUB)
            return; /* replayed after the new 'subscribed' */
        if (O.proto == P_RELAY && (s = find_field(p, n, "\"seq\":")) &&
            !parse_u64(s, end, &seq, &s)) {
            const char *e = find_field(p, n, "\"epoch\":\"");
            if (e) {
                const char *q = memchr(e, '"', (size_t)(end - e));
                size_t el = q ? (size_t)(q - e) : 0;
                if (el && el < sizeof(c->epoch) &&
                    (strlen(c->epoch) != el || memcmp(c->epoch, e, el))) {
                    /* another epoch: history lost; follow it */
                    memcpy(c->epoch, e, el);
                    c->epoch[el] = '\0';
                    c->rseq = (int64_t)seq - 1;
                }
            }
            if (c->rseq >= 0 && (int64_t)seq > c->rseq + 1 && O.reconnect) {
                S->w[W].gaps++;
                send_subscribe(c, 1);
                c->state = CS_RESUB;
                return;
            }
            if ((int64_t)seq > c->rseq)
                c->rseq = (int64_t)seq;
        }
        record(c, p, n, now);
    } else if (memmem(p, head, "\"type\":\"ack\"", 12)) {
        const char *s = find_field(p, n, "\"id\":\"p");
        uint64_t no;
        if (s && !parse_u64(s, end, &no, &s))
            post_done(no, 1, now);
    } else if (memmem(p, head, "\"type\":\"subscribed\"", 19)) {
        const char *s = find_field(p, n, "\"seq\":");
        const char *e = find_field(p, n, "\"epoch\":\"");
        uint64_t seq = 0;
        int have_seq = s && !parse_u64(s, end, &seq, &s);
        if (have_seq && c->state == CS_SUBSCRIBING && c->rseq < 0)
            c->rseq = (int64_t)seq;
        if (e) {
            const char *q = memchr(e, '"', (size_t)(end - e));
            size_t el = q ? (size_t)(q - e) : 0;
            if (el && el < sizeof(c->epoch)) {
                memcpy(c->epoch, e, el);
                c->epoch[el] = '\0';
            }
        }
        if (memmem(p, n, "\"recovered\":true", 16))
            S->w[W].recovered_true++;
        else if (memmem(p, n, "\"recovered\":false", 17)) {
            S->w[W].recovered_false++;
            if (have_seq)
                c->rseq = (int64_t)seq;
        }
        became_live(c, now);
    } else if (memmem(p, head, "\"type\":\"welcome\"", 16)) {
        if (is_pub(c) && c->state == CS_OPENING)
            became_live(c, now);
    } else if (memmem(p, head, "\"type\":\"error\"", 14)) {
        const char *s = find_field(p, n, "\"id\":\"p");
        const char *code = find_field(p, n, "\"code\":\"");
        uint64_t no;
        char cbuf[40] = "?";
        if (code) {
            const char *q = memchr(code, '"', (size_t)(end - code));
            size_t l = q ? (size_t)(q - code) : 0;
            if (l && l < sizeof(cbuf)) {
                memcpy(cbuf, code, l);
                cbuf[l] = '\0';
            }
        }
        note_error("error frame, code %s", cbuf);
        if (s && !parse_u64(s, end, &no, &s))
            post_done(no, 0, now);
        else if (c->state == CS_SUBSCRIBING || c->state == CS_RESUB)
            conn_close(c, "subscribe refused");
    }
}

/* A Socket.IO (Engine.IO v4) text packet. */
static void on_sio(struct conn *c, const char *p, size_t n, uint64_t now)
{
    if (n == 0)
        return;
    if (p[0] == '2' && n == 1) {
        ws_text(c, "3", 1);
    } else if (p[0] == '0') {
        ws_text(c, "40", 2);
    } else if (n >= 2 && p[0] == '4' && p[1] == '0') {
        if (is_pub(c))
            became_live(c, now);
        else
            send_subscribe(c, 0);
    } else if (n >= 2 && p[0] == '4' && p[1] == '3') {
        uint64_t id;
        const char *s;
        if (parse_u64(p + 2, p + n, &id, &s))
            return;
        if (is_pub(c))
            post_done(id, 1, now);
        else if (c->state == CS_SUBSCRIBING)
            became_live(c, now);
    } else if (n >= 2 && p[0] == '4' && p[1] == '2') {
        record(c, p, n, now);
    } else if (n >= 2 && p[0] == '4' && p[1] == '4') {
        note_error("socket.io connect error");
        conn_close(c, "sio error");
    }
}

static void on_message(struct conn *c, const char *p, size_t n, uint64_t now)
{
    if (O.proto == P_SIO)
        on_sio(c, p, n, now);
    else
        on_json(c, p, n, now);
}

/* Parses WebSocket frames in p[0..n); returns bytes consumed. */
static size_t ws_parse(struct conn *c, const char *p, size_t n, uint64_t now)
{
    size_t off = 0;

    while (n - off >= 2 && c->fd >= 0) {
        const uint8_t *h = (const uint8_t *)p + off;
        int fin = h[0] & 0x80, op = h[0] & 0x0f;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | h[2 + i];
            hl = 10;
        }
        if (h[1] & 0x80)
            hl += 4; /* servers do not mask; tolerate it anyway */
        if (len > (64u << 20)) {
            conn_close(c, "frame too large");
            return n;
        }
        if (n - off < hl + len)
            break;
        {
            const char *pl = p + off + hl;
            if (op == 0x9) { /* ping -> pong */
                ws_send(c, pl, (size_t)len, 0xA);
            } else if (op == 0x8) {
                conn_close(c, "ws close");
                return n;
            } else if (op == 0x1 || op == 0x2 || op == 0x0) {
                if (fin && op != 0 && !c->fraglen) {
                    on_message(c, pl, (size_t)len, now);
                } else {
                    buf_put(&c->frag, &c->fraglen, &c->fragcap, pl,
                            (size_t)len);
                    if (fin) {
                        on_message(c, c->frag, c->fraglen, now);
                        c->fraglen = 0;
                    }
                }
            }
        }
        off += hl + (size_t)len;
    }
    return off;
}

static size_t mqtt_parse(struct conn *c, const char *p, size_t n, uint64_t now)
{
    size_t off = 0;

    while (n - off >= 2 && c->fd >= 0) {
        const uint8_t *b = (const uint8_t *)p + off;
        size_t len = 0, mult = 1, j = 1;
        int complete = 0;
        while (off + j < n && j < 5) {
            uint8_t d = b[j++];
            len += (d & 0x7fu) * mult;
            mult *= 128;
            if (!(d & 0x80)) {
                complete = 1;
                break;
            }
        }
        if (!complete || n - off < j + len)
            break;
        {
            const uint8_t *body = b + j;
            int type = b[0] >> 4;
            if (type == 2) { /* CONNACK */
                if (len >= 2 && body[1] != 0) {
                    note_error("CONNACK %d", body[1]);
                    conn_close(c, "connack");
                    return n;
                }
                if (is_pub(c))
                    became_live(c, now);
                else
                    send_subscribe(c, 0);
            } else if (type == 9) { /* SUBACK */
                became_live(c, now);
            } else if (type == 3 && len >= 2) { /* PUBLISH */
                int qos = (b[0] >> 1) & 3;
                size_t tl = ((size_t)body[0] << 8) | body[1];
                size_t hdr = 2 + tl + (qos ? 2u : 0u);
                if (hdr <= len) {
                    if (qos == 1) {
                        uint8_t ack[2] = {body[2 + tl], body[3 + tl]};
                        mqtt_packet(c, 0x40, ack, 2);
                    }
                    record(c, (const char *)body + hdr, len - hdr, now);
                }
            } else if (type == 4 && len >= 2 && is_pub(c)) { /* PUBACK */
                uint16_t id = (uint16_t)((body[0] << 8) | body[1]);
                post_done(mqtt_pid_post[-c->idx - 1][id], 1, now);
            }
        }
        off += j + len;
    }
    return off;
}

/* Parses bytes after the transport is up; returns bytes consumed. */
static size_t parse(struct conn *c, const char *p, size_t n, uint64_t now)
{
    if (c->state == CS_UPGRADING) {
        const char *e = memmem(p, n, "\r\n\r\n", 4);
        size_t hl;
        if (!e)
            return 0;
        hl = (size_t)(e - p) + 4;
        if (n < 12 || memcmp(p + 9, "101", 3) != 0) {
            char code[4] = "???";
            if (n >= 12)
                memcpy(code, p + 9, 3);
            note_error("upgrade refused: HTTP %s", code);
            conn_close(c, "upgrade refused");
            return n;
        }
        opened(c, now);
        return hl + (c->fd >= 0 ? parse(c, p + hl, n - hl, now) : 0);
    }
    if (O.proto == P_MQTT)
        return mqtt_parse(c, p, n, now);
    return ws_parse(c, p, n, now);
}

static void on_readable(struct conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, RBUF, 0);
        uint64_t now;
        if (n == 0) {
            conn_close(c, "eof");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR)
                continue;
            conn_close(c, "recv");
            return;
        }
        now = now_ns();
        if (c->inlen) {
            size_t used;
            buf_put(&c->in, &c->inlen, &c->incap, rbuf, (size_t)n);
            used = parse(c, c->in, c->inlen, now);
            if (c->fd < 0)
                return;
            memmove(c->in, c->in + used, c->inlen - used);
            c->inlen -= (uint32_t)used;
        } else {
            size_t used = parse(c, rbuf, (size_t)n, now);
            if (c->fd < 0)
                return;
            if (used < (size_t)n)
                buf_put(&c->in, &c->inlen, &c->incap, rbuf + used,
                        (size_t)n - used);
        }
        if (c->slow && c->state == CS_LIVE)
            return;
        if (n < RBUF)
            return;
    }
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            note_error("connect: %s", strerror(err ? err : ECONNRESET));
            conn_close(c, NULL);
            return;
        }
        conn_arm(c, 0);
        if (O.proto == P_MQTT)
            opened(c, now_ns());
        else
            start_upgrade(c);
        return;
    }
    if (events & EPOLLOUT)
        conn_flush(c);
    if (c->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable(c);
}

/* ---- the scenario ------------------------------------------------------- */

static int in_flight(void)
{
    int k = 0;

    for (int i = 0; i < nconns; i++)
        if (conns[i].state >= CS_CONNECTING && conns[i].state <= CS_OPENING)
            k++;
    return k;
}

static void poll_io(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);

    for (int i = 0; i < n; i++)
        on_event(evs[i].data.ptr, evs[i].events);
}

/* Starts connections up to the concurrency bound and due reconnects. */
static int next_start;
static uint64_t last_scan;

static void housekeeping(uint64_t now)
{
    if (next_start < nconns) {
        int room = O.concurrency - in_flight();
        while (room-- > 0 && next_start < nconns)
            conn_start(&conns[next_start++]);
    }
    if (now - last_scan > 20000000ull) {
        last_scan = now;
        for (int i = 0; i < nconns; i++) {
            struct conn *c = &conns[i];
            uint64_t since = c->state == CS_SUBSCRIBING ? c->t_sub : c->t_start;
            if (c->state == CS_WAIT && c->t_retry <= now)
                conn_start(c);
            else if (c->state >= CS_CONNECTING && c->state <= CS_SUBSCRIBING &&
                     since < now && now - since > HS_TIMEOUT)
                /* e.g. queued in a listen backlog the server never
                 * accepts (out of descriptors): fail, maybe retry.
                 * 'since < now': a connection started after 'now' was
                 * taken is younger than any timeout. */
                conn_close(c, "handshake timeout");
        }
    }
}

static int total_ready(void)
{
    int k = 0;

    for (int w = 0; w < O.workers; w++)
        k += atomic_load(&S->w[w].ready) + atomic_load(&S->w[w].failed);
    return k;
}

static uint64_t step_delivered(int s)
{
    uint64_t k = 0;

    for (int w = 0; w < O.workers; w++)
        k += atomic_load_explicit(&S->w[w].delivered[s], memory_order_relaxed);
    return k;
}

/* Worker 0's per-step measurements. */
struct stepres {
    double mult, secs, offered_posts, deliv_offered;
    uint64_t posted, acked, failed, expected;
    double server_cpu, redis_cpu, gen_cpu; /* % of one core */
    double lag_ms;                         /* worst publisher lag */
    int gen_bound;
    const char *verdict;
};

static struct stepres steps[MAX_STEPS];
static int nsteps;

struct connres {
    double ramp_secs, hs_rate;
    uint64_t rss_before, rss_after, slab_before, slab_after;
    double idle_cpu;
    int ready;
};

static struct connres CR;

static void run_event(int i)
{
    pid_t p = fork();

    if (p == 0) {
        execl("/bin/sh", "sh", "-c", O.ev_cmd[i], (char *)NULL);
        _exit(127);
    }
    fprintf(stderr, "loadgen: event at %.1f s\n", O.ev_at[i]);
}

/* Worker 0: publish for one step at the group rates times mult. */
static void run_step(int s, double mult)
{
    uint64_t t0 = now_ns(), tend = t0 + (uint64_t)(O.step_secs * 1e9);
    uint64_t sent[MAX_GROUPS] = {0};
    uint64_t cpu0 = servers_cpu(),
             rcpu0 = O.redis_pid ? cpu_ticks(O.redis_pid) : 0;
    uint64_t gcpu0 = gen_cpu();
    int gnext[MAX_GROUPS] = {0};
    int gfirst[MAX_GROUPS];
    double lag = 0;
    int ev_done[MAX_EVENTS] = {0};
    uint64_t cpu_seen = t0;
    uint64_t now;
    struct stepres *r = &steps[s];
    double tck = (double)sysconf(_SC_CLK_TCK);

    for (int g = 0, k = 0; g < O.ngroups; k += O.gch[g], g++)
        gfirst[g] = k;
    atomic_store(&S->step, s);
    if (s == 0)
        atomic_store(&S->t_run0, t0);
    atomic_store_explicit(&S->phase, PH_RUN, memory_order_release);
    /* The last pass (at tend) sends whatever is still due, so a step
     * offers exactly rate x secs posts unless every window is full. */
    for (int last = 0; !last;) {
        double el;
        now = now_ns();
        last = now >= tend;
        el = last ? O.step_secs : (double)(now - t0) / 1e9;
        for (int e = 0; e < O.nevents; e++)
            if (!ev_done[e] && s == 0 && el >= O.ev_at[e]) {
                ev_done[e] = 1;
                run_event(e);
            }
        for (int g = 0; g < O.ngroups; g++) {
            double rate = O.grate[g] * mult;
            uint64_t due = (uint64_t)(el * rate) + 1;
            if (rate <= 0)
                continue;
            if (due > (uint64_t)(O.step_secs * rate + 0.5))
                due = (uint64_t)(O.step_secs * rate + 0.5);
            while (sent[g] < due) {
                /* WHY one publisher per channel: order is only defined
                 * within one connection, so a channel's posts all go
                 * through one publisher and any reordering is the
                 * server's. A full window means the server is behind. */
                int ch = gfirst[g] + gnext[g];
                int pi = ch % O.publishers;
                struct conn *pc = &conns[nmysubs + pi];
                if (pc->state != CS_LIVE || pub_inflight[pi] >= O.window)
                    break;
                publish(pc, pi, ch, s, now);
                gnext[g] = (gnext[g] + 1) % O.gch[g];
                sent[g]++;
            }
            if (sent[g] < due) {
                double l = el - (double)sent[g] / rate;
                if (l * 1000 > lag)
                    lag = l * 1000;
            }
        }
        if (!last) {
            poll_io(1);
            housekeeping(now);
        }
        if (now - cpu_seen > 500000000ull) {
            cpu_seen = now;
            servers_cpu(); /* keeps server_last fresh */
        }
    }
    r->mult = mult;
    r->secs = O.step_secs;
    r->offered_posts = 0;
    r->deliv_offered = 0;
    for (int g = 0; g < O.ngroups; g++) {
        r->offered_posts += O.grate[g] * mult;
        r->deliv_offered += O.grate[g] * mult * (double)O.gsubs[g];
    }
    r->server_cpu = 100.0 * (double)(servers_cpu() - cpu0) / tck / O.step_secs;
    r->redis_cpu = O.redis_pid
                       ? 100.0 * (double)(cpu_ticks(O.redis_pid) - rcpu0) /
                             tck / O.step_secs
                       : 0;
    r->gen_cpu = 100.0 * (double)(gen_cpu() - gcpu0) / tck / O.step_secs;
    r->lag_ms = lag;
    /* WHY 90 %: the generator's workers share one pinned core; near a full
     * core its own loop, not the server, sets the pace. */
    r->gen_bound = r->gen_cpu >= 90.0;
    /* drain: every post answered and every expected delivery in */
    atomic_store_explicit(&S->phase, PH_DRAIN, memory_order_release);
    {
        uint64_t dl = now_ns() + (uint64_t)(O.drain_secs * 1e9);
        while ((now = now_ns()) < dl) {
            int pending = 0;
            for (int i = 0; i < O.publishers; i++)
                pending += pub_inflight[i];
            if (!pending && step_delivered(s) >= step_expected[s])
                break;
            poll_io(2);
            housekeeping(now);
        }
    }
    r->posted = step_posted[s];
    r->acked = step_acked[s];
    r->failed = step_failed[s];
    r->expected = step_expected[s];
}

static double step_p(int s, double p)
{
    struct hist *h = malloc(sizeof(*h));
    double v;

    if (!h)
        die("out of memory");
    memset(h, 0, sizeof(*h));
    for (int w = 0; w < O.workers; w++)
        hist_merge(h, &S->w[w].lat[s]);
    v = hist_percentile(h, p) / 1000.0;
    free(h);
    return v;
}

static void worker0_scenario(void)
{
    uint64_t t0 = now_ns();
    uint64_t deadline = t0 + (uint64_t)(O.connect_timeout * 1e9);
    double tck = (double)sysconf(_SC_CLK_TCK);
    int want = nsubs;

    CR.rss_before = servers_rss();
    CR.slab_before = slab_kib();
    fprintf(stderr, "loadgen: %s connecting %d subscribers\n", O.label, nsubs);
    for (;;) {
        uint64_t now = now_ns();
        int pubs_live = 0;
        poll_io(5);
        housekeeping(now);
        for (int i = 0; i < O.publishers; i++)
            pubs_live += conns[nmysubs + i].state == CS_LIVE;
        if (total_ready() >= want && pubs_live == O.publishers)
            break;
        if (now > deadline) {
            note_error("connect phase timed out: %d/%d ready", total_ready(),
                       want);
            break;
        }
    }
    CR.ramp_secs = (double)(now_ns() - t0) / 1e9;
    CR.ready = 0;
    for (int w = 0; w < O.workers; w++)
        CR.ready += atomic_load(&S->w[w].ready);
    CR.hs_rate = CR.ready / (CR.ramp_secs > 0 ? CR.ramp_secs : 1);
    fprintf(stderr, "loadgen: %s %d/%d live in %.2f s (%.0f/s)\n", O.label,
            CR.ready, want, CR.ramp_secs, CR.hs_rate);
    atomic_store_explicit(&S->phase, PH_IDLE, memory_order_release);
    {
        /* settle, then (optionally) an idle period for memory and CPU */
        uint64_t end = now_ns() + (uint64_t)(O.settle_secs * 1e9);
        uint64_t c0 = 0;
        while (now_ns() < end)
            poll_io(10);
        CR.rss_after = servers_rss();
        CR.slab_after = slab_kib();
        c0 = servers_cpu();
        end = now_ns() + (uint64_t)(O.idle_secs * 1e9);
        while (now_ns() < end)
            poll_io(10);
        if (O.idle_secs > 0)
            CR.idle_cpu =
                100.0 * (double)(servers_cpu() - c0) / tck / O.idle_secs;
        if (O.idle_secs > 0)
            CR.rss_after = servers_rss();
    }
    if (CR.ready < want && O.max_steps > 0 && CR.ready == 0)
        O.max_steps = 0;
    for (int s = 0; s < O.max_steps && s < MAX_STEPS; s++) {
        double mult = 1;
        struct stepres *r = &steps[s];
        uint64_t deliv, loss, dups = 0, reord = 0;
        double p99;
        for (int k = 0; k < s; k++)
            mult *= O.factor;
        run_step(s, mult);
        nsteps = s + 1;
        deliv = step_delivered(s);
        for (int w = 0; w < O.workers; w++) {
            dups += atomic_load(&S->w[w].dups[s]);
            reord += atomic_load(&S->w[w].reorders[s]);
        }
        loss = r->expected > deliv ? r->expected - deliv : 0;
        p99 = step_p(s, 99);
        r->verdict = NULL;
        if (p99 > O.p99_limit_ms)
            r->verdict = "p99 over the limit";
        else if (loss || dups || reord)
            r->verdict = "loss, duplicates or reordering";
        else if (r->failed)
            r->verdict = "posts refused";
        else if ((double)r->acked < 0.97 * r->offered_posts * r->secs)
            r->verdict = "server did not keep up with the offered rate";
        fprintf(stderr,
                "loadgen: %s step %d x%.2f: %.0f deliveries/s offered, "
                "%" PRIu64 "/%" PRIu64 " delivered, p99 %.2f ms, server CPU "
                "%.0f%%, generator CPU %.0f%%%s%s\n",
                O.label, s, mult, r->deliv_offered, deliv, r->expected, p99,
                r->server_cpu, r->gen_cpu, r->verdict ? ": stop, " : "",
                r->verdict ? r->verdict : "");
        if (r->verdict)
            break;
    }
}

/* Per-class totals of this worker's subscribers (after the run). */
static void finalize_worker(void)
{
    struct wres *r = &S->w[W];

    for (int i = 0; i < nmysubs; i++) {
        struct conn *c = &conns[i];
        int k = c->slow ? 2 : c->dropped ? 1 : 0;
        if (c->failed)
            continue;
        uint64_t exp = atomic_load(&acked_ch[c->ch]);
        r->cls[k][0]++;
        r->cls[k][1] += exp;
        r->cls[k][2] += c->uniq;
        r->cls[k][3] += c->dups;
        r->cls[k][4] += c->reorders;
    }
    r->cpu_ticks = cpu_ticks((int)getpid());
    atomic_store_explicit(&r->done, 1, memory_order_release);
}

static void worker_loop(void)
{
    while (cur_phase() != PH_DONE) {
        uint64_t now = now_ns();
        poll_io(cur_phase() == PH_RUN || cur_phase() == PH_DRAIN ? 2 : 10);
        housekeeping(now);
    }
    finalize_worker();
}

/* ---- JSON report ----------------------------------------------------------
 */

static void jhist(FILE *f, const char *name, const struct hist *h)
{
    fprintf(f,
            "\"%s\":{\"n\":%" PRIu64 ",\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
            "\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f}",
            name, h->count, hist_percentile(h, 50) / 1000,
            hist_percentile(h, 90) / 1000, hist_percentile(h, 99) / 1000,
            hist_percentile(h, 99.9) / 1000, (double)h->max / 1000,
            h->count ? (double)h->sum / (double)h->count / 1000 : 0.0);
}

static const char *proto_name(void)
{
    static const char *n[] = {"relay", "wsjson", "sio", "mqtt"};
    return n[O.proto];
}

static void report(void)
{
    FILE *f = O.json ? fopen(O.json, "w") : stdout;
    struct hist *h = calloc(1, sizeof(*h));
    uint64_t cls[3][5] = {{0}};
    uint64_t reconnects = 0, rtrue = 0, rfalse = 0, gaps = 0, retries = 0;
    int nfailed = 0;
    const char *err = "";
    double tck = (double)sysconf(_SC_CLK_TCK);
    uint64_t gticks = 0;

    if (!f || !h)
        die("cannot write the report");
    for (int w = 0; w < O.workers; w++) {
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 5; j++)
                cls[k][j] += S->w[w].cls[k][j];
        reconnects += S->w[w].reconnects;
        rtrue += S->w[w].recovered_true;
        rfalse += S->w[w].recovered_false;
        gaps += S->w[w].gaps;
        retries += S->w[w].connect_retries;
        nfailed += atomic_load(&S->w[w].failed);
        gticks += S->w[w].cpu_ticks;
        if (!err[0] && S->w[w].first_error[0])
            err = S->w[w].first_error;
    }
    fprintf(f, "{\"label\":\"%s\",\"proto\":\"%s\",\"qos\":%d,", O.label,
            proto_name(), O.qos);
    fprintf(f, "\"subscribers\":%d,\"channels\":%d,\"workers\":%d,", nsubs, nch,
            O.workers);
    fprintf(f,
            "\"connect\":{\"ready\":%d,\"ramp_s\":%.3f,\"per_s\":%.1f,"
            "\"retries\":%" PRIu64 ",\"failed\":%d,",
            CR.ready, CR.ramp_secs, CR.hs_rate, retries, nfailed);
    memset(h, 0, sizeof(*h));
    for (int w = 0; w < O.workers; w++)
        hist_merge(h, &S->w[w].handshake);
    jhist(f, "handshake", h);
    fputc(',', f);
    memset(h, 0, sizeof(*h));
    for (int w = 0; w < O.workers; w++)
        hist_merge(h, &S->w[w].subscribe);
    jhist(f, "subscribe", h);
    fprintf(f,
            ",\"rss_before_kib\":%" PRIu64 ",\"rss_after_kib\":%" PRIu64
            ",\"slab_before_kib\":%" PRIu64 ",\"slab_after_kib\":%" PRIu64
            ",\"idle_cpu\":%.2f},",
            CR.rss_before, CR.rss_after, CR.slab_before, CR.slab_after,
            CR.idle_cpu);
    fputs("\"steps\":[", f);
    for (int s = 0; s < nsteps; s++) {
        struct stepres *r = &steps[s];
        uint64_t deliv = step_delivered(s), dups = 0, reord = 0;
        memset(h, 0, sizeof(*h));
        for (int w = 0; w < O.workers; w++) {
            hist_merge(h, &S->w[w].lat[s]);
            dups += atomic_load(&S->w[w].dups[s]);
            reord += atomic_load(&S->w[w].reorders[s]);
        }
        fprintf(
            f,
            "%s{\"step\":%d,\"mult\":%.4f,\"secs\":%.1f,"
            "\"offered_posts_s\":%.1f,\"offered_deliveries_s\":%.1f,"
            "\"posted\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"failed\":%" PRIu64
            ",\"expected\":%" PRIu64 ",\"delivered\":%" PRIu64
            ",\"lost\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"reordered\":%" PRIu64
            ",\"deliveries_s\":%.1f,\"server_cpu\":%.1f,"
            "\"redis_cpu\":%.1f,\"gen_cpu\":%.1f,\"gen_bound\":%s,"
            "\"lag_ms\":%.1f,\"verdict\":%s%s%s,",
            s ? "," : "", s, r->mult, r->secs, r->offered_posts,
            r->deliv_offered, r->posted, r->acked, r->failed, r->expected,
            deliv, r->expected > deliv ? r->expected - deliv : 0, dups, reord,
            (double)deliv / r->secs, r->server_cpu, r->redis_cpu, r->gen_cpu,
            r->gen_bound ? "true" : "false", r->lag_ms, r->verdict ? "\"" : "",
            r->verdict ? r->verdict : "null", r->verdict ? "\"" : "");
        jhist(f, "latency", h);
        fputc(',', f);
        jhist(f, "ack", &ack_hist[s]);
        fputc('}', f);
    }
    fputs("],\"timeline\":[", f);
    for (int t = 0, first = 1; t < MAX_TL; t++) {
        memset(h, 0, sizeof(*h));
        for (int w = 0; w < O.workers; w++)
            hist_merge(h, &S->w[w].tl[t]);
        if (!h->count)
            continue;
        fprintf(f,
                "%s{\"t\":%d,\"n\":%" PRIu64 ",\"p50\":%.3f,\"p99\":%.3f,"
                "\"max\":%.3f}",
                first ? "" : ",", t, h->count, hist_percentile(h, 50) / 1000,
                hist_percentile(h, 99) / 1000, (double)h->max / 1000);
        first = 0;
    }
    fputs("],\"classes\":{", f);
    {
        static const char *cn[] = {"healthy", "dropped", "slow"};
        for (int k = 0; k < 3; k++)
            fprintf(f,
                    "%s\"%s\":{\"subs\":%" PRIu64 ",\"expected\":%" PRIu64
                    ",\"delivered\":%" PRIu64 ",\"lost\":%" PRIu64
                    ",\"dups\":%" PRIu64 ",\"reordered\":%" PRIu64 "}",
                    k ? "," : "", cn[k], cls[k][0], cls[k][1], cls[k][2],
                    cls[k][1] > cls[k][2] ? cls[k][1] - cls[k][2] : 0,
                    cls[k][3], cls[k][4]);
    }
    memset(h, 0, sizeof(*h));
    for (int w = 0; w < O.workers; w++)
        hist_merge(h, &S->w[w].reconnect);
    fprintf(f,
            "},\"reconnects\":%" PRIu64 ",\"recovered_true\":%" PRIu64
            ",\"recovered_false\":%" PRIu64 ",\"gaps\":%" PRIu64 ",",
            reconnects, rtrue, rfalse, gaps);
    jhist(f, "reconnect_time", h);
    memset(h, 0, sizeof(*h));
    for (int w = 0; w < O.workers; w++)
        hist_merge(h, &S->w[w].healthy);
    fputc(',', f);
    jhist(f, "healthy_latency", h);
    fprintf(f, ",\"gen_cpu_s\":%.2f,\"first_error\":\"", (double)gticks / tck);
    for (const char *p = err; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            fputc(*p, f);
    fputs("\"}\n", f);
    free(h);
    if (f != stdout)
        fclose(f);
}

/* ---- options ----------------------------------------------------------------
 */

static void usage(void)
{
    fputs("usage: loadgen --proto relay|wsjson|sio|mqtt [--qos 0|1]\n"
          "  --target HOST:PORT (repeat; subscribers round-robin)\n"
          "  --groups CxS[,CxS...]  C channels of S subscribers each\n"
          "  --rates R[,R...]       posts/s per group (over its channels)\n"
          "  [--token T (repeat)] [--publishers N] [--window N]\n"
          "  [--step-secs S] [--max-steps N] [--factor F] [--p99-limit-ms M]\n"
          "  [--drain-secs S] [--settle-secs S] [--idle-secs S]\n"
          "  [--workers N] [--concurrency N] [--src-ips N] [--path P]\n"
          "  [--slow-frac F] [--reconnect] [--at SEC:CMD]\n"
          "  [--server-pid PID (repeat)] [--redis-pid PID]\n"
          "  [--connect-timeout S] [--label L] [--json FILE]\n",
          stderr);
    exit(2);
}

static double num(const char *s)
{
    char *e;
    double v = strtod(s, &e);

    if (e == s || *e)
        die("not a number: %s", s);
    return v;
}

static void parse_list(const char *s, int *a, int *b, double *r, int *n)
{
    char tmp[512];
    char *save = NULL;

    snprintf(tmp, sizeof(tmp), "%s", s);
    *n = 0;
    for (char *t = strtok_r(tmp, ",", &save); t && *n < MAX_GROUPS;
         t = strtok_r(NULL, ",", &save)) {
        if (r) {
            r[(*n)++] = num(t);
        } else {
            char *x = strchr(t, 'x');
            if (!x)
                die("group %s: want CHANNELSxSUBSCRIBERS", t);
            *x = '\0';
            a[*n] = (int)num(t);
            b[*n] = (int)num(x + 1);
            if (a[*n] < 1 || b[*n] < 0)
                die("bad group");
            (*n)++;
        }
    }
}

static void parse_args(int argc, char **argv)
{
    int nrates = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--reconnect")) {
            O.reconnect = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--proto")) {
            if (!strcmp(v, "relay"))
                O.proto = P_RELAY;
            else if (!strcmp(v, "wsjson"))
                O.proto = P_WSJSON;
            else if (!strcmp(v, "sio"))
                O.proto = P_SIO;
            else if (!strcmp(v, "mqtt"))
                O.proto = P_MQTT;
            else
                usage();
        } else if (!strcmp(a, "--qos")) {
            O.qos = (int)num(v) ? 1 : 0;
        } else if (!strcmp(a, "--target")) {
            const char *colon = strrchr(v, ':');
            char host[64];
            if (!colon || O.ntargets == MAX_TARGETS ||
                (size_t)(colon - v) >= sizeof(host))
                usage();
            memcpy(host, v, (size_t)(colon - v));
            host[colon - v] = '\0';
            O.targets[O.ntargets].sin_family = AF_INET;
            O.targets[O.ntargets].sin_port = htons((uint16_t)num(colon + 1));
            if (inet_pton(AF_INET, host, &O.targets[O.ntargets].sin_addr) != 1)
                die("target %s: want an IPv4 address", v);
            snprintf(O.target_name[O.ntargets], sizeof(O.target_name[0]), "%s",
                     v);
            O.ntargets++;
        } else if (!strcmp(a, "--groups")) {
            parse_list(v, O.gch, O.gsubs, NULL, &O.ngroups);
        } else if (!strcmp(a, "--rates")) {
            parse_list(v, NULL, NULL, O.grate, &nrates);
        } else if (!strcmp(a, "--token")) {
            if (O.ntokens < MAX_TOKENS)
                O.tokens[O.ntokens++] = v;
        } else if (!strcmp(a, "--publishers")) {
            O.publishers = (int)num(v);
        } else if (!strcmp(a, "--window")) {
            O.window = (int)num(v);
        } else if (!strcmp(a, "--step-secs")) {
            O.step_secs = num(v);
        } else if (!strcmp(a, "--max-steps")) {
            O.max_steps = (int)num(v);
        } else if (!strcmp(a, "--factor")) {
            O.factor = num(v);
        } else if (!strcmp(a, "--p99-limit-ms")) {
            O.p99_limit_ms = num(v);
        } else if (!strcmp(a, "--drain-secs")) {
            O.drain_secs = num(v);
        } else if (!strcmp(a, "--settle-secs")) {
            O.settle_secs = num(v);
        } else if (!strcmp(a, "--idle-secs")) {
            O.idle_secs = num(v);
        } else if (!strcmp(a, "--connect-timeout")) {
            O.connect_timeout = num(v);
        } else if (!strcmp(a, "--workers")) {
            O.workers = (int)num(v);
        } else if (!strcmp(a, "--concurrency")) {
            O.concurrency = (int)num(v);
        } else if (!strcmp(a, "--src-ips")) {
            O.src_ips = (int)num(v);
        } else if (!strcmp(a, "--path")) {
            O.path = v;
        } else if (!strcmp(a, "--slow-frac")) {
            O.slow_frac = num(v);
        } else if (!strcmp(a, "--server-pid")) {
            if (O.nserver < MAX_PIDS)
                O.server_pids[O.nserver++] = (int)num(v);
        } else if (!strcmp(a, "--redis-pid")) {
            O.redis_pid = (int)num(v);
        } else if (!strcmp(a, "--at")) {
            char *colon = strchr(v, ':');
            if (!colon || O.nevents == MAX_EVENTS)
                usage();
            *colon = '\0';
            O.ev_at[O.nevents] = num(v);
            O.ev_cmd[O.nevents++] = colon + 1;
        } else if (!strcmp(a, "--json")) {
            O.json = v;
        } else if (!strcmp(a, "--label")) {
            O.label = v;
        } else {
            usage();
        }
    }
    if (!O.ntargets || !O.ngroups || nrates != O.ngroups)
        usage();
    if (O.workers < 1 || O.workers > MAX_WORKERS || O.publishers < 1 ||
        O.publishers > 64 || O.window < 1 || O.concurrency < 1 ||
        O.max_steps > MAX_STEPS || O.step_secs <= 0)
        die("option out of range");
    if (O.proto == P_MQTT)
        O.src_ips = O.src_ips; /* plain TCP: same source spreading */
}

static void layout(void)
{
    int k = 0;

    nch = 0;
    nsubs = 0;
    for (int g = 0; g < O.ngroups; g++) {
        nch += O.gch[g];
        nsubs += O.gch[g] * O.gsubs[g];
    }
    sub_ch = calloc((size_t)nsubs + 1, sizeof(*sub_ch));
    ch_group = calloc((size_t)nch, sizeof(*ch_group));
    ch_seq = calloc((size_t)nch, sizeof(*ch_seq));
    if (!sub_ch || !ch_group || !ch_seq)
        die("out of memory");
    /* Subscriber i of group g: channel (first + i % channels), so a
     * channel's subscribers are spread over the workers and targets. */
    for (int g = 0, first = 0; g < O.ngroups; first += O.gch[g], g++) {
        for (int c = 0; c < O.gch[g]; c++)
            ch_group[first + c] = g;
        for (int i = 0; i < O.gch[g] * O.gsubs[g]; i++)
            sub_ch[k++] = first + i % O.gch[g];
    }
}

/* Slow subscribers: an even spread of slow_frac of all of them. */
static int is_slow(int i)
{
    if (O.slow_frac <= 0)
        return 0;
    return (int)((double)(i + 1) * O.slow_frac) !=
           (int)((double)i * O.slow_frac);
}

static void setup_worker(void)
{
    int k = 0;

    ep = epoll_create1(EPOLL_CLOEXEC);
    rbuf = malloc(RBUF);
    if (ep < 0 || !rbuf)
        die("epoll/malloc failed");
    nmysubs = 0;
    for (int i = W; i < nsubs; i += O.workers)
        nmysubs++;
    nconns = nmysubs + (W == 0 ? O.publishers : 0);
    conns = calloc((size_t)nconns, sizeof(*conns));
    if (!conns)
        die("out of memory");
    for (int i = W; i < nsubs; i += O.workers, k++) {
        struct conn *c = &conns[k];
        c->fd = -1;
        c->idx = i;
        c->ch = sub_ch[i];
        c->target = i % O.ntargets;
        c->slow = (uint8_t)is_slow(i);
        c->rseq = -1;
        c->mask = (uint32_t)i * 2654435761u + 1;
    }
    for (int p = 0; W == 0 && p < O.publishers; p++, k++) {
        struct conn *c = &conns[k];
        c->fd = -1;
        c->idx = -1 - p;
        c->ch = -1;
        c->target = 0;
        c->rseq = -1;
        c->mask = 12345u + (uint32_t)p;
    }
    if (W == 0) {
        /* publishers first: they must be live before the subscribers are */
        for (int p = 0; p < O.publishers; p++)
            conn_start(&conns[nmysubs + p]);
        pub_inflight = calloc((size_t)O.publishers, sizeof(*pub_inflight));
        if (O.proto == P_MQTT)
            mqtt_pid_post =
                calloc((size_t)O.publishers, sizeof(*mqtt_pid_post));
        if (!pub_inflight || (O.proto == P_MQTT && !mqtt_pid_post))
            die("out of memory");
        nconns = nmysubs; /* housekeeping starts subscribers only */
    }
}

/* Frees what this worker holds (sanitizer builds check for leaks). */
static void cleanup_worker(void)
{
    int all = nmysubs + (W == 0 ? O.publishers : 0);

    for (int i = 0; i < all; i++) {
        struct conn *c = &conns[i];
        if (c->fd >= 0)
            close(c->fd);
        free(c->in);
        free(c->out);
        free(c->frag);
        free(c->seen);
    }
    free(conns);
    free(rbuf);
    free(posts);
    free(pub_inflight);
    free(mqtt_pid_post);
    free(sub_ch);
    free(ch_group);
    free(ch_seq);
    close(ep);
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    size_t shsz;

    signal(SIGPIPE, SIG_IGN);
    run_nonce = (uint64_t)time(NULL) * 1000u + now_ns() % 1000u;
    parse_args(argc, argv);
    layout();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    shsz = sizeof(struct shared) + (size_t)nch * sizeof(*acked_ch) +
           (size_t)nch * sizeof(*ch_live);
    S = mmap(NULL, shsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
             0);
    if (S == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    acked_ch = (_Atomic uint64_t *)(void *)(S + 1);
    ch_live = (_Atomic uint32_t *)(void *)(acked_ch + nch);
    for (int i = 0; i < nsubs; i++)
        if (!is_slow(i))
            atomic_fetch_add(&ch_live[sub_ch[i]], 1);
    atomic_store(&S->phase, PH_CONNECT);
    for (int w = 1; w < O.workers; w++) {
        pid_t p = fork();
        if (p < 0)
            die("fork: %s", strerror(errno));
        if (p == 0) {
            W = w;
            setup_worker();
            worker_loop();
            cleanup_worker();
            _exit(0);
        }
        children[w] = p;
    }
    W = 0;
    setup_worker();
    worker0_scenario();
    atomic_store_explicit(&S->phase, PH_DONE, memory_order_release);
    finalize_worker();
    for (int w = 1; w < O.workers; w++) {
        int st;
        /* each worker writes its totals and exits */
        while (!atomic_load_explicit(&S->w[w].done, memory_order_acquire))
            usleep(1000);
        waitpid(children[w], &st, 0);
    }
    report();
    cleanup_worker();
    munmap(S, shsz);
    return 0;
}
