// webhook_sim.mjs - a loopback receiver of the relay's outgoing webhooks
// (adapters/webhook.c), in either of the adapter's formats, answering the
// way a real receiver does: 429 with Retry-After, 5xx, a hang, Slack's
// one-word errors, and (json) 401 for a forged, unsigned or stale request.
//
//   const sim = await startWebhookSim({ format: 'json', secret });
//   link address: sim.url + '/hook/buurt-a'   (any path is a receiver)
//   relay config: webhook.format json, webhook.secret-file <file holding secret>
//   sim.script('429:2', '500', 'hang')  // next answers, then success
//   sim.messages                         // what was accepted
//   await sim.waitMessages(n)
//   signWebhook(secret, ts, body)        // "v1=<hex>", as the relay signs
//
// Documented behaviour it follows.
//
// format 'slack' - Slack incoming webhooks (api.slack.com/messaging/webhooks;
// changelog 2016-05-17 "changes to errors for incoming webhooks";
// api.slack.com/reference/surfaces/formatting#escaping; docs/rate-limits;
// changelog 2018-04 "truncating really long messages") and Mattermost's
// compatible ones (developers.mattermost.com/integrate/webhooks/incoming):
//   POST {url}, Content-Type: application/json, {"text": "..."} (or a form
//   body payload={...}); the URL itself is the credential, nothing signed.
//   200 "ok" on success. Errors are a status and one word as the body:
//   400 invalid_payload (body not JSON / not matching its content type),
//   400 no_text (no text), 403 action_prohibited, 404 channel_not_found,
//   404 no_service (webhook removed), 410 channel_is_archived, 500
//   rollup_error. Over about 1 message/s: 429 with Retry-After (seconds)
//   and {"ok":false,"count_hour_ago":..,"count_minute_ago":..,
//   "count_second_ago":..}; the message was not posted. Text longer than
//   40,000 characters is truncated (still posted). &, <, > arrive as
//   &amp; &lt; &gt; and are shown as the characters; *bold* is bold.
//   Slack has no idempotency key: a retried request posts twice, so a
//   duplicate DOES appear twice in messages (that is the platform).
//
// format 'json' - the relay's own signed webhook (the scheme of Stripe's
// and Slack's request signing; see adapters/webhook.c):
//   POST {url}, Content-Type: application/json,
//   X-Buurtrelay-Timestamp: t (unix seconds),
//   X-Buurtrelay-Signature: v1=hex(HMAC-SHA256(secret, t + "." + raw body)),
//   Idempotency-Key: the delivery id (= body.id),
//   {"id","kind","urgent","group","title","text","sent_at"}.
//   The receiver checks the signature over the raw bytes in constant time
//   (401 {"error":"missing_signature"|"invalid_signature"}), refuses a t
//   more than toleranceS (300) from its clock (401 stale_timestamp), then
//   the payload (415 for another content type, 400 invalid_payload with a
//   "field"), and deduplicates on Idempotency-Key: a second delivery with
//   the same key is answered 200 {"ok":true,"id":..,"duplicate":true} but
//   not added to messages. Success: 200 {"ok":true,"id":<key>}.
//
// messages: { to: full receiver URL, group, text, raw, providerId, kind,
//   title, body, path, at } where text is what a person sees: for slack
//   the text with entities decoded and *bold* markers removed (so
//   "🚨 Politie-oproep\n..."), for json title + "\n" + text the same way.
//   raw is the request body exactly as received (a string); body the
//   parsed payload. providerId is "" for slack (Slack returns no id) and
//   the Idempotency-Key for json (echoed as "id", which the adapter keeps).
// requests: every request, refused ones too: { at, method, path, url,
//   headers, body, step, status, answer }.
//
// Script steps (consumed one per request, before any validation):
//   'ok' (normal handling), '429' or '429:SECONDS', '500'/'502'/'503'/...,
//   '400'/'403'/'404'/'410'/'408' optionally ':word' (slack: Slack's word
//   for that status by default; json: {"error": word}), 'hang' or
//   'timeout' (never answers), 'accept-hang' (handles the request
//   normally, adding it to messages, but never answers: a receiver that
//   took it and then timed out, for testing retries after a lost answer).
// Only loopback: the server listens on 127.0.0.1.

import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

// The signature header value the relay sends for (secret, timestamp, raw
// body): "v1=" + hex HMAC-SHA256 over "{timestamp}.{body}". body may be a
// string (UTF-8) or a Buffer.
export function signWebhook(secret, timestamp, body) {
    return 'v1=' + createHmac('sha256', Buffer.from(secret, 'utf8'))
        .update(Buffer.from(`${timestamp}.`, 'utf8'))
        .update(Buffer.isBuffer(body) ? body : Buffer.from(String(body), 'utf8'))
        .digest('hex');
}

