/*
 * Unit tests for relay/audit.c: field rules, the canonical encoding and
 * hash chain (with known-answer vectors computed independently with
 * Python's hashlib.blake2b), verification of records, and - when a
 * redis-server binary is available - the synchronous and asynchronous
 * writers against a private redis-server on a free loopback port.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "error.h"
#include "redis_link.h"

/* hashlib.blake2b(b'', digest_size=32, key=bytes(range(32)),
 *   salt=struct.pack('<Q', 3) + bytes(8), person=b'buurtpii' + bytes(8)) */
#define KDF3_HEX                                                               \
    "444c27ffe63509dab599b89a2fdbf8f9d5e3d8848278600c24fbb76dbb0db214"
/* The same with subkey id 1: pii.c's encryption key. */
#define KDF1_HEX                                                               \
    "ed7be6707f757beb4a681c5788ee211360976f80d6d459e92d8c50e00e77af6c"
/* blake2b(genesis + canonical(E1), digest_size=32, key=bytes(range(32))) */
#define H1_HEX                                                                 \
    "03ce18a5917ae7ffdc2943ff8b013bc0ada122149305383ab6ff27df8fa6e5c7"
/* blake2b(H1 + canonical(E2), ...) */
#define H2_HEX                                                                 \
    "03d0f6a064e096b65fe30073012ad83470f65552a14b6ef21976234397057daa"
#define E1_CANON                                                               \
    "buurtaudit.v1\nts=13:1700000000000\nactor=17:u0123456789abcdef\n"         \
    "role=6:police\naction=10:post.alert\ntarget=16:buurt:BU01060101\n"        \
    "result=2:ok\n"

static unsigned char key[AUDIT_KEY_BYTES];

static const struct audit_entry e1 = {1700000000000ULL,   "u0123456789abcdef",
                                      "police",           "post.alert",
                                      "buurt:BU01060101", "ok"};
static const struct audit_entry e2 = {1700000000001ULL,    "cli",
                                      "operator",          "user.erase",
                                      "u0123456789abcdef", "ok"};

static int setup(void **state)
{
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)i;
    return sodium_init() < 0 ? -1 : 0;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, b, n);
}

static void test_key_derivation_known_answer(void **state)
{
    unsigned char master[PII_KEY_BYTES], k[AUDIT_KEY_BYTES];
    char h[2 * AUDIT_KEY_BYTES + 1];

    for (size_t i = 0; i < sizeof(master); i++)
        master[i] = (unsigned char)i;
    assert_int_equal(audit_key_derive(master, k), RELAY_OK);
    hex(k, sizeof(k), h);
    assert_string_equal(h, KDF3_HEX);
    /* Not the PII encryption subkey (id 1) of the same master. */
    assert_string_not_equal(h, KDF1_HEX);
}

static void test_canonical_known_answer(void **state)
{
    char out[AUDIT_CANONICAL_MAX];
    size_t len = 0;

    assert_int_equal(audit_canonical(&e1, out, sizeof(out), &len), RELAY_OK);
    assert_int_equal(len, strlen(E1_CANON));
    assert_memory_equal(out, E1_CANON, len);
    /* Too small a buffer is an error, never a truncated encoding. */
    assert_int_equal(audit_canonical(&e1, out, len - 1, &len), RELAY_ETOOBIG);
}

static void test_canonical_is_unambiguous(void **state)
{
    /* Moving a byte from one field to the next changes the encoding. */
    struct audit_entry a = {5, "ab", "x", "c", "d", "ok"};
    struct audit_entry b = {5, "a", "bx", "c", "d", "ok"};
    char ca[AUDIT_CANONICAL_MAX], cb[AUDIT_CANONICAL_MAX];
    size_t la = 0, lb = 0;

    assert_int_equal(audit_canonical(&a, ca, sizeof(ca), &la), RELAY_OK);
    assert_int_equal(audit_canonical(&b, cb, sizeof(cb), &lb), RELAY_OK);
    assert_false(la == lb && memcmp(ca, cb, la) == 0);
    /* ts 0 has no canonical form: "now" must be filled in first. */
    a.ts_ms = 0;
    assert_int_equal(audit_canonical(&a, ca, sizeof(ca), &la), RELAY_EINVAL);
}

