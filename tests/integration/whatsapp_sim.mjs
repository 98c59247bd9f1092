// whatsapp_sim.mjs - a loopback simulator of the WhatsApp Business Cloud
// API (Meta Graph API), for testing the relay's whatsapp adapter
// (adapters/whatsapp.c) with what the real platform does: the 24-hour
// customer-service window, templates, rate limits, 5xx, a hang, bad
// tokens; and with signed status and message webhooks, genuine, forged
// or replayed.
//
//   const sim = await startWhatsAppSim({ hookUrl: `${relay}/hooks/whatsapp` });
//   relay config: whatsapp.api-url = sim.url, whatsapp.phone-number-id =
//   sim.phoneNumberId, secrets sim.accessToken / sim.appSecret /
//   sim.verifyToken in the three secret files
//   sim.script('429:2', '500', 'hang')       // next answers, then 200s
//   sim.messages                              // what was accepted
//   await sim.waitMessages(n)
//   await sim.sendStatus(msg, 'read')                     // signed webhook
//   await sim.sendStatus(msg, 'failed', { forge: true })  // bad signature
//   await sim.sendReply({ from: '+31612345678', text: 'gezien', replyTo })
//   await sim.subscribe({ verifyToken })      // the GET handshake
//
// Documented behaviour it follows (research/reliability.md section 3.1;
// Meta's Cloud API reference and error-code table as quoted by the
// search corpus: developers.facebook.com/documentation/business-messaging/
// whatsapp/webhooks/reference/messages/{status,errors,...}):
//   SEND  POST /{version}/{phone-number-id}/messages, JSON, header
//         "Authorization: Bearer {token}"; {"messaging_product":
//         "whatsapp","recipient_type":"individual","to":"316...",
//         "type":"text","text":{"preview_url":false,"body":...}} or
//         "type":"template","template":{"name","language":{"code"},
//         "components":[{"type":"body","parameters":[{"type":"text",
//         "text"}...]}]}.
//         200 {"messaging_product":"whatsapp","contacts":[{"input",
//         "wa_id"}],"messages":[{"id":"wamid..."}]}.
//   ERRORS {"error":{"message":"(#CODE) title","type":"OAuthException",
//         "code","error_data":{"messaging_product":"whatsapp","details"},
//         "fbtrace_id"}} (error_subcode is no longer sent since v16):
//           190 (401)  token invalid or expired
//           100 (400)  invalid parameter (missing/invalid field, text
//                      body over 4096 characters, unknown phone number id)
//           131047 (400) re-engagement: free text while the recipient has
//                      not written within 24 h (option reengagement:
//                      'webhook' reports it instead as a failed status
//                      after a 200, which is how Meta often delivers it)
//           131026     undeliverable: always asynchronous, as a failed
//                      status (option undeliverable: [numbers])
//           132001 (404) template name/language unknown
//           132000 (400) parameter count differs from the template's
//           132018 (400) "Param text cannot have new-line/tab characters
//                      or more than 4 consecutive spaces"
//           132005 (400) template body over 1024 characters once filled
//           131056 (400) pair rate limit, one message per ~6 s to the
//                      same user (option pairRateMs, off by default)
//           130429 throughput, 131000 (500) something went wrong,
//           2 (503) service unavailable.
//         script('429:N') answers HTTP 429 with code 130429 and a
//         "Retry-After: N" header: Meta documents no seconds-granular
//         retry hint for the Cloud API, so this is the generic HTTP way;
//         'wa:CODE[:N]' answers Meta error CODE with its usual status.
//   WEBHOOKS all POSTed to one URL configured in the app (hookUrl), each
//         signed "X-Hub-Signature-256: sha256=" + hex(HMAC-SHA256(app
//         secret, raw body)); {"object":"whatsapp_business_account",
//         "entry":[{"id":WABA,"changes":[{"field":"messages","value":{
//         "messaging_product":"whatsapp","metadata":{"display_phone_number",
//         "phone_number_id"},"statuses":[{"id","status","timestamp",
//         "recipient_id",("conversation","pricing" | "errors")}] |
//         "contacts":[..],"messages":[{"from","id","timestamp","type":
//         "text","text":{"body"},("context":{"from","id"})}]}}]}]}.
//         Statuses: sent, delivered, read, failed (errors[0].code).
//         The subscription check is GET ?hub.mode=subscribe&
//         hub.verify_token=..&hub.challenge=.. answered with the challenge.
// The API has no idempotency key: a retried send is a second message
// (both appear in sim.messages). Loopback only: the server listens on
// 127.0.0.1 and webhooks go to hookUrl (the relay, 127.0.0.1 in tests).

