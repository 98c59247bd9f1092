/*
 * chat_store.h - people's chat contacts and buurtgroepen's chat links in
 * Redis, for buurtctl and the API (synchronous hiredis; the relay reads
 * them in its own scripts: outbox.c, notify.c).
 *
 * CONTACTS (contacts.h) live in user:{id}:
 *   contacts       pii_encrypt("kind=value\n...", "user|contacts|{id}")
 *   contact_kinds  "telegram,matrix": the kinds, plain (channel choice
 *                  without decrypting; its presence puts a counted
 *                  account in chat:buurt:{code}, user_store.h count())
 *   contact_idx    the idx:contact:{kind}:{index} keys it owns, comma
 *                  separated (so erase can remove them)
 *   channels       ordered preference "telegram,sms" (absent: default)
 *   quiet          the person's own quiet hours, "off" or "HH:MM-HH:MM"
 *                  (absent: the relay's)
 * idx:contact:{kind}:{index} -> id, index = pii_blind_index(value): one
 * account per chat address, and incoming messages find their sender.
 *
 * LINKS. A chat group or room linked to one or more buurten:
 *   chatlink:{id}            hash: adapter, address (pii_encrypt(address,
 *                            "link|address|{id}"): a webhook URL is a
 *                            secret, a group id identifies people), buurten
 *                            "BU..,BU..", name, admin (user id of the
 *                            beheerder, or ""), created, idx
 *   chatlinks:buurt:{code}   set of link ids
 *   idx:link:{adapter}:{index}  -> link id; a chat is linked once
 * Link ids are "l" + 16 hex.
 *
 * Errors: RELAY_EUNAVAILABLE (Redis), RELAY_ECONFLICT (the address
 * belongs to another account / is linked already / changed meanwhile),
 * RELAY_ENOTFOUND, RELAY_EINVAL, RELAY_EAUTH (does not decrypt).
 */
#ifndef RELAY_CHAT_STORE_H
#define RELAY_CHAT_STORE_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "contacts.h"
#include "pii.h"

#define CHAT_LINK_ID_MAX 17 /* "l" + 16 hex */
#define CHAT_LINK_BUURTEN_MAX 32
#define CHAT_LINK_NAME_MAX 80

/* A person's contacts and preferences, decrypted. */
struct chat_person {
    struct contact contacts[CONTACTS_MAX];
    size_t ncontacts;
    char channels[CHANNELS_TEXT_MAX]; /* "" when absent */
    char quiet[16];                   /* "" when absent */
    char *sealed;                     /* as stored (heap, NULL: none): the
                                         version check of the write */
};

/* Reads user 'id'. RELAY_ENOTFOUND when the user does not exist. */
int chat_store_person_read(redisContext *c, const unsigned char *pii_key,
                           const char *id, struct chat_person *out);

/* Frees what a read allocated. */
void chat_store_person_free(struct chat_person *p);

/*
 * Writes p's contacts, channels and quiet for user 'id' in one script,
 * if the stored contacts are still p->sealed (RELAY_ECONFLICT when not,
 * or when an address is another account's). Indexes of dropped
 * addresses are removed.
 */
int chat_store_person_write(redisContext *c, const unsigned char *pii_key,
                            const char *id, const struct chat_person *p);

/* A link as listed (no address: it stays encrypted). */
struct chat_link {
    char id[CHAT_LINK_ID_MAX + 1];
    char adapter[33];
    char buurten[CHAT_LINK_BUURTEN_MAX * 11 + 1];
    char name[CHAT_LINK_NAME_MAX + 1];
    char admin[65];
    long long created;
};

/*
 * Links the chat 'address' of 'adapter' to buurten[0..n). On success
 * id_out is the new link's id; RELAY_ECONFLICT with id_out = the
 * existing link's id when that chat is linked already.
 */
int chat_store_link_create(redisContext *c, const unsigned char *pii_key,
                           const char *adapter, const char *address,
                           const char *const *buurten, size_t n,
                           const char *name, const char *admin_id,
                           char id_out[CHAT_LINK_ID_MAX + 1]);

