/*
 * fuzz_webhook_whatsapp.c - adapters/whatsapp.c on arbitrary input: its
 * webhook parser (the GET handshake and signed JSON notifications) and
 * its request builder (markup neutralising, template cleaning, JSON
 * escaping).
 *
 * Input: byte 0 picks the mode. Bit 3 set: the rest is a message text
 * for build_request (bit 4: session open, i.e. the free-text shape;
 * bit 5: urgent). Otherwise a webhook: bit 0 POST/GET, bit 1 this target
 * signs the body correctly itself (so the parsing behind the signature
 * check is reached); then the path up to the first '\n', one header line
 * up to the next '\n', and the body. The app secret is APP_SECRET, the
 * verify token VTOKEN and the phone-number-id PNID (seeds carry them).
 *
 * Invariants (abort() = a finding):
 *   webhooks: the result is RELAY_OK, EAUTH, EINVAL, ENOTFOUND (ENOMEM
 *   tolerated) and a failure fills nothing; a POST is accepted only when
 *   signed (by us, or the header line names X-Hub-Signature-256), and
 *   the same request with one body byte changed is then refused
 *   (differential signature check); a GET is accepted only with the
 *   verify token and echoes 1..128 letters and digits; a STATUS names a
 *   printable wamid and a real state, no delivery id; an MO has an E.164
 *   sender, UTF-8 text of text_len bytes and a message id.
 *   requests: accepted exactly when the text is UTF-8 without NUL of at
 *   most max_text_chars code points; the body is strict JSON with the
 *   number without '+'; a template parameter holds no line break, tab
 *   or more than four spaces in a row, and never has more code points
 *   than the input; a text body is "*header*\n" and exactly as many
 *   code points as the input after it. No leaks (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "adapter.h"
#include "error.h"
#include "json_strict.h"
#include "pii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define APP_SECRET "fuzz-app-secret-0123456789abcdef"
#define VTOKEN "fuzz_verify_token"
#define PNID "106540352242922"

static struct adapter_instance *wa;

static void secret_file(char *path, size_t n, const char *content)
{
    int fd;

    snprintf(path, n, "/tmp/fuzz_webhook_whatsapp_XXXXXX");
    fd = mkstemp(path);
    if (fd < 0 || write(fd, content, strlen(content)) < 0)
        abort();
    close(fd);
}

static void init_once(void)
{
    char tok[64], sec[64], ver[64], err[256];
    const char *kv[][2] = {
        {"phone-number-id", PNID},
        {"access-token-file", tok},
        {"app-secret-file", sec},
        {"verify-token-file", ver},
    };

    if (wa)
        return;
    if (sodium_init() < 0)
        abort();
    secret_file(tok, sizeof(tok), "fuzz-access-token");
    secret_file(sec, sizeof(sec), APP_SECRET);
    secret_file(ver, sizeof(ver), VTOKEN);
    wa = adapter_instance_create("whatsapp");
    if (!wa)
        abort();
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (adapter_instance_set(wa, kv[i][0], kv[i][1], "fuzz", err,
                                 sizeof(err)) < 0)
            abort();
    }
    if (adapter_instance_init(wa, err, sizeof(err)) < 0)
        abort();
    unlink(tok);
    unlink(sec);
    unlink(ver);
}

static size_t code_points(const char *s, size_t n)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static void sign(const char *body, size_t len, char *out, size_t outlen)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * sizeof(mac) + 1];

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)APP_SECRET,
                                strlen(APP_SECRET));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, outlen, "X-Hub-Signature-256: sha256=%s", hex);
}

static int event_empty(const struct adapter_event *ev)
{
    static const struct adapter_event zero;

    return memcmp(ev, &zero, sizeof(zero)) == 0;
}

/* The header line is (another) X-Hub-Signature-256. */
static int names_signature(const char *header)
{
    return strncasecmp(header, "X-Hub-Signature-256:", 20) == 0;
}

/* The query carries hub.verify_token = VTOKEN (after decoding). */
static int token_given(const char *path)
{
    const char *q = adapter_query(path);
    char token[512];

    return adapter_form_get(q, strlen(q), "hub.verify_token", token,
                            sizeof(token), NULL) == RELAY_OK &&
           strcmp(token, VTOKEN) == 0;
}

static void check_event(const struct adapter_event *ev, int is_get)
{
    size_t n = 0;

    if (!ev->reply_body || !ev->reply_type || ev->http_status != 200 ||
        ev->delivery_id[0] != '\0')
        abort();
    if (is_get) {
        if (ev->type != ADAPTER_EVENT_NONE || ev->reply_body != ev->reply_buf)
            abort();
        for (; ev->reply_buf[n]; n++) {
            char c = ev->reply_buf[n];

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                  (c >= 'A' && c <= 'Z')))
                abort();
        }
        if (n == 0 || n > 128)
            abort();
        return;
    }
    if (ev->reply_body[0] != '\0')
        abort();
    if (ev->type == ADAPTER_EVENT_STATUS) {
        for (; ev->provider_id[n]; n++) {
            if ((unsigned char)ev->provider_id[n] <= ' ' ||
                (unsigned char)ev->provider_id[n] >= 0x7f)
                abort();
        }
        if (n == 0 || ev->text ||
            (ev->state != ADAPTER_STATE_SENT &&
             ev->state != ADAPTER_STATE_DELIVERED &&
             ev->state != ADAPTER_STATE_READ &&
             ev->state != ADAPTER_STATE_FAILED) ||
            (ev->error[0] && strncmp(ev->error, "wa_", 3) != 0))
            abort();
    } else if (ev->type == ADAPTER_EVENT_MO) {
        if (!pii_phone_valid(ev->from) || !ev->text ||
            strlen(ev->text) != ev->text_len ||
            !utf8_valid(ev->text, ev->text_len) || !ev->provider_id[0])
            abort();
    } else if (ev->type != ADAPTER_EVENT_NONE || ev->text) {
        abort();
    }
}

