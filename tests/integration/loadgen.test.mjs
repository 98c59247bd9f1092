// loadgen.test.mjs - smoke run of the benchmark load generator
// (tests/bench/loadgen, built as BUILD/bench/loadgen) against a real relay,
// so the generator cannot rot between full benchmark runs (scripts/bench).
//
// Two relay nodes on one Redis; 6 buurten x 4 subscribers plus one buurt
// of 10, spread over both nodes, 2 worker processes, 4 source addresses;
// an officer posts 20 alerts/s over the small buurten and 2/s to the big
// one for 2 s, then 1.5x that. Asserted from the generator's JSON: every
// subscriber live, every post acked, exactly the expected number of
// deliveries (posts x subscribers of their buurt), no loss, duplicate or
// reordering, latencies recorded for each delivery. A second run checks
// the generator notices loss: a subscriber's node is killed mid-run with
// reconnection off, so its share is reported lost, not silently dropped.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before } from 'node:test';
import {
    test, BUILD, startRedis, startRelay, makeUser, run, tempDir,
} from './harness.mjs';

const LOADGEN = path.join(BUILD, 'bench', 'loadgen');
const CONFIG = {
    'rate-posts': 10000, 'rate-posts-burst': 100000,
    'rate-frames': 100000, 'rate-frames-burst': 100000,
    'max-conns-per-ip': 100000,
};

let redis;
let relays;
let police;
let dir;

before(async () => {
    redis = await startRedis();
    relays = [
        await startRelay({ redisUrl: redis.url, extraConfig: CONFIG }),
        await startRelay({ redisUrl: redis.url, extraConfig: CONFIG }),
    ];
    police = await makeUser({ role: 'police', redisUrl: redis.url });
    dir = tempDir('buurtrelay-loadgen-');
});

async function loadgen(name, extra) {
    assert.ok(existsSync(LOADGEN), `${LOADGEN} missing: build the loadgen target`);
    const json = path.join(dir, `${name}.json`);
    const r = await run(LOADGEN, [
        '--proto', 'relay', '--label', name, '--json', json,
        ...relays.flatMap((x) => ['--target', `127.0.0.1:${x.port}`]),
        '--token', police.token, '--publishers', '2', '--workers', '2', '--src-ips', '4',
        '--groups', '6x4,1x10', '--rates', '20,2',
        '--step-secs', '2', '--drain-secs', '3', '--settle-secs', '0.3', '--connect-timeout', '10',
        ...relays.flatMap((x) => ['--server-pid', String(x.proc.pid)]),
        ...extra,
    ], { timeoutMs: 25000 });
    assert.equal(r.code, 0, `loadgen exited ${r.code}/${r.signal}: ${r.stderr}`);
    return JSON.parse(readFileSync(json, 'utf8'));
}

test('loadgen: N alerts to M subscribers over two relay nodes, exact counts', { timeout: 28000 }, async () => {
    const out = await loadgen('smoke', ['--max-steps', '2', '--p99-limit-ms', '5000']);
    assert.equal(out.subscribers, 34);
    assert.equal(out.channels, 7);
    assert.equal(out.connect.ready, 34, `first error: ${out.first_error}`);
    assert.equal(out.connect.subscribe.n, 34);
    assert.equal(out.steps.length, 2, JSON.stringify(out.steps.map((s) => s.verdict)));
    // step 0: 2 s x (20/s over 6 buurten of 4 + 2/s to the buurt of 10)
    const [s0, s1] = out.steps;
    assert.equal(s0.posted, 44);
    assert.equal(s0.acked, 44);
    assert.equal(s0.expected, 40 * 4 + 4 * 10);
    assert.equal(s1.posted, 66);
    assert.equal(s1.acked, 66);
    assert.equal(s1.expected, 60 * 4 + 6 * 10);
    for (const s of out.steps) {
        assert.equal(s.failed, 0);
        assert.equal(s.delivered, s.expected, `step ${s.step}: ${s.delivered}/${s.expected}`);
        assert.equal(s.lost, 0);
        assert.equal(s.dups, 0);
        assert.equal(s.reordered, 0);
        assert.equal(s.latency.n, s.expected);
        assert.ok(s.latency.p50 > 0 && s.latency.p50 <= s.latency.p99 && s.latency.p99 <= s.latency.max);
        assert.equal(s.ack.n, s.acked);
        assert.ok(s.server_cpu >= 0);
    }
    const h = out.classes.healthy;
    assert.deepEqual(h, { subs: 34, expected: 500, delivered: 500, lost: 0, dups: 0, reordered: 0 });
    assert.equal(out.reconnects, 0);
    assert.equal(out.first_error, '');
});

test('loadgen: a killed node without reconnection shows up as loss', { timeout: 28000 }, async () => {
    const victim = relays[1];
    const out = await loadgen('loss', ['--max-steps', '1', '--at', `0.5:kill -9 ${victim.proc.pid}`]);
    const s = out.steps[0];
    assert.equal(s.acked, 44, 'posts go to node 1, which lives');
    assert.ok(s.lost > 0, `expected loss, got ${s.delivered}/${s.expected}`);
    assert.equal(s.delivered + s.lost, s.expected);
    assert.equal(s.dups, 0);
    assert.equal(s.verdict, 'loss, duplicates or reordering');
    // subscribers round-robin over the targets: half were on the dead node
    assert.equal(out.classes.healthy.subs, 34);
    assert.ok(out.classes.healthy.lost > 0);
    assert.match(out.first_error, /closed/);
});
