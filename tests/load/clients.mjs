// clients.mjs - many buurtrelay.v1 WebSocket clients that keep their own
// logs, for fault-injection and load tests (tests/integration/fault.test.mjs)
// and for hand-run load against any relay.
//
// What a client records, per channel, is its own view of the stream, never
// the relay's counters: the (epoch, seq) of every message it accepted, the
// case each message belongs to, duplicates (a seq at or below the last one
// accepted), gaps (a seq beyond last + 1), how often it resubscribed, what
// every "subscribed" said (recovered true/false) and the latency of every
// message (receive time minus the send time stamped into the alert body by
// stampText(), or the msg's "sent" field, which has whole seconds only).
//
// Client behaviour is the one relay/PROTOCOL.md asks of a client:
//   * on a seq gap or an epoch it does not know, it resubscribes with
//     since {epoch, seq} of the last message it accepted (the new
//     subscription replaces the old one; frames of the old subscription that
//     arrive before the new "subscribed" are ignored, they are replayed);
//   * after a reconnect it subscribes to every channel again with since;
//   * a subscribe answered with an error (unavailable, rate_limited) is
//     retried after a short delay.
// It reconnects on any close (unless told not to), to the next URL of its
// list: a client of a relay that died moves to the next relay.
//
// Poster: one logged-in connection posting with client ids. It keeps a
// window of posts in flight, retries a post answered "unavailable" or
// "rate_limited", and after a lost connection reconnects (to the next URL
// when one is refused) and sends every unanswered post again with the SAME
// id (posts are idempotent per user and id).
//
// Only depends on 'ws'; nothing here starts processes.

import WebSocket from 'ws';

export const SUBPROTOCOL = 'buurtrelay.v1';

// --- small utilities -------------------------------------------------------

// Deterministic PRNG (mulberry32) for jitter: the same seed gives the same
// reconnect schedule run after run.
export function rng(seed = 1) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Text appended to an alert body so receivers can tell which post it is and
// when it was sent (ms since the epoch, same clock: one host).
export function stampText(id, t = Date.now()) {
    return ` Kenmerk ${id}, verzonden ${t}.`;
}

const STAMP = /Kenmerk (\S+), verzonden (\d+)\.\s*$/;

export function parseStamp(body) {
    const m = typeof body === 'string' ? STAMP.exec(body) : null;
    return m ? { id: m[1], t: Number(m[2]) } : null;
}

// Largest / smallest of many numbers (spreading a big array into
// Math.max overflows the stack).
export function maxOf(values) {
    let m = -Infinity;
    for (const v of values) if (v > m) m = v;
    return m;
}

export function minOf(values) {
    let m = Infinity;
    for (const v of values) if (v < m) m = v;
    return m;
}

export function percentile(values, p) {
    if (!values.length) return NaN;
    const sorted = Float64Array.from(values).sort();
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[i];
}

export function latencySummary(values) {
    return {
        n: values.length,
        p50: percentile(values, 50),
        p99: percentile(values, 99),
        max: values.length ? maxOf(values) : NaN,
    };
}

const fmtMs = (v) => (Number.isFinite(v) ? `${Math.round(v)}` : '-');
export const fmtLatency = (s) => `p50 ${fmtMs(s.p50)} ms p99 ${fmtMs(s.p99)} ms max ${fmtMs(s.max)} ms (n=${s.n})`;

// --- per-channel log -----------------------------------------------------------

export class ChannelLog {
    constructor(name) {
        this.name = name;
        this.epoch = null;      // epoch of the stream being followed
        this.last = null;       // last seq accepted (or announced by subscribed)
        this.startSeq = null;   // seq announced by the first subscribed
        this.state = 'idle';    // idle | subscribing | live
        this.ref = null;        // ref of the subscribe in flight
        this.catchUpTo = null;  // after a since-subscribe: seq to reach
        this.count = 0;         // messages accepted
        this.seqs = [];         // accepted seqs, in arrival order (record: true)
        this.cases = [];        // msg.case of each accepted message
        this.times = [];        // when each was accepted (ms)
        this.epochs = new Set();
        this.latency = [];      // ms, per accepted message
        this.duplicates = [];   // {seq, epoch} received again
        this.gaps = [];         // {after, got}
        this.discarded = 0;     // old-subscription frames during a resubscribe
        this.subscribes = 0;
        this.resubscribes = 0;  // with since (reconnect or gap)
        this.recoveredTrue = 0;
        this.recoveredFalse = [];   // {since, epoch, seq} of each recovered:false
        this.subscribeErrors = [];  // codes
        this.recoveries = [];       // {subscribedAt, caughtUpAt} of since-subscribes
    }