import http from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

// "sha256=" + hex(HMAC-SHA256(appSecret, rawBody)) as Meta signs webhooks.
export function hubSignature(appSecret, rawBody) {
    return 'sha256=' + createHmac('sha256', appSecret).update(Buffer.from(rawBody, 'utf8')).digest('hex');
}

const newWamid = () => 'wamid.' + randomBytes(24).toString('base64');
const fbtrace = () => randomBytes(9).toString('base64').replace(/[+/=]/g, 'A');
const chars = (s) => [...s].length;
const digitsOf = (n) => String(n ?? '').replace(/^\+/, '');

// Meta error codes the sim can answer, with their usual HTTP status.
const META_ERRORS = {
    2: [503, 'Service temporarily unavailable'],
    4: [429, 'Application request limit reached'],
    100: [400, 'Invalid parameter'],
    190: [401, 'Access token has expired'],
    80007: [400, 'Rate limit issues'],
    130429: [400, 'Rate limit hit'],
    131000: [500, 'Something went wrong'],
    131016: [500, 'Service unavailable'],
    131026: [400, 'Message undeliverable'],
    131047: [400, 'Re-engagement message'],
    131048: [400, 'Spam rate limit hit'],
    131056: [400, '(Business Account, Consumer Account) pair rate limit hit'],
    132000: [400, 'Number of parameters does not match the expected number of params'],
    132001: [404, 'Template name does not exist in the translation'],
    132005: [400, 'Translated text too long'],
    132018: [400, 'There was an issue with the parameters in your template.'],
};

function metaError(res, code, details, { status, retryAfter, message } = {}) {
    const [st, title] = META_ERRORS[code] ?? [400, 'Invalid parameter'];
    const headers = { 'Content-Type': 'application/json' };
    if (retryAfter !== undefined) headers['Retry-After'] = String(retryAfter);
    res.writeHead(status ?? st, headers);
    res.end(JSON.stringify({
        error: {
            message: message ?? `(#${code}) ${title}`,
            type: 'OAuthException',
            code,
            error_data: { messaging_product: 'whatsapp', details: details ?? title },
            fbtrace_id: fbtrace(),
        },
    }));
    return code;
}

// What a WhatsApp client shows for a text with markup: *bold*, _italic_,
// ~strike~, ```mono``` and `code` lose their markers (only at word
// boundaries, as WhatsApp applies them). URL tokens (http://, https://,
// www. up to whitespace) are left as they are: the sim assumes, like
// adapters/whatsapp.c, that WhatsApp does not format inside links (not
// verified against a real client).
export function renderWhatsApp(text) {
    const parts = text.split(/((?:https?:\/\/|www\.)[^\s]*)/i);
    return parts.map((part, i) => {
        if (i % 2 === 1) return part;
        let out = part.replace(/```([\s\S]+?)```/g, '$1');
        for (const m of ['\\*', '_', '~', '`']) {
            const re = new RegExp(`(^|[^\\p{L}\\p{N}])${m}(\\S(?:[^\\n]*?\\S)?)${m}(?=$|[^\\p{L}\\p{N}])`, 'gmu');
            out = out.replace(re, '$1$2');
        }
        return out;
    }).join('');
}

