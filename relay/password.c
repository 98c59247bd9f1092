/*
 * password.c - Argon2id password hashes through libsodium.
 *
 * Thin on purpose: libsodium picks the salt, encodes the parameters in the
 * string and compares in constant time. What this file adds is the length
 * policy and the mapping to RELAY_* codes. sodium_init() is called on every
 * entry because it is idempotent and cheap after the first call, and
 * buurtctl, the daemon and the tests must not depend on who called it first.
 */
#include "password.h"

#include <string.h>

#include "error.h"

#define PW_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PW_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

/*
 * Hashes 'password' into out. The hash is built in a local buffer and
 * copied on success so 'out' is never half-written. crypto_pwhash_str()
 * fails only when it cannot get its 64 MiB: reported as RELAY_ENOMEM.
 */
int password_hash(const char *password, size_t len, char out[PASSWORD_HASH_MAX])
{
    char hash[PASSWORD_HASH_MAX];

    if (!password || !out || len < PASSWORD_MIN_LEN || len > PASSWORD_MAX_LEN)
        return RELAY_EINVAL;
    if (sodium_init() < 0)
        return RELAY_EINTERNAL;
    if (crypto_pwhash_str(hash, password, len, PW_OPSLIMIT, PW_MEMLIMIT) != 0)
        return RELAY_ENOMEM;
    memcpy(out, hash, sizeof(hash));
    return RELAY_OK;
}

/*
 * Checks 'password' against 'hash'. A hash that is not NUL-terminated
 * within PASSWORD_HASH_MAX bytes is refused before libsodium reads it.
 */
int password_verify(const char *hash, const char *password, size_t len)
{
    if (!hash || !password || len > PASSWORD_MAX_LEN)
        return RELAY_EAUTH;
    if (strnlen(hash, PASSWORD_HASH_MAX) == PASSWORD_HASH_MAX)
        return RELAY_EAUTH;
    if (sodium_init() < 0)
        return RELAY_EAUTH;
    if (crypto_pwhash_str_verify(hash, password, len) != 0)
        return RELAY_EAUTH;
    return RELAY_OK;
}

/* See password.h. A malformed hash also "needs rehash" (returns 1). */
int password_needs_rehash(const char *hash)
{
    if (!hash || strnlen(hash, PASSWORD_HASH_MAX) == PASSWORD_HASH_MAX)
        return 1;
    if (sodium_init() < 0)
        return 1;
    return crypto_pwhash_str_needs_rehash(hash, PW_OPSLIMIT, PW_MEMLIMIT) != 0;
}
