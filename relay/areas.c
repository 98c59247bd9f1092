/*
 * areas.c - CBS buurten: load, validate, index, and resolve targets.
 *
 * Storage: every position of every ring sits in one array, rings and
 * polygons are views into it (geo.h), and the buurten are sorted by code,
 * so that index order is code order. WHY: lookups then return sorted
 * results without sorting, and a wijk or gemeente is a contiguous range
 * (a buurt code starts with its wijk's and gemeente's digits).
 *
 * Index: a uniform grid over the bounding box of all buurten, about four
 * cells per buurt, each cell listing (in code order) the buurten whose
 * polygon boxes overlap it. A point looks at one cell; a circle or polygon
 * at the cells under its box, marks candidates in a bitmap (which also
 * removes duplicates and keeps code order) and tests each exactly.
 */
#include "areas.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "channel.h"
#include "error.h"
#include "json_strict.h"

#define FEATURE_DEPTH 6        /* Feature > geometry > coords > ... */
#define MEMBER_DEPTH 7         /* other top-level values */
#define TOP_MEMBERS_MAX 64     /* members of the FeatureCollection */
#define GRID_CELLS_PER_BUURT 4 /* target grid density */
#define GRID_SIDE_MAX 4096     /* cells along one axis */
#define GRID_PAD 1e-7          /* degrees added around boxes in the grid */
#define INSIDE_MARGIN_M 1.0    /* box corners this far in: wholly inside */
#define CSV_LINE_MAX 256       /* bytes of one postcode line */
#define CSV_ROWS_MAX 10000000  /* rows of the postcode table */
#define CSV_HEADER "pc6,from,to,parity,buurtcode"
#define MSG_MAX 200 /* a message before its prefix */

enum pc_parity {
    PC_ALL = 0,
    PC_ODD = 1,
    PC_EVEN = 2,
};

/* One row of the postcode table. */
struct pc_row {
    uint32_t key;    /* pc_key() of the postcode */
    uint32_t from;   /* first house number */
    uint32_t to;     /* last house number */
    uint32_t buurt;  /* index into areas.buurten */
    uint32_t parity; /* enum pc_parity */
    size_t line;     /* in the CSV, for messages */
};

struct areas {
    struct area_buurt *buurten; /* n, sorted by code */
    size_t n;                   /* buurten */
    struct geo_polygon *parts;  /* all polygons */
    struct geo_bbox *part_box;  /* box of parts[i] */
    size_t nparts;              /* polygons */
    struct geo_ring *rings;     /* all rings */
    struct geo_pt *pts;         /* all positions */
    struct geo_bbox box;        /* of everything; the grid's extent */
    size_t nx;                  /* grid columns (longitude) */
    size_t ny;                  /* grid rows (latitude) */
    double cell_lon;            /* degrees per column */
    double cell_lat;            /* degrees per row */
    uint32_t *cell_start;       /* nx * ny + 1 offsets into cell_items */
    uint32_t *cell_items;       /* buurt indices, ascending per cell */
    struct pc_row *pc;          /* postcode rows, by key then from */
    size_t npc;                 /* postcode rows */
};

/* Growable arrays while parsing; indices instead of pointers because the
 * arrays move as they grow. */
struct build {
    struct area_buurt *b; /* buurten in file order, parts not yet set */
    size_t *b_part;       /* first part of each buurt */
    size_t nb;            /* buurten so far */
    size_t capb;          /* room in b and b_part */
    size_t *part_ring;    /* first ring of each part */
    size_t *part_nrings;  /* rings of each part */
    size_t nparts;        /* parts so far */
    size_t capparts;      /* room in part_ring and part_nrings */
    size_t *ring_pt;      /* first position of each ring */
    size_t *ring_n;       /* positions of each ring */
    size_t nrings;        /* rings so far */
    size_t caprings;      /* room in ring_pt and ring_n */
    struct geo_pt *pts;   /* every position */
    size_t npts;          /* positions so far */
    size_t cappts;        /* room in pts */
};

/* Context of the feature being read, for messages. */
struct fctx {
    size_t index;     /* feature index in the file */
    const char *code; /* its buurtcode once valid, else NULL */
    char *err;
    size_t errlen;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int ferr(const struct fctx *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "feature N (CODE): message"; returns RELAY_ECONFIG. */
static int ferr(const struct fctx *f, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (f->code)
        set_err(f->err, f->errlen, "feature %zu (%s): %s", f->index, f->code,
                msg);
    else
        set_err(f->err, f->errlen, "feature %zu: %s", f->index, msg);
    return RELAY_ECONFIG;
}

/* Makes room for one more element in *arr (of 'size' bytes each). */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return RELAY_OK;
    ncap = *cap ? *cap * 2 : 64;
    if (ncap > SIZE_MAX / size)
        return RELAY_ENOMEM;
    p = realloc(*arr, ncap * size);
    if (!p)
        return RELAY_ENOMEM;
    *arr = p;
    *cap = ncap;
    return RELAY_OK;
}

/* Grows two parallel size_t arrays together. */
static int grow2(size_t **a, size_t **b, size_t *cap, size_t n)
{
    size_t c = *cap;
    int rc = grow((void **)a, &c, n, sizeof(**a));

    if (rc < 0)
        return rc;
    c = *cap;
    rc = grow((void **)b, &c, n, sizeof(**b));
    if (rc < 0)
        return rc;
    *cap = c;
    return RELAY_OK;
}

static void build_free(struct build *bd)
{
    free(bd->b);
    free(bd->b_part);
    free(bd->part_ring);
    free(bd->part_nrings);
    free(bd->ring_pt);
    free(bd->ring_n);
    free(bd->pts);
}

/* ---- Feature properties ------------------------------------------------ */

/*
 * Copies property 'key' into dst (AREAS_NAME_MAX bytes). A missing or null
 * optional property gives "". Returns RELAY_OK or the ferr() code.
 */
static int get_name(const struct fctx *f, const cJSON *props, const char *key,
                    int required, char *dst)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(props, key);
    size_t len;

    if (!item || cJSON_IsNull(item)) {
        if (required)
            return ferr(f, "%s missing", key);
        dst[0] = '\0';
        return RELAY_OK;
    }
    if (!cJSON_IsString(item))
        return ferr(f, "%s must be a string", key);
    len = strlen(item->valuestring);
    if (len == 0 && required)
        return ferr(f, "%s is empty", key);
    if (len >= AREAS_NAME_MAX)
        return ferr(f, "%s is longer than %d bytes", key, AREAS_NAME_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)item->valuestring[i] < 0x20 ||
            item->valuestring[i] == 0x7f)
            return ferr(f, "%s has control characters", key);
    memcpy(dst, item->valuestring, len + 1);
    return RELAY_OK;
}

/* Copies a code property that 'valid' accepts into dst. */
static int get_code(const struct fctx *f, const cJSON *props, const char *key,
                    int (*valid)(const char *), const char *want, char *dst,
                    size_t dstlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(props, key);
    size_t len;

    if (!cJSON_IsString(item))
        return ferr(f, "%s missing", key);
    if (!valid(item->valuestring))
        return ferr(f, "%s must be %s", key, want);
    len = strlen(item->valuestring);
    if (len >= dstlen)
        return ferr(f, "%s must be %s", key, want);
    memcpy(dst, item->valuestring, len + 1);
    return RELAY_OK;
}

static int read_properties(struct fctx *f, const cJSON *feature,
                           struct area_buurt *b)
{
    const cJSON *props =
        cJSON_GetObjectItemCaseSensitive(feature, "properties");
    int rc;

