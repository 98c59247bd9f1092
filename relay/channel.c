/*
 * channel.c - channel names and CBS area codes.
 *
 * Every check is an exact match on an ASCII alphabet (never isdigit() or
 * isalnum(), which follow the locale), so a name that passes can go into
 * a Redis key or a JSON string unescaped.
 */
#include "channel.h"

#include <string.h>

#include "error.h"

#define CHANNEL_ID_MAX 64

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* True for 'prefix' followed by exactly 'ndigits' ASCII digits. */
static int is_code(const char *code, const char *prefix, size_t ndigits)
{
    size_t plen = strlen(prefix);

    if (!code || strncmp(code, prefix, plen) != 0)
        return 0;
    for (size_t i = 0; i < ndigits; i++) {
        if (!is_digit(code[plen + i]))
            return 0;
    }
    return code[plen + ndigits] == '\0';
}

int channel_is_buurtcode(const char *code)
{
    return is_code(code, "BU", 8);
}

int channel_is_wijkcode(const char *code)
{
    return is_code(code, "WK", 6);
}

int channel_is_gemeentecode(const char *code)
{
    return is_code(code, "GM", 4);
}

int channel_is_id(const char *id)
{
    size_t n = 0;

    if (!id)
        return 0;
    for (; id[n] != '\0'; n++) {
        char c = id[n];

        if (n == CHANNEL_ID_MAX)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
              c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

/*
 * A CBS buurtcode is BU + gemeente (4) + wijk (2) + buurt (2) digits; the
 * wijkcode is WK + the same gemeente and wijk digits. Returns RELAY_EINVAL
 * for a bad code and RELAY_ETOOBIG when 'out' cannot hold the result.
 */
int channel_wijk_of_buurt(const char *buurt, char *out, size_t outlen)
{
    if (!channel_is_buurtcode(buurt))
        return RELAY_EINVAL;
    if (!out || outlen < 9)
        return RELAY_ETOOBIG;
    out[0] = 'W';
    out[1] = 'K';
    memcpy(out + 2, buurt + 2, 6);
    out[8] = '\0';
    return RELAY_OK;
}

int channel_parse(const char *name, enum channel_kind *kind,
                  const char **suffix)
{
    static const struct {
        const char *prefix;
        enum channel_kind kind;
    } kinds[] = {
        {"buurt:", CHANNEL_BUURT},
        {"desk:", CHANNEL_DESK},
        {"user:", CHANNEL_USER},
        {"case:", CHANNEL_CASE},
    };

    if (!name)
        return RELAY_EINVAL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t plen = strlen(kinds[i].prefix);
        const char *rest = name + plen;
        int ok;

        if (strncmp(name, kinds[i].prefix, plen) != 0)
            continue;
        switch (kinds[i].kind) {
        case CHANNEL_BUURT:
            ok = channel_is_buurtcode(rest);
            break;
        case CHANNEL_DESK:
            ok = channel_is_wijkcode(rest) || channel_is_buurtcode(rest) ||
                 channel_is_gemeentecode(rest);
            break;
        default:
            ok = channel_is_id(rest);
            break;
        }
        if (!ok)
            return RELAY_EINVAL;
        if (kind)
            *kind = kinds[i].kind;
        if (suffix)
            *suffix = rest;
        return RELAY_OK;
    }
    return RELAY_EINVAL;
}
