// security.test.mjs - refusals with the right error and an audit entry,
// limits per user and per IP, and privacy: no phone number, token or report
// text in Redis in clear, in logs, or in what other residents receive
// (issue "Accounts, roles and security").

import assert from 'node:assert/strict';
import { before } from 'node:test';
import WebSocket from 'ws';
import {
    test, startRedis, startRelay, makeUser, connect, connectOutcome, ctl,
    dumpRedis, alert, isMessageOn, SUBPROTOCOL,
} from './harness.mjs';

const PHONE = '+31612345678';
let redis;
let relay;
let police;
let boa;
let resident;
let other;

before(async () => {
    redis = await startRedis();
    relay = await startRelay({
        redisUrl: redis.url,
        extraConfig: {
            'rate-frames': 5, 'rate-frames-burst': 10,
            'rate-anon-posts': 2, 'max-conns-per-ip': 20,
        },
    });
    police = await makeUser({ role: 'police', redisUrl: redis.url });
    boa = await makeUser({ role: 'boa', wijken: ['WK010601'], redisUrl: redis.url });
    resident = await makeUser({ role: 'resident', buurten: ['BU01060101'], phone: PHONE, redisUrl: redis.url });
    other = await makeUser({ role: 'resident', buurten: ['BU01060101'], redisUrl: redis.url });
});

async function auditLines() {
    const r = await ctl(['audit', 'list', '--count', '500'], { redisUrl: redis.url });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
}

test('refusals answer the right error and leave an audit entry', async () => {
    const res = await connect(relay.url, { token: resident.token, name: 'resident' });
    const b = await connect(relay.url, { token: boa.token, name: 'boa' });
    const anon = await connect(relay.url, { name: 'anonymous' });

    const a1 = await res.post('sec-alert', alert(['BU01060101']));
    assert.equal(a1.code, 'forbidden');
    const a2 = await res.request({ type: 'subscribe', channel: `user:${other.id}` });
    assert.equal(a2.code, 'forbidden');
    const a3 = await b.post('sec-boa', alert(['BU01060301']));
    assert.equal(a3.code, 'forbidden');
    const a4 = await anon.request({ type: 'subscribe', channel: 'desk:WK010601' });
    assert.equal(a4.code, 'unauthorized');
    const a5 = await anon.request({ type: 'auth', token: 'br1.e30.AAAA' });
    assert.equal(a5.code, 'unauthorized');
    // "alg none"-style: another prefix, no signature.
    const none = await connectOutcome(relay.url, { token: 'br0.eyJzdWIiOiJ4In0.' });
    assert.equal(none.kind, 'rejected');
    assert.equal(none.statusCode, 401);

    // A browser from another site is refused before the upgrade.
    const status = await new Promise((resolve) => {
        const ws = new WebSocket(relay.url, SUBPROTOCOL, { headers: { Origin: 'http://evil.example' } });
        ws.on('unexpected-response', (req, r) => { resolve(r.statusCode); ws.terminate(); });
        ws.on('open', () => { resolve(101); ws.close(); });
        ws.on('error', () => {});
    });
    assert.equal(status, 403);

    await new Promise((r) => setTimeout(r, 300)); // audit writes are async
    const lines = await auditLines();
    const has = (actor, action, target) => lines.some((l) => {
        const f = l.split(' ');
        return f[2] === actor && f[4] === action && (target === undefined || f[5] === target) && f[6] === 'denied';
    });
    assert.ok(has(resident.id, 'deny.post.alert'), lines.join('\n'));
    assert.ok(has(resident.id, 'deny.subscribe', `user:${other.id}`));
    assert.ok(has(boa.id, 'deny.post.alert'));
    assert.ok(has('anonymous', 'deny.subscribe', 'desk:WK010601'));
    assert.ok(has('anonymous', 'token.refuse'));
    assert.ok(has('anonymous', 'deny.origin'));
    const verify = await ctl(['audit', 'verify'], { redisUrl: redis.url });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    for (const c of [res, b, anon]) await c.close();
});

test('officers\' posts are on the audit trail', async () => {
    const pol = await connect(relay.url, { token: police.token });
    const ack = await pol.postOk('sec-ok', alert(['BU01060101']));
    await new Promise((r) => setTimeout(r, 300));
    const lines = await auditLines();
    assert.ok(lines.some((l) => l.includes(` ${police.id} police post.alert ${ack.case} ok`)), lines.slice(-5).join('\n'));
    await pol.close();
});

test('flooding past the rate limit gets rate_limited with retry_after; others are unaffected', async () => {
    const flood = await connect(relay.url, { name: 'flood' });
    const calm = await connect(relay.url, { name: 'calm' });
    for (let i = 0; i < 40; i++) flood.send({ type: 'ping', ref: `f${i}` });
    const limited = await flood.next((f) => f.type === 'error' && f.code === 'rate_limited');
    assert.ok(limited.retry_after >= 1);
    // The flooder is still connected and gets pongs again after waiting.
    await new Promise((r) => setTimeout(r, limited.retry_after * 1000));
    flood.queue.length = 0;
    assert.equal((await flood.request({ type: 'ping' })).type, 'pong');
    // Anonymous tips are limited per IP per minute.
    const pol = await connect(relay.url, { token: police.token });
    const ack = await pol.postOk('sec-tips', alert(['BU01060101']));
    const codes = [];
    for (let i = 0; i < 4; i++) {
        const r = await calm.post(`tip-${i}`, { kind: 'tip', case: ack.case, body: 'Gezien bij de kerk.', anonymous: true }, { retries: 0 });
        codes.push(r.type === 'ack' ? 'ack' : r.code);
        await new Promise((res) => setTimeout(res, 250)); // stay under the frame limit
    }
    assert.deepEqual(codes.slice(0, 2), ['ack', 'ack']);
    assert.ok(codes.slice(2).includes('rate_limited'), codes.join(','));
    for (const c of [flood, calm, pol]) await c.close();
});

test('no phone number, token or report text in Redis in clear, in logs or at other residents', async () => {
    const rep = await connect(relay.url, { token: resident.token });
    const neighbour = await connect(relay.url, { token: other.token });
    await neighbour.subscribe('buurt:BU01060101');
    await neighbour.subscribe(`user:${other.id}`);
    const body = 'Vreemde man met rode jas en zwarte pet voelt aan autodeuren in de Lariksstraat.';
    const ack = await rep.postOk('sec-report', { kind: 'report', buurt: 'BU01060101', category: 'verdachte_situatie', body });
    assert.ok(ack.case);
    await neighbour.ping();
    const seen = JSON.stringify(neighbour.pending(() => true));
    assert.ok(!seen.includes(resident.id), 'the reporter is not shown to other residents');
    assert.ok(!seen.includes('Lariksstraat'), 'the report is not shown to other residents');

    for (const { key, values } of await dumpRedis(redis.port)) {
        assert.ok(!key.includes('612345678'), `key ${key}`);
        for (const v of values) {
            assert.ok(!v.includes('612345678'), `${key} holds the phone number`);
            assert.ok(!v.includes(resident.token), `${key} holds a token`);
        }
    }
    const logs = relay.logs();
    assert.ok(!logs.includes('612345678'), 'phone number in the logs');
    assert.ok(!logs.includes(resident.token.slice(4, 40)), 'token in the logs');
    assert.ok(!logs.includes('Lariksstraat'), 'report text in the logs');
    await rep.close();
    await neighbour.close();
});
