// fanout.mjs - scenario S1 (neighbourhood fan-out at a fixed load) against
// buurtrelay and, on the same machine in the same run, raw Redis pub/sub,
// Mosquitto (MQTT 3.1.1 over TCP, QoS 0) and Socket.IO 4 with the classic
// @socket.io/redis-adapter. Run by scripts/bench:
//
//   node tests/bench/fanout.mjs --out DIR --relay BIN --ctl BIN [--quick]
//
// N subscribers spread round-robin over K channels, one publisher at R
// messages/s for T seconds. Each message goes to one channel (round-robin)
// and carries its send time (this process's high-resolution clock; the
// subscribers live in this process too, so one clock). Measured per
// system: deliveries received / expected, end-to-end latency p50/p99/max,
// the publisher's acknowledged (or, for MQTT QoS 0 and Redis, answered /
// written) messages per second, and the CPU the server processes used
// during the run (from /proc/PID/stat). Writes DIR/fanout.md (a markdown
// section) and DIR/fanout.json. Every process it starts is stopped on exit.
//
// Only needs what tests/package.json pins (ws, socket.io, socket.io-client,
// @socket.io/redis-adapter, redis) plus redis-server and mosquitto on PATH.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
    LoadClient, Pool, Poster, expectedFromAcks, verifyDelivery, percentile, maxOf,
} from '../load/clients.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.resolve(HERE, '..', '..');

const args = process.argv.slice(2);
const opt = (name, def) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : def;
};
const QUICK = args.includes('--quick');
const OUT = path.resolve(opt('--out', path.join(SRC, 'build', 'bench')));
const RELAY = path.resolve(opt('--relay', path.join(SRC, 'build-bench', 'buurtrelay')));
const CTL = path.resolve(opt('--ctl', path.join(SRC, 'build-bench', 'buurtctl')));

// The Assen sample area data has 21 buurten: K is at most 21 for the relay
// (an alert must name a known buurt); the others use the same names.
const P = QUICK
    ? { N: 500, K: 20, R: 200, T: 8 }
    : { N: 2000, K: 20, R: 100, T: 30 };
for (const k of ['N', 'K', 'R', 'T']) if (opt(`--${k}`)) P[k] = Number(opt(`--${k}`));
const DRAIN_MS = 3000;

const BODY = 'Loopt verward rond met een rollator, draagt een blauwe jas en een grijze pet, '
    + 'spreekt Nederlands. Laatst gezien bij de bushalte aan de Vaart om 14:00. Zie je hem? Bel 112.';
const BUURTEN = JSON.parse(readFileSync(path.join(SRC, 'config/areas/assen-buurten.geojson'), 'utf8'))
    .features.map((f) => f.properties.buurtcode);
const channelCode = (i) => BUURTEN[i % BUURTEN.length];

const hrnow = () => performance.timeOrigin + performance.now(); // ms, sub-ms resolution

// --- processes -------------------------------------------------------------

const children = new Set();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'buurtrelay-bench-'));

function start(name, cmd, argv, opts = {}) {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    p.benchName = name;
    p.out = '';
    const keep = (d) => {
        p.out += d.toString();
        if (p.out.length > 20000) p.out = p.out.slice(-20000);
    };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    p.on('error', (e) => {
        p.out += `spawn error: ${e.message}\n`;
    });
    children.add(p);
    p.on('exit', () => children.delete(p));
    return p;
}

async function stop(p) {
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
}

function cleanupSync() {
    for (const p of children) {
        try {
            p.kill('SIGKILL');
        } catch { /* gone */ }
    }
    try {
        rmSync(tmp, { recursive: true, force: true });
    } catch { /* ignore */ }
}
process.on('exit', cleanupSync);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => process.exit(130));

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

async function waitFor(fn, ms, what, proc) {
    const deadline = Date.now() + ms;
    for (;;) {
        if (proc && (proc.exitCode !== null || proc.signalCode !== null))
            throw new Error(`${what}: process exited\n${proc.out}`);
        try {
            if (await fn()) return;
        } catch { /* not yet */ }
        if (Date.now() > deadline) throw new Error(`${what}: not ready within ${ms} ms\n${proc ? proc.out : ''}`);
        await delay(50);
    }
}

