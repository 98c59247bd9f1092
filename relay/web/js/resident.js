// resident.js - the resident page: follow buurten (postcode, map or
// account), live appeals, reports with the description check, the
// report timeline with the satisfaction question, tips on appeals.

import { Conn, newId } from './conn.js';
import { $, h, show, loadSession, saveSession, loadLocal, saveLocal, isoLocal, dtLocalValue } from './dom.js';
import { t, installLangSwitch, onLangChange, fmtTime } from './i18n.js';
import * as api from './api.js';
import { AreaMap } from './map.js';
import { appealCard, flagList, errorText } from './messages.js';

const CATEGORIES = ['verdachte_situatie', 'inbraak', 'diefstal', 'vandalisme', 'overlast',
    'jeugdoverlast', 'drugs', 'verward_gedrag', 'verkeer', 'anders'];
const FOLLOW_KEY = 'br.follow.v1';
const CONTEXT = 50; // earlier messages shown again on a new visit

const conn = new Conn();
const ui = {
    session: loadSession(),
    follow: loadLocal(FOLLOW_KEY, []), // buurt codes chosen on this device
    accountBuurten: [],
    map: null,
    appeals: new Map(), // case -> {case, alert, updates, close, buurten:Set, order, missed, fresh}
    order: 0,
    reports: new Map(), // case -> {case, category, state, steps: [], ask: null}
    notices: [],
    pointMode: false,
    location: null, // {lat, lon} picked on the map
    pendingReport: null, // post awaiting confirmation after the description check
    openTips: new Set(), // cases whose tip form is open (kept across re-renders)
    tipDrafts: new Map(),
    tipDone: new Set(),
    live: new Set(), // buurt codes whose channel is subscribed
};

// ---- connection status --------------------------------------------------

conn.addEventListener('state', (e) => {
    const el = $('#conn-status');
    const s = e.detail;
    el.dataset.state = s;
    el.textContent = t(s === 'open' ? 'conn.open' : s === 'offline' ? 'conn.offline' : s === 'closed' ? 'conn.closed' : 'conn.connecting');
    if (s !== 'open' && ui.live.size) {
        ui.live.clear();
        renderFollowed();
    }
});

conn.addEventListener('unauthorized', () => {
    saveSession(null);
    ui.session = null;
    $('#login-result').textContent = t('login.expired');
    renderLogin();
});

function showMissed(channel) {
    $('#missed-detail').textContent = t('missed.detail', { channel: channelLabel(channel) });
    show($('#missed'), true);
}

$('#missed-dismiss').addEventListener('click', () => show($('#missed'), false));

function channelLabel(name) {
    if (name.startsWith('buurt:')) {
        const b = ui.map?.buurt(name.slice(6));
        return b ? b.name : name.slice(6);
    }
    return name;
}

function statusHandler(name) {
    return (st) => {
        if (st.type !== 'subscribed') return;
        if (st.missed) showMissed(name);
        if (name.startsWith('buurt:') && !ui.live.has(name.slice(6))) {
            ui.live.add(name.slice(6));
            renderFollowed();
        }
    };
}

// ---- following buurten --------------------------------------------------

function followedCodes() {
    return [...new Set([...ui.accountBuurten, ...ui.follow])];
}

function followBuurt(code) {
    conn.follow(`buurt:${code}`, { context: CONTEXT, onMessage: onBuurtMessage, onStatus: statusHandler(`buurt:${code}`) });
}

function addFollow(code) {
    if (!ui.follow.includes(code)) {
        ui.follow.push(code);
        saveLocal(FOLLOW_KEY, ui.follow);
    }
    followBuurt(code);
    renderFollowed();
}

function removeFollow(code) {
    ui.follow = ui.follow.filter((c) => c !== code);
    ui.live.delete(code);
    saveLocal(FOLLOW_KEY, ui.follow);
    if (!ui.accountBuurten.includes(code)) {
        conn.unfollow(`buurt:${code}`);
        for (const [id, a] of ui.appeals) {
            a.buurten.delete(code);
            if (!a.buurten.size) ui.appeals.delete(id);
        }
    }
    renderFollowed();
    renderAlerts();
}

