/*
 * post_internal.h - what post.c and case_ops.c share: a post in flight and
 * the steps every kind ends with. Not for other modules.
 */
#ifndef RELAY_POST_INTERNAL_H
#define RELAY_POST_INTERNAL_H

#include <cjson/cJSON.h>

#include "case_store.h"
#include "post.h"
#include "txn_build.h"

/* A post in flight. Owns a copy of the post object; 'post' borrows from
 * it. */
struct post_op {
    struct relay *relay;
    enum post_system system; /* non-zero: a timer's job, not a client's */
    struct user user;
    char client_id[PROTO_REF_MAX + 1];
    char idem[PROTO_REF_MAX + 96];
    cJSON *root;
    struct proto_post post;
    post_done_cb cb;
    void *arg;
    int attempts;
};

/* Answers the post with an error and frees it. */
void op_fail(struct post_op *op, int rc, const char *code, const char *msg);

/* Sends the transaction (guarded by 'version': NULL none, "-" new case);
 * the post is answered and freed when Redis replies. Frees b's strings. */
void commit(struct post_op *op, struct txn_build *b, const char *case_id,
            const char *version);

/* Area -> buurt codes; answers and frees the post on failure (< 0). */
int resolve_area(struct post_op *op, const struct proto_area *area,
                 char (*codes)[11], int max, int *n);

/* Handlers for posts on an existing case (case_ops.c). Each answers the
 * post (through commit or op_fail); 'b' is a zeroed builder. */
void on_approve(struct post_op *op, const struct case_rec *c,
                struct txn_build *b);
void on_update(struct post_op *op, const struct case_rec *c,
               struct txn_build *b);
void on_close(struct post_op *op, const struct case_rec *c, struct txn_build *b,
              const char *tippers);
void on_tip(struct post_op *op, const struct case_rec *c, struct txn_build *b,
            const char *tippers);
void on_status(struct post_op *op, const struct case_rec *c,
               struct txn_build *b);
void on_feedback(struct post_op *op, const struct case_rec *c,
                 struct txn_build *b);
void on_escalate(struct post_op *op, const struct case_rec *c,
                 struct txn_build *b);
void on_purge(struct post_op *op, const struct case_rec *c,
              struct txn_build *b);

#endif
