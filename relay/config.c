/*
 * config.c - the relay's configuration: one table, one parser per type.
 *
 * Every key is a row of config_table[]. The file parser, config_set() (the
 * command-line overrides) and config_defaults() all go through the same
 * per-type parsers, so a default can never be something the file could not
 * say. WHY a table: adding a key is one row, and the error messages, the
 * bounds and --check-config's dump follow from it without more code.
 *
 * This module never reads secret key material except in
 * config_load_secret(), and never prints it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "adapter.h"
#include "error.h"
#include "quiet_hours.h"
#include "log.h"

#define CONFIG_LINE_MAX 1024           /* bytes of one line, without EOL */
#define CONFIG_FILE_MAX (1024 * 1024)  /* bytes of one config file */
#define CONFIG_WHY_MAX 384             /* reason text inside a message */
#define CONFIG_SECRET_FILE_MAX 512     /* bytes of a key file (64 hex + ws) */
#define CONFIG_REDIS_DEFAULT_PORT 6379 /* when redis:// has no port */

static int check_listen(const char *value, char *why, size_t whylen);
static int check_redis(const char *value, char *why, size_t whylen);
static int check_log_level(const char *value, char *why, size_t whylen);
static int check_origin(const char *value, char *why, size_t whylen);
static int check_escalate(const char *value, char *why, size_t whylen);
static int check_quiet(const char *value, char *why, size_t whylen);
static int check_adapter(const char *value, char *why, size_t whylen);

#define OFF(field) offsetof(struct relay_config, field)

/*
 * The relay's keys. Columns: key, type, offset, min, max, default, flags,
 * check, count offset (lists only). Bounds of SIZE rows are bytes.
 */
