// sms_fault.test.mjs - SMS delivery under faults, counted at the "phones".
//
// Scenarios against the daemon's delivery engine (relay/outbox.h), N = 20
// SMS residents each:
//   1.  the SMS centre (fakesmsc) is down while an appeal goes out; it
//       comes back -> each resident gets it exactly once and every
//       delivery ends "delivered" (Kannel's DLRs);
//   2a. bearerbox SIGKILLed half-way through an appeal, the SMS centre
//       down: half of it in Kannel's spool store, the rest in the relay's
//       queue or in flight; restarted -> nothing lost, duplicates counted
//       and bounded (see DUPLICATES below);
//   2b. the same while messages flow to the phones (the SMS centre up);
//   3.  a resident's SMS reply arrives while the relay is down -> smsbox
//       retries (config/kannel.conf http-request-retry 5, http-queue-delay
//       2 s) and it becomes one tip on the right case once the relay is up;
//   4.  Twilio (the simulator, sms_sim.mjs) answers 429 + Retry-After 2,
//       500, 500, a hang and 503 during an appeal -> each resident
//       accepted exactly once, every delay honoured; forged or unsigned
//       status callbacks change nothing.
//
// What is asserted are EXACT counts from the far side's own records:
// fakesmsc's "Got message" lines (kannel.mjs received()) and the Twilio
// simulator's accepted messages, plus a recording proxy in front of the
// simulator (which request for which number got which answer, when). The
// relay's own records (relay/outbox.h: dlv:{case} states, mo:inbox, the
// case's events) are read only for what is defined there: the delivery
// states, the stored reply and the tip. Each scenario prints one line:
//   FIGURES sms_<scenario>: queued Q / delivered D / duplicated U / lost L;
//   recovered in T ms; ...
//
// DUPLICATES (2a, 2b). Neither Kannel's sendsms nor Twilio has an
// idempotency key (relay/outbox.h "A provider TIMEOUT is different"): a
// request that bearerbox stored but whose answer never reached the relay
// (the kill lands between the two) is sent again by the relay. So at most
// one copy per relay request in flight at the kill: kannel.max-in-flight,
// 2 here. Kannel adds one more possible copy when the SMS centre is up
// (2b): a message written to fakesmsc whose spool file was not yet
// removed (gw/store_spool.c unlinks it after the send) is loaded again on
// restart; bearerbox writes to the fake SMSC one message at a time, so
// that is one at most. Bounds: 2 (2a), 3 (2b); each run prints the count
// (0 in every run so far).
//
// Budget: ~40-60 s with an ASan relay on 2 busy cores (limit 90 s). The
// Kannel scenarios (1-3) are skipped when Kannel is not installed, like
// kannel.test.mjs; the Twilio one always runs.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import {
    test, freePort, startRedis, makeUser, connect, alert, redisCommand, tempDir, ctl,
    RELAY_BIN, SRC, childEnv, spawnTracked, stopTracked, waitForStatus, writeConfig,
} from './harness.mjs';
import { kannelMissing, startKannel } from './kannel.mjs';
import { startTwilioSim } from './sms_sim.mjs';

const B1 = 'BU01060101';
const N = 20; // SMS residents per scenario
// One GSM-7 SMS part with the title (fakesmsc logs every part of a
// concatenated SMS as a message of its own; these tests count messages).
const SHORT = 'Blauwe jas, grijze pet. Gezien? Bel 112.';

// --- helpers -------------------------------------------------------------

// Messages in Kannel's spool store (store_spool.c: one file per message in
// numbered subdirectories; a file goes when the message has been sent).
function spoolFiles(dir) {
    let n = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) n += spoolFiles(path.join(dir, e.name));
        else n++;
    }
    return n;
}

function secretFile(dir, name, value) {
    const f = path.join(dir, name);
    writeFileSync(f, `${value}\n`, { mode: 0o600 });
    return f;
}

