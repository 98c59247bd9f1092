/*
 * geo.c - WGS84 geometry for Dutch coordinates (see geo.h for the two
 * spaces, the boundary rule and the accuracy).
 */
#include "geo.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"

#define GEO_WGS84_A 6378137.0         /* semi-major axis, m */
#define GEO_WGS84_E2 6.69437999014e-3 /* first eccentricity squared */
#define GEO_DEG (3.14159265358979323846 / 180.0) /* radians per degree */
#define GEO_FIT_STEP 0.5   /* degrees between the samples of the kx/ky fit */
#define GEO_LAT_LIMIT 89.0 /* circles stay this far from the poles */

/* Scanlines tried by geo_interior_point before the dense retry. */
#define GEO_SCANLINES 9
#define GEO_SCANLINES_DENSE 97

double geo_m_per_deg_lat(double lat)
{
    double s = sin(lat * GEO_DEG);
    double w = 1.0 - GEO_WGS84_E2 * s * s;

    return GEO_WGS84_A * (1.0 - GEO_WGS84_E2) / (w * sqrt(w)) * GEO_DEG;
}

double geo_m_per_deg_lon(double lat)
{
    double s = sin(lat * GEO_DEG);
    double w = 1.0 - GEO_WGS84_E2 * s * s;

    return GEO_WGS84_A / sqrt(w) * cos(lat * GEO_DEG) * GEO_DEG;
}

double geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double mid = (lat1 + lat2) / 2.0;
    double x = (lon2 - lon1) * geo_m_per_deg_lon(mid);
    double y = (lat2 - lat1) * geo_m_per_deg_lat(mid);

    return sqrt(x * x + y * y);
}

int geo_in_nl(double lat, double lon)
{
    return lat >= GEO_NL_LAT_MIN && lat <= GEO_NL_LAT_MAX &&
           lon >= GEO_NL_LON_MIN && lon <= GEO_NL_LON_MAX;
}

void geo_bbox_empty(struct geo_bbox *b)
{
    b->min_lon = INFINITY;
    b->min_lat = INFINITY;
    b->max_lon = -INFINITY;
    b->max_lat = -INFINITY;
}

void geo_bbox_add(struct geo_bbox *b, double lat, double lon)
{
    if (lon < b->min_lon)
        b->min_lon = lon;
    if (lon > b->max_lon)
        b->max_lon = lon;
    if (lat < b->min_lat)
        b->min_lat = lat;
    if (lat > b->max_lat)
        b->max_lat = lat;
}

int geo_bbox_overlaps(const struct geo_bbox *a, const struct geo_bbox *b)
{
    return a->min_lon <= b->max_lon && b->min_lon <= a->max_lon &&
           a->min_lat <= b->max_lat && b->min_lat <= a->max_lat;
}

void geo_polygon_bbox(const struct geo_polygon *p, struct geo_bbox *out)
{
    const struct geo_ring *r = &p->rings[0];

    geo_bbox_empty(out);
    for (size_t i = 0; i < r->n; i++)
        geo_bbox_add(out, r->pts[i].lat, r->pts[i].lon);
}

/* True when p lies within GEO_EDGE_EPS degrees of segment a-b. */
static int on_segment(const struct geo_pt *a, const struct geo_pt *b,
                      double lat, double lon)
{
    double dx = b->lon - a->lon;
    double dy = b->lat - a->lat;
    double len2;
    double cross;

    if (lon < fmin(a->lon, b->lon) - GEO_EDGE_EPS ||
        lon > fmax(a->lon, b->lon) + GEO_EDGE_EPS ||
        lat < fmin(a->lat, b->lat) - GEO_EDGE_EPS ||
        lat > fmax(a->lat, b->lat) + GEO_EDGE_EPS)
        return 0;
    len2 = dx * dx + dy * dy;
    if (len2 == 0.0)
        return 1; /* a zero-length edge: the box test was the distance */
    cross = dx * (lat - a->lat) - dy * (lon - a->lon);
    return cross * cross <= GEO_EDGE_EPS * GEO_EDGE_EPS * len2;
}

