// sms_throughput.mjs - SMS throughput end to end: one police appeal to N
// SMS residents through the relay's delivery engine (relay/outbox.c), once
// through a real Kannel (bearerbox + smsbox + fakesmsc, config/kannel.conf)
// and once through the Twilio simulator (tests/integration/sms_sim.mjs, in
// this process) so that Kannel's own cost is out of the picture.
//
//   node tests/bench/sms_throughput.mjs --relay BIN --ctl BIN --out DIR [--quick]
//        [--n N]
//
// N is 1,000 residents (--quick: 200). Measured per path:
//   - SMS/s: N / (first enqueue -> last message at the phone), where the
//     first enqueue is the earliest "created" (unix ms) of the appeal's
//     delivery records (relay/outbox.h dlv:d:{d}) and "at the phone" is
//     when fakesmsc printed its "Got message" line (read from its output
//     as it comes), or when the simulator accepted the request;
//   - enqueue -> phone latency per resident (p50 / p99 / max);
//   - when every delivery was "delivered" (Kannel DLRs, Twilio status
//     callbacks: both cost the relay two webhooks per SMS);
//   - CPU time (utime + stime from /proc/PID/stat) of the relay, and of
//     redis-server, bearerbox and smsbox, between just before the post and
//     the last "delivered"; the relay's per SMS = its CPU / N;
//   - exactly-once at the phone: delivered / duplicated / lost;
//   - in sms.json only: SMS at the phone and sends started by the relay
//     (its dlv:sent:{d} markers) per 100 ms, to tell the relay's pacing
//     from the provider's.
// Writes DIR/sms.md (a markdown section "## SMS throughput") and
// DIR/sms.json. Every process it starts is stopped when it ends, also on
// an error or a signal. It never fails on time: a run that does not
// complete within its deadline is reported as such (and exits 0); only a
// setup failure exits 1.
//
// Needs redis-server on PATH, the Debian packages kannel and kannel-extras
// for the Kannel path (skipped, and said so in the report, without them),
// and tests/node_modules (ws).

import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

import { startTwilioSim } from '../integration/sms_sim.mjs';

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
const N = Number(opt('--n', QUICK ? 200 : 1000));
const RUN_DEADLINE_MS = QUICK ? 60000 : 180000;

const BEARERBOX = process.env.KANNEL_BEARERBOX || '/usr/sbin/bearerbox';
const SMSBOX = process.env.KANNEL_SMSBOX || '/usr/sbin/smsbox';
const FAKESMSC = process.env.KANNEL_FAKESMSC || '/usr/lib/kannel/test/fakesmsc';

// The relay's limits for the bench: no token bucket to speak of, and as
// many requests open as smsbox takes without queueing (smsbox-max-pending
// defaults to 100). The shipped defaults are rate 20/s, max-in-flight 16.
const ADAPTER_RATE = 100000; // config maximum
const ADAPTER_IN_FLIGHT = 64;
const BUURT = 'BU01060101';
const TITLE = 'Vermist: man 78';
const BODY = 'Blauwe jas, grijze pet. Gezien? Bel 112.'; // one GSM-7 part

// --- processes -------------------------------------------------------------

const children = new Set();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'buurtrelay-smsbench-'));

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

async function stop(p, signal = 'SIGTERM') {
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
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

// A free port below the kernel's ephemeral range (32768 and up by
// default): a port from listen(0) is free only until some process's next
// outgoing connection takes it as its local port, which on a machine busy
// with load tests happens between the pick and the bind. Every server
// this bench starts gets its port from here.
async function freePort() {
    for (let tries = 0; tries < 100; tries++) {
        const port = 20000 + Math.floor(Math.random() * 12000);
        const ok = await new Promise((resolve) => {
            const s = net.createServer();
            s.once('error', () => resolve(false));
            s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
        });
        if (ok) return port;
    }
    throw new Error('no free port in 20000-31999');
}

async function waitFor(fn, ms, what, proc) {
    const deadline = Date.now() + ms;
    for (;;) {
        if (proc && (proc.exitCode !== null || proc.signalCode !== null))
            throw new Error(`${what}: process exited\n${proc.out}`);
        try {
            if (await fn()) return;
        } catch (e) {
            if (e.fatal) throw new Error(`${what}: ${e.message}\n${proc ? proc.out : ''}`);
        }
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
        c.stdin.on('error', () => {}); // a command that reads no input may be gone already
        if (input !== undefined) c.stdin.end(input);
        else c.stdin.end();
    });
}