// A port for the relay, chosen before it starts (Kannel's and Twilio's
// webhooks must know the relay's URL first) and kept across a restart.
// Taken below the kernel's ephemeral range (ip_local_port_range, 32768 and
// up here): a port from freePort() is free only until some process's next
// outgoing connection picks it as its local port, which on a machine busy
// with load tests happened between the pick and the relay's bind.
async function relayPort() {
    for (let tries = 0; tries < 50; tries++) {
        const port = 20000 + Math.floor(Math.random() * 12000);
        const ok = await new Promise((resolve) => {
            const srv = net.createServer();
            srv.once('error', () => resolve(false));
            srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
        });
        if (ok) return port;
    }
    return freePort();
}

// The relay on a port chosen beforehand.
async function startRelayOn({ redisUrl, extraConfig, port }) {
    const config = writeConfig(extraConfig);
    const proc = spawnTracked(`buurtrelay :${port}`, RELAY_BIN, [
        '--config', config, '--listen', `127.0.0.1:${port}`, '--redis', redisUrl,
    ], { cwd: SRC, env: childEnv() });
    const base = `http://127.0.0.1:${port}`;
    try {
        // (A relay that cannot bind keeps running without a listener:
        // fail at once, saying so, rather than after the timeout.)
        const deadline = Date.now() + 15000;
        for (;;) {
            if (/ERROR on binding/.test(proc.logs())) throw new Error(`port ${port} is taken`);
            const left = deadline - Date.now();
            try {
                await waitForStatus(`${base}/readyz`, 200, { timeoutMs: Math.min(500, Math.max(left, 1)), proc });
                break;
            } catch (e) {
                if (left <= 0 || proc.exitCode !== null || proc.signalCode !== null) throw e;
            }
        }
    } catch (e) {
        await stopTracked(proc, 'SIGKILL');
        throw new Error(`buurtrelay :${port} not ready: ${e.message}\n${proc.logs()}`);
    }
    return {
        port, extraConfig, url: `ws://127.0.0.1:${port}/ws`, http: base, proc,
        stop: (signal = 'SIGTERM') => stopTracked(proc, signal),
    };
}

// n residents of B1 with a phone each ('+316' + 8 digits from 'base'),
// created through buurtctl a few at a time (Argon2id makes each one slow;
// residents need no token). [{id, phone}]
async function addResidents(redisUrl, n, base) {
    const out = new Array(n);
    let next = 0;
    const tag = randomBytes(3).toString('hex');
    async function worker() {
        while (next < n) {
            const i = next++;
            const phone = `+316${String(base + i).padStart(8, '0')}`;
            const login = `sms-${tag}-${i}`;
            const r = await ctl(['user', 'add', '--login', login, '--role', 'resident', '--buurt', B1, '--phone', phone],
                { input: `pw-${tag}-${i}-secret\n`, redisUrl });
            if (r.code !== 0) throw new Error(`buurtctl user add ${login}: ${r.stderr.trim()}`);
            const id = r.stdout.trim().split('\n').pop().trim();
            assert.match(id, /^u[0-9a-f]{16}$/, `buurtctl user add printed ${r.stdout}`);
            out[i] = { id, phone };
        }
    }
    await Promise.all([worker(), worker(), worker()]);
    return out;
}

async function redisHash(redis, key) {
    const flat = await redisCommand(redis.port, ['HGETALL', key]);
    const out = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
    return out;
}

async function until(what, fn, timeoutMs = 20000, intervalMs = 50) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        last = await fn();
        if (last) return last;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await delay(intervalMs);
    }
}

// Per-resident tally of the messages that arrived for one appeal (those
// carrying its tag), by the receiving side's records.
function tally(msgs, residents) {
    const phones = new Set(residents.map((r) => r.phone));
    const byTo = new Map();
    let extra = 0;
    for (const m of msgs) {
        if (!phones.has(m.to)) extra++;
        byTo.set(m.to, (byTo.get(m.to) ?? 0) + 1);
    }
    let delivered = 0;
    let duplicated = 0;
    for (const p of phones) {
        const c = byTo.get(p) ?? 0;
        if (c > 0) delivered++;
        if (c > 1) duplicated += c - 1;
    }
    return { expected: phones.size, delivered, duplicated, lost: phones.size - delivered, extra, total: msgs.length };
}