    get delivered() {
        return this.count;
    }
}

// --- one subscriber ----------------------------------------------------------------

let clientCounter = 0;

export class LoadClient {
    // urls: relay WebSocket URLs, tried in order starting at 'start'.
    // channels: channel names to follow. group: a label for the figures.
    // reconnect: reconnect after a close, after a random delay of up to
    // reconnectDelayMs (a storm spreads over that window), then with
    // doubling backoff while connecting fails. record: keep per-message
    // seqs and cases (false: counters and latency only, for long soaks).
    constructor({ urls, channels, start = 0, name, group = 'default', reconnect = true,
        random = Math.random, reconnectDelayMs = 50, backoffMinMs = 50, backoffMaxMs = 1000, resubscribeDelayMs = 100,
        record = true, token = null, handshakeTimeoutMs = 10000, onEvent = null }) {
        this.urls = [].concat(urls);
        this.urlIndex = start % this.urls.length;
        this.name = name || `load${++clientCounter}`;
        this.group = group;
        this.reconnect = reconnect;
        this.random = random;
        this.reconnectDelayMs = reconnectDelayMs;
        this.backoffMinMs = backoffMinMs;
        this.backoffMaxMs = backoffMaxMs;
        this.resubscribeDelayMs = resubscribeDelayMs;
        this.record = record;
        this.token = token;
        this.handshakeTimeoutMs = handshakeTimeoutMs;
        this.onEvent = onEvent;          // (client, kind) after anything that may change progress
        this.channels = new Map(channels.map((c) => [c, new ChannelLog(c)]));
        this.ws = null;
        this.open = false;
        this.stopped = false;
        this.paused = false;
        this.connects = 0;               // successful opens
        this.connectFailures = [];       // messages
        this.closes = [];                // {code, reason, at, url}
        this.errors = [];                // error frames not answering a subscribe
        this.other = 0;                  // frames of other types
        this.refCounter = 0;
        this.backoff = backoffMinMs;
        this.timers = new Set();
        this.lastCloseAt = null;
        this.reopenedAt = null;
    }

    get url() {
        return this.urls[this.urlIndex];
    }

    emit(kind) {
        if (this.onEvent) this.onEvent(this, kind);
    }

    later(ms, fn) {
        const t = setTimeout(() => {
            this.timers.delete(t);
            fn();
        }, ms);
        this.timers.add(t);
    }

    // Resolves when the connection is open (the first time); later
    // reconnects happen by themselves.
    start() {
        return new Promise((resolve, reject) => {
            this.connectOnce(resolve, reject);
        });
    }