// --- a small pipelined Redis client (RESP over one connection) -------------

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
        if (n < 0) return [null, eol + 2];
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

function redisConnect(port) {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1');
        const waiting = [];
        let buf = Buffer.alloc(0);
        s.on('data', (d) => {
            buf = buf.length ? Buffer.concat([buf, d]) : d;
            let i = 0;
            for (;;) {
                const r = respParse(buf, i);
                if (!r) break;
                i = r[1];
                const w = waiting.shift();
                if (r[0] instanceof Error) w.reject(r[0]);
                else w.resolve(r[0]);
            }
            buf = buf.subarray(i);
        });
        s.on('error', (e) => {
            for (const w of waiting.splice(0)) w.reject(e);
            reject(e);
        });
        s.on('connect', () => resolve({
            cmd(...parts) {
                return new Promise((res, rej) => {
                    waiting.push({ resolve: res, reject: rej });
                    let m = `*${parts.length}\r\n`;
                    for (const p of parts.map(String)) m += `$${Buffer.byteLength(p)}\r\n${p}\r\n`;
                    s.write(m);
                });
            },
            close: () => s.destroy(),
        }));
    });
}

const hashOf = (flat) => {
    const o = {};
    for (let i = 0; i < flat.length; i += 2) o[flat[i]] = flat[i + 1];
    return o;
};

async function startRedis() {
    const port = await freePort();
    const p = start('redis-server', process.env.REDIS_SERVER || 'redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', tmp,
    ]);
    let conn = null;
    await waitFor(async () => {
        conn = await redisConnect(port);
        return (await conn.cmd('PING')) === 'PONG';
    }, 5000, 'redis-server', p);
    return { port, proc: p, url: `redis://127.0.0.1:${port}`, conn };
}

// --- Kannel (the same template and ports as tests/integration/kannel.mjs) --

const kannelMissing = () => [BEARERBOX, SMSBOX, FAKESMSC].find((b) => !existsSync(b));

