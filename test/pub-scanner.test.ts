// The pub fast path (main/ingest/pub-scanner.ts) may only accept frames the general path (decodeFrame +
// validate.ts) accepts, and must read from them exactly what the general path reads. Checked
// differentially over plausible frames, random byte mutations of them, and a list of frames the
// fast path must leave to the general path.
import { encode as standardEncode } from '@msgpack/msgpack';
import t, { type Test } from 'tap';
import { seededRandom } from '../native-bench/random.js';
import { PubScanner } from '../src/main/ingest/pub-scanner.js';
import { decodeFrame } from '../src/main/connections/protocol.js';
import { type Limits, type WireEvent } from '../src/shared/wire.js';
import { checkEvent } from '../src/shared/event-checks.js';
import { msgpack } from '../src/shared/msgpack.js';
import { wire } from './helpers.js';

const LIMITS: Limits = { maxInFlight: 64, maxEventsPerPub: 50, maxPayloadBytes: 1 << 20, maxKeyBytes: 40, maxTypeBytes: 20, maxDataDepth: 3 };

/** What the general path makes of a frame: its pub's id, seq and checked events, or why not. */
function generalPath(frame: Uint8Array): { id: number; seq: unknown; events: (WireEvent & { hash: number })[] } | string {
  try {
    const message = decodeFrame(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer, true) as Record<string, unknown>;
    if (typeof message !== 'object' || message === null || message.op !== 'pub') return 'not a pub';
    if (Object.keys(message).some((k) => !['op', 'id', 'events', 'seq'].includes(k))) return 'unknown field';
    const id = message.id as number;
    if (!Number.isSafeInteger(id) || id < 0) return 'bad id';
    const events = message.events as WireEvent[];
    if (!Array.isArray(events) || events.length === 0 || events.length > LIMITS.maxEventsPerPub) return 'bad events';
    return { id, seq: message.seq, events: events.map((e, i) => ({ ...e, hash: checkEvent(e, i, LIMITS, id) })) };
  } catch (error) {
    return (error as Error).message;
  }
}

function compare(t: Test, frame: Uint8Array, scanner: PubScanner): boolean {
  if (!scanner.scan(frame)) return false;
  const general = generalPath(frame);
  if (typeof general === 'string') {
    t.fail(`the fast path accepted a frame the general path refuses (${general}): ${Buffer.from(frame).toString('hex')}`);
    return true;
  }
  const text = (start: number, end: number) => Buffer.from(frame.subarray(start, end)).toString('utf8');
  const seen = {
    id: scanner.id,
    seq: scanner.seq,
    events: Array.from({ length: scanner.count }, (_, i) => {
      const event: Record<string, unknown> = { key: text(scanner.keyStart[i]!, scanner.keyEnd[i]!), type: text(scanner.typeStart[i]!, scanner.typeEnd[i]!) };
      if (!Number.isNaN(scanner.ts[i])) event.ts = scanner.ts[i];
      if (scanner.dataEnd[i] !== scanner.dataStart[i]) event.data = msgpack.unpack(Buffer.from(frame.subarray(scanner.dataStart[i], scanner.dataEnd[i])));
      return { ...event, hash: scanner.keyHash[i] };
    }),
  };
  t.same(seen, general, 'the fast path reads what the general path reads');
  return true;
}

const pack = (value: unknown) => new Uint8Array(wire.pack(value));
/** A second, independent encoder: it writes integers of 2^32 and more as uint64/int64, as encoders in other languages do (msgpackr writes float64). */
const packStandard = (value: unknown) => standardEncode(value);

