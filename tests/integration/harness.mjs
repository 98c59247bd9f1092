// harness.mjs - helpers for the integration tests: a real redis-server, real
// buurtrelay processes, buurtctl, and WebSocket clients speaking the
// buurtrelay.v1 wire contract (/work/shared/docs/protocol.md).
//
// Environment (set by CTest; defaults make `node --test FILE` work by hand):
//   BUURTRELAY_SRC    repository root      (default: two folders up from here)
//   BUURTRELAY_BUILD  build tree with buurtrelay and buurtctl (default SRC/build)
//   REDIS_SERVER      redis-server binary  (default: redis-server on PATH)
//
// Every child process is tracked and stopped by a root-level after() hook,
// also when a test fails; a last-resort 'exit' handler SIGKILLs stragglers.
// Use `test` from this module (a wrapper of node:test's) so that a failing
// test prints the logs of every relay and redis it started.

import { spawn, execFile } from 'node:child_process';
import { randomBytes, createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test as nodeTest } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const SRC = path.resolve(process.env.BUURTRELAY_SRC || path.join(HERE, '..', '..'));
export const BUILD = path.resolve(process.env.BUURTRELAY_BUILD || path.join(SRC, 'build'));
export const REDIS_SERVER = process.env.REDIS_SERVER || 'redis-server';
export const RELAY_BIN = path.join(BUILD, 'buurtrelay');
export const CTL_BIN = path.join(BUILD, 'buurtctl');
export const REPO_CONFIG = path.join(SRC, 'config', 'buurtrelay.conf');
export const SUBPROTOCOL = 'buurtrelay.v1';

// One pair of secrets per test file (each file runs in its own process).
export const TOKEN_KEY = randomBytes(32).toString('hex');
export const PII_KEY = randomBytes(32).toString('hex');

export function childEnv(extra = {}) {
    return {
        ...process.env,
        BUURTRELAY_TOKEN_KEY: TOKEN_KEY,
        BUURTRELAY_PII_KEY: PII_KEY,
        ...extra,
    };
}

// --- process bookkeeping ---------------------------------------------------

const live = new Set();      // child processes still running
const logSources = [];       // {name, logs()} of everything started
const tempDirs = [];

function track(proc) {
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    return proc;
}

export function tempDir(prefix = 'buurtrelay-it-') {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    tempDirs.push(dir);
    return dir;
}

function waitExit(proc, timeoutMs) {
    if (proc.exitCode !== null || proc.signalCode !== null)
        return Promise.resolve(true);
    return new Promise((resolve) => {
        const timer = setTimeout(() => {
            proc.off('exit', onExit);
            resolve(false);
        }, timeoutMs);
        const onExit = () => {
            clearTimeout(timer);
            resolve(true);
        };
        proc.once('exit', onExit);
    });
}

// SIGTERM (or 'signal'), wait up to timeoutMs, then SIGKILL. Resolves to the
// exit code, or the signal name when the process died of a signal.
async function stopProcess(proc, signal = 'SIGTERM', timeoutMs = 10000) {
    if (proc.exitCode === null && proc.signalCode === null) {
        try {
            proc.kill(signal);
        } catch {
            /* already gone */
        }
        if (!(await waitExit(proc, timeoutMs))) {
            try {
                proc.kill('SIGKILL');
            } catch {
                /* gone */
            }
            await waitExit(proc, 5000);
        }
    }
    return proc.exitCode !== null ? proc.exitCode : proc.signalCode;
}

export async function stopAll() {
    await Promise.all([...live].map((p) => stopProcess(p, 'SIGTERM', 5000)));
}

