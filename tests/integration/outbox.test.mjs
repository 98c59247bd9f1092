// outbox.test.mjs - SMS delivery end to end (issue 6).
//
// Part 1 runs now: the Twilio simulator (sms_sim.mjs) checked against
// Twilio's documented behaviour, so the daemon tests below can trust it:
// request validation, 201 resource, 429 + Retry-After, 500, a hang, bad
// credentials, status callbacks signed exactly as Twilio signs (checked
// with the example from Twilio's security docs), forged ones not.
//
// Part 2 runs through the daemon (relay/outbox.h: config keys "adapter
// kannel", "kannel.*", "twilio.*", webhooks at /hooks/{adapter}/...,
// post.c enqueueing appeals for residents with a phone; Kannel suite
// skipped only when Kannel is not installed). The tests are written
// against the Redis data model of relay/outbox.h.

import http from 'node:http';
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import {
    test, freePort, startRedis, makeUser, connect, alert, redisCommand, tempDir, ctl,
    RELAY_BIN, SRC, childEnv, spawnTracked, stopTracked, waitForStatus, writeConfig,
} from './harness.mjs';
import { kannelMissing, startKannel } from './kannel.mjs';
import { startTwilioSim, twilioSignature } from './sms_sim.mjs';

// A receiver standing in for the relay's webhooks in part 1.
async function startReceiver() {
    const port = await freePort();
    const hits = [];
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            hits.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
            res.writeHead(200).end();
        });
    });
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${port}`, hits, close: () => new Promise((r) => server.close(r)) };
}

function send(sim, form, { auth = `${sim.accountSid}:${sim.authToken}`, timeoutMs = 3000 } = {}) {
    return fetch(`${sim.url}/2010-04-01/Accounts/${sim.accountSid}/Messages.json`, {
        method: 'POST',
        headers: {
            Authorization: `Basic ${Buffer.from(auth).toString('base64')}`,
            'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(timeoutMs),
    });
}

describe('twilio simulator', () => {
    let sim;
    let rx;

    before(async () => {
        rx = await startReceiver();
        sim = await startTwilioSim({ statusDelayMs: 10 });
    });
    after(async () => {
        await sim?.close();
        await rx?.close();
    });

    test('signs like Twilio (the documented example)', () => {
        const params = {
            CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234',
            From: '+12349013030', To: '+18005551212',
        };
        assert.equal(twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', params),
            '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    });

    test('201 with a message resource, then signed sent/delivered callbacks', async () => {
        const cb = `${rx.url}/hooks/twilio/status?d=d1`;
        const res = await send(sim, { To: '+31612345678', From: '+3197010000001', Body: 'Vermist 🚨', StatusCallback: cb });
        assert.equal(res.status, 201);
        const body = await res.json();
        assert.match(body.sid, /^SM[0-9a-f]{32}$/);
        assert.equal(body.status, 'queued');
        assert.equal(body.num_segments, '1');
        const deadline = Date.now() + 5000;
        while (rx.hits.length < 2 && Date.now() < deadline) await delay(10);
        assert.deepEqual(rx.hits.map((h) => new URLSearchParams(h.body).get('MessageStatus')), ['sent', 'delivered']);
        for (const h of rx.hits) {
            const params = Object.fromEntries(new URLSearchParams(h.body));
            assert.equal(h.headers['x-twilio-signature'], twilioSignature(sim.authToken, cb, params));
            assert.equal(params.MessageSid, body.sid);
        }
    });

    test('a forged callback carries a signature that does not verify', async () => {
        const [msg] = sim.messages;
        rx.hits.length = 0;
        await sim.sendStatus(msg, 'failed', { forge: true });
        const h = rx.hits[0];
        assert.notEqual(h.headers['x-twilio-signature'],
            twilioSignature(sim.authToken, msg.statusCallback, Object.fromEntries(new URLSearchParams(h.body))));
    });

    test('scripted failures: 429 with Retry-After, 500, a hang; then 201', async () => {
        sim.script('429:2', '500', 'hang');
        const form = { To: '+31612345678', From: '+3197010000001', Body: 'x' };
        const r1 = await send(sim, form);
        assert.equal(r1.status, 429);
        assert.equal(r1.headers.get('retry-after'), '2');
        assert.equal((await r1.json()).code, 20429);
        const r2 = await send(sim, form);
        assert.equal(r2.status, 500);
        await assert.rejects(send(sim, form, { timeoutMs: 300 }), /abort|timeout/i);
        const r4 = await send(sim, form);
        assert.equal(r4.status, 201);
    });

    test('validation: bad credentials 401, invalid To 400/21211, no Body 400/21602', async () => {
        const r1 = await send(sim, { To: '+31612345678', From: '+3197010000001', Body: 'x' }, { auth: 'ACtest:wrong' });
        assert.equal(r1.status, 401);
        assert.equal((await r1.json()).code, 20003);
        const r2 = await send(sim, { To: '0612345678', From: '+3197010000001', Body: 'x' });
        assert.equal(r2.status, 400);
        assert.equal((await r2.json()).code, 21211);
        const r3 = await send(sim, { To: '+31612345678', From: '+3197010000001' });
        assert.equal((await r3.json()).code, 21602);
    });

    test('an incoming SMS is posted signed to the MO webhook', async () => {
        rx.hits.length = 0;
        const url = `${rx.url}/hooks/twilio/mo`;
        await sim.sendMo({ url, from: '+31612345678', body: 'Gezien bij station' });
        const h = rx.hits[0];
        const params = Object.fromEntries(new URLSearchParams(h.body));
        assert.equal(params.Body, 'Gezien bij station');
        assert.equal(h.headers['x-twilio-signature'], twilioSignature(sim.authToken, url, params));
    });
});

// ---------------------------------------------------------------------------
// Part 2: through the daemon. Config the relay needs (see the report of
// the outbox work): one "adapter NAME" line per channel and NAME.KEY lines
// for its options; secrets in files.

const B1 = 'BU01060101';
// One SMS part: fakesmsc logs every part of a concatenated SMS as its own
// message, and these tests count messages per recipient.
const SHORT = 'Blauwe jas, grijze pet. Gezien? Bel 112.';

function secretFile(dir, name, value) {
    const f = path.join(dir, name);
    writeFileSync(f, `${value}\n`, { mode: 0o600 });
    return f;
}

// The relay on a port chosen beforehand (providers must know the relay's
// URL before it starts): harness.startRelay() picks its own port.
async function startRelay({ redisUrl, extraConfig, port }) {
    const config = writeConfig(extraConfig);
    const proc = spawnTracked(`buurtrelay :${port}`, RELAY_BIN, [
        '--config', config, '--listen', `127.0.0.1:${port}`, '--redis', redisUrl,
    ], { cwd: SRC, env: childEnv() });
    const http = `http://127.0.0.1:${port}`;
    try {
        await waitForStatus(`${http}/readyz`, 200, { timeoutMs: 10000, proc });
    } catch (e) {
        await stopTracked(proc, 'SIGKILL');
        throw new Error(`buurtrelay :${port} not ready: ${e.message}\n${proc.logs()}`);
    }
    return {
        port, config: extraConfig, url: `ws://127.0.0.1:${port}/ws`, http, proc,
        logs: proc.logs, stop: (signal = 'SIGTERM') => stopTracked(proc, signal),
    };
}