// The delivery states of a case (relay/outbox.h dlv:{c}): {state: count}.
async function states(redis, caseId) {
    const h = await redisHash(redis, `dlv:${caseId}`);
    const out = { total: 0 };
    for (const s of Object.values(h)) {
        out[s] = (out[s] ?? 0) + 1;
        out.total++;
    }
    return out;
}

function figures(name, t, extra = []) {
    const line = `FIGURES sms_${name}: queued ${t.queued} / delivered ${t.delivered} / duplicated ${t.duplicated} / lost ${t.lost}`
        + `; ${extra.join('; ')}`;
    console.log(line);
    return line;
}

async function appeal(relay, police, idem, tag) {
    const pol = await connect(relay.url, { token: police.token });
    try {
        return await pol.postOk(idem, alert([B1], { title: 'Vermist: man 78', body: `${SHORT} Kenmerk ${tag}.` }));
    } finally {
        pol.close();
    }
}

// --- Kannel: SMS centre down, bearerbox crash, MO while the relay is down --

describe('sms faults through kannel', { skip: kannelMissing() ?? false }, () => {
    const TOKEN = `kt_${randomBytes(12).toString('hex')}`;
    let redis;
    let relay;
    let kannel;
    let police;
    let residents;
    let lastCase = null; // the case last sent to every resident

    before(async () => {
        redis = await startRedis();
        const dir = tempDir('buurtrelay-smsfault-');
        const port = await relayPort();
        kannel = await startKannel({ relayUrl: `http://127.0.0.1:${port}`, webhookToken: TOKEN });
        relay = await startRelayOn({
            redisUrl: redis.url,
            port,
            extraConfig: [
                'adapter kannel',
                `kannel.sendsms-url ${kannel.sendsmsUrl}`,
                `kannel.password-file ${secretFile(dir, 'kannel.pw', kannel.password)}`,
                `kannel.webhook-token-file ${secretFile(dir, 'kannel.token', TOKEN)}`,
                'kannel.from 3197010000001',
                `kannel.public-url http://127.0.0.1:${port}`,
                // A trickle (10/s, one at a time, at most 2 requests open)
                // so that scenario 2 can kill bearerbox half-way through
                // an appeal with requests in flight.
                'kannel.rate 10',
                'kannel.burst 1',
                'kannel.max-in-flight 2',
                'kannel.timeout-ms 2000',
                // Retries while Kannel restarts: quick, and enough of them
                // (the default 8 attempts from 1 s cover minutes; 200 ms
                // doubling to 1 s would run out in ~5 s, less than a
                // bearerbox + smsbox restart may take on a loaded box).
                'kannel.max-attempts 100',
                'outbox-backoff-min-ms 200',
                'outbox-backoff-max-ms 1000',
            ].join('\n'),
        });
        police = await makeUser({ role: 'police', redisUrl: redis.url });
        residents = await addResidents(redis.url, N, 20000000);
    });
    after(async () => {
        await kannel?.stop();
    });

    const arrived = (tag) => kannel.received().filter((m) => m.text.includes(tag));

    test('SMS centre down during the appeal: every resident gets it exactly once when it is back', { timeout: 40000 }, async () => {
        const tag = `A${randomBytes(3).toString('hex')}`;
        await kannel.stopSmsc();
        const ack = await appeal(relay, police, 'smsfault-1', tag);
        // Kannel answers "3: Queued" for each: the relay records "sent".
        const queued = await until('all deliveries handed to Kannel', async () => {
            const s = await states(redis, ack.case);
            return s.total === N && (s.sent ?? 0) === N && s;
        }, 15000);
        assert.deepEqual(arrived(tag), [], 'nothing can arrive while the SMS centre is down');
        const upAt = Date.now();
        await kannel.startSmsc();
        let doneAt = null;
        await until('every resident at fakesmsc', () => {
            const t = tally(arrived(tag), residents);
            if (t.delivered === N && doneAt === null) doneAt = Date.now();
            return t.delivered === N;
        }, 20000);
        const dlr = await until('every delivery "delivered" (DLR)', async () => {
            const s = await states(redis, ack.case);
            return (s.delivered ?? 0) === N && s;
        }, 20000);
        const dlrAt = Date.now();
        await delay(1000); // room for a duplicate to show
        const t = tally(arrived(tag), residents);
        figures('smsc_down', { queued: queued.total, ...t }, [
            `recovered in ${doneAt - upAt} ms (SMSC up -> last resident), all delivered after ${dlrAt - upAt} ms`,
            `states ${JSON.stringify(dlr)}`, `extra ${t.extra}`,
        ]);
        assert.deepEqual({ delivered: t.delivered, duplicated: t.duplicated, lost: t.lost, extra: t.extra },
            { delivered: N, duplicated: 0, lost: 0, extra: 0 });
        assert.deepEqual(await states(redis, ack.case), { total: N, delivered: N });
        const summary = await redisHash(redis, `dlv:${ack.case}:summary`);
        assert.equal(Number(summary['kannel:delivered']), N);
        lastCase = ack.case;
    });

    test('bearerbox SIGKILLed mid-appeal with deliveries in flight: none lost after the restart', { timeout: 45000 }, async () => {
        const tag = `B${randomBytes(3).toString('hex')}`;
        // The SMS centre is down, so what Kannel accepted sits in its
        // spool store, not on a phone: the kill is what it must survive.
        await kannel.stopSmsc();
        const postAt = Date.now();
        const ack = await appeal(relay, police, 'smsfault-2', tag);
        await until('half of the appeal handed to Kannel', async () => {
            const s = await states(redis, ack.case);
            return (s.sent ?? 0) >= N / 2 && s;
        }, 15000);
        const killAt = Date.now();
        await kannel.killBearerbox();
        const atKill = await states(redis, ack.case);
        const inStore = spoolFiles(path.join(kannel.dir, 'spool'));
        await kannel.restartBoxes();
        const boxesAt = Date.now();
        await kannel.startSmsc();
        const upAt = Date.now();
        let doneAt = null;
        await until('every resident at fakesmsc', () => {
            const t = tally(arrived(tag), residents);
            if (t.delivered === N && doneAt === null) doneAt = Date.now();
            return t.delivered === N;
        }, 30000);
        const final = await until('every delivery "delivered" (DLR)', async () => {
            const s = await states(redis, ack.case);
            return (s.delivered ?? 0) === N && s;
        }, 20000);
        await delay(1500); // a Kannel resend (sms-resend-freq) would show by now
        const t = tally(arrived(tag), residents);
        figures('bearerbox_kill', { queued: final.total, ...t }, [
            `at the kill (${killAt - postAt} ms after the post): ${atKill.sent ?? 0} accepted by Kannel, ${inStore} in its spool, ${atKill.queued ?? 0} still queued in the relay`,
            `recovered in ${doneAt - killAt} ms (kill -> last resident; boxes back after ${boxesAt - killAt} ms, SMSC up after ${upAt - killAt} ms)`,
            'duplicate bound 2 (kannel.max-in-flight)', `extra ${t.extra}`,
        ]);
        assert.equal(t.lost, 0, 'no resident may miss the appeal');
        assert.equal(t.extra, 0);
        assert.ok(t.duplicated <= 2, `duplicates ${t.duplicated} > the bound 2 (requests in flight at the kill)`);
        assert.deepEqual(await states(redis, ack.case), { total: N, delivered: N });
        lastCase = ack.case;
    });

    test('bearerbox SIGKILLed while messages flow to the phones: none lost, duplicates bounded', { timeout: 45000 }, async () => {
        const tag = `C${randomBytes(3).toString('hex')}`;
        // The SMS centre is up: at the kill some residents have it, some
        // messages sit in bearerbox, some in the relay, one or two are in
        // flight between them.
        const postAt = Date.now();
        const ack = await appeal(relay, police, 'smsfault-3', tag);
        await until('a quarter of the residents reached', () => tally(arrived(tag), residents).delivered >= N / 4, 15000);
        const killAt = Date.now();
        await kannel.killBearerbox(); // fakesmsc, then bearerbox: both SIGKILL
        const before = tally(arrived(tag), residents);
        const atKill = await states(redis, ack.case);
        const inStore = spoolFiles(path.join(kannel.dir, 'spool'));
        await kannel.restartBoxes();
        await kannel.startSmsc();
        let doneAt = null;
        await until('every resident at fakesmsc', () => {
            const t = tally(arrived(tag), residents);
            if (t.delivered === N && doneAt === null) doneAt = Date.now();
            return t.delivered === N;
        }, 30000);
        await until('every delivery past "sent"', async () => {
            const st = await states(redis, ack.case);
            return (st.delivered ?? 0) === N && st;
        }, 20000);
        await delay(1500);
        const t = tally(arrived(tag), residents);
        const final = await states(redis, ack.case);
        // Bound: one copy per relay request in flight at the kill
        // (max-in-flight 2) plus one message bearerbox wrote to fakesmsc
        // but had not yet removed from its store (see DUPLICATES above).
        const BOUND = 3;
        figures('bearerbox_kill_flowing', { queued: final.total, ...t }, [
            `at the kill (${killAt - postAt} ms after the post): ${before.delivered} residents had it, ${atKill.sent ?? 0}+${atKill.delivered ?? 0} accepted by Kannel (sent+delivered), ${inStore} in its spool, ${atKill.queued ?? 0} still queued in the relay`,
            `recovered in ${doneAt - killAt} ms (kill -> last resident)`, `duplicate bound ${BOUND}`,
            `states ${JSON.stringify(final)}`, `extra ${t.extra}`,
        ]);
        assert.equal(t.lost, 0, 'no resident may miss the appeal');
        assert.equal(t.extra, 0);
        assert.ok(t.duplicated <= BOUND, `duplicates ${t.duplicated} > the bound ${BOUND}`);
        assert.deepEqual(final, { total: N, delivered: N });
        lastCase = ack.case;
    });

    test('an SMS reply sent while the relay is down becomes one tip on the right case', { timeout: 40000 }, async () => {
        assert.ok(lastCase, 'needs the appeals above');
        const who = residents[3];
        // A reply is about the case whose SMS last reached the sender.
        await until('dlv:last', async () => (await redisCommand(redis.port, ['GET', `dlv:last:${who.id}`])) === lastCase, 10000);
        const text = `Gezien bij de Vaart ${randomBytes(3).toString('hex')}`;
        const code = await relay.stop();
        assert.equal(code, 0, 'the relay stops cleanly on SIGTERM');
        const downAt = Date.now();
        await kannel.sendMo(who.phone.slice(1), text);
        const moAt = Date.now();
        // Down for more than one smsbox retry interval (2 s): the first
        // attempts must fail, a later one reach the relay.
        await delay(2500);
        relay = await startRelayOn({ redisUrl: redis.url, extraConfig: relay.extraConfig, port: relay.port });
        const upAt = Date.now();
        const inboxOf = async () => (await redisCommand(redis.port, ['XRANGE', 'mo:inbox', '-', '+']))
            .map(([id, f]) => {
                const o = { id };
                for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1];
                return o;
            })
            .filter((e) => e.x === text);
        const tipsOf = async () => (await redisCommand(redis.port, ['XRANGE', `case:${lastCase}:events`, '-', '+']))
            .filter(([, f]) => f.includes('tip') && f.some((v) => String(v).includes(who.id)));
        await until('the tip on the case', async () => (await tipsOf()).length > 0, 15000);
        const tipAt = Date.now();
        await delay(2500); // one more smsbox retry interval: a second copy would show
        const inbox = await inboxOf();
        const tips = await tipsOf();
        console.log(`FIGURES sms_mo_relay_down: replies sent 1 / stored ${inbox.length} / tips ${tips.length}`
            + ` / lost ${inbox.length === 0 ? 1 : 0} / duplicated ${Math.max(0, inbox.length - 1)}`
            + `; relay down ${upAt - downAt} ms (MO injected after ${moAt - downAt} ms), tip ${tipAt - upAt} ms after the relay was up`);
        assert.equal(inbox.length, 1, 'the reply is stored exactly once');
        assert.equal(inbox[0].u, who.id);
        assert.equal(inbox[0].c, lastCase, 'about the case last sent to the resident');
        assert.equal(tips.length, 1, 'exactly one tip on the case');
    });
});

