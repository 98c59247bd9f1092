/*
 * auth.h - from a token to a user, checked against Redis.
 *
 * token_verify() (token.h) proves a token was issued by us and has not
 * expired, without I/O; that is what the upgrade request is judged on, so a
 * forged or expired token gets HTTP 401 before any WebSocket exists. The
 * account itself is then read from Redis (user:{id}, see user_store.h) in
 * one script together with the revocation marks: a disabled user, a token
 * revoked one by one (revoked:{jti}) or all at once (tokens_after) is
 * refused even though its signature is fine.
 */
#ifndef RELAY_AUTH_H
#define RELAY_AUTH_H

#include "permissions.h"
#include "redis_link.h"
#include "token.h"

/* rc: RELAY_OK with 'user' filled (borrowed for the call), RELAY_EAUTH
 * (unknown, disabled or revoked), RELAY_EUNAVAILABLE (Redis). */
typedef void (*auth_done_cb)(void *arg, int rc, const struct user *user);

/* Starts loading the account named by verified 'claims'. Returns
 * RELAY_EUNAVAILABLE (callback not called) when Redis is down. */
int auth_load(struct redis_link *link, const struct token_claims *claims,
              auth_done_cb cb, void *arg);

#endif