static const struct config_option config_table[] = {
    {"listen", CONFIG_T_STRING, OFF(listen), 0, 0, "127.0.0.1:8080", 0,
     check_listen, 0},
    {"redis", CONFIG_T_STRING, OFF(redis), 0, 0, "redis://127.0.0.1:6379", 0,
     check_redis, 0},
    {"max-frame", CONFIG_T_SIZE, OFF(max_frame), 1024, 1048576, "16384", 0,
     NULL, 0},
    {"send-queue-max", CONFIG_T_SIZE, OFF(send_queue_max), 4096, 67108864,
     "1048576", 0, NULL, 0},
    {"max-subscriptions", CONFIG_T_INT, OFF(max_subscriptions), 1, 100000,
     "256", 0, NULL, 0},
    {"history-max", CONFIG_T_INT, OFF(history_max), 10, 1000000, "1000", 0,
     NULL, 0},
    {"replay-max", CONFIG_T_INT, OFF(replay_max), 1, 100000, "1000", 0, NULL,
     0},
    {"idempotency-ttl", CONFIG_T_INT, OFF(idempotency_ttl), 60, 31536000,
     "86400", 0, NULL, 0},
    {"redis-timeout-ms", CONFIG_T_INT, OFF(redis_timeout_ms), 100, 60000,
     "5000", 0, NULL, 0},
    {"redis-reconnect-min-ms", CONFIG_T_INT, OFF(redis_reconnect_min_ms), 10,
     60000, "100", 0, NULL, 0},
    {"redis-reconnect-max-ms", CONFIG_T_INT, OFF(redis_reconnect_max_ms), 100,
     600000, "5000", 0, NULL, 0},
    {"ping-interval", CONFIG_T_INT, OFF(ping_interval), 1, 3600, "30", 0, NULL,
     0},
    {"idle-timeout", CONFIG_T_INT, OFF(idle_timeout), 2, 7200, "40", 0, NULL,
     0},
    {"shutdown-drain-ms", CONFIG_T_INT, OFF(shutdown_drain_ms), 0, 60000,
     "2000", 0, NULL, 0},
    {"token-ttl", CONFIG_T_INT, OFF(token_ttl), 60, 31536000, "86400", 0, NULL,
     0},
    {"token-audience", CONFIG_T_STRING, OFF(token_audience), 0, 0, "buurtrelay",
     0, NULL, 0},
    {"token-key-file", CONFIG_T_STRING, OFF(token_key_file), 0, 0, "",
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"pii-key-file", CONFIG_T_STRING, OFF(pii_key_file), 0, 0, "",
     CONFIG_F_SECRET_PATH, NULL, 0},
    {"web-root", CONFIG_T_STRING, OFF(web_root), 0, 0, "relay/web", 0, NULL, 0},
    {"areas-file", CONFIG_T_STRING, OFF(areas_file), 0, 0, "", 0, NULL, 0},
    {"postcodes-file", CONFIG_T_STRING, OFF(postcodes_file), 0, 0, "", 0, NULL,
     0},
    {"log-level", CONFIG_T_STRING, OFF(log_level), 0, 0, "info", 0,
     check_log_level, 0},
    {"origin", CONFIG_T_LIST, OFF(origins), 0, 0, NULL, 0, check_origin,
     OFF(origin_count)},
    {"approval-severe", CONFIG_T_BOOL, OFF(approval_severe), 0, 0, "yes", 0,
     NULL, 0},
    {"desc-check", CONFIG_T_BOOL, OFF(desc_check), 0, 0, "yes", 0, NULL, 0},
    {"escalate-after", CONFIG_T_INT, OFF(escalate_after), 1, 604800, "3600", 0,
     NULL, 0},
    {"escalate", CONFIG_T_LIST, OFF(escalate), 0, 0, NULL, 0, check_escalate,
     OFF(escalate_count)},
    {"retention-days", CONFIG_T_INT, OFF(retention_days), 1, 3650, "30", 0,
     NULL, 0},
    {"rate-frames", CONFIG_T_INT, OFF(rate_frames), 1, 100000, "50", 0, NULL,
     0},
    {"rate-frames-burst", CONFIG_T_INT, OFF(rate_frames_burst), 1, 100000,
     "200", 0, NULL, 0},
    {"rate-posts", CONFIG_T_INT, OFF(rate_posts), 1, 10000, "25", 0, NULL, 0},
    {"rate-posts-burst", CONFIG_T_INT, OFF(rate_posts_burst), 1, 100000, "100",
     0, NULL, 0},
    {"rate-anon-posts", CONFIG_T_INT, OFF(rate_anon_posts), 1, 10000, "6", 0,
     NULL, 0},
    {"rate-logins", CONFIG_T_INT, OFF(rate_logins), 1, 10000, "10", 0, NULL, 0},
    {"max-conns-per-ip", CONFIG_T_INT, OFF(max_conns_per_ip), 1, 1000000, "256",
     0, NULL, 0},
    {"adapter", CONFIG_T_LIST, OFF(adapters), 0, 0, NULL, 0, check_adapter,
     OFF(adapter_count)},
    {"outbox-worker", CONFIG_T_BOOL, OFF(outbox_worker), 0, 0, "yes", 0, NULL,
     0},
    {"outbox-batch", CONFIG_T_INT, OFF(outbox_batch), 1, 1000, "16", 0, NULL,
     0},
    {"outbox-claim-idle-ms", CONFIG_T_INT, OFF(outbox_claim_idle_ms), 1000,
     86400000, "60000", 0, NULL, 0},
    {"outbox-claim-interval-ms", CONFIG_T_INT, OFF(outbox_claim_interval_ms),
     100, 3600000, "15000", 0, NULL, 0},
    {"outbox-stale-ms", CONFIG_T_INT, OFF(outbox_stale_ms), 1000, 86400000,
     "120000", 0, NULL, 0},
    {"outbox-backoff-min-ms", CONFIG_T_INT, OFF(outbox_backoff_min_ms), 10,
     3600000, "1000", 0, NULL, 0},
    {"outbox-backoff-max-ms", CONFIG_T_INT, OFF(outbox_backoff_max_ms), 10,
     86400000, "300000", 0, NULL, 0},
    {"outbox-ttl", CONFIG_T_INT, OFF(outbox_ttl), 3600, 31536000, "604800", 0,
     NULL, 0},
    {"max-hook-body", CONFIG_T_SIZE, OFF(max_hook_body), 1024, 67108864,
     "4194304", 0, NULL, 0},
    {"quiet-hours", CONFIG_T_STRING, OFF(quiet_hours), 0, 0, "", 0, check_quiet,
     0},
    {"fallback-after", CONFIG_T_INT, OFF(fallback_after), 1, 86400, "300", 0,
     NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

#define CONFIG_ROWS (sizeof(config_table) / sizeof(config_table[0]) - 1)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static const struct config_option *find_option(const struct config_option *o,
                                               const char *key)
{
    for (; o->key; o++) {
        if (strcmp(o->key, key) == 0)
            return o;
    }
    return NULL;
}

/*
 * Parses a whole decimal integer (optional sign). Returns RELAY_OK,
 * RELAY_EINVAL for anything that is not exactly a number ("12abc", "",
 * "0x10") or RELAY_ETOOBIG when it does not fit a long long.
 */
static int parse_ll(const char *v, long long *out)
{
    const char *p = v;
    char *end;
    long long n;

    if (*p == '-' || *p == '+')
        p++;
    if (!is_digit(*p))
        return RELAY_EINVAL;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (*end != '\0')
        return RELAY_EINVAL;
    if (errno == ERANGE)
        return RELAY_ETOOBIG;
    *out = n;
    return RELAY_OK;
}

/* Bytes: digits with an optional k/K (1024) or m/M (1048576) suffix. */
static int parse_size(const char *v, long long *out)
{
    char *end;
    long long n;
    long long mult = 1;

    if (!is_digit(*v))
        return RELAY_EINVAL;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (*end == 'k' || *end == 'K') {
        mult = 1024;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        mult = 1048576;
        end++;
    }
    if (*end != '\0')
        return RELAY_EINVAL;
    if (errno == ERANGE || n > LLONG_MAX / mult)
        return RELAY_ETOOBIG;
    *out = n * mult;
    return RELAY_OK;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = 1;
            return RELAY_OK;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = 0;
            return RELAY_OK;
        }
    }
    return RELAY_EINVAL;
}

