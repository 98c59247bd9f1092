/*
 * outbox.h - the delivery engine: every (case, recipient, channel) sent
 * once, in priority order, through the channel's adapter, with retries,
 * rate limits, dead letters, delivery states and incoming replies.
 *
 * REDIS DATA MODEL (ids only in streams: never a phone number or text)
 *   outbox:{ch}:{lane}      stream per adapter ("channel") and lane
 *                           (urgent, routine); consumer group "relay";
 *                           entry fields d (delivery), c (case), u (user),
 *                           t (text key). Entries are XACKed and XDELed
 *                           together with their verdict.
 *   outbox:{ch}:retry       zset: delivery -> due time (unix ms): retries,
 *                           and deliveries held back (quiet hours)
 *   dead:{ch}               stream of given-up deliveries: d c u reason
 *                           attempts error
 *   dlv:key:{c}:{u}:{ch}    string -> delivery id; SET NX at enqueue, so
 *                           enqueueing the same thing again is a no-op
 *   dlv:d:{d}               hash: case user adapter lane text kind state
 *                           attempts provider error created updated
 *   dlv:pid:{ch}:{h}        string -> delivery id, by the provider's id of
 *                           the sent message ({h} = 32 hex of its hash):
 *                           status reports and replies that name only it
 *   dlv:txt:{c}:{hash}      string: the rendered text (the public appeal
 *                           or notice), shared by every recipient;
 *                           {hash} = 32 hex of BLAKE2b-128(text)
 *   dlv:sent:{d}            string "{consumer}|{unix ms}": the send marker,
 *                           SET NX before the provider is called
 *   dlv:{c}                 hash: delivery -> state (queued, sent,
 *                           delivered, failed, read)
 *   dlv:{c}:summary         hash: "{ch}:{state}" -> number of the case's
 *                           deliveries in that state now (a transition
 *                           decrements the old state, increments the new)
 *   dlv:last:{u}            string: the case whose message last reached
 *                           recipient u (a reply is about that case)
 *   dlv:mo:{ch}:{h}         string: an incoming message already taken
 *   win:{ch}:{u}            string, 24 h: u wrote to us through ch (the
 *                           WhatsApp customer-service window is open)
 *   budget:{ch}:{yyyymmdd}  counter: sends today (UTC), against the
 *                           adapter's daily-budget
 *   mo:inbox                stream (capped ~10000): incoming messages a
 *                           (adapter) u (user or "") c (case or "")
 *                           l (group link or "") p (sender blind index)
 *                           x (text)
 *
 * RECIPIENTS. A delivery's u is a user id (the address is the user's
 * phone for adapters whose address_kind is "phone", else their contacts
 * entry of that kind: contacts.h) or OUTBOX_GROUP_PREFIX + a group link
 * id (chatlink:{id} field "address", encrypted with context
 * "link|address|{id}": chat_links.h).
 * Everything but the streams expires after options.ttl_s. States only
 * move forward (adapter.h: adapter_state_rank), so late, repeated or
 * out-of-order reports never move a delivery back.
 *
 * ONE SEND, STEP BY STEP, AND WHAT A CRASH AT EACH STEP DOES
 *   1. XREADGROUP hands the entry to this consumer (host:pid). A crash
 *      here: the entry stays pending; after claim_idle_ms any relay's
 *      XAUTOCLAIM takes it over and sends it (once).
 *   2. One script reads the delivery, the recipient's encrypted phone and
 *      the text, and SETs the send marker NX (and counts the attempt). A
 *      delivery no longer "queued" (a duplicate entry) is just acked.
 *   3. The phone is decrypted (pii_decrypt), checked against the
 *      adapter's allowed prefixes, the text split (never more than
 *      max-parts), and the provider called through http_client.
 *   4. One script writes the verdict atomically: XACK+XDEL the entry and
 *      sent (state, provider id, dlv:last), or retry (zset, marker
 *      deleted), or failed, or dead letter.
 *   A crash between 2 and 4 leaves the entry pending WITH a marker: the
 *   provider may or may not have taken the message, and nobody can tell.
 *   The consumer that reclaims it finds the marker; once the marker is
 *   older than stale_ms (more than a request can last) it dead-letters
 *   the delivery with reason "unconfirmed" (state failed) instead of
 *   sending again: at most once, visibly. A marker younger than that
 *   belongs to a consumer that may still be working: left alone.
 *   If Redis fails while the verdict is written, the verdict is kept and
 *   written again until Redis answers (the entry stays ours meanwhile).
 *   A provider TIMEOUT is different: the request left, the answer did
 *   not come. It is retried (the provider most likely did not take it;
 *   Twilio and Kannel have no idempotency key, so a rare duplicate SMS is
 *   the price of not losing an urgent appeal).
 *
 * ORDER AND FAIRNESS. Per adapter, urgent entries are always taken
 * before routine ones; each adapter has its own token bucket (rate, burst
 * per second) and cap on requests in flight (adapter_common), so a slow
 * provider never delays another. Retries wait with exponential backoff
 * (backoff_min_ms doubling to backoff_max_ms, jitter: a random delay
 * between half and all of it), or exactly the provider's Retry-After
 * when it gave one; after max-attempts sends the delivery goes to
 * dead:{ch}.
 *
 * OWNERSHIP. The outbox opens its own two Redis links (a blocking
 * XREADGROUP must not sit on the shared command link): "outbox" for
 * commands and "outbox-read" for the blocking read. The loop, the
 * http_client and the adapter instances are borrowed and must outlive
 * it; the PII key is copied (and wiped on destroy).
 *
 * PRIVACY. Logs carry delivery, case and user ids, adapter names, states
 * and provider error codes; never a phone number or a text.
 *
 * Threading: the loop's thread only.
 */
