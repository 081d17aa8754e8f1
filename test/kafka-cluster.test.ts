// The Kafka cluster on loopback that cluster mode and the bench run against: three real KRaft
// brokers, a replicated topic, an idempotent `acks=all` producer that goes on writing while one
// broker is SIGKILLed, a consumer group that reads every message once, and the broker back again.
import t from 'tap';
import { Kafka, logLevel } from 'kafkajs';
import { startKafkaCluster } from '../native-bench/kafka-cluster.js';

t.test('three brokers on loopback: replicated writes survive a killed broker', async (t) => {
  const cluster = await startKafkaCluster({ brokers: 3 });
  t.teardown(() => cluster.stop());
  t.equal(cluster.nodes.length, 3);
  t.equal(new Set(cluster.nodes.flatMap((n) => [n.port, n.controllerPort])).size, 6, 'distinct ports');

  // Until the controller fences the killed broker (its session times out after 6 s) and elects new
  // leaders, sends to its partitions fail: the client retries for longer than that, as any
  // producer that must not lose writes would.
  const kafka = new Kafka({ clientId: 'hunt-test', brokers: cluster.bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 12, maxRetryTime: 5000 } });
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  t.ok(await admin.createTopics({ topics: [{ topic: 'events', numPartitions: 3 }], waitForLeaders: true }), 'topic created');
  const [metadata] = (await admin.fetchTopicMetadata({ topics: ['events'] })).topics;
  t.ok(metadata!.partitions.every((p) => p.replicas.length === 3), 'every partition has 3 replicas');

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.teardown(() => producer.disconnect());
  const send = (from: number, count: number) =>
    producer.send({ topic: 'events', acks: -1, messages: Array.from({ length: count }, (_, i) => ({ key: `k${(from + i) % 10}`, value: String(from + i) })) });
  await send(0, 100);
  await cluster.kill(1);
  await send(100, 100);
  t.pass('acks=all writes go on with one broker of three down');
  await cluster.restart(1);
  await send(200, 100);

  const consumer = kafka.consumer({ groupId: 'hunt-test' });
  await consumer.connect();
  t.teardown(() => consumer.disconnect());
  await consumer.subscribe({ topic: 'events', fromBeginning: true });
  const seen: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of 300 messages arrived`)), 60_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(Number(message.value!.toString()));
        if (seen.length === 300) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  t.same([...seen].sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i), 'every message once, none lost while the broker was down');
});
