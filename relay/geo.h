/*
 * geo.h - WGS84 geometry for Dutch coordinates.
 *
 * Polygons are stored as GeoJSON gives them: longitude first. Functions
 * that take a single point take (lat, lon), the order people say it in.
 * There is no antimeridian handling and no pole handling: everything the
 * relay routes lies between 50 and 54 N and 3 and 8 E.
 *
 * Two spaces are used, each where it is exact:
 *
 * - Topology (point in polygon, polygon against polygon) is computed in
 *   degree space. Edges are straight lines in (lon, lat), as GeoJSON
 *   renderers draw them, and every predicate there is invariant under the
 *   equirectangular scaling, so no projection error enters.
 *
 * - Distances (circles) use a plane centred on the circle: a position at
 *   (lat, lon) maps to x = (lon - lon_c) * kx(m), y = (lat - lat_c) *
 *   ky(m) with m = (lat + lat_c) / 2 and kx, ky the WGS84 metres per
 *   degree (geo_m_per_deg_lon/lat) at that mean latitude. The distance of
 *   a position from the centre is then the mean-latitude formula, which
 *   agrees with the WGS84 geodesic (Vincenty) within 1 mm at 5 km, 2 cm
 *   at 20 km, 0.3 m at 50 km and 2.5 m at 100 km anywhere in the
 *   Netherlands; distances to points inside an edge are as good to within
 *   millimetres for edges shorter than a few kilometres.
 *
 * Boundary rule: a point ON an edge of a polygon (outer ring or hole) is
 * inside it, so polygons are closed sets. "On" means within GEO_EDGE_EPS
 * degrees of the edge (about 0.1 mm), which absorbs rounding when the point
 * was computed rather than typed. A point on the border of two adjacent
 * polygons is therefore in both; callers that need one answer pick one
 * (areas_locate takes the lowest buurt code).
 */
#ifndef RELAY_GEO_H
#define RELAY_GEO_H

#include <stddef.h>

/* Accepted coordinates for area data: the Netherlands with a margin (its
 * land lies within 50.75..53.56 N, 3.35..7.23 E). Anything outside is a
 * swapped pair, RD coordinates or another country. */
#define GEO_NL_LAT_MIN 50.0
#define GEO_NL_LAT_MAX 54.0
#define GEO_NL_LON_MIN 3.0
#define GEO_NL_LON_MAX 8.0

/* Distance in degrees within which a point counts as on an edge. */
#define GEO_EDGE_EPS 1e-9

/* Metres a circle may miss a polygon by and still touch it: rounding, not
 * geography. */
#define GEO_TOUCH_EPS_M 0.01

/* Longest radius geo_circle_init accepts, metres (the accuracy above). */
#define GEO_RADIUS_MAX_M 100000.0

/* A position, GeoJSON order. */
struct geo_pt {
    double lon; /* degrees east */
    double lat; /* degrees north */
};

/* Degree-space box; min > max on an empty box. */
struct geo_bbox {
    double min_lon;
    double min_lat;
    double max_lon;
    double max_lat;
};

/* A closed ring: pts[0] equals pts[n - 1], n >= 4. Borrowed storage. */
struct geo_ring {
    const struct geo_pt *pts; /* n positions */
    size_t n;                 /* including the closing repeat */
};

/* A polygon: rings[0] is the outer ring, the others are holes. Winding
 * order does not matter (even-odd rule). Borrowed storage. */
struct geo_polygon {
    const struct geo_ring *rings; /* nrings rings */
    size_t nrings;                /* >= 1 */
};

/* Where a point lies relative to a ring or polygon. */
enum geo_where {
    GEO_OUTSIDE = 0,
    GEO_INSIDE = 1,  /* strictly inside */
    GEO_ON_EDGE = 2, /* within GEO_EDGE_EPS of an edge: counts as inside */
};

/*
 * A circle prepared for repeated tests: its centre, radius and the local
 * plane described above. Fill with geo_circle_init; read-only after.
 */
