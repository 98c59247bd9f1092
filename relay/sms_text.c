/*
 * sms_text.c - GSM-7/UCS-2 costing, splitting and E.164 normalisation.
 *
 * The alphabet is GSM 03.38's default table (and its extension table) as
 * Unicode code points; see sms_text.h for the rules. One pass decodes
 * UTF-8 strictly and sums both costs at once (septets as if GSM-7,
 * UTF-16 units as if UCS-2), because whether a text is GSM-7 is only
 * known at its end; a second pass over the same code points cuts the
 * parts.
 */
#include "sms_text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "pii.h"

/* Cost in septets of ASCII characters: 0 = not in GSM-7. */
static const unsigned char ascii_septets[128] = {
    /* 0x00-0x1f: only LF and CR are basic; FF is ESC 0x0A */
    ['\n'] = 1,
    ['\r'] = 1,
    ['\f'] = 2,
    /* 0x20-0x3f: all basic */
    [' '] = 1,
    ['!'] = 1,
    ['"'] = 1,
    ['#'] = 1,
    ['$'] = 1,
    ['%'] = 1,
    ['&'] = 1,
    ['\''] = 1,
    ['('] = 1,
    [')'] = 1,
    ['*'] = 1,
    ['+'] = 1,
    [','] = 1,
    ['-'] = 1,
    ['.'] = 1,
    ['/'] = 1,
    ['0'] = 1,
    ['1'] = 1,
    ['2'] = 1,
    ['3'] = 1,
    ['4'] = 1,
    ['5'] = 1,
    ['6'] = 1,
    ['7'] = 1,
    ['8'] = 1,
    ['9'] = 1,
    [':'] = 1,
    [';'] = 1,
    ['<'] = 1,
    ['='] = 1,
    ['>'] = 1,
    ['?'] = 1,
    /* 0x40-0x5f */
    ['@'] = 1,
    ['A'] = 1,
    ['B'] = 1,
    ['C'] = 1,
    ['D'] = 1,
    ['E'] = 1,
    ['F'] = 1,
    ['G'] = 1,
    ['H'] = 1,
    ['I'] = 1,
    ['J'] = 1,
    ['K'] = 1,
    ['L'] = 1,
    ['M'] = 1,
    ['N'] = 1,
    ['O'] = 1,
    ['P'] = 1,
    ['Q'] = 1,
    ['R'] = 1,
    ['S'] = 1,
    ['T'] = 1,
    ['U'] = 1,
    ['V'] = 1,
    ['W'] = 1,
    ['X'] = 1,
    ['Y'] = 1,
    ['Z'] = 1,
    ['['] = 2,
    ['\\'] = 2,
    [']'] = 2,
    ['^'] = 2,
    ['_'] = 1,
    /* 0x60-0x7f: '`' and DEL are not in GSM-7 */
    ['a'] = 1,
    ['b'] = 1,
    ['c'] = 1,
    ['d'] = 1,
    ['e'] = 1,
    ['f'] = 1,
    ['g'] = 1,
    ['h'] = 1,
    ['i'] = 1,
    ['j'] = 1,
    ['k'] = 1,
    ['l'] = 1,
    ['m'] = 1,
    ['n'] = 1,
    ['o'] = 1,
    ['p'] = 1,
    ['q'] = 1,
    ['r'] = 1,
    ['s'] = 1,
    ['t'] = 1,
    ['u'] = 1,
    ['v'] = 1,
    ['w'] = 1,
    ['x'] = 1,
    ['y'] = 1,
    ['z'] = 1,
    ['{'] = 2,
    ['|'] = 2,
    ['}'] = 2,
    ['~'] = 2,
};

/* Non-ASCII characters of the default table (cost 1), sorted. */
static const uint32_t gsm_basic_high[] = {
    0x00A1, /* ¡ */ 0x00A3, /* £ */ 0x00A4, /* ¤ */ 0x00A5, /* ¥ */
    0x00A7, /* § */ 0x00BF, /* ¿ */ 0x00C4, /* Ä */ 0x00C5, /* Å */
    0x00C6, /* Æ */ 0x00C7, /* Ç */ 0x00C9, /* É */ 0x00D1, /* Ñ */
    0x00D6, /* Ö */ 0x00D8, /* Ø */ 0x00DC, /* Ü */ 0x00DF, /* ß */
    0x00E0, /* à */ 0x00E4, /* ä */ 0x00E5, /* å */ 0x00E6, /* æ */
    0x00E8, /* è */ 0x00E9, /* é */ 0x00EC, /* ì */ 0x00F1, /* ñ */
    0x00F2, /* ò */ 0x00F6, /* ö */ 0x00F8, /* ø */ 0x00F9, /* ù */
    0x00FC, /* ü */ 0x0393, /* Γ */ 0x0394, /* Δ */ 0x0398, /* Θ */
    0x039B, /* Λ */ 0x039E, /* Ξ */ 0x03A0, /* Π */ 0x03A3, /* Σ */
    0x03A6, /* Φ */ 0x03A8, /* Ψ */ 0x03A9,                 /* Ω */
};

