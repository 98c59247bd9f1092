/*
 * fuzz_webhook_telegram.c - adapters/telegram.c on arbitrary input: the
 * webhook parser, the response classifier and, as a round trip, the
 * request builder.
 *
 * Input: byte 0 picks what runs (bits 0-1) and how:
 *   0, 1  parse_webhook. Bit 2: this target adds the right secret header
 *         itself (so the parsing behind the check is reached); bit 3:
 *         POST (else GET). Then: the path up to the first '\n', one
 *         header line up to the next '\n', and the body.
 *   2     parse_response. Bytes 1-2: the status (100..599); then a
 *         Retry-After value up to '\n' (empty: none), then the body.
 *   3     build_request. Byte 1: bits 0-2 the kind, bit 3 urgent, bit 4
 *         to_group, bits 5-6 the parse mode (HTML, MarkdownV2, none).
 *         Then 'to' up to '\n', then the text.
 * The webhook secret is "fuzz_secret-0123" (seeds carry it as a header).
 *
 * Invariants (abort() = a finding):
 *  - webhook: the result is RELAY_OK, RELAY_EAUTH, RELAY_EINVAL,
 *    RELAY_ENOTFOUND or RELAY_ENOMEM; nothing without the right secret
 *    is accepted; an MO event has a positive numeric 'from', a
 *    "{chat}:{message}" provider_id, 'chat' "" or a negative number,
 *    'reply_to' "" or "{chat}:{message}", text of text_len valid UTF-8
 *    bytes; a refused request fills nothing;
 *  - response: RELAY_OK, a real verdict, retry_after_s in -1..86400,
 *    provider_id "" or "{chat}:{message}", an error code only when not
 *    sent;
 *  - request: RELAY_OK or RELAY_EINVAL (RELAY_ENOMEM tolerated); an
 *    accepted body is strict JSON whose "text", its markup removed,
 *    is exactly header + "\n" + the input text, at most 4096 UTF-16
 *    units, and whose chat_id is 'to';
 *  - no leaks (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "adapter.h"
#include "error.h"
#include "json_strict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "fuzz_secret-0123"
#define SECRET_HDR "X-Telegram-Bot-Api-Secret-Token: " SECRET

static struct adapter_instance *inst[3]; /* HTML, MarkdownV2, none */

static void secret_file(char *path, size_t n, const char *content)
{
    int fd;

    snprintf(path, n, "/tmp/fuzz_webhook_telegram_XXXXXX");
    fd = mkstemp(path);
    if (fd < 0 || write(fd, content, strlen(content)) < 0)
        abort();
    close(fd);
}

static void init_once(void)
{
    static const char *const modes[] = {"HTML", "MarkdownV2", "none"};
    char tok[64], sec[64], err[256];

    if (inst[0])
        return;
    secret_file(tok, sizeof(tok), "1234:fuzz_token-ABC");
    secret_file(sec, sizeof(sec), SECRET);
    for (int i = 0; i < 3; i++) {
        struct adapter_instance *in = adapter_instance_create("telegram");

        if (!in ||
            adapter_instance_set(in, "bot-token-file", tok, "fuzz", err,
                                 sizeof(err)) < 0 ||
            adapter_instance_set(in, "webhook-secret-file", sec, "fuzz", err,
                                 sizeof(err)) < 0 ||
            adapter_instance_set(in, "parse-mode", modes[i], "fuzz", err,
                                 sizeof(err)) < 0 ||
            adapter_instance_init(in, err, sizeof(err)) < 0)
            abort();
        inst[i] = in;
    }
    unlink(tok);
    unlink(sec);
}

/* Cuts the next '\n'-terminated line of [*p, end) into out (NUL-free);
 * 0 when it does not fit. */
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

/* "-?[1-9][0-9]*" within +-(2^53 - 1); 'sign' -1 requires '-', 1 none,
 * 0 either. */
static int is_id(const char *s, int sign)
{
    size_t i = s[0] == '-' ? 1 : 0, n = strlen(s);
    double v = 0;

    if ((sign < 0 && i == 0) || (sign > 0 && i == 1) || n == i || n - i > 16 ||
        s[i] == '0')
        return 0;
    for (size_t k = i; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return 0;
        v = v * 10 + (s[k] - '0');
    }
    return v <= 9007199254740991.0;
}

/* "{id}:{positive id}" */
static int is_pair(const char *s)
{
    char a[32], b[32];
    const char *colon = strchr(s, ':');

    if (!colon || (size_t)(colon - s) >= sizeof(a) ||
        strlen(colon + 1) >= sizeof(b))
        return 0;
    memcpy(a, s, (size_t)(colon - s));
    a[colon - s] = '\0';
    memcpy(b, colon + 1, strlen(colon + 1) + 1);
    return is_id(a, 0) && is_id(b, 1);
}