/* The value as it may appear in a message: secrets are never quoted. */
static const char *shown(const struct config_option *o, const char *v)
{
    return (o->flags & CONFIG_F_SECRET) ? "<secret>" : v;
}

/* Text values: length bound, then the row's own check. */
static int check_text(const struct config_option *o, const char *v, char *why,
                      size_t whylen)
{
    if (strlen(v) >= CONFIG_STR_MAX) {
        snprintf(why, whylen, "value longer than %d bytes", CONFIG_STR_MAX - 1);
        return RELAY_ECONFIG;
    }
    if (o->check && *v != '\0' && o->check(v, why, whylen) < 0) {
        if (o->flags & CONFIG_F_SECRET)
            snprintf(why, whylen, "invalid value");
        return RELAY_ECONFIG;
    }
    return RELAY_OK;
}

/* Stores a text value, zero-filling the rest of the field so that two
 * configurations with the same values compare equal byte for byte. */
static void store_text(char *field, const char *v)
{
    size_t n = strlen(v);

    memset(field, 0, CONFIG_STR_MAX);
    memcpy(field, v, n);
}

static int check_number(const struct config_option *o, int rc, long long n,
                        const char *v, char *why, size_t whylen)
{
    if (rc == RELAY_EINVAL) {
        snprintf(why, whylen, "'%s' is not %s", shown(o, v),
                 o->type == CONFIG_T_SIZE ? "a size" : "an integer");
        return RELAY_ECONFIG;
    }
    if (rc < 0 || n < o->min || n > o->max) {
        snprintf(why, whylen, "out of range %lld..%lld", o->min, o->max);
        return RELAY_ECONFIG;
    }
    return RELAY_OK;
}

/*
 * Parses 'v' for row 'o' and stores it into 'base' only if it is valid. On
 * failure writes the reason (without key or place) into 'why'.
 */
static int option_apply(const struct config_option *o, void *base,
                        const char *v, char *why, size_t whylen)
{
    char *field = (char *)base + o->offset;
    long long n = 0;
    int rc;
    int b = 0;
    int *count;

    if (*v == '\0' &&
        !(o->type == CONFIG_T_STRING && o->def && o->def[0] == '\0')) {
        snprintf(why, whylen, "empty value");
        return RELAY_ECONFIG;
    }
    switch (o->type) {
    case CONFIG_T_STRING:
        if (check_text(o, v, why, whylen) < 0)
            return RELAY_ECONFIG;
        store_text(field, v);
        return RELAY_OK;
    case CONFIG_T_INT:
        rc = parse_ll(v, &n);
        if (check_number(o, rc, n, v, why, whylen) < 0)
            return RELAY_ECONFIG;
        memcpy(field, &n, sizeof(n));
        return RELAY_OK;
    case CONFIG_T_SIZE:
        rc = parse_size(v, &n);
        if (check_number(o, rc, n, v, why, whylen) < 0)
            return RELAY_ECONFIG;
        memcpy(field, &n, sizeof(n));
        return RELAY_OK;
    case CONFIG_T_BOOL:
        if (parse_bool(v, &b) < 0) {
            snprintf(why, whylen, "'%s' is not yes|no|true|false|on|off|1|0",
                     shown(o, v));
            return RELAY_ECONFIG;
        }
        memcpy(field, &b, sizeof(b));
        return RELAY_OK;
    case CONFIG_T_LIST:
        count = (int *)((char *)base + o->count_offset);
        if (*count >= CONFIG_LIST_MAX) {
            snprintf(why, whylen, "more than %d values", CONFIG_LIST_MAX);
            return RELAY_ECONFIG;
        }
        if (check_text(o, v, why, whylen) < 0)
            return RELAY_ECONFIG;
        store_text(field + (size_t)*count * CONFIG_STR_MAX, v);
        (*count)++;
        return RELAY_OK;
    }
    snprintf(why, whylen, "bad table row");
    return RELAY_ECONFIG;
}

