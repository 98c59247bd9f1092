// suite.mjs - the benchmark suite of issue #10: buurtrelay next to the
// systems a municipality would pick instead, same machine, same run, one
// load generator (tests/bench/loadgen, C, one clock) for all of them.
//
//   node tests/bench/suite.mjs --out DIR --relay BIN --ctl BIN --loadgen BIN
//        [--quick] [--systems relay,wsjson,sio,mqtt0,mqtt1] [--scenarios s1,s2,s3]
//
// Systems (each freshly started per scenario, its own Redis):
//   relay   two buurtrelay nodes (Release) on one Redis
//   wsjson  two `ws` + Redis pub/sub relays written the obvious way
//           (tests/bench/peers/ws_ioredis.mjs), our frames
//   sio     two Socket.IO 4 + @socket.io/redis-adapter nodes
//           (tests/bench/sio_server.mjs)
//   mqtt0 / mqtt1   Debian's Mosquitto, MQTT 3.1.1 over TCP, QoS 0 / QoS 1
// Scenarios (see docs/benchmarks.md):
//   s1  fan-out at a fixed load (900 buurten x 10 + 1 x 1,000 subscribers,
//       500 + 2 posts/s), then x1.5 per step until p99 > 100 ms, any
//       loss / duplicate / reordering, or the server falls behind
//   s2  connection capacity: 20,000 idle clients over 2,000 buurten; ramp
//       rate, memory per connection, idle CPU, subscribe time, then one
//       alert per buurt ("first message after idle")
//   s3  a bad day at 2,000 deliveries/s: 2 % slow readers, node 2 killed at
//       1/3, a Redis pub/sub blip at 2/3; healthy clients' latency per second
// Pinning (2+ cores): servers on CPU 0; Redis and the generator on CPU 1.
// Writes DIR/suite.md (markdown section), DIR/suite.json, DIR/*.dat and
// PNG plots (gnuplot). Progress lines go to stderr. Every process it starts
// is stopped on exit.

import { spawn, execFile, execFileSync } from 'node:child_process';
import {
    mkdtempSync, writeFileSync, readFileSync, readdirSync, existsSync, rmSync, mkdirSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

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
const LOADGEN = path.resolve(opt('--loadgen', path.join(SRC, 'build-bench', 'bench', 'loadgen')));
const SYSTEMS = opt('--systems', 'relay,wsjson,sio,mqtt0,mqtt1').split(',');
const SCENARIOS = opt('--scenarios', 's1,s2,s3').split(',');
const CORES = os.cpus().length;
const PIN = CORES >= 2 && !args.includes('--no-pin');
const SERVER_CPU = '0';
const CLIENT_CPU = '1';

// Scenario parameters. Quick: the same shapes, smaller and shorter, so the
// whole scripts/bench --quick stays under three minutes.
const P = QUICK ? {
    s1: { groups: '180x10,1x200', rates: '500,2', step: 2, steps: 5, drain: 1.5 },
    s2: { groups: '400x10', rates: '400', idle: 2, settle: 1, workers: 1 },
    s3: { groups: '180x10,1x200', rates: '100,1', secs: 15, systems: ['relay'] },
} : {
    s1: { groups: '900x10,1x1000', rates: '500,2', step: 15, steps: 10, drain: 3 },
    s2: { groups: '2000x10', rates: '2000', idle: 10, settle: 3, workers: 2 },
    s3: { groups: '900x10,1x1000', rates: '100,1', secs: 45, systems: null },
};

const T0 = Date.now();
const stamp = () => {
    const s = Math.round((Date.now() - T0) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
const say = (msg) => process.stderr.write(`[bench ${stamp()}] ${msg}\n`);

// --- processes -------------------------------------------------------------

const children = new Set();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'buurtrelay-suite-'));

function pinned(cpu, cmd, argv) {
    return PIN ? ['taskset', ['-c', cpu, cmd, ...argv]] : [cmd, argv];
}

function start(name, cpu, cmd, argv, opts = {}) {
    const [c, a] = pinned(cpu, cmd, argv);
    const p = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
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

// A free port below the ephemeral range (32768-60999 here). WHY: a port
// the kernel handed out as free can be taken as the source port of some
// outgoing connection (buurtctl, the generator's 20,000 sockets, other
// tests) before the server binds it.
const usedPorts = new Set();
async function freePort() {
    for (;;) {
        const port = 20000 + Math.floor(Math.random() * 12000);
        if (usedPorts.has(port)) continue;
        const ok = await new Promise((resolve) => {
            const s = net.createServer();
            s.once('error', () => resolve(false));
            s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
        });
        if (ok) {
            usedPorts.add(port);
            return port;
        }
    }
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

const tcpOpen = (port) => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
        s.destroy();
        resolve(true);
    });
    s.once('error', () => resolve(false));
});

