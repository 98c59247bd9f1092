// cli.test.mjs - buurtctl against a real redis-server: accounts, tokens,
// revocation, and the Redis data model documented in relay/user_store.h
// (protocol.md, "Command line" and "Command-line details").

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before } from 'node:test';
import {
    test, startRedis, ctl, writeConfig, tempDir, tokenClaims, makeTokenSigner,
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
        ['buurten', 'created', 'disabled', 'login', 'phone', 'pw', 'role', 'tokens_after', 'wijken']);
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
    for (const k of await redis.command('KEYS', '*')) {
        assert.ok(!k.includes('612345678'), `key ${k} holds the phone number`);
        const type = await redis.command('TYPE', k);
        const values = type === 'hash' ? Object.values(await hash(k)) : [await redis.command('GET', k)];
        for (const v of values) assert.ok(!String(v).includes('612345678'), `${k} holds the phone number`);
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
    for (const word of ['audit', 'export', 'erase']) {
        const r = await run([word, 'list']);
        assert.equal(r.code, 2);
        assert.equal(oneErrorLine(r, word), `buurtctl: ${word}: not available in this version`);
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
});