static void test_hash_chain_known_answer(void **state)
{
    char h1[AUDIT_HASH_HEX], h2[AUDIT_HASH_HEX];

    assert_int_equal(audit_hash(key, audit_genesis, &e1, h1), RELAY_OK);
    assert_string_equal(h1, H1_HEX);
    assert_int_equal(audit_hash(key, h1, &e2, h2), RELAY_OK);
    assert_string_equal(h2, H2_HEX);
}

static void test_hash_depends_on_everything(void **state)
{
    static const char *const alts[] = {"u0123456789abcdeX", "boa", "post.tip",
                                       "buurt:BU01060102", "denied"};
    unsigned char other[AUDIT_KEY_BYTES];
    char base[AUDIT_HASH_HEX], h[AUDIT_HASH_HEX];
    struct audit_entry e;

    assert_int_equal(audit_hash(key, audit_genesis, &e1, base), RELAY_OK);
    for (int i = 0; i < 6; i++) {
        e = e1;
        switch (i) {
        case 0:
            e.actor = alts[0];
            break;
        case 1:
            e.role = alts[1];
            break;
        case 2:
            e.action = alts[2];
            break;
        case 3:
            e.target = alts[3];
            break;
        case 4:
            e.result = alts[4];
            break;
        default:
            e.ts_ms++;
            break;
        }
        assert_int_equal(audit_hash(key, audit_genesis, &e, h), RELAY_OK);
        assert_string_not_equal(h, base);
    }
    assert_int_equal(audit_hash(key, H2_HEX, &e1, h), RELAY_OK);
    assert_string_not_equal(h, base);
    memcpy(other, key, sizeof(other));
    other[0] ^= 1;
    assert_int_equal(audit_hash(other, audit_genesis, &e1, h), RELAY_OK);
    assert_string_not_equal(h, base);
    /* prev must be 64 lowercase hex digits. */
    assert_int_equal(audit_hash(key, "", &e1, h), RELAY_EINVAL);
    assert_int_equal(audit_hash(key, "ABC", &e1, h), RELAY_EINVAL);
}

static void test_field_rules_refuse_personal_data(void **state)
{
    struct audit_entry e;
    char long_target[AUDIT_TARGET_MAX + 2];
    static const char *const bad_targets[] = {
        "+31612345678", "jan@example.nl", "Jan Jansen", "", "a\nb", "a/b",
    };

    assert_int_equal(audit_entry_check(&e1), RELAY_OK);
    assert_int_equal(audit_entry_check(&e2), RELAY_OK);
    for (size_t i = 0; i < sizeof(bad_targets) / sizeof(bad_targets[0]); i++) {
        e = e1;
        e.target = bad_targets[i];
        assert_int_equal(audit_entry_check(&e), RELAY_EINVAL);
    }
    e = e1;
    e.actor = "anonymous user";
    assert_int_equal(audit_entry_check(&e), RELAY_EINVAL);
    e = e1;
    e.role = "Police";
    assert_int_equal(audit_entry_check(&e), RELAY_EINVAL);
    e = e1;
    e.action = "post alert";
    assert_int_equal(audit_entry_check(&e), RELAY_EINVAL);
    e = e1;
    e.result = "OK";
    assert_int_equal(audit_entry_check(&e), RELAY_EINVAL);
    e = e1;
    e.result = NULL;
    assert_int_equal(audit_entry_check(&e), RELAY_EINVAL);
    memset(long_target, 'a', sizeof(long_target) - 1);
    long_target[sizeof(long_target) - 1] = '\0';
    e = e1;
    e.target = long_target;
    assert_int_equal(audit_entry_check(&e), RELAY_EINVAL);
    long_target[AUDIT_TARGET_MAX] = '\0';
    assert_int_equal(audit_entry_check(&e), RELAY_OK);
    /* Channel, case and "none" targets are fine. */
    e.target = "desk:WK010601";
    assert_int_equal(audit_entry_check(&e), RELAY_OK);
    e.target = "-";
    assert_int_equal(audit_entry_check(&e), RELAY_OK);
    assert_int_equal(audit_entry_check(NULL), RELAY_EINVAL);
}

