/*
 * channel.h - channel names and who they belong to.
 *
 * A channel name is "<kind>:<suffix>" with a strict alphabet per kind, so a
 * name can be embedded in Redis keys (ch:{name}:log) and JSON without any
 * escaping. Rules:
 *   buurt:BU + 8 digits          (CBS buurtcode)      e.g. buurt:BU01060101
 *   desk:WK + 6 digits | BU + 8 | GM + 4 (CBS wijk, buurt or gemeente:
 *                                the police desk)   e.g. desk:WK010601
 *   user:<id>                    id = [A-Za-z0-9_-]{1,64}
 *   case:<id>                    id = [A-Za-z0-9_-]{1,64}
 * Anything else (other prefixes, lower-case codes, wrong lengths, trailing
 * bytes) is rejected.
 */
#ifndef RELAY_CHANNEL_H
#define RELAY_CHANNEL_H

#include <stddef.h>

#define CHANNEL_NAME_MAX 72 /* longest valid name, excluding NUL */

enum channel_kind {
    CHANNEL_BUURT = 1,
    CHANNEL_DESK = 2,
    CHANNEL_USER = 3,
    CHANNEL_CASE = 4,
};

/*
 * Validates 'name'. On success returns RELAY_OK, sets *kind and *suffix
 * (pointer into 'name' just past the colon). RELAY_EINVAL otherwise; outputs
 * untouched.
 */
int channel_parse(const char *name, enum channel_kind *kind,
                  const char **suffix);

/* True for "BU" + 8 digits. */
int channel_is_buurtcode(const char *code);
/* True for "WK" + 6 digits. */
int channel_is_wijkcode(const char *code);
/* True for "GM" + 4 digits. */
int channel_is_gemeentecode(const char *code);
/* Wijk code of a buurt code: BU01060101 -> WK010601. out >= 9 bytes. */
int channel_wijk_of_buurt(const char *buurt, char *out, size_t outlen);
/* True for [A-Za-z0-9_-]{1,64}: user and case ids. */
int channel_is_id(const char *id);

#endif