    connectOnce(resolve, reject) {
        if (this.stopped) return;
        const url = this.url;
        const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
        const ws = new WebSocket(url, [SUBPROTOCOL], {
            headers, perMessageDeflate: false, handshakeTimeout: this.handshakeTimeoutMs,
        });
        this.ws = ws;
        let opened = false;
        ws.on('open', () => {
            opened = true;
            this.open = true;
            this.connects++;
            this.backoff = this.backoffMinMs;
            this.reopenedAt = Date.now();
            if (this.paused) ws._socket.pause();
            for (const ch of this.channels.values()) this.subscribe(ch);
            this.emit('open');
            if (resolve) resolve(this);
            resolve = reject = null;
        });
        ws.on('message', (data) => this.onMessage(data));
        ws.on('unexpected-response', (req, res) => {
            // A refused upgrade (429, 503 while draining): aborts the
            // handshake, which ends in 'close' like a failed connect.
            this.connectFailures.push(`HTTP ${res.statusCode} from ${url}`);
            ws.terminate();
        });
        ws.on('error', (e) => {
            if (!opened) this.connectFailures.push(`${e.code || e.message} from ${url}`);
        });
        let closedOnce = false;
        ws.on('close', (code, reason) => {
            if (closedOnce) return;
            closedOnce = true;
            this.open = false;
            const at = Date.now();
            if (opened) {
                this.closes.push({ code, reason: reason.toString('utf8'), at, url });
                this.lastCloseAt = at;
            }
            for (const ch of this.channels.values()) {
                ch.state = 'idle';
                ch.ref = null;
            }
            this.emit('close');
            if (this.stopped) return;
            if (!opened && !this.reconnect && reject) {
                reject(new Error(`${this.name}: cannot connect to ${url}: ${this.connectFailures.at(-1)}`));
                return;
            }
            if (!this.reconnect) return;
            // Next URL: a dead or draining relay sends us to the next one.
            this.urlIndex = (this.urlIndex + 1) % this.urls.length;
            const wait = opened ? this.random() * this.reconnectDelayMs : this.backoff * (0.5 + this.random());
            if (!opened) this.backoff = Math.min(this.backoff * 2, this.backoffMaxMs);
            this.later(wait, () => this.connectOnce(resolve, reject));
        });
    }

    send(obj) {
        if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
    }

    subscribe(ch) {
        const ref = `${ch.name}#${++this.refCounter}`;
        const frame = { type: 'subscribe', channel: ch.name, ref };
        if (ch.epoch !== null && ch.last !== null) {
            frame.since = { epoch: ch.epoch, seq: ch.last };
            ch.resubscribes++;
        }
        ch.subscribes++;
        ch.state = 'subscribing';
        ch.ref = ref;
        ch.sinceSentAt = Date.now();
        this.send(frame);
    }

    onMessage(data) {
        let f;
        try {
            f = JSON.parse(data.toString('utf8'));
        } catch {
            this.errors.push({ code: 'unparsable' });
            return;
        }
        switch (f.type) {
        case 'message':
            this.onChannelMessage(f);
            break;
        case 'subscribed':
            this.onSubscribed(f);
            break;
        case 'error':
            this.onError(f);
            break;
        default:
            this.other++;
        }
    }

    onSubscribed(f) {
        const ch = this.channels.get(f.channel);
        if (!ch || f.ref !== ch.ref) return; // answer to a replaced subscribe
        const now = Date.now();
        if (ch.last === null) {
            // First subscribe: follow from here.
            ch.epoch = f.epoch;
            ch.last = f.seq;
            ch.startSeq = f.seq;
        } else if (f.recovered === true) {
            ch.recoveredTrue++;
            ch.catchUpTo = f.seq;
            ch.recoveries.push({ sentAt: ch.sinceSentAt, subscribedAt: now, caughtUpAt: ch.last >= f.seq ? now : null, target: f.seq });
        } else {
            // recovered:false (or missing): messages up to f.seq are gone
            // for this client; follow the stream from the latest seq.
            ch.recoveredFalse.push({ since: { epoch: ch.epoch, seq: ch.last }, epoch: f.epoch, seq: f.seq });
            ch.epoch = f.epoch;
            ch.last = f.seq;
            ch.recoveries.push({ sentAt: ch.sinceSentAt, subscribedAt: now, caughtUpAt: now, target: f.seq, recovered: false });
        }
        ch.state = 'live';
        ch.ref = null;
        this.emit('subscribed');
    }

    onError(f) {
        const ref = typeof f.ref === 'string' ? f.ref : null;
        const name = ref ? ref.slice(0, ref.lastIndexOf('#')) : null;
        const ch = name ? this.channels.get(name) : null;
        if (ch && ch.ref === ref) {
            ch.subscribeErrors.push(f.code);
            ch.state = 'idle';
            ch.ref = null;
            const wait = f.code === 'rate_limited' ? Math.max(Number(f.retry_after) || 1, 0.05) * 1000 : this.resubscribeDelayMs;
            this.later(wait, () => {
                if (this.open && ch.state === 'idle') this.subscribe(ch);
            });
            this.emit('error');
            return;
        }
        this.errors.push({ code: f.code, message: f.message });
        this.emit('error');
    }