async function startKannel({ relayUrl, webhookToken, password }) {
    const dir = path.join(tmp, 'kannel');
    const spool = path.join(dir, 'spool');
    const dlrSpool = path.join(dir, 'dlr-spool');
    mkdirSync(spool, { recursive: true });
    mkdirSync(dlrSpool, { recursive: true });
    const ports = { admin: await freePort(), smsbox: await freePort(), sendsms: await freePort(), smsc: await freePort() };
    const adminPassword = randomBytes(8).toString('hex');
    let text = readFileSync(path.join(SRC, 'config', 'kannel.conf'), 'utf8');
    const subst = {
        '@SPOOL_DIR@': spool, '@DLR_SPOOL_DIR@': dlrSpool, '@RELAY_URL@': relayUrl,
        '@WEBHOOK_TOKEN@': webhookToken, '@SENDSMS_PASSWORD@': password, '@ADMIN_PASSWORD@': adminPassword,
    };
    for (const [k, v] of Object.entries(subst)) text = text.split(k).join(v);
    text = text
        .replace(/^admin-port = 13000$/m, `admin-port = ${ports.admin}`)
        .replace(/^smsbox-port = 13001$/m, `smsbox-port = ${ports.smsbox}`)
        .replace(/^bearerbox-port = 13001$/m, `bearerbox-port = ${ports.smsbox}`)
        .replace(/^sendsms-port = 13013$/m, `sendsms-port = ${ports.sendsms}`)
        .replace(/^port = 10000$/m, `port = ${ports.smsc}`);
    if (/@[A-Z_]+@/.test(text)) throw new Error('kannel.conf: a placeholder was not replaced');
    const conf = path.join(dir, 'kannel.conf');
    writeFileSync(conf, text, { mode: 0o600 });
    const status = async () => (await fetch(`http://127.0.0.1:${ports.admin}/status.txt?password=${adminPassword}`,
        { signal: AbortSignal.timeout(2000) })).text();

    // Console verbosity 2 (warnings): the boxes' per-message INFO lines
    // would otherwise be part of what is measured.
    const bearerbox = start('bearerbox', BEARERBOX, ['-v', '2', conf], { cwd: dir });
    await waitFor(async () => (await status()).includes('Status: running'), 15000, 'bearerbox', bearerbox);
    const smsbox = start('smsbox', SMSBOX, ['-v', '2', conf], { cwd: dir });
    const sendsmsUrl = `http://127.0.0.1:${ports.sendsms}/cgi-bin/sendsms`;
    await waitFor(async () => {
        const r = await fetch(sendsmsUrl, { signal: AbortSignal.timeout(1000) });
        await r.text();
        return r.status > 0;
    }, 15000, 'smsbox', smsbox);

    // fakesmsc as a pure MT sink (-m 0: it sends nothing, then blocks on
    // the connection and reads every line as it comes: no -i pacing on the
    // receiving side). Its "Got message N: <from to type text>" lines are
    // timestamped here as they arrive.
    const arrivals = []; // {at, to, text}
    const fake = spawn(FAKESMSC, ['-H', '127.0.0.1', '-r', String(ports.smsc), '-i', '0.01', '-m', '0', 'x y text x'],
        { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    children.add(fake);
    fake.on('exit', () => children.delete(fake));
    fake.out = '';
    let partial = '';
    const onData = (d) => {
        const at = Date.now();
        const lines = (partial + d.toString('utf8')).split('\n');
        partial = lines.pop();
        for (const l of lines) {
            const m = /Got message \d+: <(\S+) (\S+) (\S+) (.*)>$/.exec(l);
            if (m) arrivals.push({ at, to: m[2], text: m[4] });
            else if (fake.out.length < 20000) fake.out += `${l}\n`;
        }
    };
    fake.stdout.on('data', onData);
    fake.stderr.on('data', onData);
    await waitFor(async () => /FAKE\[FAKE\]\s+FAKE:\d+ \(online/.test(await status()), 15000, 'fakesmsc online', fake);
    return {
        sendsmsUrl, password, arrivals, procs: { bearerbox, smsbox, fakesmsc: fake },
        async stop() {
            for (const p of [fake, smsbox, bearerbox]) await stop(p);
        },
    };
}

// --- the relay -------------------------------------------------------------

const tokenKey = randomBytes(32).toString('hex');
const piiKey = randomBytes(32).toString('hex');
const keyEnv = { BUURTRELAY_TOKEN_KEY: tokenKey, BUURTRELAY_PII_KEY: piiKey };

function secretFile(name, value) {
    const f = path.join(tmp, name);
    writeFileSync(f, `${value}\n`, { mode: 0o600 });
    return f;
}

// A config of only what differs from the defaults (as the integration
// tests write them) plus the adapter; logging at info as shipped.
async function startRelay(redis, port, adapterLines) {
    const conf = path.join(tmp, `relay-${port}.conf`);
    writeFileSync(conf, [
        'log-level info',
        `areas-file ${path.join(SRC, 'config/areas/assen-buurten.geojson')}`,
        `postcodes-file ${path.join(SRC, 'config/areas/assen-postcodes.csv')}`,
        'outbox-batch 100',
        ...adapterLines,
    ].join('\n') + '\n');
    const relay = start('buurtrelay', RELAY, ['--config', conf, '--listen', `127.0.0.1:${port}`, '--redis', redis.url],
        { cwd: SRC, env: { ...process.env, ...keyEnv } });
    await waitFor(async () => {
        // A relay that cannot bind keeps running without a listener.
        if (/ERROR on binding/.test(relay.out)) throw Object.assign(new Error(`port ${port} taken`), { fatal: true });
        return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200;
    }, 15000, 'buurtrelay', relay);
    return { proc: relay, url: `ws://127.0.0.1:${port}/ws`, http: `http://127.0.0.1:${port}` };
}

const ctl = (redis, a, input) => run(CTL, ['--config', path.join(SRC, 'config/buurtrelay.conf'), '--redis', redis.url, ...a],
    { input, env: keyEnv });

// N residents of BUURT with a phone each. Returns Map user id -> phone.
//
// A shortcut, because `buurtctl user add` costs an Argon2id hash (0.4 to
// 0.9 s each on a busy 2-core box: minutes for 1,000): one account is
// made by `user add`, the others are copies of its user:{id} hash (same
// password hash, own id and login, per the data model in
// relay/user_store.h: user:{id}, login:{login}, and the creation's
// stats:buurt "ws" contribution), each then given its phone number by
// `buurtctl user set --phone` (no hash: ~40 ms), so the phone is
// encrypted, indexed (idx:phone) and added to sms:buurt:{code} by the
// real code. Not measured.
async function addResidents(redis, n, workers) {
    const byId = new Map();
    const phoneOf = (i) => `+316${String(40000000 + i).padStart(8, '0')}`;
    const login = (i) => `bench-sms-${i}`;
    const firstId = (await ctl(redis, ['user', 'add', '--login', login(0), '--role', 'resident', '--buurt', BUURT,
        '--phone', phoneOf(0)], `pw-bench-${randomBytes(8).toString('hex')}\n`)).trim().split('\n').pop().trim();
    byId.set(firstId, phoneOf(0));
    const tpl = hashOf(await redis.conn.cmd('HGETALL', `user:${firstId}`));
    if (tpl.login !== login(0) || !tpl.pw) throw new Error(`unexpected account record: fields ${Object.keys(tpl)}`);
    delete tpl.phone;
    delete tpl.addresses;
    const ids = [];
    const writes = [];
    for (let i = 1; i < n; i++) {
        const id = `u${randomBytes(8).toString('hex')}`;
        ids.push([i, id]);
        const fields = Object.entries({ ...tpl, login: login(i) }).flat();
        writes.push(redis.conn.cmd('HSET', `user:${id}`, ...fields));
        writes.push(redis.conn.cmd('SET', `login:${login(i)}`, id, 'NX'));
        writes.push(redis.conn.cmd('HINCRBY', `stats:buurt:${BUURT}`, 'ws', 1));
    }
    await Promise.all(writes);
    let next = 0;
    async function worker() {
        while (next < ids.length) {
            const [i, id] = ids[next++];
            await ctl(redis, ['user', 'set', '--login', login(i), '--phone', phoneOf(i)]);
            byId.set(id, phoneOf(i));
        }
    }
    await Promise.all(Array.from({ length: workers }, worker));
    const members = await redis.conn.cmd('SCARD', `sms:buurt:${BUURT}`);
    if (members !== n) throw new Error(`sms:buurt:${BUURT} has ${members} members, not ${n}`);
    return byId;
}

function postAppeal(url, token, idem, tag) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, ['buurtrelay.v1'], { headers: { Authorization: `Bearer ${token}` } });
        const timer = setTimeout(() => {
            ws.terminate();
            reject(new Error('post: no ack within 10 s'));
        }, 10000);
        let sentAt = 0;
        ws.on('message', (data) => {
            const f = JSON.parse(data.toString('utf8'));
            if (f.type === 'welcome') {
                sentAt = Date.now();
                ws.send(JSON.stringify({
                    type: 'post', id: idem,
                    post: {
                        kind: 'alert', area: { buurten: [BUURT] }, title: TITLE, body: `${BODY} Kenmerk ${tag}.`,
                        urgency: 'Immediate', severity: 'Moderate', certainty: 'Likely', event: 'vermissing', consent: true,
                    },
                }));
            } else if (f.id === idem && (f.type === 'ack' || f.type === 'error')) {
                clearTimeout(timer);
                ws.close();
                if (f.type === 'ack') resolve({ caseId: f.case, sentAt, ackAt: Date.now() });
                else reject(new Error(`post refused: ${f.code} ${f.message}`));
            }
        });
        ws.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
    });
}

