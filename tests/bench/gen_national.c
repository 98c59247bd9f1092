/*
 * gen_national.c - writes a national-scale buurt dataset for bench_areas.
 *
 * Usage: gen_national OUT.geojson [COLS ROWS]   (default 112 x 125 = 14,000)
 *
 * Not real geography: a lattice of COLS x ROWS cells over the Netherlands'
 * bounding box, pulled towards sixteen city centres (so cells there are up
 * to four times smaller, as urban buurten are), with every lattice vertex
 * jittered and every edge subdivided and wiggled. Edges are generated once
 * and shared by the two cells on either side, so the buurten tile the box
 * exactly, without gaps or overlaps. About one cell in fifty gets an
 * island in its middle: a hole in that buurt and a second part of its
 * eastern neighbour, which makes that one a MultiPolygon. Cells are grouped
 * into gemeenten of 6 x 6 and wijken of 3 x 2 or 2 x 2 cells, which gives
 * about 400 gemeenten and 3,000 wijken with consistent CBS-style codes.
 * Deterministic: the same arguments give the same file.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LON_MIN 3.36
#define LON_MAX 7.23
#define LAT_MIN 50.75
#define LAT_MAX 53.55
#define JITTER 0.22     /* lattice vertex jitter, in cells */
#define WIGGLE 0.10     /* edge wiggle amplitude, in cells */
#define SEG_M 40.0      /* target metres per edge segment */
#define SEG_MAX 60      /* segments per lattice edge at most */
#define ISLAND_EVERY 50 /* one cell in this many has an island */
#define GM_SIDE 6       /* cells per gemeente side */

struct city {
    double lon, lat;
};

static const struct city cities[] = {
    {4.90, 52.37}, {4.48, 51.92}, {4.30, 52.08}, {5.12, 52.09},
    {5.47, 51.44}, {6.57, 53.22}, {5.09, 51.56}, {5.22, 52.37},
    {4.78, 51.59}, {5.86, 51.84}, {6.89, 52.22}, {5.90, 51.98},
    {6.09, 52.51}, {5.69, 50.85}, {5.80, 53.20}, {6.56, 52.99},
};

struct pt {
    double x, y; /* lattice units before the warp */
};

static int cols = 112;
static int rows = 125;

