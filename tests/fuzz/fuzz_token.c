/*
 * fuzz_token.c - token_verify() on arbitrary bytes with a fixed key.
 *
 * Each input is tried twice: (1) as the token text itself, which almost
 * always stops at the shape or tag check; (2) as the claims JSON of a token
 * this target signs with the fixed key, so the strict JSON parser and the
 * claim checks (which a forger cannot reach) get fuzzed too. Either way
 * token_verify must return a RELAY_* code and never crash, leak or read
 * out of bounds; a success must yield well-formed claims.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "error.h"
#include "token.h"

#define NOW 1700000000LL
#define AUD "buurtrelay"
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[TOKEN_KEY_BYTES] = {
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};

/* A successful verify must hand back claims the rest of the relay can
 * trust blindly; anything else is a bug worth a crash report. */
static void check(int rc, const struct token_claims *c)
{
    if (rc == RELAY_OK) {
        if (c->sub[0] == '\0' || strlen(c->jti) != 32 || c->exp <= c->iat ||
            c->exp <= NOW)
            abort();
    } else if (rc != RELAY_EAUTH && rc != RELAY_EEXPIRED) {
        abort();
    }
}

static void as_token(const uint8_t *data, size_t size)
{
    char *tok = malloc(size + 1);
    struct token_claims c;

    if (!tok)
        return;
    memcpy(tok, data, size);
    tok[size] = '\0';
    check(token_verify(fuzz_key, tok, AUD, NOW, &c), &c);
    free(tok);
}

static void as_claims(const uint8_t *data, size_t size)
{
    unsigned char tag[crypto_auth_hmacsha256_BYTES];
    size_t cap = 4 + sodium_base64_ENCODED_LEN(size, B64) + 1 + 44;
    char *tok;
    size_t len;
    struct token_claims c;

    if (size > 4 * TOKEN_MAX)
        return;
    tok = malloc(cap);
    if (!tok)
        return;
    memcpy(tok, "br1.", 4);
    sodium_bin2base64(tok + 4, cap - 4, data, size, B64);
    len = strlen(tok);
    crypto_auth_hmacsha256(tag, (const unsigned char *)tok, len, fuzz_key);
    tok[len] = '.';
    sodium_bin2base64(tok + len + 1, cap - len - 1, tag, sizeof(tag), B64);
    check(token_verify(fuzz_key, tok, AUD, NOW, &c), &c);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sodium_init() < 0)
        abort();
    as_token(data, size);
    as_claims(data, size);
    return 0;
}
