/*
 * test_geo.c - relay/geo.c with hand-checked geometry.
 *
 * Reference values (WGS84, worked out by hand from the textbook radii
 * M = a(1-e2)/(1-e2 sin2 lat)^1.5 and N = a/sqrt(1-e2 sin2 lat), and
 * checked against Vincenty's inverse formula):
 *   1 degree of latitude  at 53.000 N = 111286.27 m
 *   1 degree of longitude at 53.000 N =  67137.23 m
 *   1 degree of longitude at 53.005 N =  67129.47 m
 *   1 degree of longitude at 53.150 N =  66904.31 m
 *   Vincenty 52.5 N -> 53.5 N along 6 E = 111286.26 m
 *   Vincenty (52.9925, 6.5625) -> (53.2194, 6.5665) = 25252.73 m
 * Coordinates below are (lat, lon) in calls and {lon, lat} in rings, as in
 * geo.h.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error.h"
#include "geo.h"

/* A square ring lon0..lon1 x lat0..lat1, counter-clockwise. */
static void square(struct geo_pt pts[5], double lon0, double lat0, double lon1,
                   double lat1)
{
    pts[0] = (struct geo_pt){lon0, lat0};
    pts[1] = (struct geo_pt){lon1, lat0};
    pts[2] = (struct geo_pt){lon1, lat1};
    pts[3] = (struct geo_pt){lon0, lat1};
    pts[4] = pts[0];
}

static void scales_and_distance(void **state)
{
    (void)state;
    assert_true(fabs(geo_m_per_deg_lat(53.0) - 111286.27) < 0.01);
    assert_true(fabs(geo_m_per_deg_lon(53.0) - 67137.23) < 0.01);
    assert_true(fabs(geo_m_per_deg_lon(53.005) - 67129.47) < 0.01);
    /* Equator: a * pi / 180. */
    assert_true(fabs(geo_m_per_deg_lon(0.0) - 111319.49) < 0.01);
    assert_true(fabs(geo_distance_m(52.5, 6.0, 53.5, 6.0) - 111286.26) < 0.1);
    assert_true(fabs(geo_distance_m(52.9925, 6.5625, 53.2194, 6.5665) -
                     25252.73) < 0.1);
    assert_true(geo_distance_m(53.0, 6.0, 53.0, 6.0) == 0.0);
}

static void nl_bounds(void **state)
{
    (void)state;
    assert_true(geo_in_nl(52.99, 6.56));
    assert_true(geo_in_nl(50.0, 3.0));
    assert_true(geo_in_nl(54.0, 8.0));
    assert_false(geo_in_nl(6.56, 52.99)); /* swapped */
    assert_false(geo_in_nl(49.99, 6.0));
    assert_false(geo_in_nl(52.0, 8.01));
    assert_false(geo_in_nl(NAN, 6.0));
}