/* Deterministic noise in [-1, 1) from two integers and a salt. */
static double noise(uint64_t a, uint64_t b, uint64_t salt)
{
    uint64_t h = a * 0x9E3779B97F4A7C15ULL ^
                 (b + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;

    h ^= salt * 0x165667B19E3779F9ULL;
    h ^= h >> 31;
    h *= 0xD6E8FEB86659FD93ULL;
    h ^= h >> 32;
    return (double)(h >> 11) / (double)(1ULL << 52) - 1.0;
}

/*
 * Lattice point to lon/lat: normalise to the unit square, apply one
 * radial contraction per city (each injective since the strength is below
 * 1), scale to the box.
 */
static void warp(struct pt p, double *lon, double *lat)
{
    double x = p.x / cols;
    double y = p.y / rows;

    for (size_t i = 0; i < sizeof(cities) / sizeof(cities[0]); i++) {
        double cx = (cities[i].lon - LON_MIN) / (LON_MAX - LON_MIN);
        double cy = (cities[i].lat - LAT_MIN) / (LAT_MAX - LAT_MIN);
        double dx = x - cx;
        double dy = y - cy;
        double f = 0.5 * exp(-(dx * dx + dy * dy) / (0.035 * 0.035));

        x -= dx * f;
        y -= dy * f;
    }
    *lon = LON_MIN + x * (LON_MAX - LON_MIN);
    *lat = LAT_MIN + y * (LAT_MAX - LAT_MIN);
}

static struct pt vertex(int i, int j)
{
    struct pt p = {i, j};

    if (i > 0 && i < cols)
        p.x += JITTER * noise((uint64_t)i, (uint64_t)j, 1);
    if (j > 0 && j < rows)
        p.y += JITTER * noise((uint64_t)i, (uint64_t)j, 2);
    return p;
}

/* Metres between two lattice points after the warp (rough). */
static double metres(struct pt a, struct pt b)
{
    double lon1, lat1, lon2, lat2;
    double kx;

    warp(a, &lon1, &lat1);
    warp(b, &lon2, &lat2);
    kx = 111320.0 * cos((lat1 + lat2) / 2.0 * 3.14159265358979 / 180.0);
    return hypot((lon2 - lon1) * kx, (lat2 - lat1) * 111200.0);
}

/*
 * Writes the points of the lattice edge from vertex (i0, j0) to (i1, j1),
 * excluding its last point, as "[lon,lat]," entries. The wiggle is a
 * function of the undirected edge, so the neighbour writing the edge the
 * other way round produces the same points in reverse.
 */
static void edge(FILE *f, int i0, int j0, int i1, int j1, int *first)
{
    int rev = (i1 < i0) || (j1 < j0);
    int ai = rev ? i1 : i0;
    int aj = rev ? j1 : j0;
    int bi = rev ? i0 : i1;
    int bj = rev ? j0 : j1;
    struct pt a = vertex(ai, aj);
    struct pt b = vertex(bi, bj);
    int border = (ai == bi && (ai == 0 || ai == cols)) ||
                 (aj == bj && (aj == 0 || aj == rows));
    uint64_t id = ((uint64_t)ai * 4099 + (uint64_t)aj) * 2 + (ai == bi);
    int n = (int)(metres(a, b) / SEG_M);

    if (n < 2)
        n = 2;
    if (n > SEG_MAX)
        n = SEG_MAX;
    for (int k = 0; k < n; k++) {
        int kk = rev ? n - k : k; /* index along the canonical direction */
        double t = (double)kk / n;
        struct pt p = {a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t};
        double off = 0.0;
        double lon, lat;

        if (kk > 0 && kk < n && !border)
            off = WIGGLE * sin(3.14159265358979 * t) *
                  (0.6 * sin(t * 6.0 + noise(id, 7, 3) * 3.0) +
                   0.4 * noise(id, (uint64_t)kk, 4));
        /* perpendicular to the edge in lattice space */
        p.x += -(b.y - a.y) * off;
        p.y += (b.x - a.x) * off;
        warp(p, &lon, &lat);
        fprintf(f, "%s[%.6f,%.6f]", *first ? "" : ",", lon, lat);
        *first = 0;
    }
}

/* The cell's outer ring, counter-clockwise, closed. */
static void cell_ring(FILE *f, int i, int j)
{
    int first = 1;
    struct pt p = vertex(i, j);
    double lon, lat;

    fputc('[', f);
    edge(f, i, j, i + 1, j, &first);
    edge(f, i + 1, j, i + 1, j + 1, &first);
    edge(f, i + 1, j + 1, i, j + 1, &first);
    edge(f, i, j + 1, i, j, &first);
    warp(p, &lon, &lat);
    fprintf(f, ",[%.6f,%.6f]]", lon, lat);
}

/* The island in the middle of cell (i, j): 'reverse' for the hole. */
static void island_ring(FILE *f, int i, int j, int reverse)
{
    const int n = 12;

    fputc('[', f);
    for (int k = 0; k <= n; k++) {
        int kk = reverse ? (n - k) % n : k % n;
        double a = 2.0 * 3.14159265358979 * kk / n;
        double r = 0.09 + 0.02 * noise((uint64_t)i * 131 + (uint64_t)j,
                                       (uint64_t)kk, 5);
        struct pt p = {i + 0.5 + r * cos(a), j + 0.5 + r * sin(a)};
        double lon, lat;

        warp(p, &lon, &lat);
        fprintf(f, "%s[%.6f,%.6f]", k ? "," : "", lon, lat);
    }
    fputc(']', f);
}

static int has_island(int i, int j)
{
    return i + 1 < cols &&
           (uint64_t)((noise((uint64_t)i, (uint64_t)j, 9) + 1.0) * 1e6) %
                   ISLAND_EVERY ==
               0;
}

/* Codes of cell (i, j): gemeente number, wijk and buurt within it. */
static void codes(int i, int j, int *gm, int *wk, int *bu)
{
    int gx = i / GM_SIDE;
    int gy = j / GM_SIDE;
    int li = i % GM_SIDE;
    int lj = j % GM_SIDE;
    int gcols = (cols + GM_SIDE - 1) / GM_SIDE;
    int wide = (gx + gy) % 2 ? 2 : 3; /* wijk width in cells */
    int wx = li / wide;
    int wy = lj / 2;
    int wcols = (GM_SIDE + wide - 1) / wide;

    *gm = 1 + gy * gcols + gx;
    *wk = wy * wcols + wx;
    *bu = (lj % 2) * wide + (li % wide) + 1;
}

static void feature(FILE *f, int i, int j, int *first)
{
    int gm, wk, bu;
    int island_here = has_island(i, j);
    int island_west = i > 0 && has_island(i - 1, j);

    codes(i, j, &gm, &wk, &bu);
    fprintf(f,
            "%s\n{\"type\":\"Feature\",\"properties\":{\"buurtcode\":"
            "\"BU%04d%02d%02d\",\"buurtnaam\":\"Buurt %d-%d\",\"wijkcode\":"
            "\"WK%04d%02d\",\"wijknaam\":\"Wijk %d-%d\",\"gemeentecode\":"
            "\"GM%04d\",\"gemeentenaam\":\"Gemeente %d\"},\"geometry\":",
            *first ? "" : ",", gm, wk, bu, i, j, gm, wk, gm, wk, gm, gm);
    *first = 0;
    if (island_west)
        fputs("{\"type\":\"MultiPolygon\",\"coordinates\":[[", f);
    else
        fputs("{\"type\":\"Polygon\",\"coordinates\":[", f);
    cell_ring(f, i, j);
    if (island_here) {
        fputc(',', f);
        island_ring(f, i, j, 1);
    }
    if (island_west) {
        fputs("],[", f);
        island_ring(f, i - 1, j, 0);
        fputs("]]}}", f);
    } else {
        fputs("]}}", f);
    }
}

int main(int argc, char **argv)
{
    FILE *f;
    int first = 1;

    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: %s OUT.geojson [COLS ROWS]\n", argv[0]);
        return 2;
    }
    if (argc == 4) {
        cols = (int)strtol(argv[2], NULL, 10);
        rows = (int)strtol(argv[3], NULL, 10);
        if (cols < 1 || rows < 1 || cols > 600 || rows > 600 ||
            (cols + GM_SIDE - 1) / GM_SIDE * ((rows + GM_SIDE - 1) / GM_SIDE) >
                9999) {
            fprintf(stderr, "gen_national: COLS and ROWS must be 1..600\n");
            return 2;
        }
    }
    f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fputs("{\"type\":\"FeatureCollection\",\"name\":\"synthetic national "
          "buurten (tests/bench/gen_national.c)\",\"features\":[",
          f);
    for (int j = 0; j < rows; j++)
        for (int i = 0; i < cols; i++)
            feature(f, i, j, &first);
    fputs("\n]}\n", f);
    if (fclose(f) != 0) {
        perror(argv[1]);
        return 1;
    }
    fprintf(stderr, "gen_national: %d buurten in %s\n", cols * rows, argv[1]);
    return 0;
}