    onChannelMessage(f) {
        const ch = this.channels.get(f.channel);
        if (!ch) {
            this.other++;
            return;
        }
        if (ch.state !== 'live') {
            // Old subscription's traffic while a resubscribe is pending:
            // everything after 'since' is replayed after "subscribed".
            ch.discarded++;
            return;
        }
        if (f.epoch !== ch.epoch || f.seq > ch.last + 1) {
            ch.gaps.push({ after: ch.last, got: f.seq, epoch: f.epoch, known: ch.epoch, at: Date.now() });
            this.subscribe(ch); // since {epoch, last}
            this.emit('gap');
            return;
        }
        if (f.seq <= ch.last) {
            ch.duplicates.push({ seq: f.seq, epoch: f.epoch });
            this.emit('duplicate');
            return;
        }
        const now = Date.now();
        ch.last = f.seq;
        ch.count++;
        ch.epochs.add(f.epoch);
        if (this.record) {
            ch.seqs.push(f.seq);
            ch.cases.push(f.msg?.case);
            ch.times.push(now);
        }
        const stamp = parseStamp(f.msg?.body);
        const sent = stamp ? stamp.t : Date.parse(f.msg?.sent);
        if (Number.isFinite(sent)) ch.latency.push(now - sent);
        if (ch.catchUpTo !== null && ch.last >= ch.catchUpTo) {
            const r = ch.recoveries.at(-1);
            if (r && r.caughtUpAt === null) r.caughtUpAt = now;
            ch.catchUpTo = null;
        }
        this.emit('message');
    }

    // Stop reading from the socket (the kernel buffers fill, then the
    // relay's send queue): a slow consumer.
    pause() {
        this.paused = true;
        this.ws?._socket?.pause();
    }

    resume() {
        this.paused = false;
        this.ws?._socket?.resume();
    }

    // Closes the connection without stopping the client: it reconnects.
    drop(code = 1000) {
        try {
            this.ws?.close(code);
        } catch {
            this.ws?.terminate();
        }
    }

    // Stops for good: no reconnect, timers cleared, socket closed.
    stop() {
        this.stopped = true;
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        if (this.ws && this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    }

    // True when every channel is live and at least at seq 'want[channel]'.
    reached(want) {
        for (const [name, seq] of Object.entries(want)) {
            const ch = this.channels.get(name);
            if (ch && (ch.state !== 'live' || ch.last === null || ch.last < seq)) return false;
        }
        return true;
    }

    allLive() {
        for (const ch of this.channels.values()) if (ch.state !== 'live') return false;
        return this.open;
    }
}

// --- a pool of clients --------------------------------------------------------

export class Pool {
    constructor() {
        this.clients = [];
        this.waiters = [];
        this.checkScheduled = false;
        this.events = { open: 0, close: 0, message: 0, gap: 0, duplicate: 0, subscribed: 0, error: 0 };
    }

    add(opts) {
        const c = new LoadClient({ ...opts, onEvent: (cl, kind) => this.onEvent(cl, kind) });
        this.clients.push(c);
        return c;
    }

    onEvent(client, kind) {
        this.events[kind] = (this.events[kind] || 0) + 1;
        if (this.waiters.length && !this.checkScheduled) {
            this.checkScheduled = true;
            setImmediate(() => {
                this.checkScheduled = false;
                this.check();
            });
        }
    }

    check() {
        for (const w of this.waiters.slice()) {
            let ok = false;
            try {
                ok = w.pred();
            } catch (e) {
                this.finish(w, e);
                continue;
            }
            if (ok) this.finish(w, null);
        }
    }

    finish(w, err) {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        clearTimeout(w.timer);
        if (err) w.reject(err);
        else w.resolve(Date.now());
    }

    // Resolves (with the time) once pred() holds; re-checked after client
    // events, never by sleeping. Rejects after timeoutMs with describe().
    until(pred, timeoutMs, describe = () => '') {
        if (pred()) return Promise.resolve(Date.now());
        return new Promise((resolve, reject) => {
            const w = { pred, resolve, reject };
            w.timer = setTimeout(() => {
                const i = this.waiters.indexOf(w);
                if (i >= 0) this.waiters.splice(i, 1);
                reject(new Error(`condition not reached within ${timeoutMs} ms: ${describe()}`));
            }, timeoutMs);
            this.waiters.push(w);
        });
    }

