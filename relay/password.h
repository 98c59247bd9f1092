/*
 * password.h - Argon2id password hashes (libsodium crypto_pwhash_str).
 *
 * Limits are libsodium's INTERACTIVE (2 passes, 64 MiB) or stronger. A
 * verification takes tens of milliseconds and 64 MiB: never call these on
 * the event loop; the relay runs them on the libuv thread pool.
 */
#ifndef RELAY_PASSWORD_H
#define RELAY_PASSWORD_H

#include <stddef.h>

#include <sodium.h>

#define PASSWORD_HASH_MAX crypto_pwhash_STRBYTES
#define PASSWORD_MIN_LEN 8
#define PASSWORD_MAX_LEN 1024

/* Hashes 'password' (len bytes) into out (PASSWORD_HASH_MAX bytes).
 * RELAY_EINVAL if shorter than PASSWORD_MIN_LEN or longer than the max. */
int password_hash(const char *password, size_t len,
                  char out[PASSWORD_HASH_MAX]);

/* RELAY_OK when 'password' matches 'hash', RELAY_EAUTH otherwise (also for
 * a malformed hash or a password outside the length limits). */
int password_verify(const char *hash, const char *password, size_t len);

/* True when 'hash' was made with weaker limits than password_hash() uses
 * now (or is not an Argon2id string): rehash it after a good login. */
int password_needs_rehash(const char *hash);

#endif
