#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"

/* KEYS [1] user:{id}, [2] revoked:{jti}. Returns the account fields, or
 * an empty array for an unknown user, or the string "revoked". */
static const char load_script[] =
    "local u = redis.call('HMGET', KEYS[1], 'role', 'buurten', 'wijken',"
    " 'disabled', 'tokens_after')\n"
    "if not u[1] then return {} end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 'revoked' end\n"
    "for i = 2, 5 do if not u[i] then u[i] = '' end end\n"
    "return u\n";

struct auth_op {
    auth_done_cb cb;
    void *arg;
    struct token_claims claims;
};

static const char *str_at(const redisReply *r, size_t i)
{
    if (i < r->elements && r->element[i]->type == REDIS_REPLY_STRING)
        return r->element[i]->str;
    return "";
}

static void load_reply(void *arg, redisReply *r)
{
    struct auth_op *op = arg;
    struct user u;
    long long tokens_after;

    memset(&u, 0, sizeof(u));
    if (!r || r->type == REDIS_REPLY_ERROR) {
        op->cb(op->arg, RELAY_EUNAVAILABLE, NULL);
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
        log_info("auth", "token refused: account unknown or token revoked");
        op->cb(op->arg, RELAY_EAUTH, NULL);
        goto out;
    }
    tokens_after = strtoll(str_at(r, 4), NULL, 10);
    if (strcmp(str_at(r, 3), "1") == 0 || op->claims.iat < tokens_after) {
        log_info("auth",
                 "token refused for user %s: account disabled or "
                 "tokens revoked",
                 op->claims.sub);
        op->cb(op->arg, RELAY_EAUTH, NULL);
        goto out;
    }
    if (role_parse(str_at(r, 0), &u.role) < 0) {
        log_error("auth", "user %s has an unknown role", op->claims.sub);
        op->cb(op->arg, RELAY_EAUTH, NULL);
        goto out;
    }
    snprintf(u.id, sizeof(u.id), "%s", op->claims.sub);
    snprintf(u.jti, sizeof(u.jti), "%s", op->claims.jti);
    u.token_exp = op->claims.exp;
    user_set_areas(&u, str_at(r, 1), str_at(r, 2));
    op->cb(op->arg, RELAY_OK, &u);
out:
    free(op);
}

int auth_load(struct redis_link *link, const struct token_claims *claims,
              auth_done_cb cb, void *arg)
{
    struct auth_op *op = malloc(sizeof(*op));
    char user_key[96], revoked_key[64];
    int rc;

    if (!op)
        return RELAY_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    op->claims = *claims;
    snprintf(user_key, sizeof(user_key), "user:%s", claims->sub);
    snprintf(revoked_key, sizeof(revoked_key), "revoked:%s", claims->jti);
    rc = redis_link_command(link, load_reply, op, "EVAL %s 2 %s %s",
                            load_script, user_key, revoked_key);
    if (rc < 0)
        free(op);
    return rc;
}