function buurtName(code) {
    const b = ui.map?.buurt(code);
    return b ? `${b.name}` : code;
}

function renderFollowed() {
    const list = $('#followed');
    const codes = followedCodes();
    list.replaceChildren(...codes.map((code) => {
        const own = ui.accountBuurten.includes(code);
        const b = ui.map?.buurt(code);
        return h('li', { dataset: { code, live: ui.live.has(code) ? 'true' : 'false' } },
            h('span', { class: 'name' }, buurtName(code)),
            b ? h('span', { class: 'muted' }, ` ${b.wijknaam || ''} · ${code}`) : h('span', { class: 'muted' }, ` ${code}`),
            own ? h('span', { class: 'muted' }, ` ${t('buurt.own')}`) : null,
            own ? null : h('button', { type: 'button', class: 'link', onclick: () => removeFollow(code),
                'aria-label': t('buurt.unfollow', { name: buurtName(code) }) }, '×'));
    }));
    show($('#followed-none'), codes.length === 0);
    ui.map?.setClassSet('followed', codes);
    fillBuurtSelect();
}

$('#pc-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = $('#pc-result');
    const pc = api.normalPostcode($('#pc').value);
    const nr = ($('#huisnr').value || '').trim();
    if (!pc || !/^[0-9]{1,5}$/.test(nr)) {
        out.textContent = t('buurt.badpostcode');
        out.className = 'error';
        return;
    }
    try {
        const r = await api.postcode(pc, nr);
        if (!r) {
            out.textContent = t('buurt.notfound');
            out.className = 'error';
            return;
        }
        addFollow(r.buurt);
        out.className = 'ok';
        out.textContent = t('buurt.found', { name: r.name, wijk: r.wijknaam || r.wijk });
    } catch (err) {
        out.className = 'error';
        out.textContent = t('error.generic', { message: err.message });
    }
});

// ---- appeals ------------------------------------------------------------------

function onBuurtMessage(f, { seen, replayed }) {
    const m = f.msg || {};
    const code = f.channel.slice(6);
    if (!m.case || m.kind === 'redacted') return;
    let a = ui.appeals.get(m.case);
    if (!a) {
        a = { case: m.case, alert: null, updates: [], close: null, buurten: new Set(), order: 0, missed: false, fresh: false };
        ui.appeals.set(m.case, a);
    }
    a.buurten.add(code);
    const isNew = !seen;
    if (m.kind === 'alert') {
        if (!a.alert) a.order = ++ui.order;
        a.alert = m;
    } else if (m.kind === 'update') {
        if (!a.updates.some((u) => u.sent === m.sent && u.body === m.body)) a.updates.push(m);
    } else if (m.kind === 'close') {
        a.close = m;
        if (!a.order) a.order = ++ui.order;
    } else {
        return;
    }
    if (isNew && replayed) a.missed = true;
    if (isNew && !replayed) a.fresh = true;
    renderAlerts();
}

function tipForm(a) {
    const id = `tip-${a.case}`;
    const wrap = h('div', { class: 'tip' });
    if (ui.tipDone.has(a.case)) {
        wrap.append(h('p', { class: 'ok', role: 'status' }, t('tip.thanks')));
    }
    if (!ui.openTips.has(a.case)) {
        wrap.append(h('button', { type: 'button', class: 'secondary tip-open', 'aria-expanded': 'false', 'aria-controls': id,
            onclick: () => { ui.openTips.add(a.case); renderAlerts(); $(`#${id}-body`)?.focus(); } }, t('alert.tip')));
        return wrap;
    }
    const body = h('textarea', { id: `${id}-body`, rows: 3, required: true, maxlength: 2000 });
    body.value = ui.tipDrafts.get(a.case) || '';
    body.addEventListener('input', () => ui.tipDrafts.set(a.case, body.value));
    const anon = ui.session ? h('input', { type: 'checkbox', id: `${id}-anon` }) : null;
    const result = h('p', { role: 'status', class: 'tip-result' });
    const form = h('form', { id, class: 'tip-form', 'aria-label': t('tip.h') },
        h('label', { for: `${id}-body` }, t('tip.body')),
        body,
        anon ? h('label', { class: 'check' }, anon, ' ', t('tip.anonymous')) : null,
        h('div', { class: 'buttons' },
            h('button', { type: 'submit' }, t('tip.send')),
            h('button', { type: 'button', class: 'secondary', onclick: () => { ui.openTips.delete(a.case); renderAlerts(); } }, t('tip.cancel'))),
        result);
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const text = body.value.trim();
        if (!text) {
            body.focus();
            return;
        }
        const post = { kind: 'tip', case: a.case, body: text };
        if (anon?.checked) post.anonymous = true;
        form.querySelector('button[type=submit]').disabled = true;
        const r = await conn.post(post, newId('tip'));
        if (r.type === 'ack') {
            ui.openTips.delete(a.case);
            ui.tipDrafts.delete(a.case);
            ui.tipDone.add(a.case);
            renderAlerts();
        } else {
            form.querySelector('button[type=submit]').disabled = false;
            result.className = 'error';
            result.textContent = r.code === 'conflict' ? t('tip.closed') : t('error.generic', { message: errorText(r) });
        }
    });
    wrap.append(form);
    return wrap;
}