// The case's event log has a tip by 'userId' (a reply made into a tip).
async function hasTip(redis, caseId, userId) {
    const events = await redisCommand(redis.port, ['XRANGE', `case:${caseId}:events`, '-', '+']);
    return events.some(([, f]) => f.includes('tip') && f.some((v) => String(v).includes(userId)));
}

async function redisHash(redis, key) {
    const flat = await redisCommand(redis.port, ['HGETALL', key]);
    const out = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
    return out;
}

async function waitFor(what, fn, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await delay(100);
    }
}

describe('sms through kannel and the relay', { skip: kannelMissing() ?? false }, () => {
    const TOKEN = `kt_${randomBytes(12).toString('hex')}`;
    let redis;
    let relay;
    let kannel;
    let police;
    const residents = [];

    before(async () => {
        redis = await startRedis();
        const dir = tempDir('buurtrelay-sms-');
        const relayPort = await freePort();
        kannel = await startKannel({ relayUrl: `http://127.0.0.1:${relayPort}`, webhookToken: TOKEN });
        relay = await startRelay({
            redisUrl: redis.url,
            port: relayPort,
            extraConfig: [
                'adapter kannel',
                `kannel.sendsms-url ${kannel.sendsmsUrl}`,
                `kannel.password-file ${secretFile(dir, 'kannel.pw', kannel.password)}`,
                `kannel.webhook-token-file ${secretFile(dir, 'kannel.token', TOKEN)}`,
                'kannel.from 3197010000001',
                `kannel.public-url http://127.0.0.1:${relayPort}`,
                'kannel.max-parts 3',
            ].join('\n'),
        });
        police = await makeUser({ role: 'police', redisUrl: redis.url });
        for (let i = 0; i < 5; i++)
            residents.push(await makeUser({ role: 'resident', buurten: [B1], phone: `+3161234560${i}`, redisUrl: redis.url }));
    });

    test('an appeal reaches every SMS recipient exactly once, with delivery reports', async () => {
        const pol = await connect(relay.url, { token: police.token });
        const ack = await pol.postOk('sms-appeal-1', alert([B1], { body: SHORT }));
        const got = await kannel.waitReceived(residents.length);
        const to = got.map((m) => m.to).sort();
        assert.deepEqual(to, residents.map((_, i) => `+3161234560${i}`).sort());
        await waitFor('all delivered', async () => Number((await redisHash(redis, `dlv:${ack.case}:summary`))['kannel:delivered']) === residents.length);
        await delay(1000);
        assert.equal(kannel.received().length, residents.length); // no duplicates
        pol.close();
    });

    test('the SMS centre down during the appeal: everything arrives once it is back', async () => {
        const before = kannel.received().length;
        await kannel.stopSmsc();
        const pol = await connect(relay.url, { token: police.token });
        await pol.postOk('sms-appeal-2', alert([B1], { title: 'Vermist: vrouw 80', body: SHORT }));
        await delay(1500);
        await kannel.startSmsc();
        await kannel.waitReceived(before + residents.length);
        pol.close();
    });

    test('bearerbox killed mid-run: nothing lost', async () => {
        const before = kannel.received().length;
        await kannel.stopSmsc();
        const pol = await connect(relay.url, { token: police.token });
        await pol.postOk('sms-appeal-3', alert([B1], { title: 'Vermist: kind 7', body: SHORT }));
        await delay(1500);
        await kannel.killBearerbox();
        await kannel.restartBoxes();
        await kannel.startSmsc();
        await kannel.waitReceived(before + residents.length, { timeoutMs: 30000 });
        pol.close();
    });

    test('an SMS reply becomes a tip at the case the resident last received', async () => {
        const pol = await connect(relay.url, { token: police.token });
        const ack = await pol.postOk('sms-appeal-4', alert([B1], { title: 'Vermist: man 60', body: SHORT }));
        await kannel.waitReceived(kannel.received().length + residents.length);
        // A reply is about the case whose SMS last reached the sender.
        await waitFor('dlv:last', async () => (await redisCommand(redis.port, ['GET', `dlv:last:${residents[0].id}`])) === ack.case);
        await kannel.sendMo('31612345600', 'Gezien bij het station');
        await waitFor('the tip', async () => {
            const inbox = await redisCommand(redis.port, ['XRANGE', 'mo:inbox', '-', '+']);
            return inbox.some(([, f]) => f.includes(ack.case) && f.includes(residents[0].id));
        });
        await waitFor('the tip on the case', () => hasTip(redis, ack.case, residents[0].id));
        pol.close();
    });

    test('a reply sent while the relay is down still arrives', async () => {
        await relay.stop();
        await kannel.sendMo('31612345601', 'Tweede tip');
        await delay(1000);
        relay = await startRelay({ redisUrl: redis.url, extraConfig: relay.config, port: relay.port });
        await waitFor('the late tip', async () => {
            const inbox = await redisCommand(redis.port, ['XRANGE', 'mo:inbox', '-', '+']);
            return inbox.some(([, f]) => f.includes(residents[1].id));
        });
    });

    test('a 600-character text with emoji is refused at compose time, never truncated', async () => {
        const pol = await connect(relay.url, { token: police.token });
        const body = `🚨 ${'Loopt verward, blauwe jas, grijze pet. '.repeat(15)}`.slice(0, 600);
        const r = await pol.post('sms-long', alert([B1], { body }));
        assert.equal(r.type, 'error');
        assert.equal(r.code, 'too_large');
        assert.match(r.message, /\d+ SMS parts/);
        pol.close();
    });
});

