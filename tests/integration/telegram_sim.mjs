// telegram_sim.mjs - a loopback simulator of the Telegram Bot API, for
// testing the relay's telegram adapter (adapters/telegram.c) against the
// failures the real API shows: 429 with retry_after, 5xx, a hang, chats
// that do not exist, users who blocked the bot, groups that migrated to
// supergroups, entity-parsing errors, texts that are too long; and with
// incoming messages (webhook updates), authentic or forged.
//
//   const sim = await startTelegramSim({ token, secretToken });
//   relay config: telegram.api-url = sim.url,
//                 telegram.bot-token-file = <file holding sim.token>,
//                 telegram.webhook-secret-file = <file holding sim.secretToken>
//   sim.script('429:2', '500', 'hang')   // next sends, then success
//   sim.messages                          // what was accepted
//   await sim.waitMessages(n)
//   await sim.sendReply({ hookUrl, from, text, replyTo: msg.providerId })
//
// Documented behaviour it follows (core.telegram.org/bots/api: "Making
// requests", sendMessage, "Formatting options", ResponseParameters,
// setWebhook, Update, Message; core.telegram.org/bots/faq "My bot is
// hitting limits"; /work/shared/research/reliability.md section 3.2):
// - Requests: https://api.telegram.org/bot<token>/METHOD, GET or POST,
//   parameters in the query string, application/x-www-form-urlencoded or
//   application/json (multipart is not simulated); method names are
//   case-insensitive. Every answer is JSON: {"ok":true,"result":...} or
//   {"ok":false,"error_code":N,"description":"...","parameters":{...}}.
//   A wrong token: 401 "Unauthorized"; an unknown method or a path
//   without a token: 404 "Not Found".
// - sendMessage: chat_id (Integer, or String "@channelusername"), text
//   (1-4096 characters after entities parsing), parse_mode ("HTML",
//   "MarkdownV2", "Markdown"), link_preview_options (or the older
//   disable_web_page_preview). Success returns the Message: message_id
//   (ids count up per chat), from (the bot), chat, date, text (markup
//   removed, leading and trailing blanks trimmed), entities.
//   Errors, as the real API words them:
//     400 "Bad Request: chat_id is empty"
//     400 "Bad Request: message text is empty"
//     400 "Bad Request: chat not found"
//     400 "Bad Request: unsupported parse_mode"
//     400 "Bad Request: message is too long"
//     400 "Bad Request: can't parse entities: <why> at byte offset N"
//         (HTML: Unsupported start tag "x", Unexpected end tag,
//         Unmatched end tag, Can't find end tag corresponding to start
//         tag "b", Unclosed start tag; MarkdownV2: Character 'c' is
//         reserved and must be escaped with the preceding '\', Can't
//         find end of Bold entity)
//     400 "Bad Request: group chat was upgraded to a supergroup chat"
//         with parameters.migrate_to_chat_id
//     403 "Forbidden: bot was blocked by the user"
//     403 "Forbidden: bot was kicked from the group chat" (or supergroup)
//     403 "Forbidden: bot can't initiate conversation with a user"
//     429 "Too Many Requests: retry after N" with parameters.retry_after
//         (and a Retry-After header when retryAfterHeader is set; the
//         documented way is the body)
// - HTML style: tags b strong i em u ins s strike del span
//   class="tg-spoiler" tg-spoiler a href code pre blockquote tg-emoji;
//   "All <, > and & symbols that are not a part of a tag or an HTML
//   entity must be replaced with the corresponding HTML entities";
//   named entities only &lt; &gt; &amp; &quot;, numeric ones all. A '&'
//   that starts no entity and a bare '>' stay text, a bare '<' is an
//   error (our reading of tdlib's parser, not a documented promise: the
//   adapter escapes all three anyway).
// - Length: "4096 characters" after entity parsing. Whether that counts
//   code points or UTF-16 units is disputed; lengthUnit picks
//   ('codepoints', the default, as measured by third parties; 'utf16',
//   the stricter reading the adapter itself applies).
// - Limits (Bot FAQ): about 30 messages/s overall, 1 message/s in one
//   chat, 20 messages/min in one group. Off by default (tests stay
//   deterministic); limits: true turns on those values, or give
//   { globalPerSecond, perChatPerSecond, perGroupPerMinute }. Refused
//   sends get 429 with the seconds until the window has room.
// - No idempotency key: sendMessage has none, so a retried request
//   posts twice and DOES appear twice in messages (that is the platform).
// - Webhook (setWebhook): every Update is POSTed as JSON to the webhook
//   URL with the header X-Telegram-Bot-Api-Secret-Token = secret_token
//   (1-256 of A-Z a-z 0-9 _ -). update_id counts up; a message's
//   reply_to_message carries the answered message. A non-2xx answer is
//   retried by Telegram (not simulated: sendReply returns the status;
//   replay re-sends the same bytes).
//
// messages: { to, group, text, raw, providerId, kind, header, urgent,
//   body, chatId, messageId, parseMode, entities, params, at }:
//   to is chat_id as sent (a string: "123", "-100123", "@name"); text is
//   what a person sees (markup removed, entities decoded), e.g.
//   "🚨 Politie-oproep\nVermist: ..."; header its first line without the
//   "🚨 " and urgent whether that was there; kind the adapter's kind for
//   that header ('appeal' for "Politie-oproep": approval looks the same);
//   body the rest after the first line; raw the request body exactly as
//   received (a string); providerId "{chat.id}:{message_id}", the id the
//   adapter keeps.
// requests: every request, refused ones too: { at, method, path,
//   apiMethod, headers, body, params, step, status, answer }.
// Script steps (consumed one per sendMessage, before any validation):
//   'ok' (normal handling), '429' or '429:SECONDS', '500'/'502'/...,
//   '400'/'401'/'403'/'404' optionally ':description',
//   'migrate:NEWID' (400 with parameters.migrate_to_chat_id), 'hang' or
//   'timeout' (never answers), 'accept-hang' (handles the request
//   normally, adding it to messages, but never answers: a send whose
//   answer was lost).
// Only loopback: the server listens on 127.0.0.1.

