// api.js - the relay's REST endpoints (relay/PROTOCOL.md, "HTTP on the
// same port").

async function json(res) {
    const text = await res.text();
    try {
        return JSON.parse(text);
    } catch {
        return { error: text };
    }
}

// {token, expires, user: {id, role}} or throws an Error with .status.
export async function login(loginName, password) {
    const res = await fetch('/api/v1/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ login: loginName, password }),
    });
    const body = await json(res);
    if (!res.ok) {
        const e = new Error(body.message || `HTTP ${res.status}`);
        e.status = res.status;
        throw e;
    }
    return body;
}

// Revokes the token (best effort: the page forgets it either way).
export async function logout(token) {
    try {
        await fetch('/api/v1/session', { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    } catch {
        /* offline: the token still expires */
    }
}

// GET /api/v1/cases/{id}: {case: {...}, events: [{kind, by?, msg}]}.
export async function getCase(token, id) {
    const res = await fetch(`/api/v1/cases/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await json(res);
    if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
    return body;
}

let areasPromise = null;
// The buurten as GeoJSON (fetched once per page).
export function areas() {
    if (!areasPromise) {
        areasPromise = fetch('/api/v1/areas').then(async (res) => {
            if (!res.ok) throw new Error(`HTTP ${res.status}`);
            return res.json();
        });
        areasPromise.catch(() => { areasPromise = null; });
    }
    return areasPromise;
}

// {buurt, wijk, gemeente, name, wijknaam, gemeentenaam} or null (unknown).
export async function postcode(pc6, number) {
    const res = await fetch(`/api/v1/postcode/${encodeURIComponent(pc6)}/${encodeURIComponent(number)}`);
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.json();
}

// {buurten: [{code, name, wijk, wijknaam, gemeente, residents: {ws, sms, chat}}]}
export async function resolve(area) {
    const res = await fetch('/api/v1/areas/resolve', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ area }),
    });
    const body = await json(res);
    if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
    return body;
}

// "9401 ab" -> "9401AB", or null.
export function normalPostcode(s) {
    const m = /^\s*([1-9][0-9]{3})\s*([A-Za-z]{2})\s*$/.exec(s || '');
    return m ? `${m[1]}${m[2].toUpperCase()}` : null;
}