// --- one run ---------------------------------------------------------------

const pct = (xs, p) => {
    if (!xs.length) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

// Posts one appeal and follows it to the phones. received() returns the
// far side's record so far, [{at, to, text}]; 'procs' [[name, proc]] whose
// CPU is measured (the relay first).
async function measure({ name, redis, relay, token, residents, received, procs, summaryKey }) {
    const tag = `${name}-${randomBytes(3).toString('hex')}`;
    const mine = () => received().filter((a) => a.text.includes(tag));
    const loadAvg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const cpu0 = procs.map(([, p]) => cpuSeconds(p.pid));
    const post = await postAppeal(relay.url, token, `bench-${tag}`, tag);
    const deadline = Date.now() + RUN_DEADLINE_MS;
    let lastArrivalSeen = null;
    let allDeliveredAt = null;
    let complete = false;
    for (;;) {
        const got = mine();
        const distinct = new Set(got.map((a) => a.to)).size;
        if (distinct >= residents.size && lastArrivalSeen === null) lastArrivalSeen = Date.now();
        if (lastArrivalSeen !== null) {
            const sum = hashOf(await redis.conn.cmd('HGETALL', `dlv:${post.caseId}:summary`));
            if (Number(sum[summaryKey] ?? 0) >= residents.size) {
                allDeliveredAt = Date.now();
                complete = true;
                break;
            }
        }
        if (Date.now() > deadline) break;
        await delay(20);
    }
    const cpu1 = procs.map(([, p]) => cpuSeconds(p.pid));
    const cpuWallS = ((allDeliveredAt ?? Date.now()) - post.sentAt) / 1000;
    await delay(1000); // a duplicate would show by now
    const got = mine();

    // Every delivery record of the case: its user and enqueue time.
    const dlv = hashOf(await redis.conn.cmd('HGETALL', `dlv:${post.caseId}`));
    const recs = await Promise.all(Object.keys(dlv).map((d) => redis.conn.cmd('HMGET', `dlv:d:${d}`, 'user', 'created', 'attempts')));
    // The send markers ("{consumer}|{unix ms}", set when the relay starts
    // a send: relay/outbox.h dlv:sent:{d}) show the relay's own pacing.
    const marks = await Promise.all(Object.keys(dlv).map((d) => redis.conn.cmd('GET', `dlv:sent:${d}`)));
    const createdByPhone = new Map();
    let attempts = 0;
    for (const [user, created, att] of recs) {
        createdByPhone.set(residents.get(user), Number(created));
        attempts += Number(att);
    }
    const firstEnqueue = Math.min(...createdByPhone.values());
    const lastEnqueue = Math.max(...createdByPhone.values());
    const firstAt = new Map();
    for (const a of got) if (!firstAt.has(a.to)) firstAt.set(a.to, a.at);
    const phones = new Set(residents.values());
    const delivered = [...firstAt.keys()].filter((p) => phones.has(p)).length;
    const lat = [...firstAt.entries()].filter(([p]) => createdByPhone.has(p)).map(([p, at]) => at - createdByPhone.get(p));
    const lastAt = Math.max(...firstAt.values());
    const spanS = (lastAt - firstEnqueue) / 1000;
    const cpu = Object.fromEntries(procs.map(([n], i) => [n, cpu1[i] - cpu0[i]]));
    // How the arrivals spread over time (SMS per 100 ms since the first
    // enqueue): a steady rate, bursts, or a tail.
    const slots = (times) => {
        const out = [];
        for (const at of times) {
            const k = Math.max(0, Math.floor((at - firstEnqueue) / 100));
            while (out.length <= k) out.push(0);
            out[k]++;
        }
        return out;
    };
    const perSlot = slots(firstAt.values());
    const sendStarts = marks.map((m) => Number(String(m ?? '').split('|').pop())).filter((t) => t > 0);
    return {
        path: name,
        sms: residents.size,
        queued: Object.keys(dlv).length,
        delivered,
        duplicated: got.length - firstAt.size,
        lost: residents.size - delivered,
        extra: got.filter((a) => !phones.has(a.to)).length,
        complete,
        provider_requests_per_sms: attempts / Math.max(1, recs.length),
        post_to_ack_ms: post.ackAt - post.sentAt,
        post_to_first_enqueue_ms: firstEnqueue - post.sentAt,
        enqueue_span_ms: lastEnqueue - firstEnqueue,
        first_enqueue_to_last_sms_ms: lastAt - firstEnqueue,
        sms_per_s: residents.size / spanS,
        latency_ms: { p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat) },
        all_delivered_after_ms: allDeliveredAt === null ? null : allDeliveredAt - firstEnqueue,
        cpu_s: cpu,
        relay_cpu_us_per_sms: (cpu.relay * 1e6) / residents.size,
        // share of one core the relay used over that time: far below 100 %
        // means the relay was not what limited the rate
        relay_busy_pct: (100 * cpu.relay) / cpuWallS,
        load_avg: loadAvg,
        sms_per_100ms: perSlot,
        relay_sends_started_per_100ms: slots(sendStarts),
        last_send_started_ms: sendStarts.length ? Math.max(...sendStarts) - firstEnqueue : null,
    };
}

