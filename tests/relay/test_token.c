/* Unit tests for relay/token.c: issue/verify, tampering, claim checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "error.h"
#include "token.h"

#define NOW 1700000000LL
#define TTL 3600LL
#define AUD "buurtrelay"
#define SUB "u0123456789abcdef"

static unsigned char key[TOKEN_KEY_BYTES];
static unsigned char other_key[TOKEN_KEY_BYTES];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    memset(key, 0x42, sizeof(key));
    memset(other_key, 0x43, sizeof(other_key));
    return 0;
}

/* A fresh token issued at NOW for SUB/resident. */
static void issue(char *out, struct token_claims *c)
{
    assert_int_equal(
        token_issue(key, SUB, "resident", AUD, NOW, TTL, out, TOKEN_MAX, c),
        RELAY_OK);
}

/*
 * Builds "prefix" b64url(json) "." b64url(HMAC(key, everything before)):
 * a correctly signed token around arbitrary claims, to reach the claims
 * checks that a forger never could.
 */
static void sign_raw(const char *prefix, const char *json,
                     const unsigned char *k, char *out, size_t outlen)
{
    unsigned char tag[crypto_auth_hmacsha256_BYTES];
    size_t len;

    snprintf(out, outlen, "%s", prefix);
    len = strlen(out);
    sodium_bin2base64(out + len, outlen - len, (const unsigned char *)json,
                      strlen(json), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    len = strlen(out);
    crypto_auth_hmacsha256(tag, (const unsigned char *)out, len, k);
    out[len++] = '.';
    sodium_bin2base64(out + len, outlen - len, tag, sizeof(tag),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int verify_raw(const char *json)
{
    char tok[4096];
    struct token_claims c;

    sign_raw("br1.", json, key, tok, sizeof(tok));
    return token_verify(key, tok, AUD, NOW, &c);
}

static void test_roundtrip(void **state)
{
    char tok[TOKEN_MAX];
    struct token_claims issued, got;

    issue(tok, &issued);
    assert_memory_equal(tok, "br1.", 4);
    assert_true(strlen(tok) < TOKEN_MAX);
    assert_int_equal(token_verify(key, tok, AUD, NOW + 10, &got), RELAY_OK);
    assert_string_equal(got.sub, SUB);
    assert_string_equal(got.role, "resident");
    assert_int_equal(got.iat, NOW);
    assert_int_equal(got.exp, NOW + TTL);
    assert_int_equal(strlen(got.jti), 32);
    assert_string_equal(got.jti, issued.jti);
    assert_int_equal(strspn(got.jti, "0123456789abcdef"), 32);
}

static void test_jti_is_fresh_each_time(void **state)
{
    char a[TOKEN_MAX], b[TOKEN_MAX];
    struct token_claims ca, cb;

    issue(a, &ca);
    issue(b, &cb);
    assert_string_not_equal(ca.jti, cb.jti);
    assert_string_not_equal(a, b);
}

static void test_tampered_payload_fails(void **state)
{
    char tok[TOKEN_MAX];
    struct token_claims c;

    issue(tok, NULL);
    /* Flip one base64url character of the claims. */
    tok[10] = tok[10] == 'A' ? 'B' : 'A';
    assert_int_equal(token_verify(key, tok, AUD, NOW, &c), RELAY_EAUTH);
}

static void test_tampered_tag_fails(void **state)
{
    char tok[TOKEN_MAX];
    struct token_claims c;
    size_t n;

    issue(tok, NULL);
    n = strlen(tok);
    tok[n - 5] = tok[n - 5] == 'A' ? 'B' : 'A';
    assert_int_equal(token_verify(key, tok, AUD, NOW, &c), RELAY_EAUTH);
    issue(tok, NULL);
    tok[n - 1] = '\0'; /* truncated tag */
    assert_int_equal(token_verify(key, tok, AUD, NOW, &c), RELAY_EAUTH);
}

static void test_wrong_key_fails(void **state)
{
    char tok[TOKEN_MAX];
    struct token_claims c;

    issue(tok, NULL);
    assert_int_equal(token_verify(other_key, tok, AUD, NOW, &c), RELAY_EAUTH);
}

static void test_wrong_audience_fails(void **state)
{
    char tok[TOKEN_MAX];
    struct token_claims c;

    issue(tok, NULL);
    assert_int_equal(token_verify(key, tok, "other-relay", NOW, &c),
                     RELAY_EAUTH);
    assert_int_equal(token_verify(key, tok, "buurtrelay2", NOW, &c),
                     RELAY_EAUTH);
    assert_int_equal(token_verify(key, tok, "Buurtrelay", NOW, &c),
                     RELAY_EAUTH);
}

static void test_expired_is_eexpired_and_leaves_out_alone(void **state)
{
    char tok[TOKEN_MAX];
    struct token_claims c, sentinel;

    issue(tok, NULL);
    memset(&c, 0x5a, sizeof(c));
    sentinel = c;
    assert_int_equal(token_verify(key, tok, AUD, NOW + TTL - 1, &c), RELAY_OK);
    memset(&c, 0x5a, sizeof(c));
    assert_int_equal(token_verify(key, tok, AUD, NOW + TTL, &c),
                     RELAY_EEXPIRED);
    assert_memory_equal(&c, &sentinel, sizeof(c));
    assert_int_equal(token_verify(key, tok, AUD, NOW + 10 * TTL, &c),
                     RELAY_EEXPIRED);
    /* A bad signature on an expired token is EAUTH, not EEXPIRED. */
    assert_int_equal(token_verify(other_key, tok, AUD, NOW + TTL, &c),
                     RELAY_EAUTH);
}

static void test_future_iat_beyond_skew_fails(void **state)
{
    char tok[TOKEN_MAX];
    struct token_claims c;

    assert_int_equal(token_issue(key, SUB, "police", AUD, NOW + TOKEN_SKEW, TTL,
                                 tok, sizeof(tok), NULL),
                     RELAY_OK);
    assert_int_equal(token_verify(key, tok, AUD, NOW, &c), RELAY_OK);
    assert_int_equal(token_issue(key, SUB, "police", AUD, NOW + TOKEN_SKEW + 1,
                                 TTL, tok, sizeof(tok), NULL),
                     RELAY_OK);
    assert_int_equal(token_verify(key, tok, AUD, NOW, &c), RELAY_EAUTH);
}

static void test_garbage_fails(void **state)
{
    static const char *const bad[] = {
        "",
        "br1",
        "br1.",
        "br1..",
        "br1.e30.",
        "br1..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "br1.e30",
        "hello world",
        "Bearer br1.e30.AAAA",
        "br1.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "br1.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x",
        "br1.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "br1.e+0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    };
    struct token_claims c;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(token_verify(key, bad[i], AUD, NOW, &c), RELAY_EAUTH);
}

static void test_other_prefix_fails_even_when_signed(void **state)
{
    char tok[TOKEN_MAX], raw[4096];
    struct token_claims c;
    const char *json =
        "{\"sub\":\"" SUB "\",\"role\":\"admin\",\"aud\":\"" AUD "\","
        "\"iat\":1700000000,\"exp\":1700003600,"
        "\"jti\":\"0123456789abcdef0123456789abcdef\"}";

    /* The same claims, validly signed under "br1." and "br2.". */
    sign_raw("br1.", json, key, raw, sizeof(raw));
    assert_int_equal(token_verify(key, raw, AUD, NOW, &c), RELAY_OK);
    sign_raw("br2.", json, key, raw, sizeof(raw));
    assert_int_equal(token_verify(key, raw, AUD, NOW, &c), RELAY_EAUTH);
    /* A "br1." token relabelled "br2." breaks the tag as well. */
    issue(tok, NULL);
    tok[2] = '2';
    assert_int_equal(token_verify(key, tok, AUD, NOW, &c), RELAY_EAUTH);
}

static void test_overlong_fails(void **state)
{
    char big[TOKEN_MAX * 2];
    char json[TOKEN_MAX * 2];
    struct token_claims c;

    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "br1.", 4);
    assert_int_equal(token_verify(key, big, AUD, NOW, &c), RELAY_EAUTH);

    /* Validly signed, valid claims, but longer than TOKEN_MAX. */
    snprintf(json, sizeof(json),
             "{\"sub\":\"" SUB "\",\"role\":\"resident\",\"aud\":\"" AUD
             "\",\"iat\":1700000000,\"exp\":1700003600,"
             "\"jti\":\"0123456789abcdef0123456789abcdef\",\"pad\":\"%0*d\"}",
             800, 0);
    sign_raw("br1.", json, key, big, sizeof(big));
    assert_true(strlen(big) >= TOKEN_MAX);
    assert_int_equal(token_verify(key, big, AUD, NOW, &c), RELAY_EAUTH);
}

static void test_unknown_claims_are_ignored(void **state)
{
    assert_int_equal(verify_raw("{\"sub\":\"" SUB
                                "\",\"role\":\"boa\",\"aud\":\"" AUD
                                "\",\"iat\":1700000000,\"exp\":1700003600,"
                                "\"jti\":\"0123456789abcdef0123456789abcdef\","
                                "\"typ\":\"session\"}"),
                     RELAY_OK);
}

/* Signed claims that are wrong in one way each: all RELAY_EAUTH. */
static void test_malformed_signed_claims_fail(void **state)
{
#define J(sub, role, aud, iat, exp, jti)                                       \
    "{\"sub\":" sub ",\"role\":" role ",\"aud\":" aud ",\"iat\":" iat          \
    ",\"exp\":" exp ",\"jti\":" jti "}"
#define S "\"" SUB "\""
#define R "\"resident\""
#define A "\"" AUD "\""
#define I "1700000000"
#define E "1700003600"
#define T "\"0123456789abcdef0123456789abcdef\""
    static const char *const bad[] = {
        J(S, R, A, "1700000000.5", E, T),
        J(S, R, A, I, "null", T),
        J(S, R, A, "\"1700000000\"", E, T),
        J(S, R, A, "-1", E, T),
        J(S, R, A, I, "1e400", T),
        J(S, R, A, I, "9007199254740993", T),
        J(S, R, A, I, I, T), /* exp == iat */
        J(S, R, A, E, I, T), /* exp < iat */
        J("\"bad id\"", R, A, I, E, T),
        J("\"\"", R, A, I, E, T),
        J("1", R, A, I, E, T),
        J(S, "\"Police\"", A, I, E, T),
        J(S, "\"\"", A, I, E, T),
        J(S, "\"residentresidentresident\"", A, I, E, T),
        J(S, R, "null", I, E, T),
        J(S, R, A, I, E, "\"0123456789ABCDEF0123456789ABCDEF\""),
        J(S, R, A, I, E, "\"0123\""),
        J(S, R, A, I, E, "\"0123456789abcdef0123456789abcdef0\""),
        "{\"Sub\":" S ",\"role\":" R ",\"aud\":" A ",\"iat\":" I ",\"exp\":" E
        ",\"jti\":" T "}",
        "{\"sub\":" S ",\"sub\":" S ",\"role\":" R ",\"aud\":" A ",\"iat\":" I
        ",\"exp\":" E ",\"jti\":" T "}",
        "{\"role\":" R ",\"aud\":" A ",\"iat\":" I ",\"exp\":" E ",\"jti\":" T
        "}",
        J(S, R, A, I, E, T) " x",
        "[" J(S, R, A, I, E, T) "]",
        "\"just a string\"",
        "",
        "{\"sub\":\"u\\u0000x\",\"role\":" R ",\"aud\":" A ",\"iat\":" I
        ",\"exp\":" E ",\"jti\":" T "}",
    };

    assert_int_equal(verify_raw(J(S, R, A, I, E, T)), RELAY_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (verify_raw(bad[i]) != RELAY_EAUTH)
            fail_msg("accepted claims #%zu: %s", i, bad[i]);
    }
#undef J
#undef S
#undef R
#undef A
#undef I
#undef E
#undef T
}

static void test_issue_rejects_bad_arguments(void **state)
{
    char tok[TOKEN_MAX];
    char long_id[TOKEN_ID_MAX + 2];
    char long_aud[TOKEN_AUD_MAX + 2];

    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    memset(long_aud, 'a', sizeof(long_aud) - 1);
    long_aud[sizeof(long_aud) - 1] = '\0';

    assert_int_equal(token_issue(key, "bad id", "resident", AUD, NOW, TTL, tok,
                                 sizeof(tok), NULL),
                     RELAY_EINVAL);
    assert_int_equal(
        token_issue(key, "", "resident", AUD, NOW, TTL, tok, sizeof(tok), NULL),
        RELAY_EINVAL);
    assert_int_equal(token_issue(key, long_id, "resident", AUD, NOW, TTL, tok,
                                 sizeof(tok), NULL),
                     RELAY_EINVAL);
    assert_int_equal(token_issue(key, SUB, "Resident", AUD, NOW, TTL, tok,
                                 sizeof(tok), NULL),
                     RELAY_EINVAL);
    assert_int_equal(
        token_issue(key, SUB, "resident", "", NOW, TTL, tok, sizeof(tok), NULL),
        RELAY_EINVAL);
    assert_int_equal(token_issue(key, SUB, "resident", "a b", NOW, TTL, tok,
                                 sizeof(tok), NULL),
                     RELAY_EINVAL);
    assert_int_equal(token_issue(key, SUB, "resident", long_aud, NOW, TTL, tok,
                                 sizeof(tok), NULL),
                     RELAY_EINVAL);
    assert_int_equal(
        token_issue(key, SUB, "resident", AUD, NOW, 0, tok, sizeof(tok), NULL),
        RELAY_EINVAL);
    assert_int_equal(
        token_issue(key, SUB, "resident", AUD, -1, TTL, tok, sizeof(tok), NULL),
        RELAY_EINVAL);
    assert_int_equal(token_issue(key, SUB, "resident", AUD, NOW, INT64_MAX, tok,
                                 sizeof(tok), NULL),
                     RELAY_EINVAL);
    assert_int_equal(
        token_issue(key, SUB, "resident", AUD, NOW, TTL, tok, 10, NULL),
        RELAY_ETOOBIG);
}

static void test_longest_inputs_fit(void **state)
{
    char tok[TOKEN_MAX];
    char id[TOKEN_ID_MAX + 1];
    char aud[TOKEN_AUD_MAX + 1];
    struct token_claims c;

    memset(id, 'Z', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    memset(aud, '~', sizeof(aud) - 1);
    aud[sizeof(aud) - 1] = '\0';
    assert_int_equal(token_issue(key, id, "beheerderbeheerd", aud, NOW, TTL,
                                 tok, sizeof(tok), NULL),
                     RELAY_OK);
    assert_int_equal(token_verify(key, tok, aud, NOW, &c), RELAY_OK);
    assert_string_equal(c.sub, id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_jti_is_fresh_each_time),
        cmocka_unit_test(test_tampered_payload_fails),
        cmocka_unit_test(test_tampered_tag_fails),
        cmocka_unit_test(test_wrong_key_fails),
        cmocka_unit_test(test_wrong_audience_fails),
        cmocka_unit_test(test_expired_is_eexpired_and_leaves_out_alone),
        cmocka_unit_test(test_future_iat_beyond_skew_fails),
        cmocka_unit_test(test_garbage_fails),
        cmocka_unit_test(test_other_prefix_fails_even_when_signed),
        cmocka_unit_test(test_overlong_fails),
        cmocka_unit_test(test_unknown_claims_are_ignored),
        cmocka_unit_test(test_malformed_signed_claims_fail),
        cmocka_unit_test(test_issue_rejects_bad_arguments),
        cmocka_unit_test(test_longest_inputs_fit),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
