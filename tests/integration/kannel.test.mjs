// kannel.test.mjs - config/kannel.conf against a real Kannel on loopback:
// bearerbox + smsbox + fakesmsc started by tests/integration/kannel.mjs,
// and a small HTTP receiver standing in for the relay's /hooks/kannel/*
// (the relay's own handling is tested in outbox.test.mjs once wired).
//
// What must hold for the relay's Kannel adapter (adapters/kannel.c):
//   - sendsms POST text/plain + X-Kannel-* (the adapter's format) is
//     accepted; GSM-7 and UCS-2 (emoji) texts arrive intact;
//   - delivery reports come back to dlr-url with the delivery id, the
//     token and the type (8 = at SMSC, 1 = delivered);
//   - an SMS reply reaches the MO webhook by POST with X-Kannel-From, the
//     text as the body and no phone number in the URL;
//   - an MO arriving while the relay is down is retried, not lost
//     (http-request-retry, the trap of reliability.md section 1.6);
//   - the SMS centre down: "3: Queued", delivered once it is back;
//   - bearerbox SIGKILLed with queued messages: nothing lost (spool);
//   - wrong password 403; a non-Dutch-mobile number refused (whitelist).

import http from 'node:http';
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { freePort, test } from './harness.mjs';
import { kannelMissing, startKannel } from './kannel.mjs';

const TOKEN = 'kannel_token_0123456789';
const skip = kannelMissing();

// The relay's webhook stand-in: records every request; fail > 0 answers
// that many requests with 503 first.
async function startReceiver() {
    const port = await freePort();
    const hits = [];
    const rx = { port, url: `http://127.0.0.1:${port}`, hits, fail: 0, down: false };
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            if (rx.fail > 0) {
                rx.fail--;
                res.writeHead(503).end('down');
                return;
            }
            hits.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
            res.writeHead(200, { 'Content-Type': 'text/plain' }).end('');
        });
    });
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
    rx.close = () => new Promise((resolve) => server.close(resolve));
    return rx;
}

async function waitHits(rx, pred, n = 1, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const got = rx.hits.filter(pred);
        if (got.length >= n) return got;
        if (Date.now() > deadline) throw new Error(`only ${got.length}/${n} matching webhook calls: ${JSON.stringify(rx.hits.map((h) => h.url))}`);
        await delay(50);
    }
}

const dlrUrl = (rx, id) => `${rx.url}/hooks/kannel/dlr?d=${id}&k=${TOKEN}&t=%d&f=%F`;
const isDlr = (id, t) => (h) => h.url.startsWith(`/hooks/kannel/dlr?d=${id}&`) && h.url.includes(`&t=${t}&`);

describe('kannel', { skip: skip ?? false }, () => {
    let rx;
    let k;

    before(async () => {
        rx = await startReceiver();
        k = await startKannel({ relayUrl: rx.url, webhookToken: TOKEN });
    });
    after(async () => {
        await k?.stop();
        await rx?.close();
    });

    test('a GSM-7 text is accepted, received intact, and reported delivered', async () => {
        const text = 'Vermist: man (78), blauwe jas. Gezien? Bel 112. Prijs 5€ [x]';
        const r = await k.sendsms({ to: '+31612345678', text, dlrUrl: dlrUrl(rx, 'dgsm') });
        assert.equal(r.status, 202);
        assert.match(r.body, /^0: Accepted/);
        const got = await k.waitReceived(1);
        assert.deepEqual(got.at(-1), { from: '3197010000001', to: '+31612345678', type: 'text', text });
        const [d8] = await waitHits(rx, isDlr('dgsm', 8));
        const [d1] = await waitHits(rx, isDlr('dgsm', 1));
        assert.match(d8.url, new RegExp(`k=${TOKEN}`));
        assert.match(d1.url, /&f=[0-9a-f-]{36}$/); // the SMSC's message id
    });

    test('a UCS-2 text with an emoji arrives as UTF-16 with the surrogate pair', async () => {
        const before = k.received().length;
        const text = 'Ideeën? 🚨 Tip de politie';
        const r = await k.sendsms({ to: '+31612345678', text, coding: 2, dlrUrl: dlrUrl(rx, 'ducs') });
        assert.equal(r.status, 202);
        const got = await k.waitReceived(before + 1);
        assert.equal(got.at(-1).type, 'ucs-2');
        assert.equal(got.at(-1).text, text);
        await waitHits(rx, isDlr('ducs', 1));
    });

    test('an SMS reply reaches the MO webhook by POST, without PII in the URL', async () => {
        await k.sendMo('31612345678', 'Gezien bij station, blauwe jas');
        const [mo] = await waitHits(rx, (h) => h.url.startsWith('/hooks/kannel/mo?'));
        assert.equal(mo.method, 'POST');
        assert.match(mo.url, new RegExp(`^/hooks/kannel/mo\\?k=${TOKEN}&id=[0-9a-f-]{36}$`));
        assert.ok(!mo.url.includes('31612345678'));
        assert.equal(mo.headers['x-kannel-from'], '31612345678');
        assert.equal(mo.body.toString('utf8'), 'Gezien bij station, blauwe jas');
    });

    test('an MO sent while the relay is down is retried, not lost', async () => {
        rx.fail = 2; // two 503s, then up (http-request-retry 5, 2 s apart)
        await k.sendMo('31687654321', 'Tweede tip');
        const [mo] = await waitHits(rx, (h) => h.headers['x-kannel-from'] === '31687654321', 1, 20000);
        assert.equal(mo.body.toString('utf8'), 'Tweede tip');
        assert.equal(rx.fail, 0);
    });

    test('SMS centre down: queued, then delivered once it is back', async () => {
        await k.stopSmsc();
        const r = await k.sendsms({ to: '+31612345678', text: 'Wachtrij test', dlrUrl: dlrUrl(rx, 'dq') });
        assert.equal(r.status, 202);
        assert.match(r.body, /^3: Queued/);
        await k.startSmsc();
        const got = await k.waitReceived(1);
        assert.ok(got.some((m) => m.text === 'Wachtrij test'));
        await waitHits(rx, isDlr('dq', 1));
    });

    test('bearerbox SIGKILLed with queued messages: all delivered after restart', async () => {
        await k.stopSmsc();
        const texts = ['Crash 1', 'Crash 2', 'Crash 3'];
        for (const [i, text] of texts.entries()) {
            const r = await k.sendsms({ to: '+31612345678', text, dlrUrl: dlrUrl(rx, `dcrash${i}`) });
            assert.match(r.body, /^3: Queued/);
        }
        await delay(500); // the spool is written asynchronously
        await k.killBearerbox();
        await k.restartBoxes();
        await k.startSmsc();
        const deadline = Date.now() + 20000;
        while (!texts.every((t) => k.received().some((m) => m.text === t))) {
            if (Date.now() > deadline) throw new Error(`lost: ${texts.filter((t) => !k.received().some((m) => m.text === t))}`);
            await delay(100);
        }
        // the delivery reports survive too: the dlr-url travels in the store
        for (const i of texts.keys()) await waitHits(rx, isDlr(`dcrash${i}`, 1));
    });

    test('wrong password is 403; a non-Dutch-mobile number is refused', async () => {
        const bad = await k.sendsms({ to: '+31612345678', text: 'x', pw: 'wrong' });
        assert.equal(bad.status, 403);
        const foreign = await k.sendsms({ to: '+4915112345678', text: 'x' });
        assert.equal(foreign.status, 400);
        assert.match(foreign.body, /denied/);
    });
});
