// The worker's flat-map fast path merges exactly what decoding and merging would, and declines
// (changing nothing) whatever it does not read itself.
import t from 'tap';
import { BinaryWriter } from '../src/shared/binary-writer.js';
import { msgpack } from '../src/shared/msgpack.js';
import type { Utf8Buffer } from '../src/shared/utf8-buffer.js';
import { Utf8Interner } from '../src/shared/utf8-interner.js';
import { mergeFlatMap } from '../src/workers/flat-merge.js';

function merge(fields: Record<string, unknown>, data: Record<string, unknown>): boolean {
  const writer = new BinaryWriter(16);
  writer.msgpackMap(data);
  const bytes = Buffer.concat([Buffer.from('pad'), writer.bytes()]) as Utf8Buffer;
  return mergeFlatMap(fields, bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.length), 3, bytes.length, new Utf8Interner(), new Utf8Interner());
}

t.test('flat maps of every scalar encoding merge like decoding would', async (t) => {
  const data: Record<string, unknown> = {
    small: 5, byte: 200, short: 60_000, int: 4_000_000_000, neg: -5, negByte: -100, negShort: -30_000, negInt: -2_000_000_000,
    float: 1.25, big: 2 ** 40, text: 'zone-7', long: 'x'.repeat(300), utf8: 'trésor 宝', empty: '', yes: true, no: false, nothing: null,
  };
  for (let i = 0; i < 20; i++) data[`extra${i}`] = i;
  const fields: Record<string, unknown> = { kept: 1, small: 0 };
  t.ok(merge(fields, data));
  t.same(fields, { kept: 1, ...(msgpack.unpack(msgpack.pack(data)) as object) });
});

t.test('nested values and non-maps are declined and change nothing', async (t) => {
  for (const data of [{ a: 1, nested: { b: 2 } }, { list: [1, 2] }, { bin: new Uint8Array([1]) }]) {
    const fields: Record<string, unknown> = { kept: 1 };
    t.notOk(merge(fields, data as Record<string, unknown>), JSON.stringify(Object.keys(data)));
    t.same(fields, { kept: 1 });
  }
});

t.test('float32 values, as a client may send them and the front end now passes on, merge like msgpackr decodes them', async (t) => {
  // {"f": float32 1.1, "g": float32 -0.5}: the bytes a client encoder with float32 produces.
  const body = Buffer.from([0x82, 0xa1, 0x66, 0xca, 0, 0, 0, 0, 0xa1, 0x67, 0xca, 0, 0, 0, 0]);
  body.writeFloatBE(1.1, 4);
  body.writeFloatBE(-0.5, 11);
  const bytes = Buffer.concat([Buffer.from('pad'), body]) as Utf8Buffer;
  const fields: Record<string, unknown> = {};
  t.ok(mergeFlatMap(fields, bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.length), 3, bytes.length, new Utf8Interner(), new Utf8Interner()));
  t.same(fields, msgpack.unpack(body));
});