const CLK_TCK = 100;
function cpuSeconds(pid) {
    try {
        const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime + stime
    } catch {
        return NaN;
    }
}

function run(cmd, argv, { input, env } = {}) {
    return new Promise((resolve, reject) => {
        const c = execFile(cmd, argv, { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
            if (err) reject(new Error(`${cmd} ${argv.join(' ')}: ${err.message} ${stderr}`));
            else resolve(stdout);
        });
        if (input !== undefined) c.stdin.end(input);
    });
}

// --- minimal RESP client (raw Redis pub/sub) --------------------------------

function respEncode(parts) {
    let s = `*${parts.length}\r\n`;
    for (const p of parts) s += `$${Buffer.byteLength(p)}\r\n${p}\r\n`;
    return s;
}

// Parses one RESP value at buf[i]; returns [value, next] or null (incomplete).
function respParse(buf, i) {
    if (i >= buf.length) return null;
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return null;
    const t = String.fromCharCode(buf[i]);
    const line = buf.toString('utf8', i + 1, eol);
    if (t === '+' || t === '-') return [t === '-' ? new Error(line) : line, eol + 2];
    if (t === ':') return [Number(line), eol + 2];
    if (t === '$') {
        const n = Number(line);
        if (n < 0) return [null, eol + 2];
        if (buf.length < eol + 2 + n + 2) return null;
        return [buf.toString('utf8', eol + 2, eol + 2 + n), eol + 2 + n + 2];
    }
    if (t === '*') {
        const n = Number(line);
        const out = [];
        let j = eol + 2;
        for (let k = 0; k < n; k++) {
            const r = respParse(buf, j);
            if (!r) return null;
            out.push(r[0]);
            j = r[1];
        }
        return [out, j];
    }
    throw new Error(`RESP: unexpected type ${t}`);
}

function respConnect(port, onValue) {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1');
        s.setNoDelay(true);
        let buf = Buffer.alloc(0);
        s.on('data', (d) => {
            buf = buf.length ? Buffer.concat([buf, d]) : d;
            let i = 0;
            for (;;) {
                const r = respParse(buf, i);
                if (!r) break;
                i = r[1];
                onValue(r[0]);
            }
            buf = buf.subarray(i);
        });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
    });
}

async function startRedis() {
    const port = await freePort();
    const p = start('redis-server', 'redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--protected-mode', 'no', '--daemonize', 'no',
    ]);
    await waitFor(async () => {
        const v = await new Promise((resolve, reject) => {
            const s = net.connect(port, '127.0.0.1');
            s.once('error', reject);
            s.once('data', (d) => {
                s.destroy();
                resolve(d.toString());
            });
            s.write(respEncode(['PING']));
        });
        return v.startsWith('+PONG');
    }, 5000, 'redis-server', p);
    return { port, proc: p, url: `redis://127.0.0.1:${port}` };
}

// --- minimal MQTT 3.1.1 client (QoS 0) ---------------------------------------

const mqttStr = (s) => {
    const b = Buffer.from(s);
    const l = Buffer.alloc(2);
    l.writeUInt16BE(b.length);
    return Buffer.concat([l, b]);
};
function mqttPacket(first, body) {
    const len = [];
    let n = body.length;
    do {
        let d = n % 128;
        n = Math.floor(n / 128);
        if (n > 0) d |= 0x80;
        len.push(d);
    } while (n > 0);
    return Buffer.concat([Buffer.from([first, ...len]), body]);
}

