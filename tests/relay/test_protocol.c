/*
 * test_protocol.c - relay/protocol.c against docs/protocol.md: every frame
 * type, every reject reason with the field it names, ref/id echo on
 * failure, each post kind, the three area shapes, and the builders' output
 * parsed back field by field.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "json_strict.h"
#include "protocol.h"

/* --- helpers ------------------------------------------------------------ */

static int parse(const char *text, struct proto_request *req,
                 struct proto_error *err)
{
    memset(err, 0, sizeof(*err));
    return proto_parse_request(text, strlen(text), req, err);
}

/* A frame that must parse; the caller cleans up. */
static void parse_ok(const char *text, struct proto_request *req)
{
    struct proto_error err;
    int rc = parse(text, req, &err);

    if (rc != RELAY_OK)
        fail_msg("rejected %s: %s %s", text, err.code, err.message);
    assert_non_null(req->root);
}

/* True when 'message' starts with "field:". */
static int names_field(const char *message, const char *field)
{
    size_t n = strlen(field);

    return strncmp(message, field, n) == 0 && message[n] == ':';
}

/* A frame that must fail with 'code' naming 'field'; returns 'out'. */
static void parse_fails(const char *text, const char *code, const char *field,
                        struct proto_request *out)
{
    struct proto_error err;
    int rc = parse(text, out, &err);

    if (rc == RELAY_OK)
        fail_msg("accepted %s", text);
    assert_non_null(err.code);
    assert_string_equal(err.code, code);
    assert_int_equal(rc, strcmp(code, PROTO_E_TOO_LARGE) == 0 ? RELAY_ETOOBIG
                                                              : RELAY_EINVAL);
    if (field && !names_field(err.message, field))
        fail_msg("%s: message \"%s\" does not name %s", text, err.message,
                 field);
    assert_null(out->root);
}

static void reject(const char *text, const char *field)
{
    struct proto_request req;

    parse_fails(text, PROTO_E_BAD_REQUEST, field, &req);
}

/* A post object, its parse tree kept alive for the borrowed strings. */
struct post_fixture {
    cJSON *tree;
    struct proto_post post;
    struct proto_error err;
    int rc;
};

static void post_run(struct post_fixture *f, const char *json)
{
    const char *why = NULL;

    memset(f, 0, sizeof(*f));
    f->tree = json_strict_parse(json, strlen(json), PROTO_MAX_DEPTH, &why);
    if (!f->tree)
        fail_msg("test JSON does not parse (%s): %s", why, json);
    /* Garbage in 'out' must not leak into the result either way. */
    memset(&f->post, 0x5a, sizeof(f->post));
    f->rc = proto_parse_post(f->tree, &f->post, &f->err);
}

static void post_ok(struct post_fixture *f, const char *json)
{
    post_run(f, json);
    if (f->rc != RELAY_OK)
        fail_msg("rejected %s: %s", json, f->err.message);
}

static void post_done(struct post_fixture *f)
{
    proto_post_cleanup(&f->post);
    cJSON_Delete(f->tree);
}

/* The post must fail with bad_request naming 'field' ("post.x"). */
static void post_rejects(const char *json, const char *field)
{
    struct post_fixture f;

    post_run(&f, json);
    if (f.rc == RELAY_OK)
        fail_msg("accepted %s", json);
    assert_int_equal(f.rc, RELAY_EINVAL);
    assert_string_equal(f.err.code, PROTO_E_BAD_REQUEST);
    if (!names_field(f.err.message, field))
        fail_msg("%s: message \"%s\" does not name %s", json, f.err.message,
                 field);
    /* Left empty, so nothing to clean up and nothing half-built. */
    assert_null(f.post.area);
    assert_int_equal(f.post.kind, 0);
    assert_null(f.post.body);
    cJSON_Delete(f.tree);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Formats into a heap buffer. */
static char *fmt(const char *format, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *format, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, format);
    n = vsnprintf(NULL, 0, format, ap);
    va_end(ap);
    assert_true(n >= 0);
    s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, format);
    vsnprintf(s, (size_t)n + 1, format, ap);
    va_end(ap);
    return s;
}

/* Parses a builder's frame back with the strict parser. */
static cJSON *frame_tree(char *frame)
{
    const char *why = NULL;
    cJSON *root;

    assert_non_null(frame);
    root = json_strict_parse(frame, strlen(frame), PROTO_MAX_DEPTH, &why);
    if (!root)
        fail_msg("builder output does not parse (%s): %s", why, frame);
    return root;
}

