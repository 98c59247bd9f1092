// cli.test.mjs - buurtctl against a real redis-server: accounts, tokens,
// revocation, and the Redis data model documented in relay/user_store.h
// (protocol.md, "Command line" and "Command-line details"); the audit
// trail (relay/audit.h) and AVG export/erase (relay/avg.h).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before } from 'node:test';
import {
    test, startRedis, startRelay, ctl, writeConfig, tempDir, tokenClaims,
    makeTokenSigner, connect, connectOutcome, dumpRedis, SRC,
} from './harness.mjs';

const B1 = 'BU01060101';
const B2 = 'BU01060102';
const W1 = 'WK010601';
const PHONE = '+31612345678';
const AUD = 'cli-test';

let redis;
let config;

before(async () => {
    redis = await startRedis();
    config = writeConfig({ 'token-audience': AUD });
});

const run = (args, opts = {}) => ctl(args, { redisUrl: redis.url, config, ...opts });

function oneErrorLine(r, what) {
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `${what}: one line on stderr, got ${JSON.stringify(r.stderr)}`);
    assert.match(lines[0], /^buurtctl: /, what);
    return lines[0];
}

async function addUser(login, role, { buurten = [], wijken = [], phone, password = 'geheim-wachtwoord' } = {}) {
    const args = ['user', 'add', '--login', login, '--role', role];
    for (const b of buurten) args.push('--buurt', b);
    for (const w of wijken) args.push('--wijk', w);
    if (phone) args.push('--phone', phone);
    return run(args, { input: `${password}\n` });
}

async function hash(key) {
    const flat = await redis.command('HGETALL', key);
    const out = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
    return out;
}

test('user add prints an id and stores exactly the documented model', async () => {
    const r = await addUser('Alice.Example@buurt', 'resident', { buurten: [B1, B2, B1], phone: PHONE });
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^u[0-9a-f]{16}$/);

    assert.equal(await redis.command('GET', 'login:alice.example@buurt'), id);
    const u = await hash(`user:${id}`);
    assert.deepEqual(Object.keys(u).sort(),
        ['buurten', 'counted', 'created', 'disabled', 'login', 'phone', 'pw', 'role', 'tokens_after', 'wijken']);
    assert.equal(u.counted, '1');
    assert.equal(u.login, 'alice.example@buurt');
    assert.equal(u.role, 'resident');
    assert.equal(u.buurten, `${B1},${B2}`);
    assert.equal(u.wijken, '');
    assert.equal(u.disabled, '0');
    assert.equal(u.tokens_after, '0');
    assert.ok(Math.abs(Number(u.created) - Date.now() / 1000) < 60);
    assert.match(u.pw, /^\$argon2id\$/);
    assert.match(u.phone, /^k1:[A-Za-z0-9+/]+=*$/);

    // Exactly one phone index, pointing at the user; no plaintext anywhere.
    const idx = await redis.command('KEYS', 'idx:phone:*');
    assert.equal(idx.length, 1);
    assert.match(idx[0], /^idx:phone:[0-9a-f]{64}$/);
    assert.equal(await redis.command('GET', idx[0]), id);
    for (const { key, values } of await dumpRedis(redis.port)) {
        assert.ok(!key.includes('612345678'), `key ${key} holds the phone number`);
        for (const v of values) assert.ok(!v.includes('612345678'), `${key} holds the phone number`);
    }
});

test('user add refuses a taken login or phone number, naming the login but never the number', async () => {
    assert.equal((await addUser('bob', 'police')).code, 0);
    const dup = await addUser('BOB', 'police');
    assert.equal(dup.code, 1);
    assert.equal(oneErrorLine(dup, 'dup login'), "buurtctl: user add: login 'bob' already exists");

    assert.equal((await addUser('carol', 'resident', { buurten: [B1], phone: '+31687654321' })).code, 0);
    const phone = await addUser('dave', 'resident', { buurten: [B1], phone: '+31687654321' });
    assert.equal(phone.code, 1);
    assert.ok(!oneErrorLine(phone, 'dup phone').includes('87654321'));
    assert.equal(await redis.command('GET', 'login:dave'), null, 'nothing written on conflict');
});

test('usage errors exit 2 with one line; role/area rules are enforced', async () => {
    const cases = [
        [['user', 'add', '--login', 'e1', '--role', 'resident'], 'resident without buurt'],
        [['user', 'add', '--login', 'e1', '--role', 'beheerder', '--wijk', W1], 'beheerder without buurt'],
        [['user', 'add', '--login', 'e1', '--role', 'boa', '--buurt', B1], 'boa without wijk'],
        [['user', 'add', '--login', 'e1', '--role', 'king'], 'unknown role'],
        [['user', 'add', '--login', 'E 1', '--role', 'police'], 'bad login'],
        [['user', 'add', '--login', 'e1', '--role', 'resident', '--buurt', 'bu01060101'], 'bad buurt code'],
        [['user', 'add', '--login', 'e1', '--role', 'boa', '--wijk', 'WK0106'], 'bad wijk code'],
        [['user', 'add', '--login', 'e1', '--role', 'police', '--phone', '0612345678'], 'bad phone'],
        [['user', 'add', '--role', 'police'], 'no login'],
        [['token'], 'token without login'],
        [['token', '--login', 'bob', '--ttl', 'soon'], 'bad ttl'],
        [['token', 'revoke'], 'revoke without target'],
        [['frobnicate'], 'unknown command'],
    ];
    for (const [args, what] of cases) {
        const r = await run(args, { input: 'geheim-wachtwoord\n' });
        assert.equal(r.code, 2, `${what}: ${r.stderr}`);
        const line = oneErrorLine(r, what);
        assert.ok(!line.includes('612345678'), `${what}: phone echoed`);
    }
    assert.equal(await redis.command('GET', 'login:e1'), null);
    const more = [
        [['audit'], 'audit without subcommand'],
        [['audit', 'frob'], 'unknown audit subcommand'],
        [['audit', 'list', '--count', '0'], 'count 0'],
        [['audit', 'list', '--count', 'all'], 'count not a number'],
        [['audit', 'verify', 'now'], 'stray word'],
        [['export'], 'export without login'],
        [['erase'], 'erase without login'],
        [['erase', '--login', 'E 1'], 'erase bad login'],
    ];
    for (const [args, what] of more) {
        const r = await run(args);
        assert.equal(r.code, 2, `${what}: ${r.stderr}`);
        oneErrorLine(r, what);
    }
});

