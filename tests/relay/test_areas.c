/*
 * test_areas.c - relay/areas.c: loading, validation messages, lookups and
 * the Assen sample.
 *
 * tests/relay/fixtures/areas_small.geojson (all squares, lon x lat):
 *   BU01060101 Lariks     6.50..6.52 x 53.00..53.02, with hole A
 *                         6.505..6.510 x 53.005..53.010 (filled by
 *                         BU01060103) and empty hole B 6.512..6.516 x
 *                         53.012..53.016
 *   BU01060102 Oost       6.52..6.54 x 53.00..53.02
 *   BU01060103 Enclave    hole A
 *   BU01060201 Tweedelen  MultiPolygon: 6.50..6.52 x 52.98..53.00 and
 *                         6.58..6.59 x 53.00..53.01
 *   BU16800001 Buurland   6.54..6.56 x 53.00..53.02, gemeente GM1680
 * The file lists them out of code order. Distances: one degree of
 * longitude is 67129.47 m at 53.005 N and 67121.71 m at 53.01 N.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "areas.h"
#include "error.h"
#include "json_strict.h"

#define FIXTURE RELAY_SOURCE_DIR "/tests/relay/fixtures/areas_small.geojson"
#define ASSEN RELAY_SOURCE_DIR "/config/areas/assen-buurten.geojson"
#define ASSEN_PC RELAY_SOURCE_DIR "/config/areas/assen-postcodes.csv"

#define OUT_MAX 64

static int setup(void **state)
{
    struct areas *a = NULL;
    char err[AREAS_ERR_MAX] = "";

    if (areas_load(FIXTURE, &a, err, sizeof(err)) != RELAY_OK) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    areas_destroy(*state);
    return 0;
}

/* "CODE CODE ..." of a result, for compact assertions. */
static const char *codes(const struct area_buurt **out, size_t n)
{
    static char buf[OUT_MAX * 11 + 1];
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf[len++] = ' ';
        memcpy(buf + len, out[i]->code, 10);
        len += 10;
        buf[len] = '\0';
    }
    return buf;
}

static const char *circle(const struct areas *a, double lat, double lon,
                          double r)
{
    const struct area_buurt *out[OUT_MAX];
    size_t n = 99;

    assert_int_equal(areas_resolve_circle(a, lat, lon, r, out, OUT_MAX, &n),
                     RELAY_OK);
    return codes(out, n);
}

static const char *located(const struct areas *a, double lat, double lon)
{
    const struct area_buurt *b = areas_locate(a, lat, lon);

    return b ? b->code : "none";
}

static void loads_sorted(void **state)
{
    const struct areas *a = *state;
    const struct area_buurt *b;

    assert_int_equal(areas_count(a), 5);
    assert_string_equal(areas_at(a, 0)->code, "BU01060101");
    assert_string_equal(areas_at(a, 1)->code, "BU01060102");
    assert_string_equal(areas_at(a, 4)->code, "BU16800001");
    assert_null(areas_at(a, 5));
    b = areas_find(a, "BU01060101");
    assert_non_null(b);
    assert_string_equal(b->name, "Lariks");
    assert_string_equal(b->wijk, "WK010601");
    assert_string_equal(b->wijknaam, "Assen-Oost");
    assert_string_equal(b->gemeente, "GM0106");
    assert_string_equal(b->gemeentenaam, "Assen");
    assert_int_equal(b->feature, 1);
    assert_int_equal(b->nparts, 1);
    assert_int_equal(b->parts[0].nrings, 3);
    assert_true(b->bbox.min_lon == 6.50 && b->bbox.max_lat == 53.02);
    assert_int_equal(areas_find(a, "BU01060201")->nparts, 2);
    assert_null(areas_find(a, "BU01060104"));
    assert_null(areas_find(a, "bu01060101"));
    assert_null(areas_find(a, NULL));
    assert_int_equal(areas_postcode_rows(a), 0);
}

/* Every buurt's interior point finds that buurt again. */
static void interior_points_locate_home(void **state)
{
    const struct areas *a = *state;

    for (size_t i = 0; i < areas_count(a); i++) {
        const struct area_buurt *b = areas_at(a, i);

        assert_ptr_equal(areas_locate(a, b->lat, b->lon), b);
    }
}

static void locate_points(void **state)
{
    const struct areas *a = *state;

    assert_string_equal(located(a, 53.01, 6.51), "BU01060101");
    assert_string_equal(located(a, 53.01, 6.53), "BU01060102");
    /* on the shared edge lon 6.52: both, the lowest code wins */
    assert_string_equal(located(a, 53.01, 6.52), "BU01060101");
    /* on the edge shared with BU01060201's first part, and its corner */
    assert_string_equal(located(a, 53.00, 6.51), "BU01060101");
    assert_string_equal(located(a, 53.00, 6.52), "BU01060101");
    /* the outer corner of BU01060102 shared with BU16800001 */
    assert_string_equal(located(a, 53.02, 6.54), "BU01060102");
    /* hole A holds the enclave; hole B is nobody's */
    assert_string_equal(located(a, 53.0075, 6.5075), "BU01060103");
    assert_string_equal(located(a, 53.014, 6.514), "none");
    /* hole B's edge and corner belong to the polygon around it */
    assert_string_equal(located(a, 53.012, 6.514), "BU01060101");
    assert_string_equal(located(a, 53.016, 6.516), "BU01060101");
    /* hole A's edge: the enclave's edge too; lowest code */
    assert_string_equal(located(a, 53.005, 6.507), "BU01060101");
    /* both parts of the multipolygon, and the gap between */
    assert_string_equal(located(a, 52.99, 6.51), "BU01060201");
    assert_string_equal(located(a, 53.005, 6.585), "BU01060201");
    assert_string_equal(located(a, 53.005, 6.57), "none");
    assert_string_equal(located(a, 53.01, 6.55), "BU16800001");
    /* just outside the data, and far away */
    assert_string_equal(located(a, 53.0200001, 6.51), "none");
    assert_string_equal(located(a, 52.37, 4.89), "none");
    assert_string_equal(located(a, NAN, 6.51), "none");
}

