/*
 * log.h - one-line log records to standard error.
 *
 * Privacy rule: never pass a phone number, name, token, password or message
 * body to these functions. Log ids, codes, counts and channel names only.
 * WHY: logs are copied to places with weaker protection than Redis.
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
};

/* Records below 'level' are discarded. Default LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn" or "error"; returns RELAY_EINVAL else. */
int log_level_parse(const char *name, enum log_level *out);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) log_write(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_write(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_LEVEL_ERROR, mod, __VA_ARGS__)

#endif
