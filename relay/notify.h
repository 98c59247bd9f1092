/*
 * notify.h - appeals, updates, closings and status changes to people
 * off the app (SMS, chat) and to linked chat groups, through the outbox
 * (relay/outbox.h).
 *
 * RECIPIENTS of a buurt notice: the residents (and beheerders) of the
 * targeted buurten with a phone (sms:buurt:{code}) or chat contacts
 * (chat:buurt:{code}), both kept exact by user_store's count(); and, for
 * notices marked 'groups', every chat group linked to one of those
 * buurten (chatlinks:buurt:{code}, chat_links.h). A person or group in
 * two targeted buurten is one recipient, and outbox_enqueue() is
 * idempotent per (delivery case, recipient, channel) as well.
 *
 * CHANNELS PER PERSON (contacts.h): the person's ordered preference
 * (field channels, e.g. "telegram,sms"; default: "sms" when they have a
 * phone, then their chat contacts in the order given). "sms" is the
 * first configured SMS adapter, any other name the adapter of that name.
 * Policy by lane:
 *   urgent   (police appeals, their updates and closings) every channel
 *            of the person at once: reaching them fast beats cost;
 *   routine  the first channel; when it is not delivered (or, for an
 *            adapter without delivery reports, not sent) within
 *            fallback-after seconds, the next one, and so on. Held back
 *            during quiet hours (the relay's quiet-hours, or the
 *            person's own field quiet) until they end.
 *
 * WHEN. The text is checked at compose time (notify_check(): a text that
 * does not fit an adapter is refused, never truncated) and planned with
 * the post (notify_compose()); queued only after the post's transaction
 * was acknowledged (notify_fire() from post.c), asynchronously: one Lua
 * script reads recipients and their preferences, then one
 * outbox_enqueue() per recipient and channel. Failures are logged (ids
 * and counts only) and never delay or fail the ack.
 *
 * DELIVERY CASE IDS. The outbox keys idempotency on (case, recipient,
 * channel), so every message of a case needs its own key: the appeal
 * uses the case id, a closing "{case}-x", an update "{case}-u{version}", a
 * status change "{case}-s{version}". notify_case_of() maps them back (a
 * reply is about the case). A buurt added by an update gets the whole
 * appeal under the case id: people who had it already are skipped by
 * that idempotency.
 *
 * FALLBACK QUEUE. notify:fallback is a zset "{dcase}|{user}|{index}" ->
 * due (unix ms); any relay's timer takes due members with ZREM (one
 * relay wins), checks the earlier channels' delivery states and queues
 * the next channel with the same text.
 *
 * PRIVACY. Never logs a phone number, chat address or text. Threading:
 * loop only.
 */
#ifndef RELAY_NOTIFY_H
#define RELAY_NOTIFY_H

#include <stddef.h>

#include "outbox.h"
#include "post_internal.h"

/*
 * RELAY_OK when 'text' fits every configured adapter (or delivery is
 * off); RELAY_ETOOBIG with "needs N SMS parts (max M)" or "longer than
 * N characters for CHANNEL" in msg; RELAY_EINVAL with a reason in msg.
 */
int notify_check(struct relay *relay, const char *text, size_t len, char *msg,
                 size_t msglen);

/* What one planned notice is. Every pointer is borrowed for the call. */
struct notify_spec {
    const char *dcase; /* delivery case id (see above) */
    const char *kind;  /* adapter_msg.kind: appeal, update, ... */
    char (*codes)[11]; /* buurten, or NULL with user_id */
    int n;
    const char *user_id; /* one person (a reporter) instead of buurten */
    enum outbox_lane lane;
    int groups; /* also the chat groups linked to the buurten */
    const char *text;
};

/*
 * The compose step of a post: checks spec->text (a refused text answers
 * the post with too_large or bad_request: returns < 0, the caller just
 * returns) and, with 'plan', adds it to the op's plan (an op may plan
 * several notices). With 'plan' 0 only the check is done (an appeal
 * waiting for approval). A NULL text is out of memory (answered).
 */
int notify_compose(struct post_op *op, int plan,
                   const struct notify_spec *spec);

/* After the transaction: 'send' 1 queues the op's planned notices, 0
 * drops them. Called for every op (no plan: nothing happens). */
void notify_fire(struct post_op *op, int send);

/* Joins 'prefix' (may be "") and the non-NULL, non-empty parts a, b, c
 * into one line, a heap string (caller frees); NULL out of memory. */
char *notify_text(const char *prefix, const char *a, const char *b,
                  const char *c);

/*
 * A reply (outbox on_reply): from a known account about a case, a tip on
 * that case by that account; from an unknown member of a linked chat
 * group about a case, an anonymous tip; posted like any other (post id
 * "sms-{entry}", so a repeated reply is one tip). Anything else stays in
 * mo:inbox only.
 */
void notify_reply(struct relay *relay, const struct outbox_reply *r);

/* Starts the queue-depth poll (relay->sms_depth, for /metrics) and the
 * fallback timer; notify_stop() closes both. */
void notify_start(struct relay *relay);
void notify_stop(struct relay *relay);

/* Copies the case id of a delivery case id into out (65 bytes). */
void notify_case_of(const char *dcase, char out[65]);

#endif
