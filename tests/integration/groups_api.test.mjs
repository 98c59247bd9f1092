// groups_api.test.mjs - the REST API for buurtgroepen's chat links
// (relay/group_api.h): who may list, link and unlink, what is audited,
// that the address stays encrypted and unseen, and that a link made over
// the API is the same link buurtctl makes (listed by `buurtctl group
// list`, reached by an appeal to its buurt exactly once).

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import {
    test, startRedis, startRelay, makeUser, connect, alert, redisCommand, dumpRedis, tempDir, ctl, delay,
} from './harness.mjs';
import { startWebhookSim, DEFAULT_WEBHOOK_SECRET } from './webhook_sim.mjs';
import { startTelegramSim } from './telegram_sim.mjs';

const B1 = 'BU01060101'; // wijk WK010601
const B2 = 'BU01060102';
const B3 = 'BU01060201'; // wijk WK010602
const B4 = 'BU01060103';
const TG_CHAT = '-1009988776655';

function secretFile(dir, name, value) {
    const f = path.join(dir, name);
    writeFileSync(f, `${value}\n`, { mode: 0o600 });
    return f;
}

async function waitFor(what, fn, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await delay(100);
    }
}

// The audit trail as objects: [{actor, role, action, target, result}].
async function auditEntries(redis) {
    const entries = await redisCommand(redis.port, ['XRANGE', 'audit', '-', '+']);
    return entries.map(([, f]) => {
        const o = {};
        for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1];
        return o;
    });
}

async function waitAudit(redis, match) {
    return waitFor(`audit entry ${JSON.stringify(match)}`, async () =>
        (await auditEntries(redis)).find((e) => Object.entries(match).every(([k, v]) => e[k] === v)));
}

