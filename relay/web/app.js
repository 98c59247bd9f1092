/* buurtrelay demo page: follows one buurt channel over protocol v1,
 * resuming with "since" after a reconnect. Talks only the public protocol. */
'use strict';

const state = { ws: null, channel: null, epoch: null, seq: 0, token: null,
                retry: 500 };
const $ = (id) => document.getElementById(id);

function setStatus(text) { $('status').textContent = text; }

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN)
    state.ws.send(JSON.stringify(frame));
}

function subscribe() {
  if (!state.channel) return;
  const frame = { type: 'subscribe', channel: state.channel };
  if (state.epoch) frame.since = { epoch: state.epoch, seq: state.seq };
  send(frame);
}

function show(m) {
  const li = document.createElement('li');
  const msg = m.msg || {};
  if (msg.urgency === 'Immediate' || msg.severity === 'Extreme' ||
      msg.severity === 'Severe') li.className = 'urgent';
  const title = document.createElement('strong');
  title.textContent = msg.title || msg.category || msg.kind || 'Bericht';
  const body = document.createElement('p');
  body.textContent = msg.body || '';
  const meta = document.createElement('p');
  meta.className = 'meta';
  meta.textContent = `${msg.sent || ''} · ${m.channel} #${m.seq}`;
  li.append(title, body, meta);
  $('messages').prepend(li);
}

function connect() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const ws = new WebSocket(url, 'buurtrelay.v1');
  state.ws = ws;
  ws.onopen = () => {
    state.retry = 500;
    setStatus('Verbonden.');
    if (state.token) send({ type: 'auth', token: state.token, ref: 'auth' });
    subscribe();
  };
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.type === 'subscribed') {
      if (f.recovered === false)
        setStatus('Let op: u heeft mogelijk berichten gemist.');
      else setStatus(`Volgt ${f.channel}.`);
      if (!state.epoch || f.recovered === false) state.seq = f.seq;
      state.epoch = f.epoch;
    } else if (f.type === 'message' && f.channel === state.channel) {
      if (f.seq > state.seq + 1 && state.epoch === f.epoch) {
        subscribe(); /* gap: resume from what we have */
        return;
      }
      if (f.seq <= state.seq && state.epoch === f.epoch) return;
      state.seq = f.seq;
      state.epoch = f.epoch;
      show(f);
    } else if (f.type === 'welcome') {
      $('who').textContent = `Ingelogd als ${f.user.role}.`;
    } else if (f.type === 'error') {
      setStatus(`Fout: ${f.message}`);
    }
  };
  ws.onclose = () => {
    setStatus('Verbinding verbroken; opnieuw verbinden…');
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 10000);
  };
}

$('sub-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const code = $('buurt').value.trim().toUpperCase();
  if (state.channel && state.channel !== `buurt:${code}`)
    send({ type: 'unsubscribe', channel: state.channel });
  state.channel = `buurt:${code}`;
  state.epoch = null;
  state.seq = 0;
  $('messages').textContent = '';
  subscribe();
});

$('auth-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.token = $('token').value.trim();
  send({ type: 'auth', token: state.token, ref: 'auth' });
});

connect();
