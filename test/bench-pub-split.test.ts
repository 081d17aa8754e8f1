// The queue pipelines' front ends split each pub's events between their consumers by key, copying
// the events' bytes; what each consumer decodes must be exactly its keys' events, in order.
import t from 'tap';
import { Packr } from 'msgpackr';
import { encode } from '@msgpack/msgpack';
import { partitionOf } from '../src/shared/partition.js';
import { pubId } from '../native-bench/pub-id.js';
import { PubSplitter } from '../native-bench/pub-split.js';

const packr = new Packr({ useRecords: false });
const REF_BYTES = 4;

const events = Array.from({ length: 300 }, (_, i) => ({
  key: i % 7 === 0 ? `宝藏:${i % 11}` : `player:${i % 23}`,
  type: i % 2 === 0 ? 'found' : 'moved',
  ...(i % 3 === 0 ? { ts: 1_700_000_000_000 + i } : {}),
  data: { n: i, nested: { list: [i, 'x'.repeat(i % 40), null, true] }, big: 2 ** 40 + i },
}));

for (const [encoder, pack] of [
  ['msgpackr', (value: unknown) => packr.pack(value)],
  ['@msgpack/msgpack', (value: unknown) => Buffer.from(encode(value))],
] as const) {
  t.test(`parts hold each consumer's events in order (${encoder})`, async (t) => {
    const frame = pack({ op: 'pub', id: 41, events });
    t.equal(pubId(frame), 41);
    for (const consumers of [2, 3, 8]) {
      const parts = new PubSplitter(consumers, REF_BYTES).split(frame);
      t.equal(parts.length, consumers);
      for (let c = 0; c < consumers; c++) {
        const expected = events.filter((event) => partitionOf(event.key, consumers) === c);
        const part = parts[c];
        if (expected.length === 0) {
          t.equal(part, null, `consumer ${c} of ${consumers} gets no part`);
          continue;
        }
        t.same(packr.unpack(part!.subarray(REF_BYTES)), { events: expected }, `consumer ${c} of ${consumers}`);
      }
    }
  });
}

t.test('a pub whose events miss a key is refused, not mis-split', async (t) => {
  const splitter = new PubSplitter(2, REF_BYTES);
  t.throws(() => splitter.split(packr.pack({ op: 'pub', id: 1, events: [{ type: 'x' }] })), /event 0 has no string key/);
  t.throws(() => splitter.split(packr.pack({ op: 'pub', id: 1, events: [{ key: 7, type: 'x' }] })), /event 0 has no string key/);
  t.throws(() => splitter.split(packr.pack({ op: 'pub', id: 1 })), /not a pub with an events array/);
});