test('the password is one line: newline and CR are not part of it; short ones are refused', async () => {
    const short = await run(['user', 'add', '--login', 'pw1', '--role', 'police'], { input: 'kort\n' });
    assert.equal(short.code, 1);
    assert.ok(!oneErrorLine(short, 'short').includes('kort'));
    const dir = tempDir('buurtctl-pw-');
    const file = path.join(dir, 'pw');
    writeFileSync(file, 'geheim-wachtwoord\r\n', { mode: 0o600 });
    const r = await run(['user', 'add', '--login', 'pw2', '--role', 'police', '--password-file', file]);
    assert.equal(r.code, 0, r.stderr);
    const noNewline = await run(['user', 'add', '--login', 'pw3', '--role', 'police'], { input: 'geheim-wachtwoord' });
    assert.equal(noNewline.code, 0, noNewline.stderr);
});

test('token prints a br1 token for the user with the configured audience and ttl', async () => {
    const id = (await addUser('erin', 'boa', { wijken: [W1] })).stdout.trim();
    const r = await run(['token', '--login', 'Erin', '--ttl', '600']);
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    assert.equal(r.stdout, `${token}\n`);
    const c = tokenClaims(token);
    assert.equal(c.sub, id);
    assert.equal(c.role, 'boa');
    assert.equal(c.aud, AUD);
    assert.equal(c.exp - c.iat, 600);
    assert.match(c.jti, /^[0-9a-f]{32}$/);
    assert.ok(makeTokenSigner(token), 'tag covers "br1." + payload with the shared key');
});

test('token revoke --token stores revoked:{jti} until the token expires', async () => {
    await addUser('frank', 'police');
    const token = (await run(['token', '--login', 'frank', '--ttl', '300'])).stdout.trim();
    const { jti } = tokenClaims(token);
    const r = await run(['token', 'revoke', '--token', token]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await redis.command('GET', `revoked:${jti}`), '1');
    const ttl = await redis.command('TTL', `revoked:${jti}`);
    assert.ok(ttl > 290 && ttl <= 300, `ttl ${ttl}`);

    const bad = token.slice(0, -2) + (token.endsWith('A') ? 'BB' : 'AA');
    const forged = await run(['token', 'revoke', '--token', bad]);
    assert.equal(forged.code, 1);
    assert.ok(!oneErrorLine(forged, 'forged').includes(bad.slice(4, 20)), 'token not echoed');
});

test('token revoke --login kills tokens of this second; a token issued right after lives', async () => {
    const id = (await addUser('gina', 'police')).stdout.trim();
    const before = tokenClaims((await run(['token', '--login', 'gina'])).stdout.trim());
    assert.equal((await run(['token', 'revoke', '--login', 'gina'])).code, 0);
    const after = Number(await redis.command('HGET', `user:${id}`, 'tokens_after'));
    assert.ok(before.iat < after, 'a token from the same second is revoked (iat < tokens_after)');
    const fresh = tokenClaims((await run(['token', '--login', 'gina'])).stdout.trim());
    assert.ok(fresh.iat >= after, 'the next token is not born revoked');
    assert.ok(fresh.iat <= Date.now() / 1000 + 2);
});

test('user disable sets disabled and tokens_after, and token then refuses', async () => {
    const id = (await addUser('hank', 'resident', { buurten: [B1], phone: '+31611111111' })).stdout.trim();
    assert.equal((await run(['user', 'disable', '--login', 'hank'])).code, 0);
    const u = await hash(`user:${id}`);
    assert.equal(u.disabled, '1');
    assert.ok(Number(u.tokens_after) >= Math.floor(Date.now() / 1000));
    const t = await run(['token', '--login', 'hank']);
    assert.equal(t.code, 1);
    assert.equal(oneErrorLine(t, 'disabled'), "buurtctl: token: user 'hank' is disabled");

    const show = await run(['user', 'show', '--login', 'hank']);
    assert.equal(show.code, 0);
    assert.match(show.stdout, new RegExp(`^id: ${id}$`, 'm'));
    assert.match(show.stdout, /^disabled: yes$/m);
    assert.match(show.stdout, /^buurten: BU01060101$/m);
    assert.ok(!show.stdout.includes('611111111') && !show.stdout.includes('argon2') &&
              !show.stdout.includes('k1:'), 'no phone or hash in user show');
});

test('an unknown login and an unreachable Redis are one-line errors with exit 1', async () => {
    const r = await run(['user', 'show', '--login', 'nobody']);
    assert.equal(r.code, 1);
    assert.equal(oneErrorLine(r, 'unknown'), "buurtctl: user show: no user 'nobody'");
    const down = await ctl(['user', 'show', '--login', 'bob'], { redisUrl: 'redis://127.0.0.1:1', config });
    assert.equal(down.code, 1);
    oneErrorLine(down, 'redis down');
});

test('--version and --help exit 0', async () => {
    const v = await run(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^buurtctl \d+\.\d+\.\d+\n$/);
    const h = await run(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /token revoke --token T/);
    // Every command is listed, at the start of its line.
    for (const cmd of ['user add', 'user set', 'user passwd', 'user disable', 'user enable',
        'user show', 'token --login', 'token revoke --token', 'token revoke --login',
        'audit list', 'audit verify', 'export', 'erase'])
        assert.match(h.stdout, new RegExp(`^  ${cmd} `, 'm'), `--help lists ${cmd}`);
    for (const opt of ['--no-phone', '--no-buurt', '--no-wijk', '--password-file', '--address', '--no-address'])
        assert.ok(h.stdout.includes(opt), `--help mentions ${opt}`);
    const sub = await run(['user', 'frob']);
    assert.equal(sub.code, 2);
    assert.match(oneErrorLine(sub, 'user frob'), /add, set, passwd, disable, enable, show/);
});

