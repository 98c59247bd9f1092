// protocol.test.mjs - frame-level rules of the wire contract against one
// relay: replies, bad frames, limits, refusals. After each abuse, clients
// that were already connected must still be served.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before } from 'node:test';
import {
    test, startRedis, startRelay, makeUser, connect, alert, isMessageOn, httpGet, REPO_CONFIG,
} from './harness.mjs';

const B1 = 'BU01060101';
const CH1 = `buurt:${B1}`;

// The frame limit of the config the relay runs with (contract: >= 16 KiB).
const MAX_FRAME = (() => {
    const m = /^\s*max-frame\s+(\d+)\s*$/m.exec(readFileSync(REPO_CONFIG, 'utf8'));
    return m ? Number(m[1]) : 16384;
})();

let relay;
let police;
let resident;
let policeClient;
let observer; // anonymous, connected from the start, subscribed to CH1

let postCounter = 0;
const pid = (prefix) => `${prefix}-${++postCounter}`;

before(async () => {
    const redis = await startRedis();
    relay = await startRelay({ redisUrl: redis.url });
    police = await makeUser({ role: 'police' });
    resident = await makeUser({ role: 'resident', buurten: [B1] });
    policeClient = await connect(relay.url, { token: police.token, name: 'police' });
    observer = await connect(relay.url, { name: 'observer' });
    await observer.subscribe(CH1);
});

// The relay still serves its other clients: pong, and a post reaches the
// subscribed observer as the very next message (nothing else slipped in).
async function assertStillServing() {
    await observer.ping();
    const ack = await policeClient.postOk(pid('control'), alert(B1, { title: 'Vermist: man 70' }));
    const m = await observer.next(isMessageOn(CH1), 5000);
    assert.equal(m.msg.case, ack.case);
    assert.deepEqual(ack.published, [{ channel: CH1, seq: m.seq }]);
    assert.deepEqual(observer.pending('message'), []);
}

function assertError(frame, code, { ref, id } = {}) {
    assert.equal(frame.type, 'error', JSON.stringify(frame));
    assert.equal(frame.code, code, JSON.stringify(frame));
    assert.equal(typeof frame.message, 'string');
    assert.ok(frame.message.length > 0, 'error.message is not empty');
    if (ref !== undefined) assert.equal(frame.ref, ref);
    if (id !== undefined) assert.equal(frame.id, id);
}

// A frame of exactly 'size' bytes: a ping padded with an unknown field.
function paddedPing(ref, size) {
    const head = `{"type":"ping","ref":"${ref}","pad":"`;
    const tail = '"}';
    const n = size - head.length - tail.length;
    assert.ok(n >= 0);
    const s = head + 'x'.repeat(n) + tail;
    assert.equal(Buffer.byteLength(s), size);
    return s;
}

test('ping with ref answers pong with the same ref', async () => {
    const c = await connect(relay.url);
    c.send({ type: 'ping', ref: 'ping-ref-1' });
    const pong = await c.next((f) => f.type === 'pong');
    assert.equal(pong.ref, 'ping-ref-1');
    await c.close();
});

test('malformed JSON gets bad_request and the connection stays open', async () => {
    const c = await connect(relay.url);
    c.sendRaw('{"type":"ping",');
    assertError(await c.next('error'), 'bad_request');
    c.sendRaw('not json at all');
    assertError(await c.next('error'), 'bad_request');
    await c.ping();
    assert.equal(c.closeInfo, null);
    await c.close();
    await assertStillServing();
});

test('non-object frames, duplicate keys, case-variant keys and unknown types get bad_request', async () => {
    const c = await connect(relay.url);
    const cases = [
        ['[{"type":"ping"}]', undefined],
        ['"ping"', undefined],
        ['42', undefined],
        ['null', undefined],
        ['{"type":"ping","type":"ping"}', undefined],
        ['{"type":"ping","ref":"dup-1","ref":"dup-2"}', undefined],
        ['{"TYPE":"ping","ref":"case-1"}', undefined],
        ['{"Type":"ping","ref":"case-2"}', undefined],
        ['{"type":"PING","ref":"case-3"}', 'case-3'],
        ['{"type":"shout","ref":"unknown-1"}', 'unknown-1'],
        ['{"ref":"notype-1"}', undefined],
    ];
    for (const [raw, ref] of cases) {
        c.sendRaw(raw);
        const err = await c.next(() => true);
        assert.equal(err.type, 'error', `reply to ${raw}: ${JSON.stringify(err)}`);
        assert.equal(err.code, 'bad_request', `reply to ${raw}: ${JSON.stringify(err)}`);
        if (ref !== undefined) assert.equal(err.ref, ref, `ref echoed for ${raw}`);
    }
    await c.ping();
    await c.close();
    await assertStillServing();
});

test(`a frame of max-frame (${MAX_FRAME}) bytes is served; one byte more closes with 1009`, async () => {
    assert.ok(MAX_FRAME >= 16384, 'the sample config allows a 16 KiB frame');
    const ok = await connect(relay.url, { name: 'at-limit' });
    ok.sendRaw(paddedPing('at-limit', MAX_FRAME));
    const pong = await ok.next((f) => f.ref === 'at-limit', 5000);
    assert.equal(pong.type, 'pong');
    await ok.close();

    const big = await connect(relay.url, { name: 'over-limit' });
    big.sendRaw(paddedPing('over-limit', MAX_FRAME + 1));
    const closed = await big.closed;
    assert.equal(closed.code, 1009);
    assert.deepEqual(big.pending((f) => f.type === 'pong'), [], 'the oversized ping was not answered');
    await assertStillServing();
});

