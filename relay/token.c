/*
 * token.c - "br1." session tokens: HMAC-SHA-256 over base64url claims.
 *
 * See token.h for the format. Everything here is pure computation on
 * caller-provided buffers: no I/O, no allocation except the cJSON trees
 * used to build and read the claims.
 */
#include "token.h"

#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "channel.h"
#include "error.h"
#include "json_strict.h"

#define PREFIX_LEN (sizeof(TOKEN_PREFIX) - 1)
#define TAG_BYTES crypto_auth_hmacsha256_BYTES
#define TAG_B64_LEN 43 /* base64url of 32 bytes, no padding */
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define INT_CLAIM_MAX 9007199254740991.0 /* 2^53 - 1: exact in a double */
#define CLAIMS_DEPTH 4
#define JTI_BYTES 16

/* True for [a-z]{1,TOKEN_ROLE_MAX}. Roles are not enumerated here: the
 * token only carries what the issuer (user_store) put in. */
static int role_valid(const char *role)
{
    size_t n = 0;

    for (; role[n] != '\0'; n++) {
        if (n >= TOKEN_ROLE_MAX || role[n] < 'a' || role[n] > 'z')
            return 0;
    }
    return n > 0;
}

/* True for 1..TOKEN_AUD_MAX bytes of printable ASCII other than space. */
static int audience_valid(const char *aud)
{
    size_t n = 0;

    for (; aud[n] != '\0'; n++) {
        if (n >= TOKEN_AUD_MAX || aud[n] < 0x21 || aud[n] > 0x7e)
            return 0;
    }
    return n > 0;
}