function runCmd(cmd, argv, { input, env } = {}) {
    return new Promise((resolve, reject) => {
        const c = execFile(cmd, argv, { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
            if (err) reject(new Error(`${cmd} ${argv.join(' ')}: ${err.message} ${stderr}`));
            else resolve(stdout);
        });
        if (input !== undefined) c.stdin.end(input);
    });
}

// --- systems -----------------------------------------------------------------

async function startRedis() {
    const port = await freePort();
    const p = start('redis-server', CLIENT_CPU, 'redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--protected-mode', 'no', '--daemonize', 'no', '--maxclients', '10000',
    ]);
    await waitFor(() => tcpOpen(port), 5000, 'redis-server', p);
    return { port, proc: p, url: `redis://127.0.0.1:${port}` };
}

const blip = (redis) => `redis-cli -p ${redis.port} client kill type pubsub >/dev/null 2>&1`;

// The shipped config with the benchmark's limits (said in the report):
// buurt codes without area data (BU00000001..), per-user post and frame
// rates at their maximum, no per-IP connection cap.
const RELAY_OVERRIDES = {
    'areas-file': '', 'postcodes-file': '', 'log-level': 'warn',
    'rate-frames': 100000, 'rate-frames-burst': 100000, 'rate-posts': 10000, 'rate-posts-burst': 100000,
    'max-conns-per-ip': 1000000,
};

// WHY read once at start: the binaries were built from the tree as it was
// then; a config key added to the shipped file during a long run would be
// unknown to them.
const SHIPPED_CONF = readFileSync(path.join(SRC, 'config/buurtrelay.conf'), 'utf8');

function relayConfig(port, redis, name) {
    const over = {
        listen: `127.0.0.1:${port}`, redis: redis.url,
        'token-key-file': path.join(tmp, 'token.key'), 'pii-key-file': path.join(tmp, 'pii.key'),
        'web-root': path.join(SRC, 'relay/web'), ...RELAY_OVERRIDES,
    };
    const lines = [];
    const seen = new Set();
    for (const l of SHIPPED_CONF.split('\n')) {
        const key = l.trim().split(/\s+/)[0];
        if (!l.trim() || l.trim().startsWith('#')) continue;
        if (key in over) {
            if (!seen.has(key)) lines.push(`${key} ${over[key]}`.trimEnd());
            seen.add(key);
        } else lines.push(l);
    }
    for (const [k, v] of Object.entries(over)) if (!seen.has(k)) lines.push(`${k} ${v}`.trimEnd());
    const conf = path.join(tmp, `${name}.conf`);
    writeFileSync(conf, `${lines.join('\n')}\n`);
    return conf;
}

const PUBLISHERS = 4;

