// Full rings: records wait in the bounded backlog without blocking the event loop, nothing is lost
// or reordered; past HUNT_MAX_BACKLOG_BYTES pubs get OVERLOADED and are not applied.
import t, { type Test } from 'tap';
import type { Engine } from '../src/main/control/engine.js';
import { getKey, metricSum, scrapeMetrics, startEngine, tempDir, TestClient, type Message } from './helpers.js';

const filler = 'x'.repeat(150);

async function flood(port: number, connections: number, pubs: number, keys: number): Promise<Message[]> {
  const replies: Promise<Message>[] = [];
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const client = await TestClient.connect(port, ['hunt.v1.msgpack']);
      await client.welcome();
      for (let i = 0; i < pubs; i++) {
        const events = Array.from({ length: 1000 }, (_, e) => ({ key: `k${(c * 31 + i * 7 + e) % keys}`, type: 't', data: { c, i, e, filler } }));
        replies.push(client.request({ op: 'pub', id: i, events }, 'msgpack').then((r) => ({ ...r, c })));
      }
    }),
  );
  return Promise.all(replies);
}

/** One worker behind the smallest ring, so a flood of 1,000-event pubs fills it. */
async function smallRingEngine(t: Test, env: Record<string, string>): Promise<Engine> {
  const engine = await startEngine({
    HUNT_DATA_DIR: tempDir(t),
    HUNT_WORKERS: '1',
    HUNT_RING_BYTES: String(1 << 20),
    HUNT_MAX_PAYLOAD_BYTES: '250000',
    ...env,
  });
  t.teardown(() => engine.stop());
  return engine;
}

t.test('a full ring spills into the backlog; every pub is acked and applied once, in order', async (t) => {
  const engine = await smallRingEngine(t, { HUNT_DURABILITY: 'async' });
  const replies = await flood(engine.port, 4, 25, 101);
  t.equal(replies.filter((r) => r.op === 'ack').length, 100, 'all 100 pubs acked');
  const [stats] = (await engine.inspect()).channels;
  t.ok(stats!.peakBacklogBytes > 0, `backlog used (peak ${stats!.peakBacklogBytes} bytes)`);
  t.equal(stats!.backlogBytes, 0, 'backlog drained');
  const backlogged = metricSum((await scrapeMetrics(engine.port)).text, 'hunt_backlogged_records_total');
  t.ok(backlogged > 0 && backlogged < 100_000, `the records that met the full ring are counted (${backlogged})`);
  let total = 0;
  for (let k = 0; k < 101; k++) {
    const { body } = await getKey(engine.port, `k${k}`);
    total += body.count;
    // The last writer of each key per connection is the highest (i, e) that mapped to it.
    for (let c = 0; c < 4; c++) {
      let last: [number, number] | null = null;
      for (let i = 0; i < 25; i++) for (let e = 0; e < 1000; e++) if ((c * 31 + i * 7 + e) % 101 === k) last = [i, e];
      if (body.fields.c === c && last !== null) t.same([body.fields.i, body.fields.e], last, `k${k} order`);
    }
  }
  t.equal(total, 100_000, 'every event applied exactly once');
});

t.test('past the backlog limit pubs get OVERLOADED and are not applied', async (t) => {
  const engine = await smallRingEngine(t, { HUNT_DURABILITY: 'sync', HUNT_MAX_BACKLOG_BYTES: String(1 << 20) });
  const replies = await flood(engine.port, 6, 30, 53);
  const acked = replies.filter((r) => r.op === 'ack').length;
  const overloaded = replies.filter((r) => r.code === 'OVERLOADED').length;
  t.equal(acked + overloaded, 180, 'every pub answered with ack or OVERLOADED');
  t.ok(overloaded > 0, `${overloaded} pubs refused, ${acked} acked`);
  t.ok((await engine.inspect()).channels[0]!.peakBacklogBytes < 2 * (1 << 20) + 250_000, 'backlog stayed near its bound');
  let total = 0;
  for (let k = 0; k < 53; k++) total += (await getKey(engine.port, `k${k}`)).body?.count ?? 0;
  t.equal(total, acked * 1000, 'exactly the acked pubs applied');
});
