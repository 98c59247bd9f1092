/*
 * fuzz_webhooks.c - the adapters' webhook parsers on arbitrary requests.
 *
 * Input: byte 0 picks the adapter (bit 0: kannel/twilio), the method
 * (bit 1: GET/POST) and, for Twilio, whether this target signs the
 * request correctly itself (bit 2) so the parsing behind the signature
 * check is reached too. Then: the path up to the first '\n', one header
 * line up to the next '\n', and the body. The Kannel token is
 * "fuzztoken_0123456789" (seeds carry it).
 *
 * Invariants (abort() = a finding): the result is one of RELAY_OK,
 * RELAY_EAUTH, RELAY_EINVAL, RELAY_ENOTFOUND (RELAY_ENOMEM tolerated);
 * an unsigned Twilio request is never accepted; an accepted STATUS event
 * has a valid delivery id and a real state; an MO event has an E.164
 * sender and text of text_len bytes; no leaks (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "adapter.h"
#include "error.h"
#include "hmac_sha1.h"
#include "pii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KTOKEN "fuzztoken_0123456789"
#define TTOKEN "twilio-fuzz-token"

static struct adapter_instance *kannel, *twilio;

static void secret_file(char *path, size_t n, const char *content)
{
    int fd;

    snprintf(path, n, "/tmp/fuzz_webhooks_XXXXXX");
    fd = mkstemp(path);
    if (fd < 0 || write(fd, content, strlen(content)) < 0)
        abort();
    close(fd);
}

static struct adapter_instance *make(const char *name, const char *const *kv,
                                     size_t n)
{
    struct adapter_instance *in = adapter_instance_create(name);
    char err[256];

    if (!in)
        abort();
    for (size_t i = 0; i < n; i += 2) {
        if (adapter_instance_set(in, kv[i], kv[i + 1], "fuzz", err,
                                 sizeof(err)) < 0)
            abort();
    }
    if (adapter_instance_init(in, err, sizeof(err)) < 0)
        abort();
    return in;
}

static void init_once(void)
{
    char pw[64], tok[64], tw[64];

    if (kannel)
        return;
    secret_file(pw, sizeof(pw), "pw");
    secret_file(tok, sizeof(tok), KTOKEN);
    secret_file(tw, sizeof(tw), TTOKEN);
    {
        const char *kv[] = {"password-file", pw, "webhook-token-file", tok};

        kannel = make("kannel", kv, 4);
    }
    {
        const char *kv[] = {"auth-token-file", tw,     "account-sid",
                            "ACfuzz",          "from", "+3197010000001"};

        twilio = make("twilio", kv, 6);
    }
    unlink(pw);
    unlink(tok);
    unlink(tw);
}

/* The signature Twilio would send for this request (parameters sorted by
 * name, a stable sort; see twilio.c). Empty when the body will not
 * parse. */
static void sign(const char *url, const char *body, size_t len, char *out,
                 size_t outlen)
{
    struct adapter_form_iter it;
    struct {
        char name[128];
        char value[512];
        size_t vlen;
    } *p = calloc(64, sizeof(*p));
    int n = 0, rc;
    struct hmac_sha1_state s;
    unsigned char mac[SHA1_BYTES];

    out[0] = '\0';
    if (!p)
        return;
    adapter_form_begin(&it, body, len);
    while (n < 64 && (rc = adapter_form_next(&it, p[n].name, sizeof(p[n].name),
                                             p[n].value, sizeof(p[n].value),
                                             &p[n].vlen)) == 1)
        n++;
    if (rc != 0 && n < 64) {
        free(p);
        return;
    }
    /* insertion sort: stable */
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0 && strcmp(p[j - 1].name, p[j].name) > 0; j--) {
            char tmp[sizeof(*p)];

            memcpy(tmp, &p[j], sizeof(*p));
            memcpy(&p[j], &p[j - 1], sizeof(*p));
            memcpy(&p[j - 1], tmp, sizeof(*p));
        }
    }
    hmac_sha1_init(&s, TTOKEN, strlen(TTOKEN));
    hmac_sha1_update(&s, url, strlen(url));
    for (int i = 0; i < n; i++) {
        hmac_sha1_update(&s, p[i].name, strlen(p[i].name));
        hmac_sha1_update(&s, p[i].value, p[i].vlen);
    }
    hmac_sha1_final(&s, mac);
    sodium_bin2base64(out, outlen, mac, sizeof(mac),
                      sodium_base64_VARIANT_ORIGINAL);
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[1024], header[1024], url[1100], sighdr[128];
    const char *headers[2];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    const char *nl;
    struct adapter_webhook_req req;
    struct adapter_event ev;
    struct adapter_instance *in;
    int rc, nheaders = 0, signed_by_us = 0;
    size_t n;

    if (size < 1)
        return 0;
    init_once();
    in = (data[0] & 1) ? twilio : kannel;
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
    if (header[0])
        headers[nheaders++] = header;
    snprintf(url, sizeof(url), "http://127.0.0.1:8080%s", path);
    if (in == twilio && (data[0] & 4)) {
        char sig[64];

        sign(url, p, (size_t)(end - p), sig, sizeof(sig));
        snprintf(sighdr, sizeof(sighdr), "X-Twilio-Signature: %s", sig);
        headers[nheaders++] = sighdr;
        signed_by_us = sig[0] != '\0';
    }
    memset(&req, 0, sizeof(req));
    req.method = (data[0] & 2) ? "POST" : "GET";
    req.path = path;
    req.url = url;
    req.headers = headers;
    req.nheaders = nheaders;
    req.body = p;
    req.body_len = (size_t)(end - p);
    rc = in->ops->parse_webhook(in->priv, &req, &ev);
    if (rc != RELAY_OK && rc != RELAY_EAUTH && rc != RELAY_EINVAL &&
        rc != RELAY_ENOTFOUND && rc != RELAY_ENOMEM)
        abort();
    if (rc == RELAY_OK) {
        if (in == twilio && !signed_by_us &&
            !strstr(header, "X-Twilio-Signature") &&
            !strstr(header, "x-twilio-signature"))
            abort();
        if (ev.type == ADAPTER_EVENT_STATUS &&
            (!adapter_id_valid(ev.delivery_id) ||
             ev.state == ADAPTER_STATE_NONE))
            abort();
        if (ev.type == ADAPTER_EVENT_MO &&
            (!pii_phone_valid(ev.from) || !ev.text ||
             strlen(ev.text) != ev.text_len))
            abort();
        if (!ev.reply_body || !ev.reply_type)
            abort();
    }
    adapter_event_cleanup(&ev);
    return 0;
}
