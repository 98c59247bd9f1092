#include "case_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "channel.h"
#include "error.h"
#include "log.h"

static const char *const fields[] = {
    "kind",     "state",     "version", "owner",   "category",
    "severity", "anonymous", "overdue", "buurten", "alert",
};
#define NFIELDS (sizeof(fields) / sizeof(*fields))

struct load_op {
    case_load_cb cb;
    void *arg;
    char id[CASE_ID_MAX + 1];
};

void case_new_id(char out[18])
{
    unsigned char rnd[8];

    randombytes_buf(rnd, sizeof(rnd));
    out[0] = 'c';
    sodium_bin2hex(out + 1, 17, rnd, sizeof(rnd));
}

static const char *field(const redisReply *r, size_t i)
{
    if (i < r->elements && r->element[i]->type == REDIS_REPLY_STRING)
        return r->element[i]->str;
    return "";
}

static void copy(char *out, size_t outlen, const char *in)
{
    snprintf(out, outlen, "%s", in);
}

static void loaded(void *arg, redisReply *r)
{
    struct load_op *op = arg;
    struct case_rec rec;
    const char *p;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != NFIELDS) {
        op->cb(op->arg, RELAY_EUNAVAILABLE, NULL);
        goto out;
    }
    memset(&rec, 0, sizeof(rec));
    copy(rec.id, sizeof(rec.id), op->id);
    if (case_kind_parse(field(r, 0), &rec.kind) < 0 ||
        case_state_parse(field(r, 1), &rec.state) < 0) {
        /* Missing, or purged down to nothing we can act on. */
        op->cb(op->arg, RELAY_ENOTFOUND, NULL);
        goto out;
    }
    copy(rec.version, sizeof(rec.version), field(r, 2));
    copy(rec.owner, sizeof(rec.owner), field(r, 3));
    copy(rec.category, sizeof(rec.category), field(r, 4));
    copy(rec.severity, sizeof(rec.severity), field(r, 5));
    rec.anonymous = strcmp(field(r, 6), "1") == 0;
    rec.overdue = strcmp(field(r, 7), "1") == 0;
    p = field(r, 8);
    while (*p && rec.nbuurten < CASE_BUURTEN_MAX) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);

        if (n == 10) {
            memcpy(rec.buurten[rec.nbuurten], p, 10);
            rec.buurten[rec.nbuurten][10] = '\0';
            if (channel_is_buurtcode(rec.buurten[rec.nbuurten]))
                rec.nbuurten++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (*field(r, 9))
        rec.alert = strdup(field(r, 9));
    op->cb(op->arg, RELAY_OK, &rec);
    free(rec.alert);
out:
    free(op);
}

int case_load(struct redis_link *link, const char *id, case_load_cb cb,
              void *arg)
{
    struct load_op *op;
    const char *argv[2 + NFIELDS];
    size_t lens[2 + NFIELDS];
    char key[CASE_ID_MAX + 8];
    int rc;

    if (!channel_is_id(id))
        return RELAY_EINVAL;
    op = malloc(sizeof(*op));
    if (!op)
        return RELAY_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    copy(op->id, sizeof(op->id), id);
    snprintf(key, sizeof(key), "case:%s", id);
    argv[0] = "HMGET";
    argv[1] = key;
    for (size_t i = 0; i < NFIELDS; i++)
        argv[2 + i] = fields[i];
    for (size_t i = 0; i < 2 + NFIELDS; i++)
        lens[i] = strlen(argv[i]);
    rc = redis_link_argv(link, loaded, op, (int)(2 + NFIELDS), argv, lens);
    if (rc < 0)
        free(op);
    return rc;
}
