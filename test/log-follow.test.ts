// Streaming the event log out: `replay` with `follow` (catch up, then live, with no gap and no
// duplicate while others publish; paused and resumed for a consumer that stops reading; ended with
// OUT_OF_RANGE when the retention overtakes it) and `sub` with `from` (missed updates recovered
// from the log, or an explicit `recovered: false`).
import t, { type Test } from 'tap';
import { partitionOf } from '../src/shared/partition.js';
import { connectToAcceptor, httpGet, metricSum, scrapeMetrics, startEngine, tempDir, TestClient, TWO_ACCEPTORS, until, type Message } from './helpers.js';

const PARTITIONS = 4;

/** `count` distinct keys that all live in `partition`. */
function keysIn(partition: number, count: number, prefix = 'k'): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (partitionOf(`${prefix}${i}`, PARTITIONS) === partition) keys.push(`${prefix}${i}`);
  return keys;
}

/** Collects the events of the follow `id` as they arrive (the client's own queue is for replies). */
function followed(client: TestClient, id: number): Message[] {
  const events: Message[] = [];
  client.ws.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString());
    if (message.op === 'events' && message.id === id) events.push(...message.events);
  });
  return events;
}

const appliedOffset = async (port: number, partition: number): Promise<number> => (await httpGet(port, '/v1/partitions')).body.partitions[partition].appliedOffset;

function expectAck(reply: Message): void {
  if (reply.op !== 'ack') throw new Error(`pub not acked: ${JSON.stringify(reply)}`);
}

/** Publishes `total` events over `keys` in pubs of `perPub`, up to 16 pubs in flight; data.n counts from `first`. */
async function publish(client: TestClient, keys: string[], total: number, perPub: number, first: number, pad = ''): Promise<void> {
  const inFlight: Promise<Message>[] = [];
  for (let n = first; n < first + total; n += perPub) {
    const events = Array.from({ length: Math.min(perPub, first + total - n) }, (_, i) => ({ key: keys[(n + i) % keys.length], type: 'step', data: { n: n + i, pad } }));
    inFlight.push(client.request({ op: 'pub', id: n, events }));
    if (inFlight.length === 16) expectAck(await inFlight.shift()!);
  }
  for (const reply of await Promise.all(inFlight)) expectAck(reply);
}

t.test('follow: catch up from 0, then live while a connection on another acceptor publishes; no gap, no duplicate; unfollow ends it', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_PARTITIONS: String(PARTITIONS), HUNT_LOG_RETENTION_EVENTS: '1000000', ...TWO_ACCEPTORS });
  t.teardown(() => engine.stop());
  const partition = 1;
  const keys = keysIn(partition, 50);
  const producer = await connectToAcceptor(engine, 0);
  await publish(producer, keys, 2000, 40, 0);

  // Its acceptor took none of the records: it hears of the commits because it runs a follow.
  const consumer = await connectToAcceptor(engine, 1);
  const events = followed(consumer, 7);
  t.same(await consumer.request({ op: 'replay', id: 7, partition, from: 0, limit: 100, follow: true }), { op: 'ack', id: 7, __binary: false });
  await publish(producer, keys, 3000, 25, 2000);
  const last = await appliedOffset(engine.port, partition);
  t.equal(last, 5000, 'every event went to the followed partition');
  await until('the follow to reach the last offset', () => events.at(-1)?.offset === last);
  t.same(events.map((e) => e.offset), Array.from({ length: last }, (_, i) => i + 1), 'every offset once, in order');
  t.same(events.map((e) => e.data.n), Array.from({ length: 5000 }, (_, i) => i), 'the events in the order they were published');

  t.same(await consumer.request({ op: 'unfollow', id: 8, replay: 7 }), { op: 'ack', id: 8, __binary: false });
  await publish(producer, keys, 100, 50, 5000);
  // A follow's events for a commit go out in the same turn as the commit's acks, so any event of
  // follow 7 would reach this connection before the answer to a request sent after the acks.
  t.match(await consumer.request({ op: 'get', id: 12, key: keys[0]! }), { op: 'meta', id: 12 });
  t.equal(events.length, 5000, 'nothing after unfollow');
  t.match(await consumer.request({ op: 'unfollow', id: 9, replay: 7 }), { op: 'error', code: 'BAD_FRAME', message: /no follow with replay id 7/ });
  t.match(await consumer.request({ op: 'replay', id: 10, partition, follow: 'yes' }), { op: 'error', code: 'BAD_FRAME', message: /"follow" must be true or false/ });
  await producer.close();
  await consumer.close();
});

