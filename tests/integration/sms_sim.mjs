// sms_sim.mjs - a loopback simulator of Twilio's Programmable Messaging
// API, for testing the relay's twilio adapter (adapters/twilio.c) with
// the failures a real provider shows: 429 with Retry-After, 500, a hang,
// bad credentials, an invalid number; and with signed status callbacks
// and incoming SMS (MO), genuine or forged.
//
//   const sim = await startTwilioSim({ accountSid, authToken });
//   relay config: twilio.api-url = sim.url
//   sim.script('429:2', '500', 'hang')   // next answers, then 201s
//   sim.messages                          // what was accepted
//   await sim.waitMessages(n)
//   await sim.sendStatus(msg, 'delivered')            // signed callback
//   await sim.sendStatus(msg, 'failed', { forge: true })  // bad signature
//   await sim.sendMo({ url, from, body })              // a signed SMS reply
//
// Documented behaviour it follows (reliability.md section 2.1): POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To, From
// or MessagingServiceSid, Body, StatusCallback; basic auth
// AccountSid:AuthToken; 201 with a JSON message resource (sid "SM" + 32
// hex, status "queued"); errors as {code, message, more_info, status}:
// 20003 (401) authentication, 21211 (400) invalid To, 21602 (400) Body
// required, 20429 (429) too many requests. No callback is sent for the
// initial status; then "sent" and "delivered" (autoStatus) to the
// StatusCallback URL. X-Twilio-Signature = base64(HMAC-SHA1(AuthToken,
// URL + each POST parameter's name and value sorted by name)).
// Only loopback: the server listens on 127.0.0.1, callbacks go where the
// relay told it (the relay's public-url, 127.0.0.1 in tests).

import http from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

// Twilio's signature over a URL and POST parameters ({name: value}).
export function twilioSignature(authToken, url, params = {}) {
    const data = url + Object.keys(params).sort().map((k) => k + params[k]).join('');
    return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

const newSid = (prefix) => prefix + randomBytes(16).toString('hex');

function segments(body) {
    const gsm = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€\f]*$/u.test(body);
    if (gsm) {
        const n = [...body].reduce((s, c) => s + ('^{}\\[~]|€\f'.includes(c) ? 2 : 1), 0);
        return n <= 160 ? 1 : Math.ceil(n / 153);
    }
    const units = body.length; // UTF-16 code units
    return units <= 70 ? 1 : Math.ceil(units / 67);
}

function twilioError(res, status, code, message, extra = {}) {
    res.writeHead(status, { 'Content-Type': 'application/json', ...extra });
    res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
}

// POSTs a signed (or forged) form to url; resolves the relay's answer.
async function postSigned(url, params, authToken, { forge = false, signature } = {}) {
    const sig = signature ?? (forge ? twilioSignature('not-the-token', url, params) : twilioSignature(authToken, url, params));
    const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': sig },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') };
}

