// chat.test.mjs - chat channels and buurtgroepen end to end (issue 7) and
// the per-person channel policy of the delivery engine (issue 6):
// relay/notify.h, relay/chat_store.h, relay/outbox.h.
//
// One relay runs with every adapter at once, each against its loopback
// simulator: Twilio (SMS), Telegram, Matrix, WhatsApp and the signed JSON
// webhook. People get chat addresses and channel orders with
// `buurtctl contact`, buurtgroepen get chats with `buurtctl group link`.
// Counts come from the simulators' own logs (what the platform accepted),
// never from the relay's counters.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import {
    test, freePort, startRedis, makeUser, connect, alert, redisCommand, tempDir, ctl, isMessageOn,
    RELAY_BIN, SRC, childEnv, spawnTracked, stopTracked, waitForStatus, writeConfig,
} from './harness.mjs';
import { startTwilioSim } from './sms_sim.mjs';
import { startWebhookSim, DEFAULT_WEBHOOK_SECRET } from './webhook_sim.mjs';
import { startTelegramSim } from './telegram_sim.mjs';
import { startMatrixSim } from './matrix_sim.mjs';
import { startWhatsAppSim } from './whatsapp_sim.mjs';
import { kannelMissing, startKannel } from './kannel.mjs';
import { randomBytes } from 'node:crypto';

const B1 = 'BU01060101';
const B2 = 'BU01060102';
const B3 = 'BU01060103';
const SHORT = 'Blauwe jas, grijze pet. Gezien? Bel 112.';

function secretFile(dir, name, value) {
    const f = path.join(dir, name);
    writeFileSync(f, `${value}\n`, { mode: 0o600 });
    return f;
}

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
    return { port, url: `ws://127.0.0.1:${port}/ws`, http, proc, stop: (s = 'SIGTERM') => stopTracked(proc, s) };
}

async function waitFor(what, fn, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await delay(100);
    }
}

// The tips on a case, from its event log: [{ by, body }].
async function tips(redis, caseId) {
    const events = await redisCommand(redis.port, ['XRANGE', `case:${caseId}:events`, '-', '+']);
    const out = [];
    for (const [, f] of events) {
        const o = {};
        for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1];
        if (o.kind === 'tip') out.push({ by: o.by ?? '', body: JSON.parse(o.msg ?? '{}').body });
    }
    return out;
}

