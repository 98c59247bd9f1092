/*
 * hist.c - log-linear latency histogram (see hist.h).
 */
#include "hist.h"

static unsigned index_of(uint64_t v)
{
    unsigned e;
    unsigned idx;

    if (v < HIST_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v); /* e >= HIST_SUB_BITS */
    idx = (e - HIST_SUB_BITS + 1u) * HIST_SUB +
          (unsigned)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1u;
}

/* Middle of bucket idx, in us. */
static double value_of(unsigned idx)
{
    unsigned k = idx >> HIST_SUB_BITS;
    unsigned e;
    double width;
    double low;

    if (k == 0)
        return (double)idx;
    e = k + HIST_SUB_BITS - 1u;
    width = (double)(1ull << (e - HIST_SUB_BITS));
    low = (double)((idx & (HIST_SUB - 1u)) + HIST_SUB) * width;
    return low + width / 2.0;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->bucket[index_of(us)]++;
    h->count++;
    h->sum += us;
    if (us > h->max)
        h->max = us;
}

void hist_merge(struct hist *to, const struct hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        to->bucket[i] += from->bucket[i];
    to->count += from->count;
    to->sum += from->sum;
    if (from->max > to->max)
        to->max = from->max;
}

double hist_percentile(const struct hist *h, double p)
{
    uint64_t want;
    uint64_t seen = 0;

    if (h->count == 0)
        return 0.0;
    if (p >= 100.0)
        return (double)h->max;
    want = (uint64_t)((p / 100.0) * (double)h->count + 0.999999);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= want) {
            double v = value_of(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}
