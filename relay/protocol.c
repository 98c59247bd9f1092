/*
 * protocol.c - wire contract v1: client frames in, server frames out.
 *
 * Error messages are built from our own ASCII text only and never quote
 * what the client sent: a quoted fragment cut at the message size could
 * end mid UTF-8 sequence, and an invalid text frame closes the socket.
 */
#include "protocol.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "json_strict.h"

#define INT_MAX_EXACT 9007199254740992.0 /* 2^53 */
#define TITLE_MAX 200
#define TEXT_MAX 4000 /* body, note, instruction */
#define EVENT_MAX 200 /* CAP event name */
#define RADIUS_MAX 100000.0

static const char *const urgency_values[] = {
    "Immediate", "Expected", "Future", "Past", "Unknown", NULL,
};
static const char *const severity_values[] = {
    "Extreme", "Severe", "Moderate", "Minor", "Unknown", NULL,
};
static const char *const certainty_values[] = {
    "Observed", "Likely", "Possible", "Unlikely", "Unknown", NULL,
};
static const char *const category_values[] = {
    "verdachte_situatie",
    "inbraak",
    "diefstal",
    "vandalisme",
    "overlast",
    "jeugdoverlast",
    "drugs",
    "verward_gedrag",
    "verkeer",
    "anders",
    NULL,
};
static const char *const outcome_values[] = {
    "found", "not_found", "resolved", "cancelled", "other", NULL,
};
static const char *const state_values[] = {
    "acknowledged", "in_progress", "resolved", "referred",
    "no_action",    "duplicate",   NULL,
};

static const struct {
    const char *name;
    enum proto_type type;
} frame_types[] = {
    {"auth", PROTO_T_AUTH},
    {"subscribe", PROTO_T_SUBSCRIBE},
    {"unsubscribe", PROTO_T_UNSUBSCRIBE},
    {"post", PROTO_T_POST},
    {"read", PROTO_T_READ},
    {"ping", PROTO_T_PING},
};

/* Indexed by enum proto_post_kind. */
static const char *const post_kind_names[] = {
    NULL,  "alert",  "update",  "close",    "report",
    "tip", "status", "approve", "feedback",
};

static int fail(struct proto_error *err, const char *code, int rc,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Fills 'err' and returns 'rc', so a check can end in one statement. */
static int fail(struct proto_error *err, const char *code, int rc,
                const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return rc;
    err->code = code;
    va_start(ap, fmt);
    if (vsnprintf(err->message, sizeof(err->message), fmt, ap) < 0)
        err->message[0] = '\0';
    va_end(ap);
    return rc;
}

static int bad(struct proto_error *err, const char *field, const char *what)
{
    return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL, "%s: %s", field, what);
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/*
 * An integer in 0..2^53, the range a JSON number holds exactly (and what a
 * JavaScript client can send without loss). Returns RELAY_OK or
 * RELAY_EINVAL.
 */
static int read_uint53(const cJSON *item, uint64_t *out)
{
    double v;

    if (!cJSON_IsNumber(item))
        return RELAY_EINVAL;
    v = item->valuedouble;
    if (!isfinite(v) || v < 0 || v > INT_MAX_EXACT || floor(v) != v)
        return RELAY_EINVAL;
    *out = (uint64_t)v;
    return RELAY_OK;
}

/* Copies a string of at most 'max' bytes into out[max + 1]. */
static void copy_bounded(char *out, const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n > max)
        n = max;
    memcpy(out, s, n);
    out[n] = '\0';
}

/*
 * A frame-level string field: must be a string of 1..max bytes ('empty_ok'
 * allows 0). Too long is too_large (the header's contract), anything else
 * bad_request. *out is set only on success.
 */
static int frame_string(const cJSON *root, const char *key, size_t max,
                        int empty_ok, const char **out, struct proto_error *err)
{
    const cJSON *item = member(root, key);
    size_t n;

    if (!item)
        return bad(err, key, "required");
    if (!cJSON_IsString(item))
        return bad(err, key, "must be a string");
    n = strlen(item->valuestring);
    if (n == 0 && !empty_ok)
        return bad(err, key, "must not be empty");
    if (n > max)
        return fail(err, PROTO_E_TOO_LARGE, RELAY_ETOOBIG,
                    "%s: longer than %zu bytes", key, max);
    *out = item->valuestring;
    return RELAY_OK;
}

static int frame_channel(const cJSON *root, struct proto_request *req,
                         struct proto_error *err)
{
    const cJSON *item = member(root, "channel");

