// cases.test.mjs - appeals and reports end to end over real Redis and the
// real relay: targeting, widening, tips, approval, closing with redaction,
// the report state machine with feedback to the reporter, escalation and
// retention (issue "Cases").

import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
    test, startRedis, startRelay, makeUser, connect, alert, isMessageOn,
    redisCommand, delay,
} from './harness.mjs';

const B1 = 'BU01060101';
const B2 = 'BU01060102';
const B3 = 'BU01060103';
const BX = 'BU01060301'; // another wijk: never targeted below
const WIJK = 'WK010601';

let redis;
let relay;
let police;
let police2;
let boa;
let resident;
let resident2;
let n = 0;
const id = (p) => `${p}-${++n}`;

before(async () => {
    redis = await startRedis();
    relay = await startRelay({
        redisUrl: redis.url,
        extraConfig: { 'escalate-after': 600, escalate: 'inbraak 1' },
    });
    police = await makeUser({ role: 'police', redisUrl: redis.url });
    police2 = await makeUser({ role: 'police', redisUrl: redis.url });
    boa = await makeUser({ role: 'boa', wijken: [WIJK], redisUrl: redis.url });
    resident = await makeUser({ role: 'resident', buurten: [B1], redisUrl: redis.url });
    resident2 = await makeUser({ role: 'resident', buurten: [B2], redisUrl: redis.url });
});

async function listener(channel, opts = {}) {
    const c = await connect(relay.url, { name: channel, ...opts });
    const s = await c.subscribe(channel);
    return { c, s };
}

test('an appeal reaches its buurten, is widened, gets tips and closes for everyone reached', async () => {
    const l1 = await listener(`buurt:${B1}`);
    const l2 = await listener(`buurt:${B2}`);
    const l3 = await listener(`buurt:${B3}`);
    const lx = await listener(`buurt:${BX}`);
    const desk = await listener(`desk:${WIJK}`, { token: boa.token });
    const pol = await connect(relay.url, { token: police.token, name: 'police' });

    const ack = await pol.postOk(id('appeal'), alert([B1, B2]));
    assert.equal(ack.state, 'active');
    assert.deepEqual(ack.published.map((p) => p.channel).sort(), [`buurt:${B1}`, `buurt:${B2}`]);
    for (const l of [l1, l2]) {
        const m = await l.c.next(isMessageOn(l.s.channel));
        assert.equal(m.msg.kind, 'alert');
        assert.equal(m.msg.case, ack.case);
    }

    // Widen to B3: B1/B2 get the update, B3 gets the whole appeal.
    const up = await pol.postOk(id('update'), {
        kind: 'update', case: ack.case, body: 'Gezien bij het station, richting Kloosterveen.',
        area: { buurten: [B1, B2, B3] },
    });
    assert.equal(up.case, ack.case);
    for (const l of [l1, l2]) {
        const m = await l.c.next(isMessageOn(l.s.channel));
        assert.equal(m.msg.kind, 'update');
        assert.match(m.msg.body, /station/);
    }
    const full = await l3.c.next(isMessageOn(`buurt:${B3}`));
    assert.equal(full.msg.kind, 'alert');
    assert.equal(full.msg.case, ack.case);
    assert.match(full.msg.update, /station/);

    // Tips: a logged-in resident and an anonymous client.
    const res = await connect(relay.url, { token: resident.token, name: 'resident' });
    await res.subscribe(`user:${resident.id}`);
    const anon = await connect(relay.url, { name: 'anonymous' });
    await res.postOk(id('tip'), { kind: 'tip', case: ack.case, body: 'Ik zag hem bij de Albert Heijn.' });
    await anon.postOk(id('tip'), { kind: 'tip', case: ack.case, body: 'Man met rollator op de Vaart.', anonymous: true });
    const tips = await desk.c.collect((f) => f.type === 'message' && f.msg.kind === 'tip', 2);
    assert.equal(tips[0].msg.tipper, resident.id);
    assert.equal(tips[1].msg.anonymous, true);
    assert.equal(tips[1].msg.tipper, undefined);

    // Close: every buurt reached, and the tipper, hear the end.
    const closed = await pol.postOk(id('close'), {
        kind: 'close', case: ack.case, body: 'Gevonden, bedankt voor uw hulp.', outcome: 'found',
    });
    assert.equal(closed.state, 'closed');
    for (const l of [l1, l2, l3]) {
        const m = await l.c.next((f) => f.type === 'message' && f.msg.kind === 'close');
        assert.equal(m.msg.outcome, 'found');
        assert.match(m.msg.instruction, /Verwijder/);
    }
    const receipt = await res.next((f) => f.type === 'message' && f.msg.kind === 'tip_receipt');
    assert.equal(receipt.msg.case, ack.case);
    const outcome = await res.next((f) => f.type === 'message' && f.msg.kind === 'outcome');
    assert.equal(outcome.msg.outcome, 'found');
    assert.equal(lx.c.pending(isMessageOn(`buurt:${BX}`)).length, 0, 'an untargeted buurt heard nothing');

    // The appeal's description left the history: a newcomer replaying B1
    // gets placeholders for it, then the closing message.
    const late = await connect(relay.url, { name: 'late' });
    const sub = await late.subscribe(`buurt:${B1}`, { since: { epoch: l1.s.epoch, seq: 0 } });
    assert.equal(sub.recovered, true);
    const replay = await late.collect(isMessageOn(`buurt:${B1}`), sub.seq);
    assert.deepEqual(replay.map((m) => m.msg.kind), ['redacted', 'redacted', 'close']);
    assert.ok(!JSON.stringify(replay).includes('rollator'));

    // Acting on a closed appeal is refused.
    const again = await pol.post(id('update'), { kind: 'update', case: ack.case, body: 'nog iets' });
    assert.equal(again.code, 'conflict');
    for (const c of [l1.c, l2.c, l3.c, lx.c, desk.c, pol, res, anon, late]) await c.close();
});

