/*
 * main.c - the buurtrelay daemon: arguments, start-up, signals, shutdown.
 *
 * Start-up may block (reading the config and key files); from uv_run() on,
 * nothing does. SIGTERM/SIGINT: stop accepting, close every WebSocket with
 * 1001 "going away" after its queued frames, wait at most
 * shutdown-drain-ms, close Redis and exit 0.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "adapter.h"
#include "areas.h"
#include "audit.h"
#include "bus.h"
#include "guard.h"
#include "case_timers.h"
#include "config.h"
#include "error.h"
#include "http_api.h"
#include "http_client.h"
#include "log.h"
#include "outbox.h"
#include "relay.h"
#include "server.h"
#include "session.h"
#include "notify.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: buurtrelay [--config FILE] [--listen HOST:PORT] "
            "[--redis redis://HOST:PORT]\n"
            "                  [--check-config] [--version] [--help]\n"
            "\n"
            "  --config FILE     configuration file (default "
            "config/buurtrelay.conf)\n"
            "  --listen H:P      HTTP/WebSocket address, overrides 'listen'\n"
            "  --redis URL       Redis to use, overrides 'redis'\n"
            "  --check-config    validate the configuration and exit\n"
            "  --version         print the version and exit\n"
            "  --help            this text\n"
            "\n"
            "Secrets: BUURTRELAY_TOKEN_KEY overrides token-key-file, "
            "BUURTRELAY_PII_KEY pii-key-file (64 hex digits each).\n");
}

static void bus_state(void *arg, int ready)
{
    log_info("main", "redis %s",
             ready ? "ready: all channels subscribed" : "not ready");
}

/* Revocations published by buurtctl: close the connections using them. */
static void on_control(void *arg, const char *text)
{
    struct relay *relay = arg;
    char user[65], jti[65];

    if (sscanf(text, "revoke-jti %64s", jti) == 1)
        session_close_user(relay, NULL, jti);
    else if (sscanf(text, "revoke-user %64s", user) == 1)
        session_close_user(relay, user, NULL);
    else
        log_warn("main", "unknown control message ignored");
}

/* Audit entries still waiting for Redis (shutdown waits for them). */
/* An SMS reply, already stored in mo:inbox by the outbox (with the case
 * the sender last received): a tip on that case (notify.h). */
static void on_reply(void *arg, const struct outbox_reply *r)
{
    notify_reply(arg, r);
}

/* --check-config: the adapters are built (secret files read) and freed. */
static int check_adapters(const struct relay_config *cfg,
                          const char *config_path)
{
    const char *names[CONFIG_LIST_MAX];
    const char *lines[CONFIG_ADAPTER_LINES_MAX];
    struct adapter_set set;
    char err[CONFIG_ERR_MAX];

    memset(&set, 0, sizeof(set));
    if (cfg->adapter_count == 0)
        return RELAY_OK;
    for (int i = 0; i < cfg->adapter_count; i++)
        names[i] = cfg->adapters[i];
    for (int i = 0; i < cfg->adapter_line_count; i++)
        lines[i] = cfg->adapter_lines[i];
    if (adapter_set_build(&set, names, cfg->adapter_count, lines,
                          cfg->adapter_line_count, config_path, err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "buurtrelay: %s\n", err);
        return RELAY_ECONFIG;
    }
    adapter_set_destroy(&set);
    return RELAY_OK;
}