/* Removes a link and its indexes. RELAY_ENOTFOUND. */
int chat_store_link_delete(redisContext *c, const char *id);

/*
 * ASYNCHRONOUS USE. The relay's REST API (group_api.c) writes links over
 * its own hiredis async link; it sends the very commands built here, so a
 * link made by the API and one made by buurtctl are the same keys,
 * encryption and indexes. Each *_cmd holds a complete argv (EVAL, the
 * script, keys, args) pointing into its own buffers (the create command
 * also borrows its adapter, name and admin_id strings: keep them until
 * the command is sent); send argv/lens as they are, then judge the reply
 * with the matching *_result().
 */
#define CHAT_LINK_KEY_MAX 160
#define CHAT_LINK_SEALED_MAX 2048 /* >= pii_text_len(CONTACT_VALUE_MAX) */

struct chat_link_create_cmd {
    char id[CHAT_LINK_ID_MAX + 1]; /* the new link's id */
    char key[CHAT_LINK_KEY_MAX], ikey[CHAT_LINK_KEY_MAX];
    char sealed[CHAT_LINK_SEALED_MAX];
    char codes[CHAT_LINK_BUURTEN_MAX * 11 + 1];
    char created[24];
    const char *argv[13];
    size_t lens[13];
    int argc;
};

/* Validates like chat_store_link_create() and fills 'cmd' (a fresh id,
 * the address encrypted and blind-indexed). RELAY_EINVAL. */
int chat_store_link_create_cmd(struct chat_link_create_cmd *cmd,
                               const unsigned char *pii_key,
                               const char *adapter, const char *address,
                               const char *const *buurten, size_t n,
                               const char *name, const char *admin_id);

/* The create script's reply: RELAY_OK (id_out = cmd's id is left alone),
 * RELAY_ECONFLICT with id_out = the existing link ("" if unreadable),
 * RELAY_EUNAVAILABLE for anything else (NULL: Redis down). */
int chat_store_link_create_result(const redisReply *r,
                                  char id_out[CHAT_LINK_ID_MAX + 1]);

struct chat_link_delete_cmd {
    char key[CHAT_LINK_KEY_MAX];
    char id[CHAT_LINK_ID_MAX + 1];
    const char *argv[5];
    size_t lens[5];
    int argc;
};

/* RELAY_EINVAL for an id that cannot be a link's. */
int chat_store_link_delete_cmd(struct chat_link_delete_cmd *cmd,
                               const char *id);

/* RELAY_OK, RELAY_ENOTFOUND (gone already), RELAY_EUNAVAILABLE. */
int chat_store_link_delete_result(const redisReply *r);

/* Reads one link (HMGET of its listed fields). */
struct chat_link_read_cmd {
    char key[CHAT_LINK_KEY_MAX];
    char id[CHAT_LINK_ID_MAX + 1];
    const char *argv[7];
    size_t lens[7];
    int argc;
};

int chat_store_link_read_cmd(struct chat_link_read_cmd *cmd, const char *id);

/* RELAY_OK with *l filled, RELAY_ENOTFOUND (no such link),
 * RELAY_EUNAVAILABLE. */
int chat_store_link_read_result(const redisReply *r, const char *id,
                                struct chat_link *l);

/* Every link of one buurt in one script: a list of {id, HMGET fields}. */
struct chat_link_list_cmd {
    char key[CHAT_LINK_KEY_MAX];
    const char *argv[4];
    size_t lens[4];
    int argc;
};

/* RELAY_EINVAL unless 'buurt' is BU + 8 digits. */
int chat_store_link_list_cmd(struct chat_link_list_cmd *cmd, const char *buurt);

/* Calls fn for every link in the reply, sorted by id. RELAY_OK,
 * RELAY_ENOMEM, RELAY_EUNAVAILABLE. */
int chat_store_link_list_result(const redisReply *r,
                                void (*fn)(void *arg,
                                           const struct chat_link *l),
                                void *arg);

/* Calls fn for every link (of 'buurt' when not NULL), sorted by id. */
int chat_store_link_list(redisContext *c, const char *buurt,
                         void (*fn)(void *arg, const struct chat_link *l),
                         void *arg);

#endif
