/*
 * test_config.c - relay/config.c: defaults, each value type, every error
 * message (exact text, line numbers included), secrets, host:port parsing,
 * and the sample config/buurtrelay.conf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "error.h"

#define KEY_HEX                                                                \
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2_HEX                                                               \
    "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define TEST_ENV "BUURTRELAY_TEST_CONFIG_KEY"

static char err[CONFIG_ERR_MAX];

/* Parses 'text' as a file named "t.conf"; returns the rc. */
static int parse(struct relay_config *cfg, const char *text)
{
    err[0] = '\0';
    return config_parse(cfg, "t.conf", text, strlen(text), err, sizeof(err));
}

/* Asserts that 'text' fails with exactly 'msg'. */
static void expect_error(const char *text, const char *msg)
{
    struct relay_config cfg;

    assert_int_equal(parse(&cfg, text), RELAY_ECONFIG);
    assert_string_equal(err, msg);
}

/* Writes 'content' to a fresh temporary file with 'mode'; returns its path
 * in 'path' (at least 64 bytes). */
static void write_temp(char *path, const char *content, mode_t mode)
{
    int fd;

    snprintf(path, 64, "/tmp/test_config_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    close(fd);
}

static void test_defaults(void **state)
{
    struct relay_config cfg;

    config_defaults(&cfg);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.redis, "redis://127.0.0.1:6379");
    assert_int_equal(cfg.max_frame, 16384);
    assert_int_equal(cfg.send_queue_max, 1048576);
    assert_int_equal(cfg.max_subscriptions, 256);
    assert_int_equal(cfg.history_max, 1000);
    assert_int_equal(cfg.replay_max, 1000);
    assert_int_equal(cfg.idempotency_ttl, 86400);
    assert_int_equal(cfg.redis_timeout_ms, 5000);
    assert_int_equal(cfg.redis_reconnect_min_ms, 100);
    assert_int_equal(cfg.redis_reconnect_max_ms, 5000);
    assert_int_equal(cfg.ping_interval, 30);
    assert_int_equal(cfg.idle_timeout, 40);
    assert_int_equal(cfg.shutdown_drain_ms, 2000);
    assert_int_equal(cfg.token_ttl, 86400);
    assert_string_equal(cfg.token_audience, "buurtrelay");
    assert_string_equal(cfg.token_key_file, "");
    assert_string_equal(cfg.pii_key_file, "");
    assert_string_equal(cfg.web_root, "relay/web");
    assert_string_equal(cfg.log_level, "info");
    assert_int_equal(cfg.origin_count, 0);
}

static void test_empty_text_gives_defaults(void **state)
{
    struct relay_config a;
    struct relay_config b;

    config_defaults(&a);
    assert_int_equal(config_parse(&b, "t.conf", NULL, 0, err, sizeof(err)),
                     RELAY_OK);
    assert_memory_equal(&a, &b, offsetof(struct relay_config, origin_count));
    assert_int_equal(parse(&b, "\n\n# only comments\n   \n\t# x\n"), RELAY_OK);
    assert_int_equal(b.max_frame, 16384);
}

static void test_each_type(void **state)
{
    struct relay_config cfg;

    assert_int_equal(parse(&cfg, "listen 0.0.0.0:9000\n"
                                 "web-root   /srv/web with space  \n"
                                 "history-max 5000\n"
                                 "max-frame 16k\n"
                                 "send-queue-max 2M\n"
                                 "token-key-file\n"
                                 "origin https://a.example.nl\n"
                                 "origin http://[::1]:8080\n"),
                     RELAY_OK);
    assert_string_equal(cfg.listen, "0.0.0.0:9000");
    assert_string_equal(cfg.web_root, "/srv/web with space");
    assert_int_equal(cfg.history_max, 5000);
    assert_int_equal(cfg.max_frame, 16384);
    assert_int_equal(cfg.send_queue_max, 2 * 1048576);
    assert_string_equal(cfg.token_key_file, "");
    assert_int_equal(cfg.origin_count, 2);
    assert_string_equal(cfg.origins[0], "https://a.example.nl");
    assert_string_equal(cfg.origins[1], "http://[::1]:8080");

    assert_int_equal(parse(&cfg, "max-frame 1K\nsend-queue-max 4096\n"),
                     RELAY_OK);
    assert_int_equal(cfg.max_frame, 1024);
    assert_int_equal(cfg.send_queue_max, 4096);
    assert_int_equal(parse(&cfg, "max-frame 1m\n"), RELAY_OK);
    assert_int_equal(cfg.max_frame, 1048576);
    assert_int_equal(parse(&cfg, "redis redis://redis.local\n"), RELAY_OK);
    assert_string_equal(cfg.redis, "redis://redis.local");
    assert_int_equal(parse(&cfg, "log-level debug\n"), RELAY_OK);
    assert_string_equal(cfg.log_level, "debug");
}

