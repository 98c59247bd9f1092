/*
 * pii.h - personal data at rest: field encryption and blind indexes.
 *
 * Redis gets no plaintext PII (its RDB/AOF files are plaintext on disk).
 * A PII field such as a phone number is stored as text
 *
 *     "k1:" base64(nonce[24] || ciphertext || tag[16])
 *
 * (standard base64 alphabet with '=' padding) made with
 * XChaCha20-Poly1305-IETF under a random nonce. The additional data is a
 * caller-given context naming where the value lives, by convention
 * "<table>|<column>|<record id>" (e.g. "user|phone|u0123456789abcdef"), so a
 * ciphertext copied into another record or field does not decrypt.
 *
 * Lookups ("which user has this number?") use a blind index instead:
 * hex(BLAKE2b-256(value, key = index subkey)), 64 lowercase hex digits.
 * It is deterministic, so the caller must normalise the value first (E.164
 * for phone numbers).
 *
 * All subkeys come from the one 32-byte PII master key (pii-key-file) via
 * crypto_kdf_derive_from_key with context "buurtpii": subkey id 1 encrypts
 * ("k1" in the text names it, so a later key can be told apart), subkey id
 * 2 keys the blind index, subkey id 3 keys the audit trail's hash chain
 * (audit_key_derive() in audit.c). These ids and the context are part of
 * the stored data format: changing them makes every stored value
 * unreadable (or, for id 3, every audit entry unverifiable). A new use
 * takes the next free id.
 * Derived subkeys live on the stack only and are wiped after each call.
 */
#ifndef RELAY_PII_H
#define RELAY_PII_H

#include <stddef.h>

#define PII_KEY_BYTES 32
#define PII_PLAIN_MAX 4096     /* longest field we encrypt */
#define PII_CONTEXT_MAX 256    /* longest additional-data string */
#define PII_INDEX_HEX_BYTES 65 /* 64 hex digits + NUL */
#define PII_PHONE_MAX 16       /* '+' and at most 15 digits */

/* Bytes (including NUL) pii_encrypt() writes for 'plain_len' bytes. */
size_t pii_text_len(size_t plain_len);

/*
 * Encrypts plain[0..len) for 'context' into out as NUL-terminated text.
 * RELAY_EINVAL for a NULL argument, an empty or overlong context, or
 * len > PII_PLAIN_MAX; RELAY_ETOOBIG when outlen < pii_text_len(len).
 * 'out' is written only on success. Never logs.
 */
int pii_encrypt(const unsigned char master[PII_KEY_BYTES], const char *context,
                const char *plain, size_t len, char *out, size_t outlen);

/*
 * Decrypts 'text' (from pii_encrypt with the same master key and context)
 * into out with a trailing NUL; *plain_len (optional) gets the length.
 * RELAY_EAUTH when the text is malformed, names an unknown key, or fails
 * authentication (wrong key, wrong context, tampered); RELAY_ETOOBIG when
 * outlen is too small; RELAY_EINVAL for bad arguments. On failure 'out' is
 * wiped (if it was touched) and *plain_len left alone.
 */
int pii_decrypt(const unsigned char master[PII_KEY_BYTES], const char *context,
                const char *text, char *out, size_t outlen, size_t *plain_len);

/*
 * Writes the blind index of the NUL-terminated 'value' as 64 lowercase hex
 * digits + NUL. RELAY_EINVAL for NULL or empty input.
 */
int pii_blind_index(const unsigned char master[PII_KEY_BYTES],
                    const char *value, char out[PII_INDEX_HEX_BYTES]);

/*
 * True when 'phone' is an E.164 number as we store it: '+', then 8 to 15
 * digits, the first not '0'. No spaces, dashes or national formats: callers
 * normalise before storing or indexing.
 */
int pii_phone_valid(const char *phone);

#endif
