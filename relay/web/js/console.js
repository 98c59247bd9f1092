// console.js - the console for police and BOA: compose an appeal on a map
// with its reach, approvals, the officer's own appeals (delivery, tips,
// update/widen, close) and the case board of reports per wijk.

import { Conn, newId } from './conn.js';
import { $, h, show, loadSession, saveSession, loadLocal, saveLocal } from './dom.js';
import { t, installLangSwitch, onLangChange, fmtTime } from './i18n.js';
import * as api from './api.js';
import { AreaMap } from './map.js';
import { flagList, errorText, isUrgent, capLine } from './messages.js';

const URGENCY = ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'];
const SEVERITY = ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'];
const CERTAINTY = ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown'];
const OUTCOMES = ['found', 'not_found', 'resolved', 'cancelled', 'other'];
const STATES = ['acknowledged', 'in_progress', 'resolved', 'referred', 'no_action', 'duplicate'];
const CLOSED = new Set(['resolved', 'referred', 'no_action', 'duplicate', 'closed']);
const DESK_CONTEXT = 1000;

const conn = new Conn();
const ui = {
    session: loadSession(),
    map: null,
    geo: null,
    area: { mode: 'buurten', buurten: new Set(), circle: null, polygon: [] },
    reach: null, // last resolve result for the current area
    reachSeq: 0,
    reachTimer: null,
    pendingAlert: null,
    desks: [], // channel names followed
    appeals: new Map(), // case -> appeal state
    reports: new Map(), // case -> report state
    seen: new Set(), // msg JSON already applied (a message may come on several channels)
    forms: new Map(), // form drafts by id, kept across re-renders
    notes: new Map(), // case -> last result line
    details: new Map(), // case -> GET /api/v1/cases/{id} answer (or a pending promise)
};

// ---- helpers ------------------------------------------------------------------

function userKey(name) {
    return `br.${name}.${ui.session?.user?.id || 'none'}`;
}

function isOfficer() {
    const r = ui.session?.user?.role;
    return r === 'police' || r === 'boa' || r === 'admin';
}

function wijkOf(buurt) {
    const b = ui.map?.buurt(buurt);
    return b ? b.wijk : `WK${buurt.slice(2, 8)}`;
}

function wijkName(code) {
    const b = ui.map?.buurten().find((x) => x.wijk === code);
    return b ? b.wijknaam || code : code;
}

// A draft kept across re-renders: value of a field by id.
function draft(el, key) {
    if (ui.forms.has(key)) {
        if (el.type === 'checkbox') el.checked = ui.forms.get(key);
        else el.value = ui.forms.get(key);
    }
    const save = () => ui.forms.set(key, el.type === 'checkbox' ? el.checked : el.value);
    el.addEventListener('input', save);
    el.addEventListener('change', save);
    return el;
}

// Re-renders a list, keeping the focused field (and its caret) alive.
function rerender(box, nodes) {
    const active = document.activeElement;
    const id = active && box.contains(active) ? active.id : null;
    const sel = id && 'selectionStart' in active && active.selectionStart !== null ? [active.selectionStart, active.selectionEnd] : null;
    box.replaceChildren(...nodes);
    if (id) {
        const el = document.getElementById(id);
        if (el) {
            el.focus();
            if (sel) {
                try {
                    el.setSelectionRange(sel[0], sel[1]);
                } catch {
                    /* not a text field */
                }
            }
        }
    }
}

// ---- connection ----------------------------------------------------------------

conn.addEventListener('state', (e) => {
    const el = $('#conn-status');
    el.dataset.state = e.detail;
    el.textContent = t(e.detail === 'open' ? 'conn.open' : e.detail === 'offline' ? 'conn.offline' : e.detail === 'closed' ? 'conn.closed' : 'conn.connecting');
});

conn.addEventListener('unauthorized', () => {
    saveSession(null);
    ui.session = null;
    $('#login-result').textContent = t('login.expired');
    renderAll();
});

$('#missed-dismiss').addEventListener('click', () => show($('#missed'), false));

function statusHandler(name) {
    return (st) => {
        if (st.type === 'subscribed' && st.missed) {
            $('#missed-detail').textContent = t('missed.detail', { channel: name });
            show($('#missed'), true);
        }
    };
}

// ---- login ------------------------------------------------------------------------

$('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const out = $('#login-result');
    out.className = '';
    out.textContent = t('login.busy');
    try {
        const name = $('#login-name').value.trim();
        const r = await api.login(name, $('#login-password').value);
        ui.session = { token: r.token, login: name, user: r.user, expires: r.expires };
        $('#login-password').value = '';
        if (!isOfficer()) {
            ui.session = null;
            out.className = 'error';
            out.textContent = t('console.notofficer');
            return;
        }
        saveSession(ui.session);
        out.textContent = '';
        conn.setToken(ui.session.token);
        renderAll();
    } catch (err) {
        out.className = 'error';
        out.textContent = err.status === 401 ? t('login.failed') : t('error.generic', { message: err.message });
    }
});

