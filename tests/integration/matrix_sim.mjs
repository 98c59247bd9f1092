// matrix_sim.mjs - a loopback simulator of the part of a Matrix homeserver
// the relay's matrix adapter (adapters/matrix.c) talks to: sending
// m.room.message events into rooms, and pushing application-service
// transactions (residents' replies) to the relay. With the failures a
// real homeserver shows: M_LIMIT_EXCEEDED with retry_after_ms, 5xx, a
// hang, a bad token, a room the bot is not in, an event too large; and
// with authentic, forged and replayed transactions.
//
//   const sim = await startMatrixSim({ rooms: ['!alerts:sim.local'] });
//   relay config: matrix.homeserver-url = sim.url,
//                 matrix.access-token-file = (file with sim.accessToken),
//                 matrix.hs-token-file = (file with sim.hsToken),
//                 matrix.user-id = sim.userId
//   sim.script('429:2', '500', 'hang')   // next sends, then 200s
//   sim.messages                          // what was accepted
//   await sim.waitMessages(n)
//   await sim.sendReply({ hookUrl: `${relay.http}/hooks/matrix`,
//                         chat: '!alerts:sim.local', from: '@jan:sim.local',
//                         text: 'Gezien!', replyTo: sim.messages[0].providerId })
//
// Documented behaviour it follows (spec.matrix.org, client-server API and
// application service API; reliability.md section 3.3):
// - PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}, the
//   room id percent-encoded in the path, "Authorization: Bearer <token>"
//   (or the deprecated ?access_token=). Answers 200 {"event_id":"$..."}.
//   "The transaction ID for this event. Clients should generate an ID
//   unique across requests with the same access token; it will be used
//   by the server to ensure idempotency of requests": the same token,
//   path and txnId get the first answer again and post nothing new (like
//   Synapse's HttpTransactionCache, which keeps them 30 to 60 minutes and
//   caches successes only, so a refused request is executed afresh when
//   retried with the same txnId).
// - Errors are {"errcode":"M_...","error":"..."}: 401 M_MISSING_TOKEN /
//   M_UNKNOWN_TOKEN (with soft_logout), 403 M_FORBIDDEN when the sender
//   is not joined to the room ("User ... not in room ..."), 400
//   M_NOT_JSON / M_BAD_JSON for a body that is no JSON object or an
//   m.room.message without a string msgtype and body (or a formatted_body
//   without format org.matrix.custom.html), 400 M_INVALID_PARAM for a
//   malformed room id, 413 M_TOO_LARGE when the event would pass 65536
//   bytes of JSON, 404/405 M_UNRECOGNIZED for unknown endpoints/methods.
// - Rate limiting: 429 {"errcode":"M_LIMIT_EXCEEDED","error":"Too Many
//   Requests","retry_after_ms":N}, plus a Retry-After header in seconds
//   (spec v1.10).
// - Room ids: "!opaque:server_name" (room versions 1-11; opaque = any
//   code point but ':' and NUL) or "!" + 43 url-safe base64 characters
//   (room version 12); at most 255 bytes.
// - Replies (application service API): the homeserver PUTs
//   {registration url}/_matrix/app/v1/transactions/{txnId} (current
//   Synapse only uses this path; pre-v1 homeservers used
//   {url}/transactions/{txnId}, see legacyPaths) with
//   {"events":[...client-format events...]} and "Authorization: Bearer
//   <hs_token>" (spec v1.4; before that ?access_token=, see queryToken).
//   A refused transaction is retried later with the same txnId and the
//   same events; the bot's own events are pushed too (see echoOwn).
// - Rich replies: content["m.relates_to"]["m.in_reply_to"].event_id, and
//   a fallback in body ("> <@sender> first line" / "> next line", a blank
//   line, then the reply) and in formatted_body (<mx-reply>...).
// Only loopback: the server listens on 127.0.0.1; transactions go where
// the test says (the relay's hooks, 127.0.0.1 in tests).

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

