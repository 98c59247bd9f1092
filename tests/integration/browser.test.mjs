// browser.test.mjs - the web app (relay/web: resident page and officer
// console) in a real headless Chromium driven by playwright-core, against
// a real Redis and the real relay (issue "Web app"). Screenshots go to
// BUILD/test-artifacts/browser/.
//
// Needs Debian's chromium (/usr/bin/chromium, or CHROMIUM=path) and
// playwright-core from tests/package.json; skips with a reason otherwise.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
    test, BUILD, REPO_CONFIG, startRedis, startRelay, makeUser, connect, alert,
} from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(BUILD, 'test-artifacts', 'browser');
const PHONE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 900 };
const WAIT = 10000; // longest wait for one thing to show

let chromium = null;
let skipReason = null;
try {
    ({ chromium } = await import('playwright-core'));
} catch (e) {
    skipReason = `playwright-core is not installed (npm ci --prefix tests): ${e.message}`;
}
if (!skipReason && !existsSync(CHROMIUM)) skipReason = `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
const SKIP = skipReason ? { skip: skipReason } : {};

let redis;
let relay;
let browser;
let police;
let boa;
let n = 0;
const uid = (p) => `${p}-${++n}-${Date.now().toString(36)}`;
const pageErrors = [];

before(async () => {
    if (skipReason) return;
    mkdirSync(ARTIFACTS, { recursive: true });
    redis = await startRedis();
    relay = await startRelay({ redisUrl: redis.url });
    // launch() gives every browser a fresh temporary profile (user data
    // dir) and every context its own storage.
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    police = await makeUser({ role: 'police', redisUrl: redis.url });
    boa = await makeUser({ role: 'boa', wijken: ['WK010603'], redisUrl: redis.url });
});

after(async () => {
    await browser?.close();
});

// A relay that died (a crash) fails every later test: say so plainly.
function relayUp() {
    const p = relay.proc;
    if (p.exitCode !== null || p.signalCode !== null)
        throw new Error(`the relay exited earlier (${p.signalCode || `code ${p.exitCode}`}); its log is below`);
}

// A page in a fresh context (own localStorage/sessionStorage). Page errors
// and console errors (CSP refusals among them) are collected and fail the
// test that made them.
async function newPage({ viewport = DESKTOP, base = relay.http } = {}) {
    const context = await browser.newContext({ viewport, baseURL: base, locale: 'nl-NL', timezoneId: 'Europe/Amsterdam' });
    const page = await context.newPage();
    watch(page);
    return { context, page };
}

function watch(page) {
    page.setDefaultTimeout(WAIT);
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
        if (m.type() === 'error' && !/Failed to load resource|ERR_INTERNET_DISCONNECTED|WebSocket connection to/.test(m.text())) {
            pageErrors.push(`console: ${m.text()}`);
        }
    });
}

function noPageErrors() {
    const errs = pageErrors.splice(0);
    assert.deepEqual(errs, [], `errors in the page:\n${errs.join('\n')}`);
}

async function shot(page, name) {
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function login(page, user) {
    await page.fill('#login-name', user.login);
    await page.fill('#login-password', user.password);
    await page.click('#login-form button[type=submit]');
}

async function policeClient() {
    return connect(relay.url, { token: police.token, name: 'police' });
}

const appeal = (page, caseId) => page.locator(`#alerts article.appeal[data-case="${caseId}"]`);

test('a resident picks a buurt by postcode and receives a police appeal live', SKIP, async () => {
    relayUp();
    const { context, page } = await newPage({ viewport: PHONE });
    await page.goto('/');
    await page.waitForSelector('#map svg path[data-code="BU01060101"]');
    await page.waitForSelector('#conn-status[data-state="open"]');
    // 9402 BA: odd numbers lie in Assen-Oost, even ones in Lariks.
    await page.fill('#pc', '9402 ba');
    await page.fill('#huisnr', '12');
    await page.click('#pc-form button[type=submit]');
    await page.waitForSelector('#followed li[data-code="BU01060101"]');
    assert.match(await page.textContent('#pc-result'), /Lariks/);
    assert.equal(await page.getAttribute('#map path[data-code="BU01060101"]', 'aria-pressed'), 'true');

    const pol = await policeClient();
    const title = `Vermist: man 78 (${uid('live')})`;
    const ack = await pol.postOk(uid('appeal'), alert(['BU01060101'], { title }));
    const card = appeal(page, ack.case);
    await card.waitFor();
    assert.equal(await card.locator('.appeal-title').textContent(), title);
    assert.match(await card.getAttribute('class'), /\burgent\b/, 'an Immediate appeal stands out');
    assert.match(await card.textContent(), /Dringend/);
    assert.match(await card.textContent(), /rollator/);
    await page.waitForSelector('#map path[data-code="BU01060101"].alerted');
    await shot(page, 'resident-postcode-alert-phone');

    // The English switch, and back.
    await page.click('#lang');
    await page.waitForSelector('html[lang="en"]');
    assert.match(await card.textContent(), /Urgent/);
    assert.equal(await page.textContent('#buurt-h'), 'Your neighbourhood');
    await page.click('#lang');
    await page.waitForSelector('html[lang="nl"]');

    // Nothing on a 360px screen is wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than a 360px phone`);
    await pol.close();
    await context.close();
    noPageErrors();
});

