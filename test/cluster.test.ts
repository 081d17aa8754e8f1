// Cluster mode on a real Kafka broker on loopback: the events go through the events topic and are
// applied from it, with each partition's position in the topic committed with its state. Under
// load from idempotent producers the engine is SIGKILLed twice and restarted; at the end every key
// (fan-out keys included) holds each event exactly once. Bad cluster settings stop the start with
// an error naming the setting.
import { Kafka, logLevel } from 'kafkajs';
import t from 'tap';
import { startEngineProcess, type EngineProcess } from '../native-bench/engine-process.js';
import { startKafkaCluster } from '../native-bench/kafka-cluster.js';
import { HuntClient } from '../src/client/index.js';
import { freePort, getKey, metricSum, runEngineToExit, scrapeMetrics, startEngine, tempDir, TestClient, until, type Message } from './helpers.js';
import { drive, PLAIN, PRODUCERS, ProducerState, recordsAsExpected, ROUTED } from './producer-load.js';

t.setTimeout(600_000);

const cluster = await startKafkaCluster({ brokers: 1 });
t.teardown(() => cluster.stop());
const base = { HUNT_KAFKA_BROKERS: cluster.bootstrap, HUNT_DURABILITY: 'async', HUNT_WORKERS: '2', HUNT_ACCEPTORS: '1' };

t.test('SIGKILLed twice under load from idempotent producers; every key exact after the restarts', async (t) => {
  const env = { ...base, ...ROUTED.env, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_TOPIC: 'crash-events', HUNT_KAFKA_GROUP: 'crash-hosts' };
  const states = Array.from({ length: PRODUCERS }, (_, i) => new ProducerState(i));
  let engine: EngineProcess | null = null;
  t.teardown(() => engine?.stop('SIGKILL'));
  for (let round = 0; round < 2; round++) {
    engine = await startEngineProcess(env, 60_000);
    const ackedBefore = states.reduce((n, s) => n + s.acked.size, 0);
    const running = states.map((state) => drive(engine!.port, state, ROUTED, () => false));
    for (let waited = 0; waited < 30_000 && states.reduce((n, s) => n + s.acked.size, 0) < ackedBefore + 20; waited += 10) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, Math.random() * 500));
    await engine.stop('SIGKILL');
    await Promise.all(running);
  }
  t.ok(states.every((s) => s.acked.size > 0), `pubs acked before the kills (${states.map((s) => s.acked.size).join(', ')})`);

  engine = await startEngineProcess(env, 60_000);
  await Promise.all(states.map((state) => drive(engine!.port, state, ROUTED, () => true)));
  for (const state of states) t.equal(state.acked.size, state.nextSeq - 1, `producer ${state.index}: every pub acked in the end`);
  // An ack says Kafka has the events; the records show them once this host has applied the topic.
  const expected = Object.fromEntries(ROUTED.expected(states));
  let actual = {};
  await until(
    'the records to reach the expected counts',
    async () => {
      actual = await recordsAsExpected((key) => getKey(engine!.port, key), ROUTED.expected(states));
      for (const [key, fields] of Object.entries(expected)) {
        for (const [field, n] of Object.entries(fields)) if ((actual as Record<string, Record<string, number>>)[key]![field]! > n) return true; // over: fails below
      }
      return JSON.stringify(actual) === JSON.stringify(expected);
    },
    90_000,
  ).catch(() => {});
  t.same(actual, expected, 'every key (fan-out keys included) holds each event exactly once');
  if (JSON.stringify(actual) !== JSON.stringify(expected)) t.comment(engine.output().split('\n').filter((line) => /"level":[4-6]0|assigned/.test(line)).join('\n').slice(0, 5000));
  t.equal(await engine.stop(), 0, 'a clean stop');
  engine = null;
});

