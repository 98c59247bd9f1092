/*
 * hist.h - an HDR-style log-linear latency histogram for the load
 * generator (tests/bench/loadgen).
 *
 * Values are microseconds. Below 2^HIST_SUB_BITS every value has its own
 * bucket; above, each power of two is split into 2^HIST_SUB_BITS equal
 * buckets, so a reported percentile is within 1/128 (< 0.8 %) of the true
 * value. WHY fixed-size and flat: a histogram lives in memory shared by
 * the generator's worker processes (no pointers) and merging two is one
 * loop of additions. The maximum is kept exactly.
 */
#ifndef LOADGEN_HIST_H
#define LOADGEN_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
/* 2^7 exact values plus 37 octaves: up to 2^44 us (about 200 days). */
#define HIST_BUCKETS (HIST_SUB * 38u)

struct hist {
    uint64_t count;                /* values recorded */
    uint64_t max;                  /* largest value, exact (us) */
    uint64_t sum;                  /* for the mean (us) */
    uint64_t bucket[HIST_BUCKETS]; /* counts per log-linear bucket */
};

/* Adds one value (microseconds). Never fails: huge values go to the top. */
void hist_add(struct hist *h, uint64_t us);

/* Adds every count of 'from' to 'to' (both borrowed). */
void hist_merge(struct hist *to, const struct hist *from);

/* The value (us, bucket middle; the exact maximum for p >= 100) at or below
 * which p percent of the values lie; 0 for an empty histogram. */
double hist_percentile(const struct hist *h, double p);

#endif