const SYS = {
    relay: {
        title: 'buurtrelay (2 nodes, Release)',
        async start() {
            const redis = await startRedis();
            const tokenKey = randomBytes(32).toString('hex');
            const piiKey = randomBytes(32).toString('hex');
            const env = { BUURTRELAY_TOKEN_KEY: tokenKey, BUURTRELAY_PII_KEY: piiKey };
            const ports = [await freePort(), await freePort()];
            const confs = ports.map((p, i) => relayConfig(p, redis, `relay${i}`));
            const ctl = (a, input) => runCmd(CTL, ['--config', confs[0], '--redis', redis.url, ...a], { input, env });
            // One officer per publisher connection: rate-posts is per user
            // and at most 10,000/s.
            const tokens = [];
            for (let i = 0; i < PUBLISHERS; i++) {
                await ctl(['user', 'add', '--login', `bench-politie-${i}`, '--role', 'police'], `pw-${randomBytes(8).toString('hex')}\n`);
                tokens.push((await ctl(['token', '--login', `bench-politie-${i}`])).trim().split('\n').pop().trim());
            }
            const nodes = ports.map((p, i) => start(`buurtrelay${i}`, SERVER_CPU, RELAY, ['--config', confs[i]],
                { cwd: SRC, env: { ...process.env, ...env } }));
            for (let i = 0; i < 2; i++) {
                await waitFor(async () => (await fetch(`http://127.0.0.1:${ports[i]}/readyz`,
                    { signal: AbortSignal.timeout(1000) })).status === 200, 10000, 'buurtrelay', nodes[i]);
            }
            return {
                proto: ['--proto', 'relay', ...tokens.flatMap((t) => ['--token', t])],
                targets: ports, servers: nodes, redis, procs: [...nodes, redis.proc],
                kill: `kill -9 ${nodes[1].pid}`, blip: blip(redis),
            };
        },
    },
    wsjson: {
        title: 'ws + Redis pub/sub by hand (2 Node processes)',
        async start() {
            const redis = await startRedis();
            const ports = [await freePort(), await freePort()];
            const nodes = ports.map((p, i) => start(`ws_ioredis${i}`, SERVER_CPU, process.execPath,
                [path.join(HERE, 'peers', 'ws_ioredis.mjs'), String(p), redis.url], { cwd: path.join(SRC, 'tests') }));
            for (let i = 0; i < 2; i++) await waitFor(() => nodes[i].out.includes('ready'), 10000, 'ws_ioredis', nodes[i]);
            return {
                proto: ['--proto', 'wsjson'], targets: ports, servers: nodes, redis, procs: [...nodes, redis.proc],
                kill: `kill -9 ${nodes[1].pid}`, blip: blip(redis),
            };
        },
    },
    sio: {
        title: 'Socket.IO 4.8 + @socket.io/redis-adapter 8.3 (2 Node processes)',
        async start() {
            const redis = await startRedis();
            const ports = [await freePort(), await freePort()];
            const nodes = ports.map((p, i) => start(`socket.io${i}`, SERVER_CPU, process.execPath,
                [path.join(HERE, 'sio_server.mjs'), String(p), redis.url], { cwd: path.join(SRC, 'tests') }));
            for (let i = 0; i < 2; i++) await waitFor(() => nodes[i].out.includes('ready'), 10000, 'socket.io', nodes[i]);
            return {
                proto: ['--proto', 'sio'], targets: ports, servers: nodes, redis, procs: [...nodes, redis.proc],
                kill: `kill -9 ${nodes[1].pid}`, blip: blip(redis),
            };
        },
    },
};
for (const qos of [0, 1]) {
    SYS[`mqtt${qos}`] = {
        title: `Mosquitto ${mosquittoVersion()} (MQTT 3.1.1/TCP, QoS ${qos}, 1 broker)`,
        async start() {
            const port = await freePort();
            const conf = path.join(tmp, `mosquitto${qos}.conf`);
            writeFileSync(conf, [
                `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false',
                'max_queued_messages 100000', 'max_inflight_messages 1000', 'log_dest stderr', 'log_type error',
                'log_type warning',
            ].join('\n') + '\n');
            const bin = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
            const broker = start('mosquitto', SERVER_CPU, bin, ['-c', conf]);
            await waitFor(() => tcpOpen(port), 5000, 'mosquitto', broker);
            return {
                proto: ['--proto', 'mqtt', '--qos', String(qos)], targets: [port], servers: [broker], redis: null,
                procs: [broker], kill: null, blip: null,
            };
        },
    };
}

function mosquittoVersion() {
    try {
        execFileSync('/usr/sbin/mosquitto', ['-h'], { stdio: 'pipe' });
    } catch (e) {
        const m = /mosquitto version (\S+)/.exec(`${e.stdout}${e.stderr}`);
        if (m) return m[1];
    }
    return '2';
}

// --- running the generator ------------------------------------------------------

function countFds(pid) {
    try {
        return readdirSync(`/proc/${pid}/fd`).length;
    } catch {
        return 0;
    }
}

function rssKiB(pid) {
    try {
        const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m ? Number(m[1]) : 0;
    } catch {
        return 0;
    }
}

// Runs loadgen (pinned to the client CPU) and resolves its JSON. sampleMem:
// every 250 ms records [open fds of the servers, their RSS] for the
// memory-vs-connections plot.
async function loadgen(label, sys, extra, { sampleMem = false } = {}) {
    const json = path.join(OUT, `lg-${label}.json`);
    rmSync(json, { force: true });
    const argv = [
        ...sys.proto, '--label', label, '--json', json, '--publishers', String(PUBLISHERS),
        ...sys.targets.flatMap((p) => ['--target', `127.0.0.1:${p}`]),
        ...sys.servers.flatMap((p) => ['--server-pid', String(p.pid)]),
        ...(sys.redis ? ['--redis-pid', String(sys.redis.proc.pid)] : []),
        ...extra,
    ];
    const samples = [];
    const sample = () => {
        let fds = 0;
        let rss = 0;
        for (const s of sys.servers) {
            fds += countFds(s.pid);
            rss += rssKiB(s.pid);
        }
        samples.push([fds, rss]);
    };
    if (sampleMem) sample(); // the baseline, before any client connects
    const p = start(`loadgen ${label}`, CLIENT_CPU, LOADGEN, argv);
    let line = '';
    p.stderr.on('data', (d) => {
        line += d.toString();
        let i;
        while ((i = line.indexOf('\n')) >= 0) {
            say(line.slice(0, i).replace(/^loadgen: /, ''));
            line = line.slice(i + 1);
        }
    });
    const timer = sampleMem ? setInterval(sample, 250) : null;
    const code = await new Promise((r) => p.once('exit', (c, sig) => r(c ?? sig)));
    if (timer) clearInterval(timer);
    if (code !== 0 || !existsSync(json)) throw new Error(`loadgen ${label} exited ${code}: ${p.out.slice(-2000)}`);
    const r = JSON.parse(readFileSync(json, 'utf8'));
    r.memSamples = samples;
    return r;
}

async function withSystem(name, fn) {
    const sys = await SYS[name].start();
    try {
        return await fn(sys);
    } finally {
        for (const p of sys.procs) await stop(p);
    }
}

// --- scenarios -------------------------------------------------------------------

async function s1(name) {
    const c = P.s1;
    return withSystem(name, (sys) => loadgen(`s1-${name}`, sys, [
        '--groups', c.groups, '--rates', c.rates, '--step-secs', String(c.step), '--max-steps', String(c.steps),
        '--factor', '1.5', '--p99-limit-ms', '100', '--drain-secs', String(c.drain), '--settle-secs', '1',
        '--concurrency', '256', '--connect-timeout', '120',
    ]));
}

async function s2(name) {
    const c = P.s2;
    return withSystem(name, (sys) => loadgen(`s2-${name}`, sys, [
        '--groups', c.groups, '--rates', c.rates, '--step-secs', '1', '--max-steps', '1', '--p99-limit-ms', '1e9',
        '--idle-secs', String(c.idle), '--settle-secs', String(c.settle), '--workers', String(c.workers),
        '--concurrency', '512', '--drain-secs', '5', '--connect-timeout', '120',
    ], { sampleMem: true }));
}

async function s3(name) {
    const c = P.s3;
    return withSystem(name, (sys) => {
        const events = [];
        if (sys.kill) events.push('--at', `${Math.round(c.secs / 3)}:${sys.kill}`);
        if (sys.blip) events.push('--at', `${Math.round((2 * c.secs) / 3)}:${sys.blip}`);
        return loadgen(`s3-${name}`, sys, [
            '--groups', c.groups, '--rates', c.rates, '--step-secs', String(c.secs), '--max-steps', '1',
            '--p99-limit-ms', '1e9', '--drain-secs', QUICK ? '4' : '8', '--settle-secs', '1', '--slow-frac', '0.02',
            '--reconnect', '--concurrency', '256', '--connect-timeout', '120', ...events,
        ]);
    });
}

// --- report -------------------------------------------------------------------------

const ms = (v) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)) : '-');
const int = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');

// The last step that passed (no verdict), or null.
function knee(r) {
    const ok = r.steps.filter((s) => !s.verdict);
    return ok.length ? ok[ok.length - 1] : null;
}
const perCore = (s) => (s && s.server_cpu > 0 ? s.deliveries_s / (s.server_cpu / 100) : NaN);

function s1Section(res) {
    const L = [];
    const c = P.s1;
    L.push('## S1: fan-out at a fixed load, then ×1.5 per step', '');
    L.push(`Subscribers: groups ${c.groups} (channels × subscribers each); posts/s per group ${c.rates} at step 0,`
        + ` ×1.5 per step, ${c.step} s per step (then a drain of up to ${c.drain} s),`
        + ' until p99 > 100 ms, any loss / duplicate / reordering, a refused post, or the server acked under 97 % of the'
        + ' offered posts. Server CPU is all server processes (both nodes) in % of one core; deliveries/s per core ='
        + ' delivered/s ÷ server CPU. "gen" marks steps where the generator used ≥ 90 % of its core (its limit, not the'
        + ' server\'s).', '');
    L.push('| system | step 0 p50 / p90 / p99 / p99.9 / max (ms) | step 0 lost / dup / reord | step 0 server CPU | highest passing step: delivered/s, p99, server CPU, deliveries/s per core | stopped at | why |');
    L.push('|---|---|---|---|---|---|---|');
    for (const [name, r] of res) {
        if (r.error) {
            L.push(`| ${SYS[name].title} | failed: ${r.error} | | | | | |`);
            continue;
        }
        const s0 = r.steps[0];
        const k = knee(r);
        const last = r.steps[r.steps.length - 1];
        const lat = s0 ? s0.latency : {};
        L.push(`| ${SYS[name].title} | ${s0 ? `${ms(lat.p50)} / ${ms(lat.p90)} / ${ms(lat.p99)} / ${ms(lat.p999)} / ${ms(lat.max)}` : '-'}`
            + ` | ${s0 ? `${s0.lost} / ${s0.dups} / ${s0.reordered}` : '-'} | ${s0 ? `${Math.round(s0.server_cpu)} %` : '-'}`
            + ` | ${k ? `${int(k.deliveries_s)}/s, ${ms(k.latency.p99)} ms, ${Math.round(k.server_cpu)} %, **${int(perCore(k))}**${k.gen_bound ? ' (gen)' : ''}` : 'none'}`
            + ` | ${last ? `step ${last.step} (${int(last.offered_deliveries_s)}/s offered)` : '-'}`
            + ` | ${last?.verdict ? `${last.verdict}${last.gen_bound ? '; generator at its limit' : ''}` : 'step limit reached'} |`);
    }
    L.push('', '<details><summary>every step</summary>', '');
    L.push('| system | step | offered deliveries/s | posts acked/posted | delivered/expected | lost | dup | reord | p50 | p99 | p99.9 | max | post→ack p99 | server CPU | Redis CPU | gen CPU | verdict |');
    L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const [name, r] of res) {
        for (const s of r.steps || []) {
            L.push(`| ${name} | ${s.step} | ${int(s.offered_deliveries_s)} | ${s.acked}/${s.posted} | ${s.delivered}/${s.expected}`
                + ` | ${s.lost} | ${s.dups} | ${s.reordered} | ${ms(s.latency.p50)} | ${ms(s.latency.p99)} | ${ms(s.latency.p999)}`
                + ` | ${ms(s.latency.max)} | ${ms(s.ack.p99)} | ${Math.round(s.server_cpu)} % | ${Math.round(s.redis_cpu)} %`
                + ` | ${Math.round(s.gen_cpu)} %${s.gen_bound ? ' (limit)' : ''} | ${s.verdict || 'ok'} |`);
        }
    }
    L.push('', '</details>', '', '![S1 latency vs load](s1_latency.png)', '');
    return L;
}

function s2Section(res) {
    const L = [];
    L.push('## S2: connection capacity and memory', '');
    L.push(`Idle subscribers: ${P.s2.groups} (channels × subscribers), connected as fast as the server accepts`
        + ' (512 handshakes in flight per generator worker, 4 loopback source addresses), then'
        + ` ${P.s2.settle} s settle and ${P.s2.idle} s idle; memory = server RSS after − before ÷ connections (all`
        + ' server processes; the kernel\'s socket memory is the Slab delta, both ends of every loopback connection).'
        + ' Subscribe = subscribe sent → confirmed (subscribed / SUBACK / join ack). Then one alert per buurt in 1 s:'
        + ' its latency is "first message after idle".', '');
    L.push('| system | connected (retries) | ramp | handshakes/s | handshake p99 | subscribe p50 / p99 | server RSS before → after | **per connection** | kernel Slab per connection | idle CPU | first message p50 / p99 / max | lost |');
    L.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const [name, r] of res) {
        if (r.error) {
            L.push(`| ${SYS[name].title} | failed: ${r.error} | | | | | | | | | | |`);
            continue;
        }
        const c = r.connect;
        const per = c.ready ? ((c.rss_after_kib - c.rss_before_kib) * 1024) / c.ready : NaN;
        const slab = c.ready ? ((c.slab_after_kib - c.slab_before_kib) * 1024) / c.ready : NaN;
        const s = r.steps[0];
        L.push(`| ${SYS[name].title} | ${c.ready}/${r.subscribers} (${c.retries ?? 0}${c.failed ? `; ${c.failed} never got in: ${r.first_error}` : ''}) | ${c.ramp_s.toFixed(2)} s | ${int(c.per_s)} | ${ms(c.handshake.p99)} ms`
            + ` | ${ms(c.subscribe.p50)} / ${ms(c.subscribe.p99)} ms | ${int(c.rss_before_kib / 1024)} → ${int(c.rss_after_kib / 1024)} MiB`
            + ` | **${(per / 1024).toFixed(2)} KiB** | ${(slab / 1024).toFixed(2)} KiB | ${c.idle_cpu.toFixed(1)} %`
            + ` | ${s ? `${ms(s.latency.p50)} / ${ms(s.latency.p99)} / ${ms(s.latency.max)} ms` : '-'} | ${s ? s.lost : '-'} |`);
    }
    L.push('', '![S2 memory vs connections](s2_memory.png)', '');
    return L;
}

function s3Section(res) {
    const L = [];
    const c = P.s3;
    L.push('## S3: a bad day', '');
    L.push(`Groups ${c.groups}, posts/s ${c.rates} for ${c.secs} s. 2 % of the subscribers are slow (4 KiB receive buffer,`
        + ` never read after subscribing). At ${Math.round(c.secs / 3)} s node 2 is killed (kill -9); its clients reconnect to node 1`
        + ` after 100–600 ms (relay: subscribe with since {epoch, seq}); at ${Math.round((2 * c.secs) / 3)} s Redis drops every`
        + ' pub/sub connection (CLIENT KILL TYPE pubsub). Healthy = never disconnected, not slow. Relay clients'
        + ' resubscribe with since on a seq gap, as relay/PROTOCOL.md asks. Mosquitto is one broker: no node to kill, no Redis.', '');
    L.push('| system | healthy clients | healthy p50 / p99 / max | healthy lost / dup / reord | worst 1-s p99 | dropped clients | reconnect p50 / p99 | dropped: lost / dup | recovered true / false | seq gaps resubscribed |');
    L.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const [name, r] of res) {
        if (r.error) {
            L.push(`| ${SYS[name].title} | failed: ${r.error} | | | | | | | | |`);
            continue;
        }
        const h = r.classes.healthy;
        const d = r.classes.dropped;
        const hl = r.healthy_latency;
        const worst = r.timeline.reduce((m, t) => Math.max(m, t.p99), 0);
        L.push(`| ${SYS[name].title} | ${h.subs} (+${r.classes.slow.subs} slow) | ${ms(hl.p50)} / ${ms(hl.p99)} / ${ms(hl.max)} ms`
            + ` | ${h.lost} / ${h.dups} / ${h.reordered} of ${int(h.expected)} | ${ms(worst)} ms | ${d.subs}`
            + ` | ${r.reconnect_time.n ? `${ms(r.reconnect_time.p50)} / ${ms(r.reconnect_time.p99)} ms` : '-'}`
            + ` | ${d.lost} / ${d.dups} of ${int(d.expected)} | ${r.recovered_true} / ${r.recovered_false} | ${r.gaps} |`);
    }
    L.push('', 'Slow clients read nothing, so they have no latency; "dropped: lost" counts what reconnected clients never'
        + ' got, after any replay.', '', '![S3 healthy p99 per second](s3_timeline.png)', '');
    return L;
}

function plots(results) {
    const colors = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e'];
    const files = [];
    const gp = [];
    const names = Object.keys(SYS);
    const has = (sc, n) => results[sc]?.has(n) && !results[sc].get(n).error;
    if (results.s1) {
        const lines = [];
        names.forEach((n, i) => {
            if (!has('s1', n)) return;
            const f = path.join(OUT, `s1_${n}.dat`);
            writeFileSync(f, results.s1.get(n).steps.map((s) => `${s.offered_deliveries_s} ${s.latency.p50} ${s.latency.p99} ${s.latency.p999}`).join('\n') + '\n');
            files.push(f);
            lines.push(`'${f}' u 1:3 w lp lw 2 pt 7 lc rgb '${colors[i]}' t '${n} p99'`,
                `'${f}' u 1:2 w lp lw 1 dt 2 pt 6 lc rgb '${colors[i]}' t '${n} p50'`);
        });
        if (lines.length) {
            gp.push(`set output '${path.join(OUT, 's1_latency.png')}'`,
                "set title 'S1: latency vs offered load (solid p99, dashed p50)'",
                "set xlabel 'offered deliveries/s'", "set ylabel 'ms'", 'set logscale xy', 'set key outside right',
                'set grid', 'set arrow 1 from graph 0, first 100 to graph 1, first 100 nohead dt 3 lc rgb "red"',
                `plot ${lines.join(', ')}`, 'unset arrow 1', 'unset logscale');
        }
    }
    if (results.s2) {
        const lines = [];
        names.forEach((n, i) => {
            if (!has('s2', n)) return;
            let smp = results.s2.get(n).memSamples || [];
            if (!smp.length) return;
            // up to the most connections: the tail is the generator leaving
            const top = smp.reduce((m, x, j) => (x[0] > smp[m][0] ? j : m), 0);
            smp = smp.slice(0, top + 1);
            const base = smp[0];
            const f = path.join(OUT, `s2_${n}.dat`);
            writeFileSync(f, smp.map(([fd, rss]) => `${Math.max(0, fd - base[0])} ${(rss / 1024).toFixed(2)}`).join('\n') + '\n');
            files.push(f);
            lines.push(`'${f}' u 1:2 w l lw 2 lc rgb '${colors[i]}' t '${n}'`);
        });
        if (lines.length) {
            gp.push(`set output '${path.join(OUT, 's2_memory.png')}'`,
                "set title 'S2: server memory vs open connections (RSS of all server processes)'",
                "set xlabel 'connections (open fds above the start)'", "set ylabel 'RSS MiB'", 'set key outside right',
                'set grid', `plot ${lines.join(', ')}`);
        }
    }
    if (results.s3) {
        const lines = [];
        names.forEach((n, i) => {
            if (!has('s3', n)) return;
            const f = path.join(OUT, `s3_${n}.dat`);
            writeFileSync(f, results.s3.get(n).timeline.map((t) => `${t.t} ${t.p99} ${t.p50}`).join('\n') + '\n');
            files.push(f);
            lines.push(`'${f}' u 1:2 w lp lw 2 pt 7 ps 0.6 lc rgb '${colors[i]}' t '${n} p99'`);
        });
        if (lines.length) {
            const k = Math.round(P.s3.secs / 3);
            gp.push(`set output '${path.join(OUT, 's3_timeline.png')}'`,
                "set title 'S3: healthy clients, p99 per second (node 2 killed, then Redis pub/sub blip)'",
                "set xlabel 'seconds into the run'", "set ylabel 'p99 ms'", 'set logscale y', 'set key outside right', 'set grid',
                `set arrow 2 from ${k}, graph 0 to ${k}, graph 1 nohead dt 2 lc rgb 'black'`,
                `set arrow 3 from ${2 * k}, graph 0 to ${2 * k}, graph 1 nohead dt 2 lc rgb 'gray'`,
                `plot ${lines.join(', ')}`);
        }
    }
    if (!gp.length) return 'no data to plot';
    const script = ["set terminal pngcairo size 1000,560 font 'DejaVu Sans,10'", ...gp].join('\n') + '\n';
    writeFileSync(path.join(OUT, 'plots.gp'), script);
    try {
        execFileSync('gnuplot', [path.join(OUT, 'plots.gp')], { stdio: 'pipe' });
        return null;
    } catch (e) {
        return `gnuplot failed (${String(e.stderr || e.message).split('\n')[0]}): plots.gp and the .dat files are in ${OUT}`;
    }
}

// The issue's targets, each proven or disproven by a figure above.
function targets(results) {
    const L = ['## Targets (2-core machine)', '', '| target | figure | met? |', '|---|---|---|'];
    const rel = (sc) => results[sc]?.get('relay');
    const row = (t, fig, ok) => L.push(`| ${t} | ${fig} | ${ok === null ? 'not measured' : ok ? 'yes' : '**no**'} |`);
    const r1 = rel('s1');
    if (r1 && !r1.error && r1.steps.length) {
        const passed = r1.steps.filter((s) => s.lost === 0 && s.dups === 0 && s.reordered === 0).length;
        const s0 = r1.steps[0];
        row('zero loss / duplication / reordering', `S1: ${passed} of ${r1.steps.length} steps clean; step 0 ${s0.lost}/${s0.dups}/${s0.reordered}`
            + `${rel('s3') && !rel('s3').error ? `; S3 healthy ${rel('s3').classes.healthy.lost}/${rel('s3').classes.healthy.dups}/${rel('s3').classes.healthy.reordered}, reconnected ${rel('s3').classes.dropped.lost}/${rel('s3').classes.dropped.dups}` : ''}`,
        s0.lost === 0 && s0.dups === 0 && s0.reordered === 0);
        row('p99 ≤ 10 ms at the fixed load', `S1 step 0 p99 ${ms(s0.latency.p99)} ms (${int(s0.offered_deliveries_s)} deliveries/s)`, s0.latency.p99 <= 10);
        const k = knee(r1);
        const best = r1.steps.reduce((m, s) => (s.deliveries_s > (m?.deliveries_s ?? -1) ? s : m), null);
        row('≥ 150,000 deliveries/s on one core at the limit',
            `highest passing step ${k ? `${int(k.deliveries_s)}/s at ${Math.round(k.server_cpu)} % server CPU (${int(perCore(k))}/s per core)` : 'none'};`
            + ` most delivered ${int(best.deliveries_s)}/s${best.gen_bound ? ' (generator-bound)' : ''}`,
            k ? perCore(k) >= 150000 : false);
    } else row('S1 figures', 'S1 did not run for the relay', null);
    const r2 = rel('s2');
    if (r2 && !r2.error) {
        const c = r2.connect;
        const per = ((c.rss_after_kib - c.rss_before_kib) * 1024) / Math.max(1, c.ready);
        row('≤ 6 KiB relay memory per idle connection', `S2: ${(per / 1024).toFixed(2)} KiB over ${c.ready} connections (RSS of both nodes)`, per <= 6144);
    } else row('≤ 6 KiB per idle connection', 'S2 did not run for the relay', null);
    if (r1 && !r1.error && r1.steps.length) {
        const peers = [...results.s1].filter(([n, r]) => n !== 'relay' && !r.error && r.steps.length);
        const worse = peers.filter(([, r]) => r.steps[0].latency.p99 <= r1.steps[0].latency.p99).map(([n]) => n);
        row('ahead of every peer on latency at equal load', `S1 step 0 p99: ${[...results.s1].filter(([, r]) => !r.error && r.steps.length).map(([n, r]) => `${n} ${ms(r.steps[0].latency.p99)}`).join(', ')} ms`
            + (worse.length ? `; at or below the relay: ${worse.join(', ')}` : ''), peers.length ? !worse.length : null);
        const pc = (r) => perCore(knee(r));
        const rp = pc(r1);
        const ahead = peers.filter(([, r]) => !Number.isFinite(rp) || pc(r) >= rp).map(([n]) => n);
        row('ahead of every peer on deliveries/s per core', `at each system's highest passing step: ${[...results.s1].filter(([, r]) => !r.error && r.steps.length).map(([n, r]) => `${n} ${int(pc(r))}`).join(', ')}`
            + (ahead.length ? `; at or above the relay: ${ahead.join(', ')}` : '')
            + (Number.isFinite(rp) ? '' : ' (the relay passed no step)'), peers.length ? Number.isFinite(rp) && !ahead.length : null);
    }
    L.push('');
    return L;
}

async function main() {
    mkdirSync(OUT, { recursive: true });
    for (const b of [RELAY, CTL, LOADGEN]) if (!existsSync(b)) throw new Error(`${b} missing`);
    const results = {};
    const plan = [];
    for (const sc of SCENARIOS) {
        for (const n of SYSTEMS) {
            if (!SYS[n]) throw new Error(`unknown system ${n}`);
            if (sc === 's3' && P.s3.systems && !P.s3.systems.includes(n)) continue;
            plan.push([sc, n]);
        }
    }
    const fns = { s1, s2, s3 };
    let i = 0;
    for (const [sc, n] of plan) {
        i++;
        say(`(${i}/${plan.length}) ${sc.toUpperCase()} ${SYS[n].title}`);
        results[sc] ??= new Map();
        try {
            results[sc].set(n, await fns[sc](n));
        } catch (e) {
            say(`${sc} ${n} failed: ${String(e.message).split('\n').slice(0, 8).join(' | ')}`);
            results[sc].set(n, { error: String(e.message).split('\n')[0].slice(0, 200), steps: [] });
        }
        for (const p of [...children]) await stop(p);
    }
    const L = [];
    L.push(`Load generator: tests/bench/loadgen (C, epoll, one process per ≤ 20,000 sockets, pinned to CPU ${CLIENT_CPU}`
        + ` with Redis); servers pinned to CPU ${SERVER_CPU}${PIN ? '' : ' — NOT this run (--no-pin, or fewer than 2 cores): the kernel placed every process'}. Latency = receive`
        + ' time − send time stamped in the payload (CLOCK_MONOTONIC, one host), log-linear histogram (< 0.8 % error).'
        + ' Loss, duplicates and reordering are exact: every payload carries (channel, seq) and every subscriber keeps a'
        + ' bitmap. Every system runs freshly started, alone, on loopback, no TLS, no compression. Relay config: the'
        + ' shipped config/buurtrelay.conf with ' + Object.entries(RELAY_OVERRIDES).map(([k, v]) => `${k} ${v === '' ? '(empty)' : v}`).join(', ')
        + `. Publishers: ${PUBLISHERS} connections (relay: one officer token each).`, '');
    L.push(...targets(results));
    if (results.s1) L.push(...s1Section(results.s1));
    if (results.s2) L.push(...s2Section(results.s2));
    if (results.s3) L.push(...s3Section(results.s3));
    L.push('### What differs between the systems', '',
        'Only buurtrelay authenticates the publisher, checks each alert (description check, CAP fields), stores a case'
        + ' and every message in a per-buurt Redis stream (replayable after a reconnect with seq/epoch), and acks after'
        + ' Redis has it; its posts are therefore much heavier than a PUBLISH. The hand-written ws relay and Socket.IO'
        + ' forward a PUBLISH and keep nothing; Mosquitto QoS 0 keeps nothing, QoS 1 acks the publisher and'
        + ' re-sends unacked messages to a connected subscriber but forgets a disconnected clean session. Mosquitto runs'
        + ' one broker over plain MQTT/TCP (Debian builds it without websockets); the others run two nodes over'
        + ' WebSocket. The machine\'s hard limit of open files per process applies to every server alike.', '');
    const plotErr = plots(results);
    if (plotErr) L.push(`Plots: ${plotErr}`, '');
    writeFileSync(path.join(OUT, 'suite.md'), `${L.join('\n')}\n`);
    const plain = {};
    for (const [sc, m] of Object.entries(results)) {
        plain[sc] = Object.fromEntries([...m].map(([n, r]) => [n, { ...r, memSamples: undefined }]));
    }
    writeFileSync(path.join(OUT, 'suite.json'), `${JSON.stringify({ quick: QUICK, params: P, results: plain }, null, 1)}\n`);
}

try {
    await main();
    process.exit(0);
} catch (e) {
    say(`suite: ${e.stack || e.message}`);
    process.exit(1);
}
