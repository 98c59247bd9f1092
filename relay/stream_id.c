#include "stream_id.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

int stream_id_next(const char *id, char *out, size_t outlen)
{
    unsigned long long ms, seq;
    char *end;
    int n;

    if (!id || id[0] < '0' || id[0] > '9')
        return RELAY_EINVAL;
    errno = 0;
    ms = strtoull(id, &end, 10);
    if (errno || *end != '-' || end[1] < '0' || end[1] > '9')
        return RELAY_EINVAL;
    seq = strtoull(end + 1, &end, 10);
    if (errno || *end != '\0')
        return RELAY_EINVAL;
    if (seq == ~0ULL) {
        ms++;
        seq = 0;
    } else {
        seq++;
    }
    n = snprintf(out, outlen, "%llu-%llu", ms, seq);
    return n > 0 && (size_t)n < outlen ? RELAY_OK : RELAY_EINVAL;
}
