/*
 * sms_notify.h - appeals, updates, closings and status changes by SMS,
 * through the outbox (relay/outbox.h), for residents without the app.
 *
 * RECIPIENTS. Residents (and beheerders) with a phone, by buurt: the set
 * sms:buurt:{code} kept exact by user_store's count() Lua function. A
 * resident in two targeted buurten is one member of the SUNION, and
 * outbox_enqueue() is idempotent per (case, user, channel) as well.
 *
 * WHEN. The text is checked at compose time (sms_notify_check(): a text
 * needing more parts than an adapter allows is refused, never truncated)
 * and the SMS are planned with the post (sms_notify_plan()); they are
 * queued only after the post's transaction was acknowledged
 * (sms_notify_fire() from post.c), asynchronously: SUNION through the
 * command link, then one outbox_enqueue() per id. Failures are logged
 * (ids and counts only) and never delay or fail the ack.
 *
 * DELIVERY CASE IDS. The outbox keys idempotency on (case, user,
 * channel), so every message of a case needs its own key: the appeal uses
 * the case id, a closing "{case}-x", an update "{case}-u{version}", a
 * status change "{case}-s{version}". sms_notify_case_of() maps them back
 * (an SMS reply is about the case).
 *
 * PRIVACY. Never logs a phone number or a text. Threading: loop only.
 */
#ifndef RELAY_SMS_NOTIFY_H
#define RELAY_SMS_NOTIFY_H

#include <stddef.h>

#include "outbox.h"
#include "post_internal.h"

/*
 * RELAY_OK when 'text' fits every configured adapter (or SMS is off);
 * RELAY_ETOOBIG with "needs N SMS parts (max M)" in msg; RELAY_EINVAL
 * with a reason in msg.
 */
int sms_notify_check(struct relay *relay, const char *text, size_t len,
                     char *msg, size_t msglen);

/*
 * Plans the SMS of 'op' (replacing an earlier plan of the same op): to
 * every SMS resident of codes[0..n), or, with 'user_id', to that one
 * person if they have a phone. 'dcase' is the delivery case id (see
 * above). Nothing is planned when SMS is off. RELAY_ENOMEM.
 */
int sms_notify_plan(struct post_op *op, const char *dcase, char (*codes)[11],
                    int n, const char *user_id, enum outbox_lane lane,
                    const char *text);

/* After the transaction: 'send' 1 queues the planned SMS, 0 drops them.
 * Called for every op (no plan: nothing happens). */
void sms_notify_fire(struct post_op *op, int send);

/* Joins 'prefix' (may be "") and the non-NULL, non-empty parts a, b, c
 * into one line, a heap string (caller frees); NULL out of memory. */
char *sms_notify_text(const char *prefix, const char *a, const char *b,
                      const char *c);

/*
 * The compose step of a post: renders nothing itself; checks 'text' (a
 * refused text answers the post with too_large or bad_request and frees
 * it: returns < 0, the caller just returns) and plans it. With
 * 'plan' 0 only the check is done (an appeal waiting for approval).
 */
int sms_notify_compose(struct post_op *op, int plan, const char *dcase,
                       char (*codes)[11], int n, const char *user_id,
                       enum outbox_lane lane, const char *text);

/*
 * An SMS reply (outbox on_reply): from a known account about a case, it
 * becomes a tip on that case by that account, posted like any other
 * (post id "sms-{entry}", so a repeated reply is one tip). From an
 * unknown number, or about no case, it stays in mo:inbox only.
 */
void sms_notify_reply(struct relay *relay, const struct outbox_reply *r);

/* Starts polling the outbox's queue depths into relay->sms_depth every
 * few seconds (for /metrics); sms_notify_stop() closes the timer. */
void sms_notify_start(struct relay *relay);
void sms_notify_stop(struct relay *relay);

/* Copies the case id of a delivery case id into out (65 bytes). */
void sms_notify_case_of(const char *dcase, char out[65]);

#endif