import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

export const TELEGRAM_TEXT_MAX = 4096;

// The adapter's header line for each kind (telegram.c kind_title).
export const TELEGRAM_HEADERS = {
    appeal: 'Politie-oproep',
    approval: 'Politie-oproep',
    update: 'Update politie-oproep',
    closing: 'Afgesloten',
    status: 'Uw melding',
    notice: 'Bericht',
    test: 'Test',
};
const KIND_OF_HEADER = {
    'Politie-oproep': 'appeal',
    'Update politie-oproep': 'update',
    Afgesloten: 'closing',
    'Uw melding': 'status',
    Bericht: 'notice',
    Test: 'test',
};
const URGENT = '\u{1F6A8} ';

const FAQ_LIMITS = { globalPerSecond: 30, perChatPerSecond: 1, perGroupPerMinute: 20 };
const SECRET_RE = /^[A-Za-z0-9_-]{1,256}$/;

class ApiError extends Error {
    constructor(code, description, parameters) {
        super(description);
        this.code = code;
        this.description = description;
        this.parameters = parameters;
    }
}

const bad = (description, parameters) => new ApiError(400, `Bad Request: ${description}`, parameters);
const entityError = (why) => bad(`can't parse entities: ${why}`);
const byteOffset = (s, i) => Buffer.byteLength(s.slice(0, i), 'utf8');

// ---- HTML style (the tdlib parser's rules, as far as the adapter needs) --

const HTML_TAGS = {
    b: 'bold', strong: 'bold', i: 'italic', em: 'italic', u: 'underline',
    ins: 'underline', s: 'strikethrough', strike: 'strikethrough',
    del: 'strikethrough', 'tg-spoiler': 'spoiler', span: 'spoiler',
    a: 'text_link', code: 'code', pre: 'pre', blockquote: 'blockquote',
    'tg-emoji': 'custom_emoji',
};

