/*
 * group_api.h - REST for buurtgroepen's chat links (chat_store.h), the
 * same links `buurtctl group link|unlink|list` manages:
 *
 *   GET    /api/v1/groups?buurt=BU........  -> 200 {"links": [{id, adapter,
 *          buurten, name, admin, created}]}: police, admin, a BOA whose
 *          wijken cover the buurt, a beheerder of the buurt. Never the
 *          address: it is stored encrypted and may be a secret URL.
 *   POST   /api/v1/groups {"adapter","address","buurten",["name"]} -> 201
 *          the link; 409 (with the existing link's id) when that chat is
 *          linked already; 400 for an adapter this relay does not run for
 *          groups. Police and admin for any buurten; a beheerder only for
 *          their own buurten, and becomes the link's admin.
 *   DELETE /api/v1/groups/{id} -> 200 {"deleted": id}: police, admin, or
 *          the beheerder who is the link's admin; 404 unknown.
 *
 * Every create and delete and every refusal is an audit entry; log lines
 * carry ids only. Answered asynchronously like the rest of http_api.h.
 */
#ifndef RELAY_GROUP_API_H
#define RELAY_GROUP_API_H

#include <libwebsockets.h>

#include "relay.h"

struct http_request_state;

/* GET /api/v1/groups (the query string is read from wsi). Returns 0 or
 * -1 like http_api_get_case(). */
int group_api_get(struct relay *relay, struct lws *wsi,
                  struct http_request_state **slot);

/* DELETE /api/v1/groups/{id}. */
int group_api_delete(struct relay *relay, struct lws *wsi, const char *uri,
                     struct http_request_state **slot);

/* POST /api/v1/groups once its body is complete (http_api_complete). */
void group_api_post(struct http_request_state *r);

#endif
