/*
 * user_store.h - accounts in Redis: the data model and synchronous access.
 *
 * Used by buurtctl through a blocking hiredis redisContext. The daemon
 * reads the same keys with its asynchronous client; this comment is the
 * contract between the two, so change both together.
 *
 * KEYS (all values are strings; integers are decimal ASCII)
 *
 *   user:{id}  hash, one per account
 *     login         the normalised login (see below)
 *     role          "resident" | "beheerder" | "boa" | "police" | "admin"
 *     buurten       CBS buurt codes ("BU" + 8 digits) joined by ',' with no
 *                   spaces, no duplicates, in the order given; "" for none
 *     wijken        CBS wijk codes ("WK" + 6 digits), same format
 *     pw            Argon2id string from crypto_pwhash_str()
 *                   ("$argon2id$v=19$m=65536,t=2,p=1$..."); check it with
 *                   password_verify()
 *     phone         OPTIONAL (field absent when the user gave none):
 *                   pii_encrypt() text "k1:..." of the E.164 number with
 *                   context "user|phone|{id}" (pii.h)
 *     addresses     OPTIONAL (absent when none): pii_encrypt() text of the
 *                   resident's addresses (home, work, ...: at most
 *                   USER_ADDRESSES_MAX) with context "user|addresses|{id}".
 *                   The plaintext is "PC6:NUMBER" per address, joined by
 *                   ';' in the order given, without repeats, e.g.
 *                   "9401AB:12;9405CD:3": postcode upper case without a
 *                   space, house number 1..99999 without leading zeros.
 *                   Never stored in clear, never as coordinates, never
 *                   copied into another key: what the relay routes by is
 *                   the buurt of each address, which buurtctl resolves
 *                   (areas_postcode) and adds to buurten when the
 *                   addresses are given.
 *     disabled      "0" or "1"
 *     created       unix seconds at creation
 *     tokens_after  unix seconds; "0" initially; only ever increases.
 *                   A token whose iat < tokens_after is revoked.
 *     counted       "1" while the account's contribution (below) is in the
 *                   stats:buurt counters, "0" while it is not (disabled).
 *                   Absent means "1": accounts created before the field
 *                   existed were counted at creation and never uncounted.
 *
 *   login:{login}         string -> {id}
 *   idx:phone:{index}     string -> {id}; {index} = pii_blind_index() of
 *                         the E.164 number: 64 lowercase hex digits. One
 *                         account per phone number.
 *   sms:buurt:{code}      set of the ids counted in sms there (the SMS
 *                         recipients of an appeal), kept with the counters
 *   stats:buurt:{code}    hash ws / sms / chat: residents (and beheerders)
 *                         of the buurt reachable per channel (areas API,
 *                         reach counts). Kept exact, see COUNTERS below.
 *   revoked:{jti}         string "1", EXPIREAT = the token's exp, so the
 *                         deny list never outgrows the live tokens.
 *
 * Ids are "u" + 16 random lowercase hex digits (so "user:{id}" channels and
 * keys need no escaping: they satisfy channel_is_id()). Logins are
 * [a-z0-9._@-]{1,64} after ASCII lowercasing; any other byte is refused.
 *
 * Role and areas: resident and beheerder need at least one buurt, boa at
 * least one wijk; police and admin may have none. Other combinations
 * (a boa with buurten too) are allowed.
 *
 * A user:{id}, its login:{login} and its idx:phone:{index} are created
 * together by one Lua script (all or nothing); a taken login or phone
 * number fails the whole creation.
 *
 * COUNTERS. An account's contribution to stats:buurt is, when its role is
 * resident or beheerder, for each of its buurten: ws + 1, and sms + 1 if
 * it has a phone (chat: nobody yet). Every script that changes role,
 * buurten, phone, disabled or the account's existence moves the counters
 * in the same script, by the contribution of the state before (minus) and
 * after (plus), and only while counted != "0":
 *   create          + new contribution, counted = "1"
 *   disable         - contribution, counted = "0" (a disabled account
 *                   receives nothing); disabling again changes nothing
 *   enable          + contribution, counted = "1" (only if it was "0")
 *   set             - old, + new contribution (if counted)
 *   erase (avg.c)   - contribution (if counted)
 * The rule is one Lua function, USER_STORE_LUA_COUNT below, shared by
 * every such script. Counters are never clamped at zero: a negative one
 * means someone edited them by hand.
 *
 * CHANGING AN ACCOUNT (user_store_update, buurtctl user set) is one script:
 * it applies only if role, buurten, wijken (and, when the phone or the
 * addresses change, their ciphertext) are still what the caller read, so a
 * concurrent
 * change is never overwritten (RELAY_ECONFLICT, USER_CONFLICT_STALE: read
 * again and retry). A new phone takes its idx:phone:{index} (refused when
 * it belongs to someone else) and frees the old one; removing the phone
 * frees its index. Every change, like a password change, revokes all the
 * user's tokens (tokens_after, PUBLISH revoke-user): a token must not
 * carry rights or a phone its account no longer has.
 *
 * CHECKING A TOKEN (what the daemon must do after token_verify() passed;
 * user_store_token_valid() is the synchronous reference):
 *   1. HMGET user:{sub} disabled tokens_after role: refuse if the user is
 *      missing, disabled == "1", or claims.iat < tokens_after.
 *   2. EXISTS revoked:{jti}: refuse if 1.
 *   The role of the hash is authoritative; the token's role claim is only
 *   what the role was at issue time.
 *
 * THE tokens_after BOUNDARY. Times are whole seconds, so "revoke everything
 * issued until now" sets tokens_after = now + 1: a token issued earlier in
 * the same second (iat == now) dies too. So that a token issued right
 * after a revocation (same second) is not born revoked, every issuer
 * (buurtctl token, and the daemon's POST /api/v1/session) must issue with
 * iat = max(now, tokens_after): at most one second ahead, well within
 * token.h's allowed clock skew. Disabling does the same
 * (tokens_after = now + 1) so that re-enabling an account later does not
 * resurrect tokens from before the disable.
 *
 * OPEN CONNECTIONS: disable, update, password change, revoke-all and
 * revoke-one also PUBLISH on the Redis channel relay:control
 * ("revoke-user {id}" / "revoke-jti {jti}", in the same script as the
 * write), so every relay process closes the connections that use the
 * revoked tokens at once. Enabling publishes nothing: the tokens from
 * before the disable stay revoked.
 *
 * ERASURE (AVG): buurtctl erase deletes user:{id}, login:{login} and
 * idx:phone:{index} (taking the account out of the counters unless it is
 * uncounted already) and removes the id from everything else; avg.h lists
 * where an id can appear. A new key or field holding a user id must be
 * added there too. The phone and the addresses live only in user:{id}
 * (no index of addresses exists), so they go with it.
 *
 * ERRORS: RELAY_EUNAVAILABLE when Redis cannot be reached, times out or
 * answers with an error; RELAY_EINTERNAL when a reply has an unexpected
 * shape (corrupt data); RELAY_ENOTFOUND for an unknown login or id.
 */
