/*
 * config.h - the relay's configuration: one struct, one table.
 *
 * The file format is one "key value" pair per line; '#' starts a comment
 * line; blank lines are ignored; the value is the rest of the line with
 * surrounding whitespace trimmed. Every key is a row of config_table[]
 * (config.c): its type, where it lives in struct relay_config, its bounds and
 * its default. Defaults are parsed by the same code as file values. An
 * unknown key, a bad value or a repeated single-valued key is an error that
 * names the file, the line and the key.
 *
 * Secrets (keys) never live in the config file itself: the file names a
 * file holding the secret, and an environment variable may override it
 * (config_load_secret()).
 */
#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_STR_MAX 256 /* longest string value, including NUL */
#define CONFIG_LIST_MAX 16 /* most values of one list key (origin) */
#define CONFIG_ERR_MAX 512
#define CONFIG_ADAPTER_LINES_MAX 80 /* "NAME.KEY value" lines, all adapters */

struct relay_config {
    char listen[CONFIG_STR_MAX];         /* "HOST:PORT" of HTTP+WebSocket */
    char redis[CONFIG_STR_MAX];          /* "redis://HOST:PORT" */
    long long max_frame;                 /* bytes of one WS message (1009) */
    long long send_queue_max;            /* bytes queued per client (4008) */
    long long max_subscriptions;         /* channels per connection */
    long long history_max;               /* entries kept per channel log */
    long long replay_max;                /* entries replayed per subscribe */
    long long idempotency_ttl;           /* seconds a post id is remembered */
    long long redis_timeout_ms;          /* a command older than this fails */
    long long redis_reconnect_min_ms;    /* first reconnect delay */
    long long redis_reconnect_max_ms;    /* backoff ceiling */
    long long ping_interval;             /* seconds between server pings */
    long long idle_timeout;              /* seconds without a pong: close */
    long long shutdown_drain_ms;         /* SIGTERM: time to flush queues */
    long long token_ttl;                 /* default token lifetime, seconds */
    char token_audience[CONFIG_STR_MAX]; /* "aud" claim required in tokens */
    char token_key_file[CONFIG_STR_MAX]; /* 32-byte key, hex; secret */
    char pii_key_file[CONFIG_STR_MAX];   /* 32-byte key, hex; secret */
    char web_root[CONFIG_STR_MAX];       /* static files served at / */
    char areas_file[CONFIG_STR_MAX];     /* buurten GeoJSON (CBS props) */
    char postcodes_file[CONFIG_STR_MAX]; /* PC6 + number ranges -> buurt */
    char log_level[CONFIG_STR_MAX];      /* debug|info|warn|error */
    int approval_severe;                 /* Extreme/Severe appeals wait
                                            for a second officer */
    int desc_check;                      /* run the description check */
    long long escalate_after;            /* seconds before an unacknowledged
                                            report escalates */
    char escalate[CONFIG_LIST_MAX][CONFIG_STR_MAX]; /* "category seconds" */
    int escalate_count;
    long long retention_days; /* closed cases keep personal data */
    long long rate_frames;    /* frames/s per user or IP */
    long long rate_frames_burst;
    long long rate_posts; /* posts/s per logged-in user */
    long long rate_posts_burst;
    long long rate_anon_posts;  /* anonymous posts/min per IP */
    long long rate_logins;      /* login attempts/min per IP */
    long long max_conns_per_ip; /* open WebSockets per IP */
    char origins[CONFIG_LIST_MAX][CONFIG_STR_MAX]; /* extra allowed Origins */
    int origin_count;
    char adapters[CONFIG_LIST_MAX][CONFIG_STR_MAX]; /* "adapter NAME" */
    int adapter_count;
    /* Every "NAME.KEY value" line (adapter_key_valid()), kept as text for
     * adapter_set_build(); secrets live in files named here. */
    char adapter_lines[CONFIG_ADAPTER_LINES_MAX][CONFIG_STR_MAX];
    int adapter_line_count;
    int outbox_worker;                  /* this process sends */
    long long outbox_batch;             /* entries read per stream at once */
    long long outbox_claim_idle_ms;     /* reclaim deliveries pending longer */
    long long outbox_claim_interval_ms; /* how often to look for them */
    long long outbox_stale_ms; /* a send marker older than this was left by
                                  a crash: dead-lettered "unconfirmed" */
    long long outbox_backoff_min_ms;  /* first retry delay */
    long long outbox_backoff_max_ms;  /* retry delay ceiling */
    long long outbox_ttl;             /* seconds delivery records live */
    long long max_hook_body;          /* bytes of one provider webhook (a
                                         Matrix transaction may batch
                                         many events) */
    char quiet_hours[CONFIG_STR_MAX]; /* routine notices held back then:
                                         "22:00-07:00" local, "" none */
    long long fallback_after;         /* seconds before a routine notice
                                         not delivered tries the person's
                                         next channel */
};

