/*
 * quiet_hours.c - see quiet_hours.h.
 */
#include "quiet_hours.h"

#include <string.h>

#include "error.h"

/* "HH:MM" at s (exactly five bytes) as minutes; -1 when malformed. */
static int hhmm(const char *s)
{
    int h, m;

    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' ||
        s[3] < '0' || s[3] > '9' || s[4] < '0' || s[4] > '9')
        return -1;
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

int quiet_hours_parse(const char *text, struct quiet_hours *out)
{
    if (!text || !out)
        return RELAY_EINVAL;
    memset(out, 0, sizeof(*out));
    if (text[0] == '\0' || strcmp(text, "off") == 0)
        return RELAY_OK;
    if (strlen(text) != 11 || text[5] != '-')
        return RELAY_EINVAL;
    out->start_min = hhmm(text);
    out->end_min = hhmm(text + 6);
    if (out->start_min < 0 || out->end_min < 0 ||
        out->start_min == out->end_min) {
        memset(out, 0, sizeof(*out));
        return RELAY_EINVAL;
    }
    out->on = 1;
    return RELAY_OK;
}

time_t quiet_hours_until(const struct quiet_hours *q, time_t now)
{
    struct tm tm;
    int cur, wait;

    if (!q || !q->on || !localtime_r(&now, &tm))
        return 0;
    cur = tm.tm_hour * 60 + tm.tm_min;
    if (q->start_min < q->end_min) { /* 09:00-17:00 */
        if (cur < q->start_min || cur >= q->end_min)
            return 0;
    } else if (cur < q->start_min && cur >= q->end_min) { /* 22:00-07:00 */
        return 0;
    }
    wait = q->end_min - cur;
    if (wait <= 0)
        wait += 24 * 60;
    /* to the start of the end minute; mktime() settles DST jumps */
    tm.tm_min += wait;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return mktime(&tm);
}
