// sio_server.mjs PORT REDIS_URL - one Socket.IO 4 node with the classic
// @socket.io/redis-adapter, for tests/bench/suite.mjs. A client joins a
// room with 'join' (acked); 'pub' {ch, payload} broadcasts payload to the
// room as event 'm' and is acked after the broadcast was handed to the
// adapter (the adapter PUBLISHes it to Redis for other nodes; no
// persistence). Prints "ready" once listening.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';

const [port, redisUrl] = process.argv.slice(2);
const pub = createClient({ url: redisUrl });
const sub = pub.duplicate();
// A lost Redis connection is logged and reconnected, not a crash.
for (const c of [pub, sub]) c.on('error', (e) => console.error(`redis: ${e.message}`));
await Promise.all([pub.connect(), sub.connect()]);
const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
io.adapter(createAdapter(pub, sub));
io.on('connection', (socket) => {
    socket.on('join', (ch, cb) => {
        socket.join(ch);
        if (typeof cb === 'function') cb(1);
    });
    socket.on('pub', (m, cb) => {
        io.to(m.ch).emit('m', m.payload);
        if (typeof cb === 'function') cb(1);
    });
});
http.listen(Number(port), '127.0.0.1', () => console.log('ready'));
const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
