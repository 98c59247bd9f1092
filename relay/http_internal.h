/*
 * http_internal.h - what the REST files share: the per-request state and
 * the answering helpers of http_api.c. Not for the rest of the relay (use
 * http_api.h); it exists so an endpoint family can live in its own file
 * (group_api.c) and still answer exactly like the others.
 */
#ifndef RELAY_HTTP_INTERNAL_H
#define RELAY_HTTP_INTERNAL_H

#include <stddef.h>

#include <libwebsockets.h>
#include <uv.h>

#include "adapter.h"
#include "password.h"
#include "protocol.h"
#include "relay.h"
#include "token.h"

enum api_route {
    API_SESSION,
    API_POSTS,
    API_RESOLVE,
    API_CASE,
    API_HOOK,
    API_GROUPS, /* /api/v1/groups[/{id}]: group_api.c */
};

#define HOOK_TARGET_MAX 2048 /* path and query string */
#define HOOK_HEADERS_MAX 12

struct http_request_state {
    struct relay *relay;
    struct lws *wsi; /* NULL once the client went away */
    enum api_route route;
    char *body; /* collected body, NUL-terminated; once the work has
                   started an endpoint may replace it by its own flat
                   heap block (freed with free() like the body) */
    size_t len;
    int too_large; /* body passed max-frame */
    int busy;      /* async work in flight */
    int answered;  /* response ready in 'status'/'response' */
    unsigned status;
    char *response; /* heap JSON */
    char authz[TOKEN_MAX + 16];
    char idem[PROTO_REF_MAX + 1];
    char case_id[65]; /* GET /api/v1/cases/{id} */
    char ip[64];      /* peer address, for per-IP limits */

    /* login */
    char login[65];
    char password[PASSWORD_MAX_LEN + 1];
    size_t password_len;
    char hash[PASSWORD_HASH_MAX];
    char user_id[65];
    char role[17];
    long long tokens_after;
    int known;    /* login exists and is enabled */
    int verified; /* password matched (thread pool result) */
    uv_work_t work;

    /* webhook (/hooks/{adapter}/...) */
    char method[8];
    char adapter[ADAPTER_NAME_MAX + 1];
    char *target;                    /* path and query, as received */
    char *headers[HOOK_HEADERS_MAX]; /* "Name: value" */
    int nheaders;
    char ctype[64]; /* the answer's Content-Type */
};

/*
 * The answering helpers of http_api.c (their short names are theirs;
 * only REST files include this header).
 */

/* Stores the answer and asks lws for a writeable callback; frees the
 * state instead when the client already left. Takes 'json' (heap). */
void answer(struct http_request_state *r, unsigned status, char *json);

/* Answers the error frame {type, code, message[, id]} with code's HTTP
 * status ('id' is r->idem when set). */
void answer_error(struct http_request_state *r, const char *code,
                  const char *message);

/* Keeps the request's Authorization header in r->authz (ignored if too
 * long to be a token). */
void copy_authz(struct http_request_state *r, struct lws *wsi);

/* Verifies "Bearer <token>" (signature, audience, expiry; revocation is
 * auth_load's). Answers 401 and returns -1 when it is not valid. */
int bearer_claims(struct http_request_state *r, struct token_claims *claims);

#endif