    if (!item)
        return bad(err, "channel", "required");
    if (!cJSON_IsString(item))
        return bad(err, "channel", "must be a string");
    if (channel_parse(item->valuestring, NULL, NULL) < 0)
        return bad(err, "channel", "not a valid channel name");
    copy_bounded(req->channel, item->valuestring, CHANNEL_NAME_MAX);
    return RELAY_OK;
}

static int frame_since(const cJSON *root, struct proto_request *req,
                       struct proto_error *err)
{
    const cJSON *since = member(root, "since");
    const cJSON *epoch;
    const cJSON *seq;

    if (!since)
        return RELAY_OK;
    if (!cJSON_IsObject(since))
        return bad(err, "since", "must be an object {epoch, seq}");
    epoch = member(since, "epoch");
    seq = member(since, "seq");
    if (!epoch)
        return bad(err, "since.epoch", "required");
    if (!cJSON_IsString(epoch) || epoch->valuestring[0] == '\0')
        return bad(err, "since.epoch", "must be a non-empty string");
    if (strlen(epoch->valuestring) > PROTO_EPOCH_MAX)
        return fail(err, PROTO_E_TOO_LARGE, RELAY_ETOOBIG,
                    "since.epoch: longer than %d bytes", PROTO_EPOCH_MAX);
    if (!seq)
        return bad(err, "since.seq", "required");
    if (read_uint53(seq, &req->since_seq) < 0)
        return bad(err, "since.seq", "must be an integer from 0 to 2^53");
    copy_bounded(req->since_epoch, epoch->valuestring, PROTO_EPOCH_MAX);
    req->has_since = 1;
    return RELAY_OK;
}

/* The type-specific members of a frame whose "type" is known. */
static int frame_fields(const cJSON *root, struct proto_request *req,
                        struct proto_error *err)
{
    const cJSON *item;
    int rc;

    switch (req->type) {
    case PROTO_T_AUTH:
        return frame_string(root, "token", PROTO_TOKEN_MAX, 0, &req->token,
                            err);
    case PROTO_T_SUBSCRIBE:
        rc = frame_channel(root, req, err);
        if (rc < 0)
            return rc;
        return frame_since(root, req, err);
    case PROTO_T_UNSUBSCRIBE:
        return frame_channel(root, req, err);
    case PROTO_T_READ:
        rc = frame_channel(root, req, err);
        if (rc < 0)
            return rc;
        item = member(root, "seq");
        if (!item)
            return bad(err, "seq", "required");
        if (read_uint53(item, &req->seq) < 0)
            return bad(err, "seq", "must be an integer from 0 to 2^53");
        return RELAY_OK;
    case PROTO_T_POST:
        item = member(root, "post");
        if (!item)
            return bad(err, "post", "required");
        if (!cJSON_IsObject(item))
            return bad(err, "post", "must be an object");
        req->post = item;
        return RELAY_OK;
    case PROTO_T_PING:
        return RELAY_OK;
    }
    return bad(err, "type", "unknown frame type");
}

/*
 * "ref" (and a post's "id") are read before anything that can fail later,
 * so that the error reply can echo them; they are the only parts of the
 * request left in 'out' on failure.
 */
int proto_parse_request(const char *buf, size_t len, struct proto_request *out,
                        struct proto_error *err)
{
    struct proto_request req;
    const char *why = NULL;
    const char *s = NULL;
    const cJSON *item;
    int rc;

    memset(&req, 0, sizeof(req));
    req.root = json_strict_parse(buf, len, PROTO_MAX_DEPTH, &why);
    if (!req.root) {
        if (why && strcmp(why, "out of memory") == 0)
            rc = fail(err, PROTO_E_INTERNAL, RELAY_ENOMEM, "out of memory");
        else
            rc = fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                      "invalid JSON: %s", why ? why : "malformed JSON");
        goto out_delete_root;
    }
    if (!cJSON_IsObject(req.root)) {
        rc = bad(err, "frame", "must be a JSON object");
        goto out_delete_root;
    }
    if (member(req.root, "ref")) {
        rc = frame_string(req.root, "ref", PROTO_REF_MAX, 1, &s, err);
        if (rc < 0)
            goto out_delete_root;
        copy_bounded(req.ref, s, PROTO_REF_MAX);
        req.has_ref = 1;
    }
    item = member(req.root, "type");
    if (!item) {
        rc = bad(err, "type", "required");
        goto out_delete_root;
    }
    if (!cJSON_IsString(item)) {
        rc = bad(err, "type", "must be a string");
        goto out_delete_root;
    }
    for (size_t i = 0; i < sizeof(frame_types) / sizeof(frame_types[0]); i++) {
        if (strcmp(item->valuestring, frame_types[i].name) == 0)
            req.type = frame_types[i].type;
    }
    if (req.type == 0) {
        rc = bad(err, "type", "unknown frame type");
        goto out_delete_root;
    }
    if (req.type == PROTO_T_POST) {
        rc = frame_string(req.root, "id", PROTO_REF_MAX, 0, &s, err);
        if (rc < 0)
            goto out_delete_root;
        copy_bounded(req.id, s, PROTO_REF_MAX);
    }
    rc = frame_fields(req.root, &req, err);
    if (rc < 0)
        goto out_delete_root;
    *out = req;
    return RELAY_OK;