/* Fills 'cfg' with every default. Never fails (defaults are tested). */
void config_defaults(struct relay_config *cfg);

/*
 * Parses the file at 'path' over the defaults. On error returns RELAY_ECONFIG
 * (or RELAY_EIO if the file cannot be read) and writes one line such as
 * "buurtrelay.conf:12: unknown key 'max-fram'" into err (CONFIG_ERR_MAX).
 * 'cfg' is fully written on success; on failure its content is unspecified
 * but safe to discard.
 */
int config_load(struct relay_config *cfg, const char *path, char *err,
                size_t errlen);

/* Same as config_load() but from a buffer; 'name' is used in messages. */
int config_parse(struct relay_config *cfg, const char *name, const char *text,
                 size_t len, char *err, size_t errlen);

/*
 * Sets one key as if it were a line of the file (used by command-line
 * overrides such as --listen). Errors as config_parse(), with 'origin'
 * (e.g. "--listen") in place of file:line.
 */
int config_set(struct relay_config *cfg, const char *key, const char *value,
               const char *origin, char *err, size_t errlen);

/*
 * Reads a 32-byte secret key: from the environment variable 'env_name' if
 * set, else from the file 'path'. Either holds 64 hex digits (surrounding
 * whitespace ignored). Relative paths are taken from the process's working
 * directory. Never logs the key. Returns RELAY_OK, RELAY_ENOTFOUND when
 * neither source is set, or RELAY_ECONFIG with a message in err.
 */
int config_load_secret(const char *path, const char *env_name,
                       unsigned char key[32], char *err, size_t errlen);

/* Splits "HOST:PORT" ("[::1]:8080" allowed). RELAY_EINVAL if malformed. */
int config_split_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Writes the effective configuration as "key value" lines, secrets shown
 * only as file paths (never key material). For --check-config. */
void config_dump(const struct relay_config *cfg, FILE *out);

/* Like config_split_hostport() for "redis://HOST[:PORT]"; port defaults to
 * 6379. RELAY_EINVAL if 's' is anything else (user, password, path, db). */
int config_split_redis(const char *s, char *host, size_t hostlen, int *port);

/*
 * The table behind the parser, exported so adapters can describe their own
 * options (offsets into their private struct) and reuse the same parsers.
 * A table is an array of rows ended by a row whose key is NULL.
 */
enum config_type {
    CONFIG_T_STRING = 1, /* char[CONFIG_STR_MAX] */
    CONFIG_T_INT,        /* long long, decimal, within min..max */
    CONFIG_T_SIZE,       /* long long bytes: "4096", "16k", "1M"; min..max */
    CONFIG_T_BOOL,       /* int 0/1: yes|no|true|false|on|off|1|0 */
    CONFIG_T_LIST,       /* char[CONFIG_LIST_MAX][CONFIG_STR_MAX]; repeats
                            append; the int at count_offset counts them */
};

#define CONFIG_F_SECRET 0x1u      /* value is secret: never printed */
#define CONFIG_F_SECRET_PATH 0x2u /* value names a file holding a secret */

/* One key. Extra validation of a STRING or LIST value goes in 'check',
 * which writes the reason (e.g. "'x' is not HOST:PORT") into 'why'. */
struct config_option {
    const char *key; /* as written in the file, hyphenated */
    enum config_type type;
    size_t offset;      /* offsetof() into the struct the table describes */
    long long min, max; /* inclusive; CONFIG_T_INT and CONFIG_T_SIZE only */
    const char *def;    /* parsed like file input; NULL: empty / none */
    unsigned flags;     /* CONFIG_F_* */
    int (*check)(const char *value, char *why, size_t whylen); /* or NULL */
    size_t count_offset; /* CONFIG_T_LIST: offsetof() of its int count */
};

/* Applies every row's default to 'base' (zeroing each field first).
 * RELAY_ECONFIG only if a default itself is invalid (a table bug). */
int config_options_defaults(const struct config_option *opts, void *base);

/*
 * Sets one key of 'opts' in 'base' from its text form. On error returns
 * RELAY_ECONFIG, leaves the field untouched and writes
 * "<where>: <key>: <reason>" (or "<where>: unknown key '<key>'") into err.
 * Repeats are not detected here (the caller knows about lines).
 */
int config_option_set(const struct config_option *opts, void *base,
                      const char *key, const char *value, const char *where,
                      char *err, size_t errlen);

/* Writes every row as a "key value" line; CONFIG_F_SECRET values print as
 * "<secret>", an empty list as a "# key (none)" comment. */
void config_options_dump(const struct config_option *opts, const void *base,
                         FILE *out);

#endif