test('an officer draws a circle, sees the reach, sends an appeal, widens it, gets a tip and closes it; the resident sees the closing',
    SKIP, async () => {
        relayUp();
        const MARSDIJK = 'BU01060302'; // Marsdijk-Oost
        const resident = await makeUser({ role: 'resident', buurten: [MARSDIJK], redisUrl: redis.url });

        const res = await newPage({ viewport: PHONE });
        await res.page.goto('/');
        await login(res.page, resident);
        await res.page.waitForSelector('#logged-in:not([hidden])');
        await res.page.waitForSelector(`#followed li[data-code="${MARSDIJK}"]`);
        await res.page.waitForSelector('#conn-status[data-state="open"]');

        const off = await newPage();
        await off.page.goto('/console.html');
        await login(off.page, police);
        await off.page.waitForSelector('#compose-section:not([hidden])');
        await off.page.waitForSelector('#c-map svg path');

        // A circle: click the centre on the map, then choose the radius.
        await off.page.check('input[name=mode][value=circle]');
        await off.page.click(`#c-map path[data-code="${MARSDIJK}"]`);
        await off.page.waitForSelector('#c-map circle.shape');
        await off.page.fill('#c-radius', '600');
        await off.page.waitForSelector('#reach[data-buurten]:not([data-buurten="0"])');
        const reach = off.page.locator('#reach');
        assert.ok(Number(await reach.getAttribute('data-buurten')) >= 1);
        await off.page.waitForSelector(`#reach-table tr[data-code="${MARSDIJK}"]`);
        assert.match(await off.page.textContent('#reach-sum'), /Buurten: \d+ · bewoners in de app: \d+ · per sms: \d+/);
        assert.ok(Number(await reach.getAttribute('data-residents')) >= 1, 'the resident of Marsdijk-Oost is counted');
        await off.page.waitForSelector(`#c-map path[data-code="${MARSDIJK}"].reached`);

        const title = `Vermist: vrouw van 81 (${uid('circle')})`;
        await off.page.fill('#c-title', title);
        await off.page.fill('#c-body', 'Loopt verward rond, draagt een rode jas en een grijze muts, heeft een wandelstok. Laatst gezien bij het winkelcentrum Marsdijk.');
        await off.page.selectOption('#c-event', 'vermissing');
        await off.page.check('#c-consent');
        await off.page.selectOption('#c-urgency', 'Immediate');
        await off.page.selectOption('#c-severity', 'Moderate');
        await shot(off.page, 'console-circle-reach');
        await off.page.click('#c-send');
        await off.page.waitForSelector('#compose-result.ok');
        const caseId = /([A-Za-z0-9_-]+)\.$/.exec(await off.page.textContent('#compose-result'))[1];
        const mine = off.page.locator(`#appeals li[data-case="${caseId}"]`);
        await mine.waitFor();
        assert.match(await mine.textContent(), new RegExp(`buurt:${MARSDIJK}|Marsdijk-Oost — #`));

        // The resident sees it live and sends a tip.
        const card = appeal(res.page, caseId);
        await card.waitFor();
        assert.match(await card.textContent(), /rode jas/);
        await card.locator('button.tip-open').click();
        const tipText = `Ik zag haar net bij de bushalte aan de Balkendwarsweg (${uid('tip')}).`;
        await res.page.fill(`#tip-${caseId}-body`, tipText);
        await res.page.click(`#tip-${caseId} button[type=submit]`);
        await card.locator('.tip p.ok').waitFor();

        // The tip arrives in the officer's appeal, live.
        await mine.locator('.tip-item', { hasText: tipText }).waitFor();
        await shot(off.page, 'console-tip-arrived');

        // Widen to Marsdijk-Noord (picked on the map) with an update.
        await off.page.click('#c-map path[data-code="BU01060303"]');
        await off.page.waitForSelector('#reach[data-buurten="1"]');
        await mine.locator('details:has(form.update-form) summary').click();
        await off.page.fill(`#up-${caseId}-body`, 'Ook gezien bij de rotonde richting Marsdijk-Noord.');
        await off.page.check(`#up-${caseId}-widen`);
        await off.page.click(`#up-${caseId} button[type=submit]`);
        await mine.locator('.delivery li[data-channel="buurt:BU01060303"]').waitFor();
        await card.locator('.update', { hasText: 'rotonde' }).waitFor();

        // Close with an outcome.
        await mine.locator('details:has(form.close-form) summary').click();
        await off.page.selectOption(`#cl-${caseId}-outcome`, 'found');
        await off.page.fill(`#cl-${caseId}-body`, 'Gevonden, bedankt voor uw hulp.');
        await off.page.click(`#cl-${caseId} button[type=submit]`);
        await off.page.waitForSelector(`#appeals li[data-case="${caseId}"][data-state="closed"]`);

        // The resident's page shows the closing, without the description,
        // and the tipper's outcome notice.
        await res.page.waitForSelector(`#alerts article.appeal.closed[data-case="${caseId}"]`);
        const closed = appeal(res.page, caseId);
        assert.match(await closed.textContent(), /Gevonden: Gevonden, bedankt voor uw hulp\./);
        assert.match(await closed.textContent(), /Verwijder gedeelde foto/);
        assert.doesNotMatch(await closed.textContent(), /rode jas/);
        await res.page.waitForSelector(`#notices li[data-case="${caseId}"]`);
        await shot(res.page, 'resident-appeal-closed-phone');
        await res.context.close();
        await off.context.close();
        noPageErrors();
    });