t.test('plausible pubs and random mutations of them: the fast path never disagrees', async (t) => {
  const random = seededRandom(11);
  const scanner = new PubScanner(LIMITS);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  let accepted = 0;
  let mutatedAccepted = 0;
  for (let round = 0; round < 3000; round++) {
    const events = Array.from({ length: 1 + Math.floor(random() * 5) }, () => {
      // Mostly valid, some not: the mutations below then do the rest.
      const key = random() < 0.8 ? pick(['k', 'player:1', 'é宝:1', 'x'.repeat(40)]) : pick(['x'.repeat(41), '', 'a\u0000b']);
      const event: Record<string, unknown> = { key, type: random() < 0.9 ? pick(['clue', 'τύπος']) : pick(['__proto__', 'y'.repeat(21)]) };
      if (random() < 0.5) event.ts = pick([0, 1.5, -7, 2 ** 40, 1767225600000, -(2 ** 35), Number.MAX_SAFE_INTEGER]);
      if (random() < 0.7) event.data = pick<unknown>([{ points: 3, zone: 'z1' }, { a: { b: { c: 1 } } }, { a: { b: { c: { d: 1 } } } }, { list: [1, 'two', null, true, 2.5, 2 ** 33, -(2 ** 50)] }, { big: 2 ** 60 }, { safe: Number.MAX_SAFE_INTEGER, low: -Number.MAX_SAFE_INTEGER }, {}, { note: 'n'.repeat(40), after: 1 }, { long: 'l'.repeat(300), list: ['m'.repeat(33)] }]);
      return event;
    });
    const message: Record<string, unknown> = { op: 'pub', id: pick([0, 7, 300, 70_000, 2 ** 31, 2 ** 40]), events };
    if (random() < 0.2) message.seq = pick([1, 99, 2 ** 33]);
    const frame = round % 2 === 0 ? pack(message) : packStandard(message);
    if (compare(t, frame, scanner)) accepted++;
    // Mutations: a byte changed, or the frame cut short.
    const mutated = Uint8Array.from(frame);
    if (random() < 0.5) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
    if (compare(t, random() < 0.3 ? mutated.subarray(0, Math.floor(random() * mutated.length)) : mutated, scanner)) mutatedAccepted++;
  }
  t.ok(accepted > 500, `the fast path took ${accepted} of 3,000 plausible pubs`);
  t.ok(mutatedAccepted > 50, `and ${mutatedAccepted} mutated ones (each checked against the general path)`);
});

t.test('data strings of every length header (str8, str16) are read in place', async (t) => {
  const scanner = new PubScanner(LIMITS);
  for (const length of [31, 32, 255, 256, 70_000]) {
    const frame = pack({ op: 'pub', id: 1, events: [{ key: 'k', type: 't', data: { s: 'x'.repeat(length), after: 1 } }] });
    t.ok(compare(t, frame, scanner), `a ${length}-byte string is taken by the fast path`);
  }
});

