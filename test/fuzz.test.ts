// Fuzz: 100,000 random and mutated frames (JSON text and MessagePack binary) against a live engine
// process, while a well-behaved producer publishes alongside. Afterwards the engine is alive and
// ready, its memory is back near where it started, and exactly the well-formed traffic was applied.
import t from 'tap';
import WebSocket from 'ws';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { seededRandom } from '../native-bench/random.js';
import { getKey, httpGet, tempDir, TestClient, wire } from './helpers.js';

const FRAMES = 100_000;
const FUZZ_CONNECTIONS = 4;
/** Unanswered fuzz frames per connection before the fuzzer waits for replies. */
const FUZZ_WINDOW = 256;
const GOOD_PUBS = 400;
const GOOD_WINDOW = 64;
const GOOD_KEYS = 17;

/** A random value of the kinds decoders produce, nested a little. */
function randomValue(random: () => number, depth: number): unknown {
  const pick = Math.floor(random() * (depth > 3 ? 6 : 9));
  switch (pick) {
    case 0: return null;
    case 1: return random() < 0.5;
    case 2: return Math.floor((random() - 0.5) * 2 ** (random() * 60));
    case 3: return random() * 1e6;
    case 4: return ['__proto__', 'constructor', 'fuzz:k', '', 'é宝', 'x'.repeat(Math.floor(random() * 600))][Math.floor(random() * 6)];
    case 5: return ['pub', 'get', 'hello', 'sub', 'op'][Math.floor(random() * 5)];
    case 6: return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
    default: {
      const map: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 4); i > 0; i--) {
        map[['op', 'id', 'events', 'key', 'type', 'data', 'ts', 'seq', 'producer', '__proto__'][Math.floor(random() * 10)]!] = randomValue(random, depth + 1);
      }
      return map;
    }
  }
}

/** A frame that is almost right: a plausible message on fuzz keys, then perhaps mutated. */
function plausibleMessage(random: () => number, id: number): unknown {
  const events = Array.from({ length: 1 + Math.floor(random() * 4) }, (_, i) => ({
    key: `fuzz:${Math.floor(random() * 50)}`,
    type: random() < 0.9 ? 'fuzz' : randomValue(random, 2),
    ...(random() < 0.5 ? { data: { n: randomValue(random, 2), [`f${i}`]: randomValue(random, 1) } } : {}),
    ...(random() < 0.1 ? { ts: randomValue(random, 3) } : {}),
  }));
  const op = random() < 0.85 ? 'pub' : ['get', 'hello', 'sub', 'nope'][Math.floor(random() * 4)];
  return { op, id: random() < 0.95 ? id : randomValue(random, 3), events, key: 'fuzz:1', producer: 'fuzzer' };
}

function mutate(bytes: Buffer, random: () => number): Buffer {
  const out = Buffer.from(bytes);
  const kind = Math.floor(random() * 4);
  if (kind === 0 && out.length > 1) return out.subarray(0, Math.floor(random() * out.length)); // truncate
  const flips = 1 + Math.floor(random() * 3);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(random() * out.length);
    if (kind === 1) out[at] = Math.floor(random() * 256);
    else if (kind === 2) out[at] = [0xc1, 0xd4, 0xc7, 0xdd, 0xdf, 0xcf, 0xff, 0x00][Math.floor(random() * 8)]!;
    else out[at] ^= 1 << Math.floor(random() * 8);
  }
  return out;
}

/** Frame number i of the fuzz stream: [payload, isBinary]. Text frames are always valid UTF-8. */
function fuzzFrame(random: () => number, i: number): [Buffer | string, boolean] {
  const r = random();
  if (r < 0.15) return [Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256))), true];
  if (r < 0.5) return [mutate(Buffer.from(wire.pack(plausibleMessage(random, i))), random), true];
  if (r < 0.6) return [Buffer.from(wire.pack(randomValue(random, 0))), true];
  if (r < 0.9) return [mutate(Buffer.from(JSON.stringify(plausibleMessage(random, i))), random).toString('utf8'), false];
  return [JSON.stringify(randomValue(random, 0)) ?? 'null', false];
}