// --- audit trail -----------------------------------------------------------

const AUDIT_LINE = /^(\d+-\d+) (\d+) (\S+) (\S+) (\S+) (\S+) (\S+)$/;

async function auditLines(args = []) {
    const r = await run(['audit', 'list', ...args]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    for (const l of lines) assert.match(l, AUDIT_LINE);
    return lines.map((l) => {
        const [, id, ts, actor, role, action, target, result] = AUDIT_LINE.exec(l);
        return { id, ts: Number(ts), actor, role, action, target, result };
    });
}

async function auditVerify() {
    return run(['audit', 'verify']);
}

test('user add, token, revoke and disable are on the audit trail, and it verifies', async () => {
    const id = (await addUser('ivy', 'police')).stdout.trim();
    const token = (await run(['token', '--login', 'ivy'])).stdout.trim();
    assert.equal((await run(['token', 'revoke', '--token', token])).code, 0);
    assert.equal((await run(['token', 'revoke', '--login', 'ivy'])).code, 0);
    assert.equal((await run(['user', 'disable', '--login', 'ivy'])).code, 0);

    const mine = (await auditLines()).filter((e) => e.target === id);
    assert.deepEqual(mine.map((e) => e.action),
        ['user.add', 'token.issue', 'token.revoke', 'token.revoke_all', 'user.disable']);
    for (const e of mine) {
        assert.equal(e.actor, 'cli');
        assert.equal(e.role, 'operator');
        assert.equal(e.result, 'ok');
        assert.ok(Math.abs(e.ts - Date.now()) < 60000, `ts ${e.ts}`);
    }
    // The entries name ids, never the token itself.
    const raw = await redis.command('XRANGE', 'audit', '-', '+');
    assert.ok(!JSON.stringify(raw).includes(token.split('.')[1]), 'no token in the audit stream');

    const all = await auditLines();
    const last2 = await auditLines(['--count', '2']);
    assert.deepEqual(last2, all.slice(-2));

    const v = await auditVerify();
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, `audit: ${all.length} entries, chain intact\n`);
    assert.equal(await redis.command('GET', 'audit:head'),
        (await redis.command('XREVRANGE', 'audit', '+', '-', 'COUNT', '1'))[0][1].at(-1));
});

// Replaces the whole stream by 'entries' ([id, [f, v, ...]]), same ids.
async function rewriteAudit(entries) {
    await redis.command('DEL', 'audit');
    for (const [id, fields] of entries) await redis.command('XADD', 'audit', id, ...fields);
}

test('audit verify names an edited entry, an inserted one and a missing one', async () => {
    const original = await redis.command('XRANGE', 'audit', '-', '+');
    assert.ok(original.length >= 5, 'earlier tests wrote entries');
    const k = Math.floor(original.length / 2);
    const victim = original[k][0];

    // Edit one field of one entry, keeping its id and its stored hash.
    const edited = original.map(([id, f]) => [id, [...f]]);
    const at = edited[k][1].indexOf('action');
    edited[k][1][at + 1] = 'user.show';
    await rewriteAudit(edited);
    let v = await auditVerify();
    assert.equal(v.code, 1, v.stdout);
    const line = oneErrorLine(v, 'edited');
    assert.match(line, /^buurtctl: audit verify: chain broken at entry /);
    assert.ok(line.includes(victim), `names ${victim}: ${line}`);
    assert.match(line, /edited/);

    // Remove it instead: the next entry no longer links up.
    await rewriteAudit(original.filter((_, i) => i !== k));
    v = await auditVerify();
    assert.equal(v.code, 1);
    assert.ok(oneErrorLine(v, 'removed').includes(original[k + 1][0]));

    // Restored, it verifies again.
    await rewriteAudit(original);
    assert.equal((await auditVerify()).code, 0);

    // An entry added by hand after the last one, with a made-up hash.
    const last = original.at(-1)[1];
    const forged = await redis.command('XADD', 'audit', '*', 'ts', String(Date.now()),
        'actor', 'cli', 'role', 'operator', 'action', 'user.add', 'target', 'u0000000000000000',
        'result', 'ok', 'prev', last[last.indexOf('hash') + 1], 'hash', 'f'.repeat(64));
    v = await auditVerify();
    assert.equal(v.code, 1);
    assert.ok(oneErrorLine(v, 'forged').includes(forged));
    await redis.command('XDEL', 'audit', forged);
    assert.equal((await auditVerify()).code, 0);

    // The last entry cut off: audit:head still names it.
    await redis.command('XDEL', 'audit', original.at(-1)[0]);
    v = await auditVerify();
    assert.equal(v.code, 1);
    assert.match(oneErrorLine(v, 'truncated'), /audit:head/);
    await rewriteAudit(original);
    assert.equal((await auditVerify()).code, 0);
});

// --- changing accounts: set, passwd, enable; the reach counters ----------------

// One relay for the tests that need the daemon's view of a token.
let relay;
async function liveRelay() {
    relay ??= await startRelay({ redisUrl: redis.url, extraConfig: { 'token-audience': AUD } });
    return relay;
}

// stats:buurt:{code} as numbers (absent fields are 0).
async function stats(code) {
    const h = await hash(`stats:buurt:${code}`);
    return { ws: Number(h.ws ?? 0), sms: Number(h.sms ?? 0), chat: Number(h.chat ?? 0) };
}

