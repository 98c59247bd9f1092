/*
 * json_strict.c - strict JSON for untrusted client frames.
 *
 * Three passes, cheapest first: UTF-8 over the raw bytes, then a grammar
 * scan of the raw text (RFC 8259, plus our limits: depth, no NUL, numbers
 * cJSON can hold), then cJSON builds the tree and a walk rejects what only
 * the tree shows (duplicate keys after unescaping, numbers that overflowed
 * to infinity). WHY the grammar scan: cJSON 1.7.15 is lenient beyond the
 * traps listed in json_strict.h (any byte <= 0x20 counts as whitespace, so
 * a raw NUL between tokens is skipped; raw control characters in strings,
 * "+1", "01", ".5" and a BOM are accepted), and "\u0000" can only be told
 * apart from "\\u0000" by reading the escapes in the raw text.
 */
#include "json_strict.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cJSON copies a number into a 64-byte buffer and silently stops there. */
#define NUMBER_TOKEN_MAX 63

/* Pairwise duplicate check below this many keys, sort above it. */
#define DUP_PAIRWISE_MAX 16

static const char WHY_UTF8[] = "invalid UTF-8";
static const char WHY_DUP[] = "duplicate key";
static const char WHY_DEPTH[] = "nesting too deep";
static const char WHY_NUL[] = "NUL character in string";
static const char WHY_RANGE[] = "number out of range";
static const char WHY_TRAILING[] = "trailing characters";
static const char WHY_MALFORMED[] = "malformed JSON";
static const char WHY_NOMEM[] = "out of memory";

/* Cursor of the grammar scan; 'why' is set on the first failure. */
struct scan {
    const unsigned char *p;   /* next unread byte */
    const unsigned char *end; /* one past the last byte */
    int max_depth;            /* containers allowed inside each other */
    const char *why;          /* reason of the failure, NULL while fine */
};

/*
 * Well-formed UTF-8 per Unicode table 3-7: the second byte's range depends
 * on the lead byte, which is what excludes overlongs (C0, C1, E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF
 * (F4 90.., F5..FF).
 */
int utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        unsigned char lo = 0x80;
        unsigned char hi = 0xBF;
        size_t n;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        }
        i += n + 1;
    }
    return 1;
}

static int scan_fail(struct scan *s, const char *why)
{
    if (!s->why)
        s->why = why;
    return -1;
}

static void scan_ws(struct scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int scan_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return scan_fail(s, WHY_MALFORMED);
    s->p += n;
    return 0;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Reads 4 hex digits at s->p into *out. */
static int scan_hex4(struct scan *s, unsigned *out)
{
    unsigned v = 0;

    if (s->end - s->p < 4)
        return scan_fail(s, WHY_MALFORMED);
    for (int i = 0; i < 4; i++) {
        unsigned char c = s->p[i];

        v <<= 4;
        if (is_digit(c))
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return scan_fail(s, WHY_MALFORMED);
    }
    s->p += 4;
    *out = v;
    return 0;
}

/*
 * A string, s->p on the opening quote. Escapes are consumed as units, so
 * in "\\u0000" the backslash pair is one escape and "u0000" plain text.
 * Surrogate escapes must pair up (cJSON rejects lone ones; we say why
 * first). Raw bytes >= 0x80 were validated as UTF-8 already.
 */
static int scan_string(struct scan *s)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c = *s->p++;
        unsigned cp;
        unsigned lo;

        if (c == '"')
            return 0;
        if (c == 0)
            return scan_fail(s, WHY_NUL);
        if (c < 0x20)
            return scan_fail(s, WHY_MALFORMED);
        if (c != '\\')
            continue;
        if (s->p == s->end)
            break;
        c = *s->p++;
        if (c != 0 && strchr("\"\\/bfnrt", c))
            continue;
        if (c != 'u' || scan_hex4(s, &cp) < 0)
            return scan_fail(s, WHY_MALFORMED);
        if (cp == 0)
            return scan_fail(s, WHY_NUL);
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return scan_fail(s, WHY_MALFORMED);
        if (cp < 0xD800 || cp > 0xDBFF)
            continue;
        if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
            return scan_fail(s, WHY_MALFORMED);
        s->p += 2;
        if (scan_hex4(s, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
            return scan_fail(s, WHY_MALFORMED);
    }
    return scan_fail(s, WHY_MALFORMED);
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and short enough. */
static int scan_number(struct scan *s)
{
    const unsigned char *start = s->p;

    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p == s->end || !is_digit(*s->p))
        return scan_fail(s, WHY_MALFORMED);
    if (*s->p++ != '0') {
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p == s->end || !is_digit(*s->p))
            return scan_fail(s, WHY_MALFORMED);
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p == s->end || !is_digit(*s->p))
            return scan_fail(s, WHY_MALFORMED);
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p - start > NUMBER_TOKEN_MAX)
        return scan_fail(s, WHY_RANGE);
    return 0;
}

static int scan_value(struct scan *s, int depth);

