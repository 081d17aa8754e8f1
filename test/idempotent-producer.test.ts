// Idempotent producers: hello, strictly increasing seq, re-sends acked with dup and not applied
// again — across reconnects and restarts, per partition — fencing, and bounded producer state.
import t from 'tap';
import { getKey, startEngine, tempDir, TestClient } from './helpers.js';
import type { Engine } from '../src/main/control/engine.js';
import { partitionOf } from '../src/shared/partition.js';
import { StoreSet } from '../src/shared/store.js';

async function producer(engine: Engine, name: string, encoding: 'json' | 'msgpack' = 'json'): Promise<TestClient> {
  const client = await TestClient.connect(engine.port, encoding === 'json' ? [] : ['hunt.v1.msgpack']);
  await client.welcome();
  const reply = await client.request({ op: 'hello', id: 0, producer: name }, encoding);
  if (reply.op !== 'ack') throw new Error(`hello refused: ${JSON.stringify(reply)}`);
  return client;
}

const pub = (id: number, seq: number, keys: string[]) => ({ op: 'pub', id, seq, events: keys.map((key) => ({ key, type: 'tick', data: { seq } })) });

async function counts(engine: Engine, keys: string[]): Promise<number[]> {
  return Promise.all(keys.map(async (key) => (await getKey(engine.port, key)).body?.count ?? 0));
}

t.test('a re-send after reconnect and after restart is acked with dup and applied once', async (t) => {
  const dataDir = tempDir(t);
  const env = { HUNT_DATA_DIR: dataDir, HUNT_DURABILITY: 'sync' };
  let engine = await startEngine(env);
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  let client = await producer(engine, 'p1', 'msgpack');
  for (let seq = 1; seq <= 5; seq++) t.same(await client.request(pub(seq, seq, keys), 'msgpack'), { op: 'ack', id: seq, __binary: true });
  t.same(await counts(engine, keys), [5, 5, 5, 5, 5, 5]);
  await client.close();

  client = await producer(engine, 'p1');
  t.same(await client.request(pub(4, 4, keys)), { op: 'ack', id: 4, dup: true, __binary: false }, 'the same seq again: dup');
  t.same(await client.request(pub(5, 5, keys)), { op: 'ack', id: 5, dup: true, __binary: false });
  t.match(await client.request(pub(50, 5, keys)), { op: 'error', code: 'BAD_FRAME', message: /not above 5/ }, 'not increasing within a connection');
  t.same(await client.request(pub(6, 6, keys)), { op: 'ack', id: 6, __binary: false });
  t.same(await counts(engine, keys), [6, 6, 6, 6, 6, 6], 're-sends changed nothing');
  await client.close();
  await engine.stop();

  engine = await startEngine(env);
  client = await producer(engine, 'p1');
  t.same(await client.request(pub(6, 6, keys)), { op: 'ack', id: 6, dup: true, __binary: false }, 'the marks survived the restart');
  t.same(await client.request(pub(7, 7, keys)), { op: 'ack', id: 7, __binary: false });
  const other = await producer(engine, 'p2');
  t.same(await other.request(pub(1, 1, keys)), { op: 'ack', id: 1, __binary: false }, 'seqs are per producer');
  t.same(await counts(engine, keys), [8, 8, 8, 8, 8, 8]);
  await client.close();
  await other.close();
  await engine.stop();
});

t.test('a pub only partly taken before applies exactly the part that was not', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_PARTITIONS: '16' });
  t.teardown(() => engine.stop());
  const client = await producer(engine, 'partial');
  t.equal((await client.request(pub(1, 10, ['x', 'y']))).op, 'ack');
  await client.close();
  // seq 10 on a key whose partition never took it: that event is applied, the others are not.
  const again = await producer(engine, 'partial');
  const fresh = Array.from({ length: 64 }, (_, i) => `fresh-${i}`);
  const reply = await again.request(pub(2, 10, ['x', 'y', ...fresh]));
  t.same(reply, { op: 'ack', id: 2, __binary: false }, 'not a dup: some events were new');
  const [x, y] = await counts(engine, ['x', 'y']);
  const freshCounts = await counts(engine, fresh);
  t.same([x, y], [1, 1], 'x and y not applied twice');
  // A fresh key in a partition that took seq 10 (for x or y) counts as taken; all others apply.
  const took = new Set([partitionOf('x', 16), partitionOf('y', 16)]);
  t.same(freshCounts, fresh.map((key) => (took.has(partitionOf(key, 16)) ? 0 : 1)));
  t.ok(freshCounts.includes(0) && freshCounts.includes(1), 'the keys cover both cases');
  await again.close();
});

