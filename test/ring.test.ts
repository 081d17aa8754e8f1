// The SPSC ring on its own: wrap-around, full ring, variable record sizes, and two real threads.
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { createRing, maxRecordPayload, RingReader, RingWriter } from '../src/shared/ring.js';

function writeRecord(writer: RingWriter, payload: Buffer): boolean {
  const at = writer.reserve(payload.length);
  if (at === -1) return false;
  writer.bytes.set(payload, at);
  writer.commit(payload.length);
  return true;
}

function readRecord(reader: RingReader): Buffer | null {
  const at = reader.next();
  if (at === -1) return null;
  return Buffer.from(reader.bytes.subarray(at, at + reader.length));
}

const payloadOf = (n: number, size: number) => Buffer.alloc(size, n % 251);

t.test('records are invisible until published, then read in order', async (t) => {
  const ring = createRing(1024);
  const writer = new RingWriter(ring);
  const reader = new RingReader(ring);
  t.ok(writeRecord(writer, Buffer.from('hello')));
  t.equal(reader.next(), -1, 'not published yet');
  writer.publish();
  t.equal(readRecord(reader)?.toString(), 'hello');
  t.equal(reader.next(), -1);
  t.equal(reader.release(), 1, 'released count');
  t.equal(writer.usedBytes(), 0);
});

t.test('full ring refuses, frees on release, and wraps around many times with variable sizes', async (t) => {
  const ring = createRing(256);
  const writer = new RingWriter(ring);
  const reader = new RingReader(ring);
  let written = 0;
  while (writeRecord(writer, payloadOf(written, 20))) written++;
  t.equal(written, 10, 'a 256-byte ring holds 10 records of 4 + 20 bytes (24 with the length)');
  writer.publish();
  t.equal(writeRecord(writer, payloadOf(0, 20)), false, 'full');
  t.equal(readRecord(reader)?.length, 20);
  t.equal(writeRecord(writer, payloadOf(0, 20)), false, 'read but not released: still full');
  reader.release();
  t.equal(writeRecord(writer, payloadOf(99, 20)), true, 'room after release');
  writer.publish();
  while (readRecord(reader) !== null);
  reader.release();

  // Variable sizes across many wraps: every record comes back intact and in order.
  let next = 1000;
  let expect = 1000;
  const sizes = [1, 7, 8, 9, 31, 60, 0, 13];
  for (let round = 0; round < 2000; round++) {
    const n = next;
    if (writeRecord(writer, payloadOf(n, sizes[n % sizes.length]!))) next++;
    writer.publish();
    if (round % 3 !== 0) {
      const got = readRecord(reader);
      if (got !== null) {
        if (!got.equals(payloadOf(expect, sizes[expect % sizes.length]!))) t.fail(`record ${expect} corrupted`);
        expect++;
        reader.release();
      }
    }
  }
  t.ok(expect > 1000 + 500, `${expect - 1000} records crossed the ring`);
  t.equal(maxRecordPayload(256), 60);
});

t.test('positions survive the 2^32 wrap of the byte counters', async (t) => {
  const ring = createRing(64);
  const header = new Int32Array(ring.header);
  header[0] = -16; // write position 2^32 - 16
  header[1] = -16; // read position
  const writer = new RingWriter(ring);
  const reader = new RingReader(ring);
  for (let i = 0; i < 20; i++) {
    t.ok(writeRecord(writer, payloadOf(i, 10)), `write ${i}`);
    writer.publish();
    t.same(readRecord(reader), payloadOf(i, 10), `read ${i}`);
    reader.release();
  }
});

t.test('a new reader resumes at the last released record (worker restart)', async (t) => {
  const ring = createRing(1024);
  const writer = new RingWriter(ring);
  for (let i = 0; i < 5; i++) writeRecord(writer, payloadOf(i, 16));
  writer.publish();
  const first = new RingReader(ring);
  readRecord(first);
  readRecord(first);
  first.release();
  readRecord(first); // read, never released: the reader "dies" here
  const second = new RingReader(ring);
  t.same(readRecord(second), payloadOf(2, 16));
  t.equal(second.releasedRecords(), 2);
});

t.test('rejects capacities that are not powers of two', async (t) => {
  t.throws(() => createRing(1000), RangeError);
});

t.test('two threads: 200,000 variable-length records cross intact and in order', async (t) => {
  const ring = createRing(1 << 16);
  const count = 200_000;
  const worker = new Worker(new URL('./fixtures/ring-consumer.js', import.meta.url), { workerData: { ring, count } });
  const done = new Promise<{ seen: number; bad: number; sum: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const writer = new RingWriter(ring);
  let n = 0;
  while (n < count) {
    const size = 4 + (n % 97);
    const at = writer.reserve(size);
    if (at === -1) {
      writer.publish();
      await new Promise((r) => setImmediate(r));
      continue;
    }
    writer.view.setUint32(at, n, true);
    writer.bytes.fill(n & 0xff, at + 4, at + size);
    writer.commit(size);
    n++;
    if (n % 64 === 0) writer.publish();
  }
  writer.publish();
  const result = await done;
  t.same(result, { seen: count, bad: 0, sum: (count * (count - 1)) / 2 });
  await worker.terminate();
});
