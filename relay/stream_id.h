/*
 * stream_id.h - Redis stream entry ids ("<ms>-<seq>").
 *
 * Paging through a stream with XRANGE needs an exclusive start; Redis 7.0
 * has "(" for that, but computing the next id keeps the walkers (audit
 * verify, AVG export/erase) working on any Redis that has streams.
 */
#ifndef RELAY_STREAM_ID_H
#define RELAY_STREAM_ID_H

#include <stddef.h>

#define STREAM_ID_MAX 48 /* "<20 digits>-<20 digits>" + NUL, rounded up */

/*
 * Writes the smallest id after 'id' into out (outlen bytes): seq + 1, or
 * the next millisecond with seq 0 when seq is at its maximum. RELAY_OK, or
 * RELAY_EINVAL for a malformed id (out untouched) or an out too small.
 */
int stream_id_next(const char *id, char *out, size_t outlen);

#endif