// At least 32 bytes, as the adapter's init demands of secret-file.
export const DEFAULT_WEBHOOK_SECRET = 'sim-webhook-secret-0123456789abcdef-0123456789';

const SLACK_WORDS = {
    400: 'invalid_payload',
    403: 'action_prohibited',
    404: 'channel_not_found',
    408: 'request_timeout',
    410: 'channel_is_archived',
};
const SLACK_TEXT_MAX = 40000;

// What a person sees of Slack mrkdwn text: entities decoded, *bold*
// markers dropped (Slack: bold needs a boundary on both sides).
function slackShown(text) {
    return text
        .replace(/(^|[\s_~(])\*([^*\n]+)\*(?=$|[\s_~).,!?:;])/g, '$1$2')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
}

function mediaType(req) {
    return String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

export async function startWebhookSim({
    format = 'json',
    secret = DEFAULT_WEBHOOK_SECRET,
    toleranceS = 300,
    maxBodyBytes = 1024 * 1024,
    host = '127.0.0.1',
} = {}) {
    if (format !== 'json' && format !== 'slack') throw new Error(`webhook_sim: format ${format}`);
    const messages = [];
    const requests = [];
    const pending = [];
    const hung = new Set();
    const seenKeys = new Map(); // Idempotency-Key -> message (json)
    let baseUrl = '';

    function answer(rec, res, status, body, headers = {}) {
        const type = typeof body === 'string' ? (format === 'slack' ? 'text/html' : 'text/plain') : 'application/json';
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        rec.status = status;
        rec.answer = text;
        res.writeHead(status, { 'Content-Type': type, ...headers });
        res.end(text);
    }

    // Normal handling of one request: returns [status, body, headers].
    function handleSlack(rec, raw) {
        if (rec.method !== 'POST') return [405, 'invalid_method'];
        let payload;
        try {
            const type = mediaType(rec);
            const str = raw.toString('utf8');
            if (type === 'application/json') payload = JSON.parse(str);
            else if (type === 'application/x-www-form-urlencoded') payload = JSON.parse(new URLSearchParams(str).get('payload') ?? '');
            else return [400, 'invalid_payload'];
        } catch {
            return [400, 'invalid_payload'];
        }
        if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return [400, 'invalid_payload'];
        const hasBlocks = Array.isArray(payload.blocks) && payload.blocks.length > 0;
        const hasAttachments = Array.isArray(payload.attachments) && payload.attachments.length > 0;
        if (payload.text !== undefined && typeof payload.text !== 'string') return [400, 'invalid_payload'];
        if (!payload.text && !hasBlocks && !hasAttachments) return [400, 'no_text'];
        let text = payload.text ?? '';
        const chars = [...text];
        const truncated = chars.length > SLACK_TEXT_MAX;
        if (truncated) text = chars.slice(0, SLACK_TEXT_MAX).join('');
        const firstLine = slackShown(text).split('\n')[0];
        messages.push({
            to: baseUrl + rec.path,
            group: true,
            text: slackShown(text),
            raw: raw.toString('utf8'),
            providerId: '',
            kind: undefined,
            title: firstLine,
            body: payload,
            truncated,
            path: rec.path,
            at: rec.at,
        });
        return [200, 'ok'];
    }

    function handleJson(rec, raw) {
        if (rec.method !== 'POST') return [405, { error: 'method_not_allowed' }];
        const ts = rec.headers['x-buurtrelay-timestamp'];
        const sig = rec.headers['x-buurtrelay-signature'];
        if (typeof ts !== 'string' || typeof sig !== 'string' || !/^\d{1,12}$/.test(ts)) {
            return [401, { error: 'missing_signature' }];
        }
        const want = Buffer.from(signWebhook(secret, ts, raw), 'utf8');
        const got = Buffer.from(sig.trim(), 'utf8');
        if (got.length !== want.length || !timingSafeEqual(got, want)) return [401, { error: 'invalid_signature' }];
        if (Math.abs(Math.floor(Date.now() / 1000) - Number(ts)) > toleranceS) return [401, { error: 'stale_timestamp' }];
        if (mediaType(rec) !== 'application/json') return [415, { error: 'unsupported_media_type' }];
        let p;
        try {
            p = JSON.parse(raw.toString('utf8'));
        } catch {
            return [400, { error: 'invalid_payload', field: 'body' }];
        }
        if (p === null || typeof p !== 'object' || Array.isArray(p)) return [400, { error: 'invalid_payload', field: 'body' }];
        const checks = [
            ['id', (v) => typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v)],
            ['kind', (v) => typeof v === 'string' && v.length > 0],
            ['urgent', (v) => typeof v === 'boolean'],
            ['group', (v) => typeof v === 'boolean'],
            ['title', (v) => typeof v === 'string' && v.length > 0],
            ['text', (v) => typeof v === 'string'],
            ['sent_at', (v) => Number.isInteger(v) && String(v) === ts],
        ];
        for (const [field, ok] of checks) {
            if (!ok(p[field])) return [400, { error: 'invalid_payload', field }];
        }
        const key = rec.headers['idempotency-key'];
        if (key !== p.id) return [400, { error: 'invalid_payload', field: 'Idempotency-Key' }];
        if (seenKeys.has(key)) return [200, { ok: true, id: key, duplicate: true }];
        const msg = {
            to: baseUrl + rec.path,
            group: p.group,
            text: `${p.title}\n${p.text}`,
            raw: raw.toString('utf8'),
            providerId: key,
            kind: p.kind,
            title: p.title,
            urgent: p.urgent,
            body: p,
            path: rec.path,
            at: rec.at,
        };
        seenKeys.set(key, msg);
        messages.push(msg);
        return [200, { ok: true, id: key }];
    }

    const server = http.createServer((req, res) => {
        const chunks = [];
        let size = 0;
        let tooBig = false;
        req.on('data', (c) => {
            size += c.length;
            if (size > maxBodyBytes) tooBig = true;
            else chunks.push(c);
        });
        req.on('end', () => {
            const raw = Buffer.concat(chunks);
            const rec = {
                at: Date.now(),
                method: req.method,
                path: req.url,
                url: baseUrl + req.url,
                headers: { ...req.headers },
                body: raw.toString('utf8'),
                step: null,
                status: null,
                answer: null,
            };
            requests.push(rec);
            const step = pending.shift() ?? 'ok';
            rec.step = step;
            if (step === 'hang' || step === 'timeout') {
                hung.add(res);
                return;
            }
            const [code, arg] = step.split(':');
            if (code === '429') {
                const headers = arg ? { 'Retry-After': arg } : {};
                const body = format === 'slack'
                    ? { ok: false, count_hour_ago: 400, count_minute_ago: 100, count_second_ago: 5 }
                    : { error: 'rate_limited' };
                answer(rec, res, 429, body, headers);
                return;
            }
            if (/^5\d\d$/.test(code)) {
                answer(rec, res, Number(code), format === 'slack' ? (arg ?? 'rollup_error') : { error: arg ?? 'internal_error' });
                return;
            }
            if (/^4\d\d$/.test(code)) {
                const word = arg ?? SLACK_WORDS[code] ?? 'refused';
                answer(rec, res, Number(code), format === 'slack' ? word : { error: word });
                return;
            }
            if (tooBig) {
                answer(rec, res, 413, format === 'slack' ? 'invalid_payload' : { error: 'payload_too_large' });
                return;
            }
            const [status, body, headers] = format === 'slack' ? handleSlack(rec, raw) : handleJson(rec, raw);
            if (code === 'accept-hang') {
                rec.status = status; // what it would have said
                hung.add(res);
                return;
            }
            answer(rec, res, status, body, headers);
        });
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, resolve);
    });
    const { port } = server.address();
    baseUrl = `http://${host}:${port}`;

    return {
        url: baseUrl,
        port,
        format,
        secret,
        messages,
        requests,
        // The next answers, in order (see the top); after them: success.
        script(...steps) {
            for (const s of steps) {
                if (!/^(ok|hang|timeout|accept-hang|429(:\d+)?|[45]\d\d(:[a-z0-9_]+)?)$/.test(s)) {
                    throw new Error(`webhook_sim: unknown script step '${s}'`);
                }
            }
            pending.push(...steps);
        },
        async waitMessages(n, timeoutMs = 5000) {
            const deadline = Date.now() + timeoutMs;
            while (messages.length < n) {
                if (Date.now() > deadline) throw new Error(`webhook_sim: ${messages.length}/${n} messages`);
                await delay(20);
            }
            return messages;
        },
        async close() {
            for (const res of hung) res.destroy();
            hung.clear();
            server.closeAllConnections?.();
            await new Promise((resolve) => server.close(resolve));
        },
    };
}