describe('sms through the twilio simulator and the relay', () => {
    let redis;
    let relay;
    let sim;
    let police;
    let resident;

    before(async () => {
        redis = await startRedis();
        sim = await startTwilioSim();
        const dir = tempDir('buurtrelay-twilio-');
        const relayPort = await freePort();
        relay = await startRelay({
            redisUrl: redis.url,
            port: relayPort,
            extraConfig: [
                'adapter twilio',
                `twilio.api-url ${sim.url}`,
                `twilio.account-sid ${sim.accountSid}`,
                `twilio.auth-token-file ${secretFile(dir, 'twilio.token', sim.authToken)}`,
                'twilio.from +3197010000001',
                `twilio.public-url http://127.0.0.1:${relayPort}`,
                'twilio.timeout-ms 1000',
                'outbox-backoff-min-ms 200',
            ].join('\n'),
        });
        police = await makeUser({ role: 'police', redisUrl: redis.url });
        resident = await makeUser({ role: 'resident', buurten: [B1], phone: '+31612345678', redisUrl: redis.url });
    });
    after(async () => sim?.close());

    async function appeal(idem, extra = {}) {
        const pol = await connect(relay.url, { token: police.token });
        const ack = await pol.postOk(idem, alert([B1], extra));
        pol.close();
        return ack;
    }

    test('429 with Retry-After: sent once, not before the provider allowed', async () => {
        sim.script('429:2');
        const before = sim.requests.length;
        const ack = await appeal('tw-429');
        await sim.waitMessages(1);
        const reqs = sim.requests.slice(before);
        assert.equal(reqs.length, 2);
        assert.ok(reqs[1].at - reqs[0].at >= 2000);
        await waitFor('delivered', async () => (await redisHash(redis, `dlv:${ack.case}`)) && Object.values(await redisHash(redis, `dlv:${ack.case}`)).includes('delivered'));
    });

    test('500 then success: one message', async () => {
        sim.script('500');
        const n = sim.messages.length;
        await appeal('tw-500', { title: 'Vermist: man 70' });
        await sim.waitMessages(n + 1);
        await delay(1000);
        assert.equal(sim.messages.length, n + 1);
    });

    test('a hanging provider: timeout, retry, sent', async () => {
        sim.script('hang');
        const n = sim.messages.length;
        await appeal('tw-hang', { title: 'Vermist: man 71' });
        await sim.waitMessages(n + 1);
    });

    test('a forged status callback is refused and changes nothing', async () => {
        const ack = await appeal('tw-forged', { title: 'Vermist: man 72' });
        const msgs = await sim.waitMessages(sim.messages.length);
        const msg = msgs.at(-1);
        await waitFor('delivered', async () => Object.values(await redisHash(redis, `dlv:${ack.case}`)).includes('delivered'));
        const r = await sim.sendStatus(msg, 'failed', { forge: true });
        assert.equal(r.status, 403);
        const states = await redisHash(redis, `dlv:${ack.case}`);
        assert.ok(Object.values(states).every((s) => s === 'delivered'));
    });

    test('an SMS reply through Twilio becomes a tip at the right case', async () => {
        const n = sim.messages.length;
        const ack = await appeal('tw-reply', { title: 'Vermist: man 73' });
        await sim.waitMessages(n + 1);
        // A reply is about the case whose SMS last reached the sender.
        await waitFor('dlv:last', async () => (await redisCommand(redis.port, ['GET', `dlv:last:${resident.id}`])) === ack.case);
        const r = await sim.sendMo({ url: `${relay.http}/hooks/twilio/mo`, from: resident ? '+31612345678' : '', body: 'Gezien!' });
        assert.equal(r.status, 200);
        assert.match(r.contentType, /xml/);
        const inbox = await redisCommand(redis.port, ['XRANGE', 'mo:inbox', '-', '+']);
        assert.ok(inbox.some(([, f]) => f.includes(ack.case)));
        await waitFor('the tip on the case', () => hasTip(redis, ack.case, resident.id));
    });

    test('/readyz includes the outbox; /metrics shows deliveries and queue depths', async () => {
        const ready = await fetch(`${relay.http}/readyz`);
        assert.equal(ready.status, 200);
        const text = await waitFor('queue depths', async () => {
            const t = await (await fetch(`${relay.http}/metrics`)).text();
            return t.includes('buurtrelay_outbox_queue_depth{adapter="twilio",queue="urgent"}') && t;
        });
        assert.match(text, /buurtrelay_outbox_ready 1/);
        assert.match(text, /buurtrelay_outbox_deliveries_total\{event="sent"\} [1-9]/);
        assert.match(text, /buurtrelay_outbox_forged_total [1-9]/);
    });
});

