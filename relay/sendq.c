#include "sendq.h"

#include <stdlib.h>

#include "error.h"

void sendq_init(struct sendq *q, size_t max_bytes)
{
    q->ring = NULL;
    q->cap = 0;
    q->head = 0;
    q->count = 0;
    q->bytes = 0;
    q->max_bytes = max_bytes;
}

void sendq_cleanup(struct sendq *q)
{
    while (q->count > 0)
        sendq_pop(q);
    free(q->ring);
    sendq_init(q, q->max_bytes);
}

/* Doubles the ring, unwrapping it so the oldest frame is at index 0. */
static int grow(struct sendq *q)
{
    size_t cap = q->cap ? q->cap * 2 : 16;
    struct msgbuf **ring = malloc(cap * sizeof(*ring));

    if (!ring)
        return RELAY_ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return RELAY_OK;
}

int sendq_push(struct sendq *q, struct msgbuf *m)
{
    if (q->count > 0 && q->bytes + m->len > q->max_bytes)
        return RELAY_EFULL;
    if (q->count == q->cap) {
        int rc = grow(q);

        if (rc < 0)
            return rc;
    }
    q->ring[(q->head + q->count) % q->cap] = msgbuf_ref(m);
    q->count++;
    q->bytes += m->len;
    return RELAY_OK;
}

struct msgbuf *sendq_peek(const struct sendq *q)
{
    return q->count ? q->ring[q->head] : NULL;
}

void sendq_pop(struct sendq *q)
{
    struct msgbuf *m;

    if (q->count == 0)
        return;
    m = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->bytes -= m->len;
    msgbuf_unref(m);
}