$('#logout').addEventListener('click', () => {
    if (ui.session) api.logout(ui.session.token);
    saveSession(null);
    ui.session = null;
    ui.appeals.clear();
    ui.reports.clear();
    ui.seen.clear();
    ui.desks = [];
    conn.setToken(null);
    renderAll();
});

conn.addEventListener('welcome', (e) => {
    const u = e.detail.user;
    if (!ui.session || !u.id) return;
    ui.session.user = { ...ui.session.user, ...u };
    saveSession(ui.session);
    if (u.role === 'boa' && Array.isArray(u.wijken) && !loadLocal(userKey('desks'), null)) {
        saveLocal(userKey('desks'), u.wijken.map((w) => `desk:${w}`));
    }
    followDesks();
    for (const id of loadLocal(userKey('appeals'), [])) followCase(id);
    renderAll();
});

// ---- desks ------------------------------------------------------------------------

function renderDesks() {
    const box = $('#desks');
    if (!ui.map) return;
    const chosen = new Set(loadLocal(userKey('desks'), []));
    const wijken = new Map();
    const gemeenten = new Map();
    for (const b of ui.map.buurten()) {
        wijken.set(b.wijk, b.wijknaam || b.wijk);
        gemeenten.set(b.gemeente, b.gemeentenaam || b.gemeente);
    }
    const items = [...wijken].sort((a, b) => a[0].localeCompare(b[0])).map(([code, name]) => {
        const input = h('input', { type: 'checkbox', id: `desk-${code}`, value: `desk:${code}` });
        input.checked = chosen.has(`desk:${code}`);
        return h('label', { class: 'check', for: `desk-${code}` }, input, ` ${name} (${code})`);
    });
    if (ui.session?.user?.role !== 'boa') {
        for (const [code, name] of gemeenten) {
            const input = h('input', { type: 'checkbox', id: `desk-${code}`, value: `desk:${code}` });
            input.checked = chosen.has(`desk:${code}`);
            items.push(h('label', { class: 'check', for: `desk-${code}` }, input, ` ${t('desks.gemeente', { name })}`));
        }
    }
    box.replaceChildren(...items);
}

$('#desks').addEventListener('change', () => {
    const chosen = [...document.querySelectorAll('#desks input:checked')].map((i) => i.value);
    saveLocal(userKey('desks'), chosen);
    followDesks();
    renderBoard();
});

function followDesks() {
    const want = new Set(loadLocal(userKey('desks'), []));
    for (const name of ui.desks) if (!want.has(name)) conn.unfollow(name);
    ui.desks = [...want];
    for (const name of ui.desks) {
        conn.follow(name, {
            context: DESK_CONTEXT,
            onMessage: onDeskMessage,
            onStatus: (st) => {
                if (st.type === 'error' && (st.error.code === 'forbidden' || st.error.code === 'bad_request')) {
                    // Not ours to see (a BOA of another wijk): drop it.
                    const left = loadLocal(userKey('desks'), []).filter((d) => d !== name);
                    saveLocal(userKey('desks'), left);
                    conn.unfollow(name);
                    ui.desks = ui.desks.filter((d) => d !== name);
                    renderDesks();
                    $('#board-none').textContent = t('error.generic', { message: `${name}: ${st.error.message}` });
                    show($('#board-none'), true);
                } else if (st.type === 'error') {
                    $('#board-none').textContent = t('error.generic', { message: `${name}: ${st.error.message}` });
                    show($('#board-none'), true);
                } else {
                    statusHandler(name)(st);
                }
            },
        });
    }
}

// ---- messages: appeals and reports ------------------------------------------------

function appeal(id) {
    let a = ui.appeals.get(id);
    if (!a) {
        a = { case: id, alert: null, state: null, approval: null, approved: false, tips: [], updates: [], close: null,
              published: [], reach: null, mine: loadLocal(userKey('appeals'), []).includes(id) };
        ui.appeals.set(id, a);
    }
    return a;
}

function report(id) {
    let r = ui.reports.get(id);
    if (!r) {
        r = { case: id, report: null, state: 'new', overdue: false, history: [], comments: [], buurt: null };
        ui.reports.set(id, r);
    }
    return r;
}

function once(m) {
    const key = JSON.stringify(m);
    if (ui.seen.has(key)) return false;
    ui.seen.add(key);
    return true;
}

function onDeskMessage(f) {
    applyMessage(f.msg || {}, f.channel);
}