static void test_bounds_inclusive(void **state)
{
    struct relay_config cfg;

    assert_int_equal(parse(&cfg, "max-frame 1024\nreplay-max 100000\n"
                                 "shutdown-drain-ms 0\n"),
                     RELAY_OK);
    assert_int_equal(cfg.max_frame, 1024);
    assert_int_equal(cfg.replay_max, 100000);
    assert_int_equal(cfg.shutdown_drain_ms, 0);
    assert_int_equal(parse(&cfg, "max-frame 1048576\n"), RELAY_OK);
    assert_int_equal(parse(&cfg, "send-queue-max 64M\n"), RELAY_OK);
    assert_int_equal(cfg.send_queue_max, 67108864);
}

static void test_error_messages(void **state)
{
    expect_error("max-fram 10\n", "t.conf:1: unknown key 'max-fram'");
    expect_error("# c\n\nmax-frame x\n",
                 "t.conf:3: max-frame: 'x' is not a size");
    expect_error("max-frame 512\n",
                 "t.conf:1: max-frame: out of range 1024..1048576");
    expect_error("max-frame 2M\n",
                 "t.conf:1: max-frame: out of range 1024..1048576");
    expect_error("max-frame 16kb\n",
                 "t.conf:1: max-frame: '16kb' is not a size");
    expect_error("max-frame -2048\n",
                 "t.conf:1: max-frame: '-2048' is not a size");
    expect_error("max-frame 99999999999999999999k\n",
                 "t.conf:1: max-frame: out of range 1024..1048576");
    expect_error("max-frame 9223372036854775807k\n",
                 "t.conf:1: max-frame: out of range 1024..1048576");
    expect_error("history-max 12abc\n",
                 "t.conf:1: history-max: '12abc' is not an integer");
    expect_error("history-max 0x10\n",
                 "t.conf:1: history-max: '0x10' is not an integer");
    expect_error("history-max 1e3\n",
                 "t.conf:1: history-max: '1e3' is not an integer");
    expect_error("history-max 9\n",
                 "t.conf:1: history-max: out of range 10..1000000");
    expect_error("history-max -5\n",
                 "t.conf:1: history-max: out of range 10..1000000");
    expect_error("history-max 99999999999999999999999\n",
                 "t.conf:1: history-max: out of range 10..1000000");
    expect_error("history-max\n", "t.conf:1: history-max: empty value");
    expect_error("listen   \n", "t.conf:1: listen: empty value");
    expect_error("origin\n", "t.conf:1: origin: empty value");
    expect_error("listen localhost\n", "t.conf:1: listen: 'localhost' is "
                                       "not HOST:PORT (port 1..65535)");
    expect_error("listen 127.0.0.1:0\n", "t.conf:1: listen: '127.0.0.1:0' "
                                         "is not HOST:PORT (port 1..65535)");
    expect_error("redis http://x:1\n",
                 "t.conf:1: redis: 'http://x:1' is not redis://HOST[:PORT]");
    expect_error("redis redis://:pw@x:1\n", "t.conf:1: redis: "
                                            "'redis://:pw@x:1' is not "
                                            "redis://HOST[:PORT]");
    expect_error("log-level verbose\n", "t.conf:1: log-level: 'verbose' is "
                                        "not one of debug|info|warn|error");
    expect_error("origin example.nl\n",
                 "t.conf:1: origin: 'example.nl' is "
                 "not an origin (http[s]://HOST[:PORT])");
    expect_error("origin https://x.nl/\n",
                 "t.conf:1: origin: 'https://x.nl/' is not an origin "
                 "(http[s]://HOST[:PORT])");
    expect_error("bogus\n", "t.conf:1: unknown key 'bogus'");
    expect_error("listen\t1.2.3.4:5\x01\n",
                 "t.conf:1: control character in line");
}