    if (!cJSON_IsObject(props))
        return ferr(f, "properties missing");
    rc = get_code(f, props, "buurtcode", channel_is_buurtcode, "BU + 8 digits",
                  b->code, sizeof(b->code));
    if (rc < 0)
        return rc;
    f->code = b->code;
    rc = get_code(f, props, "wijkcode", channel_is_wijkcode, "WK + 6 digits",
                  b->wijk, sizeof(b->wijk));
    if (rc < 0)
        return rc;
    rc = get_code(f, props, "gemeentecode", channel_is_gemeentecode,
                  "GM + 4 digits", b->gemeente, sizeof(b->gemeente));
    if (rc < 0)
        return rc;
    if (memcmp(b->code + 2, b->wijk + 2, 6) != 0)
        return ferr(f, "buurtcode is not in wijk %s (want WK%.6s)", b->wijk,
                    b->code + 2);
    if (memcmp(b->wijk + 2, b->gemeente + 2, 4) != 0)
        return ferr(f, "wijk %s is not in gemeente %s (want GM%.4s)", b->wijk,
                    b->gemeente, b->wijk + 2);
    rc = get_name(f, props, "buurtnaam", 1, b->name);
    if (rc == RELAY_OK)
        rc = get_name(f, props, "wijknaam", 0, b->wijknaam);
    if (rc == RELAY_OK)
        rc = get_name(f, props, "gemeentenaam", 1, b->gemeentenaam);
    return rc;
}

/* ---- Feature geometry -------------------------------------------------- */

static int read_ring(struct build *bd, struct fctx *f, const cJSON *ring,
                     size_t r, size_t p)
{
    size_t first = bd->npts;
    int count;
    size_t i = 0;
    const cJSON *pos;
    struct geo_ring view;
    int rc;

    if (!cJSON_IsArray(ring))
        return ferr(f, "ring %zu of polygon %zu is not an array", r, p);
    count = cJSON_GetArraySize(ring);
    if (count < 4)
        return ferr(f, "ring %zu of polygon %zu has %d positions (min 4)", r, p,
                    count);
    if ((size_t)count > AREAS_POSITIONS_MAX - bd->npts)
        return ferr(f, "too many positions in the file (max %d)",
                    AREAS_POSITIONS_MAX);
    cJSON_ArrayForEach(pos, ring)
    {
        const cJSON *lon = cJSON_GetArrayItem(pos, 0);
        const cJSON *lat = cJSON_GetArrayItem(pos, 1);
        int size = cJSON_GetArraySize(pos);

        if (!cJSON_IsArray(pos) || size < 2 || size > 3 ||
            !cJSON_IsNumber(lon) || !cJSON_IsNumber(lat) ||
            (size == 3 && !cJSON_IsNumber(cJSON_GetArrayItem(pos, 2))))
            return ferr(f,
                        "position %zu of ring %zu of polygon %zu is not "
                        "[lon, lat]",
                        i, r, p);
        if (!geo_in_nl(lat->valuedouble, lon->valuedouble))
            return ferr(f,
                        "position %zu of ring %zu of polygon %zu is outside "
                        "the Netherlands (lon %g..%g, lat %g..%g; WGS84?)",
                        i, r, p, GEO_NL_LON_MIN, GEO_NL_LON_MAX, GEO_NL_LAT_MIN,
                        GEO_NL_LAT_MAX);
        rc = grow((void **)&bd->pts, &bd->cappts, bd->npts, sizeof(*bd->pts));
        if (rc < 0)
            return rc;
        bd->pts[bd->npts].lon = lon->valuedouble;
        bd->pts[bd->npts].lat = lat->valuedouble;
        bd->npts++;
        i++;
    }
    if (bd->pts[first].lon != bd->pts[bd->npts - 1].lon ||
        bd->pts[first].lat != bd->pts[bd->npts - 1].lat)
        return ferr(f, "ring %zu of polygon %zu is not closed", r, p);
    view.pts = &bd->pts[first];
    view.n = bd->npts - first;
    if (!(fabs(geo_ring_area_m2(&view)) >= AREAS_RING_AREA_MIN_M2))
        return ferr(f, "ring %zu of polygon %zu has zero area", r, p);
    rc = grow2(&bd->ring_pt, &bd->ring_n, &bd->caprings, bd->nrings);
    if (rc < 0)
        return rc;
    bd->ring_pt[bd->nrings] = first;
    bd->ring_n[bd->nrings] = view.n;
    bd->nrings++;
    return RELAY_OK;
}

static int read_polygon(struct build *bd, struct fctx *f, const cJSON *poly,
                        size_t p)
{
    size_t first = bd->nrings;
    const cJSON *ring;
    size_t r = 0;
    int rc;

    if (!cJSON_IsArray(poly))
        return ferr(f, "polygon %zu is not an array of rings", p);
    if (cJSON_GetArraySize(poly) == 0)
        return ferr(f, "polygon %zu has no rings", p);
    cJSON_ArrayForEach(ring, poly)
    {
        rc = read_ring(bd, f, ring, r++, p);
        if (rc < 0)
            return rc;
    }
    rc = grow2(&bd->part_ring, &bd->part_nrings, &bd->capparts, bd->nparts);
    if (rc < 0)
        return rc;
    bd->part_ring[bd->nparts] = first;
    bd->part_nrings[bd->nparts] = bd->nrings - first;
    bd->nparts++;
    return RELAY_OK;
}

static int read_geometry(struct build *bd, struct fctx *f, const cJSON *feature,
                         struct area_buurt *b)
{
    const cJSON *geom = cJSON_GetObjectItemCaseSensitive(feature, "geometry");
    const cJSON *type;
    const cJSON *coords;
    const cJSON *poly;
    size_t first = bd->nparts;
    size_t p = 0;
    int rc;

    if (!cJSON_IsObject(geom))
        return ferr(f, "geometry missing");
    type = cJSON_GetObjectItemCaseSensitive(geom, "type");
    coords = cJSON_GetObjectItemCaseSensitive(geom, "coordinates");
    if (!cJSON_IsString(type) ||
        (strcmp(type->valuestring, "Polygon") != 0 &&
         strcmp(type->valuestring, "MultiPolygon") != 0))
        return ferr(f, "geometry type must be Polygon or MultiPolygon");
    if (!cJSON_IsArray(coords))
        return ferr(f, "coordinates missing");
    if (strcmp(type->valuestring, "Polygon") == 0) {
        rc = read_polygon(bd, f, coords, 0);
        if (rc < 0)
            return rc;
    } else {
        if (cJSON_GetArraySize(coords) == 0)
            return ferr(f, "MultiPolygon has no polygons");
        cJSON_ArrayForEach(poly, coords)
        {
            rc = read_polygon(bd, f, poly, p++);
            if (rc < 0)
                return rc;
        }
    }
    b->nparts = bd->nparts - first;
    return RELAY_OK;
}

/* Reads one Feature (already strictly parsed) into the build. */
static int read_feature(struct build *bd, const cJSON *feature, size_t index,
                        char *err, size_t errlen)
{
    struct fctx f = {index, NULL, err, errlen};
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(feature, "type");
    struct area_buurt *b;
    int rc;

    if (!cJSON_IsObject(feature) || !cJSON_IsString(type) ||
        strcmp(type->valuestring, "Feature") != 0)
        return ferr(&f, "not a Feature");
    if (bd->nb >= AREAS_FEATURES_MAX)
        return ferr(&f, "too many features (max %d)", AREAS_FEATURES_MAX);
    if (bd->nb == bd->capb) {
        size_t ncap = bd->capb ? bd->capb * 2 : 64;
        struct area_buurt *nb = realloc(bd->b, ncap * sizeof(*nb));
        size_t *np;

        if (!nb)
            return RELAY_ENOMEM;
        bd->b = nb;
        np = realloc(bd->b_part, ncap * sizeof(*np));
        if (!np)
            return RELAY_ENOMEM;
        bd->b_part = np;
        bd->capb = ncap;
    }
    b = &bd->b[bd->nb];
    memset(b, 0, sizeof(*b));
    b->feature = index;
    rc = read_properties(&f, feature, b);
    if (rc < 0)
        return rc;
    bd->b_part[bd->nb] = bd->nparts;
    rc = read_geometry(bd, &f, feature, b);
    if (rc < 0)
        return rc;
    bd->nb++;
    return RELAY_OK;
}