static const char *str_of(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

static int has(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

/* --- frames: valid ------------------------------------------------------ */

static void frame_auth(void **state)
{
    struct proto_request req;

    (void)state;
    parse_ok("{\"type\":\"auth\",\"token\":\"abc.def\",\"ref\":\"r1\"}", &req);
    assert_int_equal(req.type, PROTO_T_AUTH);
    assert_string_equal(req.token, "abc.def");
    assert_int_equal(req.has_ref, 1);
    assert_string_equal(req.ref, "r1");
    proto_request_cleanup(&req);
    assert_null(req.root);
    assert_null(req.token);
}

static void frame_subscribe(void **state)
{
    struct proto_request req;

    (void)state;
    parse_ok("{\"type\":\"subscribe\",\"channel\":\"buurt:BU01060101\"}", &req);
    assert_int_equal(req.type, PROTO_T_SUBSCRIBE);
    assert_string_equal(req.channel, "buurt:BU01060101");
    assert_int_equal(req.has_since, 0);
    assert_int_equal(req.has_ref, 0);
    assert_string_equal(req.ref, "");
    proto_request_cleanup(&req);
}

static void frame_subscribe_since(void **state)
{
    struct proto_request req;

    (void)state;
    parse_ok("{\"type\":\"subscribe\",\"channel\":\"case:C1\","
             "\"since\":{\"epoch\":\"e-7f3a\",\"seq\":41}}",
             &req);
    assert_int_equal(req.has_since, 1);
    assert_string_equal(req.since_epoch, "e-7f3a");
    assert_int_equal(req.since_seq, 41);
    proto_request_cleanup(&req);

    parse_ok("{\"type\":\"subscribe\",\"channel\":\"case:C1\","
             "\"since\":{\"epoch\":\"e\",\"seq\":9007199254740992}}",
             &req);
    assert_true(req.since_seq == UINT64_C(9007199254740992));
    proto_request_cleanup(&req);

    /* An integer written with an exponent is still an integer. */
    parse_ok("{\"type\":\"subscribe\",\"channel\":\"case:C1\","
             "\"since\":{\"epoch\":\"e\",\"seq\":1.2e3}}",
             &req);
    assert_int_equal(req.since_seq, 1200);
    proto_request_cleanup(&req);

    parse_ok("{\"type\":\"subscribe\",\"channel\":\"case:C1\","
             "\"since\":{\"epoch\":\"e\",\"seq\":0}}",
             &req);
    assert_int_equal(req.since_seq, 0);
    assert_int_equal(req.has_since, 1);
    proto_request_cleanup(&req);
}

static void frame_unsubscribe(void **state)
{
    struct proto_request req;

    (void)state;
    parse_ok("{\"type\":\"unsubscribe\",\"channel\":\"desk:WK010601\"}", &req);
    assert_int_equal(req.type, PROTO_T_UNSUBSCRIBE);
    assert_string_equal(req.channel, "desk:WK010601");
    proto_request_cleanup(&req);
}

static void frame_post(void **state)
{
    struct proto_request req;

    (void)state;
    parse_ok("{\"type\":\"post\",\"id\":\"c-1\",\"ref\":\"x\","
             "\"post\":{\"kind\":\"approve\",\"case\":\"K1\"}}",
             &req);
    assert_int_equal(req.type, PROTO_T_POST);
    assert_string_equal(req.id, "c-1");
    assert_true(cJSON_IsObject(req.post));
    assert_string_equal(str_of(req.post, "kind"), "approve");
    proto_request_cleanup(&req);
}

static void frame_read(void **state)
{
    struct proto_request req;

    (void)state;
    parse_ok("{\"type\":\"read\",\"channel\":\"user:u1\",\"seq\":17}", &req);
    assert_int_equal(req.type, PROTO_T_READ);
    assert_string_equal(req.channel, "user:u1");
    assert_int_equal(req.seq, 17);
    proto_request_cleanup(&req);
}

static void frame_ping_ignores_unknown_fields(void **state)
{
    struct proto_request req;

    (void)state;
    parse_ok("{\"type\":\"ping\",\"extra\":[1,{\"x\":null}],\"v\":2}", &req);
    assert_int_equal(req.type, PROTO_T_PING);
    proto_request_cleanup(&req);
    proto_request_cleanup(NULL);
}

static void frame_limits_inclusive(void **state)
{
    struct proto_request req;
    char *ref = repeat('r', PROTO_REF_MAX);
    char *token = repeat('t', PROTO_TOKEN_MAX);
    char *epoch = repeat('e', PROTO_EPOCH_MAX);
    char *text;

    (void)state;
    text =
        fmt("{\"type\":\"auth\",\"token\":\"%s\",\"ref\":\"%s\"}", token, ref);
    parse_ok(text, &req);
    assert_int_equal(strlen(req.ref), PROTO_REF_MAX);
    assert_int_equal(strlen(req.token), PROTO_TOKEN_MAX);
    proto_request_cleanup(&req);
    free(text);
    text = fmt("{\"type\":\"subscribe\",\"channel\":\"case:c\","
               "\"since\":{\"epoch\":\"%s\",\"seq\":1}}",
               epoch);
    parse_ok(text, &req);
    assert_string_equal(req.since_epoch, epoch);
    proto_request_cleanup(&req);
    free(text);
    text = fmt("{\"type\":\"post\",\"id\":\"%s\",\"post\":{}}", ref);
    parse_ok(text, &req);
    assert_string_equal(req.id, ref);
    proto_request_cleanup(&req);
    free(text);
    free(ref);
    free(token);
    free(epoch);
}

/* --- frames: rejects ---------------------------------------------------- */

static void frame_rejects_bad_json(void **state)
{
    struct proto_request req;
    struct proto_error err;

    (void)state;
    assert_int_equal(parse("not json", &req, &err), RELAY_EINVAL);
    assert_string_equal(err.code, PROTO_E_BAD_REQUEST);
    assert_string_equal(err.message, "invalid JSON: malformed JSON");
    assert_int_equal(parse("{\"type\":\"ping\",\"type\":\"ping\"}", &req, &err),
                     RELAY_EINVAL);
    assert_string_equal(err.message, "invalid JSON: duplicate key");
    assert_int_equal(parse("{\"type\":\"p\xffing\"}", &req, &err),
                     RELAY_EINVAL);
    assert_string_equal(err.message, "invalid JSON: invalid UTF-8");
    assert_int_equal(parse("{\"type\":\"ping\"} x", &req, &err), RELAY_EINVAL);
    assert_string_equal(err.message, "invalid JSON: trailing characters");
    assert_int_equal(parse("{\"type\":\"ping\",\"n\":1e400}", &req, &err),
                     RELAY_EINVAL);
    assert_string_equal(err.message, "invalid JSON: number out of range");
    assert_int_equal(parse("{\"type\":\"ping\",\"s\":\"\\u0000\"}", &req, &err),
                     RELAY_EINVAL);
    assert_string_equal(err.message, "invalid JSON: NUL character in string");
    assert_int_equal(proto_parse_request("", 0, &req, &err), RELAY_EINVAL);
    assert_string_equal(err.code, PROTO_E_BAD_REQUEST);
}

/* A ping frame whose "x" member nests 'arrays' arrays. Caller frees. */
static char *ping_nested(int arrays)
{
    char *s = malloc((size_t)arrays * 2 + 64);
    size_t n;

    assert_non_null(s);
    n = (size_t)snprintf(s, 64, "{\"type\":\"ping\",\"x\":");
    memset(s + n, '[', (size_t)arrays);
    memset(s + n + arrays, ']', (size_t)arrays);
    n += (size_t)arrays * 2;
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

static void frame_rejects_deep_nesting(void **state)
{
    struct proto_request req;
    struct proto_error err;
    /* The frame object is depth 1, so 15 arrays reach the limit. */
    char *at = ping_nested(PROTO_MAX_DEPTH - 1);
    char *over = ping_nested(PROTO_MAX_DEPTH);

    (void)state;
    parse_ok(at, &req);
    proto_request_cleanup(&req);
    assert_int_equal(parse(over, &req, &err), RELAY_EINVAL);
    assert_string_equal(err.code, PROTO_E_BAD_REQUEST);
    assert_string_equal(err.message, "invalid JSON: nesting too deep");
    free(at);
    free(over);
}

static void frame_rejects_non_object(void **state)
{
    (void)state;
    reject("[{\"type\":\"ping\"}]", "frame");
    reject("\"ping\"", "frame");
    reject("null", "frame");
    reject("42", "frame");
}

static void frame_rejects_type(void **state)
{
    (void)state;
    reject("{}", "type");
    reject("{\"Type\":\"ping\"}", "type");
    reject("{\"type\":1}", "type");
    reject("{\"type\":null}", "type");
    reject("{\"type\":\"Ping\"}", "type");
    reject("{\"type\":\"welcome\"}", "type");
    reject("{\"type\":\"\"}", "type");
}

static void frame_rejects_ref(void **state)
{
    struct proto_request req;
    char *ref = repeat('r', PROTO_REF_MAX + 1);
    char *text = fmt("{\"type\":\"ping\",\"ref\":\"%s\"}", ref);

    (void)state;
    reject("{\"type\":\"ping\",\"ref\":5}", "ref");
    reject("{\"type\":\"ping\",\"ref\":null}", "ref");
    parse_fails(text, PROTO_E_TOO_LARGE, "ref", &req);
    assert_int_equal(req.has_ref, 0);
    free(text);
    free(ref);
}

static void frame_rejects_channel(void **state)
{
    (void)state;
    reject("{\"type\":\"subscribe\"}", "channel");
    reject("{\"type\":\"subscribe\",\"channel\":7}", "channel");
    reject("{\"type\":\"subscribe\",\"channel\":\"buurt:bu01060101\"}",
           "channel");
    reject("{\"type\":\"subscribe\",\"channel\":\"room:1\"}", "channel");
    reject("{\"type\":\"unsubscribe\",\"channel\":\"\"}", "channel");
    reject("{\"type\":\"read\",\"channel\":\"user:a b\",\"seq\":1}", "channel");
}

static void frame_rejects_since(void **state)
{
    struct proto_request req;
    char *epoch = repeat('e', PROTO_EPOCH_MAX + 1);
    char *text;

#define SUB "{\"type\":\"subscribe\",\"channel\":\"case:c\",\"since\":"
    (void)state;
    reject(SUB "5}", "since");
    reject(SUB "null}", "since");
    reject(SUB "[]}", "since");
    reject(SUB "{\"seq\":1}}", "since.epoch");
    reject(SUB "{\"epoch\":1,\"seq\":1}}", "since.epoch");
    reject(SUB "{\"epoch\":\"\",\"seq\":1}}", "since.epoch");
    reject(SUB "{\"epoch\":\"e\"}}", "since.seq");
    reject(SUB "{\"epoch\":\"e\",\"seq\":\"5\"}}", "since.seq");
    reject(SUB "{\"epoch\":\"e\",\"seq\":1.5}}", "since.seq");
    reject(SUB "{\"epoch\":\"e\",\"seq\":-1}}", "since.seq");
    reject(SUB "{\"epoch\":\"e\",\"seq\":9007199254740994}}", "since.seq");
    reject(SUB "{\"epoch\":\"e\",\"seq\":1e300}}", "since.seq");
    reject(SUB "{\"epoch\":\"e\",\"seq\":true}}", "since.seq");
    text = fmt(SUB "{\"epoch\":\"%s\",\"seq\":1}}", epoch);
#undef SUB
    parse_fails(text, PROTO_E_TOO_LARGE, "since.epoch", &req);
    free(text);
    free(epoch);
}

static void frame_rejects_read_seq(void **state)
{
    (void)state;
    reject("{\"type\":\"read\",\"channel\":\"user:u\"}", "seq");
    reject("{\"type\":\"read\",\"channel\":\"user:u\",\"seq\":0.1}", "seq");
    reject("{\"type\":\"read\",\"channel\":\"user:u\",\"seq\":-3}", "seq");
    reject("{\"type\":\"read\",\"channel\":\"user:u\",\"seq\":\"3\"}", "seq");
    reject("{\"type\":\"read\",\"seq\":3}", "channel");
}

static void frame_rejects_auth(void **state)
{
    struct proto_request req;
    char *token = repeat('t', PROTO_TOKEN_MAX + 1);
    char *text = fmt("{\"type\":\"auth\",\"token\":\"%s\"}", token);

    (void)state;
    reject("{\"type\":\"auth\"}", "token");
    reject("{\"type\":\"auth\",\"token\":\"\"}", "token");
    reject("{\"type\":\"auth\",\"token\":[]}", "token");
    parse_fails(text, PROTO_E_TOO_LARGE, "token", &req);
    free(text);
    free(token);
}

static void frame_rejects_post(void **state)
{
    struct proto_request req;
    char *id = repeat('i', PROTO_REF_MAX + 1);
    char *text = fmt("{\"type\":\"post\",\"id\":\"%s\",\"post\":{}}", id);

    (void)state;
    reject("{\"type\":\"post\",\"post\":{}}", "id");
    reject("{\"type\":\"post\",\"id\":\"\",\"post\":{}}", "id");
    reject("{\"type\":\"post\",\"id\":12,\"post\":{}}", "id");
    reject("{\"type\":\"post\",\"id\":\"a\"}", "post");
    reject("{\"type\":\"post\",\"id\":\"a\",\"post\":[]}", "post");
    reject("{\"type\":\"post\",\"id\":\"a\",\"post\":\"x\"}", "post");
    parse_fails(text, PROTO_E_TOO_LARGE, "id", &req);
    free(text);
    free(id);
}

/* The reply to a refused frame echoes ref (and a post's id). */
static void frame_failure_echoes_ref_and_id(void **state)
{
    struct proto_request req;

    (void)state;
    parse_fails("{\"type\":\"nope\",\"ref\":\"r-9\"}", PROTO_E_BAD_REQUEST,
                "type", &req);
    assert_int_equal(req.has_ref, 1);
    assert_string_equal(req.ref, "r-9");
    assert_int_equal(req.type, 0);

    parse_fails("{\"ref\":\"r-8\",\"type\":\"subscribe\",\"channel\":\"x\"}",
                PROTO_E_BAD_REQUEST, "channel", &req);
    assert_int_equal(req.has_ref, 1);
    assert_string_equal(req.ref, "r-8");
    assert_string_equal(req.channel, "");

    parse_fails("{\"type\":\"post\",\"id\":\"p-7\",\"ref\":\"r-7\"}",
                PROTO_E_BAD_REQUEST, "post", &req);
    assert_string_equal(req.ref, "r-7");
    assert_string_equal(req.id, "p-7");
    assert_null(req.post);

    parse_fails("{\"ref\":\"\",\"type\":5}", PROTO_E_BAD_REQUEST, "type", &req);
    assert_int_equal(req.has_ref, 1);
    assert_string_equal(req.ref, "");

    /* Not readable: nothing to echo. */
    parse_fails("{\"ref\":\"r\",\"type\":\"ping\"", PROTO_E_BAD_REQUEST, NULL,
                &req);
    assert_int_equal(req.has_ref, 0);
    assert_string_equal(req.ref, "");
}

/* --- posts: alert ------------------------------------------------------- */

#define ALERT_HEAD                                                             \
    "{\"kind\":\"alert\",\"title\":\"Inbraak\",\"body\":\"Let op\","           \
    "\"urgency\":\"Immediate\",\"severity\":\"Moderate\","
#define AREA_BU "\"area\":{\"buurten\":[\"BU01060101\",\"BU01060102\"]}"

static void alert_valid(void **state)
{
    struct post_fixture f;

    (void)state;
    post_ok(&f, ALERT_HEAD "\"certainty\":\"Likely\",\"event\":\"inbraak\","
                           "\"instruction\":\"Sluit ramen\"," AREA_BU "}");
    assert_int_equal(f.post.kind, PROTO_POST_ALERT);
    assert_string_equal(f.post.title, "Inbraak");
    assert_string_equal(f.post.body, "Let op");
    assert_string_equal(f.post.urgency, "Immediate");
    assert_string_equal(f.post.severity, "Moderate");
    assert_string_equal(f.post.certainty, "Likely");
    assert_string_equal(f.post.event, "inbraak");
    assert_string_equal(f.post.instruction, "Sluit ramen");
    assert_null(f.post.case_id);
    assert_int_equal(f.post.consent, 0);
    assert_int_equal(f.post.confirm, 0);
    assert_int_equal(f.post.called_112, -1);
    assert_non_null(f.post.area);
    assert_int_equal(f.post.area->kind, PROTO_AREA_BUURTEN);
    assert_int_equal(f.post.area->count, 2);
    assert_string_equal(f.post.area->buurten[0], "BU01060101");
    assert_string_equal(f.post.area->buurten[1], "BU01060102");
    post_done(&f);
    assert_null(f.post.area);
}

static void alert_every_cap_value(void **state)
{
    static const char *const urgency[] = {"Immediate", "Expected", "Future",
                                          "Past", "Unknown"};
    static const char *const severity[] = {"Extreme", "Severe", "Moderate",
                                           "Minor", "Unknown"};
    static const char *const certainty[] = {"Observed", "Likely", "Possible",
                                            "Unlikely", "Unknown"};

    (void)state;
    for (int i = 0; i < 5; i++) {
        struct post_fixture f;
        char *json = fmt("{\"kind\":\"alert\",\"title\":\"t\",\"body\":\"b\","
                         "\"urgency\":\"%s\",\"severity\":\"%s\","
                         "\"certainty\":\"%s\"," AREA_BU "}",
                         urgency[i], severity[i], certainty[i]);

        post_ok(&f, json);
        assert_string_equal(f.post.urgency, urgency[i]);
        assert_string_equal(f.post.severity, severity[i]);
        assert_string_equal(f.post.certainty, certainty[i]);
        post_done(&f);
        free(json);
    }
}

static void alert_missing_fields(void **state)
{
    (void)state;
    post_rejects("{\"kind\":\"alert\",\"title\":\"t\",\"body\":\"b\","
                 "\"urgency\":\"Past\",\"severity\":\"Minor\"}",
                 "post.area");
    post_rejects("{\"kind\":\"alert\",\"body\":\"b\",\"urgency\":\"Past\","
                 "\"severity\":\"Minor\"," AREA_BU "}",
                 "post.title");
    post_rejects("{\"kind\":\"alert\",\"title\":\"t\",\"urgency\":\"Past\","
                 "\"severity\":\"Minor\"," AREA_BU "}",
                 "post.body");
    post_rejects("{\"kind\":\"alert\",\"title\":\"t\",\"body\":\"b\","
                 "\"severity\":\"Minor\"," AREA_BU "}",
                 "post.urgency");
    post_rejects("{\"kind\":\"alert\",\"title\":\"t\",\"body\":\"b\","
                 "\"urgency\":\"Past\"," AREA_BU "}",
                 "post.severity");
}

static void alert_vocabulary_messages(void **state)
{
    struct post_fixture f;

    (void)state;
    post_run(&f, "{\"kind\":\"alert\",\"title\":\"t\",\"body\":\"b\","
                 "\"urgency\":\"Past\",\"severity\":\"severe\"," AREA_BU "}");
    assert_int_equal(f.rc, RELAY_EINVAL);
    assert_string_equal(f.err.code, PROTO_E_BAD_REQUEST);
    assert_string_equal(f.err.message, "post.severity: must be one of "
                                       "Extreme, Severe, Moderate, Minor, "
                                       "Unknown");
    cJSON_Delete(f.tree);
    post_run(&f, "{\"kind\":\"alert\",\"title\":\"t\",\"body\":\"b\","
                 "\"urgency\":\"NOW\",\"severity\":\"Severe\"," AREA_BU "}");
    assert_string_equal(f.err.message, "post.urgency: must be one of "
                                       "Immediate, Expected, Future, Past, "
                                       "Unknown");
    cJSON_Delete(f.tree);
    post_run(&f, ALERT_HEAD "\"certainty\":\"Sure\"," AREA_BU "}");
    assert_string_equal(f.err.message, "post.certainty: must be one of "
                                       "Observed, Likely, Possible, "
                                       "Unlikely, Unknown");
    cJSON_Delete(f.tree);
    post_rejects(ALERT_HEAD "\"certainty\":3," AREA_BU "}", "post.certainty");
}

static void alert_text_fields(void **state)
{
    struct post_fixture f;
    char *title = repeat('T', 200);
    char *body = repeat('B', 4000);
    char *json;

    (void)state;
    json = fmt("{\"kind\":\"alert\",\"title\":\"%s\",\"body\":\"%s\","
               "\"urgency\":\"Past\",\"severity\":\"Minor\"," AREA_BU "}",
               title, body);
    post_ok(&f, json);
    assert_int_equal(strlen(f.post.title), 200);
    assert_int_equal(strlen(f.post.body), 4000);
    post_done(&f);
    free(json);
    json = fmt("{\"kind\":\"alert\",\"title\":\"%sT\",\"body\":\"b\","
               "\"urgency\":\"Past\",\"severity\":\"Minor\"," AREA_BU "}",
               title);
    post_rejects(json, "post.title");
    free(json);
    json = fmt("{\"kind\":\"alert\",\"title\":\"t\",\"body\":\"%sB\","
               "\"urgency\":\"Past\",\"severity\":\"Minor\"," AREA_BU "}",
               body);
    post_rejects(json, "post.body");
    free(json);
    free(title);
    free(body);
    post_rejects("{\"kind\":\"alert\",\"title\":\"\",\"body\":\"b\","
                 "\"urgency\":\"Past\",\"severity\":\"Minor\"," AREA_BU "}",
                 "post.title");
    post_rejects("{\"kind\":\"alert\",\"title\":7,\"body\":\"b\","
                 "\"urgency\":\"Past\",\"severity\":\"Minor\"," AREA_BU "}",
                 "post.title");
    post_rejects(ALERT_HEAD "\"event\":\"\"," AREA_BU "}", "post.event");
    post_rejects(ALERT_HEAD "\"instruction\":false," AREA_BU "}",
                 "post.instruction");
}

static void alert_vermissing_needs_consent(void **state)
{
    struct post_fixture f;

    (void)state;
    post_rejects(ALERT_HEAD "\"event\":\"vermissing\"," AREA_BU "}",
                 "post.consent");
    post_rejects(ALERT_HEAD
                 "\"event\":\"vermissing\",\"consent\":false," AREA_BU "}",
                 "post.consent");
    post_rejects(ALERT_HEAD
                 "\"event\":\"vermissing\",\"consent\":\"true\"," AREA_BU "}",
                 "post.consent");
    post_rejects(ALERT_HEAD "\"event\":\"vermissing\",\"consent\":1," AREA_BU
                            "}",
                 "post.consent");
    post_ok(&f, ALERT_HEAD "\"event\":\"vermissing\",\"consent\":true," AREA_BU
                           "}");
    assert_int_equal(f.post.consent, 1);
    assert_string_equal(f.post.event, "vermissing");
    post_done(&f);
    /* Other events do not need it. */
    post_ok(&f, ALERT_HEAD "\"event\":\"Vermissing\"," AREA_BU "}");
    assert_int_equal(f.post.consent, 0);
    post_done(&f);
}

/* --- areas -------------------------------------------------------------- */

static void area_shape_rejects(void **state)
{
    (void)state;
    post_rejects(ALERT_HEAD "\"area\":[]}", "post.area");
    post_rejects(ALERT_HEAD "\"area\":\"BU01060101\"}", "post.area");
    post_rejects(ALERT_HEAD "\"area\":{}}", "post.area");
    post_rejects(ALERT_HEAD "\"area\":{\"buurt\":[\"BU01060101\"]}}",
                 "post.area");
    post_rejects(ALERT_HEAD "\"area\":{\"buurten\":[\"BU01060101\"],"
                            "\"circle\":{\"lat\":1,\"lon\":1,"
                            "\"radius_m\":5}}}",
                 "post.area");
}

static void area_buurten_rules(void **state)
{
    (void)state;
    post_rejects(ALERT_HEAD "\"area\":{\"buurten\":[]}}", "post.area.buurten");
    post_rejects(ALERT_HEAD "\"area\":{\"buurten\":\"BU01060101\"}}",
                 "post.area.buurten");
    post_rejects(ALERT_HEAD "\"area\":{\"buurten\":[\"bu01060101\"]}}",
                 "post.area.buurten[0]");
    post_rejects(ALERT_HEAD "\"area\":{\"buurten\":[\"BU01060101\",1]}}",
                 "post.area.buurten[1]");
    post_rejects(ALERT_HEAD "\"area\":{\"buurten\":[\"BU01060101\","
                            "\"BU01060102\",\"BU01060101\"]}}",
                 "post.area.buurten[2]");
}

/* Extension: whole wijken or gemeenten by code. */
static void area_codes_rules(void **state)
{
    struct post_fixture f;

    (void)state;
    post_ok(&f, ALERT_HEAD "\"area\":{\"wijken\":[\"WK010601\","
                           "\"WK010603\"]}}");
    assert_int_equal(f.post.area->kind, PROTO_AREA_CODES);
    assert_int_equal(f.post.area->count, 2);
    assert_string_equal(f.post.area->buurten[1], "WK010603");
    post_done(&f);
    post_ok(&f, ALERT_HEAD "\"area\":{\"gemeenten\":[\"GM0106\"]}}");
    assert_int_equal(f.post.area->kind, PROTO_AREA_CODES);
    assert_string_equal(f.post.area->buurten[0], "GM0106");
    post_done(&f);
    post_rejects(ALERT_HEAD "\"area\":{\"wijken\":[\"BU01060101\"]}}",
                 "post.area.wijken[0]");
    post_rejects(ALERT_HEAD "\"area\":{\"gemeenten\":[\"WK010601\"]}}",
                 "post.area.gemeenten[0]");
    post_rejects(ALERT_HEAD "\"area\":{\"wijken\":[]}}", "post.area.wijken");
    post_rejects(ALERT_HEAD "\"area\":{\"wijken\":[\"WK010601\"],"
                            "\"gemeenten\":[\"GM0106\"]}}",
                 "post.area");
}

/* Builds an alert whose area lists n distinct buurten. */
static char *alert_with_buurten(int n)
{
    size_t cap = (size_t)n * 14 + 256;
    char *json = malloc(cap);
    size_t len;

    assert_non_null(json);
    len = (size_t)snprintf(json, cap, ALERT_HEAD "\"area\":{\"buurten\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(json + len, cap - len, "%s\"BU%08d\"",
                                i ? "," : "", i);
    snprintf(json + len, cap - len, "]}}");
    return json;
}

static void area_buurten_limit(void **state)
{
    struct post_fixture f;
    char *json = alert_with_buurten(PROTO_AREA_MAX);
    const char *why = NULL;

    (void)state;
    post_ok(&f, json);
    assert_int_equal(f.post.area->count, PROTO_AREA_MAX);
    assert_string_equal(f.post.area->buurten[PROTO_AREA_MAX - 1], "BU00000511");
    post_done(&f);
    free(json);
    json = alert_with_buurten(PROTO_AREA_MAX + 1);
    f.tree = json_strict_parse(json, strlen(json), PROTO_MAX_DEPTH, &why);
    assert_non_null(f.tree);
    assert_int_equal(proto_parse_post(f.tree, &f.post, &f.err), RELAY_EINVAL);
    assert_string_equal(f.err.message, "post.area.buurten: at most 512 codes");
    cJSON_Delete(f.tree);
    free(json);
}

static void area_circle_rules(void **state)
{
    struct post_fixture f;

#define CIRCLE(x) ALERT_HEAD "\"area\":{\"circle\":" x "}}"
    (void)state;
    post_ok(&f, CIRCLE("{\"lat\":53.2,\"lon\":5.8,\"radius_m\":250.5}"));
    assert_int_equal(f.post.area->kind, PROTO_AREA_CIRCLE);
    assert_true(f.post.area->lat == 53.2);
    assert_true(f.post.area->lon == 5.8);
    assert_true(f.post.area->radius_m == 250.5);
    post_done(&f);
    post_ok(&f, CIRCLE("{\"lat\":-90,\"lon\":180,\"radius_m\":100000}"));
    assert_true(f.post.area->radius_m == 100000.0);
    post_done(&f);
    post_ok(&f, CIRCLE("{\"lat\":90,\"lon\":-180,\"radius_m\":0.001}"));
    post_done(&f);
    post_rejects(CIRCLE("[53.2,5.8,250]"), "post.area.circle");
    post_rejects(CIRCLE("{\"lon\":5.8,\"radius_m\":1}"),
                 "post.area.circle.lat");
    post_rejects(CIRCLE("{\"lat\":90.5,\"lon\":5.8,\"radius_m\":1}"),
                 "post.area.circle.lat");
    post_rejects(CIRCLE("{\"lat\":\"53\",\"lon\":5.8,\"radius_m\":1}"),
                 "post.area.circle.lat");
    post_rejects(CIRCLE("{\"lat\":53,\"radius_m\":1}"), "post.area.circle.lon");
    post_rejects(CIRCLE("{\"lat\":53,\"lon\":-180.01,\"radius_m\":1}"),
                 "post.area.circle.lon");
    post_rejects(CIRCLE("{\"lat\":53,\"lon\":5}"), "post.area.circle.radius_m");
    post_rejects(CIRCLE("{\"lat\":53,\"lon\":5,\"radius_m\":0}"),
                 "post.area.circle.radius_m");
    post_rejects(CIRCLE("{\"lat\":53,\"lon\":5,\"radius_m\":-5}"),
                 "post.area.circle.radius_m");
    post_rejects(CIRCLE("{\"lat\":53,\"lon\":5,\"radius_m\":100000.5}"),
                 "post.area.circle.radius_m");
    post_rejects(CIRCLE("{\"lat\":53,\"lon\":5,\"radius_m\":\"9\"}"),
                 "post.area.circle.radius_m");
#undef CIRCLE
}

#define POLY(x) ALERT_HEAD "\"area\":{\"polygon\":" x "}}"

static void area_polygon_open_and_closed(void **state)
{
    struct post_fixture f;

    (void)state;
    post_ok(&f, POLY("[[53.1,5.7],[53.2,5.8],[53.1,5.9]]"));
    assert_int_equal(f.post.area->kind, PROTO_AREA_POLYGON);
    assert_int_equal(f.post.area->count, 3);
    assert_true(f.post.area->points[0][0] == 53.1);
    assert_true(f.post.area->points[0][1] == 5.7);
    assert_true(f.post.area->points[2][0] == 53.1);
    assert_true(f.post.area->points[2][1] == 5.9);
    post_done(&f);
    /* Closed ring: the closing point is dropped. */
    post_ok(&f, POLY("[[53.1,5.7],[53.2,5.8],[53.1,5.9],[53.1,5.7]]"));
    assert_int_equal(f.post.area->count, 3);
    post_done(&f);
    /* A repeated point is allowed while 3 distinct remain. */
    post_ok(&f, POLY("[[1,1],[1,1],[2,2],[3,1]]"));
    assert_int_equal(f.post.area->count, 4);
    post_done(&f);
}

static void area_polygon_rejects(void **state)
{
    (void)state;
    post_rejects(POLY("{}"), "post.area.polygon");
    post_rejects(POLY("[]"), "post.area.polygon");
    post_rejects(POLY("[[1,1],[2,2]]"), "post.area.polygon");
    post_rejects(POLY("[[1,1],[2,2],[1,1]]"), "post.area.polygon");
    post_rejects(POLY("[[1,1],[1,1],[1,1]]"), "post.area.polygon");
    post_rejects(POLY("[[1,1],[2,2],[2,2],[1,1]]"), "post.area.polygon");
    post_rejects(POLY("[[1,1],[2,2],[3]]"), "post.area.polygon[2]");
    post_rejects(POLY("[[1,1],[2,2],[3,3,3]]"), "post.area.polygon[2]");
    post_rejects(POLY("[[1,1],[2,2],\"3,3\"]"), "post.area.polygon[2]");
    post_rejects(POLY("[[1,1],[2,\"2\"],[3,3]]"), "post.area.polygon[1]");
    post_rejects(POLY("[[91,1],[2,2],[3,3]]"), "post.area.polygon[0]");
    post_rejects(POLY("[[1,1],[2,181],[3,3]]"), "post.area.polygon[1]");
    post_rejects(POLY("[{\"lat\":1,\"lon\":1},[2,2],[3,3]]"),
                 "post.area.polygon[0]");
}

#undef POLY

/* Builds a polygon of n points, closed (last = first) when 'closed'. */
static char *alert_with_polygon(int n, int closed)
{
    size_t cap = (size_t)n * 24 + 256;
    char *json = malloc(cap);
    size_t len;

    assert_non_null(json);
    len = (size_t)snprintf(json, cap, ALERT_HEAD "\"area\":{\"polygon\":[");
    for (int i = 0; i < n; i++) {
        int k = (closed && i == n - 1) ? 0 : i;

        len += (size_t)snprintf(json + len, cap - len, "%s[%d.5,%d]",
                                i ? "," : "", k % 80, k % 170);
    }
    snprintf(json + len, cap - len, "]}}");
    return json;
}

static void area_polygon_limit(void **state)
{
    struct post_fixture f;
    char *json;

    (void)state;
    json = alert_with_polygon(PROTO_AREA_MAX, 0);
    post_ok(&f, json);
    assert_int_equal(f.post.area->count, PROTO_AREA_MAX);
    post_done(&f);
    free(json);
    /* 512 points plus the closing one. */
    json = alert_with_polygon(PROTO_AREA_MAX + 1, 1);
    post_ok(&f, json);
    assert_int_equal(f.post.area->count, PROTO_AREA_MAX);
    assert_true(f.post.area->points[PROTO_AREA_MAX - 1][1] == 511 % 170);
    post_done(&f);
    free(json);
    json = alert_with_polygon(PROTO_AREA_MAX + 1, 0);
    post_rejects(json, "post.area.polygon");
    free(json);
    json = alert_with_polygon(PROTO_AREA_MAX + 2, 1);
    post_rejects(json, "post.area.polygon");
    free(json);
}

/* --- posts: the case kinds ---------------------------------------------- */

static void update_post(void **state)
{
    struct post_fixture f;

    (void)state;
    post_ok(&f, "{\"kind\":\"update\",\"case\":\"K-1\",\"body\":\"Nieuw\"}");
    assert_int_equal(f.post.kind, PROTO_POST_UPDATE);
    assert_string_equal(f.post.case_id, "K-1");
    assert_string_equal(f.post.body, "Nieuw");
    assert_null(f.post.area);
    post_done(&f);
    post_ok(&f, "{\"kind\":\"update\",\"case\":\"K-1\",\"body\":\"b\","
                "\"area\":{\"circle\":{\"lat\":1,\"lon\":2,"
                "\"radius_m\":3}}}");
    assert_non_null(f.post.area);
    assert_int_equal(f.post.area->kind, PROTO_AREA_CIRCLE);
    post_done(&f);
    post_rejects("{\"kind\":\"update\",\"body\":\"b\"}", "post.case");
    post_rejects("{\"kind\":\"update\",\"case\":\"K-1\"}", "post.body");
    post_rejects("{\"kind\":\"update\",\"case\":\"K-1\",\"body\":\"b\","
                 "\"area\":{}}",
                 "post.area");
}

static void case_id_rules(void **state)
{
    struct post_fixture f;
    char *id = repeat('k', 64);
    char *json = fmt("{\"kind\":\"approve\",\"case\":\"%s\"}", id);

    (void)state;
    post_ok(&f, json);
    assert_string_equal(f.post.case_id, id);
    post_done(&f);
    free(json);
    json = fmt("{\"kind\":\"approve\",\"case\":\"%sk\"}", id);
    post_rejects(json, "post.case");
    free(json);
    free(id);
    post_rejects("{\"kind\":\"approve\",\"case\":\"a b\"}", "post.case");
    post_rejects("{\"kind\":\"approve\",\"case\":\"a:b\"}", "post.case");
    post_rejects("{\"kind\":\"approve\",\"case\":\"\"}", "post.case");
    post_rejects("{\"kind\":\"approve\",\"case\":42}", "post.case");
    post_rejects("{\"kind\":\"approve\"}", "post.case");
}

static void close_post(void **state)
{
    static const char *const outcomes[] = {"found", "not_found", "resolved",
                                           "cancelled", "other"};
    struct post_fixture f;

    (void)state;
    for (int i = 0; i < 5; i++) {
        char *json = fmt("{\"kind\":\"close\",\"case\":\"K1\",\"body\":"
                         "\"Afgesloten\",\"outcome\":\"%s\"}",
                         outcomes[i]);

        post_ok(&f, json);
        assert_int_equal(f.post.kind, PROTO_POST_CLOSE);
        assert_string_equal(f.post.outcome, outcomes[i]);
        assert_string_equal(f.post.body, "Afgesloten");
        assert_string_equal(f.post.case_id, "K1");
        post_done(&f);
        free(json);
    }
    post_rejects("{\"kind\":\"close\",\"case\":\"K1\",\"body\":\"b\","
                 "\"outcome\":\"Found\"}",
                 "post.outcome");
    post_rejects("{\"kind\":\"close\",\"case\":\"K1\",\"body\":\"b\"}",
                 "post.outcome");
    post_rejects("{\"kind\":\"close\",\"case\":\"K1\",\"outcome\":\"found\"}",
                 "post.body");
}

static void tip_post(void **state)
{
    struct post_fixture f;

    (void)state;
    post_ok(&f, "{\"kind\":\"tip\",\"case\":\"K1\",\"body\":\"Gezien\","
                "\"anonymous\":true,\"title\":5}");
    assert_int_equal(f.post.kind, PROTO_POST_TIP);
    assert_string_equal(f.post.body, "Gezien");
    assert_int_equal(f.post.anonymous, 1);
    /* Fields of other kinds are ignored, not type-checked. */
    assert_null(f.post.title);
    post_done(&f);
    post_ok(&f, "{\"kind\":\"tip\",\"case\":\"K1\",\"body\":\"b\"}");
    assert_int_equal(f.post.anonymous, 0);
    post_done(&f);
    post_rejects("{\"kind\":\"tip\",\"case\":\"K1\"}", "post.body");
    post_rejects("{\"kind\":\"tip\",\"case\":\"K1\",\"body\":\"b\","
                 "\"anonymous\":\"yes\"}",
                 "post.anonymous");
}

static void status_post(void **state)
{
    static const char *const states[] = {"acknowledged", "in_progress",
                                         "resolved",     "referred",
                                         "no_action",    "duplicate"};
    struct post_fixture f;

    (void)state;
    for (int i = 0; i < 6; i++) {
        char *json = fmt("{\"kind\":\"status\",\"case\":\"K1\","
                         "\"state\":\"%s\",\"note\":\"Bedankt\"}",
                         states[i]);

        post_ok(&f, json);
        assert_int_equal(f.post.kind, PROTO_POST_STATUS);
        assert_string_equal(f.post.state, states[i]);
        assert_string_equal(f.post.note, "Bedankt");
        post_done(&f);
        free(json);
    }
    post_rejects("{\"kind\":\"status\",\"case\":\"K1\",\"state\":\"done\","
                 "\"note\":\"n\"}",
                 "post.state");
    post_rejects("{\"kind\":\"status\",\"case\":\"K1\","
                 "\"state\":\"resolved\"}",
                 "post.note");
    post_rejects("{\"kind\":\"status\",\"case\":\"K1\",\"note\":\"n\"}",
                 "post.state");
}

static void approve_post(void **state)
{
    struct post_fixture f;

    (void)state;
    post_ok(&f, "{\"kind\":\"approve\",\"case\":\"K9\",\"confirm\":true}");
    assert_int_equal(f.post.kind, PROTO_POST_APPROVE);
    assert_string_equal(f.post.case_id, "K9");
    assert_int_equal(f.post.confirm, 1);
    post_done(&f);
}

/* --- posts: report ------------------------------------------------------ */

#define REPORT_TAIL "\"category\":\"inbraak\",\"body\":\"Raam open\""

static void report_post(void **state)
{
    struct post_fixture f;

    (void)state;
    post_ok(&f, "{\"kind\":\"report\",\"buurt\":\"BU01060101\"," REPORT_TAIL
                ",\"when\":\"2026-11-26T07:42:52+01:00\",\"called_112\":true,"
                "\"anonymous\":false}");
    assert_int_equal(f.post.kind, PROTO_POST_REPORT);
    assert_string_equal(f.post.buurt, "BU01060101");
    assert_string_equal(f.post.category, "inbraak");
    assert_string_equal(f.post.body, "Raam open");
    assert_string_equal(f.post.when, "2026-11-26T07:42:52+01:00");
    assert_int_equal(f.post.called_112, 1);
    assert_int_equal(f.post.anonymous, 0);
    assert_int_equal(f.post.has_location, 0);
    post_done(&f);

    post_ok(&f, "{\"kind\":\"report\",\"location\":{\"lat\":53.2,"
                "\"lon\":5.79}," REPORT_TAIL ",\"called_112\":false}");
    assert_null(f.post.buurt);
    assert_int_equal(f.post.has_location, 1);
    assert_true(f.post.location_lat == 53.2);
    assert_true(f.post.location_lon == 5.79);
    assert_int_equal(f.post.called_112, 0);
    assert_null(f.post.when);
    post_done(&f);

    post_ok(&f,
            "{\"kind\":\"report\",\"buurt\":\"BU01060101\"," REPORT_TAIL "}");
    assert_int_equal(f.post.called_112, -1);
    post_done(&f);
}

static void report_categories(void **state)
{
    static const char *const categories[] = {
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
    };
    struct post_fixture f;

    (void)state;
    for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++) {
        char *json = fmt("{\"kind\":\"report\",\"buurt\":\"BU01060101\","
                         "\"category\":\"%s\",\"body\":\"b\"}",
                         categories[i]);

        post_ok(&f, json);
        assert_string_equal(f.post.category, categories[i]);
        post_done(&f);
        free(json);
    }
    post_rejects("{\"kind\":\"report\",\"buurt\":\"BU01060101\","
                 "\"category\":\"Inbraak\",\"body\":\"b\"}",
                 "post.category");
    post_rejects("{\"kind\":\"report\",\"buurt\":\"BU01060101\","
                 "\"body\":\"b\"}",
                 "post.category");
}

static void report_rejects(void **state)
{
    (void)state;
    post_rejects("{\"kind\":\"report\"," REPORT_TAIL "}", "post.buurt");
    post_rejects("{\"kind\":\"report\",\"buurt\":\"WK010601\"," REPORT_TAIL "}",
                 "post.buurt");
    post_rejects("{\"kind\":\"report\",\"buurt\":5," REPORT_TAIL "}",
                 "post.buurt");
    post_rejects("{\"kind\":\"report\",\"location\":[53,5]," REPORT_TAIL "}",
                 "post.location");
    post_rejects(
        "{\"kind\":\"report\",\"location\":{\"lat\":95,\"lon\":5}," REPORT_TAIL
        "}",
        "post.location.lat");
    post_rejects("{\"kind\":\"report\",\"location\":{\"lat\":53}," REPORT_TAIL
                 "}",
                 "post.location.lon");
    post_rejects("{\"kind\":\"report\",\"buurt\":\"BU01060101\","
                 "\"category\":\"inbraak\"}",
                 "post.body");
    post_rejects("{\"kind\":\"report\",\"buurt\":\"BU01060101\"," REPORT_TAIL
                 ",\"called_112\":1}",
                 "post.called_112");
    post_rejects("{\"kind\":\"report\",\"buurt\":\"BU01060101\"," REPORT_TAIL
                 ",\"anonymous\":null}",
                 "post.anonymous");
}

static void report_when_formats(void **state)
{
    static const char *const good[] = {
        "2026-11-26T07:42:52+01:00", "2026-11-26T07:42:52Z",
        "2026-11-26T07:42:52.123Z",  "2026-11-26T07:42:52.5-05:30",
        "2024-02-29T23:59:59+00:00", "2000-02-29T00:00:00.123456789Z",
    };
    static const char *const bad[] = {
        "2026-11-26T07:42:52",
        "2026-11-26 07:42:52Z",
        "2026-11-26t07:42:52Z",
        "2026-11-26T07:42:52z",
        "2026-02-29T07:42:52Z",
        "1900-02-29T07:42:52Z",
        "2026-13-01T07:42:52Z",
        "2026-00-01T07:42:52Z",
        "2026-04-31T07:42:52Z",
        "2026-11-26T24:00:00Z",
        "2026-11-26T07:60:00Z",
        "2026-11-26T07:42:60Z",
        "2026-11-26T07:42:52+01",
        "2026-11-26T07:42:52+0100",
        "2026-11-26T07:42:52+24:00",
        "2026-11-26T07:42:52.Z",
        "2026-11-26T07:42:52.1234567890Z",
        "2026-11-26T07:42:52Z ",
        "26-11-26T07:42:52Z",
        "2026-11-26",
        "gisteren",
        "2026-11-26T07:42:52+01:00x",
    };
    struct post_fixture f;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *json =
            fmt("{\"kind\":\"report\",\"buurt\":\"BU01060101\"," REPORT_TAIL
                ",\"when\":\"%s\"}",
                good[i]);

        post_ok(&f, json);
        assert_string_equal(f.post.when, good[i]);
        post_done(&f);
        free(json);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *json =
            fmt("{\"kind\":\"report\",\"buurt\":\"BU01060101\"," REPORT_TAIL
                ",\"when\":\"%s\"}",
                bad[i]);

        post_rejects(json, "post.when");
        free(json);
    }
    post_rejects("{\"kind\":\"report\",\"buurt\":\"BU01060101\"," REPORT_TAIL
                 ",\"when\":1795678972}",
                 "post.when");
}

/* --- posts: kind, confirm ----------------------------------------------- */

static void post_kind_rejects(void **state)
{
    struct post_fixture f;
    cJSON *array = cJSON_CreateArray();

    (void)state;
    post_rejects("{\"case\":\"K1\"}", "post.kind");
    post_rejects("{\"kind\":\"Alert\"}", "post.kind");
    post_rejects("{\"kind\":\"appeal\"}", "post.kind");
    post_rejects("{\"kind\":3}", "post.kind");
    post_rejects("{\"Kind\":\"tip\",\"case\":\"K1\",\"body\":\"b\"}",
                 "post.kind");
    post_rejects("{\"kind\":\"approve\",\"case\":\"K1\",\"confirm\":\"yes\"}",
                 "post.confirm");
    memset(&f, 0, sizeof(f));
    assert_int_equal(proto_parse_post(array, &f.post, &f.err), RELAY_EINVAL);
    assert_string_equal(f.err.code, PROTO_E_BAD_REQUEST);
    assert_true(names_field(f.err.message, "post"));
    cJSON_Delete(array);
}

static void post_kind_names(void **state)
{
    (void)state;
    assert_string_equal(proto_post_kind_name(PROTO_POST_ALERT), "alert");
    assert_string_equal(proto_post_kind_name(PROTO_POST_UPDATE), "update");
    assert_string_equal(proto_post_kind_name(PROTO_POST_CLOSE), "close");
    assert_string_equal(proto_post_kind_name(PROTO_POST_REPORT), "report");
    assert_string_equal(proto_post_kind_name(PROTO_POST_TIP), "tip");
    assert_string_equal(proto_post_kind_name(PROTO_POST_STATUS), "status");
    assert_string_equal(proto_post_kind_name(PROTO_POST_APPROVE), "approve");
    assert_string_equal(proto_post_kind_name((enum proto_post_kind)0),
                        "unknown");
    assert_string_equal(proto_post_kind_name((enum proto_post_kind)99),
                        "unknown");
}

/* A post reached through a frame, end to end. */
static void post_through_frame(void **state)
{
    struct proto_request req;
    struct proto_post post;
    struct proto_error err;

    (void)state;
    parse_ok("{\"type\":\"post\",\"id\":\"m1\",\"post\":" ALERT_HEAD
             "\"area\":{\"polygon\":[[1,1],[2,2],[3,1],[1,1]]}}}",
             &req);
    assert_int_equal(proto_parse_post(req.post, &post, &err), RELAY_OK);
    assert_int_equal(post.kind, PROTO_POST_ALERT);
    assert_int_equal(post.area->count, 3);
    assert_string_equal(post.title, "Inbraak");
    proto_post_cleanup(&post);
    assert_null(post.area);
    proto_post_cleanup(NULL);
    proto_request_cleanup(&req);
}

/* --- builders ----------------------------------------------------------- */

static void check_time_format(const char *t)
{
    int y, mo, d, h, mi, s, ms;

    assert_int_equal(strlen(t), 29);
    assert_int_equal(
        sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &y, &mo, &d, &h, &mi, &s, &ms),
        7);
    assert_true(y >= 2024);
    assert_string_equal(t + 23, "+00:00");
}