#ifndef RELAY_USER_STORE_H
#define RELAY_USER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "pii.h"
#include "token.h"

#define USER_ID_LEN 17 /* "u" + 16 hex digits */
#define USER_ID_MAX 64 /* longest id accepted from Redis */
#define USER_LOGIN_MAX 64
#define USER_ROLE_MAX 16
#define USER_AREAS_MAX 64 /* codes in one list (buurten or wijken) */
#define USER_AREAS_STR_MAX (USER_AREAS_MAX * 11) /* joined, with NUL */
#define USER_ADDRESSES_MAX 4                     /* addresses of one account */
#define USER_PC6_LEN 6                           /* "9401AB" */
/* "9401AB:99999" per address, ';' between, with the NUL */
#define USER_ADDRESSES_PLAIN_MAX (USER_ADDRESSES_MAX * 13)
/* >= pii_text_len(USER_ADDRESSES_PLAIN_MAX - 1), which is 128 */
#define USER_ADDRESSES_TEXT_MAX 256

/*
 * The Lua function count(id, role, buurten, has_phone, d) adding d (1 or
 * -1) times an account's contribution to stats:buurt (see COUNTERS
 * above): role and buurten as stored (buurten may be false, i.e. absent),
 * has_phone a boolean. With a phone it also adds the id to (d = 1) or
 * removes it from (d = -1) the set sms:buurt:{code} of each buurt: the
 * SMS recipients of an appeal there (post.c). An account with chat
 * contacts (field contact_kinds, contacts.h; read here, so callers need
 * not pass it) is likewise in chat:buurt:{code}. Every script that moves
 * the counters begins with this text, so the rule lives in one place
 * (avg.c's erase uses it too).
 */