function applyMessage(m, channel) {
    if (!m.case || !once(m)) return;
    switch (m.kind) {
    case 'report': {
        const r = report(m.case);
        r.report = m;
        r.buurt = m.buurt;
        if (!r.history.length) r.state = m.state || 'new';
        break;
    }
    case 'status': {
        const r = report(m.case);
        r.state = m.state;
        r.history.push({ kind: 'status', state: m.state, note: m.note, sent: m.sent, by: m.from?.role });
        break;
    }
    case 'feedback': {
        const r = report(m.case);
        r.state = m.state;
        r.history.push({ kind: 'feedback', satisfied: m.satisfied, comment: m.comment, sent: m.sent });
        break;
    }
    case 'escalated': {
        const r = report(m.case);
        r.overdue = true;
        if (!r.buurt && m.buurt) r.buurt = m.buurt;
        if (!r.report) r.category = m.category;
        r.history.push({ kind: 'escalated', sent: m.sent });
        break;
    }
    case 'comment': {
        const r = report(m.case);
        r.comments.push(m);
        break;
    }
    case 'tip': {
        const a = appeal(m.case);
        a.tips.push(m);
        break;
    }
    case 'alert': {
        const a = appeal(m.case);
        a.alert = { ...m, update: undefined, updated: undefined };
        if (!a.state) a.state = 'active';
        break;
    }
    case 'approval_needed': {
        const a = appeal(m.case);
        a.approval = m;
        if (!a.approved && !a.close) a.state = 'pending_approval';
        break;
    }
    case 'approved': {
        const a = appeal(m.case);
        a.approved = true;
        if (!a.close) a.state = 'active';
        break;
    }
    case 'update': {
        const a = appeal(m.case);
        a.updates.push(m);
        break;
    }
    case 'close': {
        const a = appeal(m.case);
        a.close = m;
        a.state = 'closed';
        break;
    }
    default:
        return;
    }
    scheduleRender();
}

let renderQueued = false;
function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
        renderQueued = false;
        renderApprovals();
        renderAppeals();
        renderTipsDesk();
        renderBoard();
    });
}

function followCase(id) {
    appeal(id).mine = true;
    conn.follow(`case:${id}`, { context: DESK_CONTEXT, onMessage: (f) => applyMessage(f.msg || {}, f.channel), onStatus: statusHandler(`case:${id}`) });
}

// ---- delivery states ------------------------------------------------------------------

// The officer's own appeals: deliveries per channel and state (SMS, chat,
// groups) from GET /api/v1/cases/{id}, polled while the console is open.
const DELIVERY_POLL_MS = 5000;
async function pollDeliveries() {
    if (!ui.session) return;
    let changed = false;
    for (const a of ui.appeals.values()) {
        if (!a.mine || (a.close && a.deliveriesFinal)) continue;
        try {
            const d = await api.getCase(ui.session.token, a.case);
            const next = d.deliveries?.total || null;
            if (JSON.stringify(next) !== JSON.stringify(a.deliveries)) changed = true;
            a.deliveries = next;
            a.deliveriesFinal = !!a.close && !!next && Object.values(next).every((per) => !per.queued);
        } catch { /* shown again on the next poll */ }
    }
    if (changed) scheduleRender();
}
setInterval(pollDeliveries, DELIVERY_POLL_MS);

// ---- approvals ----------------------------------------------------------------------

// The whole appeal (text, area, author) for the officer who must approve it.
function caseDetails(id) {
    if (ui.details.has(id) || !ui.session) return ui.details.get(id);
    ui.details.set(id, null);
    api.getCase(ui.session.token, id).then((d) => {
        ui.details.set(id, d);
        scheduleRender();
    }, () => {});
    return null;
}

function renderApprovals() {
    const list = [...ui.appeals.values()].filter((a) => a.approval && !a.approved && !a.close);
    const police = ui.session?.user?.role === 'police';
    for (const a of list) {
        const d = caseDetails(a.case);
        if (!d) continue;
        const ev = (d.events || []).find((e) => e.kind === 'alert');
        if (ev && ev.msg && typeof ev.msg === 'object' && !a.alert) a.alert = ev.msg;
        if (d.case?.buurten) a.buurten = d.case.buurten.split(',');
        if (d.case?.owner && d.case.owner === ui.session?.user?.id) a.mine = true;
    }
    rerender($('#approvals'), list.map((a) => {
        const result = h('p', { role: 'status', class: 'result' }, ui.notes.get(`approve:${a.case}`) || '');
        const btn = h('button', { type: 'button', class: 'danger', onclick: async () => {
            btn.disabled = true;
            const r = await conn.post({ kind: 'approve', case: a.case }, newId('approve'));
            if (r.type === 'ack') {
                ui.notes.set(`appeal:${a.case}`, t('approvals.done'));
                a.approved = true;
                a.state = r.state || 'active';
                scheduleRender();
            } else {
                btn.disabled = false;
                result.className = 'error';
                result.textContent = t('error.generic', { message: errorText(r) });
            }
        } }, t('approvals.approve'));
        return h('li', { class: 'approval', dataset: { case: a.case } },
            h('p', { class: 'badges' }, h('span', { class: 'badge badge-urgent' }, t(`severity.${a.approval.severity}`))),
            h('h3', {}, a.approval.title || a.alert?.title || a.case),
            a.alert?.body ? h('p', {}, a.alert.body) : null,
            a.alert?.instruction ? h('p', { class: 'instruction' }, h('strong', {}, `${t('alert.instruction')}: `), a.alert.instruction) : null,
            a.alert ? h('p', { class: 'meta' }, capLine(a.alert)) : null,
            a.buurten ? h('p', { class: 'meta' }, `${t('compose.area')}: ${a.buurten.map((c) => ui.map?.buurt(c)?.name || c).join(', ')}`) : null,
            h('p', { class: 'meta' }, `${fmtTime(a.approval.sent)} · ${t('alert.case', { case: a.case })}`),
            a.mine ? h('p', { class: 'muted' }, t('approvals.own')) : police ? btn : null,
            result);
    }));
    show($('#approvals-none'), list.length === 0);
}