static void build_welcome(void **state)
{
    static const char *const buurten[] = {"BU01060101", "BU01060102"};
    char *frame = proto_build_welcome("u-1", "police", buurten, 2, "r\"1");
    cJSON *root = frame_tree(frame);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(user, "buurten");

    (void)state;
    assert_string_equal(str_of(root, "type"), "welcome");
    assert_string_equal(str_of(root, "ref"), "r\"1");
    assert_string_equal(str_of(user, "id"), "u-1");
    assert_string_equal(str_of(user, "role"), "police");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(cJSON_GetArrayItem(list, 0)->valuestring, "BU01060101");
    assert_string_equal(cJSON_GetArrayItem(list, 1)->valuestring, "BU01060102");
    check_time_format(str_of(root, "server_time"));
    cJSON_Delete(root);
    free(frame);
}

static void build_welcome_anonymous(void **state)
{
    char *frame = proto_build_welcome(NULL, "anonymous", NULL, 0, NULL);
    cJSON *root = frame_tree(frame);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(user, "buurten");

    (void)state;
    assert_false(has(user, "id"));
    assert_string_equal(str_of(user, "role"), "anonymous");
    assert_true(cJSON_IsArray(list));
    assert_int_equal(cJSON_GetArraySize(list), 0);
    assert_false(has(root, "ref"));
    cJSON_Delete(root);
    free(frame);
}