test('a missing-person appeal without consent is refused', async () => {
    const pol = await connect(relay.url, { token: police.token });
    const r = await pol.post(id('noconsent'), alert([B1], { consent: false }));
    assert.equal(r.type, 'error');
    assert.equal(r.code, 'bad_request');
    assert.match(r.message, /consent/);
    await pol.close();
});

test('a severe appeal waits for a second officer', async () => {
    const l1 = await listener(`buurt:${B1}`);
    const pol = await connect(relay.url, { token: police.token });
    const pol2 = await connect(relay.url, { token: police2.token });
    const ack = await pol.postOk(id('severe'), alert([B1], { severity: 'Severe' }));
    assert.equal(ack.state, 'pending_approval');
    const self = await pol.post(id('approve'), { kind: 'approve', case: ack.case });
    assert.equal(self.code, 'forbidden');
    assert.equal(l1.c.pending(isMessageOn(`buurt:${B1}`)).length, 0, 'nothing went out yet');
    const ok = await pol2.postOk(id('approve'), { kind: 'approve', case: ack.case });
    assert.equal(ok.state, 'active');
    const m = await l1.c.next(isMessageOn(`buurt:${B1}`));
    assert.equal(m.msg.kind, 'alert');
    assert.equal(m.msg.severity, 'Severe');
    for (const c of [l1.c, pol, pol2]) await c.close();
});

