/*
 * buurtctl.c - the operator's command line: accounts, tokens, the audit
 * trail and a person's data (AVG inzage and verwijdering).
 *
 *   buurtctl --config FILE [--redis URL] COMMAND ...
 *
 * Talks to Redis synchronously through user_store.c; shares the config
 * file and key files with the daemon. Output contract (scripts and the
 * acceptance tests rely on it): results on stdout, every error as one line
 * "buurtctl: <command>: <what was wrong>" on stderr; exit 0 on success, 1
 * on failure, 2 for usage errors (anything wrong with the arguments
 * themselves). Phone numbers, addresses, passwords, tokens and keys are
 * never printed in messages (an address is named by its position:
 * "address 2"); the one place a phone number or an address is printed is
 * the stdout of "export", which is the person's own data handed to them.
 *
 * Addresses (--address PC6:NUMBER) are resolved to their buurt with the
 * config's areas-file and postcodes-file, loaded only when an address is
 * given; the buurten join the account's buurten and the addresses
 * themselves are stored only encrypted (user_store.h).
 *
 * Every command that changes an account or a token, and every export or
 * erase, appends an entry to the audit trail (audit.h) as actor "cli",
 * role "operator". The keys are loaded before anything changes; when the
 * change is done but its audit entry cannot be written the command says
 * so and exits 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "areas.h"
#include "audit.h"
#include "avg.h"
#include "channel.h"
#include "chat_store.h"
#include "config.h"
#include "quiet_hours.h"
#include "error.h"
#include "password.h"
#include "pii.h"
#include "token.h"
#include "user_store.h"

#ifndef RELAY_VERSION
#define RELAY_VERSION "unknown"
#endif

#define EXIT_USAGE 2
#define REDIS_TIMEOUT_MS 2000
#define TTL_MAX (366LL * 24 * 3600) /* longest --ttl: a year */
#define SHOWN_MAX 80                /* longest user value echoed in errors */
#define PW_BUF (PASSWORD_MAX_LEN + 2)
#define PHONE_TEXT_MAX 128 /* >= pii_text_len(PII_PHONE_MAX), which is 80 */
#define COUNT_MAX 1000000  /* largest audit list --count */
#define AUDIT_ACTOR "cli"
#define AUDIT_ROLE "operator"

static const char usage_text[] =
    "usage: buurtctl --config FILE [--redis redis://HOST:PORT] COMMAND ...\n"
    "\n"
    "commands:\n"
    "  user add --login L --role resident|beheerder|boa|police|admin\n"
    "           [--buurt CODE]... [--wijk CODE]... [--phone E164]\n"
    "           [--address PC6:NUMBER]... [--password-file F]\n"
    "      create an account; the password is the first line of F or of\n"
    "      standard input (its newline is not part of it); prints the id.\n"
    "      resident and beheerder need a --buurt or an --address, boa\n"
    "      needs a --wijk. Each --address (e.g. 9401AB:12, at most 4:\n"
    "      home, work, ...) adds the buurt it lies in (areas-file and\n"
    "      postcodes-file of the config); it is stored only encrypted.\n"
    "  user set --login L [--role R] [--buurt CODE]... [--wijk CODE]...\n"
    "           [--no-buurt] [--no-wijk] [--phone E164 | --no-phone]\n"
    "           [--address PC6:NUMBER]... [--no-address]\n"
    "      change the role, replace all buurten (--buurt) or all wijken\n"
    "      (--wijk), or set or remove the phone number; the result must\n"
    "      meet the rules of add. --address replaces all addresses: the\n"
    "      buurten of the old ones (unless --buurt/--no-buurt is given)\n"
    "      give way to those of the new ones. --no-address forgets the\n"
    "      addresses but keeps the buurten. Revokes all the user's tokens.\n"
    "  user passwd --login L [--password-file F]\n"
    "      set a new password (read as for add); revokes all its tokens\n"
    "  user disable --login L     disable and revoke all its tokens\n"
    "  user enable --login L      enable again (its old tokens stay revoked)\n"
    "  user show --login L        id, role, areas, state (no phone, no\n"
    "      address, no hash)\n"
    "  token --login L [--ttl SECONDS]\n"
    "      print a fresh token for an enabled user\n"
    "  token revoke --token T     revoke one token (T '-': read stdin)\n"
    "  token revoke --login L     revoke every token of a user issued so far\n"
    "  audit list [--count N]     the audit trail (the last N entries), one\n"
    "      line each: id ts actor role action target result\n"
    "  audit verify               recompute the hash chain; exit 1 naming the\n"
    "      first entry that was edited, inserted or removed\n"
    "  export --login L           everything stored about a person, as JSON\n"
    "      (AVG inzage; includes their phone number)\n"
    "  erase --login L            delete a person's account, login, phone\n"
    "      index, tokens and personal keys, and remove their id from cases\n"
    "      and histories (AVG verwijdering; audit entries stay)\n"
    "  contact --login L [--set KIND=VALUE]... [--clear KIND]...\n"
    "          [--channels LIST | --no-channels] [--quiet HH:MM-HH:MM|off |\n"
    "          --no-quiet]\n"
    "      a person's chat addresses (KIND telegram, matrix, ...: a chat id\n"
    "      or room id, stored only encrypted), their channel order (e.g.\n"
    "      telegram,sms; default sms then their chats) and their own quiet\n"
    "      hours; without options prints kinds, channels and quiet\n"
    "  group link --adapter NAME --address ADDR --buurt CODE...\n"
    "             [--name TEXT] [--admin LOGIN]\n"
    "      link a chat group / room (or a webhook URL) to buurten, which\n"
    "      sends it their police appeals, updates and closings; replies in it\n"
    "      become tips; the address is stored only encrypted; prints the id\n"
    "  group unlink --id ID       remove a link\n"
    "  group list [--buurt CODE]  id adapter buurten admin name, one a line\n"
    "  sms rebuild                add every counted account with a phone to\n"
    "      the SMS recipients of its buurten (sms:buurt:{code}), for accounts\n"
    "      stored before those sets existed; safe to repeat\n"
    "\n"
    "options:\n"
    "  --config FILE   relay configuration (keys, audience, Redis)\n"
    "  --redis URL     override the config's Redis address\n"
    "  --help, --version\n"
    "\n"
    "keys: token-key-file / BUURTRELAY_TOKEN_KEY, pii-key-file /\n"
    "BUURTRELAY_PII_KEY (64 hex digits each; the PII key also keys the audit\n"
    "trail). Exit status: 0 ok, 1 failed, 2 usage error.\n";

/* Everything a command needs; one per process. */
struct ctl {
    const char *cmd;         /* "user add", for messages */
    const char *config_path; /* --config */
    const char *redis_url;   /* --redis, or NULL */
    struct relay_config cfg;
    redisContext *redis; /* owned; NULL until connected */
    struct areas *areas; /* owned; loaded only for --address */
    unsigned char audit_key[AUDIT_KEY_BYTES]; /* wiped at exit */
    int have_audit_key;
};

/* One option a command accepts. Single options fill *val; repeatable ones
 * append to list[] (capacity 'max'); flags (no value) set *flag to 1. */
struct opt {
    const char *name; /* "--login" */
    const char **val;
    const char **list;
    size_t *count;
    size_t max;
    int *flag;
};