static void build_subscribed(void **state)
{
    char *frame = proto_build_subscribed("buurt:BU01060101", "e1",
                                         UINT64_C(9007199254740992), 1, "r2");
    cJSON *root = frame_tree(frame);

    (void)state;
    assert_string_equal(str_of(root, "type"), "subscribed");
    assert_string_equal(str_of(root, "channel"), "buurt:BU01060101");
    assert_string_equal(str_of(root, "epoch"), "e1");
    assert_true(cJSON_GetObjectItemCaseSensitive(root, "seq")->valuedouble ==
                9007199254740992.0);
    assert_non_null(strstr(frame, "\"seq\":9007199254740992"));
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "recovered")));
    assert_string_equal(str_of(root, "ref"), "r2");
    cJSON_Delete(root);
    free(frame);

    /* Integers stay integers in the text (cJSON alone writes 1e+15). */
    frame = proto_build_subscribed("case:c", "e", UINT64_C(1000000000000000), 0,
                                   NULL);
    root = frame_tree(frame);
    assert_non_null(strstr(frame, "\"seq\":1000000000000000"));
    assert_true(
        cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "recovered")));
    assert_false(has(root, "ref"));
    cJSON_Delete(root);
    free(frame);

    frame = proto_build_subscribed("case:c", "e", 0, -1, NULL);
    root = frame_tree(frame);
    assert_false(has(root, "recovered"));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(root, "seq")->valueint,
                     0);
    cJSON_Delete(root);
    free(frame);
}