function renderAlerts() {
    const list = [...ui.appeals.values()].filter((a) => a.alert || a.close);
    list.sort((x, y) => (!!x.close - !!y.close) || (y.order - x.order));
    const box = $('#alerts');
    // Keep focus inside an open tip form across re-renders.
    const active = document.activeElement;
    const activeId = active && box.contains(active) ? active.id : null;
    const sel = activeId && 'selectionStart' in active ? [active.selectionStart, active.selectionEnd] : null;
    box.replaceChildren(...list.map((a) => appealCard(a, { tipForm: tipForm(a) })));
    if (activeId) {
        const el = document.getElementById(activeId);
        el?.focus();
        if (el && sel) el.setSelectionRange(sel[0], sel[1]);
    }
    show($('#alerts-none'), list.length === 0);
    const alerted = new Set();
    for (const a of list) if (!a.close) for (const c of a.buurten) alerted.add(c);
    ui.map?.setClassSet('alerted', [...alerted]);
}

// ---- login --------------------------------------------------------------------

$('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = $('#login-result');
    out.className = '';
    out.textContent = t('login.busy');
    try {
        const name = $('#login-name').value.trim();
        const r = await api.login(name, $('#login-password').value);
        ui.session = { token: r.token, login: name, user: r.user, expires: r.expires };
        saveSession(ui.session);
        $('#login-password').value = '';
        out.textContent = '';
        startSession();
    } catch (err) {
        out.className = 'error';
        out.textContent = err.status === 401 ? t('login.failed') : t('error.generic', { message: err.message });
    }
});

$('#logout').addEventListener('click', () => {
    if (ui.session) api.logout(ui.session.token);
    saveSession(null);
    ui.session = null;
    for (const code of ui.accountBuurten) {
        if (ui.follow.includes(code)) continue;
        conn.unfollow(`buurt:${code}`);
        ui.live.delete(code);
        for (const [id, a] of ui.appeals) {
            a.buurten.delete(code);
            if (!a.buurten.size) ui.appeals.delete(id);
        }
    }
    ui.accountBuurten = [];
    ui.reports.clear();
    ui.notices = [];
    conn.setToken(null);
    for (const code of ui.follow) followBuurt(code);
    renderLogin();
    renderFollowed();
    renderReports();
});

function renderLogin() {
    const s = ui.session;
    show($('#login-form'), !s);
    show($('#logged-in'), !!s);
    if (s) $('#who').textContent = t('login.as', { login: s.login, role: t(`role.${s.user.role}`) });
    show($('#report-form'), !!s);
    show($('#report-login'), !s);
    show($('#mine-section'), !!s);
}

function startSession() {
    renderLogin();
    conn.setToken(ui.session.token);
    for (const code of ui.follow) followBuurt(code);
}