t.test('frames the fast path leaves to the general path', async (t) => {
  const scanner = new PubScanner(LIMITS);
  const event = { key: 'k', type: 't' };
  const declined: [string, Uint8Array][] = [
    ['an unknown pub field', pack({ op: 'pub', id: 1, events: [event], extra: 1 })],
    ['an unknown event field', pack({ op: 'pub', id: 1, events: [{ ...event, color: 'red' }] })],
    ['a field twice', Uint8Array.from([0x83, 0xa2, 0x6f, 0x70, 0xa3, 0x70, 0x75, 0x62, 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x69, 0x64, 0x02])],
    ['another op', pack({ op: 'get', id: 1, key: 'k' })],
    ['no events', pack({ op: 'pub', id: 1, events: [] })],
    ['too many events', pack({ op: 'pub', id: 1, events: Array.from({ length: 51 }, () => event) })],
    ['a negative id', pack({ op: 'pub', id: -1, events: [event] })],
    ['a key with NUL', pack({ op: 'pub', id: 1, events: [{ key: 'a\u0000', type: 't' }] })],
    ['a key past maxKeyBytes', pack({ op: 'pub', id: 1, events: [{ key: 'é'.repeat(21), type: 't' }] })],
    ['a key of invalid UTF-8', Uint8Array.from([...pack({ op: 'pub', id: 1, events: [{ key: 'ab', type: 't' }] })].map((b, i, all) => (i === all.indexOf(0x61) ? 0xc0 : b)))],
    ['a forbidden type', pack({ op: 'pub', id: 1, events: [{ key: 'k', type: 'constructor' }] })],
    ['a non-finite ts', pack({ op: 'pub', id: 1, events: [{ ...event, ts: Infinity }] })],
    ['data nested past maxDataDepth', pack({ op: 'pub', id: 1, events: [{ ...event, data: { a: { b: { c: {} } } } }] })],
    ['binary data', pack({ op: 'pub', id: 1, events: [{ ...event, data: { b: new Uint8Array(2) } }] })],
    ['a uint64 of 2^53', Uint8Array.from([...pack({ op: 'pub', id: 1, events: [{ ...event, data: { n: 1 } }] }).subarray(0, -1), 0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0])],
    ['an int64 of −2^53', Uint8Array.from([...pack({ op: 'pub', id: 1, events: [{ ...event, data: { n: 1 } }] }).subarray(0, -1), 0xd3, 0xff, 0xe0, 0, 0, 0, 0, 0, 0])],
    ['a float id', pack({ op: 'pub', id: 1.5, events: [event] })],
    ['a forbidden data field', pack({ op: 'pub', id: 1, events: [{ ...event, data: JSON.parse('{"a": {"__proto__": 1}}') }] })],
    ['data that is not a map', pack({ op: 'pub', id: 1, events: [{ ...event, data: [1] }] })],
    ['trailing bytes', Uint8Array.from([...pack({ op: 'pub', id: 1, events: [event] }), 0xc0])],
  ];
  for (const [what, frame] of declined) t.notOk(scanner.scan(frame), what);
  t.ok(scanner.scan(pack({ op: 'pub', id: 1, events: [event] })), 'a plain pub is taken');
});

t.test('strict UTF-8', async (t) => {
  // A pub of one event whose key is `bytes`: taken only if they are valid UTF-8.
  const text = (s: string) => [0xa0 | s.length, ...Buffer.from(s)];
  const frame = (bytes: number[]) =>
    Uint8Array.from([0x83, ...text('op'), ...text('pub'), ...text('id'), 1, ...text('events'), 0x91, 0x82, ...text('key'), 0xa0 | bytes.length, ...bytes, ...text('type'), ...text('t')]);
  const scanner = new PubScanner(LIMITS);
  const valid = (bytes: number[]) => scanner.scan(frame(bytes));
  t.ok(valid([...Buffer.from('aé宝😀')]));
  for (const [what, bytes] of [
    ['overlong', [0xc0, 0xaf]],
    ['overlong 3-byte', [0xe0, 0x80, 0xaf]],
    ['a surrogate', [0xed, 0xa0, 0x80]],
    ['past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['cut short', [0xe5, 0xae]],
    ['a lone continuation', [0x80]],
  ] as const) t.notOk(valid([...bytes]), what);
});

t.test('integers of every width within ±(2^53−1) are taken in place, as numbers', async (t) => {
  const scanner = new PubScanner(LIMITS);
  const frame = packStandard({
    op: 'pub',
    id: 2 ** 40,
    seq: 2 ** 35,
    events: [{ key: 'k', type: 't', ts: 1_767_225_600_000, data: { u64: Number.MAX_SAFE_INTEGER, i64: -Number.MAX_SAFE_INTEGER, list: [2 ** 32, -(2 ** 31) - 1] } }],
  });
  t.ok(frame.includes(0xcf) && frame.includes(0xd3), 'the frame holds uint64 and int64');
  t.ok(compare(t, frame, scanner), 'taken by the fast path');
  t.equal(scanner.id, 2 ** 40);
  t.equal(scanner.seq, 2 ** 35);
  t.equal(scanner.ts[0], 1_767_225_600_000);
});