after(async () => {
    await stopAll();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function killAllNow() {
    for (const p of live) {
        try {
            p.kill('SIGKILL');
        } catch {
            /* gone */
        }
    }
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
        killAllNow();
        process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
}

export function dumpLogs(out = process.stderr) {
    for (const src of logSources) {
        let text = src.logs();
        const max = src.name.startsWith('redis') ? 3000 : 30000;
        if (text.length > max) text = `…${text.slice(-max)}`;
        out.write(`\n----- ${src.name} -----\n${text || '(no output)'}\n`);
    }
}

// node:test's test() with logs printed when the test fails.
export function test(name, opts, fn) {
    if (typeof opts === 'function') {
        fn = opts;
        opts = {};
    }
    // A hang fails the one test, with the logs, instead of the whole file.
    const limit = opts.timeout ?? 60000;
    if (!fn) return nodeTest(name, opts);
    return nodeTest(name, { ...opts, timeout: limit + 5000 }, async (t) => {
        let timer;
        const hang = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`test did not finish within ${limit} ms`)), limit);
        });
        try {
            return await Promise.race([fn(t), hang]);
        } catch (err) {
            dumpLogs();
            throw err;
        } finally {
            clearTimeout(timer);
        }
    });
}

function captureOutput(proc, limit = 4 * 1024 * 1024) {
    const chunks = [];
    let size = 0;
    const add = (buf) => {
        const s = buf.toString('utf8');
        chunks.push(s);
        size += s.length;
        while (size > limit && chunks.length > 1) size -= chunks.shift().length;
    };
    proc.stdout?.on('data', add);
    proc.stderr?.on('data', add);
    return () => chunks.join('');
}

// --- ports -------------------------------------------------------------------

// A port for a server a test starts later (Redis, a relay, Kannel). Picked
// below the kernel's ephemeral range (32768-60999 here): a port the kernel
// handed out for listen(0) is free only until some process's next outgoing
// connection takes it, which on a busy CI machine happens within seconds.
const PORT_LOW = 20000;
const PORT_SPAN = 12000;
const handedOut = new Set(); // never the same port twice in one process

function tryListen(port) {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.unref();
        srv.once('error', () => resolve(false));
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
}

export async function freePort() {
    for (let tries = 0; tries < 200; tries++) {
        const port = PORT_LOW + Math.floor(Math.random() * PORT_SPAN);
        if (handedOut.has(port)) continue;
        if (await tryListen(port)) {
            handedOut.add(port);
            return port;
        }
    }
    throw new Error('freePort: no free port below the ephemeral range');
}

// --- a minimal RESP client (one command per connection) -------------------

function parseResp(buf, pos = 0) {
    // Returns [value, nextPos] or null when more bytes are needed.
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return null;
    const kind = String.fromCharCode(buf[pos]);
    const line = buf.toString('utf8', pos + 1, eol);
    const next = eol + 2;
    switch (kind) {
    case '+':
        return [line, next];
    case '-': {
        const e = new Error(line);
        e.redis = true;
        return [e, next];
    }
    case ':':
        return [Number(line), next];
    case '$': {
        const n = Number(line);
        if (n < 0) return [null, next];
        if (buf.length < next + n + 2) return null;
        return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    case '*': {
        const n = Number(line);
        if (n < 0) return [null, next];
        const arr = [];
        let p = next;
        for (let i = 0; i < n; i++) {
            const r = parseResp(buf, p);
            if (!r) return null;
            arr.push(r[0]);
            p = r[1];
        }
        return [arr, p];
    }
    default:
        throw new Error(`unexpected RESP reply: ${buf.toString('utf8', pos)}`);
    }
}

// Sends one command to redis at 127.0.0.1:port and resolves its reply (a
// redis error reply rejects). 'expectClose' resolves null when the server
// closes without replying (SHUTDOWN).
export function redisCommand(port, args, { timeoutMs = 3000, expectClose = false } = {}) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        let buf = Buffer.alloc(0);
        let done = false;
        const finish = (err, val) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            sock.destroy();
            if (err) reject(err);
            else resolve(val);
        };
        const timer = setTimeout(() => finish(new Error(`redis ${args[0]}: timeout`)), timeoutMs);
        sock.on('connect', () => {
            let cmd = `*${args.length}\r\n`;
            for (const a of args) {
                const s = String(a);
                cmd += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
            }
            sock.write(cmd);
        });
        sock.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            const r = parseResp(buf);
            if (!r) return;
            if (r[0] instanceof Error) finish(r[0]);
            else finish(null, r[0]);
        });
        sock.on('error', (e) => finish(e));
        sock.on('close', () => {
            if (expectClose) finish(null, null);
            else finish(new Error(`redis ${args[0]}: connection closed`));
        });
    });
}