static void build_unsubscribed(void **state)
{
    char *frame = proto_build_unsubscribed("user:u1", "x");
    cJSON *root = frame_tree(frame);

    (void)state;
    assert_string_equal(str_of(root, "type"), "unsubscribed");
    assert_string_equal(str_of(root, "channel"), "user:u1");
    assert_string_equal(str_of(root, "ref"), "x");
    cJSON_Delete(root);
    free(frame);
    frame = proto_build_unsubscribed("user:u1", NULL);
    assert_string_equal(frame,
                        "{\"type\":\"unsubscribed\",\"channel\":\"user:u1\"}");
    free(frame);
}

static void build_error(void **state)
{
    char *frame = proto_build_error(
        PROTO_E_RATE_LIMITED, "te veel \"berichten\"\nwacht", "r3", "p9", 30);
    cJSON *root = frame_tree(frame);

    (void)state;
    assert_string_equal(str_of(root, "type"), "error");
    assert_string_equal(str_of(root, "code"), "rate_limited");
    assert_string_equal(str_of(root, "message"),
                        "te veel \"berichten\"\nwacht");
    assert_string_equal(str_of(root, "ref"), "r3");
    assert_string_equal(str_of(root, "id"), "p9");
    assert_int_equal(
        cJSON_GetObjectItemCaseSensitive(root, "retry_after")->valueint, 30);
    cJSON_Delete(root);
    free(frame);

    frame = proto_build_error(PROTO_E_BAD_REQUEST, "type: required", NULL, NULL,
                              -1);
    root = frame_tree(frame);
    assert_string_equal(str_of(root, "code"), "bad_request");
    assert_string_equal(str_of(root, "message"), "type: required");
    assert_false(has(root, "ref"));
    assert_false(has(root, "id"));
    assert_false(has(root, "retry_after"));
    cJSON_Delete(root);
    free(frame);

    frame = proto_build_error(PROTO_E_RATE_LIMITED, "m", NULL, NULL, 0);
    root = frame_tree(frame);
    assert_int_equal(
        cJSON_GetObjectItemCaseSensitive(root, "retry_after")->valueint, 0);
    cJSON_Delete(root);
    free(frame);
}

