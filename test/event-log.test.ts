// The per-partition event log: written with the batch, trimmed to the retention, paged by replay
// (per partition or per key), OUT_OF_RANGE below what is held, off by default.
import t from 'tap';
import { partitionOf } from '../src/shared/partition.js';
import { httpGet, startEngine, tempDir, TestClient } from './helpers.js';

t.test('replay pages through what a partition applied; retention trims the oldest', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync', HUNT_PARTITIONS: '4', HUNT_LOG_RETENTION_EVENTS: '50' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  const key = 'player:ann';
  const p = partitionOf(key, 4);
  for (let i = 1; i <= 10; i++) t.match(await client.request({ op: 'pub', id: i, events: [{ key, type: 'step', ts: i, data: { i } }] }), { op: 'ack' });

  const page = await client.request({ op: 'replay', id: 100, key, from: 0, limit: 4 });
  t.same(page.events.map((e: { data: { i: number } }) => e.data.i), [1, 2, 3, 4]);
  t.match(page.events[0], { offset: 1, key, type: 'step', ts: 1 });
  const rest = await client.request({ op: 'replay', id: 101, partition: p, from: page.next, limit: 100 });
  t.same(rest.events.map((e: { data: { i: number } }) => e.data.i), [5, 6, 7, 8, 9, 10]);
  t.equal(rest.next, null, 'caught up');

  // 100 more events on the same partition: only the last 50 are kept.
  const sameP = Array.from({ length: 400 }, (_, i) => `k${i}`).filter((k) => partitionOf(k, 4) === p).slice(0, 100);
  for (let i = 0; i < sameP.length; i += 25) t.match(await client.request({ op: 'pub', id: 200 + i, events: sameP.slice(i, i + 25).map((k) => ({ key: k, type: 'x' })) }), { op: 'ack' });
  const { body } = await httpGet(engine.port, '/v1/partitions');
  const info = body.partitions[p];
  t.equal(info.log.last, 10 + sameP.length);
  t.ok(info.log.last - info.log.first + 1 <= 50 + 25, `retention holds ~50 entries (${info.log.first}..${info.log.last})`);
  t.match(await client.request({ op: 'replay', id: 300, partition: p, from: 1 }), { code: 'OUT_OF_RANGE', message: new RegExp(`earliest held is ${info.log.first}`) });
  t.match(await client.request({ op: 'replay', id: 301, partition: 9 }), { code: 'BAD_FRAME', message: /"partition" must be an integer from 0 to 3/ });
  await client.close();
});

t.test('the log is off by default: replay says so, nothing is written', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  await client.welcome();
  t.match(await client.request({ op: 'pub', id: 1, events: [{ key: 'k', type: 't' }] }), { op: 'ack' });
  t.match(await client.request({ op: 'replay', id: 2, key: 'k' }), { code: 'UNSUPPORTED', message: /HUNT_LOG_RETENTION_EVENTS=0/ });
  const { body } = await httpGet(engine.port, '/v1/partitions');
  t.ok(body.partitions.every((p: { log: unknown }) => p.log === null), 'no log entries');
  await client.close();
});