#define USER_STORE_LUA_COUNT                                                   \
    "local function count(id, role, buurten, has_phone, d)\n"                  \
    "  if role ~= 'resident' and role ~= 'beheerder' then return end\n"        \
    "  local has_chat = redis.call('HEXISTS', 'user:' .. id,"                  \
    " 'contact_kinds') == 1\n"                                                 \
    "  for code in string.gmatch(buurten or '', 'BU%d+') do\n"                 \
    "    redis.call('HINCRBY', 'stats:buurt:' .. code, 'ws', d)\n"             \
    "    if has_chat then\n"                                                   \
    "      if d > 0 then\n"                                                    \
    "        redis.call('SADD', 'chat:buurt:' .. code, id)\n"                  \
    "      else\n"                                                             \
    "        redis.call('SREM', 'chat:buurt:' .. code, id)\n"                  \
    "      end\n"                                                              \
    "    end\n"                                                                \
    "    if has_phone then\n"                                                  \
    "      redis.call('HINCRBY', 'stats:buurt:' .. code, 'sms', d)\n"          \
    "      if d > 0 then\n"                                                    \
    "        redis.call('SADD', 'sms:buurt:' .. code, id)\n"                   \
    "      else\n"                                                             \
    "        redis.call('SREM', 'sms:buurt:' .. code, id)\n"                   \
    "      end\n"                                                              \
    "    end\n"                                                                \
    "  end\n"                                                                  \
    "end\n"

/* What a new account is made of. Every pointer is borrowed. */
struct user_new {
    const char *id;             /* from user_store_new_id() */
    const char *login;          /* as typed; normalised by create */
    const char *role;           /* one of the five roles */
    const char *const *buurten; /* BU codes */
    size_t buurt_count;
    const char *const *wijken; /* WK codes */
    size_t wijk_count;
    const char *pw_hash;        /* password_hash() output */
    const char *phone_text;     /* pii_encrypt() text, or NULL */
    const char *phone_index;    /* pii_blind_index() hex, or NULL */
    const char *addresses_text; /* user_store_addresses_seal(), or NULL */
    int64_t created;            /* unix seconds */
};

/* An account as read back: never the password hash or the phone. */
struct user_record {
    char id[USER_ID_MAX + 1];
    char login[USER_LOGIN_MAX + 1];
    char role[USER_ROLE_MAX + 1];
    char buurten[USER_AREAS_STR_MAX]; /* as stored: "BU..,BU.." or "" */
    char wijken[USER_AREAS_STR_MAX];
    int disabled;      /* 0 or 1 */
    int has_phone;     /* a phone field exists */
    int has_addresses; /* an addresses field exists */
    int64_t created;
    int64_t tokens_after;
};

/* Which unique thing was taken when create returns RELAY_ECONFLICT. */
enum user_conflict {
    USER_CONFLICT_NONE = 0,
    USER_CONFLICT_LOGIN = 1,
    USER_CONFLICT_ID = 2, /* random id collision: pick a new id, retry */
    USER_CONFLICT_PHONE = 3,
    USER_CONFLICT_STALE = 4, /* update: the account changed since it was
                                read; read it again and retry */
};

/* What user_store_update() does with the phone. */
enum user_phone_change {
    USER_PHONE_KEEP = 0,
    USER_PHONE_SET = 1,   /* a new number (or the same one re-encrypted) */
    USER_PHONE_CLEAR = 2, /* remove the number and its index */
};

/* What user_store_update() does with the addresses. */
enum user_addr_change {
    USER_ADDR_KEEP = 0,
    USER_ADDR_SET = 1,   /* replace them all */
    USER_ADDR_CLEAR = 2, /* remove the field */
};

/* One address: a normalised postcode and a house number. */
struct user_address {
    char pc6[USER_PC6_LEN + 1]; /* "9401AB" */
    int number;                 /* 1..99999 */
};

/*
 * A change of an existing account (user_store_update). The new role and
 * areas are complete (areas not being changed are passed as read). The
 * old_* fields are the state the caller read and validated against: the
 * update applies only while it is still the stored state. Every pointer
 * is borrowed.
 */
struct user_update {
    const char *id;
    const char *old_role;    /* as read by user_store_get() */
    const char *old_buurten; /* joined, as read ("" for none) */
    const char *old_wijken;
    const char *role; /* the new role and areas, validated like create */
    const char *const *buurten;
    size_t buurt_count;
    const char *const *wijken;
    size_t wijk_count;
    enum user_phone_change phone;
    /* USER_PHONE_SET / _CLEAR only: the stored phone ciphertext as read
     * (user_store_phone_sealed) and its blind index, both NULL when there
     * was no phone. */
    const char *old_phone_text;
    const char *old_phone_index;
    /* USER_PHONE_SET only: pii_encrypt() text and pii_blind_index(). */
    const char *phone_text;
    const char *phone_index;
    enum user_addr_change addresses;
    /* USER_ADDR_SET / _CLEAR only: the stored addresses ciphertext as
     * read (user_store_addresses_sealed), NULL when there was none. */
    const char *old_addresses_text;
    /* USER_ADDR_SET only: user_store_addresses_seal() text. */
    const char *addresses_text;
    int64_t tokens_after; /* raised to at least this (callers: now + 1) */
};