// Snapshot of several buurten's counters; diff() gives the change since.
async function counters(codes) {
    const before = {};
    for (const c of codes) before[c] = await stats(c);
    return {
        async diff() {
            const out = {};
            for (const c of codes) {
                const now = await stats(c);
                const d = { ws: now.ws - before[c].ws, sms: now.sms - before[c].sms, chat: now.chat - before[c].chat };
                if (d.ws || d.sms || d.chat) out[c] = d;
            }
            return out;
        },
    };
}

// The idx:phone:* keys that point at user 'id'.
async function phoneIndexes(id) {
    const out = [];
    for (const k of await redis.command('KEYS', 'idx:phone:*'))
        if ((await redis.command('GET', k)) === id) out.push(k);
    return out;
}

// A token of a revoked or changed account must not be let in.
async function assertRefused(token, what) {
    const out = await connectOutcome((await liveRelay()).url, { token });
    if (out.kind === 'rejected') {
        assert.equal(out.statusCode, 401, what);
    } else if (out.kind === 'error') {
        assert.equal(out.frame.code, 'unauthorized', what);
        await out.client.close();
    } else if (out.kind !== 'closed') {
        await out.client.close();
        assert.fail(`${what}: token accepted: ${JSON.stringify(out.frame)}`);
    }
}