describe('REST API for buurtgroep chat links', () => {
    let redis, relay, hook, tg, dir;
    let police, admin, beheerder, beheerder2, resident, boa, boaElsewhere;

    async function api(method, p, { token, body, raw } = {}) {
        const headers = {};
        if (token) headers.Authorization = `Bearer ${token}`;
        if (body !== undefined || raw !== undefined) headers['Content-Type'] = 'application/json';
        const res = await fetch(`${relay.http}${p}`, {
            method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
            signal: AbortSignal.timeout(5000),
        });
        const text = await res.text();
        let json;
        try {
            json = JSON.parse(text);
        } catch {
            json = undefined;
        }
        return { status: res.status, text, json };
    }
    const list = (buurt, token) => api('GET', `/api/v1/groups?buurt=${buurt}`, { token });
    const create = (body, token) => api('POST', '/api/v1/groups', { token, body });
    const remove = (id, token) => api('DELETE', `/api/v1/groups/${id}`, { token });

    before(async () => {
        redis = await startRedis();
        dir = tempDir('buurtrelay-groups-');
        hook = await startWebhookSim({ format: 'json', secret: DEFAULT_WEBHOOK_SECRET });
        tg = await startTelegramSim({});
        relay = await startRelay({
            redisUrl: redis.url,
            extraConfig: [
                'adapter webhook',
                'webhook.format json',
                `webhook.secret-file ${secretFile(dir, 'webhook', DEFAULT_WEBHOOK_SECRET)}`,
                'webhook.timeout-ms 1000',
                'adapter telegram',
                `telegram.api-url ${tg.url}`,
                `telegram.bot-token-file ${secretFile(dir, 'tg-token', tg.token)}`,
                `telegram.webhook-secret-file ${secretFile(dir, 'tg-secret', tg.secretToken)}`,
                'telegram.timeout-ms 1000',
            ].join('\n'),
        });
        police = await makeUser({ role: 'police', redisUrl: redis.url });
        admin = await makeUser({ role: 'admin', redisUrl: redis.url });
        beheerder = await makeUser({ role: 'beheerder', buurten: [B1, B2], redisUrl: redis.url });
        beheerder2 = await makeUser({ role: 'beheerder', buurten: [B1], redisUrl: redis.url });
        resident = await makeUser({ role: 'resident', buurten: [B1], redisUrl: redis.url });
        boa = await makeUser({ role: 'boa', wijken: ['WK010601'], redisUrl: redis.url });
        boaElsewhere = await makeUser({ role: 'boa', wijken: ['WK010602'], redisUrl: redis.url });
    });

    after(async () => {
        for (const s of [hook, tg]) await s?.close();
    });

    test('police links, lists and unlinks; the address is never shown nor stored in clear', async () => {
        const made = await create({ adapter: 'telegram', address: TG_CHAT, buurten: [B1, B2], name: 'Buurtgroep Lariks' }, police.token);
        assert.equal(made.status, 201, made.text);
        assert.match(made.json.id, /^l[0-9a-f]{16}$/);
        assert.equal(made.json.adapter, 'telegram');
        assert.deepEqual(made.json.buurten, [B1, B2]);
        assert.equal(made.json.name, 'Buurtgroep Lariks');
        assert.equal(made.json.admin, null);
        assert.ok(!made.text.includes(TG_CHAT));

        for (const b of [B1, B2]) {
            const got = await list(b, police.token);
            assert.equal(got.status, 200, got.text);
            const l = got.json.links.find((x) => x.id === made.json.id);
            assert.ok(l, `listed under ${b}`);
            assert.deepEqual(Object.keys(l).sort(), ['adapter', 'admin', 'buurten', 'created', 'id', 'name']);
            assert.ok(!Number.isNaN(Date.parse(l.created)));
            assert.ok(!got.text.includes(TG_CHAT), 'address in the GET answer');
        }
        // the same keys buurtctl writes, the address only as ciphertext
        const h = await redisCommand(redis.port, ['HGETALL', `chatlink:${made.json.id}`]);
        assert.ok(h.includes('address') && h.includes('idx'));
        const dump = JSON.stringify(await dumpRedis(redis.port));
        assert.ok(!dump.includes(TG_CHAT), 'address stored in the clear');
        assert.deepEqual(await redisCommand(redis.port, ['SMEMBERS', `chatlinks:buurt:${B2}`]), [made.json.id]);
        await waitAudit(redis, { actor: police.id, action: 'group.link', target: made.json.id, result: 'ok' });

        const gone = await remove(made.json.id, police.token);
        assert.equal(gone.status, 200, gone.text);
        assert.equal((await list(B1, police.token)).json.links.length, 0);
        assert.equal(await redisCommand(redis.port, ['EXISTS', `chatlink:${made.json.id}`]), 0);
        assert.deepEqual(await redisCommand(redis.port, ['KEYS', 'idx:link:*']), []);
        await waitAudit(redis, { actor: police.id, action: 'group.unlink', target: made.json.id, result: 'ok' });
        assert.equal((await remove(made.json.id, police.token)).status, 404);
        assert.equal((await remove('l0000000000000000', admin.token)).status, 404);
        assert.equal((await remove('not a link', police.token)).status, 404);
    });

    test('a beheerder links their own buurt and becomes its admin; another buurt is refused and audited', async () => {
        const made = await create({ adapter: 'webhook', address: `${hook.url}/hook/beheer`, buurten: [B2] }, beheerder.token);
        assert.equal(made.status, 201, made.text);
        assert.equal(made.json.admin, beheerder.id);
        assert.equal(made.json.name, '');
        const mine = await list(B2, beheerder.token);
        assert.equal(mine.status, 200);
        assert.equal(mine.json.links[0].admin, beheerder.id);
        assert.ok(!mine.text.includes(hook.url));

        const refused = await create({ adapter: 'webhook', address: `${hook.url}/hook/other`, buurten: [B1, B3] }, beheerder.token);
        assert.equal(refused.status, 403, refused.text);
        assert.equal(refused.json.code, 'forbidden');
        await waitAudit(redis, { actor: beheerder.id, role: 'beheerder', action: 'deny.group.link', target: B3, result: 'denied' });
        assert.equal((await list(B3, police.token)).json.links.length, 0);
        assert.equal((await list(B3, beheerder.token)).status, 403);

        // only the link's own admin (or police/admin) may remove it
        const other = await remove(made.json.id, beheerder2.token);
        assert.equal(other.status, 403);
        await waitAudit(redis, { actor: beheerder2.id, action: 'deny.group.unlink', target: made.json.id, result: 'denied' });
        assert.equal((await remove(made.json.id, beheerder.token)).status, 200);
        await waitAudit(redis, { actor: beheerder.id, action: 'group.unlink', target: made.json.id, result: 'ok' });
    });

    test('residents may not list, link or unlink; BOA lists only their wijk; no token is 401', async () => {
        const made = await create({ adapter: 'telegram', address: '-1001112223334', buurten: [B1] }, admin.token);
        assert.equal(made.status, 201, made.text);
        assert.equal((await list(B1, resident.token)).status, 403);
        const r = await create({ adapter: 'telegram', address: '-1005556667778', buurten: [B1] }, resident.token);
        assert.equal(r.status, 403);
        assert.equal((await remove(made.json.id, resident.token)).status, 403);
        await waitAudit(redis, { actor: resident.id, action: 'deny.group.list', target: B1, result: 'denied' });
        await waitAudit(redis, { actor: resident.id, action: 'deny.group.link', result: 'denied' });
        await waitAudit(redis, { actor: resident.id, action: 'deny.group.unlink', target: made.json.id, result: 'denied' });
        const seen = await list(B1, boa.token);
        assert.equal(seen.status, 200);
        assert.deepEqual(seen.json.links.map((l) => l.id), [made.json.id]);
        assert.equal((await list(B1, boaElsewhere.token)).status, 403);
        assert.equal((await create({ adapter: 'telegram', address: '-1005556667778', buurten: [B1] }, boa.token)).status, 403);
        assert.equal((await list(B1)).status, 401);
        assert.equal((await create({ adapter: 'telegram', address: '-1005556667778', buurten: [B1] })).status, 401);
        assert.equal((await remove(made.json.id)).status, 401);
        assert.equal((await remove(made.json.id, police.token)).status, 200);
    });

    test('bad requests: unknown adapter, bad fields, strict JSON', async () => {
        const bad = async (body, raw) => {
            const r = raw ? await api('POST', '/api/v1/groups', { token: police.token, raw }) : await create(body, police.token);
            assert.equal(r.status, 400, `${raw ?? JSON.stringify(body)}: ${r.text}`);
            assert.equal(r.json.code, 'bad_request');
            return r;
        };
        const unknown = await bad({ adapter: 'matrix', address: '!room:example.org', buurten: [B1] });
        assert.match(unknown.json.message, /adapter/);
        await bad({ adapter: 'signal', address: 'x', buurten: [B1] });
        await bad({ adapter: 'telegram', address: 'has space', buurten: [B1] });
        await bad({ adapter: 'telegram', address: '-1001', buurten: [] });
        await bad({ adapter: 'telegram', address: '-1001', buurten: ['WK010601'] });
        await bad({ adapter: 'telegram', address: '-1001', buurten: [B1, B1] });
        await bad({ adapter: 'telegram', address: '-1001', buurten: [B1], name: 'a\nb' });
        await bad({ adapter: 'telegram', address: '-1001', buurten: [B1], name: 'x'.repeat(81) });
        await bad(null, `{"adapter":"telegram","adapter":"webhook","address":"-1001","buurten":["${B1}"]}`);
        await bad(null, '{"adapter":"telegram"');
        assert.equal((await list('BU123', police.token)).status, 400);
        assert.equal((await api('GET', '/api/v1/groups', { token: police.token })).status, 400);
        assert.deepEqual(await redisCommand(redis.port, ['KEYS', 'chatlink:*']), []);
    });

    test('the same chat twice is 409 with the existing link id', async () => {
        const first = await create({ adapter: 'telegram', address: '-1004440001', buurten: [B1] }, police.token);
        assert.equal(first.status, 201);
        const again = await create({ adapter: 'telegram', address: '-1004440001', buurten: [B2], name: 'Dubbel' }, police.token);
        assert.equal(again.status, 409, again.text);
        assert.equal(again.json.code, 'conflict');
        assert.equal(again.json.error, 'conflict');
        assert.equal(again.json.id, first.json.id);
        assert.ok(!again.text.includes('-1004440001'));
        await waitAudit(redis, { actor: police.id, action: 'group.link', target: first.json.id, result: 'conflict' });
        // the same address on another adapter is another chat
        const other = await create({ adapter: 'webhook', address: '-1004440001', buurten: [B2] }, police.token);
        assert.equal(other.status, 201, other.text);
        // buurtctl sees the API's link as linked already, and vice versa
        const cli = await ctl(['group', 'link', '--adapter', 'telegram', '--address', '-1004440001', '--buurt', B2], { redisUrl: redis.url });
        assert.equal(cli.code, 1);
        assert.match(cli.stderr, new RegExp(`linked already \\(link ${first.json.id}\\)`));
        for (const id of [first.json.id, other.json.id]) assert.equal((await remove(id, police.token)).status, 200);
    });

    test('buurtctl lists an API link; an appeal to its buurt reaches the linked webhook exactly once', async () => {
        const made = await create({ adapter: 'webhook', address: `${hook.url}/hook/api-b4`, buurten: [B4], name: 'Buurtgroep Vaart' }, police.token);
        assert.equal(made.status, 201, made.text);
        const cli = await ctl(['group', 'list', '--buurt', B4], { redisUrl: redis.url });
        assert.equal(cli.code, 0, cli.stderr);
        assert.equal(cli.stdout, `${made.json.id} webhook ${B4} - Buurtgroep Vaart\n`);
        assert.ok(!cli.stdout.includes(hook.url));
        // and a link buurtctl makes is listed by the API
        const byCli = await ctl(['group', 'link', '--adapter', 'telegram', '--address', '-1007770001', '--buurt', B4, '--admin', beheerder.login], { redisUrl: redis.url });
        assert.equal(byCli.code, 0, byCli.stderr);
        const listed = await list(B4, police.token);
        assert.deepEqual(listed.json.links.map((l) => l.id).sort(), [made.json.id, byCli.stdout.trim()].sort());
        assert.equal(listed.json.links.find((l) => l.adapter === 'telegram').admin, beheerder.id);

        const before = hook.messages.length;
        const pol = await connect(relay.url, { token: police.token });
        await pol.postOk('groups-api-appeal', alert([B4]));
        await hook.waitMessages(before + 1);
        await tg.waitMessages(1);
        await delay(1500); // a duplicate would have arrived by now
        const mine = hook.messages.filter((m) => m.to === `${hook.url}/hook/api-b4`);
        assert.equal(mine.length, 1);
        assert.equal(mine[0].body.kind, 'appeal');
        assert.equal(mine[0].body.group, true);
        assert.equal(hook.messages.length, before + 1);
        assert.equal(tg.messages.filter((m) => m.to === '-1007770001').length, 1);
        pol.close();
    });
});
