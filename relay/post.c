#include "post.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "channel.h"
#include "error.h"
#include "log.h"

#define MAX_CHANNELS (PROTO_AREA_MAX + 2)

struct post_op {
    post_done_cb cb;
    void *arg;
};

static void set_err(struct proto_error *err, const char *code, const char *msg)
{
    err->code = code;
    snprintf(err->message, sizeof(err->message), "%s", msg);
}

/* New case ids are random, not counters: they appear in channel names that
 * anyone may know, and must not reveal how many reports a district has. */
static void new_case_id(char out[18])
{
    unsigned char rnd[8];

    randombytes_buf(rnd, sizeof(rnd));
    out[0] = 'c';
    sodium_bin2hex(out + 1, 17, rnd, sizeof(rnd));
}

static void add_opt(cJSON *o, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(o, key, value);
}

static void publish_done(void *arg, int rc, const char *ack_json, int replayed)
{
    struct post_op *op = arg;
    struct proto_error err;

    if (rc < 0) {
        set_err(&err, PROTO_E_UNAVAILABLE,
                "the post was not stored; retry with the same id");
        op->cb(op->arg, rc, &err, NULL);
    } else {
        op->cb(op->arg, RELAY_OK, NULL, ack_json);
    }
    free(op);
}

int post_submit(struct bus *bus, const struct user *user, const char *client_id,
                const struct proto_post *post, post_done_cb cb, void *arg,
                struct proto_error *err)
{
    char case_id[18];
    char sent[40];
    char created[24];
    char wijk[16];
    char desk[32], case_ch[32];
    const char *channels[MAX_CHANNELS];
    char chan_store[PROTO_AREA_MAX][24];
    int nchannels = 0;
    const char *fields[16];
    int nfields = 0;
    char buurten_csv[PROTO_AREA_MAX * 11 + 1] = "";
    char *idem = NULL;
    char *msg_json = NULL;
    cJSON *msg = NULL;
    struct post_op *op = NULL;
    struct bus_publication pub;
    size_t idem_len;
    int rc = RELAY_ENOMEM;

    new_case_id(case_id);
    proto_format_time((double)time(NULL), sent, sizeof(sent));
    snprintf(created, sizeof(created), "%lld", (long long)time(NULL));
    msg = cJSON_CreateObject();
    if (!msg)
        goto out_nomem;
    cJSON_AddStringToObject(msg, "kind", proto_post_kind_name(post->kind));
    cJSON_AddStringToObject(msg, "case", case_id);

    switch (post->kind) {
    case PROTO_POST_ALERT:
        if (!post->area || post->area->kind != PROTO_AREA_BUURTEN) {
            set_err(err, PROTO_E_BAD_REQUEST,
                    "post.area: this relay version targets alerts by "
                    "buurt codes only ({\"buurten\": [...]})");
            rc = RELAY_EINVAL;
            goto out;
        }
        for (int i = 0, off = 0; i < post->area->count; i++) {
            snprintf(chan_store[i], sizeof(chan_store[i]), "buurt:%s",
                     post->area->buurten[i]);
            channels[nchannels++] = chan_store[i];
            /* each code is 10 bytes: the buffer holds PROTO_AREA_MAX */
            off += snprintf(buurten_csv + off, sizeof(buurten_csv) - off,
                            "%s%s", i ? "," : "", post->area->buurten[i]);
        }
        cJSON_AddStringToObject(msg, "title", post->title);
        cJSON_AddStringToObject(msg, "body", post->body);
        add_opt(msg, "event", post->event);
        cJSON_AddStringToObject(msg, "urgency", post->urgency);
        cJSON_AddStringToObject(msg, "severity", post->severity);
        add_opt(msg, "certainty", post->certainty);
        add_opt(msg, "instruction", post->instruction);
        fields[nfields++] = "buurten";
        fields[nfields++] = buurten_csv;
        break;
    case PROTO_POST_REPORT:
        if (!post->buurt) {
            set_err(err, PROTO_E_BAD_REQUEST,
                    "post.buurt: this relay version needs the buurt code "
                    "of a report (locations come with the area index)");
            rc = RELAY_EINVAL;
            goto out;
        }
        channel_wijk_of_buurt(post->buurt, wijk, sizeof(wijk));
        snprintf(desk, sizeof(desk), "desk:%s", wijk);
        snprintf(case_ch, sizeof(case_ch), "case:%s", case_id);
        channels[nchannels++] = desk;
        channels[nchannels++] = case_ch;
        cJSON_AddStringToObject(msg, "category", post->category);
        cJSON_AddStringToObject(msg, "body", post->body);
        cJSON_AddStringToObject(msg, "buurt", post->buurt);
        add_opt(msg, "when", post->when);
        if (post->called_112 >= 0)
            cJSON_AddBoolToObject(msg, "called_112", post->called_112);
        cJSON_AddBoolToObject(msg, "anonymous", post->anonymous);
        /* The desk is police/BOA only; they may know who reported, unless
         * the reporter asked to stay anonymous. */
        if (!post->anonymous)
            cJSON_AddStringToObject(msg, "reporter", user->id);
        fields[nfields++] = "buurten";
        fields[nfields++] = post->buurt;
        fields[nfields++] = "category";
        fields[nfields++] = post->category;
        fields[nfields++] = "state";
        fields[nfields++] = "new";
        break;
    default:
        snprintf(err->message, sizeof(err->message),
                 "post.kind: '%s' is not available in this relay version",
                 proto_post_kind_name(post->kind));
        err->code = PROTO_E_BAD_REQUEST;
        rc = RELAY_EINVAL;
        goto out;
    }
    cJSON_AddStringToObject(msg, "sent", sent);
    {
        cJSON *from = cJSON_AddObjectToObject(msg, "from");

        if (!from)
            goto out_nomem;
        cJSON_AddStringToObject(from, "role", role_name(user->role));
    }
    fields[nfields++] = "kind";
    fields[nfields++] = proto_post_kind_name(post->kind);
    fields[nfields++] = "owner";
    fields[nfields++] = user->id[0] ? user->id : "anonymous";
    fields[nfields++] = "created";
    fields[nfields++] = created;

