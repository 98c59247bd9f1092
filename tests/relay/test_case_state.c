/* Unit tests for relay/case_state.c: the transition table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "case_state.h"
#include "error.h"

static void test_names_round_trip(void **state)
{
    for (int s = CS_PENDING_APPROVAL; s <= CS_REOPENED; s++) {
        enum case_state back;

        assert_int_equal(case_state_parse(case_state_name(s), &back), RELAY_OK);
        assert_int_equal(back, s);
    }
    enum case_state x;
    assert_int_equal(case_state_parse("Resolved", &x), RELAY_EINVAL);
    assert_int_equal(case_state_parse("", &x), RELAY_EINVAL);
    assert_string_equal(case_state_name(0), "unknown");
    assert_string_equal(case_kind_name(CASE_REPORT), "report");
    assert_string_equal(case_state_label_nl(CS_IN_PROGRESS), "in behandeling");
    assert_string_equal(case_state_label_nl(CS_RESOLVED), "afgehandeld");
    assert_string_equal(case_state_label_nl(0), "onbekend");
}

static void test_appeal_life(void **state)
{
    enum case_state to;

    assert_int_equal(case_transition(CASE_APPEAL, CS_PENDING_APPROVAL,
                                     CASE_OP_APPROVE, 0, &to),
                     RELAY_OK);
    assert_int_equal(to, CS_ACTIVE);
    assert_int_equal(
        case_transition(CASE_APPEAL, CS_ACTIVE, CASE_OP_UPDATE, 0, &to),
        RELAY_OK);
    assert_int_equal(to, CS_ACTIVE);
    assert_int_equal(
        case_transition(CASE_APPEAL, CS_ACTIVE, CASE_OP_TIP, 0, &to), RELAY_OK);
    assert_int_equal(
        case_transition(CASE_APPEAL, CS_ACTIVE, CASE_OP_CLOSE, 0, &to),
        RELAY_OK);
    assert_int_equal(to, CS_CLOSED);
    /* a pending appeal can be cancelled, not updated or tipped */
    assert_int_equal(case_transition(CASE_APPEAL, CS_PENDING_APPROVAL,
                                     CASE_OP_CLOSE, 0, &to),
                     RELAY_OK);
    assert_int_equal(case_transition(CASE_APPEAL, CS_PENDING_APPROVAL,
                                     CASE_OP_UPDATE, 0, &to),
                     RELAY_ECONFLICT);
    assert_int_equal(
        case_transition(CASE_APPEAL, CS_PENDING_APPROVAL, CASE_OP_TIP, 0, &to),
        RELAY_ECONFLICT);
}

static void test_closed_appeal_is_final(void **state)
{
    enum case_state to = CS_NEW;

    for (int op = CASE_OP_APPROVE; op <= CASE_OP_ESCALATE; op++)
        assert_int_equal(
            case_transition(CASE_APPEAL, CS_CLOSED, op, CS_ACTIVE, &to),
            RELAY_ECONFLICT);
    assert_int_equal(to, CS_NEW); /* untouched on refusal */
    assert_int_equal(
        case_transition(CASE_APPEAL, CS_ACTIVE, CASE_OP_APPROVE, 0, &to),
        RELAY_ECONFLICT);
}

static void test_report_walks_every_state(void **state)
{
    static const enum case_state path[] = {CS_ACKNOWLEDGED, CS_IN_PROGRESS,
                                           CS_RESOLVED};
    enum case_state cur = CS_NEW, to;

    for (size_t i = 0; i < sizeof(path) / sizeof(*path); i++) {
        assert_int_equal(
            case_transition(CASE_REPORT, cur, CASE_OP_STATUS, path[i], &to),
            RELAY_OK);
        assert_int_equal(to, path[i]);
        cur = to;
    }
    assert_true(case_state_is_closed(cur));
    assert_int_equal(
        case_transition(CASE_REPORT, cur, CASE_OP_UNSATISFIED, 0, &to),
        RELAY_OK);
    assert_int_equal(to, CS_REOPENED);
    assert_false(case_state_is_closed(to));
    /* reopened reports are handled again, to any closing state */
    for (enum case_state t = CS_RESOLVED; t <= CS_DUPLICATE; t++) {
        assert_int_equal(
            case_transition(CASE_REPORT, CS_REOPENED, CASE_OP_STATUS, t, &to),
            RELAY_OK);
        assert_int_equal(to, t);
    }
}

static void test_illegal_report_transitions(void **state)
{
    enum case_state to;

    /* no way back to new, no repeat of the same state */
    assert_int_equal(case_transition(CASE_REPORT, CS_ACKNOWLEDGED,
                                     CASE_OP_STATUS, CS_NEW, &to),
                     RELAY_ECONFLICT);
    assert_int_equal(case_transition(CASE_REPORT, CS_IN_PROGRESS,
                                     CASE_OP_STATUS, CS_IN_PROGRESS, &to),
                     RELAY_ECONFLICT);
    /* a closed report moves only through the reporter's feedback */
    assert_int_equal(case_transition(CASE_REPORT, CS_RESOLVED, CASE_OP_STATUS,
                                     CS_IN_PROGRESS, &to),
                     RELAY_ECONFLICT);
    assert_int_equal(
        case_transition(CASE_REPORT, CS_NEW, CASE_OP_UNSATISFIED, 0, &to),
        RELAY_ECONFLICT);
    /* status targets are report states only */
    assert_int_equal(
        case_transition(CASE_REPORT, CS_NEW, CASE_OP_STATUS, CS_CLOSED, &to),
        RELAY_ECONFLICT);
    assert_int_equal(
        case_transition(CASE_REPORT, CS_NEW, CASE_OP_STATUS, CS_REOPENED, &to),
        RELAY_ECONFLICT);
    /* escalation only while nobody acknowledged */
    assert_int_equal(
        case_transition(CASE_REPORT, CS_NEW, CASE_OP_ESCALATE, 0, &to),
        RELAY_OK);
    assert_int_equal(
        case_transition(CASE_REPORT, CS_ACKNOWLEDGED, CASE_OP_ESCALATE, 0, &to),
        RELAY_ECONFLICT);
    /* appeal ops do not apply to reports */
    assert_int_equal(
        case_transition(CASE_REPORT, CS_NEW, CASE_OP_CLOSE, 0, &to),
        RELAY_ECONFLICT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_appeal_life),
        cmocka_unit_test(test_closed_appeal_is_final),
        cmocka_unit_test(test_report_walks_every_state),
        cmocka_unit_test(test_illegal_report_transitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
