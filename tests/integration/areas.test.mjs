// areas.test.mjs - targeting by area over the real relay with the Assen
// sample data: circles reach exactly the buurten they touch, postcodes
// find their buurt, locations place reports, bad area data stops the
// relay (issue "Areas and targeting").

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before } from 'node:test';
import {
    test, startRedis, startRelay, makeUser, connect, alert, isMessageOn,
    tempDir, run, RELAY_BIN, SRC, writeConfig,
} from './harness.mjs';

let redis;
let relay;
let police;
let boa;
let resident;
let all = []; // every buurt code of the sample

async function postJson(url, body) {
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return { status: res.status, body: await res.json() };
}

before(async () => {
    redis = await startRedis();
    relay = await startRelay({ redisUrl: redis.url }); // the repo config: Assen areas
    police = await makeUser({ role: 'police', redisUrl: redis.url });
    boa = await makeUser({ role: 'boa', wijken: ['WK010601'], redisUrl: redis.url });
    resident = await makeUser({ role: 'resident', buurten: ['BU01060101'], redisUrl: redis.url });
    const res = await fetch(`${relay.http}/api/v1/areas`);
    assert.equal(res.status, 200);
    const fc = await res.json();
    all = fc.features.map((f) => f.properties.buurtcode).sort();
});

test('the map data lists every buurt with its CBS properties', async () => {
    assert.equal(all.length, 21);
    const res = await fetch(`${relay.http}/api/v1/areas?code=WK010603`);
    const fc = await res.json();
    assert.ok(fc.features.length >= 2);
    for (const f of fc.features) {
        assert.equal(f.properties.wijkcode, 'WK010603');
        assert.equal(f.properties.gemeentecode, 'GM0106');
        assert.equal(f.properties.gemeentenaam, 'Assen');
    }
    assert.equal((await fetch(`${relay.http}/api/v1/areas?code=WK999999`)).status, 404);
});

test('an alert with a circle reaches exactly the buurten the circle touches', async () => {
    const circle = { lat: 52.995, lon: 6.57, radius_m: 800 };
    const resolved = await postJson(`${relay.http}/api/v1/areas/resolve`, { area: { circle } });
    assert.equal(resolved.status, 200);
    const inside = resolved.body.buurten.map((b) => b.code).sort();
    assert.ok(inside.length >= 2 && inside.length < all.length, `circle covers ${inside}`);
    for (const b of resolved.body.buurten) {
        assert.match(b.wijk, /^WK0106/);
        assert.deepEqual(Object.keys(b.residents).sort(), ['chat', 'sms', 'ws']);
    }

    const listeners = {};
    for (const code of all) {
        const c = await connect(relay.url, { name: code });
        await c.subscribe(`buurt:${code}`);
        listeners[code] = c;
    }
    const pol = await connect(relay.url, { token: police.token });
    const ack = await pol.postOk('circle-1', alert([], { area: { circle } }));
    assert.deepEqual(ack.published.map((p) => p.channel).sort(), inside.map((c) => `buurt:${c}`));
    for (const code of inside) {
        const m = await listeners[code].next(isMessageOn(`buurt:${code}`));
        assert.equal(m.msg.case, ack.case);
    }
    await pol.ping();
    for (const code of all.filter((c) => !inside.includes(c)))
        assert.equal(listeners[code].pending(isMessageOn(`buurt:${code}`)).length, 0, `${code} must hear nothing`);
    for (const c of Object.values(listeners)) await c.close();
    await pol.close();
});

test('the reach counts residents per buurt and channel', async () => {
    await makeUser({ role: 'resident', buurten: ['BU01060102'], phone: '+31611111111', redisUrl: redis.url });
    const r = await postJson(`${relay.http}/api/v1/areas/resolve`, { area: { buurten: ['BU01060101', 'BU01060102'] } });
    assert.equal(r.status, 200);
    const by = Object.fromEntries(r.body.buurten.map((b) => [b.code, b.residents]));
    assert.deepEqual(by.BU01060101, { ws: 1, sms: 0, chat: 0 });
    assert.deepEqual(by.BU01060102, { ws: 1, sms: 1, chat: 0 });
});

