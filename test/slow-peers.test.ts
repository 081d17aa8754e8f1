// Abusive peers next to a well-behaved producer: one floods pubs without waiting for acks, one never
// reads its socket. The engine's memory stays under a bound set by its settings (the backlog cap, a
// ring, 4 MiB of unsent replies per socket) and the well-behaved producer gets every pub acked.
import t from 'tap';
import { runAbusiveClient } from '../native-bench/abusive-client.js';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { getKey, tempDir, TestClient } from './helpers.js';

const MIB = 2 ** 20;
const ABUSE_MS = 4000;

t.test('a flooding producer and a non-reading client do not grow memory or starve a good producer', async (t) => {
  const backlogCap = 16 * MIB;
  const ringBytes = 8 * MIB;
  const engine = await startEngineProcess({
    HUNT_DATA_DIR: tempDir(t),
    HUNT_DURABILITY: 'async',
    HUNT_WORKERS: '1',
    HUNT_MAX_BACKLOG_BYTES: String(backlogCap),
    HUNT_RING_BYTES: String(ringBytes),
  });
  t.teardown(() => engine.stop('SIGKILL'));
  const good = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await good.welcome();
  const warm = await Promise.all(Array.from({ length: 20 }, (_, i) => good.request({ op: 'pub', id: i, events: [{ key: 'good', type: 'ok' }] }, 'msgpack')));
  t.ok(warm.every((r) => r.op === 'ack'));
  const baseline = engine.rssBytes();

  const url = `ws://127.0.0.1:${engine.port}/v1/stream`;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, engine.rssBytes())), 50);
  const abusers = Promise.all([runAbusiveClient(url, ABUSE_MS, 50), runAbusiveClient(url, ABUSE_MS, 5)]);
  // The good producer: a window of 8 pubs, for as long as the abuse lasts.
  let acked = 0;
  const refused: unknown[] = [];
  let id = 1000;
  const started = performance.now();
  while (performance.now() - started < ABUSE_MS) {
    const batch = Array.from({ length: 8 }, () => good.request({ op: 'pub', id: id++, events: Array.from({ length: 10 }, () => ({ key: 'good', type: 'ok' })) }, 'msgpack'));
    for (const reply of await Promise.all(batch)) {
      if (reply.op === 'ack') acked++;
      else refused.push(reply);
    }
  }
  const [flood, quiet] = await abusers;
  clearInterval(sampler);

  // Bound: baseline + the backlog cap + the ring + 4 MiB unsent per socket + decoding room.
  const bound = baseline + backlogCap + ringBytes + 3 * 4 * MIB + 96 * MIB;
  t.ok(peak < bound, `peak RSS ${(peak / MIB).toFixed(0)} MiB (baseline ${(baseline / MIB).toFixed(0)}, bound ${(bound / MIB).toFixed(0)})`);
  t.same(refused, [], 'the good producer is never refused');
  t.ok(acked >= 80, `the good producer kept going: ${acked} pubs acked in ${ABUSE_MS} ms`);
  t.ok(flood.sent > 0 && quiet.sent > 0, `abusers sent ${flood.sent} and ${quiet.sent} pubs (flood closed by the engine: ${flood.closedByEngine})`);
  t.equal((await getKey(engine.port, 'good')).body.count, 20 + acked * 10, 'exactly the acked good events applied');
  t.equal(await engine.stop(), 0, 'orderly stop afterwards');
  await good.close();
});