const MAX_EVENT_BYTES = 65536;
const ROOM_V1 = /^![^:\u0000]+:(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/u;
const ROOM_V12 = /^![A-Za-z0-9_-]{43}$/;
const HEADERS = new Map([
    ['Politie-oproep', 'appeal'], // approval renders the same
    ['Update politie-oproep', 'update'],
    ['Afgesloten', 'closing'],
    ['Uw melding', 'status'],
    ['Bericht', 'notice'],
    ['Test', 'test'],
]);
const URGENT = '\u{1F6A8} ';

export function validRoomId(id) {
    if (typeof id !== 'string' || Buffer.byteLength(id) > 255) return false;
    if (ROOM_V12.test(id)) return true;
    const m = ROOM_V1.exec(id);
    return !!m && (m[2] === undefined || Number(m[2].slice(1)) <= 65535);
}

// An event id as room versions 4+ make them: "$" + 43 url-safe base64.
const newEventId = () => '$' + randomBytes(32).toString('base64url');

function htmlUnescape(s) {
    return s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e) => {
        if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
        return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e];
    });
}

// formatted_body as a client shows it, as plain text: <mx-reply> dropped
// (spec: stripping the fallback), <br> a line break, other tags gone.
export function renderHtml(html) {
    return htmlUnescape(html
        .replace(/<mx-reply>[\s\S]*?<\/mx-reply>/g, '')
        .replace(/<br\s*\/?>/gi, '\n')
        .replace(/<[^>]*>/g, ''));
}

function mxError(res, status, errcode, error, extra = {}, headers = {}) {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify({ errcode, error, ...extra }));
}

// The rich-reply fallback for a reply to 'orig' (spec: rich replies).
function replyFallback(orig, roomId) {
    const lines = (orig?.body ?? '').split('\n');
    const quoted = lines.map((l, i) => (i === 0 ? `> <${orig?.sender ?? '@unknown:sim.local'}> ${l}` : `> ${l}`)).join('\n');
    const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    const html = `<mx-reply><blockquote><a href="https://matrix.to/#/${encodeURIComponent(roomId)}/${encodeURIComponent(orig?.providerId ?? '')}">In reply to</a> ` +
        `<a href="https://matrix.to/#/${encodeURIComponent(orig?.sender ?? '')}">${esc(orig?.sender ?? '')}</a><br />` +
        `${orig?.formattedBody ?? esc(orig?.body ?? '')}</blockquote></mx-reply>`;
    return { quoted, html };
}

