/* Unit tests for relay/sendq.c: byte bounds, order, references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "error.h"
#include "sendq.h"

static struct msgbuf *frame(size_t len, uint64_t seq)
{
    char buf[4096];

    memset(buf, 'x', len);
    return msgbuf_create(buf, len, seq);
}

static void test_fifo_order_and_byte_count(void **state)
{
    struct sendq q;

    sendq_init(&q, 10000);
    for (uint64_t i = 1; i <= 100; i++) {
        struct msgbuf *m = frame(10, i);

        assert_int_equal(sendq_push(&q, m), RELAY_OK);
        msgbuf_unref(m);
    }
    assert_int_equal(q.bytes, 1000);
    assert_int_equal(q.count, 100);
    for (uint64_t i = 1; i <= 100; i++) {
        assert_int_equal(sendq_peek(&q)->seq, i);
        sendq_pop(&q);
    }
    assert_null(sendq_peek(&q));
    assert_int_equal(q.bytes, 0);
    sendq_cleanup(&q);
}

static void test_push_past_limit_fails_and_keeps_queue(void **state)
{
    struct sendq q;
    struct msgbuf *m = frame(400, 1);

    sendq_init(&q, 1000);
    assert_int_equal(sendq_push(&q, m), RELAY_OK);
    assert_int_equal(sendq_push(&q, m), RELAY_OK);
    assert_int_equal(sendq_push(&q, m), RELAY_EFULL);
    assert_int_equal(q.count, 2);
    assert_int_equal(q.bytes, 800);
    /* the queue holds its own references */
    assert_int_equal(m->refs, 3);
    sendq_cleanup(&q);
    assert_int_equal(m->refs, 1);
    msgbuf_unref(m);
}

static void test_oversized_frame_accepted_when_empty(void **state)
{
    struct sendq q;
    struct msgbuf *big = frame(3000, 1);
    struct msgbuf *small = frame(1, 2);

    sendq_init(&q, 1000);
    assert_int_equal(sendq_push(&q, big), RELAY_OK);
    assert_int_equal(sendq_push(&q, small), RELAY_EFULL);
    sendq_pop(&q);
    assert_int_equal(sendq_push(&q, small), RELAY_OK);
    sendq_cleanup(&q);
    msgbuf_unref(big);
    msgbuf_unref(small);
}

static void test_wraparound_growth_keeps_order(void **state)
{
    struct sendq q;
    uint64_t next_in = 1, next_out = 1;

    sendq_init(&q, 1 << 20);
    /* interleave pushes and pops so the ring wraps before it grows */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 7; i++) {
            struct msgbuf *m = frame(5, next_in++);

            assert_int_equal(sendq_push(&q, m), RELAY_OK);
            msgbuf_unref(m);
        }
        for (int i = 0; i < 5; i++) {
            assert_int_equal(sendq_peek(&q)->seq, next_out++);
            sendq_pop(&q);
        }
    }
    while (sendq_peek(&q)) {
        assert_int_equal(sendq_peek(&q)->seq, next_out++);
        sendq_pop(&q);
    }
    assert_int_equal(next_out, next_in);
    sendq_cleanup(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_order_and_byte_count),
        cmocka_unit_test(test_push_past_limit_fails_and_keeps_queue),
        cmocka_unit_test(test_oversized_frame_accepted_when_empty),
        cmocka_unit_test(test_wraparound_growth_keeps_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
