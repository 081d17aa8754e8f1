// The Kafka peer, both halves in one file (run as separate processes), the stack this engine
// replaces: a `ws` front end that produces each pub as messages to a Kafka topic with a partition
// per consumer, split by key, with an idempotent producer and acks=all; and consumers, one group,
// each assigned one partition, that apply its messages to their own LMDB in batches
// (queue-pipeline.ts), commit their Kafka offset after the LMDB commit (and fsync with `sync`), and
// report the committed pubs on a second topic, on which the front end acks them.
//
// The front end sends what arrives while a send is in flight as the next send (Kafka's own
// batching: one produce request per batch, not per pub), the way a tuned producer's linger does.
//
//   node dist/native-bench/kafka-peer.js front <bootstrap> <consumers>                 → {"port":N,"msg":"listening on"}
//   node dist/native-bench/kafka-peer.js consumer <bootstrap> <dataDir> <sync|async>   → {"msg":"consuming","partitions":[…]} at each assignment
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { COMMITTED_TOPIC, PUBS_TOPIC } from './kafka-topics.js';
import { batchApplier, serveQueueFront } from './queue-pipeline.js';

const [role, bootstrap, ...rest] = process.argv.slice(2);
const kafka = new Kafka({ clientId: `hunt-bench-${role}`, brokers: bootstrap!.split(','), logLevel: logLevel.NOTHING });

if (role === 'front') {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let queued: { value: Buffer; partition: number; settle: (error: Error | null) => void }[] = [];
  let sending = false;
  const sendQueued = async (): Promise<void> => {
    if (sending || queued.length === 0) return;
    sending = true;
    const batch = queued;
    queued = [];
    try {
      await producer.send({ topic: PUBS_TOPIC, acks: -1, messages: batch.map(({ value, partition }) => ({ value, partition })) });
      for (const pub of batch) pub.settle(null);
    } catch (error) {
      for (const pub of batch) pub.settle(error as Error);
    }
    sending = false;
    void sendQueued();
  };
  // Reports are read from the latest offset once this front end's group has its partition: it
  // listens only after that, so no report of its pubs can come before it reads them.
  const reports = kafka.consumer({ groupId: `hunt-bench-front-${process.pid}` });
  await reports.connect();
  await reports.subscribe({ topic: COMMITTED_TOPIC, fromBeginning: false });
  const joined = new Promise<void>((resolve) => reports.on(reports.events.GROUP_JOIN, () => resolve()));
  let front: { committed(report: Uint8Array): void } | null = null;
  await reports.run({ eachMessage: async ({ message }) => front?.committed(message.value!) });
  await joined;
  front = serveQueueFront(
    Number(rest[0]),
    (payload, partition) =>
      new Promise<void>((resolve, reject) => {
        queued.push({ value: payload, partition, settle: (error) => (error === null ? resolve() : reject(error)) });
        void sendQueued();
      }),
    async () => {
      await producer.disconnect();
      await reports.disconnect();
    },
  );
} else {
  const [dataDir, durability] = rest;
  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ groupId: 'hunt-bench-applier', maxBytesPerPartition: 16 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic: PUBS_TOPIC, fromBeginning: true });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => console.log(JSON.stringify({ msg: 'consuming', partitions: payload.memberAssignment[PUBS_TOPIC] ?? [] })));
  const applier = batchApplier<{ partition: number; message: KafkaMessage }>(dataDir!, durability!, ({ message }) => message.value!, ({ partition, message }, report) => {
    void consumer.commitOffsets([{ topic: PUBS_TOPIC, partition, offset: String(Number(message.offset) + 1) }]);
    void producer.send({ topic: COMMITTED_TOPIC, acks: 1, messages: [{ value: report }] });
  });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) applier.push({ partition: batch.partition, message });
    },
  });
  process.on('SIGTERM', () => void Promise.all([consumer.disconnect(), producer.disconnect()]).then(() => applier.records.close()).then(() => process.exit(0)));
}