int config_options_defaults(const struct config_option *opts, void *base)
{
    char why[CONFIG_WHY_MAX];
    int rc = RELAY_OK;

    for (const struct config_option *o = opts; o->key; o++) {
        char *field = (char *)base + o->offset;

        switch (o->type) {
        case CONFIG_T_STRING:
            memset(field, 0, CONFIG_STR_MAX);
            break;
        case CONFIG_T_INT:
        case CONFIG_T_SIZE:
            memset(field, 0, sizeof(long long));
            break;
        case CONFIG_T_BOOL:
            memset(field, 0, sizeof(int));
            break;
        case CONFIG_T_LIST:
            memset(field, 0, (size_t)CONFIG_LIST_MAX * CONFIG_STR_MAX);
            memset((char *)base + o->count_offset, 0, sizeof(int));
            break;
        }
        if (o->def && option_apply(o, base, o->def, why, sizeof(why)) < 0) {
            log_error("config", "default of %s: %s", o->key, why);
            rc = RELAY_ECONFIG;
        }
    }
    return rc;
}

int config_option_set(const struct config_option *opts, void *base,
                      const char *key, const char *value, const char *where,
                      char *err, size_t errlen)
{
    const struct config_option *o;
    char why[CONFIG_WHY_MAX];

    if (!where)
        where = "(config)";
    if (!key || !(o = find_option(opts, key))) {
        set_err(err, errlen, "%s: unknown key '%s'", where,
                key ? key : "(null)");
        return RELAY_ECONFIG;
    }
    if (option_apply(o, base, value ? value : "", why, sizeof(why)) < 0) {
        set_err(err, errlen, "%s: %s: %s", where, o->key, why);
        return RELAY_ECONFIG;
    }
    return RELAY_OK;
}

void config_options_dump(const struct config_option *opts, const void *base,
                         FILE *out)
{
    for (const struct config_option *o = opts; o->key; o++) {
        const char *field = (const char *)base + o->offset;
        long long n;
        int b;
        int count;

        switch (o->type) {
        case CONFIG_T_STRING:
            if (o->flags & CONFIG_F_SECRET)
                fprintf(out, "%s <secret>\n", o->key);
            else if (field[0] == '\0')
                fprintf(out, "%s\n", o->key);
            else
                fprintf(out, "%s %s\n", o->key, field);
            break;
        case CONFIG_T_INT:
        case CONFIG_T_SIZE:
            memcpy(&n, field, sizeof(n));
            fprintf(out, "%s %lld\n", o->key, n);
            break;
        case CONFIG_T_BOOL:
            memcpy(&b, field, sizeof(b));
            fprintf(out, "%s %s\n", o->key, b ? "yes" : "no");
            break;
        case CONFIG_T_LIST:
            memcpy(&count, (const char *)base + o->count_offset, sizeof(count));
            if (count <= 0)
                fprintf(out, "# %s (none)\n", o->key);
            for (int i = 0; i < count && i < CONFIG_LIST_MAX; i++) {
                const char *item = field + (size_t)i * CONFIG_STR_MAX;

                fprintf(out, "%s %s\n", o->key,
                        (o->flags & CONFIG_F_SECRET) ? "<secret>" : item);
            }
            break;
        }
    }
}

/* ---- Checks of single values ------------------------------------------ */

/* Host part of HOST:PORT or redis://HOST: printable, no separators. */
static int copy_host(const char *h, size_t n, char *host, size_t hostlen)
{
    if (n == 0 || n >= hostlen)
        return RELAY_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];

        if (ch <= ' ' || ch == 0x7f || ch == '/' || ch == '@' || ch == '[' ||
            ch == ']' || ch == '?' || ch == '#')
            return RELAY_EINVAL;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    return RELAY_OK;
}

/* "1".."65535", digits only. */
static int parse_port(const char *p, int *port)
{
    int n = 0;
    size_t i;

    for (i = 0; is_digit(p[i]); i++) {
        if (i >= 5)
            return RELAY_EINVAL;
        n = n * 10 + (p[i] - '0');
    }
    if (i == 0 || p[i] != '\0' || n < 1 || n > 65535)
        return RELAY_EINVAL;
    *port = n;
    return RELAY_OK;
}

