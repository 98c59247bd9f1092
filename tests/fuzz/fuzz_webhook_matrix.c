/*
 * fuzz_webhook_matrix.c - adapters/matrix.c on arbitrary input: pushed
 * application-service transactions first, and the two other parsers of
 * untrusted bytes (homeserver responses, and what build_request makes of
 * odd room ids and texts).
 *
 * Input: byte 0 picks the mode (bits 0-1) and the method (bit 2: PUT or
 * POST). Then lines up to '\n', then the rest:
 *   mode 0: webhook, path, one header line, body
 *   mode 1: webhook as mode 0 plus the right Authorization header added
 *           by this target, so the parsing behind the check is reached
 *   mode 2: response, status 100 + 2 * byte 1 + bit 2 of byte 0, a
 *           Retry-After line, body
 *   mode 3: build_request, room id line, kind line, text (byte 1 bit 0:
 *           urgent)
 * The hs_token is "fuzz-hs-token-0123456789" (seeds carry it), the bot
 * "@bot:example.org".
 *
 * Invariants (abort() = a finding): results are documented codes only;
 * a webhook is accepted only with the hs_token somewhere in it; a refused
 * one fills nothing; an MO event has a sender, a room, text of text_len
 * bytes in valid UTF-8 without NUL, and is never the bot's own; a verdict
 * is SENT exactly for 2xx; errors and waits are bounded; a built request
 * is a PUT whose body is strict JSON within the event size budget; no
 * leaks (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "adapter.h"
#include "error.h"
#include "json_strict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HS_TOKEN "fuzz-hs-token-0123456789"
#define BOT "@bot:example.org"
#define HS "http://127.0.0.1:9"

static struct adapter_instance *matrix;

static void secret_file(char *path, size_t n, const char *content)
{
    int fd;

    snprintf(path, n, "/tmp/fuzz_webhook_matrix_XXXXXX");
    fd = mkstemp(path);
    if (fd < 0 || write(fd, content, strlen(content)) < 0)
        abort();
    close(fd);
}

static void init_once(void)
{
    char tok[64], hs[64], err[256];
    const char *kv[][2] = {
        {"homeserver-url", HS},
        {"access-token-file", tok},
        {"hs-token-file", hs},
        {"user-id", BOT},
    };

    if (matrix)
        return;
    secret_file(tok, sizeof(tok), "fuzz-access-token");
    secret_file(hs, sizeof(hs), HS_TOKEN);
    matrix = adapter_instance_create("matrix");
    if (!matrix)
        abort();
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (adapter_instance_set(matrix, kv[i][0], kv[i][1], "fuzz", err,
                                 sizeof(err)) < 0)
            abort();
    }
    if (adapter_instance_init(matrix, err, sizeof(err)) < 0)
        abort();
    unlink(tok);
    unlink(hs);
}

/* Copies the next line (up to '\n' or the end) into out; 0 when it does
 * not fit or holds a NUL. */
static int next_line(const char **p, const char *end, char *out, size_t cap)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);

    if (n >= cap || memchr(*p, '\0', n))
        return 0;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p = nl ? nl + 1 : end;
    return 1;
}

static void fuzz_webhook(const char *p, const char *end, int method_put,
                         int add_auth)
{
    char path[1024], header[1024];
    const char *headers[2];
    struct adapter_webhook_req req;
    struct adapter_event ev;
    int rc, nheaders = 0;

    if (!next_line(&p, end, path, sizeof(path)) ||
        !next_line(&p, end, header, sizeof(header)))
        return;
    if (header[0])
        headers[nheaders++] = header;
    if (add_auth)
        headers[nheaders++] = "Authorization: Bearer " HS_TOKEN;
    memset(&req, 0, sizeof(req));
    req.method = method_put ? "PUT" : "POST";
    req.path = path;
    req.url = path;
    req.headers = headers;
    req.nheaders = nheaders;
    req.body = p;
    req.body_len = (size_t)(end - p);
    memset(&ev, 0x5a, sizeof(ev));
    rc = matrix->ops->parse_webhook(matrix->priv, &req, &ev);
    if (rc != RELAY_OK && rc != RELAY_EAUTH && rc != RELAY_EINVAL &&
        rc != RELAY_ENOTFOUND && rc != RELAY_ENOMEM)
        abort();
    if (rc != RELAY_OK) {
        if (ev.type != ADAPTER_EVENT_NONE || ev.text || ev.from[0])
            abort();
        return;
    }
    if (!add_auth && !strstr(header, HS_TOKEN) && !strstr(path, HS_TOKEN))
        abort();
    if (ev.http_status != 200 || !ev.reply_type || !ev.reply_body ||
        strcmp(ev.reply_body, "{}") != 0)
        abort();
    if (ev.type == ADAPTER_EVENT_MO) {
        if (!ev.text || strlen(ev.text) != ev.text_len ||
            !utf8_valid(ev.text, ev.text_len) || ev.from[0] != '@' ||
            ev.chat[0] != '!' || strcmp(ev.from, BOT) == 0 ||
            (ev.provider_id[0] && ev.provider_id[0] != '$') ||
            (ev.reply_to[0] && ev.reply_to[0] != '$'))
            abort();
    } else if (ev.type != ADAPTER_EVENT_NONE || ev.text) {
        abort();
    }
    adapter_event_cleanup(&ev);
}

