/*
 * areas.h - CBS buurten: load, validate, index, and resolve targets.
 *
 * An areas set is loaded once at start-up from a GeoJSON FeatureCollection
 * of buurt polygons (the CBS wijk- en buurtkaart property names) and,
 * optionally, a postcode table; after that it is read-only, so any number
 * of lookups may share it (also across threads). Invalid data is refused
 * as a whole with a message naming the feature or line: WHY, a relay that
 * routes alerts on half a map mis-routes silently.
 *
 * Resolution rules (geometry in geo.h):
 * - a buurt is in a circle or polygon target when its area shares at
 *   least one point with the target (edges count), not when its centroid
 *   does;
 * - a point is in a buurt when it is inside or on the edge of one of the
 *   buurt's polygons and not strictly inside a hole.
 * Every list of buurten comes back sorted by buurt code, without
 * duplicates. RELAY_ETOOBIG when it would be longer than the caller's
 * 'max'; output arguments are written only on success.
 *
 * Pointers to area_buurt stay valid until areas_destroy().
 */
#ifndef RELAY_AREAS_H
#define RELAY_AREAS_H

#include <stddef.h>

#include "geo.h"

#define AREAS_NAME_MAX 96             /* bytes of a name, with the NUL */
#define AREAS_ERR_MAX 256             /* enough for any message below */
#define AREAS_FEATURES_MAX 100000     /* buurten in one file (NL: ~14,000) */
#define AREAS_POSITIONS_MAX 100000000 /* positions in one file */
#define AREAS_FILE_MAX (1024L * 1024 * 1024) /* bytes of a GeoJSON file */
#define AREAS_POSTCODE_FILE_MAX (256L * 1024 * 1024) /* bytes of a CSV */
#define AREAS_POLYGON_MAX 4096       /* points of a polygon target */
#define AREAS_HOUSE_NUMBER_MAX 99999 /* highest house number */

/* The rings of a buurt with less area than this are broken data. */
#define AREAS_RING_AREA_MIN_M2 0.01

/*
 * One buurt. All strings are NUL-terminated and validated: codes by
 * channel.h's rules and consistent with each other (BU01060101 lies in
 * WK010601, which lies in GM0106), names are 1..95 bytes of UTF-8 without
 * control characters (wijknaam may be empty: CBS buurt files lack it).
 */
struct area_buurt {
    char code[11];                     /* buurtcode, BU + 8 digits */
    char name[AREAS_NAME_MAX];         /* buurtnaam */
    char wijk[9];                      /* wijkcode, WK + 6 digits */
    char wijknaam[AREAS_NAME_MAX];     /* may be "" */
    char gemeente[7];                  /* gemeentecode, GM + 4 digits */
    char gemeentenaam[AREAS_NAME_MAX]; /* gemeentenaam */
    double lat;                        /* a point strictly inside ... */
    double lon;                        /* ... (geo_interior_point) */
    struct geo_bbox bbox;              /* of all parts */
    const struct geo_polygon *parts;   /* the geometry, read-only */
    size_t nparts;                     /* 1 for a Polygon */
    size_t feature;                    /* index in the source file */
};

struct areas;

/*
 * Parses a GeoJSON FeatureCollection from buf[0..len) (need not be
 * NUL-terminated) into a new areas set, *out, owned by the caller
 * (areas_destroy). Each Feature needs properties buurtcode, buurtnaam,
 * wijkcode, gemeentecode, gemeentenaam (strings; wijknaam optional) and a
 * Polygon or MultiPolygon geometry in WGS84 [lon, lat] within GEO_NL_*.
 * Rings need >= 4 positions, the last equal to the first, and an area of
 * at least AREAS_RING_AREA_MIN_M2. Buurt codes are unique; buurten of one
 * wijk (gemeente) carry the same wijknaam (gemeentenaam).
 *
 * Each feature is parsed on its own with json_strict_parse (depth 6, so
 * the document's depth is at most 8), and the document around the
 * features is scanned with the same strictness. WHY: a national file has
 * millions of positions, and a cJSON tree of all of them at once would
 * need gigabytes.
 *
 * RELAY_OK, or RELAY_ECONFIG with a message in err such as
 * "feature 3 (BU01060101): ring 0 of polygon 0 is not closed" (feature
 * indices count from 0), or RELAY_ENOMEM. *out is written only on success.
 */
