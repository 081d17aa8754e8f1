// Byte-range copies (shared/byte-ranges.ts) against Buffer.copy: every length across the byte, word
// and native strategies, unaligned offsets, more arrays than views kept, and a SharedArrayBuffer.
import t from 'tap';
import { copyBytes, copyBytesInto, sameBytes } from '../src/shared/byte-ranges.js';

t.test('copies equal Buffer.copy at every length and offset', async (t) => {
  const sources = Array.from({ length: 6 }, (_, s) => Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 7 + s * 13) & 0xff)));
  const targets = Array.from({ length: 6 }, () => new Uint8Array(new SharedArrayBuffer(800)));
  let wrong = 0;
  for (let length = 0; length <= 300; length++) {
    for (const [from, to] of [[1, 3], [0, 5], [7, 0]] as const) {
      const source = sources[(length + from) % sources.length]!;
      const target = targets[(length + to) % targets.length]!;
      target.fill(0xee);
      const expected = Buffer.alloc(800, 0xee);
      source.copy(expected, to + 9, from, from + length);
      const copied = length % 2 === 0 ? copyBytes(source, from, from + length, target, to + 9) : copyBytesInto(source, from, from + length, target, new DataView(target.buffer), to + 9);
      if (copied !== length || !sameBytes(target, 0, expected, 0, 800)) wrong++;
    }
  }
  t.equal(wrong, 0);
});

t.test('sameBytes tells ranges apart by any one byte', async (t) => {
  const a = Buffer.from('treasure-hunt');
  const b = Buffer.from('xxtreasure-hunt');
  t.ok(sameBytes(a, 0, b, 2, a.length));
  b[8] = 0;
  t.notOk(sameBytes(a, 0, b, 2, a.length));
  t.ok(sameBytes(a, 0, b, 2, 0), 'empty ranges are equal');
});
