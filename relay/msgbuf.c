#include "msgbuf.h"

#include <stdlib.h>
#include <string.h>

struct msgbuf *msgbuf_create(const char *payload, size_t len, uint64_t seq)
{
    struct msgbuf *m = malloc(sizeof(*m) + MSGBUF_HEADROOM + len + 1);

    if (!m)
        return NULL;
    m->refs = 1;
    m->seq = seq;
    m->len = len;
    memcpy(m->data + MSGBUF_HEADROOM, payload, len);
    m->data[MSGBUF_HEADROOM + len] = '\0';
    return m;
}

struct msgbuf *msgbuf_from_string(char *str)
{
    struct msgbuf *m;

    if (!str)
        return NULL;
    m = msgbuf_create(str, strlen(str), 0);
    free(str);
    return m;
}

struct msgbuf *msgbuf_ref(struct msgbuf *m)
{
    m->refs++;
    return m;
}

void msgbuf_unref(struct msgbuf *m)
{
    if (m && --m->refs == 0)
        free(m);
}