/* The text the request carries: text.body or the second parameter. */
static const cJSON *carried_text(const cJSON *root, int open)
{
    const cJSON *v;

    if (open)
        return cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "text"), "body");
    v = cJSON_GetObjectItemCaseSensitive(root, "template");
    v = cJSON_GetObjectItemCaseSensitive(v, "components");
    v = cJSON_GetArrayItem(v, 0);
    v = cJSON_GetObjectItemCaseSensitive(v, "parameters");
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(v, 1), "text");
}

static void fuzz_build(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int open = (data[0] & 0x10) != 0;
    struct adapter_msg msg = {
        .delivery_id = "d1",
        .to = "+31612345678",
        .text = text,
        .text_len = len,
        .hook_url = "https://relay.example.nl/hooks/whatsapp",
        .kind = "appeal",
        .urgent = (data[0] & 0x20) != 0,
        .session_open = open,
    };
    struct adapter_request req = {0};
    int valid = len > 0 && !memchr(text, '\0', len) && utf8_valid(text, len) &&
                code_points(text, len) <= wa->ops->max_text_chars;
    int rc = wa->ops->build_request(wa->priv, &msg, &req);
    const char *why = NULL;
    const cJSON *to, *t;
    cJSON *root;
    size_t n, in_cp = valid ? code_points(text, len) : 0;

    if (rc == RELAY_ENOMEM)
        return;
    if ((rc == RELAY_OK) != valid || (rc != RELAY_OK && rc != RELAY_EINVAL))
        abort();
    if (rc != RELAY_OK) {
        if (req.body || req.url || req.headers[0])
            abort();
        return;
    }
    root = json_strict_parse(req.body, req.body_len, 8, &why);
    if (!root)
        abort();
    to = cJSON_GetObjectItemCaseSensitive(root, "to");
    t = carried_text(root, open);
    if (!cJSON_IsString(to) || strcmp(to->valuestring, "31612345678") != 0 ||
        !cJSON_IsString(t))
        abort();
    n = strlen(t->valuestring);
    if (open) {
        const char *nl = strstr(t->valuestring, "*\n");

        if (t->valuestring[0] != '*' || !nl ||
            code_points(nl + 2, n - (size_t)(nl + 2 - t->valuestring)) != in_cp)
            abort();
    } else {
        if (strpbrk(t->valuestring, "\r\n\t") ||
            strstr(t->valuestring, "     ") ||
            strstr(t->valuestring, "\xE2\x80\xA8") ||
            code_points(t->valuestring, n) > in_cp)
            abort();
    }
    cJSON_Delete(root);
    adapter_request_cleanup(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[1024], header[1024], url[1100], sighdr[128];
    const char *headers[2];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    const char *nl;
    struct adapter_webhook_req req;
    struct adapter_event ev;
    int rc, nheaders = 0, signed_by_us = 0, is_get;
    size_t n, body_len;

    if (size < 1)
        return 0;
    init_once();
    if (data[0] & 0x08) {
        fuzz_build(data, size);
        return 0;
    }
    nl = memchr(p, '\n', (size_t)(end - p));
    n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (n >= sizeof(path) || memchr(p, '\0', n))
        return 0;
    memcpy(path, p, n);
    path[n] = '\0';
    p = nl ? nl + 1 : end;
    nl = memchr(p, '\n', (size_t)(end - p));
    n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (n >= sizeof(header) || memchr(p, '\0', n))
        return 0;
    memcpy(header, p, n);
    header[n] = '\0';
    p = nl ? nl + 1 : end;
    body_len = (size_t)(end - p);
    if (header[0])
        headers[nheaders++] = header;
    if (data[0] & 2) {
        sign(p, body_len, sighdr, sizeof(sighdr));
        headers[nheaders++] = sighdr;
        signed_by_us = 1;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:8080%s", path);
    is_get = !(data[0] & 1);
    memset(&req, 0, sizeof(req));
    req.method = is_get ? "GET" : "POST";
    req.path = path;
    req.url = url;
    req.headers = headers;
    req.nheaders = nheaders;
    req.body = p;
    req.body_len = body_len;
    rc = wa->ops->parse_webhook(wa->priv, &req, &ev);
    if (rc != RELAY_OK && rc != RELAY_EAUTH && rc != RELAY_EINVAL &&
        rc != RELAY_ENOTFOUND && rc != RELAY_ENOMEM)
        abort();
    if (rc != RELAY_OK) {
        if (!event_empty(&ev))
            abort();
        return 0;
    }
    if (is_get && !token_given(path))
        abort();
    if (!is_get && !signed_by_us && !names_signature(header))
        abort();
    check_event(&ev, is_get);
    adapter_event_cleanup(&ev);
    if (!is_get && signed_by_us && body_len > 0) {
        /* the same signature over a body with one byte changed */
        char *copy = malloc(body_len);
        size_t at = size % body_len;

        if (!copy)
            return 0;
        memcpy(copy, p, body_len);
        copy[at] = (char)(copy[at] ^ (1 + data[0] % 255));
        req.body = copy;
        rc = wa->ops->parse_webhook(wa->priv, &req, &ev);
        if (rc == RELAY_OK && !names_signature(header))
            abort();
        adapter_event_cleanup(&ev);
        free(copy);
    }
    return 0;
}
