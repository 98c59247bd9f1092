/*
 * permissions.h - who may subscribe to what and post which kind, in one
 * table. Every decision of the relay about rights goes through here so the
 * rules can be read (and audited) in one place.
 */
#ifndef RELAY_PERMISSIONS_H
#define RELAY_PERMISSIONS_H

#include "protocol.h"

#define USER_AREAS_MAX 64

enum role {
    ROLE_ANONYMOUS = 0,
    ROLE_RESIDENT,
    ROLE_BEHEERDER,
    ROLE_BOA,
    ROLE_POLICE,
    ROLE_ADMIN,
};

/* Who is on the other end of a connection or REST request. */
struct user {
    enum role role;
    char id[65];                      /* "" for anonymous */
    char buurten[USER_AREAS_MAX][11]; /* BU codes (resident, beheerder) */
    int nbuurten;
    char wijken[USER_AREAS_MAX][9]; /* WK codes (boa) */
    int nwijken;
    char jti[33];        /* token id, for revocation */
    long long token_exp; /* token expiry, unix seconds */
};

/* "resident" -> ROLE_RESIDENT; RELAY_EINVAL for unknown names. */
int role_parse(const char *name, enum role *out);
const char *role_name(enum role role);

/* Fills areas from comma-separated lists ("" = none); invalid codes are
 * skipped (they were validated when written). */
void user_set_areas(struct user *u, const char *buurten, const char *wijken);

/*
 * RELAY_OK, RELAY_EAUTH (anonymous: log in first) or RELAY_EFORBIDDEN.
 * buurt: anyone; desk:WK/BU: police, admin, and a BOA of that wijk;
 * user:ID: that user; case:ID: police, BOA, admin (case owners get their
 * feedback on user:ID).
 */
int perm_subscribe(const struct user *u, const char *channel);

/*
 * May 'u' post 'post'? Same results. alert: police anywhere, BOA only in
 * buurten of their wijken; update/close/status: police, BOA; approve:
 * police; report: any logged-in user; tip: anyone.
 */
int perm_post(const struct user *u, const struct proto_post *post);

/* True when a BOA's wijken cover this buurt (or wijk) code. */
int perm_boa_covers(const struct user *u, const char *code);

#endif