test('invalid UTF-8 in a text frame closes with 1007', async () => {
    const c = await connect(relay.url);
    c.sendRaw(Buffer.from([0x7b, 0x22, 0x74, 0xff, 0x22, 0x7d]), { binary: false }); // {"t\xff"}
    const closed = await c.closed;
    assert.equal(closed.code, 1007);
    await assertStillServing();
});

test('a binary frame gets bad_request or close 1003', async (t) => {
    const c = await connect(relay.url);
    c.sendRaw(Buffer.from('{"type":"ping","ref":"bin-1"}'), { binary: true });
    const outcome = await Promise.race([
        c.next(() => true, 5000).then((frame) => ({ frame })),
        c.closed.then((closed) => ({ closed })),
    ]);
    if (outcome.frame) {
        t.diagnostic('binary frame answered with an error frame');
        assertError(outcome.frame, 'bad_request');
        await c.ping(); // an error reply means the connection goes on
        await c.close();
    } else {
        t.diagnostic('binary frame answered by closing the connection');
        assert.equal(outcome.closed.code, 1003);
    }
    await assertStillServing();
});

test('an anonymous alert is unauthorized, a resident alert is forbidden (id echoed)', async () => {
    const anon = await connect(relay.url, { name: 'anon poster' });
    const id1 = pid('anon-alert');
    assertError(await anon.post(id1, alert(B1)), 'unauthorized', { id: id1 });
    await anon.close();

    const res = await connect(relay.url, { token: resident.token, name: 'resident' });
    assert.equal(res.welcome.user.role, 'resident');
    const id2 = pid('resident-alert');
    assertError(await res.post(id2, alert(B1)), 'forbidden', { id: id2 });
    await res.close();

    // Neither reached the buurt: the next message the observer sees is the control post.
    await assertStillServing();
});

test('subscribing to an invalid channel name is bad_request', async () => {
    const c = await connect(relay.url);
    const bad = [
        'buurt:bu01060101', 'buurt:BU0106010', 'buurt:BU010601011', 'buurt:BU0106010x',
        'buurt:', 'BU01060101', 'wijk:WK010601', 'desk:XX010601', 'desk:WK01060',
        'user:', 'case:a b', `buurt:${B1} `, ` buurt:${B1}`, `case:${'a'.repeat(65)}`,
    ];
    for (const channel of bad) {
        const reply = await c.request({ type: 'subscribe', channel, ref: `bad:${channel}` });
        assertError(reply, 'bad_request', { ref: `bad:${channel}` });
    }
    c.send({ type: 'subscribe', ref: 'no-channel' });
    assertError(await c.next((f) => f.ref === 'no-channel'), 'bad_request');
    c.send({ type: 'subscribe', channel: 42, ref: 'num-channel' });
    assertError(await c.next((f) => f.ref === 'num-channel'), 'bad_request');
    await c.close();
});

test('desk and user channels need a login; a resident may not read a desk', async () => {
    const anon = await connect(relay.url);
    assertError(await anon.request({ type: 'subscribe', channel: 'desk:WK010601', ref: 'desk-anon' }), 'unauthorized', { ref: 'desk-anon' });
    assertError(await anon.request({ type: 'subscribe', channel: `user:${resident.id}`, ref: 'user-anon' }), 'unauthorized', { ref: 'user-anon' });
    await anon.close();

    const res = await connect(relay.url, { token: resident.token, name: 'resident' });
    assertError(await res.request({ type: 'subscribe', channel: 'desk:WK010601', ref: 'desk-res' }), 'forbidden', { ref: 'desk-res' });
    const own = await res.request({ type: 'subscribe', channel: `user:${resident.id}`, ref: 'user-own' });
    assert.equal(own.type, 'subscribed', JSON.stringify(own));
    assert.equal(own.channel, `user:${resident.id}`);
    await res.close();

    const pol = await connect(relay.url, { token: police.token, name: 'police desk' });
    const desk = await pol.request({ type: 'subscribe', channel: 'desk:WK010601', ref: 'desk-pol' });
    assert.equal(desk.type, 'subscribed', JSON.stringify(desk));
    await pol.close();
});

test('GET /healthz answers 200', async () => {
    const r = await httpGet(`${relay.http}/healthz`);
    assert.equal(r.status, 200);
});

test('an upgrade without the subprotocol is refused or served, never answered with an unrequested subprotocol', async (t) => {
    // protocol.md names the subprotocol but does not say whether a client
    // that offers none is refused, so both are accepted here. RFC 6455 4.1:
    // the server must not select a subprotocol the client did not offer
    // (the ws client fails the handshake if it does).
    let c;
    try {
        c = await connect(relay.url, { protocol: null, name: 'no subprotocol' });
    } catch (e) {
        assert.ok(e.statusCode >= 400 && e.statusCode < 500, `refused with ${e.statusCode ?? e.message}`);
        t.diagnostic(`upgrade without subprotocol refused with HTTP ${e.statusCode}`);
        return;
    }
    assert.equal(c.ws.protocol, '');
    t.diagnostic('upgrade without subprotocol accepted');
    await c.ping();
    await c.close();
});