/*
 * Crossing number with a half-open rule on latitude (an edge counts when
 * exactly one end lies above the point), which makes rays through a vertex
 * count once. Points near an edge are answered before any counting, so the
 * rule only ever decides points that are clearly in or out.
 */
enum geo_where geo_ring_where(const struct geo_ring *r, double lat, double lon)
{
    int inside = 0;

    for (size_t i = 1; i < r->n; i++) {
        const struct geo_pt *a = &r->pts[i - 1];
        const struct geo_pt *b = &r->pts[i];

        if (on_segment(a, b, lat, lon))
            return GEO_ON_EDGE;
        if ((a->lat > lat) != (b->lat > lat)) {
            double x =
                a->lon + (lat - a->lat) * (b->lon - a->lon) / (b->lat - a->lat);

            if (lon < x)
                inside = !inside;
        }
    }
    return inside ? GEO_INSIDE : GEO_OUTSIDE;
}

enum geo_where geo_polygon_where(const struct geo_polygon *p, double lat,
                                 double lon)
{
    enum geo_where w = geo_ring_where(&p->rings[0], lat, lon);

    if (w != GEO_INSIDE)
        return w;
    for (size_t i = 1; i < p->nrings; i++) {
        w = geo_ring_where(&p->rings[i], lat, lon);
        if (w == GEO_ON_EDGE)
            return GEO_ON_EDGE;
        if (w == GEO_INSIDE)
            return GEO_OUTSIDE;
    }
    return GEO_INSIDE;
}

int geo_polygon_contains(const struct geo_polygon *p, double lat, double lon)
{
    return geo_polygon_where(p, lat, lon) != GEO_OUTSIDE;
}

int geo_multi_contains(const struct geo_polygon *parts, size_t nparts,
                       double lat, double lon)
{
    for (size_t i = 0; i < nparts; i++)
        if (geo_polygon_contains(&parts[i], lat, lon))
            return 1;
    return 0;
}

/* Twice the signed area of triangle a, b, c in degree space. */
static double orient(const struct geo_pt *a, const struct geo_pt *b,
                     const struct geo_pt *c)
{
    return (b->lon - a->lon) * (c->lat - a->lat) -
           (b->lat - a->lat) * (c->lon - a->lon);
}

/*
 * True when segments p1-p2 and q1-q2 cross at a single interior point of
 * both. Touching and collinear overlaps are left to the vertex tests of
 * geo_polygons_intersect, which see them with the on-edge tolerance.
 */
static int segments_cross(const struct geo_pt *p1, const struct geo_pt *p2,
                          const struct geo_pt *q1, const struct geo_pt *q2)
{
    double d1;
    double d2;
    double d3;
    double d4;

    if (fmax(p1->lon, p2->lon) < fmin(q1->lon, q2->lon) ||
        fmax(q1->lon, q2->lon) < fmin(p1->lon, p2->lon) ||
        fmax(p1->lat, p2->lat) < fmin(q1->lat, q2->lat) ||
        fmax(q1->lat, q2->lat) < fmin(p1->lat, p2->lat))
        return 0;
    d1 = orient(q1, q2, p1);
    d2 = orient(q1, q2, p2);
    d3 = orient(p1, p2, q1);
    d4 = orient(p1, p2, q2);
    return ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) &&
           ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0));
}

/* True when a vertex of any ring of 'v' lies in or on 'p'. */
static int some_vertex_in(const struct geo_polygon *v,
                          const struct geo_polygon *p,
                          const struct geo_bbox *pbox)
{
    for (size_t r = 0; r < v->nrings; r++) {
        const struct geo_ring *ring = &v->rings[r];

        for (size_t i = 0; i + 1 < ring->n; i++) {
            const struct geo_pt *q = &ring->pts[i];

            if (q->lon < pbox->min_lon - GEO_EDGE_EPS ||
                q->lon > pbox->max_lon + GEO_EDGE_EPS ||
                q->lat < pbox->min_lat - GEO_EDGE_EPS ||
                q->lat > pbox->max_lat + GEO_EDGE_EPS)
                continue;
            if (geo_polygon_contains(p, q->lat, q->lon))
                return 1;
        }
    }
    return 0;
}