static void fail(const struct ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage(const struct ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "buurtctl: <cmd>: <message>" on stderr. */
static void fail(const struct ctl *c, const char *fmt, ...)
{
    va_list ap;

    fputs("buurtctl: ", stderr);
    if (c && c->cmd)
        fprintf(stderr, "%s: ", c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A usage error: one line plus a pointer to --help; returns EXIT_USAGE. */
static int usage(const struct ctl *c, const char *fmt, ...)
{
    va_list ap;

    fputs("buurtctl: ", stderr);
    if (c && c->cmd)
        fprintf(stderr, "%s: ", c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (try --help)\n", stderr);
    return EXIT_USAGE;
}

/*
 * Returns 's' when it is safe to echo in a one-line message (printable
 * ASCII, not too long), else a placeholder. WHY: a value with a newline or
 * an escape sequence would break the one-line error contract or the
 * operator's terminal.
 */
static const char *shown(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (n >= SHOWN_MAX || s[n] < 0x20 || s[n] > 0x7e)
            return "(unprintable)";
    }
    return s;
}

/* The option name part of "--name=value", for messages; never the value
 * (it may be a phone number or a password file's path). */
static const char *shown_name(const char *arg, size_t len)
{
    static char buf[SHOWN_MAX + 1];

    if (len > SHOWN_MAX)
        return "(too long)";
    memcpy(buf, arg, len);
    buf[len] = '\0';
    return shown(buf);
}

/*
 * Parses "--name VALUE" / "--name=VALUE" options from argv[i..argc) against
 * 'opts' (n entries), also accepting the global --config and --redis.
 * Returns 0, or EXIT_USAGE after printing why, or -1 for --help (usage
 * printed, caller exits 0).
 */
static int parse_opts(struct ctl *c, int argc, char **argv, int i,
                      const struct opt *opts, size_t n)
{
    for (; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const char *value = NULL;
        const struct opt *o = NULL;
        const char **global = NULL;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_text, stdout);
            return -1;
        }
        /* Never echo a stray word: it may be a phone number that lost
         * its --phone. */
        if (strncmp(arg, "--", 2) != 0)
            return usage(c, "unexpected argument (#%d on the command line)", i);
        for (size_t k = 0; k < n && !o; k++) {
            if (strlen(opts[k].name) == name_len &&
                strncmp(opts[k].name, arg, name_len) == 0)
                o = &opts[k];
        }
        if (!o && name_len == 8 && strncmp(arg, "--config", 8) == 0)
            global = &c->config_path;
        else if (!o && name_len == 7 && strncmp(arg, "--redis", 7) == 0)
            global = &c->redis_url;
        else if (!o)
            return usage(c, "unknown option '%s'", shown_name(arg, name_len));
        if (o && o->flag) {
            if (eq)
                return usage(c, "%s takes no value", o->name);
            if (*o->flag)
                return usage(c, "%s given twice", o->name);
            *o->flag = 1;
            continue;
        }
        if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return usage(c, "%s needs a value", shown_name(arg, name_len));

        if (global) {
            *global = value;
        } else if (o->list) {
            if (*o->count >= o->max)
                return usage(c, "too many %s options", o->name);
            o->list[(*o->count)++] = value;
        } else {
            if (*o->val)
                return usage(c, "%s given twice", o->name);
            *o->val = value;
        }
    }
    return 0;
}

/*
 * Loads --config and applies --redis. Returns 0 or 1 (after a message).
 * Done after argument parsing so that usage errors come first.
 */
static int load_config(struct ctl *c)
{
    char err[CONFIG_ERR_MAX];
    int rc;

    if (!c->config_path) {
        fail(c, "--config FILE is required");
        return EXIT_USAGE;
    }
    rc = config_load(&c->cfg, c->config_path, err, sizeof(err));
    if (rc < 0) {
        fail(c, "%s", err);
        return 1;
    }
    if (c->redis_url) {
        rc = config_set(&c->cfg, "redis", c->redis_url, "--redis", err,
                        sizeof(err));
        if (rc < 0) {
            fail(c, "%s", err);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* Loads a 32-byte key; 'what' names the config key for messages. */
static int load_key(struct ctl *c, const char *path, const char *env,
                    const char *what, unsigned char key[32])
{
    char err[CONFIG_ERR_MAX];
    int rc = config_load_secret(path, env, key, err, sizeof(err));

    if (rc == RELAY_ENOTFOUND) {
        fail(c, "no %s configured (set it in the config or set %s)", what, env);
        return 1;
    }
    if (rc < 0) {
        fail(c, "%s", err);
        return 1;
    }
    return 0;
}

static int connect_redis(struct ctl *c)
{
    char err[256];
    int rc = user_store_connect(c->cfg.redis, REDIS_TIMEOUT_MS, &c->redis, err,
                                sizeof(err));

    if (rc < 0) {
        fail(c, "%s", err);
        return 1;
    }
    return 0;
}

/* Reports a failed user_store call; returns 1. */
static int redis_fail(const struct ctl *c, int rc)
{
    if (rc == RELAY_EUNAVAILABLE && c->redis && c->redis->err == REDIS_ERR_IO &&
        strstr(c->redis->errstr, "temporarily unavailable"))
        fail(c, "Redis: no answer within %d ms", REDIS_TIMEOUT_MS);
    else if (rc == RELAY_EUNAVAILABLE && c->redis && c->redis->err)
        fail(c, "Redis: %s", c->redis->errstr);
    else if (rc == RELAY_EUNAVAILABLE)
        fail(c, "Redis refused the command");
    else
        fail(c, "%s", relay_strerror(rc));
    return 1;
}

/* Resolves a login to an id; prints the error itself. */
static int find_user(struct ctl *c, const char *login, char *id)
{
    int rc = user_store_find_login(c->redis, login, id);

    if (rc == RELAY_ENOTFOUND) {
        fail(c, "no user '%s'", shown(login));
        return 1;
    }
    if (rc < 0)
        return redis_fail(c, rc);
    return 0;
}

/*
 * Loads the PII master key into pii (optional: NULL wipes it at once) and
 * derives the audit key into c->audit_key. Done before any change, so
 * that a command never changes something it cannot audit. 0 or 1.
 */
static int load_audit_key(struct ctl *c, unsigned char *pii)
{
    unsigned char master[PII_KEY_BYTES];
    int rc;

    if (load_key(c, c->cfg.pii_key_file, "BUURTRELAY_PII_KEY", "pii-key-file",
                 master) != 0)
        return 1;
    rc = audit_key_derive(master, c->audit_key);
    if (pii && rc == RELAY_OK)
        memcpy(pii, master, PII_KEY_BYTES);
    sodium_memzero(master, sizeof(master));
    if (rc < 0) {
        fail(c, "cannot derive the audit key: %s", relay_strerror(rc));
        return 1;
    }
    c->have_audit_key = 1;
    return 0;
}

/*
 * Appends "cli operator <action> <target> ok" to the audit trail, after
 * the change it records. Returns 0, or 1 after saying that the change
 * itself was made.
 */
static int audit_done(struct ctl *c, const char *action, const char *target)
{
    struct audit_entry e = {0, AUDIT_ACTOR, AUDIT_ROLE, action, target, "ok"};
    int rc = c->have_audit_key
                 ? audit_append_sync(c->redis, c->audit_key, &e, NULL)
                 : RELAY_EINVAL;

    if (rc == RELAY_OK)
        return 0;
    if (rc == RELAY_EUNAVAILABLE && c->redis && c->redis->err)
        fail(c, "done, but the audit entry could not be written: Redis: %s",
             c->redis->errstr);
    else
        fail(c, "done, but the audit entry could not be written: %s",
             relay_strerror(rc));
    return 1;
}

/*
 * Reads one line into buf (cap bytes): the line without its "\n" or
 * "\r\n". Returns RELAY_OK, RELAY_ETOOBIG (longer than cap - 1),
 * RELAY_EINVAL (a NUL byte, or nothing at all) or RELAY_EIO.
 */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    int ch, got = 0;

    while ((ch = getc(f)) != EOF) {
        got = 1;
        if (ch == '\n')
            break;
        if (ch == '\0')
            return RELAY_EINVAL;
        if (n + 1 >= cap)
            return RELAY_ETOOBIG;
        buf[n++] = (char)ch;
    }
    if (ferror(f))
        return RELAY_EIO;
    if (!got)
        return RELAY_EINVAL;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return RELAY_OK;
}

/*
 * Reads the password from 'file' or, when NULL, standard input (echo off
 * when it is a terminal). A file must hold exactly one line. The caller
 * wipes 'buf'. Returns 0 or 1 after printing why (never the password).
 */
static int read_password(struct ctl *c, const char *file, char *buf, size_t cap,
                         size_t *len)
{
    FILE *f = stdin;
    struct termios saved, quiet;
    int tty = 0, rc;

    if (file) {
        f = fopen(file, "r");
        if (!f) {
            fail(c, "cannot open password file '%s': %s", shown(file),
                 strerror(errno));
            return 1;
        }
    } else if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tty = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        fputs("Password: ", stderr);
    }
    rc = read_line(f, buf, cap, len);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (rc == RELAY_OK && file && getc(f) != EOF)
        rc = RELAY_ECONFLICT; /* more than one line */
    if (file)
        fclose(f);

    switch (rc) {
    case RELAY_OK:
        return 0;
    case RELAY_ETOOBIG:
        fail(c, "password longer than %d bytes", PASSWORD_MAX_LEN);
        break;
    case RELAY_ECONFLICT:
        fail(c, "password file must hold exactly one line");
        break;
    case RELAY_EINVAL:
        fail(c, "no password given (or it contains a NUL byte)");
        break;
    default:
        fail(c, "cannot read the password: %s", strerror(errno));
        break;
    }
    return 1;
}

/*
 * Encrypts and indexes the phone for user 'id'. Writes text (size
 * pii_text_len(PII_PHONE_MAX)) and index. Returns 0 or 1.
 */
static int phone_seal(struct ctl *c, const unsigned char key[PII_KEY_BYTES],
                      const char *id, const char *phone, char *text,
                      size_t textlen, char index[PII_INDEX_HEX_BYTES])
{
    char context[PII_CONTEXT_MAX];
    int rc;

    snprintf(context, sizeof(context), "user|phone|%s", id);
    rc = pii_encrypt(key, context, phone, strlen(phone), text, textlen);
    if (rc == RELAY_OK)
        rc = pii_blind_index(key, phone, index);
    if (rc < 0) {
        fail(c, "cannot encrypt the phone number: %s", relay_strerror(rc));
        return 1;
    }
    return 0;
}

/*
 * Parses the --address options args[0..n) into out. Returns 0, or
 * EXIT_USAGE naming the address by its position only.
 */
static int parse_addresses(struct ctl *c, const char *const *args, size_t n,
                           struct user_address *out)
{
    for (size_t k = 0; k < n; k++) {
        if (user_store_address_parse(args[k], &out[k]) < 0)
            return usage(c,
                         "address %zu is not POSTCODE:NUMBER (e.g. "
                         "9401AB:12, house number 1 to %d)",
                         k + 1, AREAS_HOUSE_NUMBER_MAX);
    }
    return 0;
}

/* Loads the config's areas-file and postcodes-file into c->areas (once).
 * 0 or 1 after a message. */
static int load_areas(struct ctl *c)
{
    char err[AREAS_ERR_MAX + CONFIG_STR_MAX];

    if (c->areas)
        return 0;
    if (!c->cfg.areas_file[0] || !c->cfg.postcodes_file[0]) {
        fail(c, "--address needs areas-file and postcodes-file in the "
                "config");
        return 1;
    }
    if (areas_load(c->cfg.areas_file, &c->areas, err, sizeof(err)) < 0 ||
        areas_load_postcodes(c->areas, c->cfg.postcodes_file, err,
                             sizeof(err)) < 0) {
        areas_destroy(c->areas);
        c->areas = NULL;
        fail(c, "%s", err);
        return 1;
    }
    return 0;
}

/*
 * The buurt of each address into codes[] (pointing into c->areas).
 * Returns 0, or 1 after a message naming the address by its position
 * ("address 2 is not in the postcode table"): never the address itself.
 */
static int resolve_addresses(struct ctl *c, const struct user_address *a,
                             size_t n, const char **codes)
{
    if (load_areas(c) != 0)
        return 1;
    for (size_t k = 0; k < n; k++) {
        const struct area_buurt *b = NULL;
        int rc = areas_postcode(c->areas, a[k].pc6, a[k].number, &b);

        if (rc == RELAY_ENOTFOUND || rc == RELAY_EINVAL) {
            fail(c, "address %zu is not in the postcode table", k + 1);
            return 1;
        }
        if (rc < 0) {
            fail(c, "address %zu: %s", k + 1, relay_strerror(rc));
            return 1;
        }
        codes[k] = b->code;
    }
    return 0;
}

/* The most buurten a merge below can give: all of --buurt plus one per
 * address; user_store_check_areas() then refuses more than
 * USER_AREAS_MAX. */
#define MERGED_MAX (USER_AREAS_MAX + USER_ADDRESSES_MAX)

/* Appends the codes of add[0..nadd) that out[0..*n) lacks (capacity
 * MERGED_MAX, which the callers' inputs never exceed). */
static void add_codes(const char **out, size_t *n, const char *const *add,
                      size_t nadd)
{
    for (size_t k = 0; k < nadd && *n < MERGED_MAX; k++) {
        int seen = 0;

        for (size_t j = 0; j < *n && !seen; j++)
            seen = strcmp(out[j], add[k]) == 0;
        if (!seen)
            out[(*n)++] = add[k];
    }
}

/*
 * user add: validate every argument, resolve the addresses, check the
 * login is free (so nobody types a password for nothing), read and hash
 * the password, then create the account in one script. A random-id
 * collision (2^-64) is retried.
 */
static int cmd_user_add(struct ctl *c, int argc, char **argv, int i)
{
    const char *login_arg = NULL, *role = NULL, *phone = NULL;
    const char *pw_file = NULL;
    const char *buurten[MERGED_MAX], *wijken[USER_AREAS_MAX];
    const char *addr_args[USER_ADDRESSES_MAX];
    const char *addr_codes[USER_ADDRESSES_MAX];
    size_t nb = 0, nw = 0, na = 0, pw_len = 0;
    const struct opt opts[] = {
        {"--login", &login_arg, NULL, NULL, 0, NULL},
        {"--role", &role, NULL, NULL, 0, NULL},
        {"--phone", &phone, NULL, NULL, 0, NULL},
        {"--password-file", &pw_file, NULL, NULL, 0, NULL},
        {"--buurt", NULL, buurten, &nb, USER_AREAS_MAX, NULL},
        {"--wijk", NULL, wijken, &nw, USER_AREAS_MAX, NULL},
        {"--address", NULL, addr_args, &na, USER_ADDRESSES_MAX, NULL},
    };
    char login[USER_LOGIN_MAX + 1], id[USER_ID_LEN + 1];
    char existing[USER_ID_MAX + 1];
    char hash[PASSWORD_HASH_MAX], pw[PW_BUF];
    char phone_text[PHONE_TEXT_MAX], phone_index[PII_INDEX_HEX_BYTES];
    char addr_text[USER_ADDRESSES_TEXT_MAX];
    struct user_address addrs[USER_ADDRESSES_MAX];
    unsigned char pii_key[PII_KEY_BYTES];
    const char *why = NULL;
    enum user_conflict conflict = USER_CONFLICT_NONE;
    struct user_new u;
    int rc, ret = 1;

    rc = parse_opts(c, argc, argv, i, opts, sizeof(opts) / sizeof(opts[0]));
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!login_arg || !role)
        return usage(c, "--login and --role are required");
    if (user_store_login_normalize(login_arg, login) < 0)
        return usage(c, "invalid login '%s' (1 to 64 of a-z 0-9 . _ @ -)",
                     shown(login_arg));
    if (!user_store_role_valid(role))
        return usage(c,
                     "unknown role '%s' (resident, beheerder, boa, police, "
                     "admin)",
                     shown(role));
    for (size_t k = 0; k < nb; k++) {
        if (!channel_is_buurtcode(buurten[k]))
            return usage(c, "invalid buurt code '%s' (BU + 8 digits)",
                         shown(buurten[k]));
    }
    for (size_t k = 0; k < nw; k++) {
        if (!channel_is_wijkcode(wijken[k]))
            return usage(c, "invalid wijk code '%s' (WK + 6 digits)",
                         shown(wijken[k]));
    }
    if (parse_addresses(c, addr_args, na, addrs) != 0)
        return EXIT_USAGE;
    /* Every address gives a buurt, so with one the role's "needs a buurt"
     * is met whatever the codes turn out to be: checked with a stand-in
     * here (usage errors before anything is loaded), and again with the
     * real codes below. */
    if (na > 0 && nb == 0)
        buurten[0] = "BU00000000";
    if (user_store_check_areas(role, buurten, nb > 0 ? nb : (na > 0), wijken,
                               nw, &why) < 0)
        return usage(c, "role %s: %s", role, why);
    if (phone && !pii_phone_valid(phone))
        return usage(c, "--phone is not an E.164 number ('+' and 8 to 15 "
                        "digits)");

    rc = load_config(c);
    if (rc != 0)
        return rc;
    if (na > 0) {
        if (resolve_addresses(c, addrs, na, addr_codes) != 0)
            goto out_wipe;
        add_codes(buurten, &nb, addr_codes, na);
        if (user_store_check_areas(role, buurten, nb, wijken, nw, &why) < 0) {
            ret = usage(c, "role %s with the buurten of the addresses: %s",
                        role, why);
            goto out_wipe;
        }
    }
    if (load_audit_key(c, pii_key) != 0)
        goto out_wipe;
    if (connect_redis(c) != 0)
        goto out_wipe;
    rc = user_store_find_login(c->redis, login, existing);
    if (rc == RELAY_OK) {
        fail(c, "login '%s' already exists", login);
        goto out_wipe;
    }
    if (rc != RELAY_ENOTFOUND) {
        redis_fail(c, rc);
        goto out_wipe;
    }

    if (read_password(c, pw_file, pw, sizeof(pw), &pw_len) != 0)
        goto out_wipe;
    rc = password_hash(pw, pw_len, hash);
    sodium_memzero(pw, sizeof(pw));
    if (rc == RELAY_EINVAL) {
        fail(c, "password must be %d to %d bytes", PASSWORD_MIN_LEN,
             PASSWORD_MAX_LEN);
        goto out_wipe;
    }
    if (rc < 0) {
        fail(c, "cannot hash the password: %s", relay_strerror(rc));
        goto out_wipe;
    }

    for (int attempt = 0; attempt < 3; attempt++) {
        user_store_new_id(id);
        memset(&u, 0, sizeof(u));
        u.id = id;
        u.login = login;
        u.role = role;
        u.buurten = buurten;
        u.buurt_count = nb;
        u.wijken = wijken;
        u.wijk_count = nw;
        u.pw_hash = hash;
        u.created = (int64_t)time(NULL);
        if (phone) {
            if (phone_seal(c, pii_key, id, phone, phone_text,
                           sizeof(phone_text), phone_index) != 0)
                goto out_wipe;
            u.phone_text = phone_text;
            u.phone_index = phone_index;
        }
        if (na > 0) {
            rc = user_store_addresses_seal(pii_key, id, addrs, na, addr_text,
                                           sizeof(addr_text));
            if (rc < 0) {
                fail(c, "cannot encrypt the addresses: %s", relay_strerror(rc));
                goto out_wipe;
            }
            u.addresses_text = addr_text;
        }
        rc = user_store_create(c->redis, &u, &conflict);
        if (rc != RELAY_ECONFLICT || conflict != USER_CONFLICT_ID)
            break;
    }
    if (rc == RELAY_ECONFLICT && conflict == USER_CONFLICT_LOGIN)
        fail(c, "login '%s' already exists", login);
    else if (rc == RELAY_ECONFLICT && conflict == USER_CONFLICT_PHONE)
        fail(c, "that phone number already belongs to another user");
    else if (rc < 0)
        redis_fail(c, rc);
    else {
        printf("%s\n", id);
        ret = audit_done(c, "user.add", id);
    }

out_wipe:
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(hash, sizeof(hash));
    sodium_memzero(pii_key, sizeof(pii_key));
    sodium_memzero(addrs, sizeof(addrs));
    return ret;
}

/*
 * Parses the options of the commands that take --login (and, for 'token',
 * --ttl). Returns 0, EXIT_USAGE, or -1 for --help.
 */
static int login_opts(struct ctl *c, int argc, char **argv, int i,
                      const char **login, const char **ttl)
{
    char norm[USER_LOGIN_MAX + 1];
    const struct opt opts[] = {
        {"--login", login, NULL, NULL, 0, NULL},
        {"--ttl", ttl, NULL, NULL, 0, NULL},
    };
    int rc = parse_opts(c, argc, argv, i, opts, ttl ? 2 : 1);

    if (rc != 0)
        return rc;
    if (!*login)
        return usage(c, "--login is required");
    if (user_store_login_normalize(*login, norm) < 0)
        return usage(c, "invalid login '%s'", shown(*login));
    return 0;
}

/* The config, then Redis: what every command that talks to Redis needs
 * first. 0, or the exit status to return (the error was printed). */
static int open_redis(struct ctl *c)
{
    int rc = load_config(c);

    if (rc != 0)
        return rc;
    return connect_redis(c) != 0 ? 1 : 0;
}

/* Loads the config, connects and resolves 'login' to id. 0 or exit code. */
static int open_user(struct ctl *c, const char *login, char *id)
{
    int rc = open_redis(c);

    return rc != 0 ? rc : find_user(c, login, id);
}

static int cmd_user_disable(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL;
    char id[USER_ID_MAX + 1];
    int rc = login_opts(c, argc, argv, i, &login, NULL);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, NULL) != 0)
        return 1;
    /* now + 1: see "THE tokens_after BOUNDARY" in user_store.h */
    rc = user_store_disable(c->redis, id, (int64_t)time(NULL) + 1);
    if (rc < 0)
        return redis_fail(c, rc);
    return audit_done(c, "user.disable", id);
}