static void fuzz_response(const char *p, const char *end, unsigned char b,
                          int odd)
{
    char retry_after[128];
    struct adapter_result r;
    long status = 100 + 2 * (long)b + (odd ? 1 : 0);

    if (!next_line(&p, end, retry_after, sizeof(retry_after)))
        return;
    memset(&r, 0x5a, sizeof(r));
    if (matrix->ops->parse_response(matrix->priv, status, p, (size_t)(end - p),
                                    retry_after[0] ? retry_after : NULL,
                                    &r) != RELAY_OK)
        abort();
    if ((r.verdict == ADAPTER_SENT) != (status >= 200 && status < 300))
        abort();
    if (r.verdict != ADAPTER_SENT && r.verdict != ADAPTER_RETRY &&
        r.verdict != ADAPTER_FAILED)
        abort();
    if (memchr(r.error, '\0', sizeof(r.error)) == NULL ||
        memchr(r.provider_id, '\0', sizeof(r.provider_id)) == NULL ||
        r.retry_after_s < -1 || r.retry_after_s > 86400)
        abort();
    if (r.verdict == ADAPTER_SENT ? r.error[0] != '\0' : r.error[0] == '\0')
        abort();
}

static void fuzz_build(const char *p, const char *end, unsigned char b)
{
    char room[512], kind[64];
    struct adapter_request req = {0};
    struct adapter_msg msg;
    const char *why = NULL;
    cJSON *root;
    int rc;

    if (!next_line(&p, end, room, sizeof(room)) ||
        !next_line(&p, end, kind, sizeof(kind)))
        return;
    memset(&msg, 0, sizeof(msg));
    msg.delivery_id = "fuzz-d1";
    msg.to = room;
    msg.text = p;
    msg.text_len = (size_t)(end - p);
    msg.kind = kind;
    msg.urgent = b & 1;
    msg.hook_url = matrix->hook_url;
    rc = matrix->ops->build_request(matrix->priv, &msg, &req);
    if (rc != RELAY_OK) {
        if ((rc != RELAY_EINVAL && rc != RELAY_ENOMEM) || req.url || req.body)
            abort();
        return;
    }
    if (strcmp(req.method, "PUT") != 0 ||
        strncmp(req.url, HS "/_matrix/client/v3/rooms/%21",
                sizeof(HS "/_matrix/client/v3/rooms/%21") - 1) != 0 ||
        strchr(req.url + strlen(HS), '?') || req.body_len > 65536 - 8192 ||
        strlen(req.body) != req.body_len)
        abort();
    root = json_strict_parse(req.body, req.body_len, 4, &why);
    if (!root ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "body")) ||
        !cJSON_IsString(
            cJSON_GetObjectItemCaseSensitive(root, "formatted_body")))
        abort();
    cJSON_Delete(root);
    adapter_request_cleanup(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = (const char *)data + size;

    if (size < 2)
        return 0;
    init_once();
    switch (data[0] & 3) {
    case 0:
    case 1:
        fuzz_webhook(p + 1, end, data[0] & 4, data[0] & 1);
        break;
    case 2:
        fuzz_response(p + 2, end, data[1], data[0] & 4);
        break;
    default:
        fuzz_build(p + 2, end, data[1]);
        break;
    }
    return 0;
}