/* Fills a record as audit_walk would for entry e chained after prev. */
static void make_record(struct audit_record *r, const char *id,
                        const struct audit_entry *e, const char *prev)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    snprintf(r->ts, sizeof(r->ts), "%llu", (unsigned long long)e->ts_ms);
    r->ts_ms = e->ts_ms;
    snprintf(r->actor, sizeof(r->actor), "%s", e->actor);
    snprintf(r->role, sizeof(r->role), "%s", e->role);
    snprintf(r->action, sizeof(r->action), "%s", e->action);
    snprintf(r->target, sizeof(r->target), "%s", e->target);
    snprintf(r->result, sizeof(r->result), "%s", e->result);
    snprintf(r->prev, sizeof(r->prev), "%s", prev);
    assert_int_equal(audit_hash(key, prev, e, r->hash), RELAY_OK);
}

static void test_record_verify(void **state)
{
    struct audit_record r1, r2, bad;
    const char *why = NULL;

    make_record(&r1, "1-0", &e1, audit_genesis);
    make_record(&r2, "2-0", &e2, r1.hash);
    assert_int_equal(audit_record_verify(key, &r1, audit_genesis, &why),
                     RELAY_OK);
    assert_int_equal(audit_record_verify(key, &r2, r1.hash, &why), RELAY_OK);

    /* An edited field. */
    bad = r2;
    memcpy(bad.target, "u0000000000000000", 18);
    assert_int_equal(audit_record_verify(key, &bad, r1.hash, &why),
                     RELAY_EAUTH);
    assert_non_null(strstr(why, "edited"));
    /* An edited timestamp. */
    bad = r2;
    bad.ts_ms++;
    assert_int_equal(audit_record_verify(key, &bad, r1.hash, &why),
                     RELAY_EAUTH);
    /* r2 right after the genesis: r1 was removed. */
    assert_int_equal(audit_record_verify(key, &r2, audit_genesis, &why),
                     RELAY_EAUTH);
    assert_non_null(strstr(why, "prev"));
    /* Another key. */
    key[5] ^= 0x80;
    assert_int_equal(audit_record_verify(key, &r1, audit_genesis, &why),
                     RELAY_EAUTH);
    key[5] ^= 0x80;
    /* A malformed record never verifies. */
    bad = r1;
    bad.malformed = "field 'ts' is missing or malformed";
    assert_int_equal(audit_record_verify(key, &bad, audit_genesis, &why),
                     RELAY_EAUTH);
    assert_string_equal(why, "field 'ts' is missing or malformed");
}

/* --- against a real redis-server ---------------------------------------- */

struct live {
    pid_t pid;
    int port;
    redisContext *c;
};

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Starts redis-server ($REDIS_SERVER or from PATH); skips the test when
 * there is none. */
static void live_start(struct live *lv)
{
    const char *bin = getenv("REDIS_SERVER");
    char port_s[16];
    char *argv[] = {NULL,        "--port",     port_s,    "--bind",
                    "127.0.0.1", "--save",     "",        "--appendonly",
                    "no",        "--loglevel", "warning", NULL};
    struct timespec pause = {0, 50 * 1000 * 1000};

    memset(lv, 0, sizeof(*lv));
    lv->port = free_port();
    if (lv->port < 0)
        skip();
    snprintf(port_s, sizeof(port_s), "%d", lv->port);
    argv[0] = (char *)(bin && bin[0] ? bin : "redis-server");
    lv->pid = fork();
    if (lv->pid < 0)
        skip();
    if (lv->pid == 0) {
        /* Dies with the test, even when the test aborts; its output
         * would hold the test runner's pipes open. */
        int null = open("/dev/null", O_WRONLY);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        redisContext *c = redisConnect("127.0.0.1", lv->port);

        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");

            if (r) {
                freeReplyObject(r);
                lv->c = c;
                return;
            }
        }
        redisFree(c);
        if (waitpid(lv->pid, NULL, WNOHANG) == lv->pid)
            skip(); /* it exited: none installed, or it failed */
        nanosleep(&pause, NULL);
    }
    kill(lv->pid, SIGKILL);
    waitpid(lv->pid, NULL, 0);
    skip(); /* no usable redis-server here */
}

static void live_stop(struct live *lv)
{
    redisFree(lv->c);
    kill(lv->pid, SIGTERM);
    waitpid(lv->pid, NULL, 0);
}

static void cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

struct collect {
    struct audit_record recs[8];
    size_t n;
};

static int collect_cb(void *arg, const struct audit_record *r)
{
    struct collect *col = arg;

    if (col->n < 8)
        col->recs[col->n] = *r;
    col->n++;
    return 0;
}