/* user enable --login L: disabled = 0; the account is counted again. */
static int cmd_user_enable(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL;
    char id[USER_ID_MAX + 1];
    int rc = login_opts(c, argc, argv, i, &login, NULL);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, NULL) != 0)
        return 1;
    rc = user_store_enable(c->redis, id);
    if (rc < 0)
        return redis_fail(c, rc);
    return audit_done(c, "user.enable", id);
}

/*
 * user passwd --login L [--password-file F]: the login is checked before
 * the password is read (as in user add); the new hash and the revocation
 * of every token are one script.
 */
static int cmd_user_passwd(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL, *pw_file = NULL;
    const struct opt opts[] = {
        {"--login", &login, NULL, NULL, 0, NULL},
        {"--password-file", &pw_file, NULL, NULL, 0, NULL},
    };
    char id[USER_ID_MAX + 1], norm[USER_LOGIN_MAX + 1];
    char hash[PASSWORD_HASH_MAX], pw[PW_BUF];
    size_t pw_len = 0;
    int rc, ret = 1;

    rc = parse_opts(c, argc, argv, i, opts, sizeof(opts) / sizeof(opts[0]));
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!login)
        return usage(c, "--login is required");
    if (user_store_login_normalize(login, norm) < 0)
        return usage(c, "invalid login '%s'", shown(login));
    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, NULL) != 0)
        return 1;
    if (read_password(c, pw_file, pw, sizeof(pw), &pw_len) != 0)
        goto out_wipe;
    rc = password_hash(pw, pw_len, hash);
    sodium_memzero(pw, sizeof(pw));
    if (rc == RELAY_EINVAL) {
        fail(c, "password must be %d to %d bytes", PASSWORD_MIN_LEN,
             PASSWORD_MAX_LEN);
        goto out_wipe;
    }
    if (rc < 0) {
        fail(c, "cannot hash the password: %s", relay_strerror(rc));
        goto out_wipe;
    }
    /* now + 1: see "THE tokens_after BOUNDARY" in user_store.h */
    rc = user_store_set_password(c->redis, id, hash, (int64_t)time(NULL) + 1);
    if (rc < 0)
        redis_fail(c, rc);
    else
        ret = audit_done(c, "user.passwd", id);