function mqttConnect(port, clientId, onPublish) {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1');
        s.setNoDelay(true);
        let buf = Buffer.alloc(0);
        const waiters = new Map(); // packet type -> resolve
        s.on('data', (d) => {
            buf = buf.length ? Buffer.concat([buf, d]) : d;
            let i = 0;
            for (;;) {
                if (buf.length < i + 2) break;
                let mult = 1;
                let len = 0;
                let j = i + 1;
                let complete = false;
                while (j < buf.length) {
                    const b = buf[j++];
                    len += (b & 0x7f) * mult;
                    mult *= 128;
                    if (!(b & 0x80)) {
                        complete = true;
                        break;
                    }
                }
                if (!complete || buf.length < j + len) break;
                const type = buf[i] >> 4;
                const body = buf.subarray(j, j + len);
                if (type === 3) {
                    const tl = body.readUInt16BE(0);
                    const qos = (buf[i] >> 1) & 3;
                    const topic = body.toString('utf8', 2, 2 + tl);
                    const payload = body.subarray(2 + tl + (qos ? 2 : 0));
                    onPublish(topic, payload);
                } else if (waiters.has(type)) {
                    const w = waiters.get(type);
                    waiters.delete(type);
                    w(body);
                }
                i = j + len;
            }
            buf = buf.subarray(i);
        });
        s.once('error', reject);
        s.once('connect', () => {
            const vh = Buffer.concat([mqttStr('MQTT'), Buffer.from([4, 0x02, 0, 0])]); // clean session, no keepalive
            waiters.set(2, (body) => {
                if (body[1] !== 0) return reject(new Error(`CONNACK ${body[1]}`));
                const c = {
                    socket: s,
                    subscribe: (topic) => new Promise((res) => {
                        waiters.set(9, res);
                        s.write(mqttPacket(0x82, Buffer.concat([Buffer.from([0, 1]), mqttStr(topic), Buffer.from([0])])));
                    }),
                    publish: (topic, payload) => s.write(mqttPacket(0x30, Buffer.concat([mqttStr(topic), Buffer.from(payload)]))),
                };
                resolve(c);
            });
            s.write(mqttPacket(0x10, Buffer.concat([vh, mqttStr(clientId)])));
        });
    });
}

// --- common measurement ------------------------------------------------------

// Delivery bookkeeping for the systems without seq numbers of their own:
// every payload is {ch, seq, t, body}; per subscriber, per channel.
class Tally {
    constructor() {
        this.lat = [];
        this.delivered = 0;
        this.duplicates = 0;
        this.reordered = 0;
        this.expected = 0;
    }

    sub() {
        const last = new Map();
        const seen = new Set();
        return (raw) => {
            const now = hrnow();
            const m = JSON.parse(raw);
            const key = `${m.ch}/${m.seq}`;
            if (seen.has(key)) {
                this.duplicates++;
                return;
            }
            seen.add(key);
            if ((last.get(m.ch) ?? -1) > m.seq) this.reordered++;
            last.set(m.ch, m.seq);
            this.delivered++;
            this.lat.push(now - m.t);
        };
    }
}

const payload = (ch, seq) => JSON.stringify({ ch, seq, t: hrnow(), body: BODY });

// Calls send(i) for i = 0 .. R*T-1 at R per second (catching up after a
// late timer, never sending ahead). Resolves with the time of the last send.
async function paced(send) {
    const total = P.R * P.T;
    const t0 = hrnow();
    let i = 0;
    while (i < total) {
        const due = Math.min(total, Math.floor(((hrnow() - t0) / 1000) * P.R) + 1);
        while (i < due) send(i++);
        if (i < total) await delay(Math.max(1, (i / P.R) * 1000 - (hrnow() - t0)));
    }
    return { t0, tEnd: hrnow() };
}

function cpuNote(procs, seconds) {
    return procs.map(([name, before, pid]) => {
        const used = cpuSeconds(pid) - before;
        return `${name} ${Number.isFinite(used) ? Math.round((100 * used) / seconds) : '?'}%`;
    }).join(', ');
}
const cpuMark = (procs) => procs.map(([name, p]) => [name, cpuSeconds(p.pid), p.pid]);

function result(system, { delivered, expected, lat, notes, extra = {} }) {
    const r = {
        system, subscribers: P.N, channels: P.K, rate: P.R, seconds: P.T, delivered, expected,
        p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.length ? maxOf(lat) : NaN, notes, ...extra,
    };
    console.error(`fanout: ${system}: ${delivered}/${expected} p50 ${r.p50?.toFixed?.(2)} p99 ${r.p99?.toFixed?.(2)} max ${r.max?.toFixed?.(2)} ms; ${notes}`);
    return r;
}

async function untilOr(pred, ms) {
    const deadline = Date.now() + ms;
    while (!pred() && Date.now() < deadline) await delay(20);
}

// --- the systems -----------------------------------------------------------