async function login(loginName, password) {
    const res = await fetch(`${(await liveRelay()).http}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ login: loginName, password }),
    });
    const text = await res.text();
    return { status: res.status, body: text };
}

const B3 = 'BU01060201';
const B4 = 'BU01060202';
const B5 = 'BU01060203';
const B6 = 'BU01060301';
const B7 = 'BU01060302';
const W2 = 'WK010602';
const KEES_PHONE = '+31620000001';
const KEES_PHONE2 = '+31620000002';
const ONE = { ws: 1, sms: 1, chat: 0 };
const MINUS = { ws: -1, sms: -1, chat: 0 };
let kees; // {id, password}

test('user set replaces role and areas, moves the counters exactly and revokes old tokens', async () => {
    const watch = [B3, B4, B5];
    let snap = await counters(watch);
    const id = (await addUser('kees', 'resident', { buurten: [B3, B4], phone: KEES_PHONE })).stdout.trim();
    kees = { id, password: 'geheim-wachtwoord' };
    assert.deepEqual(await snap.diff(), { [B3]: ONE, [B4]: ONE }, 'user add counts');

    const old = (await run(['token', '--login', 'kees'])).stdout.trim();
    const ok = await connectOutcome((await liveRelay()).url, { token: old });
    assert.equal(ok.kind, 'welcome', JSON.stringify(ok.frame));
    await ok.client.close();

    // Replace the buurten: B3 leaves, B5 comes, B4 stays as it was.
    snap = await counters(watch);
    const r = await run(['user', 'set', '--login', 'KEES', '--buurt', B4, '--buurt', B5]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(await snap.diff(), { [B3]: MINUS, [B5]: ONE });
    const u = await hash(`user:${id}`);
    assert.equal(u.buurten, `${B4},${B5}`);
    assert.equal(u.role, 'resident');
    assert.equal(u.counted, '1');
    assert.ok(Number(u.tokens_after) > tokenClaims(old).iat, 'tokens issued so far are revoked');

    // The running relay refuses the old token; a new one carries the new areas.
    await assertRefused(old, 'token from before user set');
    const fresh = (await run(['token', '--login', 'kees'])).stdout.trim();
    const c = await connect(relay.url, { token: fresh, name: 'kees' });
    assert.deepEqual(c.welcome.user.buurten, [B4, B5]);
    await c.close();

    // A role that is not counted takes the account out of the counters;
    // the rules of user add apply to the result.
    snap = await counters(watch);
    assert.equal((await run(['user', 'set', '--login', 'kees', '--role', 'police'])).code, 0);
    assert.deepEqual(await snap.diff(), { [B4]: MINUS, [B5]: MINUS });
    const boa = await run(['user', 'set', '--login', 'kees', '--role', 'boa']);
    assert.equal(boa.code, 2, 'boa without a wijk');
    assert.match(oneErrorLine(boa, 'boa without wijk'), /needs at least one wijk/);
    assert.equal((await run(['user', 'set', '--login', 'kees', '--role', 'boa', '--wijk', W2])).code, 0);
    assert.equal((await hash(`user:${id}`)).wijken, W2);
    assert.equal((await run(['user', 'set', '--login', 'kees', '--role', 'beheerder', '--no-wijk'])).code, 0);
    assert.deepEqual(await snap.diff(), {}, 'counted again as beheerder');
    const v = await hash(`user:${id}`);
    assert.deepEqual([v.role, v.buurten, v.wijken], ['beheerder', `${B4},${B5}`, '']);
    assert.equal((await run(['user', 'set', '--login', 'kees', '--role', 'resident'])).code, 0);

    const mine = (await auditLines()).filter((e) => e.target === id && e.action === 'user.set');
    assert.equal(mine.length, 5);
    assert.ok(mine.every((e) => e.actor === 'cli' && e.result === 'ok'));
});

test('user set usage errors exit 2 with one line and change nothing', async () => {
    const before = await hash(`user:${kees.id}`);
    const cases = [
        [['user', 'set', '--login', 'kees'], 'nothing to change'],
        [['user', 'set', '--role', 'police'], 'no login'],
        [['user', 'set', '--login', 'kees', '--role', 'king'], 'unknown role'],
        [['user', 'set', '--login', 'kees', '--buurt', 'BU1'], 'bad buurt'],
        [['user', 'set', '--login', 'kees', '--wijk', 'WK1'], 'bad wijk'],
        [['user', 'set', '--login', 'kees', '--phone', '0612345678'], 'bad phone'],
        [['user', 'set', '--login', 'kees', '--phone', KEES_PHONE2, '--no-phone'], 'phone and no-phone'],
        [['user', 'set', '--login', 'kees', '--buurt', B3, '--no-buurt'], 'buurt and no-buurt'],
        [['user', 'set', '--login', 'kees', '--no-phone=yes'], 'flag with a value'],
        [['user', 'set', '--login', 'kees', '--no-buurt'], 'resident without buurt'],
        [['user', 'passwd'], 'passwd without login'],
        [['user', 'enable'], 'enable without login'],
    ];
    for (const [args, what] of cases) {
        const r = await run(args);
        assert.equal(r.code, 2, `${what}: ${r.stderr}`);
        assert.ok(!oneErrorLine(r, what).includes('612345678'), `${what}: phone echoed`);
    }
    assert.deepEqual(await hash(`user:${kees.id}`), before);
    const nobody = await run(['user', 'set', '--login', 'nobody', '--role', 'police']);
    assert.equal(nobody.code, 1);
    assert.equal(oneErrorLine(nobody, 'unknown'), "buurtctl: user set: no user 'nobody'");
});

test('user set --phone moves the phone index, refuses a taken number, --no-phone removes it', async () => {
    const { id } = kees;
    const [oldIdx] = await phoneIndexes(id);
    assert.ok(oldIdx, 'kees has a phone index');
    const oldPhone = (await hash(`user:${id}`)).phone;
    const watch = [B4, B5];

    // A number that belongs to carol (an earlier test): refused, nothing moves.
    let snap = await counters(watch);
    const taken = await run(['user', 'set', '--login', 'kees', '--phone', '+31687654321', '--buurt', B3]);
    assert.equal(taken.code, 1);
    const line = oneErrorLine(taken, 'taken');
    assert.match(line, /already belongs to another user/);
    assert.ok(!line.includes('87654321'));
    assert.deepEqual(await phoneIndexes(id), [oldIdx]);
    const u0 = await hash(`user:${id}`);
    assert.equal(u0.phone, oldPhone);
    assert.equal(u0.buurten, `${B4},${B5}`, 'nothing of a refused change is written');
    assert.deepEqual(await snap.diff(), {});

    // A new number: a new index, the old one gone; still one sms each.
    const r = await run(['user', 'set', '--login', 'kees', '--phone', KEES_PHONE2]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes('20000002') && !r.stderr.includes('20000002'));
    const [newIdx, ...more] = await phoneIndexes(id);
    assert.equal(more.length, 0);
    assert.notEqual(newIdx, oldIdx);
    assert.equal(await redis.command('EXISTS', oldIdx), 0, 'the old index is freed');
    assert.deepEqual(await snap.diff(), {});
    const exp = JSON.parse((await run(['export', '--login', 'kees'])).stdout);
    assert.equal(exp.account.phone, KEES_PHONE2, 'decrypts under its own record');

    // The old number is free again for someone else.
    const other = await addUser('kees2', 'police', { phone: KEES_PHONE });
    assert.equal(other.code, 0, other.stderr);

    // No phone: no index, no sms; a number again: back in sms.
    snap = await counters(watch);
    assert.equal((await run(['user', 'set', '--login', 'kees', '--no-phone'])).code, 0);
    assert.deepEqual(await phoneIndexes(id), []);
    assert.equal((await hash(`user:${id}`)).phone, undefined);
    assert.deepEqual(await snap.diff(), { [B4]: { ws: 0, sms: -1, chat: 0 }, [B5]: { ws: 0, sms: -1, chat: 0 } });
    assert.equal((await run(['user', 'set', '--login', 'kees', '--phone', KEES_PHONE2])).code, 0);
    assert.deepEqual(await snap.diff(), {});
    assert.equal((await phoneIndexes(id)).length, 1);
});

test('user passwd: the old password is refused, the new one logs in, old tokens die', async () => {
    const before = (await login('kees', kees.password));
    assert.equal(before.status, 200, before.body);
    const oldToken = JSON.parse(before.body).token;

    const dir = tempDir('buurtctl-pw-');
    const file = path.join(dir, 'pw');
    writeFileSync(file, 'nieuw-geheim-123\n', { mode: 0o600 });
    const r = await run(['user', 'passwd', '--login', 'kees', '--password-file', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes('nieuw-geheim') && !r.stderr.includes('nieuw-geheim'));

    const old = await login('kees', kees.password);
    assert.ok(old.status >= 400 && old.status < 500, `old password answered ${old.status}`);
    const now = await login('kees', 'nieuw-geheim-123');
    assert.equal(now.status, 200, now.body);
    await assertRefused(oldToken, 'token from before the password change');
    const c = await connect(relay.url, { token: JSON.parse(now.body).token });
    assert.equal(c.welcome.user.id, kees.id);
    await c.close();

    // From standard input too; a short one is refused and changes nothing.
    assert.equal((await run(['user', 'passwd', '--login', 'kees'], { input: 'nog-een-wachtwoord\n' })).code, 0);
    const short = await run(['user', 'passwd', '--login', 'kees'], { input: 'kort\n' });
    assert.equal(short.code, 1);
    assert.ok(!oneErrorLine(short, 'short').includes('kort'));
    assert.equal((await login('kees', 'nog-een-wachtwoord')).status, 200);
    const mine = (await auditLines()).filter((e) => e.target === kees.id && e.action === 'user.passwd');
    assert.equal(mine.length, 2);
});

test('disable and enable move the counters once; erase of a disabled account does not count twice', async () => {
    const watch = [B6, B7];
    const snap = await counters(watch);
    const id = (await addUser('lies', 'resident', { buurten: [B6], phone: '+31620000003' })).stdout.trim();
    assert.deepEqual(await snap.diff(), { [B6]: ONE });
    const token = (await run(['token', '--login', 'lies'])).stdout.trim();

    assert.equal((await run(['user', 'disable', '--login', 'lies'])).code, 0);
    assert.deepEqual(await snap.diff(), {}, 'a disabled account is not counted');
    assert.equal((await hash(`user:${id}`)).counted, '0');
    assert.equal((await run(['user', 'disable', '--login', 'lies'])).code, 0);
    assert.deepEqual(await snap.diff(), {}, 'disabling twice takes it out once');

    // Changed while disabled: nothing moves until it is enabled.
    assert.equal((await run(['user', 'set', '--login', 'lies', '--buurt', B7])).code, 0);
    assert.deepEqual(await snap.diff(), {});
    const en = await run(['user', 'enable', '--login', 'lies']);
    assert.equal(en.code, 0, en.stderr);
    assert.deepEqual(await snap.diff(), { [B7]: ONE });
    const u = await hash(`user:${id}`);
    assert.equal(u.disabled, '0');
    assert.equal(u.counted, '1');
    assert.equal((await run(['user', 'enable', '--login', 'lies'])).code, 0);
    assert.deepEqual(await snap.diff(), { [B7]: ONE }, 'enabling twice counts once');
    await assertRefused(token, 'token from before the disable, after enable');
    assert.equal((await run(['token', '--login', 'lies'])).code, 0, 'an enabled account gets tokens');

    // Erase of a disabled account: already out of the counters.
    assert.equal((await run(['user', 'disable', '--login', 'lies'])).code, 0);
    assert.equal((await run(['erase', '--login', 'lies'])).code, 0);
    assert.deepEqual(await snap.diff(), {});

    // Erase of an enabled one takes it out.
    assert.equal((await addUser('mies', 'beheerder', { buurten: [B6, B7] })).code, 0);
    assert.deepEqual(await snap.diff(), { [B6]: { ws: 1, sms: 0, chat: 0 }, [B7]: { ws: 1, sms: 0, chat: 0 } });
    assert.equal((await run(['erase', '--login', 'mies'])).code, 0);
    assert.deepEqual(await snap.diff(), {});

    const actions = (await auditLines()).filter((e) => e.target === id).map((e) => e.action);
    assert.deepEqual(actions, ['user.add', 'token.issue', 'user.disable', 'user.disable', 'user.set',
        'user.enable', 'user.enable', 'token.issue', 'user.disable', 'user.erase']);
    assert.equal((await auditVerify()).code, 0);
});

// --- addresses: postcode + house number to buurt, stored encrypted -------------

// Rows of config/areas/assen-postcodes.csv: 9404BA even -> BU01060402,
// 9405BA odd -> BU01060602, 9409TA -> BU01060702; 9404AB runs to 29.
const HOME = '9404BA:12';
const WORK = '9405 ba:7'; // the forms areas_postcode accepts
const MOVED = '9409TA:3';
const BU_HOME = 'BU01060402';
const BU_WORK = 'BU01060602';
const BU_MOVED = 'BU01060702';
const BU_OWN = 'BU01060701';
const POSTCODES = ['9404BA', '9404 BA', '9405BA', '9405 BA', '9405ba', '9409TA', '9999ZZ', '9404AB'];

let addrConfig;
const runA = (args, opts = {}) => run(args, { config: addrConfig, ...opts });

// No value and no key of the whole Redis holds one of the postcodes.
async function assertNoPostcode(what) {
    for (const { key, values } of await dumpRedis(redis.port)) {
        for (const pc of POSTCODES) {
            assert.ok(!key.toUpperCase().includes(pc.toUpperCase()), `${what}: key ${key} holds ${pc}`);
            for (const v of values)
                assert.ok(!v.toUpperCase().includes(pc.toUpperCase()), `${what}: ${key} holds ${pc}`);
        }
    }
}

test('user add --address places a resident in the buurten of home and work, stored only encrypted', async () => {
    addrConfig = writeConfig({
        'token-audience': AUD,
        'areas-file': path.join(SRC, 'config/areas/assen-buurten.geojson'),
        'postcodes-file': path.join(SRC, 'config/areas/assen-postcodes.csv'),
    });
    const watch = [BU_HOME, BU_WORK, BU_OWN, BU_MOVED];
    const snap = await counters(watch);
    const r = await runA(['user', 'add', '--login', 'anouk', '--role', 'resident', '--buurt', BU_OWN,
        '--address', HOME, '--address', WORK, '--address', HOME], { input: 'geheim-wachtwoord\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const id = r.stdout.trim();
    assert.deepEqual(await snap.diff(), {
        [BU_OWN]: { ws: 1, sms: 0, chat: 0 }, [BU_HOME]: { ws: 1, sms: 0, chat: 0 },
        [BU_WORK]: { ws: 1, sms: 0, chat: 0 },
    });
    const u = await hash(`user:${id}`);
    assert.equal(u.buurten, `${BU_OWN},${BU_HOME},${BU_WORK}`);
    assert.match(u.addresses, /^k1:[A-Za-z0-9+/]+=*$/);

    const show = await runA(['user', 'show', '--login', 'anouk']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^buurten: ${BU_OWN},${BU_HOME},${BU_WORK}$`, 'm'));
    assert.match(show.stdout, /^addresses: 2 set$/m, 'the repeated address is stored once');
    // (the random id and token times may hold any digits: look at the
    // output without them)
    const shown = show.stdout.replace(/^(id|created|tokens_after): .*$/gm, '');
    assert.ok(!/9404|9405|k1:/.test(shown), 'user show prints no address');
    await assertNoPostcode('after user add');

    // Only addresses: the resident needs no --buurt; the house number
    // decides on a postcode split by parity.
    const only = await runA(['user', 'add', '--login', 'bram', '--role', 'resident', '--address', '9404BA:13'],
        { input: 'geheim-wachtwoord\n' });
    assert.equal(only.code, 0, only.stderr);
    assert.equal((await hash(`user:${only.stdout.trim()}`)).buurten, 'BU01060401');
    assert.match((await runA(['user', 'show', '--login', 'bram'])).stdout, /^addresses: 1 set$/m);
    assert.match((await runA(['user', 'show', '--login', 'kees'])).stdout, /^addresses: none$/m);

    // Decrypted for the person in their export, and nowhere else.
    const exp = await runA(['export', '--login', 'anouk']);
    assert.equal(exp.code, 0, exp.stderr);
    assert.deepEqual(JSON.parse(exp.stdout).account.addresses,
        [{ postcode: '9404BA', number: 12 }, { postcode: '9405BA', number: 7 }]);
    assert.deepEqual(JSON.parse((await runA(['export', '--login', 'kees'])).stdout).account.addresses, []);
});