out_wipe:
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(hash, sizeof(hash));
    return ret;
}

/*
 * Splits a stored area list ("BU..,BU.." or "") into codes[] pointing
 * into buf (a copy). Returns the count, or -1 when it holds more than
 * USER_AREAS_MAX codes (corrupt data).
 */
static int split_codes(const char *list, char buf[USER_AREAS_STR_MAX],
                       const char *codes[USER_AREAS_MAX])
{
    size_t len = strlen(list), n = 0;
    char *p = buf;

    if (len >= USER_AREAS_STR_MAX)
        return -1;
    memcpy(buf, list, len + 1);
    while (*p) {
        char *end = strchr(p, ',');

        if (end)
            *end = '\0';
        if (*p) {
            if (n >= USER_AREAS_MAX)
                return -1;
            codes[n++] = p;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return (int)n;
}

/* What "user set" was asked to change (borrowed from argv). */
struct user_change {
    const char *role;
    const char **buurten;
    size_t nb;
    int no_buurt;
    const char **wijken;
    size_t nw;
    int no_wijk;
    const char *phone;
    int no_phone;
    const struct user_address *addrs; /* --address, parsed */
    size_t na;
    const char *const *addr_codes; /* their buurten, resolved */
    int no_address;
};

/*
 * Reads the phone being replaced: its ciphertext into 'text' and its
 * blind index into 'index'. *have = 0 when the account has none. 0, or 1
 * after a message.
 */
static int old_phone(struct ctl *c, const unsigned char key[PII_KEY_BYTES],
                     const char *id, char *text, size_t cap,
                     char index[PII_INDEX_HEX_BYTES], int *have)
{
    char plain[PII_PHONE_MAX + 1];
    int rc = user_store_phone_sealed(c->redis, id, text, cap);

    *have = 0;
    if (rc == RELAY_ENOTFOUND)
        return 0;
    if (rc == RELAY_OK)
        rc = user_store_phone_open(key, id, text, plain);
    if (rc == RELAY_OK)
        rc = pii_blind_index(key, plain, index);
    sodium_memzero(plain, sizeof(plain));
    if (rc == RELAY_EAUTH) {
        fail(c, "the stored phone number does not decrypt (wrong pii "
                "key?); nothing was changed");
        return 1;
    }
    if (rc < 0)
        return redis_fail(c, rc);
    *have = 1;
    return 0;
}

/*
 * Reads the addresses being replaced: their ciphertext into 'text' (cap
 * bytes), *have = 0 when there are none. When 'codes' is given, also the
 * buurten they lie in now (addresses the table no longer knows give none)
 * into codes[0..*ncodes). 0, or 1 after a message.
 */
static int old_addresses(struct ctl *c, const unsigned char key[PII_KEY_BYTES],
                         const char *id, char *text, size_t cap, int *have,
                         const char **codes, size_t *ncodes)
{
    struct user_address a[USER_ADDRESSES_MAX];
    size_t n = 0;
    int rc = user_store_addresses_sealed(c->redis, id, text, cap);

    *have = 0;
    if (ncodes)
        *ncodes = 0;
    if (rc == RELAY_ENOTFOUND)
        return 0;
    if (rc < 0)
        return redis_fail(c, rc);
    *have = 1;
    if (!codes)
        return 0;
    rc = user_store_addresses_open(key, id, text, a, &n);
    if (rc == RELAY_EAUTH) {
        fail(c, "the stored addresses do not decrypt (wrong pii key?); "
                "nothing was changed");
        return 1;
    }
    if (rc < 0) {
        fail(c, "the stored addresses are malformed; nothing was changed "
                "(--no-address removes them)");
        return 1;
    }
    if (load_areas(c) != 0) {
        sodium_memzero(a, sizeof(a));
        return 1;
    }
    for (size_t k = 0; k < n; k++) {
        const struct area_buurt *b = NULL;

        if (areas_postcode(c->areas, a[k].pc6, a[k].number, &b) == RELAY_OK)
            codes[(*ncodes)++] = b->code;
    }
    sodium_memzero(a, sizeof(a));
    return 0;
}

/*
 * One attempt of "user set": reads the account, merges the change into
 * it, checks the result like user add, and writes it in one script that
 * applies only if the account is still as read. Returns 0 (done), 1 or
 * EXIT_USAGE after a message, or -1 when the account changed meanwhile
 * (read again).
 */
static int user_set_once(struct ctl *c, const struct user_change *ch,
                         const unsigned char key[PII_KEY_BYTES], const char *id)
{
    struct user_record rec;
    struct user_update u;
    const char *bl[USER_AREAS_MAX], *wl[USER_AREAS_MAX];
    const char *merged[MERGED_MAX], *old_codes[USER_ADDRESSES_MAX];
    char bbuf[USER_AREAS_STR_MAX], wbuf[USER_AREAS_STR_MAX];
    char old_text[PHONE_TEXT_MAX], old_index[PII_INDEX_HEX_BYTES];
    char new_text[PHONE_TEXT_MAX], new_index[PII_INDEX_HEX_BYTES];
    char old_addr[USER_ADDRESSES_TEXT_MAX], new_addr[USER_ADDRESSES_TEXT_MAX];
    enum user_conflict conflict = USER_CONFLICT_NONE;
    const char *why = NULL;
    size_t nmerged = 0, nold = 0;
    int explicit_buurten = ch->nb || ch->no_buurt;
    int nb, nw, had = 0, had_addr = 0, rc;

    rc = user_store_get(c->redis, id, &rec);
    if (rc < 0)
        return redis_fail(c, rc);
    nb = split_codes(rec.buurten, bbuf, bl);
    nw = split_codes(rec.wijken, wbuf, wl);
    if (nb < 0 || nw < 0) {
        fail(c, "the stored areas of '%s' are malformed", rec.login);
        return 1;
    }
    memset(&u, 0, sizeof(u));
    u.id = id;
    u.old_role = rec.role;
    u.old_buurten = rec.buurten;
    u.old_wijken = rec.wijken;
    u.role = ch->role ? ch->role : rec.role;
    u.buurten = explicit_buurten ? ch->buurten : bl;
    u.buurt_count = explicit_buurten ? ch->nb : (size_t)nb;
    if (ch->na || ch->no_address) {
        /* New addresses replace the buurten of the old ones, unless the
         * buurten are given outright; --no-address keeps the buurten. */
        int move = ch->na && !explicit_buurten;

        if (old_addresses(c, key, id, old_addr, sizeof(old_addr), &had_addr,
                          move ? old_codes : NULL, &nold) != 0)
            return 1;
        for (size_t k = 0; ch->na && k < u.buurt_count; k++) {
            int gone = 0;

            for (size_t j = 0; move && j < nold && !gone; j++)
                gone = strcmp(u.buurten[k], old_codes[j]) == 0;
            if (!gone)
                add_codes(merged, &nmerged, &u.buurten[k], 1);
        }
        if (ch->na) {
            add_codes(merged, &nmerged, ch->addr_codes, ch->na);
            u.buurten = merged;
            u.buurt_count = nmerged;
        }
        u.addresses = ch->na ? USER_ADDR_SET : USER_ADDR_CLEAR;
        u.old_addresses_text = had_addr ? old_addr : NULL;
    }
    u.wijken = ch->nw || ch->no_wijk ? ch->wijken : wl;
    u.wijk_count = ch->nw || ch->no_wijk ? ch->nw : (size_t)nw;
    if (user_store_check_areas(u.role, u.buurten, u.buurt_count, u.wijken,
                               u.wijk_count, &why) < 0)
        return usage(c, "role %s with the resulting areas: %s", u.role, why);

    u.phone = ch->phone      ? USER_PHONE_SET
              : ch->no_phone ? USER_PHONE_CLEAR
                             : USER_PHONE_KEEP;
    if (u.phone != USER_PHONE_KEEP) {
        if (old_phone(c, key, id, old_text, sizeof(old_text), old_index,
                      &had) != 0)
            return 1;
        u.old_phone_text = had ? old_text : NULL;
        u.old_phone_index = had ? old_index : NULL;
    }
    if (ch->phone) {
        if (phone_seal(c, key, id, ch->phone, new_text, sizeof(new_text),
                       new_index) != 0)
            return 1;
        u.phone_text = new_text;
        u.phone_index = new_index;
    }
    if (ch->na) {
        rc = user_store_addresses_seal(key, id, ch->addrs, ch->na, new_addr,
                                       sizeof(new_addr));
        if (rc < 0) {
            fail(c, "cannot encrypt the addresses: %s", relay_strerror(rc));
            return 1;
        }
        u.addresses_text = new_addr;
    }
    /* now + 1: see "THE tokens_after BOUNDARY" in user_store.h */
    u.tokens_after = (int64_t)time(NULL) + 1;
    rc = user_store_update(c->redis, &u, &conflict);
    sodium_memzero(old_index, sizeof(old_index));
    sodium_memzero(new_index, sizeof(new_index));
    if (rc == RELAY_ECONFLICT && conflict == USER_CONFLICT_STALE)
        return -1;
    if (rc == RELAY_ECONFLICT && conflict == USER_CONFLICT_PHONE) {
        fail(c, "that phone number already belongs to another user");
        return 1;
    }
    if (rc == RELAY_ENOTFOUND) {
        fail(c, "the user disappeared while this ran");
        return 1;
    }
    return rc < 0 ? redis_fail(c, rc) : 0;
}

/*
 * user set --login L [--role R] [--buurt CODE]... [--wijk CODE]...
 * [--no-buurt] [--no-wijk] [--phone E164 | --no-phone]
 * [--address PC6:NUMBER]... [--no-address]: everything that
 * can be checked without Redis is checked first (usage errors), then the
 * change is applied atomically (user_store_update), retried when another
 * operator changed the account in between.
 */
static int cmd_user_set(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL;
    const char *buurten[USER_AREAS_MAX], *wijken[USER_AREAS_MAX];
    const char *addr_args[USER_ADDRESSES_MAX];
    const char *addr_codes[USER_ADDRESSES_MAX];
    struct user_address addrs[USER_ADDRESSES_MAX];
    struct user_change ch;
    const struct opt opts[] = {
        {"--login", &login, NULL, NULL, 0, NULL},
        {"--role", &ch.role, NULL, NULL, 0, NULL},
        {"--phone", &ch.phone, NULL, NULL, 0, NULL},
        {"--buurt", NULL, buurten, &ch.nb, USER_AREAS_MAX, NULL},
        {"--wijk", NULL, wijken, &ch.nw, USER_AREAS_MAX, NULL},
        {"--no-buurt", NULL, NULL, NULL, 0, &ch.no_buurt},
        {"--no-wijk", NULL, NULL, NULL, 0, &ch.no_wijk},
        {"--no-phone", NULL, NULL, NULL, 0, &ch.no_phone},
        {"--address", NULL, addr_args, &ch.na, USER_ADDRESSES_MAX, NULL},
        {"--no-address", NULL, NULL, NULL, 0, &ch.no_address},
    };
    char norm[USER_LOGIN_MAX + 1], id[USER_ID_MAX + 1];
    unsigned char pii_key[PII_KEY_BYTES];
    int rc;

    memset(&ch, 0, sizeof(ch));
    ch.buurten = buurten;
    ch.wijken = wijken;
    ch.addrs = addrs;
    ch.addr_codes = addr_codes;
    rc = parse_opts(c, argc, argv, i, opts, sizeof(opts) / sizeof(opts[0]));
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!login)
        return usage(c, "--login is required");
    if (user_store_login_normalize(login, norm) < 0)
        return usage(c, "invalid login '%s'", shown(login));
    if (!ch.role && !ch.nb && !ch.nw && !ch.no_buurt && !ch.no_wijk &&
        !ch.phone && !ch.no_phone && !ch.na && !ch.no_address)
        return usage(c, "nothing to change (give --role, --buurt, --wijk, "
                        "--no-buurt, --no-wijk, --phone, --no-phone, "
                        "--address or --no-address)");
    if (ch.role && !user_store_role_valid(ch.role))
        return usage(c,
                     "unknown role '%s' (resident, beheerder, boa, police, "
                     "admin)",
                     shown(ch.role));
    if ((ch.nb && ch.no_buurt) || (ch.nw && ch.no_wijk) ||
        (ch.phone && ch.no_phone) || (ch.na && ch.no_address))
        return usage(c, "--buurt and --no-buurt, --wijk and --no-wijk, "
                        "--phone and --no-phone, --address and --no-address "
                        "exclude each other");
    if (parse_addresses(c, addr_args, ch.na, addrs) != 0)
        return EXIT_USAGE;
    for (size_t k = 0; k < ch.nb; k++) {
        if (!channel_is_buurtcode(buurten[k]))
            return usage(c, "invalid buurt code '%s' (BU + 8 digits)",
                         shown(buurten[k]));
    }
    for (size_t k = 0; k < ch.nw; k++) {
        if (!channel_is_wijkcode(wijken[k]))
            return usage(c, "invalid wijk code '%s' (WK + 6 digits)",
                         shown(wijken[k]));
    }
    if (ch.phone && !pii_phone_valid(ch.phone))
        return usage(c, "--phone is not an E.164 number ('+' and 8 to 15 "
                        "digits)");

    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    if (ch.na && resolve_addresses(c, addrs, ch.na, addr_codes) != 0) {
        sodium_memzero(addrs, sizeof(addrs));
        return 1;
    }
    if (load_audit_key(c, pii_key) != 0) {
        sodium_memzero(addrs, sizeof(addrs));
        return 1;
    }
    rc = -1;
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++)
        rc = user_set_once(c, &ch, pii_key, id);
    sodium_memzero(pii_key, sizeof(pii_key));
    sodium_memzero(addrs, sizeof(addrs));
    if (rc < 0) {
        fail(c, "the account kept changing while this ran; try again");
        return 1;
    }
    if (rc != 0)
        return rc;
    return audit_done(c, "user.set", id);
}