static void test_live_sync_append_walk_verify(void **state)
{
    struct live lv;
    struct audit_verify_result res;
    struct collect col;
    struct audit_entry e = e1;
    char id[AUDIT_ID_MAX], forged[AUDIT_ID_MAX];
    redisReply *r;

    live_start(&lv);
    assert_int_equal(audit_verify(lv.c, key, &res), RELAY_OK);
    assert_int_equal(res.entries, 0);
    for (int i = 0; i < 3; i++) {
        e.ts_ms = 0; /* now */
        assert_int_equal(audit_append_sync(lv.c, key, &e, id), RELAY_OK);
    }
    assert_int_equal(audit_verify(lv.c, key, &res), RELAY_OK);
    assert_int_equal(res.entries, 3);
    assert_null(res.why);

    memset(&col, 0, sizeof(col));
    assert_int_equal(audit_walk(lv.c, 0, collect_cb, &col), RELAY_OK);
    assert_int_equal(col.n, 3);
    assert_string_equal(col.recs[0].prev, audit_genesis);
    assert_string_equal(col.recs[1].prev, col.recs[0].hash);
    assert_string_equal(col.recs[2].id, id);
    assert_null(col.recs[2].malformed);
    assert_string_equal(col.recs[2].target, "buurt:BU01060101");
    memset(&col, 0, sizeof(col));
    assert_int_equal(audit_walk(lv.c, 2, collect_cb, &col), RELAY_OK);
    assert_int_equal(col.n, 2);
    assert_string_equal(col.recs[1].id, id);

    /* A forged entry appended by hand: caught, and named. */
    r = redisCommand(lv.c,
                     "XADD audit * ts 1 actor x role police action a target "
                     "- result ok prev %s hash %s",
                     col.recs[1].hash, audit_genesis);
    assert_non_null(r);
    snprintf(forged, sizeof(forged), "%s", r->str);
    freeReplyObject(r);
    assert_int_equal(audit_verify(lv.c, key, &res), RELAY_EAUTH);
    assert_string_equal(res.bad_id, forged);
    assert_int_equal(res.entries, 3);
    cmd(lv.c, "XDEL audit %s", forged);
    assert_int_equal(audit_verify(lv.c, key, &res), RELAY_OK);

    /* The last entry cut off and the head left alone: caught. */
    cmd(lv.c, "XDEL audit %s", id);
    assert_int_equal(audit_verify(lv.c, key, &res), RELAY_EAUTH);
    assert_non_null(strstr(res.why, "audit:head"));
    /* The head missing: the next append continues from the last entry,
     * and the chain is whole again. */
    cmd(lv.c, "DEL audit:head");
    assert_int_equal(audit_append_sync(lv.c, key, &e2, NULL), RELAY_OK);
    assert_int_equal(audit_verify(lv.c, key, &res), RELAY_OK);
    assert_int_equal(res.entries, 3);

    /* Bad entries are refused before anything is sent. */
    e.target = "+31612345678";
    assert_int_equal(audit_append_sync(lv.c, key, &e, NULL), RELAY_EINVAL);
    live_stop(&lv);
}

/* Two daemon writers (as two relay processes would) on one chain. */
struct async_run {
    struct redis_link *links[2];
    struct audit *writers[2];
    int up[2];
    uv_timer_t poll;
    uint64_t deadline;
    int ok; /* the wait ended because its condition held */
};

static void link_state(void *arg, int up)
{
    *(int *)arg = up;
}

/* Stops the loop once both links are up and both queues are empty. */
static void poll_cb(uv_timer_t *t)
{
    struct async_run *ar = t->data;
    struct audit_stats s0, s1;

    if (uv_now(t->loop) > ar->deadline) {
        uv_stop(t->loop);
        return;
    }
    audit_stats(ar->writers[0], &s0);
    audit_stats(ar->writers[1], &s1);
    if (ar->up[0] && ar->up[1] && s0.queued + s1.queued == 0) {
        ar->ok = 1;
        uv_stop(t->loop);
    }
}

static void run_until_idle(uv_loop_t *loop, struct async_run *ar)
{
    ar->ok = 0;
    ar->deadline = uv_now(loop) + 15000;
    uv_timer_start(&ar->poll, poll_cb, 5, 5);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_timer_stop(&ar->poll);
    assert_true(ar->ok);
}