// ---- my appeals -------------------------------------------------------------------------

function selectOf(id, values, label, current) {
    const sel = h('select', { id }, values.map((v) => h('option', { value: v }, label(v))));
    if (current) sel.value = current;
    return sel;
}

function appealItem(a) {
    const msg = a.alert || {};
    const closed = !!a.close;
    const id = a.case;
    const li = h('li', { class: `appeal-item ${closed ? 'closedcase' : ''}`, dataset: { case: id, state: a.state || '' } });
    li.append(
        h('p', { class: 'badges' },
            !closed && isUrgent(msg) ? h('span', { class: 'badge badge-urgent' }, t('alert.urgent')) : null,
            h('span', { class: `badge state state-${a.state}` }, t(`state.${a.state || 'active'}`))),
        h('h3', {}, msg.title || id),
        msg.body ? h('p', {}, msg.body) : null,
        h('p', { class: 'meta' }, `${capLine(msg)} · ${fmtTime(msg.sent)} · ${t('alert.case', { case: id })}`));
    for (const u of a.updates) li.append(h('p', { class: 'update' }, h('strong', {}, `${t('alert.updated')} (${fmtTime(u.sent)}): `), u.body));
    if (closed) li.append(h('p', { class: 'outcome' }, h('strong', {}, `${t(`outcome.${a.close.outcome}`)}: `), a.close.body));

    // Delivery: what the protocol tells (the ack's published list) and,
    // per off-app channel, how many deliveries are in which state.
    if (a.published.length || a.reach || a.deliveries) {
        const d = h('div', { class: 'delivery' }, h('strong', {}, `${t('appeals.delivery')}: `),
            t('appeals.delivery.ws', { n: a.published.length }));
        if (a.reach) d.append(' ', t('compose.reach.sum', a.reach));
        if (a.published.length) {
            d.append(h('ul', {}, a.published.map((p) => h('li', { dataset: { channel: p.channel } },
                `${p.channel.startsWith('buurt:') ? (ui.map?.buurt(p.channel.slice(6))?.name || p.channel) : p.channel} — #${p.seq}`))));
        }
        if (a.deliveries && Object.keys(a.deliveries).length) {
            const states = ['queued', 'sent', 'delivered', 'read', 'failed'];
            d.append(h('table', { class: 'dlv' },
                h('thead', {}, h('tr', {}, h('th', {}, t('appeals.delivery.channel')), states.map((st) => h('th', {}, t(`dlv.${st}`))))),
                h('tbody', {}, Object.entries(a.deliveries).sort().map(([ch, per]) => h('tr', { dataset: { channel: ch } },
                    h('td', {}, ch), states.map((st) => h('td', { dataset: { state: st } }, String(per[st] || 0))))))));
        }
        li.append(d);
    }

    // Tips.
    li.append(h('h4', {}, t('appeals.tips', { n: a.tips.length })));
    li.append(a.tips.length
        ? h('ol', { class: 'tips', 'aria-live': 'polite' }, a.tips.map((tip) => h('li', { class: 'tip-item' },
            h('span', { class: 'meta' }, `${fmtTime(tip.sent)} · ${tip.anonymous ? t('appeals.tip.anon') : t('appeals.tip.from', { who: tip.tipper || tip.from?.role })}: `),
            tip.body)))
        : h('p', { class: 'muted' }, t('appeals.notips')));

    const note = ui.notes.get(`appeal:${id}`);
    const result = h('p', { role: 'status', class: 'result ok' }, note || '');
    if (!closed && a.state !== 'pending_approval') {
        // Update / widen.
        const body = draft(h('textarea', { id: `up-${id}-body`, rows: 2, maxlength: 2000 }), `up-${id}-body`);
        const widen = draft(h('input', { type: 'checkbox', id: `up-${id}-widen` }), `up-${id}-widen`);
        const upForm = h('form', { class: 'update-form', id: `up-${id}` },
            h('label', { for: `up-${id}-body` }, t('appeals.update.body')), body,
            h('label', { class: 'check' }, widen, ` ${t('appeals.update.widen')}`),
            h('button', { type: 'submit' }, t('appeals.update.send')));
        upForm.addEventListener('submit', async (e) => {
            e.preventDefault();
            const text = body.value.trim();
            if (!text) {
                body.focus();
                return;
            }
            const post = { kind: 'update', case: id, body: text };
            if (widen.checked) {
                const area = currentArea();
                if (!area) {
                    result.className = 'result error';
                    result.textContent = t('compose.needarea');
                    return;
                }
                post.area = area;
            }
            upForm.querySelector('button').disabled = true;
            const r = await conn.post(post, newId('update'));
            upForm.querySelector('button').disabled = false;
            if (r.type === 'ack') {
                ui.forms.delete(`up-${id}-body`);
                ui.forms.delete(`up-${id}-widen`);
                mergePublished(a, r.published);
                ui.notes.set(`appeal:${id}`, t('appeals.updated'));
                scheduleRender();
            } else {
                result.className = 'result error';
                result.textContent = t('error.generic', { message: errorText(r) });
            }
        });
        li.append(h('details', { open: ui.forms.has(`open-up-${id}`) || undefined, ontoggle: (e) => toggleOpen(`open-up-${id}`, e) },
            h('summary', {}, t('appeals.update')), upForm));
    }
    if (!closed) {
        // Close with outcome.
        const outcome = draft(selectOf(`cl-${id}-outcome`, OUTCOMES, (v) => t(`outcome.${v}`), 'found'), `cl-${id}-outcome`);
        const body = draft(h('textarea', { id: `cl-${id}-body`, rows: 2, maxlength: 2000 }), `cl-${id}-body`);
        if (!ui.forms.has(`cl-${id}-body`)) body.value = t('appeals.close.body.default');
        const clForm = h('form', { class: 'close-form', id: `cl-${id}` },
            h('label', { for: `cl-${id}-outcome` }, t('appeals.close.outcome')), outcome,
            h('label', { for: `cl-${id}-body` }, t('appeals.close.body')), body,
            h('button', { type: 'submit', class: 'danger' }, t('appeals.close.send')));
        clForm.addEventListener('submit', async (e) => {
            e.preventDefault();
            const text = body.value.trim();
            if (!text) {
                body.focus();
                return;
            }
            clForm.querySelector('button').disabled = true;
            const r = await conn.post({ kind: 'close', case: id, outcome: outcome.value, body: text }, newId('close'));
            clForm.querySelector('button').disabled = false;
            if (r.type === 'ack') {
                a.state = 'closed';
                a.close = a.close || { outcome: outcome.value, body: text, sent: new Date().toISOString() };
                mergePublished(a, r.published);
                ui.notes.set(`appeal:${id}`, t('appeals.closed'));
                scheduleRender();
            } else {
                result.className = 'result error';
                result.textContent = t('error.generic', { message: errorText(r) });
            }
        });
        li.append(h('details', { open: ui.forms.has(`open-cl-${id}`) || undefined, ontoggle: (e) => toggleOpen(`open-cl-${id}`, e) },
            h('summary', {}, t('appeals.close')), clForm));
    }
    li.append(result);
    return li;
}

