// conn.js - one WebSocket to the relay, speaking protocol buurtrelay.v1
// (relay/PROTOCOL.md): auth frame, durable subscriptions that resume with
// "since" after a reconnect or a seq gap, posts that are re-sent with the
// same id until acknowledged (the relay makes them idempotent).
//
// Per channel the last (epoch, seq) seen is kept in localStorage, so a
// reload or a new visit asks the relay for exactly what was missed. On the
// first subscribe of a page visit it also asks for a little context
// (the last `context` messages before that point), so the page can show
// what is still going on; those carry `seen: true`.

const POS_KEY = 'br.pos.v1';

function loadPositions() {
    try {
        return JSON.parse(localStorage.getItem(POS_KEY) || '{}') || {};
    } catch {
        return {};
    }
}

function savePositions(pos) {
    try {
        localStorage.setItem(POS_KEY, JSON.stringify(pos));
    } catch {
        /* private mode or full: recovery then starts from live */
    }
}

let counter = 0;
export function newId(prefix = 'p') {
    const rnd = new Uint32Array(2);
    crypto.getRandomValues(rnd);
    counter += 1;
    return `${prefix}-${Date.now().toString(36)}-${rnd[0].toString(36)}${rnd[1].toString(36)}-${counter}`;
}

export class Conn extends EventTarget {
    constructor({ url } = {}) {
        super();
        const proto = location.protocol === 'https:' ? 'wss' : 'ws';
        this.url = url || `${proto}://${location.host}/ws`;
        this.ws = null;
        this.token = null;
        this.user = null; // welcome.user when logged in
        this.state = 'idle'; // idle | connecting | open | closed | offline
        this.channels = new Map(); // name -> channel state
        this.pending = new Map(); // ref -> {resolve, frame}
        this.posts = new Map(); // id -> {frame, resolve}
        this.retry = 500;
        this.timer = null;
        this.positions = loadPositions();
        this.stopped = false;
        window.addEventListener('online', () => this.reconnectNow());
        window.addEventListener('offline', () => this.goOffline());
    }

    emit(type, detail) {
        this.dispatchEvent(new CustomEvent(type, { detail }));
    }

    setState(s) {
        this.state = s;
        this.emit('state', s);
    }

    start() {
        this.stopped = false;
        this.open();
    }

    open() {
        clearTimeout(this.timer);
        if (this.ws) return;
        if (navigator.onLine === false) {
            this.setState('offline');
            return;
        }
        this.setState('connecting');
        let ws;
        try {
            ws = new WebSocket(this.url, 'buurtrelay.v1');
        } catch {
            this.scheduleReconnect();
            return;
        }
        this.ws = ws;
        ws.onopen = () => this.onOpen(ws);
        ws.onmessage = (ev) => this.onFrame(ws, ev.data);
        ws.onclose = (ev) => this.onClose(ws, ev);
    }

    onOpen(ws) {
        if (ws !== this.ws) return;
        this.retry = 500;
        if (this.token) {
            this.sendRaw({ type: 'auth', token: this.token, ref: 'auth' });
            // Subscriptions follow the welcome (or the refusal).
        } else {
            this.ready();
        }
    }

    ready() {
        this.setState('open');
        for (const ch of this.channels.values()) this.subscribeNow(ch);
        for (const p of this.posts.values()) this.sendRaw(p.frame);
    }

    onClose(ws, ev) {
        if (ws !== this.ws) return;
        this.ws = null;
        for (const ch of this.channels.values()) ch.awaiting = null;
        for (const [ref, p] of this.pending) {
            p.resolve({ type: 'error', code: 'unavailable', message: 'connection lost', ref });
        }
        this.pending.clear();
        if (this.stopped) {
            this.setState('closed');
            return;
        }
        this.emit('closed', { code: ev.code, reason: ev.reason });
        if (navigator.onLine === false) this.setState('offline');
        else this.scheduleReconnect();
    }