/*
 * How many addresses user 'id' has, for user show: decrypted with the PII
 * key when it is at hand (nothing of them is kept), else -1. Never fails
 * the command: the count is a courtesy, the key may be absent here.
 */
static int address_count(struct ctl *c, const char *id)
{
    unsigned char key[PII_KEY_BYTES];
    char err[CONFIG_ERR_MAX], sealed[USER_ADDRESSES_TEXT_MAX];
    struct user_address a[USER_ADDRESSES_MAX];
    size_t n = 0;
    int rc = config_load_secret(c->cfg.pii_key_file, "BUURTRELAY_PII_KEY", key,
                                err, sizeof(err));

    if (rc == RELAY_OK)
        rc = user_store_addresses_sealed(c->redis, id, sealed, sizeof(sealed));
    if (rc == RELAY_OK)
        rc = user_store_addresses_open(key, id, sealed, a, &n);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(a, sizeof(a));
    return rc == RELAY_OK ? (int)n : -1;
}

static int cmd_user_show(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL;
    char id[USER_ID_MAX + 1];
    struct user_record u;
    int naddr = 0;
    int rc = login_opts(c, argc, argv, i, &login, NULL);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    rc = user_store_get(c->redis, id, &u);
    if (rc < 0)
        return redis_fail(c, rc);
    if (u.has_addresses)
        naddr = address_count(c, id);
    printf("id: %s\nlogin: %s\nrole: %s\nbuurten: %s\nwijken: %s\n"
           "disabled: %s\nphone: %s\n",
           u.id, u.login, u.role, u.buurten, u.wijken,
           u.disabled ? "yes" : "no", u.has_phone ? "set" : "none");
    if (!u.has_addresses)
        printf("addresses: none\n");
    else if (naddr > 0)
        printf("addresses: %d set\n", naddr);
    else
        printf("addresses: set (count needs the pii key)\n");
    printf("created: %lld\ntokens_after: %lld\n", (long long)u.created,
           (long long)u.tokens_after);
    return 0;
}