#define EURO_SIGN 0x20AC /* the only non-ASCII extension character */

/* Septets of code point cp in GSM-7: 1, 2, or 0 when not encodable. */
static unsigned gsm_septets(uint32_t cp)
{
    size_t lo = 0;
    size_t hi = sizeof(gsm_basic_high) / sizeof(gsm_basic_high[0]);

    if (cp < 128)
        return ascii_septets[cp];
    if (cp == EURO_SIGN)
        return 2;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (gsm_basic_high[mid] == cp)
            return 1;
        if (gsm_basic_high[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/*
 * Decodes one code point of s[0..len) (len > 0) strictly. Returns its
 * byte length (1..4) with *cp set, or 0 for invalid UTF-8 (truncated
 * sequence, bad continuation, overlong form, surrogate, > U+10FFFF).
 */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c = s[0];
    size_t n;
    uint32_t min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        c &= 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        c &= 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* Cost of one code point in the chosen coding. */
static unsigned cost_of(uint32_t cp, enum sms_coding coding)
{
    if (coding == SMS_CODING_GSM7)
        return gsm_septets(cp);
    return cp > 0xFFFF ? 2 : 1;
}

static unsigned parts_for(size_t units, size_t single, size_t per_part)
{
    if (units <= single)
        return 1;
    return (unsigned)((units + per_part - 1) / per_part);
}

int sms_text_measure(const char *text, size_t len, struct sms_info *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t septets = 0, utf16 = 0, chars = 0;
    int gsm = 1;
    struct sms_info info;

    if (!text || !out || len == 0 || len > SMS_TEXT_BYTES_MAX)
        return RELAY_EINVAL;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_next(s + i, len - i, &cp);
        unsigned g;

        if (n == 0 || cp == 0)
            return RELAY_EINVAL;
        g = gsm_septets(cp);
        if (g == 0)
            gsm = 0;
        septets += g;
        utf16 += cp > 0xFFFF ? 2 : 1;
        chars++;
        i += n;
    }
    info.chars = chars;
    if (gsm) {
        info.coding = SMS_CODING_GSM7;
        info.units = septets;
        info.parts = parts_for(septets, SMS_GSM7_SINGLE, SMS_GSM7_PART);
    } else {
        info.coding = SMS_CODING_UCS2;
        info.units = utf16;
        info.parts = parts_for(utf16, SMS_UCS2_SINGLE, SMS_UCS2_PART);
    }
    /*
     * The division above is exact only when no 2-unit character sits on
     * a part boundary; the greedy cut below is the truth, so count it
     * whenever the text is concatenated.
     */
    if (info.parts > 1) {
        size_t per = gsm ? SMS_GSM7_PART : SMS_UCS2_PART;
        size_t in_part = 0;
        unsigned parts = 1;

        for (size_t i = 0; i < len;) {
            uint32_t cp;
            size_t n = utf8_next(s + i, len - i, &cp);
            unsigned c = cost_of(cp, info.coding);

            if (in_part + c > per) {
                parts++;
                in_part = 0;
            }
            in_part += c;
            i += n;
        }
        info.parts = parts;
    }
    *out = info;
    return RELAY_OK;
}

int sms_text_split(const char *text, size_t len, unsigned max_parts,
                   struct sms_info *info, struct sms_part *parts)
{
    const unsigned char *s = (const unsigned char *)text;
    struct sms_info m;
    size_t per, start = 0, in_part = 0;
    unsigned k = 0;
    int rc;

    if (!info || !parts || max_parts < 1 || max_parts > SMS_PARTS_MAX)
        return RELAY_EINVAL;
    rc = sms_text_measure(text, len, &m);
    if (rc < 0)
        return rc;
    *info = m;
    if (m.parts > max_parts)
        return RELAY_ETOOBIG;
    if (m.parts == 1) {
        parts[0].offset = 0;
        parts[0].len = len;
        parts[0].units = m.units;
        return RELAY_OK;
    }
    per = m.coding == SMS_CODING_GSM7 ? SMS_GSM7_PART : SMS_UCS2_PART;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_next(s + i, len - i, &cp);
        unsigned c = cost_of(cp, m.coding);

        if (in_part + c > per) {
            parts[k].offset = start;
            parts[k].len = i - start;
            parts[k].units = in_part;
            k++;
            start = i;
            in_part = 0;
        }
        in_part += c;
        i += n;
    }
    parts[k].offset = start;
    parts[k].len = len - start;
    parts[k].units = in_part;
    return RELAY_OK;
}

/* ---- Phone numbers ---------------------------------------------------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_separator(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')';
}

int sms_phone_normalize(const char *in, unsigned flags,
                        char out[SMS_PHONE_MAX + 1])
{
    char digits[SMS_PHONE_INPUT_MAX + 1];
    char res[SMS_PHONE_INPUT_MAX + 4];
    const char *cc = "";
    const char *d = digits;
    size_t nd = 0, n, ncc;
    int plus = 0;

    if (!in || !out)
        return RELAY_EINVAL;
    n = strlen(in);
    if (n == 0 || n > SMS_PHONE_INPUT_MAX)
        return RELAY_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];

        if (c == '+') {
            if (plus || nd > 0)
                return RELAY_EINVAL;
            plus = 1;
        } else if (is_digit(c)) {
            digits[nd++] = c;
        } else if (!is_separator(c)) {
            return RELAY_EINVAL;
        }
    }
    digits[nd] = '\0';
    if (plus) {
        /* international as written */
    } else if (nd >= 2 && d[0] == '0' && d[1] == '0') {
        d += 2; /* 00 = the international access prefix */
    } else if (nd >= 1 && d[0] == '0') {
        d += 1; /* Dutch national format: 0 is the trunk prefix */
        cc = "31";
    } else if (!(flags & SMS_PHONE_BARE_INTL)) {
        return RELAY_EINVAL;
    }
    /* "+31 (0)6 ...": a trunk 0 written after the Dutch country code */
    if (*cc == '\0' && d[0] == '3' && d[1] == '1' && d[2] == '0') {
        d += 3;
        cc = "31";
    }
    n = strlen(d);
    ncc = strlen(cc);
    res[0] = '+';
    memcpy(res + 1, cc, ncc);
    memcpy(res + 1 + ncc, d, n + 1);
    if (!pii_phone_valid(res))
        return RELAY_EINVAL;
    /* a Dutch number has 9 digits after the country code, the first
     * not 0 (that would be a second trunk prefix) */
    if (strncmp(res, "+31", 3) == 0 && (strlen(res) != 12 || res[3] == '0'))
        return RELAY_EINVAL;
    memcpy(out, res, strlen(res) + 1);
    return RELAY_OK;
}