out_delete_root:
    cJSON_Delete(req.root);
    memset(out, 0, sizeof(*out));
    out->has_ref = req.has_ref;
    memcpy(out->ref, req.ref, sizeof(out->ref));
    memcpy(out->id, req.id, sizeof(out->id));
    return rc;
}

void proto_request_cleanup(struct proto_request *req)
{
    if (!req)
        return;
    cJSON_Delete(req->root);
    memset(req, 0, sizeof(*req));
}

/* --- posts ---------------------------------------------------------------
 * Every helper below names the field as "post.<key>" in its message and
 * sets its output only on success.
 */

static int post_bad(struct proto_error *err, const char *key, const char *what)
{
    return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL, "post.%s: %s", key,
                what);
}

/* A text field: a non-empty string of at most 'max' bytes, or absent
 * (*out untouched, RELAY_OK) when not 'required'. */
static int post_text(const cJSON *post, const char *key, size_t max,
                     int required, const char **out, struct proto_error *err)
{
    const cJSON *item = member(post, key);

    if (!item)
        return required ? post_bad(err, key, "required") : RELAY_OK;
    if (!cJSON_IsString(item) || item->valuestring[0] == '\0')
        return post_bad(err, key, "must be a non-empty string");
    if (strlen(item->valuestring) > max)
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                    "post.%s: longer than %zu bytes", key, max);
    *out = item->valuestring;
    return RELAY_OK;
}

/* A field whose value must be one of 'values' (NULL-terminated). */
static int post_enum(const cJSON *post, const char *key,
                     const char *const *values, int required, const char **out,
                     struct proto_error *err)
{
    const cJSON *item = member(post, key);
    char list[160];
    size_t used = 0;

    if (!item)
        return required ? post_bad(err, key, "required") : RELAY_OK;
    if (cJSON_IsString(item)) {
        for (size_t i = 0; values[i]; i++) {
            if (strcmp(item->valuestring, values[i]) == 0) {
                *out = values[i];
                return RELAY_OK;
            }
        }
    }
    list[0] = '\0';
    for (size_t i = 0; values[i] && used < sizeof(list); i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s",
                         i ? ", " : "", values[i]);

        if (n < 0)
            break;
        used += (size_t)n;
    }
    return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                "post.%s: must be one of %s", key, list);
}

/* An optional boolean: *out = 1/0 when present, untouched when absent. */
static int post_bool(const cJSON *post, const char *key, int *out,
                     struct proto_error *err)
{
    const cJSON *item = member(post, key);

    if (!item)
        return RELAY_OK;
    if (!cJSON_IsBool(item))
        return post_bad(err, key, "must be true or false");
    *out = cJSON_IsTrue(item) ? 1 : 0;
    return RELAY_OK;
}

static int post_case(const cJSON *post, const char **out,
                     struct proto_error *err)
{
    const char *id = NULL;
    int rc = post_text(post, "case", TEXT_MAX, 1, &id, err);

    if (rc < 0)
        return rc;
    if (!channel_is_id(id))
        return post_bad(err, "case",
                        "must be 1 to 64 characters of A-Z a-z 0-9 _ -");
    *out = id;
    return RELAY_OK;
}

/* A number within [min, max]; 'field' is the full name for the message. */
static int read_coord(const cJSON *item, double min, double max,
                      const char *field, double *out, struct proto_error *err)
{
    if (!item)
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL, "%s: required",
                    field);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
        item->valuedouble < min || item->valuedouble > max)
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                    "%s: must be a number from %g to %g", field, min, max);
    *out = item->valuedouble;
    return RELAY_OK;
}

