/*
 * contacts.c - see contacts.h.
 */
#include "contacts.h"

#include <string.h>

#include "error.h"

int contact_kind_valid(const char *kind)
{
    size_t n = 0;

    if (!kind)
        return 0;
    for (; kind[n]; n++) {
        if (kind[n] < 'a' || kind[n] > 'z' || n >= CONTACT_KIND_MAX)
            return 0;
    }
    return n > 0;
}

int contact_value_valid(const char *value)
{
    size_t n = 0;

    if (!value)
        return 0;
    for (; value[n]; n++) {
        unsigned char ch = (unsigned char)value[n];

        if (ch <= ' ' || ch >= 0x7f || n >= CONTACT_VALUE_MAX)
            return 0;
    }
    return n > 0;
}

/* Copies s[0..n) into out (cap bytes with NUL); -1 when it does not fit. */
static int copy_part(const char *s, size_t n, char *out, size_t cap)
{
    if (n + 1 > cap)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int contacts_parse(const char *text, struct contact out[CONTACTS_MAX],
                   size_t *n)
{
    const char *p = text;

    if (!text || !out || !n)
        return RELAY_EINVAL;
    *n = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        struct contact c;

        if (!eq || *n >= CONTACTS_MAX ||
            copy_part(p, (size_t)(eq - p), c.kind, sizeof(c.kind)) < 0 ||
            copy_part(eq + 1, len - (size_t)(eq - p) - 1, c.value,
                      sizeof(c.value)) < 0 ||
            !contact_kind_valid(c.kind) || !contact_value_valid(c.value))
            return RELAY_EINVAL;
        for (size_t i = 0; i < *n; i++) {
            if (strcmp(out[i].kind, c.kind) == 0)
                return RELAY_EINVAL;
        }
        out[(*n)++] = c;
        p += len;
        if (*p == '\n')
            p++;
    }
    return RELAY_OK;
}

int contacts_format(const struct contact *c, size_t n, char *out, size_t outlen)
{
    size_t used = 0;

    if (!out || outlen == 0 || (n && !c))
        return RELAY_EINVAL;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(c[i].kind), v = strlen(c[i].value);
        size_t need = k + 1 + v + (i ? 1 : 0);

        if (used + need + 1 > outlen)
            return RELAY_ETOOBIG;
        if (i)
            out[used++] = '\n';
        memcpy(out + used, c[i].kind, k);
        used += k;
        out[used++] = '=';
        memcpy(out + used, c[i].value, v);
        used += v;
        out[used] = '\0';
    }
    return RELAY_OK;
}

int contacts_set(struct contact c[CONTACTS_MAX], size_t *n, const char *kind,
                 const char *value)
{
    size_t i;

    if (!c || !n || !contact_kind_valid(kind))
        return RELAY_EINVAL;
    for (i = 0; i < *n && strcmp(c[i].kind, kind) != 0; i++)
        ;
    if (!value || !*value) {
        if (i < *n) {
            memmove(&c[i], &c[i + 1], (*n - i - 1) * sizeof(c[0]));
            (*n)--;
        }
        return RELAY_OK;
    }
    if (!contact_value_valid(value))
        return RELAY_EINVAL;
    if (i == *n) {
        if (*n >= CONTACTS_MAX)
            return RELAY_EFULL;
        (*n)++;
    }
    copy_part(kind, strlen(kind), c[i].kind, sizeof(c[i].kind));
    copy_part(value, strlen(value), c[i].value, sizeof(c[i].value));
    return RELAY_OK;
}

int contacts_get(const char *text, const char *kind, char *out, size_t outlen)
{
    struct contact c[CONTACTS_MAX];
    size_t n;
    int rc = contacts_parse(text, c, &n);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(c[i].kind, kind) == 0)
            return copy_part(c[i].value, strlen(c[i].value), out, outlen) < 0
                       ? RELAY_ETOOBIG
                       : RELAY_OK;
    }
    return RELAY_ENOTFOUND;
}

int channels_parse(const char *text,
                   char names[CHANNELS_MAX][CONTACT_KIND_MAX + 1], size_t *n)
{
    const char *p = text;

    if (!text || !names || !n)
        return RELAY_EINVAL;
    *n = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);

        if (*n >= CHANNELS_MAX ||
            copy_part(p, len, names[*n], sizeof(names[0])) < 0 ||
            !contact_kind_valid(names[*n]))
            return RELAY_EINVAL;
        for (size_t i = 0; i < *n; i++) {
            if (strcmp(names[i], names[*n]) == 0)
                return RELAY_EINVAL;
        }
        (*n)++;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p)
                return RELAY_EINVAL;
        }
    }
    return RELAY_OK;
}