async function benchRelay() {
    if (!existsSync(RELAY) || !existsSync(CTL)) throw new Error(`${RELAY} / ${CTL} not built`);
    const redis = await startRedis();
    const port = await freePort();
    const tokenKey = randomBytes(32).toString('hex');
    const piiKey = randomBytes(32).toString('hex');
    writeFileSync(path.join(tmp, 'token.key'), `${tokenKey}\n`);
    writeFileSync(path.join(tmp, 'pii.key'), `${piiKey}\n`);
    // The sample config with the bench's limits; everything else as shipped
    // (description check on, approval of Severe on: the alerts are Moderate).
    const over = {
        listen: `127.0.0.1:${port}`, redis: redis.url,
        'token-key-file': path.join(tmp, 'token.key'), 'pii-key-file': path.join(tmp, 'pii.key'),
        'web-root': path.join(SRC, 'relay/web'),
        'areas-file': path.join(SRC, 'config/areas/assen-buurten.geojson'),
        'postcodes-file': path.join(SRC, 'config/areas/assen-postcodes.csv'),
        'log-level': 'warn',
        'rate-frames': 100000, 'rate-frames-burst': 100000, 'rate-posts': 10000, 'rate-posts-burst': 100000,
        'max-conns-per-ip': 100000, 'send-queue-max': 4 * 1024 * 1024,
    };
    const lines = [];
    const seen = new Set();
    for (const l of readFileSync(path.join(SRC, 'config/buurtrelay.conf'), 'utf8').split('\n')) {
        const key = l.trim().split(/\s+/)[0];
        if (!l.trim() || l.trim().startsWith('#')) continue;
        if (key in over) {
            lines.push(`${key} ${over[key]}`);
            seen.add(key);
        } else lines.push(l);
    }
    for (const [k, v] of Object.entries(over)) if (!seen.has(k)) lines.push(`${k} ${v}`);
    const conf = path.join(tmp, 'buurtrelay.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    const env = { BUURTRELAY_TOKEN_KEY: tokenKey, BUURTRELAY_PII_KEY: piiKey };
    const ctl = (a, input) => run(CTL, ['--config', conf, '--redis', redis.url, ...a], { input, env });
    await ctl(['user', 'add', '--login', 'bench-politie', '--role', 'police'], `pw-${randomBytes(8).toString('hex')}\n`);
    const token = (await ctl(['token', '--login', 'bench-politie'])).trim().split('\n').pop().trim();

    const relay = start('buurtrelay', RELAY, ['--config', conf], { cwd: SRC, env: { ...process.env, ...env } });
    const http = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200,
        10000, 'buurtrelay', relay);
    const url = `ws://127.0.0.1:${port}/ws`;

    // Subscribers from tests/load/clients.mjs; latency taken here with the
    // high-resolution clock (the stamp carries microseconds).
    const lat = [];
    class HrClient extends LoadClient {
        onChannelMessage(f) {
            const now = hrnow();
            const ch = this.channels.get(f.channel);
            const before = ch ? ch.count : 0;
            super.onChannelMessage(f);
            if (ch && ch.count > before) {
                const m = /verzonden (\d+)\.\s*$/.exec(f.msg?.body || '');
                if (m) lat.push(now - Number(m[1]) / 1000);
            }
        }
    }
    const pool = new Pool();
    const clients = [];
    for (let i = 0; i < P.N; i++) {
        const c = new HrClient({ urls: [url], channels: [`buurt:${channelCode(i % P.K)}`], reconnect: false, name: `s${i}` });
        c.onEvent = (cl, kind) => pool.onEvent(cl, kind);
        pool.clients.push(c);
        clients.push(c);
    }
    await pool.startAll(clients, 100);
    await pool.until(() => pool.allLive(), 20000, () => 'subscribers not live');

    const poster = new Poster({ urls: [url], token, window: 1000 });
    await poster.start();
    const mark = cpuMark([['relay', relay], ['redis', redis.proc]]);
    const acks = [];
    let firstErr = null;
    const { t0 } = await paced((i) => {
        const code = channelCode(i % P.K);
        poster.post(`b${i}`, (id) => ({
            kind: 'alert', area: { buurten: [code] }, title: 'Vermist: man 78',
            body: `${BODY} Kenmerk ${id}, verzonden ${Math.round(hrnow() * 1000)}.`,
            urgency: 'Immediate', severity: 'Moderate', certainty: 'Likely', event: 'vermissing', consent: true,
        })).then(() => acks.push(hrnow()), (e) => {
            firstErr = firstErr || e.message;
        });
    });
    await untilOr(() => acks.length + (firstErr ? 1 : 0) >= P.R * P.T || poster.posts.size === acks.length, 10000);
    await untilOr(() => acks.length >= P.R * P.T, 10000);
    const lastAck = acks.length ? maxOf(acks) : hrnow();
    const expected = expectedFromAcks(poster.acked());
    const expectedCount = () => {
        let n = 0;
        for (const c of clients) for (const ch of c.channels.values()) {
            const m = expected.get(ch.name);
            if (m) for (const seq of m.keys()) if (seq > ch.startSeq) n++;
        }
        return n;
    };
    const want = expectedCount();
    const got = () => clients.reduce((s, c) => s + [...c.channels.values()].reduce((a, ch) => a + ch.count, 0), 0);
    await untilOr(() => got() >= want, DRAIN_MS);
    const secs = (hrnow() - t0) / 1000;
    const cpu = cpuNote(mark, secs);
    const v = verifyDelivery(clients, expected);
    pool.stopAll();
    poster.stop();
    const pubRate = acks.length / ((lastAck - t0) / 1000);
    const ackMs = poster.acked().map((e) => e.ackedAt - e.firstSentAt);
    const notes = [
        `acked ${acks.length}/${P.R * P.T} posts, ${Math.round(pubRate)} acks/s, post→ack p50 ${percentile(ackMs, 50)} ms p99 ${percentile(ackMs, 99)} ms`,
        `CPU ${cpu}`,
        'each post is a full alert: auth, area + description check, case record, Lua script (seq, XADD to the channel stream, PUBLISH) and ack after Redis has it; also one message on case:<id> (no subscriber)',
        `lost ${v.lost}, dup ${v.duplicated}, gaps ${v.gaps}`,
    ];
    if (firstErr) notes.push(`first error: ${firstErr.slice(0, 160)}`);
    const r = result('buurtrelay (1 process, Release)', {
        delivered: v.delivered, expected: v.expected, lat, notes: notes.join('; '),
        extra: { pubRate, lost: v.lost, duplicated: v.duplicated },
    });
    await stop(relay);
    await stop(redis.proc);
    return r;
}