function toggleOpen(key, e) {
    if (e.target.open) ui.forms.set(key, true);
    else ui.forms.delete(key);
}

function mergePublished(a, list = []) {
    for (const p of list) if (!a.published.some((q) => q.channel === p.channel && q.seq === p.seq)) a.published.push(p);
}

function renderAppeals() {
    const list = [...ui.appeals.values()].filter((a) => a.mine).sort((x, y) => (!!x.close - !!y.close) || String(y.alert?.sent || '').localeCompare(String(x.alert?.sent || '')));
    rerender($('#appeals'), list.map(appealItem));
    show($('#appeals-none'), list.length === 0);
}

// Tips on appeals of colleagues (own appeals show theirs inline).
function renderTipsDesk() {
    const list = [...ui.appeals.values()].filter((a) => !a.mine && a.tips.length);
    rerender($('#tipsdesk'), list.map((a) => h('li', { dataset: { case: a.case } },
        h('h3', {}, a.approval?.title || a.alert?.title || t('alert.case', { case: a.case }),
            a.close ? h('span', { class: 'badge badge-closed' }, ` ${t('alert.closed')}`) : null),
        h('ol', { class: 'tips' }, a.tips.map((tip) => h('li', {},
            h('span', { class: 'meta' }, `${fmtTime(tip.sent)} · ${tip.anonymous ? t('appeals.tip.anon') : t('appeals.tip.from', { who: tip.tipper || '' })}: `),
            tip.body))))));
    show($('#tipsdesk-section'), list.length > 0);
}

// ---- case board ---------------------------------------------------------------------