test('a resident files a report, the BOA acknowledges and resolves it with a note, the timeline shows each step',
    SKIP, async () => {
        relayUp();
        const BUURT = 'BU01060301'; // Marsdijk-West, wijk WK010603 (the BOA's)
        const resident = await makeUser({ role: 'resident', buurten: [BUURT], redisUrl: redis.url });

        const res = await newPage();
        await res.page.goto('/');
        await login(res.page, resident);
        await res.page.waitForSelector('#report-form:not([hidden])');
        await res.page.waitForSelector('#conn-status[data-state="open"]');
        await res.page.waitForSelector(`#r-buurt option[value="${BUURT}"]`, { state: 'attached' });

        // Behaviour first, but too few details: the description check asks.
        await res.page.check('input[name=called_112][value=no]');
        await res.page.fill('#r-body', 'Een man probeert de deuren van geparkeerde auto\'s te openen.');
        await res.page.selectOption('#r-category', 'verdachte_situatie');
        await res.page.selectOption('#r-buurt', BUURT);
        await res.page.click('#r-submit');
        await res.page.waitForSelector('#report-check:not([hidden])');
        await res.page.waitForSelector('#report-flags li[data-flag="few_details"]');
        await shot(res.page, 'resident-description-check');
        await res.page.click('#report-confirm');
        await res.page.waitForSelector('#report-result.ok');
        const caseId = /Zaaknummer ([A-Za-z0-9_-]+)\./.exec(await res.page.textContent('#report-result'))[1];
        const item = res.page.locator(`#mine li.report[data-case="${caseId}"]`);
        await item.locator('.step-receipt').waitFor();

        // The BOA's console: the report on the board of their wijk.
        const off = await newPage();
        await off.page.goto('/console.html');
        await login(off.page, boa);
        await off.page.waitForSelector('#desks-section:not([hidden])');
        await off.page.check('#desk-WK010603');
        const row = off.page.locator(`#board li.report-item[data-case="${caseId}"]`);
        await row.waitFor();
        assert.match(await row.textContent(), /deuren van geparkeerde/);
        assert.equal(await row.getAttribute('data-state'), 'new');

        await off.page.selectOption(`#st-${caseId}-state`, 'acknowledged');
        await off.page.fill(`#st-${caseId}-note`, 'Gezien, een boa gaat vanavond langs.');
        await off.page.click(`#st-${caseId} button[type=submit]`);
        await off.page.waitForSelector(`#board li.report-item[data-case="${caseId}"][data-state="acknowledged"]`);
        await item.locator('.step-status[data-state="acknowledged"]').waitFor();

        await off.page.selectOption(`#st-${caseId}-state`, 'resolved');
        await off.page.fill(`#st-${caseId}-note`, 'Twee jongens aangesproken; de auto\'s zijn gecontroleerd.');
        await off.page.click(`#st-${caseId} button[type=submit]`);
        await off.page.waitForSelector(`#board li.report-item[data-case="${caseId}"][data-state="resolved"]`);
        await shot(off.page, 'console-boa-board');

        // The timeline: received, acknowledged (note), resolved (note), and the question.
        await item.locator('.step-status[data-state="resolved"]').waitFor();
        const steps = await item.locator('.steps li').allTextContents();
        assert.equal(steps.length, 3, steps.join(' | '));
        assert.match(steps[0], /Melding ontvangen \(Verdachte situatie\)/);
        assert.match(steps[1], /Bevestigd.*een boa gaat vanavond langs/);
        assert.match(steps[2], /Opgelost.*aangesproken/);
        await item.locator('form.feedback').waitFor();
        await shot(res.page, 'resident-timeline');

        // Not satisfied: the report reopens, on both sides.
        await res.page.fill(`#fb-${caseId}-comment`, 'Ze staan er vanavond weer.');
        await item.locator('form.feedback button.secondary').click();
        await item.locator('.step-feedback').waitFor();
        await res.page.waitForSelector(`#mine li.report[data-case="${caseId}"].state-reopened`);
        await off.page.waitForSelector(`#board li.report-item[data-case="${caseId}"][data-state="reopened"]`);
        await res.context.close();
        await off.context.close();
        noPageErrors();
    });