/*
 * From (53.005, 6.575) the second part of BU01060201 (west edge 6.58) is
 * 0.005 deg of longitude away: 0.005 * 67129.47 = 335.65 m. BU16800001's
 * east edge (6.56) is three times as far.
 */
static void circle_touching_and_missing(void **state)
{
    const struct areas *a = *state;
    double r = 0.005 * geo_m_per_deg_lon(53.005);

    assert_true(fabs(r - 335.65) < 0.01);
    assert_string_equal(circle(a, 53.005, 6.575, r), "BU01060201");
    assert_string_equal(circle(a, 53.005, 6.575, r - 1.0), "");
    assert_string_equal(circle(a, 53.005, 6.575, 3 * r - 1.0), "BU01060201");
    assert_string_equal(circle(a, 53.005, 6.575, 3 * r + 1.0),
                        "BU01060201 BU16800001");
}

/*
 * Around (53.01, 6.54) on the border of Assen (GM0106) and Aa en Hunze
 * (GM1680): 500 m reaches both sides. BU01060101's east edge is 0.02 deg
 * = 0.02 * 67121.71 = 1342.43 m away.
 */
static void circle_across_a_gemeente_border(void **state)
{
    const struct areas *a = *state;

    assert_string_equal(circle(a, 53.01, 6.54, 500), "BU01060102 BU16800001");
    assert_string_equal(circle(a, 53.01, 6.54, 1342.0),
                        "BU01060102 BU16800001");
    assert_string_equal(circle(a, 53.01, 6.54, 1343.0),
                        "BU01060101 BU01060102 BU16800001");
    /* radius 0 on a shared edge or corner: every buurt there */
    assert_string_equal(circle(a, 53.01, 6.52, 0), "BU01060101 BU01060102");
    assert_string_equal(circle(a, 53.00, 6.52, 0),
                        "BU01060101 BU01060102 BU01060201");
    /* inside hole B, 100 m from its nearest edge: nothing; then Lariks */
    assert_string_equal(circle(a, 53.014, 6.514, 100), "");
    assert_string_equal(circle(a, 53.014, 6.514, 140), "BU01060101");
    /* all of it */
    assert_string_equal(circle(a, 53.0, 6.55, 20000),
                        "BU01060101 BU01060102 BU01060103 BU01060201 "
                        "BU16800001");
    assert_string_equal(circle(a, 52.0, 5.0, 1000), "");
}