function statusForm(r) {
    const id = `st-${r.case}`;
    const targets = STATES.filter((s) => s !== r.state);
    const state = draft(selectOf(`${id}-state`, targets, (v) => t(`state.${v}`), r.state === 'new' || r.state === 'reopened' ? 'acknowledged' : 'in_progress'), `${id}-state`);
    if (![...state.options].some((o) => o.value === state.value)) state.value = targets[0];
    const note = draft(h('textarea', { id: `${id}-note`, rows: 2, maxlength: 2000, required: true }), `${id}-note`);
    const result = h('p', { role: 'status', class: 'result' }, ui.notes.get(`report:${r.case}`) || '');
    const form = h('form', { class: 'status-form', id },
        h('div', { class: 'row' },
            h('div', { class: 'field' }, h('label', { for: `${id}-state` }, t('board.status')), state),
            h('div', { class: 'field' }, h('label', { for: `${id}-note` }, t('board.note')), note)),
        h('button', { type: 'submit' }, t('board.change')),
        result);
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const text = note.value.trim();
        if (!text) {
            note.focus();
            return;
        }
        form.querySelector('button').disabled = true;
        const res = await conn.post({ kind: 'status', case: r.case, state: state.value, note: text }, newId('status'));
        form.querySelector('button').disabled = false;
        if (res.type === 'ack') {
            ui.forms.delete(`${id}-note`);
            ui.forms.delete(`${id}-state`);
            ui.notes.set(`report:${r.case}`, t('board.changed'));
            if (res.state) r.state = res.state;
            scheduleRender();
        } else {
            result.className = 'result error';
            result.textContent = t('error.generic', { message: errorText(res) });
        }
    });
    return form;
}

function reportItem(r) {
    const m = r.report || {};
    const closed = CLOSED.has(r.state);
    const category = m.category || r.category;
    const li = h('li', { class: `report-item ${r.overdue && !closed ? 'overdue' : ''} ${closed ? 'closedcase' : ''}`, dataset: { case: r.case, state: r.state } },
        h('p', { class: 'badges' },
            h('span', { class: `badge state state-${r.state}` }, t(`state.${r.state}`)),
            r.overdue ? h('span', { class: 'badge badge-overdue' }, closed ? t('board.escalated') : t('board.overdue')) : null,
            m.called_112 ? h('span', { class: 'badge' }, t('board.called112')) : null),
        h('h4', {}, `${category ? t(`cat.${category}`) : ''} — ${r.buurt ? (ui.map?.buurt(r.buurt)?.name || r.buurt) : ''}`),
        m.body ? h('p', { class: 'body' }, m.body) : null,
        h('p', { class: 'meta' }, [
            fmtTime(m.sent),
            m.when ? t('board.when', { when: fmtTime(m.when) }) : null,
            m.anonymous ? t('board.anonymous') : m.reporter ? `${t('role.resident')} ${m.reporter}` : null,
            t('alert.case', { case: r.case }),
        ].filter(Boolean).join(' · ')));
    for (const c of r.comments) li.append(h('p', { class: 'comment' }, t('board.comment', { body: c.body })));
    if (r.history.length) {
        li.append(h('ol', { class: 'steps' }, r.history.map((s) => h('li', {},
            h('span', { class: 'when' }, fmtTime(s.sent)), ' ',
            s.kind === 'status' ? h('span', {}, h('strong', {}, t(`state.${s.state}`)), s.note ? ` — ${s.note}` : '')
                : s.kind === 'feedback' ? h('strong', {}, t(s.satisfied ? 'board.feedback.yes' : 'board.feedback.no'), s.comment ? ` ${s.comment}` : '')
                    : h('strong', {}, t('board.escalated'))))));
    }
    if (!closed) li.append(statusForm(r));
    else if (ui.notes.get(`report:${r.case}`)) li.append(h('p', { class: 'result ok', role: 'status' }, ui.notes.get(`report:${r.case}`)));
    return li;
}

function renderBoard() {
    const box = $('#board');
    const onlyOpen = $('#board-open').checked;
    const desks = new Set(ui.desks.filter((d) => /^desk:WK/.test(d)).map((d) => d.slice(5)));
    const gm = ui.desks.some((d) => /^desk:GM/.test(d));
    const groups = new Map();
    for (const r of ui.reports.values()) {
        if (!r.buurt) continue;
        if (onlyOpen && CLOSED.has(r.state)) continue;
        const w = wijkOf(r.buurt);
        if (!desks.has(w) && !(gm && r.overdue)) continue;
        if (!groups.has(w)) groups.set(w, []);
        groups.get(w).push(r);
    }
    const nodes = [...groups].sort((a, b) => a[0].localeCompare(b[0])).map(([w, list]) => {
        list.sort((a, b) => (b.overdue - a.overdue) || String(b.report?.sent || '').localeCompare(String(a.report?.sent || '')));
        return h('section', { class: 'wijk', dataset: { wijk: w }, 'aria-label': wijkName(w) },
            h('h3', {}, `${wijkName(w)} (${w})`),
            h('ul', { class: 'queue' }, list.map(reportItem)));
    });
    rerender(box, nodes);
    const none = $('#board-none');
    if (!ui.desks.length) {
        none.textContent = t('board.nodesks');
        show(none, true);
    } else {
        none.textContent = t('board.none');
        show(none, nodes.length === 0);
    }
}

// ---- compose -----------------------------------------------------------------------

function fillSelects({ reset = false } = {}) {
    const fill = (sel, values, prefix, def) => {
        const cur = (!reset && sel.value) || def;
        sel.replaceChildren(...values.map((v) => h('option', { value: v }, `${t(`${prefix}.${v}`)} (${v})`)));
        sel.value = cur;
    };
    fill($('#c-urgency'), URGENCY, 'urgency', 'Immediate');
    fill($('#c-severity'), SEVERITY, 'severity', 'Moderate');
    fill($('#c-certainty'), CERTAINTY, 'certainty', 'Likely');
}