/* Parses --ttl: whole seconds, 1..TTL_MAX. */
static int parse_ttl(const char *s, int64_t *out)
{
    long long v = 0;

    if (!s[0])
        return RELAY_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > TTL_MAX)
            return RELAY_EINVAL;
        v = v * 10 + (*s - '0');
    }
    if (v < 1 || v > TTL_MAX)
        return RELAY_EINVAL;
    *out = v;
    return RELAY_OK;
}

/*
 * token --login L: issues with iat = max(now, tokens_after) so that a
 * token made in the same second as a revocation is not born revoked (see
 * user_store.h).
 */
static int cmd_token(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL, *ttl_arg = NULL;
    char id[USER_ID_MAX + 1], token[TOKEN_MAX];
    unsigned char key[TOKEN_KEY_BYTES];
    struct user_record u;
    int64_t ttl = 0, now;
    int rc = login_opts(c, argc, argv, i, &login, &ttl_arg);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (ttl_arg && parse_ttl(ttl_arg, &ttl) < 0)
        return usage(c, "--ttl must be 1 to %lld seconds", TTL_MAX);
    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    if (!ttl_arg)
        ttl = c->cfg.token_ttl;
    rc = user_store_get(c->redis, id, &u);
    if (rc < 0)
        return redis_fail(c, rc);
    if (u.disabled) {
        fail(c, "user '%s' is disabled", u.login);
        return 1;
    }
    if (load_key(c, c->cfg.token_key_file, "BUURTRELAY_TOKEN_KEY",
                 "token-key-file", key) != 0 ||
        load_audit_key(c, NULL) != 0) {
        sodium_memzero(key, sizeof(key));
        return 1;
    }
    now = (int64_t)time(NULL);
    if (u.tokens_after > now)
        now = u.tokens_after;
    rc = token_issue(key, u.id, u.role, c->cfg.token_audience, now, ttl, token,
                     sizeof(token), NULL);
    sodium_memzero(key, sizeof(key));
    if (rc < 0) {
        fail(c, "cannot issue a token: %s", relay_strerror(rc));
        return 1;
    }
    /* Audited before it is printed: an unaudited token is never handed
     * out. */
    if (audit_done(c, "token.issue", u.id) != 0) {
        sodium_memzero(token, sizeof(token));
        return 1;
    }
    printf("%s\n", token);
    sodium_memzero(token, sizeof(token));
    return 0;
}

/*
 * token revoke --token T | --login L. One token: its signature is checked
 * first so nobody can fill Redis with revoked:{anything}; the entry
 * expires with the token. All tokens: tokens_after = now + 1.
 */
static int cmd_token_revoke(struct ctl *c, int argc, char **argv, int i)
{
    const char *tok = NULL, *login = NULL;
    const struct opt opts[] = {
        {"--token", &tok, NULL, NULL, 0, NULL},
        {"--login", &login, NULL, NULL, 0, NULL},
    };
    char id[USER_ID_MAX + 1], buf[TOKEN_MAX + 1];
    unsigned char key[TOKEN_KEY_BYTES];
    struct token_claims claims;
    size_t len = 0;
    int rc;

    rc = parse_opts(c, argc, argv, i, opts, 2);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!tok == !login)
        return usage(c, "give exactly one of --token T and --login L");
    if (login && user_store_login_normalize(login, id) < 0)
        return usage(c, "invalid login '%s'", shown(login));
    rc = load_config(c);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, NULL) != 0)
        return 1;

    if (login) {
        if (connect_redis(c) != 0 || find_user(c, login, id) != 0)
            return 1;
        rc = user_store_revoke_all(c->redis, id, (int64_t)time(NULL) + 1);
        if (rc < 0)
            return redis_fail(c, rc);
        return audit_done(c, "token.revoke_all", id);
    }

    if (strcmp(tok, "-") == 0) {
        if (read_line(stdin, buf, sizeof(buf), &len) != RELAY_OK) {
            fail(c, "no token on standard input");
            return 1;
        }
        tok = buf;
    }
    if (load_key(c, c->cfg.token_key_file, "BUURTRELAY_TOKEN_KEY",
                 "token-key-file", key) != 0)
        return 1;
    rc = token_verify(key, tok, c->cfg.token_audience, (int64_t)time(NULL),
                      &claims);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(buf, sizeof(buf));
    if (rc == RELAY_EEXPIRED) {
        printf("token already expired; nothing to revoke\n");
        return 0;
    }
    if (rc < 0) {
        fail(c, "not a valid token for this relay (malformed, other key or "
                "other audience)");
        return 1;
    }
    if (connect_redis(c) != 0)
        return 1;
    rc = user_store_revoke_token(c->redis, claims.jti, claims.exp);
    if (rc < 0)
        return redis_fail(c, rc);
    return audit_done(c, "token.revoke", claims.sub);
}

/* Parses --count: 1..COUNT_MAX. */
static int parse_count(const char *s, size_t *out)
{
    size_t v = 0;

    if (!s[0])
        return RELAY_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > COUNT_MAX)
            return RELAY_EINVAL;
        v = v * 10 + (size_t)(*s - '0');
    }
    if (v < 1 || v > COUNT_MAX)
        return RELAY_EINVAL;
    *out = v;
    return RELAY_OK;
}

/* One line per entry. Every field passed the audit character rules
 * (malformed ones read back as "?"), so none can break the line. */
static int print_record(void *arg, const struct audit_record *r)
{
    printf("%s %s %s %s %s %s %s\n", r->id, r->ts, r->actor, r->role, r->action,
           r->target, r->result);
    return 0;
}

/* audit list [--count N]: the whole trail, or its last N entries. */
static int cmd_audit_list(struct ctl *c, int argc, char **argv, int i)
{
    const char *count_arg = NULL;
    const struct opt opts[] = {{"--count", &count_arg, NULL, NULL, 0, NULL}};
    size_t count = 0;
    int rc = parse_opts(c, argc, argv, i, opts, 1);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (count_arg && parse_count(count_arg, &count) < 0)
        return usage(c, "--count must be 1 to %d", COUNT_MAX);
    rc = open_redis(c);
    if (rc != 0)
        return rc;
    rc = audit_walk(c->redis, count, print_record, NULL);
    return rc < 0 ? redis_fail(c, rc) : 0;
}