// --- Twilio: 429, 5xx and a hang during an appeal ----------------------------

// A recording proxy in front of the simulator: per request the number it
// was for, when, and what the simulator answered (sim.requests has no
// number for the failures). A request whose client goes away (the relay's
// timeout on a hang) is recorded as 'hang'.
async function startRecorder(target) {
    const log = [];
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', async () => {
            const body = Buffer.concat(chunks);
            const form = new URLSearchParams(body.toString('utf8'));
            const entry = { at: Date.now(), to: form.get('To'), status: null, doneAt: null };
            log.push(entry);
            const ac = new AbortController();
            res.on('close', () => {
                if (!res.writableEnded) {
                    entry.status = 'hang';
                    entry.doneAt = Date.now();
                    ac.abort();
                }
            });
            try {
                const up = await fetch(`${target}${req.url}`, {
                    method: req.method,
                    headers: { 'Content-Type': req.headers['content-type'], Authorization: req.headers.authorization ?? '' },
                    body,
                    signal: ac.signal,
                });
                const text = await up.text();
                entry.status = up.status;
                entry.doneAt = Date.now();
                const headers = { 'Content-Type': up.headers.get('content-type') ?? 'application/json' };
                if (up.headers.get('retry-after')) headers['Retry-After'] = up.headers.get('retry-after');
                res.writeHead(up.status, headers).end(text);
            } catch {
                if (!res.writableEnded) res.destroy();
            }
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
        url: `http://127.0.0.1:${server.address().port}`,
        log,
        close: () => {
            server.closeAllConnections?.();
            return new Promise((resolve) => server.close(resolve));
        },
    };
}