    scheduleReconnect() {
        this.setState('closed');
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.open(), this.retry);
        this.retry = Math.min(this.retry * 2, 10000);
    }

    reconnectNow() {
        this.retry = 500;
        if (!this.ws) this.open();
    }

    goOffline() {
        clearTimeout(this.timer);
        if (this.ws) {
            const ws = this.ws;
            ws.close(1000, 'offline');
            // onClose sees navigator.onLine === false and waits for 'online'.
        } else {
            this.setState('offline');
        }
    }

    // Drops the socket and opens a new one (used after login/logout).
    restart() {
        clearTimeout(this.timer);
        if (this.ws) {
            const ws = this.ws;
            this.ws = null;
            ws.onclose = null;
            ws.close(1000, 'restart');
            for (const ch of this.channels.values()) ch.awaiting = null;
        }
        this.open();
    }

    sendRaw(frame) {
        if (this.ws && this.ws.readyState === WebSocket.OPEN) {
            this.ws.send(JSON.stringify(frame));
            return true;
        }
        return false;
    }

    request(frame) {
        const ref = frame.ref || newId('r');
        return new Promise((resolve) => {
            this.pending.set(ref, { resolve });
            if (!this.sendRaw({ ...frame, ref })) {
                this.pending.delete(ref);
                resolve({ type: 'error', code: 'unavailable', message: 'not connected', ref });
            }
        });
    }

    // Posts until the relay answers: kept across reconnects and re-sent
    // with the same id. Resolves the ack or error frame.
    post(post, id = newId('post')) {
        const frame = { type: 'post', id, post };
        return new Promise((resolve) => {
            this.posts.set(id, { frame, resolve });
            if (this.state === 'open') this.sendRaw(frame);
        });
    }

    setToken(token) {
        this.token = token;
        this.user = null;
        // A channel of another user must not linger.
        for (const name of [...this.channels.keys()]) {
            if (!name.startsWith('buurt:')) this.channels.delete(name);
        }
        this.restart();
    }

    position(name) {
        return this.positions[name] || null;
    }

    // Follows a channel. onMessage(frame, {replayed, seen}) gets every
    // message once, in seq order. context: messages before the last seen
    // one to replay on the first subscribe of this page visit.
    follow(name, { context = 0, onMessage, onStatus } = {}) {
        let ch = this.channels.get(name);
        if (!ch) {
            ch = { name, context, epoch: null, next: null, live: false, awaiting: null, mode: null,
                   seenUpTo: 0, replayUpTo: 0, handlers: [], statusHandlers: [] };
            this.channels.set(name, ch);
        }
        // One handler per channel: following again replaces it.
        if (onMessage) ch.handlers = [onMessage];
        if (onStatus) ch.statusHandlers = [onStatus];
        if (this.state === 'open' && !ch.live && !ch.awaiting) this.subscribeNow(ch);
        return ch;
    }

    unfollow(name) {
        const ch = this.channels.get(name);
        if (!ch) return;
        this.channels.delete(name);
        if (this.state === 'open') this.sendRaw({ type: 'unsubscribe', channel: name, ref: newId('u') });
    }

    subscribeNow(ch, { since, mode } = {}) {
        const stored = this.position(ch.name);
        if (!since) {
            if (ch.live && ch.epoch) {
                // A reconnect within this visit: exactly what we missed.
                since = { epoch: ch.epoch, seq: ch.next - 1 };
                mode = 'exact';
            } else if (stored) {
                since = { epoch: stored.epoch, seq: Math.max(0, stored.seq - ch.context) };
                ch.seenUpTo = stored.seq;
                mode = since.seq === stored.seq ? 'exact' : 'context';
            } else {
                since = { epoch: '0', seq: 0 }; // "I have nothing"
                ch.seenUpTo = 0;
                mode = 'fresh';
            }
        }
        const ref = newId('s');
        ch.awaiting = ref;
        ch.mode = mode;
        ch.since = since;
        this.sendRaw({ type: 'subscribe', channel: ch.name, since, ref });
    }

    onFrame(ws, data) {
        if (ws !== this.ws) return;
        let f;
        try {
            f = JSON.parse(data);
        } catch {
            return;
        }
        switch (f.type) {
        case 'welcome':
            if (f.ref === 'auth') {
                this.user = f.user;
                this.emit('welcome', f);
                this.ready();
            }
            return;
        case 'subscribed':
            this.onSubscribed(f);
            break;
        case 'message':
            this.onMessage(f);
            return;
        case 'ack':
        case 'error':
            if (f.id && this.posts.has(f.id)) {
                if (f.type === 'error' && (f.code === 'unavailable' || f.code === 'rate_limited')) {
                    // Not stored: the same id again, a little later.
                    const p = this.posts.get(f.id);
                    const wait = Math.max(Number(f.retry_after) || 1, 0.5) * 1000;
                    setTimeout(() => {
                        if (this.posts.get(f.id) === p && this.state === 'open') this.sendRaw(p.frame);
                    }, wait);
                    this.emit('retrying', f);
                    return;
                }
                const p = this.posts.get(f.id);
                this.posts.delete(f.id);
                p.resolve(f);
                return;
            }
            if (f.type === 'error' && f.ref === 'auth') {
                // Expired or revoked: go on anonymously.
                this.token = null;
                this.emit('unauthorized', f);
                for (const name of [...this.channels.keys()]) {
                    if (!name.startsWith('buurt:')) this.channels.delete(name);
                }
                this.ready();
                return;
            }
            if (f.type === 'error' && f.ref) {
                for (const ch of this.channels.values()) {
                    if (ch.awaiting !== f.ref) continue;
                    ch.awaiting = null;
                    if (f.code === 'unavailable' || f.code === 'rate_limited') {
                        // Try again a little later, from the same point.
                        const since = ch.since;
                        const mode = ch.mode;
                        const wait = Math.max(Number(f.retry_after) || 1, 0.5) * 1000;
                        setTimeout(() => {
                            if (this.channels.get(ch.name) === ch && !ch.awaiting && this.state === 'open') {
                                this.subscribeNow(ch, { since, mode });
                            }
                        }, wait);
                    } else {
                        for (const h of ch.statusHandlers) h({ type: 'error', error: f });
                    }
                }
            }
            if (f.type === 'error' && !f.ref && !f.id) {
                if (f.code === 'rate_limited') {
                    // A frame was dropped unread: whatever waits for an
                    // answer is sent again (posts keep their id).
                    const wait = Math.max(Number(f.retry_after) || 1, 0.5) * 1000;
                    setTimeout(() => this.resendWaiting(), wait);
                }
                this.emit('error', f);
            }
            break;
        default:
            break;
        }
        if (f.ref && this.pending.has(f.ref)) {
            const p = this.pending.get(f.ref);
            this.pending.delete(f.ref);
            p.resolve(f);
        }
    }

    resendWaiting() {
        if (this.state !== 'open') return;
        for (const p of this.posts.values()) this.sendRaw(p.frame);
        for (const ch of this.channels.values()) {
            if (ch.awaiting) this.subscribeNow(ch, { since: ch.since, mode: ch.mode });
        }
    }

    onSubscribed(f) {
        const ch = this.channels.get(f.channel);
        if (!ch || ch.awaiting !== f.ref) return;
        ch.awaiting = null;
        const stored = this.position(ch.name);
        ch.epoch = f.epoch;
        if (f.recovered === false) {
            if (ch.mode === 'context' && stored) {
                // The context could not be had; ask for exactly the missed part.
                ch.seenUpTo = stored.seq;
                this.subscribeNow(ch, { since: { epoch: stored.epoch, seq: stored.seq }, mode: 'exact' });
                return;
            }
            if (ch.mode === 'fresh' && f.seq > 0) {
                // A long history: the latest few, without a warning.
                const from = Math.max(0, f.seq - ch.context);
                if (from > 0) {
                    this.subscribeNow(ch, { since: { epoch: f.epoch, seq: from }, mode: 'tail' });
                    return;
                }
            }
            ch.next = f.seq + 1;
            ch.live = true;
            ch.replayUpTo = f.seq;
            const missed = ch.mode === 'exact';
            this.store(ch, f.epoch, f.seq);
            for (const h of ch.statusHandlers) h({ type: 'subscribed', frame: f, missed });
            return;
        }
        ch.next = ch.since.seq + 1;
        ch.live = true;
        ch.replayUpTo = f.seq;
        if (ch.mode === 'fresh' || ch.mode === 'tail') ch.seenUpTo = f.seq; // history is context, not missed
        for (const h of ch.statusHandlers) h({ type: 'subscribed', frame: f, missed: false });
        if (ch.next > f.seq) this.store(ch, f.epoch, f.seq);
    }

    onMessage(f) {
        const ch = this.channels.get(f.channel);
        if (!ch || ch.awaiting || !ch.live) return; // a replay is on its way
        if (f.epoch !== ch.epoch) {
            ch.live = false;
            this.subscribeNow(ch, { since: { epoch: ch.epoch || '0', seq: Math.max(ch.next - 1, 0) }, mode: 'exact' });
            return;
        }
        if (f.seq < ch.next) return; // already delivered
        if (f.seq > ch.next) {
            // A gap: resume from what we have, in order.
            this.subscribeNow(ch, { since: { epoch: ch.epoch, seq: ch.next - 1 }, mode: 'exact' });
            return;
        }
        ch.next = f.seq + 1;
        const seen = f.seq <= ch.seenUpTo;
        const replayed = f.seq <= ch.replayUpTo;
        this.store(ch, f.epoch, f.seq);
        for (const h of ch.handlers) {
            try {
                h(f, { seen, replayed });
            } catch (e) {
                console.error(e);
            }
        }
    }

    store(ch, epoch, seq) {
        const old = this.positions[ch.name];
        if (old && old.epoch === epoch && old.seq >= seq) return;
        this.positions[ch.name] = { epoch, seq };
        savePositions(this.positions);
    }
}