/* {"lat": -90..90, "lon": -180..180}; 'field' names the object. */
static int read_latlon(const cJSON *obj, const char *field, double *lat,
                       double *lon, struct proto_error *err)
{
    char name[64];
    double la = 0;
    double lo = 0;
    int rc;

    if (!cJSON_IsObject(obj))
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                    "%s: must be an object {lat, lon}", field);
    snprintf(name, sizeof(name), "%s.lat", field);
    rc = read_coord(member(obj, "lat"), -90, 90, name, &la, err);
    if (rc < 0)
        return rc;
    snprintf(name, sizeof(name), "%s.lon", field);
    rc = read_coord(member(obj, "lon"), -180, 180, name, &lo, err);
    if (rc < 0)
        return rc;
    *lat = la;
    *lon = lo;
    return RELAY_OK;
}

/* A list of CBS codes of one kind ("buurten", "wijken" or "gemeenten"):
 * 1..PROTO_AREA_MAX distinct codes, each valid per 'valid'. */
static int area_codes(const cJSON *list, const char *field,
                      int (*valid)(const char *), const char *what,
                      struct proto_area *area, struct proto_error *err)
{
    const cJSON *item;
    int n = 0;

    if (!cJSON_IsArray(list))
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                    "post.area.%s: must be an array", field);
    for (item = list->child; item; item = item->next) {
        if (n == PROTO_AREA_MAX)
            return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                        "post.area.%s: at most %d codes", field,
                        PROTO_AREA_MAX);
        if (!cJSON_IsString(item) || !valid(item->valuestring))
            return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                        "post.area.%s[%d]: must be a %s", field, n, what);
        for (int i = 0; i < n; i++) {
            if (strcmp(area->buurten[i], item->valuestring) == 0)
                return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                            "post.area.%s[%d]: duplicate code", field, n);
        }
        area->buurten[n++] = item->valuestring;
    }
    if (n == 0)
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                    "post.area.%s: must not be empty", field);
    area->count = n;
    return RELAY_OK;
}

static int area_buurten(const cJSON *list, struct proto_area *area,
                        struct proto_error *err)
{
    return area_codes(list, "buurten", channel_is_buurtcode,
                      "CBS buurt code (BU and 8 digits)", area, err);
}

static int area_circle(const cJSON *circle, struct proto_area *area,
                       struct proto_error *err)
{
    const cJSON *radius;
    int rc;

    rc = read_latlon(circle, "post.area.circle", &area->lat, &area->lon, err);
    if (rc < 0)
        return rc;
    radius = member(circle, "radius_m");
    if (!radius)
        return post_bad(err, "area.circle.radius_m", "required");
    if (!cJSON_IsNumber(radius) || !(radius->valuedouble > 0) ||
        radius->valuedouble > RADIUS_MAX)
        return post_bad(err, "area.circle.radius_m",
                        "must be a number above 0 and at most 100000");
    area->radius_m = radius->valuedouble;
    return RELAY_OK;
}

/* One [lat, lon] pair of a polygon. */
static int polygon_point(const cJSON *item, int index, double point[2],
                         struct proto_error *err)
{
    const cJSON *lat = cJSON_GetArrayItem(item, 0);
    const cJSON *lon = cJSON_GetArrayItem(item, 1);

    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2 ||
        !cJSON_IsNumber(lat) || !cJSON_IsNumber(lon))
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                    "post.area.polygon[%d]: must be [lat, lon]", index);
    if (!(lat->valuedouble >= -90 && lat->valuedouble <= 90) ||
        !(lon->valuedouble >= -180 && lon->valuedouble <= 180))
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                    "post.area.polygon[%d]: lat must be -90..90 and lon "
                    "-180..180",
                    index);
    point[0] = lat->valuedouble;
    point[1] = lon->valuedouble;
    return RELAY_OK;
}

static int same_point(const double a[2], const double b[2])
{
    return a[0] == b[0] && a[1] == b[1];
}

/*
 * A ring may come closed (last point = first) or open; it is stored open.
 * WHY the distinct-point count rather than the length: [[a],[a],[a]] has
 * three points and no area.
 */
static int area_polygon(const cJSON *list, struct proto_area *area,
                        struct proto_error *err)
{
    const cJSON *item;
    double extra[2] = {0, 0}; /* point PROTO_AREA_MAX, if the ring's close */
    int n = 0;
    int distinct = 0;

