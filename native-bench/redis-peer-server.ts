// What users would run instead, with Redis: the `ws` package in front of a redis-server (started by
// the bench with an AOF, `everysec` or `always`). Each event becomes three commands on its key's
// hash (HINCRBY count, HINCRBY type:<type>, HSET lastType, lastTs and the data fields), a pub one
// pipeline; the pub is acked when Redis has answered all of them (with `always`, after Redis
// fsynced its AOF).
//
//   node dist/native-bench/redis-peer-server.js <redisPort>   → prints {"port":N,"msg":"listening on"}
import { Packr } from 'msgpackr';
import { createClient } from 'redis';
import { WebSocketServer } from 'ws';
import { announceAndServe } from './ws-peer.js';

const redisPort = Number(process.argv[2]);
const wire = new Packr({ useRecords: false });
const redis = createClient({ socket: { host: '127.0.0.1', port: redisPort } });
await redis.connect();

type Event = { key: string; type: string; ts?: number; data?: Record<string, unknown> };

function fieldsOf(event: Event, ts: number): Record<string, string> {
  const fields: Record<string, string> = { lastType: event.type, lastTs: String(ts) };
  if (event.data !== undefined) for (const name in event.data) fields[`f:${name}`] = JSON.stringify(event.data[name]);
  return fields;
}

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 });
server.on('connection', (socket) => {
  socket.send(wire.pack({ op: 'welcome', v: 1 }));
  socket.on('message', (frame: Buffer) => {
    const message = wire.unpack(frame) as { id: number; events: Event[] };
    const now = Date.now();
    // One pipeline per pub (no MULTI: like the engine's pubs across partitions, not atomic).
    const pipeline = redis.multi();
    for (const event of message.events) {
      pipeline.hIncrBy(event.key, 'count', 1).hIncrBy(event.key, `type:${event.type}`, 1).hSet(event.key, fieldsOf(event, event.ts ?? now));
    }
    pipeline.execAsPipeline().then(
      () => socket.send(wire.pack({ op: 'ack', id: message.id })),
      (error: Error) => socket.send(wire.pack({ op: 'error', id: message.id, code: 'STORAGE', message: error.message })),
    );
  });
});
announceAndServe(server, () => redis.quit());