conn.addEventListener('welcome', (e) => {
    const u = e.detail.user;
    if (!ui.session || !u.id) return;
    ui.session.user = { ...ui.session.user, ...u };
    ui.accountBuurten = u.buurten || [];
    for (const code of ui.accountBuurten) followBuurt(code);
    conn.follow(`user:${u.id}`, { context: 500, onMessage: onUserMessage, onStatus: statusHandler(`user:${u.id}`) });
    renderFollowed();
    renderLogin();
});

// ---- reports ------------------------------------------------------------------

function fillCategories() {
    const sel = $('#r-category');
    const cur = sel.value;
    sel.replaceChildren(h('option', { value: '' }, '—'),
        ...CATEGORIES.map((c) => h('option', { value: c }, t(`cat.${c}`))));
    sel.value = cur;
}

function fillBuurtSelect() {
    const sel = $('#r-buurt');
    const cur = sel.value;
    const followed = followedCodes();
    const all = ui.map ? ui.map.buurten() : [];
    const opts = [];
    for (const code of followed) opts.push(h('option', { value: code }, buurtName(code)));
    const rest = all.filter((b) => !followed.includes(b.code)).sort((a, b) => a.name.localeCompare(b.name));
    for (const b of rest) opts.push(h('option', { value: b.code }, `${b.name} (${b.wijknaam || b.wijk})`));
    sel.replaceChildren(...opts);
    // The user's own choice stays; otherwise the first followed buurt.
    if (ui.buurtChosen && cur && [...sel.options].some((o) => o.value === cur)) sel.value = cur;
}

$('#r-buurt').addEventListener('change', () => { ui.buurtChosen = true; });

function setPointMode(on) {
    ui.pointMode = on;
    $('#map-hint').textContent = t(on ? 'map.hint.point' : 'map.hint.follow');
    $('#map-section').classList.toggle('picking', on);
    if (on) $('#map').scrollIntoView({ block: 'nearest' });
}

function renderPoint() {
    const p = ui.location;
    const out = $('#r-point');
    if (!p) {
        out.textContent = '';
        ui.map?.setMarker(null);
        return;
    }
    const code = ui.map?.locate(p.lat, p.lon);
    const vars = { lat: p.lat.toFixed(5), lon: p.lon.toFixed(5), name: code ? buurtName(code) : '' };
    out.textContent = t(code ? 'report.where.pointbuurt' : 'report.where.point', vars);
    ui.map?.setMarker(p);
}

for (const r of document.querySelectorAll('input[name=where]')) {
    r.addEventListener('change', () => {
        const map = r.value === 'map' && r.checked;
        setPointMode(map);
        $('#r-buurt').disabled = map;
        if (!map) {
            ui.location = null;
            renderPoint();
        }
    });
}

function buildReport() {
    const body = $('#r-body').value.trim();
    const category = $('#r-category').value;
    if (!body) return { error: $('#r-body') };
    if (!category) return { error: $('#r-category') };
    const post = { kind: 'report', category, body };
    const where = document.querySelector('input[name=where]:checked').value;
    if (where === 'map') {
        if (!ui.location) return { error: $('#map') };
        post.location = { lat: Number(ui.location.lat.toFixed(6)), lon: Number(ui.location.lon.toFixed(6)) };
    } else {
        post.buurt = $('#r-buurt').value;
        if (!post.buurt) return { error: $('#r-buurt') };
    }
    const when = $('#r-when').value;
    if (when) {
        const d = new Date(when);
        if (!Number.isNaN(d.getTime())) post.when = isoLocal(d);
    }
    const called = document.querySelector('input[name=called_112]:checked').value;
    if (called === 'yes') post.called_112 = true;
    if (called === 'no') post.called_112 = false;
    if ($('#r-anon').checked) post.anonymous = true;
    return { post };
}

async function sendReport(post) {
    const out = $('#report-result');
    const btn = $('#r-submit');
    btn.disabled = true;
    out.className = '';
    out.textContent = t('report.busy');
    show($('#report-check'), false);
    const r = await conn.post(post, newId('report'));
    btn.disabled = false;
    if (r.type === 'ack') {
        ui.pendingReport = null;
        out.className = 'ok';
        out.textContent = t('report.done', { case: r.case });
        noteReport(r.case, { category: post.category, state: r.state || 'new' });
        $('#report-form').reset();
        $('#r-when').value = dtLocalValue(new Date());
        ui.location = null;
        renderPoint();
        setPointMode(false);
        $('#r-buurt').disabled = false;
        return;
    }
    if (r.code === 'conflict' && r.reason === 'description_check') {
        ui.pendingReport = post;
        out.textContent = '';
        $('#report-flags').replaceChildren(flagList(r));
        show($('#report-check'), true);
        $('#report-confirm').focus();
        return;
    }
    out.className = 'error';
    out.textContent = t('report.failed', { message: errorText(r) });
}

