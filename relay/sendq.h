/*
 * sendq.h - a connection's bounded queue of frames waiting to be written.
 *
 * Bounded in bytes, not frames: a phone on a bad link must never make the
 * relay grow without limit. When a push would pass the limit the push fails
 * with RELAY_EFULL and the caller closes the connection (code 4008, "slow")
 * instead of dropping frames silently: a client that misses messages must
 * know it, and a closed connection tells it to reconnect with "since".
 */
#ifndef RELAY_SENDQ_H
#define RELAY_SENDQ_H

#include <stddef.h>

#include "msgbuf.h"

struct sendq {
    struct msgbuf **ring; /* circular array of references */
    size_t cap;           /* ring slots (grows by doubling) */
    size_t head;          /* index of the oldest frame */
    size_t count;         /* frames queued */
    size_t bytes;         /* payload bytes queued */
    size_t max_bytes;     /* limit; a push passing it fails */
};

void sendq_init(struct sendq *q, size_t max_bytes);
/* Drops every queued reference and frees the ring; q reusable after. */
void sendq_cleanup(struct sendq *q);

/*
 * Queues a reference to 'm' (takes a new reference; the caller keeps its
 * own). RELAY_EFULL when bytes + m->len would exceed max_bytes; RELAY_ENOMEM
 * when the ring cannot grow. A single frame larger than the limit is still
 * accepted into an empty queue, so a limit below one frame cannot wedge a
 * connection.
 */
int sendq_push(struct sendq *q, struct msgbuf *m);

/* Oldest frame, still queued (borrowed); NULL when empty. */
struct msgbuf *sendq_peek(const struct sendq *q);

/* Removes the oldest frame and drops the queue's reference to it. */
void sendq_pop(struct sendq *q);

#endif
