/*
 * adapter.h - one outbound provider = one adapters/<name>.c exporting one
 * const struct adapter_ops.
 *
 * Adapters are pure translators: a message -> an HTTP request, an HTTP
 * response -> a verdict, a provider's webhook (delivery report, status
 * callback, incoming SMS) -> an event. They hold no sockets, curl
 * handles, Redis or event loop (relay/http_client.c owns curl; the outbox,
 * relay/outbox.c, owns queues, retries, rate limits and state). WHY: each
 * adapter is then testable as tables of (message, expected request) and
 * (response, expected verdict) with no network, and one curl multi handle
 * sees all outbound traffic.
 *
 * INSTANCES. The core allocates priv_size zeroed bytes per configured
 * adapter, applies the defaults of 'options' (offsets relative to priv),
 * then the configured values, then calls init(). Every instance also has
 * the common options of adapter.c (public-url, rate, max-in-flight, ...;
 * see struct adapter_common). Config keys are written "<name>.<option>",
 * e.g. "kannel.sendsms-url"; adapter_instance_set() takes the part after
 * the dot.
 *
 * WEBHOOKS. Every adapter's webhooks live under
 *   {public-url}/hooks/{name}/...
 * The core builds that base (adapter_msg.hook_url) for callback URLs in
 * requests and, when a webhook arrives, passes both the local path and
 * the full URL as the provider called it (signatures may cover it).
 * parse_webhook() verifies authenticity itself and returns RELAY_EAUTH
 * for anything forged; the event then must change nothing.
 *
 * PRIVACY. Requests carry phone numbers and message text: adapters never
 * log, and adapter_request_cleanup() wipes before freeing.
 */
#ifndef RELAY_ADAPTER_H
#define RELAY_ADAPTER_H

#include <stddef.h>

#include "config.h"
#include "http_client.h"
#include "sms_text.h"

#define ADAPTER_CAP_SMS 0x1u  /* sends SMS to E.164 numbers */
#define ADAPTER_CAP_DLR 0x2u  /* delivery reports through parse_webhook */
#define ADAPTER_CAP_MO 0x4u   /* incoming messages through parse_webhook */
#define ADAPTER_CAP_READ 0x8u /* read receipts */
#define ADAPTER_CAP_CHAT                                                       \
    0x10u                       /* sends to platform addresses (chat ids,      \
                                   rooms, URLs), not via SMS segmentation */
#define ADAPTER_CAP_GROUP 0x20u /* can address group chats / rooms */

#define ADAPTER_NAME_MAX 32         /* [a-z0-9_]{1,32} */
#define ADAPTER_ID_MAX 64           /* delivery ids [A-Za-z0-9_-]{1,64} */
#define ADAPTER_PROVIDER_ID_MAX 128 /* provider message ids */
#define ADAPTER_ERROR_MAX 64        /* short provider error codes */
#define ADAPTER_HEADERS_MAX 12      /* headers of one request */
#define ADAPTER_SECRET_MAX 256      /* bytes of a secret file's content */
#define ADAPTER_ADDR_MAX                                                       \
    255                       /* a platform address: E.164, chat id,           \
                                 Matrix room/user id, https URL */
#define ADAPTER_REPLY_MAX 256 /* a dynamic webhook answer body */

/*
 * What one send is about. Every pointer is borrowed for the call.
 *
 * ADDRESSES. 'to' is what ops->address_kind names: for "phone" an E.164
 * number, normalised and checked against allowed-prefixes by the core;
 * for a chat adapter the platform's own id (a Telegram chat id, a Matrix
 * room id, a webhook URL), as stored by the user or the group link. The
 * adapter validates its syntax itself (RELAY_EINVAL from build_request).
 *
 * FORMATTING. 'text' is the plain rendered notice (the same words for
 * every channel); chat adapters format it for their platform (escaping,
 * a bold header for 'kind', length limits) in build_request. 'kind' is
 * one of "appeal", "approval", "update", "closing", "status", "notice",
 * "test".
 */