/* ---- The document around the features --------------------------------- */

/* Scanner over the raw text; values are cut out and strictly parsed. */
struct scan {
    const char *start; /* of the buffer, for offsets in messages */
    const char *p;
    const char *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Past the closing quote of the string starting at p, or NULL. */
static const char *string_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/*
 * End of the JSON value starting at p, by bracket counting outside
 * strings, or NULL. Only finds the extent: json_strict_parse then judges
 * the value, so a mismatched bracket is still refused.
 */
static const char *value_end(const char *p, const char *end)
{
    size_t depth = 0;

    if (p >= end)
        return NULL;
    if (*p == '"')
        return string_end(p, end);
    if (*p != '{' && *p != '[') {
        const char *q = p;

        while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' &&
               *q != '\t' && *q != '\n' && *q != '\r')
            q++;
        return q > p ? q : NULL;
    }
    for (; p < end; p++) {
        if (*p == '"') {
            p = string_end(p, end);
            if (!p)
                return NULL;
            p--;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        }
    }
    return NULL;
}

static int bad_json(const struct scan *s, const char *why, char *err,
                    size_t errlen)
{
    if (strcmp(why, "out of memory") == 0)
        return RELAY_ENOMEM; /* json_strict's only reason that is not ours */
    set_err(err, errlen, "bad JSON at byte %zu: %s", (size_t)(s->p - s->start),
            why);
    return RELAY_ECONFIG;
}

/* The features array: each element parsed and read on its own. */
static int read_features(struct build *bd, struct scan *s, char *err,
                         size_t errlen)
{
    size_t index = 0;

    if (s->p >= s->end)
        return bad_json(s, "malformed JSON", err, errlen);
    if (*s->p != '[')
        return RELAY_EINVAL; /* caller: not an array */
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return RELAY_OK;
    }
    for (;;) {
        const char *vend = value_end(s->p, s->end);
        const char *why = "malformed JSON";
        cJSON *feature;
        int rc;

        if (!vend)
            return bad_json(s, why, err, errlen);
        feature =
            json_strict_parse(s->p, (size_t)(vend - s->p), FEATURE_DEPTH, &why);
        if (!feature) {
            if (strcmp(why, "out of memory") == 0)
                return RELAY_ENOMEM;
            set_err(err, errlen, "feature %zu: bad JSON: %s", index, why);
            return RELAY_ECONFIG;
        }
        rc = read_feature(bd, feature, index, err, errlen);
        cJSON_Delete(feature);
        if (rc < 0)
            return rc;
        index++;
        s->p = vend;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return RELAY_OK;
        }
        return bad_json(s, "malformed JSON", err, errlen);
    }
}

/*
 * The FeatureCollection object: members are cut out one by one; keys and
 * values other than "features" go through json_strict_parse whole. Keys are
 * compared after unescaping, and a repeated key is refused as
 * json_strict_parse would.
 */
static int read_document(struct build *bd, const char *buf, size_t len,
                         char *err, size_t errlen)
{
    struct scan s = {buf, buf, buf + len};
    char *keys[TOP_MEMBERS_MAX];
    size_t nkeys = 0;
    int is_collection = 0;
    int has_features = 0;
    int rc = RELAY_OK;

    if (!utf8_valid(buf, len))
        return bad_json(&s, "invalid UTF-8", err, errlen);
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return bad_json(&s, "malformed JSON", err, errlen);
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
        goto out_members;
    }
    for (;;) {
        const char *kend =
            s.p < s.end && *s.p == '"' ? string_end(s.p, s.end) : NULL;
        const char *why = "malformed JSON";
        const char *vend;
        cJSON *key;
        cJSON *value;
        size_t klen;

        if (!kend) {
            rc = bad_json(&s, why, err, errlen);
            goto out_keys;
        }
        key = json_strict_parse(s.p, (size_t)(kend - s.p), 0, &why);
        if (!key) {
            rc = bad_json(&s, why, err, errlen);
            goto out_keys;
        }
        for (size_t i = 0; i < nkeys && rc == RELAY_OK; i++)
            if (strcmp(keys[i], key->valuestring) == 0)
                rc = bad_json(&s, "duplicate key", err, errlen);
        if (rc == RELAY_OK && nkeys == TOP_MEMBERS_MAX)
            rc = bad_json(&s, "too many members", err, errlen);
        klen = strlen(key->valuestring);
        if (rc == RELAY_OK) {
            keys[nkeys] = malloc(klen + 1);
            if (!keys[nkeys])
                rc = RELAY_ENOMEM;
            else
                memcpy(keys[nkeys++], key->valuestring, klen + 1);
        }
        cJSON_Delete(key);
        if (rc < 0)
            goto out_keys;
        s.p = kend;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':') {
            rc = bad_json(&s, "malformed JSON", err, errlen);
            goto out_keys;
        }
        s.p++;
        skip_ws(&s);
        if (strcmp(keys[nkeys - 1], "features") == 0) {
            rc = read_features(bd, &s, err, errlen);
            if (rc == RELAY_EINVAL) {
                set_err(err, errlen, "features is not an array");
                rc = RELAY_ECONFIG;
            }
            if (rc < 0)
                goto out_keys;
            has_features = 1;
        } else {
            vend = value_end(s.p, s.end);
            if (!vend) {
                rc = bad_json(&s, "malformed JSON", err, errlen);
                goto out_keys;
            }
            value = json_strict_parse(s.p, (size_t)(vend - s.p), MEMBER_DEPTH,
                                      &why);
            if (!value) {
                rc = bad_json(&s, why, err, errlen);
                goto out_keys;
            }
            if (strcmp(keys[nkeys - 1], "type") == 0)
                is_collection =
                    cJSON_IsString(value) &&
                    strcmp(value->valuestring, "FeatureCollection") == 0;
            cJSON_Delete(value);
            s.p = vend;
        }
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            skip_ws(&s);
            continue;
        }
        if (s.p < s.end && *s.p == '}') {
            s.p++;
            break;
        }
        rc = bad_json(&s, "malformed JSON", err, errlen);
        goto out_keys;
    }
out_members:
    skip_ws(&s);
    if (s.p != s.end)
        rc = bad_json(&s, "trailing characters", err, errlen);
    else if (!is_collection) {
        set_err(err, errlen, "not a FeatureCollection");
        rc = RELAY_ECONFIG;
    } else if (!has_features || bd->nb == 0) {
        set_err(err, errlen, "no features");
        rc = RELAY_ECONFIG;
    }
out_keys:
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    return rc;
}

/* ---- Finishing: sort, cross-checks, interior points, grid -------------- */

static int cmp_buurt(const void *x, const void *y)
{
    const struct area_buurt *a = x;
    const struct area_buurt *b = y;
    int c = strcmp(a->code, b->code);

    if (c != 0)
        return c;
    return (a->feature > b->feature) - (a->feature < b->feature);
}

/* Duplicate codes and names that differ within one wijk or gemeente. The
 * buurten are sorted, so both groups are contiguous. */
