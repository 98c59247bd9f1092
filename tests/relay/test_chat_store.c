/*
 * test_chat_store.c - relay/chat_store.c against a real redis-server
 * (started on a free loopback port for this file, stopped at the end):
 * contacts encrypted with indexes and buurt sets kept exact, taken and
 * stale writes refused, group links created once, listed, deleted.
 *
 * Skipped (not failed) when no redis-server is on PATH.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "chat_store.h"
#include "error.h"
#include "pii.h"
#include "redis_fixture.h"

static redisContext *R;
static unsigned char key[PII_KEY_BYTES];

static int group_setup(void **state)
{
    int port;

    (void)state;
    if (sodium_init() < 0)
        return -1;
    randombytes_buf(key, sizeof(key));
    return redis_fixture_start(&port, &R);
}

static int group_teardown(void **state)
{
    (void)state;
    redis_fixture_stop(R);
    R = NULL;
    return 0;
}

static int fresh(void **state)
{
    redisReply *r;

    (void)state;
    if (!R)
        return 0;
    r = redisCommand(R, "FLUSHALL");
    freeReplyObject(r);
    /* a counted resident of BU01060101 and one of BU01060102 */
    r = redisCommand(R, "HSET user:u1 role resident buurten BU01060101 "
                        "counted 1 login u1");
    freeReplyObject(r);
    r = redisCommand(R, "HSET user:u2 role resident buurten BU01060102 "
                        "counted 1 login u2");
    freeReplyObject(r);
    return 0;
}

static long long num(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = -1;

    va_start(ap, fmt);
    r = redisvCommand(R, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    freeReplyObject(r);
    return v;
}

/* True when 'needle' occurs in any field or value of hash 'k'. */
static int hash_has(const char *k, const char *needle)
{
    redisReply *r = redisCommand(R, "HGETALL %s", k);
    int found = 0;

    assert_non_null(r);
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strstr(r->element[i]->str, needle))
            found = 1;
    freeReplyObject(r);
    return found;
}

static void set_contact(const char *id, const char *kind, const char *value,
                        int expect)
{
    struct chat_person p;

    assert_int_equal(chat_store_person_read(R, key, id, &p), RELAY_OK);
    assert_int_equal(contacts_set(p.contacts, &p.ncontacts, kind, value),
                     RELAY_OK);
    assert_int_equal(chat_store_person_write(R, key, id, &p), expect);
    chat_store_person_free(&p);
}

static void test_contacts_roundtrip(void **state)
{
    struct chat_person p;
    char index[PII_INDEX_HEX_BYTES];
    redisReply *r;

    (void)state;
    if (!R)
        skip();
    assert_int_equal(chat_store_person_read(R, key, "nobody", &p),
                     RELAY_ENOTFOUND);
    set_contact("u1", "telegram", "700001", RELAY_OK);
    /* encrypted, indexed, in the buurt's chat set */
    assert_false(hash_has("user:u1", "700001"));
    assert_true(hash_has("user:u1", "telegram"));
    assert_int_equal(pii_blind_index(key, "700001", index), RELAY_OK);
    r = redisCommand(R, "GET idx:contact:telegram:%s", index);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "u1");
    freeReplyObject(r);
    assert_int_equal(num("SISMEMBER chat:buurt:BU01060101 u1"), 1);

    assert_int_equal(chat_store_person_read(R, key, "u1", &p), RELAY_OK);
    assert_int_equal(p.ncontacts, 1);
    assert_string_equal(p.contacts[0].value, "700001");
    snprintf(p.channels, sizeof(p.channels), "telegram,sms");
    snprintf(p.quiet, sizeof(p.quiet), "23:00-07:00");
    assert_int_equal(chat_store_person_write(R, key, "u1", &p), RELAY_OK);
    chat_store_person_free(&p);
    assert_int_equal(chat_store_person_read(R, key, "u1", &p), RELAY_OK);
    assert_string_equal(p.channels, "telegram,sms");
    assert_string_equal(p.quiet, "23:00-07:00");
    chat_store_person_free(&p);

    /* a new address replaces the old index; clearing leaves nothing */
    set_contact("u1", "telegram", "700002", RELAY_OK);
    assert_int_equal(num("EXISTS idx:contact:telegram:%s", index), 0);
    set_contact("u1", "telegram", NULL, RELAY_OK);
    assert_int_equal(num("SISMEMBER chat:buurt:BU01060101 u1"), 0);
    assert_false(hash_has("user:u1", "contact"));
    assert_int_equal(num("DBSIZE"), 2); /* the two user hashes */
}

