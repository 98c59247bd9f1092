/*
 * adapter.c - what every adapter shares: request and event cleanup,
 * delivery states, instances with their common options, and small
 * string helpers (URL encoding, form parsing, headers, Retry-After).
 */
#include "adapter.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "error.h"

/* ---- Requests and events ---------------------------------------------- */

static void wipe_free(char *s, size_t len)
{
    if (!s)
        return;
    sodium_memzero(s, len);
    free(s);
}

void adapter_request_cleanup(struct adapter_request *r)
{
    if (!r)
        return;
    wipe_free(r->url, r->url ? strlen(r->url) : 0);
    for (int i = 0; i < r->nheaders && i < ADAPTER_HEADERS_MAX; i++)
        wipe_free(r->headers[i], r->headers[i] ? strlen(r->headers[i]) : 0);
    wipe_free(r->body, r->body_len);
    memset(r, 0, sizeof(*r));
}

void adapter_request_view(const struct adapter_request *r, long timeout_ms,
                          struct http_request *out)
{
    memset(out, 0, sizeof(*out));
    out->method = r->method;
    out->url = r->url;
    out->headers = (const char *const *)r->headers;
    out->nheaders = r->nheaders;
    out->body = r->body;
    out->body_len = r->body_len;
    out->timeout_ms = timeout_ms;
}

void adapter_event_cleanup(struct adapter_event *ev)
{
    if (!ev)
        return;
    wipe_free(ev->text, ev->text_len);
    sodium_memzero(ev, sizeof(*ev));
}

static const char *const state_names[] = {
    [ADAPTER_STATE_NONE] = "none",     [ADAPTER_STATE_QUEUED] = "queued",
    [ADAPTER_STATE_SENT] = "sent",     [ADAPTER_STATE_DELIVERED] = "delivered",
    [ADAPTER_STATE_FAILED] = "failed", [ADAPTER_STATE_READ] = "read",
};

const char *adapter_state_name(enum adapter_state s)
{
    if ((size_t)s >= sizeof(state_names) / sizeof(state_names[0]))
        return "none";
    return state_names[s];
}

enum adapter_state adapter_state_parse(const char *name)
{
    for (size_t i = 1; name && i < sizeof(state_names) / sizeof(*state_names);
         i++) {
        if (strcmp(name, state_names[i]) == 0)
            return (enum adapter_state)i;
    }
    return ADAPTER_STATE_NONE;
}

int adapter_state_rank(enum adapter_state s)
{
    switch (s) {
    case ADAPTER_STATE_QUEUED:
        return 1;
    case ADAPTER_STATE_SENT:
        return 2;
    case ADAPTER_STATE_DELIVERED:
    case ADAPTER_STATE_FAILED:
        return 3;
    case ADAPTER_STATE_READ:
        return 4;
    default:
        return 0;
    }
}

/* ---- Instances -------------------------------------------------------- */

static int check_public_url(const char *value, char *why, size_t whylen)
{
    size_t n = strlen(value);

    if ((strncmp(value, "http://", 7) != 0 &&
         strncmp(value, "https://", 8) != 0) ||
        value[n - 1] == '/') {
        snprintf(why, whylen, "not an http(s) origin without a trailing /");
        return RELAY_EINVAL;
    }
    return 0;
}

static int check_prefixes(const char *value, char *why, size_t whylen)
{
    return sms_prefixes_check(value, why, whylen);
}

#define COFF(f) offsetof(struct adapter_common, f)