function decodeEntity(src, i) {
    const m = /^&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));/.exec(src.slice(i, i + 12));
    if (!m) return null;
    let cp;
    if (m[1]) cp = { lt: 60, gt: 62, amp: 38, quot: 34 }[m[1]];
    else cp = m[2] ? Number(m[2]) : parseInt(m[3], 16);
    if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    return { ch: String.fromCodePoint(cp), len: m[0].length };
}

// Parses Telegram HTML into { text, entities } (UTF-16 offsets), or
// throws the API's 400.
export function parseTelegramHtml(src) {
    let text = '';
    const entities = [];
    const stack = [];
    for (let i = 0; i < src.length;) {
        const c = src[i];
        if (c === '&') {
            const e = decodeEntity(src, i);
            if (e) {
                text += e.ch;
                i += e.len;
                continue;
            }
            text += c;
            i++;
            continue;
        }
        if (c !== '<') {
            text += c;
            i++;
            continue;
        }
        const begin = i;
        const close = src.indexOf('>', i);
        if (src[i + 1] === '/') {
            if (close < 0) throw entityError(`Unclosed end tag at byte offset ${byteOffset(src, begin)}`);
            const name = src.slice(i + 2, close).trim().toLowerCase();
            if (stack.length === 0) throw entityError(`Unexpected end tag at byte offset ${byteOffset(src, begin)}`);
            const top = stack[stack.length - 1];
            if (name !== top.tag) {
                throw entityError(`Unmatched end tag at byte offset ${byteOffset(src, begin)}, expected "</${top.tag}>", found "</${name}>"`);
            }
            stack.pop();
            if (text.length > top.offset) {
                const ent = { type: top.type, offset: top.offset, length: text.length - top.offset };
                if (top.url) ent.url = top.url;
                entities.push(ent);
            }
            i = close + 1;
            continue;
        }
        const m = /^<([^\s>]*)/.exec(src.slice(i));
        const name = m[1].toLowerCase();
        if (close < 0) throw entityError(`Unclosed start tag at byte offset ${byteOffset(src, begin)}`);
        if (!Object.hasOwn(HTML_TAGS, name)) {
            throw entityError(`Unsupported start tag "${name}" at byte offset ${byteOffset(src, begin)}`);
        }
        const attrs = {};
        const attrSrc = src.slice(i + 1 + m[1].length, close);
        const re = /\s*([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+)))?/gy;
        let a;
        let consumed = 0;
        while (consumed < attrSrc.length && (a = re.exec(attrSrc)) && a[0].length > 0) {
            attrs[a[1].toLowerCase()] = a[2] ?? a[3] ?? a[4] ?? '';
            consumed = re.lastIndex;
        }
        if (attrSrc.slice(consumed).trim() !== '') {
            throw entityError(`Unclosed start tag at byte offset ${byteOffset(src, begin)}`);
        }
        if (name === 'span' && attrs.class !== 'tg-spoiler') {
            throw entityError(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(src, begin)}`);
        }
        stack.push({ tag: name, type: HTML_TAGS[name], offset: text.length, url: attrs.href });
        i = close + 1;
    }
    if (stack.length) {
        throw entityError(`Can't find end tag corresponding to start tag "${stack[stack.length - 1].tag}"`);
    }
    return { text, entities };
}

// ---- MarkdownV2 (bold, italic, underline, strikethrough, spoiler, code) --

const MD_RESERVED = '_*[]()~`>#+-=|{}.!';
const MD_NAMES = { '*': 'Bold', _: 'Italic', __: 'Underline', '~': 'Strikethrough', '||': 'Spoiler', '`': 'Code' };
const MD_TYPES = { '*': 'bold', _: 'italic', __: 'underline', '~': 'strikethrough', '||': 'spoiler', '`': 'code' };