/** Sends its share of the fuzz frames, never more than FUZZ_WINDOW unanswered; reconnects if closed. */
async function fuzzConnection(port: number, from: number, to: number, seed: number): Promise<{ sent: number; closes: number }> {
  const random = seededRandom(seed);
  let next = from;
  let closes = 0;
  while (next < to) {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, ['hunt.v1.msgpack']);
      let unanswered = 0;
      let welcomed = false;
      const pump = () => {
        while (unanswered < FUZZ_WINDOW && next < to && ws.readyState === WebSocket.OPEN) {
          const [payload, binary] = fuzzFrame(random, next++);
          ws.send(payload, { binary });
          unanswered++;
        }
        if (next >= to && ws.readyState === WebSocket.OPEN) ws.close();
      };
      // A hello without an id gets no answer: if the replies stop, stop waiting for them.
      let lastReply = performance.now();
      const stall = setInterval(() => {
        if (welcomed && unanswered > 0 && performance.now() - lastReply > 250) {
          unanswered = 0;
          pump();
        }
      }, 100);
      ws.on('message', () => {
        lastReply = performance.now();
        if (!welcomed) {
          welcomed = true;
          return pump();
        }
        unanswered = Math.max(0, unanswered - 1);
        if (unanswered < FUZZ_WINDOW / 2) pump();
      });
      ws.on('error', () => {});
      ws.on('close', (code) => {
        clearInterval(stall);
        if (next < to && code !== 1000 && code !== 1005) closes++;
        resolve();
      });
    });
  }
  return { sent: to - from, closes };
}

t.test('100,000 random and mutated frames: engine alive, memory back, good traffic exact', async (t) => {
  const engine = await startEngineProcess({ HUNT_DATA_DIR: tempDir(t), HUNT_DURABILITY: 'async', HUNT_WORKERS: '1', HUNT_LOG_LEVEL: 'info' });
  t.teardown(() => engine.stop('SIGKILL'));

  const good = await TestClient.connect(engine.port, ['hunt.v1.msgpack']);
  await good.welcome();
  const goodCounts = new Map<string, number>();
  // A well-behaved producer: at most GOOD_WINDOW pubs unanswered, well under the engine's
  // maxInFlight (256), which a slow CI machine's acks could otherwise let it pass (OVERLOADED).
  const publishGood = async (first: number, pubs: number) => {
    const replies = [];
    for (let i = first; i < first + pubs; i++) {
      if (replies.length >= GOOD_WINDOW) await replies[replies.length - GOOD_WINDOW];
      const events = Array.from({ length: 5 }, (_, e) => ({ key: `good:${(i + e * 3) % GOOD_KEYS}`, type: 'ok', data: { i } }));
      for (const event of events) goodCounts.set(event.key, (goodCounts.get(event.key) ?? 0) + 1);
      replies.push(good.request({ op: 'pub', id: i, events }, 'msgpack'));
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    return Promise.all(replies);
  };
  // Warm up (JIT, first LMDB pages) before taking the memory baseline.
  for (const reply of await publishGood(0, 50)) t.equal(reply.op, 'ack');
  const baseline = engine.rssBytes();

  const share = FRAMES / FUZZ_CONNECTIONS;
  const [fuzzed, goodReplies] = await Promise.all([
    Promise.all(Array.from({ length: FUZZ_CONNECTIONS }, (_, c) => fuzzConnection(engine.port, c * share, (c + 1) * share, 7919 + c))),
    publishGood(50, GOOD_PUBS - 50),
  ]);
  t.equal(fuzzed.reduce((n, f) => n + f.sent, 0), FRAMES, 'all fuzz frames sent');
  t.ok(goodReplies.every((r) => r.op === 'ack'), 'every well-formed pub sent alongside was acked');

  t.same(await httpGet(engine.port, '/healthz'), { status: 200, body: { status: 'ok' } }, 'alive');
  t.same(await httpGet(engine.port, '/readyz'), { status: 200, body: { status: 'ready' } }, 'ready');
  for (const [key, count] of goodCounts) {
    const { body } = await getKey(engine.port, key);
    t.equal(body.count, count, `${key}: exactly the well-formed events`);
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined);

  // Memory: give the engine a moment of quiet (idle GC), then compare with the baseline.
  await new Promise((r) => setTimeout(r, 2000));
  const after = engine.rssBytes();
  const bound = baseline + 96 * 2 ** 20;
  t.ok(after < bound, `RSS ${(after / 2 ** 20).toFixed(0)} MiB after the fuzz, ${(baseline / 2 ** 20).toFixed(0)} MiB before (bound ${(bound / 2 ** 20).toFixed(0)} MiB)`);
  t.equal(await engine.stop(), 0, 'orderly stop after the fuzz');
  await good.close();
});
