// The worker's reader of update documents (workers/update-reader.ts) must read exactly what
// msgpackr reads from the documents the front end writes, and refuse (so that msgpackr is used)
// anything it does not cover.
import t from 'tap';
import { BinaryWriter } from '../src/shared/binary-writer.js';
import { msgpack } from '../src/shared/msgpack.js';
import type { Utf8Buffer } from '../src/shared/utf8-buffer.js';
import { Utf8Interner } from '../src/shared/utf8-interner.js';
import type { UpdateDoc } from '../src/shared/update-ops.js';
import { UpdateReader } from '../src/workers/update-reader.js';

function readBack(bytes: Buffer, existing = false): UpdateDoc | null {
  // Read from the middle of a larger buffer, as from a ring.
  const buf = Buffer.alloc(bytes.length + 20, 0xc1) as Utf8Buffer;
  bytes.copy(buf, 7);
  const reader = new UpdateReader(new Utf8Interner(), new Utf8Interner(1024));
  if (!reader.read(buf, new DataView(buf.buffer, buf.byteOffset, buf.length), 7, 7 + bytes.length, existing)) return null;
  const doc: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < reader.count; i++) (doc[reader.operators[i]!] ??= {})[reader.paths[i]!] = reader.values[i];
  return doc as UpdateDoc;
}

const written = (doc: UpdateDoc): Buffer => {
  const writer = new BinaryWriter(64);
  writer.msgpackMap(doc as Record<string, unknown>);
  return Buffer.from(writer.bytes());
};

t.test('reads what msgpackr reads, for every kind of value the front end writes', async (t) => {
  const doc: UpdateDoc = {
    $set: { a: 1, 'b.c': -1, d: 200, e: 70_000, f: 5_000_000_000, g: -100, h: -40_000, i: -3_000_000_000, j: 0.5, k: 'text', l: 'ü'.repeat(40), m: 'x'.repeat(300), n: null, o: true, p: false },
    $inc: { q: -5 },
    $push: { r: { $each: [{ player: 'p', points: 3 }, [1, [2]], ''], $slice: -10 } },
    $addToSet: { s: { $each: [Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))] } },
    $unset: { u: '' },
  };
  const bytes = written(doc);
  t.same(readBack(bytes), msgpack.unpack(bytes));
  t.same(readBack(bytes), doc);
  const many = { $set: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, Array.from({ length: 20 }, () => i)])) };
  t.same(readBack(written(many)), many, 'map16 and array16 headers');
});

t.test('a map key "__proto__" in a value stays data', async (t) => {
  const bytes = Buffer.from(msgpack.pack({ $set: { a: JSON.parse('{"__proto__": {"polluted": true}, "b": 1}') } }));
  const doc = readBack(bytes)!;
  const value = doc.$set!.a as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(value), Object.prototype);
  t.same(Object.keys(value), ['__proto__', 'b']);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('integers of every width are numbers (what encoders in other languages write)', async (t) => {
  const setA = (...value: number[]) => Buffer.from([0x81, 0xa4, 0x24, 0x73, 0x65, 0x74, 0x81, 0xa1, 0x61, ...value]);
  t.same(readBack(setA(0xcf, 0, 0, 0, 0, 0, 0, 0, 1)), { $set: { a: 1 } }, 'uint64');
  t.same(readBack(setA(0xcf, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), { $set: { a: Number.MAX_SAFE_INTEGER } }, 'uint64 2^53−1');
  t.same(readBack(setA(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)), { $set: { a: -2 } }, 'int64');
});

t.test('refuses what it does not cover, so the caller falls back to msgpackr', async (t) => {
  t.equal(readBack(Buffer.from(msgpack.pack({ $set: { a: new Uint8Array([1, 2]) } }))), null, 'binary');
  t.equal(readBack(Buffer.from(msgpack.pack({ $set: { a: new Date(0) } }))), null, 'an extension');
  t.equal(readBack(Buffer.from(msgpack.pack({ $nope: { a: 1 } }))), null, 'an unknown operator');
  t.equal(readBack(Buffer.from(msgpack.pack([1]))), null, 'not a map');
});

t.test('for an existing record, $setOnInsert is passed over and the rest read', async (t) => {
  const doc: UpdateDoc = {
    $setOnInsert: { first: 'player:1', at: 5, nested: { list: [1, 'two', { three: null }], flag: true }, big: 'x'.repeat(300) },
    $inc: { finds: 1 },
    $push: { recent: { $each: [{ player: 'p' }], $slice: -10 } },
  };
  const bytes = written(doc);
  t.same(readBack(bytes, true), { $inc: { finds: 1 }, $push: { recent: { $each: [{ player: 'p' }], $slice: -10 } } });
  t.same(readBack(bytes, false), doc, 'a new record reads it all');
  t.equal(readBack(Buffer.from(msgpack.pack({ $setOnInsert: { a: new Uint8Array([1]) }, $inc: { n: 1 } })), true), null, 'what it does not cover is refused, passed over or not');
  // {"$setOnInsert": {"a": {1: 2}}}: a map with an integer key.
  const integerKey = Buffer.from([0x81, 0xac, ...Buffer.from('$setOnInsert'), 0x81, 0xa1, 0x61, 0x81, 0x01, 0x02]);
  t.equal(readBack(integerKey, false), null);
  t.equal(readBack(integerKey, true), null, 'a map key that is not a string, passed over or not');
});