// --- main --------------------------------------------------------------------

async function main() {
    if (!existsSync(RELAY) || !existsSync(CTL)) throw new Error(`${RELAY} / ${CTL} not built`);
    mkdirSync(OUT, { recursive: true });
    const t0 = Date.now();
    const redis = await startRedis();
    await ctl(redis, ['user', 'add', '--login', 'bench-politie', '--role', 'police'], `pw-${randomBytes(8).toString('hex')}\n`);
    const token = (await ctl(redis, ['token', '--login', 'bench-politie'])).trim().split('\n').pop().trim();
    const workers = Math.max(1, os.cpus().length);
    const residents = await addResidents(redis, N, workers);
    const setupS = (Date.now() - t0) / 1000;
    console.error(`sms bench: ${N} residents in ${setupS.toFixed(1)} s`);
    const results = [];
    const notes = [];

    // Kannel + fakesmsc.
    const missing = kannelMissing();
    if (missing) {
        notes.push(`Kannel path skipped: ${missing} not found (apt-get install kannel kannel-extras).`);
    } else {
        const port = await freePort();
        const webhookToken = `kt_${randomBytes(12).toString('hex')}`;
        const password = randomBytes(8).toString('hex');
        const kannel = await startKannel({ relayUrl: `http://127.0.0.1:${port}`, webhookToken, password });
        const relay = await startRelay(redis, port, [
            'adapter kannel',
            `kannel.sendsms-url ${kannel.sendsmsUrl}`,
            `kannel.password-file ${secretFile('kannel.pw', password)}`,
            `kannel.webhook-token-file ${secretFile('kannel.token', webhookToken)}`,
            'kannel.from 3197010000001',
            `kannel.public-url http://127.0.0.1:${port}`,
            `kannel.rate ${ADAPTER_RATE}`,
            `kannel.burst ${ADAPTER_RATE}`,
            `kannel.max-in-flight ${ADAPTER_IN_FLIGHT}`,
        ]);
        try {
            const r = await measure({
                name: 'kannel', redis, relay, token, residents, received: () => kannel.arrivals, summaryKey: 'kannel:delivered',
                procs: [['relay', relay.proc], ['redis', redis.proc], ['bearerbox', kannel.procs.bearerbox],
                    ['smsbox', kannel.procs.smsbox], ['fakesmsc', kannel.procs.fakesmsc]],
            });
            results.push(r);
            console.error(`sms bench: kannel ${JSON.stringify(r)}`);
        } finally {
            await stop(relay.proc);
            await kannel.stop();
        }
    }

    // The Twilio simulator, in this process: only the relay and Redis are
    // measured, so this is the relay's own cost per SMS.
    {
        const sim = await startTwilioSim({ statusDelayMs: 5 });
        const port = await freePort();
        const relay = await startRelay(redis, port, [
            'adapter twilio',
            `twilio.api-url ${sim.url}`,
            `twilio.account-sid ${sim.accountSid}`,
            `twilio.auth-token-file ${secretFile('twilio.token', sim.authToken)}`,
            'twilio.from +3197010000001',
            `twilio.public-url http://127.0.0.1:${port}`,
            `twilio.rate ${ADAPTER_RATE}`,
            `twilio.burst ${ADAPTER_RATE}`,
            `twilio.max-in-flight ${ADAPTER_IN_FLIGHT}`,
        ]);
        // The simulator's accepted messages are the far side's record.
        const received = () => sim.messages.map((m) => ({ at: m.at, to: m.to, text: m.body }));
        try {
            const r = await measure({
                name: 'twilio-sim', redis, relay, token, residents, received, summaryKey: 'twilio:delivered',
                procs: [['relay', relay.proc], ['redis', redis.proc]],
            });
            results.push(r);
            console.error(`sms bench: twilio-sim ${JSON.stringify(r)}`);
        } finally {
            await stop(relay.proc);
            await sim.close();
        }
    }
    await stop(redis.proc);
    redis.conn.close();
    writeReport(results, notes, setupS, workers);
}

