// messages.js - shared rendering of appeal (alert) cards, used by the
// resident page and the console.

import { h } from './dom.js';
import { t, fmtTime } from './i18n.js';

export function isUrgent(msg) {
    return msg.urgency === 'Immediate' || msg.severity === 'Extreme' || msg.severity === 'Severe';
}

// A flag list from a description_check error, as readable sentences.
export function flagList(err) {
    const flags = Array.isArray(err.flags) ? err.flags : [];
    const items = flags.map((f) => h('li', { dataset: { flag: f } }, t(`flag.${f}`) === `flag.${f}` ? f : t(`flag.${f}`)));
    if (!items.length && err.message) items.push(h('li', {}, err.message));
    return h('ul', { class: 'flags' }, items);
}

// Error text for a post error frame.
export function errorText(err) {
    if (!err) return '';
    if (err.code === 'rate_limited') return t('error.rate');
    return err.message || err.code || '';
}

export function capLine(msg) {
    const parts = [];
    if (msg.urgency) parts.push(`${t('compose.urgency')}: ${t(`urgency.${msg.urgency}`)}`);
    if (msg.severity) parts.push(`${t('compose.severity')}: ${t(`severity.${msg.severity}`)}`);
    if (msg.certainty) parts.push(`${t('compose.certainty')}: ${t(`certainty.${msg.certainty}`)}`);
    return parts.join(' · ');
}

// An appeal card for case state {case, alert, updates: [], close, seenOnly, missed, fresh}.
export function appealCard(a, { tipForm = null } = {}) {
    const msg = a.alert || {};
    const closed = !!a.close;
    const urgent = !closed && isUrgent(msg);
    const classes = ['appeal'];
    if (urgent) classes.push('urgent');
    if (closed) classes.push('closed');
    const badges = h('p', { class: 'badges' },
        urgent ? h('span', { class: 'badge badge-urgent' }, t('alert.urgent')) : null,
        closed ? h('span', { class: 'badge badge-closed' }, t('alert.closed'))
            : h('span', { class: 'badge badge-active' }, t('alert.active')),
        a.missed ? h('span', { class: 'badge badge-missed' }, t('alert.missedmark')) : null,
        a.fresh && !a.missed ? h('span', { class: 'badge badge-new' }, t('alert.new')) : null);
    const title = msg.title || (closed ? t(`outcome.${a.close.outcome}`) : t('alert.case', { case: a.case }));
    const card = h('article', { class: classes.join(' '), dataset: { case: a.case }, 'aria-label': title },
        badges,
        h('h3', { class: 'appeal-title' }, title));
    if (closed) {
        card.append(h('p', { class: 'outcome' }, h('strong', {}, `${t(`outcome.${a.close.outcome}`)}: `), a.close.body || ''));
        if (a.close.instruction) card.append(h('p', { class: 'instruction' }, a.close.instruction));
        if (msg.body) card.append(h('p', { class: 'removed' }, t('alert.removed')));
    } else {
        if (msg.body) card.append(h('p', { class: 'body' }, msg.body));
        if (msg.update) card.append(h('p', { class: 'update' }, h('strong', {}, `${t('alert.updated')}: `), msg.update));
        for (const u of a.updates || []) {
            card.append(h('p', { class: 'update' }, h('strong', {}, `${t('alert.updated')} (${fmtTime(u.sent)}): `), u.body));
        }
        if (msg.instruction) card.append(h('p', { class: 'instruction' }, h('strong', {}, `${t('alert.instruction')}: `), msg.instruction));
        const cap = capLine(msg);
        if (cap) card.append(h('p', { class: 'meta' }, cap));
    }
    card.append(h('p', { class: 'meta' },
        t('alert.sent', { time: fmtTime((a.close && a.close.sent) || msg.sent) }), ' · ', t('alert.case', { case: a.case })));
    if (!closed && tipForm) card.append(tipForm);
    return card;
}
