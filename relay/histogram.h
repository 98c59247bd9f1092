/*
 * histogram.h - a fixed-bucket latency histogram in Prometheus's shape.
 *
 * Buckets are upper bounds in seconds (cumulative on output, as Prometheus
 * expects). Single-threaded, no allocation: one struct per metric.
 */
#ifndef RELAY_HISTOGRAM_H
#define RELAY_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define HISTOGRAM_BUCKETS 12

struct histogram {
    uint64_t counts[HISTOGRAM_BUCKETS + 1]; /* last: above every bound */
    uint64_t total;
    double sum; /* seconds */
};

/* The bounds: 0.5 ms .. 5 s. */
extern const double histogram_bounds[HISTOGRAM_BUCKETS];

void histogram_observe(struct histogram *h, double seconds);

/*
 * Appends the metric's text ("# TYPE name histogram", _bucket{le=...},
 * _sum, _count) to out at *off (never past cap). Returns the new offset.
 */
size_t histogram_write(const struct histogram *h, const char *name, char *out,
                       size_t cap, size_t off);

#endif