async function benchRedis() {
    const redis = await startRedis();
    const tally = new Tally();
    const subs = [];
    const perChannel = new Array(P.K).fill(0);
    for (let i = 0; i < P.N; i++) {
        const k = i % P.K;
        const onMsg = tally.sub();
        let confirmed;
        const ok = new Promise((r) => {
            confirmed = r;
        });
        const s = await respConnect(redis.port, (v) => {
            if (Array.isArray(v) && v[0] === 'message') onMsg(v[2]);
            else if (Array.isArray(v) && v[0] === 'subscribe') confirmed();
        });
        s.write(respEncode(['SUBSCRIBE', `buurt:${channelCode(k)}`]));
        await ok;
        perChannel[k]++;
        subs.push(s);
    }
    let replies = 0;
    let receivers = 0;
    let lastReply = 0;
    const pub = await respConnect(redis.port, (v) => {
        replies++;
        if (typeof v === 'number') receivers += v;
        lastReply = hrnow();
    });
    const mark = cpuMark([['redis', redis.proc]]);
    const { t0 } = await paced((i) => {
        const k = i % P.K;
        tally.expected += perChannel[k];
        const ch = `buurt:${channelCode(k)}`;
        pub.write(respEncode(['PUBLISH', ch, payload(ch, i)]));
    });
    await untilOr(() => replies >= P.R * P.T && tally.delivered + tally.duplicates >= tally.expected, DRAIN_MS + 2000);
    const secs = (hrnow() - t0) / 1000;
    const cpu = cpuNote(mark, secs);
    const pubRate = replies / ((lastReply - t0) / 1000);
    for (const s of [...subs, pub]) s.destroy();
    const r = result('Redis pub/sub (raw, redis-server 7)', {
        delivered: tally.delivered, expected: tally.expected, lat: tally.lat,
        notes: `PUBLISH answered ${replies}/${P.R * P.T}, ${Math.round(pubRate)}/s; CPU ${cpu}; RESP over TCP, no persistence, no auth, no history, no acks to the subscriber; dup ${tally.duplicates}, reordered ${tally.reordered}`,
        extra: { pubRate },
    });
    await stop(redis.proc);
    return r;
}