static void test_string_too_long(void **state)
{
    char text[CONFIG_STR_MAX + 32];
    struct relay_config cfg;

    snprintf(text, sizeof(text), "web-root ");
    memset(text + 9, 'a', CONFIG_STR_MAX - 1);
    text[9 + CONFIG_STR_MAX - 1] = '\0';
    assert_int_equal(parse(&cfg, text), RELAY_OK); /* 255 bytes fit */
    assert_int_equal(strlen(cfg.web_root), CONFIG_STR_MAX - 1);
    text[9 + CONFIG_STR_MAX - 1] = 'a';
    text[9 + CONFIG_STR_MAX] = '\0';
    expect_error(text, "t.conf:1: web-root: value longer than 255 bytes");
}

static void test_line_too_long(void **state)
{
    char text[1100];
    struct relay_config cfg;

    /* 1024 bytes of comment is fine, with \n or \r\n after it */
    memset(text, '#', 1024);
    memcpy(text + 1024, "\r\n", 3);
    assert_int_equal(parse(&cfg, text), RELAY_OK);
    memcpy(text + 1024, "#\nx\n", 5);
    expect_error(text, "t.conf:1: line longer than 1024 bytes");

    /* also on the last line without a newline, and with the line number */
    memcpy(text, "\n\n", 2);
    memset(text + 2, 'x', 1025);
    text[2 + 1025] = '\0';
    expect_error(text, "t.conf:3: line longer than 1024 bytes");
}

static void test_nul_byte(void **state)
{
    static const char text[] = "listen 1.2.3.4:5\0junk\n";
    struct relay_config cfg;

    assert_int_equal(
        config_parse(&cfg, "t.conf", text, sizeof(text) - 1, err, sizeof(err)),
        RELAY_ECONFIG);
    assert_string_equal(err, "t.conf:1: control character in line");
}

static void test_repeated_key(void **state)
{
    expect_error("# header\n\nlisten 1.2.3.4:5\nmax-frame 2048\n"
                 "listen 1.2.3.4:6\n",
                 "t.conf:5: key 'listen' repeated (first on line 3)");
    /* even with the same value */
    expect_error("max-frame 2048\nmax-frame 2048\n",
                 "t.conf:2: key 'max-frame' repeated (first on line 1)");
}

static void test_list_append_and_overflow(void **state)
{
    char text[CONFIG_LIST_MAX * 40 + 64];
    size_t n = 0;
    struct relay_config cfg;

    for (int i = 0; i < CONFIG_LIST_MAX; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "origin https://h%d.example.nl\n", i);
    assert_int_equal(parse(&cfg, text), RELAY_OK);
    assert_int_equal(cfg.origin_count, CONFIG_LIST_MAX);
    assert_string_equal(cfg.origins[0], "https://h0.example.nl");
    assert_string_equal(cfg.origins[CONFIG_LIST_MAX - 1],
                        "https://h15.example.nl");

    snprintf(text + n, sizeof(text) - n, "origin https://one.too.many\n");
    expect_error(text, "t.conf:17: origin: more than 16 values");
}