/* A refused frame's error and ref survive the trip into an error frame. */
static void build_error_from_parse_failure(void **state)
{
    struct proto_request req;
    struct proto_error err;
    char *frame;
    cJSON *root;

    (void)state;
    assert_true(parse("{\"type\":\"post\",\"id\":\"\xc3\xa9\xc3\xa9\","
                      "\"ref\":\"\\u00e9\\n\",\"post\":1}",
                      &req, &err) < 0);
    frame = proto_build_error(err.code, err.message,
                              req.has_ref ? req.ref : NULL, req.id, -1);
    root = frame_tree(frame);
    assert_string_equal(str_of(root, "code"), "bad_request");
    assert_string_equal(str_of(root, "message"), err.message);
    assert_string_equal(str_of(root, "ref"), "\xc3\xa9\n");
    assert_string_equal(str_of(root, "id"), "\xc3\xa9\xc3\xa9");
    cJSON_Delete(root);
    free(frame);
}

static void build_pong(void **state)
{
    char *frame = proto_build_pong(NULL);

    (void)state;
    assert_string_equal(frame, "{\"type\":\"pong\"}");
    free(frame);
    frame = proto_build_pong("z");
    assert_string_equal(frame, "{\"type\":\"pong\",\"ref\":\"z\"}");
    free(frame);
}

