// Fuzz: 100,000 random and mutated frames (JSON text and MessagePack binary) against a live engine
// process, while a well-behaved producer publishes alongside. Afterwards the engine is alive and
// ready, its memory is back near where it started, and what it applied is exactly what it acked:
// every key's count equals the events of the acked pubs (the fuzzer's, read from the frames it
// sent, and the good producer's). Prototype pollution is checked in-process by bad-input.test.ts.
import t from 'tap';
import WebSocket from 'ws';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { seededRandom } from '../native-bench/random.js';
import { decodeFrame } from '../src/main/connections/protocol.js';
import { isPlainObject } from '../src/shared/event-checks.js';
import { httpGet, tempDir, TestClient, wire } from './helpers.js';

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
  const message: Record<string, unknown> = { op, id: random() < 0.95 ? id : randomValue(random, 3), events };
  // Mostly the fields of a pub only, so that many fuzzed pubs are taken; sometimes those of the other ops.
  if (op !== 'pub' || random() < 0.3) Object.assign(message, { key: 'fuzz:1', producer: 'fuzzer' });
  return message;
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

/** What the fuzzer knows of the requests in flight on one connection, by id. */
type Pending = Map<number, { keys: string[]; pub: boolean; ambiguous: boolean; unanswered: number }>;

/** Notes a frame sent: as the engine will decode it, the keys of a pub's events (by request id). */
function noteSent(pending: Pending, payload: Buffer | string, binary: boolean): void {
  let message: unknown;
  try {
    message = binary ? decodeFrame((payload as Buffer).buffer.slice((payload as Buffer).byteOffset, (payload as Buffer).byteOffset + (payload as Buffer).length) as ArrayBuffer, true) : JSON.parse(payload as string);
  } catch {
    return; // refused whole: no id to answer
  }
  if (!isPlainObject(message) || typeof message.id !== 'number') return;
  const pub = message.op === 'pub' && Array.isArray(message.events);
  const keys = pub ? (message.events as unknown[]).map((e) => (isPlainObject(e) && typeof e.key === 'string' ? e.key : '')) : [];
  const earlier = pending.get(message.id);
  // Two requests with one id in flight: an ack cannot be told apart; its keys go unverified.
  pending.set(
    message.id,
    earlier === undefined ? { keys, pub, ambiguous: false, unanswered: 1 } : { keys: [...earlier.keys, ...keys], pub: pub || earlier.pub, ambiguous: true, unanswered: earlier.unanswered + 1 },
  );
}

interface FuzzOutcome {
  sent: number;
  closes: number;
  /** Events of the acked (not dup) pubs, per key. */
  applied: Map<string, number>;
  /** Keys of acked pubs whose id another request shared. */
  unverifiable: Set<string>;
}

