// bus.test.mjs - the channel bus across processes: one redis-server, two
// relays A and B. Police posts on B, anonymous residents listen on A.
// Contract: /work/shared/docs/protocol.md (message, ack, subscribe/since).

import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
    test, startRedis, startRelay, makeUser, connect, alert, isMessageOn,
} from './harness.mjs';

const B1 = 'BU01060101';
const B2 = 'BU01060102';
const CH1 = `buurt:${B1}`;
const CH2 = `buurt:${B2}`;
const ISO_WITH_OFFSET = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

let redis;
let relayA;
let relayB;
let police;
let poster; // police connection on B

let postCounter = 0;
const pid = (prefix) => `${prefix}-${++postCounter}`;
const withoutRef = ({ ref, ...rest }) => rest;

before(async () => {
    redis = await startRedis();
    [relayA, relayB] = await Promise.all([
        startRelay({ redisUrl: redis.url }),
        startRelay({ redisUrl: redis.url }),
    ]);
    police = await makeUser({ role: 'police' });
    poster = await connect(relayB.url, { token: police.token, name: 'police@B' });
    assert.equal(poster.welcome.user.role, 'police');
});

function assertAlertMessage(m, { channel, seq, epoch, ack, title, n }) {
    assert.equal(m.type, 'message');
    assert.equal(m.channel, channel);
    assert.equal(m.seq, seq, `seq of ${JSON.stringify(m).slice(0, 200)}`);
    assert.equal(m.epoch, epoch);
    assert.equal(m.msg.kind, 'alert');
    assert.equal(m.msg.case, ack.case);
    if (title !== undefined) assert.equal(m.msg.title, title);
    if (n !== undefined) assert.ok(m.msg.body.endsWith(` Bericht ${n}.`), `body of message ${n}: ${m.msg.body}`);
    assert.equal(m.msg.urgency, 'Immediate');
    assert.equal(m.msg.severity, 'Moderate');
    assert.match(m.msg.sent, ISO_WITH_OFFSET);
}

test('20 alerts posted on B reach a subscriber on A in order, exactly once; another buurt gets none', async () => {
    const sub = await connect(relayA.url, { name: `anon@A ${CH1}` });
    const quiet = await connect(relayA.url, { name: `anon@A ${CH2}` });
    const s1 = await sub.subscribe(CH1);
    assert.equal(s1.channel, CH1);
    assert.equal(typeof s1.epoch, 'string');
    assert.ok(s1.epoch.length > 0, 'epoch is not empty');
    assert.ok(Number.isInteger(s1.seq) && s1.seq >= 0, `subscribed.seq ${s1.seq}`);
    assert.equal('recovered' in s1, false, 'recovered is only sent when since was given');
    const s2 = await quiet.subscribe(CH2);

    const acks = [];
    for (let i = 0; i < 20; i++) {
        const ack = await poster.postOk(pid('bus'), alert(B1, { n: i }));
        assert.deepEqual(ack.published, [{ channel: CH1, seq: s1.seq + 1 + i }]);
        acks.push(ack);
    }
    const msgs = await sub.collect(isMessageOn(CH1), 20, 15000);
    msgs.forEach((m, i) => assertAlertMessage(m, {
        channel: CH1, seq: s1.seq + 1 + i, epoch: s1.epoch, ack: acks[i], title: 'Vermist: man 78', n: i,
    }));
    assert.equal(new Set(acks.map((a) => a.case)).size, 20, 'every alert is its own case');

    // Exactly once: the next message after a sentinel post is the sentinel.
    const sentinel = await poster.postOk(pid('sentinel'), alert(B1, { title: 'Vermist: man 78 (2)' }));
    const after = await sub.next(isMessageOn(CH1), 5000);
    assertAlertMessage(after, { channel: CH1, seq: s1.seq + 21, epoch: s1.epoch, ack: sentinel, title: 'Vermist: man 78 (2)' });
    assert.deepEqual(sub.pending('message'), []);

    // The other buurt saw nothing; its first message is one for it.
    assert.deepEqual(quiet.pending('message'), []);
    const other = await poster.postOk(pid('other'), alert(B2, { title: 'Vermist: vrouw 80' }));
    const first = await quiet.next('message', 5000);
    assertAlertMessage(first, { channel: CH2, seq: s2.seq + 1, epoch: s2.epoch, ack: other, title: 'Vermist: vrouw 80' });
    assert.deepEqual(quiet.pending('message'), []);

    await sub.close();
    await quiet.close();
});

test('replaying a post id returns the identical ack and publishes nothing new', async () => {
    const sub = await connect(relayA.url, { name: `anon@A ${CH1}` });
    const s = await sub.subscribe(CH1);
    const id = pid('idem');
    const post = alert(B1, { title: 'Vermist: vrouw 81' });

    const ack1 = await poster.postOk(id, post);
    assert.equal(ack1.type, 'ack');
    assert.equal(ack1.id, id);
    assert.equal(typeof ack1.case, 'string');
    assert.ok(ack1.case.length > 0, 'ack.case is not empty');
    assert.deepEqual(ack1.published, [{ channel: CH1, seq: s.seq + 1 }]);
    const m1 = await sub.next(isMessageOn(CH1), 5000);
    assertAlertMessage(m1, { channel: CH1, seq: s.seq + 1, epoch: s.epoch, ack: ack1, title: 'Vermist: vrouw 81' });

    const ack2 = await poster.postOk(id, post);
    assert.deepEqual(withoutRef(ack2), withoutRef(ack1));

    // The same user replaying through the other process (a reconnect that
    // landed elsewhere) gets the same ack too: idempotency lives in Redis.
    const policeOnA = await connect(relayA.url, { token: police.token, name: 'police@A' });
    const ack3 = await policeOnA.postOk(id, post);
    assert.deepEqual(withoutRef(ack3), withoutRef(ack1));
    await policeOnA.close();

    const next = await poster.postOk(pid('after-idem'), alert(B1, { title: 'Vermist: vrouw 81 (2)' }));
    assert.deepEqual(next.published, [{ channel: CH1, seq: s.seq + 2 }]);
    const m2 = await sub.next(isMessageOn(CH1), 5000);
    assertAlertMessage(m2, { channel: CH1, seq: s.seq + 2, epoch: s.epoch, ack: next, title: 'Vermist: vrouw 81 (2)' });
    assert.deepEqual(sub.pending('message'), []);
    await sub.close();
});