static int cross_check(const struct areas *a, char *err, size_t errlen)
{
    size_t wijk0 = 0;
    size_t gem0 = 0;

    for (size_t i = 1; i < a->n; i++) {
        const struct area_buurt *b = &a->buurten[i];
        struct fctx f = {b->feature, b->code, err, errlen};

        if (strcmp(b->code, a->buurten[i - 1].code) == 0)
            return ferr(&f, "duplicate buurtcode (first in feature %zu)",
                        a->buurten[i - 1].feature);
        if (strcmp(b->wijk, a->buurten[wijk0].wijk) != 0)
            wijk0 = i;
        else if (strcmp(b->wijknaam, a->buurten[wijk0].wijknaam) != 0)
            return ferr(&f, "wijknaam differs from feature %zu (wijk %s)",
                        a->buurten[wijk0].feature, b->wijk);
        if (strcmp(b->gemeente, a->buurten[gem0].gemeente) != 0)
            gem0 = i;
        else if (strcmp(b->gemeentenaam, a->buurten[gem0].gemeentenaam) != 0)
            return ferr(&f,
                        "gemeentenaam differs from feature %zu "
                        "(gemeente %s)",
                        a->buurten[gem0].feature, b->gemeente);
    }
    return RELAY_OK;
}

/* Moves the build into 'a': views with real pointers, buurten sorted. */
static int assemble(struct areas *a, struct build *bd)
{
    a->pts = bd->pts;
    bd->pts = NULL;
    a->rings = calloc(bd->nrings, sizeof(*a->rings));
    a->parts = calloc(bd->nparts, sizeof(*a->parts));
    a->part_box = calloc(bd->nparts, sizeof(*a->part_box));
    if (!a->rings || !a->parts || !a->part_box)
        return RELAY_ENOMEM;
    for (size_t i = 0; i < bd->nrings; i++) {
        a->rings[i].pts = &a->pts[bd->ring_pt[i]];
        a->rings[i].n = bd->ring_n[i];
    }
    a->nparts = bd->nparts;
    for (size_t i = 0; i < bd->nparts; i++) {
        a->parts[i].rings = &a->rings[bd->part_ring[i]];
        a->parts[i].nrings = bd->part_nrings[i];
        geo_polygon_bbox(&a->parts[i], &a->part_box[i]);
    }
    for (size_t i = 0; i < bd->nb; i++) {
        struct area_buurt *b = &bd->b[i];

        b->parts = &a->parts[bd->b_part[i]];
        geo_bbox_empty(&b->bbox);
        for (size_t p = 0; p < b->nparts; p++) {
            const struct geo_bbox *pb = &a->part_box[bd->b_part[i] + p];

            geo_bbox_add(&b->bbox, pb->min_lat, pb->min_lon);
            geo_bbox_add(&b->bbox, pb->max_lat, pb->max_lon);
        }
    }
    qsort(bd->b, bd->nb, sizeof(*bd->b), cmp_buurt);
    a->buurten = bd->b;
    a->n = bd->nb;
    bd->b = NULL;
    return RELAY_OK;
}

static int interior_points(struct areas *a, char *err, size_t errlen)
{
    for (size_t i = 0; i < a->n; i++) {
        struct area_buurt *b = &a->buurten[i];
        struct fctx f = {b->feature, b->code, err, errlen};
        int rc = geo_interior_point(b->parts, b->nparts, &b->lat, &b->lon);

        if (rc == RELAY_EINVAL)
            return ferr(&f, "no interior point (degenerate geometry)");
        if (rc < 0)
            return rc;
    }
    return RELAY_OK;
}

/* Column of a longitude, clamped to the grid. */
static size_t grid_col(const struct areas *a, double lon)
{
    double c = floor((lon - a->box.min_lon) / a->cell_lon);

    if (!(c >= 0))
        return 0;
    if (c >= (double)a->nx)
        return a->nx - 1;
    return (size_t)c;
}

static size_t grid_row(const struct areas *a, double lat)
{
    double r = floor((lat - a->box.min_lat) / a->cell_lat);

    if (!(r >= 0))
        return 0;
    if (r >= (double)a->ny)
        return a->ny - 1;
    return (size_t)r;
}

/*
 * Fills the cells from the part boxes (padded by GRID_PAD so that a point
 * on an edge finds the buurt from either side of a cell border). With
 * 'items' NULL it only counts into cell_start[c + 1]. 'last' remembers the
 * buurt last added per cell, so a buurt with several parts in one cell is
 * listed once. Returns the number of entries.
 */
static size_t grid_fill(struct areas *a, uint32_t *last, uint32_t *items)
{
    size_t ncells = a->nx * a->ny;
    size_t total = 0;

    for (size_t c = 0; c < ncells; c++)
        last[c] = UINT32_MAX;
    for (size_t i = 0; i < a->n; i++) {
        const struct area_buurt *b = &a->buurten[i];
        size_t first = (size_t)(b->parts - a->parts);

        for (size_t p = 0; p < b->nparts; p++) {
            const struct geo_bbox *pb = &a->part_box[first + p];
            size_t c0 = grid_col(a, pb->min_lon - GRID_PAD);
            size_t c1 = grid_col(a, pb->max_lon + GRID_PAD);
            size_t r0 = grid_row(a, pb->min_lat - GRID_PAD);
            size_t r1 = grid_row(a, pb->max_lat + GRID_PAD);

            for (size_t r = r0; r <= r1; r++) {
                for (size_t c = c0; c <= c1; c++) {
                    size_t cell = r * a->nx + c;

                    if (last[cell] == (uint32_t)i)
                        continue;
                    last[cell] = (uint32_t)i;
                    if (items)
                        items[a->cell_start[cell]++] = (uint32_t)i;
                    else
                        a->cell_start[cell + 1]++;
                    total++;
                }
            }
        }
    }
    return total;
}

/*
 * Sizes the grid for about GRID_CELLS_PER_BUURT cells per buurt with
 * square-ish cells in metres, then shrinks it while the cell lists would
 * hold more than 64 entries per buurt on average (a file of huge
 * overlapping polygons), so memory stays bounded by the buurt count.
 */
static int grid_build(struct areas *a)
{
    double mid = (a->box.min_lat + a->box.max_lat) / 2.0;
    double w = (a->box.max_lon - a->box.min_lon) * geo_m_per_deg_lon(mid);
    double h = (a->box.max_lat - a->box.min_lat) * geo_m_per_deg_lat(mid);
    double cell =
        sqrt(fmax(w * h, 1.0) / (double)(a->n * GRID_CELLS_PER_BUURT));
    size_t limit = a->n * 64 + 65536;
    uint32_t *last = NULL;
    size_t total;

    a->nx = (size_t)fmin(fmax(ceil(w / cell), 1.0), GRID_SIDE_MAX);
    a->ny = (size_t)fmin(fmax(ceil(h / cell), 1.0), GRID_SIDE_MAX);
    for (;;) {
        size_t ncells = a->nx * a->ny;

        a->cell_lon =
            fmax((a->box.max_lon - a->box.min_lon) / (double)a->nx, 1e-9);
        a->cell_lat =
            fmax((a->box.max_lat - a->box.min_lat) / (double)a->ny, 1e-9);
        free(last);
        free(a->cell_start);
        last = malloc(ncells * sizeof(*last));
        a->cell_start = calloc(ncells + 1, sizeof(*a->cell_start));
        if (!last || !a->cell_start) {
            free(last);
            return RELAY_ENOMEM;
        }
        total = grid_fill(a, last, NULL);
        if (total <= limit || (a->nx == 1 && a->ny == 1))
            break;
        a->nx = (a->nx + 1) / 2;
        a->ny = (a->ny + 1) / 2;
    }
    a->cell_items = malloc((total ? total : 1) * sizeof(*a->cell_items));
    if (!a->cell_items) {
        free(last);
        return RELAY_ENOMEM;
    }
    /* Counts to start offsets; the fill advances each start to its end,
     * which is the next cell's start, so shift back afterwards. */
    for (size_t c = 0; c < a->nx * a->ny; c++)
        a->cell_start[c + 1] += a->cell_start[c];
    grid_fill(a, last, a->cell_items);
    for (size_t c = a->nx * a->ny; c > 0; c--)
        a->cell_start[c] = a->cell_start[c - 1];
    a->cell_start[0] = 0;
    free(last);
    return RELAY_OK;
}

