/*
 * case_state.h - the life of a case: kinds, states and the one table of
 * allowed transitions.
 *
 * Two kinds of case:
 *   appeal (a police/BOA "alert"):  pending_approval -> active -> closed
 *                                   (pending_approval -> closed cancels)
 *   report (a resident's melding):  new -> acknowledged -> in_progress ->
 *                                   resolved | referred | no_action |
 *                                   duplicate; a closed report is
 *                                   reopened when its reporter is not
 *                                   satisfied, and handled again.
 * Every decision "may this happen now" is case_transition(), so the rules
 * can be read in one place (the table in case_state.c).
 */
#ifndef RELAY_CASE_STATE_H
#define RELAY_CASE_STATE_H

enum case_kind {
    CASE_APPEAL = 1,
    CASE_REPORT,
};

enum case_state {
    CS_PENDING_APPROVAL = 1,
    CS_ACTIVE,
    CS_CLOSED,
    CS_NEW,
    CS_ACKNOWLEDGED,
    CS_IN_PROGRESS,
    CS_RESOLVED,
    CS_REFERRED,
    CS_NO_ACTION,
    CS_DUPLICATE,
    CS_REOPENED,
};

/* What someone does to a case. */
enum case_op {
    CASE_OP_APPROVE = 1, /* second officer releases an appeal */
    CASE_OP_UPDATE,      /* appeal text or area changes */
    CASE_OP_CLOSE,       /* appeal ends */
    CASE_OP_STATUS,      /* police/BOA move a report to a state */
    CASE_OP_TIP,         /* a tip or comment is added */
    CASE_OP_SATISFIED,   /* reporter is satisfied with a closed report */
    CASE_OP_UNSATISFIED, /* reporter is not: the report reopens */
    CASE_OP_ESCALATE,    /* nobody acknowledged a report in time */
};

int case_kind_parse(const char *name, enum case_kind *out);
const char *case_kind_name(enum case_kind kind);
int case_state_parse(const char *name, enum case_state *out);
const char *case_state_name(enum case_state state);

/* True for the states in which a case is finished (closed appeal,
 * resolved/referred/no_action/duplicate report). */
int case_state_is_closed(enum case_state state);

/* The state as residents read it, in Dutch ("in behandeling"); for texts
 * such as SMS where the wire name would mean nothing. */
const char *case_state_label_nl(enum case_state state);

/*
 * May 'op' happen to a case of 'kind' in state 'from'? For
 * CASE_OP_STATUS 'target' is the requested state (ignored otherwise).
 * RELAY_OK with *to set to the resulting state (unchanged for ops that do
 * not move the state), or RELAY_ECONFLICT.
 */
int case_transition(enum case_kind kind, enum case_state from, enum case_op op,
                    enum case_state target, enum case_state *to);

#endif