static void test_taken_and_stale(void **state)
{
    struct chat_person p, q;

    (void)state;
    if (!R)
        skip();
    set_contact("u1", "matrix", "!room:example.org", RELAY_OK);
    /* the same address for another account */
    set_contact("u2", "matrix", "!room:example.org", RELAY_ECONFLICT);
    assert_int_equal(num("SISMEMBER chat:buurt:BU01060102 u2"), 0);
    /* two writers: the second one read before the first wrote */
    assert_int_equal(chat_store_person_read(R, key, "u1", &p), RELAY_OK);
    assert_int_equal(chat_store_person_read(R, key, "u1", &q), RELAY_OK);
    contacts_set(p.contacts, &p.ncontacts, "telegram", "1");
    contacts_set(q.contacts, &q.ncontacts, "telegram", "2");
    assert_int_equal(chat_store_person_write(R, key, "u1", &p), RELAY_OK);
    assert_int_equal(chat_store_person_write(R, key, "u1", &q),
                     RELAY_ECONFLICT);
    chat_store_person_free(&p);
    chat_store_person_free(&q);
    assert_int_equal(chat_store_person_read(R, key, "u1", &p), RELAY_OK);
    assert_int_equal(p.ncontacts, 2);
    assert_string_equal(p.contacts[1].value, "1");
    chat_store_person_free(&p);
}

struct seen {
    int n;
    struct chat_link last;
};

static void on_link(void *arg, const struct chat_link *l)
{
    struct seen *s = arg;

    s->n++;
    s->last = *l;
}

static void test_links(void **state)
{
    const char *b1[] = {"BU01060101", "BU01060102"};
    const char *bad[] = {"WK010600"};
    char id[CHAT_LINK_ID_MAX + 1], again[CHAT_LINK_ID_MAX + 1];
    struct seen s = {0};

    (void)state;
    if (!R)
        skip();
    assert_int_equal(chat_store_link_create(R, key, "telegram", "-100123", b1,
                                            2, "Buurtgroep Lariks", "u1", id),
                     RELAY_OK);
    assert_int_equal(strlen(id), 17);
    assert_int_equal(id[0], 'l');
    {
        char k[64];

        snprintf(k, sizeof(k), "chatlink:%s", id);
        assert_false(hash_has(k, "-100123")); /* encrypted */
        assert_true(hash_has(k, "Buurtgroep Lariks"));
    }
    assert_int_equal(num("SISMEMBER chatlinks:buurt:BU01060102 %s", id), 1);
    /* the same chat again: the first link's id */
    assert_int_equal(chat_store_link_create(R, key, "telegram", "-100123", b1,
                                            1, "x", NULL, again),
                     RELAY_ECONFLICT);
    assert_string_equal(again, id);
    /* the same id on another platform is another chat */
    assert_int_equal(chat_store_link_create(R, key, "matrix", "-100123", b1, 1,
                                            "", NULL, again),
                     RELAY_OK);
    assert_int_equal(chat_store_link_create(R, key, "telegram", "-1", bad, 1,
                                            "", NULL, again),
                     RELAY_EINVAL);
    assert_int_equal(chat_store_link_create(R, key, "telegram", "a b", b1, 1,
                                            "", NULL, again),
                     RELAY_EINVAL);

    assert_int_equal(chat_store_link_list(R, "BU01060102", on_link, &s),
                     RELAY_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.last.id, id);
    assert_string_equal(s.last.adapter, "telegram");
    assert_string_equal(s.last.buurten, "BU01060101,BU01060102");
    assert_string_equal(s.last.admin, "u1");
    assert_true(s.last.created > 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(chat_store_link_list(R, NULL, on_link, &s), RELAY_OK);
    assert_int_equal(s.n, 2);

    assert_int_equal(chat_store_link_delete(R, id), RELAY_OK);
    assert_int_equal(chat_store_link_delete(R, id), RELAY_ENOTFOUND);
    assert_int_equal(num("SISMEMBER chatlinks:buurt:BU01060101 %s", id), 0);
    /* the chat may be linked again */
    assert_int_equal(chat_store_link_create(R, key, "telegram", "-100123", b1,
                                            1, "", NULL, again),
                     RELAY_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_contacts_roundtrip, fresh),
        cmocka_unit_test_setup(test_taken_and_stale, fresh),
        cmocka_unit_test_setup(test_links, fresh),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