int config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *h;
    const char *hend;
    const char *p;
    int n;

    if (!s || !host || hostlen == 0 || !port)
        return RELAY_EINVAL;
    if (s[0] == '[') {
        h = s + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':')
            return RELAY_EINVAL;
        p = hend + 2;
    } else {
        h = s;
        hend = strrchr(s, ':');
        /* A bare IPv6 address must be bracketed: one colon only. */
        if (!hend || memchr(s, ':', (size_t)(hend - s)))
            return RELAY_EINVAL;
        p = hend + 1;
    }
    if (parse_port(p, &n) < 0)
        return RELAY_EINVAL;
    if (copy_host(h, (size_t)(hend - h), host, hostlen) < 0)
        return RELAY_EINVAL;
    *port = n;
    return RELAY_OK;
}

int config_split_redis(const char *s, char *host, size_t hostlen, int *port)
{
    static const char scheme[] = "redis://";
    const char *rest;
    size_t n;

    if (!s || !host || hostlen == 0 || !port ||
        strncmp(s, scheme, sizeof(scheme) - 1) != 0)
        return RELAY_EINVAL;
    rest = s + sizeof(scheme) - 1;
    n = strlen(rest);
    if (rest[0] == '[' && n >= 2 && rest[n - 1] == ']') {
        /* "[::1]" without a port */
        if (copy_host(rest + 1, n - 2, host, hostlen) < 0)
            return RELAY_EINVAL;
        *port = CONFIG_REDIS_DEFAULT_PORT;
        return RELAY_OK;
    }
    if (rest[0] != '[' && !strchr(rest, ':')) {
        if (copy_host(rest, n, host, hostlen) < 0)
            return RELAY_EINVAL;
        *port = CONFIG_REDIS_DEFAULT_PORT;
        return RELAY_OK;
    }
    return config_split_hostport(rest, host, hostlen, port);
}

static int check_listen(const char *value, char *why, size_t whylen)
{
    char host[CONFIG_STR_MAX];
    int port;

    if (config_split_hostport(value, host, sizeof(host), &port) < 0) {
        snprintf(why, whylen, "'%s' is not HOST:PORT (port 1..65535)", value);
        return RELAY_EINVAL;
    }
    return RELAY_OK;
}

static int check_redis(const char *value, char *why, size_t whylen)
{
    char host[CONFIG_STR_MAX];
    int port;

    if (config_split_redis(value, host, sizeof(host), &port) < 0) {
        snprintf(why, whylen, "'%s' is not redis://HOST[:PORT]", value);
        return RELAY_EINVAL;
    }
    return RELAY_OK;
}

static int check_log_level(const char *value, char *why, size_t whylen)
{
    enum log_level level;

    if (log_level_parse(value, &level) < 0) {
        snprintf(why, whylen, "'%s' is not one of debug|info|warn|error",
                 value);
        return RELAY_EINVAL;
    }
    return RELAY_OK;
}

/*
 * An Origin as browsers send it: "http://" or "https://", a host, an
 * optional ":PORT", nothing else. WHY strict: the value is compared with
 * the Origin header byte for byte, so "example.nl" or "https://x.nl/"
 * would silently never match.
 */
static int check_origin(const char *value, char *why, size_t whylen)
{
    const char *h = NULL;
    char host[CONFIG_STR_MAX];
    int port;

    if (strncmp(value, "http://", 7) == 0)
        h = value + 7;
    else if (strncmp(value, "https://", 8) == 0)
        h = value + 8;
    if (h && (h[0] == '[' || strchr(h, ':'))) {
        if (config_split_hostport(h, host, sizeof(host), &port) == RELAY_OK)
            return RELAY_OK;
    } else if (h && copy_host(h, strlen(h), host, sizeof(host)) == RELAY_OK) {
        return RELAY_OK;
    }
    snprintf(why, whylen, "'%s' is not an origin (http[s]://HOST[:PORT])",
             value);
    return RELAY_EINVAL;
}

/* ---- Whole-configuration checks --------------------------------------- */

static size_t row_index(const char *key)
{
    return (size_t)(find_option(config_table, key) - config_table);
}

/*
 * Checks that need several keys, after all of them are known. 'lines' gives
 * the file line of each row (0: not in the file) so the message can point
 * at the later of the two lines; it is NULL for config_set().
 */