test('a report walks every state; the reporter sees each change once, across a reconnect', async () => {
    let rep = await connect(relay.url, { token: resident.token, name: 'reporter' });
    const userCh = `user:${resident.id}`;
    const s0 = await rep.subscribe(userCh);
    const desk = await listener(`desk:${WIJK}`, { token: boa.token });
    const b = await connect(relay.url, { token: boa.token, name: 'boa' });

    const ack = await rep.postOk(id('report'), {
        kind: 'report', buurt: B1, category: 'overlast',
        body: 'Groep van vijf jongeren schreeuwt en gooit met flessen bij het speelveld; een draagt een rode jas, een ander een wit petje.', called_112: false,
    });
    assert.equal(ack.state, 'new');
    const seen = await desk.c.next((f) => f.type === 'message' && f.msg.kind === 'report');
    assert.equal(seen.msg.case, ack.case);
    assert.equal(seen.msg.reporter, resident.id);
    const receipt = await rep.next(isMessageOn(userCh));
    assert.equal(receipt.msg.kind, 'receipt');
    let last = receipt;

    const status = (state, note) => b.postOk(id('status'), { kind: 'status', case: ack.case, state, note });
    await status('acknowledged', 'We hebben uw melding ontvangen.');
    last = await rep.next(isMessageOn(userCh));
    assert.equal(last.msg.state, 'acknowledged');

    // The reporter goes offline; two changes happen meanwhile.
    await rep.close();
    await status('in_progress', 'Een BOA gaat kijken.');
    await status('resolved', 'De groep is aangesproken.');
    rep = await connect(relay.url, { token: resident.token, name: 'reporter again' });
    const s1 = await rep.subscribe(userCh, { since: { epoch: last.epoch, seq: last.seq } });
    assert.equal(s1.recovered, true);
    const missed = await rep.collect(isMessageOn(userCh), 2);
    assert.deepEqual(missed.map((m) => m.msg.state), ['in_progress', 'resolved']);
    assert.equal(missed[1].msg.ask_feedback, true);
    assert.equal(missed[1].seq, last.seq + 2);

    // Illegal: a closed report cannot be moved by a status post.
    const illegal = await b.post(id('status'), { kind: 'status', case: ack.case, state: 'in_progress', note: 'x' });
    assert.equal(illegal.code, 'conflict');

    // Not satisfied: it reopens and can be handled again.
    const fb = await rep.postOk(id('feedback'), { kind: 'feedback', case: ack.case, satisfied: false, comment: 'Ze zijn er nog steeds.' });
    assert.equal(fb.state, 'reopened');
    const reopened = await rep.next(isMessageOn(userCh));
    assert.equal(reopened.msg.kind, 'feedback');
    assert.equal(reopened.msg.state, 'reopened');
    await status('in_progress', 'We gaan opnieuw kijken.');
    assert.equal((await rep.next(isMessageOn(userCh))).msg.state, 'in_progress');
    await status('resolved', 'Politie heeft de groep weggestuurd.');
    assert.equal((await rep.next(isMessageOn(userCh))).msg.state, 'resolved');
    const ok = await rep.postOk(id('feedback'), { kind: 'feedback', case: ack.case, satisfied: true });
    assert.equal(ok.state, 'resolved');
    const settled = await rep.next(isMessageOn(userCh));
    assert.equal(settled.msg.kind, 'feedback');
    assert.equal(settled.msg.satisfied, true);
    assert.equal(rep.pending(isMessageOn(userCh)).length, 0, 'no duplicates');

    // Someone else's report is not theirs to comment on or rate.
    const other = await connect(relay.url, { token: resident2.token });
    assert.equal((await other.post(id('fb'), { kind: 'feedback', case: ack.case, satisfied: false })).code, 'forbidden');
    for (const c of [rep, desk.c, b, other]) await c.close();
    void s0;
});

test('an unacknowledged report escalates to the police desk', async () => {
    const gm = await listener('desk:GM0106', { token: police.token });
    const rep = await connect(relay.url, { token: resident.token });
    const ack = await rep.postOk(id('burglary'), {
        kind: 'report', buurt: B1, category: 'inbraak',
        body: 'Twee mannen proberen de achterdeur van nummer 12 open te breken; een lange man in een zwarte jas en een kleine man met een grijze muts.', called_112: true,
    });
    const esc = await gm.c.next((f) => f.type === 'message' && f.msg.kind === 'escalated', 8000);
    assert.equal(esc.msg.case, ack.case);
    assert.equal(esc.msg.overdue, true);
    const overdue = await redisCommand(redis.port, ['HGET', `case:${ack.case}`, 'overdue']);
    assert.equal(overdue, '1');
    for (const c of [gm.c, rep]) await c.close();
});

test('retention purges a closed case of personal data, and nothing else', async () => {
    const rep = await connect(relay.url, { token: resident.token });
    const b = await connect(relay.url, { token: boa.token });
    const open = await rep.postOk(id('open'), { kind: 'report', buurt: B1, category: 'vandalisme', body: 'Bushokje vernield, glas op de stoep.' });
    const done = await rep.postOk(id('done'), { kind: 'report', buurt: B1, category: 'vandalisme', body: 'Lantaarnpaal omgereden door een auto.' });
    await b.postOk(id('st'), { kind: 'status', case: done.case, state: 'resolved', note: 'Gemeente vervangt de paal.' });
    // Make its retention due now instead of in retention-days.
    await redisCommand(redis.port, ['ZADD', 'retention:cases', '0', done.case]);
    for (let i = 0; i < 50; i++) {
        if (await redisCommand(redis.port, ['HGET', `case:${done.case}`, 'purged'])) break;
        await delay(100);
    }
    assert.ok(await redisCommand(redis.port, ['HGET', `case:${done.case}`, 'purged']), 'purged');
    assert.equal(await redisCommand(redis.port, ['HGET', `case:${done.case}`, 'owner']), null);
    assert.equal(await redisCommand(redis.port, ['EXISTS', `case:${done.case}:events`]), 0);
    assert.equal(await redisCommand(redis.port, ['HGET', `case:${done.case}`, 'category']), 'vandalisme');
    // The open report kept everything.
    assert.equal(await redisCommand(redis.port, ['HGET', `case:${open.case}`, 'owner']), resident.id);
    assert.equal(await redisCommand(redis.port, ['EXISTS', `case:${open.case}:events`]), 1);
    for (const c of [rep, b]) await c.close();
});