static void ring_edges_and_vertices(void **state)
{
    struct geo_pt pts[5];
    struct geo_ring r = {pts, 5};

    (void)state;
    square(pts, 6.0, 53.0, 6.1, 53.1);
    assert_int_equal(geo_ring_where(&r, 53.05, 6.05), GEO_INSIDE);
    assert_int_equal(geo_ring_where(&r, 53.05, 6.1), GEO_ON_EDGE);
    assert_int_equal(geo_ring_where(&r, 53.0, 6.05), GEO_ON_EDGE);
    assert_int_equal(geo_ring_where(&r, 53.1, 6.05), GEO_ON_EDGE);
    assert_int_equal(geo_ring_where(&r, 53.05, 6.0), GEO_ON_EDGE);
    /* every vertex */
    for (int i = 0; i < 4; i++)
        assert_int_equal(geo_ring_where(&r, pts[i].lat, pts[i].lon),
                         GEO_ON_EDGE);
    /* 1e-7 degrees is about 7 mm: clearly in or out */
    assert_int_equal(geo_ring_where(&r, 53.05, 6.1 + 1e-7), GEO_OUTSIDE);
    assert_int_equal(geo_ring_where(&r, 53.05, 6.1 - 1e-7), GEO_INSIDE);
    /* within GEO_EDGE_EPS: on the edge */
    assert_int_equal(geo_ring_where(&r, 53.05, 6.1 + 5e-10), GEO_ON_EDGE);
    /* on the line of an edge but beyond its end */
    assert_int_equal(geo_ring_where(&r, 53.0, 6.2), GEO_OUTSIDE);
    assert_int_equal(geo_ring_where(&r, 53.0, 5.9), GEO_OUTSIDE);
    assert_int_equal(geo_ring_where(&r, 53.2, 6.0), GEO_OUTSIDE);
    /* winding does not matter */
    {
        struct geo_pt cw[5] = {pts[0], pts[3], pts[2], pts[1], pts[0]};
        struct geo_ring rc = {cw, 5};

        assert_int_equal(geo_ring_where(&rc, 53.05, 6.05), GEO_INSIDE);
        assert_int_equal(geo_ring_where(&rc, 53.05, 6.1), GEO_ON_EDGE);
        assert_int_equal(geo_ring_where(&rc, 53.05, 6.2), GEO_OUTSIDE);
    }
}

/*
 * A notch in the top edge comes down to a vertex at (6.1, 53.1). A ray
 * east from (6.05, 53.1) passes exactly through that vertex: the two notch
 * edges count once each, the east edge once, so 3 crossings = inside.
 */
static void ray_through_vertex(void **state)
{
    struct geo_pt pts[] = {{6.0, 53.0}, {6.2, 53.0}, {6.2, 53.2},
                           {6.1, 53.1}, {6.0, 53.2}, {6.0, 53.0}};
    struct geo_ring r = {pts, 6};

    (void)state;
    assert_int_equal(geo_ring_where(&r, 53.1, 6.05), GEO_INSIDE);
    assert_int_equal(geo_ring_where(&r, 53.1, 6.15), GEO_INSIDE);
    assert_int_equal(geo_ring_where(&r, 53.1, 6.1), GEO_ON_EDGE);
    assert_int_equal(geo_ring_where(&r, 53.15, 6.1), GEO_OUTSIDE); /* notch */
    assert_int_equal(geo_ring_where(&r, 53.15, 6.05), GEO_ON_EDGE);
    assert_int_equal(geo_ring_where(&r, 53.0, 6.1), GEO_ON_EDGE);
    /* a ray along the bottom edge's line, from the west */
    assert_int_equal(geo_ring_where(&r, 53.0, 5.95), GEO_OUTSIDE);
}

static void holes(void **state)
{
    struct geo_pt outer[5];
    struct geo_pt hole[5];
    struct geo_ring rings[2] = {{outer, 5}, {hole, 5}};
    struct geo_polygon p = {rings, 2};

    (void)state;
    square(outer, 6.0, 53.0, 6.3, 53.3);
    square(hole, 6.1, 53.1, 6.2, 53.2);
    assert_int_equal(geo_polygon_where(&p, 53.05, 6.15), GEO_INSIDE);
    assert_int_equal(geo_polygon_where(&p, 53.15, 6.15), GEO_OUTSIDE);
    assert_false(geo_polygon_contains(&p, 53.15, 6.15));
    /* the hole's edge and corners belong to the polygon */
    assert_int_equal(geo_polygon_where(&p, 53.1, 6.15), GEO_ON_EDGE);
    assert_int_equal(geo_polygon_where(&p, 53.15, 6.2), GEO_ON_EDGE);
    assert_int_equal(geo_polygon_where(&p, 53.1, 6.1), GEO_ON_EDGE);
    assert_true(geo_polygon_contains(&p, 53.2, 6.2));
    assert_int_equal(geo_polygon_where(&p, 53.3, 6.0), GEO_ON_EDGE);
    assert_int_equal(geo_polygon_where(&p, 53.35, 6.15), GEO_OUTSIDE);
}

