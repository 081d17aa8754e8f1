// The NATS JetStream peer, both halves in one file (run as separate processes): a `ws` front end
// that publishes each pub as messages to a JetStream stream with file storage, one subject per
// consumer, split by key (awaiting the stream's PubAck), and consumers that each apply their
// subject's messages to their own LMDB in batches (queue-pipeline.ts) and report the committed
// pubs on a core NATS subject, on which the front end acks them.
//
//   node dist/native-bench/nats-peer.js front <natsUrl> <consumers>                   → {"port":N,"msg":"listening on"}
//   node dist/native-bench/nats-peer.js consumer <natsUrl> <dataDir> <sync|async> <n> → {"msg":"consuming"}
import { AckPolicy, connect, StorageType, type JsMsg } from 'nats';
import { batchApplier, serveQueueFront } from './queue-pipeline.js';

const STREAM = 'HUNT_BENCH';
const SUBJECTS = 'hunt.bench.pubs.*';
const subjectOf = (consumer: number) => `hunt.bench.pubs.${consumer}`;
const COMMITTED = 'hunt.bench.committed';

const [role, url, ...rest] = process.argv.slice(2);
const nc = await connect({ servers: url! });
const jsm = await nc.jetstreamManager();
try {
  await jsm.streams.add({ name: STREAM, subjects: [SUBJECTS], storage: StorageType.File });
} catch {
  // Another process created it first.
}

if (role === 'front') {
  const js = nc.jetstream();
  const front = serveQueueFront(Number(rest[0]), (payload, consumer) => js.publish(subjectOf(consumer), payload), () => nc.drain());
  nc.subscribe(COMMITTED, { callback: (_error, message) => front.committed(message.data) });
} else {
  const [dataDir, durability, n] = rest;
  const name = `applier-${n}`;
  await jsm.consumers.add(STREAM, { durable_name: name, filter_subject: subjectOf(Number(n)), ack_policy: AckPolicy.All, max_ack_pending: 10_000 });
  const consumer = await nc.jetstream().consumers.get(STREAM, name);
  const applier = batchApplier<JsMsg>(dataDir!, durability!, (message) => message.data, (last, report) => {
    last.ack();
    nc.publish(COMMITTED, report);
  });
  const messages = await consumer.consume({ max_messages: 1000 });
  console.log(JSON.stringify({ msg: 'consuming' }));
  process.on('SIGTERM', () => void nc.drain().then(() => applier.records.close()).then(() => process.exit(0)));
  for await (const message of messages) applier.push(message);
}