describe('sms faults through the twilio simulator', () => {
    const TIMEOUT_MS = 1000; // twilio.timeout-ms: a hang fails after this
    let redis;
    let relay;
    let sim;
    let rec;
    let police;
    let residents;

    before(async () => {
        redis = await startRedis();
        sim = await startTwilioSim({ statusDelayMs: 20 });
        rec = await startRecorder(sim.url);
        const dir = tempDir('buurtrelay-smsfault-tw-');
        const port = await relayPort();
        relay = await startRelayOn({
            redisUrl: redis.url,
            port,
            extraConfig: [
                'adapter twilio',
                `twilio.api-url ${rec.url}`,
                `twilio.account-sid ${sim.accountSid}`,
                `twilio.auth-token-file ${secretFile(dir, 'twilio.token', sim.authToken)}`,
                'twilio.from +3197010000001',
                `twilio.public-url http://127.0.0.1:${port}`,
                `twilio.timeout-ms ${TIMEOUT_MS}`,
                'outbox-backoff-min-ms 200',
                'outbox-backoff-max-ms 1000',
            ].join('\n'),
        });
        police = await makeUser({ role: 'police', redisUrl: redis.url });
        residents = await addResidents(redis.url, N, 30000000);
    });
    after(async () => {
        await rec?.close();
        await sim?.close();
    });

    test('429, 500, 500, a hang and 503 during an appeal: every resident accepted exactly once, delays honoured', { timeout: 40000 }, async () => {
        const tag = `T${randomBytes(3).toString('hex')}`;
        const SCRIPT = ['429:2', '500', '500', 'hang', '503'];
        sim.script(...SCRIPT);
        const firstReq = rec.log.length;
        const ack = await appeal(relay, police, 'smsfault-tw', tag);
        const ours = () => sim.messages.filter((m) => m.body.includes(tag));
        let doneAt = null;
        await until('every resident accepted by the simulator', () => {
            const t = tally(ours(), residents);
            if (t.delivered === N && doneAt === null) doneAt = Date.now();
            return t.delivered === N;
        }, 20000);
        const final = await until('every delivery "delivered" (status callbacks)', async () => {
            const s = await states(redis, ack.case);
            return (s.delivered ?? 0) === N && s;
        }, 15000);
        await delay(1500); // past every backoff: a duplicate would show
        const t = tally(ours(), residents);
        const reqs = rec.log.slice(firstReq);
        const failures = reqs.filter((r) => r.status !== 201);
        const startAt = reqs[0].at;

        // Per number: its requests in order; every failure followed by the
        // next attempt no sooner than it was allowed.
        const gaps = [];
        for (const f of failures) {
            const nextTry = reqs.find((r) => r.to === f.to && r.at > f.at);
            assert.ok(nextTry, `the delivery that got ${f.status} was tried again`);
            const waited = nextTry.at - (f.doneAt ?? f.at);
            gaps.push({ status: f.status, waited, since: nextTry.at - f.at });
        }
        const fmtGaps = gaps.map((g) => (g.status === 'hang'
            ? `hang->${g.since} ms after the request (${g.waited} ms after the timeout)`
            : `${g.status}->${g.waited} ms`)).join(', ');
        figures('twilio_faults', { queued: final.total, ...t }, [
            `requests ${reqs.length} (${failures.length} failed: ${failures.map((f) => f.status).join(',')})`,
            `retry waits ${fmtGaps}`, `recovered in ${doneAt - failures[0].at} ms (first failure -> last resident)`,
            `appeal done ${doneAt - startAt} ms after the first request`, `extra ${t.extra}`,
        ]);
        assert.deepEqual({ delivered: t.delivered, duplicated: t.duplicated, lost: t.lost, extra: t.extra },
            { delivered: N, duplicated: 0, lost: 0, extra: 0 });
        // Exactly one extra request per scripted failure, and the failures
        // are the script's, in order.
        // (in the order they reached the proxy, which may differ from the
        // order the simulator took its script in: sort)
        assert.deepEqual(failures.map((f) => String(f.status)).sort(), [...SCRIPT.map((s) => s.split(':')[0])].sort());
        assert.equal(reqs.length, N + SCRIPT.length);
        // The Retry-After of 2 s is honoured to the millisecond scale; the
        // 5xx wait the jittered backoff (half to all of 200 ms at first);
        // the hang is only given up after the timeout.
        for (const g of gaps) {
            if (g.status === 429) assert.ok(g.waited >= 2000, `429 Retry-After 2: retried after ${g.waited} ms`);
            else if (g.status === 'hang') assert.ok(g.since >= TIMEOUT_MS, `hang: retried ${g.since} ms after the request (timeout ${TIMEOUT_MS})`);
            else assert.ok(g.waited >= 100, `${g.status}: retried after ${g.waited} ms`);
        }
        assert.deepEqual(await states(redis, ack.case), { total: N, delivered: N });
    });

    test('a forged status callback changes nothing', { timeout: 20000 }, async () => {
        const msgs = sim.messages.slice(-N);
        const before = await dumpDlv(redis);
        const answers = [];
        for (const m of msgs.slice(0, 5)) {
            answers.push((await sim.sendStatus(m, 'failed', { forge: true })).status);
            answers.push((await sim.sendStatus(m, 'undelivered', { signature: '' })).status);
        }
        await delay(300);
        const afterDump = await dumpDlv(redis);
        console.log(`FIGURES sms_twilio_forged: forged callbacks ${answers.length} / refused ${answers.filter((s) => s === 403).length} / state changes ${diffCount(before, afterDump)}`);
        assert.deepEqual(answers, new Array(answers.length).fill(403));
        assert.deepEqual(afterDump, before);
    });
});

