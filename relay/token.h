/*
 * token.h - signed, expiring session tokens.
 *
 * Format: "br1." base64url(claims JSON) "." base64url(HMAC-SHA-256 tag),
 * no padding. The algorithm is pinned by the "br1" prefix: there is no
 * algorithm field to tamper with (RFC 8725's first pitfall). The key is 32
 * random bytes shared by every relay process and buurtctl.
 *
 * Claims: {"sub": user id, "role": role at issue time, "aud": audience,
 * "iat": issued (unix s), "exp": expiry (unix s), "jti": 32 hex digits}.
 * The tag is computed over the ASCII bytes "br1." base64url(claims), i.e.
 * everything before the second '.', so the prefix is authenticated too.
 * Claims are parsed only after the tag checked out, strictly (duplicate
 * keys, bad UTF-8, trailing bytes are refused), with case-sensitive names;
 * iat/exp must be JSON integers in [0, 2^53); sub must be a user id, role
 * [a-z]{1,16}, jti 32 lowercase hex digits. Unknown claims are ignored
 * (they are signed, so only a newer issuer can have put them there).
 * The signature and expiry are checked here without I/O; revocation and a
 * disabled account are checked against Redis by the caller (auth.c) because
 * that needs a round trip.
 */
#ifndef RELAY_TOKEN_H
#define RELAY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_KEY_BYTES 32
#define TOKEN_MAX 1024  /* longest token we issue or accept */
#define TOKEN_ID_MAX 64 /* user ids are [A-Za-z0-9_-]{1,64} */
#define TOKEN_ROLE_MAX 16
#define TOKEN_AUD_MAX 128   /* audience: 1..128 printable ASCII, no space */
#define TOKEN_SKEW 60       /* seconds an iat may lie in the future */
#define TOKEN_PREFIX "br1." /* format and algorithm (HMAC-SHA-256) */

struct token_claims {
    char sub[TOKEN_ID_MAX + 1];
    char role[TOKEN_ROLE_MAX + 1];
    char jti[33];
    int64_t iat;
    int64_t exp;
};

/*
 * Issues a token for 'sub'/'role' valid from 'now' for 'ttl' seconds, with a
 * fresh random jti (written to claims_out if not NULL). Writes the
 * NUL-terminated token to out (outlen >= TOKEN_MAX). RELAY_EINVAL if sub or
 * role are malformed, audience is not 1..TOKEN_AUD_MAX printable ASCII,
 * now < 0, ttl <= 0 or now + ttl >= 2^53. 'out' is written only on success.
 */
int token_issue(const unsigned char key[TOKEN_KEY_BYTES], const char *sub,
                const char *role, const char *audience, int64_t now,
                int64_t ttl, char *out, size_t outlen,
                struct token_claims *claims_out);

/*
 * Verifies 'token' (constant-time tag compare) and its claims: audience must
 * equal 'audience', iat <= now + 60 (clock skew), now < exp. Returns RELAY_OK
 * and fills 'out'; RELAY_EAUTH for anything malformed or badly signed;
 * RELAY_EEXPIRED when only the expiry failed. 'out' is untouched on failure.
 * A token of TOKEN_MAX bytes or more is refused (RELAY_EAUTH) without being
 * read further. RELAY_EINVAL only for bad arguments (NULL pointers).
 */
int token_verify(const unsigned char key[TOKEN_KEY_BYTES], const char *token,
                 const char *audience, int64_t now, struct token_claims *out);

#endif
