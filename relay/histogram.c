#include "histogram.h"

#include <stdio.h>

const double histogram_bounds[HISTOGRAM_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
};

void histogram_observe(struct histogram *h, double seconds)
{
    size_t i = 0;

    while (i < HISTOGRAM_BUCKETS && seconds > histogram_bounds[i])
        i++;
    h->counts[i]++;
    h->total++;
    h->sum += seconds;
}

/* One bucket line; never runs past cap, keeps the offset at most cap. */
static size_t put(char *out, size_t cap, size_t off, const char *name,
                  double le, uint64_t v)
{
    int n;

    if (off >= cap)
        return cap;
    n = snprintf(out + off, cap - off, "%s_bucket{le=\"%g\"} %llu\n", name, le,
                 (unsigned long long)v);
    if (n < 0)
        return off;
    return off + (size_t)n < cap ? off + (size_t)n : cap;
}

size_t histogram_write(const struct histogram *h, const char *name, char *out,
                       size_t cap, size_t off)
{
    uint64_t cumulative = 0;
    int n;

    if (off < cap) {
        n = snprintf(out + off, cap - off, "# TYPE %s histogram\n", name);
        if (n > 0)
            off = off + (size_t)n < cap ? off + (size_t)n : cap;
    }
    for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++) {
        cumulative += h->counts[i];
        off = put(out, cap, off, name, histogram_bounds[i], cumulative);
    }
    if (off < cap) {
        n = snprintf(out + off, cap - off,
                     "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
                     "%s_count %llu\n",
                     name, (unsigned long long)h->total, name, h->sum, name,
                     (unsigned long long)h->total);
        if (n > 0)
            off = off + (size_t)n < cap ? off + (size_t)n : cap;
    }
    return off;
}