/* An object or array, s->p on its opening bracket; 'depth' counts it. */
static int scan_container(struct scan *s, int depth)
{
    int is_object = *s->p == '{';
    unsigned char close = is_object ? '}' : ']';

    if (depth > s->max_depth)
        return scan_fail(s, WHY_DEPTH);
    s->p++;
    scan_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (is_object) {
            if (s->p == s->end || *s->p != '"')
                return scan_fail(s, WHY_MALFORMED);
            if (scan_string(s) < 0)
                return -1;
            scan_ws(s);
            if (s->p == s->end || *s->p != ':')
                return scan_fail(s, WHY_MALFORMED);
            s->p++;
            scan_ws(s);
        }
        if (scan_value(s, depth) < 0)
            return -1;
        scan_ws(s);
        if (s->p == s->end)
            return scan_fail(s, WHY_MALFORMED);
        if (*s->p == close) {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return scan_fail(s, WHY_MALFORMED);
        s->p++;
        scan_ws(s);
    }
}

/* One value, s->p on its first byte; 'depth' = containers around it. */
static int scan_value(struct scan *s, int depth)
{
    if (s->p == s->end)
        return scan_fail(s, WHY_MALFORMED);
    switch (*s->p) {
    case '{':
    case '[':
        return scan_container(s, depth + 1);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true");
    case 'f':
        return scan_literal(s, "false");
    case 'n':
        return scan_literal(s, "null");
    default:
        if (*s->p == '-' || is_digit(*s->p))
            return scan_number(s);
        return scan_fail(s, WHY_MALFORMED);
    }
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Duplicate names among an object's members, compared after unescaping
 * (so "a" and "\u0061" collide) and case-sensitively. Returns NULL when
 * fine, else the reason.
 */
static const char *check_duplicates(const cJSON *object)
{
    const cJSON *a;
    const char **names;
    size_t n = 0;
    size_t i = 0;
    const char *why = NULL;

    for (a = object->child; a; a = a->next)
        n++;
    if (n <= DUP_PAIRWISE_MAX) {
        for (a = object->child; a; a = a->next) {
            for (const cJSON *b = a->next; b; b = b->next) {
                if (strcmp(a->string, b->string) == 0)
                    return WHY_DUP;
            }
        }
        return NULL;
    }
    names = malloc(n * sizeof(*names));
    if (!names)
        return WHY_NOMEM;
    for (a = object->child; a; a = a->next)
        names[i++] = a->string;
    qsort(names, n, sizeof(*names), compare_keys);
    for (i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            why = WHY_DUP;
            break;
        }
    }
    free(names);
    return why;
}

/* Walks the tree for what the raw scan cannot see. NULL when fine. */
static const char *check_tree(const cJSON *node)
{
    const char *why;

    if (cJSON_IsNumber(node) && !isfinite(node->valuedouble))
        return WHY_RANGE;
    if (cJSON_IsObject(node)) {
        why = check_duplicates(node);
        if (why)
            return why;
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        for (const cJSON *c = node->child; c; c = c->next) {
            why = check_tree(c);
            if (why)
                return why;
        }
    }
    return NULL;
}

/*
 * Depth counts containers: a scalar is depth 0, {} and [] depth 1,
 * {"a":[]} depth 2. max_depth is capped at cJSON's own nesting limit, and
 * that cap also bounds the recursion of the scan and the walk.
 */
cJSON *json_strict_parse(const char *buf, size_t len, int max_depth,
                         const char **why)
{
    struct scan s;
    char *copy;
    cJSON *root;
    const char *reason;

    if (!buf || len == 0) {
        *why = WHY_MALFORMED;
        return NULL;
    }
    if (!utf8_valid(buf, len)) {
        *why = WHY_UTF8;
        return NULL;
    }
    s.p = (const unsigned char *)buf;
    s.end = s.p + len;
    s.max_depth = max_depth < 0 ? 0 : max_depth;
    if (s.max_depth > CJSON_NESTING_LIMIT)
        s.max_depth = CJSON_NESTING_LIMIT;
    s.why = NULL;
    scan_ws(&s);
    if (scan_value(&s, 0) < 0) {
        *why = s.why;
        return NULL;
    }
    scan_ws(&s);
    if (s.p != s.end) {
        *why = WHY_TRAILING;
        return NULL;
    }
    if (len == SIZE_MAX) {
        *why = WHY_NOMEM;
        return NULL;
    }
    copy = malloc(len + 1);
    if (!copy) {
        *why = WHY_NOMEM;
        return NULL;
    }
    if (len > 0)
        memcpy(copy, buf, len);
    copy[len] = '\0';
    /* The length includes the NUL: that is where cJSON looks for it. */
    root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
    free(copy);
    if (!root) {
        /* The text passed the full grammar scan, so only allocation is
         * left to fail. */
        *why = WHY_NOMEM;
        return NULL;
    }
    reason = check_tree(root);
    if (reason) {
        cJSON_Delete(root);
        *why = reason;
        return NULL;
    }
    return root;
}
