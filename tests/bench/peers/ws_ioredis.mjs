// ws_ioredis.mjs PORT REDIS_URL - the relay a developer would write by hand:
// plain `ws` + Redis pub/sub, speaking buurtrelay.v1's subscribe / post /
// message / ack frames (relay/PROTOCOL.md), for the benchmark suite
// (tests/bench/suite.mjs). Run two of them on one Redis for two nodes.
//
// The issue asks for ioredis; tests/package.json pins only node-redis
// (`redis` 6), so this uses that client: same design (one publishing
// connection, one subscriber connection per process, SUBSCRIBE only to
// channels with a local subscriber), no extra dependency.
//
// What it does per frame:
//   subscribe {channel}     -> local room join; SUBSCRIBE on first member;
//                              'subscribed' {channel, epoch, seq: 0}
//   post {id, post}         -> for each area.buurten code: PUBLISH to
//                              buurt:<code> the message frame text;
//                              'ack' {id, published} once Redis answered
//   ping                    -> pong
// Redis message            -> the same text to every local member.
// What it does NOT do (the relay does): authentication, validation of
// posts, history / replay, sequence numbers per channel, idempotency,
// per-client send queue limits. Prints "ready" once listening.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { createClient } from 'redis';

const [port, redisUrl] = process.argv.slice(2);
const pub = createClient({ url: redisUrl });
const sub = pub.duplicate();
// As ioredis does by default: a lost Redis connection is logged and
// reconnected (node-redis resubscribes), not a crash of the process.
for (const c of [pub, sub]) c.on('error', (e) => console.error(`redis: ${e.message}`));
await Promise.all([pub.connect(), sub.connect()]);

const rooms = new Map(); // channel -> Set of sockets
const epoch = `e${process.pid}`;

function onRedis(text, channel) {
    const members = rooms.get(channel);
    if (!members) return;
    for (const ws of members) if (ws.readyState === 1) ws.send(text);
}

async function join(ws, channel) {
    let members = rooms.get(channel);
    if (!members) {
        members = new Set();
        rooms.set(channel, members);
        await sub.subscribe(channel, onRedis);
    }
    members.add(ws);
    ws.channels.add(channel);
}

function leave(ws) {
    for (const ch of ws.channels) {
        const members = rooms.get(ch);
        if (!members) continue;
        members.delete(ws);
        if (!members.size) {
            rooms.delete(ch);
            sub.unsubscribe(ch).catch(() => {});
        }
    }
}

const http = createServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 404).end();
});
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
    ws.channels = new Set();
    ws.on('message', async (data) => {
        let f;
        try {
            f = JSON.parse(data);
        } catch {
            ws.send(JSON.stringify({ type: 'error', code: 'bad_request', message: 'not JSON' }));
            return;
        }
        if (f.type === 'subscribe' && typeof f.channel === 'string') {
            await join(ws, f.channel);
            ws.send(JSON.stringify({ type: 'subscribed', channel: f.channel, epoch, seq: 0, ref: f.ref }));
        } else if (f.type === 'post' && f.post) {
            const codes = f.post.area?.buurten ?? [];
            const published = [];
            try {
                for (const code of codes) {
                    const channel = `buurt:${code}`;
                    const text = JSON.stringify({ type: 'message', channel, seq: 0, epoch, msg: f.post });
                    await pub.publish(channel, text);
                    published.push({ channel, seq: 0 });
                }
                ws.send(JSON.stringify({ type: 'ack', id: f.id, published }));
            } catch (e) {
                ws.send(JSON.stringify({ type: 'error', code: 'unavailable', id: f.id, message: 'redis' }));
            }
        } else if (f.type === 'ping') {
            ws.send(JSON.stringify({ type: 'pong', ref: f.ref }));
        }
    });
    ws.on('close', () => leave(ws));
    ws.on('error', () => {});
});
http.listen(Number(port), '127.0.0.1', () => console.log('ready'));

const stop = () => {
    wss.close();
    http.close();
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