t.test('protocol rules: hello first and once, seq required and valid', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async' });
  t.teardown(() => engine.stop());
  const client = await producer(engine, 'rules');
  t.match(await client.request({ op: 'hello', id: 1, producer: 'rules' }), { code: 'BAD_FRAME', message: /first message/ }, 'hello twice');
  t.match(await client.request({ op: 'pub', id: 2, events: [{ key: 'k', type: 't' }] }), { code: 'BAD_FRAME', message: /needs "seq"/ });
  for (const seq of [0, -1, 1.5, '3', 2 ** 53]) {
    t.match(await client.request({ op: 'pub', id: 3, seq, events: [{ key: 'k', type: 't' }] }), { code: 'BAD_FRAME', id: 3 }, `seq ${seq}`);
  }
  t.match(await client.request({ op: 'pub', id: 4, seq: 9, events: [{ key: '', type: 't' }] }), { code: 'BAD_EVENT' });
  t.same(await client.request(pub(5, 9, ['k'])), { op: 'ack', id: 5, __binary: false }, 'a rejected pub does not spend its seq');
  await client.close();

  for (const producerName of ['', 42, 'x'.repeat(257), 'nul\u0000name', '\ud800']) {
    const bad = await TestClient.connect(engine.port);
    await bad.welcome();
    t.match(await bad.request({ op: 'hello', id: 1, producer: producerName }), { code: 'BAD_FRAME', message: /"producer" must be/ }, `producer ${JSON.stringify(producerName)}`);
    await bad.close();
  }
  const extra = await TestClient.connect(engine.port);
  await extra.welcome();
  t.match(await extra.request({ op: 'hello', id: 1, producer: 'p', epoch: 2 }), { code: 'BAD_FRAME', message: /unknown field "epoch"/ });
  await extra.close();
});

t.test('the same producer on a second connection fences the first off', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async' });
  t.teardown(() => engine.stop());
  const first = await producer(engine, 'twin');
  t.equal((await first.request(pub(1, 1, ['k']))).op, 'ack');
  const second = await producer(engine, 'twin');
  t.same(await first.closed, { code: 4001, reason: 'producer fenced: the same producer name connected again' });
  t.same(await second.request(pub(1, 1, ['k'])), { op: 'ack', id: 1, dup: true, __binary: false });
  t.same(await second.request(pub(2, 2, ['k'])), { op: 'ack', id: 2, __binary: false });
  t.same(await counts(engine, ['k']), [2]);
  await second.close();
});

t.test('producer state is bounded: idle producers expire, a full registry refuses hello', async (t) => {
  const dataDir = tempDir(t);
  const env = { HUNT_DATA_DIR: dataDir, HUNT_DURABILITY: 'sync', HUNT_MAX_PRODUCERS: '2', HUNT_PRODUCER_TTL_S: '60' };
  let engine = await startEngine(env);
  const a = await producer(engine, 'a');
  const b = await producer(engine, 'b');
  t.equal((await a.request(pub(1, 1, ['k']))).op, 'ack');
  t.equal((await b.request(pub(1, 1, ['k']))).op, 'ack');
  const c = await TestClient.connect(engine.port);
  await c.welcome();
  t.match(await c.request({ op: 'hello', id: 1, producer: 'c' }), { code: 'OVERLOADED', message: /HUNT_MAX_PRODUCERS/ });
  await c.close();
  await a.close();
  t.equal(await engine.expireProducers(Date.now() + 30_000), 0, 'not idle long enough');
  t.equal(await engine.expireProducers(Date.now() + 61_000), 1, 'a is gone; b is connected and stays');
  await b.close();
  await engine.stop();
  const stores = StoreSet.open(dataDir, engine.layout);
  const stored = new Set(stores.open.flatMap((store) => [...store.producers.getKeys()].map(([, name]) => name)));
  await stores.close();
  t.same([...stored], ['b'], 'the expiry reached LMDB: only b is kept');

  engine = await startEngine(env);
  const again = await producer(engine, 'a');
  t.same(await again.request(pub(1, 1, ['k'])), { op: 'ack', id: 1, __binary: false }, 'an expired producer starts over (documented)');
  t.same(await counts(engine, ['k']), [3]);
  await again.close();
  await engine.stop();
});