test('resubscribing with since replays exactly the 50 missed alerts, then live ones', async () => {
    const c1 = await connect(relayA.url, { name: 'anon@A before' });
    const s = await c1.subscribe(CH1);
    const ack0 = await poster.postOk(pid('pre'), alert(B1, { title: 'Vermist: jongen 12' }));
    const last = await c1.next(isMessageOn(CH1), 5000);
    assertAlertMessage(last, { channel: CH1, seq: s.seq + 1, epoch: s.epoch, ack: ack0 });
    await c1.close();

    const acks = [];
    for (let i = 0; i < 50; i++)
        acks.push(await poster.postOk(pid('missed'), alert(B1, { title: 'Vermist: jongen 12', n: i })));
    assert.deepEqual(acks[49].published, [{ channel: CH1, seq: last.seq + 50 }]);

    const c2 = await connect(relayA.url, { name: 'anon@A after' });
    const sub = await c2.subscribe(CH1, { since: { epoch: last.epoch, seq: last.seq } });
    assert.equal(sub.channel, CH1);
    assert.equal(sub.recovered, true);
    assert.equal(sub.epoch, last.epoch);
    assert.equal(sub.seq, last.seq + 50);

    const replay = await c2.collect(isMessageOn(CH1), 50, 15000);
    assert.ok(c2.order(sub) < c2.order(replay[0]), 'subscribed comes before the replayed messages');
    replay.forEach((m, i) => assertAlertMessage(m, {
        channel: CH1, seq: last.seq + 1 + i, epoch: last.epoch, ack: acks[i], title: 'Vermist: jongen 12', n: i,
    }));

    const liveAck = await poster.postOk(pid('live'), alert(B1, { title: 'Vermist: jongen 12 (live)' }));
    const live = await c2.next(isMessageOn(CH1), 5000);
    assertAlertMessage(live, { channel: CH1, seq: last.seq + 51, epoch: last.epoch, ack: liveAck, title: 'Vermist: jongen 12 (live)' });
    assert.deepEqual(c2.pending('message'), []);
    await c2.close();
});

test('since with a wrong epoch answers recovered:false', async () => {
    const probe = await connect(relayA.url, { name: 'anon@A probe' });
    const current = await probe.subscribe(CH1);
    await probe.close();

    const wrong = current.epoch === 'deadbeefdeadbeef' ? 'feedfacefeedface' : 'deadbeefdeadbeef';
    const c = await connect(relayA.url, { name: 'anon@A wrong epoch' });
    const sub = await c.subscribe(CH1, { since: { epoch: wrong, seq: 1 } });
    assert.equal(sub.channel, CH1);
    assert.equal(sub.recovered, false);
    assert.equal(sub.epoch, current.epoch);
    assert.equal(sub.seq, current.seq);

    // Still subscribed: live messages flow, in the real epoch.
    const ack = await poster.postOk(pid('after-wrong-epoch'), alert(B1, { title: 'Vermist: man 65' }));
    const m = await c.next(isMessageOn(CH1), 5000);
    assertAlertMessage(m, { channel: CH1, seq: current.seq + 1, epoch: current.epoch, ack, title: 'Vermist: man 65' });
    await c.close();
});

test('an alert to two buurten is published on both channels', async () => {
    const c1 = await connect(relayA.url, { name: `anon@A ${CH1}` });
    const c2 = await connect(relayA.url, { name: `anon@A ${CH2}` });
    const s1 = await c1.subscribe(CH1);
    const s2 = await c2.subscribe(CH2);

    const ack = await poster.postOk(pid('multi'), alert([B1, B2], { title: 'Vermist: meisje 9' }));
    assert.equal(typeof ack.case, 'string');
    const published = [...ack.published].sort((a, b) => a.channel.localeCompare(b.channel));
    assert.deepEqual(published, [
        { channel: CH1, seq: s1.seq + 1 },
        { channel: CH2, seq: s2.seq + 1 },
    ]);

    const m1 = await c1.next(isMessageOn(CH1), 5000);
    const m2 = await c2.next(isMessageOn(CH2), 5000);
    assertAlertMessage(m1, { channel: CH1, seq: s1.seq + 1, epoch: s1.epoch, ack, title: 'Vermist: meisje 9' });
    assertAlertMessage(m2, { channel: CH2, seq: s2.seq + 1, epoch: s2.epoch, ack, title: 'Vermist: meisje 9' });
    assert.deepEqual(c1.pending('message'), []);
    assert.deepEqual(c2.pending('message'), []);
    await c1.close();
    await c2.close();
});