// Every key of the redis at 127.0.0.1:port with its type and all its
// values flattened to strings (hash fields and values, stream ids, fields
// and values, set/zset members, list items): for "this appears nowhere"
// checks. [{key, type, values}]
export async function dumpRedis(port) {
    const out = [];
    let cursor = '0';
    const keys = new Set();
    do {
        const [next, batch] = await redisCommand(port, ['SCAN', cursor, 'COUNT', '1000']);
        cursor = next;
        for (const k of batch) keys.add(k);
    } while (cursor !== '0');
    const flat = (v) => (Array.isArray(v) ? v.flatMap(flat) : v === null ? [] : [String(v)]);
    for (const key of keys) {
        const type = await redisCommand(port, ['TYPE', key]);
        const read = {
            string: ['GET', key],
            hash: ['HGETALL', key],
            stream: ['XRANGE', key, '-', '+'],
            set: ['SMEMBERS', key],
            zset: ['ZRANGE', key, '0', '-1', 'WITHSCORES'],
            list: ['LRANGE', key, '0', '-1'],
        }[type];
        const values = read ? flat(await redisCommand(port, read)) : [];
        out.push({ key, type, values });
    }
    return out;
}

// --- redis-server ------------------------------------------------------------

let defaultRedisUrl = null;

// appendonly: true runs Redis with AOF (appendonly yes, appendfsync always),
// so a restart (even after stop({signal: 'SIGKILL'})) comes back with every
// write it acknowledged; the data dir is kept across restart().
export async function startRedis({ timeoutMs = 10000, appendonly = false } = {}) {
    const port = await freePort();
    const dir = tempDir('buurtrelay-redis-');
    const url = `redis://127.0.0.1:${port}`;
    let proc = null;
    let logs = () => '';
    const name = `redis-server :${port}`;
    logSources.push({ name, logs: () => logs() });

    async function spawnIt() {
        proc = track(spawn(REDIS_SERVER, [
            '--port', String(port), '--bind', '127.0.0.1',
            '--save', '', '--dir', dir,
            ...(appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
        ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
        const spawnError = new Promise((_, reject) => proc.once('error', reject));
        spawnError.catch(() => {});
        logs = captureOutput(proc);
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            if (proc.exitCode !== null || proc.signalCode !== null)
                throw new Error(`${name} exited early (${proc.exitCode ?? proc.signalCode}):\n${logs()}`);
            try {
                if ((await Promise.race([redisCommand(port, ['PING'], { timeoutMs: 500 }), spawnError])) === 'PONG')
                    return;
            } catch (e) {
                if (e.code === 'ENOENT') throw new Error(`cannot run ${REDIS_SERVER}: ${e.message}`);
            }
            if (Date.now() > deadline)
                throw new Error(`${name} did not answer PING within ${timeoutMs} ms:\n${logs()}`);
            await delay(50);
        }
    }

    await spawnIt();
    defaultRedisUrl = defaultRedisUrl || url;

    const redis = {
        port,
        url,
        dir,
        get proc() {
            return proc;
        },
        logs: () => logs(),
        command: (...args) => redisCommand(port, args),
        // save: true writes a snapshot first (SHUTDOWN SAVE) so restart()
        // comes back with the same data, like a production Redis with AOF.
        // signal: send this instead of SIGTERM (e.g. 'SIGKILL': a crash;
        // with appendonly the data survives it).
        async stop({ save = false, signal = 'SIGTERM' } = {}) {
            if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode;
            if (signal !== 'SIGTERM' && !save) return stopProcess(proc, signal);
            if (save) {
                await redisCommand(port, ['SHUTDOWN', 'SAVE'], { expectClose: true });
                if (!(await waitExit(proc, 10000))) throw new Error(`${name}: SHUTDOWN SAVE did not stop it`);
                return proc.exitCode;
            }
            return stopProcess(proc, 'SIGTERM');
        },
        async restart({ save = false } = {}) {
            await redis.stop({ save });
            await spawnIt();
        },
    };
    return redis;
}

// --- buurtrelay ----------------------------------------------------------------

// extraConfig: an object {key: value} or a string of "key value" lines. When
// given, it is the whole config file (every key has a default).
export function writeConfig(extraConfig) {
    const text = typeof extraConfig === 'string'
        ? extraConfig
        : Object.entries(extraConfig).map(([k, v]) => `${k} ${v}`).join('\n');
    const file = path.join(tempDir('buurtrelay-conf-'), 'buurtrelay.conf');
    writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
    return file;
}

export async function httpGet(url, { timeoutMs = 3000 } = {}) {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    let json;
    try {
        json = JSON.parse(body);
    } catch {
        json = undefined;
    }
    return { status: res.status, body, json, headers: res.headers };
}

// Polls url until its status is 'status' (readiness can only be polled).
export async function waitForStatus(url, status, { timeoutMs = 10000, proc = null, intervalMs = 50 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
        if (proc && (proc.exitCode !== null || proc.signalCode !== null))
            throw new Error(`process exited (${proc.exitCode ?? proc.signalCode}) while waiting for ${url} -> ${status}`);
        try {
            const r = await httpGet(url, { timeoutMs: 1000 });
            if (r.status === status) return r;
            last = `${r.status} ${r.body.slice(0, 200)}`;
        } catch (e) {
            last = e.cause?.code || e.message;
        }
        if (Date.now() > deadline)
            throw new Error(`${url} did not return ${status} within ${timeoutMs} ms (last: ${last})`);
        await delay(intervalMs);
    }
}

function requireBinary(bin) {
    if (!existsSync(bin))
        throw new Error(`${bin} does not exist: build it (cmake --build build) or set BUURTRELAY_BUILD to a build tree`);
}

export async function startRelay({ redisUrl = defaultRedisUrl, extraConfig = null, args = [], env = {}, readyTimeoutMs = 10000 } = {}) {
    if (!redisUrl) throw new Error('startRelay: no redisUrl (start redis first)');
    requireBinary(RELAY_BIN);
    const port = await freePort();
    const config = extraConfig ? writeConfig(extraConfig) : REPO_CONFIG;
    const proc = track(spawn(RELAY_BIN, [
        '--config', config, '--listen', `127.0.0.1:${port}`, '--redis', redisUrl, ...args,
    ], { cwd: SRC, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
    proc.once('error', () => {}); // ENOENT shows as an early exit below
    const logs = captureOutput(proc);
    const name = `buurtrelay :${port}`;
    logSources.push({ name, logs });
    const http = `http://127.0.0.1:${port}`;
    try {
        await waitForStatus(`${http}/readyz`, 200, { timeoutMs: readyTimeoutMs, proc });
    } catch (e) {
        await stopProcess(proc, 'SIGKILL');
        throw new Error(`${name} not ready: ${e.message}\n----- logs -----\n${logs()}`);
    }
    return {
        port,
        config,
        url: `ws://127.0.0.1:${port}/ws`,
        http,
        proc,
        logs,
        stop: (signal = 'SIGTERM', timeoutMs = 10000) => stopProcess(proc, signal, timeoutMs),
        kill9: () => stopProcess(proc, 'SIGKILL'),
    };
}

// Runs a binary to completion: {code, signal, stdout, stderr}.
export function run(bin, args, { input, env = {}, cwd = SRC, timeoutMs = 20000 } = {}) {
    return new Promise((resolve, reject) => {
        requireBinary(bin);
        const child = execFile(bin, args, { cwd, env: childEnv(env), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
            (err, stdout, stderr) => {
                if (err && typeof err.code === 'string') return reject(err); // ENOENT etc.
                resolve({
                    code: child.exitCode,
                    signal: child.signalCode,
                    stdout: String(stdout),
                    stderr: String(stderr),
                });
            });
        if (input !== undefined) child.stdin.end(input);
        else child.stdin.end();
    });
}

// buurtctl --config REPO_CONFIG --redis URL ...args
export function ctl(args, { input, redisUrl = defaultRedisUrl, config = REPO_CONFIG, env } = {}) {
    if (!redisUrl) throw new Error('ctl: no redisUrl (start redis first)');
    return run(CTL_BIN, ['--config', config, '--redis', redisUrl, ...args], { input, env });
}

async function ctlOk(args, opts) {
    const r = await ctl(args, opts);
    if (r.code !== 0)
        throw new Error(`buurtctl ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr.trim()}`);
    return r;
}

// Claims of a "br1.<claims>.<tag>" token (token.h), or null.
export function tokenClaims(token) {
    const parts = String(token).split('.');
    if (parts.length !== 3 || parts[0] !== 'br1') return null;
    try {
        return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
        return null;
    }
}

// Re-signs claims with the test file's TOKEN_KEY, learning from a genuine
// token which bytes the tag covers. Returns null if neither guess matches
// (then the caller skips what needs a crafted token).
export function makeTokenSigner(genuine) {
    const [prefix, payload, tag] = String(genuine).split('.');
    const key = Buffer.from(TOKEN_KEY, 'hex');
    const variants = [
        (p) => `${prefix}.${p}`,
        (p) => p,
    ];
    for (const v of variants) {
        if (createHmac('sha256', key).update(v(payload)).digest('base64url') === tag) {
            return (claims) => {
                const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
                return `${prefix}.${p}.${createHmac('sha256', key).update(v(p)).digest('base64url')}`;
            };
        }
    }
    return null;
}

let userCounter = 0;

// user add (password on stdin) then token --login. {id, token, login, password}.
export async function makeUser({ login, role, buurten = [], wijken = [], phone, password, redisUrl } = {}) {
    login = login || `${role}${++userCounter}-${randomBytes(3).toString('hex')}`;
    password = password || `pw-${randomBytes(8).toString('hex')}`;
    const args = ['user', 'add', '--login', login, '--role', role];
    for (const b of buurten) args.push('--buurt', b);
    for (const w of wijken) args.push('--wijk', w);
    if (phone) args.push('--phone', phone);
    const added = await ctlOk(args, { input: `${password}\n`, redisUrl });
    const token = await issueToken(login, { redisUrl });
    let id = tokenClaims(token)?.sub;
    if (!id) {
        const last = added.stdout.trim().split('\n').pop()?.trim();
        if (last && /^[A-Za-z0-9_-]{1,64}$/.test(last)) id = last;
    }
    return { id, token, login, password, role, buurten, wijken };
}

export async function issueToken(login, { ttl, redisUrl, env } = {}) {
    const args = ['token', '--login', login];
    if (ttl !== undefined) args.push('--ttl', String(ttl));
    const r = await ctlOk(args, { redisUrl, env });
    const token = r.stdout.trim().split('\n').pop().trim();
    if (!token) throw new Error(`buurtctl token --login ${login} printed nothing`);
    return token;
}

// --- WebSocket clients ------------------------------------------------------------

// A predicate: a function, a type name ('pong'), or an object matched
// partially and recursively ({type: 'ack', id: 'p1'}).
export function toPred(pred) {
    if (pred === undefined || pred === null) return () => true;
    if (typeof pred === 'function') return pred;
    if (typeof pred === 'string') return (f) => f && f.type === pred;
    return (f) => partialMatch(f, pred);
}

function partialMatch(value, pattern) {
    if (pattern === null || typeof pattern !== 'object') return Object.is(value, pattern);
    if (value === null || typeof value !== 'object') return false;
    return Object.entries(pattern).every(([k, v]) => partialMatch(value[k], v));
}

function describe(pred) {
    if (typeof pred === 'function') return pred.toString().slice(0, 160);
    return JSON.stringify(pred);
}

function short(frame) {
    const s = JSON.stringify(frame);
    return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

let refCounter = 0;
export const newRef = (prefix = 'r') => `${prefix}${++refCounter}`;

class Client {
    constructor(ws, name) {
        this.ws = ws;
        this.name = name;
        this.queue = [];          // received frames nobody has taken yet
        this.received = 0;
        this.arrival = new WeakMap(); // frame -> arrival index (0-based)
        this.waiters = [];
        this.closeInfo = null;
        this.welcome = null;
        this.closed = new Promise((resolve) => {
            ws.on('close', (code, reason) => {
                this.closeInfo = { code, reason: reason.toString('utf8') };
                for (const w of this.waiters.splice(0)) {
                    clearTimeout(w.timer);
                    w.reject(new Error(`${this.name}: connection closed (${code} ${this.closeInfo.reason}) while waiting for ${describe(w.desc)}; unclaimed frames: ${this.queue.map(short).join(' | ') || 'none'}`));
                }
                resolve(this.closeInfo);
            });
        });
        ws.on('message', (data, isBinary) => {
            let frame;
            try {
                frame = JSON.parse(data.toString('utf8'));
            } catch {
                frame = { __raw: data.toString('utf8'), __binary: isBinary };
            }
            this.arrival.set(frame, this.received++);
            const i = this.waiters.findIndex((w) => w.pred(frame));
            if (i >= 0) {
                const [w] = this.waiters.splice(i, 1);
                clearTimeout(w.timer);
                w.resolve(frame);
            } else {
                this.queue.push(frame);
            }
        });
        // Surfaced through 'close' (code 1006); kept for diagnostics, e.g.
        // a frame the ws library found invalid.
        this.error = null;
        ws.on('error', (e) => {
            this.error = this.error || e;
        });
    }

    send(obj) {
        this.ws.send(JSON.stringify(obj));
    }

    sendRaw(data, { binary = false } = {}) {
        this.ws.send(data, { binary });
    }

    // Sends obj with a fresh ref (unless it has one) and resolves the reply
    // carrying that ref.
    request(obj, timeoutMs = 5000) {
        const ref = obj.ref ?? newRef();
        this.send({ ...obj, ref });
        return this.next((f) => f.ref === ref, timeoutMs);
    }

    // The next received frame matching pred, taking it out of the queue.
    next(pred, timeoutMs = 3000) {
        const p = toPred(pred);
        const i = this.queue.findIndex(p);
        if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
        if (this.closeInfo)
            return Promise.reject(new Error(`${this.name}: connection closed (${this.closeInfo.code} ${this.closeInfo.reason}) before ${describe(pred)}; unclaimed frames: ${this.queue.map(short).join(' | ') || 'none'}`));
        return new Promise((resolve, reject) => {
            const w = { pred: p, desc: pred, resolve, reject };
            w.timer = setTimeout(() => {
                const at = this.waiters.indexOf(w);
                if (at >= 0) this.waiters.splice(at, 1);
                reject(new Error(`${this.name}: no frame matching ${describe(pred)} within ${timeoutMs} ms; unclaimed frames: ${this.queue.slice(-10).map(short).join(' | ') || 'none'}`));
            }, timeoutMs);
            this.waiters.push(w);
        });
    }

    // n frames matching pred, in arrival order, within timeoutMs overall.
    async collect(pred, n, timeoutMs = 10000) {
        const deadline = Date.now() + timeoutMs;
        const out = [];
        while (out.length < n) {
            const left = deadline - Date.now();
            try {
                out.push(await this.next(pred, Math.max(left, 1)));
            } catch (e) {
                e.message = `collect: got ${out.length} of ${n}: ${e.message}`;
                throw e;
            }
        }
        return out;
    }

    // Arrival index of a frame this client received (order checks).
    order(frame) {
        return this.arrival.get(frame);
    }

    // Queued (unclaimed) frames matching pred, without taking them.
    pending(pred) {
        return this.queue.filter(toPred(pred));
    }

    async subscribe(channel, extra = {}, timeoutMs = 5000) {
        const reply = await this.request({ type: 'subscribe', channel, ...extra }, timeoutMs);
        if (reply.type !== 'subscribed')
            throw new Error(`${this.name}: subscribe ${channel} answered ${short(reply)}`);
        return reply;
    }

    async ping(timeoutMs = 5000) {
        const reply = await this.request({ type: 'ping' }, timeoutMs);
        if (reply.type !== 'pong') throw new Error(`${this.name}: ping answered ${short(reply)}`);
        return reply;
    }

    // Resolves the ack (or error) of one post; retries on rate_limited after
    // the server's retry_after (the same id: posts are idempotent).
    async post(id, post, { timeoutMs = 10000, retries = 100, extra = {} } = {}) {
        for (let attempt = 0; ; attempt++) {
            this.send({ type: 'post', id, post, ...extra });
            const reply = await this.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id, timeoutMs);
            if (reply.type === 'error' && reply.code === 'rate_limited' && attempt < retries) {
                await delay(Math.max(Number(reply.retry_after) || 1, 0.05) * 1000);
                continue;
            }
            return reply;
        }
    }

    async postOk(id, post, opts) {
        const reply = await this.post(id, post, opts);
        if (reply.type !== 'ack')
            throw new Error(`${this.name}: post ${id} answered ${short(reply)}`);
        return reply;
    }

    async close(code = 1000, reason = '') {
        if (!this.closeInfo) {
            try {
                this.ws.close(code, reason);
            } catch {
                this.ws.terminate();
            }
            const t = setTimeout(() => this.ws.terminate(), 3000);
            await this.closed;
            clearTimeout(t);
        }
        return this.closeInfo;
    }
}

const openClients = new Set();
after(() => {
    for (const c of openClients) c.ws.terminate();
});

// Opens a WebSocket with subprotocol buurtrelay.v1 (protocol: null offers
// none). With a token, sends it as a bearer header and (unless
// waitWelcome: false) waits for the welcome frame, kept in client.welcome.
// A refused upgrade rejects with an Error carrying statusCode and body.
export function connect(url, { token, headers = {}, protocol = SUBPROTOCOL, waitWelcome, name, timeoutMs = 5000 } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    const protocols = protocol === null ? [] : [].concat(protocol);
    const ws = new WebSocket(url, protocols, { headers: h, handshakeTimeout: timeoutMs });
    const client = new Client(ws, name || (token ? 'client(auth)' : 'client(anon)'));
    openClients.add(client);
    client.closed.then(() => openClients.delete(client));
    const opened = new Promise((resolve, reject) => {
        ws.once('open', resolve);
        let refused = false;
        ws.once('unexpected-response', (req, res) => {
            // Read the refusal's body, then drop the socket. The ws 'error'
            // that the drop causes is ignored: the status is the outcome.
            refused = true;
            let body = '';
            const done = () => {
                clearTimeout(timer);
                const e = new Error(`${client.name}: upgrade refused with HTTP ${res.statusCode}: ${body.slice(0, 200)}`);
                e.statusCode = res.statusCode;
                e.body = body;
                reject(e);
                req.destroy();
            };
            const timer = setTimeout(done, 2000); // a body that never ends
            res.setEncoding('utf8');
            res.on('data', (d) => { body += d; });
            res.on('end', done);
            res.on('error', done);
        });
        ws.once('error', (e) => {
            if (!refused) reject(e);
        });
    });
    return opened.then(async () => {
        if (waitWelcome ?? !!token) {
            client.welcome = await client.next(() => true, timeoutMs);
            if (client.welcome.type !== 'welcome')
                throw new Error(`${client.name}: first frame is not welcome: ${short(client.welcome)}`);
        }
        return client;
    });
}

// Like connect() but never throws for a refusal: resolves one of
// {kind: 'rejected', statusCode}, {kind: 'welcome', frame, client},
// {kind: 'error', frame, client}, {kind: 'closed', code, reason}.
export async function connectOutcome(url, { token, timeoutMs = 5000, ...rest } = {}) {
    let client;
    try {
        client = await connect(url, { token, waitWelcome: false, timeoutMs, ...rest });
    } catch (e) {
        if (e.statusCode) return { kind: 'rejected', statusCode: e.statusCode, body: e.body };
        throw e;
    }
    const first = await Promise.race([
        client.next(() => true, timeoutMs).then((frame) => ({ frame }), () => null),
        client.closed.then((c) => ({ closed: c })),
    ]);
    if (first && first.frame) {
        const kind = first.frame.type === 'welcome' ? 'welcome' : first.frame.type === 'error' ? 'error' : 'other';
        return { kind, frame: first.frame, client };
    }
    const c = client.closeInfo || (await client.closed);
    return { kind: 'closed', code: c.code, reason: c.reason };
}

// --- posts ---------------------------------------------------------------------

// A valid alert (behaviour first, details, no abbreviations) for 'buurten'.
export function alert(buurten, { title = 'Vermist: man 78', body, n, ...more } = {}) {
    const suffix = n === undefined ? '' : ` Bericht ${n}.`;
    return {
        kind: 'alert',
        area: { buurten: [].concat(buurten) },
        title,
        body: body ?? `Loopt verward rond met een rollator, draagt een blauwe jas en een grijze pet, spreekt Nederlands. Laatst gezien bij de bushalte aan de Vaart om 14:00. Zie je hem? Bel 112.${suffix}`,
        urgency: 'Immediate',
        severity: 'Moderate', // Severe and Extreme wait for a second officer (approval-severe)
        certainty: 'Likely',
        event: 'vermissing',
        consent: true,
        ...more,
    };
}

// Resolves what 'promise' resolves, or 'fallback' after ms (the timer is
// cleared either way, so it never holds the process open).
export function within(promise, ms, fallback = null) {
    let timer;
    return Promise.race([
        promise,
        new Promise((resolve) => { timer = setTimeout(() => resolve(fallback), ms); }),
    ]).finally(() => clearTimeout(timer));
}

export const isMessageOn = (channel) => (f) => f.type === 'message' && f.channel === channel;

export { delay };
export function readVersion() {
    const m = /project\(\s*buurtrelay\s+VERSION\s+([0-9.]+)/.exec(readFileSync(path.join(SRC, 'CMakeLists.txt'), 'utf8'));
    return m ? m[1] : null;
}

// --- helper processes (Kannel, simulators) ------------------------------------

// Spawns a long-running helper process that the root after() hook stops
// like redis and the relay, and whose output dumpLogs() prints when a test
// fails. proc.logs() returns its output so far; stopTracked() stops it.
export function spawnTracked(name, cmd, args, opts = {}) {
    const proc = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }));
    proc.once('error', () => {}); // ENOENT shows as an early exit
    const logs = captureOutput(proc);
    logSources.push({ name, logs });
    proc.logs = logs;
    return proc;
}

// SIGTERM (or 'signal'), then SIGKILL after timeoutMs; resolves the exit
// code or signal name. For processes from spawnTracked().
export function stopTracked(proc, signal = 'SIGTERM', timeoutMs = 10000) {
    return stopProcess(proc, signal, timeoutMs);
}