/* True for exactly 32 lowercase hex digits. */
static int jti_valid(const char *jti)
{
    size_t n = 0;

    for (; jti[n] != '\0'; n++) {
        char c = jti[n];

        if (n >= 2 * JTI_BYTES ||
            !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return n == 2 * JTI_BYTES;
}

/*
 * Reads the integer claim 'name' of 'root' into *out. WHY the checks: cJSON
 * keeps numbers as doubles, so 1.5, 1e400 or -1 would otherwise slip into
 * an int64 cast (undefined behaviour for out-of-range values).
 */
static int claim_int(const cJSON *root, const char *name, int64_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    double d;

    if (!cJSON_IsNumber(item))
        return RELAY_EAUTH;
    d = item->valuedouble;
    if (!isfinite(d) || d < 0.0 || d > INT_CLAIM_MAX || floor(d) != d)
        return RELAY_EAUTH;
    *out = (int64_t)d;
    return RELAY_OK;
}

/*
 * Copies the string claim 'name' of 'root' into out (cap bytes with NUL).
 * RELAY_EAUTH if missing, not a string or too long.
 */
static int claim_str(const cJSON *root, const char *name, char *out, size_t cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    size_t n;

    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return RELAY_EAUTH;
    n = strlen(item->valuestring);
    if (n >= cap)
        return RELAY_EAUTH;
    memcpy(out, item->valuestring, n + 1);
    return RELAY_OK;
}

/*
 * Builds the claims JSON for token_issue(). Returns a cJSON_PrintUnformatted
 * string the caller frees with cJSON_free(), or NULL when out of memory.
 */
static char *claims_print(const struct token_claims *c, const char *aud)
{
    cJSON *root = cJSON_CreateObject();
    char *json = NULL;

    if (!root)
        return NULL;
    /* Once added, items belong to 'root': only 'root' is deleted. */
    if (!cJSON_AddStringToObject(root, "sub", c->sub) ||
        !cJSON_AddStringToObject(root, "role", c->role) ||
        !cJSON_AddStringToObject(root, "aud", aud) ||
        !cJSON_AddNumberToObject(root, "iat", (double)c->iat) ||
        !cJSON_AddNumberToObject(root, "exp", (double)c->exp) ||
        !cJSON_AddStringToObject(root, "jti", c->jti))
        goto out_delete_root;
    json = cJSON_PrintUnformatted(root);

out_delete_root:
    cJSON_Delete(root);
    return json;
}

/*
 * Issues a token (see token.h). The claims are serialised by cJSON, which
 * prints integers below 2^53 exactly; the token is assembled in a local
 * buffer and copied to 'out' only when complete.
 */
int token_issue(const unsigned char key[TOKEN_KEY_BYTES], const char *sub,
                const char *role, const char *audience, int64_t now,
                int64_t ttl, char *out, size_t outlen,
                struct token_claims *claims_out)
{
    struct token_claims c;
    unsigned char jti[JTI_BYTES];
    unsigned char tag[TAG_BYTES];
    char buf[TOKEN_MAX];
    char *json;
    size_t json_len, len;
    int rc = RELAY_OK;

    if (!key || !sub || !role || !audience || !out)
        return RELAY_EINVAL;
    if (!channel_is_id(sub) || !role_valid(role) || !audience_valid(audience))
        return RELAY_EINVAL;
    if (now < 0 || ttl <= 0 || (double)now + (double)ttl >= INT_CLAIM_MAX)
        return RELAY_EINVAL;
    if (sodium_init() < 0)
        return RELAY_EINTERNAL;

    memset(&c, 0, sizeof(c));
    memcpy(c.sub, sub, strlen(sub) + 1);
    memcpy(c.role, role, strlen(role) + 1);
    c.iat = now;
    c.exp = now + ttl;
    randombytes_buf(jti, sizeof(jti));
    sodium_bin2hex(c.jti, sizeof(c.jti), jti, sizeof(jti));

    json = claims_print(&c, audience);
    if (!json)
        return RELAY_ENOMEM;
    json_len = strlen(json);

    /* prefix + payload + '.' + tag + NUL must fit in TOKEN_MAX */
    if (PREFIX_LEN + sodium_base64_ENCODED_LEN(json_len, B64) + 1 +
            TAG_B64_LEN >
        sizeof(buf)) {
        rc = RELAY_EINVAL;
        goto out_free_json;
    }
    memcpy(buf, TOKEN_PREFIX, PREFIX_LEN);
    sodium_bin2base64(buf + PREFIX_LEN, sizeof(buf) - PREFIX_LEN,
                      (const unsigned char *)json, json_len, B64);
    len = strlen(buf);
    crypto_auth_hmacsha256(tag, (const unsigned char *)buf, len, key);
    buf[len] = '.';
    sodium_bin2base64(buf + len + 1, sizeof(buf) - len - 1, tag, sizeof(tag),
                      B64);
    len = strlen(buf);
    if (len + 1 > outlen) {
        rc = RELAY_ETOOBIG;
        goto out_free_json;
    }
    memcpy(out, buf, len + 1);
    if (claims_out)
        *claims_out = c;

out_free_json:
    cJSON_free(json);
    return rc;
}

/*
 * Reads and checks the claims of an authenticated payload into *c.
 * Everything but the expiry is checked here; the caller checks exp last so
 * that RELAY_EEXPIRED means "fine but expired".
 */
static int claims_parse(const char *json, size_t len, const char *audience,
                        int64_t now, struct token_claims *c)
{
    const char *why = NULL;
    char aud[TOKEN_AUD_MAX + 1];
    cJSON *root = json_strict_parse(json, len, CLAIMS_DEPTH, &why);
    int rc = RELAY_EAUTH;

    if (!root)
        return RELAY_EAUTH;
    if (!cJSON_IsObject(root))
        goto out_delete_root;
    if (claim_str(root, "sub", c->sub, sizeof(c->sub)) < 0 ||
        claim_str(root, "role", c->role, sizeof(c->role)) < 0 ||
        claim_str(root, "jti", c->jti, sizeof(c->jti)) < 0 ||
        claim_str(root, "aud", aud, sizeof(aud)) < 0 ||
        claim_int(root, "iat", &c->iat) < 0 ||
        claim_int(root, "exp", &c->exp) < 0)
        goto out_delete_root;
    if (!channel_is_id(c->sub) || !role_valid(c->role) || !jti_valid(c->jti))
        goto out_delete_root;
    if (strcmp(aud, audience) != 0)
        goto out_delete_root;
    /* iat - skew cannot overflow: iat >= 0 */
    if (c->exp <= c->iat || c->iat - TOKEN_SKEW > now)
        goto out_delete_root;
    rc = RELAY_OK;

out_delete_root:
    cJSON_Delete(root);
    return rc;
}

/*
 * Verifies a token (see token.h). Order matters: the shape and the tag are
 * checked before a single byte of the claims is parsed, so the JSON parser
 * only ever sees bytes we signed ourselves.
 */
int token_verify(const unsigned char key[TOKEN_KEY_BYTES], const char *token,
                 const char *audience, int64_t now, struct token_claims *out)
{
    unsigned char tag[TAG_BYTES];
    unsigned char want[TAG_BYTES];
    unsigned char json[TOKEN_MAX];
    struct token_claims c;
    const char *dot;
    size_t len, signed_len, tag_len, json_len = 0;
    int rc;

    if (!key || !token || !audience || !out)
        return RELAY_EINVAL;
    len = strnlen(token, TOKEN_MAX);
    if (len >= TOKEN_MAX || len < PREFIX_LEN ||
        memcmp(token, TOKEN_PREFIX, PREFIX_LEN) != 0)
        return RELAY_EAUTH;
    dot = memchr(token + PREFIX_LEN, '.', len - PREFIX_LEN);
    if (!dot || dot == token + PREFIX_LEN)
        return RELAY_EAUTH;
    signed_len = (size_t)(dot - token);
    tag_len = len - signed_len - 1;
    if (tag_len != TAG_B64_LEN)
        return RELAY_EAUTH;
    if (sodium_base642bin(tag, sizeof(tag), dot + 1, tag_len, NULL, &json_len,
                          NULL, B64) != 0 ||
        json_len != sizeof(tag))
        return RELAY_EAUTH;
    if (sodium_init() < 0)
        return RELAY_EINTERNAL;

    crypto_auth_hmacsha256(want, (const unsigned char *)token, signed_len, key);
    rc = crypto_verify_32(want, tag);
    sodium_memzero(want, sizeof(want));
    if (rc != 0)
        return RELAY_EAUTH;

    if (sodium_base642bin(json, sizeof(json), token + PREFIX_LEN,
                          signed_len - PREFIX_LEN, NULL, &json_len, NULL,
                          B64) != 0)
        return RELAY_EAUTH;

    memset(&c, 0, sizeof(c));
    rc = claims_parse((const char *)json, json_len, audience, now, &c);
    if (rc < 0)
        return rc;
    if (now >= c.exp)
        return RELAY_EEXPIRED;
    *out = c;
    return RELAY_OK;
}