/* Builds the adapters and the outbox when the config enables any. */
static int start_outbox(struct relay *relay, struct adapter_set *set,
                        const char *config_path)
{
    const char *names[CONFIG_LIST_MAX];
    const char *lines[CONFIG_ADAPTER_LINES_MAX];
    struct outbox_options o;
    char err[CONFIG_ERR_MAX];
    const struct relay_config *cfg = &relay->cfg;
    long long max_timeout = 0;

    memset(set, 0, sizeof(*set));
    if (cfg->adapter_count == 0) {
        if (cfg->adapter_line_count > 0)
            log_warn("main", "adapter options given but no 'adapter' line: "
                             "SMS delivery off");
        return RELAY_OK;
    }
    for (int i = 0; i < cfg->adapter_count; i++)
        names[i] = cfg->adapters[i];
    for (int i = 0; i < cfg->adapter_line_count; i++)
        lines[i] = cfg->adapter_lines[i];
    if (adapter_set_build(set, names, cfg->adapter_count, lines,
                          cfg->adapter_line_count, config_path, err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "buurtrelay: %s\n", err);
        return RELAY_ECONFIG;
    }
    for (int i = 0; i < set->n; i++)
        if (set->in[i]->common.timeout_ms > max_timeout)
            max_timeout = set->in[i]->common.timeout_ms;
    outbox_options_defaults(&o);
    o.adapters = set->in;
    o.nadapters = set->n;
    o.pii_key = relay->pii_key;
    o.worker = cfg->outbox_worker;
    o.batch = (long)cfg->outbox_batch;
    o.timeout_ms = (long)cfg->redis_timeout_ms;
    if (o.block_ms >= o.timeout_ms)
        o.block_ms = o.timeout_ms / 2;
    o.reconnect_min_ms = (long)cfg->redis_reconnect_min_ms;
    o.reconnect_max_ms = (long)cfg->redis_reconnect_max_ms;
    o.claim_idle_ms = (long)cfg->outbox_claim_idle_ms;
    o.claim_interval_ms = (long)cfg->outbox_claim_interval_ms;
    o.stale_ms = (long)cfg->outbox_stale_ms;
    if (o.stale_ms <= max_timeout)
        o.stale_ms = (long)max_timeout * 2;
    if (o.claim_idle_ms <= max_timeout)
        o.claim_idle_ms = (long)max_timeout * 2;
    o.backoff_min_ms = (long)cfg->outbox_backoff_min_ms;
    o.backoff_max_ms = (long)cfg->outbox_backoff_max_ms;
    o.ttl_s = (long)cfg->outbox_ttl;
    o.on_reply = on_reply;
    o.reply_arg = relay;
    relay->outbox =
        outbox_create(relay->loop, relay->cfg.redis, relay->http, &o);
    if (!relay->outbox) {
        fprintf(stderr, "buurtrelay: cannot create the SMS outbox (check "
                        "the adapters' timeout-ms against the Redis "
                        "timeout)\n");
        adapter_set_destroy(set);
        return RELAY_ECONFIG;
    }
    relay->adapters = set;
    notify_start(relay);
    log_info("main", "sms: %d adapter(s), worker %s", set->n,
             o.worker ? "on" : "off");
    return RELAY_OK;
}

