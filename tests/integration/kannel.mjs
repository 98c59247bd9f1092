// kannel.mjs - a real Kannel (bearerbox + smsbox + fakesmsc) for the
// integration tests, on loopback ports picked at random, from the
// repository's config/kannel.conf template.
//
//   const k = await startKannel({ relayUrl, webhookToken, password });
//   await k.sendsms({ to: '+31612345678', text: 'Hallo' })   // as the relay does
//   await k.waitReceived(1)      // what fakesmsc (the "phones") got
//   await k.sendMo('31612345678', 'Gezien bij station')   // an SMS reply
//   await k.stopSmsc() / k.startSmsc()   // the SMS centre goes down / up
//   await k.killBearerbox() / k.restartBoxes()   // crash, restart
//
// Needs the Debian packages kannel (bearerbox, smsbox) and kannel-extras
// (fakesmsc); kannelMissing() says what is missing so a test can skip.
// Every process goes through harness.mjs's spawnTracked(), so it is
// stopped after the test file and its output printed when a test fails.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { SRC, freePort, spawnTracked, stopTracked, tempDir } from './harness.mjs';

export const BEARERBOX = process.env.KANNEL_BEARERBOX || '/usr/sbin/bearerbox';
export const SMSBOX = process.env.KANNEL_SMSBOX || '/usr/sbin/smsbox';
export const FAKESMSC = process.env.KANNEL_FAKESMSC || '/usr/lib/kannel/test/fakesmsc';
export const KANNEL_TEMPLATE = path.join(SRC, 'config', 'kannel.conf');

// Why Kannel cannot run here, or null when it can.
export function kannelMissing() {
    for (const bin of [BEARERBOX, SMSBOX, FAKESMSC]) {
        if (!existsSync(bin))
            return `${bin} not found (apt-get install kannel kannel-extras)`;
    }
    return null;
}

// The template with its placeholders and default ports replaced.
export function renderKannelConf(template, { ports, spool, dlrSpool, relayUrl, webhookToken, password, adminPassword }) {
    const subst = {
        '@SPOOL_DIR@': spool,
        '@DLR_SPOOL_DIR@': dlrSpool,
        '@RELAY_URL@': relayUrl,
        '@WEBHOOK_TOKEN@': webhookToken,
        '@SENDSMS_PASSWORD@': password,
        '@ADMIN_PASSWORD@': adminPassword,
    };
    let text = template;
    for (const [k, v] of Object.entries(subst)) text = text.split(k).join(v);
    text = text
        .replace(/^admin-port = 13000$/m, `admin-port = ${ports.admin}`)
        .replace(/^smsbox-port = 13001$/m, `smsbox-port = ${ports.smsbox}`)
        .replace(/^bearerbox-port = 13001$/m, `bearerbox-port = ${ports.smsbox}`)
        .replace(/^sendsms-port = 13013$/m, `sendsms-port = ${ports.sendsms}`)
        .replace(/^port = 10000$/m, `port = ${ports.smsc}`);
    const left = /@[A-Z_]+@/.exec(text);
    if (left) throw new Error(`kannel.conf: placeholder ${left[0]} not replaced`);
    return text;
}

// fakesmsc prints "Got message N: <from to type text>"; ucs-2 text is
// URL-encoded UTF-16BE with '+' for the byte 0x20.
function decodeFake(type, data) {
    if (type !== 'ucs-2') return data;
    const bytes = [];
    for (let i = 0; i < data.length; i++) {
        const c = data[i];
        if (c === '+') bytes.push(0x20);
        else if (c === '%') {
            bytes.push(parseInt(data.slice(i + 1, i + 3), 16));
            i += 2;
        } else bytes.push(c.charCodeAt(0));
    }
    const buf = Buffer.from(bytes);
    buf.swap16();
    return buf.toString('utf16le');
}

export function parseFakeOutput(text) {
    const out = [];
    const re = /Got message \d+: <(\S+) (\S+) (\S+) (.*)>$/gm;
    let m;
    while ((m = re.exec(text)) !== null)
        out.push({ from: m[1], to: m[2], type: m[3], text: decodeFake(m[3], m[4]) });
    return out;
}

async function waitFor(what, fn, { timeoutMs = 30000, intervalMs = 100 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline)
            throw new Error(`kannel: ${what} not within ${timeoutMs} ms${last ? ` (${last.message})` : ''}`);
        await delay(intervalMs);
    }
}