static int cross_check(const struct relay_config *cfg, const char *where,
                       const unsigned *lines, char *err, size_t errlen)
{
    static const struct {
        const char *lo;
        const char *hi;
        int strict; /* lo must be < hi, not <= */
    } pairs[] = {
        {"redis-reconnect-min-ms", "redis-reconnect-max-ms", 0},
        {"ping-interval", "idle-timeout", 1},
        {"outbox-backoff-min-ms", "outbox-backoff-max-ms", 0},
    };

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        const struct config_option *lo = find_option(config_table, pairs[i].lo);
        const struct config_option *hi = find_option(config_table, pairs[i].hi);
        long long a;
        long long b;
        unsigned line = 0;

        memcpy(&a, (const char *)cfg + lo->offset, sizeof(a));
        memcpy(&b, (const char *)cfg + hi->offset, sizeof(b));
        if (pairs[i].strict ? a < b : a <= b)
            continue;
        if (lines) {
            line = lines[row_index(lo->key)];
            if (lines[row_index(hi->key)] > line)
                line = lines[row_index(hi->key)];
        }
        if (line)
            set_err(err, errlen, "%s:%u: %s %lld must be %s %s %lld", where,
                    line, lo->key, a, pairs[i].strict ? "below" : "at most",
                    hi->key, b);
        else
            set_err(err, errlen, "%s: %s %lld must be %s %s %lld", where,
                    lo->key, a, pairs[i].strict ? "below" : "at most", hi->key,
                    b);
        return RELAY_ECONFIG;
    }
    return RELAY_OK;
}

/* ---- The file format -------------------------------------------------- */

/* Keeps "NAME.KEY value" for adapter_set_build(), which checks the value. */
static int add_adapter_line(struct relay_config *cfg, const char *where,
                            const char *key, const char *value, char *err,
                            size_t errlen)
{
    char *line;
    int n;

    if (cfg->adapter_line_count >= CONFIG_ADAPTER_LINES_MAX) {
        set_err(err, errlen, "%s: more than %d adapter lines", where,
                CONFIG_ADAPTER_LINES_MAX);
        return RELAY_ECONFIG;
    }
    line = cfg->adapter_lines[cfg->adapter_line_count];
    n = snprintf(line, CONFIG_STR_MAX, "%s %s", key, value);
    if (n < 0 || n >= CONFIG_STR_MAX) {
        line[0] = '\0';
        set_err(err, errlen, "%s: %s: value longer than %d bytes", where, key,
                CONFIG_STR_MAX - 1);
        return RELAY_ECONFIG;
    }
    cfg->adapter_line_count++;
    return RELAY_OK;
}

/*
 * Handles one line (EOL already removed, NUL-terminated, at most
 * CONFIG_LINE_MAX bytes). 'lines' records where each row was first set, to
 * refuse a single-valued key given twice.
 */
static int parse_line(struct relay_config *cfg, const char *name,
                      unsigned lineno, char *line, unsigned *lines, char *err,
                      size_t errlen)
{
    char where[CONFIG_ERR_MAX];
    const struct config_option *o;
    char *key;
    char *value;
    char *end;
    size_t idx;

    for (char *p = line; *p; p++) {
        unsigned char ch = (unsigned char)*p;

        if ((ch < ' ' && ch != '\t') || ch == 0x7f) {
            set_err(err, errlen, "%s:%u: control character in line", name,
                    lineno);
            return RELAY_ECONFIG;
        }
    }
    key = line;
    while (is_space(*key))
        key++;
    if (*key == '\0' || *key == '#')
        return RELAY_OK;
    value = key;
    while (*value && !is_space(*value))
        value++;
    if (*value)
        *value++ = '\0';
    while (is_space(*value))
        value++;
    end = value + strlen(value);
    while (end > value && is_space(end[-1]))
        *--end = '\0';

    snprintf(where, sizeof(where), "%s:%u", name, lineno);
    o = find_option(config_table, key);
    if (!o && adapter_key_valid(key))
        return add_adapter_line(cfg, where, key, value, err, errlen);
    if (!o) {
        set_err(err, errlen, "%s: unknown key '%s'", where, key);
        return RELAY_ECONFIG;
    }
    idx = (size_t)(o - config_table);
    if (o->type != CONFIG_T_LIST && lines[idx] != 0) {
        set_err(err, errlen, "%s: key '%s' repeated (first on line %u)", where,
                key, lines[idx]);
        return RELAY_ECONFIG;
    }
    if (config_option_set(config_table, cfg, key, value, where, err, errlen) <
        0)
        return RELAY_ECONFIG;
    if (lines[idx] == 0)
        lines[idx] = lineno;
    return RELAY_OK;
}