struct adapter_msg {
    const char *delivery_id;     /* [A-Za-z0-9_-]{1,64}; goes into
                                    callback URLs and idempotency keys */
    const char *to;              /* see ADDRESSES; PII */
    int to_group;                /* 1: 'to' is a group chat / room */
    const char *text;            /* UTF-8 */
    size_t text_len;             /* bytes of text */
    const struct sms_info *info; /* SMS adapters: coding and parts, from
                                    sms_text; NULL for chat adapters */
    const char *hook_url;        /* "{public-url}/hooks/{name}" */
    const char *kind;            /* see FORMATTING; never NULL */
    int urgent;                  /* a police appeal or its closing */
    int session_open;            /* the recipient wrote to us within the
                                    provider's service window (WhatsApp
                                    24 h): free text allowed */
};

/*
 * A request built by an adapter. url, headers and body are heap strings
 * OWNED by the struct and released (wiped first: they carry credentials
 * and PII) by adapter_request_cleanup(); method is a static string.
 */
struct adapter_request {
    const char *method; /* "GET", "POST" or "PUT" */
    char *url;
    char *headers[ADAPTER_HEADERS_MAX]; /* "Name: value" */
    int nheaders;
    char *body; /* NULL for none; NUL-terminated for convenience */
    size_t body_len;
};

/* Wipes and frees everything 'r' owns and zeroes it; NULL is fine. */
void adapter_request_cleanup(struct adapter_request *r);

/* Fills 'out' with borrowed pointers into 'r' for http_client_send(). */
void adapter_request_view(const struct adapter_request *r, long timeout_ms,
                          struct http_request *out);

enum adapter_verdict {
    ADAPTER_SENT = 1,   /* the provider accepted it (not yet delivered) */
    ADAPTER_RETRY = 2,  /* not accepted; safe to send again later */
    ADAPTER_FAILED = 3, /* refused for good (bad number, ...) */
};

/*
 * An adapter's RETRY with this error says the provider refused free text
 * because the recipient's service window is closed (WhatsApp 131047):
 * the core forgets the window (win:{ch}:{u}) and sends again at once, so
 * the adapter builds the out-of-window form (a template) next time.
 */
#define ADAPTER_ERROR_SESSION_CLOSED "session_closed"

/*
 * RETRY with this error and adapter_result.new_address says the chat
 * moved (a Telegram group became a supergroup): the core stores the new
 * address on the group link and sends again at once.
 */
#define ADAPTER_ERROR_MOVED "address_moved"

/* What a provider said about one send. */
struct adapter_result {
    enum adapter_verdict verdict;
    char provider_id[ADAPTER_PROVIDER_ID_MAX + 1]; /* SENT: may be "" */
    long retry_after_s; /* RETRY: the provider's wish in seconds, or -1 */
    char error[ADAPTER_ERROR_MAX + 1];      /* "http_503", "21211": no PII */
    char new_address[ADAPTER_ADDR_MAX + 1]; /* ADAPTER_ERROR_MOVED only */
};

/*
 * Delivery states, in the order a delivery moves through them. A report
 * is applied only when it moves the state forward by rank (adapter.c
 * adapter_state_rank): queued < sent < delivered|failed < read. Late,
 * repeated or out-of-order reports never move a state back.
 */
enum adapter_state {
    ADAPTER_STATE_NONE = 0,
    ADAPTER_STATE_QUEUED,
    ADAPTER_STATE_SENT,
    ADAPTER_STATE_DELIVERED,
    ADAPTER_STATE_FAILED,
    ADAPTER_STATE_READ,
};

/* "queued", "sent", ... ("none" for NONE). */
const char *adapter_state_name(enum adapter_state s);
/* The inverse; ADAPTER_STATE_NONE for an unknown name. */
enum adapter_state adapter_state_parse(const char *name);
/* Rank used for the monotonic rule above. */
int adapter_state_rank(enum adapter_state s);

/* One webhook request as received. Every pointer is borrowed. */
struct adapter_webhook_req {
    const char *method;         /* "GET", "POST", "PUT" */
    const char *path;           /* local path and query, e.g.
                                   "/hooks/kannel/dlr?d=..." */
    const char *url;            /* the full URL the provider called:
                                   {public-url}{path} */
    const char *const *headers; /* "Name: value" */
    int nheaders;
    const char *body; /* may be NULL when body_len is 0 */
    size_t body_len;
};

enum adapter_event_type {
    ADAPTER_EVENT_NONE = 0, /* authentic, nothing to do (acknowledge) */
    ADAPTER_EVENT_STATUS,   /* a delivery's state changed */
    ADAPTER_EVENT_MO,       /* an incoming message */
};