static int finish(struct areas *a, struct build *bd, char *err, size_t errlen)
{
    int rc = assemble(a, bd);

    if (rc < 0)
        return rc;
    rc = cross_check(a, err, errlen);
    if (rc < 0)
        return rc;
    rc = interior_points(a, err, errlen);
    if (rc < 0)
        return rc;
    geo_bbox_empty(&a->box);
    for (size_t i = 0; i < a->n; i++) {
        geo_bbox_add(&a->box, a->buurten[i].bbox.min_lat,
                     a->buurten[i].bbox.min_lon);
        geo_bbox_add(&a->box, a->buurten[i].bbox.max_lat,
                     a->buurten[i].bbox.max_lon);
    }
    return grid_build(a);
}

int areas_parse(const char *buf, size_t len, struct areas **out, char *err,
                size_t errlen)
{
    struct build bd;
    struct areas *a;
    int rc;

    memset(&bd, 0, sizeof(bd));
    if (!buf || !out)
        return RELAY_EINVAL;
    rc = read_document(&bd, buf, len, err, errlen);
    if (rc < 0)
        goto out_build;
    a = calloc(1, sizeof(*a));
    if (!a) {
        rc = RELAY_ENOMEM;
        goto out_build;
    }
    rc = finish(a, &bd, err, errlen);
    if (rc < 0) {
        areas_destroy(a);
        goto out_build;
    }
    *out = a;
out_build:
    if (rc == RELAY_ENOMEM)
        set_err(err, errlen, "out of memory");
    build_free(&bd);
    return rc;
}

/*
 * Reads a whole regular file of at most 'max' bytes into a malloc'd
 * buffer (NUL-terminated for convenience). Messages name the path.
 */
static int slurp(const char *path, long max, char **buf, size_t *len, char *err,
                 size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *data;
    size_t got;

    if (!f) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return RELAY_EIO;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return RELAY_EIO;
    }
    if (st.st_size > max) {
        set_err(err, errlen, "%s: larger than %ld bytes", path, max);
        fclose(f);
        return RELAY_EIO;
    }
    data = malloc((size_t)st.st_size + 1);
    if (!data) {
        set_err(err, errlen, "%s: out of memory", path);
        fclose(f);
        return RELAY_ENOMEM;
    }
    got = fread(data, 1, (size_t)st.st_size, f);
    if (got != (size_t)st.st_size || ferror(f)) {
        set_err(err, errlen, "%s: read error", path);
        free(data);
        fclose(f);
        return RELAY_EIO;
    }
    fclose(f);
    data[got] = '\0';
    *buf = data;
    *len = got;
    return RELAY_OK;
}

/* Prefixes err (holding a message) with "path: ". */
static void prefix_path(const char *path, char *err, size_t errlen)
{
    char msg[AREAS_ERR_MAX];

    if (!err || errlen == 0)
        return;
    snprintf(msg, sizeof(msg), "%s", err);
    set_err(err, errlen, "%s: %s", path, msg);
}

int areas_load(const char *geojson_path, struct areas **out, char *err,
               size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = slurp(geojson_path, AREAS_FILE_MAX, &buf, &len, err, errlen);

    if (rc < 0)
        return rc;
    rc = areas_parse(buf, len, out, err, errlen);
    if (rc < 0)
        prefix_path(geojson_path, err, errlen);
    free(buf);
    return rc;
}

void areas_destroy(struct areas *a)
{
    if (!a)
        return;
    free(a->buurten);
    free(a->parts);
    free(a->part_box);
    free(a->rings);
    free(a->pts);
    free(a->cell_start);
    free(a->cell_items);
    free(a->pc);
    free(a);
}

size_t areas_count(const struct areas *a)
{
    return a ? a->n : 0;
}

const struct area_buurt *areas_at(const struct areas *a, size_t i)
{
    return a && i < a->n ? &a->buurten[i] : NULL;
}

size_t areas_postcode_rows(const struct areas *a)
{
    return a ? a->npc : 0;
}

/* Index of the first buurt whose code is >= 'prefix' (compared on the
 * prefix's length). */