void config_defaults(struct relay_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    if (config_options_defaults(config_table, cfg) < 0)
        abort(); /* a default that its own parser refuses: a table bug */
}

/*
 * Parses into a private copy and writes 'cfg' only on success. The copy is
 * on the heap because struct relay_config is several KiB.
 */
int config_parse(struct relay_config *cfg, const char *name, const char *text,
                 size_t len, char *err, size_t errlen)
{
    unsigned lines[CONFIG_ROWS] = {0};
    char line[CONFIG_LINE_MAX + 1];
    struct relay_config *tmp;
    unsigned lineno = 0;
    size_t pos = 0;
    int rc = RELAY_OK;

    if (!cfg || (!text && len > 0))
        return RELAY_EINVAL;
    if (!name)
        name = "(config)";
    tmp = malloc(sizeof(*tmp));
    if (!tmp)
        return RELAY_ENOMEM;
    config_defaults(tmp);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a UTF-8 byte order mark, as some editors write */
    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;

        pos += n + (nl ? 1 : 0);
        lineno++;
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (n > CONFIG_LINE_MAX) {
            set_err(err, errlen, "%s:%u: line longer than %d bytes", name,
                    lineno, CONFIG_LINE_MAX);
            rc = RELAY_ECONFIG;
            goto out_free_tmp;
        }
        if (memchr(start, '\0', n)) {
            set_err(err, errlen, "%s:%u: control character in line", name,
                    lineno);
            rc = RELAY_ECONFIG;
            goto out_free_tmp;
        }
        memcpy(line, start, n);
        line[n] = '\0';
        rc = parse_line(tmp, name, lineno, line, lines, err, errlen);
        if (rc < 0)
            goto out_free_tmp;
    }
    rc = cross_check(tmp, name, lines, err, errlen);
    if (rc == RELAY_OK)
        memcpy(cfg, tmp, sizeof(*cfg));

out_free_tmp:
    free(tmp);
    return rc;
}

int config_load(struct relay_config *cfg, const char *path, char *err,
                size_t errlen)
{
    FILE *f;
    char *buf;
    size_t len = 0;
    int rc;

    if (!cfg || !path)
        return RELAY_EINVAL;
    f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return RELAY_EIO;
    }
    buf = malloc(CONFIG_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return RELAY_ENOMEM;
    }
    len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        rc = RELAY_EIO;
    } else if (len > CONFIG_FILE_MAX) {
        set_err(err, errlen, "%s: file larger than %d bytes", path,
                CONFIG_FILE_MAX);
        rc = RELAY_ECONFIG;
    } else {
        rc = config_parse(cfg, path, buf, len, err, errlen);
    }
    free(buf);
    fclose(f);
    return rc;
}

int config_set(struct relay_config *cfg, const char *key, const char *value,
               const char *origin, char *err, size_t errlen)
{
    struct relay_config *tmp;
    int rc;

    if (!cfg)
        return RELAY_EINVAL;
    if (!origin)
        origin = "(command line)";
    tmp = malloc(sizeof(*tmp));
    if (!tmp)
        return RELAY_ENOMEM;
    memcpy(tmp, cfg, sizeof(*tmp));
    rc = config_option_set(config_table, tmp, key, value, origin, err, errlen);
    if (rc == RELAY_OK)
        rc = cross_check(tmp, origin, NULL, err, errlen);
    if (rc == RELAY_OK)
        memcpy(cfg, tmp, sizeof(*cfg));
    free(tmp);
    return rc;
}

void config_dump(const struct relay_config *cfg, FILE *out)
{
    config_options_dump(config_table, cfg, out);
    for (int i = 0; i < cfg->adapter_line_count; i++)
        fprintf(out, "%s\n", cfg->adapter_lines[i]);
}

/* ---- Secrets ---------------------------------------------------------- */

/*
 * Decodes exactly 64 hex digits (surrounding whitespace ignored) from
 * 'text' into 'key'. 'text' is not NUL-terminated. Writes 'key' only on
 * success.
 */