test('a reconnect after missed messages shows them in order; an incomplete recovery says so',
    SKIP, async () => {
        relayUp();
        const BUURT = 'BU01060202'; // Peelo
        const pol = await policeClient();
        const post = (k) => pol.postOk(uid('missed'), alert([BUURT], {
            title: `Getuigen gezocht ${k}`,
            body: `Bericht ${k}: wie zag een man in een groene jas en met een zwarte rugzak bij het fietspad? Leeftijd ongeveer 30 jaar.`,
            urgency: 'Expected', severity: 'Minor', event: 'getuigen', consent: undefined,
        }));

        const { context, page } = await newPage({ viewport: PHONE });
        await page.goto('/');
        await page.waitForSelector(`#map path[data-code="${BUURT}"]`);
        await page.waitForSelector('#conn-status[data-state="open"]');
        await page.click(`#map path[data-code="${BUURT}"]`); // follow by clicking the map
        await page.waitForSelector(`#followed li[data-code="${BUURT}"]`);
        const a1 = await post(1);
        await appeal(page, a1.case).waitFor();

        // Offline: the page drops its connection; three appeals go out.
        await context.setOffline(true);
        await page.waitForSelector('#conn-status[data-state="offline"]');
        const missed = [await post(2), await post(3), await post(4)];
        await context.setOffline(false);
        for (const m of missed) await appeal(page, m.case).waitFor();
        const order = await page.locator('#alerts article.appeal').evaluateAll((els) => els.map((e) => e.dataset.case));
        assert.deepEqual(order, [missed[2].case, missed[1].case, missed[0].case, a1.case], 'newest first, in seq order');
        for (const m of missed) assert.match(await appeal(page, m.case).textContent(), /Gemist/);
        assert.equal(await page.locator('#missed').isHidden(), true, 'a complete recovery is not a warning');
        await shot(page, 'resident-reconnect-missed');

        // A new visit: the stored (epoch, seq) brings exactly what was missed.
        await page.close();
        const a5 = await post(5);
        const again = await context.newPage();
        watch(again);
        await again.goto('/');
        await appeal(again, a5.case).waitFor();
        assert.match(await appeal(again, a5.case).textContent(), /Gemist/);
        await appeal(again, a1.case).waitFor(); // earlier ones, as context
        assert.doesNotMatch(await appeal(again, a1.case).textContent(), /Gemist/);
        await context.close();

        // A relay on the same Redis that replays at most 2 messages: a
        // longer absence cannot be recovered, and the page says so.
        const conf = readFileSync(REPO_CONFIG, 'utf8').replace(/^replay-max .*$/m, 'replay-max 2');
        const small = await startRelay({ redisUrl: redis.url, extraConfig: conf });
        const s = await newPage({ viewport: PHONE, base: small.http });
        await s.page.goto('/');
        await s.page.waitForSelector('#conn-status[data-state="open"]');
        await s.page.waitForSelector(`#map path[data-code="${BUURT}"]`);
        await s.page.click(`#map path[data-code="${BUURT}"]`);
        await s.page.waitForSelector(`#followed li[data-code="${BUURT}"][data-live="true"]`); // subscribed
        const a6 = await post(6);
        await appeal(s.page, a6.case).waitFor();
        await s.page.close();
        const late = [await post(7), await post(8), await post(9)];
        const back = await s.context.newPage();
        watch(back);
        await back.goto('/');
        await back.waitForSelector('#missed:not([hidden])');
        assert.match(await back.textContent('#missed'), /U heeft mogelijk berichten gemist/);
        await back.waitForSelector('#conn-status[data-state="open"]');
        const a10 = await post(10); // live again after the warning
        await appeal(back, a10.case).waitFor();
        assert.equal(await appeal(back, late[0].case).count(), 0, 'no silent partial replay');
        await shot(back, 'resident-recovery-incomplete');
        await s.context.close();
        await small.stop();
        await pol.close();
        noPageErrors();
    });