static void multipolygon_and_boxes(void **state)
{
    struct geo_pt a[5];
    struct geo_pt b[5];
    struct geo_ring ra = {a, 5};
    struct geo_ring rb = {b, 5};
    struct geo_polygon parts[2] = {{&ra, 1}, {&rb, 1}};
    struct geo_bbox box;
    struct geo_bbox other;

    (void)state;
    square(a, 6.0, 53.0, 6.1, 53.1);
    square(b, 6.5, 53.0, 6.6, 53.1);
    assert_true(geo_multi_contains(parts, 2, 53.05, 6.55));
    assert_true(geo_multi_contains(parts, 2, 53.05, 6.05));
    assert_true(geo_multi_contains(parts, 2, 53.1, 6.6)); /* corner of b */
    assert_false(geo_multi_contains(parts, 2, 53.05, 6.3));
    assert_false(geo_multi_contains(parts, 1, 53.05, 6.55));

    geo_polygon_bbox(&parts[1], &box);
    assert_true(box.min_lon == 6.5 && box.max_lon == 6.6);
    assert_true(box.min_lat == 53.0 && box.max_lat == 53.1);
    other = (struct geo_bbox){6.6, 53.1, 6.7, 53.2}; /* shares a corner */
    assert_true(geo_bbox_overlaps(&box, &other));
    other.min_lon = 6.6000001;
    assert_false(geo_bbox_overlaps(&box, &other));
    geo_bbox_empty(&other);
    assert_false(geo_bbox_overlaps(&box, &other));
    geo_bbox_add(&other, 53.05, 6.55);
    assert_true(geo_bbox_overlaps(&box, &other));
}

static int meet(const struct geo_pt *a, size_t na, const struct geo_pt *b,
                size_t nb)
{
    struct geo_ring ra = {a, na};
    struct geo_ring rb = {b, nb};
    struct geo_polygon pa = {&ra, 1};
    struct geo_polygon pb = {&rb, 1};
    int ab = geo_polygons_intersect(&pa, &pb);

    /* symmetric by definition */
    assert_int_equal(ab, geo_polygons_intersect(&pb, &pa));
    return ab;
}

static void polygon_against_polygon(void **state)
{
    struct geo_pt big[5];
    struct geo_pt small[5];
    struct geo_pt wide[5];
    struct geo_pt tall[5];
    struct geo_pt next[5];
    struct geo_pt diag[5];
    struct geo_pt gap[5];
    struct geo_pt tri[4] = {
        {6.05, 53.1}, {6.0, 53.2}, {6.1, 53.2}, {6.05, 53.1}};

    (void)state;
    square(big, 6.0, 53.0, 6.1, 53.1);
    square(small, 6.02, 53.02, 6.03, 53.03);
    assert_true(meet(big, 5, small, 5)); /* containment, no edge meets */
    /* a cross: no vertex of either lies in the other, only edges cross */
    square(wide, 6.0, 53.04, 6.1, 53.06);
    square(tall, 6.04, 52.9, 6.06, 53.2);
    assert_true(meet(wide, 5, tall, 5));
    square(next, 6.1, 53.0, 6.2, 53.1); /* shares the east edge */
    assert_true(meet(big, 5, next, 5));
    square(diag, 6.1, 53.1, 6.2, 53.2); /* shares one corner */
    assert_true(meet(big, 5, diag, 5));
    /* triangle whose tip touches the middle of big's top edge */
    assert_true(meet(big, 5, tri, 4));
    square(gap, 6.1000001, 53.0, 6.2, 53.1); /* 7 mm east */
    assert_false(meet(big, 5, gap, 5));
}

