/*
 * fuzz_postcodes.c - libFuzzer target for areas_parse_postcodes() and
 * areas_postcode() (relay/areas.c).
 *
 * The bytes are a postcode CSV for a fixed set of three buurten. Whatever
 * happens: no crash, a terminated message on failure, and a failed load
 * leaves the previous table as it was. The first line, cut at 16 bytes, is
 * also looked up as a postcode, which exercises the normaliser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "areas.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SQUARE(lon0, lon1)                                                     \
    "[[[" lon0 ",53.0],[" lon1 ",53.0],[" lon1 ",53.01],[" lon0                \
    ",53.01],[" lon0 ",53.0]]]"
#define BUURT(code, lon0, lon1)                                                \
    "{\"type\":\"Feature\",\"properties\":{\"buurtcode\":\"" code              \
    "\",\"buurtnaam\":\"B\",\"wijkcode\":\"WK010601\",\"gemeentecode\":"       \
    "\"GM0106\",\"gemeentenaam\":\"Assen\"},\"geometry\":{\"type\":"           \
    "\"Polygon\",\"coordinates\":" SQUARE(lon0, lon1) "}}"

static const char AREAS[] =
    "{\"type\":\"FeatureCollection\",\"features\":[" BUURT(
        "BU01060101", "6.50",
        "6.51") "," BUURT("BU01060102", "6.51",
                          "6.52") "," BUURT("BU01060103", "6.52", "6.53") "]}";

static struct areas *fixture(void)
{
    static struct areas *a; /* built once, kept for the process */
    char err[AREAS_ERR_MAX];

    if (!a &&
        areas_parse(AREAS, sizeof(AREAS) - 1, &a, err, sizeof(err)) != RELAY_OK)
        abort();
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct areas *a = fixture();
    const struct area_buurt *b = NULL;
    const struct area_buurt *before = NULL;
    char err[AREAS_ERR_MAX];
    char first[17];
    size_t rows = areas_postcode_rows(a);
    size_t n = 0;
    int had;
    int rc;

    had = areas_postcode(a, "9401AB", 1, &before) == RELAY_OK;
    memset(err, 'x', sizeof(err));
    rc = areas_parse_postcodes(a, (const char *)data, size, err, sizeof(err));
    if (rc != RELAY_OK) {
        if (memchr(err, '\0', sizeof(err)) == NULL ||
            areas_postcode_rows(a) != rows)
            abort();
        if (had &&
            (areas_postcode(a, "9401AB", 1, &b) != RELAY_OK || b != before))
            abort();
    } else if (areas_postcode_rows(a) == 0) {
        abort();
    }
    while (n < size && n < sizeof(first) - 1 && data[n] != '\n' &&
           data[n] != '\0') {
        first[n] = (char)data[n];
        n++;
    }
    first[n] = '\0';
    for (int number = 0; number < 12; number++) {
        rc = areas_postcode(a, first, number, &b);
        if (rc != RELAY_OK && rc != RELAY_ENOTFOUND && rc != RELAY_EINVAL)
            abort();
    }
    return 0;
}