/* audit verify: exit 0 with a count, or 1 naming the first bad entry. */
static int cmd_audit_verify(struct ctl *c, int argc, char **argv, int i)
{
    struct audit_verify_result res;
    int rc = parse_opts(c, argc, argv, i, NULL, 0);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_redis(c);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, NULL) != 0)
        return 1;
    rc = audit_verify(c->redis, c->audit_key, &res);
    if (rc == RELAY_OK) {
        printf("audit: %zu entries, chain intact\n", res.entries);
        return 0;
    }
    if (rc != RELAY_EAUTH)
        return redis_fail(c, rc);
    if (res.bad_id[0])
        fail(c, "chain broken at entry %s: %s", res.bad_id, res.why);
    else
        fail(c, "chain broken: %s", res.why);
    return 1;
}

/* Reports an avg_* failure; returns 1. */
static int avg_fail(struct ctl *c, int rc)
{
    if (rc == RELAY_EAUTH)
        fail(c, "the phone number or the addresses do not decrypt (wrong "
                "pii key?); nothing was changed");
    else if (rc == RELAY_ENOTFOUND)
        fail(c, "the user disappeared while this ran");
    else
        redis_fail(c, rc);
    return 1;
}

/*
 * export --login L: the inzage document on stdout. It is built first,
 * then audited, then printed: nothing personal is shown without an audit
 * entry, and no entry claims an export that failed.
 */
static int cmd_export(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL;
    char id[USER_ID_MAX + 1];
    unsigned char pii[PII_KEY_BYTES];
    cJSON *doc = NULL;
    char *text;
    int rc = login_opts(c, argc, argv, i, &login, NULL);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, pii) != 0)
        return 1;
    rc = avg_export(c->redis, pii, id, &doc);
    sodium_memzero(pii, sizeof(pii));
    if (rc < 0)
        return avg_fail(c, rc);
    if (audit_done(c, "user.export", id) != 0) {
        cJSON_Delete(doc);
        return 1;
    }
    text = cJSON_Print(doc);
    cJSON_Delete(doc);
    if (!text) {
        fail(c, "out of memory");
        return 1;
    }
    printf("%s\n", text);
    sodium_memzero(text, strlen(text));
    cJSON_free(text);
    return 0;
}

/* erase --login L: AVG verwijdering (avg.h), then its audit entry. */
/* sms rebuild: fills the sms:buurt recipient sets (user_store.h). */
/* ---- Chat contacts and group links (chat_store.h) ----------------------- */

#define CONTACT_ARGS_MAX 8

/*
 * contact --login L [...]: reads the person's contacts, applies the
 * options and writes them back in one script that refuses when they
 * changed meanwhile (then we read and apply again, once).
 */
static int cmd_contact(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL, *channels = NULL, *quiet = NULL;
    const char *sets[CONTACT_ARGS_MAX], *clears[CONTACT_ARGS_MAX];
    size_t nsets = 0, nclears = 0;
    int no_channels = 0, no_quiet = 0;
    const struct opt opts[] = {
        {"--login", &login, NULL, NULL, 0, NULL},
        {"--set", NULL, sets, &nsets, CONTACT_ARGS_MAX, NULL},
        {"--clear", NULL, clears, &nclears, CONTACT_ARGS_MAX, NULL},
        {"--channels", &channels, NULL, NULL, 0, NULL},
        {"--no-channels", NULL, NULL, NULL, 0, &no_channels},
        {"--quiet", &quiet, NULL, NULL, 0, NULL},
        {"--no-quiet", NULL, NULL, NULL, 0, &no_quiet},
    };
    unsigned char key[PII_KEY_BYTES];
    char id[USER_ID_MAX + 1], names[CHANNELS_MAX][CONTACT_KIND_MAX + 1];
    struct quiet_hours q;
    size_t nnames;
    int rc = parse_opts(c, argc, argv, i, opts, sizeof(opts) / sizeof(*opts));

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!login)
        return usage(c, "--login is required");
    if (channels &&
        (no_channels || channels_parse(channels, names, &nnames) < 0))
        return usage(c, "--channels: a comma list of sms and chat kinds, "
                        "each once (or --no-channels)");
    if (quiet && (no_quiet || quiet_hours_parse(quiet, &q) < 0))
        return usage(c, "--quiet: HH:MM-HH:MM or off (or --no-quiet)");
    for (size_t k = 0; k < nsets; k++) {
        const char *eq = strchr(sets[k], '=');
        char kind[CONTACT_KIND_MAX + 1];

        if (!eq || (size_t)(eq - sets[k]) > CONTACT_KIND_MAX)
            return usage(c, "--set: KIND=VALUE (option #%zu)", k + 1);
        memcpy(kind, sets[k], (size_t)(eq - sets[k]));
        kind[eq - sets[k]] = '\0';
        /* never echo the value: it identifies a person */
        if (!contact_kind_valid(kind) || !contact_value_valid(eq + 1))
            return usage(c, "--set: invalid kind or address (option #%zu)",
                         k + 1);
    }
    for (size_t k = 0; k < nclears; k++)
        if (!contact_kind_valid(clears[k]))
            return usage(c, "--clear: invalid kind '%s'", shown(clears[k]));
    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, key) != 0)
        return 1;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct chat_person p;
        int changed =
            nsets || nclears || channels || no_channels || quiet || no_quiet;

        rc = chat_store_person_read(c->redis, key, id, &p);
        if (rc < 0) {
            sodium_memzero(key, sizeof(key));
            if (rc == RELAY_EAUTH) {
                fail(c, "the contacts do not decrypt with this pii key");
                return 1;
            }
            return redis_fail(c, rc);
        }
        if (!changed) {
            printf("contacts:");
            for (size_t k = 0; k < p.ncontacts; k++)
                printf(" %s", p.contacts[k].kind);
            printf("%s\nchannels: %s\nquiet: %s\n", p.ncontacts ? "" : " none",
                   p.channels[0] ? p.channels : "(default)",
                   p.quiet[0] ? p.quiet : "(relay)");
            chat_store_person_free(&p);
            sodium_memzero(key, sizeof(key));
            return 0;
        }
        for (size_t k = 0; rc == RELAY_OK && k < nclears; k++)
            rc = contacts_set(p.contacts, &p.ncontacts, clears[k], NULL);
        for (size_t k = 0; rc == RELAY_OK && k < nsets; k++) {
            const char *eq = strchr(sets[k], '=');
            char kind[CONTACT_KIND_MAX + 1];

            memcpy(kind, sets[k], (size_t)(eq - sets[k]));
            kind[eq - sets[k]] = '\0';
            rc = contacts_set(p.contacts, &p.ncontacts, kind, eq + 1);
        }
        if (channels)
            snprintf(p.channels, sizeof(p.channels), "%s", channels);
        if (no_channels)
            p.channels[0] = '\0';
        if (quiet)
            snprintf(p.quiet, sizeof(p.quiet), "%s", quiet);
        if (no_quiet)
            p.quiet[0] = '\0';
        if (rc == RELAY_OK)
            rc = chat_store_person_write(c->redis, key, id, &p);
        chat_store_person_free(&p);
        if (rc == RELAY_ECONFLICT && attempt == 0)
            continue; /* changed meanwhile, or taken: read again */
        break;
    }
    sodium_memzero(key, sizeof(key));
    if (rc == RELAY_EFULL) {
        fail(c, "at most %d chat addresses", CONTACTS_MAX);
        return 1;
    }
    if (rc == RELAY_ECONFLICT) {
        fail(c, "a chat address belongs to another account");
        return 1;
    }
    if (rc < 0)
        return redis_fail(c, rc);
    return audit_done(c, "user.contacts", id);
}

static int cmd_group_link(struct ctl *c, int argc, char **argv, int i)
{
    const char *adapter = NULL, *address = NULL, *name = NULL, *admin = NULL;
    const char *buurten[CHAT_LINK_BUURTEN_MAX];
    size_t nbuurten = 0;
    const struct opt opts[] = {
        {"--adapter", &adapter, NULL, NULL, 0, NULL},
        {"--address", &address, NULL, NULL, 0, NULL},
        {"--buurt", NULL, buurten, &nbuurten, CHAT_LINK_BUURTEN_MAX, NULL},
        {"--name", &name, NULL, NULL, 0, NULL},
        {"--admin", &admin, NULL, NULL, 0, NULL},
    };
    unsigned char key[PII_KEY_BYTES];
    char admin_id[USER_ID_MAX + 1] = "", id[CHAT_LINK_ID_MAX + 1];
    int rc = parse_opts(c, argc, argv, i, opts, sizeof(opts) / sizeof(*opts));

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!adapter || !address || nbuurten == 0)
        return usage(c, "--adapter, --address and --buurt are required");
    if (!contact_kind_valid(adapter))
        return usage(c, "invalid adapter name '%s'", shown(adapter));
    if (!contact_value_valid(address))
        return usage(c, "invalid --address (printable ASCII, no spaces)");
    for (size_t k = 0; k < nbuurten; k++)
        if (!channel_is_id(buurten[k]) || strlen(buurten[k]) != 10 ||
            strncmp(buurten[k], "BU", 2) != 0)
            return usage(c, "invalid buurt code '%s'", shown(buurten[k]));
    if (name && (strlen(name) > CHAT_LINK_NAME_MAX || strpbrk(name, "\r\n")))
        return usage(c, "--name: at most %d characters, one line",
                     CHAT_LINK_NAME_MAX);
    rc = open_redis(c);
    if (rc != 0)
        return rc;
    if (admin && (rc = find_user(c, admin, admin_id)) != 0)
        return rc;
    if (load_audit_key(c, key) != 0)
        return 1;
    rc = chat_store_link_create(c->redis, key, adapter, address, buurten,
                                nbuurten, name ? name : "", admin_id, id);
    sodium_memzero(key, sizeof(key));
    if (rc == RELAY_ECONFLICT) {
        fail(c, "that chat is linked already (link %s)", id);
        return 1;
    }
    if (rc == RELAY_EINVAL)
        return usage(c, "invalid link");
    if (rc < 0)
        return redis_fail(c, rc);
    printf("%s\n", id);
    return audit_done(c, "group.link", id);
}

