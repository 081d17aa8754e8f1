// Live subscriptions over real sockets: exact keys (with a snapshot) and prefixes, updates in commit
// order per key, unsub, no change notices at all while nobody subscribes, and a subscriber that
// stops reading is told it is lagging and dropped rather than silently missing updates.
import t from 'tap';
import { startEngine, tempDir, TestClient, until, type Message } from './helpers.js';

/** Collects `update` messages as they arrive. */
function updates(client: TestClient): Message[] {
  const seen: Message[] = [];
  client.ws.on('message', (data: Buffer, isBinary: boolean) => {
    const message = isBinary ? null : JSON.parse(data.toString());
    if (message?.op === 'update') seen.push(message);
  });
  return seen;
}

t.test('exact keys and prefixes: snapshot, then every change in commit order; unsub stops them', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync' });
  t.teardown(() => engine.stop());
  const producer = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await producer.welcome();
  const pub = (id: number, keys: string[]) => producer.request({ op: 'pub', id, events: keys.map((key) => ({ key, type: 't', data: { id } })) }, 'msgpack');
  t.equal((await pub(1, ['hunt:7/a'])).op, 'ack');
  t.same((await engine.inspect()).channels.map((c) => c.notices), [0, 0], 'nobody subscribed: no change notices at all');

  const exact = await TestClient.connect(engine.port);
  await exact.welcome();
  const exactUpdates = updates(exact);
  t.same(await exact.request({ op: 'sub', id: 1, keys: ['hunt:7/a', 'nobody-yet'] }), { op: 'ack', id: 1, __binary: false });
  t.equal((await pub(100, Array.from({ length: 40 }, (_, i) => `other:${i}`))).op, 'ack');
  t.same((await engine.inspect()).channels.map((c) => c.notices), [0, 0], 'changes of keys nobody subscribed to make no notices');
  const prefix = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await prefix.welcome();
  t.match(await prefix.request({ op: 'sub', id: 2, prefixes: ['hunt:7/'] }, 'msgpack'), { op: 'ack', id: 2 });

  for (let i = 2; i <= 30; i++) t.equal((await pub(i, ['hunt:7/a', 'hunt:7/b', 'hunt:8/a', 'nobody-yet'].slice(0, 1 + (i % 4)))).op, 'ack');
  const finalState = (u: Message) => u.op === 'update' && u.key === 'hunt:7/a' && u.meta.version === 30;
  await until('both subscribers to see the last change', () => exactUpdates.some(finalState) && prefix.received.some(finalState));
  const a = exactUpdates.filter((u) => u.key === 'hunt:7/a');
  t.equal(a[0]!.meta.version, 1, 'the snapshot comes first');
  t.ok(a.every((u, i) => i === 0 || u.meta.version > a[i - 1]!.meta.version), 'versions only increase');
  t.equal(a.at(-1)!.meta.version, 30, 'the last update is the final state');
  t.ok(exactUpdates.every((u) => u.key === 'hunt:7/a' || u.key === 'nobody-yet'), 'only subscribed keys');
  t.ok(exactUpdates.some((u) => u.key === 'nobody-yet'), 'a key created after the sub is delivered');
  const prefixUpdates = prefix.received.filter((m) => m.op === 'update');
  t.ok(prefixUpdates.length > 0 && prefixUpdates.every((u) => u.key.startsWith('hunt:7/')), `prefix updates only for hunt:7/ (${prefixUpdates.length})`);
  t.ok(prefixUpdates.some((u) => u.key === 'hunt:7/b') && prefixUpdates.every((u) => u.__binary), 'in the subscriber\'s encoding');

  t.same(await exact.request({ op: 'unsub', id: 3, keys: ['hunt:7/a', 'nobody-yet'] }), { op: 'ack', id: 3, __binary: false });
  t.same(await exact.request({ op: 'sub', id: 4, keys: ['marker'] }), { op: 'ack', id: 4, __binary: false });
  const before = exactUpdates.length;
  t.equal((await pub(31, ['hunt:7/a'])).op, 'ack');
  // Notices reach a connection in commit order: once the marker's update is here, any update of
  // pub 31 would have come before it.
  t.equal((await pub(32, ['marker'])).op, 'ack');
  await until('the marker\'s update', () => exactUpdates.some((u) => u.key === 'marker'));
  t.equal(exactUpdates.length, before + 1, 'no update after unsub: only the marker\'s');
  await exact.close();
  await prefix.close();
  await until('the engine to see both subscribers leave', async () => (await engine.inspect()).subscribers === 0);
  const notices = (await engine.inspect()).channels.reduce((n, c) => n + c.notices, 0);
  t.equal((await pub(33, ['hunt:7/a', 'hunt:8/a'])).op, 'ack');
  t.equal((await engine.inspect()).channels.reduce((n, c) => n + c.notices, 0), notices, 'after the last subscriber left, no notices again');
  await producer.close();
});

t.test('a subscriber that stops reading gets lagging and is dropped', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_SUBSCRIBER_MAX_LAG_BYTES: '65536' });
  t.teardown(() => engine.stop());
  const slow = await TestClient.connect(engine.port);
  await slow.welcome();
  t.match(await slow.request({ op: 'sub', id: 1, prefixes: ['big:'] }), { op: 'ack' });
  const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  socket.pause();
  const producer = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await producer.welcome();
  const pad = 'x'.repeat(20_000);
  for (let i = 0; i < 80; i++) {
    const reply = await producer.request({ op: 'pub', id: i, events: Array.from({ length: 20 }, (_, e) => ({ key: `big:${e}`, type: 't', data: { pad, i } })) }, 'msgpack');
    if (reply.op !== 'ack') t.fail(`pub ${i}: ${JSON.stringify(reply)}`);
  }
  socket.resume();
  const closed = await slow.closed;
  t.same(closed, { code: 4002, reason: 'lagging: updates not read' });
  t.ok(slow.received.some((m) => m.op === 'lagging'), 'told it was lagging before the close');
  const fresh = await TestClient.connect(engine.port);
  await fresh.welcome();
  t.match(await fresh.request({ op: 'sub', id: 1, keys: ['big:3'] }), { op: 'ack' });
  t.match(await fresh.next((m) => m.op === 'update'), { key: 'big:3', meta: { version: 80 } }, 'a new subscription starts from a fresh snapshot');
  await fresh.close();
  await producer.close();
});

t.test('when a worker thread dies, subscribers are told they may have missed updates', async (t) => {
  const fired = new SharedArrayBuffer(4);
  const engine = await startEngine(
    { HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_WORKERS: '1', HUNT_BATCH_MAX_EVENTS: '100' },
    { workerFault: { point: 'after-commit', batch: 2, fired } },
  );
  t.teardown(() => engine.stop());
  const subscriber = await TestClient.connect(engine.port);
  await subscriber.welcome();
  t.match(await subscriber.request({ op: 'sub', id: 1, prefixes: ['k'] }), { op: 'ack' });
  const producer = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await producer.welcome();
  const replies = [];
  for (let i = 0; i < 20; i++) replies.push(producer.request({ op: 'pub', id: i, events: Array.from({ length: 30 }, (_, e) => ({ key: `k${e}`, type: 't' })) }, 'msgpack'));
  t.ok((await Promise.all(replies)).every((r) => r.op === 'ack'), 'every pub acked despite the restart');
  t.equal(engine.pool.restartCount, 1);
  t.same(await subscriber.closed, { code: 4002, reason: 'lagging: updates not read' });
  t.match(subscriber.received.find((m) => m.op === 'lagging'), { message: /a partition worker restarted/ });
  await producer.close();
});
