// End to end over a real WebSocket: pub (JSON and MessagePack) → ack → read back over HTTP and the
// get op, with real worker threads and LMDB files.
import t from 'tap';
import { getKey, httpGet, startEngine, tempDir, TestClient } from './helpers.js';

t.test('JSON and MessagePack pubs are acked, then readable over HTTP and get', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'sync' });
  t.teardown(() => engine.stop());

  const json = await TestClient.connect(engine.port);
  const welcome = await json.welcome();
  t.match(welcome, { op: 'welcome', v: 1, encoding: 'json', partitions: 64, maxInFlight: 256, maxEventsPerPub: 10000 });
  const ack = await json.request({
    op: 'pub',
    id: 1,
    events: [
      { key: 'player:1', type: 'join', ts: 1000, data: { name: 'Ann', zone: 'north' } },
      { key: 'player:1', type: 'clue', ts: 2000, data: { points: 5 } },
      { key: 'player:2', type: 'join', ts: 1500 },
    ],
  });
  t.same(ack, { op: 'ack', id: 1, __binary: false });

  const bin = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  t.match(await bin.welcome(), { encoding: 'msgpack', __binary: true });
  const binAck = await bin.request({ op: 'pub', id: 7, events: [{ key: 'player:1', type: 'clue', ts: 3000, data: { points: 9, nested: { a: [1, 2] } } }] }, 'msgpack');
  t.same(binAck, { op: 'ack', id: 7, __binary: true });

  const expected = {
    version: 3,
    count: 3,
    firstTs: 1000,
    lastTs: 3000,
    lastType: 'clue',
    types: { join: 1, clue: 2 },
    fields: { name: 'Ann', zone: 'north', points: 9, nested: { a: [1, 2] } },
  };
  const http = await getKey(engine.port, 'player:1');
  t.equal(http.status, 200);
  t.same(http.body, expected);

  const meta = await bin.request({ op: 'get', id: 8, key: 'player:1' }, 'msgpack');
  t.same(meta, { op: 'meta', id: 8, key: 'player:1', meta: expected, __binary: true });
  const viaJson = await json.request({ op: 'get', id: 2, key: 'player:2' });
  t.match(viaJson.meta, { version: 1, count: 1, firstTs: 1500, lastTs: 1500, lastType: 'join', types: { join: 1 }, fields: {} });

  t.same(await json.request({ op: 'get', id: 3, key: 'nobody' }), { op: 'meta', id: 3, key: 'nobody', meta: null, __binary: false });
  t.equal((await getKey(engine.port, 'nobody')).status, 404);
  await json.close();
  await bin.close();
});

t.test('keys with slashes, spaces, percent signs and non-ASCII round-trip', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async' });
  t.teardown(() => engine.stop());
  const client = await TestClient.connect(engine.port);
  const keys = ['hunt:7/zone 3', '100% sure', 'über/ключ/宝藏', 'emoji 🗝️ key', 'a+b?c#d&e=f', '/leading/slash/', '..'];
  const reply = await client.request({ op: 'pub', id: 1, events: keys.map((key, i) => ({ key, type: 't', data: { i } })) });
  t.equal(reply.op, 'ack');
  for (const [i, key] of keys.entries()) {
    const http = await getKey(engine.port, key);
    t.equal(http.status, 200, key);
    t.same(http.body.fields, { i }, key);
    t.match((await client.request({ op: 'get', id: 100 + i, key })).meta, { count: 1, fields: { i } }, key);
  }
  const bad = await httpGet(engine.port, '/v1/keys/%E0%A4%A');
  t.equal(bad.status, 400);
  t.match(bad.body, { error: 'BAD_KEY' });
  await client.close();
});

t.test('8 concurrent producers over overlapping keys: exact per-key counts and order', async (t) => {
  const engine = await startEngine({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_PARTITIONS: '16' });
  t.teardown(() => engine.stop());
  const producers = 8;
  const pubsEach = 60;
  const keys = 37;
  const expected = new Map<string, number>();
  await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      const client = await TestClient.connect(engine.port, p % 2 === 0 ? ['hunt.v1.msgpack'] : []);
      const encoding = p % 2 === 0 ? 'msgpack' : 'json';
      const replies: Promise<Record<string, unknown>>[] = [];
      for (let i = 0; i < pubsEach; i++) {
        const events = [];
        for (let e = 0; e < 25; e++) {
          const key = `k${(p * 7 + i * 3 + e) % keys}`;
          expected.set(key, (expected.get(key) ?? 0) + 1);
          // Per producer, `seq` increases; the last merged value per key must be the last sent.
          events.push({ key, type: `p${p}`, data: { [`last${p}`]: i * 100 + e } });
        }
        replies.push(client.request({ op: 'pub', id: i, events }, encoding));
      }
      for (const r of await Promise.all(replies)) t.equal(r.op, 'ack');
      await client.close();
    }),
  );
  for (const [key, count] of expected) {
    const { body } = await getKey(engine.port, key);
    t.equal(body.count, count, `count of ${key}`);
    t.equal(body.version, count);
    // Per-key order: each producer's last value for the key is its highest.
    for (const [field, value] of Object.entries(body.fields as Record<string, number>)) {
      const p = Number(field.slice(4));
      let highest = -1;
      for (let i = 0; i < pubsEach; i++) for (let e = 0; e < 25; e++) if (`k${(p * 7 + i * 3 + e) % keys}` === key) highest = i * 100 + e;
      t.equal(value, highest, `${key}.${field}`);
    }
  }
});
