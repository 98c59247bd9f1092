/*
 * quiet_hours.h - "no routine notices at night": a daily window in local
 * time ("22:00-07:00", may wrap midnight) during which routine
 * deliveries are held back until the window ends. Urgent appeals ignore
 * it (notify.h). Local time is the process's TZ (Europe/Amsterdam in the
 * shipped unit and scripts), so the window follows daylight saving.
 */
#ifndef RELAY_QUIET_HOURS_H
#define RELAY_QUIET_HOURS_H

#include <time.h>

struct quiet_hours {
    int on;        /* 0: no window */
    int start_min; /* minutes after local midnight, 0..1439 */
    int end_min;   /* the same; start == end is refused */
};

/*
 * Parses "HH:MM-HH:MM", "" or "off" (no window). RELAY_EINVAL for
 * anything else (hours 00..23, minutes 00..59, start != end).
 */
int quiet_hours_parse(const char *text, struct quiet_hours *out);

/*
 * When 'now' (unix seconds) falls inside the window: the unix time it
 * ends (the first minute after it, local time). Otherwise 0.
 */
time_t quiet_hours_until(const struct quiet_hours *q, time_t now);

#endif
