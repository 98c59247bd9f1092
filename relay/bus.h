/*
 * bus.h - durable channels over Redis: publish, subscribe, recover.
 *
 * Every channel has, in Redis:
 *   ch:{NAME}:meta  hash   seq (last sequence number), epoch (random hex;
 *                          new whenever the channel's history was lost)
 *   ch:{NAME}:log   stream capped at history-max; entry id "<seq>-0",
 *                          field f = the complete "message" frame
 *   ch:{NAME}       pub/sub channel carrying "<seq> <epoch> <frame>"
 *   ch:{NAME}:redacted set   seqs removed from the log for privacy
 * (the braces are literal: a Redis Cluster hash tag, so one channel's keys
 * stay on one node). A post is one Lua script (bus_transact): check the
 * post's idempotency key, change the case, bump seq, XADD, PUBLISH,
 * remember the ack - atomically, so a post is acknowledged only once Redis
 * holds it, and replaying the same post id returns the same ack without
 * publishing again.
 *
 * Subscriptions are reference-counted per process: the process SUBSCRIBEs
 * to a Redis channel only while at least one local client wants it. A new
 * subscriber first waits for Redis to confirm the SUBSCRIBE, then reads the
 * channel's seq/epoch (and, with "since", the missed entries) in one script,
 * then gets the live messages it buffered meanwhile, de-duplicated by seq.
 * Live delivery per channel is in strict seq order: a gap (pub/sub lost a
 * message, e.g. across a Redis reconnect) is filled from the stream before
 * anything newer is delivered.
 */
#ifndef RELAY_BUS_H
#define RELAY_BUS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "msgbuf.h"

struct bus;
struct bus_sub;

struct bus_options {
    const char *redis_url; /* redis://HOST:PORT */
    long history_max;      /* stream entries kept per channel */
    long replay_max;       /* most entries one subscribe replays */
    long idempotency_ttl;  /* seconds a post id is remembered */
    long timeout_ms;       /* Redis command timeout */
    long reconnect_min_ms;
    long reconnect_max_ms;
};

/* Called when readiness changes (see bus_is_ready). */
typedef void (*bus_state_cb)(void *arg, int ready);

/* NULL when out of memory or the URL is malformed. Starts connecting. */
struct bus *bus_create(uv_loop_t *loop, const struct bus_options *opts,
                       bus_state_cb state_cb, void *arg);

/* Closes both Redis links; every pending callback is called with
 * RELAY_EUNAVAILABLE first. Subscriptions still open are freed (their
 * callbacks are not called again). The loop must run afterwards to finish
 * closing handles. */
void bus_destroy(struct bus *bus);

/* True while both links are up and every wanted channel is subscribed. */
int bus_is_ready(const struct bus *bus);

/* Writes a short JSON object describing readiness for /readyz. */
void bus_status(const struct bus *bus, char *out, size_t outlen);

/* Counters for /metrics. */
struct bus_stats {
    unsigned long channels;       /* channels subscribed in this process */
    unsigned long published;      /* posts published by this process */
    unsigned long delivered_live; /* live messages dispatched locally */
    unsigned long gaps_repaired;  /* pub/sub gaps filled from history */
    unsigned long replays;        /* subscribes that replayed history */
    unsigned long not_recovered;  /* subscribes answered recovered:false */
    unsigned long redis_connects; /* successful (re)connects, both links */
};
void bus_get_stats(const struct bus *bus, struct bus_stats *out);

/*
 * Subscription callbacks. 'ready' is called once: rc = RELAY_OK with the
 * channel's epoch and latest seq and, when 'since' was given, recovered
 * 0/1 (else -1); the replayed and live messages follow through 'message'.
 * On failure (rc < 0, e.g. RELAY_EUNAVAILABLE) the bus has already freed
 * the subscription: the caller must forget its handle. 'frame' is a
 * complete "message" frame (borrowed; take a reference to keep it).
 * The callbacks must not call bus_unsubscribe() on their own subscription.
 */
typedef void (*bus_ready_cb)(void *arg, int rc, const char *epoch, uint64_t seq,
                             int recovered);
typedef void (*bus_message_cb)(void *arg, struct msgbuf *frame);

/*
 * Subscribes to 'channel' (a valid channel name, see channel.h). With
 * has_since, missed messages after (since_epoch, since_seq) are replayed.
 * Returns the handle, or NULL with *rc set (RELAY_EUNAVAILABLE while Redis
 * is down, RELAY_ENOMEM).
 */
struct bus_sub *bus_subscribe(struct bus *bus, const char *channel,
                              int has_since, const char *since_epoch,
                              uint64_t since_seq, bus_ready_cb ready,
                              bus_message_cb message, void *arg, int *rc);

/* Ends a subscription; no callback for it runs afterwards. */
void bus_unsubscribe(struct bus_sub *sub);

/* One message and the channels it goes to. */
struct bus_group {
    const char *msg_json;        /* the "msg" object, serialised */
    const char *const *channels; /* channel names, validated */
    int nchannels;
    int record; /* remember (channel, seq) for redaction */
    int hidden; /* not listed in the ack's "published":
                   bookkeeping copies (case:, user:) */
};

/*
 * Everything one post changes, applied atomically by one Lua script:
 * the idempotency check, an optional optimistic check of the case's
 * version, plain Redis commands on the case's keys (HSET, XADD to its
 * event stream, ZADD to timers ...), then one message per channel of each
 * group (seq + history + PUBLISH), then the remembered ack.
 */
struct bus_txn {
    const char *idem_key;        /* Redis key remembering the ack */
    const char *case_id;         /* case created or changed */
    const char *expect_version;  /* NULL none, "-" must not exist, else
                                    case:{id} "version" must equal it */
    const char *const *cmd_args; /* all commands' arguments, flat */
    const int *cmd_argc;         /* arguments per command */
    int ncmds;
    const struct bus_group *groups;
    int ngroups;
    const char *ack_extra; /* ",\"state\":\"...\"" or NULL */
    int redact;            /* first delete the case's recorded
                              messages from channel history */
};

/*
 * Result: rc = RELAY_OK with ack_json {"case", extra..., "published":
 * [{"channel","seq"}...]} (borrowed) and replayed = 1 when the post id
 * had been seen (nothing done again); RELAY_ECONFLICT when the case
 * version differed (text = the current version: re-read and retry);
 * RELAY_EUNAVAILABLE when Redis did not confirm (nothing may be assumed
 * stored; the client may retry with the same id).
 */
typedef void (*bus_txn_cb)(void *arg, int rc, const char *text, int replayed);

/* Starts a transaction. RELAY_EUNAVAILABLE (callback not called) when
 * Redis is down. Every string is copied before this returns. */
int bus_transact(struct bus *bus, const struct bus_txn *txn, bus_txn_cb cb,
                 void *arg);

/*
 * Control messages between processes (and from buurtctl) travel on the
 * Redis pub/sub channel BUS_CONTROL_CHANNEL, which every relay process
 * subscribes to: "revoke-jti <jti>" and "revoke-user <user id>"
 * (published by user_store.c's scripts). 'text' is borrowed and NUL-terminated.
 */
#define BUS_CONTROL_CHANNEL "relay:control"
typedef void (*bus_control_cb)(void *arg, const char *text);
void bus_set_control_cb(struct bus *bus, bus_control_cb cb, void *arg);

/* The command link, for other modules' own Redis commands (auth). */
struct redis_link *bus_command_link(struct bus *bus);

#endif
