/*
 * pii.c - field encryption (XChaCha20-Poly1305) and blind indexes (keyed
 * BLAKE2b) for personal data. Formats and key derivation: pii.h.
 */
#include "pii.h"

#include <string.h>

#include <sodium.h>

#include "error.h"

#define KDF_CONTEXT "buurtpii" /* exactly crypto_kdf_CONTEXTBYTES (8) */
#define SUBKEY_ENCRYPT 1
#define SUBKEY_INDEX 2
#define TEXT_PREFIX "k1:"
#define TEXT_PREFIX_LEN (sizeof(TEXT_PREFIX) - 1)
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SUBKEY_BYTES 32
#define B64 sodium_base64_VARIANT_ORIGINAL
#define BLOB_MAX (NONCE_BYTES + PII_PLAIN_MAX + TAG_BYTES)

/*
 * Derives subkey 'id' of 'master'. WHY derive instead of storing several
 * keys: one secret file to provision and rotate, and the encryption and
 * index keys are still independent (a leak of one does not give the other).
 */
static int subkey(const unsigned char master[PII_KEY_BYTES], int id,
                  unsigned char out[SUBKEY_BYTES])
{
    if (sodium_init() < 0)
        return RELAY_EINTERNAL;
    if (crypto_kdf_derive_from_key(out, SUBKEY_BYTES, (uint64_t)id, KDF_CONTEXT,
                                   master) != 0)
        return RELAY_EINTERNAL;
    return RELAY_OK;
}

/* Validates a context string: 1..PII_CONTEXT_MAX bytes. Returns its length
 * or 0 when invalid. */
static size_t context_len(const char *context)
{
    size_t n = strnlen(context, PII_CONTEXT_MAX + 1);

    return n > PII_CONTEXT_MAX ? 0 : n;
}

size_t pii_text_len(size_t plain_len)
{
    return TEXT_PREFIX_LEN +
           sodium_base64_ENCODED_LEN(NONCE_BYTES + plain_len + TAG_BYTES, B64);
}

/*
 * Encrypts one field (see pii.h). The blob (nonce || ciphertext || tag) is
 * built in a stack buffer and wiped afterwards: it is not secret, but the
 * subkey next to it is, and wiping both keeps the rule simple.
 */
int pii_encrypt(const unsigned char master[PII_KEY_BYTES], const char *context,
                const char *plain, size_t len, char *out, size_t outlen)
{
    unsigned char key[SUBKEY_BYTES];
    unsigned char blob[BLOB_MAX];
    unsigned long long clen = 0;
    size_t adlen;
    int rc;

    if (!master || !context || !plain || !out || len > PII_PLAIN_MAX)
        return RELAY_EINVAL;
    adlen = context_len(context);
    if (adlen == 0)
        return RELAY_EINVAL;
    if (outlen < pii_text_len(len))
        return RELAY_ETOOBIG;
    rc = subkey(master, SUBKEY_ENCRYPT, key);
    if (rc < 0)
        return rc;

    randombytes_buf(blob, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        blob + NONCE_BYTES, &clen, (const unsigned char *)plain, len,
        (const unsigned char *)context, adlen, NULL, blob, key);
    sodium_memzero(key, sizeof(key));

    memcpy(out, TEXT_PREFIX, TEXT_PREFIX_LEN);
    sodium_bin2base64(out + TEXT_PREFIX_LEN, outlen - TEXT_PREFIX_LEN, blob,
                      NONCE_BYTES + (size_t)clen, B64);
    sodium_memzero(blob, sizeof(blob));
    return RELAY_OK;
}

/*
 * Decrypts one field (see pii.h). Every way the text can be wrong maps to
 * RELAY_EAUTH so that callers (and logs) cannot tell "corrupt" from
 * "wrong key" from "moved to another record": all mean "not readable here".
 */
int pii_decrypt(const unsigned char master[PII_KEY_BYTES], const char *context,
                const char *text, char *out, size_t outlen, size_t *plain_len)
{
    unsigned char key[SUBKEY_BYTES];
    unsigned char blob[BLOB_MAX];
    unsigned long long mlen = 0;
    size_t adlen, textlen, bloblen = 0, max_text;
    int rc;

    if (!master || !context || !text || !out)
        return RELAY_EINVAL;
    adlen = context_len(context);
    if (adlen == 0)
        return RELAY_EINVAL;
    max_text = pii_text_len(PII_PLAIN_MAX);
    textlen = strnlen(text, max_text);
    if (textlen >= max_text || textlen < TEXT_PREFIX_LEN ||
        memcmp(text, TEXT_PREFIX, TEXT_PREFIX_LEN) != 0)
        return RELAY_EAUTH;
    if (sodium_base642bin(blob, sizeof(blob), text + TEXT_PREFIX_LEN,
                          textlen - TEXT_PREFIX_LEN, NULL, &bloblen, NULL,
                          B64) != 0 ||
        bloblen < NONCE_BYTES + TAG_BYTES)
        return RELAY_EAUTH;
    if (outlen < bloblen - NONCE_BYTES - TAG_BYTES + 1)
        return RELAY_ETOOBIG;
    rc = subkey(master, SUBKEY_ENCRYPT, key);
    if (rc < 0)
        return rc;

    rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        (unsigned char *)out, &mlen, NULL, blob + NONCE_BYTES,
        bloblen - NONCE_BYTES, (const unsigned char *)context, adlen, blob,
        key);
    sodium_memzero(key, sizeof(key));
    if (rc != 0) {
        sodium_memzero(out, outlen);
        return RELAY_EAUTH;
    }
    out[mlen] = '\0';
    if (plain_len)
        *plain_len = (size_t)mlen;
    return RELAY_OK;
}

/*
 * Blind index (see pii.h). Keyed so that someone holding a Redis dump but
 * not the master key cannot test guessed phone numbers against it.
 */
int pii_blind_index(const unsigned char master[PII_KEY_BYTES],
                    const char *value, char out[PII_INDEX_HEX_BYTES])
{
    unsigned char key[SUBKEY_BYTES];
    unsigned char hash[32];
    int rc;

    if (!master || !value || !out || value[0] == '\0')
        return RELAY_EINVAL;
    rc = subkey(master, SUBKEY_INDEX, key);
    if (rc < 0)
        return rc;
    crypto_generichash(hash, sizeof(hash), (const unsigned char *)value,
                       strlen(value), key, sizeof(key));
    sodium_memzero(key, sizeof(key));
    sodium_bin2hex(out, PII_INDEX_HEX_BYTES, hash, sizeof(hash));
    sodium_memzero(hash, sizeof(hash));
    return RELAY_OK;
}

int pii_phone_valid(const char *phone)
{
    size_t n = 0;

    if (!phone || phone[0] != '+' || phone[1] < '1' || phone[1] > '9')
        return 0;
    for (phone++; phone[n] != '\0'; n++) {
        if (n >= 15 || phone[n] < '0' || phone[n] > '9')
            return 0;
    }
    return n >= 8;
}