test('a severe appeal drawn as a polygon, with a description warning, waits for a second officer\'s approval',
    SKIP, async () => {
        relayUp();
        const police2 = await makeUser({ role: 'police', redisUrl: redis.url });
        const a = await newPage();
        await a.page.goto('/console.html');
        await login(a.page, police);
        await a.page.waitForSelector('#c-map svg path');

        // A polygon: three clicks on the map give a reach.
        await a.page.check('input[name=mode][value=polygon]');
        await a.page.locator('#c-map svg').scrollIntoViewIfNeeded();
        const box = await a.page.locator('#c-map svg').boundingBox();
        for (const [fx, fy] of [[0.55, 0.35], [0.75, 0.35], [0.65, 0.55]]) {
            await a.page.mouse.click(box.x + box.width * fx, box.y + box.height * fy);
        }
        await a.page.waitForSelector('#c-map polygon.shape');
        await a.page.waitForSelector('#reach[data-buurten]:not([data-buurten="0"])');
        await a.page.click('#c-undo');
        await a.page.waitForSelector('#reach[data-buurten="0"]');

        // Buurten by keyboard: Tab to a buurt on the map, Enter toggles it.
        await a.page.check('input[name=mode][value=buurten]');
        await a.page.focus('#c-map path[data-code="BU01060501"]');
        await a.page.keyboard.press('Enter');
        await a.page.waitForSelector('#c-map path[data-code="BU01060501"][aria-pressed="true"]');
        await a.page.waitForSelector('#reach[data-buurten="1"]');

        const title = `Gezocht: verdachte van overval (${uid('severe')})`;
        await a.page.fill('#c-title', title);
        await a.page.fill('#c-body', 'Een man is gevlucht na een overval.');
        await a.page.selectOption('#c-event', 'verdachte');
        await a.page.selectOption('#c-severity', 'Severe');
        await a.page.click('#c-send');
        await a.page.waitForSelector('#compose-check:not([hidden])');
        await a.page.waitForSelector('#compose-flags li[data-flag="few_details"]');
        await a.page.click('#compose-confirm');
        await a.page.waitForSelector('#compose-result.ok');
        assert.match(await a.page.textContent('#compose-result'), /wacht op goedkeuring/);
        const caseId = /Oproep ([A-Za-z0-9_-]+) wacht/.exec(await a.page.textContent('#compose-result'))[1];
        await a.page.waitForSelector(`#appeals li[data-case="${caseId}"][data-state="pending_approval"]`);
        await a.page.waitForSelector(`#approvals li[data-case="${caseId}"]`);
        assert.match(await a.page.textContent(`#approvals li[data-case="${caseId}"]`), /eigen oproep/);

        // The second officer, on the desk of Kloosterveen, approves it.
        const b = await newPage();
        await b.page.goto('/console.html');
        await login(b.page, police2);
        await b.page.waitForSelector('#desks-section:not([hidden])');
        await b.page.check('#desk-WK010605');
        const item = b.page.locator(`#approvals li[data-case="${caseId}"]`);
        await item.waitFor();
        assert.match(await item.textContent(), new RegExp(title.replace(/[()]/g, '.')));
        await item.locator('p', { hasText: 'gevlucht na een overval' }).waitFor(); // the whole text, from the case API
        assert.match(await item.textContent(), /Kloosterveen-Noord/);
        await shot(b.page, 'console-approval');
        await item.locator('button').click();
        await item.waitFor({ state: 'detached' });
        await a.page.waitForSelector(`#appeals li[data-case="${caseId}"][data-state="active"]`);
        await a.page.waitForSelector(`#approvals li[data-case="${caseId}"]`, { state: 'detached' });
        await a.context.close();
        await b.context.close();
        noPageErrors();
    });