export async function startMatrixSim({
    accessToken = 'sim-access-token-0123456789',
    hsToken = 'sim-hs-token-0123456789',
    userId = '@buurtbot:sim.local',
    serverName = 'sim.local',
    rooms = null,          // rooms the bot has joined; null: every valid room id
    directRooms = [],      // rooms that are one-to-one chats (messages[].group false)
    hookUrl = null,        // the relay's {public-url}/hooks/matrix, for echoOwn
    echoOwn = true,        // push the bot's own accepted events back (as Synapse does) when hookUrl is set
    legacyPaths = false,   // transactions to {hook}/transactions/{txnId} (pre-v1)
    queryToken = false,    // also send ?access_token=hs_token (legacy auth)
    host = '127.0.0.1',
} = {}) {
    const messages = [];   // accepted: {to, group, text, body, formattedBody, raw, providerId, txnId, sender, header, urgent, kind, at}
    const requests = [];   // every request: {method, path, headers, body, at, status}
    const transactions = []; // pushed to the relay: {txnId, url, events, forged, replayed, status, body}
    const pending = [];    // scripted answers
    const hung = new Set();
    const txnCache = new Map(); // `${token} ${path}` -> {status, body}
    const joined = rooms ? new Set(rooms) : null;
    const direct = new Set(directRooms);
    let nextTxn = 1;
    let lastPush = null;

    function tokenOf(req, url) {
        const h = req.headers.authorization;
        if (h !== undefined) {
            const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
            return m ? m[1] : '';
        }
        return url.searchParams.get('access_token');
    }

    function accept(roomId, txnId, content, raw) {
        const providerId = newEventId();
        const formatted = content.format === 'org.matrix.custom.html' && typeof content.formatted_body === 'string';
        const text = formatted ? renderHtml(content.formatted_body) : content.body;
        const firstLine = text.split('\n', 1)[0];
        const urgent = firstLine.startsWith(URGENT);
        const header = urgent ? firstLine.slice(URGENT.length) : firstLine;
        const msg = {
            to: roomId,
            group: !direct.has(roomId),
            text,
            body: content.body,
            formattedBody: formatted ? content.formatted_body : null,
            consistent: content.body === text, // plain and HTML say the same
            raw,
            providerId,
            txnId,
            sender: userId,
            header,
            urgent,
            kind: HEADERS.get(header),
            at: Date.now(),
        };
        messages.push(msg);
        if (hookUrl && echoOwn) {
            // the homeserver tells the appservice about our own event too
            pushTransaction(hookUrl, [clientEvent(roomId, userId, content, providerId)]).catch(() => {});
        }
        return msg;
    }

    // Validates a send like a homeserver; returns [status, errcode, error] or null.
    function validate(roomId, eventType, body) {
        let content;
        try {
            content = JSON.parse(body);
        } catch {
            return [[400, 'M_NOT_JSON', 'Content not JSON.']];
        }
        if (content === null || typeof content !== 'object' || Array.isArray(content)) {
            return [[400, 'M_BAD_JSON', 'Content must be a JSON object.']];
        }
        if (!validRoomId(roomId)) return [[400, 'M_INVALID_PARAM', `'${roomId}' is not a valid room ID`]];
        if (joined && !joined.has(roomId)) {
            return [[403, 'M_FORBIDDEN', `User ${userId} not in room ${roomId}`]];
        }
        if (eventType === 'm.room.message') {
            if (typeof content.msgtype !== 'string' || typeof content.body !== 'string') {
                return [[400, 'M_BAD_JSON', "'msgtype' and 'body' must be strings"]];
            }
            if (content.formatted_body !== undefined &&
                (content.format !== 'org.matrix.custom.html' || typeof content.formatted_body !== 'string')) {
                return [[400, 'M_BAD_JSON', "'formatted_body' needs 'format': 'org.matrix.custom.html'"]];
            }
        }
        // the PDU the homeserver would build around the content
        const pdu = {
            auth_events: [newEventId(), newEventId(), newEventId()],
            content,
            depth: 12345,
            hashes: { sha256: randomBytes(32).toString('base64').replace(/=+$/, '') },
            origin_server_ts: Date.now(),
            prev_events: [newEventId()],
            room_id: roomId,
            sender: userId,
            signatures: { [serverName]: { 'ed25519:a_Abcd': randomBytes(64).toString('base64').replace(/=+$/, '') } },
            type: eventType,
            unsigned: { age_ts: Date.now() },
        };
        if (Buffer.byteLength(JSON.stringify(pdu)) > MAX_EVENT_BYTES) {
            return [[413, 'M_TOO_LARGE', 'event too large']];
        }
        return [null, content];
    }

    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            const url = new URL(req.url, 'http://sim');
            const rec = { method: req.method, path: req.url, headers: { ...req.headers }, body, at: Date.now(), status: null };
            requests.push(rec);
            const answer = (status, errcode, error, extra, headers) => {
                rec.status = status;
                mxError(res, status, errcode, error, extra, headers);
            };
            // /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}, on the raw (encoded) path
            const m = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/send\/([^/]+)\/([^/]+)$/.exec(url.pathname);
            if (!m) {
                answer(404, 'M_UNRECOGNIZED', 'Unrecognized request');
                return;
            }
            if (req.method !== 'PUT') {
                answer(405, 'M_UNRECOGNIZED', 'Unrecognized request');
                return;
            }
            let roomId, eventType, txnId;
            try {
                [roomId, eventType, txnId] = m.slice(1).map(decodeURIComponent);
            } catch {
                answer(400, 'M_INVALID_PARAM', 'bad path encoding');
                return;
            }
            const token = tokenOf(req, url);
            if (token === null || token === '') {
                answer(401, 'M_MISSING_TOKEN', 'Missing access token');
                return;
            }
            if (token !== accessToken) {
                answer(401, 'M_UNKNOWN_TOKEN', 'Invalid access token passed.', { soft_logout: false });
                return;
            }
            // idempotency: the same token + request path answered before
            const key = `${token} ${url.pathname}`;
            const cached = txnCache.get(key);
            if (cached) {
                rec.status = cached.status;
                rec.cached = true;
                res.writeHead(cached.status, { 'Content-Type': 'application/json' });
                res.end(cached.body);
                return;
            }
            const step = pending.shift() ?? '200';
            rec.step = step;
            if (step === 'hang' || step === 'timeout' || step === 'hang-before') {
                // 'hang': the event is posted but the answer never comes (the
                // case txnId idempotency is for); 'hang-before': nothing happens
                if (step !== 'hang-before') {
                    const [err, content] = validate(roomId, eventType, body);
                    if (!err) {
                        const msg = accept(roomId, txnId, content, body);
                        txnCache.set(key, { status: 200, body: JSON.stringify({ event_id: msg.providerId }) });
                    }
                }
                hung.add(res);
                return;
            }
            if (step.startsWith('429')) {
                const [, after] = step.split(':');
                const extra = after !== undefined ? { retry_after_ms: Number(after) * 1000 } : {};
                const headers = after !== undefined ? { 'Retry-After': String(Math.ceil(Number(after))) } : {};
                answer(429, 'M_LIMIT_EXCEEDED', 'Too Many Requests', extra, headers);
                return;
            }
            if (/^5\d\d$/.test(step)) {
                answer(Number(step), 'M_UNKNOWN', 'Internal server error');
                return;
            }
            if (step === '401') {
                answer(401, 'M_UNKNOWN_TOKEN', 'Invalid access token passed.', { soft_logout: true });
                return;
            }
            if (step === '403') {
                answer(403, 'M_FORBIDDEN', `User ${userId} not in room ${roomId}`);
                return;
            }
            const [err, content] = validate(roomId, eventType, body);
            if (err) {
                answer(...err);
                return;
            }
            const msg = accept(roomId, txnId, content, body);
            const out = JSON.stringify({ event_id: msg.providerId });
            txnCache.set(key, { status: 200, body: out });
            rec.status = 200;
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end(out);
        });
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, resolve);
    });
    const { port } = server.address();

    function clientEvent(roomId, sender, content, eventId = newEventId()) {
        const ts = Date.now();
        return {
            type: 'm.room.message',
            room_id: roomId,
            sender,
            content,
            event_id: eventId,
            origin_server_ts: ts,
            unsigned: { age: 5 },
            user_id: sender, // legacy field Synapse still sends
            age: 5,
        };
    }

    // PUTs one appservice transaction to the relay's hook, as the homeserver does.
    async function pushTransaction(hook, events, { forge = false, txnId = String(nextTxn++), bodyText } = {}) {
        const base = hook.replace(/\/+$/, '');
        const path = legacyPaths ? `/transactions/${encodeURIComponent(txnId)}` : `/_matrix/app/v1/transactions/${encodeURIComponent(txnId)}`;
        const token = forge ? 'not-the-hs-token' : hsToken;
        const target = base + path + (queryToken ? `?access_token=${encodeURIComponent(token)}` : '');
        const body = bodyText ?? JSON.stringify({ events });
        const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
        lastPush = { target, body, headers, txnId, events };
        return send(lastPush, { forged: forge, replayed: false });
    }

    async function send(p, flags) {
        const res = await fetch(p.target, {
            method: 'PUT',
            headers: p.headers,
            body: p.body,
            signal: AbortSignal.timeout(5000),
        });
        const out = { status: res.status, body: await res.text(), txnId: p.txnId, eventId: p.events?.[0]?.event_id };
        transactions.push({ txnId: p.txnId, url: p.target, events: p.events, ...flags, status: out.status, body: out.body });
        return out;
    }

    return {
        url: `http://${host}:${port}`,
        port,
        // The relay's registration URL, when it is known only after the
        // simulator started (the relay's port is chosen after ours).
        setHookUrl(u) {
            hookUrl = u;
        },
        accessToken,
        hsToken,
        userId,
        serverName,
        messages,
        requests,
        transactions,
        // The next answers to sends, in order: '200', '429', '429:SECONDS',
        // '500'/'502'/'503', '401', '403', 'hang' (posted, never answered),
        // 'timeout' (= 'hang'), 'hang-before' (not posted, never answered).
        // After them: 200. Requests answered from the txnId cache do not
        // use up a step.
        script(...steps) {
            pending.push(...steps);
        },
        join(roomId) {
            joined?.add(roomId);
        },
        leave(roomId) {
            if (joined) joined.delete(roomId);
        },
        async waitMessages(n, timeoutMs = 5000) {
            const deadline = Date.now() + timeoutMs;
            while (messages.length < n) {
                if (Date.now() > deadline) throw new Error(`matrix_sim: ${messages.length}/${n} messages`);
                await delay(20);
            }
            return messages;
        },
        // A resident's message pushed to the relay as an appservice
        // transaction. hookUrl: the registration url ({public-url}/hooks/matrix).
        // chat: the room (a DM room for one-to-one; 'group' only picks the
        // default). replyTo: a messages[].providerId, making it a rich
        // reply with fallback. replay: the previous transaction again,
        // byte for byte (same txnId). forge: a wrong hs_token.
        async sendReply({ hookUrl: hook = hookUrl, chat, from = `@resident:${serverName}`, text = '', replyTo, group = true, forge = false, replay = false } = {}) {
            if (replay) {
                if (!lastPush) throw new Error('matrix_sim: nothing to replay');
                return send(lastPush, { forged: false, replayed: true });
            }
            if (!hook) throw new Error('matrix_sim: sendReply needs hookUrl');
            const roomId = chat ?? (group ? (rooms?.[0] ?? `!alerts:${serverName}`) : (directRooms[0] ?? `!dm:${serverName}`));
            let content = { msgtype: 'm.text', body: text };
            if (replyTo !== undefined) {
                const orig = messages.find((x) => x.providerId === replyTo);
                const fb = replyFallback(orig ?? { providerId: replyTo }, roomId);
                const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, '<br />');
                content = {
                    msgtype: 'm.text',
                    body: `${fb.quoted}\n\n${text}`,
                    format: 'org.matrix.custom.html',
                    formatted_body: `${fb.html}${esc(text)}`,
                    'm.relates_to': { 'm.in_reply_to': { event_id: replyTo } },
                };
            }
            return pushTransaction(hook, [clientEvent(roomId, from, content)], { forge });
        },
        // Lower level: any events in one transaction (e.g. several replies,
        // or events of other types). Each event gets the defaults of
        // clientEvent for what it leaves out.
        sendEvents({ hookUrl: hook = hookUrl, events, forge = false, bodyText } = {}) {
            const full = (events ?? []).map((e) => ({ ...clientEvent(e.room_id, e.sender, e.content ?? {}), ...e }));
            return pushTransaction(hook, full, { forge, bodyText });
        },
        async close() {
            for (const res of hung) res.destroy();
            server.closeAllConnections?.();
            await new Promise((resolve) => server.close(resolve));
        },
    };
}