function syncConsent() {
    const missing = $('#c-event').value === 'vermissing';
    show($('#c-consent-wrap'), missing);
    $('#c-consent').required = missing;
}
$('#c-event').addEventListener('change', syncConsent);

function currentArea() {
    const a = ui.area;
    if (a.mode === 'buurten' && a.buurten.size) return { buurten: [...a.buurten] };
    if (a.mode === 'circle' && a.circle) {
        return { circle: { lat: round(a.circle.lat), lon: round(a.circle.lon), radius_m: a.circle.radius_m } };
    }
    if (a.mode === 'polygon' && a.polygon.length >= 3) return { polygon: a.polygon.map(([la, lo]) => [round(la), round(lo)]) };
    return null;
}

function round(v) {
    return Math.round(v * 1e6) / 1e6;
}

function setMode(mode) {
    ui.area.mode = mode;
    $('#c-hint').textContent = t(`compose.hint.${mode}`);
    show($('#c-circle-tools'), mode === 'circle');
    show($('#c-polygon-tools'), mode === 'polygon');
    drawArea();
    areaChanged();
}

for (const r of document.querySelectorAll('input[name=mode]')) {
    r.addEventListener('change', () => r.checked && setMode(r.value));
}

function radiusLabel() {
    $('#c-radius-label').textContent = t('compose.radius', { m: $('#c-radius').value });
}

$('#c-radius').addEventListener('input', () => {
    radiusLabel();
    if (ui.area.circle) {
        ui.area.circle.radius_m = Number($('#c-radius').value);
        drawArea();
        areaChanged();
    }
});

$('#c-undo').addEventListener('click', () => {
    ui.area.polygon.pop();
    drawArea();
    areaChanged();
});

$('#c-poly-clear').addEventListener('click', () => {
    ui.area.polygon = [];
    drawArea();
    areaChanged();
});

$('#c-clear').addEventListener('click', () => {
    ui.area.buurten.clear();
    ui.area.circle = null;
    ui.area.polygon = [];
    drawArea();
    areaChanged();
});

function onMapActivate({ code, lat, lon }) {
    const a = ui.area;
    if (a.mode === 'buurten') {
        if (!code) return;
        if (a.buurten.has(code)) a.buurten.delete(code);
        else a.buurten.add(code);
    } else if (a.mode === 'circle') {
        a.circle = { lat, lon, radius_m: Number($('#c-radius').value) };
    } else {
        a.polygon.push([lat, lon]);
    }
    drawArea();
    areaChanged();
}

function drawArea() {
    if (!ui.map) return;
    const a = ui.area;
    ui.map.setClassSet('selected', a.mode === 'buurten' ? [...a.buurten] : []);
    ui.map.setCircle(a.mode === 'circle' ? a.circle : null);
    ui.map.setPolygon(a.mode === 'polygon' ? a.polygon : null);
}

function areaChanged() {
    clearTimeout(ui.reachTimer);
    const area = currentArea();
    const seq = ++ui.reachSeq;
    ui.reach = null;
    const sum = $('#reach-sum');
    if (!area) {
        sum.textContent = t('compose.reach.none');
        $('#reach').dataset.buurten = '0';
        show($('#reach-table'), false);
        ui.map?.setClassSet('reached', []);
        return;
    }
    sum.textContent = t('compose.reach.busy');
    delete $('#reach').dataset.buurten;
    ui.reachTimer = setTimeout(async () => {
        try {
            const r = await api.resolve(area);
            if (seq !== ui.reachSeq) return;
            renderReach(r);
        } catch (err) {
            if (seq !== ui.reachSeq) return;
            sum.textContent = t('compose.reach.failed', { message: err.message });
        }
    }, 200);
}

function renderReach(r) {
    const list = r.buurten || [];
    const tot = { n: list.length, ws: 0, sms: 0, chat: 0 };
    for (const b of list) {
        tot.ws += b.residents?.ws || 0;
        tot.sms += b.residents?.sms || 0;
        tot.chat += b.residents?.chat || 0;
    }
    ui.reach = tot;
    $('#reach-sum').textContent = t('compose.reach.sum', tot);
    $('#reach').dataset.buurten = String(list.length);
    $('#reach').dataset.residents = String(tot.ws + tot.sms + tot.chat);
    $('#reach-table tbody').replaceChildren(...list.map((b) => h('tr', { dataset: { code: b.code } },
        h('td', {}, `${b.name} (${b.code})`),
        h('td', {}, b.wijknaam || b.wijk),
        h('td', { class: 'num' }, String(b.residents?.ws ?? 0)),
        h('td', { class: 'num' }, String(b.residents?.sms ?? 0)),
        h('td', { class: 'num' }, String(b.residents?.chat ?? 0)))));
    show($('#reach-table'), list.length > 0);
    ui.map?.setClassSet('reached', ui.area.mode === 'buurten' ? [] : list.map((b) => b.code));
}

