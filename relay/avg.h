/*
 * avg.h - a person's data under the AVG (GDPR): inzage (export, art. 15)
 * and verwijdering (erase, art. 17), for buurtctl over a blocking
 * hiredis context.
 *
 * WHERE A USER ID APPEARS (the data model of user_store.h, case_store.h
 * and bus.c):
 *   key names    user:{id}, idem:{id}:{post}, ch:{user:{id}}:meta/:log,
 *                and anything later keyed by the id
 *   login:{login}, idx:phone:{index}   values = the id
 *   case:{cid}   hash fields owner, approved_by (= the id) and tippers
 *                (comma-separated ids)
 *   desc:flags   hash with the id as a field name (avg.c lists such
 *                hashes in id_field_hashes[])
 *   streams      case:{cid}:events field "by"; channel histories
 *                ch:{case:{cid}}:log and ch:{desk:...}:log carry frames
 *                with "reporter"/"tipper": "{id}"
 *   audit        actor / target (kept: see below)
 *
 * ERASE, in an order that is safe to repeat after a crash (every step
 * but the last leaves the account in place, so "erase" can run again):
 *   1. the phone's blind index is recomputed from the decrypted number
 *      (a wrong PII key stops everything here, before any change);
 *   2. every token is revoked (tokens_after, PUBLISH revoke-user), so the
 *      person cannot post while the rest runs;
 *   3. every stream that mentions the id is rewritten with the id
 *      replaced by "erased" (one atomic script per stream: same entry
 *      ids, same order, same last id); the SMS streams (mo:inbox,
 *      dead:{ch}) lose every entry with the id as user or the phone's
 *      blind index as sender (relay/outbox.h);
 *   4. one script takes the account out of the stats:buurt counters
 *      and the sms:buurt SMS recipient sets (unless it is uncounted already:
 * see COUNTERS in user_store.h), deletes user:{id} (with the encrypted phone
 * and addresses, which exist nowhere else), login:{login}, idx:phone:{index}
 *      (each only if it still belongs to the id) and every key whose
 *      name holds the id, drops the id's field from the id_field_hashes,
 *      sets owner/approved_by to "erased" and drops
 *      the id from tippers in the cases involved, and publishes
 *      "revoke-user {id}" so every relay closes the person's
 *      connections. A token of the erased id is refused from then on
 *      because its user no longer exists.
 * The cases themselves stay (they are the police's record), without the
 * person. The audit trail keeps the pseudonymous id as actor or target:
 * it is a legal record (art. 17(3)(b)), its entries never hold personal
 * data, and rewriting it would break the chain. With login, phone and
 * account gone nothing links that id to the person any more.
 */
#ifndef RELAY_AVG_H
#define RELAY_AVG_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "pii.h"

#define AVG_ERASED "erased" /* what replaces the id where it was */

/* What avg_erase() changed. */
struct avg_erase_stats {
    size_t keys_deleted;     /* keys removed (account, login, index, ...) */
    size_t cases_anonymised; /* case hashes that named the person */
    size_t streams_scrubbed; /* streams rewritten without the id */
};

/*
 * Builds the inzage document of user 'id' into *out (caller frees with
 * cJSON_Delete): "account" (every field but the password hash, with the
 * phone number decrypted and "addresses" the decrypted addresses,
 * [{"postcode": "9401AB", "number": 12}, ...], [] for none), "cases" the person
 * is involved in (owner, approver or tipper; fields naming other people left
 * out), "posts" (the person's own events in those cases), "messages" (their
 * personal channel user:{id}), "counters" (their field in hashes keyed by user
 * id, such as desc:flags), "audit" (entries with the id as actor or
 * target) and "sms" (the buurten whose SMS recipients they are, the case
 * of their last SMS and their SMS replies). RELAY_ENOTFOUND for an unknown id;
 * RELAY_EAUTH when the phone or the addresses do not decrypt under 'pii_key';
 * RELAY_EUNAVAILABLE, RELAY_EINTERNAL, RELAY_ENOMEM.
 */
int avg_export(redisContext *c, const unsigned char pii_key[PII_KEY_BYTES],
               const char *id, cJSON **out);

/*
 * Erases user 'id' as described at the top of this file. RELAY_OK with
 * *stats (optional) filled; RELAY_ENOTFOUND for an unknown id (or one
 * erased meanwhile); RELAY_EAUTH when the phone does not decrypt (nothing
 * changed); RELAY_EUNAVAILABLE / RELAY_EINTERNAL / RELAY_ENOMEM when a
 * step failed (run it again: the steps done are harmless to repeat).
 */
int avg_erase(redisContext *c, const unsigned char pii_key[PII_KEY_BYTES],
              const char *id, struct avg_erase_stats *stats);

#endif
