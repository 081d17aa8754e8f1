// The documented key → partition hash: FNV-1a 32 over the key's UTF-8 bytes, mod P.
import t from 'tap';
import { fnv1a32Utf8, lastHashedByteLength, ownerOf, partitionOf, partitionsOwnedBy, storeOf, storesOwnedBy } from '../src/shared/partition.js';

function referenceFnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

t.test('published FNV-1a test vectors', async (t) => {
  t.equal(fnv1a32Utf8(''), 0x811c9dc5);
  t.equal(fnv1a32Utf8('a'), 0xe40c292c);
  t.equal(fnv1a32Utf8('foobar'), 0xbf9cf968);
});

t.test('hashes exactly the UTF-8 bytes, and reports their length', async (t) => {
  for (const key of ['player:1', 'über', '宝藏/ключ', 'emoji 🗝️', 'x'.repeat(600), '\u07ff\u0800\uffff', '\u{10ffff}']) {
    const bytes = Buffer.from(key, 'utf8');
    t.equal(fnv1a32Utf8(key), referenceFnv1a(bytes), key.slice(0, 20));
    t.equal(lastHashedByteLength(), bytes.length);
  }
});

t.test('partitions, stores and owners', async (t) => {
  t.equal(partitionOf('foobar', 64), 0xbf9cf968 % 64);
  const layout = { partitions: 10, stores: 4 };
  t.same([...Array(10).keys()].map((p) => storeOf(p, 4)), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1], 'partition p lives in store p mod S');
  t.same(storesOwnedBy(1, 3, 4), [1], 'stores dealt round-robin over workers');
  t.same(storesOwnedBy(0, 3, 4), [0, 3]);
  t.same(storesOwnedBy(5, 8, 4), [], 'more workers than stores: some own none');
  t.same(partitionsOwnedBy(0, 3, layout), [0, 3, 4, 7, 8], 'a worker owns the partitions of its stores');
  const owned = new Set<number>();
  for (let w = 0; w < 3; w++) for (const p of partitionsOwnedBy(w, 3, layout)) {
    t.equal(ownerOf(p, layout, 3), w);
    owned.add(p);
  }
  t.equal(owned.size, 10, 'every partition has exactly one owner');
});
