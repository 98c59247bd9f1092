/*
 * protocol.h - wire contract v1: client frames in, server frames out.
 *
 * Parsing is two steps. proto_parse_request() turns one text frame into a
 * typed request (strict JSON, known "type", required fields present and of
 * the right type, sizes bounded). For "post" frames, proto_parse_post()
 * then validates the post object against its kind's rules (required fields,
 * CAP vocabularies, categories, outcomes, states, area shape).
 *
 * Builders return a heap string holding one complete JSON frame; the caller
 * frees it with free(). They return NULL only when out of memory.
 *
 * Unknown fields are ignored (the contract is extended additively), but
 * known fields of the wrong type are a bad_request.
 */
#ifndef RELAY_PROTOCOL_H
#define RELAY_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "channel.h"

#define PROTO_SUBPROTOCOL "buurtrelay.v1"
#define PROTO_REF_MAX 128    /* longest "ref" / post "id" accepted */
#define PROTO_EPOCH_MAX 32   /* longest epoch string */
#define PROTO_TOKEN_MAX 2048 /* longest auth token */
#define PROTO_MAX_DEPTH 16   /* JSON nesting limit for client frames */
#define PROTO_AREA_MAX 512   /* most buurten / polygon points in an area */

/* Error codes of the contract, as they appear on the wire. */
#define PROTO_E_BAD_REQUEST "bad_request"
#define PROTO_E_UNAUTHORIZED "unauthorized"
#define PROTO_E_FORBIDDEN "forbidden"
#define PROTO_E_NOT_FOUND "not_found"
#define PROTO_E_CONFLICT "conflict"
#define PROTO_E_TOO_LARGE "too_large"
#define PROTO_E_RATE_LIMITED "rate_limited"
#define PROTO_E_UNAVAILABLE "unavailable"
#define PROTO_E_INTERNAL "internal"

/* Why a frame or post was refused: a wire code and a human sentence. */
struct proto_error {
    const char *code;     /* one of PROTO_E_* (static) */
    char message[200];    /* English, names the offending field */
    char extra_json[256]; /* extra members for the error frame, e.g.
                             "\"reason\":\"description_check\",..."; ""
                             when none. Zero the struct before use. */
};

enum proto_type {
    PROTO_T_AUTH = 1,
    PROTO_T_SUBSCRIBE,
    PROTO_T_UNSUBSCRIBE,
    PROTO_T_POST,
    PROTO_T_READ,
    PROTO_T_PING,
};

/*
 * One client frame. 'root' owns the parsed tree; 'post' and 'token' point
 * into it. Release with proto_request_cleanup().
 */
struct proto_request {
    enum proto_type type;
    int has_ref;
    char ref[PROTO_REF_MAX + 1];        /* echoed in the reply */
    char channel[CHANNEL_NAME_MAX + 1]; /* subscribe/unsubscribe/read */
    int has_since;                      /* subscribe with "since" */
    char since_epoch[PROTO_EPOCH_MAX + 1];
    uint64_t since_seq;
    uint64_t seq;               /* read */
    char id[PROTO_REF_MAX + 1]; /* post: idempotency key */
    const char *token;          /* auth: borrowed from root */
    const cJSON *post;          /* post: borrowed from root */
    cJSON *root;                /* owned */
};

/*
 * Parses and checks one frame. On success fills 'out' (caller must call
 * proto_request_cleanup) and returns RELAY_OK. On failure returns a negative
 * code, fills 'err' (code bad_request, or too_large for oversized strings),
 * and still fills out->ref/has_ref (and out->id for posts) when they could
 * be read so the error can echo them; 'out' needs no cleanup then.
 * Rules: strict JSON (json_strict.h); must be an object; "type" a known
 * string; "ref" a string <= PROTO_REF_MAX if present; subscribe/unsubscribe/
 * read: "channel" valid per channel_parse(); since = {"epoch": string,
 * "seq": non-negative integer <= 2^53}; read: "seq" likewise; post: "id" a
 * non-empty string <= PROTO_REF_MAX and "post" an object; auth: "token" a
 * non-empty string <= PROTO_TOKEN_MAX.
 */
int proto_parse_request(const char *buf, size_t len, struct proto_request *out,
                        struct proto_error *err);
void proto_request_cleanup(struct proto_request *req);

enum proto_post_kind {
    PROTO_POST_ALERT = 1,
    PROTO_POST_UPDATE,
    PROTO_POST_CLOSE,
    PROTO_POST_REPORT,
    PROTO_POST_TIP,
    PROTO_POST_STATUS,
    PROTO_POST_APPROVE,
    PROTO_POST_FEEDBACK, /* extension: reporter's satisfaction */
};