static int decode_key(const char *text, size_t len, unsigned char key[32])
{
    unsigned char tmp[32];
    size_t binlen = 0;
    const char *end = NULL;
    int rc = RELAY_EINVAL;

    while (len > 0 && (is_space(*text) || *text == '\n' || *text == '\r')) {
        text++;
        len--;
    }
    while (len > 0 && (is_space(text[len - 1]) || text[len - 1] == '\n' ||
                       text[len - 1] == '\r'))
        len--;
    if (len != 64)
        return RELAY_EINVAL;
    if (sodium_hex2bin(tmp, sizeof(tmp), text, len, NULL, &binlen, &end) == 0 &&
        binlen == sizeof(tmp) && end == text + len) {
        memcpy(key, tmp, sizeof(tmp));
        rc = RELAY_OK;
    }
    sodium_memzero(tmp, sizeof(tmp));
    return rc;
}

/*
 * Reads the key file into 'buf' (at most 'cap' bytes). Warns, without
 * failing, if group or others have any access. WHY not fail: a demo on a
 * laptop should start; the warning tells the operator to chmod 600.
 */
static int read_secret_file(const char *path, char *buf, size_t cap,
                            size_t *len, char *err, size_t errlen)
{
    struct stat st;
    size_t got = 0;
    int fd;
    int rc = RELAY_OK;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return RELAY_ECONFIG;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        rc = RELAY_ECONFIG;
        goto out_close;
    }
    if (st.st_mode & 077)
        log_warn("config",
                 "%s is accessible by group or others (mode %04o); "
                 "chmod 600 it",
                 path, (unsigned)(st.st_mode & 07777));
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            rc = RELAY_ECONFIG;
            goto out_close;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *len = got;

out_close:
    close(fd);
    return rc;
}

int config_load_secret(const char *path, const char *env_name,
                       unsigned char key[32], char *err, size_t errlen)
{
    char buf[CONFIG_SECRET_FILE_MAX + 1];
    const char *env = env_name ? getenv(env_name) : NULL;
    size_t len = 0;
    int rc;

    if (!key)
        return RELAY_EINVAL;
    if (env && *env) {
        if (decode_key(env, strlen(env), key) < 0) {
            set_err(err, errlen, "environment variable %s: not 64 hex digits",
                    env_name);
            return RELAY_ECONFIG;
        }
        return RELAY_OK;
    }
    if (!path || !*path)
        return RELAY_ENOTFOUND;
    rc = read_secret_file(path, buf, sizeof(buf), &len, err, errlen);
    if (rc == RELAY_OK &&
        (len > CONFIG_SECRET_FILE_MAX || decode_key(buf, len, key) < 0)) {
        set_err(err, errlen, "%s: not 64 hex digits", path);
        rc = RELAY_ECONFIG;
    }
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

/* "adapter NAME": a registered adapter (adapters/adapter.c). */
static int check_adapter(const char *value, char *why, size_t whylen)
{
    if (adapter_find(value))
        return RELAY_OK;
    snprintf(why, whylen, "'%s' is not an adapter (kannel, twilio)", value);
    return RELAY_EINVAL;
}

/* "HH:MM-HH:MM", "" or "off" (quiet_hours.h). */
static int check_quiet(const char *value, char *why, size_t whylen)
{
    struct quiet_hours q;

    if (quiet_hours_parse(value, &q) < 0) {
        snprintf(why, whylen, "expected HH:MM-HH:MM or off");
        return RELAY_ECONFIG;
    }
    return RELAY_OK;
}

/* "escalate CATEGORY SECONDS": a report category (protocol.md) and 1 ..
 * 604800 seconds. */
static int check_escalate(const char *value, char *why, size_t whylen)
{
    static const char *const categories[] = {"verdachte_situatie",
                                             "inbraak",
                                             "diefstal",
                                             "vandalisme",
                                             "overlast",
                                             "jeugdoverlast",
                                             "drugs",
                                             "verward_gedrag",
                                             "verkeer",
                                             "anders"};
    const char *sp = strchr(value, ' ');
    char *end;
    long long secs;
    int known = 0;

    if (!sp) {
        snprintf(why, whylen, "expected 'CATEGORY SECONDS'");
        return RELAY_ECONFIG;
    }
    for (size_t i = 0; i < sizeof(categories) / sizeof(*categories); i++)
        if (strlen(categories[i]) == (size_t)(sp - value) &&
            strncmp(value, categories[i], (size_t)(sp - value)) == 0)
            known = 1;
    if (!known) {
        snprintf(why, whylen, "unknown report category");
        return RELAY_ECONFIG;
    }
    secs = strtoll(sp + 1, &end, 10);
    if (end == sp + 1 || *end != '\0' || secs < 1 || secs > 604800) {
        snprintf(why, whylen, "seconds must be 1..604800");
        return RELAY_ECONFIG;
    }
    return RELAY_OK;
}
