// slow.test.mjs - a client that stops reading is closed with 4008 "slow"
// once its send queue passes send-queue-max; a normal client on the same
// buurt misses nothing.
//
// Volume: the kernel buffers a paused loopback socket's data before the
// relay's own queue grows (measured ~2.7 MB here: the sender's buffer
// autotunes up to net.ipv4.tcp_wmem's max, 4 MiB by default), so 400
// alerts of ~2 KB (~0.9 MB) never reach send-queue-max. The police posts
// batches of 100 alerts of ~3.9 KB (at least 400) until the relay's /metrics
// counts a slow close, at most MAX_COUNT. The counter only tells when to
// stop posting (no sleeping); what is asserted is what the clients see.

import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
    test, startRedis, startRelay, makeUser, connect, alert, isMessageOn, httpGet, within,
} from './harness.mjs';

const B1 = 'BU01060101';
const CH1 = `buurt:${B1}`;
const MIN_COUNT = 400;
const MAX_COUNT = 4000; // ~9.4 MB: past any default loopback buffering
const BATCH = 100;
const SEND_QUEUE_MAX = 65536;

let relay;
let police;

before(async () => {
    const redis = await startRedis();
    relay = await startRelay({ redisUrl: redis.url,extraConfig: { 'send-queue-max': SEND_QUEUE_MAX, 'rate-posts': 10000, 'rate-posts-burst': 100000, 'rate-frames': 100000, 'rate-frames-burst': 100000 } });
    police = await makeUser({ role: 'police', redisUrl: redis.url });
});

// ~3.9 KB of description (the contract allows 4000), ending in the number.
function body(n) {
    const line = 'Loopt verward rond met een rollator, draagt een blauwe jas en een grijze pet. ';
    return `${line.repeat(48)}Bericht ${n}.`;
}

async function slowClosesCounted() {
    const r = await httpGet(`${relay.http}/metrics`);
    const m = /^buurtrelay_closed_slow_total\s+(\d+)/m.exec(r.body);
    return m ? Number(m[1]) : null; // null: no such counter, post MAX_COUNT
}

test('a client that stops reading is closed with 4008 "slow"; a reading client gets every alert', async (t) => {
    const slow = await connect(relay.url, { name: 'slow' });
    const normal = await connect(relay.url, { name: 'normal' });
    const s = await slow.subscribe(CH1);
    const n = await normal.subscribe(CH1);
    const pol = await connect(relay.url, { token: police.token, name: 'police' });
    const slowBefore = await slowClosesCounted();

    // Stop reading: the kernel buffers fill, then the relay's queue.
    slow.ws._socket.pause();

    const acks = [];
    while (acks.length < MAX_COUNT) {
        for (let k = 0; k < BATCH; k++) {
            const i = acks.length;
            const post = alert(B1, { title: 'Vermist: man 78', body: body(i) });
            acks.push(await pol.postOk(`slow-${i}`, post));
        }
        if (acks.length >= MIN_COUNT && slowBefore !== null && (await slowClosesCounted()) > slowBefore)
            break;
    }
    t.diagnostic(`posted ${acks.length} alerts of ~${body(0).length} bytes`);

    const msgs = await normal.collect(isMessageOn(CH1), acks.length, 30000);
    msgs.forEach((m, i) => {
        assert.equal(m.seq, n.seq + 1 + i);
        assert.equal(m.msg.case, acks[i].case);
        assert.ok(m.msg.body.endsWith(` Bericht ${i}.`));
    });
    assert.equal(normal.closeInfo, null, 'the reading client stays connected');

    // Read what the slow client was sent before it was cut off, then its close frame.
    slow.ws._socket.resume();
    const closed = await within(slow.closed, 15000);
    const got = slow.pending(isMessageOn(CH1));
    assert.ok(closed, `the slow client was closed (it had received ${got.length} of ${acks.length})`);
    assert.deepEqual(closed, { code: 4008, reason: 'slow' },
        `close of the slow client after ${got.length} of ${acks.length} messages${slow.error ? `, ws error: ${slow.error.message}` : ''}`);

    // What it did get is a gap-free prefix: the relay dropped the client,
    // not messages in the middle.
    assert.ok(got.length < acks.length, `the slow client got ${got.length} of ${acks.length} before being closed`);
    got.forEach((m, i) => assert.equal(m.seq, s.seq + 1 + i));

    await normal.ping();
    await normal.close();
    await pol.close();
});
