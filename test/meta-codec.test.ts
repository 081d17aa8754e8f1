// The LMDB value encoding of metadata records round-trips exactly.
import t from 'tap';
import { decodeMeta, encodeMeta } from '../src/shared/meta-codec.js';
import type { MetaRecord } from '../src/shared/metadata.js';
import { msgpack } from '../src/shared/msgpack.js';

t.test('round trip, including non-ASCII types and nested fields', async (t) => {
  const meta: MetaRecord = {
    version: 2 ** 40,
    count: 3,
    firstTs: -1.5,
    lastTs: 1767225600000.25,
    lastType: 'trésor 宝',
    types: { 'trésor 宝': 2, join: 1 },
    fields: { points: 9, nested: { list: [1, 'two', null, { deep: true }] }, empty: {} },
  };
  const stored = Buffer.from(encodeMeta(meta));
  t.same(decodeMeta(stored), meta);
  const plain = msgpack.pack(meta).length;
  t.ok(stored.length < plain, `${stored.length} bytes, MessagePack of the object: ${plain}`);
});

t.test('a value of another format is refused, not misread', async (t) => {
  t.throws(() => decodeMeta(Buffer.from([9, 0, 0])), /unknown metadata record format 9/);
});

t.test('records with many types round-trip', async (t) => {
  const types: Record<string, number> = {};
  for (let i = 0; i < 70_000; i++) types[`type-${i}`] = i;
  const meta: MetaRecord = { version: 70_000, count: 70_000, firstTs: 0, lastTs: 1, lastType: 'type-69999', types, fields: {} };
  t.same(decodeMeta(Buffer.from(encodeMeta(meta))), meta);
});

t.test('large records grow the scratch buffer', async (t) => {
  const meta: MetaRecord = { version: 1, count: 1, firstTs: 0, lastTs: 0, lastType: 't', types: { t: 1 }, fields: { big: 'x'.repeat(200_000) } };
  t.same(decodeMeta(Buffer.from(encodeMeta(meta))), meta);
});
