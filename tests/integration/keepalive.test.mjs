// keepalive.test.mjs - the relay's own pings and idle timeout
// (relay/session.c keepalive_tick): a client that answers pings stays,
// one that went silent (no frames, no pongs: a peer gone without a FIN)
// is dropped after idle-timeout and counted.

import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { before, describe } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';

import { test, startRedis, startRelay, SUBPROTOCOL } from './harness.mjs';

describe('keepalive', () => {
    let relay;

    before(async () => {
        const redis = await startRedis();
        relay = await startRelay({ redisUrl: redis.url, extraConfig: 'ping-interval 1\nidle-timeout 3\n' });
    });

    test('a client that answers pings stays connected, and gets pinged', async () => {
        const ws = new WebSocket(relay.url, SUBPROTOCOL);
        let pings = 0;
        let closed = false;
        ws.on('ping', () => pings++); // ws answers each with a pong itself
        ws.on('close', (code, reason) => { closed = `${code} ${reason}`; });
        await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
        await delay(5500);
        assert.equal(closed, false, 'still connected after 5.5 s with idle-timeout 3');
        assert.ok(pings >= 2, `pinged ${pings} times`);
        ws.close();
    });

    test('a silent peer is dropped after idle-timeout and counted', async () => {
        const { port } = new URL(relay.url);
        const sock = net.connect(Number(port), '127.0.0.1');
        await new Promise((resolve) => sock.once('connect', resolve));
        const key = randomBytes(16).toString('base64');
        sock.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
            + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`);
        let got = '';
        const upgraded = new Promise((resolve) => sock.on('data', (d) => {
            got += d.toString('latin1');
            if (got.includes('\r\n\r\n')) resolve();
        }));
        const t0 = Date.now();
        const closed = new Promise((resolve) => sock.once('close', () => resolve(Date.now() - t0)));
        await upgraded;
        assert.match(got, /^HTTP\/1\.1 101/);
        // never answer a ping, never send a frame
        const after = await Promise.race([closed, delay(8000).then(() => null)]);
        assert.ok(after !== null, 'the relay dropped the silent peer');
        assert.ok(after >= 2500, `not before idle-timeout (${after} ms)`);
        const metrics = await (await fetch(`${relay.url.replace('ws://', 'http://').replace('/ws', '')}/metrics`)).text();
        assert.match(metrics, /^buurtrelay_closed_idle_total [1-9]\d*$/m);
    });
});