struct geo_circle {
    double lat;           /* centre, degrees */
    double lon;           /* centre, degrees */
    double radius_m;      /* metres, 0..GEO_RADIUS_MAX_M */
    double kx[3];         /* kx(lat + h) ~ kx[0] + kx[1] h + kx[2] h^2 */
    double ky[3];         /* same for ky; h in degrees */
    struct geo_bbox bbox; /* degree box containing the whole disc */
};

/* WGS84 metres per degree of latitude at 'lat' (meridian radius). */
double geo_m_per_deg_lat(double lat);
/* WGS84 metres per degree of longitude at 'lat' (parallel radius). */
double geo_m_per_deg_lon(double lat);

/* Metres between two points by the mean-latitude formula (accuracy above).
 * Meant for distances up to about 100 km. */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

/* True when lat/lon lie in the GEO_NL_* box (NaN is not). */
int geo_in_nl(double lat, double lon);

/* Empties a box (min > max) so that geo_bbox_add can grow it. */
void geo_bbox_empty(struct geo_bbox *b);
/* Grows 'b' to include the point. */
void geo_bbox_add(struct geo_bbox *b, double lat, double lon);
/* True when the boxes share at least one point (edges count). */
int geo_bbox_overlaps(const struct geo_bbox *a, const struct geo_bbox *b);
/* Box of a polygon's outer ring (holes lie inside it). */
void geo_polygon_bbox(const struct geo_polygon *p, struct geo_bbox *out);

/* Where (lat, lon) lies relative to one ring, by ray casting with the
 * on-edge tolerance checked first. */
enum geo_where geo_ring_where(const struct geo_ring *r, double lat, double lon);

/*
 * Where (lat, lon) lies relative to a polygon with holes. GEO_ON_EDGE when
 * on any ring (outer or hole); GEO_INSIDE when inside the outer ring and in
 * no hole; GEO_OUTSIDE otherwise (which includes strictly inside a hole).
 */
enum geo_where geo_polygon_where(const struct geo_polygon *p, double lat,
                                 double lon);

/* True when the point is inside or on the edge of 'p'. */
int geo_polygon_contains(const struct geo_polygon *p, double lat, double lon);

/* True when the point is inside or on the edge of any of the parts (a
 * multipolygon). */
int geo_multi_contains(const struct geo_polygon *parts, size_t nparts,
                       double lat, double lon);

/*
 * True when the two polygons share at least one point: an edge of one
 * crosses an edge of the other, or a vertex of one (outer or hole) lies in
 * or on the other. Touching along an edge or at a vertex counts; a polygon
 * lying in a hole of the other does not.
 */
int geo_polygons_intersect(const struct geo_polygon *a,
                           const struct geo_polygon *b);

/*
 * Prepares 'c'. RELAY_EINVAL (and 'c' untouched) unless lat is in
 * -89..89, lon in -180..180 and radius_m in 0..GEO_RADIUS_MAX_M, all
 * finite.
 */
int geo_circle_init(struct geo_circle *c, double lat, double lon,
                    double radius_m);

/* Metres from the circle's centre to (lat, lon) in the circle's plane. */
double geo_circle_distance_m(const struct geo_circle *c, double lat,
                             double lon);

/*
 * True when the disc and the polygon share a point: the centre is in or on
 * the polygon, or some edge (outer or hole) comes within radius +
 * GEO_TOUCH_EPS_M metres of the centre. A circle that only touches an edge
 * counts; one lying wholly in a hole does not.
 */
int geo_circle_intersects(const struct geo_circle *c,
                          const struct geo_polygon *p);

/* Signed area of a ring in square metres (positive when counter-clockwise
 * in lon/lat), on the plane of its first position. */
double geo_ring_area_m2(const struct geo_ring *r);

/*
 * A point strictly inside the multipolygon, away from its edges where the
 * shape allows: on the largest part, the middle of the widest horizontal
 * span among a few scanlines, then moved to the middle of the vertical
 * span through it. WHY not the centroid: the centroid of a crescent or of
 * a ring around a hole is outside the shape, and this point is used to
 * find the buurt again. RELAY_OK with the point in *lat, *lon;
 * RELAY_EINVAL when no such point was found (degenerate geometry);
 * RELAY_ENOMEM.
 */
int geo_interior_point(const struct geo_polygon *parts, size_t nparts,
                       double *lat, double *lon);

#endif
