#include "case_state.h"

#include <string.h>

#include "error.h"

static const char *const kind_names[] = {
    [CASE_APPEAL] = "appeal",
    [CASE_REPORT] = "report",
};

static const char *const state_names[] = {
    [CS_PENDING_APPROVAL] = "pending_approval",
    [CS_ACTIVE] = "active",
    [CS_CLOSED] = "closed",
    [CS_NEW] = "new",
    [CS_ACKNOWLEDGED] = "acknowledged",
    [CS_IN_PROGRESS] = "in_progress",
    [CS_RESOLVED] = "resolved",
    [CS_REFERRED] = "referred",
    [CS_NO_ACTION] = "no_action",
    [CS_DUPLICATE] = "duplicate",
    [CS_REOPENED] = "reopened",
};

#define S(x) (1u << (x))
/* Report states from which handling may go on. */
#define OPEN_REPORT                                                            \
    (S(CS_NEW) | S(CS_ACKNOWLEDGED) | S(CS_IN_PROGRESS) | S(CS_REOPENED))
#define CLOSED_REPORT                                                          \
    (S(CS_RESOLVED) | S(CS_REFERRED) | S(CS_NO_ACTION) | S(CS_DUPLICATE))
/* Where a status post may lead: any handling state but back to new. */
#define STATUS_TARGETS (S(CS_ACKNOWLEDGED) | S(CS_IN_PROGRESS) | CLOSED_REPORT)

/*
 * The transition table. 'from' is a set of states; 'to' is the resulting
 * state, or 0 when the op leaves the state alone, or -1 when the op's
 * target (a status post's "state") is the result and must be in
 * 'targets'.
 */
static const struct {
    enum case_kind kind;
    enum case_op op;
    unsigned from;
    int to;
    unsigned targets;
} transitions[] = {
    {CASE_APPEAL, CASE_OP_APPROVE, S(CS_PENDING_APPROVAL), CS_ACTIVE, 0},
    {CASE_APPEAL, CASE_OP_UPDATE, S(CS_ACTIVE), 0, 0},
    {CASE_APPEAL, CASE_OP_CLOSE, S(CS_ACTIVE) | S(CS_PENDING_APPROVAL),
     CS_CLOSED, 0},
    {CASE_APPEAL, CASE_OP_TIP, S(CS_ACTIVE), 0, 0},
    {CASE_REPORT, CASE_OP_STATUS, OPEN_REPORT, -1, STATUS_TARGETS},
    {CASE_REPORT, CASE_OP_TIP, OPEN_REPORT, 0, 0},
    {CASE_REPORT, CASE_OP_SATISFIED, CLOSED_REPORT, 0, 0},
    {CASE_REPORT, CASE_OP_UNSATISFIED, CLOSED_REPORT, CS_REOPENED, 0},
    {CASE_REPORT, CASE_OP_ESCALATE, S(CS_NEW), 0, 0},
};

static int lookup(const char *const *names, int count, const char *name)
{
    for (int i = 1; i < count; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return i;
    return 0;
}

int case_kind_parse(const char *name, enum case_kind *out)
{
    int k = lookup(kind_names, (int)(sizeof(kind_names) / sizeof(*kind_names)),
                   name);

    if (!k)
        return RELAY_EINVAL;
    *out = (enum case_kind)k;
    return RELAY_OK;
}

const char *case_kind_name(enum case_kind kind)
{
    if ((unsigned)kind < sizeof(kind_names) / sizeof(*kind_names) &&
        kind_names[kind])
        return kind_names[kind];
    return "unknown";
}

int case_state_parse(const char *name, enum case_state *out)
{
    int s = lookup(state_names,
                   (int)(sizeof(state_names) / sizeof(*state_names)), name);

    if (!s)
        return RELAY_EINVAL;
    *out = (enum case_state)s;
    return RELAY_OK;
}

const char *case_state_name(enum case_state state)
{
    if ((unsigned)state < sizeof(state_names) / sizeof(*state_names) &&
        state_names[state])
        return state_names[state];
    return "unknown";
}

const char *case_state_label_nl(enum case_state state)
{
    static const char *const labels[] = {
        [CS_PENDING_APPROVAL] = "wacht op goedkeuring",
        [CS_ACTIVE] = "actief",
        [CS_CLOSED] = "afgesloten",
        [CS_NEW] = "nieuw",
        [CS_ACKNOWLEDGED] = "ontvangen",
        [CS_IN_PROGRESS] = "in behandeling",
        [CS_RESOLVED] = "afgehandeld",
        [CS_REFERRED] = "doorverwezen",
        [CS_NO_ACTION] = "geen actie",
        [CS_DUPLICATE] = "al gemeld",
        [CS_REOPENED] = "heropend",
    };

    if ((unsigned)state < sizeof(labels) / sizeof(*labels) && labels[state])
        return labels[state];
    return "onbekend";
}

int case_state_is_closed(enum case_state state)
{
    return state == CS_CLOSED || (S(state) & CLOSED_REPORT) != 0;
}

int case_transition(enum case_kind kind, enum case_state from, enum case_op op,
                    enum case_state target, enum case_state *to)
{
    for (size_t i = 0; i < sizeof(transitions) / sizeof(*transitions); i++) {
        if (transitions[i].kind != kind || transitions[i].op != op ||
            !(transitions[i].from & S(from)))
            continue;
        if (transitions[i].to == -1) {
            if (!(transitions[i].targets & S(target)) || target == from)
                return RELAY_ECONFLICT;
            *to = target;
        } else {
            *to = transitions[i].to ? (enum case_state)transitions[i].to : from;
        }
        return RELAY_OK;
    }
    return RELAY_ECONFLICT;
}