test('a description relying on origin alone must be confirmed or fixed', async () => {
    const pol = await connect(relay.url, { token: police.token });
    const post = alert([B1], { title: 'Verdachte', body: 'Donkere man gezien in de straat.', event: 'verdachte', consent: undefined });
    const r = await pol.post(id('desc'), post);
    assert.equal(r.code, 'conflict');
    assert.equal(r.reason, 'description_check');
    assert.ok(r.flags.includes('origin_only'), JSON.stringify(r.flags));
    const ok = await pol.post(id('desc'), { ...post, confirm: true });
    assert.equal(ok.type, 'ack');
    await pol.close();
});

test('GET /api/v1/cases/{id} shows the case to those entitled, and only them', async () => {
    const rep = await connect(relay.url, { token: resident.token });
    const b = await connect(relay.url, { token: boa.token });
    const ack = await rep.postOk(id('api'), {
        kind: 'report', buurt: B1, category: 'overlast',
        body: 'Harde muziek uit de garage van nummer 3, elke nacht na twee uur.',
    });
    await b.postOk(id('api-st'), { kind: 'status', case: ack.case, state: 'acknowledged', note: 'Wij gaan erheen.' });
    const get = (token) => fetch(`${relay.http}/api/v1/cases/${ack.case}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

    const mine = await get(resident.token);
    assert.equal(mine.status, 200);
    const m = await mine.json();
    assert.equal(m.case.state, 'acknowledged');
    assert.equal(m.case.owner, undefined, 'the reporter view has no ids');
    assert.deepEqual(m.events.map((e) => e.kind), ['report', 'status']);
    assert.equal(m.events[1].by, undefined, 'who handled it is not shown to the reporter');
    assert.equal(m.events[1].msg.note, 'Wij gaan erheen.');

    const officer = await (await get(police.token)).json();
    assert.equal(officer.case.owner, resident.id);
    assert.equal(officer.events[1].by, boa.id);

    assert.equal((await get(resident2.token)).status, 403);
    assert.equal((await get(null)).status, 401);
    assert.equal((await fetch(`${relay.http}/api/v1/cases/cnope`, { headers: { authorization: `Bearer ${police.token}` } })).status, 404);
    for (const c of [rep, b]) await c.close();
});

test('the REST mirror posts like the socket, idempotent by Idempotency-Key', async () => {
    const l1 = await listener(`buurt:${B1}`);
    const body = JSON.stringify(alert([B1], { title: 'Vermist: meisje van 9' }));
    const post = (headers) => fetch(`${relay.http}/api/v1/posts`, { method: 'POST', body, headers });
    const auth = { authorization: `Bearer ${police.token}`, 'idempotency-key': id('rest') };
    const first = await post(auth);
    assert.equal(first.status, 200);
    const a1 = await first.json();
    assert.equal(a1.type, 'ack');
    assert.equal(a1.id, auth['idempotency-key']);
    const again = await (await post(auth)).json();
    assert.deepEqual(again, a1, 'the same key gives the same ack');
    const m = await l1.c.next(isMessageOn(`buurt:${B1}`));
    assert.equal(m.msg.case, a1.case);
    await l1.c.ping();
    assert.equal(l1.c.pending(isMessageOn(`buurt:${B1}`)).length, 0, 'published once');
    assert.equal((await post({})).status, 401);
    const res = await post({ authorization: `Bearer ${resident.token}` });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).code, 'forbidden');
    await l1.c.close();
});
