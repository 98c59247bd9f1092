#include "txn_build.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "error.h"
#include "protocol.h"

char *txn_keep(struct txn_build *b, char *s)
{
    if (s && b->nowned < (int)(sizeof(b->owned) / sizeof(*b->owned)))
        b->owned[b->nowned++] = s;
    else if (s) {
        free(s);
        return NULL;
    }
    return s;
}

char *txn_dupf(struct txn_build *b, const char *fmt, ...)
{
    va_list ap;
    char buf[8192];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return NULL;
    return txn_keep(b, strdup(buf));
}

void txn_free(struct txn_build *b)
{
    for (int i = 0; i < b->nowned; i++)
        free(b->owned[i]);
}

/* Starts a command; its arguments follow through txn_arg(). */
void txn_cmd(struct txn_build *b)
{
    b->argc[b->ncmds++] = 0;
}

void txn_arg(struct txn_build *b, const char *s)
{
    if (b->nargs < TXN_MAX_ARGS && s) {
        b->args[b->nargs++] = s;
        b->argc[b->ncmds - 1]++;
    }
}

/* Starts a group for 'msg' (a heap string kept by the builder). */
int txn_group(struct txn_build *b, char *msg, int record)
{
    struct bus_group *g = &b->groups[b->ngroups];

    if (b->ngroups >= (int)(sizeof(b->groups) / sizeof(*b->groups))) {
        free(msg);
        return RELAY_ENOMEM;
    }
    if (!txn_keep(b, msg))
        return RELAY_ENOMEM;
    g->msg_json = msg;
    g->channels = b->chans[b->ngroups];
    g->nchannels = 0;
    g->record = record;
    g->hidden = 0;
    b->ngroups++;
    return RELAY_OK;
}

/* The same message again, on channels the ack does not list (the case's
 * own channel, personal notices). */
int txn_copy_hidden(struct txn_build *b)
{
    const char *msg = b->groups[b->ngroups - 1].msg_json;
    int rc = txn_group(b, strdup(msg), 0);

    if (rc == RELAY_OK)
        b->groups[b->ngroups - 1].hidden = 1;
    return rc;
}

/* Adds a channel to the current group, once. */
void txn_chan(struct txn_build *b, const char *name)
{
    struct bus_group *g = &b->groups[b->ngroups - 1];

    if (!name || g->nchannels >= TXN_MAX_CHANNELS)
        return;
    for (int i = 0; i < g->nchannels; i++)
        if (strcmp(g->channels[i], name) == 0)
            return;
    b->chans[b->ngroups - 1][g->nchannels++] = name;
}

void txn_chan_buurten(struct txn_build *b, char (*codes)[11], int n)
{
    for (int i = 0; i < n; i++)
        txn_chan(b, txn_dupf(b, "buurt:%s", codes[i]));
}

/* The desk of every wijk the buurten lie in. */
void txn_chan_desks(struct txn_build *b, char (*codes)[11], int n)
{
    for (int i = 0; i < n; i++) {
        char wijk[16];

        if (channel_wijk_of_buurt(codes[i], wijk, sizeof(wijk)) == RELAY_OK)
            txn_chan(b, txn_dupf(b, "desk:%s", wijk));
    }
}

/* A new msg object with the fields every message carries. */
cJSON *txn_msg_new(const char *kind, const char *case_id, const struct user *by)
{
    cJSON *m = cJSON_CreateObject();
    cJSON *from;
    char sent[40];

    if (!m)
        return NULL;
    proto_format_time((double)time(NULL), sent, sizeof(sent));
    cJSON_AddStringToObject(m, "kind", kind);
    cJSON_AddStringToObject(m, "case", case_id);
    cJSON_AddStringToObject(m, "sent", sent);
    from = cJSON_AddObjectToObject(m, "from");
    if (from)
        cJSON_AddStringToObject(from, "role", role_name(by->role));
    return m;
}

void txn_msg_opt(cJSON *o, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(o, key, value);
}

/* Serialises and deletes 'm' into a malloc'd string. */
char *txn_msg_done(cJSON *m)
{
    char *tmp, *out = NULL;

    if (!m)
        return NULL;
    tmp = cJSON_PrintUnformatted(m);
    if (tmp) {
        out = strdup(tmp);
        cJSON_free(tmp);
    }
    cJSON_Delete(m);
    return out;
}

char *txn_now(struct txn_build *b)
{
    return txn_dupf(b, "%lld", (long long)time(NULL));
}

char *txn_csv(struct txn_build *b, char (*codes)[11], int n)
{
    char buf[CASE_BUURTEN_MAX * 11 + 1];
    size_t off = 0;

    buf[0] = '\0';
    for (int i = 0; i < n && off + 12 < sizeof(buf); i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
                                i ? "," : "", codes[i]);
    return txn_keep(b, strdup(buf));
}

/* XADD case:{id}:events * kind K by U: every change leaves a trace. */
void txn_event(struct txn_build *b, const char *case_id, const char *kind,
               const struct user *by, const char *msg)
{
    txn_cmd(b);
    txn_arg(b, "XADD");
    txn_arg(b, txn_dupf(b, "case:%s:events", case_id));
    txn_arg(b, "MAXLEN");
    txn_arg(b, "~");
    txn_arg(b, "10000");
    txn_arg(b, "*");
    txn_arg(b, "kind");
    txn_arg(b, kind);
    txn_arg(b, "by");
    txn_arg(b, by->id[0] ? by->id : "anonymous");
    txn_arg(b, "msg");
    txn_arg(b, msg);
}