export async function startTwilioSim({
    accountSid = 'ACtest',
    authToken = 'sim-auth-token-0123456789',
    autoStatus = true,
    statusDelayMs = 20,
    host = '127.0.0.1',
} = {}) {
    const messages = [];     // accepted: {sid, to, from, body, statusCallback, numSegments, at}
    const requests = [];     // every Messages request: {at, answer}
    const callbacks = [];    // status callbacks sent: {sid, status, answer}
    const pending = [];      // scripted answers
    const hung = new Set();  // responses never sent (closed at stop)
    const auth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
    const path = `/2010-04-01/Accounts/${accountSid}/Messages.json`;

    async function status(msg, st, opts = {}) {
        const params = {
            AccountSid: accountSid,
            From: msg.from,
            MessageSid: msg.sid,
            MessageStatus: st,
            SmsSid: msg.sid,
            SmsStatus: st,
            To: msg.to,
            ApiVersion: '2010-04-01',
        };
        if (opts.errorCode) params.ErrorCode = String(opts.errorCode);
        const answer = await postSigned(msg.statusCallback, params, authToken, opts);
        callbacks.push({ sid: msg.sid, status: st, forged: !!opts.forge, answer });
        return answer;
    }

    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const at = Date.now();
            if (req.method !== 'POST' || req.url !== path) {
                twilioError(res, 404, 20404, 'The requested resource was not found');
                return;
            }
            const step = pending.shift() ?? '201';
            requests.push({ at, step });
            if (step === 'hang') {
                hung.add(res);
                return;
            }
            if (step.startsWith('429')) {
                const [, after] = step.split(':');
                twilioError(res, 429, 20429, 'Too Many Requests', after ? { 'Retry-After': after } : {});
                return;
            }
            if (/^5\d\d$/.test(step)) {
                twilioError(res, Number(step), 20500, 'Internal Server Error');
                return;
            }
            if (req.headers.authorization !== auth) {
                twilioError(res, 401, 20003, 'Authenticate');
                return;
            }
            const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
            if (!/^\+[1-9]\d{7,14}$/.test(form.To ?? '')) {
                twilioError(res, 400, 21211, `The 'To' number ${form.To} is not a valid phone number.`);
                return;
            }
            if (!form.Body) {
                twilioError(res, 400, 21602, 'Message body is required.');
                return;
            }
            if (!form.From && !form.MessagingServiceSid) {
                twilioError(res, 400, 21603, "The 'From' phone number is required.");
                return;
            }
            const msg = {
                sid: newSid('SM'),
                to: form.To,
                from: form.From ?? form.MessagingServiceSid,
                body: form.Body,
                statusCallback: form.StatusCallback ?? null,
                numSegments: segments(form.Body),
                at,
            };
            messages.push(msg);
            res.writeHead(201, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({
                sid: msg.sid,
                account_sid: accountSid,
                to: msg.to,
                from: form.From ?? null,
                messaging_service_sid: form.MessagingServiceSid ?? null,
                body: msg.body,
                status: 'queued',
                num_segments: String(msg.numSegments),
                direction: 'outbound-api',
                api_version: '2010-04-01',
                error_code: null,
                error_message: null,
                uri: `${path.replace('.json', '')}/${msg.sid}.json`,
            }));
            if (autoStatus && msg.statusCallback) {
                (async () => {
                    await delay(statusDelayMs);
                    await status(msg, 'sent').catch(() => {});
                    await delay(statusDelayMs);
                    await status(msg, 'delivered').catch(() => {});
                })();
            }
        });
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, resolve);
    });
    const { port } = server.address();

    return {
        url: `http://${host}:${port}`,
        port,
        accountSid,
        authToken,
        messages,
        requests,
        callbacks,
        // The next answers, in order: '201', '429', '429:SECONDS', '500',
        // '503', 'hang'. After them: 201.
        script(...steps) {
            pending.push(...steps);
        },
        async waitMessages(n, timeoutMs = 15000) {
            const deadline = Date.now() + timeoutMs;
            while (messages.length < n) {
                if (Date.now() > deadline) throw new Error(`sms_sim: ${messages.length}/${n} messages`);
                await delay(20);
            }
            return messages;
        },
        sendStatus: (msg, st, opts) => status(msg, st, opts),
        // An incoming SMS to the relay's MO webhook 'url'.
        sendMo({ url, from, to = '+3197010000001', body, forge = false, signature, messageSid = newSid('SM') }) {
            const params = {
                AccountSid: accountSid,
                ApiVersion: '2010-04-01',
                Body: body,
                From: from,
                MessageSid: messageSid,
                NumMedia: '0',
                NumSegments: String(segments(body)),
                SmsMessageSid: newSid('SM'),
                To: to,
            };
            return postSigned(url, params, authToken, { forge, signature });
        },
        async close() {
            for (const res of hung) res.destroy();
            server.closeAllConnections?.();
            await new Promise((resolve) => server.close(resolve));
        },
    };
}