static void polygon_in_a_hole(void **state)
{
    struct geo_pt outer[5];
    struct geo_pt hole[5];
    struct geo_pt inside[5];
    struct geo_ring rings[2] = {{outer, 5}, {hole, 5}};
    struct geo_polygon p = {rings, 2};
    struct geo_ring ri = {inside, 5};
    struct geo_polygon pi = {&ri, 1};
    struct geo_ring rh = {hole, 5};
    struct geo_polygon ph = {&rh, 1};

    (void)state;
    square(outer, 6.0, 53.0, 6.3, 53.3);
    square(hole, 6.1, 53.1, 6.2, 53.2);
    square(inside, 6.12, 53.12, 6.18, 53.18);
    assert_false(geo_polygons_intersect(&p, &pi));
    assert_false(geo_polygons_intersect(&pi, &p));
    /* the hole itself touches the polygon along the hole's edges */
    assert_true(geo_polygons_intersect(&p, &ph));
    assert_true(geo_polygons_intersect(&ph, &p));
}

static void circle_init(void **state)
{
    struct geo_circle c;

    (void)state;
    assert_int_equal(geo_circle_init(&c, 53.0, 6.0, 0.0), RELAY_OK);
    assert_int_equal(geo_circle_init(&c, 53.0, 6.0, GEO_RADIUS_MAX_M),
                     RELAY_OK);
    assert_int_equal(geo_circle_init(&c, 53.0, 6.0, -1.0), RELAY_EINVAL);
    assert_int_equal(geo_circle_init(&c, 53.0, 6.0, GEO_RADIUS_MAX_M + 1),
                     RELAY_EINVAL);
    assert_int_equal(geo_circle_init(&c, 53.0, 6.0, NAN), RELAY_EINVAL);
    assert_int_equal(geo_circle_init(&c, NAN, 6.0, 10.0), RELAY_EINVAL);
    assert_int_equal(geo_circle_init(&c, 90.0, 6.0, 10.0), RELAY_EINVAL);
    assert_int_equal(geo_circle_init(&c, 53.0, 181.0, 10.0), RELAY_EINVAL);
    /* the box holds the disc: 5 km is 0.0449 deg lat, 0.0745 deg lon */
    assert_int_equal(geo_circle_init(&c, 53.0, 6.0, 5000.0), RELAY_OK);
    assert_true(c.bbox.max_lat - 53.0 > 5000.0 / 111286.27);
    assert_true(c.bbox.max_lat - 53.0 < 5000.0 / 111286.27 * 1.01);
    assert_true(c.bbox.max_lon - 6.0 > 5000.0 / 67137.23);
    assert_true(c.bbox.max_lon - 6.0 < 5000.0 / 67137.23 * 1.01);
    /* distances in the circle's plane match the mean-latitude formula */
    assert_true(fabs(geo_circle_distance_m(&c, 53.03, 6.04) -
                     geo_distance_m(53.0, 6.0, 53.03, 6.04)) < 0.001);
}

/*
 * Square 6.0..6.01 E x 53.0..53.01 N. A centre at (53.005, 5.99) lies
 * 0.01 deg of longitude west of the square's west edge, at the edge's own
 * latitude: 0.01 * 67129.47 = 671.29 m.
 */
static void circle_touching_an_edge(void **state)
{
    struct geo_pt sq[5];
    struct geo_ring r = {sq, 5};
    struct geo_polygon p = {&r, 1};
    struct geo_circle c;
    double d = 0.01 * geo_m_per_deg_lon(53.005);

    (void)state;
    square(sq, 6.0, 53.0, 6.01, 53.01);
    assert_true(fabs(d - 671.29) < 0.01);
    assert_int_equal(geo_circle_init(&c, 53.005, 5.99, d), RELAY_OK);
    assert_true(geo_circle_intersects(&c, &p));
    assert_int_equal(geo_circle_init(&c, 53.005, 5.99, d - 1.0), RELAY_OK);
    assert_false(geo_circle_intersects(&c, &p));
    /* within the touching tolerance (1 cm) still counts */
    assert_int_equal(geo_circle_init(&c, 53.005, 5.99, d - 0.005), RELAY_OK);
    assert_true(geo_circle_intersects(&c, &p));
    assert_int_equal(geo_circle_init(&c, 53.005, 5.99, d - 0.02), RELAY_OK);
    assert_false(geo_circle_intersects(&c, &p));
}