t.test('a worker thread dies mid-batch; its replacement reads the topic again from the committed positions', async (t) => {
  const fired = new SharedArrayBuffer(4);
  const engine = await startEngine(
    { ...base, ...PLAIN.env, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_TOPIC: 'fault-events', HUNT_KAFKA_GROUP: 'fault-hosts', HUNT_BATCH_MAX_EVENTS: '200' },
    { workerFault: { point: 'mid-drain', batch: 2, fired } },
  );
  t.teardown(() => engine.stop());
  // Acks come from Kafka and do not wait for the workers to join the group and take their
  // partitions over (each worker is a member; the second to join waits for a rebalance, seconds
  // on a busy machine), so the load starts once both apply: probes to keys of every partition.
  const probes = Array.from({ length: 64 }, (_, i) => `probe-${i}`);
  const probe = await TestClient.connect(engine.port, ['hunt.v1.json']);
  await probe.welcome();
  t.equal((await probe.request({ op: 'pub', id: 1, events: probes.map((key) => ({ key, type: 'tick' })) })).op, 'ack', 'the probes are acked');
  await probe.close();
  await until('both workers to apply the topic', async () => (await Promise.all(probes.map((key) => getKey(engine.port, key)))).every((r) => r.status === 200), 90_000);
  const states = Array.from({ length: PRODUCERS }, (_, i) => new ProducerState(i));
  let sent = 0;
  let sentAfter = 0;
  // The thread dies under load (the producers go on until it has, however far applying lags the
  // acks; bounded, should it never): its producers' connections stay, their pubs wait or are re-sent.
  await Promise.all(states.map((state) => drive(engine.port, state, PLAIN, () => (new Int32Array(fired)[0] === 1 ? ++sentAfter > 400 : ++sent > 20_000))));
  const batches = new Int32Array(fired)[0] === 1 ? '' : (await scrapeMetrics(engine.port)).text.split('\n').filter((line) => line.startsWith('hunt_commit_batch_events_')).join('; ');
  t.equal(new Int32Array(fired)[0], 1, `the fault fired${batches === '' ? '' : ` (not after ${sent} pubs; batches applied: ${batches})`}`);
  t.equal(engine.pool.restartCount, 1, 'the supervisor restarted the worker once');
  for (const state of states) t.equal(state.acked.size, state.nextSeq - 1, `producer ${state.index}: every pub acked`);
  const expected = Object.fromEntries(PLAIN.expected(states));
  let actual = {};
  await until('the records to reach the expected counts', async () => JSON.stringify((actual = await recordsAsExpected((key) => getKey(engine.port, key), PLAIN.expected(states)))) === JSON.stringify(expected), 90_000).catch(() => {});
  t.same(actual, expected, 'every event applied exactly once');
});

t.test('subscribers get the updates applied from the topic', async (t) => {
  const engine = await startEngineProcess({ ...base, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_TOPIC: 'sub-events', HUNT_KAFKA_GROUP: 'sub-hosts' }, 60_000);
  t.teardown(() => engine.stop('SIGKILL'));
  const subscriber = await TestClient.connect(engine.port, ['hunt.v1.json']);
  await subscriber.welcome();
  await subscriber.request({ op: 'sub', id: 1, keys: ['player:ada'] });
  const producer = await TestClient.connect(engine.port, ['hunt.v1.json']);
  await producer.welcome();
  const ack = await producer.request({ op: 'pub', id: 7, events: [{ key: 'player:ada', type: 'moved', data: { x: 3 } }] });
  t.equal(ack.op, 'ack');
  const update = await subscriber.next((m) => m.op === 'update', 60_000);
  t.equal(update.meta.count, 1);
  t.same(update.meta.fields, { x: 3 });
  t.equal((await getKey(engine.port, 'player:ada')).body.count, 1);
  await Promise.all([subscriber.close(), producer.close()]);
});

/** The partition function as docs/protocol.md states it for Kafka producers: fnv1a32(utf8(key)) mod P. */
function documentedPartition(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) h = Math.imul(h ^ byte, 0x01000193);
  return (h >>> 0) % partitions;
}