export async function startWhatsAppSim({
    accessToken = 'sim-access-token-0123456789',
    appSecret = 'sim-app-secret-0123456789abcdef',
    verifyToken = 'sim-verify-token',
    phoneNumberId = '106540352242922',
    displayPhoneNumber = '3197010000001',
    wabaId = '102290129340398',
    templates = { buurtrelay_melding: { language: 'nl', body: '*{{1}}*\n{{2}}' } },
    openWindows = [],          // E.164 numbers whose 24 h window is open at start
    windowMs = 24 * 3600 * 1000,
    reengagement = 'sync',     // 'sync': 400 #131047; 'webhook': 200 + failed status
    undeliverable = [],        // E.164 numbers: 200, then a failed status #131026
    pairRateMs = 0,            // > 0: #131056 for a 2nd send to a number within it
    hookUrl = null,            // the relay's {public-url}/hooks/whatsapp[/webhook]
    autoStatus = true,         // sent + delivered webhooks after each accepted send
    autoRead = false,          // ... and read
    statusDelayMs = 20,
    host = '127.0.0.1',
} = {}) {
    const messages = [];   // accepted: {to, group, text, raw, providerId, type, header, urgent, markup, at}
    const requests = [];   // every request: {method, path, headers, body, at, step, status, code}
    const webhooks = [];   // webhooks sent: {kind, state, forged, replay, status, body}
    const pending = [];    // scripted answers
    const hung = new Set();
    const windows = new Map(); // digits -> ms of the user's last message
    const lastSend = new Map(); // digits -> ms of our last accepted send
    const lastWebhook = {};    // kind -> {url, raw, signature}, for replay
    for (const n of openWindows) windows.set(digitsOf(n), Date.now());
    const sim = { hookUrl };

    const webhookUrl = (u) => {
        const base = u ?? sim.hookUrl;
        if (!base) throw new Error('whatsapp_sim: no hookUrl (option or argument)');
        return /\/webhook(\?|$)/.test(base) ? base : `${base.replace(/\/$/, '')}/webhook`;
    };
    const windowOpen = (digits) => {
        const t = windows.get(digits);
        return t !== undefined && Date.now() - t < windowMs;
    };

    // POSTs a notification to the relay, signed (or forged); resolves the answer.
    async function deliver(kind, value, { forge = false, replay = false, hookUrl: u, state } = {}) {
        let url, raw, signature;
        if (replay) {
            if (!lastWebhook[kind]) throw new Error(`whatsapp_sim: no ${kind} webhook to replay`);
            ({ url, raw, signature } = lastWebhook[kind]);
        } else {
            url = webhookUrl(u);
            raw = JSON.stringify({
                object: 'whatsapp_business_account',
                entry: [{
                    id: wabaId,
                    changes: [{
                        value: {
                            messaging_product: 'whatsapp',
                            metadata: { display_phone_number: displayPhoneNumber, phone_number_id: phoneNumberId },
                            ...value,
                        },
                        field: 'messages',
                    }],
                }],
            });
            signature = hubSignature(forge ? 'not-the-app-secret' : appSecret, raw);
            lastWebhook[kind] = { url, raw, signature };
        }
        const res = await fetch(url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signature },
            body: raw,
            signal: AbortSignal.timeout(5000),
        });
        const answer = { status: res.status, body: await res.text() };
        webhooks.push({ kind, state, forged: !!forge, replay: !!replay, raw, ...answer });
        return answer;
    }

    function status(msg, st, { errorCode, ...opts } = {}) {
        if (opts.replay) return deliver('status', null, opts);
        const ts = String(Math.floor(Date.now() / 1000));
        const s = { id: msg.providerId, status: st, timestamp: ts, recipient_id: digitsOf(msg.to) };
        if (st === 'sent' || st === 'delivered') {
            s.conversation = { id: randomBytes(16).toString('hex'), origin: { type: msg.type === 'template' ? 'utility' : 'service' } };
            if (st === 'sent') s.conversation.expiration_timestamp = String(Math.floor(Date.now() / 1000) + 86400);
            s.pricing = { billable: true, pricing_model: 'CBP', category: msg.type === 'template' ? 'utility' : 'service' };
        }
        if (st === 'failed') {
            const code = errorCode ?? 131026;
            const [, title] = META_ERRORS[code] ?? [0, 'Failure'];
            s.errors = [{ code, title, message: title, error_data: { details: title }, href: '/documentation/business-messaging/whatsapp/support/error-codes' }];
        }
        return deliver('status', { statuses: [s] }, { ...opts, state: st });
    }

    function afterSend(msg, failCode) {
        if (!sim.hookUrl || (!autoStatus && !failCode)) return;
        (async () => {
            await delay(statusDelayMs);
            if (failCode) {
                await status(msg, 'failed', { errorCode: failCode }).catch(() => {});
                return;
            }
            await status(msg, 'sent').catch(() => {});
            await delay(statusDelayMs);
            await status(msg, 'delivered').catch(() => {});
            if (autoRead) {
                await delay(statusDelayMs);
                await status(msg, 'read').catch(() => {});
            }
        })();
    }

    // Validates one send the way the Cloud API does; answers and returns
    // the accepted message or null.
    function handleSend(req, res, raw, at, entry) {
        if (req.headers.authorization !== `Bearer ${accessToken}`) {
            entry.code = metaError(res, 190, 'Invalid OAuth access token - Cannot parse access token',
                { message: 'Invalid OAuth access token - Cannot parse access token' });
            return null;
        }
        let body;
        try {
            if (!/application\/json/i.test(req.headers['content-type'] ?? '')) throw new Error('type');
            body = JSON.parse(raw);
            if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('shape');
        } catch {
            entry.code = metaError(res, 100, 'Request body is not a JSON object');
            return null;
        }
        if (body.messaging_product !== 'whatsapp') {
            entry.code = metaError(res, 100, 'The parameter messaging_product is required.');
            return null;
        }
        if (body.recipient_type !== undefined && body.recipient_type !== 'individual') {
            entry.code = metaError(res, 100, 'Param recipient_type must be one of {individual}');
            return null;
        }
        const to = typeof body.to === 'string' ? digitsOf(body.to) : '';
        if (!/^[1-9]\d{7,14}$/.test(to)) {
            entry.code = metaError(res, 100, body.to === undefined ? 'The parameter to is required.' : 'Invalid parameter to');
            return null;
        }
        let text;
        let markup;
        let header = null;
        if (body.type === 'text') {
            const t = body.text;
            if (typeof t !== 'object' || t === null || typeof t.body !== 'string' || t.body === '') {
                entry.code = metaError(res, 100, 'The parameter text[\'body\'] is required.');
                return null;
            }
            if (t.preview_url !== undefined && typeof t.preview_url !== 'boolean') {
                entry.code = metaError(res, 100, 'Param text[\'preview_url\'] must be a boolean.');
                return null;
            }
            if (chars(t.body) > 4096) {
                entry.code = metaError(res, 100, 'Param text[\'body\'] must be at most 4096 characters long.');
                return null;
            }
            markup = t.body;
            const m = /^\*([^*\n]+)\*\n/.exec(markup);
            header = m ? m[1] : null;
        } else if (body.type === 'template') {
            const tp = body.template ?? {};
            const def = templates[tp.name];
            const lang = tp.language?.code;
            if (!def || def.language !== lang) {
                entry.code = metaError(res, 132001, `template name (${tp.name}) does not exist in ${lang}`);
                return null;
            }
            const want = new Set([...def.body.matchAll(/\{\{(\d+)\}\}/g)].map((m) => m[1])).size;
            const comps = Array.isArray(tp.components) ? tp.components : [];
            const bodyComp = comps.find((c) => c?.type === 'body');
            const params = Array.isArray(bodyComp?.parameters) ? bodyComp.parameters : [];
            if (params.length !== want) {
                entry.code = metaError(res, 132000,
                    `body: number of localizable_params (${params.length}) does not match the expected number of params (${want})`);
                return null;
            }
            for (const p of params) {
                if (p?.type !== 'text' || typeof p.text !== 'string' || p.text === '') {
                    entry.code = metaError(res, 100, 'Param text is required for parameters of type text');
                    return null;
                }
                if (/[\r\n\t]| {5,}/.test(p.text)) {
                    entry.code = metaError(res, 132018, 'Param text cannot have new-line/tab characters or more than 4 consecutive spaces');
                    return null;
                }
            }
            markup = def.body.replace(/\{\{(\d+)\}\}/g, (_, i) => params[Number(i) - 1]?.text ?? '');
            if (chars(markup) > 1024) {
                entry.code = metaError(res, 132005, 'Translated text too long');
                return null;
            }
            header = params[0]?.text ?? null;
        } else {
            entry.code = metaError(res, 100, `Param type must be one of {text, template, ...}; got ${body.type}`);
            return null;
        }
        const reengage = body.type === 'text' && !windowOpen(to);
        if (reengage && reengagement !== 'webhook') {
            entry.code = metaError(res, 131047,
                'Message failed to send because more than 24 hours have passed since the customer last replied to this number.');
            return null;
        }
        if (pairRateMs > 0 && at - (lastSend.get(to) ?? -Infinity) < pairRateMs) {
            entry.code = metaError(res, 131056,
                'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.');
            return null;
        }
        lastSend.set(to, at);
        const msg = {
            to: `+${to}`,
            group: false,
            text: renderWhatsApp(markup),
            raw: body,
            providerId: newWamid(),
            type: body.type,
            header,
            urgent: header !== null && header.startsWith('🚨'),
            markup,
            at,
        };
        messages.push(msg);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const answer = {
            messaging_product: 'whatsapp',
            contacts: [{ input: body.to, wa_id: to }],
            messages: [{ id: msg.providerId }],
        };
        if (body.type === 'template') answer.messages[0].message_status = 'accepted';
        res.end(JSON.stringify(answer));
        const failCode = reengage ? 131047 : undeliverable.map(digitsOf).includes(to) ? 131026 : 0;
        afterSend(msg, failCode);
        return msg;
    }

    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const at = Date.now();
            const raw = Buffer.concat(chunks).toString('utf8');
            const path = req.url.split('?')[0];
            const entry = { method: req.method, path: req.url, headers: { ...req.headers }, body: raw, at };
            requests.push(entry);
            res.on('finish', () => {
                entry.status = res.statusCode;
            });
            const m = /^\/(v\d+\.\d+)\/([^/]+)\/messages$/.exec(path);
            if (!m) {
                entry.code = metaError(res, 2500, `Unknown path components: ${path}`,
                    { status: 400, message: `Unknown path components: ${path}` });
                return;
            }
            if (req.method !== 'POST') {
                entry.code = metaError(res, 100, 'Unsupported get request.', { message: 'Unsupported get request.' });
                return;
            }
            const step = pending.shift() ?? '200';
            entry.step = step;
            if (step === 'hang' || step === 'timeout') {
                hung.add(res);
                return;
            }
            let mm;
            if ((mm = /^429(?::(\d+))?$/.exec(step))) {
                entry.code = metaError(res, 130429,
                    'Message failed to send because there were too many messages sent from this phone number in a short period of time',
                    { status: 429, retryAfter: mm[1] });
                return;
            }
            if (/^5\d\d$/.test(step)) {
                entry.code = metaError(res, step === '503' ? 2 : 131000, undefined, { status: Number(step) });
                return;
            }
            if ((mm = /^wa:(\d+)(?::(\d+))?$/.exec(step))) {
                entry.code = metaError(res, Number(mm[1]), undefined, { retryAfter: mm[2] });
                return;
            }
            if (m[2] !== phoneNumberId) {
                entry.code = metaError(res, 100,
                    `Unsupported post request. Object with ID '${m[2]}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`);
                return;
            }
            handleSend(req, res, raw, at, entry);
        });
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, resolve);
    });
    const { port } = server.address();

    return Object.assign(sim, {
        url: `http://${host}:${port}`,
        port,
        accessToken,
        appSecret,
        verifyToken,
        phoneNumberId,
        displayPhoneNumber,
        messages,
        requests,
        webhooks,
        // The next answers, in order: '200', '429', '429:SECONDS', '500',
        // '503', 'hang' (alias 'timeout'), 'wa:CODE' or 'wa:CODE:SECONDS'
        // (a Meta error, e.g. 'wa:131056'). After them: normal handling.
        script(...steps) {
            pending.push(...steps);
        },
        async waitMessages(n, timeoutMs = 5000) {
            const deadline = Date.now() + timeoutMs;
            while (messages.length < n) {
                if (Date.now() > deadline) throw new Error(`whatsapp_sim: ${messages.length}/${n} messages`);
                await delay(20);
            }
            return messages;
        },
        // The user wrote to us (or not): opens / closes the 24 h window.
        openWindow(number) {
            windows.set(digitsOf(number), Date.now());
        },
        closeWindow(number) {
            windows.delete(digitsOf(number));
        },
        windowOpen: (number) => windowOpen(digitsOf(number)),
        // A signed status webhook about 'msg' (an entry of messages):
        // 'sent', 'delivered', 'read' or 'failed' ({ errorCode });
        // { replay: true } re-sends the previous status webhook.
        sendStatus: (msg, st, opts = {}) => status(msg, st, opts),
        // An incoming message as Meta posts it. 'from' is E.164; replyTo
        // the providerId of one of our messages (context.id); group/chat
        // add a Groups API group_id; replay re-sends the previous message
        // webhook byte for byte. An authentic one opens the window.
        async sendReply({ hookUrl: u, chat = '', from, text, replyTo, group = false, forge = false, replay = false, type = 'text', id } = {}) {
            if (replay) return deliver('message', null, { replay: true });
            const wa = digitsOf(from);
            const m = { from: wa, id: id ?? newWamid(), timestamp: String(Math.floor(Date.now() / 1000)), type };
            if (replyTo) m.context = { from: displayPhoneNumber, id: replyTo };
            if (group && chat) m.group_id = chat;
            if (type === 'text') m.text = { body: text };
            else if (type === 'image') m.image = { caption: text ?? '', mime_type: 'image/jpeg', sha256: randomBytes(32).toString('hex'), id: String(Date.now()) };
            if (!forge) windows.set(wa, Date.now());
            const answer = await deliver('message', {
                contacts: [{ profile: { name: 'Bewoner' }, wa_id: wa }],
                messages: [m],
            }, { hookUrl: u, forge });
            return { ...answer, id: m.id };
        },
        // Meta's subscription check: GET {hook}/webhook?hub.mode=subscribe&...
        async subscribe({ hookUrl: u, verifyToken: token = verifyToken, challenge = String(1e9 + Math.floor(Math.random() * 1e9)), mode = 'subscribe' } = {}) {
            const url = new URL(webhookUrl(u));
            url.searchParams.set('hub.mode', mode);
            url.searchParams.set('hub.verify_token', token);
            url.searchParams.set('hub.challenge', challenge);
            const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
            const body = await res.text();
            return { status: res.status, body, ok: res.status === 200 && body === challenge };
        },
        async close() {
            for (const res of hung) res.destroy();
            server.closeAllConnections?.();
            await new Promise((resolve) => server.close(resolve));
        },
    });
}
