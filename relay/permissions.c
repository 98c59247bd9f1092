#include "permissions.h"

#include <string.h>

#include "channel.h"
#include "error.h"

static const char *const role_names[] = {
    [ROLE_ANONYMOUS] = "anonymous", [ROLE_RESIDENT] = "resident",
    [ROLE_BEHEERDER] = "beheerder", [ROLE_BOA] = "boa",
    [ROLE_POLICE] = "police",       [ROLE_ADMIN] = "admin",
};

#define R(role) (1u << (role))
#define LOGGED_IN                                                              \
    (R(ROLE_RESIDENT) | R(ROLE_BEHEERDER) | R(ROLE_BOA) | R(ROLE_POLICE) |     \
     R(ROLE_ADMIN))

/* The post table: which roles may post each kind. Area limits for BOA
 * alerts are checked on top of it in perm_post(). */
static const struct {
    enum proto_post_kind kind;
    unsigned roles;
} post_rules[] = {
    {PROTO_POST_ALERT, R(ROLE_POLICE) | R(ROLE_BOA)},
    {PROTO_POST_UPDATE, R(ROLE_POLICE) | R(ROLE_BOA)},
    {PROTO_POST_CLOSE, R(ROLE_POLICE) | R(ROLE_BOA)},
    {PROTO_POST_STATUS, R(ROLE_POLICE) | R(ROLE_BOA)},
    {PROTO_POST_APPROVE, R(ROLE_POLICE)},
    {PROTO_POST_REPORT, LOGGED_IN},
    {PROTO_POST_TIP, LOGGED_IN | R(ROLE_ANONYMOUS)},
    {PROTO_POST_FEEDBACK, LOGGED_IN},
};

int role_parse(const char *name, enum role *out)
{
    for (size_t i = 1; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *out = (enum role)i;
            return RELAY_OK;
        }
    }
    return RELAY_EINVAL;
}

const char *role_name(enum role role)
{
    if ((size_t)role < sizeof(role_names) / sizeof(role_names[0]))
        return role_names[role];
    return "anonymous";
}

/* Splits a comma list into fixed slots, keeping only codes valid per
 * 'valid'. */
static int split_codes(const char *list, char *out, size_t slot, int max,
                       int (*valid)(const char *))
{
    int n = 0;
    const char *p = list;

    while (p && *p && n < max) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char code[16];

        if (len > 0 && len < sizeof(code) && len < slot) {
            memcpy(code, p, len);
            code[len] = '\0';
            if (valid(code)) {
                memcpy(out + (size_t)n * slot, code, len + 1);
                n++;
            }
        }
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

void user_set_areas(struct user *u, const char *buurten, const char *wijken)
{
    u->nbuurten = split_codes(buurten, &u->buurten[0][0], sizeof(u->buurten[0]),
                              USER_AREAS_MAX, channel_is_buurtcode);
    u->nwijken = split_codes(wijken, &u->wijken[0][0], sizeof(u->wijken[0]),
                             USER_AREAS_MAX, channel_is_wijkcode);
}

static int has_wijk(const struct user *u, const char *wijk)
{
    for (int i = 0; i < u->nwijken; i++)
        if (strcmp(u->wijken[i], wijk) == 0)
            return 1;
    return 0;
}

/* A BOA's district covers a wijk code, or a buurt code inside it. */
static int boa_covers(const struct user *u, const char *code)
{
    char wijk[16];

    if (channel_is_wijkcode(code))
        return has_wijk(u, code);
    if (channel_wijk_of_buurt(code, wijk, sizeof(wijk)) == RELAY_OK)
        return has_wijk(u, wijk);
    return 0;
}

int perm_boa_covers(const struct user *u, const char *code)
{
    return u->role == ROLE_BOA && boa_covers(u, code);
}

int perm_subscribe(const struct user *u, const char *channel)
{
    enum channel_kind kind;
    const char *suffix;

    if (channel_parse(channel, &kind, &suffix) < 0)
        return RELAY_EINVAL;
    if (kind == CHANNEL_BUURT)
        return RELAY_OK;
    if (u->role == ROLE_ANONYMOUS)
        return RELAY_EAUTH;
    switch (kind) {
    case CHANNEL_DESK:
        if (u->role == ROLE_POLICE || u->role == ROLE_ADMIN)
            return RELAY_OK;
        if (u->role == ROLE_BOA && boa_covers(u, suffix))
            return RELAY_OK;
        return RELAY_EFORBIDDEN;
    case CHANNEL_USER:
        return strcmp(suffix, u->id) == 0 ? RELAY_OK : RELAY_EFORBIDDEN;
    case CHANNEL_CASE:
        if (u->role == ROLE_POLICE || u->role == ROLE_BOA ||
            u->role == ROLE_ADMIN)
            return RELAY_OK;
        return RELAY_EFORBIDDEN;
    default:
        return RELAY_EFORBIDDEN;
    }
}

int perm_post(const struct user *u, const struct proto_post *post)
{
    unsigned roles = 0;

    for (size_t i = 0; i < sizeof(post_rules) / sizeof(post_rules[0]); i++)
        if (post_rules[i].kind == post->kind)
            roles = post_rules[i].roles;
    if (!(roles & R(u->role)))
        return u->role == ROLE_ANONYMOUS ? RELAY_EAUTH : RELAY_EFORBIDDEN;
    if (post->kind == PROTO_POST_ALERT && u->role == ROLE_BOA && post->area &&
        post->area->kind == PROTO_AREA_BUURTEN) {
        /* A BOA alerts only inside their own wijken. Circles and polygons
         * are checked the same way once resolved to buurten (post.c). */
        for (int i = 0; i < post->area->count; i++)
            if (!boa_covers(u, post->area->buurten[i]))
                return RELAY_EFORBIDDEN;
    }
    return RELAY_OK;
}