describe('a relay killed -9 holding deliveries', () => {
    // Relay A takes a batch of deliveries but sends slowly (rate 2/s), so
    // it dies with most of them read and unsent; relay B, started after,
    // reclaims them (XAUTOCLAIM after outbox-claim-idle-ms) and sends
    // them. A send A had started when it died is either accepted by the
    // provider (then B must not send it again) or, when nobody can tell,
    // dead-lettered "unconfirmed" after outbox-stale-ms: at most once, and
    // visible. Counts are the simulator's own.
    let redis;
    let sim;
    let police;
    let residents;
    let dir;

    before(async () => {
        redis = await startRedis();
        sim = await startTwilioSim({ statusDelayMs: 20 });
        dir = tempDir('buurtrelay-smsfault-kill-');
        police = await makeUser({ role: 'police', redisUrl: redis.url });
        residents = await addResidents(redis.url, N, 31000000);
    });
    after(async () => {
        await sim?.close();
    });

    const config = (port, more) => [
        'adapter twilio',
        `twilio.api-url ${sim.url}`,
        `twilio.account-sid ${sim.accountSid}`,
        `twilio.auth-token-file ${secretFile(dir, 'twilio.token', sim.authToken)}`,
        'twilio.from +3197010000001',
        `twilio.public-url http://127.0.0.1:${port}`,
        'twilio.timeout-ms 1000',
        'outbox-claim-idle-ms 1000',
        'outbox-claim-interval-ms 300',
        'outbox-stale-ms 3000',
        ...more,
    ].join('\n');

    test('another relay reclaims them: every resident once, nothing lost silently', { timeout: 45000 }, async () => {
        const tag = `K${randomBytes(3).toString('hex')}`;
        const portA = await relayPort();
        const a = await startRelayOn({ redisUrl: redis.url, port: portA, extraConfig: config(portA, ['twilio.rate 2', 'twilio.burst 1']) });
        const ack = await appeal(a, police, 'smsfault-kill', tag);
        const ours = () => sim.messages.filter((m) => m.body.includes(tag));
        await until('A sent a few', () => ours().length >= 2, 15000);
        await a.stop('SIGKILL');
        const killedAt = Date.now();
        const sentByA = ours().length;
        const portB = await relayPort();
        const b = await startRelayOn({ redisUrl: redis.url, port: portB, extraConfig: config(portB, []) });
        const dead = async () => (await redisCommand(redis.port, ['XRANGE', 'dead:twilio', '-', '+']))
            .filter(([, f]) => f.includes(ack.case) && f.includes('unconfirmed')).length;
        await until('every resident reached or accounted for', async () => tally(ours(), residents).delivered + await dead() >= N, 25000);
        const doneAt = Date.now();
        await delay(1500); // a duplicate would show by now
        const t = tally(ours(), residents);
        const unconfirmed = await dead();
        const metrics = await (await fetch(`${b.http}/metrics`)).text();
        const claimed = Number(metrics.match(/^buurtrelay_outbox_deliveries_total\{event="claimed"\} (\d+)$/m)?.[1] ?? 0);
        figures('kill9_reclaim', { queued: N, ...t }, [
            `sent by A before the kill ${sentByA}`, `reclaimed by B ${claimed}`,
            `dead-lettered unconfirmed ${unconfirmed}`, `all accounted for ${doneAt - killedAt} ms after the kill`,
        ]);
        assert.equal(t.duplicated, 0, 'nobody got the appeal twice');
        assert.equal(t.extra, 0);
        assert.equal(t.delivered + unconfirmed, N, 'every delivery sent once or visibly dead-lettered');
        assert.ok(unconfirmed <= 1, 'at most the one send A had in flight is unconfirmed');
        // A held a batch (outbox-batch) it had read but not sent: B must
        // have taken those over (the rest B read afresh)
        assert.ok(claimed >= 1, `B reclaimed A's unsent deliveries (${claimed})`);
        await b.stop();
    });
});

// Every dlv:* hash and string (states, summaries, delivery records): for
// "nothing changed" checks.
async function dumpDlv(redis) {
    const out = {};
    let cursor = '0';
    do {
        const [next, keys] = await redisCommand(redis.port, ['SCAN', cursor, 'MATCH', 'dlv:*', 'COUNT', '1000']);
        cursor = next;
        for (const k of keys) {
            const type = await redisCommand(redis.port, ['TYPE', k]);
            if (type === 'hash') out[k] = await redisHash(redis, k);
            else if (type === 'string') out[k] = await redisCommand(redis.port, ['GET', k]);
        }
    } while (cursor !== '0');
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function diffCount(a, b) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    let n = 0;
    for (const k of keys) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) n++;
    return n;
}
