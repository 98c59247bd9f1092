/*
 * fuzz_areas_geojson.c - libFuzzer target for areas_parse() (relay/areas.c).
 *
 * Feeds the bytes to the GeoJSON loader (never crash, never read out of
 * bounds, always a terminated message on failure, no output on failure)
 * and checks properties of whatever loads: every buurt is found by its code
 * and its wijk code, its interior point lies in a buurt (itself or a
 * lower-coded one that overlaps it), a zero circle there and a polygon of
 * its box both return it, and the map GeoJSON is strict JSON with one
 * feature per buurt.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "areas.h"
#include "error.h"
#include "json_strict.h"

#define FUZZ_OUT_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int listed(const struct area_buurt *const *out, size_t n,
                  const struct area_buurt *b)
{
    for (size_t i = 0; i < n; i++)
        if (out[i] == b)
            return 1;
    return 0;
}

static void check_buurt(const struct areas *a, const struct area_buurt *b)
{
    const struct area_buurt *out[FUZZ_OUT_MAX];
    const struct area_buurt *hit;
    double box[4][2] = {{b->bbox.min_lat, b->bbox.min_lon},
                        {b->bbox.min_lat, b->bbox.max_lon},
                        {b->bbox.max_lat, b->bbox.max_lon},
                        {b->bbox.max_lat, b->bbox.min_lon}};
    size_t n = 0;
    int rc;

    if (areas_find(a, b->code) != b)
        abort();
    hit = areas_locate(a, b->lat, b->lon);
    if (!hit || strcmp(hit->code, b->code) > 0)
        abort();
    rc = areas_resolve_circle(a, b->lat, b->lon, 0, out, FUZZ_OUT_MAX, &n);
    if (rc == RELAY_OK && !listed(out, n, b))
        abort();
    if (rc != RELAY_OK && rc != RELAY_ETOOBIG)
        abort();
    rc = areas_resolve_code(a, b->wijk, out, FUZZ_OUT_MAX, &n);
    if (rc == RELAY_OK && !listed(out, n, b))
        abort();
    if (rc != RELAY_OK && rc != RELAY_ETOOBIG)
        abort();
    rc = areas_resolve_polygon(a, (const double(*)[2])box, 4, out, FUZZ_OUT_MAX,
                               &n);
    if (rc == RELAY_OK && !listed(out, n, b))
        abort();
    if (rc != RELAY_OK && rc != RELAY_ETOOBIG && rc != RELAY_EINVAL)
        abort(); /* EINVAL: a box of fewer than 3 distinct corners */
    areas_resolve_circle(a, b->lat, b->lon, 1500, out, FUZZ_OUT_MAX, &n);
}

static void check_geojson(const struct areas *a)
{
    char *text = areas_geojson(a, NULL);
    const char *why = NULL;
    cJSON *doc;

    if (!text)
        return; /* out of memory */
    doc = json_strict_parse(text, strlen(text), 8, &why);
    if (!doc)
        abort();
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "features")) !=
        (int)areas_count(a))
        abort();
    cJSON_Delete(doc);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct areas *a = NULL;
    char err[AREAS_ERR_MAX];
    size_t count;
    int rc;

    memset(err, 'x', sizeof(err));
    rc = areas_parse((const char *)data, size, &a, err, sizeof(err));
    if (rc != RELAY_OK) {
        if (a != NULL || memchr(err, '\0', sizeof(err)) == NULL)
            abort();
        return 0;
    }
    count = areas_count(a);
    if (count == 0)
        abort();
    for (size_t i = 0; i < count && i < 256; i++) {
        const struct area_buurt *b = areas_at(a, i);

        if (i > 0 && strcmp(areas_at(a, i - 1)->code, b->code) >= 0)
            abort(); /* sorted, unique */
        check_buurt(a, b);
    }
    check_geojson(a);
    areas_destroy(a);
    return 0;
}