enum proto_area_kind {
    PROTO_AREA_NONE = 0,
    PROTO_AREA_BUURTEN,
    PROTO_AREA_CIRCLE,
    PROTO_AREA_POLYGON,
    PROTO_AREA_CODES, /* extension: {"wijken": [...]} or {"gemeenten": [...]}:
                         every buurt of those codes; codes in buurten[] */
};

/* An area as posted. Points are [lat, lon] in WGS84 degrees. */
struct proto_area {
    enum proto_area_kind kind;
    int count;                           /* buurten or polygon points */
    const char *buurten[PROTO_AREA_MAX]; /* borrowed: BU codes (BUURTEN) or
                                            WK/GM codes (CODES) */
    double lat, lon, radius_m;           /* circle */
    double points[PROTO_AREA_MAX][2];    /* polygon, [lat, lon] */
};

/*
 * A validated post. Strings are borrowed from the cJSON tree it was parsed
 * from; absent optional strings are NULL. 'area' is heap-allocated only
 * when the post carries one (proto_post_cleanup frees it).
 */
struct proto_post {
    enum proto_post_kind kind;
    const char *case_id;     /* update/close/tip/status/approve */
    const char *title;       /* alert */
    const char *body;        /* alert/update/close/report/tip */
    const char *event;       /* alert, CAP event (e.g. "vermissing") */
    const char *urgency;     /* alert, CAP */
    const char *severity;    /* alert, CAP */
    const char *certainty;   /* alert, CAP, optional */
    const char *instruction; /* alert, optional */
    const char *outcome;     /* close */
    const char *category;    /* report */
    const char *buurt;       /* report */
    const char *when;        /* report, ISO 8601 with offset, optional */
    const char *state;       /* status */
    const char *note;        /* status */
    int consent;             /* alert: consent true given */
    int called_112;          /* report: -1 absent, 0 false, 1 true */
    int anonymous;           /* report/tip */
    int confirm;             /* description check confirmed */
    int satisfied;           /* feedback: -1 absent, 0 no, 1 yes */
    const char *comment;     /* feedback, optional */
    int has_location;        /* report: "location": {"lat","lon"} */
    double location_lat, location_lon;
    struct proto_area *area; /* alert (required), update (optional) */
};

/*
 * Validates 'post' (the "post" object of a frame or the REST body) per the
 * contract's table of kinds. Text fields must be non-empty strings; title
 * <= 200 bytes, body/note <= 4000 bytes. On failure returns a negative code
 * and fills 'err' (bad_request naming the field); 'out' needs no cleanup.
 */
int proto_parse_post(const cJSON *post, struct proto_post *out,
                     struct proto_error *err);
void proto_post_cleanup(struct proto_post *post);

/* Wire name of a post kind ("alert", ...). */
const char *proto_post_kind_name(enum proto_post_kind kind);

/* --- server frames ------------------------------------------------------ */

/* {"type":"welcome","user":{"id","role","buurten":[...]},"server_time"}.
 * 'id' NULL for anonymous (then "id" is omitted). server_time ISO 8601. */
char *proto_build_welcome(const char *id, const char *role,
                          const char *const *buurten, int nbuurten,
                          const char *ref);

/* The same with "wijken" in user (extension: a BOA's districts, so a
 * console can open their desks). wijken may be NULL (then omitted). */
char *proto_build_welcome_wijken(const char *id, const char *role,
                                 const char *const *buurten, int nbuurten,
                                 const char *const *wijken, int nwijken,
                                 const char *ref);

/* {"type":"subscribed","channel","epoch","seq"[,"recovered"][,"ref"]}.
 * recovered: -1 = omit, 0 = false, 1 = true. */
char *proto_build_subscribed(const char *channel, const char *epoch,
                             uint64_t seq, int recovered, const char *ref);

/* {"type":"unsubscribed","channel"[,"ref"]} */
char *proto_build_unsubscribed(const char *channel, const char *ref);

/* {"type":"error","code","message"[,"ref"][,"id"][,"retry_after"]}.
 * retry_after < 0 = omit. */
char *proto_build_error(const char *code, const char *message, const char *ref,
                        const char *id, int retry_after);

/* proto_build_error() plus err->extra_json's members when present. */
char *proto_build_error_ex(const struct proto_error *err, const char *ref,
                           const char *id);

/* {"type":"pong"[,"ref"]} */
char *proto_build_pong(const char *ref);

/* ISO 8601 UTC with offset, "2026-11-26T07:42:52.123+00:00". out >= 32. */
void proto_format_time(double unix_seconds, char *out, size_t outlen);

#endif