static void circle_limits(void **state)
{
    const struct areas *a = *state;
    const struct area_buurt *out[2] = {NULL, NULL};
    size_t n = 77;

    assert_int_equal(areas_resolve_circle(a, 53.0, 6.55, 20000, out, 4, &n),
                     RELAY_ETOOBIG);
    assert_int_equal(n, 77);
    assert_null(out[0]);
    assert_int_equal(areas_resolve_circle(a, 53.0, 6.55, -1, out, 2, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_circle(a, 53.0, 6.55, 100001, out, 2, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_circle(a, NAN, 6.55, 10, out, 2, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_circle(a, 52.9, 6.55, 10, NULL, 0, &n),
                     RELAY_OK);
    assert_int_equal(n, 0);
}

static const char *polygon(const struct areas *a, const double (*pts)[2],
                           int npts)
{
    const struct area_buurt *out[OUT_MAX];
    size_t n = 99;

    assert_int_equal(areas_resolve_polygon(a, pts, npts, out, OUT_MAX, &n),
                     RELAY_OK);
    return codes(out, n);
}

static void polygon_targets(void **state)
{
    const struct areas *a = *state;
    /* [lat, lon] as on the wire */
    const double in_hole_b[][2] = {
        {53.013, 6.513}, {53.013, 6.515}, {53.015, 6.514}};
    const double hole_b[][2] = {{53.012, 6.512},
                                {53.012, 6.516},
                                {53.016, 6.516},
                                {53.016, 6.512},
                                {53.012, 6.512}};
    const double strip[][2] = {
        {53.0149, 6.505}, {53.0149, 6.545}, {53.0151, 6.545}, {53.0151, 6.505}};
    const double around_part[][2] = {
        {52.99, 6.575}, {52.99, 6.595}, {53.02, 6.595}, {53.02, 6.575}};
    const double tip[][2] = {{53.02, 6.54}, {53.03, 6.55}, {53.03, 6.53}};
    const double near_tip[][2] = {
        {53.0200001, 6.54}, {53.03, 6.55}, {53.03, 6.53}};

    assert_string_equal(polygon(a, in_hole_b, 3), "");
    assert_string_equal(polygon(a, hole_b, 5), "BU01060101");
    assert_string_equal(polygon(a, strip, 4),
                        "BU01060101 BU01060102 BU16800001");
    assert_string_equal(polygon(a, around_part, 4), "BU01060201");
    /* touching two buurten only at their shared corner */
    assert_string_equal(polygon(a, tip, 3), "BU01060102 BU16800001");
    assert_string_equal(polygon(a, near_tip, 3), "");
}

static void polygon_limits(void **state)
{
    const struct areas *a = *state;
    const struct area_buurt *out[1] = {NULL};
    const double two[][2] = {{53.0, 6.5}, {53.01, 6.51}, {53.0, 6.5}};
    const double dup[][2] = {
        {53.0, 6.5}, {53.0, 6.5}, {53.01, 6.51}, {53.01, 6.51}};
    const double bad[][2] = {{53.0, 6.5}, {53.01, 6.51}, {95.0, 6.5}};
    const double big[][2] = {{52.9, 6.4}, {52.9, 6.7}, {53.1, 6.6}};
    size_t n = 77;

    assert_int_equal(areas_resolve_polygon(a, two, 3, out, 1, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_polygon(a, dup, 4, out, 1, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_polygon(a, bad, 3, out, 1, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_polygon(a, big, 2, out, 1, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_polygon(a, NULL, 3, out, 1, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_polygon(a, big, 3, out, 1, &n),
                     RELAY_ETOOBIG);
    assert_int_equal(n, 77);
    assert_null(out[0]);
}

static void codes_of_wijk_and_gemeente(void **state)
{
    const struct areas *a = *state;
    const struct area_buurt *out[OUT_MAX];
    size_t n = 0;

    assert_int_equal(areas_resolve_code(a, "WK010601", out, OUT_MAX, &n),
                     RELAY_OK);
    assert_string_equal(codes(out, n), "BU01060101 BU01060102 BU01060103");
    assert_int_equal(areas_resolve_code(a, "GM0106", out, OUT_MAX, &n),
                     RELAY_OK);
    assert_string_equal(codes(out, n),
                        "BU01060101 BU01060102 BU01060103 BU01060201");
    assert_int_equal(areas_resolve_code(a, "GM1680", out, OUT_MAX, &n),
                     RELAY_OK);
    assert_string_equal(codes(out, n), "BU16800001");
    assert_int_equal(areas_resolve_code(a, "BU01060102", out, OUT_MAX, &n),
                     RELAY_OK);
    assert_string_equal(codes(out, n), "BU01060102");
    n = 77;
    assert_int_equal(areas_resolve_code(a, "GM0106", out, 3, &n),
                     RELAY_ETOOBIG);
    assert_int_equal(n, 77);
    assert_int_equal(areas_resolve_code(a, "WK010699", out, OUT_MAX, &n),
                     RELAY_ENOTFOUND);
    assert_int_equal(areas_resolve_code(a, "GM0107", out, OUT_MAX, &n),
                     RELAY_ENOTFOUND);
    assert_int_equal(areas_resolve_code(a, "BU01069999", out, OUT_MAX, &n),
                     RELAY_ENOTFOUND);
    assert_int_equal(areas_resolve_code(a, "wk010601", out, OUT_MAX, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_code(a, "WK01060", out, OUT_MAX, &n),
                     RELAY_EINVAL);
    assert_int_equal(areas_resolve_code(a, NULL, out, OUT_MAX, &n),
                     RELAY_EINVAL);
}

static void geojson_for_the_map(void **state)
{
    const struct areas *a = *state;
    char *all = areas_geojson(a, NULL);
    char *wijk = areas_geojson(a, "WK010601");
    const char *why = NULL;
    cJSON *doc;
    cJSON *features;
    struct areas *again = NULL;
    char err[AREAS_ERR_MAX] = "";

    assert_non_null(all);
    assert_non_null(wijk);
    doc = json_strict_parse(all, strlen(all), 8, &why);
    assert_non_null(doc);
    features = cJSON_GetObjectItemCaseSensitive(doc, "features");
    assert_int_equal(cJSON_GetArraySize(features), 5);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(
                                cJSON_GetArrayItem(features, 3), "geometry"),
                            "type")
                            ->valuestring,
                        "MultiPolygon");
    cJSON_Delete(doc);
    assert_non_null(strstr(all, "[[[6.500000,53.000000],[6.520000,53.000000]"));
    /* what the map gets loads again as the same set */
    assert_int_equal(areas_parse(all, strlen(all), &again, err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(areas_count(again), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(areas_at(again, i)->code, areas_at(a, i)->code);
    areas_destroy(again);
    doc = json_strict_parse(wijk, strlen(wijk), 8, &why);
    assert_non_null(doc);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "features")),
        3);
    cJSON_Delete(doc);
    assert_null(areas_geojson(a, "WK999999"));
    assert_null(areas_geojson(a, "nonsense"));
    free(all);
    free(wijk);
}

/* ---- Loader messages --------------------------------------------------- */

#define PROPS_(bu, wk, gm, extra)                                              \
    "\"properties\":{\"buurtcode\":\"" bu "\",\"buurtnaam\":\"X\","            \
    "\"wijkcode\":\"" wk "\",\"wijknaam\":\"W\",\"gemeentecode\":\"" gm        \
    "\",\"gemeentenaam\":\"G\"" extra "}"
#define PROPS(bu, wk, gm) PROPS_(bu, wk, gm, "")
#define SQ "[[[6.5,53.0],[6.51,53.0],[6.51,53.01],[6.5,53.01],[6.5,53.0]]]"
#define POLY(c) "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":" c "}"
#define MULTI(c)                                                               \
    "\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":" c "}"
#define FEAT(p, g) "{\"type\":\"Feature\"," p "," g "}"
#define FC(f) "{\"type\":\"FeatureCollection\",\"features\":[" f "]}"
#define GOOD FEAT(PROPS("BU01060101", "WK010601", "GM0106"), POLY(SQ))
#define GEOM(g) FC(FEAT(PROPS("BU01060101", "WK010601", "GM0106"), g))
#define RING(c) GEOM(POLY("[[" c "]]"))
#define P_(key, value)                                                         \
    FC("{\"type\":\"Feature\",\"properties\":{\"buurtcode\":\"BU01060101\","   \
       "\"wijkcode\":\"WK010601\",\"gemeentecode\":\"GM0106\","                \
       "\"gemeentenaam\":\"G\",\"buurtnaam\":\"X\"," key ":" value             \
       "}," POLY(SQ) "}")

struct load_case {
    const char *doc;
    const char *message;
};

static const char LONG_NAME[] =
    "\"1234567890123456789012345678901234567890123456789012345678901234567890"
    "12345678901234567890123456\"";

static const struct load_case load_cases[] = {
    {"", "bad JSON at byte 0: malformed JSON"},
    {"[]", "bad JSON at byte 0: malformed JSON"},
    {"{}", "not a FeatureCollection"},
    {"\xff", "bad JSON at byte 0: invalid UTF-8"},
    {"{\"type\":\"FeatureCollection\",\"features\":[]}", "no features"},
    {"{\"type\":\"FeatureCollection\"}", "no features"},
    {"{\"type\":\"Feature\",\"features\":[" GOOD "]}",
     "not a FeatureCollection"},
    {"{\"features\":[" GOOD "]}", "not a FeatureCollection"},
    {"{\"type\":\"FeatureCollection\",\"features\":{}}",
     "features is not an array"},
    {"{\"type\":\"FeatureCollection\",\"type\":\"FeatureCollection\"}",
     "bad JSON at byte 28: duplicate key"},
    {"{\"type\":\"FeatureCollection\",\"typ\\u0065\":1}",
     "bad JSON at byte 28: duplicate key"},
    {"{\"type\":\"FeatureCollection\" \"features\":[]}",
     "bad JSON at byte 28: malformed JSON"},
    {"{\"type\":\"FeatureCollection\",\"x\":[1,]}",
     "bad JSON at byte 32: malformed JSON"},
    {"{\"type\":\"FeatureCollection\",\"features\":[" GOOD ",]}",
     "bad JSON at byte 302: malformed JSON"},
    {"{\"type\":\"FeatureCollection\",\"features\":[" GOOD "]} x",
     "bad JSON at byte 304: trailing characters"},
    {FC("{\"type\":\"Feature\",\"type\":\"Feature\"}"),
     "feature 0: bad JSON: duplicate key"},
    {GEOM(POLY("[[[[[6.5,53.0]]]]]")), "feature 0: bad JSON: nesting too deep"},
    {RING("[6.5,53.0],[6.51,53.0],[6.51,1e400],[6.5,53.0]"),
     "feature 0: bad JSON: number out of range"},
    {FC("[]"), "feature 0: not a Feature"},
    {FC("{\"type\":\"feature\"}"), "feature 0: not a Feature"},
    {FC(GOOD "," GOOD "," FEAT("\"properties\":[]", POLY(SQ))),
     "feature 2: properties missing"},
    {FC("{\"type\":\"Feature\",\"properties\":{}}"),
     "feature 0: buurtcode missing"},
    {FC(FEAT(PROPS("BU0106010", "WK010601", "GM0106"), POLY(SQ))),
     "feature 0: buurtcode must be BU + 8 digits"},
    {FC(FEAT(PROPS("bu01060101", "WK010601", "GM0106"), POLY(SQ))),
     "feature 0: buurtcode must be BU + 8 digits"},
    {FC(FEAT(PROPS("BU01060101", "WK01060", "GM0106"), POLY(SQ))),
     "feature 0 (BU01060101): wijkcode must be WK + 6 digits"},
    {FC(FEAT(PROPS("BU01060101", "WK010601", "GM106"), POLY(SQ))),
     "feature 0 (BU01060101): gemeentecode must be GM + 4 digits"},
    {FC(FEAT(PROPS("BU01060101", "WK010602", "GM0106"), POLY(SQ))),
     "feature 0 (BU01060101): buurtcode is not in wijk WK010602 (want "
     "WK010601)"},
    {FC(FEAT(PROPS("BU01060101", "WK010601", "GM0107"), POLY(SQ))),
     "feature 0 (BU01060101): wijk WK010601 is not in gemeente GM0107 (want "
     "GM0106)"},
    {FC("{\"type\":\"Feature\",\"properties\":{\"buurtcode\":\"BU01060101\","
        "\"gemeentecode\":\"GM0106\"}}"),
     "feature 0 (BU01060101): wijkcode missing"},
    {FC("{\"type\":\"Feature\",\"properties\":{\"buurtcode\":\"BU01060101\","
        "\"wijkcode\":\"WK010601\",\"gemeentecode\":\"GM0106\","
        "\"gemeentenaam\":\"G\"}}"),
     "feature 0 (BU01060101): buurtnaam missing"},
    {P_("\"wijknaam\"", "5"),
     "feature 0 (BU01060101): wijknaam must be a string"},
    {FC("{\"type\":\"Feature\",\"properties\":{\"buurtcode\":\"BU01060101\","
        "\"wijkcode\":\"WK010601\",\"gemeentecode\":\"GM0106\","
        "\"buurtnaam\":\"\"}}"),
     "feature 0 (BU01060101): buurtnaam is empty"},
    {FC("{\"type\":\"Feature\",\"properties\":{\"buurtcode\":\"BU01060101\","
        "\"wijkcode\":\"WK010601\",\"gemeentecode\":\"GM0106\","
        "\"buurtnaam\":\"A\\tB\"}}"),
     "feature 0 (BU01060101): buurtnaam has control characters"},
    {FC("{\"type\":\"Feature\",\"properties\":{\"buurtcode\":\"BU01060101\","
        "\"wijkcode\":\"WK010601\",\"gemeentecode\":\"GM0106\","
        "\"buurtnaam\":\"X\"}}"),
     "feature 0 (BU01060101): gemeentenaam missing"},
    {FC(FEAT(PROPS("BU01060101", "WK010601", "GM0106"), "\"geometry\":null")),
     "feature 0 (BU01060101): geometry missing"},
    {GEOM("\"geometry\":{\"type\":\"Point\",\"coordinates\":[6.5,53.0]}"),
     "feature 0 (BU01060101): geometry type must be Polygon or MultiPolygon"},
    {GEOM("\"geometry\":{\"type\":\"Polygon\"}"),
     "feature 0 (BU01060101): coordinates missing"},
    {GEOM(POLY("[]")), "feature 0 (BU01060101): polygon 0 has no rings"},
    {GEOM(POLY("[5]")),
     "feature 0 (BU01060101): ring 0 of polygon 0 is not an array"},
    {GEOM(MULTI("[]")), "feature 0 (BU01060101): MultiPolygon has no polygons"},
    {GEOM(MULTI("[5]")),
     "feature 0 (BU01060101): polygon 0 is not an array of rings"},
    {RING("[6.5,53.0],[6.51,53.0],[6.5,53.0]"),
     "feature 0 (BU01060101): ring 0 of polygon 0 has 3 positions (min 4)"},
    {RING("[6.5,53.0],[6.51],[6.51,53.01],[6.5,53.0]"),
     "feature 0 (BU01060101): position 1 of ring 0 of polygon 0 is not [lon, "
     "lat]"},
    {RING("[6.5,53.0],[6.51,\"53\"],[6.51,53.01],[6.5,53.0]"),
     "feature 0 (BU01060101): position 1 of ring 0 of polygon 0 is not [lon, "
     "lat]"},
    {RING("[6.5,53.0],[6.51,53.0,0,1],[6.51,53.01],[6.5,53.0]"),
     "feature 0 (BU01060101): position 1 of ring 0 of polygon 0 is not [lon, "
     "lat]"},
    {RING("[6.5,53.0],[53.0,6.51],[6.51,53.01],[6.5,53.0]"),
     "feature 0 (BU01060101): position 1 of ring 0 of polygon 0 is outside "
     "the Netherlands (lon 3..8, lat 50..54; WGS84?)"},
    {RING("[233000,561000],[233100,561000],[233100,561100],[233000,561000]"),
     "feature 0 (BU01060101): position 0 of ring 0 of polygon 0 is outside "
     "the Netherlands (lon 3..8, lat 50..54; WGS84?)"},
    {RING("[6.5,53.0],[6.51,53.0],[6.51,53.01],[6.5,53.01]"),
     "feature 0 (BU01060101): ring 0 of polygon 0 is not closed"},
    {RING("[6.5,53.0],[6.51,53.0],[6.52,53.0],[6.5,53.0]"),
     "feature 0 (BU01060101): ring 0 of polygon 0 has zero area"},
    {RING("[6.5,53.0],[6.51,53.0,0],[6.51,53.0],[6.5,53.0]"),
     "feature 0 (BU01060101): ring 0 of polygon 0 has zero area"},
    {GEOM(MULTI("[" SQ ",[[[6.6,53.0],[6.61,53.0],[6.61,53.01],[6.6,53.0]],"
                "[[6.6,53.0],[6.601,53.0],[6.601,53.001],[6.6,53.001]]]]")),
     "feature 0 (BU01060101): ring 1 of polygon 1 is not closed"},
    {FC(GOOD "," GOOD), "feature 1 (BU01060101): duplicate buurtcode (first "
                        "in feature 0)"},
    {FC(GOOD "," FEAT(
         PROPS_("BU01060102", "WK010601", "GM0106", ",\"wijknaam\":\"V\""),
         POLY(SQ))),
     "feature 1: bad JSON: duplicate key"},
    {FC(FEAT("\"properties\":{\"buurtcode\":\"BU01060102\","
             "\"buurtnaam\":\"Y\",\"wijkcode\":\"WK010601\","
             "\"wijknaam\":\"V\",\"gemeentecode\":\"GM0106\","
             "\"gemeentenaam\":\"G\"}",
             POLY(SQ)) "," GOOD),
     "feature 0 (BU01060102): wijknaam differs from feature 1 (wijk "
     "WK010601)"},
    {FC(GOOD "," FEAT("\"properties\":{\"buurtcode\":\"BU01060201\","
                      "\"buurtnaam\":\"Y\",\"wijkcode\":\"WK010602\","
                      "\"gemeentecode\":\"GM0106\","
                      "\"gemeentenaam\":\"Assen\"}",
                      POLY(SQ))),
     "feature 1 (BU01060201): gemeentenaam differs from feature 0 "
     "(gemeente GM0106)"},
};

static void loader_messages(void **state)
{
    int failed = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
        struct areas *a = (struct areas *)&a; /* must stay untouched */
        struct areas *before = a;
        char err[AREAS_ERR_MAX] = "";
        int rc = areas_parse(load_cases[i].doc, strlen(load_cases[i].doc), &a,
                             err, sizeof(err));

        if (rc != RELAY_ECONFIG || strcmp(err, load_cases[i].message) != 0) {
            print_error("case %zu: rc %d, got \"%s\", want \"%s\"\n", i, rc,
                        err, load_cases[i].message);
            failed++;
        }
        assert_ptr_equal(a, before);
    }
    assert_int_equal(failed, 0);
}

/* The FeatureCollection object holds at most 64 members. */
static void too_many_members(void **state)
{
    char doc[2048];
    char want[AREAS_ERR_MAX];
    char err[AREAS_ERR_MAX] = "";
    struct areas *a = NULL;
    size_t len = 0;
    size_t at = 0;

    (void)state;
    len += (size_t)snprintf(doc + len, sizeof(doc) - len, "{");
    for (int i = 0; i < 65; i++) {
        if (i == 64)
            at = len;
        len += (size_t)snprintf(doc + len, sizeof(doc) - len, "\"m%d\":0,", i);
    }
    snprintf(doc + len, sizeof(doc) - len, "%s",
             "\"type\":\"FeatureCollection\",\"features\":[" GOOD "]}");
    assert_int_equal(areas_parse(doc, strlen(doc), &a, err, sizeof(err)),
                     RELAY_ECONFIG);
    snprintf(want, sizeof(want), "bad JSON at byte %zu: too many members", at);
    assert_string_equal(err, want);
    assert_null(a);
}

static void name_lengths(void **state)
{
    char doc[1024];
    char err[AREAS_ERR_MAX] = "";
    struct areas *a = NULL;

    (void)state;
    snprintf(doc, sizeof(doc), "%s", P_("\"wijknaam\"", "\"x\""));
    assert_int_equal(areas_parse(doc, strlen(doc), &a, err, sizeof(err)),
                     RELAY_OK);
    areas_destroy(a);
    a = NULL;
    /* 96 bytes: one too many */
    snprintf(
        doc, sizeof(doc),
        FC("{\"type\":\"Feature\",\"properties\":{\"buurtcode\":"
           "\"BU01060101\",\"wijkcode\":\"WK010601\",\"gemeentecode\":"
           "\"GM0106\",\"gemeentenaam\":\"G\",\"buurtnaam\":%s}," POLY(SQ) "}"),
        LONG_NAME);
    assert_int_equal(areas_parse(doc, strlen(doc), &a, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_string_equal(err,
                        "feature 0 (BU01060101): buurtnaam is longer than 95 "
                        "bytes");
    assert_null(a);
    /* wijknaam may be missing or null: CBS buurt files lack it */
    snprintf(doc, sizeof(doc), "%s", P_("\"wijknaam\"", "null"));
    assert_int_equal(areas_parse(doc, strlen(doc), &a, err, sizeof(err)),
                     RELAY_OK);
    assert_string_equal(areas_at(a, 0)->wijknaam, "");
    assert_string_equal(areas_at(a, 0)->name, "X");
    areas_destroy(a);
}

static void load_from_files(void **state)
{
    char path[] = "/tmp/test_areas_XXXXXX";
    char err[AREAS_ERR_MAX] = "";
    char want[AREAS_ERR_MAX];
    struct areas *a = NULL;
    int fd;

    (void)state;
    assert_int_equal(areas_load("/nonexistent/x.geojson", &a, err, sizeof(err)),
                     RELAY_EIO);
    assert_string_equal(err,
                        "/nonexistent/x.geojson: No such file or directory");
    assert_int_equal(areas_load("/tmp", &a, err, sizeof(err)), RELAY_EIO);
    assert_string_equal(err, "/tmp: not a regular file");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"type\":\"FeatureCollection\"}", 28), 28);
    close(fd);
    assert_int_equal(areas_load(path, &a, err, sizeof(err)), RELAY_ECONFIG);
    snprintf(want, sizeof(want), "%s: no features", path);
    assert_string_equal(err, want);
    assert_null(a);
    assert_int_equal(areas_load_postcodes(NULL, path, err, sizeof(err)),
                     RELAY_EINVAL);
    unlink(path);
}

/* ---- Postcodes --------------------------------------------------------- */

#define HEADER "pc6,from,to,parity,buurtcode\n"

struct pc_case {
    const char *csv;
    const char *message;
};

static const struct pc_case pc_cases[] = {
    {"", "line 1: header must be pc6,from,to,parity,buurtcode"},
    {"pc6,from,to,parity\n",
     "line 1: header must be pc6,from,to,parity,buurtcode"},
    {"PC6,from,to,parity,buurtcode\n",
     "line 1: header must be pc6,from,to,parity,buurtcode"},
    {HEADER, "no rows"},
    {HEADER "\n\n", "no rows"},
    {HEADER "9401AB,1,9,all\n",
     "line 2: want 5 fields (pc6,from,to,parity,buurtcode)"},
    {HEADER "9401AB,1,9,all,BU01060101,x\n",
     "line 2: want 5 fields (pc6,from,to,parity,buurtcode)"},
    {HEADER "0401AB,1,9,all,BU01060101\n",
     "line 2: postcode must be 4 digits (not starting with 0) and 2 capitals, "
     "e.g. 9401AB"},
    {HEADER "9401ab,1,9,all,BU01060101\n",
     "line 2: postcode must be 4 digits (not starting with 0) and 2 capitals, "
     "e.g. 9401AB"},
    {HEADER "9401 AB,1,9,all,BU01060101\n",
     "line 2: postcode must be 4 digits (not starting with 0) and 2 capitals, "
     "e.g. 9401AB"},
    {HEADER "\n9401AB,0,9,all,BU01060101\n",
     "line 3: house numbers must be 1..99999 with from <= to"},
    {HEADER "9401AB,1,100000,all,BU01060101\n",
     "line 2: house numbers must be 1..99999 with from <= to"},
    {HEADER "9401AB,10,9,all,BU01060101\n",
     "line 2: house numbers must be 1..99999 with from <= to"},
    {HEADER "9401AB,+1,9,all,BU01060101\n",
     "line 2: house numbers must be 1..99999 with from <= to"},
    {HEADER "9401AB,,9,all,BU01060101\n",
     "line 2: house numbers must be 1..99999 with from <= to"},
    {HEADER "9401AB,1,9,ODD,BU01060101\n",
     "line 2: parity must be all, odd or even"},
    {HEADER "9401AB,2,2,odd,BU01060101\n", "line 2: no odd numbers in 2..2"},
    {HEADER "9401AB,3,3,even,BU01060101\n", "line 2: no even numbers in 3..3"},
    {HEADER "9401AB,1,9,all,BU0106010\n",
     "line 2: buurtcode must be BU + 8 digits"},
    {HEADER "9401AB,1,9,all,WK01060101\n",
     "line 2: buurtcode must be BU + 8 digits"},
    {HEADER "9401AB,1,9,all,BU01069999\n",
     "line 2: unknown buurtcode BU01069999"},
    {HEADER "9401AB,1,10,all,BU01060101\n9401AC,1,10,all,BU01060101\n"
            "9401AB,9,20,odd,BU01060102\n",
     "line 4: house numbers overlap line 2"},
    {HEADER "9401AB,9,20,odd,BU01060102\n9401AB,1,10,all,BU01060101\n",
     "line 3: house numbers overlap line 2"},
    {HEADER "9401AB,2,10,even,BU01060101\n9401AB,10,12,all,BU01060102\n",
     "line 3: house numbers overlap line 2"},
    {HEADER "9401AB,1,99,odd,BU01060101\n9401AB,2,98,even,BU01060102\n"
            "9401AB,41,41,all,BU01060102\n",
     "line 4: house numbers overlap line 2"},
    {HEADER
     "9401AB,1,9,all,BU01060101\n"
     "9401AB,1,9,all,BU01060101"
     "                                                                "
     "                                                                "
     "                                                                "
     "                                                                \n",
     "line 3: longer than 256 bytes"},
};

static void postcode_messages(void **state)
{
    struct areas *a = *state;
    int failed = 0;

    for (size_t i = 0; i < sizeof(pc_cases) / sizeof(pc_cases[0]); i++) {
        char err[AREAS_ERR_MAX] = "";
        int rc = areas_parse_postcodes(
            a, pc_cases[i].csv, strlen(pc_cases[i].csv), err, sizeof(err));

        if (rc != RELAY_ECONFIG || strcmp(err, pc_cases[i].message) != 0) {
            print_error("case %zu: rc %d, got \"%s\", want \"%s\"\n", i, rc,
                        err, pc_cases[i].message);
            failed++;
        }
        assert_int_equal(areas_postcode_rows(a), 0);
    }
    assert_int_equal(failed, 0);
}

static const char *at(const struct areas *a, const char *pc6, int number)
{
    const struct area_buurt *b = NULL;
    int rc = areas_postcode(a, pc6, number, &b);

    if (rc == RELAY_ENOTFOUND)
        return "not found";
    if (rc == RELAY_EINVAL)
        return "invalid";
    assert_int_equal(rc, RELAY_OK);
    return b->code;
}

/* A street on the border of two buurten: odd numbers on one side. */
static void postcode_ranges_and_parity(void **state)
{
    struct areas *a = *state;
    static const char csv[] = HEADER "9401AB,1,99,odd,BU01060101\r\n"
                                     "9401AB,2,98,even,BU01060102\r\n"
                                     "\r\n"
                                     "9401AB,100,120,all,BU01060103\r\n"
                                     "9401AC,5,5,all,BU16800001\r\n"
                                     "9999ZZ,1,99999,all,BU01060201";
    char err[AREAS_ERR_MAX] = "";
    const struct area_buurt *b = NULL;

    assert_int_equal(
        areas_parse_postcodes(a, csv, strlen(csv), err, sizeof(err)), RELAY_OK);
    assert_int_equal(areas_postcode_rows(a), 5);
    assert_string_equal(at(a, "9401AB", 1), "BU01060101");
    assert_string_equal(at(a, "9401AB", 99), "BU01060101");
    assert_string_equal(at(a, "9401AB", 2), "BU01060102");
    assert_string_equal(at(a, "9401AB", 98), "BU01060102");
    assert_string_equal(at(a, "9401AB", 100), "BU01060103");
    assert_string_equal(at(a, "9401AB", 101), "BU01060103");
    assert_string_equal(at(a, "9401AB", 121), "not found");
    assert_string_equal(at(a, "9401AC", 5), "BU16800001");
    assert_string_equal(at(a, "9401AC", 4), "not found");
    assert_string_equal(at(a, "9401AD", 5), "not found");
    assert_string_equal(at(a, "9999ZZ", 99999), "BU01060201");
    /* how residents type it */
    assert_string_equal(at(a, "9401 ab", 3), "BU01060101");
    assert_string_equal(at(a, "9401aB", 4), "BU01060102");
    assert_string_equal(at(a, "9401  AB", 3), "invalid");
    assert_string_equal(at(a, " 9401AB", 3), "invalid");
    assert_string_equal(at(a, "9401AB ", 3), "invalid");
    assert_string_equal(at(a, "0401AB", 3), "invalid");
    assert_string_equal(at(a, "9401A", 3), "invalid");
    assert_string_equal(at(a, "9401ABC", 3), "invalid");
    assert_string_equal(at(a, "94O1AB", 3), "invalid");
    assert_string_equal(at(a, "9401AB", 0), "invalid");
    assert_string_equal(at(a, "9401AB", 100000), "invalid");
    assert_int_equal(areas_postcode(a, NULL, 1, &b), RELAY_EINVAL);

    /* a bad table leaves the good one in place */
    assert_int_equal(
        areas_parse_postcodes(a, HEADER, strlen(HEADER), err, sizeof(err)),
        RELAY_ECONFIG);
    assert_int_equal(areas_postcode_rows(a), 5);
    assert_string_equal(at(a, "9401AB", 1), "BU01060101");
}

/* ---- The Assen sample -------------------------------------------------- */

static void assen_sample(void **state)
{
    struct areas *a = NULL;
    char err[AREAS_ERR_MAX] = "";
    const struct area_buurt *out[OUT_MAX];
    const struct area_buurt *b;
    size_t n = 0;
    size_t shared = 0;

    (void)state;
    if (areas_load(ASSEN, &a, err, sizeof(err)) != RELAY_OK)
        fail_msg("%s", err);
    if (areas_load_postcodes(a, ASSEN_PC, err, sizeof(err)) != RELAY_OK)
        fail_msg("%s", err);
    assert_true(areas_count(a) >= 20);
    b = areas_find(a, "BU01060101");
    assert_non_null(b);
    assert_string_equal(b->wijk, "WK010601");
    assert_string_equal(b->gemeente, "GM0106");
    assert_string_equal(b->gemeentenaam, "Assen");
    assert_ptr_equal(areas_locate(a, b->lat, b->lon), b);
    /* at Assen's real location */
    assert_true(fabs(b->lat - 52.99) < 0.05 && fabs(b->lon - 6.56) < 0.07);
    for (size_t i = 0; i < areas_count(a); i++) {
        const struct area_buurt *x = areas_at(a, i);

        assert_ptr_equal(areas_locate(a, x->lat, x->lon), x);
        assert_string_equal(x->gemeente, "GM0106");
    }
    assert_int_equal(areas_resolve_code(a, "WK010601", out, OUT_MAX, &n),
                     RELAY_OK);
    assert_true(n >= 2);
    assert_string_equal(out[0]->code, "BU01060101");
    assert_int_equal(areas_resolve_code(a, "WK010603", out, OUT_MAX, &n),
                     RELAY_OK);
    assert_true(n >= 2);
    /* no overlaps: off-grid sample points lie in exactly one buurt */
    for (int i = 0; i < 60; i++) {
        for (int j = 0; j < 60; j++) {
            double lat = 52.956 + i * 0.00131 + 1.234e-7;
            double lon = 6.491 + j * 0.00213 + 2.345e-7;

            assert_int_equal(
                areas_resolve_circle(a, lat, lon, 0, out, OUT_MAX, &n),
                RELAY_OK);
            assert_true(n <= 1);
            shared += n;
        }
    }
    assert_int_equal(shared, 3600); /* and the town is covered */
    /* a 1.5 km appeal around the Binnenstad */
    b = areas_find(a, "BU01060000");
    assert_non_null(b);
    assert_int_equal(
        areas_resolve_circle(a, b->lat, b->lon, 1500, out, OUT_MAX, &n),
        RELAY_OK);
    assert_true(n >= 4);
    assert_ptr_equal(out[0], b);
    /* postcodes: a border street split by parity */
    assert_true(areas_postcode_rows(a) > 50);
    assert_int_equal(areas_postcode(a, "9402BA", 7, &b), RELAY_OK);
    assert_string_equal(b->code, "BU01060102");
    assert_int_equal(areas_postcode(a, "9402 ba", 8, &b), RELAY_OK);
    assert_string_equal(b->code, "BU01060101");
    areas_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(loads_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(interior_points_locate_home, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(locate_points, setup, teardown),
        cmocka_unit_test_setup_teardown(circle_touching_and_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(circle_across_a_gemeente_border, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(circle_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(polygon_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(polygon_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(codes_of_wijk_and_gemeente, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(geojson_for_the_map, setup, teardown),
        cmocka_unit_test(loader_messages),
        cmocka_unit_test(too_many_members),
        cmocka_unit_test(name_lengths),
        cmocka_unit_test(load_from_files),
        cmocka_unit_test_setup_teardown(postcode_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(postcode_ranges_and_parity, setup,
                                        teardown),
        cmocka_unit_test(assen_sample),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