/** Sends its share of the fuzz frames, never more than FUZZ_WINDOW unanswered; reconnects if closed. */
async function fuzzConnection(port: number, from: number, to: number, seed: number): Promise<FuzzOutcome> {
  const random = seededRandom(seed);
  const outcome: FuzzOutcome = { sent: 0, closes: 0, applied: new Map(), unverifiable: new Set() };
  let next = from;
  while (next < to) {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, ['hunt.v1.msgpack']);
      const pending: Pending = new Map();
      let unanswered = 0;
      let welcomed = false;
      const pump = () => {
        while (unanswered < FUZZ_WINDOW && next < to && ws.readyState === WebSocket.OPEN) {
          const [payload, binary] = fuzzFrame(random, next++);
          noteSent(pending, payload, binary);
          ws.send(payload, { binary });
          outcome.sent++;
          unanswered++;
        }
        // Closed only once every request is answered (or the answers stopped): a pub taken and
        // applied but whose ack was cut off would look applied without an ack.
        if (next >= to && unanswered === 0 && ws.readyState === WebSocket.OPEN) ws.close();
      };
      // A hello without an id gets no answer: if the replies stop, stop waiting for them.
      let lastReply = performance.now();
      const stall = setInterval(() => {
        if (welcomed && unanswered > 0 && performance.now() - lastReply > 250) {
          unanswered = 0;
          pump();
        }
      }, 100);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        lastReply = performance.now();
        if (!welcomed) {
          welcomed = true;
          return pump();
        }
        const reply = (isBinary ? wire.unpack(data) : JSON.parse(data.toString())) as Record<string, unknown>;
        const request = typeof reply.id === 'number' ? pending.get(reply.id) : undefined;
        if (request !== undefined && reply.op !== 'update' && --request.unanswered === 0) pending.delete(reply.id as number);
        // A pub's ack (a hello's carries its seq); a dup was applied before, by an earlier ack.
        if (reply.op === 'ack' && request?.pub && reply.seq === undefined && reply.dup !== true) {
          for (const key of request.keys) {
            if (request.ambiguous) outcome.unverifiable.add(key);
            else outcome.applied.set(key, (outcome.applied.get(key) ?? 0) + 1);
          }
        }
        unanswered = Math.max(0, unanswered - 1);
        if (unanswered < FUZZ_WINDOW / 2) pump();
      });
      ws.on('error', () => {});
      ws.on('close', (code) => {
        clearInterval(stall);
        if (next < to && code !== 1000 && code !== 1005) outcome.closes++;
        // Pubs unanswered when the connection closed may or may not have been applied.
        for (const request of pending.values()) if (request.pub) for (const key of request.keys) outcome.unverifiable.add(key);
        resolve();
      });
    });
  }
  return outcome;
}

/** Every key the engine holds, with its record's count (GET /v1/keys, page by page). */
async function allCounts(port: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let after: string | null = '';
  while (after !== null) {
    const { body } = await httpGet(port, `/v1/keys?limit=1000${after === '' ? '' : `&after=${encodeURIComponent(after)}`}`);
    for (const { key, meta } of body.keys as { key: string; meta: { count: number } }[]) counts.set(key, meta.count);
    after = body.next as string | null;
  }
  return counts;
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
  t.equal(fuzzed.reduce((n, f) => n + f.sent, 0), FRAMES, 'every fuzz frame was sent');
  t.ok(goodReplies.every((r) => r.op === 'ack'), 'every well-formed pub sent alongside was acked');

  t.same(await httpGet(engine.port, '/healthz'), { status: 200, body: { status: 'ok' } }, 'alive');
  t.same(await httpGet(engine.port, '/readyz'), { status: 200, body: { status: 'ready' } }, 'ready');

  // Applied = acknowledged, key by key: the good producer's events and the fuzzer's acked pubs'.
  const expected = new Map(goodCounts);
  const unverifiable = new Set<string>();
  for (const f of fuzzed) {
    for (const [key, n] of f.applied) expected.set(key, (expected.get(key) ?? 0) + n);
    for (const key of f.unverifiable) unverifiable.add(key);
  }
  const actual = await allCounts(engine.port);
  for (const key of unverifiable) {
    expected.delete(key);
    actual.delete(key);
  }
  const fuzzedKeys = [...expected.keys()].filter((key) => !goodCounts.has(key)).length;
  t.ok(fuzzedKeys > 10, `the fuzzer's acked pubs wrote ${fuzzedKeys} keys (${unverifiable.size} left unverified: an acked id another request shared)`);
  t.same(Object.fromEntries([...actual].sort()), Object.fromEntries([...expected].sort()), 'every key holds exactly the events of the acked pubs');

  // Memory: give the engine a moment of quiet (idle GC), then compare with the baseline.
  await new Promise((r) => setTimeout(r, 2000));
  const after = engine.rssBytes();
  const bound = baseline + 96 * 2 ** 20;
  t.ok(after < bound, `RSS ${(after / 2 ** 20).toFixed(0)} MiB after the fuzz, ${(baseline / 2 ** 20).toFixed(0)} MiB before (bound ${(bound / 2 ** 20).toFixed(0)} MiB)`);
  t.equal(await engine.stop(), 0, 'orderly stop after the fuzz');
  await good.close();
});
