// Abusive peers next to a well-behaved producer: one floods pubs without waiting for acks, one never
// reads its socket. The engine's memory stays under a bound set by its settings (the backlog cap, a
// ring, 4 MiB of unsent replies per socket) and the well-behaved producer gets every pub acked. A
// client that asks for replies it never reads is closed once 4 MiB of them wait.
//
// The engine and both abusers are processes of their own; the good producer runs here. Nothing is
// measured against the clock: the abusers run until the good producer is done.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { startEngineProcess, waitForOutput } from '../native-bench/engine-process.js';
import { getKey, httpGet, metricSum, scrapeMetrics, tempDir, TestClient, until } from './helpers.js';

const MIB = 2 ** 20;
const ABUSER = fileURLToPath(new URL('../native-bench/abusive-client.js', import.meta.url));
const GOOD_PUBS = 200;

/** An abusive client process, resolved once its socket is open and it is sending. */
async function startAbuser(t: Test, url: string, pubsPerTick: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [ABUSER, url, '600000', String(pubsPerTick)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  await waitForOutput(child, /sending/, 'an abusive client');
  return child;
}

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
  const abusers = [await startAbuser(t, url, 50), await startAbuser(t, url, 5)];
  // The good producer: GOOD_PUBS pubs in windows of 8 while both abusers keep going.
  let acked = 0;
  const refused: unknown[] = [];
  for (let id = 1000; id < 1000 + GOOD_PUBS; id += 8) {
    const batch = Array.from({ length: 8 }, (_, i) => good.request({ op: 'pub', id: id + i, events: Array.from({ length: 10 }, () => ({ key: 'good', type: 'ok' })) }, 'msgpack', 60_000));
    for (const reply of await Promise.all(batch)) {
      if (reply.op === 'ack') acked++;
      else refused.push(reply);
    }
  }
  const stillAbusing = abusers.filter((child) => child.exitCode === null).length;
  for (const child of abusers) child.kill('SIGKILL');
  clearInterval(sampler);

  // Bound: baseline + the backlog cap + the ring + 4 MiB unsent per socket + decoding room.
  const bound = baseline + backlogCap + ringBytes + 3 * 4 * MIB + 96 * MIB;
  t.ok(peak < bound, `peak RSS ${(peak / MIB).toFixed(0)} MiB (baseline ${(baseline / MIB).toFixed(0)}, bound ${(bound / MIB).toFixed(0)})`);
  t.same(refused, [], 'the good producer is never refused');
  t.equal(acked, Math.ceil(GOOD_PUBS / 8) * 8, 'every pub of the good producer acked');
  t.ok(stillAbusing >= 1, `${stillAbusing} abuser(s) still connected when the good producer finished (the flooder may be closed with 1008)`);
  t.equal((await getKey(engine.port, 'good')).body.count, 20 + acked * 10, 'exactly the acked good events applied');
  t.equal(await engine.stop(), 0, 'orderly stop afterwards');
  await good.close();
});

t.test('a client that does not read its replies is closed once 4 MiB of them wait', async (t) => {
  const engine = await startEngineProcess({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_WORKERS: '1' });
  t.teardown(() => engine.stop('SIGKILL'));
  const writer = await TestClient.connect(engine.port);
  await writer.welcome();
  t.match(await writer.request({ op: 'pub', id: 1, events: [{ key: 'big', type: 't', data: { pad: 'x'.repeat(200_000) } }] }), { op: 'ack' });

  const reader = await TestClient.connect(engine.port);
  await reader.welcome();
  const socket = (reader.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  socket.pause();
  // 200 answers of ~200 KB: 40 MB the client does not read, far past what the kernel's buffers
  // and the engine's 4 MiB hold.
  for (let id = 0; id < 200; id++) reader.send({ op: 'get', id, key: 'big' });
  const connections = async () => metricSum((await scrapeMetrics(engine.port)).text, 'hunt_connections');
  await until('the engine to close the non-reading client', async () => (await connections()) === 1);
  socket.resume();
  const closed = await reader.closed;
  t.pass(`the non-reading client was closed (${closed.code}) with ${reader.received.length} of its 200 answers delivered`);
  t.ok(reader.received.length < 200, 'it did not get them all');
  t.equal((await httpGet(engine.port, '/healthz')).status, 200, 'the engine is fine');
  t.match(await writer.request({ op: 'get', id: 2, key: 'big' }), { op: 'meta', meta: { version: 1 } }, 'other clients are served');
  await writer.close();
});