export function parseTelegramMarkdownV2(src) {
    let text = '';
    const entities = [];
    const open = [];
    for (let i = 0; i < src.length;) {
        const c = src[i];
        if (c === '\\') {
            const n = src.codePointAt(i + 1);
            if (n === undefined || n < 1 || n > 126) {
                throw entityError(`Character '\\' is reserved and must be escaped with the preceding '\\'`);
            }
            text += src[i + 1];
            i += 2;
            continue;
        }
        const inCode = open.length && open[open.length - 1].mark === '`';
        if (inCode && c !== '`') {
            text += c;
            i++;
            continue;
        }
        let mark = null;
        if (src.startsWith('__', i)) mark = '__';
        else if (src.startsWith('||', i)) mark = '||';
        else if ('*_~`'.includes(c)) mark = c;
        if (mark) {
            const at = open.findIndex((o) => o.mark === mark);
            if (at >= 0) {
                const o = open.splice(at, 1)[0];
                if (text.length > o.offset) entities.push({ type: MD_TYPES[mark], offset: o.offset, length: text.length - o.offset });
            } else {
                open.push({ mark, offset: text.length, at: byteOffset(src, i) });
            }
            i += mark.length;
            continue;
        }
        if (MD_RESERVED.includes(c)) {
            throw entityError(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);
        }
        text += c;
        i++;
    }
    if (open.length) {
        const o = open[open.length - 1];
        throw entityError(`Can't find end of ${MD_NAMES[o.mark]} entity at byte offset ${o.at}`);
    }
    return { text, entities };
}

// Legacy "Markdown": *bold* _italic_ `code`, backslash escapes.
function parseTelegramMarkdown(src) {
    let text = '';
    const entities = [];
    let open = null;
    for (let i = 0; i < src.length; i++) {
        const c = src[i];
        if (c === '\\' && i + 1 < src.length && '*_`['.includes(src[i + 1]) && !open) {
            text += src[++i];
        } else if ('*_`'.includes(c) && (!open || open.mark === c)) {
            if (open) {
                if (text.length > open.offset) entities.push({ type: MD_TYPES[c], offset: open.offset, length: text.length - open.offset });
                open = null;
            } else {
                open = { mark: c, offset: text.length, at: byteOffset(src, i) };
            }
        } else {
            text += c;
        }
    }
    if (open) throw entityError(`Can't find end of the entity starting at byte offset ${open.at}`);
    return { text, entities };
}

// Trims leading/trailing blanks as Telegram does, shifting entities.
function trimFormatted({ text, entities }) {
    const lead = text.length - text.trimStart().length;
    const trimmed = text.trim();
    const out = [];
    for (const e of entities) {
        const start = Math.max(e.offset - lead, 0);
        const end = Math.min(e.offset + e.length - lead, trimmed.length);
        if (end > start) out.push({ ...e, offset: start, length: end - start });
    }
    return { text: trimmed, entities: out.sort((x, y) => x.offset - y.offset) };
}

function measure(text, unit) {
    return unit === 'utf16' ? text.length : [...text].length;
}

// ---- Requests ---------------------------------------------------------