t.test('a Kafka producer outside the engine feeds the events topic; what is not an event is skipped and counted', async (t) => {
  const env = { ...base, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_TOPIC: 'plain-events', HUNT_KAFKA_GROUP: 'plain-hosts' };
  let engine = await startEngineProcess(env, 60_000);
  t.teardown(() => engine.stop('SIGKILL'));
  const kafka = new Kafka({ clientId: 'outside-producer', brokers: [cluster.bootstrap], logLevel: logLevel.NOTHING });
  const partitions = await getTopicPartitions(kafka, 'plain-events');
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.teardown(() => producer.disconnect());
  const event = (key: string, value: unknown, timestamp?: string) => ({ key, value: JSON.stringify(value), partition: documentedPartition(key, partitions), ...(timestamp === undefined ? {} : { timestamp }) });

  const subscriber = await TestClient.connect(engine.port, ['hunt.v1.json']);
  await subscriber.welcome();
  await subscriber.request({ op: 'sub', id: 1, keys: ['door:1'] });
  const keys = ['door:1', 'door:2', 'door:3', '__proto__', 'ключ'];
  const messages = [];
  for (let i = 0; i < 100; i++) messages.push(event(keys[i % keys.length]!, { type: 'opened', data: { n: i } }, String(1_700_000_000_000 + i)));
  messages.push(event('gate', { key: 'gate', type: 'closed', ts: 42 }));
  const wrongPartition = documentedPartition('door:1', partitions) === 0 ? 1 : 0;
  const bad = [
    { key: 'door:1', value: '{"type":', partition: documentedPartition('door:1', partitions) },
    { key: 'door:1', value: null, partition: documentedPartition('door:1', partitions) },
    { key: 'door:1', value: '{"type":"opened","data":{"__proto__":{"admin":true}}}', partition: documentedPartition('door:1', partitions) },
    event('door:1', { key: 'door:9', type: 'opened' }),
    event('door:1', { type: 'opened', data: [1, 2] }),
    event('door:1', { type: 'opened', extra: true }),
    { key: 'door:1', value: JSON.stringify({ type: 'opened' }), partition: wrongPartition },
  ];
  await producer.send({ topic: 'plain-events', acks: -1, messages: [...messages.slice(0, 50), ...bad, ...messages.slice(50)] });

  // Pubs through the engine to the same keys go on beside them.
  const client = await TestClient.connect(engine.port, ['hunt.v1.json']);
  await client.welcome();
  t.equal((await client.request({ op: 'pub', id: 1, events: keys.map((key) => ({ key, type: 'rang' })) })).op, 'ack', 'a pub through the engine is acked');
  await client.close();

  const expected = { opened: 20, rang: 1 };
  const applied = async (key: string, types: Record<string, number>) => JSON.stringify((await getKey(engine.port, key).catch(() => null))?.body?.types) === JSON.stringify(types);
  const settled = async () => (await Promise.all([...keys.map((key) => applied(key, expected)), applied('gate', { closed: 1 })])).every(Boolean);
  await until('every event to be applied', settled, 60_000).catch(() => t.comment(engine.output().split('\n').filter((line) => /"level":[4-6]0/.test(line)).join('\n').slice(0, 5000)));
  for (const key of keys) t.same((await getKey(engine.port, key)).body.types, expected, `${key}: each event applied once`);
  t.equal((await getKey(engine.port, 'door:3')).body.firstTs, 1_700_000_000_002, "without a ts, an event's ts is the message's timestamp");
  t.equal((await getKey(engine.port, 'gate')).body.firstTs, 42, "a ts in the value is the event's");
  t.equal((await getKey(engine.port, '__proto__')).body.count, 21, 'a hostile key is an ordinary key');
  t.equal(({} as Record<string, unknown>).admin, undefined, 'nothing polluted');
  const update = await subscriber.next((m) => m.op === 'update' && m.meta.types.opened !== undefined, 60_000);
  t.equal(update.key, 'door:1', "subscribers get the updates of the topic's events");
  await subscriber.close();
  const refused = /^hunt_kafka_messages_refused_total\{worker="\d+"\} (\d+)$/gm;
  const counted = [...(await scrapeMetrics(engine.port)).text.matchAll(refused)].reduce((n, m) => n + Number(m[1]), 0);
  t.equal(counted, bad.length, 'every message that is not an event is counted as refused');
  t.match(engine.output(), /skipped, not an event: /, 'and the log says why');

  // Restarted, the host goes on after what it applied: nothing twice.
  t.equal(await engine.stop(), 0, 'a clean stop');
  engine = await startEngineProcess(env, 60_000);
  await producer.send({ topic: 'plain-events', acks: -1, messages: [event('door:1', { type: 'closed' })] });
  await until('the event sent after the restart to be applied', async () => (await getKey(engine.port, 'door:1')).body?.types?.closed === 1, 60_000);
  t.same((await getKey(engine.port, 'door:1')).body.types, { opened: 20, rang: 1, closed: 1 }, 'after a restart, each event still applied once');
});