$('#report-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const { post, error } = buildReport();
    if (error) {
        error.focus?.();
        if (error.id === 'map') $('#r-point').textContent = t('map.hint.point');
        return;
    }
    sendReport(post);
});

$('#report-confirm').addEventListener('click', () => {
    if (ui.pendingReport) sendReport({ ...ui.pendingReport, confirm: true });
});

$('#report-edit').addEventListener('click', () => {
    show($('#report-check'), false);
    ui.pendingReport = null;
    $('#r-body').focus();
});

// ---- my reports: the timeline --------------------------------------------------

function answeredKey() {
    return `br.feedback.${ui.session?.user?.id || 'anon'}`;
}

function noteReport(id, fields) {
    let r = ui.reports.get(id);
    if (!r) {
        r = { case: id, category: null, state: 'new', steps: [], ask: null, order: ++ui.order };
        ui.reports.set(id, r);
    }
    Object.assign(r, Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null)));
    return r;
}

function onUserMessage(f) {
    const m = f.msg || {};
    if (!m.case) return;
    const key = `${f.epoch}:${f.seq}`;
    switch (m.kind) {
    case 'receipt': {
        const r = noteReport(m.case, { category: m.category, state: m.state || 'new' });
        if (!r.steps.some((s) => s.key === key)) r.steps.push({ key, kind: 'receipt', sent: m.sent, state: 'new' });
        break;
    }
    case 'status': {
        const r = noteReport(m.case, { state: m.state });
        if (!r.steps.some((s) => s.key === key)) r.steps.push({ key, kind: 'status', sent: m.sent, state: m.state, note: m.note });
        const answered = loadLocal(answeredKey(), []);
        r.ask = m.ask_feedback && !answered.includes(`${m.case}@${key}`) ? key : null;
        break;
    }
    case 'feedback': {
        const r = noteReport(m.case, { state: m.state });
        if (!r.steps.some((s) => s.key === key)) r.steps.push({ key, kind: 'feedback', sent: m.sent, satisfied: m.satisfied, state: m.state });
        r.ask = null;
        break;
    }
    case 'outcome':
        if (!ui.notices.some((n) => n.key === key)) ui.notices.push({ key, ...m });
        break;
    default:
        return;
    }
    renderReports();
}

function stepText(s, r) {
    if (s.kind === 'receipt') return t('step.receipt', { category: r.category ? t(`cat.${r.category}`) : '' });
    if (s.kind === 'feedback') return t(s.satisfied ? 'step.feedback.yes' : 'step.feedback.no');
    return t(`state.${s.state}`);
}

function feedbackForm(r) {
    const id = `fb-${r.case}`;
    const comment = h('textarea', { id: `${id}-comment`, rows: 2, maxlength: 2000 });
    const result = h('p', { role: 'status' });
    const send = async (satisfied) => {
        const post = { kind: 'feedback', case: r.case, satisfied };
        const c = comment.value.trim();
        if (c) post.comment = c;
        for (const b of form.querySelectorAll('button')) b.disabled = true;
        const res = await conn.post(post, newId('fb'));
        if (res.type === 'ack') {
            const answered = loadLocal(answeredKey(), []);
            answered.push(`${r.case}@${r.ask}`);
            saveLocal(answeredKey(), answered);
            if (satisfied) r.steps.push({ key: `local-${Date.now()}`, kind: 'feedback', satisfied: true, sent: new Date().toISOString() });
            r.ask = null;
            r.thanks = true;
            renderReports();
        } else {
            for (const b of form.querySelectorAll('button')) b.disabled = false;
            result.className = 'error';
            result.textContent = t('error.generic', { message: errorText(res) });
        }
    };
    const form = h('form', { class: 'feedback', id, 'aria-labelledby': `${id}-q`, onsubmit: (e) => e.preventDefault() },
        h('p', { id: `${id}-q`, class: 'question' }, t('feedback.q')),
        h('label', { for: `${id}-comment` }, t('feedback.comment')),
        comment,
        h('div', { class: 'buttons' },
            h('button', { type: 'button', onclick: () => send(true) }, t('feedback.yes')),
            h('button', { type: 'button', class: 'secondary', onclick: () => send(false) }, t('feedback.no'))),
        result);
    return form;
}