/* True when an edge of 'ra' crosses an edge of 'rb'. */
static int rings_cross(const struct geo_ring *ra, const struct geo_ring *rb)
{
    for (size_t i = 1; i < ra->n; i++)
        for (size_t j = 1; j < rb->n; j++)
            if (segments_cross(&ra->pts[i - 1], &ra->pts[i], &rb->pts[j - 1],
                               &rb->pts[j]))
                return 1;
    return 0;
}

/*
 * Closed polygons intersect when their boundaries meet or one lies inside
 * the other. A boundary meeting is either a proper crossing or a vertex on
 * the other's edge; containment shows as a vertex inside. So: vertices of
 * each in the other, then crossings.
 */
int geo_polygons_intersect(const struct geo_polygon *a,
                           const struct geo_polygon *b)
{
    struct geo_bbox ba;
    struct geo_bbox bb;
    struct geo_bbox grown;

    geo_polygon_bbox(a, &ba);
    geo_polygon_bbox(b, &bb);
    grown = ba;
    grown.min_lon -= GEO_EDGE_EPS;
    grown.min_lat -= GEO_EDGE_EPS;
    grown.max_lon += GEO_EDGE_EPS;
    grown.max_lat += GEO_EDGE_EPS;
    if (!geo_bbox_overlaps(&grown, &bb))
        return 0;
    if (some_vertex_in(b, a, &ba) || some_vertex_in(a, b, &bb))
        return 1;
    for (size_t i = 0; i < a->nrings; i++)
        for (size_t j = 0; j < b->nrings; j++)
            if (rings_cross(&a->rings[i], &b->rings[j]))
                return 1;
    return 0;
}

/* Quadratic through f(c - s), f(c), f(c + s), as coefficients in h. */
static void fit(double (*f)(double), double c, double out[3])
{
    double lo = f(c - GEO_FIT_STEP);
    double mid = f(c);
    double hi = f(c + GEO_FIT_STEP);

    out[0] = mid;
    out[1] = (hi - lo) / (2.0 * GEO_FIT_STEP);
    out[2] = (hi - 2.0 * mid + lo) / (2.0 * GEO_FIT_STEP * GEO_FIT_STEP);
}

/*
 * The box must hold every position within radius_m of the centre in the
 * circle's plane. Latitude scale barely changes (a 0.1% margin covers
 * it); longitude scale shrinks poleward, so the width is taken at the
 * poleward edge of the box, with a margin.
 */
int geo_circle_init(struct geo_circle *c, double lat, double lon,
                    double radius_m)
{
    struct geo_circle tmp;
    double dlat;
    double dlon;
    double far;

    if (!(lat >= -GEO_LAT_LIMIT && lat <= GEO_LAT_LIMIT) ||
        !(lon >= -180.0 && lon <= 180.0) ||
        !(radius_m >= 0.0 && radius_m <= GEO_RADIUS_MAX_M))
        return RELAY_EINVAL;
    tmp.lat = lat;
    tmp.lon = lon;
    tmp.radius_m = radius_m;
    fit(geo_m_per_deg_lon, lat, tmp.kx);
    fit(geo_m_per_deg_lat, lat, tmp.ky);
    dlat = (radius_m + GEO_TOUCH_EPS_M) / geo_m_per_deg_lat(lat) * 1.001;
    far = lat >= 0 ? lat + dlat : lat - dlat;
    dlon = (radius_m + GEO_TOUCH_EPS_M) / geo_m_per_deg_lon(far) * 1.001;
    tmp.bbox.min_lat = lat - dlat;
    tmp.bbox.max_lat = lat + dlat;
    tmp.bbox.min_lon = lon - dlon;
    tmp.bbox.max_lon = lon + dlon;
    *c = tmp;
    return RELAY_OK;
}