async function getTopicPartitions(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

t.test("a burst to one partition beyond Kafka's message size goes as several messages", async (t) => {
  const engine = await startEngineProcess({ ...base, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_TOPIC: 'burst-events', HUNT_KAFKA_GROUP: 'burst-hosts' }, 60_000);
  t.teardown(() => engine.stop('SIGKILL'));
  const producer = await TestClient.connect(engine.port, ['hunt.v1.json']);
  await producer.welcome();
  // Six pubs of 700 KB to one key, sent without waiting: the forwarder takes them in one drain.
  const acks = Array.from({ length: 6 }, (_, i) => producer.request({ op: 'pub', id: i + 1, events: [{ key: 'big', type: 'blob', data: { n: i, blob: String(i).repeat(700_000) } }] }, 'json', 60_000));
  const replies = await Promise.all(acks);
  t.same(replies.map((ack) => ack.op), Array(6).fill('ack'), `every pub acked (${JSON.stringify(replies.find((reply) => reply.op !== 'ack'))?.slice(0, 300)})`);
  await until('the six events to be applied', async () => (await getKey(engine.port, 'big')).body?.count === 6, 60_000);
  t.equal((await getKey(engine.port, 'big')).body.fields.n, 5, 'applied in order');
  await producer.close();
});

t.test('the broker down for a while: pubs wait or are refused, nothing acked is lost, and the engine goes on', async (t) => {
  const engine = await startEngineProcess({ ...base, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_TOPIC: 'outage-events', HUNT_KAFKA_GROUP: 'outage-hosts' }, 60_000);
  t.teardown(() => engine.stop('SIGKILL'));
  const producer = await TestClient.connect(engine.port, ['hunt.v1.json']);
  await producer.welcome();
  // Two CI runs saw a pub here unanswered for 180 s: a failure names what happened (an answer, the
  // connection closed, the engine gone, or silence) with what the engine said about it, in the
  // failure's message, which CI's report shows.
  const engineSaid = () => `engine ${engine.child.exitCode === null && engine.child.signalCode === null ? 'running' : `exited (${engine.child.exitCode ?? engine.child.signalCode})`}; its warnings:\n${engine.output().split('\n').filter((line) => /"level":[456]0/.test(line) && !/Limiting retries|switched default/.test(line)).join('\n').slice(-4000)}`;
  const pub = async (id: number): Promise<Message> => {
    const reply: Message = await Promise.race([
      producer.request({ op: 'pub', id, events: [{ key: 'outage', type: 'tick' }] }, 'json', 180_000),
      producer.closed.then(({ code, reason }) => ({ op: 'closed', code, reason })),
    ]).catch((error: Error) => ({ op: 'unanswered', message: error.message }));
    if (reply.op !== 'ack' && reply.op !== 'error') t.fail(`pub ${id}: ${JSON.stringify(reply)}; ${engineSaid()}`);
    return reply;
  };
  t.equal((await pub(1)).op, 'ack');
  await until('the first event to be applied', async () => (await getKey(engine.port, 'outage')).body?.count === 1, 60_000);
  await cluster.kill(0);
  const during = pub(2);
  await new Promise((r) => setTimeout(r, 3000));
  await cluster.restart(0);
  const duringReply = await during;
  t.ok(duringReply.op === 'ack' || duringReply.code === 'STORAGE', `a pub sent while the broker was down is acked or refused with STORAGE (${duringReply.op} ${duringReply.code ?? ''})`);
  t.equal((await pub(3)).op, 'ack', 'a pub after the broker is back is acked');
  const acked = 2 + (duringReply.op === 'ack' ? 1 : 0);
  await until('every acked event to be applied', async () => (await getKey(engine.port, 'outage')).body?.count === acked, 120_000);
  t.equal((await getKey(engine.port, 'outage')).body.count, acked, 'every acked event applied once');
  await producer.close();
  t.equal(await engine.stop(), 0, 'a clean stop');
});

t.test('bad cluster settings stop the start with an error naming the setting', async (t) => {
  const admin = new Kafka({ clientId: 'hunt-test', brokers: [cluster.bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  // kafkajs's waitForLeaders gives up on a topic the broker does not list yet (its metadata lags a
  // restart); the start-up check needs only the partition count.
  await admin.createTopics({ topics: [{ topic: 'three-partitions', numPartitions: 3 }], waitForLeaders: false });
  await admin.disconnect();
  const wrongCount = runEngineToExit({ ...base, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_TOPIC: 'three-partitions' });
  t.equal(wrongCount.status, 2);
  t.match(wrongCount.stdout, /HUNT_KAFKA_TOPIC=\\"three-partitions\\": topic three-partitions has 3 partitions; the data directory has 64/);

  const nobody = runEngineToExit({ ...base, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_BROKERS: `127.0.0.1:${await freePort()}` });
  t.equal(nobody.status, 2);
  t.match(nobody.stdout, /HUNT_KAFKA_BROKERS=.*no broker answers/);

  const typo = runEngineToExit({ ...base, HUNT_DATA_DIR: tempDir(t), HUNT_KAFKA_BROKERS: 'kafka1' });
  t.equal(typo.status, 2);
  t.match(typo.stdout, /HUNT_KAFKA_BROKERS=\\"kafka1\\" is invalid: allowed is comma-separated host:port pairs/);

  // A second host whose data directory has another store count than the group's is refused.
  const first = await startEngineProcess({ ...base, HUNT_DATA_DIR: tempDir(t), HUNT_STORES: '2', HUNT_KAFKA_TOPIC: 'two-hosts', HUNT_KAFKA_GROUP: 'two-hosts' }, 60_000);
  t.teardown(() => first.stop('SIGKILL'));
  const client = await TestClient.connect(first.port, ['hunt.v1.json']);
  await client.welcome();
  await client.request({ op: 'pub', id: 1, events: [{ key: 'k', type: 't' }] });
  await until('the first host to apply its event (it is in the group)', async () => (await getKey(first.port, 'k')).status === 200, 60_000);
  await client.close();
  const second = runEngineToExit({ ...base, HUNT_DATA_DIR: tempDir(t), HUNT_STORES: '4', HUNT_KAFKA_TOPIC: 'two-hosts', HUNT_KAFKA_GROUP: 'two-hosts' });
  t.equal(second.status, 2);
  t.match(second.stdout, /HUNT_KAFKA_GROUP=\\"two-hosts\\" has host .* with 2 stores; this data directory has 4 \(HUNT_STORES\)/);
});

t.test("a second host joins: the TypeScript client's log follows go on at the new owner, every event once", async (t) => {
  const env = { ...base, HUNT_WORKERS: '1', HUNT_STORES: '4', HUNT_LOG_RETENTION_EVENTS: '1000', HUNT_KAFKA_TOPIC: 'follow-events', HUNT_KAFKA_GROUP: 'follow-hosts' };
  const first = await startEngineProcess({ ...env, HUNT_DATA_DIR: tempDir(t) }, 60_000);
  t.teardown(() => first.stop('SIGKILL'));
  const client = await HuntClient.connect({ url: `ws://127.0.0.1:${first.port}/v1/stream`, encoding: 'json', backoff: { initialMs: 50, maxMs: 1000 } });
  t.teardown(() => client.close());
  // Busy keys have an event before the move; quiet keys none, so their follows' positions move
  // only with the other keys of their partitions, which the old host's `next` tells.
  const busy = Array.from({ length: 64 }, (_, i) => `busy:${i}`);
  const quiet = Array.from({ length: 64 }, (_, i) => `quiet:${i}`);
  await client.publish(busy.map((key) => ({ key, type: 'seen', data: { name: 'before' } })));
  await until('the first host to apply its partitions', async () => (await getKey(first.port, busy[0]!)).status === 200, 60_000);
  const seen = new Map<string, number[]>();
  const failures: string[] = [];
  const follows = [...busy, ...quiet].map((key) => {
    const follow = client.replay({ key, follow: true });
    seen.set(key, []);
    const consume = async () => {
      for await (const event of follow) seen.get(key)!.push(event.version);
    };
    return { follow, consumed: consume().catch((error: Error) => failures.push(`${key}: ${error.message}`)) };
  });
  await until('the follows to run', async () => busy.every((key) => seen.get(key)!.length === 1) && metricSum((await scrapeMetrics(first.port)).text, 'hunt_log_follows') === follows.length, 30_000);

  const second = await startEngineProcess({ ...env, HUNT_DATA_DIR: tempDir(t) }, 60_000);
  t.teardown(() => second.stop('SIGKILL'));
  const moved = async () => (await Promise.all(busy.map(async (key) => (await getKey(second.port, key)).status))).filter((status) => status === 200).length;
  await until('the second host to apply partitions', async () => (await moved()) > 0 && (await Promise.all(busy.map(async (key) => (await getKey(first.port, key)).status))).some((s) => s === 307), 120_000);
  await client.publish([...busy, ...quiet].map((key) => ({ key, type: 'seen', data: { name: 'after' } })));
  await until('every follow to see its key\'s last event', () => failures.length > 0 || (busy.every((key) => seen.get(key)!.length === 2) && quiet.every((key) => seen.get(key)!.length === 1)), 60_000).catch(() => {});
  t.same(failures.slice(0, 3), [], 'no follow ended');
  t.same(busy.map((key) => seen.get(key)), busy.map(() => [1, 2]), `each busy key's follow: both versions once, in order (${await moved()} of 64 keys moved)`);
  t.same(quiet.map((key) => seen.get(key)), quiet.map(() => [1]), "each quiet key's follow: its event once");
  await Promise.all(follows.map(({ follow }) => follow.close()));
  await Promise.all(follows.map(({ consumed }) => consumed));
});