static size_t lower_bound(const struct areas *a, const char *prefix,
                          size_t plen)
{
    size_t lo = 0;
    size_t hi = a->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strncmp(a->buurten[mid].code, prefix, plen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct area_buurt *areas_find(const struct areas *a,
                                    const char *buurtcode)
{
    size_t i;

    if (!a || !channel_is_buurtcode(buurtcode))
        return NULL;
    i = lower_bound(a, buurtcode, 10);
    if (i < a->n && strcmp(a->buurten[i].code, buurtcode) == 0)
        return &a->buurten[i];
    return NULL;
}

/* True when the point is in or on the buurt (part boxes first). */
static int buurt_contains(const struct areas *a, const struct area_buurt *b,
                          double lat, double lon)
{
    size_t first = (size_t)(b->parts - a->parts);

    for (size_t p = 0; p < b->nparts; p++) {
        const struct geo_bbox *pb = &a->part_box[first + p];

        if (lon < pb->min_lon - GEO_EDGE_EPS ||
            lon > pb->max_lon + GEO_EDGE_EPS ||
            lat < pb->min_lat - GEO_EDGE_EPS ||
            lat > pb->max_lat + GEO_EDGE_EPS)
            continue;
        if (geo_polygon_contains(&b->parts[p], lat, lon))
            return 1;
    }
    return 0;
}

const struct area_buurt *areas_locate(const struct areas *a, double lat,
                                      double lon)
{
    size_t cell;

    if (!a || !(lat >= a->box.min_lat - GRID_PAD) ||
        !(lat <= a->box.max_lat + GRID_PAD) ||
        !(lon >= a->box.min_lon - GRID_PAD) ||
        !(lon <= a->box.max_lon + GRID_PAD))
        return NULL;
    cell = grid_row(a, lat) * a->nx + grid_col(a, lon);
    for (uint32_t k = a->cell_start[cell]; k < a->cell_start[cell + 1]; k++) {
        const struct area_buurt *b = &a->buurten[a->cell_items[k]];

        if (buurt_contains(a, b, lat, lon))
            return b; /* cells list in code order: the lowest code */
    }
    return NULL;
}

/* ---- Circle and polygon targets ---------------------------------------- */

/*
 * Marks in a new bitmap every buurt listed in a cell under 'box'. Returns
 * NULL on out of memory; *empty when the box misses the grid entirely.
 */
static uint64_t *candidates(const struct areas *a, const struct geo_bbox *box,
                            int *empty)
{
    uint64_t *bits = calloc((a->n + 63) / 64, sizeof(*bits));
    size_t c0;
    size_t c1;
    size_t r0;
    size_t r1;

    *empty = 0;
    if (!bits)
        return NULL;
    if (box->max_lon < a->box.min_lon - GRID_PAD ||
        box->min_lon > a->box.max_lon + GRID_PAD ||
        box->max_lat < a->box.min_lat - GRID_PAD ||
        box->min_lat > a->box.max_lat + GRID_PAD) {
        *empty = 1;
        return bits;
    }
    c0 = grid_col(a, box->min_lon);
    c1 = grid_col(a, box->max_lon);
    r0 = grid_row(a, box->min_lat);
    r1 = grid_row(a, box->max_lat);
    for (size_t r = r0; r <= r1; r++) {
        for (size_t c = c0; c <= c1; c++) {
            size_t cell = r * a->nx + c;

            for (uint32_t k = a->cell_start[cell]; k < a->cell_start[cell + 1];
                 k++)
                bits[a->cell_items[k] / 64] |= UINT64_C(1)
                                               << (a->cell_items[k] % 64);
        }
    }
    return bits;
}

/* Writes the marked buurten to out in code order, if they fit. */
static int emit(const struct areas *a, const uint64_t *bits, size_t count,
                const struct area_buurt **out, size_t max, size_t *n)
{
    size_t k = 0;

    if (count > max)
        return RELAY_ETOOBIG;
    for (size_t w = 0; w < (a->n + 63) / 64; w++) {
        uint64_t word = bits[w];

        while (word) {
            int bit = __builtin_ctzll(word);

            out[k++] = &a->buurten[w * 64 + (size_t)bit];
            word &= word - 1;
        }
    }
    *n = k;
    return RELAY_OK;
}

/* True when the whole box lies in the circle, with a margin for the
 * slight curvature of the circle's plane. */
static int box_in_circle(const struct geo_circle *c, const struct geo_bbox *b)
{
    double lim = c->radius_m - INSIDE_MARGIN_M;

    return lim > 0 && geo_circle_distance_m(c, b->min_lat, b->min_lon) <= lim &&
           geo_circle_distance_m(c, b->min_lat, b->max_lon) <= lim &&
           geo_circle_distance_m(c, b->max_lat, b->min_lon) <= lim &&
           geo_circle_distance_m(c, b->max_lat, b->max_lon) <= lim;
}

static int buurt_meets_circle(const struct areas *a, const struct area_buurt *b,
                              const struct geo_circle *c)
{
    size_t first = (size_t)(b->parts - a->parts);

    if (!geo_bbox_overlaps(&b->bbox, &c->bbox))
        return 0;
    if (box_in_circle(c, &b->bbox))
        return 1;
    for (size_t p = 0; p < b->nparts; p++)
        if (geo_bbox_overlaps(&a->part_box[first + p], &c->bbox) &&
            geo_circle_intersects(c, &b->parts[p]))
            return 1;
    return 0;
}

int areas_resolve_circle(const struct areas *a, double lat, double lon,
                         double radius_m, const struct area_buurt **out,
                         size_t max, size_t *n)
{
    struct geo_circle c;
    uint64_t *bits;
    size_t count = 0;
    int empty;
    int rc;

    if (!a || !n || (!out && max > 0))
        return RELAY_EINVAL;
    rc = geo_circle_init(&c, lat, lon, radius_m);
    if (rc < 0)
        return rc;
    bits = candidates(a, &c.bbox, &empty);
    if (!bits)
        return RELAY_ENOMEM;
    for (size_t w = 0; w < (a->n + 63) / 64 && !empty; w++) {
        uint64_t word = bits[w];

        while (word) {
            int bit = __builtin_ctzll(word);
            size_t i = w * 64 + (size_t)bit;

            word &= word - 1;
            if (buurt_meets_circle(a, &a->buurten[i], &c))
                count++;
            else
                bits[w] &= ~(UINT64_C(1) << bit);
        }
    }
    rc = emit(a, bits, count, out, max, n);
    free(bits);
    return rc;
}

/* Validates a [lat, lon] target and builds a closed ring from it. */
static int target_ring(const double (*pts)[2], int npts, struct geo_pt **ring,
                       size_t *n)
{
    struct geo_pt *r;
    size_t m;
    size_t distinct = 0;

    if (!pts || npts < 3 || npts > AREAS_POLYGON_MAX)
        return RELAY_EINVAL;
    for (int i = 0; i < npts; i++)
        if (!(pts[i][0] >= -90.0 && pts[i][0] <= 90.0) ||
            !(pts[i][1] >= -180.0 && pts[i][1] <= 180.0))
            return RELAY_EINVAL;
    m = (size_t)npts;
    if (pts[0][0] == pts[m - 1][0] && pts[0][1] == pts[m - 1][1])
        m--; /* closed on input: drop the repeat, closed again below */
    /* At least three distinct points: compare each with the (at most two)
     * distinct ones found so far. */
    for (size_t i = 0; i < m && distinct < 3; i++) {
        size_t seen = 0;

        for (size_t j = 0; j < i && !seen; j++)
            seen = pts[i][0] == pts[j][0] && pts[i][1] == pts[j][1];
        if (!seen)
            distinct++;
    }
    if (distinct < 3)
        return RELAY_EINVAL;
    r = malloc((m + 1) * sizeof(*r));
    if (!r)
        return RELAY_ENOMEM;
    for (size_t i = 0; i < m; i++) {
        r[i].lat = pts[i][0];
        r[i].lon = pts[i][1];
    }
    r[m] = r[0];
    *ring = r;
    *n = m + 1;
    return RELAY_OK;
}

static int buurt_meets_polygon(const struct areas *a,
                               const struct area_buurt *b,
                               const struct geo_polygon *t,
                               const struct geo_bbox *tbox)
{
    size_t first = (size_t)(b->parts - a->parts);

    if (!geo_bbox_overlaps(&b->bbox, tbox))
        return 0;
    for (size_t p = 0; p < b->nparts; p++)
        if (geo_bbox_overlaps(&a->part_box[first + p], tbox) &&
            geo_polygons_intersect(&b->parts[p], t))
            return 1;
    return 0;
}

int areas_resolve_polygon(const struct areas *a, const double (*pts)[2],
                          int npts, const struct area_buurt **out, size_t max,
                          size_t *n)
{
    struct geo_pt *ring_pts = NULL;
    struct geo_ring ring;
    struct geo_polygon target = {&ring, 1};
    struct geo_bbox tbox;
    uint64_t *bits;
    size_t count = 0;
    int empty;
    int rc;

    if (!a || !n || (!out && max > 0))
        return RELAY_EINVAL;
    rc = target_ring(pts, npts, &ring_pts, &ring.n);
    if (rc < 0)
        return rc;
    ring.pts = ring_pts;
    geo_polygon_bbox(&target, &tbox);
    /* Padded so that targets touching a buurt's box still see it. */
    tbox.min_lon -= GEO_EDGE_EPS;
    tbox.min_lat -= GEO_EDGE_EPS;
    tbox.max_lon += GEO_EDGE_EPS;
    tbox.max_lat += GEO_EDGE_EPS;
    bits = candidates(a, &tbox, &empty);
    if (!bits) {
        free(ring_pts);
        return RELAY_ENOMEM;
    }
    for (size_t w = 0; w < (a->n + 63) / 64 && !empty; w++) {
        uint64_t word = bits[w];

        while (word) {
            int bit = __builtin_ctzll(word);
            size_t i = w * 64 + (size_t)bit;

            word &= word - 1;
            if (buurt_meets_polygon(a, &a->buurten[i], &target, &tbox))
                count++;
            else
                bits[w] &= ~(UINT64_C(1) << bit);
        }
    }
    rc = emit(a, bits, count, out, max, n);
    free(bits);
    free(ring_pts);
    return rc;
}

/* The range [*first, *last) of buurten under a BU, WK or GM code. */
static int code_range(const struct areas *a, const char *code, size_t *first,
                      size_t *last)
{
    char prefix[11];
    size_t plen;
    size_t i;

    if (channel_is_buurtcode(code))
        plen = 10;
    else if (channel_is_wijkcode(code))
        plen = 8;
    else if (channel_is_gemeentecode(code))
        plen = 6;
    else
        return RELAY_EINVAL;
    prefix[0] = 'B';
    prefix[1] = 'U';
    memcpy(prefix + 2, code + 2, plen - 2);
    prefix[plen] = '\0';
    i = lower_bound(a, prefix, plen);
    *first = i;
    while (i < a->n && strncmp(a->buurten[i].code, prefix, plen) == 0)
        i++;
    *last = i;
    return i > *first ? RELAY_OK : RELAY_ENOTFOUND;
}

int areas_resolve_code(const struct areas *a, const char *code,
                       const struct area_buurt **out, size_t max, size_t *n)
{
    size_t first;
    size_t last;
    int rc;

    if (!a || !n || (!out && max > 0))
        return RELAY_EINVAL;
    rc = code_range(a, code, &first, &last);
    if (rc < 0)
        return rc;
    if (last - first > max)
        return RELAY_ETOOBIG;
    for (size_t i = first; i < last; i++)
        out[i - first] = &a->buurten[i];
    *n = last - first;
    return RELAY_OK;
}

/* ---- Postcodes --------------------------------------------------------- */

/* 9401AB -> a number; RELAY_EINVAL unless 4 digits (first not 0) and 2
 * capitals. */
static int pc_key(const char *s, size_t len, uint32_t *key)
{
    uint32_t d = 0;

    if (len != 6 || s[0] < '1' || s[0] > '9')
        return RELAY_EINVAL;
    for (size_t i = 0; i < 4; i++) {
        if (s[i] < '0' || s[i] > '9')
            return RELAY_EINVAL;
        d = d * 10 + (uint32_t)(s[i] - '0');
    }
    for (size_t i = 4; i < 6; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return RELAY_EINVAL;
    *key = d * 676 + (uint32_t)(s[4] - 'A') * 26 + (uint32_t)(s[5] - 'A');
    return RELAY_OK;
}

/* A house number: 1..5 digits, 1..AREAS_HOUSE_NUMBER_MAX. */
static int house_number(const char *s, size_t len, uint32_t *out)
{
    uint32_t v = 0;

    if (len == 0 || len > 5)
        return RELAY_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return RELAY_EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v < 1 || v > AREAS_HOUSE_NUMBER_MAX)
        return RELAY_EINVAL;
    *out = v;
    return RELAY_OK;
}

static int field_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* First and last number of the given parity (1 odd, 0 even) in from..to;
 * first > last when there is none. */
static void parity_span(uint32_t from, uint32_t to, uint32_t odd,
                        uint32_t *first, uint32_t *last)
{
    *first = (from % 2 == odd) ? from : from + 1;
    *last = (to % 2 == odd) ? to : to - 1;
}

/* Reads one data line into 'row'; messages name the line. */
static int read_pc_line(const struct areas *a, const char *s, size_t len,
                        size_t line, struct pc_row *row, char *err,
                        size_t errlen)
{
    const char *f[5];
    size_t flen[5];
    size_t nf = 0;
    size_t start = 0;
    char code[11];
    const struct area_buurt *b;
    uint32_t first;
    uint32_t last;

    if (len > CSV_LINE_MAX) {
        set_err(err, errlen, "line %zu: longer than %d bytes", line,
                CSV_LINE_MAX);
        return RELAY_ECONFIG;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ',') {
            if (nf == 5) {
                nf++;
                break;
            }
            f[nf] = s + start;
            flen[nf++] = i - start;
            start = i + 1;
        }
    }
    if (nf != 5) {
        set_err(err, errlen, "line %zu: want 5 fields (%s)", line, CSV_HEADER);
        return RELAY_ECONFIG;
    }
    if (pc_key(f[0], flen[0], &row->key) < 0) {
        set_err(err, errlen,
                "line %zu: postcode must be 4 digits (not starting with 0) "
                "and 2 capitals, e.g. 9401AB",
                line);
        return RELAY_ECONFIG;
    }
    if (house_number(f[1], flen[1], &row->from) < 0 ||
        house_number(f[2], flen[2], &row->to) < 0 || row->from > row->to) {
        set_err(err, errlen,
                "line %zu: house numbers must be 1..%d with from <= to", line,
                AREAS_HOUSE_NUMBER_MAX);
        return RELAY_ECONFIG;
    }
    if (field_is(f[3], flen[3], "all"))
        row->parity = PC_ALL;
    else if (field_is(f[3], flen[3], "odd"))
        row->parity = PC_ODD;
    else if (field_is(f[3], flen[3], "even"))
        row->parity = PC_EVEN;
    else {
        set_err(err, errlen, "line %zu: parity must be all, odd or even", line);
        return RELAY_ECONFIG;
    }
    if (row->parity != PC_ALL) {
        parity_span(row->from, row->to, row->parity == PC_ODD, &first, &last);
        if (first > last) {
            set_err(err, errlen, "line %zu: no %s numbers in %u..%u", line,
                    row->parity == PC_ODD ? "odd" : "even", row->from, row->to);
            return RELAY_ECONFIG;
        }
    }
    if (flen[4] != 10) {
        set_err(err, errlen, "line %zu: buurtcode must be BU + 8 digits", line);
        return RELAY_ECONFIG;
    }
    memcpy(code, f[4], 10);
    code[10] = '\0';
    if (!channel_is_buurtcode(code)) {
        set_err(err, errlen, "line %zu: buurtcode must be BU + 8 digits", line);
        return RELAY_ECONFIG;
    }
    b = areas_find(a, code);
    if (!b) {
        set_err(err, errlen, "line %zu: unknown buurtcode %s", line, code);
        return RELAY_ECONFIG;
    }
    row->buurt = (uint32_t)(b - a->buurten);
    row->line = line;
    return RELAY_OK;
}

static int cmp_pc(const void *x, const void *y)
{
    const struct pc_row *a = x;
    const struct pc_row *b = y;

    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->from != b->from)
        return a->from < b->from ? -1 : 1;
    return (a->line > b->line) - (a->line < b->line);
}