static const struct config_option common_options[] = {
    {"public-url", CONFIG_T_STRING, COFF(public_url), 0, 0,
     "http://127.0.0.1:8080", 0, check_public_url, 0},
    {"rate", CONFIG_T_INT, COFF(rate), 1, 100000, "20", 0, NULL, 0},
    {"burst", CONFIG_T_INT, COFF(burst), 1, 100000, "20", 0, NULL, 0},
    {"max-in-flight", CONFIG_T_INT, COFF(max_in_flight), 1, 10000, "16", 0,
     NULL, 0},
    {"timeout-ms", CONFIG_T_INT, COFF(timeout_ms), 100, 120000, "10000", 0,
     NULL, 0},
    {"max-parts", CONFIG_T_INT, COFF(max_parts), 1, SMS_PARTS_MAX, "3", 0, NULL,
     0},
    {"allowed-prefixes", CONFIG_T_STRING, COFF(allowed_prefixes), 0, 0,
     SMS_PREFIXES_DEFAULT, 0, check_prefixes, 0},
    {"max-attempts", CONFIG_T_INT, COFF(max_attempts), 1, 100, "8", 0, NULL, 0},
    {"daily-budget", CONFIG_T_INT, COFF(daily_budget), 0, 100000000, "0", 0,
     NULL, 0},
    {NULL, 0, 0, 0, 0, NULL, 0, NULL, 0},
};

static int has_key(const struct config_option *opts, const char *key)
{
    for (; opts && opts->key; opts++) {
        if (strcmp(opts->key, key) == 0)
            return 1;
    }
    return 0;
}

struct adapter_instance *adapter_instance_create(const char *name)
{
    return adapter_instance_create_ops(name ? adapter_find(name) : NULL);
}

struct adapter_instance *
adapter_instance_create_ops(const struct adapter_ops *ops)
{
    struct adapter_instance *in;

    if (!ops)
        return NULL;
    in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->ops = ops;
    in->priv = calloc(1, ops->priv_size ? ops->priv_size : 1);
    if (!in->priv) {
        free(in);
        return NULL;
    }
    if (config_options_defaults(common_options, &in->common) < 0 ||
        (ops->options && config_options_defaults(ops->options, in->priv) < 0)) {
        adapter_instance_destroy(in);
        return NULL;
    }
    return in;
}

int adapter_instance_set(struct adapter_instance *in, const char *key,
                         const char *value, const char *where, char *err,
                         size_t errlen)
{
    char w[CONFIG_STR_MAX + ADAPTER_NAME_MAX];

    snprintf(w, sizeof(w), "%s: %s", where ? where : "config", in->ops->name);
    if (has_key(common_options, key))
        return config_option_set(common_options, &in->common, key, value, w,
                                 err, errlen);
    return config_option_set(in->ops->options, in->priv, key, value, w, err,
                             errlen);
}

int adapter_instance_init(struct adapter_instance *in, char *err, size_t errlen)
{
    int rc;

    snprintf(in->hook_url, sizeof(in->hook_url), "%s/hooks/%s",
             in->common.public_url, in->ops->name);
    if (!in->ops->build_request || !in->ops->parse_response) {
        snprintf(err, errlen, "%s: adapter lacks required operations",
                 in->ops->name);
        return RELAY_ECONFIG;
    }
    if (in->ops->init) {
        rc = in->ops->init(in->priv, err, errlen);
        if (rc < 0)
            return rc;
    }
    in->inited = 1;
    return RELAY_OK;
}

void adapter_instance_dump(const struct adapter_instance *in, FILE *out)
{
    fprintf(out, "# adapter %s (keys are written %s.<key>)\n", in->ops->name,
            in->ops->name);
    config_options_dump(common_options, &in->common, out);
    if (in->ops->options)
        config_options_dump(in->ops->options, in->priv, out);
}

void adapter_instance_destroy(struct adapter_instance *in)
{
    if (!in)
        return;
    if (in->inited && in->ops->cleanup)
        in->ops->cleanup(in->priv);
    if (in->priv) {
        sodium_memzero(in->priv, in->ops->priv_size);
        free(in->priv);
    }
    free(in);
}

/* ---- Config glue ------------------------------------------------------- */

/* Splits "NAME.OPTION" into name (cap bytes) and a pointer to OPTION. */
static const char *split_key(const char *key, char *name, size_t cap)
{
    const char *dot = strchr(key, '.');

    if (!dot || dot == key || (size_t)(dot - key) >= cap || dot[1] == '\0')
        return NULL;
    memcpy(name, key, (size_t)(dot - key));
    name[dot - key] = '\0';
    return dot + 1;
}

int adapter_key_valid(const char *key)
{
    char name[ADAPTER_NAME_MAX + 1];
    const char *opt = key ? split_key(key, name, sizeof(name)) : NULL;
    const struct adapter_ops *ops = opt ? adapter_find(name) : NULL;

    return ops && (has_key(common_options, opt) || has_key(ops->options, opt));
}