    if (!cJSON_IsArray(list))
        return post_bad(err, "area.polygon", "must be an array of [lat, lon]");
    for (item = list->child; item; item = item->next) {
        double *dst = n < PROTO_AREA_MAX ? area->points[n] : extra;

        if (n > PROTO_AREA_MAX)
            return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                        "post.area.polygon: at most %d points", PROTO_AREA_MAX);
        if (polygon_point(item, n, dst, err) < 0)
            return RELAY_EINVAL;
        n++;
    }
    if (n >= 2 && same_point(n > PROTO_AREA_MAX ? extra : area->points[n - 1],
                             area->points[0]))
        n--;
    if (n > PROTO_AREA_MAX)
        return fail(err, PROTO_E_BAD_REQUEST, RELAY_EINVAL,
                    "post.area.polygon: at most %d points", PROTO_AREA_MAX);
    for (int i = 0; i < n && distinct < 3; i++) {
        int seen = 0;

        for (int j = 0; j < i && !seen; j++)
            seen = same_point(area->points[i], area->points[j]);
        if (!seen)
            distinct++;
    }
    if (distinct < 3)
        return post_bad(err, "area.polygon",
                        "needs at least 3 distinct points");
    area->count = n;
    return RELAY_OK;
}

/*
 * post.area: an object holding exactly one of buurten, circle, polygon.
 * On success *out is a new heap area (freed by proto_post_cleanup).
 */
static int post_area(const cJSON *item, struct proto_area **out,
                     struct proto_error *err)
{
    const cJSON *buurten = member(item, "buurten");
    const cJSON *circle = member(item, "circle");
    const cJSON *polygon = member(item, "polygon");
    const cJSON *wijken = member(item, "wijken");
    const cJSON *gemeenten = member(item, "gemeenten");
    struct proto_area *area;
    int rc;

    if (!cJSON_IsObject(item))
        return post_bad(err, "area", "must be an object");
    if ((buurten != NULL) + (circle != NULL) + (polygon != NULL) +
            (wijken != NULL) + (gemeenten != NULL) !=
        1)
        return post_bad(err, "area",
                        "must hold exactly one of buurten, circle, polygon, "
                        "wijken, gemeenten");
    area = calloc(1, sizeof(*area));
    if (!area)
        return fail(err, PROTO_E_INTERNAL, RELAY_ENOMEM, "out of memory");
    if (buurten) {
        area->kind = PROTO_AREA_BUURTEN;
        rc = area_buurten(buurten, area, err);
    } else if (wijken) {
        area->kind = PROTO_AREA_CODES;
        rc = area_codes(wijken, "wijken", channel_is_wijkcode,
                        "CBS wijk code (WK and 6 digits)", area, err);
    } else if (gemeenten) {
        area->kind = PROTO_AREA_CODES;
        rc = area_codes(gemeenten, "gemeenten", channel_is_gemeentecode,
                        "CBS gemeente code (GM and 4 digits)", area, err);
    } else if (circle) {
        area->kind = PROTO_AREA_CIRCLE;
        rc = area_circle(circle, area, err);
    } else {
        area->kind = PROTO_AREA_POLYGON;
        rc = area_polygon(polygon, area, err);
    }
    if (rc < 0) {
        free(area);
        return rc;
    }
    *out = area;
    return RELAY_OK;
}

/* Reads exactly n ASCII digits at s into *out. */
static int read_digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/*
 * YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), the RFC 3339 profile of
 * ISO 8601: an explicit offset, so a time is never read in the server's
 * zone. Leap seconds are not accepted.
 */
static int iso8601_valid(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, oh, om;
    int leap;
    size_t i = 19;

    if (strlen(s) < 20 || !read_digits(s, 4, &y) || s[4] != '-' ||
        !read_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !read_digits(s + 8, 2, &d) || s[10] != 'T' ||
        !read_digits(s + 11, 2, &h) || s[13] != ':' ||
        !read_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !read_digits(s + 17, 2, &sec))
        return 0;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) ||
        h > 23 || mi > 59 || sec > 59)
        return 0;
    if (s[i] == '.') {
        size_t start = ++i;

        while (s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start || i - start > 9)
            return 0;
    }
    if (s[i] == 'Z')
        return s[i + 1] == '\0';
    if (s[i] != '+' && s[i] != '-')
        return 0;
    if (!read_digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
        !read_digits(s + i + 4, 2, &om) || s[i + 6] != '\0')
        return 0;
    return oh <= 23 && om <= 59;
}

static int post_alert(const cJSON *post, struct proto_post *p,
                      struct proto_error *err)
{
    const cJSON *area = member(post, "area");
    int rc;