/* Lowercases 'login' into out. RELAY_EINVAL unless the result is
 * [a-z0-9._@-]{1,64}; out is written only on success. */
int user_store_login_normalize(const char *login, char out[USER_LOGIN_MAX + 1]);

/* True for the five roles above. */
int user_store_role_valid(const char *role);

/*
 * Checks a role and its areas: every code valid, at most USER_AREAS_MAX of
 * each, and the role's minimum (see the top of this file). RELAY_EINVAL
 * with *why set to a static English reason (naming no input) otherwise.
 */
int user_store_check_areas(const char *role, const char *const *buurten,
                           size_t buurt_count, const char *const *wijken,
                           size_t wijk_count, const char **why);

/* Writes a fresh random id ("u" + 16 hex) into out. */
void user_store_new_id(char out[USER_ID_LEN + 1]);

/*
 * Connects to "redis://HOST:PORT" (port defaults to 6379, "[::1]" style
 * hosts allowed; parsed by config_split_redis()) with
 * 'timeout_ms' for the connect and for every later command. On success
 * *out owns the context (user_store_disconnect). On failure returns
 * RELAY_EINVAL (bad URL) or RELAY_EUNAVAILABLE with one line in err.
 */
int user_store_connect(const char *url, int timeout_ms, redisContext **out,
                       char *err, size_t errlen);

/* Frees a context from user_store_connect(); NULL is fine. */
void user_store_disconnect(redisContext *c);

/*
 * Creates an account atomically. Validates everything first (RELAY_EINVAL:
 * id, login, role/areas, pw_hash present, phone_text and phone_index both
 * or neither, addresses_text NULL or not empty). The buurten must already
 * include those of the addresses (the caller resolves them). RELAY_ECONFLICT
 * when the login, id or phone index exists, with *conflict (optional) saying
 * which; nothing is written then.
 */
int user_store_create(redisContext *c, const struct user_new *u,
                      enum user_conflict *conflict);

/* Looks up the id of a login (normalised here). RELAY_ENOTFOUND when no
 * such login, RELAY_EINVAL when the login is malformed. */
int user_store_find_login(redisContext *c, const char *login,
                          char id[USER_ID_MAX + 1]);

/* Reads user:{id}. RELAY_ENOTFOUND if missing; 'out' written on success. */
int user_store_get(redisContext *c, const char *id, struct user_record *out);

/*
 * Changes role, areas, phone and/or addresses in one script (see CHANGING
 * AN ACCOUNT above), moves the counters, and revokes every token. The
 * buurten given are the complete new list (the caller merges in the
 * buurten of new addresses).
 * RELAY_EINVAL for an update that would not pass create's checks (or
 * inconsistent phone fields); RELAY_ENOTFOUND when the user does not
 * exist; RELAY_ECONFLICT with *conflict (optional) USER_CONFLICT_PHONE
 * when the new number belongs to another account, USER_CONFLICT_STALE
 * when the account changed since it was read. Nothing is written on any
 * error.
 */
int user_store_update(redisContext *c, const struct user_update *u,
                      enum user_conflict *conflict);

/*
 * Sets disabled = "1", takes the account out of the counters (once: see
 * COUNTERS) and raises tokens_after to at least 'tokens_after' (callers
 * pass now + 1). RELAY_ENOTFOUND if the user does not exist (no stub
 * hash is created).
 */
int user_store_disable(redisContext *c, const char *id, int64_t tokens_after);

/*
 * Sets disabled = "0" and counts the account again if it was uncounted.
 * tokens_after stays: tokens from before are still revoked.
 * RELAY_ENOTFOUND if the user does not exist.
 */
int user_store_enable(redisContext *c, const char *id);

/*
 * Replaces the password hash ('pw_hash' from password_hash()) and raises
 * tokens_after as revoke_all does, in one script. RELAY_EINVAL for an
 * empty hash, RELAY_ENOTFOUND if the user does not exist.
 */
int user_store_set_password(redisContext *c, const char *id,
                            const char *pw_hash, int64_t tokens_after);

/* Raises tokens_after to at least 'tokens_after' (never lowers it), which
 * revokes every token with an earlier iat. RELAY_ENOTFOUND as above. */
int user_store_revoke_all(redisContext *c, const char *id,
                          int64_t tokens_after);

/* SET revoked:{jti} "1" with EXPIREAT exp (one script: atomic). An exp in
 * the past stores nothing, which is right: the token is dead anyway. */
