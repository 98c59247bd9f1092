/*
 * case_store.h - reading a case from Redis.
 *
 *   case:{id}          hash   kind (appeal|report), state, version (bumped
 *                             by every change), owner (user id of the
 *                             officer or reporter), buurten (CBS codes,
 *                             comma-separated), category (report),
 *                             severity (appeal), anonymous ("1": hide the
 *                             reporter from desks), alert (the appeal's msg
 *                             JSON, for buurten added later), overdue
 *                             ("1" once escalated), created, updated,
 *                             closed (unix seconds)
 *   case:{id}:events   stream every post that changed the case (kind, by,
 *                             msg JSON)
 *   case:{id}:tippers  set    user ids who sent a tip (they get the outcome)
 *   case:{id}:msgs     list   "<channel> <seq>" of the appeal's messages,
 *                             removed from history when it closes
 *   esc:reports        zset   report id -> unix time it escalates
 *   retention:cases    zset   case id -> unix time its personal data goes
 * Writes happen only inside bus_transact() scripts (post.c).
 */
#ifndef RELAY_CASE_STORE_H
#define RELAY_CASE_STORE_H

#include "case_state.h"
#include "redis_link.h"

#define CASE_ID_MAX 64
#define CASE_BUURTEN_MAX 512

struct case_rec {
    char id[CASE_ID_MAX + 1];
    enum case_kind kind;
    enum case_state state;
    char version[24];
    char owner[65];
    char category[32];
    char severity[16];
    int anonymous;
    int overdue;
    char buurten[CASE_BUURTEN_MAX][11];
    int nbuurten;
    char *alert; /* heap: the appeal's msg JSON, or NULL */
};

/* rc: RELAY_OK with 'rec' (borrowed for the call), RELAY_ENOTFOUND,
 * RELAY_EUNAVAILABLE. */
typedef void (*case_load_cb)(void *arg, int rc, const struct case_rec *rec);

/* Reads case:{id}. RELAY_EUNAVAILABLE (no callback) when Redis is down. */
int case_load(struct redis_link *link, const char *id, case_load_cb cb,
              void *arg);

/* New random case id "c" + 16 hex digits: ids appear in channel names, so
 * they must not reveal how many cases a district has. */
void case_new_id(char out[18]);

#endif