static int cmd_group_unlink(struct ctl *c, int argc, char **argv, int i)
{
    const char *id = NULL;
    const struct opt opts[] = {{"--id", &id, NULL, NULL, 0, NULL}};
    int rc = parse_opts(c, argc, argv, i, opts, 1);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (!id || !channel_is_id(id) || strlen(id) > CHAT_LINK_ID_MAX)
        return usage(c, "--id ID is required");
    rc = open_redis(c);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, NULL) != 0)
        return 1;
    rc = chat_store_link_delete(c->redis, id);
    if (rc == RELAY_ENOTFOUND) {
        fail(c, "no link %s", id);
        return 1;
    }
    if (rc < 0)
        return redis_fail(c, rc);
    return audit_done(c, "group.unlink", id);
}

static void print_link(void *arg, const struct chat_link *l)
{
    (void)arg;
    printf("%s %s %s %s %s\n", l->id, l->adapter, l->buurten,
           l->admin[0] ? l->admin : "-", l->name);
}

static int cmd_group_list(struct ctl *c, int argc, char **argv, int i)
{
    const char *buurt = NULL;
    const struct opt opts[] = {{"--buurt", &buurt, NULL, NULL, 0, NULL}};
    int rc = parse_opts(c, argc, argv, i, opts, 1);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (buurt && (!channel_is_id(buurt) || strlen(buurt) != 10))
        return usage(c, "invalid buurt code '%s'", shown(buurt));
    rc = open_redis(c);
    if (rc != 0)
        return rc;
    rc = chat_store_link_list(c->redis, buurt, print_link, NULL);
    return rc < 0 ? redis_fail(c, rc) : 0;
}

static int cmd_sms_rebuild(struct ctl *c, int argc, char **argv, int i)
{
    size_t added = 0;
    int rc = parse_opts(c, argc, argv, i, NULL, 0);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_redis(c);
    if (rc != 0)
        return rc;
    rc = user_store_sms_rebuild(c->redis, &added);
    if (rc < 0)
        return redis_fail(c, rc);
    printf("sms recipients: %zu added\n", added);
    return 0;
}

static int cmd_erase(struct ctl *c, int argc, char **argv, int i)
{
    const char *login = NULL;
    char id[USER_ID_MAX + 1];
    unsigned char pii[PII_KEY_BYTES];
    struct avg_erase_stats st;
    int rc = login_opts(c, argc, argv, i, &login, NULL);

    if (rc != 0)
        return rc < 0 ? 0 : rc;
    rc = open_user(c, login, id);
    if (rc != 0)
        return rc;
    if (load_audit_key(c, pii) != 0)
        return 1;
    rc = avg_erase(c->redis, pii, id, &st);
    sodium_memzero(pii, sizeof(pii));
    if (rc < 0)
        return avg_fail(c, rc);
    printf("erased %s: %zu keys deleted, %zu cases and %zu histories "
           "without the id\n",
           id, st.keys_deleted, st.cases_anonymised, st.streams_scrubbed);
    return audit_done(c, "user.erase", id);
}

/*
 * Finds the command at argv[i] and runs it. Commands that a later
 * version adds answer with a usage-class exit status so scripts can tell
 * "not here" from "failed".
 */
static int dispatch(struct ctl *c, int argc, char **argv, int i)
{
    const char *w = argv[i];
    const char *sub = i + 1 < argc ? argv[i + 1] : "";

    if (strcmp(w, "user") == 0) {
        if (strcmp(sub, "add") == 0) {
            c->cmd = "user add";
            return cmd_user_add(c, argc, argv, i + 2);
        }
        if (strcmp(sub, "set") == 0) {
            c->cmd = "user set";
            return cmd_user_set(c, argc, argv, i + 2);
        }
        if (strcmp(sub, "passwd") == 0) {
            c->cmd = "user passwd";
            return cmd_user_passwd(c, argc, argv, i + 2);
        }
        if (strcmp(sub, "disable") == 0) {
            c->cmd = "user disable";
            return cmd_user_disable(c, argc, argv, i + 2);
        }
        if (strcmp(sub, "enable") == 0) {
            c->cmd = "user enable";
            return cmd_user_enable(c, argc, argv, i + 2);
        }
        if (strcmp(sub, "show") == 0) {
            c->cmd = "user show";
            return cmd_user_show(c, argc, argv, i + 2);
        }
        c->cmd = "user";
        return usage(c,
                     "unknown command '%s' (add, set, passwd, disable, "
                     "enable, show)",
                     shown(sub));
    }
    if (strcmp(w, "token") == 0) {
        if (strcmp(sub, "revoke") == 0) {
            c->cmd = "token revoke";
            return cmd_token_revoke(c, argc, argv, i + 2);
        }
        c->cmd = "token";
        return cmd_token(c, argc, argv, i + 1);
    }
    if (strcmp(w, "audit") == 0) {
        if (strcmp(sub, "list") == 0) {
            c->cmd = "audit list";
            return cmd_audit_list(c, argc, argv, i + 2);
        }
        if (strcmp(sub, "verify") == 0) {
            c->cmd = "audit verify";
            return cmd_audit_verify(c, argc, argv, i + 2);
        }
        c->cmd = "audit";
        return usage(c, "unknown command '%s' (list, verify)", shown(sub));
    }
    if (strcmp(w, "export") == 0) {
        c->cmd = "export";
        return cmd_export(c, argc, argv, i + 1);
    }
    if (strcmp(w, "erase") == 0) {
        c->cmd = "erase";
        return cmd_erase(c, argc, argv, i + 1);
    }
    if (strcmp(w, "contact") == 0) {
        c->cmd = "contact";
        return cmd_contact(c, argc, argv, i + 1);
    }
    if (strcmp(w, "group") == 0) {
        if (strcmp(sub, "link") == 0) {
            c->cmd = "group link";
            return cmd_group_link(c, argc, argv, i + 2);
        }
        if (strcmp(sub, "unlink") == 0) {
            c->cmd = "group unlink";
            return cmd_group_unlink(c, argc, argv, i + 2);
        }
        if (strcmp(sub, "list") == 0) {
            c->cmd = "group list";
            return cmd_group_list(c, argc, argv, i + 2);
        }
        c->cmd = "group";
        return usage(c, "unknown command '%s' (link, unlink, list)",
                     shown(sub));
    }
    if (strcmp(w, "sms") == 0) {
        c->cmd = "sms";
        if (strcmp(sub, "rebuild") == 0)
            return cmd_sms_rebuild(c, argc, argv, i + 2);
        return usage(c, "unknown command '%s' (rebuild)", shown(sub));
    }
    return usage(c, "unknown command '%s'", shown(w));
}

int main(int argc, char **argv)
{
    struct ctl c;
    int i = 1, rc;

    memset(&c, 0, sizeof(c));
    config_defaults(&c.cfg);
    if (sodium_init() < 0) {
        fail(&c, "libsodium failed to initialise");
        return 1;
    }
    for (; i < argc && strncmp(argv[i], "-", 1) == 0; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("buurtctl %s\n", RELAY_VERSION);
            return 0;
        }
        if (strcmp(a, "--config") == 0 || strcmp(a, "--redis") == 0) {
            if (i + 1 >= argc)
                return usage(&c, "%s needs a value", a);
            if (a[2] == 'c')
                c.config_path = argv[++i];
            else
                c.redis_url = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            c.config_path = a + 9;
        } else if (strncmp(a, "--redis=", 8) == 0) {
            c.redis_url = a + 8;
        } else {
            return usage(&c, "unknown option '%s'", shown(a));
        }
    }
    if (i >= argc)
        return usage(&c, "no command given");
    rc = dispatch(&c, argc, argv, i);
    sodium_memzero(c.audit_key, sizeof(c.audit_key));
    user_store_disconnect(c.redis);
    areas_destroy(c.areas);
    fflush(stdout);
    if (ferror(stdout)) {
        fail(NULL, "cannot write to standard output");
        return 1;
    }
    return rc;
}