async function caseView(relay, id, token) {
    const res = await fetch(`${relay.http}/api/v1/cases/${id}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    return res.json();
}

const count = (list, pred) => list.filter(pred).length;

describe('chat channels, groups and channel preferences', () => {
    let redis, relay, dir;
    let twilio, hook, tg, mx, wa;
    let police, alice, bob, carol;
    const TG_GROUP = '-1001234567890';
    const MX_ROOM = '!buurtb1:matrix.example.org';
    const TG_GROUP3 = '-1009876543210';
    const MX_ROOM3 = '!buurtb3:matrix.example.org';

    before(async () => {
        redis = await startRedis();
        dir = tempDir('buurtrelay-chat-');
        // the simulators first, then the relay's port: a port picked
        // earlier could be handed to a simulator meanwhile
        twilio = await startTwilioSim();
        hook = await startWebhookSim({ format: 'json', secret: DEFAULT_WEBHOOK_SECRET });
        tg = await startTelegramSim({});
        mx = await startMatrixSim({ rooms: [MX_ROOM, MX_ROOM3, '!alice-dm:matrix.example.org'], directRooms: ['!alice-dm:matrix.example.org'] });
        wa = await startWhatsAppSim({});
        const port = await freePort();
        const base = `http://127.0.0.1:${port}`;
        mx.setHookUrl(`${base}/hooks/matrix`);
        wa.hookUrl = `${base}/hooks/whatsapp/webhook`;
        relay = await startRelay({
            redisUrl: redis.url,
            port,
            extraConfig: [
                'adapter twilio',
                `twilio.api-url ${twilio.url}`,
                `twilio.account-sid ${twilio.accountSid}`,
                `twilio.auth-token-file ${secretFile(dir, 'twilio', twilio.authToken)}`,
                'twilio.from +3197010000001',
                `twilio.public-url ${base}`,
                'twilio.timeout-ms 1000',
                'twilio.daily-budget 1000',
                'adapter webhook',
                'webhook.format json',
                `webhook.secret-file ${secretFile(dir, 'webhook', DEFAULT_WEBHOOK_SECRET)}`,
                `webhook.public-url ${base}`,
                'webhook.timeout-ms 1000',
                'adapter telegram',
                `telegram.api-url ${tg.url}`,
                `telegram.bot-token-file ${secretFile(dir, 'tg-token', tg.token)}`,
                `telegram.webhook-secret-file ${secretFile(dir, 'tg-secret', tg.secretToken)}`,
                `telegram.public-url ${base}`,
                'telegram.timeout-ms 1000',
                'adapter matrix',
                `matrix.homeserver-url ${mx.url}`,
                `matrix.access-token-file ${secretFile(dir, 'mx-token', mx.accessToken)}`,
                `matrix.hs-token-file ${secretFile(dir, 'mx-hs', mx.hsToken)}`,
                `matrix.user-id ${mx.userId}`,
                `matrix.public-url ${base}`,
                'matrix.timeout-ms 1000',
                'adapter whatsapp',
                `whatsapp.api-url ${wa.url}`,
                `whatsapp.phone-number-id ${wa.phoneNumberId}`,
                `whatsapp.access-token-file ${secretFile(dir, 'wa-token', wa.accessToken)}`,
                `whatsapp.app-secret-file ${secretFile(dir, 'wa-secret', wa.appSecret)}`,
                `whatsapp.verify-token-file ${secretFile(dir, 'wa-verify', wa.verifyToken)}`,
                `whatsapp.public-url ${base}`,
                'whatsapp.timeout-ms 1000',
                'outbox-backoff-min-ms 200',
                'outbox-backoff-max-ms 1000',
                'fallback-after 2',
            ].join('\n'),
        });
        police = await makeUser({ role: 'police', redisUrl: redis.url });
        // alice: telegram first, then SMS; bob: SMS only; carol: matrix,
        // WhatsApp and SMS, quiet hours all day long.
        alice = await makeUser({ role: 'resident', buurten: [B1], phone: '+31611110001', redisUrl: redis.url });
        bob = await makeUser({ role: 'resident', buurten: [B1], phone: '+31611110002', redisUrl: redis.url });
        carol = await makeUser({ role: 'resident', buurten: [B2], phone: '+31611110003', redisUrl: redis.url });
        const c1 = await ctl(['contact', '--login', alice.login, '--set', 'telegram=700001', '--channels', 'telegram,sms'], { redisUrl: redis.url });
        assert.equal(c1.code, 0, c1.stderr);
        const c2 = await ctl(['contact', '--login', carol.login, '--set', 'matrix=!alice-dm:matrix.example.org',
            '--channels', 'matrix,whatsapp,sms', '--quiet', '00:00-23:59'], { redisUrl: redis.url });
        assert.equal(c2.code, 0, c2.stderr);
        for (const [adapter, address, buurt] of [['telegram', TG_GROUP, B1], ['matrix', MX_ROOM, B1], ['webhook', `${hook.url}/hook/b1`, B1],
            ['telegram', TG_GROUP3, B3], ['matrix', MX_ROOM3, B3], ['webhook', `${hook.url}/hook/b3`, B3]]) {
            const r = await ctl(['group', 'link', '--adapter', adapter, '--address', address, '--buurt', buurt, '--name', `Buurtgroep ${adapter}`], { redisUrl: redis.url });
            assert.equal(r.code, 0, r.stderr);
        }
    });

    after(async () => {
        for (const s of [twilio, hook, tg, mx, wa]) await s?.close();
    });

    test('buurtctl keeps chat addresses encrypted and refuses a taken one', async () => {
        const dump = JSON.stringify(await redisCommand(redis.port, ['HGETALL', `user:${alice.id}`]));
        assert.ok(!dump.includes('700001'), 'chat id stored in the clear');
        assert.match(dump, /contact_kinds","telegram/);
        const show = await ctl(['contact', '--login', alice.login], { redisUrl: redis.url });
        assert.match(show.stdout, /contacts: telegram\nchannels: telegram,sms/);
        const taken = await ctl(['contact', '--login', bob.login, '--set', 'telegram=700001'], { redisUrl: redis.url });
        assert.equal(taken.code, 1);
        assert.match(taken.stderr, /another account/);
        const again = await ctl(['group', 'link', '--adapter', 'telegram', '--address', TG_GROUP, '--buurt', B2], { redisUrl: redis.url });
        assert.equal(again.code, 1);
        assert.match(again.stderr, /linked already/);
        const list = await ctl(['group', 'list', '--buurt', B1], { redisUrl: redis.url });
        assert.match(list.stdout, /^l[0-9a-f]{16} telegram BU01060101 - Buurtgroep telegram$/m);
        assert.equal(list.stdout.trim().split('\n').length, 3);
        const links = JSON.stringify(await redisCommand(redis.port, ['KEYS', 'chatlink:*']));
        const raw = JSON.stringify(await redisCommand(redis.port, ['HGETALL', JSON.parse(links)[0]]));
        assert.ok(!raw.includes(TG_GROUP) && !raw.includes(MX_ROOM) && !raw.includes(hook.url));
    });

    let appeal; // the ack of the appeal to B1

    test('one appeal: every person on all their channels and every linked group, once each', async () => {
        const pol = await connect(relay.url, { token: police.token });
        appeal = await pol.postOk('chat-appeal-1', alert([B1], { body: SHORT }));
        await tg.waitMessages(2);
        await mx.waitMessages(1);
        await hook.waitMessages(1);
        await twilio.waitMessages(2);
        await delay(1500); // anything extra would arrive by now
        assert.equal(count(tg.messages, (m) => m.to === '700001'), 1);
        assert.equal(count(tg.messages, (m) => m.to === TG_GROUP && m.group), 1);
        assert.equal(count(mx.messages, (m) => m.to === MX_ROOM), 1);
        assert.equal(hook.messages.length, 1);
        assert.equal(hook.messages[0].body.kind, 'appeal');
        assert.equal(hook.messages[0].body.group, true);
        assert.deepEqual(twilio.messages.map((m) => m.to).sort(), ['+31611110001', '+31611110002']);
        assert.equal(wa.messages.length, 0); // carol lives in another buurt
        assert.match(tg.messages.find((m) => m.to === TG_GROUP).text, /Politie-oproep/);
        // the officer sees the case's deliveries per channel
        const view = await caseView(relay, appeal.case, police.token);
        const total = view.deliveries.total;
        const sum = (ch) => Object.values(total[ch] ?? {}).reduce((a, b) => a + b, 0);
        assert.equal(sum('telegram'), 2);
        assert.equal(sum('matrix'), 1);
        assert.equal(sum('webhook'), 1);
        assert.equal(sum('twilio'), 2);
        pol.close();
    });

    test('a reply in the group thread becomes one tip on the right case; forged or replayed changes nothing', async () => {
        const sent = tg.messages.find((m) => m.to === TG_GROUP);
        const hookUrl = `${relay.http}/hooks/telegram/update`;
        const forged = await tg.sendReply({ hookUrl, chat: TG_GROUP, group: true, from: '424242', text: 'Vals bericht', replyTo: sent.providerId, forge: true });
        assert.equal(forged.status, 403);
        const ok = await tg.sendReply({ hookUrl, chat: TG_GROUP, group: true, from: '424242', text: 'Gezien bij de Vaart, richting station.', replyTo: sent.providerId });
        assert.equal(ok.status, 200);
        const replayed = await tg.sendReply({ hookUrl, replay: true });
        assert.equal(replayed.status, 200);
        await waitFor('the group tip', async () => (await tips(redis, appeal.case)).length >= 1);
        await delay(500);
        const t = await tips(redis, appeal.case);
        assert.equal(t.length, 1);
        assert.equal(t[0].body, 'Gezien bij de Vaart, richting station.');
        assert.ok(!JSON.stringify(t).includes('Vals'));
    });

    test('a Matrix reply in the linked room is a tip; the closing reaches every group', async () => {
        const pol = await connect(relay.url, { token: police.token });
        const sent = mx.messages.find((m) => m.to === MX_ROOM);
        const forged = await mx.sendReply({ hookUrl: `${relay.http}/hooks/matrix`, chat: MX_ROOM, from: '@nep:matrix.example.org', text: 'Nep', replyTo: sent.providerId, forge: true });
        assert.equal(forged.status, 403);
        const r = await mx.sendReply({ hookUrl: `${relay.http}/hooks/matrix`, chat: MX_ROOM, from: '@piet:matrix.example.org', text: 'Ik zag hem ook', replyTo: sent.providerId });
        assert.equal(r.status, 200);
        // the homeserver sends the same transaction again (it missed our 200)
        assert.equal((await mx.sendReply({ replay: true })).status, 200);
        await waitFor('the matrix tip', async () => (await tips(redis, appeal.case)).length >= 2);
        await delay(300);
        assert.equal((await tips(redis, appeal.case)).length, 2, 'one tip per message, none from the forged one');
        const before = { tg: tg.messages.length, mx: mx.messages.length, hook: hook.messages.length };
        await pol.postOk('chat-close-1', { kind: 'close', case: appeal.case, body: 'Gevonden, dank u.', outcome: 'found' });
        await waitFor('closings', () => tg.messages.length >= before.tg + 2 && mx.messages.length >= before.mx + 1 &&
            hook.messages.length >= before.hook + 1);
        assert.match(tg.messages.at(-1).text + tg.messages.at(-2).text, /Afgesloten/);
        assert.equal(hook.messages.at(-1).body.kind, 'closing');
        pol.close();
    });

    test('routine notices: first channel, then the next when not delivered in time', async () => {
        // alice reports; her status notices go to telegram first. Telegram
        // hangs (no answer within fallback-after): SMS takes over.
        const rep = await connect(relay.url, { token: alice.token });
        const pol = await connect(relay.url, { token: police.token });
        const ack = await rep.postOk('chat-report-1', { kind: 'report', buurt: B1, category: 'overlast', body: 'Harde muziek bij het speelveld, al twee uur.' });
        const smsBefore = count(twilio.messages, (m) => m.to === '+31611110001');
        tg.script('hang', 'hang', 'hang', 'hang', 'hang', 'hang');
        await pol.postOk('chat-status-1', { kind: 'status', case: ack.case, state: 'acknowledged', note: 'We komen kijken.' });
        await waitFor('the SMS fallback', () => count(twilio.messages, (m) => m.to === '+31611110001') === smsBefore + 1, 15000);
        assert.match(twilio.messages.at(-1).body ?? twilio.messages.at(-1).text, /Uw melding/);
        tg.script();
        rep.close();
        pol.close();
    });

    test('quiet hours hold routine notices back; urgent appeals go at once', async () => {
        const pol = await connect(relay.url, { token: police.token });
        const urgent = await pol.postOk('chat-appeal-2', alert([B2], { title: 'Vermist: vrouw 80', body: SHORT }));
        await mx.waitMessages(mx.messages.length >= 1 ? 1 : 1);
        await waitFor('carol on every channel', () => mx.messages.some((m) => m.to === '!alice-dm:matrix.example.org') &&
            wa.messages.some((m) => m.to === '+31611110003') && twilio.messages.some((m) => m.to === '+31611110003'));
        // WhatsApp outside the 24-hour window: a template message
        assert.equal(wa.messages.find((m) => m.to === '+31611110003').type, 'template');
        const dlv = await redisCommand(redis.port, ['HGETALL', `dlv:${urgent.case}`]);
        assert.ok(dlv.length >= 6);
        // a routine notice for carol: held in the retry zset, not sent
        const rep = await connect(relay.url, { token: carol.token });
        const r = await rep.postOk('chat-report-2', { kind: 'report', buurt: B2, category: 'overlast', body: 'Auto staat al dagen op de stoep geparkeerd.' });
        const mxBefore = mx.messages.length;
        await pol.postOk('chat-status-2', { kind: 'status', case: r.case, state: 'acknowledged', note: 'Handhaving kijkt.' });
        await delay(2500);
        assert.equal(mx.messages.length, mxBefore);
        const held = await redisCommand(redis.port, ['ZRANGE', 'outbox:matrix:retry', '0', '-1', 'WITHSCORES']);
        assert.equal(held.length, 2);
        assert.ok(Number(held[1]) > Date.now());
        rep.close();
        pol.close();
    });

    test('providers failing: 429, 5xx, hangs; every group gets the appeal exactly once', async () => {
        const pol = await connect(relay.url, { token: police.token });
        const before = { tg: tg.messages.length, mx: mx.messages.length, hook: hook.messages.length };
        tg.script('429:1', '500', 'hang');
        mx.script('429:1', '502', 'hang'); // posted, answer lost: the retry's txnId is the same
        hook.script('503', 'accept-hang'); // kept, answer lost: Idempotency-Key dedups
        const t0 = Date.now();
        const ack = await pol.postOk('chat-appeal-3', alert([B3], { title: 'Vermist: jongen 12', body: SHORT }));
        await waitFor('every group', () => tg.messages.some((m) => m.to === TG_GROUP3) &&
            mx.messages.some((m) => m.to === MX_ROOM3) && hook.messages.some((m) => m.to.endsWith('/hook/b3')), 20000);
        const took = Date.now() - t0;
        await delay(2500);
        assert.equal(count(tg.messages.slice(before.tg), (m) => m.to === TG_GROUP3), 1);
        assert.equal(count(mx.messages.slice(before.mx), (m) => m.to === MX_ROOM3), 1);
        assert.equal(count(hook.messages.slice(before.hook), (m) => m.to.endsWith('/hook/b3')), 1);
        // the 429's retry-after (1 s) was honoured
        assert.ok(took >= 1000, `delivered after ${took} ms`);
        // every delivery settles as sent (the lost answers were retried)
        const view = await waitFor('all sent', async () => {
            const v = await caseView(relay, ack.case, police.token);
            return ['telegram', 'matrix', 'webhook'].every((ch) => v.deliveries.total[ch]?.sent === 1) ? v : null;
        });
        assert.deepEqual(Object.keys(view.deliveries.total).sort(), ['matrix', 'telegram', 'webhook']);
        console.log(`FIGURES providers failing: 3 groups, 3/3 delivered once, 0 duplicated, 0 lost, ${took} ms`);
        // readiness names every adapter (a failing provider never makes the
        // relay unready); metrics count the retries per adapter
        const ready = await fetch(`${relay.http}/readyz`);
        assert.equal(ready.status, 200);
        const rj = await ready.json();
        assert.deepEqual(Object.keys(rj.adapters).sort(), ['matrix', 'telegram', 'twilio', 'webhook', 'whatsapp']);
        assert.equal(rj.adapters.telegram, 'up');
        const metrics = await (await fetch(`${relay.http}/metrics`)).text();
        for (const ch of ['telegram', 'matrix', 'webhook']) {
            const m = metrics.match(new RegExp(`^buurtrelay_adapter_sends_total\\{adapter="${ch}",outcome="retried"\\} (\\d+)$`, 'm'));
            assert.ok(m && Number(m[1]) >= 1, `${ch} retries counted`);
        }
        assert.match(metrics, /^buurtrelay_adapter_up\{adapter="telegram"\} 1$/m);
        pol.close();
    });

    test('WhatsApp: status webhooks by message id move the delivery; a reply is the resident\'s tip', async () => {
        const msg = wa.messages.find((m) => m.to === '+31611110003');
        const urgentCase = (await redisCommand(redis.port, ['GET', `dlv:last:${carol.id}`]));
        assert.ok(urgentCase);
        const forged = await wa.sendStatus(msg, 'read', { forge: true });
        assert.equal(forged.status, 403);
        assert.notEqual(await redisCommand(redis.port, ['HGET', `dlv:d:${await redisCommand(redis.port, ['GET', `dlv:key:${urgentCase}:${carol.id}:whatsapp`])}`, 'state']), 'read');
        assert.equal((await wa.sendStatus(msg, 'delivered')).status, 200);
        assert.equal((await wa.sendStatus(msg, 'read')).status, 200);
        assert.equal((await wa.sendStatus(msg, 'delivered')).status, 200); // late: never moves back
        const key = await redisCommand(redis.port, ['GET', `dlv:key:${urgentCase}:${carol.id}:whatsapp`]);
        await waitFor('read', async () => (await redisCommand(redis.port, ['HGET', `dlv:d:${key}`, 'state'])) === 'read');
        await delay(300);
        assert.equal(await redisCommand(redis.port, ['HGET', `dlv:d:${key}`, 'state']), 'read');
        const base = urgentCase.replace(/-.*/, '');
        const r = await wa.sendReply({ from: '+31611110003', text: 'Ik heb haar gezien bij de bakker', replyTo: msg.providerId });
        assert.equal(r.status, 200);
        await waitFor('the WhatsApp tip', async () => (await tips(redis, base)).some((t) => t.by === carol.id));
        // she wrote: the 24-hour window is open, free text is allowed now
        assert.equal(await redisCommand(redis.port, ['EXISTS', `win:whatsapp:${carol.id}`]), 1);
        const pol = await connect(relay.url, { token: police.token });
        const n0 = wa.messages.length;
        await pol.postOk('chat-appeal-wa1', alert([B2], { title: 'Vermist: hond', body: SHORT }));
        await waitFor('free text to carol', () => wa.messages.length > n0);
        assert.equal(wa.messages.at(-1).type, 'text');
        // Meta's view of the window differs (it closed): 131047, and the
        // relay sends the template at once instead
        wa.closeWindow('+31611110003');
        const n1 = wa.messages.length;
        await pol.postOk('chat-appeal-wa2', alert([B2], { title: 'Vermist: kat', body: SHORT }));
        await waitFor('the template after 131047', () => wa.messages.length > n1);
        assert.equal(wa.messages.length, n1 + 1);
        assert.equal(wa.messages.at(-1).type, 'template');
        assert.equal(await redisCommand(redis.port, ['EXISTS', `win:whatsapp:${carol.id}`]), 0);
        pol.close();
    });

    test('WhatsApp failing: 429 and 5xx delay the appeal, she gets it once', async () => {
        const pol = await connect(relay.url, { token: police.token });
        const n0 = wa.messages.length;
        wa.script('429:1', '500', '503');
        const t0 = Date.now();
        await pol.postOk('chat-appeal-wa3', alert([B2], { title: 'Vermist: papegaai', body: SHORT }));
        await waitFor('after the failures', () => wa.messages.length > n0, 15000);
        const took = Date.now() - t0;
        await delay(1500);
        assert.equal(wa.messages.length, n0 + 1);
        assert.equal(count(wa.requests.slice(-4), (q) => q.status >= 400), 3);
        assert.ok(took >= 1000, `Retry-After honoured (${took} ms)`);
        pol.close();
    });

    test('a Telegram group that became a supergroup: the link follows it, nothing lost', async () => {
        const B5 = 'BU01060201';
        const r = await ctl(['group', 'link', '--adapter', 'telegram', '--address', '-5555', '--buurt', B5], { redisUrl: redis.url });
        assert.equal(r.code, 0, r.stderr);
        const pol = await connect(relay.url, { token: police.token });
        const n0 = tg.messages.length;
        tg.script('migrate:-1005555');
        await pol.postOk('chat-appeal-mig1', alert([B5], { title: 'Vermist: fiets', body: SHORT }));
        await waitFor('the appeal in the supergroup', () => tg.messages.some((m, i) => i >= n0 && m.to === '-1005555'));
        await pol.postOk('chat-appeal-mig2', alert([B5], { title: 'Vermist: scooter', body: SHORT }));
        await waitFor('the next appeal', () => count(tg.messages.slice(n0), (m) => m.to === '-1005555') === 2);
        await delay(500);
        assert.equal(count(tg.messages.slice(n0), (m) => m.to === '-5555'), 0);
        assert.equal(count(tg.messages.slice(n0), (m) => m.to === '-1005555'), 2);
        // a reply in the new chat is still the group's
        const sent = tg.messages.filter((m) => m.to === '-1005555').at(-1);
        const rep = await tg.sendReply({ hookUrl: `${relay.http}/hooks/telegram/update`, chat: '-1005555', group: true, from: '515151', text: 'Scooter staat bij de ingang van het park.', replyTo: sent.providerId });
        assert.equal(rep.status, 200);
        const inbox = await waitFor('the reply in the inbox', async () => {
            const x = await redisCommand(redis.port, ['XRANGE', 'mo:inbox', '-', '+']);
            return x.find(([, f]) => f.includes('Scooter staat bij de ingang van het park.'));
        });
        const f = inbox[1];
        assert.match(f[f.indexOf('l') + 1], /^l[0-9a-f]{16}$/);
        pol.close();
    });

    test('a daily budget stops routine SMS, never a police appeal', async () => {
        const day = `budget:twilio:${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`;
        const saved = await redisCommand(redis.port, ['GET', day]);
        await redisCommand(redis.port, ['SET', day, '1000']); // twilio.daily-budget 1000: spent
        const rep = await connect(relay.url, { token: bob.token });
        const pol = await connect(relay.url, { token: police.token });
        const r = await rep.postOk('chat-report-3', { kind: 'report', buurt: B1, category: 'verkeer', body: 'Kapotte verkeerslichten op de kruising bij de school.' });
        const smsBefore = count(twilio.messages, (m) => m.to === '+31611110002');
        await pol.postOk('chat-status-3', { kind: 'status', case: r.case, state: 'acknowledged', note: 'Gemeente is gebeld.' });
        const keys = await waitFor('the routine delivery', async () => {
            const k = await redisCommand(redis.port, ['KEYS', `dlv:key:${r.case}-s*:${bob.id}:twilio`]);
            return k.length ? k : null;
        });
        assert.equal(keys.length, 1);
        const d = await redisCommand(redis.port, ['GET', keys[0]]);
        await waitFor('refused for budget', async () => (await redisCommand(redis.port, ['HGET', `dlv:d:${d}`, 'error'])) === 'budget_exhausted');
        assert.equal(await redisCommand(redis.port, ['HGET', `dlv:d:${d}`, 'state']), 'failed');
        // a police appeal still goes
        await pol.postOk('chat-appeal-4', alert([B1], { title: 'Vermist: man 45', body: SHORT }));
        await waitFor('the urgent SMS', () => count(twilio.messages, (m) => m.to === '+31611110002') === smsBefore + 1);
        assert.equal(Number(await redisCommand(redis.port, ['GET', day])) >= 1001, true);
        if (saved === null) await redisCommand(redis.port, ['DEL', day]);
        else await redisCommand(redis.port, ['SET', day, saved]);
        rep.close();
        pol.close();
    });
});