    if (!area)
        return post_bad(err, "area", "required");
    if ((rc = post_text(post, "title", TITLE_MAX, 1, &p->title, err)) < 0 ||
        (rc = post_text(post, "body", TEXT_MAX, 1, &p->body, err)) < 0 ||
        (rc = post_enum(post, "urgency", urgency_values, 1, &p->urgency, err)) <
            0 ||
        (rc = post_enum(post, "severity", severity_values, 1, &p->severity,
                        err)) < 0 ||
        (rc = post_enum(post, "certainty", certainty_values, 0, &p->certainty,
                        err)) < 0 ||
        (rc = post_text(post, "event", EVENT_MAX, 0, &p->event, err)) < 0 ||
        (rc = post_text(post, "instruction", TEXT_MAX, 0, &p->instruction,
                        err)) < 0 ||
        (rc = post_bool(post, "consent", &p->consent, err)) < 0)
        return rc;
    if (p->event && strcmp(p->event, "vermissing") == 0 && !p->consent)
        return post_bad(err, "consent",
                        "must be true for event \"vermissing\"");
    return post_area(area, &p->area, err);
}

static int post_report(const cJSON *post, struct proto_post *p,
                       struct proto_error *err)
{
    const cJSON *location = member(post, "location");
    int rc;

    rc = post_text(post, "buurt", TEXT_MAX, 0, &p->buurt, err);
    if (rc < 0)
        return rc;
    if (p->buurt && !channel_is_buurtcode(p->buurt))
        return post_bad(err, "buurt",
                        "must be a CBS buurt code (BU and 8 digits)");
    if (location) {
        rc = read_latlon(location, "post.location", &p->location_lat,
                         &p->location_lon, err);
        if (rc < 0)
            return rc;
        p->has_location = 1;
    }
    if (!p->buurt && !p->has_location)
        return post_bad(err, "buurt", "required (or post.location)");
    if ((rc = post_enum(post, "category", category_values, 1, &p->category,
                        err)) < 0 ||
        (rc = post_text(post, "body", TEXT_MAX, 1, &p->body, err)) < 0 ||
        (rc = post_text(post, "when", 64, 0, &p->when, err)) < 0 ||
        (rc = post_bool(post, "called_112", &p->called_112, err)) < 0 ||
        (rc = post_bool(post, "anonymous", &p->anonymous, err)) < 0)
        return rc;
    if (p->when && !iso8601_valid(p->when))
        return post_bad(err, "when",
                        "must be ISO 8601 with offset, e.g. "
                        "2026-11-26T07:42:52+01:00");
    return RELAY_OK;
}

/* The kinds that act on an existing case. */
static int post_case_kind(const cJSON *post, struct proto_post *p,
                          struct proto_error *err)
{
    const cJSON *area;
    int rc;

    rc = post_case(post, &p->case_id, err);
    if (rc < 0)
        return rc;
    switch (p->kind) {
    case PROTO_POST_UPDATE:
        rc = post_text(post, "body", TEXT_MAX, 1, &p->body, err);
        if (rc < 0)
            return rc;
        area = member(post, "area");
        return area ? post_area(area, &p->area, err) : RELAY_OK;
    case PROTO_POST_CLOSE:
        rc = post_text(post, "body", TEXT_MAX, 1, &p->body, err);
        if (rc < 0)
            return rc;
        return post_enum(post, "outcome", outcome_values, 1, &p->outcome, err);
    case PROTO_POST_TIP:
        rc = post_text(post, "body", TEXT_MAX, 1, &p->body, err);
        if (rc < 0)
            return rc;
        return post_bool(post, "anonymous", &p->anonymous, err);
    case PROTO_POST_STATUS:
        rc = post_enum(post, "state", state_values, 1, &p->state, err);
        if (rc < 0)
            return rc;
        return post_text(post, "note", TEXT_MAX, 1, &p->note, err);
    case PROTO_POST_FEEDBACK:
        rc = post_bool(post, "satisfied", &p->satisfied, err);
        if (rc < 0)
            return rc;
        if (p->satisfied < 0)
            return post_bad(err, "satisfied", "required (true or false)");
        return post_text(post, "comment", TEXT_MAX, 0, &p->comment, err);
    default:
        return RELAY_OK;
    }
}

/*
 * Checks run in the order of the contract's table, so the first missing
 * or wrong field is the one named. Only the fields of the post's own kind
 * (and "confirm") are looked at; others are ignored like unknown ones.
 */
int proto_parse_post(const cJSON *post, struct proto_post *out,
                     struct proto_error *err)
{
    struct proto_post p;
    const cJSON *kind;
    int rc;