test('an unknown or malformed address fails, naming only its position, and changes nothing', async () => {
    const watch = [BU_HOME, BU_WORK, BU_OWN, BU_MOVED];
    const snap = await counters(watch);
    const keysBefore = (await redis.command('KEYS', '*')).filter((k) => k !== 'audit' && k !== 'audit:head').sort();
    for (const bad of ['9999ZZ:1', '9404AB:30']) {
        const r = await runA(['user', 'add', '--login', 'cas', '--role', 'resident',
            '--address', HOME, '--address', bad], { input: 'geheim-wachtwoord\n' });
        assert.equal(r.code, 1, `${bad}: ${r.stderr}`);
        assert.equal(oneErrorLine(r, bad), 'buurtctl: user add: address 2 is not in the postcode table');
    }
    assert.equal(await redis.command('GET', 'login:cas'), null);

    const id = await redis.command('GET', 'login:anouk');
    const before = await hash(`user:${id}`);
    const set = await runA(['user', 'set', '--login', 'anouk', '--address', '9999ZZ:1']);
    assert.equal(set.code, 1);
    assert.equal(oneErrorLine(set, 'set unknown'), 'buurtctl: user set: address 1 is not in the postcode table');
    assert.deepEqual(await hash(`user:${id}`), before);

    const usageCases = [
        [['user', 'add', '--login', 'cas', '--role', 'resident', '--address', '9404BA-12'], 'no colon'],
        [['user', 'add', '--login', 'cas', '--role', 'resident', '--address', '9404BA:0'], 'number 0'],
        [['user', 'add', '--login', 'cas', '--role', 'resident', '--address', '9404BA:12a'], 'addition'],
        [['user', 'add', '--login', 'cas', '--role', 'resident', '--address', '0404BA:12'], 'leading 0'],
        [['user', 'add', '--login', 'cas', '--role', 'boa', '--address', HOME], 'boa without wijk'],
        [['user', 'add', '--login', 'cas', '--role', 'resident', ...['1', '2', '3', '4', '5'].flatMap(
            (n) => ['--address', `9404AA:${n}`])], 'five addresses'],
        [['user', 'set', '--login', 'anouk', '--address', HOME, '--no-address'], 'address and no-address'],
        [['user', 'set', '--login', 'anouk', '--address', '9404 BA 12'], 'set malformed'],
    ];
    for (const [args, what] of usageCases) {
        const r = await runA(args, { input: 'geheim-wachtwoord\n' });
        assert.equal(r.code, 2, `${what}: ${r.stderr}`);
        assert.ok(!/9404|0404/.test(oneErrorLine(r, what)), `${what}: address echoed`);
    }

    // A config without area data cannot place anyone.
    const noAreas = await run(['user', 'add', '--login', 'cas', '--role', 'resident', '--address', HOME],
        { input: 'geheim-wachtwoord\n' });
    assert.equal(noAreas.code, 1);
    assert.match(oneErrorLine(noAreas, 'no areas'), /needs areas-file and postcodes-file/);

    assert.deepEqual(await snap.diff(), {});
    assert.deepEqual((await redis.command('KEYS', '*')).filter((k) => k !== 'audit' && k !== 'audit:head').sort(),
        keysBefore);
    await assertNoPostcode('after refused changes');
});