describe('one appeal through WebSocket, Kannel SMS and every chat adapter at once', { skip: kannelMissing() ?? false }, () => {
    const B4 = 'BU01060104';
    const TOKEN = `kt_${randomBytes(12).toString('hex')}`;
    let redis, relay, kannel, tg, mx, wa, hook, police, ws, sms, tgUser, mxUser, waUser;

    before(async () => {
        redis = await startRedis();
        const dir = tempDir('buurtrelay-e2e-');
        tg = await startTelegramSim({});
        mx = await startMatrixSim({ rooms: ['!b4:matrix.example.org', '!dm4:matrix.example.org'], directRooms: ['!dm4:matrix.example.org'] });
        wa = await startWhatsAppSim({});
        hook = await startWebhookSim({ format: 'json', secret: DEFAULT_WEBHOOK_SECRET });
        const port = await freePort();
        const base = `http://127.0.0.1:${port}`;
        kannel = await startKannel({ relayUrl: base, webhookToken: TOKEN });
        relay = await startRelay({
            redisUrl: redis.url,
            port,
            extraConfig: [
                'adapter kannel',
                `kannel.sendsms-url ${kannel.sendsmsUrl}`,
                `kannel.password-file ${secretFile(dir, 'kannel.pw', kannel.password)}`,
                `kannel.webhook-token-file ${secretFile(dir, 'kannel.token', TOKEN)}`,
                'kannel.from 3197010000001',
                `kannel.public-url ${base}`,
                'adapter telegram',
                `telegram.api-url ${tg.url}`,
                `telegram.bot-token-file ${secretFile(dir, 'tg-token', tg.token)}`,
                `telegram.webhook-secret-file ${secretFile(dir, 'tg-secret', tg.secretToken)}`,
                `telegram.public-url ${base}`,
                'adapter matrix',
                `matrix.homeserver-url ${mx.url}`,
                `matrix.access-token-file ${secretFile(dir, 'mx-token', mx.accessToken)}`,
                `matrix.hs-token-file ${secretFile(dir, 'mx-hs', mx.hsToken)}`,
                `matrix.user-id ${mx.userId}`,
                `matrix.public-url ${base}`,
                'adapter whatsapp',
                `whatsapp.api-url ${wa.url}`,
                `whatsapp.phone-number-id ${wa.phoneNumberId}`,
                `whatsapp.access-token-file ${secretFile(dir, 'wa-token', wa.accessToken)}`,
                `whatsapp.app-secret-file ${secretFile(dir, 'wa-secret', wa.appSecret)}`,
                `whatsapp.verify-token-file ${secretFile(dir, 'wa-verify', wa.verifyToken)}`,
                `whatsapp.public-url ${base}`,
                'adapter webhook',
                'webhook.format json',
                `webhook.secret-file ${secretFile(dir, 'webhook', DEFAULT_WEBHOOK_SECRET)}`,
                `webhook.public-url ${base}`,
            ].join('\n'),
        });
        wa.hookUrl = `${base}/hooks/whatsapp/webhook`;
        police = await makeUser({ role: 'police', redisUrl: redis.url });
        ws = await makeUser({ role: 'resident', buurten: [B4], redisUrl: redis.url });
        sms = await makeUser({ role: 'resident', buurten: [B4], phone: '+31622220001', redisUrl: redis.url });
        tgUser = await makeUser({ role: 'resident', buurten: [B4], redisUrl: redis.url });
        mxUser = await makeUser({ role: 'resident', buurten: [B4], redisUrl: redis.url });
        waUser = await makeUser({ role: 'resident', buurten: [B4], phone: '+31622220004', redisUrl: redis.url });
        for (const args of [
            ['contact', '--login', tgUser.login, '--set', 'telegram=800001'],
            ['contact', '--login', mxUser.login, '--set', 'matrix=!dm4:matrix.example.org'],
            ['contact', '--login', waUser.login, '--channels', 'whatsapp'],
            ['group', 'link', '--adapter', 'telegram', '--address', '-1004444', '--buurt', B4],
            ['group', 'link', '--adapter', 'matrix', '--address', '!b4:matrix.example.org', '--buurt', B4],
            ['group', 'link', '--adapter', 'webhook', '--address', `${hook.url}/hook/b4`, '--buurt', B4],
        ]) {
            const r = await ctl(args, { redisUrl: redis.url });
            assert.equal(r.code, 0, r.stderr);
        }
    });

    after(async () => {
        for (const x of [tg, mx, wa, hook]) await x?.close();
    });

    test('everyone once, on their channel, and the case shows it per channel', async () => {
        const res = await connect(relay.url, { token: ws.token });
        await res.subscribe(`buurt:${B4}`);
        const pol = await connect(relay.url, { token: police.token });
        const ack = await pol.postOk('e2e-appeal', alert([B4], { title: 'Vermist: vrouw 67', body: SHORT }));
        const live = await res.next(isMessageOn(`buurt:${B4}`));
        assert.equal(live.msg.case, ack.case);
        await kannel.waitReceived(1);
        await tg.waitMessages(2);
        await mx.waitMessages(2);
        await wa.waitMessages(1);
        await hook.waitMessages(1);
        await delay(1500);
        assert.deepEqual(kannel.received().map((m) => m.to), ['+31622220001']); // not the WhatsApp-only resident
        assert.deepEqual(tg.messages.map((m) => m.to).sort(), ['-1004444', '800001']);
        assert.deepEqual(mx.messages.map((m) => m.to).sort(), ['!b4:matrix.example.org', '!dm4:matrix.example.org']);
        assert.deepEqual(wa.messages.map((m) => m.to), ['+31622220004']);
        assert.equal(hook.messages.length, 1);
        const total = await waitFor('kannel delivered', async () => {
            const v = await caseView(relay, ack.case, police.token);
            return v.deliveries.total.kannel?.delivered === 1 ? v.deliveries.total : null;
        });
        assert.deepEqual(Object.keys(total).sort(), ['kannel', 'matrix', 'telegram', 'webhook', 'whatsapp']);
        assert.equal(total.telegram.sent, 2);
        assert.equal(total.matrix.sent, 2);
        assert.equal(total.webhook.sent, 1);
        assert.equal((total.whatsapp.sent ?? 0) + (total.whatsapp.delivered ?? 0), 1);
        console.log(`FIGURES e2e: ws 1, kannel 1, telegram 2, matrix 2, whatsapp 1, webhook 1: all once`);
        res.close();
        pol.close();
    });
});