    // Starts clients, at most 'concurrency' handshakes at a time.
    async startAll(clients = this.clients, concurrency = 200) {
        let next = 0;
        const worker = async () => {
            while (next < clients.length) {
                const c = clients[next++];
                await c.start();
            }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker));
    }

    // Every client live on every channel.
    allLive(clients = this.clients) {
        return clients.every((c) => c.allLive());
    }

    stopAll() {
        for (const c of this.clients) c.stop();
    }
}

// --- what the clients saw against what was acknowledged -----------------------

// expected: Map channel -> Map seq -> case (from the acks' "published").
// Counts, over every client and every channel it follows, the acknowledged
// messages it should have (those after its first "subscribed"): delivered
// (exactly once, right case), lost, duplicated, wrong case, out of order,
// extra (accepted seqs nobody acknowledged), republished (one case at two
// seqs of a channel: a post published twice). Totals and per-client details
// of the first few problems.
export function verifyDelivery(clients, expected) {
    for (const c of clients) if (!c.record) throw new Error(`verifyDelivery: ${c.name} was created with record: false`);
    const t = {
        clients: clients.length, expected: 0, delivered: 0, lost: 0, duplicated: 0, wrongCase: 0,
        extra: 0, republished: 0, gaps: 0, resubscribes: 0, recoveredTrue: 0, recoveredFalse: 0, discarded: 0,
        subscribeErrors: 0, problems: [],
    };
    const problem = (c, text) => {
        if (t.problems.length < 20) t.problems.push(`${c.name}: ${text}`);
    };
    for (const c of clients) {
        for (const ch of c.channels.values()) {
            const want = expected.get(ch.name) || new Map();
            t.gaps += ch.gaps.length;
            t.resubscribes += ch.resubscribes;
            t.recoveredTrue += ch.recoveredTrue;
            t.recoveredFalse += ch.recoveredFalse.length;
            t.discarded += ch.discarded;
            t.subscribeErrors += ch.subscribeErrors.length;
            t.duplicated += ch.duplicates.length;
            if (ch.duplicates.length) problem(c, `${ch.name} duplicate seqs ${ch.duplicates.slice(0, 5).map((d) => d.seq).join(',')}`);
            if (ch.startSeq === null) {
                t.expected += want.size;
                t.lost += want.size;
                problem(c, `${ch.name} never subscribed`);
                continue;
            }
            const seen = new Map(); // seq -> count
            const caseAt = new Map(); // case -> first seq it came with
            for (let i = 0; i < ch.seqs.length; i++) {
                const seq = ch.seqs[i];
                seen.set(seq, (seen.get(seq) || 0) + 1);
                if (c.record && caseAt.has(ch.cases[i]) && caseAt.get(ch.cases[i]) !== seq) {
                    t.republished++; // one post published twice on this channel
                    problem(c, `${ch.name} case ${ch.cases[i]} at seq ${caseAt.get(ch.cases[i])} and ${seq}`);
                } else if (c.record) {
                    caseAt.set(ch.cases[i], seq);
                }
                if (i > 0 && seq <= ch.seqs[i - 1]) problem(c, `${ch.name} out of order: ${ch.seqs[i - 1]} then ${seq}`);
                if (!want.has(seq)) {
                    t.extra++;
                    problem(c, `${ch.name} seq ${seq} acknowledged by nobody`);
                } else if (want.get(seq) !== ch.cases[i]) {
                    t.wrongCase++;
                    problem(c, `${ch.name} seq ${seq} carries case ${ch.cases[i]}, ack said ${want.get(seq)}`);
                }
            }
            for (const [seq] of want) {
                if (seq <= ch.startSeq) continue; // before this client subscribed
                t.expected++;
                const n = seen.get(seq) || 0;
                if (n === 0) {
                    t.lost++;
                    problem(c, `${ch.name} lost seq ${seq}`);
                } else {
                    t.delivered++;
                    if (n > 1) t.duplicated += n - 1;
                }
            }
        }
    }
    return t;
}