/*
 * What a webhook meant. 'text' is heap memory owned by the event
 * (adapter_event_cleanup wipes and frees it). The reply fields say what
 * the provider expects back: reply_body is a static string or points
 * into reply_buf (a verification challenge echoed back).
 *
 * STATUS names the delivery by delivery_id when the provider echoes our
 * id (callback URLs), or only by provider_id (the id the provider gave
 * the message when it was sent: WhatsApp's wamid); the core maps it.
 *
 * MO: 'from' is the sender's address (E.164 for SMS and WhatsApp, the
 * platform's user id for chats), 'chat' where it was written (the group
 * chat or room; "" for SMS and one-to-one chats), 'reply_to' the
 * provider id of OUR message it answers when the platform says so
 * (Telegram reply_to_message, Matrix m.in_reply_to, WhatsApp context),
 * else "". provider_id is the incoming message's own id: a repeated
 * webhook with the same id is taken once.
 */
struct adapter_event {
    enum adapter_event_type type;
    char delivery_id[ADAPTER_ID_MAX + 1];          /* STATUS */
    char provider_id[ADAPTER_PROVIDER_ID_MAX + 1]; /* STATUS, MO (dedup) */
    enum adapter_state state;                      /* STATUS */
    char error[ADAPTER_ERROR_MAX + 1];             /* STATUS: provider code */
    char from[ADAPTER_ADDR_MAX + 1];               /* MO: see above; PII */
    char chat[ADAPTER_ADDR_MAX + 1];               /* MO: group / room */
    char reply_to[ADAPTER_PROVIDER_ID_MAX + 1];    /* MO: answered message */
    char *text;                                    /* MO: UTF-8; PII */
    size_t text_len;
    int http_status;        /* answer to give: 200 unless set */
    const char *reply_type; /* Content-Type of reply_body */
    const char *reply_body; /* "" for none */
    char reply_buf[ADAPTER_REPLY_MAX + 1];
};

/* Wipes and frees the event's text and zeroes it; NULL is fine. */
void adapter_event_cleanup(struct adapter_event *ev);

struct adapter_ops {
    const char *name;                    /* config prefix and log tag */
    unsigned caps;                       /* ADAPTER_CAP_* */
    const char *address_kind;            /* "phone" (NULL means it too), or
                                            the adapter's own name: what
                                            msg.to holds, and which address
                                            of a user it sends to */
    size_t max_text_chars;               /* chat adapters: longest plain
                                            text (code points) it carries;
                                            0: SMS rules (max-parts) */
    size_t priv_size;                    /* zeroed bytes per instance */
    const struct config_option *options; /* offsets relative to priv */

    /* Optional. Called after the options were applied: validate them
     * across keys, load secret files. Errors: RELAY_ECONFIG with one
     * line in err (naming keys and files, never secret values). */
    int (*init)(void *priv, char *err, size_t errlen);
    /* Optional; must not fail; wipes secrets. */
    void (*cleanup)(void *priv);
    /* Fills *req (zeroed by the caller) for 'msg'. On failure *req is
     * left empty. RELAY_EINVAL for a message it cannot send (e.g. a
     * text its provider cannot carry), RELAY_ENOMEM. */
    int (*build_request)(void *priv, const struct adapter_msg *msg,
                         struct adapter_request *req);
    /* Classifies a response: status and body as http_client gave them,
     * retry_after the Retry-After header or NULL. Fills *out; returns
     * RELAY_OK (errors only for bad arguments). Transport failures
     * (timeouts, refused connections) never reach it: the core treats
     * them as RETRY itself. */
    int (*parse_response)(void *priv, long status, const char *body, size_t len,
                          const char *retry_after, struct adapter_result *out);
    /* Optional (caps DLR/MO). Fills *out (zeroed by the caller) and
     * returns RELAY_OK; RELAY_EAUTH for a forged or unsigned request;
     * RELAY_ENOTFOUND for a path it does not serve; RELAY_EINVAL for a
     * malformed one; RELAY_ENOMEM. */
    int (*parse_webhook)(void *priv, const struct adapter_webhook_req *req,
                         struct adapter_event *out);
    /* Optional, for providers that batch several events in one request
     * (Matrix transactions, WhatsApp notifications): the index-th event
     * (0-based), with the same results as parse_webhook (the request is
     * authenticated at every call); RELAY_ENOTFOUND past the last one. A
     * request with nothing to do gives ADAPTER_EVENT_NONE at index 0. The
     * core asks for 0, 1, 2, ... (at most OUTBOX_WEBHOOK_EVENTS_MAX) and
     * answers with index 0's reply fields. */
    int (*parse_webhook_at)(void *priv, const struct adapter_webhook_req *req,
                            int index, struct adapter_event *out);
};