function parseParams(req, raw, query) {
    const params = Object.fromEntries(query);
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (raw.length === 0) return params;
    if (type === 'application/json') {
        let body;
        try {
            body = JSON.parse(raw);
        } catch {
            throw bad("can't parse JSON encoded request");
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad("can't parse JSON encoded request");
        return { ...params, ...body };
    }
    if (type === 'application/x-www-form-urlencoded') {
        return { ...params, ...Object.fromEntries(new URLSearchParams(raw)) };
    }
    return params;
}

// "value" of a form field that may be a JSON-serialized object.
function jsonField(v) {
    if (typeof v !== 'string') return v;
    try {
        return JSON.parse(v);
    } catch {
        return undefined;
    }
}

export async function startTelegramSim({
    token = '123456789:AAH-sim_token_0123456789abcdefghijkl',
    secretToken = 'sim-webhook_secret-0123456789',
    botUsername = 'buurtrelay_sim_bot',
    knownChats = null,
    lengthUnit = 'codepoints',
    limits = null,
    retryAfterHeader = false,
    host = '127.0.0.1',
} = {}) {
    if (!SECRET_RE.test(secretToken)) throw new Error('telegram_sim: secretToken must be 1-256 of A-Za-z0-9_-');
    const botId = Number(token.split(':')[0]);
    const bot = { id: botId, is_bot: true, first_name: 'Buurtrelay', username: botUsername };
    const lim = limits === true ? FAQ_LIMITS : (limits ?? {});
    const messages = [];
    const requests = [];
    const pending = [];
    const hung = new Set();
    const chats = new Map(); // String(id) -> chat state
    const sendTimes = [];    // accepted sends, for the global limit
    let updateId = 100000;
    let nextChannelId = 1;
    let lastWebhook = null;
    const webhook = { url: '', secretToken: '' };

    function addChat(c) {
        const spec = typeof c === 'object' ? c : { id: c };
        const id = Number(spec.id);
        const type = spec.type ?? (id > 0 ? 'private' : String(id).startsWith('-100') ? 'supergroup' : 'group');
        const chat = {
            id,
            type,
            title: spec.title ?? (type === 'private' ? undefined : `Buurtgroep ${-id}`),
            first_name: spec.first_name ?? (type === 'private' ? 'Bewoner' : undefined),
            username: spec.username,
            blocked: !!spec.blocked,         // 403: the user blocked the bot
            kicked: !!spec.kicked,           // 403: the bot left / was removed
            notStarted: !!spec.notStarted,   // 403: the user never pressed /start
            migratedTo: spec.migratedTo ?? null,
            nextMessageId: 1,
            times: [],                       // accepted sends to this chat
        };
        chats.set(String(id), chat);
        return chat;
    }
    for (const c of knownChats ?? []) addChat(c);

    const publicChat = (c) => {
        const o = { id: c.id, type: c.type };
        if (c.title) o.title = c.title;
        if (c.first_name) o.first_name = c.first_name;
        if (c.username) o.username = c.username;
        return o;
    };

    function resolveChat(chatId) {
        const s = String(chatId ?? '').trim();
        if (s === '') throw bad('chat_id is empty');
        if (s.startsWith('@')) {
            const name = s.slice(1).toLowerCase();
            for (const c of chats.values()) if (c.username?.toLowerCase() === name) return c;
            if (knownChats || !/^[A-Za-z][A-Za-z0-9_]{4,31}$/.test(s.slice(1))) throw bad('chat not found');
            return addChat({ id: -(1000000000000 + nextChannelId++), type: 'channel', title: s.slice(1), username: s.slice(1) });
        }
        if (!/^-?[1-9]\d{0,15}$/.test(s) || !Number.isSafeInteger(Number(s))) throw bad('chat not found');
        const c = chats.get(String(Number(s)));
        if (c) return c;
        if (knownChats) throw bad('chat not found');
        return addChat(Number(s));
    }

    // Seconds until 'times' (ms stamps, oldest first) leaves room for one
    // more within max per windowMs; 0 when there is room.
    function wait(times, max, windowMs, now) {
        if (!max || !Number.isFinite(max)) return 0;
        const recent = times.filter((t) => t > now - windowMs);
        if (recent.length < max) return 0;
        return Math.max(1, Math.ceil((recent[recent.length - max] + windowMs - now) / 1000));
    }
    const prune = (times, now) => {
        while (times.length && times[0] <= now - 60000) times.shift();
    };

    function sendMessage(params, now) {
        const chatIdParam = params.chat_id;
        if (chatIdParam === undefined || chatIdParam === null || String(chatIdParam).trim() === '') throw bad('chat_id is empty');
        if (typeof params.text !== 'string' && typeof params.text !== 'number') throw bad('message text is empty');
        const src = String(params.text);
        const mode = params.parse_mode === undefined || params.parse_mode === '' ? '' : String(params.parse_mode).toLowerCase();
        if (!['', 'html', 'markdownv2', 'markdown'].includes(mode)) throw bad('unsupported parse_mode');
        const chat = resolveChat(chatIdParam);
        if (chat.migratedTo) {
            throw bad('group chat was upgraded to a supergroup chat', { migrate_to_chat_id: chat.migratedTo });
        }
        if (chat.blocked) throw new ApiError(403, 'Forbidden: bot was blocked by the user');
        if (chat.notStarted) throw new ApiError(403, "Forbidden: bot can't initiate conversation with a user");
        if (chat.kicked) {
            throw new ApiError(403, chat.type === 'channel' ? 'Forbidden: bot is not a member of the channel chat'
                : `Forbidden: bot was kicked from the ${chat.type === 'supergroup' ? 'supergroup' : 'group'} chat`);
        }
        const parsed = mode === 'html' ? parseTelegramHtml(src)
            : mode === 'markdownv2' ? parseTelegramMarkdownV2(src)
                : mode === 'markdown' ? parseTelegramMarkdown(src)
                    : { text: src, entities: [] };
        const { text, entities } = trimFormatted(parsed);
        if (text.length === 0) throw bad('message text is empty');
        if (measure(text, lengthUnit) > TELEGRAM_TEXT_MAX) throw bad('message is too long');
        const w = Math.max(
            wait(sendTimes, lim.globalPerSecond, 1000, now),
            wait(chat.times, lim.perChatPerSecond, 1000, now),
            chat.type === 'private' ? 0 : wait(chat.times, lim.perGroupPerMinute, 60000, now),
        );
        if (w > 0) {
            throw new ApiError(429, `Too Many Requests: retry after ${w}`, { retry_after: w });
        }
        sendTimes.push(now);
        chat.times.push(now);
        prune(sendTimes, now);
        prune(chat.times, now);
        const result = {
            message_id: chat.nextMessageId++,
            from: bot,
            chat: publicChat(chat),
            date: Math.floor(now / 1000),
            text,
        };
        if (entities.length) result.entities = entities;
        const lpo = jsonField(params.link_preview_options);
        if (lpo && typeof lpo === 'object') result.link_preview_options = lpo;
        chat.log ??= [];
        chat.log.push(result);
        return { chat, result, text, entities, mode };
    }

    function record(params, raw, outcome, now) {
        const { chat, result, text, entities, mode } = outcome;
        const nl = text.indexOf('\n');
        const first = nl < 0 ? text : text.slice(0, nl);
        const urgent = first.startsWith(URGENT);
        const header = urgent ? first.slice(URGENT.length) : first;
        messages.push({
            to: String(params.chat_id),
            group: chat.type !== 'private',
            text,
            raw,
            providerId: `${chat.id}:${result.message_id}`,
            kind: KIND_OF_HEADER[header],
            header,
            urgent,
            body: nl < 0 ? '' : text.slice(nl + 1),
            chatId: chat.id,
            messageId: result.message_id,
            parseMode: mode,
            entities,
            params,
            at: now,
        });
    }

    function answer(res, status, obj, headers = {}) {
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
        res.end(JSON.stringify(obj));
    }

    function scripted(step) {
        if (step.startsWith('migrate:')) {
            return new ApiError(400, 'Bad Request: group chat was upgraded to a supergroup chat',
                { migrate_to_chat_id: Number(step.slice(8)) });
        }
        const m = /^(\d{3})(?::(.*))?$/.exec(step);
        if (!m) throw new Error(`telegram_sim: unknown script step '${step}'`);
        const code = Number(m[1]);
        if (code === 429) {
            const s = m[2] ? Number(m[2]) : 1;
            return new ApiError(429, `Too Many Requests: retry after ${s}`, { retry_after: s });
        }
        const defaults = {
            400: 'Bad Request: chat not found',
            401: 'Unauthorized',
            403: 'Forbidden: bot was blocked by the user',
            404: 'Not Found',
            409: 'Conflict',
        };
        return new ApiError(code, m[2] ?? defaults[code] ?? http.STATUS_CODES[code] ?? 'Error');
    }

    function fail(res, e, entry) {
        const body = { ok: false, error_code: e.code, description: e.description };
        if (e.parameters) body.parameters = e.parameters;
        const headers = {};
        if (e.code === 429 && retryAfterHeader && e.parameters?.retry_after !== undefined) {
            headers['Retry-After'] = String(e.parameters.retry_after);
        }
        entry.status = e.code;
        entry.answer = body;
        answer(res, e.code, body, headers);
    }

    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const now = Date.now();
            const raw = Buffer.concat(chunks).toString('utf8');
            const url = new URL(req.url, 'http://sim');
            const entry = {
                at: now, method: req.method, path: url.pathname, apiMethod: null,
                headers: req.headers, body: raw, params: null, step: null, status: 0, answer: null,
            };
            requests.push(entry);
            const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
            if (!m) return fail(res, new ApiError(404, 'Not Found'), entry);
            if (m[1] !== token) return fail(res, new ApiError(401, 'Unauthorized'), entry);
            const method = m[2].toLowerCase();
            entry.apiMethod = method;
            if (req.method !== 'GET' && req.method !== 'POST') return fail(res, new ApiError(404, 'Not Found'), entry);
            let params;
            try {
                params = parseParams(req, raw, url.searchParams);
            } catch (e) {
                return fail(res, e, entry);
            }
            entry.params = params;
            try {
                if (method === 'getme') {
                    entry.status = 200;
                    entry.answer = { ok: true, result: { ...bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false } };
                    return answer(res, 200, entry.answer);
                }
                if (method === 'setwebhook') {
                    const st = params.secret_token ?? '';
                    if (st !== '' && !SECRET_RE.test(String(st))) throw bad('secret token contains unallowed characters');
                    webhook.url = String(params.url ?? '');
                    webhook.secretToken = String(st);
                    entry.status = 200;
                    entry.answer = { ok: true, result: true, description: webhook.url ? 'Webhook was set' : 'Webhook was deleted' };
                    return answer(res, 200, entry.answer);
                }
                if (method === 'getwebhookinfo') {
                    entry.status = 200;
                    entry.answer = { ok: true, result: { url: webhook.url, has_custom_certificate: false, pending_update_count: 0 } };
                    return answer(res, 200, entry.answer);
                }
                if (method !== 'sendmessage') throw new ApiError(404, 'Not Found');
                const step = pending.shift() ?? 'ok';
                entry.step = step;
                if (step === 'hang' || step === 'timeout') {
                    hung.add(res);
                    return undefined;
                }
                if (step === 'accept-hang') {
                    const out = sendMessage(params, now);
                    record(params, raw, out, now);
                    hung.add(res);
                    return undefined;
                }
                if (step !== 'ok' && step !== '200') throw scripted(step);
                const out = sendMessage(params, now);
                record(params, raw, out, now);
                entry.status = 200;
                entry.answer = { ok: true, result: out.result };
                return answer(res, 200, entry.answer);
            } catch (e) {
                // an accept-hang the API refuses anyway is answered: only
                // an accepted send can have its answer lost
                if (!(e instanceof ApiError)) throw e;
                return fail(res, e, entry);
            }
        });
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, resolve);
    });
    const { port } = server.address();

    async function post(url, body, headers) {
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
        return { status: res.status, body: await res.text() };
    }

    // Builds the Update Telegram would send for one incoming text message.
    function incoming({ chat, from, text, replyTo, group }) {
        const userId = Number(from);
        if (!Number.isSafeInteger(userId) || userId <= 0) throw new Error('telegram_sim: from must be a positive user id');
        const isGroup = group ?? (chat !== undefined && Number(chat) < 0);
        const chatId = isGroup ? Number(chat) : userId;
        if (isGroup && !(Number.isSafeInteger(chatId) && chatId < 0)) {
            throw new Error('telegram_sim: a group reply needs chat, a negative chat id');
        }
        text = String(text ?? '');
        const c = chats.get(String(chatId)) ?? addChat(isGroup ? { id: chatId } : { id: chatId, type: 'private' });
        const msg = {
            message_id: c.nextMessageId++,
            from: { id: userId, is_bot: false, first_name: 'Bewoner', language_code: 'nl' },
            chat: publicChat(c),
            date: Math.floor(Date.now() / 1000),
            text: String(text),
        };
        if (replyTo) {
            const [rc, rm] = String(replyTo).split(':');
            const target = chats.get(String(Number(rc)))?.log?.find((x) => x.message_id === Number(rm));
            msg.reply_to_message = target ?? {
                message_id: Number(rm), from: bot, chat: publicChat(c), date: msg.date, text: '',
            };
        }
        if (text.startsWith('/')) {
            msg.entities = [{ type: 'bot_command', offset: 0, length: text.split(/\s/)[0].length }];
        }
        c.log ??= [];
        c.log.push(msg);
        return { update_id: ++updateId, message: msg };
    }

    return {
        url: `http://${host}:${port}`,
        port,
        token,
        secretToken,
        bot,
        messages,
        requests,
        chats,
        webhook,
        // The next sendMessage answers, in order (see Script steps).
        script(...steps) {
            pending.push(...steps);
        },
        async waitMessages(n, timeoutMs = 5000) {
            const deadline = Date.now() + timeoutMs;
            while (messages.length < n) {
                if (Date.now() > deadline) throw new Error(`telegram_sim: ${messages.length}/${n} messages`);
                await delay(20);
            }
            return messages;
        },
        // Chats: add one ({ id, type, title, username, blocked, kicked,
        // notStarted, migratedTo }), or change one.
        addChat,
        block(id, on = true) { (chats.get(String(id)) ?? addChat(id)).blocked = on; },
        kick(id, on = true) { (chats.get(String(id)) ?? addChat(id)).kicked = on; },
        migrate(id, newId) {
            (chats.get(String(id)) ?? addChat(id)).migratedTo = Number(newId);
            if (!chats.has(String(newId))) addChat({ id: Number(newId), type: 'supergroup' });
        },
        // An incoming message, POSTed to hookUrl (default: the URL given
        // to setWebhook) as Telegram does. forge: true sends a wrong
        // secret, 'missing' none; replay: true re-sends the previous
        // webhook byte for byte. Resolves { status, body, update,
        // providerId }.
        async sendReply({ hookUrl, chat, from, text, replyTo, group, forge = false, replay = false } = {}) {
            if (replay) {
                if (!lastWebhook) throw new Error('telegram_sim: nothing to replay');
                const r = await post(lastWebhook.url, lastWebhook.body, lastWebhook.headers);
                return { ...r, update: lastWebhook.update, providerId: lastWebhook.providerId };
            }
            const url = hookUrl ?? webhook.url;
            if (!url) throw new Error('telegram_sim: sendReply needs hookUrl (or a setWebhook call)');
            const update = incoming({ chat, from, text, replyTo, group });
            const body = JSON.stringify(update);
            const headers = { 'Content-Type': 'application/json' };
            const secret = webhook.secretToken || secretToken;
            if (forge === 'missing') {
                // no header at all
            } else if (forge) {
                headers['X-Telegram-Bot-Api-Secret-Token'] = `${secret}x`;
            } else {
                headers['X-Telegram-Bot-Api-Secret-Token'] = secret;
            }
            const providerId = `${update.message.chat.id}:${update.message.message_id}`;
            lastWebhook = { url, body, headers, update, providerId };
            const r = await post(url, body, headers);
            return { ...r, update, providerId };
        },
        async close() {
            for (const res of hung) res.destroy();
            server.closeAllConnections?.();
            await new Promise((resolve) => server.close(resolve));
        },
    };
}