static void test_live_async_writers_share_one_chain(void **state)
{
    struct live lv;
    struct async_run ar;
    struct redis_link_options opts = {"cmd", 2000, 100, 1000};
    struct audit_verify_result res;
    struct audit_stats s0, s1;
    struct audit_entry e = e1;
    uint64_t conflicts;
    uv_loop_t loop;

    live_start(&lv);
    memset(&ar, 0, sizeof(ar));
    assert_int_equal(uv_loop_init(&loop), 0);
    for (int i = 0; i < 2; i++) {
        ar.links[i] = redis_link_create(&loop, "127.0.0.1", lv.port, &opts,
                                        link_state, &ar.up[i]);
        assert_non_null(ar.links[i]);
        ar.writers[i] = audit_create(&loop, ar.links[i], key, 64);
        assert_non_null(ar.writers[i]);
    }
    uv_timer_init(&loop, &ar.poll);
    ar.poll.data = &ar;
    run_until_idle(&loop, &ar); /* both links up */

    /* Interleaved appends from both writers. */
    for (int i = 0; i < 40; i++) {
        e.ts_ms = 0;
        e.result = (i % 2) ? "ok" : "denied";
        assert_int_equal(audit_append(ar.writers[i % 2], &e), RELAY_OK);
    }
    run_until_idle(&loop, &ar);
    audit_stats(ar.writers[0], &s0);
    audit_stats(ar.writers[1], &s1);
    assert_int_equal(s0.written + s1.written, 40);
    assert_int_equal(s0.dropped + s1.dropped, 0);
    assert_int_equal(audit_verify(lv.c, key, &res), RELAY_OK);
    assert_int_equal(res.entries, 40);

    /* buurtctl moves the head behind writer 0's back: its next append
     * loses the race once, recomputes, and lands on the new head. */
    conflicts = s0.conflicts;
    assert_int_equal(audit_append_sync(lv.c, key, &e2, NULL), RELAY_OK);
    assert_int_equal(audit_append(ar.writers[0], &e1), RELAY_OK);
    run_until_idle(&loop, &ar);
    audit_stats(ar.writers[0], &s0);
    assert_int_equal(s0.conflicts, conflicts + 1);
    assert_int_equal(audit_verify(lv.c, key, &res), RELAY_OK);
    assert_int_equal(res.entries, 42);

    for (int i = 0; i < 2; i++) {
        audit_destroy(ar.writers[i]);
        redis_link_destroy(ar.links[i]);
    }
    uv_close((uv_handle_t *)&ar.poll, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    live_stop(&lv);
}

/* With Redis unreachable the queue holds queue_max entries, then drops
 * and counts; destroy drops the rest and frees everything. */
static void test_async_queue_is_bounded(void **state)
{
    struct redis_link_options opts = {"cmd", 500, 1000, 1000};
    struct audit_stats st;
    struct redis_link *link;
    struct audit *a;
    struct audit_entry bad = e1;
    uv_loop_t loop;

    assert_int_equal(uv_loop_init(&loop), 0);
    link = redis_link_create(&loop, "127.0.0.1", 1, &opts, NULL, NULL);
    assert_non_null(link);
    a = audit_create(&loop, link, key, 3);
    assert_non_null(a);
    for (int i = 0; i < 3; i++)
        assert_int_equal(audit_append(a, &e1), RELAY_OK);
    assert_int_equal(audit_append(a, &e2), RELAY_EFULL);
    bad.actor = "Jan Jansen";
    assert_int_equal(audit_append(a, &bad), RELAY_EINVAL);
    audit_stats(a, &st);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.written, 0);
    assert_null(audit_create(&loop, link, key, 0));
    audit_destroy(a);
    redis_link_destroy(link);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_derivation_known_answer),
        cmocka_unit_test(test_canonical_known_answer),
        cmocka_unit_test(test_canonical_is_unambiguous),
        cmocka_unit_test(test_hash_chain_known_answer),
        cmocka_unit_test(test_hash_depends_on_everything),
        cmocka_unit_test(test_field_rules_refuse_personal_data),
        cmocka_unit_test(test_record_verify),
        cmocka_unit_test(test_live_sync_append_walk_verify),
        cmocka_unit_test(test_live_async_writers_share_one_chain),
        cmocka_unit_test(test_async_queue_is_bounded),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