void adapter_set_destroy(struct adapter_set *s)
{
    for (int i = 0; i < s->n; i++)
        adapter_instance_destroy(s->in[i]);
    memset(s, 0, sizeof(*s));
}

static struct adapter_instance *set_find(struct adapter_set *s,
                                         const char *name)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->in[i]->ops->name, name) == 0)
            return s->in[i];
    }
    return NULL;
}

int adapter_set_build(struct adapter_set *s, const char *const *names,
                      int nnames, const char *const *lines, int nlines,
                      const char *where, char *err, size_t errlen)
{
    const char *w = where ? where : "config";
    int rc = RELAY_ECONFIG;

    memset(s, 0, sizeof(*s));
    for (int i = 0; i < nnames; i++) {
        struct adapter_instance *in;

        if (set_find(s, names[i])) {
            snprintf(err, errlen, "%s: adapter '%s' enabled twice", w,
                     names[i]);
            goto fail;
        }
        if (s->n == ADAPTER_SET_MAX) {
            snprintf(err, errlen, "%s: more than %d adapters", w,
                     ADAPTER_SET_MAX);
            goto fail;
        }
        in = adapter_instance_create(names[i]);
        if (!in) {
            snprintf(err, errlen, "%s: adapter: unknown adapter '%s'", w,
                     names[i]);
            goto fail;
        }
        s->in[s->n++] = in;
    }
    for (int i = 0; i < nlines; i++) {
        char key[CONFIG_STR_MAX], name[ADAPTER_NAME_MAX + 1];
        const char *sp = strchr(lines[i], ' '), *opt, *value;
        struct adapter_instance *in;
        size_t n = sp ? (size_t)(sp - lines[i]) : strlen(lines[i]);

        if (n >= sizeof(key))
            n = sizeof(key) - 1;
        memcpy(key, lines[i], n);
        key[n] = '\0';
        value = sp ? sp + 1 : "";
        while (*value == ' ')
            value++;
        opt = split_key(key, name, sizeof(name));
        in = opt ? set_find(s, name) : NULL;
        if (!in) {
            snprintf(err, errlen,
                     "%s: %s: adapter not enabled (add 'adapter %s')", w, key,
                     opt ? name : key);
            goto fail;
        }
        if (adapter_instance_set(in, opt, value, w, err, errlen) < 0)
            goto fail;
    }
    for (int i = 0; i < s->n; i++) {
        char why[CONFIG_ERR_MAX];

        if (adapter_instance_init(s->in[i], why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s: %s", w, why);
            goto fail;
        }
    }
    return RELAY_OK;
fail:
    adapter_set_destroy(s);
    return rc;
}

/* ---- String building -------------------------------------------------- */

static int buf_reserve(struct adapter_buf *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->oom)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    p = malloc(cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    /* copy and wipe instead of realloc: the old block may hold secrets */
    if (b->p) {
        memcpy(p, b->p, b->len);
        sodium_memzero(b->p, b->cap);
        free(b->p);
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void adapter_buf_add(struct adapter_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void adapter_buf_adds(struct adapter_buf *b, const char *s)
{
    adapter_buf_add(b, s, strlen(s));
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

void adapter_buf_add_enc(struct adapter_buf *b, const char *s, size_t n)
{
    static const char hexd[] = "0123456789ABCDEF";

    if (buf_reserve(b, 3 * n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (unreserved(c)) {
            b->p[b->len++] = (char)c;
        } else {
            b->p[b->len++] = '%';
            b->p[b->len++] = hexd[c >> 4];
            b->p[b->len++] = hexd[c & 15];
        }
    }
    b->p[b->len] = '\0';
}

void adapter_buf_add_param(struct adapter_buf *b, const char *name,
                           const char *value)
{
    if (b->len > 0)
        adapter_buf_add(b, "&", 1);
    adapter_buf_add_enc(b, name, strlen(name));
    adapter_buf_add(b, "=", 1);
    adapter_buf_add_enc(b, value, strlen(value));
}

char *adapter_buf_take(struct adapter_buf *b, size_t *len)
{
    char *p = b->p;

    if (b->oom || !p) {
        adapter_buf_free(b);
        return NULL;
    }
    if (len)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return p;
}

void adapter_buf_free(struct adapter_buf *b)
{
    if (b->p) {
        sodium_memzero(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof(*b));
}

/* ---- Parsing ---------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into out (cap bytes with NUL). */
static int form_decode(const char *s, size_t n, char *out, size_t cap,
                       size_t *outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;

            if (i + 2 >= n)
                return RELAY_EINVAL;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return RELAY_EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0')
            return RELAY_EINVAL;
        if (o + 1 >= cap)
            return RELAY_ETOOBIG;
        out[o++] = c;
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return RELAY_OK;
}

void adapter_form_begin(struct adapter_form_iter *it, const char *s, size_t len)
{
    it->p = s;
    it->end = s ? s + len : s;
}

int adapter_form_next(struct adapter_form_iter *it, char *name, size_t name_cap,
                      char *value, size_t value_cap, size_t *value_len)
{
    while (it->p && it->p < it->end) {
        const char *amp = memchr(it->p, '&', (size_t)(it->end - it->p));
        const char *stop = amp ? amp : it->end;
        const char *eq = memchr(it->p, '=', (size_t)(stop - it->p));
        const char *p = it->p;
        int rc;

        it->p = amp ? amp + 1 : it->end;
        if (stop == p)
            continue; /* "&&" */
        if (!eq)
            eq = stop;
        rc = form_decode(p, (size_t)(eq - p), name, name_cap, NULL);
        if (rc < 0)
            return rc;
        rc = form_decode(eq < stop ? eq + 1 : stop,
                         eq < stop ? (size_t)(stop - eq - 1) : 0, value,
                         value_cap, value_len);
        if (rc < 0)
            return rc;
        return 1;
    }
    return 0;
}

int adapter_form_get(const char *s, size_t len, const char *key, char *value,
                     size_t value_cap, size_t *value_len)
{
    struct adapter_form_iter it;
    char name[64];
    int rc, toobig = 0;

    adapter_form_begin(&it, s, len);
    for (;;) {
        rc = adapter_form_next(&it, name, sizeof(name), value, value_cap,
                               value_len);
        if (rc == RELAY_ETOOBIG) {
            /* maybe a long value under another name: go on looking */
            toobig = 1;
            continue;
        }
        if (rc == 0)
            return toobig ? RELAY_ETOOBIG : RELAY_ENOTFOUND;
        if (rc < 0)
            return rc;
        if (strcmp(name, key) == 0)
            return RELAY_OK;
    }
}

const char *adapter_query(const char *path)
{
    const char *q = strchr(path, '?');

    return q ? q + 1 : "";
}

int adapter_path_is(const char *path, const char *name, const char *leaf)
{
    size_t nn = strlen(name), nl = strlen(leaf);

    if (strncmp(path, "/hooks/", 7) != 0)
        return 0;
    path += 7;
    if (strncmp(path, name, nn) != 0 || path[nn] != '/')
        return 0;
    path += nn + 1;
    return strncmp(path, leaf, nl) == 0 &&
           (path[nl] == '\0' || path[nl] == '?');
}

int adapter_header_get(const char *const *headers, int nheaders,
                       const char *name, char *out, size_t outlen)
{
    size_t nn = strlen(name);

    for (int i = 0; i < nheaders; i++) {
        const char *h = headers[i], *v, *e;

        if (!h || strncasecmp(h, name, nn) != 0 || h[nn] != ':')
            continue;
        v = h + nn + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        e = v + strlen(v);
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - v) + 1 > outlen)
            return RELAY_ETOOBIG;
        memcpy(out, v, (size_t)(e - v));
        out[e - v] = '\0';
        return RELAY_OK;
    }
    return RELAY_ENOTFOUND;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    long long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int parse_uint(const char *s, size_t n, long long *out)
{
    long long v = 0;

    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

long adapter_retry_after(const char *value, long long now)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    long long d, y, hh, mm, ss, t;
    const char *m;
    size_t n;

    if (!value)
        return -1;
    n = strlen(value);
    if (parse_uint(value, n, &d) == 0)
        return d > 86400 ? 86400 : (long)d;
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (n != 29 || value[3] != ',' || value[4] != ' ' || value[7] != ' ' ||
        value[11] != ' ' || value[16] != ' ' || value[19] != ':' ||
        value[22] != ':' || strcmp(value + 25, " GMT") != 0)
        return -1;
    if (parse_uint(value + 5, 2, &d) < 0 || parse_uint(value + 12, 4, &y) < 0 ||
        parse_uint(value + 17, 2, &hh) < 0 ||
        parse_uint(value + 20, 2, &mm) < 0 ||
        parse_uint(value + 23, 2, &ss) < 0)
        return -1;
    m = NULL;
    for (int i = 0; i < 12; i++) {
        if (strncmp(months + 3 * i, value + 8, 3) == 0)
            m = months + 3 * i;
    }
    if (!m || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
        return -1;
    t = days_from_civil(y, (unsigned)((m - months) / 3 + 1), (unsigned)d) *
            86400 +
        hh * 3600 + mm * 60 + ss;
    if (t <= now)
        return 0;
    return t - now > 86400 ? 86400 : (long)(t - now);
}

int adapter_id_valid(const char *id)
{
    size_t n = 0;

    if (!id)
        return 0;
    for (; id[n]; n++) {
        char c = id[n];

        if (n >= ADAPTER_ID_MAX ||
            !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

int adapter_str_equal(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);

    if (na != nb)
        return 0;
    return sodium_memcmp(a, b, na) == 0;
}

int adapter_read_secret(const char *path, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    char buf[ADAPTER_SECRET_MAX + 2];
    size_t n, start = 0;
    FILE *f;

    if (!path || *path == '\0') {
        snprintf(err, errlen, "secret file not configured");
        return RELAY_ECONFIG;
    }
    f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read secret file '%s'", path);
        return RELAY_ECONFIG;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (start < n && (buf[start] == ' ' || buf[start] == '\t' ||
                         buf[start] == '\n' || buf[start] == '\r'))
        start++;
    while (n > start && (buf[n - 1] == ' ' || buf[n - 1] == '\t' ||
                         buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == start || n - start > ADAPTER_SECRET_MAX ||
        n - start + 1 > outlen || memchr(buf + start, '\0', n - start)) {
        sodium_memzero(buf, sizeof(buf));
        snprintf(err, errlen, "secret file '%s' is empty or too long", path);
        return RELAY_ECONFIG;
    }
    memcpy(out, buf + start, n - start);
    out[n - start] = '\0';
    sodium_memzero(buf, sizeof(buf));
    return RELAY_OK;
}

/* ---- Shared by the chat adapters ----------------------------------------- */

const char *adapter_kind_header(const char *kind)
{
    static const struct {
        const char *kind, *header;
    } map[] = {
        {"appeal", "Politie-oproep"},
        {"approval", "Politie-oproep"},
        {"update", "Update politie-oproep"},
        {"closing", "Afgesloten"},
        {"status", "Uw melding"},
        {"notice", "Bericht"},
        {"test", "Test"},
    };

    for (size_t i = 0; kind && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(kind, map[i].kind) == 0)
            return map[i].header;
    }
    return "Bericht";
}

size_t adapter_utf8_count(const char *s, size_t n)
{
    size_t count = 0;

    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

void adapter_buf_add_json(struct adapter_buf *b, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        adapter_buf_add(b, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hexd[c >> 4];
            esc[5] = hexd[c & 15];
            elen = 6;
            break;
        }
        adapter_buf_add(b, esc, elen);
    }
    adapter_buf_add(b, s + run, n - run);
}

static void json_wipe(cJSON *node)
{
    for (; node; node = node->next) {
        if (node->valuestring)
            sodium_memzero(node->valuestring, strlen(node->valuestring));
        if (node->string)
            sodium_memzero(node->string, strlen(node->string));
        json_wipe(node->child);
    }
}

void adapter_json_wipe_delete(struct cJSON *root)
{
    json_wipe(root);
    cJSON_Delete(root);
}