function writeReport(results, notes, setupS, workers) {
    const f0 = (v) => (Number.isFinite(v) ? `${Math.round(v)}` : 'n/a');
    const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
    const ms = (v) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'n/a');
    const lines = [
        '## SMS throughput',
        '',
        `One police appeal to ${N} SMS residents of one buurt${QUICK ? ' (quick)' : ''}, through the relay's outbox`
        + ` (adapter rate ${ADAPTER_RATE}/s, burst ${ADAPTER_RATE}, max-in-flight ${ADAPTER_IN_FLIGHT}; relay log-level info).`
        + ' SMS/s = residents / (first enqueue → last SMS at the phone: fakesmsc\'s output, or the simulator accepting it).'
        + ' Relay CPU from /proc/PID/stat between the post and the last "delivered", so it includes the post, the enqueue,'
        + ' the sends and two delivery webhooks per SMS (Kannel DLR 8 and 1; Twilio "sent" and "delivered").',
        '',
        '| path | SMS | delivered / dup / lost | SMS/s | first enqueue → last SMS | enqueue → phone p50 / p99 / max | all delivered after | relay CPU (busy) | relay CPU per SMS | other CPU |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ];
    for (const r of results) {
        const other = Object.entries(r.cpu_s).filter(([k]) => k !== 'relay').map(([k, v]) => `${k} ${f2(v)} s`).join(', ');
        lines.push(`| ${r.path === 'kannel' ? 'Kannel + fakesmsc' : 'Twilio simulator (in the bench process)'}`
            + ` | ${r.sms} | ${r.delivered} / ${r.duplicated} / ${r.lost}${r.complete ? '' : ' (incomplete)'}`
            + ` | ${f0(r.sms_per_s)} | ${ms(r.first_enqueue_to_last_sms_ms)}`
            + ` | ${ms(r.latency_ms.p50)} / ${ms(r.latency_ms.p99)} / ${ms(r.latency_ms.max)}`
            + ` | ${ms(r.all_delivered_after_ms)} | ${f2(r.cpu_s.relay)} s (${f0(r.relay_busy_pct)} %)`
            + ` | ${f0(r.relay_cpu_us_per_sms)} µs | ${other} |`);
    }
    lines.push('');
    lines.push('"busy" is the relay\'s CPU time over the wall time from the post to the last "delivered", as a share of'
        + ' one core: well under 100 % means something else set the pace. On the simulator path that is the simulator'
        + ' itself (one node thread answering every send and making two signed callbacks per SMS), so read that row for'
        + ' the relay\'s own CPU per SMS, and the Kannel row for end-to-end SMS/s.');
    lines.push('');
    lines.push(`Setup (not measured): ${N} accounts with a phone in ${setupS.toFixed(1)} s (one \`buurtctl user add\`, copies`
        + ' of it given their phones by `buurtctl user set --phone`). Enqueueing all of them took'
        + ` ${results.map((r) => `${ms(r.enqueue_span_ms)} (${r.path})`).join(', ')}, starting`
        + ` ${results.map((r) => `${ms(r.post_to_first_enqueue_ms)}`).join(' / ')} after the post was sent.`
        + ' CPU times are in ticks of 10 ms: small values are coarse. Load average (1/5/15 min) when each run started:'
        + ` ${results.map((r) => `${r.load_avg} (${r.path})`).join(', ')}; on a busy machine the wall-clock figures`
        + ' (SMS/s, latency) drop while the CPU per SMS stays comparable.');
    for (const n of notes) lines.push('', n);
    writeFileSync(path.join(OUT, 'sms.md'), `${lines.join('\n')}\n`);
    writeFileSync(path.join(OUT, 'sms.json'), `${JSON.stringify({
        params: {
            n: N, quick: QUICK, adapter_rate: ADAPTER_RATE, adapter_max_in_flight: ADAPTER_IN_FLIGHT, setup_s: setupS,
        },
        results,
        notes,
    }, null, 2)}\n`);
}

try {
    await main();
    process.exit(0);
} catch (e) {
    console.error(`sms bench: ${e.stack || e.message}`);
    process.exit(1);
}