    msg_json = cJSON_PrintUnformatted(msg);
    idem_len = strlen(client_id) + strlen(user->id) + 16;
    idem = malloc(idem_len);
    op = malloc(sizeof(*op));
    if (!msg_json || !idem || !op)
        goto out_nomem;
    snprintf(idem, idem_len, "idem:%s:%s", user->id[0] ? user->id : "anon",
             client_id);

    pub.idem_key = idem;
    pub.case_id = case_id;
    pub.msg_json = msg_json;
    pub.channels = channels;
    pub.nchannels = nchannels;
    pub.case_fields = fields;
    pub.ncase_fields = nfields;
    op->cb = cb;
    op->arg = arg;
    rc = bus_publish(bus, &pub, publish_done, op);
    if (rc == RELAY_OK) {
        op = NULL;
        goto out;
    }
    set_err(err, PROTO_E_UNAVAILABLE,
            "the relay cannot reach its store right now; retry with the "
            "same id");
    goto out;
out_nomem:
    rc = RELAY_ENOMEM;
    set_err(err, PROTO_E_INTERNAL, "out of memory");
out:
    free(op);
    free(idem);
    if (msg_json)
        cJSON_free(msg_json);
    cJSON_Delete(msg);
    return rc;
}

/* Builds {"type":"ack","id","ref"?, ...ack body} from the stored ack. */
char *post_build_ack(const char *ack_json, const char *id, const char *ref)
{
    cJSON *ack = cJSON_Parse(ack_json);
    cJSON *out = cJSON_CreateObject();
    char *str = NULL;

    if (!ack || !out)
        goto out;
    cJSON_AddStringToObject(out, "type", "ack");
    cJSON_AddStringToObject(out, "id", id);
    if (ref)
        cJSON_AddStringToObject(out, "ref", ref);
    for (cJSON *item = ack->child; item;) {
        cJSON *next = item->next;

        cJSON_AddItemToObject(out, item->string,
                              cJSON_DetachItemViaPointer(ack, item));
        item = next;
    }
    {
        /* "seq": where it was published (first channel), for clients that
         * post to one channel. */
        cJSON *pub = cJSON_GetObjectItemCaseSensitive(out, "published");
        cJSON *first = pub ? cJSON_GetArrayItem(pub, 0) : NULL;
        cJSON *seq =
            first ? cJSON_GetObjectItemCaseSensitive(first, "seq") : NULL;

        if (seq)
            cJSON_AddNumberToObject(out, "seq", seq->valuedouble);
    }
    {
        char *tmp = cJSON_PrintUnformatted(out);

        if (tmp) {
            str = strdup(tmp);
            cJSON_free(tmp);
        }
    }
out:
    cJSON_Delete(ack);
    cJSON_Delete(out);
    return str;
}
