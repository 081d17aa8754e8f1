// Ceilings of our own parts on this machine, measured in-process by the bench before the servers
// run: what the hardware and native libraries allow, so the engine's figures can be read as a share
// of them. Each runs for about `seconds` and reports a rate.
//
//   node dist/native-bench/ceilings.js [seconds]   (also run by `npm run bench`)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { open } from 'lmdb';
import { Packr } from 'msgpackr';
import { createRing, RingReader, RingWriter, type RingBuffers } from '../src/shared/ring.js';
import { seededRandom } from './random.js';

export interface Ceiling {
  name: string;
  perSecond: number;
  unit: string;
  how: string;
}

const RECORD_BYTES = 64;
const RECORDS_PER_PUBLISH = 100;

/** SAB ring: records/s from this thread to a reader thread, the write index published per 100 records. */
async function ringRecordsPerSecond(seconds: number): Promise<number> {
  const buffers = createRing(32 << 20);
  const reader = new Worker(fileURLToPath(import.meta.url), { workerData: { ring: buffers } });
  const writer = new RingWriter(buffers);
  const deadline = performance.now() + seconds * 1000;
  let written = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < RECORDS_PER_PUBLISH; i++) {
      let at = writer.reserve(RECORD_BYTES);
      while (at === -1) {
        writer.publish();
        await writer.waitForSpace(10);
        at = writer.reserve(RECORD_BYTES);
      }
      writer.bytes[at] = i;
      writer.commit(RECORD_BYTES);
      written++;
    }
    writer.publish();
  }
  const started = performance.now() - seconds * 1000;
  writer.close();
  const read = await new Promise<number>((resolve) => reader.once('message', resolve));
  if (read !== written) throw new Error(`ring ceiling: wrote ${written}, read ${read}`);
  return written / ((performance.now() - started) / 1000);
}

async function ringReaderThread(buffers: RingBuffers): Promise<void> {
  // A pending Atomics.waitAsync does not keep a thread alive: this timer does.
  const keepAlive = setInterval(() => {}, 1000);
  const reader = new RingReader(buffers);
  let read = 0;
  for (;;) {
    const closed = reader.isClosed();
    while (reader.next() !== -1) read++;
    reader.release();
    if (closed && reader.next() === -1) break;
    await reader.waitForData(10);
  }
  clearInterval(keepAlive);
  parentPort!.postMessage(read);
}

/** msgpackr: events/s decoded from pub frames of 100 events shaped like the load generator's. */
function msgpackDecodeEventsPerSecond(seconds: number): number {
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  const random = seededRandom(7);
  const frames = Array.from({ length: 64 }, (_, f) =>
    packr.pack({ op: 'pub', id: f, events: Array.from({ length: 100 }, () => ({ key: `player:${Math.floor(random() * 10_000)}`, type: 'clue', data: { points: Math.floor(random() * 10), zone: 'north' } })) }),
  );
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let events = 0;
  while (performance.now() < deadline) {
    for (const frame of frames) events += (packr.unpack(frame) as { events: unknown[] }).events.length;
  }
  return events / ((performance.now() - started) / 1000);
}

/** LMDB: random-key read-modify-writes/s of ~100-byte values, 5,000 per write transaction, 1M keys. */
function lmdbReadModifyWritesPerSecond(dir: string, seconds: number): number {
  const db = open<Buffer, string>({ path: path.join(dir, 'rmw'), encoding: 'binary', noSync: true });
  const random = seededRandom(11);
  const value = Buffer.alloc(100, 1);
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let operations = 0;
  while (performance.now() < deadline) {
    db.transactionSync(() => {
      for (let i = 0; i < 5000; i++) {
        const key = `player:${Math.floor(random() * 1_000_000)}`;
        const old = db.getBinary(key);
        if (old !== undefined) value[0] = (old[0]! + 1) & 0xff;
        db.putSync(key, value);
      }
    });
    operations += 5000;
  }
  const rate = operations / ((performance.now() - started) / 1000);
  db.close();
  return rate;
}

/** LMDB: fsync'd commits/s on the data directory's disk (one small put per commit). */
async function lmdbFsyncCommitsPerSecond(dir: string, seconds: number): Promise<number> {
  const db = open<Buffer, string>({ path: path.join(dir, 'fsync'), encoding: 'binary' });
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let commits = 0;
  while (performance.now() < deadline) {
    await db.put(`k${commits % 1000}`, Buffer.alloc(16));
    await db.flushed;
    commits++;
  }
  const rate = commits / ((performance.now() - started) / 1000);
  await db.close();
  return rate;
}

export async function measureCeilings(seconds: number, dataDirParent = os.tmpdir()): Promise<Ceiling[]> {
  const dir = fs.mkdtempSync(path.join(dataDirParent, 'hunt-ceilings-'));
  try {
    return [
      { name: 'SAB ring, two threads', perSecond: await ringRecordsPerSecond(seconds), unit: 'records/s', how: `${RECORD_BYTES}-byte records, index published per ${RECORDS_PER_PUBLISH}` },
      { name: 'msgpackr decode', perSecond: msgpackDecodeEventsPerSecond(seconds), unit: 'events/s', how: 'pub frames of 100 events, one core' },
      { name: 'LMDB random-key read-modify-write', perSecond: lmdbReadModifyWritesPerSecond(dir, seconds), unit: 'ops/s', how: '5,000 per transaction over 1M keys, no sync' },
      { name: 'LMDB fsync’d commits', perSecond: await lmdbFsyncCommitsPerSecond(dir, seconds), unit: 'commits/s', how: 'one small put, then flushed' },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (!isMainThread && (workerData as { ring?: RingBuffers })?.ring !== undefined) {
  void ringReaderThread((workerData as { ring: RingBuffers }).ring);
} else if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const ceiling of await measureCeilings(Number(process.argv[2] ?? 2))) console.log(JSON.stringify(ceiling));
}