/*
 * Rows of one postcode must not share a number. Sorted by 'from', the
 * first odd (even) number a row covers never decreases, so a row overlaps
 * an earlier one exactly when its first odd (even) number is at most the
 * highest odd (even) number covered so far.
 */
static int check_overlaps(const struct pc_row *rows, size_t n, char *err,
                          size_t errlen)
{
    for (size_t i = 0; i < n;) {
        uint32_t hi[2] = {0, 0}; /* highest even [0] / odd [1] covered */
        size_t who[2] = {0, 0};  /* the row covering it */
        size_t j;

        for (j = i; j < n && rows[j].key == rows[i].key; j++) {
            for (uint32_t odd = 0; odd < 2; odd++) {
                uint32_t first;
                uint32_t last;

                if (rows[j].parity == (odd ? PC_EVEN : PC_ODD))
                    continue;
                parity_span(rows[j].from, rows[j].to, odd, &first, &last);
                if (first > last)
                    continue;
                if (first <= hi[odd]) {
                    size_t l1 = rows[j].line;
                    size_t l2 = rows[who[odd]].line;

                    set_err(err, errlen,
                            "line %zu: house numbers overlap line %zu",
                            l1 > l2 ? l1 : l2, l1 > l2 ? l2 : l1);
                    return RELAY_ECONFIG;
                }
                if (last > hi[odd]) {
                    hi[odd] = last;
                    who[odd] = j;
                }
            }
        }
        i = j;
    }
    return RELAY_OK;
}