static int audit_pending(struct relay *relay)
{
    struct audit_stats st;

    if (!relay->audit)
        return 0;
    audit_stats(relay->audit, &st);
    return st.queued > 0;
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Polls during shutdown until every session is gone or time is up. */
static void drain_tick(uv_timer_t *t)
{
    struct relay *relay = t->data;
    uint64_t deadline = (uint64_t)relay->cfg.shutdown_drain_ms;

    if ((relay->sessions || audit_pending(relay)) &&
        uv_now(relay->loop) - relay->drain_started_ms < deadline)
        return;
    if (relay->sessions)
        log_warn("main", "shutdown: closing remaining connections");
    uv_timer_stop(t);
    close_handle((uv_handle_t *)t);
    close_handle((uv_handle_t *)&relay->sigterm);
    close_handle((uv_handle_t *)&relay->sigint);
    server_stop(relay);
    guard_cleanup(relay);
    notify_stop(relay);
    bus_destroy(relay->bus);
    relay->bus = NULL;
    /* Pending enqueue and webhook callbacks run inside; its requests in
     * flight complete when the http_client closes below. */
    outbox_destroy(relay->outbox);
    relay->outbox = NULL;
    relay->adapters = NULL;
    http_client_destroy(relay->http);
    relay->http = NULL;
    case_timers_stop(relay->timers);
    relay->timers = NULL;
    session_keepalive_stop(relay);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct relay *relay = sig->data;

    if (relay->shutting_down)
        return;
    relay->shutting_down = 1;
    log_info("main", "signal %d: shutting down", signum);
    server_close_all(relay);
    relay->drain_timer.data = relay;
    relay->drain_started_ms = uv_now(relay->loop);
    uv_timer_start(&relay->drain_timer, drain_tick, 20, 20);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"redis", required_argument, NULL, 'r'},
        {"check-config", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct relay relay;
    const char *config_path = "config/buurtrelay.conf";
    const char *listen_arg = NULL, *redis_arg = NULL;
    int check_only = 0;
    char err[CONFIG_ERR_MAX];
    enum log_level level;
    struct bus_options bo;
    static struct adapter_set adapters;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            listen_arg = optarg;
            break;
        case 'r':
            redis_arg = optarg;
            break;
        case 'k':
            check_only = 1;
            break;
        case 'v':
            printf("buurtrelay %s\n", RELAY_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "buurtrelay: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "buurtrelay: libsodium failed to initialise\n");
        return 1;
    }
    if (config_load(&relay.cfg, config_path, err, sizeof(err)) < 0 ||
        (listen_arg && config_set(&relay.cfg, "listen", listen_arg, "--listen",
                                  err, sizeof(err)) < 0) ||
        (redis_arg && config_set(&relay.cfg, "redis", redis_arg, "--redis", err,
                                 sizeof(err)) < 0)) {
        fprintf(stderr, "buurtrelay: %s\n", err);
        return 1;
    }
    if (log_level_parse(relay.cfg.log_level, &level) == RELAY_OK)
        log_set_level(level);
    if (config_split_hostport(relay.cfg.listen, relay.listen_host,
                              sizeof(relay.listen_host),
                              &relay.listen_port) < 0) {
        fprintf(stderr, "buurtrelay: listen: malformed address\n");
        return 1;
    }
    rc = config_load_secret(relay.cfg.token_key_file, "BUURTRELAY_TOKEN_KEY",
                            relay.token_key, err, sizeof(err));
    if (relay.cfg.areas_file[0]) {
        /* Invalid area data stops the relay: better no start than alerts
         * routed to the wrong buurten. */
        char aerr[AREAS_ERR_MAX + 300];

        if (areas_load(relay.cfg.areas_file, &relay.areas, aerr, sizeof(aerr)) <
                0 ||
            (relay.cfg.postcodes_file[0] &&
             areas_load_postcodes(relay.areas, relay.cfg.postcodes_file, aerr,
                                  sizeof(aerr)) < 0)) {
            fprintf(stderr, "buurtrelay: areas: %s\n", aerr);
            areas_destroy(relay.areas);
            return 1;
        }
        relay.areas_geojson = areas_geojson(relay.areas, NULL);
        log_info("main", "areas: %zu buurten, %zu postcode ranges",
                 areas_count(relay.areas), areas_postcode_rows(relay.areas));
    } else if (relay.cfg.postcodes_file[0]) {
        fprintf(stderr, "buurtrelay: postcodes-file needs areas-file\n");
        return 1;
    }
    if (check_only) {
        if (rc == RELAY_ENOTFOUND)
            printf("warning: no token key (token-key-file or "
                   "BUURTRELAY_TOKEN_KEY): the relay would refuse to start\n");
        else if (rc < 0)
            printf("warning: token key: %s\n", err);
        if (check_adapters(&relay.cfg, config_path) < 0) {
            free(relay.areas_geojson);
            areas_destroy(relay.areas);
            return 1;
        }
        printf("%s: configuration OK\n", config_path);
        free(relay.areas_geojson);
        areas_destroy(relay.areas);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "buurtrelay: token key: %s\n",
                rc == RELAY_ENOTFOUND ? "not configured (set token-key-file or "
                                        "BUURTRELAY_TOKEN_KEY)"
                                      : err);
        return 1;
    }
    relay.have_token_key = 1;
    /* The PII key encrypts phone numbers and keys the audit trail. */
    rc = config_load_secret(relay.cfg.pii_key_file, "BUURTRELAY_PII_KEY",
                            relay.pii_key, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "buurtrelay: pii key: %s\n",
                rc == RELAY_ENOTFOUND ? "not configured (set pii-key-file or "
                                        "BUURTRELAY_PII_KEY)"
                                      : err);
        return 1;
    }
    if (http_api_init() < 0) {
        fprintf(stderr, "buurtrelay: cannot prepare the login check\n");
        return 1;
    }

    relay.loop = uv_default_loop();
    bo.redis_url = relay.cfg.redis;
    bo.history_max = (long)relay.cfg.history_max;
    bo.replay_max = (long)relay.cfg.replay_max;
    bo.idempotency_ttl = (long)relay.cfg.idempotency_ttl;
    bo.timeout_ms = (long)relay.cfg.redis_timeout_ms;
    bo.reconnect_min_ms = (long)relay.cfg.redis_reconnect_min_ms;
    bo.reconnect_max_ms = (long)relay.cfg.redis_reconnect_max_ms;
    relay.bus = bus_create(relay.loop, &bo, bus_state, &relay);
    if (!relay.bus) {
        fprintf(stderr, "buurtrelay: redis: malformed URL '%s'\n",
                relay.cfg.redis);
        return 1;
    }
    bus_set_control_cb(relay.bus, on_control, &relay);
    if (guard_init(&relay) < 0) {
        fprintf(stderr, "buurtrelay: out of memory for limits\n");
        return 1;
    }
    /* One curl multi handle on the loop, for the outbound adapters. */
    relay.http = http_client_create(relay.loop, 64);
    if (!relay.http) {
        fprintf(stderr, "buurtrelay: cannot create the HTTP client\n");
        return 1;
    }
    if (start_outbox(&relay, &adapters, config_path) < 0) {
        bus_destroy(relay.bus);
        http_client_destroy(relay.http);
        uv_run(relay.loop, UV_RUN_DEFAULT);
        return 1;
    }
    if (server_start(&relay) < 0) {
        fprintf(stderr, "buurtrelay: cannot listen on %s\n", relay.cfg.listen);
        notify_stop(&relay);
        bus_destroy(relay.bus);
        outbox_destroy(relay.outbox);
        relay.outbox = NULL;
        http_client_destroy(relay.http);
        uv_run(relay.loop, UV_RUN_DEFAULT);
        adapter_set_destroy(&adapters);
        return 1;
    }
    relay.timers = case_timers_start(&relay);
    session_keepalive_start(&relay);
    uv_signal_init(relay.loop, &relay.sigterm);
    uv_signal_init(relay.loop, &relay.sigint);
    uv_timer_init(relay.loop, &relay.drain_timer);
    relay.sigterm.data = relay.sigint.data = &relay;
    uv_signal_start(&relay.sigterm, on_signal, SIGTERM);
    uv_signal_start(&relay.sigint, on_signal, SIGINT);
    log_info("main",
             "buurtrelay %s listening on http://%s (WebSocket "
             "ws://%s/ws), redis %s",
             RELAY_VERSION, relay.cfg.listen, relay.cfg.listen,
             relay.cfg.redis);

    uv_run(relay.loop, UV_RUN_DEFAULT);
    /* pcontext: lws clears relay.lws once it is fully gone. */
    if (relay.lws)
        lws_context_destroy(relay.lws);
    uv_run(relay.loop, UV_RUN_DEFAULT);
    adapter_set_destroy(&adapters);
    uv_loop_close(relay.loop);
    free(relay.areas_geojson);
    areas_destroy(relay.areas);
    log_info("main", "stopped");
    return 0;
}