/* Position (lat, lon) on the circle's plane, metres from the centre. */
static void project(const struct geo_circle *c, double lat, double lon,
                    double *x, double *y)
{
    double h = (lat - c->lat) / 2.0;
    double kx = c->kx[0] + h * (c->kx[1] + h * c->kx[2]);
    double ky = c->ky[0] + h * (c->ky[1] + h * c->ky[2]);

    *x = (lon - c->lon) * kx;
    *y = (lat - c->lat) * ky;
}

double geo_circle_distance_m(const struct geo_circle *c, double lat, double lon)
{
    double x;
    double y;

    project(c, lat, lon, &x, &y);
    return sqrt(x * x + y * y);
}

/* Squared distance from the origin to segment (ax, ay)-(bx, by). */
static double seg_dist2(double ax, double ay, double bx, double by)
{
    double dx = bx - ax;
    double dy = by - ay;
    double len2 = dx * dx + dy * dy;
    double t;

    if (len2 == 0.0)
        return ax * ax + ay * ay;
    t = -(ax * dx + ay * dy) / len2;
    if (t < 0.0)
        t = 0.0;
    else if (t > 1.0)
        t = 1.0;
    ax += t * dx;
    ay += t * dy;
    return ax * ax + ay * ay;
}

int geo_circle_intersects(const struct geo_circle *c,
                          const struct geo_polygon *p)
{
    double lim = c->radius_m + GEO_TOUCH_EPS_M;
    double lim2 = lim * lim;

    if (geo_polygon_where(p, c->lat, c->lon) != GEO_OUTSIDE)
        return 1;
    for (size_t r = 0; r < p->nrings; r++) {
        const struct geo_ring *ring = &p->rings[r];
        double ax;
        double ay;

        project(c, ring->pts[0].lat, ring->pts[0].lon, &ax, &ay);
        for (size_t i = 1; i < ring->n; i++) {
            double bx;
            double by;

            project(c, ring->pts[i].lat, ring->pts[i].lon, &bx, &by);
            /* Cheap rejection: both ends beyond the same side. */
            if (!((ax > lim && bx > lim) || (ax < -lim && bx < -lim) ||
                  (ay > lim && by > lim) || (ay < -lim && by < -lim)) &&
                seg_dist2(ax, ay, bx, by) <= lim2)
                return 1;
            ax = bx;
            ay = by;
        }
    }
    return 0;
}