async function benchMosquitto() {
    const port = await freePort();
    const conf = path.join(tmp, 'mosquitto.conf');
    writeFileSync(conf, [
        `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false',
        'max_queued_messages 100000', 'log_dest stderr', 'log_type error', 'log_type warning',
    ].join('\n') + '\n');
    const bin = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
    const broker = start('mosquitto', bin, ['-c', conf]);
    await waitFor(() => new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => {
            s.destroy();
            resolve(true);
        });
        s.once('error', () => resolve(false));
    }), 5000, 'mosquitto', broker);
    const help = await new Promise((r) => execFile(bin, ['-h'], (e, so, se) => r(`${so}${se}`)));
    const version = (help.match(/mosquitto version (\S+)/) || [])[1] || '2';
    const tally = new Tally();
    const subs = [];
    const perChannel = new Array(P.K).fill(0);
    for (let i = 0; i < P.N; i++) {
        const k = i % P.K;
        const onMsg = tally.sub();
        const c = await mqttConnect(port, `s${i}`, (topic, pl) => onMsg(pl.toString('utf8')));
        await c.subscribe(`buurt/${channelCode(k)}`);
        perChannel[k]++;
        subs.push(c);
    }
    const pub = await mqttConnect(port, 'publisher', () => {});
    const mark = cpuMark([['mosquitto', broker]]);
    let sent = 0;
    const { t0, tEnd } = await paced((i) => {
        const k = i % P.K;
        tally.expected += perChannel[k];
        pub.publish(`buurt/${channelCode(k)}`, payload(`buurt:${channelCode(k)}`, i));
        sent++;
    });
    await untilOr(() => tally.delivered + tally.duplicates >= tally.expected, DRAIN_MS);
    const secs = (hrnow() - t0) / 1000;
    const cpu = cpuNote(mark, secs);
    for (const c of [...subs, pub]) c.socket.destroy();
    const r = result(`Mosquitto ${version} (MQTT 3.1.1/TCP, QoS 0)`, {
        delivered: tally.delivered, expected: tally.expected, lat: tally.lat,
        notes: `QoS 0 has no publisher ack: ${sent} written, ${Math.round(sent / ((tEnd - t0) / 1000))}/s; CPU ${cpu}; plain TCP, not WebSocket (Debian's build has no websockets); persistence off, no history; dup ${tally.duplicates}, reordered ${tally.reordered}`,
        extra: { pubRate: sent / ((tEnd - t0) / 1000) },
    });
    await stop(broker);
    return r;
}

async function benchSocketIo() {
    let ioClient;
    try {
        ioClient = (await import('socket.io-client')).io;
    } catch (e) {
        return result('Socket.IO 4 + redis-adapter', {
            delivered: 0, expected: 0, lat: [], notes: `not run: socket.io-client missing (${e.message})`,
        });
    }
    const redis = await startRedis();
    const port = await freePort();
    const server = start('socket.io', process.execPath, [path.join(HERE, 'sio_server.mjs'), String(port), redis.url], { cwd: SRC });
    await waitFor(() => server.out.includes('ready'), 10000, 'socket.io server', server);
    const url = `http://127.0.0.1:${port}`;
    const ioOpts = { transports: ['websocket'], forceNew: true, reconnection: false, perMessageDeflate: false };
    const tally = new Tally();
    const subs = [];
    const perChannel = new Array(P.K).fill(0);
    const connect = () => new Promise((resolve, reject) => {
        const s = ioClient(url, ioOpts);
        s.once('connect', () => resolve(s));
        s.once('connect_error', reject);
    });
    for (let i = 0; i < P.N; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, P.N - i) }, async (_, j) => {
            const k = (i + j) % P.K;
            const s = await connect();
            const onMsg = tally.sub();
            s.on('m', (pl) => onMsg(pl));
            await s.timeout(10000).emitWithAck('join', `buurt:${channelCode(k)}`);
            perChannel[k]++;
            subs.push(s);
        }));
    }
    const pub = await connect();
    const mark = cpuMark([['node', server], ['redis', redis.proc]]);
    let acks = 0;
    let lastAck = 0;
    const { t0 } = await paced((i) => {
        const k = i % P.K;
        tally.expected += perChannel[k];
        const ch = `buurt:${channelCode(k)}`;
        pub.emit('pub', { ch, payload: payload(ch, i) }, () => {
            acks++;
            lastAck = hrnow();
        });
    });
    await untilOr(() => acks >= P.R * P.T && tally.delivered + tally.duplicates >= tally.expected, DRAIN_MS + 2000);
    const secs = (hrnow() - t0) / 1000;
    const cpu = cpuNote(mark, secs);
    const pubRate = acks / ((lastAck - t0) / 1000);
    for (const s of [...subs, pub]) s.disconnect();
    const r = result('Socket.IO 4.8 + @socket.io/redis-adapter 8.3 (1 node)', {
        delivered: tally.delivered, expected: tally.expected, lat: tally.lat,
        notes: `acked ${acks}/${P.R * P.T}, ${Math.round(pubRate)} acks/s; CPU ${cpu}; websocket transport only; classic adapter (every broadcast also PUBLISHed to Redis for other nodes), ack after the local emit, no persistence or history; dup ${tally.duplicates}, reordered ${tally.reordered}`,
        extra: { pubRate },
    });
    await stop(server);
    await stop(redis.proc);
    return r;
}