static void test_crlf_and_comments(void **state)
{
    struct relay_config cfg;

    assert_int_equal(parse(&cfg, "# comment\r\n"
                                 "   # indented comment\r\n"
                                 "\r\n"
                                 "listen 10.0.0.1:81\r\n"
                                 "web-root a#b\r\n"
                                 "\tmax-frame\t4k \r\n"
                                 "token-audience x"),
                     RELAY_OK);
    assert_string_equal(cfg.listen, "10.0.0.1:81");
    assert_string_equal(cfg.web_root, "a#b");
    assert_int_equal(cfg.max_frame, 4096);
    assert_string_equal(cfg.token_audience, "x");
    assert_int_equal(parse(&cfg, "\xEF\xBB\xBFlisten 10.0.0.2:82\n"), RELAY_OK);
    assert_string_equal(cfg.listen, "10.0.0.2:82");
    expect_error("listen 1.2.3.4:5\r\r\n",
                 "t.conf:1: control character in line");
    expect_error("# one\r\n# two\r\nmax-frame 1x\r\n",
                 "t.conf:3: max-frame: '1x' is not a size");
}

static void test_cross_checks(void **state)
{
    struct relay_config cfg;

    expect_error("redis-reconnect-min-ms 6000\n",
                 "t.conf:1: redis-reconnect-min-ms 6000 must be at most "
                 "redis-reconnect-max-ms 5000");
    expect_error("redis-reconnect-min-ms 300\n# x\n"
                 "redis-reconnect-max-ms 200\n",
                 "t.conf:3: redis-reconnect-min-ms 300 must be at most "
                 "redis-reconnect-max-ms 200");
    expect_error("idle-timeout 30\n", "t.conf:1: ping-interval 30 must be "
                                      "below idle-timeout 30");
    /* order in the file does not matter */
    assert_int_equal(parse(&cfg, "redis-reconnect-min-ms 8000\n"
                                 "redis-reconnect-max-ms 9000\n"),
                     RELAY_OK);
    assert_int_equal(parse(&cfg, "redis-reconnect-min-ms 5000\n"), RELAY_OK);
}

/* "adapter NAME" lines, adapter options kept as text, outbox keys. */
static void test_adapters_and_outbox(void **state)
{
    struct relay_config cfg;
    char text[CONFIG_ADAPTER_LINES_MAX * 24 + 64];
    size_t off = 0;

    assert_int_equal(parse(&cfg, ""), RELAY_OK);
    assert_int_equal(cfg.adapter_count, 0);
    assert_int_equal(cfg.adapter_line_count, 0);
    assert_int_equal(cfg.outbox_worker, 1);
    assert_int_equal(cfg.outbox_batch, 16);
    assert_int_equal(cfg.outbox_claim_idle_ms, 60000);
    assert_int_equal(cfg.outbox_backoff_min_ms, 1000);
    assert_int_equal(cfg.outbox_backoff_max_ms, 300000);
    assert_int_equal(cfg.outbox_ttl, 604800);
    assert_int_equal(parse(&cfg, "adapter kannel\nadapter twilio\n"
                                 "kannel.from   3197010000001  \n"
                                 "twilio.timeout-ms 1000\n"
                                 "outbox-worker no\noutbox-batch 4\n"),
                     RELAY_OK);
    assert_int_equal(cfg.adapter_count, 2);
    assert_string_equal(cfg.adapters[1], "twilio");
    assert_int_equal(cfg.adapter_line_count, 2);
    assert_string_equal(cfg.adapter_lines[0], "kannel.from 3197010000001");
    assert_string_equal(cfg.adapter_lines[1], "twilio.timeout-ms 1000");
    assert_int_equal(cfg.outbox_worker, 0);
    assert_int_equal(cfg.outbox_batch, 4);
    /* values are checked when the adapters are built, names here */
    expect_error("adapter sms77\n",
                 "t.conf:1: adapter: 'sms77' is not an adapter (kannel, "
                 "twilio)");
    expect_error("kannel.nonsense 1\n", "t.conf:1: unknown key "
                                        "'kannel.nonsense'");
    expect_error("outbox-backoff-min-ms 5000\noutbox-backoff-max-ms 4000\n",
                 "t.conf:2: outbox-backoff-min-ms 5000 must be at most "
                 "outbox-backoff-max-ms 4000");
    for (int i = 0; i <= CONFIG_ADAPTER_LINES_MAX; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off,
                                "kannel.from 31%d\n", i);
    assert_int_equal(parse(&cfg, text), RELAY_ECONFIG);
}