/*
 * Corner (53.0, 6.0) seen from (52.99, 5.99): 0.01 deg each way at mean
 * latitude 52.995: sqrt((0.01 * 67145.0)^2 + (0.01 * 111286.2)^2), about
 * 1299.7 m.
 */
static void circle_touching_a_vertex(void **state)
{
    struct geo_pt sq[5];
    struct geo_ring r = {sq, 5};
    struct geo_polygon p = {&r, 1};
    struct geo_circle c;
    double d = geo_distance_m(52.99, 5.99, 53.0, 6.0);

    (void)state;
    square(sq, 6.0, 53.0, 6.01, 53.01);
    assert_true(fabs(d - 1299.7) < 0.5);
    assert_int_equal(geo_circle_init(&c, 52.99, 5.99, d), RELAY_OK);
    assert_true(geo_circle_intersects(&c, &p));
    assert_int_equal(geo_circle_init(&c, 52.99, 5.99, d - 1.0), RELAY_OK);
    assert_false(geo_circle_intersects(&c, &p));
}

static void circle_inside_outside_and_in_a_hole(void **state)
{
    struct geo_pt outer[5];
    struct geo_pt hole[5];
    struct geo_ring rings[2] = {{outer, 5}, {hole, 5}};
    struct geo_polygon p = {rings, 2};
    struct geo_ring ro = {outer, 5};
    struct geo_polygon solid = {&ro, 1};
    struct geo_circle c;
    /* hole 6.1..6.2: its west edge is 0.05 deg of longitude from the
     * centre, 0.05 * 66904.31 (at 53.15 N) = 3345.22 m; its south edge is
     * 0.05 * 111289 = 5564.5 m away */
    double to_edge = 0.05 * geo_m_per_deg_lon(53.15);

    (void)state;
    square(outer, 6.0, 53.0, 6.3, 53.3);
    square(hole, 6.1, 53.1, 6.2, 53.2);
    assert_true(fabs(to_edge - 3345.22) < 0.01);
    assert_int_equal(geo_circle_init(&c, 53.15, 6.15, 0.0), RELAY_OK);
    assert_true(geo_circle_intersects(&c, &solid)); /* centre inside */
    assert_false(geo_circle_intersects(&c, &p));    /* centre in the hole */
    assert_int_equal(geo_circle_init(&c, 53.15, 6.15, to_edge - 1), RELAY_OK);
    assert_false(geo_circle_intersects(&c, &p));
    assert_int_equal(geo_circle_init(&c, 53.15, 6.15, to_edge + 1), RELAY_OK);
    assert_true(geo_circle_intersects(&c, &p));
    /* a circle around the whole polygon meets it */
    assert_int_equal(geo_circle_init(&c, 53.15, 6.15, 50000.0), RELAY_OK);
    assert_true(geo_circle_intersects(&c, &p));
    /* far away */
    assert_int_equal(geo_circle_init(&c, 52.0, 5.0, 1000.0), RELAY_OK);
    assert_false(geo_circle_intersects(&c, &p));
}