/* 1: h is the secret header with the right value (blanks around it
 * trimmed, as adapter_header_get does); 0: with another value; -1: not
 * the secret header. */
static int secret_header(const char *h)
{
    static const char name[] = "X-Telegram-Bot-Api-Secret-Token:";
    const char *v, *e;

    if (strncasecmp(h, name, sizeof(name) - 1) != 0)
        return -1;
    v = h + sizeof(name) - 1;
    while (*v == ' ' || *v == '\t')
        v++;
    e = v + strlen(v);
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return (size_t)(e - v) == strlen(SECRET) &&
           memcmp(v, SECRET, strlen(SECRET)) == 0;
}

static void run_webhook(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    char path[1024], header[1024];
    const char *headers[2];
    struct adapter_webhook_req req;
    struct adapter_event ev;
    int rc, nheaders = 0, authentic;

    if (!next_line(&p, end, path, sizeof(path)) ||
        !next_line(&p, end, header, sizeof(header)))
        return;
    if (header[0])
        headers[nheaders++] = header;
    if (data[0] & 4)
        headers[nheaders++] = SECRET_HDR;
    /* the adapter reads the first secret header: ours only when the
     * fuzzed one is not one */
    authentic = secret_header(header);
    if (authentic < 0)
        authentic = (data[0] & 4) != 0;
    memset(&req, 0, sizeof(req));
    req.method = (data[0] & 8) ? "POST" : "GET";
    req.path = path;
    req.url = path;
    req.headers = headers;
    req.nheaders = nheaders;
    req.body = p;
    req.body_len = (size_t)(end - p);
    memset(&ev, 0x5a, sizeof(ev));
    rc = inst[0]->ops->parse_webhook(inst[0]->priv, &req, &ev);
    if (rc != RELAY_OK && rc != RELAY_EAUTH && rc != RELAY_EINVAL &&
        rc != RELAY_ENOTFOUND && rc != RELAY_ENOMEM)
        abort();
    if (rc == RELAY_OK && !authentic)
        abort();
    if (rc == RELAY_EAUTH && authentic &&
        adapter_path_is(path, "telegram", "update"))
        abort();
    if (rc != RELAY_OK &&
        (ev.type != ADAPTER_EVENT_NONE || ev.text || ev.from[0] ||
         ev.provider_id[0] || ev.chat[0] || ev.reply_to[0]))
        abort();
    if (rc == RELAY_OK && ev.type == ADAPTER_EVENT_MO &&
        (!is_id(ev.from, 1) || !is_pair(ev.provider_id) ||
         (ev.chat[0] && !is_id(ev.chat, -1)) ||
         (ev.reply_to[0] && !is_pair(ev.reply_to)) || !ev.text ||
         strlen(ev.text) != ev.text_len || ev.text_len == 0 ||
         !utf8_valid(ev.text, ev.text_len)))
        abort();
    if (rc == RELAY_OK && ev.type != ADAPTER_EVENT_MO &&
        ev.type != ADAPTER_EVENT_NONE)
        abort();
    if (!ev.reply_body || !ev.reply_type || ev.http_status != 200)
        abort();
    adapter_event_cleanup(&ev);
}

static void run_response(const uint8_t *data, size_t size)
{
    const char *p, *end = (const char *)data + size;
    char ra[128];
    struct adapter_result r;
    long status;

    if (size < 3)
        return;
    status = 100 + ((long)data[1] << 8 | data[2]) % 500;
    p = (const char *)data + 3;
    if (!next_line(&p, end, ra, sizeof(ra)))
        return;
    memset(&r, 0x5a, sizeof(r));
    if (inst[0]->ops->parse_response(inst[0]->priv, status, p,
                                     (size_t)(end - p), ra[0] ? ra : NULL,
                                     &r) != RELAY_OK)
        abort();
    if (r.verdict != ADAPTER_SENT && r.verdict != ADAPTER_RETRY &&
        r.verdict != ADAPTER_FAILED)
        abort();
    if (r.retry_after_s < -1 || r.retry_after_s > 86400)
        abort();
    if (memchr(r.provider_id, '\0', sizeof(r.provider_id)) == NULL ||
        memchr(r.error, '\0', sizeof(r.error)) == NULL)
        abort();
    if (r.provider_id[0] && !is_pair(r.provider_id))
        abort();
    if ((r.verdict == ADAPTER_SENT) != (r.error[0] == '\0'))
        abort();
    if ((r.verdict == ADAPTER_SENT) != (status >= 200 && status < 300))
        abort();
}

/*
 * Removes the markup of a built "text" value in mode 'mode' (0 HTML,
 * 1 MarkdownV2, 2 none) into out; 0 when it is not markup this adapter
 * may produce (a finding).
 */