// Latency samples of the given clients (all channels).
export function latencies(clients) {
    const out = [];
    for (const c of clients) for (const ch of c.channels.values()) for (const v of ch.latency) out.push(v);
    return out;
}

// --- poster -------------------------------------------------------------------------

// One logged-in connection that posts with ids, 'window' posts in flight.
export class Poster {
    constructor({ urls, token, name = 'poster', start = 0, window = 8, backoffMinMs = 50, backoffMaxMs = 1000,
        unavailableRetryMs = 100, handshakeTimeoutMs = 10000, random = Math.random }) {
        this.urls = [].concat(urls);
        this.urlIndex = start % this.urls.length;
        this.token = token;
        this.name = name;
        this.window = window;
        this.backoffMinMs = backoffMinMs;
        this.backoffMaxMs = backoffMaxMs;
        this.unavailableRetryMs = unavailableRetryMs;
        this.handshakeTimeoutMs = handshakeTimeoutMs;
        this.random = random;
        this.ws = null;
        this.ready = false;         // welcome received
        this.stopped = false;
        this.inflight = new Map();  // id -> entry (sent, unanswered)
        this.waiting = [];          // entries not yet sent (window full / not connected)
        this.posts = new Map();     // id -> entry, every post ever
        this.connects = 0;
        this.closes = [];
        this.connectFailures = [];
        this.backoff = backoffMinMs;
        this.timers = new Set();
        this.connecting = false;
        this.onAck = null;          // (entry) after each ack
        this.onUnavailable = null;  // (entry) after each unavailable
    }

    later(ms, fn) {
        const t = setTimeout(() => {
            this.timers.delete(t);
            fn();
        }, ms);
        this.timers.add(t);
    }

    start() {
        return new Promise((resolve, reject) => {
            this.firstOpen = { resolve, reject };
            this.connect();
        });
    }

    connect() {
        if (this.stopped || this.connecting) return;
        this.connecting = true;
        const url = this.urls[this.urlIndex];
        const ws = new WebSocket(url, [SUBPROTOCOL], {
            headers: { Authorization: `Bearer ${this.token}` },
            perMessageDeflate: false,
            handshakeTimeout: this.handshakeTimeoutMs,
        });
        this.ws = ws;
        let opened = false;
        ws.on('open', () => {
            opened = true;
        });
        ws.on('message', (data) => {
            let f;
            try {
                f = JSON.parse(data.toString('utf8'));
            } catch {
                return;
            }
            if (f.type === 'welcome') {
                this.ready = true;
                this.connecting = false;
                this.connects++;
                this.backoff = this.backoffMinMs;
                if (this.firstOpen) {
                    this.firstOpen.resolve(this);
                    this.firstOpen = null;
                }
                // Everything unanswered goes again, same ids.
                for (const e of this.inflight.values()) this.transmit(e, true);
                this.pump();
                return;
            }
            if ((f.type === 'ack' || f.type === 'error') && typeof f.id === 'string') this.onReply(f);
        });
        ws.on('unexpected-response', (req, res) => {
            this.connectFailures.push(`HTTP ${res.statusCode} from ${url}`);
            ws.terminate();
        });
        ws.on('error', (e) => {
            if (!opened) this.connectFailures.push(`${e.code || e.message} from ${url}`);
        });
        let closedOnce = false;
        ws.on('close', (code, reason) => {
            if (closedOnce) return;
            closedOnce = true;
            const wasReady = this.ready;
            this.ready = false;
            this.connecting = false;
            if (opened) this.closes.push({ code, reason: reason.toString('utf8'), at: Date.now(), url });
            if (this.stopped) return;
            this.urlIndex = (this.urlIndex + 1) % this.urls.length;
            const wait = wasReady ? 0 : this.backoff * (0.5 + this.random());
            if (!wasReady) this.backoff = Math.min(this.backoff * 2, this.backoffMaxMs);
            this.later(wait, () => this.connect());
        });
    }