    memset(&p, 0, sizeof(p));
    p.called_112 = -1;
    p.satisfied = -1;
    if (!cJSON_IsObject(post)) {
        rc = bad(err, "post", "must be an object");
        goto out_free_area;
    }
    kind = member(post, "kind");
    if (!kind) {
        rc = post_bad(err, "kind", "required");
        goto out_free_area;
    }
    for (int k = PROTO_POST_ALERT; k <= PROTO_POST_FEEDBACK; k++) {
        if (cJSON_IsString(kind) &&
            strcmp(kind->valuestring, post_kind_names[k]) == 0)
            p.kind = (enum proto_post_kind)k;
    }
    if (p.kind == 0) {
        rc = post_bad(err, "kind",
                      "must be one of alert, update, close, report, tip, "
                      "status, approve, feedback");
        goto out_free_area;
    }
    rc = post_bool(post, "confirm", &p.confirm, err);
    if (rc < 0)
        goto out_free_area;
    if (p.kind == PROTO_POST_ALERT)
        rc = post_alert(post, &p, err);
    else if (p.kind == PROTO_POST_REPORT)
        rc = post_report(post, &p, err);
    else
        rc = post_case_kind(post, &p, err);
    if (rc < 0)
        goto out_free_area;
    *out = p;
    return RELAY_OK;

out_free_area:
    free(p.area);
    if (out)
        memset(out, 0, sizeof(*out));
    return rc;
}

void proto_post_cleanup(struct proto_post *post)
{
    if (!post)
        return;
    free(post->area);
    memset(post, 0, sizeof(*post));
    post->called_112 = -1;
}

const char *proto_post_kind_name(enum proto_post_kind kind)
{
    if (kind < PROTO_POST_ALERT || kind > PROTO_POST_FEEDBACK)
        return "unknown";
    return post_kind_names[kind];
}

/* --- server frames ------------------------------------------------------ */

/*
 * Prints and deletes 'root'. The copy makes the result plain malloc()
 * memory whatever allocator hooks cJSON was given, so callers free() it.
 */
static char *finish_frame(cJSON *root)
{
    char *printed;
    char *frame = NULL;

    if (!root)
        return NULL;
    printed = cJSON_PrintUnformatted(root);
    if (printed) {
        frame = strdup(printed);
        cJSON_free(printed);
    }
    cJSON_Delete(root);
    return frame;
}

/* 'ref' NULL means no "ref" member. Returns 0 on success, -1 on OOM. */
static int add_ref(cJSON *root, const char *ref)
{
    if (!ref)
        return 0;
    return cJSON_AddStringToObject(root, "ref", ref) ? 0 : -1;
}

/* Integers go in as raw text: cJSON prints large doubles as 1e+15. */
static int add_uint(cJSON *root, const char *key, uint64_t v)
{
    char num[24];

    snprintf(num, sizeof(num), "%" PRIu64, v);
    return cJSON_AddRawToObject(root, key, num) ? 0 : -1;
}