/* 0.01 x 0.01 degrees at 53 N: 671.37 m x 1112.86 m = 747,140 m2. */
static void ring_area(void **state)
{
    struct geo_pt sq[5];
    struct geo_ring r = {sq, 5};
    struct geo_pt cw[5];
    struct geo_ring rc = {cw, 5};
    struct geo_pt flat[4] = {
        {6.0, 53.0}, {6.1, 53.0}, {6.2, 53.0}, {6.0, 53.0}};
    struct geo_ring rf = {flat, 4};

    (void)state;
    square(sq, 6.0, 53.0, 6.01, 53.01);
    for (int i = 0; i < 5; i++)
        cw[i] = sq[4 - i];
    assert_true(fabs(geo_ring_area_m2(&r) - 747140.0) < 747140.0 * 0.001);
    assert_true(fabs(geo_ring_area_m2(&rc) + 747140.0) < 747140.0 * 0.001);
    assert_true(geo_ring_area_m2(&rf) == 0.0);
}

/*
 * A U shape: its centroid (6.15, 53.136) lies in the notch, outside the
 * shape; the interior point must not.
 */
static void interior_points(void **state)
{
    struct geo_pt u[] = {{6.0, 53.0}, {6.3, 53.0}, {6.3, 53.3},
                         {6.2, 53.3}, {6.2, 53.1}, {6.1, 53.1},
                         {6.1, 53.3}, {6.0, 53.3}, {6.0, 53.0}};
    struct geo_ring ru = {u, 9};
    struct geo_polygon pu = {&ru, 1};
    struct geo_pt outer[5];
    struct geo_pt hole[5];
    struct geo_ring rings[2] = {{outer, 5}, {hole, 5}};
    struct geo_polygon ph = {rings, 2};
    struct geo_pt tiny[5];
    struct geo_ring rt = {tiny, 5};
    struct geo_polygon parts[2] = {{&rt, 1}, {rings, 1}};
    struct geo_pt flat[4] = {
        {6.0, 53.0}, {6.1, 53.0}, {6.2, 53.0}, {6.0, 53.0}};
    struct geo_ring rf = {flat, 4};
    struct geo_polygon pf = {&rf, 1};
    double lat = 0;
    double lon = 0;

    (void)state;
    assert_int_equal(geo_polygon_where(&pu, 53.136, 6.15), GEO_OUTSIDE);
    assert_int_equal(geo_interior_point(&pu, 1, &lat, &lon), RELAY_OK);
    assert_int_equal(geo_polygon_where(&pu, lat, lon), GEO_INSIDE);

    square(outer, 6.0, 53.0, 6.3, 53.3);
    square(hole, 6.05, 53.05, 6.25, 53.25);
    assert_int_equal(geo_interior_point(&ph, 1, &lat, &lon), RELAY_OK);
    assert_int_equal(geo_polygon_where(&ph, lat, lon), GEO_INSIDE);

    /* the larger part carries the point */
    square(tiny, 7.0, 53.0, 7.001, 53.001);
    assert_int_equal(geo_interior_point(parts, 2, &lat, &lon), RELAY_OK);
    assert_true(lon < 6.5);
    assert_int_equal(geo_polygon_where(&parts[1], lat, lon), GEO_INSIDE);

    lat = 1.0;
    assert_int_equal(geo_interior_point(&pf, 1, &lat, &lon), RELAY_EINVAL);
    assert_true(lat == 1.0); /* untouched on failure */
    assert_int_equal(geo_interior_point(&pf, 0, &lat, &lon), RELAY_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scales_and_distance),
        cmocka_unit_test(nl_bounds),
        cmocka_unit_test(ring_edges_and_vertices),
        cmocka_unit_test(ray_through_vertex),
        cmocka_unit_test(holes),
        cmocka_unit_test(multipolygon_and_boxes),
        cmocka_unit_test(polygon_against_polygon),
        cmocka_unit_test(polygon_in_a_hole),
        cmocka_unit_test(circle_init),
        cmocka_unit_test(circle_touching_an_edge),
        cmocka_unit_test(circle_touching_a_vertex),
        cmocka_unit_test(circle_inside_outside_and_in_a_hole),
        cmocka_unit_test(ring_area),
        cmocka_unit_test(interior_points),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
