/*
 * msgbuf.h - an immutable, reference-counted frame shared by many readers.
 *
 * One message published on a buurt channel is sent to every local
 * subscriber. Rather than copy it per connection, the bus makes one msgbuf
 * and every send queue holds a reference. The bytes are preceded by
 * MSGBUF_HEADROOM spare bytes because libwebsockets writes its frame header
 * in front of the payload (LWS_PRE); session.c asserts the two agree.
 * Single-threaded: the counts are plain integers, used only on the loop.
 */
#ifndef RELAY_MSGBUF_H
#define RELAY_MSGBUF_H

#include <stddef.h>
#include <stdint.h>

#define MSGBUF_HEADROOM 32

struct msgbuf {
    unsigned refs; /* holders; freed when it drops to zero */
    uint64_t seq;  /* channel sequence number, 0 for non-channel frames */
    size_t len;    /* payload bytes, excluding headroom and the NUL */
    unsigned char data[]; /* MSGBUF_HEADROOM + len + 1 (NUL) bytes */
};

/* Payload start (after the headroom), NUL-terminated for convenience. */
static inline char *msgbuf_payload(struct msgbuf *m)
{
    return (char *)m->data + MSGBUF_HEADROOM;
}

/* Copies len bytes of 'payload'; one reference held by the caller.
 * NULL when out of memory. */
struct msgbuf *msgbuf_create(const char *payload, size_t len, uint64_t seq);

/* Takes ownership of a heap string from a proto_build_* function (frees it)
 * and returns a msgbuf with one reference; NULL (and 'str' freed) on OOM or
 * when 'str' is NULL. */
struct msgbuf *msgbuf_from_string(char *str);

struct msgbuf *msgbuf_ref(struct msgbuf *m);
/* Drops one reference; NULL is ignored. */
void msgbuf_unref(struct msgbuf *m);

#endif