/* Calls fn on each trimmed entry of a comma-separated list until it
 * returns non-zero; returns that value, or 0. */
static int each_prefix(const char *list,
                       int (*fn)(const char *p, size_t n, void *arg), void *arg)
{
    const char *p = list;

    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;
        int rc;

        while (n > 0 && *q == ' ') {
            q++;
            n--;
        }
        while (n > 0 && q[n - 1] == ' ')
            n--;
        rc = fn(q, n, arg);
        if (rc)
            return rc;
        if (!end)
            return 0;
        p = end + 1;
    }
}

static int match_prefix(const char *p, size_t n, void *arg)
{
    const char *number = arg;

    return n > 1 && strncmp(number, p, n) == 0;
}

int sms_phone_allowed(const char *e164, const char *prefixes)
{
    if (!e164 || !prefixes || *e164 != '+' || *prefixes == '\0')
        return 0;
    return each_prefix(prefixes, match_prefix, (void *)e164) == 1;
}

struct prefix_check {
    int count;
};

static int check_one(const char *p, size_t n, void *arg)
{
    struct prefix_check *pc = arg;

    if (n < 2 || n > SMS_PHONE_MAX || p[0] != '+')
        return 1;
    for (size_t i = 1; i < n; i++) {
        if (!is_digit(p[i]))
            return 1;
    }
    if (++pc->count > 16)
        return 1;
    return 0;
}

int sms_prefixes_check(const char *value, char *why, size_t whylen)
{
    struct prefix_check pc = {0};

    if (!value || each_prefix(value, check_one, &pc) != 0) {
        if (why && whylen > 0)
            snprintf(why, whylen,
                     "not a list of 1 to 16 prefixes like "
                     "'+31' or '+316,+3197'");
        return RELAY_EINVAL;
    }
    return 0;
}