t.test('a follow survives a partition worker restart: every event once, in order', async (t) => {
  const fired = new SharedArrayBuffer(4);
  const engine = await startEngine(
    { HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_WORKERS: '1', HUNT_PARTITIONS: String(PARTITIONS), HUNT_LOG_RETENTION_EVENTS: '1000000', HUNT_BATCH_MAX_EVENTS: '200' },
    { workerFault: { point: 'after-commit', batch: 5, fired } },
  );
  t.teardown(() => engine.stop());
  const partition = 0;
  const keys = keysIn(partition, 20);
  const consumer = await TestClient.connect(engine.port);
  await consumer.welcome();
  const events = followed(consumer, 1);
  t.match(await consumer.request({ op: 'replay', id: 1, partition, follow: true }), { op: 'ack', id: 1 });
  const producer = await TestClient.connect(engine.port);
  await producer.welcome();
  await publish(producer, keys, 3000, 20, 0);
  t.equal(new Int32Array(fired)[0], 1, 'the worker thread died after a commit');
  t.equal(engine.pool.restartCount, 1, 'and its loop was restarted');
  await until('the follow to reach the last event', () => events.at(-1)?.data.n === 2999);
  t.same(events.map((e) => e.data.n), Array.from({ length: 3000 }, (_, i) => i), 'every event once, in order');
  t.same(events.map((e) => e.offset), Array.from({ length: 3000 }, (_, i) => i + 1), 'offsets without a gap');
  await producer.close();
  await consumer.close();
});

t.test('follow one key from the middle: only its events, versions one by one', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_PARTITIONS: String(PARTITIONS), HUNT_LOG_RETENTION_EVENTS: '1000000' });
  t.teardown(() => engine.stop());
  const key = 'player:ann';
  const neighbours = keysIn(partitionOf(key, PARTITIONS), 5, 'n');
  const producer = await TestClient.connect(engine.port);
  await producer.welcome();
  await publish(producer, [key, ...neighbours], 600, 30, 0);
  const consumer = await TestClient.connect(engine.port, ['hunt.v1.json']);
  await consumer.welcome();
  const events = followed(consumer, 1);
  // Offsets of the key's events: every sixth, starting at 1; start at the 51st.
  t.match(await consumer.request({ op: 'replay', id: 1, key, from: 301, limit: 7, follow: true }), { op: 'ack', id: 1 });
  await publish(producer, [key, ...neighbours], 600, 30, 600);
  await until('the key\'s 200th event', () => events.at(-1)?.version === 200);
  t.ok(events.every((e) => e.key === key), 'only the key');
  t.same(events.map((e) => e.version), Array.from({ length: 150 }, (_, i) => 51 + i), 'versions 51..200, each once');
  await producer.close();
  await consumer.close();
});

/**
 * A follow of a partition whose consumer stops reading while ~24 MB of events (far more than the
 * socket buffers hold) are committed, then reads again; its events as they arrive.
 */
