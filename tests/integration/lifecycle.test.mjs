// lifecycle.test.mjs - the process around the protocol: command line,
// configuration errors, graceful shutdown, readiness and a Redis outage.

import assert from 'node:assert/strict';
import { before } from 'node:test';
import {
    test, startRedis, startRelay, makeUser, connect, alert, isMessageOn, run, writeConfig,
    freePort, httpGet, waitForStatus, readVersion, RELAY_BIN, REPO_CONFIG,
} from './harness.mjs';

const B1 = 'BU01060101';
const CH1 = `buurt:${B1}`;

let redis;
let police;

before(async () => {
    redis = await startRedis();
    police = await makeUser({ role: 'police', redisUrl: redis.url });
});

test('--version prints the version and exits 0', async () => {
    const r = await run(RELAY_BIN, ['--version']);
    assert.equal(r.code, 0, r.stderr);
    const version = readVersion();
    assert.ok(version, 'CMakeLists.txt declares a project version');
    assert.ok(r.stdout.includes(version), `--version printed ${JSON.stringify(r.stdout)}, expected ${version}`);
});

test('--help exits 0 and documents --config', async () => {
    const r = await run(RELAY_BIN, ['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('--config'), `--help output: ${r.stdout}`);
});

test('--check-config accepts the repository config', async () => {
    const r = await run(RELAY_BIN, ['--config', 'config/buurtrelay.conf', '--check-config']);
    assert.equal(r.code, 0, `stderr: ${r.stderr}`);
    const abs = await run(RELAY_BIN, ['--config', REPO_CONFIG, '--check-config']);
    assert.equal(abs.code, 0, `stderr: ${abs.stderr}`);
});

test('an unknown config key is an error naming the key and line 1', async () => {
    const file = writeConfig('max-fram 10');
    const check = await run(RELAY_BIN, ['--config', file, '--check-config']);
    assert.notEqual(check.code, 0);
    assert.equal(check.signal, null);
    assert.match(check.stderr, /max-fram/);
    assert.match(check.stderr, /:1:|line 1\b/);

    // Starting for real fails the same way, before serving anything.
    const port = await freePort();
    const start = await run(RELAY_BIN, ['--config', file, '--listen', `127.0.0.1:${port}`, '--redis', redis.url], { timeoutMs: 10000 });
    assert.equal(start.signal, null, 'exited by itself');
    assert.notEqual(start.code, 0);
    assert.match(start.stderr, /max-fram/);
    assert.match(start.stderr, /:1:|line 1\b/);
});

test('SIGTERM closes clients with 1001 and exits 0 within 5 s', async () => {
    const relay = await startRelay({ redisUrl: redis.url });
    const anon = await connect(relay.url, { name: 'anon' });
    await anon.subscribe(CH1);
    const pol = await connect(relay.url, { token: police.token, name: 'police' });
    const idle = await connect(relay.url, { name: 'idle' });

    const t0 = Date.now();
    const [code, ...closes] = await Promise.all([
        relay.stop('SIGTERM', 5000), // SIGKILL after 5 s: then code is 'SIGKILL'
        anon.closed, pol.closed, idle.closed,
    ]);
    const elapsed = Date.now() - t0;
    assert.deepEqual(
        { exit: code, within5s: elapsed < 5000, closeCodes: closes.map((c) => c.code) },
        { exit: 0, within5s: true, closeCodes: [1001, 1001, 1001] },
        `exit ${code} after ${elapsed} ms, closes ${JSON.stringify(closes)}`);
});

test('readiness follows Redis; posts are unavailable during an outage; subscriptions come back', async () => {
    const relay = await startRelay({ redisUrl: redis.url });
    const sub = await connect(relay.url, { name: 'subscriber' });
    const s = await sub.subscribe(CH1);
    const pol = await connect(relay.url, { token: police.token, name: 'police' });

    const before = await pol.postOk('before-outage', alert(B1, { title: 'Vermist: man 82' }));
    const m0 = await sub.next(isMessageOn(CH1), 5000);
    assert.equal(m0.seq, s.seq + 1);
    assert.equal(m0.msg.case, before.case);

    // A production Redis keeps its data (AOF); SHUTDOWN SAVE models that.
    await redis.stop({ save: true });
    const down = await waitForStatus(`${relay.http}/readyz`, 503, { timeoutMs: 10000 });
    assert.ok(down.json && typeof down.json === 'object', `/readyz 503 body is JSON: ${down.body}`);
    assert.match(JSON.stringify(down.json).toLowerCase(), /redis/, 'the 503 body names Redis');
    assert.equal((await httpGet(`${relay.http}/healthz`)).status, 200, 'still live while Redis is down');

    const id = 'during-outage';
    const post = alert(B1, { title: 'Vermist: man 83' });
    const refused = await pol.post(id, post, { timeoutMs: 15000 });
    assert.equal(refused.type, 'error', JSON.stringify(refused));
    assert.equal(refused.code, 'unavailable');
    assert.equal(refused.id, id);

    await redis.restart();
    await waitForStatus(`${relay.http}/readyz`, 200, { timeoutMs: 10000 });

    // "unavailable" means not persisted: the same id goes through now, once.
    const ack = await pol.postOk(id, post);
    assert.deepEqual(ack.published, [{ channel: CH1, seq: m0.seq + 1 }]);
    const m1 = await sub.next(isMessageOn(CH1), 10000);
    assert.equal(m1.seq, m0.seq + 1);
    assert.equal(m1.epoch, m0.epoch);
    assert.equal(m1.msg.case, ack.case);
    assert.equal(m1.msg.title, 'Vermist: man 83');
    assert.deepEqual(sub.pending('message'), []);

    await sub.close();
    await pol.close();
    assert.equal(await relay.stop(), 0);
});

test('connections closed before sending anything do not hurt the relay', async () => {
    const net = await import('node:net');
    const relay2 = await startRelay();
    for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => {
            const sock = net.connect(relay2.port, '127.0.0.1', () => sock.destroy());
            sock.on('close', resolve);
            sock.on('error', resolve);
        });
    }
    const res = await fetch(`${relay2.http}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(relay2.proc.exitCode, null, 'the relay is still running');
});