/* ---- Registry (adapters/registry.c) ----------------------------------- */

/* The adapter called 'name', or NULL. */
const struct adapter_ops *adapter_find(const char *name);
/* The i-th registered adapter (0-based), or NULL past the end. */
const struct adapter_ops *adapter_at(size_t i);

/* ---- Instances -------------------------------------------------------- */

/* Options every instance has, whatever its adapter. */
struct adapter_common {
    char public_url[CONFIG_STR_MAX];       /* the relay as providers reach it */
    long long rate;                        /* sends per second */
    long long burst;                       /* sends allowed at once */
    long long max_in_flight;               /* requests open at once */
    long long timeout_ms;                  /* one request, whole transfer */
    long long max_parts;                   /* SMS parts per message */
    char allowed_prefixes[CONFIG_STR_MAX]; /* e.g. "+31" */
    long long max_attempts;                /* sends before dead letter */
    long long daily_budget; /* sends per UTC day, 0: none; routine sends
                               over it fail ("budget_exhausted"), urgent
                               ones go anyway */
};

struct adapter_instance {
    const struct adapter_ops *ops;
    struct adapter_common common;
    void *priv; /* priv_size bytes, owned */
    int inited; /* init() succeeded: cleanup() is due */
    char hook_url[CONFIG_STR_MAX + ADAPTER_NAME_MAX + 8];
};

/*
 * Creates an instance of adapter 'name' with every default applied.
 * NULL for an unknown name or out of memory.
 */
struct adapter_instance *adapter_instance_create(const char *name);

/* The same for an adapter that is not in the registry (tests). */
struct adapter_instance *
adapter_instance_create_ops(const struct adapter_ops *ops);

/* Sets one option (common or the adapter's own): RELAY_ECONFIG with
 * "<where>: <name>.<key>: <reason>" in err. */
int adapter_instance_set(struct adapter_instance *in, const char *key,
                         const char *value, const char *where, char *err,
                         size_t errlen);

/* Runs the adapter's init() and builds hook_url. RELAY_ECONFIG + err. */
int adapter_instance_init(struct adapter_instance *in, char *err,
                          size_t errlen);

/* Writes the instance's options as "<name>.<key> value" lines (secrets
 * hidden), for --check-config. */
void adapter_instance_dump(const struct adapter_instance *in, FILE *out);

/* Runs cleanup() if init succeeded, wipes and frees; NULL is fine. */
void adapter_instance_destroy(struct adapter_instance *in);

/* ---- Config glue ------------------------------------------------------- */

/*
 * The relay's config file enables adapters with "adapter NAME" lines and
 * sets their options with "NAME.KEY VALUE" lines (secrets in files:
 * kannel.password-file, twilio.auth-token-file, ...). config.c keeps
 * both as text; main.c builds the instances with adapter_set_build().
 */
#define ADAPTER_SET_MAX 8

struct adapter_set {
    struct adapter_instance *in[ADAPTER_SET_MAX]; /* owned */
    int n;
};

/* True when 'key' is "NAME.OPTION" for a registered adapter NAME and one
 * of its options (or a common one): for config.c's unknown-key check. */
int adapter_key_valid(const char *key);

/*
 * Creates, configures and inits one instance per name (each at most
 * once), applying every "NAME.KEY VALUE" line to its instance. Lines for
 * an adapter that is not enabled, unknown names or options, bad values
 * and init failures are RELAY_ECONFIG with one line in err; 's' is then
 * left empty. 'where' prefixes messages (e.g. the config file name).
 */
int adapter_set_build(struct adapter_set *s, const char *const *names,
                      int nnames, const char *const *lines, int nlines,
                      const char *where, char *err, size_t errlen);