double geo_ring_area_m2(const struct geo_ring *r)
{
    double lat0;
    double lon0;
    double kx;
    double ky;
    double sum = 0.0;

    if (r->n < 3)
        return 0.0;
    lat0 = r->pts[0].lat;
    lon0 = r->pts[0].lon;
    kx = geo_m_per_deg_lon(lat0);
    ky = geo_m_per_deg_lat(lat0);
    for (size_t i = 1; i < r->n; i++) {
        double x1 = (r->pts[i - 1].lon - lon0) * kx;
        double y1 = (r->pts[i - 1].lat - lat0) * ky;
        double x2 = (r->pts[i].lon - lon0) * kx;
        double y2 = (r->pts[i].lat - lat0) * ky;

        sum += x1 * y2 - x2 * y1;
    }
    return sum / 2.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Edges of all rings of 'p', the size of the crossing buffer. */
static size_t polygon_edges(const struct geo_polygon *p)
{
    size_t n = 0;

    for (size_t r = 0; r < p->nrings; r++)
        n += p->rings[r].n - 1;
    return n;
}

/*
 * Crossings of the line lat = v (vertical = 0) or lon = v (vertical = 1)
 * with every ring of 'p', sorted, into xs. Half-open like geo_ring_where,
 * so the count is even and consecutive pairs bound inside spans.
 */
static size_t crossings(const struct geo_polygon *p, double v, int vertical,
                        double *xs)
{
    size_t n = 0;

    for (size_t r = 0; r < p->nrings; r++) {
        const struct geo_ring *ring = &p->rings[r];

        for (size_t i = 1; i < ring->n; i++) {
            const struct geo_pt *a = &ring->pts[i - 1];
            const struct geo_pt *b = &ring->pts[i];
            double au = vertical ? a->lon : a->lat;
            double bu = vertical ? b->lon : b->lat;
            double aw = vertical ? a->lat : a->lon;
            double bw = vertical ? b->lat : b->lon;

            if ((au > v) != (bu > v))
                xs[n++] = aw + (v - au) * (bw - aw) / (bu - au);
        }
    }
    qsort(xs, n, sizeof(xs[0]), cmp_double);
    return n;
}

/*
 * Best point over 'lines' scanlines: on each, the middle of the widest
 * horizontal span, moved to the middle of the vertical span through it.
 * Score: the smaller of the two spans in metres, so long thin shapes and
 * points near an edge lose. Returns 1 and the point when one strictly
 * inside was found, 0 otherwise.
 */
static int scan_part(const struct geo_polygon *p, int lines, double *xs,
                     double *lat, double *lon)
{
    struct geo_bbox box;
    double kx;
    double ky;
    double best = -1.0;

    geo_polygon_bbox(p, &box);
    kx = geo_m_per_deg_lon((box.min_lat + box.max_lat) / 2.0);
    ky = geo_m_per_deg_lat((box.min_lat + box.max_lat) / 2.0);
    for (int k = 1; k <= lines; k++) {
        double y = box.min_lat + (box.max_lat - box.min_lat) * k / (lines + 1);
        double width = 0.0;
        double x = 0.0;
        size_t n = crossings(p, y, 0, xs);

        for (size_t i = 0; i + 1 < n; i += 2) {
            if (xs[i + 1] - xs[i] > width) {
                width = xs[i + 1] - xs[i];
                x = (xs[i] + xs[i + 1]) / 2.0;
            }
        }
        if (width <= 0.0)
            continue;
        n = crossings(p, x, 1, xs);
        for (size_t i = 0; i + 1 < n; i += 2) {
            double mid = (xs[i] + xs[i + 1]) / 2.0;
            double tall = xs[i + 1] - xs[i];
            double py = mid;
            double score;

            if (!(xs[i] <= y && y <= xs[i + 1]))
                continue;
            if (geo_polygon_where(p, mid, x) != GEO_INSIDE) {
                py = y;
                tall = 2.0 * fmin(y - xs[i], xs[i + 1] - y);
            }
            score = fmin(width * kx, tall * ky);
            if (score > best && geo_polygon_where(p, py, x) == GEO_INSIDE) {
                best = score;
                *lat = py;
                *lon = x;
            }
            break;
        }
    }
    return best >= 0.0;
}

/* Outer area minus hole areas, square metres. */
static double part_area(const struct geo_polygon *p)
{
    double a = fabs(geo_ring_area_m2(&p->rings[0]));

    for (size_t r = 1; r < p->nrings; r++)
        a -= fabs(geo_ring_area_m2(&p->rings[r]));
    return a;
}

int geo_interior_point(const struct geo_polygon *parts, size_t nparts,
                       double *lat, double *lon)
{
    size_t largest = 0;
    size_t most = 0;
    double best = -1.0;
    double *xs;
    int found = 0;

    if (nparts == 0)
        return RELAY_EINVAL;
    for (size_t i = 0; i < nparts; i++) {
        double a = part_area(&parts[i]);
        size_t e = polygon_edges(&parts[i]);

        if (a > best) {
            best = a;
            largest = i;
        }
        if (e > most)
            most = e;
    }
    xs = malloc((most + 1) * sizeof(*xs));
    if (!xs)
        return RELAY_ENOMEM;
    found = scan_part(&parts[largest], GEO_SCANLINES, xs, lat, lon) ||
            scan_part(&parts[largest], GEO_SCANLINES_DENSE, xs, lat, lon);
    for (size_t i = 0; i < nparts && !found; i++)
        found = scan_part(&parts[i], GEO_SCANLINES_DENSE, xs, lat, lon);
    free(xs);
    return found ? RELAY_OK : RELAY_EINVAL;
}