static void test_config_set(void **state)
{
    struct relay_config cfg;

    assert_int_equal(parse(&cfg, "listen 1.2.3.4:5\nmax-frame 2048\n"),
                     RELAY_OK);
    assert_int_equal(config_set(&cfg, "listen", "127.0.0.1:9999", "--listen",
                                err, sizeof(err)),
                     RELAY_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:9999");
    assert_int_equal(config_set(&cfg, "redis", "redis://[::1]:6390", "--redis",
                                err, sizeof(err)),
                     RELAY_OK);
    assert_string_equal(cfg.redis, "redis://[::1]:6390");
    assert_int_equal(cfg.max_frame, 2048); /* untouched */

    assert_int_equal(
        config_set(&cfg, "listen", "nope", "--listen", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_string_equal(err, "--listen: listen: 'nope' is not HOST:PORT "
                             "(port 1..65535)");
    assert_string_equal(cfg.listen, "127.0.0.1:9999"); /* unchanged */

    assert_int_equal(
        config_set(&cfg, "max-fram", "1", "--max-fram", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_string_equal(err, "--max-fram: unknown key 'max-fram'");

    assert_int_equal(config_set(&cfg, "redis-reconnect-min-ms", "9000", "-m",
                                err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_string_equal(err, "-m: redis-reconnect-min-ms 9000 must be at "
                             "most redis-reconnect-max-ms 5000");
    assert_int_equal(cfg.redis_reconnect_min_ms, 100);

    /* a list key appends, as a repeated line would */
    assert_int_equal(config_set(&cfg, "origin", "https://x.nl", "--origin", err,
                                sizeof(err)),
                     RELAY_OK);
    assert_int_equal(config_set(&cfg, "origin", "https://y.nl", "--origin", err,
                                sizeof(err)),
                     RELAY_OK);
    assert_int_equal(cfg.origin_count, 2);
    assert_string_equal(cfg.origins[1], "https://y.nl");

    assert_int_equal(
        config_set(&cfg, "max-frame", NULL, "--max-frame", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_string_equal(err, "--max-frame: max-frame: empty value");
}

static void test_parse_failure_leaves_cfg(void **state)
{
    struct relay_config cfg;

    config_defaults(&cfg);
    assert_int_equal(parse(&cfg, "listen 9.9.9.9:9\nmax-frame 1\n"),
                     RELAY_ECONFIG);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
}

static void test_load_file(void **state)
{
    char path[64];
    char want[128];
    struct relay_config cfg;

    write_temp(path, "listen 1.2.3.4:5\nmax-frame 1\n", 0644);
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), RELAY_ECONFIG);
    snprintf(want, sizeof(want),
             "%s:2: max-frame: out of range "
             "1024..1048576",
             path);
    assert_string_equal(err, want);
    unlink(path);

    assert_int_equal(config_load(&cfg, "/nonexistent/x.conf", err, sizeof(err)),
                     RELAY_EIO);
    assert_string_equal(err, "/nonexistent/x.conf: cannot open: No such file "
                             "or directory");
}

static void test_secret_env_wins(void **state)
{
    unsigned char key[32];
    char path[64];

    write_temp(path, KEY2_HEX, 0600);
    setenv(TEST_ENV, "  " KEY_HEX "\n", 1);
    assert_int_equal(config_load_secret(path, TEST_ENV, key, err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(key[0], 0x00);
    assert_int_equal(key[31], 0x1f);

    /* unset (or empty): the file */
    setenv(TEST_ENV, "", 1);
    assert_int_equal(config_load_secret(path, TEST_ENV, key, err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(key[0], 0xff);
    unsetenv(TEST_ENV);
    assert_int_equal(config_load_secret(path, TEST_ENV, key, err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(key[0], 0xff);
    assert_int_equal(key[1], 0x01);
    unlink(path);

    assert_int_equal(config_load_secret("", TEST_ENV, key, err, sizeof(err)),
                     RELAY_ENOTFOUND);
    assert_int_equal(config_load_secret(NULL, NULL, key, err, sizeof(err)),
                     RELAY_ENOTFOUND);
}

static void test_secret_file(void **state)
{
    unsigned char key[32];
    char path[64];

    /* group/world readable: warned about, still loaded */
    write_temp(path, "\n" KEY_HEX "\r\n", 0644);
    memset(key, 0xaa, sizeof(key));
    assert_int_equal(config_load_secret(path, NULL, key, err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(key[16], 0x10);
    unlink(path);

    assert_int_equal(
        config_load_secret("/nonexistent/key", NULL, key, err, sizeof(err)),
        RELAY_ECONFIG);
    assert_string_equal(err, "/nonexistent/key: cannot open: No such file or "
                             "directory");
    assert_int_equal(config_load_secret("/tmp", NULL, key, err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_string_equal(err, "/tmp: not a regular file");
}

static void test_secret_bad_hex(void **state)
{
    static const char *const bad[] = {
        "",
        "0001",
        KEY_HEX "00",
        "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "00 1020304050607080900a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "0001020304050607080g0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    };
    unsigned char key[32];
    char path[64];
    char want[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_temp(path, bad[i], 0600);
        memset(key, 0xaa, sizeof(key));
        assert_int_equal(config_load_secret(path, NULL, key, err, sizeof(err)),
                         RELAY_ECONFIG);
        snprintf(want, sizeof(want), "%s: not 64 hex digits", path);
        assert_string_equal(err, want);
        assert_int_equal(key[0], 0xaa); /* untouched */
        unlink(path);

        setenv(TEST_ENV, bad[i][0] ? bad[i] : "x", 1);
        assert_int_equal(
            config_load_secret(NULL, TEST_ENV, key, err, sizeof(err)),
            RELAY_ECONFIG);
        assert_string_equal(err, "environment variable " TEST_ENV
                                 ": not 64 hex digits");
        assert_int_equal(key[0], 0xaa);
    }
    unsetenv(TEST_ENV);

    /* a huge file is refused without reading it all */
    {
        char big[2048];

        memset(big, '0', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        write_temp(path, big, 0600);
        assert_int_equal(config_load_secret(path, NULL, key, err, sizeof(err)),
                         RELAY_ECONFIG);
        unlink(path);
    }
}

static void test_split_hostport(void **state)
{
    static const char *const bad[] = {
        "",        "8080",      ":8080", "host:",   "host:0",
        "h:65536", "h:123456",  "h:80x", "h:-1",    "::1:8080",
        "[::1]",   "[::1]8080", "[]:80", "[::1:80", "h o:80",
        "a/b:80",  "u@h:80",    "h:+80", "h: 80",
    };
    char host[64];
    char tiny[4];
    int port = 0;

    assert_int_equal(
        config_split_hostport("127.0.0.1:8080", host, sizeof(host), &port),
        RELAY_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(
        config_split_hostport("[::1]:8080", host, sizeof(host), &port),
        RELAY_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(
        config_split_hostport("localhost:65535", host, sizeof(host), &port),
        RELAY_OK);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 65535);
    assert_int_equal(
        config_split_hostport("h:00001", host, sizeof(host), &port), RELAY_OK);
    assert_int_equal(port, 1);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(host, sizeof(host), "kept");
        port = 7;
        assert_int_equal(
            config_split_hostport(bad[i], host, sizeof(host), &port),
            RELAY_EINVAL);
        assert_string_equal(host, "kept");
        assert_int_equal(port, 7);
    }
    /* host does not fit: refused, not truncated */
    assert_int_equal(
        config_split_hostport("abcd:80", tiny, sizeof(tiny), &port),
        RELAY_EINVAL);
    assert_int_equal(config_split_hostport("abc:80", tiny, sizeof(tiny), &port),
                     RELAY_OK);
    assert_int_equal(config_split_hostport(NULL, host, sizeof(host), &port),
                     RELAY_EINVAL);
}

static void test_split_redis(void **state)
{
    char host[64];
    int port = 0;

    assert_int_equal(
        config_split_redis("redis://127.0.0.1:6390", host, sizeof(host), &port),
        RELAY_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6390);
    assert_int_equal(
        config_split_redis("redis://db", host, sizeof(host), &port), RELAY_OK);
    assert_string_equal(host, "db");
    assert_int_equal(port, 6379);
    assert_int_equal(
        config_split_redis("redis://[::1]", host, sizeof(host), &port),
        RELAY_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 6379);
    assert_int_equal(
        config_split_redis("redis://[::1]:7000", host, sizeof(host), &port),
        RELAY_OK);
    assert_int_equal(port, 7000);
    assert_int_equal(config_split_redis("redis://", host, sizeof(host), &port),
                     RELAY_EINVAL);
    assert_int_equal(
        config_split_redis("redis://h:6379/0", host, sizeof(host), &port),
        RELAY_EINVAL);
    assert_int_equal(
        config_split_redis("rediss://h:6379", host, sizeof(host), &port),
        RELAY_EINVAL);
    assert_int_equal(
        config_split_redis("redis://u:p@h:1", host, sizeof(host), &port),
        RELAY_EINVAL);
}

/* Dumps 'cfg' into a malloc'd string. */
static char *dump_to_string(const struct relay_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    config_dump(cfg, f);
    fclose(f);
    return buf;
}

static void test_dump_round_trips(void **state)
{
    struct relay_config a;
    struct relay_config b;
    char *one;
    char *two;

    assert_int_equal(parse(&a, "max-frame 32k\norigin https://a.nl\n"
                               "origin https://b.nl:8443\n"
                               "token-key-file run/token.key\n"),
                     RELAY_OK);
    one = dump_to_string(&a);
    assert_non_null(strstr(one, "max-frame 32768\n"));
    assert_non_null(strstr(one, "origin https://a.nl\norigin "
                                "https://b.nl:8443\n"));
    assert_non_null(strstr(one, "token-key-file run/token.key\n"));
    assert_non_null(strstr(one, "pii-key-file\n"));
    assert_int_equal(parse(&b, one), RELAY_OK);
    two = dump_to_string(&b);
    assert_string_equal(one, two);
    free(two);
    free(one);

    config_defaults(&a);
    one = dump_to_string(&a);
    assert_non_null(strstr(one, "# origin (none)\n"));
    assert_non_null(strstr(one, "listen 127.0.0.1:8080\n"));
    assert_int_equal(parse(&b, one), RELAY_OK);
    free(one);
}

/* An adapter-style private table, for the types the core does not use. */
struct test_opts {
    char url[CONFIG_STR_MAX];
    int enabled;
    long long n;
    char tags[CONFIG_LIST_MAX][CONFIG_STR_MAX];
    int tag_count;
};

static const struct config_option test_table[] = {
    {"url", CONFIG_T_STRING, offsetof(struct test_opts, url), 0, 0, NULL,
     CONFIG_F_SECRET, NULL, 0},
    {"enabled", CONFIG_T_BOOL, offsetof(struct test_opts, enabled), 0, 0, "yes",
     0, NULL, 0},
    {"n", CONFIG_T_INT, offsetof(struct test_opts, n), -5, 5, "-1", 0, NULL, 0},
    {"tag", CONFIG_T_LIST, offsetof(struct test_opts, tags), 0, 0, "first", 0,
     NULL, offsetof(struct test_opts, tag_count)},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

static void test_generic_table(void **state)
{
    struct test_opts o;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    memset(&o, 0x55, sizeof(o));
    assert_int_equal(config_options_defaults(test_table, &o), RELAY_OK);
    assert_string_equal(o.url, "");
    assert_int_equal(o.enabled, 1);
    assert_int_equal(o.n, -1);
    assert_int_equal(o.tag_count, 1);
    assert_string_equal(o.tags[0], "first");

    assert_int_equal(config_option_set(test_table, &o, "enabled", "off", "x:1",
                                       err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(o.enabled, 0);
    assert_int_equal(config_option_set(test_table, &o, "enabled", "maybe",
                                       "x:2", err, sizeof(err)),
                     RELAY_ECONFIG);
    assert_string_equal(err, "x:2: enabled: 'maybe' is not "
                             "yes|no|true|false|on|off|1|0");
    assert_int_equal(
        config_option_set(test_table, &o, "n", "-5", "x:3", err, sizeof(err)),
        RELAY_OK);
    assert_int_equal(o.n, -5);
    assert_int_equal(
        config_option_set(test_table, &o, "n", "-6", "x:3", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_string_equal(err, "x:3: n: out of range -5..5");
    assert_int_equal(config_option_set(test_table, &o, "tag", "second", "x:4",
                                       err, sizeof(err)),
                     RELAY_OK);
    assert_int_equal(o.tag_count, 2);
    /* NULL default, not "": empty is refused */
    assert_int_equal(
        config_option_set(test_table, &o, "url", "", "x:5", err, sizeof(err)),
        RELAY_ECONFIG);
    assert_string_equal(err, "x:5: url: empty value");

    /* a secret value is never printed */
    assert_int_equal(config_option_set(test_table, &o, "url",
                                       "https://hook/s3cr3t", "x:6", err,
                                       sizeof(err)),
                     RELAY_OK);
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    config_options_dump(test_table, &o, f);
    fclose(f);
    assert_null(strstr(buf, "s3cr3t"));
    assert_non_null(strstr(buf, "url <secret>\n"));
    assert_non_null(strstr(buf, "enabled no\n"));
    assert_non_null(strstr(buf, "tag first\ntag second\n"));
    free(buf);
}

static void test_sample_config_parses(void **state)
{
    struct relay_config cfg;
    char path[4096];
    FILE *f;
    char line[1100];
    int keys = 0;

    snprintf(path, sizeof(path), "%s/config/buurtrelay.conf", RELAY_SOURCE_DIR);
    assert_int_equal(config_load(&cfg, path, err, sizeof(err)), RELAY_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.redis, "redis://127.0.0.1:6390");
    assert_string_equal(cfg.token_key_file, "run/token.key");
    assert_string_equal(cfg.pii_key_file, "run/pii.key");
    assert_string_equal(cfg.web_root, "relay/web");
    assert_int_equal(cfg.max_frame, 16384);
    assert_true(cfg.origin_count >= 1);

    /* every key present, each with a comment line right above it (a
     * repeated list key may follow its own previous line) */
    f = fopen(path, "r");
    assert_non_null(f);
    {
        char prev[1100] = "";

        while (fgets(line, sizeof(line), f)) {
            if (line[0] != '#' && line[0] != '\n') {
                size_t klen = strcspn(line, " \t\n");
                int repeat = strncmp(prev, line, klen) == 0 &&
                             (prev[klen] == ' ' || prev[klen] == '\t');

                assert_true(prev[0] == '#' || repeat);
                if (!repeat)
                    keys++;
            }
            memcpy(prev, line, sizeof(prev));
        }
    }
    fclose(f);
    assert_int_equal(keys, 46);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_text_gives_defaults),
        cmocka_unit_test(test_each_type),
        cmocka_unit_test(test_bounds_inclusive),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_string_too_long),
        cmocka_unit_test(test_line_too_long),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_repeated_key),
        cmocka_unit_test(test_list_append_and_overflow),
        cmocka_unit_test(test_crlf_and_comments),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_adapters_and_outbox),
        cmocka_unit_test(test_config_set),
        cmocka_unit_test(test_parse_failure_leaves_cfg),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_secret_env_wins),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_secret_bad_hex),
        cmocka_unit_test(test_split_hostport),
        cmocka_unit_test(test_split_redis),
        cmocka_unit_test(test_dump_round_trips),
        cmocka_unit_test(test_generic_table),
        cmocka_unit_test(test_sample_config_parses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