    transmit(e, resend = false) {
        e.attempts++;
        if (resend && e.resentAfterClose++ === 0) e.resentAt = Date.now();
        e.lastSentAt = Date.now();
        if (e.firstSentAt === null) {
            e.firstSentAt = e.lastSentAt;
            // Built when first sent, so a time stamped into it is the send
            // time; every retry sends the same object.
            if (typeof e.post === 'function') e.post = e.post(e.id, e.firstSentAt);
        }
        this.ws.send(JSON.stringify({ type: 'post', id: e.id, post: e.post }));
    }

    pump() {
        while (this.ready && this.inflight.size < this.window && this.waiting.length) {
            const e = this.waiting.shift();
            this.inflight.set(e.id, e);
            this.transmit(e);
        }
    }

    // Resolves the ack of post 'id' (after any number of retries); rejects
    // on an error other than unavailable/rate_limited. 'post' is the post
    // object, or a function (id, sentAt) -> post called at the first send.
    post(id, post, meta = {}) {
        if (this.posts.has(id)) throw new Error(`${this.name}: post id ${id} used twice`);
        return new Promise((resolve, reject) => {
            const e = {
                id, post, meta, resolve, reject, attempts: 0, resentAfterClose: 0, unavailable: 0,
                rateLimited: 0, resentAt: null, firstQueuedAt: Date.now(), firstSentAt: null, lastSentAt: null, ack: null, ackedAt: null, error: null,
            };
            this.posts.set(id, e);
            this.waiting.push(e);
            this.pump();
        });
    }

    onReply(f) {
        const e = this.inflight.get(f.id);
        if (!e) return; // answer to an attempt already answered
        if (f.type === 'ack') {
            this.inflight.delete(f.id);
            e.ack = f;
            e.ackedAt = Date.now();
            if (this.onAck) this.onAck(e);
            e.resolve(f);
        } else if (f.code === 'unavailable' || f.code === 'rate_limited') {
            if (f.code === 'unavailable') e.unavailable++;
            else e.rateLimited++;
            if (f.code === 'unavailable' && this.onUnavailable) this.onUnavailable(e);
            const wait = f.code === 'rate_limited'
                ? Math.max(Number(f.retry_after) || 1, 0.05) * 1000
                : this.unavailableRetryMs;
            // Stays in flight; sent again (same id) unless the connection
            // is lost meanwhile (then the reconnect sends it).
            const ws = this.ws;
            this.later(wait, () => {
                if (this.ready && this.ws === ws && this.inflight.get(e.id) === e) this.transmit(e);
            });
        } else {
            this.inflight.delete(f.id);
            e.error = f;
            e.reject(new Error(`${this.name}: post ${f.id} answered ${JSON.stringify(f)}`));
            this.pump();
            return;
        }
        this.pump();
    }

    stop() {
        this.stopped = true;
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        if (this.ws && this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
        if (this.firstOpen) this.firstOpen.reject(new Error(`${this.name}: stopped`));
    }

    // Every acked post as [{id, ack, meta, attempts, ...}].
    acked() {
        return [...this.posts.values()].filter((e) => e.ack);
    }
}

// Map channel -> Map seq -> case, from acked posts; throws if two posts
// were acknowledged with the same (channel, seq) (a double publication).
export function expectedFromAcks(entries) {
    const out = new Map();
    for (const e of entries) {
        for (const p of e.ack.published) {
            if (!out.has(p.channel)) out.set(p.channel, new Map());
            const m = out.get(p.channel);
            if (m.has(p.seq)) throw new Error(`two acks name ${p.channel} seq ${p.seq}: ${m.get(p.seq)} and ${e.ack.case}`);
            m.set(p.seq, e.ack.case);
        }
    }
    return out;
}

// Highest acknowledged seq per channel: {channel: seq}.
export function finalSeqs(expected) {
    const out = {};
    for (const [ch, m] of expected) out[ch] = maxOf(m.keys());
    return out;
}

// Earliest time any of 'clients' accepted (channel, seq), or Infinity.
export function firstAccepted(clients, channel, seq) {
    let t = Infinity;
    for (const c of clients) {
        const ch = c.channels.get(channel);
        if (!ch) continue;
        const i = ch.seqs.indexOf(seq);
        if (i >= 0 && ch.times[i] < t) t = ch.times[i];
    }
    return t;
}