/* Starts a frame {"type": type}; NULL when out of memory. */
static cJSON *new_frame(const char *type)
{
    cJSON *root = cJSON_CreateObject();

    if (root && !cJSON_AddStringToObject(root, "type", type)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

char *proto_build_welcome(const char *id, const char *role,
                          const char *const *buurten, int nbuurten,
                          const char *ref)
{
    cJSON *root = new_frame("welcome");
    cJSON *user;
    cJSON *list;
    char now[40];
    struct timespec ts;

    if (!root)
        return NULL;
    user = cJSON_AddObjectToObject(root, "user");
    if (!user || (id && !cJSON_AddStringToObject(user, "id", id)) ||
        !cJSON_AddStringToObject(user, "role", role ? role : "anonymous"))
        goto out_delete_root;
    list = cJSON_AddArrayToObject(user, "buurten");
    if (!list)
        goto out_delete_root;
    for (int i = 0; buurten && i < nbuurten; i++) {
        cJSON *code = cJSON_CreateString(buurten[i] ? buurten[i] : "");

        if (!code || !cJSON_AddItemToArray(list, code)) {
            cJSON_Delete(code);
            goto out_delete_root;
        }
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    proto_format_time((double)ts.tv_sec + (double)ts.tv_nsec / 1e9, now,
                      sizeof(now));
    if (!cJSON_AddStringToObject(root, "server_time", now) ||
        add_ref(root, ref) < 0)
        goto out_delete_root;
    return finish_frame(root);

out_delete_root:
    cJSON_Delete(root);
    return NULL;
}

char *proto_build_subscribed(const char *channel, const char *epoch,
                             uint64_t seq, int recovered, const char *ref)
{
    cJSON *root = new_frame("subscribed");

    if (!root)
        return NULL;
    if (!cJSON_AddStringToObject(root, "channel", channel ? channel : "") ||
        !cJSON_AddStringToObject(root, "epoch", epoch ? epoch : "") ||
        add_uint(root, "seq", seq) < 0 ||
        (recovered >= 0 &&
         !cJSON_AddBoolToObject(root, "recovered", recovered != 0)) ||
        add_ref(root, ref) < 0) {
        cJSON_Delete(root);
        return NULL;
    }
    return finish_frame(root);
}

char *proto_build_unsubscribed(const char *channel, const char *ref)
{
    cJSON *root = new_frame("unsubscribed");

    if (!root)
        return NULL;
    if (!cJSON_AddStringToObject(root, "channel", channel ? channel : "") ||
        add_ref(root, ref) < 0) {
        cJSON_Delete(root);
        return NULL;
    }
    return finish_frame(root);
}

char *proto_build_error(const char *code, const char *message, const char *ref,
                        const char *id, int retry_after)
{
    cJSON *root = new_frame("error");

    if (!root)
        return NULL;
    if (!cJSON_AddStringToObject(root, "code",
                                 code ? code : PROTO_E_INTERNAL) ||
        !cJSON_AddStringToObject(root, "message", message ? message : "") ||
        add_ref(root, ref) < 0 ||
        (id && !cJSON_AddStringToObject(root, "id", id)) ||
        (retry_after >= 0 &&
         add_uint(root, "retry_after", (uint64_t)retry_after) < 0)) {
        cJSON_Delete(root);
        return NULL;
    }
    return finish_frame(root);
}

char *proto_build_pong(const char *ref)
{
    cJSON *root = new_frame("pong");

    if (!root)
        return NULL;
    if (add_ref(root, ref) < 0) {
        cJSON_Delete(root);
        return NULL;
    }
    return finish_frame(root);
}

/*
 * Rounds to the millisecond first and splits afterwards, so 1.9996 gives
 * "...:02.000" rather than ":01.1000". An unrepresentable time (NaN, or
 * beyond year 9999) gives "".
 */
void proto_format_time(double unix_seconds, char *out, size_t outlen)
{
    long long ms;
    long long secs;
    time_t t;
    struct tm tm;

    if (!out || outlen == 0)
        return;
    out[0] = '\0';
    if (!isfinite(unix_seconds) || unix_seconds < -62135596800.0 ||
        unix_seconds > 253402300799.0)
        return;
    ms = llround(unix_seconds * 1000.0);
    secs = ms / 1000;
    ms %= 1000;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    t = (time_t)secs;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
        return;
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03lld+00:00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ms);
}

char *proto_build_error_ex(const struct proto_error *err, const char *ref,
                           const char *id)
{
    char *base = proto_build_error(err->code, err->message, ref, id, -1);
    size_t blen, elen = strlen(err->extra_json);
    char *out;

    if (!base || elen == 0)
        return base;
    /* base ends in '}': splice the extra members in before it. */
    blen = strlen(base);
    out = malloc(blen + elen + 2);
    if (!out) {
        free(base);
        return NULL;
    }
    memcpy(out, base, blen - 1);
    out[blen - 1] = ',';
    memcpy(out + blen, err->extra_json, elen);
    out[blen + elen] = '}';
    out[blen + elen + 1] = '\0';
    free(base);
    return out;
}

char *proto_build_welcome_wijken(const char *id, const char *role,
                                 const char *const *buurten, int nbuurten,
                                 const char *const *wijken, int nwijken,
                                 const char *ref)
{
    char *base = proto_build_welcome(id, role, buurten, nbuurten, ref);
    cJSON *root, *user, *list;
    char *tmp, *out = NULL;

    if (!base || !wijken || nwijken <= 0)
        return base;
    root = cJSON_Parse(base);
    free(base);
    user = root ? cJSON_GetObjectItemCaseSensitive(root, "user") : NULL;
    list = user ? cJSON_AddArrayToObject(user, "wijken") : NULL;
    for (int i = 0; list && i < nwijken; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(wijken[i]));
    tmp = list ? cJSON_PrintUnformatted(root) : NULL;
    if (tmp) {
        out = strdup(tmp);
        cJSON_free(tmp);
    }
    cJSON_Delete(root);
    return out;
}