int user_store_revoke_token(redisContext *c, const char *jti, int64_t exp);

/*
 * Copies user:{id}'s phone field as stored (the pii_encrypt() text, never
 * the number) into out (cap bytes). RELAY_ENOTFOUND when the user or the
 * field does not exist, RELAY_EINTERNAL when it does not fit.
 */
int user_store_phone_sealed(redisContext *c, const char *id, char *out,
                            size_t cap);

/*
 * Decrypts a phone field 'sealed' of user 'id' (context
 * "user|phone|{id}") into out. RELAY_EAUTH when it does not decrypt under
 * 'pii_key', RELAY_EINTERNAL when it decrypts to something that is not an
 * E.164 number. The caller wipes 'out'.
 */
int user_store_phone_open(const unsigned char pii_key[PII_KEY_BYTES],
                          const char *id, const char *sealed,
                          char out[PII_PHONE_MAX + 1]);

/*
 * Reads and decrypts the phone number of user 'id' (context
 * "user|phone|{id}") into out. RELAY_ENOTFOUND when the user or the phone
 * field does not exist; RELAY_EAUTH when the ciphertext does not decrypt
 * under 'pii_key' (wrong key, or tampered). 'out' is written only on
 * success; the caller wipes it after use and never logs it.
 */
int user_store_phone(redisContext *c,
                     const unsigned char pii_key[PII_KEY_BYTES], const char *id,
                     char out[PII_PHONE_MAX + 1]);

/*
 * Parses one address as typed, "PC6:NUMBER": a postcode as areas_postcode
 * takes it ("9401AB", "9401ab", "9401 AB"), ':', and a house number
 * 1..99999 (decimal digits only). Writes the normalised form into *out.
 * RELAY_EINVAL for anything else; *out is written only on success.
 */
int user_store_address_parse(const char *text, struct user_address *out);

/*
 * Joins addresses into the stored plaintext form ("9401AB:12;9405CD:3"),
 * dropping repeats, into out (cap bytes). RELAY_EINVAL for more than
 * USER_ADDRESSES_MAX or an invalid one, RELAY_ETOOBIG when it does not
 * fit. The caller wipes 'out'.
 */
int user_store_addresses_join(const struct user_address *a, size_t n, char *out,
                              size_t cap);

/*
 * Splits the stored plaintext form back into out[0..*n) (capacity
 * USER_ADDRESSES_MAX). RELAY_EINTERNAL when it is malformed.
 */
int user_store_addresses_split(const char *plain,
                               struct user_address out[USER_ADDRESSES_MAX],
                               size_t *n);

/*
 * Encrypts the addresses of user 'id' (context "user|addresses|{id}")
 * into text (cap bytes, USER_ADDRESSES_TEXT_MAX is enough): the value of
 * the addresses field. RELAY_EINVAL for no address or a bad one.
 */
int user_store_addresses_seal(const unsigned char pii_key[PII_KEY_BYTES],
                              const char *id, const struct user_address *a,
                              size_t n, char *text, size_t cap);

/*
 * Copies user:{id}'s addresses field as stored (ciphertext) into out (cap
 * bytes). RELAY_ENOTFOUND when the user or the field does not exist,
 * RELAY_EINTERNAL when it does not fit.
 */
int user_store_addresses_sealed(redisContext *c, const char *id, char *out,
                                size_t cap);

/*
 * Decrypts an addresses field 'sealed' of user 'id' into out[0..*n)
 * (capacity USER_ADDRESSES_MAX). RELAY_EAUTH when it does not decrypt
 * under 'pii_key', RELAY_EINTERNAL when the plaintext is malformed. The
 * caller wipes 'out'.
 */
int user_store_addresses_open(const unsigned char pii_key[PII_KEY_BYTES],
                              const char *id, const char *sealed,
                              struct user_address out[USER_ADDRESSES_MAX],
                              size_t *n);

/*
 * The Redis half of token checking (see CHECKING A TOKEN above) for
 * claims that token_verify() accepted. RELAY_OK when the token may be
 * used; RELAY_EAUTH when the user is unknown or disabled or the token is
 * revoked; RELAY_EUNAVAILABLE / RELAY_EINTERNAL as usual.
 */
int user_store_token_valid(redisContext *c, const struct token_claims *claims);

/*
 * Adds every counted account with a phone to the sms:buurt sets of its
 * buurten (accounts stored before the sets existed); *added = ids added.
 * Safe to repeat. RELAY_EUNAVAILABLE.
 */
int user_store_sms_rebuild(redisContext *c, size_t *added);

#endif
