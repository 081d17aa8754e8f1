// The stack this engine replaces, back half: a consumer of the durable pubs queue that applies the
// events to LMDB (the same default merge as the engine), in one transaction per batch of the
// messages it has (prefetch 1,000), then acks them to RabbitMQ and reports their references on the
// reply queue, after the commit (and, with sync, the fsync).
//
//   node dist/native-bench/rabbitmq-consumer.js <amqpUrl> <dataDir> <sync|async>   → prints {"msg":"consuming"}
import amqp, { type ConsumeMessage } from 'amqplib';
import { open } from 'lmdb';
import { Packr } from 'msgpackr';
import type { MetaRecord } from '../src/shared/metadata.js';
import { applyDefaultMerge, newMetaRecord } from '../src/workers/default-merge.js';
import { PUBS_QUEUE, REPLIES_QUEUE } from './rabbitmq-queues.js';

const [url, dataDir, durability = 'sync'] = process.argv.slice(2);
const wire = new Packr({ useRecords: false });
const db = open<MetaRecord, string>({ path: dataDir!, noSync: durability === 'async' });
const connection = await amqp.connect(url!);
const channel = await connection.createChannel();
await channel.assertQueue(PUBS_QUEUE, { durable: true });
await channel.assertQueue(REPLIES_QUEUE, { durable: false });
await channel.prefetch(1000);

type Event = { key: string; type: string; ts?: number; data?: Record<string, unknown> };
let batch: ConsumeMessage[] = [];
let flushing = false;

async function flush(): Promise<void> {
  if (flushing || batch.length === 0) return;
  flushing = true;
  const messages = batch;
  batch = [];
  const refs: number[] = [];
  const now = Date.now();
  await db.transaction(() => {
    for (const message of messages) {
      const pub = wire.unpack(message.content) as { ref: number; events: Event[] };
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
  channel.ack(messages[messages.length - 1]!, true);
  channel.sendToQueue(REPLIES_QUEUE, wire.pack(refs));
  flushing = false;
  if (batch.length > 0) void flush();
}

await channel.consume(PUBS_QUEUE, (message) => {
  if (message === null) return;
  batch.push(message);
  setImmediate(() => void flush());
});
console.log(JSON.stringify({ msg: 'consuming' }));
process.on('SIGTERM', () => {
  void connection.close().then(() => db.close()).then(() => process.exit(0));
});