#ifndef RELAY_OUTBOX_H
#define RELAY_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "adapter.h"
#include "http_client.h"
#include "pii.h"
#include "sms_text.h"

#define OUTBOX_ID_MAX 64 /* case, user and delivery ids: [A-Za-z0-9_-] */
#define OUTBOX_GROUP_PREFIX "grp_"    /* recipient = a group link */
#define OUTBOX_WEBHOOK_EVENTS_MAX 100 /* events taken from one webhook */
#define OUTBOX_GROUP "relay"

enum outbox_lane {
    OUTBOX_URGENT = 0,  /* police appeals and their closings */
    OUTBOX_ROUTINE = 1, /* everything else */
};

/* One incoming message (an SMS reply), after it was stored in mo:inbox.
 * Every pointer is borrowed for the callback's duration. */
struct outbox_reply {
    const char *adapter;     /* "kannel", "twilio" */
    const char *entry_id;    /* its mo:inbox entry: an idempotency key */
    const char *user_id;     /* the account of the sender, or NULL */
    const char *case_id;     /* the delivery case it is about: of the
                                message it answers, else the last one the
                                group / sender got; or NULL */
    const char *link_id;     /* written in a linked group chat, or NULL */
    const char *phone_index; /* pii_blind_index() of the sender: 64 hex */
    const char *text;        /* UTF-8, NUL-terminated; PII, never log */
    size_t text_len;
};

typedef void (*outbox_reply_cb)(void *arg, const struct outbox_reply *r);

struct outbox_options {
    struct adapter_instance *const *adapters; /* inited; borrowed */
    int nadapters;
    const unsigned char *pii_key; /* PII_KEY_BYTES; copied */
    const char *consumer;         /* NULL: "host:pid" */
    int worker;                   /* 1: send; 0: enqueue and webhooks only */
    long batch;                   /* entries read per stream at once */
    long block_ms;                /* XREADGROUP BLOCK; < timeout_ms */
    long timeout_ms;              /* Redis command timeout */
    long reconnect_min_ms;        /* Redis reconnect backoff */
    long reconnect_max_ms;
    long claim_idle_ms;       /* reclaim entries pending longer */
    long claim_interval_ms;   /* how often to look for them */
    long stale_ms;            /* a send marker older than this is a crash;
                               > every adapter\'s timeout-ms */
    long backoff_min_ms;      /* first retry delay */
    long backoff_max_ms;      /* retry delay ceiling */
    long retry_poll_ms;       /* how often due retries are requeued */
    long ttl_s;               /* life of delivery records, texts, markers */
    outbox_reply_cb on_reply; /* incoming messages; may be NULL */
    void *reply_arg;
};

/* Fills 'o' with the defaults (no adapters, no key, worker on). */
void outbox_options_defaults(struct outbox_options *o);

struct outbox;

/*
 * Creates the outbox: opens its Redis links to 'redis_url'
 * ("redis://HOST:PORT"), creates the consumer groups once connected and,
 * with options->worker, starts reading. NULL on bad arguments (no key,
 * an adapter without SMS, duplicate adapter names, block_ms >=
 * timeout_ms, stale_ms <= an adapter's timeout-ms) or out of memory.
 */
struct outbox *outbox_create(uv_loop_t *loop, const char *redis_url,
                             struct http_client *http,
                             const struct outbox_options *options);

/*
 * Stops reading, closes both links, abandons local work (entries stay
 * pending in Redis, to be reclaimed) and frees the outbox once every
 * request it has in flight has completed: the caller must keep running
 * the loop (and keep the http_client alive, or close it, which completes
 * them). Callbacks still pending are called BEFORE this returns: enqueue
 * callbacks with RELAY_EUNAVAILABLE, webhook callbacks with status 503
 * (the provider sends again). NULL is fine.
 */
void outbox_destroy(struct outbox *ob);

/* True while the command link is up (for /readyz). */
int outbox_is_ready(const struct outbox *ob);