int areas_parse(const char *buf, size_t len, struct areas **out, char *err,
                size_t errlen);

/* areas_parse() on the contents of a file; messages start with the path.
 * RELAY_EIO when the file cannot be read. */
int areas_load(const char *geojson_path, struct areas **out, char *err,
               size_t errlen);

/*
 * Replaces the postcode table of 'a' with the CSV in buf[0..len): a header
 * line "pc6,from,to,parity,buurtcode", then one row per line, e.g.
 * "9401AB,1,99,odd,BU01060101": postcode ^[1-9][0-9]{3}[A-Z]{2}$, house
 * numbers from..to (1..AREAS_HOUSE_NUMBER_MAX, from <= to), parity all,
 * odd or even (the range must hold at least one such number), and a buurt
 * of 'a'. Two rows of one postcode must not share a house number. Line
 * endings LF or CRLF; empty lines are skipped. RELAY_ECONFIG with a
 * message naming the line (counting the header as line 1), RELAY_ENOMEM;
 * on failure the previous table stays.
 */
int areas_parse_postcodes(struct areas *a, const char *buf, size_t len,
                          char *err, size_t errlen);

/* areas_parse_postcodes() on a file; messages start with the path. */
int areas_load_postcodes(struct areas *a, const char *csv_path, char *err,
                         size_t errlen);

/* Frees everything; NULL is fine. */
void areas_destroy(struct areas *a);

/* Number of buurten; areas_at(a, i) for i < count, in buurt code order. */
size_t areas_count(const struct areas *a);
const struct area_buurt *areas_at(const struct areas *a, size_t i);

/* Rows of the postcode table (0 when none was loaded). */
size_t areas_postcode_rows(const struct areas *a);

/* The buurt with this code, or NULL. */
const struct area_buurt *areas_find(const struct areas *a,
                                    const char *buurtcode);

/* The buurt containing the point, or NULL outside all of them. On a
 * border between buurten, the one with the lowest code. */
const struct area_buurt *areas_locate(const struct areas *a, double lat,
                                      double lon);

/*
 * Buurten whose area meets the circle (centre lat/lon, radius in metres,
 * 0..GEO_RADIUS_MAX_M): out[0..*n). RELAY_EINVAL for a bad centre or
 * radius, RELAY_ETOOBIG for more than 'max', RELAY_ENOMEM.
 */
int areas_resolve_circle(const struct areas *a, double lat, double lon,
                         double radius_m, const struct area_buurt **out,
                         size_t max, size_t *n);

/*
 * Buurten whose area meets the polygon pts[0..npts), each [lat, lon] (the
 * wire order), open or closed, 3..AREAS_POLYGON_MAX points with at least 3
 * distinct ones; self-intersecting rings are read even-odd.
 * RELAY_EINVAL for bad points, RELAY_ETOOBIG, RELAY_ENOMEM.
 */
int areas_resolve_polygon(const struct areas *a, const double (*pts)[2],
                          int npts, const struct area_buurt **out, size_t max,
                          size_t *n);

/*
 * All buurten of a wijk (WK + 6 digits) or gemeente (GM + 4 digits) code;
 * a buurt code gives that buurt. RELAY_EINVAL for anything else,
 * RELAY_ENOTFOUND when no buurt has the code, RELAY_ETOOBIG.
 */
int areas_resolve_code(const struct areas *a, const char *code,
                       const struct area_buurt **out, size_t max, size_t *n);

/*
 * The buurt of an address. pc6 is "9401AB"; lower-case letters and one
 * space ("9401 ab") are accepted. RELAY_OK and *out; RELAY_EINVAL for a
 * malformed postcode or a number outside 1..AREAS_HOUSE_NUMBER_MAX;
 * RELAY_ENOTFOUND when the table has no row for it.
 */
int areas_postcode(const struct areas *a, const char *pc6, int number,
                   const struct area_buurt **out);

/*
 * A GeoJSON FeatureCollection of the buurten for a map: the CBS properties
 * plus "lat"/"lon" (the interior point, for labels), coordinates rounded
 * to 6 decimals (about 0.1 m) with repeats dropped. 'code' limits it to one
 * wijk, gemeente or buurt; NULL means all. Returns a heap string the
 * caller frees with free(), or NULL (out of memory, bad or unknown code).
 */
char *areas_geojson(const struct areas *a, const char *code);

#endif