function buildAlert() {
    const title = $('#c-title').value.trim();
    const body = $('#c-body').value.trim();
    if (!title) return { error: $('#c-title') };
    if (!body) return { error: $('#c-body') };
    const area = currentArea();
    if (!area) return { error: $('#c-map'), message: t('compose.needarea') };
    const post = {
        kind: 'alert', area, title, body,
        event: $('#c-event').value,
        urgency: $('#c-urgency').value,
        severity: $('#c-severity').value,
        certainty: $('#c-certainty').value,
    };
    const instruction = $('#c-instruction').value.trim();
    if (instruction) post.instruction = instruction;
    if (post.event === 'vermissing') {
        if (!$('#c-consent').checked) return { error: $('#c-consent') };
        post.consent = true;
    }
    return { post };
}

async function sendAlert(post) {
    const out = $('#compose-result');
    const btn = $('#c-send');
    const reach = ui.reach;
    btn.disabled = true;
    out.className = '';
    out.textContent = t('report.busy');
    show($('#compose-check'), false);
    const r = await conn.post(post, newId('appeal'));
    btn.disabled = false;
    if (r.type === 'ack') {
        ui.pendingAlert = null;
        const mine = loadLocal(userKey('appeals'), []);
        if (!mine.includes(r.case)) mine.push(r.case);
        saveLocal(userKey('appeals'), mine);
        const a = appeal(r.case);
        a.mine = true;
        a.state = a.state || r.state;
        a.reach = reach;
        if (!a.alert) a.alert = { kind: 'alert', case: r.case, ...post, sent: new Date().toISOString() };
        mergePublished(a, r.published);
        followCase(r.case);
        out.className = 'ok';
        out.textContent = t(r.state === 'pending_approval' ? 'compose.pending' : 'compose.sent', { case: r.case });
        $('#compose-form').reset();
        fillSelects({ reset: true });
        syncConsent();
        $('#c-instruction').value = t('compose.instruction.default');
        ui.area.buurten.clear();
        ui.area.circle = null;
        ui.area.polygon = [];
        setMode('buurten');
        scheduleRender();
        return;
    }
    if (r.code === 'conflict' && r.reason === 'description_check') {
        ui.pendingAlert = post;
        out.textContent = '';
        $('#compose-flags').replaceChildren(flagList(r));
        show($('#compose-check'), true);
        $('#compose-confirm').focus();
        return;
    }
    out.className = 'error';
    out.textContent = t('compose.failed', { message: errorText(r) });
}

$('#compose-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const { post, error, message } = buildAlert();
    if (error) {
        const out = $('#compose-result');
        out.className = 'error';
        out.textContent = message || '';
        error.focus?.();
        return;
    }
    sendAlert(post);
});

$('#compose-confirm').addEventListener('click', () => {
    if (ui.pendingAlert) sendAlert({ ...ui.pendingAlert, confirm: true });
});

$('#compose-edit').addEventListener('click', () => {
    show($('#compose-check'), false);
    ui.pendingAlert = null;
    $('#c-body').focus();
});

// ---- page ------------------------------------------------------------------------------

function renderAll() {
    const officer = !!ui.session && isOfficer();
    document.body.dataset.role = officer ? ui.session.user.role : '';
    show($('#login-section'), !officer);
    for (const id of ['#desks-section', '#compose-section', '#side', '#board-section']) show($(id), officer);
    show($('#logout'), officer);
    $('#who').textContent = officer ? t('login.as', { login: ui.session.login, role: t(`role.${ui.session.user.role}`) }) : '';
    renderDesks();
    renderApprovals();
    renderAppeals();
    renderTipsDesk();
    renderBoard();
}

async function loadMap() {
    try {
        const geo = await api.areas();
        ui.geo = geo;
        const first = geo.features?.[0]?.properties || {};
        ui.map = new AreaMap($('#c-map'), geo, {
            label: t('map.label', { gemeente: first.gemeentenaam || '' }),
            onActivate: onMapActivate,
        });
        ui.map.setPressedClass('selected');
        drawArea();
        renderAll();
    } catch {
        $('#c-map').replaceChildren(h('p', { class: 'error' }, t('map.failed')));
    }
}

$('#board-open').addEventListener('change', renderBoard);

installLangSwitch($('#lang'));
onLangChange(() => {
    $('#lang').setAttribute('lang', document.documentElement.lang === 'nl' ? 'en' : 'nl');
    conn.dispatchEvent(new CustomEvent('state', { detail: conn.state }));
    fillSelects();
    radiusLabel();
    setMode(ui.area.mode);
    renderAll();
});
$('#lang').setAttribute('lang', document.documentElement.lang === 'nl' ? 'en' : 'nl');
fillSelects();
syncConsent();
radiusLabel();
$('#c-instruction').value = t('compose.instruction.default');
setMode('buurten');
renderAll();
if (ui.session && isOfficer()) conn.token = ui.session.token;
conn.start();
loadMap();