async function pausedFollow(t: Test, retention: number): Promise<{ consumer: TestClient; events: Message[]; followsWhilePaused: number; close(): Promise<void> }> {
  const engine = await startEngine({
    HUNT_DATA_DIR: tempDir(t),
    HUNT_DURABILITY: 'async',
    HUNT_PARTITIONS: String(PARTITIONS),
    HUNT_LOG_RETENTION_EVENTS: String(retention),
    HUNT_SUBSCRIBER_MAX_LAG_BYTES: String(64 * 1024),
  });
  t.teardown(() => engine.stop());
  const partition = 2;
  const producer = await TestClient.connect(engine.port);
  await producer.welcome();
  const consumer = await TestClient.connect(engine.port);
  await consumer.welcome();
  const events = followed(consumer, 3);
  t.match(await consumer.request({ op: 'replay', id: 3, partition, follow: true }), { op: 'ack', id: 3 });
  const socket = (consumer.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  socket.pause();
  await publish(producer, keysIn(partition, 20), 8000, 100, 0, 'x'.repeat(3000));
  // The follow was pumped as each batch committed, so had the engine dropped the consumer it would
  // have by now: it still holds the connection. Whether it still holds the follow depends on the
  // retention, which each test checks.
  const metrics = (await scrapeMetrics(engine.port)).text;
  t.equal(metricSum(metrics, 'hunt_connections'), 2, 'the engine keeps the paused consumer connected');
  socket.resume();
  const followsWhilePaused = metricSum(metrics, 'hunt_log_follows');
  return { consumer, events, followsWhilePaused, close: async () => void (await Promise.all([consumer.close(), producer.close()])) };
}

t.test('a consumer that stops reading is paused, not dropped, and goes on where it was', async (t) => {
  const { events, followsWhilePaused, close } = await pausedFollow(t, 1_000_000);
  t.equal(followsWhilePaused, 1, 'the paused follow is kept');
  await until('the follow to catch up', () => events.at(-1)?.offset === 8000);
  t.same(events.map((e) => e.data.n), Array.from({ length: 8000 }, (_, i) => i), 'everything, once, in order');
  await close();
});

t.test("a key's follow is told its position as other keys' entries pass it; resuming there after the retention removed them goes on", async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_PARTITIONS: String(PARTITIONS), HUNT_LOG_RETENTION_EVENTS: '2000' });
  t.teardown(() => engine.stop());
  const partition = 3;
  const [quiet, ...others] = keysIn(partition, 21);
  const producer = await TestClient.connect(engine.port);
  await producer.welcome();
  const consumer = await TestClient.connect(engine.port);
  await consumer.welcome();
  const told: Message[] = [];
  let ended: Message | null = null;
  consumer.ws.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString());
    if (message.op === 'events' && message.id === 3) told.push(message);
    if (message.op === 'error' && message.id === 3) ended = message;
  });
  t.match(await consumer.request({ op: 'replay', id: 3, key: quiet, from: 0, follow: true }), { op: 'ack', id: 3 });
  // In steps well within the retention (a follow the retention overtakes ends, whatever its key),
  // until the retention has removed the first steps' entries.
  for (let step = 0; step < 8; step++) {
    await publish(producer, others, 500, 50, step * 500);
    const applied = await appliedOffset(engine.port, partition);
    await until('the follow to be told it passed the other keys\' entries', () => ended !== null || (told.at(-1)?.next ?? 0) > applied, 10_000);
    t.equal(ended, null, `step ${step}: the follow goes on`);
  }
  const last = await appliedOffset(engine.port, partition);
  t.equal(told.at(-1)!.next, last + 1, 'told the end of the log');
  t.ok(told.every((m) => m.events.length === 0), `told its position ${told.length} times, with no events`);
  await consumer.close();

  // After a reconnect the consumer resumes at the last `next` it got, though the log no longer holds the offsets it skipped.
  const again = await TestClient.connect(engine.port);
  await again.welcome();
  t.match(await again.request({ op: 'replay', id: 5, key: quiet, from: 1 }), { op: 'error', code: 'OUT_OF_RANGE' }, 'the offsets before are gone');
  const resumed = followed(again, 4);
  t.match(await again.request({ op: 'replay', id: 4, key: quiet, from: told.at(-1)!.next, follow: true }), { op: 'ack', id: 4 });
  await publish(producer, [quiet!], 1, 1, 9000);
  await until('the quiet key\'s event', () => resumed.length === 1);
  t.match(resumed[0], { key: quiet, offset: last + 1, data: { n: 9000 } }, 'and the follow goes on with its key\'s next event');
  await Promise.all([again.close(), producer.close()]);
});