export async function startKannel({
    relayUrl,
    webhookToken = 'kannel_token_0123456789',
    password = 'sendsms-pw',
    adminPassword = 'admin-pw',
    verbose = 1,
} = {}) {
    const missing = kannelMissing();
    if (missing) throw new Error(missing);
    if (!relayUrl) throw new Error('startKannel: relayUrl is required');
    const dir = tempDir('buurtrelay-kannel-');
    const spool = path.join(dir, 'spool');
    const dlrSpool = path.join(dir, 'dlr-spool');
    mkdirSync(spool);
    mkdirSync(dlrSpool);
    const ports = { admin: await freePort(), smsbox: await freePort(), sendsms: await freePort(), smsc: await freePort() };
    const conf = path.join(dir, 'kannel.conf');
    writeFileSync(conf, renderKannelConf(readFileSync(KANNEL_TEMPLATE, 'utf8'),
        { ports, spool, dlrSpool, relayUrl, webhookToken, password, adminPassword }), { mode: 0o600 });

    const adminUrl = `http://127.0.0.1:${ports.admin}`;
    const sendsmsUrl = `http://127.0.0.1:${ports.sendsms}/cgi-bin/sendsms`;
    let bearerbox = null;
    let smsbox = null;
    let fake = null;
    const fakeLogs = []; // outputs of every fakesmsc so far (functions)
    let starts = 0;

    const admin = async (cmd) => {
        const r = await fetch(`${adminUrl}/${cmd}${cmd.includes('?') ? '&' : '?'}password=${adminPassword}`,
            { signal: AbortSignal.timeout(3000) });
        return r.text();
    };
    const status = () => admin('status.txt');
    const smscOnline = async () => /FAKE\[FAKE\]\s+FAKE:\d+ \(online/.test(await status());

    async function startBearerbox() {
        starts++;
        bearerbox = spawnTracked(`bearerbox #${starts}`, BEARERBOX, ['-v', String(verbose), conf], { cwd: dir });
        await waitFor('bearerbox admin port', async () => {
            if (bearerbox.exitCode !== null) throw new Error(`bearerbox exited:\n${bearerbox.logs()}`);
            return (await status()).includes('Status: running');
        });
    }

    async function startSmsbox() {
        smsbox = spawnTracked('smsbox', SMSBOX, ['-v', String(verbose), conf], { cwd: dir });
        await waitFor('smsbox sendsms port', async () => {
            if (smsbox.exitCode !== null) throw new Error(`smsbox exited:\n${smsbox.logs()}`);
            const r = await fetch(sendsmsUrl, { signal: AbortSignal.timeout(1000) });
            await r.text();
            return r.status > 0;
        });
    }

    // A fakesmsc that receives MT and, with 'mo', first sends that one
    // line ("from to text words...") as an incoming SMS.
    async function startSmsc(mo = null) {
        if (fake) throw new Error('startSmsc: fakesmsc already running');
        const args = ['-H', '127.0.0.1', '-r', String(ports.smsc), '-i', '0.1'];
        if (mo) args.push('-m', '1', mo);
        else args.push('-m', '0', 'x y text x');
        fake = spawnTracked(`fakesmsc #${fakeLogs.length + 1}`, FAKESMSC, args, { cwd: dir });
        fakeLogs.push(fake.logs);
        await waitFor('fake SMSC online', smscOnline);
    }

    // The SMS centre goes away: fakesmsc dies; bearerbox keeps the SMSC
    // enabled (so sendsms answers "3: Queued") and waits for a client.
    // (Its fake SMSC serves one client at a time: a second fakesmsc is
    // only served once the first is gone.)
    async function stopSmsc() {
        if (fake) {
            await stopTracked(fake, 'SIGKILL');
            fake = null;
        }
        await waitFor('fake SMSC offline', async () => !(await smscOnline()));
    }

    const received = () => fakeLogs.flatMap((logs) => parseFakeOutput(logs()));

    const kannel = {
        dir,
        conf,
        ports,
        adminUrl,
        sendsmsUrl,
        webhookToken,
        password,
        status,
        received,
        async waitReceived(n, { timeoutMs = 15000 } = {}) {
            return waitFor(`${n} message(s) at fakesmsc`, () => {
                const r = received();
                return r.length >= n ? r : null;
            }, { timeoutMs });
        },
        // POST like the relay's kannel adapter (text/plain + X-Kannel-*).
        async sendsms({ to, text, from = '3197010000001', coding = 0, dlrUrl, dlrMask = 31, pw = password }) {
            const headers = {
                'Content-Type': 'text/plain; charset=UTF-8',
                'X-Kannel-Username': 'relay',
                'X-Kannel-Password': pw,
                'X-Kannel-From': from,
                'X-Kannel-To': to,
                'X-Kannel-Coding': String(coding),
            };
            if (dlrUrl) {
                headers['X-Kannel-DLR-Mask'] = String(dlrMask);
                headers['X-Kannel-DLR-Url'] = dlrUrl;
            }
            const r = await fetch(sendsmsUrl, { method: 'POST', headers, body: text, signal: AbortSignal.timeout(5000) });
            return { status: r.status, body: await r.text() };
        },
        async sendMo(from, text, to = '3197010000001') {
            await stopSmsc();
            await startSmsc(`${from} ${to} text ${text}`);
        },
        startSmsc,
        stopSmsc,
        startBearerbox,
        // bearerbox crashes. smsbox (1.4.5) exits when it loses bearerbox,
        // so a supervisor must restart both: restartBoxes() does.
        async killBearerbox() {
            if (fake) {
                await stopTracked(fake, 'SIGKILL');
                fake = null;
            }
            await stopTracked(bearerbox, 'SIGKILL');
        },
        async restartBoxes() {
            await startBearerbox();
            const connected = () => waitFor('smsbox connected', async () => /smsbox:/.test(await status()),
                { timeoutMs: 3000 }).then(() => true, () => false);
            if ((smsbox.exitCode !== null || smsbox.signalCode !== null) || !(await connected())) {
                await stopTracked(smsbox, 'SIGKILL');
                await startSmsbox();
                await waitFor('smsbox connected', async () => /smsbox:/.test(await status()));
            }
        },
        async stop() {
            for (const p of [fake, smsbox, bearerbox]) if (p) await stopTracked(p, 'SIGTERM', 5000);
        },
    };

    await startBearerbox();
    await startSmsbox();
    await startSmsc();
    return kannel;
}