int areas_parse_postcodes(struct areas *a, const char *buf, size_t len,
                          char *err, size_t errlen)
{
    struct pc_row *rows = NULL;
    size_t n = 0;
    size_t cap = 0;
    size_t line = 0;
    size_t pos = 0;
    int rc = RELAY_OK;

    if (!a || (!buf && len > 0))
        return RELAY_EINVAL;
    while (pos < len || line == 0) {
        const char *s = buf ? buf + pos : "";
        const char *nl = buf ? memchr(s, '\n', len - pos) : NULL;
        size_t l = nl ? (size_t)(nl - s) : len - pos;

        line++;
        pos += nl ? l + 1 : l;
        if (l > 0 && s[l - 1] == '\r')
            l--;
        if (line == 1) {
            if (!field_is(s, l, CSV_HEADER)) {
                set_err(err, errlen, "line 1: header must be %s", CSV_HEADER);
                rc = RELAY_ECONFIG;
                break;
            }
            continue;
        }
        if (l == 0)
            continue;
        if (n == CSV_ROWS_MAX) {
            set_err(err, errlen, "line %zu: more than %d rows", line,
                    CSV_ROWS_MAX);
            rc = RELAY_ECONFIG;
            break;
        }
        rc = grow((void **)&rows, &cap, n, sizeof(*rows));
        if (rc < 0)
            break;
        rc = read_pc_line(a, s, l, line, &rows[n], err, errlen);
        if (rc < 0)
            break;
        n++;
    }
    if (rc == RELAY_OK && n == 0) {
        set_err(err, errlen, "no rows");
        rc = RELAY_ECONFIG;
    }
    if (rc == RELAY_OK) {
        qsort(rows, n, sizeof(*rows), cmp_pc);
        rc = check_overlaps(rows, n, err, errlen);
    }
    if (rc < 0) {
        if (rc == RELAY_ENOMEM)
            set_err(err, errlen, "out of memory");
        free(rows);
        return rc;
    }
    free(a->pc);
    a->pc = rows;
    a->npc = n;
    return RELAY_OK;
}

int areas_load_postcodes(struct areas *a, const char *csv_path, char *err,
                         size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if (!a)
        return RELAY_EINVAL;
    rc = slurp(csv_path, AREAS_POSTCODE_FILE_MAX, &buf, &len, err, errlen);
    if (rc < 0)
        return rc;
    rc = areas_parse_postcodes(a, buf, len, err, errlen);
    if (rc < 0)
        prefix_path(csv_path, err, errlen);
    free(buf);
    return rc;
}

int areas_postcode(const struct areas *a, const char *pc6, int number,
                   const struct area_buurt **out)
{
    char norm[6];
    size_t k = 0;
    uint32_t key;
    size_t lo = 0;
    size_t hi;

    if (!a || !pc6 || !out || number < 1 || number > AREAS_HOUSE_NUMBER_MAX)
        return RELAY_EINVAL;
    /* "9401AB", "9401ab" or "9401 AB": one space only, between the parts */
    for (size_t i = 0; pc6[i]; i++) {
        char c = pc6[i];

        if (c == ' ' && k == 4 && pc6[i - 1] != ' ')
            continue;
        if (k == 6)
            return RELAY_EINVAL;
        if (k >= 4 && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        norm[k++] = c;
    }
    if (pc_key(norm, k, &key) < 0)
        return RELAY_EINVAL;
    hi = a->npc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (a->pc[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < a->npc && a->pc[i].key == key; i++) {
        const struct pc_row *r = &a->pc[i];
        uint32_t num = (uint32_t)number;

        if (num < r->from || num > r->to)
            continue;
        if ((r->parity == PC_ODD && num % 2 == 0) ||
            (r->parity == PC_EVEN && num % 2 == 1))
            continue;
        *out = &a->buurten[r->buurt];
        return RELAY_OK;
    }
    return RELAY_ENOTFOUND;
}

/* ---- GeoJSON for the map ----------------------------------------------- */

/* A growing string; 'oom' sticks once memory ran out. */
struct sbuf {
    char *p;
    size_t len;
    size_t cap;
    int oom;
};

static void sb_add(struct sbuf *s, const char *data, size_t n)
{
    if (s->oom)
        return;
    if (s->len + n + 1 > s->cap) {
        size_t ncap = s->cap ? s->cap : 4096;
        char *p;

        while (ncap < s->len + n + 1)
            ncap *= 2;
        p = realloc(s->p, ncap);
        if (!p) {
            s->oom = 1;
            return;
        }
        s->p = p;
        s->cap = ncap;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sb_str(struct sbuf *s, const char *str)
{
    sb_add(s, str, strlen(str));
}

static void sb_printf(struct sbuf *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        s->oom = 1;
        return;
    }
    sb_add(s, tmp, (size_t)n);
}

/* "key":"value" with JSON escaping (names hold no control characters,
 * so only quote and backslash need it). */
static void sb_prop(struct sbuf *s, const char *key, const char *value)
{
    sb_printf(s, "\"%s\":\"", key);
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_add(s, "\\", 1);
        sb_add(s, p, 1);
    }
    sb_add(s, "\"", 1);
}

/* One ring rounded to 1e-6 degrees with repeats dropped; at full
 * precision when rounding would leave fewer than 4 positions. */
static void sb_ring(struct sbuf *s, const struct geo_ring *r)
{
    long long plon = 0;
    long long plat = 0;
    size_t kept = 0;

    for (int pass = 0; pass < 2; pass++) {
        int out = 0;

        for (size_t i = 0; i < r->n; i++) {
            long long lon = llround(r->pts[i].lon * 1e6);
            long long lat = llround(r->pts[i].lat * 1e6);

            if (i > 0 && lon == plon && lat == plat)
                continue;
            plon = lon;
            plat = lat;
            if (pass == 0) {
                kept++;
                continue;
            }
            sb_printf(s, "%s[%.6f,%.6f]", out++ ? "," : "", (double)lon / 1e6,
                      (double)lat / 1e6);
        }
        if (pass == 0 && kept < 4) {
            for (size_t i = 0; i < r->n; i++)
                sb_printf(s, "%s[%.9f,%.9f]", i ? "," : "", r->pts[i].lon,
                          r->pts[i].lat);
            return;
        }
    }
}

static void sb_polygon(struct sbuf *s, const struct geo_polygon *p)
{
    sb_add(s, "[", 1);
    for (size_t r = 0; r < p->nrings; r++) {
        sb_str(s, r ? ",[" : "[");
        sb_ring(s, &p->rings[r]);
        sb_add(s, "]", 1);
    }
    sb_add(s, "]", 1);
}

static void sb_feature(struct sbuf *s, const struct area_buurt *b)
{
    sb_str(s, "{\"type\":\"Feature\",\"properties\":{");
    sb_prop(s, "buurtcode", b->code);
    sb_add(s, ",", 1);
    sb_prop(s, "buurtnaam", b->name);
    sb_add(s, ",", 1);
    sb_prop(s, "wijkcode", b->wijk);
    sb_add(s, ",", 1);
    sb_prop(s, "wijknaam", b->wijknaam);
    sb_add(s, ",", 1);
    sb_prop(s, "gemeentecode", b->gemeente);
    sb_add(s, ",", 1);
    sb_prop(s, "gemeentenaam", b->gemeentenaam);
    sb_printf(s, ",\"lat\":%.6f,\"lon\":%.6f},\"geometry\":{\"type\":", b->lat,
              b->lon);
    if (b->nparts == 1) {
        sb_str(s, "\"Polygon\",\"coordinates\":");
        sb_polygon(s, &b->parts[0]);
    } else {
        sb_str(s, "\"MultiPolygon\",\"coordinates\":[");
        for (size_t p = 0; p < b->nparts; p++) {
            if (p)
                sb_add(s, ",", 1);
            sb_polygon(s, &b->parts[p]);
        }
        sb_add(s, "]", 1);
    }
    sb_str(s, "}}");
}

char *areas_geojson(const struct areas *a, const char *code)
{
    struct sbuf s = {NULL, 0, 0, 0};
    size_t first = 0;
    size_t last;

    if (!a)
        return NULL;
    last = a->n;
    if (code && code_range(a, code, &first, &last) < 0)
        return NULL;
    sb_str(&s, "{\"type\":\"FeatureCollection\",\"features\":[");
    for (size_t i = first; i < last; i++) {
        if (i > first)
            sb_add(&s, ",", 1);
        sb_feature(&s, &a->buurten[i]);
    }
    sb_str(&s, "]}");
    if (s.oom) {
        free(s.p);
        return NULL;
    }
    return s.p;
}