// The SMS recipients of a buurt (sms:buurt:{code}) move with the counters
// in every account change, and an erase takes the person's SMS traces.
describe('sms recipients follow the accounts', () => {
    let redis;

    before(async () => {
        redis = await startRedis();
    });

    const members = async (code) => (await redisCommand(redis.port, ['SMEMBERS', `sms:buurt:${code}`])).sort();
    const ok = async (args) => {
        const r = await ctl(args, { redisUrl: redis.url });
        assert.equal(r.code, 0, r.stderr);
    };

    test('create, set, disable, enable, erase', async () => {
        const B2 = 'BU01060102';
        const a = await makeUser({ role: 'resident', buurten: [B1], phone: '+31612340001', redisUrl: redis.url });
        const b = await makeUser({ role: 'resident', buurten: [B1], redisUrl: redis.url });
        assert.deepEqual(await members(B1), [a.id]);
        await ok(['user', 'set', '--login', b.login, '--phone', '+31612340002']);
        assert.deepEqual(await members(B1), [a.id, b.id].sort());
        await ok(['user', 'set', '--login', a.login, '--buurt', B2]);
        assert.deepEqual(await members(B1), [b.id]);
        assert.deepEqual(await members(B2), [a.id]);
        await ok(['user', 'disable', '--login', a.login]);
        assert.deepEqual(await members(B2), []);
        await ok(['user', 'enable', '--login', a.login]);
        assert.deepEqual(await members(B2), [a.id]);
        await ok(['user', 'set', '--login', b.login, '--no-phone']);
        assert.deepEqual(await members(B1), []);
        const stats = await redisCommand(redis.port, ['HGET', `stats:buurt:${B2}`, 'sms']);
        assert.equal(stats, '1');
        // the person's SMS traces: a reply in mo:inbox, the last case
        await redisCommand(redis.port, ['XADD', 'mo:inbox', '*', 'a', 'kannel', 'u', a.id, 'c', 'c1', 'p', 'x', 'x', 'hoi']);
        await redisCommand(redis.port, ['XADD', 'mo:inbox', '*', 'a', 'kannel', 'u', '', 'c', '', 'p', 'y', 'x', 'ander']);
        await redisCommand(redis.port, ['SET', `dlv:last:${a.id}`, 'c1']);
        const exp = await ctl(['export', '--login', a.login], { redisUrl: redis.url });
        assert.equal(exp.code, 0, exp.stderr);
        const doc = JSON.parse(exp.stdout);
        assert.deepEqual(doc.sms.buurten, [B2]);
        assert.equal(doc.sms.last_case, 'c1');
        assert.deepEqual(doc.sms.replies.map((r) => r.text), ['hoi']);
        await ok(['erase', '--login', a.login]);
        assert.deepEqual(await members(B2), []);
        assert.equal(await redisCommand(redis.port, ['HGET', `stats:buurt:${B2}`, 'sms']), '0');
        const inbox = await redisCommand(redis.port, ['XRANGE', 'mo:inbox', '-', '+']);
        assert.equal(inbox.length, 1);
        assert.ok(!inbox[0][1].includes(a.id));
        assert.equal(await redisCommand(redis.port, ['EXISTS', `dlv:last:${a.id}`]), 0);
    });

    test('sms rebuild fills the sets for accounts stored before them', async () => {
        const c = await makeUser({ role: 'resident', buurten: [B1], phone: '+31612340003', redisUrl: redis.url });
        await makeUser({ role: 'resident', buurten: [B1], redisUrl: redis.url });
        await redisCommand(redis.port, ['DEL', `sms:buurt:${B1}`]);
        const r = await ctl(['sms', 'rebuild'], { redisUrl: redis.url });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /1 added/);
        assert.deepEqual(await members(B1), [c.id]);
    });
});
