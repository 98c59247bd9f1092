/*
 * channel_pick.c - see channel_pick.h.
 */
#include "channel_pick.h"

#include <stdio.h>
#include <string.h>

static int is_phone_kind(const struct adapter_instance *in)
{
    return !in->ops->address_kind ||
           strcmp(in->ops->address_kind, "phone") == 0;
}

/* True when 'kind' is in the comma list 'kinds'. */
static int in_list(const char *kinds, const char *kind)
{
    size_t n = strlen(kind);

    for (const char *p = kinds; *p;) {
        size_t len = strcspn(p, ",");

        if (len == n && strncmp(p, kind, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* The adapter a preference name stands for, if the person has the
 * address it needs; NULL otherwise. */
static const struct adapter_instance *
channel_adapter(const struct adapter_set *set, const char *name, int has_phone,
                const char *kinds)
{
    for (int i = 0; i < set->n; i++) {
        const struct adapter_instance *in = set->in[i];
        int sms = (in->ops->caps & ADAPTER_CAP_SMS) != 0;

        if (strcmp(name, "sms") == 0 ? !sms : strcmp(name, in->ops->name))
            continue;
        if (is_phone_kind(in) ? has_phone
                              : in_list(kinds, in->ops->address_kind))
            return in;
        return NULL;
    }
    return NULL;
}

int channel_pick(const struct adapter_set *set, const char *prefs,
                 int has_phone, const char *kinds,
                 const struct adapter_instance *out[CHANNELS_MAX])
{
    char names[CHANNELS_MAX][CONTACT_KIND_MAX + 1];
    size_t n = 0;
    int count = 0;

    if (!prefs[0] || channels_parse(prefs, names, &n) < 0) {
        n = 0;
        snprintf(names[n++], sizeof(names[0]), "sms");
        for (const char *p = kinds; *p && n < CHANNELS_MAX;) {
            size_t len = strcspn(p, ",");

            if (len < sizeof(names[0])) {
                memcpy(names[n], p, len);
                names[n][len] = '\0';
                n++;
            }
            p += len;
            if (*p == ',')
                p++;
        }
    }
    for (size_t i = 0; i < n && count < CHANNELS_MAX; i++) {
        const struct adapter_instance *in =
            channel_adapter(set, names[i], has_phone, kinds);
        int dup = 0;

        for (int k = 0; in && k < count; k++)
            dup |= out[k] == in;
        if (in && !dup)
            out[count++] = in;
    }
    return count;
}
