// The NATS JetStream peer, both halves in one file (run as two processes): a `ws` front end that
// publishes each pub as one message to a JetStream stream with file storage (awaiting the stream's
// PubAck), and a consumer that applies the messages to LMDB in batches (the same merge as the
// engine) and reports the committed pubs on a core NATS subject, on which the front end acks them.
//
//   node dist/native-bench/nats-peer.js front <natsUrl>                       → {"port":N,"msg":"listening on"}
//   node dist/native-bench/nats-peer.js consumer <natsUrl> <dataDir> <sync|async> → {"msg":"consuming"}
import { open } from 'lmdb';
import { Packr } from 'msgpackr';
import { AckPolicy, connect, StorageType, type JsMsg } from 'nats';
import { WebSocketServer, type WebSocket } from 'ws';
import type { MetaRecord } from '../src/shared/metadata.js';
import { applyDefaultMerge, newMetaRecord } from '../src/workers/default-merge.js';
import { announceAndServe } from './ws-peer.js';

const STREAM = 'HUNT_BENCH';
const SUBJECT = 'hunt.bench.pubs';
const COMMITTED = 'hunt.bench.committed';
const CONSUMER = 'applier';

const [role, url, dataDir, durability = 'sync'] = process.argv.slice(2);
const wire = new Packr({ useRecords: false });
const nc = await connect({ servers: url! });
const jsm = await nc.jetstreamManager();
try {
  await jsm.streams.add({ name: STREAM, subjects: [SUBJECT], storage: StorageType.File });
} catch {
  // The other half created it first.
}
type Event = { key: string; type: string; ts?: number; data?: Record<string, unknown> };

if (role === 'front') {
  const js = nc.jetstream();
  const waiting = new Map<number, { socket: WebSocket; id: number }>();
  let nextRef = 1;
  nc.subscribe(COMMITTED, {
    callback: (_error, message) => {
      for (const ref of wire.unpack(message.data) as number[]) {
        const pub = waiting.get(ref);
        waiting.delete(ref);
        pub?.socket.send(wire.pack({ op: 'ack', id: pub.id }));
      }
    },
  });
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 });
  server.on('connection', (socket) => {
    socket.send(wire.pack({ op: 'welcome', v: 1 }));
    socket.on('message', (frame: Buffer) => {
      const message = wire.unpack(frame) as { id: number; events: unknown[] };
      const ref = nextRef++;
      waiting.set(ref, { socket, id: message.id });
      js.publish(SUBJECT, wire.pack({ ref, events: message.events })).catch((error: Error) => {
        waiting.delete(ref);
        socket.send(wire.pack({ op: 'error', id: message.id, code: 'STORAGE', message: error.message }));
      });
    });
  });
  announceAndServe(server, () => nc.drain());
} else {
  const db = open<MetaRecord, string>({ path: dataDir!, noSync: durability === 'async' });
  await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: AckPolicy.All, max_ack_pending: 10_000 });
  const consumer = await nc.jetstream().consumers.get(STREAM, CONSUMER);
  let batch: JsMsg[] = [];
  let flushing = false;
  const flush = async (): Promise<void> => {
    if (flushing || batch.length === 0) return;
    flushing = true;
    const messages = batch;
    batch = [];
    const refs: number[] = [];
    const now = Date.now();
    await db.transaction(() => {
      for (const message of messages) {
        const pub = wire.unpack(message.data) as { ref: number; events: Event[] };
        refs.push(pub.ref);
        for (const event of pub.events) {
          const ts = event.ts ?? now;
          const meta = db.get(event.key) ?? newMetaRecord(ts);
          applyDefaultMerge(meta, event.type, ts, event.data ?? null);
          db.put(event.key, meta);
        }
      }
    });
    if (durability === 'sync') await db.flushed;
    messages[messages.length - 1]!.ack();
    nc.publish(COMMITTED, wire.pack(refs));
    flushing = false;
    if (batch.length > 0) void flush();
  };
  const messages = await consumer.consume({ max_messages: 1000 });
  console.log(JSON.stringify({ msg: 'consuming' }));
  process.on('SIGTERM', () => void nc.drain().then(() => db.close()).then(() => process.exit(0)));
  for await (const message of messages) {
    batch.push(message);
    setImmediate(() => void flush());
  }
}