test('a whole wijk, a polygon, and unknown codes', async () => {
    const pol = await connect(relay.url, { token: police.token });
    const wijk = await pol.postOk('wijk-1', alert([], { area: { wijken: ['WK010603'] } }));
    assert.ok(wijk.published.length >= 2);
    assert.ok(wijk.published.every((p) => /^buurt:BU010603/.test(p.channel)));
    const poly = await pol.postOk('poly-1', alert([], {
        area: { polygon: [[52.985, 6.595], [52.985, 6.61], [52.991, 6.61], [52.991, 6.595]] },
    }));
    assert.ok(poly.published.some((p) => p.channel === 'buurt:BU01060101'), JSON.stringify(poly.published));
    const unknown = await pol.post('unknown-1', alert(['BU01069999']));
    assert.equal(unknown.code, 'bad_request');
    assert.match(unknown.message, /unknown buurt/);
    const nowhere = await pol.post('nowhere-1', alert([], { area: { circle: { lat: 51.0, lon: 4.0, radius_m: 100 } } }));
    assert.equal(nowhere.code, 'bad_request');
    await pol.close();
});

test('a BOA may target a circle only inside their own wijken', async () => {
    const b = await connect(relay.url, { token: boa.token });
    const far = await b.post('boa-far', alert([], { area: { wijken: ['WK010605'] } }));
    assert.equal(far.code, 'forbidden');
    const own = await b.post('boa-own', alert([], { area: { wijken: ['WK010601'] } }));
    assert.equal(own.type, 'ack', JSON.stringify(own));
    await b.close();
});

test('postcode and house number find the buurt; unknown ones are 404', async () => {
    const ok = await fetch(`${relay.http}/api/v1/postcode/9401AB/12`);
    assert.equal(ok.status, 200);
    const b = await ok.json();
    assert.match(b.buurt, /^BU0106\d{4}$/);
    assert.equal(b.gemeente, 'GM0106');
    assert.ok(all.includes(b.buurt));
    assert.equal((await fetch(`${relay.http}/api/v1/postcode/1011AB/1`)).status, 404);
    assert.equal((await fetch(`${relay.http}/api/v1/postcode/9401AB/0`)).status, 404);
});

test('a report by location lands on the desk of the buurt it lies in', async () => {
    const fc = await (await fetch(`${relay.http}/api/v1/areas?code=BU01060101`)).json();
    const { lat, lon } = fc.features[0].properties;
    const desk = await connect(relay.url, { token: police.token });
    await desk.subscribe('desk:WK010601');
    const rep = await connect(relay.url, { token: resident.token });
    const ack = await rep.postOk('loc-1', {
        kind: 'report', location: { lat, lon }, category: 'vandalisme',
        body: 'Ruit van het bushokje ingegooid, glas ligt op het fietspad.',
    });
    const m = await desk.next((f) => f.type === 'message' && f.msg.case === ack.case);
    assert.equal(m.msg.buurt, 'BU01060101');
    await desk.close();
    await rep.close();
});

test('invalid area data stops the relay with an error naming the feature', async () => {
    const dir = tempDir();
    const bad = path.join(dir, 'bad.geojson');
    writeFileSync(bad, JSON.stringify({
        type: 'FeatureCollection',
        features: [{
            type: 'Feature',
            properties: { buurtcode: 'BU01060101', buurtnaam: 'X', wijkcode: 'WK010601', wijknaam: 'Y', gemeentecode: 'GM0106', gemeentenaam: 'Assen' },
            geometry: { type: 'Polygon', coordinates: [[[6.5, 52.9], [6.6, 52.9], [6.6, 53.0]]] },
        }],
    }));
    const cfg = writeConfig({ 'areas-file': bad });
    const r = await run(RELAY_BIN, ['--config', cfg, '--check-config'], { cwd: SRC });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /feature 0 \(BU01060101\)/);
});