/* Destroys every instance; 's' is empty afterwards. */
void adapter_set_destroy(struct adapter_set *s);

/* ---- Helpers for adapters --------------------------------------------- */

/* A growing string; 'oom' is set (and further adds ignored) when an
 * allocation failed, so a builder checks once at the end. */
struct adapter_buf {
    char *p;
    size_t len, cap;
    int oom;
};

void adapter_buf_add(struct adapter_buf *b, const char *s, size_t n);
void adapter_buf_adds(struct adapter_buf *b, const char *s);
/* Appends s[0..n) as the inside of a JSON string: '"', '\\' and control
 * bytes escaped, everything else (UTF-8 included) as it is. */
void adapter_buf_add_json(struct adapter_buf *b, const char *s, size_t n);
/* Appends s[0..n) percent-encoded (RFC 3986 unreserved kept). */
void adapter_buf_add_enc(struct adapter_buf *b, const char *s, size_t n);
/* Appends "&name=value" (no '&' when b is empty), value encoded. */
void adapter_buf_add_param(struct adapter_buf *b, const char *name,
                           const char *value);
/* Hands the string over (NULL after oom or when empty: then frees). */
char *adapter_buf_take(struct adapter_buf *b, size_t *len);
/* Wipes and frees. */
void adapter_buf_free(struct adapter_buf *b);

/* Iterates over "a=1&b=2" (a query string or a form body). */
struct adapter_form_iter {
    const char *p, *end;
};

void adapter_form_begin(struct adapter_form_iter *it, const char *s,
                        size_t len);
/*
 * Decodes the next pair ('+' is a space, %XX a byte) into NUL-terminated
 * name and value. Returns 1 for a pair, 0 at the end, RELAY_ETOOBIG when
 * a name or value does not fit, RELAY_EINVAL for a bad escape or a
 * decoded NUL. *value_len (optional) gets the value's length.
 */
int adapter_form_next(struct adapter_form_iter *it, char *name, size_t name_cap,
                      char *value, size_t value_cap, size_t *value_len);

/* The first value of 'key' in s[0..len), decoded. RELAY_ENOTFOUND, or
 * the errors of adapter_form_next(). */
int adapter_form_get(const char *s, size_t len, const char *key, char *value,
                     size_t value_cap, size_t *value_len);

/* The query string of a path ("" when none). */
const char *adapter_query(const char *path);

/* True when 'path' (its query cut) is "/hooks/{name}/{leaf}". */
int adapter_path_is(const char *path, const char *name, const char *leaf);

/* The value of header 'name' (case-insensitive, surrounding blanks
 * trimmed) into out; RELAY_ENOTFOUND or RELAY_ETOOBIG. */
int adapter_header_get(const char *const *headers, int nheaders,
                       const char *name, char *out, size_t outlen);

/* Retry-After as seconds from 'now' (unix seconds): delta-seconds or an
 * IMF-fixdate; -1 when absent or unparsable; 0 for a past date. */
long adapter_retry_after(const char *value, long long now);

/* The Dutch header every channel shows above a notice of 'kind'
 * (adapter_msg.kind): "Politie-oproep", "Afgesloten", ... An unknown or
 * NULL kind reads "Bericht": a new kind must never stop an alert. */
const char *adapter_kind_header(const char *kind);

/* Unicode code points of UTF-8 s[0..n) (bytes that are not
 * continuation bytes). */
size_t adapter_utf8_count(const char *s, size_t n);

struct cJSON;
/* Wipes every string of a parsed tree (message texts, phone numbers, ids:
 * PII; cJSON frees without wiping), then deletes it; NULL is fine. The
 * recursion is bounded by json_strict_parse()'s depth cap. */
void adapter_json_wipe_delete(struct cJSON *root);

/* True for [A-Za-z0-9_-]{1,ADAPTER_ID_MAX}. */
int adapter_id_valid(const char *id);

/* Constant-time equality of two NUL-terminated strings. */
int adapter_str_equal(const char *a, const char *b);

/* Reads a secret file: its content with surrounding whitespace removed,
 * 1..ADAPTER_SECRET_MAX bytes. RELAY_ECONFIG with err (naming the path,
 * never the content). */
int adapter_read_secret(const char *path, char *out, size_t outlen, char *err,
                        size_t errlen);

#endif