// --- main --------------------------------------------------------------------

const fmt = (v) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : Math.round(v)} ms` : '-');

async function main() {
    const results = [];
    for (const [name, fn] of [['buurtrelay', benchRelay], ['redis', benchRedis], ['mosquitto', benchMosquitto], ['socket.io', benchSocketIo]]) {
        try {
            results.push(await fn());
        } catch (e) {
            console.error(`fanout: ${name} failed: ${e.stack || e.message}`);
            results.push({ system: name, subscribers: P.N, channels: P.K, rate: P.R, delivered: 0, expected: 0,
                p50: NaN, p99: NaN, max: NaN, notes: `not run / failed: ${String(e.message).split('\n')[0].slice(0, 200)}` });
        }
        for (const p of [...children]) await stop(p);
    }
    const lines = [
        '## Fan-out S1: relay next to peers (tests/bench/fanout.mjs)',
        '',
        `${P.N} subscribers spread evenly over ${P.K} channels (${P.N / P.K} per channel), one publisher at ${P.R} msgs/s`
        + ` for ${P.T} s, each message to one channel (round-robin): ${P.R * P.N / P.K} deliveries/s offered.`
        + ' Latency is receive time minus the send time embedded in the payload (one clock: the publisher and every'
        + ' subscriber run in one node process, which also drives all sockets, so its own load is part of every figure).'
        + ' Each system runs alone with its own freshly started server(s) on loopback, no warm-up, no CPU pinning;'
        + ' CPU is the server processes\' CPU time over the publishing window (100% = one core).',
        '',
        '| system | subscribers | channels | rate | delivered/expected | p50 | p99 | max | notes |',
        '|---|---|---|---|---|---|---|---|---|',
    ];
    for (const r of results) {
        lines.push(`| ${r.system} | ${r.subscribers} | ${r.channels} | ${r.rate}/s × ${P.T} s | ${r.delivered}/${r.expected} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.notes} |`);
    }
    lines.push('');
    lines.push('Not like for like: only the relay authenticates the publisher, checks the alert, stores a case and every'
        + ' message in a Redis stream (replayable after a reconnect, with seq/epoch) and acknowledges after Redis has it;'
        + ' raw Redis pub/sub, Mosquitto QoS 0 and Socket.IO\'s classic adapter keep nothing and lose what a disconnected'
        + ' subscriber missed. Mosquitto runs over plain TCP (MQTT), the others over WebSocket (relay, Socket.IO) or RESP.');
    writeFileSync(path.join(OUT, 'fanout.md'), `${lines.join('\n')}\n`);
    writeFileSync(path.join(OUT, 'fanout.json'), `${JSON.stringify({ params: P, results }, null, 2)}\n`);
}

try {
    await main();
    process.exit(0);
} catch (e) {
    console.error(`fanout: ${e.stack || e.message}`);
    process.exit(1);
}