test('user set --address moves the buurten and the counters; --no-address forgets the addresses', async () => {
    const id = await redis.command('GET', 'login:anouk');
    const watch = [BU_HOME, BU_WORK, BU_OWN, BU_MOVED];
    let snap = await counters(watch);
    const r = await runA(['user', 'set', '--login', 'anouk', '--address', MOVED]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    // The buurten of the old addresses go, the one given by hand stays.
    assert.deepEqual(await snap.diff(), {
        [BU_HOME]: { ws: -1, sms: 0, chat: 0 }, [BU_WORK]: { ws: -1, sms: 0, chat: 0 },
        [BU_MOVED]: { ws: 1, sms: 0, chat: 0 },
    });
    assert.equal((await hash(`user:${id}`)).buurten, `${BU_OWN},${BU_MOVED}`);
    assert.match((await runA(['user', 'show', '--login', 'anouk'])).stdout, /^addresses: 1 set$/m);
    assert.deepEqual(JSON.parse((await runA(['export', '--login', 'anouk'])).stdout).account.addresses,
        [{ postcode: '9409TA', number: 3 }]);

    // With --buurt the buurten are exactly those plus the addresses'.
    snap = await counters(watch);
    assert.equal((await runA(['user', 'set', '--login', 'anouk', '--buurt', BU_WORK, '--address', HOME])).code, 0);
    assert.equal((await hash(`user:${id}`)).buurten, `${BU_WORK},${BU_HOME}`);
    assert.deepEqual(await snap.diff(), {
        [BU_OWN]: { ws: -1, sms: 0, chat: 0 }, [BU_MOVED]: { ws: -1, sms: 0, chat: 0 },
        [BU_WORK]: { ws: 1, sms: 0, chat: 0 }, [BU_HOME]: { ws: 1, sms: 0, chat: 0 },
    });
    await assertNoPostcode('after user set --address');

    // --no-address: the addresses are gone, the buurten stay.
    snap = await counters(watch);
    assert.equal((await runA(['user', 'set', '--login', 'anouk', '--no-address'])).code, 0);
    const u = await hash(`user:${id}`);
    assert.equal(u.addresses, undefined);
    assert.equal(u.buurten, `${BU_WORK},${BU_HOME}`);
    assert.deepEqual(await snap.diff(), {});
    assert.match((await runA(['user', 'show', '--login', 'anouk'])).stdout, /^addresses: none$/m);

    // Erase leaves no ciphertext behind either.
    assert.equal((await runA(['user', 'set', '--login', 'anouk', '--address', WORK])).code, 0);
    const sealed = (await hash(`user:${id}`)).addresses;
    assert.ok(sealed);
    assert.equal((await runA(['erase', '--login', 'anouk'])).code, 0);
    for (const { key, values } of await dumpRedis(redis.port))
        for (const v of values) assert.ok(!v.includes(sealed), `${key} holds the sealed addresses`);
    const actions = (await auditLines()).filter((e) => e.target === id).map((e) => e.action);
    assert.deepEqual(actions.filter((a) => a === 'user.set').length, 4);
});

// --- AVG: export and erase ------------------------------------------------------

const ERASE_PHONE = '+31655501234';
const REPORT_BODY = 'Groep van vijf jongeren schreeuwt en gooit met flessen bij het speelveld; een draagt een rode jas, een ander een wit petje.';
let person; // {id, login, token, case, index}

test('export prints everything stored about a person, their phone number included', async () => {
    await liveRelay();
    const id = (await addUser('jula', 'resident', { buurten: [B1], phone: ERASE_PHONE })).stdout.trim();
    const token = (await run(['token', '--login', 'jula'])).stdout.trim();
    const c = await connect(relay.url, { token, name: 'jula' });
    const ack = await c.postOk('r1', { kind: 'report', buurt: B1, category: 'overlast', body: REPORT_BODY });
    await c.close();
    person = { id, login: 'jula', token, case: ack.case };
    for (const k of await redis.command('KEYS', 'idx:phone:*'))
        if ((await redis.command('GET', k)) === id) person.index = k.slice('idx:phone:'.length);
    assert.ok(person.index, 'the person has a phone index');

    const r = await run(['export', '--login', 'JULA']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.account.id, id);
    assert.equal(doc.account.login, 'jula');
    assert.equal(doc.account.role, 'resident');
    assert.deepEqual(doc.account.buurten, [B1]);
    assert.equal(doc.account.phone, ERASE_PHONE, 'decrypted for the person themselves');
    assert.ok(!r.stdout.includes('argon2') && !r.stdout.includes('k1:'), 'no hash or ciphertext');
    assert.deepEqual(doc.cases.map((x) => [x.id, x.involvement]), [[ack.case, ['owner']]]);
    assert.equal(doc.cases[0].kind, 'report');
    assert.ok(doc.posts.some((p) => p.kind === 'report' && p.msg.body === REPORT_BODY), 'their report');
    assert.ok(doc.messages.some((m) => m.msg && m.msg.case === ack.case), 'their personal channel');
    assert.ok(doc.audit.some((e) => e.action === 'user.add' && e.target === id));
    assert.ok(doc.audit.some((e) => e.action === 'token.issue' && e.target === id));

    // The export itself is audited; the audit entry names the id only.
    const exp = (await auditLines()).filter((e) => e.action === 'user.export');
    assert.equal(exp.at(-1).target, id);
    const unknown = await run(['export', '--login', 'nobody']);
    assert.equal(unknown.code, 1);
    assert.equal(oneErrorLine(unknown, 'unknown'), "buurtctl: export: no user 'nobody'");
});

test('erase removes every key and reference of the person; their token is refused', async () => {
    assert.ok(person, 'the export test ran first');
    const { id, index } = person;
    const lastId = async (key) => {
        const info = await redis.command('XINFO', 'STREAM', key);
        return info[info.indexOf('last-generated-id') + 1];
    };
    const deskLast = await lastId('ch:{desk:WK010601}:log');
    const snap = await counters([B1]);
    const r = await run(['erase', '--login', person.login]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await snap.diff(), { [B1]: MINUS }, 'the erased resident is no longer counted');
    assert.match(r.stdout, new RegExp(`^erased ${id}: \\d+ keys deleted`));
    assert.ok(!r.stdout.includes('655501234') && !r.stderr.includes('655501234'));

    const dump = await dumpRedis(redis.port);
    for (const { key, values } of dump) {
        assert.ok(!key.includes(id), `key ${key} names the erased id`);
        assert.ok(!key.includes(index), `key ${key} is the phone index`);
        assert.ok(key !== `login:${person.login}`, 'login key left');
        for (const v of values) {
            assert.ok(!v.includes('655501234'), `${key} holds the phone number`);
            assert.ok(!v.includes(index), `${key} holds the phone index`);
            // Only the audit trail keeps the (now meaningless) id.
            if (key !== 'audit') assert.ok(!v.includes(id), `${key} still names the id: ${v.slice(0, 120)}`);
        }
    }
    // The case stays, without its owner; the report stays in the desk
    // history, without the reporter.
    assert.equal(await redis.command('HGET', `case:${person.case}`, 'owner'), 'erased');
    const desk = dump.find((d) => d.key === 'ch:{desk:WK010601}:log');
    assert.ok(desk && desk.values.some((v) => v.includes(REPORT_BODY) && v.includes('"reporter":"erased"')));
    assert.equal(await lastId('ch:{desk:WK010601}:log'), deskLast, 'rewritten history keeps its last id');

    const show = await run(['user', 'show', '--login', person.login]);
    assert.equal(show.code, 1);
    const again = await run(['erase', '--login', person.login]);
    assert.equal(again.code, 1);

    // Audited, and the chain still holds.
    const entries = await auditLines();
    assert.deepEqual(entries.at(-1), { ...entries.at(-1), action: 'user.erase', target: id, actor: 'cli' });
    assert.equal((await auditVerify()).code, 0);

    // The person's token no longer works on the relay.
    const out = await connectOutcome(relay.url, { token: person.token });
    if (out.kind === 'rejected') assert.equal(out.statusCode, 401);
    else if (out.kind === 'error') {
        assert.equal(out.frame.code, 'unauthorized');
        await out.client.close();
    } else if (out.kind !== 'closed') {
        await out.client.close();
        assert.fail(`erased user's token accepted: ${JSON.stringify(out.frame)}`);
    }
});