static int unmarkup(const char *s, int mode, char *out, size_t cap)
{
    static const char md_reserved[] = "_*[]()~`>#+-=|{}.!\\";
    size_t o = 0, tags = 0;

    for (size_t i = 0; s[i]; i++) {
        char c = s[i];

        if (o + 1 >= cap)
            return 0;
        if (mode == 0 && c == '<') {
            const char *t = tags == 0 ? "<b>" : "</b>";

            if (tags > 1 || strncmp(s + i, t, strlen(t)) != 0)
                return 0;
            i += strlen(t) - 1;
            tags++;
        } else if (mode == 0 && c == '&') {
            if (strncmp(s + i, "&amp;", 5) == 0) {
                out[o++] = '&';
                i += 4;
            } else if (strncmp(s + i, "&lt;", 4) == 0) {
                out[o++] = '<';
                i += 3;
            } else if (strncmp(s + i, "&gt;", 4) == 0) {
                out[o++] = '>';
                i += 3;
            } else {
                return 0;
            }
        } else if (mode == 0 && c == '>') {
            return 0;
        } else if (mode == 1 && c == '\\') {
            if (!s[i + 1] || !strchr(md_reserved, s[i + 1]))
                return 0;
            out[o++] = s[++i];
        } else if (mode == 1 && c == '*') {
            if (tags > 1)
                return 0;
            tags++;
        } else if (mode == 1 && strchr(md_reserved, c)) {
            return 0;
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return mode == 2 || tags == 2;
}

static size_t units(const char *s, size_t n)
{
    size_t u = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c & 0xC0) != 0x80)
            u += c >= 0xF0 ? 2 : 1;
    }
    return u;
}

static void run_build(const uint8_t *data, size_t size)
{
    static const char *const kinds[] = {"appeal",  "approval", "update",
                                        "closing", "status",   "notice",
                                        "test",    "bogus"};
    static const char *const titles[] = {
        "Politie-oproep", "Politie-oproep", "Update politie-oproep",
        "Afgesloten",     "Uw melding",     "Bericht",
        "Test",           "Bericht"};
    const char *p, *end = (const char *)data + size;
    char to[300], *want, *got;
    struct adapter_request req;
    struct adapter_msg msg;
    int mode, rc;
    size_t hl;
    const char *why = NULL;
    cJSON *root;
    const cJSON *text, *chat;

    if (size < 2)
        return;
    mode = ((data[1] >> 5) & 3) % 3;
    p = (const char *)data + 2;
    if (!next_line(&p, end, to, sizeof(to)))
        return;
    memset(&msg, 0, sizeof(msg));
    msg.delivery_id = "d1";
    msg.to = to;
    msg.to_group = (data[1] >> 4) & 1;
    msg.text = p;
    msg.text_len = (size_t)(end - p);
    msg.kind = kinds[data[1] & 7];
    msg.urgent = (data[1] >> 3) & 1;
    msg.hook_url = inst[mode]->hook_url;
    memset(&req, 0, sizeof(req));
    rc = inst[mode]->ops->build_request(inst[mode]->priv, &msg, &req);
    if (rc == RELAY_ENOMEM)
        return;
    if (rc == RELAY_EINVAL) {
        if (req.body || req.url)
            abort();
        return;
    }
    if (rc != RELAY_OK || !req.body || strlen(req.body) != req.body_len)
        abort();
    root = json_strict_parse(req.body, req.body_len, 4, &why);
    if (!root)
        abort();
    text = cJSON_GetObjectItemCaseSensitive(root, "text");
    chat = cJSON_GetObjectItemCaseSensitive(root, "chat_id");
    if (!cJSON_IsString(text))
        abort();
    if (to[0] == '@' ? !cJSON_IsString(chat) || strcmp(chat->valuestring, to)
                     : !cJSON_IsNumber(chat) || !is_id(to, 0))
        abort();
    /* header + "\n" + text, as the reader sees it */
    want = malloc(msg.text_len + 64);
    got = malloc(strlen(text->valuestring) + 1);
    if (!want || !got)
        abort();
    hl = (size_t)snprintf(want, 64, "%s%s\n",
                          msg.urgent ? "\xF0\x9F\x9A\xA8 " : "",
                          titles[data[1] & 7]);
    memcpy(want + hl, msg.text, msg.text_len);
    want[hl + msg.text_len] = '\0';
    if (!unmarkup(text->valuestring, mode, got,
                  strlen(text->valuestring) + 1) ||
        strcmp(got, want) != 0 || units(got, strlen(got)) > 4096)
        abort();
    free(want);
    free(got);
    cJSON_Delete(root);
    adapter_request_cleanup(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    init_once();
    switch (data[0] & 3) {
    case 0:
    case 1:
        run_webhook(data, size);
        break;
    case 2:
        run_response(data, size);
        break;
    default:
        run_build(data, size);
        break;
    }
    return 0;
}
