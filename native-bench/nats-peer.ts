// The NATS JetStream peer, both halves in one file (run as two processes): a `ws` front end that
// publishes each pub as one message to a JetStream stream with file storage (awaiting the stream's
// PubAck), and a consumer that applies the messages to LMDB in batches (queue-pipeline.ts) and
// reports the committed pubs on a core NATS subject, on which the front end acks them.
//
//   node dist/native-bench/nats-peer.js front <natsUrl>                         → {"port":N,"msg":"listening on"}
//   node dist/native-bench/nats-peer.js consumer <natsUrl> <dataDir> <sync|async> → {"msg":"consuming"}
import { AckPolicy, connect, StorageType, type JsMsg } from 'nats';
import { batchApplier, serveQueueFront } from './queue-pipeline.js';

const STREAM = 'HUNT_BENCH';
const SUBJECT = 'hunt.bench.pubs';
const COMMITTED = 'hunt.bench.committed';
const CONSUMER = 'applier';

const [role, url, dataDir, durability = 'sync'] = process.argv.slice(2);
const nc = await connect({ servers: url! });
const jsm = await nc.jetstreamManager();
try {
  await jsm.streams.add({ name: STREAM, subjects: [SUBJECT], storage: StorageType.File });
} catch {
  // The other half created it first.
}

if (role === 'front') {
  const js = nc.jetstream();
  const front = serveQueueFront((payload) => js.publish(SUBJECT, payload), () => nc.drain());
  nc.subscribe(COMMITTED, { callback: (_error, message) => front.committed(message.data) });
} else {
  await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: AckPolicy.All, max_ack_pending: 10_000 });
  const consumer = await nc.jetstream().consumers.get(STREAM, CONSUMER);
  const applier = batchApplier<JsMsg>(dataDir!, durability, (message) => message.data, (last, report) => {
    last.ack();
    nc.publish(COMMITTED, report);
  });
  const messages = await consumer.consume({ max_messages: 1000 });
  console.log(JSON.stringify({ msg: 'consuming' }));
  process.on('SIGTERM', () => void nc.drain().then(() => applier.records.close()).then(() => process.exit(0)));
  for await (const message of messages) applier.push(message);
}
