/*
 * fuzz_client_frame.c - one untrusted client frame through the whole
 * parsing path: proto_parse_request(), then proto_parse_post() for posts.
 *
 * Invariants (abort() when broken, so both libFuzzer and the corpus replay
 * report them): a refusal carries one of the contract's error codes, a
 * NUL-terminated message and no tree to free; an acceptance leaves
 * bounded, NUL-terminated fields and a post whose required parts exist;
 * ref/id echoed into an error frame come back unchanged; the success path
 * frees everything (LeakSanitizer checks that).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "error.h"
#include "json_strict.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static int known_code(const char *code)
{
    static const char *const codes[] = {
        PROTO_E_BAD_REQUEST,  PROTO_E_UNAUTHORIZED, PROTO_E_FORBIDDEN,
        PROTO_E_NOT_FOUND,    PROTO_E_CONFLICT,     PROTO_E_TOO_LARGE,
        PROTO_E_RATE_LIMITED, PROTO_E_UNAVAILABLE,  PROTO_E_INTERNAL,
    };

    if (!code)
        return 0;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strcmp(code, codes[i]) == 0)
            return 1;
    }
    return 0;
}

static int terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

static void check_error(int rc, const struct proto_error *err)
{
    check(rc < 0);
    check(rc == RELAY_EINVAL || rc == RELAY_ETOOBIG || rc == RELAY_ENOMEM);
    check(known_code(err->code));
    check(terminated(err->message, sizeof(err->message)));
    check(err->message[0] != '\0');
    /* Our messages are our own ASCII: always valid in a text frame. */
    check(utf8_valid(err->message, strlen(err->message)));
}

/* The error frame for a refusal must parse and echo ref/id exactly. */
static void check_error_frame(const struct proto_request *req,
                              const struct proto_error *err)
{
    const char *why = NULL;
    const cJSON *item;
    char *frame;
    cJSON *root;

    frame = proto_build_error(err->code, err->message,
                              req->has_ref ? req->ref : NULL,
                              req->id[0] ? req->id : NULL, -1);
    check(frame != NULL);
    root = json_strict_parse(frame, strlen(frame), PROTO_MAX_DEPTH, &why);
    check(root != NULL);
    item = cJSON_GetObjectItemCaseSensitive(root, "ref");
    check(req->has_ref ? (cJSON_IsString(item) &&
                          strcmp(item->valuestring, req->ref) == 0)
                       : item == NULL);
    if (req->id[0]) {
        item = cJSON_GetObjectItemCaseSensitive(root, "id");
        check(cJSON_IsString(item) && strcmp(item->valuestring, req->id) == 0);
    }
    cJSON_Delete(root);
    free(frame);
}

static void check_area(const struct proto_area *area)
{
    check(area != NULL);
    switch (area->kind) {
    case PROTO_AREA_BUURTEN:
        check(area->count >= 1 && area->count <= PROTO_AREA_MAX);
        for (int i = 0; i < area->count; i++)
            check(channel_is_buurtcode(area->buurten[i]));
        break;
    case PROTO_AREA_CIRCLE:
        check(area->lat >= -90 && area->lat <= 90);
        check(area->lon >= -180 && area->lon <= 180);
        check(area->radius_m > 0 && area->radius_m <= 100000);
        break;
    case PROTO_AREA_POLYGON:
        check(area->count >= 3 && area->count <= PROTO_AREA_MAX);
        for (int i = 0; i < area->count; i++) {
            check(area->points[i][0] >= -90 && area->points[i][0] <= 90);
            check(area->points[i][1] >= -180 && area->points[i][1] <= 180);
        }
        break;
    default:
        abort();
    }
}

static void check_post(const struct proto_post *p)
{
    check(proto_post_kind_name(p->kind) != NULL);
    check(strcmp(proto_post_kind_name(p->kind), "unknown") != 0);
    check(p->called_112 >= -1 && p->called_112 <= 1);
    switch (p->kind) {
    case PROTO_POST_ALERT:
        check(p->title && p->body && p->urgency && p->severity);
        check(strlen(p->title) <= 200 && strlen(p->body) <= 4000);
        if (p->event && strcmp(p->event, "vermissing") == 0)
            check(p->consent == 1);
        check_area(p->area);
        break;
    case PROTO_POST_REPORT:
        check(p->buurt || p->has_location);
        check(!p->buurt || channel_is_buurtcode(p->buurt));
        check(p->category && p->body);
        check(p->area == NULL);
        break;
    case PROTO_POST_UPDATE:
        check(channel_is_id(p->case_id) && p->body);
        if (p->area)
            check_area(p->area);
        break;
    case PROTO_POST_CLOSE:
        check(channel_is_id(p->case_id) && p->body && p->outcome);
        break;
    case PROTO_POST_TIP:
        check(channel_is_id(p->case_id) && p->body);
        break;
    case PROTO_POST_STATUS:
        check(channel_is_id(p->case_id) && p->state && p->note);
        break;
    case PROTO_POST_APPROVE:
        check(channel_is_id(p->case_id));
        break;
    default:
        abort();
    }
}

static void check_request(const struct proto_request *req)
{
    check(req->root != NULL);
    check(terminated(req->ref, sizeof(req->ref)));
    check(terminated(req->id, sizeof(req->id)));
    check(terminated(req->channel, sizeof(req->channel)));
    check(terminated(req->since_epoch, sizeof(req->since_epoch)));
    check(req->since_seq <= UINT64_C(9007199254740992));
    check(req->seq <= UINT64_C(9007199254740992));
    switch (req->type) {
    case PROTO_T_AUTH:
        check(req->token && req->token[0] &&
              strlen(req->token) <= PROTO_TOKEN_MAX);
        break;
    case PROTO_T_SUBSCRIBE:
    case PROTO_T_UNSUBSCRIBE:
    case PROTO_T_READ:
        check(channel_parse(req->channel, NULL, NULL) == RELAY_OK);
        break;
    case PROTO_T_POST:
        check(req->id[0] != '\0');
        check(cJSON_IsObject(req->post));
        break;
    case PROTO_T_PING:
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_request req;
    struct proto_post post;
    struct proto_error err;
    int rc;

    memset(&err, 0, sizeof(err));
    rc = proto_parse_request((const char *)data, size, &req, &err);
    if (rc != RELAY_OK) {
        check_error(rc, &err);
        check(req.root == NULL && req.post == NULL && req.token == NULL);
        check(terminated(req.ref, sizeof(req.ref)));
        check(terminated(req.id, sizeof(req.id)));
        check_error_frame(&req, &err);
        return 0;
    }
    check_request(&req);
    if (req.type == PROTO_T_POST) {
        memset(&err, 0, sizeof(err));
        rc = proto_parse_post(req.post, &post, &err);
        if (rc == RELAY_OK) {
            check_post(&post);
            proto_post_cleanup(&post);
            check(post.area == NULL);
        } else {
            check_error(rc, &err);
            check(post.area == NULL && post.kind == 0);
            check_error_frame(&req, &err);
        }
    }
    proto_request_cleanup(&req);
    check(req.root == NULL);
    return 0;
}
