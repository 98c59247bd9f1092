/*
 * bench_areas.c - timings of relay/areas.c on a national-scale dataset.
 *
 * Usage: bench_areas NATIONAL.geojson [SEED]
 * (make the file with gen_national). Prints a markdown table: load time,
 * then per-call latency (median, p99, max) of point lookups over 100,000
 * random points, and of circle (5 km, 1.5 km) and polygon targets over
 * 10,000 random centres each. Centres are drawn per buurt (a random buurt,
 * then a random point in its box), so dense areas weigh as much as their
 * buurt count: the realistic and harder case. A benchmark, not a test: it
 * never fails on time.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "areas.h"
#include "error.h"

#define POINTS 100000
#define TARGETS 10000
#define OUT_MAX 20000
#define POLY_N 12

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / (double)(1ULL << 53);
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* A random point in the box of a random buurt. */
static void buurt_point(const struct areas *a, double *lat, double *lon)
{
    const struct area_buurt *b =
        areas_at(a, (size_t)(uniform() * (double)areas_count(a)));

    *lat = b->bbox.min_lat + uniform() * (b->bbox.max_lat - b->bbox.min_lat);
    *lon = b->bbox.min_lon + uniform() * (b->bbox.max_lon - b->bbox.min_lon);
}

/* Sorts the samples and prints one table row. */
static void row(const char *what, double *ns, size_t n, double results)
{
    qsort(ns, n, sizeof(*ns), cmp_double);
    printf("| %-34s | %9.1f | %9.1f | %9.1f | %7.1f |\n", what,
           ns[n / 2] / 1000.0, ns[n * 99 / 100] / 1000.0, ns[n - 1] / 1000.0,
           results / (double)n);
}

static void bench_points(const struct areas *a, int uniform_box, double *ns)
{
    struct geo_bbox box = areas_at(a, 0)->bbox;
    double found = 0;

    for (size_t i = 0; i < areas_count(a); i++) {
        const struct geo_bbox *b = &areas_at(a, i)->bbox;

        geo_bbox_add(&box, b->min_lat, b->min_lon);
        geo_bbox_add(&box, b->max_lat, b->max_lon);
    }
    for (size_t i = 0; i < POINTS; i++) {
        double lat;
        double lon;
        double t0;

        if (uniform_box) {
            lat = box.min_lat + uniform() * (box.max_lat - box.min_lat);
            lon = box.min_lon + uniform() * (box.max_lon - box.min_lon);
        } else {
            buurt_point(a, &lat, &lon);
        }
        t0 = now_ns();
        found += areas_locate(a, lat, lon) != NULL;
        ns[i] = now_ns() - t0;
    }
    row(uniform_box ? "point, uniform over the box" : "point, per buurt", ns,
        POINTS, found);
}

static void bench_circle(const struct areas *a, double radius, double *ns,
                         const struct area_buurt **out)
{
    char what[64];
    double total = 0;

    for (size_t i = 0; i < TARGETS; i++) {
        double lat;
        double lon;
        double t0;
        size_t n = 0;

        buurt_point(a, &lat, &lon);
        t0 = now_ns();
        if (areas_resolve_circle(a, lat, lon, radius, out, OUT_MAX, &n) < 0)
            abort();
        ns[i] = now_ns() - t0;
        total += (double)n;
    }
    snprintf(what, sizeof(what), "circle %.1f km", radius / 1000.0);
    row(what, ns, TARGETS, total);
}

/* A star-shaped 12-gon of radius 1..2 km, as a hand-drawn area would be. */
static void bench_polygon(const struct areas *a, double *ns,
                          const struct area_buurt **out)
{
    double total = 0;

    for (size_t i = 0; i < TARGETS; i++) {
        double pts[POLY_N][2];
        double lat;
        double lon;
        double t0;
        size_t n = 0;

        buurt_point(a, &lat, &lon);
        for (int k = 0; k < POLY_N; k++) {
            double ang = 2.0 * 3.14159265358979 * k / POLY_N;
            double r = 1000.0 + 1000.0 * uniform();

            pts[k][0] = lat + r * sin(ang) / geo_m_per_deg_lat(lat);
            pts[k][1] = lon + r * cos(ang) / geo_m_per_deg_lon(lat);
        }
        t0 = now_ns();
        if (areas_resolve_polygon(a, (const double(*)[2])pts, POLY_N, out,
                                  OUT_MAX, &n) < 0)
            abort();
        ns[i] = now_ns() - t0;
        total += (double)n;
    }
    row("polygon, 12 points, r 1-2 km", ns, TARGETS, total);
}

/* Peak resident memory in MiB from /proc, or -1. */
static double peak_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtod(line + 6, NULL);
    fclose(f);
    return kib < 0 ? -1 : kib / 1024.0;
}

int main(int argc, char **argv)
{
    struct areas *a = NULL;
    char err[AREAS_ERR_MAX];
    const struct area_buurt **out;
    double *ns;
    double t0;
    double load_ms;
    double map_ms;
    size_t vertices = 0;
    char *map;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s NATIONAL.geojson [SEED]\n", argv[0]);
        return 2;
    }
    if (argc == 3)
        rng = strtoull(argv[2], NULL, 10) | 1;
    t0 = now_ns();
    if (areas_load(argv[1], &a, err, sizeof(err)) != RELAY_OK) {
        fprintf(stderr, "bench_areas: %s\n", err);
        return 1;
    }
    load_ms = (now_ns() - t0) / 1e6;
    for (size_t i = 0; i < areas_count(a); i++) {
        const struct area_buurt *b = areas_at(a, i);

        for (size_t p = 0; p < b->nparts; p++)
            for (size_t r = 0; r < b->parts[p].nrings; r++)
                vertices += b->parts[p].rings[r].n;
    }
    t0 = now_ns();
    map = areas_geojson(a, NULL);
    map_ms = (now_ns() - t0) / 1e6;
    ns = malloc(POINTS * sizeof(*ns));
    out = malloc(OUT_MAX * sizeof(*out));
    if (!ns || !out || !map)
        return 1;

    printf("%zu buurten, %zu positions; load %.0f ms (parse, validate, "
           "interior points, index); map GeoJSON %.0f ms, %zu bytes; peak "
           "RSS %.0f MiB\n\n",
           areas_count(a), vertices, load_ms, map_ms, strlen(map), peak_mib());
    printf("| %-34s | %9s | %9s | %9s | %7s |\n", "operation", "median us",
           "p99 us", "max us", "results");
    printf("|%s|%s|%s|%s|%s|\n", "------------------------------------",
           "----------:", "----------:", "----------:", "--------:");
    bench_points(a, 1, ns);
    bench_points(a, 0, ns);
    bench_circle(a, 1500.0, ns, out);
    bench_circle(a, 5000.0, ns, out);
    bench_polygon(a, ns, out);
    free(map);
    free(out);
    free(ns);
    areas_destroy(a);
    return 0;
}