function renderReports() {
    const list = [...ui.reports.values()].sort((a, b) => b.order - a.order);
    $('#mine').replaceChildren(...list.map((r) => h('li', { class: `report state-${r.state}`, dataset: { case: r.case } },
        h('h3', {}, r.category ? t(`cat.${r.category}`) : t('alert.case', { case: r.case }), ' ',
            h('span', { class: `badge state state-${r.state}` }, t(`state.${r.state}`))),
        h('p', { class: 'meta' }, t('alert.case', { case: r.case })),
        h('ol', { class: 'steps' }, r.steps.map((s) => h('li', { class: `step step-${s.kind}`, dataset: { state: s.state || '' } },
            h('span', { class: 'when' }, fmtTime(s.sent)), ' ',
            h('strong', {}, stepText(s, r)),
            s.note ? h('span', { class: 'note' }, ` — ${t('step.note', { note: s.note })}`) : null))),
        r.ask ? feedbackForm(r) : null,
        r.thanks && !r.ask ? h('p', { class: 'ok' }, t('feedback.thanks')) : null)));
    show($('#mine-none'), list.length === 0);
    show($('#notices-wrap'), ui.notices.length > 0);
    $('#notices').replaceChildren(...ui.notices.map((n) => h('li', { class: 'notice-item', dataset: { case: n.case } },
        h('span', { class: 'when' }, fmtTime(n.sent)), ' ',
        t('outcome.msg', { outcome: t(`outcome.${n.outcome}`), body: n.body || '' }))));
}

// ---- map --------------------------------------------------------------------------

async function loadMap() {
    try {
        const geo = await api.areas();
        const first = geo.features?.[0]?.properties || {};
        ui.map = new AreaMap($('#map'), geo, {
            label: t('map.label', { gemeente: first.gemeentenaam || '' }),
            onActivate: onMapActivate,
        });
        ui.map.setPressedClass('followed');
        renderFollowed();
        renderAlerts();
        renderPoint();
    } catch {
        $('#map').replaceChildren(h('p', { class: 'error' }, t('map.failed')));
    }
}

function onMapActivate({ code, lat, lon }) {
    if (ui.pointMode) {
        ui.location = { lat, lon };
        renderPoint();
        return;
    }
    if (!code) return;
    const out = $('#pc-result');
    out.className = 'ok';
    if (followedCodes().includes(code) && !ui.accountBuurten.includes(code)) {
        removeFollow(code);
        out.textContent = '';
    } else {
        addFollow(code);
        const b = ui.map.buurt(code);
        out.textContent = t('buurt.found', { name: b.name, wijk: b.wijknaam || b.wijk });
    }
}

// ---- start ------------------------------------------------------------------------

installLangSwitch($('#lang'));
onLangChange(() => {
    $('#lang').setAttribute('lang', document.documentElement.lang === 'nl' ? 'en' : 'nl');
    conn.dispatchEvent(new CustomEvent('state', { detail: conn.state }));
    fillCategories();
    renderFollowed();
    renderAlerts();
    renderReports();
    renderLogin();
    renderPoint();
    setPointMode(ui.pointMode);
});
$('#lang').setAttribute('lang', document.documentElement.lang === 'nl' ? 'en' : 'nl');
fillCategories();
$('#r-when').value = dtLocalValue(new Date());
renderLogin();
renderFollowed();
renderAlerts();
for (const code of ui.follow) followBuurt(code);
if (ui.session) conn.token = ui.session.token;
conn.start();
loadMap();