t.test('retention overtaking a paused follow: OUT_OF_RANGE naming the earliest offset, and the follow ends', async (t) => {
  // The paused follow is retried on a timer, so retention may end it before the consumer reads
  // again: whether it was still held while paused is not checked here.
  const { consumer, events, close } = await pausedFollow(t, 500);
  const error = await consumer.next((m) => m.op === 'error' && m.id === 3);
  const earliest = Number(/earliest held is (\d+)/.exec(error.message)?.[1]);
  t.match(error, { code: 'OUT_OF_RANGE' });
  // The retention may overtake it before its first page went out (commits can outrun the pump on a
  // busy machine): then it got nothing, and its position is still the log's first offset, 1.
  const stoppedAt = events.at(-1)?.offset ?? 0;
  t.ok(earliest > stoppedAt + 1, `the follow stopped at ${stoppedAt}; the log starts at ${earliest}`);
  t.same(events.map((e) => e.offset), Array.from({ length: events.length }, (_, i) => i + 1), 'what it got has no gap');
  t.match(await consumer.request({ op: 'unfollow', id: 5, replay: 3 }), { op: 'error', code: 'BAD_FRAME' }, 'the follow has ended');
  await close();
});

t.test('sub with from: missed updates come from the log, then the snapshot; recovered: false when the log cannot tell', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_PARTITIONS: String(PARTITIONS), HUNT_LOG_RETENTION_EVENTS: '100' });
  t.teardown(() => engine.stop());
  const key = 'player:bo';
  const producer = await TestClient.connect(engine.port);
  await producer.welcome();
  await publish(producer, [key], 10, 1, 1);

  const subscriber = await TestClient.connect(engine.port);
  await subscriber.welcome();
  t.same(await subscriber.request({ op: 'sub', id: 1, keys: [key], from: 4 }), { op: 'ack', id: 1, recovered: true, __binary: false });
  const missed = await subscriber.next((m) => m.op === 'missed');
  t.same(missed.events.map((e: Message) => [e.version, e.data.n]), [5, 6, 7, 8, 9, 10].map((v) => [v, v]), 'versions 5..10 with their data');
  t.match(await subscriber.next((m) => m.op === 'update'), { key, meta: { version: 10 } }, 'then the snapshot');
  await publish(producer, [key], 1, 1, 11);
  t.match(await subscriber.next((m) => m.op === 'update'), { key, meta: { version: 11, fields: { n: 11 } } }, 'then live');

  const current = await TestClient.connect(engine.port);
  await current.welcome();
  t.match(await current.request({ op: 'sub', id: 2, keys: [key], from: 11 }), { recovered: true });
  t.same((await current.next((m) => m.op === 'missed')).events, [], 'nothing missed');
  t.match(await current.request({ op: 'sub', id: 3, keys: ['nobody'], from: 3 }), { recovered: false }, 'ahead of the key: cannot be recovered');

  // Push the key's old entries out of the retention (100 entries of its partition).
  await publish(producer, keysIn(partitionOf(key, PARTITIONS), 30), 300, 50, 100);
  const late = await TestClient.connect(engine.port);
  await late.welcome();
  t.match(await late.request({ op: 'sub', id: 4, keys: [key], from: 2 }), { op: 'ack', recovered: false });
  t.match(await late.next((m) => m.op === 'update'), { key, meta: { version: 11 } }, 'the snapshot is the new starting point');
  t.notOk(late.received.some((m) => m.op === 'missed'), 'no missed message');
  t.match(await late.request({ op: 'sub', id: 5, keys: [key, 'x'], from: 2 }), { code: 'BAD_FRAME', message: /exactly one key/ });
  t.match(await late.request({ op: 'sub', id: 6, keys: [key], from: -1 }), { code: 'BAD_FRAME', message: /"from" must be an integer/ });
  t.match(await late.request({ op: 'unsub', id: 7, keys: [key], from: 1 }), { code: 'BAD_FRAME', message: /unknown field "from"/ });
  for (const client of [producer, subscriber, current, late]) await client.close();
});

t.test('sub with from while the log is off: recovered false, the snapshot follows', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  t.match(await client.request({ op: 'pub', id: 1, events: [{ key: 'k', type: 't' }, { key: 'k', type: 't' }] }), { op: 'ack' });
  t.match(await client.request({ op: 'sub', id: 2, keys: ['k'], from: 1 }), { op: 'ack', recovered: false });
  t.match(await client.next((m) => m.op === 'update'), { key: 'k', meta: { version: 2 } });
  t.match(await client.request({ op: 'replay', id: 3, key: 'k', follow: true }), { code: 'UNSUPPORTED' });
  await client.close();
});