/*
 * Checks a rendered text for 'channel' at compose time: RELAY_OK with
 * *info filled; RELAY_ETOOBIG when it needs more than the adapter's
 * max-parts (info->parts = the count needed: say so to the officer);
 * RELAY_EINVAL for an invalid text; RELAY_ENOTFOUND for an unknown
 * channel.
 */
int outbox_check_text(const struct outbox *ob, const char *channel,
                      const char *text, size_t len, struct sms_info *info);

/* What to deliver. Every pointer is borrowed for the call. */
struct outbox_item {
    const char *case_id; /* [A-Za-z0-9_-]{1,64} */
    const char *user_id; /* [A-Za-z0-9_-]{1,64} */
    const char *channel; /* an adapter name */
    enum outbox_lane lane;
    const char *text; /* rendered UTF-8 */
    size_t text_len;
    const char *delivery_id; /* NULL: a fresh random one */
    const char *kind;        /* adapter_msg.kind; NULL: "notice" */
    long long not_before_ms; /* unix ms; 0 or past: send now */
};

/* rc RELAY_OK: 'delivery_id' is the delivery's id and fresh = 1 when it
 * was queued now, 0 when it existed already (nothing done).
 * RELAY_EUNAVAILABLE: Redis did not confirm (retry with the same item). */
typedef void (*outbox_enqueue_cb)(void *arg, int rc, const char *delivery_id,
                                  int fresh);

/*
 * Queues one delivery (idempotent per case, user and channel). Checks
 * first, without calling back: RELAY_EINVAL (bad ids, unknown lane),
 * RELAY_ENOTFOUND (unknown channel), RELAY_ETOOBIG (text needs more
 * than max-parts parts), RELAY_EUNAVAILABLE (Redis down), RELAY_ENOMEM.
 * On RELAY_OK 'cb' (may be NULL) is called exactly once, later.
 */
int outbox_enqueue(struct outbox *ob, const struct outbox_item *item,
                   outbox_enqueue_cb cb, void *arg);

/* One webhook request; every pointer borrowed for the call. */
struct outbox_webhook_req {
    const char *method;         /* "GET", "POST" */
    const char *path;           /* as received: "/hooks/{name}/...?..." */
    const char *const *headers; /* "Name: value" */
    int nheaders;
    const char *body;
    size_t body_len;
};

/* The answer to give: status, Content-Type and body (borrowed for the
 * call). */
typedef void (*outbox_webhook_cb)(void *arg, int status,
                                  const char *content_type, const char *body);

/*
 * Handles POST/GET /hooks/{adapter}/... (delivery reports, status
 * callbacks, incoming messages). Returns RELAY_OK when 'cb' will be
 * called exactly once, later (never from inside this call), after Redis
 * stored what the request said; otherwise 'cb' is not called and the
 * caller answers: RELAY_ENOTFOUND 404 (no such adapter or path),
 * RELAY_EAUTH 403 (forged or unsigned: nothing changed), RELAY_EINVAL
 * 400, RELAY_EUNAVAILABLE 503 (Redis down: the provider will retry),
 * RELAY_ENOMEM 500. The callback's status may also be 503 when Redis
 * failed meanwhile.
 */
int outbox_webhook(struct outbox *ob, const char *adapter,
                   const struct outbox_webhook_req *req, outbox_webhook_cb cb,
                   void *arg);

/* Counters since creation, for /metrics. */
struct outbox_stats {
    uint64_t enqueued;       /* new deliveries queued */
    uint64_t duplicates;     /* enqueues that found the delivery */
    uint64_t sent;           /* provider accepted */
    uint64_t retried;        /* sends scheduled again */
    uint64_t failed;         /* refused for good */
    uint64_t dead;           /* given up (dead letters) */
    uint64_t claimed;        /* entries reclaimed from other consumers */
    uint64_t reports;        /* delivery reports applied */
    uint64_t replies;        /* incoming messages taken */
    uint64_t forged;         /* webhooks refused as forged */
    uint64_t rate_limited;   /* sends delayed by a token bucket */
    unsigned long in_flight; /* provider requests now */
};
void outbox_get_stats(const struct outbox *ob, struct outbox_stats *out);

/* Sends in a row the provider did not take (5xx, 429, timeouts, refused
 * connections) before an adapter counts as failing. */
#define OUTBOX_FAILING_AFTER 3

/* One adapter as this process sees it, for /readyz and /metrics. */
struct outbox_adapter_health {
    const char *name;
    uint64_t sent, retried, failed, dead;
    unsigned long consecutive_failures; /* retries since the last send */
    long long last_ok_ms;               /* unix ms of the last send; 0 */
    int failing; /* consecutive_failures >= OUTBOX_FAILING_AFTER */
};

/* The i-th configured adapter's health; RELAY_ENOTFOUND past the end. */
int outbox_adapter_health(const struct outbox *ob, int i,
                          struct outbox_adapter_health *out);

#endif