static void format_time(void **state)
{
    char out[32];

    (void)state;
    proto_format_time(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000+00:00");
    proto_format_time(1795678972.123, out, sizeof(out));
    assert_string_equal(out, "2026-11-26T07:42:52.123+00:00");
    proto_format_time(1795678972.9996, out, sizeof(out));
    assert_string_equal(out, "2026-11-26T07:42:53.000+00:00");
    proto_format_time(-0.5, out, sizeof(out));
    assert_string_equal(out, "1969-12-31T23:59:59.500+00:00");
    proto_format_time(951782400.0, out, sizeof(out)); /* leap day 2000 */
    assert_string_equal(out, "2000-02-29T00:00:00.000+00:00");
    proto_format_time(NAN, out, sizeof(out));
    assert_string_equal(out, "");
    proto_format_time(INFINITY, out, sizeof(out));
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_auth),
        cmocka_unit_test(frame_subscribe),
        cmocka_unit_test(frame_subscribe_since),
        cmocka_unit_test(frame_unsubscribe),
        cmocka_unit_test(frame_post),
        cmocka_unit_test(frame_read),
        cmocka_unit_test(frame_ping_ignores_unknown_fields),
        cmocka_unit_test(frame_limits_inclusive),
        cmocka_unit_test(frame_rejects_bad_json),
        cmocka_unit_test(frame_rejects_deep_nesting),
        cmocka_unit_test(frame_rejects_non_object),
        cmocka_unit_test(frame_rejects_type),
        cmocka_unit_test(frame_rejects_ref),
        cmocka_unit_test(frame_rejects_channel),
        cmocka_unit_test(frame_rejects_since),
        cmocka_unit_test(frame_rejects_read_seq),
        cmocka_unit_test(frame_rejects_auth),
        cmocka_unit_test(frame_rejects_post),
        cmocka_unit_test(frame_failure_echoes_ref_and_id),
        cmocka_unit_test(alert_valid),
        cmocka_unit_test(alert_every_cap_value),
        cmocka_unit_test(alert_missing_fields),
        cmocka_unit_test(alert_vocabulary_messages),
        cmocka_unit_test(alert_text_fields),
        cmocka_unit_test(alert_vermissing_needs_consent),
        cmocka_unit_test(area_shape_rejects),
        cmocka_unit_test(area_buurten_rules),
        cmocka_unit_test(area_codes_rules),
        cmocka_unit_test(area_buurten_limit),
        cmocka_unit_test(area_circle_rules),
        cmocka_unit_test(area_polygon_open_and_closed),
        cmocka_unit_test(area_polygon_rejects),
        cmocka_unit_test(area_polygon_limit),
        cmocka_unit_test(update_post),
        cmocka_unit_test(case_id_rules),
        cmocka_unit_test(close_post),
        cmocka_unit_test(tip_post),
        cmocka_unit_test(status_post),
        cmocka_unit_test(approve_post),
        cmocka_unit_test(report_post),
        cmocka_unit_test(report_categories),
        cmocka_unit_test(report_rejects),
        cmocka_unit_test(report_when_formats),
        cmocka_unit_test(post_kind_rejects),
        cmocka_unit_test(post_kind_names),
        cmocka_unit_test(post_through_frame),
        cmocka_unit_test(build_welcome),
        cmocka_unit_test(build_welcome_anonymous),
        cmocka_unit_test(build_subscribed),
        cmocka_unit_test(build_unsubscribed),
        cmocka_unit_test(build_error),
        cmocka_unit_test(build_error_from_parse_failure),
        cmocka_unit_test(build_pong),
        cmocka_unit_test(format_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
