/*
 * txn_build.h - assembling one bus transaction (bus_transact, bus.h).
 *
 * A post changes a case with a few Redis commands and publishes one or
 * more messages on channels; a txn_build collects those as it is built and
 * owns every string it points to, so one txn_free() releases everything
 * once the transaction is sent (bus_transact copies what it needs).
 * Everything here is building only: no I/O.
 */
#ifndef RELAY_TXN_BUILD_H
#define RELAY_TXN_BUILD_H

#include <cjson/cJSON.h>

#include "bus.h"
#include "case_store.h"
#include "permissions.h"

#define TXN_MAX_ARGS 64
#define TXN_MAX_CHANNELS (CASE_BUURTEN_MAX + 8)

/* Builder for one transaction: commands, groups and the strings they
 * point to, all freed together. */
struct txn_build {
    const char *args[TXN_MAX_ARGS];
    int argc[16];
    int ncmds;
    int nargs;
    struct bus_group groups[6];
    const char *chans[6][TXN_MAX_CHANNELS];
    int ngroups;
    char *owned[64]; /* heap strings to free after the transaction */
    int nowned;
    char ack_extra[96];
    int redact; /* remove the case's recorded messages first */
};

/* Keeps heap string 's' until txn_free (NULL: out of room; s is freed). */
char *txn_keep(struct txn_build *b, char *s);

/* printf into a kept heap string; NULL when too long or out of memory. */
char *txn_dupf(struct txn_build *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Frees every kept string; the builder is unusable afterwards. */
void txn_free(struct txn_build *b);

/* Starts a command; txn_arg() appends its arguments (borrowed: keep them
 * alive with txn_keep/txn_dupf or static storage). */
void txn_cmd(struct txn_build *b);
void txn_arg(struct txn_build *b, const char *s);

/* Starts a group publishing heap 'msg' (kept); record = remember the
 * publications for later redaction. RELAY_ENOMEM. */
int txn_group(struct txn_build *b, char *msg, int record);

/* The current group's message again, in a new group the ack does not
 * list (the case channel, personal notices). */
int txn_copy_hidden(struct txn_build *b);

/* Adds a channel to the current group, once. */
void txn_chan(struct txn_build *b, const char *name);
void txn_chan_buurten(struct txn_build *b, char (*codes)[11], int n);
/* The desk of every wijk the buurten lie in. */
void txn_chan_desks(struct txn_build *b, char (*codes)[11], int n);

/* A new msg object with kind, case, sent and from {role}. */
cJSON *txn_msg_new(const char *kind, const char *case_id,
                   const struct user *by);
void txn_msg_opt(cJSON *o, const char *key, const char *value);
/* Serialises and deletes 'm': a malloc'd string or NULL. */
char *txn_msg_done(cJSON *m);

/* Kept strings: the time in unix seconds; codes joined by commas. */
char *txn_now(struct txn_build *b);
char *txn_csv(struct txn_build *b, char (*codes)[11], int n);

/* XADD case:{id}:events: every change of a case leaves a trace. */
void txn_event(struct txn_build *b, const char *case_id, const char *kind,
               const struct user *by, const char *msg);

#endif
