/*
 * test_channel_pick.c - a person's channels in their order (channel_pick.h)
 * over a relay with Kannel, Telegram, Matrix and WhatsApp configured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "channel_pick.h"

static struct adapter_set set;

static int setup(void **state)
{
    static const char *const names[] = {"kannel", "telegram", "matrix",
                                        "whatsapp"};

    (void)state;
    memset(&set, 0, sizeof(set));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        set.in[i] = adapter_instance_create(names[i]);
        if (!set.in[i])
            return -1;
        set.n++;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    adapter_set_destroy(&set);
    return 0;
}

/* The picked adapters' names joined by ',' ("" for none). */
static const char *pick(const char *prefs, int phone, const char *kinds)
{
    static char out[128];
    const struct adapter_instance *ch[CHANNELS_MAX];
    int n = channel_pick(&set, prefs, phone, kinds, ch);

    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t len = strlen(out);

        snprintf(out + len, sizeof(out) - len, "%s%s", i ? "," : "",
                 ch[i]->ops->name);
    }
    return out;
}

static void test_defaults(void **state)
{
    (void)state;
    /* nothing stored: SMS when there is a phone, then the chats */
    assert_string_equal(pick("", 1, ""), "kannel");
    assert_string_equal(pick("", 1, "telegram,matrix"),
                        "kannel,telegram,matrix");
    assert_string_equal(pick("", 0, "matrix"), "matrix");
    assert_string_equal(pick("", 0, ""), "");
    /* WhatsApp is opt-in: a phone alone does not mean WhatsApp */
    assert_false(strstr(pick("", 1, ""), "whatsapp"));
}

static void test_preferences(void **state)
{
    (void)state;
    assert_string_equal(pick("telegram,sms", 1, "telegram"), "telegram,kannel");
    assert_string_equal(pick("whatsapp,sms", 1, ""), "whatsapp,kannel");
    /* a channel without its address is skipped, not an error */
    assert_string_equal(pick("telegram,sms", 1, ""), "kannel");
    assert_string_equal(pick("whatsapp,matrix", 0, "matrix"), "matrix");
    /* a channel the relay does not run is skipped */
    assert_string_equal(pick("signal,sms", 1, "signal"), "kannel");
    /* an unreadable preference falls back to the default order */
    assert_string_equal(pick("SMS,,", 1, "telegram"), "kannel,telegram");
}

static void test_sms_is_the_first_sms_adapter(void **state)
{
    struct adapter_set saved = set;
    const struct adapter_instance *ch[CHANNELS_MAX];
    struct adapter_instance *twilio = adapter_instance_create("twilio");

    (void)state;
    assert_non_null(twilio);
    /* twilio first: "sms" means twilio, and kannel by name still works */
    set.in[0] = twilio;
    set.in[4] = saved.in[0];
    set.n = 5;
    assert_int_equal(channel_pick(&set, "sms,kannel", 1, "", ch), 2);
    assert_string_equal(ch[0]->ops->name, "twilio");
    assert_string_equal(ch[1]->ops->name, "kannel");
    /* "sms" and "twilio" are the same adapter: once */
    assert_int_equal(channel_pick(&set, "sms,twilio", 1, "", ch), 1);
    set = saved;
    adapter_instance_destroy(twilio);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_preferences),
        cmocka_unit_test(test_sms_is_the_first_sms_adapter),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
