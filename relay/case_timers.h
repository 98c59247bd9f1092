/*
 * case_timers.h - the relay's own jobs on cases: escalating reports nobody
 * acknowledged, and purging personal data of cases closed long enough.
 *
 * Deadlines live in Redis sorted sets (esc:reports, retention:cases; see
 * case_store.h), so they survive restarts and any relay process may run
 * them. Once a second each process claims due entries with a lease (the
 * deadline moves a minute ahead), so two processes do not both work on
 * one; the job itself removes the entry when done, and if the process
 * dies mid-job the lease runs out and another one picks it up. The jobs
 * are idempotent (post_system), so a double run changes nothing.
 */
#ifndef RELAY_CASE_TIMERS_H
#define RELAY_CASE_TIMERS_H

#include "relay.h"

struct case_timers;

struct case_timers *case_timers_start(struct relay *relay);
/* Stops the timer (closing it needs the loop to run). NULL is ignored. */
void case_timers_stop(struct case_timers *t);

#endif
