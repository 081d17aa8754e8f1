// The worker's lookups by bytes: records found by key hash + UTF-8 bytes (hash collisions
// included), and interned strings that are equal to what decoding would give, whatever table size.
import t from 'tap';
import { Utf8Interner } from '../src/shared/utf8-interner.js';
import type { Utf8Buffer } from '../src/shared/utf8-buffer.js';
import { CachedRecord, RecordCache } from '../src/workers/record-cache.js';
import { newMetaRecord } from '../src/workers/default-merge.js';

const record = (key: string, hash: number) => new CachedRecord(key, hash, 0, newMetaRecord(0));
const lookUp = (cache: RecordCache, key: string, hash: number) => {
  const bytes = Buffer.concat([Buffer.from('xx'), Buffer.from(key)]);
  return cache.get(hash, bytes, 2, bytes.length)?.key;
};

t.test('records with the same hash are told apart by their bytes', async (t) => {
  const cache = new RecordCache(10);
  const [a, b, c] = [record('alpha', 7), record('beta', 7), record('gamma', 7)];
  cache.add(a);
  cache.add(b);
  cache.add(c);
  cache.add(record('delta', 8));
  t.equal(lookUp(cache, 'alpha', 7), 'alpha');
  t.equal(lookUp(cache, 'beta', 7), 'beta');
  t.equal(lookUp(cache, 'gamma', 7), 'gamma');
  t.equal(lookUp(cache, 'delta', 8), 'delta');
  t.equal(lookUp(cache, 'delta', 7), undefined, 'right bytes, wrong hash');
  t.equal(lookUp(cache, 'alph', 7), undefined, 'a prefix is another key');
  cache.forget(b);
  t.equal(lookUp(cache, 'beta', 7), undefined);
  t.equal(lookUp(cache, 'alpha', 7), 'alpha');
  t.equal(lookUp(cache, 'gamma', 7), 'gamma');
  cache.forget(a);
  t.equal(lookUp(cache, 'gamma', 7), 'gamma', 'the chain survives losing its head');
  cache.forget(c);
  t.equal(lookUp(cache, 'gamma', 7), undefined);
  cache.forget(c);
  t.equal(lookUp(cache, 'delta', 8), 'delta', 'forgetting twice changes nothing');
});

t.test('keys that are not ASCII are compared by their UTF-8 bytes; every key gives its bytes back', async (t) => {
  const cache = new RecordCache(10);
  const keys = ['trésor', '宝', 'key 🗝️', 'plain', 'Ã©', 'é'];
  for (const key of keys) cache.add(record(key, 5));
  for (const key of keys) t.equal(lookUp(cache, key, 5), key);
  t.equal(lookUp(cache, 'tr', 5), undefined);
  t.equal(lookUp(cache, 'ésor', 5), undefined);
  for (const key of keys) t.same(Buffer.from(record(key, 1).keyBytes()), Buffer.from(key), `${key} as UTF-8`);
});

t.test('trim drops the oldest records down to the bound', async (t) => {
  const cache = new RecordCache(3);
  for (let i = 0; i < 6; i++) cache.add(record(`k${i}`, 100 + i));
  cache.trim();
  t.same([0, 1, 2, 3, 4, 5].map((i) => lookUp(cache, `k${i}`, 100 + i) ?? null), [null, null, null, 'k3', 'k4', 'k5']);
  for (let i = 6; i < 9; i++) cache.add(record(`k${i}`, 100 + i));
  cache.trim();
  t.same([3, 4, 5, 6, 7, 8].map((i) => lookUp(cache, `k${i}`, 100 + i) ?? null), [null, null, null, 'k6', 'k7', 'k8'], 'the count stayed exact');
});

t.test('interned strings equal decoded ones, collisions and long strings included', async (t) => {
  const interner = new Utf8Interner();
  const texts = ['clue', 'step', 'trésor 宝', '', 'x'.repeat(64), 'y'.repeat(65), 'é'.repeat(40)];
  for (let i = 0; i < 2000; i++) texts.push(`type-${i}`);
  for (let round = 0; round < 2; round++) {
    const interned = texts.map((text) => {
      const buf = Buffer.from(`..${text}..`) as Utf8Buffer;
      return interner.intern(buf, 2, buf.length - 2);
    });
    t.same(interned, texts, `round ${round + 1}`);
  }
  const once = Buffer.from('clue') as Utf8Buffer;
  const first = interner.intern(once, 0, 4);
  const again = interner.intern(Buffer.from('clue') as Utf8Buffer, 0, 4);
  t.equal(first, again);
});

t.test('a small interner table stays exact while strings take turns in its slots', async (t) => {
  const interner = new Utf8Interner(2);
  const texts = ['z1', 'z2', 'zone-3', 'é', 'player:1', 'player:2', 'x'.repeat(64)];
  const ring = Buffer.from(new SharedArrayBuffer(4096)) as Utf8Buffer;
  for (let round = 0; round < 50; round++) {
    const text = texts[(round * 5) % texts.length]!;
    const at = (round * 37) % 1024;
    const end = at + ring.write(text, at);
    t.equal(interner.intern(ring, at, end), text);
  }
  // The ring's bytes change under the table: what it returns must come from its own copy.
  const end = ring.write('z1', 0);
  t.equal(interner.intern(ring, 0, end), 'z1');
  ring.write('z9', 0);
  t.equal(interner.intern(ring, 0, end), 'z9');
});

t.test('an interner table size that is not a power of two is refused', async (t) => {
  t.throws(() => new Utf8Interner(100), { message: 'interner slots must be a power of two ≥ 2, got 100' });
  t.throws(() => new Utf8Interner(1), RangeError);
});
