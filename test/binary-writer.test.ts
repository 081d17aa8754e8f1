// The hand-written MessagePack paths of BinaryWriter write standard MessagePack: scalars exactly as
// msgpackr does (but integers beyond 32 bits, which stay integers), maps with the smallest header,
// so any MessagePack reader decodes stored records and server messages.
import t from 'tap';
import { BinaryWriter } from '../src/shared/binary-writer.js';
import { msgpack } from '../src/shared/msgpack.js';

const numbers = [
  0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 1_767_225_600_000, Number.MAX_SAFE_INTEGER, 2 ** 53, -1, -32, -33, -128, -129,
  -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 40), -Number.MAX_SAFE_INTEGER, 1.5, -0.25, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN,
];
const strings = [
  '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(255), 'x'.repeat(256),
  'x'.repeat(70_000), 'é', 'trésor 宝', '😀'.repeat(20), 'a'.repeat(30) + 'é', 'ü'.repeat(100),
];

function encode(value: unknown): Buffer {
  const writer = new BinaryWriter(16);
  writer.msgpackValue(value);
  return Buffer.from(writer.bytes());
}

/** Integers msgpackr writes as float64 and the writer as uint64/int64, with their bytes. */
const wideIntegers: [number, string][] = [
  [2 ** 32, 'cf0000000100000000'],
  [1_767_225_600_000, 'cf0000019b76daa800'],
  [Number.MAX_SAFE_INTEGER, 'cf001fffffffffffff'],
  [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
  [-(2 ** 40), 'd3ffffff0000000000'],
  [-Number.MAX_SAFE_INTEGER, 'd3ffe0000000000001'],
];

t.test('numbers, strings, booleans and null are byte-identical to msgpackr', async (t) => {
  const wide = new Set(wideIntegers.map(([value]) => value));
  for (const value of [...numbers, ...strings, true, false, null]) {
    if (wide.has(value as number)) continue;
    const label = typeof value === 'string' ? `string of ${value.length} units` : String(value);
    t.same(encode(value).toString('hex'), Buffer.from(msgpack.pack(value)).toString('hex'), label);
  }
});

t.test('integers beyond 32 bits stay integers (uint64 / int64), beyond 2^53−1 floats', async (t) => {
  for (const [value, hex] of wideIntegers) {
    t.equal(encode(value).toString('hex'), hex, String(value));
    t.equal(msgpack.unpack(encode(value)), value, `${value} reads back`);
  }
  t.equal(encode(2 ** 53).toString('hex'), Buffer.from(msgpack.pack(2 ** 53)).toString('hex'), '2^53 is a float64, as msgpackr writes it');
  t.equal(encode(2 ** 32 + 0.5)[0], 0xcb, 'a fraction is a float64');
});

t.test('nested values and maps of every header size round-trip', async (t) => {
  const nested = { list: [1, 'two', null, { deep: true }], empty: {}, bin: new Uint8Array([1, 2, 3]) };
  t.same(msgpack.unpack(encode(nested)), nested);
  for (const size of [0, 15, 16, 65_535, 65_536]) {
    const map: Record<string, number> = {};
    for (let i = 0; i < size; i++) map[`k${i}`] = i;
    const writer = new BinaryWriter(16);
    writer.msgpackMap(map);
    const bytes = Buffer.from(writer.bytes());
    // msgpackr writes every map with a 16-bit size; the smallest standard header is used here.
    t.equal(bytes[0], size < 16 ? 0x80 | size : size < 65_536 ? 0xde : 0xdf, `header of a map of ${size}`);
    t.same(msgpack.unpack(bytes), map, `map of ${size}`);
  }
  // A map's header is patched after its entries: a nested map that needs a wider one, written
  // after other bytes, moves its own entries only.
  const wide = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`w${i}`, 'x'.repeat(i)]));
  const outer = { before: 'b', wide, after: [wide, 1], last: { small: true } };
  const writer = new BinaryWriter(16);
  writer.msgpackValue('prefix');
  writer.msgpackValue(outer);
  const bytes = Buffer.from(writer.bytes());
  t.same(msgpack.unpack(bytes.subarray(7)), outer, 'nested wide maps');
  t.equal(msgpack.unpack(bytes.subarray(0, 7)), 'prefix', 'what came before is untouched');
  t.equal(bytes[7], 0x84, 'the outer map has a one-byte header');
});

t.test('arrays of every header size, nested, are written by hand and round-trip', async (t) => {
  for (const size of [0, 15, 16, 65_535, 65_536]) {
    const list = Array.from({ length: size }, (_, i) => (i % 3 === 0 ? { i, tags: [i, 'x'] } : i));
    const bytes = encode(list);
    t.equal(bytes[0], size < 16 ? 0x90 | size : size < 65_536 ? 0xdc : 0xdd, `header of an array of ${size}`);
    t.same(msgpack.unpack(bytes), list, `array of ${size}`);
  }
});

t.test('length-prefixed UTF-8 and little-endian numbers', async (t) => {
  const writer = new BinaryWriter(4);
  writer.lengthPrefixedUtf8('trésor');
  writer.lengthPrefixedUtf8('abc');
  writer.u32le(7);
  writer.setU32le(writer.length - 4, 9);
  writer.f64le(-1.5);
  const bytes = Buffer.from(writer.bytes());
  t.equal(bytes.readUInt16LE(0), 7);
  t.equal(bytes.toString('utf8', 2, 9), 'trésor');
  t.equal(bytes.readUInt16LE(9), 3);
  t.equal(bytes.toString('utf8', 11, 14), 'abc');
  t.equal(bytes.readUInt32LE(14), 9);
  t.equal(bytes.readDoubleLE(18), -1.5);
  writer.reset();
  t.equal(writer.bytes().length, 0);
});
